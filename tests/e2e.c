// SPDX-License-Identifier: MIT
#include "tests/e2e.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "tests/hugepages.h"
#include "tests/test.h"

#define GMEM_TRIAL_BYTES (2ull << 20)
#define HUGE_PAGE_BYTES  (2ull << 20)

const char *e2e_memvmm(void)
{
	const char *p = getenv("MEMVMM");

	TEST_ASSERT(p && *p, "MEMVMM is not set (run through meson test)");
	return p;
}

void e2e_require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR);

	TEST_REQUIRE(fd >= 0, "/dev/kvm cannot be opened on this host");
	close(fd);
}

int e2e_gmem_trial(uint64_t flags)
{
	struct kvm_create_guest_memfd args = { .size = GMEM_TRIAL_BYTES, .flags = flags };
	int kvm, vm, fd, ret = 0;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		ret = -errno;
		goto out_kvm;
	}
	fd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
	if (fd < 0)
		ret = -errno;
	else
		close(fd);
	close(vm);
out_kvm:
	close(kvm);
	return ret;
}

void e2e_require_backend(const struct mem_backend_ops *b)
{
	e2e_require_kvm();
	if (b == &mem_backend_guest_memfd)
		TEST_REQUIRE(e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED) == 0,
			     "guest_memfd with MMAP|INIT_SHARED is not available on this host");
}

void e2e_meter_setup(struct e2e_meter *m, const struct mem_backend_ops *b, uint64_t huge_pages)
{
	char why[160];

	if (!b->memcg_charged) {
		m->kind = E2E_METER_HUGETLB;
		TEST_REQUIRE(hugepages_save(), "cannot read /proc/sys/vm/nr_hugepages");
		snprintf(why, sizeof(why), "cannot make %llu 2 MiB huge pages free (nr_hugepages "
			 "not writable, or the host lacks the memory)", (unsigned long long)huge_pages);
		TEST_REQUIRE(hugepages_reserve(huge_pages), why);
		return;
	}
	m->kind = E2E_METER_MEMCG;
	TEST_REQUIRE(memcg_create(&m->cg, 0, false), m->cg.why);
}

static uint64_t meminfo(const char *k)
{
	char line[128], want[64];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/meminfo", "re");
	bool found = false;

	TEST_ASSERT(f, "/proc/meminfo");
	snprintf(want, sizeof(want), "%s: %%llu", k);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, want, &v) == 1;
	fclose(f);
	TEST_ASSERT(found, "no %s in /proc/meminfo", k);
	return v;
}

uint64_t e2e_meter_read(const struct e2e_meter *m)
{
	uint64_t v;

	if (m->kind == E2E_METER_HUGETLB)
		return (meminfo("HugePages_Total") - meminfo("HugePages_Free")) * HUGE_PAGE_BYTES;
	v = memcg_usage(&m->cg);
	TEST_ASSERT(v != UINT64_MAX, "reading %s", m->cg.path);
	return v;
}

const char *e2e_meter_name(const struct e2e_meter *m)
{
	return m->kind == E2E_METER_HUGETLB ? "hugetlb pool in use" : "memory cgroup usage";
}

void e2e_meter_teardown(struct e2e_meter *m)
{
	if (m->kind == E2E_METER_MEMCG)
		memcg_destroy(&m->cg);
	else
		hugepages_restore();
}

static const struct e2e_case *case_find(const struct e2e_case *cases, size_t n,
					const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	return NULL;
}

/* Meson's list (names) against the binary's table: same names, none twice. */
static int case_list_check(char **names, size_t nnames, const struct e2e_case *cases, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < nnames; i++) {
		if (!case_find(cases, n, names[i])) {
			fprintf(stderr, "tests/meson.build registers '%s', the binary has no such case\n",
				names[i]);
			bad = 1;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j])) {
				fprintf(stderr, "tests/meson.build registers '%s' twice\n", names[i]);
				bad = 1;
			}
	}
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < nnames && strcmp(cases[i].name, names[j]); j++)
			;
		if (j == nnames) {
			fprintf(stderr, "case '%s' is not registered in tests/meson.build: it never runs\n",
				cases[i].name);
			bad = 1;
		}
		if (case_find(cases, i, cases[i].name)) {
			fprintf(stderr, "case '%s' is in the table twice\n", cases[i].name);
			bad = 1;
		}
	}
	if (!bad)
		printf("ok - Meson registers exactly the binary's %zu cases\n", n);
	return bad;
}

int e2e_case_main(int argc, char **argv, const struct e2e_case *cases, size_t n)
{
	const struct e2e_case *c = NULL;
	int status;
	pid_t pid;

	if (argc >= 2 && !strcmp(argv[1], "--cases"))
		return case_list_check(argv + 2, (size_t)(argc - 2), cases, n);
	if (argc == 2)
		c = case_find(cases, n, argv[1]);
	if (!c) {
		fprintf(stderr, "usage: %s CASE | --cases NAME...\ncases:", argv[0]);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %s", cases[i].name);
		fputc('\n', stderr);
		return 1;
	}
	/*
	 * In a child, so that what the parent set up to put back at exit (the
	 * huge page pool: hugepages_save()) is put back even after a crash.
	 */
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		c->fn(c->arg);
		exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "case %s: killed by signal %d (%s)\n", c->name, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
		return 1;
	}
	if (WEXITSTATUS(status) == 0)
		printf("ok - case %s\n", c->name);
	return WEXITSTATUS(status);
}

struct buf {
	char *data;
	size_t len, cap;
};

static bool buf_read(struct buf *b, int fd)
{
	ssize_t n;

	if (b->cap - b->len < 4096) {
		b->cap = b->cap * 2 + 8192;
		b->data = realloc(b->data, b->cap);
		TEST_ASSERT(b->data, "realloc");
		b->data[b->len] = '\0';
	}
	n = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (n <= 0)
		return false;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void e2e_run(const char *const *args, const struct e2e_opts *o, struct e2e_result *r)
{
	static const struct e2e_opts none;
	int out[2], err[2], in[2], status, nargs = 0;
	struct buf ob = { 0 }, eb = { 0 };
	const char *argv[64];
	bool out_open = true, err_open = true, signalled = false;
	double start, deadline;
	pid_t pid;

	if (!o)
		o = &none;
	/*
	 * With fd 0-2 closed (CI runs without stdin) pipe() would hand out those
	 * numbers and the dup2() dance below would close what it set up.
	 */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			TEST_ASSERT(open("/dev/null", O_RDWR) == fd, "parking /dev/null on fd %d", fd);
	}
	start = now_s();
	deadline = start + (o->timeout_s ? o->timeout_s : E2E_TIMEOUT_S);
	argv[nargs++] = e2e_memvmm();
	while (*args && nargs < 63)
		argv[nargs++] = *args++;
	argv[nargs] = NULL;
	TEST_ASSERT(pipe(out) == 0 && pipe(err) == 0 && pipe(in) == 0, "pipe");
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(o->stdin_data ? in[0] : devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (o->nonblock_stdout)
			fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
		close(in[1]);
		close(out[0]);
		close(err[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (o->stdin_data) {
		signal(SIGPIPE, SIG_IGN);
		TEST_ASSERT(write(in[1], o->stdin_data, strlen(o->stdin_data)) >= 0, "stdin");
	}
	close(in[1]);
	if (o->started)
		o->started(pid, o->hook_arg);
	while (out_open || err_open) {
		double now = now_s(), left = deadline - now;
		bool read_out = out_open && !o->stall_stdout &&
				(now - start) * 1000 >= o->read_delay_ms;
		struct pollfd p[2] = {
			{ .fd = read_out ? out[0] : -1, .events = POLLIN },
			{ .fd = err_open ? err[0] : -1, .events = POLLIN },
		};
		bool due = !signalled &&
			   ((o->signal_when && ob.data && strstr(ob.data, o->signal_when)) ||
			    (o->signal_after_ms && (now - start) * 1000 >= o->signal_after_ms));

		if (due) {
			if (o->when)
				o->when(pid, o->hook_arg);
			kill(pid, o->sig);
			if (o->sig2)
				kill(pid, o->sig2);
			signalled = true;
		}
		if (left <= 0) {
			kill(pid, SIGKILL);
			fprintf(stderr, "e2e: memvmm timed out, killed\n");
			break;
		}
		/* Wake often enough for the timed parts (signal, read delay). */
		if (poll(p, 2, left < 0.05 ? (int)(left * 1000) + 1 : 50) <= 0)
			continue;
		if (p[0].revents)
			out_open = buf_read(&ob, out[0]);
		if (p[1].revents)
			err_open = buf_read(&eb, err[0]);
		/* stderr closed: memvmm has exited (its stdout may be stalled). */
		if (!err_open && o->stall_stdout)
			break;
	}
	close(out[0]);
	close(err[0]);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	r->signaled = WIFSIGNALED(status);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->seconds = now_s() - start;
	r->out = ob.data ? ob.data : strdup("");
	r->err = eb.data ? eb.data : strdup("");
}

void e2e_free(struct e2e_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

const char *e2e_guest_line(const struct e2e_result *r, const char *step)
{
	static char line[1024];
	char prefix[128];
	const char *p, *end;
	size_t n;

	snprintf(prefix, sizeof(prefix), "memvmm-guest: %s ", step);
	for (p = r->out; (p = strstr(p, prefix)); p++) {
		if (p != r->out && p[-1] != '\n')
			continue;
		end = strchr(p, '\n');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		return line;
	}
	return NULL;
}

bool e2e_key_u64(const char *line, const char *key, uint64_t *val)
{
	char pat[64];
	const char *p;
	char *end;

	if (!line)
		return false;
	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	*val = strtoull(p, &end, 0);
	return end != p && (*end == ' ' || *end == '\0');
}

uint64_t e2e_key(const char *line, const char *key)
{
	uint64_t v = 0;

	TEST_ASSERT(line && e2e_key_u64(line, key, &v), "no %s= in '%s'", key,
		    line ? line : "(none)");
	return v;
}
