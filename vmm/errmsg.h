/* SPDX-License-Identifier: MIT */
/*
 * A human-readable reason to go with a -errno, filled by vmm/ code that knows
 * more than the errno says, printed only by the front end (main.c).
 */
#ifndef MEMVMM_ERRMSG_H
#define MEMVMM_ERRMSG_H

#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>

struct errmsg {
	char text[512];
	/* The user gave something unusable (exit 2) rather than the host failing (exit 1). */
	bool bad_input;
};

__attribute__((format(printf, 3, 4)))
static inline int errmsg_set(struct errmsg *e, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return ret;
}

#endif /* MEMVMM_ERRMSG_H */
