// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, device side (virtio 1.2 §2.7). Everything in the rings
 * is written by the guest, possibly while we read it, so:
 *
 * - every ring field and descriptor is copied out through mem_read() (or
 *   written through mem_write()), which checks the guest-physical range
 *   against RAM; nothing here holds a host pointer into guest memory;
 * - a field is read once, into a local, and only the local is checked and
 *   used (no time-of-check/time-of-use gap);
 * - every walk is bounded: a chain visits at most the queue size of ring
 *   descriptors and at most the table's entries of an indirect table, and
 *   hands out at most VQ_MAX_CHAIN buffers, so a loop in `next` ends;
 * - a broken rule breaks the queue (vq->broken, why_broken naming the rule)
 *   and nothing is consumed; the transport sets DEVICE_NEEDS_RESET.
 *
 * Memory ordering (§2.7.13 and §2.7.14): the driver writes descriptors and
 * the avail entry before avail->idx, so after reading avail->idx an
 * acquire fence orders the reads of what it covers; the device writes the
 * used element before used->idx, with a release fence between them.
 */
#include "devices/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "mem/mem.h"

/* Ring layout (§2.7): fields at these offsets, sizes including the event fields. */
#define VQ_DESC_BYTES            16u   /* sizeof(struct vring_desc) */
#define VQ_AVAIL_IDX_OFF         2u
#define VQ_AVAIL_RING_OFF        4u
#define VQ_AVAIL_ENTRY_BYTES     2u
#define VQ_USED_IDX_OFF          2u
#define VQ_USED_RING_OFF         4u
#define VQ_USED_ENTRY_BYTES      8u    /* sizeof(struct vring_used_elem) */
#define VQ_RING_HEADER_BYTES     6u    /* flags, idx and the event field */
/* The largest queue size the spec allows (§2.7: "Queue Size ... maximum 32768"). */
#define VQ_SPEC_MAX_SIZE         32768u

_Static_assert(sizeof(struct vring_desc) == VQ_DESC_BYTES, "vring_desc is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == VQ_USED_ENTRY_BYTES,
	       "vring_used_elem is 8 bytes");
_Static_assert(VQ_MAX_SIZE <= VQ_SPEC_MAX_SIZE && (VQ_MAX_SIZE & (VQ_MAX_SIZE - 1)) == 0,
	       "VQ_MAX_SIZE is a power of two the spec allows");
_Static_assert(VQ_MAX_CHAIN >= 1 && VQ_MAX_CHAIN <= VQ_MAX_SIZE, "VQ_MAX_CHAIN in range");

/* Reasons a queue breaks: what vq->why_broken points to. */
static const char VQ_ERR_SIZE[] = "queue size is not a power of two in 1..max";
static const char VQ_ERR_DESC_ALIGN[] = "descriptor table not 16-byte aligned";
static const char VQ_ERR_AVAIL_ALIGN[] = "avail ring not 2-byte aligned";
static const char VQ_ERR_USED_ALIGN[] = "used ring not 4-byte aligned";
static const char VQ_ERR_DESC_RAM[] = "descriptor table not in RAM";
static const char VQ_ERR_AVAIL_RAM[] = "avail ring not in RAM";
static const char VQ_ERR_USED_RAM[] = "used ring not in RAM";
static const char VQ_ERR_AVAIL_AHEAD[] = "avail idx more than the queue size ahead";
static const char VQ_ERR_HEAD[] = "avail ring entry (head) not below the queue size";
static const char VQ_ERR_NEXT[] = "next index not below the queue size";
static const char VQ_ERR_LOOP[] = "chain longer than the queue size (a loop in next)";
static const char VQ_ERR_TOO_LONG[] = "chain longer than VQ_MAX_CHAIN buffers";
static const char VQ_ERR_BUF_WRAP[] = "buffer address + length wraps past 2^64";
static const char VQ_ERR_BUF_RAM[] = "buffer not in RAM";
static const char VQ_ERR_ORDER[] = "readable buffer after a writable one";
static const char VQ_ERR_IND_OFF[] = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
static const char VQ_ERR_IND_NESTED[] = "indirect descriptor inside an indirect table";
static const char VQ_ERR_IND_NEXT[] = "indirect descriptor combined with NEXT";
static const char VQ_ERR_IND_LEN[] = "indirect table length not a nonzero multiple of 16";
static const char VQ_ERR_IND_LONG[] = "indirect table longer than VQ_MAX_CHAIN entries";
static const char VQ_ERR_IND_RAM[] = "indirect table not in RAM";
static const char VQ_ERR_IND_NEXT_RANGE[] = "next index outside the indirect table";
static const char VQ_ERR_IND_LOOP[] = "indirect chain longer than its table (a loop in next)";
/* The same places, in RAM but in memory the device's access rule refuses (vq_access_fn). */
static const char VQ_ERR_DESC_REFUSED[] = "descriptor table in memory the device refuses";
static const char VQ_ERR_AVAIL_REFUSED[] = "avail ring in memory the device refuses";
static const char VQ_ERR_USED_REFUSED[] = "used ring in memory the device refuses";
static const char VQ_ERR_BUF_REFUSED[] = "buffer in memory the device refuses";
static const char VQ_ERR_IND_REFUSED[] = "indirect table in memory the device refuses";

/* Where a guest range is, for the queue: usable, outside RAM, or refused by the device. */
enum vq_range {
	VQ_RANGE_OK = 0,
	VQ_RANGE_NOT_RAM,
	VQ_RANGE_REFUSED,
};

/* A descriptor as read from the guest, converted to host order. */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void vq_break(struct virtqueue *vq, const char *why)
{
	vq->broken = true;
	vq->why_broken = why;
}

static bool is_pow2(unsigned int n)
{
	return n && !(n & (n - 1));
}

/* The ring sizes, event fields included (§2.7.6, §2.7.8). */
static uint64_t desc_table_bytes(uint16_t size)
{
	return (uint64_t)VQ_DESC_BYTES * size;
}

static uint64_t avail_ring_bytes(uint16_t size)
{
	return VQ_RING_HEADER_BYTES + (uint64_t)VQ_AVAIL_ENTRY_BYTES * size;
}

static uint64_t used_ring_bytes(uint16_t size)
{
	return VQ_RING_HEADER_BYTES + (uint64_t)VQ_USED_ENTRY_BYTES * size;
}

void vq_init(struct virtqueue *vq, struct guest_mem *mem, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->max_size = max_size;
	vq->size = max_size;
}

void vq_reset(struct virtqueue *vq)
{
	vq_access_fn fn = vq->access;
	void *arg = vq->access_arg;

	vq_init(vq, vq->mem, vq->max_size);
	vq_set_access(vq, fn, arg);
}

void vq_set_access(struct virtqueue *vq, vq_access_fn fn, void *arg)
{
	vq->access = fn;
	vq->access_arg = arg;
}

/* RAM first (so the rule sees no wrap and no hole), then the device's rule; len 0 is fine. */
static enum vq_range range_check(const struct guest_mem *mem, vq_access_fn fn, void *arg,
				 uint64_t gpa, uint64_t len)
{
	if (!mem_range_is_ram(mem, gpa, len))
		return VQ_RANGE_NOT_RAM;
	if (len && fn && !fn(arg, gpa, len))
		return VQ_RANGE_REFUSED;
	return VQ_RANGE_OK;
}

static enum vq_range vq_range(const struct virtqueue *vq, uint64_t gpa, uint64_t len)
{
	return range_check(vq->mem, vq->access, vq->access_arg, gpa, len);
}

/* The rule a range broke: not_ram or refused, NULL when it is usable. */
static const char *range_why(const struct virtqueue *vq, uint64_t gpa, uint64_t len,
			     const char *not_ram, const char *refused)
{
	switch (vq_range(vq, gpa, len)) {
	case VQ_RANGE_OK:
		return NULL;
	case VQ_RANGE_NOT_RAM:
		return not_ram;
	default:
		return refused;
	}
}

/* Guest memory through the queue: -EFAULT outside RAM or where the device refuses it. */
static int vq_read(const struct virtqueue *vq, uint64_t gpa, void *buf, size_t len)
{
	if (vq_range(vq, gpa, len) != VQ_RANGE_OK)
		return -EFAULT;
	return mem_read(vq->mem, gpa, buf, len);
}

static int vq_write(struct virtqueue *vq, uint64_t gpa, const void *buf, size_t len)
{
	if (vq_range(vq, gpa, len) != VQ_RANGE_OK)
		return -EFAULT;
	return mem_write(vq->mem, gpa, buf, len);
}

/* The size vq_enable() accepts; checked again on every use, the transport owns the field. */
static bool size_ok(const struct virtqueue *vq)
{
	return is_pow2(vq->size) && vq->size <= vq->max_size && vq->size <= VQ_MAX_SIZE;
}

int vq_enable(struct virtqueue *vq)
{
	const char *why = NULL;

	if (vq->broken)
		return -EINVAL;   /* only vq_reset() mends a queue */
	if (!size_ok(vq))
		why = VQ_ERR_SIZE;
	else if (vq->desc_gpa % VRING_DESC_ALIGN_SIZE)
		why = VQ_ERR_DESC_ALIGN;
	else if (vq->avail_gpa % VRING_AVAIL_ALIGN_SIZE)
		why = VQ_ERR_AVAIL_ALIGN;
	else if (vq->used_gpa % VRING_USED_ALIGN_SIZE)
		why = VQ_ERR_USED_ALIGN;
	else
		why = range_why(vq, vq->desc_gpa, desc_table_bytes(vq->size), VQ_ERR_DESC_RAM,
				VQ_ERR_DESC_REFUSED);
	if (!why)
		why = range_why(vq, vq->avail_gpa, avail_ring_bytes(vq->size), VQ_ERR_AVAIL_RAM,
				VQ_ERR_AVAIL_REFUSED);
	if (!why)
		why = range_why(vq, vq->used_gpa, used_ring_bytes(vq->size), VQ_ERR_USED_RAM,
				VQ_ERR_USED_REFUSED);
	if (why) {
		vq->enabled = false;
		vq_break(vq, why);
		return -EINVAL;
	}
	vq->enabled = true;
	return 0;
}

/* Read a little-endian u16 of the guest; -EFAULT outside RAM or refused. */
static int read_le16(const struct virtqueue *vq, uint64_t gpa, uint16_t *val)
{
	uint16_t raw;
	int ret = vq_read(vq, gpa, &raw, sizeof(raw));

	if (ret)
		return ret;
	*val = le16toh(raw);
	return 0;
}

/* Descriptor idx of the table at table_gpa, copied once into *d. */
static int read_desc(const struct virtqueue *vq, uint64_t table_gpa, uint16_t idx,
		     struct vq_desc *d)
{
	struct vring_desc raw;
	int ret = vq_read(vq, table_gpa + (uint64_t)VQ_DESC_BYTES * idx, &raw, sizeof(raw));

	if (ret)
		return ret;
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
	return 0;
}

/* Where a chain walk is: the ring's descriptor table or one indirect table. */
struct vq_walk {
	uint64_t table_gpa;
	uint32_t table_len;     /* entries */
	uint32_t steps;         /* descriptors visited in this table */
	bool indirect;
};

/* Check an indirect descriptor d and switch w to its table. NULL, or the rule it broke. */
static const char *enter_indirect(const struct virtqueue *vq, const struct vq_desc *d,
				  struct vq_walk *w)
{
	const char *why;

	if (!vq->indirect)
		return VQ_ERR_IND_OFF;
	if (w->indirect)
		return VQ_ERR_IND_NESTED;
	if (d->flags & VRING_DESC_F_NEXT)
		return VQ_ERR_IND_NEXT;
	if (!d->len || d->len % VQ_DESC_BYTES)
		return VQ_ERR_IND_LEN;
	if (d->len / VQ_DESC_BYTES > VQ_MAX_CHAIN)
		return VQ_ERR_IND_LONG;
	why = range_why(vq, d->addr, d->len, VQ_ERR_IND_RAM, VQ_ERR_IND_REFUSED);
	if (why)
		return why;
	/* §2.7.5.3.2: the WRITE flag of the descriptor naming a table is ignored. */
	*w = (struct vq_walk){
		.table_gpa = d->addr,
		.table_len = d->len / VQ_DESC_BYTES,
		.indirect = true,
	};
	return NULL;
}

/* Add buffer d to the chain. NULL, or the rule it broke. */
static const char *add_buf(const struct virtqueue *vq, const struct vq_desc *d,
			   struct vq_chain *c)
{
	const char *why;
	struct vq_buf *b;

	/* An empty buffer is RAM wherever it points: nothing is accessed through it. */
	if (d->len && d->len - 1 > UINT64_MAX - d->addr)
		return VQ_ERR_BUF_WRAP;
	why = range_why(vq, d->addr, d->len, VQ_ERR_BUF_RAM, VQ_ERR_BUF_REFUSED);
	if (why)
		return why;
	if (!(d->flags & VRING_DESC_F_WRITE) && c->nr_in)
		return VQ_ERR_ORDER;
	if (c->nr_out + c->nr_in >= VQ_MAX_CHAIN)
		return VQ_ERR_TOO_LONG;
	b = &c->buf[c->nr_out + c->nr_in];
	b->gpa = d->addr;
	b->len = d->len;
	b->device_writes = d->flags & VRING_DESC_F_WRITE;
	/* At most VQ_MAX_CHAIN lengths below 2^32 each: the sums cannot overflow. */
	if (b->device_writes) {
		c->nr_in++;
		c->in_bytes += d->len;
	} else {
		c->nr_out++;
		c->out_bytes += d->len;
	}
	return NULL;
}

/*
 * Walk the chain starting at ring descriptor head into *c. NULL, or the
 * rule it broke. Ends: the ring table is visited at most vq->size times,
 * an indirect table at most its length, and never twice (no nesting).
 */
static const char *walk_chain(const struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	struct vq_walk w = { .table_gpa = vq->desc_gpa, .table_len = vq->size };
	uint16_t idx = head;

	memset(c, 0, offsetof(struct vq_chain, buf));
	c->head = head;
	c->access = vq->access;
	c->access_arg = vq->access_arg;
	for (;;) {
		struct vq_desc d;
		const char *why;

		if (++w.steps > w.table_len)
			return w.indirect ? VQ_ERR_IND_LOOP : VQ_ERR_LOOP;
		/* The ring's table again: the device may have refused it since vq_enable(). */
		why = range_why(vq, w.table_gpa + (uint64_t)VQ_DESC_BYTES * idx, VQ_DESC_BYTES,
				w.indirect ? VQ_ERR_IND_RAM : VQ_ERR_DESC_RAM,
				w.indirect ? VQ_ERR_IND_REFUSED : VQ_ERR_DESC_REFUSED);
		if (why || read_desc(vq, w.table_gpa, idx, &d))
			return why ? why : w.indirect ? VQ_ERR_IND_RAM : VQ_ERR_DESC_RAM;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			why = enter_indirect(vq, &d, &w);
			if (why)
				return why;
			idx = 0;
			continue;
		}
		why = add_buf(vq, &d, c);
		if (why)
			return why;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return NULL;
		if (d.next >= w.table_len)
			return w.indirect ? VQ_ERR_IND_NEXT_RANGE : VQ_ERR_NEXT;
		idx = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t avail_idx, pending, head;
	const char *why;

	if (vq->broken)
		return -EBADMSG;
	if (!vq->enabled)
		return 0;
	if (!size_ok(vq)) {
		vq_break(vq, VQ_ERR_SIZE);
		return -EBADMSG;
	}
	why = range_why(vq, vq->avail_gpa, avail_ring_bytes(vq->size), VQ_ERR_AVAIL_RAM,
			VQ_ERR_AVAIL_REFUSED);
	if (why || read_le16(vq, vq->avail_gpa + VQ_AVAIL_IDX_OFF, &avail_idx)) {
		vq_break(vq, why ? why : VQ_ERR_AVAIL_RAM);
		return -EBADMSG;
	}
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (!pending)
		return 0;
	if (pending > vq->size) {
		vq_break(vq, VQ_ERR_AVAIL_AHEAD);
		return -EBADMSG;
	}
	/* The ring entry and descriptors were written before avail->idx. */
	atomic_thread_fence(memory_order_acquire);
	if (read_le16(vq, vq->avail_gpa + VQ_AVAIL_RING_OFF +
		      (uint64_t)VQ_AVAIL_ENTRY_BYTES * (vq->last_avail & (vq->size - 1)), &head)) {
		vq_break(vq, VQ_ERR_AVAIL_RAM);
		return -EBADMSG;
	}
	if (head >= vq->size) {
		vq_break(vq, VQ_ERR_HEAD);
		return -EBADMSG;
	}
	why = walk_chain(vq, head, c);
	if (why) {
		vq_break(vq, why);
		return -EBADMSG;
	}
	vq->last_avail++;
	return 1;
}

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem elem = { .id = htole32(head), .len = htole32(written) };
	const char *why;
	uint64_t slot;
	uint16_t idx;

	if (vq->broken)
		return -EBADMSG;
	if (!vq->enabled || !size_ok(vq) || head >= vq->size)
		return -EINVAL;
	slot = vq->used_gpa + VQ_USED_RING_OFF +
		(uint64_t)VQ_USED_ENTRY_BYTES * (vq->used_idx & (vq->size - 1));
	why = range_why(vq, vq->used_gpa, used_ring_bytes(vq->size), VQ_ERR_USED_RAM,
			VQ_ERR_USED_REFUSED);
	if (why || vq_write(vq, slot, &elem, sizeof(elem)))
		goto fault;
	/* The driver may read the element as soon as it sees the new index. */
	atomic_thread_fence(memory_order_release);
	idx = htole16((uint16_t)(vq->used_idx + 1));
	if (vq_write(vq, vq->used_gpa + VQ_USED_IDX_OFF, &idx, sizeof(idx)))
		goto fault;
	vq->used_idx++;
	return 0;

fault:
	vq_break(vq, why ? why : VQ_ERR_USED_RAM);
	return -EFAULT;
}

bool vq_wants_interrupt(const struct virtqueue *vq)
{
	uint16_t flags;

	/*
	 * Full barrier: the used->idx just written must be visible before the
	 * flags are read, or a driver re-enabling interrupts and then checking
	 * used->idx could miss both the entry and the interrupt (§2.7.10).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (read_le16(vq, vq->avail_gpa, &flags))
		return true;
	return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
}

/*
 * Copy len bytes between buf and one side of c (first .. first+nr-1, bytes
 * in total), starting at byte off of that side. The range is checked
 * against the side's length first, so a short chain copies nothing; then
 * every piece against RAM and the queue's access rule (the device may have
 * refused memory since vq_pop()), so a refused piece copies nothing either.
 */
static int chain_copy(struct guest_mem *mem, const struct vq_chain *c, unsigned int first,
		      unsigned int nr, uint64_t bytes, uint64_t off, void *buf, size_t len,
		      bool to_guest)
{
	if (first > VQ_MAX_CHAIN || nr > VQ_MAX_CHAIN - first)
		return -EFAULT;   /* not a chain vq_pop() filled */
	if (off > bytes || len > bytes - off)
		return -EFAULT;
	for (int copy = 0; copy < 2; copy++) {
		uint64_t o = off;
		size_t left = len;
		uint8_t *p = buf;

		for (unsigned int i = first; i < first + nr && left; i++) {
			const struct vq_buf *b = &c->buf[i];
			uint64_t n;
			int ret;

			if (o >= b->len) {
				o -= b->len;
				continue;
			}
			n = b->len - o;
			if (n > left)
				n = left;
			if (!copy)
				ret = range_check(mem, c->access, c->access_arg, b->gpa + o, n) ?
					-EFAULT : 0;
			else
				ret = to_guest ? mem_write(mem, b->gpa + o, p, n) :
					mem_read(mem, b->gpa + o, p, n);
			if (ret)
				return ret;
			p += n;
			left -= n;
			o = 0;
		}
		/* bytes disagreed with the buffers' lengths: not a chain vq_pop() filled. */
		if (left)
			return -EFAULT;
	}
	return 0;
}

int vq_chain_read(struct guest_mem *mem, const struct vq_chain *c, uint64_t off,
		  void *buf, size_t len)
{
	return chain_copy(mem, c, 0, c->nr_out, c->out_bytes, off, buf, len, false);
}

int vq_chain_write(struct guest_mem *mem, const struct vq_chain *c, uint64_t off,
		   const void *buf, size_t len)
{
	return chain_copy(mem, c, c->nr_out, c->nr_in, c->in_bytes, off, (void *)buf, len,
			  true);
}
