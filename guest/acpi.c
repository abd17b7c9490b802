// SPDX-License-Identifier: MIT
/*
 * ACPI, read as a PC OS reads it: the RSDP where the boot loader says or
 * on a 16-byte boundary of 0xe0000..0xfffff, its checksums (revision 2:
 * both), the XSDT (or, for an ACPI 1.0 RSDP as QEMU's, the RSDT), the FADT
 * and MADT it lists and the DSDT the FADT names, each with its length and
 * checksum. Nothing is trusted: every address
 * must lie in the identity map below 4 GiB, every length inside its table
 * and under ACPI_TABLE_MAX_BYTES.
 */
#include <stdbool.h>
#include <stddef.h>

#include "acpi.h"
#include "console.h"
#include "cpu.h"
#include "mem/machine.h"

#define RSDP_SCAN_START      0xe0000ull
#define RSDP_SCAN_END        0x100000ull
#define RSDP_ALIGN           16
#define RSDP_V1_BYTES        20
#define RSDP_V2_BYTES        36
#define RSDP_MAX_BYTES       4096
#define HDR_BYTES            36
#define ACPI_TABLE_MAX_BYTES 0x10000u
#define ACPI_ADDR_LIMIT      ((uint64_t)BOOT_MAPPED_GIB << GIB_SHIFT)
#define XSDT_MAX_ENTRIES     64

#define RSDP_RSDT            16
#define RSDP_XSDT            24
#define FADT_DSDT            40
#define FADT_MIN_BYTES       44          /* through DSDT */
#define FADT_FLAGS           112
#define FADT_X_DSDT          140
#define FADT_SLEEP_CONTROL   244
#define FADT_SLEEP_BYTES     268         /* through SLEEP_STATUS_REG (revision 5 and later) */
#define FADT_HW_REDUCED      (1u << 20)
#define GAS_SYSTEM_IO        1
#define IO_PORT_MAX          0xffffu

#define MADT_BODY            44
#define MADT_LAPIC           0
#define MADT_IOAPIC          1
#define MADT_LAPIC_BYTES     8
#define MADT_LAPIC_ENABLED   1u

#define AML_NAME_OP          0x08
#define AML_PACKAGE_OP       0x12
#define AML_ZERO_OP          0x00
#define AML_ONE_OP           0x01
#define AML_BYTE_PREFIX      0x0a

#define POWEROFF_WAIT_MS     1000
#define DEFAULT_TSC_KHZ      1000000     /* without a TSC rate, assume 1 GHz */

struct acpi_info {
	uint64_t rsdp, root;       /* root: the XSDT, or the RSDT (revision 0 RSDP) */
	bool xsdt;
	const char *from;
	const uint8_t *fadt, *madt, *dsdt;
	unsigned int cpus, ioapics;
	uint16_t sleep_port;       /* 0: not in I/O space */
	unsigned int slp_typ;      /* \_S5's SLP_TYPa */
};

static uint64_t rsdp_hint;

void acpi_set_rsdp_hint(uint64_t paddr)
{
	rsdp_hint = paddr;
}

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static bool sig_is(const uint8_t *p, const char *sig, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (p[i] != (uint8_t)sig[i])
			return false;
	return true;
}

static uint8_t sum8(const uint8_t *p, uint64_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* [addr, addr + len) is readable: not at 0, inside the identity map. */
static bool range_ok(uint64_t addr, uint64_t len)
{
	return addr && addr < ACPI_ADDR_LIMIT && len <= ACPI_ADDR_LIMIT - addr;
}

static const uint8_t *ptr(uint64_t addr)
{
	return (const uint8_t *)(uintptr_t)addr;
}

/* An RSDP at addr: revision 0 (20 bytes), or 2 and later with both checksums right. */
static bool rsdp_ok(uint64_t addr)
{
	const uint8_t *r = ptr(addr);
	uint32_t len;

	if (!range_ok(addr, RSDP_V1_BYTES) || !sig_is(r, "RSD PTR ", 8) ||
	    sum8(r, RSDP_V1_BYTES) != 0)
		return false;
	if (r[15] < 2)
		return true;
	if (!range_ok(addr, RSDP_V2_BYTES))
		return false;
	len = rd32(r + 20);
	return len >= RSDP_V2_BYTES && len <= RSDP_MAX_BYTES && range_ok(addr, len) &&
	       sum8(r, len) == 0;
}

/* The table at addr if it has signature sig, a sane length and a zero sum; else NULL. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	const uint8_t *t = ptr(addr);
	uint32_t len;

	if (!range_ok(addr, HDR_BYTES) || !sig_is(t, sig, 4))
		return NULL;
	len = rd32(t + 4);
	if (len < HDR_BYTES || len > ACPI_TABLE_MAX_BYTES || !range_ok(addr, len) ||
	    sum8(t, len) != 0)
		return NULL;
	return t;
}

static const char *find_rsdp(struct acpi_info *ai)
{
	if (rsdp_hint) {
		if (!rsdp_ok(rsdp_hint))
			return "rsdp-from-start-info";
		ai->rsdp = rsdp_hint;
		ai->from = "start-info";
		return NULL;
	}
	for (uint64_t a = RSDP_SCAN_START; a < RSDP_SCAN_END; a += RSDP_ALIGN) {
		if (rsdp_ok(a)) {
			ai->rsdp = a;
			ai->from = "scan";
			return NULL;
		}
	}
	return "no-rsdp";
}

/* Processor Local APIC entries (enabled) and I/O APICs, walking each entry's length. */
static const char *madt_count(struct acpi_info *ai)
{
	const uint8_t *m = ai->madt, *end = m + rd32(m + 4), *e;

	if (end - m < MADT_BODY)
		return "madt-length";
	for (e = m + MADT_BODY; e < end; e += e[1]) {
		if (end - e < 2 || e[1] < 2 || e[1] > end - e)
			return "madt-entry-length";
		if (e[0] == MADT_LAPIC && e[1] >= MADT_LAPIC_BYTES &&
		    (rd32(e + 4) & MADT_LAPIC_ENABLED))
			ai->cpus++;
		if (e[0] == MADT_IOAPIC)
			ai->ioapics++;
	}
	return NULL;
}

/*
 * \_S5's first element: Name (\_S5_ or _S5_, Package (n) { SLP_TYPa, ... }),
 * found by its bytes in the DSDT.
 */
static const char *dsdt_s5(struct acpi_info *ai)
{
	const uint8_t *d = ai->dsdt, *end = d + rd32(d + 4);

	for (const uint8_t *p = d + HDR_BYTES; end - p >= 10; p++) {
		const uint8_t *q = p + 1;

		if (p[0] != AML_NAME_OP)
			continue;
		if (*q == '\\')
			q++;
		if (!sig_is(q, "_S5_", 4))
			continue;
		q += 4;
		/* PackageOp, a one-byte PkgLength, NumElements, then the Integer. */
		if (q[0] != AML_PACKAGE_OP || (q[1] & 0xc0) || q[2] == 0)
			return "s5-package";
		q += 3;
		if (q[0] == AML_ZERO_OP || q[0] == AML_ONE_OP)
			ai->slp_typ = q[0];
		else if (q[0] == AML_BYTE_PREFIX && end - q >= 2)
			ai->slp_typ = q[1];
		else
			return "s5-slp-typ";
		return ai->slp_typ <= 7 ? NULL : "s5-slp-typ";
	}
	return "no-s5";
}

/*
 * The DSDT (X_DSDT, else the 32-bit one) and the sleep control register,
 * where the FADT has them.
 */
static const char *fadt_read(struct acpi_info *ai)
{
	const uint8_t *f = ai->fadt, *g = f + FADT_SLEEP_CONTROL;
	uint32_t len = rd32(f + 4);
	uint64_t dsdt = 0;

	if (len < FADT_MIN_BYTES)
		return "fadt-length";
	if (len >= FADT_X_DSDT + 8)
		dsdt = rd64(f + FADT_X_DSDT);
	if (!dsdt)
		dsdt = rd32(f + FADT_DSDT);
	ai->dsdt = table(dsdt, "DSDT");
	if (!ai->dsdt)
		return "dsdt";
	if (len >= FADT_SLEEP_BYTES && g[0] == GAS_SYSTEM_IO && rd64(g + 4) &&
	    rd64(g + 4) <= IO_PORT_MAX)
		ai->sleep_port = (uint16_t)rd64(g + 4);
	return dsdt_s5(ai);
}

static bool fadt_hw_reduced(const uint8_t *f)
{
	return rd32(f + 4) >= FADT_FLAGS + 4 && (rd32(f + FADT_FLAGS) & FADT_HW_REDUCED);
}

/* NULL, or what is wrong (one word, for the BAD line). */
static const char *acpi_read(struct acpi_info *ai)
{
	const uint8_t *x;
	const char *why;
	unsigned int entry;
	uint32_t n;

	*ai = (struct acpi_info){ 0 };
	why = find_rsdp(ai);
	if (why)
		return why;
	ai->xsdt = ptr(ai->rsdp)[15] >= 2;
	ai->root = ai->xsdt ? rd64(ptr(ai->rsdp) + RSDP_XSDT) : rd32(ptr(ai->rsdp) + RSDP_RSDT);
	entry = ai->xsdt ? 8 : 4;
	x = table(ai->root, ai->xsdt ? "XSDT" : "RSDT");
	if (!x || (rd32(x + 4) - HDR_BYTES) % entry)
		return ai->xsdt ? "xsdt" : "rsdt";
	n = (rd32(x + 4) - HDR_BYTES) / entry;
	if (n > XSDT_MAX_ENTRIES)
		return "root-entries";
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = x + HDR_BYTES + entry * i;
		uint64_t a = ai->xsdt ? rd64(e) : rd32(e);

		if (!range_ok(a, HDR_BYTES))
			return "root-entry";
		if (sig_is(ptr(a), "FACP", 4) && !(ai->fadt = table(a, "FACP")))
			return "fadt";
		if (sig_is(ptr(a), "APIC", 4) && !(ai->madt = table(a, "APIC")))
			return "madt";
	}
	if (!ai->fadt)
		return "no-fadt";
	if (!ai->madt)
		return "no-madt";
	why = madt_count(ai);
	return why ? why : fadt_read(ai);
}

const char *step_acpi(struct workload *w, const char *value)
{
	struct acpi_info ai;
	const char *bad = acpi_read(&ai);

	if (bad) {
		con_printf("memvmm-guest: acpi BAD %s\n", bad);
		return "ACPI tables are bad";
	}
	con_printf("memvmm-guest: acpi rsdp=0x%lx from=%s %s=0x%lx cpus=%u ioapic=%u fadt=%s "
		   "sleep=0x%x slp_typ=%u ok\n", ai.rsdp, ai.from, ai.xsdt ? "xsdt" : "rsdt",
		   ai.root, ai.cpus, ai.ioapics, fadt_hw_reduced(ai.fadt) ? "hw-reduced" : "full",
		   ai.sleep_port, ai.slp_typ);
	return NULL;
}

const char *step_acpi_poweroff(struct workload *w, const char *value)
{
	uint64_t khz = w->tsc_khz ? w->tsc_khz : DEFAULT_TSC_KHZ, end;
	struct acpi_info ai;
	const char *bad = acpi_read(&ai);
	uint8_t v;

	if (bad) {
		con_printf("memvmm-guest: acpi BAD %s\n", bad);
		return "ACPI tables are bad";
	}
	if (!ai.sleep_port)
		return "no sleep control register in I/O space";
	v = (uint8_t)((ai.slp_typ << MACHINE_ACPI_SLP_TYP_SHIFT & MACHINE_ACPI_SLP_TYP_MASK) |
		      MACHINE_ACPI_SLP_EN);
	con_printf("memvmm-guest: acpi-poweroff port=0x%x value=0x%x\n", ai.sleep_port, v);
	outb(ai.sleep_port, v);
	/* The VM stops from another thread: give it a moment before calling it ignored. */
	end = rdtsc() + POWEROFF_WAIT_MS * khz;
	while (rdtsc() < end)
		__asm__ volatile("pause");
	return "power-off was ignored";
}
