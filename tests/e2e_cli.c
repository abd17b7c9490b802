// SPDX-License-Identifier: MIT
/*
 * End to end: bad input exits 2 with a message naming it; help exits 0.
 *
 * Two cases, each its own Meson test (e2e_case_main()): "usage" is what
 * memvmm refuses before it opens /dev/kvm (the command line, kernel and
 * initrd files that cannot be opened), so it runs on any host; "kvm" loads
 * kernels that are not PVH ELF files, which memvmm parses after creating the
 * VM, and skips (77) without /dev/kvm.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

/* memvmm must exit 2, say `want` on stderr, and print nothing on stdout. */
static void expect_usage_error(const char *const *args, const char *want)
{
	struct e2e_result r;

	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(strstr(r.err, want), "stderr lacks '%s':\n%s", want, r.err);
	TEST_ASSERT(!strstr(r.err, "AddressSanitizer") && !strstr(r.err, "runtime error"),
		    "sanitizer report: %s", r.err);
	printf("ok - exit 2: %s\n", r.err);
	e2e_free(&r);
}

static char *write_file(const char *tag, const void *data, size_t len)
{
	char *path = NULL;
	int fd;

	TEST_ASSERT(asprintf(&path, "/tmp/memvmm-e2e-%s-XXXXXX", tag) > 0, "asprintf");
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0 && write(fd, data, len) == (ssize_t)len && close(fd) == 0,
		    "write %s", path);
	return path;
}

/*
 * The bundled guest cut short: inside its program headers (headers_only) or
 * halfway through its first loadable segment's file data.
 */
static char *truncated_guest(bool headers_only, const char *tag)
{
	const char *src = getenv("GUEST_ELF");
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	size_t keep = 0;
	struct stat st;
	char *buf, *path;
	int fd, i;

	TEST_ASSERT(src && (fd = open(src, O_RDONLY)) >= 0 && fstat(fd, &st) == 0,
		    "GUEST_ELF");
	buf = malloc((size_t)st.st_size);
	TEST_ASSERT(buf && read(fd, buf, (size_t)st.st_size) == st.st_size, "read");
	close(fd);
	eh = (const Elf64_Ehdr *)buf;
	ph = (const Elf64_Phdr *)(buf + eh->e_phoff);
	if (headers_only)
		keep = eh->e_phoff + sizeof(*ph) / 2;
	for (i = 0; !keep && i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_filesz)
			keep = ph[i].p_offset + ph[i].p_filesz / 2;
	}
	TEST_ASSERT(keep && keep < (size_t)st.st_size, "no place to cut the guest ELF");
	path = write_file(tag, buf, keep);
	free(buf);
	return path;
}

static void expect_help(const char *const *args, const char *want)
{
	struct e2e_result r;

	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.out, want), "help lacks '%s': %s", want, r.out);
	e2e_free(&r);
}

struct bad_case {
	const char *args[8];
	const char *want;
};

static void expect_usage_errors(const struct bad_case *bad, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		expect_usage_error(bad[i].args, bad[i].want);
}

/* Kernels that are not PVH ELF files: memvmm parses them once the VM exists. */
static void case_kvm(const void *arg)
{
	static const char text[] = "this is a text file, not a kernel\n";
	char *text_kernel = write_file("text", text, sizeof(text) - 1);
	char *short_elf = truncated_guest(true, "short");
	char *half_elf = truncated_guest(false, "half");
	const struct bad_case bad[] = {
		{ { "run", "--kernel", text_kernel }, "not an ELF file" },
		{ { "run", "--kernel", short_elf }, "truncated" },
		{ { "run", "--kernel", half_elf }, "truncated" },
	};

	e2e_require_kvm();
	expect_usage_errors(bad, sizeof(bad) / sizeof(bad[0]));
	unlink(text_kernel);
	unlink(short_elf);
	unlink(half_elf);
	free(text_kernel);
	free(short_elf);
	free(half_elf);
	TEST_PASS("kernels that are not PVH ELF files");
}

/* Refused before KVM is opened: any host. */
static void case_usage(const void *arg)
{
	static char long_socket[200];
	const struct bad_case bad[] = {
		{ { "run", "--memory", "size=12Q" }, "'12Q'" },
		{ { "run", "--vcpus", "0" }, "'0'" },
		{ { "run", "--memory", "backend=zram" }, "unknown backend 'zram'" },
		{ { "run", "--memory", "size=5M,backend=hugetlb" }, "hugetlb" },
		{ { "run", "--memory", "populate=eager" }, "unknown populate 'eager'" },
		{ { "run", "--memory", "populate-threads=0" }, "populate-threads '0'" },
		{ { "run", "--memory", "populate-threads=65" }, "populate-threads '65'" },
		{ { "run", "--memory", "populate-threads=2M" }, "populate-threads '2M'" },
		{ { "run", "--memory", "prefault=maybe" }, "unknown prefault 'maybe'" },
		{ { "run", "--memory", "size=1G," }, "empty item (a stray comma) in 'size=1G,'" },
		{ { "run", "--memory", "," }, "empty item" },
		{ { "run", "--memory", "size=1G,size=2G" }, "size given twice" },
		{ { "run", "--mem", "size=1G" }, "unknown option '--mem'" },
		{ { "run", "--kern", "vmlinux" }, "unknown option '--kern'" },
		{ { "run", "--quiet=yes" }, "--quiet takes no value" },
		{ { "run", "--api-socket=" }, "--api-socket: empty path" },
		{ { "run", "--api-socket", long_socket }, "at most 107" },
		{ { "frobnicate" }, "unknown command 'frobnicate'" },
		{ { "run", "--frob" }, "unknown option '--frob'" },
		{ { "run", "extra" }, "unexpected argument 'extra'" },
		{ { "probe", "--xml" }, "unknown option '--xml'" },
		{ { "ctl", "status" }, "--api-socket PATH is required" },
		{ { "ctl", "--api-socket", "/nonexistent/memvmm.sock" }, "missing COMMAND" },
		{ { "ctl", "--api-socket", "s", "status", "Bad=1" }, "invalid key in 'Bad=1'" },
		{ { "ctl", "--api-socket", "s", "status", "a=1", "a=2" }, "key 'a' given twice" },
		{ { "ctl", "--api-socket", "/nonexistent/memvmm.sock", "status" },
		  "/nonexistent/memvmm.sock" },
		{ { NULL }, "usage: memvmm COMMAND" },
		/* Files are opened (and refused) before /dev/kvm. */
		{ { "run", "--kernel", "/nonexistent/vmlinux" },
		  "'/nonexistent/vmlinux': No such file" },
		{ { "run", "--kernel", "/tmp" }, "not a regular file" },
		{ { "run", "--initrd", "/nonexistent/initrd" }, "initrd '/nonexistent/initrd'" },
	};
	const char *h1[] = { "--help", NULL }, *h2[] = { "run", "--help", NULL };
	const char *h3[] = { "probe", "-h", NULL }, *h4[] = { "help", NULL };
	const char *h5[] = { "ctl", "--help", NULL }, *h6[] = { "run", "--vcpus", "0", "-h", NULL };

	memset(long_socket, 's', sizeof(long_socket) - 1);
	expect_usage_errors(bad, sizeof(bad) / sizeof(bad[0]));
	TEST_PASS("usage errors exit 2 and name the bad value");
	expect_help(h1, "commands:");
	expect_help(h2, "--memory GROUP");
	expect_help(h2, "--api-socket PATH");
	expect_help(h3, "--json");
	expect_help(h4, "commands:");
	expect_help(h5, "usage: memvmm ctl --api-socket PATH COMMAND");
	/* Read left to right: the bad count comes first. */
	expect_usage_error(h6, "invalid count '0'");
	TEST_PASS("help texts");
}

static const struct e2e_case cases[] = {
	{ "usage", case_usage, NULL },
	{ "kvm", case_kvm, NULL },
};

int main(int argc, char **argv)
{
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
