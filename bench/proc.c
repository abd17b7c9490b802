// SPDX-License-Identifier: MIT
/*
 * Child processes for guest-touch and vs-qemu: fork, exec, feed stdin,
 * collect both outputs with poll(), time from fork to reaping.
 */
#include "bench/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/stats.h"

int proc_buf_read(struct proc_buf *b, int fd)
{
	ssize_t n;

	if (b->cap - b->len < 4096) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *d = realloc(b->data, cap);

		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	n = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return n > 0;
}

/* Kill the child we started; it may have exited already (ESRCH). */
static int kill_child(pid_t pid)
{
	return kill(pid, SIGKILL) < 0 && errno != ESRCH ? -errno : 0;
}

void proc_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int proc_run(char *const argv[], const char *stdin_data, double timeout_s,
	     struct proc_result *res)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct proc_buf bo = { 0 }, be = { 0 };
	size_t in_len = stdin_data ? strlen(stdin_data) : 0, in_done = 0;
	uint64_t t0, deadline;
	int ret = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	signal(SIGPIPE, SIG_IGN);      /* a child that exits early must not kill us */
	if ((stdin_data && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	t0 = bench_now_ns();
	deadline = t0 + (uint64_t)(timeout_s * 1e9);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0) {
		int null_fd = stdin_data ? in[0] : open("/dev/null", O_RDONLY);

		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	proc_close_fd(&in[0]);
	proc_close_fd(&out[1]);
	proc_close_fd(&err[1]);
	if (in[1] >= 0 && fcntl(in[1], F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		kill_child(pid);
	}
	if (in[1] >= 0 && !in_len)
		proc_close_fd(&in[1]);
	while (out[0] >= 0 || err[0] >= 0) {
		struct pollfd p[3] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = err[0], .events = POLLIN },
			{ .fd = in[1], .events = POLLOUT },
		};
		uint64_t now = bench_now_ns();
		int ms = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		int r = poll(p, 3, ms);

		if (r < 0 && errno != EINTR) {
			ret = -errno;
			kill_child(pid);
			break;
		}
		if (r == 0 && bench_now_ns() >= deadline && !res->timed_out) {
			res->timed_out = 1;
			ret = kill_child(pid);
			/* Its outputs close now, unless something inherited them. */
			deadline = bench_now_ns() + 2000000000ull;
			continue;
		}
		if (r == 0 && res->timed_out)
			break;
		if (p[0].revents) {
			int k = proc_buf_read(&bo, out[0]);

			if (k <= 0)
				proc_close_fd(&out[0]);
			if (k < 0)
				ret = k;
		}
		if (p[1].revents) {
			int k = proc_buf_read(&be, err[0]);

			if (k <= 0)
				proc_close_fd(&err[0]);
			if (k < 0)
				ret = k;
		}
		if (p[2].revents) {
			ssize_t n = write(in[1], stdin_data + in_done, in_len - in_done);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				proc_close_fd(&in[1]);   /* EPIPE: it does not read stdin */
			else if (n > 0)
				in_done += (size_t)n;
			if (in_done == in_len)
				proc_close_fd(&in[1]);
		}
	}
	while (waitpid(pid, &res->status, 0) < 0) {
		if (errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	res->wall_ms = bench_ms_since(t0);
out:
	proc_close_fd(&in[0]);
	proc_close_fd(&in[1]);
	proc_close_fd(&out[0]);
	proc_close_fd(&out[1]);
	proc_close_fd(&err[0]);
	proc_close_fd(&err[1]);
	res->out = bo.data ? bo.data : strdup("");
	res->err = be.data ? be.data : strdup("");
	res->out_len = bo.len;
	res->err_len = be.len;
	if (!res->out || !res->err)
		ret = ret ? ret : -ENOMEM;
	return ret;
}

void proc_result_free(struct proc_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

const char *proc_find_line(const char *text, const char *prefix, char *buf, size_t len)
{
	const char *found = NULL;
	size_t plen = strlen(prefix);

	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');

		if (!strncmp(p, prefix, plen))
			found = p;
		p = nl ? nl + 1 : NULL;
	}
	if (!found)
		return NULL;
	snprintf(buf, len, "%.*s", (int)strcspn(found, "\n"), found);
	return buf;
}

void proc_last_line(const char *text, char *buf, size_t len)
{
	const char *last = "";

	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');

		if (p[0] != '\n')
			last = p;
		p = nl ? nl + 1 : NULL;
	}
	snprintf(buf, len, "%.*s", (int)strcspn(last, "\n"), last);
}
