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
 * by swap_off(), at exit, and on every catchable signal that ends a process
 * by default (swap_sigset()), by the process that armed it or the one that
 * set it up, whichever claims it first: a test calls swap_arm() in the
 * parent before forking its case, so that a case that crashes still leaves
 * the host as it was. Each step and its record happen with those signals
 * blocked.
 *
 * Against SIGKILL, a record on disk (/run, else /tmp:
 * memvmm-swap-<pid>.state) is written before the host is changed and
 * removed once it is put back; swap_on() first takes down what dead
 * processes left (their records, and memvmm-swap-<pid> files of a dead
 * pid), and says so in why.
 *
 * Nothing here prints or exits: 0 or -errno, with why in words.
 */
#ifndef MEMVMM_TEST_SWAP_H
#define MEMVMM_TEST_SWAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* The catchable signals whose default action ends the process. 0 or -errno. */
int swap_sigset(sigset_t *set) __attribute__((warn_unused_result));

/* True if pid is a live process (kill(pid, 0)). */
bool swap_pid_alive(pid_t pid);

/*
 * Take down the swap that dead processes set up and left (records and swap
 * files, see above); a no-op unless root. 0 or the first -errno; what says
 * what was found and done ("" for nothing).
 */
int swap_recover(char *what, size_t len) __attribute__((warn_unused_result));

/*
 * Make sure swap is on, setting up at least bytes (a multiple of 4 KiB) of
 * it when none is. 0 with *kind; else -EPERM (not root), -EOPNOTSUPP
 * (neither zram nor a swap file could be set up) or another -errno, with
 * why saying which step failed for each way tried. On success why says
 * what leftovers of dead processes were taken down first ("" for none).
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
