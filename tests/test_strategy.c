// SPDX-License-Identifier: MIT
/*
 * Choosing a population strategy and what mem_populate() reports, without
 * KVM: selection from a capability set (bounded by the order table's
 * length), every backend's order table, names, and on real memfd and anon
 * memory: a refusal is flagged as one and a failure while running is not,
 * a cancel request stops before anything is populated, and population
 * survives a storm of signals (EINTR retried).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/signal_storm.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define PAGE MEM_PAGE_BYTES

static const enum mem_populate_strategy gmem_order[] = {
	MEM_POPULATE_WRITE, MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE, MEM_POPULATE_NONE,
};
#define GMEM_ORDER_LEN (sizeof(gmem_order) / sizeof(gmem_order[0]))

static void test_choose(void)
{
	struct mem_populate_caps all = { .fallocate = true, .madvise = true, .write = true };
	struct mem_populate_caps this_host = {
		.fallocate = true, .madvise = true,
		.why_no_write = "pwrite(): ESPIPE, write(): EINVAL",
	};
	struct mem_populate_caps nothing = {
		.why_no_fallocate = "anon memory has no file",
		.why_no_madvise = "MADV_POPULATE_WRITE: EINVAL",
		.why_no_write = "anon memory has no file",
	};
	enum mem_populate_strategy s;
	char why[160];

	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, GMEM_ORDER_LEN, &all, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_WRITE && !why[0], "auto takes write when offered");
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, GMEM_ORDER_LEN, &this_host, &s,
				    why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_MADVISE, "auto falls back to madvise");
	TEST_ASSERT(strstr(why, "no write (pwrite(): ESPIPE, write(): EINVAL)"),
		    "auto says what it passed over: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, GMEM_ORDER_LEN, &nothing, &s,
				    why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "auto with nothing supported is none");
	TEST_ASSERT(strstr(why, "no madvise (MADV_POPULATE_WRITE: EINVAL)"), "why: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, NULL, 4, &all, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "no order: none");
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, gmem_order, 0, &all, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "empty order: none");

	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_WRITE, gmem_order, GMEM_ORDER_LEN,
					&this_host, &s, why, sizeof(why)) == -EOPNOTSUPP,
		    "write refused");
	TEST_ASSERT(strstr(why, "populate=write") && strstr(why, "ESPIPE"), "why: '%s'", why);
	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_FALLOCATE, gmem_order, GMEM_ORDER_LEN,
					&nothing, &s, why, sizeof(why)) == -EOPNOTSUPP &&
		    strstr(why, "has no file"), "fallocate refused: '%s'", why);
	TEST_OK(mem_populate_choose(MEM_POPULATE_NONE, gmem_order, GMEM_ORDER_LEN, &nothing, &s,
				    why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "none is always possible");
	TEST_OK(mem_populate_choose(MEM_POPULATE_FALLOCATE, gmem_order, GMEM_ORDER_LEN,
				    &this_host, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_FALLOCATE, "an explicit choice is kept");
	TEST_ASSERT(mem_populate_choose(MEM_POPULATE_NR, gmem_order, GMEM_ORDER_LEN, &all, &s,
					why, sizeof(why)) == -EOPNOTSUPP, "out-of-range strategy");
	TEST_PASS("strategy selection from a capability set");
}

/*
 * A table without NONE is read no further than its length, nor than
 * MEM_POPULATE_NR entries whatever length is claimed: exact-size heap
 * copies, so that ASan sees any read past them.
 */
static void test_choose_bounds(void)
{
	struct mem_populate_caps nothing = { .why_no_madvise = "x", .why_no_write = "y" };
	enum mem_populate_strategy *two = malloc(2 * sizeof(*two));
	enum mem_populate_strategy *full = malloc(MEM_POPULATE_NR * sizeof(*full));
	enum mem_populate_strategy s = MEM_POPULATE_WRITE;
	char why[160];

	TEST_ASSERT(two && full, "malloc");
	two[0] = MEM_POPULATE_WRITE;
	two[1] = MEM_POPULATE_MADVISE;
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, two, 2, &nothing, &s, why, sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE && strstr(why, "no write (y)") &&
		    strstr(why, "no madvise (x)"), "no NONE in the table: none, why '%s'", why);
	for (unsigned int i = 0; i < MEM_POPULATE_NR; i++)
		full[i] = MEM_POPULATE_WRITE;
	TEST_OK(mem_populate_choose(MEM_POPULATE_AUTO, full, 1000, &nothing, &s, why,
				    sizeof(why)));
	TEST_ASSERT(s == MEM_POPULATE_NONE, "a wrong length is bounded by MEM_POPULATE_NR");
	free(full);
	free(two);
	TEST_PASS("auto never walks past the order table");
}

/* Every backend's row: distinct real strategies ending with NONE, its length right. */
static void test_order_tables(void)
{
	for (const struct mem_backend_ops *const *b = mem_backends; *b; b++) {
		const struct mem_backend_ops *o = *b;
		unsigned int seen = 0;

		TEST_ASSERT(o->populate_order && o->populate_order_len >= 1 &&
			    o->populate_order_len <= MEM_POPULATE_NR - 1,
			    "%s: an order of 1..%u entries (%u)", o->name, MEM_POPULATE_NR - 1,
			    o->populate_order_len);
		for (unsigned int i = 0; i < o->populate_order_len; i++) {
			enum mem_populate_strategy st = o->populate_order[i];
			bool last = i + 1 == o->populate_order_len;

			TEST_ASSERT(st > MEM_POPULATE_AUTO && st < MEM_POPULATE_NR,
				    "%s: entry %u is a strategy", o->name, i);
			TEST_ASSERT((st == MEM_POPULATE_NONE) == last,
				    "%s: NONE is the last entry and only there (entry %u)", o->name,
				    i);
			TEST_ASSERT(!(seen & (1u << st)), "%s: %s twice", o->name,
				    mem_populate_name(st));
			seen |= 1u << st;
		}
		/* hugetlb pages are not charged to the memory cgroup; the others are. */
		TEST_ASSERT(o->memcg_charged == (o != &mem_backend_hugetlb), "%s: memcg_charged",
			    o->name);
	}
	TEST_PASS("every backend's populate_order ends with NONE within its length");
}

static void test_names(void)
{
	enum mem_populate_strategy s;
	enum mem_prefault_mode m;

	for (unsigned int i = 0; i < MEM_POPULATE_NR; i++) {
		TEST_OK(mem_populate_parse(mem_populate_name((enum mem_populate_strategy)i), &s));
		TEST_ASSERT((unsigned int)s == i, "round trip %u", i);
	}
	TEST_ASSERT(mem_populate_parse("eager", &s) == -EINVAL, "unknown strategy");
	TEST_ASSERT(mem_populate_name(MEM_POPULATE_NR) == NULL, "no name past the end");
	TEST_OK(mem_prefault_parse("on", &m));
	TEST_ASSERT(m == MEM_PREFAULT_ON, "on");
	TEST_ASSERT(mem_prefault_parse("yes", &m) == -EINVAL, "unknown prefault mode");
	TEST_PASS("strategy and pre-fault names");
}

/* ---- real memory (memfd, anon), no KVM needed ---- */

#define REGION_BYTES (64 * MiB)

static uint64_t resident(struct guest_mem *gm)
{
	uint64_t bytes = UINT64_MAX;

	TEST_OK(mem_resident(gm, 0, REGION_BYTES, &bytes));
	return bytes;
}

static void create(struct guest_mem *gm, const struct mem_backend_ops *b)
{
	struct mem_config cfg = { .size = REGION_BYTES, .backend = b };

	TEST_OK(mem_create(gm, &cfg, -1, NULL));
}

static void test_refused_flag(void)
{
	struct mem_populate_req req = { .strategy = MEM_POPULATE_FALLOCATE };
	struct mem_source short_src = { .fd = -1 };
	struct mem_populate_report rep;
	struct guest_mem gm;
	int ret;

	/* A refusal: anon memory has no file to fallocate. */
	create(&gm, &mem_backend_anon);
	ret = mem_populate(&gm, 0, REGION_BYTES, &req, &rep);
	TEST_ASSERT(ret == -EOPNOTSUPP && rep.refused && rep.nr == 1 &&
		    strstr(rep.region[0].why, "not supported here"), "refusal flagged: %d '%s'",
		    ret, rep.nr ? rep.region[0].why : "");
	mem_destroy(&gm);

	/* Failing while running (the source ends early) is not a refusal, under auto too. */
	short_src.fd = memfd_create("short", MFD_CLOEXEC);
	TEST_ASSERT(short_src.fd >= 0 && ftruncate(short_src.fd, MiB) == 0, "short source");
	req.src = &short_src;
	for (int s = MEM_POPULATE_AUTO; s <= MEM_POPULATE_MADVISE; s += MEM_POPULATE_MADVISE) {
		req.strategy = (enum mem_populate_strategy)s;
		create(&gm, &mem_backend_memfd);
		ret = mem_populate(&gm, 0, REGION_BYTES, &req, &rep);
		TEST_ASSERT(ret == -ENODATA && rep.err == -ENODATA && !rep.refused &&
			    rep.err_gpa < REGION_BYTES, "%s: run-time failure %d, refused %d",
			    mem_populate_name(req.strategy), ret, rep.refused);
		mem_destroy(&gm);
	}
	close(short_src.fd);
	TEST_PASS("report.refused: set for a refusal, not for a failure while running");
}

static void test_populate_cancel(void)
{
	atomic_bool cancel = true;
	struct mem_populate_req req = { .strategy = MEM_POPULATE_MADVISE, .cancel = &cancel };
	struct mem_populate_report rep;
	struct guest_mem gm;

	create(&gm, &mem_backend_memfd);
	TEST_ASSERT(mem_populate(&gm, 8 * MiB, 32 * MiB, &req, &rep) == -ECANCELED &&
		    rep.err == -ECANCELED && rep.err_gpa == 8 * MiB && !rep.refused &&
		    rep.done == 0, "cancelled at the start: err %d at %#llx", rep.err,
		    (unsigned long long)rep.err_gpa);
	TEST_ASSERT(resident(&gm) == 0, "nothing populated");
	atomic_store(&cancel, false);
	req.max_threads = 2;
	TEST_OK(mem_populate(&gm, 8 * MiB, 32 * MiB, &req, &rep));
	TEST_ASSERT(rep.done == 32 * MiB && rep.region[0].threads == rep.region[0].threads_wanted &&
		    rep.region[0].thread_create_err == 0, "not cancelled: all done on %u threads",
		    rep.region[0].threads);
	TEST_ASSERT(resident(&gm) == 32 * MiB, "exactly the range resident");
	mem_destroy(&gm);
	TEST_PASS("mem_populate: a cancel request stops it; report says where");
}

/* ---- a storm of signals during population ---- */

#define STORM_INTERVAL_NS 100000   /* 100 us between two signals */

/* Ctrl-Z/fg, a timer, a debugger: signals interrupt population; it must still succeed. */
static void test_signal_storm(void)
{
	static const enum mem_populate_strategy strategies[] = {
		MEM_POPULATE_FALLOCATE, MEM_POPULATE_MADVISE,
	};

	signal_storm_install();
	for (unsigned int i = 0; i < 2; i++) {
		struct mem_populate_req req = { .strategy = strategies[i], .max_threads = 1 };
		struct mem_populate_report rep;
		struct guest_mem gm;
		struct stat st;
		int ret;

		create(&gm, &mem_backend_memfd);
		signal_storm_reset();
		signal_storm_start(signal_storm_interval(STORM_INTERVAL_NS));
		ret = mem_populate(&gm, 0, REGION_BYTES, &req, &rep);
		signal_storm_stop();
		TEST_ASSERT(ret == 0, "%s under %u signals: %d (%s)", mem_populate_name(req.strategy),
			    signal_storm_hits(), ret, strerror(-ret));
		TEST_ASSERT(fstat(gm.region[0].fd, &st) == 0 &&
			    (uint64_t)st.st_blocks * 512 == REGION_BYTES,
			    "%s: the whole file is allocated (%llu bytes)",
			    mem_populate_name(req.strategy), (unsigned long long)st.st_blocks * 512);
		printf("# %s: populated under %u signals\n", mem_populate_name(req.strategy),
		       signal_storm_hits());
		mem_destroy(&gm);
	}
	signal_storm_uninstall();
	TEST_PASS("population under a signal storm completes");
}

int main(void)
{
	test_choose();
	test_choose_bounds();
	test_order_tables();
	test_names();
	test_refused_flag();
	test_populate_cancel();
	test_signal_storm();
	return 0;
}
