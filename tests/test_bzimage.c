// SPDX-License-Identifier: MIT
/*
 * Linux's 64-bit boot protocol without KVM: bzImage headers built in memory
 * (a good one, then each kind of malformed one, and every truncation),
 * where the kernel and initrd are placed, the zero page, command line, GDT
 * and identity map read back from real guest memory byte by byte, an
 * uncompressed vmlinux ELF without a PVH note, boot_load()'s dispatch on
 * the format, and a real Debian bzImage when MEMVMM_TEST_BZIMAGE names one.
 *
 * Expected values are written here from boot.rst's offsets as literals,
 * not from the loader's own constants, so that the two check each other.
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/abi.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/elf_build.h"
#include "tests/test.h"
#include "tests/test_bzimage.h"
#include "vmm/boot.h"
#include "vmm/bzimage.h"
#include "vmm/linux_boot.h"
#include "vmm/pvh.h"

struct guest_mem gm;

void make_mem(uint64_t size)
{
	struct mem_config mc = { .size = size, .backend = &mem_backend_anon };

	mem_destroy(&gm);
	memset(&gm, 0, sizeof(gm));
	TEST_OK(mem_create(&gm, &mc, -1, NULL));
}

void put_le(uint8_t *p, size_t off, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}

uint64_t get_le(const uint8_t *p, size_t off, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.setup_sects = 4, .version = 0x020f, .loadflags = 0x01, .xloadflags = 0x03,
		.relocatable = 1, .kernel_alignment = 0x200000, .pref_address = 0x1000000,
		.init_size = 0x100000, .cmdline_size = 2047, .initrd_addr_max = 0x7fffffff,
		.payload_len = 0x10000, .hdr_len = 0x6a,
	};
}

/* A bzImage: boot sector + setup_sects sectors of setup, then the payload. */
uint8_t *bz_build(const struct bz_opts *o, size_t *len)
{
	size_t setup = ((o->setup_sects ? o->setup_sects : 4u) + 1) * 512u;
	uint8_t *b = calloc(1, setup + o->payload_len);

	TEST_ASSERT(b, "calloc");
	b[0x1f1] = (uint8_t)o->setup_sects;
	put_le(b, 0x1f4, o->payload_len / 16, 4);       /* syssize */
	put_le(b, 0x1fe, 0xaa55, 2);
	b[0x200] = 0xeb;
	b[0x201] = o->hdr_len;
	memcpy(b + 0x202, "HdrS", 4);
	put_le(b, 0x206, o->version, 2);
	put_le(b, 0x20e, 0x1234, 2);                     /* kernel_version: copied as is */
	b[0x211] = o->loadflags;
	put_le(b, 0x214, 0x100000, 4);                   /* code32_start */
	put_le(b, 0x22c, o->initrd_addr_max, 4);
	put_le(b, 0x230, o->kernel_alignment, 4);
	b[0x234] = o->relocatable;
	b[0x235] = 21;                                   /* min_alignment */
	put_le(b, 0x236, o->xloadflags, 2);
	put_le(b, 0x238, o->cmdline_size, 4);
	put_le(b, 0x258, o->pref_address, 8);
	put_le(b, 0x260, o->init_size, 4);
	put_le(b, 0x264, 0x190, 4);                      /* handover_offset: copied as is */
	put_le(b, 0x268, 0xabcd, 4);                     /* kernel_info_offset */
	for (size_t i = 0; i < o->payload_len; i++)
		b[setup + i] = payload_byte(i);
	*len = setup + o->payload_len;
	return b;
}

/* bzimage_parse() must refuse with -ENOEXEC and a message containing want. */
static void expect_bad(const uint8_t *img, size_t len, const char *want, const char *what)
{
	struct bzimage_info bz;
	struct errmsg e = { 0 };
	int ret = bzimage_parse(img, len, &bz, &e);

	TEST_ASSERT(ret == -ENOEXEC, "%s: expected -ENOEXEC, got %d ('%s')", what, ret, e.text);
	TEST_ASSERT(strstr(e.text, want), "%s: message '%s' lacks '%s'", what, e.text, want);
	printf("ok - refused %s: %s\n", what, e.text);
}

/* Build with one option changed and expect the refusal. */
#define EXPECT_OPT(field, value, want)                                         \
	do {                                                                   \
		struct bz_opts o_ = bz_default();                              \
		size_t len_;                                                   \
		uint8_t *b_;                                                   \
		o_.field = (value);                                            \
		b_ = bz_build(&o_, &len_);                                     \
		expect_bad(b_, len_, want, #field " = " #value);               \
		free(b_);                                                      \
	} while (0)

static void case_good(const void *arg)
{
	struct bz_opts o = bz_default();
	struct bzimage_info bz;
	struct errmsg e = { 0 };
	size_t len;
	uint8_t *b = bz_build(&o, &len);

	TEST_ASSERT(bzimage_has_magic(b, len), "magic");
	TEST_OK(bzimage_parse(b, len, &bz, &e));
	TEST_ASSERT(bz.version == 0x020f && bz.setup_sects == 4 && bz.hdr_end == 0x26c,
		    "version 0x%x sects %u end 0x%x", bz.version, bz.setup_sects, bz.hdr_end);
	TEST_ASSERT(bz.pm_offset == 5 * 512 && bz.pm_size == o.payload_len,
		    "pm at 0x%llx, %llu bytes", (unsigned long long)bz.pm_offset,
		    (unsigned long long)bz.pm_size);
	TEST_ASSERT(bz.relocatable && bz.kernel_alignment == 0x200000 &&
		    bz.pref_address == 0x1000000 && bz.init_size == 0x100000 &&
		    bz.cmdline_size == 2047 && bz.initrd_addr_max == 0x7fffffff &&
		    bz.xloadflags == 3 && bz.loadflags == 1 && bz.code32_start == 0x100000,
		    "fields");
	free(b);

	/* setup_sects 0 reads as 4; a file with trailing bytes past syssize is fine. */
	o.setup_sects = 0;
	o.payload_len = 0x1000;
	b = bz_build(&o, &len);
	TEST_OK(bzimage_parse(b, len, &bz, &e));
	TEST_ASSERT(bz.setup_sects == 4 && bz.pm_offset == 0xa00, "setup_sects 0 -> 4");
	put_le(b, 0x1f4, 0x80, 4);   /* syssize: only the first 2 KiB */
	TEST_OK(bzimage_parse(b, len, &bz, &e));
	TEST_ASSERT(bz.pm_size == 0x800, "pm_size %llu", (unsigned long long)bz.pm_size);
	free(b);

	/* The least header 2.12+ needs: up to init_size (0x264). */
	o = bz_default();
	o.hdr_len = 0x62;
	o.version = 0x020c;
	b = bz_build(&o, &len);
	TEST_OK(bzimage_parse(b, len, &bz, &e));
	TEST_ASSERT(bz.hdr_end == 0x264, "hdr end 0x%x", bz.hdr_end);
	free(b);
	TEST_PASS("good bzImage headers");
}

static void case_malformed(const void *arg)
{
	static const char text[] = "#!/bin/sh\necho not a kernel\n";
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *b;

	expect_bad((const uint8_t *)text, sizeof(text), "not a bzImage", "a text file");
	b = bz_build(&o, &len);
	b[0x203] = 'X';
	expect_bad(b, len, "no \"HdrS\" at offset 0x202", "bad magic");
	free(b);

	EXPECT_OPT(version, 0x0205, "boot protocol 2.05 is too old");
	EXPECT_OPT(version, 0x0100, "2.06 or later");
	EXPECT_OPT(version, 0x020b, "boot protocol 2.11 has no 64-bit entry");
	EXPECT_OPT(loadflags, 0x80, "loadflags 0x80 lack LOADED_HIGH");
	EXPECT_OPT(xloadflags, 0x02, "xloadflags 0x0002 lack XLF_KERNEL_64");
	EXPECT_OPT(kernel_alignment, 0x300000, "kernel_alignment 0x300000 is not a power of two");
	EXPECT_OPT(kernel_alignment, 0, "kernel_alignment 0x0 is not a power of two");
	EXPECT_OPT(kernel_alignment, 0x80000000u, "kernel_alignment 0x80000000");
	EXPECT_OPT(init_size, 0x8000, "init_size 0x8000 is smaller than its protected-mode "
		   "kernel (0x10000 bytes)");
	EXPECT_OPT(init_size, 0xffffffffu, "init_size 0xffffffff is over the 1024 MiB");
	EXPECT_OPT(hdr_len, 0x50, "setup header length byte at 0x201 is 0x50");
	EXPECT_OPT(hdr_len, 0x90, "setup header length byte at 0x201 is 0x90");
	EXPECT_OPT(hdr_len, 0xf0, "setup header length byte at 0x201 is 0xf0");
	EXPECT_OPT(payload_len, 0x100, "do not reach the 64-bit entry at +0x200");
	EXPECT_OPT(payload_len, 0, "setup_sects 4 puts the protected-mode kernel at offset "
		   "0xa00, the file is 2560 bytes");

	b = bz_build(&o, &len);
	put_le(b, 0x1f4, 0, 4);
	expect_bad(b, len, "syssize is 0", "syssize 0");
	b[0x200] = 0xe9;
	expect_bad(b, len, "jump at 0x200 is 0xe9", "not a short jmp");
	free(b);

	/* setup_sects pointing past the end of the file. */
	o.setup_sects = 200;
	o.payload_len = 0;
	b = bz_build(&o, &len);
	expect_bad(b, 0x1000, "setup_sects 200 puts the protected-mode kernel at offset "
		   "0x19200, the file is 4096 bytes", "setup_sects past EOF");
	free(b);
	/* syssize larger than the file. */
	o = bz_default();
	b = bz_build(&o, &len);
	put_le(b, 0x1f4, 0x100000, 4);
	expect_bad(b, len, "syssize 0x100000 says 16777216 bytes", "syssize past EOF");
	free(b);
	TEST_PASS("malformed bzImages refused, naming the field and value");
}

static void case_truncated(const void *arg)
{
	struct bz_opts o = bz_default();
	struct bzimage_info bz;
	size_t len, cut, refused = 0;
	uint8_t *b;

	o.payload_len = 0x4000;
	b = bz_build(&o, &len);
	for (cut = 0; cut < len; cut += cut < 0x1000 ? 1 : 97) {
		struct errmsg e = { 0 };
		/* A copy of exactly cut bytes: ASan sees any read past it. */
		uint8_t *t = malloc(cut ? cut : 1);
		int ret;

		TEST_ASSERT(t, "malloc");
		memcpy(t, b, cut);
		ret = bzimage_parse(t, cut, &bz, &e);
		TEST_ASSERT(ret == -ENOEXEC, "cut at %zu: %d", cut, ret);
		TEST_ASSERT(strstr(e.text, cut < 0x206 ? "not a bzImage" : "truncated"),
			    "cut at %zu: '%s'", cut, e.text);
		free(t);
		refused++;
	}
	{
		struct errmsg e = { 0 };

		TEST_OK(bzimage_parse(b, len, &bz, &e));
	}
	free(b);
	printf("ok - %zu truncations refused\n", refused);
	TEST_PASS("every truncation refused");
}

/* Random bytes in the header and around it: refused or described, never a crash. */
static void case_flips(const void *arg)
{
	struct bz_opts o = bz_default();
	size_t len, accepted = 0;
	uint8_t *good = bz_build(&o, &len), *b = malloc(len);
	struct linux_image *img = malloc(sizeof(*img));

	TEST_ASSERT(b && img, "malloc");
	make_mem(64ull << 20);
	srandom(12);
	for (unsigned int round = 0; round < 20000; round++) {
		struct errmsg e = { 0 };
		uint64_t gpa;

		memcpy(b, good, len);
		for (unsigned int k = 0; k < 1 + round % 4; k++)
			b[0x1f1 + (size_t)random() % 0x90] = (uint8_t)random();
		if (linux_prepare_bzimage(b, len, &gm, img, &e))
			continue;
		accepted++;
		TEST_ASSERT(img->kernel_end <= gm.ram_size && img->kernel_start >= 0x100000 &&
			    img->load_gpa + img->bz.pm_size <= img->kernel_end,
			    "accepted a kernel at 0x%llx..0x%llx",
			    (unsigned long long)img->kernel_start,
			    (unsigned long long)img->kernel_end);
		if (!linux_place_initrd(&gm, img, 4096, &gpa))
			TEST_ASSERT(gpa >= img->kernel_end && gpa + 4096 <= gm.ram_size,
				    "initrd at 0x%llx", (unsigned long long)gpa);
	}
	printf("ok - %zu of 20000 mutated headers accepted, all inside RAM\n", accepted);
	free(img);
	free(b);
	free(good);
	mem_destroy(&gm);
	TEST_PASS("mutated headers");
}

/* MEMVMM_TEST_BZIMAGE: a real kernel (e.g. Debian's vmlinuz-*-cloud-amd64). */
static void case_debian(const void *arg)
{
	const char *path = getenv("MEMVMM_TEST_BZIMAGE");
	struct linux_image *img = malloc(sizeof(*img));
	struct errmsg e = { 0 };
	struct stat st;
	uint8_t *buf;
	FILE *f;

	TEST_REQUIRE(path && *path, "MEMVMM_TEST_BZIMAGE is not set (a bzImage to parse, e.g. "
		     "/boot/vmlinuz-*-cloud-amd64)");
	TEST_ASSERT(img && stat(path, &st) == 0 && st.st_size > 0, "%s", path);
	buf = malloc((size_t)st.st_size);
	f = fopen(path, "rb");
	TEST_ASSERT(buf && f && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size,
		    "read %s", path);
	fclose(f);
	make_mem(512ull << 20);
	TEST_OK(linux_prepare_bzimage(buf, (size_t)st.st_size, &gm, img, &e));
	printf("ok - %s: protocol %u.%02u, setup_sects %u, init_size 0x%x, pref 0x%llx, "
	       "xloadflags 0x%x, cmdline_size %u\n", path, img->bz.version >> 8,
	       img->bz.version & 0xff, img->bz.setup_sects, img->bz.init_size,
	       (unsigned long long)img->bz.pref_address, img->bz.xloadflags,
	       img->bz.cmdline_size);
	TEST_ASSERT(img->bz.version >= 0x020f, "protocol 0x%x", img->bz.version);
	TEST_ASSERT(img->bz.relocatable && (img->bz.xloadflags & 1), "relocatable, 64-bit");
	TEST_ASSERT(img->load_gpa == img->bz.pref_address &&
		    img->entry64 == img->bz.pref_address + 0x200, "loaded at pref_address");
	TEST_OK(linux_load(&gm, buf, img, 0));
	{
		struct linux_boot_params p = { .cmdline = "console=ttyS0" };
		uint8_t bp[4096];

		TEST_OK(linux_write_boot_data(&gm, img, &p));
		TEST_OK(mem_read(&gm, 0x6000, bp, sizeof(bp)));
		TEST_ASSERT(!memcmp(bp + 0x1f1, buf + 0x1f1, 0x210 - 0x1f1) &&
			    !memcmp(bp + 0x202, "HdrS", 4), "the header is the file's");
	}
	free(buf);
	free(img);
	mem_destroy(&gm);
	TEST_PASS("a real bzImage");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "good", case_good, NULL },
		{ "malformed", case_malformed, NULL },
		{ "truncated", case_truncated, NULL },
		{ "flips", case_flips, NULL },
		{ "placement", case_placement, NULL },
		{ "zero-page", case_zero_page, NULL },
		{ "page-tables", case_page_tables, NULL },
		{ "vmlinux", case_vmlinux, NULL },
		{ "boot-load", case_boot_load, NULL },
		{ "cmdline", case_cmdline, NULL },
		{ "check-files", case_check_files, NULL },
		{ "debian", case_debian, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
