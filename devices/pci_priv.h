/* SPDX-License-Identifier: MIT */
/*
 * Inside devices/pci.c (host, conf1, config space, BARs, save/restore) and
 * devices/pci_msix.c (MSI-X and INTx). Nothing else includes this.
 *
 * Locks: the host's config lock guards every struct pci_dev field but the
 * interrupt state; a device's irq_lock guards the interrupt state (MSI-X
 * table, PBA, routes, INTx) and is taken inside the config lock, never
 * the other way round. command and mapped_addr[] are atomics, written
 * under the config lock and read anywhere.
 */
#ifndef MEMVMM_PCI_PRIV_H
#define MEMVMM_PCI_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/dev_blob.h"
#include "devices/pci.h"

struct pci_bar {
	enum pci_bar_type type;         /* PCI_BAR_UNUSED also for a 64-bit BAR's upper half */
	uint64_t size;
	bool prefetchable;
	const struct bus_handler *handler;
	void *opaque;
	uint64_t assigned;              /* where pci_dev_add() put it (reset goes back there) */
	bool mapped;                    /* on ctx->mmio at addr */
	uint64_t addr;
};

struct pci_msix_vec {
	/* The guest's table entry. */
	uint32_t addr_lo, addr_hi, data, ctrl;
	/* KVM side: GSI routed to (routed_addr, routed_data), eventfd, irqfd assigned. */
	int gsi;                        /* -1: none */
	int efd;                        /* -1: none */
	bool irqfd;
	uint64_t routed_addr;
	uint32_t routed_data;
};

struct pci_dev {
	struct pci_host *h;
	const struct device_ctx *ctx;
	unsigned int slot;
	const char *name;
	const struct pci_dev_callbacks *cb;
	void *opaque;

	uint8_t cfg[PCI_CFG_SPACE_BYTES];
	uint8_t wmask[PCI_CFG_SPACE_BYTES];     /* bits the guest writes */
	uint8_t w1cmask[PCI_CFG_SPACE_BYTES];   /* bits a guest 1 clears */
	uint8_t power_on[PCI_CFG_SPACE_BYTES];  /* writable bits' reset values */
	unsigned int cap_next;          /* where the next capability goes */
	unsigned int cap_last;          /* offset of the last one, 0: none */
	struct pci_bar bar[PCI_NR_BARS];
	_Atomic uint16_t command;       /* mirror of the command register */
	_Atomic uint64_t mapped_addr[PCI_NR_BARS];

	/* ---- interrupts: under irq_lock ---- */
	pthread_mutex_t irq_lock;
	bool intx;
	unsigned int intx_gsi;
	bool intx_level;                /* what the device asserts */
	bool intx_line;                 /* what the IOAPIC input was last set to */
	unsigned int msix_cap;          /* capability offset, 0: no MSI-X */
	unsigned int msix_bar;
	unsigned int msix_nr;
	atomic_bool msix_on;            /* enable bit (also read lock-free) */
	bool msix_fmask;                /* function mask bit */
	uint64_t pba;
	struct pci_msix_vec *vec;
};

/* Little-endian config space helpers. */
static inline uint32_t pci_cfg_get_le(const uint8_t *p, unsigned int size)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < size; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline void pci_cfg_put_le(uint8_t *p, unsigned int size, uint32_t v)
{
	for (unsigned int i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- devices/pci_msix.c ---- */

/* Allocate nr vectors (masked) and set up the capability at cap in d->cfg. */
int pci_msix_init(struct pci_dev *d, unsigned int nr, unsigned int bar,
		  unsigned int cap) PCI_WUR;
/* Release every route and irqfd, lower INTx, free the table. */
void pci_msix_fini(struct pci_dev *d);
extern const struct bus_handler pci_msix_bar_handler;

/* Config lock held: the MSI-X message control in d->cfg may have changed. */
void pci_msix_control_changed(struct pci_dev *d);
/* Config lock held: the command register went from old to new (mirror updated). */
void pci_irq_command_changed(struct pci_dev *d, uint16_t old_cmd, uint16_t new_cmd);
/* The Interrupt Status bit (status register bit 3). */
bool pci_intx_status(struct pci_dev *d);
/* Config lock held: power-on interrupt state (after d->cfg was reset). */
void pci_irq_reset(struct pci_dev *d);

/* Save/restore of the interrupt state (config lock held). */
void pci_irq_save(struct pci_dev *d, struct dev_blob_writer *w);
/* Parse into a scratch vector table (d->msix_nr entries); false if malformed. */
bool pci_irq_parse(struct pci_dev *d, struct dev_blob_reader *r, struct pci_msix_vec *vec,
		   uint64_t *pba, bool *intx_level);
/* Install what pci_irq_parse() read; d->cfg holds the restored control bits. */
void pci_irq_load(struct pci_dev *d, const struct pci_msix_vec *vec, uint64_t pba,
		  bool intx_level);

#endif /* MEMVMM_PCI_PRIV_H */
