// SPDX-License-Identifier: MIT
/*
 * PCI (devices/pci.h): the host, conf1, config space with per-byte write
 * masks, BAR assignment and mapping, capabilities, reset, save/restore.
 * MSI-X and INTx are in pci_msix.c; pci_priv.h says who locks what.
 *
 * Config space is one array per device. A guest write changes only the
 * bits of wmask[] and clears the bits of w1cmask[] it writes as 1 (status
 * register errors); BAR registers are ordinary bytes whose wmask is the
 * BAR's address bits, so sizing (write all ones, read ~(size - 1) | type
 * bits) needs no special case. After any write that touches the command
 * register or a BAR, bars_update() puts every BAR where its registers say,
 * if memory decoding is on and the address is usable.
 */
#include "devices/pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dev_blob.h"
#include "devices/pci_priv.h"
#include "mem/machine.h"
#include "mem/pthread_must.h"

/* conf1: the address port and the data port, 0xcf8-0xcff. */
#define PCI_CONF1_PORTS      8u
#define PCI_CONF1_DATA_OFF   (MACHINE_PCI_CONF1_DATA_PORT - MACHINE_PCI_CONF1_ADDR_PORT)
/* Address register bits kept: enable, bus, device, function, dword register. */
#define PCI_CONF1_ADDR_MASK  0x80fffffcu
#define PCI_CONF1_DWORD      4u

#define PCI_HOST_CLASS       0x060000u   /* bridge, host bridge */
#define PCI_CAP_AREA_START   PCI_STD_HEADER_SIZEOF
#define PCI_BAR_FLAG_BITS    0xfu        /* a memory BAR's type and prefetch bits */
#define PCI_BAR_REG_BYTES    4u
#define PCI_MAX_BAR32_BYTES  (1ull << 31)
#define PCI_MAX_BAR64_BYTES  (PCI_MAX_BAR_ADDR >> 1)
#define PCI_MAX_CLASS_CODE   0xffffffu
#define PCI_INVALID_VENDOR   0xffffu

#define PCI_COMMAND_WMASK    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | \
			      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define PCI_STATUS_W1C       (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | \
			      PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT | \
			      PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

#define PCI_SAVE_MAGIC       "PCId"
#define PCI_SAVE_VERSION     1u

struct pci_host {
	const struct device_ctx *ctx;
	struct pci_host_config cfg;
	pthread_mutex_t lock;                        /* the config lock */
	uint32_t conf1_addr;                         /* the address port's latch */
	struct pci_dev *dev[MACHINE_PCI_MAX_SLOTS];  /* [0]: the host bridge */
};

/* The host whose config lock this thread holds, so callbacks may use cfg_get/set. */
static __thread struct pci_host *pci_locked_host;

static void host_lock(struct pci_host *h)
{
	mem_pthread_must(pthread_mutex_lock(&h->lock));
	pci_locked_host = h;
}

static void host_unlock(struct pci_host *h)
{
	pci_locked_host = NULL;
	mem_pthread_must(pthread_mutex_unlock(&h->lock));
}

static bool touches(unsigned int reg, unsigned int size, unsigned int start, unsigned int len)
{
	return reg < start + len && start < reg + size;
}

static unsigned int bar_reg(unsigned int i)
{
	return PCI_BASE_ADDRESS_0 + i * PCI_BAR_REG_BYTES;
}

static bool msix_cap_touched(const struct pci_dev *d, unsigned int reg, unsigned int size)
{
	return d->msix_cap && touches(reg, size, d->msix_cap, PCI_CAP_MSIX_SIZEOF);
}

/* ---- BARs ---- */

static uint64_t bar_cfg_addr(const struct pci_dev *d, unsigned int i)
{
	uint64_t addr = pci_cfg_get_le(&d->cfg[bar_reg(i)], 4) & ~PCI_BAR_FLAG_BITS;

	if (d->bar[i].type == PCI_BAR_MEM64)
		addr |= (uint64_t)pci_cfg_get_le(&d->cfg[bar_reg(i + 1)], 4) << 32;
	return addr;
}

/* A register with every writable bit set: the guest is sizing the BAR. */
static bool bar_reg_sizing(const struct pci_dev *d, unsigned int reg)
{
	uint32_t mask = pci_cfg_get_le(&d->wmask[reg], 4);

	return mask && (pci_cfg_get_le(&d->cfg[reg], 4) & mask) == mask;
}

/*
 * A 32-bit BAR being sized has all its address bits set. A 64-bit one being
 * sized has its upper half all ones (above 2^52, refused below); its lower
 * half alone all ones is an address like any other (0x1_ffffc000), which a
 * guest may move the BAR to.
 */
static bool bar_usable(const struct pci_dev *d, unsigned int i, uint64_t addr)
{
	if (d->bar[i].type == PCI_BAR_MEM32 && bar_reg_sizing(d, bar_reg(i)))
		return false;
	return addr && addr < PCI_MAX_BAR_ADDR && d->bar[i].size <= PCI_MAX_BAR_ADDR - addr;
}

/* Put every BAR where its registers say, or off the bus (config lock held). */
static void bars_update(struct pci_dev *d)
{
	bool mem_on = atomic_load(&d->command) & PCI_COMMAND_MEMORY;
	struct bus *mmio = d->ctx->mmio;

	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		uint64_t addr;
		bool want;

		if (b->type == PCI_BAR_UNUSED)
			continue;
		addr = bar_cfg_addr(d, i);
		want = mem_on && bar_usable(d, i, addr);
		if (b->mapped && (!want || b->addr != addr)) {
			bus_unregister(mmio, b->addr);
			b->mapped = false;
			atomic_store(&d->mapped_addr[i], 0);
			if (d->cb && d->cb->bar_map)
				d->cb->bar_map(d->opaque, i, b->addr, false);
		}
		if (want && !b->mapped &&
		    !bus_register(mmio, addr, b->size, d->name, b->handler, b->opaque)) {
			b->mapped = true;
			b->addr = addr;
			atomic_store(&d->mapped_addr[i], addr);
			if (d->cb && d->cb->bar_map)
				d->cb->bar_map(d->opaque, i, addr, true);
		}
	}
}

/* Off the bus without callbacks (removal). */
static void bars_unmap_quietly(struct pci_dev *d)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		if (!d->bar[i].mapped)
			continue;
		bus_unregister(d->ctx->mmio, d->bar[i].addr);
		d->bar[i].mapped = false;
		atomic_store(&d->mapped_addr[i], 0);
	}
}

/* The command register or a BAR may have changed (config lock held). */
static void dev_update(struct pci_dev *d, uint16_t old_cmd)
{
	uint16_t cmd = (uint16_t)pci_cfg_get_le(&d->cfg[PCI_COMMAND], 2);

	atomic_store(&d->command, cmd);
	bars_update(d);
	if (cmd != old_cmd) {
		pci_irq_command_changed(d, old_cmd, cmd);
		if (d->cb && d->cb->command)
			d->cb->command(d->opaque, old_cmd, cmd);
	}
}

static bool align_up(uint64_t x, uint64_t align, uint64_t *out)
{
	if (x > UINT64_MAX - (align - 1))
		return false;
	*out = (x + align - 1) & ~(align - 1);
	return true;
}

/* End of an assigned BAR that overlaps [a, a + size), or 0 if none does. */
static uint64_t assigned_overlap(const struct pci_dev *d, uint64_t a, uint64_t size)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar *b = &d->bar[i];

		if (b->type != PCI_BAR_UNUSED && b->assigned &&
		    b->assigned < a + size && a < b->assigned + b->size)
			return b->assigned + b->size;
	}
	return 0;
}

/* Lowest naturally aligned free place for BAR i in its window (config lock held). */
static int bar_assign(struct pci_host *h, struct pci_dev *d, unsigned int i)
{
	struct pci_bar *b = &d->bar[i];
	bool is64 = b->type == PCI_BAR_MEM64;
	uint64_t base = is64 ? h->cfg.mmio64_base : h->cfg.mmio32_base;
	uint64_t end = base + (is64 ? h->cfg.mmio64_size : h->cfg.mmio32_size);
	uint64_t a, next;

	if (!align_up(base, b->size, &a))
		return -ENOSPC;
	for (;;) {
		if (a > end || b->size > end - a)
			return -ENOSPC;
		next = assigned_overlap(d, a, b->size);
		for (unsigned int s = 0; s < MACHINE_PCI_MAX_SLOTS && !next; s++)
			if (h->dev[s])
				next = assigned_overlap(h->dev[s], a, b->size);
		if (!next)
			break;
		if (!align_up(next, b->size, &a))
			return -ENOSPC;
	}
	b->assigned = a;
	return 0;
}

/* BAR i's registers and write masks at its assigned address. */
static void bar_setup(struct pci_dev *d, unsigned int i)
{
	const struct pci_bar *b = &d->bar[i];
	uint64_t addr_bits = ~(b->size - 1);
	uint32_t flags = (b->prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0) |
			 (b->type == PCI_BAR_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 :
						     PCI_BASE_ADDRESS_MEM_TYPE_32);

	pci_cfg_put_le(&d->cfg[bar_reg(i)], 4, (uint32_t)b->assigned | flags);
	pci_cfg_put_le(&d->wmask[bar_reg(i)], 4, (uint32_t)addr_bits & ~PCI_BAR_FLAG_BITS);
	if (b->type == PCI_BAR_MEM64) {
		pci_cfg_put_le(&d->cfg[bar_reg(i + 1)], 4, (uint32_t)(b->assigned >> 32));
		pci_cfg_put_le(&d->wmask[bar_reg(i + 1)], 4, (uint32_t)(addr_bits >> 32));
	}
}

/* ---- config space accesses (config lock held; reg + size <= 256) ---- */

static uint32_t dev_cfg_read(struct pci_dev *d, unsigned int reg, unsigned int size)
{
	uint32_t v;

	if (reg >= PCI_CAP_AREA_START && d->cb && d->cb->cfg_read &&
	    !msix_cap_touched(d, reg, size) && d->cb->cfg_read(d->opaque, reg, size, &v))
		return v;
	v = pci_cfg_get_le(&d->cfg[reg], size);
	if (touches(reg, size, PCI_STATUS, 1) && pci_intx_status(d))
		v |= (uint32_t)PCI_STATUS_INTERRUPT << (8 * (PCI_STATUS - reg));
	return v;
}

static void dev_cfg_write(struct pci_dev *d, unsigned int reg, unsigned int size, uint32_t val)
{
	uint16_t old_cmd = (uint16_t)pci_cfg_get_le(&d->cfg[PCI_COMMAND], 2);

	if (reg >= PCI_CAP_AREA_START && d->cb && d->cb->cfg_write &&
	    !msix_cap_touched(d, reg, size) && d->cb->cfg_write(d->opaque, reg, size, val))
		return;
	for (unsigned int i = 0; i < size; i++) {
		unsigned int r = reg + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		d->cfg[r] = (uint8_t)((d->cfg[r] & ~d->wmask[r]) | (b & d->wmask[r]));
		d->cfg[r] &= (uint8_t)~(b & d->w1cmask[r]);
	}
	if (touches(reg, size, PCI_COMMAND, 2) ||
	    touches(reg, size, PCI_BASE_ADDRESS_0, PCI_NR_BARS * PCI_BAR_REG_BYTES))
		dev_update(d, old_cmd);
	if (msix_cap_touched(d, reg, size))
		pci_msix_control_changed(d);
}

/* ---- conf1 ---- */

/* The device the latched address names, and the register (config lock held). */
static struct pci_dev *conf1_target(struct pci_host *h, unsigned int byte, unsigned int *reg)
{
	uint32_t a = h->conf1_addr;

	if (!(a & MACHINE_PCI_CONF1_ENABLE) || (a >> 16) & 0xff || (a >> 8) & 7)
		return NULL;
	*reg = (a & 0xfc) + byte;
	return h->dev[(a >> 11) & 0x1f];
}

/* A data port access that stays inside the dword: its byte there, else -1. */
static int conf1_data_byte(uint64_t off, unsigned int size)
{
	if (off < PCI_CONF1_DATA_OFF || off >= PCI_CONF1_PORTS)
		return -1;
	if (size != 1 && size != 2 && size != 4)
		return -1;
	if (off - PCI_CONF1_DATA_OFF + size > PCI_CONF1_DWORD)
		return -1;
	return (int)(off - PCI_CONF1_DATA_OFF);
}

static uint64_t conf1_read(void *opaque, uint64_t off, unsigned int size)
{
	struct pci_host *h = opaque;
	int byte = conf1_data_byte(off, size);
	uint64_t v = UINT64_MAX;
	struct pci_dev *d;
	unsigned int reg;

	host_lock(h);
	if (off == 0 && size == PCI_CONF1_DWORD) {
		v = h->conf1_addr;
	} else if (byte >= 0) {
		d = conf1_target(h, (unsigned int)byte, &reg);
		if (d)
			v = dev_cfg_read(d, reg, size);
	}
	host_unlock(h);
	return v;
}

static void conf1_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct pci_host *h = opaque;
	int byte = conf1_data_byte(off, size);
	struct pci_dev *d;
	unsigned int reg;

	host_lock(h);
	if (off == 0 && size == PCI_CONF1_DWORD) {
		h->conf1_addr = (uint32_t)val & PCI_CONF1_ADDR_MASK;
	} else if (byte >= 0) {
		d = conf1_target(h, (unsigned int)byte, &reg);
		if (d)
			dev_cfg_write(d, reg, size, (uint32_t)val);
	}
	host_unlock(h);
}

static const struct bus_handler conf1_handler = { .read = conf1_read, .write = conf1_write };

/* ---- devices ---- */

static bool power_of_two(uint64_t x)
{
	return x && !(x & (x - 1));
}

static bool bar_desc_valid(const struct pci_dev_desc *desc, unsigned int i)
{
	const struct pci_bar_desc *b = &desc->bar[i];

	switch (b->type) {
	case PCI_BAR_UNUSED:
		return true;
	case PCI_BAR_MEM32:
		if (b->size > PCI_MAX_BAR32_BYTES)
			return false;
		break;
	case PCI_BAR_MEM64:
		if (i + 1 >= PCI_NR_BARS || desc->bar[i + 1].type != PCI_BAR_UNUSED ||
		    b->size > PCI_MAX_BAR64_BYTES)
			return false;
		break;
	default:
		return false;
	}
	if (i > 0 && desc->bar[i - 1].type == PCI_BAR_MEM64)
		return false;   /* the upper half of a 64-bit BAR */
	return power_of_two(b->size) && b->size >= PCI_BAR_MIN_BYTES && b->handler;
}

static bool desc_valid(const struct pci_dev_desc *desc)
{
	unsigned int mb = desc->msix_bar;

	if (desc->vendor == PCI_INVALID_VENDOR || desc->class_code > PCI_MAX_CLASS_CODE)
		return false;
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		if (!bar_desc_valid(desc, i))
			return false;
	if (desc->msix_vectors > PCI_MSIX_MAX_VECTORS)
		return false;
	if (desc->msix_vectors &&
	    (mb >= PCI_NR_BARS || desc->bar[mb].type != PCI_BAR_UNUSED ||
	     (mb > 0 && desc->bar[mb - 1].type == PCI_BAR_MEM64)))
		return false;
	return true;
}

/* Append a capability (config lock held). */
static int cap_add_locked(struct pci_dev *d, const void *cap, unsigned int len,
			  const uint8_t *wmask, unsigned int *off)
{
	unsigned int o = d->cap_next;

	if (!cap || len < 2)
		return -EINVAL;
	if (o >= PCI_CFG_SPACE_BYTES || len > PCI_CFG_SPACE_BYTES - o)
		return -ENOSPC;
	memcpy(&d->cfg[o], cap, len);
	d->cfg[o + PCI_CAP_LIST_NEXT] = 0;
	if (wmask)
		memcpy(&d->wmask[o], wmask, len);
	d->wmask[o + PCI_CAP_LIST_ID] = 0;
	d->wmask[o + PCI_CAP_LIST_NEXT] = 0;
	if (d->cap_last)
		d->cfg[d->cap_last + PCI_CAP_LIST_NEXT] = (uint8_t)o;
	else
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)o;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	memcpy(&d->power_on[o], &d->cfg[o], len);
	d->cap_last = o;
	d->cap_next = (o + len + 3) & ~3u;
	if (off)
		*off = o;
	return 0;
}

static int msix_cap_add(struct pci_dev *d, const struct pci_dev_desc *desc)
{
	uint8_t cap[PCI_CAP_MSIX_SIZEOF] = { 0 }, wmask[PCI_CAP_MSIX_SIZEOF] = { 0 };
	unsigned int off;
	int ret;

	cap[PCI_CAP_LIST_ID] = PCI_CAP_ID_MSIX;
	pci_cfg_put_le(&cap[PCI_MSIX_FLAGS], 2, desc->msix_vectors - 1);
	pci_cfg_put_le(&cap[PCI_MSIX_TABLE], 4, desc->msix_bar);
	pci_cfg_put_le(&cap[PCI_MSIX_PBA], 4, PCI_MSIX_PBA_BAR_OFFSET | desc->msix_bar);
	pci_cfg_put_le(&wmask[PCI_MSIX_FLAGS], 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	ret = cap_add_locked(d, cap, sizeof(cap), wmask, &off);
	if (ret)
		return ret;
	return pci_msix_init(d, desc->msix_vectors, desc->msix_bar, off);
}

/* Fill in d's config header, BARs and MSI-X in slot (config lock held). */
static int dev_setup(struct pci_host *h, struct pci_dev *d, const struct pci_dev_desc *desc,
		     unsigned int slot)
{
	int ret;

	d->h = h;
	d->ctx = h->ctx;
	d->slot = slot;
	d->name = desc->name ? desc->name : "pci";
	d->cb = desc->cb;
	d->opaque = desc->opaque;
	d->cap_next = PCI_CAP_AREA_START;
	d->intx = desc->intx;
	d->intx_gsi = MACHINE_PCI_INTX_GSI_BASE + slot % MACHINE_PCI_INTX_GSIS;  /* pin INTA */
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar_desc *bd = &desc->bar[i];

		d->bar[i] = (struct pci_bar){ .type = bd->type, .size = bd->size,
			.prefetchable = bd->prefetchable, .handler = bd->handler,
			.opaque = bd->opaque };
	}
	if (desc->msix_vectors)
		d->bar[desc->msix_bar] = (struct pci_bar){ .type = PCI_BAR_MEM32,
			.size = PCI_MSIX_BAR_BYTES, .handler = &pci_msix_bar_handler, .opaque = d };

	pci_cfg_put_le(&d->cfg[PCI_VENDOR_ID], 2, desc->vendor);
	pci_cfg_put_le(&d->cfg[PCI_DEVICE_ID], 2, desc->device);
	pci_cfg_put_le(&d->wmask[PCI_COMMAND], 2, PCI_COMMAND_WMASK);
	pci_cfg_put_le(&d->w1cmask[PCI_STATUS], 2, PCI_STATUS_W1C);
	pci_cfg_put_le(&d->cfg[PCI_CLASS_REVISION], 4, desc->class_code << 8 | desc->revision);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	pci_cfg_put_le(&d->cfg[PCI_SUBSYSTEM_VENDOR_ID], 2, desc->subsys_vendor);
	pci_cfg_put_le(&d->cfg[PCI_SUBSYSTEM_ID], 2, desc->subsys_id);
	if (d->intx) {
		d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)d->intx_gsi;
		d->cfg[PCI_INTERRUPT_PIN] = 1;
	}
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;

	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		if (d->bar[i].type == PCI_BAR_UNUSED)
			continue;
		ret = bar_assign(h, d, i);
		if (ret)
			return ret;
		bar_setup(d, i);
	}
	memcpy(d->power_on, d->cfg, sizeof(d->cfg));
	return desc->msix_vectors ? msix_cap_add(d, desc) : 0;
}

static struct pci_dev *dev_alloc(void)
{
	struct pci_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (pthread_mutex_init(&d->irq_lock, NULL)) {
		free(d);
		return NULL;
	}
	atomic_init(&d->command, 0);
	atomic_init(&d->msix_on, false);
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		atomic_init(&d->mapped_addr[i], 0);
	return d;
}

static void dev_free(struct pci_dev *d)
{
	pci_msix_fini(d);
	mem_pthread_must(pthread_mutex_destroy(&d->irq_lock));
	free(d);
}

int pci_dev_add(struct pci_host *h, const struct pci_dev_desc *desc, struct pci_dev **out)
{
	struct pci_dev *d;
	unsigned int slot;
	int ret;

	if (!h || !desc || !out || !desc_valid(desc))
		return -EINVAL;
	d = dev_alloc();
	if (!d)
		return -ENOMEM;
	host_lock(h);
	for (slot = 1; slot < MACHINE_PCI_MAX_SLOTS && h->dev[slot]; slot++)
		;
	ret = slot < MACHINE_PCI_MAX_SLOTS ? dev_setup(h, d, desc, slot) : -ENOSPC;
	if (!ret)
		h->dev[slot] = d;
	host_unlock(h);
	if (ret) {
		dev_free(d);
		return ret;
	}
	*out = d;
	return 0;
}

void pci_dev_remove(struct pci_dev *d)
{
	if (!d)
		return;
	host_lock(d->h);
	if (d->h->dev[d->slot] == d)
		d->h->dev[d->slot] = NULL;
	bars_unmap_quietly(d);
	host_unlock(d->h);
	dev_free(d);
}

int pci_dev_add_cap(struct pci_dev *d, const void *cap, unsigned int len,
		    const uint8_t *wmask, unsigned int *off)
{
	int ret;

	if (!d)
		return -EINVAL;
	host_lock(d->h);
	ret = cap_add_locked(d, cap, len, wmask, off);
	host_unlock(d->h);
	return ret;
}

/* Take the config lock unless this thread holds it (a callback); true if taken. */
static bool host_lock_for(struct pci_dev *d)
{
	if (pci_locked_host == d->h)
		return false;
	host_lock(d->h);
	return true;
}

void pci_dev_cfg_get(struct pci_dev *d, unsigned int off, void *buf, unsigned int len)
{
	bool locked;

	if (!d || off >= PCI_CFG_SPACE_BYTES)
		return;
	if (len > PCI_CFG_SPACE_BYTES - off)
		len = PCI_CFG_SPACE_BYTES - off;
	locked = host_lock_for(d);
	memcpy(buf, &d->cfg[off], len);
	if (locked)
		host_unlock(d->h);
}

void pci_dev_cfg_set(struct pci_dev *d, unsigned int off, const void *buf, unsigned int len)
{
	const uint8_t *src = buf;
	bool locked;

	if (!d || off >= PCI_CFG_SPACE_BYTES)
		return;
	if (len > PCI_CFG_SPACE_BYTES - off)
		len = PCI_CFG_SPACE_BYTES - off;
	locked = host_lock_for(d);
	/* Only the capability area, and not pci's own MSI-X capability. */
	for (unsigned int i = 0; i < len; i++)
		if (off + i >= PCI_CAP_AREA_START && !msix_cap_touched(d, off + i, 1))
			d->cfg[off + i] = src[i];
	if (locked)
		host_unlock(d->h);
}

unsigned int pci_dev_slot(const struct pci_dev *d)
{
	return d->slot;
}

uint64_t pci_dev_bar_addr(struct pci_dev *d, unsigned int bar)
{
	return bar < PCI_NR_BARS ? atomic_load(&d->mapped_addr[bar]) : 0;
}

uint16_t pci_dev_command(const struct pci_dev *d)
{
	return atomic_load(&d->command);
}

bool pci_dev_bus_master(const struct pci_dev *d)
{
	return atomic_load(&d->command) & PCI_COMMAND_MASTER;
}

/* Set the guest-writable bits of config space from src (config lock held). */
static void cfg_load_writable(struct pci_dev *d, const uint8_t *src)
{
	for (unsigned int r = 0; r < PCI_CFG_SPACE_BYTES; r++) {
		uint8_t m = d->wmask[r] | d->w1cmask[r];

		d->cfg[r] = (uint8_t)((d->cfg[r] & ~m) | (src[r] & m));
	}
}

void pci_dev_reset(struct pci_dev *d)
{
	uint16_t old_cmd;

	if (!d)
		return;
	host_lock(d->h);
	old_cmd = atomic_load(&d->command);
	cfg_load_writable(d, d->power_on);
	atomic_store(&d->command, (uint16_t)pci_cfg_get_le(&d->cfg[PCI_COMMAND], 2));
	pci_irq_reset(d);
	dev_update(d, old_cmd);
	host_unlock(d->h);
}

/* ---- save/restore ---- */

int pci_dev_save(struct pci_dev *d, void *buf, size_t *len)
{
	struct dev_blob_writer w;

	if (!d || !len || (!buf && *len))
		return -EINVAL;
	w = (struct dev_blob_writer){ .buf = buf, .room = *len };
	host_lock(d->h);
	dev_blob_put_header(&w, PCI_SAVE_MAGIC, PCI_SAVE_VERSION);
	for (unsigned int r = 0; r < PCI_CFG_SPACE_BYTES; r++)
		dev_blob_put8(&w, d->cfg[r]);
	pci_irq_save(d, &w);
	host_unlock(d->h);
	return dev_blob_finish(&w, len);
}

/* The header's read-only bits match d's (interrupt status aside: it is not stored). */
static bool header_matches(const struct pci_dev *d, const uint8_t *cfg)
{
	for (unsigned int r = 0; r < PCI_CAP_AREA_START; r++) {
		uint8_t ro = (uint8_t)~(d->wmask[r] | d->w1cmask[r]);

		if (r == PCI_STATUS)
			ro &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((cfg[r] ^ d->cfg[r]) & ro)
			return false;
	}
	return true;
}

int pci_dev_restore(struct pci_dev *d, const void *buf, size_t len)
{
	struct dev_blob_reader r = { .buf = buf, .len = len };
	uint8_t cfg[PCI_CFG_SPACE_BYTES];
	struct pci_msix_vec *vec = NULL;
	bool intx_level;
	uint16_t old_cmd;
	uint64_t pba;
	int ret = -EINVAL;

	if (!d || (!buf && len))
		return -EINVAL;
	if (!dev_blob_get_header(&r, PCI_SAVE_MAGIC, PCI_SAVE_VERSION))
		return -EINVAL;
	for (unsigned int i = 0; i < PCI_CFG_SPACE_BYTES; i++)
		cfg[i] = dev_blob_get8(&r);
	if (d->msix_nr) {
		vec = calloc(d->msix_nr, sizeof(*vec));
		if (!vec)
			return -ENOMEM;
	}
	host_lock(d->h);
	if (!pci_irq_parse(d, &r, vec, &pba, &intx_level) || !dev_blob_done(&r) ||
	    !header_matches(d, cfg))
		goto out;
	old_cmd = atomic_load(&d->command);
	cfg_load_writable(d, cfg);
	atomic_store(&d->command, (uint16_t)pci_cfg_get_le(&d->cfg[PCI_COMMAND], 2));
	pci_irq_load(d, vec, pba, intx_level);
	dev_update(d, old_cmd);
	ret = 0;
out:
	host_unlock(d->h);
	free(vec);
	return ret;
}

/* ---- the host ---- */

static bool window_valid(uint64_t base, uint64_t size, uint64_t limit)
{
	if (!size)
		return true;
	return base && base % PCI_BAR_MIN_BYTES == 0 && size % PCI_BAR_MIN_BYTES == 0 &&
	       base < limit && size <= limit - base;
}

int pci_host_create(const struct device_ctx *ctx, const struct pci_host_config *cfg,
		    struct pci_host **out)
{
	const struct pci_dev_desc bridge = {
		.name = "pci-host",
		.vendor = MACHINE_PCI_HOST_VENDOR,
		.device = MACHINE_PCI_HOST_DEVICE,
		.class_code = PCI_HOST_CLASS,
	};
	struct pci_host *h;
	struct pci_dev *d;
	int ret;

	if (!ctx || !ctx->pio || !ctx->mmio || !cfg || !out ||
	    !window_valid(cfg->mmio32_base, cfg->mmio32_size, MACHINE_MMIO_HOLE_END) ||
	    !window_valid(cfg->mmio64_base, cfg->mmio64_size, PCI_MAX_BAR_ADDR))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	h->cfg = *cfg;
	ret = -pthread_mutex_init(&h->lock, NULL);
	if (ret)
		goto err_free;
	d = dev_alloc();
	if (!d) {
		ret = -ENOMEM;
		goto err_lock;
	}
	host_lock(h);
	ret = dev_setup(h, d, &bridge, 0);
	if (!ret)
		h->dev[0] = d;
	host_unlock(h);
	if (ret) {
		dev_free(d);
		goto err_lock;
	}
	ret = bus_register(ctx->pio, MACHINE_PCI_CONF1_ADDR_PORT, PCI_CONF1_PORTS, "pci-conf1",
			   &conf1_handler, h);
	if (ret)
		goto err_bridge;
	*out = h;
	return 0;
err_bridge:
	dev_free(h->dev[0]);
err_lock:
	mem_pthread_must(pthread_mutex_destroy(&h->lock));
err_free:
	free(h);
	return ret;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	bus_unregister(h->ctx->pio, MACHINE_PCI_CONF1_ADDR_PORT);
	/* Devices left behind by a caller that broke the rule. */
	for (unsigned int s = MACHINE_PCI_MAX_SLOTS; s-- > 1;)
		pci_dev_remove(h->dev[s]);
	dev_free(h->dev[0]);
	mem_pthread_must(pthread_mutex_destroy(&h->lock));
	free(h);
}
