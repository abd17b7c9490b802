// SPDX-License-Identifier: MIT
/*
 * The virtio-pci transport (devices/virtio_pci.h) on a fake machine
 * (tests/fake_ctx.h: real buses, PCI host and anonymous guest RAM; KVM's
 * services recorded), driven from the guest's side by tests/vtest.h with a
 * small test device behind it: the capability list, feature negotiation
 * and its refusals, reset, the queue configuration rules, notifications
 * through an ioeventfd and the main loop or through a trapped write,
 * MSI-X against INTx with the ISR, violations, the PCI configuration
 * access window, and save/restore.
 */
#include <endian.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tests/e2e.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vtest.h"

#define TDEV_ID          4u      /* any device ID: the transport does not care */
#define TDEV_QUEUES      2u
#define TDEV_QUEUE_SIZE  16u
#define TDEV_CONFIG      16u
#define TDEV_F_A         0       /* offered */
#define TDEV_F_REFUSED   1       /* offered, but features_ok refuses it */
#define TDEV_F_NOT       2       /* not offered */
#define TDEV_FEATURES    (1ull << TDEV_F_A | 1ull << TDEV_F_REFUSED | \
			  1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define VERSION_1        (1ull << VIRTIO_F_VERSION_1)
#define BUF_GPA          VT_DATA_GPA
#define REPLY_BYTE       0xa5
#define ISR_QUEUE        0x1     /* ISR bit 0 (§4.1.4.5) */

struct tdev {
	struct virtio_pci *vp;
	uint8_t config[TDEV_CONFIG];
	unsigned int notified[TDEV_QUEUES];
	unsigned int resets;
	unsigned int chains;
};

static void tdev_config_read(void *dev, unsigned int off, void *buf, unsigned int len)
{
	struct tdev *t = dev;

	TEST_ASSERT(off + len <= TDEV_CONFIG, "config read %u+%u", off, len);
	memcpy(buf, t->config + off, len);
}

static void tdev_config_write(void *dev, unsigned int off, const void *buf, unsigned int len)
{
	struct tdev *t = dev;

	TEST_ASSERT(off + len <= TDEV_CONFIG, "config write %u+%u", off, len);
	memcpy(t->config + off, buf, len);
}

static int tdev_features_ok(void *dev, uint64_t features)
{
	return features & 1ull << TDEV_F_REFUSED ? -EINVAL : 0;
}

/* Answer every chain: one REPLY_BYTE into its writable part. */
static void tdev_queue_notify(void *dev, unsigned int q)
{
	struct tdev *t = dev;
	struct virtqueue *vq = virtio_pci_vq(t->vp, q);
	struct vq_chain c;
	bool pushed = false;
	int ret;

	t->notified[q]++;
	while ((ret = vq_pop(vq, &c)) == 1) {
		const uint8_t b = REPLY_BYTE;
		uint32_t n = c.in_bytes ? 1 : 0;

		if (n)
			TEST_OK(vq_chain_write(vq->mem, &c, 0, &b, 1));
		TEST_OK(vq_push(vq, c.head, n));
		t->chains++;
		pushed = true;
	}
	if (ret < 0)
		virtio_pci_violation(t->vp, q, vq->why_broken);
	if (pushed)
		virtio_pci_used(t->vp, q);
}

static void tdev_reset(void *dev)
{
	((struct tdev *)dev)->resets++;
}

static const struct virtio_device_ops tdev_ops = {
	.name = "vp-test",
	.device_id = TDEV_ID,
	.features = TDEV_FEATURES,
	.nr_queues = TDEV_QUEUES,
	.queue_size = TDEV_QUEUE_SIZE,
	.config_len = TDEV_CONFIG,
	.config_read = tdev_config_read,
	.config_write = tdev_config_write,
	.features_ok = tdev_features_ok,
	.queue_notify = tdev_queue_notify,
	.reset = tdev_reset,
};

static struct fake_ctx f;
static struct tdev t;
static struct vtest vt;

/* A fake machine with the test device on it, found by the test driver. */
static void setup(void)
{
	const struct fake_ctx_config fc = { .ram_bytes = VT_RAM_BYTES, .pci = true };

	fake_ctx_init(&f, &fc);
	memset(&t, 0, sizeof(t));
	for (unsigned int i = 0; i < TDEV_CONFIG; i++)
		t.config[i] = (uint8_t)(0x10 + i);
	TEST_OK(virtio_pci_create(&f.ctx, &tdev_ops, &t, &t.vp));
	vt_find(&f, &vt);
}

static void teardown(void)
{
	virtio_pci_destroy(t.vp);
	TEST_ASSERT(f.nr_ioeventfds == 0, "%u ioeventfds left", f.nr_ioeventfds);
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS; i++)
		TEST_ASSERT(f.watch[i].fd < 0, "fd %d still watched", f.watch[i].fd);
	fake_ctx_destroy(&f);
}

static struct virtio_pci_stats stats(void)
{
	struct virtio_pci_stats st;

	virtio_pci_lock(t.vp);
	virtio_pci_stats(t.vp, &st);
	virtio_pci_unlock(t.vp);
	return st;
}

/* A chain of one readable and one writable byte on q; true when it came back answered. */
static bool roundtrip(unsigned int q, bool kick)
{
	const struct vt_buf b[2] = {
		{ .gpa = BUF_GPA, .len = 4 },
		{ .gpa = BUF_GPA + 0x100, .len = 1, .write = true },
	};
	uint16_t head = vt_add(&vt, q, b, 2);
	uint32_t id, len;
	uint8_t reply = 0;

	if (kick)
		vt_kick(&vt, q);
	if (!vt_used(&vt, q, &id, &len))
		return false;
	vt_mem_read(&vt, BUF_GPA + 0x100, &reply, 1);
	TEST_ASSERT(id == head && len == 1 && reply == REPLY_BYTE, "id %u len %u reply %#x",
		    id, len, reply);
	return true;
}

/* ---- cases ---- */

static void run_caps(const void *arg)
{
	uint32_t id, cls;
	unsigned int order[8], n = 0;

	setup();
	id = fake_cfg_read(&f, vt.slot, PCI_VENDOR_ID, 4);
	TEST_ASSERT(id == ((0x1040u + TDEV_ID) << 16 | 0x1af4u), "IDs %#x", id);
	cls = fake_cfg_read(&f, vt.slot, PCI_CLASS_REVISION, 4);
	TEST_ASSERT((cls & 0xff) >= 1, "revision %u: modern devices have 1+", cls & 0xff);
	TEST_ASSERT(fake_cfg_read(&f, vt.slot, PCI_SUBSYSTEM_ID, 2) == 0x40 + TDEV_ID, "subsystem id");
	/* The vendor capabilities in the order the spec's example lists them. */
	for (unsigned int cap = fake_cfg_read(&f, vt.slot, PCI_CAPABILITY_LIST, 1); cap && n < 8;
	     cap = fake_cfg_read(&f, vt.slot, cap + 1, 1))
		if (fake_cfg_read(&f, vt.slot, cap, 1) == PCI_CAP_ID_VNDR)
			order[n++] = fake_cfg_read(&f, vt.slot, cap + VIRTIO_PCI_CAP_CFG_TYPE, 1);
	TEST_ASSERT(n == 5 && order[0] == VIRTIO_PCI_CAP_COMMON_CFG &&
		    order[1] == VIRTIO_PCI_CAP_NOTIFY_CFG && order[2] == VIRTIO_PCI_CAP_ISR_CFG &&
		    order[3] == VIRTIO_PCI_CAP_DEVICE_CFG && order[4] == VIRTIO_PCI_CAP_PCI_CFG,
		    "%u vendor caps in the wrong order", n);
	TEST_ASSERT(vt.len[VIRTIO_PCI_CAP_COMMON_CFG] >= sizeof(struct virtio_pci_common_cfg),
		    "common cfg length %u", vt.len[VIRTIO_PCI_CAP_COMMON_CFG]);
	TEST_ASSERT(vt.len[VIRTIO_PCI_CAP_ISR_CFG] >= 1, "ISR length");
	TEST_ASSERT(vt.len[VIRTIO_PCI_CAP_DEVICE_CFG] == TDEV_CONFIG, "device cfg length");
	TEST_ASSERT(vt.notify_mult == VIRTIO_PCI_NOTIFY_MULT, "multiplier %u", vt.notify_mult);
	TEST_ASSERT(vt.len[VIRTIO_PCI_CAP_NOTIFY_CFG] >= VIRTIO_PCI_NOTIFY_MULT * (TDEV_QUEUES - 1) + 2,
		    "notify length %u", vt.len[VIRTIO_PCI_CAP_NOTIFY_CFG]);
	TEST_ASSERT(vt.bar4 && vt.bar4 == pci_dev_bar_addr(virtio_pci_pci_dev(t.vp), 4),
		    "BAR 4 at %#llx", (unsigned long long)vt.bar4);
	/* MSI-X: a vector per queue and one for config. */
	TEST_ASSERT((fake_cfg_read(&f, vt.slot, vt.msix_cap + PCI_MSIX_FLAGS, 2) &
		     PCI_MSIX_FLAGS_QSIZE) + 1 == TDEV_QUEUES + 1, "MSI-X table size");
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_NUMQ, 2) == TDEV_QUEUES, "num_queues");
	/* Device configuration through the device's config_read, any width inside it. */
	TEST_ASSERT(vt_device_read(&vt, 0, 1) == 0x10 && vt_device_read(&vt, 2, 2) == 0x1312 &&
		    vt_device_read(&vt, 4, 4) == 0x17161514u &&
		    vt_device_read(&vt, 8, 8) == 0x1f1e1d1c1b1a1918ull, "device config");
	TEST_ASSERT(vt_device_read(&vt, TDEV_CONFIG - 2, 4) == 0, "read past config_len");
	teardown();
}

static void run_features(const void *arg)
{
	uint64_t df;
	uint8_t st;

	setup();
	df = vt_device_features(&vt);
	TEST_ASSERT(df == (TDEV_FEATURES | VERSION_1), "device features %#llx",
		    (unsigned long long)df);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_DF, 4) == 0, "feature word 2");

	/* Refusals: the bit reads back clear. */
	st = vt_negotiate(&vt, 1ull << TDEV_F_A);
	TEST_ASSERT(!(st & VIRTIO_CONFIG_S_FEATURES_OK), "accepted without VERSION_1");
	st = vt_negotiate(&vt, VERSION_1 | 1ull << TDEV_F_NOT);
	TEST_ASSERT(!(st & VIRTIO_CONFIG_S_FEATURES_OK), "accepted a feature not offered");
	st = vt_negotiate(&vt, VERSION_1 | 1ull << TDEV_F_REFUSED);
	TEST_ASSERT(!(st & VIRTIO_CONFIG_S_FEATURES_OK), "features_ok's refusal ignored");
	/* DRIVER_OK without FEATURES_OK does not stick. */
	vt_set_status(&vt, st | VIRTIO_CONFIG_S_DRIVER_OK);
	TEST_ASSERT(!(vt_status(&vt) & VIRTIO_CONFIG_S_DRIVER_OK), "DRIVER_OK without FEATURES_OK");

	st = vt_negotiate(&vt, VERSION_1 | 1ull << TDEV_F_A);
	TEST_ASSERT(st & VIRTIO_CONFIG_S_FEATURES_OK, "status %#x", st);
	TEST_ASSERT(virtio_pci_driver_features(t.vp) == (VERSION_1 | 1ull << TDEV_F_A), "accepted");
	/* Frozen after FEATURES_OK. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GF, 4, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_GF, 4) == 1u << TDEV_F_A, "not frozen");
	/* The driver cannot clear a bit or set NEEDS_RESET. */
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_NEEDS_RESET);
	TEST_ASSERT(vt_status(&vt) == st, "status %#x after a clearing write", vt_status(&vt));
	teardown();
}

static void run_reset(const void *arg)
{
	unsigned int resets;

	setup();
	vt_start(&vt, 1ull << TDEV_F_A, TDEV_QUEUES);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	TEST_ASSERT(roundtrip(0, true), "no answer before the reset");
	resets = t.resets;
	vt_set_status(&vt, 0);
	TEST_ASSERT(t.resets == resets + 1, "device reset op not called");
	TEST_ASSERT(vt_status(&vt) == 0, "status");
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
		    "config vector");
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2) == 0, "queue_select");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_GF, 4) == 0, "driver features");
	for (unsigned int q = 0; q < TDEV_QUEUES; q++) {
		vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0 &&
			    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == TDEV_QUEUE_SIZE &&
			    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8) == 0 &&
			    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 8) == 0 &&
			    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
			    "queue %u not reset", q);
	}
	TEST_ASSERT(vt_isr(&vt) == 0 && vt_intx(&vt) == 0, "ISR/INTx after reset");
	/* And usable again from scratch. */
	vt_start(&vt, 0, 1);
	TEST_ASSERT(roundtrip(0, true), "no answer after the reset");
	teardown();
}

static void run_queue_config(const void *arg)
{
	setup();
	TEST_ASSERT(vt_negotiate(&vt, VERSION_1) & VIRTIO_CONFIG_S_FEATURES_OK, "negotiate");
	/* A queue that does not exist: size 0, writes ignored. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, TDEV_QUEUES);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 0, "queue_size of none");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0, "enabled a ghost");

	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_NOFF, 2) == 1, "queue_notify_off");
	/* Size: only a smaller power of two sticks. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 12);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == TDEV_QUEUE_SIZE, "size 12");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 2 * TDEV_QUEUE_SIZE);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == TDEV_QUEUE_SIZE, "size up");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 8, "size 8");
	/* Vectors outside the MSI-X table read back NO_VECTOR. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, TDEV_QUEUES + 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR, "vec");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, TDEV_QUEUES);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2) == TDEV_QUEUES, "last vec");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 0x1234);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_MSIX, 2) == VIRTIO_MSI_NO_VECTOR, "cfg vec");
	/* Addresses: 4-byte halves and 8-byte accesses; wrong widths are ignored. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x123456789abcdef0ull);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 4) == 0x9abcdef0u &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCHI, 4) == 0x12345678u, "split");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO + 1, 1, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8) == 0x123456789abcdef0ull,
		    "a 2-byte write into a 4-byte field took effect");
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 2) == 0, "2-byte read");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_STATUS, 2, 0);
	TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_FEATURES_OK, "a 2-byte status write reset");
	/* Once enabled, the queue's size and addresses are fixed. */
	vt_queue_setup(&vt, 1, 8);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 4);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 8 &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 4) == (uint32_t)vt.q[1].used,
		    "enabled queue changed");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1, "disabled by 0");
	TEST_ASSERT(!(vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET), "needs reset");
	/* Enabling rings outside RAM is a violation. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, VT_RAM_BYTES);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0, "enabled outside RAM");
	TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET, "no NEEDS_RESET");
	TEST_ASSERT(stats().violations == 1 && stats().last_violation, "violation not counted");
	teardown();
}

static void run_notify_ioeventfd(const void *arg)
{
	const struct device_ioeventfd *io;
	uint64_t addr, moved;

	setup();
	for (unsigned int q = 0; q < TDEV_QUEUES; q++) {
		io = fake_ioeventfd_find(&f, vt.bar4 + VIRTIO_PCI_NOTIFY_OFF + 4 * q, false);
		TEST_ASSERT(io && io->len == 2 && !io->datamatch && !io->pio, "queue %u ioeventfd", q);
	}
	vt_start(&vt, 0, TDEV_QUEUES);
	for (unsigned int q = 0; q < TDEV_QUEUES; q++) {
		unsigned int signals = f.ioeventfd_signals, notified = t.notified[q];

		TEST_ASSERT(roundtrip(q, true), "queue %u: no answer through the main loop", q);
		TEST_ASSERT(f.ioeventfd_signals == signals + 1 && t.notified[q] == notified + 1,
			    "queue %u: not through the ioeventfd", q);
	}
	TEST_ASSERT(stats().notifies == 2 && stats().trapped_notifies == 0, "counters");

	/* The guest moves BAR 4: the ioeventfds follow. */
	addr = vt.bar4;
	moved = addr + (1ull << 20);
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	TEST_ASSERT(!fake_ioeventfd_find(&f, addr + VIRTIO_PCI_NOTIFY_OFF, false),
		    "ioeventfd left behind while memory decoding is off");
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_4, 4, (uint32_t)moved);
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_5, 4, moved >> 32);
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	vt.bar4 = moved;
	TEST_ASSERT(pci_dev_bar_addr(virtio_pci_pci_dev(t.vp), 4) == moved, "BAR did not move");
	TEST_ASSERT(fake_ioeventfd_find(&f, moved + VIRTIO_PCI_NOTIFY_OFF + 4, false) &&
		    f.nr_ioeventfds == TDEV_QUEUES, "ioeventfds did not move");
	TEST_ASSERT(roundtrip(1, true), "no answer after the move");
	teardown();
}

static void run_notify_trapped(const void *arg)
{
	const struct fake_ctx_config fc = { .ram_bytes = VT_RAM_BYTES, .pci = true };

	setup();
	vt_start(&vt, 0, 1);
	/* A 4-byte write is not the ioeventfd's: it reaches the device and runs inline. */
	(void)vt_add(&vt, 0, (const struct vt_buf[]){ { BUF_GPA, 1, true } }, 1);
	fake_mmio_write(&f, vt_notify_addr(&vt, 0), 4, 0);
	TEST_ASSERT(vt_used(&vt, 0, NULL, NULL), "no answer to a trapped notify");
	TEST_ASSERT(stats().trapped_notifies == 1, "not counted as trapped");
	teardown();

	/* Without ioeventfds at all (KVM refused): every notify traps. */
	fake_ctx_init(&f, &fc);
	memset(&t, 0, sizeof(t));
	TEST_OK(virtio_pci_create(&f.ctx, &tdev_ops, &t, &t.vp));
	f.fail_ioeventfd = -ENOSPC;
	vt_find(&f, &vt);
	TEST_ASSERT(f.nr_ioeventfds == 0, "ioeventfd registered despite the failure");
	vt_start(&vt, 0, 1);
	TEST_ASSERT(roundtrip(0, true) && stats().trapped_notifies == 1, "2-byte notify not trapped");
	f.fail_ioeventfd = 0;
	teardown();
}

static void run_not_live(const void *arg)
{
	uint8_t st;

	setup();
	st = vt_negotiate(&vt, VERSION_1);
	vt_queue_setup(&vt, 0, 0);
	/* Before DRIVER_OK nothing is processed; DRIVER_OK picks up what waits. */
	TEST_ASSERT(!roundtrip(0, true) && t.notified[0] == 0, "processed before DRIVER_OK");
	vt_set_status(&vt, st | VIRTIO_CONFIG_S_DRIVER_OK);
	TEST_ASSERT(vt_used(&vt, 0, NULL, NULL), "DRIVER_OK did not process the waiting chain");
	/* Bus mastering off: the device keeps its hands off guest memory. */
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	TEST_ASSERT(!roundtrip(0, true), "processed without bus mastering");
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	vt_kick(&vt, 0);
	TEST_ASSERT(vt_used(&vt, 0, NULL, NULL), "not processed once bus mastering is back");
	teardown();
}

static void run_interrupts(const void *arg)
{
	setup();
	vt_start(&vt, 0, TDEV_QUEUES);
	/* INTx: the ISR queue bit, the line high until the ISR is read. */
	TEST_ASSERT(roundtrip(0, true), "no answer");
	TEST_ASSERT(vt_intx(&vt) == 1, "INTx not raised");
	TEST_ASSERT(vt_isr(&vt) == ISR_QUEUE, "ISR");
	TEST_ASSERT(vt_intx(&vt) == 0 && vt_isr(&vt) == 0, "ISR read did not acknowledge");
	virtio_pci_lock(t.vp);
	virtio_pci_config_changed(t.vp);
	virtio_pci_unlock(t.vp);
	TEST_ASSERT(vt_intx(&vt) == 1 && vt_isr(&vt) == VIRTIO_PCI_ISR_CONFIG, "config INTx");
	/* NO_INTERRUPT in the avail flags: none. */
	{
		uint16_t fl = htole16(VRING_AVAIL_F_NO_INTERRUPT);

		vt_mem_write(&vt, vt.q[0].avail, &fl, 2);
		TEST_ASSERT(roundtrip(0, true) && vt_intx(&vt) == 0 && vt_isr(&vt) == 0,
			    "interrupt despite VRING_AVAIL_F_NO_INTERRUPT");
		fl = 0;
		vt_mem_write(&vt, vt.q[0].avail, &fl, 2);
	}

	/* MSI-X: each queue's vector, the config vector, NO_VECTOR for none. */
	vt_msix_enable(&vt, TDEV_QUEUES + 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	TEST_ASSERT(roundtrip(0, true) && vt_msix_fired(&vt, 1) == 1 && vt_msix_fired(&vt, 2) == 0,
		    "queue 0's vector");
	TEST_ASSERT(roundtrip(1, true) && vt_msix_fired(&vt, 2) == 1, "queue 1's vector");
	TEST_ASSERT(vt_isr(&vt) == 0 && vt_intx(&vt) == 0, "ISR/INTx used with MSI-X");
	virtio_pci_lock(t.vp);
	virtio_pci_config_changed(t.vp);
	virtio_pci_unlock(t.vp);
	TEST_ASSERT(vt_msix_fired(&vt, 0) == 1, "config vector");
	TEST_ASSERT(vt_isr(&vt) == VIRTIO_PCI_ISR_CONFIG && vt_intx(&vt) == 0,
		    "ISR config bit with MSI-X (§4.1.4.5.1)");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
	TEST_ASSERT(roundtrip(1, true), "no answer");
	for (unsigned int v = 0; v <= TDEV_QUEUES; v++)
		TEST_ASSERT(vt_msix_fired(&vt, v) == 0, "vector %u fired for NO_VECTOR", v);
	TEST_ASSERT(stats().interrupt_errors == 0, "interrupt errors");
	teardown();
}

static void run_violation(const void *arg)
{
	uint16_t ahead = htole16(3 * TDEV_QUEUE_SIZE);
	unsigned int notified;
	uint8_t gen;

	setup();
	vt_start(&vt, 0, TDEV_QUEUES);
	gen = (uint8_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	/* An avail index far ahead of what was consumed. */
	vt_mem_write(&vt, vt.q[0].avail + 2, &ahead, 2);
	vt_kick(&vt, 0);
	TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET, "no NEEDS_RESET");
	TEST_ASSERT(vt_isr(&vt) & VIRTIO_PCI_ISR_CONFIG, "no config interrupt");
	TEST_ASSERT(stats().violations == 1 && stats().last_violation, "not counted");
	TEST_ASSERT(!virtio_pci_live(t.vp), "still live");
	/* The device keeps answering its configuration; queues stay stopped. */
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_NUMQ, 2) == TDEV_QUEUES &&
		    vt_device_read(&vt, 0, 1) == 0x10 &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_CFGGENERATION, 1) == gen, "config");
	notified = t.notified[1];
	TEST_ASSERT(!roundtrip(1, true) && t.notified[1] == notified, "queue 1 ran after NEEDS_RESET");
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET, "NEEDS_RESET cleared by a write");
	/* Only a reset heals it. */
	vt_start(&vt, 0, TDEV_QUEUES);
	TEST_ASSERT(roundtrip(0, true) && roundtrip(1, true), "not healed by a reset");
	teardown();
}

/* The PCI configuration access capability: cap.bar/offset/length, then pci_cfg_data. */
static uint32_t window(unsigned int bar, uint32_t off, uint32_t len, bool write, uint32_t val)
{
	unsigned int c = vt.cap[VIRTIO_PCI_CAP_PCI_CFG];

	fake_cfg_write(&f, vt.slot, c + VIRTIO_PCI_CAP_BAR, 1, bar);
	fake_cfg_write(&f, vt.slot, c + VIRTIO_PCI_CAP_OFFSET, 4, off);
	fake_cfg_write(&f, vt.slot, c + VIRTIO_PCI_CAP_LENGTH, 4, len);
	/* The config access itself: the window's length, or 2 bytes for an invalid one. */
	unsigned int size = len == 1 || len == 2 || len == 4 ? len : 2;

	if (write) {
		fake_cfg_write(&f, vt.slot, c + 16, size, val);
		return 0;
	}
	return fake_cfg_read(&f, vt.slot, c + 16, size);
}

static void run_pci_cfg(const void *arg)
{
	unsigned int c;
	uint32_t common;

	setup();
	c = vt.cap[VIRTIO_PCI_CAP_PCI_CFG];
	common = vt.off[VIRTIO_PCI_CAP_COMMON_CFG];
	/* Works with memory decoding off: that is what it is for. */
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, 0);
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0) == TDEV_QUEUES,
		    "num_queues through the window");
	TEST_ASSERT(fake_cfg_read(&f, vt.slot, c + VIRTIO_PCI_CAP_BAR, 1) == 4 &&
		    fake_cfg_read(&f, vt.slot, c + VIRTIO_PCI_CAP_OFFSET, 4) ==
		    common + VIRTIO_PCI_COMMON_NUMQ &&
		    fake_cfg_read(&f, vt.slot, c + VIRTIO_PCI_CAP_LENGTH, 4) == 2, "fields read back");
	window(4, common + VIRTIO_PCI_COMMON_STATUS, 1, true, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_STATUS, 1, false, 0) ==
		    VIRTIO_CONFIG_S_ACKNOWLEDGE, "status through the window");
	window(4, common + VIRTIO_PCI_COMMON_DFSELECT, 4, true, 1);
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_DF, 4, false, 0) == 1, "features hi");
	TEST_ASSERT(window(4, vt.off[VIRTIO_PCI_CAP_DEVICE_CFG] + 4, 4, false, 0) == 0x17161514u,
		    "device config through the window");
	/* Invalid windows are ignored: nothing read (data unchanged), nothing written. */
	(void)window(4, common + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0);
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_Q_SELECT, 3, false, 0) == TDEV_QUEUES,
		    "length 3 read");
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_NUMQ + 1, 2, false, 0) == TDEV_QUEUES,
		    "unaligned read");
	TEST_ASSERT((window(1, 0, 4, false, 0) & 0xffff) == TDEV_QUEUES, "BAR 1 read");
	TEST_ASSERT((window(4, VIRTIO_PCI_BAR_BYTES, 4, false, 0) & 0xffff) == TDEV_QUEUES,
		    "outside the BAR");
	TEST_ASSERT(window(4, VIRTIO_PCI_BAR_BYTES - 2, 8, false, 0) == TDEV_QUEUES, "length 8");
	window(4, common + VIRTIO_PCI_COMMON_STATUS, 3, true, 0);
	window(5, common + VIRTIO_PCI_COMMON_STATUS, 1, true, 0);
	window(4, common + VIRTIO_PCI_COMMON_STATUS + VIRTIO_PCI_BAR_BYTES, 1, true, 0);
	TEST_ASSERT(window(4, common + VIRTIO_PCI_COMMON_STATUS, 1, false, 0) ==
		    VIRTIO_CONFIG_S_ACKNOWLEDGE, "an invalid window wrote");
	/* The header stays pci's (read-only) and the capability's id/padding too. */
	TEST_ASSERT(fake_cfg_read(&f, vt.slot, c + VIRTIO_PCI_CAP_CFG_TYPE, 1) ==
		    VIRTIO_PCI_CAP_PCI_CFG, "cfg_type");
	fake_cfg_write(&f, vt.slot, c + 5, 1, 0x77);
	TEST_ASSERT(fake_cfg_read(&f, vt.slot, c + 5, 1) == 0, "cap.id writable");
	/* A notify through the window processes the queue. */
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	vt_start(&vt, 0, 1);
	(void)vt_add(&vt, 0, (const struct vt_buf[]){ { BUF_GPA, 1, true } }, 1);
	window(4, vt.off[VIRTIO_PCI_CAP_NOTIFY_CFG], 2, true, 0);
	TEST_ASSERT(vt_used(&vt, 0, NULL, NULL), "notify through the window");
	teardown();
}

/* Offsets in the transport's blob, after its header and pci's blob (virtio_pci_state.c). */
#define BLOB_STATUS      0u
#define BLOB_FEATURES    11u
#define BLOB_CFG_VECTOR  19u
#define BLOB_Q0_SIZE     37u

static size_t blob_base(const uint8_t *blob)
{
	return 12 + (blob[8] | blob[9] << 8 | (size_t)blob[10] << 16 | (size_t)blob[11] << 24);
}

/* What the driver sees of the transport, for comparing before and after. */
struct seen {
	uint8_t status, gen;
	uint64_t gf;
	uint16_t cfg_vec, qsize[TDEV_QUEUES], qvec[TDEV_QUEUES], qen[TDEV_QUEUES];
	uint64_t qdesc[TDEV_QUEUES], qavail[TDEV_QUEUES], qused[TDEV_QUEUES];
	uint32_t win_off;
};

static void look(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->status = vt_status(&vt);
	s->gen = (uint8_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	s->gf = vt_common_read(&vt, VIRTIO_PCI_COMMON_GF, 4);
	s->cfg_vec = (uint16_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_MSIX, 2);
	for (unsigned int q = 0; q < TDEV_QUEUES; q++) {
		vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		s->qsize[q] = (uint16_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2);
		s->qvec[q] = (uint16_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2);
		s->qen[q] = (uint16_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2);
		s->qdesc[q] = vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8);
		s->qavail[q] = vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_AVAILLO, 8);
		s->qused[q] = vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 8);
	}
	s->win_off = fake_cfg_read(&f, vt.slot, vt.cap[VIRTIO_PCI_CAP_PCI_CFG] + VIRTIO_PCI_CAP_OFFSET, 4);
}

static void expect_refused(const uint8_t *blob, size_t len, const struct seen *now,
			   const char *what)
{
	struct seen after;

	TEST_ASSERT(virtio_pci_restore(t.vp, blob, len) == -EINVAL, "%s accepted", what);
	look(&after);
	TEST_ASSERT(!memcmp(&after, now, sizeof(after)), "%s changed the device", what);
}

static void run_save_restore(const void *arg)
{
	static uint8_t rings[TDEV_QUEUES * VT_RING_STRIDE];
	struct vtest saved_vt;
	struct seen before, now, after;
	uint8_t small[4], *blob, *bad;
	size_t len = sizeof(small), need, base;

	setup();
	vt_start(&vt, 1ull << TDEV_F_A, TDEV_QUEUES);
	vt_msix_enable(&vt, TDEV_QUEUES + 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	TEST_ASSERT(roundtrip(0, true) && roundtrip(0, true) && roundtrip(1, true), "answers");
	(void)window(4, 0x1234, 2, false, 0);
	virtio_pci_lock(t.vp);
	virtio_pci_config_bump(t.vp);
	virtio_pci_unlock(t.vp);
	look(&before);

	TEST_ASSERT(virtio_pci_save(t.vp, small, &len) == -ENOSPC && len > sizeof(small),
		    "short buffer: len %zu", len);
	need = len;
	blob = malloc(need + 1);
	bad = malloc(need + 1);
	TEST_ASSERT(blob && bad, "malloc");
	TEST_OK(virtio_pci_save(t.vp, blob, &len));
	TEST_ASSERT(len == need, "saved %zu of %zu", len, need);
	/* The guest's memory goes with a snapshot: keep the rings and the driver's view. */
	vt_mem_read(&vt, VT_RING_BASE_GPA, rings, sizeof(rings));
	saved_vt = vt;

	/* Something else entirely, then back. */
	vt_start(&vt, 0, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 4);
	look(&now);
	TEST_ASSERT(memcmp(&now, &before, sizeof(now)), "nothing changed");

	/* Refused, leaving the device as it is. */
	base = blob_base(blob);
	expect_refused(blob, len - 1, &now, "a truncated blob");
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_refused(bad, len + 1, &now, "a trailing byte");
	bad[0] ^= 1;
	expect_refused(bad, len, &now, "a bad magic");
	memcpy(bad, blob, len);
	bad[base + BLOB_STATUS] = VIRTIO_CONFIG_S_DRIVER_OK;
	expect_refused(bad, len, &now, "DRIVER_OK without FEATURES_OK");
	memcpy(bad, blob, len);
	bad[base + BLOB_FEATURES] |= 1u << TDEV_F_NOT;
	expect_refused(bad, len, &now, "a feature not offered");
	memcpy(bad, blob, len);
	bad[base + BLOB_FEATURES + 4] = 0;
	expect_refused(bad, len, &now, "FEATURES_OK without VERSION_1");
	memcpy(bad, blob, len);
	bad[base + BLOB_CFG_VECTOR] = TDEV_QUEUES + 1;
	expect_refused(bad, len, &now, "a vector outside the table");
	memcpy(bad, blob, len);
	bad[base + BLOB_Q0_SIZE] = 12;
	expect_refused(bad, len, &now, "queue size 12");
	memcpy(bad, blob, len);
	bad[base + BLOB_Q0_SIZE + 2 + 5] = 0xff;   /* desc address far outside RAM */
	expect_refused(bad, len, &now, "an enabled ring outside RAM");
	srand(9);
	for (unsigned int i = 0; i < 2000; i++) {
		size_t n = (size_t)rand() % (len + 1);

		for (size_t j = 0; j < n; j++)
			bad[j] = (uint8_t)rand();
		if (n >= 8)
			memcpy(bad, blob, 8);   /* past the header, into the fields */
		TEST_ASSERT(virtio_pci_restore(t.vp, bad, n) == -EINVAL, "random blob %u", i);
	}

	TEST_OK(virtio_pci_restore(t.vp, blob, len));
	vt_mem_write(&vt, VT_RING_BASE_GPA, rings, sizeof(rings));
	vt = saved_vt;
	look(&after);
	TEST_ASSERT(!memcmp(&after, &before, sizeof(after)), "restored state differs");
	TEST_ASSERT(roundtrip(0, true) && vt_msix_fired(&vt, 0) == 0, "queue 0 after restore");
	TEST_ASSERT(roundtrip(1, true) && vt_msix_fired(&vt, 2) >= 1, "queue 1's vector after");
	free(bad);
	free(blob);
	teardown();
}

static void run_create_errors(const void *arg)
{
	const struct fake_ctx_config no_pci = { .ram_bytes = VT_RAM_BYTES };
	struct virtio_device_ops bad;
	struct virtio_pci *vp = NULL;

	fake_ctx_init(&f, &no_pci);
	TEST_ASSERT(virtio_pci_create(&f.ctx, &tdev_ops, &t, &vp) == -ENODEV, "without PCI");
	fake_ctx_destroy(&f);
	virtio_pci_destroy(NULL);

	setup();
	bad = tdev_ops;
	bad.nr_queues = 0;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "no queues");
	bad = tdev_ops;
	bad.nr_queues = VIRTIO_PCI_MAX_QUEUES + 1;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "too many queues");
	bad = tdev_ops;
	bad.queue_size = 12;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "queue size 12");
	bad = tdev_ops;
	bad.config_len = VIRTIO_PCI_MAX_CONFIG + 1;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "config too long");
	bad = tdev_ops;
	bad.config_read = NULL;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "no config_read");
	bad = tdev_ops;
	bad.features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "EVENT_IDX offered");
	bad = tdev_ops;
	bad.queue_notify = NULL;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &bad, &t, &vp) == -EINVAL, "no queue_notify");
	/* A failing service: the error comes back and nothing is left behind. */
	f.fail_watch_fd = -ENOSPC;
	TEST_ASSERT(virtio_pci_create(&f.ctx, &tdev_ops, &t, &vp) == -ENOSPC, "watch_fd failure");
	f.fail_watch_fd = 0;
	TEST_ASSERT(vp == NULL, "out set on failure");
	teardown();
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "caps", run_caps, NULL },
		{ "features", run_features, NULL },
		{ "reset", run_reset, NULL },
		{ "queue-config", run_queue_config, NULL },
		{ "notify-ioeventfd", run_notify_ioeventfd, NULL },
		{ "notify-trapped", run_notify_trapped, NULL },
		{ "not-live", run_not_live, NULL },
		{ "interrupts", run_interrupts, NULL },
		{ "violation", run_violation, NULL },
		{ "pci-cfg", run_pci_cfg, NULL },
		{ "save-restore", run_save_restore, NULL },
		{ "create-errors", run_create_errors, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
