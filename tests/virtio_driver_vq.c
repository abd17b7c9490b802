// SPDX-License-Identifier: MIT
/*
 * The independent driver's split virtqueues (virtio 1.2 §2.7), its
 * virtio-mem requests (§5.15) and balloon buffers (§5.5); the PCI side is
 * in virtio_driver.c.
 */
#include "tests/virtio_driver.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define PAGE_BYTES          4096u
#define VMEM_REQ_BYTES      24u
#define VMEM_RESP_BYTES     10u
/* In the data area (after the rings): request and response buffers. */
#define DATA_REQ_OFF        0u
#define DATA_RESP_OFF       (8u << 10)
#define DATA_BUF_MAX        (8u << 10)

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* ---- guest memory ---- */

static int gm_write(struct vdrv *d, uint64_t gpa, const void *buf, size_t len)
{
	int ret = d->m.mem_write(d->m.opaque, gpa, buf, len);

	return ret ? vdrv_fail(d, ret, "guest memory write at 0x%llx failed: %d",
			  (unsigned long long)gpa, ret) : 0;
}

static int gm_read(struct vdrv *d, uint64_t gpa, void *buf, size_t len)
{
	int ret = d->m.mem_read(d->m.opaque, gpa, buf, len);

	return ret ? vdrv_fail(d, ret, "guest memory read at 0x%llx failed: %d",
			  (unsigned long long)gpa, ret) : 0;
}

static int gm_w16(struct vdrv *d, uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);

	return gm_write(d, gpa, &le, sizeof(le));
}

static int gm_r16(struct vdrv *d, uint64_t gpa, uint16_t *v)
{
	uint16_t le;
	int ret = gm_read(d, gpa, &le, sizeof(le));

	*v = le16toh(le);
	return ret;
}

static int gm_zero(struct vdrv *d, uint64_t gpa, uint64_t len)
{
	static const uint8_t zero[PAGE_BYTES];
	int ret = 0;

	for (uint64_t done = 0; done < len && !ret; done += sizeof(zero))
		ret = gm_write(d, gpa + done, zero,
			       len - done < sizeof(zero) ? len - done : sizeof(zero));
	return ret;
}

/* ---- split virtqueues (§2.7) ---- */

/*
 * Size queue qi (at most size entries, 0: the device's maximum) and put its
 * rings at desc/avail/used, or in scratch RAM (zeroed) when ring_at is
 * false; then vector, notify offset, enable.
 */
static int queue_setup(struct vdrv *d, unsigned int qi, uint16_t size, uint16_t vector,
		       bool ring_at, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vdrv_queue *q = &d->q[qi];
	uint16_t max, got;
	uint64_t base;
	int ret;

	if (qi >= VDRV_MAX_QUEUES)
		return vdrv_fail(d, -EINVAL, "queue %u: the driver sets up at most %u", qi,
			    VDRV_MAX_QUEUES);
	if (qi >= d->num_queues)
		return vdrv_fail(d, -ENOENT, "queue %u: the device has %u", qi, d->num_queues);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, qi);
	max = (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	if (!max)
		return vdrv_fail(d, -ENOENT, "queue %u unavailable (queue_size 0)", qi);
	if (!is_pow2(max))
		return vdrv_fail(d, -EPROTO, "queue %u: queue_size %u is no power of 2", qi, max);
	if (vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) != 0)
		return vdrv_fail(d, -EPROTO, "queue %u: queue_enable not 0 before setup", qi);
	if (!size || size > max)
		size = max;
	if (size > VDRV_MAX_QUEUE_SIZE)
		size = VDRV_MAX_QUEUE_SIZE;
	while (!is_pow2(size))
		size &= (uint16_t)(size - 1);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	got = (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	if (got != size)
		return vdrv_fail(d, -EPROTO, "queue %u: queue_size reads %u after writing %u", qi, got,
			    size);

	if (ring_at) {
		*q = (struct vdrv_queue){ .size = size, .desc = desc, .avail = avail, .used = used };
	} else {
		base = d->cfg.scratch_gpa + (uint64_t)qi * VDRV_RING_AREA_BYTES;
		*q = (struct vdrv_queue){ .size = size, .desc = base };
		q->avail = q->desc + align_up(16ull * size, PAGE_BYTES);
		q->used = q->avail + align_up(6ull + 2ull * size, PAGE_BYTES);
		ret = gm_zero(d, base, VDRV_RING_AREA_BYTES);
		if (ret)
			return ret;
	}
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)q->desc);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(q->desc >> 32));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)q->avail);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(q->avail >> 32));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)q->used);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(q->used >> 32));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_MSIX, 2, vector);
	q->vector = (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2);
	if (vector != VIRTIO_MSI_NO_VECTOR && q->vector != vector)
		return vdrv_fail(d, -EBUSY, "queue %u: vector %u reads back as 0x%x", qi, vector,
			    q->vector);
	q->notify_off = (uint16_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	if ((uint64_t)q->notify_off * d->notify_mult + 2 > d->notify.len)
		return vdrv_fail(d, -EPROTO, "queue %u: notify offset %u x %u outside %u bytes", qi,
			    q->notify_off, d->notify_mult, d->notify.len);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	if (vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) != 1)
		return vdrv_fail(d, -EPROTO, "queue %u: queue_enable does not read 1", qi);
	q->ready = true;
	return 0;
}

int vdrv_queue_setup(struct vdrv *d, unsigned int qi, uint16_t size, uint16_t vector)
{
	return queue_setup(d, qi, size, vector, false, 0, 0, 0);
}

int vdrv_queue_setup_at(struct vdrv *d, unsigned int qi, uint16_t size, uint16_t vector,
			uint64_t desc, uint64_t avail, uint64_t used)
{
	return queue_setup(d, qi, size, vector, true, desc, avail, used);
}

int vdrv_driver_ok(struct vdrv *d)
{
	uint8_t st = vdrv_status(d);

	vdrv_status_set(d, st | VIRTIO_CONFIG_S_DRIVER_OK);
	st = vdrv_status(d);
	if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED) ||
	    !(st & VIRTIO_CONFIG_S_DRIVER_OK))
		return vdrv_fail(d, -EPROTO, "device_status 0x%x after DRIVER_OK", st);
	return 0;
}

static struct vdrv_queue *queue(struct vdrv *d, unsigned int qi)
{
	return qi < VDRV_MAX_QUEUES && d->q[qi].ready ? &d->q[qi] : NULL;
}

int vdrv_desc_write(struct vdrv *d, unsigned int qi, uint16_t idx, uint64_t gpa, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	struct vdrv_queue *q = queue(d, qi);
	struct vring_desc desc;

	if (!q || idx >= q->size)
		return vdrv_fail(d, -EINVAL, "queue %u: no descriptor %u", qi, idx);
	desc.addr = htole64(gpa);
	desc.len = htole32(len);
	desc.flags = htole16(flags);
	desc.next = htole16(next);
	return gm_write(d, q->desc + 16ull * idx, &desc, sizeof(desc));
}

int vdrv_avail_publish(struct vdrv *d, unsigned int qi, uint16_t head)
{
	struct vdrv_queue *q = queue(d, qi);
	int ret;

	if (!q)
		return vdrv_fail(d, -EINVAL, "queue %u not set up", qi);
	ret = gm_w16(d, q->avail + 4 + 2ull * (q->avail_idx % q->size), head);
	if (ret)
		return ret;
	/* §2.7.13.2: the ring entry before the index that makes it visible. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail_idx++;
	return gm_w16(d, q->avail + 2, q->avail_idx);
}

int vdrv_avail_flags_set(struct vdrv *d, unsigned int qi, uint16_t flags)
{
	struct vdrv_queue *q = queue(d, qi);

	if (!q)
		return vdrv_fail(d, -EINVAL, "queue %u not set up", qi);
	return gm_w16(d, q->avail, flags);
}

int vdrv_notify(struct vdrv *d, unsigned int qi)
{
	struct vdrv_queue *q = queue(d, qi);
	uint64_t addr;

	if (!q)
		return vdrv_fail(d, -EINVAL, "queue %u not set up", qi);
	/* §2.7.13.3 / §4.1.5.2: after the avail index is visible. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	addr = vdrv_region_addr(d, &d->notify, (unsigned int)q->notify_off * d->notify_mult);
	if (!d->m.mmio_write(d->m.opaque, addr, 2, qi))
		return vdrv_fail(d, -EPROTO, "queue %u: nothing at notify address 0x%llx", qi,
			    (unsigned long long)addr);
	return 0;
}

int vdrv_used_idx(struct vdrv *d, unsigned int qi, uint16_t *idx)
{
	struct vdrv_queue *q = queue(d, qi);

	if (!q)
		return vdrv_fail(d, -EINVAL, "queue %u not set up", qi);
	return gm_r16(d, q->used + 2, idx);
}

int vdrv_used_wait(struct vdrv *d, unsigned int qi, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *q = queue(d, qi);
	struct vring_used_elem e;
	uint16_t idx;
	int ret;

	if (!q)
		return vdrv_fail(d, -EINVAL, "queue %u not set up", qi);
	for (unsigned int i = 0; i <= vdrv_poll_rounds(d); i++) {
		ret = gm_r16(d, q->used + 2, &idx);
		if (ret)
			return ret;
		if (idx != q->used_seen) {
			if ((uint16_t)(idx - q->used_seen) > q->size)
				return vdrv_fail(d, -EPROTO, "queue %u: used idx jumped %u -> %u", qi,
					    q->used_seen, idx);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			ret = gm_read(d, q->used + 4 + 8ull * (q->used_seen % q->size), &e,
				      sizeof(e));
			if (ret)
				return ret;
			q->used_seen++;
			*id = le32toh(e.id);
			*len = le32toh(e.len);
			return 0;
		}
		vdrv_run(d);
	}
	return vdrv_fail(d, -ETIMEDOUT, "queue %u: no used buffer after %u runs (status 0x%x)", qi,
		    vdrv_poll_rounds(d), vdrv_status(d));
}

int vdrv_post(struct vdrv *d, unsigned int qi, const struct vdrv_buf *bufs, unsigned int n,
	      uint16_t *head_out)
{
	struct vdrv_queue *q = queue(d, qi);
	uint16_t head, idx, flags;
	int ret;

	if (!q || !n || n > q->size)
		return vdrv_fail(d, -EINVAL, "queue %u: %u buffers", qi, n);
	head = q->next_desc;
	for (unsigned int i = 0; i < n; i++) {
		idx = (uint16_t)((head + i) % q->size);
		flags = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
				   (bufs[i].device_writes ? VRING_DESC_F_WRITE : 0));
		ret = vdrv_desc_write(d, qi, idx, bufs[i].gpa, bufs[i].len, flags,
				      (uint16_t)((idx + 1) % q->size));
		if (ret)
			return ret;
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	ret = vdrv_avail_publish(d, qi, head);
	if (!ret)
		ret = vdrv_notify(d, qi);
	if (!ret && head_out)
		*head_out = head;
	return ret;
}

int vdrv_submit(struct vdrv *d, unsigned int qi, const struct vdrv_buf *bufs, unsigned int n,
		uint32_t *used_len)
{
	uint32_t id, len;
	uint16_t head;
	int ret;

	ret = vdrv_post(d, qi, bufs, n, &head);
	if (!ret)
		ret = vdrv_used_wait(d, qi, &id, &len);
	if (ret)
		return ret;
	if (id != head)
		return vdrv_fail(d, -EPROTO, "queue %u: used id %u, the chain's head was %u", qi, id,
			    head);
	if (used_len)
		*used_len = len;
	return 0;
}

/* ---- virtio-mem (§5.15.6) ---- */

static uint64_t data_area(const struct vdrv *d)
{
	return d->cfg.scratch_gpa + (uint64_t)VDRV_MAX_QUEUES * VDRV_RING_AREA_BYTES;
}

int vdrv_vmem_request_raw(struct vdrv *d, const void *req, uint32_t req_len, uint32_t resp_len,
			  struct vdrv_vmem_result *res)
{
	uint64_t rq = data_area(d) + DATA_REQ_OFF, rs = data_area(d) + DATA_RESP_OFF;
	struct vdrv_buf bufs[2] = {
		{ .gpa = rq, .len = req_len },
		{ .gpa = rs, .len = resp_len, .device_writes = true },
	};
	uint8_t resp[VMEM_RESP_BYTES];
	uint8_t fill[DATA_BUF_MAX];
	int ret;

	if (req_len > DATA_BUF_MAX || resp_len > DATA_BUF_MAX || !req_len)
		return vdrv_fail(d, -EINVAL, "request %u / response %u bytes", req_len, resp_len);
	/* A response the device did not write reads 0xee..: not ACK, not any type. */
	memset(fill, 0xee, resp_len);
	ret = gm_write(d, rq, req, req_len);
	if (!ret && resp_len)
		ret = gm_write(d, rs, fill, resp_len);
	if (!ret)
		ret = vdrv_submit(d, 0, bufs, resp_len ? 2 : 1, &res->used_len);
	if (ret)
		return ret;
	memset(resp, 0xee, sizeof(resp));
	if (resp_len) {
		ret = gm_read(d, rs, resp, resp_len < sizeof(resp) ? resp_len : sizeof(resp));
		if (ret)
			return ret;
	}
	res->type = (uint16_t)(resp[0] | resp[1] << 8);
	res->state = (uint16_t)(resp[8] | resp[9] << 8);
	return 0;
}

int vdrv_vmem_request(struct vdrv *d, uint16_t type, uint64_t addr, uint16_t nb_blocks,
		      uint8_t pad_byte, struct vdrv_vmem_result *res)
{
	struct virtio_mem_req req;

	_Static_assert(sizeof(req) == VMEM_REQ_BYTES, "§5.15.6: requests are 24 bytes");
	_Static_assert(sizeof(struct virtio_mem_resp) == VMEM_RESP_BYTES,
		       "§5.15.6: responses are 10 bytes");
	memset(&req, pad_byte, sizeof(req));
	req.type = htole16(type);
	req.u.plug.addr = htole64(addr);
	req.u.plug.nb_blocks = htole16(nb_blocks);
	return vdrv_vmem_request_raw(d, &req, sizeof(req), VMEM_RESP_BYTES, res);
}

int vdrv_vmem_config(struct vdrv *d, struct virtio_mem_config *c, uint8_t *gen)
{
	uint8_t g1, g2;

	if (!d->devcfg.present || d->devcfg.len < sizeof(*c))
		return vdrv_fail(d, -EPROTO, "device configuration of %u bytes, virtio-mem needs %zu",
			    d->devcfg.len, sizeof(*c));
	for (unsigned int i = 0; i <= vdrv_poll_rounds(d); i++) {
		g1 = (uint8_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
		memset(c, 0, sizeof(*c));
		c->block_size = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config, block_size));
		c->node_id = (uint16_t)vdrv_cfg_read(d, offsetof(struct virtio_mem_config, node_id),
						     2);
		c->addr = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config, addr));
		c->region_size = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config,
							     region_size));
		c->usable_region_size = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config,
								    usable_region_size));
		c->plugged_size = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config,
							      plugged_size));
		c->requested_size = vdrv_cfg_read64(d, offsetof(struct virtio_mem_config,
								requested_size));
		g2 = (uint8_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
		if (g1 == g2) {
			if (gen)
				*gen = g2;
			return 0;
		}
	}
	return vdrv_fail(d, -ETIMEDOUT, "config_generation never stable");
}


/* ---- traditional memory balloon (§5.5) ---- */

int vdrv_balloon_pfns(struct vdrv *d, unsigned int q, const uint32_t *pfns, unsigned int n,
		      uint32_t *used_len)
{
	uint32_t le[VDRV_BALLOON_MAX_PFNS];
	struct vdrv_buf b = { .gpa = data_area(d) + DATA_REQ_OFF, .len = 4 * n };
	int ret;

	_Static_assert(sizeof(le) <= DATA_BUF_MAX, "PFN array outside the request buffer");
	if (!n || n > VDRV_BALLOON_MAX_PFNS)
		return vdrv_fail(d, -EINVAL, "%u PFNs in one buffer (at most %u)", n,
			    VDRV_BALLOON_MAX_PFNS);
	/* §5.5.6: an array of 32-bit little-endian page frame numbers (address / 4096). */
	for (unsigned int i = 0; i < n; i++)
		le[i] = htole32(pfns[i]);
	ret = gm_write(d, b.gpa, le, b.len);
	if (!ret)
		ret = vdrv_submit(d, q, &b, 1, used_len);
	return ret;
}

uint64_t vdrv_balloon_stats_gpa(const struct vdrv *d)
{
	return data_area(d) + DATA_RESP_OFF;
}

int vdrv_balloon_stats_post(struct vdrv *d, unsigned int q, const struct vdrv_balloon_stat *st,
			    unsigned int n)
{
	uint8_t buf[VDRV_BALLOON_MAX_STATS * VDRV_BALLOON_STAT_BYTES];
	struct vdrv_buf b = { .gpa = vdrv_balloon_stats_gpa(d), .len = n * VDRV_BALLOON_STAT_BYTES };
	int ret;

	_Static_assert(sizeof(buf) <= DATA_BUF_MAX, "statistics outside the response buffer");
	if (!n || n > VDRV_BALLOON_MAX_STATS)
		return vdrv_fail(d, -EINVAL, "%u statistics (at most %u)", n, VDRV_BALLOON_MAX_STATS);
	/* §5.5.6.3: packed { le16 tag; le64 val; }, 10 bytes each. */
	for (unsigned int i = 0; i < n; i++) {
		uint16_t tag = htole16(st[i].tag);
		uint64_t val = htole64(st[i].val);

		memcpy(buf + i * VDRV_BALLOON_STAT_BYTES, &tag, sizeof(tag));
		memcpy(buf + i * VDRV_BALLOON_STAT_BYTES + sizeof(tag), &val, sizeof(val));
	}
	ret = gm_write(d, b.gpa, buf, b.len);
	if (!ret)
		ret = vdrv_post(d, q, &b, 1, NULL);
	return ret;
}

int vdrv_balloon_config(struct vdrv *d, struct virtio_balloon_config *c, uint8_t *gen)
{
	uint8_t g1, g2;

	/* num_pages and actual are always there (§5.5.4). */
	if (!d->devcfg.present || d->devcfg.len < 2 * sizeof(uint32_t))
		return vdrv_fail(d, -EPROTO, "device configuration of %u bytes, the balloon needs 8",
			    d->devcfg.len);
	for (unsigned int i = 0; i <= vdrv_poll_rounds(d); i++) {
		g1 = (uint8_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
		memset(c, 0, sizeof(*c));
		c->num_pages = vdrv_cfg_read(d, offsetof(struct virtio_balloon_config, num_pages), 4);
		c->actual = vdrv_cfg_read(d, offsetof(struct virtio_balloon_config, actual), 4);
		g2 = (uint8_t)vdrv_common_read(d, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
		if (g1 == g2) {
			if (gen)
				*gen = g2;
			return 0;
		}
	}
	return vdrv_fail(d, -ETIMEDOUT, "config_generation never stable");
}

void vdrv_balloon_actual_set(struct vdrv *d, uint32_t pages)
{
	/* One 32-bit write (§5.5.6's legacy note asks for it; modern drivers may do the same). */
	vdrv_cfg_write(d, offsetof(struct virtio_balloon_config, actual), 4, pages);
}
