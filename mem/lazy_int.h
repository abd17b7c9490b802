/* SPDX-License-Identifier: MIT */
/*
 * Inside the lazy restore (mem/lazy.h): the state shared by the fault
 * thread (mem/lazy.c) and the background thread (mem/lazy_fill.c).
 *
 * Each page of the region goes through: unclaimed -> claimed (by exactly
 * one of the two threads, an atomic fetch_or in `claimed`) -> filled ->
 * fetched (its bit set in `fetched`). Only the claimer writes the page, so
 * a page is filled once and a page the guest has changed (it can change a
 * page only after the fill mapped it) is never written again. A fault on a
 * page the background thread claimed waits (deferred) until it is fetched
 * and is then woken. The background thread claims hole pages too and
 * leaves them unbacked (they read as zero once the range is unregistered;
 * a fault on one before that gets a zero page).
 */
#ifndef MEMVMM_MEM_LAZY_INT_H
#define MEMVMM_MEM_LAZY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/lazy.h"

#define LAZY_PAGE_BYTES     MEM_PAGE_BYTES
#define LAZY_CHUNK_PAGES    (MEM_LAZY_CHUNK_BYTES / MEM_PAGE_BYTES)
#define LAZY_BITS_PER_WORD  64u
/* Faults on pages the background thread is filling, parked until fetched. */
#define LAZY_DEFER_MAX      64u
#define LAZY_NS_PER_S       1000000000ull

struct mem_lazy {
	/* What is restored, copied from the region at start. */
	uint8_t *hva;
	uint64_t size;
	int mem_fd;                    /* minor: the memfd written with pwrite() */
	enum mem_thp_advice advice;
	const struct mem_snap_src *src;
	struct mem_lazy_opts opts;
	uint64_t pages;
	uint64_t words;                /* of each bitmap */
	uint64_t phase;                /* hva % MEM_LAZY_CHUNK_BYTES: chunks follow hva's 2 MiB */
	uint64_t nr_chunks;

	int uffd;
	int stop_fd;                   /* eventfd: mem_lazy_stop() */
	int err_fd;                    /* eventfd: mem_lazy_error_fd() */
	int progress_fd;               /* eventfd: the background fetched pages a fault waits on */

	_Atomic uint64_t *claimed;
	_Atomic uint64_t *fetched;
	_Atomic uint64_t *staged;      /* move: page read into staging, not yet moved */
	uint8_t *staging;              /* move: anonymous, region size, congruent to hva */
	uint8_t *bg_buf;               /* copy, minor: one chunk */
	uint8_t *fault_buf;            /* one page: copy/minor buffer, move scratch (anon) */

	uint64_t start_ns;
	pthread_t fault_thread, bg_thread;
	bool fault_started, bg_started;

	pthread_mutex_t lock;          /* finished; cond: finished, and the final wait */
	pthread_cond_t cond;
	bool finished;                 /* the background thread is done (or gave up) */
	atomic_bool stopping;
	atomic_bool final_wait;        /* the background thread waits for in-flight faults */

	_Atomic uint64_t fault_seq;    /* bumped after each fault, with last_fault_off */
	_Atomic uint64_t last_fault_off;
	atomic_uint deferred_nr;       /* the fault thread's parked faults */

	/* Report. */
	_Atomic uint64_t faults, fault_pages, background_pages, zero_pages, fault_max_ns;
	_Atomic uint64_t done_ns, huge_bytes;
	atomic_bool done;
	atomic_int collapse_err, err;

	/* Fault thread only. */
	uint64_t deferred[LAZY_DEFER_MAX];   /* page numbers */
	unsigned int nr_deferred;
};

static inline bool lazy_bit_test(const _Atomic uint64_t *bm, uint64_t page)
{
	return atomic_load_explicit(&bm[page / LAZY_BITS_PER_WORD], memory_order_acquire) &
	       (1ull << (page % LAZY_BITS_PER_WORD));
}

static inline void lazy_bit_set(_Atomic uint64_t *bm, uint64_t page)
{
	atomic_fetch_or_explicit(&bm[page / LAZY_BITS_PER_WORD],
				 1ull << (page % LAZY_BITS_PER_WORD), memory_order_acq_rel);
}

static inline void lazy_bit_clear(_Atomic uint64_t *bm, uint64_t page)
{
	atomic_fetch_and_explicit(&bm[page / LAZY_BITS_PER_WORD],
				  ~(1ull << (page % LAZY_BITS_PER_WORD)), memory_order_acq_rel);
}

/* Set the page's bit; true if this call set it (the caller now owns the page). */
static inline bool lazy_bit_claim(_Atomic uint64_t *bm, uint64_t page)
{
	uint64_t bit = 1ull << (page % LAZY_BITS_PER_WORD);

	return !(atomic_fetch_or_explicit(&bm[page / LAZY_BITS_PER_WORD], bit,
					  memory_order_acq_rel) & bit);
}

/* CLOCK_MONOTONIC in ns; 0 if the clock cannot be read (timings then read 0). */
uint64_t lazy_now_ns(void);

/* Record the first failure, make the error fd readable. */
void lazy_fail(struct mem_lazy *l, int err);

/* The background thread (mem/lazy_fill.c). */
void *lazy_bg_main(void *arg);

/* How a run of pages is put in place (mem/lazy_fill.c). */
enum lazy_op {
	LAZY_OP_COPY,        /* UFFDIO_COPY from src */
	LAZY_OP_MOVE,        /* UFFDIO_MOVE from src (anonymous, private) */
	LAZY_OP_MOVE_HOLES,  /* the same, skipping src's holes (ALLOW_SRC_HOLES) */
	LAZY_OP_CONTINUE,    /* UFFDIO_CONTINUE (the page cache holds the data) */
	LAZY_OP_ZEROPAGE,    /* UFFDIO_ZEROPAGE */
};

/*
 * One userfaultfd ioctl over [off, off + len) of the region, src (COPY,
 * MOVE) the data for it: EAGAIN retried from where it got, pages already
 * present (EEXIST) skipped and *exist set (may be NULL). MOVE falls back to
 * COPY for a page it cannot move (e.g. EBUSY: shared or pinned) when
 * copy_fallback. 0 or -errno.
 */
int lazy_uffd_op(struct mem_lazy *l, enum lazy_op op, uint64_t off, const uint8_t *src,
		 uint64_t len, bool copy_fallback, bool *exist) MEM_WUR;

/*
 * Put [off, off + len) in place in the restore's mode from data at src:
 * copy: UFFDIO_COPY; move: UFFDIO_MOVE (src anonymous); minor: pwrite()
 * into the memfd, then UFFDIO_CONTINUE. 0 or -errno; *exist as above.
 */
int lazy_place(struct mem_lazy *l, uint64_t off, const uint8_t *src, uint64_t len,
	       bool *exist) MEM_WUR;

/* UFFDIO_WAKE on [off, off + len). */
int lazy_wake(struct mem_lazy *l, uint64_t off, uint64_t len) MEM_WUR;

/* True if the page at p is all zero. */
bool lazy_page_is_zero(const uint8_t *p);

#endif /* MEMVMM_MEM_LAZY_INT_H */
