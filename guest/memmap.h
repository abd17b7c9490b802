/* SPDX-License-Identifier: MIT */
/*
 * RAM as the PVH start info describes it, and the free RAM the workload
 * steps use: type-1 memmap entries, page-aligned, above the guest image,
 * below the end of the identity map, minus the start info's modules, in
 * ascending address order.
 */
#ifndef GUEST_MEMMAP_H
#define GUEST_MEMMAP_H

#include <stdint.h>

#include "abi.h"

#define FREE_RANGES_MAX 64

struct mem_range {
	uint64_t start, end;            /* [start, end), page-aligned */
};

struct free_ram {
	struct mem_range ranges[FREE_RANGES_MAX];
	unsigned int count;
	uint64_t pages;
};

/* Sum of the sizes of the type-1 (RAM) entries. */
uint64_t memmap_ram_bytes(const struct hvm_start_info *si);

/* End of the highest type-1 entry. */
uint64_t memmap_ram_top(const struct hvm_start_info *si);

/*
 * Fills FR with the free RAM in [floor, limit). Returns NULL, or why the
 * memory map cannot be used.
 */
const char *free_ram_init(struct free_ram *fr, const struct hvm_start_info *si,
			  uint64_t floor, uint64_t limit);

/* Physical address of free page I (I < fr->pages). */
uint64_t free_ram_page(const struct free_ram *fr, uint64_t i);

#endif /* GUEST_MEMMAP_H */
