// SPDX-License-Identifier: MIT
/*
 * restore, part A (restore.h): snapshot restore through mem/, no KVM needed
 * (guest_memfd rows only with /dev/kvm). Per size, a synthetic guest that
 * touched all its RAM (boot RAM's layout, thp=auto's advice, word 0 of each
 * page the test guest's pattern) is saved once into /var/tmp (then
 * unlinked); --cold drops the files from the page cache before each round.
 * Per backend x method, interleaved rounds on fresh memory: 1st (eager: the
 * fill; map: mmap + lease; lazy: start + one served fault), all (a reader
 * thread has read and checked word 0 of every page), total (and the
 * background fill done), the huge-page share. A wrong word: exit 1.
 */
#include "bench/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/guest_bench.h"
#include "bench/stats.h"
#include "guest/abi.h"
#include "mem/lazy.h"
#include "mem/mem.h"
#include "mem/snapshot.h"
#include "mem/thp.h"
#include "vmm/options.h"

#define RS_DIR               "/var/tmp"
#define RS_MIB               (1024.0 * 1024.0)
#define RS_GB                1e9

/* ---- methods and backends, as data ------------------------------------------------- */

enum rs_kind { RS_EAGER, RS_MAP, RS_LAZY };

enum rs_method_id {
	RS_WRITE, RS_POPULATE_COPY, RS_BASELINE, RS_MAP_ID, RS_LAZY_COPY, RS_LAZY_MOVE,
	RS_LAZY_MINOR, RS_NR_METHODS,
};

static const struct rs_method {
	const char *name, *key;
	enum rs_kind kind;
	enum mem_snap_fill_how how;     /* RS_EAGER: forced */
	enum mem_lazy_mode lazy;        /* RS_LAZY */
} rs_methods[RS_NR_METHODS] = {
	[RS_WRITE] = { "eager write()", "write", RS_EAGER, MEM_SNAP_FILL_WRITE, 0 },
	[RS_POPULATE_COPY] = { "eager populate+copy", "populate_copy", RS_EAGER,
			       MEM_SNAP_FILL_POPULATE_COPY, 0 },
	[RS_BASELINE] = { "read+memcpy (baseline)", "baseline", RS_EAGER,
			  MEM_SNAP_FILL_READ_MEMCPY, 0 },
	[RS_MAP_ID] = { "map", "map", RS_MAP, 0, 0 },
	[RS_LAZY_COPY] = { "lazy-copy", "lazy_copy", RS_LAZY, 0, MEM_LAZY_COPY },
	[RS_LAZY_MOVE] = { "lazy-move", "lazy_move", RS_LAZY, 0, MEM_LAZY_MOVE },
	[RS_LAZY_MINOR] = { "lazy-minor", "lazy_minor", RS_LAZY, 0, MEM_LAZY_MINOR },
};

#define RS_BIT(m) (1u << (m))

/* Each backend with the methods it is restored with. */
static const struct rs_backend {
	const struct mem_backend_ops *ops;
	unsigned int methods;
	bool needs_vm;          /* guest_memfd: made for a KVM VM */
	bool hugetlb;           /* the 2 MiB pool must hold the size; never changed here */
} rs_backends[] = {
	{ &mem_backend_anon, RS_BIT(RS_POPULATE_COPY) | RS_BIT(RS_BASELINE) | RS_BIT(RS_MAP_ID) |
	  RS_BIT(RS_LAZY_COPY) | RS_BIT(RS_LAZY_MOVE), false, false },
	{ &mem_backend_memfd, RS_BIT(RS_WRITE) | RS_BIT(RS_POPULATE_COPY) | RS_BIT(RS_BASELINE) |
	  RS_BIT(RS_LAZY_MINOR), false, false },
	{ &mem_backend_hugetlb, RS_BIT(RS_POPULATE_COPY) | RS_BIT(RS_BASELINE), false, true },
	{ &mem_backend_guest_memfd, RS_BIT(RS_WRITE) | RS_BIT(RS_POPULATE_COPY) |
	  RS_BIT(RS_BASELINE), true, false },
};
#define RS_NB (sizeof(rs_backends) / sizeof(rs_backends[0]))
#define RS_CASES_PER_SIZE (RS_NB * RS_NR_METHODS)

/* One size's snapshot: its memory files, read-only and already unlinked. */
struct rs_snap {
	uint64_t size;
	char sz[16];
	char dir[64];
	unsigned int nr;                        /* regions (boot RAM's layout) */
	int fd[MEM_MAX_REGIONS];
	struct mem_snap_src src[MEM_MAX_REGIONS];
	bool src_ready[MEM_MAX_REGIONS];
	char skip[160];                         /* the size does not run: why */
	uint64_t data_bytes;
	unsigned int threads;
	double cached_pct;                      /* page cache share right after the save */
};

struct rs_case {
	const struct rs_backend *b;
	const struct rs_method *m;
	struct rs_snap *snap;
	enum mem_thp_advice advice;
	int skip_err;
	char skip_why[160];
	double *huge;                           /* % per successful round */
	double cache_min;                       /* lowest cached share before a round, % */
	char fail[200];                         /* a failure, not a host limitation */
	char detail[120];                       /* the last round's, for the note */
};

static struct {
	int kvm_fd, vm_fd;                      /* -1 without /dev/kvm */
	char no_vm[160];
	unsigned int threads;
	bool cold;
	struct mem_thp_host thp;
	bool thp_read;
} rs = { .kvm_fd = -1, .vm_fd = -1 };

/* ---- the snapshot of one size ------------------------------------------------------ */

static enum mem_thp_advice rs_advice(const struct mem_backend_ops *ops)
{
	struct mem_thp_plan plan;

	if (!rs.thp_read || mem_thp_decide(MEM_THP_AUTO, ops->thp, &rs.thp, &plan))
		return MEM_THP_ADVICE_NONE;
	return plan.advice;
}

/* The test guest's touch: word 0 of page i (counted over all of RAM) = its pattern. */
static void rs_touch(struct guest_mem *gm)
{
	uint64_t page = 0;

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		struct mem_region *r = &gm->region[i];

		for (uint64_t off = 0; off < r->size; off += MEM_PAGE_BYTES)
			*(volatile uint64_t *)(r->hva + off) = memvmm_page_value(page++);
	}
}

static void rs_snap_release(struct rs_snap *sn)
{
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		if (sn->src_ready[i])
			mem_snap_src_release(&sn->src[i]);
		sn->src_ready[i] = false;
		if (sn->fd[i] >= 0)
			close(sn->fd[i]);
		sn->fd[i] = -1;
	}
	if (sn->dir[0] && rmdir(sn->dir) < 0)
		fprintf(stderr, "restore: rmdir %s: %s\n", sn->dir, strerror(errno));
	sn->dir[0] = '\0';
}

/* Write region i of gm to DIR/mem-i.raw; keep it open read-only, unlinked. */
static int rs_save_region(struct rs_snap *sn, struct guest_mem *gm, unsigned int i, char *why,
			  size_t len)
{
	struct mem_snap_save_opts so = { .max_threads = rs.threads };
	struct mem_snap_save_report rep;
	char path[96];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/mem-%u.raw", sn->dir, i);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "creating %s", path);
		return ret;
	}
	ret = mem_snap_save_region(&gm->region[i], fd, &so, &rep);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		snprintf(why, len, "mem_snap_save_region");
		unlink(path);
		return ret;
	}
	sn->data_bytes += rep.data_bytes;
	sn->threads = rep.threads;
	/* Read-only: map mode's read lease needs it, and nobody may hold it for writing. */
	sn->fd[i] = open(path, O_RDONLY | O_CLOEXEC);
	ret = sn->fd[i] < 0 ? -errno : 0;
	if (unlink(path) < 0 && !ret)
		ret = -errno;
	if (ret)
		snprintf(why, len, "reopening %s", path);
	return ret;
}

/* The save table's case: make the guest, touch it, save it (timed), open the sources. */
static int rs_save_run(struct bench_case *c, double *m)
{
	struct rs_snap *sn = c->ctx;
	struct mem_config cfg = { .size = sn->size, .backend = &mem_backend_anon,
				  .thp_advice = rs_advice(&mem_backend_anon) };
	struct guest_mem gm;
	uint64_t t0;
	int ret;

	memset(&gm, 0, sizeof(gm));
	ret = mem_create(&gm, &cfg, -1, NULL);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "mem_create (anon)");
		return ret;
	}
	rs_touch(&gm);
	snprintf(sn->dir, sizeof(sn->dir), RS_DIR "/memvmm-bench-restore-XXXXXX");
	if (!mkdtemp(sn->dir)) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "mkdtemp in " RS_DIR);
		sn->dir[0] = '\0';
		goto out;
	}
	sn->nr = gm.nr_regions;
	t0 = bench_now_ns();
	for (unsigned int i = 0; i < gm.nr_regions && !ret; i++)
		ret = rs_save_region(sn, &gm, i, c->why, sizeof(c->why));
	m[0] = bench_ms_since(t0);
	for (unsigned int i = 0; i < gm.nr_regions && !ret; i++) {
		sn->src[i] = (struct mem_snap_src){ .size = gm.region[i].size, .nr_layers = 1,
						    .layer = { { .fd = sn->fd[i] } } };
		ret = mem_snap_src_init(&sn->src[i], NULL);
		sn->src_ready[i] = !ret;
		if (ret)
			snprintf(c->why, sizeof(c->why), "mem_snap_src_init");
	}
out:
	mem_destroy(&gm);
	if (!ret)
		sn->cached_pct = rs_files_cached_pct(sn->fd, sn->nr);
	return ret;
}

/* ---- one restore ------------------------------------------------------------------- */

struct rs_reader {
	const struct guest_mem *gm;
	uint64_t t0;
	double ms;                  /* from t0 until every page was read */
	uint64_t bad, first_bad;
	pthread_t thread;
};

/* Word 0 of every page, in address order, as the test guest's verify walks it. */
static void *rs_reader_thread(void *arg)
{
	struct rs_reader *rd = arg;
	uint64_t page = 0;

	for (unsigned int i = 0; i < rd->gm->nr_regions; i++) {
		const struct mem_region *r = &rd->gm->region[i];

		for (uint64_t off = 0; off < r->size; off += MEM_PAGE_BYTES, page++) {
			if (*(const volatile uint64_t *)(r->hva + off) == memvmm_page_value(page))
				continue;
			if (!rd->bad++)
				rd->first_bad = page;
		}
	}
	rd->ms = bench_ms_since(rd->t0);
	return NULL;
}

/* Drop (--cold) and measure the page cache's share of the files before a round. */
static int rs_cache_round(struct rs_case *v, struct bench_case *c)
{
	struct rs_snap *sn = v->snap;
	double pct;

	for (unsigned int i = 0; rs.cold && i < sn->nr; i++) {
		int err = posix_fadvise(sn->fd[i], 0, 0, POSIX_FADV_DONTNEED);

		if (err) {
			snprintf(c->why, sizeof(c->why), "posix_fadvise(DONTNEED)");
			return -err;
		}
	}
	pct = rs_files_cached_pct(sn->fd, sn->nr);
	if (isnan(v->cache_min) || pct < v->cache_min)
		v->cache_min = pct;
	return 0;
}

/* Start the method on every region: the part timed as "1st instr". */
static int rs_start(struct rs_case *v, struct bench_case *c, struct guest_mem *gm,
		    struct mem_lazy **lazy, struct mem_snap_map **map)
{
	const struct rs_method *m = v->m;
	struct rs_snap *sn = v->snap;
	struct mem_snap_fill_opts fo = { .force = true, .how = m->how,
					 .prealloc = MEM_POPULATE_NONE,
					 .max_threads = rs.threads };
	struct mem_lazy_opts lo = { .mode = m->lazy, .order = MEM_LAZY_ORDER_NEAR_FAULTS,
				    .collapse = true };
	struct mem_snap_fill_report rep;
	int ret = 0;

	for (unsigned int i = 0; i < gm->nr_regions && !ret; i++) {
		switch (m->kind) {
		case RS_EAGER:
			ret = mem_snap_fill_region(gm, i, &sn->src[i], &fo, &rep);
			if (ret == -EOPNOTSUPP && rep.why[0]) {
				snprintf(c->why, sizeof(c->why), "%s", rep.why);
				c->why_is_message = true;
			} else if (ret) {
				snprintf(c->why, sizeof(c->why), "mem_snap_fill_region");
			}
			snprintf(v->detail, sizeof(v->detail), "%u thread%s", rep.threads,
				 rep.threads == 1 ? "" : "s");
			break;
		case RS_MAP:
			ret = mem_snap_map_region(gm, i, &sn->src[i], &map[i], c->why,
						  sizeof(c->why));
			c->why_is_message = ret == -EOPNOTSUPP;
			break;
		case RS_LAZY:
			ret = mem_lazy_start(gm, i, &sn->src[i], &lo, &lazy[i]);
			if (ret)
				snprintf(c->why, sizeof(c->why), "mem_lazy_start");
			break;
		}
	}
	if (ret || m->kind != RS_LAZY)
		return ret;
	/* The first instruction: one word of the first page, served by the fault path. */
	if (*(const volatile uint64_t *)gm->region[0].hva != memvmm_page_value(0)) {
		fprintf(stderr, "restore: %s %s %s: WRONG first word after the first fault\n",
			sn->sz, v->b->ops->name, m->name);
		return BENCH_FATAL;
	}
	return 0;
}

/* Lazy: wait for every background fill; its report into the note. */
static int rs_lazy_finish(struct rs_case *v, struct bench_case *c, struct mem_lazy **lazy,
			  unsigned int nr)
{
	uint64_t faults = 0, fault_pages = 0, bg = 0, max_ns = 0;
	int ret = 0, collapse_err = 0;

	for (unsigned int i = 0; i < nr && !ret; i++) {
		struct mem_lazy_report rep;

		ret = mem_lazy_wait(lazy[i], -1);
		mem_lazy_get_report(lazy[i], &rep);
		if (!ret && (rep.err || !rep.done))
			ret = rep.err ? rep.err : -EIO;
		if (ret)
			snprintf(c->why, sizeof(c->why), "the lazy fill of region %u", i);
		faults += rep.faults;
		fault_pages += rep.fault_pages;
		bg += rep.background_pages;
		if (rep.fault_max_ns > max_ns)
			max_ns = rep.fault_max_ns;
		if (rep.collapse_err && !collapse_err)
			collapse_err = rep.collapse_err;
	}
	snprintf(v->detail, sizeof(v->detail), "%llu faults (%llu pages, longest %.2f ms), "
		 "%llu pages in the background%s%s", (unsigned long long)faults,
		 (unsigned long long)fault_pages, (double)max_ns / 1e6, (unsigned long long)bg,
		 collapse_err ? ", MADV_COLLAPSE " : "",
		 collapse_err ? bench_errname(-collapse_err) : "");
	return ret;
}

static int rs_run(struct bench_case *c, double *m)
{
	struct rs_case *v = c->ctx;
	struct rs_snap *sn = v->snap;
	struct mem_config cfg = { .size = sn->size, .backend = v->b->ops, .thp_advice = v->advice };
	struct mem_lazy *lazy[MEM_MAX_REGIONS] = { NULL };
	struct mem_snap_map *map[MEM_MAX_REGIONS] = { NULL };
	struct rs_reader rd = { .ms = NAN };
	uint64_t huge[MEM_MAX_REGIONS], huge_sum = 0;
	struct guest_mem gm;
	int ret = guest_case_skipped(c, v->skip_err, v->skip_why);

	if (ret)
		return ret;
	v->detail[0] = '\0';
	ret = rs_cache_round(v, c);
	if (ret)
		return ret;
	memset(&gm, 0, sizeof(gm));
	ret = mem_create(&gm, &cfg, v->b->needs_vm ? rs.vm_fd : -1, NULL);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "mem_create (%s)", v->b->ops->name);
		return ret;
	}
	if (gm.nr_regions != sn->nr) {
		snprintf(c->why, sizeof(c->why), "%u regions, the snapshot has %u", gm.nr_regions,
			 sn->nr);
		ret = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; v->m->kind == RS_LAZY && i < gm.nr_regions && !ret; i++) {
		ret = mem_lazy_check(&gm.region[i], v->m->lazy, c->why, sizeof(c->why));
		c->why_is_message = ret == -EOPNOTSUPP || ret == -EPERM;
	}
	if (ret)
		goto out;

	rd.t0 = bench_now_ns();
	rd.gm = &gm;
	ret = rs_start(v, c, &gm, lazy, map);
	m[0] = bench_ms_since(rd.t0);
	if (ret)
		goto out;
	ret = -pthread_create(&rd.thread, NULL, rs_reader_thread, &rd);
	if (!ret)
		ret = -pthread_join(rd.thread, NULL);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "the reader thread");
		goto out;
	}
	m[1] = rd.ms;
	if (v->m->kind == RS_LAZY)
		ret = rs_lazy_finish(v, c, lazy, gm.nr_regions);
	m[2] = v->m->kind == RS_LAZY ? fmax(m[1], bench_ms_since(rd.t0)) : m[1];
	if (ret)
		goto out;
	if (rd.bad) {
		fprintf(stderr, "restore: %s %s %s: WRONG RESTORE: %llu pages do not hold the "
			"pattern, the first page %llu\n", sn->sz, v->b->ops->name, v->m->name,
			(unsigned long long)rd.bad, (unsigned long long)rd.first_bad);
		ret = BENCH_FATAL;
		goto out;
	}
	ret = mem_huge_bytes(&gm, huge);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "mem_huge_bytes");
		goto out;
	}
	for (unsigned int i = 0; i < gm.nr_regions; i++)
		huge_sum += huge[i];
	v->huge[c->n] = 100.0 * (double)huge_sum / (double)sn->size;
out:
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		mem_lazy_stop(lazy[i]);
		mem_snap_map_release(map[i]);
	}
	mem_destroy(&gm);
	if (ret && ret != BENCH_FATAL && ret != -EOPNOTSUPP && !c->why_is_message)
		snprintf(v->fail, sizeof(v->fail), "%.150s: %s", c->why[0] ? c->why : "error",
			 bench_errname(-ret));
	return ret;
}

/* ---- cases ------------------------------------------------------------------------- */

/* Why backend b cannot run at size bytes here, or NULL. */
static const char *rs_backend_skip(const struct rs_backend *b, uint64_t size, char *buf,
				   size_t len, int *err)
{
	if (b->needs_vm && rs.vm_fd < 0) {
		*err = -ENODEV;
		return rs.no_vm;
	}
	if (b->needs_vm && b->ops->supported(rs.vm_fd, buf, len)) {
		*err = -EOPNOTSUPP;
		return buf;
	}
	if (b->hugetlb && rs_hugetlb_lacks(size, buf, len)) {
		*err = -ENOMEM;
		return buf;
	}
	return NULL;
}

static unsigned int rs_cases(struct rs_snap *sn, struct bench_case *cases, struct rs_case *vcs)
{
	unsigned int n = 0;

	for (unsigned int b = 0; b < RS_NB; b++) {
		const struct rs_backend *rb = &rs_backends[b];
		char buf[160];
		int err = 0;
		const char *skip = rs_backend_skip(rb, sn->size, buf, sizeof(buf), &err);

		for (unsigned int k = 0; k < RS_NR_METHODS; k++) {
			struct rs_case *v = &vcs[n];
			struct bench_case *c = &cases[n];

			if (!(rb->methods & RS_BIT(k)))
				continue;
			*v = (struct rs_case){ .b = rb, .m = &rs_methods[k], .snap = sn,
					       .advice = rs_advice(rb->ops), .cache_min = NAN,
					       .huge = v->huge };
			if (skip)
				guest_skip(&v->skip_err, v->skip_why, sizeof(v->skip_why), err,
					   skip);
			*c = (struct bench_case){ .label = { sn->sz, rb->ops->name,
							     rs_methods[k].name },
						  .run = rs_run, .ctx = v };
			snprintf(c->key, sizeof(c->key), "%s_%s_%s", sn->sz, rb->ops->name,
				 rs_methods[k].key);
			n++;
		}
	}
	return n;
}

/* Extras and notes of one size's rows, from the medians; failures said as such. */
static void rs_extras(struct bench_case *cases, unsigned int n, unsigned int *failed)
{
	for (unsigned int i = 0; i < n; i++) {
		struct bench_case *c = &cases[i];
		struct rs_case *v = c->ctx;
		const struct bench_case *base = NULL;
		double min;

		if (!rs_case_usable(c, v->fail, failed))
			continue;
		for (unsigned int j = 0; j < n; j++) {
			const struct rs_case *w = cases[j].ctx;

			if (w->b == v->b && w->m == &rs_methods[RS_BASELINE] &&
			    bench_case_ok(&cases[j]))
				base = &cases[j];
		}
		guest_min_median(v->huge, c->n, &min, &c->extra[0]);
		c->extra[1] = base ? base->median[0] / c->median[0] : NAN;
		c->extra[2] = base ? base->median[1] / c->median[1] : NAN;
		snprintf(c->note, sizeof(c->note), "cache %.0f%%%s%s", v->cache_min,
			 v->detail[0] ? "; " : "", v->detail);
	}
}

/* Median 1st ms of a row of this size, NAN if it has none. */
static double rs_med(struct bench_table *t, const char *sz, const char *backend, unsigned int m)
{
	char key[80];

	snprintf(key, sizeof(key), "%s_%s_%s", sz, backend, rs_methods[m].key);
	return bench_table_median(t, key, 0);
}

/* The keys for issue 11's Done-when, per size (fmin/fmax pass over NAN). */
static void rs_summary_size(struct bench_table *t, const struct rs_snap *sn,
			    struct bench_summary *s, double save_ms)
{
	const char *sz = sn->sz;
	double lazy_max = NAN, gm = fmin(rs_med(t, sz, "guest_memfd", RS_WRITE),
					 rs_med(t, sz, "guest_memfd", RS_POPULATE_COPY));
	char key[80];

	for (unsigned int k = RS_LAZY_COPY; k <= RS_LAZY_MINOR; k++)
		for (unsigned int b = 0; b < RS_NB; b++)
			lazy_max = fmax(lazy_max, rs_med(t, sz, rs_backends[b].ops->name, k));
	snprintf(key, sizeof(key), "%s_save_ms", sz);
	bench_summary_num(s, key, save_ms, 1);
	snprintf(key, sizeof(key), "%s_lazy_first_max_ms", sz);
	bench_summary_num(s, key, lazy_max, 3);
	snprintf(key, sizeof(key), "%s_gmem_eager_vs_baseline", sz);
	bench_summary_num(s, key, rs_med(t, sz, "guest_memfd", RS_BASELINE) / gm, 2);
	snprintf(key, sizeof(key), "%s_memfd_write_vs_populate", sz);
	bench_summary_num(s, key, rs_med(t, sz, "memfd", RS_POPULATE_COPY) /
			  rs_med(t, sz, "memfd", RS_WRITE), 2);
}

/* ---- the benchmark ----------------------------------------------------------------- */

static void rs_setup(const struct bench_opts *o)
{
	char why[160];
	int vm;

	rs.threads = o->threads;
	rs.cold = bench_restore_opts.cold;
	rs.thp_read = mem_thp_host_read("", &rs.thp) == 0;
	vm = bench_kvm_vm(&rs.kvm_fd);
	if (vm < 0) {
		snprintf(rs.no_vm, sizeof(rs.no_vm), "no /dev/kvm here (%s): guest_memfd needs a "
			 "KVM VM", bench_errname(-vm));
		rs.kvm_fd = -1;
		return;
	}
	rs.vm_fd = vm;
	if (mem_backend_guest_memfd.supported(vm, why, sizeof(why)))
		snprintf(rs.no_vm, sizeof(rs.no_vm), "%s", why);
}

static void rs_print_header(const struct bench_opts *o, const char *sizes)
{
	printf("restore, part A: mem/'s restore methods, no VM: a guest that touched all its "
	       "RAM (word 0 of each\npage, the test guest's pattern; sizes %s) saved with "
	       "mem_snap_save_region() to " RS_DIR ",\nthen restored per backend x method, "
	       "%u interleaved rounds, %u threads for the fills\n", sizes, o->repeat,
	       rs.threads);
	printf("page cache: %s\n", rs.cold ?
	       "cold: the memory files are dropped (POSIX_FADV_DONTNEED) before each round" :
	       "warm: the files were just written and stay cached (--cold drops them before "
	       "each round); 'cache' in the notes is the share cached before a round (lowest)");
	printf("1st: to the first instruction (eager/baseline: the whole fill; map: mmap + "
	       "lease;\n  lazy: mem_lazy_start() + one served fault on the first page)\n"
	       "all: until a reader thread started at 1st has read word 0 of every page "
	       "(checked)\ntotal: until that and the background fill (lazy, MADV_COLLAPSE "
	       "included) are done\nhuge %%: RAM in 2M pages after (thp=auto's advice); "
	       "x r+m: the same backend's read+memcpy\n  median over this row's (1st, all)\n");
	if (rs.no_vm[0])
		printf("guest_memfd rows: %s\n", rs.no_vm);
	putchar('\n');
}

/* Part A for one size: save, then the interleaved restore rounds. BENCH_FATAL or 0. */
static int rs_run_size(const struct bench_opts *o, struct rs_snap *sn, struct bench_case *save,
		       struct bench_table *t, unsigned int first, unsigned int n,
		       struct bench_summary *s, unsigned int *failed)
{
	struct bench_table st = { .bench = "restore", .nlabels = 2, .nmetrics = 1,
				  .cases = save, .ncases = 1, .repeat = 1 };
	struct bench_table sub = *t;
	int ret;

	ret = bench_table_run(&st);
	if (ret)
		return ret;
	if (!bench_case_ok(save)) {
		printf("%s: the save failed: %s\n\n", sn->sz, save->why);
		(*failed)++;
		return 0;
	}
	save->extra[0] = (double)sn->data_bytes / RS_GB / (save->median[0] / 1e3);
	save->extra[1] = (double)sn->data_bytes / RS_MIB;
	snprintf(save->note, sizeof(save->note), "%u region%s, %u threads, fsync included; "
		 "cached after: %.0f%%", sn->nr, sn->nr == 1 ? "" : "s", sn->threads,
		 sn->cached_pct);
	printf("%s: saved %.0f MiB in %.1f ms (%.2f GB/s, %u threads, fsync included)\n",
	       sn->sz, save->extra[1], save->median[0], save->extra[0], sn->threads);
	sub.cases = &t->cases[first];
	sub.ncases = n;
	sub.repeat = o->repeat;
	ret = bench_table_run(&sub);
	if (ret)
		return ret;
	rs_extras(sub.cases, n, failed);
	bench_table_print(&sub, stdout);
	putchar('\n');
	rs_summary_size(t, sn, s, save->median[0]);
	return 0;
}

int bench_restore(const struct bench_opts *o)
{
	uint64_t sizes[RS_MAX_SIZES];
	unsigned int nsizes = 0, n = 0, failed = 0, first[RS_MAX_SIZES], count[RS_MAX_SIZES];
	struct rs_snap snaps[RS_MAX_SIZES];
	struct bench_case save_cases[RS_MAX_SIZES];
	struct bench_case *cases = calloc(RS_MAX_SIZES * RS_CASES_PER_SIZE, sizeof(*cases));
	struct rs_case *vcs = calloc(RS_MAX_SIZES * RS_CASES_PER_SIZE, sizeof(*vcs));
	double *huge = NULL;
	struct bench_summary *s = bench_summary_new("restore");
	struct bench_table t = {
		.bench = "restore", .nlabels = 3, .label_names = { "size", "backend", "method" },
		.nmetrics = 3, .metric_names = { "1st ms", "all ms", "total ms" },
		.nextra = 3, .extra_names = { "huge %", "x r+m 1st", "x r+m all" },
		.note_name = "notes", .cases = cases, .repeat = o->repeat,
	};
	struct bench_table ts = {
		.bench = "restore", .nlabels = 2, .label_names = { "size", "source" },
		.nmetrics = 1, .metric_names = { "save ms" },
		.nextra = 2, .extra_names = { "GB/s", "data MiB" }, .note_name = "notes",
		.cases = save_cases, .repeat = 1, .json_key = "save",
	};
	struct bench_table vs = { .ncases = 0 }, vm = { .ncases = 0 };
	sigset_t lease_sig;
	char list[256] = "", skipped[256] = "";
	int status = 1, ret;

	memset(snaps, 0, sizeof(snaps));
	for (unsigned int k = 0; k < RS_MAX_SIZES; k++)
		for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++)
			snaps[k].fd[i] = -1;
	memset(save_cases, 0, sizeof(save_cases));
	ret = rs_sizes(o, sizes, &nsizes);
	if (ret) {
		status = ret;
		goto out;
	}
	huge = calloc((size_t)RS_MAX_SIZES * RS_CASES_PER_SIZE * o->repeat, sizeof(double));
	if (!s || !cases || !vcs || !huge) {
		fprintf(stderr, "restore: out of memory\n");
		goto out;
	}
	rs_setup(o);
	/* Map mode's lease signal: a lease break is read by memvmm; here nobody breaks it. */
	sigemptyset(&lease_sig);
	sigaddset(&lease_sig, mem_snap_map_signal());
	ret = pthread_sigmask(SIG_BLOCK, &lease_sig, NULL);
	if (ret) {
		fprintf(stderr, "restore: pthread_sigmask: %s\n", strerror(ret));
		goto out;
	}
	for (unsigned int k = 0; k < nsizes; k++) {
		struct rs_snap *sn = &snaps[k];
		struct bench_case *sc;
		size_t len;

		sn->size = sizes[k];
		bench_fmt_size(sizes[k], sn->sz, sizeof(sn->sz));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? "," : "",
			 sn->sz);
		first[k] = n;
		count[k] = 0;
		sc = &save_cases[k];
		*sc = (struct bench_case){ .label = { sn->sz, "anon (the touched guest)" },
					   .run = rs_save_run, .ctx = sn };
		snprintf(sc->key, sizeof(sc->key), "%s_save", sn->sz);
		if (rs_host_lacks(sizes[k], RS_DIR, sn->skip, sizeof(sn->skip))) {
			snprintf(sc->why, sizeof(sc->why), "skipped: %s", sn->skip);
			sc->err = -ENOMEM;
			len = strlen(skipped);
			snprintf(skipped + len, sizeof(skipped) - len, "%s%s", len ? "," : "",
				 sn->sz);
			continue;
		}
		for (unsigned int i = 0; i < RS_CASES_PER_SIZE; i++)
			vcs[n + i].huge = huge + (size_t)(n + i) * o->repeat;
		count[k] = rs_cases(sn, cases + n, vcs + n);
		n += count[k];
	}
	t.ncases = n;
	rs_print_header(o, list);
	for (unsigned int k = 0; k < nsizes; k++) {
		if (snaps[k].skip[0]) {
			printf("%s: skipped: %s\n\n", snaps[k].sz, snaps[k].skip);
			continue;
		}
		ret = rs_run_size(o, &snaps[k], &save_cases[k], &t, first[k], count[k], s, &failed);
		rs_snap_release(&snaps[k]);
		if (ret)
			goto out;
	}
	ts.ncases = nsizes;
	printf("saves (one each; the source: anonymous memory, thp=auto's advice):\n");
	bench_table_print(&ts, stdout);
	putchar('\n');
	ret = pthread_sigmask(SIG_UNBLOCK, &lease_sig, NULL);
	if (ret)
		fprintf(stderr, "restore: pthread_sigmask: %s\n", strerror(ret));

	ret = rs_vm_run(o, sizes, nsizes, s, &vs, &vm, &failed);
	if (ret)
		goto out;
	bench_summary_str(s, "sizes", list);
	bench_summary_str(s, "skipped_sizes", skipped[0] ? skipped : "none");
	bench_summary_str(s, "cache", rs.cold ? "cold" : "warm");
	bench_summary_num(s, "cases", n, 0);
	bench_summary_num(s, "failed", failed, 0);
	status = failed ? 1 : 0;
	if (o->out) {
		const struct bench_table *tables[] = { &t, &ts, &vs, &vm };
		json_object *opts = bench_opts_json(o, sizes[0]);

		json_object_object_add(opts, "sizes", json_object_new_string(list));
		json_object_object_add(opts, "cold", json_object_new_boolean(rs.cold));
		ret = bench_write_outputs(o->out, tables, vm.ncases ? 4 : 2, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "restore: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	bench_summary_print(s, stdout);
out:
	for (unsigned int k = 0; k < nsizes; k++)
		rs_snap_release(&snaps[k]);
	bench_table_free(&t);
	bench_table_free(&ts);
	rs_vm_free(&vs, &vm);
	if (rs.vm_fd >= 0)
		close(rs.vm_fd);
	if (rs.kvm_fd >= 0)
		close(rs.kvm_fd);
	free(huge);
	free(vcs);
	free(cases);
	bench_summary_free(s);
	return status;
}
