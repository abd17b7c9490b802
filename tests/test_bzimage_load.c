// SPDX-License-Identifier: MIT
/*
 * The 64-bit boot protocol in real guest memory (no KVM): placement of the
 * kernel and initrd, the zero page byte by byte, the GDT and identity map,
 * a vmlinux ELF without a PVH note, boot_load() on files, and the command
 * line limits. Offsets are boot.rst's and zero-page.rst's, as literals.
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/abi.h"
#include "mem/mem.h"
#include "tests/elf_build.h"
#include "tests/test.h"
#include "tests/test_bzimage.h"
#include "vmm/boot.h"
#include "vmm/linux_boot.h"
#include "vmm/pvh.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RSDP_GPA 0xe0000ull

static struct linux_image *prepare(const struct bz_opts *o, uint8_t **file, size_t *len)
{
	struct linux_image *img = malloc(sizeof(*img));
	struct errmsg e = { 0 };

	TEST_ASSERT(img, "malloc");
	*file = bz_build(o, len);
	TEST_ASSERT(linux_prepare_bzimage(*file, *len, &gm, img, &e) == 0, "prepare: '%s'",
		    e.text);
	return img;
}

static void expect_prepare_fails(const struct bz_opts *o, int want_ret, const char *want)
{
	struct linux_image img;
	struct errmsg e = { 0 };
	size_t len;
	uint8_t *b = bz_build(o, &len);
	int ret = linux_prepare_bzimage(b, len, &gm, &img, &e);

	TEST_ASSERT(ret == want_ret && strstr(e.text, want), "got %d '%s', want %d '%s'", ret,
		    e.text, want_ret, want);
	printf("ok - refused: %s\n", e.text);
	free(b);
}

void case_placement(const void *arg)
{
	struct bz_opts o = bz_default();
	struct linux_image *img;
	uint8_t *b;
	size_t len;
	uint64_t gpa;

	make_mem(256 * MiB);
	img = prepare(&o, &b, &len);
	TEST_ASSERT(img->load_gpa == 16 * MiB && img->entry64 == 16 * MiB + 0x200 &&
		    img->kernel_start == 16 * MiB && img->kernel_end == 17 * MiB,
		    "relocatable at pref_address");
	TEST_OK(linux_place_initrd(&gm, img, 5000, &gpa));
	TEST_ASSERT(gpa == 256 * MiB - 8192, "initrd at 0x%llx", (unsigned long long)gpa);
	TEST_OK(linux_place_initrd(&gm, img, 256 * MiB - 17 * MiB, &gpa));
	TEST_ASSERT(gpa == 17 * MiB, "initrd right above the kernel: 0x%llx",
		    (unsigned long long)gpa);
	TEST_ASSERT(linux_place_initrd(&gm, img, 256 * MiB - 17 * MiB + 1, &gpa) == -ENOSPC,
		    "an initrd over the kernel");
	TEST_ASSERT(linux_place_initrd(&gm, img, UINT64_MAX - 100, &gpa) == -ENOSPC, "huge");
	free(img);
	free(b);

	/* pref_address unaligned or below 1 MiB: Linux's default, aligned up. */
	o.pref_address = 0x1000800;
	img = prepare(&o, &b, &len);
	TEST_ASSERT(img->load_gpa == 16 * MiB, "unaligned pref: 0x%llx",
		    (unsigned long long)img->load_gpa);
	free(img);
	free(b);
	o.pref_address = 0x80000;
	o.kernel_alignment = 64 * MiB;
	img = prepare(&o, &b, &len);
	TEST_ASSERT(img->load_gpa == 64 * MiB && img->kernel_end == 65 * MiB,
		    "low pref, 64 MiB alignment: 0x%llx", (unsigned long long)img->load_gpa);
	free(img);
	free(b);

	/* Not relocatable: loaded at 1 MiB, runs at pref_address. */
	o = bz_default();
	o.relocatable = 0;
	img = prepare(&o, &b, &len);
	TEST_ASSERT(img->load_gpa == MiB && img->entry64 == MiB + 0x200 &&
		    img->kernel_start == MiB && img->kernel_end == 17 * MiB, "not relocatable");
	free(img);
	free(b);
	o.pref_address = 0x80000;
	expect_prepare_fails(&o, -ENOEXEC, "not relocatable and its pref_address 0x80000 is "
			     "below 1 MiB");

	/* Too little memory for init_size at pref_address. */
	o = bz_default();
	o.init_size = 0x3378000;
	make_mem(64 * MiB);
	expect_prepare_fails(&o, -ENOSPC, "bzImage needs RAM at 0x1000000..0x4378000 (init_size "
			     "0x3378000); guest RAM below 4 GiB ends at 0x4000000");

	/* initrd_addr_max: the top of where an initrd may go. */
	o = bz_default();
	o.initrd_addr_max = 0x01ffffff;
	o.xloadflags = 0x01;
	make_mem(256 * MiB);
	img = prepare(&o, &b, &len);
	TEST_OK(linux_place_initrd(&gm, img, 8 * MiB, &gpa));
	TEST_ASSERT(gpa == 24 * MiB, "below initrd_addr_max: 0x%llx", (unsigned long long)gpa);
	TEST_ASSERT(linux_place_initrd(&gm, img, 16 * MiB, &gpa) == -ENOSPC,
		    "does not fit between the kernel and initrd_addr_max");
	free(img);
	free(b);

	/* ...unless the kernel takes it above 4 GiB (3 GiB low, 64 MiB high). */
	make_mem(3 * GiB + 64 * MiB);
	img = prepare(&o, &b, &len);
	TEST_ASSERT(linux_place_initrd(&gm, img, 16 * MiB, &gpa) == -ENOSPC, "no XLF above 4G");
	img->initrd_above_4g = true;
	TEST_OK(linux_place_initrd(&gm, img, 16 * MiB, &gpa));
	TEST_ASSERT(gpa == 4 * GiB + 48 * MiB, "above 4 GiB: 0x%llx", (unsigned long long)gpa);
	{
		struct linux_boot_params p = { .cmdline = "", .initrd_gpa = gpa,
					       .initrd_size = 16 * MiB };
		uint8_t bp[4096];

		TEST_OK(linux_write_boot_data(&gm, img, &p));
		TEST_OK(mem_read(&gm, 0x6000, bp, sizeof(bp)));
		TEST_ASSERT(get_le(bp, 0x218, 4) == 48 * MiB && get_le(bp, 0x0c0, 4) == 1 &&
			    get_le(bp, 0x21c, 4) == 16 * MiB && get_le(bp, 0x0c4, 4) == 0,
			    "ramdisk_image/ext_ramdisk_image");
		TEST_ASSERT(bp[0x1e8] == 4 && get_le(bp, 0x2d0 + 3 * 20, 8) == 4 * GiB &&
			    get_le(bp, 0x2d0 + 3 * 20 + 8, 8) == 64 * MiB &&
			    get_le(bp, 0x2d0 + 2 * 20 + 8, 8) == 3 * GiB - MiB, "e820 with high RAM");
	}
	free(img);
	free(b);
	mem_destroy(&gm);
	TEST_PASS("kernel and initrd placement");
}

static void expect_e820(const uint8_t *bp, unsigned int i, uint64_t addr, uint64_t size,
			uint32_t type)
{
	size_t off = 0x2d0 + i * 20;

	TEST_ASSERT(get_le(bp, off, 8) == addr && get_le(bp, off + 8, 8) == size &&
		    get_le(bp, off + 16, 4) == type, "e820[%u] = 0x%llx+0x%llx type %u", i,
		    (unsigned long long)get_le(bp, off, 8),
		    (unsigned long long)get_le(bp, off + 8, 8), (unsigned)get_le(bp, off + 16, 4));
}

/* Compare the zero page with want, naming the first differing offset. */
static void expect_page(const uint8_t *got, const uint8_t *want, const char *what)
{
	for (size_t i = 0; i < 4096; i++)
		TEST_ASSERT(got[i] == want[i], "%s: byte 0x%zx is 0x%02x, want 0x%02x", what, i,
			    got[i], want[i]);
}

void case_zero_page(const void *arg)
{
	static const char cmdline[] = "console=ttyS0 root=/dev/ram0 earlyprintk=serial";
	struct bz_opts o = bz_default();
	struct linux_image *img;
	struct linux_boot_params p = { .cmdline = cmdline, .acpi_rsdp_gpa = RSDP_GPA };
	uint8_t bp[4096], want[4096], *b, *kernel, gdt[0x30];
	char got_cmdline[sizeof(cmdline) + 8];
	const uint64_t initrd_size = 3 * 4096 + 5;
	uint8_t initrd[3 * 4096 + 5];
	size_t len;

	make_mem(256 * MiB);
	img = prepare(&o, &b, &len);
	TEST_OK(linux_load(&gm, b, img, PVH_LOAD_MEM_IS_ZERO));
	TEST_OK(linux_place_initrd(&gm, img, initrd_size, &p.initrd_gpa));
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	TEST_OK(mem_write(&gm, p.initrd_gpa, initrd, sizeof(initrd)));
	p.initrd_size = initrd_size;
	TEST_OK(linux_write_boot_data(&gm, img, &p));

	memset(want, 0, sizeof(want));
	memcpy(want + 0x1f1, b + 0x1f1, 0x26c - 0x1f1);   /* the header, as in the file */
	want[0x210] = 0xff;                               /* type_of_loader */
	want[0x211] = 0x01;                               /* loadflags: LOADED_HIGH */
	put_le(want, 0x214, 0x1000000, 4);                /* code32_start: the load address */
	put_le(want, 0x218, 256 * MiB - 4 * 4096, 4);     /* ramdisk_image */
	put_le(want, 0x21c, initrd_size, 4);              /* ramdisk_size */
	put_le(want, 0x228, 0x7000, 4);                   /* cmd_line_ptr */
	put_le(want, 0x070, RSDP_GPA, 8);                 /* acpi_rsdp_addr */
	want[0x1e8] = 3;                                  /* e820_entries */
	put_le(want, 0x2d0, 0, 8);
	put_le(want, 0x2d8, 0x9fc00, 8);
	put_le(want, 0x2e0, 1, 4);
	put_le(want, 0x2e4, 0x9fc00, 8);
	put_le(want, 0x2ec, 0x100000 - 0x9fc00, 8);
	put_le(want, 0x2f4, 2, 4);
	put_le(want, 0x2f8, 0x100000, 8);
	put_le(want, 0x300, 255 * MiB, 8);
	put_le(want, 0x308, 1, 4);
	TEST_OK(mem_read(&gm, 0x6000, bp, sizeof(bp)));
	expect_page(bp, want, "bzImage zero page");
	expect_e820(bp, 1, 0x9fc00, 0x60400, 2);
	TEST_ASSERT(get_le(bp, 0x20e, 2) == 0x1234 && get_le(bp, 0x268, 4) == 0xabcd &&
		    bp[0x1ef] == 0, "copied fields, sentinel 0");

	TEST_OK(mem_read(&gm, 0x7000, got_cmdline, sizeof(got_cmdline)));
	TEST_ASSERT(!strcmp(got_cmdline, cmdline), "cmdline '%s'", got_cmdline);
	kernel = malloc(o.payload_len);
	TEST_ASSERT(kernel, "malloc");
	TEST_OK(mem_read(&gm, 16 * MiB, kernel, o.payload_len));
	for (size_t i = 0; i < o.payload_len; i++)
		TEST_ASSERT(kernel[i] == payload_byte(i), "kernel byte %zu", i);
	TEST_OK(mem_read(&gm, p.initrd_gpa, kernel, sizeof(initrd)));
	TEST_ASSERT(!memcmp(kernel, initrd, sizeof(initrd)), "initrd bytes");
	free(kernel);

	/* GDT: 0x10 64-bit code (L=1, D=0), 0x18 flat data, both present, DPL 0. */
	TEST_OK(mem_read(&gm, 0x5000, gdt, sizeof(gdt)));
	{
		uint64_t cs = get_le(gdt, 0x10, 8), ds = get_le(gdt, 0x18, 8);

		TEST_ASSERT(((cs >> 40) & 0xff) == 0x9b && ((cs >> 53) & 3) == 1 &&
			    ((cs >> 55) & 1) == 1, "__BOOT_CS 0x%016llx", (unsigned long long)cs);
		TEST_ASSERT(((ds >> 40) & 0xff) == 0x93 && (ds & 0xffff) == 0xffff &&
			    ((ds >> 48) & 0xf) == 0xf && ((ds >> 54) & 1) == 1 &&
			    ((ds >> 16) & 0xffffff) == 0 && (ds >> 56) == 0,
			    "__BOOT_DS 0x%016llx", (unsigned long long)ds);
	}
	free(img);
	free(b);
	TEST_PASS("zero page, command line, kernel, initrd and GDT");
}

/* Walk 4-level page tables at cr3 for va: false if not present. */
static bool translate(uint64_t cr3, uint64_t va, uint64_t *pa, bool *writable)
{
	const uint64_t addr_mask = 0x000ffffffffff000ull;
	uint64_t table = cr3 & addr_mask, e = 0;
	static const unsigned int shifts[] = { 39, 30, 21, 12 };

	*writable = true;
	for (unsigned int l = 0; l < 4; l++) {
		TEST_OK(mem_read(&gm, table + ((va >> shifts[l]) & 511) * 8, &e, 8));
		if (!(e & 1))
			return false;
		*writable &= (e & 2) != 0;
		if (l > 0 && l < 3 && (e & 0x80)) {
			uint64_t page = 1ull << shifts[l];

			*pa = (e & addr_mask & ~(page - 1)) | (va & (page - 1));
			return true;
		}
		table = e & addr_mask;
	}
	*pa = table | (va & 0xfff);
	return true;
}

void case_page_tables(const void *arg)
{
	static const uint64_t probes[] = { 0, 0x1000, 0x6000, 0x7fff, 0x9fc00, 0x1000200,
					   0xbfffffff, 0xc0000000, 0xfec00000, 0xfee00000,
					   0xffffffff };
	struct bz_opts o = bz_default();
	struct linux_boot_params p = { .cmdline = "" };
	struct linux_image *img;
	uint64_t pa;
	bool w;
	uint8_t *b;
	size_t len;

	make_mem(64 * MiB);
	img = prepare(&o, &b, &len);
	TEST_OK(linux_write_boot_data(&gm, img, &p));
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		TEST_ASSERT(translate(0x9000, probes[i], &pa, &w) && pa == probes[i] && w,
			    "0x%llx -> 0x%llx", (unsigned long long)probes[i],
			    (unsigned long long)pa);
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB)
		TEST_ASSERT(translate(0x9000, va + (va >> 21), &pa, &w) && pa == va + (va >> 21),
			    "2 MiB page at 0x%llx", (unsigned long long)va);
	TEST_ASSERT(!translate(0x9000, 4 * GiB, &pa, &w), "4 GiB is not mapped");
	TEST_ASSERT(!translate(0x9000, 1ull << 39, &pa, &w), "512 GiB is not mapped");
	free(img);
	free(b);
	mem_destroy(&gm);
	TEST_PASS("[0, 4 GiB) identity-mapped, writable, nothing above");
}

static uint8_t code[4096];

static void *vmlinux(uint64_t paddr, uint64_t entry, int note, size_t *len)
{
	struct elf_build_opts eo = {
		.paddr = paddr, .code = code, .code_len = sizeof(code), .bss_len = 8192,
		.note = note, .entry = entry,
	};

	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = (uint8_t)(i * 13 + 1);
	return elf_build(&eo, len);
}

/* A vmlinux at paddr entered at entry: refused by linux_prepare_vmlinux() with want. */
static void expect_vmlinux_refused(uint64_t paddr, uint64_t entry, const char *want)
{
	struct pvh_image pvh;
	struct linux_image img;
	struct errmsg e = { 0 };
	size_t len;
	void *elf = vmlinux(paddr, entry, 0, &len);
	int ret;

	TEST_OK(pvh_parse_elf(elf, len, &gm, PVH_PARSE_ENTRY_OPTIONAL, &pvh, &e));
	TEST_ASSERT(!pvh.has_pvh_entry, "no note");
	ret = linux_prepare_vmlinux(&pvh, &img, &e);
	TEST_ASSERT(ret == -ENOEXEC && strstr(e.text, want), "%d '%s', want '%s'", ret, e.text,
		    want);
	printf("ok - refused: %s\n", e.text);
	free(elf);
}

void case_vmlinux(const void *arg)
{
	struct pvh_image pvh;
	struct linux_image img;
	struct linux_boot_params p = { .cmdline = "quiet", .acpi_rsdp_gpa = RSDP_GPA };
	struct errmsg e = { 0 };
	uint8_t bp[4096], got[sizeof(code)];
	size_t len;
	void *elf;

	make_mem(128 * MiB);
	elf = vmlinux(16 * MiB, 16 * MiB + 0x40, 0, &len);
	/* pvh_parse() still wants the note; the optional form describes the image. */
	TEST_ASSERT(pvh_parse(elf, len, &gm, &pvh, &e) == -ENOEXEC &&
		    strstr(e.text, "no PVH entry point"), "'%s'", e.text);
	TEST_OK(pvh_parse_elf(elf, len, &gm, PVH_PARSE_ENTRY_OPTIONAL, &pvh, &e));
	TEST_ASSERT(!pvh.has_pvh_entry && pvh.elf_entry == 16 * MiB + 0x40, "described");
	TEST_OK(linux_prepare_vmlinux(&pvh, &img, &e));
	TEST_ASSERT(img.kind == LINUX_IMAGE_VMLINUX && img.entry64 == 16 * MiB + 0x40 &&
		    img.kernel_start == 16 * MiB && img.kernel_end == 16 * MiB + 4096 + 8192,
		    "vmlinux image");
	TEST_OK(linux_load(&gm, elf, &img, 0));
	TEST_OK(mem_read(&gm, 16 * MiB, got, sizeof(got)));
	TEST_ASSERT(!memcmp(got, code, sizeof(code)), "segment bytes");
	TEST_OK(linux_write_boot_data(&gm, &img, &p));
	TEST_OK(mem_read(&gm, 0x6000, bp, sizeof(bp)));
	TEST_ASSERT(get_le(bp, 0x1fe, 2) == 0xaa55 && !memcmp(bp + 0x202, "HdrS", 4) &&
		    get_le(bp, 0x206, 2) == 0x020f && bp[0x210] == 0xff && bp[0x211] == 0x01,
		    "made-up header: boot_flag, magic, version 2.15, loader, LOADED_HIGH");
	TEST_ASSERT(get_le(bp, 0x228, 4) == 0x7000 && get_le(bp, 0x238, 4) == 4095 &&
		    get_le(bp, 0x22c, 4) == 0x7fffffff && get_le(bp, 0x230, 4) == 0x200000 &&
		    get_le(bp, 0x070, 8) == RSDP_GPA && bp[0x1f1] == 0 &&
		    get_le(bp, 0x218, 4) == 0 && get_le(bp, 0x21c, 4) == 0,
		    "cmd_line_ptr, cmdline_size, initrd_addr_max, alignment, rsdp, no ramdisk");
	TEST_ASSERT(bp[0x1e8] == 3, "e820 entries %u", bp[0x1e8]);
	expect_e820(bp, 0, 0, 0x9fc00, 1);
	expect_e820(bp, 1, 0x9fc00, 0x60400, 2);
	expect_e820(bp, 2, 0x100000, 127 * MiB, 1);
	free(elf);

	/* With the note it stays PVH. */
	elf = vmlinux(16 * MiB, 16 * MiB, 8, &len);
	TEST_OK(pvh_parse_elf(elf, len, &gm, PVH_PARSE_ENTRY_OPTIONAL, &pvh, &e));
	TEST_ASSERT(pvh.has_pvh_entry && pvh.entry == 16 * MiB, "PVH note found");
	free(elf);

	expect_vmlinux_refused(16 * MiB, 15 * MiB,
			       "ELF entry 0xf00000 (the 64-bit entry) is not inside a loaded segment");
	expect_vmlinux_refused(16 * MiB, 16 * MiB + 4096,
			       "is not inside a loaded segment");   /* in the bss */
	expect_vmlinux_refused(0xa000, 0xa000, "overlaps the 64-bit boot data at 0x5000..0xf000");
	make_mem(5 * GiB);
	expect_vmlinux_refused(4 * GiB, 4 * GiB,
			       "above the 4 GiB the 64-bit boot protocol's identity map covers");
	mem_destroy(&gm);
	TEST_PASS("vmlinux ELF without a PVH note through the 64-bit boot protocol");
}

static char *write_temp(const void *buf, size_t len, const char *tag)
{
	return elf_write_temp(buf, len, tag);
}

static int load_file(const char *kernel, const char *initrd, const char *cmdline,
		     uint64_t rsdp, struct boot_result *out, struct errmsg *e)
{
	struct boot_request req = { .kernel = kernel, .initrd = initrd, .cmdline = cmdline,
				    .mem_is_zero = true, .acpi_rsdp_gpa = rsdp };

	memset(out, 0, sizeof(*out));
	memset(e, 0, sizeof(*e));
	return boot_load(&gm, &req, out, e);
}

void case_boot_load(const void *arg)
{
	static const char text[] = "this is a text file, not a kernel\n";
	struct bz_opts o = bz_default();
	struct boot_result out;
	struct errmsg e;
	struct hvm_start_info si;
	uint8_t bp[4096], rd[8192], got[8192];
	char *text_path = write_temp(text, sizeof(text) - 1, "text");
	char *initrd_path, *bz_path, *bad_path, *pvh_path, *vml_path;
	size_t len;
	uint8_t *b;
	void *elf;

	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i * 31);
	initrd_path = write_temp(rd, sizeof(rd), "initrd");
	b = bz_build(&o, &len);
	bz_path = write_temp(b, len, "bz");
	b[0x236] = 0;   /* xloadflags */
	bad_path = write_temp(b, len, "badbz");
	free(b);
	elf = vmlinux(MiB, MiB, 8, &len);
	pvh_path = write_temp(elf, len, "pvh");
	free(elf);
	elf = vmlinux(16 * MiB, 16 * MiB, 0, &len);
	vml_path = write_temp(elf, len, "vmlinux");
	free(elf);
	make_mem(256 * MiB);

	TEST_ASSERT(load_file(text_path, NULL, "", 0, &out, &e) == -ENOEXEC && e.bad_input &&
		    strstr(e.text, "not an ELF file or a bzImage (no ELF magic, no \"HdrS\" at "
			   "offset 0x202)") && strstr(e.text, text_path), "text: '%s'", e.text);
	TEST_ASSERT(load_file(bad_path, NULL, "", 0, &out, &e) == -ENOEXEC && e.bad_input &&
		    strstr(e.text, "lack XLF_KERNEL_64") && strstr(e.text, bad_path),
		    "no 64-bit entry: '%s'", e.text);

	TEST_OK(load_file(bz_path, initrd_path, "console=ttyS0", RSDP_GPA, &out, &e));
	TEST_ASSERT(out.protocol == BOOT_LINUX64 && out.entry64 == 16 * MiB + 0x200 &&
		    out.boot_params_gpa == 0x6000 && out.pml4_gpa == 0x9000, "linux64 result");
	TEST_ASSERT(!strcmp(out.what, "bzImage, boot protocol 2.15, loaded at 0x1000000"),
		    "what '%s'", out.what);
	TEST_OK(mem_read(&gm, 0x6000, bp, sizeof(bp)));
	TEST_ASSERT(get_le(bp, 0x218, 4) == 256 * MiB - sizeof(rd) &&
		    get_le(bp, 0x21c, 4) == sizeof(rd) && get_le(bp, 0x070, 8) == RSDP_GPA,
		    "ramdisk and rsdp in the zero page");
	TEST_OK(mem_read(&gm, get_le(bp, 0x218, 4), got, sizeof(got)));
	TEST_ASSERT(!memcmp(got, rd, sizeof(rd)), "the initrd's bytes");
	printf("ok - %s\n", out.what);

	/* The initrd cannot go below initrd_addr_max: exit 2, named. */
	o.initrd_addr_max = 17 * MiB + 4096 - 1;
	b = bz_build(&o, &len);
	free(bz_path);
	bz_path = write_temp(b, len, "bzlow");
	free(b);
	TEST_ASSERT(load_file(bz_path, initrd_path, "", 0, &out, &e) == -ENOSPC && e.bad_input &&
		    strstr(e.text, "does not fit in RAM above the kernel (which ends at "
			   "0x1100000) and below its initrd_addr_max 0x1100fff or in RAM above "
			   "4 GiB"), "initrd: '%s'", e.text);
	/* Too little memory for the kernel: exit 2, named. */
	make_mem(16 * MiB);
	TEST_ASSERT(load_file(bz_path, NULL, "", 0, &out, &e) == -ENOSPC && e.bad_input &&
		    strstr(e.text, "give the guest more memory"), "small: '%s'", e.text);

	make_mem(256 * MiB);
	TEST_OK(load_file(vml_path, initrd_path, "", RSDP_GPA, &out, &e));
	TEST_ASSERT(out.protocol == BOOT_LINUX64 && out.entry64 == 16 * MiB &&
		    strstr(out.what, "vmlinux ELF"), "vmlinux: %s", out.what);
	printf("ok - %s\n", out.what);

	/* ELF with the note: PVH as before, now with the RSDP in the start info. */
	TEST_OK(load_file(pvh_path, initrd_path, "", RSDP_GPA, &out, &e));
	TEST_ASSERT(out.protocol == BOOT_PVH && out.entry == MiB &&
		    out.start_info == PVH_START_INFO_GPA &&
		    !strcmp(out.what, "ELF, PVH entry 0x100000"), "pvh: %s", out.what);
	TEST_OK(mem_read(&gm, out.start_info, &si, sizeof(si)));
	TEST_ASSERT(si.rsdp_paddr == RSDP_GPA && si.nr_modules == 1, "rsdp 0x%llx",
		    (unsigned long long)si.rsdp_paddr);
	TEST_OK(load_file(NULL, NULL, "", 0, &out, &e));
	TEST_OK(mem_read(&gm, out.start_info, &si, sizeof(si)));
	TEST_ASSERT(out.protocol == BOOT_PVH && si.rsdp_paddr == 0, "bundled guest, no ACPI");

	for (char **pp = (char *[]){ text_path, initrd_path, bz_path, bad_path, pvh_path,
				     vml_path, NULL }; *pp; pp++) {
		unlink(*pp);
		free(*pp);
	}
	mem_destroy(&gm);
	TEST_PASS("boot_load: dispatch by format, refusals with exit 2");
}

/* boot_check_files(): the format and a bzImage's header, before KVM or guest memory exist. */
void case_check_files(const void *arg)
{
	static const struct {
		const char *what;
		size_t keep;           /* bytes of the image kept; 0: all */
		size_t off;            /* where to write val (0: nothing) */
		uint8_t val;
		const char *want;      /* NULL: accepted */
	} v[] = {
		{ "good", 0, 0, 0, NULL },
		{ "three bytes", 3, 0, 0, "not an ELF file or a bzImage" },
		{ "boot sector", 512, 0, 0, "not an ELF file or a bzImage" },
		{ "setup cut", 0x300, 0, 0, "truncated bzImage: setup_sects 4 puts" },
		{ "header cut", 0x220, 0, 0, "truncated bzImage: 544 bytes, the setup header ends" },
		{ "half", 0xa00 + 0x8000, 0, 0, "truncated bzImage: syssize 0x1000" },
		{ "bad magic", 0, 0x205, 'X', "not an ELF file or a bzImage" },
		{ "old protocol", 0, 0x207, 0x01, "boot protocol 1.15 is too old" },
		{ "no 64-bit entry", 0, 0x236, 0x02, "lack XLF_KERNEL_64" },
	};
	struct bz_opts o = bz_default();
	size_t len, elf_len;
	uint8_t *b = bz_build(&o, &len);
	void *elf = vmlinux(16 * MiB, 16 * MiB, 0, &elf_len);
	char *path;

	TEST_ASSERT(len == 0xa00 + 0x10000, "image of %zu bytes", len);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct boot_request req = { .cmdline = "" };
		struct errmsg e = { 0 };
		uint8_t *d = malloc(len);
		int ret;

		TEST_ASSERT(d, "malloc");
		memcpy(d, b, len);
		if (v[i].off)
			d[v[i].off] = v[i].val;
		path = write_temp(d, v[i].keep ? v[i].keep : len, "check");
		req.kernel = path;
		ret = boot_check_files(&req, &e);
		if (!v[i].want)
			TEST_ASSERT(ret == 0, "%s: '%s'", v[i].what, e.text);
		else
			TEST_ASSERT(ret == -ENOEXEC && e.bad_input && strstr(e.text, v[i].want) &&
				    strstr(e.text, path), "%s: %d '%s', want '%s'", v[i].what, ret,
				    e.text, v[i].want);
		printf("ok - %s: %s\n", v[i].what, v[i].want ? e.text : "accepted");
		unlink(path);
		free(path);
		free(d);
	}
	/* An ELF is checked when loaded (against guest memory), not here. */
	path = write_temp(elf, elf_len, "check");
	{
		struct boot_request req = { .kernel = path, .cmdline = "" };
		struct errmsg e = { 0 };

		TEST_OK(boot_check_files(&req, &e));
	}
	unlink(path);
	free(path);
	free(elf);
	free(b);
	TEST_PASS("boot_check_files tells the format and checks a bzImage's header");
}

void case_cmdline(const void *arg)
{
	struct bz_opts o = bz_default();
	struct boot_result out;
	struct errmsg e;
	char line[5000];
	char *path;
	size_t len;
	uint8_t *b;
	void *elf;

	make_mem(64 * MiB);
	o.cmdline_size = 100;
	b = bz_build(&o, &len);
	path = write_temp(b, len, "bzcmd");
	free(b);
	memset(line, 'x', sizeof(line));
	line[100] = '\0';
	TEST_OK(load_file(path, NULL, line, 0, &out, &e));
	line[100] = 'x';
	line[101] = '\0';
	TEST_ASSERT(load_file(path, NULL, line, 0, &out, &e) == -E2BIG && e.bad_input &&
		    strstr(e.text, "the kernel command line is 101 bytes; kernel '") &&
		    strstr(e.text, "takes at most 100 (its cmdline_size)"), "'%s'", e.text);
	printf("ok - refused: %s\n", e.text);
	unlink(path);
	free(path);

	/* A kernel that takes more than memvmm's page: memvmm's limit. */
	o.cmdline_size = 8000;
	b = bz_build(&o, &len);
	path = write_temp(b, len, "bzcmd");
	free(b);
	memset(line, 'x', sizeof(line));
	line[4095] = '\0';
	TEST_OK(load_file(path, NULL, line, 0, &out, &e));
	line[4095] = 'x';
	line[4096] = '\0';
	TEST_ASSERT(load_file(path, NULL, line, 0, &out, &e) == -E2BIG && e.bad_input &&
		    strstr(e.text, "is 4096 bytes; at most 4095 fit"), "'%s'", e.text);
	unlink(path);
	free(path);

	elf = vmlinux(16 * MiB, 16 * MiB, 0, &len);
	path = write_temp(elf, len, "vmlcmd");
	free(elf);
	TEST_ASSERT(load_file(path, NULL, line, 0, &out, &e) == -E2BIG && e.bad_input &&
		    strstr(e.text, "at most 4095 fit"), "vmlinux: '%s'", e.text);
	line[4095] = '\0';
	TEST_OK(load_file(path, NULL, line, 0, &out, &e));
	unlink(path);
	free(path);
	mem_destroy(&gm);
	TEST_PASS("command lines longer than the kernel takes refused");
}
