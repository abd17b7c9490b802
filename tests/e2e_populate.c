// SPDX-License-Identifier: MIT
/*
 * End to end: memvmm populates guest RAM before the guest runs, with every
 * strategy on every backend, says what it used, refuses what the host cannot
 * do, pre-faults or says why not, stops with exit 1 and a full message when
 * the host runs out of memory (under a memory cgroup limit), and shows
 * progress on a terminal.
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
 * Every backend with every strategy: the guest touches and verifies 16M;
 * memvmm names the strategy it used, or refuses with exit 1 and the reason.
 * auto must pick the first entry of the backend's decision-table row that
 * worked when asked for explicitly.
 */
static void test_matrix(void)
{
	for (unsigned int i = 0; mem_backends[i]; i++) {
		const struct mem_backend_ops *b = mem_backends[i];
		bool worked[MEM_POPULATE_NR] = { false };
		const char *want_auto = "none";

		if (b == &mem_backend_hugetlb && !hugepages_reserve(40)) {
			printf("skip - hugetlb: cannot reserve 40 huge pages\n");
			continue;
		}
		for (unsigned int s = MEM_POPULATE_NR; s-- > 0;) {
			const char *name = mem_populate_name((enum mem_populate_strategy)s);
			char memory[96];
			struct e2e_result r;
			const char *used;

			snprintf(memory, sizeof(memory), "size=64M,backend=%s,populate=%s", b->name,
				 name);
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
}

static unsigned int online_cpus(void)
{
	cpu_set_t set;

	TEST_ASSERT(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity");
	return (unsigned int)CPU_COUNT(&set);
}

static void test_threads(void)
{
	unsigned int cpus = online_cpus(), want = cpus < 4 ? cpus : 4;
	struct e2e_result r;
	char key[64];

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

static void test_prefault(void)
{
	int err = prefault_errno();
	struct e2e_result r;

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

/*
 * Out of memory while populating (a memory cgroup limit; its OOM killer off
 * so that charges fail with ENOMEM instead): exit 1, no signal, a message
 * naming region, backend, strategy and errno, the guest never started, and
 * nothing left charged afterwards.
 */
static void test_enomem(void)
{
	static const char *const cases[][2] = {
		{ "memfd", "madvise" }, { "memfd", "fallocate" },
		{ "guest_memfd", "madvise" }, { "guest_memfd", "fallocate" },
	};
	struct e2e_opts opts = { .timeout_s = 30 };
	struct memcg cg;

#ifdef __SANITIZE_ADDRESS__
	/*
	 * With the OOM killer off, a page fault over the limit waits forever
	 * instead of failing; ASan's shadow memory makes memvmm take such faults
	 * after population failed, so this case cannot finish under ASan.
	 */
	printf("skip - ENOMEM under a memcg limit: not with ASan (its shadow memory "
	       "faults block in an OOM-disabled cgroup)\n");
	return;
#endif
	if (!memcg_create(&cg, 64ull << 20, true)) {
		printf("skip - ENOMEM: no writable cgroup v1 memory controller\n");
		return;
	}
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char memory[96];
		const char *args[] = { "run", "--memory", memory, "--cmdline", "touch=16M verify",
				       NULL };
		struct e2e_result r;

		snprintf(memory, sizeof(memory), "size=256M,backend=%s,populate=%s", cases[i][0],
			 cases[i][1]);
		TEST_ASSERT(memcg_enter(&cg), "enter memcg");
		e2e_run(args, &opts, &r);
		TEST_ASSERT(memcg_leave(&cg), "leave memcg");
		E2E_EXPECT_STATUS(&r, 1);
		TEST_ASSERT(strstr(r.err, "cannot populate guest memory") &&
			    strstr(r.err, cases[i][0]) && strstr(r.err, cases[i][1]) &&
			    strstr(r.err, "region 0") && strstr(r.err, "ENOMEM"),
			    "message names region, backend, strategy, errno: %s", r.err);
		TEST_ASSERT(!e2e_guest_line(&r, "start"), "guest must not run: %s", r.out);
		TEST_ASSERT(memcg_usage(&cg) < (16ull << 20), "memory left charged: %llu",
			    (unsigned long long)memcg_usage(&cg));
		e2e_free(&r);
		printf("ok - %s populate=%s over a 64M limit: exit 1 with ENOMEM, nothing left\n",
		       cases[i][0], cases[i][1]);
	}
	memcg_destroy(&cg);
}

/* On a terminal, 1 GiB or more shows progress; without one, it does not. */
static void test_progress(void)
{
	const char *argv[] = { e2e_memvmm(), "run", "--memory", "size=1G,populate=madvise",
			       "--cmdline", "exit=0", NULL };
	char out[16384];
	size_t used = 0;
	int master, status;
	struct e2e_result r;
	pid_t pid;

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

int main(void)
{
	e2e_require_kvm();
	test_matrix();
	test_threads();
	test_prefault();
	test_enomem();
	test_progress();
	return 0;
}
