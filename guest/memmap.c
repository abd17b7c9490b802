// SPDX-License-Identifier: MIT
/* The PVH memory map and the free RAM derived from it. */
#include <stddef.h>

#include "cpu.h"
#include "memmap.h"

#define PAGE_MASK ((uint64_t)PAGE_SIZE - 1)

static const struct hvm_memmap_table_entry *memmap(const struct hvm_start_info *si)
{
	return (const void *)(uintptr_t)si->memmap_paddr;
}

static uint64_t entry_end(const struct hvm_memmap_table_entry *e)
{
	uint64_t end = e->addr + e->size;

	return end < e->addr ? UINT64_MAX : end;
}

uint64_t memmap_ram_bytes(const struct hvm_start_info *si)
{
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (memmap(si)[i].type == E820_TYPE_RAM)
			bytes += memmap(si)[i].size;
	return bytes;
}

uint64_t memmap_ram_top(const struct hvm_start_info *si)
{
	uint64_t top = 0;

	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		const struct hvm_memmap_table_entry *e = &memmap(si)[i];

		if (e->type == E820_TYPE_RAM && entry_end(e) > top)
			top = entry_end(e);
	}
	return top;
}

/* Inserts [start, end) keeping the list sorted by start. */
static const char *range_insert(struct free_ram *fr, uint64_t start, uint64_t end)
{
	unsigned int i;

	if (fr->count == FREE_RANGES_MAX)
		return "too many free RAM ranges";
	for (i = fr->count; i > 0 && fr->ranges[i - 1].start > start; i--)
		fr->ranges[i] = fr->ranges[i - 1];
	fr->ranges[i] = (struct mem_range){ start, end };
	fr->count++;
	return NULL;
}

/* Removes [start, end) from every range, splitting where needed. */
static const char *range_remove(struct free_ram *fr, uint64_t start, uint64_t end)
{
	for (unsigned int i = 0; i < fr->count; i++) {
		struct mem_range r = fr->ranges[i];

		if (end <= r.start || start >= r.end)
			continue;
		/* Drop r, then put back what lies outside [start, end). */
		for (unsigned int j = i; j + 1 < fr->count; j++)
			fr->ranges[j] = fr->ranges[j + 1];
		fr->count--;
		i--;
		if (r.start < start && range_insert(fr, r.start, start))
			return "too many free RAM ranges";
		if (end < r.end && range_insert(fr, end, r.end))
			return "too many free RAM ranges";
	}
	return NULL;
}

const char *free_ram_init(struct free_ram *fr, const struct hvm_start_info *si,
			  uint64_t floor, uint64_t limit)
{
	const struct hvm_modlist_entry *mods = (const void *)(uintptr_t)si->modlist_paddr;
	const char *why;

	fr->count = 0;
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		const struct hvm_memmap_table_entry *e = &memmap(si)[i];
		uint64_t start = (e->addr + PAGE_MASK) & ~PAGE_MASK;
		uint64_t end = entry_end(e) & ~PAGE_MASK;

		if (e->type != E820_TYPE_RAM || start < e->addr)
			continue;
		if (start < floor)
			start = floor;
		if (end > limit)
			end = limit;
		if (start < end && (why = range_insert(fr, start, end)))
			return why;
	}
	for (uint32_t i = 0; i < si->nr_modules; i++) {
		uint64_t start = mods[i].paddr & ~PAGE_MASK;
		uint64_t end = mods[i].paddr + mods[i].size;

		if (end < mods[i].paddr || end > UINT64_MAX - PAGE_MASK)
			end = UINT64_MAX;
		else
			end = (end + PAGE_MASK) & ~PAGE_MASK;
		if ((why = range_remove(fr, start, end)))
			return why;
	}
	fr->pages = 0;
	for (unsigned int i = 0; i < fr->count; i++) {
		if (i && fr->ranges[i].start < fr->ranges[i - 1].end)
			return "memmap RAM entries overlap";
		fr->pages += (fr->ranges[i].end - fr->ranges[i].start) / PAGE_SIZE;
	}
	return NULL;
}

uint64_t free_ram_page(const struct free_ram *fr, uint64_t i)
{
	for (unsigned int r = 0; r < fr->count; r++) {
		uint64_t n = (fr->ranges[r].end - fr->ranges[r].start) / PAGE_SIZE;

		if (i < n)
			return fr->ranges[r].start + i * PAGE_SIZE;
		i -= n;
	}
	return 0;
}
