// SPDX-License-Identifier: MIT
/*
 * test_virtio_driver's cases on the edges: a guest that breaks the rules
 * (corrupted chains), requests framed oddly, interrupts (MSI-X with masks
 * and pending bits, INTx with ISR status), the command register's
 * bus-master bit, and the driver's own checks against a broken config
 * space.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "tests/test_virtio_driver.h"

#define REQ_GPA     TEST_BUF_GPA
#define RESP_GPA    (TEST_BUF_GPA + 4096)
#define TABLE_GPA   (TEST_BUF_GPA + 8192)   /* an indirect table */
#define RUNS        8u

/* A STATE request of the first block at REQ_GPA, its response buffer at RESP_GPA. */
static void put_state_request(struct rig *r)
{
	struct virtio_mem_req req;
	uint8_t fill[sizeof(struct virtio_mem_resp)];

	memset(&req, 0, sizeof(req));
	req.type = htole16(VIRTIO_MEM_REQ_STATE);
	req.u.state.addr = htole64(r->base);
	req.u.state.nb_blocks = htole16(1);
	memset(fill, 0xee, sizeof(fill));
	TEST_OK(rig_mem_write(&r->f, REQ_GPA, &req, sizeof(req)));
	TEST_OK(rig_mem_write(&r->f, RESP_GPA, fill, sizeof(fill)));
}

static void run_machine(struct rig *r)
{
	for (unsigned int i = 0; i < RUNS; i++)
		vdrv_run(&r->d);
}

enum corruption {
	C_LOOP,          /* next pointers in a cycle */
	C_OUTSIDE,       /* a buffer in the MMIO hole, no RAM */
	C_BEYOND,        /* a buffer past all guest memory */
	C_WRAP,          /* addr + len wraps past 2^64 */
	C_HEAD,          /* an avail entry naming a descriptor >= queue size */
	C_NEXT,          /* a next >= queue size */
	C_WRITE_FIRST,   /* a device-writable descriptor before a readable one */
	C_INDIRECT,      /* VRING_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC */
	C_AVAIL_JUMP,    /* avail idx more than the queue size ahead */
	C_NR,
};

static const char *const corruption_name[C_NR] = {
	"descriptor loop", "buffer in the MMIO hole", "buffer past all memory", "wrapping buffer",
	"head out of range", "next out of range", "writable before readable",
	"indirect not negotiated", "avail index jump",
};

static void corrupt(struct rig *r, enum corruption c)
{
	struct vdrv *d = &r->d;
	const uint16_t qs = d->q[0].size;
	const uint16_t nxt = VRING_DESC_F_NEXT, wr = VRING_DESC_F_WRITE;
	const uint64_t past = r->f.layout.hotplug_gpa + r->f.layout.hotplug_size + (1ull << 30);
	uint16_t idx;

	put_state_request(r);
	switch (c) {
	case C_LOOP:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, REQ_GPA, 24, nxt, 1));
		DRV_OK(r, vdrv_desc_write(d, 0, 1, REQ_GPA, 24, nxt, 0));
		break;
	case C_OUTSIDE:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, MACHINE_MMIO_HOLE_START + 0x1000, 24, nxt, 1));
		DRV_OK(r, vdrv_desc_write(d, 0, 1, RESP_GPA, 10, wr, 0));
		break;
	case C_BEYOND:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, REQ_GPA, 24, nxt, 1));
		DRV_OK(r, vdrv_desc_write(d, 0, 1, past, 10, wr, 0));
		break;
	case C_WRAP:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, UINT64_MAX - 4095, 8192, nxt, 1));
		DRV_OK(r, vdrv_desc_write(d, 0, 1, RESP_GPA, 10, wr, 0));
		break;
	case C_HEAD:
		DRV_OK(r, vdrv_avail_publish(d, 0, qs));
		return;
	case C_NEXT:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, REQ_GPA, 24, nxt, (uint16_t)(qs + 3)));
		break;
	case C_WRITE_FIRST:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, RESP_GPA, 10, wr | nxt, 1));
		DRV_OK(r, vdrv_desc_write(d, 0, 1, REQ_GPA, 24, 0, 0));
		break;
	case C_INDIRECT:
		DRV_OK(r, vdrv_desc_write(d, 0, 0, TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0));
		break;
	case C_AVAIL_JUMP:
		idx = htole16((uint16_t)(d->q[0].avail_idx + qs + 1));
		TEST_OK(rig_mem_write(&r->f, d->q[0].avail + 2, &idx, sizeof(idx)));
		return;
	case C_NR:
		break;
	}
	DRV_OK(r, vdrv_avail_publish(d, 0, 0));
}

/* §2.1.2: NEEDS_RESET, then (DRIVER_OK set) a config change notification; still answering. */
void run_corrupt(const void *arg)
{
	struct vdrv_vmem_result res;
	struct virtio_mem_config c;
	struct rig r;
	struct vdrv *d = &r.d;
	uint16_t used;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);
	for (unsigned int k = 0; k < C_NR; k++) {
		(void)vdrv_isr(d);
		corrupt(&r, (enum corruption)k);
		DRV_OK(&r, vdrv_notify(d, 0));
		run_machine(&r);
		TEST_ASSERT(vdrv_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET,
			    "%s: device_status 0x%x, no NEEDS_RESET", corruption_name[k],
			    vdrv_status(d));
		TEST_ASSERT(vdrv_isr(d) & VIRTIO_PCI_ISR_CONFIG,
			    "%s: NEEDS_RESET without a configuration change notification",
			    corruption_name[k]);
		DRV_OK(&r, vdrv_used_idx(d, 0, &used));
		TEST_ASSERT(used == d->q[0].used_seen, "%s: the broken chain was used",
			    corruption_name[k]);
		/* The device keeps answering: config and common configuration. */
		c = rig_config(&r);
		TEST_ASSERT(c.block_size == BLOCK_BYTES && c.plugged_size == BLOCK_BYTES,
			    "%s: config block 0x%llx plugged 0x%llx", corruption_name[k],
			    c.block_size, c.plugged_size);
		TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_NUMQ, 2) == 1,
			    "%s: common configuration", corruption_name[k]);
		if (k == C_LOOP) {
			/* A stopped queue takes nothing more until the reset. */
			TEST_ASSERT(vdrv_vmem_request(d, VIRTIO_MEM_REQ_STATE, r.base, 1, 0, &res)
				    == -ETIMEDOUT, "a request was served with NEEDS_RESET set");
		}
		TEST_ASSERT(r.f.stop_reason == VM_STOP_NONE, "%s: the VM was asked to stop (%d)",
			    corruption_name[k], r.f.stop_reason);
		DRV_OK(&r, vdrv_reset(d));
		rig_reinit(&r, VIRTIO_MSI_NO_VECTOR);
		TEST_ASSERT(rig_state(&r, r.base, 1) == VIRTIO_MEM_STATE_PLUGGED,
			    "%s: STATE after the reset", corruption_name[k]);
		printf("# %s: NEEDS_RESET, config interrupt, reset recovers\n", corruption_name[k]);
	}
	rig_down(&r);
	TEST_PASS("broken chains: NEEDS_RESET, the device answers, a reset recovers");
}

/* PCI 3.0 §6.8.2: vectors, per-vector and function masks, pending bits. */
void run_msix(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	uint64_t a;
	uint32_t dt;
	bool masked, pending;
	(void)arg;

	rig_machine(&r, NULL);
	DRV_OK(&r, vdrv_find(d, MACHINE_PCI_VIRTIO_VENDOR, VMEM_PCI_ID));
	DRV_OK(&r, vdrv_bars_probe(d));
	vdrv_command(d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
	DRV_OK(&r, vdrv_caps_parse(d));
	TEST_ASSERT(d->msix_vectors >= 2, "%u MSI-X vectors (§4.1.5.1.2.1: SHOULD be >= 2)",
		    d->msix_vectors);
	for (unsigned int v = 0; v < d->msix_vectors; v++) {
		DRV_OK(&r, vdrv_msix_entry_get(d, v, &a, &dt, &masked));
		DRV_OK(&r, vdrv_msix_pending(d, v, &pending));
		TEST_ASSERT(masked && !pending, "vector %u at power-on: masked %d pending %d", v,
			    masked, pending);
	}
	DRV_OK(&r, vdrv_msix_entry_set(d, 0, MSI_ADDR, MSI_DATA_CONFIG, false));
	DRV_OK(&r, vdrv_msix_entry_set(d, 1, MSI_ADDR, MSI_DATA_QUEUE, false));
	DRV_OK(&r, vdrv_msix_control(d, true, false));
	DRV_OK(&r, vdrv_negotiate(d, WANT_FEATURES));
	TEST_ASSERT(vdrv_config_vector(d, 0) == 0, "config_msix_vector 0 refused");
	DRV_OK(&r, vdrv_queue_setup(d, 0, 0, 1));
	DRV_OK(&r, vdrv_driver_ok(d));
	(void)rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE);
	(void)rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG);

	/* A used buffer raises the queue's vector, once. */
	(void)rig_state(&r, r.base, 1);
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 1, "queue vector not raised once");
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 0, "config vector raised");

	/* Vector masked: pending, and sent when unmasked. */
	DRV_OK(&r, vdrv_msix_mask(d, 1, true));
	(void)rig_state(&r, r.base, 1);
	DRV_OK(&r, vdrv_msix_pending(d, 1, &pending));
	TEST_ASSERT(pending, "masked vector: no pending bit");
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 0, "masked vector was sent");
	DRV_OK(&r, vdrv_msix_mask(d, 1, false));
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 1, "pending vector not sent on unmask");
	DRV_OK(&r, vdrv_msix_pending(d, 1, &pending));
	TEST_ASSERT(!pending, "pending bit stays after the message was sent");

	/* Function masked: the same through Message Control. */
	DRV_OK(&r, vdrv_msix_control(d, true, true));
	(void)rig_state(&r, r.base, 1);
	DRV_OK(&r, vdrv_msix_pending(d, 1, &pending));
	TEST_ASSERT(pending && !rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE),
		    "function mask: pending %d", pending);
	DRV_OK(&r, vdrv_msix_control(d, true, false));
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 1, "not sent on function unmask");

	/* §2.7.10: VRING_AVAIL_F_NO_INTERRUPT: the device SHOULD NOT interrupt. */
	DRV_OK(&r, vdrv_avail_flags_set(d, 0, VRING_AVAIL_F_NO_INTERRUPT));
	(void)rig_state(&r, r.base, 1);
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_QUEUE) == 0, "interrupt despite NO_INTERRUPT");
	DRV_OK(&r, vdrv_avail_flags_set(d, 0, 0));

	/* §5.15.4.2: no config notification for plugged_size (SHOULD NOT). */
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 0,
		    "config notification for a plugged_size change");
	(void)vdrv_isr(d);

	/*
	 * A requested_size change raises the config vector; §4.1.4.5.1 sets the
	 * ISR config bit before any config notification, MSI-X or not.
	 */
	TEST_OK(virtio_mem_set_requested(r.vmem, REQUESTED_BYTES * 2));
	vdrv_run(d);
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 1, "config vector not raised");
	TEST_ASSERT(vdrv_isr(d) & VIRTIO_PCI_ISR_CONFIG,
		    "ISR config bit not set before the MSI-X config notification");

	/* §4.1.5.1.2.1: a mapping the device cannot make reads back NO_VECTOR. */
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_MSIX, 2, d->msix_vectors);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
		    "vector %u (past the table) reads back 0x%x", d->msix_vectors,
		    vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);

	/* §2.1.2: NEEDS_RESET after DRIVER_OK: a config notification, on its vector. */
	corrupt(&r, C_LOOP);
	DRV_OK(&r, vdrv_notify(d, 0));
	run_machine(&r);
	TEST_ASSERT(vdrv_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET, "no NEEDS_RESET");
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 1,
		    "NEEDS_RESET without the config vector");

	/* §4.1.5.1.2.1: a reset unmaps every event. */
	DRV_OK(&r, vdrv_reset(d));
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
		    "config_msix_vector 0x%x after reset",
		    vdrv_common_read(d, VIRTIO_PCI_COMMON_MSIX, 2));
	vdrv_common_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	TEST_ASSERT(vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
		    "queue_msix_vector 0x%x after reset",
		    vdrv_common_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2));
	rig_down(&r);
	TEST_PASS("MSI-X: queue and config vectors, vector and function masks, PBA");
}

/* §4.1.4.5: without MSI-X, ISR status and INTx (level, cleared by reading ISR). */
void run_intx(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	unsigned int pin, line, want;
	uint8_t isr;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	pin = vdrv_conf_read(d, (unsigned int)d->slot, PCI_INTERRUPT_PIN, 1);
	line = vdrv_conf_read(d, (unsigned int)d->slot, PCI_INTERRUPT_LINE, 1);
	want = MACHINE_PCI_INTX_GSI_BASE + ((unsigned int)d->slot + pin - 1) % MACHINE_PCI_INTX_GSIS;
	TEST_ASSERT(pin >= 1 && pin <= 4, "Interrupt Pin %u", pin);
	TEST_ASSERT(line == want, "Interrupt Line %u, mem/machine.h's swizzle says %u", line, want);
	(void)vdrv_isr(d);
	TEST_ASSERT(!fake_irq_level(&r.f, line), "INTx high before any interrupt");

	(void)rig_state(&r, r.base, 1);
	TEST_ASSERT(fake_irq_level(&r.f, line), "no INTx after a used buffer");
	TEST_ASSERT(vdrv_conf_read(d, (unsigned int)d->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		    "PCI Status Interrupt bit clear with ISR set (§4.1.4.5.1)");
	isr = vdrv_isr(d);
	TEST_ASSERT(isr & 1, "ISR 0x%x: no queue interrupt bit", isr);
	TEST_ASSERT(!fake_irq_level(&r.f, line), "INTx still high after ISR was read");
	TEST_ASSERT(!(vdrv_conf_read(d, (unsigned int)d->slot, PCI_STATUS, 2) &
		      PCI_STATUS_INTERRUPT), "PCI Status Interrupt bit after ISR was read");
	TEST_ASSERT(vdrv_isr(d) == 0, "ISR not cleared by reading it");

	/* Interrupt Disable (PCI 3.0 §6.2.2): no INTx, ISR still set. */
	vdrv_command(d, PCI_COMMAND_INTX_DISABLE, 0);
	(void)rig_state(&r, r.base, 1);
	TEST_ASSERT(!fake_irq_level(&r.f, line), "INTx asserted with Interrupt Disable set");
	TEST_ASSERT(vdrv_isr(d) & 1, "ISR queue bit with INTx disabled");
	vdrv_command(d, 0, PCI_COMMAND_INTX_DISABLE);
	rig_down(&r);
	TEST_PASS("INTx: level with ISR status, cleared on read, Interrupt Disable respected");
}

/* PCI 3.0 §6.2.2: with Bus Master off the device does not touch guest memory. */
void run_bus_master(const void *arg)
{
	struct rig r;
	struct vdrv *d = &r.d;
	uint32_t id, len;
	uint16_t used, resp[5];
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	vdrv_command(d, 0, PCI_COMMAND_MASTER);
	put_state_request(&r);
	DRV_OK(&r, vdrv_desc_write(d, 0, 0, REQ_GPA, sizeof(struct virtio_mem_req),
				   VRING_DESC_F_NEXT, 1));
	DRV_OK(&r, vdrv_desc_write(d, 0, 1, RESP_GPA, sizeof(resp), VRING_DESC_F_WRITE, 0));
	DRV_OK(&r, vdrv_avail_publish(d, 0, 0));
	DRV_OK(&r, vdrv_notify(d, 0));
	run_machine(&r);
	DRV_OK(&r, vdrv_used_idx(d, 0, &used));
	TEST_ASSERT(used == 0, "used idx %u with bus mastering off", used);
	TEST_OK(rig_mem_read(&r.f, RESP_GPA, resp, sizeof(resp)));
	TEST_ASSERT(resp[0] == 0xeeee, "response written with bus mastering off");
	TEST_ASSERT(!(vdrv_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET), "NEEDS_RESET");

	vdrv_command(d, PCI_COMMAND_MASTER, 0);
	DRV_OK(&r, vdrv_notify(d, 0));
	DRV_OK(&r, vdrv_used_wait(d, 0, &id, &len));
	TEST_OK(rig_mem_read(&r.f, RESP_GPA, resp, sizeof(resp)));
	TEST_ASSERT(id == 0 && le16toh(resp[0]) == VIRTIO_MEM_RESP_ACK &&
		    le16toh(resp[4]) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "after bus mastering on: id %u, response %u state %u", id, le16toh(resp[0]),
		    le16toh(resp[4]));
	rig_down(&r);
	TEST_PASS("bus master off: the queue waits; on: it is served");
}

/*
 * §2.6.4: "The device MUST NOT make assumptions about the particular
 * arrangement of descriptors": a request and a response each split over
 * two buffers. §2.7.4: the device does not write device-readable buffers.
 */
void run_framing(const void *arg)
{
	const uint64_t rq = TEST_BUF_GPA, rs = TEST_BUF_GPA + 4096;
	struct virtio_mem_req req, back;
	uint8_t resp[sizeof(struct virtio_mem_resp)];
	uint32_t used_len;
	struct rig r;
	(void)arg;

	rig_up(&r, NULL, VIRTIO_MSI_NO_VECTOR);
	REQ_EXPECT(&r, VIRTIO_MEM_REQ_PLUG, r.base, 1, VIRTIO_MEM_RESP_ACK);
	for (unsigned int split = 1; split < sizeof(req); split += 5) {
		const struct vdrv_buf bufs[4] = {
			{ .gpa = rq, .len = split },
			{ .gpa = rq + 512, .len = (uint32_t)sizeof(req) - split },
			{ .gpa = rs, .len = 4, .device_writes = true },
			{ .gpa = rs + 512, .len = sizeof(resp) - 4, .device_writes = true },
		};

		memset(&req, PAD_BYTE, sizeof(req));
		req.type = htole16(VIRTIO_MEM_REQ_STATE);
		req.u.state.addr = htole64(r.base);
		req.u.state.nb_blocks = htole16(2);
		TEST_OK(rig_mem_write(&r.f, rq, &req, split));
		TEST_OK(rig_mem_write(&r.f, rq + 512, (uint8_t *)&req + split, sizeof(req) - split));
		DRV_OK(&r, vdrv_submit(&r.d, 0, bufs, 4, &used_len));
		TEST_OK(rig_mem_read(&r.f, rs, resp, 4));
		TEST_OK(rig_mem_read(&r.f, rs + 512, resp + 4, sizeof(resp) - 4));
		TEST_ASSERT(resp[0] == VIRTIO_MEM_RESP_ACK && resp[1] == 0 &&
			    resp[8] == VIRTIO_MEM_STATE_MIXED && resp[9] == 0,
			    "split %u: response %u state %u", split, resp[0], resp[8]);
		TEST_ASSERT(used_len == sizeof(resp), "split %u: used len %u", split, used_len);
		TEST_OK(rig_mem_read(&r.f, rq, &back, split));
		TEST_OK(rig_mem_read(&r.f, rq + 512, (uint8_t *)&back + split, sizeof(req) - split));
		TEST_ASSERT(!memcmp(&back, &req, sizeof(req)), "split %u: request buffer written",
			    split);
	}
	rig_down(&r);
	TEST_PASS("requests and responses split over descriptors anywhere");
}

/* ---- the driver's own checks, on a config space made up here ---- */

#define FAKE_SLOT 3u

struct cfgspace {
	uint32_t addr;           /* the conf1 address port */
	uint8_t b[256];          /* 00:03.0; read-only */
};

static bool cs_pio_read(void *o, uint16_t port, unsigned int size, uint32_t *val)
{
	struct cfgspace *cs = o;
	unsigned int off = (cs->addr & 0xfcu) + (port & 3u);

	*val = 0xffffffffu;
	if (port < 0xcfc || port > 0xcff)
		return false;
	if (cs->addr != (0x80000000u | FAKE_SLOT << 11 | (cs->addr & 0xfcu)))
		return true;
	*val = 0;
	memcpy(val, cs->b + off, size);
	return true;
}

static bool cs_pio_write(void *o, uint16_t port, unsigned int size, uint32_t val)
{
	struct cfgspace *cs = o;

	if (port == 0xcf8 && size == 4)
		cs->addr = val;
	return port >= 0xcf8 && port <= 0xcff;
}

static bool cs_mmio_read(void *o, uint64_t gpa, unsigned int size, uint64_t *val)
{
	*val = UINT64_MAX;
	return false;
}

static bool cs_mmio_write(void *o, uint64_t gpa, unsigned int size, uint64_t val)
{
	return false;
}

static int cs_mem_read(void *o, uint64_t gpa, void *buf, size_t len)
{
	return -EFAULT;
}

static int cs_mem_write(void *o, uint64_t gpa, const void *buf, size_t len)
{
	return -EFAULT;
}

/* Caps from 0x40 on, 4 bytes apart: ids[i], next = nexts[i]. */
static int cs_walk(struct cfgspace *cs, struct vdrv *d, uint8_t first, unsigned int n,
		   const uint8_t *nexts)
{
	memset(cs->b + 0x40, 0, sizeof(cs->b) - 0x40);
	cs->b[PCI_CAPABILITY_LIST] = first;
	for (unsigned int i = 0; i < n; i++) {
		cs->b[0x40 + 4 * i] = 0x01;   /* power management: skipped by the driver */
		cs->b[0x40 + 4 * i + 1] = nexts[i];
	}
	return vdrv_caps_parse(d);
}

void run_driver_caps(const void *arg)
{
	struct cfgspace cs = { 0 };
	const struct vdrv_machine m = {
		.opaque = &cs, .pio_read = cs_pio_read, .pio_write = cs_pio_write,
		.mmio_read = cs_mmio_read, .mmio_write = cs_mmio_write,
		.mem_read = cs_mem_read, .mem_write = cs_mem_write,
	};
	const struct vdrv_config dc = { .scratch_gpa = SCRATCH_GPA, .scratch_bytes = SCRATCH_BYTES };
	uint8_t nexts[VDRV_MAX_CAPS];
	struct vdrv d;
	(void)arg;

	cs.b[0] = 0xf4;
	cs.b[1] = 0x1a;
	cs.b[2] = (uint8_t)VMEM_PCI_ID;
	cs.b[3] = VMEM_PCI_ID >> 8;
	cs.b[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	TEST_OK(vdrv_init(&d, &m, &dc));
	TEST_ASSERT(vdrv_find(&d, 0x1af4, VMEM_PCI_ID) == 0 && d.slot == (int)FAKE_SLOT,
		    "find: slot %d (%s)", d.slot, d.err);
	TEST_ASSERT(vdrv_bars_probe(&d) == 0 && !d.bar[4].size, "BARs: %s", d.err);

	/* A loop: two caps pointing at each other. */
	nexts[0] = 0x44;
	nexts[1] = 0x40;
	TEST_ASSERT(cs_walk(&cs, &d, 0x40, 2, nexts) == -EPROTO && strstr(d.err, "loop"),
		    "looped list: %s", d.err);
	/* Pointers into the header or not dword aligned. */
	nexts[0] = 0x20;
	TEST_ASSERT(cs_walk(&cs, &d, 0x40, 1, nexts) == -EPROTO && strstr(d.err, "0x20"),
		    "pointer 0x20: %s", d.err);
	nexts[0] = 0x45;
	TEST_ASSERT(cs_walk(&cs, &d, 0x40, 1, nexts) == -EPROTO && strstr(d.err, "0x45"),
		    "pointer 0x45: %s", d.err);
	TEST_ASSERT(cs_walk(&cs, &d, 0x3c, 0, nexts) == -EPROTO, "first pointer 0x3c: %s", d.err);
	/* 48 caps, every dword from 0x40 to 0xfc: walked to the end (then no virtio caps). */
	for (unsigned int i = 0; i < VDRV_MAX_CAPS; i++)
		nexts[i] = i + 1 < VDRV_MAX_CAPS ? (uint8_t)(0x40 + 4 * (i + 1)) : 0;
	TEST_ASSERT(cs_walk(&cs, &d, 0x40, VDRV_MAX_CAPS, nexts) == -EPROTO &&
		    d.nr_caps == VDRV_MAX_CAPS && strstr(d.err, "no common"), "48 caps: %s", d.err);
	/* A virtio structure in a BAR that does not exist. */
	nexts[0] = 0;
	(void)cs_walk(&cs, &d, 0x40, 1, nexts);
	cs.b[0x40] = PCI_CAP_ID_VNDR;
	cs.b[0x42] = 16;
	cs.b[0x43] = VIRTIO_PCI_CAP_COMMON_CFG;
	cs.b[0x44] = 4;
	cs.b[0x4c] = 0x38;
	TEST_ASSERT(vdrv_caps_parse(&d) == -EPROTO && strstr(d.err, "no memory BAR"),
		    "common cfg in a missing BAR: %s", d.err);
	TEST_PASS("the driver's capability walk is bounded and checks what it finds");
}
