/* SPDX-License-Identifier: MIT */
/* What tests/test_acpi*.c share: built tables, the machines, little-endian reads, the cases. */
#ifndef MEMVMM_TEST_ACPI_H
#define MEMVMM_TEST_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"

#define ACPI_TEST_AREA_BYTES (MACHINE_ACPI_TABLES_END - MACHINE_ACPI_TABLES_GPA)

/* Tables built at MACHINE_ACPI_TABLES_GPA for a layout. */
struct acpi_tables {
	uint8_t buf[ACPI_TEST_AREA_BYTES];
	size_t len;
	uint64_t base;
	struct mem_machine_layout layout;
};

struct acpi_machine {
	const char *name;
	uint64_t ram;
	uint64_t hotplug;
};

/* 512M, 3G, 5G, and two with hotplug memory. */
extern const struct acpi_machine acpi_machines[];
extern const size_t acpi_nr_machines;

uint16_t le16(const uint8_t *p);
uint32_t le32(const uint8_t *p);
uint64_t le64(const uint8_t *p);

/* Lay out (ram, hotplug) and build the tables for vcpus into t; asserts. */
void acpi_build(struct acpi_tables *t, unsigned int vcpus, uint64_t ram, uint64_t hotplug);
/* The RSDP, checked (signature, both checksums, revision 2, length). */
const uint8_t *acpi_rsdp(const struct acpi_tables *t);
/*
 * A table by signature, reached from the RSDP as an OS does (XSDT, and
 * the FADT for "DSDT"), with its signature, length and checksum checked.
 */
const uint8_t *acpi_find(const struct acpi_tables *t, const char *sig);

/* Cases in tests/test_acpi_dsdt.c and tests/test_acpi_aml.c. */
void acpi_run_crs(const void *arg);
void acpi_run_prt(const void *arg);
void acpi_run_iasl(const void *arg);
void acpi_run_aml(const void *arg);

#endif /* MEMVMM_TEST_ACPI_H */
