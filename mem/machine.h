/* SPDX-License-Identifier: MIT */
/*
 * The machine memvmm builds, described once: where RAM and MMIO sit in
 * guest-physical space, the I/O ports and IRQs of its devices, and its CPUID
 * leaves. memvmm (mem/, devices/, vmm/) and its test guest include this one
 * file, so the two cannot disagree about the machine.
 *
 * Freestanding: no libc, only <stdint.h>.
 */
#ifndef MEMVMM_MACHINE_H
#define MEMVMM_MACHINE_H

#include <stdint.h>

/* ---- guest-physical memory map ----------------------------------------- */

/*
 * [MACHINE_LEGACY_HOLE_START, MACHINE_LEGACY_HOLE_END): the PC's EBDA, VGA
 * window and BIOS area. Reserved in the memory map, never RAM for the guest.
 */
#define MACHINE_LEGACY_HOLE_START 0x9fc00ull
#define MACHINE_LEGACY_HOLE_END   0x100000ull

/*
 * RAM below 4 GiB ends at the MMIO hole; [hole start, 4 GiB) is for devices
 * (PCI BARs, the IOAPIC, the local APIC); RAM beyond the hole continues at
 * MACHINE_HIGH_RAM_START.
 */
#define MACHINE_MMIO_HOLE_START   0xc0000000ull
#define MACHINE_MMIO_HOLE_END     0x100000000ull
#define MACHINE_HIGH_RAM_START    MACHINE_MMIO_HOLE_END

/* Fixed x86 addresses inside the hole (KVM's in-kernel IOAPIC and LAPIC). */
#define MACHINE_IOAPIC_BASE       0xfec00000ull
#define MACHINE_LAPIC_BASE        0xfee00000ull
/* MSI writes go to [MSI base, MSI base + 1 MiB). */
#define MACHINE_MSI_ADDR_BASE     0xfee00000ull

/* ---- I/O ports and interrupt lines --------------------------------------- */

/* Legacy (ISA) interrupt lines 0..15, routed through the PIC and IOAPIC. */
#define MACHINE_ISA_IRQS          16

/* COM1: a 16550A-compatible UART (8 ports). */
#define MACHINE_COM1_PORT         0x3f8
#define MACHINE_COM1_IRQ          4

/*
 * Exit device: a 1-, 2- or 4-byte write of STATUS to this I/O port ends
 * memvmm with exit status STATUS (values above 255 become 255).
 */
#define MACHINE_EXIT_PORT         0x501

/* i8042: writing 0xfe to the command port resets the machine (memvmm exits 0). */
#define MACHINE_I8042_DATA_PORT    0x60
#define MACHINE_I8042_COMMAND_PORT 0x64
#define MACHINE_I8042_CMD_RESET    0xfe

/* ---- CPUID ----------------------------------------------------------------- */

/*
 * Hypervisor leaves. Timing leaf (the convention VMware and QEMU use): when
 * CPUID 0x40000000 reports a max leaf >= 0x40000010, CPUID 0x40000010
 * EAX = TSC kHz.
 */
#define MACHINE_CPUID_HV_BASE     0x40000000u
#define MACHINE_CPUID_TIMING      0x40000010u

#endif /* MEMVMM_MACHINE_H */
