// SPDX-License-Identifier: MIT
/*
 * virtio-balloon (devices/virtio_balloon.h) on a fake machine, white-box
 * (tests/test_virtio_balloon.h has the rig): create()'s checks, the
 * features and queues it offers and how their indices follow the
 * negotiated features, inflate and deflate merged into few discards with
 * the host's meters showing the memory gone and back, repopulation by a
 * preallocating strategy, bad / duplicate / hotplug PFNs, runs split at a
 * region boundary and hugetlb's 2 MiB units. The rest (free page
 * reporting, statistics, configuration, resets, save/restore, violations)
 * is in test_virtio_balloon_state.c.
 */
#include "tests/test_virtio_balloon.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/hugepages.h"

#define HUGE         MEM_HUGE_PAGE_BYTES
#define HUGE_RAM     (12 * MiB)          /* hugetlb boot RAM: 6 huge pages */
#define SHUFFLE_SEED 12345u

struct fake_ctx f;
struct vtest vt;
void *dev;
unsigned int hp_region;

/* ---- the rig ---- */

void rig_setup(const struct rig_config *c)
{
	uint64_t ram = c->ram_bytes ? c->ram_bytes : RAM_BYTES;
	const struct fake_ctx_config fc = {
		.ram_bytes = ram, .hotplug_bytes = c->hotplug ? HOTPLUG_BYTES : 0, .pci = true,
	};
	const struct balloon_config none = { .populate = MEM_POPULATE_NONE };
	unsigned int nq = c->queues;

	fake_ctx_init(&f, &fc);
	if (c->backend && c->backend != &mem_backend_anon) {
		/* fake_ctx's boot RAM is anon: the same layout with another backend. */
		const struct mem_config mc = { .size = ram, .backend = c->backend };

		mem_destroy(&f.mem);
		f.mem_ready = false;
		TEST_OK(mem_create(&f.mem, &mc, -1, NULL));
		f.mem_ready = true;
	}
	if (c->hotplug)
		fake_ctx_add_hotplug(&f, NULL, &hp_region);
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, c->bc ? c->bc : &none, &dev));
	vt_find(&f, &vt);
	if (!nq)
		nq = 2 + !!(c->features & F_STATS) + !!(c->features & F_REPORTING);
	vt_start(&vt, c->features, nq);
}

void rig_teardown(void)
{
	virtio_balloon_device_ops.destroy(dev);
	dev = NULL;
	fake_ctx_destroy(&f);
}

struct balloon *rig_balloon(void)
{
	return dev;
}

struct balloon_status bst(void)
{
	struct balloon_status st;

	virtio_balloon_get_status(dev, &st);
	return st;
}

void pfn_chain(unsigned int q, const uint32_t *pfns, unsigned int n)
{
	static uint32_t le[PFN_BUF_MAX];
	const struct vt_buf b = { .gpa = PFN_GPA, .len = n * (uint32_t)sizeof(uint32_t) };
	uint32_t id, len;
	uint16_t head;

	TEST_ASSERT(n <= PFN_BUF_MAX, "%u PFNs", n);
	for (unsigned int i = 0; i < n; i++)
		le[i] = htole32(pfns[i]);
	vt_mem_write(&vt, PFN_GPA, le, b.len);
	head = vt_add(&vt, q, &b, 1);
	vt_kick(&vt, q);
	TEST_ASSERT(vt_used(&vt, q, &id, &len), "queue %u: %u PFNs not used (status %#x: %s)", q,
		    n, vt_status(&vt), bst().last_violation ? bst().last_violation : "-");
	TEST_ASSERT(id == head && len == 0, "queue %u: used id %u (head %u), len %u", q, id, head,
		    len);
}

void pfn_range(unsigned int q, uint64_t gpa, uint64_t len, bool shuffle)
{
	static uint32_t p[PFN_BUF_MAX];
	uint64_t n = len / PAGE;

	srand(SHUFFLE_SEED);
	while (n) {
		unsigned int k = n > PFN_BUF_MAX ? PFN_BUF_MAX : (unsigned int)n;

		for (unsigned int i = 0; i < k; i++)
			p[i] = pfn_of(gpa) + i;
		for (unsigned int i = k - 1; shuffle && i > 0; i--) {
			unsigned int j = (unsigned int)rand() % (i + 1);
			uint32_t t = p[i];

			p[i] = p[j];
			p[j] = t;
		}
		pfn_chain(q, p, k);
		gpa += (uint64_t)k * PAGE;
		n -= k;
	}
}

void touch(uint64_t gpa, uint64_t len)
{
	uint8_t *hva = mem_gpa_to_hva(&f.mem, gpa, len);

	TEST_ASSERT(hva, "touch(%#llx, %llu)", (unsigned long long)gpa, (unsigned long long)len);
	for (uint64_t off = 0; off < len; off += PAGE)
		memset(hva + off, 0x5a, 64);
}

uint64_t resident(uint64_t gpa, uint64_t len)
{
	uint8_t *hva = mem_gpa_to_hva(&f.mem, gpa, len);
	uint64_t n = len / PAGE, pages = 0;
	unsigned char *vec;

	TEST_ASSERT(hva && len % PAGE == 0, "resident(%#llx, %llu)", (unsigned long long)gpa,
		    (unsigned long long)len);
	vec = malloc(n ? n : 1);
	TEST_ASSERT(vec, "malloc");
	TEST_ASSERT(!n || mincore(hva, len, vec) == 0, "mincore");
	for (uint64_t i = 0; i < n; i++)
		pages += vec[i] & 1;
	free(vec);
	return pages * PAGE;
}

uint64_t file_bytes(unsigned int region)
{
	struct stat st;
	int fd = f.mem.region[region].fd;

	if (fd < 0)
		return UINT64_MAX;
	TEST_ASSERT(fstat(fd, &st) == 0, "fstat");
	return (uint64_t)st.st_blocks * ST_BLOCK_BYTES;
}

uint64_t peek(uint64_t gpa)
{
	uint64_t v;

	vt_mem_read(&vt, gpa, &v, sizeof(v));
	return v;
}

uint32_t cfg_num_pages(void)
{
	return (uint32_t)vt_device_read(&vt, offsetof(struct virtio_balloon_config, num_pages), 4);
}

uint32_t cfg_actual(void)
{
	return (uint32_t)vt_device_read(&vt, offsetof(struct virtio_balloon_config, actual), 4);
}

uint8_t generation(void)
{
	return (uint8_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
}

/* ---- cases ---- */

static bool watching(void)
{
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS; i++)
		if (f.watch[i].fd >= 0)
			return true;
	return false;
}

static void run_create_errors(const void *arg)
{
	const struct fake_ctx_config fc = { .ram_bytes = RAM_BYTES, .pci = true };
	const struct balloon_config good = { .target = RAM_BYTES, .stats = true,
					     .stats_interval_s = 1 };
	struct balloon_config c;
	struct balloon_status st;
	void *d = NULL;

	(void)arg;
	fake_ctx_init(&f, &fc);
#define REFUSED(field, value, what) do {                                                   \
		c = good;                                                                  \
		c.field = value;                                                           \
		TEST_ASSERT(virtio_balloon_device_ops.create(&f.ctx, &c, &d) == -EINVAL, what); \
	} while (0)
	REFUSED(target, RAM_BYTES + PAGE, "target beyond RAM");
	REFUSED(target, PAGE + 1, "target not a page multiple");
	REFUSED(target, UINT64_MAX - PAGE + 1, "target near 2^64");
	REFUSED(populate, MEM_POPULATE_NR, "unknown populate strategy");
	REFUSED(stats_interval_s, BALLOON_MAX_STATS_S + 1, "stats interval too long");
#undef REFUSED
	TEST_ASSERT(f.nr_ioeventfds == 0 && !watching(), "a refused create left fds behind");
	/* The whole RAM is a good target; NULL cfg: target 0, stats every 5 s. */
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, &good, &d));
	virtio_balloon_get_status(d, &st);
	TEST_ASSERT(st.target == RAM_BYTES && st.configured_target == RAM_BYTES &&
		    st.stats_interval_s == 1 && watching(), "full target");
	virtio_balloon_device_ops.destroy(d);
	TEST_ASSERT(!watching(), "destroy left the stats timer watched");
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, NULL, &d));
	virtio_balloon_get_status(d, &st);
	TEST_ASSERT(st.target == 0 && st.offered == (1ull << VIRTIO_BALLOON_F_STATS_VQ) &&
		    st.stats_interval_s == BALLOON_DEFAULT_STATS_S && st.inflated == 0,
		    "defaults: offered %#llx, interval %u", (unsigned long long)st.offered,
		    st.stats_interval_s);
	TEST_ASSERT(virtio_balloon_set_target(d, RAM_BYTES + PAGE) == -EINVAL, "set_target");
	virtio_balloon_device_ops.destroy(d);
	/* The timer cannot be watched: refused, nothing left. */
	f.fail_watch_fd = -ENOSPC;
	TEST_ASSERT(virtio_balloon_device_ops.create(&f.ctx, &good, &d) == -ENOSPC, "watch_fd");
	f.fail_watch_fd = 0;
	TEST_ASSERT(f.nr_ioeventfds == 0 && !watching(), "a failed create left fds behind");
	fake_ctx_destroy(&f);

	/* No boot RAM. */
	{
		const struct fake_ctx_config no_ram = { .pci = true };

		fake_ctx_init(&f, &no_ram);
		TEST_ASSERT(!f.ctx.mem, "fake_ctx without RAM");
		TEST_ASSERT(virtio_balloon_device_ops.create(&f.ctx, &good, &d) == -EINVAL,
			    "no boot RAM");
		fake_ctx_destroy(&f);
	}
	/* No PCI host. */
	{
		const struct fake_ctx_config no_pci = { .ram_bytes = RAM_BYTES };

		fake_ctx_init(&f, &no_pci);
		TEST_ASSERT(virtio_balloon_device_ops.create(&f.ctx, &good, &d) == -ENODEV, "no PCI");
		TEST_ASSERT(!watching(), "no PCI: the timer is left watched");
		fake_ctx_destroy(&f);
	}
}

static void run_features(const void *arg)
{
	(void)arg;
	for (unsigned int m = 0; m < 8; m++) {
		const struct balloon_config bc = {
			.stats = m & 1, .deflate_on_oom = m & 2, .free_page_reporting = m & 4,
			.populate = MEM_POPULATE_NONE,
		};
		uint64_t want = (m & 1 ? F_STATS : 0) | (m & 2 ? F_OOM : 0) |
				(m & 4 ? F_REPORTING : 0);
		const struct rig_config rc = { .bc = &bc, .features = want };
		uint64_t others[] = { 1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST,
				      1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT,
				      1ull << VIRTIO_BALLOON_F_PAGE_POISON, F_STATS, F_OOM,
				      F_REPORTING };
		unsigned int nq;

		rig_setup(&rc);
		TEST_ASSERT(vt_device_features(&vt) == (want | 1ull << VIRTIO_F_VERSION_1),
			    "config %u: offered %#llx", m,
			    (unsigned long long)vt_device_features(&vt));
		nq = (unsigned int)vt_common_read(&vt, VIRTIO_PCI_COMMON_NUMQ, 2);
		TEST_ASSERT(nq == 2 + (m & 1) + !!(m & 4), "config %u: %u queues", m, nq);
		TEST_ASSERT(bst().offered == want && bst().features == (want | 1ull << VIRTIO_F_VERSION_1),
			    "config %u: status offered %#llx, features %#llx", m,
			    (unsigned long long)bst().offered, (unsigned long long)bst().features);
		/* Deflate-on-OOM (and the rest) only when offered; never what is not. */
		for (unsigned int i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
			uint8_t st = vt_negotiate(&vt, others[i] | 1ull << VIRTIO_F_VERSION_1);
			bool offered = want & others[i];

			TEST_ASSERT(!!(st & VIRTIO_CONFIG_S_FEATURES_OK) == offered,
				    "config %u: feature %#llx: status %#x", m,
				    (unsigned long long)others[i], st);
			TEST_ASSERT(!offered || bst().features ==
				    (others[i] | 1ull << VIRTIO_F_VERSION_1), "negotiated");
		}
		rig_teardown();
	}
}

void report(unsigned int q, uint64_t gpa, uint32_t len, bool answered)
{
	const struct vt_buf b = { .gpa = gpa, .len = len, .write = true };
	uint16_t head = vt_add(&vt, q, &b, 1);
	uint32_t id, n;

	vt_kick(&vt, q);
	if (!answered)
		return;
	TEST_ASSERT(vt_used(&vt, q, &id, &n) && id == head && n == 0, "report on queue %u", q);
}

void stats_one(unsigned int q, uint16_t tag, uint64_t val)
{
	uint8_t e[BAL_STAT_BYTES];
	const struct vt_buf b = { .gpa = STATS_GPA, .len = sizeof(e) };
	uint16_t t = htole16(tag);
	uint64_t v = htole64(val);

	memcpy(e, &t, 2);
	memcpy(e + 2, &v, 8);
	vt_mem_write(&vt, STATS_GPA, e, sizeof(e));
	(void)vt_add(&vt, q, &b, 1);
	vt_kick(&vt, q);
}

static void run_queues(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .features = F_REPORTING, .queues = 4 };
	struct balloon_status st;
	uint64_t ign;

	(void)arg;
	/* Reporting without stats: the reporting queue is 2, and 3 is nothing. */
	rig_setup(&rc);
	/* DRIVER_OK ran every enabled queue, 3 too (counted); notifies are counted from here. */
	ign = bst().ignored_notifies;
	touch(WORK_GPA, MiB);
	report(2, WORK_GPA, MiB, true);
	st = bst();
	TEST_ASSERT(st.reports == 1 && st.reported == MiB && st.stats_updates == 0,
		    "reporting at 2: %llu reports, %llu stats", (unsigned long long)st.reports,
		    (unsigned long long)st.stats_updates);
	TEST_ASSERT(resident(WORK_GPA, MiB) == 0, "reported memory still resident");
	report(3, WORK_GPA, MiB, false);
	st = bst();
	TEST_ASSERT(st.ignored_notifies == ign + 1 && st.reports == 1 && !st.needs_reset,
		    "queue 3 without a queue: %llu ignored", (unsigned long long)st.ignored_notifies);
	TEST_ASSERT(!vt_used(&vt, 3, NULL, NULL), "queue 3 answered");

	/* Stats and reporting: stats at 2, reporting at 3. */
	vt_start(&vt, F_STATS | F_REPORTING, 4);
	ign = bst().ignored_notifies;
	stats_one(2, VIRTIO_BALLOON_S_MEMFREE, 1234);
	st = bst();
	TEST_ASSERT(st.stats_updates == 1 && st.stats_held && st.stat[VIRTIO_BALLOON_S_MEMFREE] ==
		    1234 && st.reports == 1, "stats at 2");
	touch(WORK_GPA, MiB);
	report(3, WORK_GPA, MiB, true);
	TEST_ASSERT(bst().reports == 2 && bst().ignored_notifies == ign, "reporting at 3");
	TEST_ASSERT(resident(WORK_GPA, MiB) == 0, "reported memory still resident");

	/* Neither: 2 is nothing. */
	vt_start(&vt, 0, 3);
	ign = bst().ignored_notifies;
	TEST_ASSERT(!bst().stats_held, "a driver reset kept the stats buffer");
	report(2, WORK_GPA, MiB, false);
	st = bst();
	TEST_ASSERT(st.ignored_notifies == ign + 1 && st.reports == 2 && st.stats_updates == 1 &&
		    !st.needs_reset, "queue 2 without features: %llu ignored",
		    (unsigned long long)st.ignored_notifies);
	rig_teardown();
}

static void run_inflate(const void *backend)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .backend = backend, .bc = &bc };
	const uint64_t len = 4 * MiB;
	const uint32_t two[] = { pfn_of(24 * MiB) + 3, pfn_of(28 * MiB), pfn_of(24 * MiB),
				 pfn_of(28 * MiB) + 1, pfn_of(24 * MiB) + 2, pfn_of(24 * MiB) + 1 };
	struct balloon_status st;
	uint64_t f0;

	rig_setup(&rc);
	touch(WORK_GPA, len + PAGE);
	touch(24 * MiB, 4 * PAGE);
	touch(28 * MiB, 2 * PAGE);
	touch(PFN_GPA, 64 * 1024);   /* the PFN buffers, before the file is measured */
	TEST_ASSERT(resident(WORK_GPA, len) == len, "touched pages not resident");
	f0 = file_bytes(0);

	/* 1024 contiguous pages in random order: one discard. */
	pfn_range(Q_INFLATE, WORK_GPA, len, true);
	st = bst();
	TEST_ASSERT(st.discards == 1 && st.inflated == len && st.given_back == len &&
		    st.inflated_total == len && st.dup_pfns == 0 && st.bad_pfns == 0 &&
		    st.discard_errors == 0, "1024 shuffled pages: %llu discards, %llu inflated",
		    (unsigned long long)st.discards, (unsigned long long)st.inflated);
	TEST_ASSERT(resident(WORK_GPA, len) == 0, "%llu bytes still resident",
		    (unsigned long long)resident(WORK_GPA, len));
	TEST_ASSERT(resident(WORK_GPA + len, PAGE) == PAGE, "the page after was discarded");
	if (f0 != UINT64_MAX)
		TEST_ASSERT(file_bytes(0) == f0 - len, "memfd blocks %llu, were %llu",
			    (unsigned long long)file_bytes(0), (unsigned long long)f0);

	/* Two runs interleaved in one buffer: two discards. */
	pfn_chain(Q_INFLATE, two, 6);
	st = bst();
	TEST_ASSERT(st.discards == 3 && st.inflated == len + 6 * PAGE, "two runs: %llu discards",
		    (unsigned long long)st.discards);
	TEST_ASSERT(resident(24 * MiB, 4 * PAGE) == 0 && resident(28 * MiB, 2 * PAGE) == 0,
		    "runs still resident");

	/* Deflate (populate none): usable, not resident until touched, reads zero. */
	pfn_range(Q_DEFLATE, WORK_GPA, len, true);
	st = bst();
	TEST_ASSERT(st.inflated == 6 * PAGE && st.given_back == 6 * PAGE &&
		    st.deflated_total == len && st.repopulated == 0 && st.discards == 3,
		    "after deflate: inflated %llu, given back %llu", (unsigned long long)st.inflated,
		    (unsigned long long)st.given_back);
	TEST_ASSERT(resident(WORK_GPA, len) == 0, "deflated pages populated without a strategy");
	TEST_ASSERT(peek(WORK_GPA + PAGE) == 0, "a deflated page does not read zero");
	touch(WORK_GPA, len);
	TEST_ASSERT(peek(WORK_GPA) == PATTERN && resident(WORK_GPA, len) == len,
		    "a deflated page is not usable");

	/* One page of a run leaves: the rest stays given back. */
	{
		const uint32_t one = pfn_of(24 * MiB) + 1;

		pfn_chain(Q_DEFLATE, &one, 1);
		TEST_ASSERT(bst().given_back == 5 * PAGE && bst().inflated == 5 * PAGE,
			    "one page out");
	}

	/* More PFNs than one batch (BAL_BATCH_PFNS) in two buffers: one discard per batch. */
	{
		const uint64_t n = BAL_BATCH_PFNS + 1904, base = 32 * MiB;
		static uint32_t p[BAL_BATCH_PFNS + 1904];
		const struct vt_buf b[2] = {
			{ .gpa = PFN_GPA, .len = 3000 * 4 },
			{ .gpa = PFN_GPA + 0x8000, .len = (uint32_t)(n - 3000) * 4 },
		};
		uint64_t d0 = bst().discards;
		uint32_t id, used;
		uint16_t head;

		for (uint64_t i = 0; i < n; i++)
			p[i] = htole32(pfn_of(base) + (uint32_t)i);
		vt_mem_write(&vt, PFN_GPA, p, 3000 * 4);
		vt_mem_write(&vt, PFN_GPA + 0x8000, p + 3000, (n - 3000) * 4);
		head = vt_add(&vt, Q_INFLATE, b, 2);
		vt_kick(&vt, Q_INFLATE);
		TEST_ASSERT(vt_used(&vt, Q_INFLATE, &id, &used) && id == head && used == 0,
			    "two-buffer chain");
		st = bst();
		TEST_ASSERT(st.discards == d0 + 2 && st.inflated == 5 * PAGE + n * PAGE,
			    "%llu PFNs: %llu discards", (unsigned long long)n,
			    (unsigned long long)(st.discards - d0));
	}
	TEST_ASSERT(!bst().needs_reset, "violation");
	rig_teardown();
}

struct populate_case {
	const struct mem_backend_ops *backend;
	enum mem_populate_strategy populate;
	bool works;
};

static void run_deflate_populate(const void *arg)
{
	const struct populate_case *pc = arg;
	const struct balloon_config bc = { .populate = pc->populate, .populate_threads = 1 };
	const struct rig_config rc = { .backend = pc->backend, .bc = &bc };
	const uint64_t len = 4 * MiB;
	struct balloon_status st;

	uint64_t f0;

	rig_setup(&rc);
	touch(WORK_GPA, len);
	touch(PFN_GPA, 64 * 1024);
	f0 = file_bytes(0);
	pfn_range(Q_INFLATE, WORK_GPA, len, true);
	TEST_ASSERT(resident(WORK_GPA, len) == 0 && bst().given_back == len, "inflate");
	TEST_ASSERT(f0 == UINT64_MAX || file_bytes(0) == f0 - len, "memfd blocks after inflate");
	pfn_range(Q_DEFLATE, WORK_GPA, len, true);
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0 && st.deflated_total == len,
		    "deflate: inflated %llu, given back %llu", (unsigned long long)st.inflated,
		    (unsigned long long)st.given_back);
	if (pc->works) {
		TEST_ASSERT(st.repopulated == len && st.populate_errors == 0,
			    "repopulated %llu, %llu errors (%d)", (unsigned long long)st.repopulated,
			    (unsigned long long)st.populate_errors, st.last_populate_err);
		/*
		 * Host memory back: the memfd's blocks (mincore counts only pages
		 * written since: fallocated shmem pages are not uptodate), the
		 * mapping's pages for anon.
		 */
		if (f0 != UINT64_MAX)
			TEST_ASSERT(file_bytes(0) == f0, "memfd blocks %llu, were %llu",
				    (unsigned long long)file_bytes(0), (unsigned long long)f0);
		else
			TEST_ASSERT(resident(WORK_GPA, len) == len, "deflated pages resident: %llu",
				    (unsigned long long)resident(WORK_GPA, len));
	} else {
		/* The strategy fails here: counted, and the pages are usable all the same. */
		TEST_ASSERT(st.repopulated == 0 && st.populate_errors >= 1 &&
			    st.last_populate_err < 0, "populate failure: %llu errors",
			    (unsigned long long)st.populate_errors);
	}
	TEST_ASSERT(peek(WORK_GPA) == 0, "a deflated page does not read zero");
	touch(WORK_GPA, len);
	TEST_ASSERT(peek(WORK_GPA + len - PAGE) == PATTERN, "not usable");
	rig_teardown();
}

static void run_bad_pfns(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .hotplug = true };
	uint64_t hp, stamp = 0x1122334455667788ull;
	struct balloon_status st;

	(void)arg;
	rig_setup(&rc);
	hp = f.mem.region[hp_region].gpa;
	vt_mem_write(&vt, hp + PAGE, &stamp, sizeof(stamp));
	touch(WORK_GPA, 4 * PAGE);
	{
		const uint32_t p[] = {
			pfn_of(WORK_GPA), pfn_of(WORK_GPA),            /* the same page twice */
			pfn_of(RAM_BYTES),                             /* just past RAM */
			pfn_of(MEM_MMIO_HOLE_START),                   /* the MMIO hole */
			UINT32_MAX,                                    /* 16 TiB */
			pfn_of(hp), pfn_of(hp) + 1,                    /* virtio-mem's */
			pfn_of(hp + HOTPLUG_BYTES - PAGE),
			pfn_of(hp + HOTPLUG_BYTES),                    /* past it */
		};
		uint32_t le[10];
		const struct vt_buf b = { .gpa = PFN_GPA, .len = sizeof(p) + 2 };
		uint32_t id, len;

		for (unsigned int i = 0; i < 9; i++)
			le[i] = htole32(p[i]);
		le[9] = htole32(pfn_of(WORK_GPA) + 2);   /* half of it in the buffer: ignored */
		vt_mem_write(&vt, PFN_GPA, le, sizeof(le));
		(void)vt_add(&vt, Q_INFLATE, &b, 1);
		vt_kick(&vt, Q_INFLATE);
		TEST_ASSERT(vt_used(&vt, Q_INFLATE, &id, &len) && len == 0, "chain not used");
	}
	st = bst();
	TEST_ASSERT(st.inflated == PAGE && st.given_back == PAGE && st.dup_pfns == 1 &&
		    st.bad_pfns == 4 && st.hotplug_pfns == 3 && st.discards == 1,
		    "inflated %llu, dup %llu, bad %llu, hotplug %llu",
		    (unsigned long long)st.inflated, (unsigned long long)st.dup_pfns,
		    (unsigned long long)st.bad_pfns, (unsigned long long)st.hotplug_pfns);
	TEST_ASSERT(resident(WORK_GPA, PAGE) == 0 && resident(WORK_GPA + 2 * PAGE, PAGE) == PAGE,
		    "the good page given back, the half one kept");
	TEST_ASSERT(peek(hp + PAGE) == stamp, "the hotplug region's page changed");
	/* Again, and deflating what is not in it: duplicates. */
	{
		const uint32_t in = pfn_of(WORK_GPA), out[] = { pfn_of(WORK_GPA) + 1, UINT32_MAX };

		pfn_chain(Q_INFLATE, &in, 1);
		pfn_chain(Q_DEFLATE, out, 2);
	}
	st = bst();
	TEST_ASSERT(st.dup_pfns == 3 && st.bad_pfns == 5 && st.inflated == PAGE &&
		    st.discards == 1, "dup %llu, bad %llu", (unsigned long long)st.dup_pfns,
		    (unsigned long long)st.bad_pfns);
	/* Empty buffers change nothing. */
	pfn_chain(Q_INFLATE, NULL, 0);
	pfn_chain(Q_DEFLATE, NULL, 0);
	TEST_ASSERT(bst().inflated == PAGE && !bst().needs_reset, "empty buffers");
	rig_teardown();
}

/* RAM below the MMIO hole and above 4 GiB: a run across the two is split. */
static void run_two_regions(const void *backend)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const uint64_t ram = MEM_MMIO_HOLE_START + RAM_BYTES;
	const struct rig_config rc = { .ram_bytes = ram, .backend = backend, .bc = &bc };
	const uint64_t lo = MEM_MMIO_HOLE_START - 2 * PAGE, hi = MEM_HIGH_RAM_START;
	const uint32_t p[] = { pfn_of(hi) + 1, pfn_of(lo) + 1, pfn_of(MEM_MMIO_HOLE_START),
			       pfn_of(hi), pfn_of(lo), pfn_of(hi + RAM_BYTES) };
	const struct balloon *b;
	struct balloon_status st;

	rig_setup(&rc);
	b = rig_balloon();
	TEST_ASSERT(f.mem.nr_regions == 2 && b->nr_regions == 2 &&
		    b->region[1].first == b->region[0].pages, "layout: %u regions, first %llu",
		    b->nr_regions, (unsigned long long)b->region[1].first);
	touch(lo, 2 * PAGE);
	touch(hi, 2 * PAGE);
	pfn_chain(Q_INFLATE, p, 6);
	st = bst();
	TEST_ASSERT(st.inflated == 4 * PAGE && st.given_back == 4 * PAGE && st.discards == 2 &&
		    st.bad_pfns == 2 && st.discard_errors == 0,
		    "across the hole: %llu discards, %llu errors, %llu bad",
		    (unsigned long long)st.discards, (unsigned long long)st.discard_errors,
		    (unsigned long long)st.bad_pfns);
	TEST_ASSERT(resident(lo, 2 * PAGE) == 0 && resident(hi, 2 * PAGE) == 0,
		    "pages on both sides still resident");
	pfn_chain(Q_DEFLATE, p, 6);
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0 && st.bad_pfns == 4, "deflate");
	touch(lo, 2 * PAGE);
	touch(hi, 2 * PAGE);
	TEST_ASSERT(peek(lo) == peek(hi + PAGE) && peek(lo) == PATTERN, "usable");
	rig_teardown();
}

/* Hugetlb boot RAM: the discard unit is 2 MiB. */
static void run_hugetlb(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE,
					   .free_page_reporting = true, .populate_threads = 1 };
	const struct rig_config rc = { .ram_bytes = HUGE_RAM, .backend = &mem_backend_hugetlb,
				       .bc = &bc, .features = F_REPORTING };
	const uint64_t u = 10 * MiB;   /* the unit ballooned */
	const uint32_t last = pfn_of(u + HUGE - PAGE);
	uint64_t free_pages, total;
	struct balloon_status st;

	(void)arg;
	TEST_REQUIRE(mem_hugetlb_free_pages(&free_pages, &total) == 0, "no 2 MiB hugetlb pool");
	TEST_REQUIRE(hugepages_reserve(HUGE_RAM / HUGE), "could not reserve 6 2 MiB huge pages");
	rig_setup(&rc);
	TEST_ASSERT(rig_balloon()->region[0].unit_pages == HUGE / PAGE, "unit %llu pages",
		    (unsigned long long)rig_balloon()->region[0].unit_pages);
	touch(u, HUGE);
	TEST_ASSERT(resident(u, HUGE) == HUGE, "hugetlb unit not resident");

	/* 511 of 512 pages: nothing given back yet. */
	pfn_range(Q_INFLATE, u, HUGE - PAGE, true);
	st = bst();
	TEST_ASSERT(st.inflated == HUGE - PAGE && st.given_back == 0 && st.discards == 0,
		    "511 pages: given back %llu, %llu discards", (unsigned long long)st.given_back,
		    (unsigned long long)st.discards);
	TEST_ASSERT(resident(u, HUGE) == HUGE && bal_access_ok(dev, u, HUGE), "unit left");
	/* The last one: the whole unit goes. */
	pfn_chain(Q_INFLATE, &last, 1);
	st = bst();
	TEST_ASSERT(st.inflated == HUGE && st.given_back == HUGE && st.discards == 1,
		    "512 pages: given back %llu", (unsigned long long)st.given_back);
	TEST_ASSERT(resident(u, HUGE) == 0, "given-back unit resident");
	/* The device's access rule: nothing of the unit, whatever the range. */
	TEST_ASSERT(!bal_access_ok(dev, u + 100 * PAGE, 8), "inside the unit");
	TEST_ASSERT(!bal_access_ok(dev, u - 8, 16), "across its start");
	TEST_ASSERT(!bal_access_ok(dev, u + HUGE - 8, 16), "across its end");
	TEST_ASSERT(!bal_access_ok(dev, 0, HUGE_RAM), "all of RAM");
	TEST_ASSERT(bal_access_ok(dev, u - PAGE, PAGE) && bal_access_ok(dev, u + HUGE, PAGE),
		    "next to the unit");
	TEST_ASSERT(bal_access_ok(dev, u, 0) && !bal_access_ok(dev, UINT64_MAX - 3, 8),
		    "empty and wrapping ranges");
	TEST_ASSERT(bal_access_ok(dev, HUGE_RAM + GiB, PAGE), "outside RAM is not its business");

	/* Free page reporting leaves hugetlb backed. */
	touch(u - HUGE, HUGE);
	report(2, u - HUGE, (uint32_t)HUGE, true);
	st = bst();
	TEST_ASSERT(st.reports == 1 && st.reported == 0 && st.discards == 1 &&
		    resident(u - HUGE, HUGE) == HUGE, "reported hugetlb memory discarded");

	/* The first page out: the unit comes back, populated although the strategy is none. */
	pfn_chain(Q_DEFLATE, &last, 1);
	st = bst();
	TEST_ASSERT(st.inflated == HUGE - PAGE && st.given_back == 0 && st.repopulated == HUGE &&
		    st.populate_errors == 0, "deflate: given back %llu, repopulated %llu (%d)",
		    (unsigned long long)st.given_back, (unsigned long long)st.repopulated,
		    st.last_populate_err);
	TEST_ASSERT(resident(u, HUGE) == HUGE && bal_access_ok(dev, u, HUGE), "unit back");

	/* The unit holding the rings given back: the device stops touching them. */
	pfn_range(Q_INFLATE, 0, HUGE - PAGE, false);
	{
		const uint32_t p = pfn_of(HUGE - PAGE);
		const struct vt_buf b = { .gpa = PFN_GPA, .len = 4 };
		uint32_t le = htole32(p);

		vt_mem_write(&vt, PFN_GPA, &le, 4);
		(void)vt_add(&vt, Q_INFLATE, &b, 1);
		vt_kick(&vt, Q_INFLATE);
	}
	st = bst();
	TEST_ASSERT(st.given_back == HUGE && !bal_access_ok(dev, VT_RING_BASE_GPA, 16),
		    "rings' unit: given back %llu", (unsigned long long)st.given_back);
	TEST_ASSERT(st.needs_reset && st.last_violation, "no violation with the rings gone");
	TEST_ASSERT(resident(0, HUGE) == 0, "the device touched the given-back rings");
	TEST_ASSERT(cfg_num_pages() == 0, "config unreadable");
	/* A machine reset repopulates it; the driver starts over. */
	virtio_balloon_device_ops.reset(dev);
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0 && resident(0, HUGE) == HUGE &&
		    resident(u, HUGE) == HUGE, "after the machine reset: given back %llu",
		    (unsigned long long)st.given_back);
	vt_find(&f, &vt);
	vt_start(&vt, F_REPORTING, 3);
	pfn_range(Q_INFLATE, u, HUGE, false);
	TEST_ASSERT(bst().given_back == HUGE && resident(u, HUGE) == 0, "after the reset");
	rig_teardown();
}

int main(int argc, char **argv)
{
	static const struct populate_case pop_anon = { &mem_backend_anon, MEM_POPULATE_MADVISE, true };
	static const struct populate_case pop_memfd = { &mem_backend_memfd, MEM_POPULATE_FALLOCATE,
							true };
	static const struct populate_case pop_fail = { &mem_backend_anon, MEM_POPULATE_FALLOCATE,
						       false };
	static const struct e2e_case cases[] = {
		{ "create-errors", run_create_errors, NULL },
		{ "features", run_features, NULL },
		{ "queues", run_queues, NULL },
		{ "inflate-anon", run_inflate, &mem_backend_anon },
		{ "inflate-memfd", run_inflate, &mem_backend_memfd },
		{ "deflate-populate-anon", run_deflate_populate, &pop_anon },
		{ "deflate-populate-memfd", run_deflate_populate, &pop_memfd },
		{ "deflate-populate-fails", run_deflate_populate, &pop_fail },
		{ "bad-pfns", run_bad_pfns, NULL },
		{ "two-regions-anon", run_two_regions, &mem_backend_anon },
		{ "two-regions-memfd", run_two_regions, &mem_backend_memfd },
		{ "hugetlb", run_hugetlb, NULL },
		{ "reporting-anon", run_reporting, &mem_backend_anon },
		{ "reporting-memfd", run_reporting, &mem_backend_memfd },
		{ "stats", run_stats, NULL },
		{ "actual", run_actual, NULL },
		{ "target", run_target, NULL },
		{ "driver-reset", run_driver_reset, NULL },
		{ "machine-reset", run_machine_reset, NULL },
		{ "save-restore", run_save_restore, NULL },
		{ "restore-refused", run_restore_refused, NULL },
		{ "violations", run_violations, NULL },
	};

	/* The huge page pool is put back by this process after the case's child exits. */
	(void)hugepages_save();
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
