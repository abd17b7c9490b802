// SPDX-License-Identifier: MIT
/*
 * vmem-plug: the test guest plugs --size of virtio-mem memory in 2 MiB
 * blocks, touches it and unplugs it again, under memvmm for every backend x
 * populate strategy, and under QEMU's virtio-mem-pci with prealloc on and
 * off. In the same rounds, mem_populate() alone populates --size of a fresh
 * region of each backend with the same strategy and threads, in one call
 * and in the guest's 128 MiB requests, so that plug / mem_populate is what
 * the protocol costs (issue 9: at most 1.2x).
 *
 * Per run: the guest's own times (plug, first touch, unplug), memvmm's
 * (status: virtio_mem.plug_ms and unplug_ms, the time its device spent in
 * mem_populate() and mem_discard()), and the host's meter of the child's
 * memory before the plug and after each step (vmem_plug.h).
 */
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
#include "mem/mem.h"
#include "mem/populate.h"
#include "mem/thp.h"

#define VP_DEFAULT_BYTES       (1ull << 30)
#define VP_BLOCK_BYTES         (2ull << 20)
#define VP_BOOT_RAM_BYTES      (256ull << 20)   /* the guest's own RAM, memvmm and QEMU */
#define VP_POP_BOOT_BYTES      MEM_MIN_BYTES    /* mem_populate rows: boot RAM is unused */
/* The guest's plug and unplug requests: guest/vmem.h's VMEM_CHUNK_BYTES. */
#define VP_GUEST_REQUEST_BYTES (128ull << 20)
#define VP_RATIO_LIMIT         1.2              /* issue 9's Done-when */

static const char *const vp_backends[] = { "guest_memfd", "memfd", "anon", "hugetlb" };
static const enum mem_populate_strategy vp_strategies[] = {
	MEM_POPULATE_NONE, MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE, MEM_POPULATE_AUTO,
};
#define VP_NB (sizeof(vp_backends) / sizeof(vp_backends[0]))
#define VP_NS (sizeof(vp_strategies) / sizeof(vp_strategies[0]))

/* QEMU's memory backends for the virtio-mem region, by memvmm's names. */
static const struct {
	const char *backend, *object;
} vp_qemu_backends[] = {
	{ "memfd", "memory-backend-memfd" },
	{ "anon", "memory-backend-ram" },
};
#define VP_NQB (sizeof(vp_qemu_backends) / sizeof(vp_qemu_backends[0]))
#define VP_MAX_CASES (VP_NB * VP_NS * 3 + VP_NQB * 2)

enum vp_kind { VP_MEMVMM, VP_POPULATE, VP_POPULATE_CHUNKED, VP_QEMU };

struct vp_case {
	enum vp_kind kind;
	const struct mem_backend_ops *backend;
	enum mem_populate_strategy strategy;
	const char *populate;          /* label: the strategy, or prealloc=on|off */
	char program[32];
	int skip_err;                  /* known before running: no KVM, no QEMU, ... */
	char skip_why[160];
	struct vp_cmd cmd;             /* memvmm, QEMU */
	enum guest_meter meter;
	/* Per successful measurement (index = the case's n at the time). */
	double *val[VP_NVALS];
	char fail[200];                /* not a host limitation: counted as a failure */
};

/* Shared by every case of the run. */
static struct {
	uint64_t size;
	unsigned int threads;          /* --threads: memvmm's populate-threads, mem_populate()'s */
	int vm_fd;                     /* for guest_memfd regions; -errno if none */
	enum mem_thp_advice thp[VP_NB];
	char sock[108];                /* a Unix socket's path */
	char dir[64];
} vp;

static unsigned int vp_backend_index(const struct mem_backend_ops *b)
{
	for (unsigned int i = 0; i < VP_NB; i++)
		if (!strcmp(vp_backends[i], b->name))
			return i;
	return 0;
}

/* ---- mem_populate() alone ---------------------------------------------------- */

/*
 * A fresh region of --size at the hotplug address, the way memvmm makes
 * its virtio-mem region (mem_region_add(), THP as thp=auto decides), then
 * the timed mem_populate() calls, which must report all of it done.
 */
static int vp_populate_run(struct bench_case *c, double *m)
{
	struct vp_case *v = c->ctx;
	unsigned int bi = vp_backend_index(v->backend), idx;
	struct mem_config mc = { .size = VP_POP_BOOT_BYTES, .backend = v->backend,
				 .thp_advice = vp.thp[bi] };
	struct mem_populate_req req = { .strategy = v->strategy, .max_threads = vp.threads };
	uint64_t chunk = v->kind == VP_POPULATE_CHUNKED ? VP_GUEST_REQUEST_BYTES : vp.size;
	struct mem_populate_report rep = { .nr = 0 };
	struct mem_machine_layout lay;
	struct mem_region_spec spec;
	struct guest_mem gm = { .nr_regions = 0 };
	uint64_t t0, done = 0, off = 0;
	int ret = guest_case_skipped(c, v->skip_err, v->skip_why);

	if (ret)
		return ret;
	ret = mem_machine_layout_build(VP_POP_BOOT_BYTES, vp.size, &lay);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "mem_machine_layout_build");
		return ret;
	}
	ret = mem_create(&gm, &mc, vp.vm_fd, NULL);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "creating %s memory", v->backend->name);
		return ret;
	}
	spec = (struct mem_region_spec){ .gpa = lay.hotplug_gpa, .size = lay.hotplug_size,
					 .role = MEM_ROLE_HOTPLUG, .backend = v->backend,
					 .thp_advice = vp.thp[bi] };
	ret = mem_region_add(&gm, &spec, &idx);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "creating the %lluM %s region",
			 (unsigned long long)(spec.size >> 20), v->backend->name);
		goto out;
	}
	t0 = bench_now_ns();
	for (off = 0; off < vp.size && !ret; off += chunk) {
		memset(&rep, 0, sizeof(rep));
		ret = mem_populate(&gm, spec.gpa + off, chunk < vp.size - off ? chunk : vp.size - off,
				   &req, &rep);
		done += rep.done;
	}
	m[0] = bench_ms_since(t0);
	if (ret && rep.refused) {
		snprintf(c->why, sizeof(c->why), "mem_populate: %.150s",
			 rep.nr ? rep.region[rep.nr - 1].why : "refused");
		c->why_is_message = true;
		goto out;
	}
	if (ret) {
		snprintf(v->fail, sizeof(v->fail), "mem_populate failed at +%lluM: %s",
			 (unsigned long long)((rep.err_gpa - spec.gpa) >> 20), strerror(-ret));
		goto out;
	}
	/* mem_populate() says what it did; the tests (tests/test_strategy.c) check that with meters. */
	if (done != vp.size) {
		snprintf(v->fail, sizeof(v->fail), "mem_populate returned 0 but did %lluM of %lluM",
			 (unsigned long long)(done >> 20), (unsigned long long)(vp.size >> 20));
		ret = -EIO;
		goto out;
	}
	v->val[VP_PLUG_MS][c->n] = m[0];
	snprintf(c->note, sizeof(c->note), "%s x%u", mem_populate_name(rep.region[0].used),
		 rep.region[0].threads);
out:
	mem_destroy(&gm);
	if (v->fail[0])
		snprintf(c->why, sizeof(c->why), "%s", v->fail);
	return ret;
}

/* ---- memvmm and QEMU ------------------------------------------------------------ */

static int vp_guest_case_run(struct bench_case *c, double *m)
{
	struct vp_case *v = c->ctx;
	struct vp_guest_run g = {
		.argv = v->cmd.argv,
		.sock = v->kind == VP_MEMVMM ? vp.sock : NULL,
		.meter = v->meter,
		.size = vp.size,
		.exit_status = v->kind == VP_MEMVMM ? 0 : 1,   /* QEMU: guest status 0 -> 0*2+1 */
	};
	int ret = guest_case_skipped(c, v->skip_err, v->skip_why);

	if (ret)
		return ret;
	c->note[0] = '\0';
	ret = guest_case_ran(c, vp_guest_run(&g), g.sock, g.why, v->fail, sizeof(v->fail));
	if (ret)
		return ret;
	for (unsigned int k = 0; k < VP_NVALS; k++)
		v->val[k][c->n] = g.val[k];
	m[0] = g.val[VP_PLUG_MS];
	if (v->kind == VP_MEMVMM)
		snprintf(c->note, sizeof(c->note), "%s%s, ", v->strategy == MEM_POPULATE_AUTO ?
			 "auto -> " : "", g.note[0] ? g.note : "?");
	snprintf(c->note + strlen(c->note), sizeof(c->note) - strlen(c->note), "%llu plug request%s",
		 (unsigned long long)g.plug_requests, g.plug_requests == 1 ? "" : "s");
	return 0;
}

/* ---- cases ------------------------------------------------------------------------- */

static void vp_skip(struct vp_case *v, int err, const char *why)
{
	guest_skip(&v->skip_err, v->skip_why, sizeof(v->skip_why), err, why);
}

/* Skips that apply to every row of a backend. */
static void vp_backend_skips(struct vp_case *v, const struct guest_host *h)
{
	char why[160];

	if (!strcmp(v->backend->name, "hugetlb") && h->hp_err) {
		snprintf(why, sizeof(why), "cannot reserve %llu huge pages (%s)",
			 (unsigned long long)h->hp_pages, bench_errname(-h->hp_err));
		vp_skip(v, h->hp_err, why);
	}
}

static void vp_add(struct bench_case *cases, struct vp_case *vcs, unsigned int *n,
		   enum vp_kind kind, const char *program, const char *backend,
		   const char *populate, const char *key)
{
	struct vp_case *v = &vcs[*n];

	*v = (struct vp_case){ .kind = kind, .populate = populate };
	snprintf(v->program, sizeof(v->program), "%s", program);
	v->backend = mem_backend_find(backend);
	cases[*n] = (struct bench_case){ .label = { v->program, backend, v->populate },
					 .ctx = v,
					 .run = kind == VP_POPULATE || kind == VP_POPULATE_CHUNKED ?
						vp_populate_run : vp_guest_case_run };
	snprintf(cases[*n].key, sizeof(cases[*n].key), "%s", key);
	(*n)++;
}

static unsigned int vp_cases(struct bench_case *cases, struct vp_case *vcs,
			     const struct guest_host *h, const char *cmdline)
{
	const char *accel = h->kvm ? "kvm" : "tcg";
	unsigned int n = 0;
	char key[64], why[160];

	for (unsigned int b = 0; b < VP_NB; b++) {
		for (unsigned int s = 0; s < VP_NS; s++) {
			const char *p = mem_populate_name(vp_strategies[s]);
			struct vp_case *v = &vcs[n];

			snprintf(key, sizeof(key), "memvmm_%s_%s", vp_backends[b], p);
			vp_add(cases, vcs, &n, VP_MEMVMM, "memvmm", vp_backends[b], p, key);
			v->strategy = vp_strategies[s];
			v->meter = !strcmp(vp_backends[b], "hugetlb") ? GUEST_METER_HUGETLB : h->meter;
			if (!h->kvm)
				vp_skip(v, -ENODEV, "no /dev/kvm here: memvmm needs KVM");
			if (h->memvmm_err)
				vp_skip(v, h->memvmm_err, "memvmm not found (set MEMVMM)");
			vp_backend_skips(v, h);
			vp_memvmm_cmd(&v->cmd, &(struct vp_memvmm_spec){
				.memvmm = h->memvmm, .backend = vp_backends[b], .populate = p,
				.ram = VP_BOOT_RAM_BYTES, .size = vp.size, .threads = vp.threads,
				.sock = vp.sock, .cmdline = cmdline });
			if (vp_strategies[s] == MEM_POPULATE_NONE)
				continue;    /* mem_populate() of none does nothing */
			for (int chunked = 0; chunked <= 1; chunked++) {
				v = &vcs[n];
				snprintf(key, sizeof(key), "populate%s_%s_%s", chunked ? "128m" : "",
					 vp_backends[b], p);
				vp_add(cases, vcs, &n, chunked ? VP_POPULATE_CHUNKED : VP_POPULATE,
				       chunked ? "mem_populate/128M" : "mem_populate",
				       vp_backends[b], p, key);
				v->strategy = vp_strategies[s];
				if (v->backend == &mem_backend_guest_memfd && vp.vm_fd < 0) {
					snprintf(why, sizeof(why), "guest_memfd needs a KVM VM (%s)",
						 bench_errname(-vp.vm_fd));
					vp_skip(v, vp.vm_fd, why);
				}
				if (v->backend->supported(vp.vm_fd, why, sizeof(why)))
					vp_skip(v, -EOPNOTSUPP, why);
				vp_backend_skips(v, h);
			}
		}
	}
	for (unsigned int b = 0; b < VP_NQB; b++)
		for (int on = 1; on >= 0; on--) {
			struct vp_case *v = &vcs[n];

			snprintf(key, sizeof(key), "qemu_%s_%s", vp_qemu_backends[b].backend,
				 on ? "on" : "off");
			vp_add(cases, vcs, &n, VP_QEMU, "qemu", vp_qemu_backends[b].backend,
			       on ? "prealloc=on" : "prealloc=off", key);
			v->meter = h->meter;
			if (!h->have_qemu)
				vp_skip(v, -ENOENT, "qemu-system-x86_64 is not installed (not in PATH)");
			if (!h->have_guest)
				vp_skip(v, -ENOENT, "the test guest's ELF is missing (set MEMVMM_GUEST)");
			vp_qemu_cmd(&v->cmd, &(struct vp_qemu_spec){
				.qemu = h->qemu, .elf = h->guest, .accel = accel,
				.object = vp_qemu_backends[b].object, .prealloc = on,
				.ram = VP_BOOT_RAM_BYTES, .size = vp.size, .cmdline = cmdline });
		}
	return n;
}

/* ---- tables ------------------------------------------------------------------------ */

/* A printed view of a measured case: its values vals[] as the view's metrics. */
static void vp_view(struct bench_case *dst, const struct bench_case *src, const enum vp_val *vals,
		    unsigned int nvals)
{
	const struct vp_case *v = src->ctx;

	*dst = *src;
	for (unsigned int m = 0; m < BENCH_MAX_METRICS; m++) {
		dst->samples[m] = m < nvals ? v->val[vals[m]] : NULL;
		dst->min[m] = dst->median[m] = dst->first[m] = NAN;
		if (m < nvals)
			guest_min_median(v->val[vals[m]], src->n, &dst->min[m], &dst->median[m]);
	}
	for (unsigned int e = 0; e < BENCH_MAX_EXTRA; e++)
		dst->extra[e] = NAN;
	if (v->fail[0])
		snprintf(dst->why, sizeof(dst->why), "FAILED in round %u: %.170s", src->err_round + 1,
			 v->fail);
}

static double vp_ratio(struct bench_table *t, const struct bench_case *c, unsigned int m,
		       const char *prefix)
{
	const struct vp_case *v = c->ctx;
	char key[64];

	snprintf(key, sizeof(key), "%s_%s_%s", prefix, v->backend->name,
		 mem_populate_name(v->strategy));
	return c->median[m] / bench_table_median(t, key, 0);
}

/* Table 1's ratios for the memvmm rows of strategies that populate. */
static void vp_ratios(struct bench_table *t)
{
	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *c = &t->cases[i];
		const struct vp_case *v = c->ctx;

		if (v->kind != VP_MEMVMM || v->strategy == MEM_POPULATE_NONE || !bench_case_ok(c))
			continue;
		c->extra[0] = vp_ratio(t, c, 0, "populate");
		c->extra[1] = vp_ratio(t, c, 1, "populate");
		c->extra[2] = vp_ratio(t, c, 0, "populate128m");
	}
}

/* Table 2's notes: the meter, and what memvmm says stays resident after the unplug. */
static void vp_unplug_notes(struct bench_table *t)
{
	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *c = &t->cases[i];
		const struct vp_case *v = c->ctx;
		double min, median;
		size_t len;

		snprintf(c->note, sizeof(c->note), "%s", v->meter == GUEST_METER_MEMCG ? "memcg" :
			 v->meter == GUEST_METER_RSS ? "rss" : "hugetlb pool");
		if (v->kind != VP_MEMVMM || !bench_case_ok(c))
			continue;
		guest_min_median(v->val[VP_RES_UNPLUG_MIB], c->n, &min, &median);
		len = strlen(c->note);
		snprintf(c->note + len, sizeof(c->note) - len, "; memvmm resident after unplug %.1fM",
			 median);
	}
}

/* Median of metric m of the case with this key, NAN if it has none. */
static double vp_med(struct bench_table *t, const char *key, unsigned int m)
{
	return bench_table_median(t, key, m);
}

/*
 * Issue 9's Done-when, from the medians: plug / mem_populate per memvmm
 * row, and memvmm against QEMU's prealloc=on. Adds the summary's keys.
 */
static void vp_checks(struct bench_table *t1, struct bench_table *t2, struct bench_summary *s)
{
	double worst = NAN;
	const char *worst_key = "none";
	char key[64];

	printf("issue 9's Done-when (medians):\n  plug <= %.1fx mem_populate alone "
	       "(same backend, strategy and threads; the guest's plug time):\n", VP_RATIO_LIMIT);
	for (unsigned int i = 0; i < t1->ncases; i++) {
		const struct bench_case *c = &t1->cases[i];
		const struct vp_case *v = c->ctx;
		char pkey[64];

		if (v->kind != VP_MEMVMM || isnan(c->extra[0]))
			continue;
		snprintf(pkey, sizeof(pkey), "populate_%s_%s", v->backend->name, v->populate);
		printf("    %-12s %-10s plug %9.1f ms   mem_populate %9.1f ms   %5.2fx  %s\n",
		       v->backend->name, v->populate, c->median[0], vp_med(t1, pkey, 0), c->extra[0],
		       c->extra[0] <= VP_RATIO_LIMIT ? "ok" : "OVER");
		if (isnan(worst) || c->extra[0] > worst) {
			worst = c->extra[0];
			worst_key = c->key;
		}
	}
	if (isnan(worst))
		printf("    no memvmm row with a populating strategy was measured\n");
	printf("  memvmm's plug against QEMU virtio-mem prealloc=on (the guest's plug time):\n");
	for (unsigned int b = 0; b < VP_NQB; b++) {
		const char *name = vp_qemu_backends[b].backend;
		double q, mauto, mmadv;

		snprintf(key, sizeof(key), "qemu_%s_on", name);
		q = vp_med(t1, key, 0);
		snprintf(key, sizeof(key), "memvmm_%s_auto", name);
		mauto = vp_med(t1, key, 0);
		snprintf(key, sizeof(key), "memvmm_%s_madvise", name);
		mmadv = vp_med(t1, key, 0);
		printf("    %-6s qemu %9.1f ms   memvmm auto %9.1f ms", name, q, mauto);
		if (!isnan(q) && !isnan(mauto))
			printf(" (%.2fx: %s)", mauto / q, mauto <= q ? "on par or faster" : "SLOWER");
		printf(", madvise %9.1f ms", mmadv);
		if (!isnan(q) && !isnan(mmadv))
			printf(" (%.2fx)", mmadv / q);
		putchar('\n');
		snprintf(key, sizeof(key), "qemu_%s_on_plug_ms", name);
		bench_summary_num(s, key, q, 1);
		snprintf(key, sizeof(key), "memvmm_%s_auto_plug_ms", name);
		bench_summary_num(s, key, mauto, 1);
		snprintf(key, sizeof(key), "memvmm_vs_qemu_%s", name);
		bench_summary_num(s, key, mauto / q, 2);
	}
	bench_summary_num(s, "worst_plug_populate_ratio", worst, 2);
	bench_summary_str(s, "worst_case", worst_key);
	bench_summary_num(s, "populate_memfd_auto_ms",
			  vp_med(t1, "populate_memfd_auto", 0), 1);
	bench_summary_num(s, "memvmm_memfd_auto_touch_ms", vp_med(t1, "memvmm_memfd_auto", 2), 1);
	bench_summary_num(s, "memvmm_memfd_auto_unplug_ms", vp_med(t2, "memvmm_memfd_auto", 0), 1);
	bench_summary_num(s, "memvmm_memfd_auto_host_plugged_mib",
			  vp_med(t2, "memvmm_memfd_auto", 2), 0);
	bench_summary_num(s, "memvmm_memfd_auto_host_unplugged_mib",
			  vp_med(t2, "memvmm_memfd_auto", 3), 0);
}

/* THP for the mem_populate rows' regions: what memvmm's default thp=auto does. */
static void vp_thp_plan(void)
{
	struct mem_thp_host host;
	struct mem_thp_plan plan;
	bool read = mem_thp_host_read("", &host) == 0;

	for (unsigned int b = 0; b < VP_NB; b++) {
		const struct mem_backend_ops *ops = mem_backend_find(vp_backends[b]);

		vp.thp[b] = MEM_THP_ADVICE_NONE;
		if (read && ops && mem_thp_decide(MEM_THP_AUTO, ops->thp, &host, &plan) == 0)
			vp.thp[b] = plan.advice;
	}
}

static void vp_print_header(const struct bench_opts *o, const struct guest_host *h,
			    const struct vp_case *qemu_case, const char *sz, const char *cmdline,
			    unsigned int n)
{
	printf("vmem-plug: the test guest plugs %s of virtio-mem (2M blocks, %lluM requests), "
	       "touches every page, unplugs it;\n%u cases x %u interleaved rounds; populate "
	       "threads: %u (--threads)\n", sz, (unsigned long long)(VP_GUEST_REQUEST_BYTES >> 20),
	       n, o->repeat, o->threads);
	printf("  memvmm        %s run --memory size=%lluM,backend=B,populate-threads=%u "
	       "--virtio-mem size=%s,requested=%s,block=2M,backend=B,populate=P --api-socket "
	       "SOCK --cmdline '%s'\n", h->kvm ? h->memvmm : "memvmm",
	       (unsigned long long)(VP_BOOT_RAM_BYTES >> 20), vp.threads, sz, sz, cmdline);
	printf("  mem_populate  mem_populate() of a fresh %s region of backend B (made as memvmm "
	       "makes its virtio-mem region),\n                in one call and in %lluM calls "
	       "(as the guest's requests)\n", sz,
	       (unsigned long long)(VP_GUEST_REQUEST_BYTES >> 20));
	printf("  qemu          ");
	vp_cmd_print(&qemu_case->cmd, stdout);
	printf("\n                (memory-backend-ram for anon; QEMU preallocates each plug on one "
	       "thread)\n");
	printf("times: plug/touch/unplug ms are the guest's own (memvmm tells it its TSC rate; "
	       "under QEMU it reports cycles,\n       divided by the host's TSC rate, %.0f MHz "
	       "measured); memvmm plug/unplug ms: its status, the device's time in\n"
	       "       mem_populate()/mem_discard(); plug/populate: plug ms over mem_populate "
	       "ms of the same backend, strategy, threads\n", guest_tsc_khz() / 1000.0);
	guest_host_print(h, "hugetlb rows", "");
}

/* Every case's value arrays, NAN-filled: 0 or -ENOMEM. */
static int vp_alloc(struct vp_case *vcs, unsigned int n, unsigned int repeat)
{
	for (unsigned int i = 0; i < n; i++)
		if (guest_vals_alloc(vcs[i].val, VP_NVALS, repeat))
			return -ENOMEM;
	return 0;
}

int bench_vmem_plug(const struct bench_opts *o)
{
	static const enum vp_val plug_vals[] = { VP_PLUG_MS, VP_DEV_PLUG_MS, VP_TOUCH_MS };
	static const enum vp_val unplug_vals[] = {
		VP_UNPLUG_MS, VP_DEV_UNPLUG_MS, VP_HOST_PLUG_MIB, VP_HOST_UNPLUG_MIB,
	};
	uint64_t size = o->size ? o->size : VP_DEFAULT_BYTES;
	struct bench_case *cases = calloc(VP_MAX_CASES, sizeof(*cases));
	struct bench_case *v1 = calloc(VP_MAX_CASES, sizeof(*v1));
	struct bench_case *v2 = calloc(VP_MAX_CASES, sizeof(*v2));
	struct vp_case *vcs = calloc(VP_MAX_CASES, sizeof(*vcs));
	struct bench_summary *s = bench_summary_new("vmem-plug");
	struct bench_table run = {
		.bench = "vmem-plug", .nlabels = 3,
		.label_names = { "program", "backend", "populate" },
		.nmetrics = 1, .metric_names = { "plug ms" },
		.repeat = o->repeat,
	};
	struct bench_table t1 = run, t2 = run;
	const struct bench_table *tables[] = { &t1, &t2 };
	char sz[32], cmdline[128];
	struct guest_host h = { .meter = GUEST_METER_RSS };
	unsigned int n = 0, failed = 0;
	int kvm_fd = -1, status = 1, ret;

	vp.vm_fd = -ENODEV;
	if (!cases || !v1 || !v2 || !vcs || !s) {
		fprintf(stderr, "vmem-plug: out of memory\n");
		goto out;
	}
	bench_fmt_size(size, sz, sizeof(sz));
	if (size % MACHINE_HOTPLUG_ALIGN || size > MEM_MAX_BYTES) {
		fprintf(stderr, "memvmm-bench: vmem-plug: --size %s is not a multiple of %lluM "
			"(the virtio-mem region's alignment) up to %lluG\n", sz,
			(unsigned long long)(MACHINE_HOTPLUG_ALIGN >> 20),
			(unsigned long long)(MEM_MAX_BYTES >> 30));
		status = 2;
		goto out;
	}
	vp.size = size;
	/* memvmm's default is the same (online CPUs); said explicitly for both. */
	vp.threads = o->threads;
	snprintf(cmdline, sizeof(cmdline), VP_GUEST_STEPS, sz);
	/* memvmm's hugetlb rows take the most: boot RAM and the region. */
	guest_host_find(&h, (VP_BOOT_RAM_BYTES + size) / VP_BLOCK_BYTES);
	vp_thp_plan();
	vp.vm_fd = bench_kvm_vm(&kvm_fd);
	if (guest_sock_dir("vmem-plug", vp.dir, sizeof(vp.dir), vp.sock, sizeof(vp.sock)))
		goto out;
	n = vp_cases(cases, vcs, &h, cmdline);
	if (vp_alloc(vcs, n, o->repeat)) {
		fprintf(stderr, "vmem-plug: out of memory\n");
		goto out;
	}
	run.cases = cases;
	run.ncases = n;
	vp_print_header(o, &h, &vcs[n - 2 * VP_NQB], sz, cmdline, n);
	if (bench_table_run(&run))
		goto out;

	t1 = (struct bench_table){ .bench = "vmem-plug", .nlabels = 3,
		.label_names = { "program", "backend", "populate" },
		.nmetrics = 3, .metric_names = { "plug ms", "memvmm plug ms", "touch ms" },
		.nextra = 3,
		.extra_names = { "plug/populate", "memvmm/populate", "plug/populate 128M" },
		.note_name = "populated", .cases = v1, .repeat = o->repeat };
	t2 = (struct bench_table){ .bench = "vmem-plug", .nlabels = 3,
		.label_names = { "program", "backend", "populate" },
		.nmetrics = 4, .metric_names = { "unplug ms", "memvmm unplug ms", "host +MiB plugged",
						 "host +MiB unplugged" },
		.nextra = 3,
		.extra_names = { "host MiB before", "host +MiB touched", "memvmm resident MiB" },
		.note_name = "host meter", .cases = v2, .repeat = o->repeat, .json_key = "unplug" };
	for (unsigned int i = 0; i < n; i++) {
		const struct vp_case *v = &vcs[i];

		failed += v->fail[0] || (cases[i].err && cases[i].err_round > 0);
		vp_view(&v1[t1.ncases++], &cases[i], plug_vals, 3);
		if (v->kind != VP_MEMVMM && v->kind != VP_QEMU)
			continue;
		vp_view(&v2[t2.ncases], &cases[i], unplug_vals, 4);
		if (bench_case_ok(&v2[t2.ncases])) {
			double min;

			guest_min_median(v->val[VP_HOST_BEFORE_MIB], cases[i].n, &min,
				      &v2[t2.ncases].extra[0]);
			guest_min_median(v->val[VP_HOST_TOUCH_MIB], cases[i].n, &min,
				      &v2[t2.ncases].extra[1]);
			guest_min_median(v->val[VP_RES_PLUG_MIB], cases[i].n, &min,
				      &v2[t2.ncases].extra[2]);
		}
		t2.ncases++;
	}
	vp_ratios(&t1);
	vp_unplug_notes(&t2);
	printf("plug and first touch:\n");
	bench_table_print(&t1, stdout);
	printf("\nunplug and host memory (MiB: the host meter; +: minus the value before the "
	       "plug):\n");
	bench_table_print(&t2, stdout);
	putchar('\n');

	bench_summary_str(s, "size", sz);
	bench_summary_num(s, "threads", vp.threads, 0);
	guest_host_summary(&h, s);
	vp_checks(&t1, &t2, s);
	bench_summary_num(s, "failed", failed, 0);
	status = failed ? 1 : 0;
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_outputs(o->out, tables, 2, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "vmem-plug: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_hugepages_restore();
	bench_table_free(&run);
	for (unsigned int i = 0; vcs && i < n; i++)
		guest_vals_free(vcs[i].val, VP_NVALS);
	guest_sock_dir_remove("vmem-plug", vp.dir);
	if (vp.vm_fd >= 0)
		close(vp.vm_fd);
	if (kvm_fd >= 0)
		close(kvm_fd);
	free(cases);
	free(v1);
	free(v2);
	free(vcs);
	bench_summary_free(s);
	return status;
}
