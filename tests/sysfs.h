/* SPDX-License-Identifier: MIT */
/*
 * Reading and writing the host's settings files (sysfs choice files such
 * as transparent_hugepage/enabled, zram's disksize) for the tests and
 * benchmarks that change them and put them back. Syscalls only, no stdio
 * and no allocation: safe in signal handlers and at exit.
 */
#ifndef MEMVMM_TESTS_SYSFS_H
#define MEMVMM_TESTS_SYSFS_H

#include <stddef.h>
#include <stdint.h>

/* The file's text (at most len - 1 bytes, NUL-terminated): 0 or -errno. */
int sysfs_read(const char *path, char *buf, size_t len) __attribute__((warn_unused_result));

/* A decimal number (zram's disksize): 0 or -errno. */
int sysfs_read_u64(const char *path, uint64_t *v) __attribute__((warn_unused_result));

/*
 * The selected [word] of a choice file ("always [madvise] never") into
 * word (len bytes with the NUL): 0, -errno, or -EPROTO when there is no
 * bracketed word or it does not fit.
 */
int sysfs_choice_read(const char *path, char *word, size_t len)
	__attribute__((warn_unused_result));

/* Write s (one write()): 0, -errno, or -EIO for a short write. */
int sysfs_write(const char *path, const char *s) __attribute__((warn_unused_result));

#endif /* MEMVMM_TESTS_SYSFS_H */
