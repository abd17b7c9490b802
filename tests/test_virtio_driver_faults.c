// SPDX-License-Identifier: MIT
/*
 * test_virtio_driver's cases for a guest that breaks the rules (corrupted
 * chains), for interrupts (MSI-X with masks and pending bits, INTx with
 * ISR status) and for the command register's bus-master bit.
 */
#include <endian.h>
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

	/* A requested_size change raises the config vector. */
	TEST_OK(virtio_mem_set_requested(r.vmem, REQUESTED_BYTES * 2));
	vdrv_run(d);
	TEST_ASSERT(rig_msis(&r, MSI_ADDR, MSI_DATA_CONFIG) == 1, "config vector not raised");

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
