/* SPDX-License-Identifier: MIT */
/*
 * The rig of test_virtio_balloon_driver: memvmm's virtio-balloon on a fake
 * machine (tests/fake_ctx.h) with anon or memfd boot RAM, driven by the
 * independent driver of tests/virtio_driver.h (virtio 1.2 §5.5, §4.1, §2.7
 * and the PCI 3.0 spec only). Memory given back is measured by the host's
 * own meters: mincore(2) on the mapping and, for memfd, the file's
 * st_blocks, never memvmm's counters alone.
 *
 * Shared by test_virtio_balloon_driver.c (discovery, features, inflate,
 * deflate, bad PFNs, target) and test_virtio_balloon_driver_ops.c
 * (statistics, free page reporting, violations, resets).
 */
#ifndef MEMVMM_TEST_VIRTIO_BALLOON_DRIVER_H
#define MEMVMM_TEST_VIRTIO_BALLOON_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "devices/virtio_balloon.h"
#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vdrv_fake.h"
#include "tests/virtio_driver.h"

#define RAM_BYTES        (64ull << 20)
#define HOTPLUG_BYTES    MACHINE_HOTPLUG_ALIGN
#define PAGE             BALLOON_PAGE_BYTES
#define RUN_BYTES        (2ull << 20)          /* a 2 MiB run of pages */
#define RUN_PAGES        ((unsigned int)(RUN_BYTES / PAGE))
#define SCRATCH_GPA      (1ull << 20)          /* the driver's rings and buffers */
#define SCRATCH_BYTES    (1ull << 20)
/* Past the driver's own scratch use: buffers chained by hand. */
#define TEST_BUF_GPA     (SCRATCH_GPA + VDRV_SCRATCH_MIN_BYTES)
#define WORK_GPA         (16ull << 20)         /* the pages the tests balloon */
#define BALLOON_PCI_ID   (MACHINE_PCI_VIRTIO_DEVICE_BASE + VIRTIO_ID_BALLOON)
#define F_VERSION_1      (1ull << VIRTIO_F_VERSION_1)
#define F_TELL_HOST      (1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST)
#define F_STATS          (1ull << VIRTIO_BALLOON_F_STATS_VQ)
#define F_OOM            (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
#define F_HINT           (1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT)
#define F_POISON         (1ull << VIRTIO_BALLOON_F_PAGE_POISON)
#define F_REPORTING      (1ull << VIRTIO_BALLOON_F_REPORTING)
#define F_ALL            (F_VERSION_1 | F_STATS | F_OOM | F_REPORTING)
#define ISR_QUEUE        0x1u                  /* §4.1.4.5: queue interrupt */
#define ISR_CONFIG       0x2u                  /* §4.1.4.5: configuration change */
#define MSI_ADDR         MACHINE_MSI_ADDR_BASE
#define MSI_DATA_CONFIG  0x4051u
#define MSI_DATA_QUEUE   0x4052u
#define NO_QUEUE         VDRV_MAX_QUEUES

struct brig_opts {
	const struct mem_backend_ops *backend;   /* boot RAM: NULL anon, or &mem_backend_memfd */
	struct balloon_config bc;
	bool hotplug;                            /* add a hotplug (memfd) region */
};

struct brig {
	struct fake_ctx f;
	void *dev;
	struct vdrv d;
	bool has_hotplug;
	unsigned int hotplug;                    /* its index in f.mem.region[] */
	uint64_t hotplug_gpa;
	/* Queue numbers for the negotiated features (NO_QUEUE: none). */
	unsigned int q_stats, q_report;
	unsigned int msi_sent_seen;
};

/* The fake machine (boot RAM on o->backend), the balloon with o->bc, the driver bound. */
void brig_machine(struct brig *r, const struct brig_opts *o);
/* Find, BARs, enable, capabilities, then brig_init(). */
void brig_up(struct brig *r, const struct brig_opts *o, uint64_t want);
/* §3.1.1: negotiate want, set up the queues those features give, DRIVER_OK. */
void brig_init(struct brig *r, uint64_t want, uint16_t vector);
void brig_down(struct brig *r);
struct balloon_status brig_status(struct brig *r);
bool brig_needs_reset(struct brig *r);

/* Inflate (queue 0) or deflate (queue 1) n pages from gpa; asserts used len 0, no NEEDS_RESET. */
void brig_inflate(struct brig *r, uint64_t gpa, unsigned int n);
void brig_deflate(struct brig *r, uint64_t gpa, unsigned int n);
/* One buffer of PFNs on queue q, as given; asserts it came back used with len 0. */
void brig_pfns(struct brig *r, unsigned int q, const uint32_t *pfns, unsigned int n);

/* Guest writes: every page of [gpa, gpa + len) filled with byte. */
void brig_touch(struct brig *r, uint64_t gpa, uint64_t len, uint8_t byte);
/* Every byte of [gpa, gpa + len) reads byte. */
bool brig_reads(struct brig *r, uint64_t gpa, uint64_t len, uint8_t byte);
/* Host meters: mincore() over the mapping of [gpa, gpa + len); st_blocks of its file (memfd). */
uint64_t host_resident(struct brig *r, uint64_t gpa, uint64_t len);
uint64_t host_file_bytes(struct brig *r, uint64_t gpa);
/* MSIs the fake delivered for (addr, data) since the last call. */
uint64_t brig_msis(struct brig *r, uint64_t addr, uint32_t data);
/* The INTx line the device's Interrupt Line register names. */
unsigned int brig_intx_line(struct brig *r);

/* Cases in test_virtio_balloon_driver_ops.c. */
void run_stats(const void *arg);
void run_reporting(const void *arg);
void run_report_queues(const void *arg);
void run_violations(const void *arg);
void run_ring_outside(const void *arg);
void run_reset(const void *arg);

#endif /* MEMVMM_TEST_VIRTIO_BALLOON_DRIVER_H */
