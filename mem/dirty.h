/* SPDX-License-Identifier: MIT */
/*
 * Dirty-page tracking for diff snapshots: which 4 KiB pages of each region
 * changed since tracking started (or since the last collect).
 *
 * Two sources, OR-ed together by mem_dirty_collect():
 * - KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES on the region's memslot, read
 *   and cleared by KVM_GET_DIRTY_LOG): what the guest wrote, and what KVM
 *   itself wrote into guest memory (kvmclock, steal time, ...).
 * - A VMM-side bitmap per region: what memvmm wrote through mem_write() and
 *   mem_zero() (virtqueue rings, device buffers), and what mem_discard()
 *   gave back (a discarded page reads zero afterwards: its content changed).
 *   Code that writes guest memory through a host pointer of its own
 *   (mem_gpa_to_hva()) while tracking is on must call mem_dirty_mark().
 *
 * Not marked, on purpose: mem_populate() without a source (it only backs
 * pages that read zero already) and fills from a snapshot (mem_populate()
 * with a source, mem_snap_fill_region(), lazy restore's UFFDIO_COPY/MOVE/
 * CONTINUE): what they write equals the parent snapshot's contents.
 *
 * Only memfd, anon and hugetlb slots can log: KVM refuses
 * KVM_MEM_LOG_DIRTY_PAGES on a guest_memfd slot (KVM_MEM_GUEST_MEMFD), and
 * (through 6.18) does not let such a slot change its flags either.
 *
 * KVM's dirty ring (KVM_CAP_DIRTY_LOG_RING) is not used, only the bitmap
 * log: the ring must be enabled on the VM before any vCPU exists, is then
 * the only log the VM has (KVM_GET_DIRTY_LOG fails), and every vCPU must
 * handle KVM_EXIT_DIRTY_RING_FULL by harvesting and KVM_RESET_DIRTY_RINGS,
 * which the vCPU loop does not do. The bitmap costs one pass over
 * size / 32 KiB bytes per region and collect, paid while paused.
 *
 * Locking: mem_dirty_start(), mem_dirty_stop() and region add/remove
 * (mem.h) are serialized by the caller against every other use of gm, as
 * mem_region_add() is (the VM paused, from the main loop). Marking is
 * thread-safe (atomic OR per 64-page word) and costs one pointer test when
 * tracking is off. mem_dirty_collect() takes each word with an atomic
 * exchange, so a mark racing with it lands in this collect or the next,
 * never nowhere; it reads KVM's log, which is only complete while the vCPUs
 * are out of KVM_RUN, so call it with the VM paused.
 *
 * Every fallible function returns 0 or -errno and prints nothing.
 */
#ifndef MEMVMM_MEM_DIRTY_H
#define MEMVMM_MEM_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"

/*
 * 0 if every region in use can log dirty pages; -EOPNOTSUPP otherwise, with
 * the reason in why (may be NULL): "region N (ROLE, BACKEND): guest_memfd
 * slots cannot log dirty pages: KVM refuses KVM_MEM_LOG_DIRTY_PAGES on them".
 */
int mem_dirty_check(const struct guest_mem *gm, char *why, size_t whylen) MEM_WUR;

/*
 * Start tracking, or restart it (everything recorded so far is dropped):
 * every region in use gets a cleared VMM-side bitmap, every installed slot
 * is re-installed with KVM_MEM_LOG_DIRTY_PAGES (and slots installed later
 * get it too), and KVM's log is read once and thrown away, so that it
 * starts clean. gm->vm_fd < 0 (tests): only the VMM-side bitmaps.
 * -EOPNOTSUPP as mem_dirty_check(), -ENOMEM, KVM's error; on failure
 * tracking is off (also when it was on before a restart).
 */
int mem_dirty_start(struct guest_mem *gm) MEM_WUR;

/*
 * Pages of region index dirtied since start or the last collect of that
 * region, into out (mem_snap_bitmap_words(size) words, mem/snapshot.h; bit
 * p of word p / 64 is page p): KVM's log (KVM_GET_DIRTY_LOG, which clears
 * it) OR the VMM-side bitmap (cleared). -ENOENT: no region in use there;
 * -EINVAL: tracking is off; KVM's error, with the VMM-side bitmap left
 * as it was. The VM must be paused.
 */
int mem_dirty_collect(struct guest_mem *gm, unsigned int index, uint64_t *out) MEM_WUR;

/* True while tracking is on. */
bool mem_dirty_active(const struct guest_mem *gm);

/*
 * Stop: slots re-installed without KVM_MEM_LOG_DIRTY_PAGES (best effort:
 * a slot KVM refuses to change keeps logging, which costs only speed),
 * bitmaps freed. Nothing when tracking is off. mem_destroy() calls it.
 */
void mem_dirty_stop(struct guest_mem *gm);

/* ---- for mem/ and for code writing guest memory through host pointers --- */

/* Out of line: mark [gpa, gpa + len) in the regions it touches. */
void mem_dirty_mark_tracked(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/*
 * Mark every page [gpa, gpa + len) touches, in whichever regions it lies
 * (bytes outside every region are ignored). One pointer test when off.
 */
static inline void mem_dirty_mark(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (gm->dirty)
		mem_dirty_mark_tracked(gm, gpa, len);
}

/*
 * mem_region_add() calls this once region index is created: while
 * tracking, the region gets a cleared bitmap and r->dirty_log (its slot
 * will log). -EOPNOTSUPP for a backend whose slots cannot log
 * (guest_memfd), -ENOMEM. A region added after start is not in the
 * parent snapshot: its bitmap has only what was written since.
 */
int mem_dirty_region_added(struct guest_mem *gm, unsigned int index) MEM_WUR;

/* mem_region_remove() calls this: the region's bitmap is freed. */
void mem_dirty_region_removed(struct guest_mem *gm, unsigned int index);

#endif /* MEMVMM_MEM_DIRTY_H */
