// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the kernel-image loaders of Linux's 64-bit boot
 * protocol: the input is a kernel file, told apart as boot_load() does (an
 * ELF through pvh_parse_elf(PVH_PARSE_ENTRY_OPTIONAL), then PVH or
 * linux_prepare_vmlinux(); a bzImage through linux_prepare_bzimage()), and
 * tried against three guest memories (anonymous, created once, emptied
 * after each input so that PVH_LOAD_MEM_IS_ZERO is true where it is used):
 *   16 MiB             bss zeroed by the loader; too small for most kernels
 *   128 MiB            room for a Debian-sized init_size at 16 MiB
 *   3 GiB + 64 MiB     low RAM up to the MMIO hole, 64 MiB from 4 GiB
 *
 * Every input also goes through bzimage_parse(), which must agree with
 * bzimage_parse_head() on the file's first bytes (a copy of exactly that
 * size, so that ASan sees a read past it); a header it accepts is placed by
 * linux_place_bzimage() at ends of low RAM from 0 to 2^64 - 1. A refusal is a documented errno
 * with a reason. What is accepted must stay in RAM and out of the boot data;
 * once loaded, the kernel's bytes read back from guest memory; every initrd
 * size tried is placed page-aligned in RAM, off the kernel, below
 * initrd_addr_max or (where the kernel allows) above 4 GiB, as high as it
 * fits; the zero page, command line and identity map read back as boot.rst
 * says, and the kernel's bytes are still intact after them.
 *
 * Seeds (corpus/fuzz_bzimage/): bzImages made from the header fields
 * (relocatable, fixed, protocol 2.12 with the least header, truncated in the
 * header and in the payload) and small ELFs (no PVH note, a non-PVH note,
 * a PVH note, a segment above 4 GiB, e_entry outside the segments, 17
 * segments, 65 PT_NOTE headers).
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/abi.h"
#include "mem/mem.h"
#include "vmm/bzimage.h"
#include "vmm/linux_boot.h"
#include "vmm/pvh.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define FUZZ_PAGE_BYTES 4096ull
/* Bytes of a segment's bss checked to read zero at each end. */
#define FUZZ_BSS_CHECK_BYTES 4096ull
#define FUZZ_RSDP_GPA 0xe0000ull

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(__LINE__, #cond);                            \
	} while (0)

static void fuzz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_bzimage.c:%d: check failed: %s\n", line, what);
	abort();
}

struct fuzz_mem {
	uint64_t size;
	unsigned int load_flags;   /* enum pvh_load_flags */
	struct guest_mem gm;
	bool ready;
};

static struct fuzz_mem fuzz_mems[] = {
	{ .size = 16 * MiB, .load_flags = 0 },
	{ .size = 128 * MiB, .load_flags = PVH_LOAD_MEM_IS_ZERO },
	{ .size = MEM_MMIO_HOLE_START + 64 * MiB, .load_flags = PVH_LOAD_MEM_IS_ZERO },
};
#define FUZZ_NR_MEMS (sizeof(fuzz_mems) / sizeof(fuzz_mems[0]))

static struct guest_mem *fuzz_mem_get(struct fuzz_mem *m)
{
	struct mem_config mc = { .size = m->size, .backend = &mem_backend_anon };

	if (!m->ready) {
		FUZZ_CHECK(mem_create(&m->gm, &mc, -1, NULL) == 0);
		m->ready = true;
	}
	return &m->gm;
}

/* Give every region back: the next input finds all-zero memory, and RSS stays small. */
static void fuzz_mem_empty(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r))
			FUZZ_CHECK(mem_discard(gm, r->gpa, r->size) == 0);
	}
}

/* End of the boot RAM at guest-physical 0. */
static uint64_t fuzz_low_end(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++)
		if (mem_region_is_boot_ram(&gm->region[i]) && gm->region[i].gpa == 0)
			return gm->region[i].size;
	return 0;
}

static uint64_t le(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* A refusal: one of the errnos given, and a reason that is a string. */
static void check_refusal(int ret, int ok1, int ok2, const struct errmsg *e)
{
	FUZZ_CHECK(ret == ok1 || ret == ok2);
	FUZZ_CHECK(e->text[0] && memchr(e->text, '\0', sizeof(e->text)));
}

/* guest memory at gpa holds exactly want (len bytes). */
static void check_mem_is(const struct guest_mem *gm, uint64_t gpa, const void *want, size_t len)
{
	uint8_t *got = malloc(len ? len : 1);

	FUZZ_CHECK(got);
	FUZZ_CHECK(mem_read(gm, gpa, got, len) == 0);
	FUZZ_CHECK(!memcmp(got, want, len));
	free(got);
}

static void check_mem_zero(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	static const uint8_t zero[FUZZ_BSS_CHECK_BYTES];

	FUZZ_CHECK(len <= sizeof(zero));
	check_mem_is(gm, gpa, zero, (size_t)len);
}

static bool bz_info_equal(const struct bzimage_info *a, const struct bzimage_info *b)
{
	return a->version == b->version && a->setup_sects == b->setup_sects &&
	       a->hdr_end == b->hdr_end && a->pm_offset == b->pm_offset &&
	       a->pm_size == b->pm_size && a->loadflags == b->loadflags &&
	       a->relocatable == b->relocatable && a->kernel_alignment == b->kernel_alignment &&
	       a->xloadflags == b->xloadflags && a->code32_start == b->code32_start &&
	       a->cmdline_size == b->cmdline_size && a->initrd_addr_max == b->initrd_addr_max &&
	       a->pref_address == b->pref_address && a->init_size == b->init_size;
}

/*
 * linux_place_bzimage() at one end of low RAM: where the header asks
 * (pref_address for a relocatable kernel when it is usable and fits, else
 * 16 MiB rounded up to kernel_alignment; a fixed one copied to 1 MiB and
 * run at pref_address), in [1 MiB, end). Returns whether it was placed.
 */
static bool check_place(const struct bzimage_info *bz, uint64_t end)
{
	uint64_t align = bz->kernel_alignment, pref = bz->pref_address, load = 0, rt = 0, dflt;
	struct errmsg e = { 0 };
	int ret = linux_place_bzimage(bz, end, &load, &rt, &e);

	if (ret) {
		check_refusal(ret, bz->relocatable ? -ENOSPC : -ENOEXEC, -ENOSPC, &e);
		return false;
	}
	FUZZ_CHECK(load >= MACHINE_LEGACY_HOLE_END && load <= end && bz->pm_size <= end - load);
	FUZZ_CHECK(rt >= MACHINE_LEGACY_HOLE_END && rt <= end && bz->init_size <= end - rt);
	if (bz->relocatable) {
		dflt = (LINUX_DEFAULT_LOAD_GPA + align - 1) & ~(uint64_t)(align - 1);
		FUZZ_CHECK(rt == load && !(load & (align - 1)));
		if (pref >= MACHINE_LEGACY_HOLE_END && !(pref & (align - 1)) && pref <= end &&
		    bz->init_size <= end - pref)
			FUZZ_CHECK(load == pref);
		else
			FUZZ_CHECK(load == dflt);
	} else {
		FUZZ_CHECK(load == BZIMAGE_LOAD_HIGH_GPA);
		FUZZ_CHECK(rt == (pref ? pref : BZIMAGE_LOAD_HIGH_GPA));
	}
	return true;
}

/* linux_place_bzimage() over ends of low RAM, low to high: once it fits, it fits above. */
static void fuzz_place(const struct bzimage_info *bz)
{
	static const uint64_t ends[] = {
		0, MACHINE_LEGACY_HOLE_END, 16 * MiB, 17 * MiB, 64 * MiB, 128 * MiB,
		1 * GiB + 16 * MiB, MEM_MMIO_HOLE_START, 4 * GiB, UINT64_MAX,
	};
	bool placed = false;

	for (unsigned int i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		bool now = check_place(bz, ends[i]);

		FUZZ_CHECK(now || !placed);
		placed = now;
	}
	/* Right at the end pref_address asks for, and one byte short of it. */
	if (bz->pref_address <= UINT64_MAX - bz->init_size) {
		(void)check_place(bz, bz->pref_address + bz->init_size);
		(void)check_place(bz, bz->pref_address + bz->init_size - 1);
	}
}

/*
 * bzimage_parse() on the whole file, and bzimage_parse_head() on its first
 * min(len, BZIMAGE_HDR_END_MAX) bytes: the same answer; what is accepted
 * holds the header's rules.
 */
static void fuzz_header(const uint8_t *file, size_t len)
{
	size_t n = len < BZIMAGE_HDR_END_MAX ? len : BZIMAGE_HDR_END_MAX;
	struct bzimage_info a, b;
	struct errmsg ea = { 0 }, eb = { 0 };
	uint8_t *head = malloc(n ? n : 1);
	int ra, rb;

	FUZZ_CHECK(head);
	memcpy(head, file, n);
	ra = bzimage_parse(file, len, &a, &ea);
	rb = bzimage_parse_head(head, n, len, &b, &eb);
	FUZZ_CHECK(ra == rb);
	if (ra) {
		check_refusal(ra, -ENOEXEC, -ENOEXEC, &ea);
		FUZZ_CHECK(!strcmp(ea.text, eb.text));
	} else {
		FUZZ_CHECK(bz_info_equal(&a, &b));
		FUZZ_CHECK(bzimage_has_magic(file, len));
		FUZZ_CHECK(a.version >= BZIMAGE_XLOADFLAGS_VERSION);
		FUZZ_CHECK(a.hdr_end >= BZIMAGE_HDR_END_MIN && a.hdr_end <= BZIMAGE_HDR_END_MAX &&
			   a.hdr_end <= len);
		FUZZ_CHECK(a.pm_offset == (a.setup_sects + 1ull) * BZIMAGE_SECTOR_BYTES);
		FUZZ_CHECK(a.pm_offset < len && a.pm_size <= len - a.pm_offset);
		FUZZ_CHECK(a.pm_size > BZIMAGE_ENTRY64_OFFSET && a.pm_size % 16 == 0);
		FUZZ_CHECK((a.loadflags & BZIMAGE_LOADED_HIGH) &&
			   (a.xloadflags & BZIMAGE_XLF_KERNEL_64));
		FUZZ_CHECK(a.kernel_alignment && !(a.kernel_alignment & (a.kernel_alignment - 1)) &&
			   a.kernel_alignment <= BZIMAGE_MAX_ALIGNMENT);
		FUZZ_CHECK(a.init_size >= a.pm_size && a.init_size <= BZIMAGE_MAX_INIT_BYTES);
		fuzz_place(&a);
		/* One byte short of the protected-mode kernel is a truncated file. */
		FUZZ_CHECK(bzimage_parse(file, a.pm_offset + a.pm_size - 1, &b, &eb) == -ENOEXEC);
	}
	/* Too little of the head, or a head longer than the file: -EINVAL. */
	if (n) {
		FUZZ_CHECK(bzimage_parse_head(head, n - 1, len, &b, &eb) == -EINVAL);
		FUZZ_CHECK(bzimage_parse_head(head, n, n - 1, &b, &eb) == -EINVAL);
	}
	free(head);
}

/* What linux_prepare_bzimage() accepted lies in low RAM, as the header asks. */
static void check_bzimage(const struct guest_mem *gm, const uint8_t *file, size_t len,
			  const struct linux_image *img)
{
	const struct bzimage_info *bz = &img->bz;
	uint64_t end = fuzz_low_end(gm), load, rt;
	struct errmsg e = { 0 };

	FUZZ_CHECK(img->kind == LINUX_IMAGE_BZIMAGE);
	FUZZ_CHECK(!memcmp(img->hdr, file + BZIMAGE_HDR_OFFSET, bz->hdr_end - BZIMAGE_HDR_OFFSET));
	FUZZ_CHECK(bz->pm_offset + bz->pm_size <= len);
	FUZZ_CHECK(img->load_gpa >= MACHINE_LEGACY_HOLE_END && img->load_gpa <= end &&
		   bz->pm_size <= end - img->load_gpa);
	FUZZ_CHECK(!bz->relocatable || !(img->load_gpa & (bz->kernel_alignment - 1)));
	FUZZ_CHECK(bz->relocatable || img->load_gpa == BZIMAGE_LOAD_HIGH_GPA);
	FUZZ_CHECK(img->entry64 == img->load_gpa + BZIMAGE_ENTRY64_OFFSET);
	FUZZ_CHECK(img->kernel_start >= MACHINE_LEGACY_HOLE_END &&
		   img->kernel_start <= img->load_gpa && img->kernel_end <= end &&
		   img->kernel_end >= img->load_gpa + bz->pm_size &&
		   img->kernel_end - img->kernel_start >= bz->init_size);
	FUZZ_CHECK(mem_range_is_ram(gm, img->kernel_start, img->kernel_end - img->kernel_start));
	FUZZ_CHECK(linux_place_bzimage(bz, end, &load, &rt, &e) == 0 && load == img->load_gpa &&
		   img->kernel_start == (load < rt ? load : rt));
	FUZZ_CHECK(img->cmdline_max == bz->cmdline_size &&
		   img->initrd_addr_max == bz->initrd_addr_max &&
		   img->initrd_above_4g == !!(bz->xloadflags & BZIMAGE_XLF_CAN_BE_LOADED_ABOVE_4G));
}

/* What linux_prepare_vmlinux() accepted: out of the boot data, under 4 GiB, entry in a segment. */
static void check_vmlinux(const struct linux_image *img)
{
	const struct pvh_image *elf = &img->elf;
	bool entry_in = false;

	FUZZ_CHECK(img->kind == LINUX_IMAGE_VMLINUX && !elf->has_pvh_entry);
	FUZZ_CHECK(elf->nr_segments > 0 && elf->nr_segments <= PVH_MAX_SEGMENTS);
	for (unsigned int i = 0; i < elf->nr_segments; i++) {
		const struct pvh_segment *s = &elf->seg[i];

		FUZZ_CHECK(!overlap(s->paddr, s->memsz, LINUX_BOOT_AREA_START,
				    LINUX_BOOT_AREA_END - LINUX_BOOT_AREA_START));
		FUZZ_CHECK(s->paddr >= elf->lowest && s->paddr + s->memsz <= elf->highest);
		if (img->entry64 >= s->paddr && img->entry64 - s->paddr < s->filesz)
			entry_in = true;
	}
	FUZZ_CHECK(entry_in && img->entry64 == elf->elf_entry);
	FUZZ_CHECK(elf->highest <= LINUX_IDENTITY_MAP_BYTES);
	FUZZ_CHECK(img->kernel_start == elf->lowest && img->kernel_end == elf->highest);
}

/* The kernel's bytes are in guest memory (and, when the loader zeroed it, its bss ends). */
static void check_kernel_in_mem(const struct guest_mem *gm, const uint8_t *file,
				const struct linux_image *img, bool bss_zeroed)
{
	if (img->kind == LINUX_IMAGE_BZIMAGE) {
		check_mem_is(gm, img->load_gpa, file + img->bz.pm_offset, img->bz.pm_size);
		return;
	}
	for (unsigned int i = 0; i < img->elf.nr_segments; i++) {
		const struct pvh_segment *s = &img->elf.seg[i];
		uint64_t bss = s->memsz - s->filesz;
		uint64_t n = bss < FUZZ_BSS_CHECK_BYTES ? bss : FUZZ_BSS_CHECK_BYTES;

		check_mem_is(gm, s->paddr, file + s->offset, s->filesz);
		if (bss_zeroed && n) {
			check_mem_zero(gm, s->paddr + s->filesz, n);
			check_mem_zero(gm, s->paddr + s->memsz - n, n);
		}
	}
}

/*
 * linux_place_initrd() for size bytes: where boot.rst allows, and as high in
 * low RAM as it fits. Returns whether it was placed.
 */
static bool check_initrd(const struct guest_mem *gm, const struct linux_image *img,
			 uint64_t size, uint64_t *gpa)
{
	uint64_t floor, top, rsize;
	bool low_fits = false;
	int ret = linux_place_initrd(gm, img, size, gpa);

	/* Where it goes in low RAM, from the header's words. */
	if (size <= UINT64_MAX - (FUZZ_PAGE_BYTES - 1)) {
		rsize = (size + FUZZ_PAGE_BYTES - 1) & ~(FUZZ_PAGE_BYTES - 1);
		floor = img->kernel_end > MACHINE_LEGACY_HOLE_END ? img->kernel_end :
			MACHINE_LEGACY_HOLE_END;
		floor = (floor + FUZZ_PAGE_BYTES - 1) & ~(FUZZ_PAGE_BYTES - 1);
		top = fuzz_low_end(gm);
		if (top - 1 > img->initrd_addr_max)
			top = (uint64_t)img->initrd_addr_max + 1;
		top &= ~(FUZZ_PAGE_BYTES - 1);
		low_fits = top >= floor && rsize <= top - floor;
		if (low_fits)
			FUZZ_CHECK(ret == 0 && *gpa == top - rsize);
	}
	if (ret) {
		FUZZ_CHECK(ret == -ENOSPC);
		return false;
	}
	FUZZ_CHECK(!(*gpa & (FUZZ_PAGE_BYTES - 1)));
	if (!size)
		return true;
	FUZZ_CHECK(mem_range_is_ram(gm, *gpa, size));
	FUZZ_CHECK(*gpa >= MACHINE_LEGACY_HOLE_END);
	FUZZ_CHECK(!overlap(*gpa, size, img->kernel_start, img->kernel_end - img->kernel_start));
	if (!low_fits)
		FUZZ_CHECK(img->initrd_above_4g && *gpa >= LINUX_IDENTITY_MAP_BYTES);
	return true;
}

/* The e820 map: sorted, RAM entries in RAM, the legacy hole reserved, all boot RAM listed. */
static void check_e820(const struct guest_mem *gm, const uint8_t *bp)
{
	unsigned int n = bp[LINUX_BP_E820_ENTRIES];
	uint64_t ram = 0, reserved = 0, next = 0;

	FUZZ_CHECK(n >= 1 && n <= LINUX_E820_MAX_ENTRIES);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *ent = bp + LINUX_BP_E820_TABLE + i * LINUX_E820_ENTRY_BYTES;
		uint64_t addr = le(ent, 8), size = le(ent + 8, 8);
		uint32_t type = (uint32_t)le(ent + 16, 4);

		FUZZ_CHECK(size && addr >= next && addr + size > addr);
		next = addr + size;
		if (type == E820_TYPE_RAM) {
			FUZZ_CHECK(mem_range_is_ram(gm, addr, size));
			ram += size;
		} else {
			FUZZ_CHECK(type == E820_TYPE_RESERVED);
			FUZZ_CHECK(addr == MACHINE_LEGACY_HOLE_START &&
				   size == MACHINE_LEGACY_HOLE_END - MACHINE_LEGACY_HOLE_START);
			reserved += size;
		}
	}
	FUZZ_CHECK(ram + reserved == gm->ram_size);
}

/* Offsets of the zero page memvmm writes itself, within [0x1f1, hdr_end) or elsewhere. */
static bool written_by_loader(uint32_t off, const struct linux_image *img)
{
	static const struct { uint32_t off, len; } own[] = {
		{ BZIMAGE_OFF_TYPE_OF_LOADER, 1 }, { BZIMAGE_OFF_LOADFLAGS, 1 },
		{ BZIMAGE_OFF_CODE32_START, 4 }, { BZIMAGE_OFF_RAMDISK_IMAGE, 8 },
		{ BZIMAGE_OFF_CMD_LINE_PTR, 4 }, { LINUX_BP_ACPI_RSDP_ADDR, 8 },
		{ LINUX_BP_EXT_RAMDISK_IMAGE, 8 }, { LINUX_BP_E820_ENTRIES, 1 },
		{ BZIMAGE_OFF_BOOT_FLAG, 2 }, { BZIMAGE_MAGIC_OFFSET, 4 },
		{ BZIMAGE_OFF_VERSION, 2 }, { BZIMAGE_OFF_INITRD_ADDR_MAX, 4 },
		{ BZIMAGE_OFF_KERNEL_ALIGNMENT, 4 }, { BZIMAGE_OFF_CMDLINE_SIZE, 4 },
	};

	if (img->kind == LINUX_IMAGE_BZIMAGE && off >= BZIMAGE_HDR_OFFSET &&
	    off < img->bz.hdr_end)
		return true;
	if (off >= LINUX_BP_E820_TABLE &&
	    off < LINUX_BP_E820_TABLE + LINUX_E820_MAX_ENTRIES * LINUX_E820_ENTRY_BYTES)
		return true;
	for (unsigned int i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (off >= own[i].off && off < own[i].off + own[i].len)
			return true;
	return false;
}

/*
 * Setup header fields boot.rst makes the boot loader's to write ("write",
 * "modify"): type_of_loader, loadflags, setup_move_size, code32_start,
 * ramdisk_image and ramdisk_size, heap_end_ptr, ext_loader_ver and _type,
 * cmd_line_ptr, hardware_subarch and its data, setup_data. The rest of a
 * bzImage's header reaches the zero page as the file has it.
 */
static bool loader_field(uint32_t off)
{
	static const struct { uint32_t off, len; } w[] = {
		{ 0x210, 8 }, { 0x218, 8 }, { 0x224, 8 }, { 0x23c, 4 }, { 0x240, 8 },
		{ 0x250, 8 },
	};

	for (unsigned int i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (off >= w[i].off && off < w[i].off + w[i].len)
			return true;
	return false;
}

/* The zero page read back: the header (the file's, or made up), the initrd, RSDP, e820. */
static void check_zero_page(const struct guest_mem *gm, const uint8_t *file,
			    const struct linux_image *img, const struct linux_boot_params *p)
{
	uint8_t *bp = malloc(LINUX_BOOT_PARAMS_BYTES);

	FUZZ_CHECK(bp);
	FUZZ_CHECK(mem_read(gm, LINUX_BOOT_PARAMS_GPA, bp, LINUX_BOOT_PARAMS_BYTES) == 0);
	for (uint32_t off = 0; off < LINUX_BOOT_PARAMS_BYTES; off++)
		if (!written_by_loader(off, img))
			FUZZ_CHECK(bp[off] == 0);
	if (img->kind == LINUX_IMAGE_BZIMAGE) {
		for (uint32_t off = BZIMAGE_HDR_OFFSET; off < img->bz.hdr_end; off++)
			if (!loader_field(off))
				FUZZ_CHECK(bp[off] == file[off]);
		FUZZ_CHECK(le(bp + BZIMAGE_OFF_CODE32_START, 4) == (uint32_t)img->load_gpa);
	} else {
		FUZZ_CHECK(le(bp + BZIMAGE_OFF_BOOT_FLAG, 2) == BZIMAGE_BOOT_FLAG &&
			   !memcmp(bp + BZIMAGE_MAGIC_OFFSET, BZIMAGE_MAGIC, 4) &&
			   le(bp + BZIMAGE_OFF_VERSION, 2) == LINUX_VMLINUX_VERSION &&
			   le(bp + BZIMAGE_OFF_INITRD_ADDR_MAX, 4) == img->initrd_addr_max &&
			   le(bp + BZIMAGE_OFF_KERNEL_ALIGNMENT, 4) == LINUX_VMLINUX_ALIGNMENT &&
			   le(bp + BZIMAGE_OFF_CMDLINE_SIZE, 4) == img->cmdline_max);
		FUZZ_CHECK(le(bp + BZIMAGE_OFF_CODE32_START, 4) == 0);
	}
	FUZZ_CHECK(bp[BZIMAGE_OFF_TYPE_OF_LOADER] == LINUX_TYPE_OF_LOADER &&
		   bp[BZIMAGE_OFF_LOADFLAGS] == BZIMAGE_LOADED_HIGH &&
		   le(bp + BZIMAGE_OFF_CMD_LINE_PTR, 4) == LINUX_CMDLINE_GPA);
	if (p->initrd_size)
		FUZZ_CHECK(le(bp + BZIMAGE_OFF_RAMDISK_IMAGE, 4) == (uint32_t)p->initrd_gpa &&
			   le(bp + BZIMAGE_OFF_RAMDISK_SIZE, 4) == (uint32_t)p->initrd_size &&
			   le(bp + LINUX_BP_EXT_RAMDISK_IMAGE, 4) == p->initrd_gpa >> 32 &&
			   le(bp + LINUX_BP_EXT_RAMDISK_SIZE, 4) == p->initrd_size >> 32);
	else
		FUZZ_CHECK(le(bp + LINUX_BP_EXT_RAMDISK_IMAGE, 8) == 0);
	FUZZ_CHECK(le(bp + LINUX_BP_ACPI_RSDP_ADDR, 8) == p->acpi_rsdp_gpa);
	check_e820(gm, bp);
	free(bp);
}

/* PML4 -> PDPT -> 4 page directories: [0, 4 GiB) identity-mapped, 2 MiB pages. */
static void check_page_tables(const struct guest_mem *gm)
{
	uint64_t *pt = malloc((2 + LINUX_PD_PAGES) * LINUX_PAGE_BYTES);

	FUZZ_CHECK(pt);
	FUZZ_CHECK(mem_read(gm, LINUX_PML4_GPA, pt, (2 + LINUX_PD_PAGES) * LINUX_PAGE_BYTES) == 0);
	FUZZ_CHECK(pt[0] == (LINUX_PDPT_GPA | 0x3));
	for (unsigned int i = 0; i < LINUX_PD_PAGES; i++)
		FUZZ_CHECK(pt[512 + i] == ((LINUX_PD_GPA + i * LINUX_PAGE_BYTES) | 0x3));
	for (unsigned int i = 0; i < LINUX_PD_PAGES * 512; i++)
		FUZZ_CHECK(pt[1024 + i] == ((uint64_t)i * LINUX_LARGE_PAGE_BYTES | 0x83));
	free(pt);
}

/* Load, place initrds, write and read back the boot data of an accepted kernel. */
static void fuzz_linux64(struct fuzz_mem *m, const uint8_t *file, size_t len,
			 const struct linux_image *img)
{
	static const uint64_t initrd_sizes[] = {
		0, 1, FUZZ_PAGE_BYTES, 8 * MiB + 1, 64 * MiB, 3 * GiB,
		UINT64_MAX - FUZZ_PAGE_BYTES, UINT64_MAX,
	};
	struct guest_mem *gm = &m->gm;
	struct linux_boot_params p = { .acpi_rsdp_gpa = len & 2 ? FUZZ_RSDP_GPA : 0 };
	uint64_t limit = linux_cmdline_limit(img), gpa;
	char *cmdline = malloc(limit + 2);
	size_t cmdline_len;

	FUZZ_CHECK(cmdline);
	FUZZ_CHECK(limit == (img->cmdline_max < LINUX_CMDLINE_BYTES - 1 ? img->cmdline_max :
			     LINUX_CMDLINE_BYTES - 1));
	FUZZ_CHECK(linux_load(gm, file, img, m->load_flags) == 0);
	check_kernel_in_mem(gm, file, img, !(m->load_flags & PVH_LOAD_MEM_IS_ZERO));

	for (unsigned int i = 0; i < sizeof(initrd_sizes) / sizeof(initrd_sizes[0]); i++)
		(void)check_initrd(gm, img, initrd_sizes[i], &gpa);
	/* The initrd the boot data name: the file's own size, where it fits. */
	if (check_initrd(gm, img, len, &gpa)) {
		p.initrd_gpa = gpa;
		p.initrd_size = len;
	}

	/* One character too many is refused before anything is written. */
	memset(cmdline, 'x', limit + 1);
	cmdline[limit + 1] = '\0';
	p.cmdline = cmdline;
	FUZZ_CHECK(linux_write_boot_data(gm, img, &p) == -E2BIG);
	cmdline_len = len % (limit + 1);
	cmdline[cmdline_len] = '\0';
	FUZZ_CHECK(linux_write_boot_data(gm, img, &p) == 0);

	check_mem_is(gm, LINUX_CMDLINE_GPA, cmdline, cmdline_len + 1);
	check_zero_page(gm, file, img, &p);
	check_page_tables(gm);
	/* The boot data went around the kernel, not over it. */
	check_kernel_in_mem(gm, file, img, !(m->load_flags & PVH_LOAD_MEM_IS_ZERO));
	free(cmdline);
}

/*
 * pvh_parse() (the note required) agrees with pvh_parse_elf(ENTRY_OPTIONAL),
 * which returned ret, e and img: a refusal (the same, or for the missing
 * note), the same image, or refused for the missing note alone.
 */
static void check_pvh_agrees(const struct guest_mem *gm, const uint8_t *file, size_t len,
			     int ret, const struct errmsg *e, const struct pvh_image *img)
{
	struct errmsg e2 = { 0 };
	struct pvh_image again;
	int ret2 = pvh_parse(file, len, gm, &again, &e2);

	if (ret) {
		check_refusal(ret, -ENOEXEC, -ENOEXEC, e);
		/* The same, or the missing note (looked at before "no loadable segments"). */
		FUZZ_CHECK(ret2 == ret && (!strcmp(e->text, e2.text) ||
					   strstr(e2.text, "no PVH entry point")));
	} else if (img->has_pvh_entry) {
		FUZZ_CHECK(ret2 == 0 && again.has_pvh_entry && again.entry == img->entry &&
			   again.nr_segments == img->nr_segments &&
			   again.lowest == img->lowest && again.highest == img->highest);
	} else {
		check_refusal(ret2, -ENOEXEC, -ENOEXEC, &e2);
		FUZZ_CHECK(strstr(e2.text, "no PVH entry point"));
	}
}

/* An ELF with its PVH note: what boot_load() does with it. */
static void fuzz_pvh(struct fuzz_mem *m, const uint8_t *file, size_t len,
		     const struct pvh_image *img)
{
	struct pvh_boot_params bp = { .cmdline = "console=ttyS0" };
	uint64_t gpa, start_info;

	FUZZ_CHECK(pvh_load(&m->gm, file, img, m->load_flags) == 0);
	if (!pvh_place_module(&m->gm, img, len, &gpa)) {
		FUZZ_CHECK(mem_range_is_ram(&m->gm, gpa, len) && gpa >= img->highest);
		bp.module_gpa = gpa;
		bp.module_size = len;
	}
	FUZZ_CHECK(pvh_write_boot_data(&m->gm, &bp, &start_info) == 0);
}

/* One memory: the input as boot_load() would take it. */
static void fuzz_one_mem(struct fuzz_mem *m, const uint8_t *file, size_t len)
{
	struct guest_mem *gm = fuzz_mem_get(m);
	struct linux_image *img = malloc(sizeof(*img));
	struct pvh_image elf;
	struct errmsg e = { 0 };
	int ret;

	FUZZ_CHECK(img);
	if (len >= SELFMAG && !memcmp(file, ELFMAG, SELFMAG)) {
		ret = pvh_parse_elf(file, len, gm, PVH_PARSE_ENTRY_OPTIONAL, &elf, &e);
		check_pvh_agrees(gm, file, len, ret, &e, &elf);
		if (ret)
			goto out;
		if (elf.has_pvh_entry) {
			fuzz_pvh(m, file, len, &elf);
			goto out;
		}
		ret = linux_prepare_vmlinux(&elf, img, &e);
		if (ret) {
			check_refusal(ret, -ENOEXEC, -ENOEXEC, &e);
			goto out;
		}
		check_vmlinux(img);
	} else {
		ret = linux_prepare_bzimage(file, len, gm, img, &e);
		if (ret) {
			check_refusal(ret, -ENOEXEC, -ENOSPC, &e);
			goto out;
		}
		check_bzimage(gm, file, len, img);
	}
	fuzz_linux64(m, file, len, img);
out:
	fuzz_mem_empty(gm);
	free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy the size of the input: ASan sees any read past its end. */
	uint8_t *file = malloc(size ? size : 1);

	if (!file)
		return 0;
	memcpy(file, data, size);
	fuzz_header(file, size);
	for (unsigned int i = 0; i < FUZZ_NR_MEMS; i++)
		fuzz_one_mem(&fuzz_mems[i], file, size);
	free(file);
	return 0;
}
