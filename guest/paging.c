// SPDX-License-Identifier: MIT
/*
 * The identity map beyond what boot.S builds: RAM above 4 GiB
 * (paging_map_up_to) and device or hotplug memory anywhere below 128 TiB
 * (paging_map), with page tables from a fixed pool.
 */
#include <stddef.h>

#include "cpu.h"

#define LARGE_PAGE_BYTES   (1ull << LARGE_PAGE_SHIFT)
#define GIB_BYTES          (1ull << GIB_SHIFT)
#define PML4_SHIFT         39
#define IDENTITY_MAP_LIMIT (1ull << 47)         /* the lower canonical half */
#define PTE_ADDR_MASK      0x000ffffffffff000ull
#define PTE_CACHE_BITS     (PTE_PCD | PTE_PWT)
#define CPUID_EXT_MAX      0x80000000u
#define CPUID_EXT_FEATURES 0x80000001u
#define CPUID_EDX_PDPE1GB  (1u << 26)

static unsigned int dyn_used;
static int gib_pages = -1;                      /* -1: not probed yet */

uint64_t paging_map_up_to(uint64_t top)
{
	uint64_t gib = top >> GIB_SHIFT;

	if (top & (GIB_BYTES - 1))
		gib++;
	if (gib > MAX_MAPPED_GIB)
		gib = MAX_MAPPED_GIB;
	/* Entries 0..BOOT_MAPPED_GIB-1 were written by boot.S; the new ones were
	 * not present, so no TLB entry can be stale. */
	for (uint64_t g = BOOT_MAPPED_GIB; g < gib; g++) {
		uint64_t *pd = pt_pd_pool[g];
		uint64_t entry = g << GIB_SHIFT | PTE_LARGE;

		for (int i = 0; i < 512; i++, entry += LARGE_PAGE_BYTES)
			pd[i] = entry;
		pt_pdpt[g] = (uint64_t)pd | PTE_TABLE;
	}
	return (gib > BOOT_MAPPED_GIB ? gib : BOOT_MAPPED_GIB) << GIB_SHIFT;
}

static bool cpu_has_gib_pages(void)
{
	uint32_t a, b, c, d;

	if (gib_pages < 0) {
		cpuid(CPUID_EXT_MAX, &a, &b, &c, &d);
		gib_pages = 0;
		if (a >= CPUID_EXT_FEATURES) {
			cpuid(CPUID_EXT_FEATURES, &a, &b, &c, &d);
			gib_pages = !!(d & CPUID_EDX_PDPE1GB);
		}
	}
	return gib_pages;
}

/* A cleared page-table page from the pool, or NULL. */
static uint64_t *table_alloc(void)
{
	uint64_t *t;

	if (dyn_used == PT_DYN_PAGES)
		return NULL;
	t = pt_dyn_pool[dyn_used++];
	for (int i = 0; i < 512; i++)
		t[i] = 0;
	return t;
}

static uint64_t *table_of(uint64_t entry)
{
	return (uint64_t *)(uintptr_t)(entry & PTE_ADDR_MASK);
}

/* The table ENTRY points to, made first (a split of a 1 GiB page keeps its mapping). */
static uint64_t *table_get(uint64_t *entry, bool split_gib)
{
	uint64_t *t;

	if ((*entry & PTE_P) && !(*entry & PTE_PS))
		return table_of(*entry);
	if (!(t = table_alloc()))
		return NULL;
	if (split_gib && (*entry & PTE_P)) {
		uint64_t old = *entry;

		for (int i = 0; i < 512; i++)
			t[i] = old + (uint64_t)i * LARGE_PAGE_BYTES;
	}
	*entry = (uint64_t)t | PTE_TABLE;
	return t;
}

static void tlb_flush(void)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

const char *paging_map(uint64_t start, uint64_t end, bool uncached)
{
	uint64_t flags = PTE_LARGE | (uncached ? PTE_CACHE_BITS : 0);
	const char *why = NULL;
	uint64_t a;

	if (end <= start)
		return NULL;
	if (end > IDENTITY_MAP_LIMIT)
		return "address above 128 TiB";
	start &= ~(LARGE_PAGE_BYTES - 1);
	end = (end + LARGE_PAGE_BYTES - 1) & ~(LARGE_PAGE_BYTES - 1);
	for (a = start; a < end;) {
		uint64_t *pdpt, *pd, *pdpte;

		if (!(pdpt = table_get(&pt_pml4[a >> PML4_SHIFT & 511], false)))
			goto exhausted;
		pdpte = &pdpt[a >> GIB_SHIFT & 511];
		if (!(a & (GIB_BYTES - 1)) && end - a >= GIB_BYTES && cpu_has_gib_pages()) {
			/* A page directory it pointed to, if any, is dropped. */
			*pdpte = a | flags;
			a += GIB_BYTES;
			continue;
		}
		if ((*pdpte & PTE_P) && (*pdpte & PTE_PS) &&
		    (*pdpte & ~PTE_ADDR_MASK) == flags) {
			a = (a | (GIB_BYTES - 1)) + 1;  /* already mapped so */
			continue;
		}
		if (!(pd = table_get(pdpte, true)))
			goto exhausted;
		pd[a >> LARGE_PAGE_SHIFT & 511] = a | flags;
		a += LARGE_PAGE_BYTES;
	}
	goto out;
exhausted:
	why = "page-table pool used up";
out:
	tlb_flush();
	return why;
}
