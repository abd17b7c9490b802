// SPDX-License-Identifier: MIT
/*
 * balloon's guest runs: start memvmm or QEMU with the test guest, wait for
 * each of the guest's step lines, read the host's meter (and memvmm's
 * status) while the guest waits in its read=1 step, then let it go on with
 * one byte on its console. The child handling follows vmem_plug_guest.c's.
 */
#include "bench/balloon.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "tests/memcg.h"
#include "vmm/control.h"

#define BL_RUN_TIMEOUT_NS     (600ull * 1000000000ull)  /* one whole run */
#define BL_EXIT_TIMEOUT_NS    (30ull * 1000000000ull)   /* after the last byte */
#define BL_CTL_TIMEOUT_MS     10000
#define BL_REAP_POLL_US       10000
#define BL_CHILD_CGROUP_EXIT  126          /* the child could not join the cgroup */
#define BL_PAGE_BYTES         4096ull      /* the balloon's PFN size */
#define BL_MIB                (1024.0 * 1024.0)
#define BL_GUEST_PREFIX       "memvmm-guest: "
#define BL_GUEST_ERROR        "memvmm-guest: error "

struct bl_child {
	pid_t pid;                 /* -1 once reaped */
	int in_fd, out_fd, err_fd;
	struct proc_buf out, err;
	size_t scan;               /* stdout: the first line not yet looked at */
	int status;                /* waitpid() status once reaped */
};

/* argv[0] with stdin, stdout, stderr on pipes; first into the cgroup's procs file if set. */
static int child_start(struct bl_child *ch, char *const argv[], const char *procs)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ret = 0;

	*ch = (struct bl_child){ .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	ch->pid = fork();
	if (ch->pid < 0) {
		ret = -errno;
		goto out;
	}
	if (ch->pid == 0) {
		if (procs) {
			int fd = open(procs, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(BL_CHILD_CGROUP_EXIT);
			close(fd);
		}
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	ch->err_fd = err[0];
	in[1] = out[0] = err[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		proc_close_fd(&in[i]);
		proc_close_fd(&out[i]);
		proc_close_fd(&err[i]);
	}
	return ret;
}

/* Wait for output once, until deadline: 0, 1 when both outputs are at EOF, -errno. */
static int child_pump(struct bl_child *ch, uint64_t deadline)
{
	struct pollfd p[2] = {
		{ .fd = ch->out_fd, .events = POLLIN },
		{ .fd = ch->err_fd, .events = POLLIN },
	};
	uint64_t now = bench_now_ns();
	int r;

	if (ch->out_fd < 0 && ch->err_fd < 0)
		return 1;
	if (now >= deadline)
		return -ETIMEDOUT;
	r = poll(p, 2, (int)((deadline - now) / 1000000) + 1);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < 2; i++) {
		int *fd = i ? &ch->err_fd : &ch->out_fd;
		int k;

		if (!p[i].revents)
			continue;
		k = proc_buf_read(i ? &ch->err : &ch->out, *fd);
		if (k <= 0)
			proc_close_fd(fd);
		if (k < 0)
			return k;
	}
	return ch->out_fd < 0 && ch->err_fd < 0;
}

/*
 * The next complete stdout line starting with prefix, into line. -EPROTO
 * with the guest's error line when that comes first, -EPIPE when the
 * output ends first, -ETIMEDOUT.
 */
static int child_wait_line(struct bl_child *ch, const char *prefix, uint64_t deadline,
			   char *line, size_t len)
{
	size_t plen = strlen(prefix), elen = strlen(BL_GUEST_ERROR);
	int ret;

	line[0] = '\0';
	for (;;) {
		while (ch->out.data && ch->scan < ch->out.len) {
			char *p = ch->out.data + ch->scan;
			char *nl = memchr(p, '\n', ch->out.len - ch->scan);
			size_t n;

			if (!nl)
				break;
			n = (size_t)(nl - p);
			ch->scan += n + 1;
			if (n && p[n - 1] == '\r')
				n--;
			if ((n >= plen && !memcmp(p, prefix, plen)) ||
			    (n >= elen && !memcmp(p, BL_GUEST_ERROR, elen))) {
				snprintf(line, len, "%.*s", (int)n, p);
				return memcmp(p, prefix, plen) ? -EPROTO : 0;
			}
		}
		ret = child_pump(ch, deadline);
		if (ret < 0)
			return ret;
		if (ret == 1 && !(ch->out.data && memchr(ch->out.data + ch->scan, '\n',
							  ch->out.len - ch->scan)))
			return -EPIPE;
	}
}

static int child_send(struct bl_child *ch)
{
	ssize_t n;

	do {
		n = write(ch->in_fd, "x", 1);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

/* The rest of the output, and reap it (SIGKILL at the deadline): 0 or -ETIMEDOUT. */
static int child_end(struct bl_child *ch, uint64_t deadline)
{
	bool killed = false;
	pid_t r;

	if (ch->pid < 0)
		return 0;
	proc_close_fd(&ch->in_fd);
	while (child_pump(ch, deadline) == 0)
		;
	for (;;) {
		r = waitpid(ch->pid, &ch->status, WNOHANG);
		if (r == ch->pid || (r < 0 && errno != EINTR))
			break;
		if (r == 0 && !killed && bench_now_ns() >= deadline) {
			if (kill(ch->pid, SIGKILL) < 0 && errno != ESRCH)
				break;
			killed = true;
		}
		if (r == 0)
			usleep(BL_REAP_POLL_US);
	}
	ch->pid = -1;
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	return killed ? -ETIMEDOUT : 0;
}

static void child_free(struct bl_child *ch)
{
	if (ch->pid > 0 && kill(ch->pid, SIGKILL) == 0)
		(void)child_end(ch, bench_now_ns() + BL_EXIT_TIMEOUT_NS);
	proc_close_fd(&ch->in_fd);
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	free(ch->out.data);
	free(ch->err.data);
}

/* The last non-empty line of its stderr (else stdout). */
static void child_last_line(const struct bl_child *ch, char *buf, size_t len)
{
	proc_last_line(ch->err.len ? ch->err.data : ch->out.data ? ch->out.data : "", buf, len);
}

static void status_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

/* ---- meters, lines, status ------------------------------------------------------ */

/* The number after "key:" in a /proc file; -ENOENT if none. */
static int proc_field(const char *path, const char *key, uint64_t *v)
{
	char line[256];
	size_t klen = strlen(key);
	int ret = -ENOENT;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long x;

		if (!strncmp(line, key, klen) && line[klen] == ':' &&
		    sscanf(line + klen + 1, "%llu", &x) == 1) {
			*v = x;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int meter_read(enum vp_meter m, const struct memcg *cg, pid_t pid, uint64_t *bytes)
{
	uint64_t total = 0, free_pages = 0, page_kb = 0;
	char path[64];
	int ret;

	switch (m) {
	case VP_METER_MEMCG:
		*bytes = memcg_usage(cg);
		return *bytes == UINT64_MAX ? -EIO : 0;
	case VP_METER_RSS:
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
		ret = proc_field(path, "Rss", &total);
		*bytes = total * 1024;
		return ret;
	case VP_METER_HUGETLB:
		ret = proc_field("/proc/meminfo", "HugePages_Total", &total);
		if (!ret)
			ret = proc_field("/proc/meminfo", "HugePages_Free", &free_pages);
		if (!ret)
			ret = proc_field("/proc/meminfo", "Hugepagesize", &page_kb);
		*bytes = (total - free_pages) * page_kb * 1024;
		return ret;
	}
	return -EINVAL;
}

/* The number after " key=" in line. */
static bool field_u64(const char *line, const char *key, uint64_t *v)
{
	char pat[48];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	errno = 0;
	*v = strtoull(p, &end, 10);
	return end != p && !errno;
}

/* The step's ms: us= (memvmm tells the guest its TSC rate), else cycles= over the host's. */
static double guest_ms(const char *line)
{
	uint64_t v;

	if (field_u64(line, "us", &v))
		return (double)v / 1000.0;
	if (field_u64(line, "cycles", &v))
		return (double)v / vp_host_tsc_khz();
	return NAN;
}

static bool json_num(json_object *o, const char *key, double *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) ||
	    !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
		return false;
	*v = json_object_get_double(x);
	return true;
}

/* memvmm's status balloon object: inflated (bytes), given_back, discard_ms, populate_ms. */
static int memvmm_balloon(const char *sock, double *inflated, double *given, double *discard_ms,
			  double *populate_ms, char *why, size_t len)
{
	json_object *root = NULL, *b, *ok;
	char *reply = NULL;
	int ret = control_request(sock, "status", 0, NULL, NULL, BL_CTL_TIMEOUT_MS, &reply);

	if (ret) {
		snprintf(why, len, "memvmm ctl status: %s", strerror(-ret));
		return ret;
	}
	root = json_tokener_parse(reply);
	ret = -EPROTO;
	if (!root || !json_object_object_get_ex(root, "ok", &ok) || !json_object_get_boolean(ok)) {
		snprintf(why, len, "memvmm status: %.150s", reply);
		goto out;
	}
	if (!json_object_object_get_ex(root, "balloon", &b) || !json_num(b, "inflated", inflated) ||
	    !json_num(b, "given_back", given) || !json_num(b, "discard_ms", discard_ms) ||
	    !json_num(b, "populate_ms", populate_ms)) {
		snprintf(why, len, "memvmm status: no balloon inflated, given_back, discard_ms, "
			 "populate_ms");
		goto out;
	}
	ret = 0;
out:
	json_object_put(root);
	free(reply);
	return ret;
}

/* ---- one run ------------------------------------------------------------------------ */

struct bl_run_state {
	struct bl_guest_run *g;
	struct bl_child ch;
	struct memcg cg;
	uint64_t deadline;
	char line[512];
};

static int bl_meter(struct bl_run_state *s, uint64_t *bytes)
{
	int ret = meter_read(s->g->meter, &s->cg, s->ch.pid, bytes);

	if (ret)
		snprintf(s->g->why, sizeof(s->g->why), "reading the host meter (%s): %s",
			 vp_meter_name(s->g->meter), strerror(-ret));
	return ret;
}

/* Wait for the guest's line of this step (after a byte when send_first). */
static int bl_step(struct bl_run_state *s, const char *prefix, bool send_first)
{
	int ret = send_first ? child_send(&s->ch) : 0;
	char last[160], st[48] = "";

	if (!ret)
		ret = child_wait_line(&s->ch, prefix, s->deadline, s->line, sizeof(s->line));
	if (!ret)
		return 0;
	if (ret == -EPROTO) {
		snprintf(s->g->why, sizeof(s->g->why), "%.190s", s->line);
		return ret;
	}
	if (ret == -EPIPE) {
		(void)child_end(&s->ch, bench_now_ns() + BL_EXIT_TIMEOUT_NS);
		status_text(s->ch.status, st, sizeof(st));
	}
	child_last_line(&s->ch, last, sizeof(last));
	snprintf(s->g->why, sizeof(s->g->why), "no '%s' line (%s)%s%.100s",
		 prefix + strlen(BL_GUEST_PREFIX), ret == -ETIMEDOUT ? "timed out" :
		 ret == -EPIPE ? st : strerror(-ret), last[0] ? ": " : "", last);
	return ret;
}

/* The step's bytes= is the size and the balloon holds want pages. */
static int bl_check(struct bl_run_state *s, const char *step, uint64_t want_inflated)
{
	uint64_t bytes = 0, inflated = UINT64_MAX, bad = 0;

	if (!field_u64(s->line, "bytes", &bytes) || bytes != s->g->size ||
	    !field_u64(s->line, "inflated", &inflated) || inflated != want_inflated ||
	    (field_u64(s->line, "bad", &bad) && bad)) {
		snprintf(s->g->why, sizeof(s->g->why), "%s: %.160s", step, s->line);
		return -EIO;
	}
	return 0;
}

/* The child ended before the guest started: its own refusal, or a failure. */
static int bl_refused(struct bl_run_state *s)
{
	char last[160], st[48];

	(void)child_end(&s->ch, s->deadline);
	child_last_line(&s->ch, last, sizeof(last));
	status_text(s->ch.status, st, sizeof(st));
	if (WIFEXITED(s->ch.status) && WEXITSTATUS(s->ch.status) == BL_CHILD_CGROUP_EXIT) {
		snprintf(s->g->why, sizeof(s->g->why), "could not join the memory cgroup");
		return -EIO;
	}
	if (WIFEXITED(s->ch.status) && (WEXITSTATUS(s->ch.status) == 1 ||
					WEXITSTATUS(s->ch.status) == 2)) {
		snprintf(s->g->why, sizeof(s->g->why), "%.190s", last[0] ? last : st);
		return -EOPNOTSUPP;
	}
	snprintf(s->g->why, sizeof(s->g->why), "%s before the guest started: %.100s", st, last);
	return -EIO;
}

static int bl_drive(struct bl_run_state *s)
{
	struct bl_guest_run *g = s->g;
	uint64_t before, inflated, deflated;
	double dev_inflated = NAN, given = NAN, discard = NAN, populate = NAN;
	char st[48], last[120];
	int ret;

	ret = bl_step(s, BL_GUEST_PREFIX "start ", false);
	if (ret == -EPIPE)
		return bl_refused(s);
	if (ret || (ret = bl_step(s, BL_GUEST_PREFIX "touch ", false)) || (ret = bl_meter(s, &before)))
		return ret;
	g->val[BL_HOST_BEFORE_MIB] = (double)before / BL_MIB;

	if ((ret = bl_step(s, BL_GUEST_PREFIX "balloon-inflate ", true)) ||
	    (ret = bl_check(s, "balloon-inflate", g->size / BL_PAGE_BYTES)) ||
	    (ret = bl_meter(s, &inflated)))
		return ret;
	g->val[BL_INFLATE_MS] = guest_ms(s->line);
	if (!field_u64(s->line, "chains", &g->chains))
		g->chains = 0;
	g->val[BL_HOST_RETURNED_MIB] = ((double)before - (double)inflated) / BL_MIB;
	if (g->sock) {
		ret = memvmm_balloon(g->sock, &dev_inflated, &given, &discard, &populate, g->why,
				     sizeof(g->why));
		if (ret)
			return ret;
		if (dev_inflated != (double)g->size) {
			snprintf(g->why, sizeof(g->why), "memvmm status: inflated %.0f, want %llu",
				 dev_inflated, (unsigned long long)g->size);
			return -EIO;
		}
		g->val[BL_DEV_GIVEN_MIB] = given / BL_MIB;
		g->val[BL_DEV_DISCARD_MS] = discard;
	}

	if ((ret = bl_step(s, BL_GUEST_PREFIX "balloon-deflate ", true)) ||
	    (ret = bl_check(s, "balloon-deflate", 0)) || (ret = bl_meter(s, &deflated)))
		return ret;
	g->val[BL_DEFLATE_MS] = guest_ms(s->line);
	g->val[BL_HOST_REGAINED_MIB] = ((double)deflated - (double)inflated) / BL_MIB;
	if (g->sock) {
		ret = memvmm_balloon(g->sock, &dev_inflated, &given, &discard, &populate, g->why,
				     sizeof(g->why));
		if (ret)
			return ret;
		g->val[BL_DEV_POPULATE_MS] = populate;
	}

	/* The last read=1, then the guest ends. */
	if ((ret = child_send(&s->ch))) {
		snprintf(g->why, sizeof(g->why), "writing to the guest's console: %s",
			 strerror(-ret));
		return ret;
	}
	ret = child_end(&s->ch, bench_now_ns() + BL_EXIT_TIMEOUT_NS);
	status_text(s->ch.status, st, sizeof(st));
	if (ret || !WIFEXITED(s->ch.status) || WEXITSTATUS(s->ch.status) != g->exit_status) {
		child_last_line(&s->ch, last, sizeof(last));
		snprintf(g->why, sizeof(g->why), "at the end: %s (want exit status %d): %.100s",
			 ret ? "timed out, killed" : st, g->exit_status, last);
		return ret ? ret : -EIO;
	}
	if (isnan(g->val[BL_INFLATE_MS]) || isnan(g->val[BL_DEFLATE_MS])) {
		snprintf(g->why, sizeof(g->why), "a balloon step's line has neither us= nor cycles=");
		return -EPROTO;
	}
	return 0;
}

int bl_guest_run(struct bl_guest_run *g)
{
	struct bl_run_state s = { .g = g, .ch = { .pid = -1, .in_fd = -1, .out_fd = -1,
						  .err_fd = -1 } };
	char procs[600];
	bool cg = false;
	int ret;

	for (unsigned int k = 0; k < BL_NVALS; k++)
		g->val[k] = NAN;
	g->why[0] = '\0';
	g->chains = 0;
	s.deadline = bench_now_ns() + BL_RUN_TIMEOUT_NS;
	if (g->meter == VP_METER_MEMCG) {
		if (!memcg_create(&s.cg, 0, false)) {
			snprintf(g->why, sizeof(g->why), "cannot create a memory cgroup: %.160s",
				 s.cg.why);
			return -EIO;
		}
		cg = true;
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", s.cg.path);
	}
	ret = child_start(&s.ch, g->argv, cg ? procs : NULL);
	if (ret)
		snprintf(g->why, sizeof(g->why), "starting %.160s: %s", g->argv[0], strerror(-ret));
	else
		ret = bl_drive(&s);
	child_free(&s.ch);
	if (cg)
		memcg_destroy(&s.cg);
	return ret;
}
