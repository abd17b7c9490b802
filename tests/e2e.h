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
	int signal_after_ms;           /* or this long after the start (0: unused) */
	int sig;
	int sig2;                      /* sent right after sig (0: none) */
	bool stall_stdout;             /* never read stdout: the pipe fills up */
	bool nonblock_stdout;          /* memvmm's stdout is O_NONBLOCK */
	int read_delay_ms;             /* start reading stdout this late */
	int timeout_s;                 /* 0: E2E_TIMEOUT_S */
};

struct e2e_result {
	int status;      /* exit status, or 128 + signal if killed */
	bool signaled;   /* memvmm was killed by a signal (not an orderly exit) */
	double seconds;  /* wall time */
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

/* Assert an orderly exit with this status, printing both streams when not. */
#define E2E_EXPECT_STATUS(r, want)                                                     \
	TEST_ASSERT(!(r)->signaled && (r)->status == (want),                          \
		    "exit status %d%s, want %d\n--- stdout:\n%.4000s\n--- stderr:\n%.4000s", \
		    (r)->status, (r)->signaled ? " (killed by a signal)" : "", (want),   \
		    (r)->out, (r)->err)

/* Skip (77) unless /dev/kvm can be opened. */
void e2e_require_kvm(void);

#endif
