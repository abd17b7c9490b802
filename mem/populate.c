// SPDX-License-Identifier: MIT
/*
 * Population strategies and filling guest RAM from a source, on the
 * parallel engine in parallel.c. What each backend prefers lives in its
 * ops table (populate_order); what it can do here is found by trial.
 */
#include "mem/populate.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/fileio.h"
#include "mem/kvm_compat.h"

/* pwritev() of zeros: this many iovecs over one zero buffer per call. */

static const char *const strategy_names[MEM_POPULATE_NR] = {
	[MEM_POPULATE_AUTO] = "auto",
	[MEM_POPULATE_NONE] = "none",
	[MEM_POPULATE_FALLOCATE] = "fallocate",
	[MEM_POPULATE_MADVISE] = "madvise",
	[MEM_POPULATE_WRITE] = "write",
};

static const char *const prefault_names[] = {
	[MEM_PREFAULT_AUTO] = "auto",
	[MEM_PREFAULT_ON] = "on",
	[MEM_PREFAULT_OFF] = "off",
};

const char *mem_populate_name(enum mem_populate_strategy s)
{
	return (unsigned int)s < MEM_POPULATE_NR ? strategy_names[s] : NULL;
}

int mem_populate_parse(const char *name, enum mem_populate_strategy *out)
{
	for (unsigned int i = 0; name && i < MEM_POPULATE_NR; i++) {
		if (!strcmp(name, strategy_names[i])) {
			*out = (enum mem_populate_strategy)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mem_prefault_name(enum mem_prefault_mode m)
{
	return (unsigned int)m <= MEM_PREFAULT_OFF ? prefault_names[m] : NULL;
}

int mem_prefault_parse(const char *name, enum mem_prefault_mode *out)
{
	for (unsigned int i = 0; name && i <= MEM_PREFAULT_OFF; i++) {
		if (!strcmp(name, prefault_names[i])) {
			*out = (enum mem_prefault_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void errno_reason(char *buf, size_t len, const char *what, int err)
{
	const char *name = strerrorname_np(err);

	snprintf(buf, len, "%s: %s", what, name ? name : strerror(err));
}

/*
 * shmem's fallocate() gives back what it allocated when a signal interrupts
 * it, so retrying the same range under a steady stream of signals (a
 * profiler's timer, a slow host) may never finish. On EINTR the piece is
 * halved, down to unit (the backend's alignment: one page, a huge page for
 * hugetlb), so each call can complete between two signals; progress made by
 * pieces that completed is kept. (Measured: under a signal every 100 us in a
 * nested, emulated KVM host, 2 MiB pieces of a memfd never completed.)
 */
int __mem_fallocate(mem_fallocate_fn fn, int fd, int mode, uint64_t off, uint64_t len,
		    uint64_t unit, const atomic_bool *cancel)
{
	const uint64_t gran = unit && off % unit == 0 && len % unit == 0 ? unit : MEM_PAGE_BYTES;
	uint64_t piece = len;
	unsigned int retries = 0;

	while (len) {
		uint64_t n = piece < len ? piece : len;
		int err;

		if (fn(fd, mode, (off_t)off, (off_t)n) == 0) {
			off += n;
			len -= n;
			retries = 0;
			continue;
		}
		err = errno;
		if (err != EINTR)
			return -err;
		if (cancel && atomic_load(cancel))
			return -ECANCELED;
		if (piece > gran) {
			piece = piece / 2 / gran * gran;
			if (piece < gran)
				piece = gran;
		} else if (++retries > MEM_EINTR_MAX_RETRIES) {
			return -EINTR;
		}
	}
	return 0;
}

int __mem_madvise(mem_madvise_fn fn, void *addr, size_t len, int advice,
		  const atomic_bool *cancel)
{
	for (unsigned int retries = 0;; retries++) {
		int err;

		if (fn(addr, len, advice) == 0)
			return 0;
		err = errno;
		if (err != EINTR || retries == MEM_EINTR_MAX_RETRIES)
			return -err;
		if (cancel && atomic_load(cancel))
			return -ECANCELED;
	}
}

int mem_region_caps(struct mem_region *r, uint64_t off, struct mem_populate_caps *caps)
{
	uint64_t block = r->ops->align;
	char byte = 0;
	int ret;

	memset(caps, 0, sizeof(*caps));
	if (off > r->size || r->size - off < block || off % block)
		return -EINVAL;

	ret = __mem_madvise(madvise, r->hva + off, block, MADV_POPULATE_WRITE, NULL);
	if (ret == 0)
		caps->madvise = true;
	else
		errno_reason(caps->why_no_madvise, sizeof(caps->why_no_madvise),
			     "MADV_POPULATE_WRITE", -ret);

	if (r->fd < 0) {
		snprintf(caps->why_no_fallocate, sizeof(caps->why_no_fallocate),
			 "%s memory has no file", r->ops->name);
		snprintf(caps->why_no_write, sizeof(caps->why_no_write),
			 "%s memory has no file", r->ops->name);
		return 0;
	}
	ret = __mem_fallocate(fallocate, r->fd, FALLOC_FL_KEEP_SIZE, off, block, r->ops->align,
			      NULL);
	if (ret == 0)
		caps->fallocate = true;
	else
		errno_reason(caps->why_no_fallocate, sizeof(caps->why_no_fallocate),
			     "fallocate", -ret);
	/*
	 * A zero-length write changes nothing, but the VFS refuses it before
	 * anything else when the file cannot do it: pwrite() with ESPIPE on a
	 * file without positional writes, either with EINVAL when the file has
	 * no write method at all (guest_memfd before the populate-by-write
	 * work, hugetlbfs).
	 */
	if (pwrite(r->fd, &byte, 0, (off_t)off) == 0) {
		caps->write = true;
	} else if (errno != ESPIPE) {
		errno_reason(caps->why_no_write, sizeof(caps->why_no_write), "write()", errno);
	} else if (write(r->fd, &byte, 0) == 0) {
		caps->write = true;
		caps->write_serial = true;
	} else {
		errno_reason(caps->why_no_write, sizeof(caps->why_no_write),
			     "pwrite(): ESPIPE, write()", errno);
	}
	return 0;
}

static bool caps_allow(const struct mem_populate_caps *caps, enum mem_populate_strategy s,
		       const char **why)
{
	switch (s) {
	case MEM_POPULATE_NONE:
		*why = "";
		return true;
	case MEM_POPULATE_FALLOCATE:
		*why = caps->why_no_fallocate;
		return caps->fallocate;
	case MEM_POPULATE_MADVISE:
		*why = caps->why_no_madvise;
		return caps->madvise;
	case MEM_POPULATE_WRITE:
		*why = caps->why_no_write;
		return caps->write;
	default:
		*why = "not a strategy";
		return false;
	}
}

int mem_populate_choose(enum mem_populate_strategy requested,
			const enum mem_populate_strategy *order, unsigned int order_len,
			const struct mem_populate_caps *caps,
			enum mem_populate_strategy *chosen,
			char *why, size_t whylen)
{
	size_t used = 0;
	const char *reason;

	why[0] = '\0';
	if (requested != MEM_POPULATE_AUTO) {
		if (caps_allow(caps, requested, &reason)) {
			*chosen = requested;
			return 0;
		}
		snprintf(why, whylen, "populate=%s is not supported here (%s)",
			 mem_populate_name(requested) ? mem_populate_name(requested) : "?",
			 reason);
		return -EOPNOTSUPP;
	}
	/* NONE is always allowed, so the walk stops there at the latest. */
	for (unsigned int i = 0; order && i < order_len && i < MEM_POPULATE_NR; i++) {
		if (caps_allow(caps, order[i], &reason)) {
			*chosen = order[i];
			return 0;
		}
		/* Say what was passed over: "no write (write(): EINVAL)". */
		if (used < whylen)
			used += (size_t)snprintf(why + used, whylen - used, "%sno %s (%s)",
						 used ? ", " : "", mem_populate_name(order[i]),
						 reason);
	}
	*chosen = MEM_POPULATE_NONE;
	return 0;
}

unsigned int mem_online_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned int)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1;
}

static bool cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load(cancel);
}

struct populate_ctx {
	struct mem_region *r;
	uint64_t base;                  /* offset of the range in the region */
	const struct mem_source *src;   /* NULL: populate only */
	uint64_t src_base;              /* offset of the range in the source */
	enum mem_populate_strategy s;
	const atomic_bool *cancel;      /* NULL: never cancelled */
	uint8_t *bounce[MEM_POPULATE_MAX_THREADS];  /* write from a file source */
	bool write_serial;              /* the file takes write() but not pwrite() */
	pthread_mutex_t write_lock;     /* for write_serial: lseek + write */
};

/* Write len bytes at off into the region's file, from buf or (NULL) zeros. */
static int file_write(struct populate_ctx *c, const uint8_t *buf, uint64_t len, uint64_t off)
{
	const struct mem_file_writer w = {
		.fd = c->r->fd, .serial = c->write_serial, .lock = &c->write_lock,
		.cancel = c->cancel,
	};

	return mem_file_write(&w, buf, len, off);
}

/* Copy [off, off+len) of the range from the source through the mapping. */
static int populate_copy(struct populate_ctx *c, uint64_t off, uint64_t len)
{
	uint8_t *dst = c->r->hva + c->base + off;

	if (c->src->buf) {
		memcpy(dst, (const uint8_t *)c->src->buf + c->src_base + off, len);
		return 0;
	}
	return mem_pread_full(c->src->fd, dst, len, c->src->fd_offset + c->src_base + off,
			      c->cancel, -ENODATA);
}

/* write(): from the buffer, through a per-thread bounce buffer from a file, or zeros. */
static int populate_write(struct populate_ctx *c, unsigned int thread, uint64_t off,
			  uint64_t len)
{
	uint64_t file_off = c->base + off;
	int ret;

	if (!c->src)
		return file_write(c, NULL, len, file_off);
	if (c->src->buf)
		return file_write(c, (const uint8_t *)c->src->buf + c->src_base + off, len,
				  file_off);
	ret = mem_pread_full(c->src->fd, c->bounce[thread], len,
			     c->src->fd_offset + c->src_base + off, c->cancel, -ENODATA);
	if (!ret)
		ret = file_write(c, c->bounce[thread], len, file_off);
	return ret;
}

static int populate_step(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct populate_ctx *c = ctx;
	struct mem_region *r = c->r;
	int ret = 0;

	switch (c->s) {
	case MEM_POPULATE_WRITE:
		return populate_write(c, thread, off, len);
	case MEM_POPULATE_FALLOCATE:
		/* guest_memfd stops for any pending signal, e.g. SIGCONT after Ctrl-Z/fg. */
		ret = __mem_fallocate(fallocate, r->fd, FALLOC_FL_KEEP_SIZE, c->base + off, len,
				      r->ops->align, c->cancel);
		break;
	case MEM_POPULATE_MADVISE:
		ret = __mem_madvise(madvise, r->hva + c->base + off, len, MADV_POPULATE_WRITE,
				    c->cancel);
		break;
	case MEM_POPULATE_NONE:
		break;
	default:
		return -EINVAL;
	}
	if (!ret && c->src)
		ret = populate_copy(c, off, len);
	return ret;
}

/* Progress across regions: bytes of earlier regions plus this one's. */
struct progress_relay {
	mem_progress_fn fn;
	void *arg;
	uint64_t before, total;
};

static void progress_relay_fn(void *arg, uint64_t done, uint64_t total)
{
	struct progress_relay *p = arg;

	p->fn(p->arg, p->before + done, p->total);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The unit threads split a range by: 2 MiB where the range (at region
 * offset base, and so at the region's hva, congruent to its gpa) is made of
 * whole 2 MiB pages, so that no huge page is shared by two threads; else
 * the backend's alignment.
 */
static uint64_t populate_unit(const struct mem_region *r, uint64_t base, uint64_t len)
{
	if ((r->gpa + base) % MEM_HUGE_PAGE_BYTES == 0 && len % MEM_HUGE_PAGE_BYTES == 0 &&
	    MEM_HUGE_PAGE_BYTES % r->ops->align == 0)
		return MEM_HUGE_PAGE_BYTES;
	return r->ops->align;
}

/* Run strategy c->s over len bytes of c's range with up to nthreads threads. */
static int populate_run(struct populate_ctx *c, uint64_t len, unsigned int nthreads,
			struct progress_relay *relay, struct mem_parallel_result *res)
{
	bool bounce = c->s == MEM_POPULATE_WRITE && c->src && !c->src->buf;
	int ret;

	memset(res, 0, sizeof(*res));
	for (unsigned int i = 0; bounce && i < nthreads; i++) {
		c->bounce[i] = malloc(MEM_POPULATE_STEP_BYTES);
		if (!c->bounce[i]) {
			ret = -ENOMEM;
			res->err = ret;
			goto out;
		}
	}
	ret = mem_parallel_run(len, populate_unit(c->r, c->base, len), nthreads,
			       MEM_POPULATE_STEP_BYTES,
			       populate_step, c, relay->fn ? progress_relay_fn : NULL, relay,
			       c->cancel, res);
out:
	for (unsigned int i = 0; i < nthreads; i++) {
		free(c->bounce[i]);
		c->bounce[i] = NULL;
	}
	return ret;
}

int mem_populate(struct guest_mem *gm, uint64_t gpa, uint64_t len,
		 const struct mem_populate_req *req, struct mem_populate_report *report)
{
	struct progress_relay relay = { .fn = req->progress, .arg = req->progress_arg,
					.total = len };
	unsigned int cpus = mem_online_cpus();
	uint64_t done = 0;
	int ret;

	memset(report, 0, sizeof(*report));
	report->err_strategy = req->strategy;
	if (!mem_range_is_ram(gm, gpa, len) || req->max_threads > MEM_POPULATE_MAX_THREADS ||
	    (unsigned int)req->strategy >= MEM_POPULATE_NR ||
	    (req->src && !req->src->buf && req->src->fd < 0))
		return -EINVAL;

	while (done < len) {
		uint64_t cur = gpa + done, off, n;
		struct mem_populate_region_report *rr;
		struct mem_populate_caps caps = { 0 };
		struct mem_parallel_result res;
		struct mem_region *r = NULL;
		struct populate_ctx c;
		uint64_t t0;

		for (unsigned int i = 0; i < gm->nr_regions; i++)
			if (mem_region_in_use(&gm->region[i]) && cur >= gm->region[i].gpa &&
			    cur - gm->region[i].gpa < gm->region[i].size)
				r = &gm->region[i];
		if (!r || report->nr >= MEM_MAX_REGIONS)
			return -EINVAL;   /* cannot happen: the range is RAM */
		off = cur - r->gpa;
		n = r->size - off < len - done ? r->size - off : len - done;
		report->err_region = (unsigned int)(r - gm->region);
		report->err_gpa = cur;
		if (off % r->ops->align || n % r->ops->align)
			return report->err = -EINVAL;
		if (cancelled(req->cancel))
			return report->err = -ECANCELED;

		rr = &report->region[report->nr++];
		*rr = (struct mem_populate_region_report){
			.region = (unsigned int)(r - gm->region), .gpa = cur, .len = n,
			.used = MEM_POPULATE_NONE,
		};
		/* none must stay lazy: no trials, which would populate a block. */
		ret = req->strategy == MEM_POPULATE_NONE ? 0 : mem_region_caps(r, off, &caps);
		if (!ret && req->strategy != MEM_POPULATE_NONE) {
			ret = mem_populate_choose(req->strategy, r->ops->populate_order,
						  r->ops->populate_order_len, &caps, &rr->used,
						  rr->why, sizeof(rr->why));
			report->refused = ret != 0;
		}
		report->err_strategy = req->strategy == MEM_POPULATE_AUTO ? rr->used : req->strategy;
		if (ret)
			return report->err = ret;

		c = (struct populate_ctx){
			.r = r, .base = off, .src = req->src, .src_base = done, .s = rr->used,
			.cancel = req->cancel, .write_serial = caps.write_serial,
			.write_lock = PTHREAD_MUTEX_INITIALIZER,
		};
		rr->threads_wanted = rr->used == MEM_POPULATE_NONE && !req->src ? 0 :
				     mem_populate_nr_threads(n, req->max_threads, cpus);
		t0 = now_ns();
		if (rr->threads_wanted) {
			relay.before = done;
			ret = populate_run(&c, n, rr->threads_wanted, &relay, &res);
			rr->threads = res.threads;
			rr->thread_create_err = res.thread_create_err;
			report->done += res.done;
			if (ret) {
				report->err_gpa = cur + res.err_off;
				return report->err = ret;
			}
		}
		rr->ns = now_ns() - t0;
		done += n;
		if (!rr->threads_wanted)
			report->done += n;   /* none: nothing to do, so all of it is done */
	}
	return 0;
}

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

/* Give up after this many EINTR/EAGAIN in a row without progress. */
#define PREFAULT_MAX_RETRIES 10000u

int __mem_prefault_range(mem_ioctl_fn ioctl_fn, int vcpu_fd, uint64_t gpa,
			 uint64_t size, const atomic_bool *cancel, uint64_t *done,
			 uint64_t *calls, uint64_t *retries)
{
	unsigned int in_a_row = 0;
	uint64_t pos = 0, ncalls = 0, nretries = 0;
	int ret = 0;

	while (pos < size) {
		uint64_t want = size - pos < MEM_PREFAULT_CALL_BYTES ? size - pos :
				MEM_PREFAULT_CALL_BYTES;
		struct kvm_pre_fault_memory pf = { .gpa = gpa + pos, .size = want };

		if (cancelled(cancel)) {
			ret = -ECANCELED;
			break;
		}
		ncalls++;
		if (ioctl_fn(vcpu_fd, KVM_PRE_FAULT_MEMORY, &pf) < 0) {
			ret = -errno;
			if ((ret == -EINTR || ret == -EAGAIN) &&
			    ++in_a_row < PREFAULT_MAX_RETRIES) {
				nretries++;
				ret = 0;
				continue;
			}
			break;
		}
		/*
		 * Success means at least one page was done: size shrank and gpa
		 * moved by as much. Anything else would loop forever.
		 */
		if (pf.size >= want || pf.gpa != gpa + pos + (want - pf.size)) {
			ret = -EPROTO;
			break;
		}
		pos += want - pf.size;
		in_a_row = 0;
	}
	if (done)
		*done = pos;
	if (calls)
		*calls += ncalls;
	if (retries)
		*retries += nretries;
	return ret;
}

int mem_prefault(const struct guest_mem *gm, int vcpu_fd, const atomic_bool *cancel,
		 struct mem_prefault_report *rep)
{
	uint64_t t0 = now_ns();
	int ret = 0;

	memset(rep, 0, sizeof(*rep));
	rep->used = true;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];
		uint64_t done = 0;

		/* Hotplug and device memory stay unpopulated until they are used. */
		if (!mem_region_is_boot_ram(r))
			continue;
		ret = __mem_prefault_range(sys_ioctl, vcpu_fd, r->gpa, r->size, cancel, &done,
					   &rep->calls, &rep->retries);
		rep->bytes += done;
		if (ret) {
			rep->err = ret;
			rep->err_gpa = r->gpa + done;
			break;
		}
	}
	rep->ns = now_ns() - t0;
	return ret;
}
