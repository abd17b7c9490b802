// SPDX-License-Identifier: MIT
/*
 * Guest-physical layout of boot RAM: from 0 up to the MMIO hole at 3 GiB,
 * and whatever does not fit below the hole from 4 GiB up. Hotplug and
 * device memory are placed by their users (mem_region_add()).
 */
#include "mem/mem.h"

#include <errno.h>
#include <string.h>

_Static_assert(MEM_LAYOUT_MAX_RANGES <= MEM_MAX_REGIONS, "boot RAM fits in guest_mem");

int mem_layout_build(uint64_t ram_size, struct mem_layout *out)
{
	uint64_t low;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (ram_size < MEM_MIN_BYTES || ram_size > MEM_MAX_BYTES ||
	    ram_size % MEM_PAGE_BYTES)
		return -EINVAL;

	low = ram_size < MEM_MMIO_HOLE_START ? ram_size : MEM_MMIO_HOLE_START;
	out->range[out->nr].gpa = 0;
	out->range[out->nr].size = low;
	out->nr++;
	if (ram_size > low) {
		out->range[out->nr].gpa = MEM_HIGH_RAM_START;
		out->range[out->nr].size = ram_size - low;
		out->nr++;
	}
	return 0;
}
