// SPDX-License-Identifier: MIT
/*
 * The parallel engine behind population: threads released together, each working through its contiguous share in steps, the first
 * failure stopping the rest. Cloud Hypervisor's prefault and QEMU's
 * prealloc do the same with MADV_POPULATE_WRITE; here the step is a
 * function, so fallocate, madvise, write and fill-by-copy share one engine.
 */
#include "mem/populate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* How often the caller's thread reports progress. */
#define PARALLEL_PROGRESS_NS 100000000ull

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
	atomic_bool failed;
	atomic_uint_fast64_t done;
	pthread_mutex_t lock;     /* guards the first-error fields of res */
	struct mem_parallel_result *res;
};

struct parallel_worker {
	struct parallel_ctx *pc;
	unsigned int index;
	uint64_t off, len;
	pthread_t thread;
};

static void parallel_fail(struct parallel_ctx *pc, int err, uint64_t off)
{
	pthread_mutex_lock(&pc->lock);
	if (!pc->res->err) {
		pc->res->err = err;
		pc->res->err_off = off;
	}
	pthread_mutex_unlock(&pc->lock);
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
		ret = pc->step(pc->ctx, w->index, w->off + pos, n);
		if (ret) {
			parallel_fail(pc, ret, w->off + pos);
			return ret;
		}
		pos += n;
		atomic_fetch_add(&pc->done, n);
	}
	return 0;
}

static void *parallel_thread(void *arg)
{
	struct parallel_worker *w = arg;
	struct parallel_ctx *pc = w->pc;

	pthread_mutex_lock(&pc->go_lock);
	while (!pc->go)
		pthread_cond_wait(&pc->go_cond, &pc->go_lock);
	pthread_mutex_unlock(&pc->go_lock);
	pc->res->thread_err[w->index] = parallel_share(w);
	return NULL;
}

static uint64_t parallel_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* On the caller's thread: report progress until every worker has finished. */
static void parallel_wait(struct parallel_ctx *pc, struct parallel_worker *w,
			  unsigned int n, uint64_t size, mem_progress_fn progress, void *arg)
{
	if (progress) {
		uint64_t next = parallel_now_ns() + PARALLEL_PROGRESS_NS;

		for (;;) {
			uint64_t done = atomic_load(&pc->done);
			struct timespec ts = { 0, 10000000 };  /* 10 ms */

			if (done >= size || atomic_load(&pc->failed))
				break;
			if (parallel_now_ns() >= next) {
				progress(arg, done, size);
				next += PARALLEL_PROGRESS_NS;
			}
			nanosleep(&ts, NULL);
		}
	}
	for (unsigned int i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
	if (progress && !atomic_load(&pc->failed))
		progress(arg, atomic_load(&pc->done), size);
}

int mem_parallel_run(uint64_t size, uint64_t align, unsigned int threads,
		     uint64_t step_bytes, mem_step_fn step, void *ctx,
		     mem_progress_fn progress, void *progress_arg,
		     struct mem_parallel_result *res)
{
	struct parallel_worker w[MEM_POPULATE_MAX_THREADS];
	uint64_t off[MEM_POPULATE_MAX_THREADS], len[MEM_POPULATE_MAX_THREADS];
	struct parallel_ctx pc = {
		.step = step, .ctx = ctx, .step_bytes = step_bytes, .res = res,
	};
	unsigned int started = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!threads || threads > MEM_POPULATE_MAX_THREADS || !align || !step_bytes ||
	    size % align || step_bytes % align)
		return -EINVAL;
	res->threads = threads;
	mem_populate_split(size, align, threads, off, len);
	pthread_mutex_init(&pc.lock, NULL);      /* default attributes: cannot fail */
	pthread_mutex_init(&pc.go_lock, NULL);
	pthread_cond_init(&pc.go_cond, NULL);
	for (unsigned int i = 0; i < threads; i++)
		w[i] = (struct parallel_worker){ .pc = &pc, .index = i, .off = off[i], .len = len[i] };

	if (threads == 1) {
		res->thread_err[0] = parallel_share(&w[0]);
		if (progress && !res->err)
			progress(progress_arg, atomic_load(&pc.done), size);
		goto out;
	}
	for (started = 0; started < threads; started++) {
		ret = pthread_create(&w[started].thread, NULL, parallel_thread, &w[started]);
		if (ret)
			break;
	}
	if (started < threads) {
		/* The started threads find the run failed and do nothing. */
		parallel_fail(&pc, -ret, off[started]);
		for (unsigned int i = started; i < threads; i++)
			res->thread_err[i] = -ret;
	}
	pthread_mutex_lock(&pc.go_lock);
	pc.go = true;
	pthread_cond_broadcast(&pc.go_cond);
	pthread_mutex_unlock(&pc.go_lock);
	parallel_wait(&pc, w, started, size, started == threads ? progress : NULL,
		      progress_arg);
out:
	res->done = atomic_load(&pc.done);
	pthread_cond_destroy(&pc.go_cond);
	pthread_mutex_destroy(&pc.go_lock);
	pthread_mutex_destroy(&pc.lock);
	return res->err;
}
