/* SPDX-License-Identifier: MIT */
/*
 * The rig of test_virtio_balloon: memvmm's virtio-balloon
 * (devices/virtio_balloon.h) on a fake machine (tests/fake_ctx.h, no KVM)
 * with anon, memfd or hugetlb boot RAM in one or two regions, driven
 * through the PCI transport by the tests' guest-side driver
 * (tests/vtest.h). White-box: the cases may look at the device's insides
 * (devices/virtio_balloon_int.h) besides its status. Memory given back is
 * measured by the host's own meters: mincore(2) on the mapping and, for
 * memfd, the file's st_blocks.
 *
 * test_virtio_balloon.c: the rig, creation, features, queues, inflate,
 * deflate, bad PFNs, two regions, hugetlb.
 * test_virtio_balloon_state.c: free page reporting, statistics,
 * configuration, target, resets, save/restore, violations.
 */
#ifndef MEMVMM_TEST_VIRTIO_BALLOON_H
#define MEMVMM_TEST_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_balloon.h>

#include "devices/virtio_balloon.h"
#include "devices/virtio_balloon_int.h"
#include "mem/mem.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vtest.h"

#define MiB               (1ull << 20)
#define GiB               (1ull << 30)
#define PAGE              BALLOON_PAGE_BYTES
#define RAM_BYTES         (64 * MiB)
#define HOTPLUG_BYTES     MACHINE_HOTPLUG_ALIGN
/* Where the PFN and stats buffers lie (vtest's data area) and the pages the tests balloon. */
#define PFN_GPA           VT_DATA_GPA
#define PFN_BUF_MAX       4096u          /* PFNs in one buffer the rig writes */
#define STATS_GPA         (VT_DATA_GPA + 0x10000)
#define WORK_GPA          (16 * MiB)
#define Q_INFLATE         0u
#define Q_DEFLATE         1u
#define ST_BLOCK_BYTES    512u           /* st_blocks counts 512-byte units */
#define PATTERN           0x5a5a5a5a5a5a5a5aull   /* what touch() writes */
#define F_STATS           (1ull << VIRTIO_BALLOON_F_STATS_VQ)
#define F_OOM             (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
#define F_REPORTING       (1ull << VIRTIO_BALLOON_F_REPORTING)

struct rig_config {
	uint64_t ram_bytes;                      /* 0: RAM_BYTES */
	const struct mem_backend_ops *backend;   /* boot RAM's; NULL: anon */
	bool hotplug;                            /* a memfd hotplug region (hp_region) */
	const struct balloon_config *bc;         /* NULL: stats off, nothing else */
	uint64_t features;                       /* the driver's (VERSION_1 added) */
	unsigned int queues;                     /* set up; 0: 2 + the negotiated queues */
};

extern struct fake_ctx f;
extern struct vtest vt;
extern void *dev;
extern unsigned int hp_region;

void rig_setup(const struct rig_config *c);
void rig_teardown(void);
/* A second balloon on the same machine (save/restore): rig_teardown() destroys dev only. */
struct balloon *rig_balloon(void);
struct balloon_status bst(void);

/* One buffer of n le32 PFNs on queue q, kicked; asserts it came back with 0 bytes written. */
void pfn_chain(unsigned int q, const uint32_t *pfns, unsigned int n);
/* PFNs of [gpa, gpa + len) in order, or shuffled. */
void pfn_range(unsigned int q, uint64_t gpa, uint64_t len, bool shuffle);
static inline uint32_t pfn_of(uint64_t gpa)
{
	return (uint32_t)(gpa / PAGE);
}

/* Write a nonzero pattern to every page of [gpa, gpa + len) (makes it resident). */
void touch(uint64_t gpa, uint64_t len);
/* Host memory behind [gpa, gpa + len) by mincore() on its mapping. */
uint64_t resident(uint64_t gpa, uint64_t len);
/* The boot RAM file's allocated bytes (memfd, hugetlb), UINT64_MAX without a file. */
uint64_t file_bytes(unsigned int region);
/* The 8 bytes at gpa. */
uint64_t peek(uint64_t gpa);

/* A free page reporting chain of one buffer on q, kicked; answered: asserts it came back. */
void report(unsigned int q, uint64_t gpa, uint32_t len, bool answered);
/* A stats buffer of one entry on queue q, kicked (held: no used entry). */
void stats_one(unsigned int q, uint16_t tag, uint64_t val);

/* Device configuration (struct virtio_balloon_config). */
uint32_t cfg_num_pages(void);
uint32_t cfg_actual(void);
uint8_t generation(void);

/* ---- test_virtio_balloon_state.c ---- */

void run_reporting(const void *backend);
void run_stats(const void *arg);
void run_actual(const void *arg);
void run_target(const void *arg);
void run_driver_reset(const void *arg);
void run_machine_reset(const void *arg);
void run_save_restore(const void *arg);
void run_restore_refused(const void *arg);
void run_violations(const void *arg);

#endif /* MEMVMM_TEST_VIRTIO_BALLOON_H */
