// SPDX-License-Identifier: MIT
/*
 * PVH boot of ELF64 images (the Xen/x86 PVH boot ABI): the image says where
 * its 32-bit entry point is in a "Xen" ELF note of type
 * XEN_ELFNOTE_PHYS32_ENTRY; memvmm loads PT_LOAD segments at their physical
 * addresses and enters with %ebx pointing at hvm_start_info.
 *
 * The image is untrusted input: every offset and size is checked before use.
 */
#include "vmm/pvh.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "guest/abi.h"
#include "mem/mem.h"

#define PVH_NOTE_NAME "Xen"
#define PAGE_MASK (MEM_PAGE_BYTES - 1)

/* Does [off, off+size) lie within a buffer of len bytes? Overflow-safe. */
static int in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static int check_header(const Elf64_Ehdr *eh, size_t len, struct errmsg *e)
{
	if (len < SELFMAG || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return errmsg_set(e, -ENOEXEC, "not an ELF file (bad magic)");
	if (len < sizeof(*eh))
		return errmsg_set(e, -ENOEXEC, "truncated ELF header (%zu bytes)", len);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return errmsg_set(e, -ENOEXEC, "not an ELF64 image (class %u)",
				  eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return errmsg_set(e, -ENOEXEC, "not an x86-64 little-endian image (machine %u)",
				  eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return errmsg_set(e, -ENOEXEC, "not an executable ELF (type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0)
		return errmsg_set(e, -ENOEXEC, "no usable program headers (phnum %u, phentsize %u)",
				  eh->e_phnum, eh->e_phentsize);
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return errmsg_set(e, -ENOEXEC,
				  "truncated: %u program headers at file offset %llu, file is %zu bytes",
				  eh->e_phnum, (unsigned long long)eh->e_phoff, len);
	return 0;
}

/*
 * Look for the PVH entry in one PT_NOTE segment. 1 found, 0 not, <0 malformed
 * or past the bound: *walked counts the bytes of notes walked so far, in all
 * segments.
 */
static int find_entry_note(const uint8_t *elf, const Elf64_Phdr *ph, uint32_t *entry,
			   uint64_t *walked, struct errmsg *e)
{
	const uint8_t *p = elf + ph->p_offset, *end = p + ph->p_filesz;
	/* Notes are padded to 4 bytes (Linux, gcc, ld) or, in an 8-aligned segment, 8. */
	const uint64_t pad = ph->p_align == 8 ? 7 : 3;

	while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
		const uint8_t *note = p;
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz;

		if (*walked >= PVH_MAX_NOTE_SCAN_BYTES)
			return errmsg_set(e, -ENOEXEC,
					  "no PVH entry note in the first %llu bytes of ELF notes "
					  "(PT_NOTE at offset %llu); refused as malformed",
					  PVH_MAX_NOTE_SCAN_BYTES, (unsigned long long)ph->p_offset);
		memcpy(&nh, p, sizeof(nh));
		p += sizeof(nh);
		name_sz = ((uint64_t)nh.n_namesz + pad) & ~pad;
		desc_sz = ((uint64_t)nh.n_descsz + pad) & ~pad;
		if (name_sz > (uint64_t)(end - p) || desc_sz > (uint64_t)(end - p) - name_sz)
			return errmsg_set(e, -ENOEXEC, "truncated ELF note in PT_NOTE at offset %llu",
					  (unsigned long long)ph->p_offset);
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
		    nh.n_namesz == sizeof(PVH_NOTE_NAME) &&
		    !memcmp(p, PVH_NOTE_NAME, sizeof(PVH_NOTE_NAME))) {
			const uint8_t *desc = p + name_sz;
			uint64_t val = 0;

			if (nh.n_descsz == 4) {
				uint32_t v32;

				memcpy(&v32, desc, 4);
				val = v32;
			} else if (nh.n_descsz == 8) {
				memcpy(&val, desc, 8);
			} else {
				return errmsg_set(e, -ENOEXEC, "PVH entry note has %u-byte value",
						  nh.n_descsz);
			}
			if (val > UINT32_MAX)
				return errmsg_set(e, -ENOEXEC,
						  "PVH entry 0x%llx is above 4 GiB",
						  (unsigned long long)val);
			*entry = (uint32_t)val;
			return 1;
		}
		p += name_sz + desc_sz;
		*walked += (uint64_t)(p - note);
	}
	return 0;
}

static int add_segment(const Elf64_Phdr *ph, size_t len, const struct guest_mem *gm,
		       struct pvh_image *img, struct errmsg *e)
{
	struct pvh_segment *s;
	unsigned int i;

	if (ph->p_memsz == 0)
		return 0;
	if (img->nr_segments == PVH_MAX_SEGMENTS)
		return errmsg_set(e, -ENOEXEC, "more than %d loadable segments", PVH_MAX_SEGMENTS);
	if (ph->p_filesz > ph->p_memsz)
		return errmsg_set(e, -ENOEXEC, "segment at 0x%llx: file size > memory size",
				  (unsigned long long)ph->p_paddr);
	if (!in_file(ph->p_offset, ph->p_filesz, len))
		return errmsg_set(e, -ENOEXEC,
				  "truncated: segment at 0x%llx needs %llu bytes at file offset %llu, "
				  "file is %zu bytes", (unsigned long long)ph->p_paddr,
				  (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_offset,
				  len);
	if (!mem_range_is_ram(gm, ph->p_paddr, ph->p_memsz))
		return errmsg_set(e, -ENOEXEC,
				  "segment at 0x%llx (%llu bytes) is outside guest RAM (%llu MiB)",
				  (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz,
				  (unsigned long long)(gm->ram_size >> 20));
	if (overlaps(ph->p_paddr, ph->p_memsz, PVH_BOOT_AREA_START,
		     PVH_BOOT_AREA_END - PVH_BOOT_AREA_START))
		return errmsg_set(e, -ENOEXEC,
				  "segment 0x%llx..0x%llx overlaps the boot data at 0x%llx..0x%llx",
				  (unsigned long long)ph->p_paddr,
				  (unsigned long long)(ph->p_paddr + ph->p_memsz),
				  PVH_BOOT_AREA_START, PVH_BOOT_AREA_END);
	if (overlaps(ph->p_paddr, ph->p_memsz, PVH_LEGACY_HOLE_START,
		     PVH_LEGACY_HOLE_END - PVH_LEGACY_HOLE_START))
		return errmsg_set(e, -ENOEXEC,
				  "segment 0x%llx..0x%llx overlaps the reserved legacy BIOS area "
				  "0x%llx..0x%llx", (unsigned long long)ph->p_paddr,
				  (unsigned long long)(ph->p_paddr + ph->p_memsz),
				  PVH_LEGACY_HOLE_START, PVH_LEGACY_HOLE_END);
	for (i = 0; i < img->nr_segments; i++) {
		const struct pvh_segment *o = &img->seg[i];

		if (overlaps(ph->p_paddr, ph->p_memsz, o->paddr, o->memsz))
			return errmsg_set(e, -ENOEXEC,
					  "segment 0x%llx..0x%llx overlaps segment 0x%llx..0x%llx",
					  (unsigned long long)ph->p_paddr,
					  (unsigned long long)(ph->p_paddr + ph->p_memsz),
					  (unsigned long long)o->paddr,
					  (unsigned long long)(o->paddr + o->memsz));
	}
	s = &img->seg[img->nr_segments++];
	*s = (struct pvh_segment){
		.paddr = ph->p_paddr, .offset = ph->p_offset,
		.filesz = ph->p_filesz, .memsz = ph->p_memsz,
	};
	if (img->nr_segments == 1 || s->paddr < img->lowest)
		img->lowest = s->paddr;
	if (s->paddr + s->memsz > img->highest)
		img->highest = s->paddr + s->memsz;
	return 0;
}

int pvh_parse(const void *elf, size_t len, const struct guest_mem *gm,
	      struct pvh_image *img, struct errmsg *e)
{
	return pvh_parse_elf(elf, len, gm, 0, img, e);
}

int pvh_parse_elf(const void *elf, size_t len, const struct guest_mem *gm, unsigned int flags,
		  struct pvh_image *img, struct errmsg *e)
{
	const Elf64_Ehdr *eh = elf;
	bool have_entry = false;
	unsigned int i, notes_seen = 0;
	uint64_t note_bytes = 0;
	int note_err = 0;
	int ret;

	memset(img, 0, sizeof(*img));
	ret = check_header(eh, len, e);
	if (ret)
		return ret;
	img->elf_entry = eh->e_entry;
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, (const uint8_t *)elf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = add_segment(&ph, len, gm, img, e);
			if (ret)
				return ret;
		} else if (ph.p_type == PT_NOTE && !have_entry && !note_err) {
			/*
			 * A broken note segment only matters if no other has the
			 * entry. Looking stops at the first broken one, and at the
			 * bounds on the work (notes_seen, note_bytes).
			 */
			if (++notes_seen > PVH_MAX_NOTE_HEADERS)
				ret = errmsg_set(e, -ENOEXEC,
						 "no PVH entry note in the first %d PT_NOTE program "
						 "headers; refused as malformed", PVH_MAX_NOTE_HEADERS);
			else if (!in_file(ph.p_offset, ph.p_filesz, len))
				ret = errmsg_set(e, -ENOEXEC,
						 "truncated: PT_NOTE at offset %llu runs past the end of the file",
						 (unsigned long long)ph.p_offset);
			else
				ret = find_entry_note(elf, &ph, &img->entry, &note_bytes, e);
			have_entry = ret == 1;
			if (ret < 0)
				note_err = ret;
		}
	}
	if (!have_entry && note_err)
		return note_err;
	if (!have_entry && !(flags & PVH_PARSE_ENTRY_OPTIONAL))
		return errmsg_set(e, -ENOEXEC,
				  "no PVH entry point (no XEN_ELFNOTE_PHYS32_ENTRY note)");
	if (!img->nr_segments)
		return errmsg_set(e, -ENOEXEC, "no loadable segments");
	img->has_pvh_entry = have_entry;
	if (!have_entry)
		return 0;   /* the caller checks its own entry point */
	for (i = 0; i < img->nr_segments; i++) {
		if (img->entry >= img->seg[i].paddr &&
		    img->entry - img->seg[i].paddr < img->seg[i].filesz)
			return 0;
	}
	return errmsg_set(e, -ENOEXEC, "PVH entry 0x%x is not inside a loaded segment",
			  img->entry);
}

int pvh_load(struct guest_mem *gm, const void *elf, const struct pvh_image *img,
	     unsigned int flags)
{
	unsigned int i;
	int ret;

	for (i = 0; i < img->nr_segments; i++) {
		const struct pvh_segment *s = &img->seg[i];

		ret = mem_write(gm, s->paddr, (const uint8_t *)elf + s->offset, s->filesz);
		/* Segments do not overlap (pvh_parse): nothing else wrote the bss. */
		if (!ret && !(flags & PVH_LOAD_MEM_IS_ZERO))
			ret = mem_zero(gm, s->paddr + s->filesz, s->memsz - s->filesz);
		if (ret)
			return ret;
	}
	return 0;
}

int pvh_place_module(const struct guest_mem *gm, const struct pvh_image *img,
		     uint64_t module_size, uint64_t *gpa)
{
	const struct mem_region *low = &gm->region[0];
	uint64_t size = (module_size + PAGE_MASK) & ~PAGE_MASK;
	uint64_t top = low->gpa + low->size;
	/* Above the kernel, and never in the boot data or the reserved legacy area. */
	uint64_t floor = img->highest > PVH_LEGACY_HOLE_END ? img->highest : PVH_LEGACY_HOLE_END;

	floor = (floor + PAGE_MASK) & ~PAGE_MASK;
	if (!gm->nr_regions || size < module_size || size > top || top - size < floor)
		return -ENOSPC;
	*gpa = top - size;
	return 0;
}

/*
 * Memory map: boot RAM regions, with the legacy BIOS hole carved out of low
 * RAM. Hotplug and device memory are not listed: the guest finds those
 * through their devices.
 */
static unsigned int build_memmap(const struct guest_mem *gm,
				 struct hvm_memmap_table_entry *map)
{
	unsigned int i, n = 0;

	for (i = 0; i < gm->nr_regions && n + 3 <= PVH_MAX_MEMMAP; i++) {
		const struct mem_region *r = &gm->region[i];
		uint64_t end = r->gpa + r->size;

		if (!mem_region_is_boot_ram(r))
			continue;
		if (r->gpa == 0 && end > PVH_LEGACY_HOLE_END) {
			map[n++] = (struct hvm_memmap_table_entry){
				.addr = 0, .size = PVH_LEGACY_HOLE_START, .type = E820_TYPE_RAM };
			map[n++] = (struct hvm_memmap_table_entry){
				.addr = PVH_LEGACY_HOLE_START,
				.size = PVH_LEGACY_HOLE_END - PVH_LEGACY_HOLE_START,
				.type = E820_TYPE_RESERVED };
			map[n++] = (struct hvm_memmap_table_entry){
				.addr = PVH_LEGACY_HOLE_END, .size = end - PVH_LEGACY_HOLE_END,
				.type = E820_TYPE_RAM };
		} else {
			map[n++] = (struct hvm_memmap_table_entry){
				.addr = r->gpa, .size = r->size, .type = E820_TYPE_RAM };
		}
	}
	return n;
}

/* Flat 32-bit code and data, and a busy 32-bit TSS, as the entry state uses. */
static const uint64_t pvh_gdt[] = {
	0,
	0x00cf9b000000ffffull,   /* PVH_SEL_CODE */
	0x00cf93000000ffffull,   /* PVH_SEL_DATA */
	0x00008b0000000067ull,   /* PVH_SEL_TSS */
};

int pvh_write_boot_data(struct guest_mem *gm, const struct pvh_boot_params *p,
			uint64_t *start_info_gpa)
{
	struct hvm_memmap_table_entry map[PVH_MAX_MEMMAP];
	const uint64_t modlist_gpa = PVH_START_INFO_GPA + 0x40;
	const uint64_t memmap_gpa = PVH_START_INFO_GPA + 0x80;
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC_VALUE,
		.version = 1,
		.cmdline_paddr = PVH_CMDLINE_GPA,
		.memmap_paddr = memmap_gpa,
		.rsdp_paddr = p->rsdp_gpa,
	};
	size_t cmdline_len = strlen(p->cmdline);
	int ret;

	_Static_assert(sizeof(struct hvm_start_info) <= 0x40, "start info fits");
	_Static_assert(0x80 + PVH_MAX_MEMMAP * sizeof(struct hvm_memmap_table_entry) <= 0x1000,
		       "memory map fits the start info page");
	if (cmdline_len >= PVH_CMDLINE_BYTES)
		return -E2BIG;
	si.memmap_entries = build_memmap(gm, map);
	if (p->module_size) {
		struct hvm_modlist_entry mod = {
			.paddr = p->module_gpa, .size = p->module_size,
		};

		si.nr_modules = 1;
		si.modlist_paddr = modlist_gpa;
		ret = mem_write(gm, modlist_gpa, &mod, sizeof(mod));
		if (ret)
			return ret;
	}
	ret = mem_write(gm, PVH_GDT_GPA, pvh_gdt, sizeof(pvh_gdt));
	if (!ret)
		ret = mem_write(gm, memmap_gpa, map, si.memmap_entries * sizeof(map[0]));
	if (!ret)
		ret = mem_write(gm, PVH_CMDLINE_GPA, p->cmdline, cmdline_len + 1);
	if (!ret)
		ret = mem_write(gm, PVH_START_INFO_GPA, &si, sizeof(si));
	if (ret)
		return ret;
	*start_info_gpa = PVH_START_INFO_GPA;
	return 0;
}
