/* SPDX-License-Identifier: MIT */
/* What tests/e2e_linux.c and tests/e2e_linux_bad.c share (Linux guests end to end). */
#ifndef MEMVMM_TEST_E2E_LINUX_H
#define MEMVMM_TEST_E2E_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define E2E_LINUX_LINE_BYTES 2048

/*
 * Run argv (a script; argv[0] its path), stdout and stderr together into
 * *out (caller frees), for at most 240 s; its exit status (128 + signal).
 */
int e2e_linux_run_tool(const char *const *argv, char **out);
/* The VALUE of a "KEY=VALUE" line of a script's output, in buf; false if absent. */
bool e2e_linux_output_value(const char *out, const char *key, char *buf, size_t len);
/* The last non-empty line of s, in buf. */
const char *e2e_linux_last_line(const char *s, char *buf, size_t len);
/* st_size of path (asserts). */
uint64_t e2e_linux_file_size(const char *path);

/* The bad-images case (tests/e2e_linux_bad.c). */
void e2e_linux_bad_images(const void *unused);

#endif
