// SPDX-License-Identifier: MIT
/*
 * End to end: Linux guests. Debian's cloud kernel (bzImage) with memvmm's
 * Linux test image (guest/linux/mkimage.sh: busybox-static, Linux's own
 * virtio_pci, virtio_mem and virtio_balloon, guest/linux/init).
 *
 * The image: $MEMVMM_LINUX_KERNEL and $MEMVMM_LINUX_INITRD when both are set
 * (prebuilt, e.g. for a machine without network), else built by
 * $MEMVMM_LINUX_MKIMAGE into $MEMVMM_LINUX_WORKDIR (meson sets both), which
 * fetches and caches the packages (tests/linux_kernel.sh; $MEMVMM_CACHE_DIR,
 * $MEMVMM_LINUX_PACKAGE). $MEMVMM_LINUX_TIMEOUT_S bounds each boot.
 *
 * Cases (argv[1]; each its own Meson test, suite 'linux'):
 *   early-boot  --vcpus 2 --memory size=512M: the console shows the exact
 *               command line, the ramdisk range of the initrd's size, the
 *               e820 map memvmm gives, SMP from the ACPI MADT, 2 CPUs, and the
 *               memory total that map makes. Then, where the host has VMX/SVM,
 *               the image's init runs to "done" and powers off (exit 0); where
 *               KVM emulates ring 0, memvmm stops at an instruction its
 *               emulator lacks with exit 1, naming a KVM internal error, and
 *               never hangs
 *   full        (VMX/SVM only) virtio-mem plugs 256M, the balloon inflates
 *               128M and deflates when `ctl balloon size=0` says so: MemTotal
 *               in the guest and memvmm's status agree; done, power off, exit 0
 *   bad-images  truncated, damaged, random and empty kernel images: exit 2
 *               naming the file (no guest runs; no KVM needed when memvmm
 *               checks images before opening /dev/kvm): tests/e2e_linux_bad.c
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/e2e_gated.h"
#include "tests/e2e_linux.h"
#include "tests/test.h"

#define KB                     UINT64_C(1024)
#define MB                     (KB * KB)
#define PAGE_BYTES             UINT64_C(4096)
#define RAM_BYTES              (512 * MB)
#define VCPUS                  2
/* memvmm's e820 map (README "The machine a guest sees"): the legacy BIOS area is reserved. */
#define LEGACY_START           UINT64_C(0x9fc00)
#define HIGH_START             UINT64_C(0x100000)
#define PLUG_MB                256
#define BALLOON_MB             128
/*
 * MemTotal grows by what was onlined: the plug exactly (the guest's init
 * waits until it has grown by at least that much); a few MiB more are
 * allowed, not more.
 */
#define PLUG_SLACK_KB          (8 * KB)
/* Ballooned pages leave MemTotal one by one (deflate-on-oom off): exact, give a page or two. */
#define BALLOON_SLACK_KB       UINT64_C(16)
/* Within meson's 900 s: fetching the packages and building the image, then one boot. */
#define TOOL_TIMEOUT_S         240
#define TIMEOUT_DEFAULT_S      600
#define POLL_MS                200
#define STATUS_WAIT_S          30
#define LINE_BYTES             E2E_LINUX_LINE_BYTES
#define OUTPUT_TAIL_BYTES      6000
#define MAX_E820               32
#define MARKER                 "memvmm-linux: "

/* ---- small helpers -------------------------------------------------------------------- */

static int timeout_s(void)
{
	const char *s = getenv("MEMVMM_LINUX_TIMEOUT_S");
	int t = s ? atoi(s) : 0;

	return t > 0 ? t : TIMEOUT_DEFAULT_S;
}

/* The last n bytes of s (for assertion messages: a boot log is long). */
static const char *tail(const char *s, size_t n)
{
	size_t len = strlen(s);

	return len > n ? s + len - n : s;
}

/* The last non-empty line of s, in buf. */
const char *e2e_linux_last_line(const char *s, char *buf, size_t len)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	for (start = end; start > s && start[-1] != '\n'; start--)
		;
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return buf;
}

/* The host has VMX or SVM (then KVM runs guest ring 0 natively). */
static bool host_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	TEST_ASSERT(f, "/proc/cpuinfo");
	while (!found && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx ") || strstr(line, " svm ") ||
			strstr(line, " vmx\n") || strstr(line, " svm\n");
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * Run argv (a script), stdout and stderr together into *out (caller frees),
 * for at most TOOL_TIMEOUT_S; its exit status (128 + signal if killed).
 */
int e2e_linux_run_tool(const char *const *argv, char **out)
{
	double deadline = e2e_now_s() + TOOL_TIMEOUT_S;
	size_t len = 0, cap = 8192;
	int fd[2], status;
	char *buf = malloc(cap);
	pid_t pid;

	TEST_ASSERT(buf, "out of memory");
	TEST_ASSERT(pipe2(fd, O_CLOEXEC) == 0, "pipe2");
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(fd[1], 1) < 0 || dup2(fd[1], 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		struct pollfd p = { .fd = fd[0], .events = POLLIN };
		ssize_t n;

		if (e2e_now_s() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			TEST_ASSERT(buf, "out of memory");
		}
		n = read(fd[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd[0]);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* KEY=VALUE from a script's output, into buf; false if absent. */
bool e2e_linux_output_value(const char *out, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key);

	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, k) && p[k] == '=') {
			snprintf(buf, len, "%.*s", (int)strcspn(p + k + 1, "\n"), p + k + 1);
			return true;
		}
	}
	return false;
}

uint64_t e2e_linux_file_size(const char *path)
{
	struct stat st;

	TEST_ASSERT(stat(path, &st) == 0, "stat %s", path);
	return (uint64_t)st.st_size;
}

/* ---- the image ------------------------------------------------------------------------ */

struct image {
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
};

/* The prebuilt image ($MEMVMM_LINUX_KERNEL, _INITRD), else build it; skips naming what is missing. */
static void image_get(struct image *im)
{
	const char *k = getenv("MEMVMM_LINUX_KERNEL"), *i = getenv("MEMVMM_LINUX_INITRD");
	const char *mk = getenv("MEMVMM_LINUX_MKIMAGE"), *dir = getenv("MEMVMM_LINUX_WORKDIR");
	char *out, line[512];
	double t0 = e2e_now_s();
	int rc;

	if ((k && *k) || (i && *i)) {
		TEST_ASSERT(k && *k && i && *i, "set both MEMVMM_LINUX_KERNEL and MEMVMM_LINUX_INITRD "
			    "(kernel '%s', initrd '%s')", k ? k : "", i ? i : "");
		TEST_ASSERT(access(k, R_OK) == 0 && access(i, R_OK) == 0,
			    "MEMVMM_LINUX_KERNEL=%s / MEMVMM_LINUX_INITRD=%s not readable", k, i);
		snprintf(im->kernel, sizeof(im->kernel), "%s", k);
		snprintf(im->initrd, sizeof(im->initrd), "%s", i);
		printf("image: %s + %s (from the environment)\n", k, i);
		return;
	}
	TEST_ASSERT(mk && dir, "MEMVMM_LINUX_MKIMAGE and MEMVMM_LINUX_WORKDIR are not set (run through "
		    "meson test, or set MEMVMM_LINUX_KERNEL and MEMVMM_LINUX_INITRD)");
	{
		const char *argv[] = { mk, dir, NULL };

		rc = e2e_linux_run_tool(argv, &out);
	}
	TEST_REQUIRE(rc != 77, e2e_linux_last_line(out, line, sizeof(line)));
	TEST_ASSERT(rc == 0, "%s %s exited %d:\n%s", mk, dir, rc, tail(out, OUTPUT_TAIL_BYTES));
	TEST_ASSERT(e2e_linux_output_value(out, "vmlinuz", im->kernel, sizeof(im->kernel)) &&
		    e2e_linux_output_value(out, "initrd", im->initrd, sizeof(im->initrd)),
		    "%s printed no vmlinuz= and initrd=:\n%s", mk, out);
	printf("image: %s + %s (built in %.1f s)\n", im->kernel, im->initrd, e2e_now_s() - t0);
	free(out);
}

/* ---- the console ---------------------------------------------------------------------- */

/*
 * The next line of *p (advanced), without "\r" and printk's "[    1.234567] "
 * time stamp, in buf; NULL at the end.
 */
static const char *console_next(const char **p, char *buf, size_t len)
{
	const char *s = *p, *e;
	size_t n;

	if (!*s)
		return NULL;
	e = strchr(s, '\n');
	n = e ? (size_t)(e - s) : strlen(s);
	*p = e ? e + 1 : s + n;
	while (n && s[n - 1] == '\r')
		n--;
	if (n && s[0] == '[') {
		size_t k = strspn(s + 1, " 0123456789.");

		if (k + 3 <= n && s[k + 1] == ']' && s[k + 2] == ' ') {
			s += k + 3;
			n -= k + 3;
		}
	}
	snprintf(buf, len, "%.*s", (int)n, s);
	return buf;
}

/* The first console line starting with prefix (or containing it: anywhere), in buf. */
static const char *console_line(const char *out, const char *prefix, bool anywhere, char *buf,
				size_t len)
{
	const char *p = out, *l;

	while ((l = console_next(&p, buf, len))) {
		const char *at = anywhere ? strstr(l, prefix) : (!strncmp(l, prefix, strlen(prefix)) ?
								 l : NULL);

		if (at) {
			memmove(buf, at, strlen(at) + 1);
			return buf;
		}
	}
	return NULL;
}

/* The guest's "memvmm-linux: KEY..." line, or NULL. */
static const char *marker(const char *out, const char *key, char *buf, size_t len)
{
	char m[128];

	snprintf(m, sizeof(m), MARKER "%s", key);
	return console_line(out, m, true, buf, len);
}

struct e820 {
	uint64_t start, end;   /* inclusive, as Linux prints */
	char type[32];
};

/* The BIOS-e820 lines Linux printed (each once); their number. */
static unsigned int e820_read(const char *out, struct e820 *map)
{
	const char *p = out;
	char line[LINE_BYTES];
	unsigned int n = 0;

	while (console_next(&p, line, sizeof(line))) {
		struct e820 e = { 0 };
		unsigned long long s, t;
		bool dup = false;

		if (sscanf(line, "BIOS-e820: [mem %llx-%llx] %31[^\n]", &s, &t, e.type) != 3)
			continue;
		e.start = s;
		e.end = t;
		for (unsigned int i = 0; i < n; i++)
			dup |= map[i].start == e.start && map[i].end == e.end;
		TEST_ASSERT(n < MAX_E820, "more than %d BIOS-e820 lines", MAX_E820);
		if (!dup)
			map[n++] = e;
	}
	return n;
}

/* What the early boot printed, against what memvmm set up. */
static void check_early_boot(const char *out, const char *cmdline, uint64_t initrd_bytes)
{
	static const struct e820 want[] = {
		{ 0, LEGACY_START - 1, "usable" },
		{ LEGACY_START, HIGH_START - 1, "reserved" },
		{ HIGH_START, RAM_BYTES - 1, "usable" },
	};
	struct e820 map[MAX_E820];
	char line[LINE_BYTES], want_line[LINE_BYTES];
	unsigned long long a, b, avail, total;
	uint64_t usable_pages = 0;
	unsigned int n;

	snprintf(want_line, sizeof(want_line), "Command line: %s", cmdline);
	TEST_ASSERT(console_line(out, want_line, false, line, sizeof(line)) && !strcmp(line, want_line),
		    "no console line '%s':\n%s", want_line, tail(out, OUTPUT_TAIL_BYTES));

	/* arch/x86/kernel/setup.c reserve_initrd(): [start, PAGE_ALIGN(start + size) - 1]. */
	TEST_ASSERT(console_line(out, "RAMDISK: [mem ", false, line, sizeof(line)) &&
		    sscanf(line, "RAMDISK: [mem %llx-%llx]", &a, &b) == 2,
		    "no RAMDISK line:\n%s", tail(out, OUTPUT_TAIL_BYTES));
	TEST_ASSERT(a % PAGE_BYTES == 0 && b > a &&
		    b + 1 - a == (initrd_bytes + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES &&
		    b < RAM_BYTES, "'%s' for a %" PRIu64 "-byte initrd in %" PRIu64 " MiB", line,
		    initrd_bytes, RAM_BYTES / MB);
	printf("ok - %s (initrd %" PRIu64 " bytes)\n", line, initrd_bytes);

	n = e820_read(out, map);
	for (unsigned int i = 0; i < n; i++)
		printf("     BIOS-e820: [mem 0x%016" PRIx64 "-0x%016" PRIx64 "] %s\n", map[i].start,
		       map[i].end, map[i].type);
	TEST_ASSERT(n == sizeof(want) / sizeof(want[0]), "%u BIOS-e820 lines, want %zu", n,
		    sizeof(want) / sizeof(want[0]));
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT(map[i].start == want[i].start && map[i].end == want[i].end &&
			    !strcmp(map[i].type, want[i].type),
			    "e820 entry %u: [%#" PRIx64 "-%#" PRIx64 "] %s, want [%#" PRIx64 "-%#"
			    PRIx64 "] %s", i, map[i].start, map[i].end, map[i].type,
			    want[i].start, want[i].end, want[i].type);
	printf("ok - the e820 map is memvmm's\n");

	TEST_ASSERT(console_line(out, "ACPI: Using ACPI (MADT) for SMP configuration information",
				 false, line, sizeof(line)),
		    "no 'ACPI: Using ACPI (MADT) for SMP configuration information':\n%s",
		    tail(out, OUTPUT_TAIL_BYTES));
	snprintf(want_line, sizeof(want_line), "smpboot: Allowing %d CPUs", VCPUS);
	TEST_ASSERT(console_line(out, want_line, false, line, sizeof(line)), "no '%s':\n%s",
		    want_line, tail(out, OUTPUT_TAIL_BYTES));
	printf("ok - %s, from the MADT\n", line);

	/*
	 * mm/page_alloc.c mem_init_print_info(): "Memory: %luK/%luK available",
	 * the second number the present pages, i.e. memblock's memory: the
	 * e820 RAM ranges in whole pages (PFN_UP(start)..PFN_DOWN(end + 1)),
	 * less page 0, which trim_bios_range() (arch/x86/kernel/setup.c) turns
	 * from usable to reserved before memblock is set up. With memvmm's map
	 * for 512M: 158 + 130816 pages = 523896K (512M less 98 pages).
	 */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t first = (map[i].start + PAGE_BYTES - 1) / PAGE_BYTES;
		uint64_t last = (map[i].end + 1) / PAGE_BYTES;

		if (strcmp(map[i].type, "usable") || last <= first)
			continue;
		usable_pages += last - first - (first == 0);
	}
	TEST_ASSERT(console_line(out, "Memory: ", false, line, sizeof(line)) &&
		    sscanf(line, "Memory: %lluK/%lluK available", &avail, &total) == 2,
		    "no 'Memory: xK/yK available' line:\n%s", tail(out, OUTPUT_TAIL_BYTES));
	TEST_ASSERT(total == usable_pages * PAGE_BYTES / KB && avail <= total,
		    "'%s': want %" PRIu64 "K in all (the usable e820 pages less page 0)", line,
		    usable_pages * PAGE_BYTES / KB);
	printf("ok - Memory: %lluK/%lluK (the e820 map's usable pages less page 0)\n", avail, total);
}

/* The guest's init ran to the end: its banner, no FAIL, done, and the kernel powered off. */
static void check_init_done(const char *out, const char *err)
{
	char line[LINE_BYTES], want[64];

	TEST_ASSERT(!marker(out, "FAIL", line, sizeof(line)), "the guest's init: '%s'\n%s", line,
		    tail(out, OUTPUT_TAIL_BYTES));
	snprintf(want, sizeof(want), " cpus=%d ", VCPUS);
	TEST_ASSERT(marker(out, "init ", line, sizeof(line)) && strstr(line, want),
		    "no init banner with%s:\n%s", want, tail(out, OUTPUT_TAIL_BYTES));
	printf("ok - %s\n", line);
	TEST_ASSERT(marker(out, "memtotal-before=", line, sizeof(line)), "no memtotal-before line");
	TEST_ASSERT(marker(out, "done", line, sizeof(line)), "the guest's init did not finish:\n%s"
		    "\n--- stderr:\n%s", tail(out, OUTPUT_TAIL_BYTES), err);
	TEST_ASSERT(console_line(out, "reboot: Power down", false, line, sizeof(line)) &&
		    !console_line(out, "Kernel panic", true, line, sizeof(line)),
		    "the guest did not power off cleanly:\n%s", tail(out, OUTPUT_TAIL_BYTES));
}

/* ---- early-boot ----------------------------------------------------------------------- */

static void case_early_boot(const void *unused)
{
	char cmdline[256], vcpus[16];
	struct e2e_opts o = { .timeout_s = timeout_s() };
	struct e2e_result r;
	struct image im;
	bool hw = host_hw_virt();
	const char *args[] = { "run", "--kernel", im.kernel, "--initrd", im.initrd, "--vcpus",
			       vcpus, "--memory", "size=512M", "--cmdline", cmdline, NULL };

	(void)unused;
	e2e_require_kvm();
	image_get(&im);
	snprintf(vcpus, sizeof(vcpus), "%d", VCPUS);
	/* A word no other boot has, so that the line read back is this one. */
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 "
		 "memvmm.e2e=early-boot-%d", (int)getpid());
	e2e_run(args, &o, &r);
	printf("memvmm ran %.1f s, exit %d%s (host %s VMX/SVM)\n", r.seconds, r.status,
	       r.signaled ? " (killed)" : "", hw ? "with" : "without");
	/* What early boot printed first: it says how far a run that then hung got. */
	check_early_boot(r.out, cmdline, e2e_linux_file_size(im.initrd));
	TEST_ASSERT(!r.signaled, "memvmm did not stop within %d s (killed): a hang?\n%s\n"
		    "--- stderr:\n%s", o.timeout_s, tail(r.out, OUTPUT_TAIL_BYTES), r.err);
	if (hw) {
		E2E_EXPECT_STATUS(&r, 0);
		check_init_done(r.out, r.err);
		printf("ok - the image's init ran to done and powered off\n");
	} else {
		/* vmm/vcpu.c: "KVM internal error, suberror N (instruction emulation failed)". */
		TEST_ASSERT(r.status == 1 && strstr(r.err, "KVM internal error"),
			    "exit %d, want 1 with a KVM internal error (ring 0 is emulated here)\n"
			    "--- stderr:\n%s\n--- console:\n%s", r.status, r.err,
			    tail(r.out, OUTPUT_TAIL_BYTES));
		printf("ok - KVM's emulator stopped it: %.*s\n",
		       (int)strcspn(strstr(r.err, "KVM internal error"), "\n"),
		       strstr(r.err, "KVM internal error"));
	}
	e2e_free(&r);
}

/* ---- reboot --------------------------------------------------------------------------- */

/*
 * A kernel that panics with panic=-1 restarts the machine: with no init to
 * run (rdinit names nothing, no root=) Linux panics and, on this
 * hardware-reduced ACPI machine, goes the EFI → BIOS way (the reset vector's
 * stub) before the keyboard controller. memvmm must end with exit 0 and say
 * the guest reset it, not hang.
 */
static void case_reboot(const void *unused)
{
	struct e2e_opts o = { .timeout_s = timeout_s() };
	struct e2e_result r;
	struct image im;
	const char *args[] = { "run", "--kernel", im.kernel, "--initrd", im.initrd, "--memory",
			       "size=256M", "--cmdline",
			       "console=ttyS0 panic=-1 rdinit=/memvmm-no-such-init", NULL };
	char line[LINE_BYTES];

	(void)unused;
	e2e_require_kvm();
	TEST_REQUIRE(host_hw_virt(), "ring 0 is emulated on this host (no VMX/SVM): Linux stops "
		     "in early boot, long before it could panic and restart");
	image_get(&im);
	e2e_run(args, &o, &r);
	printf("memvmm ran %.1f s, exit %d%s\n", r.seconds, r.status, r.signaled ? " (killed)" : "");
	TEST_ASSERT(!r.signaled, "memvmm did not stop within %d s: the restart hung\n%s",
		    o.timeout_s, tail(r.out, OUTPUT_TAIL_BYTES));
	TEST_ASSERT(console_line(r.out, "Kernel panic", true, line, sizeof(line)),
		    "no panic:\n%s", tail(r.out, OUTPUT_TAIL_BYTES));
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.err, "guest reset the machine"), "stderr: %s", r.err);
	e2e_free(&r);
	TEST_PASS("a panicking kernel restarts the machine: exit 0");
}

/* ---- full ------------------------------------------------------------------------------ */

/* memvmm has exited (a zombie not reaped yet: e2e_gated_wait() still gets its status). */
static bool exited(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool z;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	z = p && (p[2] == 'Z' || p[2] == 'X');
	fclose(f);
	return z;
}

/* Wait until the guest printed "memvmm-linux: KEY" (its line in buf); fails on FAIL or exit. */
static const char *wait_marker(struct e2e_gated *g, const char *key, double deadline, char *buf,
			       size_t len)
{
	for (;;) {
		bool gone = exited(g->pid);
		char *out = e2e_slurp(g->out), fail[LINE_BYTES];
		const char *l = marker(out, key, buf, len);
		bool failed = marker(out, "FAIL", fail, sizeof(fail)) != NULL;

		TEST_ASSERT(!failed, "the guest's init: %s\n%s\n--- stderr:\n%s", fail,
			    tail(out, OUTPUT_TAIL_BYTES), e2e_slurp(g->err));
		TEST_ASSERT(l || !gone, "memvmm exited before '" MARKER "%s':\n%s\n--- stderr:\n%s",
			    key, tail(out, OUTPUT_TAIL_BYTES), e2e_slurp(g->err));
		TEST_ASSERT(l || e2e_now_s() < deadline, "no '" MARKER "%s' in time:\n%s", key,
			    tail(out, OUTPUT_TAIL_BYTES));
		free(out);
		if (l)
			return l;
		e2e_sleep_ms(POLL_MS);
	}
}

/*
 * status, asked again until its OBJ.KEY is want, for at most STATUS_WAIT_S:
 * Linux's balloon driver takes pages off MemTotal before it tells the device,
 * and writes actual after. The reply (caller puts); *o is its OBJ.
 */
static struct json_object *status_when(const struct e2e_gated *g, const char *obj,
				       const char *key, uint64_t want, struct json_object **o)
{
	double deadline = e2e_now_s() + STATUS_WAIT_S;

	for (;;) {
		struct json_object *st = e2e_gated_ctl(g, 0, "status", NULL, NULL);

		*o = e2e_jobj(st, obj);
		if (e2e_ju64(*o, key) == want || e2e_now_s() > deadline)
			return st;
		json_object_put(st);
		e2e_sleep_ms(POLL_MS);
	}
}

static void case_full(const void *unused)
{
	char cmdline[256], vmem[64], bal[96], vcpus[16], line[LINE_BYTES];
	struct json_object *st, *o;
	uint64_t before, after, inflated, deflated, actual, in, hot;
	struct image im;
	struct e2e_gated g;
	double deadline, t0;
	const char *args[] = { "--kernel", im.kernel, "--initrd", im.initrd, "--vcpus", vcpus,
			       "--memory", "size=512M", "--virtio-mem", vmem, "--balloon", bal,
			       "--cmdline", cmdline, NULL };
	char *out, *err;
	ssize_t w;
	int status;

	(void)unused;
	e2e_require_kvm();
	TEST_REQUIRE(host_hw_virt(), "this host has no VMX/SVM: KVM emulates guest ring 0 and Linux "
		     "cannot boot past early boot here (the early-boot case covers that)");
	image_get(&im);
	snprintf(vcpus, sizeof(vcpus), "%d", VCPUS);
	snprintf(vmem, sizeof(vmem), "size=1G,requested=%dM", PLUG_MB);
	/* deflate-on-oom off: Linux then takes ballooned pages off MemTotal (guest/linux/init). */
	snprintf(bal, sizeof(bal), "size=%dM,deflate-on-oom=off", BALLOON_MB);
	/*
	 * memvmm.gate=1: the guest waits for a line on its console before it
	 * powers off. Each of its waits is shorter than the whole run, so that
	 * its FAIL line says what it waited for.
	 */
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 panic=-1 memvmm.plug=%d memvmm.balloon=%d "
		 "memvmm.gate=1 memvmm.timeout=%d", PLUG_MB, BALLOON_MB, timeout_s() / 3 + 1);
	t0 = e2e_now_s();
	deadline = t0 + timeout_s();
	e2e_gated_start(&g, args, NULL);

	wait_marker(&g, "memtotal-before=", deadline, line, sizeof(line));
	before = e2e_key(line, "memtotal-before");
	wait_marker(&g, "memtotal-after-plug=", deadline, line, sizeof(line));
	after = e2e_key(line, "memtotal-after-plug");
	printf("%.1f s: %s\n", e2e_now_s() - t0, line);
	TEST_ASSERT(after >= before + PLUG_MB * KB && after <= before + PLUG_MB * KB + PLUG_SLACK_KB,
		    "MemTotal %" PRIu64 " kB -> %" PRIu64 " kB after plugging %d MiB", before, after,
		    PLUG_MB);
	st = status_when(&g, "virtio_mem", "plugged", (uint64_t)PLUG_MB * MB, &o);
	TEST_ASSERT(e2e_ju64(o, "plugged") == (uint64_t)PLUG_MB * MB && e2e_ju64(o, "nacks") == 0 &&
		    !e2e_jbool(o, "needs_reset"), "status virtio_mem: %s",
		    json_object_to_json_string(o));
	json_object_put(st);

	wait_marker(&g, "balloon-inflated ", deadline, line, sizeof(line));
	inflated = e2e_key(line, "memtotal");
	printf("%.1f s: %s\n", e2e_now_s() - t0, line);
	TEST_ASSERT(inflated + BALLOON_MB * KB <= after &&
		    inflated + BALLOON_MB * KB + BALLOON_SLACK_KB >= after,
		    "MemTotal %" PRIu64 " kB -> %" PRIu64 " kB with %d MiB ballooned", after,
		    inflated, BALLOON_MB);
	st = status_when(&g, "balloon", "actual", (uint64_t)BALLOON_MB * MB, &o);
	actual = e2e_ju64(o, "actual");
	in = e2e_ju64(o, "inflated");
	/* Pages Linux took from hotplugged memory are ignored and counted (README). */
	hot = e2e_ju64(o, "hotplug_pfns") * PAGE_BYTES;
	TEST_ASSERT(actual == (uint64_t)BALLOON_MB * MB && in <= actual && in + hot >= actual &&
		    e2e_ju64(o, "bad_pfns") == 0 && !e2e_jbool(o, "needs_reset"),
		    "status balloon: %s", json_object_to_json_string(o));
	printf("ok - balloon actual %" PRIu64 "M: %" PRIu64 "M of boot RAM given back, %" PRIu64
	       "M in hotplugged memory\n", actual / MB, in / MB, hot / MB);
	json_object_put(st);

	json_object_put(e2e_gated_ctl(&g, 0, "balloon", "size=0", NULL));
	wait_marker(&g, "balloon-deflated ", deadline, line, sizeof(line));
	deflated = e2e_key(line, "memtotal");
	printf("%.1f s: %s\n", e2e_now_s() - t0, line);
	TEST_ASSERT(deflated >= after && deflated <= after + BALLOON_SLACK_KB,
		    "MemTotal %" PRIu64 " kB after deflating, %" PRIu64 " kB before inflating",
		    deflated, after);
	wait_marker(&g, "gate", deadline, line, sizeof(line));
	st = status_when(&g, "balloon", "actual", 0, &o);
	TEST_ASSERT(e2e_ju64(o, "actual") == 0 && e2e_ju64(o, "inflated") == 0,
		    "status balloon after size=0: %s", json_object_to_json_string(o));
	json_object_put(st);

	/* A line on the console: the guest goes on to done and powers off. */
	do {
		w = write(g.in_fd, "\n", 1);
	} while (w < 0 && errno == EINTR);
	TEST_ASSERT(w == 1, "writing to the guest's console");
	status = e2e_gated_wait(&g, (int)(deadline - e2e_now_s()) + 1);
	out = e2e_slurp(g.out);
	err = e2e_slurp(g.err);
	printf("%.1f s: memvmm exited %d\n", e2e_now_s() - t0, status);
	TEST_ASSERT(status == 0, "exit %d, want 0 (ACPI power off)\n%s\n--- stderr:\n%s", status,
		    tail(out, OUTPUT_TAIL_BYTES), err);
	check_init_done(out, err);
	free(out);
	free(err);
	e2e_gated_end(&g);
	printf("ok - plugged %d MiB (MemTotal +%" PRIu64 " kB), ballooned %d MiB and back, powered off\n",
	       PLUG_MB, after - before, BALLOON_MB);
}

/* ---- snapshot --------------------------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * Linux with 256M plugged through virtio-mem, snapshotted (stop=on) while
 * its init waits at the gate, restored eagerly and lazily: each restore
 * goes on from the gate to done and powers off (exit 0), with no second
 * boot.
 */
static void case_snapshot(const void *unused)
{
	char cmdline[160], vmem[64], dir[] = "/tmp/memvmm-e2e-linux-snap-XXXXXX", snap[PATH_MAX];
	char path[PATH_MAX + 16], line[LINE_BYTES];
	static const char *const modes[] = { "eager", "lazy-copy" };
	struct image im;
	struct e2e_gated g;
	const char *args[] = { "--kernel", im.kernel, "--initrd", im.initrd, "--vcpus", "2",
			       "--memory", "size=512M,backend=anon", "--virtio-mem", vmem,
			       "--cmdline", cmdline, NULL };
	int status;

	(void)unused;
	e2e_require_kvm();
	TEST_REQUIRE(host_hw_virt(), "this host has no VMX/SVM: Linux cannot boot past early boot "
		     "here, so there is no running Linux to snapshot");
	image_get(&im);
	TEST_ASSERT(mkdtemp(dir), "mkdtemp");
	snprintf(snap, sizeof(snap), "%s/s", dir);
	snprintf(vmem, sizeof(vmem), "size=1G,requested=%dM", PLUG_MB);
	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 panic=-1 memvmm.plug=%d memvmm.gate=1 "
		 "memvmm.timeout=%d", PLUG_MB, timeout_s() / 3 + 1);
	e2e_gated_start(&g, args, NULL);
	wait_marker(&g, "gate", e2e_now_s() + timeout_s(), line, sizeof(line));
	snprintf(path, sizeof(path), "dir=%s", snap);
	json_object_put(e2e_gated_ctl(&g, 0, "snapshot", path, "stop=on"));
	status = e2e_gated_wait(&g, timeout_s());
	TEST_ASSERT(status == 0, "the snapshotted VM: exit %d, want 0 (stop=on)", status);
	e2e_gated_end(&g);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *rargs[] = { "run", "--restore", path, NULL };
		struct e2e_opts o = { .timeout_s = timeout_s(), .stdin_data = "go\n" };
		struct e2e_result r;

		snprintf(path, sizeof(path), "path=%s,mode=%s", snap, modes[i]);
		e2e_run(rargs, &o, &r);
		E2E_EXPECT_STATUS(&r, 0);
		TEST_ASSERT(marker(r.out, "done", line, sizeof(line)) &&
			    !marker(r.out, "init ", line, sizeof(line)) &&
			    strstr(r.err, "guest powered off"),
			    "restore %s: no done, or a second boot:\n%s\n--- stderr:\n%s", modes[i],
			    tail(r.out, OUTPUT_TAIL_BYTES), r.err);
		printf("ok - restored %s: from the gate to done and power off in %.1f s\n", modes[i],
		       r.seconds);
		e2e_free(&r);
	}
	TEST_ASSERT(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0, "removing %s", dir);
	TEST_PASS("Linux with plugged virtio-mem memory: snapshot at the gate, eager and lazy-copy "
		  "restores go on");
}

static const struct e2e_case cases[] = {
	{ "early-boot", case_early_boot, NULL },
	{ "full", case_full, NULL },
	{ "reboot", case_reboot, NULL },
	{ "snapshot", case_snapshot, NULL },
	{ "bad-images", e2e_linux_bad_images, NULL },
};

int main(int argc, char **argv)
{
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
