/* SPDX-License-Identifier: MIT */
/*
 * virtio-mem's insides, shared by virtio_mem.c (the device and its
 * requests) and virtio_mem_state.c (machine reset, save/restore). Nothing
 * else includes this.
 */
#ifndef MEMVMM_VIRTIO_MEM_INT_H
#define MEMVMM_VIRTIO_MEM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bitmap.h"
#include "devices/device.h"
#include "devices/virtio_mem.h"
#include "mem/populate.h"

struct virtio_pci;

struct vmem {
	struct device_ctx ctx;
	struct virtio_pci *vp;           /* its lock guards everything below */
	struct vmem_config cfg;
	uint64_t gpa, region_size, block_size;
	uint64_t nr_blocks;
	uint64_t *plugged_map;           /* bit b: block b is plugged */
	uint64_t plugged, requested, usable;

	/* Counters and what status shows. */
	uint64_t plugs, unplugs, unplug_alls, states, nacks, errors, unanswered;
	enum mem_populate_strategy populate_used;
	uint64_t plug_ns, unplug_ns;
	int last_nack_err;
	int last_discard_err;
	struct mem_populate_report report;   /* of the last plug (big: not on the stack) */
};


/* The usable region for a requested size: requested + VMEM_USABLE_EXTENT_BYTES, block aligned, capped. */
uint64_t vmem_usable_for(const struct vmem *vm, uint64_t requested);

/*
 * The next run of blocks at or after *b whose bit in map is set (set) or
 * clear: true with [*b, *b + *n) filled, false when there is none.
 */
bool vmem_next_run(const uint64_t *map, uint64_t nr_blocks, bool set, uint64_t *b, uint64_t *n);

/*
 * Give blocks [b, b + n) back to the host (mem_discard), time counted.
 * 0 or -errno, which it also records in last_discard_err: callers that
 * can do nothing more about a failure may ignore the result.
 */
int vmem_discard_blocks(struct vmem *vm, uint64_t b, uint64_t n);
/* Populate blocks [b, b + n) with the configured strategy, time counted. 0 or -errno. */
int vmem_populate_blocks(struct vmem *vm, uint64_t b, uint64_t n) VIRTIO_MEM_WUR;

/* device_ops hooks in virtio_mem_state.c. */
void vmem_machine_reset(void *state);
int vmem_save(void *state, void *buf, size_t *len);
int vmem_restore(void *state, const void *buf, size_t len);

#endif /* MEMVMM_VIRTIO_MEM_INT_H */
