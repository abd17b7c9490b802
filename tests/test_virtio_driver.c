// SPDX-License-Identifier: MIT
/*
 * memvmm's virtio-mem over virtio-pci, driven by the independent driver of
 * tests/virtio_driver.h (written from the virtio 1.2 and PCI 3.0 specs
 * alone) on a fake machine (tests/fake_ctx.h): real buses, real guest
 * memory, real PCI host; KVM's interrupt services recorded. Each case is
 * its own Meson test.
 */
#include <endian.h>
#include <inttypes.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "devices/virtio_mem.h"
#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/test_virtio_driver.h"
#include "tests/vdrv_fake.h"
#include "tests/virtio_driver.h"

/* PCI 3.0 Appendix D: base class 06h (bridge), sub-class 00h (host bridge). */
#define PCI_CLASS_HOST_BRIDGE 0x0600u

/* The machine is fake_ctx as a vCPU sees it (tests/vdrv_fake.h). */

int rig_mem_read(void *o, uint64_t gpa, void *buf, size_t len)
{
	return vdrv_fake_mem_read(o, gpa, buf, len);
}

int rig_mem_write(void *o, uint64_t gpa, const void *buf, size_t len)
{
	return vdrv_fake_mem_write(o, gpa, buf, len);
}

/* ---- rig ---- */

void rig_machine(struct rig *r, const struct mem_backend_ops *backend)
{
	const struct fake_ctx_config fc = { .ram_bytes = RAM_BYTES, .hotplug_bytes = HOTPLUG_BYTES,
					    .pci = true };
	const struct vdrv_machine m = vdrv_fake_machine(&r->f);
	const struct vdrv_config dc = { .scratch_gpa = SCRATCH_GPA, .scratch_bytes = SCRATCH_BYTES };
	struct vmem_config vc = { .block_size = BLOCK_BYTES, .requested = REQUESTED_BYTES,
				  .populate = MEM_POPULATE_AUTO, .populate_threads = 1 };

	memset(r, 0, sizeof(*r));
	fake_ctx_init(&r->f, &fc);
	fake_ctx_add_hotplug(&r->f, backend, &r->region);
	vc.region = r->region;
	TEST_OK(virtio_mem_device_ops.create(&r->f.ctx, &vc, &r->vmem));
	TEST_OK(vdrv_init(&r->d, &m, &dc));
	r->base = r->f.layout.hotplug_gpa;
}

/* Machine plus the driver's full bring-up (§3.1.1), queue 0 with queue_vector. */
void rig_up(struct rig *r, const struct mem_backend_ops *backend, uint16_t queue_vector)
{
	rig_machine(r, backend);
	DRV_OK(r, vdrv_bringup(&r->d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID, WANT_FEATURES,
			       queue_vector));
}

void rig_down(struct rig *r)
{
	virtio_mem_device_ops.destroy(r->vmem);
	fake_ctx_destroy(&r->f);
}

/* Re-initialize after a reset (§3.1.1), the same way as the first time. */
void rig_reinit(struct rig *r, uint16_t queue_vector)
{
	DRV_OK(r, vdrv_negotiate(&r->d, WANT_FEATURES));
	DRV_OK(r, vdrv_queue_setup(&r->d, 0, 0, queue_vector));
	DRV_OK(r, vdrv_driver_ok(&r->d));
}

struct virtio_mem_config rig_config(struct rig *r)
{
	struct virtio_mem_config c;

	DRV_OK(r, vdrv_vmem_config(&r->d, &c, NULL));
	return c;
}

/* A well-formed request; returns the response type (and *state for STATE). */
uint16_t rig_req(struct rig *r, uint16_t type, uint64_t addr, uint16_t nb,
			uint16_t *state)
{
	struct vdrv_vmem_result res;

	DRV_OK(r, vdrv_vmem_request(&r->d, type, addr, nb, PAD_BYTE, &res));
	/* §2.7.8: len is the bytes written into the buffer; §5.15.6: a response is 10 bytes. */
	TEST_ASSERT(res.used_len == sizeof(struct virtio_mem_resp),
		    "request %u: used len %u, a response is %zu bytes", type, res.used_len,
		    sizeof(struct virtio_mem_resp));
	TEST_ASSERT(!(vdrv_status(&r->d) & VIRTIO_CONFIG_S_NEEDS_RESET),
		    "request %u at 0x%" PRIx64 " x%u set NEEDS_RESET", type, addr, nb);
	if (state)
		*state = res.state;
	return res.type;
}

uint16_t rig_state(struct rig *r, uint64_t addr, uint16_t nb)
{
	uint16_t st = 0xffff, type = rig_req(r, VIRTIO_MEM_REQ_STATE, addr, nb, &st);

	TEST_ASSERT(type == VIRTIO_MEM_RESP_ACK, "STATE(0x%" PRIx64 ", %u): response %u", addr, nb,
		    type);
	return st;
}

uint64_t rig_resident(struct rig *r, uint64_t gpa, uint64_t len)
{
	uint64_t bytes = 0;

	TEST_OK(mem_resident(&r->f.mem, gpa, len, &bytes));
	return bytes;
}

/* MSIs the fake saw for (addr, data): irqfds on a route with them, and direct sends. Consumed. */
uint64_t rig_msis(struct rig *r, uint64_t addr, uint32_t data)
{
	return vdrv_fake_msis(&r->f, &r->msi_sent_seen, addr, data);
}

/* ---- discovery, BARs, capabilities ---- */

static void run_discover(const void *arg)
{
	struct mem_machine_layout lay;
	struct rig r;
	struct vdrv *d = &r.d;
	uint32_t v;
	uint64_t x;
	(void)arg;

	rig_machine(&r, NULL);
	TEST_OK(mem_machine_layout_build(RAM_BYTES, HOTPLUG_BYTES, &lay));
	/* The host bridge at 00:00.0 (mem/machine.h), a host bridge by class (PCI 3.0 App. D). */
	v = vdrv_conf_read(d, 0, PCI_VENDOR_ID, 4);
	TEST_ASSERT(v == (MACHINE_PCI_HOST_DEVICE << 16 | MACHINE_PCI_HOST_VENDOR),
		    "00:00.0 is 0x%08x", v);
	v = vdrv_conf_read(d, 0, PCI_CLASS_REVISION, 4) >> 16;
	TEST_ASSERT(v == PCI_CLASS_HOST_BRIDGE, "00:00.0 class 0x%04x, not a host bridge", v);

	DRV_OK(&r, vdrv_find(d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID));
	TEST_ASSERT(d->slot > 0, "virtio-mem in slot %d", d->slot);
	/* Empty slots and the device's other functions read all ones (PCI 3.0 §6.1). */
	for (unsigned int s = 1; s < VDRV_PCI_SLOTS; s++)
		if ((int)s != d->slot)
			TEST_ASSERT(vdrv_conf_read(d, s, PCI_VENDOR_ID, 2) == 0xffff,
				    "slot %u is not empty", s);
	TEST_ASSERT(!(vdrv_conf_read(d, (unsigned int)d->slot, PCI_HEADER_TYPE, 1) & 0x80),
		    "multi-function header on a single-function device");
	/* §4.1.2.1: non-transitional devices SHOULD have revision >= 1, subsystem ID >= 0x40. */
	v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_REVISION_ID, 1);
	TEST_ASSERT(v >= 1, "revision %u (SHOULD be >= 1)", v);
	v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_SUBSYSTEM_ID, 2);
	TEST_ASSERT(v >= 0x40, "subsystem ID 0x%x (SHOULD be >= 0x40)", v);
	/* No firmware: the command register is 0 until the driver enables it. */
	v = vdrv_conf_read(d, (unsigned int)d->slot, PCI_COMMAND, 2);
	TEST_ASSERT(!(v & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)), "command 0x%x at power-on",
		    v);

	DRV_OK(&r, vdrv_bars_probe(d));
	DRV_OK(&r, vdrv_caps_parse(d));
	TEST_ASSERT(d->msix_cap, "no MSI-X capability");
	for (unsigned int i = 0; i < VDRV_NR_BARS; i++) {
		const struct vdrv_bar *b = &d->bar[i];

		if (!b->size || b->upper)
			continue;
		TEST_ASSERT(!b->io, "BAR %u is an I/O BAR", i);
		if (b->mem64)
			TEST_ASSERT(b->addr >= lay.pci_mmio64_base &&
				    b->addr + b->size <= lay.pci_mmio64_base + lay.pci_mmio64_size,
				    "64-bit BAR %u at 0x%" PRIx64 " outside the 64-bit window", i,
				    b->addr);
		else
			TEST_ASSERT(b->addr >= MACHINE_PCI_MMIO32_BASE &&
				    b->addr + b->size <= MACHINE_PCI_MMIO32_END,
				    "32-bit BAR %u at 0x%" PRIx64 " outside the 32-bit window", i,
				    b->addr);
		printf("# BAR %u: %s 0x%" PRIx64 " + 0x%" PRIx64 "\n", i,
		       b->mem64 ? "mem64" : "mem32", b->addr, b->size);
	}
	TEST_ASSERT(lay.pci_mmio64_base >= lay.hotplug_gpa + lay.hotplug_size,
		    "64-bit window below the hotplug region");
	TEST_ASSERT(d->bar[4].mem64 && d->bar[4].size, "BAR 4 is not a 64-bit memory BAR");
	TEST_ASSERT(!d->bar[d->msix_table_bar].mem64, "MSI-X BAR %u is 64-bit", d->msix_table_bar);
	TEST_ASSERT(d->common.bar == 4 && d->notify.bar == 4 && d->isr.bar == 4 &&
		    d->devcfg.present && d->devcfg.bar == 4,
		    "virtio structures in BARs %u/%u/%u/%u", d->common.bar, d->notify.bar,
		    d->isr.bar, d->devcfg.bar);
	TEST_ASSERT(d->devcfg.len >= sizeof(struct virtio_mem_config), "device config %u bytes",
		    d->devcfg.len);
	printf("# slot %d, %u capabilities, notify multiplier %u, %u MSI-X vectors\n", d->slot,
	       d->nr_caps, d->notify_mult, d->msix_vectors);

	/* Memory space off: the BAR does not answer (PCI 3.0 §6.2.2); on: it does. */
	TEST_ASSERT(!d->m.mmio_read(d->m.opaque, vdrv_region_addr(d, &d->common, 0), 4, &x),
		    "common configuration answers with memory space disabled");
	vdrv_command(d, PCI_COMMAND_MEMORY, 0);
	TEST_ASSERT(d->m.mmio_read(d->m.opaque,
				   vdrv_region_addr(d, &d->common, VIRTIO_PCI_COMMON_NUMQ), 2, &x) &&
		    x == 1, "num_queues %" PRIu64 " (virtio-mem has one queue)", x);
	vdrv_command(d, 0, PCI_COMMAND_MEMORY);
	TEST_ASSERT(!d->m.mmio_read(d->m.opaque, vdrv_region_addr(d, &d->common, 0), 4, &x),
		    "common configuration answers after memory space was disabled again");
	rig_down(&r);
	TEST_PASS("found by a conf1 scan of bus 0; BARs in their windows; caps in BAR 4");
}

static void run_bar_move(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	uint64_t old, new, old32, new32, x, maddr;
	uint64_t old_notify, new_notify;
	uint32_t mdata;
	bool masked;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	old = d->bar[4].addr;
	old_notify = vdrv_region_addr(d, &d->notify, d->q[0].notify_off * d->notify_mult);
	/* Half way up the 64-bit window, where nothing was assigned. */
	new = r.f.layout.pci_mmio64_base + r.f.layout.pci_mmio64_size / 2;
	DRV_OK(&r, vdrv_bar_set(d, 4, new));
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_NUMQ, 2) == 1,
		    "no common configuration at the new address 0x%" PRIx64, new);
	TEST_ASSERT(!d->m.mmio_read(d->m.opaque, old + d->common.off, 4, &x),
		    "the old address 0x%" PRIx64 " still answers", old);
	/* The queue notification moved with it (an ioeventfd or a trap at the new place). */
	new_notify = vdrv_region_addr(d, &d->notify, d->q[0].notify_off * d->notify_mult);
	TEST_ASSERT(!fake_ioeventfd_find(&r.f, old_notify, false),
		    "ioeventfd left at the old notify address 0x%" PRIx64, old_notify);
	TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "STATE through the moved BAR");
	printf("# BAR 4 moved 0x%" PRIx64 " -> 0x%" PRIx64 "; notify %s ioeventfd\n", old, new,
	       fake_ioeventfd_find(&r.f, new_notify, false) ? "through an" : "without an");

	/* Sizing it again in its new place restores it there. */
	DRV_OK(&r, vdrv_bars_probe(d));
	TEST_ASSERT(d->bar[4].addr == new, "BAR 4 reads 0x%" PRIx64 " after sizing",
		    d->bar[4].addr);
	TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_UNPLUGGED, "STATE after sizing");

	/* The MSI-X BAR, inside the 32-bit window. */
	old32 = d->bar[d->msix_table_bar].addr;
	new32 = MACHINE_PCI_MMIO32_BASE + ((MACHINE_PCI_MMIO32_END - MACHINE_PCI_MMIO32_BASE) / 2);
	new32 &= ~(d->bar[d->msix_table_bar].size - 1);
	DRV_OK(&r, vdrv_bar_set(d, d->msix_table_bar, new32));
	DRV_OK(&r, vdrv_msix_entry_set(d, 0, MSI_ADDR, MSI_DATA_QUEUE, true));
	DRV_OK(&r, vdrv_msix_entry_get(d, 0, &maddr, &mdata, &masked));
	TEST_ASSERT(maddr == MSI_ADDR && mdata == MSI_DATA_QUEUE && masked,
		    "MSI-X entry at the new place reads 0x%" PRIx64 "/0x%x/%d", maddr, mdata,
		    masked);
	TEST_ASSERT(!d->m.mmio_read(d->m.opaque, old32 + d->msix_table_off, 4, &x),
		    "the MSI-X table still answers at 0x%" PRIx64, old32);
	/* A 64-bit address for a 32-bit BAR is refused by the driver; not written. */
	TEST_ASSERT(vdrv_bar_set(d, d->msix_table_bar, 1ull << 32) == -EINVAL, "32-bit BAR");
	rig_down(&r);
	TEST_PASS("BAR 4 and the MSI-X BAR moved: the device answers at the new place only");
}

/* ---- features, queues, config ---- */

static void run_features(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	uint64_t f;
	uint32_t v;
	(void)arg;

	rig_machine(&r, NULL);
	DRV_OK(&r, vdrv_find(d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID));
	DRV_OK(&r, vdrv_bars_probe(d));
	vdrv_command(d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
	DRV_OK(&r, vdrv_caps_parse(d));
	DRV_OK(&r, vdrv_reset(d));
	DRV_OK(&r, vdrv_features_read(d, &f));
	printf("# device features 0x%016" PRIx64 "\n", f);
	TEST_ASSERT(f & F_VERSION_1, "VIRTIO_F_VERSION_1 not offered");
	TEST_ASSERT(f & F_INACCESSIBLE, "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE not offered");
	/* §4.1.4.3.1: bits from select * 32 on: 0 for select 2 (no feature past 63). */
	vdrv_common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
	v = vdrv_common_read(d, VIRTIO_PCI_COMMON_DF, 4);
	TEST_ASSERT(v == 0, "device_feature_select 2 reads 0x%x", v);

	/* Without VERSION_1 the device must refuse FEATURES_OK (modern only). */
	TEST_ASSERT(vdrv_negotiate(d, F_INACCESSIBLE) == -EPROTO,
		    "FEATURES_OK kept without VERSION_1 (status 0x%x)", vdrv_status(d));
	TEST_ASSERT(vdrv_status(d) & VIRTIO_CONFIG_S_FAILED, "FAILED did not stick");

	DRV_OK(&r, vdrv_negotiate(d, WANT_FEATURES));
	TEST_ASSERT(vdrv_status(d) == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK), "status 0x%x", vdrv_status(d));
	/* §4.1.4.3.1: valid bits the driver wrote read back. */
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	v = vdrv_common_read(d, VIRTIO_PCI_COMMON_GF, 4);
	TEST_ASSERT(v == (uint32_t)WANT_FEATURES, "driver_feature[0] reads 0x%x", v);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	v = vdrv_common_read(d, VIRTIO_PCI_COMMON_GF, 4);
	TEST_ASSERT(v == (uint32_t)(WANT_FEATURES >> 32), "driver_feature[1] reads 0x%x", v);

	/* Queues after reset (§4.1.4.3.1, §4.1.5.1.2.1): one queue, the second absent. */
	TEST_ASSERT(d->num_queues == 1, "num_queues %u", d->num_queues);
	TEST_ASSERT(vdrv_config_vector(d, VIRTIO_MSI_NO_VECTOR) == VIRTIO_MSI_NO_VECTOR,
		    "config_msix_vector");
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 0,
		    "queue 1 has queue_size %u", vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	v = vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	TEST_ASSERT(v && !(v & (v - 1)), "queue 0 size %u", v);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
		    "queue_msix_vector 0x%x after reset", vdrv_common_read(d,
		    VIRTIO_PCI_COMMON_Q_MSIX, 2));
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0, "queue_enable");
	/* A smaller queue than offered works as well. */
	DRV_OK(&r, vdrv_queue_setup(d, 0, 8, VIRTIO_MSI_NO_VECTOR));
	TEST_ASSERT(d->q[0].size == 8, "queue size %u", d->q[0].size);
	DRV_OK(&r, vdrv_driver_ok(d));
	for (unsigned int i = 0; i < 20; i++)   /* wraps the 8 descriptors and the rings */
		TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_UNPLUGGED, "STATE %u", i);
	rig_down(&r);
	TEST_PASS("VERSION_1 required, 64 feature bits, queue setup by the spec");
}

static void check_config(struct rig *r, const struct virtio_mem_config *c)
{
	TEST_ASSERT(c->block_size == BLOCK_BYTES, "block_size 0x%llx", c->block_size);
	TEST_ASSERT(c->addr == r->f.layout.hotplug_gpa && c->region_size == HOTPLUG_BYTES,
		    "region 0x%llx + 0x%llx", c->addr, c->region_size);
	/* §5.15.4.2: multiples of block_size; usable >= requested; usable <= region. */
	TEST_ASSERT(!(c->addr % c->block_size) && !(c->region_size % c->block_size) &&
		    !(c->usable_region_size % c->block_size) &&
		    !(c->plugged_size % c->block_size) && !(c->requested_size % c->block_size),
		    "config not block aligned");
	TEST_ASSERT(c->usable_region_size >= c->requested_size &&
		    c->usable_region_size <= c->region_size, "usable 0x%llx, requested 0x%llx",
		    c->usable_region_size, c->requested_size);
	TEST_ASSERT(c->plugged_size <= c->usable_region_size, "plugged 0x%llx", c->plugged_size);
}

static void run_requests(const void *arg)
{
	const struct mem_backend_ops *backend = arg;
	uint8_t pattern[4096], back[4096], zero[4096] = { 0 };
	struct virtio_mem_config c;
	uint64_t b0, nblk;
	struct rig r;

	rig_up(&r, backend, VIRTIO_MSI_NO_VECTOR);
	c = rig_config(&r);
	check_config(&r, &c);
	TEST_ASSERT(c.plugged_size == 0 && c.requested_size == REQUESTED_BYTES,
		    "plugged 0x%llx, requested 0x%llx at start", c.plugged_size, c.requested_size);
	b0 = c.addr;
	nblk = REQUESTED_BYTES / BLOCK_BYTES;
	TEST_ASSERT(rig_resident(&r, b0, HOTPLUG_BYTES) == 0, "resident before any plug");

	/* PLUG: ACK once backed (memvmm: populated), plugged_size follows. */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0, 1, VIRTIO_MEM_RESP_ACK);
	TEST_ASSERT(rig_resident(&r, b0, BLOCK_BYTES) == BLOCK_BYTES,
		    "plugged block %" PRIu64 " KiB resident", rig_resident(&r, b0, BLOCK_BYTES) >> 10);
	c = rig_config(&r);
	TEST_ASSERT(c.plugged_size == BLOCK_BYTES, "plugged_size 0x%llx", c.plugged_size);
	TEST_ASSERT(rig_state(&r, b0, 1) == VIRTIO_MEM_STATE_PLUGGED, "STATE plugged");
	TEST_ASSERT(rig_state(&r, b0, 2) == VIRTIO_MEM_STATE_MIXED, "STATE mixed");
	TEST_ASSERT(rig_state(&r, b0 + BLOCK_BYTES, 3) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "STATE unplugged");

	/* The driver writes; UNPLUG gives the memory back; a re-plug reads zero. */
	memset(pattern, 0x5a, sizeof(pattern));
	TEST_OK(rig_mem_write(&r.f, b0, pattern, sizeof(pattern)));
	TEST_OK(rig_mem_write(&r.f, b0 + BLOCK_BYTES - sizeof(pattern), pattern, sizeof(pattern)));
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0, 1, VIRTIO_MEM_RESP_ACK);
	TEST_ASSERT(rig_resident(&r, b0, BLOCK_BYTES) == 0, "unplugged block: %" PRIu64
		    " KiB resident", rig_resident(&r, b0, BLOCK_BYTES) >> 10);
	TEST_ASSERT(rig_config(&r).plugged_size == 0, "plugged_size after UNPLUG");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0, 1, VIRTIO_MEM_RESP_ACK);
	TEST_OK(rig_mem_read(&r.f, b0, back, sizeof(back)));
	TEST_ASSERT(!memcmp(back, zero, sizeof(back)), "re-plugged block's start not zero");
	TEST_OK(rig_mem_read(&r.f, b0 + BLOCK_BYTES - sizeof(back), back, sizeof(back)));
	TEST_ASSERT(!memcmp(back, zero, sizeof(back)), "re-plugged block's end not zero");

	/* Up to requested_size, then NACK (§5.15: plugged >= requested: rejected). */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0 + BLOCK_BYTES, (uint16_t)(nblk - 1),
		   VIRTIO_MEM_RESP_ACK);
	TEST_ASSERT(rig_resident(&r, b0, REQUESTED_BYTES) == REQUESTED_BYTES, "resident");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0 + REQUESTED_BYTES, 1, VIRTIO_MEM_RESP_NACK);
	c = rig_config(&r);
	TEST_ASSERT(c.plugged_size == REQUESTED_BYTES, "plugged_size 0x%llx", c.plugged_size);
	TEST_ASSERT(rig_state(&r, b0, (uint16_t)nblk) == VIRTIO_MEM_STATE_PLUGGED, "STATE all");
	TEST_ASSERT(rig_resident(&r, b0 + REQUESTED_BYTES, BLOCK_BYTES) == 0, "NACKed block");

	/* UNPLUG of the middle, then UNPLUG_ALL. */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0 + BLOCK_BYTES, 2, VIRTIO_MEM_RESP_ACK);
	TEST_ASSERT(rig_state(&r, b0, (uint16_t)nblk) == VIRTIO_MEM_STATE_MIXED, "STATE mixed");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, VIRTIO_MEM_RESP_ACK);
	c = rig_config(&r);
	check_config(&r, &c);
	TEST_ASSERT(c.plugged_size == 0, "plugged_size 0x%llx after UNPLUG_ALL", c.plugged_size);
	TEST_ASSERT(rig_resident(&r, b0, HOTPLUG_BYTES) == 0, "%" PRIu64 " KiB resident after"
		    " UNPLUG_ALL", rig_resident(&r, b0, HOTPLUG_BYTES) >> 10);
	TEST_ASSERT(rig_state(&r, b0, (uint16_t)(c.usable_region_size / BLOCK_BYTES)) ==
		    VIRTIO_MEM_STATE_UNPLUGGED, "STATE of the usable region after UNPLUG_ALL");
	/* An UNPLUG_ALL with nothing plugged is fine too. */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, VIRTIO_MEM_RESP_ACK);
	rig_down(&r);
	TEST_PASS(backend == &mem_backend_anon ? "anon: plug, state, unplug, re-plug zero, NACK" :
		  "memfd: plug, state, unplug, re-plug zero, NACK");
}

static void run_errors(const void *arg)
{
	struct virtio_mem_config c;
	struct vdrv_vmem_result res;
	uint64_t b0, end;
	uint8_t shortreq[8], longreq[64];
	struct rig r;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	c = rig_config(&r);
	b0 = c.addr;
	end = c.addr + c.usable_region_size;
	TEST_ASSERT(c.usable_region_size < c.region_size, "usable region is the whole region: "
		    "the out-of-usable-range checks below would test nothing new");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0, 1, VIRTIO_MEM_RESP_ACK);

	/* §5.15.6.2.2 / .3.2 / .5.2: ERROR, with nothing changed. */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0 + BLOCK_BYTES + 4096, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0 + BLOCK_BYTES, 0, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, end, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, end - BLOCK_BYTES, 2, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0 - BLOCK_BYTES, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, 0, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, UINT64_MAX - BLOCK_BYTES + 1, 2, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0, 1, VIRTIO_MEM_RESP_ERROR);       /* plugged */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, b0, 2, VIRTIO_MEM_RESP_ERROR);       /* partly */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0 + BLOCK_BYTES, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0, 2, VIRTIO_MEM_RESP_ERROR);     /* partly */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0 + 4096, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, b0, 0, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, end, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_STATE, b0 + 4096, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_STATE, b0, 0, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_STATE, end - BLOCK_BYTES, 2, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_STATE, UINT64_MAX - BLOCK_BYTES + 1, 2,
		   VIRTIO_MEM_RESP_ERROR);
	/* Unknown types: nothing in §5.15.6 defines them; ERROR is memvmm's answer. */
	REQ_EXPECT(&r, 4, b0, 1, VIRTIO_MEM_RESP_ERROR);
	REQ_EXPECT(&r, 0xffff, b0, 1, VIRTIO_MEM_RESP_ERROR);
	/* A request shorter than 24 bytes (devices/virtio_mem.h: ERROR). */
	memset(shortreq, 0, sizeof(shortreq));
	DRV_OK(&r, vdrv_vmem_request_raw(&r.d, shortreq, sizeof(shortreq),
					 sizeof(struct virtio_mem_resp), &res));
	TEST_ASSERT(res.type == VIRTIO_MEM_RESP_ERROR, "8-byte request: response %u", res.type);

	/*
	 * A response buffer with room for the type only: the spec says nothing.
	 * devices/virtio_mem.h promises ERROR; a violation (NEEDS_RESET, nothing
	 * written) is as fair. Either way the chain comes back.
	 */
	memset(longreq, 0, sizeof(longreq));
	longreq[0] = VIRTIO_MEM_REQ_STATE;
	memcpy(longreq + 8, &b0, sizeof(b0));
	longreq[16] = 1;
	DRV_OK(&r, vdrv_vmem_request_raw(&r.d, longreq, 24, 2, &res));
	TEST_ASSERT((res.type == VIRTIO_MEM_RESP_ERROR && res.used_len == 2) || res.used_len == 0,
		    "2-byte response buffer: response %u, used len %u", res.type, res.used_len);
	printf("# 2-byte response buffer: %s\n", res.used_len ? "ERROR" :
	       vdrv_status(&r.d) & VIRTIO_CONFIG_S_NEEDS_RESET ? "NEEDS_RESET" : "nothing");
	if (vdrv_status(&r.d) & VIRTIO_CONFIG_S_NEEDS_RESET) {
		DRV_OK(&r, vdrv_reset(&r.d));
		rig_reinit(&r, VIRTIO_MSI_NO_VECTOR);
	}
	/* §5.15.6.*.2: "MUST ignore anything except the request type and the request-specific data". */
	memset(longreq + 24, 0x77, sizeof(longreq) - 24);
	DRV_OK(&r, vdrv_vmem_request_raw(&r.d, longreq, sizeof(longreq),
					 sizeof(struct virtio_mem_resp), &res));
	TEST_ASSERT(res.type == VIRTIO_MEM_RESP_ACK && res.state == VIRTIO_MEM_STATE_PLUGGED,
		    "STATE in a 64-byte request buffer: response %u state %u", res.type, res.state);
	TEST_ASSERT(!(vdrv_status(&r.d) & VIRTIO_CONFIG_S_NEEDS_RESET), "NEEDS_RESET");

	c = rig_config(&r);
	TEST_ASSERT(c.plugged_size == BLOCK_BYTES, "plugged_size 0x%llx after the errors",
		    c.plugged_size);
	TEST_ASSERT(rig_state(&r, b0, 1) == VIRTIO_MEM_STATE_PLUGGED &&
		    rig_state(&r, b0 + BLOCK_BYTES, 1) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "block states changed by refused requests");
	/* The last usable block is fine. */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, end - BLOCK_BYTES, 1, VIRTIO_MEM_RESP_ACK);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG, end - BLOCK_BYTES, 1, VIRTIO_MEM_RESP_ACK);
	rig_down(&r);
	TEST_PASS("ERROR for unaligned, zero, out-of-range, wrapping, double (un)plug, unknown");
}

static void run_pcicfg(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	uint32_t v, w;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	/* 4-, 2- and 1-byte reads through the window equal the direct ones. */
	DRV_OK(&r, vdrv_pcicfg_read(d, d->devcfg.bar, d->devcfg.off +
				    offsetof(struct virtio_mem_config, block_size), 4, &v));
	w = vdrv_cfg_read(d, offsetof(struct virtio_mem_config, block_size), 4);
	TEST_ASSERT(v == w && v == (uint32_t)BLOCK_BYTES, "block_size: window 0x%x, direct 0x%x",
		    v, w);
	DRV_OK(&r, vdrv_pcicfg_read(d, d->devcfg.bar, d->devcfg.off +
				    offsetof(struct virtio_mem_config, addr) + 4, 4, &v));
	TEST_ASSERT(v == (uint32_t)(r.base >> 32), "addr high half 0x%x", v);
	DRV_OK(&r, vdrv_pcicfg_read(d, d->common.bar, d->common.off + VIRTIO_PCI_COMMON_NUMQ, 2,
				    &v));
	TEST_ASSERT(v == 1, "num_queues through the window: %u", v);
	DRV_OK(&r, vdrv_pcicfg_read(d, d->common.bar, d->common.off + VIRTIO_PCI_COMMON_STATUS, 1,
				    &v));
	TEST_ASSERT(v == vdrv_status(d), "device_status through the window 0x%x", v);
	/* A write through the window lands in the structure. */
	DRV_OK(&r, vdrv_pcicfg_write(d, d->common.bar, d->common.off + VIRTIO_PCI_COMMON_DFSELECT,
				     4, 1));
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_DFSELECT, 4) == 1,
		    "device_feature_select written through the window reads %u",
		    vdrv_common_read(d, VIRTIO_PCI_COMMON_DFSELECT, 4));
	DRV_OK(&r, vdrv_pcicfg_read(d, d->common.bar, d->common.off + VIRTIO_PCI_COMMON_DF, 4, &v));
	TEST_ASSERT(v == (uint32_t)(d->dev_features >> 32), "device_feature[1] 0x%x", v);
	rig_down(&r);
	TEST_PASS("PCI configuration access capability reads and writes like the BAR");
}

static void run_generation(const void *arg)
{
	struct virtio_mem_config c0, c1, c2;
	uint8_t g0, g1, g2, g3;
	struct rig r;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c0, &g0));
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c1, &g1));
	TEST_ASSERT(g0 == g1, "generation %u -> %u with nothing changed", g0, g1);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, c0.addr, 1, VIRTIO_MEM_RESP_ACK);
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c1, &g1));
	TEST_ASSERT(c1.plugged_size == c0.plugged_size + BLOCK_BYTES, "plugged_size");
	/* §4.1.4.3.1: a changed value read means a changed config_generation. */
	TEST_ASSERT(g1 != g0, "plugged_size changed, config_generation still %u", g1);

	/* requested_size from the host: generation, usable >= requested, config interrupt. */
	(void)vdrv_isr(&r.d);
	TEST_OK(virtio_mem_set_requested(r.vmem, REQUESTED_BYTES * 4));
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c2, &g2));
	TEST_ASSERT(c2.requested_size == REQUESTED_BYTES * 4, "requested 0x%llx",
		    c2.requested_size);
	TEST_ASSERT(g2 != g1, "requested_size changed, config_generation still %u", g2);
	check_config(&r, &c2);
	/* §4.1.4.5.1: the config bit in ISR before the notification (INTx mode here). */
	TEST_ASSERT(vdrv_isr(&r.d) & VIRTIO_PCI_ISR_CONFIG, "no config change in ISR status");
	TEST_ASSERT(!(vdrv_isr(&r.d) & VIRTIO_PCI_ISR_CONFIG), "ISR not cleared by the read");
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c2, &g3));
	TEST_ASSERT(g3 == g2, "generation moved with nothing changed");

	/*
	 * §5.15.4.2: "The device MUST NOT shrink usable_region_size, except
	 * when processing an UNPLUG ALL request, or during a system reset."
	 */
	TEST_OK(virtio_mem_set_requested(r.vmem, REQUESTED_BYTES));
	DRV_OK(&r, vdrv_vmem_config(&r.d, &c0, NULL));
	TEST_ASSERT(c0.requested_size == REQUESTED_BYTES, "requested 0x%llx", c0.requested_size);
	TEST_ASSERT(c0.usable_region_size >= c2.usable_region_size,
		    "usable_region_size shrank 0x%llx -> 0x%llx with requested_size",
		    c2.usable_region_size, c0.usable_region_size);
	rig_down(&r);
	TEST_PASS("config_generation follows plugged_size and requested_size");
}

static void run_reset(const void *arg)
{
	uint8_t pattern[512], back[512];
	uint64_t bar4;
	struct rig r;
	struct vdrv *d = &r.d;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);
	memset(pattern, 0x3c, sizeof(pattern));
	TEST_OK(rig_mem_write(&r.f, r.base + 8192, pattern, sizeof(pattern)));

	vdrv_status_set(d, 0);
	TEST_ASSERT(vdrv_status(d) == 0, "device_status 0x%x after writing 0", vdrv_status(d));
	DRV_OK(&r, vdrv_reset(d));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0,
		    "queue_enable after reset");
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_GF, 4) == 0,
		    "driver features survive a reset");
	/* §5.15.5.2: a device reset changes no block's state and no plugged memory. */
	TEST_ASSERT(rig_config(&r).plugged_size == BLOCK_BYTES, "plugged_size after reset");
	TEST_OK(rig_mem_read(&r.f, r.base + 8192, back, sizeof(back)));
	TEST_ASSERT(!memcmp(pattern, back, sizeof(back)), "plugged memory changed by a reset");

	rig_reinit(&r, VIRTIO_MSI_NO_VECTOR);
	TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_PLUGGED, "STATE after re-init");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, VIRTIO_MEM_RESP_ACK);
	/* And again, twice in a row, without requests in between. */
	DRV_OK(&r, vdrv_reset(d));
	DRV_OK(&r, vdrv_reset(d));
	rig_reinit(&r, VIRTIO_MSI_NO_VECTOR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);

	/*
	 * A system reset (device_ops.reset): §5.15.5 "On initial start, and
	 * after a system reset, all memory blocks are unplugged"; PCI back to
	 * power-on (command 0, BARs where memvmm put them).
	 */
	bar4 = d->bar[4].addr;
	DRV_OK(&r, vdrv_bar_set(d, 4, bar4 + (1ull << 30)));
	TEST_ASSERT(virtio_mem_device_ops.reset, "virtio-mem has no machine reset hook");
	virtio_mem_device_ops.reset(r.vmem);
	TEST_ASSERT(!(vdrv_conf_read(d, (unsigned int)d->slot, PCI_COMMAND, 2) &
		      (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)), "command after a machine reset");
	TEST_ASSERT(rig_resident(&r, r.base, HOTPLUG_BYTES) == 0,
		    "%" PRIu64 " KiB resident after a machine reset",
		    rig_resident(&r, r.base, HOTPLUG_BYTES) >> 10);
	d->slot = -1;
	DRV_OK(&r, vdrv_bringup(d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID, WANT_FEATURES,
				VIRTIO_MSI_NO_VECTOR));
	TEST_ASSERT(d->bar[4].addr == bar4, "BAR 4 at 0x%" PRIx64 " after a machine reset, not"
		    " 0x%" PRIx64, d->bar[4].addr, bar4);
	TEST_ASSERT(rig_config(&r).plugged_size == 0, "plugged_size after a machine reset");
	TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "block plugged after a machine reset");
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);
	rig_down(&r);
	TEST_PASS("reset reads back 0, keeps plugged blocks, re-init works; system reset unplugs");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "discover", run_discover, NULL },
		{ "bar-move", run_bar_move, NULL },
		{ "features", run_features, NULL },
		{ "requests-memfd", run_requests, &mem_backend_memfd },
		{ "requests-anon", run_requests, &mem_backend_anon },
		{ "errors", run_errors, NULL },
		{ "framing", run_framing, NULL },
		{ "driver-caps", run_driver_caps, NULL },
		{ "pcicfg", run_pcicfg, NULL },
		{ "generation", run_generation, NULL },
		{ "reset", run_reset, NULL },
		{ "corrupt", run_corrupt, NULL },
		{ "msix", run_msix, NULL },
		{ "intx", run_intx, NULL },
		{ "bus-master", run_bus_master, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
