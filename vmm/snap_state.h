/* SPDX-License-Identifier: MIT */
/*
 * A snapshot's machine state (DIR/state.dtb): a flattened devicetree built
 * with libfdt, so that `dtc -I dtb -O dts DIR/state.dtb` shows it.
 *
 *   /                  format-version, id, created-ns, checksum (XXH3-64 of
 *                      the whole blob with these 8 bytes zero, big-endian)
 *   /config            mem-size, backend, populate, prefault, thp,
 *                      populate-threads, vcpus, cmdline, [cpu] (--cpu's
 *                      SPEC; absent: host): what the VM was started with
 *                      (to rebuild it)
 *     virtio-mem       size, requested, block, backend, populate (iff cfg.vmem)
 *     balloon          size, [deflate-on-oom], [free-page-reporting], [stats],
 *                      stats-interval-s (iff cfg.balloon; flags are empty
 *                      properties, present when true)
 *   /memory/region@N   role, gpa, size, backend, file, [present],
 *                      [chunk-bytes, chunk-sums]
 *   /cpus/cpu@N        regs, sregs, fpu | xsave, [xcrs], [debugregs], lapic,
 *                      events, mp-state, msrs ((be32 index, be64 value) pairs)
 *   /irqchip           pic-master, pic-slave, ioapic, pit, clock
 *   /devices/dev@N     device (device_ops.name; a "name" property must
 *                      match the node's name for dtc), state (the device's
 *                      save() blob, may be empty)
 *   /parent            (diff snapshots) path, id
 *
 * Integers are big-endian cells (u32 or u64), names and paths strings,
 * present and chunk-sums arrays of big-endian u64. List nodes are numbered
 * from 0 without gaps (N is the index into the struct's array). KVM
 * structures are stored as their raw bytes (x86-64 KVM UAPI layout); the
 * parser checks every length. Properties and nodes not listed here are
 * ignored (a list node, though, holds only its numbered entries). Every
 * format version keeps /format-version and /checksum as they are, so that
 * any version's file is recognised.
 *
 * Untrusted input: snap_state_parse() checks the whole devicetree
 * (fdt_check_full) and the checksum before it reads anything, never reads
 * outside the blob, and refuses anything inconsistent. snap_state_check()
 * holds the value rules, and snap_state_build() applies them too, so
 * whatever builds also parses.
 */
#ifndef MEMVMM_SNAP_STATE_H
#define MEMVMM_SNAP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"
#include "vmm/cpu_model.h"
#include "vmm/vcpu_state.h"

#define SNAP_FORMAT_VERSION     1u
#define SNAP_STATE_FILE         "state.dtb"
#define SNAP_MAX_STATE_BYTES    (64u << 20)   /* a state file larger than this is refused */
#define SNAP_MAX_VCPUS          255u
#define SNAP_MAX_DEVICES        16u
#define SNAP_MAX_XSAVE_BYTES    (1u << 20)
#define SNAP_NAME_BYTES         32u
#define SNAP_CMDLINE_BYTES      4096u
#define SNAP_PATH_BYTES         4096u

/* What the VM was started with (vmm/options.h's run_config, by name). */
struct snap_config {
	uint64_t mem_size;
	char backend[SNAP_NAME_BYTES];      /* boot RAM's backend name */
	char populate[SNAP_NAME_BYTES];     /* mem_populate_name() */
	char prefault[SNAP_NAME_BYTES];     /* mem_prefault_name() */
	char thp[SNAP_NAME_BYTES];          /* "auto", "on", "off" */
	uint32_t populate_threads;
	uint32_t vcpus;
	char cmdline[SNAP_CMDLINE_BYTES];
	char cpu[CPU_MODEL_SPEC_BYTES];     /* --cpu's SPEC, cpu_model_parse()d; "" for host */
	bool vmem;                          /* a virtio-mem device */
	uint64_t vmem_size, vmem_requested, vmem_block;
	char vmem_backend[SNAP_NAME_BYTES]; /* the hotplug region's backend */
	char vmem_populate[SNAP_NAME_BYTES];
	bool balloon;                       /* a virtio-balloon device */
	uint64_t balloon_size;
	bool balloon_deflate_on_oom, balloon_free_page_reporting, balloon_stats;
	uint32_t balloon_stats_s;
};

struct snap_region {
	char role[SNAP_NAME_BYTES];         /* mem_role_name() */
	uint64_t gpa, size;
	char backend[SNAP_NAME_BYTES];
	char file[SNAP_NAME_BYTES];         /* "mem-N.raw", inside the snapshot's directory */
	/* Diff snapshots: the pages this file holds (mem_snap_bitmap_words(size) words). */
	uint64_t *present;                  /* NULL: a full file */
	uint64_t chunk_bytes;               /* 0: no checksums */
	uint64_t *chunk_sums;               /* mem_snap_nr_chunks(size, chunk_bytes) values */
};

struct snap_device {
	char name[SNAP_NAME_BYTES];         /* device_ops.name */
	uint8_t *blob;                      /* save()'s output (NULL when len is 0) */
	uint32_t len;
};

struct snap_state {
	uint32_t version;
	uint64_t id;                        /* random; identifies this snapshot */
	uint64_t created_ns;                /* CLOCK_REALTIME */
	bool has_parent;
	uint64_t parent_id;
	char parent_path[SNAP_PATH_BYTES];  /* as resolved at save time (absolute) */
	struct snap_config cfg;
	unsigned int nr_regions;
	struct snap_region region[MEM_MAX_REGIONS];
	unsigned int nr_vcpus;
	struct vcpu_state *vcpu;            /* nr_vcpus entries; xsave allocated */
	struct vm_irq_state irq;
	unsigned int nr_devices;
	struct snap_device dev[SNAP_MAX_DEVICES];
};

/*
 * Build the devicetree blob (malloc'd, *len bytes) with its checksum.
 * -EINVAL for a state snap_state_check() refuses or a blob larger than
 * SNAP_MAX_STATE_BYTES, -ENOMEM. s->version is not read (the blob says
 * SNAP_FORMAT_VERSION).
 */
int snap_state_build(const struct snap_state *s, void **blob, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Parse and check a blob into s (zeroed first). Refusals, with the reason
 * in why naming the node or property: -EBADMSG (not a devicetree,
 * truncated, trailing bytes, checksum mismatch: "altered or damaged"),
 * -EPROTONOSUPPORT (another format version), -EINVAL (a node or property
 * missing, of the wrong size, or out of range; a blob over
 * SNAP_MAX_STATE_BYTES), -ENOMEM. On failure s holds nothing (already
 * released); on success snap_state_release() frees what parse allocated.
 */
int snap_state_parse(const void *blob, size_t len, struct snap_state *s, char *why,
		     size_t whylen) __attribute__((warn_unused_result));

/*
 * The value rules, as the parser applies them: names, regions (role known,
 * gpa and size 4 KiB aligned, size 4 KiB..MEM_MAX_BYTES, no overlap, file
 * "mem-N.raw" and distinct, present only with a parent), vCPUs (1..
 * SNAP_MAX_VCPUS, cfg.vcpus of them), irqchip ids, devices, parent path.
 * 0, or -EINVAL with the node or property in why (which may be NULL).
 */
int snap_state_check(const struct snap_state *s, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * Recompute and store a blob's checksum in place (for tests and tools that
 * edit a state file). -EBADMSG when it is not a devicetree of exactly len
 * bytes with an 8-byte /checksum.
 */
int snap_state_seal(void *blob, size_t len) __attribute__((warn_unused_result));

/* A region's role as an enum: 0, or -EINVAL for a name mem_role_name() never gives. */
int snap_region_role(const struct snap_region *r, enum mem_role *role)
	__attribute__((warn_unused_result));

/*
 * Free every allocation s points to (vcpu[] and each vcpu[i].xsave below
 * nr_vcpus, region[i].present and chunk_sums below nr_regions, dev[i].blob
 * below nr_devices) and zero those counts. Idempotent.
 */
void snap_state_release(struct snap_state *s);

#endif /* MEMVMM_SNAP_STATE_H */
