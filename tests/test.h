/* SPDX-License-Identifier: MIT */
/*
 * Test helpers in the style of the KVM selftests: tests read like scripts.
 *
 * TEST_ASSERT(cond, fmt, ...)  fails the test with file:line, errno and a message.
 * TEST_REQUIRE(cond, why)      skips the test (exit 77, Meson's "skipped") when the
 *                              host lacks a feature, always saying which.
 */
#ifndef MEMVMM_TEST_H
#define MEMVMM_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SKIP_CODE 77

#define TEST_ASSERT(cond, fmt, ...)                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			int test_errno_ = errno;                                 \
			fprintf(stderr, "%s:%d: assertion failed: %s\n  errno=%d (%s)\n  " fmt "\n", \
				__FILE__, __LINE__, #cond, test_errno_,          \
				strerror(test_errno_), ##__VA_ARGS__);           \
			exit(1);                                                 \
		}                                                                \
	} while (0)

#define TEST_REQUIRE(cond, why)                                                  \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: skipped: %s\n", __FILE__,        \
				__LINE__, why);                                  \
			exit(TEST_SKIP_CODE);                                    \
		}                                                                \
	} while (0)

/* Assert that a 0/-errno call returned 0. */
#define TEST_OK(expr)                                                            \
	do {                                                                     \
		int test_ret_ = (expr);                                          \
		TEST_ASSERT(test_ret_ == 0, "%s returned %d (%s)", #expr,        \
			    test_ret_, strerror(test_ret_ < 0 ? -test_ret_ : 0)); \
	} while (0)

#define TEST_PASS(name) printf("ok - %s\n", name)

#endif /* MEMVMM_TEST_H */
