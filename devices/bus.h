/* SPDX-License-Identifier: MIT */
/*
 * An address-space bus (one for port I/O, one for MMIO): devices claim ranges,
 * the vCPU run loop dispatches accesses. Unclaimed reads return all ones,
 * unclaimed writes are dropped; both go to a rate-limited debug log.
 *
 * Concurrency: any number of threads may dispatch while others register and
 * unregister ranges, and a handler may itself (un)register ranges, its own
 * included (a PCI BAR moving): dispatch holds no lock while a handler runs.
 * It searches a snapshot of the range table, which bus_register() and
 * bus_unregister() replace (copy on write), and holds a reference on the
 * range it dispatches to.
 *
 * Lifetime rule: bus_unregister() returns only after every dispatch to that
 * range on other threads has returned, so the caller may free the range's
 * opaque afterwards. Called from inside a handler of that same range, it does
 * not wait for that dispatch (its own thread's, which is still running): the
 * handler may keep using its opaque until it returns, and must not free it.
 * Because it waits, bus_unregister() must not be called while holding a lock
 * that the range's handler takes, nor from a handler whose own range the
 * unregistered range's handler might unregister in turn (a cycle).
 */
#ifndef MEMVMM_BUS_H
#define MEMVMM_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct bus_handler {
	/* off is relative to the claimed base; size is 1, 2, 4 or 8. */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned int size);
	void (*write)(void *opaque, uint64_t off, unsigned int size, uint64_t val);
};

/* Ranges one bus holds at most (devices, PCI BARs). */
#define BUS_MAX_RANGES 256
/* Debug log: at most this many unclaimed-access lines per second per bus. */
#define BUS_LOG_LINES_PER_SEC 10

struct bus_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	const struct bus_handler *handler;
	void *opaque;
};

struct bus_map;

struct bus {
	const char *name;                /* "pio" or "mmio", for the log */
	/* The current range table; replaced, never changed while current. */
	struct bus_map *map;
	struct bus_map *spare;           /* the next table, filled under update_lock */
	/*
	 * Read-held by a dispatch only while it searches map (never while a
	 * handler runs), write-held only to swap map and spare. Prefers writers.
	 */
	pthread_rwlock_t swap_lock;
	/* Serializes bus_register()/bus_unregister(); never held during dispatch. */
	pthread_mutex_t update_lock;
	/* bus_unregister() callers wait here for dispatches to finish. */
	atomic_uint waiters;
	pthread_mutex_t wait_lock;
	pthread_cond_t idle;
	/* Debug log of unclaimed accesses (NULL: off). */
	FILE *log;
	pthread_mutex_t log_lock;
	uint64_t log_window_start_ns;
	unsigned int log_lines_in_window;
	uint64_t log_suppressed;
};

int bus_init(struct bus *b, const char *name) __attribute__((warn_unused_result));
/* No dispatch may be running or start any more. */
void bus_destroy(struct bus *b);

/*
 * -EINVAL for an empty or wrapping range or no handler, -EEXIST if it
 * overlaps a claimed one, -ENOSPC when BUS_MAX_RANGES are claimed, -ENOMEM.
 * name must outlive the range.
 */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name,
		 const struct bus_handler *h, void *opaque)
	__attribute__((warn_unused_result));
/* Release the range claimed at base (none: nothing happens); see the lifetime rule above. */
void bus_unregister(struct bus *b, uint64_t base);

/* Log how many unclaimed accesses the rate limit held back, if any. */
void bus_log_flush(struct bus *b);

/* Dispatch one access; returns false when no device claims it. */
bool bus_read(struct bus *b, uint64_t addr, unsigned int size, uint64_t *val);
bool bus_write(struct bus *b, uint64_t addr, unsigned int size, uint64_t val);

#endif /* MEMVMM_BUS_H */
