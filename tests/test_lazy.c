// SPDX-License-Identifier: MIT
/*
 * Lazy restore by userfaultfd (mem/lazy.h) without KVM: memory from
 * mem_create() with no VM, a source written by the test (holes, zero pages,
 * a two-layer chain), and threads in place of vCPUs that touch random pages
 * during the fill, check each and mark it. After the fill every page holds
 * the snapshot's data or the mark (never overwritten), every fetched bit is
 * set, each page counted once. Also: the order, truncation (error fd, -EIO,
 * no hang), dropped and discarded pages, refusals, THP collapse.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/lazy.h"
#include "mem/mem.h"
#include "mem/snapshot.h"
#include "mem/thp.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"
#include "tests/thp.h"

#define MiB ((uint64_t)1 << 20)
#define PAGE MEM_PAGE_BYTES
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))
#define CHUNK_PAGES (MEM_LAZY_CHUNK_BYTES / PAGE)

#define RAM_BYTES        (64 * MiB)    /* the runs */
#define ORDER_RAM_BYTES  (256 * MiB)   /* the order check: long enough to watch */
#define SMALL_RAM_BYTES  (8 * MiB)     /* refusals */
#define THP_RAM_BYTES    (32 * MiB)
#define TOUCHERS         2
#define TOUCHES          3000          /* per toucher */
#define MARK_WORD        3             /* the word a toucher writes after its check */
#define MARK(page)       (0xdead000000000000ull | (page))
#define WAIT_MS          60000
#define CASE_ALARM_S     120
#define WHY_BYTES        256
/* The order check: the fault's chunk, and how many chunks below it may be done then. */
#define ORDER_FAULT_CHUNK 20u
#define ORDER_MAX_LOW     10u
#define POLL_NS           50000L

/* ---- the snapshot the test writes ---- */

/*
 * Layer 0: data everywhere except holes (every 7th page from 3, and all of
 * chunk 2) and pages written as zeros (every 11th from 5). Layer 1 (a
 * diff): the pages of its present bitmap (every 5th from 1, and the even
 * pages of chunk 3), some of them holes (zeros over the base's data).
 */
static bool base_hole(uint64_t p)
{
	return p % 7 == 3 || p / CHUNK_PAGES == 2;
}

static bool base_zero(uint64_t p)
{
	return p % 11 == 5;
}

static bool diff_present(uint64_t p)
{
	return p % 5 == 1 || (p / CHUNK_PAGES == 3 && p % 2 == 0);
}

static bool diff_hole(uint64_t p)
{
	return p % 25 == 6;
}

/* Never zero: the low 16 bits are w + 1. */
static uint64_t pattern(unsigned int layer, uint64_t p, uint64_t w)
{
	return ((uint64_t)(layer + 1) << 56) ^ (p << 16) ^ (w + 1);
}

struct snap {
	uint64_t size;
	unsigned int layers;   /* 1 or 2 */
	bool dense;            /* layer 0 only, data in every page */
	int fd[2];
	uint64_t *present;
	struct mem_snap_src src;
};

/* What page p of the snapshot holds: the layer, or -1 for zeros. */
static int snap_owner_value(const struct snap *s, uint64_t p)
{
	if (s->layers == 2 && diff_present(p))
		return diff_hole(p) ? -1 : 1;
	if (s->dense)
		return 0;
	return base_hole(p) || base_zero(p) ? -1 : 0;
}

static void expect_page(const struct snap *s, uint64_t p, uint64_t *out)
{
	int layer = snap_owner_value(s, p);

	for (uint64_t w = 0; w < WORDS_PER_PAGE; w++)
		out[w] = layer < 0 ? 0 : pattern((unsigned int)layer, p, w);
}

static int tmp_file(void)
{
	char path[] = "/tmp/memvmm-test-lazy-XXXXXX";
	int fd = mkstemp(path);

	TEST_ASSERT(fd >= 0, "mkstemp");
	TEST_ASSERT(unlink(path) == 0, "unlink %s", path);
	return fd;
}

/* Write layer's file: its pages (data or zeros), holes left out. */
static void write_layer(struct snap *s, unsigned int layer)
{
	static uint64_t buf[CHUNK_PAGES][WORDS_PER_PAGE];
	uint64_t pages = s->size / PAGE;
	int fd = tmp_file();

	TEST_ASSERT(ftruncate(fd, (off_t)s->size) == 0, "ftruncate");
	for (uint64_t c = 0; c < pages; c += CHUNK_PAGES) {
		uint64_t n = pages - c < CHUNK_PAGES ? pages - c : CHUNK_PAGES, run = 0;

		for (uint64_t i = 0; i <= n; i++) {
			uint64_t p = c + i;
			bool put = i < n && (layer ? diff_present(p) && !diff_hole(p) :
					     s->dense || !base_hole(p));

			if (put) {
				for (uint64_t w = 0; w < WORDS_PER_PAGE; w++)
					buf[i][w] = !layer && !s->dense && base_zero(p) ? 0 :
						    pattern(layer, p, w);
				run++;
				continue;
			}
			if (run)
				TEST_ASSERT(pwrite(fd, buf[i - run], run * PAGE,
						   (off_t)((p - run) * PAGE)) ==
					    (ssize_t)(run * PAGE), "pwrite layer %u", layer);
			run = 0;
		}
	}
	s->fd[layer] = fd;
}

static void snap_make(struct snap *s, uint64_t size, unsigned int layers, bool dense)
{
	uint64_t words = mem_snap_bitmap_words(size);

	*s = (struct snap){ .size = size, .layers = layers, .dense = dense, .fd = { -1, -1 } };
	write_layer(s, 0);
	s->src.size = size;
	s->src.nr_layers = layers;
	s->src.layer[0] = (struct mem_snap_layer){ .fd = s->fd[0], .present = NULL };
	if (layers == 2) {
		s->present = calloc(words, sizeof(*s->present));
		TEST_ASSERT(s->present, "calloc");
		for (uint64_t p = 0; p < size / PAGE; p++)
			if (diff_present(p))
				s->present[p / 64] |= 1ull << (p % 64);
		write_layer(s, 1);
		s->src.layer[1] = (struct mem_snap_layer){ .fd = s->fd[1], .present = s->present };
	}
	TEST_OK(mem_snap_src_init(&s->src, NULL));
}

static void snap_free(struct snap *s)
{
	mem_snap_src_release(&s->src);
	for (unsigned int i = 0; i < s->layers; i++)
		close(s->fd[i]);
	free(s->present);
}

/* ---- regions and the matrix ---- */

struct combo {
	enum mem_lazy_mode mode;
	const struct mem_backend_ops *ops;
};

static const struct combo combos[] = {
	{ MEM_LAZY_COPY, &mem_backend_anon },
	{ MEM_LAZY_COPY, &mem_backend_memfd },
	{ MEM_LAZY_MOVE, &mem_backend_anon },
	{ MEM_LAZY_MINOR, &mem_backend_memfd },
};

static void ram_create(struct guest_mem *gm, const struct mem_backend_ops *ops, uint64_t size,
		       enum mem_thp_advice advice)
{
	const struct mem_config cfg = { .size = size, .backend = ops, .thp_advice = advice };

	TEST_OK(mem_create(gm, &cfg, -1, NULL));
}

/* Skip (77) unless the check allows the combination here, saying why not. */
static void require_combo(const struct combo *c, const struct mem_region *r)
{
	char why[WHY_BYTES], msg[WHY_BYTES + 64];
	int ret = mem_lazy_check(r, c->mode, why, sizeof(why));

	snprintf(msg, sizeof(msg), "%s on %s: %s", mem_lazy_mode_name(c->mode), c->ops->name, why);
	TEST_REQUIRE(ret != -EPERM && ret != -EOPNOTSUPP, msg);
	TEST_ASSERT(ret == 0, "mem_lazy_check: %d (%s)", ret, why);
}

static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	TEST_ASSERT(n >= 0, "poll");
	return n > 0 && (p.revents & POLLIN);
}

/* ---- the runs ---- */

struct toucher {
	pthread_t thread;
	const struct snap *snap;
	uint8_t *hva;
	_Atomic uint8_t *touched;   /* per page */
	unsigned int seed;
	uint64_t bad_page;          /* UINT64_MAX: every check passed */
};

/* Touch random pages: check the first word the fault brought, then mark the page. */
static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	uint64_t pages = t->snap->size / PAGE, want[WORDS_PER_PAGE];
	volatile uint64_t *w;

	t->bad_page = UINT64_MAX;
	for (unsigned int i = 0; i < TOUCHES; i++) {
		uint64_t p = (uint64_t)rand_r(&t->seed) % pages;

		w = (volatile uint64_t *)(void *)(t->hva + p * PAGE);
		expect_page(t->snap, p, want);
		if (w[0] != want[0] && w[0] != MARK(p) && t->bad_page == UINT64_MAX)
			t->bad_page = p;
		w[MARK_WORD] = MARK(p);
		atomic_store(&t->touched[p], 1);
	}
	return NULL;
}

static void report_print(const char *what, const struct mem_lazy_report *rep)
{
	printf("%s: faults %" PRIu64 " fault_pages %" PRIu64 " background_pages %" PRIu64
	       " zero_pages %" PRIu64 " fault_max %" PRIu64 " us done %d in %" PRIu64
	       " ms huge %" PRIu64 " MiB collapse_err %d err %d\n", what, rep->faults,
	       rep->fault_pages, rep->background_pages, rep->zero_pages, rep->fault_max_ns / 1000,
	       rep->done, rep->done_ns / 1000000, rep->huge_bytes / MiB, rep->collapse_err,
	       rep->err);
}

/* After a complete fill: the report, the bitmap and every page. */
static void check_filled(struct mem_lazy *l, const struct mem_region *r, const struct snap *s,
			 const _Atomic uint8_t *touched, const char *what)
{
	const _Atomic uint64_t *fetched = mem_lazy_fetched(l);
	uint64_t pages = r->size / PAGE, want[WORDS_PER_PAGE], unbacked = 0;
	struct mem_lazy_report rep;
	unsigned char vec;

	mem_lazy_get_report(l, &rep);
	report_print(what, &rep);
	TEST_ASSERT(rep.done && rep.err == 0, "%s: done %d err %d", what, rep.done, rep.err);
	TEST_ASSERT(rep.fault_pages + rep.background_pages == pages,
		    "%s: %" PRIu64 " + %" PRIu64 " pages filled, the region has %" PRIu64, what,
		    rep.fault_pages, rep.background_pages, pages);
	TEST_ASSERT(rep.zero_pages <= rep.background_pages && rep.faults >= rep.fault_pages,
		    "%s: counts", what);
	TEST_ASSERT(!fd_readable(mem_lazy_error_fd(l), 0), "%s: error fd readable", what);
	for (uint64_t p = 0; p < pages; p++)
		TEST_ASSERT(atomic_load(&fetched[p / 64]) & (1ull << (p % 64)),
			    "%s: page %" PRIu64 " not fetched", what, p);
	/* Holes nobody touched stay unbacked (mincore: the host's own meter), before reading. */
	for (uint64_t p = 0; p < pages; p++) {
		if (touched && atomic_load(&touched[p]))
			continue;
		if (snap_owner_value(s, p) >= 0)
			continue;
		TEST_ASSERT(mincore(r->hva + p * PAGE, PAGE, &vec) == 0, "mincore");
		unbacked += !(vec & 1);
	}
	printf("%s: %" PRIu64 " untouched zero pages left unbacked\n", what, unbacked);
	TEST_ASSERT(s->dense || unbacked > 0, "%s: every zero page was filled", what);
	for (uint64_t p = 0; p < pages; p++) {
		const uint64_t *got = (const uint64_t *)(const void *)(r->hva + p * PAGE);

		expect_page(s, p, want);
		if (touched && atomic_load(&touched[p]))
			want[MARK_WORD] = MARK(p);
		TEST_ASSERT(!memcmp(got, want, PAGE),
			    "%s: page %" PRIu64 " differs (word 0 %#" PRIx64 ", want %#" PRIx64
			    "; word %d %#" PRIx64 ", want %#" PRIx64 ")", what, p, got[0], want[0],
			    MARK_WORD, got[MARK_WORD], want[MARK_WORD]);
	}
}

/* Restore s into a fresh region with 2 touchers; check everything. */
static void run_one(const struct combo *c, unsigned int layers, enum mem_lazy_order order)
{
	const struct mem_lazy_opts opts = { .mode = c->mode, .order = order };
	struct toucher t[TOUCHERS];
	_Atomic uint8_t *touched;
	struct mem_lazy *l = NULL;
	struct guest_mem gm;
	struct snap s;
	char what[128];
	uint64_t faulted = 0;

	snprintf(what, sizeof(what), "%s/%s/%u layer(s)/%s", mem_lazy_mode_name(c->mode),
		 c->ops->name, layers, order == MEM_LAZY_ORDER_ADDRESS ? "address" : "near-faults");
	ram_create(&gm, c->ops, RAM_BYTES, MEM_THP_ADVICE_NOHUGE);
	require_combo(c, &gm.region[0]);
	snap_make(&s, RAM_BYTES, layers, false);
	touched = calloc(RAM_BYTES / PAGE, 1);
	TEST_ASSERT(touched, "calloc");
	TEST_OK(mem_lazy_start(&gm, 0, &s.src, &opts, &l));
	for (unsigned int i = 0; i < TOUCHERS; i++) {
		t[i] = (struct toucher){ .snap = &s, .hva = gm.region[0].hva, .touched = touched,
					 .seed = 1234u + i * 77u + layers };
		TEST_ASSERT(pthread_create(&t[i].thread, NULL, toucher_main, &t[i]) == 0,
			    "pthread_create");
	}
	for (unsigned int i = 0; i < TOUCHERS; i++) {
		TEST_ASSERT(pthread_join(t[i].thread, NULL) == 0, "pthread_join");
		TEST_ASSERT(t[i].bad_page == UINT64_MAX, "%s: toucher %u found page %" PRIu64
			    " wrong when it faulted it in", what, i, t[i].bad_page);
	}
	TEST_OK(mem_lazy_wait(l, WAIT_MS));
	check_filled(l, &gm.region[0], &s, touched, what);
	{
		struct mem_lazy_report rep;

		mem_lazy_get_report(l, &rep);
		faulted = rep.fault_pages;
	}
	TEST_ASSERT(faulted > 0, "%s: no page came through the fault path", what);
	mem_lazy_stop(l);
	free((void *)touched);
	snap_free(&s);
	mem_destroy(&gm);
}

static void run_matrix(const void *arg)
{
	const struct combo *c = arg;

	alarm(CASE_ALARM_S);
	run_one(c, 1, MEM_LAZY_ORDER_ADDRESS);
	run_one(c, 2, MEM_LAZY_ORDER_NEAR_FAULTS);
}

/* ---- the background's order ---- */

/* Chunks below below that are wholly fetched. */
static unsigned int chunks_fetched(const _Atomic uint64_t *fetched, unsigned int below)
{
	unsigned int n = 0;

	for (unsigned int c = 0; c < below; c++) {
		bool all = true;

		for (uint64_t p = c * CHUNK_PAGES; all && p < (c + 1) * CHUNK_PAGES; p++)
			all = atomic_load(&fetched[p / 64]) & (1ull << (p % 64));
		n += all;
	}
	return n;
}

/*
 * Fault one page in chunk ORDER_FAULT_CHUNK right after the start, then
 * wait for the first page of the next chunk: near-faults fills it before
 * most chunks below the fault, address order after all of them.
 */
static unsigned int order_low_chunks(const struct combo *c, enum mem_lazy_order order)
{
	const struct mem_lazy_opts opts = { .mode = c->mode, .order = order };
	const struct timespec pause = { .tv_nsec = POLL_NS };
	uint64_t next = (ORDER_FAULT_CHUNK + 1) * CHUNK_PAGES, want[WORDS_PER_PAGE];
	const _Atomic uint64_t *fetched;
	struct mem_lazy *l = NULL;
	struct guest_mem gm;
	struct snap s;
	volatile uint64_t *w;
	unsigned int low;

	ram_create(&gm, c->ops, ORDER_RAM_BYTES, MEM_THP_ADVICE_NOHUGE);
	require_combo(c, &gm.region[0]);
	TEST_ASSERT((uintptr_t)gm.region[0].hva % MEM_LAZY_CHUNK_BYTES == 0,
		    "RAM not 2 MiB aligned");
	snap_make(&s, ORDER_RAM_BYTES, 1, true);
	TEST_OK(mem_lazy_start(&gm, 0, &s.src, &opts, &l));
	fetched = mem_lazy_fetched(l);
	w = (volatile uint64_t *)(void *)(gm.region[0].hva +
					  (ORDER_FAULT_CHUNK * CHUNK_PAGES + 5) * PAGE);
	expect_page(&s, ORDER_FAULT_CHUNK * CHUNK_PAGES + 5, want);
	TEST_ASSERT(w[0] == want[0], "faulted page wrong");
	while (!(atomic_load(&fetched[next / 64]) & (1ull << (next % 64))))
		TEST_ASSERT(nanosleep(&pause, NULL) == 0, "nanosleep");
	low = chunks_fetched(fetched, ORDER_FAULT_CHUNK);
	TEST_OK(mem_lazy_wait(l, WAIT_MS));
	mem_lazy_stop(l);
	snap_free(&s);
	mem_destroy(&gm);
	return low;
}

static void run_order(const void *arg)
{
	unsigned int near, addr;

	alarm(CASE_ALARM_S);
	addr = order_low_chunks(&combos[0], MEM_LAZY_ORDER_ADDRESS);
	near = order_low_chunks(&combos[0], MEM_LAZY_ORDER_NEAR_FAULTS);
	printf("chunks below the fault's (%u) done when the one after it was: address order %u, "
	       "near-faults %u\n", ORDER_FAULT_CHUNK, addr, near);
	TEST_ASSERT(addr == ORDER_FAULT_CHUNK, "address order skipped chunks: %u", addr);
	TEST_ASSERT(near < ORDER_MAX_LOW, "near-faults did not jump to the fault: %u", near);
}

/* ---- a memory file truncated under the restore ---- */

struct blocked {
	pthread_t thread;
	volatile uint64_t *w;
	atomic_bool returned;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;

	(void)b->w[0];
	atomic_store(&b->returned, true);
	return NULL;
}

/*
 * Run fn for each combination the check allows here, each on a fresh
 * region of size bytes restored from a dense snapshot.
 */
static void for_each_combo(uint64_t size,
			   void (*fn)(const struct combo *c, struct guest_mem *gm, struct snap *s))
{
	char why[WHY_BYTES];
	struct guest_mem gm;
	struct snap s;

	alarm(CASE_ALARM_S);
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		const struct combo *c = &combos[i];

		ram_create(&gm, c->ops, size, MEM_THP_ADVICE_NOHUGE);
		if (mem_lazy_check(&gm.region[0], c->mode, why, sizeof(why))) {
			printf("%s on %s: not here (%s)\n", mem_lazy_mode_name(c->mode),
			       c->ops->name, why);
			mem_destroy(&gm);
			continue;
		}
		snap_make(&s, size, 1, true);
		fn(c, &gm, &s);
		snap_free(&s);
		mem_destroy(&gm);
	}
}

static void truncated_one(const struct combo *c, struct guest_mem *gm, struct snap *s)
{
	const struct mem_lazy_opts opts = { .mode = c->mode };
	const char *name = mem_lazy_mode_name(c->mode);
	struct blocked b = { .returned = false };
	struct mem_lazy_report rep;
	struct mem_lazy *l = NULL;
	int ret;

	TEST_OK(mem_lazy_start(gm, 0, &s->src, &opts, &l));
	TEST_ASSERT(ftruncate(s->fd[0], RAM_BYTES / 2) == 0, "ftruncate");
	b.w = (volatile uint64_t *)(void *)(gm->region[0].hva + RAM_BYTES - PAGE);
	TEST_ASSERT(pthread_create(&b.thread, NULL, blocked_main, &b) == 0, "pthread_create");
	TEST_ASSERT(fd_readable(mem_lazy_error_fd(l), WAIT_MS), "%s: error fd not readable",
		    name);
	ret = mem_lazy_wait(l, WAIT_MS);
	mem_lazy_get_report(l, &rep);
	report_print(name, &rep);
	TEST_ASSERT(ret == -EIO && rep.err == -EIO && !rep.done, "%s on %s: wait %d, err %d",
		    name, c->ops->name, ret, rep.err);
	TEST_ASSERT(!atomic_load(&b.returned), "the faulting thread was let through");
	/* Closing the userfaultfd lets it through (a plain fault): the stop does not hang. */
	mem_lazy_stop(l);
	TEST_ASSERT(pthread_join(b.thread, NULL) == 0, "pthread_join");
}

static void run_truncated(const void *arg)
{
	for_each_combo(RAM_BYTES, truncated_one);
}

/* ---- pages dropped while the range is still registered ---- */

static void dropped_one(const struct combo *c, struct guest_mem *gm, struct snap *s)
{
	const struct mem_lazy_opts opts = { .mode = c->mode };
	const char *name = mem_lazy_mode_name(c->mode);
	uint64_t want[WORDS_PER_PAGE], p = 9 * CHUNK_PAGES + 1;
	struct mem_lazy_report rep;
	struct mem_lazy *l = NULL;
	volatile uint64_t *w;

	TEST_OK(mem_lazy_start(gm, 0, &s->src, &opts, &l));
	w = (volatile uint64_t *)(void *)(gm->region[0].hva + p * PAGE);
	expect_page(s, p, want);
	TEST_ASSERT(w[0] == want[0], "page brought in wrong");
	/* What a balloon does: the page goes back to the host and reads zero after. */
	TEST_OK(mem_discard(gm, p * PAGE, PAGE));
	TEST_ASSERT(w[0] == 0 && w[1] == 0, "%s: a dropped page reads %#" PRIx64, name, w[0]);
	w[2] = 7;
	if (c->ops == &mem_backend_memfd) {
		/* Only the mapping dropped: the memfd keeps the data (minor: CONTINUE). */
		volatile uint64_t *u = w + WORDS_PER_PAGE;

		expect_page(s, p + 1, want);
		TEST_ASSERT(u[0] == want[0], "page brought in wrong");
		TEST_ASSERT(madvise((void *)u, PAGE, MADV_DONTNEED) == 0, "MADV_DONTNEED");
		TEST_ASSERT(u[0] == want[0], "%s: an unmapped memfd page reads %#" PRIx64, name,
			    u[0]);
	}
	mem_lazy_get_report(l, &rep);
	TEST_ASSERT(!rep.done && rep.faults >= 2,
		    "%s: the fill was over before the drop (faults %" PRIu64 ")", name,
		    rep.faults);
	TEST_OK(mem_lazy_wait(l, WAIT_MS));
	TEST_ASSERT(w[2] == 7 && w[0] == 0, "the page written after the drop was overwritten");
	mem_lazy_stop(l);
}

static void run_dropped(const void *arg)
{
	for_each_combo(ORDER_RAM_BYTES, dropped_one);
}

/* ---- a balloon discarding during the fill (minor: write, punch, CONTINUE) ---- */
struct discarder {
	struct guest_mem *gm;
	uint64_t size, discards;
	atomic_bool stop;
};

/* Single pages at random, and every 8th time a 2 MiB run (free page reporting). */
static void *discarder_main(void *arg)
{
	struct discarder *d = arg;
	unsigned int seed = 5;

	while (!atomic_load(&d->stop)) {
		uint64_t p = (uint64_t)rand_r(&seed) % (d->size / PAGE);
		uint64_t len = d->discards++ % 8 ? PAGE : CHUNK_PAGES * PAGE;

		if (mem_discard(d->gm, (len == PAGE ? p : p / CHUNK_PAGES * CHUNK_PAGES) * PAGE, len))
			break;
	}
	return NULL;
}

static void discard_one(const struct combo *c, struct guest_mem *gm, struct snap *s)
{
	const struct mem_lazy_opts opts = { .mode = c->mode };
	struct discarder d = { .gm = gm, .size = s->size };
	struct mem_lazy_report rep;
	struct mem_lazy *l = NULL;
	pthread_t t;
	int ret;

	TEST_OK(mem_lazy_start(gm, 0, &s->src, &opts, &l));
	TEST_ASSERT(pthread_create(&t, NULL, discarder_main, &d) == 0, "pthread_create");
	ret = mem_lazy_wait(l, WAIT_MS);
	atomic_store(&d.stop, true);
	TEST_ASSERT(pthread_join(t, NULL) == 0, "pthread_join");
	mem_lazy_get_report(l, &rep);
	TEST_ASSERT(!ret && rep.done && !rep.err, "%s on %s with %" PRIu64 " discards during the "
		    "fill: wait %d, err %d", mem_lazy_mode_name(c->mode), c->ops->name,
		    d.discards, ret, rep.err);
	mem_lazy_stop(l);
}

static void run_discard(const void *arg) { for_each_combo(RAM_BYTES, discard_one); }

/* ---- stop while everything runs ---- */

static void stop_early_one(const struct combo *c, struct guest_mem *gm, struct snap *s)
{
	const struct mem_lazy_opts opts = { .mode = c->mode };
	struct mem_lazy *l = NULL;

	TEST_OK(mem_lazy_start(gm, 0, &s->src, &opts, &l));
	TEST_ASSERT(mem_lazy_wait(l, 0) == -ETIMEDOUT, "the fill of 256 MiB was instant");
	mem_lazy_stop(l);
	/* Pages never filled read zero now (a plain fault): nothing hangs. */
	TEST_ASSERT(((volatile uint8_t *)gm->region[0].hva)[ORDER_RAM_BYTES - 1] == 0,
		    "the last page was filled before a stop right after the start");
}

static void run_stop_early(const void *arg)
{
	for_each_combo(ORDER_RAM_BYTES, stop_early_one);
}

/* ---- refusals ---- */

static void expect_refused(const struct mem_region *r, enum mem_lazy_mode m, const char *words)
{
	char why[WHY_BYTES];
	int ret = mem_lazy_check(r, m, why, sizeof(why));

	printf("%s on %s: %d %s\n", mem_lazy_mode_name(m), r->ops->name, ret, why);
	TEST_ASSERT(ret == -EOPNOTSUPP && (!words || strstr(why, words)),
		    "%s on %s: %d '%s', want -EOPNOTSUPP with '%s'", mem_lazy_mode_name(m),
		    r->ops->name, ret, why, words ? words : "");
}

static void run_check(const void *arg)
{
	const struct mem_lazy_opts opts = { .mode = MEM_LAZY_MINOR };
	struct mem_lazy *l = (struct mem_lazy *)&opts;   /* must stay untouched */
	struct guest_mem anon, memfd;
	char why[WHY_BYTES];
	struct snap s;
	int ret;

	ram_create(&anon, &mem_backend_anon, SMALL_RAM_BYTES, MEM_THP_ADVICE_NONE);
	ram_create(&memfd, &mem_backend_memfd, SMALL_RAM_BYTES, MEM_THP_ADVICE_NONE);
	ret = mem_lazy_check(&anon.region[0], MEM_LAZY_COPY, why, sizeof(why));
	TEST_REQUIRE(ret != -EPERM, why);
	TEST_ASSERT(ret == 0, "lazy-copy on anon: %d %s", ret, why);
	ret = mem_lazy_check(&memfd.region[0], MEM_LAZY_COPY, why, sizeof(why));
	TEST_ASSERT(ret == 0, "lazy-copy on memfd: %d %s", ret, why);
	/* Move and minor: what the kernel offers decides; a refusal names the feature. */
	ret = mem_lazy_check(&anon.region[0], MEM_LAZY_MOVE, why, sizeof(why));
	printf("lazy-move on anon: %d %s\n", ret, why);
	TEST_ASSERT(ret == 0 || (ret == -EOPNOTSUPP && strstr(why, "UFFD_FEATURE_MOVE")), "%s",
		    why);
	ret = mem_lazy_check(&memfd.region[0], MEM_LAZY_MINOR, why, sizeof(why));
	printf("lazy-minor on memfd: %d %s\n", ret, why);
	TEST_ASSERT(ret == 0 || (ret == -EOPNOTSUPP && strstr(why, "MINOR")), "%s", why);
	expect_refused(&anon.region[0], MEM_LAZY_MINOR, "lazy-minor needs memfd (shmem) RAM");
	expect_refused(&memfd.region[0], MEM_LAZY_MOVE, "lazy-move needs anon RAM");
	TEST_ASSERT(mem_lazy_check(&anon.region[0], MEM_LAZY_NR_MODES, why, sizeof(why)) == -EINVAL,
		    "an unknown mode");
	TEST_ASSERT(!strcmp(mem_lazy_mode_name(MEM_LAZY_MOVE), "lazy-move") &&
		    !strcmp(mem_lazy_mode_name(MEM_LAZY_NR_MODES), "?"), "names");
	/* The start refuses the same, and the size must match. */
	snap_make(&s, SMALL_RAM_BYTES, 1, true);
	TEST_ASSERT(mem_lazy_start(&anon, 0, &s.src, &opts, &l) == -EOPNOTSUPP &&
		    l == (struct mem_lazy *)&opts, "lazy-minor started on anon");
	s.src.size -= PAGE;
	TEST_ASSERT(mem_lazy_start(&memfd, 0, &s.src, &opts, &l) == -EINVAL, "size mismatch");
	s.src.size += PAGE;
	TEST_ASSERT(mem_lazy_start(&memfd, 1, &s.src, &opts, &l) == -EINVAL, "no region 1");
	/* One registration at a time: a second restore of the same region is refused. */
	{
		const struct mem_lazy_opts copy = { .mode = MEM_LAZY_COPY };
		struct mem_lazy *first = NULL;

		TEST_OK(mem_lazy_start(&anon, 0, &s.src, &copy, &first));
		ret = mem_lazy_check(&anon.region[0], MEM_LAZY_COPY, why, sizeof(why));
		printf("a second lazy-copy: %d %s\n", ret, why);
		TEST_ASSERT(ret == -EBUSY, "a registered region checked %d", ret);
		TEST_OK(mem_lazy_wait(first, WAIT_MS));
		mem_lazy_stop(first);
	}
	snap_free(&s);
	mem_destroy(&anon);
	mem_destroy(&memfd);
}

static void run_refuse_hugetlb(const void *arg)
{
	struct guest_mem gm;

	TEST_REQUIRE(hugepages_reserve(SMALL_RAM_BYTES / MEM_HUGE_PAGE_BYTES),
		     "cannot reserve 2 MiB huge pages for a hugetlb region");
	ram_create(&gm, &mem_backend_hugetlb, SMALL_RAM_BYTES, MEM_THP_ADVICE_NONE);
	for (unsigned int m = 0; m < MEM_LAZY_NR_MODES; m++)
		expect_refused(&gm.region[0], (enum mem_lazy_mode)m, "by design");
	mem_destroy(&gm);
}

static void run_refuse_guest_memfd(const void *arg)
{
	const struct mem_config cfg = {
		.size = SMALL_RAM_BYTES, .backend = &mem_backend_guest_memfd,
	};
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = -1;
	char why[WHY_BYTES];
	struct guest_mem gm;

	if (kvm >= 0) {
		vm = ioctl(kvm, KVM_CREATE_VM, 0);
		close(kvm);
	}
	TEST_REQUIRE(vm >= 0, "no /dev/kvm (a guest_memfd needs a VM)");
	if (mem_backend_guest_memfd.supported(vm, why, sizeof(why))) {
		close(vm);
		TEST_REQUIRE(false, "guest_memfd is not supported here");
	}
	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	/* What the kernel says decides: on 6.18 registration is EINVAL. */
	for (unsigned int m = 0; m < MEM_LAZY_NR_MODES; m++)
		expect_refused(&gm.region[0], (enum mem_lazy_mode)m, NULL);
	mem_destroy(&gm);
	close(vm);
}

/* ---- transparent huge pages ---- */

static void run_collapse(const void *arg)
{
	char setting[WHY_BYTES], msg[WHY_BYTES + 64];
	struct mem_thp_host host;
	enum mem_thp_policy pol;

	alarm(CASE_ALARM_S);
	TEST_OK(mem_thp_host_read("", &host));
	pol = mem_thp_policy(&host, MEM_THP_KIND_ANON, setting, sizeof(setting));
	snprintf(msg, sizeof(msg), "no anonymous THP on this host (%s)", setting);
	TEST_REQUIRE(host.present && !host.process_disabled && pol != MEM_THP_POLICY_NEVER, msg);
	for (unsigned int m = 0; m < 2; m++) {
		const struct combo *c = &combos[m ? 2 : 0];   /* copy, move on anon */
		const struct mem_lazy_opts opts = { .mode = c->mode, .collapse = true };
		struct mem_lazy_report rep;
		struct mem_lazy *l = NULL;
		struct guest_mem gm;
		struct thp_smaps sm;
		struct snap s;

		ram_create(&gm, c->ops, THP_RAM_BYTES, MEM_THP_ADVICE_HUGE);
		if (mem_lazy_check(&gm.region[0], c->mode, NULL, 0)) {
			mem_destroy(&gm);
			continue;
		}
		snap_make(&s, THP_RAM_BYTES, 1, true);
		TEST_OK(mem_lazy_start(&gm, 0, &s.src, &opts, &l));
		TEST_OK(mem_lazy_wait(l, WAIT_MS));
		check_filled(l, &gm.region[0], &s, NULL, mem_lazy_mode_name(c->mode));
		mem_lazy_get_report(l, &rep);
		thp_smaps_read(gm.region[0].hva, THP_RAM_BYTES, &sm);
		printf("%s: smaps AnonHugePages %" PRIu64 " MiB\n", mem_lazy_mode_name(c->mode),
		       sm.anon_huge / MiB);
		TEST_ASSERT(rep.collapse_err == 0, "MADV_COLLAPSE: %s",
			    strerror(-rep.collapse_err));
		TEST_ASSERT(rep.huge_bytes >= THP_RAM_BYTES / 2 && sm.anon_huge >= rep.huge_bytes,
			    "%s: huge %" PRIu64 " MiB, smaps %" PRIu64 " MiB",
			    mem_lazy_mode_name(c->mode), rep.huge_bytes / MiB, sm.anon_huge / MiB);
		mem_lazy_stop(l);
		snap_free(&s);
		mem_destroy(&gm);
	}
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "check", run_check, NULL },
		{ "refuse-hugetlb", run_refuse_hugetlb, NULL },
		{ "refuse-guest_memfd", run_refuse_guest_memfd, NULL },
		{ "copy-anon", run_matrix, &combos[0] },
		{ "copy-memfd", run_matrix, &combos[1] },
		{ "move-anon", run_matrix, &combos[2] },
		{ "minor-memfd", run_matrix, &combos[3] },
		{ "order", run_order, NULL },
		{ "truncated", run_truncated, NULL },
		{ "dropped", run_dropped, NULL },
		{ "discard-during-fill", run_discard, NULL },
		{ "stop-early", run_stop_early, NULL },
		{ "collapse", run_collapse, NULL },
	};

	hugepages_save();
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
