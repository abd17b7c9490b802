// SPDX-License-Identifier: MIT
/*
 * PCI without KVM (tests/fake_ctx.h): the host bridge and empty slots
 * through conf1, config space write masks, BAR assignment, sizing, moving
 * and decoding, capabilities, MSI-X (masks, pending bits, routes, irqfds,
 * fallbacks), INTx, reset, save/restore, removal, and a guest that writes
 * garbage while devices raise interrupts on other threads.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "devices/pci.h"
#include "mem/machine.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define RAM_BYTES      (64 * MiB)
#define BAR0_BYTES     (8 * KiB)
#define BAR2_BYTES     (16 * KiB)
#define MSIX_BAR       1u
#define NR_VECTORS     4u
#define VENDOR_CAP_LEN 8u
#define MSI_ADDR       MACHINE_MSI_ADDR_BASE
#define MAX_EVENTS     64u
#define HOSTILE_ROUNDS 200000u

struct bar_event {
	unsigned int bar;
	uint64_t addr;
	bool mapped;
};

struct tdev {
	struct pci_dev *pci;
	atomic_uint reads, writes;
	/* Atomics: the hostile test's reader thread runs the handlers too. */
	_Atomic uint64_t last_off, last_val;
	atomic_uint last_size;
	struct bar_event ev[MAX_EVENTS];
	unsigned int nev;
	unsigned int commands;
	uint16_t old_cmd, new_cmd;
	unsigned int vcap;          /* the vendor capability's offset */
	uint32_t vcap_reg;          /* what cfg_read/cfg_write handle at vcap + 4 */
};

static uint64_t tdev_read(void *opaque, uint64_t off, unsigned int size)
{
	struct tdev *t = opaque;

	atomic_fetch_add(&t->reads, 1);
	t->last_off = off;
	t->last_size = size;
	return 0x1122334455667788ull ^ off;
}

static void tdev_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct tdev *t = opaque;

	atomic_fetch_add(&t->writes, 1);
	t->last_off = off;
	t->last_size = size;
	t->last_val = val;
}

static const struct bus_handler tdev_handler = { .read = tdev_read, .write = tdev_write };

static void tdev_bar_map(void *opaque, unsigned int bar, uint64_t addr, bool mapped)
{
	struct tdev *t = opaque;

	if (t->nev < MAX_EVENTS)
		t->ev[t->nev] = (struct bar_event){ .bar = bar, .addr = addr, .mapped = mapped };
	t->nev++;
	/* Callbacks may read config space (the lock is theirs already). */
	if (t->pci) {
		uint16_t vendor;

		pci_dev_cfg_get(t->pci, PCI_VENDOR_ID, &vendor, sizeof(vendor));
		TEST_ASSERT(vendor == 0x1234, "cfg_get from a callback read 0x%x", vendor);
	}
}

static void tdev_command(void *opaque, uint16_t old_cmd, uint16_t new_cmd)
{
	struct tdev *t = opaque;

	t->commands++;
	t->old_cmd = old_cmd;
	t->new_cmd = new_cmd;
}

static bool in_vcap_reg(const struct tdev *t, unsigned int off, unsigned int size)
{
	return t->vcap && off == t->vcap + 4 && size == 4;
}

static bool tdev_cfg_read(void *opaque, unsigned int off, unsigned int size, uint32_t *val)
{
	struct tdev *t = opaque;

	if (!in_vcap_reg(t, off, size))
		return false;
	*val = t->vcap_reg;
	return true;
}

static bool tdev_cfg_write(void *opaque, unsigned int off, unsigned int size, uint32_t val)
{
	struct tdev *t = opaque;

	if (!in_vcap_reg(t, off, size))
		return false;
	t->vcap_reg = val;
	return true;
}

static const struct pci_dev_callbacks tdev_cb = {
	.bar_map = tdev_bar_map,
	.cfg_read = tdev_cfg_read,
	.cfg_write = tdev_cfg_write,
	.command = tdev_command,
};

static struct pci_dev_desc tdev_desc(struct tdev *t)
{
	return (struct pci_dev_desc){
		.name = "tdev",
		.vendor = 0x1234, .device = 0x5678,
		.subsys_vendor = 0x1af4, .subsys_id = 0x0042,
		.class_code = 0x058000, .revision = 7,
		.intx = true,
		.bar[0] = { .type = PCI_BAR_MEM32, .size = BAR0_BYTES, .handler = &tdev_handler,
			    .opaque = t },
		.bar[2] = { .type = PCI_BAR_MEM64, .size = BAR2_BYTES, .prefetchable = true,
			    .handler = &tdev_handler, .opaque = t },
		.msix_vectors = NR_VECTORS,
		.msix_bar = MSIX_BAR,
		.cb = &tdev_cb,
		.opaque = t,
	};
}

static void setup(struct fake_ctx *f, struct tdev *t)
{
	const struct fake_ctx_config cfg = { .ram_bytes = RAM_BYTES, .pci = true };
	struct pci_dev_desc desc;

	fake_ctx_init(f, &cfg);
	memset(t, 0, sizeof(*t));
	desc = tdev_desc(t);
	TEST_OK(pci_dev_add(f->pci, &desc, &t->pci));
	TEST_ASSERT(pci_dev_slot(t->pci) == 1, "first device in slot %u", pci_dev_slot(t->pci));
}

static void teardown(struct fake_ctx *f, struct tdev *t)
{
	pci_dev_remove(t->pci);
	TEST_ASSERT(f->routes_used == 0 && f->irqfds_assigned == 0,
		    "after removal: %u routes, %u irqfds", f->routes_used, f->irqfds_assigned);
	TEST_ASSERT(!f->route_freed_with_irqfd && !f->bad_route_frees && !f->bad_irqfd_deassigns,
		    "route/irqfd order: %u freed with irqfd, %u bad frees, %u bad deassigns",
		    f->route_freed_with_irqfd, f->bad_route_frees, f->bad_irqfd_deassigns);
	fake_ctx_destroy(f);
}

static uint64_t bar_reg_addr(struct fake_ctx *f, unsigned int slot, unsigned int bar, bool is64)
{
	uint64_t a = fake_cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 4 * bar, 4) & ~0xfull;

	if (is64)
		a |= (uint64_t)fake_cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 4) << 32;
	return a;
}

static void set_bar(struct fake_ctx *f, unsigned int slot, unsigned int bar, uint64_t addr,
		    bool is64)
{
	fake_cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 4 * bar, 4, (uint32_t)addr);
	if (is64)
		fake_cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 4,
			       (uint32_t)(addr >> 32));
}

static void set_command(struct fake_ctx *f, unsigned int slot, uint16_t cmd)
{
	fake_cfg_write(f, slot, PCI_COMMAND, 2, cmd);
}

/* The capability with id, by walking the list as a driver does; 0 if none. */
static unsigned int find_cap(struct fake_ctx *f, unsigned int slot, uint8_t id)
{
	unsigned int off, n = 0;

	if (!(fake_cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	for (off = fake_cfg_read(f, slot, PCI_CAPABILITY_LIST, 1); off && n < 48; n++) {
		TEST_ASSERT(off >= 0x40 && off % 4 == 0, "capability at 0x%x", off);
		if (fake_cfg_read(f, slot, off, 1) == id)
			return off;
		off = fake_cfg_read(f, slot, off + 1, 1);
	}
	return 0;
}

/* ---- host bridge, conf1, empty slots ---- */

static void test_host_bridge(void)
{
	const struct fake_ctx_config cfg = { .pci = true };
	struct fake_ctx f;

	fake_ctx_init(&f, &cfg);
	TEST_ASSERT(fake_cfg_read(&f, 0, PCI_VENDOR_ID, 4) ==
		    (MACHINE_PCI_HOST_VENDOR | MACHINE_PCI_HOST_DEVICE << 16),
		    "host IDs 0x%x", fake_cfg_read(&f, 0, PCI_VENDOR_ID, 4));
	TEST_ASSERT(fake_cfg_read(&f, 0, PCI_CLASS_REVISION, 4) >> 8 == 0x060000, "host class");
	TEST_ASSERT(fake_cfg_read(&f, 0, PCI_HEADER_TYPE, 1) == 0, "header type 0, one function");
	TEST_ASSERT(fake_cfg_read(&f, 0, PCI_INTERRUPT_PIN, 1) == 0, "host bridge has no INTx");

	/* Linux's pci_check_type1(): the address port reads back what was written. */
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4, MACHINE_PCI_CONF1_ENABLE);
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4) == MACHINE_PCI_CONF1_ENABLE,
		    "address port readback");
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4, 0xffffffff);
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4) == 0x80fffffc,
		    "reserved address bits read zero: 0x%lx",
		    (unsigned long)fake_pio_read(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4));
	/* Only dword accesses latch: a byte write to 0xcfb leaves the address. */
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4, MACHINE_PCI_CONF1_ENABLE);
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT + 3, 1, 0x01);
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 2, 0x1234);
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4) == MACHINE_PCI_CONF1_ENABLE,
		    "a non-dword write latched");
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_ADDR_PORT, 2) == 0xffff, "word read of 0xcf8");

	/* Empty slots, other buses and functions, and the enable bit off read all ones. */
	for (unsigned int slot = 1; slot < MACHINE_PCI_MAX_SLOTS; slot++)
		TEST_ASSERT(fake_cfg_read(&f, slot, 0, 4) == 0xffffffff, "slot %u not empty", slot);
	TEST_ASSERT(fake_cfg_read(&f, 5, 2, 2) == 0xffff && fake_cfg_read(&f, 5, 3, 1) == 0xff,
		    "empty slot, word and byte");
	TEST_ASSERT(fake_cfg_read_bdf(&f, 1, 0, 0, 0, 4) == 0xffffffff, "bus 1");
	TEST_ASSERT(fake_cfg_read_bdf(&f, 0, 0, 1, 0, 4) == 0xffffffff, "function 1");
	fake_cfg_write_bdf(&f, 0, 0, 1, PCI_COMMAND, 2, 0xffff);
	fake_cfg_write(&f, 7, PCI_COMMAND, 2, 0xffff);
	TEST_ASSERT(fake_cfg_read(&f, 0, PCI_COMMAND, 2) == 0, "a write elsewhere reached 00:00.0");
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4, 0);   /* enable bit off */
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_DATA_PORT, 4) == 0xffffffff,
		    "enable bit off");
	fake_ctx_destroy(&f);
	TEST_PASS("host bridge, conf1, empty slots");
}

static void test_access_sizes(void)
{
	struct fake_ctx f;
	struct tdev t;

	setup(&f, &t);
	TEST_ASSERT(fake_cfg_read(&f, 1, 0, 4) == 0x56781234, "dword IDs");
	TEST_ASSERT(fake_cfg_read(&f, 1, 0, 2) == 0x1234 && fake_cfg_read(&f, 1, 2, 2) == 0x5678,
		    "word IDs");
	for (unsigned int i = 0; i < 4; i++)
		TEST_ASSERT(fake_cfg_read(&f, 1, i, 1) == ((0x56781234u >> (8 * i)) & 0xff),
			    "byte %u", i);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_CLASS_REVISION, 4) == (0x058000u << 8 | 7),
		    "class and revision");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_SUBSYSTEM_VENDOR_ID, 4) == (0x0042u << 16 | 0x1af4),
		    "subsystem IDs");
	/* Accesses that cross the dword: all ones, dropped. */
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4, MACHINE_PCI_CONF1_ENABLE | 1 << 11);
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_DATA_PORT + 2, 4) == 0xffffffff,
		    "dword at data port + 2");
	TEST_ASSERT(fake_pio_read(&f, MACHINE_PCI_CONF1_DATA_PORT + 3, 2) == 0xffff,
		    "word at data port + 3");
	fake_pio_write(&f, MACHINE_PCI_CONF1_ADDR_PORT, 4,
		       MACHINE_PCI_CONF1_ENABLE | 1 << 11 | PCI_COMMAND);
	fake_pio_write(&f, MACHINE_PCI_CONF1_DATA_PORT + 1, 4, 0xffffffff);
	fake_pio_write(&f, MACHINE_PCI_CONF1_DATA_PORT, 8, 0xffffffffffffffffull);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_COMMAND, 2) == 0, "crossing write was applied");
	/* A word write to the upper half of a dword. */
	fake_cfg_write(&f, 1, PCI_INTERRUPT_LINE, 1, 0x0b);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 4) >> 8 == 0x0001,
		    "pin, min_gnt, max_lat");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 1) == 0x0b, "interrupt line byte");
	teardown(&f, &t);
	TEST_PASS("byte, word and dword accesses");
}

static void test_read_only(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint32_t before[16];

	setup(&f, &t);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 1) ==
		    MACHINE_PCI_INTX_GSI_BASE + 1 % MACHINE_PCI_INTX_GSIS, "interrupt line preset");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_PIN, 1) == 1, "INTA");
	for (unsigned int i = 0; i < 16; i++)
		before[i] = fake_cfg_read(&f, 1, 4 * i, 4);
	/* Everything read-only in the header stays; the writable fields take what they can. */
	for (unsigned int reg = 0; reg < 0x40; reg += 4)
		if (reg < PCI_BASE_ADDRESS_0 || reg > PCI_BASE_ADDRESS_5)
			fake_cfg_write(&f, 1, reg, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, 0, 4) == before[0], "IDs changed");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_CLASS_REVISION, 4) == before[2], "class changed");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_SUBSYSTEM_VENDOR_ID, 4) == before[11], "subsystem");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_CAPABILITY_LIST, 1) == (before[13] & 0xff),
		    "capability pointer");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_HEADER_TYPE, 1) == 0, "header type");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_ROM_ADDRESS, 4) == 0, "no expansion ROM");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_PIN, 1) == 1, "pin changed");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 1) == 0xff, "line is writable");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_CACHE_LINE_SIZE, 1) == 0xff, "cache line writable");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_COMMAND, 2) ==
		    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
		     PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE),
		    "command 0x%x", fake_cfg_read(&f, 1, PCI_COMMAND, 2));
	/* Status: the capability bit stays, the error bits are write-one-to-clear (none set). */
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) == PCI_STATUS_CAP_LIST,
		    "status 0x%x", fake_cfg_read(&f, 1, PCI_STATUS, 2));
	set_command(&f, 1, 0);
	teardown(&f, &t);
	TEST_PASS("read-only fields, writable fields, RW1C status");
}

/* ---- BARs ---- */

static void test_bar_assignment(void)
{
	struct pci_dev_desc desc;
	struct pci_dev *second;
	struct fake_ctx f;
	struct tdev t, t2 = { 0 };
	uint64_t b0, b1, b2, c0, c1, c2;

	setup(&f, &t);
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_0, 4) & 0xf) == 0, "BAR 0: 32-bit");
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_1, 4) & 0xf) == 0, "BAR 1: 32-bit");
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_2, 4) & 0xf) ==
		    (PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH),
		    "BAR 2: 64-bit prefetchable");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_4, 4) == 0 &&
		    fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_5, 4) == 0, "unused BARs read 0");
	b0 = bar_reg_addr(&f, 1, 0, false);
	b1 = bar_reg_addr(&f, 1, 1, false);
	b2 = bar_reg_addr(&f, 1, 2, true);
	TEST_ASSERT(b0 >= f.layout.pci_mmio32_base && b0 + BAR0_BYTES <=
		    f.layout.pci_mmio32_base + f.layout.pci_mmio32_size && b0 % BAR0_BYTES == 0,
		    "BAR 0 at 0x%lx", (unsigned long)b0);
	TEST_ASSERT(b1 >= f.layout.pci_mmio32_base && b1 % PCI_MSIX_BAR_BYTES == 0 &&
		    (b1 + PCI_MSIX_BAR_BYTES <= b0 || b0 + BAR0_BYTES <= b1),
		    "MSI-X BAR at 0x%lx", (unsigned long)b1);
	TEST_ASSERT(b2 >= f.layout.pci_mmio64_base && b2 % BAR2_BYTES == 0 &&
		    b2 + BAR2_BYTES <= f.layout.pci_mmio64_base + f.layout.pci_mmio64_size &&
		    b2 >= 4 * GiB, "BAR 2 at 0x%lx", (unsigned long)b2);
	TEST_ASSERT(f.layout.pci_mmio64_base >= MACHINE_HIGH_RAM_START, "64-bit window above RAM");
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == 0, "mapped with decoding off");

	/* A second device: the next free places, no overlap. */
	desc = tdev_desc(&t2);
	TEST_OK(pci_dev_add(f.pci, &desc, &second));
	t2.pci = second;
	TEST_ASSERT(pci_dev_slot(second) == 2, "second slot %u", pci_dev_slot(second));
	TEST_ASSERT(fake_cfg_read(&f, 2, PCI_INTERRUPT_LINE, 1) ==
		    MACHINE_PCI_INTX_GSI_BASE + 2 % MACHINE_PCI_INTX_GSIS, "slot 2's GSI");
	c0 = bar_reg_addr(&f, 2, 0, false);
	c1 = bar_reg_addr(&f, 2, 1, false);
	c2 = bar_reg_addr(&f, 2, 2, true);
	TEST_ASSERT(c0 % BAR0_BYTES == 0 && c2 % BAR2_BYTES == 0, "alignment");
	{
		const uint64_t base[] = { b0, b1, c0, c1 };
		const uint64_t size[] = { BAR0_BYTES, PCI_MSIX_BAR_BYTES, BAR0_BYTES,
					  PCI_MSIX_BAR_BYTES };

		for (unsigned int i = 0; i < 4; i++)
			for (unsigned int j = i + 1; j < 4; j++)
				TEST_ASSERT(base[i] + size[i] <= base[j] ||
					    base[j] + size[j] <= base[i], "BARs %u and %u overlap", i, j);
	}
	TEST_ASSERT(b2 + BAR2_BYTES <= c2 || c2 + BAR2_BYTES <= b2, "64-bit BARs overlap");
	pci_dev_remove(second);
	TEST_ASSERT(fake_cfg_read(&f, 2, 0, 4) == 0xffffffff, "slot 2 empty after removal");
	/* Removal frees the places: the same ones again. */
	TEST_OK(pci_dev_add(f.pci, &desc, &second));
	TEST_ASSERT(bar_reg_addr(&f, 2, 0, false) == c0 && bar_reg_addr(&f, 2, 2, true) == c2,
		    "re-added device got other places");
	pci_dev_remove(second);
	teardown(&f, &t);
	TEST_PASS("BAR assignment: windows, alignment, no overlap");
}

static void test_bar_sizing(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint64_t b0, b2;

	setup(&f, &t);
	b0 = bar_reg_addr(&f, 1, 0, false);
	b2 = bar_reg_addr(&f, 1, 2, true);
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_0, 4) == (uint32_t)~(BAR0_BYTES - 1),
		    "BAR 0 sizes 0x%x", fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_0, 4));
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_1, 4) ==
		    (uint32_t)~(PCI_MSIX_BAR_BYTES - 1), "MSI-X BAR size");
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_2, 4) ==
		    ((uint32_t)~(BAR2_BYTES - 1) | PCI_BASE_ADDRESS_MEM_TYPE_64 |
		     PCI_BASE_ADDRESS_MEM_PREFETCH), "BAR 2 low sizes");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_3, 4) == 0xffffffff, "BAR 2 high sizes");
	/* Unused BARs size to 0: not implemented. */
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_4, 4) == 0, "unused BAR sized");
	set_bar(&f, 1, 0, b0, false);
	set_bar(&f, 1, 2, b2, true);
	TEST_ASSERT(bar_reg_addr(&f, 1, 0, false) == b0 && bar_reg_addr(&f, 1, 2, true) == b2,
		    "BARs put back");
	/* A byte write to a BAR changes only the address bits. */
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_2, 1, 0xff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_2, 1) ==
		    (PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH),
		    "BAR flag bits changed");
	teardown(&f, &t);
	TEST_PASS("BAR sizing");
}

static bool has_event(const struct tdev *t, unsigned int from, unsigned int bar, uint64_t addr,
		      bool mapped)
{
	for (unsigned int i = from; i < t->nev && i < MAX_EVENTS; i++)
		if (t->ev[i].bar == bar && t->ev[i].addr == addr && t->ev[i].mapped == mapped)
			return true;
	return false;
}

static void test_bar_decoding_and_moving(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint64_t b0, b2, nb0, nb2, b1;
	unsigned int n;

	setup(&f, &t);
	b0 = bar_reg_addr(&f, 1, 0, false);
	b1 = bar_reg_addr(&f, 1, 1, false);
	b2 = bar_reg_addr(&f, 1, 2, true);
	TEST_ASSERT(fake_mmio_read(&f, b0, 4) == 0xffffffff && !atomic_load(&t.reads),
		    "BAR decodes with memory space off");

	set_command(&f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(t.commands == 1 && t.old_cmd == 0 && t.new_cmd == PCI_COMMAND_MEMORY,
		    "command callback");
	TEST_ASSERT(has_event(&t, 0, 0, b0, true) && has_event(&t, 0, 1, b1, true) &&
		    has_event(&t, 0, 2, b2, true) && t.nev == 3, "bar_map on enable (%u)", t.nev);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == b0 && pci_dev_bar_addr(t.pci, 2) == b2,
		    "pci_dev_bar_addr");
	TEST_ASSERT(fake_mmio_read(&f, b0 + 0x10, 4) == (0x55667788u ^ 0x10) &&
		    t.last_off == 0x10 && t.last_size == 4, "BAR 0 read");
	fake_mmio_write(&f, b2 + 0x3ff8, 8, 0xdeadbeefcafef00dull);
	TEST_ASSERT(t.last_off == 0x3ff8 && t.last_val == 0xdeadbeefcafef00dull, "BAR 2 write");

	/* Move BAR 0 while decoding: off the old place, then on the new one. */
	nb0 = b0 + 64 * MiB;
	n = t.nev;
	set_bar(&f, 1, 0, nb0, false);
	TEST_ASSERT(t.nev == n + 2 && t.ev[n].mapped == false && t.ev[n].addr == b0 &&
		    t.ev[n + 1].mapped && t.ev[n + 1].addr == nb0, "move events");
	TEST_ASSERT(fake_mmio_read(&f, b0, 4) == 0xffffffff, "old place still claimed");
	TEST_ASSERT(fake_mmio_read(&f, nb0 + 8, 2) == (0x7788 ^ 8), "new place not claimed");
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == nb0, "moved address");

	/* A 64-bit BAR moves over two writes; it ends where both dwords say. */
	nb2 = b2 + 8 * GiB + 0x100000;
	set_bar(&f, 1, 2, nb2, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == nb2 && fake_mmio_read(&f, nb2, 1) == 0x88,
		    "64-bit BAR moved to 0x%lx", (unsigned long)pci_dev_bar_addr(t.pci, 2));
	TEST_ASSERT(fake_mmio_read(&f, b2, 4) == 0xffffffff, "old 64-bit place claimed");
	TEST_ASSERT(has_event(&t, n, 2, nb2, true), "64-bit BAR mapped event");

	/* Unusable addresses: overlapping another BAR, past 2^52, zero, the sizing pattern. */
	set_bar(&f, 1, 0, b1, false);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == 0 && pci_dev_bar_addr(t.pci, 1) == b1,
		    "overlapping BAR mapped");
	set_bar(&f, 1, 2, PCI_MAX_BAR_ADDR, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == 0, "BAR crossing 2^52 mapped");
	set_bar(&f, 1, 2, 0, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == 0, "BAR at 0 mapped");
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == 0, "BAR being sized mapped");
	set_bar(&f, 1, 0, nb0, false);
	set_bar(&f, 1, 2, nb2, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == nb0 && pci_dev_bar_addr(t.pci, 2) == nb2,
		    "BARs back");

	/* Memory space off: off the bus, callbacks say so. */
	n = t.nev;
	set_command(&f, 1, 0);
	TEST_ASSERT(t.nev == n + 3 && has_event(&t, n, 0, nb0, false) &&
		    has_event(&t, n, 2, nb2, false) && has_event(&t, n, 1, b1, false),
		    "unmap events");
	TEST_ASSERT(fake_mmio_read(&f, nb0, 4) == 0xffffffff && pci_dev_bar_addr(t.pci, 0) == 0,
		    "BAR decodes after memory space off");
	teardown(&f, &t);
	TEST_PASS("BAR decoding follows the memory-space bit; BARs move");
}

/* ---- capabilities ---- */

static void test_caps(void)
{
	const uint8_t vcap[VENDOR_CAP_LEN] = { PCI_CAP_ID_VNDR_, 0x55, VENDOR_CAP_LEN, 0xaa,
					       1, 2, 3, 4 };
	const uint8_t wmask[VENDOR_CAP_LEN] = { 0xff, 0xff, 0, 0x0f, 0, 0, 0, 0 };
	uint8_t buf[4];
	struct fake_ctx f;
	struct tdev t;
	unsigned int msix, off, cap_off;

	setup(&f, &t);
	TEST_OK(pci_dev_add_cap(t.pci, vcap, sizeof(vcap), wmask, &off));
	t.vcap = off;
	msix = find_cap(&f, 1, PCI_CAP_ID_MSIX);
	TEST_ASSERT(msix && fake_cfg_read(&f, 1, msix + 1, 1) == off,
		    "MSI-X cap at 0x%x, next 0x%x", msix, fake_cfg_read(&f, 1, msix + 1, 1));
	TEST_ASSERT(find_cap(&f, 1, PCI_CAP_ID_VNDR_) == off && off % 4 == 0, "vendor cap");
	TEST_ASSERT(fake_cfg_read(&f, 1, off + 1, 1) == 0, "last cap's next");
	TEST_ASSERT(fake_cfg_read(&f, 1, off + 2, 2) == (0xaa00u | VENDOR_CAP_LEN), "cap bytes");
	/* The mask: ID and next never written; byte 3's low nibble only. */
	fake_cfg_write(&f, 1, off, 4, 0xffffffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, off, 4) ==
		    (PCI_CAP_ID_VNDR_ | VENDOR_CAP_LEN << 16 | 0xafu << 24),
		    "cap after write 0x%x", fake_cfg_read(&f, 1, off, 4));
	/* The device's own register through the callbacks. */
	t.vcap_reg = 0x12345678;
	TEST_ASSERT(fake_cfg_read(&f, 1, off + 4, 4) == 0x12345678, "cfg_read callback");
	fake_cfg_write(&f, 1, off + 4, 4, 0xcafe);
	TEST_ASSERT(t.vcap_reg == 0xcafe, "cfg_write callback");
	TEST_ASSERT(fake_cfg_read(&f, 1, off + 4, 1) == 1, "a byte access the device declined");
	/* cfg_get/set: the capability area, not the header nor pci's MSI-X capability. */
	pci_dev_cfg_get(t.pci, off + 4, buf, 4);
	TEST_ASSERT(!memcmp(buf, &vcap[4], 4), "cfg_get");
	memcpy(buf, "\x09\x08\x07\x06", 4);
	pci_dev_cfg_set(t.pci, off + 4, buf, 4);
	t.vcap = 0;
	TEST_ASSERT(fake_cfg_read(&f, 1, off + 4, 4) == 0x06070809, "cfg_set");
	pci_dev_cfg_set(t.pci, 0, buf, 4);
	pci_dev_cfg_set(t.pci, msix, buf, 4);
	TEST_ASSERT(fake_cfg_read(&f, 1, 0, 4) == 0x56781234 &&
		    fake_cfg_read(&f, 1, msix, 1) == PCI_CAP_ID_MSIX, "cfg_set outside caps");
	pci_dev_cfg_set(t.pci, 250, buf, 4);     /* clipped at 256 */
	pci_dev_cfg_get(t.pci, 300, buf, 4);     /* nothing */
	/* Capabilities start on dwords whatever the length before them. */
	{
		const uint8_t odd[5] = { PCI_CAP_ID_VNDR_, 0, 5 };
		unsigned int o1, o2;

		TEST_OK(pci_dev_add_cap(t.pci, odd, sizeof(odd), NULL, &o1));
		TEST_OK(pci_dev_add_cap(t.pci, odd, 3, NULL, &o2));
		TEST_ASSERT(o1 == off + VENDOR_CAP_LEN && o2 == o1 + 8, "caps at 0x%x, 0x%x", o1, o2);
		TEST_ASSERT(fake_cfg_read(&f, 1, off + 1, 1) == o1 &&
			    fake_cfg_read(&f, 1, o1 + 1, 1) == o2 && fake_cfg_read(&f, 1, o2 + 1, 1) == 0,
			    "next pointers");
	}
	/* Errors: too short, too long for what is left. */
	TEST_ASSERT(pci_dev_add_cap(t.pci, vcap, 1, NULL, NULL) == -EINVAL, "1-byte cap");
	{
		uint8_t big[200] = { PCI_CAP_ID_VNDR_ };

		TEST_ASSERT(pci_dev_add_cap(t.pci, big, sizeof(big), NULL, &cap_off) == -ENOSPC,
			    "cap past 256");
	}
	teardown(&f, &t);
	TEST_PASS("capabilities: list, write masks, device callbacks, cfg_get/set");
}

/* ---- MSI-X ---- */

struct msix_env {
	struct fake_ctx f;
	struct tdev t;
	unsigned int cap;
	uint64_t table;           /* guest address of the table */
};

static void msix_ctl(struct msix_env *e, uint16_t bits)
{
	uint16_t ctl = (uint16_t)fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2);

	ctl = (uint16_t)((ctl & PCI_MSIX_FLAGS_QSIZE) | bits);
	fake_cfg_write(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2, ctl);
}

static uint64_t entry(const struct msix_env *e, unsigned int v, unsigned int field)
{
	return e->table + v * PCI_MSIX_ENTRY_SIZE + field;
}

static void program(struct msix_env *e, unsigned int v, uint64_t addr, uint32_t data)
{
	fake_mmio_write(&e->f, entry(e, v, PCI_MSIX_ENTRY_LOWER_ADDR), 8, addr);
	fake_mmio_write(&e->f, entry(e, v, PCI_MSIX_ENTRY_DATA), 4, data);
}

static void vmask(struct msix_env *e, unsigned int v, bool masked)
{
	fake_mmio_write(&e->f, entry(e, v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, masked);
}

static uint64_t pba(struct msix_env *e)
{
	return fake_mmio_read(&e->f, e->table + PCI_MSIX_PBA_BAR_OFFSET, 8);
}

/* The GSI vector v is routed on: found through the route's data. */
static int gsi_of(struct msix_env *e, uint32_t data)
{
	for (int gsi = FAKE_FIRST_MSI_GSI; gsi < (int)FAKE_MAX_GSI; gsi++) {
		uint32_t d;

		if (fake_msi_route_get(&e->f, gsi, NULL, &d) && d == data)
			return gsi;
	}
	return -1;
}

static void msix_setup(struct msix_env *e)
{
	setup(&e->f, &e->t);
	e->cap = find_cap(&e->f, 1, PCI_CAP_ID_MSIX);
	TEST_ASSERT(e->cap, "no MSI-X capability");
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2) == NR_VECTORS - 1,
		    "message control 0x%x", fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2));
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_TABLE, 4) == MSIX_BAR, "table");
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_PBA, 4) ==
		    (PCI_MSIX_PBA_BAR_OFFSET | MSIX_BAR), "PBA");
	e->table = bar_reg_addr(&e->f, 1, MSIX_BAR, false);
	set_command(&e->f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* What Linux does: enable with the function masked, program, unmask. */
	msix_ctl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	TEST_ASSERT(pci_msix_enabled(e->t.pci), "MSI-X not enabled");
	for (unsigned int v = 0; v < NR_VECTORS; v++) {
		TEST_ASSERT(fake_mmio_read(&e->f, entry(e, v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4) == 1,
			    "vector %u not masked at start", v);
		program(e, v, MSI_ADDR | v << 12, 0x40 + v);
	}
}

static void test_msix_masks(void)
{
	struct msix_env e;
	int gsi;

	msix_setup(&e);
	TEST_ASSERT(fake_mmio_read(&e.f, entry(&e, 0, PCI_MSIX_ENTRY_LOWER_ADDR), 8) == MSI_ADDR,
		    "8-byte table read");
	TEST_ASSERT(fake_mmio_read(&e.f, entry(&e, 1, PCI_MSIX_ENTRY_DATA), 4) == 0x41, "data");
	TEST_ASSERT(fake_mmio_read(&e.f, entry(&e, 1, PCI_MSIX_ENTRY_DATA), 2) == 0,
		    "2-byte table read");

	/* Masked vector (and function): pending, nothing sent, no route yet. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(pba(&e) == 1 && e.f.routes_used == 0, "pending bit / early route");
	fake_mmio_write(&e.f, e.table + PCI_MSIX_PBA_BAR_OFFSET, 8, 0);
	TEST_ASSERT(pba(&e) == 1, "PBA is read-only");
	/* Vector unmasked, function still masked: still pending. */
	vmask(&e, 0, false);
	TEST_ASSERT(pba(&e) == 1 && e.f.routes_used == 0, "sent under the function mask");
	/* Function unmasked: routed, irqfd assigned, the pending message goes out. */
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	gsi = gsi_of(&e, 0x40);
	TEST_ASSERT(gsi >= 0 && pba(&e) == 0, "vector 0 not routed or still pending");
	TEST_ASSERT(e.f.irqfd_efd[gsi] >= 0, "no irqfd on GSI %d", gsi);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "pending message not sent");
	TEST_ASSERT(e.f.routes_used == 1, "masked vectors got routes: %u", e.f.routes_used);
	/* Live: every notify is one irqfd signal. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 2, "two notifies");
	/* Unmasking a vector routes it ahead of its first message. */
	vmask(&e, 1, false);
	TEST_ASSERT(gsi_of(&e, 0x41) >= 0 && fake_irqfd_take(&e.f, gsi_of(&e, 0x41)) == 0,
		    "vector 1 routed on unmask, nothing sent");

	/* Vector mask again. */
	vmask(&e, 0, true);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && pba(&e) == 1, "sent while masked");
	vmask(&e, 0, false);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && pba(&e) == 0, "not sent on unmask");

	/* Function mask. */
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && pba(&e) == 3, "sent under function mask");
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 &&
		    fake_irqfd_take(&e.f, gsi_of(&e, 0x41)) == 1 && pba(&e) == 0,
		    "not sent on function unmask");

	/* Bus mastering off: pending; on: sent. */
	set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(!pci_dev_bus_master(e.t.pci), "bus master bit");
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && pba(&e) == 1, "sent without bus master");
	set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && pba(&e) == 0, "not sent on bus master");
	/* Unmasked while bus mastering is off: still pending. */
	set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	vmask(&e, 0, true);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	vmask(&e, 0, false);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && pba(&e) == 1,
		    "sent on unmask without bus master");
	set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && pba(&e) == 0, "not sent on bus master");

	/* Disable: irqfds and routes released (irqfd first); notifies pend. */
	msix_ctl(&e, 0);
	TEST_ASSERT(!pci_msix_enabled(e.t.pci), "still enabled");
	TEST_ASSERT(e.f.routes_used == 0 && e.f.irqfds_assigned == 0 &&
		    !e.f.route_freed_with_irqfd, "routes after disable: %u, irqfds %u",
		    e.f.routes_used, e.f.irqfds_assigned);
	TEST_OK(pci_msix_notify(e.t.pci, 2));
	TEST_ASSERT(pba(&e) == 4, "disabled: not pending");
	vmask(&e, 2, false);
	TEST_ASSERT(pba(&e) == 4, "sent while disabled");
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	gsi = gsi_of(&e, 0x42);
	TEST_ASSERT(gsi >= 0 && fake_irqfd_take(&e.f, gsi) == 1 && pba(&e) == 0,
		    "pending vector 2 not sent on enable");

	TEST_ASSERT(pci_msix_notify(e.t.pci, NR_VECTORS) == -EINVAL, "vector out of range");
	TEST_ASSERT(pci_msix_notify(e.t.pci, UINT32_MAX) == -EINVAL, "vector far out of range");
	teardown(&e.f, &e.t);
	TEST_PASS("MSI-X: vector and function masks, pending bits, enable, bus master");
}

static void test_msix_routes(void)
{
	uint64_t addr;
	uint32_t data;
	struct msix_env e;
	int gsi, gsi2;

	msix_setup(&e);
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	vmask(&e, 0, false);
	gsi = gsi_of(&e, 0x40);
	TEST_ASSERT(gsi >= 0, "vector 0 not routed");

	/* Rewritten while masked (as Linux does): the route follows at unmask. */
	vmask(&e, 0, true);
	program(&e, 0, MSI_ADDR | 0x3000, 0x77);
	vmask(&e, 0, false);
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, &data) && addr == (MSI_ADDR | 0x3000) &&
		    data == 0x77, "route not changed: 0x%lx 0x%x", (unsigned long)addr, data);
	/* Rewritten while unmasked: the next message re-routes first. */
	program(&e, 0, MSI_ADDR | 0x5000 | 3 /* reserved bits */, 0x99);
	TEST_ASSERT(fake_mmio_read(&e.f, entry(&e, 0, 0), 4) == (MSI_ADDR | 0x5000),
		    "address bits 1:0 are read-only zero");
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, &data) && addr == (MSI_ADDR | 0x5000) &&
		    data == 0x99, "not re-routed on send");
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "not sent after re-route");
	TEST_ASSERT(e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 3, "route changes %u",
		    e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes);
	/* An unchanged message does not touch the route. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 3, "route set again");
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "second send");
	/* Only the address (high dword) changed. */
	fake_mmio_write(&e.f, entry(&e, 0, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 1);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, NULL) &&
		    addr == (1ull << 32 | MSI_ADDR | 0x5000), "address-only change not routed");
	fake_mmio_write(&e.f, entry(&e, 0, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 0);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 2 &&
		    e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 5, "address changes");

	/* No route to be had: sent directly. */
	e.f.fail_msi_route = -ENOSPC;
	vmask(&e, 1, false);
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 1 && e.f.msi_sent[0].addr == (MSI_ADDR | 1 << 12) &&
		    e.f.msi_sent[0].data == 0x41, "no direct MSI after a route failure");
	TEST_ASSERT(gsi_of(&e, 0x41) < 0, "a route appeared");
	e.f.fail_msi_route = 0;
	/* Route, but no irqfd: sent directly; once irqfds work, through one. */
	e.f.fail_irqfd = -EINVAL;
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 2, "no direct MSI after an irqfd failure");
	gsi2 = gsi_of(&e, 0x41);
	TEST_ASSERT(gsi2 >= 0 && e.f.irqfd_efd[gsi2] < 0, "irqfd state");
	e.f.fail_irqfd = 0;
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 2 && fake_irqfd_take(&e.f, gsi2) == 1, "irqfd not used");
	/* Both fail: KVM's error, the message is lost (as a failed MSI write would be). */
	e.f.fail_msi_route = -ENOSPC;
	e.f.fail_msi_send = -EIO;
	vmask(&e, 2, false);
	TEST_ASSERT(pci_msix_notify(e.t.pci, 2) == -EIO, "msi_send's error");
	e.f.fail_msi_route = 0;
	e.f.fail_msi_send = 0;
	/* Re-routing a GSI that has one fails: the old route stays, the message goes direct. */
	program(&e, 0, MSI_ADDR | 0x7000, 0xaa);
	e.f.fail_msi_route = -ENOMEM;
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(e.f.msi_sent[e.f.nr_msi_sent - 1].data == 0xaa &&
		    fake_irqfd_take(&e.f, gsi) == 0, "failed re-route");
	e.f.fail_msi_route = 0;
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, NULL, &data) && data == 0xaa &&
		    fake_irqfd_take(&e.f, gsi) == 1, "re-route retried");
	teardown(&e.f, &e.t);
	TEST_PASS("MSI-X routes: lazy, re-routed on change, direct MSI fallbacks");
}

/* ---- INTx ---- */

static void test_intx(void)
{
	struct fake_ctx f;
	struct tdev t;
	unsigned int gsi;
	struct msix_env e;

	setup(&f, &t);
	gsi = fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 1);
	TEST_ASSERT(gsi == MACHINE_PCI_INTX_GSI_BASE + 1, "GSI %u", gsi);
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "INTx not raised");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, "status bit");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_COMMAND, 4) >> 16 & PCI_STATUS_INTERRUPT,
		    "status bit in a dword read");
	set_command(&f, 1, PCI_COMMAND_INTX_DISABLE);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "INTx disable ignored");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		    "status bit follows the device, not the line");
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "raised while disabled");
	set_command(&f, 1, 0);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "not raised again on enable");
	/* Writing 1 to the status bit does not clear it (not RW1C). */
	fake_cfg_write(&f, 1, PCI_STATUS, 2, 0xffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, "cleared");
	pci_intx_set(t.pci, false);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0 &&
		    !(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT), "lowered");
	/* A failing irq_line is retried at the next change. */
	f.fail_irq_line = -EIO;
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "level recorded on failure");
	f.fail_irq_line = 0;
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "not retried");
	/* Removal lowers the line. */
	teardown(&f, &t);
	TEST_ASSERT(f.irq_level[gsi] == 0, "line left high after removal");

	/* While MSI-X is enabled, INTx stays low. */
	msix_setup(&e);
	pci_intx_set(e.t.pci, true);
	TEST_ASSERT(fake_irq_level(&e.f, gsi) == 0, "INTx with MSI-X enabled");
	msix_ctl(&e, 0);
	TEST_ASSERT(fake_irq_level(&e.f, gsi) == 1, "INTx back after MSI-X disable");
	teardown(&e.f, &e.t);
	TEST_PASS("INTx: level, disable bit, status bit, MSI-X");
}

/* ---- reset, save/restore ---- */

/* A device in a busy state: BARs moved and decoding, MSI-X live with pending bits, INTx. */
static void busy_state(struct msix_env *e)
{
	msix_setup(e);
	set_bar(&e->f, 1, 0, bar_reg_addr(&e->f, 1, 0, false) + 32 * MiB, false);
	set_bar(&e->f, 1, 2, bar_reg_addr(&e->f, 1, 2, true) + GiB, true);
	msix_ctl(e, PCI_MSIX_FLAGS_ENABLE);
	vmask(e, 0, false);
	vmask(e, 3, false);
	TEST_OK(pci_msix_notify(e->t.pci, 1));     /* masked: pending */
	fake_cfg_write(&e->f, 1, PCI_INTERRUPT_LINE, 1, 0x0a);
	fake_cfg_write(&e->f, 1, PCI_CACHE_LINE_SIZE, 1, 0x10);
	pci_intx_set(e->t.pci, true);
}

static void test_reset(void)
{
	struct msix_env e;
	uint64_t b0;
	unsigned int n;

	busy_state(&e);
	b0 = pci_dev_bar_addr(e.t.pci, 0);
	n = e.t.nev;
	pci_dev_reset(e.t.pci);
	TEST_ASSERT(pci_dev_command(e.t.pci) == 0 && fake_cfg_read(&e.f, 1, PCI_COMMAND, 2) == 0,
		    "command after reset");
	TEST_ASSERT(has_event(&e.t, n, 0, b0, false) && pci_dev_bar_addr(e.t.pci, 0) == 0,
		    "BAR 0 still mapped");
	TEST_ASSERT(bar_reg_addr(&e.f, 1, 0, false) == b0 - 32 * MiB, "BAR 0 not back");
	TEST_ASSERT(!pci_msix_enabled(e.t.pci) &&
		    fake_cfg_read(&e.f, 1, e.cap + PCI_MSIX_FLAGS, 2) == NR_VECTORS - 1,
		    "MSI-X after reset");
	TEST_ASSERT(e.f.routes_used == 0 && e.f.irqfds_assigned == 0, "routes after reset");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_INTERRUPT_LINE, 1) ==
		    MACHINE_PCI_INTX_GSI_BASE + 1 && fake_cfg_read(&e.f, 1, PCI_CACHE_LINE_SIZE, 1) == 0,
		    "writable header fields not reset");
	TEST_ASSERT(!(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT),
		    "INTx after reset");
	set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(pba(&e) == 0 &&
		    fake_mmio_read(&e.f, entry(&e, 0, PCI_MSIX_ENTRY_VECTOR_CTRL), 4) == 1 &&
		    fake_mmio_read(&e.f, entry(&e, 0, PCI_MSIX_ENTRY_DATA), 4) == 0,
		    "MSI-X table after reset");
	set_command(&e.f, 1, 0);
	teardown(&e.f, &e.t);
	TEST_PASS("reset");
}

static size_t save(struct pci_dev *d, uint8_t *buf, size_t room)
{
	size_t len = room;

	TEST_OK(pci_dev_save(d, buf, &len));
	return len;
}

static void expect_refused(struct msix_env *e, const uint8_t *blob, size_t len, const char *what)
{
	uint8_t before[1024], after[1024];
	size_t n1 = save(e->t.pci, before, sizeof(before)), n2;

	TEST_ASSERT(pci_dev_restore(e->t.pci, blob, len) == -EINVAL, "%s accepted", what);
	n2 = save(e->t.pci, after, sizeof(after));
	TEST_ASSERT(n1 == n2 && !memcmp(before, after, n1), "%s changed the device", what);
}

static void test_save_restore(void)
{
	uint8_t blob[1024], again[1024], bad[1024];
	struct msix_env e;
	size_t len, len2, need = 0;
	uint64_t b0, b2;
	int gsi0;

	busy_state(&e);
	b0 = pci_dev_bar_addr(e.t.pci, 0);
	b2 = pci_dev_bar_addr(e.t.pci, 2);
	TEST_ASSERT(pci_dev_save(e.t.pci, NULL, &need) == -ENOSPC && need > 256, "size query");
	len = need - 1;
	TEST_ASSERT(pci_dev_save(e.t.pci, blob, &len) == -ENOSPC && len == need, "short buffer");
	len = save(e.t.pci, blob, sizeof(blob));
	TEST_ASSERT(len == need, "saved %zu, needed %zu", len, need);

	pci_dev_reset(e.t.pci);
	TEST_OK(pci_dev_restore(e.t.pci, blob, len));
	len2 = save(e.t.pci, again, sizeof(again));
	TEST_ASSERT(len2 == len && !memcmp(blob, again, len), "round trip differs");
	TEST_ASSERT(pci_dev_bar_addr(e.t.pci, 0) == b0 && pci_dev_bar_addr(e.t.pci, 2) == b2 &&
		    fake_mmio_read(&e.f, b0, 1) == 0x88, "BARs not remapped");
	TEST_ASSERT(pci_msix_enabled(e.t.pci) && pba(&e) == 2, "MSI-X state");
	gsi0 = gsi_of(&e, 0x40);
	TEST_ASSERT(gsi0 >= 0 && gsi_of(&e, 0x43) >= 0 && e.f.routes_used == 2,
		    "live vectors not re-routed (%u routes)", e.f.routes_used);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi0) == 1, "restored vector does not send");
	TEST_ASSERT(fake_irq_level(&e.f, 17) == 0 &&
		    fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		    "INTx level (held low by MSI-X)");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_INTERRUPT_LINE, 1) == 0x0a, "interrupt line");

	/* Malformed blobs: refused, device unchanged. */
	expect_refused(&e, blob, 0, "empty blob");
	expect_refused(&e, blob, len - 1, "truncated blob");
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_refused(&e, bad, len + 1, "blob with a trailing byte");
	bad[0] ^= 1;
	expect_refused(&e, bad, len, "wrong magic");
	memcpy(bad, blob, len);
	bad[4] = 2;
	expect_refused(&e, bad, len, "other version");
	memcpy(bad, blob, len);
	bad[8 + PCI_VENDOR_ID] ^= 0xff;
	expect_refused(&e, bad, len, "another vendor");
	memcpy(bad, blob, len);
	bad[8 + PCI_BASE_ADDRESS_2] ^= PCI_BASE_ADDRESS_MEM_TYPE_64;
	expect_refused(&e, bad, len, "BAR type changed");
	memcpy(bad, blob, len);
	bad[8 + 256] = NR_VECTORS + 1;
	expect_refused(&e, bad, len, "other vector count");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4 + PCI_MSIX_ENTRY_VECTOR_CTRL] = 2;
	expect_refused(&e, bad, len, "reserved vector control bit");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4] |= 1;
	expect_refused(&e, bad, len, "unaligned message address");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4 + NR_VECTORS * 16] |= 1u << NR_VECTORS;
	expect_refused(&e, bad, len, "pending bit past the table");
	memcpy(bad, blob, len);
	bad[len - 1] = 2;
	expect_refused(&e, bad, len, "INTx level 2");
	expect_refused(&e, NULL, 5, "NULL buffer");
	/* Random garbage of every length. */
	for (size_t n = 0; n < len + 8; n++) {
		for (size_t i = 0; i < n; i++)
			bad[i] = (uint8_t)(i * 37 + n);
		TEST_ASSERT(pci_dev_restore(e.t.pci, bad, n) == -EINVAL, "garbage of %zu bytes", n);
	}
	/* Status error bits (write-one-to-clear) come back from a blob; a 1 clears them. */
	memcpy(bad, blob, len);
	bad[8 + PCI_STATUS + 1] |= PCI_STATUS_DETECTED_PARITY >> 8;
	TEST_OK(pci_dev_restore(e.t.pci, bad, len));
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY,
		    "error bit not restored");
	fake_cfg_write(&e.f, 1, PCI_STATUS, 2, 0);
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY,
		    "a 0 cleared the error bit");
	fake_cfg_write(&e.f, 1, PCI_STATUS, 2, PCI_STATUS_DETECTED_PARITY);
	TEST_ASSERT(!(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY),
		    "a 1 did not clear the error bit");
	/* Only guest-writable bits come from the blob: RO capability bytes stay. */
	memcpy(bad, blob, len);
	bad[8 + e.cap + PCI_MSIX_FLAGS] = 0x3f;    /* table size: read-only */
	TEST_OK(pci_dev_restore(e.t.pci, bad, len));
	TEST_ASSERT(fake_cfg_read(&e.f, 1, e.cap + PCI_MSIX_FLAGS, 2) ==
		    (PCI_MSIX_FLAGS_ENABLE | (NR_VECTORS - 1)), "read-only byte restored");
	set_command(&e.f, 1, 0);
	teardown(&e.f, &e.t);
	TEST_PASS("save/restore: round trip, malformed blobs refused");
}

/* ---- adding devices ---- */

static void test_add_errors(void)
{
	const struct fake_ctx_config cfg = { .pci = true };
	struct pci_dev *devs[MACHINE_PCI_MAX_SLOTS];
	struct pci_dev_desc desc, d2;
	struct fake_ctx f;
	struct pci_dev *d;
	struct tdev t = { 0 };
	unsigned int n;

	fake_ctx_init(&f, &cfg);
	desc = tdev_desc(&t);
	d2 = desc;
	d2.bar[0].size = 3 * KiB * 4;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "size not a power of two");
	d2 = desc;
	d2.bar[0].size = 2 * KiB;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "BAR under 4 KiB");
	d2 = desc;
	d2.bar[0].handler = NULL;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "BAR without handler");
	d2 = desc;
	d2.bar[5] = d2.bar[2];
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "64-bit BAR 5");
	d2 = desc;
	d2.bar[3] = d2.bar[0];
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "BAR in a 64-bit BAR's upper half");
	d2 = desc;
	d2.msix_bar = 0;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "MSI-X in a used BAR");
	d2.msix_bar = 3;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "MSI-X in an upper half");
	d2.msix_bar = PCI_NR_BARS;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "MSI-X BAR 6");
	d2 = desc;
	d2.msix_vectors = PCI_MSIX_MAX_VECTORS + 1;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "too many vectors");
	d2 = desc;
	d2.bar[0].type = (enum pci_bar_type)7;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "bad BAR type");
	d2 = desc;
	d2.vendor = 0xffff;
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -EINVAL, "vendor 0xffff");
	TEST_ASSERT(pci_dev_add(f.pci, NULL, &d) == -EINVAL, "NULL desc");

	/* The 32-bit window (under 1 GiB) takes one 512 MiB BAR. */
	d2 = desc;
	d2.bar[0].size = 512 * MiB;
	TEST_OK(pci_dev_add(f.pci, &d2, &d));
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &devs[0]) == -ENOSPC, "window overfull");
	pci_dev_remove(d);

	/* 31 devices, then no slot. */
	d2 = desc;
	d2.msix_vectors = PCI_MSIX_MAX_VECTORS;
	for (n = 0; n < MACHINE_PCI_MAX_SLOTS - 1; n++)
		TEST_OK(pci_dev_add(f.pci, &d2, &devs[n]));
	TEST_ASSERT(pci_dev_add(f.pci, &d2, &d) == -ENOSPC, "a 32nd device");
	for (n = 0; n < MACHINE_PCI_MAX_SLOTS - 1; n++)
		TEST_ASSERT(fake_cfg_read(&f, n + 1, 0, 4) == 0x56781234, "slot %u", n + 1);
	/* Removing one frees its slot. */
	pci_dev_remove(devs[7]);
	TEST_OK(pci_dev_add(f.pci, &d2, &devs[7]));
	TEST_ASSERT(pci_dev_slot(devs[7]) == 8, "slot %u reused", pci_dev_slot(devs[7]));
	for (n = 0; n < MACHINE_PCI_MAX_SLOTS - 1; n++)
		pci_dev_remove(devs[n]);
	pci_dev_remove(NULL);
	fake_ctx_destroy(&f);

	/* Bad windows. */
	{
		struct pci_host_config hc = { .mmio32_base = MACHINE_PCI_MMIO32_BASE + 1,
					      .mmio32_size = MiB };
		struct pci_host *h;
		const struct fake_ctx_config nopci = { 0 };

		fake_ctx_init(&f, &nopci);
		TEST_ASSERT(pci_host_create(&f.ctx, &hc, &h) == -EINVAL, "unaligned window");
		hc.mmio32_base = 0xfff00000;
		hc.mmio32_size = 2 * MiB;
		TEST_ASSERT(pci_host_create(&f.ctx, &hc, &h) == -EINVAL, "window past 4 GiB");
		hc = (struct pci_host_config){ .mmio64_base = PCI_MAX_BAR_ADDR - MiB,
					       .mmio64_size = 2 * MiB };
		TEST_ASSERT(pci_host_create(&f.ctx, &hc, &h) == -EINVAL, "window past 2^52");
		/* Without a 64-bit window a 64-bit BAR has no room. */
		hc = (struct pci_host_config){ .mmio32_base = MACHINE_PCI_MMIO32_BASE,
					       .mmio32_size = 64 * MiB };
		TEST_OK(pci_host_create(&f.ctx, &hc, &h));
		TEST_ASSERT(pci_dev_add(h, &desc, &d) == -ENOSPC, "64-bit BAR without a window");
		pci_host_destroy(h);
		fake_ctx_destroy(&f);
	}
	TEST_PASS("pci_dev_add refuses bad descriptions, full windows and slots");
}

/* ---- a hostile guest and busy devices ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct notifier {
	struct msix_env *e;
	atomic_bool stop;
	unsigned long sent;
};

static void *notify_thread(void *arg)
{
	struct notifier *n = arg;

	while (!atomic_load(&n->stop)) {
		int ret = pci_msix_notify(n->e->t.pci, (unsigned int)(n->sent % NR_VECTORS));

		TEST_ASSERT(ret == 0, "notify %d", ret);
		pci_intx_set(n->e->t.pci, n->sent & 1);
		(void)pci_dev_bus_master(n->e->t.pci);
		(void)pci_msix_enabled(n->e->t.pci);
		n->sent++;
	}
	return NULL;
}

/* Reads the BARs wherever they are while they move (bus_unregister waits for them). */
static void *reader_thread(void *arg)
{
	struct notifier *n = arg;

	while (!atomic_load(&n->stop)) {
		for (unsigned int b = 0; b < 3; b++) {
			uint64_t a = pci_dev_bar_addr(n->e->t.pci, b);

			if (a)
				(void)fake_mmio_read(&n->e->f, a, 4);
		}
	}
	return NULL;
}

static void test_hostile(void)
{
	static const unsigned int sizes[] = { 1, 2, 3, 4, 8 };
	pthread_t thr[2];
	struct notifier n = { 0 };
	struct msix_env e;
	uint64_t b[3];

	msix_setup(&e);
	n.e = &e;
	atomic_init(&n.stop, false);
	for (unsigned int i = 0; i < 3; i++)
		b[i] = bar_reg_addr(&e.f, 1, i, i == 2);
	TEST_ASSERT(!pthread_create(&thr[0], NULL, notify_thread, &n), "thread");
	TEST_ASSERT(!pthread_create(&thr[1], NULL, reader_thread, &n), "thread");
	for (unsigned int round = 0; round < HOSTILE_ROUNDS; round++) {
		uint64_t r = rnd(), v = rnd();
		unsigned int size = sizes[r % 5];

		switch ((r >> 8) % 6) {
		case 0:   /* raw conf1 ports, any size */
			fake_pio_write(&e.f, MACHINE_PCI_CONF1_ADDR_PORT + (r >> 16) % 8, size, v);
			(void)fake_pio_read(&e.f, MACHINE_PCI_CONF1_ADDR_PORT + (r >> 24) % 8, size);
			break;
		case 1:   /* any register of slots 0-3, any function or bus now and then */
			fake_cfg_write_bdf(&e.f, (r >> 40) % 16 == 0, (r >> 16) % 4,
					   (r >> 44) % 16 == 0, (unsigned int)(r >> 24) & 0xff,
					   size == 3 || size == 8 ? 4 : size, (uint32_t)v);
			break;
		case 2:   /* the MSI-X table and PBA, any size and offset */
			fake_mmio_write(&e.f, b[1] + (v >> 20) % PCI_MSIX_BAR_BYTES, size, v);
			break;
		case 3:
			(void)fake_mmio_read(&e.f, b[1] + (v >> 20) % PCI_MSIX_BAR_BYTES, size);
			break;
		case 4:   /* keep the device mostly decoding, in its windows */
			set_command(&e.f, 1, (uint16_t)(v & 0x0407) | PCI_COMMAND_MEMORY);
			if (v & (1 << 20))
				msix_ctl(&e, (uint16_t)(v >> 8) & 0xc000);
			break;
		case 5:   /* move BARs around, sometimes onto each other */
			set_bar(&e.f, 1, (unsigned int)(v % 3), b[(v >> 4) % 3] + ((v >> 8) % 4) * 4 * KiB,
				v % 3 == 2);
			if (!(v & 0xff00))
				for (unsigned int i = 0; i < 3; i++)
					set_bar(&e.f, 1, i, b[i], i == 2);
			break;
		}
	}
	atomic_store(&n.stop, true);
	TEST_ASSERT(!pthread_join(thr[0], NULL) && !pthread_join(thr[1], NULL), "join");
	/* Still a working device: put it straight and check a vector end to end. */
	fake_cfg_write(&e.f, 1, PCI_COMMAND, 2, 0);
	for (unsigned int i = 0; i < 3; i++)
		set_bar(&e.f, 1, i, b[i], i == 2);
	set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	program(&e, 0, MSI_ADDR, 0xfeedbeef);
	vmask(&e, 0, false);
	(void)fake_irqfd_take(&e.f, gsi_of(&e, 0xfeedbeef));
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi_of(&e, 0xfeedbeef)) == 1, "vector 0 after the storm");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, 0, 4) == 0x56781234, "IDs after the storm");
	printf("# %lu notifies during %u hostile accesses\n", n.sent, HOSTILE_ROUNDS);
	teardown(&e.f, &e.t);
	TEST_PASS("hostile guest with busy devices");
}

int main(void)
{
	test_host_bridge();
	test_access_sizes();
	test_read_only();
	test_bar_assignment();
	test_bar_sizing();
	test_bar_decoding_and_moving();
	test_caps();
	test_msix_masks();
	test_msix_routes();
	test_intx();
	test_reset();
	test_save_restore();
	test_add_errors();
	test_hostile();
	return 0;
}
