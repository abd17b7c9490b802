// SPDX-License-Identifier: MIT
/*
 * virtio-balloon (devices/virtio_balloon.h) against a hostile guest, on the
 * fake machine (tests/fake_ctx.h, no KVM) driven through the PCI
 * transport by tests/vtest.h: PFNs at every edge of RAM, huge and odd
 * chains, reporting buffers of every shape, stats buffers of every size,
 * config accesses at every offset and width, notifies of every queue index
 * in every state, resets with chains pending, the stats buffer across a
 * re-negotiation, and restore blobs altered bit by bit. What each case
 * checks after the attack: no crash (the ASan+UBSan build), the device's
 * own count of the balloon equal to its bitmap, memory given back exactly
 * where the bitmap says (mincore), and the device still usable.
 */
#include "tests/test_balloon_hostile.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mem/mem.h"
#include "tests/e2e.h"

struct fake_ctx f;
struct vtest vt;
void *dev;

/* ---- the rig ---- */

void rig_up(uint64_t ram, const struct balloon_config *bc, uint64_t features,
		   unsigned int queues)
{
	const struct fake_ctx_config fc = { .ram_bytes = ram, .pci = true };

	fake_ctx_init(&f, &fc);
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, bc, &dev));
	vt_find(&f, &vt);
	vt_start(&vt, features, queues);
}

void rig_down(void)
{
	virtio_balloon_device_ops.destroy(dev);
	dev = NULL;
	fake_ctx_destroy(&f);
}

struct balloon *bal(void)
{
	return dev;
}

struct balloon_status bst(void)
{
	struct balloon_status st;

	virtio_balloon_get_status(dev, &st);
	return st;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	TEST_ASSERT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint32_t pfn_of(uint64_t gpa)
{
	return (uint32_t)(gpa / PAGE);
}

void touch(uint64_t gpa, uint64_t len)
{
	uint8_t *hva = mem_gpa_to_hva(&f.mem, gpa, len);

	TEST_ASSERT(hva, "touch %#llx", (unsigned long long)gpa);
	for (uint64_t off = 0; off < len; off += PAGE)
		hva[off] = 0x5a;
}

uint64_t resident(uint64_t gpa, uint64_t len)
{
	uint8_t *hva = mem_gpa_to_hva(&f.mem, gpa, len);
	uint64_t n = len / PAGE, bytes = 0;
	unsigned char *vec = malloc(n ? n : 1);

	TEST_ASSERT(hva && vec, "resident %#llx", (unsigned long long)gpa);
	TEST_ASSERT(mincore(hva, len, vec) == 0, "mincore");
	for (uint64_t i = 0; i < n; i++)
		bytes += (vec[i] & 1) * PAGE;
	free(vec);
	return bytes;
}

/*
 * The device's books agree with its bitmaps: inflated is the page bitmap's
 * population, given_back the unit bitmap's (units of one page here, anon).
 */
void books_ok(const char *what)
{
	const struct balloon *b = bal();
	uint64_t pages = 0, units = 0;
	struct balloon_status st = bst();

	for (uint64_t w = 0; w < bitmap_words(b->map_bits); w++) {
		pages += (uint64_t)__builtin_popcountll(b->pages[w]);
		units += (uint64_t)__builtin_popcountll(b->given[w]);
	}
	TEST_ASSERT(st.inflated == pages * PAGE && st.given_back == units * PAGE,
		    "%s: inflated %llu (bitmap %llu pages), given back %llu (bitmap %llu units)",
		    what, (unsigned long long)st.inflated, (unsigned long long)pages,
		    (unsigned long long)st.given_back, (unsigned long long)units);
	TEST_ASSERT(st.given_back <= st.inflated || st.discard_errors || st.populate_errors,
		    "%s: given back %llu > inflated %llu", what,
		    (unsigned long long)st.given_back, (unsigned long long)st.inflated);
}

/* n PFNs as one buffer on q, kicked; true if the chain came back (0 bytes written). */
bool pfns(unsigned int q, const uint32_t *p, unsigned int n)
{
	static uint32_t le[PFN_MAX];
	const struct vt_buf b = { .gpa = PFN_GPA, .len = n * 4u };
	uint32_t id, len;
	uint16_t head;

	TEST_ASSERT(n <= PFN_MAX, "%u PFNs", n);
	for (unsigned int i = 0; i < n; i++)
		le[i] = htole32(p[i]);
	vt_mem_write(&vt, PFN_GPA, le, b.len);
	head = vt_add(&vt, q, &b, 1);
	vt_kick(&vt, q);
	if (!vt_used(&vt, q, &id, &len))
		return false;
	TEST_ASSERT(id == head && len == 0, "used id %u (head %u) len %u", id, head, len);
	return true;
}

/* Every page of [gpa, gpa + len) on q, PFN_MAX at a time. */
void pfn_range(unsigned int q, uint64_t gpa, uint64_t len)
{
	static uint32_t p[PFN_MAX];

	while (len) {
		unsigned int n = len / PAGE > PFN_MAX ? PFN_MAX : (unsigned int)(len / PAGE);

		for (unsigned int i = 0; i < n; i++)
			p[i] = pfn_of(gpa) + i;
		TEST_ASSERT(pfns(q, p, n), "range %#llx not answered (%s)",
			    (unsigned long long)gpa,
			    bst().last_violation ? bst().last_violation : "-");
		gpa += (uint64_t)n * PAGE;
		len -= (uint64_t)n * PAGE;
	}
}

/* One chain on q of these buffers (<= 4); true if it came back. */
bool chain(unsigned int q, const struct vt_buf *b, unsigned int n)
{
	(void)vt_add(&vt, q, b, n);
	vt_kick(&vt, q);
	return vt_used(&vt, q, NULL, NULL);
}

/* A notify of queue index q written straight to its notify address (q * multiplier). */
void notify_raw(unsigned int q)
{
	uint64_t base = vt.bar4 + vt.off[VIRTIO_PCI_CAP_NOTIFY_CFG];

	fake_mmio_write(&f, base + (uint64_t)q * vt.notify_mult, 2, q);
	(void)fake_ctx_run_loop(&f);
}

void cfg_write(unsigned int off, unsigned int size, uint64_t val)
{
	fake_mmio_write(&f, vt.bar4 + vt.off[VIRTIO_PCI_CAP_DEVICE_CFG] + off, size, val);
}

uint64_t cfg_read(unsigned int off, unsigned int size)
{
	return fake_mmio_read(&f, vt.bar4 + vt.off[VIRTIO_PCI_CAP_DEVICE_CFG] + off, size);
}

/* Play the main loop for ns. */
void loop_for(uint64_t ns)
{
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < ns) {
		const struct timespec ms = { .tv_nsec = 10000000 };

		(void)fake_ctx_run_loop(&f);
		nanosleep(&ms, NULL);
	}
}

/* A stats buffer of len bytes at gpa holding raw bytes; not waited for. */
void stats_raw(unsigned int q, const void *raw, uint32_t len, bool write)
{
	const struct vt_buf b = { .gpa = STATS_GPA, .len = len, .write = write };

	if (len)
		vt_mem_write(&vt, STATS_GPA, raw, len);
	(void)vt_add(&vt, q, &b, 1);
	vt_kick(&vt, q);
}

void stat_put(uint8_t *p, uint16_t tag, uint64_t val)
{
	uint16_t t = htole16(tag);
	uint64_t v = htole64(val);

	memcpy(p, &t, 2);
	memcpy(p + 2, &v, 8);
}

/* ---- PFNs ---- */

/*
 * PFNs at the edges: RAM's last page, the first past it, 2^32-1, 0, the
 * same page 4096 times in one array, a trailing partial entry, a PFN split
 * across two buffers; then inflate and deflate of the same page back to
 * back.
 */
static void run_pfn_edges(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const uint32_t last = pfn_of(RAM_BYTES - PAGE);
	const uint32_t edge[] = { last, last + 1, UINT32_MAX, UINT32_MAX - 1, pfn_of(WORK_GPA),
				  last, 0x100000u /* 4 GiB */ };
	static uint32_t same[PFN_MAX];
	struct balloon_status st;

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);
	touch(RAM_BYTES - PAGE, PAGE);
	touch(WORK_GPA, 2 * PAGE);
	TEST_ASSERT(pfns(Q_INFLATE, edge, 7), "edges not answered");
	st = bst();
	TEST_ASSERT(st.inflated == 2 * PAGE && st.bad_pfns == 4 && st.dup_pfns == 1 &&
		    resident(RAM_BYTES - PAGE, PAGE) == 0 && resident(WORK_GPA, PAGE) == 0,
		    "edges: inflated %llu, bad %llu, dup %llu", (unsigned long long)st.inflated,
		    (unsigned long long)st.bad_pfns, (unsigned long long)st.dup_pfns);
	books_ok("edges");

	for (unsigned int i = 0; i < PFN_MAX; i++)
		same[i] = pfn_of(WORK_GPA + PAGE);
	TEST_ASSERT(pfns(Q_INFLATE, same, PFN_MAX), "same page");
	st = bst();
	TEST_ASSERT(st.inflated == 3 * PAGE && st.dup_pfns == 1 + PFN_MAX - 1 &&
		    st.inflated_total == 3 * PAGE, "same page x4096: inflated %llu, dup %llu",
		    (unsigned long long)st.inflated, (unsigned long long)st.dup_pfns);
	books_ok("same page");

	/* 6 bytes: one PFN and a partial entry (ignored). */
	{
		const uint32_t two[2] = { htole32(pfn_of(WORK_GPA + 2 * PAGE)),
					  htole32(pfn_of(WORK_GPA + 3 * PAGE)) };
		const struct vt_buf b = { .gpa = PFN_GPA, .len = 6 };

		vt_mem_write(&vt, PFN_GPA, two, sizeof(two));
		TEST_ASSERT(chain(Q_INFLATE, &b, 1), "partial entry");
		TEST_ASSERT(bst().inflated == 4 * PAGE, "partial entry: %llu",
			    (unsigned long long)bst().inflated);
	}
	/* A PFN split 1 + 3 bytes across two buffers. */
	{
		const uint32_t p = htole32(pfn_of(WORK_GPA + 5 * PAGE));
		const uint8_t *pb = (const uint8_t *)&p;
		const struct vt_buf b[2] = { { .gpa = PFN_GPA, .len = 1 },
					     { .gpa = PFN_GPA + 100, .len = 3 } };

		vt_mem_write(&vt, PFN_GPA, pb, 1);
		vt_mem_write(&vt, PFN_GPA + 100, pb + 1, 3);
		TEST_ASSERT(chain(Q_INFLATE, b, 2), "split PFN");
		TEST_ASSERT(bst().inflated == 5 * PAGE && resident(WORK_GPA + 5 * PAGE, PAGE) == 0,
			    "split PFN: %llu", (unsigned long long)bst().inflated);
	}
	/* Inflate and deflate of one page, queued together, kicked in the other order. */
	{
		const uint32_t p = htole32(pfn_of(WORK_GPA + 7 * PAGE));
		const struct vt_buf b = { .gpa = PFN_GPA + 200, .len = 4 };

		vt_mem_write(&vt, PFN_GPA + 200, &p, 4);
		(void)vt_add(&vt, Q_INFLATE, &b, 1);
		(void)vt_add(&vt, Q_DEFLATE, &b, 1);
		vt_kick(&vt, Q_DEFLATE);
		vt_kick(&vt, Q_INFLATE);
		TEST_ASSERT(vt_used(&vt, Q_INFLATE, NULL, NULL) &&
			    vt_used(&vt, Q_DEFLATE, NULL, NULL), "both answered");
		st = bst();
		TEST_ASSERT(st.inflated == 6 * PAGE, "deflate-then-inflate: %llu",
			    (unsigned long long)st.inflated);
	}
	books_ok("after");
	TEST_ASSERT(!bst().needs_reset, "a violation: %s", bst().last_violation);
	rig_down();
}

/* PFNs shuffled over both boot regions, the MMIO hole and past RAM, in one array. */
static void run_pfn_two_regions(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const uint64_t ram = MEM_MMIO_HOLE_START + 8 * MiB;
	const uint64_t lo_end = MEM_MMIO_HOLE_START, hi = MEM_HIGH_RAM_START;
	static uint32_t p[PFN_MAX];
	unsigned int n = 0;
	struct balloon_status st;

	(void)arg;
	rig_up(ram, &bc, 0, 2);
	TEST_ASSERT(bal()->nr_regions == 2, "%u regions", bal()->nr_regions);
	touch(lo_end - 64 * PAGE, 64 * PAGE);
	touch(hi, 64 * PAGE);
	touch(hi + 8 * MiB - 64 * PAGE, 64 * PAGE);
	for (unsigned int i = 0; i < 64; i++) {
		p[n++] = pfn_of(lo_end - 64 * PAGE) + i;        /* low region's last 64 */
		p[n++] = pfn_of(hi) + i;                         /* high region's first 64 */
		p[n++] = pfn_of(lo_end) + i * 1024;              /* the hole */
		p[n++] = pfn_of(hi + 8 * MiB - 64 * PAGE) + i;   /* high region's last 64 */
		p[n++] = pfn_of(hi + 8 * MiB) + i;               /* past RAM */
	}
	/* Reverse: the device sorts. */
	for (unsigned int i = 0; i < n / 2; i++) {
		uint32_t t = p[i];

		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
	TEST_ASSERT(pfns(Q_INFLATE, p, n), "not answered");
	st = bst();
	TEST_ASSERT(st.inflated == 3 * 64 * PAGE && st.bad_pfns == 2 * 64 && st.discards == 3 &&
		    resident(lo_end - 64 * PAGE, 64 * PAGE) == 0 && resident(hi, 64 * PAGE) == 0 &&
		    resident(hi + 8 * MiB - 64 * PAGE, 64 * PAGE) == 0,
		    "inflated %llu, bad %llu, %llu discards", (unsigned long long)st.inflated,
		    (unsigned long long)st.bad_pfns, (unsigned long long)st.discards);
	books_ok("two regions");
	TEST_ASSERT(pfns(Q_DEFLATE, p, n), "deflate not answered");
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0, "deflated: %llu",
		    (unsigned long long)st.inflated);
	books_ok("two regions deflated");
	rig_down();
}

/* Everything but the driver's own pages in, then out: the books and the host's meter agree. */
static void run_inflate_all(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	const uint64_t n = RAM_BYTES - DRIVER_END;
	struct balloon_status st;

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);
	touch(0, RAM_BYTES);
	pfn_range(Q_INFLATE, DRIVER_END, n);
	pfn_range(Q_INFLATE, 0, VT_RING_BASE_GPA);   /* below the rings */
	st = bst();
	TEST_ASSERT(st.inflated == n + VT_RING_BASE_GPA && st.given_back == st.inflated &&
		    resident(DRIVER_END, n) == 0 && resident(0, VT_RING_BASE_GPA) == 0,
		    "inflated %llu, given back %llu, resident %llu", (unsigned long long)st.inflated,
		    (unsigned long long)st.given_back,
		    (unsigned long long)resident(DRIVER_END, n));
	books_ok("all in");
	/* All of it again: all duplicates, nothing changes. */
	pfn_range(Q_INFLATE, DRIVER_END, n);
	TEST_ASSERT(bst().inflated == st.inflated && bst().dup_pfns == n / PAGE, "again: dup %llu",
		    (unsigned long long)bst().dup_pfns);
	pfn_range(Q_DEFLATE, 0, RAM_BYTES);   /* the driver's pages were never in: dups */
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0 &&
		    st.deflated_total == st.inflated_total, "all out: %llu",
		    (unsigned long long)st.inflated);
	books_ok("all out");
	touch(0, RAM_BYTES);
	rig_down();
}

/* The guest balloons the pages holding its own rings and PFN array. */
static void run_inflate_own_rings(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	uint32_t p[3];

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);
	p[0] = pfn_of(PFN_GPA);
	p[1] = pfn_of(vt.q[Q_INFLATE].avail);
	p[2] = pfn_of(vt.q[Q_INFLATE].used);
	(void)pfns(Q_INFLATE, p, 3);   /* the used entry may be lost with its page */
	books_ok("own rings");
	/* Whatever the queue says now, the device answers config and a reset brings it back. */
	(void)cfg_read(0, 4);
	vt_start(&vt, 0, 2);
	TEST_ASSERT(bst().inflated == 0 && bst().given_back == 0, "reset emptied it");
	pfn_range(Q_INFLATE, WORK_GPA, 4 * PAGE);
	TEST_ASSERT(bst().inflated == 4 * PAGE, "usable after");
	rig_down();
}

/* ---- free page reporting ---- */

static void run_report_shapes(const void *arg)
{
	const struct balloon_config bc = { .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const uint64_t w = WORK_GPA;
	struct balloon_status st;

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_REPORTING, 3);
	touch(w, 8 * MiB);
	touch(RAM_BYTES - 8 * PAGE, 8 * PAGE);
	/* Length 0 anywhere (even past RAM), unaligned, a partial page. */
	{
		const struct vt_buf z[3] = { { .gpa = 1ull << 50, .len = 0, .write = true },
					     { .gpa = w + 1, .len = 100, .write = true },
					     { .gpa = w + PAGE - 1, .len = (uint32_t)PAGE,
					       .write = true } };

		TEST_ASSERT(chain(Q_2, z, 3), "zero/unaligned");
		st = bst();
		TEST_ASSERT(st.reported == 0 && !st.needs_reset && resident(w, 3 * PAGE) == 3 * PAGE,
			    "reported %llu (%s)", (unsigned long long)st.reported,
			    st.last_violation ? st.last_violation : "-");
	}
	/* Up to the last byte of RAM; then one byte past it (a violation: not RAM). */
	{
		const struct vt_buf e = { .gpa = RAM_BYTES - 8 * PAGE, .len = 8 * PAGE,
					  .write = true };
		const struct vt_buf past = { .gpa = RAM_BYTES - 8 * PAGE, .len = 8 * PAGE + 1,
					     .write = true };

		TEST_ASSERT(chain(Q_2, &e, 1), "to the end");
		TEST_ASSERT(bst().reported == 8 * PAGE &&
			    resident(RAM_BYTES - 8 * PAGE, 8 * PAGE) == 0, "end: %llu",
			    (unsigned long long)bst().reported);
		(void)chain(Q_2, &past, 1);
		TEST_ASSERT(bst().needs_reset && bst().reported == 8 * PAGE, "past the end");
		vt_start(&vt, F_REPORTING, 3);
	}
	/* Wrapping 2^64 (a violation), overlapping buffers, a range over pages in the balloon. */
	{
		const struct vt_buf wrap = { .gpa = UINT64_MAX - PAGE + 1, .len = (uint32_t)(2 * PAGE),
					     .write = true };
		const struct vt_buf ov[2] = { { .gpa = w, .len = (uint32_t)MiB, .write = true },
					      { .gpa = w, .len = (uint32_t)MiB, .write = true } };
		uint64_t r0;

		(void)chain(Q_2, &wrap, 1);
		TEST_ASSERT(bst().needs_reset, "wrap accepted");
		vt_start(&vt, F_REPORTING, 3);
		pfn_range(Q_INFLATE, w + MiB, 16 * PAGE);
		r0 = bst().reported;
		TEST_ASSERT(chain(Q_2, ov, 2), "overlap");
		st = bst();
		TEST_ASSERT(st.reported == r0 + 2 * MiB && resident(w, MiB) == 0, "overlap: %llu",
			    (unsigned long long)(st.reported - r0));
		{
			const struct vt_buf over = { .gpa = w + MiB, .len = (uint32_t)MiB,
						     .write = true };

			TEST_ASSERT(chain(Q_2, &over, 1), "over the balloon");
		}
		st = bst();
		TEST_ASSERT(st.inflated == 16 * PAGE && st.given_back == 16 * PAGE,
			    "reporting changed the balloon: inflated %llu, given %llu",
			    (unsigned long long)st.inflated, (unsigned long long)st.given_back);
		books_ok("reporting over the balloon");
		/* Deflating the pages that were also reported: nothing odd. */
		pfn_range(Q_DEFLATE, w + MiB, 16 * PAGE);
		TEST_ASSERT(bst().inflated == 0 && bst().given_back == 0, "deflate");
	}
	rig_down();
}

/* ---- statistics ---- */

static void run_stats_shapes(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .stats_interval_s = 0,
					   .populate = MEM_POPULATE_NONE };
	static uint8_t raw[(BAL_MAX_STATS + 8) * BAL_STAT_BYTES];
	struct balloon_status st;
	uint32_t id;

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_STATS, 3);
	/* 0 bytes and 9 bytes: nothing parsed, held all the same. */
	stats_raw(Q_2, raw, 0, false);
	st = bst();
	TEST_ASSERT(st.stats_held && st.stats_updates == 1 && st.stats_valid == 0, "0 bytes");
	memset(raw, 0xff, sizeof(raw));
	stats_raw(Q_2, raw, 9, false);
	TEST_ASSERT(vt_used(&vt, Q_2, &id, NULL), "the older one given back");
	st = bst();
	TEST_ASSERT(st.stats_held && st.stats_updates == 2 && st.stats_valid == 0 &&
		    st.stats_unknown == 0, "9 bytes: valid %#x", st.stats_valid);
	/* Tag 0xffff, then 72 entries: only the first BAL_MAX_STATS are read. */
	stat_put(raw, 0xffff, 1);
	stats_raw(Q_2, raw, BAL_STAT_BYTES, false);
	TEST_ASSERT(bst().stats_unknown == 1 && bst().stats_valid == 0, "tag 0xffff");
	for (unsigned int i = 0; i < BAL_MAX_STATS + 8; i++)
		stat_put(raw + i * BAL_STAT_BYTES, (uint16_t)(i < BAL_MAX_STATS ? 4 : 5), i);
	stats_raw(Q_2, raw, sizeof(raw), false);
	st = bst();
	TEST_ASSERT(st.stat[4] == BAL_MAX_STATS - 1 && !(st.stats_valid & 1u << 5),
		    "72 entries: free %llu, valid %#x", (unsigned long long)st.stat[4],
		    st.stats_valid);
	/* An entry split across two buffers of one chain. */
	{
		const struct vt_buf b[2] = { { .gpa = STATS_GPA, .len = 3 },
					     { .gpa = STATS_GPA + 512, .len = 7 } };
		uint8_t e[BAL_STAT_BYTES];

		stat_put(e, 6, 777);
		vt_mem_write(&vt, STATS_GPA, e, 3);
		vt_mem_write(&vt, STATS_GPA + 512, e + 3, 7);
		(void)vt_add(&vt, Q_2, b, 2);
		vt_kick(&vt, Q_2);
		TEST_ASSERT(bst().stat[6] == 777 && (bst().stats_valid & 1u << 6), "split entry");
	}
	/* 20 stats buffers at once: each releases the one before, the last is held. */
	{
		uint16_t heads = 0;

		while (vt_used(&vt, Q_2, NULL, NULL))
			;   /* the buffers the steps above gave back */
		stat_put(raw, 7, 1);
		vt_mem_write(&vt, STATS_GPA, raw, BAL_STAT_BYTES);
		for (unsigned int i = 0; i < 20; i++) {
			const struct vt_buf b = { .gpa = STATS_GPA, .len = BAL_STAT_BYTES };

			(void)vt_add(&vt, Q_2, &b, 1);
		}
		vt_kick(&vt, Q_2);
		while (vt_used(&vt, Q_2, NULL, NULL))
			heads++;
		TEST_ASSERT(heads == 20 && bst().stats_held, "20 buffers: %u back", heads);
	}
	/* Device-writable: a violation, nothing read (the older buffer stays held till the reset). */
	st = bst();
	stats_raw(Q_2, raw, BAL_STAT_BYTES, true);
	TEST_ASSERT(bst().needs_reset && bst().stats_updates == st.stats_updates,
		    "writable stats buffer");
	vt_start(&vt, F_STATS, 3);
	TEST_ASSERT(!bst().stats_held && !bst().needs_reset, "after the reset");
	rig_down();
}

/*
 * The driver negotiates stats, the device holds its buffer, the driver
 * resets and negotiates reporting alone: queue 2 is now the reporting
 * queue. The stats timer must not push the old head into it.
 */
static void run_stats_renegotiate(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .stats_interval_s = 1,
					   .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	uint8_t raw[BAL_STAT_BYTES];

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_STATS | F_REPORTING, 4);
	stat_put(raw, 4, 1);
	stats_raw(Q_2, raw, sizeof(raw), false);
	TEST_ASSERT(bst().stats_held, "held");
	vt_start(&vt, F_REPORTING, 3);
	TEST_ASSERT(!bst().stats_held, "held across the reset");
	loop_for(TICK_WAIT_NS);
	TEST_ASSERT(!vt_used(&vt, Q_2, NULL, NULL), "the stats head came out of the reporting queue");
	/* Reporting works, queue 3 is nothing. */
	{
		const struct vt_buf r = { .gpa = WORK_GPA, .len = (uint32_t)MiB, .write = true };
		uint64_t ign = bst().ignored_notifies;

		touch(WORK_GPA, MiB);
		TEST_ASSERT(chain(Q_2, &r, 1) && bst().reported == MiB, "reporting on queue 2");
		vt_queue_setup(&vt, Q_3, 0);
		(void)vt_add(&vt, Q_3, &r, 1);
		vt_kick(&vt, Q_3);
		TEST_ASSERT(!vt_used(&vt, Q_3, NULL, NULL) && bst().ignored_notifies == ign + 1,
			    "queue 3 served");
	}
	rig_down();
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "pfn-edges", run_pfn_edges, NULL },
		{ "pfn-two-regions", run_pfn_two_regions, NULL },
		{ "inflate-all", run_inflate_all, NULL },
		{ "inflate-own-rings", run_inflate_own_rings, NULL },
		{ "report-shapes", run_report_shapes, NULL },
		{ "stats-shapes", run_stats_shapes, NULL },
		{ "stats-renegotiate", run_stats_renegotiate, NULL },
		{ "config-every-offset", run_config_every_offset, NULL },
		{ "notify-every-index", run_notify_every_index, NULL },
		{ "reset-pending", run_reset_pending, NULL },
		{ "restore-no-stats", run_restore_no_stats, NULL },
		{ "restore-bitflips", run_restore_bitflips, NULL },
		{ "pageout-ranges", run_pageout_ranges, NULL },
		{ "huge-chain", run_huge_chain, NULL },
		{ "restore-held-on-reporting", run_restore_held_on_reporting, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
