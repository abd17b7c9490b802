// SPDX-License-Identifier: MIT
/*
 * Snapshots with devices (virtio-mem, virtio-balloon), the lazy and map
 * restores' corner cases (a snapshot of a VM still being filled, memory
 * files truncated under a running restore), and a guest written outside
 * the project (tests/e2e_snapshot.c lists the cases).
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/e2e_snapshot.h"
#include "tests/test.h"

#define VMEM_PLUG_BYTES     (256 * SNAP_MB)
#define BALLOON_BYTES       (64 * SNAP_MB)
#define RESNAP_RAM_BYTES    (512 * SNAP_MB)
#define RESNAP_TOUCH_BYTES  (400 * SNAP_MB)
#define TRUNC_RAM_BYTES     (256 * SNAP_MB)
#define TRUNC_WAIT_S        120    /* the truncating child: lease-break-time is 45 s */
#define EXT_FIRST_ROUND     3      /* the live snapshot is taken after this round */
#define EXT_ROUNDS          30

/* A restore that did not start: skip (note in skipped) if the mode is not possible here. */
static void not_started(struct e2e_gated *g, const char *spec, bool may_skip, char *skipped)
{
	char *all = e2e_gated_output(g);
	const char *p = strstr(all, "is not possible with");

	if (g->status == 1 && p && may_skip) {
		snap_skip_add(skipped, spec, "memvmm says the mode is not possible on this host");
		free(all);
		e2e_gated_end(g);
		return;
	}
	TEST_ASSERT(false, "--restore %s: exit %d before the guest went on:\n%s", spec, g->status,
		    all);
}

/* userfaultfd restores may be missing here (MOVE before 6.8, no userfaultfd for us). */
static bool lazy_may_skip(const char *mode)
{
	return !strcmp(mode, "lazy-move") || (!strncmp(mode, "lazy-", 5) && !snap_uffd_usable());
}

/* No second boot in a restored VM's output. */
static void expect_no_boot(struct e2e_gated *g, const char *first_step)
{
	char *out = e2e_slurp(g->out);

	TEST_ASSERT(!e2e_count_lines(out, "start") && !e2e_count_lines(out, first_step),
		    "the restored guest booted again:\n%s", out);
	free(out);
}

/* ---- vmem: plugged memory and the device across a restore ------------------------------ */

static struct json_object *vmem_status(const struct e2e_gated *g, struct json_object **all)
{
	*all = snap_ctl(g, 0, "status", NULL);
	return e2e_jobj(*all, "virtio_mem");
}

static void expect_vmem(const struct e2e_gated *g, uint64_t requested, uint64_t plugged)
{
	struct json_object *all, *vm = vmem_status(g, &all);

	TEST_ASSERT(e2e_ju64(vm, "requested") == requested && e2e_ju64(vm, "plugged") == plugged,
		    "want requested %lluM plugged %lluM: %s",
		    (unsigned long long)(requested / SNAP_MB),
		    (unsigned long long)(plugged / SNAP_MB), json_object_to_json_string(vm));
	json_object_put(all);
}

static void vmem_restored(const char *dir, const char *mode, char *skipped)
{
	char spec[SNAP_PATH_MAX + 32], line[SNAP_LINE_BYTES], restored[SNAP_LINE_BYTES];
	const char *req0[] = { "requested=0", NULL };
	struct json_object *o;
	struct e2e_gated g;

	snprintf(spec, sizeof(spec), "path=%s,mode=%s", dir, mode);
	if (!snap_restore_start(&g, spec, NULL)) {
		not_started(&g, spec, lazy_may_skip(mode), skipped);
		return;
	}
	/* The device as saved: 256M plugged. */
	expect_vmem(&g, VMEM_PLUG_BYTES, VMEM_PLUG_BYTES);
	e2e_gated_send(&g);
	e2e_gated_line(&g, "vmem-touch", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "bad") == 0 && e2e_key(line, "nonzero") == 0 &&
		    e2e_key(line, "fresh") == 0 && e2e_key(line, "pages") ==
		    VMEM_PLUG_BYTES / SNAP_PAGE_BYTES, "plugged memory after the restore: %s",
		    line);
	/* The restored device serves an unplug. */
	o = snap_ctl(&g, 0, "virtio-mem", req0);
	TEST_ASSERT(e2e_ju64(o, "requested") == 0, "%s", json_object_to_json_string(o));
	json_object_put(o);
	e2e_gated_line(&g, "vmem-unplug", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "bytes") == VMEM_PLUG_BYTES && e2e_key(line, "nack") == 0 &&
		    e2e_key(line, "error") == 0 && e2e_key(line, "plugged") == 0, "%s", line);
	e2e_gated_line(&g, "vmem-state", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "mismatch") == 0 && e2e_key(line, "ranges_plugged") == 0, "%s",
		    line);
	expect_vmem(&g, 0, 0);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	expect_no_boot(&g, "vmem-info");
	TEST_ASSERT(snap_restored_line(&g, restored), "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	printf("ok - %s: 256M plugged after the restore, read back intact, unplugged through the "
	       "restored device, status plugged 0\n  %s\n", mode, restored);
}

void case_vmem(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--virtio-mem",
			       "size=1G,requested=256M", "--cmdline",
			       "vmem-info vmem-plug vmem-touch read=1 vmem-touch vmem-wait=0 "
			       "vmem-unplug vmem-state read=1 exit=0", NULL };
	const char *stop[] = { "stop=on", NULL };
	char dir[SNAP_PATH_MAX], line[SNAP_LINE_BYTES], skipped[SNAP_LINE_BYTES] = "";
	struct snap_taken t;
	struct e2e_gated g;

	snap_require_backend(&mem_backend_anon, 0);
	snap_path(dir, snap_tmpdir(), "s");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "vmem-touch", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "bad") == 0 && e2e_key(line, "pages") ==
		    VMEM_PLUG_BYTES / SNAP_PAGE_BYTES, "%s", line);
	expect_vmem(&g, VMEM_PLUG_BYTES, VMEM_PLUG_BYTES);
	snap_take(&g, dir, stop, &t);
	TEST_ASSERT(t.nr_regions >= 2 && t.bytes >= VMEM_PLUG_BYTES, "a snapshot with 256M "
		    "plugged: %u regions, %llu bytes", t.nr_regions, (unsigned long long)t.bytes);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	printf("ok - snapshot with 256M plugged: %u regions, %lluM\n", t.nr_regions,
	       (unsigned long long)(t.bytes / SNAP_MB));
	vmem_restored(dir, "eager", skipped);
	vmem_restored(dir, "lazy-copy", skipped);
	snap_skips_end(skipped);
}

/* ---- balloon: inflated pages and the device across a restore -------------------------- */

static void expect_balloon(const struct e2e_gated *g, uint64_t bytes)
{
	struct json_object *all = snap_ctl(g, 0, "status", NULL), *bo = e2e_jobj(all, "balloon");

	TEST_ASSERT(e2e_ju64(bo, "actual") == bytes && e2e_ju64(bo, "inflated") == bytes,
		    "want %lluM inflated: %s", (unsigned long long)(bytes / SNAP_MB),
		    json_object_to_json_string(bo));
	json_object_put(all);
}

void case_balloon(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--balloon", "on",
			       "--cmdline", "touch=16M balloon-inflate=64M read=1 "
			       "balloon-deflate=64M verify exit=0", NULL };
	const char *stop[] = { "stop=on", NULL };
	char dir[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 16], line[SNAP_LINE_BYTES];
	char restored[SNAP_LINE_BYTES];
	struct snap_taken t;
	struct e2e_gated g;

	snap_require_backend(&mem_backend_anon, 0);
	snap_path(dir, snap_tmpdir(), "s");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "balloon-inflate", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "bytes") == BALLOON_BYTES &&
		    e2e_key(line, "inflated") == BALLOON_BYTES / SNAP_PAGE_BYTES, "%s", line);
	expect_balloon(&g, BALLOON_BYTES);
	snap_take(&g, dir, stop, &t);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);

	snprintf(spec, sizeof(spec), "path=%s", dir);
	TEST_ASSERT(snap_restore_start(&g, spec, NULL), "--restore %s: exit %d:\n%s", spec,
		    g.status, e2e_gated_output(&g));
	expect_balloon(&g, BALLOON_BYTES);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_line(&g, "balloon-deflate", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "bytes") == BALLOON_BYTES && e2e_key(line, "inflated") == 0 &&
		    e2e_key(line, "bad") == 0, "deflate after the restore: %s", line);
	snap_expect_verifies(&g, 1);
	expect_no_boot(&g, "touch");
	TEST_ASSERT(snap_restored_line(&g, restored), "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	printf("ok - balloon: 64M inflated in a snapshot of %lluM; restored with actual and "
	       "inflated 64M; the guest deflated through the restored device, its memory intact\n"
	       "  %s\n", (unsigned long long)(t.bytes / SNAP_MB), restored);
}

/* ---- lazy-resnap: a snapshot of a VM whose lazy fill has not run (CH #8525) ------------- */

/* A lazy restore with background=off: started, or skip naming why not. */
static void start_on_demand(struct e2e_gated *g, const char *dir)
{
	char spec[SNAP_PATH_MAX + 64];
	char *all;

	snprintf(spec, sizeof(spec), "path=%s,mode=lazy-copy,background=off", dir);
	if (snap_restore_start(g, spec, NULL))
		return;
	all = e2e_gated_output(g);
	TEST_REQUIRE(!(g->status == 2 && strstr(all, "background")),
		     "this memvmm does not take --restore background=off");
	TEST_REQUIRE(!(g->status == 1 && strstr(all, "is not possible with") &&
		       !snap_uffd_usable()), "userfaultfd is not usable by this process");
	TEST_ASSERT(false, "--restore %s: exit %d:\n%s", spec, g->status, all);
}

void case_lazy_resnap(const void *unused)
{
	const char *stop[] = { "stop=on", NULL };
	char s1[SNAP_PATH_MAX], s2[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 16], line[SNAP_LINE_BYTES];
	const char *args[] = { "--memory", "size=512M,backend=anon", "--cmdline",
			       "touch=400M read=1 verify report exit=0", NULL };
	struct snap_rt rt = { .spec = spec, .sends = 1, .verifies = 1, .want_report = true };
	struct snap_taken t1, t2;
	struct e2e_gated g;
	const char *tmp;
	char *out;

	snap_require_backend(&mem_backend_anon, 0);
	tmp = snap_tmpdir();
	snap_path(s1, tmp, "s1");
	snap_path(s2, tmp, "s2");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, s1, NULL, &t1);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	snap_expect_verifies(&g, 1);
	rt.report = snap_report(&g);
	e2e_gated_end(&g);

	/* Restored on demand only, and snapshotted before the guest touched anything. */
	start_on_demand(&g, s1);
	snap_take(&g, s2, stop, &t2);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	out = e2e_slurp(g.out);
	TEST_ASSERT(!strstr(out, "memvmm-guest:"), "the guest ran on:\n%s", out);
	free(out);
	e2e_gated_end(&g);
	TEST_ASSERT(t2.pending_pages > 0 && t2.pending_pages <= RESNAP_RAM_BYTES / SNAP_PAGE_BYTES,
		    "pending_pages %llu: a snapshot right after an on-demand restore must copy "
		    "pages the guest never fetched from the parent file",
		    (unsigned long long)t2.pending_pages);
	TEST_ASSERT(t2.ram_data_bytes >= RESNAP_TOUCH_BYTES, "the second snapshot has %lluM of "
		    "RAM data; the guest had touched %lluM (pages lost: CH #8525)",
		    (unsigned long long)(t2.ram_data_bytes / SNAP_MB),
		    (unsigned long long)(RESNAP_TOUCH_BYTES / SNAP_MB));

	snprintf(spec, sizeof(spec), "path=%s,mode=eager", s2);
	snap_restore_check(&rt);
	printf("ok - 512M guest restored on demand and snapshotted at once: pending_pages %llu, "
	       "%lluM of RAM data; that snapshot restored eagerly: verify bad=0, report as the "
	       "original's\n  %s\n", (unsigned long long)t2.pending_pages,
	       (unsigned long long)(t2.ram_data_bytes / SNAP_MB), rt.restored);
}

/* ---- truncate-lazy / truncate-map: the memory file cut under a running restore -------- */

void case_truncate_lazy(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--cmdline",
			       "touch=200M read=1 verify report exit=0", NULL };
	const char *stop[] = { "stop=on", NULL };
	char dir[SNAP_PATH_MAX], mem[SNAP_PATH_MAX], line[SNAP_LINE_BYTES];
	struct snap_taken t;
	struct e2e_gated g;
	char *out, *err, *msg;
	int status;

	snap_require_backend(&mem_backend_anon, 0);
	snap_path(dir, snap_tmpdir(), "s");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	TEST_ASSERT(e2e_key(line, "last") >= TRUNC_RAM_BYTES / 2, "the touched pages must reach "
		    "past half of RAM: %s", line);
	snap_take(&g, dir, stop, &t);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);

	start_on_demand(&g, dir);
	TEST_ASSERT(truncate(snap_path(mem, dir, "mem-0.raw"), TRUNC_RAM_BYTES / 2) == 0,
		    "truncate %s", mem);
	e2e_gated_send(&g);
	status = e2e_gated_wait(&g, SNAP_EXIT_S);   /* asserts: not killed by a signal */
	out = e2e_slurp(g.out);
	err = e2e_slurp(g.err);
	TEST_ASSERT(status == 1 && strstr(err, "lazy restore") && strstr(err, "memory file") &&
		    !strstr(err, "Bus error") && !e2e_count_lines(out, "report"),
		    "exit %d, want 1 with a message about the lazy restore's memory file:\n%s\n"
		    "--- stderr:\n%s", status, out, err);
	msg = strstr(err, "lazy restore");
	printf("ok - mem-0.raw truncated to half under an on-demand restore: exit 1, no signal: "
	       "%.*s\n", (int)strcspn(msg, "\n"), msg);
	free(out);
	free(err);
	e2e_gated_end(&g);
}

/* Fork a child that truncates path to 0 (it may block on memvmm's lease). */
static pid_t truncate_child(const char *path)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0)
		_exit(truncate(path, 0) ? 1 : 0);
	return pid;
}

static int child_wait(pid_t pid, int timeout_s)
{
	double deadline = e2e_now_s() + timeout_s;
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (e2e_now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			TEST_ASSERT(false, "the truncating child did not finish within %d s",
				    timeout_s);
		}
		e2e_sleep_ms(20);
	}
	TEST_ASSERT(r == pid, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void case_truncate_map(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--cmdline",
			       "touch=96M read=1 verify bump verify report exit=0", NULL };
	char dir[SNAP_PATH_MAX], mem[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 16];
	char line[SNAP_LINE_BYTES], restored[SNAP_LINE_BYTES], mode[32];
	struct snap_taken t;
	struct e2e_gated g;
	uint64_t report;
	struct stat st;
	double t0, t_child;
	pid_t child;

	snap_require_backend(&mem_backend_anon, 0);
	snap_path(dir, snap_tmpdir(), "s");
	snap_path(mem, dir, "mem-0.raw");
	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, dir, NULL, &t);
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "%s", e2e_gated_output(&g));
	report = snap_report(&g);
	e2e_gated_end(&g);

	snprintf(spec, sizeof(spec), "path=%s,mode=map", dir);
	TEST_ASSERT(snap_restore_start(&g, spec, NULL), "--restore %s: exit %d:\n%s", spec,
		    g.status, e2e_gated_output(&g));
	t0 = e2e_now_s();
	child = truncate_child(mem);
	/* The guest reads all it touched: memvmm let go of the file without losing any of it. */
	e2e_gated_send(&g);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "a map restore whose file was truncated:"
		    "\n%s", e2e_gated_output(&g));
	TEST_ASSERT(child_wait(child, TRUNC_WAIT_S) == 0, "truncate(2) of %s failed", mem);
	t_child = e2e_now_s() - t0;
	snap_expect_verifies(&g, 2);
	TEST_ASSERT(snap_report(&g) == report, "report after the truncation differs from the "
		    "original's");
	expect_no_boot(&g, "touch");
	TEST_ASSERT(snap_restored_line(&g, restored) &&
		    !strcmp(snap_restored_mode(restored, mode), "map"), "%s", e2e_gated_output(&g));
	e2e_gated_end(&g);
	TEST_ASSERT(stat(mem, &st) == 0 && st.st_size == 0, "%s: %lld bytes after the truncate",
		    mem, (long long)st.st_size);
	printf("ok - map restore, mem-0.raw truncated to 0 by another process (done %.2f s after "
	       "it started): verify bad=0 twice, report as the original's, no SIGBUS\n  %s\n",
	       t_child, restored);
}

/* ---- ext-guest: a guest written outside the project ------------------------------------- */

/* The round lines of a restored ext_guest: consecutive, the first after EXT_FIRST_ROUND. */
static unsigned long ext_check_rounds(const char *out, const char *what)
{
	unsigned long first = 0, last = 0, n;
	const char *p;
	char *end;

	TEST_ASSERT(!strstr(out, " BAD ") && !strstr(out, "ext: start") &&
		    !strstr(out, "ext: filled"), "%s: a bad page or a second boot:\n%s", what, out);
	for (p = out; (p = strstr(p, "ext: round ")); p++) {
		if (p != out && p[-1] != '\n')
			continue;
		n = strtoul(p + strlen("ext: round "), &end, 10);
		TEST_ASSERT(!last || n == last + 1, "%s: round %lu after %lu:\n%s", what, n, last,
			    out);
		TEST_ASSERT(!strncmp(end, " ok ", 4), "%s: round %lu not ok:\n%s", what, n, out);
		if (!first)
			first = n;
		last = n;
	}
	TEST_ASSERT(first > EXT_FIRST_ROUND && last == EXT_ROUNDS && strstr(out, "ext: done"),
		    "%s: rounds %lu..%lu, want from after %d to %d and 'ext: done':\n%s", what,
		    first, last, EXT_FIRST_ROUND, EXT_ROUNDS, out);
	return first;
}

static void ext_backend(const char *elf, const struct mem_backend_ops *b,
			const char *const *modes, char *skipped)
{
	char mem[64], dir[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 32], cmdline[64], want[32];
	char restored[SNAP_LINE_BYTES], mode[32];
	const char *args[] = { "--kernel", elf, "--cmdline", cmdline, "--memory", mem, NULL };
	struct snap_taken t;
	struct e2e_gated g;
	char *out;

	snprintf(mem, sizeof(mem), "size=256M,backend=%s", b->name);
	snprintf(cmdline, sizeof(cmdline), "mb=64 rounds=%d", EXT_ROUNDS);
	snprintf(want, sizeof(want), "ext: round %d ok", EXT_FIRST_ROUND);
	snap_path(dir, snap_tmpdir(), b->name);
	e2e_gated_start(&g, args, NULL);
	snap_wait_out(&g, want, SNAP_STEP_S);
	snap_take(&g, dir, NULL, &t);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "ext_guest, original run:\n%s",
		    e2e_gated_output(&g));
	out = e2e_slurp(g.out);
	TEST_ASSERT(strstr(out, "ext: done") && !strstr(out, " BAD "), "%s", out);
	free(out);
	e2e_gated_end(&g);

	for (; *modes; modes++) {
		const char *rargs[] = { "--restore", spec, NULL };
		unsigned long first;
		int status;

		snprintf(spec, sizeof(spec), "path=%s,mode=%s", dir, *modes);
		e2e_gated_start(&g, rargs, NULL);
		status = e2e_gated_wait(&g, SNAP_EXIT_S);
		out = e2e_gated_output(&g);
		if (status == 1 && strstr(out, "is not possible with") && lazy_may_skip(*modes)) {
			snap_skip_add(skipped, spec, "memvmm says the mode is not possible here");
			free(out);
			e2e_gated_end(&g);
			continue;
		}
		TEST_ASSERT(status == 0, "ext_guest restored with %s: exit %d:\n%s", spec, status,
			    out);
		free(out);
		out = e2e_slurp(g.out);
		first = ext_check_rounds(out, spec);
		free(out);
		TEST_ASSERT(snap_restored_line(&g, restored) &&
			    !strcmp(snap_restored_mode(restored, mode), *modes), "%s",
			    e2e_gated_output(&g));
		e2e_gated_end(&g);
		printf("ok - ext_guest on %s, mode %s: went on at round %lu, rounds to %d ok, "
		       "done\n  %s\n", b->name, *modes, first, EXT_ROUNDS, restored);
	}
}

void case_ext_guest(const void *unused)
{
	static const char *const anon_modes[] = { "eager", "map", "lazy-copy", "lazy-move", NULL };
	static const char *const memfd_modes[] = { "eager", "lazy-minor", NULL };
	const char *elf = getenv("EXT_GUEST_ELF");
	char skipped[SNAP_LINE_BYTES] = "";

	TEST_REQUIRE(elf && *elf, "EXT_GUEST_ELF is not set (tests/ext_guest/ is not built here)");
	e2e_require_kvm();
	ext_backend(elf, &mem_backend_anon, anon_modes, skipped);
	ext_backend(elf, &mem_backend_memfd, memfd_modes, skipped);
	snap_skips_end(skipped);
}
