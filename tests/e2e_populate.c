// SPDX-License-Identifier: MIT
/*
 * End to end: memvmm populates guest RAM before the guest runs, with every
 * strategy on every backend, says what it used, refuses what the host cannot
 * do, pre-faults or says why not, stops with exit 1 and a full message when
 * the host runs out of memory (under a memory cgroup limit), refuses up
 * front a guest that cannot fit its memory cgroup, and shows progress on a
 * terminal. One Meson test per case: e2e_populate CASE (see main()).
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/memcg.h"
#include "tests/test.h"

static void run_memory(const char *memory, const char *cmdline, struct e2e_result *r)
{
	const char *args[] = { "run", "--memory", memory, "--cmdline", cmdline, NULL };

	e2e_run(args, NULL, r);
}

/* The strategy memvmm's populate line names for region 0, or NULL. */
static const char *used_strategy(const struct e2e_result *r, const char *backend)
{
	static char used[32];
	char key[96];
	const char *p;

	snprintf(key, sizeof(key), "region 0 (64M at 0x0 on %s) ", backend);
	p = strstr(r->err, key);
	if (!p || sscanf(p + strlen(key), "%31[a-z]", used) != 1)
		return NULL;
	return used;
}

/*
 * One backend with every strategy: the guest touches and verifies 16M;
 * memvmm names the strategy it used, or refuses with exit 1 and the reason.
 * auto must pick the first entry of the backend's decision-table row that
 * worked when asked for explicitly.
 */
static void test_matrix(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	bool worked[MEM_POPULATE_NR] = { false };
	const char *want_auto = "none";

	e2e_require_kvm();
	if (b == &mem_backend_guest_memfd)
		TEST_REQUIRE(!e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED),
			     "this kernel creates no guest_memfd with MMAP|INIT_SHARED");
	if (b == &mem_backend_hugetlb)
		TEST_REQUIRE(hugepages_reserve(40), "cannot make 40 2 MiB huge pages free "
			     "(nr_hugepages not writable, or the host lacks the memory)");
	for (unsigned int s = MEM_POPULATE_NR; s-- > 0;) {
		const char *name = mem_populate_name((enum mem_populate_strategy)s);
		char memory[96];
		struct e2e_result r;
		const char *used;

		snprintf(memory, sizeof(memory), "size=64M,backend=%s,populate=%s", b->name, name);
		if (s == MEM_POPULATE_AUTO) {
			for (unsigned int k = 0; b->populate_order[k] != MEM_POPULATE_NONE; k++) {
				if (worked[b->populate_order[k]]) {
					want_auto = mem_populate_name(b->populate_order[k]);
					break;
				}
			}
		}
		run_memory(memory, "touch=16M verify", &r);
		if (r.status == 1 && strstr(r.err, "is not supported here")) {
			TEST_ASSERT(s != MEM_POPULATE_AUTO && s != MEM_POPULATE_NONE &&
				    s != MEM_POPULATE_MADVISE, "%s: %s refused: %s", b->name,
				    name, r.err);
			TEST_ASSERT(strstr(r.err, b->name) && strstr(r.err, name) &&
				    !e2e_guest_line(&r, "start"),
				    "refusal names backend and strategy, guest never ran: %s",
				    r.err);
			e2e_free(&r);
			printf("ok - %s populate=%s: refused (exit 1, says why)\n", b->name, name);
			continue;
		}
		E2E_EXPECT_STATUS(&r, 0);
		used = used_strategy(&r, b->name);
		TEST_ASSERT(used && !strcmp(used, s == MEM_POPULATE_AUTO ? want_auto : name),
			    "%s populate=%s: memvmm says it used '%s' (want %s): %s", b->name,
			    name, used ? used : "?", s == MEM_POPULATE_AUTO ? want_auto : name,
			    r.err);
		TEST_ASSERT(strstr(e2e_guest_line(&r, "verify") ?: "", "bad=0 "),
			    "guest verify: %s", r.out);
		worked[s] = true;
		e2e_free(&r);
		printf("ok - %s populate=%s: guest touch+verify, memvmm says %s\n", b->name,
		       name, used);
	}
	if (b == &mem_backend_hugetlb)
		hugepages_restore();
}

static unsigned int online_cpus(void)
{
	cpu_set_t set;

	TEST_ASSERT(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity");
	return (unsigned int)CPU_COUNT(&set);
}

static void test_threads(const void *unused)
{
	unsigned int cpus = online_cpus(), want = cpus < 4 ? cpus : 4;
	struct e2e_result r;
	char key[64];

	e2e_require_kvm();
	run_memory("size=256M,backend=memfd,populate=madvise,populate-threads=1", "exit=0", &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.err, "madvise on 1 thread "), "one thread: %s", r.err);
	e2e_free(&r);
	/* min(CPUs, 64, 256M / 64M) */
	run_memory("size=256M,backend=memfd,populate=madvise,populate-threads=64", "exit=0", &r);
	E2E_EXPECT_STATUS(&r, 0);
	snprintf(key, sizeof(key), "madvise on %u thread%s ", want, want == 1 ? "" : "s");
	TEST_ASSERT(strstr(r.err, key), "want '%s': %s", key, r.err);
	e2e_free(&r);
	TEST_PASS("populate-threads: 1, and min(CPUs, N, size/64M)");
}

/* KVM_PRE_FAULT_MEMORY, checked independently: the cap and a trial ioctl. */
static int prefault_errno(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu, ret = 0;
	void *mem = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region slot = {
		.memory_size = 2 << 20, .userspace_addr = (uintptr_t)mem,
	};
	struct kvm_pre_fault_memory pf = { .gpa = 0, .size = 4096 };

	TEST_ASSERT(kvm >= 0 && mem != MAP_FAILED, "open /dev/kvm, mmap");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0 && ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) == 0, "VM and slot");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(vcpu >= 0, "vCPU");
	if (ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &pf) < 0)
		ret = errno;
	close(vcpu);
	close(vm);
	close(kvm);
	munmap(mem, 2 << 20);
	return ret;
}

static void test_prefault(const void *unused)
{
	struct e2e_result r;
	int err;

	e2e_require_kvm();
	err = prefault_errno();
	run_memory("size=64M,prefault=on", "touch=16M verify", &r);
	if (err) {
		char want[64];

		E2E_EXPECT_STATUS(&r, 1);
		snprintf(want, sizeof(want), "not supported (%s", strerrorname_np(err));
		TEST_ASSERT(strstr(r.err, "prefault=on") && strstr(r.err, want) &&
			    !e2e_guest_line(&r, "start"), "want '%s': %s", want, r.err);
		printf("ok - prefault=on where KVM_PRE_FAULT_MEMORY fails with %s: exit 1, "
		       "says so\n", strerrorname_np(err));
	} else {
		E2E_EXPECT_STATUS(&r, 0);
		TEST_ASSERT(strstr(r.err, "pre-fault: 64M in"), "pre-faulted: %s", r.err);
		TEST_PASS("prefault=on: all 64M pre-faulted, guest verified");
	}
	e2e_free(&r);

	run_memory("size=64M", "touch=16M verify", &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(err ? strstr(r.err, "pre-fault: not supported") != NULL :
			  strstr(r.err, "pre-fault: 64M in") != NULL,
		    "prefault=auto reports what happened: %s", r.err);
	e2e_free(&r);
	TEST_PASS("prefault=auto: used when supported, else says why and runs");

	run_memory("size=64M,prefault=off", "touch=16M verify", &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.err, "pre-fault: off"), "off: %s", r.err);
	e2e_free(&r);
	TEST_PASS("prefault=off");
}

#define MEMCG_SMALL_BYTES   (64ull << 20)   /* a limit far below the guest */
#define ENOMEM_GUEST_BYTES  (256ull << 20)  /* size=256M */
#define ENOMEM_LIMIT_BYTES  (384ull << 20)  /* room for the 256M guest and memvmm itself */
#define SQUEEZE_MARGIN_BYTES (16ull << 20)  /* population this close to done: too late */
#define SQUEEZE_START_BYTES (8ull << 20)    /* charged past this: population is under way */
#define SQUEEZE_SLACK_BYTES (1ull << 20)    /* left free in the group after the fill */
#define LEFT_CHARGED_BYTES  (16ull << 20)   /* a group "holds nothing" below this */

/* A memory cgroup with limit and the OOM killer kept out (tests/memcg.h), or skip. */
static void memcg_require(struct memcg *cg, uint64_t limit)
{
#ifdef __SANITIZE_ADDRESS__
	/*
	 * A page fault over the limit waits (v1) or retries (v2) instead of
	 * failing; ASan's shadow memory makes memvmm take such faults, so these
	 * cases cannot finish under ASan.
	 */
	TEST_REQUIRE(false, "not under ASan (its shadow memory faults block in a full memory "
		     "cgroup)");
#endif
	TEST_REQUIRE(memcg_create(cg, limit, true), cg->why);
}

/*
 * Under a memory cgroup limit below the guest, memvmm refuses up front (exit
 * 1, naming the cgroup, the limit and the guest's size) instead of being
 * OOM-killed while populating; populate=none is not refused. The guest never
 * starts and nothing stays charged.
 */
static void test_memcg_refuse(const void *unused)
{
	static const char *const memories[] = {
		"size=256M,backend=memfd,populate=madvise", "size=256M,backend=anon",
		"size=256M,backend=memfd,populate=fallocate",
	};
	struct e2e_opts opts = { .timeout_s = 30 };
	struct e2e_result r;
	struct memcg cg;

	e2e_require_kvm();
	memcg_require(&cg, MEMCG_SMALL_BYTES);
	for (unsigned int i = 0; i < sizeof(memories) / sizeof(memories[0]); i++) {
		const char *args[] = { "run", "--memory", memories[i], "--cmdline", "touch=16M verify",
				       NULL };

		TEST_ASSERT(memcg_enter(&cg), "enter memcg");
		e2e_run(args, &opts, &r);
		TEST_ASSERT(memcg_leave(&cg), "leave memcg");
		E2E_EXPECT_STATUS(&r, 1);
		TEST_ASSERT(strstr(r.err, "cgroup") && strstr(r.err, "64M") && strstr(r.err, "256M"),
			    "%s: message names the cgroup, its 64M limit and the 256M guest: %s",
			    memories[i], r.err);
		TEST_ASSERT(!e2e_guest_line(&r, "start"), "guest must not run: %s", r.out);
		TEST_ASSERT(memcg_usage(&cg) < LEFT_CHARGED_BYTES, "memory left charged: %llu",
			    (unsigned long long)memcg_usage(&cg));
		e2e_free(&r);
		printf("ok - %s under a 64M cgroup v%d limit: refused up front, exit 1\n",
		       memories[i], cg.version);
	}
	{
		const char *args[] = { "run", "--memory", "size=256M,backend=memfd,populate=none",
				       "--cmdline", "touch=16M verify", NULL };

		TEST_ASSERT(memcg_enter(&cg), "enter memcg");
		e2e_run(args, &opts, &r);
		TEST_ASSERT(memcg_leave(&cg), "leave memcg");
		E2E_EXPECT_STATUS(&r, 0);
		TEST_ASSERT(strstr(e2e_guest_line(&r, "verify") ?: "", "bad=0 "), "verify: %s",
			    r.out);
		e2e_free(&r);
		TEST_PASS("populate=none under the same limit: not refused, the guest's 16M fit");
	}
	memcg_destroy(&cg);
}

/* The state letter of /proc/PID/stat ('Z' for a zombie), '?' if unreadable. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct squeeze {
	struct memcg *cg;
	uint64_t base;        /* the group's usage before memvmm started */
	uint64_t stopped_at;  /* ... when memvmm was stopped */
	int fill_fd;          /* the fill, charged to the group */
	bool done;
	char why[160];        /* why the squeeze did not happen */
};

/*
 * e2e_run's `started` hook. memvmm refuses up front a guest that does not
 * fit the group, so the room runs out only during population: once memvmm
 * has charged SQUEEZE_START_BYTES, stop it, fill the group up to its limit
 * from this process, step out of the group, and let memvmm go on.
 */
static void squeeze(pid_t pid, void *arg)
{
	struct squeeze *s = arg;
	double deadline = mono_s() + 60;
	siginfo_t info = { 0 };
	uint64_t u, fill;

	for (;;) {
		u = memcg_usage(s->cg);
		if (u != UINT64_MAX && u >= s->base + SQUEEZE_START_BYTES)
			break;
		if (strchr("Z?", proc_state(pid)) || mono_s() > deadline) {
			snprintf(s->why, sizeof(s->why), "memvmm ended (or took 60 s) before "
				 "charging %lluM", (unsigned long long)(SQUEEZE_START_BYTES >> 20));
			return;
		}
		usleep(200);
	}
	/* WNOWAIT: e2e_run reaps memvmm later, whatever happens here. */
	if (kill(pid, SIGSTOP) ||
	    waitid(P_PID, (id_t)pid, &info, WSTOPPED | WEXITED | WNOWAIT) ||
	    info.si_code != CLD_STOPPED) {
		snprintf(s->why, sizeof(s->why), "could not stop memvmm (%s, si_code %d)",
			 strerror(errno), info.si_code);
		return;
	}
	s->stopped_at = u = memcg_usage(s->cg);
	if (u - s->base + SQUEEZE_MARGIN_BYTES >= ENOMEM_GUEST_BYTES ||
	    u + SQUEEZE_SLACK_BYTES >= ENOMEM_LIMIT_BYTES) {
		snprintf(s->why, sizeof(s->why), "memvmm had charged %lluM already when stopped",
			 (unsigned long long)((u - s->base) >> 20));
	} else {
		fill = ENOMEM_LIMIT_BYTES - u - SQUEEZE_SLACK_BYTES;
		s->fill_fd = memfd_create("memvmm-test-fill", MFD_CLOEXEC);
		if (s->fill_fd < 0 || fallocate(s->fill_fd, 0, 0, (off_t)fill))
			snprintf(s->why, sizeof(s->why), "filling %lluM of the group: %s",
				 (unsigned long long)(fill >> 20), strerror(errno));
		else
			s->done = true;
	}
	/* Out of the full group before anything here faults in a page. */
	if (!memcg_leave(s->cg) && !s->why[0])
		snprintf(s->why, sizeof(s->why), "leaving the group: %s", strerror(errno));
	kill(pid, SIGCONT);
}

/*
 * Out of memory while populating: memvmm passes its up-front check, then
 * the group fills up under it (squeeze()). Exit 1, no signal, a message
 * naming region, backend, strategy and errno, the guest never started, and
 * nothing left charged afterwards.
 */
static void test_enomem(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	static const char *const strategies[] = { "madvise", "fallocate" };
	struct e2e_opts opts = { .timeout_s = 90, .started = squeeze };
	struct memcg cg;

	e2e_require_kvm();
	if (b == &mem_backend_guest_memfd)
		TEST_REQUIRE(!e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED),
			     "this kernel creates no guest_memfd with MMAP|INIT_SHARED");
	memcg_require(&cg, ENOMEM_LIMIT_BYTES);
	for (unsigned int i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		char memory[128];
		const char *args[] = { "run", "--memory", memory, "--cmdline", "touch=16M verify",
				       NULL };
		struct squeeze sq = { .cg = &cg, .fill_fd = -1 };
		struct e2e_result r;

		/* One thread: population takes long enough to be caught under way. */
		snprintf(memory, sizeof(memory), "size=256M,backend=%s,populate=%s,"
			 "populate-threads=1", b->name, strategies[i]);
		opts.hook_arg = &sq;
		sq.base = memcg_usage(&cg);
		TEST_ASSERT(sq.base < LEFT_CHARGED_BYTES && memcg_enter(&cg), "enter memcg");
		e2e_run(args, &opts, &r);
		TEST_ASSERT(memcg_leave(&cg), "leave memcg");
		if (sq.fill_fd >= 0)
			close(sq.fill_fd);
		TEST_ASSERT(sq.done, "%s: the group was not filled under memvmm: %s\n"
			    "--- stderr:\n%.4000s", memory, sq.why, r.err);
		E2E_EXPECT_STATUS(&r, 1);
		TEST_ASSERT(strstr(r.err, "cannot populate guest memory") &&
			    strstr(r.err, b->name) && strstr(r.err, strategies[i]) &&
			    strstr(r.err, "region 0") && strstr(r.err, "ENOMEM"),
			    "message names region, backend, strategy, errno: %s", r.err);
		TEST_ASSERT(!e2e_guest_line(&r, "start"), "guest must not run: %s", r.out);
		TEST_ASSERT(memcg_usage(&cg) < LEFT_CHARGED_BYTES, "memory left charged: %llu",
			    (unsigned long long)memcg_usage(&cg));
		e2e_free(&r);
		printf("ok - %s populate=%s, group (v%d) filled after %lluM: exit 1 with ENOMEM, "
		       "nothing left\n", b->name, strategies[i], cg.version,
		       (unsigned long long)((sq.stopped_at - sq.base) >> 20));
	}
	memcg_destroy(&cg);
}

/* On a terminal, 1 GiB or more shows progress; without one, it does not. */
static void test_progress(const void *unused)
{
	const char *argv[] = { e2e_memvmm(), "run", "--memory", "size=1G,populate=madvise",
			       "--cmdline", "exit=0", NULL };
	char out[16384];
	size_t used = 0;
	int master, status;
	struct e2e_result r;
	pid_t pid;

	e2e_require_kvm();
	pid = forkpty(&master, NULL, NULL, NULL);
	TEST_ASSERT(pid >= 0, "forkpty");
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 60000) <= 0)
			break;
		n = read(master, out + used, sizeof(out) - 1 - used);
		if (n <= 0)
			break;  /* EIO once the child has gone */
		used += (size_t)n;
	}
	out[used] = '\0';
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0, "memvmm on a pty: status %#x: %s", status, out);
	close(master);
	TEST_ASSERT(strstr(out, "memvmm: populating ") && strstr(out, "1024/1024M 100%") &&
		    strstr(out, "GB/s"), "progress on a terminal: %s", out);

	run_memory("size=1G,populate=madvise", "exit=0", &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(!strstr(r.err, "populating "), "no progress into a pipe: %s", r.err);
	e2e_free(&r);
	TEST_PASS("progress (bytes, %, rate) on a terminal only");
}

#define MAX_CASES 16

/*
 * Cases: matrix-BACKEND (one per backend), threads, prefault, memcg-refuse,
 * enomem-memfd, enomem-guest_memfd, progress.
 */
int main(int argc, char **argv)
{
	static char names[MAX_CASES][40];
	struct e2e_case cases[MAX_CASES];
	size_t n = 0;

	for (unsigned int i = 0; mem_backends[i] && n < MAX_CASES - 6; i++) {
		snprintf(names[n], sizeof(names[n]), "matrix-%s", mem_backends[i]->name);
		cases[n] = (struct e2e_case){ names[n], test_matrix, mem_backends[i] };
		n++;
	}
	cases[n++] = (struct e2e_case){ "threads", test_threads, NULL };
	cases[n++] = (struct e2e_case){ "prefault", test_prefault, NULL };
	cases[n++] = (struct e2e_case){ "memcg-refuse", test_memcg_refuse, NULL };
	cases[n++] = (struct e2e_case){ "enomem-memfd", test_enomem, &mem_backend_memfd };
	cases[n++] = (struct e2e_case){ "enomem-guest_memfd", test_enomem, &mem_backend_guest_memfd };
	cases[n++] = (struct e2e_case){ "progress", test_progress, NULL };
	/* Cases change the huge page pool; this process puts it back however they end. */
	hugepages_save();
	return e2e_case_main(argc, argv, cases, n);
}
