/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci's insides, shared by virtio_pci.c (the transport),
 * virtio_pci_setup.c (the PCI side) and virtio_pci_state.c (save/restore).
 * Nothing outside those three files includes this.
 */
#ifndef MEMVMM_VIRTIO_PCI_INT_H
#define MEMVMM_VIRTIO_PCI_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "devices/device.h"
#include "devices/virtio_pci.h"
#include "devices/virtqueue.h"

struct pci_dev;

/* ISR bit 0: a queue interrupt (§4.1.4.5; the system header names only the config bit). */
#define VP_ISR_QUEUE    0x1u
/* Status bits a driver may set (§2.1); the others it writes are dropped. */
#define VP_DRIVER_STATUS_BITS (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			       VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
			       VIRTIO_CONFIG_S_FAILED)
/* ... and with the one the device sets: every bit the status can hold. */
#define VP_STATUS_BITS  (VP_DRIVER_STATUS_BITS | VIRTIO_CONFIG_S_NEEDS_RESET)

/* Bytes of the common configuration structure (§4.1.4.3). */
#define VP_COMMON_BYTES ((unsigned int)sizeof(struct virtio_pci_common_cfg))

/* One queue's notification eventfd. */
struct vp_notify {
	struct virtio_pci *vp;
	unsigned int q;
	int efd;             /* -1: none (the writes trap) */
	bool watched;        /* handed to ctx->watch_fd */
	bool assigned;       /* an ioeventfd at addr signals efd */
	uint64_t addr;
};

/* The PCI configuration access capability's fields (§4.1.4.9), kept here. */
struct vp_cfg_window {
	uint8_t bar;
	uint32_t offset;
	uint32_t length;
	uint8_t data[4];
};

struct virtio_pci {
	struct device_ctx ctx;
	const struct virtio_device_ops *ops;
	void *dev;
	struct pci_dev *pdev;
	unsigned int msix_vectors;   /* MSI-X table size: a vector per queue + config */
	unsigned int cfg_cap_off;    /* config space offset of the PCI_CFG capability */
	pthread_mutex_t lock;

	/* Under lock: what the driver sees. */
	uint8_t status;
	uint8_t isr;
	uint8_t generation;
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector;
	uint16_t queue_select;
	struct virtqueue vq[VIRTIO_PCI_MAX_QUEUES];
	uint16_t vq_vector[VIRTIO_PCI_MAX_QUEUES];
	struct vp_cfg_window cfg_window;
	struct vp_notify notify[VIRTIO_PCI_MAX_QUEUES];

	/* Counters (struct virtio_pci_stats). */
	uint64_t notifies, trapped_notifies, interrupts, interrupt_errors, violations;
	const char *last_violation;
};

static inline bool vp_is_pow2(unsigned int n)
{
	return n && !(n & (n - 1));
}

/* Device features with VERSION_1, as offered. */
static inline uint64_t vp_offered(const struct virtio_pci *vp)
{
	return vp->ops->features | 1ull << VIRTIO_F_VERSION_1;
}

/* A vector the driver wrote, as it reads back: out of the table is NO_VECTOR (§4.1.5.1.2). */
static inline uint16_t vp_vector(const struct virtio_pci *vp, uint32_t v)
{
	return v < vp->msix_vectors ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

/* An access to BAR 4 at off, with vp->lock held (the BAR handler and the PCI_CFG window). */
uint64_t vp_bar_access_locked(struct virtio_pci *vp, uint64_t off, unsigned int size,
			      bool write, uint64_t val);
/* Status 0: everything back to the power-on state, then the device's reset op. Locked. */
void vp_reset_locked(struct virtio_pci *vp);
/* The main loop saw queue n's eventfd. */
void vp_notify_fd(void *arg, uint32_t events);

extern const struct bus_handler vp_bar_handler;

#endif /* MEMVMM_VIRTIO_PCI_INT_H */
