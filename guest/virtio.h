/* SPDX-License-Identifier: MIT */
/*
 * A virtio 1.2 driver over PCI (§4.1, modern only) for the test guest: the
 * device's vendor capabilities in its assigned BARs, the initialization
 * sequence of §3.1.1 and one split virtqueue (§2.7), queue 0, in guest RAM.
 * Requests are synchronous: one chain at a time, the used ring polled (no
 * interrupts; MSI-X vectors, when enabled, stay masked). Ring 0 only.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

/* At most this many descriptors in the driver's queue (fewer if the device offers fewer). */
#define VIRTIO_QUEUE_SIZE_MAX  16u

/* How a request ended. */
enum virtio_result {
	VIRTIO_OK,
	VIRTIO_NEEDS_RESET,     /* the device set DEVICE_NEEDS_RESET */
	VIRTIO_TIMEOUT,         /* nothing came back in time */
	VIRTIO_BAD_USED,        /* a used entry for another head, or too short */
};

/* Ways to break the queue on purpose (virtio_corrupt()). */
enum virtio_corruption {
	VIRTIO_CORRUPT_LOOP,    /* two descriptors whose next fields point at each other */
	VIRTIO_CORRUPT_NEXT,    /* a next field >= the queue size */
	VIRTIO_CORRUPT_HEAD,    /* an avail ring entry >= the queue size */
	VIRTIO_CORRUPT_IDX,     /* the avail index more than the queue size ahead */
	VIRTIO_CORRUPT_ORDER,   /* a device-writable descriptor before a readable one */
	VIRTIO_CORRUPT_ADDR,    /* a buffer far outside guest RAM */
	VIRTIO_CORRUPTIONS,
};

struct virtio_region {
	volatile uint8_t *base; /* identity-mapped address; NULL: no such capability */
	uint32_t len;
};

struct virtio_dev {
	pci_bdf bdf;
	uint16_t pci_device;
	struct pci_bar bars[PCI_BARS];
	struct virtio_region common, isr, device, notify;
	uint32_t notify_mult;
	/* MSI-X (capability offset 0: none). */
	unsigned int msix_cap;
	uint16_t msix_vectors;
	volatile uint32_t *msix_table, *msix_pba;
	bool msix_on;
	uint64_t cycles_per_ms;
	/* Set by virtio_init(). */
	uint64_t device_features, driver_features;
	uint16_t queue_size, queue_max;
	uint16_t config_vector, queue_vector;   /* as read back */
	volatile uint16_t *queue_notify;
	uint16_t avail_idx, used_idx;           /* the driver's copies */
	/* Counters since the probe. */
	uint64_t requests, resets;
};

/*
 * Finds the virtio device with this device ID (§5) on bus 0, reads its
 * BARs, walks its capabilities, maps what they point at, and turns on
 * memory decoding and bus mastering. CYCLES_PER_MS times the polls.
 */
const char *virtio_probe(struct virtio_dev *d, uint16_t device_id, uint64_t cycles_per_ms);

/*
 * Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 required; the device's
 * bits in WANTED accepted when offered), FEATURES_OK (checked), queue 0,
 * DRIVER_OK. With MSIX (and an MSI-X capability), MSI-X is enabled with
 * every vector masked, the configuration on vector 0, queue 0 on vector 1.
 */
const char *virtio_init(struct virtio_dev *d, uint64_t wanted, bool msix);

/* Writes 0 to the device status; false if it does not read back 0 in time. */
bool virtio_reset(struct virtio_dev *d);

uint8_t virtio_status(const struct virtio_dev *d);
uint8_t virtio_config_generation(const struct virtio_dev *d);
/* A 32-bit read of the device configuration at OFF. */
uint32_t virtio_config_read32(const struct virtio_dev *d, unsigned int off);

/*
 * Sends OUT (OUT_LEN bytes, device-readable) and IN (IN_LEN bytes,
 * device-writable) as one chain and polls the used ring for it for up to
 * TIMEOUT_MS. *WRITTEN: what the device says it wrote.
 */
enum virtio_result virtio_request(struct virtio_dev *d, const void *out, uint32_t out_len,
				  void *in, uint32_t in_len, uint32_t *written,
				  uint64_t timeout_ms);

/*
 * Makes the available chain broken in the way KIND says (its buffers are
 * OUT and IN, as for a request), notifies the device and polls for up to
 * TIMEOUT_MS for DEVICE_NEEDS_RESET. Returns the device status it ended
 * with; *USED: whether the used index moved.
 */
uint8_t virtio_corrupt(struct virtio_dev *d, enum virtio_corruption kind,
		       const void *out, uint32_t out_len, void *in, uint32_t in_len,
		       uint64_t timeout_ms, bool *used);

/* Name of a result or a corruption kind. */
const char *virtio_result_name(enum virtio_result r);
const char *virtio_corruption_name(enum virtio_corruption kind);

/* MSI-X: the pending bit and the mask of a vector (virtio_init() with MSIX). */
bool virtio_msix_pending(const struct virtio_dev *d, uint16_t vector);
void virtio_msix_mask(struct virtio_dev *d, uint16_t vector, bool masked);

#endif /* GUEST_VIRTIO_H */
