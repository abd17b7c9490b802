/* SPDX-License-Identifier: MIT */
/* Run the real memvmm binary and look at what it and its guest said. */
#ifndef MEMVMM_TEST_E2E_H
#define MEMVMM_TEST_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/memcg.h"

#define E2E_TIMEOUT_S 120

struct mem_backend_ops;

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
	/*
	 * Hooks, given memvmm's pid and hook_arg (NULL: none): `started` right
	 * after memvmm was forked, before its output is read; `when` once `sig`
	 * is due (signal_when, signal_after_ms), before it is sent.
	 */
	void (*started)(pid_t pid, void *arg);
	void (*when)(pid_t pid, void *arg);
	void *hook_arg;
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
/* The same, asserting that it is there (the assertion names the line). */
uint64_t e2e_key(const char *line, const char *key);

/* Assert an orderly exit with this status, printing both streams when not. */
#define E2E_EXPECT_STATUS(r, want)                                                     \
	TEST_ASSERT(!(r)->signaled && (r)->status == (want),                          \
		    "exit status %d%s, want %d\n--- stdout:\n%.4000s\n--- stderr:\n%.4000s", \
		    (r)->status, (r)->signaled ? " (killed by a signal)" : "", (want),   \
		    (r)->out, (r)->err)

/* Skip (77) unless /dev/kvm can be opened. */
void e2e_require_kvm(void);

/*
 * The trial memvmm's default backend stands on, done here with raw ioctls: a
 * fresh VM creates a 2 MiB guest_memfd with these flags. 0, or -errno (of
 * KVM_CREATE_VM or KVM_CREATE_GUEST_MEMFD); -ENOENT without /dev/kvm.
 */
int e2e_gmem_trial(uint64_t flags);
/*
 * Skip (77) unless memvmm can run backend b here: KVM, and for guest_memfd
 * the MMAP|INIT_SHARED flags memvmm's RAM needs.
 */
void e2e_require_backend(const struct mem_backend_ops *b);

/*
 * The host's own meter of memvmm's memory: the memory cgroup it runs in,
 * or for a backend the memory controller does not charge (hugetlb), the
 * huge page pool in use (/proc/meminfo).
 */
enum e2e_meter_kind { E2E_METER_MEMCG, E2E_METER_HUGETLB };
struct e2e_meter {
	enum e2e_meter_kind kind;
	struct memcg cg;               /* E2E_METER_MEMCG: the group (no limit) memvmm runs in */
};

/*
 * The meter for backend b, or skip: a memory cgroup where b is charged to
 * it, else the hugetlb pool with at least huge_pages 2 MiB pages made free.
 */
void e2e_meter_setup(struct e2e_meter *m, const struct mem_backend_ops *b, uint64_t huge_pages);
/* Bytes on the meter now (asserts it can be read). */
uint64_t e2e_meter_read(const struct e2e_meter *m);
/* "memory cgroup usage" or "hugetlb pool in use". */
const char *e2e_meter_name(const struct e2e_meter *m);
/* Remove the cgroup, or put nr_hugepages back. */
void e2e_meter_teardown(struct e2e_meter *m);

/*
 * A test binary made of cases, each its own Meson test (tests/meson.build
 * registers one per case), so that each passes, fails or skips on its own.
 */
struct e2e_case {
	const char *name;
	void (*fn)(const void *arg);   /* asserts; TEST_REQUIRE skips the case */
	const void *arg;
};

/*
 * main() of such a binary:
 *   BINARY CASE              runs CASE in a child process and returns its exit
 *                            status (0 pass, 1 fail, 77 skip; a signal: 1)
 *   BINARY --cases NAME...   1 unless NAME... (Meson's list) is the table exactly
 * Anything else prints the cases and returns 1.
 */
int e2e_case_main(int argc, char **argv, const struct e2e_case *cases, size_t n);

#endif
