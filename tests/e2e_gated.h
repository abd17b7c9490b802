/* SPDX-License-Identifier: MIT */
/*
 * memvmm in the background with its control socket and the guest's console
 * input on a pipe: the test guest's `read=1` step waits for one byte, so a
 * test reads the host's meters and memvmm's status at known points of the
 * guest's steps ("gates"), then lets the guest go on with e2e_gated_send().
 * Used by the balloon and pageout end-to-end tests.
 */
#ifndef MEMVMM_TEST_E2E_GATED_H
#define MEMVMM_TEST_E2E_GATED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;
struct memcg;

struct e2e_gated {
	pid_t pid;               /* 0 once reaped */
	int in_fd;               /* memvmm's stdin: the guest's console input */
	int status;              /* exit status once reaped (128 + signal if killed) */
	char out[64], err[64];   /* files holding its stdout and stderr */
	char sock[108];          /* its --api-socket */
};

/*
 * Start `memvmm run --api-socket SOCK ARGS...` (args NULL-terminated) inside
 * cg when it is not NULL. Killed at exit if the test ends while it runs.
 */
void e2e_gated_start(struct e2e_gated *g, const char *const *args, const struct memcg *cg);

/*
 * Wait (at most timeout_s) for the n-th (from 1) "memvmm-guest: STEP " line;
 * it goes into buf. Fails at once when the guest reports an error or memvmm
 * exits first.
 */
const char *e2e_gated_line(struct e2e_gated *g, const char *step, unsigned int n, char *buf,
			   size_t len, int timeout_s);
/* One byte to the guest's console: its read=1 step goes on. */
void e2e_gated_send(struct e2e_gated *g);
/* Wait (at most timeout_s) for memvmm to exit; its status. Asserts an orderly exit. */
int e2e_gated_wait(struct e2e_gated *g, int timeout_s);
/* Kill it if it still runs (SIGKILL), remove its files and socket. */
void e2e_gated_end(struct e2e_gated *g);
/* Everything memvmm wrote so far (stdout, then stderr); caller frees. */
char *e2e_gated_output(const struct e2e_gated *g);

/*
 * `memvmm ctl --api-socket SOCK CMD [ARG1 [ARG2]]` must exit want (0: an
 * ok reply, 1: an error reply); its reply, parsed (caller puts).
 */
struct json_object *e2e_gated_ctl(const struct e2e_gated *g, int want, const char *cmd,
				  const char *arg1, const char *arg2);

/* JSON members; each asserts that it is there and has that type. */
struct json_object *e2e_jobj(struct json_object *o, const char *key);
uint64_t e2e_ju64(struct json_object *o, const char *key);
bool e2e_jbool(struct json_object *o, const char *key);
/* A string member, "" when absent or null. */
const char *e2e_jstr(struct json_object *o, const char *key);
/* Resident bytes of status's memory.regions with role "ram", summed. */
uint64_t e2e_ram_resident(struct json_object *status);
/* The populate strategy status names for the first RAM region ("auto" never: the one used). */
const char *e2e_ram_populate(struct json_object *status);

#endif
