/* SPDX-License-Identifier: MIT */
/*
 * virtio over PCI, modern only (virtio 1.2 §4.1): a PCI device with vendor
 * 0x1af4 and device 0x1040 + the virtio device ID, whose BAR 4 (64-bit
 * memory, VIRTIO_PCI_BAR_BYTES) holds the common configuration, ISR status,
 * device configuration and notification structures, with a vendor
 * capability for each plus the PCI configuration access capability; MSI-X
 * (table and PBA) is in BAR 1 (32-bit memory). VIRTIO_F_VERSION_1 is
 * always offered and required: a driver that does not accept it fails
 * FEATURES_OK. Split virtqueues only.
 *
 * Queue notifications: a 2-byte write of the queue index to the queue's
 * notify address (notify_off_multiplier 4) signals an ioeventfd that the
 * main loop watches; the device's queue_notify() runs on the main loop's
 * thread. Why the main loop and not an I/O thread: a pause mutes device
 * fds in the loop, so no request is ever half done when the VM is paused
 * or snapshotted, without a second thread to stop; virtio-mem's requests
 * are short (Linux plugs one 128 MiB memory block per request, populated
 * on several threads). Where an ioeventfd cannot be registered, or the
 * driver writes another width, the write exits to memvmm and the queue is
 * processed on that vCPU's thread instead, under the same lock.
 * Interrupts go out as MSI-X vectors through irqfd (devices/pci.h), or as
 * INTx with the ISR status bits while MSI-X is off.
 *
 * Never trusting the guest: a queue whose ring or chain breaks a rule
 * (devices/virtqueue.h) is stopped, DEVICE_NEEDS_RESET is set in the device
 * status, the configuration-change interrupt is sent, and memvmm carries
 * on; only a reset (device status 0) makes the device usable again. A reset
 * clears features, queues, vectors and status; the configuration
 * generation counts every change of the device configuration.
 *
 * Locking: one lock per device, held by the transport around every call
 * of the device's ops; the device takes it (virtio_pci_lock()) around any
 * use of its state from elsewhere (the control socket).
 */
#ifndef MEMVMM_VIRTIO_PCI_H
#define MEMVMM_VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtqueue.h"

#define VIRTIO_PCI_WUR __attribute__((warn_unused_result))

#define VIRTIO_PCI_MSIX_BAR       1u
#define VIRTIO_PCI_BAR            4u
#define VIRTIO_PCI_BAR_BYTES      0x4000u
/* Offsets in BAR 4. */
#define VIRTIO_PCI_COMMON_OFF     0x0000u
#define VIRTIO_PCI_ISR_OFF        0x1000u
#define VIRTIO_PCI_DEVICE_OFF     0x2000u
#define VIRTIO_PCI_NOTIFY_OFF     0x3000u
#define VIRTIO_PCI_NOTIFY_MULT    4u
#define VIRTIO_PCI_MAX_QUEUES     8u
/* Device configuration at most this long (the rest of its 4 KiB reads zero). */
#define VIRTIO_PCI_MAX_CONFIG     256u

/* What a virtio device gives the transport. Every op runs with the device's lock held. */
struct virtio_device_ops {
	const char *name;            /* also the PCI device's name */
	uint16_t device_id;          /* VIRTIO_ID_* (linux/virtio_ids.h) */
	uint64_t features;           /* device feature bits; VERSION_1 is added */
	unsigned int nr_queues;      /* 1..VIRTIO_PCI_MAX_QUEUES */
	uint16_t queue_size;         /* each queue's maximum, power of two <= VQ_MAX_SIZE */
	unsigned int config_len;     /* <= VIRTIO_PCI_MAX_CONFIG */
	/* Copy len bytes of the device configuration at off (inside config_len) into buf. */
	void (*config_read)(void *dev, unsigned int off, void *buf, unsigned int len);
	/* A driver write into the device configuration; NULL: read-only, dropped. */
	void (*config_write)(void *dev, unsigned int off, const void *buf, unsigned int len);
	/* FEATURES_OK with these driver features: 0 accepts, -errno refuses. May be NULL. */
	int (*features_ok)(void *dev, uint64_t features);
	/* Process available chains of queue q (vq_pop(), vq_push(), then virtio_pci_used()). */
	void (*queue_notify)(void *dev, unsigned int q);
	/* The driver reset the device (status 0). May be NULL. */
	void (*reset)(void *dev);
	/*
	 * Guest memory the queues may touch besides being RAM (the rings, every
	 * descriptor table and buffer, each time they are used; a refusal is a
	 * violation): devices/virtqueue.h's vq_access_fn with dev as its
	 * argument. NULL: all of RAM.
	 */
	bool (*access_ok)(void *dev, uint64_t gpa, uint64_t len);
};

struct pci_dev;
struct virtio_pci;

/* Counters for status and tests. */
struct virtio_pci_stats {
	uint64_t notifies;           /* queue notifications handled (ioeventfd or trapped) */
	uint64_t trapped_notifies;   /* of those, writes that exited to memvmm */
	uint64_t interrupts;         /* MSI-X vectors raised or INTx asserted */
	uint64_t interrupt_errors;   /* pci_msix_notify() failures (KVM refused the irqfd write) */
	uint64_t violations;         /* times DEVICE_NEEDS_RESET was set */
	const char *last_violation;  /* static string, NULL if none */
	uint8_t status;              /* device status register */
	uint64_t driver_features;
	uint8_t config_generation;
};

/*
 * Create the transport for dev on ctx->pci (-ENODEV without PCI): the PCI
 * device, its capabilities and BARs, the queue ioeventfds (registered when
 * the guest maps BAR 4). ctx must outlive it.
 */
int virtio_pci_create(const struct device_ctx *ctx, const struct virtio_device_ops *ops,
		      void *dev, struct virtio_pci **out) VIRTIO_PCI_WUR;
/* Off the bus, ioeventfds and irqfds released. NULL is fine. */
void virtio_pci_destroy(struct virtio_pci *vp);

void virtio_pci_lock(struct virtio_pci *vp);
void virtio_pci_unlock(struct virtio_pci *vp);

/* The rest: with the lock held (inside an op, or between lock and unlock). */

/* Queue q (NULL when q is out of range). */
struct virtqueue *virtio_pci_vq(struct virtio_pci *vp, unsigned int q);
/* Chains were pushed on queue q: interrupt the driver unless it asked for none. */
void virtio_pci_used(struct virtio_pci *vp, unsigned int q);
/* The device configuration changed: generation + 1 and, after DRIVER_OK, the config interrupt. */
void virtio_pci_config_changed(struct virtio_pci *vp);
/*
 * A configuration field changed as the answer to the driver's own request
 * (virtio-mem's plugged_size, or usable_region_size shrinking on
 * UNPLUG_ALL): generation + 1, no interrupt (§5.15.4: no config update).
 */
void virtio_pci_config_bump(struct virtio_pci *vp);
/*
 * The driver broke a rule on queue q (a static string why): the queue
 * stops, DEVICE_NEEDS_RESET is set and the config interrupt sent.
 */
void virtio_pci_violation(struct virtio_pci *vp, unsigned int q, const char *why);
/* Features the driver accepted (valid once FEATURES_OK is set). */
uint64_t virtio_pci_driver_features(const struct virtio_pci *vp);
/* True from DRIVER_OK until a reset or NEEDS_RESET. */
bool virtio_pci_live(const struct virtio_pci *vp);
void virtio_pci_stats(const struct virtio_pci *vp, struct virtio_pci_stats *st);

/*
 * Machine reset: the transport back to power-on (PCI state too, and the
 * PCI configuration access window) and the device's reset op, as for a
 * driver reset; the device does its own power-on work (virtio-mem: unplug
 * everything) itself. Called without the lock (it takes it).
 */
void virtio_pci_machine_reset(struct virtio_pci *vp);

/*
 * Transport state (PCI config space, MSI-X, status, features, selects,
 * vectors, the PCI configuration access window, every queue's size,
 * addresses, enabled/broken state and indices) for the device's
 * save/restore, paused, called without the lock (they take it). save():
 * -ENOSPC with *len set to what is needed. restore() checks the whole blob
 * first (status bits and their order, features offered and VERSION_1,
 * vectors inside the table, queue sizes, enabled rings in RAM and allowed
 * by access_ok, used index at most a ring behind): -EINVAL and nothing
 * changed when it is malformed or another device's; pci_dev_restore()'s
 * error likewise.
 */
int virtio_pci_save(struct virtio_pci *vp, void *buf, size_t *len) VIRTIO_PCI_WUR;
int virtio_pci_restore(struct virtio_pci *vp, const void *buf, size_t len) VIRTIO_PCI_WUR;

/* The PCI device (its slot for status and tests: pci_dev_slot()). Lock not needed. */
struct pci_dev *virtio_pci_pci_dev(struct virtio_pci *vp);

#endif /* MEMVMM_VIRTIO_PCI_H */
