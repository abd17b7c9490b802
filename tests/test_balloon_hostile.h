/* SPDX-License-Identifier: MIT */
/*
 * The rig of test_balloon_hostile: memvmm's virtio-balloon on the fake
 * machine (tests/fake_ctx.h) driven by tests/vtest.h as a hostile guest.
 * test_balloon_hostile.c: the rig, PFNs, free page reporting, statistics.
 * test_balloon_hostile_state.c: configuration, notifies, resets,
 * save/restore, and mem_pageout()'s range checks.
 */
#ifndef MEMVMM_TEST_BALLOON_HOSTILE_H
#define MEMVMM_TEST_BALLOON_HOSTILE_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_balloon.h>

#include "devices/virtio_balloon.h"
#include "devices/virtio_balloon_int.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vtest.h"

#define MiB            (1ull << 20)
#define PAGE           BALLOON_PAGE_BYTES
#define RAM_BYTES      (64 * MiB)
#define PFN_GPA        VT_DATA_GPA               /* 8 MiB: PFN arrays */
#define PFN_MAX        4096u                      /* PFNs in one array written here */
#define STATS_GPA      (VT_DATA_GPA + 0x10000)
#define WORK_GPA       (16 * MiB)
#define Q_INFLATE      0u
#define Q_DEFLATE      1u
#define Q_2            2u
#define Q_3            3u
#define F_STATS        (1ull << VIRTIO_BALLOON_F_STATS_VQ)
#define F_REPORTING    (1ull << VIRTIO_BALLOON_F_REPORTING)
#define NS_PER_S       1000000000ull
/* The part of RAM the tests' driver owns (rings at 1 MiB, data at 8 MiB): never ballooned. */
#define DRIVER_END     (12 * MiB)
/* The stats timer of 1 s has fired by then. */
#define TICK_WAIT_NS   (2500000000ull)

extern struct fake_ctx f;
extern struct vtest vt;
extern void *dev;

/* Machine of ram bytes, the balloon with bc, the driver started with features and queues. */
void rig_up(uint64_t ram, const struct balloon_config *bc, uint64_t features,
	    unsigned int queues);
void rig_down(void);
struct balloon *bal(void);
struct balloon_status bst(void);
uint64_t now_ns(void);
uint32_t pfn_of(uint64_t gpa);
/* A byte in every page of [gpa, gpa + len). */
void touch(uint64_t gpa, uint64_t len);
/* mincore() bytes of [gpa, gpa + len). */
uint64_t resident(uint64_t gpa, uint64_t len);
/* Asserts that the device's counts equal its bitmaps' populations. */
void books_ok(const char *what);
/* n PFNs as one buffer on q, kicked; true if the chain came back. */
bool pfns(unsigned int q, const uint32_t *p, unsigned int n);
/* Every page of [gpa, gpa + len) on q; asserts each chain came back. */
void pfn_range(unsigned int q, uint64_t gpa, uint64_t len);
/* One chain of these buffers (<= 4) on q, kicked; true if it came back. */
bool chain(unsigned int q, const struct vt_buf *b, unsigned int n);
/* A notify of queue index q straight to its notify address. */
void notify_raw(unsigned int q);
void cfg_write(unsigned int off, unsigned int size, uint64_t val);
uint64_t cfg_read(unsigned int off, unsigned int size);
/* Play the main loop for ns. */
void loop_for(uint64_t ns);
/* A stats buffer of len raw bytes on q, kicked. */
void stats_raw(unsigned int q, const void *raw, uint32_t len, bool write);
void stat_put(uint8_t *p, uint16_t tag, uint64_t val);

/* ---- test_balloon_hostile_state.c ---- */

void run_config_every_offset(const void *arg);
void run_notify_every_index(const void *arg);
void run_reset_pending(const void *arg);
void run_restore_no_stats(const void *arg);
void run_restore_bitflips(const void *arg);
void run_pageout_ranges(const void *arg);
void run_huge_chain(const void *arg);
void run_restore_held_on_reporting(const void *arg);

#endif /* MEMVMM_TEST_BALLOON_HOSTILE_H */
