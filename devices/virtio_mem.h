/* SPDX-License-Identifier: MIT */
/*
 * virtio-mem (virtio 1.2 §5.15) over virtio-pci: a hotplug region of guest
 * memory that the guest plugs and unplugs block by block.
 *
 *   PLUG        ACK once every block of the range is backed: the blocks are
 *               populated through mem_populate() with the configured
 *               strategy. A population failure (ENOMEM, a memory cgroup
 *               limit, ...) is a NACK, with whatever was populated
 *               discarded again; plugging beyond the requested size is a
 *               NACK too, and so is a plug that would not fit this
 *               process's memory cgroup limit (checked before populating:
 *               a populating fault past the limit can wake the cgroup's
 *               OOM killer instead of failing).
 *   UNPLUG      ACK after mem_discard() of the range: the memory goes back
 *               to the host (the backend's way) and reads zero when plugged
 *               again. A discard failure is a NACK (blocks stay plugged).
 *   UNPLUG_ALL  ACK (everything discarded), NACK if a discard failed.
 *   STATE       PLUGGED, UNPLUGGED or MIXED for the range.
 *   ERROR       unaligned address, zero blocks, a range outside the usable
 *               region (or wrapping), plugging a plugged block, unplugging
 *               an unplugged one, an unknown request type, a request
 *               shorter than struct virtio_mem_req.
 * A malformed chain (devices/virtqueue.h) is a violation: NEEDS_RESET. So
 * is a chain whose writable part is shorter than struct virtio_mem_resp:
 * it cannot be answered, so it is given back with 0 bytes written
 * (counted in errors and unanswered) and the queue stops.
 *
 * The usable region grows with the requested size (requested + 256 MiB,
 * block aligned, at most the region; virtio_mem_set_requested()) and
 * shrinks back to that only when no block is plugged: at UNPLUG_ALL
 * (§5.15.4) and at a machine reset. plugged_size and a shrinking usable_region_size change the
 * configuration generation without an interrupt (the driver asked for
 * them); a new requested size comes with the config interrupt.
 * VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE is offered (and accepting it is not
 * required); the memslot covers the whole region, so a driver that reads
 * unplugged memory anyway gets zeros. A page such a driver writes in an
 * unplugged block is not counted as plugged and stays until a machine
 * reset, which discards the whole region. The device itself never touches
 * an unplugged block: a ring, descriptor table or buffer there (checked at
 * every use, so also one in a block unplugged since) is a violation, and
 * so is a response buffer inside the range its own UNPLUG gave back (the
 * unplug stands).
 *
 * A driver reset (device status 0) keeps blocks plugged (§5.15.5: the
 * device does not change block states on reset); a machine reset
 * (device_ops.reset) unplugs everything, as on power-on: the whole region
 * is discarded, the requested size stays.
 *
 * save() writes the requested size, the usable size, the plugged-block
 * bitmap and the transport (virtio_pci_save()); restore() checks all of
 * it against this device (same region and block size, sizes aligned and
 * in range, no plugged block outside the usable region), then populates
 * the blocks that become plugged (refusing with the population's error,
 * and discarding them again, when that fails) and discards the blocks that
 * become unplugged.
 */
#ifndef MEMVMM_VIRTIO_MEM_H
#define MEMVMM_VIRTIO_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "mem/mem.h"

#define VIRTIO_MEM_WUR __attribute__((warn_unused_result))

/* Block sizes: powers of two from 2 MiB (Linux needs at least a pageblock) up to 1 GiB. */
#define VMEM_MIN_BLOCK_BYTES      (2ull << 20)
#define VMEM_MAX_BLOCK_BYTES      (1ull << 30)
#define VMEM_DEFAULT_BLOCK_BYTES  VMEM_MIN_BLOCK_BYTES
/* The usable region reaches this far past the requested size. */
#define VMEM_USABLE_EXTENT_BYTES  (256ull << 20)
/* A plug must leave this much of the memory cgroup's limit free (memvmm's own needs). */
#define VMEM_MEMCG_SLACK_BYTES    (16ull << 20)
/* Queue size offered for the request queue. */
#define VMEM_QUEUE_SIZE           128u

/* device_ops create()'s cfg. */
struct vmem_config {
	unsigned int region;             /* index of its MEM_ROLE_HOTPLUG region in ctx->mem */
	uint64_t block_size;             /* power of two, VMEM_MIN..MAX_BLOCK_BYTES, region aligned */
	uint64_t requested;              /* initial requested size, a multiple of block_size */
	enum mem_populate_strategy populate;   /* for every plug */
	unsigned int populate_threads;   /* 0: as many as CPUs */
	uint16_t node_id;
};

extern const struct device_ops virtio_mem_device_ops;

/* What `status` shows. */
struct vmem_status {
	uint64_t gpa, region_size, block_size;
	uint64_t requested, plugged, usable;
	uint64_t resident;               /* host memory behind the region now (mem_resident) */
	uint64_t plugs, unplugs, unplug_alls, states;   /* requests ACKed */
	uint64_t nacks, errors;
	uint64_t unanswered;             /* chains given back without a response (violations) */
	enum mem_populate_strategy populate_used;       /* by the last plug (AUTO: none yet) */
	uint64_t plug_ns;                /* time spent populating, all plugs */
	uint64_t unplug_ns;              /* time spent discarding */
	int last_nack_err;               /* -errno behind the last NACK, 0 if none */
	int last_discard_err;            /* -errno of the last failed mem_discard(), 0 if none */
	int resident_err;                /* mem_resident() failed (resident then 0) */
	uint8_t driver_status;           /* the virtio device status register */
	bool needs_reset;
	const char *last_violation;      /* NULL if none */
};

/*
 * Set the requested size (the control socket): a multiple of the block
 * size, at most the region size (-EINVAL otherwise). Updates the usable
 * region, counts a config change and interrupts the driver.
 */
int virtio_mem_set_requested(void *state, uint64_t bytes) VIRTIO_MEM_WUR;
/*
 * Takes the device's lock; resident is measured after it is released (a
 * walk of the whole region: seconds for a large memfd region).
 */
void virtio_mem_get_status(void *state, struct vmem_status *st);
/* The same without measuring: resident and resident_err 0. */
void virtio_mem_get_sizes(void *state, struct vmem_status *st);

struct virtio_pci;
/* The device's transport (virtio_pci_stats(), the PCI slot), for status and tests. */
struct virtio_pci *virtio_mem_transport(void *state);

#endif /* MEMVMM_VIRTIO_MEM_H */
