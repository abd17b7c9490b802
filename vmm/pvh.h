/* SPDX-License-Identifier: MIT */
/*
 * PVH boot: parse an ELF64 image with a XEN_ELFNOTE_PHYS32_ENTRY note, load its
 * PT_LOAD segments by physical address, and build hvm_start_info (version 1)
 * with the memory map, command line and an optional module.
 */
#ifndef MEMVMM_PVH_H
#define MEMVMM_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

struct guest_mem;

/* Boot data memvmm writes; kernel segments may not overlap it. */
#define PVH_GDT_GPA         0x5000ull
#define PVH_START_INFO_GPA  0x6000ull   /* start info, module list, memory map */
#define PVH_CMDLINE_GPA     0x7000ull
#define PVH_CMDLINE_BYTES   0x1000ull   /* including the NUL */
#define PVH_BOOT_AREA_START PVH_GDT_GPA
#define PVH_BOOT_AREA_END   (PVH_CMDLINE_GPA + PVH_CMDLINE_BYTES)

/* Legacy BIOS area the memory map marks reserved: EBDA, VGA, ROMs. */
#define PVH_LEGACY_HOLE_START 0x9fc00ull
#define PVH_LEGACY_HOLE_END   0x100000ull

/* GDT selectors set up for the 32-bit entry. */
#define PVH_SEL_CODE 0x08
#define PVH_SEL_DATA 0x10
#define PVH_SEL_TSS  0x18

#define PVH_MAX_SEGMENTS  16
#define PVH_MAX_MEMMAP    8

/*
 * Bounds on the work of looking for the entry note in a hostile image (each
 * PT_NOTE header may cover the whole file): PT_NOTE headers looked into, and
 * bytes of notes walked in all of them together. Beyond either the image is
 * refused. Real kernels have one PT_NOTE of a few KiB.
 */
#define PVH_MAX_NOTE_HEADERS    64
#define PVH_MAX_NOTE_SCAN_BYTES (1ull << 20)

struct pvh_segment {
	uint64_t paddr;
	uint64_t offset;    /* in the file */
	uint64_t filesz;
	uint64_t memsz;
};

struct pvh_image {
	uint32_t entry;     /* the PVH entry (when has_pvh_entry) */
	bool has_pvh_entry;
	uint64_t elf_entry; /* e_entry */
	unsigned int nr_segments;
	struct pvh_segment seg[PVH_MAX_SEGMENTS];
	uint64_t lowest;    /* [lowest, highest): what the segments occupy */
	uint64_t highest;
};

/*
 * Check an ELF image held in memory and describe it. Refuses (-ENOEXEC with a
 * message saying what is wrong) anything that is not ELF64 x86-64, is
 * truncated, has segments outside RAM, over the boot data, in the reserved
 * legacy area or over each other, has no PVH entry note, or takes more
 * than the PVH_MAX_NOTE_* bounds to find it.
 */
int pvh_parse(const void *elf, size_t len, const struct guest_mem *gm,
	      struct pvh_image *img, struct errmsg *e)
	__attribute__((warn_unused_result));

enum pvh_parse_flags {
	/*
	 * An image without the PVH entry note is described, not refused
	 * (img->has_pvh_entry false): the caller boots it some other way
	 * (vmm/linux_boot.h). A malformed note is still refused.
	 */
	PVH_PARSE_ENTRY_OPTIONAL = 1u << 0,
};

/* pvh_parse() with flags (enum pvh_parse_flags). */
int pvh_parse_elf(const void *elf, size_t len, const struct guest_mem *gm, unsigned int flags,
		  struct pvh_image *img, struct errmsg *e)
	__attribute__((warn_unused_result));

enum pvh_load_flags {
	/*
	 * Guest memory is all zero (fresh): the bss parts are already zero
	 * and are not written, so they stay unpopulated.
	 */
	PVH_LOAD_MEM_IS_ZERO = 1u << 0,
};

/*
 * Copy the segments into guest memory and zero their bss parts (unless
 * flags has PVH_LOAD_MEM_IS_ZERO).
 */
int pvh_load(struct guest_mem *gm, const void *elf, const struct pvh_image *img,
	     unsigned int flags)
	__attribute__((warn_unused_result));

struct pvh_boot_params {
	const char *cmdline;          /* at most PVH_CMDLINE_BYTES - 1 bytes */
	uint64_t module_gpa;          /* 0 when there is no module */
	uint64_t module_size;
	uint64_t rsdp_gpa;            /* hvm_start_info.rsdp_paddr; 0: no ACPI tables */
};

/*
 * Where a module of module_size bytes goes: page-aligned at the top of the
 * first RAM region, above the kernel image. -ENOSPC if it does not fit.
 */
int pvh_place_module(const struct guest_mem *gm, const struct pvh_image *img,
		     uint64_t module_size, uint64_t *gpa)
	__attribute__((warn_unused_result));

/*
 * Write the GDT, start info, memory map and command line. *start_info_gpa
 * gets the value for %ebx.
 */
int pvh_write_boot_data(struct guest_mem *gm, const struct pvh_boot_params *p,
			uint64_t *start_info_gpa)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_PVH_H */
