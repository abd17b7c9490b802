// SPDX-License-Identifier: MIT
/*
 * End to end, the bad-images case of tests/e2e_linux.c: kernel images cut
 * short, damaged, random or empty are refused with exit 2 naming the file.
 * Made from a real bzImage ($MEMVMM_LINUX_KERNEL, or one tests/linux_kernel.sh
 * has cached: nothing is downloaded here), else from a synthetic bzImage
 * header. memvmm checks images before it opens /dev/kvm, so this runs on
 * hosts without KVM too; if it does not, such a host skips, saying which.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/e2e_linux.h"
#include "tests/test.h"

#define KB                     UINT64_C(1024)
#define LINE_BYTES             E2E_LINUX_LINE_BYTES
#define BAD_IMAGE_TIMEOUT_S    30
#define RANDOM_IMAGE_BYTES     (64 * KB)
/* A variant's length: these, or bytes. */
#define LEN_WHOLE              SIZE_MAX
#define LEN_HALF               (SIZE_MAX - 1)


/* The bzImage setup header (Linux's Documentation/arch/x86/boot.rst): offsets in the file. */
#define BZ_SETUP_SECTS          0x1f1
#define BZ_SYSSIZE              0x1f4    /* protected-mode code, 16-byte units */
#define BZ_BOOT_FLAG            0x1fe
#define BZ_JUMP                 0x200
#define BZ_HEADER               0x202    /* "HdrS" */
#define BZ_VERSION              0x206
#define BZ_LOADFLAGS            0x211
#define BZ_CODE32_START         0x214
#define BZ_INITRD_ADDR_MAX      0x22c
#define BZ_KERNEL_ALIGNMENT     0x230
#define BZ_RELOCATABLE          0x234
#define BZ_MIN_ALIGNMENT        0x235
#define BZ_XLOADFLAGS           0x236
#define BZ_CMDLINE_SIZE         0x238
#define BZ_PAYLOAD_OFFSET       0x248
#define BZ_PAYLOAD_LENGTH       0x24c
#define BZ_PREF_ADDRESS         0x258
#define BZ_INIT_SIZE            0x260
#define BZ_KERNEL_INFO_OFFSET   0x268
#define BZ_SECTOR_BYTES         512
#define BZ_SETUP_CUT_BYTES      0x300    /* inside the setup code, after the header */
#define BZ_LOADED_HIGH          0x01
#define BZ_XLF_KERNEL_64        0x0001
#define BZ_XLF_ABOVE_4G         0x0002
#define BZ_OLD_VERSION          0x0205   /* below the 2.06 memvmm requires */
/* A made-up image when no real one is at hand: 4 setup sectors, 64 KiB of "kernel". */
#define SYN_SETUP_SECTS         4
#define SYN_PAYLOAD_BYTES       (64 * KB)
#define SYN_KERNEL_INFO_OFFSET  0x1000
#define SYN_VERSION             0x020f
#define SYN_LOAD_ADDRESS        UINT64_C(0x1000000)

static void put_le(uint8_t *d, size_t off, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		d[off + i] = (uint8_t)(v >> (8 * i));
}

/* A bzImage header as Debian's 6.1 kernel has it, over a payload of zeros. */
static uint8_t *synthetic_bzimage(size_t *len)
{
	size_t setup = (SYN_SETUP_SECTS + 1) * BZ_SECTOR_BYTES;
	uint8_t *d = calloc(1, setup + SYN_PAYLOAD_BYTES), *ki;

	TEST_ASSERT(d, "out of memory");
	put_le(d, BZ_SETUP_SECTS, SYN_SETUP_SECTS, 1);
	put_le(d, BZ_SYSSIZE, SYN_PAYLOAD_BYTES / 16, 4);
	put_le(d, BZ_BOOT_FLAG, 0xaa55, 2);
	put_le(d, BZ_JUMP, 0x6aeb, 2);
	memcpy(d + BZ_HEADER, "HdrS", 4);
	put_le(d, BZ_VERSION, SYN_VERSION, 2);
	put_le(d, BZ_LOADFLAGS, BZ_LOADED_HIGH, 1);
	put_le(d, BZ_CODE32_START, 0x100000, 4);
	put_le(d, BZ_INITRD_ADDR_MAX, 0x7fffffff, 4);
	put_le(d, BZ_KERNEL_ALIGNMENT, 0x200000, 4);
	put_le(d, BZ_RELOCATABLE, 1, 1);
	put_le(d, BZ_MIN_ALIGNMENT, 21, 1);
	put_le(d, BZ_XLOADFLAGS, BZ_XLF_KERNEL_64 | BZ_XLF_ABOVE_4G, 2);
	put_le(d, BZ_CMDLINE_SIZE, 2047, 4);
	put_le(d, BZ_PAYLOAD_OFFSET, 0x400, 4);
	put_le(d, BZ_PAYLOAD_LENGTH, 0x800, 4);
	put_le(d, BZ_PREF_ADDRESS, SYN_LOAD_ADDRESS, 8);
	put_le(d, BZ_INIT_SIZE, SYN_LOAD_ADDRESS, 4);
	put_le(d, BZ_KERNEL_INFO_OFFSET, SYN_KERNEL_INFO_OFFSET, 4);
	ki = d + setup + SYN_KERNEL_INFO_OFFSET;   /* header, size, size_total, setup_type_max */
	memcpy(ki, "LToP", 4);
	put_le(ki, 4, 16, 4);
	put_le(ki, 8, 16, 4);
	put_le(ki, 12, 9, 4);
	*len = setup + SYN_PAYLOAD_BYTES;
	return d;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
	uint64_t n = e2e_linux_file_size(path);
	uint8_t *d = malloc(n ? n : 1);
	FILE *f = fopen(path, "re");

	TEST_ASSERT(d && f, "reading %s", path);
	TEST_ASSERT(fread(d, 1, n, f) == n, "reading %s", path);
	fclose(f);
	*len = n;
	return d;
}

/* A real bzImage (prebuilt, or cached: never downloaded here), else a synthetic one. */
static uint8_t *base_image(size_t *len, bool *real)
{
	const char *k = getenv("MEMVMM_LINUX_KERNEL"), *fetch = getenv("MEMVMM_LINUX_FETCH");
	char path[PATH_MAX], *out;

	*real = true;
	if (k && *k && access(k, R_OK) == 0) {
		printf("base image: %s (MEMVMM_LINUX_KERNEL)\n", k);
		return read_whole(k, len);
	}
	if (fetch && access(fetch, X_OK) == 0) {
		const char *argv[] = { fetch, "--offline", NULL };
		int rc = e2e_linux_run_tool(argv, &out);

		if (rc == 0 && e2e_linux_output_value(out, "vmlinuz", path, sizeof(path))) {
			free(out);
			printf("base image: %s (cached by tests/linux_kernel.sh)\n", path);
			return read_whole(path, len);
		}
		printf("no cached kernel (%s exited %d): a synthetic bzImage header\n", fetch, rc);
		free(out);
	}
	*real = false;
	return synthetic_bzimage(len);
}

static void write_image(const char *path, const uint8_t *d, size_t len)
{
	FILE *f = fopen(path, "we");

	TEST_ASSERT(f && fwrite(d, 1, len, f) == len && fclose(f) == 0, "writing %s", path);
}

/* Longer than Debian's cmdline_size (2047), within what --cmdline takes (4095). */
#define BZ_LONG_CMDLINE_BYTES 3000

enum verdict { REFUSED, AFTER_KVM, WRONG };

/* memvmm run --kernel path: refused (exit 2 naming it), stopped at /dev/kvm, or else. */
static enum verdict run_image(const char *path, char *why, size_t len)
{
	const char *args[] = { "run", "--kernel", path, "--memory", "size=256M", NULL };
	struct e2e_opts o = { .timeout_s = BAD_IMAGE_TIMEOUT_S };
	struct e2e_result r;
	enum verdict v = WRONG;

	e2e_run(args, &o, &r);
	/* No /dev/kvm is the host's failure: exit 1. */
	if (!r.signaled && r.status == 1 && strstr(r.err, "/dev/kvm"))
		v = AFTER_KVM;
	else if (!r.signaled && r.status == 2 && strstr(r.err, path))
		v = REFUSED;
	snprintf(why, len, "exit %d%s in %.1f s: %s", r.status, r.signaled ? " (killed)" : "",
		 r.seconds, e2e_linux_last_line(r.err, (char[LINE_BYTES]){ 0 }, LINE_BYTES));
	e2e_free(&r);
	return v;
}

/*
 * A good image with too little RAM for its init_size, or a command line
 * longer than its cmdline_size: exit 2 before /dev/kvm is opened.
 */
static void check_early_refusals(const char *path)
{
	static char long_cmdline[BZ_LONG_CMDLINE_BYTES + 1];
	const char *small[] = { "run", "--kernel", path, "--memory", "size=32M", NULL };
	const char *longer[] = { "run", "--kernel", path, "--cmdline", long_cmdline, NULL };
	struct e2e_opts o = { .timeout_s = BAD_IMAGE_TIMEOUT_S };
	struct e2e_result r;

	memset(long_cmdline, 'a', BZ_LONG_CMDLINE_BYTES);
	e2e_run(small, &o, &r);
	TEST_ASSERT(r.status == 2 && strstr(r.err, "give the guest more memory") &&
		    !strstr(r.err, "/dev/kvm"), "32M: exit %d: %s", r.status, r.err);
	e2e_free(&r);
	e2e_run(longer, &o, &r);
	TEST_ASSERT(r.status == 2 && strstr(r.err, "takes at most") && !strstr(r.err, "/dev/kvm"),
		    "a %d-byte command line: exit %d: %s", BZ_LONG_CMDLINE_BYTES, r.status, r.err);
	e2e_free(&r);
	printf("ok - too little RAM and too long a command line: exit 2 before /dev/kvm\n");
}

void e2e_linux_bad_images(const void *unused)
{
	char dir[] = "/tmp/memvmm-e2e-linux-XXXXXX", path[PATH_MAX], why[LINE_BYTES];
	char after_kvm[256] = "", wrong[4 * LINE_BYTES] = "";
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	bool kvm = fd >= 0, real;
	size_t len;
	uint8_t *base, *d;
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	enum edit { KEEP, SET, CLEAR_64BIT, RANDOM };
	struct {
		const char *name;
		size_t len;          /* bytes of the base image kept (LEN_WHOLE, LEN_HALF) */
		enum edit edit;
		size_t off;          /* SET: write val, bytes long (little-endian), at off */
		uint32_t val;
		unsigned int bytes;
	} v[] = {
		{ "empty", 0, KEEP, 0, 0, 0 },
		{ "boot-sector", BZ_SECTOR_BYTES, KEEP, 0, 0, 0 },      /* setup_sects says more */
		{ "setup-cut", BZ_SETUP_CUT_BYTES, KEEP, 0, 0, 0 },     /* header whole, setup cut */
		{ "half", LEN_HALF, KEEP, 0, 0, 0 },                    /* syssize says more */
		{ "bad-magic", LEN_WHOLE, SET, BZ_HEADER + 3, 'X', 1 }, /* "HdrX" */
		{ "old-protocol", LEN_WHOLE, SET, BZ_VERSION, BZ_OLD_VERSION, 2 },
		{ "no-64bit-entry", LEN_WHOLE, CLEAR_64BIT, 0, 0, 0 },
		{ "random", RANDOM_IMAGE_BYTES, RANDOM, 0, 0, 0 },
	};

	(void)unused;
	if (kvm)
		close(fd);
	base = base_image(&len, &real);
	TEST_ASSERT(len > 2 * BZ_SETUP_CUT_BYTES && !memcmp(base + BZ_HEADER, "HdrS", 4),
		    "the base image is not a bzImage");
	d = malloc(len > RANDOM_IMAGE_BYTES ? len : RANDOM_IMAGE_BYTES);
	TEST_ASSERT(d, "out of memory");
	TEST_ASSERT(mkdtemp(dir), "mkdtemp");
	if (!kvm) {
		/* The unmodified image gets past every check, to /dev/kvm. */
		snprintf(path, sizeof(path), "%s/good", dir);
		write_image(path, base, len);
		TEST_ASSERT(run_image(path, why, sizeof(why)) == AFTER_KVM || !real,
			    "the unmodified image is refused: %s", why);
		printf("control: the unmodified image: %s\n", why);
		if (real)
			check_early_refusals(path);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = v[i].len == LEN_WHOLE ? len : v[i].len == LEN_HALF ? len / 2 : v[i].len;
		enum verdict res;

		memcpy(d, base, n < len ? n : len);
		switch (v[i].edit) {
		case KEEP:
			break;
		case SET:
			put_le(d, v[i].off, v[i].val, v[i].bytes);
			break;
		case CLEAR_64BIT:
			d[BZ_XLOADFLAGS] &= (uint8_t)~BZ_XLF_KERNEL_64;
			break;
		case RANDOM:
			for (size_t j = 0; j < n; j++) {   /* xorshift64: the same bytes every run */
				rnd ^= rnd << 13;
				rnd ^= rnd >> 7;
				rnd ^= rnd << 17;
				d[j] = (uint8_t)rnd;
			}
			d[0] = 0;   /* never an ELF magic */
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
		write_image(path, d, n);
		res = run_image(path, why, sizeof(why));
		printf("%-15s %8zu bytes: %s: %s\n", v[i].name, n,
		       res == REFUSED ? "refused" : res == AFTER_KVM ? "reached /dev/kvm" : "WRONG", why);
		if (res == AFTER_KVM && !kvm)
			snprintf(after_kvm + strlen(after_kvm), sizeof(after_kvm) - strlen(after_kvm),
				 " %s", v[i].name);
		else if (res != REFUSED)
			snprintf(wrong + strlen(wrong), sizeof(wrong) - strlen(wrong),
				 "\n  %s: %s (want exit 2 naming %s)", v[i].name, why, path);
		unlink(path);
	}
	rmdir(dir);
	free(d);
	free(base);
	TEST_ASSERT(!wrong[0], "kernel images not refused as they should be:%s", wrong);
	snprintf(why, sizeof(why), "memvmm checks these images only after opening /dev/kvm, which "
		 "this host lacks:%s", after_kvm);
	TEST_REQUIRE(!after_kvm[0], why);
	printf("ok - every damaged image refused with exit 2 naming the file%s\n",
	       kvm ? "" : ", before /dev/kvm is opened");
}

