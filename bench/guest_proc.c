// SPDX-License-Identifier: MIT
/*
 * The test guest under memvmm or QEMU as a child process (guest_proc.h):
 * vmem-plug's and balloon's guest runs.
 */
#include "bench/guest_proc.h"

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
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench/stats.h"
#include "vmm/control.h"

#define GUEST_TSC_CALIBRATE_NS 50000000ull
#define GUEST_REAP_POLL_US     10000
#define GUEST_CTL_TIMEOUT_MS   10000

/* ---- the child ------------------------------------------------------------------ */

/*
 * Start argv[0] with stdin, stdout and stderr on pipes; with procs set the
 * child first moves itself into that cgroup.procs file.
 */
static int child_start(struct guest_child *ch, char *const argv[], const char *procs)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ret = 0;

	*ch = (struct guest_child){ .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	signal(SIGPIPE, SIG_IGN);      /* a child that exits early must not kill us */
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
				_exit(GUEST_CHILD_CGROUP_EXIT);
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
static int child_pump(struct guest_child *ch, uint64_t deadline)
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
 * The next complete stdout line starting with prefix, into line (earlier
 * lines are passed over). -EPROTO with the guest's error line in line when
 * that comes first, -EPIPE when the child's output ends first, -ETIMEDOUT.
 */
static int child_wait_line(struct guest_child *ch, const char *prefix, uint64_t deadline,
			   char *line, size_t len)
{
	size_t plen = strlen(prefix), elen = strlen(GUEST_LINE_ERROR);
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
			    (n >= elen && !memcmp(p, GUEST_LINE_ERROR, elen))) {
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

/* One byte to the guest's console: its read=1 step goes on. */
static int child_send(struct guest_child *ch)
{
	ssize_t n;

	do {
		n = write(ch->in_fd, "x", 1);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

/*
 * Read the rest of the output and reap the child, killing it (SIGKILL) at
 * the deadline: 0, or -ETIMEDOUT when it had to be killed.
 */
static int child_end(struct guest_child *ch, uint64_t deadline)
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
			usleep(GUEST_REAP_POLL_US);
	}
	ch->pid = -1;
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	return killed ? -ETIMEDOUT : 0;
}

static void child_free(struct guest_child *ch)
{
	if (ch->pid > 0 && kill(ch->pid, SIGKILL) == 0)
		(void)child_end(ch, bench_now_ns() + GUEST_EXIT_TIMEOUT_NS);
	proc_close_fd(&ch->in_fd);
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	free(ch->out.data);
	free(ch->err.data);
}

/* The last non-empty line of the child's stderr (else stdout). */
static void child_last_line(const struct guest_child *ch, char *buf, size_t len)
{
	const char *text = ch->err.len ? ch->err.data : ch->out.data, *last = "";

	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');

		if (*p != '\n' && *p != '\r')
			last = p;
		p = nl ? nl + 1 : NULL;
	}
	snprintf(buf, len, "%.*s", (int)strcspn(last, "\r\n"), last);
}

/* "exit status N" or "killed by signal N". */
static void status_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

/* ---- meters ------------------------------------------------------------------- */

const char *guest_meter_name(enum guest_meter m)
{
	static char memcg_name[64];

	switch (m) {
	case GUEST_METER_MEMCG:
		snprintf(memcg_name, sizeof(memcg_name), "%s",
			 memcg_version(NULL, 0) == MEMCG_V1 ? "memcg v1 memory.usage_in_bytes" :
			 "memcg v2 memory.current");
		return memcg_name;
	case GUEST_METER_RSS:
		return "Rss of /proc/PID/smaps_rollup (fd memory the process has not mapped "
		       "is missed)";
	case GUEST_METER_HUGETLB:
		return "huge pages in use (/proc/meminfo HugePages_Total - HugePages_Free)";
	}
	return "?";
}

enum guest_meter guest_meter_choose(char *why, size_t len)
{
	struct memcg cg;

	if (memcg_create(&cg, 0, false)) {
		memcg_destroy(&cg);
		return GUEST_METER_MEMCG;
	}
	snprintf(why, len, "%s", cg.why);
	return GUEST_METER_RSS;
}

/* The number after "key:" in a /proc file (kB lines or counts); -ENOENT if none. */
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

static int meter_read(enum guest_meter m, const struct memcg *cg, pid_t pid, uint64_t *bytes)
{
	uint64_t total = 0, free_pages = 0, page_kb = 0;
	char path[64];
	int ret;

	switch (m) {
	case GUEST_METER_MEMCG:
		*bytes = memcg_usage(cg);
		return *bytes == UINT64_MAX ? -EIO : 0;
	case GUEST_METER_RSS:
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
		ret = proc_field(path, "Rss", &total);
		*bytes = total * 1024;
		return ret;
	case GUEST_METER_HUGETLB:
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

double guest_tsc_khz(void)
{
	static double khz;
	struct timespec ts = { .tv_nsec = (long)GUEST_TSC_CALIBRATE_NS };
	uint64_t t0, c0;

	if (khz > 0)
		return khz;
	t0 = bench_now_ns();
	c0 = __rdtsc();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	khz = (double)(__rdtsc() - c0) / ((double)(bench_now_ns() - t0) / 1e6);
	return khz;
}


/* ---- the guest's lines ---------------------------------------------------------- */

bool guest_line_u64(const char *line, const char *key, uint64_t *v)
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

double guest_line_ms_of(const char *line, const char *name)
{
	char key[40];
	uint64_t v;

	snprintf(key, sizeof(key), "%s%sus", name, *name ? "_" : "");
	if (guest_line_u64(line, key, &v))
		return (double)v / 1000.0;
	snprintf(key, sizeof(key), "%s%scycles", name, *name ? "_" : "");
	if (guest_line_u64(line, key, &v))
		return (double)v / guest_tsc_khz();
	return NAN;
}

double guest_line_ms(const char *line)
{
	return guest_line_ms_of(line, "");
}

bool guest_json_num(struct json_object *o, const char *key, double *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) ||
	    !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
		return false;
	*v = json_object_get_double(x);
	return true;
}

int guest_memvmm_status(const char *sock, struct json_object **root, char *why, size_t len)
{
	json_object *ok;
	char *reply = NULL;
	int ret = control_request(sock, "status", 0, NULL, NULL, GUEST_CTL_TIMEOUT_MS, &reply);

	*root = NULL;
	if (ret) {
		snprintf(why, len, "memvmm ctl status: %s", strerror(-ret));
		return ret;
	}
	*root = json_tokener_parse(reply);
	if (!*root || !json_object_object_get_ex(*root, "ok", &ok) ||
	    !json_object_get_boolean(ok)) {
		snprintf(why, len, "memvmm status: %.150s", reply);
		json_object_put(*root);
		*root = NULL;
		ret = -EPROTO;
	}
	free(reply);
	return ret;
}

/* ---- one run -------------------------------------------------------------------- */

int guest_run_start(struct guest_run *r, char *const argv[], enum guest_meter meter,
		    uint64_t timeout_ns, char *why, size_t why_len)
{
	char procs[600];
	int ret;

	*r = (struct guest_run){
		.ch = { .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 },
		.meter = meter, .why = why, .why_len = why_len,
	};
	r->deadline = bench_now_ns() + timeout_ns;
	if (meter == GUEST_METER_MEMCG) {
		if (!memcg_create(&r->cg, 0, false)) {
			snprintf(why, why_len, "cannot create a memory cgroup: %.160s", r->cg.why);
			return -EIO;
		}
		r->cg_made = true;
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", r->cg.path);
	}
	ret = child_start(&r->ch, argv, r->cg_made ? procs : NULL);
	if (ret)
		snprintf(why, why_len, "starting %.160s: %s", argv[0], strerror(-ret));
	return ret;
}

void guest_run_free(struct guest_run *r)
{
	child_free(&r->ch);
	if (r->cg_made)
		memcg_destroy(&r->cg);
	r->cg_made = false;
}

int guest_run_step(struct guest_run *r, const char *prefix, bool send_first)
{
	int ret = send_first ? child_send(&r->ch) : 0;
	char last[160], st[48] = "";

	if (!ret)
		ret = child_wait_line(&r->ch, prefix, r->deadline, r->line, sizeof(r->line));
	if (!ret)
		return 0;
	if (ret == -EPROTO) {
		snprintf(r->why, r->why_len, "%.190s", r->line);
		return ret;
	}
	if (ret == -EPIPE) {
		/* It ended: say how. */
		(void)child_end(&r->ch, bench_now_ns() + GUEST_EXIT_TIMEOUT_NS);
		status_text(r->ch.status, st, sizeof(st));
	}
	child_last_line(&r->ch, last, sizeof(last));
	snprintf(r->why, r->why_len, "no '%s' line (%s)%s%.100s",
		 prefix + strlen(GUEST_LINE_PREFIX), ret == -ETIMEDOUT ? "timed out" :
		 ret == -EPIPE ? st : strerror(-ret), last[0] ? ": " : "", last);
	return ret;
}

int guest_run_refused(struct guest_run *r)
{
	char last[160], st[48];

	(void)child_end(&r->ch, r->deadline);
	child_last_line(&r->ch, last, sizeof(last));
	status_text(r->ch.status, st, sizeof(st));
	if (WIFEXITED(r->ch.status) && WEXITSTATUS(r->ch.status) == GUEST_CHILD_CGROUP_EXIT) {
		snprintf(r->why, r->why_len, "could not join the memory cgroup");
		return -EIO;
	}
	/* memvmm: 1 (VMM error) or 2 (bad input); QEMU: 1. */
	if (WIFEXITED(r->ch.status) && (WEXITSTATUS(r->ch.status) == 1 ||
					WEXITSTATUS(r->ch.status) == 2)) {
		snprintf(r->why, r->why_len, "%.190s", last[0] ? last : st);
		return -EOPNOTSUPP;
	}
	snprintf(r->why, r->why_len, "%s before the guest started: %.100s", st, last);
	return -EIO;
}

int guest_run_meter(struct guest_run *r, uint64_t *bytes)
{
	int ret = meter_read(r->meter, &r->cg, r->ch.pid, bytes);

	if (ret)
		snprintf(r->why, r->why_len, "reading the host meter (%s): %s",
			 guest_meter_name(r->meter), strerror(-ret));
	return ret;
}

int guest_run_finish(struct guest_run *r, int exit_status)
{
	char st[48], last[120];
	int ret = child_send(&r->ch);

	if (ret) {
		snprintf(r->why, r->why_len, "writing to the guest's console: %s", strerror(-ret));
		return ret;
	}
	ret = child_end(&r->ch, bench_now_ns() + GUEST_EXIT_TIMEOUT_NS);
	status_text(r->ch.status, st, sizeof(st));
	if (ret || !WIFEXITED(r->ch.status) || WEXITSTATUS(r->ch.status) != exit_status) {
		child_last_line(&r->ch, last, sizeof(last));
		snprintf(r->why, r->why_len, "at the end: %s (want exit status %d): %.100s",
			 ret ? "timed out, killed" : st, exit_status, last);
		return ret ? ret : -EIO;
	}
	return 0;
}
