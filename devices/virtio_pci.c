// SPDX-License-Identifier: MIT
/*
 * virtio over PCI, modern only (virtio 1.2 §4.1): the PCI device, its
 * vendor capabilities, BAR 4 (common configuration, ISR, device
 * configuration, notifications), the PCI configuration access capability,
 * queue notifications (ioeventfd + main loop, or trapped writes) and
 * interrupts (MSI-X vectors, or INTx with the ISR bits).
 *
 * Locks: pci calls our callbacks (bar_map, cfg_read, cfg_write) with its
 * config lock held, and those take vp->lock; the BAR handler takes vp->lock
 * alone. So the order is config lock, then vp->lock, and nothing here calls
 * into pci while holding vp->lock except the lock-free calls pci.h allows
 * (pci_msix_notify, pci_intx_set, pci_dev_bus_master, pci_msix_enabled).
 * The PCI configuration access capability's fields are kept here (shadowed
 * through cfg_read/cfg_write), so that no callback needs pci_dev_cfg_get().
 *
 * The PCI side (creation, pci's callbacks) is in virtio_pci_setup.c,
 * save/restore in virtio_pci_state.c.
 */
#include "devices/virtio_pci.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "devices/pci.h"
#include "devices/virtio_pci_int.h"
#include "mem/pthread_must.h"

_Static_assert(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_MAX_QUEUES * VIRTIO_PCI_NOTIFY_MULT <=
	       VIRTIO_PCI_BAR_BYTES, "notify area inside BAR 4");
_Static_assert(VIRTIO_PCI_MAX_CONFIG <= VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF,
	       "device configuration inside its page");
_Static_assert(VP_COMMON_BYTES <= VIRTIO_PCI_ISR_OFF, "common configuration before the ISR");

static const char VP_ERR_ENABLE[] = "queue_enable refused (size or ring addresses)";
static const char VP_ERR_BROKEN[] = "queue broken while processing";

/* ---- helpers ---- */

static struct virtqueue *vp_selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->ops->nr_queues ? &vp->vq[vp->queue_select] : NULL;
}

void virtio_pci_lock(struct virtio_pci *vp)
{
	mem_pthread_must(pthread_mutex_lock(&vp->lock));
}

void virtio_pci_unlock(struct virtio_pci *vp)
{
	mem_pthread_must(pthread_mutex_unlock(&vp->lock));
}

struct virtqueue *virtio_pci_vq(struct virtio_pci *vp, unsigned int q)
{
	return q < vp->ops->nr_queues ? &vp->vq[q] : NULL;
}

uint64_t virtio_pci_driver_features(const struct virtio_pci *vp)
{
	return vp->driver_features;
}

bool virtio_pci_live(const struct virtio_pci *vp)
{
	return (vp->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vp->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void virtio_pci_stats(const struct virtio_pci *vp, struct virtio_pci_stats *st)
{
	*st = (struct virtio_pci_stats){
		.notifies = vp->notifies,
		.trapped_notifies = vp->trapped_notifies,
		.interrupts = vp->interrupts,
		.interrupt_errors = vp->interrupt_errors,
		.violations = vp->violations,
		.last_violation = vp->last_violation,
		.status = vp->status,
		.driver_features = vp->driver_features,
		.config_generation = vp->generation,
	};
}

/* ---- interrupts ---- */

/*
 * Raise vector (MSI-X enabled) or the ISR bit and INTx (§4.1.4.5.1: the
 * config bit is set before every configuration change notification, with
 * MSI-X too; the queue bit only without it).
 */
static void vp_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (isr_bit == VIRTIO_PCI_ISR_CONFIG)
		vp->isr |= isr_bit;
	if (pci_msix_enabled(vp->pdev)) {
		if (vector == VIRTIO_MSI_NO_VECTOR)
			return;
		if (pci_msix_notify(vp->pdev, vector))
			vp->interrupt_errors++;
		else
			vp->interrupts++;
		return;
	}
	vp->isr |= isr_bit;
	pci_intx_set(vp->pdev, true);
	vp->interrupts++;
}

void virtio_pci_used(struct virtio_pci *vp, unsigned int q)
{
	if (q >= vp->ops->nr_queues || !vq_wants_interrupt(&vp->vq[q]))
		return;
	vp_interrupt(vp, vp->vq_vector[q], VP_ISR_QUEUE);
}

static void vp_config_interrupt(struct virtio_pci *vp)
{
	vp_interrupt(vp, vp->config_vector, VIRTIO_PCI_ISR_CONFIG);
}

void virtio_pci_config_bump(struct virtio_pci *vp)
{
	vp->generation++;
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
	vp->generation++;
	if (vp->status & VIRTIO_CONFIG_S_DRIVER_OK)
		vp_config_interrupt(vp);
}

void virtio_pci_violation(struct virtio_pci *vp, unsigned int q, const char *why)
{
	if (q < vp->ops->nr_queues && !vp->vq[q].broken) {
		vp->vq[q].broken = true;
		vp->vq[q].why_broken = why;
	}
	vp->violations++;
	vp->last_violation = why;
	if (vp->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vp->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* §2.1.2: after DRIVER_OK, NEEDS_RESET comes with a configuration change notification. */
	if (vp->status & VIRTIO_CONFIG_S_DRIVER_OK)
		vp_config_interrupt(vp);
}

/* ---- queues ---- */

/* Process queue q if the device may touch guest memory now. */
static void vp_kick(struct virtio_pci *vp, unsigned int q)
{
	struct virtqueue *vq = &vp->vq[q];

	if (!virtio_pci_live(vp) || !vq->enabled || vq->broken ||
	    !pci_dev_bus_master(vp->pdev))
		return;
	vp->ops->queue_notify(vp->dev, q);
	/* The device may have met a broken ring without saying so. */
	if (vq->broken && !(vp->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_pci_violation(vp, q, vq->why_broken ? vq->why_broken : VP_ERR_BROKEN);
}

static void vp_notified(struct virtio_pci *vp, unsigned int q, bool trapped)
{
	vp->notifies++;
	if (trapped)
		vp->trapped_notifies++;
	vp_kick(vp, q);
}

/* The main loop saw a queue's ioeventfd. */
void vp_notify_fd(void *arg, uint32_t events)
{
	struct vp_notify *n = arg;
	struct virtio_pci *vp = n->vp;
	uint64_t count;

	/* Nonblocking: EAGAIN when another round took it already; nothing else can fail. */
	if (read(n->efd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return;
	virtio_pci_lock(vp);
	vp_notified(vp, n->q, false);
	virtio_pci_unlock(vp);
}

/* Everything the driver set back to the power-on state, then the device's reset op. */
void vp_reset_locked(struct virtio_pci *vp)
{
	vp->status = 0;
	vp->dfselect = 0;
	vp->gfselect = 0;
	vp->driver_features = 0;
	vp->queue_select = 0;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned int q = 0; q < vp->ops->nr_queues; q++) {
		vq_reset(&vp->vq[q]);
		vp->vq_vector[q] = VIRTIO_MSI_NO_VECTOR;
	}
	vp->isr = 0;
	pci_intx_set(vp->pdev, false);
	if (vp->ops->reset)
		vp->ops->reset(vp->dev);
}

/* Features the driver accepted are fine for FEATURES_OK (§2.2, §6.1). */
static bool vp_features_acceptable(struct virtio_pci *vp)
{
	uint64_t f = vp->driver_features;

	if (!(f & 1ull << VIRTIO_F_VERSION_1) || (f & ~vp_offered(vp)))
		return false;
	return !vp->ops->features_ok || vp->ops->features_ok(vp->dev, f) == 0;
}

static void vp_set_status(struct virtio_pci *vp, uint8_t val)
{
	uint8_t old = vp->status, st;

	if (!val) {
		vp_reset_locked(vp);
		return;
	}
	/*
	 * The driver never clears a bit (§3.1.1), never sets NEEDS_RESET, and
	 * the reserved bits are dropped (a snapshot could not hold them).
	 */
	st = (uint8_t)((val & VP_DRIVER_STATUS_BITS) | old);
	if ((st & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if (vp_features_acceptable(vp)) {
			bool ind = vp->driver_features & 1ull << VIRTIO_RING_F_INDIRECT_DESC;

			for (unsigned int q = 0; q < vp->ops->nr_queues; q++)
				vp->vq[q].indirect = ind;
		} else {
			st &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
		}
	}
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		st &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
	vp->status = st;
	/* Buffers made available before DRIVER_OK are processed now. */
	if ((st & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		for (unsigned int q = 0; q < vp->ops->nr_queues; q++)
			vp_kick(vp, q);
}

/* ---- common configuration (§4.1.4.3) ---- */

/* The size of the field at off, 0 if none starts there. */
static unsigned int vp_common_field(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

static uint32_t half(uint64_t v, bool hi)
{
	return (uint32_t)(hi ? v >> 32 : v);
}

static void set_half(uint64_t *v, bool hi, uint32_t val)
{
	*v = hi ? (*v & 0xffffffffull) | (uint64_t)val << 32 :
		(*v & ~0xffffffffull) | val;
}

static uint32_t vp_common_read(struct virtio_pci *vp, uint64_t off)
{
	struct virtqueue *vq = vp_selected(vp);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return vp->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return vp->dfselect < 2 ? half(vp_offered(vp), vp->dfselect) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return vp->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return vp->gfselect < 2 ? half(vp->driver_features, vp->gfselect) : 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return vp->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ:
		return vp->ops->nr_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return vp->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return vp->generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return vq ? vp->vq_vector[vp->queue_select] : VIRTIO_MSI_NO_VECTOR;
	}
	if (!vq)
		return 0;   /* queue_size 0: no such queue (§4.1.4.3.2) */
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return vq->size;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return vq->enabled;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		return half(vq->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI);
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		return half(vq->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI);
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return half(vq->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI);
	}
	return 0;
}

/* Queue fields the driver sets while the queue is not enabled. */
static void vp_queue_write(struct virtio_pci *vp, struct virtqueue *vq, uint64_t off,
			   uint32_t val)
{
	unsigned int q = vp->queue_select;

	switch (off) {
	case VIRTIO_PCI_COMMON_Q_MSIX:
		vp->vq_vector[q] = vp_vector(vp, val);
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* Writing 0 is not allowed without VIRTIO_F_RING_RESET (§4.1.4.3.2): ignored. */
		if (val != 1 || vq->enabled || vq->broken)
			return;
		if (vq_enable(vq))
			virtio_pci_violation(vp, q, vq->why_broken ? vq->why_broken : VP_ERR_ENABLE);
		return;
	}
	if (vq->enabled)
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* The driver may only lower it, to another power of two. */
		if (vp_is_pow2(val) && val <= vq->max_size)
			vq->size = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		set_half(&vq->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI, val);
		return;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		set_half(&vq->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI, val);
		return;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		set_half(&vq->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI, val);
		return;
	}
}

static void vp_common_write(struct virtio_pci *vp, uint64_t off, uint32_t val)
{
	struct virtqueue *vq;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vp->dfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vp->gfselect = val;
		return;
	case VIRTIO_PCI_COMMON_GF:
		/* Frozen once FEATURES_OK is set; only the two words that exist are kept. */
		if (!(vp->status & VIRTIO_CONFIG_S_FEATURES_OK) && vp->gfselect < 2)
			set_half(&vp->driver_features, vp->gfselect, val);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		vp->config_vector = vp_vector(vp, val);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		vp_set_status(vp, (uint8_t)val);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vp->queue_select = (uint16_t)val;
		return;
	}
	vq = vp_selected(vp);
	if (vq)
		vp_queue_write(vp, vq, off, val);
}

/*
 * One access to the common configuration: a field at its own size, or an
 * 8-byte access to a 64-bit field pair (two 4-byte halves). Others: read
 * 0, write ignored.
 */
static uint64_t vp_common_access(struct virtio_pci *vp, uint64_t off, unsigned int size,
				 bool write, uint64_t val)
{
	unsigned int f = vp_common_field(off);

	if (size == 8 && f == 4 && off % 8 == 0 && vp_common_field(off + 4) == 4) {
		uint64_t lo = vp_common_access(vp, off, 4, write, val & 0xffffffffu);

		return lo | vp_common_access(vp, off + 4, 4, write, val >> 32) << 32;
	}
	if (!f || f != size)
		return 0;
	if (write) {
		vp_common_write(vp, off, (uint32_t)val);
		return 0;
	}
	return vp_common_read(vp, off);
}

/* ---- BAR 4 ---- */

uint64_t vp_bar_access_locked(struct virtio_pci *vp, uint64_t off, unsigned int size,
			      bool write, uint64_t val)
{
	unsigned int cfg_len = vp->ops->config_len;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return 0;
	if (off < VP_COMMON_BYTES)
		return vp_common_access(vp, off, size, write, val);
	if (off == VIRTIO_PCI_ISR_OFF) {
		uint8_t isr = vp->isr;

		if (write)
			return 0;
		/* Reading acknowledges: the bits clear and INTx drops (§4.1.4.5). */
		vp->isr = 0;
		pci_intx_set(vp->pdev, false);
		return isr;
	}
	if (off >= VIRTIO_PCI_DEVICE_OFF && off - VIRTIO_PCI_DEVICE_OFF < cfg_len &&
	    size <= cfg_len - (off - VIRTIO_PCI_DEVICE_OFF)) {
		unsigned int at = (unsigned int)(off - VIRTIO_PCI_DEVICE_OFF);
		uint8_t b[8] = { 0 };
		uint64_t v = 0;

		if (write) {
			for (unsigned int i = 0; i < size; i++)
				b[i] = (uint8_t)(val >> (8 * i));
			if (vp->ops->config_write)
				vp->ops->config_write(vp->dev, at, b, size);
			return 0;
		}
		vp->ops->config_read(vp->dev, at, b, size);
		for (unsigned int i = 0; i < size; i++)
			v |= (uint64_t)b[i] << (8 * i);
		return v;
	}
	if (off >= VIRTIO_PCI_NOTIFY_OFF && write &&
	    (off - VIRTIO_PCI_NOTIFY_OFF) % VIRTIO_PCI_NOTIFY_MULT == 0 &&
	    (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT < vp->ops->nr_queues) {
		/* No ioeventfd caught it: process the queue on this vCPU's thread. */
		vp_notified(vp, (unsigned int)((off - VIRTIO_PCI_NOTIFY_OFF) /
					       VIRTIO_PCI_NOTIFY_MULT), true);
	}
	return 0;
}

static uint64_t vp_bar_read(void *opaque, uint64_t off, unsigned int size)
{
	struct virtio_pci *vp = opaque;
	uint64_t v;

	virtio_pci_lock(vp);
	v = vp_bar_access_locked(vp, off, size, false, 0);
	virtio_pci_unlock(vp);
	return v;
}

static void vp_bar_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct virtio_pci *vp = opaque;

	virtio_pci_lock(vp);
	(void)vp_bar_access_locked(vp, off, size, true, val);
	virtio_pci_unlock(vp);
}

const struct bus_handler vp_bar_handler = {
	.read = vp_bar_read,
	.write = vp_bar_write,
};

