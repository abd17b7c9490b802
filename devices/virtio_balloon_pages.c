// SPDX-License-Identifier: MIT
/*
 * The balloon's pages: which 4 KiB pages of boot RAM are in the balloon
 * (the page bitmap), which discard units are given back to the host (the
 * unit bitmap), and the mem_discard() / mem_populate() calls that follow,
 * merged into ranges of consecutive units. Transport lock held throughout.
 *
 * A unit is the backend's discard alignment: one page, or 512 for hugetlb.
 * It is given back when its last page enters the balloon and taken back
 * when its first page leaves. Taking back repopulates it when the boot
 * RAM's strategy preallocates; a hugetlb unit is always repopulated (a 2
 * MiB page faulted in later could find the pool empty, and the device
 * would then fault on it with SIGBUS), and stays marked given back while
 * that fails: the device never touches it (bal_access_ok()), a vCPU that
 * does gets KVM's error, not memvmm's SIGBUS.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "devices/virtio_balloon_int.h"

#define BAL_NS_PER_SEC 1000000000ull

uint64_t bal_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * BAL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

const struct bal_region *bal_region_of_bit(const struct balloon *b, uint64_t bit)
{
	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];

		if (bit >= r->first && bit - r->first < r->pages)
			return r;
	}
	return NULL;
}

static uint64_t bal_bit_gpa(const struct bal_region *r, uint64_t bit)
{
	return r->gpa + (bit - r->first) * BALLOON_PAGE_BYTES;
}

/* Unit bitmap index of the unit whose first page is bit `u` (units start at multiples). */
static uint64_t bal_unit_index(const struct bal_region *r, uint64_t u)
{
	return u / r->unit_pages;
}

/* Every page of the unit starting at bit u is set in map. */
static bool bal_unit_full(const struct bal_region *r, const uint64_t *map, uint64_t u)
{
	uint64_t i = u, end = u + r->unit_pages;

	while (i < end) {
		if (i % BITMAP_WORD_BITS == 0 && end - i >= BITMAP_WORD_BITS) {
			if (map[i / BITMAP_WORD_BITS] != UINT64_MAX)
				return false;
			i += BITMAP_WORD_BITS;
		} else {
			if (!bitmap_test(map, i))
				return false;
			i++;
		}
	}
	return true;
}

static bool bal_given(const struct balloon *b, const struct bal_region *r, uint64_t u)
{
	return bitmap_test(b->given, bal_unit_index(r, u));
}

static void bal_set_given(struct balloon *b, const struct bal_region *r, uint64_t u, bool set)
{
	uint64_t bytes = r->unit_pages * BALLOON_PAGE_BYTES;

	if (bal_given(b, r, u) == set)
		return;
	bitmap_assign(b->given, bal_unit_index(r, u), set);
	if (set)
		b->given_bytes += bytes;
	else
		b->given_bytes -= bytes;
}

/* ---- the two operations, on runs of consecutive units ---- */

/* Give units [u, u + n units) back: one mem_discard(). */
static void bal_give_run(struct balloon *b, const struct bal_region *r, uint64_t u, uint64_t n)
{
	uint64_t len = n * r->unit_pages * BALLOON_PAGE_BYTES;
	uint64_t t0 = bal_now_ns();
	int ret = mem_discard(b->ctx.mem, bal_bit_gpa(r, u), len);

	b->discard_ns += bal_now_ns() - t0;
	b->discards++;
	if (ret) {
		b->discard_errors++;
		b->last_discard_err = ret;
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		bal_set_given(b, r, u + i * r->unit_pages, true);
}

/* Take units [u, u + n units) back: repopulate where the rules say. */
static void bal_take_run(struct balloon *b, const struct bal_region *r, uint64_t u, uint64_t n)
{
	enum mem_populate_strategy s = b->cfg.populate;
	uint64_t len = n * r->unit_pages * BALLOON_PAGE_BYTES;
	bool must = r->unit_pages > 1;   /* hugetlb: see the top of the file */
	uint64_t t0;
	int ret;

	if (s == MEM_POPULATE_NONE && must)
		s = MEM_POPULATE_AUTO;
	if (s != MEM_POPULATE_NONE) {
		const struct mem_populate_req req = {
			.strategy = s, .max_threads = b->cfg.populate_threads,
		};

		t0 = bal_now_ns();
		memset(&b->report, 0, sizeof(b->report));
		ret = mem_populate(b->ctx.mem, bal_bit_gpa(r, u), len, &req, &b->report);
		b->populate_ns += bal_now_ns() - t0;
		if (ret) {
			b->populate_errors++;
			b->last_populate_err = ret;
			if (must)
				return;   /* stays given back: never touched by the device */
		} else {
			b->repopulated += len;
		}
	}
	for (uint64_t i = 0; i < n; i++)
		bal_set_given(b, r, u + i * r->unit_pages, false);
}

typedef void bal_run_fn(struct balloon *b, const struct bal_region *r, uint64_t u, uint64_t n);

/*
 * What a pass picks, and the bitmap that must have a bit set near a unit
 * for it to be picked at all (so that a pass over a mostly empty balloon
 * skips 64 bits at a time instead of visiting every page).
 */
struct bal_pass {
	bool (*pick)(struct balloon *b, const struct bal_region *r, uint64_t u, const void *arg);
	const void *arg;
	const uint64_t *sparse;     /* NULL: no skipping */
	bool by_unit;               /* sparse is indexed by unit (the unit bitmap), else by page */
};

/* u, or the first unit start past sparse's empty word covering u. */
static uint64_t bal_skip(const struct bal_region *r, const struct bal_pass *p, uint64_t u)
{
	uint64_t up = r->unit_pages, idx = p->by_unit ? u / up : u, next;

	if (!p->sparse || p->sparse[idx / BITMAP_WORD_BITS])
		return u;
	next = (idx / BITMAP_WORD_BITS + 1) * BITMAP_WORD_BITS;
	/* Unit starts are multiples of up (region starts are multiples of 512 pages). */
	return p->by_unit ? next * up : (next + up - 1) / up * up;
}

/*
 * For each unit of r overlapping bits [bit, bit + n): the pass's pick says
 * whether fn applies to it; consecutive picked units go to fn as one run.
 */
static void bal_units_apply(struct balloon *b, const struct bal_region *r, uint64_t bit,
			    uint64_t n, const struct bal_pass *p, bal_run_fn *fn)
{
	uint64_t up = r->unit_pages;
	uint64_t u = r->first + (bit - r->first) / up * up;
	uint64_t end = bit + n, run = 0, run_n = 0;

	while (u < end) {
		uint64_t next = bal_skip(r, p, u);

		if (next != u) {
			if (run_n)
				fn(b, r, run, run_n);
			run_n = 0;
			u = next;
			continue;
		}
		if (p->pick(b, r, u, p->arg)) {
			if (!run_n)
				run = u;
			run_n++;
		} else {
			if (run_n)
				fn(b, r, run, run_n);
			run_n = 0;
		}
		u += up;
	}
	if (run_n)
		fn(b, r, run, run_n);
}

/* Full in `arg`'s map (the page bitmap unless given) and not given back yet. */
static bool bal_pick_fill(struct balloon *b, const struct bal_region *r, uint64_t u,
			  const void *arg)
{
	const uint64_t *map = arg ? arg : b->pages;

	return !bal_given(b, r, u) && bal_unit_full(r, map, u);
}

/* Given back but no longer full in `arg`'s map. */
static bool bal_pick_drain(struct balloon *b, const struct bal_region *r, uint64_t u,
			   const void *arg)
{
	const uint64_t *map = arg ? arg : b->pages;

	return bal_given(b, r, u) && !bal_unit_full(r, map, u);
}

static bool bal_pick_given(struct balloon *b, const struct bal_region *r, uint64_t u,
			   const void *arg)
{
	(void)arg;
	return bal_given(b, r, u);
}

void bal_pages_inflate(struct balloon *b, const struct bal_region *r, uint64_t bit, uint64_t n)
{
	const struct bal_pass fill = { bal_pick_fill, NULL, b->pages, false };

	for (uint64_t i = bit; i < bit + n; i++) {
		if (bitmap_test(b->pages, i)) {
			b->dup_pfns++;
			continue;
		}
		bitmap_assign(b->pages, i, true);
		b->inflated_pages++;
		b->inflated_total++;
	}
	bal_units_apply(b, r, bit, n, &fill, bal_give_run);
}

void bal_pages_deflate(struct balloon *b, const struct bal_region *r, uint64_t bit, uint64_t n)
{
	const struct bal_pass drain = { bal_pick_drain, NULL, b->given, true };

	for (uint64_t i = bit; i < bit + n; i++) {
		if (!bitmap_test(b->pages, i)) {
			b->dup_pfns++;
			continue;
		}
		bitmap_assign(b->pages, i, false);
		b->inflated_pages--;
		b->deflated_total++;
	}
	bal_units_apply(b, r, bit, n, &drain, bal_take_run);
}

void bal_report_range(struct balloon *b, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (!len || len - 1 > UINT64_MAX - gpa)
		return;
	end = gpa + len;
	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];
		uint64_t unit = r->unit_pages * BALLOON_PAGE_BYTES;
		uint64_t lo = gpa > r->gpa ? gpa : r->gpa;
		uint64_t hi = end < r->gpa + r->size ? end : r->gpa + r->size;
		uint64_t t0;
		int ret;

		/* Whole units only, counted from the region's start (aligned to the backend). */
		if (lo >= hi || r->unit_pages > 1)
			continue;   /* hugetlb: reported memory is not discarded (virtio_balloon.h) */
		lo = r->gpa + (lo - r->gpa + unit - 1) / unit * unit;
		hi = r->gpa + (hi - r->gpa) / unit * unit;
		if (lo >= hi)
			continue;
		t0 = bal_now_ns();
		ret = mem_discard(b->ctx.mem, lo, hi - lo);
		b->discard_ns += bal_now_ns() - t0;
		b->discards++;
		if (ret) {
			b->discard_errors++;
			b->last_discard_err = ret;
		} else {
			b->reported += hi - lo;
		}
	}
}

void bal_empty(struct balloon *b)
{
	const struct bal_pass given = { bal_pick_given, NULL, b->given, true };

	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];

		bal_units_apply(b, r, r->first, r->pages, &given, bal_take_run);
	}
	memset(b->pages, 0, bitmap_words(b->map_bits) * sizeof(uint64_t));
	b->inflated_pages = 0;
}

void bal_apply_map(struct balloon *b, const uint64_t *want)
{
	const struct bal_pass drain = { bal_pick_drain, want, b->given, true };
	const struct bal_pass fill = { bal_pick_fill, want, want, false };
	uint64_t count = 0;

	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];

		bal_units_apply(b, r, r->first, r->pages, &drain, bal_take_run);
		bal_units_apply(b, r, r->first, r->pages, &fill, bal_give_run);
	}
	memcpy(b->pages, want, bitmap_words(b->map_bits) * sizeof(uint64_t));
	for (uint64_t w = 0; w < bitmap_words(b->map_bits); w++)
		count += (uint64_t)__builtin_popcountll(want[w]);
	b->inflated_pages = count;
}

bool bal_access_ok(void *dev, uint64_t gpa, uint64_t len)
{
	const struct balloon *b = dev;
	uint64_t last;

	if (!len || len - 1 > UINT64_MAX - gpa)
		return !len;
	last = gpa + (len - 1);
	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];
		uint64_t lo, hi;

		if (r->unit_pages == 1 || last < r->gpa || gpa > r->gpa + (r->size - 1))
			continue;
		lo = (gpa > r->gpa ? gpa : r->gpa) - r->gpa;
		hi = (last < r->gpa + (r->size - 1) ? last : r->gpa + (r->size - 1)) - r->gpa;
		for (uint64_t p = lo / BALLOON_PAGE_BYTES / r->unit_pages;
		     p <= hi / BALLOON_PAGE_BYTES / r->unit_pages; p++)
			if (bitmap_test(b->given, r->first / r->unit_pages + p))
				return false;
	}
	return true;
}
