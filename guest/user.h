/* SPDX-License-Identifier: MIT */
/*
 * The per-page loops of the workload steps. They run in ring 3 through
 * user_call(), where code runs natively rather than in KVM's instruction
 * emulator, so they must not do port I/O or touch privileged state.
 */
#ifndef GUEST_USER_H
#define GUEST_USER_H

#include <stdint.h>

#include "memmap.h"

struct page_job {
	const struct free_ram *ram;
	uint64_t pages;                 /* the first PAGES free pages */
	/* The first BUMPED pages hold memvmm_page_value(i) + BUMPS (mod 2^64). */
	uint64_t bumped, bumps;
};

/* Writes memvmm_page_value(i) at offset 0 of page i; returns PAGES. */
uint64_t user_touch(void *job);

/* Adds 1 to the word at offset 0 of each page; returns PAGES. */
uint64_t user_bump(void *job);

/*
 * Returns how many pages do not hold memvmm_page_value(i), plus BUMPS for
 * the first BUMPED pages.
 */
uint64_t user_verify(void *job);

/* Returns the sum (mod 2^64) of the values at offset 0 of the pages. */
uint64_t user_checksum(void *job);

/* Plugged virtio-mem blocks: word 0 of every 4 KiB page. */
struct vmem_touch_job {
	uint64_t base, block_size, nblocks;
	const uint64_t *plugged;        /* bit per block */
	uint64_t *touched;              /* bit per block: holds the pattern; set here */
	/* Results. */
	uint64_t blocks, pages;
	uint64_t fresh;                 /* pages of blocks not touched since their plug */
	uint64_t nonzero;               /* of those, pages that did not read zero */
	uint64_t bad;                   /* other pages without the pattern */
};

/*
 * For every plugged block: a block plugged since the last touch must read
 * zero, one touched before must still hold the pattern; then word 0 of
 * page p (counted from base) gets memvmm_page_value(p) and the block is
 * marked touched. Returns the pages visited.
 */
uint64_t user_vmem_touch(void *job);

#endif /* GUEST_USER_H */
