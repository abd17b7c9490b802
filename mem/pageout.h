/* SPDX-License-Identifier: MIT */
/*
 * Host-side reclaim of guest memory: MADV_PAGEOUT over guest-physical
 * ranges, where the backend's memory can be reclaimed, and the meters that
 * show what it did.
 *
 * Which backends: anon and memfd pages go to swap, so they need a swap
 * device; hugetlb pages are never reclaimed; guest_memfd pages are
 * unevictable page cache on this kernel (the mapping is marked
 * unevictable), so MADV_PAGEOUT walks them and reclaims nothing. Those are
 * refused with the reason instead of pretending (mem_pageout_check()).
 *
 * Meters, per range, before and after:
 *  - resident: pages in memory by mincore(), which counts a page still in
 *    the swap cache. With a swap device that completes writes at once
 *    (zram) a paged-out page leaves memory during the call; with a swap
 *    file the write is asynchronous and the clean page stays in the swap
 *    cache (still memory) until the kernel reclaims it, which it does
 *    first under pressure. Pages that are all zero are not written at all
 *    (the swap device's zero map) and leave memory during the call with
 *    any device (measured on 6.18: 256 MiB zero-filled, swap file, resident
 *    0 after; with a pattern, 256 MiB still resident).
 *  - mapped: pages present in memvmm's page tables (/proc/self/pagemap),
 *    what RSS counts; it falls during the call with any swap device.
 *  - swapped: pages whose page-table entry is a swap entry (pagemap);
 *    shared memory (memfd) keeps its swap entries in the file, not in the
 *    page table, so it shows 0 there.
 * MADV_PAGEOUT only reaches pages mapped in memvmm's page tables: memfd
 * memory that was populated by fallocate() and never touched through the
 * mapping stays where it is (resident, not mapped).
 */
#ifndef MEMVMM_MEM_PAGEOUT_H
#define MEMVMM_MEM_PAGEOUT_H

#include <stdint.h>

#include "mem/mem.h"

#define MEM_PAGEOUT_WUR __attribute__((warn_unused_result))

/* Swap devices in /proc/swaps. */
struct mem_swap_info {
	unsigned int devices;
	uint64_t total_bytes, used_bytes;
};

/* Read /proc/swaps. 0 or -errno (the file could not be read). */
int mem_swap_read(struct mem_swap_info *si) MEM_PAGEOUT_WUR;

/* A range's meters (bytes). */
struct mem_page_meters {
	uint64_t resident;          /* mincore */
	uint64_t mapped;            /* pagemap: present */
	uint64_t swapped;           /* pagemap: swap entry */
};

/*
 * Measure [gpa, gpa + len): page aligned, inside RAM (it may cross
 * regions), each piece aligned to its region's backend (ops->align: 2 MiB
 * for hugetlb). -EINVAL otherwise; -errno from mincore() or pagemap.
 */
int mem_page_meters(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		    struct mem_page_meters *m) MEM_PAGEOUT_WUR;

/*
 * Can [gpa, gpa + len) be paged out? 0 if so; else -EINVAL (not page
 * aligned, empty or not inside RAM), -EOPNOTSUPP (a region's backend
 * cannot be reclaimed; checked before swap) or -ENOSPC (no swap device,
 * every device full, or /proc/swaps unreadable), with *why (static
 * string, never NULL on failure) saying why in words, e.g. "guest_memfd
 * pages are unevictable on this kernel: MADV_PAGEOUT reclaims nothing".
 * *region gets the index of the region that refused (-EOPNOTSUPP only;
 * may be NULL).
 */
int mem_pageout_check(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		      const char **why, unsigned int *region) MEM_PAGEOUT_WUR;

/* What mem_pageout() did. */
/* MADV_PAGEOUT passes at most (see mem_pageout()). */
#define MEM_PAGEOUT_MAX_PASSES 2u

struct mem_pageout_result {
	uint64_t bytes;                     /* the range */
	struct mem_page_meters before, after;
	uint64_t ns;                        /* in madvise(MADV_PAGEOUT) alone, all passes */
	unsigned int passes;                /* 1, or 2 when the first left pages mapped */
};

/*
 * mem_pageout_check(), then MADV_PAGEOUT over the range (region by
 * region), measuring before and after; a second pass when the first left
 * pages mapped (kernels before 6.10 only age pages that were accessed
 * recently, the guest's accesses included). The kernel's error (EINVAL on a
 * kernel without MADV_PAGEOUT, ...) is returned as -errno with *why set
 * as for mem_pageout_check(). The caller serializes against regions being
 * added or removed (as for mem_discard()); the guest may run meanwhile.
 */
int mem_pageout(struct guest_mem *gm, uint64_t gpa, uint64_t len,
		struct mem_pageout_result *res, const char **why) MEM_PAGEOUT_WUR;

#endif /* MEMVMM_MEM_PAGEOUT_H */
