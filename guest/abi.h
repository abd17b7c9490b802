/* SPDX-License-Identifier: MIT */
/*
 * The boot ABI shared by memvmm and its test guest: the public Xen/x86 PVH
 * boot ABI (hvm_start_info, version 1), used by any PVH guest, and the test
 * guest's per-page pattern (so host-side tests can recompute what the guest
 * reports). The machine itself (memory map, ports, IRQs, CPUID leaves) is
 * described in mem/machine.h.
 *
 * Freestanding: included by the guest (no libc) and by memvmm.
 */
#ifndef MEMVMM_GUEST_ABI_H
#define MEMVMM_GUEST_ABI_H

#include <stdint.h>

#include "mem/machine.h"

/* ---- PVH boot ABI ---------------------------------------------------- */

/* ELF note (name "Xen") carrying the 32-bit physical entry point. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define HVM_START_MAGIC_VALUE 0x336ec578u

struct hvm_start_info {
	uint32_t magic;          /* HVM_START_MAGIC_VALUE */
	uint32_t version;        /* 1: memmap fields are valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;  /* struct hvm_modlist_entry[nr_modules] */
	uint64_t cmdline_paddr;  /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;     /* 0: no ACPI */
	uint64_t memmap_paddr;   /* struct hvm_memmap_table_entry[memmap_entries] */
	uint32_t memmap_entries;
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
	uint32_t type;           /* E820 types */
	uint32_t reserved;
};

#define E820_TYPE_RAM       1
#define E820_TYPE_RESERVED  2

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry layout");

/* ---- test guest pattern ---------------------------------------------- */

/*
 * The value the test guest's touch step writes at offset 0 of its i-th page
 * (i = 0, 1, ...): the SplitMix64 finaliser of i + 1. Bijective, so every
 * page's value is unique. The report step's checksum is the sum (mod 2^64)
 * of the values it reads back.
 */
static inline uint64_t memvmm_page_value(uint64_t i)
{
	uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* MEMVMM_GUEST_ABI_H */
