// SPDX-License-Identifier: MIT
/*
 * Saving a region's memory into a sparse file, and checking a saved file's
 * chunk checksums.
 *
 * Each thread works through whole chunks (the checksum pieces, or
 * SAVE_UNIT_BYTES without checksums), a batch of pages at a time: it finds
 * which pages are backed without touching them (below), reads those and
 * skips the all-zero ones, and writes each run of data pages with one
 * pwritev() straight from guest memory. Pages a lazy restore has not
 * fetched yet come from the chain it restores from (opts->pending), and
 * the pages of a map restore the guest has not written from its base file
 * (opts->mapped), read into a per-thread buffer: in guest memory they
 * would look like holes.
 *
 * Which pages are backed, per region:
 *   - a file with meaningful SEEK_DATA (memfd: shmem counts swapped-out
 *     pages as data, which mincore() would miss): SEEK_DATA/SEEK_HOLE;
 *   - hugetlbfs (its SEEK_DATA calls everything data, and reading an
 *     unbacked page would allocate a huge page) and guest_memfd (no
 *     lseek): mincore() on the mapping (neither can be swapped);
 *   - anonymous memory: /proc/self/pagemap, present or swapped (mincore()
 *     misses swapped-out pages that are not in the swap cache); without
 *     pagemap, every page is read (an untouched page reads as the shared
 *     zero page, allocating nothing).
 */
#include "mem/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "mem/backend.h"
#include "mem/fileio.h"

/* Without checksums, threads split the region in units of this size. */
#define SAVE_UNIT_BYTES     (2ull << 20)
/* Each step of a thread covers about this much (whole units). */
#define SAVE_STEP_BYTES     (4ull << 20)
/* Pages classified (and pending pages buffered) at a time. */
#define SAVE_BATCH_PAGES    512u
#define SAVE_BATCH_BYTES    (SAVE_BATCH_PAGES * MEM_PAGE_BYTES)
/* iovecs per pwritev() at most. */
#define SAVE_IOV_MAX        (IOV_MAX < 1024 ? IOV_MAX : 1024)
/* Zeros fed to a checksum per update. */
#define ZERO_FEED_BYTES     (64u << 10)
/* Verify reads data in pieces of this size. */
#define VERIFY_BUF_BYTES    (1ull << 20)
#define PAGEMAP_PATH        "/proc/self/pagemap"
#define PAGEMAP_PRESENT     (1ull << 63)
#define PAGEMAP_SWAPPED     (1ull << 62)
#define PAGEMAP_FILE        (1ull << 61)   /* a file page (or shared anon) */

static const uint8_t zero_feed[ZERO_FEED_BYTES];

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool bit_test(const uint64_t *map, uint64_t page)
{
	return (map[page / MEM_SNAP_BITS_PER_WORD] >> (page % MEM_SNAP_BITS_PER_WORD)) & 1;
}

static bool bit_test_atomic(const _Atomic uint64_t *map, uint64_t page)
{
	return (atomic_load(&map[page / MEM_SNAP_BITS_PER_WORD]) >>
		(page % MEM_SNAP_BITS_PER_WORD)) & 1;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < MEM_PAGE_BYTES / sizeof(*w); i++)
		acc |= w[i];
	return acc == 0;
}

/* Feed len zero bytes to a checksum. */
static void hash_zeros(XXH3_state_t *st, uint64_t len)
{
	while (len) {
		size_t n = len < ZERO_FEED_BYTES ? (size_t)len : ZERO_FEED_BYTES;

		(void)XXH3_64bits_update(st, zero_feed, n);
		len -= n;
	}
}

/* XXH3-64 of len zero bytes (st is scratch). */
static uint64_t hash_of_zeros(XXH3_state_t *st, uint64_t len)
{
	(void)XXH3_64bits_reset(st);
	hash_zeros(st, len);
	return XXH3_64bits_digest(st);
}

/* pwritev() all of iov (modified as it goes); EINTR and short writes retried. */
static int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* How a region's backed pages are found (see the top of the file). */
enum backed_how {
	BACKED_SEEK,
	BACKED_MINCORE,
	BACKED_PAGEMAP,
	BACKED_MAPPED,      /* a map restore: pagemap, and the base file's data */
	BACKED_ALL,
};

/* Where a page's contents are (backed_pages()). */
enum page_where {
	WHERE_NONE,         /* unbacked: reads as zero */
	WHERE_MEM,          /* in guest memory */
	WHERE_SRC,          /* in the source file (a map restore's base) */
};

/* Per thread: the pending-page buffer, a checksum state, seek results. */
struct save_thread {
	uint8_t *bounce;
	XXH3_state_t *hash;
	uint64_t data_from, data_at;   /* SEEK_DATA from data_from gave data_at */
	uint64_t hole_from, hole_at;   /* SEEK_HOLE likewise */
	bool data_valid, hole_valid;
};

struct save_ctx {
	const struct mem_region *r;
	int out_fd;
	const struct mem_snap_save_opts *o;
	enum backed_how backed;
	int pagemap_fd;
	const struct mem_snap_src *src;   /* opts->pending, or the map restore's base */
	uint64_t unit;                 /* chunk bytes (or SAVE_UNIT_BYTES) */
	uint64_t zero_chunk_sum;       /* checksum of a whole zero chunk */
	struct save_thread t[MEM_POPULATE_MAX_THREADS];
	atomic_uint_fast64_t data_bytes, zero_pages, hole_pages, src_pages;
};

/* lseek on the region's file from pos, as seen from [0, size]; ENXIO is size. */
static int region_seek(const struct save_ctx *c, uint64_t pos, int whence, uint64_t *res)
{
	off_t got = lseek(c->r->fd, (off_t)pos, whence);

	*res = got < 0 || (uint64_t)got > c->r->size ? c->r->size : (uint64_t)got;
	return got < 0 && errno != ENXIO ? -errno : 0;
}

/* backed[i] for the n pages at off, by SEEK_DATA/SEEK_HOLE (memoized per thread). */
static int backed_seek(struct save_ctx *c, struct save_thread *t, uint64_t off, unsigned int n,
		       uint8_t *backed)
{
	uint64_t pos = off, end = off + (uint64_t)n * MEM_PAGE_BYTES;
	int ret;

	memset(backed, 0, n);
	while (pos < end) {
		uint64_t d, h;

		if (!(t->data_valid && t->data_from <= pos && pos <= t->data_at)) {
			ret = region_seek(c, pos, SEEK_DATA, &t->data_at);
			if (ret)
				return ret;
			t->data_from = pos;
			t->data_valid = true;
		}
		d = t->data_at / MEM_PAGE_BYTES * MEM_PAGE_BYTES;
		if (d < pos)
			d = pos;
		if (d >= end)
			break;
		if (!(t->hole_valid && t->hole_from <= d && d <= t->hole_at)) {
			ret = region_seek(c, d, SEEK_HOLE, &t->hole_at);
			if (ret)
				return ret;
			t->hole_from = d;
			t->hole_valid = true;
		}
		h = (t->hole_at + MEM_PAGE_BYTES - 1) / MEM_PAGE_BYTES * MEM_PAGE_BYTES;
		if (h <= d)
			h = d + MEM_PAGE_BYTES;
		if (h > end)
			h = end;
		memset(backed + (d - off) / MEM_PAGE_BYTES, 1, (h - d) / MEM_PAGE_BYTES);
		pos = h;
	}
	return 0;
}

/*
 * Anonymous memory by pagemap: present or swapped is in memory. A present
 * file page means the region is a file mapping (a map restore): without
 * opts->mapped its untouched pages would be lost as holes, so -EINVAL.
 */
static int backed_pagemap(struct save_ctx *c, uint64_t off, unsigned int n, uint8_t *backed)
{
	uint64_t ent[SAVE_BATCH_PAGES];
	uint64_t first = (uint64_t)(uintptr_t)(c->r->hva + off) / MEM_PAGE_BYTES;
	int ret = mem_pread_full(c->pagemap_fd, ent, (uint64_t)n * sizeof(ent[0]),
				 first * sizeof(ent[0]), NULL, -EIO);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < n; i++) {
		bool file = (ent[i] & PAGEMAP_PRESENT) && (ent[i] & PAGEMAP_FILE);

		if (file && c->backed != BACKED_MAPPED)
			return -EINVAL;
		backed[i] = (ent[i] & PAGEMAP_SWAPPED) || ((ent[i] & PAGEMAP_PRESENT) && !file) ?
			    WHERE_MEM : WHERE_NONE;
	}
	return 0;
}

/* A map restore: pages the guest wrote are in memory, the rest the base file's (or holes). */
static int backed_mapped(struct save_ctx *c, uint64_t off, unsigned int n, uint8_t *backed)
{
	uint64_t pos = off, end = off + (uint64_t)n * MEM_PAGE_BYTES;
	int ret = backed_pagemap(c, off, n, backed);

	while (!ret && pos < end) {
		uint64_t ds, de;

		ret = mem_snap_src_data_run(c->src, pos, end, &ds, &de);
		for (uint64_t p = ds; !ret && p < de; p += MEM_PAGE_BYTES) {
			uint8_t *b = &backed[(p - off) / MEM_PAGE_BYTES];

			if (*b == WHERE_NONE)
				*b = WHERE_SRC;
		}
		pos = de;
	}
	return ret;
}

static int backed_pages(struct save_ctx *c, struct save_thread *t, uint64_t off,
			unsigned int n, uint8_t *backed)
{
	switch (c->backed) {
	case BACKED_SEEK:
		return backed_seek(c, t, off, n, backed);
	case BACKED_MINCORE:
		if (mincore(c->r->hva + off, (size_t)n * MEM_PAGE_BYTES, backed) < 0)
			return -errno;
		for (unsigned int i = 0; i < n; i++)
			backed[i] &= 1;
		return 0;
	case BACKED_PAGEMAP:
		return backed_pagemap(c, off, n, backed);
	case BACKED_MAPPED:
		return backed_mapped(c, off, n, backed);
	case BACKED_ALL:
		memset(backed, 1, n);
		return 0;
	}
	return -EINVAL;
}

/* Page kinds within a batch. */
enum save_kind {
	KIND_SKIP,      /* not to be written (diff) */
	KIND_HOLE,      /* unbacked: not read */
	KIND_ZERO,      /* read, all zero */
	KIND_MEM,       /* data in guest memory */
	KIND_SRC,       /* from c->src (pending, or a map's base), in the thread's buffer */
};

/* The run of data pages being gathered for one pwritev(). */
struct save_run {
	struct iovec iov[SAVE_IOV_MAX];
	int n;
	uint64_t off;     /* file offset of the run */
	uint64_t len;
};

static int run_flush(struct save_ctx *c, struct save_run *w)
{
	int ret = 0;

	if (w->n) {
		ret = pwritev_full(c->out_fd, w->iov, w->n, w->off);
		if (!ret)
			atomic_fetch_add(&c->data_bytes, w->len);
	}
	w->n = 0;
	w->len = 0;
	return ret;
}

/* Add the page at off (contents p) to the run, flushing first when it cannot join. */
static int run_add(struct save_ctx *c, struct save_run *w, uint64_t off, uint8_t *p)
{
	struct iovec *last = w->n ? &w->iov[w->n - 1] : NULL;
	int ret;

	if (w->n && w->off + w->len != off) {
		ret = run_flush(c, w);
		if (ret)
			return ret;
		last = NULL;
	}
	if (!w->n)
		w->off = off;
	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += MEM_PAGE_BYTES;
	} else {
		if (w->n == SAVE_IOV_MAX) {
			ret = run_flush(c, w);
			if (ret)
				return ret;
			w->off = off;
		}
		w->iov[w->n++] = (struct iovec){ .iov_base = p, .iov_len = MEM_PAGE_BYTES };
	}
	w->len += MEM_PAGE_BYTES;
	return 0;
}

/* Sort the n pages at off into kinds; those of the source are read into the thread's buffer. */
static int batch_classify(struct save_ctx *c, struct save_thread *t, uint64_t off,
			  unsigned int n, uint8_t *kind)
{
	const struct mem_snap_save_opts *o = c->o;
	uint8_t backed[SAVE_BATCH_PAGES];
	uint64_t first = off / MEM_PAGE_BYTES;
	int ret = backed_pages(c, t, off, n, backed);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t page = first + i;

		if (o->only && !bit_test(o->only, page))
			kind[i] = KIND_SKIP;
		else if (o->pending && !bit_test_atomic(o->fetched, page))
			kind[i] = KIND_SRC;
		else
			kind[i] = backed[i] == WHERE_MEM ? KIND_MEM :
				  backed[i] == WHERE_SRC ? KIND_SRC : KIND_HOLE;
	}
	/* Each run of source pages: one read from the chain. */
	for (unsigned int i = 0; i < n;) {
		unsigned int j = i;

		if (kind[i] != KIND_SRC) {
			i++;
			continue;
		}
		while (j < n && kind[j] == KIND_SRC)
			j++;
		ret = mem_snap_src_read(c->src, off + (uint64_t)i * MEM_PAGE_BYTES,
					t->bounce + (uint64_t)i * MEM_PAGE_BYTES,
					(size_t)(j - i) * MEM_PAGE_BYTES);
		if (ret)
			return ret;
		atomic_fetch_add(&c->src_pages, j - i);
		i = j;
	}
	return 0;
}

/* Save one chunk [off, off + len): write its data pages and checksum it. */
static int save_chunk(struct save_ctx *c, struct save_thread *t, uint64_t off, uint64_t len,
		      uint64_t *sum)
{
	struct save_run w = { .n = 0 };
	uint64_t zeros = 0, holes = 0, zero_pages = 0;
	bool any_data = false;
	int ret = 0;

	if (t->hash)
		(void)XXH3_64bits_reset(t->hash);
	for (uint64_t pos = off; pos < off + len;) {
		uint64_t left = (off + len - pos) / MEM_PAGE_BYTES;
		unsigned int n = left < SAVE_BATCH_PAGES ? (unsigned int)left : SAVE_BATCH_PAGES;
		uint8_t kind[SAVE_BATCH_PAGES];

		ret = batch_classify(c, t, pos, n, kind);
		for (unsigned int i = 0; !ret && i < n; i++) {
			uint64_t at = pos + (uint64_t)i * MEM_PAGE_BYTES;
			uint8_t *p = kind[i] == KIND_SRC ?
				     t->bounce + (uint64_t)i * MEM_PAGE_BYTES : c->r->hva + at;

			holes += kind[i] == KIND_HOLE;
			if ((kind[i] == KIND_MEM || kind[i] == KIND_SRC) && page_is_zero(p))
				kind[i] = KIND_ZERO;
			zero_pages += kind[i] == KIND_ZERO;
			if (kind[i] != KIND_MEM && kind[i] != KIND_SRC) {
				zeros += MEM_PAGE_BYTES;
				continue;
			}
			if (t->hash) {
				hash_zeros(t->hash, zeros);
				(void)XXH3_64bits_update(t->hash, p, MEM_PAGE_BYTES);
			}
			zeros = 0;
			any_data = true;
			ret = run_add(c, &w, at, p);
		}
		/* The buffer is reused by the next batch: write what points into it. */
		if (!ret)
			ret = run_flush(c, &w);
		if (ret)
			return ret;
		pos += (uint64_t)n * MEM_PAGE_BYTES;
	}
	atomic_fetch_add(&c->hole_pages, holes);
	atomic_fetch_add(&c->zero_pages, zero_pages);
	if (t->hash) {
		if (!any_data) {
			*sum = len == c->unit ? c->zero_chunk_sum : hash_of_zeros(t->hash, len);
		} else {
			hash_zeros(t->hash, zeros);
			*sum = XXH3_64bits_digest(t->hash);
		}
	}
	return 0;
}

/* A step: chunks [first, first + count) (the engine runs in chunk units). */
static int save_step(void *ctx, unsigned int thread, uint64_t first, uint64_t count)
{
	struct save_ctx *c = ctx;

	for (uint64_t k = first; k < first + count; k++) {
		uint64_t off = k * c->unit;
		uint64_t len = c->r->size - off < c->unit ? c->r->size - off : c->unit;
		uint64_t sum = 0;
		int ret = save_chunk(c, &c->t[thread], off, len, &sum);

		if (ret)
			return ret;
		if (c->o->chunk_sums)
			c->o->chunk_sums[k] = sum;
	}
	return 0;
}

static int save_check(const struct mem_region *r, int out_fd, const struct mem_snap_save_opts *o)
{
	struct stat st;

	if (!mem_region_in_use(r) || !r->hva || !r->size || r->size % MEM_PAGE_BYTES ||
	    o->max_threads > MEM_POPULATE_MAX_THREADS ||
	    (o->pending == NULL) != (o->fetched == NULL) ||
	    (o->pending && (o->pending->size != r->size || !o->pending->owner)) ||
	    (o->mapped && (o->pending || r->fd >= 0 ||
			   mem_snap_map_base(o->mapped)->size != r->size)) ||
	    (o->chunk_bytes == 0) != (o->chunk_sums == NULL) ||
	    o->chunk_bytes % MEM_PAGE_BYTES)
		return -EINVAL;
	if (fstat(out_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size != 0)
		return -EINVAL;
	return 0;
}

/* How the region's backed pages are found; may open pagemap. */
static int save_pick_backed(struct save_ctx *c)
{
	const struct mem_region *r = c->r;
	struct statfs sfs;
	bool file = false;
	off_t hole;

	c->pagemap_fd = -1;
	if (r->fd >= 0) {
		if (fstatfs(r->fd, &sfs) < 0)
			return -errno;
		/*
		 * A real SEEK_HOLE from the last byte finds it or the end; a file
		 * without lseek fails (guest_memfd: ESPIPE), and a no-op lseek
		 * answers with the file offset.
		 */
		hole = lseek(r->fd, (off_t)(r->size - 1), SEEK_HOLE);
		c->backed = (unsigned long)sfs.f_type != HUGETLBFS_MAGIC &&
			    (hole == (off_t)r->size || hole == (off_t)r->size - 1) ?
			    BACKED_SEEK : BACKED_MINCORE;
		return 0;
	}
	/* A map restore's untouched pages would look like holes: it needs opts->mapped. */
	if (!c->o->mapped && !mem_snap_region_file_mapped(r, &file) && file)
		return -EINVAL;
	c->pagemap_fd = open(PAGEMAP_PATH, O_RDONLY | O_CLOEXEC);
	c->backed = c->pagemap_fd >= 0 ? BACKED_PAGEMAP : BACKED_ALL;
	/* Mapped from a file: without pagemap, reading every page through the mapping is right. */
	if (c->o->mapped && !mem_snap_map_is_detached(c->o->mapped)) {
		c->src = mem_snap_map_base(c->o->mapped);
		if (c->backed == BACKED_PAGEMAP)
			c->backed = BACKED_MAPPED;
	}
	return 0;
}

static void save_free(struct save_ctx *c)
{
	for (unsigned int i = 0; i < MEM_POPULATE_MAX_THREADS; i++) {
		free(c->t[i].bounce);
		if (c->t[i].hash)
			(void)XXH3_freeState(c->t[i].hash);
	}
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
}

/* fsync(), retried on EINTR. */
static int fsync_retry(int fd)
{
	while (fsync(fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int mem_snap_save_region(const struct mem_region *r, int out_fd,
			 const struct mem_snap_save_opts *opts,
			 struct mem_snap_save_report *rep)
{
	struct mem_parallel_result res;
	struct save_ctx *c;
	uint64_t t0 = now_ns(), chunks, per_step;
	unsigned int threads;
	int ret;

	memset(rep, 0, sizeof(*rep));
	ret = save_check(r, out_fd, opts);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->r = r;
	c->out_fd = out_fd;
	c->o = opts;
	c->pagemap_fd = -1;
	c->unit = opts->chunk_bytes ? opts->chunk_bytes : SAVE_UNIT_BYTES;
	c->src = opts->pending;
	ret = save_pick_backed(c);
	if (ret)
		goto out;
	chunks = mem_snap_nr_chunks(r->size, c->unit);
	per_step = c->unit < SAVE_STEP_BYTES ? SAVE_STEP_BYTES / c->unit : 1;
	threads = mem_populate_nr_threads(r->size, opts->max_threads, mem_online_cpus());
	if (threads > chunks)
		threads = (unsigned int)chunks;
	for (unsigned int i = 0; i < threads; i++) {
		if (c->src) {
			c->t[i].bounce = malloc(SAVE_BATCH_BYTES);
			if (!c->t[i].bounce) {
				ret = -ENOMEM;
				goto out;
			}
		}
		if (opts->chunk_sums) {
			c->t[i].hash = XXH3_createState();
			if (!c->t[i].hash) {
				ret = -ENOMEM;
				goto out;
			}
		}
	}
	if (opts->chunk_sums)
		c->zero_chunk_sum = hash_of_zeros(c->t[0].hash, c->unit);
	if (ftruncate(out_fd, (off_t)r->size) < 0) {
		ret = -errno;
		goto out;
	}
	ret = mem_parallel_run(chunks, 1, threads, per_step, save_step, c, NULL, NULL,
			       opts->cancel, &res);
	rep->threads = res.threads;
	if (!ret)
		ret = fsync_retry(out_fd);
	rep->data_bytes = atomic_load(&c->data_bytes);
	rep->zero_pages = atomic_load(&c->zero_pages);
	rep->hole_pages = atomic_load(&c->hole_pages);
	if (opts->pending)
		rep->pending_pages = atomic_load(&c->src_pages);
	else
		rep->mapped_pages = atomic_load(&c->src_pages);
out:
	save_free(c);
	free(c);
	rep->ns = now_ns() - t0;
	return ret;
}

/* ---- verify -------------------------------------------------------------- */

struct verify_ctx {
	int fd;
	uint64_t size, chunk;
	const uint64_t *sums;
	uint64_t zero_chunk_sum;
	uint8_t *buf[MEM_POPULATE_MAX_THREADS];
	XXH3_state_t *hash[MEM_POPULATE_MAX_THREADS];
	pthread_mutex_t lock;
	bool bad;
	uint64_t bad_chunk;            /* lowest mismatch found */
};

/* lseek on the file within [0, size]; ENXIO is size, no hole support: all data. */
static int verify_seek(const struct verify_ctx *v, uint64_t pos, int whence, uint64_t *res)
{
	off_t got = lseek(v->fd, (off_t)pos, whence);

	if (got < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
		*res = whence == SEEK_DATA ? pos : v->size;
		return 0;
	}
	if (got < 0 && errno != ENXIO)
		return -errno;
	*res = got < 0 || (uint64_t)got > v->size ? v->size : (uint64_t)got;
	return 0;
}

static int verify_chunk(struct verify_ctx *v, unsigned int thread, uint64_t off, uint64_t len,
			uint64_t *sum)
{
	XXH3_state_t *st = v->hash[thread];
	uint64_t pos = off, end = off + len;
	bool any_data = false;
	int ret;

	(void)XXH3_64bits_reset(st);
	while (pos < end) {
		uint64_t d, h;

		ret = verify_seek(v, pos, SEEK_DATA, &d);
		if (ret)
			return ret;
		if (d >= end)
			break;
		ret = verify_seek(v, d, SEEK_HOLE, &h);
		if (ret)
			return ret;
		if (h > end)
			h = end;
		hash_zeros(st, d - pos);
		for (uint64_t at = d; at < h;) {
			uint64_t n = h - at < VERIFY_BUF_BYTES ? h - at : VERIFY_BUF_BYTES;

			ret = mem_pread_full(v->fd, v->buf[thread], n, at, NULL, -EIO);
			if (ret)
				return ret;
			(void)XXH3_64bits_update(st, v->buf[thread], n);
			at += n;
		}
		any_data = true;
		pos = h;
	}
	if (!any_data) {
		*sum = len == v->chunk ? v->zero_chunk_sum : hash_of_zeros(st, len);
		return 0;
	}
	hash_zeros(st, end - pos);
	*sum = XXH3_64bits_digest(st);
	return 0;
}

static int verify_step(void *ctx, unsigned int thread, uint64_t first, uint64_t count)
{
	struct verify_ctx *v = ctx;

	for (uint64_t k = first; k < first + count; k++) {
		uint64_t off = k * v->chunk, sum;
		uint64_t len = v->size - off < v->chunk ? v->size - off : v->chunk;
		int ret = verify_chunk(v, thread, off, len, &sum);

		if (ret)
			return ret;
		if (sum != v->sums[k]) {
			/* Keep going: the answer is the lowest bad chunk, whatever the threads. */
			mem_pthread_must(pthread_mutex_lock(&v->lock));
			if (!v->bad || k < v->bad_chunk)
				v->bad_chunk = k;
			v->bad = true;
			mem_pthread_must(pthread_mutex_unlock(&v->lock));
		}
	}
	return 0;
}

int mem_snap_file_verify(int fd, uint64_t size, uint64_t chunk_bytes,
			 const uint64_t *chunk_sums, unsigned int max_threads,
			 const atomic_bool *cancel, uint64_t *bad_chunk)
{
	struct verify_ctx *v;
	struct mem_parallel_result res;
	uint64_t chunks = mem_snap_nr_chunks(size, chunk_bytes), per_step;
	unsigned int threads;
	struct stat st;
	int ret;

	if (!size || !chunk_bytes || !chunk_sums || max_threads > MEM_POPULATE_MAX_THREADS)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size != size)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = fd;
	v->size = size;
	v->chunk = chunk_bytes;
	v->sums = chunk_sums;
	ret = -pthread_mutex_init(&v->lock, NULL);
	if (ret) {
		free(v);
		return ret;
	}
	threads = mem_populate_nr_threads(size, max_threads, mem_online_cpus());
	if (threads > chunks)
		threads = (unsigned int)chunks;
	per_step = chunk_bytes < SAVE_STEP_BYTES ? SAVE_STEP_BYTES / chunk_bytes : 1;
	for (unsigned int i = 0; i < threads; i++) {
		v->buf[i] = malloc(VERIFY_BUF_BYTES);
		v->hash[i] = XXH3_createState();
		if (!v->buf[i] || !v->hash[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	v->zero_chunk_sum = hash_of_zeros(v->hash[0], chunk_bytes);
	ret = mem_parallel_run(chunks, 1, threads, per_step, verify_step, v, NULL, NULL, cancel,
			       &res);
	if (!ret && v->bad) {
		if (bad_chunk)
			*bad_chunk = v->bad_chunk;
		ret = -EBADMSG;
	}
out:
	for (unsigned int i = 0; i < threads; i++) {
		free(v->buf[i]);
		if (v->hash[i])
			(void)XXH3_freeState(v->hash[i]);
	}
	mem_pthread_must(pthread_mutex_destroy(&v->lock));
	free(v);
	return ret;
}
