// SPDX-License-Identifier: MIT
/*
 * memfd backend: a shmem file mapped MAP_SHARED. KVM reaches it through the
 * VMM's mapping; discard punches a hole, which frees the pages and unmaps
 * them from every mapping (and, through the MMU notifier, from the guest).
 */
#include "mem/backend.h"

static int memfd_create_region(struct mem_region *r, int vm_fd)
{
	return mem_region_create_memfd(r, 0);
}

/* populate=auto, fastest first (README's decision table, bench/RESULTS.md). */
static const enum mem_populate_strategy memfd_populate_order[] = {
	MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE, MEM_POPULATE_NONE,
};

const struct mem_backend_ops mem_backend_memfd = {
	.name = "memfd",
	.align = MEM_PAGE_BYTES,
	.slot_flags = 0,
	.supported = mem_backend_always_supported,
	.create = memfd_create_region,
	.destroy = mem_region_release,
	.discard = mem_region_punch_hole,
	.resident = mem_region_fd_resident,
	.populate_order = memfd_populate_order,
	.populate_order_len = MEM_ARRAY_LEN(memfd_populate_order),
	.memcg_charged = true,
	.thp = MEM_THP_KIND_SHMEM,
};
