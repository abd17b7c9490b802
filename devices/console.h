/* SPDX-License-Identifier: MIT */
/*
 * Console output: a byte queue drained to an fd (stdout) by its own thread,
 * so that a device writing console output never blocks, however slowly the
 * reader of stdout reads. When the queue is full the device says so to the
 * guest (the UART clears LSR.THRE) and is told when there is room again.
 */
#ifndef MEMVMM_CONSOLE_H
#define MEMVMM_CONSOLE_H

#include <stddef.h>

#define CONSOLE_QUEUE_BYTES (64u << 10)
/* How long console_destroy() waits for queued output to drain. */
#define CONSOLE_FLUSH_TIMEOUT_MS 2000

struct console;

int console_create(int out_fd, struct console **out) __attribute__((warn_unused_result));
/* Write what is queued (for at most CONSOLE_FLUSH_TIMEOUT_MS), then free. */
void console_destroy(struct console *c);

/* Queue up to len bytes; returns how many fit. Never blocks. */
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
