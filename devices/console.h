/* SPDX-License-Identifier: MIT */
/*
 * Console output: a byte queue drained to an fd (stdout) by its own thread,
 * so that a device writing console output never blocks, however slowly the
 * reader of stdout reads. When the queue is full the device says so to the
 * guest (the UART clears LSR.THRE) and is told when there is room again.
 *
 * Output is never lost silently: when the fd fails (a closed pipe, a full
 * disk) the rest is dropped so that the guest keeps running, and the
 * console counts what was dropped and why (struct console_stats).
 */
#ifndef MEMVMM_CONSOLE_H
#define MEMVMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_QUEUE_BYTES (64u << 10)
/* How long console_destroy() waits for queued output to drain, by default. */
#define CONSOLE_FLUSH_TIMEOUT_MS 2000u

struct console;

struct console_stats {
	uint64_t written;     /* bytes written to the fd */
	uint64_t lost;        /* bytes dropped because the fd failed */
	int write_err;        /* the first write error, -errno; 0: none */
	bool drain_cut;       /* the drain at exit gave up with bytes left ... */
	uint64_t drain_lost;  /* ... this many (not counted in lost) */
};

int console_create(int out_fd, struct console **out) __attribute__((warn_unused_result));
/*
 * Write what is queued (for at most the drain timeout), then free. stats
 * (may be NULL) gets the final counts. The fd is not closed.
 */
void console_destroy(struct console *c, struct console_stats *stats);
/* The counts so far (the drain fields are set only by console_destroy()). */
void console_stats_get(struct console *c, struct console_stats *stats);
/* How long console_destroy() waits for the drain; CONSOLE_FLUSH_TIMEOUT_MS unless set. */
void console_set_drain_timeout(struct console *c, unsigned int ms);

/* Queue up to len bytes; returns how many fit (all of them once the fd failed). Never blocks. */
size_t console_write(struct console *c, const void *buf, size_t len);
/* Bytes the queue can take now. */
size_t console_room(struct console *c);
/*
 * fn is called from the console thread when the queue had been full and has
 * room again. Must not be called with a lock fn takes; after it returns with
 * fn NULL, the old fn is never called again.
 */
void console_on_room(struct console *c, void (*fn)(void *opaque), void *opaque);

#endif /* MEMVMM_CONSOLE_H */
