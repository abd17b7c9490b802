/* SPDX-License-Identifier: MIT */
/*
 * Tests that count resident 4 KiB pages need those pages to be 4 KiB: where
 * the host's THP mode is "always", one touch of anonymous memory can bring
 * in a 2 MiB page. thp_off() asks for small pages on a guest_mem's mappings
 * (MADV_NOHUGEPAGE), whatever the host's setting.
 */
#ifndef MEMVMM_TEST_THP_H
#define MEMVMM_TEST_THP_H

#include <sys/mman.h>

#include "mem/mem.h"
#include "tests/test.h"

static inline void thp_off(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && r->hva)
			TEST_ASSERT(madvise(r->hva, r->size, MADV_NOHUGEPAGE) == 0 || errno == EINVAL,
				    "MADV_NOHUGEPAGE on region %u", i);
	}
}

#endif
