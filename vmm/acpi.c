// SPDX-License-Identifier: MIT
/*
 * ACPI tables (see acpi.h). Layouts from the ACPI 6.x specification,
 * section 5.2: RSDP (5.2.5.3), the common header (5.2.6), XSDT (5.2.8),
 * FADT (5.2.9, revision 6, 276 bytes), DSDT (5.2.11.1, AML from aml.c) and
 * MADT (5.2.12, revision 4 as in ACPI 6.0 Errata A). In the buffer: the
 * RSDP, XSDT, FADT, MADT, then the DSDT, each on a 16-byte boundary.
 *
 * Hardware-reduced (FADT flag HW_REDUCED_ACPI): no PM1 blocks, SCI, GPEs,
 * FACS or PM timer; power-off is the sleep control register (S5), reboot
 * the reset register (the i8042 command port). Linux then also skips the
 * legacy PIC and PIT setup (arch/x86 acpi_reduced_hw_init()).
 */
#include "vmm/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mem/machine.h"
#include "mem/mem.h"
#include "vmm/aml.h"

#define ACPI_OEM_ID            "MEMVMM"      /* 6 bytes */
#define ACPI_OEM_TABLE_ID      "MEMVMM  "    /* 8 bytes */
#define ACPI_OEM_REVISION      1u
#define ACPI_CREATOR_ID        "MVMM"        /* 4 bytes */
#define ACPI_CREATOR_REVISION  1u
#define ACPI_HYPERVISOR_ID     "MEMVMM  "    /* FADT Hypervisor Vendor Identity, 8 bytes */

#define ACPI_TABLE_ALIGN_BYTES 16

/* RSDP (revision 2). */
#define RSDP_SIGNATURE         "RSD PTR "
#define RSDP_BYTES             36
#define RSDP_V1_BYTES          20            /* what the first checksum covers */
#define RSDP_CHECKSUM          8
#define RSDP_OEM_ID            9
#define RSDP_REVISION          15
#define RSDP_LENGTH            20
#define RSDP_XSDT_ADDRESS      24
#define RSDP_EXT_CHECKSUM      32

/* The header every other table starts with. */
#define HDR_BYTES              36
#define HDR_LENGTH             4
#define HDR_REVISION           8
#define HDR_CHECKSUM           9
#define HDR_OEM_ID             10
#define HDR_OEM_TABLE_ID       16
#define HDR_OEM_REVISION       24
#define HDR_CREATOR_ID         28
#define HDR_CREATOR_REVISION   32

#define XSDT_REVISION          1
#define XSDT_ENTRIES           2             /* FADT, MADT */
#define XSDT_BYTES             (HDR_BYTES + 8 * XSDT_ENTRIES)

/* FADT, revision 6 (ACPI 6.0 and later). */
#define FADT_REVISION          6
#define FADT_MINOR_REVISION    0
#define FADT_BYTES             276
#define FADT_FLAGS             112
#define FADT_IAPC_BOOT_ARCH    109
#define FADT_RESET_REG         116
#define FADT_RESET_VALUE       128
#define FADT_MINOR_VERSION     131
#define FADT_X_DSDT            140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG  256
#define FADT_HYPERVISOR_ID     268
/* Fixed feature flags. */
#define FADT_F_PWR_BUTTON      (1u << 4)     /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON      (1u << 5)     /* set: no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot architecture flags: no 8042 listed (memvmm's only resets), no VGA, no RTC. */
#define FADT_BOOT_VGA_NOT_PRESENT      (1u << 2)
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)

/* Generic Address Structure (5.2.3.2). */
#define GAS_BYTES              12
#define GAS_SYSTEM_IO          1
#define GAS_ACCESS_BYTE        1
#define GAS_BYTE_BITS          8

/* MADT, revision 4 (ACPI 6.0 Errata A). */
#define MADT_REVISION          4
#define MADT_LAPIC_ADDRESS     36
#define MADT_FLAGS             40
#define MADT_BODY              44
#define MADT_F_PCAT_COMPAT     1u            /* KVM's irqchip has the two 8259s */
#define MADT_LAPIC             0
#define MADT_LAPIC_BYTES       8
#define MADT_LAPIC_ENABLED     1u
#define MADT_IOAPIC            1
#define MADT_IOAPIC_BYTES      12
#define MADT_IOAPIC_ID         0
#define MADT_IOAPIC_GSI_BASE   0
#define MADT_ISO               2
#define MADT_ISO_BYTES         10
#define MADT_ISO_BUS_ISA       0
#define MADT_ISO_ACTIVE_HIGH   0x1u          /* polarity, bits 0-1 */
#define MADT_ISO_EDGE          0x4u          /* trigger mode, bits 2-3 */
#define MADT_LAPIC_NMI         4
#define MADT_LAPIC_NMI_BYTES   6
#define MADT_ALL_PROCESSORS    0xff
#define MADT_LINT1             1

#define DSDT_REVISION          2             /* 2 and later: 64-bit AML integers */

/* The PCI host bridge's decoded ranges (all of bus 0's I/O but conf1). */
#define PCI_BUS_FIRST          0
#define PCI_BUS_LAST           0
#define PCI_IO_LOW_END         (MACHINE_PCI_CONF1_ADDR_PORT - 1)      /* 0x0000-0x0cf7 */
#define PCI_CONF1_PORTS        8                                       /* 0xcf8-0xcff */
#define PCI_IO_HIGH_START      0x0d00u
#define PCI_IO_END             0xffffu
#define PCI_PINS               4                                       /* INTA..INTD */
#define PCI_PRT_ANY_FUNCTION   0xffffu
#define COM1_PORTS             8

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes the sum of p[0..n) zero when stored in one of them (that one 0). */
static uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* The tables under construction: buf[0] is at guest-physical base. */
struct acpi_buf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint64_t base;
};

/* n zeroed bytes at the next 16-byte boundary; *off = where. */
static int acpi_alloc(struct acpi_buf *b, size_t n, size_t *off)
{
	size_t at = (b->len + ACPI_TABLE_ALIGN_BYTES - 1) & ~(size_t)(ACPI_TABLE_ALIGN_BYTES - 1);

	if (at < b->len || at > b->cap || n > b->cap - at)
		return -ENOSPC;
	memset(b->buf + b->len, 0, at + n - b->len);
	*off = at;
	b->len = at + n;
	return 0;
}

static void acpi_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t revision)
{
	memcpy(t, sig, 4);
	put32(t + HDR_LENGTH, len);
	t[HDR_REVISION] = revision;
	memcpy(t + HDR_OEM_ID, ACPI_OEM_ID, 6);
	memcpy(t + HDR_OEM_TABLE_ID, ACPI_OEM_TABLE_ID, 8);
	put32(t + HDR_OEM_REVISION, ACPI_OEM_REVISION);
	memcpy(t + HDR_CREATOR_ID, ACPI_CREATOR_ID, 4);
	put32(t + HDR_CREATOR_REVISION, ACPI_CREATOR_REVISION);
}

/* Last, once the table's bytes are final. */
static void acpi_seal(uint8_t *t, uint32_t len)
{
	t[HDR_CHECKSUM] = 0;
	t[HDR_CHECKSUM] = acpi_checksum(t, len);
}

/* A byte register in I/O space. */
static void acpi_gas_io_byte(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = GAS_BYTE_BITS;
	g[2] = 0;                     /* bit offset */
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

static bool acpi_config_ok(const struct acpi_config *c)
{
	const struct mem_machine_layout *l = c ? c->layout : NULL;

	if (!l || c->nr_vcpus == 0 || c->nr_vcpus > ACPI_MAX_VCPUS)
		return false;
	/* The 32-bit window: not empty, below 4 GiB. */
	if (l->pci_mmio32_size == 0 || l->pci_mmio32_base > UINT32_MAX ||
	    l->pci_mmio32_size - 1 > UINT32_MAX - l->pci_mmio32_base)
		return false;
	/* The 64-bit window: none, or one that does not wrap. */
	return l->pci_mmio64_size == 0 ||
	       l->pci_mmio64_size - 1 <= UINT64_MAX - l->pci_mmio64_base;
}

/* ---- MADT --------------------------------------------------------------- */

static size_t madt_bytes(unsigned int nr_vcpus)
{
	return MADT_BODY + (size_t)nr_vcpus * MADT_LAPIC_BYTES + MADT_IOAPIC_BYTES +
	       MADT_ISO_BYTES + MADT_LAPIC_NMI_BYTES;
}

static void madt_fill(uint8_t *t, const struct acpi_config *c)
{
	uint32_t len = (uint32_t)madt_bytes(c->nr_vcpus);
	uint8_t *e = t + MADT_BODY;

	acpi_header(t, "APIC", len, MADT_REVISION);
	put32(t + MADT_LAPIC_ADDRESS, (uint32_t)MACHINE_LAPIC_BASE);
	put32(t + MADT_FLAGS, MADT_F_PCAT_COMPAT);
	/* Processor Local APIC: ACPI processor UID and APIC ID = vCPU index (vcpu.c's CPUID). */
	for (unsigned int i = 0; i < c->nr_vcpus; i++, e += MADT_LAPIC_BYTES) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_BYTES;
		e[2] = (uint8_t)i;
		e[3] = (uint8_t)i;
		put32(e + 4, MADT_LAPIC_ENABLED);
	}
	/* I/O APIC: KVM's, GSIs from 0. */
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_BYTES;
	e[2] = MADT_IOAPIC_ID;
	put32(e + 4, (uint32_t)MACHINE_IOAPIC_BASE);
	put32(e + 8, MADT_IOAPIC_GSI_BASE);
	e += MADT_IOAPIC_BYTES;
	/*
	 * COM1's ISA IRQ on the same GSI, edge, active high. The other ISA
	 * IRQs keep the default identity mapping; IRQ 0 is not moved to GSI 2
	 * because KVM's PIT raises GSI 0, which is IOAPIC pin 0.
	 */
	e[0] = MADT_ISO;
	e[1] = MADT_ISO_BYTES;
	e[2] = MADT_ISO_BUS_ISA;
	e[3] = MACHINE_COM1_IRQ;
	put32(e + 4, MACHINE_COM1_IRQ);
	put16(e + 8, MADT_ISO_ACTIVE_HIGH | MADT_ISO_EDGE);
	e += MADT_ISO_BYTES;
	/* LINT1 of every processor is the NMI input (vcpu.c programs it so). */
	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_BYTES;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, 0);              /* flags: conforms to the bus */
	e[5] = MADT_LINT1;
	acpi_seal(t, len);
}

/* ---- DSDT --------------------------------------------------------------- */

/* \_SB.PCI0._CRS: bus 0, I/O but conf1, the 32-bit and 64-bit windows. */
static void dsdt_pci_crs(struct aml *a, const struct mem_machine_layout *l)
{
	aml_mark m;

	aml_name(a, "_CRS");
	m = aml_res_begin(a);
	aml_res_word_bus(a, PCI_BUS_FIRST, PCI_BUS_LAST);
	aml_res_io(a, MACHINE_PCI_CONF1_ADDR_PORT, 1, PCI_CONF1_PORTS);   /* consumed */
	aml_res_word_io(a, 0, PCI_IO_LOW_END);
	aml_res_word_io(a, PCI_IO_HIGH_START, PCI_IO_END);
	aml_res_dword_mem(a, (uint32_t)l->pci_mmio32_base,
			  (uint32_t)(l->pci_mmio32_base + l->pci_mmio32_size - 1),
			  AML_RES_NON_CACHEABLE);
	if (l->pci_mmio64_size)
		aml_res_qword_mem(a, l->pci_mmio64_base,
				  l->pci_mmio64_base + l->pci_mmio64_size - 1, AML_RES_CACHEABLE);
	aml_res_end(a, m);
}

/*
 * \_SB.PCI0._PRT: for every slot and pin (0 = INTA), the GSI devices/pci.c
 * wires it to: MACHINE_PCI_INTX_GSI_BASE + (slot + pin) % 4, as
 * Package { 0xSSSSFFFF (any function), pin, 0 (a GSI, no link device), GSI }.
 */
static void dsdt_pci_prt(struct aml *a)
{
	aml_mark prt;

	aml_name(a, "_PRT");
	prt = aml_package_begin(a);
	for (unsigned int slot = 0; slot < MACHINE_PCI_MAX_SLOTS; slot++) {
		for (unsigned int pin = 0; pin < PCI_PINS; pin++) {
			aml_mark e = aml_package_begin(a);

			aml_integer(a, (uint64_t)slot << 16 | PCI_PRT_ANY_FUNCTION);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, MACHINE_PCI_INTX_GSI_BASE +
				       (slot + pin) % MACHINE_PCI_INTX_GSIS);
			aml_package_end(a, e, 4);
		}
	}
	aml_package_end(a, prt, MACHINE_PCI_MAX_SLOTS * PCI_PINS);
}

static void dsdt_body(struct aml *a, const struct acpi_config *c)
{
	aml_mark sb, dev, pkg, crs;

	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved. */
	aml_name(a, "\\_S5");
	pkg = aml_package_begin(a);
	aml_integer(a, MACHINE_ACPI_S5_SLP_TYP);
	aml_integer(a, MACHINE_ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_package_end(a, pkg, 4);

	sb = aml_scope_begin(a, "\\_SB");

	dev = aml_device_begin(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, PCI_BUS_FIRST);
	dsdt_pci_crs(a, c->layout);
	dsdt_pci_prt(a);
	aml_device_end(a, dev);

	dev = aml_device_begin(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 1);
	aml_name(a, "_CRS");
	crs = aml_res_begin(a);
	aml_res_io(a, MACHINE_COM1_PORT, 1, COM1_PORTS);
	aml_res_irq(a, MACHINE_COM1_IRQ);
	aml_res_end(a, crs);
	aml_device_end(a, dev);

	aml_scope_end(a, sb);
}

/* The DSDT at the next boundary: its header, then AML up to the end of the buffer. */
static int dsdt_build(struct acpi_buf *b, const struct acpi_config *c, size_t *off)
{
	struct aml a;
	size_t body;
	uint8_t *t;
	int ret;

	ret = acpi_alloc(b, HDR_BYTES, off);
	if (ret)
		return ret;
	t = b->buf + *off;
	aml_init(&a, t + HDR_BYTES, b->cap - b->len);
	dsdt_body(&a, c);
	ret = aml_finish(&a, &body);
	if (ret)
		return ret;
	if (body > UINT32_MAX - HDR_BYTES)
		return -E2BIG;
	b->len += body;
	acpi_header(t, "DSDT", (uint32_t)(HDR_BYTES + body), DSDT_REVISION);
	acpi_seal(t, (uint32_t)(HDR_BYTES + body));
	return 0;
}

/* ---- FADT, XSDT, RSDP ---------------------------------------------------- */

static void fadt_fill(uint8_t *t, uint64_t dsdt_gpa)
{
	acpi_header(t, "FACP", FADT_BYTES, FADT_REVISION);
	/* FIRMWARE_CTRL and DSDT (32-bit) stay 0: no FACS, X_DSDT instead. */
	put16(t + FADT_IAPC_BOOT_ARCH, FADT_BOOT_VGA_NOT_PRESENT | FADT_BOOT_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP |
			      FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	acpi_gas_io_byte(t + FADT_RESET_REG, MACHINE_I8042_COMMAND_PORT);
	t[FADT_RESET_VALUE] = MACHINE_I8042_CMD_RESET;
	t[FADT_MINOR_VERSION] = FADT_MINOR_REVISION;
	put64(t + FADT_X_DSDT, dsdt_gpa);
	acpi_gas_io_byte(t + FADT_SLEEP_CONTROL_REG, MACHINE_ACPI_SLEEP_CONTROL_PORT);
	acpi_gas_io_byte(t + FADT_SLEEP_STATUS_REG, MACHINE_ACPI_SLEEP_STATUS_PORT);
	memcpy(t + FADT_HYPERVISOR_ID, ACPI_HYPERVISOR_ID, 8);
	acpi_seal(t, FADT_BYTES);
}

static void xsdt_fill(uint8_t *t, uint64_t fadt_gpa, uint64_t madt_gpa)
{
	acpi_header(t, "XSDT", XSDT_BYTES, XSDT_REVISION);
	put64(t + HDR_BYTES, fadt_gpa);
	put64(t + HDR_BYTES + 8, madt_gpa);
	acpi_seal(t, XSDT_BYTES);
}

/* Revision 2: no RSDT (its address 0), the XSDT's, both checksums. */
static void rsdp_fill(uint8_t *r, uint64_t xsdt_gpa)
{
	memcpy(r, RSDP_SIGNATURE, 8);
	memcpy(r + RSDP_OEM_ID, ACPI_OEM_ID, 6);
	r[RSDP_REVISION] = 2;
	put32(r + RSDP_LENGTH, RSDP_BYTES);
	put64(r + RSDP_XSDT_ADDRESS, xsdt_gpa);
	r[RSDP_CHECKSUM] = acpi_checksum(r, RSDP_V1_BYTES);
	r[RSDP_EXT_CHECKSUM] = acpi_checksum(r, RSDP_BYTES);
}

int acpi_tables_build(const struct acpi_config *c, uint64_t base_gpa, void *buf, size_t cap,
		      size_t *len)
{
	struct acpi_buf b = { .buf = buf, .cap = buf ? cap : 0, .base = base_gpa };
	size_t rsdp, xsdt, fadt, madt, dsdt;
	int ret;

	if (!acpi_config_ok(c) || base_gpa % ACPI_TABLE_ALIGN_BYTES)
		return -EINVAL;
	/* Addresses of every byte of the buffer must not wrap. */
	if (b.cap && b.cap - 1 > UINT64_MAX - base_gpa)
		return -EINVAL;
	ret = acpi_alloc(&b, RSDP_BYTES, &rsdp);
	if (!ret)
		ret = acpi_alloc(&b, XSDT_BYTES, &xsdt);
	if (!ret)
		ret = acpi_alloc(&b, FADT_BYTES, &fadt);
	if (!ret)
		ret = acpi_alloc(&b, madt_bytes(c->nr_vcpus), &madt);
	if (!ret)
		ret = dsdt_build(&b, c, &dsdt);
	if (ret)
		return ret;
	madt_fill(b.buf + madt, c);
	fadt_fill(b.buf + fadt, base_gpa + dsdt);
	xsdt_fill(b.buf + xsdt, base_gpa + fadt, base_gpa + madt);
	rsdp_fill(b.buf + rsdp, base_gpa + xsdt);
	*len = b.len;
	return 0;
}

int acpi_tables_write(struct guest_mem *gm, const struct acpi_config *c, uint64_t *rsdp_gpa)
{
	const size_t cap = MACHINE_ACPI_TABLES_END - MACHINE_ACPI_TABLES_GPA;
	size_t len;
	void *buf;
	int ret;

	_Static_assert(MACHINE_ACPI_RSDP_GPA == MACHINE_ACPI_TABLES_GPA, "the RSDP comes first");
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	ret = acpi_tables_build(c, MACHINE_ACPI_TABLES_GPA, buf, cap, &len);
	if (ret)
		goto out;
	ret = mem_write(gm, MACHINE_ACPI_TABLES_GPA, buf, len);
	if (ret)
		goto out;
	*rsdp_gpa = MACHINE_ACPI_RSDP_GPA;
out:
	free(buf);
	return ret;
}
