// SPDX-License-Identifier: MIT
#include "tests/e2e_gated.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define GATED_MAX_ARGS   40
#define GATED_MAX_LIVE   4
#define GATED_POLL_MS    5
#define GATED_ERROR_LINE "memvmm-guest: error "

/* memvmm processes still running: killed at exit (a failed assertion). */
static pid_t live[GATED_MAX_LIVE];

static void gated_kill_at_exit(void)
{
	for (unsigned int i = 0; i < GATED_MAX_LIVE; i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
}

static void live_set(pid_t old, pid_t new)
{
	for (unsigned int i = 0; i < GATED_MAX_LIVE; i++)
		if (live[i] == old) {
			live[i] = new;
			return;
		}
	TEST_ASSERT(!new, "more than %d memvmm processes at once", GATED_MAX_LIVE);
}

void e2e_gated_start(struct e2e_gated *g, const char *const *args, const struct memcg *cg)
{
	static bool registered;
	const char *argv[GATED_MAX_ARGS + 1];
	int n = 0, out, err, in[2];

	*g = (struct e2e_gated){ .in_fd = -1 };
	snprintf(g->sock, sizeof(g->sock), "/tmp/memvmm-e2e-gated-%d.sock", (int)getpid());
	unlink(g->sock);
	argv[n++] = e2e_memvmm();
	argv[n++] = "run";
	argv[n++] = "--api-socket";
	argv[n++] = g->sock;
	while (*args) {
		TEST_ASSERT(n < GATED_MAX_ARGS, "too many arguments");
		argv[n++] = *args++;
	}
	argv[n] = NULL;
	snprintf(g->out, sizeof(g->out), "/tmp/memvmm-e2e-gated-out-XXXXXX");
	snprintf(g->err, sizeof(g->err), "/tmp/memvmm-e2e-gated-err-XXXXXX");
	out = mkstemp(g->out);
	err = mkstemp(g->err);
	TEST_ASSERT(out >= 0 && err >= 0, "mkstemp");
	TEST_ASSERT(pipe2(in, O_CLOEXEC) == 0, "pipe2");
	if (!registered) {
		TEST_ASSERT(atexit(gated_kill_at_exit) == 0, "atexit");
		registered = true;
	}
	/* A guest that exits while a byte is still on its way must not kill us. */
	TEST_ASSERT(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "SIGPIPE");
	TEST_ASSERT(!cg || memcg_enter(cg), "enter the memory cgroup");
	fflush(NULL);
	g->pid = fork();
	TEST_ASSERT(g->pid >= 0, "fork");
	if (g->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	live_set(0, g->pid);
	TEST_ASSERT(!cg || memcg_leave(cg), "leave the memory cgroup");
	close(in[0]);
	close(out);
	close(err);
	g->in_fd = in[1];
}

/* Reap it if it exited: true if it did (g->status set). */
static bool gated_reaped(struct e2e_gated *g)
{
	int status;
	pid_t r;

	if (!g->pid)
		return true;
	r = waitpid(g->pid, &status, WNOHANG);
	TEST_ASSERT(r >= 0, "waitpid");
	if (r == 0)
		return false;
	g->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	live_set(g->pid, 0);
	g->pid = 0;
	return true;
}

char *e2e_gated_output(const struct e2e_gated *g)
{
	char *out = e2e_slurp(g->out), *err = e2e_slurp(g->err);
	size_t lo = strlen(out), le = strlen(err);
	char *all = malloc(lo + le + 32);

	TEST_ASSERT(all, "out of memory");
	snprintf(all, lo + le + 32, "%s--- stderr:\n%s", out, err);
	free(out);
	free(err);
	return all;
}

const char *e2e_gated_line(struct e2e_gated *g, const char *step, unsigned int n, char *buf,
			   size_t len, int timeout_s)
{
	double deadline = e2e_now_s() + timeout_s;

	for (;;) {
		char *out = e2e_slurp(g->out), *end = strrchr(out, '\n');
		const char *line;
		bool err;

		/* Complete lines only: the UART writes byte by byte. */
		if (end)
			end[1] = '\0';
		else
			out[0] = '\0';
		line = e2e_nth_line(out, step, n, buf, len);
		err = strstr(out, GATED_ERROR_LINE) != NULL;

		free(out);
		if (line)
			return line;
		TEST_ASSERT(!err, "the guest failed before its %s line #%u:\n%s", step, n,
			    e2e_gated_output(g));
		TEST_ASSERT(!gated_reaped(g), "memvmm exited (status %d) before the guest's %s line "
			    "#%u:\n%s", g->status, step, n, e2e_gated_output(g));
		TEST_ASSERT(e2e_now_s() < deadline, "no %s line #%u within %d s:\n%s", step, n,
			    timeout_s, e2e_gated_output(g));
		e2e_sleep_ms(GATED_POLL_MS);
	}
}

void e2e_gated_send(struct e2e_gated *g)
{
	ssize_t r;

	do {
		r = write(g->in_fd, "x", 1);
	} while (r < 0 && errno == EINTR);
	TEST_ASSERT(r == 1, "writing to the guest's console");
}

int e2e_gated_wait(struct e2e_gated *g, int timeout_s)
{
	double deadline = e2e_now_s() + timeout_s;

	while (!gated_reaped(g)) {
		TEST_ASSERT(e2e_now_s() < deadline, "memvmm did not exit within %d s:\n%s", timeout_s,
			    e2e_gated_output(g));
		e2e_sleep_ms(GATED_POLL_MS);
	}
	TEST_ASSERT(g->status < 128, "memvmm was killed by signal %d:\n%s", g->status - 128,
		    e2e_gated_output(g));
	return g->status;
}

void e2e_gated_end(struct e2e_gated *g)
{
	if (g->pid > 0) {
		kill(g->pid, SIGKILL);
		waitpid(g->pid, NULL, 0);
		live_set(g->pid, 0);
		g->pid = 0;
	}
	if (g->in_fd >= 0)
		close(g->in_fd);
	g->in_fd = -1;
	unlink(g->out);
	unlink(g->err);
	unlink(g->sock);
}

struct json_object *e2e_gated_ctl(const struct e2e_gated *g, int want, const char *cmd,
				  const char *arg1, const char *arg2)
{
	const char *args[] = { "ctl", "--api-socket", g->sock, cmd, arg1, arg1 ? arg2 : NULL,
			       NULL };
	struct json_object *o;
	struct e2e_result r;

	e2e_run(args, NULL, &r);
	TEST_ASSERT(!r.signaled && r.status == want, "ctl %s %s %s: exit %d, want %d: %s%s", cmd,
		    arg1 ? arg1 : "", arg1 && arg2 ? arg2 : "", r.status, want, r.out, r.err);
	o = json_tokener_parse(r.out);
	TEST_ASSERT(o, "ctl %s printed no JSON: '%s'", cmd, r.out);
	e2e_free(&r);
	return o;
}

struct json_object *e2e_jobj(struct json_object *o, const char *key)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_object),
		    "no object %s in %s", key, json_object_to_json_string(o));
	return v;
}

uint64_t e2e_ju64(struct json_object *o, const char *key)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int),
		    "no number %s in %s", key, json_object_to_json_string(o));
	return json_object_get_uint64(v);
}

bool e2e_jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean),
		    "no boolean %s in %s", key, json_object_to_json_string(o));
	return json_object_get_boolean(v);
}

const char *e2e_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

/* status's memory.regions array. */
static struct json_object *ram_regions(struct json_object *status)
{
	struct json_object *mem = e2e_jobj(status, "memory"), *regions;

	TEST_ASSERT(json_object_object_get_ex(mem, "regions", &regions) &&
		    json_object_is_type(regions, json_type_array), "status: %s",
		    json_object_to_json_string(status));
	return regions;
}

uint64_t e2e_ram_resident(struct json_object *status)
{
	struct json_object *regions = ram_regions(status);
	uint64_t sum = 0;

	for (size_t i = 0; i < json_object_array_length(regions); i++) {
		struct json_object *r = json_object_array_get_idx(regions, i);

		if (!strcmp(e2e_jstr(r, "role"), "ram"))
			sum += e2e_ju64(r, "resident");
	}
	return sum;
}

const char *e2e_ram_populate(struct json_object *status)
{
	struct json_object *regions = ram_regions(status);

	for (size_t i = 0; i < json_object_array_length(regions); i++) {
		struct json_object *r = json_object_array_get_idx(regions, i);

		if (!strcmp(e2e_jstr(r, "role"), "ram"))
			return e2e_jstr(r, "populate");
	}
	TEST_ASSERT(false, "no RAM region in %s", json_object_to_json_string(status));
	return "";
}
