// SPDX-License-Identifier: MIT
/*
 * test_balloon_hostile's configuration, notify, reset and save/restore
 * attacks, and mem_pageout()'s range checks (tests/test_balloon_hostile.h
 * has the rig).
 */
#include "tests/test_balloon_hostile.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "mem/pageout.h"

/* ---- configuration and notifies ---- */

void run_config_every_offset(const void *arg)
{
	const struct balloon_config bc = { .target = 8 * MiB, .populate = MEM_POPULATE_NONE };
	static const unsigned int widths[] = { 1, 2, 3, 4, 8 };

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);
	for (unsigned int off = 0; off < 64; off++) {
		for (unsigned int wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++) {
			unsigned int w = widths[wi];
			uint64_t before = bst().actual / PAGE;
			uint32_t np;

			cfg_write(off, w, 0xa5a5a5a5a5a5a5a5ull);
			np = (uint32_t)cfg_read(0, 4);
			TEST_ASSERT(np == 2048 && bst().target == 8 * MiB,
				    "write %u at %u changed num_pages to %u", w, off, np);
			/* Only a whole access inside the 8 bytes reaches actual. */
			if (off >= 8 || off + w > 8 || w == 3)
				TEST_ASSERT(bst().actual / PAGE == before,
					    "write %u at %u (outside) changed actual", w, off);
			(void)cfg_read(off, w);
		}
	}
	TEST_ASSERT(!bst().needs_reset, "config accesses broke it");
	/* Byte by byte into actual. */
	cfg_write(4, 4, 0);
	cfg_write(4, 1, 0x11);
	cfg_write(7, 1, 0x44);
	TEST_ASSERT(cfg_read(4, 4) == 0x44000011u, "actual bytes: %#llx",
		    (unsigned long long)cfg_read(4, 4));
	rig_down();
}

/* Notifies of queue indices 0..7 in every state; chains on queues the features do not give. */
void run_notify_every_index(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const struct vt_buf r = { .gpa = WORK_GPA, .len = (uint32_t)MiB, .write = true };
	const uint32_t pfn = htole32(pfn_of(WORK_GPA));

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);   /* nothing negotiated: queues 2, 3 are nothing */
	touch(WORK_GPA, MiB);
	vt_mem_write(&vt, PFN_GPA, &pfn, 4);
	vt_queue_setup(&vt, Q_2, 0);
	vt_queue_setup(&vt, Q_3, 0);
	(void)vt_add(&vt, Q_2, &r, 1);
	(void)vt_add(&vt, Q_3, &r, 1);
	for (unsigned int q = 0; q < 8; q++)
		notify_raw(q);
	TEST_ASSERT(!vt_used(&vt, Q_2, NULL, NULL) && !vt_used(&vt, Q_3, NULL, NULL) &&
		    bst().reported == 0 && bst().stats_updates == 0, "unnegotiated queues served");
	TEST_ASSERT(!bst().needs_reset, "notifies broke it");
	/* Before FEATURES_OK, after it, after DRIVER_OK. */
	vt_set_status(&vt, 0);
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (unsigned int q = 0; q < 8; q++)
		notify_raw(q);
	TEST_ASSERT(vt_negotiate(&vt, (1ull << VIRTIO_F_VERSION_1) | F_REPORTING) &
		    VIRTIO_CONFIG_S_FEATURES_OK, "FEATURES_OK");
	for (unsigned int q = 0; q < 8; q++)
		notify_raw(q);
	TEST_ASSERT(bst().inflated == 0 && bst().reported == 0, "served before DRIVER_OK");
	vt_start(&vt, F_REPORTING, 3);
	for (unsigned int q = 0; q < 8; q++)
		notify_raw(q);
	TEST_ASSERT(!bst().needs_reset, "notifies after DRIVER_OK broke it: %s",
		    bst().last_violation ? bst().last_violation : "-");
	TEST_ASSERT(chain(Q_2, &r, 1) && bst().reported == MiB, "reporting is queue 2");
	rig_down();
}

/* ---- resets ---- */

void run_reset_pending(const void *arg)
{
	const struct balloon_config bc = { .target = 4 * MiB, .stats = true,
					   .populate = MEM_POPULATE_NONE };
	const struct vt_buf b = { .gpa = PFN_GPA, .len = 4 * 64 };
	uint32_t p[64];
	uint8_t raw[BAL_STAT_BYTES];

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_STATS, 3);
	touch(WORK_GPA, MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 32 * PAGE);
	for (unsigned int i = 0; i < 64; i++)
		p[i] = htole32(pfn_of(WORK_GPA + 64 * PAGE) + i);
	vt_mem_write(&vt, PFN_GPA, p, sizeof(p));
	for (unsigned int i = 0; i < 8; i++)
		(void)vt_add(&vt, Q_INFLATE, &b, 1);   /* pending, never kicked */
	stat_put(raw, 4, 3);
	stats_raw(Q_2, raw, sizeof(raw), false);
	TEST_OK(virtio_balloon_set_target(dev, 12 * MiB));
	virtio_balloon_device_ops.reset(dev);
	TEST_ASSERT(bst().inflated == 0 && bst().given_back == 0 && !bst().stats_held &&
		    bst().target == 4 * MiB && resident(WORK_GPA, 32 * PAGE) == 0,
		    "after the machine reset: inflated %llu", (unsigned long long)bst().inflated);
	/* The pending chains died with the queue: a notify now does nothing. */
	notify_raw(Q_INFLATE);
	TEST_ASSERT(bst().inflated == 0, "pending chains ran after the reset");
	books_ok("after the reset");
	vt_find(&f, &vt);
	vt_start(&vt, F_STATS, 3);
	pfn_range(Q_INFLATE, WORK_GPA, 8 * PAGE);
	TEST_ASSERT(bst().inflated == 8 * PAGE, "after");
	rig_down();
}

/* ---- save / restore ---- */

static uint8_t *save(size_t *len)
{
	uint8_t small[4], *blob;
	size_t need = sizeof(small);

	TEST_ASSERT(virtio_balloon_device_ops.save(dev, small, &need) == -ENOSPC, "short");
	blob = malloc(need);
	TEST_ASSERT(blob, "malloc");
	*len = need;
	TEST_OK(virtio_balloon_device_ops.save(dev, blob, len));
	return blob;
}

/* A blob with the stats buffer held, restored into a device configured without stats. */
void run_restore_no_stats(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .populate = MEM_POPULATE_NONE };
	const struct balloon_config nostats = { .populate = MEM_POPULATE_NONE };
	uint8_t raw[BAL_STAT_BYTES], *blob;
	size_t len;
	int ret;

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_STATS, 3);
	touch(WORK_GPA, MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 8 * PAGE);
	stat_put(raw, 4, 3);
	stats_raw(Q_2, raw, sizeof(raw), false);
	blob = save(&len);
	virtio_balloon_device_ops.destroy(dev);
	touch(WORK_GPA, MiB);
	TEST_OK(virtio_balloon_device_ops.create(&f.ctx, &nostats, &dev));
	ret = virtio_balloon_device_ops.restore(dev, blob, len);
	TEST_ASSERT(ret == -EINVAL, "restored into a device without stats: %d", ret);
	TEST_ASSERT(bst().inflated == 0 && resident(WORK_GPA, 8 * PAGE) == 8 * PAGE &&
		    !bst().stats_held, "a refused restore changed the device");
	free(blob);
	rig_down();
}

/* Every bit of a real blob flipped in turn: refused, or restored to a consistent device. */
void run_restore_bitflips(const void *arg)
{
	const struct balloon_config bc = { .target = 4 * MiB, .stats = true,
					   .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	uint8_t raw[BAL_STAT_BYTES], *blob, *bad;
	size_t len, accepted = 0;

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_STATS | F_REPORTING, 4);
	touch(WORK_GPA, 4 * MiB);
	pfn_range(Q_INFLATE, WORK_GPA, 64 * PAGE);
	stat_put(raw, 4, 3);
	stats_raw(Q_2, raw, sizeof(raw), false);
	blob = save(&len);
	bad = malloc(len);
	TEST_ASSERT(bad, "malloc");
	for (size_t i = 0; i < len; i++) {
		for (unsigned int bit = 0; bit < 8; bit++) {
			memcpy(bad, blob, len);
			bad[i] ^= (uint8_t)(1u << bit);
			if (virtio_balloon_device_ops.restore(dev, bad, len) == 0) {
				accepted++;
				books_ok("a flipped blob");
			}
			/* Back to the good state each time. */
			TEST_OK(virtio_balloon_device_ops.restore(dev, blob, len));
		}
	}
	fprintf(stderr, "%zu bytes x 8 flips: %zu accepted\n", len, accepted);
	books_ok("the good blob");
	TEST_ASSERT(bst().inflated == 64 * PAGE && resident(WORK_GPA, 64 * PAGE) == 0 &&
		    bst().stats_held, "the good blob: inflated %llu",
		    (unsigned long long)bst().inflated);
	/* Still a working device. */
	pfn_range(Q_DEFLATE, WORK_GPA, 64 * PAGE);
	TEST_ASSERT(bst().inflated == 0 && !bst().needs_reset, "after");
	free(bad);
	free(blob);
	rig_down();
}

/* ---- host-side reclaim: mem_pageout's range checks (no swap needed for them) ---- */

/* Ranges crossing the hole, unaligned, empty, near and wrapping 2^64: -EINVAL or accepted. */
void run_pageout_ranges(const void *arg)
{
	const uint64_t ram = MEM_MMIO_HOLE_START + 8 * MiB, lo_end = MEM_MMIO_HOLE_START;
	const uint64_t hi = MEM_HIGH_RAM_START;
	const struct {
		uint64_t gpa, len;
		bool ok;
	} r[] = {
		{ 0, 0, false },
		{ 1, PAGE, false },
		{ 0, PAGE + 1, false },
		{ lo_end - PAGE, PAGE, true },
		{ lo_end - PAGE, 2 * PAGE, false },              /* into the hole */
		{ lo_end, PAGE, false },
		{ hi, 8 * MiB, true },
		{ hi, 8 * MiB + PAGE, false },                   /* past RAM */
		{ 0, hi + 8 * MiB, false },                      /* across the hole */
		{ UINT64_MAX - PAGE + 1, PAGE, false },
		{ UINT64_MAX - PAGE + 1, 2 * PAGE, false },      /* wraps */
		{ hi, UINT64_MAX - PAGE + 1, false },            /* wraps from RAM */
		{ PAGE, UINT64_MAX - PAGE + 1, false },
	};
	struct mem_page_meters m;
	const char *why;
	unsigned int region;

	(void)arg;
	fake_ctx_init(&f, &(struct fake_ctx_config){ .ram_bytes = ram });
	TEST_ASSERT(f.mem.nr_regions == 2, "%u regions", f.mem.nr_regions);
	touch(lo_end - PAGE, PAGE);
	for (unsigned int i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		int ret, mret;

		why = NULL;
		region = UINT32_MAX;
		ret = mem_pageout_check(&f.mem, r[i].gpa, r[i].len, &why, &region);
		mret = mem_page_meters(&f.mem, r[i].gpa, r[i].len, &m);
		TEST_ASSERT(r[i].ok ? ret != -EINVAL && mret == 0 : ret == -EINVAL && mret == -EINVAL,
			    "range %u [%#llx, +%#llx): check %d (%s), meters %d", i,
			    (unsigned long long)r[i].gpa, (unsigned long long)r[i].len, ret,
			    why ? why : "-", mret);
		TEST_ASSERT(!ret || why, "range %u: no reason", i);
		if (r[i].ok && !mret && i == 3)
			TEST_ASSERT(m.resident == PAGE && m.mapped == PAGE, "meters %llu %llu",
				    (unsigned long long)m.resident, (unsigned long long)m.mapped);
	}
	fake_ctx_destroy(&f);
}

/* ---- bounds found by the hostile review ---- */

/* A chain of n buffers written by hand as descriptors first_desc.. of q (n <= the queue size). */
static void raw_chain(unsigned int q, const struct vt_buf *bufs, unsigned int n,
		      uint16_t first_desc)
{
	struct vt_queue *qq = &vt.q[q];
	uint16_t idx;

	for (unsigned int i = 0; i < n; i++) {
		struct vring_desc d = {
			.addr = htole64(bufs[i].gpa),
			.len = htole32(bufs[i].len),
			.flags = htole16((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
					 (bufs[i].write ? VRING_DESC_F_WRITE : 0)),
			.next = htole16((uint16_t)((first_desc + i + 1) % qq->size)),
		};

		vt_mem_write(&vt, qq->desc + 16ull * ((first_desc + i) % qq->size), &d, sizeof(d));
	}
	idx = htole16(first_desc);
	vt_mem_write(&vt, qq->avail + 4 + 2ull * (qq->avail_idx % qq->size), &idx, 2);
	atomic_thread_fence(memory_order_release);
	qq->avail_idx++;
	idx = htole16(qq->avail_idx);
	vt_mem_write(&vt, qq->avail + 2, &idx, 2);
}

#define CHAIN_BUFS    64u
#define CHAIN_BOUND_S 2u

/*
 * 64 overlapping descriptors, each all of RAM (64 x 16 Mi PFNs): without a
 * bound one notify kept the main loop for minutes. Now more than
 * BAL_MAX_CHAIN_PFNS is a violation, answered at once; exactly that many
 * is still processed.
 */
void run_huge_chain(const void *arg)
{
	const struct balloon_config bc = { .populate = MEM_POPULATE_NONE };
	static struct vt_buf b[CHAIN_BUFS];
	uint64_t t0, ns;
	struct balloon_status st;

	(void)arg;
	rig_up(RAM_BYTES, &bc, 0, 2);
	for (unsigned int i = 0; i < CHAIN_BUFS; i++)
		b[i] = (struct vt_buf){ .gpa = 0, .len = (uint32_t)RAM_BYTES };
	raw_chain(Q_INFLATE, b, CHAIN_BUFS, 0);
	t0 = now_ns();
	vt_kick(&vt, Q_INFLATE);
	ns = now_ns() - t0;
	st = bst();
	TEST_ASSERT(st.needs_reset && st.last_violation &&
		    strstr(st.last_violation, "more than 65536 PFNs"), "violation: %s",
		    st.last_violation ? st.last_violation : "none");
	TEST_ASSERT(ns < CHAIN_BOUND_S * NS_PER_S, "one notify held the main loop %.1f s",
		    (double)ns / 1e9);
	books_ok("huge chain");
	rig_down();

	/* The limit itself: 65536 PFNs (all page 0 here: one page in, the rest duplicates). */
	rig_up(RAM_BYTES, &bc, 0, 2);
	b[0] = (struct vt_buf){ .gpa = 0, .len = BAL_MAX_CHAIN_PFNS * 4u };
	raw_chain(Q_INFLATE, b, 1, 0);
	vt_kick(&vt, Q_INFLATE);
	st = bst();
	TEST_ASSERT(!st.needs_reset && st.inflated == PAGE &&
		    st.dup_pfns == BAL_MAX_CHAIN_PFNS - 1, "at the limit: inflated %llu, dup %llu",
		    (unsigned long long)st.inflated, (unsigned long long)st.dup_pfns);
	books_ok("chain at the limit");
	rig_down();
	TEST_PASS("an inflate chain over 65536 PFNs is a violation, answered at once");
}

/*
 * A blob altered by hand: held = 1 on queue 2 while the negotiated
 * features make queue 2 the reporting queue: the reporting queue never
 * gets a used entry its driver did not post.
 */
void run_restore_held_on_reporting(const void *arg)
{
	const struct balloon_config bc = { .stats = true, .stats_interval_s = 1,
					   .free_page_reporting = true,
					   .populate = MEM_POPULATE_NONE };
	const unsigned int held_off = 12 + 16 + 16;   /* after header, region, map_bits, pages */
	uint8_t *blob;
	size_t len;
	int ret;

	(void)arg;
	rig_up(RAM_BYTES, &bc, F_REPORTING, 3);
	blob = save(&len);
	TEST_ASSERT(blob[held_off] == 0, "layout: held at %u", held_off);
	blob[held_off] = 1;
	blob[held_off + 1] = 2;                       /* stats_queue = 2 (le32) */
	ret = virtio_balloon_device_ops.restore(dev, blob, len);
	if (ret == 0) {
		loop_for(TICK_WAIT_NS);
		TEST_ASSERT(!vt_used(&vt, Q_2, NULL, NULL),
			    "a held stats head (restored) was pushed into the reporting queue");
		TEST_ASSERT(!bst().stats_held, "held without a stats queue");
	}
	free(blob);
	rig_down();
	TEST_PASS("a restored stats head on the reporting queue is not held");
}
