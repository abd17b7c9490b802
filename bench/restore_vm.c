// SPDX-License-Identifier: MIT
/*
 * restore, part B (restore.h): memvmm itself, needs /dev/kvm.
 *
 * Per size and backend (anon, memfd, guest_memfd, hugetlb where the 2 MiB
 * pool already holds the RAM; the pool is never changed): the test guest
 * boots with RAM = size + 64M and `touch=SIZE read=1 verify exit=0`; once
 * it reported the touch (it then waits at its read gate) `ctl snapshot
 * dir=D stop=on` writes the snapshot and ends memvmm (the reply's ms and
 * bytes: the save). Then per restore mode, interleaved rounds:
 * `memvmm run --restore path=D,mode=M` with one byte ready on its stdin
 * (the guest passes its gate at once, verifies all it touched and exits):
 *   1st instr  memvmm's own "first guest instruction X ms after start"
 *   read all   that plus the guest's verify step (us=): until the guest
 *              has read all its memory
 *   total      the process's wall time (fork to reaped)
 * and, for lazy modes, when memvmm says the background fill finished.
 * A restore that ran the guest and then failed (bad pages, a wrong exit)
 * is a failure; one memvmm refused before the guest ran is "unsupported".
 */
#include "bench/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/guest_bench.h"
#include "bench/guest_proc.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "bench/vmem_plug.h"
#include "mem/mem.h"
#include "vmm/control.h"
#include "vmm/options.h"

#define RV_DIR               "/var/tmp"
#define RV_DEFAULT_REPEAT    3u
#define RV_BOOT_TIMEOUT_NS   (600ull * 1000000000ull)   /* boot, touch, snapshot, exit */
#define RV_CTL_TIMEOUT_MS    600000                      /* writing a 4G snapshot */
#define RV_RESTORE_TIMEOUT_S 600.0
#define RV_STEPS             "touch=%s read=1 verify exit=0"
#define RV_RESTORED_PREFIX   "memvmm: restored "
#define RV_MIB               (1024.0 * 1024.0)
#define RV_GB                1e9

#define RV_BIT(m) (1u << (m))

static const enum restore_mode rv_modes[] = {
	RESTORE_EAGER, RESTORE_MAP, RESTORE_LAZY_COPY, RESTORE_LAZY_MOVE, RESTORE_LAZY_MINOR,
	RESTORE_AUTO,
};
#define RV_NM (sizeof(rv_modes) / sizeof(rv_modes[0]))

/* Each backend with the restore modes it is run with. */
static const struct rv_backend {
	const char *name;
	unsigned int modes;
	bool hugetlb;
} rv_backends[] = {
	{ "anon", RV_BIT(RESTORE_EAGER) | RV_BIT(RESTORE_MAP) | RV_BIT(RESTORE_LAZY_COPY) |
	  RV_BIT(RESTORE_LAZY_MOVE) | RV_BIT(RESTORE_AUTO), false },
	{ "memfd", RV_BIT(RESTORE_EAGER) | RV_BIT(RESTORE_LAZY_MINOR) | RV_BIT(RESTORE_AUTO),
	  false },
	{ "guest_memfd", RV_BIT(RESTORE_EAGER) | RV_BIT(RESTORE_AUTO), false },
	{ "hugetlb", RV_BIT(RESTORE_EAGER) | RV_BIT(RESTORE_AUTO), true },
};
#define RV_NB (sizeof(rv_backends) / sizeof(rv_backends[0]))
#define RV_MAX_GROUPS (RS_MAX_SIZES * RV_NB)
#define RV_MAX_CASES (RV_MAX_GROUPS * RV_NM)

/* One size x backend: its snapshot, taken once. */
struct rv_group {
	uint64_t size;
	char sz[16];
	const struct rv_backend *b;
	char snap[PATH_MAX];
	int skip_err;
	char skip_why[160];
	uint64_t bytes;            /* the snapshot's reply: bytes written */
	double paused_ms;
	char fail[200];
};

struct rv_case {
	struct rv_group *g;
	enum restore_mode mode;
	int skip_err;
	char skip_why[160];
	double *fill_done;         /* per successful round: background fill done, ms after start */
	char used[16];             /* the mode memvmm used (auto) */
	char fail[200];
};

static struct {
	char memvmm[PATH_MAX];
	char base[64];             /* /var/tmp/memvmm-bench-restore-vm-XXXXXX */
	char sock[108];
	struct rv_group groups[RV_MAX_GROUPS];
	struct rv_case *vcs;
	double *fill_done;
} rv;

/* ---- the save: boot, touch, snapshot at the read gate ------------------------------- */

static double rv_json_num(json_object *j, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(j, key, &v) ? json_object_get_double(v) : NAN;
}

/* `ctl snapshot dir=D stop=on`: the reply's ms into *ms. */
static int rv_snapshot(struct rv_group *g, double *ms, char *why, size_t len)
{
	const char *keys[] = { "dir", "stop" }, *vals[] = { g->snap, "on" };
	char *reply = NULL;
	json_object *j = NULL, *ok, *err;
	int ret = control_request(rv.sock, "snapshot", 2, keys, vals, RV_CTL_TIMEOUT_MS, &reply);

	if (ret) {
		snprintf(why, len, "ctl snapshot: %s", strerror(-ret));
		return ret;
	}
	j = json_tokener_parse(reply);
	if (!j || !json_object_object_get_ex(j, "ok", &ok)) {
		snprintf(why, len, "ctl snapshot: not a reply: %.120s", reply);
		ret = -EPROTO;
	} else if (!json_object_get_boolean(ok)) {
		snprintf(why, len, "ctl snapshot: %.150s",
			 json_object_object_get_ex(j, "error", &err) ? json_object_get_string(err) :
			 reply);
		ret = -EIO;
	} else {
		*ms = rv_json_num(j, "ms");
		g->bytes = (uint64_t)rv_json_num(j, "bytes");
		g->paused_ms = rv_json_num(j, "paused_ms");
		if (isnan(*ms)) {
			snprintf(why, len, "ctl snapshot: no ms in %.120s", reply);
			ret = -EPROTO;
		}
	}
	json_object_put(j);
	free(reply);
	return ret;
}

static int rv_save_run(struct bench_case *c, double *m)
{
	struct rv_group *g = c->ctx;
	struct vp_cmd cmd = { .argc = 0 };
	struct guest_run r;
	char sz[32], steps[96], why[200] = "";
	uint64_t bytes = 0;
	int ret = guest_case_skipped(c, g->skip_err, g->skip_why);

	if (ret)
		return ret;
	bench_fmt_size(g->size + RS_VM_EXTRA_BYTES, sz, sizeof(sz));
	snprintf(steps, sizeof(steps), RV_STEPS, g->sz);
	vp_cmd_add(&cmd, "%s", rv.memvmm);
	vp_cmd_add(&cmd, "run");
	vp_cmd_add(&cmd, "--memory");
	vp_cmd_add(&cmd, "size=%s,backend=%s", sz, g->b->name);
	vp_cmd_add(&cmd, "--api-socket");
	vp_cmd_add(&cmd, "%s", rv.sock);
	vp_cmd_add(&cmd, "--cmdline");
	vp_cmd_add(&cmd, "%s", steps);
	if (cmd.truncated)
		return -E2BIG;
	unlink(rv.sock);
	ret = guest_run_start(&r, cmd.argv, GUEST_METER_RSS, RV_BOOT_TIMEOUT_NS, why, sizeof(why));
	if (!ret) {
		ret = guest_run_step(&r, GUEST_LINE_PREFIX "touch ", false);
		if (ret == -EPIPE)
			ret = guest_run_refused(&r);
	}
	if (!ret && (!guest_line_u64(r.line, "bytes", &bytes) || bytes != g->size)) {
		snprintf(why, sizeof(why), "the guest's touch: %.160s", r.line);
		ret = -EIO;
	}
	if (!ret)
		ret = rv_snapshot(g, &m[0], why, sizeof(why));
	if (!ret) {
		/* stop=on: memvmm ends by itself, exit 0; the guest never passes its gate. */
		int st = guest_run_step(&r, GUEST_LINE_PREFIX "read ", false);
		int es = WIFEXITED(r.ch.status) ? WEXITSTATUS(r.ch.status) : -1;

		if (st != -EPIPE || es) {
			ret = -EIO;
			if (!st)
				snprintf(why, sizeof(why), "snapshot stop=on: the guest went on");
			else if (st != -EPIPE)
				snprintf(why, sizeof(why), "snapshot stop=on: memvmm did not end (%s)",
					 strerror(-st));
			else if (es > 0)
				snprintf(why, sizeof(why), "snapshot stop=on: memvmm ended with exit "
					 "status %d", es);
			else
				snprintf(why, sizeof(why), "snapshot stop=on: memvmm was killed by "
					 "signal %d", WTERMSIG(r.ch.status));
		}
	}
	guest_run_free(&r);
	return guest_case_ran(c, ret, rv.sock, why, g->fail, sizeof(g->fail));
}

/* ---- one restore ------------------------------------------------------------------- */

/* The number after `after` in line, NAN if none. */
static double rv_num_after(const char *line, const char *after)
{
	const char *p = strstr(line, after);

	return p ? strtod(p + strlen(after), NULL) : NAN;
}

/* What a restore run printed: memvmm's restored line and the guest's verify. */
static int rv_parse(struct rv_case *v, const struct proc_result *res, double *m, double *done,
		    char *why, size_t len)
{
	char rline[1024], vline[256];
	uint64_t pages = 0, bad = 1;
	const char *mode;

	if (!proc_find_line(res->err, RV_RESTORED_PREFIX, rline, sizeof(rline))) {
		snprintf(why, len, "no '" RV_RESTORED_PREFIX "...' line on memvmm's stderr");
		return -EPROTO;
	}
	if (!proc_find_line(res->out, GUEST_LINE_PREFIX "verify ", vline, sizeof(vline)) ||
	    !guest_line_u64(vline, "pages", &pages) || !guest_line_u64(vline, "bad", &bad) ||
	    pages != v->g->size / MEM_PAGE_BYTES || bad) {
		snprintf(why, len, "the guest's verify: %.160s", vline);
		return -EIO;
	}
	if (!strstr(res->out, GUEST_LINE_PREFIX "exit status=0")) {
		snprintf(why, len, "the guest did not exit with status 0");
		return -EIO;
	}
	mode = strstr(rline, ", mode ");
	if (mode)
		sscanf(mode + strlen(", mode "), "%15[^ ;(]", v->used);
	m[0] = rv_num_after(rline, "first guest instruction ");
	m[1] = m[0] + guest_line_ms(vline);
	m[2] = res->wall_ms;
	*done = rv_num_after(rline, "background fill done ");
	if (isnan(m[0]) || isnan(m[1])) {
		snprintf(why, len, "no first-instruction time or verify us=: %.140s", rline);
		return -EPROTO;
	}
	return 0;
}

static int rv_run(struct bench_case *c, double *m)
{
	struct rv_case *v = c->ctx;
	struct vp_cmd cmd = { .argc = 0 };
	struct proc_result res = { 0 };
	char why[200] = "";
	double done = NAN;
	int ret = guest_case_skipped(c, v->skip_err, v->skip_why);

	if (ret)
		return ret;
	vp_cmd_add(&cmd, "%s", rv.memvmm);
	vp_cmd_add(&cmd, "run");
	vp_cmd_add(&cmd, "--restore");
	vp_cmd_add(&cmd, "path=%s,mode=%s", v->g->snap, restore_mode_name(v->mode));
	if (cmd.truncated)
		return -E2BIG;
	/* The byte for the guest's read gate is there from the start. */
	ret = proc_run(cmd.argv, "x", RV_RESTORE_TIMEOUT_S, &res);
	if (ret) {
		snprintf(why, sizeof(why), "starting memvmm: %s", strerror(-ret));
	} else {
		ret = bench_memvmm_refusal(&res, why, sizeof(why));
		/* A refusal comes before any guest instruction; after that it failed. */
		if (ret == -EOPNOTSUPP && (strstr(res.err, RV_RESTORED_PREFIX) ||
					   strstr(res.out, GUEST_LINE_PREFIX))) {
			char last[160];

			proc_last_line(res.out, last, sizeof(last));
			snprintf(why, sizeof(why), "memvmm exited with status %d after the guest "
				 "ran: %.140s", WEXITSTATUS(res.status), last);
			ret = -EIO;
		}
		if (!ret)
			ret = rv_parse(v, &res, m, &done, why, sizeof(why));
	}
	proc_result_free(&res);
	ret = guest_case_ran(c, ret, NULL, why, v->fail, sizeof(v->fail));
	if (!ret)
		v->fill_done[c->n] = done;
	return ret;
}

/* ---- cases, runs, results ------------------------------------------------------------ */

/* Whether group g can run here (memory, disk, the huge page pool): its skip if not. */
static void rv_group_check(struct rv_group *g)
{
	uint64_t ram = g->size + RS_VM_EXTRA_BYTES;
	char why[160];

	if (rs_host_lacks(ram, RV_DIR, why, sizeof(why)) ||
	    (g->b->hugetlb && rs_hugetlb_lacks(ram, why, sizeof(why))))
		guest_skip(&g->skip_err, g->skip_why, sizeof(g->skip_why), -ENOMEM, why);
}

/* The groups and cases of one size; *ng groups, returns the cases. */
static unsigned int rv_cases(uint64_t size, struct rv_group *groups, unsigned int *ng,
			     struct bench_case *save, struct bench_case *cases,
			     struct rv_case *vcs, double *fill_done, unsigned int repeat)
{
	unsigned int n = 0;

	*ng = 0;
	for (unsigned int b = 0; b < RV_NB; b++) {
		struct rv_group *g = &groups[(*ng)++];

		*g = (struct rv_group){ .size = size, .b = &rv_backends[b] };
		bench_fmt_size(size, g->sz, sizeof(g->sz));
		snprintf(g->snap, sizeof(g->snap), "%s/%s-%s", rv.base, g->sz, g->b->name);
		rv_group_check(g);
		save[b] = (struct bench_case){ .label = { g->sz, g->b->name }, .run = rv_save_run,
					       .ctx = g };
		snprintf(save[b].key, sizeof(save[b].key), "vm_%s_%s_save", g->sz, g->b->name);
		for (unsigned int k = 0; k < RV_NM; k++) {
			struct rv_case *v = &vcs[n];

			if (!(g->b->modes & RV_BIT(rv_modes[k])))
				continue;
			*v = (struct rv_case){ .g = g, .mode = rv_modes[k],
					       .fill_done = fill_done + (size_t)n * repeat };
			cases[n] = (struct bench_case){ .label = { g->sz, g->b->name,
								   restore_mode_name(rv_modes[k]) },
							.run = rv_run, .ctx = v };
			snprintf(cases[n].key, sizeof(cases[n].key), "vm_%s_%s_%s", g->sz,
				 g->b->name, restore_mode_name(rv_modes[k]));
			n++;
		}
	}
	return n;
}

/* The rows' extras and notes; failures counted and said as such. */
static void rv_extras(struct bench_case *save, unsigned int ng, struct bench_case *cases,
		      unsigned int n, unsigned int *failed)
{
	for (unsigned int i = 0; i < ng; i++) {
		struct bench_case *c = &save[i];
		struct rv_group *g = c->ctx;

		if (g->fail[0]) {
			snprintf(c->why, sizeof(c->why), "FAILED: %.180s", g->fail);
			(*failed)++;
		}
		if (!bench_case_ok(c))
			continue;
		c->extra[0] = (double)g->bytes / RV_GB / (c->median[0] / 1e3);
		c->extra[1] = (double)g->bytes / RV_MIB;
		snprintf(c->note, sizeof(c->note), "memvmm's reply; paused %.1f ms", g->paused_ms);
	}
	for (unsigned int i = 0; i < n; i++) {
		struct bench_case *c = &cases[i];
		struct rv_case *v = c->ctx;
		const struct bench_case *eager = NULL;
		double min;

		if (!rs_case_usable(c, v->fail, failed))
			continue;
		for (unsigned int j = 0; j < n; j++) {
			const struct rv_case *w = cases[j].ctx;

			if (w->g == v->g && w->mode == RESTORE_EAGER && bench_case_ok(&cases[j]))
				eager = &cases[j];
		}
		guest_min_median(v->fill_done, c->n, &min, &c->extra[0]);
		c->extra[1] = eager ? eager->median[0] / c->median[0] : NAN;
		c->extra[2] = eager ? eager->median[1] / c->median[1] : NAN;
		snprintf(c->note, sizeof(c->note), "used %s", v->used[0] ? v->used : "?");
	}
}

/* One size: each backend's save, then its modes' interleaved rounds. BENCH_FATAL or 0. */
static int rv_run_size(struct bench_table *save, unsigned int sfirst, unsigned int ng,
		       struct bench_table *vm, unsigned int first, unsigned int n,
		       unsigned int repeat, struct bench_summary *s, unsigned int *failed)
{
	struct bench_table ss = *save, sub = *vm;
	double lazy_max = NAN;
	char key[64];
	int ret = 0, rm;

	for (unsigned int i = 0; i < ng && !ret; i++) {
		struct bench_case *sc = &save->cases[sfirst + i];
		struct rv_group *g = sc->ctx;
		unsigned int gfirst = first, gn = 0;

		ss.cases = sc;
		ss.ncases = 1;
		ret = bench_table_run(&ss);
		for (unsigned int k = first; k < first + n; k++) {
			struct rv_case *v = vm->cases[k].ctx;

			if (v->g != g)
				continue;
			if (!gn)
				gfirst = k;
			gn++;
			if (!ret && !bench_case_ok(sc))
				guest_skip(&v->skip_err, v->skip_why, sizeof(v->skip_why), -ENOENT,
					   "no snapshot (see the save row)");
		}
		sub.cases = &vm->cases[gfirst];
		sub.ncases = gn;
		sub.repeat = repeat;
		if (!ret && gn)
			ret = bench_table_run(&sub);
		rm = rs_remove_dir(g->snap);
		if (rm)
			fprintf(stderr, "restore: removing %s: %s\n", g->snap, strerror(-rm));
	}
	if (ret)
		return ret;
	rv_extras(&save->cases[sfirst], ng, &vm->cases[first], n, failed);
	ss.cases = &save->cases[sfirst];
	ss.ncases = ng;
	sub.cases = &vm->cases[first];
	sub.ncases = n;
	bench_table_print(&ss, stdout);
	putchar('\n');
	bench_table_print(&sub, stdout);
	putchar('\n');
	for (unsigned int k = first; k < first + n; k++) {
		const struct bench_case *c = &vm->cases[k];
		const struct rv_case *v = c->ctx;

		if (v->mode >= RESTORE_LAZY_COPY && bench_case_ok(c) &&
		    (isnan(lazy_max) || c->median[0] > lazy_max))
			lazy_max = c->median[0];
	}
	snprintf(key, sizeof(key), "%s_vm_lazy_first_max_ms", ((struct rv_group *)
		 save->cases[sfirst].ctx)->sz);
	bench_summary_num(s, key, lazy_max, 3);
	return 0;
}

int rs_vm_run(const struct bench_opts *o, const uint64_t *sizes, unsigned int nsizes,
	      struct bench_summary *s, struct bench_table *save, struct bench_table *vm,
	      unsigned int *failed)
{
	unsigned int repeat = bench_restore_opts.repeat_given ? o->repeat : RV_DEFAULT_REPEAT;
	unsigned int n = 0, ng = 0;
	int ret = 0;

	*save = (struct bench_table){
		.bench = "restore", .nlabels = 2, .label_names = { "size", "backend" },
		.nmetrics = 1, .metric_names = { "save ms" },
		.nextra = 2, .extra_names = { "GB/s", "data MiB" }, .note_name = "notes",
		.repeat = 1, .json_key = "vm_save",
	};
	*vm = (struct bench_table){
		.bench = "restore", .nlabels = 3, .label_names = { "size", "backend", "mode" },
		.nmetrics = 3, .metric_names = { "1st ms", "all ms", "total ms" },
		.nextra = 3, .extra_names = { "fill done ms", "x eager 1st", "x eager all" },
		.note_name = "notes", .repeat = repeat, .json_key = "vm",
	};
	printf("restore, part B: memvmm --restore, the test guest (RAM = size + 64M, "
	       "'" RV_STEPS "', snapshot at the read gate)\n", "SIZE");
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("part B skipped: no /dev/kvm\n\n");
		bench_summary_str(s, "partb", "no_kvm");
		return 0;
	}
	if (bench_memvmm_path(rv.memvmm, sizeof(rv.memvmm))) {
		printf("part B skipped: no memvmm binary (set MEMVMM)\n\n");
		bench_summary_str(s, "partb", "no_memvmm");
		return 0;
	}
	save->cases = calloc(RV_MAX_GROUPS, sizeof(struct bench_case));
	vm->cases = calloc(RV_MAX_CASES, sizeof(struct bench_case));
	rv.vcs = calloc(RV_MAX_CASES, sizeof(struct rv_case));
	rv.fill_done = calloc((size_t)RV_MAX_CASES * repeat, sizeof(double));
	snprintf(rv.base, sizeof(rv.base), RV_DIR "/memvmm-bench-restore-vm-XXXXXX");
	if (!save->cases || !vm->cases || !rv.vcs || !rv.fill_done || !mkdtemp(rv.base)) {
		fprintf(stderr, "restore: part B: %s\n", strerror(errno));
		rv.base[0] = '\0';
		bench_summary_str(s, "partb", "error");
		(*failed)++;
		return 0;
	}
	snprintf(rv.sock, sizeof(rv.sock), "%s/api.sock", rv.base);
	printf("  %s; %u interleaved rounds; the restore's stdin holds the byte for the gate\n"
	       "  1st: memvmm's 'first guest instruction' time; all: that + the guest's "
	       "verify of all it touched;\n  total: the process's wall time; fill done: "
	       "memvmm's 'background fill done' (lazy);\n  x eager: the same backend's eager "
	       "median over this row's; the read()+memcpy baseline\n  is part A's row (no "
	       "VM)\n\n", rv.memvmm, repeat);
	for (unsigned int k = 0; k < nsizes && !ret; k++) {
		unsigned int kg, kn;

		kn = rv_cases(sizes[k], &rv.groups[ng], &kg, &save->cases[ng], &vm->cases[n],
			      &rv.vcs[n], rv.fill_done + (size_t)n * repeat, repeat);
		ret = rv_run_size(save, ng, kg, vm, n, kn, repeat, s, failed);
		ng += kg;
		n += kn;
		save->ncases = ng;
		vm->ncases = n;
	}
	bench_summary_str(s, "partb", "ran");
	n = rv.base[0] ? (unsigned int)-rs_remove_dir(rv.base) : 0;
	if (n)
		fprintf(stderr, "restore: removing %s: %s\n", rv.base, strerror((int)n));
	return ret;
}

void rs_vm_free(struct bench_table *save, struct bench_table *vm)
{
	if (save->cases)
		bench_table_free(save);
	if (vm->cases)
		bench_table_free(vm);
	free(save->cases);
	free(vm->cases);
	save->cases = vm->cases = NULL;
	free(rv.vcs);
	free(rv.fill_done);
	rv.vcs = NULL;
	rv.fill_done = NULL;
}
