// SPDX-License-Identifier: MIT
/*
 * An independent virtio-pci driver with virtio-mem and balloon layers (see
 * virtio_driver.h), from the virtio 1.2 and PCI 3.0 specs only. Section
 * numbers in comments are the virtio 1.2 spec's unless they say PCI. The
 * virtqueues, virtio-mem requests and balloon buffers are in
 * virtio_driver_vq.c.
 */
#include "tests/virtio_driver.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define CONF1_ADDR_PORT     0xcf8
#define CONF1_DATA_PORT     0xcfc
#define CONF1_ENABLE        0x80000000u
#define PCI_CFG_BYTES       256u
#define PCI_CAP_FIRST       0x40u    /* capabilities live past the header */
#define PAGE_BYTES          4096u
#define MSIX_ALIGN_BYTES    4096u    /* PCI 3.0 §6.8.2: nothing else in an MSI-X 4 KiB range */
/* Smallest structure lengths the driver needs (§4.1.4). */
#define COMMON_MIN_BYTES    (VIRTIO_PCI_COMMON_Q_USEDHI + 4u)
#define NOTIFY_CAP_MIN_LEN  ((unsigned int)sizeof(struct virtio_pci_notify_cap))
#define CFG_CAP_MIN_LEN     ((unsigned int)sizeof(struct virtio_pci_cfg_cap))

int vdrv_fail(struct vdrv *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return err;
}

unsigned int vdrv_poll_rounds(const struct vdrv *d)
{
	return d->cfg.poll_rounds ? d->cfg.poll_rounds : VDRV_DEFAULT_POLL_ROUNDS;
}

void vdrv_run(struct vdrv *d)
{
	if (d->m.run)
		d->m.run(d->m.opaque);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int vdrv_init(struct vdrv *d, const struct vdrv_machine *m, const struct vdrv_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->slot = -1;
	if (!m || !cfg || !m->pio_read || !m->pio_write || !m->mmio_read || !m->mmio_write ||
	    !m->mem_read || !m->mem_write)
		return vdrv_fail(d, -EINVAL, "machine without its accessors");
	if (cfg->scratch_bytes < VDRV_SCRATCH_MIN_BYTES || cfg->scratch_gpa % PAGE_BYTES)
		return vdrv_fail(d, -EINVAL, "scratch RAM: %llu bytes at 0x%llx",
			    (unsigned long long)cfg->scratch_bytes,
			    (unsigned long long)cfg->scratch_gpa);
	d->m = *m;
	d->cfg = *cfg;
	return 0;
}

/* ---- conf1 (PCI 3.0 §3.2.2.3.2) ---- */

static uint32_t conf1_addr(unsigned int slot, unsigned int off)
{
	return CONF1_ENABLE | (0u << 16) | (slot & 31u) << 11 | (0u << 8) | (off & 0xfcu);
}

uint32_t vdrv_conf_read(struct vdrv *d, unsigned int slot, unsigned int off, unsigned int size)
{
	uint32_t val = 0xffffffffu;

	if (!d->m.pio_write(d->m.opaque, CONF1_ADDR_PORT, 4, conf1_addr(slot, off)))
		return (uint32_t)((1ull << (size * 8)) - 1);
	if (!d->m.pio_read(d->m.opaque, (uint16_t)(CONF1_DATA_PORT + (off & 3u)), size, &val))
		val = 0xffffffffu;
	return size == 4 ? val : val & (uint32_t)((1u << (size * 8)) - 1);
}

void vdrv_conf_write(struct vdrv *d, unsigned int slot, unsigned int off, unsigned int size,
		     uint32_t val)
{
	if (!d->m.pio_write(d->m.opaque, CONF1_ADDR_PORT, 4, conf1_addr(slot, off)))
		return;
	(void)d->m.pio_write(d->m.opaque, (uint16_t)(CONF1_DATA_PORT + (off & 3u)), size, val);
}

static uint32_t cfg32(struct vdrv *d, unsigned int off)
{
	return vdrv_conf_read(d, (unsigned int)d->slot, off, 4);
}

static uint16_t cfg16(struct vdrv *d, unsigned int off)
{
	return (uint16_t)vdrv_conf_read(d, (unsigned int)d->slot, off, 2);
}

static uint8_t cfg8(struct vdrv *d, unsigned int off)
{
	return (uint8_t)vdrv_conf_read(d, (unsigned int)d->slot, off, 1);
}

static void cfg_w(struct vdrv *d, unsigned int off, unsigned int size, uint32_t val)
{
	vdrv_conf_write(d, (unsigned int)d->slot, off, size, val);
}

int vdrv_find(struct vdrv *d, uint16_t vendor, uint16_t device)
{
	for (unsigned int s = 0; s < VDRV_PCI_SLOTS; s++) {
		uint32_t id = vdrv_conf_read(d, s, PCI_VENDOR_ID, 4);

		if ((id & 0xffff) == vendor && id >> 16 == device) {
			d->slot = (int)s;
			d->vendor = vendor;
			d->device = device;
			return 0;
		}
	}
	return vdrv_fail(d, -ENODEV, "no %04x:%04x on bus 0", vendor, device);
}

void vdrv_command(struct vdrv *d, uint16_t set, uint16_t clear)
{
	uint16_t cmd = cfg16(d, PCI_COMMAND);

	cfg_w(d, PCI_COMMAND, 2, (uint16_t)((cmd | set) & ~clear));
}

/* Size one memory BAR (PCI 3.0 §6.2.5.1): write all ones, read the mask, restore. */
static int bar_size(struct vdrv *d, unsigned int i)
{
	unsigned int off = PCI_BASE_ADDRESS_0 + 4 * i;
	uint32_t lo = cfg32(d, off), hi = 0, mlo, mhi = 0xffffffffu;
	struct vdrv_bar *b = &d->bar[i];
	uint64_t mask;

	if (lo & PCI_BASE_ADDRESS_SPACE_IO) {
		b->io = true;
		cfg_w(d, off, 4, 0xffffffffu);
		mlo = cfg32(d, off);
		cfg_w(d, off, 4, lo);
		b->addr = lo & ~3u;
		b->size = (mlo & ~3u) ? (uint16_t)(~(mlo & ~3u) + 1) : 0;
		return 0;
	}
	switch (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) {
	case PCI_BASE_ADDRESS_MEM_TYPE_32:
		break;
	case PCI_BASE_ADDRESS_MEM_TYPE_64:
		if (i + 1 >= VDRV_NR_BARS)
			return vdrv_fail(d, -EPROTO, "BAR %u: 64-bit in the last slot", i);
		b->mem64 = true;
		hi = cfg32(d, off + 4);
		break;
	default:
		return vdrv_fail(d, -EPROTO, "BAR %u: reserved memory type (0x%x)", i, lo);
	}
	b->prefetchable = lo & PCI_BASE_ADDRESS_MEM_PREFETCH;
	cfg_w(d, off, 4, 0xffffffffu);
	if (b->mem64)
		cfg_w(d, off + 4, 4, 0xffffffffu);
	mlo = cfg32(d, off);
	if (b->mem64)
		mhi = cfg32(d, off + 4);
	cfg_w(d, off, 4, lo);
	if (b->mem64)
		cfg_w(d, off + 4, 4, hi);
	if (cfg32(d, off) != lo || (b->mem64 && cfg32(d, off + 4) != hi))
		return vdrv_fail(d, -EPROTO, "BAR %u: reads 0x%x:%x after restoring 0x%x:%x", i,
			    cfg32(d, off + 4), cfg32(d, off), hi, lo);
	b->addr = (uint64_t)hi << 32 | (lo & ~0xfu);
	if (!(mlo & ~0xfu) && (!b->mem64 || !mhi)) {
		/* Not implemented: reads zero whatever is written (PCI 3.0 §6.2.5.1). */
		if (lo & ~0xfu || hi)
			return vdrv_fail(d, -EPROTO, "BAR %u: unimplemented but reads 0x%x", i, lo);
		b->size = 0;
		return 0;
	}
	if ((mlo & 0xfu) != (lo & 0xfu))
		return vdrv_fail(d, -EPROTO, "BAR %u: type bits changed to 0x%x when sized", i, mlo & 0xf);
	mask = (uint64_t)mhi << 32 | (mlo & ~0xfu);
	b->size = ~mask + 1;
	if (!is_pow2(b->size))
		return vdrv_fail(d, -EPROTO, "BAR %u: size mask 0x%llx is not a power of two", i,
			    (unsigned long long)mask);
	if (b->addr & (b->size - 1))
		return vdrv_fail(d, -EPROTO, "BAR %u: address 0x%llx not aligned to its size 0x%llx", i,
			    (unsigned long long)b->addr, (unsigned long long)b->size);
	if (b->mem64)
		d->bar[i + 1].upper = true;
	return 0;
}

int vdrv_bars_probe(struct vdrv *d)
{
	uint16_t cmd = cfg16(d, PCI_COMMAND);
	int ret = 0;

	if (d->slot < 0)
		return vdrv_fail(d, -ENODEV, "no device found yet");
	memset(d->bar, 0, sizeof(d->bar));
	/* Decoding off while BARs hold all ones (PCI 3.0 §6.2.5.1's advice). */
	cfg_w(d, PCI_COMMAND, 2, cmd & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
	for (unsigned int i = 0; i < VDRV_NR_BARS && !ret; i++)
		if (!d->bar[i].upper)
			ret = bar_size(d, i);
	cfg_w(d, PCI_COMMAND, 2, cmd);
	return ret;
}

int vdrv_bar_set(struct vdrv *d, unsigned int i, uint64_t addr)
{
	unsigned int off = PCI_BASE_ADDRESS_0 + 4 * i;
	struct vdrv_bar *b = &d->bar[i];
	uint32_t lo;

	if (i >= VDRV_NR_BARS || !b->size || b->io || b->upper)
		return vdrv_fail(d, -EINVAL, "BAR %u is not a memory BAR", i);
	if (addr & (b->size - 1) || (!b->mem64 && addr >> 32))
		return vdrv_fail(d, -EINVAL, "BAR %u cannot hold 0x%llx", i, (unsigned long long)addr);
	lo = cfg32(d, off) & 0xfu;
	cfg_w(d, off, 4, (uint32_t)addr | lo);
	if (b->mem64)
		cfg_w(d, off + 4, 4, (uint32_t)(addr >> 32));
	if ((cfg32(d, off) & ~0xfu) != (uint32_t)addr ||
	    (b->mem64 && cfg32(d, off + 4) != (uint32_t)(addr >> 32)))
		return vdrv_fail(d, -EPROTO, "BAR %u did not take 0x%llx", i, (unsigned long long)addr);
	b->addr = addr;
	return 0;
}

/* ---- capabilities (PCI 3.0 §6.7, virtio §4.1.4) ---- */

static int region_check(struct vdrv *d, const struct vdrv_region *r, const char *what,
			uint32_t align, uint32_t min_len)
{
	const struct vdrv_bar *b = &d->bar[r->bar];

	if (!r->present)
		return vdrv_fail(d, -EPROTO, "no %s capability", what);
	if (!b->size || b->io || b->upper)
		return vdrv_fail(d, -EPROTO, "%s in BAR %u, which is no memory BAR", what, r->bar);
	if ((uint64_t)r->off + r->len > b->size)
		return vdrv_fail(d, -EPROTO, "%s [0x%x, +0x%x) outside BAR %u (0x%llx bytes)", what,
			    r->off, r->len, r->bar, (unsigned long long)b->size);
	if (r->off % align)
		return vdrv_fail(d, -EPROTO, "%s offset 0x%x not %u-byte aligned", what, r->off, align);
	if (r->len < min_len)
		return vdrv_fail(d, -EPROTO, "%s only %u bytes long", what, r->len);
	return 0;
}

static int vendor_cap(struct vdrv *d, uint8_t p)
{
	uint8_t len = cfg8(d, p + VIRTIO_PCI_CAP_LEN), type = cfg8(d, p + VIRTIO_PCI_CAP_CFG_TYPE);
	uint8_t bar = cfg8(d, p + VIRTIO_PCI_CAP_BAR);
	struct vdrv_region *r = NULL, reg;

	if (len < sizeof(struct virtio_pci_cap) || p + len > PCI_CFG_BYTES)
		return vdrv_fail(d, -EPROTO, "vendor cap at 0x%x: cap_len %u", p, len);
	/* §4.1.4: reserved cfg_type or bar values are ignored. */
	if (bar >= VDRV_NR_BARS && type != VIRTIO_PCI_CAP_PCI_CFG)
		return 0;
	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG: r = &d->common; break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG: r = &d->notify; break;
	case VIRTIO_PCI_CAP_ISR_CFG: r = &d->isr; break;
	case VIRTIO_PCI_CAP_DEVICE_CFG: r = &d->devcfg; break;
	case VIRTIO_PCI_CAP_PCI_CFG: r = &d->pcicfg; break;
	default: return 0;
	}
	if (r->present)   /* the first of each type is the device's preference */
		return 0;
	reg = (struct vdrv_region){ .present = true, .cap = p, .cap_len = len, .bar = bar,
				    .off = cfg32(d, p + VIRTIO_PCI_CAP_OFFSET),
				    .len = cfg32(d, p + VIRTIO_PCI_CAP_LENGTH) };
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		if (len < NOTIFY_CAP_MIN_LEN)
			return vdrv_fail(d, -EPROTO, "notify cap_len %u", len);
		d->notify_mult = cfg32(d, p + VIRTIO_PCI_NOTIFY_CAP_MULT);
	}
	if (type == VIRTIO_PCI_CAP_PCI_CFG && len < CFG_CAP_MIN_LEN)
		return vdrv_fail(d, -EPROTO, "PCI cfg access cap_len %u", len);
	*r = reg;
	return 0;
}

static int msix_cap(struct vdrv *d, uint8_t p)
{
	uint32_t table = cfg32(d, p + PCI_MSIX_TABLE), pba = cfg32(d, p + PCI_MSIX_PBA);
	uint64_t tbytes, pbytes;
	const struct vdrv_bar *tb, *pb;

	if (d->msix_cap)
		return vdrv_fail(d, -EPROTO, "two MSI-X capabilities (0x%x, 0x%x)", d->msix_cap, p);
	d->msix_cap = p;
	d->msix_vectors = (uint16_t)((cfg16(d, p + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1);
	d->msix_table_bar = table & PCI_MSIX_TABLE_BIR;
	d->msix_table_off = table & PCI_MSIX_TABLE_OFFSET;
	d->msix_pba_bar = pba & PCI_MSIX_PBA_BIR;
	d->msix_pba_off = pba & PCI_MSIX_PBA_OFFSET;
	if (d->msix_table_bar >= VDRV_NR_BARS || d->msix_pba_bar >= VDRV_NR_BARS)
		return vdrv_fail(d, -EPROTO, "MSI-X BIR %u/%u", d->msix_table_bar, d->msix_pba_bar);
	tb = &d->bar[d->msix_table_bar];
	pb = &d->bar[d->msix_pba_bar];
	tbytes = (uint64_t)d->msix_vectors * PCI_MSIX_ENTRY_SIZE;
	pbytes = align_up(d->msix_vectors, 64) / 8;
	if (!tb->size || tb->io || tb->upper || d->msix_table_off + tbytes > tb->size)
		return vdrv_fail(d, -EPROTO, "MSI-X table (%u vectors at 0x%x) outside BAR %u",
			    d->msix_vectors, d->msix_table_off, d->msix_table_bar);
	if (!pb->size || pb->io || pb->upper || d->msix_pba_off + pbytes > pb->size)
		return vdrv_fail(d, -EPROTO, "MSI-X PBA at 0x%x outside BAR %u", d->msix_pba_off,
			    d->msix_pba_bar);
	if (d->msix_table_bar == d->msix_pba_bar &&
	    d->msix_table_off < d->msix_pba_off + pbytes &&
	    d->msix_pba_off < d->msix_table_off + tbytes)
		return vdrv_fail(d, -EPROTO, "MSI-X table and PBA overlap");
	return 0;
}

/* PCI 3.0 §6.8.2: no other registers in a 4 KiB range holding the MSI-X table or PBA. */
static int msix_apart(struct vdrv *d, const struct vdrv_region *r, const char *what)
{
	uint64_t s = r->off & ~(uint64_t)(MSIX_ALIGN_BYTES - 1);
	uint64_t e = align_up((uint64_t)r->off + r->len, MSIX_ALIGN_BYTES);

	if (!d->msix_cap || !r->present)
		return 0;
	if ((r->bar == d->msix_table_bar && d->msix_table_off < e &&
	     d->msix_table_off + (uint64_t)d->msix_vectors * PCI_MSIX_ENTRY_SIZE > s) ||
	    (r->bar == d->msix_pba_bar && d->msix_pba_off < e &&
	     d->msix_pba_off + align_up(d->msix_vectors, 64) / 8 > s))
		return vdrv_fail(d, -EPROTO, "%s shares a 4 KiB range with the MSI-X table or PBA", what);
	return 0;
}

int vdrv_caps_parse(struct vdrv *d)
{
	unsigned int n = 0;
	uint8_t p;
	int ret;

	d->common = d->notify = d->isr = d->devcfg = d->pcicfg = (struct vdrv_region){ 0 };
	d->msix_cap = 0;
	if (!(cfg16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return vdrv_fail(d, -EPROTO, "status register without Capabilities List");
	for (p = cfg8(d, PCI_CAPABILITY_LIST); p; p = cfg8(d, p + PCI_CAP_LIST_NEXT)) {
		/* PCI 3.0 §6.7: dword aligned (the low two bits are reserved, 00b), past the header. */
		if (p < PCI_CAP_FIRST || p & 3)
			return vdrv_fail(d, -EPROTO, "capability pointer 0x%x", p);
		if (++n > VDRV_MAX_CAPS)
			return vdrv_fail(d, -EPROTO, "more than %u capabilities: a loop", VDRV_MAX_CAPS);
		switch (cfg8(d, p + PCI_CAP_LIST_ID)) {
		case PCI_CAP_ID_VNDR:
			ret = vendor_cap(d, p);
			break;
		case PCI_CAP_ID_MSIX:
			ret = msix_cap(d, p);
			break;
		default:
			ret = 0;
		}
		if (ret)
			return ret;
	}
	d->nr_caps = n;
	ret = region_check(d, &d->common, "common configuration", 4, COMMON_MIN_BYTES);
	if (!ret)
		ret = region_check(d, &d->notify, "notification", 2, 2);
	if (!ret)
		ret = region_check(d, &d->isr, "ISR status", 1, 1);
	if (!ret && d->devcfg.present)
		ret = region_check(d, &d->devcfg, "device configuration", 4, 1);
	if (!ret && !d->pcicfg.present)
		ret = vdrv_fail(d, -EPROTO, "no PCI configuration access capability");
	/* §4.1.4.4.1: "an even power of 2" (read here as: a power of 2, and even) or 0. */
	if (!ret && d->notify_mult && (!is_pow2(d->notify_mult) || d->notify_mult < 2))
		ret = vdrv_fail(d, -EPROTO, "notify_off_multiplier %u", d->notify_mult);
	if (!ret)
		ret = msix_apart(d, &d->common, "common configuration");
	if (!ret)
		ret = msix_apart(d, &d->notify, "notification");
	if (!ret)
		ret = msix_apart(d, &d->isr, "ISR status");
	if (!ret)
		ret = msix_apart(d, &d->devcfg, "device configuration");
	return ret;
}

/* ---- MMIO to the virtio structures ---- */

uint64_t vdrv_region_addr(const struct vdrv *d, const struct vdrv_region *r, unsigned int off)
{
	return d->bar[r->bar].addr + r->off + off;
}

static uint32_t region_read(struct vdrv *d, const struct vdrv_region *r, unsigned int off,
			    unsigned int size)
{
	uint64_t v = UINT64_MAX;

	if (!d->m.mmio_read(d->m.opaque, vdrv_region_addr(d, r, off), size, &v))
		v = UINT64_MAX;
	return size == 4 ? (uint32_t)v : (uint32_t)(v & ((1u << (size * 8)) - 1));
}

static void region_write(struct vdrv *d, const struct vdrv_region *r, unsigned int off,
			 unsigned int size, uint32_t val)
{
	(void)d->m.mmio_write(d->m.opaque, vdrv_region_addr(d, r, off), size, val);
}

uint32_t vdrv_common_read(struct vdrv *d, unsigned int off, unsigned int size)
{
	return region_read(d, &d->common, off, size);
}

void vdrv_common_write(struct vdrv *d, unsigned int off, unsigned int size, uint32_t val)
{
	region_write(d, &d->common, off, size, val);
}

uint8_t vdrv_status(struct vdrv *d)
{
	return (uint8_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

void vdrv_status_set(struct vdrv *d, uint8_t status)
{
	vdrv_common_write(d, VIRTIO_PCI_COMMON_STATUS, 1, status);
}

uint8_t vdrv_isr(struct vdrv *d)
{
	return (uint8_t)region_read(d, &d->isr, 0, 1);
}

uint32_t vdrv_cfg_read(struct vdrv *d, unsigned int off, unsigned int size)
{
	return region_read(d, &d->devcfg, off, size);
}

void vdrv_cfg_write(struct vdrv *d, unsigned int off, unsigned int size, uint32_t val)
{
	region_write(d, &d->devcfg, off, size, val);
}

uint64_t vdrv_cfg_read64(struct vdrv *d, unsigned int off)
{
	uint64_t lo = vdrv_cfg_read(d, off, 4);

	return lo | (uint64_t)vdrv_cfg_read(d, off + 4, 4) << 32;
}

uint16_t vdrv_config_vector(struct vdrv *d, uint16_t vector)
{
	vdrv_common_write(d, VIRTIO_PCI_COMMON_MSIX, 2, vector);
	return (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_MSIX, 2);
}

int vdrv_reset(struct vdrv *d)
{
	vdrv_status_set(d, 0);
	/* §4.1.4.3.2: wait for device_status to read 0 before reinitializing. */
	for (unsigned int i = 0; i <= vdrv_poll_rounds(d); i++) {
		if (vdrv_status(d) == 0) {
			memset(d->q, 0, sizeof(d->q));
			d->drv_features = 0;
			return 0;
		}
		vdrv_run(d);
	}
	return vdrv_fail(d, -ETIMEDOUT, "device_status reads 0x%x after a reset", vdrv_status(d));
}

int vdrv_features_read(struct vdrv *d, uint64_t *features)
{
	uint64_t f;

	vdrv_common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	f = vdrv_common_read(d, VIRTIO_PCI_COMMON_DF, 4);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	f |= (uint64_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
	d->dev_features = f;
	if (features)
		*features = f;
	return 0;
}

int vdrv_negotiate(struct vdrv *d, uint64_t want)
{
	uint64_t acc;
	uint8_t st;
	int ret;

	ret = vdrv_reset(d);
	if (ret)
		return ret;
	vdrv_status_set(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_set(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	ret = vdrv_features_read(d, NULL);
	if (ret)
		return ret;
	acc = want & d->dev_features;
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)acc);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(acc >> 32));
	st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
	vdrv_status_set(d, st);
	if (!(vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* §3.1.1 step 6: the device does not support this subset: give up. */
		vdrv_status_set(d, st | VIRTIO_CONFIG_S_FAILED);
		return vdrv_fail(d, -EPROTO, "FEATURES_OK refused for features 0x%llx",
			    (unsigned long long)acc);
	}
	d->drv_features = acc;
	d->num_queues = (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_NUMQ, 2);
	return 0;
}

/* ---- PCI configuration access capability (§4.1.4.9) ---- */

static int pcicfg_setup(struct vdrv *d, uint8_t bar, uint32_t off, unsigned int len)
{
	const struct vdrv_region *rs[] = { &d->common, &d->notify, &d->isr, &d->devcfg };
	bool inside = false;

	if (!d->pcicfg.present)
		return vdrv_fail(d, -ENODEV, "no PCI configuration access capability");
	if ((len != 1 && len != 2 && len != 4) || off % len)
		return vdrv_fail(d, -EINVAL, "pci_cfg access of %u bytes at 0x%x", len, off);
	/* The driver MUST NOT address anything outside another virtio structure. */
	for (unsigned int i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
		inside |= rs[i]->present && rs[i]->bar == bar && off >= rs[i]->off &&
			  (uint64_t)off + len <= (uint64_t)rs[i]->off + rs[i]->len;
	if (!inside)
		return vdrv_fail(d, -EINVAL, "pci_cfg: BAR %u offset 0x%x is in no virtio structure",
			    bar, off);
	cfg_w(d, d->pcicfg.cap + VIRTIO_PCI_CAP_BAR, 1, bar);
	cfg_w(d, d->pcicfg.cap + VIRTIO_PCI_CAP_LENGTH, 4, len);
	cfg_w(d, d->pcicfg.cap + VIRTIO_PCI_CAP_OFFSET, 4, off);
	if (cfg8(d, d->pcicfg.cap + VIRTIO_PCI_CAP_BAR) != bar ||
	    cfg32(d, d->pcicfg.cap + VIRTIO_PCI_CAP_LENGTH) != len ||
	    cfg32(d, d->pcicfg.cap + VIRTIO_PCI_CAP_OFFSET) != off)
		return vdrv_fail(d, -EPROTO, "pci_cfg cap's bar/length/offset are not writable");
	return 0;
}

int vdrv_pcicfg_read(struct vdrv *d, uint8_t bar, uint32_t off, unsigned int len, uint32_t *val)
{
	int ret = pcicfg_setup(d, bar, off, len);

	if (!ret)
		*val = vdrv_conf_read(d, (unsigned int)d->slot,
				      d->pcicfg.cap + (unsigned int)sizeof(struct virtio_pci_cap),
				      len);
	return ret;
}

int vdrv_pcicfg_write(struct vdrv *d, uint8_t bar, uint32_t off, unsigned int len, uint32_t val)
{
	int ret = pcicfg_setup(d, bar, off, len);

	if (!ret)
		cfg_w(d, d->pcicfg.cap + (unsigned int)sizeof(struct virtio_pci_cap), len, val);
	return ret;
}

/* ---- MSI-X ---- */

static int msix_check(struct vdrv *d, unsigned int v)
{
	if (!d->msix_cap)
		return vdrv_fail(d, -ENODEV, "no MSI-X capability");
	if (v >= d->msix_vectors)
		return vdrv_fail(d, -EINVAL, "vector %u of %u", v, d->msix_vectors);
	return 0;
}

static uint64_t msix_entry(const struct vdrv *d, unsigned int v)
{
	return d->bar[d->msix_table_bar].addr + d->msix_table_off + (uint64_t)v * PCI_MSIX_ENTRY_SIZE;
}

static uint32_t mmio32(struct vdrv *d, uint64_t addr)
{
	uint64_t v;

	return d->m.mmio_read(d->m.opaque, addr, 4, &v) ? (uint32_t)v : 0xffffffffu;
}

int vdrv_msix_control(struct vdrv *d, bool enable, bool function_mask)
{
	uint16_t ctl;

	if (!d->msix_cap)
		return vdrv_fail(d, -ENODEV, "no MSI-X capability");
	ctl = cfg16(d, d->msix_cap + PCI_MSIX_FLAGS) & ~(PCI_MSIX_FLAGS_ENABLE |
							PCI_MSIX_FLAGS_MASKALL);
	ctl |= (enable ? PCI_MSIX_FLAGS_ENABLE : 0) | (function_mask ? PCI_MSIX_FLAGS_MASKALL : 0);
	cfg_w(d, d->msix_cap + PCI_MSIX_FLAGS, 2, ctl);
	if (cfg16(d, d->msix_cap + PCI_MSIX_FLAGS) != ctl)
		return vdrv_fail(d, -EPROTO, "MSI-X Message Control reads 0x%x, wrote 0x%x",
			    cfg16(d, d->msix_cap + PCI_MSIX_FLAGS), ctl);
	return 0;
}

int vdrv_msix_mask(struct vdrv *d, unsigned int v, bool masked)
{
	uint64_t a;
	uint32_t ctl;
	int ret = msix_check(d, v);

	if (ret)
		return ret;
	a = msix_entry(d, v) + PCI_MSIX_ENTRY_VECTOR_CTRL;
	ctl = mmio32(d, a);
	ctl = masked ? ctl | PCI_MSIX_ENTRY_CTRL_MASKBIT : ctl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT;
	(void)d->m.mmio_write(d->m.opaque, a, 4, ctl);
	if ((mmio32(d, a) & PCI_MSIX_ENTRY_CTRL_MASKBIT) != (masked ? 1u : 0u))
		return vdrv_fail(d, -EPROTO, "vector %u: mask bit did not take %d", v, masked);
	return 0;
}

int vdrv_msix_entry_set(struct vdrv *d, unsigned int v, uint64_t addr, uint32_t data,
			bool masked)
{
	uint64_t e;
	int ret = vdrv_msix_mask(d, v, true);   /* never change an unmasked entry */

	if (ret)
		return ret;
	e = msix_entry(d, v);
	(void)d->m.mmio_write(d->m.opaque, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, (uint32_t)addr);
	(void)d->m.mmio_write(d->m.opaque, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4,
			      (uint32_t)(addr >> 32));
	(void)d->m.mmio_write(d->m.opaque, e + PCI_MSIX_ENTRY_DATA, 4, data);
	return masked ? 0 : vdrv_msix_mask(d, v, false);
}

int vdrv_msix_entry_get(struct vdrv *d, unsigned int v, uint64_t *addr, uint32_t *data,
			bool *masked)
{
	uint64_t e;
	int ret = msix_check(d, v);

	if (ret)
		return ret;
	e = msix_entry(d, v);
	*addr = mmio32(d, e + PCI_MSIX_ENTRY_LOWER_ADDR) |
		(uint64_t)mmio32(d, e + PCI_MSIX_ENTRY_UPPER_ADDR) << 32;
	*data = mmio32(d, e + PCI_MSIX_ENTRY_DATA);
	*masked = mmio32(d, e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
	return 0;
}

int vdrv_msix_pending(struct vdrv *d, unsigned int v, bool *pending)
{
	uint64_t a;
	int ret = msix_check(d, v);

	if (ret)
		return ret;
	a = d->bar[d->msix_pba_bar].addr + d->msix_pba_off + (v / 32) * 4ull;
	*pending = mmio32(d, a) >> (v % 32) & 1;
	return 0;
}

int vdrv_bringup(struct vdrv *d, uint16_t vendor, uint16_t device, uint64_t want,
		 uint16_t queue_vector)
{
	int ret = vdrv_find(d, vendor, device);

	if (!ret)
		ret = vdrv_bars_probe(d);
	if (!ret) {
		vdrv_command(d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
		ret = vdrv_caps_parse(d);
	}
	if (!ret)
		ret = vdrv_negotiate(d, want);
	if (!ret)
		ret = vdrv_queue_setup(d, 0, 0, queue_vector);
	if (!ret)
		ret = vdrv_driver_ok(d);
	return ret;
}
