// SPDX-License-Identifier: MIT
/*
 * The ACPI tables (vmm/acpi.h) read back the way an OS reads them: the
 * RSDP's checksums, the XSDT's pointers, each table's length and checksum,
 * the FADT's fields, the MADT's entries for 1..255 vCPUs, the DSDT's _CRS
 * windows against the machine layout and its _PRT against devices/pci.c's
 * wiring (decoded here, independently of vmm/aml.c), -ENOSPC at every
 * short length, the tables in real guest memory, and iasl's view of them
 * (tests/test_acpi_iasl.c). Then the AML encoder's encodings
 * (tests/test_acpi_aml.c) and the sleep register device.
 * One Meson test per case (see main()).
 */
#include <stdlib.h>
#include <string.h>

#include "devices/acpi_sleep.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/test_acpi.h"
#include "vmm/acpi.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

const struct acpi_machine acpi_machines[] = {
	{ "512M", 512 * MiB, 0 },
	{ "3G", 3 * GiB, 0 },
	{ "5G", 5 * GiB, 0 },
	{ "512M+hotplug-1G", 512 * MiB, 1 * GiB },
	{ "5G+hotplug-8G", 5 * GiB, 8 * GiB },
};
const size_t acpi_nr_machines = sizeof(acpi_machines) / sizeof(acpi_machines[0]);

uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t le32(const uint8_t *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

void acpi_build(struct acpi_tables *t, unsigned int vcpus, uint64_t ram, uint64_t hotplug)
{
	const struct acpi_config c = { .nr_vcpus = vcpus, .layout = &t->layout };

	TEST_OK(mem_machine_layout_build(ram, hotplug, &t->layout));
	t->base = MACHINE_ACPI_TABLES_GPA;
	memset(t->buf, 0xa5, sizeof(t->buf));
	TEST_OK(acpi_tables_build(&c, t->base, t->buf, sizeof(t->buf), &t->len));
	TEST_ASSERT(t->len <= MACHINE_ACPI_TABLES_END - MACHINE_ACPI_TABLES_GPA,
		    "%zu bytes of tables do not fit the area", t->len);
}

/* The len bytes at gpa, which must lie inside the tables. */
static const uint8_t *at(const struct acpi_tables *t, uint64_t gpa, size_t len)
{
	TEST_ASSERT(gpa >= t->base && gpa - t->base <= t->len && len <= t->len - (gpa - t->base),
		    "[0x%llx, +%zu) lies outside the tables [0x%llx, +%zu)",
		    (unsigned long long)gpa, len, (unsigned long long)t->base, t->len);
	return t->buf + (gpa - t->base);
}

/* The table at gpa: its signature, a length inside the buffer, a zero sum, the OEM fields. */
static const uint8_t *table_at(const struct acpi_tables *t, uint64_t gpa, const char *sig)
{
	const uint8_t *p = at(t, gpa, 36);
	uint32_t len = le32(p + 4);

	TEST_ASSERT(!memcmp(p, sig, 4), "0x%llx: '%.4s', want %s", (unsigned long long)gpa, p, sig);
	TEST_ASSERT(len >= 36, "%s: length %u", sig, len);
	p = at(t, gpa, len);
	TEST_ASSERT(sum8(p, len) == 0, "%s: checksum (sum 0x%02x)", sig, sum8(p, len));
	TEST_ASSERT(!memcmp(p + 10, "MEMVMM", 6) && !memcmp(p + 28, "MVMM", 4),
		    "%s: OEM ID '%.6s', creator '%.4s'", sig, p + 10, p + 28);
	TEST_ASSERT(gpa % 8 == 0, "%s at 0x%llx: aligned", sig, (unsigned long long)gpa);
	return p;
}

const uint8_t *acpi_rsdp(const struct acpi_tables *t)
{
	const uint8_t *r = at(t, t->base, 36);

	TEST_ASSERT(!memcmp(r, "RSD PTR ", 8), "RSDP signature");
	TEST_ASSERT(sum8(r, 20) == 0, "RSDP checksum (first 20 bytes)");
	TEST_ASSERT(r[15] == 2 && le32(r + 20) == 36, "revision %u, length %u", r[15], le32(r + 20));
	TEST_ASSERT(sum8(r, 36) == 0, "RSDP extended checksum");
	TEST_ASSERT(!memcmp(r + 9, "MEMVMM", 6), "RSDP OEM ID");
	TEST_ASSERT(le32(r + 16) == 0, "no RSDT");
	return r;
}

/* A table the XSDT lists (FACP, APIC), or the DSDT through the FADT. */
const uint8_t *acpi_find(const struct acpi_tables *t, const char *sig)
{
	const uint8_t *x = table_at(t, le64(acpi_rsdp(t) + 24), "XSDT");
	uint32_t n = (le32(x + 4) - 36) / 8;

	TEST_ASSERT((le32(x + 4) - 36) % 8 == 0, "XSDT length");
	if (!strcmp(sig, "XSDT"))
		return x;
	if (!strcmp(sig, "DSDT"))
		return table_at(t, le64(acpi_find(t, "FACP") + 140), "DSDT");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = at(t, le64(x + 36 + 8 * i), 4);

		if (!memcmp(p, sig, 4))
			return table_at(t, le64(x + 36 + 8 * i), sig);
	}
	TEST_ASSERT(false, "the XSDT lists no %s", sig);
	return NULL;
}

/* ---- cases -------------------------------------------------------------- */

static struct acpi_tables tables;

/* Every table reached from the RSDP has its signature, a length inside the buffer, a zero sum. */
static void run_checksums(const void *arg)
{
	static const unsigned int vcpus[] = { 1, 2, 64, 255 };

	for (size_t m = 0; m < acpi_nr_machines; m++) {
		for (size_t v = 0; v < sizeof(vcpus) / sizeof(vcpus[0]); v++) {
			struct acpi_tables *t = &tables;
			const uint8_t *x;

			acpi_build(t, vcpus[v], acpi_machines[m].ram, acpi_machines[m].hotplug);
			x = table_at(t, le64(acpi_rsdp(t) + 24), "XSDT");
			TEST_ASSERT(le32(x + 4) == 36 + 2 * 8 && x[8] == 1, "XSDT: 2 entries, rev 1");
			TEST_ASSERT(acpi_find(t, "FACP") && acpi_find(t, "APIC") && acpi_find(t, "DSDT"),
				    "all tables");
		}
	}
	TEST_PASS("RSDP and every table: signature, length, checksum, OEM fields");
}

/* XSDT entries land on FACP and APIC, in that order; X_DSDT on the DSDT. */
static void run_xsdt(const void *arg)
{
	struct acpi_tables *t = &tables;
	const uint8_t *x, *f;

	acpi_build(t, 2, 512 * MiB, 0);
	x = acpi_find(t, "XSDT");
	TEST_ASSERT(!memcmp(at(t, le64(x + 36), 4), "FACP", 4), "entry 0 is the FADT");
	TEST_ASSERT(!memcmp(at(t, le64(x + 44), 4), "APIC", 4), "entry 1 is the MADT");
	f = acpi_find(t, "FACP");
	TEST_ASSERT(!memcmp(at(t, le64(f + 140), 4), "DSDT", 4), "X_DSDT");
	TEST_ASSERT(le32(f + 40) == 0 && le32(f + 36) == 0 && le64(f + 132) == 0,
		    "no 32-bit DSDT, no FACS");
	TEST_ASSERT(le64(acpi_rsdp(t) + 24) == t->base + 48, "XSDT right after the RSDP");
	TEST_PASS("XSDT -> FADT, MADT; FADT -> DSDT");
}

static void expect_gas_io_byte(const uint8_t *g, uint16_t port, const char *what)
{
	TEST_ASSERT(g[0] == 1 && g[1] == 8 && g[2] == 0 && g[3] == 1 && le64(g + 4) == port,
		    "%s: space %u width %u offset %u access %u address 0x%llx, want SystemIO byte "
		    "0x%x", what, g[0], g[1], g[2], g[3], (unsigned long long)le64(g + 4), port);
}

static void run_fadt(const void *arg)
{
	struct acpi_tables *t = &tables;
	const uint8_t *f;
	uint32_t flags;

	acpi_build(t, 4, 3 * GiB, 0);
	f = acpi_find(t, "FACP");
	TEST_ASSERT(le32(f + 4) == 276 && f[8] == 6, "length %u revision %u", le32(f + 4), f[8]);
	flags = le32(f + 112);
	TEST_ASSERT(flags & (1u << 20), "HW_REDUCED_ACPI: 0x%x", flags);
	TEST_ASSERT(flags & (1u << 10), "RESET_REG_SUP: 0x%x", flags);
	TEST_ASSERT((flags & (3u << 4)) == 3u << 4, "no fixed power/sleep buttons: 0x%x", flags);
	TEST_ASSERT(!(flags & ~((1u << 20) | (1u << 10) | (3u << 4))), "no other flags: 0x%x",
		    flags);
	TEST_ASSERT(le16(f + 109) == ((1u << 2) | (1u << 5)),
		    "IAPC_BOOT_ARCH 0x%x: VGA and CMOS RTC not present, no 8042", le16(f + 109));
	expect_gas_io_byte(f + 116, MACHINE_I8042_COMMAND_PORT, "RESET_REG");
	TEST_ASSERT(f[128] == MACHINE_I8042_CMD_RESET, "RESET_VALUE 0x%x", f[128]);
	expect_gas_io_byte(f + 244, MACHINE_ACPI_SLEEP_CONTROL_PORT, "SLEEP_CONTROL_REG");
	expect_gas_io_byte(f + 256, MACHINE_ACPI_SLEEP_STATUS_PORT, "SLEEP_STATUS_REG");
	TEST_ASSERT(!memcmp(f + 268, "MEMVMM", 6), "hypervisor vendor id");
	/* Hardware-reduced: no PM1, PM2, PM timer or GPE blocks, no SCI. */
	for (unsigned int off = 46; off < 109; off++)
		TEST_ASSERT(f[off] == 0, "fixed hardware field at %u is 0x%x", off, f[off]);
	for (unsigned int off = 148; off < 244; off++)
		TEST_ASSERT(f[off] == 0, "X_ block at %u is 0x%x", off, f[off]);
	TEST_PASS("FADT: hardware-reduced, reset and sleep registers, X_DSDT");
}

/*
 * MADT for n vCPUs: n enabled LAPICs with UID = APIC ID = index, the
 * IOAPIC, IRQ 4's override, the NMI.
 */
static void check_madt(unsigned int n)
{
	struct acpi_tables *t = &tables;
	unsigned int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	const uint8_t *m, *e, *end;

	acpi_build(t, n, 512 * MiB, 0);
	m = acpi_find(t, "APIC");
	TEST_ASSERT(le32(m + 36) == MACHINE_LAPIC_BASE && le32(m + 40) == 1,
		    "LAPIC address 0x%x, flags 0x%x", le32(m + 36), le32(m + 40));
	end = m + le32(m + 4);
	for (e = m + 44; e < end; e += e[1]) {
		TEST_ASSERT(end - e >= 2 && e[1] >= 2 && e[1] <= end - e, "entry at %td runs out",
			    e - m);
		switch (e[0]) {
		case 0:
			TEST_ASSERT(e[1] == 8 && e[2] == lapics && e[3] == lapics &&
				    le32(e + 4) == 1, "LAPIC %u: uid %u id %u flags 0x%x", lapics,
				    e[2], e[3], le32(e + 4));
			lapics++;
			break;
		case 1:
			TEST_ASSERT(e[1] == 12 && e[2] == 0 && le32(e + 4) == MACHINE_IOAPIC_BASE &&
				    le32(e + 8) == 0, "IOAPIC entry");
			ioapics++;
			break;
		case 2:
			TEST_ASSERT(e[1] == 10 && e[2] == 0 && e[3] == MACHINE_COM1_IRQ &&
				    le32(e + 4) == MACHINE_COM1_IRQ && le16(e + 8) == 0x5,
				    "override: bus %u irq %u gsi %u flags 0x%x", e[2], e[3],
				    le32(e + 4), le16(e + 8));
			isos++;
			break;
		case 4:
			TEST_ASSERT(e[1] == 6 && e[2] == 0xff && e[5] == 1, "LAPIC NMI on LINT1, all");
			nmis++;
			break;
		default:
			TEST_ASSERT(false, "unexpected MADT entry type %u", e[0]);
		}
	}
	TEST_ASSERT(e == end, "entries fill the table exactly");
	TEST_ASSERT(lapics == n && ioapics == 1 && isos == 1 && nmis == 1,
		    "%u vCPUs: %u LAPICs, %u IOAPICs, %u overrides, %u NMIs", n, lapics, ioapics,
		    isos, nmis);
}

static void run_madt(const void *arg)
{
	static const unsigned int vcpus[] = { 1, 2, 64, 255 };
	struct mem_machine_layout l;
	struct acpi_config c = { .layout = &l };
	size_t len;

	for (size_t i = 0; i < sizeof(vcpus) / sizeof(vcpus[0]); i++)
		check_madt(vcpus[i]);
	TEST_OK(mem_machine_layout_build(512 * MiB, 0, &l));
	c.nr_vcpus = 0;
	TEST_ASSERT(acpi_tables_build(&c, 0, tables.buf, sizeof(tables.buf), &len) == -EINVAL,
		    "0 vCPUs");
	c.nr_vcpus = ACPI_MAX_VCPUS + 1;
	TEST_ASSERT(acpi_tables_build(&c, 0, tables.buf, sizeof(tables.buf), &len) == -EINVAL,
		    "256 vCPUs");
	TEST_PASS("MADT for 1, 2, 64, 255 vCPUs; 0 and 256 refused");
}

/* Configurations acpi_tables_build() refuses. */
static void run_bad_config(const void *arg)
{
	struct mem_machine_layout l, bad;
	struct acpi_config c = { .nr_vcpus = 1, .layout = &l };
	uint8_t *buf = tables.buf;
	size_t cap = sizeof(tables.buf), len;

	TEST_OK(mem_machine_layout_build(512 * MiB, 0, &l));
	TEST_ASSERT(acpi_tables_build(NULL, 0, buf, cap, &len) == -EINVAL, "no config");
	TEST_ASSERT(acpi_tables_build(&c, 8, buf, cap, &len) == -EINVAL, "RSDP not 16-aligned");
	TEST_ASSERT(acpi_tables_build(&c, UINT64_MAX - 4095, buf, cap, &len) == -EINVAL,
		    "addresses wrap");
	c.layout = NULL;
	TEST_ASSERT(acpi_tables_build(&c, 0, buf, cap, &len) == -EINVAL, "no layout");
	c.layout = &bad;
	bad = l;
	bad.pci_mmio32_size = 0;
	TEST_ASSERT(acpi_tables_build(&c, 0, buf, cap, &len) == -EINVAL, "empty 32-bit window");
	bad = l;
	bad.pci_mmio32_size = 0x40000001;
	TEST_ASSERT(acpi_tables_build(&c, 0, buf, cap, &len) == -EINVAL, "32-bit window past 4G");
	bad = l;
	bad.pci_mmio32_base = 1ull << 32;
	TEST_ASSERT(acpi_tables_build(&c, 0, buf, cap, &len) == -EINVAL, "32-bit window at 4G");
	bad = l;
	bad.pci_mmio64_base = UINT64_MAX - 4095;
	TEST_ASSERT(acpi_tables_build(&c, 0, buf, cap, &len) == -EINVAL, "64-bit window wraps");
	bad = l;
	bad.pci_mmio64_size = 0;
	TEST_OK(acpi_tables_build(&c, 0, buf, cap, &len));   /* no 64-bit window: none listed */
	TEST_PASS("bad configurations refused with -EINVAL");
}

/* Every cap below what the tables need: -ENOSPC, and not a byte written past cap. */
static void run_enospc(const void *arg)
{
	static const unsigned int vcpus[] = { 1, 255 };
	struct mem_machine_layout l;

	TEST_OK(mem_machine_layout_build(5 * GiB, 1 * GiB, &l));
	for (size_t v = 0; v < sizeof(vcpus) / sizeof(vcpus[0]); v++) {
		const struct acpi_config c = { .nr_vcpus = vcpus[v], .layout = &l };
		size_t need, len;

		TEST_OK(acpi_tables_build(&c, 0, tables.buf, sizeof(tables.buf), &need));
		for (size_t cap = 0; cap < need; cap++) {
			/* Exactly cap bytes: ASan sees any write past the end. */
			uint8_t *b = malloc(cap ? cap : 1);

			TEST_ASSERT(b, "malloc");
			TEST_ASSERT(acpi_tables_build(&c, 0, cap ? b : NULL, cap, &len) == -ENOSPC,
				    "%u vCPUs, cap %zu of %zu", vcpus[v], cap, need);
			free(b);
			memset(tables.buf, 0x5a, need + 64);
			TEST_ASSERT(acpi_tables_build(&c, 0, tables.buf, cap, &len) == -ENOSPC,
				    "cap %zu", cap);
			for (size_t i = cap; i < need + 64; i++)
				TEST_ASSERT(tables.buf[i] == 0x5a, "cap %zu: byte %zu written", cap, i);
		}
		TEST_OK(acpi_tables_build(&c, 0, tables.buf, need, &len));
		TEST_ASSERT(len == need, "exactly enough: %zu", len);
	}
	TEST_PASS("-ENOSPC at every short length, nothing written past the cap");
}

/* The same config gives the same bytes, whatever the buffer held. */
static void run_deterministic(const void *arg)
{
	static uint8_t a[64 << 10], b[64 << 10];
	struct mem_machine_layout l;
	struct acpi_config c = { .nr_vcpus = 7, .layout = &l };
	size_t la, lb;

	TEST_OK(mem_machine_layout_build(3 * GiB, 2 * GiB, &l));
	memset(a, 0x00, sizeof(a));
	memset(b, 0xff, sizeof(b));
	TEST_OK(acpi_tables_build(&c, MACHINE_ACPI_TABLES_GPA, a, sizeof(a), &la));
	TEST_OK(acpi_tables_build(&c, MACHINE_ACPI_TABLES_GPA, b, sizeof(b), &lb));
	TEST_ASSERT(la == lb && !memcmp(a, b, la), "two builds differ");
	c.nr_vcpus = 8;
	TEST_OK(acpi_tables_build(&c, MACHINE_ACPI_TABLES_GPA, b, sizeof(b), &lb));
	/* 8 bytes more in the MADT; the DSDT after it moves to the next 16-byte boundary. */
	TEST_ASSERT(lb >= la + 8 && lb < la + 8 + 16, "one more vCPU: %zu -> %zu bytes", la, lb);
	TEST_PASS("deterministic, padding included");
}

/* acpi_tables_write() into real guest memory (anonymous, no KVM); a legacy scan finds the RSDP. */
static void run_write(const void *arg)
{
	const struct mem_config mc = { .size = 256 * MiB, .backend = &mem_backend_anon };
	struct acpi_tables *t = &tables;
	static uint8_t area[MACHINE_ACPI_TABLES_END - MACHINE_ACPI_TABLES_GPA];
	struct acpi_config c = { .nr_vcpus = 3, .layout = &t->layout };
	struct guest_mem gm, empty;
	uint64_t rsdp = 0, found = 0;

	memset(&gm, 0, sizeof(gm));
	TEST_OK(mem_create(&gm, &mc, -1, NULL));
	TEST_OK(mem_machine_layout_build(mc.size, 0, &t->layout));
	TEST_OK(acpi_tables_write(&gm, &c, &rsdp));
	TEST_ASSERT(rsdp == MACHINE_ACPI_RSDP_GPA, "RSDP at 0x%llx", (unsigned long long)rsdp);
	TEST_OK(mem_read(&gm, MACHINE_ACPI_TABLES_GPA, area, sizeof(area)));
	for (uint64_t a = MACHINE_ACPI_TABLES_GPA; a < MACHINE_ACPI_TABLES_END && !found; a += 16)
		if (!memcmp(area + (a - MACHINE_ACPI_TABLES_GPA), "RSD PTR ", 8))
			found = a;
	TEST_ASSERT(found == rsdp, "the scan finds the RSDP at 0x%llx", (unsigned long long)found);
	acpi_build(t, 3, mc.size, 0);
	TEST_ASSERT(!memcmp(area, t->buf, t->len), "guest memory holds acpi_tables_build()'s bytes");
	TEST_ASSERT(acpi_find(t, "APIC"), "readable");
	c.nr_vcpus = 0;
	TEST_ASSERT(acpi_tables_write(&gm, &c, &rsdp) == -EINVAL, "bad config");
	mem_destroy(&gm);
	memset(&empty, 0, sizeof(empty));
	c.nr_vcpus = 1;
	TEST_ASSERT(acpi_tables_write(&empty, &c, &rsdp) == -EFAULT, "no RAM there");
	TEST_PASS("acpi_tables_write: the same bytes in guest memory, RSDP found by a scan");
}

/* ---- the sleep registers (devices/acpi_sleep.c) --------------------------- */

/* A guest access this device must claim. */
static void out(struct fake_ctx *f, uint16_t port, unsigned int size, uint64_t v)
{
	TEST_ASSERT(bus_write(&f->pio, port, size, v), "%u-byte write at 0x%x not claimed", size,
		    port);
}

static uint64_t in(struct fake_ctx *f, uint16_t port, unsigned int size)
{
	uint64_t v = ~0ull;

	TEST_ASSERT(bus_read(&f->pio, port, size, &v), "%u-byte read at 0x%x not claimed", size,
		    port);
	return v;
}

static void sleep_dev(struct fake_ctx *f, void **st)
{
	const struct fake_ctx_config cfg = { 0 };

	fake_ctx_init(f, &cfg);
	TEST_OK(acpi_sleep_device_ops.create(&f->ctx, NULL, st));
}

static void sleep_dev_done(struct fake_ctx *f, void *st)
{
	acpi_sleep_device_ops.destroy(st);
	fake_ctx_destroy(f);
}

static void run_sleep(const void *arg)
{
	const uint16_t ctl = MACHINE_ACPI_SLEEP_CONTROL_PORT, sts = MACHINE_ACPI_SLEEP_STATUS_PORT;
	const uint8_t s5 = MACHINE_ACPI_S5_SLP_TYP << MACHINE_ACPI_SLP_TYP_SHIFT | MACHINE_ACPI_SLP_EN;
	static struct fake_ctx f;
	struct device_ctx no_stop;
	uint64_t v;
	void *st, *st2;
	int dummy;

	sleep_dev(&f, &st);
	TEST_ASSERT(acpi_sleep_device_ops.create(&f.ctx, &dummy, &st2) == -EINVAL, "takes no cfg");
	TEST_ASSERT(acpi_sleep_device_ops.create(&f.ctx, NULL, &st2) == -EEXIST, "ports taken");
	no_stop = f.ctx;
	no_stop.request_stop = NULL;
	TEST_ASSERT(acpi_sleep_device_ops.create(&no_stop, NULL, &st2) == -EINVAL,
		    "needs request_stop");
	TEST_ASSERT(!acpi_sleep_device_ops.save && !acpi_sleep_device_ops.restore, "no state");

	TEST_ASSERT(in(&f, ctl, 1) == 0 && in(&f, sts, 1) == 0 && in(&f, ctl, 2) == 0,
		    "reads are 0");
	for (unsigned int typ = 0; typ < 8; typ++) {
		if (typ == MACHINE_ACPI_S5_SLP_TYP)
			continue;
		out(&f, ctl, 1, typ << MACHINE_ACPI_SLP_TYP_SHIFT | MACHINE_ACPI_SLP_EN);
	}
	out(&f, ctl, 1, s5 & ~MACHINE_ACPI_SLP_EN);           /* SLP_EN clear */
	out(&f, ctl, 1, 0xff & ~MACHINE_ACPI_SLP_EN);
	out(&f, sts, 1, s5);                                  /* the status register */
	out(&f, sts, 1, 0x80);                                /* WAK_STS clear */
	TEST_ASSERT(!bus_write(&f.pio, sts, 2, s5), "2 bytes at the status port: not ours");
	TEST_ASSERT(!bus_write(&f.pio, ctl, 4, s5), "4 bytes: past the status port, not ours");
	TEST_ASSERT(!bus_write(&f.pio, ctl, 8, s5), "8 bytes: not ours");
	TEST_ASSERT(!bus_read(&f.pio, ctl, 4, &v), "4-byte read: not ours");
	out(&f, ctl, 2, (uint64_t)s5 << 8);                   /* S5 in the status byte */
	TEST_ASSERT(f.stop_reason == VM_STOP_NONE, "nothing stopped the VM yet (%d)",
		    f.stop_reason);
	out(&f, ctl, 1, s5 | 0xc0);   /* bits 6-7 do not matter */
	TEST_ASSERT(f.stop_reason == VM_STOP_POWEROFF && f.stop_status == 0,
		    "S5: power-off, status 0 (reason %d, status %d)", f.stop_reason, f.stop_status);
	sleep_dev_done(&f, st);

	sleep_dev(&f, &st);
	out(&f, ctl, 2, 0xff00 | s5);                         /* a 2-byte write */
	TEST_ASSERT(f.stop_reason == VM_STOP_POWEROFF && f.stop_status == 0, "2-byte S5");
	sleep_dev_done(&f, st);

	sleep_dev(&f, &st);
	out(&f, ctl, 1, s5);
	TEST_ASSERT(f.stop_reason == VM_STOP_POWEROFF && f.stop_status == 0, "1-byte S5 (Linux)");
	sleep_dev_done(&f, st);
	TEST_PASS("sleep registers: only SLP_EN|S5 at the control port powers off; garbage ignored");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "checksums", run_checksums, NULL },
		{ "xsdt", run_xsdt, NULL },
		{ "fadt", run_fadt, NULL },
		{ "madt", run_madt, NULL },
		{ "bad-config", run_bad_config, NULL },
		{ "crs", acpi_run_crs, NULL },
		{ "prt", acpi_run_prt, NULL },
		{ "enospc", run_enospc, NULL },
		{ "deterministic", run_deterministic, NULL },
		{ "write", run_write, NULL },
		{ "iasl", acpi_run_iasl, NULL },
		{ "aml", acpi_run_aml, NULL },
		{ "sleep", run_sleep, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
