// SPDX-License-Identifier: MIT
/*
 * balloon: the test guest inflates --size (default 1G) of its RAM through
 * virtio-balloon and deflates it again, under memvmm for every backend
 * and under QEMU's virtio-balloon-pci (anon and memfd RAM), the same guest
 * and steps in interleaved rounds (balloon.h, balloon_guest.c).
 *
 * Per run: the guest's own times for the inflate and the deflate (GiB/s),
 * the host's meter of the child's memory after the guest's touch, after
 * the inflate (memory returned) and after the deflate (regained), and
 * memvmm's status (its device's time in mem_discard() and mem_populate(),
 * given_back). RAM is all resident before the inflate on both: memvmm
 * populate=auto, QEMU prealloc=on. Both devices are configured alike:
 * statistics queue without polling, no free page reporting, no
 * deflate-on-oom.
 *
 * Issue 10's Done-when: inflating 1 GiB returns 1 GiB +- 2% to the host on
 * every backend that can give memory back, at least 2x faster than QEMU's
 * balloon with the same guest in the same run.
 */
#include "bench/balloon.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/guest_bench.h"
#include "bench/stats.h"
#include "bench/vmem_plug.h"

#define BL_DEFAULT_BYTES      (1ull << 30)
#define BL_EXTRA_RAM_BYTES    (256ull << 20)    /* RAM = size + this: the guest's own */
#define BL_ALIGN_BYTES        (2ull << 20)      /* hugetlb rows: RAM in 2 MiB pages */
#define BL_RETURNED_TOLERANCE 0.02              /* issue 10: 1 GiB +- 2% */
#define BL_SPEEDUP_WANTED     2.0               /* issue 10: at least 2x QEMU */
#define BL_MIB                (1024.0 * 1024.0)
#define BL_GIB                (1024.0 * 1024.0 * 1024.0)
#define BL_BALLOON_ARGS       "deflate-on-oom=off,free-page-reporting=off,stats=0"

static const char *const bl_backends[] = { "guest_memfd", "memfd", "anon", "hugetlb" };
#define BL_NB (sizeof(bl_backends) / sizeof(bl_backends[0]))

/* QEMU's RAM backends, by memvmm's names: the rows memvmm's are compared with. */
static const struct {
	const char *backend, *object;
} bl_qemu_backends[] = {
	{ "anon", "memory-backend-ram" },
	{ "memfd", "memory-backend-memfd" },
};
#define BL_NQB (sizeof(bl_qemu_backends) / sizeof(bl_qemu_backends[0]))
#define BL_MAX_CASES (BL_NB + BL_NQB)

enum bl_kind { BL_MEMVMM, BL_QEMU };

struct bl_case {
	enum bl_kind kind;
	char program[16], backend[16];
	int skip_err;                  /* known before running: no KVM, no QEMU, ... */
	char skip_why[160];
	struct vp_cmd cmd;
	enum guest_meter meter;
	double *val[BL_NVALS];         /* per successful round */
	uint64_t chains;
	char fail[200];                /* not a host limitation: counted as a failure */
};

static struct {
	uint64_t size;
	char sock[108];
	char dir[64];
} bl;

static int bl_case_run(struct bench_case *c, double *m)
{
	struct bl_case *v = c->ctx;
	struct bl_guest_run g = {
		.argv = v->cmd.argv,
		.sock = v->kind == BL_MEMVMM ? bl.sock : NULL,
		.meter = v->meter,
		.size = bl.size,
		.exit_status = v->kind == BL_MEMVMM ? 0 : 1,   /* QEMU: guest status 0 -> 0*2+1 */
	};
	int ret = guest_case_skipped(c, v->skip_err, v->skip_why);

	if (ret)
		return ret;
	ret = guest_case_ran(c, bl_guest_run(&g), g.sock, g.why, v->fail, sizeof(v->fail));
	if (ret)
		return ret;
	for (unsigned int k = 0; k < BL_NVALS; k++)
		v->val[k][c->n] = g.val[k];
	v->chains = g.chains;
	m[0] = g.val[BL_INFLATE_MS];
	m[1] = g.val[BL_DEFLATE_MS];
	m[2] = g.val[BL_HOST_RETURNED_MIB];
	m[3] = g.val[BL_HOST_REGAINED_MIB];
	return 0;
}

/* ---- cases ------------------------------------------------------------------------- */

static void bl_skip(struct bl_case *v, int err, const char *why)
{
	guest_skip(&v->skip_err, v->skip_why, sizeof(v->skip_why), err, why);
}

static void bl_memvmm_cmd(struct vp_cmd *c, const char *memvmm, uint64_t ram,
			  const char *backend, const char *steps)
{
	char sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	bench_fmt_size(ram, sz, sizeof(sz));
	vp_cmd_add(c, "%s", memvmm);
	vp_cmd_add(c, "run");
	vp_cmd_add(c, "--memory");
	vp_cmd_add(c, "size=%s,backend=%s,populate=auto", sz, backend);
	vp_cmd_add(c, "--balloon");
	vp_cmd_add(c, BL_BALLOON_ARGS);
	vp_cmd_add(c, "--api-socket");
	vp_cmd_add(c, "%s", bl.sock);
	vp_cmd_add(c, "--cmdline");
	vp_cmd_add(c, "%s", steps);
}

/*
 * guest/qemu-test.sh's machine with RAM from a memory backend object,
 * preallocated, and guest/qemu-balloon-cases.sh's modern virtio-balloon-pci.
 */
static void bl_qemu_cmd(struct vp_cmd *c, const char *qemu, const char *accel, const char *elf,
			uint64_t ram, const char *object, const char *steps)
{
	char sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	bench_fmt_size(ram, sz, sizeof(sz));
	vp_cmd_add(c, "%s", qemu);
	vp_cmd_add(c, "-machine");
	vp_cmd_add(c, "pc,memory-backend=ram0");
	vp_cmd_add(c, "-accel");
	vp_cmd_add(c, "%s", accel);
	vp_cmd_add(c, "-m");
	vp_cmd_add(c, "%s", sz);
	vp_cmd_add(c, "-object");
	vp_cmd_add(c, "%s,id=ram0,size=%s,prealloc=on", object, sz);
	vp_cmd_qemu_headless(c);
	vp_cmd_add(c, "-device");
	vp_cmd_add(c, "virtio-balloon-pci,id=bal0,disable-legacy=on");
	vp_cmd_add(c, "-kernel");
	vp_cmd_add(c, "%s", elf);
	vp_cmd_add(c, "-append");
	vp_cmd_add(c, "%s", steps);
}

static unsigned int bl_cases(struct bench_case *cases, struct bl_case *vcs,
			     const struct guest_host *h, const char *steps)
{
	uint64_t ram = bl.size + BL_EXTRA_RAM_BYTES;
	unsigned int n = 0;
	char why[160];

	for (unsigned int b = 0; b < BL_NB; b++, n++) {
		struct bl_case *v = &vcs[n];

		*v = (struct bl_case){ .kind = BL_MEMVMM, .meter = h->meter };
		snprintf(v->program, sizeof(v->program), "memvmm");
		snprintf(v->backend, sizeof(v->backend), "%s", bl_backends[b]);
		bl_memvmm_cmd(&v->cmd, h->kvm ? h->memvmm : "memvmm", ram, bl_backends[b], steps);
		if (!strcmp(bl_backends[b], "hugetlb"))
			v->meter = GUEST_METER_HUGETLB;
		if (!h->kvm)
			bl_skip(v, -ENODEV, "no /dev/kvm here: memvmm needs KVM");
		else if (h->memvmm_err)
			bl_skip(v, h->memvmm_err, "no memvmm binary (set MEMVMM)");
		if (v->meter == GUEST_METER_HUGETLB && h->hp_err) {
			snprintf(why, sizeof(why), "cannot reserve %llu huge pages (%s)",
				 (unsigned long long)h->hp_pages, bench_errname(-h->hp_err));
			bl_skip(v, h->hp_err, why);
		}
	}
	for (unsigned int b = 0; b < BL_NQB; b++, n++) {
		struct bl_case *v = &vcs[n];

		*v = (struct bl_case){ .kind = BL_QEMU, .meter = h->meter };
		snprintf(v->program, sizeof(v->program), "qemu");
		snprintf(v->backend, sizeof(v->backend), "%s", bl_qemu_backends[b].backend);
		bl_qemu_cmd(&v->cmd, h->have_qemu ? h->qemu : "qemu-system-x86_64",
			    h->kvm ? "kvm" : "tcg", h->guest, ram, bl_qemu_backends[b].object, steps);
		if (!h->have_qemu)
			bl_skip(v, -ENOENT, "qemu-system-x86_64 is not installed (not in PATH)");
		else if (!h->have_guest)
			bl_skip(v, -ENOENT, "the test guest's ELF was not found (set MEMVMM_GUEST)");
	}
	for (unsigned int i = 0; i < n; i++) {
		cases[i] = (struct bench_case){ .label = { vcs[i].program, vcs[i].backend },
						.ctx = &vcs[i], .run = bl_case_run };
		snprintf(cases[i].key, sizeof(cases[i].key), "%s_%s", vcs[i].program,
			 vcs[i].backend);
		if (vcs[i].cmd.truncated)
			bl_skip(&vcs[i], -E2BIG, "command line too long");
	}
	return n;
}

/* ---- results ------------------------------------------------------------------------ */

/* Median of the non-NAN values among v[0..n), NAN if none. */
static double bl_median(const double *v, unsigned int n)
{
	double min, median;

	guest_min_median(v, n, &min, &median);
	return median;
}

/* The QEMU row a memvmm row is compared with: the same backend, else QEMU's anon RAM. */
static const char *bl_qemu_peer(const char *backend)
{
	for (unsigned int b = 0; b < BL_NQB; b++)
		if (!strcmp(bl_qemu_backends[b].backend, backend))
			return backend;
	return "anon";
}

/* Extras: GiB/s from the medians, returned as % of size; notes. */
static void bl_extras(struct bench_table *t)
{
	double gib = (double)bl.size / BL_GIB, size_mib = (double)bl.size / BL_MIB;

	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *c = &t->cases[i];
		const struct bl_case *v = c->ctx;
		size_t len;

		if (v->fail[0])
			snprintf(c->why, sizeof(c->why), "FAILED in round %u: %.170s",
				 c->err_round + 1, v->fail);
		if (!bench_case_ok(c))
			continue;
		c->extra[0] = gib / (c->median[0] / 1000.0);
		c->extra[1] = gib / (c->median[1] / 1000.0);
		c->extra[2] = c->median[2] / size_mib * 100.0;
		snprintf(c->note, sizeof(c->note), "%s, %llu chains; steps %.0f/%.0f ms",
			 v->meter == GUEST_METER_MEMCG ? "memcg" : v->meter == GUEST_METER_RSS ? "rss" :
			 "hugetlb pool", (unsigned long long)v->chains,
			 bl_median(v->val[BL_INFLATE_STEP_MS], c->n),
			 bl_median(v->val[BL_DEFLATE_STEP_MS], c->n));
		if (v->kind != BL_MEMVMM)
			continue;
		len = strlen(c->note);
		snprintf(c->note + len, sizeof(c->note) - len, "; device: discard %.1f ms, "
			 "populate %.1f ms, given_back %.0fM", bl_median(v->val[BL_DEV_DISCARD_MS], c->n),
			 bl_median(v->val[BL_DEV_POPULATE_MS], c->n),
			 bl_median(v->val[BL_DEV_GIVEN_MIB], c->n));
	}
}

/* Issue 10's Done-when from the medians; adds the summary's keys. */
static void bl_checks(struct bench_table *t, struct bench_summary *s)
{
	unsigned int measured = 0, returned_ok = 0, faster = 0, compared = 0;
	char key[80];

	printf("issue 10's Done-when (medians): memory returned = %.0f%% +- %.0f%% of %lluM, "
	       "inflate >= %.0fx QEMU's speed\n", 100.0, BL_RETURNED_TOLERANCE * 100,
	       (unsigned long long)(bl.size >> 20), BL_SPEEDUP_WANTED);
	for (unsigned int i = 0; i < t->ncases; i++) {
		const struct bench_case *c = &t->cases[i];
		const struct bl_case *v = c->ctx;
		const char *peer;
		double q_inf, q_def, pct, r_inf, r_def;
		bool ok;

		if (!bench_case_ok(c))
			continue;
		pct = c->extra[2];
		ok = fabs(pct - 100.0) <= BL_RETURNED_TOLERANCE * 100.0;
		snprintf(key, sizeof(key), "%s_returned_pct", c->key);
		bench_summary_num(s, key, pct, 1);
		snprintf(key, sizeof(key), "%s_inflate_gibs", c->key);
		bench_summary_num(s, key, c->extra[0], 2);
		if (v->kind != BL_MEMVMM) {
			printf("  %-6s %-12s returned %6.1f%%  inflate %6.2f GiB/s  deflate %6.2f "
			       "GiB/s\n", v->program, v->backend, pct, c->extra[0], c->extra[1]);
			continue;
		}
		measured++;
		returned_ok += ok;
		peer = bl_qemu_peer(v->backend);
		snprintf(key, sizeof(key), "qemu_%s", peer);
		q_inf = bench_table_median(t, key, 0);
		q_def = bench_table_median(t, key, 1);
		r_inf = q_inf / c->median[0];
		r_def = q_def / c->median[1];
		printf("  %-6s %-12s returned %6.1f%% (%s)  inflate %6.2f GiB/s", v->program,
		       v->backend, pct, ok ? "ok" : "OFF", c->extra[0]);
		if (!isnan(r_inf)) {
			compared++;
			faster += r_inf >= BL_SPEEDUP_WANTED;
			printf(" = %.2fx qemu %s (%s)  deflate %.2fx", r_inf, peer,
			       r_inf >= BL_SPEEDUP_WANTED ? "ok" : "UNDER 2x", r_def);
		} else {
			printf("  (no QEMU %s row measured)", peer);
		}
		putchar('\n');
		snprintf(key, sizeof(key), "memvmm_%s_vs_qemu_inflate", v->backend);
		bench_summary_num(s, key, r_inf, 2);
		snprintf(key, sizeof(key), "memvmm_%s_vs_qemu_deflate", v->backend);
		bench_summary_num(s, key, r_def, 2);
	}
	if (!measured)
		printf("  no memvmm row was measured\n");
	bench_summary_num(s, "memvmm_rows", measured, 0);
	bench_summary_num(s, "memvmm_returned_ok", returned_ok, 0);
	bench_summary_num(s, "memvmm_2x_qemu", faster, 0);
	bench_summary_num(s, "memvmm_compared", compared, 0);
}

static void bl_print_header(const struct bench_opts *o, const struct guest_host *h,
			    const struct bl_case *vcs, unsigned int n, const char *sz,
			    const char *steps)
{
	printf("balloon: the test guest inflates and deflates %s through virtio-balloon "
	       "(RAM %lluM, 64M touched);\n%u cases x %u interleaved rounds\n", sz,
	       (unsigned long long)((bl.size + BL_EXTRA_RAM_BYTES) >> 20), n, o->repeat);
	printf("  steps   '%s'\n", steps);
	for (unsigned int i = 0; i < n; i += vcs[i].kind == BL_MEMVMM ? BL_NB : 1) {
		printf("  %-7s ", vcs[i].program);
		vp_cmd_print(&vcs[i].cmd, stdout);
		printf("%s\n", vcs[i].kind == BL_MEMVMM ? "   (and the same for each backend)" : "");
	}
	printf("times: the guest's own (memvmm tells it its TSC rate; under QEMU it reports "
	       "cycles, divided by the host's\n       TSC rate, %.0f MHz measured): its PFN "
	       "chains from the notify until the device gives each back\n       (the balloon's "
	       "work; the whole steps, with the guest's writes to each page before the\n"
	       "       inflate and after the deflate, are the note's 'steps' medians); GiB/s: %s "
	       "over the median ms\n", guest_tsc_khz() / 1000.0, sz);
	guest_host_print(h, "hugetlb row", "; returned = before - after the inflate, regained = "
			 "after the deflate - after the inflate");
}

static int bl_alloc(struct bl_case *vcs, unsigned int n, unsigned int repeat)
{
	for (unsigned int i = 0; i < n; i++)
		if (guest_vals_alloc(vcs[i].val, BL_NVALS, repeat))
			return -ENOMEM;
	return 0;
}

int bench_balloon(const struct bench_opts *o)
{
	uint64_t size = o->size ? o->size : BL_DEFAULT_BYTES;
	struct bench_case cases[BL_MAX_CASES];
	struct bl_case vcs[BL_MAX_CASES];
	struct bench_summary *s = bench_summary_new("balloon");
	struct bench_table t = {
		.bench = "balloon", .nlabels = 2, .label_names = { "program", "backend" },
		.nmetrics = 4, .metric_names = { "inflate ms", "deflate ms", "returned MiB",
						 "regained MiB" },
		.nextra = 3, .extra_names = { "inflate GiB/s", "deflate GiB/s", "returned %" },
		.note_name = "meter; memvmm's device", .repeat = o->repeat,
	};
	const struct bench_table *tables[] = { &t };
	struct guest_host h = { .meter = GUEST_METER_RSS };
	char sz[32], steps[160];
	unsigned int n = 0, failed = 0;
	int status = 1, ret;

	memset(vcs, 0, sizeof(vcs));
	if (!s) {
		fprintf(stderr, "balloon: out of memory\n");
		return 1;
	}
	bench_fmt_size(size, sz, sizeof(sz));
	if (size % BL_ALIGN_BYTES || size > (64ull << 30)) {
		fprintf(stderr, "memvmm-bench: balloon: --size %s is not a multiple of 2M (RAM is "
			"--size + 256M, in 2M pages for hugetlb) up to 64G\n", sz);
		status = 2;
		goto out;
	}
	bl.size = size;
	snprintf(steps, sizeof(steps), BL_GUEST_STEPS, sz, sz);
	guest_host_find(&h, (size + BL_EXTRA_RAM_BYTES) / BL_ALIGN_BYTES);
	if (guest_sock_dir("balloon", bl.dir, sizeof(bl.dir), bl.sock, sizeof(bl.sock)))
		goto out;
	n = bl_cases(cases, vcs, &h, steps);
	if (bl_alloc(vcs, n, o->repeat)) {
		fprintf(stderr, "balloon: out of memory\n");
		goto out;
	}
	t.cases = cases;
	t.ncases = n;
	bl_print_header(o, &h, vcs, n, sz, steps);
	if (bench_table_run(&t))
		goto out;
	bl_extras(&t);
	bench_table_print(&t, stdout);
	putchar('\n');
	for (unsigned int i = 0; i < n; i++)
		failed += vcs[i].fail[0] || (cases[i].err && cases[i].err_round > 0);
	bench_summary_str(s, "size", sz);
	guest_host_summary(&h, s);
	bl_checks(&t, s);
	bench_summary_num(s, "failed", failed, 0);
	status = failed ? 1 : 0;
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_outputs(o->out, tables, 1, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "balloon: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_hugepages_restore();
	bench_table_free(&t);
	for (unsigned int i = 0; i < n; i++)
		guest_vals_free(vcs[i].val, BL_NVALS);
	guest_sock_dir_remove("balloon", bl.dir);
	bench_summary_free(s);
	return status;
}
