/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of a whole VM: save (the control socket's `snapshot`) and
 * restore (`memvmm run --restore`).
 *
 * A snapshot is a directory:
 *   state.dtb    the machine state (vmm/snap_state.h), with its checksum
 *   mem-N.raw    region N's memory, sparse (mem/snapshot.h)
 * written as DIR.tmp-XXXXXX next to DIR, fsynced, and renamed into place,
 * so that DIR exists only complete. A diff snapshot (parent=PREV) holds only
 * the pages dirtied since PREV; restoring it reads the chain PREV..DIR.
 *
 * Restore modes (boot RAM; the virtio-mem region is always filled eagerly):
 *   eager       fill from the files before the guest starts (write() into
 *               the region's file where it works, else populate + copy in
 *               parallel), then KVM_PRE_FAULT_MEMORY where supported
 *   map         anon RAM mapped MAP_PRIVATE from the memory file
 *   lazy-copy   userfaultfd MISSING on anon RAM, UFFDIO_COPY
 *   lazy-move   the same, UFFDIO_MOVE from staging memory
 *   lazy-minor  memfd RAM, MINOR faults, UFFDIO_CONTINUE
 *   auto        eager for guest_memfd and hugetlb; lazy-move, else lazy-copy
 *               for anon; lazy-minor, else eager for memfd (README's table)
 */
#ifndef MEMVMM_SNAPSHOT_H
#define MEMVMM_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/lazy.h"
#include "mem/snapshot.h"
#include "vmm/errmsg.h"
#include "vmm/options.h"
#include "vmm/snap_state.h"

struct vm;

/* ---- saving ------------------------------------------------------------- */

struct snapshot_req {
	const char *dir;        /* must not exist; its parent must */
	const char *parent;     /* NULL: a full snapshot */
	bool stop;              /* end memvmm after writing */
	bool verify;            /* chunk checksums */
};

struct snapshot_result {
	char dir[SNAP_PATH_BYTES];   /* the absolute path written */
	uint64_t id;
	uint64_t bytes;              /* data written: memory data plus the state file */
	uint64_t state_bytes;
	uint64_t pause_ns;           /* the VM paused for this long */
	uint64_t total_ns;
	uint64_t pending_pages;      /* copied from the restore source (lazy fill not done) */
	unsigned int nr_regions;
	struct {
		unsigned int index;
		uint64_t data_bytes;
		uint64_t dirty_pages;    /* diff: pages written; full: 0 */
	} region[MEM_MAX_REGIONS];
};

/*
 * Pause (if running), write the snapshot, resume (unless it was paused
 * before). e->bad_input for a bad dir or parent (exists, not found, not a
 * snapshot of this VM's current epoch). On the main loop's thread.
 */
int vm_snapshot(struct vm *vm, const struct snapshot_req *req, struct snapshot_result *res,
		struct errmsg *e) __attribute__((warn_unused_result));

/* ---- restoring ---------------------------------------------------------- */

/* One opened snapshot chain: the newest first in state[], each with its directory fd. */
struct snap_chain {
	unsigned int nr;                           /* layers: state[0] newest */
	struct snap_state state[MEM_SNAP_MAX_LAYERS];
	int dir_fd[MEM_SNAP_MAX_LAYERS];
	char dir[MEM_SNAP_MAX_LAYERS][SNAP_PATH_BYTES];
	/* Per region of state[0]: the memory files of every layer, oldest first. */
	int mem_fd[MEM_MAX_REGIONS][MEM_SNAP_MAX_LAYERS];
	struct mem_snap_src src[MEM_MAX_REGIONS];
	bool src_ready[MEM_MAX_REGIONS];
	const atomic_bool *cancel;                 /* while opening (verify=on) */
};

/*
 * Open DIR and its parents, check every state file and memory file, verify
 * checksums when asked. e->bad_input (exit 2) for a path that cannot be
 * opened as a directory; exit 1 for anything wrong inside it (no or a
 * damaged state file, missing or wrong memory files, a parent not found). c must be zeroed. cancel
 * (may be NULL) set stops the checksum check: -ECANCELED.
 */
int snap_chain_open(struct snap_chain *c, const char *dir, bool verify,
		    const atomic_bool *cancel, struct errmsg *e) __attribute__((warn_unused_result));
void snap_chain_close(struct snap_chain *c);

/* What restoring did, for the summary line and status. */
struct restore_info {
	enum restore_mode requested;
	enum restore_mode used;
	char why[192];                   /* why auto chose it / why not faster */
	uint64_t start_ns;               /* CLOCK_MONOTONIC when the restore began */
	uint64_t fill_ns;                /* eager/map: copying in before the start */
	uint64_t map_ns;                 /* map: replacing the mappings */
	struct mem_snap_fill_report fill;
	struct mem_lazy *lazy_region[MEM_MAX_REGIONS];   /* lazy modes, per region */
	struct mem_snap_map *map_region[MEM_MAX_REGIONS];
	bool lazy_done_reported;
	int lazy_done_efd;               /* written when every background fill is done */
	pthread_t lazy_wait_thread;
	bool lazy_wait_running;
	atomic_bool stop_waiter;
	uint64_t lazy_done_ns;           /* from start_ns; 0 until done */
};

/*
 * Build cfg for the saved machine from the chain's newest state and the
 * user's --memory overrides (user). -EINVAL with e set for a saved config
 * this memvmm cannot take.
 */
int snapshot_run_config(const struct snap_chain *c, const struct run_config *user,
			struct run_config *cfg, char *cmdline_buf, size_t cmdline_len,
			struct errmsg *e) __attribute__((warn_unused_result));

/*
 * Once memory exists, before its memslots are installed: choose the mode
 * (refusing one the backend cannot do) and, for map, map the memory files.
 */
int vm_restore_prepare(struct vm *vm, struct errmsg *e) __attribute__((warn_unused_result));

/*
 * After memory, devices and vCPUs exist (vm_create()): restore device
 * state, fill memory in the chosen mode, set every vCPU's and the
 * irqchip's state. Nothing of the guest has run.
 */
int vm_restore(struct vm *vm, struct errmsg *e) __attribute__((warn_unused_result));

/* A lazy engine failed (a memory file truncated or unreadable): its error. */
bool vm_restore_lazy_failed(struct vm *vm, int *err);
/* Stop the lazy engines (vCPUs blocked in a fault are woken and see zero pages). */
void vm_restore_stop_lazy(struct vm *vm);
/* Release what the restore holds (lazy engines, leases, the chain). */
void vm_restore_release(struct vm *vm);

/* Record what a snapshot says about the machine (at vm_create()). */
void snapshot_remember_config(struct vm *vm, const struct run_config *cfg);

#endif /* MEMVMM_SNAPSHOT_H */
