/* SPDX-License-Identifier: MIT */
/*
 * A small guest-side virtio-pci driver for the unit tests of the
 * transport and of virtio-mem (tests/test_virtio_pci.c,
 * tests/test_virtio_mem.c), on a fake machine (tests/fake_ctx.h): it finds
 * the device through conf1, walks its capabilities, turns on memory
 * decoding and bus mastering, and drives the common configuration, split
 * queues laid out in guest RAM, notifications and MSI-X as a guest would.
 * Every helper asserts. It knows the device's layout only from what it
 * reads from the device (caps, BARs), except where a test says otherwise.
 */
#ifndef MEMVMM_TESTS_VTEST_H
#define MEMVMM_TESTS_VTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/fake_ctx.h"

#define VT_MAX_QUEUES     4u
#define VT_RING_BASE_GPA  0x100000ull   /* queue q's rings at base + q * VT_RING_STRIDE */
#define VT_RING_STRIDE    0x10000ull
#define VT_DATA_GPA       0x800000ull   /* request buffers from here */
#define VT_RAM_BYTES      (32ull << 20)
#define VT_DESC_PER_CHAIN 4u            /* chain k uses descriptors k*4 .. k*4+3 */
/* MSI-X messages the driver programs: vector v gets data VT_MSI_DATA_BASE + v. */
#define VT_MSI_ADDR       0xfee00000ull
#define VT_MSI_DATA_BASE  0x40u

struct vt_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;    /* next avail entry the driver fills */
	uint16_t used_seen;    /* used entries taken */
};

struct vt_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;            /* device-writable */
};

struct vtest {
	struct fake_ctx *f;
	unsigned int slot;
	uint64_t bar4;         /* address the device's BAR 4 has (read from config space) */
	uint64_t msix_bar;     /* BAR 1 */
	unsigned int cap[6];   /* config offset of each VIRTIO_PCI_CAP_* (0: none) */
	uint32_t off[6];       /* its offset in the BAR */
	uint32_t len[6];       /* and length */
	uint32_t notify_mult;
	unsigned int msix_cap; /* config offset of the MSI-X capability */
	struct vt_queue q[VT_MAX_QUEUES];
};

/* Find the first virtio device on bus 0, walk its caps, enable memory and bus mastering. */
void vt_find(struct fake_ctx *f, struct vtest *vt);

/* Common configuration accesses (offset inside the structure, 1/2/4/8 bytes). */
uint64_t vt_common_read(struct vtest *vt, unsigned int off, unsigned int size);
void vt_common_write(struct vtest *vt, unsigned int off, unsigned int size, uint64_t val);
/* Device configuration. */
uint64_t vt_device_read(struct vtest *vt, unsigned int off, unsigned int size);
/* ISR read (acknowledges). */
uint8_t vt_isr(struct vtest *vt);

uint8_t vt_status(struct vtest *vt);
void vt_set_status(struct vtest *vt, uint8_t st);
uint64_t vt_device_features(struct vtest *vt);
/* Reset, ACKNOWLEDGE, DRIVER, driver features, FEATURES_OK; returns the status read back. */
uint8_t vt_negotiate(struct vtest *vt, uint64_t features);
/* Lay out queue q with size entries (0: the device's), write its addresses, enable it. */
void vt_queue_setup(struct vtest *vt, unsigned int q, uint16_t size);
/* Negotiate VERSION_1 | features, set up queues 0..nr-1, DRIVER_OK; asserts it all held. */
void vt_start(struct vtest *vt, uint64_t features, unsigned int nr_queues);

/* Make a chain of n buffers available on q (not notified); returns its head. */
uint16_t vt_add(struct vtest *vt, unsigned int q, const struct vt_buf *bufs, unsigned int n);
/* The notify address of queue q (from the notify capability). */
uint64_t vt_notify_addr(struct vtest *vt, unsigned int q);
/* A 2-byte notify write (an ioeventfd catches it), then one round of the main loop. */
void vt_kick(struct vtest *vt, unsigned int q);
/* The next used entry of q, if any. */
bool vt_used(struct vtest *vt, unsigned int q, uint32_t *id, uint32_t *len);

/* Guest RAM. */
void vt_mem_write(struct vtest *vt, uint64_t gpa, const void *buf, uint64_t len);
void vt_mem_read(struct vtest *vt, uint64_t gpa, void *buf, uint64_t len);

/* MSI-X: program vectors 0..n-1 (unmasked), then enable MSI-X. */
void vt_msix_enable(struct vtest *vt, unsigned int n);
/* Times vector v fired since the last call (its irqfd's count). */
uint64_t vt_msix_fired(struct vtest *vt, unsigned int v);
/* The INTx level of the device (its Interrupt Line's GSI). */
int vt_intx(struct vtest *vt);

#endif /* MEMVMM_TESTS_VTEST_H */
