// SPDX-License-Identifier: MIT
/*
 * End to end: `memvmm run --balloon ...` with the test guest's
 * virtio-balloon driver (guest/balloon_steps.c), memory given back read on
 * the host's own meters: the memory cgroup memvmm runs in (memory.current
 * or memory.usage_in_bytes), or for hugetlb (which the memory controller
 * does not charge) the pool in /proc/meminfo; and status's RAM regions'
 * resident (mincore). The guest waits in read=1 steps (tests/e2e_gated.h)
 * while the meters and status are read.
 *
 * Cases (argv[1]; each its own Meson test):
 *   inflate-BACKEND    inflate 256M of 512M: the meter falls by 256M,
 *                      status inflated/given_back/actual agree; deflate:
 *                      repopulated at once (populate=auto), the memory is
 *                      back; for guest_memfd, memfd, anon, hugetlb
 *   deflate-none       populate=none: deflated pages are not repopulated
 *                      (repopulated 0); they come back when the guest
 *                      touches them
 *   follow             ctl balloon size=128M: the guest follows, status
 *                      actual 128M; size=0: it deflates
 *   report-BACKEND     free page reporting of 64M: reported, given back;
 *                      hugetlb: nothing discarded (documented)
 *   stats              stats=1: the guest's numbers in status
 *   bad-pfns           bad, duplicate and virtio-mem PFNs: counted,
 *                      completed, no NEEDS_RESET, memvmm runs on
 *   deflate-on-oom     deflate-on-oom=on|off: offered, negotiated, the
 *                      guest's balloon-info agrees
 *   corrupt            every kind of broken chain: NEEDS_RESET, reset and
 *                      re-init work; memvmm exits with the guest's status
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_gated.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define MB                 (UINT64_C(1) << 20)
#define PAGE_BYTES         UINT64_C(4096)
#define HUGE_PAGE_BYTES    (2 * MB)
#define RAM_BYTES          (512 * MB)
#define INFLATE_BYTES      (256 * MB)
#define TOUCH_BYTES        (64 * MB)
#define REPORT_BYTES       (64 * MB)
#define FOLLOW_BYTES       (128 * MB)
#define SMALL_BYTES        (8 * MB)
/* Host meters move by more than the guest's memory: memvmm's own, page tables, ... */
#define METER_SLACK_BYTES  (24 * MB)
/* status's resident: a huge page at each end of a range may stay (THP, hugetlb). */
#define RES_SLACK_BYTES    (2 * HUGE_PAGE_BYTES)
#define STEP_TIMEOUT_S     120
#define EXIT_TIMEOUT_S     60
#define FOLLOW_IDLE_S      15    /* balloon-follow=S: ends after S seconds without a change */
#define LINE_BYTES         512

static uint64_t absdiff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* status, and its balloon object (*all: the whole reply, caller puts). */
static struct json_object *balloon_status(const struct e2e_gated *g, struct json_object **all)
{
	*all = e2e_gated_ctl(g, 0, "status", NULL, NULL);
	return e2e_jobj(*all, "balloon");
}

/* KVM, the backend (guest_memfd as memvmm needs it), and the host's meter for it; or skip. */
static void backend_setup(struct e2e_meter *m, const struct mem_backend_ops *b)
{
	e2e_require_backend(b);
	e2e_meter_setup(m, b, RAM_BYTES / HUGE_PAGE_BYTES + 8);
}

/* ---- inflate and deflate ---------------------------------------------------------- */

/* What the balloon object must say: inflated (bytes), given back within slack, actual. */
static void expect_balloon(struct json_object *bo, uint64_t inflated, uint64_t given_slack)
{
	TEST_ASSERT(e2e_ju64(bo, "inflated") == inflated && e2e_ju64(bo, "actual") == inflated &&
		    e2e_ju64(bo, "given_back") <= inflated &&
		    e2e_ju64(bo, "given_back") + given_slack >= inflated &&
		    e2e_ju64(bo, "discard_errors") == 0 && e2e_ju64(bo, "populate_errors") == 0 &&
		    e2e_ju64(bo, "bad_pfns") == 0 && e2e_ju64(bo, "dup_pfns") == 0 &&
		    !e2e_jbool(bo, "needs_reset"),
		    "status balloon (want %" PRIu64 "M inflated): %s", inflated / MB,
		    json_object_to_json_string(bo));
}

static void case_inflate(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	char ram[96], line[LINE_BYTES];
	const char *args[] = { "--memory", ram, "--balloon", "on", "--cmdline",
			       "touch=64M read=1 balloon-inflate=256M read=1 balloon-deflate=256M "
			       "read=1 verify balloon-info", NULL };
	struct json_object *all, *bo;
	uint64_t base, inflated, deflated, res0, res1, res2, unit;
	struct e2e_meter m = { 0 };
	struct e2e_gated g;
	bool repop;

	backend_setup(&m, b);
	unit = m.kind == E2E_METER_HUGETLB ? HUGE_PAGE_BYTES : PAGE_BYTES;
	snprintf(ram, sizeof(ram), "size=%" PRIu64 "M,backend=%s", RAM_BYTES / MB, b->name);
	e2e_gated_start(&g, args, m.kind == E2E_METER_MEMCG ? &m.cg : NULL);

	/* Touched, nothing inflated: RAM populated (populate=auto), the base. */
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), STEP_TIMEOUT_S);
	base = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	expect_balloon(bo, 0, 0);
	res0 = e2e_ram_resident(all);
	repop = strcmp(e2e_ram_populate(all), "none") != 0;
	json_object_put(all);

	/* 256M inflated: gone from the host. */
	e2e_gated_send(&g);
	e2e_gated_line(&g, "balloon-inflate", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "bytes") == INFLATE_BYTES &&
		    e2e_key(line, "inflated") == INFLATE_BYTES / PAGE_BYTES &&
		    e2e_key(line, "actual") == INFLATE_BYTES / PAGE_BYTES, "%s", line);
	inflated = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	/* hugetlb: a 2 MiB page at each end of the range may be partly inflated. */
	expect_balloon(bo, INFLATE_BYTES, 2 * unit);
	TEST_ASSERT(e2e_ju64(bo, "inflated_total") == INFLATE_BYTES &&
		    e2e_ju64(bo, "discards") >= 1, "%s", json_object_to_json_string(bo));
	res1 = e2e_ram_resident(all);
	json_object_put(all);
	TEST_ASSERT(inflated + INFLATE_BYTES <= base + METER_SLACK_BYTES &&
		    inflated + INFLATE_BYTES + METER_SLACK_BYTES >= base,
		    "%s: %" PRIu64 "M before inflating %" PRIu64 "M, %" PRIu64 "M after",
		    e2e_meter_name(&m), base / MB, INFLATE_BYTES / MB, inflated / MB);
	TEST_ASSERT(res1 <= res0 && absdiff(res0 - res1, INFLATE_BYTES) <= RES_SLACK_BYTES,
		    "RAM resident %" PRIu64 "M -> %" PRIu64 "M after inflating %" PRIu64 "M",
		    res0 / MB, res1 / MB, INFLATE_BYTES / MB);

	/* Deflated: usable again, repopulated at once where RAM's strategy preallocates. */
	e2e_gated_send(&g);
	e2e_gated_line(&g, "balloon-deflate", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "bytes") == INFLATE_BYTES && e2e_key(line, "inflated") == 0 &&
		    e2e_key(line, "bad") == 0, "%s", line);
	deflated = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	expect_balloon(bo, 0, 0);
	TEST_ASSERT(e2e_ju64(bo, "deflated_total") == INFLATE_BYTES, "%s",
		    json_object_to_json_string(bo));
	TEST_ASSERT(!repop || e2e_ju64(bo, "repopulated") + 2 * unit >= INFLATE_BYTES,
		    "RAM populated with %s: deflated pages repopulated: %s",
		    e2e_ram_populate(all), json_object_to_json_string(bo));
	res2 = e2e_ram_resident(all);
	json_object_put(all);
	TEST_ASSERT(deflated + METER_SLACK_BYTES >= base && absdiff(res2, res0) <= RES_SLACK_BYTES,
		    "%s %" PRIu64 "M after deflating (base %" PRIu64 "M), RAM resident %" PRIu64
		    "M (%" PRIu64 "M before)", e2e_meter_name(&m), deflated / MB, base / MB,
		    res2 / MB, res0 / MB);

	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "the guest's steps:\n%s",
		    e2e_gated_output(&g));
	e2e_gated_line(&g, "verify", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "bad") == 0, "%s", line);
	e2e_gated_end(&g);
	e2e_meter_teardown(&m);
	printf("ok - %s: %s %" PRIu64 "M, %" PRIu64 "M after inflating %" PRIu64 "M (-%" PRIu64
	       "M), %" PRIu64 "M after deflating; RAM resident %" PRIu64 "M -> %" PRIu64 "M -> %"
	       PRIu64 "M\n", b->name, e2e_meter_name(&m), base / MB, inflated / MB,
	       INFLATE_BYTES / MB, (base - inflated) / MB, deflated / MB, res0 / MB, res1 / MB,
	       res2 / MB);
}

/* populate=none: deflated pages come back only when the guest touches them. */
static void case_deflate_none(const void *unused)
{
	const char *args[] = { "--memory", "size=512M,backend=anon,populate=none", "--balloon", "on",
			       "--cmdline", "touch=64M balloon-inflate=256M read=1 "
			       "balloon-deflate=256M read=1 verify", NULL };
	struct json_object *all, *bo;
	char line[LINE_BYTES];
	uint64_t inflated, deflated;
	struct e2e_meter m = { 0 };
	struct e2e_gated g;

	backend_setup(&m, &mem_backend_anon);
	e2e_gated_start(&g, args, &m.cg);
	e2e_gated_line(&g, "balloon-inflate", 1, line, sizeof(line), STEP_TIMEOUT_S);
	inflated = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	expect_balloon(bo, INFLATE_BYTES, 0);
	TEST_ASSERT(!strcmp(e2e_ram_populate(all), "none"), "populate: %s",
		    json_object_to_json_string(all));
	json_object_put(all);
	e2e_gated_send(&g);
	e2e_gated_line(&g, "balloon-deflate", 1, line, sizeof(line), STEP_TIMEOUT_S);
	deflated = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	expect_balloon(bo, 0, 0);
	/* Nothing repopulated by memvmm: the guest's write after the deflate faulted them in. */
	TEST_ASSERT(e2e_ju64(bo, "repopulated") == 0 && e2e_ju64(bo, "deflated_total") ==
		    INFLATE_BYTES, "%s", json_object_to_json_string(bo));
	json_object_put(all);
	TEST_ASSERT(deflated + METER_SLACK_BYTES >= inflated + INFLATE_BYTES,
		    "memory cgroup %" PRIu64 "M inflated, %" PRIu64 "M after the guest touched the "
		    "deflated pages", inflated / MB, deflated / MB);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	e2e_meter_teardown(&m);
	printf("ok - populate=none: repopulated 0; memory cgroup %" PRIu64 "M inflated, %" PRIu64
	       "M once the guest touched the deflated pages\n", inflated / MB, deflated / MB);
}

/* ---- the target from the control socket ------------------------------------------ */

static void set_target(const struct e2e_gated *g, const char *size, uint64_t want,
		       uint64_t previous)
{
	char arg[48];
	struct json_object *o;

	snprintf(arg, sizeof(arg), "size=%s", size);
	o = e2e_gated_ctl(g, 0, "balloon", arg, NULL);
	TEST_ASSERT(e2e_ju64(o, "target") == want && e2e_ju64(o, "previous") == previous,
		    "ctl balloon %s: %s", arg, json_object_to_json_string(o));
	json_object_put(o);
}

static void case_follow(const void *unused)
{
	char cmdline[96], line[LINE_BYTES];
	const char *args[] = { "--memory", "size=512M", "--balloon", "size=0,stats=1", "--cmdline",
			       cmdline, NULL };
	struct json_object *all, *bo;
	uint64_t res0, res1;
	struct e2e_gated g;

	e2e_require_kvm();
	snprintf(cmdline, sizeof(cmdline), "touch=16M balloon-follow=%d verify", FOLLOW_IDLE_S);
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "balloon-waiting", 1, line, sizeof(line), STEP_TIMEOUT_S);
	bo = balloon_status(&g, &all);
	TEST_ASSERT(e2e_ju64(bo, "target") == 0 && e2e_ju64(bo, "actual") == 0, "%s",
		    json_object_to_json_string(bo));
	res0 = e2e_ram_resident(all);
	json_object_put(all);

	set_target(&g, "128M", FOLLOW_BYTES, 0);
	e2e_gated_line(&g, "balloon-waiting", 2, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "num_pages") == FOLLOW_BYTES / PAGE_BYTES &&
		    e2e_key(line, "inflated") == FOLLOW_BYTES / PAGE_BYTES, "%s", line);
	bo = balloon_status(&g, &all);
	TEST_ASSERT(e2e_ju64(bo, "target") == FOLLOW_BYTES, "%s", json_object_to_json_string(bo));
	expect_balloon(bo, FOLLOW_BYTES, 0);
	res1 = e2e_ram_resident(all);
	json_object_put(all);
	TEST_ASSERT(res1 + FOLLOW_BYTES <= res0 + RES_SLACK_BYTES,
		    "RAM resident %" PRIu64 "M -> %" PRIu64 "M", res0 / MB, res1 / MB);

	set_target(&g, "0", 0, FOLLOW_BYTES);
	e2e_gated_line(&g, "balloon-waiting", 3, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "num_pages") == 0 && e2e_key(line, "inflated") == 0, "%s", line);
	bo = balloon_status(&g, &all);
	expect_balloon(bo, 0, 0);
	json_object_put(all);

	/* The follow step ends FOLLOW_IDLE_S after the last change; verify passes. */
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S + FOLLOW_IDLE_S) == 0, "%s",
		    e2e_gated_output(&g));
	e2e_gated_line(&g, "balloon-follow-step", 1, line, sizeof(line), 1);
	TEST_ASSERT(strstr(line, " op=inflate ") && e2e_key(line, "bytes") == FOLLOW_BYTES &&
		    e2e_key(line, "short") == 0, "%s", line);
	e2e_gated_line(&g, "balloon-follow-step", 2, line, sizeof(line), 1);
	TEST_ASSERT(strstr(line, " op=deflate ") && e2e_key(line, "bytes") == FOLLOW_BYTES &&
		    e2e_key(line, "bad") == 0, "%s", line);
	e2e_gated_line(&g, "balloon-follow", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "changes") == 2 && e2e_key(line, "actual") == 0, "%s", line);
	e2e_gated_end(&g);
	printf("ok - ctl balloon size=128M: the guest followed (actual 128M, RAM resident %" PRIu64
	       "M -> %" PRIu64 "M); size=0: deflated\n", res0 / MB, res1 / MB);
}

/* ---- free page reporting ---------------------------------------------------------- */

static void case_report(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	char ram[96], line[LINE_BYTES];
	const char *args[] = { "--memory", ram, "--balloon", "on", "--cmdline",
			       "touch=16M balloon-info read=1 balloon-report=64M read=1 verify", NULL };
	struct json_object *all, *bo;
	uint64_t base, after, res0, res1;
	struct e2e_meter m = { 0 };
	struct e2e_gated g;
	bool huge;

	backend_setup(&m, b);
	huge = m.kind == E2E_METER_HUGETLB;
	snprintf(ram, sizeof(ram), "size=%" PRIu64 "M,backend=%s", RAM_BYTES / MB, b->name);
	e2e_gated_start(&g, args, huge ? NULL : &m.cg);
	e2e_gated_line(&g, "balloon-info", 1, line, sizeof(line), STEP_TIMEOUT_S);
	base = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	TEST_ASSERT(e2e_jbool(e2e_jobj(bo, "negotiated"), "free_page_reporting") &&
		    e2e_ju64(bo, "reported") == 0, "%s", json_object_to_json_string(bo));
	res0 = e2e_ram_resident(all);
	json_object_put(all);

	e2e_gated_send(&g);
	e2e_gated_line(&g, "balloon-report", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "bytes") == REPORT_BYTES, "%s", line);
	after = e2e_meter_read(&m);
	bo = balloon_status(&g, &all);
	res1 = e2e_ram_resident(all);
	TEST_ASSERT(e2e_ju64(bo, "reports") >= 1 && e2e_ju64(bo, "inflated") == 0 &&
		    e2e_ju64(bo, "discard_errors") == 0 && !e2e_jbool(bo, "needs_reset"), "%s",
		    json_object_to_json_string(bo));
	if (huge) {
		/* Documented: reported memory stays backed on hugetlb. */
		TEST_ASSERT(e2e_ju64(bo, "reported") == 0 && absdiff(after, base) < REPORT_BYTES / 2 &&
			    res1 == res0,
			    "hugetlb: pool %" PRIu64 "M -> %" PRIu64 "M, resident %" PRIu64 "M -> %"
			    PRIu64 "M: %s", base / MB, after / MB, res0 / MB, res1 / MB,
			    json_object_to_json_string(bo));
	} else {
		TEST_ASSERT(e2e_ju64(bo, "reported") >= REPORT_BYTES, "%s",
			    json_object_to_json_string(bo));
		TEST_ASSERT(after + REPORT_BYTES <= base + METER_SLACK_BYTES &&
			    res1 + REPORT_BYTES <= res0 + RES_SLACK_BYTES,
			    "%s %" PRIu64 "M -> %" PRIu64 "M, RAM resident %" PRIu64 "M -> %" PRIu64
			    "M after reporting %" PRIu64 "M", e2e_meter_name(&m), base / MB,
			    after / MB, res0 / MB, res1 / MB, REPORT_BYTES / MB);
	}
	json_object_put(all);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	e2e_meter_teardown(&m);
	printf("ok - %s: reported %" PRIu64 "M; %s %" PRIu64 "M -> %" PRIu64 "M%s\n", b->name,
	       REPORT_BYTES / MB, e2e_meter_name(&m), base / MB, after / MB,
	       huge ? " (hugetlb keeps reported memory, as documented)" : "");
}

/* ---- statistics ------------------------------------------------------------------- */

static void case_stats(const void *unused)
{
	const char *args[] = { "--memory", "size=256M", "--balloon", "stats=1", "--cmdline",
			       "touch=8M balloon-inflate=16M balloon-stats=2 read=1", NULL };
	struct json_object *all, *bo, *st;
	char line[LINE_BYTES];
	struct e2e_gated g;

	e2e_require_kvm();
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "balloon-stats", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "polls") == 2 && e2e_key(line, "sent") == 3, "%s", line);
	bo = balloon_status(&g, &all);
	st = e2e_jobj(bo, "stats");
	TEST_ASSERT(e2e_ju64(st, "total-memory") == e2e_key(line, "memtot") &&
		    e2e_ju64(st, "free-memory") == e2e_key(line, "memfree") &&
		    e2e_ju64(st, "available-memory") == e2e_key(line, "avail") &&
		    e2e_ju64(st, "minor-faults") == e2e_key(line, "minflt") &&
		    e2e_ju64(bo, "stats_updates") >= 2 && e2e_ju64(bo, "stats_interval_s") == 1 &&
		    e2e_ju64(bo, "stats_unknown") == 0 &&
		    e2e_jbool(e2e_jobj(bo, "negotiated"), "stats_vq"),
		    "guest: %s\nstatus: %s", line, json_object_to_json_string(bo));
	TEST_ASSERT(e2e_key(line, "avail") + 16 * MB == e2e_key(line, "memtot"), "%s", line);
	json_object_put(all);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	TEST_PASS("stats=1: two polls answered; status has the guest's free, total, available "
		  "memory and its counter");
}

/* ---- what the guest must not be able to do ----------------------------------------- */

static void case_bad_pfns(const void *unused)
{
	const char *args[] = { "--memory", "size=256M", "--virtio-mem", "size=128M", "--balloon",
			       "on", "--cmdline", "balloon-inflate=8M balloon-bad read=1 "
			       "balloon-deflate=8M balloon-info", NULL };
	struct json_object *all, *bo;
	char line[LINE_BYTES];
	struct e2e_gated g;

	e2e_require_kvm();
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "balloon-bad", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "cases") == 10 && e2e_key(line, "ok") == 10 &&
		    e2e_key(line, "hotplug") == 1 && e2e_key(line, "status") == 0x0f &&
		    e2e_key(line, "inflated") == SMALL_BYTES / PAGE_BYTES,
		    "%s", line);
	bo = balloon_status(&g, &all);
	/*
	 * 0xffffffff each way (and the page past free RAM, if that is past RAM too);
	 * virtio-mem's first and last page each way; dups: inflate, deflate, absent.
	 */
	TEST_ASSERT(e2e_ju64(bo, "bad_pfns") >= 2 && e2e_ju64(bo, "hotplug_pfns") >= 4 &&
		    e2e_ju64(bo, "dup_pfns") >= 3 && !e2e_jbool(bo, "needs_reset") &&
		    e2e_ju64(bo, "violations") == 0 && e2e_ju64(bo, "inflated") == SMALL_BYTES &&
		    !strcmp(e2e_jstr(all, "state"), "running"),
		    "status: %s", json_object_to_json_string(all));
	json_object_put(all);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_line(&g, "balloon-info", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "inflated") == 0 && e2e_key(line, "actual") == 0, "%s", line);
	e2e_gated_end(&g);
	TEST_PASS("bad, duplicate and virtio-mem PFNs: every chain completed, counted in status, "
		  "no NEEDS_RESET; the balloon works after them");
}

static void case_deflate_on_oom(const void *unused)
{
	for (int on = 0; on <= 1; on++) {
		const char *args[] = { "--memory", "size=128M", "--balloon",
				       on ? "deflate-on-oom=on" : "deflate-on-oom=off", "--cmdline",
				       "balloon-info read=1", NULL };
		struct json_object *all, *bo;
		char line[LINE_BYTES];
		struct e2e_gated g;

		e2e_require_kvm();
		e2e_gated_start(&g, args, NULL);
		e2e_gated_line(&g, "balloon-info", 1, line, sizeof(line), STEP_TIMEOUT_S);
		TEST_ASSERT(e2e_key(line, "deflate_on_oom") == (uint64_t)on &&
			    (e2e_key(line, "offered") >> 2 & 1) == (uint64_t)on, "%s", line);
		bo = balloon_status(&g, &all);
		TEST_ASSERT(e2e_jbool(e2e_jobj(bo, "offered"), "deflate_on_oom") == on &&
			    e2e_jbool(e2e_jobj(bo, "negotiated"), "deflate_on_oom") == on,
			    "deflate-on-oom=%s: %s", on ? "on" : "off",
			    json_object_to_json_string(bo));
		json_object_put(all);
		e2e_gated_send(&g);
		TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 0, "%s", e2e_gated_output(&g));
		e2e_gated_end(&g);
	}
	TEST_PASS("deflate-on-oom=on|off: offered and negotiated as the guest's balloon-info says");
}

static void case_corrupt(const void *unused)
{
	static const char *const kinds[] = { "loop", "next", "head", "idx", "order", "addr" };
	char cmdline[512] = "balloon-inflate=8M", line[LINE_BYTES];
	const char *args[] = { "--memory", "size=256M", "--balloon", "on", "--cmdline", cmdline,
			       NULL };
	const size_t nk = sizeof(kinds) / sizeof(kinds[0]);
	struct json_object *all, *bo;
	struct e2e_gated g;

	e2e_require_kvm();
	for (size_t i = 0; i < nk; i++)
		snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline),
			 " balloon-corrupt=%s", kinds[i]);
	snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline),
		 " balloon-inflate=8M balloon-reset balloon-info read=1 balloon-inflate=8M "
		 "balloon-deflate=8M exit=3");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "balloon-info", 1, line, sizeof(line), STEP_TIMEOUT_S);
	TEST_ASSERT(e2e_key(line, "inflated") == 0 && e2e_key(line, "actual") == 0, "%s", line);
	bo = balloon_status(&g, &all);
	/* The reset emptied the balloon; the device works, nothing is left broken. */
	TEST_ASSERT(!strcmp(e2e_jstr(all, "state"), "running") &&
		    e2e_ju64(bo, "violations") >= nk && e2e_jstr(bo, "last_violation")[0] &&
		    !e2e_jbool(bo, "needs_reset") && e2e_ju64(bo, "inflated") == 0 &&
		    e2e_ju64(bo, "given_back") == 0 && e2e_ju64(bo, "driver_status") == 0x0f,
		    "status after the corruptions and resets: %s", json_object_to_json_string(all));
	json_object_put(all);
	e2e_gated_send(&g);
	/* exit=3: memvmm exits with what the guest reports. */
	TEST_ASSERT(e2e_gated_wait(&g, EXIT_TIMEOUT_S) == 3, "want exit 3:\n%s",
		    e2e_gated_output(&g));
	for (unsigned int i = 1; i <= nk; i++) {
		e2e_gated_line(&g, "balloon-corrupt", i, line, sizeof(line), 1);
		TEST_ASSERT(strstr(line, kinds[i - 1]) && e2e_key(line, "needs_reset") == 1 &&
			    strstr(line, " reinit=ok after=ok "), "balloon-corrupt: %s", line);
	}
	e2e_gated_line(&g, "balloon-reset", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "after") == 0 && e2e_key(line, "inflated_before") ==
		    SMALL_BYTES / PAGE_BYTES && e2e_key(line, "actual") == 0 &&
		    e2e_key(line, "inflated") == 0, "%s", line);
	e2e_gated_line(&g, "balloon-deflate", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "inflated") == 0 && e2e_key(line, "bad") == 0, "%s", line);
	e2e_gated_end(&g);
	TEST_PASS("every kind of broken chain: NEEDS_RESET, re-init works; a reset empties the "
		  "balloon; memvmm exits with the guest's status (3)");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "inflate-guest_memfd", case_inflate, &mem_backend_guest_memfd },
		{ "inflate-memfd", case_inflate, &mem_backend_memfd },
		{ "inflate-anon", case_inflate, &mem_backend_anon },
		{ "inflate-hugetlb", case_inflate, &mem_backend_hugetlb },
		{ "deflate-none", case_deflate_none, NULL },
		{ "follow", case_follow, NULL },
		{ "report-guest_memfd", case_report, &mem_backend_guest_memfd },
		{ "report-memfd", case_report, &mem_backend_memfd },
		{ "report-anon", case_report, &mem_backend_anon },
		{ "report-hugetlb", case_report, &mem_backend_hugetlb },
		{ "stats", case_stats, NULL },
		{ "bad-pfns", case_bad_pfns, NULL },
		{ "deflate-on-oom", case_deflate_on_oom, NULL },
		{ "corrupt", case_corrupt, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
