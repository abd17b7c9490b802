// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the split-virtqueue walker (devices/virtqueue.c) and
 * virtio-mem's request handler behind the virtio-pci transport, over a
 * fuzzed guest-memory image and a fuzzed script of what the driver and the
 * host do. The input:
 *
 *   byte 0       mode: bit 0 set = walker mode, clear = device mode; device
 *                mode: bits 1-3 the initial requested size in blocks, bit 4
 *                a memfd hotplug region (else anonymous memory)
 *   bytes 1-2    S, the script's length (little endian; clamped)
 *   S bytes      the script: an opcode byte (taken modulo the number of
 *                ops), then that op's arguments (missing bytes read 0)
 *   the rest     a guest-memory image, copied to gpa 0 (first FUZZ_IMAGE_BYTES)
 *
 * Walker mode (this file): fake_ctx RAM (4 MiB at 0 and a 128 MiB memfd
 * region at the hotplug address). The script starts with the largest
 * queue size (log2) and a queue configuration; ops: 0 pop, 1 push, 2 chain
 * read, 3 chain write, 4 vq_wants_interrupt, 5 poke RAM, 6 reconfigure,
 * 7 pop and push everything. Every vq_enable() and vq_pop() is compared
 * with a reference walker written here from virtqueue.h's rules, every
 * chain is checked against them (buffers in RAM, writable after readable,
 * at most VQ_MAX_CHAIN), chain reads and writes against plain copies, each
 * push against the used ring.
 *
 * Device mode (fuzz_virtio_dev.c): memvmm's virtio-mem (512 MiB region, 2
 * MiB blocks) over virtio-pci on fake_ctx, brought up by the independent
 * driver of tests/virtio_driver.h; queue 0's rings lie in the image (desc
 * 0x0, avail 0x1000, used 0x2000, 128 entries) until the script moves
 * them. Ops: 0 notify (ioeventfd + main loop, trapped, or loop only),
 * 1 poke RAM, 2 a well-formed request built by the target, 3 a common
 * configuration write, 4 a BAR 4 or MSI-X BAR access, 5 a new requested
 * size, 6 driver reset, 7 the driver's own re-initialization (queue size,
 * image reloaded), 8 queue 0 placed anywhere by hand, 9 machine reset and
 * bring-up, 10 MSI-X (enable, masks, entries, vectors), 11 config space
 * of the device or the host bridge, 12 save and restore (bytes changed or
 * not), 13 reload the image. After each op that can change the device the
 * sizes a driver reads must be aligned and nested; a request the target
 * sent alone must get the answer the spec gives for its range, with
 * plugged_size and the host's residency (mincore on the mapping, not
 * memvmm's counters) following it. At the end the BARs are put back, the
 * driver brings the device up again (which must work), and STATE requests
 * over the usable region must find exactly plugged_size bytes plugged, all
 * resident. A device that never stops is caught by libFuzzer's -timeout.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "devices/virtqueue.h"
#include "tests/fake_ctx.h"
#include "tests/fuzz/fuzz_virtio.h"

#define FUZZ_WALK_HOTPLUG     (128ull << 20)
#define FUZZ_COPY_MAX_BYTES   4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
	struct fake_ctx f;
	struct virtqueue vq;
	struct vq_chain c;       /* the last chain popped (zero: none) */
	/* The reference walker's view. */
	bool m_enabled, m_broken;
	uint16_t m_last;
};

static uint64_t ring_bytes(uint64_t entry, uint16_t size, bool header)
{
	return (header ? 6 : 0) + entry * size;
}

static bool model_enable_ok(const struct walk *w)
{
	const struct virtqueue *q = &w->vq;
	struct guest_mem *gm = &((struct walk *)w)->f.mem;

	return q->size && !(q->size & (q->size - 1)) && q->size <= q->max_size &&
		q->desc_gpa % 16 == 0 && q->avail_gpa % 2 == 0 && q->used_gpa % 4 == 0 &&
		mem_range_is_ram(gm, q->desc_gpa, ring_bytes(DESC_BYTES, q->size, false)) &&
		mem_range_is_ram(gm, q->avail_gpa, ring_bytes(2, q->size, true)) &&
		mem_range_is_ram(gm, q->used_gpa, ring_bytes(8, q->size, true));
}

/* A descriptor through the reference walker's own reads. */
static bool model_desc(struct guest_mem *gm, uint64_t table, uint16_t i, struct vring_desc *d)
{
	if (mem_read(gm, table + (uint64_t)DESC_BYTES * i, d, sizeof(*d)))
		return false;
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
	return true;
}

/*
 * The chain at head by the rules of virtqueue.h: true with *c filled, false
 * for a violation. Where the header leaves a choice open (an indirect
 * table longer than VQ_MAX_CHAIN entries; an indirect descriptor that ends
 * a chain of ring descriptors) this follows virtqueue.c's documented one.
 */
static bool model_walk(struct walk *w, uint16_t head, struct vq_chain *c)
{
	struct guest_mem *gm = &w->f.mem;
	uint64_t table = w->vq.desc_gpa, end;
	uint32_t entries = w->vq.size, steps = 0;
	bool indirect = false;
	uint16_t i = head;
	struct vring_desc d;

	memset(c, 0, sizeof(*c));
	c->head = head;
	for (;;) {
		if (++steps > entries || !model_desc(gm, table, i, &d))
			return false;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!w->vq.indirect || indirect || (d.flags & VRING_DESC_F_NEXT) || !d.len ||
			    d.len % DESC_BYTES || d.len / DESC_BYTES > VQ_MAX_CHAIN ||
			    !mem_range_is_ram(gm, d.addr, d.len))
				return false;
			table = d.addr;
			entries = d.len / DESC_BYTES;
			steps = 0;
			indirect = true;
			i = 0;
			continue;
		}
		if (d.len && (__builtin_add_overflow(d.addr, d.len - 1, &end) ||
			      !mem_range_is_ram(gm, d.addr, d.len)))
			return false;
		if (!(d.flags & VRING_DESC_F_WRITE) && c->nr_in)
			return false;
		if (c->nr_out + c->nr_in == VQ_MAX_CHAIN)
			return false;
		c->buf[c->nr_out + c->nr_in] = (struct vq_buf){
			.gpa = d.addr, .len = d.len, .device_writes = d.flags & VRING_DESC_F_WRITE,
		};
		if (d.flags & VRING_DESC_F_WRITE) {
			c->nr_in++;
			c->in_bytes += d.len;
		} else {
			c->nr_out++;
			c->out_bytes += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return true;
		if (d.next >= entries)
			return false;
		i = d.next;
	}
}

/* 1: a chain, 0: none, -1: a violation (the queue then breaks). */
static int model_pop(struct walk *w, struct vq_chain *c)
{
	struct guest_mem *gm = &w->f.mem;
	const struct virtqueue *q = &w->vq;
	bool ok = true;
	uint16_t idx, pending, head;

	if (w->m_broken)
		return -1;
	if (!w->m_enabled)
		return 0;
	idx = le16_at(gm, q->avail_gpa + 2, &ok);
	pending = (uint16_t)(idx - w->m_last);
	if (ok && !pending)
		return 0;
	head = le16_at(gm, q->avail_gpa + 4 + 2ull * (w->m_last % q->size), &ok);
	if (!ok || pending > q->size || head >= q->size || !model_walk(w, head, c))
		return -1;
	return 1;
}

/* Rules every chain vq_pop() hands out keeps, whatever the model says. */
static void chain_rules(struct walk *w, const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;
	unsigned int n = c->nr_out + c->nr_in;

	CHECK(n >= 1 && n <= VQ_MAX_CHAIN && c->head < w->vq.size, "chain of %u, head %u", n,
	      c->head);
	for (unsigned int i = 0; i < n; i++) {
		const struct vq_buf *b = &c->buf[i];

		CHECK(b->device_writes == (i >= c->nr_out), "buffer %u's direction", i);
		CHECK(!b->len || mem_range_is_ram(&w->f.mem, b->gpa, b->len),
		      "buffer %u at 0x%" PRIx64 "+%u not in RAM", i, b->gpa, b->len);
		*(b->device_writes ? &in : &out) += b->len;
	}
	CHECK(out == c->out_bytes && in == c->in_bytes, "byte counts %" PRIu64 "/%" PRIu64, out,
	      in);
}

static void walk_pop(struct walk *w)
{
	struct vq_chain want, got;
	int m = model_pop(w, &want), ret = vq_pop(&w->vq, &got);

	TRACE("pop: %d (%s)\n", ret, w->vq.why_broken ? w->vq.why_broken : "-");
	CHECK(ret == (m < 0 ? -EBADMSG : m), "vq_pop %d, the rules say %d", ret, m);
	CHECK(w->vq.broken == (m < 0), "broken %d after %d", w->vq.broken, m);
	if (m < 0) {
		w->m_broken = true;
		return;
	}
	if (m == 0)
		return;
	chain_rules(w, &got);
	CHECK(got.head == want.head && got.nr_out == want.nr_out && got.nr_in == want.nr_in,
	      "chain %u: %u+%u buffers, the rules say %u: %u+%u", got.head, got.nr_out, got.nr_in,
	      want.head, want.nr_out, want.nr_in);
	for (unsigned int i = 0; i < got.nr_out + got.nr_in; i++)
		CHECK(got.buf[i].gpa == want.buf[i].gpa && got.buf[i].len == want.buf[i].len,
		      "buffer %u differs", i);
	CHECK(w->vq.last_avail == ++w->m_last, "last_avail %u", w->vq.last_avail);
	w->c = got;
}

static void walk_push(struct walk *w, uint16_t head, uint32_t written)
{
	bool was_broken = w->vq.broken, ok = true;
	uint16_t slot = w->vq.used_idx;
	struct vring_used_elem e;
	int ret = vq_push(&w->vq, head, written);

	if (was_broken || !w->vq.enabled || head >= w->vq.size) {
		CHECK(ret == (was_broken ? -EBADMSG : -EINVAL), "vq_push %d", ret);
		return;
	}
	/* The used ring was checked at enable and RAM does not change: it cannot fail. */
	CHECK(ret == 0, "vq_push %d on a good queue", ret);
	CHECK(mem_read(&w->f.mem, w->vq.used_gpa + 4 + 8ull * (slot % w->vq.size), &e,
		       sizeof(e)) == 0, "used ring");
	CHECK(le32toh(e.id) == head && le32toh(e.len) == written, "used element");
	CHECK(le16_at(&w->f.mem, w->vq.used_gpa + 2, &ok) == (uint16_t)(slot + 1) && ok,
	      "used idx");
}

static void walk_copy(struct walk *w, struct rd *r, bool to_guest)
{
	static uint8_t buf[FUZZ_COPY_MAX_BYTES], ref[FUZZ_COPY_MAX_BYTES];
	const struct vq_chain *c = &w->c;
	uint64_t off = rd16(r), bytes = to_guest ? c->in_bytes : c->out_bytes;
	size_t len = rd16(r) % (FUZZ_COPY_MAX_BYTES + 1);
	unsigned int first = to_guest ? c->nr_out : 0, nr = to_guest ? c->nr_in : c->nr_out;
	bool disjoint = true;
	uint64_t skip = off, done = 0;
	int ret;

	memset(buf, rd8(r), len);
	ret = to_guest ? vq_chain_write(&w->f.mem, c, off, buf, len) :
		vq_chain_read(&w->f.mem, c, off, buf, len);
	CHECK((ret == 0) == (off <= bytes && len <= bytes - off), "chain copy at %" PRIu64 "+%zu of %"
	      PRIu64 ": %d", off, len, bytes, ret);
	if (ret)
		return;
	for (unsigned int i = first; i < first + nr && to_guest; i++)
		for (unsigned int j = first; j < i; j++)
			if (c->buf[i].gpa < c->buf[j].gpa + c->buf[j].len &&
			    c->buf[j].gpa < c->buf[i].gpa + c->buf[i].len)
				disjoint = false;
	if (!disjoint)
		return;   /* a later buffer overwrote an earlier one: nothing simple to compare */
	for (unsigned int i = first; i < first + nr && done < len; i++) {
		const struct vq_buf *b = &c->buf[i];
		uint64_t n;

		if (skip >= b->len) {
			skip -= b->len;
			continue;
		}
		n = b->len - skip < len - done ? b->len - skip : len - done;
		CHECK(mem_read(&w->f.mem, b->gpa + skip, ref + done, n) == 0, "buffer %u", i);
		done += n;
		skip = 0;
	}
	CHECK(done == len && !memcmp(buf, ref, len), "chain copy differs from the buffers");
}

static void walk_config(struct walk *w, struct rd *r)
{
	uint8_t s = rd8(r);
	bool ok;

	vq_reset(&w->vq);
	w->vq.size = s & 0x80 ? rd16(r) : (uint16_t)(1u << (s & 0xf));
	w->vq.desc_gpa = rd32(r);
	w->vq.avail_gpa = rd32(r);
	w->vq.used_gpa = rd32(r);
	if (s & 0x40)   /* far away: near 2^64 or past the hotplug region */
		w->vq.used_gpa |= (uint64_t)rd32(r) << 32;
	w->vq.indirect = s & 0x20;
	memset(&w->c, 0, sizeof(w->c));
	ok = model_enable_ok(w);
	TRACE("queue of %u: desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64 ": %s\n",
	      w->vq.size, w->vq.desc_gpa, w->vq.avail_gpa, w->vq.used_gpa, ok ? "ok" : "refused");
	CHECK((vq_enable(&w->vq) == 0) == ok, "vq_enable disagrees with the rules (%d)", ok);
	CHECK(w->vq.enabled == ok && w->vq.broken == !ok, "enabled/broken after vq_enable");
	w->m_enabled = ok;
	w->m_broken = !ok;
	w->m_last = 0;
}

void fuzz_walk_run(const uint8_t *script, size_t slen, const uint8_t *img, size_t ilen)
{
	static struct walk w;
	const struct fake_ctx_config fc = { .ram_bytes = FUZZ_RAM_BYTES,
					    .hotplug_bytes = FUZZ_WALK_HOTPLUG };
	struct rd r = { script, slen };
	uint8_t max_log2 = rd8(&r) % 11;

	memset(&w, 0, sizeof(w));
	fake_ctx_init(&w.f, &fc);
	fake_ctx_add_hotplug(&w.f, NULL, NULL);
	image_load(&w.f.mem, img, ilen);
	vq_init(&w.vq, &w.f.mem, (uint16_t)(1u << max_log2));
	walk_config(&w, &r);
	while (r.n) {
		switch (rd8(&r) % 8) {
		case 0:
			walk_pop(&w);
			break;
		case 1: {
			uint8_t how = rd8(&r);

			walk_push(&w, how & 1 ? rd16(&r) : w.c.head, rd32(&r));
			break;
		}
		case 2:
			walk_copy(&w, &r, false);
			break;
		case 3:
			walk_copy(&w, &r, true);
			break;
		case 4:
			(void)vq_wants_interrupt(&w.vq);
			break;
		case 5:
			poke(&w.f.mem, &r);
			break;
		case 6:
			walk_config(&w, &r);
			break;
		default:   /* everything available, each chain given back */
			for (unsigned int i = 0; i <= 2u * w.vq.size + 1 && !w.vq.broken; i++) {
				uint16_t before = w.vq.last_avail;

				walk_pop(&w);
				if (w.vq.last_avail == before)
					break;
				walk_push(&w, w.c.head, (uint32_t)w.c.in_bytes);
			}
			break;
		}
	}
	fake_ctx_destroy(&w.f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;

	if (!fuzz_input_split(data, size, &in))
		return 0;
	if (in.mode & 1)
		fuzz_walk_run(in.script, in.slen, in.img, in.ilen);
	else
		fuzz_dev_run(in.mode, in.script, in.slen, in.img, in.ilen);
	return 0;
}
