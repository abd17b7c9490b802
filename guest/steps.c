// SPDX-License-Identifier: MIT
/* Workload steps: each prints one "memvmm-guest: <step> ..." line. */
#include <stdbool.h>
#include <stddef.h>

#include "acpi.h"
#include "balloon_steps.h"
#include "console.h"
#include "cpu.h"
#include "steps.h"
#include "user.h"
#include "vmem_steps.h"
#include "mem/machine.h"

#define READ_MAX_BYTES    4096
#define TICKS_MAX         100000
#define TICKS_INTERVAL_MS 100
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum step_value {
	VALUE_NONE,             /* "name" */
	VALUE_REQUIRED,         /* "name=value" */
	VALUE_OPTIONAL,         /* either; run() gets "" without a value */
};

struct step {
	const char *name;
	enum step_value value;
	const char *(*run)(struct workload *w, const char *value);
};

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/*
 * Parses the leading decimal digits of S into *OUT and points *SUFFIX_END past
 * them. False if there are none or the value overflows.
 */
static bool parse_u64(const char *s, const char **suffix_end, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*suffix_end = s;
	*out = v;
	return true;
}

static bool parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
	const char *end;

	return parse_u64(s, &end, out) && !*end && *out <= max;
}

bool step_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned int shift = 0;
	uint64_t v;

	if (!parse_u64(s, &end, &v))
		return false;
	switch (*end | 0x20) {
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	}
	if (*end || v > UINT64_MAX >> shift)
		return false;
	*out = v << shift;
	return true;
}

void step_print_elapsed(const struct workload *w, uint64_t cycles)
{
	uint64_t khz = w->tsc_khz;

	if (khz)
		con_printf(" us=%lu\n", cycles / khz * 1000 + cycles % khz * 1000 / khz);
	else
		con_printf(" cycles=%lu\n", cycles);
}

static const char *step_touch(struct workload *w, const char *value)
{
	uint64_t bytes, t;
	struct page_job job = { .ram = &w->ram };

	if (!step_parse_size(value, &bytes))
		return "bad size";
	if (!bytes || bytes % PAGE_SIZE)
		return "size is not a positive multiple of 4096";
	if (bytes / PAGE_SIZE > w->ram.pages)
		return "not enough free RAM";
	job.pages = bytes / PAGE_SIZE;
	t = rdtsc();
	user_call(user_touch, &job);
	t = rdtsc() - t;
	w->touched_pages = job.pages;
	w->bumps = 0;
	con_printf("memvmm-guest: touch bytes=%lu pages=%lu first=0x%lx last=0x%lx",
		   bytes, job.pages, free_ram_page(&w->ram, 0),
		   free_ram_page(&w->ram, job.pages - 1));
	step_print_elapsed(w, t);
	return NULL;
}

/* The pages bump changes: the first half of the touched ones, rounded up. */
static uint64_t bump_pages(const struct workload *w)
{
	return w->touched_pages / 2 + w->touched_pages % 2;
}

/*
 * bump: adds 1 to the touch pattern's word in each page of the first half of
 * the touched pages (a diff snapshot taken after it holds just those); verify
 * then expects pattern + bumps there and the pattern in the second half.
 */
static const char *step_bump(struct workload *w, const char *value)
{
	struct page_job job = { .ram = &w->ram, .pages = bump_pages(w) };
	uint64_t t;

	if (!w->touched_pages)
		return "nothing touched";
	t = rdtsc();
	user_call(user_bump, &job);
	t = rdtsc() - t;
	w->bumps++;
	con_printf("memvmm-guest: bump pages=%lu count=%lu", job.pages, w->bumps);
	step_print_elapsed(w, t);
	return NULL;
}

static const char *step_verify(struct workload *w, const char *value)
{
	struct page_job job = {
		.ram = &w->ram, .pages = w->touched_pages,
		.bumped = bump_pages(w), .bumps = w->bumps,
	};
	uint64_t bad, t;

	if (!w->touched_pages)
		return "nothing touched";
	t = rdtsc();
	bad = user_call(user_verify, &job);
	t = rdtsc() - t;
	con_printf("memvmm-guest: verify pages=%lu bad=%lu", job.pages, bad);
	step_print_elapsed(w, t);
	return bad ? "pages do not hold the touch pattern" : NULL;
}

static const char *step_report(struct workload *w, const char *value)
{
	struct page_job job = { .ram = &w->ram, .pages = w->touched_pages };
	uint64_t sum = 0, t;

	t = rdtsc();
	if (job.pages)
		sum = user_call(user_checksum, &job);
	t = rdtsc() - t;
	con_printf("memvmm-guest: report pages=%lu checksum=0x%016lx", job.pages, sum);
	step_print_elapsed(w, t);
	return NULL;
}

static const char *step_exit(struct workload *w, const char *value)
{
	uint64_t status;

	if (!parse_decimal(value, UINT32_MAX, &status))
		return "bad status";
	con_printf("memvmm-guest: exit status=%lu\n", status);
	guest_exit((uint32_t)status);
}

static const char *step_fault(struct workload *w, const char *value)
{
	static const struct {
		const char *name;
		enum cpu_fault fault;
	} faults[] = {
		{ "ud", CPU_FAULT_UD }, { "de", CPU_FAULT_DE },
		{ "gp", CPU_FAULT_GP }, { "pf", CPU_FAULT_PF },
	};

	for (size_t i = 0; i < ARRAY_SIZE(faults); i++) {
		if (str_eq(value, faults[i].name)) {
			cpu_raise_fault(faults[i].fault);
			return "no exception was raised";
		}
	}
	return "unknown fault (ud, de, gp or pf)";
}

static const char *step_triple(struct workload *w, const char *value)
{
	cpu_triple_fault();
}

static const char *step_reset(struct workload *w, const char *value)
{
	outb(MACHINE_I8042_COMMAND_PORT, MACHINE_I8042_CMD_RESET);
	return "reset was ignored";
}

static const char *step_hang(struct workload *w, const char *value)
{
	halt_forever();
}

/*
 * tick=MS: print "memvmm-guest: tick n=N" every MS milliseconds (by the TSC)
 * until the VM is stopped, so that the host can see whether the guest
 * advances (a paused guest must not).
 */
static const char *step_tick(struct workload *w, const char *value)
{
	uint64_t ms, cycles, next;

	if (!parse_decimal(value, 3600000, &ms) || !ms)
		return "bad interval (1..3600000 ms)";
	/* Without a TSC frequency, assume 1 GHz. */
	cycles = ms * (w->tsc_khz ? w->tsc_khz : 1000000);
	next = rdtsc() + cycles;
	for (uint64_t n = 0;; n++) {
		con_printf("memvmm-guest: tick n=%lu\n", n);
		while (rdtsc() < next)
			;
		next += cycles;
	}
}

/*
 * Spins until the TSC reaches *NEXT, then moves *NEXT one interval of CYCLES
 * on. A restored VM's TSC may have gone back or jumped ahead: never wait
 * longer than one interval, and do not catch up with a burst of ticks.
 */
static void tsc_wait_interval(uint64_t *next, uint64_t cycles)
{
	uint64_t now;

	while ((now = rdtsc()) < *next) {
		if (*next - now > cycles)
			*next = now + cycles;
	}
	if (now - *next > cycles)
		*next = now;
	*next += cycles;
}

/*
 * ticks=N: prints "memvmm-guest: tick n=K" for K = 0 .. N-1, 100 ms apart
 * (by the TSC), then returns: a snapshot taken during the ticks and restored
 * must go on with the next K.
 */
static const char *step_ticks(struct workload *w, const char *value)
{
	uint64_t count, cycles, next;

	if (!parse_decimal(value, TICKS_MAX, &count) || !count)
		return "bad count (1..100000)";
	/* Without a TSC frequency, assume 1 GHz. */
	cycles = TICKS_INTERVAL_MS * (w->tsc_khz ? w->tsc_khz : 1000000);
	next = rdtsc() + cycles;
	for (uint64_t n = 0; n < count; n++) {
		if (n)
			tsc_wait_interval(&next, cycles);
		con_printf("memvmm-guest: tick n=%lu\n", n);
	}
	return NULL;
}

static const char *step_read(struct workload *w, const char *value)
{
	static uint8_t buf[READ_MAX_BYTES];
	uint64_t n;

	if (!parse_decimal(value, READ_MAX_BYTES, &n))
		return "bad byte count (at most 4096)";
	for (uint64_t i = 0; i < n; i++)
		buf[i] = con_getc();
	con_printf("memvmm-guest: read data=\"");
	for (uint64_t i = 0; i < n; i++) {
		if (buf[i] >= 0x20 && buf[i] < 0x7f && buf[i] != '"' && buf[i] != '\\')
			con_putc((char)buf[i]);
		else
			con_printf("\\x%02x", buf[i]);
	}
	con_printf("\"\n");
	return NULL;
}

static const struct step steps[] = {
	{ "touch", VALUE_REQUIRED, step_touch },
	{ "verify", VALUE_NONE, step_verify },
	{ "bump", VALUE_NONE, step_bump },
	{ "report", VALUE_NONE, step_report },
	{ "exit", VALUE_REQUIRED, step_exit },
	{ "fault", VALUE_REQUIRED, step_fault },
	{ "triple", VALUE_NONE, step_triple },
	{ "reset", VALUE_NONE, step_reset },
	{ "hang", VALUE_NONE, step_hang },
	{ "read", VALUE_REQUIRED, step_read },
	{ "tick", VALUE_REQUIRED, step_tick },
	{ "ticks", VALUE_REQUIRED, step_ticks },
	/* virtio-mem (vmem_steps.c) */
	{ "vmem-info", VALUE_NONE, step_vmem_info },
	{ "vmem-plug", VALUE_OPTIONAL, step_vmem_plug },
	{ "vmem-unplug", VALUE_OPTIONAL, step_vmem_unplug },
	{ "vmem-unplug-all", VALUE_NONE, step_vmem_unplug_all },
	{ "vmem-touch", VALUE_NONE, step_vmem_touch },
	{ "vmem-state", VALUE_NONE, step_vmem_state },
	{ "vmem-wait", VALUE_OPTIONAL, step_vmem_wait },
	{ "vmem-bad", VALUE_OPTIONAL, step_vmem_bad },
	{ "vmem-corrupt", VALUE_OPTIONAL, step_vmem_corrupt },
	{ "vmem-reset", VALUE_NONE, step_vmem_reset },
	{ "vmem-msix", VALUE_NONE, step_vmem_msix },
	/* virtio-balloon (balloon_steps.c) */
	{ "balloon-info", VALUE_NONE, step_balloon_info },
	{ "balloon-inflate", VALUE_OPTIONAL, step_balloon_inflate },
	{ "balloon-deflate", VALUE_OPTIONAL, step_balloon_deflate },
	{ "balloon-follow", VALUE_OPTIONAL, step_balloon_follow },
	{ "balloon-report", VALUE_OPTIONAL, step_balloon_report },
	{ "balloon-stats", VALUE_OPTIONAL, step_balloon_stats },
	{ "balloon-bad", VALUE_NONE, step_balloon_bad },
	{ "balloon-corrupt", VALUE_OPTIONAL, step_balloon_corrupt },
	{ "balloon-reset", VALUE_NONE, step_balloon_reset },
	/* ACPI (acpi.c) */
	{ "acpi", VALUE_NONE, step_acpi },
	{ "acpi-poweroff", VALUE_NONE, step_acpi_poweroff },
};

const char *step_run(struct workload *w, const char *step)
{
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		const char *rest = step, *name = steps[i].name;

		while (*name && *rest == *name)
			rest++, name++;
		if (*name || (*rest && *rest != '='))
			continue;
		if (steps[i].value == VALUE_REQUIRED && *rest != '=')
			return "missing value";
		if (steps[i].value == VALUE_NONE && *rest == '=')
			return "takes no value";
		return steps[i].run(w, *rest ? rest + 1 : rest);
	}
	return "unknown step";
}
