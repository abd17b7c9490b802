// SPDX-License-Identifier: MIT
/*
 * Reading saved memory: a region's chain of layer files (a full base and
 * diffs), each page from the newest layer that holds it. Only pread() and
 * lseek(SEEK_DATA/SEEK_HOLE) touch the files, never mmap, so a file
 * truncated under a restore is -EIO, not SIGBUS.
 */
#include "mem/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mem/fileio.h"

static uint64_t page_down(uint64_t x)
{
	return x / MEM_PAGE_BYTES * MEM_PAGE_BYTES;
}

static uint64_t page_up(uint64_t x)
{
	return page_down(x + MEM_PAGE_BYTES - 1);
}

static bool page_aligned(uint64_t x)
{
	return x % MEM_PAGE_BYTES == 0;
}

/* 0 if fd is a regular file of exactly size bytes; -EINVAL if not, -errno if fstat fails. */
static int check_file(int fd, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size != size)
		return -EINVAL;
	return 0;
}

/* Layer l's bitmap, page by page, marks owner[] (later layers win: called in order). */
static void mark_owner(uint8_t *owner, uint64_t pages, const uint64_t *present, uint8_t l)
{
	uint64_t words = (pages + MEM_SNAP_BITS_PER_WORD - 1) / MEM_SNAP_BITS_PER_WORD;

	for (uint64_t w = 0; w < words; w++) {
		uint64_t bits = present[w];

		while (bits) {
			uint64_t page = w * MEM_SNAP_BITS_PER_WORD +
					(uint64_t)__builtin_ctzll(bits);

			if (page < pages)
				owner[page] = l;
			bits &= bits - 1;
		}
	}
}

int mem_snap_src_init(struct mem_snap_src *s, unsigned int *bad_layer)
{
	uint64_t pages;
	int ret;

	s->owner = NULL;
	if (bad_layer)
		*bad_layer = 0;
	if (!s->size || !page_aligned(s->size) || s->size > MEM_MAX_BYTES ||
	    !s->nr_layers || s->nr_layers > MEM_SNAP_MAX_LAYERS)
		return -EINVAL;
	for (unsigned int l = 0; l < s->nr_layers; l++) {
		/* Layer 0 is the full base; every later one is a diff with a bitmap. */
		ret = (l == 0) != (s->layer[l].present == NULL) ? -EINVAL :
		      check_file(s->layer[l].fd, s->size);
		if (ret) {
			if (bad_layer)
				*bad_layer = l;
			return ret;
		}
	}
	pages = s->size / MEM_PAGE_BYTES;
	s->owner = calloc(pages, 1);
	if (!s->owner)
		return -ENOMEM;
	for (unsigned int l = 1; l < s->nr_layers; l++)
		mark_owner(s->owner, pages, s->layer[l].present, (uint8_t)l);
	return 0;
}

void mem_snap_src_release(struct mem_snap_src *s)
{
	free(s->owner);
	s->owner = NULL;
}

/* First page index in [page, end_page) whose owner differs from page's; end_page if none. */
static uint64_t owner_run_end(const struct mem_snap_src *s, uint64_t page, uint64_t end_page)
{
	uint8_t l = s->owner[page];

	if (s->nr_layers == 1)
		return end_page;
	while (page < end_page && s->owner[page] == l)
		page++;
	return page;
}

int mem_snap_src_read(const struct mem_snap_src *s, uint64_t off, void *buf, size_t len)
{
	uint64_t page, end_page;
	uint8_t *dst = buf;

	if (!s->owner || !page_aligned(off) || !page_aligned(len) || off > s->size ||
	    len > s->size - off)
		return -EINVAL;
	page = off / MEM_PAGE_BYTES;
	end_page = (off + len) / MEM_PAGE_BYTES;
	while (page < end_page) {
		uint64_t next = owner_run_end(s, page, end_page);
		uint64_t n = (next - page) * MEM_PAGE_BYTES;
		int ret = mem_pread_full(s->layer[s->owner[page]].fd, dst, n, page * MEM_PAGE_BYTES,
					 NULL, -EIO);

		if (ret)
			return ret;
		dst += n;
		page = next;
	}
	return 0;
}

/*
 * One call's memory of seek results per layer: SEEK_DATA (or SEEK_HOLE)
 * from `from` gave `at`, so it gives `at` from anywhere in [from, at].
 */
struct seek_memo {
	bool valid;
	uint64_t from, at;
};

struct seek_ctx {
	const struct mem_snap_src *s;
	struct seek_memo data[MEM_SNAP_MAX_LAYERS];
	struct seek_memo hole[MEM_SNAP_MAX_LAYERS];
};

/*
 * lseek(whence) on layer l from pos, in [pos, size]. ENXIO (no data after
 * pos, or pos past the end) is size, unless the file has become shorter
 * than size: -EIO. A file that cannot tell holes (EINVAL, ESPIPE,
 * EOPNOTSUPP) is all data.
 */
static int layer_seek(struct seek_ctx *c, unsigned int l, uint64_t pos, int whence,
		      uint64_t *res)
{
	struct seek_memo *m = whence == SEEK_DATA ? &c->data[l] : &c->hole[l];
	int fd = c->s->layer[l].fd;
	off_t got;

	if (m->valid && m->from <= pos && pos <= m->at) {
		*res = m->at;
		return 0;
	}
	got = lseek(fd, (off_t)pos, whence);
	if (got >= 0) {
		*res = (uint64_t)got < c->s->size ? (uint64_t)got : c->s->size;
	} else if (errno == ENXIO) {
		struct stat st;

		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_size < 0 || (uint64_t)st.st_size < c->s->size)
			return -EIO;
		*res = c->s->size;
	} else if (errno == EINVAL || errno == ESPIPE || errno == EOPNOTSUPP) {
		*res = whence == SEEK_DATA ? pos : c->s->size;
	} else {
		return -errno;
	}
	*m = (struct seek_memo){ .valid = true, .from = pos, .at = *res };
	return 0;
}

/*
 * The first data extent of layer l in [pos, run_end), in whole pages:
 * [*ds, *de) with *de <= run_end; *ds = run_end when there is none.
 */
static int layer_extent(struct seek_ctx *c, unsigned int l, uint64_t pos, uint64_t run_end,
			uint64_t *ds, uint64_t *de)
{
	uint64_t d, h;
	int ret = layer_seek(c, l, pos, SEEK_DATA, &d);

	if (ret)
		return ret;
	if (d >= run_end) {
		*ds = *de = run_end;
		return 0;
	}
	ret = layer_seek(c, l, d, SEEK_HOLE, &h);
	if (ret)
		return ret;
	*ds = page_down(d) > pos ? page_down(d) : pos;
	h = page_up(h);
	if (h <= *ds)
		h = *ds + MEM_PAGE_BYTES;   /* data inside the page: the page is data */
	*de = h < run_end ? h : run_end;
	return 0;
}

static int data_run(const struct mem_snap_src *s, uint64_t off, uint64_t end, bool need_stop,
		    uint64_t *start, uint64_t *stop)
{
	struct seek_ctx c = { .s = s };
	uint64_t pos = off, run_end = off, ds = end, de = end;
	unsigned int l = 0;
	int ret;

	if (!s->owner || !page_aligned(off) || !page_aligned(end) || off > end || end > s->size)
		return -EINVAL;
	/* The first owner run whose owner has data in it. */
	while (pos < end) {
		l = s->owner[pos / MEM_PAGE_BYTES];
		run_end = owner_run_end(s, pos / MEM_PAGE_BYTES, end / MEM_PAGE_BYTES) *
			  MEM_PAGE_BYTES;
		ret = layer_extent(&c, l, pos, run_end, &ds, &de);
		if (ret)
			return ret;
		if (ds < run_end)
			break;
		pos = run_end;
	}
	if (pos >= end) {
		*start = *stop = end;
		return 0;
	}
	*start = ds;
	/* Extend while the extent reaches its run's end and the next run starts with data. */
	while (need_stop && de == run_end && de < end) {
		uint64_t nds, nde;

		pos = de;
		l = s->owner[pos / MEM_PAGE_BYTES];
		run_end = owner_run_end(s, pos / MEM_PAGE_BYTES, end / MEM_PAGE_BYTES) *
			  MEM_PAGE_BYTES;
		ret = layer_extent(&c, l, pos, run_end, &nds, &nde);
		if (ret)
			return ret;
		if (nds != pos)
			break;
		de = nde;
	}
	*stop = de;
	return 0;
}

int mem_snap_src_data_run(const struct mem_snap_src *s, uint64_t off, uint64_t end,
			  uint64_t *start, uint64_t *stop)
{
	return data_run(s, off, end, true, start, stop);
}

int mem_snap_src_next_data(const struct mem_snap_src *s, uint64_t off, uint64_t *next)
{
	uint64_t stop;

	return data_run(s, off, s->size, false, next, &stop);
}
