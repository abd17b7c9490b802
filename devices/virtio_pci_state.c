// SPDX-License-Identifier: MIT
/*
 * virtio-pci save/restore: the PCI device's blob (pci_dev_save()) followed
 * by the transport's own state, in dev_blob form. A restore reads the
 * whole blob into a staging copy and checks every field against what this
 * transport can be in (status bits and their order, features offered,
 * vectors inside the MSI-X table, queue sizes, enabled queues whose rings
 * vq_enable() accepts, used index no further than the avail index it
 * consumed) before anything changes; then pci restores its part (which
 * checks its own), and only then ours is applied.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "devices/dev_blob.h"
#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_pci_int.h"

#define VP_BLOB_MAGIC   "VPCI"
#define VP_BLOB_VERSION 1u
#define VP_ISR_BITS     (VP_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG)

static const char VP_ERR_RESTORED_BROKEN[] = "queue broken before the state was saved";

struct vp_saved_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	bool enabled, broken;
	uint16_t last_avail, used_idx;
	uint16_t vector;
};

struct vp_saved {
	uint8_t status, isr, generation;
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector, queue_select;
	struct vp_cfg_window window;
	unsigned int nr_queues;
	struct vp_saved_queue q[VIRTIO_PCI_MAX_QUEUES];
};

/* pci's save() in dev_blob_save_fn's shape (it takes the config lock). */
static int vp_pci_save(void *pdev, void *buf, size_t *len)
{
	return pci_dev_save(pdev, buf, len);
}

int virtio_pci_save(struct virtio_pci *vp, void *buf, size_t *len)
{
	struct dev_blob_writer w = { .buf = buf, .room = *len };
	const struct vp_cfg_window *win = &vp->cfg_window;
	uint8_t *pci_blob;
	size_t pci_len;
	int ret;

	ret = dev_blob_save_alloc(vp_pci_save, vp->pdev, &pci_blob, &pci_len);
	if (ret)
		return ret;
	dev_blob_put_header(&w, VP_BLOB_MAGIC, VP_BLOB_VERSION);
	dev_blob_put_nested(&w, pci_blob, (uint32_t)pci_len);
	free(pci_blob);

	virtio_pci_lock(vp);
	dev_blob_put8(&w, vp->status);
	dev_blob_put8(&w, vp->isr);
	dev_blob_put8(&w, vp->generation);
	dev_blob_put32(&w, vp->dfselect);
	dev_blob_put32(&w, vp->gfselect);
	dev_blob_put64(&w, vp->driver_features);
	dev_blob_put16(&w, vp->config_vector);
	dev_blob_put16(&w, vp->queue_select);
	dev_blob_put8(&w, win->bar);
	dev_blob_put32(&w, win->offset);
	dev_blob_put32(&w, win->length);
	for (unsigned int i = 0; i < sizeof(win->data); i++)
		dev_blob_put8(&w, win->data[i]);
	dev_blob_put8(&w, (uint8_t)vp->ops->nr_queues);
	for (unsigned int q = 0; q < vp->ops->nr_queues; q++) {
		const struct virtqueue *vq = &vp->vq[q];

		dev_blob_put16(&w, vq->size);
		dev_blob_put64(&w, vq->desc_gpa);
		dev_blob_put64(&w, vq->avail_gpa);
		dev_blob_put64(&w, vq->used_gpa);
		dev_blob_put8(&w, vq->enabled);
		dev_blob_put8(&w, vq->broken);
		dev_blob_put16(&w, vq->last_avail);
		dev_blob_put16(&w, vq->used_idx);
		dev_blob_put16(&w, vp->vq_vector[q]);
	}
	virtio_pci_unlock(vp);
	return dev_blob_finish(&w, len);
}

static void vp_read_state(struct dev_blob_reader *r, struct vp_saved *s)
{
	s->status = dev_blob_get8(r);
	s->isr = dev_blob_get8(r);
	s->generation = dev_blob_get8(r);
	s->dfselect = dev_blob_get32(r);
	s->gfselect = dev_blob_get32(r);
	s->driver_features = dev_blob_get64(r);
	s->config_vector = dev_blob_get16(r);
	s->queue_select = dev_blob_get16(r);
	s->window.bar = dev_blob_get8(r);
	s->window.offset = dev_blob_get32(r);
	s->window.length = dev_blob_get32(r);
	for (unsigned int i = 0; i < sizeof(s->window.data); i++)
		s->window.data[i] = dev_blob_get8(r);
	s->nr_queues = dev_blob_get8(r);
	for (unsigned int q = 0; q < s->nr_queues && q < VIRTIO_PCI_MAX_QUEUES; q++) {
		struct vp_saved_queue *sq = &s->q[q];
		uint8_t enabled, broken;

		sq->size = dev_blob_get16(r);
		sq->desc = dev_blob_get64(r);
		sq->avail = dev_blob_get64(r);
		sq->used = dev_blob_get64(r);
		enabled = dev_blob_get8(r);
		broken = dev_blob_get8(r);
		/* Anything but 0 or 1 makes the blob malformed (checked by the caller). */
		sq->enabled = enabled == 1;
		sq->broken = broken == 1;
		if (enabled > 1 || broken > 1)
			r->short_read = true;
		sq->last_avail = dev_blob_get16(r);
		sq->used_idx = dev_blob_get16(r);
		sq->vector = dev_blob_get16(r);
	}
}

/*
 * A saved queue. An enabled one's rings must pass vq_enable() on a scratch
 * copy as far as RAM and alignment go (a live queue's always do), but not
 * the device's access rule: a live queue whose rings that rule no longer
 * allows (virtio-mem: a block unplugged under them) is saved like that and
 * stops at its next use; vp_apply() stops it at once instead.
 */
static bool vp_queue_ok(struct virtio_pci *vp, const struct vp_saved *s,
			const struct vp_saved_queue *sq, bool indirect)
{
	struct virtqueue t;

	if (!vp_is_pow2(sq->size) || sq->size > vp->ops->queue_size)
		return false;
	if (vp_vector(vp, sq->vector) != sq->vector)
		return false;
	/* The device pushes only what it popped, at most a ring's worth behind. */
	if ((uint16_t)(sq->last_avail - sq->used_idx) > sq->size)
		return false;
	if (sq->broken)
		return s->status & VIRTIO_CONFIG_S_NEEDS_RESET;
	if (!sq->enabled)
		return true;
	vq_init(&t, vp->ctx.mem, vp->ops->queue_size);
	t.size = sq->size;
	t.desc_gpa = sq->desc;
	t.avail_gpa = sq->avail;
	t.used_gpa = sq->used;
	t.indirect = indirect;
	return vq_enable(&t) == 0;
}

/* With vp->lock held: does s describe a state this transport can be in? */
static bool vp_state_ok(struct virtio_pci *vp, const struct vp_saved *s)
{
	uint8_t st = s->status;
	bool features_ok = st & VIRTIO_CONFIG_S_FEATURES_OK;
	bool indirect = features_ok && (s->driver_features & 1ull << VIRTIO_RING_F_INDIRECT_DESC);

	if (st & ~VP_STATUS_BITS || s->isr & ~VP_ISR_BITS)
		return false;
	if ((st & VIRTIO_CONFIG_S_DRIVER_OK) && !features_ok)
		return false;
	/* Before FEATURES_OK the driver may have written any bits; they are judged then. */
	if (features_ok && (s->driver_features & ~vp_offered(vp)))
		return false;
	if (features_ok && (!(s->driver_features & 1ull << VIRTIO_F_VERSION_1) ||
			    (vp->ops->features_ok &&
			     vp->ops->features_ok(vp->dev, s->driver_features))))
		return false;
	if (vp_vector(vp, s->config_vector) != s->config_vector)
		return false;
	if (s->nr_queues != vp->ops->nr_queues)
		return false;
	for (unsigned int q = 0; q < s->nr_queues; q++)
		if (!vp_queue_ok(vp, s, &s->q[q], indirect))
			return false;
	return true;
}

static void vp_apply(struct virtio_pci *vp, const struct vp_saved *s)
{
	bool indirect = (s->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
		(s->driver_features & 1ull << VIRTIO_RING_F_INDIRECT_DESC);

	vp->status = s->status;
	vp->isr = s->isr;
	vp->generation = s->generation;
	vp->dfselect = s->dfselect;
	vp->gfselect = s->gfselect;
	vp->driver_features = s->driver_features;
	vp->config_vector = s->config_vector;
	vp->queue_select = s->queue_select;
	vp->cfg_window = s->window;
	for (unsigned int q = 0; q < s->nr_queues; q++) {
		const struct vp_saved_queue *sq = &s->q[q];
		struct virtqueue *vq = &vp->vq[q];

		vq_reset(vq);
		vq->size = sq->size;
		vq->desc_gpa = sq->desc;
		vq->avail_gpa = sq->avail;
		vq->used_gpa = sq->used;
		vq->indirect = indirect;
		if (sq->broken) {
			vq->enabled = sq->enabled;
			vq->broken = true;
			vq->why_broken = VP_ERR_RESTORED_BROKEN;
		} else if (sq->enabled && vq_enable(vq)) {
			/* Rings outside what the device may touch: stopped, as at its next use. */
			virtio_pci_violation(vp, q, VP_ERR_RESTORED_BROKEN);
		}
		vq->last_avail = sq->last_avail;
		vq->used_idx = sq->used_idx;
		vp->vq_vector[q] = sq->vector;
	}
}

int virtio_pci_restore(struct virtio_pci *vp, const void *buf, size_t len)
{
	struct dev_blob_reader r = { .buf = buf, .len = len };
	struct vp_saved s = { 0 };
	const uint8_t *pci_blob;
	uint32_t pci_len;
	bool ok;
	int ret;

	if (!dev_blob_get_header(&r, VP_BLOB_MAGIC, VP_BLOB_VERSION))
		return -EINVAL;
	if (!dev_blob_get_nested(&r, &pci_blob, &pci_len))
		return -EINVAL;
	vp_read_state(&r, &s);
	if (!dev_blob_done(&r))
		return -EINVAL;

	virtio_pci_lock(vp);
	ok = vp_state_ok(vp, &s);
	virtio_pci_unlock(vp);
	if (!ok)
		return -EINVAL;
	/* pci checks its part and changes nothing when it refuses; it calls bar_map. */
	ret = pci_dev_restore(vp->pdev, pci_blob, pci_len);
	if (ret)
		return ret;
	virtio_pci_lock(vp);
	vp_apply(vp, &s);
	virtio_pci_unlock(vp);
	return 0;
}
