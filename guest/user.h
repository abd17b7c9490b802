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
};

/* Writes memvmm_page_value(i) at offset 0 of page i; returns PAGES. */
uint64_t user_touch(void *job);

/* Returns how many pages do not hold memvmm_page_value(i). */
uint64_t user_verify(void *job);

/* Returns the sum (mod 2^64) of the values at offset 0 of the pages. */
uint64_t user_checksum(void *job);

#endif /* GUEST_USER_H */
