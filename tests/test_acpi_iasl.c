// SPDX-License-Identifier: MIT
/*
 * iasl's view of the tables (Debian's acpica-tools): each table written to
 * a file and disassembled with `iasl -d` says, without a checksum
 * complaint, what memvmm meant (hardware-reduced FADT with its registers,
 * N Processor Local APIC entries, the DSDT's devices and windows), and
 * the disassembled DSDT compiles again (`iasl -oa`, no optimizations) to
 * the same AML, End Tag checksums aside (iasl writes 0: "valid"). iasl
 * cannot read a lone RSDP, so that one is checked by the other cases only.
 * Skips (77) without iasl.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test.h"
#include "tests/test_acpi.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define FILE_MAX_BYTES (4u << 20)
#define PATH_BYTES 512

static struct acpi_tables tables;

/* True when an executable iasl is on $PATH. */
static bool iasl_found(void)
{
	const char *path = getenv("PATH");
	char dir[PATH_BYTES], file[PATH_BYTES + 8];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n && n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			snprintf(file, sizeof(file), "%s/iasl", dir);
			if (access(file, X_OK) == 0)
				return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

/* Run iasl with args in dir, its output into dir/log; returns its exit status. */
static int iasl_run(const char *dir, const char *const *args)
{
	const char *argv[8] = { "iasl" };
	int status, i;
	pid_t pid;

	for (i = 0; args[i]; i++) {
		TEST_ASSERT(i + 2 < (int)(sizeof(argv) / sizeof(argv[0])), "too many arguments");
		argv[i + 1] = args[i];
	}
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int fd;

		if (chdir(dir) < 0)
			_exit(126);
		fd = open("log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execvp("iasl", (char *const *)argv);
		_exit(127);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *file_read(const char *dir, const char *name, size_t *len)
{
	char path[PATH_BYTES];
	char *buf = malloc(FILE_MAX_BYTES + 1);
	ssize_t n;
	int fd;

	TEST_ASSERT(buf, "malloc");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "open %s", path);
	n = read(fd, buf, FILE_MAX_BYTES);
	TEST_ASSERT(n >= 0 && n < FILE_MAX_BYTES, "read %s", path);
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

static void file_write(const char *dir, const char *name, const void *p, size_t len)
{
	char path[PATH_BYTES];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0, "create %s", path);
	TEST_ASSERT(write(fd, p, len) == (ssize_t)len, "write %s", path);
	TEST_ASSERT(close(fd) == 0, "close %s", path);
}

static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void expect_in(const char *text, const char *what, const char *name)
{
	TEST_ASSERT(strstr(text, what), "%s lacks '%s':\n%.6000s", name, what, text);
}

/* Write table sig as NAME.dat, disassemble it; its .dsl (caller frees). */
static char *disassemble(const char *dir, const char *sig, const char *name)
{
	const uint8_t *t = acpi_find(&tables, sig);
	char dat[64], dsl[64], *text, *log;
	const char *args[] = { "-d", dat, NULL };
	int rc;

	snprintf(dat, sizeof(dat), "%s.dat", name);
	snprintf(dsl, sizeof(dsl), "%s.dsl", name);
	file_write(dir, dat, t, le32(t + 4));
	rc = iasl_run(dir, args);
	log = file_read(dir, "log", NULL);
	TEST_ASSERT(rc == 0, "iasl -d %s: exit %d\n%s", dat, rc, log);
	free(log);
	text = file_read(dir, dsl, NULL);
	TEST_ASSERT(!strstr(text, "Incorrect checksum") && !strstr(text, "Invalid"),
		    "iasl complains about %s:\n%.6000s", sig, text);
	return text;
}

/* The disassembled DSDT compiles, unoptimized, to memvmm's AML (End Tag checksums aside). */
static void recompile_dsdt(const char *dir)
{
	const uint8_t *d = acpi_find(&tables, "DSDT");
	const char *args[] = { "-oa", "dsdt.dsl", NULL };
	uint8_t *aml;
	char *log;
	size_t len;
	int rc;

	rc = iasl_run(dir, args);
	log = file_read(dir, "log", NULL);
	TEST_ASSERT(rc == 0 && strstr(log, " 0 Errors"), "iasl dsdt.dsl: exit %d\n%s", rc, log);
	free(log);
	aml = (uint8_t *)file_read(dir, "dsdt.aml", &len);
	TEST_ASSERT(len == le32(d + 4) && le32(aml + 4) == len, "recompiled: %zu bytes, ours %u",
		    len, le32(d + 4));
	for (size_t i = 36; i < len; i++)
		TEST_ASSERT(aml[i] == d[i] || (d[i - 1] == 0x79 && aml[i] == 0),
			    "recompiled DSDT differs at byte %zu: 0x%02x, ours 0x%02x", i, aml[i],
			    d[i]);
	free(aml);
}

static void check_tables(const char *dir, unsigned int vcpus)
{
	const struct mem_machine_layout *l = &tables.layout;
	char want[128], *text;

	text = disassemble(dir, "XSDT", "xsdt");
	snprintf(want, sizeof(want), "ACPI Table Address   0 : %016llX",
		 (unsigned long long)(acpi_find(&tables, "FACP") - tables.buf + tables.base));
	expect_in(text, want, "XSDT");
	free(text);

	text = disassemble(dir, "FACP", "facp");
	expect_in(text, "Revision : 06", "FADT");
	expect_in(text, "Hardware Reduced (V5) : 1", "FADT");
	expect_in(text, "Reset Register Supported (V2) : 1", "FADT");
	expect_in(text, "Value to cause reset : FE", "FADT");
	expect_in(text, "Address : 0000000000000064", "FADT");
	expect_in(text, "Address : 0000000000000600", "FADT");
	expect_in(text, "Address : 0000000000000601", "FADT");
	expect_in(text, "CMOS RTC Not Present (V5) : 1", "FADT");
	free(text);

	text = disassemble(dir, "APIC", "apic");
	TEST_ASSERT(count(text, "[Processor Local APIC]") == vcpus,
		    "%u Processor Local APIC entries, want %u", count(text, "[Processor Local APIC]"),
		    vcpus);
	TEST_ASSERT(count(text, "Processor Enabled : 1") == vcpus, "all enabled");
	expect_in(text, "Local Apic Address : FEE00000", "MADT");
	expect_in(text, "[I/O APIC]", "MADT");
	expect_in(text, "Address : FEC00000", "MADT");
	expect_in(text, "[Interrupt Source Override]", "MADT");
	expect_in(text, "[Local APIC NMI]", "MADT");
	expect_in(text, "Interrupt Input LINT : 01", "MADT");
	free(text);

	text = disassemble(dir, "DSDT", "dsdt");
	expect_in(text, "Name (\\_S5, Package (0x04)", "DSDT");
	expect_in(text, "Device (PCI0)", "DSDT");
	expect_in(text, "EisaId (\"PNP0A03\")", "DSDT");
	expect_in(text, "Name (_PRT, Package (0x80)", "DSDT");
	expect_in(text, "Device (COM1)", "DSDT");
	expect_in(text, "EisaId (\"PNP0501\")", "DSDT");
	expect_in(text, "WordBusNumber (ResourceProducer", "DSDT");
	expect_in(text, "IRQNoFlags ()", "DSDT");
	snprintf(want, sizeof(want), "0x%08llX,         // Range Minimum",
		 (unsigned long long)l->pci_mmio32_base);
	expect_in(text, want, "DSDT");
	snprintf(want, sizeof(want), "0x%08llX,         // Range Maximum",
		 (unsigned long long)(l->pci_mmio32_base + l->pci_mmio32_size - 1));
	expect_in(text, want, "DSDT");
	snprintf(want, sizeof(want), "0x%016llX, // Range Minimum",
		 (unsigned long long)l->pci_mmio64_base);
	expect_in(text, want, "DSDT");
	snprintf(want, sizeof(want), "0x%016llX, // Range Maximum",
		 (unsigned long long)(l->pci_mmio64_base + l->pci_mmio64_size - 1));
	expect_in(text, want, "DSDT");
	free(text);
	recompile_dsdt(dir);
}

static void remove_dir(const char *dir)
{
	static const char *const names[] = {
		"log", "xsdt.dat", "xsdt.dsl", "facp.dat", "facp.dsl", "apic.dat", "apic.dsl",
		"dsdt.dat", "dsdt.dsl", "dsdt.aml",
	};
	char path[PATH_BYTES];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	TEST_ASSERT(rmdir(dir) == 0, "rmdir %s (files left?)", dir);
}

void acpi_run_iasl(const void *arg)
{
	static const struct { unsigned int vcpus; uint64_t ram, hotplug; } cfgs[] = {
		{ 3, 5 * GiB, 1 * GiB },
		{ 255, 512 * MiB, 0 },
	};
	char dir[] = "/tmp/memvmm-acpi-XXXXXX";

	TEST_REQUIRE(iasl_found(), "iasl is not installed (Debian package acpica-tools)");
	TEST_ASSERT(mkdtemp(dir), "mkdtemp");
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		acpi_build(&tables, cfgs[i].vcpus, cfgs[i].ram, cfgs[i].hotplug);
		check_tables(dir, cfgs[i].vcpus);
	}
	remove_dir(dir);
	TEST_PASS("iasl -d: every table as meant, no checksum complaint; the DSDT recompiles");
}
