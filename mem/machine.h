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

/* ---- ACPI (vmm/acpi.c) ------------------------------------------------------ */

/*
 * The ACPI tables memvmm builds at start (RSDP, XSDT, FADT, DSDT, MADT) lie
 * in [tables GPA, tables end): inside the reserved legacy area, so no RAM is
 * taken from the guest, with the RSDP first, on a 16-byte boundary in the
 * BIOS area where a legacy scan finds it. Kernels are also told its address
 * (boot_params.acpi_rsdp_addr, hvm_start_info.rsdp_paddr).
 */
#define MACHINE_ACPI_TABLES_GPA   0xe0000ull
#define MACHINE_ACPI_TABLES_END   0xffff0ull   /* MACHINE_RESET_VECTOR_GPA follows */
#define MACHINE_ACPI_RSDP_GPA     MACHINE_ACPI_TABLES_GPA

/*
 * Hardware-reduced ACPI sleep registers (FADT SLEEP_CONTROL_REG and
 * SLEEP_STATUS_REG, one byte each in I/O space). A write to the control
 * register with SLP_EN (bit 5) set and SLP_TYP (bits 2-4) equal to the
 * DSDT's \_S5 value powers the machine off: memvmm ends with exit 0. Reads
 * of either return 0. The FADT reset register is the i8042 command port
 * with MACHINE_I8042_CMD_RESET.
 */
#define MACHINE_ACPI_SLEEP_CONTROL_PORT 0x600
#define MACHINE_ACPI_SLEEP_STATUS_PORT  0x601
#define MACHINE_ACPI_SLP_EN             0x20u
#define MACHINE_ACPI_SLP_TYP_SHIFT      2
#define MACHINE_ACPI_SLP_TYP_MASK       0x1cu
#define MACHINE_ACPI_S5_SLP_TYP         5u

/*
 * The x86 reset vector (F000:FFF0 in real mode), inside the reserved legacy
 * area. memvmm has no firmware; it puts a stub there that resets the
 * machine through the i8042 (memvmm exits 0), for a kernel that restarts
 * by jumping to the BIOS (Linux on a hardware-reduced ACPI machine tries
 * EFI, then "BIOS" reboot before the keyboard controller).
 */
#define MACHINE_RESET_VECTOR_GPA  0xffff0ull

/* ---- PCI ------------------------------------------------------------------ */

/*
 * One PCI host bridge (00:00.0) and devices on bus 0, configured through
 * configuration mechanism #1: write (1 << 31) | bus << 16 | device << 11 |
 * function << 8 | (register & 0xfc) to the 4-byte address port, then access
 * 1, 2 or 4 bytes at data port + (register & 3).
 */
#define MACHINE_PCI_CONF1_ADDR_PORT   0xcf8
#define MACHINE_PCI_CONF1_DATA_PORT   0xcfc
#define MACHINE_PCI_CONF1_ENABLE      0x80000000u
#define MACHINE_PCI_MAX_SLOTS         32

/*
 * memvmm assigns every BAR itself (there is no firmware). 32-bit memory
 * BARs get addresses in [MMIO32 base, MMIO32 end): the MMIO hole below the
 * IOAPIC. 64-bit memory BARs get addresses in a window of MMIO64 size bytes
 * that starts at the first MMIO64-aligned address above all guest memory,
 * hotplug memory included (mem_machine_layout_build() computes it, so that
 * ACPI can describe the same windows).
 */
#define MACHINE_PCI_MMIO32_BASE       MACHINE_MMIO_HOLE_START
#define MACHINE_PCI_MMIO32_END        MACHINE_IOAPIC_BASE
#define MACHINE_PCI_MMIO64_ALIGN      (1ull << 30)
#define MACHINE_PCI_MMIO64_SIZE       (64ull << 30)

/*
 * INTx fallback: pin INTA..INTD (1..4) of the device in slot S is wired to
 * IOAPIC input MACHINE_PCI_INTX_GSI_BASE + (S + pin - 1) % 4, level
 * triggered, active high; the config space's Interrupt Line says which.
 */
#define MACHINE_PCI_INTX_GSI_BASE     16
#define MACHINE_PCI_INTX_GSIS         4

/* IDs: the host bridge (Red Hat's generic PCIe host) and virtio devices (spec §4.1.2). */
#define MACHINE_PCI_HOST_VENDOR       0x1b36
#define MACHINE_PCI_HOST_DEVICE       0x0008
#define MACHINE_PCI_VIRTIO_VENDOR     0x1af4
#define MACHINE_PCI_VIRTIO_DEVICE_BASE 0x1040   /* + virtio device id, modern only */

/*
 * virtio-mem: its memory lies above all boot RAM (and at or above 4 GiB),
 * aligned to Linux's x86 memory block size, and is not in the guest's
 * memory map: the guest finds it through the device.
 */
#define MACHINE_HOTPLUG_ALIGN         (128ull << 20)

/* ---- CPUID ----------------------------------------------------------------- */

/*
 * Hypervisor leaves. Timing leaf (the convention VMware and QEMU use): when
 * CPUID 0x40000000 reports a max leaf >= 0x40000010, CPUID 0x40000010
 * EAX = TSC kHz.
 */
#define MACHINE_CPUID_HV_BASE     0x40000000u
#define MACHINE_CPUID_TIMING      0x40000010u

#endif /* MEMVMM_MACHINE_H */
