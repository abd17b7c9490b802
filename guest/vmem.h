/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-mem driver (virtio 1.2 §5.15): the device's
 * configuration, PLUG, UNPLUG, UNPLUG_ALL and STATE requests, and the
 * driver's own record of which blocks it plugged and which of those hold
 * the touch pattern. Ring 0 only.
 */
#ifndef GUEST_VMEM_H
#define GUEST_VMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

/* Blocks the driver tracks (the first ones of a larger region): 1 TiB of 2 MiB blocks. */
#define VMEM_MAX_BLOCKS     (1u << 19)
/* Requests are at most a Linux x86 memory block (or one device block if larger). */
#define VMEM_CHUNK_BYTES    (128ull << 20)

/* A request's outcome: the device's response type, or why there was none. */
enum vmem_resp {
	VMEM_ACK,               /* = VIRTIO_MEM_RESP_ACK ... */
	VMEM_NACK,
	VMEM_BUSY,
	VMEM_ERROR,             /* ... = VIRTIO_MEM_RESP_ERROR */
	VMEM_NEEDS_RESET,       /* the device set DEVICE_NEEDS_RESET */
	VMEM_TIMEOUT,
	VMEM_BAD_RESPONSE,      /* an unknown type, a short response, a wrong used entry */
	VMEM_RESPS,
};

/* The device configuration (struct virtio_mem_config), as last read. */
struct vmem_config {
	uint64_t block_size;
	uint16_t node_id;
	uint64_t addr, region_size, usable, plugged, requested;
};

struct vmem_counts {
	uint64_t requests;
	uint64_t resp[VMEM_RESPS];
};

struct vmem {
	struct virtio_dev dev;
	bool probed;            /* virtio_probe() done */
	bool ready;             /* initialized, DRIVER_OK */
	bool msix;              /* initialized with MSI-X */
	bool unplugged_all_at_init;
	struct vmem_config cfg;
	uint64_t nblocks;       /* tracked blocks: region / block size, capped */
	uint64_t plugged_blocks;
	uint64_t *plugged_map;  /* bit per block: plugged by this driver */
	uint64_t *touched_map;  /* bit per block: holds the touch pattern */
	struct vmem_counts counts;      /* since the last vmem_counts_clear() */
};

/* The driver, probed and initialized on first use. *FIRST: this call did it. */
const char *vmem_open(struct vmem *vm, uint64_t cycles_per_ms, bool *first);

/* Initializes the device again (after a reset), with or without MSI-X. */
const char *vmem_reinit(struct vmem *vm, bool msix);

/* Reads the configuration into vm->cfg (generation-checked). */
const char *vmem_config_read(struct vmem *vm);

/* Sends one request; STATE's answer goes to *STATE (may be NULL). */
enum vmem_resp vmem_request(struct vmem *vm, uint16_t type, uint64_t addr,
			    uint16_t nb_blocks, uint16_t *state);

/* Blocks [first, first + n): request, and on ACK update the record (and map plugged memory). */
enum vmem_resp vmem_plug(struct vmem *vm, uint64_t first, uint64_t n, const char **why);
enum vmem_resp vmem_unplug(struct vmem *vm, uint64_t first, uint64_t n);
enum vmem_resp vmem_unplug_all(struct vmem *vm);

/*
 * Sends a STATE request in a chain broken as KIND says (virtio_corrupt())
 * and returns the device status it ended with; the driver must be
 * initialized again afterwards (vmem_reinit()).
 */
uint8_t vmem_corrupt(struct vmem *vm, enum virtio_corruption kind, uint64_t timeout_ms,
		     bool *used);

/* Blocks in the usable region (tracked ones only). */
uint64_t vmem_usable_blocks(const struct vmem *vm);
/* Blocks per request: VMEM_CHUNK_BYTES worth, at least 1, at most 65535 (nb_blocks). */
uint64_t vmem_chunk_blocks(const struct vmem *vm);
uint64_t vmem_block_addr(const struct vmem *vm, uint64_t block);
bool vmem_block_plugged(const struct vmem *vm, uint64_t block);

/*
 * The lowest run of unplugged blocks in the usable region, inside one
 * chunk and at most MAX long; false if every usable block is plugged.
 */
bool vmem_lowest_unplugged(const struct vmem *vm, uint64_t max, uint64_t *first, uint64_t *n);
/* The highest run of plugged blocks, inside one chunk and at most MAX long. */
bool vmem_highest_plugged(const struct vmem *vm, uint64_t max, uint64_t *first, uint64_t *n);

/* Blocks [first, first + n) in the record: VIRTIO_MEM_STATE_PLUGGED, _UNPLUGGED or _MIXED. */
uint16_t vmem_expected_state(const struct vmem *vm, uint64_t first, uint64_t n);

/* "ACK", "NACK", "BUSY", "ERROR" (the spec's names), "NEEDS_RESET", "TIMEOUT", "BAD_RESPONSE". */
const char *vmem_resp_name(enum vmem_resp r);
/* "PLUGGED", "UNPLUGGED", "MIXED". */
const char *vmem_state_name(uint16_t state);

#endif /* GUEST_VMEM_H */
