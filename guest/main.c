// SPDX-License-Identifier: MIT
/*
 * memvmm's test guest: reads the PVH start info, prints a banner and the
 * memory map on COM1, runs the workload steps of the command line and exits
 * through the exit device (0: every step passed, 1: one failed, 64 + vector:
 * an exception).
 */
#include <stdbool.h>

#include "abi.h"
#include "console.h"
#include "cpu.h"
#include "memmap.h"
#include "steps.h"
#include "mem/machine.h"

#define OUTPUT_VERSION 1
#define CMDLINE_MAX    4096

static char cmdline[CMDLINE_MAX];
static struct workload workload;

/* Called by boot.S, in long mode with [0, 4 GiB) identity-mapped. */
__attribute__((noreturn)) void guest_main(uint32_t start_info_paddr);

static __attribute__((noreturn)) void fail(const char *step, const char *reason)
{
	con_printf("memvmm-guest: error step=\"%s\" reason=\"%s\"\n", step, reason);
	guest_exit(1);
}

/* TSC frequency from memvmm's timing leaf (see mem/machine.h), or 0. */
static uint32_t tsc_khz(void)
{
	uint32_t a, b, c, d;

	/* Without hypervisor leaves, EAX holds unrelated data: range-check it. */
	cpuid(MACHINE_CPUID_HV_BASE, &a, &b, &c, &d);
	if (a < MACHINE_CPUID_TIMING || a > MACHINE_CPUID_HV_BASE + 0xffff)
		return 0;
	cpuid(MACHINE_CPUID_TIMING, &a, &b, &c, &d);
	return a;
}

/* Copies the command line out of guest RAM. Returns false if it was cut. */
static bool cmdline_copy(const struct hvm_start_info *si)
{
	const char *src = (const char *)(uintptr_t)si->cmdline_paddr;
	unsigned int n = 0;

	if (!src)
		return true;
	while (src[n] && n < CMDLINE_MAX - 1) {
		cmdline[n] = src[n];
		n++;
	}
	cmdline[n] = '\0';
	return !src[n];
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Runs each space-separated step of the command line, in order. */
static void run_steps(struct workload *w)
{
	char *p = cmdline;

	for (;;) {
		char *step;
		const char *reason;

		while (is_space(*p))
			p++;
		if (!*p)
			return;
		step = p;
		while (*p && !is_space(*p))
			p++;
		if (*p)
			*p++ = '\0';
		reason = step_run(w, step);
		if (reason)
			fail(step, reason);
	}
}

void guest_main(uint32_t start_info_paddr)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_paddr;
	const struct hvm_memmap_table_entry *mm;
	uint64_t image_end = (uint64_t)_end, mapped;
	struct workload *w = &workload;
	const char *why;
	bool cmdline_whole;

	cpu_init();
	if (si->magic != HVM_START_MAGIC_VALUE)
		fail("boot", "bad start info magic");
	if (si->version < 1)
		fail("boot", "start info version 0 has no memory map");
	mapped = paging_map_up_to(memmap_ram_top(si));
	cmdline_whole = cmdline_copy(si);
	w->tsc_khz = tsc_khz();
	why = free_ram_init(&w->ram, si, image_end, mapped);

	con_printf("memvmm-guest: start version=%u ram=%lu free=%lu image_end=0x%lx "
		   "tsc_khz=%u cmdline=\"%s\"\n", OUTPUT_VERSION, memmap_ram_bytes(si),
		   w->ram.pages * PAGE_SIZE, image_end, w->tsc_khz, cmdline);
	mm = (const void *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		con_printf("memvmm-guest: memmap addr=0x%lx size=0x%lx type=%u\n",
			   mm[i].addr, mm[i].size, mm[i].type);
	if (why)
		fail("boot", why);
	if (!cmdline_whole)
		fail("boot", "command line longer than 4095 bytes");

	run_steps(w);
	con_printf("memvmm-guest: done status=0\n");
	guest_exit(0);
}
