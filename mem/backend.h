/* SPDX-License-Identifier: MIT */
/*
 * Pieces shared by the backend tables (one file per backend in mem/).
 * Private to mem/: other folders only see mem.h.
 *
 * Every helper that takes a region expects r->ops to be set (mem_create does
 * that before calling ops->create), because ranges are checked against
 * r->ops->align.
 */
#ifndef MEMVMM_MEM_BACKEND_H
#define MEMVMM_MEM_BACKEND_H

#include "mem/mem.h"
#include "mem/pthread_must.h"

/* Entries in an array (for populate_order_len). */
#define MEM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* supported() for backends that need nothing from KVM. */
int mem_backend_always_supported(int vm_fd, char *why, size_t whylen) MEM_WUR;

/*
 * mmap r->size bytes of fd (-1 for anonymous) into r->hva, hva congruent to
 * r->gpa modulo 2 MiB; fd is not closed on failure.
 */
int __mem_region_map(struct mem_region *r, int fd, int mmap_flags) MEM_WUR;

/*
 * MADV_HUGEPAGE / MADV_NOHUGEPAGE on the region's mapping as r->thp_advice
 * says (nothing for MEM_THP_ADVICE_NONE). mem_region_add()/mem_create() call
 * it after create().
 */
int mem_region_advise_thp(struct mem_region *r) MEM_WUR;

/* Map fd MAP_SHARED as the region's memory; on failure fd is closed. */
int mem_region_adopt_fd(struct mem_region *r, int fd) MEM_WUR;

/* memfd_create(MFD_CLOEXEC | mfd_flags), ftruncate to r->size, map MAP_SHARED. */
int mem_region_create_memfd(struct mem_region *r, unsigned int mfd_flags) MEM_WUR;

/* destroy() for every backend: munmap and close what is there; idempotent. */
void mem_region_release(struct mem_region *r);

/* 0 if [off, off+len) is non-empty, inside r and aligned to r->ops->align. */
int mem_region_check_range(const struct mem_region *r, uint64_t off,
			   uint64_t len) MEM_WUR;

/* discard() for fd backends: fallocate(PUNCH_HOLE | KEEP_SIZE). */
int mem_region_punch_hole(struct mem_region *r, uint64_t off, uint64_t len) MEM_WUR;

/*
 * mem_region_fd_resident(): memfd and guest_memfd: mincore(), and over a
 * whole region at least the file's allocated blocks (fallocated pages that
 * mincore() does not see).
 */
int mem_region_fd_resident(const struct mem_region *r, uint64_t off, uint64_t len,
			   uint64_t *bytes);
/* resident() for every backend: mincore() on the region's own mapping. */
int mem_region_mincore(const struct mem_region *r, uint64_t off, uint64_t len,
		       uint64_t *bytes) MEM_WUR;

#endif /* MEMVMM_MEM_BACKEND_H */
