/* SPDX-License-Identifier: MIT */
/*
 * An address-space bus (one for port I/O, one for MMIO): devices claim ranges,
 * the vCPU run loop dispatches accesses. Unclaimed reads return all ones,
 * unclaimed writes are dropped; both go to a rate-limited debug log.
 */
#ifndef MEMVMM_BUS_H
#define MEMVMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct bus_handler {
	/* off is relative to the claimed base; size is 1, 2, 4 or 8. */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned int size);
	void (*write)(void *opaque, uint64_t off, unsigned int size, uint64_t val);
};

#define BUS_MAX_RANGES 64
/* Debug log: at most this many unclaimed-access lines per second per bus. */
#define BUS_LOG_LINES_PER_SEC 10

struct bus_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	const struct bus_handler *handler;
	void *opaque;
};

struct bus {
	const char *name;                /* "pio" or "mmio", for the log */
	pthread_rwlock_t lock;
	struct bus_range range[BUS_MAX_RANGES];  /* sorted by base */
	unsigned int nr;
	/* Debug log of unclaimed accesses (NULL: off). */
	FILE *log;
	pthread_mutex_t log_lock;
	uint64_t log_window_start_ns;
	unsigned int log_lines_in_window;
	uint64_t log_suppressed;
};

int bus_init(struct bus *b, const char *name) __attribute__((warn_unused_result));
void bus_destroy(struct bus *b);

/* -EINVAL for an empty or wrapping range, -EEXIST if it overlaps a claimed one, -ENOSPC when full. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name,
		 const struct bus_handler *h, void *opaque)
	__attribute__((warn_unused_result));
void bus_unregister(struct bus *b, uint64_t base);

/* Log how many unclaimed accesses the rate limit held back, if any. */
void bus_log_flush(struct bus *b);

/* Dispatch one access; returns false when no device claims it. */
bool bus_read(struct bus *b, uint64_t addr, unsigned int size, uint64_t *val);
bool bus_write(struct bus *b, uint64_t addr, unsigned int size, uint64_t val);

#endif /* MEMVMM_BUS_H */
