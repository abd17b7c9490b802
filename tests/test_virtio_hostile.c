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
#include <sys/resource.h>

#include "devices/pci.h"
#include "devices/virtio_mem.h"
#include "devices/virtio_pci.h"
#include "mem/machine.h"
#include "tests/e2e.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vtest.h"

#define MiB              (1ull << 20)
#define HOTPLUG_BYTES    (256 * MiB)
#define BLOCK            (2 * MiB)
#define REQUESTED        (64 * MiB)
#define REQ_GPA          VT_DATA_GPA
#define RESP_GPA         (VT_DATA_GPA + 0x1000)
#define RESP_NONE        0xffffu
#define QSIZE            128u    /* VMEM_QUEUE_SIZE */
#define MAX_CHAIN        64u     /* VQ_MAX_CHAIN */
#define NR_VECTORS       2u      /* one queue + config */

#define CFG(field) offsetof(struct virtio_mem_config, field)

static struct fake_ctx f;
static struct vtest vt;
static void *dev;
static unsigned int region;
static uint64_t base;   /* the region's gpa */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static __attribute__((unused)) uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void setup(void)
{
	const struct fake_ctx_config fc = {
		.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = HOTPLUG_BYTES, .pci = true,
	};
	struct vmem_config c;

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

static void teardown(void)
{
	virtio_mem_device_ops.destroy(dev);
	fake_ctx_destroy(&f);
}

static struct vmem_status status(void)
{
	struct vmem_status st;

	virtio_mem_get_status(dev, &st);
	return st;
}

/* Host memory behind [off, off + len) of the region (the backend's own meter). */
static uint64_t resident(uint64_t off, uint64_t len)
{
	uint64_t r;

	TEST_OK(mem_resident(&f.mem, base + off, len, &r));
	return r;
}

/* Memory behind the unplugged blocks: must stay 0 whatever the guest asks the device to do. */
static uint64_t resident_unplugged(void)
{
	return resident(0, HOTPLUG_BYTES) - status().plugged;
}

static __attribute__((unused)) int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	TEST_ASSERT(d, "opendir /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- a driver that writes whatever it likes ---- */

/*
 * Make a chain of n descriptors (n <= QSIZE) available from descriptor 0,
 * in order, and return nothing: the test looks at the used ring.
 */
static void chain_add(const struct vt_buf *b, unsigned int n)
{
	struct vt_queue *q = &vt.q[0];
	uint16_t v;

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

/* Kick, then the response type in RESP_GPA, or RESP_NONE when the chain did not come back. */
static uint16_t send_chain(const struct vt_buf *b, unsigned int n, uint64_t resp_gpa)
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

static uint16_t request_at(uint16_t type, uint64_t addr, uint16_t nb, uint64_t req_gpa,
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

static uint16_t request(uint16_t type, uint64_t addr, uint16_t nb)
{
	return request_at(type, addr, nb, REQ_GPA, RESP_GPA);
}

static uint16_t plug(uint64_t off, uint64_t len)
{
	return request(VIRTIO_MEM_REQ_PLUG, base + off, (uint16_t)(len / BLOCK));
}

static __attribute__((unused)) uint16_t unplug(uint64_t off, uint64_t len)
{
	return request(VIRTIO_MEM_REQ_UNPLUG, base + off, (uint16_t)(len / BLOCK));
}

/* The driver resets the device and starts it again (same rings). */
static void restart(void)
{
	vt_start(&vt, 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, 1);
	TEST_ASSERT(!status().needs_reset, "still NEEDS_RESET after a driver reset");
}

static void expect_violation(const char *what)
{
	struct vmem_status st = status();

	TEST_ASSERT(st.needs_reset && st.last_violation, "%s: no violation (status %#x)", what,
		    st.driver_status);
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

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "unplugged-memory", run_unplugged_memory, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
