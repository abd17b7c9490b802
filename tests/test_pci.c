// SPDX-License-Identifier: MIT
/*
 * PCI without KVM (tests/fake_ctx.h): the host bridge and empty slots
 * through conf1, config space write masks, BAR assignment, sizing, moving
 * and decoding, capabilities, what pci_dev_add() refuses; then
 * tests/test_pci_irq.c: MSI-X (masks, pending bits, routes, irqfds,
 * fallbacks), INTx, reset, save/restore, and a guest that writes garbage
 * while the device raises interrupts on other threads.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <stdint.h>
#include <string.h>

#include "devices/pci.h"
#include "mem/machine.h"
#include "tests/fake_ctx.h"
#include "tests/pci_tdev.h"
#include "tests/test.h"

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

	tdev_setup(&f, &t);
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
	tdev_teardown(&f, &t);
	TEST_PASS("byte, word and dword accesses");
}

static void test_read_only(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint32_t before[16];

	tdev_setup(&f, &t);
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
	cfg_set_command(&f, 1, 0);
	tdev_teardown(&f, &t);
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

	tdev_setup(&f, &t);
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_0, 4) & 0xf) == 0, "BAR 0: 32-bit");
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_1, 4) & 0xf) == 0, "BAR 1: 32-bit");
	TEST_ASSERT((fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_2, 4) & 0xf) ==
		    (PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH),
		    "BAR 2: 64-bit prefetchable");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_4, 4) == 0 &&
		    fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_5, 4) == 0, "unused BARs read 0");
	b0 = cfg_bar_addr(&f, 1, 0, false);
	b1 = cfg_bar_addr(&f, 1, 1, false);
	b2 = cfg_bar_addr(&f, 1, 2, true);
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
	c0 = cfg_bar_addr(&f, 2, 0, false);
	c1 = cfg_bar_addr(&f, 2, 1, false);
	c2 = cfg_bar_addr(&f, 2, 2, true);
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
	TEST_ASSERT(cfg_bar_addr(&f, 2, 0, false) == c0 && cfg_bar_addr(&f, 2, 2, true) == c2,
		    "re-added device got other places");
	pci_dev_remove(second);
	tdev_teardown(&f, &t);
	TEST_PASS("BAR assignment: windows, alignment, no overlap");
}

static void test_bar_sizing(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint64_t b0, b2;

	tdev_setup(&f, &t);
	b0 = cfg_bar_addr(&f, 1, 0, false);
	b2 = cfg_bar_addr(&f, 1, 2, true);
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
	cfg_set_bar(&f, 1, 0, b0, false);
	cfg_set_bar(&f, 1, 2, b2, true);
	TEST_ASSERT(cfg_bar_addr(&f, 1, 0, false) == b0 && cfg_bar_addr(&f, 1, 2, true) == b2,
		    "BARs put back");
	/* A byte write to a BAR changes only the address bits. */
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_2, 1, 0xff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_BASE_ADDRESS_2, 1) ==
		    (PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH),
		    "BAR flag bits changed");
	tdev_teardown(&f, &t);
	TEST_PASS("BAR sizing");
}

static void test_bar_decoding_and_moving(void)
{
	struct fake_ctx f;
	struct tdev t;
	uint64_t b0, b2, nb0, nb2, b1;
	unsigned int n;

	tdev_setup(&f, &t);
	b0 = cfg_bar_addr(&f, 1, 0, false);
	b1 = cfg_bar_addr(&f, 1, 1, false);
	b2 = cfg_bar_addr(&f, 1, 2, true);
	TEST_ASSERT(fake_mmio_read(&f, b0, 4) == 0xffffffff && !atomic_load(&t.reads),
		    "BAR decodes with memory space off");

	cfg_set_command(&f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(t.commands == 1 && t.old_cmd == 0 && t.new_cmd == PCI_COMMAND_MEMORY,
		    "command callback");
	TEST_ASSERT(tdev_has_event(&t, 0, 0, b0, true) && tdev_has_event(&t, 0, 1, b1, true) &&
		    tdev_has_event(&t, 0, 2, b2, true) && t.nev == 3, "bar_map on enable (%u)", t.nev);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == b0 && pci_dev_bar_addr(t.pci, 2) == b2,
		    "pci_dev_bar_addr");
	TEST_ASSERT(fake_mmio_read(&f, b0 + 0x10, 4) == (0x55667788u ^ 0x10) &&
		    t.last_off == 0x10 && t.last_size == 4, "BAR 0 read");
	fake_mmio_write(&f, b2 + 0x3ff8, 8, 0xdeadbeefcafef00dull);
	TEST_ASSERT(t.last_off == 0x3ff8 && t.last_val == 0xdeadbeefcafef00dull, "BAR 2 write");

	/* Move BAR 0 while decoding: off the old place, then on the new one. */
	nb0 = b0 + 64 * MiB;
	n = t.nev;
	cfg_set_bar(&f, 1, 0, nb0, false);
	TEST_ASSERT(t.nev == n + 2 && t.ev[n].mapped == false && t.ev[n].addr == b0 &&
		    t.ev[n + 1].mapped && t.ev[n + 1].addr == nb0, "move events");
	TEST_ASSERT(fake_mmio_read(&f, b0, 4) == 0xffffffff, "old place still claimed");
	TEST_ASSERT(fake_mmio_read(&f, nb0 + 8, 2) == (0x7788 ^ 8), "new place not claimed");
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == nb0, "moved address");

	/* A 64-bit BAR moves over two writes; it ends where both dwords say. */
	nb2 = b2 + 8 * GiB + 0x100000;
	cfg_set_bar(&f, 1, 2, nb2, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == nb2 && fake_mmio_read(&f, nb2, 1) == 0x88,
		    "64-bit BAR moved to 0x%lx", (unsigned long)pci_dev_bar_addr(t.pci, 2));
	TEST_ASSERT(fake_mmio_read(&f, b2, 4) == 0xffffffff, "old 64-bit place claimed");
	TEST_ASSERT(tdev_has_event(&t, n, 2, nb2, true), "64-bit BAR mapped event");

	/* Unusable addresses: overlapping another BAR, past 2^52, zero, the sizing pattern. */
	cfg_set_bar(&f, 1, 0, b1, false);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == 0 && pci_dev_bar_addr(t.pci, 1) == b1,
		    "overlapping BAR mapped");
	cfg_set_bar(&f, 1, 2, PCI_MAX_BAR_ADDR, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == 0, "BAR crossing 2^52 mapped");
	cfg_set_bar(&f, 1, 2, 0, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 2) == 0, "BAR at 0 mapped");
	fake_cfg_write(&f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == 0, "BAR being sized mapped");
	cfg_set_bar(&f, 1, 0, nb0, false);
	cfg_set_bar(&f, 1, 2, nb2, true);
	TEST_ASSERT(pci_dev_bar_addr(t.pci, 0) == nb0 && pci_dev_bar_addr(t.pci, 2) == nb2,
		    "BARs back");

	/* Memory space off: off the bus, callbacks say so. */
	n = t.nev;
	cfg_set_command(&f, 1, 0);
	TEST_ASSERT(t.nev == n + 3 && tdev_has_event(&t, n, 0, nb0, false) &&
		    tdev_has_event(&t, n, 2, nb2, false) && tdev_has_event(&t, n, 1, b1, false),
		    "unmap events");
	TEST_ASSERT(fake_mmio_read(&f, nb0, 4) == 0xffffffff && pci_dev_bar_addr(t.pci, 0) == 0,
		    "BAR decodes after memory space off");
	tdev_teardown(&f, &t);
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

	tdev_setup(&f, &t);
	TEST_OK(pci_dev_add_cap(t.pci, vcap, sizeof(vcap), wmask, &off));
	t.vcap = off;
	msix = cfg_find_cap(&f, 1, PCI_CAP_ID_MSIX);
	TEST_ASSERT(msix && fake_cfg_read(&f, 1, msix + 1, 1) == off,
		    "MSI-X cap at 0x%x, next 0x%x", msix, fake_cfg_read(&f, 1, msix + 1, 1));
	TEST_ASSERT(cfg_find_cap(&f, 1, PCI_CAP_ID_VNDR_) == off && off % 4 == 0, "vendor cap");
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
	tdev_teardown(&f, &t);
	TEST_PASS("capabilities: list, write masks, device callbacks, cfg_get/set");
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
