// SPDX-License-Identifier: MIT
/*
 * virtio-mem (devices/virtio_mem.h) on a fake machine (tests/fake_ctx.h,
 * no KVM) with a memfd or anonymous hotplug region, driven through the
 * PCI transport by the tests' guest-side driver (tests/vtest.h): plug is
 * population (the host's own meters grow by the range), unplug gives the
 * memory back and a re-plugged block reads zero, every ERROR, NACK beyond
 * the requested size and on a population failure, UNPLUG_ALL, STATE, the
 * usable region, requested-size changes, driver and machine resets,
 * violations, create()'s checks and save/restore.
 */
#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "devices/virtio_mem.h"
#include "devices/virtio_pci.h"
#include "mem/populate.h"
#include "tests/e2e.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vtest.h"

#define MiB              (1ull << 20)
#define HOTPLUG_BYTES    (1024 * MiB)
#define BLOCK            (2 * MiB)
#define REQUESTED        (16 * MiB)
#define REQ_GPA          VT_DATA_GPA
#define RESP_GPA         (VT_DATA_GPA + 0x1000)
#define RESP_NONE        0xffffu
#define ST_BLOCK_BYTES   512u   /* st_blocks counts 512-byte units */

#define CFG(field) offsetof(struct virtio_mem_config, field)

static struct fake_ctx f;
static struct vtest vt;
static void *dev;
static unsigned int region;
static uint64_t base;   /* the region's gpa */

static void setup_with(const struct mem_backend_ops *backend, enum mem_populate_strategy pop)
{
	const struct fake_ctx_config fc = {
		.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = HOTPLUG_BYTES, .pci = true,
	};
	struct vmem_config c;

	fake_ctx_init(&f, &fc);
	fake_ctx_add_hotplug(&f, backend, &region);
	base = f.mem.region[region].gpa;
	c = (struct vmem_config){
		.region = region, .block_size = BLOCK, .requested = REQUESTED, .populate = pop,
	};
	TEST_OK(virtio_mem_device_ops.create(&f.ctx, &c, &dev));
	vt_find(&f, &vt);
	vt_start(&vt, 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, 1);
}

static void setup(const void *backend)
{
	setup_with(backend, MEM_POPULATE_AUTO);
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

static uint64_t cfg64(size_t off)
{
	return vt_device_read(&vt, (unsigned int)off, 8);
}

static uint8_t generation(void)
{
	return (uint8_t)vt_common_read(&vt, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
}

/* Send one request with these buffer lengths; the response type (RESP_NONE: none written). */
static uint16_t request_raw(const struct virtio_mem_req *r, uint32_t out_len, uint32_t in_len,
			    uint16_t *state, uint32_t *used_len)
{
	struct virtio_mem_resp resp;
	const struct vt_buf b[2] = {
		{ .gpa = REQ_GPA, .len = out_len },
		{ .gpa = RESP_GPA, .len = in_len, .write = true },
	};
	uint32_t len;

	memset(&resp, 0xff, sizeof(resp));
	vt_mem_write(&vt, REQ_GPA, r, sizeof(*r));
	vt_mem_write(&vt, RESP_GPA, &resp, sizeof(resp));
	(void)vt_add(&vt, 0, b, 2);
	vt_kick(&vt, 0);
	TEST_ASSERT(vt_used(&vt, 0, NULL, &len), "request type %u not answered (device status %#x: %s)",
		    le16toh(r->type), vt_status(&vt), status().last_violation ? status().last_violation : "-");
	if (used_len)
		*used_len = len;
	vt_mem_read(&vt, RESP_GPA, &resp, sizeof(resp));
	if (state)
		*state = le16toh(resp.u.state.state);
	return le16toh(resp.type);
}

static uint16_t request(uint16_t type, uint64_t addr, uint64_t nb, uint16_t *state)
{
	struct virtio_mem_req r = { .type = htole16(type) };
	uint32_t len;
	uint16_t t;

	r.u.plug.addr = htole64(addr);
	r.u.plug.nb_blocks = htole16((uint16_t)nb);
	t = request_raw(&r, sizeof(r), sizeof(struct virtio_mem_resp), state, &len);
	TEST_ASSERT(len == sizeof(struct virtio_mem_resp), "used length %u", len);
	return t;
}

static uint16_t plug(uint64_t off, uint64_t bytes)
{
	return request(VIRTIO_MEM_REQ_PLUG, base + off, bytes / BLOCK, NULL);
}

static uint16_t unplug(uint64_t off, uint64_t bytes)
{
	return request(VIRTIO_MEM_REQ_UNPLUG, base + off, bytes / BLOCK, NULL);
}

static uint16_t state_of(uint64_t off, uint64_t bytes)
{
	uint16_t st = RESP_NONE, t = request(VIRTIO_MEM_REQ_STATE, base + off, bytes / BLOCK, &st);

	TEST_ASSERT(t == VIRTIO_MEM_RESP_ACK, "STATE answered %u", t);
	return st;
}

/* Host memory behind [off, off + bytes) of the region, by mem_resident (mincore). */
static uint64_t resident(uint64_t off, uint64_t bytes)
{
	uint64_t r;

	TEST_OK(mem_resident(&f.mem, base + off, bytes, &r));
	return r;
}

/* The host's other meter where there is one: the memfd's allocated blocks. */
static uint64_t file_bytes(void)
{
	struct stat st;
	int fd = f.mem.region[region].fd;

	if (fd < 0)
		return UINT64_MAX;
	TEST_ASSERT(fstat(fd, &st) == 0, "fstat");
	return (uint64_t)st.st_blocks * ST_BLOCK_BYTES;
}

/* ---- cases ---- */

static void run_plug(const void *backend)
{
	const uint64_t off = 4 * MiB, len = 8 * MiB;
	uint64_t r0, f0, pattern = 0x1122334455667788ull, v = 1;
	uint8_t gen;

	setup(backend);
	TEST_ASSERT(cfg64(CFG(block_size)) == BLOCK && cfg64(CFG(addr)) == base &&
		    cfg64(CFG(region_size)) == HOTPLUG_BYTES &&
		    cfg64(CFG(requested_size)) == REQUESTED && cfg64(CFG(plugged_size)) == 0,
		    "configuration");
	r0 = resident(0, HOTPLUG_BYTES);
	f0 = file_bytes();
	gen = generation();
	TEST_ASSERT(plug(off, len) == VIRTIO_MEM_RESP_ACK, "PLUG not ACKed");
	/* ACKed means backed: the host's meters grew by the range before the guest touched it. */
	TEST_ASSERT(resident(off, len) == len, "plugged range %llu of %llu bytes resident",
		    (unsigned long long)resident(off, len), (unsigned long long)len);
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == r0 + len, "resident outside the range changed");
	if (f0 != UINT64_MAX)
		TEST_ASSERT(file_bytes() >= f0 + len, "memfd blocks %llu",
			    (unsigned long long)file_bytes());
	TEST_ASSERT(cfg64(CFG(plugged_size)) == len && generation() != gen, "plugged_size");
	TEST_ASSERT(!(vt_isr(&vt) & VIRTIO_PCI_ISR_CONFIG), "a plug sent a config interrupt");
	TEST_ASSERT(state_of(off, len) == VIRTIO_MEM_STATE_PLUGGED, "STATE");
	TEST_ASSERT(status().plugged == len && status().plugs == 1 && status().resident >= len &&
		    status().populate_used != MEM_POPULATE_AUTO, "status");

	/* The guest writes, unplugs: the memory goes back and a re-plug reads zero. */
	vt_mem_write(&vt, base + off + BLOCK, &pattern, sizeof(pattern));
	TEST_ASSERT(unplug(off, len) == VIRTIO_MEM_RESP_ACK, "UNPLUG not ACKed");
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == r0, "unplugged memory still resident");
	if (f0 != UINT64_MAX)
		TEST_ASSERT(file_bytes() == f0, "memfd still holds %llu bytes",
			    (unsigned long long)file_bytes());
	TEST_ASSERT(cfg64(CFG(plugged_size)) == 0 && status().unplugs == 1, "after unplug");
	TEST_ASSERT(plug(off, len) == VIRTIO_MEM_RESP_ACK, "re-PLUG");
	vt_mem_read(&vt, base + off + BLOCK, &v, sizeof(v));
	TEST_ASSERT(v == 0, "re-plugged block reads %#llx", (unsigned long long)v);
	teardown();
}

static void run_errors(const void *arg)
{
	struct virtio_mem_req r = { .type = htole16(VIRTIO_MEM_REQ_PLUG) };
	uint64_t errors;
	uint16_t st;

	setup(NULL);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	errors = status().errors;
	for (uint16_t type = VIRTIO_MEM_REQ_PLUG; type <= VIRTIO_MEM_REQ_STATE; type++) {
		if (type == VIRTIO_MEM_REQ_UNPLUG_ALL)
			continue;
		TEST_ASSERT(request(type, base + BLOCK, 0, &st) == VIRTIO_MEM_RESP_ERROR,
			    "type %u: zero blocks", type);
		TEST_ASSERT(request(type, base + BLOCK + 4096, 1, &st) == VIRTIO_MEM_RESP_ERROR,
			    "type %u: unaligned", type);
		TEST_ASSERT(request(type, base - BLOCK, 1, &st) == VIRTIO_MEM_RESP_ERROR,
			    "type %u: below the region", type);
		TEST_ASSERT(request(type, base + cfg64(CFG(usable_region_size)), 1, &st) ==
			    VIRTIO_MEM_RESP_ERROR, "type %u: past the usable region", type);
		TEST_ASSERT(request(type, base + cfg64(CFG(usable_region_size)) - BLOCK, 2, &st) ==
			    VIRTIO_MEM_RESP_ERROR, "type %u: across its end", type);
		TEST_ASSERT(request(type, UINT64_MAX - BLOCK + 1, 0xffff, &st) ==
			    VIRTIO_MEM_RESP_ERROR, "type %u: wrapping", type);
	}
	TEST_ASSERT(plug(0, 2 * BLOCK) == VIRTIO_MEM_RESP_ERROR, "plugging a plugged block");
	TEST_ASSERT(unplug(0, 2 * BLOCK) == VIRTIO_MEM_RESP_ERROR, "unplugging an unplugged block");
	TEST_ASSERT(request(7, base, 1, NULL) == VIRTIO_MEM_RESP_ERROR, "unknown type");
	r.u.plug.addr = htole64(base + BLOCK);
	r.u.plug.nb_blocks = htole16(1);
	TEST_ASSERT(request_raw(&r, sizeof(r) - 1, sizeof(struct virtio_mem_resp), NULL, NULL) ==
		    VIRTIO_MEM_RESP_ERROR, "short request");
	TEST_ASSERT(status().errors == errors + 22, "errors %llu",
		    (unsigned long long)(status().errors - errors));
	/* Nothing changed on the way. */
	TEST_ASSERT(status().plugged == BLOCK && state_of(BLOCK, BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "an ERROR request changed blocks");
	TEST_ASSERT(!status().needs_reset, "an ERROR is no violation");

	/* No room for the response: given back empty, and the queue stops. */
	{
		uint32_t len = 1;
		uint16_t t = request_raw(&r, sizeof(r), sizeof(struct virtio_mem_resp) - 1, NULL, &len);

		TEST_ASSERT(t == RESP_NONE && len == 0, "answered without room (len %u)", len);
		TEST_ASSERT(status().needs_reset && status().unanswered == 1 &&
			    status().last_violation, "no violation");
		TEST_ASSERT(vt_status(&vt) & VIRTIO_CONFIG_S_NEEDS_RESET, "no NEEDS_RESET");
		TEST_ASSERT(status().plugged == BLOCK, "plugged anyway");
		/* Stopped until a reset; then it answers again. */
		vt_start(&vt, 0, 1);
		TEST_ASSERT(state_of(0, 2 * BLOCK) == VIRTIO_MEM_STATE_MIXED, "after the reset");
	}
	teardown();
}

static void run_nack(const void *arg)
{
	setup(NULL);
	/* Beyond the requested size. */
	TEST_ASSERT(plug(0, REQUESTED) == VIRTIO_MEM_RESP_ACK, "plug up to requested");
	TEST_ASSERT(plug(REQUESTED, BLOCK) == VIRTIO_MEM_RESP_NACK, "plug beyond requested");
	TEST_ASSERT(status().nacks == 1 && status().last_nack_err == -ENOSPC &&
		    status().plugged == REQUESTED, "NACK status");
	TEST_ASSERT(resident(REQUESTED, BLOCK) == 0, "NACKed block resident");
	teardown();

	/* A population that cannot work (fallocate on anonymous memory): NACK, nothing kept. */
	setup_with(&mem_backend_anon, MEM_POPULATE_FALLOCATE);
	TEST_ASSERT(plug(0, 4 * BLOCK) == VIRTIO_MEM_RESP_NACK, "population failure ACKed");
	TEST_ASSERT(status().last_nack_err < 0 && status().nacks == 1 && status().plugged == 0,
		    "NACK status: err %d", status().last_nack_err);
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0 && cfg64(CFG(plugged_size)) == 0,
		    "memory kept after a NACK");
	TEST_ASSERT(state_of(0, 4 * BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED, "blocks plugged");
	TEST_ASSERT(!status().needs_reset, "a NACK is no violation");
	teardown();
}

static void run_unplug_all(const void *arg)
{
	uint64_t usable;

	setup(NULL);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK && plug(4 * BLOCK, 3 * BLOCK) ==
		    VIRTIO_MEM_RESP_ACK && plug(100 * BLOCK, BLOCK) == VIRTIO_MEM_RESP_ACK,
		    "plugs");
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 5 * BLOCK, "resident before");
	usable = cfg64(CFG(usable_region_size));
	TEST_ASSERT(request(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL) == VIRTIO_MEM_RESP_ACK, "ACK");
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0 && cfg64(CFG(plugged_size)) == 0 &&
		    status().unplug_alls == 1, "after UNPLUG_ALL");
	TEST_ASSERT(state_of(0, 128 * BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED, "STATE");
	TEST_ASSERT(cfg64(CFG(usable_region_size)) == usable, "usable changed with requested same");
	/* Nothing plugged: ACK again. */
	TEST_ASSERT(request(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL) == VIRTIO_MEM_RESP_ACK, "again");
	teardown();
}

static void run_state(const void *arg)
{
	setup(NULL);
	TEST_ASSERT(plug(2 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	TEST_ASSERT(state_of(2 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_STATE_PLUGGED, "plugged");
	TEST_ASSERT(state_of(0, 2 * BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED, "unplugged");
	TEST_ASSERT(state_of(BLOCK, 2 * BLOCK) == VIRTIO_MEM_STATE_MIXED, "mixed, front");
	TEST_ASSERT(state_of(3 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_STATE_MIXED, "mixed, back");
	TEST_ASSERT(state_of(0, 10 * BLOCK) == VIRTIO_MEM_STATE_MIXED, "mixed, around");
	TEST_ASSERT(status().states == 5, "states counted");
	teardown();
}

static void run_usable(const void *arg)
{
	const uint64_t extent = VMEM_USABLE_EXTENT_BYTES;
	uint8_t gen;

	setup(NULL);
	TEST_ASSERT(cfg64(CFG(usable_region_size)) == REQUESTED + extent, "initial usable");
	TEST_ASSERT(plug(REQUESTED + extent, BLOCK) == VIRTIO_MEM_RESP_ERROR, "past usable");
	TEST_ASSERT(plug(REQUESTED + extent - BLOCK, BLOCK) == VIRTIO_MEM_RESP_ACK &&
		    unplug(REQUESTED + extent - BLOCK, BLOCK) == VIRTIO_MEM_RESP_ACK,
		    "last usable block");
	/* Grows with requested, with a config interrupt. */
	gen = generation();
	TEST_OK(virtio_mem_set_requested(dev, 512 * MiB));
	TEST_ASSERT(cfg64(CFG(requested_size)) == 512 * MiB &&
		    cfg64(CFG(usable_region_size)) == 512 * MiB + extent, "grown");
	TEST_ASSERT(generation() != gen && (vt_isr(&vt) & VIRTIO_PCI_ISR_CONFIG), "interrupt");
	/* Capped at the region. */
	TEST_OK(virtio_mem_set_requested(dev, HOTPLUG_BYTES));
	TEST_ASSERT(cfg64(CFG(usable_region_size)) == HOTPLUG_BYTES, "capped");
	TEST_ASSERT(plug(HOTPLUG_BYTES - BLOCK, BLOCK) == VIRTIO_MEM_RESP_ACK, "last block");
	/* Lower: usable stays until UNPLUG_ALL, then shrinks. */
	TEST_OK(virtio_mem_set_requested(dev, BLOCK));
	TEST_ASSERT(cfg64(CFG(usable_region_size)) == HOTPLUG_BYTES, "shrunk while plugged");
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_NACK, "plug above requested");
	gen = generation();
	(void)vt_isr(&vt);
	TEST_ASSERT(request(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL) == VIRTIO_MEM_RESP_ACK, "ACK");
	TEST_ASSERT(cfg64(CFG(usable_region_size)) == BLOCK + extent && generation() != gen,
		    "usable after UNPLUG_ALL %llu",
		    (unsigned long long)cfg64(CFG(usable_region_size)));
	TEST_ASSERT(!(vt_isr(&vt) & VIRTIO_PCI_ISR_CONFIG), "UNPLUG_ALL's shrink sent a config interrupt");
	/* Refused sizes. */
	TEST_ASSERT(virtio_mem_set_requested(dev, BLOCK + 4096) == -EINVAL, "unaligned");
	TEST_ASSERT(virtio_mem_set_requested(dev, HOTPLUG_BYTES + BLOCK) == -EINVAL, "too big");
	TEST_ASSERT(cfg64(CFG(requested_size)) == BLOCK, "a refused size changed requested");
	teardown();
}

static void run_requested_msix(const void *arg)
{
	setup(NULL);
	vt_msix_enable(&vt, 2);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	TEST_ASSERT(vt_msix_fired(&vt, 1) == 1 && vt_msix_fired(&vt, 0) == 0, "queue vector only");
	TEST_OK(virtio_mem_set_requested(dev, 64 * MiB));
	TEST_ASSERT(vt_msix_fired(&vt, 0) == 1, "config vector on a new requested size");
	teardown();
}

static void run_resets(const void *arg)
{
	struct virtio_pci_stats ps;

	setup(NULL);
	TEST_ASSERT(plug(0, 4 * BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	/* A driver reset keeps the blocks (§5.15.5). */
	vt_start(&vt, 0, 1);
	TEST_ASSERT(state_of(0, 4 * BLOCK) == VIRTIO_MEM_STATE_PLUGGED &&
		    resident(0, 4 * BLOCK) == 4 * BLOCK && cfg64(CFG(plugged_size)) == 4 * BLOCK,
		    "a driver reset changed blocks");
	/* A machine reset unplugs everything, the requested size stays. */
	TEST_OK(virtio_mem_set_requested(dev, 64 * MiB));
	virtio_mem_device_ops.reset(dev);
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0 && status().plugged == 0 &&
		    status().requested == 64 * MiB && status().usable == 64 * MiB +
		    VMEM_USABLE_EXTENT_BYTES, "after a machine reset");
	virtio_pci_lock(virtio_mem_transport(dev));
	virtio_pci_stats(virtio_mem_transport(dev), &ps);
	virtio_pci_unlock(virtio_mem_transport(dev));
	TEST_ASSERT(ps.status == 0, "transport status %#x after a machine reset", ps.status);
	/* The guest starts over: enable the device again, plug again. */
	vt_find(&f, &vt);
	vt_start(&vt, 0, 1);
	TEST_ASSERT(state_of(0, 4 * BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED, "STATE after");
	TEST_ASSERT(plug(0, 4 * BLOCK) == VIRTIO_MEM_RESP_ACK, "plug after a machine reset");
	teardown();
}

static void run_violation(const void *arg)
{
	uint16_t ahead = htole16(3 * VMEM_QUEUE_SIZE);

	setup(NULL);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	vt_mem_write(&vt, vt.q[0].avail + 2, &ahead, 2);
	vt_kick(&vt, 0);
	TEST_ASSERT(status().needs_reset && status().last_violation, "no violation");
	TEST_ASSERT(cfg64(CFG(plugged_size)) == BLOCK && status().plugged == BLOCK,
		    "config unreadable or blocks changed after the violation");
	vt_start(&vt, 0, 1);
	TEST_ASSERT(!status().needs_reset && state_of(0, BLOCK) == VIRTIO_MEM_STATE_PLUGGED,
		    "after the reset");
	teardown();
}

static void run_create_errors(const void *arg)
{
	const struct fake_ctx_config fc = {
		.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = 256 * MiB, .pci = true,
	};
	struct vmem_config good, c;
	void *d = NULL;

	fake_ctx_init(&f, &fc);
	fake_ctx_add_hotplug(&f, NULL, &region);
	good = (struct vmem_config){ .region = region, .block_size = BLOCK, .requested = 0 };
#define REFUSED(field, value, what) do {                                              \
		c = good;                                                             \
		c.field = value;                                                      \
		TEST_ASSERT(virtio_mem_device_ops.create(&f.ctx, &c, &d) == -EINVAL, what); \
	} while (0)
	REFUSED(region, 0, "boot RAM region");
	REFUSED(region, MEM_MAX_REGIONS, "region out of range");
	REFUSED(block_size, 3 * MiB, "block not a power of two");
	REFUSED(block_size, MiB, "block below 2 MiB");
	REFUSED(block_size, 2 * VMEM_MAX_BLOCK_BYTES, "block above 1 GiB");
	REFUSED(block_size, 512 * MiB, "region not a multiple of the block");
	REFUSED(requested, 256 * MiB + BLOCK, "requested beyond the region");
	REFUSED(requested, BLOCK + 4096, "requested not a block multiple");
	REFUSED(populate, MEM_POPULATE_NR, "unknown populate strategy");
#undef REFUSED
	TEST_ASSERT(f.nr_ioeventfds == 0, "a refused create left ioeventfds");
	/* NULL cfg: the first hotplug region, 2 MiB blocks, nothing requested. */
	TEST_OK(virtio_mem_device_ops.create(&f.ctx, NULL, &d));
	{
		struct vmem_status st;

		virtio_mem_get_status(d, &st);
		TEST_ASSERT(st.gpa == f.mem.region[region].gpa && st.region_size == 256 * MiB &&
			    st.block_size == VMEM_DEFAULT_BLOCK_BYTES && st.requested == 0 &&
			    st.plugged == 0 && st.usable == VMEM_USABLE_EXTENT_BYTES, "defaults");
	}
	virtio_mem_device_ops.destroy(d);
	fake_ctx_destroy(&f);

	/* No PCI host: -ENODEV. */
	{
		const struct fake_ctx_config no_pci = {
			.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = 256 * MiB,
		};

		fake_ctx_init(&f, &no_pci);
		fake_ctx_add_hotplug(&f, NULL, &region);
		good.region = region;
		TEST_ASSERT(virtio_mem_device_ops.create(&f.ctx, &good, &d) == -ENODEV, "no PCI");
		fake_ctx_destroy(&f);
	}
}


/* Offsets in virtio-mem's blob (virtio_mem_state.c): header, five u64s, then the bitmap. */
#define BLOB_BLOCK      24u
#define BLOB_REQUESTED  32u
#define BLOB_USABLE     40u
#define BLOB_MAP        48u

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A restore refused as malformed, leaving the device as it was. */
static void expect_refused(const uint8_t *blob, size_t len, const char *what)
{
	struct vmem_status before = status(), after;

	TEST_ASSERT(virtio_mem_device_ops.restore(dev, blob, len) == -EINVAL, "%s accepted", what);
	after = status();
	TEST_ASSERT(after.plugged == before.plugged && after.requested == before.requested &&
		    after.usable == before.usable && after.resident == before.resident,
		    "%s changed the device", what);
}

static void run_save_restore(const void *arg)
{
	static uint8_t rings[VT_RING_STRIDE];
	struct vtest saved_vt;
	uint8_t small[8], *blob, *bad;
	size_t len = sizeof(small), need;
	int ret;

	setup(NULL);
	TEST_OK(virtio_mem_set_requested(dev, 64 * MiB));
	TEST_ASSERT(plug(0, 2 * BLOCK) == VIRTIO_MEM_RESP_ACK &&
		    plug(10 * BLOCK, BLOCK) == VIRTIO_MEM_RESP_ACK, "plugs");
	TEST_ASSERT(virtio_mem_device_ops.save(dev, small, &len) == -ENOSPC && len > sizeof(small),
		    "short buffer");
	need = len;
	blob = malloc(need + 1);
	bad = malloc(need + 1);
	TEST_ASSERT(blob && bad, "malloc");
	TEST_OK(virtio_mem_device_ops.save(dev, blob, &len));
	TEST_ASSERT(len == need, "saved %zu of %zu", len, need);
	vt_mem_read(&vt, VT_RING_BASE_GPA, rings, sizeof(rings));
	saved_vt = vt;

	/* Move on: other blocks, another requested size. */
	TEST_ASSERT(unplug(0, 2 * BLOCK) == VIRTIO_MEM_RESP_ACK &&
		    plug(20 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_RESP_ACK, "changes");
	TEST_OK(virtio_mem_set_requested(dev, 32 * MiB));

	expect_refused(blob, len - 1, "a truncated blob");
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_refused(bad, len + 1, "a trailing byte");
	bad[1] ^= 1;
	expect_refused(bad, len, "a bad magic");
	memcpy(bad, blob, len);
	put_le64(bad + BLOB_BLOCK, 2 * BLOCK);
	expect_refused(bad, len, "another block size");
	memcpy(bad, blob, len);
	put_le64(bad + BLOB_REQUESTED, HOTPLUG_BYTES + BLOCK);
	expect_refused(bad, len, "requested beyond the region");
	memcpy(bad, blob, len);
	put_le64(bad + BLOB_USABLE, 32 * MiB);
	expect_refused(bad, len, "usable below requested");
	memcpy(bad, blob, len);
	bad[BLOB_MAP + 63] = 0x80;   /* the region's last block, far outside the usable region */
	expect_refused(bad, len, "a plugged block outside the usable region");
	memcpy(bad, blob, len);
	bad[BLOB_MAP + 64 + 4 + 8] ^= 0xff;   /* inside the transport's blob (pci's length) */
	expect_refused(bad, len, "a broken transport blob");

	TEST_OK(virtio_mem_device_ops.restore(dev, blob, len));
	vt_mem_write(&vt, VT_RING_BASE_GPA, rings, sizeof(rings));
	vt = saved_vt;
	TEST_ASSERT(status().plugged == 3 * BLOCK && status().requested == 64 * MiB &&
		    cfg64(CFG(plugged_size)) == 3 * BLOCK, "restored sizes");
	TEST_ASSERT(resident(0, 2 * BLOCK) == 2 * BLOCK && resident(10 * BLOCK, BLOCK) == BLOCK &&
		    resident(20 * BLOCK, 2 * BLOCK) == 0 && resident(0, HOTPLUG_BYTES) == 3 * BLOCK,
		    "blocks not populated/discarded as the blob says");
	TEST_ASSERT(state_of(0, 2 * BLOCK) == VIRTIO_MEM_STATE_PLUGGED &&
		    state_of(20 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_STATE_UNPLUGGED,
		    "STATE after restore");
	free(bad);
	free(blob);
	teardown();

	/* A block the blob says is plugged cannot be populated: refused, nothing kept. */
	setup_with(&mem_backend_anon, MEM_POPULATE_FALLOCATE);
	len = need;
	blob = malloc(need);
	TEST_ASSERT(blob, "malloc");
	TEST_OK(virtio_mem_device_ops.save(dev, blob, &len));
	blob[BLOB_MAP] = 0x3;   /* blocks 0 and 1 */
	ret = virtio_mem_device_ops.restore(dev, blob, len);
	TEST_ASSERT(ret < 0 && ret != -EINVAL, "population failure: restore returned %d", ret);
	TEST_ASSERT(status().plugged == 0 && resident(0, HOTPLUG_BYTES) == 0, "blocks kept");
	free(blob);
	teardown();
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "plug-memfd", run_plug, &mem_backend_memfd },
		{ "plug-anon", run_plug, &mem_backend_anon },
		{ "errors", run_errors, NULL },
		{ "nack", run_nack, NULL },
		{ "unplug-all", run_unplug_all, NULL },
		{ "state", run_state, NULL },
		{ "usable", run_usable, NULL },
		{ "requested-msix", run_requested_msix, NULL },
		{ "resets", run_resets, NULL },
		{ "violation", run_violation, NULL },
		{ "create-errors", run_create_errors, NULL },
		{ "save-restore", run_save_restore, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
