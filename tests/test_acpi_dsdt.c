// SPDX-License-Identifier: MIT
/*
 * The DSDT as an OS reads it: PCI0's _CRS (walked descriptor by descriptor
 * here, with its End Tag checksum) against the machine layout, COM1's
 * _CRS, the _PRT against devices/pci.c's INTx wiring, and \_S5.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/test.h"
#include "tests/test_acpi.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define CRS_MAX 16

static struct acpi_tables tables;

/* ---- AML, decoded here (not with vmm/aml.c) ---------------------------- */

/* A PkgLength at p (before end): its value; *n = its bytes. */
static size_t pkg_length(const uint8_t *p, const uint8_t *end, size_t *n)
{
	unsigned int follow = p[0] >> 6;
	size_t v;

	TEST_ASSERT(end - p > (ptrdiff_t)follow, "PkgLength runs out");
	*n = follow + 1;
	if (!follow)
		return p[0] & 0x3f;
	v = p[0] & 0x0f;
	for (unsigned int i = 1; i <= follow; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

/* An Integer at *pp; moves *pp past it. */
static uint64_t aml_int(const uint8_t **pp, const uint8_t *end)
{
	static const struct { uint8_t op; unsigned int bytes; } ints[] = {
		{ 0x0a, 1 }, { 0x0b, 2 }, { 0x0c, 4 }, { 0x0e, 8 },
	};
	const uint8_t *p = *pp;
	uint64_t v = 0;

	TEST_ASSERT(p < end, "Integer runs out");
	if (p[0] == 0x00 || p[0] == 0x01) {
		*pp = p + 1;
		return p[0];
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (p[0] != ints[i].op)
			continue;
		TEST_ASSERT(end - p > (ptrdiff_t)ints[i].bytes, "Integer runs out");
		for (unsigned int b = 0; b < ints[i].bytes; b++)
			v |= (uint64_t)p[1 + b] << (8 * b);
		*pp = p + 1 + ints[i].bytes;
		return v;
	}
	TEST_ASSERT(false, "opcode 0x%02x is not an Integer", p[0]);
	return 0;
}

/* What follows the nth (0, 1, ...) Name (seg or \seg, ...) in the DSDT's AML. */
static const uint8_t *dsdt_name(const uint8_t *d, const char *seg, unsigned int nth)
{
	const uint8_t *end = d + le32(d + 4);
	unsigned int seen = 0;

	for (const uint8_t *p = d + 36; p + 6 <= end; p++) {
		size_t root = p[1] == '\\';

		if (p[0] == 0x08 && !memcmp(p + 1 + root, seg, 4) && seen++ == nth)
			return p + 5 + root;
	}
	TEST_ASSERT(false, "no Name (%s) #%u in the DSDT", seg, nth);
	return NULL;
}

/* One resource descriptor, decoded. */
struct res {
	uint8_t tag;            /* 0x47 IO, 0x22 IRQ, 0x87/0x88/0x8a address spaces */
	uint8_t type, gen_flags, type_flags;
	uint64_t min, max, len;
	uint8_t align;
	uint16_t irq_mask;
};

struct crs {
	unsigned int nr;
	struct res r[CRS_MAX];
};

static uint64_t le_n(const uint8_t *p, unsigned int n)
{
	return n == 2 ? le16(p) : n == 4 ? le32(p) : le64(p);
}

/* A Buffer of resource descriptors at p, walked to its End Tag, whose checksum must hold. */
static void crs_parse(const uint8_t *p, const uint8_t *end, struct crs *c)
{
	const uint8_t *body, *data, *q;
	size_t n, len;
	uint64_t size;
	uint8_t sum = 0;

	memset(c, 0, sizeof(*c));
	TEST_ASSERT(p < end && p[0] == 0x11, "_CRS is not a Buffer");
	len = pkg_length(p + 1, end, &n);
	body = p + 1 + n;
	TEST_ASSERT(len >= n && (size_t)(end - (p + 1)) >= len, "Buffer runs out");
	end = p + 1 + len;
	data = body;
	size = aml_int(&data, end);
	TEST_ASSERT(size == (uint64_t)(end - data), "BufferSize %llu, %td bytes follow",
		    (unsigned long long)size, end - data);
	for (q = data; q < end;) {
		struct res *r = &c->r[c->nr];
		unsigned int w;

		if (!(q[0] & 0x80)) {                        /* small */
			size_t l = q[0] & 7;

			TEST_ASSERT((size_t)(end - q) >= 1 + l, "small descriptor runs out");
			if (q[0] == 0x79) {
				TEST_ASSERT(l == 1 && q + 2 == end, "End Tag last");
				for (const uint8_t *b = data; b < end; b++)
					sum = (uint8_t)(sum + *b);
				TEST_ASSERT(sum == 0, "End Tag checksum: sum 0x%02x", sum);
				return;
			}
			TEST_ASSERT(c->nr < CRS_MAX, "too many descriptors");
			r->tag = q[0];
			if (q[0] == 0x47) {
				r->type_flags = q[1];
				r->min = le16(q + 2);
				r->max = le16(q + 4);
				r->align = q[6];
				r->len = q[7];
			} else if (q[0] == 0x22) {
				r->irq_mask = le16(q + 1);
			} else {
				TEST_ASSERT(false, "unexpected small descriptor 0x%02x", q[0]);
			}
			c->nr++;
			q += 1 + l;
			continue;
		}
		TEST_ASSERT(end - q >= 3 && (size_t)(end - q) >= 3u + le16(q + 1),
			    "large descriptor runs out");
		w = q[0] == 0x88 ? 2 : q[0] == 0x87 ? 4 : q[0] == 0x8a ? 8 : 0;
		TEST_ASSERT(w && le16(q + 1) == 3 + 5 * w, "descriptor 0x%02x, length %u", q[0],
			    le16(q + 1));
		TEST_ASSERT(c->nr < CRS_MAX, "too many descriptors");
		r->tag = q[0];
		r->type = q[3];
		r->gen_flags = q[4];
		r->type_flags = q[5];
		TEST_ASSERT(le_n(q + 6, w) == 0 && le_n(q + 6 + 3 * w, w) == 0,
			    "granularity and translation 0");
		r->min = le_n(q + 6 + w, w);
		r->max = le_n(q + 6 + 2 * w, w);
		r->len = le_n(q + 6 + 4 * w, w);
		c->nr++;
		q += 3 + le16(q + 1);
	}
	TEST_ASSERT(false, "no End Tag");
}

static const uint8_t *dsdt_end(const uint8_t *d)
{
	return d + le32(d + 4);
}

static void expect_window(const struct res *r, uint8_t tag, uint8_t type, uint64_t min,
			  uint64_t len, const char *what)
{
	TEST_ASSERT(r->tag == tag && r->type == type && r->min == min && r->len == len &&
		    r->max == min + len - 1 && r->gen_flags == 0x0c,
		    "%s: tag 0x%02x type %u [0x%llx, 0x%llx] len 0x%llx flags 0x%x; want "
		    "[0x%llx, +0x%llx) produced, min and max fixed", what, r->tag, r->type,
		    (unsigned long long)r->min, (unsigned long long)r->max,
		    (unsigned long long)r->len, r->gen_flags, (unsigned long long)min,
		    (unsigned long long)len);
}

/* No window overlaps RAM or the hotplug region; the 32-bit one ends below the IOAPIC. */
static void expect_clear_of_ram(const struct mem_machine_layout *l, uint64_t min, uint64_t len)
{
	for (unsigned int i = 0; i < l->ram.nr; i++)
		TEST_ASSERT(min >= l->ram.range[i].gpa + l->ram.range[i].size ||
			    min + len <= l->ram.range[i].gpa, "window 0x%llx overlaps RAM",
			    (unsigned long long)min);
	if (l->hotplug_size)
		TEST_ASSERT(min >= l->hotplug_gpa + l->hotplug_size ||
			    min + len <= l->hotplug_gpa, "window 0x%llx overlaps hotplug memory",
			    (unsigned long long)min);
}

void acpi_run_crs(const void *arg)
{
	for (size_t m = 0; m < acpi_nr_machines; m++) {
		const struct acpi_machine *mc = &acpi_machines[m];
		const struct mem_machine_layout *l = &tables.layout;
		const uint8_t *d;
		struct crs c;

		acpi_build(&tables, 2, mc->ram, mc->hotplug);
		d = acpi_find(&tables, "DSDT");
		crs_parse(dsdt_name(d, "_CRS", 0), dsdt_end(d), &c);
		TEST_ASSERT(c.nr == 6, "%s: PCI0 _CRS has %u descriptors", mc->name, c.nr);
		expect_window(&c.r[0], 0x88, 2, 0, 1, "bus numbers");
		TEST_ASSERT(c.r[1].tag == 0x47 && c.r[1].min == 0xcf8 && c.r[1].max == 0xcf8 &&
			    c.r[1].len == 8 && c.r[1].type_flags == 1, "conf1 ports consumed");
		expect_window(&c.r[2], 0x88, 1, 0, 0xcf8, "I/O below conf1");
		expect_window(&c.r[3], 0x88, 1, 0xd00, 0xf300, "I/O above conf1");
		expect_window(&c.r[4], 0x87, 0, l->pci_mmio32_base, l->pci_mmio32_size, "MMIO32");
		expect_window(&c.r[5], 0x8a, 0, l->pci_mmio64_base, l->pci_mmio64_size, "MMIO64");
		TEST_ASSERT(l->pci_mmio32_base + l->pci_mmio32_size <= MACHINE_IOAPIC_BASE,
			    "MMIO32 below the IOAPIC");
		TEST_ASSERT(l->pci_mmio64_base >= 4 * GiB, "MMIO64 above 4G");
		expect_clear_of_ram(l, l->pci_mmio32_base, l->pci_mmio32_size);
		expect_clear_of_ram(l, l->pci_mmio64_base, l->pci_mmio64_size);

		crs_parse(dsdt_name(d, "_CRS", 1), dsdt_end(d), &c);
		TEST_ASSERT(c.nr == 2 && c.r[0].tag == 0x47 && c.r[0].min == MACHINE_COM1_PORT &&
			    c.r[0].max == MACHINE_COM1_PORT && c.r[0].len == 8 &&
			    c.r[1].tag == 0x22 && c.r[1].irq_mask == 1u << MACHINE_COM1_IRQ,
			    "COM1 _CRS: ports 0x3f8+8, IRQ 4");
	}
	TEST_PASS("_CRS windows match the layout on 512M, 3G, 5G and with hotplug memory");
}

/* _PRT: 128 entries, slot S pin P -> GSI 16 + (S + P) % 4; \_S5 = {5, ...}. */
void acpi_run_prt(const void *arg)
{
	const uint8_t *d, *p, *end, *pkg_end;
	size_t n, len;
	bool seen[32][4] = { { false } };

	acpi_build(&tables, 1, 512 * MiB, 0);
	d = acpi_find(&tables, "DSDT");
	end = dsdt_end(d);
	p = dsdt_name(d, "_PRT", 0);
	TEST_ASSERT(p[0] == 0x12, "_PRT is a Package");
	len = pkg_length(p + 1, end, &n);
	pkg_end = p + 1 + len;
	TEST_ASSERT(pkg_end <= end && p[1 + n] == 128, "128 elements (%u)", p[1 + n]);
	p += 1 + n + 1;
	for (unsigned int i = 0; i < 128; i++) {
		const uint8_t *e;
		uint64_t addr, pin, src, gsi;

		TEST_ASSERT(p < pkg_end && p[0] == 0x12, "element %u is a Package", i);
		len = pkg_length(p + 1, pkg_end, &n);
		e = p + 1 + n;
		TEST_ASSERT(e[0] == 4, "element %u has 4 elements", i);
		e++;
		addr = aml_int(&e, pkg_end);
		pin = aml_int(&e, pkg_end);
		src = aml_int(&e, pkg_end);
		gsi = aml_int(&e, pkg_end);
		TEST_ASSERT(e == p + 1 + len, "element %u: nothing else", i);
		TEST_ASSERT((addr & 0xffff) == 0xffff && addr >> 16 < 32 && pin < 4 && src == 0,
			    "element %u: address 0x%llx pin %llu source %llu", i,
			    (unsigned long long)addr, (unsigned long long)pin,
			    (unsigned long long)src);
		TEST_ASSERT(gsi == MACHINE_PCI_INTX_GSI_BASE + ((addr >> 16) + pin) % 4,
			    "slot %llu pin %llu -> GSI %llu", (unsigned long long)(addr >> 16),
			    (unsigned long long)pin, (unsigned long long)gsi);
		TEST_ASSERT(!seen[addr >> 16][pin], "slot/pin twice");
		seen[addr >> 16][pin] = true;
		p = e;
	}
	TEST_ASSERT(p == pkg_end, "nothing after the 128 entries");

	p = dsdt_name(d, "_S5_", 0);
	TEST_ASSERT(p[0] == 0x12 && p[2] >= 1, "\\_S5 is a Package");
	p += 3;
	TEST_ASSERT(aml_int(&p, end) == MACHINE_ACPI_S5_SLP_TYP, "\\_S5 SLP_TYPa");
	TEST_ASSERT(d[36] == 0x08 && d[37] == '\\', "\\_S5 first, at the root");
	TEST_PASS("_PRT: every slot and pin on devices/pci.c's GSI; \\_S5 = 5");
}
