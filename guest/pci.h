/* SPDX-License-Identifier: MIT */
/*
 * PCI for the test guest: configuration mechanism #1 (mem/machine.h),
 * a scan of bus 0, BARs and the capability list (PCI Local Bus 3.0).
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_BARS        6

/* bus << 8 | device << 3 | function */
typedef uint16_t pci_bdf;

#define PCI_BDF_BUS(b)  ((b) >> 8)
#define PCI_BDF_DEV(b)  ((b) >> 3 & 31)
#define PCI_BDF_FN(b)   ((b) & 7)

struct pci_bar {
	uint64_t addr;          /* 0: not present (or not assigned, see assigned) */
	uint64_t size;          /* by sizing; 0: not implemented */
	bool mem64;             /* takes this slot and the next */
	bool io;
	bool assigned;          /* it read 0 and the guest gave it an address */
};

uint8_t pci_read8(pci_bdf bdf, unsigned int reg);
uint16_t pci_read16(pci_bdf bdf, unsigned int reg);
uint32_t pci_read32(pci_bdf bdf, unsigned int reg);
void pci_write16(pci_bdf bdf, unsigned int reg, uint16_t v);
void pci_write32(pci_bdf bdf, unsigned int reg, uint32_t v);

/* The first function on bus 0 with these IDs. False if there is none. */
bool pci_find(uint16_t vendor, uint16_t device, pci_bdf *out);

/*
 * Reads and sizes the six BARs of a type-0 header (memory decoding off
 * meanwhile) and gives an address to every memory BAR that has none, in
 * the 32-bit window (mem/machine.h) above the BARs already there. Returns
 * NULL or why not.
 */
const char *pci_bars_probe(pci_bdf bdf, struct pci_bar bars[PCI_BARS]);

/*
 * Offset of the next capability with this ID after offset FROM (0: from the
 * start of the list), or 0. Stops after 48 capabilities (a looping list).
 */
unsigned int pci_cap_find(pci_bdf bdf, uint8_t id, unsigned int from);

#endif /* GUEST_PCI_H */
