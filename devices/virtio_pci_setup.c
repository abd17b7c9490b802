// SPDX-License-Identifier: MIT
/*
 * virtio-pci, the PCI side: creation (the PCI device, its capabilities and
 * BARs), the callbacks pci calls with its config lock held (BAR 4 moving
 * takes the queue ioeventfds along; the PCI configuration access
 * capability's window), destruction and machine reset. The transport
 * itself is in virtio_pci.c.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_pci_int.h"
#include "mem/machine.h"
#include "mem/pthread_must.h"

#define VP_ISR_BYTES         1u
/* PCI class "other" (no class fits a virtio-mem device), revision 1: modern (§4.1.2.1). */
#define VP_PCI_CLASS_OTHER   0xff0000u
#define VP_PCI_REVISION      1u
/* Subsystem ID: 0x40 + the device ID (§4.1.2.1: non-transitional devices SHOULD be >= 0x40). */
#define VP_PCI_SUBSYS_BASE   0x40u
/* Offsets inside the PCI configuration access capability. */
#define VP_CFG_CAP_BAR       4u   /* cap.bar */
#define VP_CFG_CAP_OFFSET    8u   /* cap.offset */
#define VP_CFG_CAP_LENGTH    12u  /* cap.length */
#define VP_CFG_CAP_DATA      16u  /* pci_cfg_data */
#define VP_CFG_CAP_BYTES     20u  /* sizeof(struct virtio_pci_cfg_cap) */
/* Transport feature bits a device may offer (besides VERSION_1, always added). */
#define VP_TRANSPORT_ALLOWED (1ull << VIRTIO_RING_F_INDIRECT_DESC)

_Static_assert(sizeof(struct virtio_pci_cfg_cap) == VP_CFG_CAP_BYTES, "cfg cap layout");

/* ---- PCI callbacks ---- */

static void vp_ioeventfd_release(struct virtio_pci *vp, struct vp_notify *n)
{
	struct device_ioeventfd io = { .addr = n->addr, .len = 2, .efd = n->efd };

	if (!n->assigned)
		return;
	/* A failed deassign leaves KVM signalling an eventfd nobody reads: harmless. */
	(void)vp->ctx.ioeventfd(vp->ctx.opaque, &io, false);
	n->assigned = false;
}

/* BAR 4 moved: the notify ioeventfds move with it (off the old place, onto the new). */
static void vp_bar_map(void *opaque, unsigned int bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = opaque;

	if (bar != VIRTIO_PCI_BAR)
		return;
	virtio_pci_lock(vp);
	for (unsigned int q = 0; q < vp->ops->nr_queues; q++) {
		struct vp_notify *n = &vp->notify[q];
		struct device_ioeventfd io = {
			.addr = addr + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q,
			.len = 2,
			.efd = n->efd,
		};

		if (n->efd < 0)
			continue;
		vp_ioeventfd_release(vp, n);
		if (!mapped)
			continue;
		/* Without it the writes trap and are processed inline: slower, still correct. */
		if (vp->ctx.ioeventfd(vp->ctx.opaque, &io, true) == 0) {
			n->assigned = true;
			n->addr = io.addr;
		}
	}
	virtio_pci_unlock(vp);
}

static bool vp_cfg_window_ok(const struct vp_cfg_window *w)
{
	return w->bar == VIRTIO_PCI_BAR && (w->length == 1 || w->length == 2 || w->length == 4) &&
		w->offset % w->length == 0 && w->offset <= VIRTIO_PCI_BAR_BYTES - w->length;
}

/* The capability's bytes from cap.bar on, as the guest sees them. */
static void vp_cfg_image(const struct vp_cfg_window *w, uint8_t img[VP_CFG_CAP_BYTES])
{
	memset(img, 0, VP_CFG_CAP_BYTES);
	img[VP_CFG_CAP_BAR] = w->bar;
	for (unsigned int i = 0; i < 4; i++) {
		img[VP_CFG_CAP_OFFSET + i] = (uint8_t)(w->offset >> (8 * i));
		img[VP_CFG_CAP_LENGTH + i] = (uint8_t)(w->length >> (8 * i));
		img[VP_CFG_CAP_DATA + i] = w->data[i];
	}
}

/* The access at config offset off falls in the part of the capability we keep. */
static bool vp_cfg_mine(const struct virtio_pci *vp, unsigned int off, unsigned int size,
			unsigned int *rel)
{
	unsigned int base = vp->cfg_cap_off;

	if (off < base + VP_CFG_CAP_BAR || off >= base + VP_CFG_CAP_BYTES ||
	    size > base + VP_CFG_CAP_BYTES - off)
		return false;
	*rel = off - base;
	return true;
}

static bool vp_cfg_read(void *opaque, unsigned int off, unsigned int size, uint32_t *val)
{
	struct virtio_pci *vp = opaque;
	struct vp_cfg_window *w = &vp->cfg_window;
	uint8_t img[VP_CFG_CAP_BYTES];
	unsigned int rel;

	if (!vp_cfg_mine(vp, off, size, &rel))
		return false;
	virtio_pci_lock(vp);
	/* Reading pci_cfg_data reads the BAR through the window (§4.1.4.9.1). */
	if (rel + size > VP_CFG_CAP_DATA && vp_cfg_window_ok(w)) {
		uint64_t v = vp_bar_access_locked(vp, w->offset, w->length, false, 0);

		for (unsigned int i = 0; i < w->length; i++)
			w->data[i] = (uint8_t)(v >> (8 * i));
	}
	vp_cfg_image(w, img);
	*val = 0;
	for (unsigned int i = 0; i < size; i++)
		*val |= (uint32_t)img[rel + i] << (8 * i);
	virtio_pci_unlock(vp);
	return true;
}

static bool vp_cfg_write(void *opaque, unsigned int off, unsigned int size, uint32_t val)
{
	struct virtio_pci *vp = opaque;
	struct vp_cfg_window *w = &vp->cfg_window;
	bool data = false;
	unsigned int rel;

	if (!vp_cfg_mine(vp, off, size, &rel))
		return false;
	virtio_pci_lock(vp);
	for (unsigned int i = 0; i < size; i++, rel++) {
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (rel == VP_CFG_CAP_BAR) {
			w->bar = b;
		} else if (rel >= VP_CFG_CAP_OFFSET && rel < VP_CFG_CAP_LENGTH) {
			unsigned int sh = 8 * (rel - VP_CFG_CAP_OFFSET);

			w->offset = (w->offset & ~(0xffu << sh)) | (uint32_t)b << sh;
		} else if (rel >= VP_CFG_CAP_LENGTH && rel < VP_CFG_CAP_DATA) {
			unsigned int sh = 8 * (rel - VP_CFG_CAP_LENGTH);

			w->length = (w->length & ~(0xffu << sh)) | (uint32_t)b << sh;
		} else if (rel >= VP_CFG_CAP_DATA) {
			w->data[rel - VP_CFG_CAP_DATA] = b;
			data = true;
		}
		/* cap.id and the padding are read-only. */
	}
	/* Writing pci_cfg_data writes its first cap.length bytes to the BAR. */
	if (data && vp_cfg_window_ok(w)) {
		uint64_t v = 0;

		for (unsigned int i = 0; i < w->length; i++)
			v |= (uint64_t)w->data[i] << (8 * i);
		(void)vp_bar_access_locked(vp, w->offset, w->length, true, v);
	}
	virtio_pci_unlock(vp);
	return true;
}

static const struct pci_dev_callbacks vp_pci_callbacks = {
	.bar_map = vp_bar_map,
	.cfg_read = vp_cfg_read,
	.cfg_write = vp_cfg_write,
};

/* ---- creation ---- */

static int vp_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
		      uint32_t mult, unsigned int *at)
{
	struct virtio_pci_notify_cap cap = {
		.cap = {
			.cap_vndr = PCI_CAP_ID_VNDR_,
			.cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ?
				sizeof(struct virtio_pci_notify_cap) : sizeof(struct virtio_pci_cap),
			.cfg_type = type,
			.bar = VIRTIO_PCI_BAR,
			.offset = htole32(off),
			.length = htole32(len),
		},
		.notify_off_multiplier = htole32(mult),
	};

	return pci_dev_add_cap(vp->pdev, &cap, cap.cap.cap_len, NULL, at);
}

static int vp_add_caps(struct virtio_pci *vp)
{
	struct virtio_pci_cfg_cap cfg = {
		.cap = {
			.cap_vndr = PCI_CAP_ID_VNDR_,
			.cap_len = sizeof(struct virtio_pci_cfg_cap),
			.cfg_type = VIRTIO_PCI_CAP_PCI_CFG,
		},
	};
	unsigned int at;
	int ret;

	ret = vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VP_COMMON_BYTES,
			 0, &at);
	if (!ret)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				 VIRTIO_PCI_NOTIFY_MULT * vp->ops->nr_queues,
				 VIRTIO_PCI_NOTIFY_MULT, &at);
	if (!ret)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VP_ISR_BYTES, 0,
				 &at);
	if (!ret && vp->ops->config_len)
		ret = vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				 vp->ops->config_len, 0, &at);
	if (!ret)
		ret = pci_dev_add_cap(vp->pdev, &cfg, sizeof(cfg), NULL, &vp->cfg_cap_off);
	return ret;
}

static bool vp_ops_ok(const struct virtio_device_ops *ops)
{
	uint64_t transport = ((1ull << VIRTIO_TRANSPORT_F_END) - 1) &
		~((1ull << VIRTIO_TRANSPORT_F_START) - 1);

	return ops && ops->name && ops->queue_notify &&
		ops->nr_queues >= 1 && ops->nr_queues <= VIRTIO_PCI_MAX_QUEUES &&
		vp_is_pow2(ops->queue_size) && ops->queue_size <= VQ_MAX_SIZE &&
		ops->config_len <= VIRTIO_PCI_MAX_CONFIG &&
		(!ops->config_len || ops->config_read) &&
		!(ops->features & transport & ~VP_TRANSPORT_ALLOWED);
}

/* Queue eventfds, watched by the main loop (only with both services). */
static int vp_notify_setup(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->ops->nr_queues; q++) {
		struct vp_notify *n = &vp->notify[q];
		int ret;

		n->vp = vp;
		n->q = q;
		if (!vp->ctx.ioeventfd || !vp->ctx.watch_fd)
			continue;
		n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (n->efd < 0)
			return -errno;
		ret = vp->ctx.watch_fd(vp->ctx.opaque, n->efd, EPOLLIN, vp_notify_fd, n);
		if (ret) {
			close(n->efd);
			n->efd = -1;
			return ret;
		}
		n->watched = true;
	}
	return 0;
}

static void vp_notify_teardown(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++) {
		struct vp_notify *n = &vp->notify[q];

		if (n->efd < 0)
			continue;
		vp_ioeventfd_release(vp, n);
		if (n->watched)
			vp->ctx.unwatch_fd(vp->ctx.opaque, n->efd);
		close(n->efd);
		n->efd = -1;
	}
}

int virtio_pci_create(const struct device_ctx *ctx, const struct virtio_device_ops *ops,
		      void *dev, struct virtio_pci **out)
{
	struct pci_dev_desc desc = {
		.vendor = MACHINE_PCI_VIRTIO_VENDOR,
		.subsys_vendor = MACHINE_PCI_VIRTIO_VENDOR,
		.class_code = VP_PCI_CLASS_OTHER,
		.revision = VP_PCI_REVISION,
		.intx = true,
		.cb = &vp_pci_callbacks,
	};
	struct virtio_pci *vp;
	int ret;

	if (!ctx->pci)
		return -ENODEV;
	if (!vp_ops_ok(ops) || !ctx->mem)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->ctx = *ctx;
	vp->ops = ops;
	vp->dev = dev;
	vp->msix_vectors = ops->nr_queues + 1;   /* one per queue and one for config */
	for (unsigned int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		vp->notify[q].efd = -1;
	for (unsigned int q = 0; q < ops->nr_queues; q++) {
		vq_init(&vp->vq[q], ctx->mem, ops->queue_size);
		vq_set_access(&vp->vq[q], ops->access_ok, dev);
	}
	ret = -pthread_mutex_init(&vp->lock, NULL);
	if (ret)
		goto err_free;
	ret = vp_notify_setup(vp);
	if (ret)
		goto err_notify;
	desc.name = ops->name;
	desc.device = (uint16_t)(MACHINE_PCI_VIRTIO_DEVICE_BASE + ops->device_id);
	desc.subsys_id = (uint16_t)(VP_PCI_SUBSYS_BASE + ops->device_id);
	desc.bar[VIRTIO_PCI_BAR] = (struct pci_bar_desc){
		.type = PCI_BAR_MEM64,
		.size = VIRTIO_PCI_BAR_BYTES,
		.handler = &vp_bar_handler,
		.opaque = vp,
	};
	desc.msix_vectors = vp->msix_vectors;
	desc.msix_bar = VIRTIO_PCI_MSIX_BAR;
	desc.opaque = vp;
	ret = pci_dev_add(ctx->pci, &desc, &vp->pdev);
	if (ret)
		goto err_notify;
	ret = vp_add_caps(vp);
	if (ret)
		goto err_pci;
	virtio_pci_lock(vp);
	vp_reset_locked(vp);
	virtio_pci_unlock(vp);
	*out = vp;
	return 0;

err_pci:
	pci_dev_remove(vp->pdev);
err_notify:
	vp_notify_teardown(vp);
	mem_pthread_must(pthread_mutex_destroy(&vp->lock));
err_free:
	free(vp);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	/* Off the bus first (no more BAR dispatches or callbacks), then our fds. */
	pci_dev_remove(vp->pdev);
	vp_notify_teardown(vp);
	mem_pthread_must(pthread_mutex_destroy(&vp->lock));
	free(vp);
}

void virtio_pci_machine_reset(struct virtio_pci *vp)
{
	/* Not under vp->lock: pci calls bar_map (which takes it) with its own lock held. */
	pci_dev_reset(vp->pdev);
	virtio_pci_lock(vp);
	memset(&vp->cfg_window, 0, sizeof(vp->cfg_window));
	vp_reset_locked(vp);
	virtio_pci_unlock(vp);
}

struct pci_dev *virtio_pci_pci_dev(struct virtio_pci *vp)
{
	return vp->pdev;
}
