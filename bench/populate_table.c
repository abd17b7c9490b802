// SPDX-License-Identifier: MIT
/*
 * populate-table: the table from David Hildenbrand's MADV_POPULATE_(READ|WRITE)
 * posting (2021), re-measured on this host, with guest_memfd added:
 * {MAP_PRIVATE, MAP_SHARED} x backing x operation x {2 MiB, --size}.
 *
 * Every measurement gets fresh memory (created, mapped, then unmapped and
 * closed outside the timed region). Touch loops are single-threaded, one
 * access per 4 KiB page; populate and fallocate are single calls.
 *
 * A second table (run first, while the host's free memory is least used)
 * gives the transparent huge page rows: anon (MAP_PRIVATE) and memfd
 * (MAP_SHARED) with MADV_HUGEPAGE or MADV_NOHUGEPAGE, mapped 2 MiB-aligned,
 * written by a touch loop or MADV_POPULATE_WRITE, with the share of the
 * mapping that smaps then shows in huge pages. Round 1 (the first
 * allocation, which may have to compact memory) is shown apart from the
 * warm rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "mem/kvm_compat.h"
#include "mem/thp.h"

#define PT_DEFAULT_BYTES   (1ull << 30)
#define PT_SMALL_BYTES     (2ull << 20)
#define PT_TOUCH_STRIDE    4096ull
#define PT_HUGE_PAGE_BYTES (2ull << 20)

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21u << 26)
#endif

enum pt_backing { PT_ANON, PT_MEMFD, PT_TMPFS, PT_FILE, PT_HUGETLB, PT_GMEM, PT_NR_BACKINGS };

static const struct {
	const char *name;      /* table label */
	const char *key;       /* summary/JSON key part */
	bool has_fd;           /* FALLOCATE rows apply */
	bool private_ok;       /* MAP_PRIVATE rows apply */
} backings[PT_NR_BACKINGS] = {
	[PT_ANON] = { "anon", "anon", false, true },
	[PT_MEMFD] = { "memfd", "memfd", true, true },
	[PT_TMPFS] = { "tmpfs (/dev/shm)", "tmpfs", true, true },
	[PT_FILE] = { "file (/var/tmp)", "file", true, true },
	[PT_HUGETLB] = { "hugetlb 2M (memfd)", "hugetlb", true, true },
	[PT_GMEM] = { "guest_memfd", "gmem", true, false },
};

enum pt_op {
	PT_READ, PT_WRITE, PT_RW, PT_POP_READ, PT_POP_WRITE,
	PT_FALLOC, PT_FALLOC_READ, PT_FALLOC_WRITE, PT_FALLOC_POP_READ, PT_FALLOC_POP_WRITE,
	PT_NR_OPS,
};

static const struct {
	const char *name;
	const char *key;
	bool fallocate;        /* needs a file, starts with fallocate() */
	enum pt_op then;       /* what follows fallocate (PT_FALLOC: nothing) */
} ops[PT_NR_OPS] = {
	[PT_READ] = { "read touch", "read", false, PT_READ },
	[PT_WRITE] = { "write touch", "write", false, PT_WRITE },
	[PT_RW] = { "read/write touch", "read_write", false, PT_RW },
	[PT_POP_READ] = { "POPULATE_READ", "populate_read", false, PT_POP_READ },
	[PT_POP_WRITE] = { "POPULATE_WRITE", "populate_write", false, PT_POP_WRITE },
	[PT_FALLOC] = { "FALLOCATE", "fallocate", true, PT_FALLOC },
	[PT_FALLOC_READ] = { "FALLOCATE+read touch", "fallocate_read", true, PT_READ },
	[PT_FALLOC_WRITE] = { "FALLOCATE+write touch", "fallocate_write", true, PT_WRITE },
	[PT_FALLOC_POP_READ] = { "FALLOCATE+POPULATE_READ", "fallocate_populate_read",
				 true, PT_POP_READ },
	[PT_FALLOC_POP_WRITE] = { "FALLOCATE+POPULATE_WRITE", "fallocate_populate_write",
				  true, PT_POP_WRITE },
};

struct pt_case {
	bool shared;
	enum pt_backing b;
	enum pt_op op;
	uint64_t size;
	char size_label[16];
	bool align_2m;         /* map at a 2 MiB-aligned address (THP rows) */
};

/* Shared by all cases of one run. */
static int pt_vm_fd = -1;
static int pt_hugetlb_err;      /* huge pages could not be reserved */
static volatile uint8_t pt_sink;

struct pt_mem {
	int fd;
	uint8_t *p;
	uint64_t size;
	int falloc_mode;
};

/* A file in dir, unlinked at once (the fd keeps it), sized to size. */
static int tmpfile_in(const char *dir, uint64_t size)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/memvmm-bench-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (unlink(path) < 0 || ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int memfd_sized(unsigned int flags, uint64_t size)
{
	int fd = memfd_create("memvmm-bench", MFD_CLOEXEC | flags), ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int gmem_fd(uint64_t size)
{
	struct kvm_create_guest_memfd args = {
		.size = size,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int fd;

	if (pt_vm_fd < 0)
		return pt_vm_fd;
	fd = ioctl(pt_vm_fd, KVM_CREATE_GUEST_MEMFD, &args);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* mmap len bytes at a 2 MiB-aligned address (mem_map_congruent()); MAP_FAILED and errno on failure. */
static void *mmap_aligned_2m(uint64_t len, int flags, int fd)
{
	void *p;
	int ret = mem_map_congruent(len, 0, flags, fd, &p);

	if (ret) {
		errno = -ret;
		return MAP_FAILED;
	}
	return p;
}

static int pt_mem_open(const struct pt_case *pc, struct pt_mem *m)
{
	int flags = pc->shared ? MAP_SHARED : MAP_PRIVATE;
	int ret;

	*m = (struct pt_mem){ .fd = -1, .size = pc->size };
	switch (pc->b) {
	case PT_ANON:
		flags |= MAP_ANONYMOUS;
		break;
	case PT_MEMFD:
		m->fd = memfd_sized(0, pc->size);
		break;
	case PT_TMPFS:
		m->fd = tmpfile_in("/dev/shm", pc->size);
		break;
	case PT_FILE:
		m->fd = tmpfile_in("/var/tmp", pc->size);
		break;
	case PT_HUGETLB:
		if (pt_hugetlb_err)
			return pt_hugetlb_err;
		if (pc->size % PT_HUGE_PAGE_BYTES)
			return -EINVAL;
		m->fd = memfd_sized(MFD_HUGETLB | MFD_HUGE_2MB, pc->size);
		break;
	case PT_GMEM:
		m->fd = gmem_fd(pc->size);
		m->falloc_mode = FALLOC_FL_KEEP_SIZE;
		break;
	default:
		return -EINVAL;
	}
	if (m->fd < 0 && pc->b != PT_ANON)
		return m->fd;
	if (pc->align_2m)
		m->p = mmap_aligned_2m(pc->size, flags, m->fd);
	else
		m->p = mmap(NULL, pc->size, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (m->p == MAP_FAILED) {
		ret = -errno;
		if (m->fd >= 0)
			close(m->fd);
		m->p = NULL;
		return ret;
	}
	return 0;
}

static int pt_mem_close(struct pt_mem *m)
{
	int ret = 0;

	if (m->p && munmap(m->p, m->size) < 0)
		ret = -errno;
	if (m->fd >= 0 && close(m->fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

static void touch_read(const uint8_t *p, uint64_t size)
{
	const volatile uint8_t *v = p;
	uint8_t sum = 0;

	for (uint64_t off = 0; off < size; off += PT_TOUCH_STRIDE)
		sum += v[off];
	pt_sink = sum;
}

static void touch_write(uint8_t *p, uint64_t size)
{
	volatile uint8_t *v = p;

	for (uint64_t off = 0; off < size; off += PT_TOUCH_STRIDE)
		v[off] = 1;
}

/* Read then write back the same byte, as QEMU's prealloc did before MADV_POPULATE. */
static void touch_read_write(uint8_t *p, uint64_t size)
{
	volatile uint8_t *v = p;

	for (uint64_t off = 0; off < size; off += PT_TOUCH_STRIDE)
		v[off] = v[off];
}

/* The operation itself: the only timed part. */
static int pt_op_run(const struct pt_case *pc, struct pt_mem *m)
{
	enum pt_op then = ops[pc->op].then;

	if (ops[pc->op].fallocate &&
	    fallocate(m->fd, m->falloc_mode, 0, (off_t)m->size) < 0)
		return -errno;
	switch (then) {
	case PT_READ:
		touch_read(m->p, m->size);
		break;
	case PT_WRITE:
		touch_write(m->p, m->size);
		break;
	case PT_RW:
		touch_read_write(m->p, m->size);
		break;
	case PT_POP_READ:
		if (madvise(m->p, m->size, MADV_POPULATE_READ) < 0)
			return -errno;
		break;
	case PT_POP_WRITE:
		if (madvise(m->p, m->size, MADV_POPULATE_WRITE) < 0)
			return -errno;
		break;
	default:
		break;
	}
	return 0;
}

static int pt_run(struct bench_case *c, double *metrics)
{
	const struct pt_case *pc = c->ctx;
	struct pt_mem m;
	uint64_t t0;
	int ret, ret2;

	ret = pt_mem_open(pc, &m);
	if (ret)
		return ret;
	t0 = bench_now_ns();
	ret = pt_op_run(pc, &m);
	metrics[0] = bench_ms_since(t0);
	ret2 = pt_mem_close(&m);
	if (ret2 && !ret) {
		snprintf(c->why, sizeof(c->why), "unmapping or closing failed");
		ret = ret2;
	}
	return ret;
}

static void add_case(struct bench_case *cases, struct pt_case *pcs, unsigned int *n,
		     bool shared, enum pt_backing b, enum pt_op op, uint64_t size,
		     uint64_t main_size)
{
	struct pt_case *pc = &pcs[*n];
	struct bench_case *c = &cases[*n];

	*pc = (struct pt_case){ .shared = shared, .b = b, .op = op, .size = size };
	bench_fmt_size(size, pc->size_label, sizeof(pc->size_label));
	*c = (struct bench_case){
		.label = { shared ? "MAP_SHARED" : "MAP_PRIVATE", backings[b].name,
			   ops[op].name, pc->size_label },
		.run = pt_run,
		.ctx = pc,
	};
	/* Keys: gmem_<op>, <backing>_<shared|private>_<op>; "_<size>" unless --size. */
	if (b == PT_GMEM)
		snprintf(c->key, sizeof(c->key), "gmem_%s", ops[op].key);
	else
		snprintf(c->key, sizeof(c->key), "%s_%s_%s", backings[b].key,
			 shared ? "shared" : "private", ops[op].key);
	if (size != main_size) {
		size_t len = strlen(c->key);

		snprintf(c->key + len, sizeof(c->key) - len, "_%s", pc->size_label);
	}
	(*n)++;
}

/* ---- THP rows ------------------------------------------------------------ */

static const struct {
	const char *name;          /* table label */
	const char *key;
	enum pt_backing b;
	bool shared;
	enum mem_thp_kind kind;    /* which host settings decide */
} thp_backings[] = {
	{ "anon (MAP_PRIVATE)", "anon", PT_ANON, false, MEM_THP_KIND_ANON },
	{ "memfd (MAP_SHARED)", "memfd", PT_MEMFD, true, MEM_THP_KIND_SHMEM },
};
#define PT_THP_NB (sizeof(thp_backings) / sizeof(thp_backings[0]))

/* populate none (the program's own writes fault the memory in) and madvise. */
static const enum pt_op thp_ops[] = { PT_WRITE, PT_POP_WRITE };
#define PT_THP_NO (sizeof(thp_ops) / sizeof(thp_ops[0]))

struct pt_thp_case {
	struct pt_case pc;
	size_t backing;                 /* index in thp_backings */
	bool on;                        /* thp on (MADV_HUGEPAGE) or off */
	enum mem_thp_advice advice;     /* what mem_thp_decide() says to do */
	int refuse;                     /* the host cannot: -errno, why says why */
	char why[MEM_THP_WHY_BYTES + 48];
};

/* Timed: the write loop or MADV_POPULATE_WRITE; then smaps says how much is huge. */
static int pt_thp_run(struct bench_case *c, double *metrics)
{
	struct pt_thp_case *tc = c->ctx;
	struct mem_huge_range range;
	struct pt_mem m;
	uint64_t t0;
	int ret, ret2;

	if (tc->refuse) {
		snprintf(c->why, sizeof(c->why), "%.180s", tc->why);
		c->why_is_message = true;
		return tc->refuse;
	}
	ret = pt_mem_open(&tc->pc, &m);
	if (ret)
		return ret;
	if (tc->advice != MEM_THP_ADVICE_NONE &&
	    madvise(m.p, m.size, tc->advice == MEM_THP_ADVICE_HUGE ? MADV_HUGEPAGE :
		    MADV_NOHUGEPAGE) < 0) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "madvise(MADV_%sHUGEPAGE)",
			 tc->advice == MEM_THP_ADVICE_HUGE ? "" : "NO");
		goto out;
	}
	t0 = bench_now_ns();
	ret = pt_op_run(&tc->pc, &m);
	metrics[0] = bench_ms_since(t0);
	if (ret)
		goto out;
	range = (struct mem_huge_range){ .start = (uintptr_t)m.p, .len = m.size };
	ret = mem_huge_measure("/proc/self/smaps", &range, 1);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "reading /proc/self/smaps");
		goto out;
	}
	metrics[1] = 100.0 * (double)range.huge_bytes / (double)m.size;
out:
	ret2 = pt_mem_close(&m);
	if (ret2 && !ret) {
		snprintf(c->why, sizeof(c->why), "unmapping or closing failed");
		ret = ret2;
	}
	return ret;
}

/* The host's THP settings for the header line and the cases' decisions. */
struct pt_thp_host {
	struct mem_thp_host h;
	int err;                 /* mem_thp_host_read() failed: every row says so */
};

static void pt_thp_case_init(struct pt_thp_case *tc, struct bench_case *c,
			     const struct pt_thp_host *host, size_t b, bool on,
			     enum pt_op op, uint64_t size)
{
	struct mem_thp_plan plan;
	int ret;

	*tc = (struct pt_thp_case){
		.pc = { .shared = thp_backings[b].shared, .b = thp_backings[b].b, .op = op,
			.size = size, .align_2m = true },
		.backing = b,
		.on = on,
	};
	bench_fmt_size(size, tc->pc.size_label, sizeof(tc->pc.size_label));
	if (host->err) {
		tc->refuse = host->err;
		snprintf(tc->why, sizeof(tc->why), "cannot read the host's THP settings (%s): %s",
			 MEM_THP_SYSFS, bench_errname(-host->err));
	} else {
		/* The same decision memvmm's thp=on / thp=off makes for this kind of memory. */
		ret = mem_thp_decide(on ? MEM_THP_ON : MEM_THP_OFF, thp_backings[b].kind,
				     &host->h, &plan);
		if (ret) {
			tc->refuse = ret;
			snprintf(tc->why, sizeof(tc->why), "thp=%s refused: %s", on ? "on" : "off",
				 plan.why);
		}
		tc->advice = plan.advice;
	}
	*c = (struct bench_case){
		.label = { thp_backings[b].name, on ? "on (MADV_HUGEPAGE)" : "off (MADV_NOHUGEPAGE)",
			   op == PT_WRITE ? "write touch" : "POPULATE_WRITE", tc->pc.size_label },
		.run = pt_thp_run,
		.ctx = tc,
	};
	snprintf(c->key, sizeof(c->key), "thp_%s_%s_%s", thp_backings[b].key, on ? "on" : "off",
		 ops[op].key);
}

/* The case with this key if it has numbers, else NULL. */
static const struct bench_case *thp_ok(struct bench_table *t, const char *key)
{
	const struct bench_case *c = bench_table_find(t, key);

	return c && bench_case_ok(c) ? c : NULL;
}

/* Round 1's value of metric m, NAN if the case has none. */
static double thp_first(struct bench_table *t, const char *key, unsigned int m)
{
	const struct bench_case *c = thp_ok(t, key);

	return c ? c->first[m] : NAN;
}

/* Lowest huge share over all rounds, round 1 included. */
static double thp_huge_min(struct bench_table *t, const char *key)
{
	const struct bench_case *c = thp_ok(t, key);

	if (!c)
		return NAN;
	return isnan(c->min[1]) || c->first[1] < c->min[1] ? c->first[1] : c->min[1];
}

/*
 * Run and print the THP table; cases and pcs hold PT_THP_NB * 2 * PT_THP_NO
 * entries and stay alive for the output file. Returns 0, or 1 (failed).
 */
static int pt_thp_table(const struct bench_opts *o, uint64_t size, struct bench_table *t,
			struct bench_case *cases, struct pt_thp_case *tcs,
			struct bench_summary *s)
{
	struct pt_thp_host host = { .err = 0 };
	char anon_set[MEM_THP_WHY_BYTES], shmem_set[MEM_THP_WHY_BYTES], sz[32];
	enum mem_thp_policy anon_p, shmem_p;
	unsigned int n = 0;

	host.err = mem_thp_host_read("", &host.h);
	for (size_t b = 0; b < PT_THP_NB; b++)
		for (size_t op = 0; op < PT_THP_NO; op++)
			for (int on = 1; on >= 0; on--) {
				pt_thp_case_init(&tcs[n], &cases[n], &host, b, on, thp_ops[op], size);
				n++;
			}
	*t = (struct bench_table){
		.bench = "populate-table",
		.nlabels = 4, .label_names = { "backing", "thp", "operation", "size" },
		.nmetrics = 2, .metric_names = { "ms", "huge %" },
		.nextra = 1, .extra_names = { "off/on" },
		.cases = cases, .ncases = n,
		.repeat = o->repeat,
		.first_apart = true,
		.json_key = "thp",
	};
	bench_fmt_size(size, sz, sizeof(sz));
	if (host.err) {
		printf("populate-table THP: cannot read the host's THP settings (%s)\n",
		       bench_errname(-host.err));
	} else {
		anon_p = mem_thp_policy(&host.h, MEM_THP_KIND_ANON, anon_set, sizeof(anon_set));
		shmem_p = mem_thp_policy(&host.h, MEM_THP_KIND_SHMEM, shmem_set, sizeof(shmem_set));
		printf("populate-table THP: host anon %s (%s); shmem %s (%s); defrag=%s%s\n",
		       mem_thp_policy_name(anon_p), anon_set, mem_thp_policy_name(shmem_p),
		       shmem_set, host.h.defrag[0] ? host.h.defrag : "?",
		       host.h.process_disabled ? "; THP disabled for this process (prctl)" : "");
	}
	printf("%u cases x %u interleaved rounds, size %s, each on fresh memory mapped "
	       "2M-aligned; touch = one write per 4K page, 1 thread;\n'1st' = round 1 (first "
	       "allocation), warm min/median = rounds 2..%u%s; huge %% = share of the mapping in "
	       "huge pages (smaps) after the operation\n\n", n, o->repeat, sz, o->repeat,
	       o->repeat < 2 ? " (none with --repeat 1)" : "");
	if (bench_table_run(t))
		return 1;
	for (unsigned int i = 0; i < n; i++) {
		char off_key[80];

		if (!tcs[i].on || !bench_case_ok(&cases[i]))
			continue;
		snprintf(off_key, sizeof(off_key), "thp_%s_off_%s", thp_backings[tcs[i].backing].key,
			 ops[tcs[i].pc.op].key);
		cases[i].extra[0] = bench_table_median(t, off_key, 0) / cases[i].median[0];
	}
	bench_table_print(t, stdout);
	putchar('\n');

	bench_summary_num(s, "thp_anon_on_populate_write_1st_ms",
			  thp_first(t, "thp_anon_on_populate_write", 0), 1);
	bench_summary_num(s, "thp_anon_on_populate_write_ms",
			  bench_table_median(t, "thp_anon_on_populate_write", 0), 1);
	bench_summary_num(s, "thp_anon_off_populate_write_ms",
			  bench_table_median(t, "thp_anon_off_populate_write", 0), 1);
	bench_summary_num(s, "thp_anon_on_write_ms", bench_table_median(t, "thp_anon_on_write", 0),
			  1);
	bench_summary_num(s, "thp_anon_off_write_ms",
			  bench_table_median(t, "thp_anon_off_write", 0), 1);
	bench_summary_num(s, "thp_anon_on_huge_pct_min",
			  thp_huge_min(t, "thp_anon_on_populate_write"), 1);
	bench_summary_str(s, "thp_memfd_on", thp_ok(t, "thp_memfd_on_populate_write") ?
			  "measured" : "unsupported");
	return 0;
}

static void summary_median(struct bench_summary *s, struct bench_table *t, const char *key)
{
	char name[80];

	snprintf(name, sizeof(name), "%s_ms", key);
	bench_summary_num(s, name, bench_table_median(t, key, 0), 1);
}

int bench_populate_table(const struct bench_opts *o)
{
	static const char *const summary_keys[] = {
		"gmem_populate_write", "gmem_fallocate", "gmem_fallocate_populate_write",
		"gmem_write", "memfd_shared_populate_write", "memfd_shared_fallocate",
		"memfd_shared_fallocate_populate_write", "anon_private_populate_write",
		"anon_private_write", "hugetlb_shared_populate_write", "file_shared_fallocate_populate_read",
	};
	uint64_t size = o->size ? o->size : PT_DEFAULT_BYTES;
	uint64_t sizes[2] = { PT_SMALL_BYTES, size };
	unsigned int nsizes = size == PT_SMALL_BYTES ? 1 : 2, n = 0, unsupported = 0;
	unsigned int max = 2 * nsizes * PT_NR_BACKINGS * PT_NR_OPS;
	struct bench_case *cases = calloc(max, sizeof(*cases));
	struct pt_case *pcs = calloc(max, sizeof(*pcs));
	struct bench_table t = {
		.bench = "populate-table",
		.nlabels = 4, .label_names = { "mapping", "backing", "operation", "size" },
		.nmetrics = 1, .metric_names = { "ms" },
		.repeat = o->repeat,
	};
	struct bench_summary *s = bench_summary_new("populate-table");
	struct bench_case thp_cases[PT_THP_NB * 2 * PT_THP_NO];
	struct pt_thp_case thp_tcs[PT_THP_NB * 2 * PT_THP_NO];
	struct bench_table thp_t = { .ncases = 0 };
	const struct bench_table *tables[] = { &t, &thp_t };
	uint64_t hugepages;
	int kvm_fd = -1, status = 0, ret;
	char sz[32];

	if (!cases || !pcs || !s) {
		fprintf(stderr, "populate-table: out of memory\n");
		free(cases);
		free(pcs);
		bench_summary_free(s);
		return 1;
	}
	bench_fmt_size(size, sz, sizeof(sz));
	bench_summary_str(s, "size", sz);
	/* First, before the hugetlb pool takes its pages: round 1 is a first allocation. */
	if (pt_thp_table(o, size, &thp_t, thp_cases, thp_tcs, s)) {
		status = 1;
		goto out;
	}
	pt_vm_fd = bench_kvm_vm(&kvm_fd);
	if (pt_vm_fd < 0)
		fprintf(stderr, "populate-table: no KVM VM for guest_memfd (%s)\n",
			bench_errname(-pt_vm_fd));
	/* MAP_PRIVATE + FALLOCATE needs the file's pages and as many private copies. */
	hugepages = 2 * ((size + PT_HUGE_PAGE_BYTES - 1) / PT_HUGE_PAGE_BYTES) + 2;
	pt_hugetlb_err = bench_hugepages_reserve(hugepages);
	if (pt_hugetlb_err)
		fprintf(stderr, "populate-table: cannot reserve %lu huge pages (%s); "
			"hugetlb rows are unsupported\n", hugepages, bench_errname(-pt_hugetlb_err));

	for (int shared = 0; shared <= 1; shared++)
		for (unsigned int si = 0; si < nsizes; si++)
			for (int b = 0; b < PT_NR_BACKINGS; b++) {
				if (!shared && !backings[b].private_ok)
					continue;
				for (int op = 0; op < PT_NR_OPS; op++) {
					if (ops[op].fallocate && !backings[b].has_fd)
						continue;
					add_case(cases, pcs, &n, shared, (enum pt_backing)b,
						 (enum pt_op)op, sizes[si], size);
				}
			}
	t.cases = cases;
	t.ncases = n;

	printf("populate-table: %u cases x %u interleaved rounds, sizes 2M and %s; "
	       "touch = one access per 4K page, 1 thread\n\n", n, o->repeat, sz);
	ret = bench_table_run(&t);
	if (ret) {
		status = 1;
		goto out;
	}
	bench_table_print(&t, stdout);
	for (unsigned int i = 0; i < n; i++)
		if (!bench_case_ok(&cases[i]))
			unsupported++;
	bench_summary_num(s, "cases", n, 0);
	bench_summary_num(s, "unsupported", unsupported, 0);
	for (size_t i = 0; i < sizeof(summary_keys) / sizeof(summary_keys[0]); i++)
		summary_median(s, &t, summary_keys[i]);
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_outputs(o->out, tables, 2, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "populate-table: cannot write '%s': %s\n", o->out,
				strerror(-ret));
			status = 1;
		}
	}
	for (unsigned int i = 0; i < n; i++)
		if (cases[i].err && cases[i].err_round > 0)
			status = 1;    /* worked, then failed: not a host limitation */
	for (unsigned int i = 0; i < thp_t.ncases; i++)
		if (thp_cases[i].err && thp_cases[i].err_round > 0)
			status = 1;
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_hugepages_restore();
	bench_table_free(&t);
	bench_table_free(&thp_t);
	bench_summary_free(s);
	free(cases);
	free(pcs);
	if (pt_vm_fd >= 0)
		close(pt_vm_fd);
	if (kvm_fd >= 0)
		close(kvm_fd);
	return status;
}
