// SPDX-License-Identifier: MIT
/*
 * gmem-fill: fill --size bytes of guest_memfd (through memvmm's mem/ layer)
 * from a source buffer, the way a snapshot restore or initrd load would.
 *
 * The baseline is a plain memcpy through the mapping on one thread, taking
 * a fault per page. Against it: mem_populate() with each strategy on 1 and
 * N threads, mem_populate(AUTO), and for reference anonymous memory filled
 * by UFFDIO_COPY and UFFDIO_MOVE, and the floor: memcpy into memory that is
 * already populated. Every case is checked afterwards (outside the timing)
 * against the source; a wrong fill stops the benchmark with exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/userfaultfd.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/populate.h"

#define GF_DEFAULT_BYTES     (3ull << 30)
#define GF_PAGE_BYTES        4096ull
#define GF_ALIGN_BYTES       (2ull << 20)   /* uffd ranges: allow PMD-sized moves */
#define GF_UFFD_CHUNK_BYTES  (16ull << 20)  /* one UFFDIO_COPY/MOVE call */
#define GF_VERIFY_EVERY      1024ull        /* pages between checked pages */
/*
 * memcpy in steps of the engine's size: one multi-GiB memcpy() takes
 * glibc's non-temporal path, which would measure glibc, not population.
 */
#define GF_COPY_CHUNK_BYTES  MEM_POPULATE_STEP_BYTES
#define GF_MAX_THREADS       64u

enum gf_kind {
	GF_BASELINE,     /* own memcpy loop, faults, 1 thread */
	GF_ENGINE,       /* mem_populate with an explicit strategy */
	GF_AUTO,         /* mem_populate(AUTO) */
	GF_UFFD_COPY,
	GF_UFFD_MOVE,
	GF_FLOOR,        /* memcpy into populated guest_memfd */
};

struct gf_case {
	enum gf_kind kind;
	enum mem_populate_strategy strategy;
	unsigned int threads;
	char threads_label[8];
};

static struct {
	const uint8_t *src;
	uint64_t size;
	int vm_fd;
} gf;

/* One contiguous piece of the destination and where it comes from in the source. */
struct gf_piece {
	uint8_t *dst;
	uint64_t src_off;
	uint64_t len;
};

static uint64_t pattern_word(uint64_t i)
{
	/* An odd multiplier is a bijection: never 0 for i + 1 != 0. */
	return (i + 1) * 0x9e3779b97f4a7c15ull;
}

/* Sampled check: every GF_VERIFY_EVERY-th page's first 8 bytes, and the last page. */
static int gf_verify(const char *what, const struct gf_piece *pieces, unsigned int n)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < n; i++) {
		const struct gf_piece *p = &pieces[i];

		for (uint64_t off = 0; off < p->len; off += GF_PAGE_BYTES) {
			uint64_t page = (p->src_off + off) / GF_PAGE_BYTES;

			if (page % GF_VERIFY_EVERY)
				continue;
			if (memcmp(p->dst + off, gf.src + p->src_off + off, 8)) {
				fprintf(stderr, "gmem-fill: %s: WRONG FILL at byte %lu\n", what,
					p->src_off + off);
				return BENCH_FATAL;
			}
		}
		total += p->len;
	}
	if (n && total == gf.size) {
		const struct gf_piece *p = &pieces[n - 1];

		if (memcmp(p->dst + p->len - GF_PAGE_BYTES,
			   gf.src + p->src_off + p->len - GF_PAGE_BYTES, GF_PAGE_BYTES)) {
			fprintf(stderr, "gmem-fill: %s: WRONG FILL in the last page\n", what);
			return BENCH_FATAL;
		}
	}
	if (total != gf.size) {
		fprintf(stderr, "gmem-fill: %s: destination holds %lu bytes, not %lu\n", what,
			total, gf.size);
		return BENCH_FATAL;
	}
	return 0;
}

static unsigned int gm_pieces(const struct guest_mem *gm, struct gf_piece *pieces)
{
	uint64_t off = 0;

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		pieces[i] = (struct gf_piece){ gm->region[i].hva, off, gm->region[i].size };
		off += gm->region[i].size;
	}
	return gm->nr_regions;
}

/* Jobs on own threads (the reference cases do not use the engine under test). */
struct gf_job {
	int (*fn)(struct gf_job *j);
	uint8_t *dst;
	const uint8_t *src;
	uint64_t len;
	int uffd;
	int ret;
	pthread_t thread;
};

static void *gf_job_thread(void *arg)
{
	struct gf_job *j = arg;

	j->ret = j->fn(j);
	return NULL;
}

/* Split piece p into n jobs (page-aligned parts) and run them; first error. */
static int gf_run_split(const struct gf_piece *p, unsigned int n, int (*fn)(struct gf_job *),
			uint8_t *src_base, int uffd)
{
	struct gf_job jobs[GF_MAX_THREADS];
	uint64_t part = p->len / n / GF_ALIGN_BYTES * GF_ALIGN_BYTES, pos = 0;
	unsigned int started = 1;
	int ret = 0;

	if (!part)
		n = 1;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t len = i == n - 1 ? p->len - pos : part;

		jobs[i] = (struct gf_job){ .fn = fn, .dst = p->dst + pos,
					   .src = src_base + p->src_off + pos, .len = len,
					   .uffd = uffd };
		pos += len;
	}
	for (; started < n; started++) {
		ret = pthread_create(&jobs[started].thread, NULL, gf_job_thread, &jobs[started]);
		if (ret) {
			ret = -ret;
			break;
		}
	}
	jobs[0].ret = fn(&jobs[0]);
	for (unsigned int i = 1; i < started; i++) {
		int jr = pthread_join(jobs[i].thread, NULL);

		if (jr && !ret)
			ret = -jr;
	}
	for (unsigned int i = 0; i < started && !ret; i++)
		ret = jobs[i].ret;
	return ret;
}

/* The plain copy loop of the baseline and the floor. */
static void copy_chunked(uint8_t *dst, const uint8_t *src, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += GF_COPY_CHUNK_BYTES)
		memcpy(dst + off, src + off,
		       len - off < GF_COPY_CHUNK_BYTES ? len - off : GF_COPY_CHUNK_BYTES);
}

static int job_memcpy(struct gf_job *j)
{
	copy_chunked(j->dst, j->src, j->len);
	return 0;
}

static int job_uffd_copy(struct gf_job *j)
{
	uint64_t done = 0;

	while (done < j->len) {
		uint64_t len = j->len - done < GF_UFFD_CHUNK_BYTES ? j->len - done :
			       GF_UFFD_CHUNK_BYTES;
		struct uffdio_copy cp = {
			.dst = (uintptr_t)(j->dst + done), .src = (uintptr_t)(j->src + done),
			.len = len,
		};

		if (ioctl(j->uffd, UFFDIO_COPY, &cp) < 0) {
			if (errno != EAGAIN || cp.copy <= 0)
				return errno == EAGAIN ? -EAGAIN : -errno;
			done += (uint64_t)cp.copy;   /* partial: go on from there */
			continue;
		}
		done += len;
	}
	return 0;
}

static int job_uffd_move(struct gf_job *j)
{
	uint64_t done = 0;

	while (done < j->len) {
		uint64_t len = j->len - done < GF_UFFD_CHUNK_BYTES ? j->len - done :
			       GF_UFFD_CHUNK_BYTES;
		struct uffdio_move mv = {
			.dst = (uintptr_t)(j->dst + done), .src = (uintptr_t)(j->src + done),
			.len = len,
		};

		if (ioctl(j->uffd, UFFDIO_MOVE, &mv) < 0) {
			if (errno != EAGAIN || mv.move <= 0)
				return errno == EAGAIN ? -EAGAIN : -errno;
			done += (uint64_t)mv.move;
			continue;
		}
		done += len;
	}
	return 0;
}

/* Anonymous private memory, GF_ALIGN_BYTES aligned; NULL with errno set. */
static uint8_t *anon_aligned(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + GF_ALIGN_BYTES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t head;

	if (p == MAP_FAILED)
		return NULL;
	head = (GF_ALIGN_BYTES - (uintptr_t)p % GF_ALIGN_BYTES) % GF_ALIGN_BYTES;
	if ((head && munmap(p, head) < 0) ||
	    munmap(p + head + size, GF_ALIGN_BYTES - head) < 0)
		return NULL;
	return p + head;
}

/* UFFDIO_COPY / UFFDIO_MOVE into a fresh anon range registered for MISSING faults. */
static int gf_uffd(struct bench_case *c, const struct gf_case *fc, double *ms)
{
	bool move = fc->kind == GF_UFFD_MOVE;
	struct uffdio_api api = { .api = UFFD_API, .features = move ? UFFD_FEATURE_MOVE : 0 };
	uint8_t *dst = NULL, *moved = NULL;
	struct gf_piece piece;
	uint64_t t0;
	int uffd, ret = 0;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return -errno;
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "UFFDIO_API%s", move ? " with FEATURE_MOVE" : "");
		goto out;
	}
	dst = anon_aligned(gf.size);
	if (move && dst)
		moved = anon_aligned(gf.size);
	if (!dst || (move && !moved)) {
		ret = -errno;
		goto out;
	}
	if (move)   /* fresh anonymous source pages, outside the timing */
		memcpy(moved, gf.src, gf.size);
	{
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)dst, .len = gf.size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
			ret = -errno;
			snprintf(c->why, sizeof(c->why), "UFFDIO_REGISTER");
			goto out;
		}
	}
	piece = (struct gf_piece){ dst, 0, gf.size };
	t0 = bench_now_ns();
	ret = gf_run_split(&piece, fc->threads, move ? job_uffd_move : job_uffd_copy,
			   move ? moved : (uint8_t *)gf.src, uffd);
	*ms = bench_ms_since(t0);
	if (ret)
		snprintf(c->why, sizeof(c->why), "%s", move ? "UFFDIO_MOVE" : "UFFDIO_COPY");
	else
		ret = gf_verify(c->label[0], &piece, 1);
out:
	if (moved && munmap(moved, gf.size) < 0 && !ret)
		ret = -errno;
	if (dst && munmap(dst, gf.size) < 0 && !ret)
		ret = -errno;
	if (close(uffd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/*
 * mem_populate() over all of RAM. The range is per region: for more than
 * 3 GiB, [0, size) would cover the MMIO hole, which is not RAM.
 */
static int gf_populate(struct guest_mem *gm, enum mem_populate_strategy s,
		       unsigned int max_threads, struct mem_populate_report *first)
{
	uint64_t src_off = 0;

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		struct mem_region *r = &gm->region[i];
		struct mem_source src = { .buf = gf.src + src_off, .fd = -1 };
		struct mem_populate_req req = { .strategy = s, .max_threads = max_threads,
						 .src = &src };
		struct mem_populate_report rep;
		int ret = mem_populate(gm, r->gpa, r->size, &req, &rep);

		if (i == 0)
			*first = rep;
		if (ret)
			return ret;
		src_off += r->size;
	}
	return 0;
}

static int gf_run(struct bench_case *c, double *metrics)
{
	const struct gf_case *fc = c->ctx;
	struct mem_config cfg = { .size = gf.size, .backend = &mem_backend_guest_memfd };
	struct gf_piece pieces[MEM_MAX_REGIONS];
	struct mem_populate_report rep;
	struct guest_mem gm;
	unsigned int n;
	uint64_t t0;
	int ret;

	if (fc->kind == GF_UFFD_COPY || fc->kind == GF_UFFD_MOVE)
		return gf_uffd(c, fc, &metrics[0]);

	memset(&gm, 0, sizeof(gm));
	ret = mem_create(&gm, &cfg, gf.vm_fd, NULL);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "mem_create");
		return ret;
	}
	n = gm_pieces(&gm, pieces);
	if (fc->kind == GF_ENGINE && fc->strategy == MEM_POPULATE_WRITE) {
		char byte = 0;

		/* write() on the file at all? (a zero-length write changes nothing) */
		if (write(gm.region[0].fd, &byte, 0) < 0) {
			ret = -errno;
			goto out;
		}
	}
	if (fc->kind == GF_FLOOR) {
		for (unsigned int i = 0; i < n && !ret; i++)
			if (madvise(pieces[i].dst, pieces[i].len, MADV_POPULATE_WRITE) < 0)
				ret = -errno;
		if (ret) {
			snprintf(c->why, sizeof(c->why), "MADV_POPULATE_WRITE");
			goto out;
		}
	}

	t0 = bench_now_ns();
	switch (fc->kind) {
	case GF_BASELINE:
		for (unsigned int i = 0; i < n; i++)
			copy_chunked(pieces[i].dst, gf.src + pieces[i].src_off, pieces[i].len);
		break;
	case GF_FLOOR:
		for (unsigned int i = 0; i < n && !ret; i++)
			ret = gf_run_split(&pieces[i], fc->threads, job_memcpy,
					   (uint8_t *)gf.src, -1);
		break;
	case GF_ENGINE:
		ret = gf_populate(&gm, fc->strategy, fc->threads, &rep);
		break;
	case GF_AUTO:
		ret = gf_populate(&gm, MEM_POPULATE_AUTO, 0, &rep);
		break;
	default:
		ret = -EINVAL;
	}
	metrics[0] = bench_ms_since(t0);
	if (fc->kind == GF_ENGINE || fc->kind == GF_AUTO) {
		snprintf(c->note, sizeof(c->note), "used=%.16s threads=%u%s%.120s",
			 mem_populate_name(rep.region[0].used) ? mem_populate_name(rep.region[0].used) : "?",
			 rep.region[0].threads, rep.region[0].why[0] ? " " : "",
			 rep.region[0].why);
		if (ret)
			snprintf(c->why, sizeof(c->why), "mem_populate: %s", rep.region[0].why);
	}
	if (!ret)
		ret = gf_verify(c->label[0], pieces, n);
out:
	mem_destroy(&gm);
	return ret;
}

static void add(struct bench_case *cases, struct gf_case *fcs, unsigned int *n,
		const char *label, const char *key, enum gf_kind kind,
		enum mem_populate_strategy s, unsigned int threads)
{
	struct gf_case *fc = &fcs[*n];
	struct bench_case *c = &cases[*n];

	*fc = (struct gf_case){ .kind = kind, .strategy = s, .threads = threads };
	if (kind == GF_AUTO)
		snprintf(fc->threads_label, sizeof(fc->threads_label), "auto");
	else
		snprintf(fc->threads_label, sizeof(fc->threads_label), "%u", threads);
	*c = (struct bench_case){ .label = { label, fc->threads_label }, .run = gf_run, .ctx = fc };
	if (kind == GF_AUTO || kind == GF_BASELINE)
		snprintf(c->key, sizeof(c->key), "%s", key);
	else
		snprintf(c->key, sizeof(c->key), "%s_%ut", key, threads);
	(*n)++;
}

/* The source: anonymous, non-zero pattern, populated once. */
static uint8_t *make_source(uint64_t size)
{
	uint64_t *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (w == MAP_FAILED)
		return NULL;
	for (uint64_t i = 0; i < size / 8; i++)
		w[i] = pattern_word(i);
	return (uint8_t *)w;
}

int bench_gmem_fill(const struct bench_opts *o)
{
	uint64_t size = o->size ? o->size : GF_DEFAULT_BYTES;
	unsigned int nt = o->threads, n = 0;
	struct bench_case cases[24];
	struct gf_case fcs[24];
	unsigned int tcount[2] = { 1, nt };
	unsigned int nvar = nt > 1 ? 2 : 1;
	struct bench_table t = {
		.bench = "gmem-fill",
		.nlabels = 2, .label_names = { "case", "threads" },
		.nmetrics = 1, .metric_names = { "ms" },
		.nextra = 2, .extra_names = { "GB/s", "vs baseline" },
		.note_name = "mem_populate report",
		.repeat = o->repeat,
	};
	struct bench_summary *s = bench_summary_new("gmem-fill");
	double base, autom, floor_best = NAN;
	struct bench_case *ca;
	int kvm_fd = -1, status = 0, ret;
	char sz[32];

	bench_fmt_size(size, sz, sizeof(sz));
	if (!s)
		return 1;
	gf.size = size;
	gf.vm_fd = bench_kvm_vm(&kvm_fd);
	if (gf.vm_fd < 0) {
		fprintf(stderr, "gmem-fill: cannot create a KVM VM: %s\n", bench_errname(-gf.vm_fd));
		bench_summary_free(s);
		return 1;
	}
	gf.src = make_source(size);
	if (!gf.src) {
		fprintf(stderr, "gmem-fill: cannot map a %s source: %s\n", sz, strerror(errno));
		status = 1;
		goto out_vm;
	}

	add(cases, fcs, &n, "memcpy with faults (baseline)", "memcpy", GF_BASELINE,
	    MEM_POPULATE_NONE, 1);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "mem_populate none (memcpy with faults)", "none", GF_ENGINE,
		    MEM_POPULATE_NONE, tcount[v]);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "mem_populate madvise (POPULATE_WRITE+memcpy)", "madvise",
		    GF_ENGINE, MEM_POPULATE_MADVISE, tcount[v]);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "mem_populate fallocate (fallocate+memcpy)", "fallocate",
		    GF_ENGINE, MEM_POPULATE_FALLOCATE, tcount[v]);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "mem_populate write (write())", "write", GF_ENGINE,
		    MEM_POPULATE_WRITE, tcount[v]);
	add(cases, fcs, &n, "mem_populate auto", "auto", GF_AUTO, MEM_POPULATE_AUTO, nt);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "anon UFFDIO_COPY (reference)", "uffd_copy", GF_UFFD_COPY,
		    MEM_POPULATE_NONE, tcount[v]);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "anon UFFDIO_MOVE (reference)", "uffd_move", GF_UFFD_MOVE,
		    MEM_POPULATE_NONE, tcount[v]);
	for (unsigned int v = 0; v < nvar; v++)
		add(cases, fcs, &n, "memcpy into populated (floor)", "floor", GF_FLOOR,
		    MEM_POPULATE_NONE, tcount[v]);
	t.cases = cases;
	t.ncases = n;

	printf("gmem-fill: %s of guest_memfd (MMAP|INIT_SHARED) from an anonymous buffer; "
	       "%u cases x %u interleaved rounds, N=%u threads\n\n", sz, n, o->repeat, nt);
	ret = bench_table_run(&t);
	if (ret) {
		status = 1;
		goto out;
	}
	base = bench_table_median(&t, "memcpy", 0);
	for (unsigned int i = 0; i < n; i++) {
		struct bench_case *c = &cases[i];

		if (!bench_case_ok(c))
			continue;
		c->extra[0] = (double)size / 1e9 / (c->median[0] / 1e3);
		c->extra[1] = base / c->median[0];
		if (fcs[i].kind == GF_FLOOR && (isnan(floor_best) || c->median[0] < floor_best))
			floor_best = c->median[0];
	}
	for (unsigned int i = 0; i < n; i++)
		if (cases[i].err && cases[i].err_round > 0)
			status = 1;
	bench_table_print(&t, stdout);

	autom = bench_table_median(&t, "auto", 0);
	ca = bench_table_find(&t, "auto");
	bench_summary_str(s, "size", sz);
	bench_summary_num(s, "threads", nt, 0);
	bench_summary_num(s, "baseline_ms", base, 1);
	bench_summary_num(s, "auto_ms", autom, 1);
	if (ca && bench_case_ok(ca)) {
		char used[32];

		/* "used=madvise threads=2 ..." -> "madvise" */
		if (sscanf(ca->note, "used=%31s", used) == 1)
			bench_summary_str(s, "auto_used", used);
	}
	bench_summary_num(s, "floor_ms", floor_best, 1);
	bench_summary_num(s, "auto_vs_memcpy", base / autom, 2);
	bench_summary_num(s, "floor_ratio", base / floor_best, 2);
	{
		struct bench_case *w = bench_table_find(&t, "write_1t");

		bench_summary_str(s, "write", !w ? "?" : bench_case_ok(w) ? "supported" :
				  "unsupported");
	}
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_output(o->out, &t, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "gmem-fill: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_table_free(&t);
	if (munmap((void *)gf.src, size) < 0) {
		fprintf(stderr, "gmem-fill: munmap: %s\n", strerror(errno));
		status = 1;
	}
out_vm:
	bench_summary_free(s);
	close(gf.vm_fd);
	close(kvm_fd);
	return status;
}
