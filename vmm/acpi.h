/* SPDX-License-Identifier: MIT */
/*
 * The ACPI tables of memvmm's machine, built at start from its layout:
 * RSDP (revision 2), XSDT, FADT (revision 6, hardware-reduced), DSDT (\_S5,
 * the PCI host bridge \_SB.PCI0 with its windows and _PRT, \_SB.COM1) and
 * MADT (a local APIC per vCPU, the IOAPIC, an override for COM1's IRQ, the
 * LINT1 NMI). mem/machine.h says where they go and what the sleep and reset
 * registers are.
 */
#ifndef MEMVMM_ACPI_H
#define MEMVMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct mem_machine_layout;

/* The MADT lists xAPIC entries: 8-bit APIC IDs, 0xff is the broadcast ID. */
#define ACPI_MAX_VCPUS 255u

struct acpi_config {
	unsigned int nr_vcpus;                     /* 1 .. ACPI_MAX_VCPUS; APIC ID = index */
	const struct mem_machine_layout *layout;   /* the PCI windows */
};

/*
 * Build every table for a machine whose tables start at base_gpa (a
 * multiple of 16: the RSDP comes first) into buf (cap bytes); *len = bytes
 * used. -ENOSPC if cap is too small (nothing past cap is written),
 * -EINVAL for a bad config (0 vCPUs or more than ACPI_MAX_VCPUS, no
 * layout, a PCI window that is empty, wraps or, for the 32-bit one, ends
 * above 4 GiB, an unaligned base). Pure: no guest memory; the same config
 * gives the same bytes.
 */
int acpi_tables_build(const struct acpi_config *c, uint64_t base_gpa, void *buf, size_t cap,
		      size_t *len) __attribute__((warn_unused_result));

/*
 * Build them at MACHINE_ACPI_TABLES_GPA into guest memory (they must fit
 * below MACHINE_ACPI_TABLES_END: -ENOSPC otherwise); *rsdp_gpa = where the
 * RSDP is. acpi_tables_build()'s errors, -ENOMEM, or mem_write()'s
 * -EFAULT when that range is not guest RAM.
 */
int acpi_tables_write(struct guest_mem *gm, const struct acpi_config *c, uint64_t *rsdp_gpa)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_ACPI_H */
