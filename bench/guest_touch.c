// SPDX-License-Identifier: MIT
/*
 * guest-touch: the real memvmm binary on its bundled test guest, which
 * writes one word into each 4 KiB page of --size bytes, for every backend x
 * populate strategy. Measured: memvmm's own population time (its stderr
 * line "memvmm: memory populated in X ms"), the guest's touch time (its
 * "touch ... us=N" line) and the wall time of the whole memvmm process.
 *
 * A second table (run first: its round 1 is a first allocation) gives the
 * transparent huge page rows: thp=on/off x backend x populate none/madvise,
 * with the share of RAM in huge pages that memvmm's populated line reports
 * and round 1 shown apart from the warm rounds 2..N. guest_memfd (no huge
 * folios) and hugetlb (always huge) show what memvmm says about them: a
 * setting it refuses is a row with its message, not a failure.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"

#ifndef MEMVMM_PATH
#define MEMVMM_PATH ""
#endif

#define GT_DEFAULT_BYTES   (512ull << 20)
#define GT_HEADROOM_BYTES  (64ull << 20)    /* the guest's own image and tables */
#define GT_HUGE_PAGE_BYTES (2ull << 20)
#define GT_TIMEOUT_S       300.0
#define POPULATED_PREFIX   "memvmm: memory populated in "

static const char *const gt_backends[] = { "guest_memfd", "memfd", "anon", "hugetlb" };
static const char *const gt_populate[] = { "none", "fallocate", "madvise", "auto" };
#define GT_NB (sizeof(gt_backends) / sizeof(gt_backends[0]))
#define GT_NP (sizeof(gt_populate) / sizeof(gt_populate[0]))

int bench_memvmm_path(char *buf, size_t len)
{
	const char *env = getenv("MEMVMM");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		if (access(env, X_OK) < 0) {
			fprintf(stderr, "memvmm-bench: MEMVMM='%s' is not an executable: %s\n",
				env, strerror(errno));
			return -errno;
		}
		snprintf(buf, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, len, "%s/../memvmm", self);
			if (access(buf, X_OK) == 0)
				return 0;
		}
	}
	if (MEMVMM_PATH[0] && access(MEMVMM_PATH, X_OK) == 0) {
		snprintf(buf, len, "%s", MEMVMM_PATH);
		return 0;
	}
	fprintf(stderr, "memvmm-bench: cannot find memvmm (set MEMVMM, or build it next "
		"to bench/)\n");
	return -ENOENT;
}

double bench_memvmm_populated_ms(const char *err_text)
{
	char line[512];

	if (!proc_find_line(err_text, POPULATED_PREFIX, line, sizeof(line)))
		return NAN;
	return strtod(line + strlen(POPULATED_PREFIX), NULL);
}

int bench_memvmm_refusal(const struct proc_result *r, char *why, size_t len)
{
	char line[256];

	if (r->timed_out) {
		snprintf(why, len, "timed out");
		return -ETIMEDOUT;
	}
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
		return 0;
	/* The message: memvmm's last stderr line (it names what it refused). */
	proc_last_line(r->err, line, sizeof(line));
	if (WIFEXITED(r->status) && (WEXITSTATUS(r->status) == 1 || WEXITSTATUS(r->status) == 2)) {
		snprintf(why, len, "%s", line);
		return -EOPNOTSUPP;
	}
	if (WIFEXITED(r->status))
		snprintf(why, len, "exit status %d: %s", WEXITSTATUS(r->status), line);
	else
		snprintf(why, len, "killed by signal %d: %s", WTERMSIG(r->status), line);
	return -EIO;
}

static const char *const gt_thp_backends[] = { "anon", "memfd", "guest_memfd", "hugetlb" };
static const char *const gt_thp_modes[] = { "on", "off" };
static const char *const gt_thp_populate[] = { "none", "madvise" };
#define GT_THP_NB (sizeof(gt_thp_backends) / sizeof(gt_thp_backends[0]))
#define GT_THP_NM (sizeof(gt_thp_modes) / sizeof(gt_thp_modes[0]))
#define GT_THP_NP (sizeof(gt_thp_populate) / sizeof(gt_thp_populate[0]))
#define GT_THP_NCASES (GT_THP_NB * GT_THP_NM * GT_THP_NP)

struct gt_case {
	char memvmm[PATH_MAX];
	char memory[160];
	char cmdline[64];
	const char *backend;
	const char *populate;
	const char *thp;           /* thp=on/off (THP table), NULL: memvmm's default */
	int reserve_err;           /* hugetlb: pages could not be reserved */
};

/*
 * The populated line's description of region 0, e.g. "madvise on 2 threads"
 * out of "... region 0 (576M at 0x0 on guest_memfd) madvise on 2 threads 81.2 ms".
 */
static void populated_note(const char *err_text, char *note, size_t len)
{
	char line[512], how[32];
	unsigned int threads;
	const char *p;

	note[0] = '\0';
	if (!proc_find_line(err_text, POPULATED_PREFIX, line, sizeof(line)))
		return;
	p = strstr(line, "region 0 (");
	p = p ? strchr(p, ')') : NULL;
	if (!p)
		return;
	if (sscanf(p + 1, " %31s on %u thread", how, &threads) == 2)
		snprintf(note, len, "%s x%u", how, threads);
	else if (sscanf(p + 1, " %31s", how) == 1)
		snprintf(note, len, "%s", how);
}

/*
 * Share of RAM in huge pages after population, in percent, from the
 * populated line: per region "region N (SIZEM at ...) ..., HM in huge pages
 * (P%)", summed over the regions. NAN if the line or the figures are missing
 * (memvmm said "huge pages not measured").
 */
static double memvmm_huge_pct(const char *err_text)
{
	char line[1024];
	unsigned long long len_m = 0, huge_m = 0;
	const char *p;
	bool found = false;

	if (!proc_find_line(err_text, POPULATED_PREFIX, line, sizeof(line)))
		return NAN;
	for (p = strstr(line, " region "); p; p = strstr(p + 1, " region ")) {
		const char *next = strstr(p + 1, " region "), *h, *d;
		unsigned long long rlen, rhuge = 0;
		unsigned int idx;

		if (sscanf(p, " region %u (%lluM at", &idx, &rlen) != 2)
			continue;
		h = strstr(p, "M in huge pages (");
		if (!h || (next && h > next))
			continue;
		/* The number just before "M in huge pages". */
		for (d = h; d > p && d[-1] >= '0' && d[-1] <= '9'; d--)
			;
		if (d == h)
			continue;
		for (; d < h; d++)
			rhuge = rhuge * 10 + (unsigned long long)(*d - '0');
		len_m += rlen;
		huge_m += rhuge;
		found = true;
	}
	if (!found || !len_m)
		return NAN;
	return 100.0 * (double)huge_m / (double)len_m;
}

/*
 * What memvmm did about THP, from its populated line's "; thp=MODE: WHAT":
 * WHAT without the host's settings, e.g. "MADV_HUGEPAGE" or "off
 * (MADV_NOHUGEPAGE)". Empty if there is none.
 */
static void thp_note(const char *err_text, char *note, size_t len)
{
	char line[1024];
	const char *p, *colon;
	size_t n;

	note[0] = '\0';
	if (!proc_find_line(err_text, POPULATED_PREFIX, line, sizeof(line)))
		return;
	p = strstr(line, "; thp=");
	colon = p ? strstr(p, ": ") : NULL;
	if (!colon)
		return;
	p = colon + 2;
	n = strcspn(p, ";");
	if (strstr(p, " (host: ") && (size_t)(strstr(p, " (host: ") - p) < n)
		n = (size_t)(strstr(p, " (host: ") - p);
	snprintf(note, len, "%.*s", (int)n, p);
}

static int gt_run(struct bench_case *c, double *metrics)
{
	struct gt_case *g = c->ctx;
	char *argv[] = { g->memvmm, "run", "--memory", g->memory, "--cmdline", g->cmdline, NULL };
	struct proc_result r;
	char line[512];
	const char *us;
	int ret;

	if (g->reserve_err) {
		snprintf(c->why, sizeof(c->why), "cannot reserve the huge pages");
		return g->reserve_err;
	}
	ret = proc_run(argv, NULL, GT_TIMEOUT_S, &r);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "running %.180s", g->memvmm);
		proc_result_free(&r);
		return ret;
	}
	ret = bench_memvmm_refusal(&r, c->why, sizeof(c->why));
	if (ret) {
		c->why_is_message = true;
		proc_result_free(&r);
		return ret;
	}
	/* The guest prints "memvmm-guest: touch bytes=N pages=N first=.. last=.. us=N". */
	if (!proc_find_line(r.out, "memvmm-guest: touch bytes=", line, sizeof(line)) ||
	    !(us = strstr(line, " us="))) {
		snprintf(c->why, sizeof(c->why), "no 'touch ... us=' line from the guest");
		c->why_is_message = true;
		proc_result_free(&r);
		return -EPROTO;
	}
	metrics[0] = bench_memvmm_populated_ms(r.err);
	/* populate=none may print no line: nothing was populated. */
	if (isnan(metrics[0]) && !strcmp(g->populate, "none"))
		metrics[0] = 0;
	metrics[1] = strtod(us + 4, NULL) / 1000.0;
	metrics[2] = r.wall_ms;
	metrics[3] = memvmm_huge_pct(r.err);
	populated_note(r.err, c->note, sizeof(c->note));
	if (g->thp) {
		char thp[96];
		size_t len = strlen(c->note);

		thp_note(r.err, thp, sizeof(thp));
		if (thp[0])
			snprintf(c->note + len, sizeof(c->note) - len, "%s%s", len ? ", " : "", thp);
	} else if (!isnan(metrics[3])) {
		size_t len = strlen(c->note);

		snprintf(c->note + len, sizeof(c->note) - len, ", %.0f%% huge", metrics[3]);
	}
	proc_result_free(&r);
	return 0;
}

/* The THP table's case with this key if it has numbers, else NULL. */
static const struct bench_case *gt_ok(struct bench_table *t, const char *key)
{
	const struct bench_case *c = bench_table_find(t, key);

	return c && bench_case_ok(c) ? c : NULL;
}

/*
 * Cases for the THP table into cases/gcs (GT_THP_NCASES each), like the
 * main table's but with thp=on|off, and round 1 apart.
 */
static void gt_thp_cases(const char *memvmm, const char *ramsz, const char *sz,
			 const char *threads, int hp_err, struct bench_case *cases,
			 struct gt_case *gcs)
{
	unsigned int n = 0;

	for (size_t b = 0; b < GT_THP_NB; b++)
		for (size_t p = 0; p < GT_THP_NP; p++)
			for (size_t m = 0; m < GT_THP_NM; m++) {
				struct gt_case *g = &gcs[n];

				*g = (struct gt_case){ .backend = gt_thp_backends[b],
						       .populate = gt_thp_populate[p],
						       .thp = gt_thp_modes[m] };
				snprintf(g->memvmm, sizeof(g->memvmm), "%s", memvmm);
				snprintf(g->memory, sizeof(g->memory),
					 "size=%s,backend=%s,populate=%s,thp=%s%s", ramsz,
					 g->backend, g->populate, g->thp, threads);
				snprintf(g->cmdline, sizeof(g->cmdline), "touch=%s", sz);
				if (!strcmp(g->backend, "hugetlb"))
					g->reserve_err = hp_err;
				cases[n] = (struct bench_case){
					.label = { g->backend, g->thp, g->populate },
					.run = gt_run, .ctx = g };
				snprintf(cases[n].key, sizeof(cases[n].key), "thp_%s_%s_%s",
					 g->backend, g->thp, g->populate);
				n++;
			}
}

/* Lowest value of metric m over all rounds, round 1 included; NAN if none. */
static double gt_min_all(const struct bench_case *c, unsigned int m)
{
	if (!c)
		return NAN;
	return isnan(c->min[m]) || c->first[m] < c->min[m] ? c->first[m] : c->min[m];
}

/* off/on ratios on the thp=on rows; the summary's THP keys. */
static void gt_thp_finish(struct bench_table *t, struct gt_case *gcs, struct bench_summary *s)
{
	const struct bench_case *c;

	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *on = &t->cases[i];
		char key[80];

		if (strcmp(gcs[i].thp, "on") || !bench_case_ok(on))
			continue;
		snprintf(key, sizeof(key), "thp_%s_off_%s", gcs[i].backend, gcs[i].populate);
		on->extra[0] = bench_table_median(t, key, 1) / on->median[1];
		on->extra[1] = bench_table_median(t, key, 2) / on->median[2];
	}
	c = gt_ok(t, "thp_anon_on_madvise");
	bench_summary_num(s, "anon_thp_populate_1st_ms", c ? c->first[0] : NAN, 1);
	bench_summary_num(s, "anon_thp_populate_ms",
			  bench_table_median(t, "thp_anon_on_madvise", 0), 1);
	bench_summary_num(s, "anon_nothp_populate_ms",
			  bench_table_median(t, "thp_anon_off_madvise", 0), 1);
	bench_summary_num(s, "anon_thp_touch_1st_ms", c ? c->first[1] : NAN, 1);
	bench_summary_num(s, "anon_thp_touch_ms", bench_table_median(t, "thp_anon_on_madvise", 1),
			  1);
	bench_summary_num(s, "anon_nothp_touch_ms",
			  bench_table_median(t, "thp_anon_off_madvise", 1), 1);
	bench_summary_num(s, "anon_thp_huge_pct_min", gt_min_all(c, 3), 0);
	bench_summary_num(s, "anon_thp_touch_speedup", c ? c->extra[0] : NAN, 2);
	c = gt_ok(t, "thp_anon_on_none");
	bench_summary_num(s, "anon_thp_none_touch_speedup", c ? c->extra[0] : NAN, 2);
	bench_summary_str(s, "memfd_thp_on", gt_ok(t, "thp_memfd_on_madvise") ? "measured" :
			  "not_measured");
}

int bench_guest_touch(const struct bench_opts *o)
{
	uint64_t size = o->size ? o->size : GT_DEFAULT_BYTES, ram = size + GT_HEADROOM_BYTES;
	struct bench_case cases[GT_NB * GT_NP];
	struct gt_case gcs[GT_NB * GT_NP];
	struct bench_table t = {
		.bench = "guest-touch",
		.nlabels = 2, .label_names = { "backend", "populate" },
		.nmetrics = 3, .metric_names = { "populate ms", "touch ms", "total ms" },
		.nextra = 1, .extra_names = { "total/none" },
		.note_name = "memvmm populated",
		.repeat = o->repeat,
	};
	struct bench_case thp_cases[GT_THP_NCASES];
	struct gt_case thp_gcs[GT_THP_NCASES];
	struct bench_table thp_t = {
		.bench = "guest-touch",
		.nlabels = 3, .label_names = { "backend", "thp", "populate" },
		.nmetrics = 4,
		.metric_names = { "populate ms", "touch ms", "total ms", "huge %" },
		.nextra = 2, .extra_names = { "touch off/on", "total off/on" },
		.note_name = "memvmm populated, thp",
		.cases = thp_cases, .ncases = GT_THP_NCASES,
		.repeat = o->repeat,
		.first_apart = true,
		.json_key = "thp",
	};
	const struct bench_table *tables[] = { &t, &thp_t };
	struct bench_summary *s = bench_summary_new("guest-touch");
	char memvmm[PATH_MAX], sz[32], ramsz[32], threads[32] = "";
	unsigned int n = 0;
	int status = 0, hp_err = 0, ret;

	if (!s)
		return 1;
	if (bench_memvmm_path(memvmm, sizeof(memvmm))) {
		bench_summary_free(s);
		return 1;
	}
	bench_fmt_size(size, sz, sizeof(sz));
	bench_fmt_size(ram, ramsz, sizeof(ramsz));
	if (o->threads_set)
		snprintf(threads, sizeof(threads), ",populate-threads=%u", o->threads);
	if (ram % GT_HUGE_PAGE_BYTES)
		hp_err = -EINVAL;
	else
		hp_err = bench_hugepages_reserve(ram / GT_HUGE_PAGE_BYTES);
	if (hp_err)
		fprintf(stderr, "guest-touch: cannot reserve %lu huge pages for hugetlb (%s)\n",
			(unsigned long)(ram / GT_HUGE_PAGE_BYTES), bench_errname(-hp_err));

	for (size_t b = 0; b < GT_NB; b++)
		for (size_t p = 0; p < GT_NP; p++) {
			struct gt_case *g = &gcs[n];

			*g = (struct gt_case){ .backend = gt_backends[b], .populate = gt_populate[p] };
			snprintf(g->memvmm, sizeof(g->memvmm), "%s", memvmm);
			snprintf(g->memory, sizeof(g->memory), "size=%s,backend=%s,populate=%s%s",
				 ramsz, g->backend, g->populate, threads);
			snprintf(g->cmdline, sizeof(g->cmdline), "touch=%s", sz);
			if (!strcmp(g->backend, "hugetlb"))
				g->reserve_err = hp_err;
			cases[n] = (struct bench_case){ .label = { g->backend, g->populate },
							.run = gt_run, .ctx = g };
			snprintf(cases[n].key, sizeof(cases[n].key), "%s_%s", g->backend, g->populate);
			n++;
		}
	t.cases = cases;
	t.ncases = n;

	/* THP first: its round 1 is then the run's first allocation of that memory. */
	gt_thp_cases(memvmm, ramsz, sz, threads, hp_err, thp_cases, thp_gcs);
	printf("guest-touch THP: %s run --memory size=%s,backend=B,populate=P,thp=T%s "
	       "--cmdline 'touch=%s'\n%u cases x %u interleaved rounds; '1st' = round 1 (first "
	       "allocation), warm min/median = rounds 2..%u%s;\nhuge %% = memvmm's share of RAM in "
	       "huge pages after population, before the guest runs (populate=none: only what\n"
	       "loading the guest touched); a setting memvmm refuses is a row with its message\n\n",
	       memvmm, ramsz, threads, sz, thp_t.ncases, o->repeat, o->repeat,
	       o->repeat < 2 ? " (none with --repeat 1)" : "");
	ret = bench_table_run(&thp_t);
	if (ret) {
		status = 1;
		goto out;
	}
	bench_summary_str(s, "size", sz);
	bench_summary_str(s, "ram", ramsz);
	gt_thp_finish(&thp_t, thp_gcs, s);
	bench_table_print(&thp_t, stdout);
	putchar('\n');
	for (unsigned int i = 0; i < thp_t.ncases; i++)
		if (thp_cases[i].err && thp_cases[i].err_round > 0)
			status = 1;

	printf("guest-touch: %s run --memory size=%s,backend=B,populate=P%s --cmdline "
	       "'touch=%s'\n%u cases x %u interleaved rounds\n\n", memvmm, ramsz, threads, sz, n,
	       o->repeat);
	ret = bench_table_run(&t);
	if (ret) {
		status = 1;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		char key[80];

		snprintf(key, sizeof(key), "%s_none", gcs[i].backend);
		if (bench_case_ok(&cases[i]))
			cases[i].extra[0] = cases[i].median[2] / bench_table_median(&t, key, 2);
		if (cases[i].err && cases[i].err_round > 0)
			status = 1;
	}
	bench_table_print(&t, stdout);

	for (size_t b = 0; b < GT_NB; b++) {
		char none[64], autok[64], name[80];
		double vnone, vauto;

		snprintf(none, sizeof(none), "%s_none", gt_backends[b]);
		snprintf(autok, sizeof(autok), "%s_auto", gt_backends[b]);
		vnone = bench_table_median(&t, none, 2);
		vauto = bench_table_median(&t, autok, 2);
		if (b == 0) {
			bench_summary_num(s, "auto_vs_none", vnone / vauto, 2);
			bench_summary_num(s, "gmem_none_total_ms", vnone, 1);
			bench_summary_num(s, "gmem_auto_total_ms", vauto, 1);
			bench_summary_num(s, "gmem_auto_populate_ms",
					  bench_table_median(&t, autok, 0), 1);
			bench_summary_num(s, "gmem_auto_touch_ms", bench_table_median(&t, autok, 1), 1);
			bench_summary_num(s, "gmem_none_touch_ms", bench_table_median(&t, none, 1), 1);
		} else {
			snprintf(name, sizeof(name), "%s_auto_vs_none", gt_backends[b]);
			bench_summary_num(s, name, vnone / vauto, 2);
		}
	}
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_outputs(o->out, tables, 2, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "guest-touch: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_hugepages_restore();
	bench_table_free(&thp_t);
	bench_table_free(&t);
	bench_summary_free(s);
	return status;
}
