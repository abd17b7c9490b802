// SPDX-License-Identifier: MIT
/*
 * Lazy restore, the background side (mem/lazy.h, mem/lazy_int.h): the
 * thread that fills the region chunk by chunk while the guest runs, and the
 * userfaultfd operations both threads put pages in place with.
 *
 * A chunk is 2 MiB of the region, aligned to 2 MiB of its mapping (the first
 * and last may be shorter). Per chunk, from the snapshot's data runs
 * (mem_snap_src_data_run()): hole pages are claimed and left unbacked; the
 * data of pages nobody claimed yet is read first (copy, minor: into a chunk
 * buffer; move: into the staging mapping at the same offsets), then the
 * pages are claimed one by one and the runs this thread won are put in
 * place with one ioctl each. Copy and minor leave all-zero pages unbacked
 * too; move moves whole runs, holes skipped by the kernel, so that a run
 * costs one TLB flush. Reading before claiming keeps the time a fault waits
 * on a claimed page down to about one ioctl.
 *
 * When every chunk is done and every page fetched, the range is
 * unregistered (pages left unbacked then fault as ordinary zero pages),
 * collapsed into 2 MiB pages if asked and advised, and measured.
 */
#include "mem/lazy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/fileio.h"
#include "mem/kvm_compat.h"
#include "mem/pthread_must.h"
#include "mem/thp.h"

/* EAGAIN without progress (the mm is changing under the ioctl): retries before giving up. */
#define LAZY_EAGAIN_MAX       1000u
/* The final wait for faults still being served: how often it looks again. */
#define LAZY_FINAL_WAIT_NS    1000000L
#define LAZY_SMAPS            "/proc/self/smaps"
#define LAZY_COLLAPSE_TRIES   5u
#define LAZY_COLLAPSE_PAUSE_NS 2000000L

uint64_t lazy_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * LAZY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

bool lazy_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < LAZY_PAGE_BYTES / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* One ioctl; *progress gets the bytes done (or the negated error) it reports. */
static int uffd_ioctl_once(struct mem_lazy *l, enum lazy_op op, uint64_t dst, const uint8_t *src,
			   uint64_t len, int64_t *progress)
{
	int ret;

	switch (op) {
	case LAZY_OP_COPY: {
		struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len };

		ret = ioctl(l->uffd, UFFDIO_COPY, &c) < 0 ? -errno : 0;
		*progress = c.copy;
		return ret;
	}
	case LAZY_OP_MOVE:
	case LAZY_OP_MOVE_HOLES: {
		struct uffdio_move m = {
			.dst = dst, .src = (uintptr_t)src, .len = len,
			.mode = op == LAZY_OP_MOVE_HOLES ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0,
		};

		ret = ioctl(l->uffd, UFFDIO_MOVE, &m) < 0 ? -errno : 0;
		*progress = m.move;
		return ret;
	}
	case LAZY_OP_CONTINUE: {
		struct uffdio_continue c = { .range = { .start = dst, .len = len } };

		ret = ioctl(l->uffd, UFFDIO_CONTINUE, &c) < 0 ? -errno : 0;
		*progress = c.mapped;
		return ret;
	}
	case LAZY_OP_ZEROPAGE: {
		struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };

		ret = ioctl(l->uffd, UFFDIO_ZEROPAGE, &z) < 0 ? -errno : 0;
		*progress = z.zeropage;
		return ret;
	}
	}
	return -EINVAL;
}

int lazy_uffd_op(struct mem_lazy *l, enum lazy_op op, uint64_t off, const uint8_t *src,
		 uint64_t len, bool copy_fallback, bool *exist)
{
	unsigned int again = 0;
	int64_t done;
	int ret;

	while (len) {
		done = 0;
		ret = uffd_ioctl_once(l, op, (uintptr_t)l->hva + off, src, len, &done);
		if (!ret)
			return 0;
		if (done > 0 && (uint64_t)done < len) {
			/* Partial progress (the ioctl then says EAGAIN): go on from there. */
			done &= ~(int64_t)(LAZY_PAGE_BYTES - 1);
			off += (uint64_t)done;
			src = src ? src + done : NULL;
			len -= (uint64_t)done;
			again = 0;
			continue;
		}
		if (done < 0)
			ret = (int)done;
		if (ret == -EAGAIN && ++again < LAZY_EAGAIN_MAX)
			continue;
		if (ret == -EEXIST) {
			if (exist)
				*exist = true;
		} else if ((op == LAZY_OP_MOVE || op == LAZY_OP_MOVE_HOLES) && copy_fallback &&
			   ret != -EAGAIN) {
			/* A page UFFDIO_MOVE will not take (pinned, shared, swap cache). */
			ret = lazy_uffd_op(l, LAZY_OP_COPY, off, src, LAZY_PAGE_BYTES, false,
					   exist);
			if (ret)
				return ret;
		} else {
			return ret;
		}
		off += LAZY_PAGE_BYTES;
		src = src ? src + LAZY_PAGE_BYTES : NULL;
		len -= LAZY_PAGE_BYTES;
		again = 0;
	}
	return 0;
}

/* Tries per page when a page was punched out of the memfd between write and CONTINUE. */
#define LAZY_PUNCH_RETRIES 8u

/*
 * Minor mode: UFFDIO_CONTINUE found no page in the memfd for part of
 * [off, off + len): it was punched out (a balloon discard, free page
 * reporting) after it was written there. Such a page reads zero now, as a
 * discard says, so map it page by page, writing a zero page into the memfd
 * for each one that is missing (again, if it is punched again meanwhile).
 */
static int minor_place_pages(struct mem_lazy *l, uint64_t off, uint64_t len, bool *exist)
{
	static const uint8_t zero_page[LAZY_PAGE_BYTES];
	const struct mem_file_writer w = { .fd = l->mem_fd };

	for (uint64_t at = off; at < off + len; at += LAZY_PAGE_BYTES) {
		unsigned int tries = 0;
		int ret;

		while ((ret = lazy_uffd_op(l, LAZY_OP_CONTINUE, at, NULL, LAZY_PAGE_BYTES, false,
					   exist)) == -EFAULT && ++tries < LAZY_PUNCH_RETRIES) {
			ret = mem_file_write(&w, zero_page, LAZY_PAGE_BYTES, at);
			if (ret)
				return ret;
		}
		if (ret)
			return ret;
	}
	return 0;
}

int lazy_place(struct mem_lazy *l, uint64_t off, const uint8_t *src, uint64_t len, bool *exist)
{
	int ret;

	switch (l->opts.mode) {
	case MEM_LAZY_COPY:
		return lazy_uffd_op(l, LAZY_OP_COPY, off, src, len, false, exist);
	case MEM_LAZY_MOVE:
		return lazy_uffd_op(l, LAZY_OP_MOVE, off, src, len, true, exist);
	case MEM_LAZY_MINOR:
		ret = mem_file_write(&(const struct mem_file_writer){ .fd = l->mem_fd }, src, len, off);
		if (!ret)
			ret = lazy_uffd_op(l, LAZY_OP_CONTINUE, off, NULL, len, false, exist);
		return ret == -EFAULT ? minor_place_pages(l, off, len, exist) : ret;
	default:
		return -EINVAL;
	}
}

int lazy_wake(struct mem_lazy *l, uint64_t off, uint64_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)l->hva + off, .len = len };

	return ioctl(l->uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/* Pages were fetched: tell the fault thread if it has faults parked. */
static void signal_progress(struct mem_lazy *l)
{
	if (!atomic_load(&l->deferred_nr))
		return;
	/*
	 * Can fail only with the counter near 2^64: the fault thread also
	 * looks at its parked faults every millisecond, so nothing is lost.
	 */
	if (eventfd_write(l->progress_fd, 1) < 0)
		return;
}

/* Pages [s, e) are holes in the snapshot: claim what is unclaimed, leave it unbacked. */
static void fill_holes(struct mem_lazy *l, uint64_t s, uint64_t e)
{
	uint64_t n = 0;

	for (uint64_t p = s / LAZY_PAGE_BYTES; p < e / LAZY_PAGE_BYTES; p++) {
		if (!lazy_bit_claim(l->claimed, p))
			continue;
		lazy_bit_set(l->fetched, p);
		n++;
	}
	atomic_fetch_add(&l->zero_pages, n);
	atomic_fetch_add(&l->background_pages, n);
	if (n)
		signal_progress(l);
}

/*
 * Put the won run [s, e) (data at src) in place (op: LAZY_OP_MOVE_HOLES, or
 * anything else for the mode's own way) and mark it fetched.
 */
static int place_run(struct mem_lazy *l, enum lazy_op op, uint64_t s, uint64_t e,
		     const uint8_t *src, bool *leftover)
{
	int ret = op == LAZY_OP_MOVE_HOLES ?
		  lazy_uffd_op(l, op, s, src, e - s, true, leftover) :
		  lazy_place(l, s, src, e - s, leftover);

	if (ret)
		return ret;
	for (uint64_t p = s / LAZY_PAGE_BYTES; p < e / LAZY_PAGE_BYTES; p++)
		lazy_bit_set(l->fetched, p);
	atomic_fetch_add(&l->background_pages, (e - s) / LAZY_PAGE_BYTES);
	signal_progress(l);
	return 0;
}

/*
 * Copy, minor: [s, e) was read to data (data[0] is offset s): claim each
 * page, put the runs won in place (all-zero pages left unbacked).
 */
static int claim_and_place(struct mem_lazy *l, uint64_t s, uint64_t e, const uint8_t *data,
			   bool *leftover)
{
	uint64_t run = UINT64_MAX, zeros = 0;
	bool put;
	int ret;

	for (uint64_t x = s; x <= e; x += LAZY_PAGE_BYTES) {
		put = false;
		if (x < e && lazy_bit_claim(l->claimed, x / LAZY_PAGE_BYTES)) {
			if (!lazy_page_is_zero(data + (x - s))) {
				put = true;
			} else {
				lazy_bit_set(l->fetched, x / LAZY_PAGE_BYTES);
				zeros++;
				*leftover = true;
			}
		} else if (x < e) {
			*leftover = true;
		}
		if (put && run == UINT64_MAX)
			run = x;
		if (!put && run != UINT64_MAX) {
			ret = place_run(l, LAZY_OP_COPY, run, x, data + (run - s), leftover);
			if (ret)
				return ret;
			run = UINT64_MAX;
		}
	}
	atomic_fetch_add(&l->zero_pages, zeros);
	atomic_fetch_add(&l->background_pages, zeros);
	if (zeros)
		signal_progress(l);
	return 0;
}

/*
 * The next run [*p, *q) of unclaimed pages at or after *p, before e; false
 * when there is none.
 */
static bool next_unclaimed(const struct mem_lazy *l, uint64_t *p, uint64_t e, uint64_t *q)
{
	while (*p < e && lazy_bit_test(l->claimed, *p / LAZY_PAGE_BYTES))
		*p += LAZY_PAGE_BYTES;
	for (*q = *p; *q < e && !lazy_bit_test(l->claimed, *q / LAZY_PAGE_BYTES);)
		*q += LAZY_PAGE_BYTES;
	return *p < *q;
}

/* Copy, minor: data pages [s, e) of the chunk at cs: read what is unclaimed, place it. */
static int fill_data(struct mem_lazy *l, uint64_t cs, uint64_t s, uint64_t e)
{
	uint64_t p = s, q;
	bool leftover;
	int ret;

	while (p < e) {
		if (!next_unclaimed(l, &p, e, &q))
			break;
		ret = mem_snap_src_read(l->src, p, l->bg_buf + (p - cs), q - p);
		if (!ret)
			ret = claim_and_place(l, p, q, l->bg_buf + (p - cs), &leftover);
		if (ret)
			return ret;
		p = q;
	}
	return 0;
}

/* Move: where each page of a chunk stands. */
enum stage_state {
	STAGE_HOLE,      /* a hole in the snapshot: nothing to move */
	STAGE_DATA,      /* data, not read (claimed by a fault before the read) */
	STAGE_READ,      /* data, read into staging */
};

/* Move: read the unclaimed pages of data run [s, e) into staging; st[0] is page s's. */
static int stage_run(struct mem_lazy *l, uint64_t s, uint64_t e, uint8_t *st)
{
	uint64_t p = s, q;
	int ret;

	memset(st, STAGE_DATA, (e - s) / LAZY_PAGE_BYTES);
	while (p < e) {
		if (!next_unclaimed(l, &p, e, &q))
			break;
		/*
		 * Allocate the pages in one call first: pread() into fresh
		 * memory takes a page fault per page, which is what made move
		 * slower than copy (UFFDIO_COPY allocates in the kernel).
		 * EINVAL: a kernel before 5.14, the faults then do it.
		 */
		if (madvise(l->staging + p, q - p, MADV_POPULATE_WRITE) < 0 && errno != EINVAL)
			return -errno;
		ret = mem_snap_src_read(l->src, p, l->staging + p, q - p);
		if (ret)
			return ret;
		for (uint64_t x = p; x < q; x += LAZY_PAGE_BYTES) {
			st[(x - s) / LAZY_PAGE_BYTES] = STAGE_READ;
			lazy_bit_set(l->staged, x / LAZY_PAGE_BYTES);
		}
		p = q;
	}
	return 0;
}

/* The next data run of [off, end) in the snapshot, checked: [*ds, *de); *ds == end: none. */
static int next_data_run(struct mem_lazy *l, uint64_t off, uint64_t end, uint64_t *ds,
			 uint64_t *de)
{
	int ret = mem_snap_src_data_run(l->src, off, end, ds, de);

	if (ret)
		return ret;
	if (*ds < off || *ds > end || (*ds < end && (*de <= *ds || *de > end)))
		return -EPROTO;
	return 0;
}

/*
 * Move, chunk [cs, ce): stage the data nobody claimed yet, claim every
 * page, then move each run of pages won with one UFFDIO_MOVE that skips
 * staging's holes (the snapshot's holes stay unbacked): one TLB flush per
 * run rather than one per page, which with other threads running (vCPUs)
 * costs an IPI each.
 */
static int fill_chunk_move(struct mem_lazy *l, uint64_t cs, uint64_t ce)
{
	uint8_t st[LAZY_CHUNK_PAGES];
	uint64_t n = (ce - cs) / LAZY_PAGE_BYTES, off, ds, de, run = UINT64_MAX, holes = 0;
	bool leftover = false, won;
	int ret = 0;

	memset(st, STAGE_HOLE, n);
	for (off = cs; off < ce; off = de) {
		ret = next_data_run(l, off, ce, &ds, &de);
		if (!ret && ds < ce)
			ret = stage_run(l, ds, de, st + (ds - cs) / LAZY_PAGE_BYTES);
		if (ret || ds == ce)
			break;
	}
	for (uint64_t i = 0, x = cs; !ret && i <= n; i++, x += LAZY_PAGE_BYTES) {
		won = i < n && lazy_bit_claim(l->claimed, x / LAZY_PAGE_BYTES);
		if (i < n && !won && st[i] == STAGE_READ)
			leftover = true;
		/* Unclaimed again after a fault failed: read it now. */
		if (won && st[i] == STAGE_DATA)
			ret = mem_snap_src_read(l->src, x, l->staging + x, LAZY_PAGE_BYTES);
		holes += won && st[i] == STAGE_HOLE;
		if (won && run == UINT64_MAX)
			run = x;
		if (!ret && !won && run != UINT64_MAX) {
			ret = place_run(l, LAZY_OP_MOVE_HOLES, run, x, l->staging + run, &leftover);
			run = UINT64_MAX;
		}
	}
	atomic_fetch_add(&l->zero_pages, holes);
	for (uint64_t i = 0; i < n; i++)
		lazy_bit_clear(l->staged, cs / LAZY_PAGE_BYTES + i);
	/*
	 * Free what stayed in staging (pages a fault read from the file
	 * itself). A fault moving one of them now finds it gone and reads
	 * the file instead.
	 */
	if (!ret && leftover && madvise(l->staging + cs, ce - cs, MADV_DONTNEED) < 0)
		ret = -errno;
	return ret;
}

/* Region offsets of chunk c: [*cs, *ce). */
static void chunk_range(const struct mem_lazy *l, uint64_t c, uint64_t *cs, uint64_t *ce)
{
	uint64_t end = (c + 1) * MEM_LAZY_CHUNK_BYTES - l->phase;

	*cs = c ? c * MEM_LAZY_CHUNK_BYTES - l->phase : 0;
	*ce = end < l->size ? end : l->size;
}

static int fill_chunk(struct mem_lazy *l, uint64_t c)
{
	uint64_t cs, ce, off, ds, de;
	int ret;

	chunk_range(l, c, &cs, &ce);
	if (l->opts.mode == MEM_LAZY_MOVE)
		return fill_chunk_move(l, cs, ce);
	for (off = cs; off < ce; off = de) {
		ret = next_data_run(l, off, ce, &ds, &de);
		if (ret)
			return ret;
		fill_holes(l, off, ds);
		if (ds == ce)
			break;
		ret = fill_data(l, cs, ds, de);
		if (ret)
			return ret;
	}
	return 0;
}

/* The first chunk at or after from (wrapping around) that is not done; nr_chunks if none. */
static uint64_t next_chunk(const struct mem_lazy *l, const uint64_t *done, uint64_t from)
{
	for (unsigned int pass = 0; pass < 2; pass++) {
		for (uint64_t c = pass ? 0 : from; c < l->nr_chunks; c++) {
			uint64_t w = done[c / LAZY_BITS_PER_WORD];

			if (w == ~0ull)   /* a word of done chunks at once */
				c |= LAZY_BITS_PER_WORD - 1;
			else if (!(w & (1ull << (c % LAZY_BITS_PER_WORD))))
				return c;
		}
	}
	return l->nr_chunks;
}

static bool all_fetched(const struct mem_lazy *l)
{
	for (uint64_t w = 0; w < l->words; w++) {
		uint64_t rest = l->pages - w * LAZY_BITS_PER_WORD;
		uint64_t full = rest >= LAZY_BITS_PER_WORD ? ~0ull : (1ull << rest) - 1;

		if ((atomic_load(&l->fetched[w]) & full) != full)
			return false;
	}
	return true;
}

/* Wait until faults being served now are done: every page fetched. */
static int wait_all_fetched(struct mem_lazy *l)
{
	struct timespec ts;
	int ret = 0;

	atomic_store(&l->final_wait, true);
	mem_pthread_must(pthread_mutex_lock(&l->lock));
	while (!all_fetched(l) && !atomic_load(&l->stopping) && !atomic_load(&l->err)) {
		if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
			ret = -errno;
			break;
		}
		ts.tv_nsec += LAZY_FINAL_WAIT_NS;
		if (ts.tv_nsec >= (long)LAZY_NS_PER_S) {
			ts.tv_sec++;
			ts.tv_nsec -= (long)LAZY_NS_PER_S;
		}
		ret = pthread_cond_timedwait(&l->cond, &l->lock, &ts);
		if (ret && ret != ETIMEDOUT) {
			ret = -ret;
			break;
		}
		ret = 0;
	}
	mem_pthread_must(pthread_mutex_unlock(&l->lock));
	return ret;
}

/*
 * MADV_COLLAPSE, tried again a few times on EAGAIN ("a temporary
 * condition", e.g. a page another thread holds locked; seen with a busy
 * host). 0 or -errno.
 */
static int lazy_collapse(void *hva, uint64_t size)
{
	const struct timespec pause = { .tv_nsec = LAZY_COLLAPSE_PAUSE_NS };

	for (unsigned int t = 1;; t++) {
		if (madvise(hva, size, MADV_COLLAPSE) == 0)
			return 0;
		if (errno != EAGAIN || t >= LAZY_COLLAPSE_TRIES)
			return -errno;
		nanosleep(&pause, NULL);
	}
}

/* Everything fetched: unregister, collapse, measure. */
static void fill_finish(struct mem_lazy *l)
{
	struct uffdio_range r = { .start = (uintptr_t)l->hva, .len = l->size };
	struct mem_huge_range hr = { .start = (uintptr_t)l->hva, .len = l->size };
	bool registered = false;

	/*
	 * Pages left unbacked fault as ordinary zero pages from now on. If
	 * the range cannot be unregistered, the fault thread keeps serving
	 * them (with zero pages) until mem_lazy_stop(); only the collapse,
	 * which refuses userfaultfd-armed ranges, is lost.
	 */
	if (ioctl(l->uffd, UFFDIO_UNREGISTER, &r) < 0)
		registered = true;
	if (l->opts.collapse && l->advice == MEM_THP_ADVICE_HUGE) {
		if (registered)
			atomic_store(&l->collapse_err, -EBUSY);
		else
			atomic_store(&l->collapse_err, lazy_collapse(l->hva, l->size));
	}
	/* A failed measurement leaves huge_bytes at 0: it is a report, not the fill. */
	if (!mem_huge_measure(LAZY_SMAPS, &hr, 1))
		atomic_store(&l->huge_bytes, hr.huge_bytes);
}

void *lazy_bg_main(void *arg)
{
	struct mem_lazy *l = arg;
	uint64_t words = (l->nr_chunks + LAZY_BITS_PER_WORD - 1) / LAZY_BITS_PER_WORD;
	uint64_t *done = calloc(words ? words : 1, sizeof(*done));
	uint64_t cursor = 0, seen = 0, seq, left = l->nr_chunks, c;
	int ret = done ? 0 : -ENOMEM;

	while (!ret && left && !atomic_load(&l->stopping) && !atomic_load(&l->err)) {
		if (l->opts.order == MEM_LAZY_ORDER_NEAR_FAULTS) {
			seq = atomic_load(&l->fault_seq);
			if (seq != seen) {
				seen = seq;
				cursor = (atomic_load(&l->last_fault_off) + l->phase) /
					 MEM_LAZY_CHUNK_BYTES;
			}
		}
		c = next_chunk(l, done, cursor < l->nr_chunks ? cursor : 0);
		if (c >= l->nr_chunks) {
			ret = -EPROTO;   /* left says otherwise: a bug */
			break;
		}
		ret = fill_chunk(l, c);
		if (ret)
			break;
		done[c / LAZY_BITS_PER_WORD] |= 1ull << (c % LAZY_BITS_PER_WORD);
		left--;
		cursor = c + 1;
	}
	free(done);
	if (!ret && !left)
		ret = wait_all_fetched(l);
	if (ret)
		lazy_fail(l, ret);
	else if (!left && !atomic_load(&l->stopping) && !atomic_load(&l->err)) {
		atomic_store(&l->done_ns, lazy_now_ns() - l->start_ns);
		fill_finish(l);
		atomic_store(&l->done, true);
	}
	mem_pthread_must(pthread_mutex_lock(&l->lock));
	l->finished = true;
	mem_pthread_must(pthread_cond_broadcast(&l->cond));
	mem_pthread_must(pthread_mutex_unlock(&l->lock));
	return NULL;
}
