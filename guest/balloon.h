/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-balloon driver (virtio 1.2 §5.5). Ring 0 only.
 *
 * Queues: inflateq 0, deflateq 1, then statsq when STATS_VQ is negotiated,
 * then reporting_vq when REPORTING is: numbered consecutively by the
 * negotiated features (Linux's numbering; FREE_PAGE_HINT is never
 * negotiated, so a device that offers it and numbers by its offer puts the
 * reporting queue elsewhere: balloon_open() refuses REPORTING then).
 *
 * The balloon's pages are the highest pages of the guest's free RAM
 * (struct free_ram, in free-page order): the record is their count, so
 * inflating takes the next pages down and deflating gives back the lowest
 * ones of the balloon. Pages the guest uses itself are the lowest free
 * pages (the touch step's); the balloon never goes below b->floor of them.
 * Every page is written (one word) before it is inflated, so that memory
 * behind it is really there to give back, and written and read back after
 * it is deflated. The per-page loops run in ring 3 (user_call()).
 */
#ifndef GUEST_BALLOON_H
#define GUEST_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"
#include "virtio.h"

#define BALLOON_QUEUE_INFLATE    0u
#define BALLOON_QUEUE_DEFLATE    1u
/* PFNs per inflate or deflate chain (one buffer): 64 MiB of 4 KiB pages. */
#define BALLOON_CHAIN_PFNS       16384u
/* Free page reporting: blocks of 2 MiB (Linux's order 9), at most this many per chain. */
#define BALLOON_REPORT_BLOCK_BYTES ((uint64_t)2 << 20)
#define BALLOON_REPORT_CHAIN_MAX 32u
/* The stats entries the driver sends (MEMTOT, MEMFREE, AVAIL, MINFLT). */
#define BALLOON_STATS_SENT       4u

/* One statistics entry as the device reads it (struct virtio_balloon_stat). */
struct balloon_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

struct balloon {
	struct virtio_dev dev;
	const struct free_ram *ram;
	bool probed, ready;
	int stats_q, report_q;          /* queue index, -1: not negotiated */
	/* Configuration as last read (pages). */
	uint32_t num_pages, actual;
	/* The record: the highest INFLATED pages of RAM are in the balloon. */
	uint64_t inflated;
	uint64_t floor;                 /* the lowest free pages the guest uses: never inflated */
	/* Statistics: the buffer (the device holds it between polls), buffers given. */
	struct balloon_stat stats[BALLOON_STATS_SENT];
	uint64_t stats_sent;            /* since the probe, across resets */
	/* Counters since the last balloon_counts_clear(). */
	uint64_t chains, pfns, touch_bad;
	uint64_t request_cycles;        /* in PFN chains, from the notify until the chain is back */
};

/* Probes and initializes on first use. *FIRST: this call did. */
const char *balloon_open(struct balloon *b, const struct free_ram *ram, uint64_t cycles_per_ms,
			 bool *first);

/*
 * Initializes the device again (after a reset): the device emptied the
 * balloon, so the record is emptied; the stats buffer is given again.
 */
const char *balloon_reinit(struct balloon *b);

/* num_pages and actual into b (generation-checked). */
const char *balloon_config_read(struct balloon *b);
/* Writes the record's page count to actual. */
void balloon_actual_write(struct balloon *b);

/* Free pages the balloon could still take (above b->floor). */
uint64_t balloon_room(const struct balloon *b);

/*
 * Inflates PAGES more (at most balloon_room()), or deflates PAGES (at
 * most b->inflated): a chain of up to BALLOON_CHAIN_PFNS at a time, the
 * record updated after each. Does not write actual.
 */
const char *balloon_inflate(struct balloon *b, uint64_t pages);
const char *balloon_deflate(struct balloon *b, uint64_t pages);

/* Sends BYTES of PFNS on queue Q as one chain and waits for it. */
enum virtio_result balloon_pfns_send(struct balloon *b, unsigned int q, const uint32_t *pfns,
				     uint32_t bytes);

/*
 * Reports BYTES (a multiple of BALLOON_REPORT_BLOCK_BYTES) of free memory
 * between b->floor and the balloon, 2 MiB-aligned blocks from the highest
 * down, each touched first; *RANGES, *CHAINS: what was sent.
 */
const char *balloon_report(struct balloon *b, uint64_t bytes, uint64_t *ranges, uint64_t *chains);
/* Free memory in whole aligned report blocks between b->floor and the balloon. */
uint64_t balloon_report_room(const struct balloon *b);

/*
 * Statistics: fills the buffer (MEMTOT: free RAM, MEMFREE: neither used
 * nor inflated, AVAIL: not inflated, all in bytes; MINFLT: buffers given
 * before this one, so 0 in the first and 1 in the first reply to a poll)
 * and gives it to the device. BUSY if the device still holds it.
 */
enum virtio_result balloon_stats_give(struct balloon *b);
/* Waits up to TIMEOUT_MS for the device to give the stats buffer back. */
enum virtio_result balloon_stats_wait(struct balloon *b, uint64_t timeout_ms);

/* A broken chain on the inflate queue (virtio_corrupt()); balloon_reinit() afterwards. */
uint8_t balloon_corrupt(struct balloon *b, enum virtio_corruption kind, uint64_t timeout_ms,
			bool *used);

#endif /* GUEST_BALLOON_H */
