// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: memvmm's virtio-balloon (devices/virtio_balloon.h)
 * over virtio-pci on fake_ctx, brought up by the independent driver of
 * tests/virtio_driver.h, then a fuzzed script of what the driver and the
 * host do. The input:
 *
 *   byte 0       mode: bit 0 memfd boot RAM (else anon); bit 1 stats offered
 *                (polled every second), bit 2 free page reporting offered,
 *                bit 3 deflate-on-OOM offered; bits 4-5 the populate
 *                strategy for pages leaving the balloon (none, auto, madvise,
 *                fallocate); bits 4-7 exactly 0xc: boot RAM in two regions
 *                (3 GiB below the MMIO hole, 8 MiB above 4 GiB; populate
 *                none) instead of one of 16 MiB. Rare on purpose: every
 *                driver reset walks each of the 790k pages' units, which
 *                makes such an input about 50 times slower.
 *   bytes 1-2    S, the script's length (little endian; clamped)
 *   S bytes      the script: an opcode byte (modulo the number of ops), then
 *                that op's arguments (missing bytes read 0)
 *   the rest     a guest-memory image (first FUZZ_IMAGE_BYTES), copied to
 *                gpa 0 (over the driver's rings) by op 12 only
 *
 * Ops: 0 inflate and 1 deflate (a chain of PFNs: in the work area, in the
 * rings' pages, at region edges, in the hotplug region, garbage, runs; the
 * buffer anywhere; maybe a writable buffer), 2 free page reporting (ranges
 * anywhere, maybe a readable buffer), 3 a stats buffer (any tags, a stray
 * tail, maybe writable), 4 a device configuration write, 5 a new target,
 * 6 driver reset and the driver's own re-initialization (features and
 * queues chosen), 7 machine reset and bring-up, 8 save and restore (bytes
 * changed or not), 9 a tick of the stats timer (made to expire now),
 * 10 a notify of any queue index, 11 poke RAM, 12 load the image at gpa 0,
 * 13 a common configuration write.
 *
 * After every op: the device's count of inflated pages is its bitmap's
 * popcount, every unit given back is a page in the balloon (4 KiB units:
 * no hugetlb here) and given_back is their size, the target lies inside
 * RAM; every page the device gave back during the op and that neither the
 * rings' area nor a buffer of the op's chains covers (the device reads
 * those, faulting them in) is not resident by mincore(2) on the mapping.
 * A machine reset or a driver reset leaves the balloon empty (a machine
 * reset restores the configured target); set_target() accepts exactly
 * what virtio_balloon.h says; restoring the device's own save works and
 * changes nothing; a refused restore changes nothing. At the end the driver
 * brings the device up again (which must work), inflates and deflates a
 * page, and restores its own save once more. A device that loops forever is
 * caught by libFuzzer's -timeout. FUZZ_VIRTIO_TRACE=1 says what each op did.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>

#include "devices/pci.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_balloon_int.h"
#include "devices/virtio_pci.h"
#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/fake_ctx.h"
#include "tests/fuzz/fuzz_virtio.h"
#include "tests/vdrv_fake.h"
#include "tests/virtio_driver.h"

#define FB_PAGE            BALLOON_PAGE_BYTES
#define FB_RAM_ONE         (16ull << 20)
#define FB_RAM_HIGH        (8ull << 20)              /* two regions: this much above 4 GiB */
#define FB_HOTPLUG         MACHINE_HOTPLUG_ALIGN
/* The driver's rings and this target's buffers: [0, FB_DRIVER_AREA). */
#define FB_DRIVER_AREA     (1ull << 20)
#define FB_PFN_GPA         0x80000ull
#define FB_STATS_GPA       0x90000ull
#define FB_WORK_GPA        FB_DRIVER_AREA            /* the pages mostly ballooned */
#define FB_WORK_PAGES      2048u
#define FB_MAX_PFNS        BAL_BATCH_PFNS            /* in one chain */
#define FB_MAX_TOUCHED     8u
#define FB_BLOB_BYTES      (256u << 10)
#define FB_DRIVER_ROUNDS   4u
#define FB_PCI_ID          (MACHINE_PCI_VIRTIO_DEVICE_BASE + VIRTIO_ID_BALLOON)
#define F_STATS            (1ull << VIRTIO_BALLOON_F_STATS_VQ)
#define F_OOM              (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
#define F_REPORTING        (1ull << VIRTIO_BALLOON_F_REPORTING)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fb {
	struct fake_ctx f;
	struct balloon *b;
	struct vdrv d;
	struct balloon_config bc;
	uint64_t ram, hp;
	uint64_t lo_end, hi_start;        /* two regions: RAM below the hole ends, above starts */
	uint32_t last_pfn;
	/* Guest memory the op's chains name: the device reads it (and faults it in). */
	struct { uint64_t gpa, len; } touched[FB_MAX_TOUCHED];
	unsigned int nr_touched;
	uint64_t *given0;                 /* the unit bitmap before the op */
	uint64_t words;
	uint32_t bars[PCI_NR_BARS];       /* BAR registers after the first bring-up */
};

/* ---- checks ---- */

/* One page by mincore() on its mapping: the host's meter, not memvmm's. */
static bool page_resident(struct fb *v, uint64_t gpa)
{
	void *hva = mem_gpa_to_hva(&v->f.mem, gpa, FB_PAGE);
	unsigned char vec = 0;

	CHECK(hva, "page 0x%" PRIx64 " not RAM", gpa);
	CHECK(mincore(hva, FB_PAGE, &vec) == 0, "mincore: %s", strerror(errno));
	return vec & 1;
}

static bool in_touched(const struct fb *v, uint64_t gpa)
{
	if (gpa < FB_DRIVER_AREA)
		return true;
	for (unsigned int i = 0; i < v->nr_touched; i++)
		if (gpa + FB_PAGE > v->touched[i].gpa && gpa - v->touched[i].gpa < v->touched[i].len)
			return true;
	return false;
}

static void touched_add(struct fb *v, uint64_t gpa, uint64_t len)
{
	if (v->nr_touched < FB_MAX_TOUCHED) {
		v->touched[v->nr_touched].gpa = gpa;
		v->touched[v->nr_touched++].len = len;
	} else {
		v->touched[FB_MAX_TOUCHED - 1].gpa = 0;       /* too many: everything */
		v->touched[FB_MAX_TOUCHED - 1].len = UINT64_MAX;
	}
}

static void op_begin(struct fb *v)
{
	v->nr_touched = 0;
	virtio_pci_lock(v->b->vp);
	memcpy(v->given0, v->b->given, v->words * sizeof(uint64_t));
	virtio_pci_unlock(v->b->vp);
}

/* What must hold between any two ops (fuzz_balloon.c's header). */
FUZZ_NO_COVERAGE
static void invariants(struct fb *v)
{
	struct balloon *b = v->b;
	uint64_t pages = 0, given = 0;

	virtio_pci_lock(b->vp);
	for (uint64_t w = 0; w < v->words; w++) {
		uint64_t fresh = b->given[w] & ~v->given0[w];

		pages += (uint64_t)__builtin_popcountll(b->pages[w]);
		given += (uint64_t)__builtin_popcountll(b->given[w]);
		CHECK(!(b->given[w] & ~b->pages[w]), "word %" PRIu64 ": given back %#" PRIx64
		      " but in the balloon %#" PRIx64, w, b->given[w], b->pages[w]);
		while (fresh) {
			uint64_t bit = w * BITMAP_WORD_BITS + (uint64_t)__builtin_ctzll(fresh);
			const struct bal_region *r = bal_region_of_bit(b, bit);
			uint64_t gpa;

			fresh &= fresh - 1;
			CHECK(r, "bit %" PRIu64 " given back outside every region", bit);
			gpa = r->gpa + (bit - r->first) * FB_PAGE;
			CHECK(in_touched(v, gpa) || !page_resident(v, gpa),
			      "page 0x%" PRIx64 " given back but resident", gpa);
		}
	}
	CHECK(pages == b->inflated_pages, "bitmap %" PRIu64 " pages, count %" PRIu64, pages,
	      b->inflated_pages);
	CHECK(given * FB_PAGE == b->given_bytes, "%" PRIu64 " units given, %" PRIu64 " bytes",
	      given, b->given_bytes);
	CHECK((uint64_t)b->num_pages * FB_PAGE <= b->ram_bytes, "target %u pages", b->num_pages);
	virtio_pci_unlock(b->vp);
}

/* What a refused restore (or a restore of its own blob) must leave as it was. */
struct snap {
	uint64_t *pages;
	struct balloon_status st;
};

static void snap_take(struct fb *v, struct snap *s)
{
	virtio_pci_lock(v->b->vp);
	memcpy(s->pages, v->b->pages, v->words * sizeof(uint64_t));
	virtio_pci_unlock(v->b->vp);
	virtio_balloon_get_status(v->b, &s->st);
}

static void snap_same(struct fb *v, const struct snap *s, bool restored, int ret)
{
	struct balloon_status st;

	virtio_balloon_get_status(v->b, &st);
	virtio_pci_lock(v->b->vp);
	CHECK(!memcmp(s->pages, v->b->pages, v->words * sizeof(uint64_t)),
	      "restore %d changed the bitmap", ret);
	virtio_pci_unlock(v->b->vp);
	CHECK(st.inflated == s->st.inflated && st.given_back == s->st.given_back &&
	      st.target == s->st.target && st.actual == s->st.actual &&
	      st.stats_valid == s->st.stats_valid && st.features == s->st.features,
	      "restore %d changed the device", ret);
	if (!restored)
		CHECK(st.stats_held == s->st.stats_held && st.driver_status == s->st.driver_status,
		      "refused restore %d changed the transport or the held buffer", ret);
	else
		/* NEEDS_RESET may appear: a queue whose rings were given back stops at restore. */
		CHECK((st.driver_status & ~VIRTIO_CONFIG_S_NEEDS_RESET) ==
		      (s->st.driver_status & ~VIRTIO_CONFIG_S_NEEDS_RESET),
		      "own restore: status %#x, was %#x", st.driver_status, s->st.driver_status);
}

/* ---- the driver ---- */

static uint64_t offered(const struct fb *v)
{
	return (v->bc.stats ? F_STATS : 0) | (v->bc.deflate_on_oom ? F_OOM : 0) |
	       (v->bc.free_page_reporting ? F_REPORTING : 0);
}

/* Find, enable, negotiate want, set up nq queues, DRIVER_OK. */
static int fb_bringup(struct fb *v, uint64_t want, unsigned int nq)
{
	int ret = vdrv_find(&v->d, MACHINE_PCI_VIRTIO_VENDOR, FB_PCI_ID);

	if (!ret)
		ret = vdrv_bars_probe(&v->d);
	if (!ret) {
		vdrv_command(&v->d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
		ret = vdrv_caps_parse(&v->d);
	}
	if (!ret)
		ret = vdrv_negotiate(&v->d, want | 1ull << VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; !ret && q < nq; q++)
		ret = vdrv_queue_setup(&v->d, q, 0, VIRTIO_MSI_NO_VECTOR);
	if (!ret)
		ret = vdrv_driver_ok(&v->d);
	return ret;
}

static unsigned int queues_for(uint64_t f)
{
	return 2 + !!(f & F_STATS) + !!(f & F_REPORTING);
}

static void fb_post(struct fb *v, unsigned int q, const struct vdrv_buf *bufs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		touched_add(v, bufs[i].gpa, bufs[i].len);
	if (vdrv_post(&v->d, q, bufs, n, NULL))
		return;   /* queue not set up: nothing sent */
	(void)fake_ctx_run_loop(&v->f);
}

/* ---- ops ---- */

static uint32_t rd_pfn(struct fb *v, struct rd *r)
{
	uint8_t k = rd8(r);
	uint32_t p;

	switch (k % 8) {
	case 0:
	case 1:
	case 2:
		p = (uint32_t)(FB_WORK_GPA / FB_PAGE) + rd16(r) % FB_WORK_PAGES;
		break;
	case 3:   /* the rings and buffers */
		p = rd8(r);
		break;
	case 4: {  /* region edges */
		uint32_t d = rd8(r) % 4;
		uint64_t edge[] = { v->lo_end, v->hi_start, v->ram + (v->hi_start - v->lo_end),
				    MEM_MMIO_HOLE_START };

		p = (uint32_t)(edge[k >> 3 & 3] / FB_PAGE) + (k & 0x80 ? d : -d - 1);
		break;
	}
	case 5:
		p = (uint32_t)(v->hp / FB_PAGE) + rd16(r) % (uint32_t)(FB_HOTPLUG / FB_PAGE + 4);
		break;
	case 6:
		p = rd32(r);
		break;
	default:   /* the next page: runs */
		p = v->last_pfn + 1;
		break;
	}
	v->last_pfn = p;
	return p;
}

/* An inflate or deflate chain. */
static void op_pfns(struct fb *v, struct rd *r, unsigned int q)
{
	static uint32_t le[FB_MAX_PFNS];
	uint8_t how = rd8(r), cnt = rd8(r);
	unsigned int n, split;
	uint64_t gpa = FB_PFN_GPA;
	struct vdrv_buf b[3];
	unsigned int nb = 0;

	if (cnt >= 0xf0) {   /* a long run, in order or not */
		uint32_t base = rd_pfn(v, r);

		n = rd16(r) % FB_MAX_PFNS + 1;
		for (unsigned int i = 0; i < n; i++)
			le[i] = htole32(base + (how & 0x40 ? (i * 7919u) % n : i));
	} else {
		n = cnt % 65;
		for (unsigned int i = 0; i < n; i++)
			le[i] = htole32(rd_pfn(v, r));
	}
	if (how & 1)   /* the buffer anywhere (maybe outside RAM: a violation) */
		gpa = rd_le(r, 3) + (how & 2 ? v->hi_start : 0);
	if (n && mem_write(&v->f.mem, gpa, le, n * sizeof(uint32_t)))
		return;
	split = n ? rd8(r) % (n + 1) : 0;
	b[nb++] = (struct vdrv_buf){ .gpa = gpa, .len = split * 4 + (how & 4 ? rd8(r) % 4 : 0) };
	if (split < n)
		b[nb++] = (struct vdrv_buf){ .gpa = gpa + split * 4, .len = (n - split) * 4 };
	if (how & 8)   /* a device-writable buffer: a violation */
		b[nb++] = (struct vdrv_buf){ .gpa = FB_PFN_GPA + 0x8000, .len = 8,
					     .device_writes = true };
	TRACE("%s: %u PFNs at 0x%" PRIx64 " in %u buffers\n", q ? "deflate" : "inflate", n, gpa,
	      nb);
	fb_post(v, q, b, nb);
}

static void op_report(struct fb *v, struct rd *r)
{
	uint8_t how = rd8(r);
	unsigned int nb = 0, n = how % 3 + 1;
	unsigned int q = how & 0x40 ? 3 : 2;
	struct vdrv_buf b[4];

	if (how & 0x80)   /* a device-readable buffer first: a violation */
		b[nb++] = (struct vdrv_buf){ .gpa = FB_PFN_GPA, .len = 16 };
	for (unsigned int i = 0; i < n; i++) {
		uint8_t k = rd8(r);
		uint64_t gpa;
		uint32_t len;

		switch (k % 4) {
		case 0:
		case 1:
			gpa = FB_WORK_GPA + (uint64_t)(rd16(r) % FB_WORK_PAGES) * FB_PAGE +
			      (k & 0x10 ? rd16(r) % FB_PAGE : 0);
			break;
		case 2:
			gpa = v->hp + rd_le(r, 3);
			break;
		default:
			gpa = rd32(r) | (k & 0x10 ? v->hi_start : 0);
			break;
		}
		len = k & 0x20 ? rd32(r) % (8u << 20) : (uint32_t)(rd8(r) + 1) * (uint32_t)FB_PAGE;
		b[nb++] = (struct vdrv_buf){ .gpa = gpa, .len = len, .device_writes = true };
	}
	TRACE("report on %u: %u buffers\n", q, nb);
	fb_post(v, q, b, nb);
}

static void op_stats(struct fb *v, struct rd *r)
{
	uint8_t raw[8 * BAL_STAT_BYTES + BAL_STAT_BYTES];
	uint8_t how = rd8(r);
	unsigned int n = how % 9, tail = rd8(r) % BAL_STAT_BYTES;
	struct vdrv_buf b = { .gpa = FB_STATS_GPA + (how & 0x10 ? 0x1000 : 0),
			      .len = n * BAL_STAT_BYTES + tail, .device_writes = how & 0x80 };

	for (unsigned int i = 0; i < sizeof(raw); i++)
		raw[i] = i < n * BAL_STAT_BYTES ? 0 : 0xee;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t tag = htole16(rd8(r) % 20);
		uint64_t val = htole64(rd64(r));

		memcpy(raw + i * BAL_STAT_BYTES, &tag, 2);
		memcpy(raw + i * BAL_STAT_BYTES + 2, &val, 8);
	}
	CHECK(mem_write(&v->f.mem, b.gpa, raw, sizeof(raw)) == 0, "stats buffer");
	TRACE("stats: %u entries + %u bytes%s\n", n, tail, b.device_writes ? ", writable" : "");
	fb_post(v, how & 0x40 ? 3 : 2, &b, 1);
}

static void op_target(struct fb *v, struct rd *r)
{
	uint8_t how = rd8(r);
	uint64_t bytes = how < 0xf0 ? (uint64_t)(rd32(r) % (v->ram / FB_PAGE + 16)) * FB_PAGE :
		rd64(r);
	bool ok = bytes % FB_PAGE == 0 && bytes <= v->ram && bytes / FB_PAGE <= UINT32_MAX;
	struct balloon_status st;
	int ret = virtio_balloon_set_target(v->b, bytes);

	virtio_balloon_get_status(v->b, &st);
	CHECK((ret == 0) == ok, "set_target(%" PRIu64 "): %d", bytes, ret);
	CHECK(!ok || st.target == bytes, "target %" PRIu64 " after set_target(%" PRIu64 ")",
	      st.target, bytes);
}

static void empty_check(struct fb *v, const char *what)
{
	struct balloon_status st;

	virtio_balloon_get_status(v->b, &st);
	CHECK(st.inflated == 0 && st.given_back == 0 && st.actual == 0 && !st.stats_held,
	      "after %s: inflated %" PRIu64 ", given back %" PRIu64 ", actual %" PRIu64, what,
	      st.inflated, st.given_back, st.actual);
}

static void op_driver_reset(struct fb *v, struct rd *r)
{
	uint8_t how = rd8(r);
	uint64_t want = (how & 1 ? F_STATS : 0) | (how & 2 ? F_OOM : 0) |
			(how & 4 ? F_REPORTING : 0) |
			(how & 8 ? 1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST : 0);

	if (vdrv_reset(&v->d) == 0)
		empty_check(v, "a driver reset");
	if (how & 0x80)
		return;   /* stays reset */
	(void)vdrv_negotiate(&v->d, want | 1ull << VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; q < (how >> 4 & 7) && q < VDRV_MAX_QUEUES; q++)
		(void)vdrv_queue_setup(&v->d, q, (uint16_t)(how & 0x40 ? 2 : 0), VIRTIO_MSI_NO_VECTOR);
	(void)vdrv_driver_ok(&v->d);
}

static void op_machine_reset(struct fb *v)
{
	struct balloon_status st;
	int ret;

	virtio_balloon_device_ops.reset(v->b);
	empty_check(v, "a machine reset");
	virtio_balloon_get_status(v->b, &st);
	CHECK(st.target == v->bc.target && st.stats_valid == 0 && st.driver_status == 0,
	      "machine reset: target %" PRIu64 ", status %#x", st.target, st.driver_status);
	ret = fb_bringup(v, offered(v), queues_for(offered(v)));
	CHECK(ret == 0, "bring-up after a machine reset: %d: %s", ret, v->d.err);
}

static void op_save(struct fb *v, struct rd *r, struct snap *s)
{
	static uint8_t blob[FB_BLOB_BYTES];
	uint8_t flips = rd8(r) % 5;
	size_t len = sizeof(blob);
	bool same = true;
	int ret;

	snap_take(v, s);
	ret = virtio_balloon_device_ops.save(v->b, blob, &len);
	CHECK(ret == 0 && len <= sizeof(blob), "save: %d (%zu bytes)", ret, len);
	for (unsigned int i = 0; i < flips; i++) {
		size_t at = rd_le(r, 3) % len;
		uint8_t x = rd8(r);

		blob[at] ^= x;
		same = same && !x;
	}
	ret = virtio_balloon_device_ops.restore(v->b, blob, len);
	TRACE("restore with %u flips: %d\n", flips, ret);
	CHECK(ret == 0 || !same, "restore of its own save: %d", ret);
	if (same || ret)
		snap_same(v, s, !ret, ret);
}

/* The stats timer fires now (its interval stays), then the main loop runs. */
static void op_tick(struct fb *v)
{
	const struct itimerspec its = {
		.it_value = { .tv_nsec = 1 },
		.it_interval = { .tv_sec = v->bc.stats_interval_s },
	};
	struct pollfd p = { .fd = v->b->timer_fd, .events = POLLIN };
	struct balloon_status st;

	if (v->b->timer_fd < 0)
		return;
	CHECK(timerfd_settime(v->b->timer_fd, 0, &its, NULL) == 0, "timerfd_settime");
	while (poll(&p, 1, 100) < 0 && errno == EINTR)
		;
	(void)fake_ctx_run_loop(&v->f);
	virtio_balloon_get_status(v->b, &st);
	CHECK(!st.stats_held || !(st.driver_status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	      (st.driver_status & VIRTIO_CONFIG_S_NEEDS_RESET), "a tick kept the stats buffer");
}

/* A notify of any queue index, at the address the device gives it. */
static void op_notify(struct fb *v, struct rd *r)
{
	uint8_t how = rd8(r);
	unsigned int q = how % 6;
	uint32_t noff;

	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	noff = vdrv_common_read(&v->d, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	fake_mmio_write(&v->f, vdrv_region_addr(&v->d, &v->d.notify, noff * v->d.notify_mult),
			how & 0x80 ? 4 : 2, q);
	(void)fake_ctx_run_loop(&v->f);
}

static void op(struct fb *v, struct rd *r, const uint8_t *img, size_t ilen, struct snap *s)
{
	op_begin(v);
	switch (rd8(r) % 14) {
	case 0:
		op_pfns(v, r, 0);
		break;
	case 1:
		op_pfns(v, r, 1);
		break;
	case 2:
		op_report(v, r);
		break;
	case 3:
		op_stats(v, r);
		break;
	case 4: {
		uint8_t how = rd8(r);
		struct balloon_status s0, s1;

		virtio_balloon_get_status(v->b, &s0);
		vdrv_cfg_write(&v->d, how % 8, 1u << (how >> 3 & 1 ? 2 : how >> 4 & 1), rd32(r));
		virtio_balloon_get_status(v->b, &s1);
		CHECK(s1.target == s0.target, "a driver write changed num_pages");
		/* What the driver reads back (BAR 4 mapped and decoding): what the device says. */
		if (how & 0x80) {
			struct virtio_balloon_config c;

			if (!vdrv_balloon_config(&v->d, &c, NULL) && c.num_pages != UINT32_MAX)
				CHECK((uint64_t)c.num_pages * FB_PAGE == s1.target &&
				      (uint64_t)c.actual * FB_PAGE == s1.actual,
				      "config reads num_pages %u, actual %u", c.num_pages, c.actual);
		}
		break;
	}
	case 5:
		op_target(v, r);
		break;
	case 6:
		op_driver_reset(v, r);
		break;
	case 7:
		op_machine_reset(v);
		break;
	case 8:
		op_save(v, r, s);
		break;
	case 9:
		op_tick(v);
		break;
	case 10:
		op_notify(v, r);
		break;
	case 11: {   /* poke: the driver's area mostly */
		uint8_t how = rd8(r);
		uint64_t gpa = how & 1 ? rd_le(r, 3) : rd_le(r, 3) % FB_DRIVER_AREA;
		uint64_t val = rd64(r);

		(void)!mem_write(&v->f.mem, gpa, &val, how % 8 + 1);
		break;
	}
	case 12:
		image_load(&v->f.mem, img, ilen);
		break;
	default: {   /* a common configuration write, any field and width */
		uint64_t off = rd8(r) % 0x40;
		unsigned int size = rd_size(r);

		fake_mmio_write(&v->f, vdrv_region_addr(&v->d, &v->d.common, (unsigned int)off),
				size, rd64(r));
		break;
	}
	}
	invariants(v);
}

/* The end of every input: a fresh bring-up works, a page goes in and out, own save restores. */
static void fb_final(struct fb *v, struct snap *s)
{
	const uint32_t pfn = (uint32_t)(FB_WORK_GPA / FB_PAGE) + 7;
	uint32_t used;
	int ret;

	/*
	 * BARs back where the first bring-up found them: a restored blob (bit
	 * flips included) may move them anywhere a guest could, mappable or not.
	 */
	fake_cfg_write(&v->f, (unsigned int)v->d.slot, PCI_COMMAND, 2, 0);
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		fake_cfg_write(&v->f, (unsigned int)v->d.slot, PCI_BASE_ADDRESS_0 + 4 * i, 4,
			       v->bars[i]);
	fake_cfg_write(&v->f, (unsigned int)v->d.slot, PCI_COMMAND, 2,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ret = fb_bringup(v, offered(v), queues_for(offered(v)));
	CHECK(ret == 0, "bring-up after the script: %d: %s", ret, v->d.err);
	empty_check(v, "the final bring-up's reset");
	op_begin(v);
	ret = vdrv_balloon_pfns(&v->d, 0, &pfn, 1, &used);
	CHECK(ret == 0 && used == 0, "inflate after a fresh bring-up: %d: %s", ret, v->d.err);
	virtio_pci_lock(v->b->vp);
	/* One region at 0 (or the low one of two): the page's bit is its PFN. */
	CHECK(v->b->inflated_pages == 1 && bitmap_test(v->b->pages, pfn),
	      "the page is not in the balloon");
	virtio_pci_unlock(v->b->vp);
	invariants(v);
	ret = vdrv_balloon_pfns(&v->d, 1, &pfn, 1, &used);
	CHECK(ret == 0 && v->b->inflated_pages == 0, "deflate after a fresh bring-up: %d: %s", ret,
	      v->d.err);
	op_begin(v);
	{
		struct rd none = { NULL, 0 };

		op_save(v, &none, s);
	}
	invariants(v);
}

static void fb_run(uint8_t mode, const uint8_t *script, size_t slen, const uint8_t *img,
		   size_t ilen)
{
	static struct fb v;
	static const enum mem_populate_strategy pop[] = {
		MEM_POPULATE_NONE, MEM_POPULATE_AUTO, MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE,
	};
	const bool two = (mode & 0xf0) == 0xc0;
	const uint64_t ram = two ? MEM_MMIO_HOLE_START + FB_RAM_HIGH : FB_RAM_ONE;
	const struct fake_ctx_config fc = { .ram_bytes = ram, .hotplug_bytes = FB_HOTPLUG,
					    .pci = true };
	const struct vdrv_machine m = vdrv_fake_machine(&v.f);
	const struct vdrv_config dc = { .scratch_gpa = 0, .scratch_bytes = FB_PFN_GPA,
					.poll_rounds = FB_DRIVER_ROUNDS };
	struct rd r = { script, slen };
	struct snap s;
	unsigned int hp_index;
	void *state;
	int ret;

	memset(&v, 0, sizeof(v));
	v.ram = ram;
	v.lo_end = two ? MEM_MMIO_HOLE_START : ram;
	v.hi_start = two ? MEM_HIGH_RAM_START : ram;
	v.bc = (struct balloon_config){
		.stats = mode & 2, .free_page_reporting = mode & 4, .deflate_on_oom = mode & 8,
		.populate = pop[mode >> 4 & 3], .populate_threads = 1,
		.stats_interval_s = mode & 2 ? 1 : 0,
	};
	fake_ctx_init(&v.f, &fc);
	if (mode & 1) {
		const struct mem_config mc = { .size = ram, .backend = &mem_backend_memfd };

		mem_destroy(&v.f.mem);
		v.f.mem_ready = false;
		CHECK(mem_create(&v.f.mem, &mc, -1, NULL) == 0, "memfd boot RAM");
		v.f.mem_ready = true;
	}
	fake_ctx_add_hotplug(&v.f, NULL, &hp_index);
	v.hp = v.f.mem.region[hp_index].gpa;
	ret = virtio_balloon_device_ops.create(&v.f.ctx, &v.bc, &state);
	CHECK(ret == 0, "create: %d", ret);
	v.b = state;
	v.words = bitmap_words(v.b->map_bits);
	v.given0 = calloc(v.words, sizeof(uint64_t));
	s.pages = calloc(v.words, sizeof(uint64_t));
	CHECK(v.given0 && s.pages, "calloc");
	CHECK(vdrv_init(&v.d, &m, &dc) == 0, "vdrv_init: %s", v.d.err);
	ret = fb_bringup(&v, offered(&v), queues_for(offered(&v)));
	CHECK(ret == 0, "first bring-up: %d: %s", ret, v.d.err);
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		v.bars[i] = fake_cfg_read(&v.f, (unsigned int)v.d.slot, PCI_BASE_ADDRESS_0 + 4 * i, 4);
	while (r.n)
		op(&v, &r, img, ilen, &s);
	if (fuzz_tracing()) {
		struct balloon_status st;

		virtio_balloon_get_status(v.b, &st);
		TRACE("end: inflated %" PRIu64 " (in %" PRIu64 ", out %" PRIu64 "), given back %"
		      PRIu64 ", %" PRIu64 " discards, reported %" PRIu64 ", bad %" PRIu64
		      ", hotplug %" PRIu64 ", dup %" PRIu64 ", stats %" PRIu64 ", ignored %" PRIu64
		      ", violation %s\n", st.inflated, st.inflated_total, st.deflated_total,
		      st.given_back, st.discards, st.reported, st.bad_pfns, st.hotplug_pfns,
		      st.dup_pfns, st.stats_updates, st.ignored_notifies,
		      st.last_violation ? st.last_violation : "-");
	}
	fb_final(&v, &s);
	virtio_balloon_device_ops.destroy(v.b);
	fake_ctx_destroy(&v.f);
	free(s.pages);
	free(v.given0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;

	if (fuzz_input_split(data, size, &in))
		fb_run(in.mode, in.script, in.slen, in.img, in.ilen);
	return 0;
}
