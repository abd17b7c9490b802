/* SPDX-License-Identifier: MIT */
/*
 * A virtio 1.2 driver over PCI (§4.1, modern only) for the test guest: the
 * device's vendor capabilities in its assigned BARs, the initialization
 * sequence of §3.1.1 and up to VIRTIO_QUEUES_MAX split virtqueues (§2.7),
 * each in a page of guest RAM of its own. One chain at a time per queue,
 * always descriptors 0.., the used ring polled (no interrupts; MSI-X
 * vectors, when enabled, stay masked): a request adds a chain and waits for
 * it; a chain may also be left with the device (a stats buffer) and its
 * return polled for later. Ring 0 only.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

/* Queues a driver can set up (queue indices 0 .. VIRTIO_QUEUES_MAX - 1). */
#define VIRTIO_QUEUES_MAX      5u
/* The largest queue size (descriptors) the driver uses; fewer if the device offers fewer. */
#define VIRTIO_QUEUE_SIZE_MAX  64u
/* virtio_init()'s queue size cap. */
#define VIRTIO_QUEUE_SIZE_DEFAULT 16u
/* Ring pages for all devices together: every queue of two devices. */
#define VIRTIO_RING_PAGES      (2u * VIRTIO_QUEUES_MAX)

/* How a request ended. */
enum virtio_result {
	VIRTIO_OK,
	VIRTIO_NEEDS_RESET,     /* the device set DEVICE_NEEDS_RESET */
	VIRTIO_TIMEOUT,         /* nothing came back in time */
	VIRTIO_BAD_USED,        /* a used entry for another head, or too short */
	VIRTIO_BUSY,            /* a chain is still with the device on that queue */
	VIRTIO_NO_QUEUE,        /* no such queue set up, or an empty or too long chain */
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

/* One buffer of a chain. */
struct virtio_buf {
	const volatile void *addr;
	uint32_t len;
	bool writable;          /* device-writable (VRING_DESC_F_WRITE) */
};

/* A queue as the driver set it up. */
struct virtio_queue {
	uint16_t size, max;                     /* as set; as offered */
	uint16_t vector;                        /* MSI-X vector, as read back */
	uint8_t *ring;                          /* descriptors, avail and used rings: one page */
	volatile uint16_t *notify;
	uint16_t avail_idx, used_idx;           /* the driver's copies */
	bool in_flight;                         /* a chain is with the device */
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
	uint16_t config_vector;                 /* as read back */
	unsigned int nqueues;                   /* queues 0 .. nqueues - 1 are set up */
	struct virtio_queue q[VIRTIO_QUEUES_MAX];
	/* Counters since the probe. */
	uint64_t requests, resets;
};

/*
 * Finds the virtio device with this device ID (§5) on bus 0, reads its
 * BARs, walks its capabilities, maps what they point at, and turns on
 * memory decoding and bus mastering. CYCLES_PER_MS times the polls.
 */
const char *virtio_probe(struct virtio_dev *d, uint16_t device_id, uint64_t cycles_per_ms);

/* Prints the "memvmm-guest: virtio-pci dev=... bar4=..." line of a probed device. */
void virtio_print_pci(const struct virtio_dev *d);

/*
 * Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 required; the device's
 * bits in WANTED accepted when offered), FEATURES_OK (checked). With MSIX
 * (and an MSI-X capability), MSI-X is enabled with every vector masked and
 * the configuration on vector 0. d->driver_features says what was
 * negotiated; virtio_init_queues() finishes.
 */
const char *virtio_init_features(struct virtio_dev *d, uint64_t wanted, bool msix);

/*
 * Sets up queues 0 .. NQUEUES - 1 (each must be offered), each with the
 * largest power-of-two size up to the device's and SIZE_CAP (at most
 * VIRTIO_QUEUE_SIZE_MAX), every queue on MSI-X vector 1 with MSI-X; then
 * DRIVER_OK. A queue's ring page is taken from a static pool the first
 * time and kept (the pool holds VIRTIO_RING_PAGES).
 */
const char *virtio_init_queues(struct virtio_dev *d, unsigned int nqueues, uint16_t size_cap);

/* virtio_init_features(), then queue 0 alone at VIRTIO_QUEUE_SIZE_DEFAULT. */
const char *virtio_init(struct virtio_dev *d, uint64_t wanted, bool msix);

/* Writes 0 to the device status; false if it does not read back 0 in time. */
bool virtio_reset(struct virtio_dev *d);

uint8_t virtio_status(const struct virtio_dev *d);
uint8_t virtio_config_generation(const struct virtio_dev *d);
/* A 32-bit read of the device configuration at OFF. */
uint32_t virtio_config_read32(const struct virtio_dev *d, unsigned int off);
/* A 32-bit write of the device configuration at OFF. */
void virtio_config_write32(const struct virtio_dev *d, unsigned int off, uint32_t v);

/*
 * Makes BUFS[0 .. N) one chain (descriptors 0 .. N - 1; N at most the
 * queue's size), available on queue Q, and notifies the device. BUSY while
 * the previous chain on Q has not come back.
 */
enum virtio_result virtio_chain_add(struct virtio_dev *d, unsigned int q,
				    const struct virtio_buf *bufs, unsigned int n);

/*
 * Polls queue Q for up to TIMEOUT_MS for its chain to come back (0: a
 * short look). *WRITTEN: what the device says it wrote. NO_QUEUE if no
 * chain is out on Q. On TIMEOUT the chain
 * stays with the device and may be waited for again; NEEDS_RESET and
 * BAD_USED leave the queue unusable until the device is initialized again.
 */
enum virtio_result virtio_chain_wait(struct virtio_dev *d, unsigned int q, uint64_t timeout_ms,
				     uint32_t *written);

/* virtio_chain_add() and virtio_chain_wait(). */
enum virtio_result virtio_chain_request(struct virtio_dev *d, unsigned int q,
					const struct virtio_buf *bufs, unsigned int n,
					uint32_t *written, uint64_t timeout_ms);

/*
 * Sends OUT (OUT_LEN bytes, device-readable) and IN (IN_LEN bytes,
 * device-writable) as one chain on queue 0 and polls the used ring for it
 * for up to TIMEOUT_MS. *WRITTEN: what the device says it wrote.
 */
enum virtio_result virtio_request(struct virtio_dev *d, const void *out, uint32_t out_len,
				  void *in, uint32_t in_len, uint32_t *written,
				  uint64_t timeout_ms);

/*
 * Makes a chain on queue Q available broken in the way KIND says (its
 * buffers are OUT and IN, as for a request; IN_LEN 0: OUT alone, and OUT
 * stands in where a second buffer is needed), notifies the device and
 * polls for up to TIMEOUT_MS for DEVICE_NEEDS_RESET. Returns the device
 * status it ended with; *USED: whether the used index moved. The device
 * must be initialized again afterwards.
 */
uint8_t virtio_corrupt(struct virtio_dev *d, unsigned int q, enum virtio_corruption kind,
		       const void *out, uint32_t out_len, void *in, uint32_t in_len,
		       uint64_t timeout_ms, bool *used);

/*
 * A step's corruption kind by name ("" is VIRTIO_CORRUPT_LOOP): NULL, or
 * why VALUE names none.
 */
const char *virtio_corruption_parse(const char *value, enum virtio_corruption *kind);

/* Name of a result or a corruption kind. */
const char *virtio_result_name(enum virtio_result r);
const char *virtio_corruption_name(enum virtio_corruption kind);

/* MSI-X: the pending bit and the mask of a vector (virtio_init() with MSIX). */
bool virtio_msix_pending(const struct virtio_dev *d, uint16_t vector);
void virtio_msix_mask(struct virtio_dev *d, uint16_t vector, bool masked);

#endif /* GUEST_VIRTIO_H */
