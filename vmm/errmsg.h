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
#include <string.h>

#define ERRMSG_TEXT_BYTES 512

struct errmsg {
	char text[ERRMSG_TEXT_BYTES];
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

/*
 * A user-supplied path as a message echoes it: at most ERRMSG_PATH_BYTES - 1
 * bytes, so that the reason after it always fits in the message. A longer
 * path keeps its start and its end (the file name), with "..." in the middle;
 * control characters become '?' (a path must not drive the terminal).
 */
#define ERRMSG_PATH_BYTES      160
#define ERRMSG_PATH_HEAD_BYTES 48
#define ERRMSG_PATH_ELLIPSIS   "..."

struct errmsg_path {
	char s[ERRMSG_PATH_BYTES];
};

/*
 * Use within one expression, e.g.
 *   errmsg_set(e, ret, "kernel '%s': %s", errmsg_path(path).s, strerror(-ret));
 * (the returned struct lives until the end of the full expression).
 */
static inline struct errmsg_path errmsg_path(const char *path)
{
	const size_t tail_max = ERRMSG_PATH_BYTES - 1 - ERRMSG_PATH_HEAD_BYTES -
				(sizeof(ERRMSG_PATH_ELLIPSIS) - 1);
	struct errmsg_path out;
	size_t len = strlen(path), head, tail, i;

	if (len < ERRMSG_PATH_BYTES) {
		memcpy(out.s, path, len + 1);
	} else {
		/* Cut between UTF-8 characters, never inside one. */
		head = ERRMSG_PATH_HEAD_BYTES;
		while (head > 0 && ((unsigned char)path[head] & 0xc0) == 0x80)
			head--;
		tail = len - tail_max;
		while (tail < len && ((unsigned char)path[tail] & 0xc0) == 0x80)
			tail++;
		memcpy(out.s, path, head);
		memcpy(out.s + head, ERRMSG_PATH_ELLIPSIS, sizeof(ERRMSG_PATH_ELLIPSIS) - 1);
		memcpy(out.s + head + sizeof(ERRMSG_PATH_ELLIPSIS) - 1, path + tail,
		       len - tail + 1);
	}
	for (i = 0; out.s[i]; i++) {
		if ((unsigned char)out.s[i] < 0x20 || out.s[i] == 0x7f)
			out.s[i] = '?';
	}
	return out;
}

#endif /* MEMVMM_ERRMSG_H */
