// SPDX-License-Identifier: MIT
/*
 * Eager restore: fill a fresh region from its chain of memory files on the
 * parallel engine, copying the data runs only (holes are already zero in a
 * fresh region).
 *
 *   write          read a run into a per-thread buffer, pwrite() it into
 *                  the region's file (memfd; guest_memfd where the kernel
 *                  has write(), which mem_region_caps() finds by trial)
 *   populate+copy  MADV_POPULATE_WRITE the run, then pread() the files
 *                  straight into the mapping (every backend)
 *   read+memcpy    the baseline for benchmarks: one thread, read() into a
 *                  buffer, memcpy() into the mapping (faulting as it goes)
 *
 * Runs are widened to whole 2 MiB pages on hugetlb (which can only be
 * populated that way) and where the region is advised MADV_HUGEPAGE, so a
 * restore keeps huge pages. With prealloc other than none, each thread also
 * populates the holes between its runs with the region's population
 * strategy as it goes (so no page is touched twice); with none they stay
 * unbacked.
 *
 * The files are only read with pread(): a file truncated under the fill is
 * -EIO, never SIGBUS.
 */
#include "mem/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/fileio.h"

/* Zeros written per call when holes are populated with write(). */

static const char *const fill_names[MEM_SNAP_FILL_NR] = {
	[MEM_SNAP_FILL_WRITE] = "write",
	[MEM_SNAP_FILL_POPULATE_COPY] = "populate+copy",
	[MEM_SNAP_FILL_READ_MEMCPY] = "read+memcpy",
};

const char *mem_snap_fill_name(enum mem_snap_fill_how how)
{
	return (unsigned int)how < MEM_SNAP_FILL_NR ? fill_names[how] : NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct fill_ctx {
	struct mem_region *r;
	const struct mem_snap_src *src;
	enum mem_snap_fill_how how;
	enum mem_populate_strategy holes;   /* NONE: holes stay unbacked */
	uint64_t unit;                      /* runs are widened to this, in guest-physical terms */
	bool write_serial;                  /* the file takes write() but not pwrite() */
	pthread_mutex_t write_lock;         /* for write_serial: lseek + write */
	const atomic_bool *cancel;
	uint8_t *bounce[MEM_POPULATE_MAX_THREADS];
	atomic_uint_fast64_t data_bytes;
};

/* Write len bytes at off into the region's file, from buf or (NULL) zeros. */
static int fill_write(struct fill_ctx *c, const uint8_t *buf, uint64_t len, uint64_t off)
{
	const struct mem_file_writer w = {
		.fd = c->r->fd, .serial = c->write_serial, .lock = &c->write_lock,
		.cancel = c->cancel,
	};

	return mem_file_write(&w, buf, len, off);
}

/* Back the hole [off, off + len) with the chosen strategy (nothing for none). */
static int fill_hole(struct fill_ctx *c, uint64_t off, uint64_t len)
{
	struct mem_region *r = c->r;

	if (!len)
		return 0;
	switch (c->holes) {
	case MEM_POPULATE_NONE:
		return 0;
	case MEM_POPULATE_FALLOCATE:
		return __mem_fallocate(fallocate, r->fd, FALLOC_FL_KEEP_SIZE, off, len,
				       r->ops->align, c->cancel);
	case MEM_POPULATE_MADVISE:
		return __mem_madvise(madvise, r->hva + off, len, MADV_POPULATE_WRITE, c->cancel);
	case MEM_POPULATE_WRITE:
		return fill_write(c, NULL, len, off);
	default:
		return -EINVAL;
	}
}

/* Copy [off, off + len) of the saved contents into the region. */
static int fill_copy(struct fill_ctx *c, unsigned int thread, uint64_t off, uint64_t len)
{
	struct mem_region *r = c->r;
	int ret;

	switch (c->how) {
	case MEM_SNAP_FILL_WRITE:
		ret = mem_snap_src_read(c->src, off, c->bounce[thread], len);
		if (!ret)
			ret = fill_write(c, c->bounce[thread], len, off);
		break;
	case MEM_SNAP_FILL_POPULATE_COPY:
		ret = __mem_madvise(madvise, r->hva + off, len, MADV_POPULATE_WRITE, c->cancel);
		if (!ret)
			ret = mem_snap_src_read(c->src, off, r->hva + off, len);
		break;
	case MEM_SNAP_FILL_READ_MEMCPY:
		ret = mem_snap_src_read(c->src, off, c->bounce[thread], len);
		if (!ret)
			memcpy(r->hva + off, c->bounce[thread], len);
		break;
	default:
		ret = -EINVAL;
	}
	if (!ret)
		atomic_fetch_add(&c->data_bytes, len);
	return ret;
}

/* Widen [*ds, *de) to whole units (in guest-physical terms), within [lo, hi). */
static void widen(const struct fill_ctx *c, uint64_t lo, uint64_t hi, uint64_t *ds, uint64_t *de)
{
	uint64_t head = (c->r->gpa + *ds) % c->unit;
	uint64_t tail = (c->unit - (c->r->gpa + *de) % c->unit) % c->unit;

	*ds = *ds - lo < head ? lo : *ds - head;
	*de = hi - *de < tail ? hi : *de + tail;
}

/* A step: the data runs of [off, off + len) copied, the holes between them backed or not. */
static int fill_step(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct fill_ctx *c = ctx;
	uint64_t pos = off, end = off + len;
	int ret;

	while (pos < end) {
		uint64_t ds, de;

		ret = mem_snap_src_data_run(c->src, pos, end, &ds, &de);
		if (ret)
			return ret;
		if (ds >= end)
			return fill_hole(c, pos, end - pos);
		widen(c, pos, end, &ds, &de);
		ret = fill_hole(c, pos, ds - pos);
		if (!ret)
			ret = fill_copy(c, thread, ds, de - ds);
		if (ret)
			return ret;
		pos = de;
	}
	return 0;
}

/*
 * Choose how to copy and how to back holes: the trials of mem_region_caps()
 * run on the block of the first data page (filled anyway), or on the first
 * block when there is no data but the region is preallocated.
 */
static int fill_choose(struct fill_ctx *c, const struct mem_snap_fill_opts *o,
		       struct mem_snap_fill_report *rep)
{
	struct mem_region *r = c->r;
	struct mem_populate_caps caps = { 0 };
	uint64_t first;
	bool have_caps = false;
	int ret = mem_snap_src_next_data(c->src, 0, &first);

	if (ret)
		return ret;
	if (first < r->size || o->prealloc != MEM_POPULATE_NONE) {
		uint64_t at = first < r->size ? first / r->ops->align * r->ops->align : 0;

		ret = mem_region_caps(r, at, &caps);
		if (ret)
			return ret;
		have_caps = true;
		c->write_serial = caps.write_serial;
	}
	if (o->force) {
		c->how = o->how;
		if (o->how == MEM_SNAP_FILL_WRITE && (r->fd < 0 || (have_caps && !caps.write))) {
			snprintf(rep->why, sizeof(rep->why), "%s",
				 r->fd < 0 ? "the region has no file" : caps.why_no_write);
			return -EOPNOTSUPP;
		}
	} else if (have_caps && caps.write) {
		c->how = MEM_SNAP_FILL_WRITE;
	} else {
		c->how = MEM_SNAP_FILL_POPULATE_COPY;
		snprintf(rep->why, sizeof(rep->why), "%s",
			 !have_caps ? "no data to copy" : caps.why_no_write);
	}
	c->holes = MEM_POPULATE_NONE;
	if (o->prealloc != MEM_POPULATE_NONE) {
		char why[sizeof(rep->why)];

		ret = mem_populate_choose(o->prealloc, r->ops->populate_order,
					  r->ops->populate_order_len, &caps, &c->holes,
					  why, sizeof(why));
		if (ret) {
			snprintf(rep->why, sizeof(rep->why), "%s", why);
			return ret;
		}
	}
	return 0;
}

/* Unit the engine splits by: c->unit where the region is made of whole units, else align. */
static uint64_t fill_split_unit(const struct fill_ctx *c)
{
	const struct mem_region *r = c->r;

	if (r->gpa % c->unit == 0 && r->size % c->unit == 0 &&
	    MEM_POPULATE_STEP_BYTES % c->unit == 0)
		return c->unit;
	return r->ops->align;
}

int mem_snap_fill_region(struct guest_mem *gm, unsigned int index,
			 const struct mem_snap_src *src, const struct mem_snap_fill_opts *opts,
			 struct mem_snap_fill_report *rep)
{
	struct mem_parallel_result res;
	struct fill_ctx *c;
	struct mem_region *r;
	uint64_t t0 = now_ns();
	unsigned int threads;
	int ret;

	memset(rep, 0, sizeof(*rep));
	if (index >= gm->nr_regions || !mem_region_in_use(&gm->region[index]))
		return -EINVAL;
	r = &gm->region[index];
	if (!src->owner || src->size != r->size || opts->max_threads > MEM_POPULATE_MAX_THREADS ||
	    (opts->force && (unsigned int)opts->how >= MEM_SNAP_FILL_NR) ||
	    (unsigned int)opts->prealloc >= MEM_POPULATE_NR)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->r = r;
	c->src = src;
	c->cancel = opts->cancel;
	c->unit = r->ops->align;
	if (r->thp_advice == MEM_THP_ADVICE_HUGE && c->unit < MEM_HUGE_PAGE_BYTES)
		c->unit = MEM_HUGE_PAGE_BYTES;
	ret = -pthread_mutex_init(&c->write_lock, NULL);
	if (ret) {
		free(c);
		return ret;
	}
	ret = fill_choose(c, opts, rep);
	rep->how = c->how;
	if (ret)
		goto out;
	threads = c->how == MEM_SNAP_FILL_READ_MEMCPY ? 1 :
		  mem_populate_nr_threads(r->size, opts->max_threads, mem_online_cpus());
	for (unsigned int i = 0; c->how != MEM_SNAP_FILL_POPULATE_COPY && i < threads; i++) {
		c->bounce[i] = malloc(MEM_POPULATE_STEP_BYTES);
		if (!c->bounce[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = mem_parallel_run(r->size, fill_split_unit(c), threads, MEM_POPULATE_STEP_BYTES,
			       fill_step, c, opts->progress, opts->progress_arg, opts->cancel,
			       &res);
	rep->threads = res.threads;
out:
	rep->data_bytes = atomic_load(&c->data_bytes);
	for (unsigned int i = 0; i < MEM_POPULATE_MAX_THREADS; i++)
		free(c->bounce[i]);
	mem_pthread_must(pthread_mutex_destroy(&c->write_lock));
	free(c);
	rep->ns = now_ns() - t0;
	return ret;
}
