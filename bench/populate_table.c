// SPDX-License-Identifier: MIT
/*
 * populate-table: the table from David Hildenbrand's MADV_POPULATE_(READ|WRITE)
 * posting (2021), re-measured on this host, with guest_memfd added:
 * {MAP_PRIVATE, MAP_SHARED} x backing x operation x {2 MiB, --size}.
 *
 * Every measurement gets fresh memory (created, mapped, then unmapped and
 * closed outside the timed region). Touch loops are single-threaded, one
 * access per 4 KiB page; populate and fallocate are single calls.
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
	uint64_t hugepages;
	int kvm_fd = -1, status = 0, ret;
	char sz[32];

	if (!cases || !pcs || !s) {
		fprintf(stderr, "populate-table: out of memory\n");
		return 1;
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

	bench_fmt_size(size, sz, sizeof(sz));
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
	bench_summary_str(s, "size", sz);
	bench_summary_num(s, "cases", n, 0);
	bench_summary_num(s, "unsupported", unsupported, 0);
	for (size_t i = 0; i < sizeof(summary_keys) / sizeof(summary_keys[0]); i++)
		summary_median(s, &t, summary_keys[i]);
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_output(o->out, &t, s, opts);
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
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_hugepages_restore();
	bench_table_free(&t);
	bench_summary_free(s);
	free(cases);
	free(pcs);
	if (pt_vm_fd >= 0)
		close(pt_vm_fd);
	if (kvm_fd >= 0)
		close(kvm_fd);
	return status;
}
