// SPDX-License-Identifier: MIT
/*
 * fuzz_virtio's device mode (fuzz_virtio.c says what the input is and what
 * is checked): memvmm's virtio-mem over virtio-pci on fake_ctx, brought up
 * by the independent driver, then the script's ops, then the final check.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "devices/pci.h"
#include "devices/virtio_mem.h"
#include "devices/virtio_pci.h"
#include "devices/virtqueue.h"
#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/fake_ctx.h"
#include "tests/vdrv_fake.h"
#include "tests/fuzz/fuzz_virtio.h"
#include "tests/virtio_driver.h"

#define FUZZ_VMEM_HOTPLUG     (512ull << 20)
#define FUZZ_BLOCK_BYTES      VMEM_MIN_BLOCK_BYTES
/* This target's own request buffers, past the image and the driver's scratch area. */
#define FUZZ_REQ_GPA          (3ull << 20)
#define FUZZ_RESP_GPA         (FUZZ_REQ_GPA + 0x100)
#define FUZZ_BLOB_BYTES       (64u << 10)
#define FUZZ_DRIVER_ROUNDS    4u
#define FUZZ_WANT             (1ull << VIRTIO_F_VERSION_1 | \
			       1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)
#define VMEM_PCI_ID           (MACHINE_PCI_VIRTIO_DEVICE_BASE + VIRTIO_ID_MEM)
#define FUZZ_PAGE_BYTES       4096u

struct dev {
	struct fake_ctx f;
	unsigned int region;
	void *vmem;
	struct vdrv d;
	uint64_t base;
	unsigned int slot;
	uint32_t bars[PCI_NR_BARS];      /* BAR registers after the first bring-up */
	uint16_t qsize;                  /* queue 0 as this target last programmed it */
	uint64_t desc, avail, used;
	uint64_t notify;
};

/* The machine is fake_ctx as a vCPU sees it (tests/vdrv_fake.h). */

/* ---- helpers ---- */

/*
 * Host memory behind [gpa, gpa + len): mincore() on its mapping, the host's
 * meter (page tables for anon, the page cache for memfd), not memvmm's. Not
 * instrumented: the region is 131072 pages.
 */
FUZZ_NO_COVERAGE
static uint64_t resident(struct dev *v, uint64_t gpa, uint64_t len)
{
	static uint64_t vec[FUZZ_VMEM_HOTPLUG / FUZZ_PAGE_BYTES / 8];
	void *hva = mem_gpa_to_hva(&v->f.mem, gpa, len);
	uint64_t n = len / FUZZ_PAGE_BYTES, words = (n + 7) / 8, pages = 0;

	CHECK(hva && len % FUZZ_PAGE_BYTES == 0 && words <= sizeof(vec) / sizeof(vec[0]),
	      "resident(0x%" PRIx64 ", %" PRIu64 ")", gpa, len);
	if (!n)
		return 0;
	vec[words - 1] = 0;   /* mincore() fills n bytes: the rest of the last word reads 0 */
	CHECK(mincore(hva, len, (unsigned char *)vec) == 0, "mincore: %s", strerror(errno));
	/* Bit 0 of each byte: eight pages a word. */
	for (uint64_t i = 0; i < words; i++)
		pages += (uint64_t)__builtin_popcountll(vec[i] & 0x0101010101010101ull);
	return pages * FUZZ_PAGE_BYTES;
}

/*
 * A 64-bit field of the device configuration as a driver reads it: through
 * BAR 4 where it is mapped, else through the PCI configuration access
 * capability's window (which works with the BAR off, §4.1.4.9).
 */
static bool cfg64(struct dev *v, uint64_t bar, size_t off, uint64_t *val)
{
	uint32_t half[2];

	if (bar) {
		*val = fake_mmio_read(&v->f, bar + VIRTIO_PCI_DEVICE_OFF + off, 8);
		return true;
	}
	for (unsigned int i = 0; i < 2; i++)
		if (vdrv_pcicfg_read(&v->d, VIRTIO_PCI_BAR, VIRTIO_PCI_DEVICE_OFF + off + 4 * i, 4,
				     &half[i]))
			return false;
	*val = half[0] | (uint64_t)half[1] << 32;
	return true;
}

static void status_check(struct dev *v, const struct vmem_status *st)
{
	CHECK(st->gpa == v->base && st->region_size == FUZZ_VMEM_HOTPLUG &&
	      st->block_size == FUZZ_BLOCK_BYTES, "region or block size changed");
	CHECK(st->requested <= st->region_size && st->requested % st->block_size == 0,
	      "requested %" PRIu64, st->requested);
	CHECK(st->usable <= st->region_size && st->usable % st->block_size == 0 &&
	      st->usable >= st->requested, "usable %" PRIu64 ", requested %" PRIu64, st->usable,
	      st->requested);
	CHECK(st->plugged % st->block_size == 0 && st->plugged <= st->usable,
	      "plugged %" PRIu64 ", usable %" PRIu64, st->plugged, st->usable);
}

/*
 * The sizes as a driver sees them, and what must hold between any two ops:
 * false (nothing read) if the driver could not read them.
 */
static bool status_read(struct dev *v, struct vmem_status *st)
{
	struct virtio_pci *vp = virtio_mem_transport(v->vmem);
	uint64_t bar = pci_dev_bar_addr(virtio_pci_pci_dev(vp), VIRTIO_PCI_BAR);
	struct virtio_pci_stats ps;

	memset(st, 0, sizeof(*st));
	if (!cfg64(v, bar, offsetof(struct virtio_mem_config, addr), &st->gpa) ||
	    !cfg64(v, bar, offsetof(struct virtio_mem_config, region_size), &st->region_size) ||
	    !cfg64(v, bar, offsetof(struct virtio_mem_config, block_size), &st->block_size) ||
	    !cfg64(v, bar, offsetof(struct virtio_mem_config, requested_size), &st->requested) ||
	    !cfg64(v, bar, offsetof(struct virtio_mem_config, plugged_size), &st->plugged) ||
	    !cfg64(v, bar, offsetof(struct virtio_mem_config, usable_region_size), &st->usable))
		return false;
	virtio_pci_lock(vp);
	virtio_pci_stats(vp, &ps);
	virtio_pci_unlock(vp);
	st->driver_status = ps.status;
	status_check(v, st);
	return true;
}

/*
 * The same, always: from virtio_mem_get_status() where the driver cannot
 * read them (slow: it measures the whole region's residency, not used).
 */
static void status_get(struct dev *v, struct vmem_status *st)
{
	if (status_read(v, st))
		return;
	virtio_mem_get_status(v->vmem, st);
	status_check(v, st);
}

static void dev_queue_from_driver(struct dev *v)
{
	const struct vdrv_queue *q = &v->d.q[0];

	v->qsize = q->size;
	v->desc = q->desc;
	v->avail = q->avail;
	v->used = q->used;
	v->notify = vdrv_region_addr(&v->d, &v->d.notify, (unsigned int)q->notify_off *
				     v->d.notify_mult);
}

static int dev_bringup(struct dev *v)
{
	int ret = vdrv_bringup(&v->d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID, FUZZ_WANT,
			       VIRTIO_MSI_NO_VECTOR);

	if (!ret)
		dev_queue_from_driver(v);
	return ret;
}

static void dev_kick(struct dev *v)
{
	fake_mmio_write(&v->f, v->notify, 2, 0);
	(void)fake_ctx_run_loop(&v->f);
}

struct req_result {
	bool alone;      /* processed, and the only chain used in its notify */
	uint16_t type, state;
};

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * A well-formed request (24 readable bytes, then 10 writable) at the next
 * avail slot. It counts as alone only if the device used exactly this
 * chain, with a 10-byte answer: the used idx moved by one and the used
 * element (stamped all ones before) names its head. That evidence is
 * trusted only if none of what this target wrote lies on the used idx or
 * element and each part still reads back as written (rings the script
 * placed over each other).
 */
static void dev_request(struct dev *v, uint16_t type, uint64_t addr, uint16_t nb,
			struct req_result *res)
{
	struct guest_mem *gm = &v->f.mem;
	struct virtio_mem_req req = { .type = htole16(type) };
	struct virtio_mem_resp resp;
	uint16_t n = v->qsize, a, u0, u1, head, next, ent[2];
	struct vring_desc d[2];
	struct vring_used_elem e = { UINT32_MAX, UINT32_MAX };
	uint8_t back[sizeof(req)];
	bool ok = true;
	uint64_t slot;

	res->alone = false;
	if (n < 2 || n & (n - 1))
		return;
	req.u.plug.addr = htole64(addr);
	req.u.plug.nb_blocks = htole16(nb);
	a = le16_at(gm, v->avail + 2, &ok);
	u0 = le16_at(gm, v->used + 2, &ok);
	slot = v->used + 4 + 8ull * (u0 & (n - 1));
	head = a & (n - 1);
	next = (head + 1) & (n - 1);
	d[0] = (struct vring_desc){ htole64(FUZZ_REQ_GPA), htole32(sizeof(req)),
				    htole16(VRING_DESC_F_NEXT), htole16(next) };
	d[1] = (struct vring_desc){ htole64(FUZZ_RESP_GPA), htole32(sizeof(resp)),
				    htole16(VRING_DESC_F_WRITE), 0 };
	memset(&resp, 0xff, sizeof(resp));
	ent[0] = htole16(head);
	ent[1] = htole16((uint16_t)(a + 1));
	{
		const struct { uint64_t gpa; const void *p; size_t len; } w[] = {
			{ FUZZ_REQ_GPA, &req, sizeof(req) },
			{ FUZZ_RESP_GPA, &resp, sizeof(resp) },
			{ v->desc + DESC_BYTES * head, &d[0], sizeof(d[0]) },
			{ v->desc + DESC_BYTES * next, &d[1], sizeof(d[1]) },
			{ v->avail + 4 + 2ull * head, &ent[0], 2 },
			{ v->avail + 2, &ent[1], 2 },
			{ slot, &e, sizeof(e) },   /* the stamp, last */
		};
		const unsigned int nw = sizeof(w) / sizeof(w[0]);
		unsigned int i;

		for (i = 0; ok && i < nw; i++)
			ok = mem_write(gm, w[i].gpa, w[i].p, w[i].len) == 0;
		if (!ok)
			return;
		for (i = 0; ok && i < nw; i++)
			ok = !mem_read(gm, w[i].gpa, back, w[i].len) && !memcmp(back, w[i].p, w[i].len) &&
				(i == nw - 1 || (!overlap(w[i].gpa, w[i].len, v->used + 2, 2) &&
						 !overlap(w[i].gpa, w[i].len, slot, sizeof(e))));
	}
	dev_kick(v);
	u1 = le16_at(gm, v->used + 2, &ok);
	if (!ok || u1 != (uint16_t)(u0 + 1) || mem_read(gm, slot, &e, sizeof(e)) ||
	    le32toh(e.id) != head || le32toh(e.len) != sizeof(resp) ||
	    mem_read(gm, FUZZ_RESP_GPA, &resp, sizeof(resp)))
		return;
	res->alone = true;
	res->type = le16toh(resp.type);
	res->state = le16toh(resp.u.state.state);
}

/* Queue 0's rings (as this target placed them) reach into [gpa, gpa + len). */
static bool rings_in(const struct dev *v, uint64_t gpa, uint64_t len)
{
	return overlap(v->desc, (uint64_t)DESC_BYTES * v->qsize, gpa, len) ||
		overlap(v->avail, 6 + 2ull * v->qsize, gpa, len) ||
		overlap(v->used, 6 + 8ull * v->qsize, gpa, len);
}

/* A request from the script, and what its answer must be (§5.15.6, virtio_mem.h). */
static void dev_op_request(struct dev *v, struct rd *r)
{
	uint8_t t = rd8(r), how = rd8(r);
	uint16_t type = t < 0xf0 ? t % 4 : rd16(r), nb;
	uint64_t addr = v->base + FUZZ_BLOCK_BYTES * rd8(r), off, len;
	struct vmem_status s0, s1;
	struct req_result res;
	bool range;

	if (how & 1)
		addr += rd16(r);
	if (how & 2)
		addr = rd64(r);
	nb = how & 4 ? rd16(r) : rd8(r) % 9;
	if (!status_read(v, &s0)) {
		dev_request(v, type, addr, nb, &res);   /* sizes unreadable: unchecked */
		return;
	}
	dev_request(v, type, addr, nb, &res);
	CHECK(status_read(v, &s1), "sizes unreadable after a request");
	TRACE("request %u 0x%" PRIx64 " x%u: %s %u state %u, plugged %" PRIu64 " -> %" PRIu64
	      "\n", type, addr, nb, res.alone ? "answered" : "not alone", res.type, res.state,
	      s0.plugged, s1.plugged);
	if (!res.alone)
		return;
	off = addr - v->base;
	len = (uint64_t)nb * FUZZ_BLOCK_BYTES;
	range = nb && addr >= v->base && off % FUZZ_BLOCK_BYTES == 0 && off < s0.usable &&
		len <= s0.usable - off;
	CHECK(res.type == VIRTIO_MEM_RESP_ACK || res.type == VIRTIO_MEM_RESP_NACK ||
	      res.type == VIRTIO_MEM_RESP_ERROR, "response type %u", res.type);
	if (type == VIRTIO_MEM_REQ_UNPLUG_ALL) {
		CHECK(res.type != VIRTIO_MEM_RESP_ACK || s1.plugged == 0, "UNPLUG_ALL left %"
		      PRIu64, s1.plugged);
		return;
	}
	if (type > VIRTIO_MEM_REQ_STATE || !range) {
		CHECK(res.type == VIRTIO_MEM_RESP_ERROR, "request %u 0x%" PRIx64 " x%u: %u, not ERROR",
		      type, addr, nb, res.type);
		CHECK(s1.plugged == s0.plugged, "an ERROR changed plugged_size");
		return;
	}
	if (res.type != VIRTIO_MEM_RESP_ACK || type == VIRTIO_MEM_REQ_STATE) {
		CHECK(s1.plugged == s0.plugged, "request %u answered %u changed plugged_size", type,
		      res.type);
		CHECK(type != VIRTIO_MEM_REQ_STATE || res.type == VIRTIO_MEM_RESP_ACK,
		      "STATE of a good range answered %u", res.type);
	}
	switch (type) {
	case VIRTIO_MEM_REQ_PLUG:
		if (res.type != VIRTIO_MEM_RESP_ACK)
			break;
		CHECK(s0.plugged + len <= s0.requested, "PLUG past requested ACKed");
		CHECK(s1.plugged == s0.plugged + len, "PLUG ACK: plugged %" PRIu64 " -> %" PRIu64,
		      s0.plugged, s1.plugged);
		CHECK(resident(v, addr, len) == len, "plugged blocks not all resident");
		break;
	case VIRTIO_MEM_REQ_UNPLUG:
		if (res.type != VIRTIO_MEM_RESP_ACK)
			break;
		CHECK(s1.plugged + len == s0.plugged, "UNPLUG ACK: plugged %" PRIu64 " -> %" PRIu64,
		      s0.plugged, s1.plugged);
		/* The device touches rings placed there after the discard: they come back. */
		CHECK(rings_in(v, addr, len) || resident(v, addr, len) == 0,
		      "unplugged blocks still resident");
		break;
	default:
		CHECK(res.state <= VIRTIO_MEM_STATE_MIXED && (res.state != VIRTIO_MEM_STATE_MIXED ||
		      nb >= 2), "STATE %u for %u blocks", res.state, nb);
		CHECK(res.state != VIRTIO_MEM_STATE_PLUGGED || resident(v, addr, len) == len,
		      "a PLUGGED range is not resident");
		CHECK(res.state != VIRTIO_MEM_STATE_PLUGGED || s0.plugged >= len,
		      "PLUGGED range larger than plugged_size");
		break;
	}
}

/* Plugged bytes in blocks [b, b + n) by STATE requests, each PLUGGED run resident. */
static uint64_t dev_state_walk(struct dev *v, uint64_t b, uint64_t n)
{
	uint64_t addr = v->base + b * FUZZ_BLOCK_BYTES, len = n * FUZZ_BLOCK_BYTES;
	struct req_result res;

	if (!n)
		return 0;
	dev_request(v, VIRTIO_MEM_REQ_STATE, addr, (uint16_t)n, &res);
	CHECK(res.alone && res.type == VIRTIO_MEM_RESP_ACK,
	      "STATE(0x%" PRIx64 ", %" PRIu64 ") after a fresh bring-up: alone %d, type %u", addr,
	      n, res.alone, res.type);
	if (res.state == VIRTIO_MEM_STATE_PLUGGED) {
		CHECK(resident(v, addr, len) == len, "PLUGGED blocks %" PRIu64 "+%" PRIu64
		      " not resident", b, n);
		return len;
	}
	if (res.state == VIRTIO_MEM_STATE_UNPLUGGED)
		return 0;
	CHECK(res.state == VIRTIO_MEM_STATE_MIXED && n >= 2, "STATE %u of %" PRIu64 " blocks",
	      res.state, n);
	return dev_state_walk(v, b, n / 2) + dev_state_walk(v, b + n / 2, n - n / 2);
}

/* The end of every input: BARs back, a fresh bring-up, then the whole picture. */
static void dev_final(struct dev *v)
{
	struct virtio_mem_config c;
	struct vmem_status st;
	uint64_t plugged;
	int ret;

	fake_cfg_write(&v->f, v->slot, PCI_COMMAND, 2, 0);
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		fake_cfg_write(&v->f, v->slot, PCI_BASE_ADDRESS_0 + 4 * i, 4, v->bars[i]);
	ret = dev_bringup(v);
	CHECK(ret == 0, "bring-up after the script: %d: %s", ret, v->d.err);
	ret = vdrv_vmem_config(&v->d, &c, NULL);
	CHECK(ret == 0, "config: %s", v->d.err);
	status_get(v, &st);
	CHECK(c.block_size == st.block_size && c.addr == st.gpa &&
	      c.region_size == st.region_size && c.usable_region_size == st.usable &&
	      c.plugged_size == st.plugged && c.requested_size == st.requested,
	      "config and status disagree: plugged %llu/%" PRIu64 ", usable %llu/%" PRIu64,
	      (unsigned long long)c.plugged_size, st.plugged,
	      (unsigned long long)c.usable_region_size, st.usable);
	plugged = dev_state_walk(v, 0, st.usable / FUZZ_BLOCK_BYTES);
	if (fuzz_tracing()) {
		virtio_mem_get_status(v->vmem, &st);
		TRACE("end: plugged %" PRIu64 ", requested %" PRIu64 ", usable %" PRIu64 ", %"
		      PRIu64 " ACKs, %" PRIu64 " errors, %" PRIu64 " unanswered, resident %" PRIu64
		      ", last violation %s\n", st.plugged, st.requested, st.usable,
		      st.plugs + st.unplugs + st.unplug_alls + st.states, st.errors, st.unanswered,
		      st.resident, st.last_violation ? st.last_violation : "none");
	}
	CHECK(plugged == st.plugged, "STATE finds %" PRIu64 " plugged, plugged_size %" PRIu64,
	      plugged, st.plugged);
}

/* Queue 0 programmed by hand (addresses anywhere), after a fresh negotiation. */
static void dev_op_queue(struct dev *v, struct rd *r)
{
	uint64_t addr[3];

	if (vdrv_negotiate(&v->d, FUZZ_WANT))
		return;
	for (unsigned int i = 0; i < 3; i++) {
		uint8_t kind = rd8(r);

		addr[i] = kind % 4 == 0 ? 2ull * rd16(r) :
			kind % 4 == 1 ? FUZZ_RAM_BYTES - rd16(r) :
			kind % 4 == 2 ? v->base + rd16(r) : rd64(r);
	}
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_SIZE, 2, rd16(r));
	v->qsize = (uint16_t)vdrv_common_read(&v->d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
	v->desc = addr[0];
	v->avail = addr[1];
	v->used = addr[2];
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)addr[0]);
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(addr[0] >> 32));
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)addr[1]);
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(addr[1] >> 32));
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)addr[2]);
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(addr[2] >> 32));
	vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	vdrv_status_set(&v->d, vdrv_status(&v->d) | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void dev_op_msix(struct dev *v, struct rd *r)
{
	uint8_t op = rd8(r), vec = rd8(r) % 4;
	bool masked = op & 0x10;

	switch (op % 5) {
	case 0:
		(void)vdrv_msix_control(&v->d, op & 0x20, op & 0x40);
		break;
	case 1:
		(void)vdrv_msix_entry_set(&v->d, vec, MACHINE_MSI_ADDR_BASE, rd16(r), masked);
		break;
	case 2:
		(void)vdrv_msix_mask(&v->d, vec, masked);
		break;
	case 3:
		(void)vdrv_config_vector(&v->d, op & 0x20 ? VIRTIO_MSI_NO_VECTOR : vec);
		break;
	default:
		vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
		vdrv_common_write(&v->d, VIRTIO_PCI_COMMON_Q_MSIX, 2,
				  op & 0x20 ? VIRTIO_MSI_NO_VECTOR : vec);
		break;
	}
}

/* save(), then restore() of the blob as is (must work) or with bytes changed. */
static void dev_op_save(struct dev *v, struct rd *r)
{
	static uint8_t blob[FUZZ_BLOB_BYTES];
	uint8_t flips = rd8(r) % 5;
	size_t len = sizeof(blob);
	struct vmem_status s0, s1;
	bool same = true;   /* every flip xors 0 */
	int ret;

	status_get(v, &s0);
	ret = virtio_mem_device_ops.save(v->vmem, blob, &len);
	CHECK(ret == 0 && len <= sizeof(blob), "save: %d", ret);
	for (unsigned int i = 0; i < flips; i++) {
		size_t at = rd16(r) % len;
		uint8_t x = rd8(r);

		blob[at] ^= x;
		same = same && !x;
	}
	ret = virtio_mem_device_ops.restore(v->vmem, blob, len);
	status_get(v, &s1);
	CHECK(ret == 0 || !same, "restore of its own save: %d", ret);
	if (same || ret)
		CHECK(s1.plugged == s0.plugged && s1.requested == s0.requested &&
		      s1.usable == s0.usable &&
		      /* NEEDS_RESET may appear: an enabled queue whose rings lie in
		       * blocks unplugged since is stopped at restore. */
		      (ret || (s1.driver_status & ~VIRTIO_CONFIG_S_NEEDS_RESET) ==
			      (s0.driver_status & ~VIRTIO_CONFIG_S_NEEDS_RESET)),
		      "restore %d changed the device", ret);
}

static void dev_op_bar(struct dev *v, struct rd *r)
{
	uint8_t how = rd8(r);
	unsigned int bar = how & 1 ? VIRTIO_PCI_MSIX_BAR : VIRTIO_PCI_BAR, size = rd_size(r);
	uint64_t off = how & 2 ? rd8(r) % 0x40 : rd16(r) % (bar == VIRTIO_PCI_BAR ?
		VIRTIO_PCI_BAR_BYTES : PCI_MSIX_BAR_BYTES);
	uint64_t addr = v->d.bar[bar].addr + off;

	if (how & 4)
		fake_mmio_write(&v->f, addr, size, rd64(r));
	else
		(void)fake_mmio_read(&v->f, addr, size);
}

static void dev_op(struct dev *v, struct rd *r, const uint8_t *img, size_t ilen)
{
	struct vmem_status s0, s1;
	uint8_t b;

	switch (rd8(r) % 14) {
	case 0:   /* notify: through the ioeventfd and the loop, trapped (4 bytes), or loop only */
		b = rd8(r) % 3;
		if (b == 0)
			dev_kick(v);
		else if (b == 1)
			fake_mmio_write(&v->f, v->notify, 4, 0);
		else
			(void)fake_ctx_run_loop(&v->f);
		(void)status_read(v, &s1);
		break;
	case 1:
		poke(&v->f.mem, r);
		break;
	case 2:
		dev_op_request(v, r);
		break;
	case 3: {   /* a common configuration write, any field and width */
		uint64_t off = rd8(r) % 0x40;
		unsigned int size = rd_size(r);

		fake_mmio_write(&v->f, v->d.bar[VIRTIO_PCI_BAR].addr + off, size, rd64(r));
		break;
	}
	case 4:
		dev_op_bar(v, r);
		break;
	case 5: {
		uint8_t blocks = rd8(r);
		uint64_t bytes = blocks < 0xf0 ? FUZZ_BLOCK_BYTES * (blocks % 16) : rd64(r);
		uint64_t want;
		int ret;

		status_get(v, &s0);
		ret = virtio_mem_set_requested(v->vmem, bytes);
		status_get(v, &s1);
		CHECK((ret == 0) == (bytes <= FUZZ_VMEM_HOTPLUG && bytes % FUZZ_BLOCK_BYTES == 0),
		      "set_requested(%" PRIu64 "): %d", bytes, ret);
		if (ret)
			break;
		want = bytes + VMEM_USABLE_EXTENT_BYTES;
		want = want < FUZZ_VMEM_HOTPLUG ? want : FUZZ_VMEM_HOTPLUG;
		CHECK(s1.requested == bytes && s1.usable >= s0.usable && s1.usable >= want &&
		      s1.plugged == s0.plugged, "after set_requested(%" PRIu64 ")", bytes);
		break;
	}
	case 6:   /* driver reset: blocks stay as they are (§5.15.5) */
		status_get(v, &s0);
		(void)vdrv_reset(&v->d);
		status_get(v, &s1);
		CHECK(s1.plugged == s0.plugged && s1.usable == s0.usable,
		      "a driver reset changed the blocks");
		break;
	case 7:   /* the driver's own (re)initialization, queue size and image chosen */
		b = rd8(r);
		if (!vdrv_negotiate(&v->d, FUZZ_WANT) &&
		    !vdrv_queue_setup(&v->d, 0, (uint16_t)(1u << (b % 8)), VIRTIO_MSI_NO_VECTOR) &&
		    !vdrv_driver_ok(&v->d))
			dev_queue_from_driver(v);
		if (b & 0x80)
			image_load(&v->f.mem, img, ilen);
		break;
	case 8:
		dev_op_queue(v, r);
		break;
	case 9: {   /* machine reset: power-on, everything unplugged and given back */
		int ret;

		status_get(v, &s0);
		virtio_mem_device_ops.reset(v->vmem);
		status_get(v, &s1);
		CHECK(s1.plugged == 0 && s1.requested == s0.requested, "after a machine reset");
		CHECK(resident(v, v->base, FUZZ_VMEM_HOTPLUG) == 0, "memory left after a reset");
		ret = dev_bringup(v);
		CHECK(ret == 0, "bring-up after a machine reset: %d: %s", ret, v->d.err);
		break;
	}
	case 10:
		dev_op_msix(v, r);
		break;
	case 11: {   /* config space of the device (or the host bridge) */
		uint8_t how = rd8(r), reg = rd8(r);
		unsigned int slot = how & 1 ? 0 : v->slot, size = 1u << (how >> 1 & 1 ? 2 : how >> 2 & 1);

		if (how & 0x10)
			fake_cfg_write(&v->f, slot, reg & ~(size - 1), size, rd32(r));
		else
			(void)fake_cfg_read(&v->f, slot, reg & ~(size - 1), size);
		break;
	}
	case 12:
		dev_op_save(v, r);
		break;
	default:
		image_load(&v->f.mem, img, ilen);
		break;
	}
}

void fuzz_dev_run(uint8_t mode, const uint8_t *script, size_t slen, const uint8_t *img,
		    size_t ilen)
{
	static struct dev v;
	const struct fake_ctx_config fc = { .ram_bytes = FUZZ_RAM_BYTES,
					    .hotplug_bytes = FUZZ_VMEM_HOTPLUG, .pci = true };
	const struct vdrv_machine m = vdrv_fake_machine(&v.f);
	const struct vdrv_config dc = { .scratch_gpa = 0, .scratch_bytes = 1ull << 20,
					.poll_rounds = FUZZ_DRIVER_ROUNDS };
	struct vmem_config vc = { .block_size = FUZZ_BLOCK_BYTES,
				  .requested = FUZZ_BLOCK_BYTES * (mode >> 1 & 7),
				  .populate = MEM_POPULATE_AUTO, .populate_threads = 1 };
	struct rd r = { script, slen };
	int ret;

	memset(&v, 0, sizeof(v));
	fake_ctx_init(&v.f, &fc);
	fake_ctx_add_hotplug(&v.f, mode & 0x10 ? NULL : &mem_backend_anon, &v.region);
	v.base = v.f.layout.hotplug_gpa;
	vc.region = v.region;
	ret = virtio_mem_device_ops.create(&v.f.ctx, &vc, &v.vmem);
	CHECK(ret == 0, "create: %d", ret);
	CHECK(vdrv_init(&v.d, &m, &dc) == 0, "vdrv_init: %s", v.d.err);
	ret = dev_bringup(&v);
	CHECK(ret == 0, "first bring-up: %d: %s", ret, v.d.err);
	v.slot = (unsigned int)v.d.slot;
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		v.bars[i] = fake_cfg_read(&v.f, v.slot, PCI_BASE_ADDRESS_0 + 4 * i, 4);
	image_load(&v.f.mem, img, ilen);
	while (r.n)
		dev_op(&v, &r, img, ilen);
	dev_final(&v);
	virtio_mem_device_ops.destroy(v.vmem);
	fake_ctx_destroy(&v.f);
}

