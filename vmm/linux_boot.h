/* SPDX-License-Identifier: MIT */
/*
 * Linux's 64-bit boot protocol (Documentation/arch/x86/boot.rst): a bzImage,
 * or an uncompressed vmlinux ELF without a PVH note, entered in long mode
 * with %rsi pointing at struct boot_params (the "zero page"), identity-mapped
 * page tables and a GDT with __BOOT_CS and __BOOT_DS.
 *
 * Boot data, all in low RAM below 1 MiB (kernel segments may not overlap it):
 *   LINUX_GDT_GPA         GDT (PVH uses the same page for its own)
 *   LINUX_BOOT_PARAMS_GPA the zero page
 *   LINUX_CMDLINE_GPA     the command line
 *   LINUX_STACK_TOP_GPA   a boot stack page below it (%rsp; kernels set their own)
 *   LINUX_PML4_GPA...     PML4, PDPT and 4 page directories: [0, 4 GiB)
 *                         identity-mapped with 2 MiB pages
 */
#ifndef MEMVMM_LINUX_BOOT_H
#define MEMVMM_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bzimage.h"
#include "vmm/errmsg.h"
#include "vmm/pvh.h"

struct guest_mem;

#define LINUX_PAGE_BYTES        0x1000ull
#define LINUX_GDT_GPA           PVH_GDT_GPA
#define LINUX_BOOT_PARAMS_GPA   0x6000ull
#define LINUX_BOOT_PARAMS_BYTES LINUX_PAGE_BYTES
#define LINUX_CMDLINE_GPA       0x7000ull
#define LINUX_CMDLINE_BYTES     LINUX_PAGE_BYTES   /* including the NUL */
#define LINUX_STACK_TOP_GPA     0x9000ull          /* the stack page is [0x8000, 0x9000) */
#define LINUX_PML4_GPA          0x9000ull
#define LINUX_PDPT_GPA          0xa000ull
#define LINUX_PD_GPA            0xb000ull          /* LINUX_PD_PAGES pages */
#define LINUX_PD_PAGES          4u
#define LINUX_IDENTITY_MAP_BYTES (4ull << 30)
#define LINUX_LARGE_PAGE_BYTES  (2ull << 20)
#define LINUX_BOOT_AREA_START   LINUX_GDT_GPA
#define LINUX_BOOT_AREA_END     (LINUX_PD_GPA + LINUX_PD_PAGES * LINUX_PAGE_BYTES)

/* GDT selectors of the 64-bit boot protocol. */
#define LINUX_SEL_CODE          0x10   /* __BOOT_CS: 64-bit code */
#define LINUX_SEL_DATA          0x18   /* __BOOT_DS: flat data */
#define LINUX_SEL_TSS           0x20   /* a 16-byte 64-bit TSS descriptor */
#define LINUX_GDT_BYTES         0x30u

/* Where a relocatable kernel without a usable pref_address goes (Linux's default). */
#define LINUX_DEFAULT_LOAD_GPA  0x1000000ull
/* A vmlinux has no header: it is given these (x86-64 kernels' own values). */
#define LINUX_VMLINUX_INITRD_ADDR_MAX 0x7fffffffu
#define LINUX_VMLINUX_ALIGNMENT       0x200000u
/* The protocol version memvmm writes into a vmlinux's zero page (2.15). */
#define LINUX_VMLINUX_VERSION         0x020fu
#define LINUX_TYPE_OF_LOADER          0xffu    /* "undefined": no assigned id */

/* struct boot_params offsets (Documentation/arch/x86/zero-page.rst). */
#define LINUX_BP_ACPI_RSDP_ADDR     0x070u
#define LINUX_BP_EXT_RAMDISK_IMAGE  0x0c0u
#define LINUX_BP_EXT_RAMDISK_SIZE   0x0c4u
#define LINUX_BP_EXT_CMD_LINE_PTR   0x0c8u
#define LINUX_BP_E820_ENTRIES       0x1e8u
#define LINUX_BP_SENTINEL           0x1efu
#define LINUX_BP_E820_TABLE         0x2d0u
#define LINUX_E820_ENTRY_BYTES      20u
#define LINUX_E820_MAX_ENTRIES      128u

enum linux_image_kind {
	LINUX_IMAGE_BZIMAGE,
	LINUX_IMAGE_VMLINUX,   /* an ELF without a PVH note */
};

/* A kernel checked and placed, ready to load (linux_prepare_*()). */
struct linux_image {
	enum linux_image_kind kind;
	struct bzimage_info bz;          /* LINUX_IMAGE_BZIMAGE */
	uint8_t hdr[BZIMAGE_HDR_END_MAX - BZIMAGE_HDR_OFFSET];  /* its setup header */
	struct pvh_image elf;            /* LINUX_IMAGE_VMLINUX: the segments */
	uint64_t load_gpa;               /* bzImage: its protected-mode kernel goes here */
	uint64_t entry64;
	/* [kernel_start, kernel_end): RAM the kernel uses before it reads the e820 map */
	uint64_t kernel_start;
	uint64_t kernel_end;
	uint32_t cmdline_max;            /* characters, without the NUL */
	uint32_t initrd_addr_max;        /* highest byte of an initrd in low RAM */
	bool initrd_above_4g;            /* an initrd may also go to RAM above 4 GiB */
};

/*
 * A bzImage: parse its header (bzimage_parse()) and choose where it loads.
 * Relocatable: at pref_address when that is aligned to kernel_alignment and
 * at least 1 MiB, else at LINUX_DEFAULT_LOAD_GPA rounded up to
 * kernel_alignment; the kernel runs where it is loaded (its decompressor
 * never runs below pref_address, so no lower address would save memory).
 * Not relocatable: at 0x100000 (BZIMAGE_LOAD_HIGH_GPA), and the kernel then
 * runs at pref_address. Either way [load, load + protected-mode size) and
 * [runtime start, + init_size) must lie in the RAM that starts at 0, above
 * the legacy area and below the MMIO hole. -ENOEXEC (a malformed image) or
 * -ENOSPC (too little memory), with e->text saying which.
 */
int linux_prepare_bzimage(const void *file, size_t len, const struct guest_mem *gm,
			  struct linux_image *img, struct errmsg *e)
	__attribute__((warn_unused_result));

/*
 * Where a bzImage described by bz goes (the rules above) in boot RAM that
 * starts at 0 and ends at end: *load (where its protected-mode code is
 * copied) and *rt (where it runs). Pure: boot_check_files() uses it
 * before any guest memory exists. A relocatable kernel whose pref_address
 * does not fit goes to the default address instead.
 */
int linux_place_bzimage(const struct bzimage_info *bz, uint64_t end, uint64_t *load,
			uint64_t *rt, struct errmsg *e) __attribute__((warn_unused_result));

/*
 * An ELF that pvh_parse_elf(PVH_PARSE_ENTRY_OPTIONAL) described without a
 * PVH entry: its segments must stay out of the boot data and below 4 GiB
 * (the identity map), and e_entry (the physical startup_64 of an x86-64
 * vmlinux) must lie in a segment's file bytes. -ENOEXEC otherwise.
 */
int linux_prepare_vmlinux(const struct pvh_image *elf, struct linux_image *img,
			  struct errmsg *e)
	__attribute__((warn_unused_result));

/* Copy the kernel into guest memory (flags: enum pvh_load_flags). */
int linux_load(struct guest_mem *gm, const void *file, const struct linux_image *img,
	       unsigned int flags)
	__attribute__((warn_unused_result));

/*
 * Where an initrd of size bytes goes: page-aligned at the top of the RAM
 * that starts at 0, below initrd_addr_max + 1, above the kernel and 1 MiB;
 * failing that, when the kernel takes it there, at the top of boot RAM
 * above 4 GiB. -ENOSPC if neither fits.
 */
int linux_place_initrd(const struct guest_mem *gm, const struct linux_image *img,
		       uint64_t size, uint64_t *gpa)
	__attribute__((warn_unused_result));

struct linux_boot_params {
	const char *cmdline;
	uint64_t initrd_gpa;        /* 0 when there is no initrd */
	uint64_t initrd_size;
	uint64_t acpi_rsdp_gpa;     /* 0: no ACPI tables */
};

/*
 * Write the GDT, page tables, command line and zero page. -E2BIG when the
 * command line is longer than img->cmdline_max or LINUX_CMDLINE_BYTES - 1,
 * -EINVAL for an initrd above what the zero page can say, else
 * mem_write()'s error.
 */
int linux_write_boot_data(struct guest_mem *gm, const struct linux_image *img,
			  const struct linux_boot_params *p)
	__attribute__((warn_unused_result));

/* The command line's limit for img: min(cmdline_max, LINUX_CMDLINE_BYTES - 1). */
uint64_t linux_cmdline_limit(const struct linux_image *img);

#endif /* MEMVMM_LINUX_BOOT_H */
