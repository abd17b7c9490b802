// SPDX-License-Identifier: MIT
/*
 * memvmm's virtio-balloon driven by the independent spec-only driver
 * (tests/virtio_driver.h) on a fake machine; see
 * tests/test_virtio_balloon_driver.h. Each case is its own Meson test.
 * Section numbers are the virtio 1.2 spec's.
 */
#include "tests/test_virtio_balloon_driver.h"

#include <endian.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "tests/e2e.h"
#include "tests/vdrv_fake.h"

/* ---- rig ---- */

void brig_machine(struct brig *r, const struct brig_opts *o)
{
	const struct fake_ctx_config fc = { .ram_bytes = RAM_BYTES,
					    .hotplug_bytes = o->hotplug ? HOTPLUG_BYTES : 0,
					    .pci = true };
	const struct vdrv_machine m = vdrv_fake_machine(&r->f);
	const struct vdrv_config dc = { .scratch_gpa = SCRATCH_GPA, .scratch_bytes = SCRATCH_BYTES };

	memset(r, 0, sizeof(*r));
	r->q_stats = r->q_report = NO_QUEUE;
	fake_ctx_init(&r->f, &fc);
	if (o->backend && o->backend != &mem_backend_anon) {
		/* fake_ctx makes anon boot RAM: the same layout again on o->backend. */
		const struct mem_config mc = { .size = RAM_BYTES, .backend = o->backend };

		mem_destroy(&r->f.mem);
		memset(&r->f.mem, 0, sizeof(r->f.mem));
		TEST_OK(mem_create(&r->f.mem, &mc, -1, NULL));
	}
	if (o->hotplug) {
		fake_ctx_add_hotplug(&r->f, NULL, &r->hotplug);
		r->has_hotplug = true;
		r->hotplug_gpa = r->f.layout.hotplug_gpa;
	}
	TEST_OK(virtio_balloon_device_ops.create(&r->f.ctx, &o->bc, &r->dev));
	TEST_OK(vdrv_init(&r->d, &m, &dc));
	/* The driver's RAM is resident from the start: meters then see the balloon only. */
	brig_touch(r, SCRATCH_GPA, SCRATCH_BYTES, 0);
}

void brig_init(struct brig *r, uint64_t want, uint16_t vector)
{
	unsigned int q = 2;

	DRV_OK(r, vdrv_negotiate(&r->d, want));
	DRV_OK(r, vdrv_queue_setup(&r->d, 0, 0, vector));
	DRV_OK(r, vdrv_queue_setup(&r->d, 1, 0, vector));
	/* Queues numbered consecutively over the negotiated features (devices/virtio_balloon.h). */
	r->q_stats = r->q_report = NO_QUEUE;
	if (r->d.drv_features & F_STATS) {
		r->q_stats = q++;
		DRV_OK(r, vdrv_queue_setup(&r->d, r->q_stats, 0, vector));
	}
	if (r->d.drv_features & F_REPORTING) {
		r->q_report = q++;
		DRV_OK(r, vdrv_queue_setup(&r->d, r->q_report, 0, vector));
	}
	DRV_OK(r, vdrv_driver_ok(&r->d));
}

void brig_up(struct brig *r, const struct brig_opts *o, uint64_t want)
{
	brig_machine(r, o);
	DRV_OK(r, vdrv_find(&r->d, MACHINE_PCI_VIRTIO_VENDOR, BALLOON_PCI_ID));
	DRV_OK(r, vdrv_bars_probe(&r->d));
	vdrv_command(&r->d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
	DRV_OK(r, vdrv_caps_parse(&r->d));
	brig_init(r, want, VIRTIO_MSI_NO_VECTOR);
}

void brig_down(struct brig *r)
{
	virtio_balloon_device_ops.destroy(r->dev);
	fake_ctx_destroy(&r->f);
}

struct balloon_status brig_status(struct brig *r)
{
	struct balloon_status st;

	memset(&st, 0, sizeof(st));
	virtio_balloon_get_status(r->dev, &st);
	return st;
}

bool brig_needs_reset(struct brig *r)
{
	return vdrv_status(&r->d) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

void brig_pfns(struct brig *r, unsigned int q, const uint32_t *pfns, unsigned int n)
{
	uint32_t used_len = 0xeeeeeeee;

	DRV_OK(r, vdrv_balloon_pfns(&r->d, q, pfns, n, &used_len));
	/* §2.7.8: len is what the device wrote; it writes nothing into PFN arrays. */
	TEST_ASSERT(used_len == 0, "queue %u: used len %u for a device-readable buffer", q,
		    used_len);
	TEST_ASSERT(!brig_needs_reset(r), "queue %u: NEEDS_RESET after %u PFNs (%s)", q, n,
		    brig_status(r).last_violation ? brig_status(r).last_violation : "?");
}

static void pages(struct brig *r, unsigned int q, uint64_t gpa, unsigned int n)
{
	uint32_t pfns[VDRV_BALLOON_MAX_PFNS];

	for (unsigned int done = 0; done < n;) {
		unsigned int k = n - done < VDRV_BALLOON_MAX_PFNS ? n - done : VDRV_BALLOON_MAX_PFNS;

		for (unsigned int i = 0; i < k; i++)
			pfns[i] = (uint32_t)((gpa >> 12) + done + i);
		brig_pfns(r, q, pfns, k);
		done += k;
	}
}

void brig_inflate(struct brig *r, uint64_t gpa, unsigned int n)
{
	pages(r, 0, gpa, n);
}

void brig_deflate(struct brig *r, uint64_t gpa, unsigned int n)
{
	pages(r, 1, gpa, n);
}

void brig_touch(struct brig *r, uint64_t gpa, uint64_t len, uint8_t byte)
{
	uint8_t buf[PAGE];

	memset(buf, byte, sizeof(buf));
	for (uint64_t off = 0; off < len; off += PAGE)
		TEST_OK(mem_write(&r->f.mem, gpa + off, buf, len - off < PAGE ? len - off : PAGE));
}

bool brig_reads(struct brig *r, uint64_t gpa, uint64_t len, uint8_t byte)
{
	uint8_t buf[PAGE];

	for (uint64_t off = 0; off < len; off += PAGE) {
		size_t k = len - off < PAGE ? len - off : PAGE;

		TEST_OK(mem_read(&r->f.mem, gpa + off, buf, k));
		for (size_t i = 0; i < k; i++)
			if (buf[i] != byte)
				return false;
	}
	return true;
}

uint64_t host_resident(struct brig *r, uint64_t gpa, uint64_t len)
{
	unsigned char vec[RUN_PAGES * 16];
	uint8_t *hva = mem_gpa_to_hva(&r->f.mem, gpa, len);
	uint64_t n = len / PAGE, bytes = 0;

	TEST_ASSERT(hva && !(gpa % PAGE) && !(len % PAGE) && n <= sizeof(vec),
		    "meter over [0x%" PRIx64 ", +0x%" PRIx64 ")", gpa, len);
	TEST_ASSERT(mincore(hva, len, vec) == 0, "mincore");
	for (uint64_t i = 0; i < n; i++)
		bytes += vec[i] & 1 ? PAGE : 0;
	return bytes;
}

uint64_t host_file_bytes(struct brig *r, uint64_t gpa)
{
	struct stat sb;

	for (unsigned int i = 0; i < r->f.mem.nr_regions; i++) {
		const struct mem_region *m = &r->f.mem.region[i];

		if (mem_region_in_use(m) && gpa >= m->gpa && gpa - m->gpa < m->size) {
			TEST_ASSERT(m->fd >= 0, "region at 0x%" PRIx64 " has no file", m->gpa);
			TEST_ASSERT(fstat(m->fd, &sb) == 0, "fstat");
			return (uint64_t)sb.st_blocks * 512;
		}
	}
	TEST_ASSERT(false, "no region at 0x%" PRIx64, gpa);
	return 0;
}

uint64_t brig_msis(struct brig *r, uint64_t addr, uint32_t data)
{
	return vdrv_fake_msis(&r->f, &r->msi_sent_seen, addr, data);
}

unsigned int brig_intx_line(struct brig *r)
{
	return vdrv_conf_read(&r->d, (unsigned int)r->d.slot, PCI_INTERRUPT_LINE, 1);
}

static bool is_memfd(const void *arg)
{
	return arg == &mem_backend_memfd;
}

/* ---- discovery ---- */

static void run_discover(const void *arg)
{
	static const struct {
		bool stats, reporting, oom;
	} cfgs[] = { { false, false, false }, { true, false, false }, { false, true, false },
		     { true, true, true } };
	(void)arg;

	for (unsigned int c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		const struct brig_opts o = { .bc = { .stats = cfgs[c].stats,
						     .free_page_reporting = cfgs[c].reporting,
						     .deflate_on_oom = cfgs[c].oom,
						     .stats_interval_s = 0 } };
		uint64_t want_f = F_VERSION_1 | (cfgs[c].stats ? F_STATS : 0) |
				  (cfgs[c].reporting ? F_REPORTING : 0) | (cfgs[c].oom ? F_OOM : 0);
		unsigned int nq = 2 + cfgs[c].stats + cfgs[c].reporting;
		struct brig r;
		struct vdrv *d = &r.d;
		uint64_t f;
		uint32_t v;

		brig_machine(&r, &o);
		DRV_OK(&r, vdrv_find(d, MACHINE_PCI_VIRTIO_VENDOR, BALLOON_PCI_ID));
		/* §4.1.2: vendor 0x1af4, device 0x1040 + 5; non-transitional SHOULDs. */
		v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_VENDOR_ID, 4);
		TEST_ASSERT(v == (0x1045u << 16 | 0x1af4u), "IDs 0x%08x", v);
		v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_REVISION_ID, 1);
		TEST_ASSERT(v >= 1, "revision %u (SHOULD be >= 1)", v);
		v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_SUBSYSTEM_ID, 2);
		TEST_ASSERT(v >= 0x40, "subsystem ID 0x%x (SHOULD be >= 0x40)", v);
		DRV_OK(&r, vdrv_bars_probe(d));
		vdrv_command(d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
		DRV_OK(&r, vdrv_caps_parse(d));
		TEST_ASSERT(d->msix_cap && d->msix_vectors >= 2, "MSI-X: cap 0x%x, %u vectors",
			    d->msix_cap, d->msix_vectors);
		TEST_ASSERT(d->devcfg.present && d->devcfg.len >= 8,
			    "device configuration of %u bytes (num_pages, actual: 8)", d->devcfg.len);
		DRV_OK(&r, vdrv_features_read(d, &f));
		TEST_ASSERT(f == want_f, "config %u: features 0x%" PRIx64 ", want 0x%" PRIx64, c, f,
			    want_f);
		TEST_ASSERT(!(f & (F_TELL_HOST | F_HINT | F_POISON)), "offers 0x%" PRIx64, f);
		v = vdrv_common_read(d, VIRTIO_PCI_COMMON_NUMQ, 2);
		TEST_ASSERT(v == nq, "config %u: num_queues %u, want %u", c, v, nq);
		for (unsigned int q = 0; q < nq + 2; q++) {
			vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
			v = vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
			/* §4.1.4.3: queue_size 0 for a queue that is not there. */
			if (q < nq)
				TEST_ASSERT(v && !(v & (v - 1)) && v <= 32768,
					    "queue %u: size %u", q, v);
			else
				TEST_ASSERT(v == 0, "queue %u of %u: size %u", q, nq, v);
		}
		brig_init(&r, want_f, VIRTIO_MSI_NO_VECTOR);
		TEST_ASSERT(brig_status(&r).features == want_f, "status: features 0x%" PRIx64,
			    brig_status(&r).features);
		brig_down(&r);
	}
	TEST_PASS("1af4:1045, caps, features per config (never MUST_TELL_HOST/HINT/POISON), queues");
}

/* ---- feature negotiation (§2.2, §3.1.1, §5.5.3) ---- */

/* Raw §3.1.1 with exactly acc; true if FEATURES_OK stuck. */
static bool features_ok_raw(struct brig *r, uint64_t acc)
{
	struct vdrv *d = &r->d;
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	DRV_OK(r, vdrv_reset(d));
	vdrv_status_set(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_set(d, st);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)acc);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(acc >> 32));
	vdrv_status_set(d, st | VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

static void run_features(const void *arg)
{
	struct brig_opts o = { .bc = { .deflate_on_oom = true } };
	struct brig r;
	(void)arg;

	/* Offered: a driver may take DEFLATE_ON_OOM or leave it; FEATURES_OK either way. */
	brig_up(&r, &o, F_VERSION_1 | F_OOM);
	TEST_ASSERT(r.d.dev_features & F_OOM, "DEFLATE_ON_OOM not offered with deflate_on_oom");
	TEST_ASSERT(brig_status(&r).features == (F_VERSION_1 | F_OOM), "features 0x%" PRIx64,
		    brig_status(&r).features);
	brig_inflate(&r, WORK_GPA, 8);
	brig_init(&r, F_VERSION_1, VIRTIO_MSI_NO_VECTOR);
	TEST_ASSERT(brig_status(&r).features == F_VERSION_1, "features 0x%" PRIx64,
		    brig_status(&r).features);
	brig_inflate(&r, WORK_GPA, 8);
	/* §2.2.1: accepting what was not offered is no valid subset. */
	TEST_ASSERT(!features_ok_raw(&r, F_VERSION_1 | F_TELL_HOST), "MUST_TELL_HOST accepted");
	TEST_ASSERT(!features_ok_raw(&r, F_VERSION_1 | F_HINT), "FREE_PAGE_HINT accepted");
	TEST_ASSERT(!features_ok_raw(&r, F_VERSION_1 | F_POISON), "PAGE_POISON accepted");
	/* devices/virtio_pci.h: VERSION_1 is required. */
	TEST_ASSERT(!features_ok_raw(&r, F_OOM), "FEATURES_OK without VERSION_1");
	TEST_ASSERT(features_ok_raw(&r, F_VERSION_1 | F_OOM), "FEATURES_OK refused for an offer");
	brig_down(&r);

	/* Not offered: never; a driver that takes it anyway fails FEATURES_OK. */
	o.bc.deflate_on_oom = false;
	brig_up(&r, &o, F_ALL);
	TEST_ASSERT(!(r.d.dev_features & F_OOM), "DEFLATE_ON_OOM offered without deflate_on_oom");
	TEST_ASSERT(r.d.drv_features == F_VERSION_1, "negotiated 0x%" PRIx64, r.d.drv_features);
	TEST_ASSERT(!features_ok_raw(&r, F_VERSION_1 | F_OOM), "unoffered DEFLATE_ON_OOM accepted");
	TEST_ASSERT(!features_ok_raw(&r, F_VERSION_1 | F_STATS), "unoffered STATS_VQ accepted");
	brig_init(&r, F_ALL, VIRTIO_MSI_NO_VECTOR);
	brig_inflate(&r, WORK_GPA, 8);
	brig_down(&r);
	TEST_PASS("DEFLATE_ON_OOM offered iff configured, optional for the driver; no unoffered bit");
}

/* ---- inflate (§5.5.6) ---- */

static void run_inflate(const void *arg)
{
	const struct brig_opts o = { .backend = arg, .bc = { .populate = MEM_POPULATE_NONE } };
	const uint64_t spread = WORK_GPA + 4 * RUN_BYTES;   /* every other page of a run */
	uint32_t pfns[RUN_PAGES];
	struct balloon_status st0, st;
	uint64_t file0 = 0, res;
	struct brig r;

	brig_up(&r, &o, F_ALL);
	brig_touch(&r, WORK_GPA, RUN_BYTES, 0x5a);
	brig_touch(&r, spread, RUN_BYTES, 0x6b);
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES) == RUN_BYTES, "run not resident");
	if (is_memfd(arg))
		file0 = host_file_bytes(&r, WORK_GPA);

	/* A whole 2 MiB run, PFNs in reverse order in one buffer: one discard (batched). */
	st0 = brig_status(&r);
	for (unsigned int i = 0; i < RUN_PAGES; i++)
		pfns[i] = (uint32_t)((WORK_GPA >> 12) + RUN_PAGES - 1 - i);
	brig_pfns(&r, 0, pfns, RUN_PAGES);
	st = brig_status(&r);
	res = host_resident(&r, WORK_GPA, RUN_BYTES);
	TEST_ASSERT(res == 0, "%" PRIu64 " KiB of the inflated run still resident (mincore)",
		    res >> 10);
	if (is_memfd(arg))
		TEST_ASSERT(file0 - host_file_bytes(&r, WORK_GPA) >= RUN_BYTES,
			    "memfd st_blocks fell by %" PRIu64 " KiB, inflated 2048 KiB",
			    (file0 - host_file_bytes(&r, WORK_GPA)) >> 10);
	TEST_ASSERT(st.inflated - st0.inflated == RUN_BYTES, "inflated +%" PRIu64 " bytes",
		    st.inflated - st0.inflated);
	TEST_ASSERT(st.discards - st0.discards == 1, "%" PRIu64 " discards for one run",
		    st.discards - st0.discards);
	TEST_ASSERT(st.given_back - st0.given_back == RUN_BYTES, "given_back +%" PRIu64,
		    st.given_back - st0.given_back);

	/* Every other page, through a chain of two buffers: those pages only. */
	for (unsigned int i = 0; i < RUN_PAGES / 2; i++)
		pfns[i] = (uint32_t)((spread >> 12) + 2 * i);
	{
		const struct vdrv_buf b[2] = {
			{ .gpa = TEST_BUF_GPA, .len = 4 * (RUN_PAGES / 4) },
			{ .gpa = TEST_BUF_GPA + 4 * (RUN_PAGES / 4), .len = 4 * (RUN_PAGES / 4) },
		};
		uint32_t le[RUN_PAGES / 2], used_len = 1;

		for (unsigned int i = 0; i < RUN_PAGES / 2; i++)
			le[i] = htole32(pfns[i]);
		TEST_OK(mem_write(&r.f.mem, TEST_BUF_GPA, le, sizeof(le)));
		DRV_OK(&r, vdrv_submit(&r.d, 0, b, 2, &used_len));
		TEST_ASSERT(used_len == 0, "used len %u", used_len);
	}
	TEST_ASSERT(!brig_needs_reset(&r), "NEEDS_RESET after a two-buffer chain");
	res = host_resident(&r, spread, RUN_BYTES);
	TEST_ASSERT(res == RUN_BYTES / 2, "%" PRIu64 " KiB resident of the half-inflated run, want"
		    " 1024", res >> 10);
	for (unsigned int i = 0; i < RUN_PAGES; i += 2)
		TEST_ASSERT(brig_reads(&r, spread + (i + 1) * PAGE, PAGE, 0x6b),
			    "page %u next to inflated ones changed", i + 1);
	TEST_ASSERT(brig_status(&r).inflated == RUN_BYTES * 3 / 2, "inflated %" PRIu64 " bytes",
		    brig_status(&r).inflated);

	/* §5.5.6: the driver updates actual once the device has used the buffers. */
	vdrv_balloon_actual_set(&r.d, RUN_PAGES * 3 / 2);
	{
		struct virtio_balloon_config c;

		DRV_OK(&r, vdrv_balloon_config(&r.d, &c, NULL));
		TEST_ASSERT(c.actual == RUN_PAGES * 3 / 2, "actual reads %u", c.actual);
	}
	TEST_ASSERT(brig_status(&r).actual == (uint64_t)RUN_PAGES * 3 / 2 * PAGE,
		    "status actual %" PRIu64 " bytes, driver wrote %u pages",
		    brig_status(&r).actual, RUN_PAGES * 3 / 2);
	brig_down(&r);
	TEST_PASS("inflate: chains used, pages gone from the host (mincore, st_blocks), "
		  "one discard per run");
}

/* ---- deflate ---- */

static void deflate_with(const struct mem_backend_ops *backend, enum mem_populate_strategy ps)
{
	const struct brig_opts o = { .backend = backend,
				     .bc = { .populate = ps, .populate_threads = 1 } };
	struct balloon_status st;
	struct brig r;
	uint64_t res;

	brig_up(&r, &o, F_VERSION_1);
	brig_touch(&r, WORK_GPA, RUN_BYTES, 0x77);
	brig_inflate(&r, WORK_GPA, RUN_PAGES);
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES) == 0, "inflated run resident");
	/* Half of it back. */
	brig_deflate(&r, WORK_GPA, RUN_PAGES / 2);
	st = brig_status(&r);
	TEST_ASSERT(st.inflated == RUN_BYTES / 2, "inflated %" PRIu64 " bytes after deflating"
		    " half", st.inflated);
	res = host_resident(&r, WORK_GPA, RUN_BYTES / 2);
	if (ps == MEM_POPULATE_NONE)
		TEST_ASSERT(res == 0, "populate none: %" PRIu64 " KiB resident before a touch",
			    res >> 10);
	else
		TEST_ASSERT(res == RUN_BYTES / 2, "populate %d: %" PRIu64 " KiB of 1024 resident"
			    " right after the deflate", ps, res >> 10);
	TEST_ASSERT(host_resident(&r, WORK_GPA + RUN_BYTES / 2, RUN_BYTES / 2) == 0,
		    "pages still in the balloon came back");
	/* Usable: written and read back. */
	brig_touch(&r, WORK_GPA, RUN_BYTES / 2, 0x99);
	TEST_ASSERT(brig_reads(&r, WORK_GPA, RUN_BYTES / 2, 0x99), "deflated pages not writable");
	TEST_ASSERT(host_resident(&r, WORK_GPA, RUN_BYTES / 2) == RUN_BYTES / 2,
		    "deflated pages not resident after a touch");
	brig_deflate(&r, WORK_GPA + RUN_BYTES / 2, RUN_PAGES / 2);
	TEST_ASSERT(brig_status(&r).inflated == 0, "inflated %" PRIu64, brig_status(&r).inflated);
	TEST_ASSERT(brig_status(&r).deflated_total == RUN_BYTES, "deflated_total %" PRIu64,
		    brig_status(&r).deflated_total);
	brig_down(&r);
}

static void run_deflate(const void *arg)
{
	deflate_with(arg, MEM_POPULATE_NONE);
	deflate_with(arg, MEM_POPULATE_MADVISE);
	TEST_PASS("deflate: used, usable again; repopulated with madvise, lazily with none");
}

/* ---- PFNs a device must survive ---- */

static void run_bad_pfns(const void *arg)
{
	const struct brig_opts o = { .backend = arg, .hotplug = true };
	const uint32_t keep_pfn = (uint32_t)((WORK_GPA >> 12) + 7);
	struct balloon_status st0, st;
	uint32_t pfns[8], used_len;
	struct brig r;

	brig_up(&r, &o, F_ALL);
	brig_touch(&r, WORK_GPA, RUN_BYTES, 0x31);
	brig_touch(&r, r.hotplug_gpa, RUN_BYTES, 0x42);
	st0 = brig_status(&r);

	/* Outside RAM: all ones, just past boot RAM, the MMIO hole (LAPIC), past hotplug. */
	pfns[0] = 0xffffffffu;
	pfns[1] = (uint32_t)(RAM_BYTES >> 12);
	pfns[2] = (uint32_t)(MACHINE_LAPIC_BASE >> 12);
	pfns[3] = (uint32_t)((r.hotplug_gpa + HOTPLUG_BYTES) >> 12);
	brig_pfns(&r, 0, pfns, 4);
	brig_pfns(&r, 1, pfns, 4);
	st = brig_status(&r);
	TEST_ASSERT(st.bad_pfns - st0.bad_pfns == 8, "bad_pfns +%" PRIu64 ", want 8",
		    st.bad_pfns - st0.bad_pfns);
	TEST_ASSERT(st.inflated == 0, "inflated %" PRIu64 " after bad PFNs", st.inflated);

	/* In the hotplug region: virtio-mem's memory, ignored and left alone. */
	pfns[0] = (uint32_t)(r.hotplug_gpa >> 12);
	pfns[1] = pfns[0] + 1;
	brig_pfns(&r, 0, pfns, 2);
	TEST_ASSERT(brig_status(&r).hotplug_pfns - st.hotplug_pfns == 2, "hotplug_pfns +%" PRIu64,
		    brig_status(&r).hotplug_pfns - st.hotplug_pfns);
	TEST_ASSERT(brig_reads(&r, r.hotplug_gpa, 2 * PAGE, 0x42), "hotplug memory was discarded");

	/* Duplicates: twice in one buffer, again later, deflating what is not in. */
	st0 = brig_status(&r);
	pfns[0] = pfns[1] = (uint32_t)(WORK_GPA >> 12);
	brig_pfns(&r, 0, pfns, 2);
	brig_pfns(&r, 0, pfns, 1);
	pfns[0] = (uint32_t)(WORK_GPA >> 12) + 100;
	brig_pfns(&r, 1, pfns, 1);
	st = brig_status(&r);
	TEST_ASSERT(st.inflated - st0.inflated == PAGE, "inflated +%" PRIu64 " bytes for one page",
		    st.inflated - st0.inflated);
	TEST_ASSERT(st.dup_pfns - st0.dup_pfns == 3, "dup_pfns +%" PRIu64 ", want 3",
		    st.dup_pfns - st0.dup_pfns);
	TEST_ASSERT(host_resident(&r, WORK_GPA, PAGE) == 0, "the duplicated page is resident");

	/*
	 * A trailing partial PFN: 6 bytes (one PFN and half of keep_pfn). The
	 * two bytes past the buffer are 0, so a device reading 4 would take
	 * keep_pfn itself.
	 */
	{
		const uint32_t le[2] = { htole32((uint32_t)(WORK_GPA >> 12) + 2), htole32(keep_pfn) };
		const struct vdrv_buf b = { .gpa = TEST_BUF_GPA, .len = 6 };

		_Static_assert(((WORK_GPA >> 12) + 7) >> 16 == 0, "keep_pfn fits in two bytes");
		TEST_OK(mem_write(&r.f.mem, TEST_BUF_GPA, le, sizeof(le)));
		DRV_OK(&r, vdrv_submit(&r.d, 0, &b, 1, &used_len));
		TEST_ASSERT(used_len == 0, "used len %u", used_len);
	}
	TEST_ASSERT(!brig_needs_reset(&r), "NEEDS_RESET after a partial PFN");
	TEST_ASSERT(host_resident(&r, WORK_GPA + 2 * PAGE, PAGE) == 0, "whole PFN not inflated");
	TEST_ASSERT(host_resident(&r, (uint64_t)keep_pfn << 12, PAGE) == PAGE &&
		    brig_reads(&r, (uint64_t)keep_pfn << 12, PAGE, 0x31),
		    "the partial PFN's page was discarded");

	/* And a good inflate still works. */
	brig_inflate(&r, WORK_GPA + RUN_BYTES / 2, 16);
	TEST_ASSERT(host_resident(&r, WORK_GPA + RUN_BYTES / 2, 16 * PAGE) == 0,
		    "good inflate after bad PFNs left pages resident");
	TEST_ASSERT(brig_status(&r).inflated == (2 + 16) * PAGE, "inflated %" PRIu64 " bytes",
		    brig_status(&r).inflated);
	TEST_ASSERT(!brig_status(&r).needs_reset, "status needs_reset");
	brig_down(&r);
	TEST_PASS("bad, hotplug, duplicate and partial PFNs complete, counted, harmless");
}

/* ---- target: num_pages and the configuration change (§5.5.6, §4.1.4.5) ---- */

static void run_target(const void *arg)
{
	const struct brig_opts o = { .bc = { .target = 8ull << 20 } };
	struct virtio_balloon_config c;
	unsigned int line;
	struct brig r;
	struct vdrv *d = &r.d;
	uint8_t gen, g2, isr;
	(void)arg;

	brig_up(&r, &o, F_VERSION_1);
	DRV_OK(&r, vdrv_balloon_config(d, &c, &gen));
	TEST_ASSERT(c.num_pages == 2048 && c.actual == 0, "num_pages %u actual %u", c.num_pages,
		    c.actual);
	line = brig_intx_line(&r);
	(void)vdrv_isr(d);

	/* INTx (MSI-X off): ISR's configuration bit, the line, a new generation. */
	TEST_OK(virtio_balloon_set_target(r.dev, 16ull << 20));
	DRV_OK(&r, vdrv_balloon_config(d, &c, &g2));
	TEST_ASSERT(c.num_pages == 4096, "num_pages %u after a 16 MiB target", c.num_pages);
	TEST_ASSERT(g2 != gen, "config_generation %u unchanged by a new num_pages", g2);
	TEST_ASSERT(fake_irq_level(&r.f, line), "no INTx for a configuration change");
	isr = vdrv_isr(d);
	TEST_ASSERT(isr & ISR_CONFIG, "ISR 0x%x without the configuration bit", isr);
	TEST_ASSERT(!fake_irq_level(&r.f, line), "INTx high after reading ISR");
	TEST_ASSERT(brig_status(&r).target == 16ull << 20, "status target %" PRIu64,
		    brig_status(&r).target);

	/* Refused targets change nothing. */
	TEST_ASSERT(virtio_balloon_set_target(r.dev, PAGE + 1) == -EINVAL, "odd target taken");
	TEST_ASSERT(virtio_balloon_set_target(r.dev, RAM_BYTES + PAGE) == -EINVAL,
		    "target past RAM taken");
	DRV_OK(&r, vdrv_balloon_config(d, &c, NULL));
	TEST_ASSERT(c.num_pages == 4096, "num_pages %u after refused targets", c.num_pages);

	/* num_pages is the device's: a driver write is dropped. */
	vdrv_cfg_write(d, offsetof(struct virtio_balloon_config, num_pages), 4, 7);
	DRV_OK(&r, vdrv_balloon_config(d, &c, NULL));
	TEST_ASSERT(c.num_pages == 4096, "num_pages %u after a driver write", c.num_pages);

	/* MSI-X: the configuration vector, once per change. */
	DRV_OK(&r, vdrv_msix_entry_set(d, 0, MSI_ADDR, MSI_DATA_CONFIG, false));
	DRV_OK(&r, vdrv_msix_entry_set(d, 1, MSI_ADDR, MSI_DATA_QUEUE, false));
	DRV_OK(&r, vdrv_msix_control(d, true, false));
	DRV_OK(&r, vdrv_negotiate(d, F_VERSION_1));
	TEST_ASSERT(vdrv_config_vector(d, 0) == 0, "config_msix_vector 0 refused");
	DRV_OK(&r, vdrv_queue_setup(d, 0, 0, 1));
	DRV_OK(&r, vdrv_queue_setup(d, 1, 0, 1));
	DRV_OK(&r, vdrv_driver_ok(d));
	(void)brig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG);
	(void)brig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE);
	TEST_OK(virtio_balloon_set_target(r.dev, 4ull << 20));
	TEST_ASSERT(brig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 1, "config vector not raised once");
	DRV_OK(&r, vdrv_balloon_config(d, &c, NULL));
	TEST_ASSERT(c.num_pages == 1024, "num_pages %u after a 4 MiB target", c.num_pages);
	brig_inflate(&r, WORK_GPA, 4);
	TEST_ASSERT(brig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 1, "queue vector not raised once");
	TEST_ASSERT(brig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 0, "config vector for a used buffer");
	brig_down(&r);
	TEST_PASS("target in num_pages: generation, ISR/INTx and MSI-X config interrupts; "
		  "bad ones refused");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "discover", run_discover, NULL },
		{ "features", run_features, NULL },
		{ "inflate-anon", run_inflate, &mem_backend_anon },
		{ "inflate-memfd", run_inflate, &mem_backend_memfd },
		{ "deflate-anon", run_deflate, &mem_backend_anon },
		{ "deflate-memfd", run_deflate, &mem_backend_memfd },
		{ "bad-pfns-anon", run_bad_pfns, &mem_backend_anon },
		{ "bad-pfns-memfd", run_bad_pfns, &mem_backend_memfd },
		{ "target", run_target, NULL },
		{ "stats", run_stats, NULL },
		{ "reporting-anon", run_reporting, &mem_backend_anon },
		{ "reporting-memfd", run_reporting, &mem_backend_memfd },
		{ "report-queues", run_report_queues, NULL },
		{ "violations", run_violations, NULL },
		{ "ring-outside", run_ring_outside, NULL },
		{ "reset-anon", run_reset, &mem_backend_anon },
		{ "reset-memfd", run_reset, &mem_backend_memfd },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
