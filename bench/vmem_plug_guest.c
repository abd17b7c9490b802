// SPDX-License-Identifier: MIT
/*
 * vmem-plug's guest runs: start memvmm or QEMU with the test guest, wait
 * for each of the guest's report lines, read the host's meter (and
 * memvmm's status) while the guest waits in its read=1 step, then let it
 * go on with one byte on its console.
 */
#include "bench/vmem_plug.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "tests/memcg.h"
#include "vmm/control.h"

#define VP_RUN_TIMEOUT_NS     (300ull * 1000000000ull)  /* one whole run */
#define VP_EXIT_TIMEOUT_NS    (30ull * 1000000000ull)   /* after the last byte */
#define VP_CTL_TIMEOUT_MS     10000
#define VP_TSC_CALIBRATE_NS   50000000ull
#define VP_REAP_POLL_US       10000
#define VP_CHILD_CGROUP_EXIT  126          /* the child could not join the cgroup */
#define VP_MIB                (1024.0 * 1024.0)
#define VP_GUEST_PREFIX       "memvmm-guest: "
#define VP_GUEST_ERROR        "memvmm-guest: error "

struct vp_child {
	pid_t pid;                 /* -1 once reaped */
	int in_fd, out_fd, err_fd;
	struct proc_buf out, err;
	size_t scan;               /* stdout: the first line not yet looked at */
	int status;                /* waitpid() status once reaped */
};

/*
 * Start argv[0] with stdin, stdout and stderr on pipes; with procs set the
 * child first moves itself into that cgroup.procs file.
 */
static int child_start(struct vp_child *ch, char *const argv[], const char *procs)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ret = 0;

	*ch = (struct vp_child){ .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
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
				_exit(VP_CHILD_CGROUP_EXIT);
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
static int child_pump(struct vp_child *ch, uint64_t deadline)
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
static int child_wait_line(struct vp_child *ch, const char *prefix, uint64_t deadline,
			   char *line, size_t len)
{
	size_t plen = strlen(prefix), elen = strlen(VP_GUEST_ERROR);
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
			    (n >= elen && !memcmp(p, VP_GUEST_ERROR, elen))) {
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
static int child_send(struct vp_child *ch)
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
static int child_end(struct vp_child *ch, uint64_t deadline)
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
			usleep(VP_REAP_POLL_US);
	}
	ch->pid = -1;
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	return killed ? -ETIMEDOUT : 0;
}

static void child_free(struct vp_child *ch)
{
	if (ch->pid > 0 && kill(ch->pid, SIGKILL) == 0)
		(void)child_end(ch, bench_now_ns() + VP_EXIT_TIMEOUT_NS);
	proc_close_fd(&ch->in_fd);
	proc_close_fd(&ch->out_fd);
	proc_close_fd(&ch->err_fd);
	free(ch->out.data);
	free(ch->err.data);
}

/* The last non-empty line of the child's stderr (else stdout). */
static void child_last_line(const struct vp_child *ch, char *buf, size_t len)
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

/* ---- meters -------------------------------------------------------------- */

const char *vp_meter_name(enum vp_meter m)
{
	static char memcg_name[64];

	switch (m) {
	case VP_METER_MEMCG:
		snprintf(memcg_name, sizeof(memcg_name), "%s",
			 memcg_version(NULL, 0) == MEMCG_V1 ? "memcg v1 memory.usage_in_bytes" :
			 "memcg v2 memory.current");
		return memcg_name;
	case VP_METER_RSS:
		return "Rss of /proc/PID/smaps_rollup (fd memory the process has not mapped "
		       "is missed)";
	case VP_METER_HUGETLB:
		return "huge pages in use (/proc/meminfo HugePages_Total - HugePages_Free)";
	}
	return "?";
}

enum vp_meter vp_meter_choose(char *why, size_t len)
{
	struct memcg cg;

	if (memcg_create(&cg, 0, false)) {
		memcg_destroy(&cg);
		return VP_METER_MEMCG;
	}
	snprintf(why, len, "%s", cg.why);
	return VP_METER_RSS;
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

static int meter_read(enum vp_meter m, const struct memcg *cg, pid_t pid, uint64_t *bytes)
{
	uint64_t total, free_pages, page_kb;
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

double vp_host_tsc_khz(void)
{
	static double khz;
	struct timespec ts = { .tv_nsec = (long)VP_TSC_CALIBRATE_NS };
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

/* ---- command lines ------------------------------------------------------------ */

void vp_cmd_add(struct vp_cmd *c, const char *fmt, ...)
{
	size_t room = sizeof(c->buf) - c->used;
	va_list ap;
	int n;

	if (c->truncated || c->argc == VP_CMD_MAX_ARGS) {
		c->truncated = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->buf + c->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		c->truncated = true;
		return;
	}
	c->argv[c->argc++] = c->buf + c->used;
	c->argv[c->argc] = NULL;
	c->used += (size_t)n + 1;
}

void vp_cmd_print(const struct vp_cmd *c, FILE *f)
{
	for (unsigned int i = 0; i < c->argc; i++)
		fprintf(f, strpbrk(c->argv[i], " \t") ? "%s'%s'" : "%s%s", i ? " " : "",
			c->argv[i]);
}

/* "128M", "1G": sizes the way memvmm and QEMU take them. */
static const char *size_arg(uint64_t v, char *buf, size_t len)
{
	bench_fmt_size(v, buf, len);
	return buf;
}

void vp_memvmm_cmd(struct vp_cmd *c, const struct vp_memvmm_spec *m)
{
	char ram[32], sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	size_arg(m->ram, ram, sizeof(ram));
	size_arg(m->size, sz, sizeof(sz));
	vp_cmd_add(c, "%s", m->memvmm);
	vp_cmd_add(c, "run");
	vp_cmd_add(c, "--memory");
	vp_cmd_add(c, "size=%s,backend=%s,populate-threads=%u", ram, m->backend, m->threads);
	vp_cmd_add(c, "--virtio-mem");
	vp_cmd_add(c, "size=%s,requested=%s,block=2M,backend=%s,populate=%s", sz, sz, m->backend,
		   m->populate);
	vp_cmd_add(c, "--api-socket");
	vp_cmd_add(c, "%s", m->sock);
	vp_cmd_add(c, "--cmdline");
	vp_cmd_add(c, "%s", m->cmdline);
}

void vp_qemu_cmd(struct vp_cmd *c, const struct vp_qemu_spec *q)
{
	char ram[32], maxmem[32], sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	size_arg(q->ram, ram, sizeof(ram));
	size_arg(q->ram + q->size, maxmem, sizeof(maxmem));
	size_arg(q->size, sz, sizeof(sz));
	vp_cmd_add(c, "%s", q->qemu);
	vp_cmd_add(c, "-machine");
	vp_cmd_add(c, "pc");
	vp_cmd_add(c, "-accel");
	vp_cmd_add(c, "%s", q->accel);
	vp_cmd_add(c, "-m");
	vp_cmd_add(c, "%s,maxmem=%s", ram, maxmem);
	vp_cmd_add(c, "-vga");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-display");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-no-reboot");
	vp_cmd_add(c, "-monitor");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-serial");
	vp_cmd_add(c, "stdio");
	vp_cmd_add(c, "-device");
	vp_cmd_add(c, "isa-debug-exit,iobase=0x501,iosize=4");
	vp_cmd_add(c, "-kernel");
	vp_cmd_add(c, "%s", q->elf);
	vp_cmd_add(c, "-append");
	vp_cmd_add(c, "%s", q->cmdline);
	vp_cmd_add(c, "-object");
	vp_cmd_add(c, "%s,id=vmem0,size=%s", q->object, sz);
	vp_cmd_add(c, "-device");
	vp_cmd_add(c, "virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=%s,block-size=2M,"
		   "prealloc=%s,unplugged-inaccessible=on", sz, q->prealloc ? "on" : "off");
}

/* ---- the guest's lines and memvmm's status -------------------------------- */

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

/*
 * The step's time in ms: us=N (memvmm tells the guest its TSC rate), or
 * cycles=N (QEMU does not) over the host's TSC rate, which KVM and TCG
 * guests read without scaling. NAN if neither.
 */
static double guest_ms(const char *line)
{
	uint64_t v;

	if (field_u64(line, "us", &v))
		return (double)v / 1000.0;
	if (field_u64(line, "cycles", &v))
		return (double)v / vp_host_tsc_khz();
	return NAN;
}

struct vp_status {
	double plug_ms, unplug_ms;
	double resident;       /* bytes; NAN if memvmm could not measure it */
	uint64_t plugged;
	char used[32];
};

static bool json_u64(json_object *o, const char *key, uint64_t *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
		return false;
	*v = json_object_get_uint64(x);
	return true;
}

static bool json_ms(json_object *o, const char *key, double *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) ||
	    !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
		return false;
	*v = json_object_get_double(x);
	return true;
}

/* memvmm's `status`: its "virtio_mem" object. */
static int memvmm_status(const char *sock, struct vp_status *st, char *why, size_t len)
{
	json_object *root = NULL, *vm, *ok, *used;
	uint64_t resident;
	char *reply = NULL;
	int ret = control_request(sock, "status", 0, NULL, NULL, VP_CTL_TIMEOUT_MS, &reply);

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
	if (!json_object_object_get_ex(root, "virtio_mem", &vm) ||
	    !json_ms(vm, "plug_ms", &st->plug_ms) || !json_ms(vm, "unplug_ms", &st->unplug_ms) ||
	    !json_u64(vm, "plugged", &st->plugged)) {
		snprintf(why, len, "memvmm status: no virtio_mem plug_ms, unplug_ms, plugged");
		goto out;
	}
	/* Absent when memvmm could not measure it ("resident_error"). */
	st->resident = NAN;
	if (json_u64(vm, "resident", &resident))
		st->resident = (double)resident;
	st->used[0] = '\0';
	if (json_object_object_get_ex(vm, "populate_used", &used))
		snprintf(st->used, sizeof(st->used), "%s", json_object_get_string(used));
	ret = 0;
out:
	json_object_put(root);
	free(reply);
	return ret;
}

/* ---- one run --------------------------------------------------------------- */

struct vp_run_state {
	struct vp_guest_run *g;
	struct vp_child ch;
	struct memcg cg;
	uint64_t deadline;
	uint64_t before;
	char line[512];
};

/* Meter now, minus before (in MiB) into val[k]; before itself when k is VP_HOST_BEFORE_MIB. */
static int vp_meter(struct vp_run_state *s, enum vp_val k)
{
	uint64_t bytes;
	int ret = meter_read(s->g->meter, &s->cg, s->ch.pid, &bytes);

	if (ret) {
		snprintf(s->g->why, sizeof(s->g->why), "reading the host meter (%s): %s",
			 vp_meter_name(s->g->meter), strerror(-ret));
		return ret;
	}
	if (k == VP_HOST_BEFORE_MIB)
		s->before = bytes;
	s->g->val[k] = k == VP_HOST_BEFORE_MIB ? (double)bytes / VP_MIB :
		       ((double)bytes - (double)s->before) / VP_MIB;
	return 0;
}

/* Wait for the guest's line of this step; why says what happened instead. */
static int vp_step(struct vp_run_state *s, const char *prefix, bool send_first)
{
	int ret = send_first ? child_send(&s->ch) : 0;
	char last[160], st[48];

	if (!ret)
		ret = child_wait_line(&s->ch, prefix, s->deadline, s->line, sizeof(s->line));
	if (!ret)
		return 0;
	if (ret == -EPROTO) {
		snprintf(s->g->why, sizeof(s->g->why), "%.190s", s->line);
		return ret;
	}
	if (ret == -EPIPE) {
		/* It ended: say how. */
		(void)child_end(&s->ch, bench_now_ns() + VP_EXIT_TIMEOUT_NS);
		status_text(s->ch.status, st, sizeof(st));
	}
	child_last_line(&s->ch, last, sizeof(last));
	snprintf(s->g->why, sizeof(s->g->why), "no '%s' line (%s)%s%.100s",
		 prefix + strlen(VP_GUEST_PREFIX), ret == -ETIMEDOUT ? "timed out" :
		 ret == -EPIPE ? st : strerror(-ret), last[0] ? ": " : "", last);
	return ret;
}

/* The step's bytes= is the size, and no request got NACK/BUSY/ERROR. */
static int vp_check_bytes(struct vp_run_state *s, const char *step)
{
	uint64_t bytes = 0, nack = 0, busy = 0, error = 0;

	if (!field_u64(s->line, "bytes", &bytes) || bytes != s->g->size ||
	    (field_u64(s->line, "nack", &nack) && nack) ||
	    (field_u64(s->line, "busy", &busy) && busy) ||
	    (field_u64(s->line, "error", &error) && error)) {
		snprintf(s->g->why, sizeof(s->g->why), "%s: bytes=%llu of %llu, nack=%llu busy=%llu "
			 "error=%llu", step, (unsigned long long)bytes,
			 (unsigned long long)s->g->size, (unsigned long long)nack,
			 (unsigned long long)busy, (unsigned long long)error);
		return -EIO;
	}
	return 0;
}

/* memvmm's status after a step: plugged must be what the guest says. */
static int vp_status(struct vp_run_state *s, bool after_plug)
{
	struct vp_guest_run *g = s->g;
	struct vp_status st;
	uint64_t want = after_plug ? g->size : 0;
	int ret;

	if (!g->sock)
		return 0;
	ret = memvmm_status(g->sock, &st, g->why, sizeof(g->why));
	if (ret)
		return ret;
	if (st.plugged != want) {
		snprintf(g->why, sizeof(g->why), "memvmm status: plugged %llu after the %s, want %llu",
			 (unsigned long long)st.plugged, after_plug ? "plug" : "unplug",
			 (unsigned long long)want);
		return -EIO;
	}
	if (after_plug) {
		g->val[VP_DEV_PLUG_MS] = st.plug_ms;
		g->val[VP_RES_PLUG_MIB] = st.resident / VP_MIB;
		snprintf(g->note, sizeof(g->note), "%s", st.used);
	} else {
		g->val[VP_DEV_UNPLUG_MS] = st.unplug_ms;
		g->val[VP_RES_UNPLUG_MIB] = st.resident / VP_MIB;
	}
	return 0;
}

/* The child ended before the guest started: its own refusal, or a failure. */
static int vp_refused(struct vp_run_state *s)
{
	char last[160], st[48];

	(void)child_end(&s->ch, s->deadline);
	child_last_line(&s->ch, last, sizeof(last));
	status_text(s->ch.status, st, sizeof(st));
	if (WIFEXITED(s->ch.status) && WEXITSTATUS(s->ch.status) == VP_CHILD_CGROUP_EXIT) {
		snprintf(s->g->why, sizeof(s->g->why), "could not join the memory cgroup");
		return -EIO;
	}
	snprintf(s->g->why, sizeof(s->g->why), "%.190s", last[0] ? last : st);
	/* memvmm: 1 (VMM error) or 2 (bad input); QEMU: 1. */
	if (WIFEXITED(s->ch.status) && (WEXITSTATUS(s->ch.status) == 1 ||
					WEXITSTATUS(s->ch.status) == 2))
		return -EOPNOTSUPP;
	snprintf(s->g->why, sizeof(s->g->why), "%s before the guest started: %.100s", st, last);
	return -EIO;
}

static int vp_drive(struct vp_run_state *s)
{
	struct vp_guest_run *g = s->g;
	char st[48], last[120];
	int ret;

	ret = vp_step(s, VP_GUEST_PREFIX "start ", false);
	if (ret == -EPIPE)
		return vp_refused(s);
	if (ret || (ret = vp_meter(s, VP_HOST_BEFORE_MIB)))
		return ret;

	if ((ret = vp_step(s, VP_GUEST_PREFIX "vmem-plug ", true)))
		return ret;
	g->val[VP_PLUG_MS] = guest_ms(s->line);
	if (!field_u64(s->line, "requests", &g->plug_requests))
		g->plug_requests = 0;
	if ((ret = vp_check_bytes(s, "vmem-plug")) || (ret = vp_meter(s, VP_HOST_PLUG_MIB)) ||
	    (ret = vp_status(s, true)))
		return ret;

	if ((ret = vp_step(s, VP_GUEST_PREFIX "vmem-touch ", true)))
		return ret;
	g->val[VP_TOUCH_MS] = guest_ms(s->line);
	if ((ret = vp_meter(s, VP_HOST_TOUCH_MIB)))
		return ret;

	if ((ret = vp_step(s, VP_GUEST_PREFIX "vmem-unplug ", true)))
		return ret;
	g->val[VP_UNPLUG_MS] = guest_ms(s->line);
	if ((ret = vp_check_bytes(s, "vmem-unplug")) || (ret = vp_meter(s, VP_HOST_UNPLUG_MIB)) ||
	    (ret = vp_status(s, false)))
		return ret;

	/* The last read=1, then the guest ends. */
	if ((ret = child_send(&s->ch))) {
		snprintf(g->why, sizeof(g->why), "writing to the guest's console: %s",
			 strerror(-ret));
		return ret;
	}
	ret = child_end(&s->ch, bench_now_ns() + VP_EXIT_TIMEOUT_NS);
	status_text(s->ch.status, st, sizeof(st));
	if (ret || !WIFEXITED(s->ch.status) || WEXITSTATUS(s->ch.status) != g->exit_status) {
		child_last_line(&s->ch, last, sizeof(last));
		snprintf(g->why, sizeof(g->why), "at the end: %s (want exit status %d): %.100s",
			 ret ? "timed out, killed" : st, g->exit_status, last);
		return ret ? ret : -EIO;
	}
	if (isnan(g->val[VP_PLUG_MS]) || isnan(g->val[VP_TOUCH_MS]) ||
	    isnan(g->val[VP_UNPLUG_MS])) {
		snprintf(g->why, sizeof(g->why), "a vmem step's line has neither us= nor cycles=");
		return -EPROTO;
	}
	return 0;
}

int vp_guest_run(struct vp_guest_run *g)
{
	struct vp_run_state s = { .g = g, .ch = { .pid = -1, .in_fd = -1, .out_fd = -1,
						  .err_fd = -1 } };
	char procs[600];
	bool cg = false;
	int ret;

	for (unsigned int k = 0; k < VP_NVALS; k++)
		g->val[k] = NAN;
	g->note[0] = g->why[0] = '\0';
	s.deadline = bench_now_ns() + VP_RUN_TIMEOUT_NS;
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
		ret = vp_drive(&s);
	child_free(&s.ch);
	if (cg)
		memcg_destroy(&s.cg);
	return ret;
}
