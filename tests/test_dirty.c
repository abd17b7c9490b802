// SPDX-License-Identifier: MIT
/*
 * Dirty-page tracking (mem/dirty.h).
 *
 * Without KVM (vm_fd -1, the VMM-side bitmaps only): mem_write(), mem_zero()
 * and mem_discard() mark exactly the pages they touch, across regions and
 * for unaligned ranges, and nothing when they fail or tracking is off;
 * collect clears; restart drops what was recorded; a region added while
 * tracking gets a bitmap, a removed one loses it; guest_memfd is refused
 * (the real backend table, and a region of a backend with its slot flag
 * added while tracking); marks from several threads racing with collects
 * are never lost.
 *
 * With KVM (skipped, exit 77, without /dev/kvm): a real VM whose vCPU
 * writes two pages in real mode. Start puts KVM_MEM_LOG_DIRTY_PAGES on the
 * installed slots (KVM_GET_DIRTY_LOG, which fails with ENOENT on a slot
 * without it, now works), collect returns the guest's pages OR memvmm's,
 * clears both, and KVM logs again after it; stop takes the flag away; a
 * slot added while tracking logs; guest_memfd is refused before KVM sees
 * it, and KVM indeed refuses the flag on such a slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "mem/kvm_compat.h"
#include "mem/snapshot.h"
#include "tests/e2e.h"
#include "tests/test.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PAGE MEM_PAGE_BYTES

#define BOOT_BYTES      (8 * MiB)        /* region 0: [0, 8M) */
#define NEXT_BYTES      (4 * MiB)        /* region 1: [8M, 12M), right after it */
#define ODD_GPA         (16 * MiB)
#define ODD_PAGES       70u              /* not a multiple of 64: a partial last word */
#define HOTPLUG_GPA     (8 * GiB)
#define WHY_BYTES       256

#define MARK_THREADS    4
#define MARK_BYTES      (256 * MiB)      /* 1024 rounds; only MARK_WRITE_BYTES touched */
#define MARK_WRITE_BYTES (1 * MiB)       /* marked through mem_write() */

/* ---- helpers ----------------------------------------------------------- */

static void create_boot(struct guest_mem *gm, const struct mem_backend_ops *b, int vm_fd)
{
	const struct mem_config cfg = { .size = BOOT_BYTES, .backend = b };

	TEST_OK(mem_create(gm, &cfg, vm_fd, NULL));
}

static int add(struct guest_mem *gm, uint64_t gpa, uint64_t size, enum mem_role role,
	       const struct mem_backend_ops *b, unsigned int *index)
{
	const struct mem_region_spec spec = { .gpa = gpa, .size = size, .role = role,
					      .backend = b };

	return mem_region_add(gm, &spec, index);
}

static uint64_t *bitmap_new(const struct guest_mem *gm, unsigned int idx)
{
	uint64_t *b = calloc(mem_snap_bitmap_words(gm->region[idx].size), sizeof(*b));

	TEST_ASSERT(b, "calloc");
	return b;
}

static void bit_set(uint64_t *b, uint64_t page)
{
	b[page / 64] |= 1ull << (page % 64);
}

static bool bit_test(const uint64_t *b, uint64_t page)
{
	return b[page / 64] >> (page % 64) & 1;
}

/* Collect region idx and compare with want, naming the first page that differs. */
static void expect_bitmap(struct guest_mem *gm, unsigned int idx, const uint64_t *want,
			  const char *what)
{
	uint64_t words = mem_snap_bitmap_words(gm->region[idx].size);
	uint64_t *got = bitmap_new(gm, idx);

	TEST_OK(mem_dirty_collect(gm, idx, got));
	for (uint64_t p = 0; p < words * 64; p++)
		TEST_ASSERT(bit_test(got, p) == bit_test(want, p),
			    "%s: region %u page %" PRIu64 " is %s, want %s", what, idx, p,
			    bit_test(got, p) ? "dirty" : "clean",
			    bit_test(want, p) ? "dirty" : "clean");
	free(got);
}

/* Collect region idx: exactly the n pages listed are dirty. */
static void expect_pages(struct guest_mem *gm, unsigned int idx, const char *what,
			 const uint64_t *pages, size_t n)
{
	uint64_t *want = bitmap_new(gm, idx);

	for (size_t i = 0; i < n; i++)
		bit_set(want, pages[i]);
	expect_bitmap(gm, idx, want, what);
	free(want);
}

#define EXPECT_PAGES(gm, idx, what, ...)                                               \
	expect_pages(gm, idx, what, (const uint64_t[]){ __VA_ARGS__ },                 \
		     sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))

/* Collect region idx: pages [first, last] are dirty, no other. */
static void expect_range(struct guest_mem *gm, unsigned int idx, const char *what,
			 uint64_t first, uint64_t last)
{
	uint64_t *want = bitmap_new(gm, idx);

	for (uint64_t p = first; p <= last; p++)
		bit_set(want, p);
	expect_bitmap(gm, idx, want, what);
	free(want);
}

static void expect_clean(struct guest_mem *gm, unsigned int idx, const char *what)
{
	uint64_t *want = bitmap_new(gm, idx);

	expect_bitmap(gm, idx, want, what);
	free(want);
}

static void write_byte(struct guest_mem *gm, uint64_t gpa, uint8_t v)
{
	TEST_OK(mem_write(gm, gpa, &v, 1));
}

/* ---- without KVM ------------------------------------------------------- */

/* Backends that can create regions without a VM; guest_memfd needs KVM, hugetlb a pool. */
static void run_mark(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	uint8_t buf[64 * 1024] = { 0x5a };
	struct guest_mem gm;
	unsigned int next, odd;

	create_boot(&gm, b, -1);
	TEST_OK(add(&gm, BOOT_BYTES, NEXT_BYTES, MEM_ROLE_DEVICE, b, &next));
	TEST_OK(add(&gm, ODD_GPA, ODD_PAGES * PAGE, MEM_ROLE_DEVICE, b, &odd));
	TEST_ASSERT(next == 1 && odd == 2, "indices %u %u", next, odd);

	TEST_OK(mem_dirty_start(&gm));
	TEST_ASSERT(mem_dirty_active(&gm), "not active after start");
	for (unsigned int i = 0; i < 3; i++)
		TEST_ASSERT(gm.region[i].dirty_log, "%s: region %u without dirty_log", b->name, i);
	expect_clean(&gm, 0, "fresh start");
	expect_clean(&gm, next, "fresh start");
	expect_clean(&gm, odd, "fresh start");

	/* Two bytes across a page boundary: both pages. */
	TEST_OK(mem_write(&gm, PAGE - 1, buf, 2));
	EXPECT_PAGES(&gm, 0, "write [4095, +2)", 0, 1);
	/* Exactly one page: that page only. */
	TEST_OK(mem_write(&gm, 10 * PAGE, buf, PAGE));
	EXPECT_PAGES(&gm, 0, "write page 10", 10);
	/* Unaligned zero over 3 pages: 4 pages touched. */
	TEST_OK(mem_zero(&gm, 3 * PAGE + 1, 3 * PAGE));
	EXPECT_PAGES(&gm, 0, "zero [3p+1, +3p)", 3, 4, 5, 6);
	/* Across a 64-page word. */
	TEST_OK(mem_write(&gm, 60 * PAGE + 7, buf, 10 * PAGE));
	expect_range(&gm, 0, "write [60p+7, +10p)", 60, 70);
	/* Across two regions: region 0's last page, region 1's first. */
	TEST_OK(mem_write(&gm, BOOT_BYTES - 10, buf, 20));
	EXPECT_PAGES(&gm, 0, "write across regions", BOOT_BYTES / PAGE - 1);
	EXPECT_PAGES(&gm, next, "write across regions", 0);
	/* Discard of 3 pages in region 1. */
	TEST_OK(mem_discard(&gm, BOOT_BYTES + 2 * PAGE, 3 * PAGE));
	EXPECT_PAGES(&gm, next, "discard [2p, +3p)", 2, 3, 4);
	expect_clean(&gm, 0, "discard in region 1");

	/* Failures mark nothing: out of RAM, the hole between regions, empty. */
	TEST_ASSERT(mem_write(&gm, BOOT_BYTES + NEXT_BYTES - 1, buf, 2) == -EFAULT, "past end");
	TEST_ASSERT(mem_zero(&gm, BOOT_BYTES + NEXT_BYTES - PAGE, 2 * PAGE) == -EFAULT,
		    "zero into the hole");
	TEST_ASSERT(mem_discard(&gm, BOOT_BYTES - PAGE, 2 * PAGE) == -EINVAL,
		    "discard across regions");
	TEST_OK(mem_write(&gm, 5 * PAGE, buf, 0));
	TEST_OK(mem_zero(&gm, 5 * PAGE, 0));
	expect_clean(&gm, 0, "failed and empty accesses");
	expect_clean(&gm, next, "failed and empty accesses");

	/* A whole region with a partial last word: its pages, no bit past them. */
	TEST_OK(mem_zero(&gm, ODD_GPA, ODD_PAGES * PAGE));
	expect_range(&gm, odd, "zero all of the odd region", 0, ODD_PAGES - 1);
	/* Both adjacent regions whole, in one call. */
	TEST_OK(mem_zero(&gm, 0, BOOT_BYTES + NEXT_BYTES));
	expect_range(&gm, 0, "zero [0, 12M)", 0, BOOT_BYTES / PAGE - 1);
	expect_range(&gm, next, "zero [0, 12M)", 0, NEXT_BYTES / PAGE - 1);

	/* Collect cleared every bitmap. */
	expect_clean(&gm, 0, "second collect");
	expect_clean(&gm, next, "second collect");
	expect_clean(&gm, odd, "second collect");

	/* mem_dirty_mark(): for writers through host pointers; outside RAM ignored. */
	mem_dirty_mark(&gm, 7 * PAGE + 100, 1);
	mem_dirty_mark(&gm, 12 * MiB, PAGE);
	mem_dirty_mark(&gm, UINT64_MAX - 10, 100);
	EXPECT_PAGES(&gm, 0, "mem_dirty_mark", 7);
	expect_clean(&gm, next, "mark outside RAM");

	mem_dirty_stop(&gm);
	TEST_ASSERT(!mem_dirty_active(&gm) && !gm.dirty, "active after stop");
	for (unsigned int i = 0; i < 3; i++)
		TEST_ASSERT(!gm.region[i].dirty_log, "region %u dirty_log after stop", i);
	mem_destroy(&gm);
	printf("ok - %s: write, zero and discard mark the pages they touch\n", b->name);
}

static void run_off(const void *arg)
{
	uint8_t buf[16] = { 1 };
	struct guest_mem gm;
	uint64_t *out;

	create_boot(&gm, &mem_backend_anon, -1);
	out = bitmap_new(&gm, 0);
	TEST_ASSERT(!mem_dirty_active(&gm) && !gm.dirty, "active after mem_create");
	TEST_OK(mem_write(&gm, 0, buf, sizeof(buf)));
	TEST_OK(mem_zero(&gm, PAGE, PAGE));
	TEST_OK(mem_discard(&gm, 2 * PAGE, PAGE));
	mem_dirty_mark(&gm, 3 * PAGE, 1);
	TEST_ASSERT(mem_dirty_collect(&gm, 0, out) == -EINVAL, "collect while off");
	mem_dirty_stop(&gm);   /* nothing to stop */

	/* What was written before start is not reported. */
	TEST_OK(mem_dirty_start(&gm));
	expect_clean(&gm, 0, "writes before start");
	TEST_ASSERT(mem_dirty_collect(&gm, 1, out) == -ENOENT, "collect of no region");
	TEST_ASSERT(mem_dirty_collect(&gm, MEM_MAX_REGIONS, out) == -ENOENT, "index past the end");

	/* And what is written after stop neither. */
	mem_dirty_stop(&gm);
	mem_dirty_stop(&gm);
	TEST_OK(mem_write(&gm, 5 * PAGE, buf, 1));
	TEST_OK(mem_dirty_start(&gm));
	expect_clean(&gm, 0, "writes after stop");
	free(out);
	mem_destroy(&gm);
	TEST_ASSERT(!gm.dirty, "mem_destroy left tracking on");
	printf("ok - nothing is marked while tracking is off\n");
}

static void run_restart(const void *arg)
{
	struct guest_mem gm;

	create_boot(&gm, &mem_backend_memfd, -1);
	TEST_OK(mem_dirty_start(&gm));
	write_byte(&gm, 1 * PAGE, 1);
	TEST_OK(mem_dirty_start(&gm));
	TEST_ASSERT(mem_dirty_active(&gm), "restart stopped tracking");
	expect_clean(&gm, 0, "after restart");
	write_byte(&gm, 2 * PAGE, 1);
	EXPECT_PAGES(&gm, 0, "written after restart", 2);
	mem_destroy(&gm);   /* stops it */
	printf("ok - restart drops what was recorded\n");
}

static void run_region_add(const void *arg)
{
	struct guest_mem gm;
	unsigned int idx, idx2;
	uint64_t *out;

	create_boot(&gm, &mem_backend_anon, -1);
	TEST_OK(mem_dirty_start(&gm));
	TEST_OK(add(&gm, HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_HOTPLUG, &mem_backend_memfd, &idx));
	TEST_ASSERT(gm.region[idx].dirty_log, "added region without dirty_log");
	expect_clean(&gm, idx, "added region");
	TEST_OK(mem_discard(&gm, HOTPLUG_GPA + PAGE, PAGE));
	write_byte(&gm, HOTPLUG_GPA + NEXT_BYTES - 1, 1);
	EXPECT_PAGES(&gm, idx, "added region written", 1, NEXT_BYTES / PAGE - 1);

	/* Removed: its bitmap goes; the entry taken again starts clean. */
	write_byte(&gm, HOTPLUG_GPA, 1);
	TEST_OK(mem_region_remove(&gm, idx));
	out = calloc(mem_snap_bitmap_words(NEXT_BYTES), sizeof(*out));
	TEST_ASSERT(out, "calloc");
	TEST_ASSERT(mem_dirty_collect(&gm, idx, out) == -ENOENT, "collect of a removed region");
	TEST_OK(add(&gm, 2 * HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_DEVICE, &mem_backend_anon, &idx2));
	TEST_ASSERT(idx2 == idx, "entry %u not reused (%u)", idx, idx2);
	expect_clean(&gm, idx2, "entry reused");
	free(out);

	/* Added after stop: no dirty log. */
	mem_dirty_stop(&gm);
	TEST_OK(mem_region_remove(&gm, idx2));
	TEST_OK(add(&gm, HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_HOTPLUG, &mem_backend_anon, &idx));
	TEST_ASSERT(!gm.region[idx].dirty_log, "region added while off has dirty_log");
	mem_destroy(&gm);
	printf("ok - regions added while tracking are tracked\n");
}

/* A backend like anon whose slots carry KVM_MEM_GUEST_MEMFD, as guest_memfd's do. */
static struct mem_backend_ops fake_gmem_backend(void)
{
	struct mem_backend_ops ops = mem_backend_anon;

	ops.name = "fake-guest_memfd";
	ops.slot_flags = KVM_MEM_GUEST_MEMFD;
	return ops;
}

static void run_refuse_guest_memfd(const void *arg)
{
	const struct mem_backend_ops fake = fake_gmem_backend();
	struct guest_mem gm;
	char why[WHY_BYTES];
	unsigned int idx, nr;
	uint8_t *hva;

	/*
	 * The real guest_memfd table, on a guest_mem built by hand (creating
	 * one needs KVM): only the check reads it; never given to mem_destroy().
	 */
	TEST_ASSERT(mem_backend_guest_memfd.slot_flags & KVM_MEM_GUEST_MEMFD,
		    "guest_memfd's table lacks KVM_MEM_GUEST_MEMFD");
	hva = mmap(NULL, BOOT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(hva != MAP_FAILED, "mmap");
	gm = (struct guest_mem){ .nr_regions = 1, .ram_size = BOOT_BYTES,
				 .ops = &mem_backend_guest_memfd, .vm_fd = -1 };
	gm.region[0] = (struct mem_region){ .size = BOOT_BYTES, .hva = hva, .fd = -1,
					    .role = MEM_ROLE_BOOT_RAM,
					    .ops = &mem_backend_guest_memfd };
	TEST_ASSERT(mem_dirty_check(&gm, why, sizeof(why)) == -EOPNOTSUPP, "guest_memfd accepted");
	TEST_ASSERT(!strcmp(why, "region 0 (ram, guest_memfd): guest_memfd slots cannot log "
			    "dirty pages: KVM refuses KVM_MEM_LOG_DIRTY_PAGES on them"),
		    "why: %s", why);
	printf("refused: %s\n", why);
	TEST_ASSERT(mem_dirty_start(&gm) == -EOPNOTSUPP, "start on guest_memfd");
	TEST_ASSERT(!gm.dirty && !gm.region[0].dirty_log, "a refused start left state");
	TEST_ASSERT(mem_dirty_check(&gm, NULL, 0) == -EOPNOTSUPP, "why NULL");
	munmap(hva, BOOT_BYTES);

	/* memfd/anon pass. */
	create_boot(&gm, &mem_backend_anon, -1);
	TEST_OK(mem_dirty_check(&gm, why, sizeof(why)));
	TEST_ASSERT(why[0] == '\0', "why '%s' on success", why);

	/* Added while tracking: refused, nothing left behind. */
	TEST_OK(mem_dirty_start(&gm));
	nr = gm.nr_regions;
	TEST_ASSERT(add(&gm, HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_HOTPLUG, &fake, &idx) ==
		    -EOPNOTSUPP, "guest_memfd-like region added while tracking");
	TEST_ASSERT(gm.nr_regions == nr && !mem_region_in_use(&gm.region[nr]),
		    "refused region left in gm");
	TEST_ASSERT(mem_dirty_active(&gm), "a refused add stopped tracking");

	/* Added while off: then start is refused, naming it. */
	mem_dirty_stop(&gm);
	TEST_OK(add(&gm, HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_HOTPLUG, &fake, &idx));
	TEST_ASSERT(mem_dirty_start(&gm) == -EOPNOTSUPP, "start with a guest_memfd-like region");
	TEST_ASSERT(!gm.dirty, "refused start left tracking on");
	TEST_ASSERT(mem_dirty_check(&gm, why, sizeof(why)) == -EOPNOTSUPP &&
		    strstr(why, "region 1 (hotplug, fake-guest_memfd): guest_memfd slots"),
		    "why: %s", why);
	mem_destroy(&gm);
	printf("ok - guest_memfd slots are refused\n");
}

struct marker {
	struct guest_mem *gm;
	unsigned int id;
	atomic_uint *arrived;   /* a spinning barrier: futex wake-ups would serialize the rounds */
};

/*
 * In round w, every thread marks its own 64 / MARK_THREADS pages of the
 * pages word w covers, each once, all threads at the same time (a barrier
 * starts each round): lost updates of a word would show. The first
 * MARK_WRITE_BYTES are marked by writing a byte, the rest by mem_dirty_mark().
 */
static void *marker_main(void *arg)
{
	const unsigned int per_thread = 64 / MARK_THREADS;
	struct marker *m = arg;

	for (uint64_t w = 0; w < MARK_BYTES / PAGE / 64; w++) {
		unsigned int want = (unsigned int)(w + 1) * MARK_THREADS;

		atomic_fetch_add(m->arrived, 1);
		while (atomic_load(m->arrived) < want)
			sched_yield();
		for (unsigned int j = 0; j < per_thread; j++) {
			uint64_t p = w * 64 + j * MARK_THREADS + m->id;
			uint8_t v = (uint8_t)p;

			if (p < MARK_WRITE_BYTES / PAGE) {
				if (mem_write(m->gm, p * PAGE + m->id, &v, 1))
					return (void *)1;
			} else {
				mem_dirty_mark(m->gm, p * PAGE, 1);
			}
		}
	}
	return NULL;
}

/*
 * Marks from several threads, collects racing with them: the union of the
 * collects has every page. (With a non-atomic OR in place of
 * atomic_fetch_or this failed about one run in three on 2 CPUs; more CPUs
 * overlap the threads more.)
 */
static void run_threads(const void *arg)
{
	const struct mem_config cfg = { .size = MARK_BYTES, .backend = &mem_backend_anon };
	uint64_t words = mem_snap_bitmap_words(MARK_BYTES), collects = 0;
	struct marker m[MARK_THREADS];
	pthread_t t[MARK_THREADS];
	bool joined[MARK_THREADS] = { false };
	atomic_uint arrived = 0;
	struct guest_mem gm;
	uint64_t *acc, *out;
	bool done = false;

	TEST_OK(mem_create(&gm, &cfg, -1, NULL));
	TEST_OK(mem_dirty_start(&gm));
	acc = bitmap_new(&gm, 0);
	out = bitmap_new(&gm, 0);
	for (unsigned int i = 0; i < MARK_THREADS; i++) {
		m[i] = (struct marker){ .gm = &gm, .id = i, .arrived = &arrived };
		TEST_ASSERT(pthread_create(&t[i], NULL, marker_main, &m[i]) == 0, "pthread_create");
	}
	while (!done) {
		done = true;
		for (unsigned int i = 0; i < MARK_THREADS; i++) {
			void *res = NULL;
			int ret = joined[i] ? 0 : pthread_tryjoin_np(t[i], &res);

			TEST_ASSERT(ret == 0 || ret == EBUSY, "pthread_tryjoin_np: %d", ret);
			TEST_ASSERT(!res, "thread %u: mem_write failed", i);
			if (ret == EBUSY)
				done = false;
			else
				joined[i] = true;
		}
		TEST_OK(mem_dirty_collect(&gm, 0, out));
		collects++;
		sched_yield();   /* the markers need the CPUs more */
		for (uint64_t w = 0; w < words; w++)
			acc[w] |= out[w];
	}
	/* Every thread has finished: what is left is in this last collect. */
	TEST_OK(mem_dirty_collect(&gm, 0, out));
	for (uint64_t w = 0; w < words; w++)
		TEST_ASSERT((acc[w] | out[w]) == ~0ull, "word %" PRIu64 ": %#" PRIx64 " lost marks",
			    w, acc[w] | out[w]);
	free(acc);
	free(out);
	mem_destroy(&gm);
	printf("ok - %d threads, %" PRIu64 " racing collects, no mark lost\n", MARK_THREADS,
	       collects);
}

/* ---- with KVM ---------------------------------------------------------- */

/* Real-mode code at CODE_GPA: two byte writes to DATA_A and DATA_B, then hlt. */
#define CODE_GPA   0x1000ull
#define DATA_A     0x3000ull
#define DATA_B     0x5008ull

static const uint8_t guest_code[] = {
	0xc6, 0x06, DATA_A & 0xff, DATA_A >> 8, 0x5a,   /* mov byte [DATA_A], 0x5a */
	0xc6, 0x06, DATA_B & 0xff, DATA_B >> 8, 0xa5,   /* mov byte [DATA_B], 0xa5 */
	0xf4,                                           /* hlt */
};

struct kvm_rig {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_bytes;
};

static void rig_open(struct kvm_rig *k)
{
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_REQUIRE(k->kvm >= 0, "no /dev/kvm");
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(k->vm >= 0, "KVM_CREATE_VM");
	k->vcpu = -1;
	k->run = NULL;
}

static void rig_vcpu(struct kvm_rig *k)
{
	int n;

	/* Only used without unrestricted guest (VMX real mode); above our RAM. */
	TEST_ASSERT(ioctl(k->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) == 0, "KVM_SET_TSS_ADDR");
	k->vcpu = ioctl(k->vm, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(k->vcpu >= 0, "KVM_CREATE_VCPU");
	n = ioctl(k->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	TEST_ASSERT(n > 0, "KVM_GET_VCPU_MMAP_SIZE");
	k->run_bytes = (size_t)n;
	k->run = mmap(NULL, k->run_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu, 0);
	TEST_ASSERT(k->run != MAP_FAILED, "mmap kvm_run");
}

/* Run guest_code from its start until hlt. */
static void rig_run_code(struct kvm_rig *k)
{
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };
	struct kvm_sregs sregs;

	TEST_ASSERT(ioctl(k->vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	TEST_ASSERT(ioctl(k->vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS");
	TEST_ASSERT(ioctl(k->vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS");
	TEST_ASSERT(ioctl(k->vcpu, KVM_RUN, 0) == 0, "KVM_RUN");
	TEST_ASSERT(k->run->exit_reason == KVM_EXIT_HLT, "exit reason %u, want KVM_EXIT_HLT (%u)",
		    k->run->exit_reason, KVM_EXIT_HLT);
}

static void rig_close(struct kvm_rig *k)
{
	if (k->run)
		munmap(k->run, k->run_bytes);
	if (k->vcpu >= 0)
		close(k->vcpu);
	close(k->vm);
	close(k->kvm);
}

/* Raw KVM_GET_DIRTY_LOG on region idx's slot: 0 or -errno (-ENOENT: slot does not log). */
static int raw_dirty_log(const struct guest_mem *gm, unsigned int idx)
{
	uint64_t *b = calloc(mem_snap_bitmap_words(gm->region[idx].size), sizeof(*b));
	struct kvm_dirty_log log = { .slot = gm->region[idx].slot, .dirty_bitmap = b };
	int ret;

	TEST_ASSERT(b, "calloc");
	ret = ioctl(gm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
	free(b);
	return ret;
}

static void run_kvm(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	struct kvm_rig k;
	struct guest_mem gm;
	unsigned int idx;
	uint64_t *out;
	char why[WHY_BYTES];
	int ret;

	rig_open(&k);
	TEST_REQUIRE(b->supported(k.vm, why, sizeof(why)) == 0, "backend not supported here");
	create_boot(&gm, b, k.vm);
	TEST_OK(mem_write(&gm, CODE_GPA, guest_code, sizeof(guest_code)));
	TEST_OK(mem_register(&gm, false));
	ret = raw_dirty_log(&gm, 0);
	TEST_ASSERT(ret == -ENOENT, "%s: KVM_GET_DIRTY_LOG before start: %d", b->name, ret);
	rig_vcpu(&k);

	/* Written before start: not reported. */
	rig_run_code(&k);
	TEST_OK(mem_dirty_start(&gm));
	TEST_OK(raw_dirty_log(&gm, 0));
	expect_clean(&gm, 0, "guest writes before start");

	/* The guest's pages OR memvmm's; the code page, only read, is clean. */
	rig_run_code(&k);
	write_byte(&gm, 7 * PAGE, 1);
	out = bitmap_new(&gm, 0);
	TEST_OK(mem_dirty_collect(&gm, 0, out));
	TEST_ASSERT(bit_test(out, DATA_A / PAGE) && bit_test(out, DATA_B / PAGE),
		    "%s: guest writes not logged (word 0 %#" PRIx64 ")", b->name, out[0]);
	TEST_ASSERT(bit_test(out, 7), "%s: memvmm's write not there", b->name);
	TEST_ASSERT(!bit_test(out, CODE_GPA / PAGE) && !bit_test(out, 4),
		    "%s: pages nobody wrote (word 0 %#" PRIx64 ")", b->name, out[0]);
	/* Both cleared; KVM logs the same pages again after a collect. */
	expect_clean(&gm, 0, "second collect");
	rig_run_code(&k);
	TEST_OK(mem_dirty_collect(&gm, 0, out));
	TEST_ASSERT(bit_test(out, DATA_A / PAGE) && bit_test(out, DATA_B / PAGE),
		    "%s: not logged again after a collect", b->name);

	/* A slot added and installed while tracking logs. */
	TEST_OK(add(&gm, HOTPLUG_GPA, NEXT_BYTES, MEM_ROLE_HOTPLUG, b, &idx));
	TEST_OK(mem_region_register(&gm, idx, false));
	TEST_OK(raw_dirty_log(&gm, idx));
	write_byte(&gm, HOTPLUG_GPA + PAGE, 1);
	EXPECT_PAGES(&gm, idx, "added slot", 1);

	/* Restart, then stop: the slots lose the flag. */
	TEST_OK(mem_dirty_start(&gm));
	mem_dirty_stop(&gm);
	TEST_ASSERT(raw_dirty_log(&gm, 0) == -ENOENT && raw_dirty_log(&gm, idx) == -ENOENT,
		    "%s: a slot still logs after stop", b->name);
	TEST_OK(mem_region_remove(&gm, idx));
	free(out);
	mem_destroy(&gm);
	rig_close(&k);
	printf("ok - %s: KVM's dirty log and memvmm's writes\n", b->name);
}

static void run_kvm_guest_memfd(const void *arg)
{
	struct kvm_rig k;
	struct guest_mem gm;
	char why[WHY_BYTES];
	int ret;

	rig_open(&k);
	TEST_REQUIRE(mem_backend_guest_memfd.supported(k.vm, why, sizeof(why)) == 0,
		     "guest_memfd with mmap not offered by this kernel");
	TEST_REQUIRE(ioctl(k.vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) > 0,
		     "no KVM_SET_USER_MEMORY_REGION2");
	create_boot(&gm, &mem_backend_guest_memfd, k.vm);
	TEST_OK(mem_register(&gm, true));
	TEST_ASSERT(mem_dirty_check(&gm, why, sizeof(why)) == -EOPNOTSUPP, "guest_memfd accepted");
	TEST_ASSERT(mem_dirty_start(&gm) == -EOPNOTSUPP && !gm.dirty, "start on guest_memfd");

	/* The refusal is KVM's rule: the flag on the installed slot is refused. */
	gm.region[0].dirty_log = true;
	ret = mem_region_reinstall(&gm, 0);
	gm.region[0].dirty_log = false;
	TEST_ASSERT(ret == -EINVAL, "KVM %s dirty logging on a guest_memfd slot (%d): "
		    "mem_dirty_check() refuses it needlessly", ret ? "refused oddly" : "accepts",
		    ret);
	mem_destroy(&gm);
	rig_close(&k);
	printf("ok - guest_memfd: %s\n", why);
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "mark-memfd", run_mark, &mem_backend_memfd },
		{ "mark-anon", run_mark, &mem_backend_anon },
		{ "off", run_off, NULL },
		{ "restart", run_restart, NULL },
		{ "region-add", run_region_add, NULL },
		{ "refuse-guest_memfd", run_refuse_guest_memfd, NULL },
		{ "threads", run_threads, NULL },
		{ "kvm-anon", run_kvm, &mem_backend_anon },
		{ "kvm-memfd", run_kvm, &mem_backend_memfd },
		{ "kvm-guest_memfd", run_kvm_guest_memfd, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
