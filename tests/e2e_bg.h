/* SPDX-License-Identifier: MIT */
/*
 * memvmm running in the background with a control socket, for end-to-end
 * tests that steer it (`memvmm ctl`) and read what its guest printed so far.
 */
#ifndef MEMVMM_TEST_E2E_BG_H
#define MEMVMM_TEST_E2E_BG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct memcg;

struct e2e_bg {
	pid_t pid;
	char out[64], err[64];   /* files holding its stdout and stderr */
	char sock[108];          /* its --api-socket, "" without one */
};

/*
 * Start `memvmm run --api-socket SOCK ARGS...` (args NULL-terminated), stdin
 * /dev/null, inside cg when it is not NULL (memcg_enter() around the fork).
 * SOCK is /tmp/memvmm-e2e-TAG-PID.sock; a NULL tag runs it without a
 * socket (sock then ""). If the test ends while it still runs
 * (a failed assertion), it is killed at exit: call this after memcg_create(),
 * so that this happens before the group is removed.
 */
void e2e_bg_start(struct e2e_bg *b, const char *tag, const char *const *args,
		  const struct memcg *cg);
/* Wait (at most timeout_s) for an orderly exit; its status. Asserts otherwise. */
int e2e_bg_wait(struct e2e_bg *b, int timeout_s);
/*
 * True while memvmm has not exited; once it has, it is reaped (and no
 * longer killed at exit, so a recycled pid is never signalled).
 */
bool e2e_bg_running(struct e2e_bg *b);
/* Remove its files and socket. */
void e2e_bg_cleanup(struct e2e_bg *b);

/* A whole file, NUL-terminated (caller frees); asserts it can be read. */
char *e2e_slurp(const char *path);
/* Lines of out that start with "memvmm-guest: STEP " (STEP exactly). */
unsigned int e2e_count_lines(const char *out, const char *step);
/* The n-th (from 1) of them without its newline, in buf; NULL if there is none. */
const char *e2e_nth_line(const char *out, const char *step, unsigned int n, char *buf,
			 size_t len);

double e2e_now_s(void);
void e2e_sleep_ms(unsigned int ms);

#endif
