// SPDX-License-Identifier: MIT
/*
 * The parallel engine behind population: threads released together, each
 * working through its contiguous share in steps, the first failure (or a
 * cancel request) stopping the rest. Cloud Hypervisor's prefault and QEMU's
 * prealloc do the same with MADV_POPULATE_WRITE; here the step is a
 * function, so fallocate, madvise, write and fill-by-copy share one engine.
 */
#include "mem/populate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "mem/backend.h"

/* How often progress is reported. */
#define PARALLEL_PROGRESS_NS 100000000ull
/* How often the caller's thread looks at the workers while they run. */
#define PARALLEL_POLL_NS     10000000L

unsigned int mem_populate_nr_threads(uint64_t size, unsigned int max_threads,
				     unsigned int online_cpus)
{
	uint64_t n = size / MEM_POPULATE_CHUNK_BYTES;

	if (max_threads && n > max_threads)
		n = max_threads;
	if (online_cpus && n > online_cpus)
		n = online_cpus;
	if (n > MEM_POPULATE_MAX_THREADS)
		n = MEM_POPULATE_MAX_THREADS;
	return n ? (unsigned int)n : 1;
}

void mem_populate_split(uint64_t size, uint64_t align, unsigned int n,
			uint64_t *off, uint64_t *len)
{
	uint64_t units = align ? size / align : 0, pos = 0;

	/* Whole align units, the first (units % n) parts one unit longer. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t u = units / n + (i < units % n ? 1 : 0);

		off[i] = pos;
		len[i] = u * align;
		pos += len[i];
	}
}

struct parallel_ctx {
	/* Workers wait for go, so that all start together (or none, on failure). */
	pthread_mutex_t go_lock;
	pthread_cond_t go_cond;
	bool go;
	mem_step_fn step;
	void *ctx;
	uint64_t step_bytes;
	const atomic_bool *cancel;
	atomic_bool failed;
	atomic_uint_fast64_t done;
	pthread_mutex_t lock;     /* guards the first-error fields of res */
	struct mem_parallel_result *res;
	/* When one thread does all the work, it reports progress between steps. */
	mem_progress_fn step_progress;
	void *progress_arg;
	uint64_t size;
	uint64_t next_report_ns;
};

struct parallel_worker {
	struct parallel_ctx *pc;
	unsigned int index;
	uint64_t off, len;
	pthread_t thread;
};

static uint64_t parallel_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;   /* cannot happen; progress would only come late */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void parallel_fail(struct parallel_ctx *pc, int err, uint64_t off, bool cancelled)
{
	mem_pthread_must(pthread_mutex_lock(&pc->lock));
	if (!pc->res->err) {
		pc->res->err = err;
		pc->res->err_off = off;
		pc->res->cancelled = cancelled;
	}
	mem_pthread_must(pthread_mutex_unlock(&pc->lock));
	atomic_store(&pc->failed, true);
}

static int parallel_share(struct parallel_worker *w)
{
	struct parallel_ctx *pc = w->pc;
	uint64_t pos = 0;

	while (pos < w->len) {
		uint64_t n = w->len - pos < pc->step_bytes ? w->len - pos : pc->step_bytes;
		int ret;

		if (atomic_load(&pc->failed))
			return -ECANCELED;
		if (pc->cancel && atomic_load(pc->cancel)) {
			parallel_fail(pc, -ECANCELED, w->off + pos, true);
			return -ECANCELED;
		}
		ret = pc->step(pc->ctx, w->index, w->off + pos, n);
		if (ret) {
			parallel_fail(pc, ret, w->off + pos, false);
			return ret;
		}
		pos += n;
		atomic_fetch_add(&pc->done, n);
		if (pc->step_progress && parallel_now_ns() >= pc->next_report_ns) {
			pc->step_progress(pc->progress_arg, atomic_load(&pc->done), pc->size);
			pc->next_report_ns = parallel_now_ns() + PARALLEL_PROGRESS_NS;
		}
	}
	return 0;
}

static void *parallel_thread(void *arg)
{
	struct parallel_worker *w = arg;
	struct parallel_ctx *pc = w->pc;

	mem_pthread_must(pthread_mutex_lock(&pc->go_lock));
	while (!pc->go)
		mem_pthread_must(pthread_cond_wait(&pc->go_cond, &pc->go_lock));
	mem_pthread_must(pthread_mutex_unlock(&pc->go_lock));
	pc->res->thread_err[w->index] = parallel_share(w);
	return NULL;
}

/* On the caller's thread: release the workers, report progress until they are done. */
static void parallel_wait(struct parallel_ctx *pc, struct parallel_worker *w,
			  unsigned int n, uint64_t size, mem_progress_fn progress, void *arg)
{
	mem_pthread_must(pthread_mutex_lock(&pc->go_lock));
	pc->go = true;
	mem_pthread_must(pthread_cond_broadcast(&pc->go_cond));
	mem_pthread_must(pthread_mutex_unlock(&pc->go_lock));
	if (progress) {
		uint64_t next = parallel_now_ns() + PARALLEL_PROGRESS_NS;

		for (;;) {
			uint64_t done = atomic_load(&pc->done);
			struct timespec ts = { 0, PARALLEL_POLL_NS };

			if (done >= size || atomic_load(&pc->failed))
				break;
			if (parallel_now_ns() >= next) {
				progress(arg, done, size);
				next += PARALLEL_PROGRESS_NS;
			}
			/* Interrupted early: only looks again sooner. */
			(void)nanosleep(&ts, NULL);
		}
	}
	/* A worker that cannot be joined may still use pc, which is on our stack. */
	for (unsigned int i = 0; i < n; i++)
		mem_pthread_must(pthread_join(w[i].thread, NULL));
	if (progress && !atomic_load(&pc->failed))
		progress(arg, atomic_load(&pc->done), size);
}

/*
 * Create up to threads workers over their shares of [0, size), parked until
 * go. When a create fails, the ones created take over the whole range
 * (they have not started yet). Returns how many were created.
 */
static unsigned int parallel_start(mem_thread_create_fn create, struct parallel_ctx *pc,
				   struct parallel_worker *w, unsigned int threads,
				   uint64_t size, uint64_t align)
{
	uint64_t off[MEM_POPULATE_MAX_THREADS], len[MEM_POPULATE_MAX_THREADS];
	unsigned int started;

	mem_populate_split(size, align, threads, off, len);
	for (started = 0; started < threads; started++) {
		int err;

		w[started] = (struct parallel_worker){ .pc = pc, .index = started,
						       .off = off[started], .len = len[started] };
		err = create(&w[started].thread, NULL, parallel_thread, &w[started]);
		if (err) {
			pc->res->thread_create_err = -err;
			break;
		}
	}
	if (started && started < threads) {
		/* Read by the workers only after go, under go_lock. */
		mem_populate_split(size, align, started, off, len);
		for (unsigned int i = 0; i < started; i++) {
			w[i].off = off[i];
			w[i].len = len[i];
		}
	}
	return started;
}

int __mem_parallel_run(mem_thread_create_fn create, uint64_t size, uint64_t align,
		       unsigned int threads, uint64_t step_bytes, mem_step_fn step, void *ctx,
		       mem_progress_fn progress, void *progress_arg,
		       const atomic_bool *cancel, struct mem_parallel_result *res)
{
	struct parallel_worker w[MEM_POPULATE_MAX_THREADS];
	struct parallel_ctx pc = {
		.step = step, .ctx = ctx, .step_bytes = step_bytes, .cancel = cancel,
		.res = res,
	};
	unsigned int started = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!threads || threads > MEM_POPULATE_MAX_THREADS || !align || !step_bytes ||
	    size % align || step_bytes % align)
		return -EINVAL;
	res->threads_wanted = threads;
	ret = -pthread_mutex_init(&pc.lock, NULL);
	if (ret)
		return res->err = ret;
	ret = -pthread_mutex_init(&pc.go_lock, NULL);
	if (ret)
		goto out_lock;
	ret = -pthread_cond_init(&pc.go_cond, NULL);
	if (ret)
		goto out_go_lock;

	if (threads > 1)
		started = parallel_start(create, &pc, w, threads, size, align);
	if (started) {
		res->threads = started;
		parallel_wait(&pc, w, started, size, progress, progress_arg);
	} else {
		/* One thread asked for, or none could be made: the caller does it all. */
		w[0] = (struct parallel_worker){ .pc = &pc, .index = 0, .off = 0, .len = size };
		res->threads = 1;
		pc.step_progress = progress;
		pc.progress_arg = progress_arg;
		pc.size = size;
		pc.next_report_ns = parallel_now_ns() + PARALLEL_PROGRESS_NS;
		res->thread_err[0] = parallel_share(&w[0]);
		if (progress && !res->err)
			progress(progress_arg, atomic_load(&pc.done), size);
	}
	res->done = atomic_load(&pc.done);
	ret = res->err;
	mem_pthread_must(pthread_cond_destroy(&pc.go_cond));
out_go_lock:
	mem_pthread_must(pthread_mutex_destroy(&pc.go_lock));
out_lock:
	mem_pthread_must(pthread_mutex_destroy(&pc.lock));
	res->err = ret;
	return ret;
}

int mem_parallel_run(uint64_t size, uint64_t align, unsigned int threads,
		     uint64_t step_bytes, mem_step_fn step, void *ctx,
		     mem_progress_fn progress, void *progress_arg,
		     const atomic_bool *cancel, struct mem_parallel_result *res)
{
	return __mem_parallel_run(pthread_create, size, align, threads, step_bytes, step, ctx,
				  progress, progress_arg, cancel, res);
}
