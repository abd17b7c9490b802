// SPDX-License-Identifier: MIT
/*
 * The population engine without KVM: the thread/chunk split, the parallel
 * engine against a fake step (every step once, a failure stops the rest, a
 * cancel request stops every thread within a step, a thread that cannot be
 * created means fewer threads, progress on one thread too), EINTR retried
 * by the fallocate/madvise wrappers against fakes, and the pre-fault loop
 * against a fake KVM_PRE_FAULT_MEMORY (cancel, per-call size).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define PAGE MEM_PAGE_BYTES

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void test_constants(void)
{
	/* Cloud Hypervisor's comment said 64 MiB while its code computed 4 GiB. */
	TEST_ASSERT(MEM_POPULATE_CHUNK_BYTES == 64 * MiB, "chunk is 64 MiB");
	TEST_ASSERT(MEM_POPULATE_STEP_BYTES % MEM_HUGE_PAGE_BYTES == 0,
		    "steps are whole huge pages");
	TEST_ASSERT(MEM_POPULATE_CHUNK_BYTES % MEM_POPULATE_STEP_BYTES == 0, "chunk of steps");
	TEST_ASSERT(MEM_PREFAULT_CALL_BYTES == 64 * MiB &&
		    MEM_PREFAULT_CALL_BYTES % MEM_HUGE_PAGE_BYTES == 0,
		    "pre-fault calls of 64 MiB, whole huge pages");
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

/* ---- the parallel engine with a fake step ---- */

#define FAKE_UNITS 4096u

struct fake_step {
	atomic_uint hits[FAKE_UNITS];      /* per 4 KiB unit */
	uint64_t fail_at;                  /* step starting here fails (UINT64_MAX: none) */
	int fail_err;
	long sleep_us;                     /* per step */
	atomic_uint steps_after_fail;
	atomic_bool failed;
	atomic_bool *cancel;               /* steps begun after it was set are counted */
	atomic_uint steps_after_cancel;
	atomic_uint steps;
	unsigned int threads_seen_max;     /* highest thread index + 1 */
	unsigned int progress_calls, progress_mid;  /* all reports; those before the end */
	uint64_t progress_last;
	pthread_t progress_thread;
};

static int fake_step_fn(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct fake_step *f = ctx;

	atomic_fetch_add(&f->steps, 1);
	if (f->cancel && atomic_load(f->cancel))
		atomic_fetch_add(&f->steps_after_cancel, 1);
	if (atomic_load(&f->failed))
		atomic_fetch_add(&f->steps_after_fail, 1);
	if (thread + 1 > f->threads_seen_max)
		f->threads_seen_max = thread + 1;   /* racy max: only compared with a bound */
	if (off <= f->fail_at && f->fail_at < off + len) {
		/* The engine marks the run failed right after this returns. */
		atomic_store(&f->failed, true);
		return f->fail_err;
	}
	for (uint64_t u = off / PAGE; u < (off + len) / PAGE; u++)
		atomic_fetch_add(&f->hits[u], 1);
	sleep_us(f->sleep_us);  /* slow enough for progress reports */
	return 0;
}

static void fake_progress(void *arg, uint64_t done, uint64_t total)
{
	struct fake_step *f = arg;

	TEST_ASSERT(done <= total && done >= f->progress_last, "progress %llu of %llu",
		    (unsigned long long)done, (unsigned long long)total);
	f->progress_calls++;
	if (done < total)
		f->progress_mid++;
	f->progress_last = done;
	f->progress_thread = pthread_self();
}

static void fake_reset(struct fake_step *f)
{
	memset(f, 0, sizeof(*f));
	f->fail_at = UINT64_MAX;
	f->sleep_us = 200;
}

static void check_every_unit_once(struct fake_step *f, const char *what)
{
	for (unsigned int u = 0; u < FAKE_UNITS; u++)
		TEST_ASSERT(atomic_load(&f->hits[u]) == 1, "%s: unit %u done %u times", what, u,
			    atomic_load(&f->hits[u]));
}

static void test_parallel(void)
{
	static struct fake_step f;
	struct mem_parallel_result res;
	uint64_t size = (uint64_t)FAKE_UNITS * PAGE;

	for (unsigned int threads = 1; threads <= 5; threads += 2) {
		fake_reset(&f);
		TEST_OK(mem_parallel_run(size, PAGE, threads, 3 * PAGE, fake_step_fn, &f,
					 fake_progress, &f, NULL, &res));
		check_every_unit_once(&f, "all");
		TEST_ASSERT(res.done == size && res.threads == threads &&
			    res.threads_wanted == threads && !res.thread_create_err &&
			    !res.cancelled, "all done on %u threads", threads);
		TEST_ASSERT(f.progress_last == size, "last progress report is the total");
	}

	/* A failure stops the other threads and is reported with its offset. */
	fake_reset(&f);
	f.fail_at = 2 * PAGE;
	f.fail_err = -ENOMEM;
	TEST_ASSERT(mem_parallel_run(size, PAGE, 4, PAGE, fake_step_fn, &f, NULL, NULL, NULL,
				     &res) == -ENOMEM, "failure returned");
	TEST_ASSERT(res.err == -ENOMEM && res.err_off == 2 * PAGE && !res.cancelled,
		    "err %d at %llu", res.err, (unsigned long long)res.err_off);
	TEST_ASSERT(res.thread_err[0] == -ENOMEM, "thread 0 failed itself");
	for (unsigned int i = 1; i < 4; i++)
		TEST_ASSERT(res.thread_err[i] == -ECANCELED, "thread %u was stopped: %d", i,
			    res.thread_err[i]);
	TEST_ASSERT(res.done < size, "not everything was done (%llu)",
		    (unsigned long long)res.done);
	TEST_ASSERT(atomic_load(&f.steps_after_fail) <= 3,
		    "each other thread does at most the step it was in (%u)",
		    atomic_load(&f.steps_after_fail));

	TEST_ASSERT(mem_parallel_run(size, PAGE, 0, PAGE, fake_step_fn, &f, NULL, NULL, NULL,
				     &res) == -EINVAL, "0 threads");
	TEST_ASSERT(mem_parallel_run(size + 1, PAGE, 1, PAGE, fake_step_fn, &f, NULL, NULL, NULL,
				     &res) == -EINVAL, "unaligned size");
	TEST_ASSERT(mem_parallel_run(size, PAGE, MEM_POPULATE_MAX_THREADS + 1, PAGE,
				     fake_step_fn, &f, NULL, NULL, NULL, &res) == -EINVAL,
		    "too many threads");
	TEST_PASS("parallel engine: every step once, a failure stops the rest");
}

/* Set *flag after delay_ms on its own thread: a signal watcher's stand-in. */
struct canceller {
	atomic_bool *flag;
	long delay_ms;
	uint64_t set_ns;
	pthread_t thread;
};

static void *canceller_fn(void *arg)
{
	struct canceller *c = arg;

	sleep_us(c->delay_ms * 1000);
	c->set_ns = now_ns();
	atomic_store(c->flag, true);
	return NULL;
}

static void test_cancel(void)
{
	static struct fake_step f;
	struct mem_parallel_result res;
	uint64_t size = (uint64_t)FAKE_UNITS * PAGE;
	atomic_bool cancel;

	/* One page per 1 ms step: 4 s of work on one thread, cancelled after 50 ms. */
	for (unsigned int threads = 1; threads <= 4; threads += 3) {
		struct canceller c = { .flag = &cancel, .delay_ms = 50 };
		uint64_t end_ns;
		int ret;

		fake_reset(&f);
		f.sleep_us = 1000;
		f.cancel = &cancel;
		atomic_store(&cancel, false);
		TEST_ASSERT(pthread_create(&c.thread, NULL, canceller_fn, &c) == 0, "canceller");
		ret = mem_parallel_run(size, PAGE, threads, PAGE, fake_step_fn, &f, fake_progress,
				       &f, &cancel, &res);
		end_ns = now_ns();
		TEST_ASSERT(pthread_join(c.thread, NULL) == 0, "join canceller");
		TEST_ASSERT(ret == -ECANCELED && res.err == -ECANCELED && res.cancelled,
			    "%u threads: cancelled (%d)", threads, ret);
		TEST_ASSERT(end_ns - c.set_ns < 100000000ull, "%u threads: stopped %llu ms after "
			    "the request", threads, (unsigned long long)(end_ns - c.set_ns) / 1000000);
		TEST_ASSERT(atomic_load(&f.steps_after_cancel) <= threads,
			    "%u threads: %u steps begun after the request (at most one each)",
			    threads, atomic_load(&f.steps_after_cancel));
		TEST_ASSERT(res.done > 0 && res.done < size && res.err_off < size &&
			    res.err_off % PAGE == 0, "%u threads: done %llu, stopped at %llu",
			    threads, (unsigned long long)res.done,
			    (unsigned long long)res.err_off);
		for (unsigned int i = 0; i < threads; i++)
			TEST_ASSERT(res.thread_err[i] == -ECANCELED, "thread %u: %d", i,
				    res.thread_err[i]);
		TEST_ASSERT(f.progress_last < size, "no final 100%% report after a cancel");
	}

	/* Already set: not a single step. */
	fake_reset(&f);
	atomic_store(&cancel, true);
	TEST_ASSERT(mem_parallel_run(size, PAGE, 3, PAGE, fake_step_fn, &f, NULL, NULL, &cancel,
				     &res) == -ECANCELED && res.cancelled, "preset cancel");
	TEST_ASSERT(atomic_load(&f.steps) == 0 && res.done == 0, "no step after a preset cancel");
	TEST_PASS("cancel from another thread stops 1 and 4 threads within a step");
}

/* pthread_create that fails (EAGAIN, as at a pids limit) from call fail_from on. */
static atomic_uint create_calls;
static unsigned int create_fail_from;

static int fake_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
		       void *arg)
{
	if (atomic_fetch_add(&create_calls, 1) >= create_fail_from)
		return EAGAIN;
	return pthread_create(t, attr, fn, arg);
}

static void test_thread_create_failure(void)
{
	static struct fake_step f;
	struct mem_parallel_result res;
	uint64_t size = (uint64_t)FAKE_UNITS * PAGE;

	/* Two of six threads could be created: they do the whole range. */
	for (unsigned int made = 0; made <= 2; made += 2) {
		fake_reset(&f);
		atomic_store(&create_calls, 0);
		create_fail_from = made;
		TEST_OK(__mem_parallel_run(fake_create, size, PAGE, 6, 3 * PAGE, fake_step_fn, &f,
					   fake_progress, &f, NULL, &res));
		check_every_unit_once(&f, made ? "two threads" : "caller's thread");
		TEST_ASSERT(res.threads == (made ? made : 1) && res.threads_wanted == 6 &&
			    res.thread_create_err == -EAGAIN && res.done == size,
			    "%u made: %u ran of %u wanted, create error %d", made, res.threads,
			    res.threads_wanted, res.thread_create_err);
		TEST_ASSERT(f.threads_seen_max <= (made ? made : 1), "only the threads that ran "
			    "were given work (%u)", f.threads_seen_max);
		TEST_ASSERT(f.progress_last == size, "progress reached the total");
	}
	TEST_PASS("failed pthread_create: the threads made (or the caller) do everything");
}

static void test_single_thread_progress(void)
{
	static struct fake_step f;
	struct mem_parallel_result res;

	/* 400 steps of about 1 ms on the caller's thread: reports every ~100 ms. */
	fake_reset(&f);
	f.sleep_us = 1000;
	TEST_OK(mem_parallel_run(400 * PAGE, PAGE, 1, PAGE, fake_step_fn, &f, fake_progress, &f,
				 NULL, &res));
	TEST_ASSERT(f.progress_mid >= 2, "%u reports before the end of a ~0.4 s run",
		    f.progress_mid);
	TEST_ASSERT(f.progress_calls == f.progress_mid + 1 && f.progress_last == 400 * PAGE,
		    "then one at the end");
	TEST_ASSERT(pthread_equal(f.progress_thread, pthread_self()), "from the working thread");
	TEST_PASS("progress with one thread, from between its steps");
}

/* ---- EINTR from fallocate and madvise ---- */

static struct {
	unsigned int calls, eintr;   /* calls; how many of the first fail with EINTR */
	int err_after;               /* then this errno (0: success) */
	atomic_bool *cancel_at_call; /* set it on the first call */
	uint64_t done_bytes;         /* what the successful calls covered */
	uint64_t next_off;           /* where the next call must start */
} fk_sys;

/* The range [4096, 12288), asked for whole or (fallocate after EINTR) in pieces, in order. */
static int fake_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (!fk_sys.next_off)
		fk_sys.next_off = 4096;
	TEST_ASSERT(fd == 7 && mode == 1 && (uint64_t)off == fk_sys.next_off && len > 0 &&
		    len % 4096 == 0 && (uint64_t)(off + len) <= 4096 + 8192,
		    "arguments passed on: off %lld len %lld", (long long)off, (long long)len);
	if (fk_sys.cancel_at_call)
		atomic_store(fk_sys.cancel_at_call, true);
	if (fk_sys.calls++ < fk_sys.eintr) {
		errno = EINTR;
		return -1;
	}
	errno = fk_sys.err_after;
	if (fk_sys.err_after)
		return -1;
	fk_sys.done_bytes += (uint64_t)len;
	fk_sys.next_off += (uint64_t)len;
	return 0;
}

static int fake_madvise(void *addr, size_t len, int advice)
{
	TEST_ASSERT(advice == MADV_POPULATE_WRITE, "advice passed on");
	return fake_fallocate(7, 1, (off_t)(uintptr_t)addr, (off_t)len);
}

static int call_sys(bool fallocate, atomic_bool *cancel)
{
	return fallocate ? __mem_fallocate(fake_fallocate, 7, 1, 4096, 8192, 4096, cancel) :
			   __mem_madvise(fake_madvise, (void *)4096, 8192, MADV_POPULATE_WRITE,
					 cancel);
}

/* A file whose fallocate() is interrupted whenever it asks for more than fk_max bytes. */
static uint64_t fk_max, fk_min_piece, fk_done;

static int fake_fallocate_small(int fd, int mode, off_t off, off_t len)
{
	if ((uint64_t)len > fk_max) {
		errno = EINTR;
		return -1;
	}
	if (!fk_min_piece || (uint64_t)len < fk_min_piece)
		fk_min_piece = (uint64_t)len;
	fk_done += (uint64_t)len;
	return 0;
}

/* The piece shrinks to the unit it is given (a page; a huge page for hugetlb), no further. */
static void test_fallocate_unit(void)
{
	const uint64_t huge = 2ull << 20, range = 4ull << 20;

	fk_max = 4096, fk_min_piece = 0, fk_done = 0;
	TEST_OK(__mem_fallocate(fake_fallocate_small, 7, 1, 0, range, 4096, NULL));
	TEST_ASSERT(fk_done == range && fk_min_piece == 4096,
		    "unit 4K: done %llu, smallest piece %llu", (unsigned long long)fk_done,
		    (unsigned long long)fk_min_piece);

	fk_max = huge, fk_min_piece = 0, fk_done = 0;
	TEST_OK(__mem_fallocate(fake_fallocate_small, 7, 1, 0, range, huge, NULL));
	TEST_ASSERT(fk_done == range && fk_min_piece == huge, "unit 2M: pieces of 2M");

	fk_max = 4096, fk_done = 0;
	TEST_ASSERT(__mem_fallocate(fake_fallocate_small, 7, 1, 0, range, huge, NULL) == -EINTR &&
		    fk_done == 0, "unit 2M: never below a huge page, gives up with EINTR");

	/* A range not made of whole units goes down to a page. */
	fk_max = 4096, fk_min_piece = 0, fk_done = 0;
	TEST_OK(__mem_fallocate(fake_fallocate_small, 7, 1, 4096, huge, huge, NULL));
	TEST_ASSERT(fk_done == huge && fk_min_piece == 4096, "unaligned range: 4K pieces");
	TEST_PASS("fallocate: an interrupted piece halves down to the backend's unit");
}

static void test_eintr(void)
{
	for (int fa = 0; fa <= 1; fa++) {
		const char *name = fa ? "fallocate" : "madvise";
		atomic_bool cancel = false;

		memset(&fk_sys, 0, sizeof(fk_sys));
		fk_sys.eintr = 5;
		TEST_OK(call_sys(fa, &cancel));
		/* fallocate: 8K interrupted, then 4K pieces: 4 more EINTRs, two pieces done. */
		TEST_ASSERT(fk_sys.calls == (fa ? 7u : 6u) && fk_sys.done_bytes == 8192,
			    "%s: 5 EINTRs retried, then success (%u calls)", name, fk_sys.calls);

		memset(&fk_sys, 0, sizeof(fk_sys));
		fk_sys.eintr = 2;
		fk_sys.err_after = ENOMEM;
		TEST_ASSERT(call_sys(fa, NULL) == -ENOMEM && fk_sys.calls == 3,
			    "%s: other errors returned at once", name);

		memset(&fk_sys, 0, sizeof(fk_sys));
		fk_sys.eintr = UINT32_MAX;
		/* fallocate: one call to halve the piece, then the retries of a page. */
		TEST_ASSERT(call_sys(fa, NULL) == -EINTR &&
			    fk_sys.calls == MEM_EINTR_MAX_RETRIES + (fa ? 2u : 1u),
			    "%s: endless EINTR gives up after %u calls", name, fk_sys.calls);

		memset(&fk_sys, 0, sizeof(fk_sys));
		fk_sys.eintr = UINT32_MAX;
		fk_sys.cancel_at_call = &cancel;
		TEST_ASSERT(call_sys(fa, &cancel) == -ECANCELED && fk_sys.calls == 1,
			    "%s: a cancel stops the retries", name);
	}
	TEST_PASS("fallocate and MADV_POPULATE_WRITE: EINTR retried (fallocate in halved "
		  "pieces), bounded, cancellable");
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
	uint64_t max_request;    /* the largest size asked for */
	atomic_bool *cancel;     /* set during call cancel_call */
	unsigned int cancel_call;
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
	if (pf->size > fk.max_request)
		fk.max_request = pf->size;
	if (fk.cancel && call == fk.cancel_call)
		atomic_store(fk.cancel, true);
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
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 2 * MiB, NULL, &done, &calls, &retries));
	TEST_ASSERT(done == 2 * MiB && calls == 4 && retries == 0, "done %llu calls %llu",
		    (unsigned long long)done, (unsigned long long)calls);

	/* [2M, 2M + 8K): one page, then ENOENT with 4K left. */
	fk = (struct fake_kvm){ .slot_end = 2 * MiB + PAGE, .per_call = 2 * MiB };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 2 * MiB, 2 * PAGE, NULL, &done, NULL,
					 NULL) == -ENOENT, "past the slot: ENOENT");
	TEST_ASSERT(done == PAGE, "one page done before ENOENT (%llu)", (unsigned long long)done);

	/* Entirely outside any slot. */
	fk = (struct fake_kvm){ .slot_end = 2 * MiB + PAGE, .per_call = 2 * MiB };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 2 * MiB + PAGE, PAGE, NULL, &done, NULL,
					 NULL) == -ENOENT && done == 0, "no slot: ENOENT");

	/* EINTR and EAGAIN (memslot changed) are retried, progress kept. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB,
				.errs = { 0, EINTR, EAGAIN, 0, EINTR } };
	calls = retries = 0;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, NULL, &done, &calls, &retries));
	TEST_ASSERT(done == 8 * MiB && retries == 3 && calls == 11, "done %llu calls %llu "
		    "retries %llu", (unsigned long long)done, (unsigned long long)calls,
		    (unsigned long long)retries);

	/* No TDP: nothing done, EOPNOTSUPP, not retried. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB, .errs = { EOPNOTSUPP } };
	calls = 0;
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, NULL, &done, &calls, NULL) ==
		    -EOPNOTSUPP && done == 0 && calls == 1, "EOPNOTSUPP at once");

	/* A failure after partial progress reports what was done. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB,
				.errs = { 0, 0, ENOMEM } };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, NULL, &done, NULL, NULL) ==
		    -ENOMEM && done == 2 * MiB, "ENOMEM after 2 MiB (%llu)",
		    (unsigned long long)done);

	/* A kernel claiming success without progress must not hang the loop. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB, .no_progress = true };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, NULL, &done, NULL, NULL) ==
		    -EPROTO && done == 0, "no progress: EPROTO");

	/* 16 EINTRs in a row are survived. */
	fk = (struct fake_kvm){ .slot_end = 64 * MiB, .per_call = MiB };
	for (unsigned int i = 0; i < 16; i++)
		fk.errs[i] = EINTR;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, NULL, &done, NULL, NULL));
	TEST_ASSERT(done == 8 * MiB, "16 EINTRs in a row are survived");
	TEST_PASS("pre-fault loop: partial progress, EINTR/EAGAIN retried, ENOENT/EOPNOTSUPP fail");
}

static void test_prefault_cancel(void)
{
	atomic_bool cancel = false;
	uint64_t done, calls;

	/* A kernel that would do it all at once is still asked 64 MiB at a time. */
	fk = (struct fake_kvm){ .slot_end = 1ull << 40, .per_call = 1ull << 40 };
	calls = 0;
	TEST_OK(__mem_prefault_range(fake_ioctl, 42, 0, 200 * MiB, &cancel, &done, &calls, NULL));
	TEST_ASSERT(done == 200 * MiB && calls == 4 && fk.max_request == MEM_PREFAULT_CALL_BYTES,
		    "200 MiB in %llu calls of at most %llu bytes", (unsigned long long)calls,
		    (unsigned long long)fk.max_request);

	/* Set during the third call: that one finishes, no fourth. */
	fk = (struct fake_kvm){ .slot_end = 1ull << 40, .per_call = MiB, .cancel = &cancel,
				.cancel_call = 2 };
	calls = 0;
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &cancel, &done, &calls,
					 NULL) == -ECANCELED, "cancelled");
	TEST_ASSERT(done == 3 * MiB && calls == 3, "stopped after the call it was in: done %llu "
		    "in %llu calls", (unsigned long long)done, (unsigned long long)calls);

	/* Endless EINTR (a signal storm) with a cancel: retries stop. */
	atomic_store(&cancel, false);
	fk = (struct fake_kvm){ .slot_end = 1ull << 40, .per_call = MiB, .cancel = &cancel,
				.cancel_call = 5 };
	for (unsigned int i = 0; i < 16; i++)
		fk.errs[i] = EINTR;
	calls = 0;
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &cancel, &done, &calls,
					 NULL) == -ECANCELED && calls == 6 && done == 0,
		    "EINTR no longer retried once cancelled (%llu calls)",
		    (unsigned long long)calls);

	/* Already set: no ioctl at all. */
	fk = (struct fake_kvm){ .slot_end = 1ull << 40, .per_call = MiB };
	TEST_ASSERT(__mem_prefault_range(fake_ioctl, 42, 0, 8 * MiB, &cancel, &done, NULL,
					 NULL) == -ECANCELED && fk.call == 0, "preset cancel");
	TEST_PASS("pre-fault loop: cancel seen between calls of at most 64 MiB");
}

int main(void)
{
	test_constants();
	test_nr_threads();
	test_split();
	test_parallel();
	test_cancel();
	test_thread_create_failure();
	test_single_thread_progress();
	test_eintr();
	test_fallocate_unit();
	test_prefault_loop();
	test_prefault_cancel();
	return 0;
}
