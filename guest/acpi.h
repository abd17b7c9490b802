/* SPDX-License-Identifier: MIT */
/*
 * ACPI steps of the test guest: `acpi` finds and checks memvmm's tables,
 * `acpi-poweroff` powers the machine off through the FADT's sleep control
 * register.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdint.h>

#include "steps.h"

/*
 * Where the boot loader says the RSDP is (hvm_start_info.rsdp_paddr; 0:
 * not said). Without it the steps scan the BIOS area as a PC OS does.
 */
void acpi_set_rsdp_hint(uint64_t paddr);

/*
 * acpi: "memvmm-guest: acpi rsdp=0x... from=start-info|scan xsdt|rsdt=0x...
 * cpus=N ioapic=N fadt=hw-reduced|full sleep=0xPORT slp_typ=N ok" (sleep=0x0:
 * no sleep control register), or
 * "memvmm-guest: acpi BAD <what>" and a failed step.
 */
const char *step_acpi(struct workload *w, const char *value);
/*
 * acpi-poweroff: "memvmm-guest: acpi-poweroff port=0x... value=0x...",
 * then SLP_TYP (\_S5's) | SLP_EN to the sleep control register. Fails if
 * the machine is still running a second later.
 */
const char *step_acpi_poweroff(struct workload *w, const char *value);

#endif /* GUEST_ACPI_H */
