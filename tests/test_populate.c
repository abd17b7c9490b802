// SPDX-License-Identifier: MIT
/*
 * Population on real memory with KVM: every strategy on every backend makes
 * exactly the requested range resident, and fills it from a buffer or a
 * file; what a backend accepts follows the host's trial; guest_memfd's
 * fallocate (which stops for any pending signal) survives a signal storm.
 * The engine, selection and pre-fault loop are tested without KVM in
 * test_parallel.c and test_strategy.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/memcg.h"
#include "tests/signal_storm.h"
#include "tests/test.h"
#include "tests/thp.h"

#define MiB (1ull << 20)
#define PAGE MEM_PAGE_BYTES

/* ---- real memory: every strategy on every backend ---- */

#define REGION_BYTES (16 * MiB)
#define RANGE_OFF    (4 * MiB)     /* 2 MiB aligned, for hugetlb */
#define RANGE_BYTES  (8 * MiB)

static int vm_fd = -1;

/* A VM for guest_memfd; the other backends need none (vm_fd stays -1 without KVM). */
static void open_vm(bool required)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	TEST_REQUIRE(kvm >= 0 || !required, "needs /dev/kvm");
	if (kvm < 0)
		return;
	vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm_fd >= 0, "KVM_CREATE_VM");
	close(kvm);
}

static uint64_t resident(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t bytes = UINT64_MAX;

	TEST_OK(mem_resident(gm, gpa, len, &bytes));
	return bytes;
}

/* Value of 8-byte word i of the source pattern. */
static uint64_t pattern(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 1;
}

static void check_filled(struct guest_mem *gm, const char *what)
{
	for (uint64_t off = 0; off < RANGE_BYTES; off += PAGE / 2) {
		uint64_t v = 0;

		TEST_OK(mem_read(gm, RANGE_OFF + off, &v, sizeof(v)));
		TEST_ASSERT(v == pattern(off / 8), "%s: word at +%#llx is %#llx, want %#llx", what,
			    (unsigned long long)off, (unsigned long long)v,
			    (unsigned long long)pattern(off / 8));
	}
}

static struct memcg charge_cg;

/* Start counting this process's memory charges; UINT64_MAX if impossible. */
static uint64_t charge_begin(void)
{
	uint64_t before;

	TEST_REQUIRE(charge_cg.path[0] || memcg_create(&charge_cg, 0, false), charge_cg.why);
	TEST_ASSERT(memcg_enter(&charge_cg), "enter %s", charge_cg.path);
	before = memcg_usage(&charge_cg);
	TEST_ASSERT(before != UINT64_MAX, "memory.usage_in_bytes");
	return before;
}

static uint64_t charge_end(uint64_t before)
{
	uint64_t after = memcg_usage(&charge_cg);

	TEST_ASSERT(memcg_leave(&charge_cg) && after != UINT64_MAX && after >= before,
		    "leave %s", charge_cg.path);
	return after - before;
}

/* Bytes of free 2 MiB huge pages in the pool (reserved ones included). */
static uint64_t huge_free_bytes(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	unsigned long long n = 0;

	TEST_ASSERT(f && fscanf(f, "%llu", &n) == 1, "free_hugepages");
	fclose(f);
	return n * MEM_HUGE_PAGE_BYTES;
}

/*
 * One backend, one strategy: populate (src NULL) or fill [RANGE_OFF,
 * +RANGE_BYTES) of a fresh region; only that range may be resident after.
 * Returns false when the host refused the strategy (with the reason checked).
 */
static bool populate_one(const struct mem_backend_ops *b, enum mem_populate_strategy s,
			 const struct mem_source *src, unsigned int threads)
{
	struct mem_populate_req req = { .strategy = s, .max_threads = threads, .src = src };
	struct mem_config cfg = { .size = REGION_BYTES, .backend = b };
	struct mem_populate_report rep;
	uint64_t charged = UINT64_MAX;
	struct guest_mem gm;
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "%s populate=%s%s threads=%u", b->name, mem_populate_name(s),
		 src ? (src->buf ? " from a buffer" : " from a file") : "", threads);
	TEST_OK(mem_create(&gm, &cfg, vm_fd, NULL));
	thp_off(&gm);
	TEST_ASSERT(resident(&gm, 0, REGION_BYTES) == 0, "%s: fresh region is empty", what);
	/*
	 * fallocate on shmem and guest_memfd allocates pages without zeroing
	 * them (that happens at the first fault), and mincore() only counts
	 * up-to-date pages; so measure that case by what the memory cgroup is
	 * charged, or for hugetlb (not charged to memcg) by the pool's free count.
	 */
	if (s == MEM_POPULATE_FALLOCATE && !src)
		charged = b == &mem_backend_hugetlb ? huge_free_bytes() : charge_begin();
	ret = mem_populate(&gm, RANGE_OFF, RANGE_BYTES, &req, &rep);
	if (charged != UINT64_MAX)
		charged = b == &mem_backend_hugetlb ? charged - huge_free_bytes() :
			  charge_end(charged);
	if (ret == -EOPNOTSUPP) {
		TEST_ASSERT(rep.nr == 1 && strstr(rep.region[0].why, "not supported here"),
			    "%s: refusal says why: '%s'", what, rep.nr ? rep.region[0].why : "");
		TEST_ASSERT(rep.err == -EOPNOTSUPP && rep.err_strategy == s, "%s: report", what);
		TEST_ASSERT(resident(&gm, 0, RANGE_OFF) == 0 &&
			    resident(&gm, RANGE_OFF + RANGE_BYTES, REGION_BYTES - RANGE_OFF -
				     RANGE_BYTES) == 0, "%s: nothing outside the range", what);
		mem_destroy(&gm);
		return false;
	}
	TEST_ASSERT(ret == 0, "%s: %d (%s) at %#llx", what, ret, strerror(-ret),
		    (unsigned long long)rep.err_gpa);
	TEST_ASSERT(rep.nr == 1 && rep.region[0].gpa == RANGE_OFF &&
		    rep.region[0].len == RANGE_BYTES, "%s: one region reported", what);
	TEST_ASSERT(s == MEM_POPULATE_AUTO || rep.region[0].used == s, "%s: used %s", what,
		    mem_populate_name(rep.region[0].used));
	if (s == MEM_POPULATE_NONE && !src) {
		TEST_ASSERT(resident(&gm, 0, REGION_BYTES) == 0, "%s: lazy means nothing", what);
	} else if (charged != UINT64_MAX) {
		/* Allocated but not yet zeroed: memcg sees it, mincore() does not. */
		TEST_ASSERT(charged >= RANGE_BYTES && charged < RANGE_BYTES + 2 * MiB,
			    "%s: %llu bytes charged for a %llu-byte range", what,
			    (unsigned long long)charged, (unsigned long long)RANGE_BYTES);
	} else {
		TEST_ASSERT(resident(&gm, RANGE_OFF, RANGE_BYTES) == RANGE_BYTES,
			    "%s: %llu of %llu bytes resident", what,
			    (unsigned long long)resident(&gm, RANGE_OFF, RANGE_BYTES),
			    (unsigned long long)RANGE_BYTES);
		TEST_ASSERT(resident(&gm, 0, REGION_BYTES) == RANGE_BYTES,
			    "%s: %llu bytes resident in all, want exactly the range", what,
			    (unsigned long long)resident(&gm, 0, REGION_BYTES));
	}
	if (src)
		check_filled(&gm, what);
	mem_destroy(&gm);
	return true;
}

/* What the host's trial (mem_region_caps) says a fresh region of backend b takes. */
static struct mem_populate_caps trial(const struct mem_backend_ops *b)
{
	struct mem_config cfg = { .size = REGION_BYTES, .backend = b };
	struct mem_populate_caps caps;
	struct guest_mem gm;

	TEST_OK(mem_create(&gm, &cfg, vm_fd, NULL));
	thp_off(&gm);
	TEST_OK(mem_region_caps(&gm.region[0], 0, &caps));
	mem_destroy(&gm);
	return caps;
}

/*
 * Which strategies each backend must accept: those every kernel memvmm
 * supports offers, and write() exactly when the trial found it (guest_memfd
 * has none today; the day it has, the test uses it).
 */
static bool must_support(const struct mem_backend_ops *b, enum mem_populate_strategy s)
{
	bool has_file = b != &mem_backend_anon;

	switch (s) {
	case MEM_POPULATE_AUTO:
	case MEM_POPULATE_NONE:
	case MEM_POPULATE_MADVISE:
		return true;
	case MEM_POPULATE_FALLOCATE:
		return has_file;
	case MEM_POPULATE_WRITE:
		return false;   /* checked against the trial in test_backends() */
	default:
		return false;
	}
}

static void test_backend(const struct mem_backend_ops *b)
{
	uint64_t *buf = malloc(RANGE_BYTES);
	struct mem_source from_buf = { .buf = buf, .fd = -1 };
	struct mem_source from_file = { .fd = -1, .fd_offset = 3 * PAGE };
	char line[160];

	TEST_ASSERT(buf, "malloc");
	for (uint64_t i = 0; i < RANGE_BYTES / 8; i++)
		buf[i] = pattern(i);
	from_file.fd = memfd_create("source", MFD_CLOEXEC);
	TEST_ASSERT(from_file.fd >= 0 && pwrite(from_file.fd, buf, RANGE_BYTES,
						 (off_t)from_file.fd_offset) ==
		    (ssize_t)RANGE_BYTES, "source file");

	for (unsigned int s = 0; s < MEM_POPULATE_NR; s++) {
		enum mem_populate_strategy st = (enum mem_populate_strategy)s;
		bool ok = populate_one(b, st, NULL, 2);

		TEST_ASSERT(ok || !must_support(b, st), "%s refused populate=%s", b->name,
			    mem_populate_name(st));
		TEST_ASSERT(st != MEM_POPULATE_WRITE || ok == trial(b).write,
			    "%s: populate=write %s, as the trial says", b->name,
			    ok ? "worked" : "refused");
		/* The same strategy fills from a buffer and from a file, on 1 and 3 threads. */
		TEST_ASSERT(populate_one(b, st, &from_buf, 3) == ok, "%s: fill %s", b->name,
			    mem_populate_name(st));
		TEST_ASSERT(populate_one(b, st, &from_file, 1) == ok, "%s: file fill %s", b->name,
			    mem_populate_name(st));
		snprintf(line, sizeof(line), "%s populate=%s: %s", b->name, mem_populate_name(st),
			 !ok ? "refused, says why" :
			 st == MEM_POPULATE_NONE ? "nothing resident, fills correct" :
			 "exactly the range resident, fills correct");
		TEST_PASS(line);
	}
	close(from_file.fd);
	free(buf);
}

/* ---- a storm of signals during fallocate ---- */

#define STORM_MIN_SIGNALS 200u
#define STORM_MAX_ROUNDS  200u
#define STORM_INTERVAL_NS 20000   /* 20 us between two signals */

/*
 * guest_memfd's and hugetlbfs's fallocate stop with EINTR for any pending
 * signal (SIGCONT after Ctrl-Z/fg was how users met it); population must
 * retry and finish. Every backend whose trial takes fallocate, on one
 * thread (the one the signals hit).
 */
static void test_fallocate_signals(const struct mem_backend_ops *b)
{
	struct mem_populate_req req = { .strategy = MEM_POPULATE_FALLOCATE, .max_threads = 1 };
	char line[160];

	signal_storm_install();
	/* Fresh regions until population has been hit by enough signals (it is quick). */
	signal_storm_reset();
	for (unsigned int round = 0; trial(b).fallocate && round < STORM_MAX_ROUNDS &&
	     signal_storm_hits() < STORM_MIN_SIGNALS; round++) {
		struct mem_config cfg = { .size = REGION_BYTES, .backend = b };
		struct mem_populate_report rep;
		struct guest_mem gm;
		int ret;

		TEST_OK(mem_create(&gm, &cfg, vm_fd, NULL));
		thp_off(&gm);
		signal_storm_start(signal_storm_interval(STORM_INTERVAL_NS));
		ret = mem_populate(&gm, 0, REGION_BYTES, &req, &rep);
		signal_storm_stop();
		TEST_ASSERT(ret == 0, "%s: fallocate under %u signals: %d (%s) at %#llx",
			    b->name, signal_storm_hits(), ret, strerror(-ret),
			    (unsigned long long)rep.err_gpa);
		mem_destroy(&gm);
	}
	if (trial(b).fallocate) {
		snprintf(line, sizeof(line), "%s populate=fallocate under %u signals", b->name,
			 signal_storm_hits());
		TEST_PASS(line);
	}
	signal_storm_uninstall();
}

/* A range that is not RAM, or not aligned for the backend, is refused whole. */
static void test_bad_ranges(const struct mem_backend_ops *b)
{
	struct mem_config cfg = { .size = REGION_BYTES, .backend = b };
	struct mem_populate_req req = { .strategy = MEM_POPULATE_MADVISE };
	struct mem_source bad_src = { .buf = NULL, .fd = -1 };
	struct mem_populate_report rep;
	struct guest_mem gm;

	TEST_OK(mem_create(&gm, &cfg, vm_fd, NULL));
	thp_off(&gm);
	TEST_ASSERT(mem_populate(&gm, REGION_BYTES - PAGE, 2 * PAGE, &req, &rep) == -EINVAL,
		    "past the end of RAM");
	TEST_ASSERT(mem_populate(&gm, UINT64_MAX - PAGE + 1, PAGE, &req, &rep) == -EINVAL,
		    "wrapping range");
	TEST_ASSERT(mem_populate(&gm, 100, PAGE, &req, &rep) == -EINVAL, "unaligned");
	req.src = &bad_src;
	TEST_ASSERT(mem_populate(&gm, 0, PAGE, &req, &rep) == -EINVAL, "source without data");
	req.src = NULL;
	req.max_threads = MEM_POPULATE_MAX_THREADS + 1;
	TEST_ASSERT(mem_populate(&gm, 0, b->align, &req, &rep) == -EINVAL, "too many threads");
	if (b->align > PAGE) {
		req.max_threads = 0;
		TEST_ASSERT(mem_populate(&gm, PAGE, b->align, &req, &rep) == -EINVAL,
			    "%s range not aligned to %llu", b->name, (unsigned long long)b->align);
	}
	TEST_ASSERT(resident(&gm, 0, REGION_BYTES) == 0, "refusals populate nothing");
	mem_destroy(&gm);
	TEST_PASS("bad ranges are refused before anything is populated");
}

/* One backend: bad ranges, every strategy, fallocate under a signal storm. */
static void run_backend(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	char why[160] = "";

	open_vm(b == &mem_backend_guest_memfd);
	if (b->supported(vm_fd, why, sizeof(why))) {
		fprintf(stderr, "%s is not supported here: %s\n", b->name, why);
		TEST_REQUIRE(false, "the backend is not supported here");
	}
	if (b == &mem_backend_hugetlb)
		TEST_REQUIRE(hugepages_reserve(2 * REGION_BYTES / MEM_HUGE_PAGE_BYTES),
			     "cannot reserve 2 MiB huge pages");
	test_bad_ranges(b);
	test_backend(b);
	test_fallocate_signals(b);
	if (vm_fd >= 0)
		close(vm_fd);
}

#define MAX_CASES 8

/* Cases: one per backend, by its name, so that a backend the host lacks is a skip. */
int main(int argc, char **argv)
{
	struct e2e_case list[MAX_CASES];
	size_t n = 0;

	for (const struct mem_backend_ops *const *b = mem_backends; *b && n < MAX_CASES; b++)
		list[n++] = (struct e2e_case){ (*b)->name, run_backend, *b };
	/* Cases may grow the huge page pool; this process puts it back however they end. */
	hugepages_save();
	return e2e_case_main(argc, argv, list, n);
}
