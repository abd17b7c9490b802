/* SPDX-License-Identifier: MIT */
/*
 * Hardware-reduced ACPI sleep registers (acpi_sleep_device_ops): the FADT's
 * SLEEP_CONTROL_REG and SLEEP_STATUS_REG at the ports of mem/machine.h. A
 * write of SLP_EN with SLP_TYP = S5 to the control register powers the
 * machine off: memvmm ends with exit status 0. No config (cfg must be NULL).
 */
#ifndef MEMVMM_ACPI_SLEEP_H
#define MEMVMM_ACPI_SLEEP_H

#include "devices/device.h"

extern const struct device_ops acpi_sleep_device_ops;

#endif /* MEMVMM_ACPI_SLEEP_H */
