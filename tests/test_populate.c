// SPDX-License-Identifier: MIT
/*
 * Population: the thread/chunk split, strategy selection from a capability
 * set, the parallel engine's failure handling, the pre-fault loop against a
 * fake ioctl, and on real memory that every strategy on every backend makes
 * exactly the requested range resident, and fills it from a buffer or a file.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/hugepages.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define PAGE MEM_PAGE_BYTES

static void test_constants(void)
{
	/* Cloud Hypervisor's comment said 64 MiB while its code computed 4 GiB. */
	TEST_ASSERT(MEM_POPULATE_CHUNK_BYTES == 64 * MiB, "chunk is 64 MiB");
	TEST_ASSERT(MEM_POPULATE_STEP_BYTES % MEM_HUGE_PAGE_BYTES == 0,
		    "steps are whole huge pages");
	TEST_ASSERT(MEM_POPULATE_CHUNK_BYTES % MEM_POPULATE_STEP_BYTES == 0, "chunk of steps");
	TEST_PASS("population constants");
}

static void test_nr_threads(void)
{
	static const struct {
		uint64_t size;
		unsigned int max, cpus, want;
	} c[] = {
		{ 0, 0, 8, 1 },                     /* at least one */
		{ PAGE, 0, 8, 1 },
		{ 64 * MiB - PAGE, 0, 8, 1 },
		{ 64 * MiB, 0, 8, 1 },
		{ 128 * MiB - PAGE, 0, 8, 1 },      /* one thread per whole 64 MiB */
		{ 128 * MiB, 0, 8, 2 },
		{ 1024 * MiB, 0, 2, 2 },            /* CPUs bound it */
		{ 1024 * MiB, 0, 32, 16 },          /* size bounds it */
		{ 1024 * MiB, 4, 32, 4 },           /* populate-threads bounds it */
		{ 1024 * MiB, 1, 32, 1 },
		{ 1ull << 40, 0, 1000, MEM_POPULATE_MAX_THREADS },
		{ 1ull << 40, 0, 0, MEM_POPULATE_MAX_THREADS }, /* unknown CPUs: no bound */
	};

	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		unsigned int n = mem_populate_nr_threads(c[i].size, c[i].max, c[i].cpus);

		TEST_ASSERT(n == c[i].want, "size %llu max %u cpus %u: %u threads, want %u",
			    (unsigned long long)c[i].size, c[i].max, c[i].cpus, n, c[i].want);
	}
	TEST_PASS("threads = min(CPUs, populate-threads, size / 64 MiB), at least 1");
}

/* Parts are contiguous, aligned, cover size exactly, and differ by one unit at most. */
static void check_split(uint64_t size, uint64_t align, unsigned int n)
{
	uint64_t off[MEM_POPULATE_MAX_THREADS], len[MEM_POPULATE_MAX_THREADS], pos = 0;
	uint64_t lo = UINT64_MAX, hi = 0;

	mem_populate_split(size, align, n, off, len);
	for (unsigned int i = 0; i < n; i++) {
		TEST_ASSERT(off[i] == pos, "size %llu n %u: part %u starts at %llu, want %llu",
			    (unsigned long long)size, n, i, (unsigned long long)off[i],
			    (unsigned long long)pos);
		TEST_ASSERT(off[i] % align == 0 && len[i] % align == 0, "part %u aligned", i);
		pos += len[i];
		lo = len[i] < lo ? len[i] : lo;
		hi = len[i] > hi ? len[i] : hi;
	}
	TEST_ASSERT(pos == size, "size %llu n %u: parts cover %llu", (unsigned long long)size,
		    n, (unsigned long long)pos);
	TEST_ASSERT(hi - lo <= align, "size %llu n %u: parts %llu..%llu are balanced",
		    (unsigned long long)size, n, (unsigned long long)lo, (unsigned long long)hi);
}

static void test_split(void)
{
	check_split(7 * PAGE, PAGE, 3);                     /* 3 + 2 + 2 pages */
	check_split(2 * PAGE, PAGE, 4);                     /* tiny: two parts empty */
	check_split(0, PAGE, 2);
	check_split(PAGE, PAGE, 1);
	check_split(1000 * MiB + 3 * PAGE, PAGE, 7);        /* odd size */
	check_split(1026 * MiB, MEM_HUGE_PAGE_BYTES, 2);    /* 513 huge pages on 2 */
	check_split(MEM_HUGE_PAGE_BYTES, MEM_HUGE_PAGE_BYTES, MEM_POPULATE_MAX_THREADS);
	{
		uint64_t off[3], len[3];

		mem_populate_split(7 * PAGE, PAGE, 3, off, len);
		TEST_ASSERT(len[0] == 3 * PAGE && len[1] == 2 * PAGE && len[2] == 2 * PAGE,
			    "7 pages on 3 threads: 3, 2, 2");
	}
	TEST_PASS("split into aligned contiguous parts (odd and tiny sizes)");
}

static void test_choose(void)
{
	static const enum mem_populate_strategy gmem_order[] = {
		MEM_POPULATE_WRITE, MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE,
		MEM_POPULATE_NONE,
	};
	struct mem_populate_caps all = { .fallocate = true, .madvise = true, .write = true };
	struct mem_populate_caps this_host = {
		.fallocate = true, .madvise = true,
		.why_no_write = "pwrite(): ESPIPE, write(): EINVAL",
	};
	struct mem_populate_caps nothing = {
		.why_no_fallocate = "anon memory has no file",
		.why_no_madvise = "MADV_POPULATE_WRITE: EINVAL",
		.why_no_write = "anon memory has no file",
	};
	enum mem_populate_strategy s;
	char why[160];

	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, &all, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_WRITE && !why[0], "auto takes write when offered");
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, &this_host, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_MADVISE, "auto falls back to madvise");
	TEST_ASSERT(strstr(why, "no write (pwrite(): ESPIPE, write(): EINVAL)"),
		    "auto says what it passed over: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, &nothing, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "auto with nothing supported is none");
	TEST_ASSERT(strstr(why, "no madvise (MADV_POPULATE_WRITE: EINVAL)"), "why: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, NULL, &all, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "no order: none");

	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_WRITE, gmem_order, &this_host, &s, why,
					sizeof(why)) == -EOPNOTSUPP, "write refused");
	TEST_ASSERT(strstr(why, "populate=write") && strstr(why, "ESPIPE"), "why: '%s'", why);
	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_FALLOCATE, gmem_order, &nothing, &s, why,
					sizeof(why)) == -EOPNOTSUPP &&
		    strstr(why, "has no file"), "fallocate refused: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_NONE, gmem_order, &nothing, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "none is always possible");
	TEST_OK(mem_populate_choose(MEM_POPULATE_FALLOCATE, gmem_order, &this_host, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_FALLOCATE, "an explicit choice is kept");
	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_NR, gmem_order, &all, &s, why,
					sizeof(why)) == -EOPNOTSUPP, "out-of-range strategy");
	TEST_PASS("strategy selection from a capability set");
}

static void test_names(void)
{
	enum mem_populate_strategy s;
	enum mem_prefault_mode m;

	for (unsigned int i = 0; i < MEM_POPULATE_NR; i++) {
		TEST_OK(mem_populate_parse(mem_populate_name((enum mem_populate_strategy)i), &s));
		TEST_ASSERT((unsigned int)s == i, "round trip %u", i);
	}
	TEST_ASSERT(mem_populate_parse("eager", &s) == -EINVAL, "unknown strategy");
	TEST_ASSERT(mem_populate_name(MEM_POPULATE_NR) == NULL, "no name past the end");
	TEST_OK(mem_prefault_parse("on", &m));
	TEST_ASSERT(m == MEM_PREFAULT_ON, "on");
	TEST_ASSERT(mem_prefault_parse("yes", &m) == -EINVAL, "unknown prefault mode");
	TEST_PASS("strategy and pre-fault names");
}

/* ---- the parallel engine with a fake step ---- */

#define FAKE_UNITS 4096u

struct fake_step {
	atomic_uint hits[FAKE_UNITS];     /* per 4 KiB unit */
	uint64_t fail_at;                  /* step starting here fails (UINT64_MAX: none) */
	int fail_err;
	atomic_uint steps_after_fail;
	atomic_bool failed;
	unsigned int progress_calls;
	uint64_t progress_last;
};

static int fake_step_fn(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct fake_step *f = ctx;

	if (atomic_load(&f->failed))
		atomic_fetch_add(&f->steps_after_fail, 1);
	struct timespec ts = { 0, 200000 };

	if (off <= f->fail_at && f->fail_at < off + len) {
		/* The engine marks the run failed right after this returns. */
		atomic_store(&f->failed, true);
		return f->fail_err;
	}
	for (uint64_t u = off / PAGE; u < (off + len) / PAGE; u++)
		atomic_fetch_add(&f->hits[u], 1);
	nanosleep(&ts, NULL);  /* slow enough for progress reports */
	return 0;
}

static void fake_progress(void *arg, uint64_t done, uint64_t total)
{
	struct fake_step *f = arg;

	TEST_ASSERT(done <= total && done >= f->progress_last, "progress %llu of %llu",
		    (unsigned long long)done, (unsigned long long)total);
	f->progress_calls++;
	f->progress_last = done;
}

static void test_parallel(void)
{
	static struct fake_step f;
	struct mem_parallel_result res;
	uint64_t size = (uint64_t)FAKE_UNITS * PAGE;

	for (unsigned int threads = 1; threads <= 5; threads += 2) {
		memset(&f, 0, sizeof(f));
		f.fail_at = UINT64_MAX;
		TEST_OK(mem_parallel_run(size, PAGE, threads, 3 * PAGE, fake_step_fn, &f,
					 fake_progress, &f, &res));
		for (unsigned int u = 0; u < FAKE_UNITS; u++)
			TEST_ASSERT(atomic_load(&f.hits[u]) == 1, "%u threads: unit %u done %u times",
				    threads, u, atomic_load(&f.hits[u]));
		TEST_ASSERT(res.done == size && res.threads == threads, "all done");
		TEST_ASSERT(f.progress_last == size, "last progress report is the total");
	}

	/* A failure stops the other threads and is reported with its offset. */
	memset(&f, 0, sizeof(f));
	f.fail_at = 2 * PAGE;
	f.fail_err = -ENOMEM;
	TEST_ASSERT(mem_parallel_run(size, PAGE, 4, PAGE, fake_step_fn, &f, NULL, NULL,
				     &res) == -ENOMEM, "failure returned");
	TEST_ASSERT(res.err == -ENOMEM && res.err_off == 2 * PAGE, "err %d at %llu",
		    res.err, (unsigned long long)res.err_off);
	TEST_ASSERT(res.thread_err[0] == -ENOMEM, "thread 0 failed itself");
	for (unsigned int i = 1; i < 4; i++)
		TEST_ASSERT(res.thread_err[i] == -ECANCELED, "thread %u was stopped: %d", i,
			    res.thread_err[i]);
	TEST_ASSERT(res.done < size, "not everything was done (%llu)",
		    (unsigned long long)res.done);
	TEST_ASSERT(atomic_load(&f.steps_after_fail) <= 3,
		    "each other thread does at most the step it was in (%u)",
		    atomic_load(&f.steps_after_fail));

	TEST_ASSERT(mem_parallel_run(size, PAGE, 0, PAGE, fake_step_fn, &f, NULL, NULL, &res) ==
		    -EINVAL, "0 threads");
	TEST_ASSERT(mem_parallel_run(size + 1, PAGE, 1, PAGE, fake_step_fn, &f, NULL, NULL,
				     &res) == -EINVAL, "unaligned size");
	TEST_ASSERT(mem_parallel_run(size, PAGE, MEM_POPULATE_MAX_THREADS + 1, PAGE,
				     fake_step_fn, &f, NULL, NULL, &res) == -EINVAL,
		    "too many threads");
	TEST_PASS("parallel engine: every step once, a failure stops the rest");
}

/* ---- the pre-fault loop against a fake KVM_PRE_FAULT_MEMORY ---- */

/*
 * A memslot [0, slot_end); each call does at most per_call bytes, and the
 * calls listed in errs[] fail with that errno instead (0: normal call).
 */
struct fake_kvm {
	uint64_t slot_end;
	uint64_t per_call;
	int errs[16];
	unsigned int call;
	bool no_progress;        /* misbehave: return 0 without doing anything */
};

static struct fake_kvm fk;

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	struct kvm_pre_fault_memory *pf = arg;
	unsigned int call = fk.call++;
	uint64_t n;

	TEST_ASSERT(fd == 42 && request == KVM_PRE_FAULT_MEMORY, "fd %d request %#lx", fd,
		    request);
	TEST_ASSERT(pf->flags == 0 && pf->size && pf->gpa % PAGE == 0 && pf->size % PAGE == 0,
		    "valid request gpa %#llx size %#llx", (unsigned long long)pf->gpa,
		    (unsigned long long)pf->size);
	if (call < 16 && fk.errs[call]) {
		errno = fk.errs[call];
		return -1;
	}
	if (fk.no_progress)
		return 0;
	if (pf->gpa >= fk.slot_end) {
		errno = ENOENT;
		return -1;
	}
	n = pf->size < fk.per_call ? pf->size : fk.per_call;
	if (n > fk.slot_end - pf->gpa)
		n = fk.slot_end - pf->gpa;
	pf->gpa += n;
	pf->size -= n;
	return 0;
}

static void test_prefault_loop(void)
{
	uint64_t done, calls, retries;

	/* The selftest's slot: 2 MiB + 4 KiB. [0, 2M) completes in pieces. */
	fk = (struct fake_kvm){ .slot_end = 2 * MiB + PAGE, .per_call = 512 * 1024 };
	calls = retries = 0;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 2 * MiB, &done, &calls, &retries));
	TEST_ASSERT(done == 2 * MiB && calls == 4 && retries == 0, "done %llu calls %llu",
		    (unsigned long long)done, (unsigned long long)calls);

	/* [2M, 2M + 8K): one page, then ENOENT with 4K left. */
	fk = (struct fake_kvm){ .slot_end = 2 * MiB + PAGE, .per_call = 2 * MiB };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 2 * MiB, 2 * PAGE, &done, NULL, NULL) ==
		    -ENOENT, "past the slot: ENOENT");
	TEST_ASSERT(done == PAGE, "one page done before ENOENT (%llu)", (unsigned long long)done);

	/* Entirely outside any slot. */
	fk = (struct fake_kvm){ .slot_end = 2 * MiB + PAGE, .per_call = 2 * MiB };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 2 * MiB + PAGE, PAGE, &done, NULL,
					 NULL) == -ENOENT && done == 0, "no slot: ENOENT");

	/* EINTR and EAGAIN (memslot changed) are retried, progress kept. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB,
				.errs = { 0, EINTR, EAGAIN, 0, EINTR } };
	calls = retries = 0;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &done, &calls, &retries));
	TEST_ASSERT(done == 8 * MiB && retries == 3 && calls == 11, "done %llu calls %llu "
		    "retries %llu", (unsigned long long)done, (unsigned long long)calls,
		    (unsigned long long)retries);

	/* No TDP: nothing done, EOPNOTSUPP, not retried. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB, .errs = { EOPNOTSUPP } };
	calls = 0;
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &done, &calls, NULL) ==
		    -EOPNOTSUPP && done == 0 && calls == 1, "EOPNOTSUPP at once");

	/* A failure after partial progress reports what was done. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB,
				.errs = { 0, 0, ENOMEM } };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &done, NULL, NULL) ==
		    -ENOMEM && done == 2 * MiB, "ENOMEM after 2 MiB (%llu)",
		    (unsigned long long)done);

	/* A kernel claiming success without progress must not hang the loop. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB, .no_progress = true };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &done, NULL, NULL) ==
		    -EPROTO && done == 0, "no progress: EPROTO");

	/* Endless EINTR gives up eventually. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB };
	for (unsigned int i = 0; i < 16; i++)
		fk.errs[i] = EINTR;
	fk.no_progress = false;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &done, NULL, NULL));
	TEST_ASSERT(done == 8 * MiB, "16 EINTRs in a row are survived");
	TEST_PASS("pre-fault loop: partial progress, EINTR/EAGAIN retried, ENOENT/EOPNOTSUPP fail");
}

/* ---- real memory: every strategy on every backend ---- */

#define REGION_BYTES (16 * MiB)
#define RANGE_OFF    (4 * MiB)     /* 2 MiB aligned, for hugetlb */
#define RANGE_BYTES  (8 * MiB)

static int vm_fd = -1;

static void open_vm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	TEST_REQUIRE(kvm >= 0, "needs /dev/kvm");
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

	TEST_REQUIRE(charge_cg.path[0] || memcg_create(&charge_cg, 0, false),
		     "needs a writable cgroup v1 memory controller");
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

/* Which strategies each backend must accept on every kernel memvmm supports. */
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
		return b == &mem_backend_memfd;   /* shmem has write(); the rest may not */
	default:
		return false;
	}
}

static void test_backends(void)
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
	TEST_REQUIRE(hugepages_reserve(2 * REGION_BYTES / MEM_HUGE_PAGE_BYTES),
		     "cannot reserve 2 MiB huge pages");

	for (const struct mem_backend_ops *const *b = mem_backends; *b; b++) {
		char why[160];

		if ((*b)->supported(vm_fd, why, sizeof(why))) {
			printf("# %s not supported here: %s\n", (*b)->name, why);
			continue;
		}
		for (unsigned int s = 0; s < MEM_POPULATE_NR; s++) {
			enum mem_populate_strategy st = (enum mem_populate_strategy)s;
			bool ok = populate_one(*b, st, NULL, 2);

			TEST_ASSERT(ok || !must_support(*b, st), "%s refused populate=%s",
				    (*b)->name, mem_populate_name(st));
			/* The same strategy fills from a buffer and from a file, on 1 and 3 threads. */
			TEST_ASSERT(populate_one(*b, st, &from_buf, 3) == ok, "%s: fill %s",
				    (*b)->name, mem_populate_name(st));
			TEST_ASSERT(populate_one(*b, st, &from_file, 1) == ok, "%s: file fill %s",
				    (*b)->name, mem_populate_name(st));
			snprintf(line, sizeof(line), "%s populate=%s: %s", (*b)->name,
				 mem_populate_name(st),
				 !ok ? "refused, says why" :
				 st == MEM_POPULATE_NONE ? "nothing resident, fills correct" :
				 "exactly the range resident, fills correct");
			TEST_PASS(line);
		}
	}
	close(from_file.fd);
	free(buf);
}

/* A range that is not RAM, or not aligned for the backend, is refused whole. */
static void test_bad_ranges(void)
{
	struct mem_config cfg = { .size = REGION_BYTES, .backend = &mem_backend_memfd };
	struct mem_populate_req req = { .strategy = MEM_POPULATE_MADVISE };
	struct mem_source bad_src = { .buf = NULL, .fd = -1 };
	struct mem_populate_report rep;
	struct guest_mem gm;

	TEST_OK(mem_create(&gm, &cfg, vm_fd, NULL));
	TEST_ASSERT(mem_populate(&gm, REGION_BYTES - PAGE, 2 * PAGE, &req, &rep) == -EINVAL,
		    "past the end of RAM");
	TEST_ASSERT(mem_populate(&gm, UINT64_MAX - PAGE + 1, PAGE, &req, &rep) == -EINVAL,
		    "wrapping range");
	TEST_ASSERT(mem_populate(&gm, 100, PAGE, &req, &rep) == -EINVAL, "unaligned");
	req.src = &bad_src;
	TEST_ASSERT(mem_populate(&gm, 0, PAGE, &req, &rep) == -EINVAL, "source without data");
	req.src = NULL;
	req.max_threads = MEM_POPULATE_MAX_THREADS + 1;
	TEST_ASSERT(mem_populate(&gm, 0, PAGE, &req, &rep) == -EINVAL, "too many threads");
	TEST_ASSERT(resident(&gm, 0, REGION_BYTES) == 0, "refusals populate nothing");
	mem_destroy(&gm);

	cfg.backend = &mem_backend_hugetlb;
	if (mem_create(&gm, &cfg, vm_fd, NULL) == 0) {
		req.max_threads = 0;
		TEST_ASSERT(mem_populate(&gm, PAGE, MEM_HUGE_PAGE_BYTES, &req, &rep) == -EINVAL,
			    "hugetlb range not 2 MiB aligned");
		mem_destroy(&gm);
	}
	TEST_PASS("bad ranges are refused before anything is populated");
}

int main(void)
{
	test_constants();
	test_nr_threads();
	test_split();
	test_choose();
	test_names();
	test_parallel();
	test_prefault_loop();
	open_vm();
	test_bad_ranges();
	test_backends();
	hugepages_restore();
	close(vm_fd);
	return 0;
}
