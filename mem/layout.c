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

static uint64_t layout_align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

int mem_machine_layout_build(uint64_t ram_size, uint64_t hotplug_size,
			     struct mem_machine_layout *out)
{
	uint64_t top;
	int ret;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ret = mem_layout_build(ram_size, &out->ram);
	if (ret)
		return ret;
	if (hotplug_size % MACHINE_HOTPLUG_ALIGN || hotplug_size > MEM_MAX_BYTES)
		return -EINVAL;

	top = out->ram.range[out->ram.nr - 1].gpa + out->ram.range[out->ram.nr - 1].size;
	if (top < MEM_HIGH_RAM_START)
		top = MEM_HIGH_RAM_START;
	top = layout_align_up(top, MACHINE_HOTPLUG_ALIGN);
	if (hotplug_size) {
		out->hotplug_gpa = top;
		out->hotplug_size = hotplug_size;
		top += hotplug_size;
	}
	out->pci_mmio32_base = MACHINE_PCI_MMIO32_BASE;
	out->pci_mmio32_size = MACHINE_PCI_MMIO32_END - MACHINE_PCI_MMIO32_BASE;
	out->pci_mmio64_base = layout_align_up(top, MACHINE_PCI_MMIO64_ALIGN);
	out->pci_mmio64_size = MACHINE_PCI_MMIO64_SIZE;
	return 0;
}
