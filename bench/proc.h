/* SPDX-License-Identifier: MIT */
/*
 * Run a program, feed it stdin, collect stdout and stderr, time it.
 */
#ifndef MEMVMM_BENCH_PROC_H
#define MEMVMM_BENCH_PROC_H

#include <stddef.h>

struct proc_result {
	int status;         /* waitpid() status */
	double wall_ms;     /* fork to reaped */
	char *out, *err;    /* NUL-terminated, malloc'ed */
	size_t out_len, err_len;
	int timed_out;      /* killed after the timeout */
};

/*
 * Run argv[0] (a path) with argv; stdin_data (NULL: /dev/null) is written
 * to its stdin, which is then closed. Kills it (SIGKILL) after timeout_s.
 * 0 or -errno when it could not be run at all; exec failure is exit 127.
 */
int proc_run(char *const argv[], const char *stdin_data, double timeout_s,
	     struct proc_result *res);
void proc_result_free(struct proc_result *res);

/* A child's output as it comes, NUL-terminated. */
struct proc_buf {
	char *data;
	size_t len, cap;
};

/* Read what fd has into b: 0 at EOF, 1 if more may come, -errno. */
int proc_buf_read(struct proc_buf *b, int fd);
/* Close *fd if open, and mark it closed (-1). */
void proc_close_fd(int *fd);

/* The last line of text starting with prefix (copied to buf), or NULL. */
const char *proc_find_line(const char *text, const char *prefix, char *buf, size_t len);
/* The last non-empty line of text, into buf. */
void proc_last_line(const char *text, char *buf, size_t len);

#endif /* MEMVMM_BENCH_PROC_H */
