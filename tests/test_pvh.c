// SPDX-License-Identifier: MIT
/*
 * The PVH loader: good images, every kind of malformed image (including ones
 * built to cost time), the boot data, the bss on fresh memory; and around it
 * the input checks of boot.c, path shortening in messages, and how probe
 * tells a missing feature from a failed trial.
 */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest/abi.h"
#include "mem/mem.h"
#include "tests/elf_build.h"
#include "tests/test.h"
#include "vmm/boot.h"
#include "vmm/probe.h"
#include "vmm/pvh.h"

#define CODE_GPA 0x100000ull
#define PAGE_BYTES 4096ull
/* Crafted images must be parsed or refused this fast (the bug took 15 s and more). */
#define CRAFTED_PARSE_MAX_S 0.5
/* A bss this large makes "left alone" and "written" easy to tell apart. */
#define FRESH_BSS_BYTES (64ull << 20)

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse, asserting it takes under CRAFTED_PARSE_MAX_S; returns pvh_parse()'s result. */
static int timed_parse(const void *elf, size_t len, struct pvh_image *img, struct errmsg *e,
		       const char *what)
{
	double start = now_s(), took;
	int ret = pvh_parse(elf, len, &gm, img, e);

	took = now_s() - start;
	TEST_ASSERT(took < CRAFTED_PARSE_MAX_S, "%s: pvh_parse took %.3f s", what, took);
	printf("ok - %s: %s in %.1f ms\n", what, ret ? "refused" : "parsed", took * 1000);
	return ret;
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
	TEST_OK(pvh_load(&gm, elf, &img, 0));
	TEST_OK(mem_read(&gm, CODE_GPA, buf, sizeof(buf)));
	TEST_ASSERT(!memcmp(buf, code, sizeof(code)), "code copied");
	for (i = sizeof(code); i < sizeof(buf); i++)
		TEST_ASSERT(buf[i] == 0, "bss byte %zu is 0x%x", i, buf[i]);
	free(elf);
	TEST_PASS("load copies segments and zeroes bss");
}

/* A PT_LOAD of filesz bytes at file offset off, memsz bytes at paddr. */
static Elf64_Phdr load_phdr(uint64_t paddr, uint64_t off, uint64_t filesz, uint64_t memsz)
{
	return (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = off, .p_paddr = paddr,
		.p_vaddr = paddr, .p_filesz = filesz, .p_memsz = memsz, .p_align = 16,
	};
}

static Elf64_Phdr note_phdr(uint64_t off, uint64_t size)
{
	return (Elf64_Phdr){ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = off,
			     .p_filesz = size, .p_align = 4 };
}

/* Two PT_LOADs ([a, a+a_len) and [b, b+b_len), 64 file bytes each) and the entry note at a. */
static void *two_segments(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len, size_t *len)
{
	const size_t data = ELF_RAW_DATA_OFF(3);
	Elf64_Phdr ph[3] = {
		load_phdr(a, data + ELF_PVH_NOTE_BYTES, 64, a_len),
		load_phdr(b, data + ELF_PVH_NOTE_BYTES, 64, b_len),
		note_phdr(data, ELF_PVH_NOTE_BYTES),
	};
	uint8_t *elf = elf_build_raw(ph, 3, ELF_PVH_NOTE_BYTES + 64, len);

	elf_put_pvh_note(elf + data, a);
	return elf;
}

static void test_segments_refused(void)
{
	static const uint64_t hole = PVH_LEGACY_HOLE_START, hole_end = PVH_LEGACY_HOLE_END;
	static const struct {
		uint64_t paddr;
		const char *want, *what;
	} legacy[] = {
		{ hole - 32, "0x9fbe0..0x9fc20 overlaps the reserved legacy BIOS area 0x9fc00..0x100000",
		  "segment reaching into the legacy area" },
		{ 0xf0000, "reserved legacy BIOS area", "segment in the BIOS ROM area" },
		{ hole_end - sizeof(code), "reserved legacy BIOS area",
		  "segment ending where RAM starts again" },
	};
	struct elf_build_opts o = { .code = code, .code_len = sizeof(code), .note = 8 };
	struct pvh_image img;
	struct errmsg e = { 0 };
	unsigned int i;
	size_t len;
	void *elf;

	for (i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
		o.paddr = o.entry = legacy[i].paddr;
		elf = elf_build(&o, &len);
		expect_refused(elf, len, legacy[i].want, legacy[i].what);
		free(elf);
	}
	/* Right below and right above the legacy area are RAM. */
	o.paddr = o.entry = hole - sizeof(code);
	elf = elf_build(&o, &len);
	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	free(elf);
	o.paddr = o.entry = hole_end;
	elf = elf_build(&o, &len);
	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	free(elf);

	elf = two_segments(CODE_GPA, 0x2000, CODE_GPA + 0x1000, 0x1000, &len);
	expect_refused(elf, len, "segment 0x101000..0x102000 overlaps segment 0x100000..0x102000",
		       "a segment inside another");
	free(elf);
	elf = two_segments(CODE_GPA + 0x1000, 0x1000, CODE_GPA, 0x1001, &len);
	expect_refused(elf, len, "segment 0x100000..0x101001 overlaps segment 0x101000..0x102000",
		       "a segment reaching into the next");
	free(elf);
	elf = two_segments(CODE_GPA, 0x1000, CODE_GPA, 0x1000, &len);
	expect_refused(elf, len, "overlaps segment", "the same segment twice");
	free(elf);
	elf = two_segments(CODE_GPA, 0x1000, CODE_GPA + 0x1000, 0x1000, &len);
	TEST_OK(pvh_parse(elf, len, &gm, &img, &e));
	TEST_ASSERT(img.nr_segments == 2, "adjacent segments: %u", img.nr_segments);
	free(elf);
	TEST_PASS("segments over each other or in the legacy BIOS area are refused");
}

/*
 * A PT_LOAD of code at CODE_GPA, then nr PT_NOTEs: number entry_at (from 1) holds
 * the entry note, the others one empty note.
 */
static void *notes_image(unsigned int nr, unsigned int entry_at, size_t *len)
{
	const size_t d = ELF_RAW_DATA_OFF(1 + nr);
	Elf64_Phdr *ph = calloc(1 + nr, sizeof(*ph));
	unsigned int i;
	uint8_t *elf;

	TEST_ASSERT(ph, "calloc");
	ph[0] = load_phdr(CODE_GPA, d, sizeof(code), sizeof(code));
	for (i = 1; i <= nr; i++)
		ph[i] = i == entry_at ? note_phdr(d + sizeof(code) + 12, ELF_PVH_NOTE_BYTES) :
					note_phdr(d + sizeof(code), 12);
	elf = elf_build_raw(ph, 1 + nr, sizeof(code) + 12 + ELF_PVH_NOTE_BYTES, len);
	memcpy(elf + d, code, sizeof(code));
	elf_put_pvh_note(elf + d + sizeof(code) + 12, CODE_GPA);
	free(ph);
	return elf;
}

/*
 * Images built to make note scanning slow: each must be parsed or refused in
 * under CRAFTED_PARSE_MAX_S, and the bounds hold exactly where they are said to.
 */
static void test_note_bounds(void)
{
	/* The most program headers e_phnum holds; all but one PT_NOTE over a big zeroed area. */
	const unsigned int max_ph = 0xffff;
	const uint64_t zeros = 4ull << 20;
	const size_t data = ELF_RAW_DATA_OFF(max_ph);
	/* Zeroed notes are 12 bytes each; the entry note right after the last one looked at. */
	const uint64_t scan_ok = (PVH_MAX_NOTE_SCAN_BYTES - 1) / 12 * 12;
	Elf64_Phdr *ph = calloc(max_ph, sizeof(*ph));
	struct pvh_image img;
	struct errmsg e = { 0 };
	unsigned int i;
	uint8_t *elf;
	size_t len;

	TEST_ASSERT(ph, "calloc");
	/* Worst case: 65534 PT_NOTEs, each over 4 MiB of empty notes, no entry note. */
	ph[0] = load_phdr(CODE_GPA, data, sizeof(code), sizeof(code));
	for (i = 1; i < max_ph; i++)
		ph[i] = note_phdr(data + sizeof(code), zeros);
	elf = elf_build_raw(ph, max_ph, sizeof(code) + zeros, &len);
	TEST_ASSERT(timed_parse(elf, len, &img, &e, "65534 PT_NOTEs over 4 MiB each") == -ENOEXEC,
		    "worst case parsed");
	TEST_ASSERT(strstr(e.text, "no PVH entry note in the first 1048576 bytes"), "'%s'", e.text);
	/* The entry note first: found at once, the 65533 others not looked into. */
	elf_put_pvh_note(elf + data + sizeof(code), CODE_GPA);
	TEST_OK(timed_parse(elf, len, &img, &e, "entry note first of 65534 PT_NOTEs"));
	TEST_ASSERT(img.entry == CODE_GPA, "entry 0x%x", img.entry);
	free(elf);

	/* The entry note in the last PT_NOTE header looked into, or in the one after. */
	elf = notes_image(PVH_MAX_NOTE_HEADERS + 1, PVH_MAX_NOTE_HEADERS, &len);
	TEST_OK(timed_parse(elf, len, &img, &e, "entry note in PT_NOTE 64 of 65"));
	free(elf);
	elf = notes_image(PVH_MAX_NOTE_HEADERS + 1, PVH_MAX_NOTE_HEADERS + 1, &len);
	expect_refused(elf, len, "no PVH entry note in the first 64 PT_NOTE program headers",
		       "entry note in PT_NOTE 65");
	free(elf);

	/* One PT_NOTE: the entry note after as many bytes of notes as are walked, or 12 more. */
	for (i = 0; i < 2; i++) {
		const uint64_t before = scan_ok + 12 * i;
		const size_t d = ELF_RAW_DATA_OFF(2);

		ph[0] = load_phdr(CODE_GPA, d, sizeof(code), sizeof(code));
		ph[1] = note_phdr(d + sizeof(code), before + ELF_PVH_NOTE_BYTES);
		elf = elf_build_raw(ph, 2, sizeof(code) + before + ELF_PVH_NOTE_BYTES, &len);
		elf_put_pvh_note(elf + d + sizeof(code) + before, CODE_GPA);
		if (i == 0)
			TEST_OK(timed_parse(elf, len, &img, &e, "entry note at the scan bound"));
		else
			expect_refused(elf, len, "no PVH entry note in the first 1048576 bytes",
				       "entry note past the scan bound");
		free(elf);
	}
	free(ph);
	TEST_PASS("the work of finding the entry note is bounded");
}

static uint64_t resident(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t bytes;

	TEST_OK(mem_resident(m, gpa, len, &bytes));
	return bytes;
}

/*
 * On fresh memory (PVH_LOAD_MEM_IS_ZERO) the bss is not written, so it stays
 * unpopulated; without the flag it is zeroed (and so becomes resident).
 */
static void test_fresh_bss(const struct mem_backend_ops *b)
{
	const uint64_t bss_end = CODE_GPA + sizeof(code) + FRESH_BSS_BYTES;
	const uint64_t span = (bss_end - CODE_GPA + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
	struct elf_build_opts o = {
		.paddr = CODE_GPA, .code = code, .code_len = sizeof(code),
		.bss_len = FRESH_BSS_BYTES, .note = 8, .entry = CODE_GPA,
	};
	struct mem_config mc = { .size = 256ull << 20, .backend = b };
	struct guest_mem fresh = { 0 };
	struct pvh_image img;
	struct errmsg e = { 0 };
	uint8_t buf[PAGE_BYTES];
	uint64_t got, off;
	size_t len, i;
	void *elf = elf_build(&o, &len);

	TEST_OK(mem_create(&fresh, &mc, -1, NULL));
	TEST_OK(pvh_parse(elf, len, &fresh, &img, &e));
	TEST_ASSERT(resident(&fresh, CODE_GPA, span) == 0, "%s: fresh memory resident", b->name);
	TEST_OK(pvh_load(&fresh, elf, &img, PVH_LOAD_MEM_IS_ZERO));
	got = resident(&fresh, CODE_GPA, span);
	/* One page of code; where THP backs anonymous memory, one huge page at most. */
	TEST_ASSERT(got >= PAGE_BYTES && got <= MEM_HUGE_PAGE_BYTES,
		    "%s: %llu bytes resident after loading a %llu MiB bss "
		    "on fresh memory; want the page of code (or its huge page)", b->name,
		    (unsigned long long)got, (unsigned long long)(FRESH_BSS_BYTES >> 20));
	/* The data is right: code, then zeros (read after measuring: reads can populate). */
	TEST_OK(mem_read(&fresh, CODE_GPA, buf, sizeof(buf)));
	TEST_ASSERT(!memcmp(buf, code, sizeof(code)), "%s: code copied", b->name);
	for (i = sizeof(code); i < sizeof(buf); i++)
		TEST_ASSERT(buf[i] == 0, "%s: byte %zu after the code is 0x%x", b->name, i, buf[i]);
	for (off = PAGE_BYTES; off < span; off += 16 * PAGE_BYTES) {
		TEST_OK(mem_read(&fresh, CODE_GPA + off, buf, 8));
		TEST_ASSERT(!memcmp(buf, "\0\0\0\0\0\0\0", 8), "%s: bss at +0x%llx",
			    b->name, (unsigned long long)off);
	}
	mem_destroy(&fresh);

	/* Memory that may hold data (here: the bss's last page): the whole bss is written. */
	memset(&fresh, 0, sizeof(fresh));
	TEST_OK(mem_create(&fresh, &mc, -1, NULL));
	TEST_OK(mem_write(&fresh, bss_end - 8, "\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a", 8));
	TEST_OK(pvh_load(&fresh, elf, &img, 0));
	got = resident(&fresh, CODE_GPA, span);
	TEST_ASSERT(got == span, "%s: %llu of %llu bytes resident: bss not zeroed", b->name,
		    (unsigned long long)got, (unsigned long long)span);
	TEST_OK(mem_read(&fresh, bss_end - 8, buf, 8));
	TEST_ASSERT(!memcmp(buf, "\0\0\0\0\0\0\0", 8), "%s: old data left in the bss",
		    b->name);
	mem_destroy(&fresh);
	free(elf);
	printf("ok - %s: a %llu MiB bss on fresh memory stays unpopulated\n", b->name,
	       (unsigned long long)(FRESH_BSS_BYTES >> 20));
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
	TEST_OK(pvh_load(&gm, buf, &img, 0));
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

/* A path of len bytes: dir, then components of "d" + 200 x 'a' + "/", ending in tail. */
static char *long_path(const char *dir, size_t len, const char *tail)
{
	char *p = malloc(len + 1);
	size_t n = strlen(dir), t = strlen(tail);

	TEST_ASSERT(p && n + t + 2 < len, "long path");
	memcpy(p, dir, n);
	while (n < len - t) {
		p[n] = (n - strlen(dir)) % 202 == 0 ? '/' : (n - strlen(dir)) % 202 == 1 ? 'd' : 'a';
		n++;
	}
	memcpy(p + len - t, tail, t + 1);
	return p;
}

static void test_errmsg_path(void)
{
	char *p = long_path("/nonexistent", 4000, "/vmlinux-the-end"), *q;
	struct errmsg e = { 0 };
	const char *s;
	size_t len, i, lead = 0, cont = 0;

	TEST_ASSERT(!strcmp(errmsg_path("/boot/vmlinuz").s, "/boot/vmlinuz"), "short path kept");
	s = errmsg_path(p).s;
	len = strlen(s);
	TEST_ASSERT(len < ERRMSG_PATH_BYTES && !strncmp(s, p, ERRMSG_PATH_HEAD_BYTES) &&
		    strstr(s, ERRMSG_PATH_ELLIPSIS) && !strcmp(s + len - 16, "/vmlinux-the-end"),
		    "shortened: '%s'", s);
	errmsg_set(&e, -ENOENT, "kernel '%s': %s", errmsg_path(p).s, strerror(ENOENT));
	TEST_ASSERT(strstr(e.text, "/vmlinux-the-end': No such file or directory"),
		    "reason lost: '%s'", e.text);
	/* Exactly as long as fits, and one byte more. */
	p[ERRMSG_PATH_BYTES - 1] = '\0';
	TEST_ASSERT(!strcmp(errmsg_path(p).s, p), "a path that fits is kept whole");
	p[ERRMSG_PATH_BYTES - 1] = 'a';
	p[ERRMSG_PATH_BYTES] = '\0';
	TEST_ASSERT(strlen(errmsg_path(p).s) < ERRMSG_PATH_BYTES, "one byte too long");
	free(p);
	TEST_ASSERT(!strcmp(errmsg_path("a\nb\x1b[31m\x7f").s, "a?b?[31m?"),
		    "control characters: '%s'", errmsg_path("a\nb\x1b[31m\x7f").s);
	/* A path of 2-byte UTF-8 characters is cut between characters, not inside one. */
	q = malloc(4001);
	TEST_ASSERT(q, "malloc");
	for (i = 0; i < 4000; i += 2)
		memcpy(q + i, "\xc3\xa9", 2);
	q[4000] = '\0';
	s = errmsg_path(q).s;
	for (i = 0; s[i]; i++) {
		lead += (unsigned char)s[i] == 0xc3;
		cont += (unsigned char)s[i] == 0xa9;
		TEST_ASSERT((unsigned char)s[i] != 0xa9 || (i > 0 && (unsigned char)s[i - 1] == 0xc3),
			    "a UTF-8 character cut at byte %zu", i);
	}
	TEST_ASSERT(lead == cont && lead > 0, "UTF-8: %zu lead, %zu continuation bytes", lead, cont);
	free(q);
	TEST_PASS("long paths in messages are shortened in the middle; the reason stays");
}

/* boot_check_files() must refuse quickly with bad_input and a message naming path and want. */
static void expect_check_refused(const char *kernel, const char *initrd, const char *want,
				 const char *what)
{
	struct boot_request req = { .kernel = kernel, .initrd = initrd, .cmdline = "" };
	struct errmsg e = { 0 };
	const char *path = initrd ? initrd : kernel;
	double start = now_s();
	int ret = boot_check_files(&req, &e);

	TEST_ASSERT(ret < 0, "%s: accepted", what);
	TEST_ASSERT(now_s() - start < 1.0, "%s: took %.2f s", what, now_s() - start);
	TEST_ASSERT(e.bad_input, "%s: not marked as bad input", what);
	TEST_ASSERT(strstr(e.text, want) && strstr(e.text, errmsg_path(path).s),
		    "%s: message '%s' lacks '%s' or the path", what, e.text, want);
	printf("ok - refused %s: %s\n", what, e.text);
}

struct input_files {
	char dir[64];
	char *kernel, *fifo, *socket, *empty, *big, *initrd;
};

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;

	TEST_ASSERT(asprintf(&p, "%s/%s", dir, name) > 0, "asprintf");
	return p;
}

static void input_files_make(struct input_files *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	void *elf = good_image(&len);
	int fd;

	strcpy(f->dir, "/tmp/memvmm-test-inputs-XXXXXX");
	TEST_ASSERT(mkdtemp(f->dir), "mkdtemp");
	f->kernel = path_in(f->dir, "vmlinux");
	f->fifo = path_in(f->dir, "fifo");
	f->socket = path_in(f->dir, "socket");
	f->empty = path_in(f->dir, "empty");
	f->big = path_in(f->dir, "big");
	f->initrd = path_in(f->dir, "initrd");
	fd = open(f->kernel, O_WRONLY | O_CREAT | O_EXCL, 0644);
	TEST_ASSERT(fd >= 0 && write(fd, elf, len) == (ssize_t)len && close(fd) == 0, "kernel");
	fd = open(f->initrd, O_WRONLY | O_CREAT | O_EXCL, 0644);
	TEST_ASSERT(fd >= 0 && write(fd, "initrd", 6) == 6 && close(fd) == 0, "initrd");
	TEST_ASSERT(mkfifo(f->fifo, 0600) == 0, "mkfifo");
	fd = open(f->empty, O_WRONLY | O_CREAT | O_EXCL, 0644);
	TEST_ASSERT(fd >= 0 && close(fd) == 0, "empty");
	/* Sparse: one byte over the limit costs no disk. */
	fd = open(f->big, O_WRONLY | O_CREAT | O_EXCL, 0644);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, BOOT_MAX_KERNEL_BYTES + 1) == 0 && close(fd) == 0,
		    "big");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->socket);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && close(fd) == 0,
		    "socket %s", f->socket);
	free(elf);
}

static void input_files_remove(struct input_files *f)
{
	char **p[] = { &f->kernel, &f->fifo, &f->socket, &f->empty, &f->big, &f->initrd };

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		TEST_ASSERT(unlink(*p[i]) == 0, "unlink %s", *p[i]);
		free(*p[i]);
	}
	TEST_ASSERT(rmdir(f->dir) == 0, "rmdir %s", f->dir);
}

static void test_boot_check_files(const struct input_files *f)
{
	char *lp = long_path(f->dir, 4000, "/vmlinux");
	struct boot_request req = { .kernel = f->kernel, .initrd = f->initrd, .cmdline = "" };
	struct errmsg e = { 0 };

	/* A FIFO nobody writes to would block open() forever: the alarm ends a hung test. */
	alarm(30);
	expect_check_refused(f->fifo, NULL, "is not a regular file (it is a FIFO)", "FIFO kernel");
	expect_check_refused(f->kernel, f->fifo, "initrd", "FIFO initrd");
	expect_check_refused(NULL, f->fifo, "is not a regular file", "FIFO initrd, no kernel");
	expect_check_refused(f->dir, NULL, "(it is a directory)", "directory kernel");
	expect_check_refused("/dev/zero", NULL, "(it is a character device)", "/dev/zero kernel");
	expect_check_refused(f->socket, NULL, "(it is a socket)", "socket kernel");
	expect_check_refused(f->empty, NULL, "is empty", "empty kernel");
	expect_check_refused(f->kernel, f->empty, "is empty", "empty initrd");
	expect_check_refused("/nonexistent/vmlinux", NULL, "No such file or directory",
			     "missing kernel");
	expect_check_refused(f->big, NULL, "at most 1024 MiB", "kernel over the size limit");
	expect_check_refused(lp, NULL, "/vmlinux': No such file or directory",
			     "missing kernel with a 4000-byte path");
	TEST_OK(boot_check_files(&req, &e));
	req.kernel = NULL;
	TEST_OK(boot_check_files(&req, &e));
	req.initrd = NULL;
	TEST_OK(boot_check_files(&req, &e));
	alarm(0);
	free(lp);
	TEST_PASS("boot_check_files refuses what is not a usable regular file, without blocking");
}

/* boot_load() opens the files itself: the same refusals, and a real load. */
static void test_boot_load(const struct input_files *f)
{
	struct boot_request req = { .kernel = f->fifo, .cmdline = "console" };
	struct boot_result out;
	struct errmsg e = { 0 };
	char *lp = long_path(f->dir, 4000, "/initrd");
	char *cmdline = malloc(PVH_CMDLINE_BYTES + 1);

	alarm(30);
	TEST_ASSERT(boot_load(&gm, &req, &out, &e) == -EINVAL && e.bad_input &&
		    strstr(e.text, "not a regular file"), "FIFO kernel: '%s'", e.text);
	req.kernel = f->kernel;
	req.initrd = f->fifo;
	TEST_ASSERT(boot_load(&gm, &req, &out, &e) == -EINVAL && e.bad_input &&
		    strstr(e.text, "not a regular file"), "FIFO initrd: '%s'", e.text);
	alarm(0);
	req.initrd = lp;
	TEST_ASSERT(boot_load(&gm, &req, &out, &e) == -ENOENT && e.bad_input &&
		    strstr(e.text, "/initrd': No such file or directory"), "long path: '%s'", e.text);
	req.initrd = f->initrd;
	TEST_ASSERT(cmdline, "malloc");
	memset(cmdline, 'x', PVH_CMDLINE_BYTES);
	cmdline[PVH_CMDLINE_BYTES] = '\0';
	req.cmdline = cmdline;
	TEST_ASSERT(boot_load(&gm, &req, &out, &e) == -E2BIG && e.bad_input &&
		    strstr(e.text, "at most 4095 fit"), "long command line: '%s'", e.text);
	req.cmdline = "console";
	req.mem_is_zero = true;
	TEST_OK(boot_load(&gm, &req, &out, &e));
	TEST_ASSERT(out.entry == CODE_GPA && out.start_info == PVH_START_INFO_GPA,
		    "entry 0x%x start info 0x%x", out.entry, out.start_info);
	free(cmdline);
	free(lp);
	TEST_PASS("boot_load refuses FIFOs, keeps the reason after long paths, loads");
}

static void test_probe_inconclusive(void)
{
	static const int inconclusive[] = { EMFILE, ENFILE, ENOMEM, EAGAIN };
	static const int answers[] = { EINVAL, ENOTTY, EOPNOTSUPP, EPERM, ENOSYS, ENOENT, EACCES,
				       ENODEV, EEXIST, EFAULT };
	struct probe_report *r = calloc(1, sizeof(*r));
	unsigned int i;

	TEST_ASSERT(r, "calloc");
	for (i = 0; i < sizeof(inconclusive) / sizeof(inconclusive[0]); i++)
		TEST_ASSERT(probe_err_inconclusive(inconclusive[i]), "%s is an answer?",
			    probe_errname(inconclusive[i]));
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		TEST_ASSERT(!probe_err_inconclusive(answers[i]), "%s is no answer?",
			    probe_errname(answers[i]));
		TEST_ASSERT(!probe_trial_inconclusive(r, "feature", "step", answers[i]) &&
			    !r->fail_err, "%s recorded as a failed trial", probe_errname(answers[i]));
	}
	TEST_ASSERT(probe_trial_inconclusive(r, "guest_memfd", "KVM_CREATE_GUEST_MEMFD", EMFILE),
		    "EMFILE");
	TEST_ASSERT(probe_trial_inconclusive(r, "userfaultfd", "userfaultfd()", ENOMEM), "ENOMEM");
	TEST_ASSERT(r->fail_err == EMFILE && !strcmp(r->fail_feature, "guest_memfd") &&
		    !strcmp(r->fail_step, "KVM_CREATE_GUEST_MEMFD"), "the first failure is kept");
	TEST_ASSERT(r->nr == 0, "rows added: %u", r->nr);
	free(r);
	TEST_PASS("probe: resource errnos fail the probe, other errnos answer no");
}

int main(void)
{
	struct input_files files;

	make_mem(256ull << 20);
	test_good();
	test_malformed();
	test_segments_refused();
	test_note_bounds();
	test_load_zeroes_bss();
	test_fresh_bss(&mem_backend_anon);
	test_fresh_bss(&mem_backend_memfd);
	test_real_guest();
	test_errmsg_path();
	test_probe_inconclusive();
	input_files_make(&files);
	test_boot_check_files(&files);
	test_boot_load(&files);
	input_files_remove(&files);
	test_boot_data();
	mem_destroy(&gm);
	return 0;
}
