// SPDX-License-Identifier: MIT
/*
 * A hostile guest against virtio-mem over virtio-pci (devices/virtio_mem.h,
 * devices/virtio_pci.h, devices/pci.h) on a fake machine (tests/fake_ctx.h,
 * no KVM), driven by the tests' guest-side driver (tests/vtest.h) and by
 * raw accesses beside it. Every case checks that memvmm neither crashes nor
 * hangs, that the device answers or stops its queue as the spec says, that
 * the host's meters (mem_resident) see no memory behind unplugged blocks,
 * and that nothing leaks (fds, GSI routes, irqfds, ioeventfds).
 */
#include "tests/test_virtio_hostile.h"

#include <dirent.h>
#include <endian.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "mem/machine.h"
#include "tests/e2e.h"
#include "tests/test.h"

#define CFG(field) offsetof(struct virtio_mem_config, field)

struct fake_ctx f;
struct vtest vt;
void *dev;
uint64_t base;

static __thread uint64_t rng_state = 0x9e3779b97f4a7c15ull;   /* per thread: no race */

uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

void setup(void)
{
	const struct fake_ctx_config fc = {
		.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = HOTPLUG_BYTES, .pci = true,
	};
	struct vmem_config c;
	unsigned int region;

	fake_ctx_init(&f, &fc);
	fake_ctx_add_hotplug(&f, &mem_backend_memfd, &region);
	base = f.mem.region[region].gpa;
	c = (struct vmem_config){
		.region = region, .block_size = BLOCK, .requested = REQUESTED,
		.populate = MEM_POPULATE_AUTO,
	};
	TEST_OK(virtio_mem_device_ops.create(&f.ctx, &c, &dev));
	vt_find(&f, &vt);
	vt_start(&vt, 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, 1);
}

void teardown(void)
{
	virtio_mem_device_ops.destroy(dev);
	fake_ctx_destroy(&f);
}

struct vmem_status status(void)
{
	struct vmem_status st;

	virtio_mem_get_status(dev, &st);
	return st;
}

uint64_t resident(uint64_t off, uint64_t len)
{
	uint64_t r;

	TEST_OK(mem_resident(&f.mem, base + off, len, &r));
	return r;
}

uint64_t resident_unplugged(void)
{
	return resident(0, HOTPLUG_BYTES) - status().plugged;
}

int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = -1;   /* the directory's own fd */

	TEST_ASSERT(d, "opendir /proc/self/fd");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct pci_dev *pdev(void)
{
	return virtio_pci_pci_dev(virtio_mem_transport(dev));
}

uint64_t bar4_now(void)
{
	return pci_dev_bar_addr(pdev(), VIRTIO_PCI_BAR);
}

void chain_add(const struct vt_buf *b, unsigned int n)
{
	struct vt_queue *q = &vt.q[0];
	uint16_t v;

	TEST_ASSERT(n >= 1 && n <= QSIZE, "%u descriptors", n);
	for (unsigned int i = 0; i < n; i++) {
		struct vring_desc d = {
			.addr = htole64(b[i].gpa),
			.len = htole32(b[i].len),
			.flags = htole16((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
					 (b[i].write ? VRING_DESC_F_WRITE : 0)),
			.next = htole16((uint16_t)(i + 1)),
		};

		vt_mem_write(&vt, q->desc + 16ull * i, &d, sizeof(d));
	}
	v = 0;
	vt_mem_write(&vt, q->avail + 4 + 2ull * (q->avail_idx % q->size), &v, 2);
	atomic_thread_fence(memory_order_release);
	q->avail_idx++;
	v = htole16(q->avail_idx);
	vt_mem_write(&vt, q->avail + 2, &v, 2);
}

uint16_t send_chain(const struct vt_buf *b, unsigned int n, uint64_t resp_gpa)
{
	struct virtio_mem_resp resp;
	uint32_t len;

	chain_add(b, n);
	vt_kick(&vt, 0);
	if (!vt_used(&vt, 0, NULL, &len) || len != sizeof(resp))
		return RESP_NONE;
	TEST_OK(mem_read(&f.mem, resp_gpa, &resp, sizeof(resp)));
	return le16toh(resp.type);
}

uint16_t request_at(uint16_t type, uint64_t addr, uint16_t nb, uint64_t req_gpa,
		    uint64_t resp_gpa)
{
	struct virtio_mem_req r = { .type = htole16(type) };
	struct virtio_mem_resp resp;
	const struct vt_buf b[2] = {
		{ .gpa = req_gpa, .len = sizeof(r) },
		{ .gpa = resp_gpa, .len = sizeof(resp), .write = true },
	};

	r.u.plug.addr = htole64(addr);
	r.u.plug.nb_blocks = htole16(nb);
	TEST_OK(mem_write(&f.mem, req_gpa, &r, sizeof(r)));
	return send_chain(b, 2, resp_gpa);
}

uint16_t request(uint16_t type, uint64_t addr, uint16_t nb)
{
	return request_at(type, addr, nb, REQ_GPA, RESP_GPA);
}

uint16_t plug(uint64_t off, uint64_t len)
{
	return request(VIRTIO_MEM_REQ_PLUG, base + off, (uint16_t)(len / BLOCK));
}

uint16_t unplug(uint64_t off, uint64_t len)
{
	return request(VIRTIO_MEM_REQ_UNPLUG, base + off, (uint16_t)(len / BLOCK));
}

void restart(void)
{
	vt_start(&vt, 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, 1);
	TEST_ASSERT(!status().needs_reset, "still NEEDS_RESET after a driver reset");
	TEST_ASSERT(request(VIRTIO_MEM_REQ_STATE, base, 1) == VIRTIO_MEM_RESP_ACK,
		    "no STATE answer after a driver reset");
}

void expect_violation(const char *what)
{
	struct vmem_status st = status();

	TEST_ASSERT(st.needs_reset && st.last_violation, "%s: no violation (status %#x)", what,
		    st.driver_status);
}

void check_services(const char *when)
{
	TEST_ASSERT(f.routes_used <= NR_VECTORS && f.irqfds_assigned <= NR_VECTORS &&
		    f.nr_ioeventfds <= 1, "%s: %u routes, %u irqfds, %u ioeventfds", when,
		    f.routes_used, f.irqfds_assigned, f.nr_ioeventfds);
	TEST_ASSERT(!f.route_freed_with_irqfd && !f.bad_route_frees && !f.bad_irqfd_deassigns,
		    "%s: route freed under its irqfd %u, bad frees %u, bad deassigns %u", when,
		    f.route_freed_with_irqfd, f.bad_route_frees, f.bad_irqfd_deassigns);
	if (f.nr_ioeventfds)
		TEST_ASSERT(bar4_now() && fake_ioeventfd_find(&f, bar4_now() + VIRTIO_PCI_NOTIFY_OFF,
							      false),
			    "%s: ioeventfd at 0x%llx, BAR 4 at 0x%llx", when,
			    (unsigned long long)f.ioeventfd[0].addr,
			    (unsigned long long)bar4_now());
}

/* ---- cases ---- */

/*
 * Rings and buffers in unplugged hotplug memory: the device refuses them
 * (a violation), and never touches those blocks itself: touching them
 * would back them again on the host (and on hugetlb with an empty pool,
 * kill memvmm with SIGBUS).
 */
static void run_unplugged_memory(const void *arg)
{
	struct vt_queue *q = &vt.q[0];
	uint64_t hole;

	setup();
	hole = base + 32 * MiB;   /* an unplugged block */
	TEST_ASSERT(plug(0, 8 * MiB) == VIRTIO_MEM_RESP_ACK, "plug");
	TEST_ASSERT(resident_unplugged() == 0, "start");

	/* The request's readable part in an unplugged block (left as it is: zeros). */
	{
		const struct vt_buf b[2] = {
			{ .gpa = hole, .len = sizeof(struct virtio_mem_req) },
			{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
		};

		TEST_ASSERT(send_chain(b, 2, RESP_GPA) == RESP_NONE,
			    "a request read from unplugged memory was answered");
	}
	expect_violation("request in unplugged memory");
	TEST_ASSERT(resident_unplugged() == 0, "reading the request backed %llu bytes",
		    (unsigned long long)resident_unplugged());
	restart();

	/* The response buffer in an unplugged block. */
	TEST_ASSERT(request_at(VIRTIO_MEM_REQ_STATE, base, 1, REQ_GPA, hole) == RESP_NONE,
		    "a response was written into unplugged memory");
	expect_violation("response in unplugged memory");
	TEST_ASSERT(resident_unplugged() == 0, "writing the response backed %llu bytes",
		    (unsigned long long)resident_unplugged());
	restart();

	/* The response buffer in the very block the request unplugs. */
	TEST_ASSERT(request_at(VIRTIO_MEM_REQ_UNPLUG, base + 6 * MiB, 1, REQ_GPA,
			       base + 6 * MiB + 0x100) == RESP_NONE,
		    "a response was written into the block it unplugged");
	expect_violation("response in the unplugged block");
	TEST_ASSERT(status().plugged == 6 * MiB, "the unplug itself happened (plugged %llu)",
		    (unsigned long long)status().plugged);
	TEST_ASSERT(resident_unplugged() == 0, "the block just unplugged is backed again: %llu",
		    (unsigned long long)resident_unplugged());
	restart();

	/* Rings in an unplugged block: queue_enable refused. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	(void)vt_negotiate(&vt, 1ull << VIRTIO_F_VERSION_1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, hole);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, hole + 0x4000);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 8, hole + 0x8000);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0,
		    "rings in unplugged memory enabled");
	expect_violation("rings in unplugged memory");
	TEST_ASSERT(resident_unplugged() == 0, "enabling backed %llu bytes",
		    (unsigned long long)resident_unplugged());

	/* Rings in a plugged block, which the driver then unplugs: the next use is a violation. */
	vt_set_status(&vt, 0);
	(void)vt_negotiate(&vt, 1ull << VIRTIO_F_VERSION_1);
	*q = (struct vt_queue){ .size = QSIZE, .desc = base + 4 * MiB,
				.avail = base + 4 * MiB + 0x4000, .used = base + 4 * MiB + 0x8000 };
	TEST_OK(mem_zero(&f.mem, q->desc, 0x10000));
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, q->desc);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, q->avail);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 8, q->used);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	vt_set_status(&vt, vt_status(&vt) | VIRTIO_CONFIG_S_DRIVER_OK);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1 &&
		    !status().needs_reset, "rings in plugged hotplug memory are fine");
	TEST_ASSERT(plug(8 * MiB, BLOCK) == VIRTIO_MEM_RESP_ACK, "a request with rings there");
	/*
	 * Unplug the block holding the rings: the used ring write after it must
	 * not back it again (the driver here does not look: reading would).
	 */
	{
		struct virtio_mem_req r = { .type = htole16(VIRTIO_MEM_REQ_UNPLUG) };
		const struct vt_buf b[2] = {
			{ .gpa = REQ_GPA, .len = sizeof(r) },
			{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
		};

		r.u.unplug.addr = htole64(base + 4 * MiB);
		r.u.unplug.nb_blocks = htole16(1);
		vt_mem_write(&vt, REQ_GPA, &r, sizeof(r));
		chain_add(b, 2);
		vt_kick(&vt, 0);
	}
	TEST_ASSERT(status().plugged == 6 * MiB, "plugged %llu", (unsigned long long)status().plugged);
	TEST_ASSERT(resident_unplugged() == 0, "the rings' block is backed again: %llu",
		    (unsigned long long)resident_unplugged());
	expect_violation("rings in a block unplugged under them");
	teardown();
}

/* Writes a vCPU makes to BAR 4's notify area wherever BAR 4 is now, until told to stop. */
struct notifier {
	atomic_bool stop;
	atomic_ulong sent;
};

static void *notify_thread(void *arg)
{
	struct notifier *n = arg;

	while (!atomic_load(&n->stop)) {
		uint64_t b = bar4_now();

		/* 4 bytes: no ioeventfd matches, the write traps and is processed here. */
		if (b)
			fake_mmio_write(&f, b + VIRTIO_PCI_NOTIFY_OFF, 4, 0);
		(void)fake_mmio_read(&f, b + VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, 1);
		atomic_fetch_add(&n->sent, 1);
	}
	return NULL;
}

static void notifier_start(struct notifier *n, pthread_t *t)
{
	atomic_init(&n->stop, false);
	atomic_init(&n->sent, 0);
	TEST_ASSERT(!pthread_create(t, NULL, notify_thread, n), "pthread_create");
}

static void notifier_stop(struct notifier *n, pthread_t t)
{
	atomic_store(&n->stop, true);
	TEST_ASSERT(!pthread_join(t, NULL), "pthread_join");
}

/* Put BAR 4 at addr (two dword writes, low then high, as Linux does). */
static void bar4_set(uint64_t addr)
{
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_4, 4, (uint32_t)addr);
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_5, 4, (uint32_t)(addr >> 32));
}

static void command(uint16_t cmd)
{
	fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, cmd);
}

/*
 * conf1 garbage at every offset and size of the device, the bridge and
 * empty slots, while a vCPU thread notifies wherever BAR 4 is; then a
 * machine reset makes the device as new.
 */
static void run_conf1_garbage(const void *arg)
{
	static const unsigned int sizes[] = { 1, 2, 4 };
	struct notifier n;
	pthread_t t;
	int fds;

	setup();
	fds = open_fds();
	TEST_ASSERT(plug(0, 8 * MiB) == VIRTIO_MEM_RESP_ACK, "plug");
	notifier_start(&n, &t);
	for (unsigned int round = 0; round < 60000; round++) {
		uint64_t r = rnd(), v = rnd();
		unsigned int size = sizes[r % 3], reg = (unsigned int)(r >> 8) & 0xff;
		unsigned int slot = (r >> 20) % 8 ? vt.slot : (unsigned int)(r >> 24) % 4;

		reg &= ~(size - 1);
		if ((r >> 30) % 3)
			fake_cfg_write(&f, slot, reg, size, (uint32_t)v);
		else
			(void)fake_cfg_read(&f, slot, reg, size);
		if (round % 4096 == 0)
			check_services("conf1 garbage");
	}
	notifier_stop(&n, t);
	check_services("after conf1 garbage");
	printf("# %lu vCPU accesses meanwhile\n", (unsigned long)atomic_load(&n.sent));

	virtio_mem_device_ops.reset(dev);
	TEST_ASSERT(f.routes_used == 0 && f.irqfds_assigned == 0 && f.nr_ioeventfds == 0,
		    "after a machine reset: %u routes, %u irqfds, %u ioeventfds", f.routes_used,
		    f.irqfds_assigned, f.nr_ioeventfds);
	TEST_ASSERT(status().plugged == 0 && resident(0, HOTPLUG_BYTES) == 0, "machine reset");
	vt_find(&f, &vt);
	vt_start(&vt, 0, 1);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK && f.nr_ioeventfds == 1,
		    "the device after a machine reset");
	teardown();
	TEST_ASSERT(open_fds() <= fds, "fds: %d before, %d after", fds, open_fds());
}

/* BAR 4 moved onto other claims, RAM, 0, the sizing pattern, the top; notifications meanwhile. */
static void run_bar_moves(const void *arg)
{
	struct {
		uint64_t addr;
		bool mapped;
		const char *what;
	} moves[] = {
		{ 0, false, "onto the MSI-X BAR" },
		{ 0x200000, true, "onto boot RAM" },
		{ 0, false, "to 0" },
		{ UINT64_MAX & ~0x3fffull, false, "to the sizing pattern" },
		{ 0xfffffffe00000000ull, false, "above 2^52" },
		{ PCI_MAX_BAR_ADDR - VIRTIO_PCI_BAR_BYTES, true, "to the last place below 2^52" },
		{ 0x7ffffc000ull, true, "to 0x7_ffffc000 (low half all ones)" },
		{ PCI_MAX_BAR_ADDR, false, "to 2^52" },
		{ 0, true, "back home" },
	};
	uint64_t home, msix;
	struct notifier n;
	pthread_t t;

	setup();
	home = bar4_now();
	msix = pci_dev_bar_addr(pdev(), VIRTIO_PCI_MSIX_BAR);
	moves[0].addr = msix;
	moves[8].addr = home;
	notifier_start(&n, &t);
	for (unsigned int i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		bar4_set(moves[i].addr);
		TEST_ASSERT(bar4_now() == (moves[i].mapped ? moves[i].addr : 0),
			    "%s: BAR 4 at 0x%llx", moves[i].what, (unsigned long long)bar4_now());
		check_services(moves[i].what);
		TEST_ASSERT(f.nr_ioeventfds == moves[i].mapped, "%s: %u ioeventfds", moves[i].what,
			    f.nr_ioeventfds);
		/* Memory decoding off and on again at the new place. */
		command(PCI_COMMAND_MASTER);
		TEST_ASSERT(!bar4_now() && !f.nr_ioeventfds, "%s: decoding off", moves[i].what);
		command(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		check_services(moves[i].what);
	}
	/* BAR 4 below 4G, the MSI-X BAR moved onto it: refused; BAR 4 stays. */
	bar4_set(msix + 16 * MiB);
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_1, 4, (uint32_t)(msix + 16 * MiB));
	TEST_ASSERT(!pci_dev_bar_addr(pdev(), VIRTIO_PCI_MSIX_BAR) &&
		    bar4_now() == msix + 16 * MiB, "MSI-X BAR onto BAR 4");
	fake_cfg_write(&f, vt.slot, PCI_BASE_ADDRESS_1, 4, (uint32_t)msix);
	bar4_set(home);
	notifier_stop(&n, t);
	TEST_ASSERT(pci_dev_bar_addr(pdev(), VIRTIO_PCI_MSIX_BAR) == msix, "MSI-X BAR back");
	vt.bar4 = home;
	restart();

	/* Bus mastering off: a kick is not processed (no DMA); on again, the next kick is. */
	command(PCI_COMMAND_MEMORY);
	{
		struct virtio_mem_req r = { .type = htole16(VIRTIO_MEM_REQ_STATE) };
		const struct vt_buf b[2] = {
			{ .gpa = REQ_GPA, .len = sizeof(r) },
			{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
		};

		r.u.state.addr = htole64(base);
		r.u.state.nb_blocks = htole16(1);
		vt_mem_write(&vt, REQ_GPA, &r, sizeof(r));
		TEST_ASSERT(send_chain(b, 2, RESP_GPA) == RESP_NONE, "processed without bus master");
		command(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		vt_kick(&vt, 0);
		TEST_ASSERT(vt_used(&vt, 0, NULL, NULL), "not processed after bus master came back");
	}
	teardown();
}

/* The common configuration, the device configuration, ISR and the whole BAR, abused. */
static void run_common_cfg(const void *arg)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	uint64_t desc;
	uint8_t st;

	setup();
	/* Queue size: 0, not a power of two, above the maximum: ignored. */
	vt_set_status(&vt, 0);
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	for (unsigned int i = 0; i < 4; i++) {
		static const uint16_t bad[] = { 0, 3, 2 * QSIZE, 0xffff };

		vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, bad[i]);
		TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == QSIZE,
			    "queue size %u taken", bad[i]);
	}
	/* Vectors outside the table read back NO_VECTOR. */
	for (uint32_t v = NR_VECTORS; v < 0x10000; v += 0x1001) {
		vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, v);
		vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, v);
		TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR &&
			    vt_common_read(&vt, VIRTIO_PCI_COMMON_MSIX, 2) == VIRTIO_MSI_NO_VECTOR,
			    "vector %u kept", v);
	}
	/* No such queue: size 0, writes go nowhere. */
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 5);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 0 &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0, "queue 5");
	/* DRIVER_OK before FEATURES_OK, NEEDS_RESET from the driver: not taken. */
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		      VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET);
	st = vt_status(&vt);
	TEST_ASSERT(!(st & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)),
		    "status %#x", st);
	/* FEATURES_OK without VERSION_1: refused. */
	TEST_ASSERT(!(vt_negotiate(&vt, 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE) &
		      VIRTIO_CONFIG_S_FEATURES_OK), "FEATURES_OK without VERSION_1");
	/* FEATURES_OK, then other features and FEATURES_OK again: the first set stays. */
	st = vt_negotiate(&vt, 1ull << VIRTIO_F_VERSION_1);
	TEST_ASSERT(st & VIRTIO_CONFIG_S_FEATURES_OK, "FEATURES_OK");
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_GF, 4, 0xffffffff);
	vt_set_status(&vt, st);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_GF, 4) == 0, "features changed after "
		    "FEATURES_OK");
	/* Clearing bits without writing 0: ignored. */
	vt_set_status(&vt, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	TEST_ASSERT(vt_status(&vt) == st, "bits cleared: %#x", vt_status(&vt));
	/* Enable twice, then move the rings: the first addresses stay. */
	vt_queue_setup(&vt, 0, 0);
	desc = vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x7000);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	TEST_ASSERT(vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8) == desc &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_SIZE, 2) == QSIZE &&
		    vt_common_read(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1, "enabled queue changed");
	vt_set_status(&vt, st | VIRTIO_CONFIG_S_DRIVER_OK);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug after all that");
	/* The device configuration is read-only. */
	for (unsigned int off = 0; off < sizeof(struct virtio_mem_config); off++)
		fake_mmio_write(&f, vt.bar4 + vt.off[VIRTIO_PCI_CAP_DEVICE_CFG] + off, 1, 0xff);
	TEST_ASSERT(vt_device_read(&vt, CFG(plugged_size), 8) == BLOCK &&
		    vt_device_read(&vt, CFG(block_size), 8) == BLOCK &&
		    vt_device_read(&vt, CFG(addr), 8) == base, "device configuration written");
	/* Anything anywhere in BAR 4 (and past it), any size. */
	for (unsigned int round = 0; round < 200000; round++) {
		uint64_t r = rnd();
		unsigned int size = sizes[r % 4];
		uint64_t off = (r >> 8) % (VIRTIO_PCI_BAR_BYTES + 64);

		if ((r >> 40) % 2)
			fake_mmio_write(&f, vt.bar4 + off, size, rnd());
		else
			(void)fake_mmio_read(&f, vt.bar4 + off, size);
	}
	check_services("BAR 4 garbage");
	restart();
	TEST_ASSERT(status().plugged == BLOCK && resident_unplugged() == 0, "after BAR 4 garbage");
	teardown();
}

/* The PCI configuration access capability with a bad bar, offset or length, and a good one. */
static void run_pci_cfg_window(const void *arg)
{
	static const struct { uint8_t bar; uint32_t off, len; } bad[] = {
		{ 5, 0, 4 }, { 0, 0, 4 }, { 4, 0xfffffff0u, 4 }, { 4, VIRTIO_PCI_BAR_BYTES, 1 },
		{ 4, VIRTIO_PCI_BAR_BYTES - 2, 4 }, { 4, 0, 3 }, { 4, 0, 8 }, { 4, 0, 0 },
		{ 4, 1, 2 }, { 4, 2, 4 }, { 0xff, 0x3000, 2 },
	};
	unsigned int c;

	setup();
	c = vt.cap[VIRTIO_PCI_CAP_PCI_CFG];
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_cfg_write(&f, vt.slot, c + 4, 1, bad[i].bar);
		fake_cfg_write(&f, vt.slot, c + 8, 4, bad[i].off);
		fake_cfg_write(&f, vt.slot, c + 12, 4, bad[i].len);
		fake_cfg_write(&f, vt.slot, c + 16, 4, 0);
		(void)fake_cfg_read(&f, vt.slot, c + 16, 4);
		TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_DRIVER_OK, "window %u reached the BAR", i);
	}
	/* Every offset and size of the capability, random values. */
	for (unsigned int round = 0; round < 20000; round++) {
		uint64_t r = rnd();
		unsigned int size = 1u << (r % 3), reg = c + (unsigned int)(r >> 8) % 20;

		reg &= ~(size - 1);
		fake_cfg_write(&f, vt.slot, reg, size, (uint32_t)rnd());
		(void)fake_cfg_read(&f, vt.slot, reg, size);
	}
	/* A notification through the window: processed under pci's config lock, answered. */
	fake_cfg_write(&f, vt.slot, c + 4, 1, VIRTIO_PCI_BAR);
	fake_cfg_write(&f, vt.slot, c + 8, 4, VIRTIO_PCI_NOTIFY_OFF);
	fake_cfg_write(&f, vt.slot, c + 12, 4, 2);
	restart();
	{
		struct virtio_mem_req r = { .type = htole16(VIRTIO_MEM_REQ_PLUG) };
		const struct vt_buf b[2] = {
			{ .gpa = REQ_GPA, .len = sizeof(r) },
			{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
		};

		r.u.plug.addr = htole64(base);
		r.u.plug.nb_blocks = htole16(2);
		vt_mem_write(&vt, REQ_GPA, &r, sizeof(r));
		chain_add(b, 2);
		fake_cfg_write(&f, vt.slot, c + 16, 2, 0);
		TEST_ASSERT(vt_used(&vt, 0, NULL, NULL) && status().plugged == 2 * BLOCK,
			    "notify through the window");
	}
	/* Status 0 through the window resets the device. */
	fake_cfg_write(&f, vt.slot, c + 8, 4, VIRTIO_PCI_COMMON_STATUS);
	fake_cfg_write(&f, vt.slot, c + 12, 4, 1);
	fake_cfg_write(&f, vt.slot, c + 16, 1, 0);
	TEST_ASSERT(vt_status(&vt) == 0, "reset through the window");
	check_services("PCI_CFG window");
	teardown();
}

/* Requests every rule refuses: ERROR, and the device goes on. */
static void run_requests(const void *arg)
{
	static const struct { uint16_t type; uint64_t off; uint16_t nb; const char *what; } err[] = {
		{ VIRTIO_MEM_REQ_PLUG, 0, 65535, "65535 blocks" },
		{ VIRTIO_MEM_REQ_STATE, 0, 65535, "STATE of 65535 blocks" },
		{ VIRTIO_MEM_REQ_UNPLUG, HOTPLUG_BYTES - BLOCK, 2, "past the region" },
		{ VIRTIO_MEM_REQ_PLUG, REQUESTED + 256 * MiB, 1, "past the usable region" },
		{ VIRTIO_MEM_REQ_PLUG, 4096, 1, "unaligned" },
		{ VIRTIO_MEM_REQ_PLUG, 0, 0, "zero blocks" },
		{ 7, 0, 1, "unknown type" },
		{ 0xffff, 0, 1, "type 0xffff" },
	};
	static const uint64_t addrs[] = { UINT64_MAX & ~(BLOCK - 1), UINT64_MAX - BLOCK * 2 + 1,
					  0, MACHINE_MMIO_HOLE_START, 1ull << 63 };

	setup();
	for (unsigned int i = 0; i < sizeof(err) / sizeof(err[0]); i++)
		TEST_ASSERT(request(err[i].type, base + err[i].off, err[i].nb) ==
			    VIRTIO_MEM_RESP_ERROR, "%s not ERROR", err[i].what);
	for (unsigned int i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		for (unsigned int nb = 1; nb; nb = nb == 1 ? 65535 : 0)
			for (uint16_t t = VIRTIO_MEM_REQ_PLUG; t <= VIRTIO_MEM_REQ_STATE; t++)
				TEST_ASSERT(t == VIRTIO_MEM_REQ_UNPLUG_ALL ||
					    request(t, addrs[i], (uint16_t)nb) == VIRTIO_MEM_RESP_ERROR,
					    "type %u at 0x%llx x %u", t,
					    (unsigned long long)addrs[i], nb);
	/* Request and response in the same bytes (one readable, one writable descriptor). */
	TEST_ASSERT(request_at(VIRTIO_MEM_REQ_PLUG, base, 1, REQ_GPA, REQ_GPA) ==
		    VIRTIO_MEM_RESP_ACK && status().plugged == BLOCK, "same buffer");
	/* More than requested: NACK; the response inside the range it plugs: refused first. */
	TEST_ASSERT(request(VIRTIO_MEM_REQ_PLUG, base + BLOCK, REQUESTED / BLOCK) ==
		    VIRTIO_MEM_RESP_NACK, "beyond requested");
	TEST_ASSERT(request_at(VIRTIO_MEM_REQ_PLUG, base + 8 * BLOCK, 1, REQ_GPA,
			       base + 8 * BLOCK) == RESP_NONE, "response inside the plugged range");
	expect_violation("response inside the range it plugs");
	TEST_ASSERT(status().plugged == BLOCK && resident_unplugged() == 0, "after it");
	restart();
	TEST_ASSERT(status().errors >= sizeof(err) / sizeof(err[0]) && status().nacks == 1,
		    "counters: %llu errors, %llu nacks", (unsigned long long)status().errors,
		    (unsigned long long)status().nacks);
	teardown();
}

/* Chains: 64 descriptors fine, 65 not; responses that cannot be written; loops. */
static void run_chains(const void *arg)
{
	struct vt_buf b[MAX_CHAIN + 1];
	struct virtio_mem_req r = { .type = htole16(VIRTIO_MEM_REQ_STATE) };
	unsigned int i;
	uint8_t st;

	setup();
	r.u.state.addr = htole64(base);
	r.u.state.nb_blocks = htole16(1);
	vt_mem_write(&vt, REQ_GPA, &r, sizeof(r));
	/* The request one byte per descriptor, empty ones, then the response: 64 in all. */
	for (i = 0; i < sizeof(r); i++)
		b[i] = (struct vt_buf){ .gpa = REQ_GPA + i, .len = 1 };
	for (; i < MAX_CHAIN - 1; i++)
		b[i] = (struct vt_buf){ .gpa = 0xdead0000, .len = 0 };
	b[i] = (struct vt_buf){ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp),
				.write = true };
	TEST_ASSERT(send_chain(b, MAX_CHAIN, RESP_GPA) == VIRTIO_MEM_RESP_ACK, "64 descriptors");
	/* 65: a violation. */
	b[MAX_CHAIN] = b[MAX_CHAIN - 1];
	b[MAX_CHAIN - 1] = (struct vt_buf){ .gpa = RESP_GPA, .len = 0, .write = true };
	TEST_ASSERT(send_chain(b, MAX_CHAIN + 1, RESP_GPA) == RESP_NONE, "65 descriptors");
	expect_violation("65 descriptors");
	restart();
	/* The response in the MMIO hole, above RAM, too short, wrapping. */
	{
		static const struct vt_buf bad[] = {
			{ MACHINE_MMIO_HOLE_START, 8, true }, { VT_RAM_BYTES - 4, 8, true },
			{ RESP_GPA, 2, true }, { UINT64_MAX - 3, 8, true }, { RESP_GPA, 8, false },
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const struct vt_buf c[2] = { { REQ_GPA, sizeof(r), false }, bad[i] };

			TEST_ASSERT(send_chain(c, 2, RESP_GPA) == RESP_NONE, "bad response %u", i);
			expect_violation("bad response buffer");
			restart();
		}
	}
	/* A descriptor whose next is itself; an indirect one without the feature. */
	{
		struct vring_desc d = { .addr = htole64(REQ_GPA), .len = htole32(sizeof(r)),
					.flags = htole16(VRING_DESC_F_NEXT), .next = 0 };
		const struct vt_buf one = { REQ_GPA, sizeof(r), false };

		chain_add(&one, 1);
		vt_mem_write(&vt, vt.q[0].desc, &d, sizeof(d));
		vt_kick(&vt, 0);
		expect_violation("a loop in next");
		restart();
		d.flags = htole16(VRING_DESC_F_INDIRECT);
		d.len = htole32(16);
		chain_add(&one, 1);
		vt_mem_write(&vt, vt.q[0].desc, &d, sizeof(d));
		vt_kick(&vt, 0);
		expect_violation("indirect without the feature");
		restart();
	}
	/* All three rings at one address: the device's used writes land in the avail ring. */
	vt_set_status(&vt, 0);
	st = vt_negotiate(&vt, 1ull << VIRTIO_F_VERSION_1);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_DESCLO, 8, vt.q[0].desc);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, vt.q[0].desc);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_USEDLO, 8, vt.q[0].desc);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	vt_set_status(&vt, st | VIRTIO_CONFIG_S_DRIVER_OK);
	for (i = 0; i < 3 * QSIZE; i++) {
		uint16_t v = (uint16_t)rnd();

		vt_mem_write(&vt, vt.q[0].desc + 2, &v, 2);
		fake_mmio_write(&f, vt.bar4 + VIRTIO_PCI_NOTIFY_OFF, 4, 0);
		if (status().needs_reset)
			vt_set_status(&vt, 0);
	}
	check_services("chains");
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0, "chains backed hotplug memory");
	teardown();
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "unplugged-memory", run_unplugged_memory, NULL },
		{ "conf1-garbage", run_conf1_garbage, NULL },
		{ "bar-moves", run_bar_moves, NULL },
		{ "common-cfg", run_common_cfg, NULL },
		{ "msix", run_msix, NULL },
		{ "pci-cfg-window", run_pci_cfg_window, NULL },
		{ "requests", run_requests, NULL },
		{ "chains", run_chains, NULL },
		{ "requested-race", run_requested_race, NULL },
		{ "reset-race", run_reset_race, NULL },
		{ "machine-reset-race", run_machine_reset_race, NULL },
		{ "restore-garbage", run_restore_garbage, NULL },
		{ "cycles", run_cycles, NULL },
		{ "rlimit-nofile", run_rlimit_nofile, NULL },
		{ "ctl", run_ctl, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
