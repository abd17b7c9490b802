// SPDX-License-Identifier: MIT
/*
 * Snapshot round trips of the test guest (tests/e2e_snapshot.c lists the
 * cases): every backend x restore mode, modes a backend cannot do, diff
 * chains, and the control socket's refusals.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/e2e_snapshot.h"
#include "tests/hugepages.h"
#include "tests/test.h"

#define RT_RAM_BYTES        (256 * SNAP_MB)
#define RT_TOUCH_BYTES      (96 * SNAP_MB)
#define RT_HUGE_PAGES       (RT_RAM_BYTES / SNAP_HUGE_BYTES + 8)
#define SMALL_TOUCH_BYTES   (16 * SNAP_MB)
#define DIFF_TOUCH_BYTES    (64 * SNAP_MB)
/*
 * A diff holds the pages the guest bumped plus what else it wrote between
 * the gates (its stack, console buffer, page tables): a few dozen pages.
 */
#define DIFF_SLACK_PAGES    1024

static bool is_lazy(const char *mode)
{
	return !strncmp(mode, "lazy-", 5);
}

/* Skip on "not possible" where the host may lack it: MOVE (6.8+), or no userfaultfd for us. */
static bool may_be_impossible(const char *mode)
{
	return !strcmp(mode, "lazy-move") || (is_lazy(mode) && !snap_uffd_usable());
}

/*
 * Boot the test guest with cmdline on backend b (ram: size in MiB), wait
 * for its first touch line, take a live snapshot to dir, let it finish:
 * exit 0, every verify bad=0; *report its checksum when it prints one.
 */
static void original_run(const struct mem_backend_ops *b, uint64_t ram, const char *cmdline,
			 unsigned int sends, const char *dir, struct snap_taken *t,
			 uint64_t *report)
{
	char mem[96], line[SNAP_LINE_BYTES];
	const char *args[] = { "--memory", mem, "--cmdline", cmdline, NULL };
	struct e2e_gated g;
	char *out;

	snprintf(mem, sizeof(mem), "size=%lluM,backend=%s", (unsigned long long)(ram / SNAP_MB),
		 b->name);
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, dir, NULL, t);
	for (unsigned int i = 1; i <= sends; i++) {
		e2e_gated_send(&g);
		e2e_gated_line(&g, "read", i, line, sizeof(line), SNAP_STEP_S);
	}
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "the original run:\n%s",
		    e2e_gated_output(&g));
	out = e2e_slurp(g.out);
	snap_expect_verifies(&g, e2e_count_lines(out, "verify"));
	free(out);
	if (report)
		*report = snap_report(&g);
	e2e_gated_end(&g);
}

/* ---- rt-BACKEND-MODE ---------------------------------------------------------- */

/* What auto must pick: eager where userfaultfd cannot serve the backend, else a lazy mode. */
static bool auto_ok(const struct mem_backend_ops *b, const char *used)
{
	if (b == &mem_backend_guest_memfd || b == &mem_backend_hugetlb || !snap_uffd_usable())
		return !strcmp(used, "eager");
	if (b == &mem_backend_anon)
		return !strcmp(used, "lazy-move") || !strcmp(used, "lazy-copy");
	return !strcmp(used, "lazy-minor");
}

void case_rt(const void *arg)
{
	const struct snap_rt_case *c = arg;
	const struct mem_backend_ops *b = c->backend;
	char dir[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 32], on[64];
	struct snap_rt rt = { .spec = spec, .sends = 1, .verifies = 2, .want_report = true };
	struct snap_taken t;
	const char *tmp;

	snap_require_backend(b, RT_HUGE_PAGES);
	tmp = snap_tmpdir();
	snap_path(dir, tmp, "s");
	original_run(b, RT_RAM_BYTES, "touch=96M read=1 verify bump verify report exit=0", 1, dir,
		     &t, &rt.report);
	TEST_ASSERT(t.ram_data_bytes >= RT_TOUCH_BYTES && t.ram_data_bytes <= RT_RAM_BYTES,
		    "RAM's data: %llu bytes; the guest touched %llu",
		    (unsigned long long)t.ram_data_bytes, (unsigned long long)RT_TOUCH_BYTES);

	snprintf(spec, sizeof(spec), "path=%s,mode=%s", dir, c->mode);
	rt.skip_not_possible = may_be_impossible(c->mode);
	snap_restore_check(&rt);
	snprintf(on, sizeof(on), ": %lluM on %s, mode ",
		 (unsigned long long)(RT_RAM_BYTES / SNAP_MB), b->name);
	TEST_ASSERT(strstr(rt.restored, on), "restored line lacks '%s': %s", on, rt.restored);
	if (strcmp(c->mode, "auto"))
		TEST_ASSERT(!strcmp(rt.mode, c->mode), "asked for %s, used %s: %s", c->mode,
			    rt.mode, rt.restored);
	else
		TEST_ASSERT(strstr(rt.restored, "(auto") && auto_ok(b, rt.mode),
			    "auto on %s picked %s: %s", b->name, rt.mode, rt.restored);
	if (b == &mem_backend_hugetlb)
		hugepages_restore();
	printf("ok - %s, mode %s: live snapshot %lluM (paused %.1f ms, %.1f ms in all); restored "
	       "in mode %s, first guest instruction %.2f ms after start; verify bad=0 twice, "
	       "report 0x%016llx as the original's\n  %s\n", b->name, c->mode,
	       (unsigned long long)(t.bytes / SNAP_MB), t.paused_ms, t.ms, rt.mode, rt.first_ms,
	       (unsigned long long)rt.report, rt.restored);
}

/* ---- refuse-modes ------------------------------------------------------------------ */

static void restore_refused(const char *dir, const char *mode, const char *backend,
			    const char *want, const char *want2, const char *what)
{
	char spec[SNAP_PATH_MAX + 32], mem[64];
	const char *args[] = { "run", "--restore", spec, backend ? "--memory" : NULL, mem, NULL };

	snprintf(spec, sizeof(spec), "path=%s,mode=%s", dir, mode);
	snprintf(mem, sizeof(mem), "backend=%s", backend ? backend : "");
	snap_expect_refused(args, 1, want, want2, what);
}

void case_refuse_modes(const void *unused)
{
	char anon[SNAP_PATH_MAX], memfd[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 32];
	char skipped[SNAP_LINE_BYTES] = "";
	const char *to_memfd[] = { "--memory", "backend=memfd", NULL };
	struct snap_rt rt = { .spec = spec, .extra = to_memfd, .sends = 1, .verifies = 1,
			      .want_report = true };
	const char *cmdline = "touch=16M read=1 verify report exit=0";
	struct snap_taken ta, tm;
	const char *tmp;

	snap_require_backend(&mem_backend_anon, 0);
	tmp = snap_tmpdir();
	original_run(&mem_backend_anon, RT_RAM_BYTES, cmdline, 1, snap_path(anon, tmp, "anon"),
		     &ta, &rt.report);
	original_run(&mem_backend_memfd, RT_RAM_BYTES, cmdline, 1, snap_path(memfd, tmp, "memfd"),
		     &tm, NULL);

	restore_refused(anon, "lazy-minor", "anon", "is not possible with anon", "lazy-minor",
			"mode=lazy-minor on anon RAM");
	restore_refused(anon, "map", "memfd", "mode=map", "memfd", "mode=map on memfd RAM");
	restore_refused(memfd, "map", NULL, "mode=map", "memfd",
			"mode=map of a memfd snapshot (saved backend)");
	if (hugepages_save() && hugepages_reserve(RT_HUGE_PAGES)) {
		restore_refused(memfd, "lazy-copy", "hugetlb", "is not possible with hugetlb",
				"lazy-copy", "mode=lazy-copy on hugetlb RAM");
		hugepages_restore();
	} else {
		char why[96];

		snprintf(why, sizeof(why), "cannot make %llu 2 MiB huge pages free",
			 (unsigned long long)RT_HUGE_PAGES);
		snap_skip_add(skipped, "lazy-copy on hugetlb", why);
	}
	if (e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED) == 0)
		restore_refused(anon, "lazy-copy", "guest_memfd", "userfaultfd", "guest_memfd",
				"mode=lazy-copy on guest_memfd RAM");
	else
		snap_skip_add(skipped, "lazy-copy on guest_memfd",
			      "guest_memfd with MMAP|INIT_SHARED is not available on this host");

	/* Another backend than saved: the anon snapshot into memfd, eagerly. */
	snprintf(spec, sizeof(spec), "path=%s,mode=eager", anon);
	snap_restore_check(&rt);
	TEST_ASSERT(strstr(rt.restored, " on memfd, mode eager"), "%s", rt.restored);
	printf("ok - the anon snapshot restored into memfd RAM, eagerly: verify bad=0, report as "
	       "the original's\n  %s\n", rt.restored);
	snap_skips_end(skipped);
}

/* ---- diff-chain ------------------------------------------------------------------- */

/* A diff's reply: the bumped pages and little else, out of all of RAM's. */
static void expect_diff(const struct snap_taken *t, uint64_t bumped, const char *what)
{
	const uint64_t ram_pages = RT_RAM_BYTES / SNAP_PAGE_BYTES;

	TEST_ASSERT(t->ram_dirty_pages >= bumped &&
		    t->ram_dirty_pages <= bumped + DIFF_SLACK_PAGES &&
		    t->ram_dirty_pages < ram_pages / 4,
		    "%s: %llu dirty pages; the guest bumped %llu of RAM's %llu", what,
		    (unsigned long long)t->ram_dirty_pages, (unsigned long long)bumped,
		    (unsigned long long)ram_pages);
	TEST_ASSERT(t->ram_data_bytes >= bumped * SNAP_PAGE_BYTES &&
		    t->ram_data_bytes <= t->ram_dirty_pages * SNAP_PAGE_BYTES,
		    "%s: %llu bytes of RAM data for %llu dirty pages (%llu bumped)", what,
		    (unsigned long long)t->ram_data_bytes, (unsigned long long)t->ram_dirty_pages,
		    (unsigned long long)bumped);
}

static void chain_run(const char *tmp, const char *s0, const char *s1, const char *s2,
		      struct snap_taken t[3], uint64_t *report)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--cmdline",
			       "touch=64M read=1 bump read=1 bump read=1 verify report exit=0",
			       NULL };
	char p0[SNAP_PATH_MAX + 8], p1[SNAP_PATH_MAX + 8], x[SNAP_PATH_MAX + 8];
	char xdir[SNAP_PATH_MAX], line[SNAP_LINE_BYTES];
	const char *diff0[] = { p0, NULL }, *diff1[] = { p1, NULL };
	const char *stale[] = { x, p0, NULL }, *gone[] = { x, "parent=/nonexistent/snap", NULL };
	uint64_t bumped;
	struct e2e_gated g;

	snprintf(p0, sizeof(p0), "parent=%s", s0);
	snprintf(p1, sizeof(p1), "parent=%s", s1);
	snprintf(x, sizeof(x), "dir=%s", snap_path(xdir, tmp, "refused"));
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, s0, NULL, &t[0]);
	TEST_ASSERT(t[0].ram_data_bytes >= DIFF_TOUCH_BYTES, "full snapshot: %llu bytes of RAM "
		    "data", (unsigned long long)t[0].ram_data_bytes);

	e2e_gated_send(&g);
	e2e_gated_line(&g, "bump", 1, line, sizeof(line), SNAP_STEP_S);
	bumped = e2e_key(line, "pages");
	TEST_ASSERT(bumped == DIFF_TOUCH_BYTES / SNAP_PAGE_BYTES / 2, "%s", line);
	snap_take(&g, s1, diff0, &t[1]);
	expect_diff(&t[1], bumped, "diff 1");
	/* Refused diffs leave the chain as it was: the next diff of s1 still works. */
	snap_take_fails(&g, stale, "not the last snapshot", xdir);
	snap_take_fails(&g, gone, "/nonexistent/snap", xdir);

	e2e_gated_send(&g);
	e2e_gated_line(&g, "bump", 2, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, s2, diff1, &t[2]);
	expect_diff(&t[2], bumped, "diff 2");

	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "the original run:\n%s",
		    e2e_gated_output(&g));
	snap_expect_verifies(&g, 1);
	*report = snap_report(&g);
	e2e_gated_end(&g);
}

void case_diff_chain(const void *unused)
{
	char chain[SNAP_PATH_MAX], moved[SNAP_PATH_MAX], s[3][SNAP_PATH_MAX];
	char spec[SNAP_PATH_MAX + 32], skipped[SNAP_LINE_BYTES] = "", why[SNAP_LINE_BYTES] = "";
	struct snap_rt rt = { .spec = spec, .sends = 1, .verifies = 1, .want_report = true };
	struct snap_taken t[3];
	const char *tmp;

	snap_require_backend(&mem_backend_anon, 0);
	tmp = snap_tmpdir();
	TEST_ASSERT(mkdir(snap_path(chain, tmp, "chain"), 0700) == 0, "mkdir");
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "s%d", i);
		snap_path(s[i], chain, name);
	}
	chain_run(tmp, s[0], s[1], s[2], t, &rt.report);
	printf("ok - chain: full %lluM, diffs %lluK (%llu dirty pages) and %lluK (%llu); parent= "
	       "of an older snapshot and of a missing one refused\n",
	       (unsigned long long)(t[0].bytes / SNAP_MB), (unsigned long long)(t[1].bytes >> 10),
	       (unsigned long long)t[1].ram_dirty_pages, (unsigned long long)(t[2].bytes >> 10),
	       (unsigned long long)t[2].ram_dirty_pages);

	/* The newest: the guest at gate 3, all three layers read. */
	snprintf(spec, sizeof(spec), "path=%s,mode=eager", s[2]);
	snap_restore_check(&rt);
	TEST_ASSERT(strstr(rt.restored, "(a chain of 3 snapshots)") && !strcmp(rt.mode, "eager"),
		    "%s", rt.restored);
	printf("ok - s2 eager: report as the original's\n  %s\n", rt.restored);
	snprintf(spec, sizeof(spec), "path=%s,mode=lazy-copy", s[2]);
	rt.skip_not_possible = may_be_impossible("lazy-copy");
	rt.skipped = why;
	if (snap_restore_check(&rt)) {
		TEST_ASSERT(strstr(rt.restored, "(a chain of 3 snapshots)") &&
			    !strcmp(rt.mode, "lazy-copy"), "%s", rt.restored);
		printf("ok - s2 lazy-copy: report as the original's\n  %s\n", rt.restored);
	} else {
		snap_skip_add(skipped, "s2 in mode lazy-copy", why);
	}

	/* The middle one, from the chain moved elsewhere: parents found beside it. */
	TEST_ASSERT(rename(chain, snap_path(moved, tmp, "moved")) == 0, "rename");
	snap_path(s[1], moved, "s1");
	snprintf(spec, sizeof(spec), "path=%s", s[1]);
	rt.sends = 2;
	rt.skip_not_possible = false;
	rt.skipped = NULL;
	snap_restore_check(&rt);
	TEST_ASSERT(strstr(rt.restored, "(a chain of 2 snapshots)"), "%s", rt.restored);
	printf("ok - s1 (moved with its parent), mode %s: the guest at gate 2, bumped again, "
	       "report as the original's\n  %s\n", rt.mode, rt.restored);
	snap_skips_end(skipped);
}

/* ---- diff-refused-guest_memfd ------------------------------------------------------- */

void case_diff_refused_gmem(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=guest_memfd", "--cmdline",
			       "touch=16M read=1 verify exit=0", NULL };
	char s0[SNAP_PATH_MAX], s1[SNAP_PATH_MAX], s2[SNAP_PATH_MAX], line[SNAP_LINE_BYTES];
	char d1[SNAP_PATH_MAX + 8], p0[SNAP_PATH_MAX + 8];
	const char *diff[] = { d1, p0, NULL };
	struct snap_taken t0, t2;
	struct e2e_gated g;
	const char *tmp, *err;

	snap_require_backend(&mem_backend_guest_memfd, 0);
	tmp = snap_tmpdir();
	snap_path(s0, tmp, "s0");
	snap_path(s1, tmp, "s1");
	snap_path(s2, tmp, "s2");
	snprintf(d1, sizeof(d1), "dir=%s", s1);
	snprintf(p0, sizeof(p0), "parent=%s", s0);
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, s0, NULL, &t0);
	err = snap_take_fails(&g, diff, "guest_memfd", s1);
	TEST_ASSERT(strstr(err, "dirty"), "the refusal must give the dirty-log reason: %s", err);
	printf("ok - parent= on guest_memfd refused: %s\n", err);
	/* A full snapshot still works after the refusal. */
	snap_take(&g, s2, NULL, &t2);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	snap_expect_verifies(&g, 1);
	e2e_gated_end(&g);
	printf("ok - full snapshots of guest_memfd RAM before and after: %lluM, %lluM\n",
	       (unsigned long long)(t0.bytes / SNAP_MB), (unsigned long long)(t2.bytes / SNAP_MB));
}

/* ---- ctl-errors ---------------------------------------------------------------------- */

void case_ctl_errors(const void *unused)
{
	const char *args[] = { "--memory", "size=128M,backend=anon", "--cmdline",
			       "touch=8M read=1 verify exit=0", NULL };
	char line[SNAP_LINE_BYTES], tmpdir_arg[SNAP_PATH_MAX + 8], deep[SNAP_PATH_MAX];
	char deep_arg[SNAP_PATH_MAX + 8], a[SNAP_PATH_MAX], a_arg[SNAP_PATH_MAX + 8];
	char ok[SNAP_PATH_MAX];
	struct snap_taken t;
	struct e2e_gated g;
	const char *tmp, *err;

	snap_require_backend(&mem_backend_anon, 0);
	tmp = snap_tmpdir();
	snprintf(tmpdir_arg, sizeof(tmpdir_arg), "dir=%s", tmp);
	snap_path(deep, tmp, "no-such-parent/snap");
	snprintf(deep_arg, sizeof(deep_arg), "dir=%s", deep);
	snap_path(a, tmp, "a");
	snprintf(a_arg, sizeof(a_arg), "dir=%s", a);
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	{
		const char *none[] = { NULL }, *empty[] = { "dir=", NULL };
		const char *exists[] = { tmpdir_arg, NULL };
		const char *exists_stop[] = { tmpdir_arg, "stop=on", NULL };
		const char *parentless[] = { deep_arg, NULL };
		const char *stop_maybe[] = { a_arg, "stop=maybe", NULL };
		const char *verify_x[] = { a_arg, "verify=x", NULL };
		const char *unknown[] = { a_arg, "frobnicate=1", NULL };

		err = snap_take_fails(&g, none, "dir=", NULL);
		printf("ok - no dir=: %s\n", err);
		err = snap_take_fails(&g, empty, "dir=", NULL);
		printf("ok - dir= empty: %s\n", err);
		err = snap_take_fails(&g, exists, tmp, NULL);
		TEST_ASSERT(strstr(err, "exists"), "%s", err);
		printf("ok - dir= an existing directory: %s\n", err);
		err = snap_take_fails(&g, exists_stop, tmp, NULL);
		printf("ok - the same with stop=on: refused, the VM still runs\n");
		err = snap_take_fails(&g, parentless, deep, deep);
		printf("ok - dir= in a missing directory: %s\n", err);
		err = snap_take_fails(&g, stop_maybe, "'maybe'", a);
		printf("ok - stop=maybe: %s\n", err);
		err = snap_take_fails(&g, verify_x, "'x'", a);
		printf("ok - verify=x: %s\n", err);
		err = snap_take_fails(&g, unknown, "frobnicate", a);
		printf("ok - an unknown key: %s\n", err);
	}
	/* Nothing was left half-done: a snapshot works, and the guest goes on. */
	snap_take(&g, snap_path(ok, tmp, "ok"), NULL, &t);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	snap_expect_verifies(&g, 1);
	e2e_gated_end(&g);
	printf("ok - after the refusals a snapshot of %lluK was taken and the guest finished\n",
	       (unsigned long long)(t.bytes >> 10));
}
