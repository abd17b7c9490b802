// SPDX-License-Identifier: MIT
/*
 * Host-side reclaim (mem/pageout.h) without KVM: guest memory made by
 * mem_create() with no VM. Refusals (guest_memfd, hugetlb, bad ranges, no
 * swap) carry the reason; with swap set up by the test (tests/swap.h) and
 * taken down after, MADV_PAGEOUT of anon and memfd memory makes the pages
 * leave memvmm's page tables, which the host's own meters
 * (/proc/self/status) confirm, and the contents come back intact.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/pageout.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/swap.h"
#include "tests/test.h"

#define MiB ((uint64_t)1 << 20)

#define RAM_BYTES       (64 * MiB)   /* what is paged out */
#define SMALL_RAM_BYTES (8 * MiB)    /* refusals and meters */
#define SWAP_BYTES      (256 * MiB)
#define HOTPLUG_GPA     (1ull << 32)
#define WHY_BYTES       512
/* After MADV_PAGEOUT at most this share of the range may still be mapped. */
#define LEFT_MAPPED_PCT 5

static uint8_t pattern(uint64_t gpa)
{
	return (uint8_t)((gpa >> 12) * 31 + (gpa & 0xff) + 1);   /* never a zero page */
}

static void fill(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	static uint8_t buf[MiB];

	for (uint64_t done = 0; done < len; done += sizeof(buf)) {
		for (uint64_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(gpa + done + i);
		TEST_OK(mem_write(gm, gpa + done, buf, sizeof(buf)));
	}
}

static void check_contents(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	static uint8_t buf[MiB];

	for (uint64_t done = 0; done < len; done += sizeof(buf)) {
		TEST_OK(mem_read(gm, gpa + done, buf, sizeof(buf)));
		for (uint64_t i = 0; i < sizeof(buf); i++)
			TEST_ASSERT(buf[i] == pattern(gpa + done + i),
				    "gpa %#" PRIx64 " reads %#x after swap-in, want %#x",
				    gpa + done + i, buf[i], pattern(gpa + done + i));
	}
}

static void ram_create(struct guest_mem *gm, const struct mem_backend_ops *ops, uint64_t size)
{
	const struct mem_config cfg = {
		.size = size, .backend = ops, .thp_advice = MEM_THP_ADVICE_NOHUGE,
	};

	TEST_OK(mem_create(gm, &cfg, -1, NULL));
}

/* The host's own meters of this process, in bytes (/proc/self/status). */
struct status_meters {
	uint64_t rss_anon, rss_shmem, swap;
};

static void status_read(struct status_meters *s)
{
	static const struct {
		const char *key;
		size_t field;
	} keys[] = {
		{ "RssAnon:", offsetof(struct status_meters, rss_anon) },
		{ "RssShmem:", offsetof(struct status_meters, rss_shmem) },
		{ "VmSwap:", offsetof(struct status_meters, swap) },
	};
	FILE *f = fopen("/proc/self/status", "re");
	unsigned long long kb;
	char line[256];
	unsigned int seen = 0;

	TEST_ASSERT(f, "open /proc/self/status");
	memset(s, 0, sizeof(*s));
	while (fgets(line, sizeof(line), f))
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strncmp(line, keys[i].key, strlen(keys[i].key))) {
				TEST_ASSERT(sscanf(line + strlen(keys[i].key), "%llu", &kb) == 1,
					    "%s", line);
				*(uint64_t *)((char *)s + keys[i].field) = (uint64_t)kb << 10;
				seen++;
			}
	fclose(f);
	TEST_ASSERT(seen == sizeof(keys) / sizeof(keys[0]), "/proc/self/status lacks Rss*/VmSwap");
}

/* ---- refusals ---- */

/* Bad ranges: -EINVAL, with a reason, from the check, the pageout and the meters. */
static void run_check_errors(const void *arg)
{
	static const struct {
		uint64_t gpa, len;
	} bad[] = {
		{ 0, 0 },                                 /* empty */
		{ 1, MEM_PAGE_BYTES },                    /* unaligned start */
		{ 0, MEM_PAGE_BYTES + 1 },                /* unaligned length */
		{ SMALL_RAM_BYTES, MEM_PAGE_BYTES },      /* just past RAM */
		{ SMALL_RAM_BYTES - MEM_PAGE_BYTES, 2 * MEM_PAGE_BYTES },   /* straddles the end */
		{ UINT64_MAX - MEM_PAGE_BYTES + 1, MEM_PAGE_BYTES },        /* the last page */
		{ MEM_PAGE_BYTES, UINT64_MAX - MEM_PAGE_BYTES + 1 },        /* would wrap */
	};
	struct mem_pageout_result res;
	struct mem_page_meters m;
	struct guest_mem gm;
	const char *why;
	unsigned int region = 99;

	ram_create(&gm, &mem_backend_anon, SMALL_RAM_BYTES);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		TEST_ASSERT(mem_pageout_check(&gm, bad[i].gpa, bad[i].len, &why, &region) == -EINVAL &&
			    why && *why, "check of [%#" PRIx64 ", +%#" PRIx64 ")", bad[i].gpa,
			    bad[i].len);
		why = NULL;
		TEST_ASSERT(mem_pageout(&gm, bad[i].gpa, bad[i].len, &res, &why) == -EINVAL && why,
			    "pageout of [%#" PRIx64 ", +%#" PRIx64 ")", bad[i].gpa, bad[i].len);
		TEST_ASSERT(mem_page_meters(&gm, bad[i].gpa, bad[i].len, &m) == -EINVAL,
			    "meters of [%#" PRIx64 ", +%#" PRIx64 ")", bad[i].gpa, bad[i].len);
	}
	TEST_ASSERT(region == 99, "region set without -EOPNOTSUPP");
	mem_destroy(&gm);
}

/*
 * A guest_mem of one region of ops over an anonymous mapping, for a backend
 * that cannot be created here (guest_memfd without KVM): only the checks,
 * which read ops, ever see it, and it is never passed to mem_destroy().
 */
static void fake_gm(struct guest_mem *gm, const struct mem_backend_ops *ops, uint8_t *hva)
{
	*gm = (struct guest_mem){ .nr_regions = 1, .ram_size = SMALL_RAM_BYTES, .ops = ops,
				  .vm_fd = -1 };
	gm->region[0] = (struct mem_region){
		.gpa = 0, .size = SMALL_RAM_BYTES, .hva = hva, .fd = -1,
		.role = MEM_ROLE_BOOT_RAM, .ops = ops,
	};
}

/* The region's backend refuses: -EOPNOTSUPP naming it, before any swap check. */
static void expect_refusal(struct guest_mem *gm, unsigned int want_region)
{
	const struct mem_backend_ops *ops = gm->region[want_region].ops;
	uint64_t gpa = gm->region[want_region].gpa, len = gm->region[want_region].size;
	struct mem_pageout_result res = { .bytes = 1234 };
	unsigned int region = 99;
	const char *why = NULL;

	TEST_ASSERT(ops->no_pageout, "%s has no refusal", ops->name);
	TEST_ASSERT(mem_pageout_check(gm, gpa, len, &why, &region) == -EOPNOTSUPP,
		    "%s accepted", ops->name);
	TEST_ASSERT(why == ops->no_pageout && region == want_region,
		    "%s: why '%s', region %u", ops->name, why ? why : "(null)", region);
	why = NULL;
	TEST_ASSERT(mem_pageout(gm, gpa, len, &res, &why) == -EOPNOTSUPP && why == ops->no_pageout,
		    "%s: mem_pageout", ops->name);
	TEST_ASSERT(res.bytes == 1234, "a refused pageout filled in the result");
	printf("%s refused: %s\n", ops->name, why);
}

static void run_refuse_guest_memfd(const void *arg)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = -1;
	struct guest_mem gm;
	char why[WHY_BYTES];
	uint8_t *p;

	if (kvm >= 0) {
		vm = ioctl(kvm, KVM_CREATE_VM, 0);
		close(kvm);
	}
	if (vm >= 0 && mem_backend_guest_memfd.supported(vm, why, sizeof(why)) == 0) {
		const struct mem_config cfg = { .size = SMALL_RAM_BYTES,
						.backend = &mem_backend_guest_memfd };

		TEST_OK(mem_create(&gm, &cfg, vm, NULL));
		expect_refusal(&gm, 0);
		mem_destroy(&gm);
		close(vm);
		return;
	}
	if (vm >= 0)
		close(vm);
	/* No guest_memfd here: the refusal comes from the table all the same. */
	p = mmap(NULL, SMALL_RAM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap");
	fake_gm(&gm, &mem_backend_guest_memfd, p);
	printf("no guest_memfd here: a region described as guest_memfd\n");
	expect_refusal(&gm, 0);
	munmap(p, SMALL_RAM_BYTES);
}

static void run_refuse_hugetlb(const void *arg)
{
	const struct mem_config cfg = { .size = SMALL_RAM_BYTES, .backend = &mem_backend_hugetlb };
	struct guest_mem gm;

	TEST_REQUIRE(hugepages_reserve(SMALL_RAM_BYTES / MEM_HUGE_PAGE_BYTES),
		     "cannot reserve 2 MiB huge pages for a hugetlb region");
	TEST_OK(mem_create(&gm, &cfg, -1, NULL));
	expect_refusal(&gm, 0);
	mem_destroy(&gm);
}

/* A range over anon RAM and a hugetlb region is refused for the hugetlb one. */
static void run_refuse_mixed(const void *arg)
{
	const struct mem_region_spec spec = {
		.gpa = HOTPLUG_GPA, .size = SMALL_RAM_BYTES, .role = MEM_ROLE_HOTPLUG,
		.backend = &mem_backend_hugetlb,
	};
	struct guest_mem gm;
	unsigned int idx, region = 99;
	const char *why = NULL;

	TEST_REQUIRE(hugepages_reserve(SMALL_RAM_BYTES / MEM_HUGE_PAGE_BYTES),
		     "cannot reserve 2 MiB huge pages for a hugetlb region");
	ram_create(&gm, &mem_backend_anon, SMALL_RAM_BYTES);
	TEST_OK(mem_region_add(&gm, &spec, &idx));
	TEST_ASSERT(mem_pageout_check(&gm, 0, SMALL_RAM_BYTES, &why, &region) != -EOPNOTSUPP,
		    "anon RAM alone refused: %s", why);
	TEST_ASSERT(mem_pageout_check(&gm, HOTPLUG_GPA, SMALL_RAM_BYTES, &why, &region) ==
		    -EOPNOTSUPP && region == idx && why == mem_backend_hugetlb.no_pageout,
		    "hugetlb region: region %u", region);
	mem_destroy(&gm);
}

/* Without swap, anon and memfd are refused with the reason, and nothing is paged out. */
static void run_no_swap(const void *arg)
{
	const struct mem_backend_ops *const backends[] = { &mem_backend_anon, &mem_backend_memfd };
	struct mem_page_meters before, after;
	struct mem_pageout_result res;
	struct mem_swap_info si;
	struct guest_mem gm;
	const char *why;

	TEST_OK(mem_swap_read(&si));
	TEST_REQUIRE(si.devices == 0, "swap is on already (/proc/swaps): cannot test its absence");
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		ram_create(&gm, backends[i], SMALL_RAM_BYTES);
		fill(&gm, 0, SMALL_RAM_BYTES);
		TEST_OK(mem_page_meters(&gm, 0, SMALL_RAM_BYTES, &before));
		why = NULL;
		TEST_ASSERT(mem_pageout_check(&gm, 0, SMALL_RAM_BYTES, &why, NULL) == -ENOSPC &&
			    why && strstr(why, "no swap device"), "%s: no -ENOSPC", backends[i]->name);
		why = NULL;
		TEST_ASSERT(mem_pageout(&gm, 0, SMALL_RAM_BYTES, &res, &why) == -ENOSPC &&
			    why && strstr(why, "no swap device"), "%s: mem_pageout", backends[i]->name);
		TEST_OK(mem_page_meters(&gm, 0, SMALL_RAM_BYTES, &after));
		TEST_ASSERT(before.mapped == SMALL_RAM_BYTES && after.mapped == before.mapped &&
			    after.swapped == 0, "%s: mapped %" PRIu64 " -> %" PRIu64,
			    backends[i]->name, before.mapped, after.mapped);
		printf("%s refused: %s\n", backends[i]->name, why);
		mem_destroy(&gm);
	}
}

/* ---- meters ---- */

/* The test's own mincore count of [p, p + len). */
static uint64_t own_mincore(const uint8_t *p, uint64_t len)
{
	static unsigned char vec[RAM_BYTES / MEM_PAGE_BYTES];
	uint64_t bytes = 0;

	TEST_ASSERT(len <= RAM_BYTES && mincore((void *)p, len, vec) == 0, "mincore");
	for (uint64_t i = 0; i < len / MEM_PAGE_BYTES; i++)
		bytes += (vec[i] & 1) * MEM_PAGE_BYTES;
	return bytes;
}

/* A range over two regions (anon RAM, then memfd hotplug memory) measures both pieces. */
static void run_meters(const void *arg)
{
	const struct mem_region_spec spec = {
		.gpa = SMALL_RAM_BYTES, .size = SMALL_RAM_BYTES, .role = MEM_ROLE_HOTPLUG,
		.backend = &mem_backend_memfd, .thp_advice = MEM_THP_ADVICE_NOHUGE,
	};
	const uint64_t touched = 3 * MiB;   /* at the end of RAM and the start of the memfd */
	struct mem_page_meters m;
	struct guest_mem gm;
	unsigned int idx;

	ram_create(&gm, &mem_backend_anon, SMALL_RAM_BYTES);
	TEST_OK(mem_region_add(&gm, &spec, &idx));
	TEST_OK(mem_page_meters(&gm, 0, 2 * SMALL_RAM_BYTES, &m));
	TEST_ASSERT(m.resident == 0 && m.mapped == 0 && m.swapped == 0,
		    "fresh memory: resident %" PRIu64 " mapped %" PRIu64, m.resident, m.mapped);
	fill(&gm, SMALL_RAM_BYTES - touched, 2 * touched);
	TEST_OK(mem_page_meters(&gm, 0, 2 * SMALL_RAM_BYTES, &m));
	TEST_ASSERT(m.resident == 2 * touched && m.mapped == 2 * touched && m.swapped == 0,
		    "resident %" PRIu64 " mapped %" PRIu64 ", want %" PRIu64, m.resident,
		    m.mapped, 2 * touched);
	/* The crossing range alone, a page into each side, and an untouched piece. */
	TEST_OK(mem_page_meters(&gm, SMALL_RAM_BYTES - MEM_PAGE_BYTES, 2 * MEM_PAGE_BYTES, &m));
	TEST_ASSERT(m.resident == 2 * MEM_PAGE_BYTES && m.mapped == 2 * MEM_PAGE_BYTES,
		    "crossing pages: mapped %" PRIu64, m.mapped);
	TEST_OK(mem_page_meters(&gm, 0, SMALL_RAM_BYTES - touched, &m));
	TEST_ASSERT(m.resident == 0 && m.mapped == 0, "untouched: mapped %" PRIu64, m.mapped);
	TEST_ASSERT(own_mincore(gm.region[0].hva, SMALL_RAM_BYTES) +
		    own_mincore(gm.region[idx].hva, SMALL_RAM_BYTES) == 2 * touched,
		    "the test's own mincore disagrees");
	mem_destroy(&gm);
}

/* ---- pageout with swap ---- */

static void swap_setup(enum swap_kind *kind)
{
	char why[WHY_BYTES];
	int ret = swap_on(SWAP_BYTES, kind, why, sizeof(why));

	TEST_REQUIRE(ret == 0, why);
	printf("swap: %s %s\n", swap_kind_name(*kind), swap_path());
	if (why[0])
		fprintf(stderr, "swap: leftovers: %s\n", why);
}

static void swap_teardown(struct mem_swap_info *before)
{
	struct mem_swap_info now;
	char why[WHY_BYTES];

	TEST_ASSERT(swap_off(why, sizeof(why)) == 0, "swap teardown: %s", why);
	TEST_OK(mem_swap_read(&now));
	TEST_ASSERT(now.devices == before->devices && now.total_bytes == before->total_bytes,
		    "/proc/swaps: %u devices (%" PRIu64 " bytes) after, %u before", now.devices,
		    now.total_bytes, before->devices);
}

/*
 * RAM_BYTES of the backend, written, paged out: it leaves memvmm's page
 * tables (pagemap, and the host's RssAnon/RssShmem), anon pages become swap
 * entries (and VmSwap), and the contents read back intact.
 */
static void pageout_case(const struct mem_backend_ops *ops)
{
	bool anon = ops == &mem_backend_anon;
	struct status_meters st0, st1;
	struct mem_pageout_result res;
	struct mem_swap_info si0;
	struct mem_page_meters m;
	enum swap_kind kind;
	struct guest_mem gm;
	uint64_t rss0, rss1, resident_own;
	const char *why = NULL;

	TEST_OK(mem_swap_read(&si0));
	swap_setup(&kind);
	ram_create(&gm, ops, RAM_BYTES);
	fill(&gm, 0, RAM_BYTES);
	TEST_OK(mem_pageout_check(&gm, 0, RAM_BYTES, &why, NULL));
	status_read(&st0);
	TEST_ASSERT(mem_pageout(&gm, 0, RAM_BYTES, &res, &why) == 0, "mem_pageout: %s", why);
	status_read(&st1);
	resident_own = own_mincore(gm.region[0].hva, RAM_BYTES);
	printf("%s, %s swap: %.1f ms; resident %" PRIu64 " -> %" PRIu64 " MiB, mapped %" PRIu64
	       " -> %" PRIu64 " MiB, swapped %" PRIu64 " MiB; host: Rss%s %" PRIu64 " -> %" PRIu64
	       " MiB, VmSwap %" PRIu64 " -> %" PRIu64 " MiB\n", ops->name, swap_kind_name(kind),
	       (double)res.ns / 1e6, res.before.resident / MiB, res.after.resident / MiB,
	       res.before.mapped / MiB, res.after.mapped / MiB, res.after.swapped / MiB,
	       anon ? "Anon" : "Shmem", (anon ? st0.rss_anon : st0.rss_shmem) / MiB,
	       (anon ? st1.rss_anon : st1.rss_shmem) / MiB, st0.swap / MiB, st1.swap / MiB);

	TEST_ASSERT(res.bytes == RAM_BYTES && res.before.mapped == RAM_BYTES &&
		    res.before.resident == RAM_BYTES && res.before.swapped == 0,
		    "before: mapped %" PRIu64 " resident %" PRIu64, res.before.mapped,
		    res.before.resident);
	TEST_ASSERT(res.after.mapped <= RAM_BYTES * LEFT_MAPPED_PCT / 100,
		    "still mapped after MADV_PAGEOUT: %" PRIu64 " of %" PRIu64, res.after.mapped,
		    RAM_BYTES);
	/* The host's meters of this process agree (other memory of the test is small). */
	rss0 = anon ? st0.rss_anon : st0.rss_shmem;
	rss1 = anon ? st1.rss_anon : st1.rss_shmem;
	TEST_ASSERT(rss0 >= RAM_BYTES && rss0 - rss1 >= RAM_BYTES - res.after.mapped - MiB,
		    "host Rss%s %" PRIu64 " -> %" PRIu64, anon ? "Anon" : "Shmem", rss0, rss1);
	if (anon) {
		/* Swap entries in the page table; shmem keeps them in the file. */
		TEST_ASSERT(res.after.swapped + res.after.mapped == RAM_BYTES,
			    "anon: swapped %" PRIu64 " + mapped %" PRIu64, res.after.swapped,
			    res.after.mapped);
		TEST_ASSERT(st1.swap - st0.swap >= res.after.swapped - MiB,
			    "host VmSwap %" PRIu64 " -> %" PRIu64, st0.swap, st1.swap);
	} else {
		TEST_ASSERT(res.after.swapped == 0, "memfd: swap entries in the page table");
	}
	/* resident counts the swap cache: zram completes at once, a file asynchronously. */
	TEST_ASSERT(resident_own == res.after.resident || kind != SWAP_ZRAM,
		    "mincore: own %" PRIu64 ", meter %" PRIu64, resident_own, res.after.resident);
	if (kind == SWAP_ZRAM)
		TEST_ASSERT(res.after.resident <= RAM_BYTES * LEFT_MAPPED_PCT / 100,
			    "zram: still resident %" PRIu64, res.after.resident);

	check_contents(&gm, 0, RAM_BYTES);
	TEST_OK(mem_page_meters(&gm, 0, RAM_BYTES, &m));
	TEST_ASSERT(m.mapped == RAM_BYTES && m.swapped == 0 && m.resident == RAM_BYTES,
		    "after swap-in: mapped %" PRIu64 " swapped %" PRIu64, m.mapped, m.swapped);
	mem_destroy(&gm);
	swap_teardown(&si0);
}

static void run_pageout(const void *arg)
{
	pageout_case(arg);
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "check-errors", run_check_errors, NULL },
		{ "refuse-guest_memfd", run_refuse_guest_memfd, NULL },
		{ "refuse-hugetlb", run_refuse_hugetlb, NULL },
		{ "refuse-mixed", run_refuse_mixed, NULL },
		{ "no-swap", run_no_swap, NULL },
		{ "meters", run_meters, NULL },
		{ "anon", run_pageout, &mem_backend_anon },
		{ "memfd", run_pageout, &mem_backend_memfd },
	};
	int ret;

	/*
	 * Cases may grow the huge page pool and set up swap; this process puts
	 * both back however a case ends.
	 */
	hugepages_save();
	ret = swap_arm();
	TEST_ASSERT(ret == 0, "swap_arm: %s", strerror(-ret));
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
