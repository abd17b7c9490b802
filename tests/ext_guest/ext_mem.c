// SPDX-License-Identifier: MIT
/*
 * ext_guest: what the loader says (the Xen PVH hvm_start_info, version 1:
 * command line, modules, memory map) and the guest's own page tables.
 * The structures are those of Xen's public/arch-x86/hvm/start_info.h,
 * written out here from that specification.
 */

#include <stddef.h>

#include "ext_guest.h"

#define HUGE_2M_BYTES (2ULL << 20)
#define GIB_BYTES (1ULL << 30)
#define PDPT_SPAN_BYTES (512ULL << 30) /* what one PML4 entry maps */
#define BOOT_MAP_BYTES (4ULL << 30)    /* what ext_guest.S maps before ext_main */
#define ENTRIES_PER_TABLE 512

#define PTE_P 0x001ULL
#define PTE_RW 0x002ULL
#define PTE_PS 0x080ULL
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

#define HVM_START_MAGIC 0x336ec578U
#define MEMMAP_TYPE_RAM 1

#define CMDLINE_MAX_BYTES 4096
#define MEMMAP_MAX_ENTRIES 128
#define MODULES_MAX 16
#define RESERVED_MAX (4 + 2 * MODULES_MAX)
#define DEFAULT_PHYS_BITS 36

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version 1 and later */
	uint32_t memmap_entries; /* version 1 and later */
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "modlist layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap layout");

static struct range ram[MEMMAP_MAX_ENTRIES];
static unsigned int nr_ram;
static struct range reserved[RESERVED_MAX];
static unsigned int nr_reserved;
static char cmdline[CMDLINE_MAX_BYTES];

/* Page tables are taken from free RAM right after the image. */
static uint64_t pt_next, pt_end;

/* [pa, pa + len) lies in what ext_guest.S mapped, without wrapping. */
static bool boot_mapped(uint64_t pa, uint64_t len)
{
	return pa < BOOT_MAP_BYTES && len <= BOOT_MAP_BYTES - pa;
}

/* ---- boot data ---------------------------------------------------------- */

static void reserve(uint64_t pa, uint64_t len)
{
	if (!len)
		return;
	if (nr_reserved == RESERVED_MAX) {
		say("too many boot data ranges");
		fail_setup();
	}
	reserved[nr_reserved++] = (struct range){ pa, len > UINT64_MAX - pa ? UINT64_MAX : pa + len };
}

static void cmdline_read(const struct hvm_start_info *si)
{
	uint64_t pa = si->cmdline_paddr;
	size_t n = 0;

	cmdline[0] = '\0';
	if (!pa)
		return;
	if (!boot_mapped(pa, 1)) {
		say("command line at %x is above 4 GiB", pa);
		fail_setup();
	}
	const char *src = phys(pa);
	while (n < CMDLINE_MAX_BYTES - 1 && boot_mapped(pa, n + 1) && src[n]) {
		cmdline[n] = src[n];
		n++;
	}
	cmdline[n] = '\0';
	/* Keep what the loader gave us out of the fill, NUL included. */
	reserve(pa, n + 1);
}

static unsigned int phys_bits(void)
{
	uint32_t r[4];

	cpuid(0x80000000U, r);
	if (r[0] < 0x80000008U)
		return DEFAULT_PHYS_BITS;
	cpuid(0x80000008U, r);
	unsigned int bits = r[0] & 0xff; /* MAXPHYADDR */
	return bits >= 32 && bits <= 52 ? bits : DEFAULT_PHYS_BITS;
}

/* Modules (an initrd) and their command lines stay out of the fill. */
static void modules_reserve(const struct hvm_start_info *si)
{
	if (!si->nr_modules || !si->modlist_paddr)
		return;
	uint64_t len = (uint64_t)si->nr_modules * sizeof(struct hvm_modlist_entry);
	if (si->nr_modules > MODULES_MAX || !boot_mapped(si->modlist_paddr, len)) {
		say("module list: %u modules at %x: not usable", (uint64_t)si->nr_modules,
		    si->modlist_paddr);
		fail_setup();
	}
	reserve(si->modlist_paddr, len);
	const struct hvm_modlist_entry *m = phys(si->modlist_paddr);
	for (uint32_t i = 0; i < si->nr_modules; i++) {
		say("module paddr=%x size=%u kept out of the fill", m[i].paddr, m[i].size);
		reserve(m[i].paddr, m[i].size);
		if (m[i].cmdline_paddr)
			reserve(m[i].cmdline_paddr, PAGE_BYTES); /* a page: enough */
	}
}

static void ram_sort_merge(void)
{
	for (unsigned int i = 1; i < nr_ram; i++) {
		struct range r = ram[i];
		unsigned int j = i;

		for (; j && ram[j - 1].base > r.base; j--)
			ram[j] = ram[j - 1];
		ram[j] = r;
	}
	unsigned int out = 0;
	for (unsigned int i = 0; i < nr_ram; i++) {
		if (out && ram[i].base <= ram[out - 1].end) {
			if (ram[i].end > ram[out - 1].end)
				ram[out - 1].end = ram[i].end;
			continue;
		}
		ram[out++] = ram[i];
	}
	nr_ram = out;
}

static void memmap_read(const struct hvm_start_info *si)
{
	uint64_t limit = 1ULL << phys_bits();

	if (si->version < 1 || !si->memmap_entries || !si->memmap_paddr) {
		say("no memory map in start_info (version %u, %u entries): PVH version 1 needed",
		    (uint64_t)si->version, (uint64_t)si->memmap_entries);
		fail_setup();
	}
	uint64_t len = (uint64_t)si->memmap_entries * sizeof(struct hvm_memmap_table_entry);
	if (si->memmap_entries > MEMMAP_MAX_ENTRIES || !boot_mapped(si->memmap_paddr, len)) {
		say("memory map: %u entries at %x: not usable", (uint64_t)si->memmap_entries,
		    si->memmap_paddr);
		fail_setup();
	}
	reserve(si->memmap_paddr, len);
	const struct hvm_memmap_table_entry *e = phys(si->memmap_paddr);
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		if (e[i].type != MEMMAP_TYPE_RAM || !e[i].size || e[i].addr >= limit)
			continue;
		uint64_t base = align_up(e[i].addr, PAGE_BYTES);
		uint64_t end = e[i].size > limit - e[i].addr ? limit : e[i].addr + e[i].size;
		end = align_down(end, PAGE_BYTES);
		if (base < end)
			ram[nr_ram++] = (struct range){ base, end };
	}
	ram_sort_merge();
	if (!nr_ram) {
		say("memory map has no RAM");
		fail_setup();
	}
}

char *boot_info_read(uint32_t start_info_pa)
{
	const struct hvm_start_info *si = phys(start_info_pa);

	/* %ebx is 32-bit: start_info lies in what ext_guest.S mapped. */
	if (!start_info_pa || si->magic != HVM_START_MAGIC) {
		say("no hvm_start_info at %x (magic %x)", (uint64_t)start_info_pa,
		    start_info_pa ? (uint64_t)si->magic : 0);
		fail_setup();
	}
	reserve(start_info_pa, sizeof(*si));
	cmdline_read(si);
	memmap_read(si);
	modules_reserve(si);
	return cmdline;
}

uint64_t boot_ram_bytes(unsigned int *ranges)
{
	uint64_t bytes = 0;

	for (unsigned int i = 0; i < nr_ram; i++)
		bytes += ram[i].end - ram[i].base;
	*ranges = nr_ram;
	return bytes;
}

/* The reserved range that contains pa, or NULL. */
static const struct range *reserved_at(uint64_t pa)
{
	for (unsigned int i = 0; i < nr_reserved; i++)
		if (pa >= reserved[i].base && pa < reserved[i].end)
			return &reserved[i];
	return NULL;
}

/* The lowest reserved base in (pa, end), or end. */
static uint64_t reserved_next(uint64_t pa, uint64_t end)
{
	for (unsigned int i = 0; i < nr_reserved; i++)
		if (reserved[i].base > pa && reserved[i].base < end)
			end = reserved[i].base;
	return end;
}

void free_ram_walk(uint64_t from, bool (*take)(uint64_t base, uint64_t end))
{
	for (unsigned int i = 0; i < nr_ram; i++) {
		uint64_t cur = ram[i].base > from ? ram[i].base : from;

		while (cur < ram[i].end) {
			const struct range *r = reserved_at(cur);
			if (r) {
				cur = r->end >= ram[i].end ? ram[i].end : align_up(r->end, PAGE_BYTES);
				continue;
			}
			uint64_t end = align_down(reserved_next(cur, ram[i].end), PAGE_BYTES);
			if (end > cur && !take(cur, end))
				return;
			cur = end > cur ? end : cur + PAGE_BYTES;
		}
	}
}

/* ---- page tables -------------------------------------------------------- */

static uint64_t pt_pages_needed;
static uint64_t pt_found;

static bool pt_place(uint64_t base, uint64_t end)
{
	if ((end - base) / PAGE_BYTES < pt_pages_needed)
		return true;
	pt_found = base;
	return false;
}

static uint64_t *pt_alloc(void)
{
	if (pt_next >= pt_end) {
		say("page table pages ran out");
		fail_setup();
	}
	uint64_t *t = phys(pt_next);
	pt_next += PAGE_BYTES;
	for (unsigned int i = 0; i < ENTRIES_PER_TABLE; i++)
		t[i] = 0;
	return t;
}

static uint64_t *pt_child(uint64_t *table, unsigned int index)
{
	if (!(table[index] & PTE_P))
		table[index] = (uint64_t)(uintptr_t)pt_alloc() | PTE_P | PTE_RW;
	return phys(table[index] & PTE_ADDR_MASK);
}

/* Units of `span` bytes that some RAM range touches. */
static uint64_t ram_span_count(uint64_t span)
{
	uint64_t n = 0, last = UINT64_MAX;

	for (unsigned int i = 0; i < nr_ram; i++) {
		uint64_t first = ram[i].base / span, final = (ram[i].end - 1) / span;

		if (first == last)
			first++;
		if (final >= first)
			n += final - first + 1;
		last = final;
	}
	return n;
}

/* Page tables: one PML4, a PDPT per 512 GiB and a PD per 1 GiB holding RAM. */
uint64_t paging_setup(uint64_t image_end)
{
	pt_pages_needed = 1 + ram_span_count(PDPT_SPAN_BYTES) + ram_span_count(GIB_BYTES);
	pt_found = 0;
	free_ram_walk(image_end, pt_place);
	if (!pt_found || !boot_mapped(pt_found, pt_pages_needed * PAGE_BYTES)) {
		say("no room below 4 GiB for %u page table pages", pt_pages_needed);
		fail_setup();
	}
	pt_next = pt_found;
	pt_end = pt_found + pt_pages_needed * PAGE_BYTES;

	uint64_t *pml4 = pt_alloc();
	for (unsigned int i = 0; i < nr_ram; i++) {
		for (uint64_t a = align_down(ram[i].base, HUGE_2M_BYTES); a < ram[i].end;
		     a += HUGE_2M_BYTES) {
			uint64_t *pdpt = pt_child(pml4, (a >> 39) & 511);
			uint64_t *pd = pt_child(pdpt, (a >> 30) & 511);
			pd[(a >> 21) & 511] = a | PTE_P | PTE_RW | PTE_PS;
		}
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)pml4) : "memory");
	return pt_end;
}
