/* SPDX-License-Identifier: MIT */
/* Run the real memvmm binary and look at what it and its guest said. */
#ifndef MEMVMM_TEST_E2E_H
#define MEMVMM_TEST_E2E_H

#include <stdbool.h>
#include <stdint.h>

#define E2E_TIMEOUT_S 120

struct e2e_opts {
	const char *stdin_data;        /* NULL: stdin is /dev/null */
	const char *signal_when;       /* send `sig` once stdout contains this */
	int sig;
	int timeout_s;                 /* 0: E2E_TIMEOUT_S */
};

struct e2e_result {
	int status;      /* exit status, or 128 + signal if killed */
	char *out;       /* stdout, NUL-terminated */
	char *err;       /* stderr */
};

/* Path of the memvmm binary (env MEMVMM, set by meson). */
const char *e2e_memvmm(void);

/* Run memvmm with args (NULL-terminated, without argv[0]). Always returns. */
void e2e_run(const char *const *args, const struct e2e_opts *o, struct e2e_result *r);
void e2e_free(struct e2e_result *r);

/* The guest's line for a step ("memvmm-guest: <step> "), or NULL. Static buffer. */
const char *e2e_guest_line(const struct e2e_result *r, const char *step);
/* key=value from a line; false if absent or not a number (decimal or 0x hex). */
bool e2e_key_u64(const char *line, const char *key, uint64_t *val);

/* Assert exit status, printing both streams when it differs. */
#define E2E_EXPECT_STATUS(r, want)                                                     \
	TEST_ASSERT((r)->status == (want), "exit status %d, want %d\n--- stdout:\n%s\n--- stderr:\n%s", \
		    (r)->status, (want), (r)->out, (r)->err)

/* Skip (77) unless /dev/kvm can be opened. */
void e2e_require_kvm(void);

#endif
