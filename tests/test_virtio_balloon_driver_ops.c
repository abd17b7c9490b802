// SPDX-License-Identifier: MIT
/*
 * test_virtio_balloon_driver's cases for statistics (§5.5.6.3), free page
 * reporting (§5.5.6.6), rule violations (§2.1.2, §2.7) and resets; the rig
 * is in test_virtio_balloon_driver.c.
 */
#include "tests/test_virtio_balloon_driver.h"

#include <endian.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define STATS_WAIT_NS      (3000ull * 1000 * 1000)   /* stats_interval_s 1, with room */
#define STATS_POLL_NS      (5ull * 1000 * 1000)
#define REPORT_GPA         (32ull << 20)             /* 8 MiB of free memory reported */
#define REPORT_BYTES       (8ull << 20)
#define ODD_GPA            (48ull << 20)             /* three pages for an unaligned report */
#define UNKNOWN_STAT_TAG   0x7777u
#define VIOLATION_TARGET   (1ull << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	TEST_ASSERT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void runs(struct brig *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vdrv_run(&r->d);
}

static uint16_t used_idx(struct brig *r, unsigned int q)
{
	uint16_t idx;

	DRV_OK(r, vdrv_used_idx(&r->d, q, &idx));
	return idx;
}

/* ---- statistics ---- */

static void stats_check(struct brig *r, const struct vdrv_balloon_stat *want, unsigned int n,
			uint64_t updates)
{
	struct balloon_status st = brig_status(r);

	TEST_ASSERT(st.stats_updates == updates, "stats_updates %" PRIu64 ", want %" PRIu64,
		    st.stats_updates, updates);
	for (unsigned int i = 0; i < n; i++) {
		if (want[i].tag >= BALLOON_STATS_NR)
			continue;
		TEST_ASSERT(st.stats_valid >> want[i].tag & 1, "tag %u not valid", want[i].tag);
		TEST_ASSERT(st.stat[want[i].tag] == want[i].val, "tag %u: %" PRIu64 ", want %"
			    PRIu64, want[i].tag, st.stat[want[i].tag], want[i].val);
	}
	TEST_ASSERT(!(st.stats_valid >> VIRTIO_BALLOON_S_MAJFLT & 1), "tag never sent is valid");
	TEST_ASSERT(st.stats_unknown == updates, "stats_unknown %" PRIu64 " (one per buffer)",
		    st.stats_unknown);
}

void run_stats(const void *arg)
{
	const struct brig_opts o = { .bc = { .stats = true, .stats_interval_s = 1 } };
	struct vdrv_balloon_stat s[] = {
		{ VIRTIO_BALLOON_S_MEMTOT, RAM_BYTES },
		{ UNKNOWN_STAT_TAG, 5 },             /* §5.5.6.3: ignored by the device */
		{ VIRTIO_BALLOON_S_SWAP_IN, 1111 },
		{ VIRTIO_BALLOON_S_MEMFREE, 32ull << 20 },
		{ VIRTIO_BALLOON_S_AVAIL, 40ull << 20 },
	};
	const unsigned int n = sizeof(s) / sizeof(s[0]);
	uint32_t id, len;
	uint64_t t0;
	struct brig r;
	(void)arg;

	brig_up(&r, &o, F_ALL);
	TEST_ASSERT(r.q_stats == 2, "stats queue %u", r.q_stats);
	/* §5.5.5: after DRIVER_OK, one initialized buffer, then notify. */
	DRV_OK(&r, vdrv_balloon_stats_post(&r.d, r.q_stats, s, n));
	runs(&r, 2);
	stats_check(&r, s, n, 1);
	TEST_ASSERT(brig_status(&r).stats_held && used_idx(&r, r.q_stats) == 0,
		    "first stats buffer not held (held %d, used idx %u)", brig_status(&r).stats_held,
		    used_idx(&r, r.q_stats));

	/* The device gives it back when it wants fresh numbers (every stats_interval_s). */
	t0 = now_ns();
	while (used_idx(&r, r.q_stats) == 0 && now_ns() - t0 < STATS_WAIT_NS) {
		const struct timespec ts = { 0, STATS_POLL_NS };

		(void)fake_ctx_run_loop(&r.f);
		nanosleep(&ts, NULL);
	}
	TEST_ASSERT(used_idx(&r, r.q_stats) == 1, "stats buffer not given back within 3 s"
		    " (stats_interval_s 1); used idx %u", used_idx(&r, r.q_stats));
	DRV_OK(&r, vdrv_used_wait(&r.d, r.q_stats, &id, &len));
	TEST_ASSERT(id == 0 && len == 0, "stats used id %u len %u", id, len);
	TEST_ASSERT(!brig_status(&r).stats_held, "device still holds a buffer it gave back");

	/* The driver refills it; the new values show. */
	s[0].val = RAM_BYTES - PAGE;
	s[3].val = 20ull << 20;
	s[2].val = 2222;
	DRV_OK(&r, vdrv_balloon_stats_post(&r.d, r.q_stats, s, n));
	runs(&r, 2);
	stats_check(&r, s, n, 2);
	TEST_ASSERT(brig_status(&r).stats_held || used_idx(&r, r.q_stats) == 2,
		    "second buffer neither held nor used");
	/* Inflate and deflate are not held up by the held stats buffer. */
	brig_inflate(&r, WORK_GPA, 4);
	brig_deflate(&r, WORK_GPA, 4);
	TEST_ASSERT(!brig_needs_reset(&r), "NEEDS_RESET");
	brig_down(&r);
	TEST_PASS("stats: values kept, unknown tag ignored, buffer given back on the timer, refilled");
}

/* ---- free page reporting ---- */

/* One reporting chain of device-writable buffers; asserts used, len 0. */
static void report(struct brig *r, unsigned int q, const struct vdrv_buf *b, unsigned int n)
{
	uint32_t used_len = 0xeeeeeeee;

	DRV_OK(r, vdrv_submit(&r->d, q, b, n, &used_len));
	TEST_ASSERT(used_len == 0, "reporting: used len %u", used_len);
	TEST_ASSERT(!brig_needs_reset(r), "NEEDS_RESET after a report (%s)",
		    brig_status(r).last_violation ? brig_status(r).last_violation : "?");
}

void run_reporting(const void *arg)
{
	const struct brig_opts o = { .backend = arg, .hotplug = true,
				     .bc = { .free_page_reporting = true } };
	struct vdrv_buf b[REPORT_BYTES / RUN_BYTES];
	const unsigned int nb = sizeof(b) / sizeof(b[0]);
	bool memfd = arg == &mem_backend_memfd;
	struct balloon_status st;
	uint64_t file0 = 0;
	struct brig r;

	brig_up(&r, &o, F_ALL);
	TEST_ASSERT(r.q_report == 2, "reporting queue %u without stats", r.q_report);
	brig_touch(&r, REPORT_GPA, REPORT_BYTES, 0x5c);
	brig_touch(&r, ODD_GPA, 3 * PAGE, 0x3d);
	brig_touch(&r, r.hotplug_gpa, RUN_BYTES, 0x42);
	TEST_ASSERT(host_resident(&r, REPORT_GPA, REPORT_BYTES) == REPORT_BYTES, "not resident");
	if (memfd)
		file0 = host_file_bytes(&r, REPORT_GPA);

	for (unsigned int i = 0; i < nb; i++)
		b[i] = (struct vdrv_buf){ .gpa = REPORT_GPA + i * RUN_BYTES, .len = RUN_BYTES,
					  .device_writes = true };
	report(&r, r.q_report, b, nb);
	TEST_ASSERT(host_resident(&r, REPORT_GPA, REPORT_BYTES) == 0,
		    "%" PRIu64 " KiB of reported memory resident (mincore)",
		    host_resident(&r, REPORT_GPA, REPORT_BYTES) >> 10);
	if (memfd)
		TEST_ASSERT(file0 - host_file_bytes(&r, REPORT_GPA) >= REPORT_BYTES,
			    "memfd st_blocks fell by %" PRIu64 " KiB, reported 8192 KiB",
			    (file0 - host_file_bytes(&r, REPORT_GPA)) >> 10);
	TEST_ASSERT(brig_reads(&r, REPORT_GPA, REPORT_BYTES, 0), "reported memory not zero");
	st = brig_status(&r);
	TEST_ASSERT(st.reported == REPORT_BYTES && st.reports == 1, "reported %" PRIu64
		    " in %" PRIu64 " reports", st.reported, st.reports);
	TEST_ASSERT(st.inflated == 0, "reported pages counted as inflated (%" PRIu64 ")",
		    st.inflated);
	/* §5.5.6.6: once used, the driver reuses the pages without telling. */
	brig_touch(&r, REPORT_GPA, RUN_BYTES, 0x11);
	TEST_ASSERT(brig_reads(&r, REPORT_GPA, RUN_BYTES, 0x11), "reused page not writable");
	TEST_ASSERT(host_resident(&r, REPORT_GPA, RUN_BYTES) == RUN_BYTES, "reuse not resident");

	/* Unaligned: only the whole page inside [ODD + 1 KiB, +8 KiB) goes. */
	b[0] = (struct vdrv_buf){ .gpa = ODD_GPA + 1024, .len = 2 * PAGE, .device_writes = true };
	report(&r, r.q_report, b, 1);
	TEST_ASSERT(host_resident(&r, ODD_GPA, 3 * PAGE) == 2 * PAGE, "unaligned report: %" PRIu64
		    " KiB of 12 resident, want 8", host_resident(&r, ODD_GPA, 3 * PAGE) >> 10);
	TEST_ASSERT(brig_reads(&r, ODD_GPA, PAGE, 0x3d) &&
		    brig_reads(&r, ODD_GPA + 2 * PAGE, PAGE, 0x3d),
		    "pages only partly reported were discarded");
	TEST_ASSERT(brig_reads(&r, ODD_GPA + PAGE, PAGE, 0), "the whole page inside was kept");

	/* In the hotplug region: not boot RAM, left alone, counted. */
	st = brig_status(&r);
	b[0] = (struct vdrv_buf){ .gpa = r.hotplug_gpa, .len = RUN_BYTES, .device_writes = true };
	report(&r, r.q_report, b, 1);
	TEST_ASSERT(brig_reads(&r, r.hotplug_gpa, RUN_BYTES, 0x42), "hotplug memory discarded");
	TEST_ASSERT(brig_status(&r).hotplug_pfns - st.hotplug_pfns == 1, "hotplug_pfns +%" PRIu64,
		    brig_status(&r).hotplug_pfns - st.hotplug_pfns);
	TEST_ASSERT(brig_status(&r).reported == st.reported, "hotplug memory counted as reported");
	brig_down(&r);
	TEST_PASS("reporting: used, memory given back (mincore, st_blocks), reads zero, reusable");
}

/* §3.1.1 by hand: negotiate want, set up queues 0..nq-1, DRIVER_OK. */
static void init_queues(struct brig *r, uint64_t want, unsigned int nq)
{
	DRV_OK(r, vdrv_negotiate(&r->d, want));
	for (unsigned int q = 0; q < nq; q++)
		DRV_OK(r, vdrv_queue_setup(&r->d, q, 0, VIRTIO_MSI_NO_VECTOR));
	DRV_OK(r, vdrv_driver_ok(&r->d));
}

void run_report_queues(const void *arg)
{
	const struct brig_opts o = { .bc = { .stats = true, .free_page_reporting = true } };
	const struct vdrv_buf b = { .gpa = REPORT_GPA, .len = RUN_BYTES, .device_writes = true };
	const struct vdrv_balloon_stat s = { VIRTIO_BALLOON_S_MEMFREE, 12345 };
	struct balloon_status st;
	struct brig r;
	(void)arg;

	/* Both negotiated: statsq 2, reporting_vq 3 (numbered over what exists). */
	brig_up(&r, &o, F_ALL);
	TEST_ASSERT(r.d.num_queues == 4, "num_queues %u", r.d.num_queues);
	TEST_ASSERT(r.q_stats == 2 && r.q_report == 3, "queues %u/%u", r.q_stats, r.q_report);
	DRV_OK(&r, vdrv_balloon_stats_post(&r.d, r.q_stats, &s, 1));
	brig_touch(&r, REPORT_GPA, RUN_BYTES, 0x21);
	report(&r, r.q_report, &b, 1);
	TEST_ASSERT(host_resident(&r, REPORT_GPA, RUN_BYTES) == 0, "report on queue 3 kept memory");
	TEST_ASSERT(brig_status(&r).stat[VIRTIO_BALLOON_S_MEMFREE] == 12345, "stats on queue 2");

	/* Reporting alone though stats is offered: reporting is 2; 3 has no role. */
	init_queues(&r, F_VERSION_1 | F_REPORTING, 4);
	brig_touch(&r, REPORT_GPA, RUN_BYTES, 0x22);
	st = brig_status(&r);
	DRV_OK(&r, vdrv_post(&r.d, 3, &b, 1, NULL));
	runs(&r, 4);
	TEST_ASSERT(used_idx(&r, 3) == 0, "queue 3 answered without a role");
	TEST_ASSERT(brig_status(&r).ignored_notifies - st.ignored_notifies >= 1,
		    "notify of queue 3 not counted as ignored");
	TEST_ASSERT(host_resident(&r, REPORT_GPA, RUN_BYTES) == RUN_BYTES,
		    "queue 3 taken as reporting_vq");
	TEST_ASSERT(!brig_needs_reset(&r), "NEEDS_RESET for a queue without a role");
	report(&r, 2, &b, 1);
	TEST_ASSERT(host_resident(&r, REPORT_GPA, RUN_BYTES) == 0, "report on queue 2 kept memory");

	/* Stats alone: statsq 2, and 3 is nobody's. */
	init_queues(&r, F_VERSION_1 | F_STATS, 4);
	DRV_OK(&r, vdrv_balloon_stats_post(&r.d, 2, &s, 1));
	runs(&r, 2);
	TEST_ASSERT(brig_status(&r).stats_updates >= 1, "stats on queue 2 not read");
	brig_down(&r);
	TEST_PASS("queues numbered over the negotiated features; a queue without a role is ignored");
}

/* ---- rule violations: NEEDS_RESET, config still answers, reset recovers ---- */

enum violation {
	V_WRITABLE_INFLATE,
	V_WRITABLE_DEFLATE,
	V_READABLE_REPORT,
	V_WRITABLE_STATS,
	V_NEXT_OUT_OF_RANGE,
	V_NR,
};

static const char *const violation_name[V_NR] = {
	"device-writable buffer in inflateq", "device-writable buffer in deflateq",
	"device-readable buffer in reporting_vq", "device-writable statsq buffer",
	"descriptor next past the queue",
};

/* After NEEDS_RESET: config answers, ISR config bit (§2.1.2), reset, the balloon empty. */
static void recover(struct brig *r, const char *what, unsigned int line)
{
	struct virtio_balloon_config c;
	uint8_t isr;

	TEST_ASSERT(brig_needs_reset(r), "%s: no NEEDS_RESET (status 0x%x)", what,
		    vdrv_status(&r->d));
	TEST_ASSERT(brig_status(r).needs_reset && brig_status(r).last_violation,
		    "%s: status shows no violation", what);
	/* §2.1.2: with DRIVER_OK, NEEDS_RESET comes with a configuration change notification. */
	TEST_ASSERT(fake_irq_level(&r->f, line), "%s: no INTx with NEEDS_RESET", what);
	isr = vdrv_isr(&r->d);
	TEST_ASSERT(isr & ISR_CONFIG, "%s: ISR 0x%x without the configuration bit", what, isr);
	DRV_OK(r, vdrv_balloon_config(&r->d, &c, NULL));
	TEST_ASSERT(c.num_pages == VIOLATION_TARGET / PAGE, "%s: num_pages %u", what, c.num_pages);
	DRV_OK(r, vdrv_reset(&r->d));
	TEST_ASSERT(brig_status(r).inflated == 0, "%s: %" PRIu64 " pages in the balloon after reset",
		    what, brig_status(r).inflated);
	DRV_OK(r, vdrv_balloon_config(&r->d, &c, NULL));
	TEST_ASSERT(c.actual == 0, "%s: actual %u after reset", what, c.actual);
	brig_touch(r, WORK_GPA, 64 * PAGE, 0x8e);
	TEST_ASSERT(brig_reads(r, WORK_GPA, 64 * PAGE, 0x8e), "%s: pages unusable after reset",
		    what);
	brig_init(r, F_ALL, VIRTIO_MSI_NO_VECTOR);
	brig_inflate(r, WORK_GPA, 64);
	TEST_ASSERT(host_resident(r, WORK_GPA, 64 * PAGE) == 0, "%s: inflate after re-init", what);
}

static void violate(enum violation v)
{
	const struct brig_opts o = { .bc = { .target = VIOLATION_TARGET, .stats = true,
					     .free_page_reporting = true } };
	struct vdrv_buf b = { .gpa = TEST_BUF_GPA, .len = 64 };
	struct brig r;
	unsigned int line;

	brig_up(&r, &o, F_ALL);
	line = brig_intx_line(&r);
	brig_touch(&r, WORK_GPA, 64 * PAGE, 0x12);
	brig_inflate(&r, WORK_GPA, 64);
	vdrv_balloon_actual_set(&r.d, 64);
	(void)vdrv_isr(&r.d);
	switch (v) {
	case V_WRITABLE_INFLATE:
	case V_WRITABLE_DEFLATE:
		b.device_writes = true;
		DRV_OK(&r, vdrv_post(&r.d, v == V_WRITABLE_INFLATE ? 0 : 1, &b, 1, NULL));
		break;
	case V_READABLE_REPORT:
		b = (struct vdrv_buf){ .gpa = REPORT_GPA, .len = RUN_BYTES };
		DRV_OK(&r, vdrv_post(&r.d, r.q_report, &b, 1, NULL));
		break;
	case V_WRITABLE_STATS:
		b.device_writes = true;
		b.len = 10;
		DRV_OK(&r, vdrv_post(&r.d, r.q_stats, &b, 1, NULL));
		break;
	case V_NEXT_OUT_OF_RANGE:
		DRV_OK(&r, vdrv_desc_write(&r.d, 0, 5, TEST_BUF_GPA, 4, VRING_DESC_F_NEXT, 0x7fff));
		DRV_OK(&r, vdrv_avail_publish(&r.d, 0, 5));
		DRV_OK(&r, vdrv_notify(&r.d, 0));
		break;
	case V_NR:
		break;
	}
	runs(&r, 4);
	recover(&r, violation_name[v], line);
	brig_down(&r);
}

void run_violations(const void *arg)
{
	(void)arg;
	for (unsigned int v = 0; v < V_NR; v++)
		violate((enum violation)v);
	TEST_PASS("violations: NEEDS_RESET with a config interrupt, config answers, reset empties");
}

/* A ring outside RAM: refused at enable or NEEDS_RESET at use, never a crash. */
static void ring_at(uint64_t desc, uint64_t avail, uint64_t used, const char *what)
{
	const struct brig_opts o = { .bc = { .target = VIOLATION_TARGET } };
	struct brig r;
	int ret;

	brig_up(&r, &o, F_VERSION_1);
	brig_touch(&r, WORK_GPA, 64 * PAGE, 0x12);
	brig_inflate(&r, WORK_GPA, 64);
	DRV_OK(&r, vdrv_negotiate(&r.d, F_VERSION_1));
	TEST_ASSERT(brig_status(&r).inflated == 0, "%s: balloon not emptied by the reset", what);
	ret = vdrv_queue_setup_at(&r.d, 0, 0, VIRTIO_MSI_NO_VECTOR, desc, avail, used);
	if (ret == 0) {
		DRV_OK(&r, vdrv_queue_setup(&r.d, 1, 0, VIRTIO_MSI_NO_VECTOR));
		ret = vdrv_driver_ok(&r.d);
		if (ret == 0) {
			(void)vdrv_isr(&r.d);
			DRV_OK(&r, vdrv_notify(&r.d, 0));
			runs(&r, 4);
		}
	}
	/* Refused at queue_enable (reads 0) or later: either way NEEDS_RESET says so. */
	TEST_ASSERT(brig_needs_reset(&r), "%s: no NEEDS_RESET (status 0x%x, %s)", what,
		    vdrv_status(&r.d), ret ? r.d.err : "enabled");
	{
		struct virtio_balloon_config c;

		DRV_OK(&r, vdrv_balloon_config(&r.d, &c, NULL));
		TEST_ASSERT(c.num_pages == VIOLATION_TARGET / PAGE, "%s: num_pages %u", what,
			    c.num_pages);
	}
	DRV_OK(&r, vdrv_reset(&r.d));
	brig_init(&r, F_VERSION_1, VIRTIO_MSI_NO_VECTOR);
	brig_inflate(&r, WORK_GPA, 64);
	TEST_ASSERT(host_resident(&r, WORK_GPA, 64 * PAGE) == 0, "%s: inflate after re-init", what);
	brig_down(&r);
}

void run_ring_outside(const void *arg)
{
	const uint64_t ok = SCRATCH_GPA + 3 * VDRV_RING_AREA_BYTES;
	(void)arg;

	ring_at(RAM_BYTES, ok + 8192, ok + 16384, "descriptors just past RAM");
	ring_at(ok, RAM_BYTES - 2, ok + 16384, "avail ring across the end of RAM");
	ring_at(ok, ok + 8192, 0xd0000000ull, "used ring in the MMIO hole");
	ring_at(ok, ok + 8192, RAM_BYTES + (1ull << 30), "used ring far past RAM");
	TEST_PASS("rings outside RAM: refused or NEEDS_RESET, config answers, re-init works");
}

/* ---- resets empty the balloon ---- */

void run_reset(const void *arg)
{
	const struct brig_opts o = { .backend = arg,
				     .bc = { .target = 8ull << 20, .populate = MEM_POPULATE_MADVISE,
					     .populate_threads = 1 } };
	struct virtio_balloon_config c;
	struct brig r;

	brig_up(&r, &o, F_VERSION_1);
	brig_touch(&r, WORK_GPA, RUN_BYTES, 0x66);
	brig_inflate(&r, WORK_GPA, RUN_PAGES);
	vdrv_balloon_actual_set(&r.d, RUN_PAGES);
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES) == 0, "inflated run resident");

	/* Driver reset (status 0): the balloon empties, pages repopulated (madvise). */
	DRV_OK(&r, vdrv_reset(&r.d));
	TEST_ASSERT(brig_status(&r).inflated == 0, "inflated %" PRIu64 " after a driver reset",
		    brig_status(&r).inflated);
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES) == RUN_BYTES, "%" PRIu64 " KiB of 2048"
		    " resident after a reset (populate madvise)",
		    host_resident(&r, WORK_GPA, RUN_BYTES) >> 10);
	DRV_OK(&r, vdrv_balloon_config(&r.d, &c, NULL));
	TEST_ASSERT(c.actual == 0 && c.num_pages == 2048, "actual %u num_pages %u after reset",
		    c.actual, c.num_pages);
	brig_touch(&r, WORK_GPA, RUN_BYTES, 0x67);
	TEST_ASSERT(brig_reads(&r, WORK_GPA, RUN_BYTES, 0x67), "pages unusable after reset");

	/* Machine reset: also the target back to the configured one. */
	brig_init(&r, F_VERSION_1, VIRTIO_MSI_NO_VECTOR);
	brig_inflate(&r, WORK_GPA, RUN_PAGES);
	TEST_OK(virtio_balloon_set_target(r.dev, 32ull << 20));
	TEST_ASSERT(virtio_balloon_device_ops.reset, "no machine reset hook");
	virtio_balloon_device_ops.reset(r.dev);
	TEST_ASSERT(!(vdrv_conf_read(&r.d, (unsigned int)r.d.slot, PCI_COMMAND, 2) &
		      (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)), "command after a machine reset");
	TEST_ASSERT(brig_status(&r).inflated == 0, "inflated after a machine reset");
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES) == RUN_BYTES, "not repopulated after a"
		    " machine reset");
	r.d.slot = -1;
	DRV_OK(&r, vdrv_find(&r.d, MACHINE_PCI_VIRTIO_VENDOR, BALLOON_PCI_ID));
	DRV_OK(&r, vdrv_bars_probe(&r.d));
	vdrv_command(&r.d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
	DRV_OK(&r, vdrv_caps_parse(&r.d));
	brig_init(&r, F_VERSION_1, VIRTIO_MSI_NO_VECTOR);
	DRV_OK(&r, vdrv_balloon_config(&r.d, &c, NULL));
	TEST_ASSERT(c.num_pages == 2048 && c.actual == 0, "num_pages %u actual %u after a machine"
		    " reset", c.num_pages, c.actual);
	brig_inflate(&r, WORK_GPA, 16);
	brig_down(&r);
	TEST_PASS("driver and machine resets empty the balloon; pages repopulated and usable");
}
