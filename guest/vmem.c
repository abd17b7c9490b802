// SPDX-License-Identifier: MIT
/* virtio-mem (virtio 1.2 §5.15) requests and the driver's record of its blocks. */
#include <stddef.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>

#include "cpu.h"
#include "vmem.h"

#define REQUEST_TIMEOUT_MS   120000     /* a plug populates up to a chunk on the host */
#define CONFIG_READ_TRIES    100        /* generation changes before giving up */
#define MAX_NB_BLOCKS        0xffffu    /* nb_blocks is 16 bits */
#define WANTED_FEATURES      (1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE | \
			      1ull << VIRTIO_MEM_F_ACPI_PXM | 1ull << VIRTIO_F_ACCESS_PLATFORM)
#define MAP_WORDS            (VMEM_MAX_BLOCKS / 64)
#define CFG_OFF(field)       offsetof(struct virtio_mem_config, field)
#define HIGHEST_USABLE_ADDR  (1ull << 47)   /* what paging_map() reaches */

/* Not cleared at boot (.noinit): vmem_open() clears what it uses. */
static uint64_t plugged_bits[MAP_WORDS] __attribute__((section(".noinit")));
static uint64_t touched_bits[MAP_WORDS] __attribute__((section(".noinit")));

/* The request and its response, in guest RAM for the device to read and write. */
static struct virtio_mem_req req_buf;
static struct virtio_mem_resp resp_buf;

/* ---- the record ------------------------------------------------------------ */

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* Sets or clears bits [first, first + n); returns how many changed. */
static uint64_t bits_assign(uint64_t *map, uint64_t first, uint64_t n, bool set)
{
	uint64_t changed = 0;

	for (uint64_t i = first; i < first + n; i++) {
		uint64_t bit = 1ull << (i % 64), *w = &map[i / 64];

		if (!!(*w & bit) != set) {
			*w ^= bit;
			changed++;
		}
	}
	return changed;
}

uint64_t vmem_block_addr(const struct vmem *vm, uint64_t block)
{
	return vm->cfg.addr + block * vm->cfg.block_size;
}

bool vmem_block_plugged(const struct vmem *vm, uint64_t block)
{
	return block < vm->nblocks && bit_test(vm->plugged_map, block);
}

uint64_t vmem_usable_blocks(const struct vmem *vm)
{
	uint64_t n = vm->cfg.usable / vm->cfg.block_size;

	return n < vm->nblocks ? n : vm->nblocks;
}

uint64_t vmem_chunk_blocks(const struct vmem *vm)
{
	uint64_t n = VMEM_CHUNK_BYTES / vm->cfg.block_size;

	return !n ? 1 : n > MAX_NB_BLOCKS ? MAX_NB_BLOCKS : n;
}

/* The end of the chunk block B is in, capped at LIMIT. */
static uint64_t chunk_end(const struct vmem *vm, uint64_t b, uint64_t limit)
{
	uint64_t c = vmem_chunk_blocks(vm), end = (b / c + 1) * c;

	return end < limit ? end : limit;
}

bool vmem_lowest_unplugged(const struct vmem *vm, uint64_t max, uint64_t *first, uint64_t *n)
{
	uint64_t usable = vmem_usable_blocks(vm);

	for (uint64_t b = 0; b < usable && max; b++) {
		uint64_t end;

		if (b % 64 == 0 && vm->plugged_map[b / 64] == ~0ull) {
			b += 63;        /* a word of plugged blocks */
			continue;
		}
		if (bit_test(vm->plugged_map, b))
			continue;
		end = chunk_end(vm, b, usable);
		if (end - b > max)
			end = b + max;
		*first = b;
		for (*n = 1; b + *n < end && !bit_test(vm->plugged_map, b + *n); ++*n)
			;
		return true;
	}
	return false;
}

bool vmem_highest_plugged(const struct vmem *vm, uint64_t max, uint64_t *first, uint64_t *n)
{
	for (uint64_t b = vm->nblocks; b-- > 0 && max;) {
		uint64_t c = vmem_chunk_blocks(vm), start;

		if (b % 64 == 63 && !vm->plugged_map[b / 64]) {
			b -= 63;        /* a word of unplugged blocks */
			continue;
		}
		if (!bit_test(vm->plugged_map, b))
			continue;
		start = b / c * c;
		if (b + 1 - start > max)
			start = b + 1 - max;
		for (*n = 1; b + 1 - *n > start && bit_test(vm->plugged_map, b - *n); ++*n)
			;
		*first = b + 1 - *n;
		return true;
	}
	return false;
}

uint16_t vmem_expected_state(const struct vmem *vm, uint64_t first, uint64_t n)
{
	bool any_plugged = false, any_unplugged = false;

	for (uint64_t b = first; b < first + n && !(any_plugged && any_unplugged); b++) {
		if (b >= vm->nblocks) {
			any_unplugged = true;
			break;
		}
		if (b % 64 == 0 && b + 64 <= first + n) {
			uint64_t w = vm->plugged_map[b / 64];

			any_plugged |= w != 0;
			any_unplugged |= w != ~0ull;
			b += 63;
			continue;
		}
		if (bit_test(vm->plugged_map, b))
			any_plugged = true;
		else
			any_unplugged = true;
	}
	if (any_plugged && any_unplugged)
		return VIRTIO_MEM_STATE_MIXED;
	return any_plugged ? VIRTIO_MEM_STATE_PLUGGED : VIRTIO_MEM_STATE_UNPLUGGED;
}

/* ---- the device ------------------------------------------------------------ */

static uint64_t config_read64(const struct vmem *vm, unsigned int off)
{
	return virtio_config_read32(&vm->dev, off) |
	       (uint64_t)virtio_config_read32(&vm->dev, off + 4) << 32;
}

const char *vmem_config_read(struct vmem *vm)
{
	struct vmem_config c;
	unsigned int tries;
	uint8_t gen;

	/* §4.1.4.3.1: the generation before and after; equal means one consistent view. */
	for (tries = 0; tries < CONFIG_READ_TRIES; tries++) {
		gen = virtio_config_generation(&vm->dev);
		c.block_size = config_read64(vm, CFG_OFF(block_size));
		c.node_id = (uint16_t)virtio_config_read32(&vm->dev, CFG_OFF(node_id));
		c.addr = config_read64(vm, CFG_OFF(addr));
		c.region_size = config_read64(vm, CFG_OFF(region_size));
		c.usable = config_read64(vm, CFG_OFF(usable_region_size));
		c.plugged = config_read64(vm, CFG_OFF(plugged_size));
		c.requested = config_read64(vm, CFG_OFF(requested_size));
		if (gen == virtio_config_generation(&vm->dev))
			break;
	}
	if (tries == CONFIG_READ_TRIES)
		return "the configuration generation never stood still";
	if (c.block_size < PAGE_SIZE || (c.block_size & (c.block_size - 1)))
		return "block_size is not a power of two of at least 4096";
	if (c.addr % c.block_size || c.region_size % c.block_size || !c.region_size)
		return "the region is empty or not aligned to block_size";
	if (c.addr >= HIGHEST_USABLE_ADDR || c.region_size > HIGHEST_USABLE_ADDR - c.addr)
		return "the region is beyond 128 TiB";
	if (c.usable > c.region_size || c.plugged > c.region_size || c.requested > c.region_size)
		return "usable, plugged or requested size larger than the region";
	if (vm->cfg.block_size && (c.block_size != vm->cfg.block_size ||
				   c.addr != vm->cfg.addr || c.region_size != vm->cfg.region_size))
		return "block_size, addr or region_size changed";
	vm->cfg = c;
	return NULL;
}

enum vmem_resp vmem_request(struct vmem *vm, uint16_t type, uint64_t addr,
			    uint16_t nb_blocks, uint16_t *state)
{
	uint32_t written = 0;
	enum virtio_result r;

	req_buf = (struct virtio_mem_req){ .type = type };
	req_buf.u.plug.addr = addr;     /* same layout for every request type */
	req_buf.u.plug.nb_blocks = nb_blocks;
	resp_buf.type = 0xffff;
	resp_buf.u.state.state = 0xffff;
	vm->counts.requests++;
	r = virtio_request(&vm->dev, &req_buf, sizeof(req_buf), &resp_buf, sizeof(resp_buf),
			   &written, REQUEST_TIMEOUT_MS);
	if (r != VIRTIO_OK) {
		vm->ready = false;      /* the queue's state is unknown: initialize again */
		return r == VIRTIO_NEEDS_RESET ? VMEM_NEEDS_RESET :
		       r == VIRTIO_TIMEOUT ? VMEM_TIMEOUT : VMEM_BAD_RESPONSE;
	}
	if (written < sizeof(resp_buf.type) || resp_buf.type > VIRTIO_MEM_RESP_ERROR ||
	    (type == VIRTIO_MEM_REQ_STATE && resp_buf.type == VIRTIO_MEM_RESP_ACK &&
	     (written < sizeof(resp_buf) || resp_buf.u.state.state > VIRTIO_MEM_STATE_MIXED)))
		return VMEM_BAD_RESPONSE;
	vm->counts.resp[resp_buf.type]++;
	if (state)
		*state = resp_buf.u.state.state;
	return (enum vmem_resp)resp_buf.type;
}

enum vmem_resp vmem_plug(struct vmem *vm, uint64_t first, uint64_t n, const char **why)
{
	uint64_t addr = vmem_block_addr(vm, first);
	enum vmem_resp r = vmem_request(vm, VIRTIO_MEM_REQ_PLUG, addr, (uint16_t)n, NULL);

	*why = NULL;
	if (r == VMEM_ACK) {
		vm->plugged_blocks += bits_assign(vm->plugged_map, first, n, true);
		bits_assign(vm->touched_map, first, n, false);  /* must read zero */
		*why = paging_map(addr, vmem_block_addr(vm, first + n), false);
	}
	return r;
}

enum vmem_resp vmem_unplug(struct vmem *vm, uint64_t first, uint64_t n)
{
	enum vmem_resp r = vmem_request(vm, VIRTIO_MEM_REQ_UNPLUG, vmem_block_addr(vm, first),
					(uint16_t)n, NULL);

	if (r == VMEM_ACK) {
		vm->plugged_blocks -= bits_assign(vm->plugged_map, first, n, false);
		bits_assign(vm->touched_map, first, n, false);
	}
	return r;
}

static void record_clear(struct vmem *vm)
{
	for (uint64_t i = 0; i < (vm->nblocks + 63) / 64; i++)
		vm->plugged_map[i] = vm->touched_map[i] = 0;
	vm->plugged_blocks = 0;
}

enum vmem_resp vmem_unplug_all(struct vmem *vm)
{
	enum vmem_resp r = vmem_request(vm, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL);

	if (r == VMEM_ACK)
		record_clear(vm);
	return r;
}

const char *vmem_reinit(struct vmem *vm, bool msix)
{
	const char *why;

	vm->ready = false;
	if ((why = virtio_init(&vm->dev, WANTED_FEATURES, msix)) || (why = vmem_config_read(vm)))
		return why;
	vm->msix = msix;
	vm->ready = true;
	return NULL;
}

const char *vmem_open(struct vmem *vm, uint64_t cycles_per_ms, bool *first)
{
	const char *why;

	*first = false;
	if (vm->ready)
		return NULL;
	if (vm->probed)
		return vmem_reinit(vm, vm->msix);
	if ((why = virtio_probe(&vm->dev, VIRTIO_ID_MEM, cycles_per_ms)))
		return why;
	if (vm->dev.device.len < sizeof(struct virtio_mem_config))
		return "device configuration shorter than struct virtio_mem_config";
	if ((why = vmem_reinit(vm, false)))
		return why;
	vm->plugged_map = plugged_bits;
	vm->touched_map = touched_bits;
	vm->nblocks = vm->cfg.region_size / vm->cfg.block_size;
	if (vm->nblocks > VMEM_MAX_BLOCKS)
		vm->nblocks = VMEM_MAX_BLOCKS;
	record_clear(vm);
	vm->probed = *first = true;
	/* Blocks plugged before this driver came (a device busy at reset): start clean. */
	if (vm->cfg.plugged) {
		vm->unplugged_all_at_init = true;
		if (vmem_unplug_all(vm) != VMEM_ACK)
			return "the device has plugged memory and UNPLUG_ALL failed";
		if ((why = vmem_config_read(vm)))
			return why;
	}
	return NULL;
}

uint8_t vmem_corrupt(struct vmem *vm, enum virtio_corruption kind, uint64_t timeout_ms,
		     bool *used)
{
	/* A harmless request (STATE of the first block) in a broken chain. */
	req_buf = (struct virtio_mem_req){ .type = VIRTIO_MEM_REQ_STATE };
	req_buf.u.state.addr = vm->cfg.addr;
	req_buf.u.state.nb_blocks = 1;
	vm->ready = false;
	vm->counts.requests++;
	return virtio_corrupt(&vm->dev, 0, kind, &req_buf, sizeof(req_buf), &resp_buf,
			      sizeof(resp_buf), timeout_ms, used);
}

const char *vmem_resp_name(enum vmem_resp r)
{
	static const char *const names[VMEM_RESPS] = {
		[VMEM_ACK] = "ACK", [VMEM_NACK] = "NACK", [VMEM_BUSY] = "BUSY",
		[VMEM_ERROR] = "ERROR", [VMEM_NEEDS_RESET] = "NEEDS_RESET",
		[VMEM_TIMEOUT] = "TIMEOUT", [VMEM_BAD_RESPONSE] = "BAD_RESPONSE",
	};

	return r < VMEM_RESPS ? names[r] : "?";
}

const char *vmem_state_name(uint16_t state)
{
	switch (state) {
	case VIRTIO_MEM_STATE_PLUGGED: return "PLUGGED";
	case VIRTIO_MEM_STATE_UNPLUGGED: return "UNPLUGGED";
	case VIRTIO_MEM_STATE_MIXED: return "MIXED";
	}
	return "?";
}
