// SPDX-License-Identifier: MIT
/*
 * PCI interrupts (devices/pci.h): MSI-X through KVM GSI routes and irqfds,
 * INTx through the IOAPIC. Everything here runs under the device's
 * irq_lock, which never waits for the config lock (pci_priv.h).
 *
 * A vector is "live" while MSI-X is enabled, the function is unmasked and
 * the vector is unmasked. When a vector goes live its route is set up
 * ahead of the first interrupt: a GSI routed to its (address, data), an
 * eventfd assigned to the GSI as an irqfd. Raising a live vector with bus
 * mastering on writes 1 to that eventfd; a vector that is not live (or
 * bus mastering off) gets its pending bit instead, and is sent and its bit
 * cleared when it goes live (or bus mastering comes on). Each send
 * re-routes the GSI first if the guest rewrote the address or data. If a
 * route or irqfd cannot be had, the MSI is sent directly (msi_send).
 * Disabling MSI-X, a reset and removal release the irqfd, then the GSI.
 */
#include "devices/pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/pci_priv.h"
#include "mem/pthread_must.h"

#define MSIX_ENTRY_DWORDS (PCI_MSIX_ENTRY_SIZE / 4)
#define MSIX_PBA_BYTES    8u   /* one 64-bit word: PCI_MSIX_MAX_VECTORS is 64 */

_Static_assert(PCI_MSIX_MAX_VECTORS <= 64, "the PBA is one 64-bit word");
_Static_assert(PCI_MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE <= PCI_MSIX_PBA_BAR_OFFSET,
	       "the table ends before the PBA");
_Static_assert(PCI_MSIX_PBA_BAR_OFFSET + MSIX_PBA_BYTES <= PCI_MSIX_BAR_BYTES,
	       "the PBA fits in the BAR");

static void irq_lock(struct pci_dev *d)
{
	mem_pthread_must(pthread_mutex_lock(&d->irq_lock));
}

static void irq_unlock(struct pci_dev *d)
{
	mem_pthread_must(pthread_mutex_unlock(&d->irq_lock));
}

static uint64_t vec_addr(const struct pci_msix_vec *e)
{
	return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

static bool vec_masked(const struct pci_msix_vec *e)
{
	return e->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

/* MSI-X enabled and the function unmasked. */
static bool function_live(const struct pci_dev *d)
{
	return atomic_load(&d->msix_on) && !d->msix_fmask;
}

static bool bus_master(const struct pci_dev *d)
{
	return atomic_load(&d->command) & PCI_COMMAND_MASTER;
}

/* Release the vector's irqfd, GSI and eventfd. */
static void vec_release(struct pci_dev *d, struct pci_msix_vec *e)
{
	const struct device_ctx *c = d->ctx;

	if (e->irqfd) {
		/* Nothing to undo if KVM refuses: it drops the irqfd with the VM. */
		(void)c->irqfd(c->opaque, e->gsi, e->efd, false);
		e->irqfd = false;
	}
	if (e->gsi >= 0) {
		if (c->msi_route_free)
			c->msi_route_free(c->opaque, e->gsi);
		e->gsi = -1;
	}
	if (e->efd >= 0) {
		/* close() of an eventfd fails only for a bad fd; nothing to do then. */
		(void)close(e->efd);
		e->efd = -1;
	}
}

static void release_all(struct pci_dev *d)
{
	for (unsigned int v = 0; v < d->msix_nr; v++)
		vec_release(d, &d->vec[v]);
}

/* Route the vector's GSI to its current (address, data) and assign its irqfd. */
static int vec_route(struct pci_dev *d, struct pci_msix_vec *e)
{
	const struct device_ctx *c = d->ctx;
	uint64_t addr = vec_addr(e);
	int gsi, ret;

	if (!c->msi_route || !c->irqfd)
		return -EOPNOTSUPP;
	if (e->gsi < 0 || e->routed_addr != addr || e->routed_data != e->data) {
		gsi = e->gsi;
		ret = c->msi_route(c->opaque, &gsi, addr, e->data);
		if (ret)
			return ret;
		e->gsi = gsi;
		e->routed_addr = addr;
		e->routed_data = e->data;
	}
	if (e->efd < 0) {
		e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (e->efd < 0)
			return -errno;
	}
	if (!e->irqfd) {
		ret = c->irqfd(c->opaque, e->gsi, e->efd, true);
		if (ret)
			return ret;
		e->irqfd = true;
	}
	return 0;
}

/* Send the vector's message now: through its irqfd, else directly. */
static int vec_send(struct pci_dev *d, struct pci_msix_vec *e)
{
	const struct device_ctx *c = d->ctx;
	int ret = vec_route(d, e);

	if (!ret) {
		uint64_t one = 1;

		if (write(e->efd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			return 0;
		ret = -errno;
	}
	if (!c->msi_send)
		return ret;
	return c->msi_send(c->opaque, vec_addr(e), e->data);
}

/* Vector v just went live (or bus mastering came on): route it, send what is pending. */
static void vec_went_live(struct pci_dev *d, unsigned int v)
{
	struct pci_msix_vec *e = &d->vec[v];
	uint64_t bit = 1ull << v;

	if (!function_live(d) || vec_masked(e))
		return;
	if (!(d->pba & bit)) {
		/* Ahead of time; a failure is retried (or worked around) at the first send. */
		(void)vec_route(d, e);
		return;
	}
	if (bus_master(d) && !vec_send(d, e))
		d->pba &= ~bit;
}

static void all_went_live(struct pci_dev *d)
{
	for (unsigned int v = 0; v < d->msix_nr; v++)
		vec_went_live(d, v);
}

/* Drive the IOAPIC input from the device's level and the disable bits. */
static void intx_update(struct pci_dev *d)
{
	const struct device_ctx *c = d->ctx;
	bool want = d->intx && d->intx_level && !atomic_load(&d->msix_on) &&
		    !(atomic_load(&d->command) & PCI_COMMAND_INTX_DISABLE);

	if (want == d->intx_line || !c->irq_line)
		return;
	/* On failure the line keeps its old level; the next change tries again. */
	if (!c->irq_line(c->opaque, d->intx_gsi, want))
		d->intx_line = want;
}

int pci_msix_init(struct pci_dev *d, unsigned int nr, unsigned int bar, unsigned int cap)
{
	d->vec = calloc(nr, sizeof(*d->vec));
	if (!d->vec)
		return -ENOMEM;
	for (unsigned int v = 0; v < nr; v++)
		d->vec[v] = (struct pci_msix_vec){ .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT,
						   .gsi = -1, .efd = -1 };
	d->msix_nr = nr;
	d->msix_bar = bar;
	d->msix_cap = cap;
	return 0;
}

void pci_msix_fini(struct pci_dev *d)
{
	irq_lock(d);
	release_all(d);
	d->intx_level = false;
	intx_update(d);
	irq_unlock(d);
	free(d->vec);
	d->vec = NULL;
	d->msix_nr = 0;
}

/* ---- the MSI-X BAR: table at 0, PBA at PCI_MSIX_PBA_BAR_OFFSET ---- */

static bool msix_access_ok(uint64_t off, unsigned int size)
{
	return (size == 4 || size == 8) && off % size == 0;
}

static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned int size)
{
	struct pci_dev *d = opaque;
	uint64_t v = 0;

	if (!msix_access_ok(off, size))
		return 0;
	irq_lock(d);
	if (off < (uint64_t)d->msix_nr * PCI_MSIX_ENTRY_SIZE) {
		const struct pci_msix_vec *e = &d->vec[off / PCI_MSIX_ENTRY_SIZE];
		const uint32_t dw[MSIX_ENTRY_DWORDS] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };
		unsigned int i = (unsigned int)(off % PCI_MSIX_ENTRY_SIZE) / 4;

		v = dw[i];
		if (size == 8)
			v |= (uint64_t)dw[i + 1] << 32;   /* 8-aligned: i is 0 or 2 */
	} else if (off >= PCI_MSIX_PBA_BAR_OFFSET &&
		   off - PCI_MSIX_PBA_BAR_OFFSET < MSIX_PBA_BYTES) {
		v = d->pba >> (8 * (off - PCI_MSIX_PBA_BAR_OFFSET));
	}
	irq_unlock(d);
	return v;
}

static void msix_bar_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct pci_dev *d = opaque;
	struct pci_msix_vec *e;
	bool unmasked = false;
	unsigned int v, i;

	/* The PBA and the rest of the BAR are read-only. */
	if (!msix_access_ok(off, size) || off >= (uint64_t)d->msix_nr * PCI_MSIX_ENTRY_SIZE)
		return;
	v = (unsigned int)(off / PCI_MSIX_ENTRY_SIZE);
	i = (unsigned int)(off % PCI_MSIX_ENTRY_SIZE) / 4;
	irq_lock(d);
	e = &d->vec[v];
	for (unsigned int k = 0; k < size / 4; k++, i++) {
		uint32_t dw = (uint32_t)(val >> (32 * k));

		switch (i * 4) {
		case PCI_MSIX_ENTRY_LOWER_ADDR:
			e->addr_lo = dw & ~3u;   /* dword aligned: bits 1:0 read zero */
			break;
		case PCI_MSIX_ENTRY_UPPER_ADDR:
			e->addr_hi = dw;
			break;
		case PCI_MSIX_ENTRY_DATA:
			e->data = dw;
			break;
		case PCI_MSIX_ENTRY_VECTOR_CTRL:
			unmasked = vec_masked(e) && !(dw & PCI_MSIX_ENTRY_CTRL_MASKBIT);
			e->ctrl = dw & PCI_MSIX_ENTRY_CTRL_MASKBIT;
			break;
		}
	}
	if (unmasked)
		vec_went_live(d, v);
	irq_unlock(d);
}

const struct bus_handler pci_msix_bar_handler = { .read = msix_bar_read, .write = msix_bar_write };

/* ---- config side (config lock held) ---- */

void pci_msix_control_changed(struct pci_dev *d)
{
	uint16_t ctl;
	bool was_on, was_live, on;

	if (!d->msix_cap)
		return;
	ctl = (uint16_t)pci_cfg_get_le(&d->cfg[d->msix_cap + PCI_MSIX_FLAGS], 2);
	on = ctl & PCI_MSIX_FLAGS_ENABLE;
	irq_lock(d);
	was_on = atomic_load(&d->msix_on);
	was_live = function_live(d);
	atomic_store(&d->msix_on, on);
	d->msix_fmask = ctl & PCI_MSIX_FLAGS_MASKALL;
	if (was_on && !on)
		release_all(d);
	if (!was_live && function_live(d))
		all_went_live(d);
	intx_update(d);
	irq_unlock(d);
}

void pci_irq_command_changed(struct pci_dev *d, uint16_t old_cmd, uint16_t new_cmd)
{
	irq_lock(d);
	intx_update(d);
	if (!(old_cmd & PCI_COMMAND_MASTER) && (new_cmd & PCI_COMMAND_MASTER))
		all_went_live(d);
	irq_unlock(d);
}

bool pci_intx_status(struct pci_dev *d)
{
	bool level;

	irq_lock(d);
	level = d->intx_level;
	irq_unlock(d);
	return level;
}

void pci_irq_reset(struct pci_dev *d)
{
	irq_lock(d);
	release_all(d);
	for (unsigned int v = 0; v < d->msix_nr; v++)
		d->vec[v] = (struct pci_msix_vec){ .ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT,
						   .gsi = -1, .efd = -1 };
	d->pba = 0;
	atomic_store(&d->msix_on, false);
	d->msix_fmask = false;
	d->intx_level = false;
	intx_update(d);
	irq_unlock(d);
}

/* ---- the API ---- */

bool pci_msix_enabled(const struct pci_dev *d)
{
	return atomic_load(&d->msix_on);
}

int pci_msix_notify(struct pci_dev *d, unsigned int v)
{
	struct pci_msix_vec *e;
	int ret = 0;

	if (!d || v >= d->msix_nr)
		return -EINVAL;
	irq_lock(d);
	e = &d->vec[v];
	if (!function_live(d) || vec_masked(e) || !bus_master(d))
		d->pba |= 1ull << v;
	else
		ret = vec_send(d, e);
	irq_unlock(d);
	return ret;
}

void pci_intx_set(struct pci_dev *d, bool level)
{
	if (!d || !d->intx)
		return;
	irq_lock(d);
	d->intx_level = level;
	intx_update(d);
	irq_unlock(d);
}

/* ---- save/restore (config lock held) ---- */

void pci_irq_save(struct pci_dev *d, struct dev_blob_writer *w)
{
	irq_lock(d);
	dev_blob_put32(w, d->msix_nr);
	for (unsigned int v = 0; v < d->msix_nr; v++) {
		const struct pci_msix_vec *e = &d->vec[v];

		dev_blob_put32(w, e->addr_lo);
		dev_blob_put32(w, e->addr_hi);
		dev_blob_put32(w, e->data);
		dev_blob_put32(w, e->ctrl);
	}
	dev_blob_put32(w, (uint32_t)d->pba);
	dev_blob_put32(w, (uint32_t)(d->pba >> 32));
	dev_blob_put8(w, d->intx_level);
	irq_unlock(d);
}

bool pci_irq_parse(struct pci_dev *d, struct dev_blob_reader *r, struct pci_msix_vec *vec,
		   uint64_t *pba, bool *intx_level)
{
	uint64_t valid = d->msix_nr == 64 ? UINT64_MAX : (1ull << d->msix_nr) - 1;
	uint8_t level;

	if (dev_blob_get32(r) != d->msix_nr)
		return false;
	for (unsigned int v = 0; v < d->msix_nr; v++) {
		struct pci_msix_vec *e = &vec[v];

		*e = (struct pci_msix_vec){ .gsi = -1, .efd = -1 };
		e->addr_lo = dev_blob_get32(r);
		e->addr_hi = dev_blob_get32(r);
		e->data = dev_blob_get32(r);
		e->ctrl = dev_blob_get32(r);
		if (e->addr_lo & 3 || e->ctrl & ~(uint32_t)PCI_MSIX_ENTRY_CTRL_MASKBIT)
			return false;
	}
	*pba = dev_blob_get32(r);
	*pba |= (uint64_t)dev_blob_get32(r) << 32;
	level = dev_blob_get8(r);
	*intx_level = level;
	return !r->short_read && !(*pba & ~valid) && level <= 1 && (d->intx || !level);
}

void pci_irq_load(struct pci_dev *d, const struct pci_msix_vec *vec, uint64_t pba,
		  bool intx_level)
{
	uint16_t ctl = 0;

	if (d->msix_cap)
		ctl = (uint16_t)pci_cfg_get_le(&d->cfg[d->msix_cap + PCI_MSIX_FLAGS], 2);
	irq_lock(d);
	release_all(d);
	for (unsigned int v = 0; v < d->msix_nr; v++)
		d->vec[v] = vec[v];
	d->pba = pba;
	atomic_store(&d->msix_on, (ctl & PCI_MSIX_FLAGS_ENABLE) != 0);
	d->msix_fmask = ctl & PCI_MSIX_FLAGS_MASKALL;
	d->intx_level = intx_level;
	intx_update(d);
	all_went_live(d);
	irq_unlock(d);
}
