// SPDX-License-Identifier: MIT
/*
 * End to end: `memvmm run --virtio-mem ...` with the test guest's virtio-mem
 * driver (guest/vmem_steps.c), steered through `memvmm ctl virtio-mem
 * requested=SIZE`, with the host's own meters: the memory cgroup memvmm
 * runs in (memory.current or memory.usage_in_bytes), or for hugetlb (which
 * the memory controller does not charge) the pool in /proc/meminfo.
 *
 * Cases (argv[1]; each its own Meson test):
 *   cli               bad --virtio-mem values: exit 2 naming them (no KVM needed)
 *   layout            the hotplug region: above RAM, 128M-aligned, role hotplug,
 *                     not in the guest's memory map, as the guest's device says
 *   ctl-errors        `ctl virtio-mem` refusals, each naming the value
 *   populate-refused  populate=write/fallocate on anon: refused up front, exit 1
 *   plug-BACKEND      plug 256M (charged before the guest touches it), touch,
 *                     unplug to 64M and to 0 (gone from the host), plug again
 *                     (reads zero), for guest_memfd, memfd, anon, hugetlb
 *   nack-memcg        under a memory cgroup limit plugs end in NACK (ENOMEM);
 *                     memvmm stays up and status counts them
 *   bad-requests      every request that breaks §5.15 gets ERROR
 *   corrupt           every kind of broken chain sets DEVICE_NEEDS_RESET;
 *                     memvmm keeps running and answers status
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define MB                   (UINT64_C(1) << 20)
#define RAM_BYTES            (64 * MB)
#define REGION_BYTES         (512 * MB)
#define PLUG_BYTES           (256 * MB)
#define SHRINK_BYTES         (64 * MB)
#define REPLUG_BYTES         (128 * MB)
/* Host meters move by more than the guest's memory: memvmm's own, page tables, ... */
#define METER_SLACK_BYTES    (24 * MB)
/*
 * A memory cgroup limit that fits 64M of RAM, memvmm and the guest's first
 * 128M plug (Linux's memory block: one request), but not 512M plugged.
 */
#define NACK_LIMIT_BYTES     (320 * MB)
#define WAIT_S               60
#define HUGE_PAGE_BYTES      (2 * MB)

/*
 * Wait until the guest printed its n-th "vmem-waiting" line (it then polls
 * for a new requested size). Fails at once when the guest reports an error
 * or memvmm exits.
 */
static void wait_waiting(struct e2e_bg *b, unsigned int n)
{
	double deadline = e2e_now_s() + WAIT_S;

	for (;;) {
		char *out = e2e_slurp(b->out);
		unsigned int have = e2e_count_lines(out, "vmem-waiting");
		bool err = strstr(out, "memvmm-guest: error ") != NULL;

		TEST_ASSERT(!err, "the guest failed:\n%s\n--- stderr:\n%s", out, e2e_slurp(b->err));
		free(out);
		if (have >= n)
			return;
		TEST_ASSERT(e2e_bg_running(b), "memvmm ended early:\n%s\n%s",
			    e2e_slurp(b->out), e2e_slurp(b->err));
		TEST_ASSERT(e2e_now_s() < deadline, "no vmem-waiting line #%u within %d s:\n%s", n, WAIT_S,
			    e2e_slurp(b->out));
		e2e_sleep_ms(5);
	}
}

/* ---- the control socket --------------------------------------------------- */

/* `memvmm ctl CMD [ARG]` must exit want; its reply. */
static struct json_object *ctl(const struct e2e_bg *b, int want, const char *cmd, const char *arg)
{
	const char *args[] = { "ctl", "--api-socket", b->sock, cmd, arg, NULL };
	struct json_object *o;
	struct e2e_result r;

	e2e_run(args, NULL, &r);
	TEST_ASSERT(!r.signaled && r.status == want, "ctl %s %s: exit %d, want %d: %s%s", cmd,
		    arg ? arg : "", r.status, want, r.out, r.err);
	o = json_tokener_parse(r.out);
	TEST_ASSERT(o, "ctl %s printed no JSON: '%s'", cmd, r.out);
	e2e_free(&r);
	return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "";
}

static uint64_t ju64(struct json_object *o, const char *k)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, k, &v) && v, "no %s in %s", k,
		    json_object_to_json_string(o));
	return json_object_get_uint64(v);
}

static bool jbool(struct json_object *o, const char *k)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_boolean),
		    "no boolean %s in %s", k, json_object_to_json_string(o));
	return json_object_get_boolean(v);
}

/* `ctl virtio-mem requested=SIZE`; the reply must echo it. */
static void set_requested(const struct e2e_bg *b, uint64_t bytes)
{
	char arg[48];
	struct json_object *o;

	snprintf(arg, sizeof(arg), "requested=%" PRIu64 "M", bytes / MB);
	o = ctl(b, 0, "virtio-mem", arg);
	TEST_ASSERT(ju64(o, "requested") == bytes, "reply: %s", json_object_to_json_string(o));
	json_object_put(o);
}

/* status: the whole reply (*all, caller puts) and its virtio_mem object. */
static struct json_object *vmem_status(const struct e2e_bg *b, struct json_object **all)
{
	struct json_object *vm;

	*all = ctl(b, 0, "status", NULL);
	TEST_ASSERT(json_object_object_get_ex(*all, "virtio_mem", &vm) && vm,
		    "status has no virtio_mem: %s", json_object_to_json_string(*all));
	return vm;
}

/* The status region with this role, or NULL. */
static struct json_object *region_with_role(struct json_object *status, const char *role)
{
	struct json_object *mem, *regions;

	TEST_ASSERT(json_object_object_get_ex(status, "memory", &mem) &&
		    json_object_object_get_ex(mem, "regions", &regions), "status: %s",
		    json_object_to_json_string(status));
	for (size_t i = 0; i < json_object_array_length(regions); i++) {
		struct json_object *r = json_object_array_get_idx(regions, i);

		if (!strcmp(jstr(r, "role"), role))
			return r;
	}
	return NULL;
}

/* ---- cases -------------------------------------------------------------------- */

/* What the command line refuses, on the real binary: exit 2, the value named, nothing run. */
static void case_cli(const void *unused)
{
	static const struct { const char *group, *want; } bad[] = {
		{ "size=100M", "size '100M'" },
		{ "size=1G,block=3M", "block '3M'" },
		{ "size=1G,requested=2G", "requested '2G'" },
		{ "size=1G,requested=3M", "requested '3M' is not a multiple of block '2M'" },
		{ "size=1G,backend=pmem", "unknown backend 'pmem'" },
		{ "requested=1G", "size=MAX is required" },
		{ "size=1G,size=2G", "given twice" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "run", "--virtio-mem", bad[i].group, NULL };
		struct e2e_result r;

		e2e_run(args, NULL, &r);
		E2E_EXPECT_STATUS(&r, 2);
		TEST_ASSERT(strstr(r.err, "--virtio-mem") && strstr(r.err, bad[i].want),
			    "%s: %s", bad[i].group, r.err);
		TEST_ASSERT(!strstr(r.out, "memvmm-guest:"), "the guest ran");
		e2e_free(&r);
	}
	{
		const char *args[] = { "run", "--help", NULL };
		struct e2e_result r;

		e2e_run(args, NULL, &r);
		E2E_EXPECT_STATUS(&r, 0);
		TEST_ASSERT(strstr(r.out, "--virtio-mem GROUP"), "help: %s", r.out);
		e2e_free(&r);
	}
	TEST_PASS("--virtio-mem: bad values exit 2 naming them; run --help describes it");
}

/* Every memmap entry the guest printed lies below gpa. */
static void expect_not_in_memmap(const char *out, uint64_t gpa, uint64_t size)
{
	char line[256];
	unsigned int n = e2e_count_lines(out, "memmap");

	TEST_ASSERT(n > 0, "the guest printed no memory map:\n%s", out);
	for (unsigned int i = 1; i <= n; i++) {
		uint64_t a = e2e_key(e2e_nth_line(out, "memmap", i, line, sizeof(line)), "addr");
		uint64_t s = e2e_key(line, "size");

		TEST_ASSERT(a + s <= gpa || a >= gpa + size,
			    "memmap entry %s overlaps the hotplug region [0x%" PRIx64 ", +%" PRIu64
			    "M)", line, gpa, size / MB);
	}
}

/*
 * RAM of ram_arg, a 256M region: status, the guest's device and its memory
 * map agree; the region is where the layout says and holds nothing yet.
 */
static void check_layout(const char *ram_arg, uint64_t want_gpa, const char *ram_regions)
{
	const char *args[] = { "--memory", ram_arg, "--virtio-mem", "size=256M,block=4M",
			       "--cmdline", "vmem-info vmem-wait", NULL };
	struct json_object *all, *vm, *hp, *ram;
	char line[512], *out, *err;
	struct e2e_bg b;

	e2e_bg_start(&b, "vmem", args, NULL);
	wait_waiting(&b, 1);
	vm = vmem_status(&b, &all);
	TEST_ASSERT(ju64(vm, "gpa") == want_gpa && ju64(vm, "region_size") == 256 * MB &&
		    ju64(vm, "block_size") == 4 * MB && ju64(vm, "requested") == 0 &&
		    ju64(vm, "plugged") == 0, "virtio_mem: %s", json_object_to_json_string(vm));
	TEST_ASSERT(ju64(vm, "resident") == 0, "nothing populated at start: %s",
		    json_object_to_json_string(vm));
	hp = region_with_role(all, "hotplug");
	ram = region_with_role(all, "ram");
	TEST_ASSERT(hp && ram && ju64(hp, "gpa") == want_gpa && ju64(hp, "size") == 256 * MB &&
		    ju64(hp, "slot") != ju64(ram, "slot") && ju64(hp, "resident") == 0 &&
		    !strcmp(jstr(hp, "backend"), jstr(ram, "backend")) &&
		    !strcmp(jstr(vm, "backend"), jstr(ram, "backend")),
		    "regions: %s", json_object_to_json_string(all));
	TEST_ASSERT(want_gpa % MACHINE_HOTPLUG_ALIGN == 0 && want_gpa >= MACHINE_HIGH_RAM_START,
		    "gpa 0x%" PRIx64, want_gpa);
	json_object_put(all);
	out = e2e_slurp(b.out);
	TEST_ASSERT(e2e_nth_line(out, "vmem-info", 1, line, sizeof(line)), "no vmem-info:\n%s", out);
	TEST_ASSERT(e2e_key(line, "addr") == want_gpa && e2e_key(line, "region_size") == 256 * MB &&
		    e2e_key(line, "block_size") == 4 * MB && e2e_key(line, "plugged") == 0,
		    "the guest's device: %s", line);
	expect_not_in_memmap(out, want_gpa, 256 * MB);
	free(out);
	json_object_put(ctl(&b, 0, "quit", NULL));
	TEST_ASSERT(e2e_bg_wait(&b, 30) == 0, "quit: exit 0");
	err = e2e_slurp(b.err);
	snprintf(line, sizeof(line), "; virtio-mem 256M at 0x%" PRIx64 " on ", want_gpa);
	TEST_ASSERT(strstr(err, line) && strstr(err, ram_regions), "summary line (%s):\n%s",
		    ram_regions, err);
	free(err);
	e2e_bg_cleanup(&b);
	printf("ok - --memory %s: the hotplug region at 0x%" PRIx64 ", outside the memory map\n",
	       ram_arg, want_gpa);
}

static void case_layout(const void *unused)
{
	e2e_require_kvm();
	check_layout("size=64M", MACHINE_HIGH_RAM_START, "(1 region)");
	/* 3G below the hole, 128M from 4G (none of it populated): the region at 4G + 128M. */
	check_layout("size=3200M,backend=anon,populate=none,prefault=off",
		     MACHINE_HIGH_RAM_START + 128 * MB, "(2 regions)");
}

static void expect_ctl_error(const struct e2e_bg *b, const char *arg, const char *want)
{
	struct json_object *o = ctl(b, 1, "virtio-mem", arg);

	TEST_ASSERT(strstr(jstr(o, "error"), want), "virtio-mem %s: '%s' lacks '%s'",
		    arg ? arg : "", jstr(o, "error"), want);
	json_object_put(o);
}

static void case_ctl_errors(const void *unused)
{
	const char *plain[] = { "--memory", "size=64M", "--cmdline", "tick=50", NULL };
	const char *args[] = { "--memory", "size=64M", "--virtio-mem", "size=256M,block=4M",
			       "--cmdline", "vmem-info vmem-wait=8M vmem-plug vmem-wait", NULL };
	struct json_object *o, *all, *vm;
	struct e2e_bg b;

	e2e_require_kvm();
	e2e_bg_start(&b, "vmem", plain, NULL);
	for (int i = 0; i < 3000 && access(b.sock, F_OK); i++)
		e2e_sleep_ms(10);
	expect_ctl_error(&b, "requested=8M", "no virtio-mem device");
	o = ctl(&b, 0, "status", NULL);
	TEST_ASSERT(!json_object_object_get_ex(o, "virtio_mem", NULL), "status without a device: %s",
		    json_object_to_json_string(o));
	json_object_put(o);
	json_object_put(ctl(&b, 0, "quit", NULL));
	TEST_ASSERT(e2e_bg_wait(&b, 30) == 0, "quit");
	e2e_bg_cleanup(&b);

	e2e_bg_start(&b, "vmem", args, NULL);
	wait_waiting(&b, 1);
	expect_ctl_error(&b, NULL, "requested=SIZE is missing");
	expect_ctl_error(&b, "requested=", "invalid requested ''");
	expect_ctl_error(&b, "requested=lots", "invalid requested 'lots'");
	expect_ctl_error(&b, "requested=-4M", "invalid requested '-4M'");
	expect_ctl_error(&b, "requested=99999999999T", "too large: requested '99999999999T'");
	expect_ctl_error(&b, "requested=512M", "requested '512M' is more than the region's 256M");
	expect_ctl_error(&b, "requested=6M", "requested '6M' is not a multiple of the block size");
	o = ctl(&b, 1, "virtio-mem", "size=8M");
	TEST_ASSERT(strstr(jstr(o, "error"), "unknown argument 'size'"), "%s", jstr(o, "error"));
	json_object_put(o);
	vm = vmem_status(&b, &all);
	TEST_ASSERT(ju64(vm, "requested") == 0, "refusals changed nothing: %s",
		    json_object_to_json_string(vm));
	json_object_put(all);
	TEST_PASS("ctl virtio-mem: no device, missing, bad, too large, unaligned: error replies");

	/* The size syntax as on the command line: 8M = 8388608 = 8192K. */
	set_requested(&b, 8 * MB);
	wait_waiting(&b, 2);
	vm = vmem_status(&b, &all);
	TEST_ASSERT(ju64(vm, "requested") == 8 * MB && ju64(vm, "plugged") == 8 * MB,
		    "after the guest plugged: %s", json_object_to_json_string(vm));
	json_object_put(all);
	o = ctl(&b, 0, "virtio-mem", "requested=8192K");
	TEST_ASSERT(ju64(o, "previous") == 8 * MB && ju64(o, "plugged") == 8 * MB, "reply: %s",
		    json_object_to_json_string(o));
	json_object_put(o);
	/* A new size ends the guest's last vmem-wait: its steps are done. */
	json_object_put(ctl(&b, 0, "virtio-mem", "requested=0"));
	TEST_ASSERT(e2e_bg_wait(&b, 30) == 0, "the guest's steps passed:\n%s", e2e_slurp(b.out));
	e2e_bg_cleanup(&b);
	TEST_PASS("ctl virtio-mem requested=8M: the guest plugs it; 8192K is the same size");
}

static void case_populate_refused(const void *unused)
{
	static const char *const strategies[] = { "write", "fallocate" };

	e2e_require_kvm();
	for (size_t i = 0; i < 2; i++) {
		char group[96];
		const char *args[] = { "run", "--memory", "size=64M", "--virtio-mem", group,
				       "--cmdline", "vmem-info", NULL };
		struct e2e_result r;

		/* Anonymous memory has no file: neither can be done, on any host. */
		snprintf(group, sizeof(group), "size=128M,backend=anon,populate=%s", strategies[i]);
		e2e_run(args, NULL, &r);
		E2E_EXPECT_STATUS(&r, 1);
		TEST_ASSERT(strstr(r.err, "populate=") && strstr(r.err, strategies[i]) &&
			    strstr(r.err, "anon"), "%s: %s", group, r.err);
		TEST_ASSERT(!strstr(r.out, "memvmm-guest:"), "the guest ran: %s", r.out);
		e2e_free(&r);
	}
	TEST_PASS("populate=write/fallocate for an anon region: refused before the guest runs");
}

/* ---- plug and unplug, measured by the host ------------------------------------- */

/* What the guest's plug/unplug line says, checked. */
static void expect_step(const char *out, const char *step, unsigned int nth, uint64_t bytes)
{
	char line[512];

	TEST_ASSERT(e2e_nth_line(out, step, nth, line, sizeof(line)), "no %s #%u:\n%s", step, nth, out);
	TEST_ASSERT(e2e_key(line, "bytes") == bytes && e2e_key(line, "nack") == 0 &&
		    e2e_key(line, "error") == 0 && e2e_key(line, "busy") == 0 &&
		    e2e_key(line, "plugged") == e2e_key(line, "driver_plugged"), "%s #%u: %s", step, nth, line);
}

static void expect_touch(const char *out, unsigned int nth, uint64_t blocks)
{
	char line[512];

	TEST_ASSERT(e2e_nth_line(out, "vmem-touch", nth, line, sizeof(line)), "no touch #%u", nth);
	TEST_ASSERT(e2e_key(line, "blocks") == blocks && e2e_key(line, "nonzero") == 0 &&
		    e2e_key(line, "bad") == 0, "vmem-touch #%u: %s", nth, line);
}

/* status: requested and plugged as the guest left them. */
static void expect_status(const struct e2e_bg *b, uint64_t requested, uint64_t plugged)
{
	struct json_object *all, *vm = vmem_status(b, &all);

	TEST_ASSERT(ju64(vm, "requested") == requested && ju64(vm, "plugged") == plugged &&
		    ju64(vm, "nacks") == 0 && ju64(vm, "errors") == 0 && !jbool(vm, "needs_reset"),
		    "status: %s", json_object_to_json_string(vm));
	json_object_put(all);
}

static void case_plug(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	char ram[96], group[128], cmdline[512];
	const char *args[] = { "--memory", ram, "--virtio-mem", group, "--cmdline", cmdline, NULL };
	uint64_t base, plugged, touched, shrunk, empty;
	struct e2e_meter m = { 0 };
	struct e2e_bg bg;
	char *out;

	e2e_require_backend(b);
	e2e_meter_setup(&m, b, (RAM_BYTES + REGION_BYTES) / HUGE_PAGE_BYTES);
	snprintf(ram, sizeof(ram), "size=%" PRIu64 "M,backend=%s", RAM_BYTES / MB, b->name);
	snprintf(group, sizeof(group), "size=%" PRIu64 "M,block=2M,backend=%s", REGION_BYTES / MB,
		 b->name);
	snprintf(cmdline, sizeof(cmdline),
		 "vmem-info vmem-wait=%" PRIu64 "M vmem-plug vmem-wait=%" PRIu64 "M vmem-touch "
		 "vmem-wait=%" PRIu64 "M vmem-unplug vmem-touch vmem-state vmem-wait=0 vmem-unplug "
		 "vmem-state vmem-wait=%" PRIu64 "M vmem-plug vmem-touch vmem-state",
		 PLUG_BYTES / MB, (PLUG_BYTES - 2 * MB) / MB, SHRINK_BYTES / MB, REPLUG_BYTES / MB);
	e2e_bg_start(&bg, "vmem", args, m.kind == E2E_METER_MEMCG ? &m.cg : NULL);

	wait_waiting(&bg, 1);
	base = e2e_meter_read(&m);
	expect_status(&bg, 0, 0);
	set_requested(&bg, PLUG_BYTES);

	/* Plugged, not yet touched by the guest: all of it is charged already. */
	wait_waiting(&bg, 2);
	plugged = e2e_meter_read(&m);
	expect_status(&bg, PLUG_BYTES, PLUG_BYTES);
	TEST_ASSERT(plugged >= base + PLUG_BYTES - METER_SLACK_BYTES &&
		    plugged <= base + PLUG_BYTES + METER_SLACK_BYTES,
		    "%s after plugging %" PRIu64 "M: %" PRIu64 "M -> %" PRIu64 "M", e2e_meter_name(&m),
		    PLUG_BYTES / MB, base / MB, plugged / MB);
	set_requested(&bg, PLUG_BYTES - 2 * MB);

	/* The guest's touch of every page costs the host nothing more. */
	wait_waiting(&bg, 3);
	touched = e2e_meter_read(&m);
	TEST_ASSERT(touched <= plugged + METER_SLACK_BYTES, "%s grew by the guest's touch: %"
		    PRIu64 "M -> %" PRIu64 "M", e2e_meter_name(&m), plugged / MB, touched / MB);
	set_requested(&bg, SHRINK_BYTES);

	/* Unplugged down to 64M: the rest went back to the host. */
	wait_waiting(&bg, 4);
	shrunk = e2e_meter_read(&m);
	expect_status(&bg, SHRINK_BYTES, SHRINK_BYTES);
	TEST_ASSERT(shrunk <= base + SHRINK_BYTES + METER_SLACK_BYTES &&
		    shrunk + METER_SLACK_BYTES >= base + SHRINK_BYTES,
		    "%s after unplugging to %" PRIu64 "M: %" PRIu64 "M (base %" PRIu64 "M)",
		    e2e_meter_name(&m), SHRINK_BYTES / MB, shrunk / MB, base / MB);
	set_requested(&bg, 0);

	/* Everything unplugged: back to where it started. */
	wait_waiting(&bg, 5);
	empty = e2e_meter_read(&m);
	expect_status(&bg, 0, 0);
	TEST_ASSERT(empty <= base + METER_SLACK_BYTES, "%s after unplugging all: %" PRIu64
		    "M (base %" PRIu64 "M)", e2e_meter_name(&m), empty / MB, base / MB);
	set_requested(&bg, REPLUG_BYTES);

	TEST_ASSERT(e2e_bg_wait(&bg, WAIT_S) == 0, "the guest's steps:\n%s\n%s", e2e_slurp(bg.out),
		    e2e_slurp(bg.err));
	out = e2e_slurp(bg.out);
	expect_step(out, "vmem-plug", 1, PLUG_BYTES);
	expect_touch(out, 1, PLUG_BYTES / (2 * MB));
	expect_step(out, "vmem-unplug", 1, PLUG_BYTES - SHRINK_BYTES);
	expect_touch(out, 2, SHRINK_BYTES / (2 * MB));
	expect_step(out, "vmem-unplug", 2, SHRINK_BYTES);
	expect_step(out, "vmem-plug", 2, REPLUG_BYTES);
	/* Re-plugged blocks read zero (nonzero=0) although they held the pattern before. */
	expect_touch(out, 3, REPLUG_BYTES / (2 * MB));
	TEST_ASSERT(e2e_count_lines(out, "vmem-state") == 3, "vmem-state lines:\n%s", out);
	free(out);
	e2e_bg_cleanup(&bg);
	e2e_meter_teardown(&m);
	printf("ok - %s: %s %" PRIu64 "M at start, +%" PRIu64 "M after plugging %" PRIu64 "M (before "
	       "the guest touched it), %" PRIu64 "M after the touch, +%" PRIu64 "M at %" PRIu64 "M, +%"
	       PRId64 "M after unplugging all; re-plugged memory read zero\n", b->name,
	       e2e_meter_name(&m), base / MB, (plugged - base) / MB, PLUG_BYTES / MB, touched / MB,
	       (shrunk - base) / MB, SHRINK_BYTES / MB, ((int64_t)empty - (int64_t)base) / (int64_t)MB);
}

/* ---- NACK, ERROR, NEEDS_RESET ----------------------------------------------------- */

static void case_nack_memcg(const void *unused)
{
	const char *args[] = { "--memory", "size=64M", "--virtio-mem", "size=512M",
			       "--cmdline", "vmem-wait=512M vmem-plug vmem-touch vmem-wait", NULL };
	struct json_object *all, *vm;
	char line[512], *out;
	uint64_t plugged, base, after;
	struct memcg cg;
	struct e2e_bg b;

	e2e_require_kvm();
#ifdef __SANITIZE_ADDRESS__
	/* As e2e_populate's ENOMEM cases: ASan's shadow faults block in a full memory cgroup. */
	TEST_REQUIRE(false, "not under ASan (its shadow memory faults block in a full memory "
		     "cgroup)");
#endif
	TEST_REQUIRE(memcg_create(&cg, NACK_LIMIT_BYTES, true), cg.why);
	e2e_bg_start(&b, "vmem", args, &cg);
	/* vmem-wait=512M prints its waiting line first: the guest is up. */
	wait_waiting(&b, 1);
	base = memcg_usage(&cg);
	set_requested(&b, REGION_BYTES);
	wait_waiting(&b, 2);
	vm = vmem_status(&b, &all);
	plugged = ju64(vm, "plugged");
	TEST_ASSERT(ju64(vm, "nacks") >= 1 && !strcmp(jstr(vm, "last_nack_err"), "ENOMEM") &&
		    plugged < REGION_BYTES && plugged > 0 && ju64(vm, "errors") == 0,
		    "status after plugging past the limit: %s", json_object_to_json_string(vm));
	TEST_ASSERT(!strcmp(jstr(all, "state"), "running"), "memvmm runs on: %s",
		    json_object_to_json_string(all));
	json_object_put(all);
	/* The NACKed plug's partial population was given back: only the plugged blocks stay. */
	after = memcg_usage(&cg);
	TEST_ASSERT(after <= base + plugged + METER_SLACK_BYTES, "memory cgroup usage %" PRIu64
		    "M, %" PRIu64 "M before, %" PRIu64 "M plugged", after / MB, base / MB, plugged / MB);
	out = e2e_slurp(b.out);
	TEST_ASSERT(e2e_nth_line(out, "vmem-plug", 1, line, sizeof(line)), "no vmem-plug:\n%s", out);
	TEST_ASSERT(e2e_key(line, "nack") == 1 && e2e_key(line, "error") == 0 &&
		    e2e_key(line, "plugged") == plugged && e2e_key(line, "bytes") == plugged,
		    "vmem-plug: %s", line);
	TEST_ASSERT(e2e_nth_line(out, "vmem-touch", 1, line, sizeof(line)) && e2e_key(line, "bad") == 0 &&
		    e2e_key(line, "nonzero") == 0, "the plugged blocks work: %s", line);
	free(out);
	json_object_put(ctl(&b, 0, "quit", NULL));
	TEST_ASSERT(e2e_bg_wait(&b, 30) == 0, "quit after the NACK: exit 0");
	e2e_bg_cleanup(&b);
	printf("ok - under a %" PRIu64 "M cgroup v%d limit: %" PRIu64 "M plugged, then NACK (ENOMEM); "
	       "memvmm ran on and quit with 0\n", NACK_LIMIT_BYTES / MB, cg.version, plugged / MB);
	memcg_destroy(&cg);
}

static void case_bad_requests(const void *unused)
{
	/* requested 64M: plug cases need room for two more blocks; 4M gives a plugged block. */
	const char *args[] = { "--memory", "size=64M", "--virtio-mem",
			       "size=256M,requested=64M", "--cmdline",
			       "vmem-plug=4M vmem-bad vmem-state vmem-wait", NULL };
	struct json_object *all, *vm;
	char line[512], *out;
	uint64_t cases;
	struct e2e_bg b;

	e2e_require_kvm();
	e2e_bg_start(&b, "vmem", args, NULL);
	wait_waiting(&b, 1);
	out = e2e_slurp(b.out);
	TEST_ASSERT(e2e_nth_line(out, "vmem-bad", 1, line, sizeof(line)), "no vmem-bad:\n%s", out);
	cases = e2e_key(line, "cases");
	TEST_ASSERT(cases >= 10 && e2e_key(line, "error") == cases && e2e_key(line, "plugged") == 4 * MB,
		    "vmem-bad: %s", line);
	for (unsigned int i = 1; e2e_nth_line(out, "vmem-bad-case", i, line, sizeof(line)); i++)
		TEST_ASSERT(strstr(line, " resp=ERROR"), "%s", line);
	TEST_ASSERT(e2e_count_lines(out, "vmem-bad-case") == cases, "one line per case:\n%s", out);
	free(out);
	vm = vmem_status(&b, &all);
	TEST_ASSERT(ju64(vm, "errors") >= cases && ju64(vm, "plugged") == 4 * MB &&
		    ju64(vm, "nacks") == 0 && !jbool(vm, "needs_reset"),
		    "status: %s", json_object_to_json_string(vm));
	json_object_put(all);
	set_requested(&b, 0);
	TEST_ASSERT(e2e_bg_wait(&b, WAIT_S) == 0, "the guest's steps:\n%s", e2e_slurp(b.out));
	e2e_bg_cleanup(&b);
	printf("ok - %" PRIu64 " requests that break the rules: ERROR each, counted in status, "
	       "nothing plugged or lost\n", cases);
}

static void case_corrupt(const void *unused)
{
	static const char *const kinds[] = { "loop", "next", "head", "idx", "order", "addr" };
	char cmdline[512] = "vmem-plug=2M";
	const char *args[] = { "--memory", "size=64M", "--virtio-mem", "size=128M,requested=64M",
			       "--cmdline", cmdline, NULL };
	struct json_object *all, *vm;
	char line[512], *out;
	struct e2e_bg b;

	e2e_require_kvm();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline),
			 " vmem-corrupt=%s vmem-state", kinds[i]);
	snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline), " vmem-wait");
	e2e_bg_start(&b, "vmem", args, NULL);
	wait_waiting(&b, 1);
	vm = vmem_status(&b, &all);
	TEST_ASSERT(!strcmp(jstr(all, "state"), "running") && jstr(vm, "last_violation")[0] &&
		    ju64(vm, "violations") >= sizeof(kinds) / sizeof(kinds[0]) &&
		    !jbool(vm, "needs_reset") && ju64(vm, "plugged") == 2 * MB,
		    "status after the corruptions (and the driver's resets): %s",
		    json_object_to_json_string(all));
	json_object_put(all);
	out = e2e_slurp(b.out);
	for (unsigned int i = 1; i <= sizeof(kinds) / sizeof(kinds[0]); i++) {
		TEST_ASSERT(e2e_nth_line(out, "vmem-corrupt", i, line, sizeof(line)), "#%u:\n%s", i, out);
		TEST_ASSERT(strstr(line, kinds[i - 1]) && e2e_key(line, "needs_reset") == 1 &&
			    strstr(line, " reinit=ok after=ACK"), "vmem-corrupt: %s", line);
	}
	free(out);
	set_requested(&b, 0);
	TEST_ASSERT(e2e_bg_wait(&b, WAIT_S) == 0, "the guest's steps:\n%s", e2e_slurp(b.out));
	e2e_bg_cleanup(&b);
	TEST_PASS("every kind of broken chain: NEEDS_RESET, memvmm answers status, the device "
		  "works again after the driver's reset");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "cli", case_cli, NULL },
		{ "layout", case_layout, NULL },
		{ "ctl-errors", case_ctl_errors, NULL },
		{ "populate-refused", case_populate_refused, NULL },
		{ "plug-guest_memfd", case_plug, &mem_backend_guest_memfd },
		{ "plug-memfd", case_plug, &mem_backend_memfd },
		{ "plug-anon", case_plug, &mem_backend_anon },
		{ "plug-hugetlb", case_plug, &mem_backend_hugetlb },
		{ "nack-memcg", case_nack_memcg, NULL },
		{ "bad-requests", case_bad_requests, NULL },
		{ "corrupt", case_corrupt, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
