// SPDX-License-Identifier: MIT
/*
 * The tests' guest-side virtio-pci driver (tests/vtest.h), written from the
 * virtio 1.2 spec (§4.1 PCI transport, §2.7 split virtqueues, §3.1
 * initialization) and the PCI spec: config space through conf1, the
 * device's structures found through its capabilities.
 */
#include "tests/vtest.h"

#include <endian.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <string.h>

#include "mem/machine.h"
#include "tests/test.h"

#define VT_MAX_CAPS        48u
#define VT_AVAIL_OFF       0x4000ull   /* inside a queue's ring area */
#define VT_USED_OFF        0x8000ull
#define VT_MSIX_ENTRY      16u

void vt_find(struct fake_ctx *f, struct vtest *vt)
{
	unsigned int cap, n = 0;
	uint32_t lo, hi;

	memset(vt, 0, sizeof(*vt));
	vt->f = f;
	for (vt->slot = 0; vt->slot < MACHINE_PCI_MAX_SLOTS; vt->slot++) {
		uint32_t id = fake_cfg_read(f, vt->slot, PCI_VENDOR_ID, 4);

		if ((id & 0xffff) == MACHINE_PCI_VIRTIO_VENDOR &&
		    id >> 16 >= MACHINE_PCI_VIRTIO_DEVICE_BASE)
			break;
	}
	TEST_ASSERT(vt->slot < MACHINE_PCI_MAX_SLOTS, "no virtio device on bus 0");
	TEST_ASSERT(fake_cfg_read(f, vt->slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST,
		    "no capability list");
	for (cap = fake_cfg_read(f, vt->slot, PCI_CAPABILITY_LIST, 1) & ~3u; cap;
	     cap = fake_cfg_read(f, vt->slot, cap + PCI_CAP_LIST_NEXT, 1) & ~3u) {
		unsigned int id = fake_cfg_read(f, vt->slot, cap, 1);
		unsigned int type = fake_cfg_read(f, vt->slot, cap + VIRTIO_PCI_CAP_CFG_TYPE, 1);

		TEST_ASSERT(++n <= VT_MAX_CAPS, "capability list loops");
		if (id == PCI_CAP_ID_MSIX)
			vt->msix_cap = cap;
		if (id != PCI_CAP_ID_VNDR || type < VIRTIO_PCI_CAP_COMMON_CFG ||
		    type > VIRTIO_PCI_CAP_PCI_CFG || vt->cap[type])
			continue;
		vt->cap[type] = cap;
		vt->off[type] = fake_cfg_read(f, vt->slot, cap + VIRTIO_PCI_CAP_OFFSET, 4);
		vt->len[type] = fake_cfg_read(f, vt->slot, cap + VIRTIO_PCI_CAP_LENGTH, 4);
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			vt->notify_mult = fake_cfg_read(f, vt->slot,
							cap + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
		if (type != VIRTIO_PCI_CAP_PCI_CFG)
			TEST_ASSERT(fake_cfg_read(f, vt->slot, cap + VIRTIO_PCI_CAP_BAR, 1) == 4,
				    "cap type %u not in BAR 4", type);
	}
	for (unsigned int t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_PCI_CFG; t++)
		TEST_ASSERT(vt->cap[t], "no capability of type %u", t);
	lo = fake_cfg_read(f, vt->slot, PCI_BASE_ADDRESS_4, 4);
	hi = fake_cfg_read(f, vt->slot, PCI_BASE_ADDRESS_5, 4);
	TEST_ASSERT((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64,
		    "BAR 4 is not a 64-bit memory BAR: %#x", lo);
	vt->bar4 = (uint64_t)hi << 32 | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	vt->msix_bar = fake_cfg_read(f, vt->slot, PCI_BASE_ADDRESS_1, 4) & PCI_BASE_ADDRESS_MEM_MASK;
	fake_cfg_write(f, vt->slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

uint64_t vt_common_read(struct vtest *vt, unsigned int off, unsigned int size)
{
	return fake_mmio_read(vt->f, vt->bar4 + vt->off[VIRTIO_PCI_CAP_COMMON_CFG] + off, size);
}

void vt_common_write(struct vtest *vt, unsigned int off, unsigned int size, uint64_t val)
{
	fake_mmio_write(vt->f, vt->bar4 + vt->off[VIRTIO_PCI_CAP_COMMON_CFG] + off, size, val);
}

uint64_t vt_device_read(struct vtest *vt, unsigned int off, unsigned int size)
{
	return fake_mmio_read(vt->f, vt->bar4 + vt->off[VIRTIO_PCI_CAP_DEVICE_CFG] + off, size);
}

uint8_t vt_isr(struct vtest *vt)
{
	return (uint8_t)fake_mmio_read(vt->f, vt->bar4 + vt->off[VIRTIO_PCI_CAP_ISR_CFG], 1);
}

uint8_t vt_status(struct vtest *vt)
{
	return (uint8_t)vt_common_read(vt, VIRTIO_PCI_COMMON_STATUS, 1);
}

void vt_set_status(struct vtest *vt, uint8_t st)
{
	vt_common_write(vt, VIRTIO_PCI_COMMON_STATUS, 1, st);
}

uint64_t vt_device_features(struct vtest *vt)
{
	uint64_t lo, hi;

	vt_common_write(vt, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	lo = vt_common_read(vt, VIRTIO_PCI_COMMON_DF, 4);
	vt_common_write(vt, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	hi = vt_common_read(vt, VIRTIO_PCI_COMMON_DF, 4);
	return hi << 32 | lo;
}

uint8_t vt_negotiate(struct vtest *vt, uint64_t features)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	vt_set_status(vt, 0);
	TEST_ASSERT(vt_status(vt) == 0, "reset did not complete");
	vt_set_status(vt, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vt_set_status(vt, st);
	vt_common_write(vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	vt_common_write(vt, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)features);
	vt_common_write(vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	vt_common_write(vt, VIRTIO_PCI_COMMON_GF, 4, features >> 32);
	vt_set_status(vt, st | VIRTIO_CONFIG_S_FEATURES_OK);
	return vt_status(vt);
}

void vt_queue_setup(struct vtest *vt, unsigned int q, uint16_t size)
{
	struct vt_queue *qq = &vt->q[q];
	uint64_t base = VT_RING_BASE_GPA + q * VT_RING_STRIDE;

	TEST_ASSERT(q < VT_MAX_QUEUES, "queue %u", q);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	if (size)
		vt_common_write(vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	memset(qq, 0, sizeof(*qq));
	qq->size = (uint16_t)vt_common_read(vt, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	TEST_ASSERT(qq->size >= VT_DESC_PER_CHAIN, "queue %u size %u", q, qq->size);
	qq->desc = base;
	qq->avail = base + VT_AVAIL_OFF;
	qq->used = base + VT_USED_OFF;
	TEST_OK(mem_zero(&vt->f->mem, base, VT_RING_STRIDE));
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, qq->desc);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)qq->avail);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, qq->avail >> 32);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)qq->used);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_USEDHI, 4, qq->used >> 32);
	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	TEST_ASSERT(vt_common_read(vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1,
		    "queue %u not enabled (status %#x)", q, vt_status(vt));
}

void vt_start(struct vtest *vt, uint64_t features, unsigned int nr_queues)
{
	uint8_t st = vt_negotiate(vt, features | 1ull << VIRTIO_F_VERSION_1);

	TEST_ASSERT(st & VIRTIO_CONFIG_S_FEATURES_OK, "FEATURES_OK refused: status %#x", st);
	for (unsigned int q = 0; q < nr_queues; q++)
		vt_queue_setup(vt, q, 0);
	vt_set_status(vt, st | VIRTIO_CONFIG_S_DRIVER_OK);
	TEST_ASSERT(vt_status(vt) == (st | VIRTIO_CONFIG_S_DRIVER_OK), "status %#x", vt_status(vt));
}

void vt_mem_write(struct vtest *vt, uint64_t gpa, const void *buf, uint64_t len)
{
	TEST_OK(mem_write(&vt->f->mem, gpa, buf, len));
}

void vt_mem_read(struct vtest *vt, uint64_t gpa, void *buf, uint64_t len)
{
	TEST_OK(mem_read(&vt->f->mem, gpa, buf, len));
}

uint16_t vt_add(struct vtest *vt, unsigned int q, const struct vt_buf *bufs, unsigned int n)
{
	struct vt_queue *qq = &vt->q[q];
	uint16_t head = (uint16_t)((qq->avail_idx * VT_DESC_PER_CHAIN) % qq->size);
	uint16_t idx;

	TEST_ASSERT(n >= 1 && n <= VT_DESC_PER_CHAIN, "%u buffers", n);
	for (unsigned int i = 0; i < n; i++) {
		struct vring_desc d = {
			.addr = htole64(bufs[i].gpa),
			.len = htole32(bufs[i].len),
			.flags = htole16((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
					 (bufs[i].write ? VRING_DESC_F_WRITE : 0)),
			.next = htole16((uint16_t)(head + i + 1)),
		};

		vt_mem_write(vt, qq->desc + 16ull * (head + i), &d, sizeof(d));
	}
	idx = htole16(head);
	vt_mem_write(vt, qq->avail + 4 + 2ull * (qq->avail_idx % qq->size), &idx, 2);
	atomic_thread_fence(memory_order_release);
	qq->avail_idx++;
	idx = htole16(qq->avail_idx);
	vt_mem_write(vt, qq->avail + 2, &idx, 2);
	return head;
}

uint64_t vt_notify_addr(struct vtest *vt, unsigned int q)
{
	uint64_t noff;

	vt_common_write(vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	noff = vt_common_read(vt, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	return vt->bar4 + vt->off[VIRTIO_PCI_CAP_NOTIFY_CFG] + noff * vt->notify_mult;
}

void vt_kick(struct vtest *vt, unsigned int q)
{
	fake_mmio_write(vt->f, vt_notify_addr(vt, q), 2, q);
	(void)fake_ctx_run_loop(vt->f);
}

bool vt_used(struct vtest *vt, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct vt_queue *qq = &vt->q[q];
	struct vring_used_elem e;
	uint16_t idx;

	vt_mem_read(vt, qq->used + 2, &idx, 2);
	if (le16toh(idx) == qq->used_seen)
		return false;
	atomic_thread_fence(memory_order_acquire);
	vt_mem_read(vt, qq->used + 4 + 8ull * (qq->used_seen % qq->size), &e, sizeof(e));
	qq->used_seen++;
	if (id)
		*id = le32toh(e.id);
	if (len)
		*len = le32toh(e.len);
	return true;
}

void vt_msix_enable(struct vtest *vt, unsigned int n)
{
	uint32_t ctrl;

	TEST_ASSERT(vt->msix_cap && vt->msix_bar, "no MSI-X");
	for (unsigned int v = 0; v < n; v++) {
		uint64_t e = vt->msix_bar + VT_MSIX_ENTRY * v;

		fake_mmio_write(vt->f, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, (uint32_t)VT_MSI_ADDR);
		fake_mmio_write(vt->f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
		fake_mmio_write(vt->f, e + PCI_MSIX_ENTRY_DATA, 4, VT_MSI_DATA_BASE + v);
		fake_mmio_write(vt->f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	}
	ctrl = fake_cfg_read(vt->f, vt->slot, vt->msix_cap + PCI_MSIX_FLAGS, 2);
	ctrl = (ctrl | PCI_MSIX_FLAGS_ENABLE) & ~(uint32_t)PCI_MSIX_FLAGS_MASKALL;
	fake_cfg_write(vt->f, vt->slot, vt->msix_cap + PCI_MSIX_FLAGS, 2, ctrl);
}

uint64_t vt_msix_fired(struct vtest *vt, unsigned int v)
{
	for (unsigned int i = 0; i < FAKE_MAX_MSI_ROUTES; i++) {
		const struct fake_msi_route *r = &vt->f->route[i];

		if (r->used && r->addr == VT_MSI_ADDR && r->data == VT_MSI_DATA_BASE + v)
			return fake_irqfd_take(vt->f, (int)(FAKE_FIRST_MSI_GSI + i));
	}
	return 0;
}

int vt_intx(struct vtest *vt)
{
	return fake_irq_level(vt->f, fake_cfg_read(vt->f, vt->slot, PCI_INTERRUPT_LINE, 1));
}
