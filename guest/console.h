/* SPDX-License-Identifier: MIT */
/*
 * COM1 output and input, and the exit device. Ring 0 only: port I/O faults
 * in ring 3.
 */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdint.h>

/* printf subset: %s %c %u %x %%, with optional 0, width and l/ll. */
__attribute__((format(printf, 1, 2))) void con_printf(const char *fmt, ...);

void con_putc(char c);

/* Waits for and returns one byte of COM1 input. */
uint8_t con_getc(void);

/* Exits through memvmm's exit device with STATUS; halts if that is ignored. */
__attribute__((noreturn)) void guest_exit(uint32_t status);

#endif /* GUEST_CONSOLE_H */
