// SPDX-License-Identifier: MIT
#include "tests/e2e_bg.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define BG_MAX_ARGS 40

static pid_t bg_live;   /* killed at exit if a failed assertion left it running */

static void bg_kill_at_exit(void)
{
	if (bg_live > 0) {
		kill(bg_live, SIGKILL);
		waitpid(bg_live, NULL, 0);
		bg_live = 0;
	}
}

double e2e_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void e2e_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

char *e2e_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;

	TEST_ASSERT(f, "open %s", path);
	if (getdelim(&buf, &cap, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	TEST_ASSERT(buf, "out of memory");
	return buf;
}

void e2e_bg_start(struct e2e_bg *b, const char *tag, const char *const *args,
		  const struct memcg *cg)
{
	static bool registered;
	const char *argv[BG_MAX_ARGS + 1];
	int n = 0, out, err;

	b->sock[0] = '\0';
	argv[n++] = e2e_memvmm();
	argv[n++] = "run";
	if (tag) {
		snprintf(b->sock, sizeof(b->sock), "/tmp/memvmm-e2e-%s-%d.sock", tag,
			 (int)getpid());
		unlink(b->sock);
		argv[n++] = "--api-socket";
		argv[n++] = b->sock;
	} else {
		tag = "bg";
	}
	while (*args) {
		TEST_ASSERT(n < BG_MAX_ARGS, "too many arguments");
		argv[n++] = *args++;
	}
	argv[n] = NULL;
	snprintf(b->out, sizeof(b->out), "/tmp/memvmm-e2e-%.8s-out-XXXXXX", tag);
	snprintf(b->err, sizeof(b->err), "/tmp/memvmm-e2e-%.8s-err-XXXXXX", tag);
	out = mkstemp(b->out);
	err = mkstemp(b->err);
	TEST_ASSERT(out >= 0 && err >= 0, "mkstemp");
	if (!registered) {
		TEST_ASSERT(atexit(bg_kill_at_exit) == 0, "atexit");
		registered = true;
	}
	TEST_ASSERT(!cg || memcg_enter(cg), "enter the memory cgroup");
	fflush(NULL);
	b->pid = fork();
	TEST_ASSERT(b->pid >= 0, "fork");
	if (b->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	bg_live = b->pid;
	TEST_ASSERT(!cg || memcg_leave(cg), "leave the memory cgroup");
	close(out);
	close(err);
}

bool e2e_bg_running(struct e2e_bg *b)
{
	int status;
	pid_t r = waitpid(b->pid, &status, WNOHANG);

	TEST_ASSERT(r >= 0, "waitpid");
	if (r == b->pid && bg_live == b->pid)
		bg_live = 0;
	return r == 0;
}

int e2e_bg_wait(struct e2e_bg *b, int timeout_s)
{
	double deadline = e2e_now_s() + timeout_s;
	int status;

	for (;;) {
		pid_t r = waitpid(b->pid, &status, WNOHANG);

		TEST_ASSERT(r >= 0, "waitpid");
		if (r == b->pid)
			break;
		TEST_ASSERT(e2e_now_s() < deadline, "memvmm did not exit within %d s; stderr:\n%s",
			    timeout_s, e2e_slurp(b->err));
		e2e_sleep_ms(10);
	}
	bg_live = 0;
	TEST_ASSERT(WIFEXITED(status), "memvmm was killed by signal %d",
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

void e2e_bg_cleanup(struct e2e_bg *b)
{
	unlink(b->out);
	unlink(b->err);
	if (b->sock[0])
		unlink(b->sock);
}

unsigned int e2e_count_lines(const char *out, const char *step)
{
	char prefix[96];
	unsigned int n = 0;

	snprintf(prefix, sizeof(prefix), "memvmm-guest: %s ", step);
	for (const char *p = out; (p = strstr(p, prefix)); p++)
		n += p == out || p[-1] == '\n';
	return n;
}

const char *e2e_nth_line(const char *out, const char *step, unsigned int n, char *buf,
			 size_t len)
{
	char prefix[96];

	snprintf(prefix, sizeof(prefix), "memvmm-guest: %s ", step);
	for (const char *p = out; n && (p = strstr(p, prefix)); p++) {
		if ((p != out && p[-1] != '\n') || --n)
			continue;
		snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
		return buf;
	}
	return NULL;
}
