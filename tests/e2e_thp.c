// SPDX-License-Identifier: MIT
/*
 * End to end: `memvmm run --memory ...,thp=auto|on|off` on the real test
 * guest. What each case expects comes from the host's own THP settings
 * (mem_thp_host_read() + mem_thp_decide(), the same rules memvmm follows),
 * never from what this host happens to have; the huge-page share memvmm
 * reports is checked against smaps read by this test while memvmm runs.
 *
 *   anon-auto     auto on anon: huge where the host allows (>= 90% of RAM
 *                 after population), the guest's touch+verify intact
 *   anon-off      thp=off: MADV_NOHUGEPAGE, 0 bytes in huge pages
 *   memfd-auto    auto on memfd: as shmem THP allows, else says why not
 *   hugetlb       always huge, 100%; thp=off is refused as bad input
 *   gmem-on       thp=on on guest_memfd is refused (exit 1) with the reason
 *   status        the control socket's status shows the plan and huge bytes
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/thp.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"

#define RAM_MB 128u

/* What memvmm should decide for thp=mode on this backend, by the host's settings. */
static int host_plan(enum mem_thp_mode mode, const struct mem_backend_ops *b,
		     struct mem_thp_plan *plan)
{
	struct mem_thp_host h;

	TEST_ASSERT(mem_thp_host_read("", &h) == 0, "reading the host's THP settings");
	return mem_thp_decide(mode, b->thp, &h, plan);
}

/* Run the test guest with --memory GROUP, touching and verifying 3/4 of RAM. */
static void run_guest(const char *group, struct e2e_result *r)
{
	char cmdline[64];
	const char *args[] = { "run", "--memory", group, "--cmdline", cmdline, NULL };

	snprintf(cmdline, sizeof(cmdline), "touch=%uM verify", RAM_MB * 3 / 4);
	e2e_run(args, NULL, r);
}

/* The guest touched and verified its pages without a single bad one. */
static void expect_guest_ok(const struct e2e_result *r)
{
	const char *v = e2e_guest_line(r, "verify");
	uint64_t pages = 0, bad = 1;

	TEST_ASSERT(v && e2e_key_u64(v, "pages", &pages) && e2e_key_u64(v, "bad", &bad),
		    "no verify line:\n%s", r->out);
	TEST_ASSERT(pages == (RAM_MB * 3 / 4) * 256ull && bad == 0, "verify: %s", v);
}

/* "NNNM in huge pages (P%)" of region 0 on memvmm's population line; -1 if absent. */
static int huge_percent(const struct e2e_result *r)
{
	const char *line = strstr(r->err, "memory populated in ");
	const char *end = line ? line + strcspn(line, "\n") : NULL;
	const char *p = line ? strstr(line, "M in huge pages (") : NULL;
	unsigned long long mb;
	unsigned int pct;

	if (!p || p > end)
		return -1;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (sscanf(p, "%lluM in huge pages (%u%%)", &mb, &pct) != 2)
		return -1;
	return (int)pct;
}

/* The "thp=MODE: ..." clause of the population line, up to ';' or the end. */
static const char *thp_clause(const struct e2e_result *r, char *buf, size_t len)
{
	const char *p = strstr(r->err, "; thp=");

	TEST_ASSERT(p, "no thp clause on the population line:\n%s", r->err);
	p += 2;
	snprintf(buf, len, "%.*s", (int)strcspn(p, ";\n"), p);
	return buf;
}

/* A backend's run with thp=mode: exit 0, the guest fine, the share as the plan says. */
static void expect_run(const struct mem_backend_ops *b, enum mem_thp_mode mode)
{
	struct mem_thp_plan plan;
	struct e2e_result r;
	char group[96], clause[256];
	int pct, ret = host_plan(mode, b, &plan);

	TEST_ASSERT(ret == 0, "the host's plan for %s refuses thp=%s: %s", b->name,
		    mem_thp_mode_name(mode), plan.why);
	snprintf(group, sizeof(group), "size=%uM,backend=%s,thp=%s", RAM_MB, b->name,
		 mem_thp_mode_name(mode));
	run_guest(group, &r);
	E2E_EXPECT_STATUS(&r, 0);
	expect_guest_ok(&r);
	thp_clause(&r, clause, sizeof(clause));
	TEST_ASSERT(strstr(clause, plan.why), "memvmm says '%s', the host's rules say '%s'",
		    clause, plan.why);
	pct = huge_percent(&r);
	TEST_ASSERT(pct >= 0, "no huge page share on the population line:\n%s", r.err);
	if (plan.huge)
		TEST_ASSERT(pct >= 90, "%s thp=%s: only %d%% of RAM in huge pages:\n%s",
			    b->name, mem_thp_mode_name(mode), pct, r.err);
	else
		TEST_ASSERT(pct == 0, "%s thp=%s: %d%% in huge pages, want none:\n%s",
			    b->name, mem_thp_mode_name(mode), pct, r.err);
	printf("ok - %s thp=%s: %s, %d%% huge, guest verified\n", b->name,
	       mem_thp_mode_name(mode), clause, pct);
	e2e_free(&r);
}

static void case_anon_auto(const void *unused)
{
	struct mem_thp_plan plan;

	e2e_require_kvm();
	TEST_ASSERT(host_plan(MEM_THP_AUTO, &mem_backend_anon, &plan) == 0, "plan");
	expect_run(&mem_backend_anon, MEM_THP_AUTO);
	TEST_REQUIRE(plan.huge, "this host's anonymous THP policy gives no huge pages "
		     "(the run above checked that memvmm says so and uses none)");
}

static void case_anon_off(const void *unused)
{
	e2e_require_kvm();
	expect_run(&mem_backend_anon, MEM_THP_OFF);
}

static void case_memfd_auto(const void *unused)
{
	e2e_require_kvm();
	expect_run(&mem_backend_memfd, MEM_THP_AUTO);
}

static void case_hugetlb(const void *unused)
{
	const char *args[] = { "run", "--memory", "size=64M,backend=hugetlb,thp=off", NULL };
	struct e2e_result r;

	/* A contradiction on the command line: exit 2, before anything is set up. */
	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(strstr(r.err, "thp=off") && strstr(r.err, "hugetlb"), "message: %s", r.err);
	e2e_free(&r);
	TEST_PASS("backend=hugetlb,thp=off: exit 2 naming both");

	e2e_require_kvm();
	hugepages_save();
	TEST_REQUIRE(hugepages_reserve(RAM_MB / 2), "cannot make enough 2 MiB huge pages free "
		     "(nr_hugepages not writable, or the host lacks the memory)");
	expect_run(&mem_backend_hugetlb, MEM_THP_AUTO);
	hugepages_restore();
}

static void case_gmem_on(const void *unused)
{
	const char *args[] = { "run", "--memory", "size=64M,backend=guest_memfd,thp=on",
			       "--cmdline", "touch=4M", NULL };
	struct mem_thp_plan plan;
	struct e2e_result r;
	int ret;

	e2e_require_kvm();
	TEST_REQUIRE(e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED) == 0,
		     "guest_memfd with MMAP|INIT_SHARED is not available on this host");
	ret = host_plan(MEM_THP_ON, &mem_backend_guest_memfd, &plan);
	e2e_run(args, NULL, &r);
	if (ret == 0) {
		/* A kernel whose guest_memfd has huge folios: memvmm must then run. */
		E2E_EXPECT_STATUS(&r, 0);
	} else {
		E2E_EXPECT_STATUS(&r, 1);
		TEST_ASSERT(strstr(r.err, "thp=on") && strstr(r.err, "guest_memfd") &&
			    strstr(r.err, plan.why), "message: %s", r.err);
		TEST_ASSERT(!e2e_guest_line(&r, "touch"), "the guest ran:\n%s", r.out);
	}
	printf("ok - guest_memfd thp=on: exit %d: %.200s\n", r.status, r.err);
	e2e_free(&r);
}

/* ---- status over the control socket ------------------------------------ */

struct status_ctx {
	char sock[108];
	struct mem_thp_plan plan;
	bool checked;
};

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* While the guest ticks: `memvmm ctl status` must show the plan and the huge bytes. */
static void check_status(pid_t pid, void *arg)
{
	struct status_ctx *c = arg;
	const char *args[] = { "ctl", "--api-socket", c->sock, "status", NULL };
	struct json_object *o, *mem, *thp, *regions, *r0, *v;
	struct e2e_result r;
	uint64_t huge;

	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	o = json_tokener_parse(r.out);
	TEST_ASSERT(o && json_object_object_get_ex(o, "memory", &mem) &&
		    json_object_object_get_ex(mem, "thp", &thp) &&
		    json_object_object_get_ex(mem, "regions", &regions) &&
		    json_object_array_length(regions) == 1, "status: %s", r.out);
	TEST_ASSERT(!strcmp(jstr(thp, "mode"), "auto") && !strcmp(jstr(thp, "detail"), c->plan.why),
		    "thp: %s, want mode auto, detail '%s'", json_object_get_string(thp),
		    c->plan.why);
	TEST_ASSERT(json_object_object_get_ex(thp, "huge", &v) &&
		    json_object_get_boolean(v) == c->plan.huge, "thp.huge: %s",
		    json_object_get_string(thp));
	r0 = json_object_array_get_idx(regions, 0);
	TEST_ASSERT(json_object_object_get_ex(r0, "huge_bytes", &v), "no huge_bytes: %s",
		    json_object_get_string(r0));
	huge = json_object_get_uint64(v);
	if (c->plan.huge)
		TEST_ASSERT(huge >= (uint64_t)RAM_MB * 9 / 10 << 20, "huge_bytes %llu of %uM",
			    (unsigned long long)huge, RAM_MB);
	else
		TEST_ASSERT(huge == 0, "huge_bytes %llu, want 0", (unsigned long long)huge);
	json_object_put(o);
	e2e_free(&r);
	c->checked = true;
}

static void case_status(const void *unused)
{
	struct status_ctx c = { .checked = false };
	char group[64];
	const char *args[] = { "run", "--api-socket", c.sock, "--memory", group,
			       "--cmdline", "tick=20", NULL };
	struct e2e_opts o = {
		.signal_when = "memvmm-guest: tick n=2",
		.sig = SIGTERM,
		.when = check_status,
		.hook_arg = &c,
	};
	struct e2e_result r;

	e2e_require_kvm();
	TEST_ASSERT(host_plan(MEM_THP_AUTO, &mem_backend_anon, &c.plan) == 0, "plan");
	snprintf(c.sock, sizeof(c.sock), "/tmp/memvmm-e2e-thp-%d.sock", (int)getpid());
	snprintf(group, sizeof(group), "size=%uM,backend=anon", RAM_MB);
	e2e_run(args, &o, &r);
	TEST_ASSERT(c.checked, "status was never asked (exit %d):\n%s\n%s", r.status, r.out, r.err);
	E2E_EXPECT_STATUS(&r, 128 + SIGTERM);
	printf("ok - status: thp mode auto, '%s', region huge bytes as planned\n", c.plan.why);
	e2e_free(&r);
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "anon-auto", case_anon_auto, NULL },
		{ "anon-off", case_anon_off, NULL },
		{ "memfd-auto", case_memfd_auto, NULL },
		{ "hugetlb", case_hugetlb, NULL },
		{ "gmem-on", case_gmem_on, NULL },
		{ "status", case_status, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
