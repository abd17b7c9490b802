// SPDX-License-Identifier: MIT
/* PCI configuration mechanism #1, the bus-0 scan, BARs and capabilities. */
#include <stddef.h>

#include <linux/pci_regs.h>

#include "cpu.h"
#include "pci.h"
#include "mem/machine.h"

#define PCI_SLOTS          32
#define PCI_FUNCTIONS      8
#define PCI_VENDOR_NONE    0xffff
#define PCI_CAPS_MAX       48       /* (256 - 64) / 4: more means a loop */
#define BAR_ALL_ONES       0xffffffffu

static void conf1_select(pci_bdf bdf, unsigned int reg)
{
	outl(MACHINE_PCI_CONF1_ADDR_PORT,
	     MACHINE_PCI_CONF1_ENABLE | (uint32_t)bdf << 8 | (reg & 0xfc));
}

uint8_t pci_read8(pci_bdf bdf, unsigned int reg)
{
	conf1_select(bdf, reg);
	return inb(MACHINE_PCI_CONF1_DATA_PORT + (reg & 3));
}

uint16_t pci_read16(pci_bdf bdf, unsigned int reg)
{
	conf1_select(bdf, reg);
	return inw(MACHINE_PCI_CONF1_DATA_PORT + (reg & 2));
}

uint32_t pci_read32(pci_bdf bdf, unsigned int reg)
{
	conf1_select(bdf, reg);
	return inl(MACHINE_PCI_CONF1_DATA_PORT);
}

void pci_write16(pci_bdf bdf, unsigned int reg, uint16_t v)
{
	conf1_select(bdf, reg);
	outw(MACHINE_PCI_CONF1_DATA_PORT + (reg & 2), v);
}

void pci_write32(pci_bdf bdf, unsigned int reg, uint32_t v)
{
	conf1_select(bdf, reg);
	outl(MACHINE_PCI_CONF1_DATA_PORT, v);
}

static bool function_present(pci_bdf bdf)
{
	return pci_read16(bdf, PCI_VENDOR_ID) != PCI_VENDOR_NONE;
}

bool pci_find(uint16_t vendor, uint16_t device, pci_bdf *out)
{
	for (unsigned int slot = 0; slot < PCI_SLOTS; slot++) {
		pci_bdf bdf = (pci_bdf)(slot << 3);
		unsigned int fns = 1;

		if (!function_present(bdf))
			continue;
		if (pci_read8(bdf, PCI_HEADER_TYPE) & 0x80)
			fns = PCI_FUNCTIONS;
		for (unsigned int fn = 0; fn < fns; fn++, bdf++) {
			if (fn && !function_present(bdf))
				continue;
			if (pci_read16(bdf, PCI_VENDOR_ID) == vendor &&
			    pci_read16(bdf, PCI_DEVICE_ID) == device) {
				*out = bdf;
				return true;
			}
		}
	}
	return false;
}

/* Writes all ones to a BAR register and returns what reads back, restoring it. */
static uint32_t bar_size_mask(pci_bdf bdf, unsigned int reg)
{
	uint32_t old = pci_read32(bdf, reg), mask;

	pci_write32(bdf, reg, BAR_ALL_ONES);
	mask = pci_read32(bdf, reg);
	pci_write32(bdf, reg, old);
	return mask;
}

/* Reads BAR i (and i + 1 for a 64-bit one); the caller turned decoding off. */
static void bar_read(pci_bdf bdf, unsigned int i, struct pci_bar *bar)
{
	unsigned int reg = PCI_BASE_ADDRESS_0 + 4 * i;
	uint32_t lo = pci_read32(bdf, reg), hi = 0;
	uint64_t mask;

	*bar = (struct pci_bar){ 0 };
	if (lo & PCI_BASE_ADDRESS_SPACE_IO) {
		bar->io = true;
		bar->addr = lo & PCI_BASE_ADDRESS_IO_MASK;
		mask = bar_size_mask(bdf, reg) & PCI_BASE_ADDRESS_IO_MASK;
		bar->size = mask ? (~mask + 1) & 0xffff : 0;
		return;
	}
	bar->mem64 = (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 &&
		     i + 1 < PCI_BARS;
	mask = bar_size_mask(bdf, reg) & PCI_BASE_ADDRESS_MEM_MASK;
	if (bar->mem64) {
		hi = pci_read32(bdf, reg + 4);
		mask |= (uint64_t)bar_size_mask(bdf, reg + 4) << 32;
	} else if (mask) {
		mask |= 0xffffffff00000000ull;
	}
	bar->addr = (uint64_t)hi << 32 | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	bar->size = mask ? ~mask + 1 : 0;       /* no writable bits: not implemented */
}

/* Reads every BAR of BDF with decoding off, then restores the command register. */
static void bars_read(pci_bdf bdf, struct pci_bar bars[PCI_BARS])
{
	uint16_t cmd = pci_read16(bdf, PCI_COMMAND);

	pci_write16(bdf, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (unsigned int i = 0; i < PCI_BARS; i++) {
		bar_read(bdf, i, &bars[i]);
		if (bars[i].mem64)
			bars[++i] = (struct pci_bar){ 0 };
	}
	pci_write16(bdf, PCI_COMMAND, cmd);
}

/* The end of the highest memory BAR of any type-0 function on bus 0 in the 32-bit window. */
static uint64_t window32_used_end(void)
{
	uint64_t end = MACHINE_PCI_MMIO32_BASE;
	struct pci_bar bars[PCI_BARS];

	for (unsigned int slot = 0; slot < PCI_SLOTS; slot++) {
		for (unsigned int fn = 0; fn < PCI_FUNCTIONS; fn++) {
			pci_bdf bdf = (pci_bdf)(slot << 3 | fn);

			if (!function_present(bdf) ||
			    (pci_read8(bdf, PCI_HEADER_TYPE) & 0x7f) != PCI_HEADER_TYPE_NORMAL)
				continue;
			bars_read(bdf, bars);
			for (unsigned int i = 0; i < PCI_BARS; i++) {
				const struct pci_bar *b = &bars[i];

				if (!b->io && b->size && b->addr >= MACHINE_PCI_MMIO32_BASE &&
				    b->addr < MACHINE_PCI_MMIO32_END && b->addr + b->size > end)
					end = b->addr + b->size;
			}
			if (!fn && !(pci_read8(bdf, PCI_HEADER_TYPE) & 0x80))
				break;
		}
	}
	return end;
}

const char *pci_bars_probe(pci_bdf bdf, struct pci_bar bars[PCI_BARS])
{
	uint64_t next = 0;
	uint16_t cmd;

	bars_read(bdf, bars);
	cmd = pci_read16(bdf, PCI_COMMAND);
	for (unsigned int i = 0; i < PCI_BARS; i++) {
		struct pci_bar *b = &bars[i];
		unsigned int reg = PCI_BASE_ADDRESS_0 + 4 * i;

		if (b->io || !b->size || b->addr)
			continue;
		/* No firmware gave it an address: the next aligned one in the window. */
		if (!next)
			next = window32_used_end();
		next = (next + b->size - 1) & ~(b->size - 1);
		if (next + b->size > MACHINE_PCI_MMIO32_END)
			return "no room in the 32-bit PCI window for an unassigned BAR";
		pci_write16(bdf, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
		pci_write32(bdf, reg, (uint32_t)next);
		if (b->mem64)
			pci_write32(bdf, reg + 4, 0);
		pci_write16(bdf, PCI_COMMAND, cmd);
		b->addr = next;
		b->assigned = true;
		next += b->size;
	}
	return NULL;
}

unsigned int pci_cap_find(pci_bdf bdf, uint8_t id, unsigned int from)
{
	unsigned int pos;

	if (!(pci_read16(bdf, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	pos = from ? pci_read8(bdf, from + PCI_CAP_LIST_NEXT) : pci_read8(bdf, PCI_CAPABILITY_LIST);
	for (unsigned int n = 0; n < PCI_CAPS_MAX && pos >= PCI_STD_HEADER_SIZEOF; n++) {
		pos &= 0xfc;
		if (pci_read8(bdf, pos + PCI_CAP_LIST_ID) == id)
			return pos;
		pos = pci_read8(bdf, pos + PCI_CAP_LIST_NEXT);
	}
	return 0;
}
