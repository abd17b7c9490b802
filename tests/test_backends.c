// SPDX-License-Identifier: MIT
/*
 * Every memory backend against a real KVM VM: create, register, write, read
 * back, measure, discard, and check that discarded memory really went back
 * to the host, measured independently of the backend's own resident().
 * Each case is its own Meson test (test_backends CASE, see main()) and runs in
 * a child process, so one skip or crash does not hide the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"
#include "tests/thp.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define RAM_BYTES       (64 * MiB)
#define WRITTEN_BYTES   (16 * MiB)      /* [0, 16 MiB) gets the pattern */
#define DISCARD_A_GPA   (4 * MiB)       /* 2 MiB: aligned for every backend */
#define DISCARD_A_BYTES (2 * MiB)
#define DISCARD_B_GPA   (10 * MiB)      /* one backend page (ops->align) */

static int vm_create(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	TEST_REQUIRE(kvm >= 0, "/dev/kvm not available");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");
	close(kvm);
	return vm;
}

static uint8_t pattern(uint64_t gpa)
{
	return (uint8_t)(gpa ^ (gpa >> 12) ^ 0x5a);
}

/* Check [gpa, gpa+len) reads as the pattern (or as zero when zero is set). */
static void check_contents(struct guest_mem *gm, uint64_t gpa, uint64_t len, bool zero)
{
	static uint8_t buf[64 * KiB];

	for (uint64_t done = 0, n; done < len; done += n) {
		n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		TEST_OK(mem_read(gm, gpa + done, buf, n));
		for (uint64_t i = 0; i < n; i++)
			TEST_ASSERT(buf[i] == (zero ? 0 : pattern(gpa + done + i)),
				    "gpa %#" PRIx64 " reads %#x", gpa + done + i, buf[i]);
	}
}

/* Host-side meters: how much memory the host really holds for a region. */
static uint64_t meter_fresh_mincore(const struct mem_region *r)
{
	static unsigned char vec[RAM_BYTES / MEM_PAGE_BYTES];
	uint8_t *p = mmap(NULL, r->size, PROT_READ, MAP_SHARED, r->fd, 0);
	uint64_t bytes = 0;

	TEST_ASSERT(p != MAP_FAILED && r->size <= RAM_BYTES, "second mapping of fd");
	TEST_ASSERT(mincore(p, r->size, vec) == 0, "mincore");
	for (uint64_t i = 0; i < r->size / MEM_PAGE_BYTES; i++)
		bytes += (vec[i] & 1) * MEM_PAGE_BYTES;
	munmap(p, r->size);
	return bytes;
}

static uint64_t meter_st_blocks(const struct mem_region *r)
{
	struct stat st;

	TEST_ASSERT(fstat(r->fd, &st) == 0, "fstat");
	return (uint64_t)st.st_blocks * 512;
}

/* Rss of the smaps entry holding the mapping (it may be merged with neighbours). */
static uint64_t meter_smaps_rss(const struct mem_region *r)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long long start, end, kb;
	bool inside = false, found = false;
	char line[512];

	TEST_ASSERT(f, "open /proc/self/smaps");
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx ", &start, &end) == 2)
			inside = start <= (uintptr_t)r->hva && (uintptr_t)r->hva < end;
		else if (inside)
			found = sscanf(line, "Rss: %llu kB", &kb) == 1;
	}
	fclose(f);
	TEST_ASSERT(found, "no Rss for the mapping in smaps");
	return kb * KiB;
}

static uint64_t resident(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t bytes = UINT64_MAX;

	TEST_OK(mem_resident(gm, gpa, len, &bytes));
	return bytes;
}

/* Grow the 2 MiB pool so that RAM_BYTES are free; the parent restores it at exit. */
static void hugetlb_reserve(void)
{
	struct mem_config cfg = { .size = RAM_BYTES, .backend = &mem_backend_hugetlb };
	uint64_t free_pages, total, pages = RAM_BYTES / MEM_HUGE_PAGE_BYTES;
	struct guest_mem gm;

	TEST_REQUIRE(mem_hugetlb_free_pages(&free_pages, &total) == 0, "no 2 MiB hugetlb pool");
	if (free_pages >= pages)
		return;
	/* Too few free: the reservation at mmap time refuses up front. */
	TEST_ASSERT(mem_create(&gm, &cfg, -1, NULL) == -ENOMEM, "hugetlb without pages");
	TEST_REQUIRE(hugepages_reserve(pages), "could not reserve enough 2 MiB huge pages");
	TEST_OK(mem_hugetlb_free_pages(&free_pages, &total));
	TEST_ASSERT(free_pages >= pages, "mem_hugetlb_free_pages agrees: %llu free",
		    (unsigned long long)free_pages);
}

typedef uint64_t (*meter_fn)(const struct mem_region *r);

struct backend_case {
	const struct mem_backend_ops *ops;
	void (*prepare)(void);  /* get the host ready, or skip; may be NULL */
	meter_fn meter[2];      /* independent measures of host memory, NULL-ended */
};

static const struct backend_case cases[] = {
	{ &mem_backend_guest_memfd, NULL, { meter_fresh_mincore } },
	{ &mem_backend_memfd, NULL, { meter_fresh_mincore, meter_st_blocks } },
	{ &mem_backend_anon, NULL, { meter_smaps_rss } },
	{ &mem_backend_hugetlb, hugetlb_reserve, { meter_st_blocks } },
};

static void check_meters(const struct backend_case *c, const struct mem_region *r,
			 const uint64_t *base, uint64_t want, const char *when)
{
	for (unsigned m = 0; m < 2 && c->meter[m]; m++) {
		uint64_t got = c->meter[m](r) - base[m];

		TEST_ASSERT(got == want, "%s: %s: host meter %u holds %" PRIu64
			    " bytes, want %" PRIu64, c->ops->name, when, m, got, want);
	}
}

/* KVM_SET_USER_MEMORY_REGION2 where the kernel has it (6.8+), else the old ioctl. */
static bool region2(int vm)
{
	return ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) > 0;
}

static void run_backend(const void *arg)
{
	const struct backend_case *c = arg;
	const struct mem_backend_ops *ops = c->ops;
	struct mem_config cfg = { .size = RAM_BYTES, .backend = ops };
	uint64_t base[2] = { 0, 0 }, dropped = DISCARD_A_BYTES + ops->align;
	struct guest_mem gm;
	char why[256];
	int vm = vm_create(), ret;

	TEST_REQUIRE(ops->supported(vm, why, sizeof(why)) == 0, why);
	if (c->prepare)
		c->prepare();

	/* The old ioctl cannot name a guest_memfd; it works for the others. */
	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	thp_off(&gm);
	ret = mem_register(&gm, false);
	TEST_ASSERT(ret == (ops->slot_flags ? -EOPNOTSUPP : 0), "old ioctl: %d", ret);
	mem_destroy(&gm);

	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	thp_off(&gm);
	TEST_ASSERT(gm.nr_regions == 1 && gm.region[0].size == RAM_BYTES, "regions");
	TEST_OK(mem_register(&gm, region2(vm)));
	TEST_ASSERT(gm.region[0].registered, "slot 0 not marked registered");
	TEST_ASSERT(mem_register(&gm, region2(vm)) == -EEXIST, "registered twice");
	for (unsigned m = 0; m < 2 && c->meter[m]; m++)
		base[m] = c->meter[m](&gm.region[0]);
	TEST_ASSERT(resident(&gm, 0, RAM_BYTES) == 0, "fresh memory resident");

	/* Write, read back, count. */
	for (uint64_t gpa = 0; gpa < WRITTEN_BYTES; gpa += 4 * KiB) {
		uint8_t page[4 * KiB];

		for (unsigned i = 0; i < sizeof(page); i++)
			page[i] = pattern(gpa + i);
		TEST_OK(mem_write(&gm, gpa, page, sizeof(page)));
	}
	check_contents(&gm, 0, WRITTEN_BYTES, false);
	TEST_ASSERT(resident(&gm, 0, RAM_BYTES) == WRITTEN_BYTES, "written pages resident");
	check_meters(c, &gm.region[0], base, WRITTEN_BYTES, "after write");

	/* Discard two ranges: resident() and the host drop by exactly that. */
	TEST_OK(mem_discard(&gm, DISCARD_A_GPA, DISCARD_A_BYTES));
	TEST_OK(mem_discard(&gm, DISCARD_B_GPA, ops->align));
	TEST_ASSERT(resident(&gm, 0, RAM_BYTES) == WRITTEN_BYTES - dropped,
		    "resident after discard: %" PRIu64, resident(&gm, 0, RAM_BYTES));
	TEST_ASSERT(resident(&gm, DISCARD_A_GPA, DISCARD_A_BYTES) == 0, "A resident");
	check_meters(c, &gm.region[0], base, WRITTEN_BYTES - dropped, "after discard");
	/* Only now read: reading a hole refills it (or maps the zero page). */
	check_contents(&gm, DISCARD_A_GPA, DISCARD_A_BYTES, true);
	check_contents(&gm, DISCARD_B_GPA, ops->align, true);
	check_contents(&gm, 0, DISCARD_A_GPA, false);
	check_contents(&gm, DISCARD_B_GPA + ops->align,
		       WRITTEN_BYTES - DISCARD_B_GPA - ops->align, false);

	/* Misaligned, empty or out-of-region ranges. */
	TEST_ASSERT(mem_discard(&gm, 12 * MiB + ops->align / 2, ops->align) == -EINVAL, "off");
	TEST_ASSERT(mem_discard(&gm, 12 * MiB, ops->align / 2) == -EINVAL, "len");
	TEST_ASSERT(mem_discard(&gm, 12 * MiB, 0) == -EINVAL, "empty");
	TEST_ASSERT(mem_discard(&gm, RAM_BYTES - ops->align, 2 * ops->align) == -EINVAL, "end");
	TEST_ASSERT(mem_discard(&gm, UINT64_MAX - 4095, 8 * KiB) == -EINVAL, "wrap");
	TEST_ASSERT(mem_resident(&gm, 0, RAM_BYTES + ops->align, &base[0]) == -EINVAL, "res");
	TEST_ASSERT(mem_resident(&gm, 512, ops->align, &base[0]) == -EINVAL, "res off");
	if (ops->align > MEM_PAGE_BYTES)
		TEST_ASSERT(mem_discard(&gm, 12 * MiB, 4 * KiB) == -EINVAL, "4K on %s", ops->name);

	mem_destroy(&gm);
	mem_destroy(&gm);
	close(vm);
}

/* Guest-physical bounds: two regions around the MMIO hole, wrap-around. */
static void run_bounds(const void *unused)
{
	const uint64_t high_end = MEM_HIGH_RAM_START + 64 * MiB;
	struct mem_config cfg = { .size = 3 * GiB + 64 * MiB, .backend = &mem_backend_anon };
	uint8_t buf[8 * KiB] = { 0 }, one = 0xab;
	struct guest_mem gm;
	int vm = vm_create();

	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	thp_off(&gm);
	TEST_ASSERT(gm.nr_regions == 2 && gm.region[1].gpa == MEM_HIGH_RAM_START, "layout");
	TEST_OK(mem_register(&gm, region2(vm)));
	TEST_ASSERT(gm.region[1].registered && gm.region[1].slot == 1, "slot 1");

	/* resident() over many mincore() chunks: first page, 64 MiB, last page. */
	TEST_OK(mem_write(&gm, 0, buf, 1));
	TEST_OK(mem_write(&gm, 64 * MiB, buf, 1));
	TEST_OK(mem_write(&gm, MEM_MMIO_HOLE_START - 4 * KiB, buf, 4 * KiB));
	TEST_ASSERT(resident(&gm, 0, MEM_MMIO_HOLE_START) == 3 * 4 * KiB, "3 pages");
	TEST_ASSERT(resident(&gm, 64 * MiB, MEM_MMIO_HOLE_START - 64 * MiB) == 2 * 4 * KiB,
		    "2 pages");
	TEST_OK(mem_write(&gm, high_end - 1, &one, 1));
	TEST_OK(mem_read(&gm, MEM_HIGH_RAM_START, buf, sizeof(buf)));
	TEST_ASSERT(mem_write(&gm, high_end - 1, buf, 2) == -EFAULT, "past end");
	TEST_ASSERT(mem_write(&gm, high_end, buf, 1) == -EFAULT, "at end");
	TEST_ASSERT(mem_read(&gm, MEM_MMIO_HOLE_START, buf, 1) == -EFAULT, "in hole");
	/* A failed write changes nothing, not even the bytes that were RAM. */
	TEST_ASSERT(mem_write(&gm, high_end - 1, "\x11\x22", 2) == -EFAULT, "partial");
	TEST_OK(mem_read(&gm, high_end - 1, &one, 1));
	TEST_ASSERT(one == 0xab, "failed write wrote %#x", one);
	TEST_ASSERT(mem_zero(&gm, MEM_MMIO_HOLE_START - 4 * KiB, 1 * GiB + 8 * KiB) == -EFAULT,
		    "zero across the hole");
	TEST_ASSERT(!mem_range_is_ram(&gm, MEM_MMIO_HOLE_START - 1, 1 * GiB + 2), "span");
	TEST_ASSERT(mem_range_is_ram(&gm, 0, MEM_MMIO_HOLE_START), "low RAM");
	TEST_ASSERT(mem_range_is_ram(&gm, MEM_HIGH_RAM_START, 64 * MiB), "high RAM");
	TEST_ASSERT(!mem_range_is_ram(&gm, 0, MEM_MMIO_HOLE_START + 1), "low + 1");
	/* gpa + len wraps past 2^64. */
	TEST_ASSERT(mem_read(&gm, UINT64_MAX - 9, buf, 20) == -EFAULT, "wrap");
	TEST_ASSERT(mem_write(&gm, 4 * KiB, buf, SIZE_MAX) == -EFAULT, "SIZE_MAX");
	TEST_ASSERT(!mem_range_is_ram(&gm, MEM_HIGH_RAM_START, UINT64_MAX - 3 * GiB), "wrap");
	TEST_ASSERT(!mem_gpa_to_hva(&gm, 4 * KiB, UINT64_MAX), "hva wrap");
	TEST_ASSERT(!mem_gpa_to_hva(&gm, UINT64_MAX, 2), "hva top");
	TEST_ASSERT(!mem_gpa_to_hva(&gm, MEM_MMIO_HOLE_START - 1, 2), "hva across");
	TEST_ASSERT(mem_gpa_to_hva(&gm, MEM_HIGH_RAM_START + 8, 8) ==
		    gm.region[1].hva + 8, "hva high");
	TEST_ASSERT(mem_discard(&gm, MEM_MMIO_HOLE_START - 4 * KiB, 1 * GiB + 8 * KiB) ==
		    -EINVAL, "discard across the hole");
	TEST_OK(mem_discard(&gm, MEM_HIGH_RAM_START, 4 * KiB));
	mem_destroy(&gm);
	close(vm);
}

/* Bad input to mem_create: nothing is left behind, and destroy stays safe. */
static void run_create_errors(const void *unused)
{
	struct mem_config cfg = { .size = 64 * MiB, .backend = &mem_backend_guest_memfd };
	struct guest_mem gm, zero = { 0 };
	unsigned failed = 99;
	int ret;

	mem_destroy(&zero);
	ret = mem_create(&gm, &cfg, -1, &failed);
	TEST_ASSERT(ret == -EBADF && failed == 0 && gm.nr_regions == 0, "bad vm fd: %d", ret);
	mem_destroy(&gm);
	cfg.backend = &mem_backend_hugetlb;
	cfg.size = 3 * MiB;
	TEST_ASSERT(mem_create(&gm, &cfg, -1, NULL) == -EINVAL, "hugetlb 3 MiB");
	cfg.size = 5 * MiB;
	TEST_ASSERT(mem_create(&gm, &cfg, -1, &failed) == -EINVAL && failed == 0,
		    "hugetlb 5 MiB");
	cfg.size = 64 * MiB + 512;
	cfg.backend = &mem_backend_memfd;
	TEST_ASSERT(mem_create(&gm, &cfg, -1, NULL) == -EINVAL, "unaligned size");
	cfg.backend = NULL;
	TEST_ASSERT(mem_create(&gm, &cfg, -1, NULL) == -EINVAL, "no backend");
}

static int gmem_fd(int vm, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd args = { .size = size, .flags = flags };

	return ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
}

static void run_lookup(const void *unused)
{
	char why[256] = "x";
	int vm = vm_create(), gmem, trial;
	unsigned n = 0;

	for (const struct mem_backend_ops *const *b = mem_backends; *b; b++, n++) {
		TEST_ASSERT(mem_backend_find((*b)->name) == *b, "find %s", (*b)->name);
		TEST_ASSERT((*b)->align >= MEM_PAGE_BYTES && !((*b)->align & ((*b)->align - 1)),
			    "%s: align %#" PRIx64, (*b)->name, (*b)->align);
		TEST_ASSERT((*b)->supported && (*b)->create && (*b)->destroy &&
			    (*b)->discard && (*b)->resident, "%s: missing op", (*b)->name);
	}
	TEST_ASSERT(n == sizeof(cases) / sizeof(cases[0]), "a backend has no test case");
	TEST_ASSERT(!mem_backend_find("nope") && !mem_backend_find("") &&
		    !mem_backend_find("memfd ") && !mem_backend_find(NULL), "bad names");
	/* The default is guest_memfd exactly where the trial creates a mappable one. */
	gmem = gmem_fd(vm, 2 * MiB, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
	trial = gmem >= 0 ? 0 : -errno;
	if (gmem >= 0)
		close(gmem);
	TEST_ASSERT(mem_backend_default(vm, why, sizeof(why)) ==
		    (trial ? &mem_backend_memfd : &mem_backend_guest_memfd) &&
		    !why[0] == !trial, "default with a VM: %s, why '%s'; trial of guest_memfd "
		    "MMAP|INIT_SHARED: %s", mem_backend_default(vm, NULL, 0)->name, why,
		    trial ? strerrorname_np(-trial) : "ok");
	printf("  default with a VM: %s (trial: %s)\n", trial ? "memfd" : "guest_memfd",
	       trial ? strerrorname_np(-trial) : "ok");
	TEST_ASSERT(mem_backend_default(-1, why, sizeof(why)) == &mem_backend_memfd &&
		    why[0] != '\0', "default without a VM");
	printf("  fallback reason without a VM: %s\n", why);
	close(vm);
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

/* True if reading *p raises SIGBUS. */
static bool read_faults(const volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;

	TEST_ASSERT(sigaction(SIGBUS, &sa, &old) == 0, "sigaction");
	if (sigsetjmp(sigbus_jmp, 1)) {
		sigaction(SIGBUS, &old, NULL);
		return true;
	}
	(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return false;
}

#define FAILS_WITH(expr, err) ((expr) < 0 && errno == (err))

/* True if the len bytes at map all equal val. */
static bool all_bytes(const uint8_t *map, uint64_t len, uint8_t val)
{
	for (uint64_t i = 0; i < len; i++)
		if (map[i] != val)
			return false;
	return true;
}

/*
 * read/write/pread/pwrite on a fresh guest_memfd (map: its MAP_SHARED
 * mapping, still zero). Mainline has none of them (kernel-facts.md §5); the
 * populate-by-write work adds write(). Not assumed either way: what this
 * kernel does must be what memvmm's own trial finds (mem_region_caps(), which
 * decides populate=write), and a call that works must move the file's bytes.
 */
static void check_gmem_io(int vm, int fd, const uint8_t *map)
{
	static uint8_t page[MEM_PAGE_BYTES], back[MEM_PAGE_BYTES];
	const uint64_t pg = MEM_PAGE_BYTES;
	struct mem_config cfg = { .size = 4 * MiB, .backend = &mem_backend_guest_memfd };
	struct mem_populate_caps caps;
	struct guest_mem gm;
	int write_err = 0, pwrite_err = 0;
	bool write_ok, pwrite_ok;

	memset(page, 0x5c, sizeof(page));
	write_ok = write(fd, page, pg) == (ssize_t)pg;          /* file position 0 */
	if (!write_ok)
		write_err = errno;
	pwrite_ok = pwrite(fd, page, pg, (off_t)pg) == (ssize_t)pg;
	if (!pwrite_ok)
		pwrite_err = errno;
	TEST_ASSERT(!write_ok || all_bytes(map, pg, 0x5c), "write() worked, the file lacks it");
	TEST_ASSERT(!pwrite_ok || all_bytes(map + pg, pg, 0x5c), "pwrite() worked, file lacks it");
	TEST_ASSERT(write_ok || all_bytes(map, pg, 0), "a failed write() changed the file");
	TEST_ASSERT(pwrite_ok || all_bytes(map + pg, pg, 0), "a failed pwrite() changed the file");
	if (pread(fd, back, pg, (off_t)pg) == (ssize_t)pg)
		TEST_ASSERT(!memcmp(back, map + pg, pg), "pread() differs from the mapping");
	if (read(fd, back, pg) == (ssize_t)pg)
		TEST_ASSERT(!memcmp(back, map + (write_ok ? pg : 0), pg),
			    "read() differs from the mapping");

	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	thp_off(&gm);
	TEST_OK(mem_region_caps(&gm.region[0], 0, &caps));
	TEST_ASSERT(caps.write == (write_ok || pwrite_ok) &&
		    caps.write_serial == (write_ok && !pwrite_ok),
		    "memvmm's trial: write %d serial %d (%s); this test's: write() %s, pwrite() %s",
		    caps.write, caps.write_serial, caps.why_no_write,
		    write_ok ? "ok" : strerrorname_np(write_err),
		    pwrite_ok ? "ok" : strerrorname_np(pwrite_err));
	mem_destroy(&gm);
	printf("  guest_memfd write(): %s, pwrite(): %s; memvmm's trial agrees\n",
	       write_ok ? "works" : strerrorname_np(write_err),
	       pwrite_ok ? "works" : strerrorname_np(pwrite_err));
}

/* The cheap part of the kernel's guest_memfd_test (kernel-facts.md §5). */
static void run_gmem_conformance(const void *unused)
{
	static const uint64_t pg = MEM_PAGE_BYTES, size = 4 * MEM_PAGE_BYTES;
	static const uint64_t bad_punch[][2] = {
		{ 0, 1 }, { 0, pg - 1 }, { 0, pg + 1 }, { 1, 1 }, { 1, pg - 1 },
		{ 1, pg }, { 1, pg + 1 }, { pg, 1 }, { pg, pg - 1 }, { pg, pg + 1 },
	};
	const int keep = FALLOC_FL_KEEP_SIZE, punch = FALLOC_FL_PUNCH_HOLE | keep;
	int vm = vm_create(), fd, fd2;
	uint64_t caps;
	struct stat st, st2;
	char why[256];
	uint8_t *p;

	TEST_REQUIRE(mem_backend_guest_memfd.supported(vm, why, sizeof(why)) == 0, why);
	caps = (uint64_t)ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	for (unsigned bit = 0; bit < 64; bit++) {
		fd = gmem_fd(vm, size, 1ull << bit);
		TEST_ASSERT((fd >= 0) == !!(caps & (1ull << bit)), "flag bit %u", bit);
		if (fd >= 0)
			close(fd);
	}
	TEST_ASSERT(FAILS_WITH(gmem_fd(vm, 0, 0), EINVAL), "size 0");
	TEST_ASSERT(FAILS_WITH(gmem_fd(vm, 1, 0), EINVAL), "size 1");
	TEST_ASSERT(FAILS_WITH(gmem_fd(vm, pg - 1, 0), EINVAL), "size page - 1");

	fd = gmem_fd(vm, size, GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
	fd2 = gmem_fd(vm, size, 0);
	TEST_ASSERT(fd >= 0 && fd2 >= 0, "KVM_CREATE_GUEST_MEMFD");
	TEST_ASSERT(fstat(fd, &st) == 0 && fstat(fd2, &st2) == 0, "fstat");
	TEST_ASSERT(st.st_size == (off_t)size && st.st_blksize == (blksize_t)pg, "stat");
	TEST_ASSERT(st.st_ino != st2.st_ino, "two guest_memfds share an inode");
	TEST_ASSERT(FAILS_WITH(ftruncate(fd, (off_t)pg), EINVAL), "ftruncate");

	/* fallocate: only KEEP_SIZE (+ PUNCH_HOLE), aligned, inside i_size. */
	TEST_ASSERT(fallocate(fd, keep, 0, (off_t)pg) == 0, "allocate");
	TEST_ASSERT(FAILS_WITH(fallocate(fd, 0, 0, (off_t)pg), EOPNOTSUPP), "mode 0");
	TEST_ASSERT(fallocate(fd, keep, (off_t)pg / 2, (off_t)pg) < 0, "unaligned");
	TEST_ASSERT(fallocate(fd, keep, (off_t)size, (off_t)pg) < 0, "allocate at EOF");
	TEST_ASSERT(fallocate(fd, keep, (off_t)(size + pg), (off_t)pg) < 0, "past EOF");
	TEST_ASSERT(fallocate(fd, punch, (off_t)size, (off_t)pg) == 0, "punch at EOF");
	TEST_ASSERT(fallocate(fd, punch, (off_t)(size + pg), (off_t)pg) == 0, "past EOF");
	TEST_ASSERT(fallocate(fd, punch, 0, (off_t)pg) == 0, "punch");
	TEST_ASSERT(fallocate(fd, keep, 0, (off_t)pg) == 0, "re-allocate");
	for (unsigned i = 0; i < sizeof(bad_punch) / sizeof(bad_punch[0]); i++)
		TEST_ASSERT(FAILS_WITH(fallocate(fd, punch, (off_t)bad_punch[i][0],
						 (off_t)bad_punch[i][1]), EINVAL),
			    "punch %#" PRIx64 "+%#" PRIx64, bad_punch[i][0], bad_punch[i][1]);

	/* mmap: needs MMAP and MAP_SHARED; INIT_SHARED memory works until i_size. */
	TEST_ASSERT(mmap(NULL, size, PROT_READ, MAP_SHARED, fd2, 0) == MAP_FAILED &&
		    errno == ENODEV, "mmap without MMAP");
	TEST_ASSERT(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) ==
		    MAP_FAILED && errno == EINVAL, "MAP_PRIVATE");
	p = mmap(NULL, size + pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap MAP_SHARED");
	check_gmem_io(vm, fd, p);
	memset(p, 0xaa, size);
	TEST_ASSERT(p[0] == 0xaa && p[size - 1] == 0xaa, "read back");
	TEST_ASSERT(fallocate(fd, punch, 0, (off_t)pg) == 0 && p[0] == 0 && p[pg] == 0xaa,
		    "punched page reads zero");
	TEST_ASSERT(read_faults(p + size), "access past i_size");
	munmap(p, size + pg);
	close(fd);
	fd = gmem_fd(vm, size, GUEST_MEMFD_FLAG_MMAP);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	TEST_ASSERT(fd >= 0 && p != MAP_FAILED, "MMAP without INIT_SHARED");
	TEST_ASSERT(read_faults(p), "MMAP without INIT_SHARED is not faultable");
	munmap(p, size);
	close(fd);
	close(fd2);
	close(vm);
}

#define MAX_CASES 32

/*
 * Cases: lookup, one per backend (by its name), bounds, create-errors,
 * gmem-conformance, and those about THP (test_backends_thp.c).
 */
int main(int argc, char **argv)
{
	struct e2e_case list[MAX_CASES] = { { "lookup", run_lookup, NULL } };
	size_t n = 1;

	for (const struct mem_backend_ops *const *b = mem_backends; *b; b++)
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (cases[i].ops == *b && n < MAX_CASES - 3)
				list[n++] = (struct e2e_case){ (*b)->name, run_backend, &cases[i] };
	list[n++] = (struct e2e_case){ "bounds", run_bounds, NULL };
	list[n++] = (struct e2e_case){ "create-errors", run_create_errors, NULL };
	list[n++] = (struct e2e_case){ "gmem-conformance", run_gmem_conformance, NULL };
	n += backends_thp_cases(list + n, MAX_CASES - n);
	/*
	 * Cases may grow the huge page pool and change the host's THP settings;
	 * this process puts both back however they end.
	 */
	hugepages_save();
	thp_sysfs_save();
	return e2e_case_main(argc, argv, list, n);
}
