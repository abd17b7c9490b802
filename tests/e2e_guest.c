// SPDX-License-Identifier: MIT
/*
 * End to end: how a VM ends (exit device, i8042 reset, guest exceptions,
 * triple fault, emulation failure, signals), the console in both directions,
 * several vCPUs (as far as the host can tell: the guest cannot see them
 * yet), the memory map, and a PVH guest not written with memvmm's guest code.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/elf_build.h"
#include "tests/test.h"

static void run_guest(const char *cmdline, const struct e2e_opts *o, struct e2e_result *r)
{
	const char *args[] = { "run", "--cmdline", cmdline, NULL };

	e2e_run(args, o, r);
}

/* Run the test guest with cmdline; expect `status` and, if step, a line for it. */
static void expect_guest(const char *cmdline, int status, const char *step)
{
	struct e2e_result r;

	run_guest(cmdline, NULL, &r);
	E2E_EXPECT_STATUS(&r, status);
	TEST_ASSERT(!step || e2e_guest_line(&r, step), "'%s': no %s line: %s", cmdline, step,
		    r.out);
	e2e_free(&r);
}

static void test_exit_status(void)
{
	expect_guest("exit=7", 7, "exit");
	expect_guest("touch=1M exit=0", 0, "exit");
	/* The exit device caps the status so that it never wraps to success. */
	expect_guest("exit=300", 255, "exit");
	TEST_PASS("exit device: the guest's status is memvmm's");
}

static void test_guest_errors(void)
{
	expect_guest("touch=100G", 1, "error");
	expect_guest("verify", 1, "error");
	expect_guest("bogus-step", 1, "error");
	expect_guest("touch=12Q", 1, "error");
	/* A step list stops at its first failure: exit=5 is never reached. */
	expect_guest("touch=100G exit=5", 1, "error");
	TEST_PASS("guest workload errors exit 1, never crash");
}

static void test_exceptions(void)
{
	static const struct {
		const char *step;
		unsigned int vector;
	} faults[] = { { "fault=de", 0 }, { "fault=ud", 6 }, { "fault=gp", 13 }, { "fault=pf", 14 } };
	struct e2e_result r;
	unsigned int i;
	uint64_t v;

	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		run_guest(faults[i].step, NULL, &r);
		E2E_EXPECT_STATUS(&r, 64 + (int)faults[i].vector);
		TEST_ASSERT(e2e_key_u64(e2e_guest_line(&r, "exception"), "vector", &v) &&
			    v == faults[i].vector, "%s: %s", faults[i].step, r.out);
		e2e_free(&r);
	}
	TEST_PASS("guest exceptions reach the guest's IDT (#DE #UD #GP #PF)");
}

static void test_triple_fault_and_reset(void)
{
	struct e2e_result r;

	run_guest("triple", NULL, &r);
	E2E_EXPECT_STATUS(&r, 1);
	TEST_ASSERT(strstr(r.err, "triple fault") && strstr(r.err, "rip=0x"),
		    "message and registers: %s", r.err);
	e2e_free(&r);
	TEST_PASS("triple fault: exit 1 with a message");

	run_guest("reset", NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.err, "reset"), "reset reported: %s", r.err);
	e2e_free(&r);
	TEST_PASS("i8042 reset: exit 0");
}

/* Boot a tiny 32-bit guest made of `code` loaded and entered at 1 MiB. */
static void run_tiny_guest(const uint8_t *code, size_t code_len, const char *extra_arg,
			   const struct e2e_opts *opts, struct e2e_result *r)
{
	struct elf_build_opts o = {
		.paddr = 0x100000, .code = code, .code_len = code_len, .note = 8,
		.entry = 0x100000,
	};
	size_t len;
	void *elf = elf_build(&o, &len);
	char *path = elf_write_temp(elf, len, "tiny");
	const char *args[] = { "run", "--kernel", path, extra_arg, NULL };

	e2e_run(args, opts, r);
	unlink(path);
	free(path);
	free(elf);
}

/* A guest whose first instruction is int3: not emulated here, #BP→triple fault elsewhere. */
static void test_emulation_failure(void)
{
	static const uint8_t code[] = { 0xcc, 0xf4 };
	struct e2e_result r;

	run_tiny_guest(code, sizeof(code), NULL, NULL, &r);
	E2E_EXPECT_STATUS(&r, 1);
	/*
	 * The emulator stops at the int3 with rip there. A triple fault under
	 * AMD SVM comes back after KVM reset the vCPU (the VMCB is undefined
	 * after a shutdown intercept), so the registers are the reset state.
	 */
	TEST_ASSERT((strstr(r.err, "internal error") &&
		     strstr(r.err, "rip=0x0000000000100000")) ||
		    (strstr(r.err, "triple fault") &&
		     (strstr(r.err, "rip=0x0000000000100000") ||
		      strstr(r.err, "rip=0x000000000000fff0"))),
		    "registers of the failure: %s", r.err);
	e2e_free(&r);
	TEST_PASS("internal error / fault at entry: exit 1 with registers");
}

/*
 * A 32-bit guest that reads an unclaimed port (0x80) and unclaimed MMIO
 * (0xd0000000, in the hole below 4 GiB): both must read all ones. Exit 42 if
 * so, 1 otherwise. --debug logs both accesses.
 */
static void test_unclaimed_access(void)
{
	static const uint8_t code[] = {
		0xe4, 0x80,                     /* in al, 0x80 */
		0x3c, 0xff,                     /* cmp al, 0xff */
		0x75, 0x11,                     /* jne fail */
		0xa1, 0x00, 0x00, 0x00, 0xd0,   /* mov eax, [0xd0000000] */
		0x83, 0xf8, 0xff,               /* cmp eax, -1 */
		0x75, 0x07,                     /* jne fail */
		0xb8, 0x2a, 0x00, 0x00, 0x00,   /* mov eax, 42 */
		0xeb, 0x05,                     /* jmp out */
		0xb8, 0x01, 0x00, 0x00, 0x00,   /* fail: mov eax, 1 */
		0x66, 0xba, 0x01, 0x05,         /* out: mov dx, 0x501 */
		0xef,                           /* out dx, eax */
		0xf4,                           /* hlt */
	};
	struct e2e_result r;

	run_tiny_guest(code, sizeof(code), "--debug", NULL, &r);
	E2E_EXPECT_STATUS(&r, 42);
	TEST_ASSERT(strstr(r.err, "pio: unclaimed read addr=0x80 size=1") &&
		    strstr(r.err, "mmio: unclaimed read addr=0xd0000000 size=4"),
		    "--debug logs unclaimed accesses: %s", r.err);
	e2e_free(&r);
	TEST_PASS("unclaimed port and MMIO reads return all ones, --debug logs them");
}

static void test_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct e2e_opts o = { .signal_when = "memvmm-guest: start" };
	struct e2e_result r;
	char want[64];
	unsigned int i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		o.sig = sigs[i];
		run_guest("hang", &o, &r);
		E2E_EXPECT_STATUS(&r, 128 + sigs[i]);
		snprintf(want, sizeof(want), "stopped by signal, exit status %d", 128 + sigs[i]);
		TEST_ASSERT(strstr(r.err, "stopping on") && strstr(r.err, want),
			    "orderly stop: %s", r.err);
		e2e_free(&r);
	}
	/* A second signal during the stop must not kill memvmm halfway. */
	o.sig = SIGINT;
	o.sig2 = SIGTERM;
	run_guest("hang", &o, &r);
	E2E_EXPECT_STATUS(&r, 128 + SIGINT);
	TEST_ASSERT(strstr(r.err, "stopped by signal"), "orderly stop: %s", r.err);
	e2e_free(&r);
	TEST_PASS("SIGTERM/SIGINT/SIGHUP (and a second signal) stop a halted guest in order");
}

/*
 * A guest that writes `count` bytes 'A' to COM1, waiting for LSR.THRE before
 * each as a driver should, then exits 0.
 */
static void run_writer_guest(uint32_t count, const struct e2e_opts *o, struct e2e_result *r)
{
	uint8_t code[] = {
		0xb9, 0, 0, 0, 0,               /* mov ecx, count */
		0x66, 0xba, 0xfd, 0x03,         /* mov dx, 0x3fd (LSR) */
		0xec,                           /* wait: in al, dx */
		0xa8, 0x20,                     /* test al, THRE */
		0x74, 0xfb,                     /* jz wait */
		0xb2, 0xf8,                     /* mov dl, 0xf8 (THR) */
		0xb0, 0x41,                     /* mov al, 'A' */
		0xee,                           /* out dx, al */
		0xb2, 0xfd,                     /* mov dl, 0xfd */
		0x49,                           /* dec ecx */
		0x75, 0xf1,                     /* jnz wait */
		0x31, 0xc0,                     /* xor eax, eax */
		0x66, 0xba, 0x01, 0x05,         /* mov dx, 0x501 */
		0xef,                           /* out dx, eax */
		0xf4,                           /* hlt */
	};

	memcpy(&code[1], &count, 4);
	run_tiny_guest(code, sizeof(code), NULL, o, r);
}

static void test_slow_console_reader(void)
{
	const uint32_t bytes = 200000;  /* more than the pipe and the console queue hold */
	struct e2e_opts stalled = {
		.stall_stdout = true, .signal_after_ms = 1500, .sig = SIGTERM, .timeout_s = 60,
	};
	struct e2e_opts late = { .nonblock_stdout = true, .read_delay_ms = 700 };
	struct e2e_result r;
	size_t i, n;

	/* Nobody reads stdout: the guest waits on LSR, memvmm still stops in order. */
	run_writer_guest(UINT32_MAX, &stalled, &r);
	E2E_EXPECT_STATUS(&r, 128 + SIGTERM);
	TEST_ASSERT(strstr(r.err, "stopped by signal"), "orderly stop: %s", r.err);
	e2e_free(&r);
	TEST_PASS("stdout nobody reads: the guest waits, SIGTERM still stops memvmm");

	/* A non-blocking stdout read late: every byte arrives, in order. */
	run_writer_guest(bytes, &late, &r);
	E2E_EXPECT_STATUS(&r, 0);
	n = strlen(r.out);
	for (i = 0; i < n && r.out[i] == 'A'; i++)
		;
	TEST_ASSERT(n == bytes && i == n, "got %zu bytes (%zu 'A's), want %u", n, i, bytes);
	e2e_free(&r);
	TEST_PASS("non-blocking stdout read late: all 200000 bytes arrive");
}

static void test_console_input(void)
{
	struct e2e_opts o = { .stdin_data = "hello" };
	struct e2e_result r;
	const char *line;

	run_guest("read=5", &o, &r);
	E2E_EXPECT_STATUS(&r, 0);
	line = e2e_guest_line(&r, "read");
	TEST_ASSERT(line && strstr(line, "data=\"hello\""), "read line: %s", r.out);
	e2e_free(&r);
	TEST_PASS("console input reaches the guest's UART");
}

/* utime + stime of a process, in seconds. */
static double proc_cpu_s(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	TEST_ASSERT(f && fgets(buf, sizeof(buf), f), "read %s", path);
	fclose(f);
	p = strrchr(buf, ')');
	/* After "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
	TEST_ASSERT(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) == 2, "parse %s: %s", path, buf);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#define SMP_VCPUS       4
#define PARKED_WINDOW_S 1.0
#define PARKED_MAX_CPU_S 0.3   /* one spinning thread would use ~PARKED_WINDOW_S */

struct smp_seen {
	uint64_t vcpu_ids;  /* bit N: memvmm holds an fd for KVM vCPU N */
	double cpu_s;       /* CPU memvmm used over PARKED_WINDOW_S while the guest halts */
};

/* e2e_run's `when` hook, while the boot vCPU halts in `hang`: look from the host. */
static void look_at_vcpus(pid_t pid, void *arg)
{
	struct smp_seen *seen = arg;
	char dir[64], path[320], link[128];
	struct dirent *e;
	double t0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	TEST_ASSERT(d, "opendir %s", dir);
	while ((e = readdir(d))) {
		unsigned int id;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "anon_inode:kvm-vcpu:%u", &id) == 1 && id < 64)
			seen->vcpu_ids |= 1ull << id;
	}
	closedir(d);
	t0 = proc_cpu_s(pid);
	usleep((useconds_t)(PARKED_WINDOW_S * 1e6));
	seen->cpu_s = proc_cpu_s(pid) - t0;
}

/*
 * --vcpus 4. The guest cannot see the other vCPUs (no MP table or ACPI
 * yet), so this checks what holds today, from the host side: the boot vCPU
 * runs the workload; memvmm created 4 KVM vCPUs (it holds kvm-vcpu:0..3
 * fds); the three it did not start stay parked, using no CPU while the boot
 * vCPU halts; and memvmm stops in order with them parked.
 */
static void test_smp(void)
{
	const char *run4[] = { "run", "--vcpus", "4", "--cmdline", "touch=8M verify", NULL };
	const char *hang4[] = { "run", "--vcpus", "4", "--cmdline", "touch=8M verify hang", NULL };
	struct smp_seen seen = { 0 };
	struct e2e_opts o = {
		.signal_when = "memvmm-guest: verify", .sig = SIGTERM,
		.when = look_at_vcpus, .hook_arg = &seen,
	};
	struct e2e_result r;

	e2e_run(run4, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.err, "4 vCPUs"), "summary: %s", r.err);
	TEST_ASSERT(strstr(e2e_guest_line(&r, "verify") ?: "", "bad=0 "), "verify: %s", r.out);
	e2e_free(&r);
	TEST_PASS("--vcpus 4: the boot vCPU runs touch+verify, exit 0 with three vCPUs parked");

	e2e_run(hang4, &o, &r);
	E2E_EXPECT_STATUS(&r, 128 + SIGTERM);
	TEST_ASSERT(seen.vcpu_ids == (1u << SMP_VCPUS) - 1,
		    "memvmm holds fds for KVM vCPUs %#llx, want 0..3 (%#x)",
		    (unsigned long long)seen.vcpu_ids, (1u << SMP_VCPUS) - 1);
	TEST_ASSERT(seen.cpu_s < PARKED_MAX_CPU_S,
		    "memvmm used %.2f s of CPU in %.1f s while its guest halts: something spins",
		    seen.cpu_s, PARKED_WINDOW_S);
	e2e_free(&r);
	printf("ok - --vcpus 4 seen from the host: KVM vCPUs 0-3 exist, %.2f s CPU in %.1f s "
	       "while halted (the others parked, not spinning)\n", seen.cpu_s, PARKED_WINDOW_S);
}

/*
 * 5G: RAM below the 3G MMIO hole and 2G from 4G, all seen by the guest.
 * populate=none: a small CI machine has no 5G to spare, and the guest
 * touches none of it.
 */
static void test_memmap(void)
{
	const char *big[] = { "run", "--memory", "size=5G,backend=anon,populate=none", NULL };
	struct e2e_result r;
	uint64_t v;

	e2e_run(big, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(e2e_key_u64(e2e_guest_line(&r, "start"), "ram", &v) &&
		    v == (5ull << 30) - (0x100000 - 0x9fc00), "guest sees RAM %llu: %s",
		    (unsigned long long)v, r.out);
	TEST_ASSERT(strstr(r.out, "addr=0x100000000 size=0x80000000 type=1"),
		    "high RAM in the memory map: %s", r.out);
	e2e_free(&r);
	TEST_PASS("memory map with RAM above 4 GiB");
}

static void test_foreign_pvh_guest(void)
{
	const char *mini = getenv("PVH_MINI_ELF");
	const char *args[] = { "run", "--kernel", mini, "--cmdline", "hello pvh world",
			       "--quiet", NULL };
	struct e2e_result r;

	TEST_ASSERT(mini, "PVH_MINI_ELF not set");
	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(!strncmp(r.out, "pvh-mini: magic ok\npvh-mini: cmdline=hello pvh world\n"
			     "pvh-mini: memmap entries=3 ram=0x", 86) &&
		    strcasestr(r.out, "ram=0xff9fc00\n"), "output unchanged:\n%s", r.out);
	TEST_ASSERT(r.err[0] == '\0', "--quiet keeps stderr empty: %s", r.err);
	e2e_free(&r);
	TEST_PASS("a foreign PVH guest: COM1 output verbatim, cmdline, memmap, i8042 reset");
}

int main(void)
{
	e2e_require_kvm();
	test_exit_status();
	test_guest_errors();
	test_exceptions();
	test_triple_fault_and_reset();
	test_emulation_failure();
	test_unclaimed_access();
	test_signals();
	test_slow_console_reader();
	test_console_input();
	test_smp();
	test_memmap();
	test_foreign_pvh_guest();
	return 0;
}
