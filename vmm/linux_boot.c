// SPDX-License-Identifier: MIT
/*
 * Linux's 64-bit boot protocol: place and load a bzImage's protected-mode
 * kernel (or a vmlinux ELF's segments), put the initrd at the top of low
 * RAM, and write the zero page, command line, GDT and identity map the
 * kernel is entered with (vcpu_setup_linux64()).
 *
 * Every address comes from the image or the memory size: sums are formed
 * only after the operands are known not to wrap.
 */
#include "vmm/linux_boot.h"

#include <errno.h>
#include <string.h>

#include "guest/abi.h"
#include "mem/mem.h"

#define PAGE_MASK (LINUX_PAGE_BYTES - 1)
#define GiB (1ull << 30)

/* Page table entry bits. */
#define PTE_PRESENT  0x001ull
#define PTE_WRITE    0x002ull
#define PTE_LARGE    0x080ull   /* in a page directory: a 2 MiB page */

#define PT_ENTRIES   512u

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* [a, a+alen) and [b, b+blen) share a byte; the ends must not wrap. */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* End of the boot RAM that starts at guest-physical 0 (0: none). */
static uint64_t low_ram_end(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_is_boot_ram(r) && r->gpa == 0)
			return r->size;
	}
	return 0;
}

/* Does [start, start+size) lie in [MACHINE_LEGACY_HOLE_END, end)? Overflow-safe. */
static bool fits_low(uint64_t start, uint64_t size, uint64_t end)
{
	return start >= MACHINE_LEGACY_HOLE_END && start <= end && size <= end - start;
}

int linux_place_bzimage(const struct bzimage_info *bz, uint64_t end, uint64_t *load_out,
			uint64_t *rt_out, struct errmsg *e)
{
	uint64_t align = bz->kernel_alignment, load, rt;

	if (bz->relocatable) {
		/* pref_address where it is usable and fits; else the default. */
		load = bz->pref_address;
		if (load < MACHINE_LEGACY_HOLE_END || load & (align - 1) ||
		    !fits_low(load, bz->init_size, end))
			load = align_up(LINUX_DEFAULT_LOAD_GPA, align);
		rt = load;
	} else {
		load = BZIMAGE_LOAD_HIGH_GPA;
		rt = bz->pref_address ? bz->pref_address : load;
		if (rt < MACHINE_LEGACY_HOLE_END)
			return errmsg_set(e, -ENOEXEC, "bzImage is not relocatable and its "
					  "pref_address 0x%llx is below 1 MiB",
					  (unsigned long long)rt);
		if (rt >= MACHINE_MMIO_HOLE_START || rt > UINT64_MAX - bz->init_size)
			return errmsg_set(e, -ENOEXEC, "bzImage is not relocatable and its "
					  "pref_address 0x%llx is not in RAM below 3 GiB",
					  (unsigned long long)rt);
	}
	if (!fits_low(load, bz->pm_size, end) || !fits_low(rt, bz->init_size, end))
		return errmsg_set(e, -ENOSPC, "bzImage needs RAM at 0x%llx..0x%llx (init_size "
				  "0x%x%s); guest RAM below 4 GiB ends at 0x%llx: give the guest "
				  "more memory", (unsigned long long)rt,
				  (unsigned long long)(rt + bz->init_size), bz->init_size,
				  bz->relocatable ? "" : ", not relocatable",
				  (unsigned long long)end);
	*load_out = load;
	*rt_out = rt;
	return 0;
}

int linux_prepare_bzimage(const void *file, size_t len, const struct guest_mem *gm,
			  struct linux_image *img, struct errmsg *e)
{
	const struct bzimage_info *bz = &img->bz;
	uint64_t load, rt;
	int ret;

	memset(img, 0, sizeof(*img));
	img->kind = LINUX_IMAGE_BZIMAGE;
	ret = bzimage_parse(file, len, &img->bz, e);
	if (ret)
		return ret;
	memcpy(img->hdr, (const uint8_t *)file + BZIMAGE_HDR_OFFSET,
	       bz->hdr_end - BZIMAGE_HDR_OFFSET);
	ret = linux_place_bzimage(bz, low_ram_end(gm), &load, &rt, e);
	if (ret)
		return ret;
	img->load_gpa = load;
	img->entry64 = load + BZIMAGE_ENTRY64_OFFSET;
	img->kernel_start = load < rt ? load : rt;
	img->kernel_end = rt + bz->init_size > load + bz->pm_size ? rt + bz->init_size :
			  load + bz->pm_size;
	img->cmdline_max = bz->cmdline_size;
	img->initrd_addr_max = bz->initrd_addr_max;
	img->initrd_above_4g = bz->xloadflags & BZIMAGE_XLF_CAN_BE_LOADED_ABOVE_4G;
	return 0;
}

int linux_prepare_vmlinux(const struct pvh_image *elf, struct linux_image *img,
			  struct errmsg *e)
{
	bool entry_ok = false;

	memset(img, 0, sizeof(*img));
	img->kind = LINUX_IMAGE_VMLINUX;
	img->elf = *elf;
	for (unsigned int i = 0; i < elf->nr_segments; i++) {
		const struct pvh_segment *s = &elf->seg[i];

		/* pvh_parse_elf() checked that segments lie in RAM: the ends do not wrap. */
		if (overlaps(s->paddr, s->memsz, LINUX_BOOT_AREA_START,
			     LINUX_BOOT_AREA_END - LINUX_BOOT_AREA_START))
			return errmsg_set(e, -ENOEXEC, "segment 0x%llx..0x%llx overlaps the 64-bit "
					  "boot data at 0x%llx..0x%llx",
					  (unsigned long long)s->paddr,
					  (unsigned long long)(s->paddr + s->memsz),
					  LINUX_BOOT_AREA_START, LINUX_BOOT_AREA_END);
		if (elf->elf_entry >= s->paddr && elf->elf_entry - s->paddr < s->filesz)
			entry_ok = true;
	}
	if (elf->highest > LINUX_IDENTITY_MAP_BYTES)
		return errmsg_set(e, -ENOEXEC, "segments end at 0x%llx, above the 4 GiB the "
				  "64-bit boot protocol's identity map covers",
				  (unsigned long long)elf->highest);
	if (!entry_ok)
		return errmsg_set(e, -ENOEXEC, "no PVH note, and the ELF entry 0x%llx (the 64-bit "
				  "entry) is not inside a loaded segment",
				  (unsigned long long)elf->elf_entry);
	img->entry64 = elf->elf_entry;
	img->kernel_start = elf->lowest;
	img->kernel_end = elf->highest;
	img->cmdline_max = LINUX_CMDLINE_BYTES - 1;
	img->initrd_addr_max = LINUX_VMLINUX_INITRD_ADDR_MAX;
	img->initrd_above_4g = true;   /* the kernel proper reads ext_ramdisk_* */
	return 0;
}

int linux_load(struct guest_mem *gm, const void *file, const struct linux_image *img,
	       unsigned int flags)
{
	if (img->kind == LINUX_IMAGE_VMLINUX)
		return pvh_load(gm, file, &img->elf, flags);
	/* The decompressor clears its own bss: nothing past the file's bytes to zero. */
	return mem_write(gm, img->load_gpa, (const uint8_t *)file + img->bz.pm_offset,
			 img->bz.pm_size);
}

int linux_place_initrd(const struct guest_mem *gm, const struct linux_image *img,
		       uint64_t size, uint64_t *gpa)
{
	uint64_t floor, top, rsize;

	if (size > UINT64_MAX - PAGE_MASK)
		return -ENOSPC;
	rsize = align_up(size, LINUX_PAGE_BYTES);
	floor = img->kernel_end > MACHINE_LEGACY_HOLE_END ? img->kernel_end :
		MACHINE_LEGACY_HOLE_END;
	floor = align_up(floor, LINUX_PAGE_BYTES);
	top = low_ram_end(gm);
	if (top > (uint64_t)img->initrd_addr_max + 1)
		top = (uint64_t)img->initrd_addr_max + 1;
	top &= ~PAGE_MASK;
	if (rsize <= top && top - rsize >= floor) {
		*gpa = top - rsize;
		return 0;
	}
	if (!img->initrd_above_4g)
		return -ENOSPC;
	/* The highest boot RAM region above 4 GiB that holds it. */
	for (unsigned int i = gm->nr_regions; i-- > 0;) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_is_boot_ram(r) && r->gpa >= LINUX_IDENTITY_MAP_BYTES &&
		    rsize <= r->size) {
			*gpa = r->gpa + r->size - rsize;
			return 0;
		}
	}
	return -ENOSPC;
}

uint64_t linux_cmdline_limit(const struct linux_image *img)
{
	return img->cmdline_max < LINUX_CMDLINE_BYTES - 1 ? img->cmdline_max :
	       LINUX_CMDLINE_BYTES - 1;
}

static void put16(uint8_t *p, uint32_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint32_t off, uint64_t v)
{
	put32(p, off, (uint32_t)v);
	put32(p, off + 4, (uint32_t)(v >> 32));
}

static unsigned int put_e820(uint8_t *bp, unsigned int n, uint64_t addr, uint64_t size,
			     uint32_t type)
{
	uint32_t off = LINUX_BP_E820_TABLE + n * LINUX_E820_ENTRY_BYTES;

	put64(bp, off, addr);
	put64(bp, off + 8, size);
	put32(bp, off + 16, type);
	return n + 1;
}

/*
 * The e820 map: boot RAM, with the legacy BIOS area (where the ACPI tables
 * are) carved out of the RAM at 0 as reserved. Hotplug and device memory
 * are found through their devices, as with PVH.
 */
static unsigned int build_e820(const struct guest_mem *gm, uint8_t *bp)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < gm->nr_regions && n + 3 <= LINUX_E820_MAX_ENTRIES; i++) {
		const struct mem_region *r = &gm->region[i];

		if (!mem_region_is_boot_ram(r))
			continue;
		if (r->gpa == 0 && r->size > MACHINE_LEGACY_HOLE_END) {
			n = put_e820(bp, n, 0, MACHINE_LEGACY_HOLE_START, E820_TYPE_RAM);
			n = put_e820(bp, n, MACHINE_LEGACY_HOLE_START,
				     MACHINE_LEGACY_HOLE_END - MACHINE_LEGACY_HOLE_START,
				     E820_TYPE_RESERVED);
			n = put_e820(bp, n, MACHINE_LEGACY_HOLE_END,
				     r->size - MACHINE_LEGACY_HOLE_END, E820_TYPE_RAM);
		} else {
			n = put_e820(bp, n, r->gpa, r->size, E820_TYPE_RAM);
		}
	}
	bp[LINUX_BP_E820_ENTRIES] = (uint8_t)n;
	return n;
}

/* The zero page's setup header: the bzImage's own, or made up for a vmlinux. */
/* Setup header fields (boot.rst) the loader owns, beyond bzimage.h's. */
#define LINUX_HDR_EXT_LOADER_VER        0x226u
#define LINUX_HDR_EXT_LOADER_TYPE       0x227u
#define LINUX_HDR_HARDWARE_SUBARCH      0x23cu
#define LINUX_HDR_HARDWARE_SUBARCH_DATA 0x240u
#define LINUX_HDR_SETUP_DATA            0x250u

static void build_header(uint8_t *bp, const struct linux_image *img)
{
	if (img->kind == LINUX_IMAGE_BZIMAGE) {
		memcpy(bp + BZIMAGE_HDR_OFFSET, img->hdr, img->bz.hdr_end - BZIMAGE_HDR_OFFSET);
		/* Where it was loaded (boot.rst: a relocated kernel's loader sets it). */
		put32(bp, BZIMAGE_OFF_CODE32_START, (uint32_t)img->load_gpa);
		/*
		 * Fields the boot loader writes (boot.rst): whatever the file
		 * has there must not reach the kernel as an initrd, a
		 * setup_data list or a subarchitecture.
		 */
		put32(bp, BZIMAGE_OFF_RAMDISK_IMAGE, 0);
		put32(bp, BZIMAGE_OFF_RAMDISK_SIZE, 0);
		put16(bp, BZIMAGE_OFF_HEAP_END_PTR, 0);
		bp[LINUX_HDR_EXT_LOADER_VER] = 0;
		bp[LINUX_HDR_EXT_LOADER_TYPE] = 0;
		put32(bp, LINUX_HDR_HARDWARE_SUBARCH, 0);
		put64(bp, LINUX_HDR_HARDWARE_SUBARCH_DATA, 0);
		put64(bp, LINUX_HDR_SETUP_DATA, 0);
	} else {
		put16(bp, BZIMAGE_OFF_BOOT_FLAG, BZIMAGE_BOOT_FLAG);
		memcpy(bp + BZIMAGE_MAGIC_OFFSET, BZIMAGE_MAGIC, 4);
		put16(bp, BZIMAGE_OFF_VERSION, LINUX_VMLINUX_VERSION);
		put32(bp, BZIMAGE_OFF_INITRD_ADDR_MAX, img->initrd_addr_max);
		put32(bp, BZIMAGE_OFF_KERNEL_ALIGNMENT, LINUX_VMLINUX_ALIGNMENT);
		put32(bp, BZIMAGE_OFF_CMDLINE_SIZE, img->cmdline_max);
	}
	bp[BZIMAGE_OFF_TYPE_OF_LOADER] = LINUX_TYPE_OF_LOADER;
	/*
	 * LOADED_HIGH only: no CAN_USE_HEAP (the real-mode setup code, whose
	 * heap that is, never runs), no QUIET_FLAG (early messages wanted).
	 */
	bp[BZIMAGE_OFF_LOADFLAGS] = BZIMAGE_LOADED_HIGH;
	put32(bp, BZIMAGE_OFF_CMD_LINE_PTR, (uint32_t)LINUX_CMDLINE_GPA);
}

/* Flat 64-bit code (__BOOT_CS), flat data (__BOOT_DS) and a busy 64-bit TSS. */
static const uint64_t linux_gdt[LINUX_GDT_BYTES / 8] = {
	0,
	0,
	0x00af9b000000ffffull,   /* LINUX_SEL_CODE: L=1, execute/read */
	0x00cf93000000ffffull,   /* LINUX_SEL_DATA: read/write */
	0x00008b0000000067ull,   /* LINUX_SEL_TSS, low half */
	0,                       /* LINUX_SEL_TSS, high half (base 63:32) */
};

/* PML4 -> PDPT -> LINUX_PD_PAGES page directories of 2 MiB pages: [0, 4 GiB) identity. */
static int write_page_tables(struct guest_mem *gm)
{
	uint64_t page[PT_ENTRIES];
	int ret;

	_Static_assert(LINUX_PD_PAGES * PT_ENTRIES * LINUX_LARGE_PAGE_BYTES ==
		       LINUX_IDENTITY_MAP_BYTES, "the page directories map 4 GiB");
	_Static_assert(LINUX_PDPT_GPA == LINUX_PML4_GPA + LINUX_PAGE_BYTES &&
		       LINUX_PD_GPA == LINUX_PDPT_GPA + LINUX_PAGE_BYTES, "table pages in a row");
	memset(page, 0, sizeof(page));
	page[0] = LINUX_PDPT_GPA | PTE_PRESENT | PTE_WRITE;
	ret = mem_write(gm, LINUX_PML4_GPA, page, sizeof(page));
	if (ret)
		return ret;
	page[0] = 0;
	for (unsigned int i = 0; i < LINUX_PD_PAGES; i++)
		page[i] = (LINUX_PD_GPA + i * LINUX_PAGE_BYTES) | PTE_PRESENT | PTE_WRITE;
	ret = mem_write(gm, LINUX_PDPT_GPA, page, sizeof(page));
	for (unsigned int i = 0; !ret && i < LINUX_PD_PAGES; i++) {
		for (unsigned int j = 0; j < PT_ENTRIES; j++)
			page[j] = ((uint64_t)i * PT_ENTRIES + j) * LINUX_LARGE_PAGE_BYTES |
				  PTE_PRESENT | PTE_WRITE | PTE_LARGE;
		ret = mem_write(gm, LINUX_PD_GPA + i * LINUX_PAGE_BYTES, page, sizeof(page));
	}
	return ret;
}

int linux_write_boot_data(struct guest_mem *gm, const struct linux_image *img,
			  const struct linux_boot_params *p)
{
	uint8_t bp[LINUX_BOOT_PARAMS_BYTES];
	size_t cmdline_len = strlen(p->cmdline);
	int ret;

	_Static_assert(LINUX_BP_E820_TABLE + LINUX_E820_MAX_ENTRIES * LINUX_E820_ENTRY_BYTES <=
		       LINUX_BOOT_PARAMS_BYTES, "the e820 table fits the zero page");
	_Static_assert(LINUX_BOOT_AREA_START >= PVH_BOOT_AREA_START &&
		       LINUX_STACK_TOP_GPA <= LINUX_PML4_GPA &&
		       LINUX_BOOT_AREA_END <= MACHINE_LEGACY_HOLE_START, "boot data layout");
	if (cmdline_len > linux_cmdline_limit(img))
		return -E2BIG;
	if (p->initrd_size && (p->initrd_gpa >> 32 > UINT32_MAX || p->initrd_size >> 32 > UINT32_MAX))
		return -EINVAL;
	memset(bp, 0, sizeof(bp));
	build_header(bp, img);
	build_e820(gm, bp);
	put64(bp, LINUX_BP_ACPI_RSDP_ADDR, p->acpi_rsdp_gpa);
	if (p->initrd_size) {
		put32(bp, BZIMAGE_OFF_RAMDISK_IMAGE, (uint32_t)p->initrd_gpa);
		put32(bp, BZIMAGE_OFF_RAMDISK_SIZE, (uint32_t)p->initrd_size);
		put32(bp, LINUX_BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_gpa >> 32));
		put32(bp, LINUX_BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	}
	ret = mem_write(gm, LINUX_GDT_GPA, linux_gdt, sizeof(linux_gdt));
	if (!ret)
		ret = write_page_tables(gm);
	if (!ret)
		ret = mem_write(gm, LINUX_CMDLINE_GPA, p->cmdline, cmdline_len + 1);
	if (!ret)
		ret = mem_write(gm, LINUX_BOOT_PARAMS_GPA, bp, sizeof(bp));
	return ret;
}
