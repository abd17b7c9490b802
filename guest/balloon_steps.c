// SPDX-License-Identifier: MIT
/*
 * virtio-balloon steps. Each prints one "memvmm-guest: <step> key=value
 * ..." line, also when it then fails (balloon-follow and balloon-bad more,
 * under other names); the first balloon step also prints how it found the
 * device ("virtio-pci" and "balloon-init" lines). num_pages, actual,
 * inflated and room are in 4 KiB pages (the device's unit), bytes= in
 * bytes, all decimal.
 */
#include <stddef.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>

#include "balloon.h"
#include "balloon_steps.h"
#include "console.h"
#include "cpu.h"
#include "mem/machine.h"

#define DEFAULT_TSC_KHZ      1000000    /* without a TSC rate, assume 1 GHz */
#define FOLLOW_IDLE_S        10         /* balloon-follow ends after this long without a change */
#define FOLLOW_POLL_MS       10
#define STATS_TIMEOUT_S      20         /* per poll; the host polls every stats= seconds */
#define MAX_SECONDS          3600
#define CORRUPT_TIMEOUT_MS   10000
#define REPORT_DEFAULT_BYTES (64ull << 20)
#define BAD_PARTIAL_BYTES    2          /* half a PFN: ignored */
#define MS_PER_S             1000
#define ARRAY_SIZE(a)        (sizeof(a) / sizeof((a)[0]))

static struct balloon balloon;

static uint64_t cycles_per_ms(const struct workload *w)
{
	return w->tsc_khz ? w->tsc_khz : DEFAULT_TSC_KHZ;
}

static bool feature(const struct virtio_dev *d, unsigned int bit)
{
	return d->driver_features >> bit & 1;
}

/* The driver, ready; its floor is what the guest touched; per-step counters cleared. */
static const char *balloon_get(struct workload *w, struct balloon **out)
{
	struct balloon *b = &balloon;
	const char *why;
	bool first;

	why = balloon_open(b, &w->ram, cycles_per_ms(w), &first);
	if (first) {
		virtio_print_pci(&b->dev);
		con_printf("memvmm-guest: balloon-init offered=0x%lx negotiated=0x%lx "
			   "free_page_hint_offered=%u queues=%u queue_size=%u num_pages=%u "
			   "actual=%u\n", b->dev.device_features, b->dev.driver_features,
			   (unsigned int)(b->dev.device_features >>
					  VIRTIO_BALLOON_F_FREE_PAGE_HINT & 1),
			   b->dev.nqueues, b->dev.q[0].size, b->num_pages, b->actual);
	}
	if (why)
		return why;
	b->floor = w->touched_pages;
	b->chains = b->pfns = b->touch_bad = 0;
	*out = b;
	return NULL;
}

/* A decimal number in [min, max]; *END: where it stopped. */
static bool parse_number(const char *s, const char **end, uint64_t min, uint64_t max,
			 uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*end = s;
	*out = v;
	return v >= min;
}

/* A size value in pages: a positive multiple of 4 KiB. */
static const char *pages_value(const char *value, uint64_t *pages)
{
	uint64_t bytes;

	if (!step_parse_size(value, &bytes))
		return "bad size";
	if (!bytes || bytes % PAGE_SIZE)
		return "size is not a positive multiple of 4096";
	*pages = bytes / PAGE_SIZE;
	return NULL;
}

/* Writes actual and reads the configuration back. */
static const char *actual_update(struct balloon *b)
{
	balloon_actual_write(b);
	return balloon_config_read(b);
}

const char *step_balloon_info(struct workload *w, const char *value)
{
	struct balloon *b;
	const char *why;

	if ((why = balloon_get(w, &b)) || (why = balloon_config_read(b)))
		return why;
	con_printf("memvmm-guest: balloon-info offered=0x%lx negotiated=0x%lx stats_vq=%u "
		   "deflate_on_oom=%u reporting=%u queues=%u num_pages=%u actual=%u inflated=%lu "
		   "room=%lu\n", b->dev.device_features, b->dev.driver_features,
		   feature(&b->dev, VIRTIO_BALLOON_F_STATS_VQ),
		   feature(&b->dev, VIRTIO_BALLOON_F_DEFLATE_ON_OOM),
		   feature(&b->dev, VIRTIO_BALLOON_F_REPORTING), b->dev.nqueues, b->num_pages,
		   b->actual, b->inflated, balloon_room(b));
	return NULL;
}

/* Inflates (INFLATE) or deflates PAGES, writes actual, prints the step's line. */
static const char *balloon_change(struct workload *w, struct balloon *b, uint64_t pages,
				  bool inflate, const char *name)
{
	const char *why, *fail;
	uint64_t t = rdtsc(), khz = w->tsc_khz, req;

	b->request_cycles = 0;
	fail = inflate ? balloon_inflate(b, pages) : balloon_deflate(b, pages);
	if (b->ready)
		why = actual_update(b);
	else
		why = NULL;
	t = rdtsc() - t;
	con_printf("memvmm-guest: %s pages=%lu bytes=%lu chains=%lu inflated=%lu num_pages=%u "
		   "actual=%u", name, b->pfns, b->pfns * PAGE_SIZE, b->chains, b->inflated,
		   b->num_pages, b->actual);
	if (!inflate)
		con_printf(" bad=%lu", b->touch_bad);
	/* The device's part: the chains' round trips, without the guest's page writes. */
	req = b->request_cycles;
	if (khz)
		con_printf(" request_us=%lu", req / khz * 1000 + req % khz * 1000 / khz);
	else
		con_printf(" request_cycles=%lu", req);
	step_print_elapsed(w, t);
	if (fail || why)
		return fail ? fail : why;
	return b->touch_bad ? "a deflated page did not keep what was written to it" : NULL;
}

/*
 * balloon-inflate: inflate up to the device's target; =SIZE: SIZE more.
 * The highest free pages first, BALLOON_CHAIN_PFNS per chain.
 * balloon-deflate: deflate down to the device's target; =SIZE: SIZE.
 */
static const char *balloon_move(struct workload *w, const char *value, bool inflate)
{
	struct balloon *b;
	const char *why;
	uint64_t pages, have, want;

	if ((why = balloon_get(w, &b)) || (why = balloon_config_read(b)))
		return why;
	have = inflate ? b->inflated : b->num_pages;
	want = inflate ? b->num_pages : b->inflated;
	if (*value) {
		if ((why = pages_value(value, &pages)))
			return why;
	} else {
		pages = want > have ? want - have : 0;
	}
	if (inflate && pages > balloon_room(b))
		return "not that much free RAM above what the guest uses";
	if (!inflate && pages > b->inflated)
		return "fewer pages than that are in the balloon";
	return balloon_change(w, b, pages, inflate, inflate ? "balloon-inflate" : "balloon-deflate");
}

const char *step_balloon_inflate(struct workload *w, const char *value)
{
	return balloon_move(w, value, true);
}

const char *step_balloon_deflate(struct workload *w, const char *value)
{
	return balloon_move(w, value, false);
}

/*
 * balloon-follow[=SECONDS]: inflate or deflate to the target (a
 * "balloon-follow-step" line) unless the balloon is there, then print
 * "balloon-waiting" and poll num_pages; each change is followed the same
 * way; SECONDS (10) without a change ends the step. A target above what
 * fits is followed as far as it fits (short=).
 */
const char *step_balloon_follow(struct workload *w, const char *value)
{
	uint64_t idle_s = FOLLOW_IDLE_S, cpm = cycles_per_ms(w), t0, idle_t0, changes = 0;
	uint64_t handled = UINT64_MAX;
	struct balloon *b;
	const char *why, *end;

	if (*value && (!parse_number(value, &end, 1, MAX_SECONDS, &idle_s) || *end))
		return "bad seconds (1..3600)";
	if ((why = balloon_get(w, &b)))
		return why;
	t0 = idle_t0 = rdtsc();
	if ((why = balloon_config_read(b)))
		return why;
	if (b->num_pages == b->inflated) {
		handled = b->num_pages;         /* nothing to follow yet */
		con_printf("memvmm-guest: balloon-waiting num_pages=%lu inflated=%lu\n", handled,
			   b->inflated);
	}
	for (;;) {
		uint64_t want, short_pages = 0, t;
		bool inflate;

		if ((why = balloon_config_read(b)))
			return why;
		if (b->num_pages == handled) {
			if ((rdtsc() - idle_t0) / cpm > idle_s * MS_PER_S)
				break;
			t = rdtsc() + FOLLOW_POLL_MS * cpm;
			while (rdtsc() < t)
				;
			continue;
		}
		handled = want = b->num_pages;
		if (want > b->inflated + balloon_room(b)) {
			short_pages = want - b->inflated - balloon_room(b);
			want -= short_pages;
		}
		inflate = want >= b->inflated;
		b->chains = b->pfns = b->touch_bad = 0;
		t = rdtsc();
		why = inflate ? balloon_inflate(b, want - b->inflated) :
				balloon_deflate(b, b->inflated - want);
		if (!why && b->ready)
			why = actual_update(b);
		t = rdtsc() - t;
		changes++;
		con_printf("memvmm-guest: balloon-follow-step op=%s pages=%lu bytes=%lu num_pages=%lu "
			   "inflated=%lu short=%lu bad=%lu", inflate ? "inflate" : "deflate", b->pfns,
			   b->pfns * PAGE_SIZE, handled, b->inflated, short_pages, b->touch_bad);
		step_print_elapsed(w, t);
		if (why)
			return why;
		if (b->touch_bad)
			return "a deflated page did not keep what was written to it";
		con_printf("memvmm-guest: balloon-waiting num_pages=%lu inflated=%lu\n", handled,
			   b->inflated);
		idle_t0 = rdtsc();
	}
	con_printf("memvmm-guest: balloon-follow changes=%lu num_pages=%u inflated=%lu actual=%u",
		   changes, b->num_pages, b->inflated, b->actual);
	step_print_elapsed(w, rdtsc() - t0);
	return NULL;
}

/*
 * balloon-report[=SIZE]: report SIZE (64M) of free memory as 2 MiB blocks,
 * up to 32 per chain, each block's pages touched first.
 */
const char *step_balloon_report(struct workload *w, const char *value)
{
	uint64_t bytes = REPORT_DEFAULT_BYTES, ranges = 0, chains = 0, t;
	struct balloon *b;
	const char *why;

	if (*value && !step_parse_size(value, &bytes))
		return "bad size";
	if ((why = balloon_get(w, &b)))
		return why;
	t = rdtsc();
	why = balloon_report(b, bytes, &ranges, &chains);
	t = rdtsc() - t;
	con_printf("memvmm-guest: balloon-report bytes=%lu ranges=%lu chains=%lu reportable=%lu",
		   ranges * BALLOON_REPORT_BLOCK_BYTES, ranges, chains, balloon_report_room(b));
	step_print_elapsed(w, t);
	return why;
}

/*
 * balloon-stats[=N[,SECONDS]]: answer N (1) polls: each time the device
 * gives the stats buffer back (within SECONDS, 20, each), fill it again and
 * give it back. The buffer was first given at initialization.
 */
const char *step_balloon_stats(struct workload *w, const char *value)
{
	uint64_t polls = 1, timeout_s = STATS_TIMEOUT_S, got = 0, t;
	const char *why = NULL, *end = value;
	struct balloon *b;
	enum virtio_result r;

	if (*value && (!parse_number(value, &end, 1, UINT32_MAX, &polls) ||
		       (*end == ',' && !parse_number(end + 1, &end, 1, MAX_SECONDS, &timeout_s)) ||
		       *end))
		return "bad value (N or N,SECONDS)";
	if ((why = balloon_get(w, &b)))
		return why;
	if (b->stats_q < 0)
		return "VIRTIO_BALLOON_F_STATS_VQ was not negotiated";
	t = rdtsc();
	/* Given at initialization; again if it is not with the device now. */
	r = balloon_stats_give(b);
	if (r != VIRTIO_OK && r != VIRTIO_BUSY)
		why = "the stats buffer could not be given";
	while (!why && got < polls) {
		r = balloon_stats_wait(b, timeout_s * MS_PER_S);
		if (r == VIRTIO_TIMEOUT) {
			why = "no stats poll from the device in time";
			break;
		}
		if (r != VIRTIO_OK || balloon_stats_give(b) != VIRTIO_OK) {
			why = "the stats queue broke";
			break;
		}
		got++;
	}
	t = rdtsc() - t;
	con_printf("memvmm-guest: balloon-stats polls=%lu sent=%lu memtot=%lu memfree=%lu "
		   "avail=%lu minflt=%lu", got, b->stats_sent, b->stats[0].val, b->stats[1].val,
		   b->stats[2].val, b->stats[3].val);
	step_print_elapsed(w, t);
	return why;
}

/* ---- balloon-bad ------------------------------------------------------------------ */

enum bad_pfn {
	BAD_MAX,                /* 0xffffffff */
	BAD_BEYOND,             /* the page past the highest free RAM */
	BAD_HOTPLUG,            /* the first and last pages of a virtio-mem region */
	BAD_PARTIAL,            /* half a PFN */
	BAD_ZERO_TWICE,         /* page 0, twice */
	BAD_ONE,                /* page 1, never inflated */
};

struct bad_case {
	const char *name;
	unsigned int queue;
	enum bad_pfn what;
};

static const struct bad_case bad_cases[] = {
	{ "inflate-max", BALLOON_QUEUE_INFLATE, BAD_MAX },
	{ "inflate-beyond", BALLOON_QUEUE_INFLATE, BAD_BEYOND },
	{ "inflate-hotplug", BALLOON_QUEUE_INFLATE, BAD_HOTPLUG },
	{ "inflate-partial", BALLOON_QUEUE_INFLATE, BAD_PARTIAL },
	{ "inflate-dup", BALLOON_QUEUE_INFLATE, BAD_ZERO_TWICE },
	{ "deflate-dup", BALLOON_QUEUE_DEFLATE, BAD_ZERO_TWICE },
	{ "deflate-absent", BALLOON_QUEUE_DEFLATE, BAD_ONE },
	{ "deflate-max", BALLOON_QUEUE_DEFLATE, BAD_MAX },
	{ "deflate-beyond", BALLOON_QUEUE_DEFLATE, BAD_BEYOND },
	{ "deflate-hotplug", BALLOON_QUEUE_DEFLATE, BAD_HOTPLUG },
};

/* The virtio-mem region, if there is a virtio-mem device: its config read without a driver. */
static const char *hotplug_region(uint64_t cpm, uint64_t *first_pfn, uint64_t *last_pfn,
				  bool *present)
{
	static struct virtio_dev vmem_dev;
	const char *why = virtio_probe(&vmem_dev, VIRTIO_ID_MEM, cpm);
	const unsigned int addr_off = offsetof(struct virtio_mem_config, addr);
	const unsigned int size_off = offsetof(struct virtio_mem_config, region_size);
	uint64_t addr, size;

	*present = false;
	if (why)
		return pci_find(MACHINE_PCI_VIRTIO_VENDOR,
				(uint16_t)(MACHINE_PCI_VIRTIO_DEVICE_BASE + VIRTIO_ID_MEM),
				&vmem_dev.bdf) ? why : NULL;
	if (vmem_dev.device.len < sizeof(struct virtio_mem_config))
		return "virtio-mem configuration too short";
	addr = virtio_config_read32(&vmem_dev, addr_off) |
	       (uint64_t)virtio_config_read32(&vmem_dev, addr_off + 4) << 32;
	size = virtio_config_read32(&vmem_dev, size_off) |
	       (uint64_t)virtio_config_read32(&vmem_dev, size_off + 4) << 32;
	if (!size || (addr + size) / PAGE_SIZE > UINT32_MAX)
		return NULL;    /* no PFN can name it: no case */
	*first_pfn = addr / PAGE_SIZE;
	*last_pfn = (addr + size) / PAGE_SIZE - 1;
	*present = true;
	return NULL;
}

/*
 * balloon-bad: chains of PFNs the device must ignore (no RAM, virtio-mem's
 * region, half a PFN, a page inflated twice or deflated when not
 * inflated): every chain must come back and the device must not need a
 * reset. One "balloon-bad-case" line per chain, then the summary. Page 0
 * ends where it began (inflated once, then deflated).
 */
const char *step_balloon_bad(struct workload *w, const char *value)
{
	static uint32_t pfns[2];
	uint64_t hp_first = 0, hp_last = 0, cases = 0, ok = 0, t;
	const char *why, *fail = NULL;
	struct balloon *b;
	bool hotplug;
	uint8_t st;

	if ((why = balloon_get(w, &b)) ||
	    (why = hotplug_region(cycles_per_ms(w), &hp_first, &hp_last, &hotplug)))
		return why;
	t = rdtsc();
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases) && !fail; i++) {
		const struct bad_case *c = &bad_cases[i];
		uint32_t bytes = 4;
		enum virtio_result r;

		switch (c->what) {
		case BAD_MAX:
			pfns[0] = UINT32_MAX;
			break;
		case BAD_BEYOND:
			pfns[0] = (uint32_t)(w->ram.ranges[w->ram.count - 1].end / PAGE_SIZE);
			break;
		case BAD_HOTPLUG:
			if (!hotplug)
				continue;
			pfns[0] = (uint32_t)hp_first;
			pfns[1] = (uint32_t)hp_last;
			bytes = 8;
			break;
		case BAD_PARTIAL:
			pfns[0] = 0;
			bytes = BAD_PARTIAL_BYTES;
			break;
		case BAD_ZERO_TWICE:
			pfns[0] = pfns[1] = 0;
			bytes = 8;
			break;
		case BAD_ONE:
			pfns[0] = 1;
			break;
		}
		r = balloon_pfns_send(b, c->queue, pfns, bytes);
		con_printf("memvmm-guest: balloon-bad-case name=%s pfns=%u result=%s\n", c->name,
			   bytes / 4, virtio_result_name(r));
		cases++;
		ok += r == VIRTIO_OK;
		if (r != VIRTIO_OK)
			fail = "a chain of bad PFNs did not come back";
	}
	t = rdtsc() - t;
	st = virtio_status(&b->dev);
	if (!fail && (why = balloon_config_read(b)))
		fail = why;
	con_printf("memvmm-guest: balloon-bad cases=%lu ok=%lu hotplug=%u status=0x%02x "
		   "inflated=%lu actual=%u", cases, ok, hotplug, st, b->inflated, b->actual);
	step_print_elapsed(w, t);
	if (fail)
		return fail;
	return st & VIRTIO_CONFIG_S_NEEDS_RESET ? "the device set DEVICE_NEEDS_RESET" : NULL;
}

/* ---- device status ---------------------------------------------------------------- */

/*
 * balloon-corrupt[=KIND]: a broken chain on the inflate queue (loop by
 * default, see virtio.h) must make the device set DEVICE_NEEDS_RESET; then
 * reset, initialize again and check that an inflate chain comes back.
 */
const char *step_balloon_corrupt(struct workload *w, const char *value)
{
	enum virtio_corruption kind;
	enum virtio_result after = VIRTIO_BAD_USED;
	static const uint32_t harmless = UINT32_MAX;
	const char *why, *reinit;
	struct balloon *b;
	bool used = false;
	uint64_t t;
	uint8_t st;

	if ((why = virtio_corruption_parse(value, &kind)))
		return why;
	if ((why = balloon_get(w, &b)))
		return why;
	t = rdtsc();
	st = balloon_corrupt(b, kind, CORRUPT_TIMEOUT_MS, &used);
	reinit = balloon_reinit(b);
	if (!reinit) {
		after = balloon_pfns_send(b, BALLOON_QUEUE_INFLATE, &harmless, sizeof(harmless));
		balloon_actual_write(b);
	}
	t = rdtsc() - t;
	con_printf("memvmm-guest: balloon-corrupt kind=%s status=0x%02x needs_reset=%u used=%u "
		   "reinit=%s after=%s", virtio_corruption_name(kind), st,
		   !!(st & VIRTIO_CONFIG_S_NEEDS_RESET), used, reinit ? "fail" : "ok",
		   reinit ? "none" : virtio_result_name(after));
	step_print_elapsed(w, t);
	if (!(st & VIRTIO_CONFIG_S_NEEDS_RESET))
		return "the device did not set DEVICE_NEEDS_RESET";
	if (reinit)
		return reinit;
	return after != VIRTIO_OK ? "an inflate chain after the reset did not come back" : NULL;
}

/*
 * balloon-reset: device status 0 must read back 0; initialize again. The
 * reset emptied the balloon: the record is empty, actual= is what the
 * device says then (before the driver writes 0).
 */
const char *step_balloon_reset(struct workload *w, const char *value)
{
	uint64_t inflated_before, t;
	uint8_t before, after;
	struct balloon *b;
	const char *why;
	bool zero;

	if ((why = balloon_get(w, &b)))
		return why;
	t = rdtsc();
	inflated_before = b->inflated;
	before = virtio_status(&b->dev);
	b->ready = false;
	zero = virtio_reset(&b->dev);
	after = virtio_status(&b->dev);
	why = balloon_reinit(b);
	t = rdtsc() - t;
	con_printf("memvmm-guest: balloon-reset before=0x%02x after=0x%02x inflated_before=%lu "
		   "actual=%u inflated=%lu", before, after, inflated_before, b->actual, b->inflated);
	step_print_elapsed(w, t);
	if (!zero || after)
		return "the device status did not read back 0 after the reset";
	if (why)
		return why;
	balloon_actual_write(b);
	return NULL;
}
