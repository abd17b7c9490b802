/* SPDX-License-Identifier: MIT */
/*
 * Swap for a test or a benchmark, set up for it and taken down for sure.
 *
 * swap_on() uses swap that is already on if there is any (and then touches
 * nothing); else zram0 when the host has it unused (disksize 0); else a
 * swap file (fallocate, a swap header written here: no mkswap needed) in the
 * first of $MEMVMM_SWAP_DIR, /var/tmp, /tmp whose filesystem takes one.
 *
 * What it set up is recorded in a page shared with the processes forked
 * after swap_arm(), and taken down (swapoff, zram reset, the file removed)
 * by swap_off(), at exit, and on SIGTERM, SIGINT and SIGHUP, by the process
 * that armed it and by the one that set it up: a test calls swap_arm() in
 * the parent before forking its case, so that a case that crashes still
 * leaves the host as it was.
 *
 * Nothing here prints or exits: 0 or -errno, with why in words.
 */
#ifndef MEMVMM_TEST_SWAP_H
#define MEMVMM_TEST_SWAP_H

#include <stddef.h>
#include <stdint.h>

enum swap_kind {
	SWAP_NONE,        /* nothing set up */
	SWAP_EXISTING,    /* swap was on already: used, not touched */
	SWAP_ZRAM,        /* /dev/zram0, sized and reset by us */
	SWAP_FILE,        /* a swap file made and removed by us */
};

/* "none", "existing", "zram", "file". */
const char *swap_kind_name(enum swap_kind k);

/*
 * Arm the teardown in this process: the shared record, atexit, and the
 * signal handlers (chained to those already installed). swap_on() arms by
 * itself if nobody did. 0 or -errno.
 */
int swap_arm(void) __attribute__((warn_unused_result));

/*
 * Make sure swap is on, setting up at least bytes (a multiple of 4 KiB) of
 * it when none is. 0 with *kind; else -EPERM (not root), -EOPNOTSUPP
 * (neither zram nor a swap file could be set up) or another -errno, with
 * why saying which step failed for each way tried.
 */
int swap_on(uint64_t bytes, enum swap_kind *kind, char *why, size_t len)
	__attribute__((warn_unused_result));

/* What swap_on() set up: the device or file ("" for none or existing swap). */
const char *swap_path(void);

/*
 * Take down what swap_on() set up (nothing for existing swap), and check
 * that /proc/swaps no longer lists it and zram0 is reset. 0 or -errno with
 * why.
 */
int swap_off(char *why, size_t len) __attribute__((warn_unused_result));

#endif
