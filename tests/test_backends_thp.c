// SPDX-License-Identifier: MIT
/*
 * test_backends' cases about transparent huge pages, on real memory and
 * without KVM (except guest_memfd's congruence case):
 *
 *   congruent-BACKEND   hva % 2 MiB == gpa % 2 MiB for boot RAM and for
 *                       regions added at gpas that are 4 KiB- but not
 *                       2 MiB-aligned, and the 2 MiB reservation around a
 *                       mapping is given back
 *   thp-anon, thp-memfd after population, >= 90% of a 64 MiB region is
 *                       huge where the host allows it (memfd: the test makes
 *                       shmem allow it); thp=off gives none
 *   thp-on-refused      with anon THP set to never, thp=on refuses naming
 *                       the setting, thp=auto uses none, and the kernel agrees
 *   discard-huge-anon, discard-huge-memfd
 *                       a 4 KiB discard inside a huge page gives that page
 *                       back and the other 511 keep their contents
 *
 * Huge pages are counted by the test's own smaps reader (tests/thp.c), never
 * by memvmm's meter, which is compared against it. Cases that change the
 * host's THP settings do it in the case's child; the parent (test_backends'
 * main, thp_sysfs_save()) puts them back however the child ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "mem/thp.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"
#include "tests/thp.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

#define HUGE            ((uint64_t)MEM_HUGE_PAGE_BYTES)
#define FRACTION_BYTES  (64 * MiB)   /* the region whose huge share is measured */
#define MIN_HUGE_PCT    90
#define SMALL_BYTES     (4 * MiB)    /* two huge pages: the smallest boot RAM */
#define ADDED_GPA_BASE  (1 * GiB)    /* where congruent-* adds regions */
#define WHY_BYTES       256

/* A VM when the backend needs one (guest_memfd), else -1; skips without KVM. */
static int vm_for(const struct mem_backend_ops *b)
{
	char why[WHY_BYTES];
	int kvm, vm;

	if (b->supported(-1, why, sizeof(why)) == 0)
		return -1;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_REQUIRE(kvm >= 0, "/dev/kvm not available");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");
	close(kvm);
	if (b->supported(vm, why, sizeof(why))) {
		fprintf(stderr, "%s: %s\n", b->name, why);
		TEST_REQUIRE(false, "the backend is not supported here");
	}
	return vm;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off ^ (off >> 12) ^ 0xa5);
}

/* ---- congruent-BACKEND ---- */

/* No PROT_NONE rest of the 2 MiB reservation next to [p, p+len) in /proc/self/maps. */
static void check_reservation_gone(const uint8_t *p, uint64_t len, const char *what)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	TEST_ASSERT(f, "open /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3)
			continue;
		TEST_ASSERT(strncmp(perms, "---", 3) ||
			    (end != (uintptr_t)p && start != (uintptr_t)p + len),
			    "%s: a PROT_NONE mapping %lx-%lx is left next to the region %p+%#" PRIx64,
			    what, start, end, (const void *)p, len);
	}
	fclose(f);
}

/* Region i is mapped congruently and wholly; everything around it was given back. */
static void check_congruent(struct guest_mem *gm, unsigned int i, const char *what)
{
	const struct mem_region *r = &gm->region[i];
	uint8_t first = 0x11, last = 0x22, got = 0;

	TEST_ASSERT((uintptr_t)r->hva % HUGE == r->gpa % HUGE,
		    "%s: hva %p, gpa %#" PRIx64 ": %#" PRIx64 " and %#" PRIx64 " modulo 2 MiB", what,
		    (void *)r->hva, r->gpa, (uint64_t)((uintptr_t)r->hva % HUGE), r->gpa % HUGE);
	TEST_OK(mem_write(gm, r->gpa, &first, 1));
	TEST_OK(mem_write(gm, r->gpa + r->size - 1, &last, 1));
	TEST_ASSERT(r->hva[0] == first && r->hva[r->size - 1] == last, "%s: through hva", what);
	TEST_OK(mem_read(gm, r->gpa + r->size - 1, &got, 1));
	TEST_ASSERT(got == last, "%s: read back", what);
	check_reservation_gone(r->hva, r->size, what);
}

/* True if no page of the first and last page of [p, p+len) is mapped. */
static bool unmapped(const uint8_t *p, uint64_t len)
{
	unsigned char v;

	return mincore((void *)p, MEM_PAGE_BYTES, &v) < 0 && errno == ENOMEM &&
	       mincore((void *)(p + len - MEM_PAGE_BYTES), MEM_PAGE_BYTES, &v) < 0 &&
	       errno == ENOMEM;
}

static void run_congruent(const void *arg)
{
	static const uint64_t offsets[] = {
		0, 4 * KiB, 12 * KiB, 1 * MiB, HUGE - 4 * KiB, HUGE + 4 * KiB, 2 * HUGE,
		3 * HUGE + 20 * KiB,
	};
	const struct mem_backend_ops *b = arg;
	struct mem_config cfg = { .size = SMALL_BYTES, .backend = b };
	int vm = vm_for(b);
	struct guest_mem gm;
	char what[96];
	unsigned int tried = 0;

	/* hugetlb: boot RAM and one added region at a time. */
	if (b->thp == MEM_THP_KIND_HUGETLB)
		TEST_REQUIRE(hugepages_reserve(2 * SMALL_BYTES / HUGE),
			     "cannot reserve 2 MiB huge pages");
	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	snprintf(what, sizeof(what), "%s boot RAM", b->name);
	check_congruent(&gm, 0, what);

	for (unsigned int k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
		const struct mem_region_spec spec = {
			.gpa = ADDED_GPA_BASE + offsets[k],
			.size = SMALL_BYTES,
			.role = MEM_ROLE_HOTPLUG,
			.backend = b,
		};
		unsigned int idx = 99;
		uint8_t *hva;
		int ret = mem_region_add(&gm, &spec, &idx);

		snprintf(what, sizeof(what), "%s added at %#" PRIx64, b->name, spec.gpa);
		if (spec.gpa % b->align) {
			TEST_ASSERT(ret == -EINVAL, "%s: %d, want -EINVAL (align %#" PRIx64 ")",
				    what, ret, b->align);
			continue;
		}
		TEST_ASSERT(ret == 0, "%s: %d (%s)", what, ret, strerror(-ret));
		check_congruent(&gm, idx, what);
		hva = gm.region[idx].hva;
		TEST_OK(mem_region_remove(&gm, idx));
		TEST_ASSERT(unmapped(hva, SMALL_BYTES), "%s: still mapped after removal", what);
		tried++;
	}
	mem_destroy(&gm);
	if (vm >= 0)
		close(vm);
	printf("ok - %s: boot RAM and %u added regions map hva %% 2 MiB == gpa %% 2 MiB\n",
	       b->name, tried);
}

/* ---- THP per backend ---- */

struct thp_case {
	const struct mem_backend_ops *ops;
	/* Make THP possible for this memory (or skip, saying why); the plan for thp=on. */
	void (*allow)(struct mem_thp_plan *plan);
	/* The smaps field that counts this memory's huge pages. */
	uint64_t (*huge)(const struct thp_smaps *s);
	/* Bytes the host holds for the region, measured independently. */
	uint64_t (*meter)(const struct mem_region *r);
};

static void host_plan(enum mem_thp_mode mode, enum mem_thp_kind kind,
		      struct mem_thp_plan *plan, int want_ret)
{
	struct mem_thp_host h;
	int ret;

	TEST_OK(mem_thp_host_read("", &h));
	ret = mem_thp_decide(mode, kind, &h, plan);
	TEST_ASSERT(ret == want_ret, "thp=%s kind %d: %d, want %d (%s)", mem_thp_mode_name(mode),
		    kind, ret, want_ret, plan->why);
}

/* anon: what this host allows, never changed. */
static void allow_anon(struct mem_thp_plan *plan)
{
	host_plan(MEM_THP_AUTO, MEM_THP_KIND_ANON, plan, 0);
	if (!plan->huge)
		fprintf(stderr, "anon THP: %s\n", plan->why);
	TEST_REQUIRE(plan->huge, "the host gives anonymous memory no huge pages (see above)");
	host_plan(MEM_THP_ON, MEM_THP_KIND_ANON, plan, 0);
}

/* shmem: "advise" in the per-size file (the global one on older kernels). */
static void allow_shmem(struct mem_thp_plan *plan)
{
	const char *rel = thp_sysfs_exists(THP_SYSFS_SHMEM_2M) ? THP_SYSFS_SHMEM_2M :
		THP_SYSFS_SHMEM;
	char why[WHY_BYTES], global[MEM_THP_WORD_BYTES];

	TEST_REQUIRE(thp_sysfs_exists(THP_SYSFS_SHMEM), "no shmem THP in this kernel");
	/* why says why not: not root, read-only sysfs, ... */
	TEST_REQUIRE(thp_sysfs_set(rel, "advise", why, sizeof(why)), why);
	/* deny and force in the global file override the per-size one. */
	thp_sysfs_get(THP_SYSFS_SHMEM, global, sizeof(global));
	if (!strcmp(global, "deny") || !strcmp(global, "force"))
		TEST_REQUIRE(thp_sysfs_set(THP_SYSFS_SHMEM, "advise", why, sizeof(why)), why);
	host_plan(MEM_THP_ON, MEM_THP_KIND_SHMEM, plan, 0);
	printf("  shmem THP for this test: %s\n", plan->why);
}

static uint64_t huge_anon(const struct thp_smaps *s)
{
	return s->anon_huge;
}

static uint64_t huge_shmem(const struct thp_smaps *s)
{
	return s->shmem_pmd + s->file_pmd;
}

/*
 * Rss of the region's own mapping (it is never merged with a neighbour: a gap
 * is left around it, and mem/anon.c names it where the kernel can). For
 * anon this shows the page unmapped; the kernel frees the 2 MiB folio's
 * memory only when its deferred split runs (under memory pressure), which
 * this test does not force.
 */
static uint64_t meter_rss(const struct mem_region *r)
{
	struct thp_smaps s;

	thp_smaps_read(r->hva, r->size, &s);
	TEST_ASSERT(s.exact, "the region's mapping is merged with another");
	return s.rss;
}

static uint64_t meter_blocks(const struct mem_region *r)
{
	struct stat st;

	TEST_ASSERT(fstat(r->fd, &st) == 0, "fstat");
	return (uint64_t)st.st_blocks * 512;
}

static const struct thp_case thp_anon = { &mem_backend_anon, allow_anon, huge_anon, meter_rss };
static const struct thp_case thp_memfd = {
	&mem_backend_memfd, allow_shmem, huge_shmem, meter_blocks,
};

/* A region of size bytes at gpa 0 with this advice, populated with MADV_POPULATE_WRITE. */
static void create_populated(struct guest_mem *gm, const struct mem_backend_ops *b,
			     uint64_t size, enum mem_thp_advice advice)
{
	const struct mem_config cfg = { .size = size, .backend = b, .thp_advice = advice };
	const struct mem_populate_req req = { .strategy = MEM_POPULATE_MADVISE };
	struct mem_populate_report rep;
	int ret;

	TEST_OK(mem_create(gm, &cfg, -1, NULL));
	TEST_ASSERT(gm->nr_regions == 1 && gm->region[0].thp_advice == advice, "one region");
	ret = mem_populate(gm, 0, size, &req, &rep);
	TEST_ASSERT(ret == 0, "populate %s: %d (%s) at %#" PRIx64, b->name, ret, strerror(-ret),
		    rep.err_gpa);
}

/* The test's reading of region 0, which must be all resident; memvmm's meter agrees. */
static uint64_t huge_now(const struct thp_case *c, struct guest_mem *gm)
{
	const struct mem_region *r = &gm->region[0];
	uint64_t memvmm[MEM_MAX_REGIONS];
	struct thp_smaps s;

	thp_smaps_read(r->hva, r->size, &s);
	TEST_ASSERT(s.exact && s.size == r->size && s.rss == r->size,
		    "%s: smaps: %u mappings (exact %d), Size %" PRIu64 " Rss %" PRIu64
		    ", want the region's %" PRIu64, c->ops->name, s.mappings, s.exact, s.size,
		    s.rss, r->size);
	TEST_OK(mem_huge_bytes(gm, memvmm));
	TEST_ASSERT(memvmm[0] == c->huge(&s), "%s: mem_huge_bytes %" PRIu64 ", smaps %" PRIu64,
		    c->ops->name, memvmm[0], c->huge(&s));
	return c->huge(&s);
}

static void run_huge_fraction(const void *arg)
{
	const struct thp_case *c = arg;
	struct mem_thp_plan plan;
	struct guest_mem gm;
	uint64_t huge;

	c->allow(&plan);
	TEST_ASSERT(plan.huge && plan.advice == MEM_THP_ADVICE_HUGE, "thp=on: %s", plan.why);
	create_populated(&gm, c->ops, FRACTION_BYTES, plan.advice);
	huge = huge_now(c, &gm);
	printf("  %s, thp=on (%s): %" PRIu64 " of %" PRIu64 " MiB huge after populate=madvise\n",
	       c->ops->name, plan.why, huge >> 20, FRACTION_BYTES >> 20);
	TEST_ASSERT(huge * 100 >= FRACTION_BYTES * MIN_HUGE_PCT,
		    "%s: only %" PRIu64 " of %" PRIu64 " MiB huge (want >= %d%%)", c->ops->name,
		    huge >> 20, FRACTION_BYTES >> 20, MIN_HUGE_PCT);
	mem_destroy(&gm);

	host_plan(MEM_THP_OFF, c->ops->thp, &plan, 0);
	TEST_ASSERT(!plan.huge && plan.advice == MEM_THP_ADVICE_NOHUGE, "thp=off: %s", plan.why);
	create_populated(&gm, c->ops, FRACTION_BYTES, plan.advice);
	huge = huge_now(c, &gm);
	TEST_ASSERT(huge == 0, "%s thp=off: %" PRIu64 " KiB huge", c->ops->name, huge >> 10);
	mem_destroy(&gm);
	printf("ok - %s: >= %d%% huge with thp=on, none with thp=off\n", c->ops->name,
	       MIN_HUGE_PCT);
}

/* ---- discard-huge-BACKEND ---- */

#define DISCARD_OFF (HUGE + HUGE / 2)   /* a 4 KiB page in the middle of the second huge page */

static void run_discard_huge(const void *arg)
{
	const struct thp_case *c = arg;
	const struct mem_region *r;
	struct mem_thp_plan plan;
	struct thp_smaps before_s, after_s;
	struct guest_mem gm;
	uint64_t before, after;
	unsigned char vec;

	c->allow(&plan);
	create_populated(&gm, c->ops, SMALL_BYTES, plan.advice);
	r = &gm.region[0];
	/* Both 2 MiB pages are huge, so the one discarded from is. */
	TEST_ASSERT(huge_now(c, &gm) == SMALL_BYTES,
		    "%s: the pages to discard from are not huge: %" PRIu64 " of %" PRIu64
		    " KiB (host: %s)", c->ops->name, huge_now(c, &gm) >> 10, SMALL_BYTES >> 10,
		    plan.why);
	for (uint64_t off = 0; off < SMALL_BYTES; off++)
		r->hva[off] = pattern(off);
	thp_smaps_read(r->hva, r->size, &before_s);
	before = c->meter(r);

	/* What the balloon does with one 4 KiB page. */
	TEST_OK(mem_discard(&gm, DISCARD_OFF, MEM_PAGE_BYTES));
	/* Before reading it: reading a hole would fault a page (or the zero page) in. */
	TEST_ASSERT(mincore(r->hva + DISCARD_OFF, MEM_PAGE_BYTES, &vec) == 0, "mincore");
	TEST_ASSERT(!(vec & 1), "%s: the discarded page is still resident", c->ops->name);
	after = c->meter(r);
	thp_smaps_read(r->hva, r->size, &after_s);
	printf("  %s: 4 KiB discard inside a huge page: host meter %" PRIu64 " -> %" PRIu64
	       " KiB, smaps huge %" PRIu64 " -> %" PRIu64 " KiB, Rss %" PRIu64 " -> %" PRIu64
	       " KiB\n", c->ops->name, before >> 10, after >> 10, c->huge(&before_s) >> 10,
	       c->huge(&after_s) >> 10, before_s.rss >> 10, after_s.rss >> 10);
	TEST_ASSERT(after + MEM_PAGE_BYTES <= before, "%s: the host still holds the page: "
		    "%" PRIu64 " -> %" PRIu64 " bytes", c->ops->name, before, after);

	/* The page reads zero, the other 511 of its huge page and the first one keep theirs. */
	for (uint64_t off = 0; off < SMALL_BYTES; off++) {
		bool hole = off - DISCARD_OFF < MEM_PAGE_BYTES;

		TEST_ASSERT(r->hva[off] == (hole ? 0 : pattern(off)),
			    "%s: +%#" PRIx64 " reads %#x, want %#x", c->ops->name, off, r->hva[off],
			    hole ? 0 : pattern(off));
	}
	mem_destroy(&gm);
	printf("ok - %s: a 4 KiB discard inside a huge page %s, the rest reads right\n",
	       c->ops->name, c->meter == meter_blocks ? "frees it (the file's blocks fall)" :
	       "unmaps it (Rss falls; the folio's memory returns at its deferred split)");
}

/* ---- thp-on-refused ---- */

#define REFUSE_BYTES (8 * MiB)

/* With anon set to global/per_size: thp=on's answer, and what the kernel does. */
static void refuse_one(const char *global, const char *per_size, bool allowed, bool has_2m)
{
	struct mem_thp_plan plan;
	struct guest_mem gm;
	char why[WHY_BYTES], what[96];
	uint64_t huge;

	/* Kernels without per-size files (before 6.8) have only the global one. */
	if (has_2m != (per_size != NULL))
		return;
	snprintf(what, sizeof(what), "enabled=%s%s%s", global,
		 per_size ? ", hugepages-2048kB/enabled=" : "", per_size ? per_size : "");
	TEST_ASSERT(thp_sysfs_set(THP_SYSFS_ANON, global, why, sizeof(why)), "%s", why);
	if (per_size)
		TEST_ASSERT(thp_sysfs_set(THP_SYSFS_ANON_2M, per_size, why, sizeof(why)), "%s", why);

	host_plan(MEM_THP_ON, MEM_THP_KIND_ANON, &plan, allowed ? 0 : -EOPNOTSUPP);
	TEST_ASSERT(plan.huge == allowed, "%s: thp=on plans huge=%d", what, plan.huge);
	if (!allowed) {
		/* It names the file that decided, with its word. */
		TEST_ASSERT(strstr(plan.why, "enabled=never"), "%s: thp=on refuses saying '%s'",
			    what, plan.why);
		host_plan(MEM_THP_AUTO, MEM_THP_KIND_ANON, &plan, 0);
		TEST_ASSERT(!plan.huge && plan.advice == MEM_THP_ADVICE_NONE && plan.why[0],
			    "%s: thp=auto: huge %d advice %d '%s'", what, plan.huge, plan.advice,
			    plan.why);
	}

	/* The kernel agrees: MADV_HUGEPAGE (what thp=on would ask) gives huge pages or not. */
	create_populated(&gm, &mem_backend_anon, REFUSE_BYTES, MEM_THP_ADVICE_HUGE);
	huge = huge_now(&thp_anon, &gm);
	mem_destroy(&gm);
	TEST_ASSERT(allowed ? huge > 0 : huge == 0, "%s: memvmm says %s, but MADV_HUGEPAGE gave "
		    "%" PRIu64 " KiB of huge pages", what, allowed ? "allowed" : "refused",
		    huge >> 10);
	printf("ok - %s: thp=on %s (%s); the kernel gave %" PRIu64 " KiB huge\n", what,
	       allowed ? "allowed" : "refused", plan.why, huge >> 10);
}

static void run_on_refused(const void *unused)
{
	bool has_2m = thp_sysfs_exists(THP_SYSFS_ANON_2M);
	char why[WHY_BYTES];

	TEST_REQUIRE(thp_sysfs_exists(THP_SYSFS_ANON), "no THP in this kernel");
	/* why says why not: not root, read-only sysfs, ... */
	TEST_REQUIRE(thp_sysfs_set(THP_SYSFS_ANON, "never", why, sizeof(why)), why);
	refuse_one("never", "never", false, has_2m);
	refuse_one("never", "inherit", false, has_2m);
	refuse_one("never", NULL, false, has_2m);
	refuse_one("madvise", "never", false, has_2m);
	/* The per-size word decides for its size, whatever the global one says. */
	refuse_one("never", "madvise", true, has_2m);
}

/* ---- rlimit-as ---- */

/* This process's address space in bytes (VmSize: /proc/self/statm's first field). */
static uint64_t vm_size_bytes(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	TEST_ASSERT(f && fscanf(f, "%llu", &pages) == 1, "/proc/self/statm");
	fclose(f);
	return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Under an RLIMIT_AS that leaves room for the region but not for the 2 MiB
 * reservation around it, anon and memfd regions are still created (mapped
 * where the kernel puts them) and work.
 */
static void run_rlimit_as(const void *unused)
{
	static const struct mem_backend_ops *const backends[] = {
		&mem_backend_anon, &mem_backend_memfd,
	};

	for (unsigned int i = 0; i < 2; i++) {
		const struct mem_backend_ops *b = backends[i];
		struct mem_config cfg = { .size = SMALL_BYTES, .backend = b };
		struct rlimit old, lim;
		struct guest_mem gm;
		uint64_t word = 0x1234567890abcdefull, back = 0;

		TEST_ASSERT(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
		lim = old;
		lim.rlim_cur = vm_size_bytes() + SMALL_BYTES + HUGE / 2;
		TEST_ASSERT(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit(RLIMIT_AS)");
		TEST_OK(mem_create(&gm, &cfg, -1, NULL));
		TEST_OK(mem_write(&gm, SMALL_BYTES - 8, &word, sizeof(word)));
		TEST_OK(mem_read(&gm, SMALL_BYTES - 8, &back, sizeof(back)));
		TEST_ASSERT(back == word, "%s: read back %#llx", b->name, (unsigned long long)back);
		mem_destroy(&gm);
		TEST_ASSERT(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back");
		printf("ok - %s: created under an RLIMIT_AS with no room for the 2 MiB reservation\n",
		       b->name);
	}
}

size_t backends_thp_cases(struct e2e_case *list, size_t max)
{
	size_t n = 0;

	for (const struct mem_backend_ops *const *b = mem_backends; *b && n < max; b++) {
		static char names[8][32];

		if (n >= sizeof(names) / sizeof(names[0]))
			break;
		snprintf(names[n], sizeof(names[n]), "congruent-%s", (*b)->name);
		list[n] = (struct e2e_case){ names[n], run_congruent, *b };
		n++;
	}
	if (n + 6 > max)
		return n;
	list[n++] = (struct e2e_case){ "thp-anon", run_huge_fraction, &thp_anon };
	list[n++] = (struct e2e_case){ "thp-memfd", run_huge_fraction, &thp_memfd };
	list[n++] = (struct e2e_case){ "thp-on-refused", run_on_refused, NULL };
	list[n++] = (struct e2e_case){ "discard-huge-anon", run_discard_huge, &thp_anon };
	list[n++] = (struct e2e_case){ "discard-huge-memfd", run_discard_huge, &thp_memfd };
	list[n++] = (struct e2e_case){ "rlimit-as", run_rlimit_as, NULL };
	return n;
}
