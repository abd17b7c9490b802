/* SPDX-License-Identifier: MIT */
/*
 * PCI: a host bridge at 00:00.0 and up to 31 more devices on bus 0 (one
 * function each), configured through conf1 (mem/machine.h). memvmm has no
 * firmware, so pci_dev_add() assigns every BAR an address itself: 32-bit
 * memory BARs from the 32-bit window, 64-bit ones from the 64-bit window
 * (struct mem_machine_layout). The guest may move a BAR (size it by
 * writing all ones, write a new address): the range on the MMIO bus moves
 * with it and the device hears of it (pci_dev_callbacks.bar_map), so that
 * it can move its ioeventfds. A BAR is on the bus only while the command
 * register's memory-space bit is set and its address is usable (not 0,
 * not the sizing pattern (a 32-bit BAR's register with all its address
 * bits set; a 64-bit BAR's upper half then is all ones, past 2^52), the
 * whole BAR below 2^52 and not overlapping another claimed range).
 *
 * MSI-X: a device that asks for vectors gets an MSI-X capability and a
 * 32-bit memory BAR of its own holding the table (at offset 0) and the PBA
 * (at PCI_MSIX_PBA_BAR_OFFSET). pci_msix_notify() raises a vector: with MSI-X
 * enabled, the function and the vector unmasked and bus mastering on, it
 * goes out through an irqfd on a KVM GSI route for the vector's (address,
 * data); otherwise its pending bit is set and it goes out when unmasked.
 * Without MSI-X enabled the device uses INTx (pci_intx_set()): a level on
 * the IOAPIC input of mem/machine.h's swizzle, which the Interrupt Line
 * register names; the command register's INTx-disable bit is respected.
 *
 * Locking: config space accesses (conf1, from vCPU threads) are serialized
 * by the host's config lock, which is held while pci calls a device's
 * callbacks; the MSI-X state has its own lock. A device's BAR handlers
 * and callbacks must therefore never call into pci except pci_msix_notify(),
 * pci_intx_set(), pci_dev_command() and pci_dev_bus_master(), which do not
 * take the config lock (see bus.h's rule on bus_unregister()), and
 * pci_dev_slot(), pci_dev_bar_addr(), pci_msix_enabled(); the callbacks
 * (never the BAR handlers) may also call pci_dev_cfg_get() and
 * pci_dev_cfg_set(), which know that their thread holds the lock already.
 * Lock order: config lock, then a device's own lock (its callbacks), then
 * the MSI-X/INTx lock.
 *
 * Nothing here prints; fallible calls return 0 or -errno.
 */
#ifndef MEMVMM_PCI_H
#define MEMVMM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"

#define PCI_WUR __attribute__((warn_unused_result))

#define PCI_CFG_SPACE_BYTES  256u
#define PCI_NR_BARS          6u
/* BAR sizes: powers of two from 4 KiB (a page, so KVM can map around them). */
#define PCI_BAR_MIN_BYTES    4096ull
/*
 * MSI-X: most vectors per device, the size of the MSI-X BAR and where the
 * PBA sits in it (not PCI_MSIX_PBA_OFFSET: <linux/pci_regs.h> has that name).
 */
#define PCI_MSIX_MAX_VECTORS     64u
#define PCI_MSIX_BAR_BYTES       4096u
#define PCI_MSIX_PBA_BAR_OFFSET  2048u
/* Highest guest-physical address a BAR may be mapped at (exclusive). */
#define PCI_MAX_BAR_ADDR     (1ull << 52)

/* Capability IDs and registers this code uses (PCI Local Bus 3.0 §6, PCI 3.0 MSI-X). */
#define PCI_CAP_ID_VNDR_     0x09
#define PCI_CAP_ID_MSIX_     0x11

enum pci_bar_type {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_MEM32,       /* assigned in the 32-bit window */
	PCI_BAR_MEM64,       /* a 64-bit BAR (takes this slot and the next), 64-bit window */
};

struct pci_bar_desc {
	enum pci_bar_type type;
	uint64_t size;                       /* power of two >= PCI_BAR_MIN_BYTES */
	bool prefetchable;
	const struct bus_handler *handler;   /* off relative to the BAR's start */
	void *opaque;
};

/* What pci tells a device; every callback may be NULL. Called with the config lock held. */
struct pci_dev_callbacks {
	/*
	 * BAR bar is now on the MMIO bus at addr (mapped) or off it (!mapped;
	 * addr is where it was). Called after every change, in that order
	 * (off the old place, then on the new one).
	 */
	void (*bar_map)(void *opaque, unsigned int bar, uint64_t addr, bool mapped);
	/*
	 * A config read or write at off (>= 0x40, the capability area) that a
	 * device wants to handle itself (the virtio PCI configuration access
	 * capability's data window). Return true when handled: *val is the
	 * value read; a write's value is in *val.
	 */
	bool (*cfg_read)(void *opaque, unsigned int off, unsigned int size, uint32_t *val);
	bool (*cfg_write)(void *opaque, unsigned int off, unsigned int size, uint32_t val);
	/* The command register changed (bus mastering off: stop touching guest memory). */
	void (*command)(void *opaque, uint16_t old_cmd, uint16_t new_cmd);
};

struct pci_dev_desc {
	const char *name;                /* for the bus ranges and errors; must outlive the device */
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_id;
	uint32_t class_code;             /* class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
	bool intx;                       /* uses INTA */
	struct pci_bar_desc bar[PCI_NR_BARS];
	/* MSI-X vectors (0: none); their BAR is bar[msix_bar], which must be PCI_BAR_UNUSED here. */
	unsigned int msix_vectors;
	unsigned int msix_bar;
	const struct pci_dev_callbacks *cb;
	void *opaque;
};

struct pci_host;
struct pci_dev;

/* The windows BARs come from (struct mem_machine_layout's). */
struct pci_host_config {
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio64_base, mmio64_size;
};

/*
 * Create the host bridge and claim the conf1 ports (0xcf8-0xcff) on
 * ctx->pio. ctx must outlive the host. Destroy after every device on it.
 * -EINVAL for a window that is unaligned (4 KiB), wraps, or ends past
 * 4 GiB (32-bit) or PCI_MAX_BAR_ADDR (64-bit).
 */
int pci_host_create(const struct device_ctx *ctx, const struct pci_host_config *cfg,
		    struct pci_host **out) PCI_WUR;
void pci_host_destroy(struct pci_host *h);

/*
 * Add a device in the first free slot (1..31): fills its config header,
 * assigns its BARs (-ENOSPC when a window is full), adds the MSI-X
 * capability and BAR when asked. -EINVAL for a malformed desc, -ENOSPC
 * with no free slot. The device starts with the command register 0 (no
 * decoding), as after a PCI reset; the guest enables it.
 */
int pci_dev_add(struct pci_host *h, const struct pci_dev_desc *desc,
		struct pci_dev **out) PCI_WUR;
/*
 * Take it off the bus (its BARs, MSI-X routes and irqfds released, INTx
 * lowered). No callback runs: the device is going away. NULL is fine.
 */
void pci_dev_remove(struct pci_dev *d);

/*
 * Add a capability (its bytes from the ID on; the next pointer is filled
 * in) to the capability list. wmask (may be NULL: read-only) has one byte
 * per capability byte, the bits the guest may write. *off gets where it
 * went. -ENOSPC when config space is full. Only before the guest runs.
 */
int pci_dev_add_cap(struct pci_dev *d, const void *cap, unsigned int len,
		    const uint8_t *wmask, unsigned int *off) PCI_WUR;
/*
 * Read or change config space bytes the device owns (its capabilities),
 * under the config lock (or from the device's callbacks, which hold it).
 * cfg_set changes only the capability area (from 0x40), never pci's own
 * MSI-X capability; parts past 256 are not touched.
 */
void pci_dev_cfg_get(struct pci_dev *d, unsigned int off, void *buf, unsigned int len);
void pci_dev_cfg_set(struct pci_dev *d, unsigned int off, const void *buf, unsigned int len);

/* Slot number (bus 0) and current BAR address (0: not mapped); lock-free. */
unsigned int pci_dev_slot(const struct pci_dev *d);
uint64_t pci_dev_bar_addr(struct pci_dev *d, unsigned int bar);
/* The command register, and its bus-master bit (lock-free: callable from handlers). */
uint16_t pci_dev_command(const struct pci_dev *d);
bool pci_dev_bus_master(const struct pci_dev *d);

/*
 * Machine reset: command 0, BARs back at their assigned addresses (and
 * unmapped), MSI-X disabled, masked and cleared, INTx low (the device's
 * level too), every guest-writable config bit back to its power-on value.
 * The bar_map and command callbacks run for what changed.
 */
void pci_dev_reset(struct pci_dev *d);

/* ---- interrupts ---- */

/* True while MSI-X is enabled in the capability (the device then uses vectors, not INTx). */
bool pci_msix_enabled(const struct pci_dev *d);
/*
 * Raise vector v (see the top of this file). -EINVAL for v out of range;
 * 0 when it was sent or left pending; KVM's error when sending failed.
 */
int pci_msix_notify(struct pci_dev *d, unsigned int v) PCI_WUR;
/*
 * Set the INTx level (ignored without intx). The IOAPIC input is held low
 * while the command register's INTx disable bit is set or MSI-X is
 * enabled, and follows the level again when both are clear; the status
 * register's Interrupt Status bit always shows the level.
 */
void pci_intx_set(struct pci_dev *d, bool level);

/*
 * Guest-visible state (config space, BAR addresses, MSI-X table, PBA and
 * INTx level) for the device's save/restore hooks, in dev_blob form. Save
 * and restore while the VM is paused; restore remaps BARs and re-routes
 * vectors (calling bar_map and command as a guest write would). Only bits
 * the guest can write are restored from config space; the header's
 * read-only bytes must match this device's (else -EINVAL: another
 * device), and the device restores what it set with pci_dev_cfg_set().
 * -ENOSPC (*len: what is needed) / -EINVAL as device_ops.
 */
int pci_dev_save(struct pci_dev *d, void *buf, size_t *len) PCI_WUR;
int pci_dev_restore(struct pci_dev *d, const void *buf, size_t len) PCI_WUR;

#endif /* MEMVMM_PCI_H */
