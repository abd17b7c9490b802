// SPDX-License-Identifier: MIT
/*
 * virtio-balloon's free page reporting, statistics, configuration, target,
 * resets, save/restore and violations (tests/test_virtio_balloon.h has the
 * rig).
 */
#include "tests/test_virtio_balloon.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio_pci.h"

#define Q_STATS      2u
#define STATS_WAIT_NS (3000000000ull)   /* a 1 s timer gives the buffer back by then */

static uint64_t now_ns(void)
{
	struct timespec ts;

	TEST_ASSERT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* n entries (tag, value) and `tail` stray bytes in a statsq buffer at gpa; its head. */
static uint16_t stats_post(uint64_t gpa, const uint16_t *tag, const uint64_t *val,
			   unsigned int n, unsigned int tail)
{
	uint8_t raw[16 * BAL_STAT_BYTES + BAL_STAT_BYTES];
	const struct vt_buf b = { .gpa = gpa, .len = n * BAL_STAT_BYTES + tail };
	uint16_t head;

	TEST_ASSERT(n <= 16 && tail < BAL_STAT_BYTES, "stats_post");
	memset(raw, 0xee, sizeof(raw));
	for (unsigned int i = 0; i < n; i++) {
		uint16_t t = htole16(tag[i]);
		uint64_t v = htole64(val[i]);

		memcpy(raw + i * BAL_STAT_BYTES, &t, 2);
		memcpy(raw + i * BAL_STAT_BYTES + 2, &v, 8);
	}
	vt_mem_write(&vt, gpa, raw, b.len);
	head = vt_add(&vt, Q_STATS, &b, 1);
	vt_kick(&vt, Q_STATS);
	return head;
}

/* A driver write into the device configuration. */
static void cfg_write(unsigned int off, unsigned int size, uint64_t val)
{
	fake_mmio_write(&f, vt.bar4 + vt.off[VIRTIO_PCI_CAP_DEVICE_CFG] + off, size, val);
}

void run_reporting(const void *backend)
{
	const struct balloon_config bc = { .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .backend = backend, .bc = &bc, .features = F_REPORTING,
				       .hotplug = true };
	const uint64_t w = WORK_GPA;
	struct balloon_status st;
	uint64_t f0, hp;

	rig_setup(&rc);
	hp = f.mem.region[hp_region].gpa;
	touch(hp + PAGE, PAGE);
	touch(w, 4 * MiB);
	touch(RAM_BYTES - 4 * PAGE, 4 * PAGE);
	f0 = file_bytes(0);
	/* Whole pages inside the range only. */
	report(2, w + 2048, (uint32_t)MiB, true);
	st = bst();
	TEST_ASSERT(st.reports == 1 && st.reported == MiB - PAGE && st.discards == 1 &&
		    st.inflated == 0 && st.given_back == 0, "reported %llu, %llu discards",
		    (unsigned long long)st.reported, (unsigned long long)st.discards);
	TEST_ASSERT(resident(w, PAGE) == PAGE && resident(w + PAGE, MiB - PAGE) == 0 &&
		    resident(w + MiB, PAGE) == PAGE, "residency after the report");
	if (f0 != UINT64_MAX)
		TEST_ASSERT(file_bytes(0) == f0 - (MiB - PAGE), "memfd blocks");
	/*
	 * Several buffers: a good one, one in virtio-mem's region (RAM, not
	 * boot RAM: counted, left alone), one up to RAM's end, an empty one.
	 */
	{
		const struct vt_buf b[4] = {
			{ .gpa = w + 2 * MiB, .len = (uint32_t)MiB, .write = true },
			{ .gpa = hp + PAGE, .len = (uint32_t)MiB, .write = true },
			{ .gpa = RAM_BYTES - 2 * PAGE, .len = 2 * PAGE, .write = true },
			{ .gpa = w + 3 * MiB, .len = 0, .write = true },
		};
		uint16_t head = vt_add(&vt, 2, b, 4);
		uint32_t id, len;

		vt_kick(&vt, 2);
		TEST_ASSERT(vt_used(&vt, 2, &id, &len) && id == head && len == 0, "not used");
	}
	st = bst();
	TEST_ASSERT(st.reports == 2 && st.reported == 2 * MiB - PAGE + 2 * PAGE &&
		    st.hotplug_pfns == 1 && st.discards == 3,
		    "reported %llu, hotplug %llu, %llu discards",
		    (unsigned long long)st.reported, (unsigned long long)st.hotplug_pfns,
		    (unsigned long long)st.discards);
	TEST_ASSERT(peek(hp + PAGE) == PATTERN, "virtio-mem's memory discarded");
	TEST_ASSERT(resident(w + 2 * MiB, MiB) == 0 && resident(w + 3 * MiB, PAGE) == PAGE &&
		    resident(RAM_BYTES - 2 * PAGE, 2 * PAGE) == 0 &&
		    resident(RAM_BYTES - 4 * PAGE, 2 * PAGE) == 2 * PAGE, "residency");
	/* The guest reuses reported memory at once: it reads zero and works. */
	TEST_ASSERT(peek(w + 2 * MiB) == 0, "reported page not zero");
	touch(w, 4 * MiB);
	TEST_ASSERT(peek(w + 2 * MiB) == PATTERN && !bst().needs_reset, "reuse");
	rig_teardown();
}

void run_stats(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .stats_interval_s = 1,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .features = F_STATS };
	const uint16_t tag[] = { VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_MEMFREE, 100, 15,
				 VIRTIO_BALLOON_S_MEMFREE };
	const uint64_t val[] = { 5, 123456789, 7, 9, 42 };
	struct balloon_status st;
	uint32_t id;
	uint16_t head, head2;
	uint64_t t0;

	(void)arg;
	TEST_ASSERT(!strcmp(virtio_balloon_stat_name(0), "swap-in") &&
		    !strcmp(virtio_balloon_stat_name(15), "direct-reclaims") &&
		    !virtio_balloon_stat_name(BALLOON_STATS_NR), "stat names");
	rig_setup(&rc);
	TEST_ASSERT(bst().stats_interval_s == 1 && !bst().stats_held && !bst().stats_updates,
		    "before");
	/* Entries parsed (a later one wins), unknown tags counted, a stray tail ignored. */
	head = stats_post(STATS_GPA, tag, val, 5, 5);
	st = bst();
	TEST_ASSERT(st.stats_held && st.stats_updates == 1 && st.stats_unknown == 1 &&
		    st.stats_valid == (1u << 0 | 1u << 4 | 1u << 15) && st.stat[0] == 5 &&
		    st.stat[4] == 42 && st.stat[15] == 9, "parsed: valid %#x, free %llu, unknown %llu",
		    st.stats_valid, (unsigned long long)st.stat[4],
		    (unsigned long long)st.stats_unknown);
	TEST_ASSERT(!vt_used(&vt, Q_STATS, NULL, NULL), "the stats buffer was not held");

	/* The timer gives it back (the loop plays the main loop). */
	t0 = now_ns();
	while (!vt_used(&vt, Q_STATS, &id, NULL)) {
		const struct timespec ms = { .tv_nsec = 10000000 };

		TEST_ASSERT(now_ns() - t0 < STATS_WAIT_NS, "the timer never gave the buffer back");
		(void)fake_ctx_run_loop(&f);
		nanosleep(&ms, NULL);
	}
	TEST_ASSERT(id == head && !bst().stats_held, "given back: id %u, head %u", id, head);

	/* The driver refills it: held again with the new numbers. */
	{
		const uint16_t t1 = VIRTIO_BALLOON_S_MEMFREE;
		const uint64_t v1 = 1;

		head = stats_post(STATS_GPA, &t1, &v1, 1, 0);
	}
	st = bst();
	TEST_ASSERT(st.stats_held && st.stats_updates == 2 && st.stat[4] == 1 &&
		    st.stats_valid == (1u << 0 | 1u << 4 | 1u << 15), "refilled");
	/* A second buffer while one is held: the older goes back at once. */
	head2 = stats_post(STATS_GPA + PAGE, tag, val, 1, 0);
	TEST_ASSERT(vt_used(&vt, Q_STATS, &id, NULL) && id == head && head2 != head,
		    "the older buffer: %u", id);
	TEST_ASSERT(bst().stats_held && bst().stats_updates == 3, "the newer held");
	/* Not live (a driver reset): the buffer is gone with the queue; ticks do nothing. */
	vt_set_status(&vt, 0);
	TEST_ASSERT(!bst().stats_held, "held across a reset");
	t0 = now_ns();
	while (now_ns() - t0 < 1200000000ull) {
		const struct timespec ms = { .tv_nsec = 20000000 };

		(void)fake_ctx_run_loop(&f);
		nanosleep(&ms, NULL);
	}
	TEST_ASSERT(!bst().needs_reset && bst().stats_updates == 3, "ticks after the reset");
	rig_teardown();
}

void run_actual(const void *arg)
{
	const struct balloon_config bc = { .target = 8 * MiB, .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc };
	const unsigned int act = offsetof(struct virtio_balloon_config, actual);
	uint8_t gen;

	(void)arg;
	rig_setup(&rc);
	TEST_ASSERT(cfg_num_pages() == 2048 && cfg_actual() == 0, "initial configuration");
	gen = generation();
	/* In pieces: byte, byte, then a 16-bit half. */
	cfg_write(act, 1, 0x11);
	cfg_write(act + 1, 1, 0x22);
	TEST_ASSERT(cfg_actual() == 0x2211, "after two bytes: %#x", cfg_actual());
	cfg_write(act + 2, 2, 0x4433);
	TEST_ASSERT(cfg_actual() == 0x44332211 && bst().actual == 0x44332211ull * PAGE,
		    "actual %#x", cfg_actual());
	cfg_write(act, 4, 7);
	TEST_ASSERT(cfg_actual() == 7 && bst().actual == 7 * PAGE, "whole");
	/* num_pages is the device's: a driver write is dropped. */
	cfg_write(offsetof(struct virtio_balloon_config, num_pages), 4, 99);
	cfg_write(offsetof(struct virtio_balloon_config, num_pages) + 2, 2, 0xffff);
	TEST_ASSERT(cfg_num_pages() == 2048 && bst().target == 8 * MiB && cfg_actual() == 7,
		    "num_pages written by the driver: %u", cfg_num_pages());
	TEST_ASSERT(generation() == gen, "a driver write changed the generation");
	/* actual is what the driver says, not what is inflated. */
	TEST_ASSERT(bst().inflated == 0, "inflated");
	rig_teardown();
}

void run_target(const void *arg)
{
	const struct balloon_config bc = { .target = 4 * MiB, .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc };
	uint8_t gen;

	(void)arg;
	rig_setup(&rc);
	TEST_ASSERT(cfg_num_pages() == 1024 && bst().target == 4 * MiB &&
		    bst().configured_target == 4 * MiB, "initial target");
	(void)vt_isr(&vt);
	gen = generation();
	TEST_OK(virtio_balloon_set_target(dev, 8 * MiB));
	TEST_ASSERT(cfg_num_pages() == 2048 && bst().target == 8 * MiB &&
		    bst().configured_target == 4 * MiB, "new target");
	TEST_ASSERT(generation() != gen && (vt_isr(&vt) & VIRTIO_PCI_ISR_CONFIG),
		    "no config change interrupt");
	/* Refused: nothing changes, no interrupt. */
	gen = generation();
	TEST_ASSERT(virtio_balloon_set_target(dev, 8 * MiB + 1) == -EINVAL, "unaligned");
	TEST_ASSERT(virtio_balloon_set_target(dev, RAM_BYTES + PAGE) == -EINVAL, "beyond RAM");
	TEST_ASSERT(virtio_balloon_set_target(dev, UINT64_MAX & ~(PAGE - 1)) == -EINVAL, "huge");
	TEST_ASSERT(cfg_num_pages() == 2048 && generation() == gen && !(vt_isr(&vt) & 2),
		    "a refused target changed something");
	TEST_OK(virtio_balloon_set_target(dev, RAM_BYTES));
	TEST_ASSERT(cfg_num_pages() == RAM_BYTES / PAGE, "all of RAM");
	/* With MSI-X: the config vector fires. */
	vt_msix_enable(&vt, 2);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	TEST_OK(virtio_balloon_set_target(dev, 0));
	TEST_ASSERT(vt_msix_fired(&vt, 0) == 1 && cfg_num_pages() == 0, "config vector");
	rig_teardown();
}

void run_driver_reset(const void *arg)
{
	const struct balloon_config bc = { .target = 8 * MiB, .stats = true,
					   .populate = MEM_POPULATE_MADVISE,
					   .populate_threads = 1 };
	const struct rig_config rc = { .bc = &bc, .features = F_STATS };
	const uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	const uint64_t val = 77;
	struct balloon_status st;

	(void)arg;
	rig_setup(&rc);
	touch(WORK_GPA, 4 * MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 4 * MiB, true);
	cfg_write(offsetof(struct virtio_balloon_config, actual), 4, 1024);
	(void)stats_post(STATS_GPA, &tag, &val, 1, 0);
	st = bst();
	TEST_ASSERT(st.inflated == 4 * MiB && st.actual == 4 * MiB && st.stats_held &&
		    resident(WORK_GPA, 4 * MiB) == 0, "before the reset");
	vt_start(&vt, F_STATS, 3);
	st = bst();
	TEST_ASSERT(st.inflated == 0 && st.given_back == 0 && st.actual == 0 && !st.stats_held &&
		    st.target == 8 * MiB && cfg_actual() == 0 && cfg_num_pages() == 2048,
		    "after: inflated %llu, actual %llu, target %llu", (unsigned long long)st.inflated,
		    (unsigned long long)st.actual, (unsigned long long)st.target);
	TEST_ASSERT(st.repopulated == 4 * MiB && resident(WORK_GPA, 4 * MiB) == 4 * MiB,
		    "emptied pages not repopulated: %llu", (unsigned long long)st.repopulated);
	touch(WORK_GPA, 4 * MiB);
	TEST_ASSERT(peek(WORK_GPA) == PATTERN, "not usable");
	/* And it inflates again. */
	pfn_range(Q_INFLATE, WORK_GPA, MiB, false);
	TEST_ASSERT(bst().inflated == MiB && resident(WORK_GPA, MiB) == 0, "inflate after");
	rig_teardown();
}

void run_machine_reset(const void *arg)
{
	const struct balloon_config bc = { .target = 8 * MiB, .stats = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .features = F_STATS };
	const uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	const uint64_t val = 77;
	struct virtio_pci_stats ps;
	struct balloon_status st;

	(void)arg;
	rig_setup(&rc);
	TEST_OK(virtio_balloon_set_target(dev, 16 * MiB));
	touch(WORK_GPA, MiB);
	pfn_range(Q_INFLATE, WORK_GPA, MiB, true);
	cfg_write(offsetof(struct virtio_balloon_config, actual), 4, 256);
	(void)stats_post(STATS_GPA, &tag, &val, 1, 0);
	virtio_balloon_device_ops.reset(dev);
	st = bst();
	TEST_ASSERT(st.target == 8 * MiB && st.inflated == 0 && st.given_back == 0 &&
		    st.actual == 0 && !st.stats_held && st.stats_valid == 0 && st.stat[4] == 0,
		    "after a machine reset: target %llu, inflated %llu, stats %#x",
		    (unsigned long long)st.target, (unsigned long long)st.inflated, st.stats_valid);
	virtio_pci_lock(virtio_balloon_transport(dev));
	virtio_pci_stats(virtio_balloon_transport(dev), &ps);
	virtio_pci_unlock(virtio_balloon_transport(dev));
	TEST_ASSERT(ps.status == 0, "transport status %#x", ps.status);
	/* Populate none: the pages fault in when used. */
	TEST_ASSERT(resident(WORK_GPA, MiB) == 0 && peek(WORK_GPA) == 0, "pages");
	vt_find(&f, &vt);
	vt_start(&vt, F_STATS, 3);
	TEST_ASSERT(cfg_num_pages() == 2048, "num_pages after");
	pfn_range(Q_INFLATE, WORK_GPA, MiB, false);
	TEST_ASSERT(bst().inflated == MiB, "inflate after");
	rig_teardown();
}

/* ---- save / restore ---- */

/* Offsets in the blob (virtio_balloon_state.c) for n regions. */
#define BLOB_MAGIC           0u
#define BLOB_VERSION         4u
#define BLOB_NR              8u
#define BLOB_REGION(i)       (12u + 16u * (i))
#define BLOB_AFTER(n)        (12u + 16u * (n))
#define BLOB_MAP_BITS(n)     BLOB_AFTER(n)
#define BLOB_NUM_PAGES(n)    (BLOB_AFTER(n) + 8u)
#define BLOB_ACTUAL(n)       (BLOB_AFTER(n) + 12u)
#define BLOB_HELD(n)         (BLOB_AFTER(n) + 16u)
#define BLOB_SQUEUE(n)       (BLOB_AFTER(n) + 17u)
#define BLOB_SHEAD(n)        (BLOB_AFTER(n) + 21u)
#define BLOB_SVALID(n)       (BLOB_AFTER(n) + 23u)
#define BLOB_MAP(n)          (BLOB_AFTER(n) + 27u + 8u * BALLOON_STATS_NR)

static void put_le(uint8_t *p, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *save_alloc(void *d, size_t *len)
{
	uint8_t small[4], *blob;
	size_t need = sizeof(small);

	TEST_ASSERT(virtio_balloon_device_ops.save(d, small, &need) == -ENOSPC &&
		    need > sizeof(small), "a short buffer");
	blob = malloc(need + 1);
	TEST_ASSERT(blob, "malloc");
	*len = need;
	TEST_OK(virtio_balloon_device_ops.save(d, blob, len));
	TEST_ASSERT(*len == need, "saved %zu of %zu", *len, need);
	return blob;
}

void run_save_restore(const void *arg)
{
	const struct balloon_config bc = { .target = 8 * MiB, .stats = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .features = F_STATS };
	const uint16_t tag[] = { VIRTIO_BALLOON_S_MEMFREE, 10 /* oom-kills, virtio 1.3 */ };
	const uint64_t val[] = { 4321, 3 };
	const uint32_t odd = pfn_of(WORK_GPA + 6 * MiB);
	struct balloon_status a, b;
	uint64_t *map, words;
	uint8_t *blob;
	size_t len;
	uint16_t held;
	uint32_t id;

	(void)arg;
	rig_setup(&rc);
	touch(WORK_GPA, 8 * MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 4 * MiB, true);
	pfn_chain(Q_INFLATE, &odd, 1);
	TEST_OK(virtio_balloon_set_target(dev, 12 * MiB));
	cfg_write(offsetof(struct virtio_balloon_config, actual), 4, 1025);
	held = stats_post(STATS_GPA, tag, val, 2, 0);
	a = bst();
	words = bitmap_words(rig_balloon()->map_bits);
	map = malloc(words * sizeof(uint64_t));
	TEST_ASSERT(map, "malloc");
	memcpy(map, rig_balloon()->pages, words * sizeof(uint64_t));
	blob = save_alloc(dev, &len);

	/* The first device goes; the memory comes back in use; a second device restores. */
	virtio_balloon_device_ops.destroy(dev);
	touch(WORK_GPA, 8 * MiB);
	TEST_ASSERT(resident(WORK_GPA, 8 * MiB) == 8 * MiB, "touched");
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, &bc, &dev));
	TEST_OK(virtio_balloon_device_ops.restore(dev, blob, len));
	b = bst();
	TEST_ASSERT(!memcmp(map, rig_balloon()->pages, words * sizeof(uint64_t)),
		    "another bitmap");
	TEST_ASSERT(b.target == 12 * MiB && b.configured_target == 8 * MiB &&
		    b.actual == 1025 * PAGE && b.inflated == a.inflated &&
		    b.inflated == 4 * MiB + PAGE && b.given_back == a.given_back &&
		    b.stats_held && b.stats_valid == a.stats_valid && b.stat[4] == 4321 &&
		    b.stat[10] == 3, "restored: target %llu, actual %llu, inflated %llu, held %d",
		    (unsigned long long)b.target, (unsigned long long)b.actual,
		    (unsigned long long)b.inflated, b.stats_held);
	TEST_ASSERT(resident(WORK_GPA, 4 * MiB) == 0 && resident(WORK_GPA + 4 * MiB, 2 * MiB) ==
		    2 * MiB && resident(WORK_GPA + 6 * MiB, PAGE) == 0 &&
		    resident(WORK_GPA + 6 * MiB + PAGE, PAGE) == PAGE,
		    "memory not discarded as the bitmap says");
	TEST_ASSERT(b.features == a.features && b.driver_status == a.driver_status &&
		    cfg_num_pages() == 3072 && cfg_actual() == 1025, "transport");
	/* The held buffer is the first's: a new one sends it back. */
	(void)stats_post(STATS_GPA + PAGE, tag, val, 1, 0);
	TEST_ASSERT(vt_used(&vt, Q_STATS, &id, NULL) && id == held, "held buffer: %u, not %u", id,
		    held);
	/* The queues go on where they were. */
	pfn_range(Q_DEFLATE, WORK_GPA, 4 * MiB, false);
	TEST_ASSERT(bst().inflated == PAGE && bst().given_back == PAGE, "deflate after restore");
	/* Its own save restores to the same. */
	free(blob);
	blob = save_alloc(dev, &len);
	TEST_OK(virtio_balloon_device_ops.restore(dev, blob, len));
	TEST_ASSERT(bst().inflated == PAGE && !bst().needs_reset, "own save");
	free(blob);
	free(map);
	rig_teardown();
}

static void expect_refused(const uint8_t *blob, size_t len, const char *what)
{
	const struct balloon *bl = rig_balloon();
	uint64_t words = bitmap_words(bl->map_bits), *map = malloc(words * sizeof(uint64_t));
	struct balloon_status s0 = bst(), s1;
	uint64_t r0 = resident(WORK_GPA, 8 * MiB);

	TEST_ASSERT(map, "malloc");
	memcpy(map, bl->pages, words * sizeof(uint64_t));
	TEST_ASSERT(virtio_balloon_device_ops.restore(dev, blob, len) == -EINVAL, "%s accepted",
		    what);
	s1 = bst();
	TEST_ASSERT(!memcmp(map, bl->pages, words * sizeof(uint64_t)) &&
		    s1.inflated == s0.inflated && s1.given_back == s0.given_back &&
		    s1.target == s0.target && s1.actual == s0.actual &&
		    s1.stats_held == s0.stats_held && s1.stats_valid == s0.stats_valid &&
		    s1.driver_status == s0.driver_status && s1.discards == s0.discards &&
		    resident(WORK_GPA, 8 * MiB) == r0, "%s changed the device", what);
	free(map);
}

void run_restore_refused(const void *arg)
{
	/* One page short of 64 MiB: the bitmap's last bit lies past the region (a gap). */
	const uint64_t ram = RAM_BYTES - PAGE;
	const struct balloon_config bc = { .target = 8 * MiB, .stats = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .ram_bytes = ram, .bc = &bc, .features = F_STATS };
	const uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	const uint64_t val = 5;
	uint8_t *blob, *bad;
	size_t len, map_end;
	uint32_t nested;

	(void)arg;
	rig_setup(&rc);
	TEST_ASSERT(rig_balloon()->map_bits == RAM_BYTES / PAGE, "map bits %llu",
		    (unsigned long long)rig_balloon()->map_bits);
	touch(WORK_GPA, 8 * MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 2 * MiB, true);
	(void)stats_post(STATS_GPA, &tag, &val, 1, 0);
	blob = save_alloc(dev, &len);
	bad = malloc(len + 1);
	TEST_ASSERT(bad, "malloc");
	map_end = BLOB_MAP(1) + 8 * bitmap_words(rig_balloon()->map_bits);
	nested = blob[map_end] | blob[map_end + 1] << 8 | blob[map_end + 2] << 16 |
		 (uint32_t)blob[map_end + 3] << 24;
	TEST_ASSERT(map_end + 4 + nested == len, "blob layout: %zu + %u of %zu", map_end, nested,
		    len);

	/* Move on: other pages, another target and actual. */
	pfn_range(Q_DEFLATE, WORK_GPA, MiB, false);
	pfn_range(Q_INFLATE, WORK_GPA + 4 * MiB, MiB, false);
	TEST_OK(virtio_balloon_set_target(dev, 4 * MiB));
	cfg_write(offsetof(struct virtio_balloon_config, actual), 4, 3);

#define ALTER(what, ...) do {                         \
		memcpy(bad, blob, len);               \
		__VA_ARGS__;                          \
		expect_refused(bad, len, what);       \
	} while (0)
	expect_refused(blob, len - 1, "a truncated blob");
	expect_refused(blob, 0, "an empty blob");
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_refused(bad, len + 1, "a trailing byte");
	ALTER("a bad magic", bad[BLOB_MAGIC] ^= 1);
	ALTER("another version", put_le(bad + BLOB_VERSION, 2, 4));
	ALTER("two regions", put_le(bad + BLOB_NR, 2, 4));
	ALTER("another region start", put_le(bad + BLOB_REGION(0), 2 * MiB, 8));
	ALTER("another region size", put_le(bad + BLOB_REGION(0) + 8, RAM_BYTES, 8));
	ALTER("another bitmap size", put_le(bad + BLOB_MAP_BITS(1), RAM_BYTES / PAGE + 512, 8));
	ALTER("a bit in the gap", bad[map_end - 1] |= 0x80);
	ALTER("num_pages past RAM", put_le(bad + BLOB_NUM_PAGES(1), ram / PAGE + 1, 4));
	ALTER("num_pages 2^32-1", put_le(bad + BLOB_NUM_PAGES(1), UINT32_MAX, 4));
	ALTER("held 2", bad[BLOB_HELD(1)] = 2);
	ALTER("held on queue 3", put_le(bad + BLOB_SQUEUE(1), 3, 4));
	ALTER("held on queue 0", put_le(bad + BLOB_SQUEUE(1), 0, 4));
	ALTER("held head past the queue", put_le(bad + BLOB_SHEAD(1), BALLOON_QUEUE_SIZE, 2));
	ALTER("an unknown stat valid", put_le(bad + BLOB_SVALID(1), 1u << BALLOON_STATS_NR, 4));
	ALTER("a longer transport blob", put_le(bad + map_end, nested + 1, 4));
	ALTER("a shorter transport blob", put_le(bad + map_end, nested - 1, 4));
	ALTER("a broken transport blob", bad[map_end + 4] ^= 0xff);
#undef ALTER
	/* The good blob still restores, bringing back its pages. */
	TEST_OK(virtio_balloon_device_ops.restore(dev, blob, len));
	TEST_ASSERT(bst().inflated == 2 * MiB && bst().target == 8 * MiB && bst().actual == 0 &&
		    resident(WORK_GPA, 2 * MiB) == 0 && bst().stats_held, "the good blob");
	free(bad);
	free(blob);
	rig_teardown();
}

/* A chain of these buffers on q; true if it came back. */
static bool chain(unsigned int q, const struct vt_buf *b, unsigned int n)
{
	(void)vt_add(&vt, q, b, n);
	vt_kick(&vt, q);
	return vt_used(&vt, q, NULL, NULL);
}

static void expect_violation(const char *what, const char *says)
{
	struct balloon_status st = bst();

	TEST_ASSERT(st.needs_reset && (vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
		    st.last_violation && strstr(st.last_violation, says),
		    "%s: needs_reset %d, violation %s", what, st.needs_reset,
		    st.last_violation ? st.last_violation : "-");
	/* The device keeps answering its configuration, and the target still moves. */
	TEST_ASSERT(cfg_num_pages() == 1024, "%s: num_pages %u", what, cfg_num_pages());
	TEST_OK(virtio_balloon_set_target(dev, 2 * MiB));
	TEST_ASSERT(cfg_num_pages() == 512, "%s: set_target", what);
	TEST_OK(virtio_balloon_set_target(dev, 4 * MiB));
	/* A reset brings it back. */
	vt_start(&vt, F_STATS | F_REPORTING, 4);
	TEST_ASSERT(!bst().needs_reset, "%s: after the reset", what);
}

void run_violations(const void *arg)
{
	const struct balloon_config bc = { .target = 4 * MiB, .stats = true,
					   .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const struct rig_config rc = { .bc = &bc, .features = F_STATS | F_REPORTING };
	const uint32_t pfn = htole32(pfn_of(WORK_GPA));
	const struct vt_buf pfn_w = { .gpa = PFN_GPA, .len = 4, .write = true };
	const struct vt_buf mixed[2] = { { .gpa = PFN_GPA, .len = 4 },
					 { .gpa = PFN_GPA + 64, .len = 4, .write = true } };
	const struct vt_buf rep_r = { .gpa = WORK_GPA, .len = (uint32_t)MiB };
	const struct vt_buf rep_mixed[2] = { { .gpa = WORK_GPA + MiB, .len = 64 },
					     { .gpa = WORK_GPA, .len = (uint32_t)MiB,
					       .write = true } };
	const struct vt_buf stats_w = { .gpa = STATS_GPA, .len = BAL_STAT_BYTES, .write = true };

	(void)arg;
	rig_setup(&rc);
	touch(WORK_GPA, 2 * MiB);
	vt_mem_write(&vt, PFN_GPA, &pfn, 4);
	(void)chain(Q_INFLATE, &pfn_w, 1);   /* given back unanswered (or not): no matter */
	TEST_ASSERT(bst().inflated == 0 && resident(WORK_GPA, PAGE) == PAGE, "inflated anyway");
	expect_violation("writable inflate buffer", "device-writable");
	vt_mem_write(&vt, PFN_GPA, &pfn, 4);
	(void)chain(Q_DEFLATE, mixed, 2);
	expect_violation("writable deflate buffer", "device-writable");
	(void)chain(Q_STATS, &stats_w, 1);
	TEST_ASSERT(!bst().stats_held && bst().stats_updates == 0, "stats taken");
	expect_violation("writable stats buffer", "device-writable");
	(void)chain(3, &rep_r, 1);
	TEST_ASSERT(bst().reported == 0 && resident(WORK_GPA, MiB) == MiB, "reported anyway");
	expect_violation("readable reporting buffer", "device-readable");
	(void)chain(3, rep_mixed, 2);
	TEST_ASSERT(bst().reported == 0, "reported anyway");
	expect_violation("readable then writable reporting buffers", "device-readable");
	/* A broken ring (avail idx far ahead) is the transport's violation. */
	{
		uint16_t ahead = htole16(3 * BALLOON_QUEUE_SIZE);

		vt_mem_write(&vt, vt.q[Q_INFLATE].avail + 2, &ahead, 2);
		vt_kick(&vt, Q_INFLATE);
		TEST_ASSERT(bst().needs_reset && bst().inflated == 0, "avail ahead");
		TEST_ASSERT(cfg_num_pages() == 1024, "config after a broken ring");
		vt_start(&vt, F_STATS | F_REPORTING, 4);
	}
	/* After all that, it works. */
	pfn_chain(Q_INFLATE, (const uint32_t[]){ pfn_of(WORK_GPA) }, 1);
	TEST_ASSERT(bst().inflated == PAGE && resident(WORK_GPA, PAGE) == 0, "works after");
	rig_teardown();
}
