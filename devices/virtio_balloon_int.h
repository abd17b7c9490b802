/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon's insides, shared by virtio_balloon.c (the device and its
 * queues), virtio_balloon_pages.c (the balloon's pages: bitmaps, discard
 * and repopulation) and virtio_balloon_state.c (resets, save/restore).
 * Nothing else includes this.
 */
#ifndef MEMVMM_VIRTIO_BALLOON_INT_H
#define MEMVMM_VIRTIO_BALLOON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bitmap.h"
#include "devices/device.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_pci.h"
#include "mem/populate.h"

/* PFNs read from a chain at a time (sorted and merged into runs). */
#define BAL_BATCH_PFNS     4096u
/*
 * Most PFNs one inflate or deflate chain may carry (256 MiB of pages;
 * Linux sends 256 per chain): more is a violation. Chains run on the main
 * loop under the transport's lock, and descriptors may overlap, so without
 * a bound one chain of 64 descriptors of 4 GiB each would keep the loop
 * busy for minutes.
 */
#define BAL_MAX_CHAIN_PFNS 65536u
/* Statistics entries read from one stats buffer (16 tags known; room for repeats). */
#define BAL_MAX_STATS      64u
#define BAL_STAT_BYTES     10u      /* struct virtio_balloon_stat: le16 tag, le64 val, packed */

/* What a queue index is for, under the negotiated features. */
enum bal_queue {
	BAL_Q_INFLATE,
	BAL_Q_DEFLATE,
	BAL_Q_STATS,
	BAL_Q_REPORTING,
	BAL_Q_NONE,
};

/*
 * One boot RAM region as the balloon sees it: its pages are bits
 * [first, first + pages) of the page bitmap (first a multiple of the unit,
 * so that a discard unit's bits never straddle two regions), its discard
 * units bits [first / unit_pages, ...) of the unit bitmap.
 */
struct bal_region {
	unsigned int index;          /* in ctx->mem->region[] */
	uint64_t gpa, size;
	uint64_t first, pages;
	uint64_t unit_pages;         /* discard unit in pages: backend align / 4 KiB, >= 1 */
};

struct balloon {
	struct device_ctx ctx;
	struct balloon_config cfg;
	struct virtio_device_ops ops;    /* per instance: the features follow cfg */
	struct virtio_pci *vp;           /* its lock guards everything below */

	struct bal_region region[MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_bytes;              /* boot RAM: the largest target */
	uint64_t map_bits;               /* bits in the page bitmap */
	uint64_t *pages;                 /* bit: page in the balloon */
	uint64_t *given;                 /* bit per discard unit: given back (discarded) */

	uint32_t num_pages, actual;      /* config */
	uint64_t inflated_pages, given_bytes;

	/* Statistics. */
	bool stats_held;
	unsigned int stats_queue;
	uint16_t stats_head;
	uint64_t stat[BALLOON_STATS_NR];
	uint32_t stats_valid;
	uint64_t stats_updates, stats_unknown, stats_ns;
	int timer_fd;                    /* -1: no polling */
	bool timer_watched;

	/* Counters. */
	uint64_t inflated_total, deflated_total, reported, reports, discards;
	uint64_t discard_errors, populate_errors, repopulated;
	int last_discard_err, last_populate_err;
	uint64_t discard_ns, populate_ns;
	uint64_t bad_pfns, hotplug_pfns, dup_pfns, ignored_notifies;

	/* Scratch (big: not on the stack). */
	uint32_t batch[BAL_BATCH_PFNS];
	uint64_t sorted[BAL_BATCH_PFNS];
	struct mem_populate_report report;
};

uint64_t bal_now_ns(void);

/* ---- virtio_balloon_pages.c (transport lock held) ---- */

/* The boot region holding page-bitmap bit `bit`, or NULL (a gap between regions). */
const struct bal_region *bal_region_of_bit(const struct balloon *b, uint64_t bit);
/*
 * Pages [bit, bit + n) (inside one region) enter the balloon (inflate) or
 * leave it. Pages already there / not there are counted in dup_pfns and
 * skipped. Units that fill up are discarded (in ranges); units that stop
 * being full are made usable (repopulated when the strategy preallocates).
 */
void bal_pages_inflate(struct balloon *b, const struct bal_region *r, uint64_t bit, uint64_t n);
void bal_pages_deflate(struct balloon *b, const struct bal_region *r, uint64_t bit, uint64_t n);
/* Discard the whole units inside [gpa, gpa + len) of boot RAM (free page reporting). */
void bal_report_range(struct balloon *b, uint64_t gpa, uint64_t len);
/* Every page leaves the balloon (resets). */
void bal_empty(struct balloon *b);
/*
 * Make the balloon's page bitmap `want` (restore): units that become full
 * are discarded, units that stop being full are made usable.
 */
void bal_apply_map(struct balloon *b, const uint64_t *want);
/* On hugetlb: false when [gpa, gpa + len) touches a unit given back. */
bool bal_access_ok(void *dev, uint64_t gpa, uint64_t len);

/* ---- virtio_balloon_state.c ---- */

void bal_machine_reset(void *state);
int bal_save(void *state, void *buf, size_t *len);
int bal_restore(void *state, const void *buf, size_t len);

#endif /* MEMVMM_VIRTIO_BALLOON_INT_H */
