// SPDX-License-Identifier: MIT
/*
 * End to end: the bundled test guest reads memvmm's ACPI tables (guest
 * step `acpi`: the RSDP from the start info or a legacy scan, the XSDT,
 * FADT and MADT with their checksums) and powers off through the FADT's
 * sleep control register (`acpi-poweroff`), which ends memvmm with exit
 * status 0 as a guest power-off. One Meson test per case (see main()).
 */
#include <stdio.h>
#include <string.h>

#include "mem/machine.h"
#include "tests/e2e.h"
#include "tests/test.h"

/* The guest's acpi line for a machine of vcpus vCPUs. */
static void check_acpi_line(const struct e2e_result *r, unsigned int vcpus)
{
	const char *line = e2e_guest_line(r, "acpi");

	TEST_ASSERT(line, "no acpi line:\n%.4000s\n%.2000s", r->out, r->err);
	TEST_ASSERT(!strstr(line, "BAD"), "the guest found bad tables: %s", line);
	TEST_ASSERT(e2e_key(line, "rsdp") == MACHINE_ACPI_RSDP_GPA, "rsdp: %s", line);
	TEST_ASSERT(e2e_key(line, "cpus") == vcpus, "%u vCPUs: %s", vcpus, line);
	TEST_ASSERT(e2e_key(line, "ioapic") == 1, "one IOAPIC: %s", line);
	TEST_ASSERT(e2e_key(line, "sleep") == MACHINE_ACPI_SLEEP_CONTROL_PORT, "sleep: %s", line);
	TEST_ASSERT(strstr(line, " fadt=hw-reduced ") && strstr(line, " ok"), "%s", line);
}

/* --vcpus 3 and 1: the MADT lists them all; the guest goes on and exits 0. */
static void test_tables(const void *arg)
{
	const char *three[] = { "run", "--vcpus", "3", "--cmdline", "acpi report", NULL };
	const char *one[] = { "run", "--vcpus", "1", "--cmdline", "acpi", NULL };
	struct e2e_result r;

	e2e_require_kvm();
	e2e_run(three, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	check_acpi_line(&r, 3);
	TEST_ASSERT(e2e_guest_line(&r, "report") && e2e_guest_line(&r, "done"), "went on: %s",
		    r.out);
	e2e_free(&r);

	e2e_run(one, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	check_acpi_line(&r, 1);
	e2e_free(&r);
	TEST_PASS("the guest reads the tables: 3 and 1 vCPUs in the MADT");
}

/* SLP_TYP 5 | SLP_EN to the FADT's sleep control register: memvmm ends with exit 0. */
static void test_poweroff(const void *arg)
{
	const char *args[] = { "run", "--vcpus", "2", "--cmdline", "acpi acpi-poweroff report",
			       NULL };
	struct e2e_result r;

	e2e_require_kvm();
	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	check_acpi_line(&r, 2);
	TEST_ASSERT(e2e_guest_line(&r, "acpi-poweroff"), "no acpi-poweroff line: %s", r.out);
	TEST_ASSERT(!e2e_guest_line(&r, "report") && !e2e_guest_line(&r, "done") &&
		    !e2e_guest_line(&r, "error"), "the guest went on after the power-off: %s",
		    r.out);
	TEST_ASSERT(strstr(r.err, "guest powered off, exit status 0"), "stderr: %s", r.err);
	TEST_ASSERT(!strstr(r.err, "rip="), "no vCPU failure dump: %s", r.err);
	e2e_free(&r);
	TEST_PASS("acpi-poweroff: memvmm exits 0, the guest stopped there");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "tables", test_tables, NULL },
		{ "poweroff", test_poweroff, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
