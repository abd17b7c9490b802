// SPDX-License-Identifier: MIT
/* The PVH loader: good images, every kind of malformed image, the boot data. */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/abi.h"
#include "mem/mem.h"
#include "tests/elf_build.h"
#include "tests/test.h"
#include "vmm/pvh.h"

#define CODE_GPA 0x100000ull

static struct guest_mem gm;
static const uint8_t code[64] = { 0xf4 };  /* hlt */

static void make_mem(uint64_t size)
{
	struct mem_config mc = { .size = size, .backend = &mem_backend_anon };

	mem_destroy(&gm);
	memset(&gm, 0, sizeof(gm));
	TEST_OK(mem_create(&gm, &mc, -1, NULL));
}

static void *good_image(size_t *len)
{
	struct elf_build_opts o = {
		.paddr = CODE_GPA, .code = code, .code_len = sizeof(code), .bss_len = 8192,
		.note = 8, .entry = CODE_GPA,
	};

	return elf_build(&o, len);
}

/* Parse must fail with -ENOEXEC and a message containing want. */
static void expect_refused(const void *elf, size_t len, const char *want, const char *what)
{
	struct pvh_image img;
	struct errmsg e = { 0 };
	int ret = pvh_parse(elf, len, &gm, &img, &e);

	TEST_ASSERT(ret == -ENOEXEC, "%s: expected -ENOEXEC, got %d", what, ret);
	TEST_ASSERT(strstr(e.text, want), "%s: message '%s' lacks '%s'", what, e.text, want);
	printf("ok - refused %s: %s\n", what, e.text);
}

static Elf64_Phdr *phdr(void *elf, int i)
{
	return (Elf64_Phdr *)((uint8_t *)elf + ELF_BUILD_PHDR_OFF) + i;
}

static void test_good(void)
{
	struct pvh_image img;
	struct errmsg e = { 0 };
	struct elf_build_opts o = {
		.paddr = CODE_GPA, .code = code, .code_len = sizeof(code), .note = 4,
		.entry = CODE_GPA + 1,
	};
	size_t len;
	void *elf = good_image(&len);

	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	TEST_ASSERT(img.entry == CODE_GPA && img.nr_segments == 1, "entry 0x%x", img.entry);
	TEST_ASSERT(img.lowest == CODE_GPA && img.highest == CODE_GPA + sizeof(code) + 8192,
		    "range 0x%lx..0x%lx", (long)img.lowest, (long)img.highest);
	free(elf);
	elf = elf_build(&o, &len);
	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	TEST_ASSERT(img.entry == CODE_GPA + 1, "4-byte note entry 0x%x", img.entry);
	free(elf);
	TEST_PASS("good images (8- and 4-byte entry notes)");
}

static void test_malformed(void)
{
	static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	struct elf_build_opts o = {
		.paddr = CODE_GPA, .code = code, .code_len = sizeof(code), .note = 8,
		.entry = CODE_GPA,
	};
	size_t len;
	uint8_t *elf;

	expect_refused(text, sizeof(text), "not an ELF file", "text file");
	elf = good_image(&len);
	expect_refused(elf, 40, "truncated ELF header", "header cut short");
	expect_refused(elf, 100, "program headers at file offset 64", "program headers cut short");
	expect_refused(elf, len - 10, "truncated: segment", "segment cut short");
	elf[EI_CLASS] = ELFCLASS32;
	expect_refused(elf, len, "not an ELF64", "ELF32 image");
	elf[EI_CLASS] = ELFCLASS64;
	((Elf64_Ehdr *)elf)->e_machine = EM_AARCH64;
	expect_refused(elf, len, "not an x86-64", "arm64 image");
	((Elf64_Ehdr *)elf)->e_machine = EM_X86_64;
	((Elf64_Ehdr *)elf)->e_type = ET_DYN;
	expect_refused(elf, len, "not an executable", "shared object");
	((Elf64_Ehdr *)elf)->e_type = ET_EXEC;
	((Elf64_Ehdr *)elf)->e_phoff = UINT64_MAX - 8;
	expect_refused(elf, len, "file is", "wrapping e_phoff");
	free(elf);

	o.note = 0;
	elf = elf_build(&o, &len);
	expect_refused(elf, len, "no PVH entry point", "no entry note");
	free(elf);

	o.note = 8;
	o.entry = CODE_GPA + 0x10000;
	elf = elf_build(&o, &len);
	expect_refused(elf, len, "not inside a loaded segment", "entry outside the image");
	free(elf);

	o.entry = 0x100000000ull;
	elf = elf_build(&o, &len);
	expect_refused(elf, len, "above 4 GiB", "64-bit entry value");
	free(elf);

	o.entry = CODE_GPA;
	o.paddr = 512ull << 20;
	o.entry = o.paddr;
	elf = elf_build(&o, &len);
	expect_refused(elf, len, "outside guest RAM", "segment above RAM");
	free(elf);

	o.paddr = PVH_START_INFO_GPA - 16;
	o.entry = o.paddr;
	elf = elf_build(&o, &len);
	expect_refused(elf, len, "overlaps the boot data", "segment over the start info");
	free(elf);

	o.paddr = CODE_GPA;
	o.entry = CODE_GPA;
	elf = elf_build(&o, &len);
	phdr(elf, 0)->p_paddr = UINT64_MAX - 0xfff;
	expect_refused(elf, len, "outside guest RAM", "segment wrapping the address space");
	phdr(elf, 0)->p_paddr = CODE_GPA;
	phdr(elf, 0)->p_filesz = phdr(elf, 0)->p_memsz + 1;
	expect_refused(elf, len, "file size > memory size", "filesz > memsz");
	phdr(elf, 0)->p_filesz = sizeof(code);
	phdr(elf, 0)->p_offset = UINT64_MAX - 4;
	expect_refused(elf, len, "truncated: segment", "wrapping segment offset");
	free(elf);

	elf = elf_build(&o, &len);
	((Elf64_Nhdr *)(elf + ELF_BUILD_NOTE_OFF))->n_descsz = 2;
	expect_refused(elf, len, "2-byte value", "odd note size");
	((Elf64_Nhdr *)(elf + ELF_BUILD_NOTE_OFF))->n_namesz = 0x7fffffff;
	expect_refused(elf, len, "truncated ELF note", "note running past its segment");
	phdr(elf, 1)->p_filesz = 1ull << 40;
	expect_refused(elf, len, "PT_NOTE", "note segment past the end of the file");
	free(elf);

	/* 8-byte note padding in an 8-aligned note segment. */
	o.note_align = 8;
	elf = elf_build(&o, &len);
	{
		struct pvh_image img;
		struct errmsg e = { 0 };

		TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
		TEST_ASSERT(img.entry == CODE_GPA, "entry 0x%x", img.entry);
	}
	free(elf);
	TEST_PASS("malformed images are refused with a reason");
}

static void test_load_zeroes_bss(void)
{
	struct pvh_image img;
	struct errmsg e = { 0 };
	uint8_t buf[sizeof(code) + 8192];
	size_t len, i;
	void *elf = good_image(&len);

	memset(gm.region[0].hva + CODE_GPA, 0xaa, sizeof(buf));
	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	TEST_OK(pvh_load(&gm, elf, &img));
	TEST_OK(mem_read(&gm, CODE_GPA, buf, sizeof(buf)));
	TEST_ASSERT(!memcmp(buf, code, sizeof(code)), "code copied");
	for (i = sizeof(code); i < sizeof(buf); i++)
		TEST_ASSERT(buf[i] == 0, "bss byte %zu is 0x%x", i, buf[i]);
	free(elf);
	TEST_PASS("load copies segments and zeroes bss");
}

static void test_real_guest(void)
{
	const char *path = getenv("GUEST_ELF");
	struct pvh_image img;
	struct errmsg e = { 0 };
	struct stat st;
	void *buf;
	int fd;

	TEST_ASSERT(path, "GUEST_ELF not set (run through meson test)");
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0 && fstat(fd, &st) == 0, "open %s", path);
	buf = malloc((size_t)st.st_size);
	TEST_ASSERT(buf && read(fd, buf, (size_t)st.st_size) == st.st_size, "read %s", path);
	close(fd);
	TEST_OK(pvh_parse(buf, (size_t)st.st_size, &gm, &img, &e));
	TEST_ASSERT(img.lowest >= 0x100000 && img.entry >= img.lowest && img.entry < img.highest,
		    "entry 0x%x range 0x%lx..0x%lx", img.entry, (long)img.lowest,
		    (long)img.highest);
	TEST_OK(pvh_load(&gm, buf, &img));
	free(buf);
	TEST_PASS("the bundled test guest parses and loads");
}

static void test_boot_data(void)
{
	struct pvh_boot_params bp = { .cmdline = "touch=64M verify" };
	struct hvm_memmap_table_entry map[PVH_MAX_MEMMAP];
	struct hvm_modlist_entry mod;
	struct hvm_start_info si;
	struct pvh_image img = { .highest = 0x200000 };
	char cmdline[64];
	uint64_t si_gpa, gpa;

	TEST_OK(pvh_place_module(&gm, &img, 5000, &gpa));
	TEST_ASSERT(gpa == (256ull << 20) - 8192, "module at 0x%lx", (long)gpa);
	TEST_ASSERT(pvh_place_module(&gm, &img, 255ull << 20, &gpa) == -ENOSPC,
		    "a module over the kernel must not fit");
	{
		/* A kernel below 1 MiB: the module still stays above the legacy area. */
		struct pvh_image low = { .highest = 0x11000 };
		uint64_t g;

		TEST_ASSERT(pvh_place_module(&gm, &low, (256ull << 20) - 0x100000 + 4096, &g) ==
			    -ENOSPC, "module over the legacy BIOS area");
		TEST_OK(pvh_place_module(&gm, &low, (256ull << 20) - 0x100000, &g));
		TEST_ASSERT(g == 0x100000, "module at 0x%lx", (long)g);
	}
	bp.module_gpa = gpa;
	bp.module_size = 5000;
	TEST_OK(pvh_write_boot_data(&gm, &bp, &si_gpa));
	TEST_OK(mem_read(&gm, si_gpa, &si, sizeof(si)));
	TEST_ASSERT(si.magic == HVM_START_MAGIC_VALUE && si.version == 1, "magic/version");
	TEST_OK(mem_read(&gm, si.cmdline_paddr, cmdline, sizeof(cmdline)));
	TEST_ASSERT(!strcmp(cmdline, "touch=64M verify"), "cmdline '%s'", cmdline);
	TEST_ASSERT(si.nr_modules == 1, "modules %u", si.nr_modules);
	TEST_OK(mem_read(&gm, si.modlist_paddr, &mod, sizeof(mod)));
	TEST_ASSERT(mod.paddr == gpa && mod.size == 5000, "module entry");
	TEST_ASSERT(si.memmap_entries == 3, "entries %u", si.memmap_entries);
	TEST_OK(mem_read(&gm, si.memmap_paddr, map, 3 * sizeof(map[0])));
	TEST_ASSERT(map[0].addr == 0 && map[0].size == PVH_LEGACY_HOLE_START &&
		    map[0].type == E820_TYPE_RAM, "entry 0");
	TEST_ASSERT(map[1].type == E820_TYPE_RESERVED, "legacy hole reserved");
	TEST_ASSERT(map[2].addr == 0x100000 && map[2].size == (256ull << 20) - 0x100000 &&
		    map[2].type == E820_TYPE_RAM, "entry 2");

	/* 5 GiB: 3 GiB low, 2 GiB from 4 GiB (anon + NORESERVE: nothing is allocated). */
	make_mem(5ull << 30);
	bp.module_size = 0;
	TEST_OK(pvh_write_boot_data(&gm, &bp, &si_gpa));
	TEST_OK(mem_read(&gm, si_gpa, &si, sizeof(si)));
	TEST_ASSERT(si.memmap_entries == 4 && si.nr_modules == 0, "entries %u", si.memmap_entries);
	TEST_OK(mem_read(&gm, si.memmap_paddr, map, 4 * sizeof(map[0])));
	TEST_ASSERT(map[2].addr + map[2].size == MEM_MMIO_HOLE_START, "low RAM ends at the hole");
	TEST_ASSERT(map[3].addr == MEM_HIGH_RAM_START && map[3].size == (2ull << 30),
		    "high RAM 0x%lx+0x%lx", (long)map[3].addr, (long)map[3].size);
	TEST_PASS("start info, command line, module and memory map");
}

int main(void)
{
	make_mem(256ull << 20);
	test_good();
	test_malformed();
	test_load_zeroes_bss();
	test_real_guest();
	test_boot_data();
	mem_destroy(&gm);
	return 0;
}
