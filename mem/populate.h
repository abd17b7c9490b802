/* SPDX-License-Identifier: MIT */
/*
 * Population: backing guest RAM with host memory before the guest runs, and
 * filling it from a source (snapshot file, initrd) as fast as the host allows.
 *
 * Strategies (chosen per region; see mem_populate_choose()):
 *   none       nothing; the guest faults pages in lazily
 *   fallocate  allocate the file's backing without mapping it (fd backends)
 *   madvise    MADV_POPULATE_WRITE on the VMM's mapping
 *   write      pwrite() into the backing file (guest_memfd only where the
 *              kernel implements write(); detected at run time)
 * All but none run on N threads released together, each working through its
 * share in MEM_POPULATE_STEP_BYTES steps so that progress can be shown and a
 * failure on one thread stops the others.
 *
 * Pre-fault: KVM_PRE_FAULT_MEMORY over RAM on a vCPU fd, so that the guest
 * takes no stage-2 faults either (needs TDP; see kernel-facts §2).
 */
#ifndef MEMVMM_MEM_POPULATE_H
#define MEMVMM_MEM_POPULATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem/mem.h"

/* One thread per this much memory at most (QEMU's prealloc rule). */
#define MEM_POPULATE_CHUNK_BYTES   (64ull << 20)
/* Each thread works in steps of this size (a multiple of every backend's align). */
#define MEM_POPULATE_STEP_BYTES    (4ull << 20)
#define MEM_POPULATE_MAX_THREADS   64u
/*
 * EINTR from fallocate() or MADV_POPULATE_WRITE (a signal arrived, e.g.
 * SIGCONT after Ctrl-Z/fg) is retried; this many in a row without success
 * give up with -EINTR. A set cancel flag stops the retries at once.
 */
#define MEM_EINTR_MAX_RETRIES      10000u
/*
 * Each KVM_PRE_FAULT_MEMORY call covers at most this much, so that a cancel
 * request is seen between calls (the kernel does not stop for a blocked
 * signal): tens of milliseconds of work at the rates measured.
 */
#define MEM_PREFAULT_CALL_BYTES    (64ull << 20)

enum mem_prefault_mode {
	MEM_PREFAULT_AUTO,   /* when the kernel supports it, else say why not */
	MEM_PREFAULT_ON,     /* fail when unsupported */
	MEM_PREFAULT_OFF,
};

/* "auto", "none", ... ; NULL for an out-of-range value. */
const char *mem_populate_name(enum mem_populate_strategy s);
/* -EINVAL for an unknown name. */
int mem_populate_parse(const char *name, enum mem_populate_strategy *out) MEM_WUR;
const char *mem_prefault_name(enum mem_prefault_mode m);
int mem_prefault_parse(const char *name, enum mem_prefault_mode *out) MEM_WUR;

/* What a region's backend can do on this host, found by trial (mem_region_caps()). */
struct mem_populate_caps {
	bool fallocate;        /* has a file that takes fallocate(KEEP_SIZE) */
	bool madvise;          /* MADV_POPULATE_WRITE works on its mapping */
	bool write;            /* write() into its file works */
	bool write_serial;     /* ... but only write(), not pwrite(): one at a time */
	char why_no_fallocate[64];
	char why_no_madvise[64];
	char why_no_write[64];
};

/*
 * Find out by harmless trials what r supports: a zero-length pwrite() (which
 * fails with EINVAL when the file has no write()), MADV_POPULATE_WRITE and
 * fallocate(KEEP_SIZE) of the align-sized block at off, which therefore
 * becomes resident; no content changes.
 */
int mem_region_caps(struct mem_region *r, uint64_t off,
		    struct mem_populate_caps *caps) MEM_WUR;

/*
 * Pick the strategy for a region. requested AUTO walks the backend's
 * populate_order (its row of the README's decision table, order_len
 * entries) and takes the first supported entry, stopping at NONE and never
 * reading more than order_len or MEM_POPULATE_NR entries; otherwise
 * requested is taken if supported.
 * -EOPNOTSUPP with the reason in why when requested cannot be done.
 * For AUTO, why says what was passed over and why ("" if nothing).
 */
int mem_populate_choose(enum mem_populate_strategy requested,
			const enum mem_populate_strategy *order, unsigned int order_len,
			const struct mem_populate_caps *caps,
			enum mem_populate_strategy *chosen,
			char *why, size_t whylen) MEM_WUR;

/* CPUs this process may run on (its affinity mask), at least 1. */
unsigned int mem_online_cpus(void);

/* Threads for size bytes: min(online CPUs, max_threads, size / CHUNK), at least 1. */
unsigned int mem_populate_nr_threads(uint64_t size, unsigned int max_threads,
				     unsigned int online_cpus);

/*
 * Split [0, size) into n contiguous parts whose starts are multiples of
 * align; part i is [off[i], off[i] + len[i]). Parts at the end may be empty
 * when size is small. size must be a multiple of align and n >= 1.
 */
void mem_populate_split(uint64_t size, uint64_t align, unsigned int n,
			uint64_t *off, uint64_t *len);

/*
 * The parallel engine, exposed for tests and benchmarks: run
 * step(ctx, thread, off, len) over [0, size) in steps of at most
 * step_bytes, on threads parts released together. The first failing step
 * stops the others at their next step. progress (may be NULL) is called
 * about every 100 ms with the bytes done so far: on the caller's thread
 * while workers run, or from the working thread between steps when one
 * thread does the work; and once more at the end unless the run failed.
 *
 * cancel (may be NULL) is read before every step on every thread: once it
 * is true the run stops with -ECANCELED (res->cancelled, res->err_off the
 * first step not started), after at most the step each thread was in.
 *
 * When a thread cannot be created, the run does not fail: the threads
 * already created share the whole range, or, if none was, the caller's
 * thread does it all; res->threads says how many ran, res->threads_wanted
 * how many were asked for and res->thread_create_err why the rest were not.
 */
typedef int (*mem_step_fn)(void *ctx, unsigned int thread, uint64_t off, uint64_t len);
typedef void (*mem_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct mem_parallel_result {
	unsigned int threads;                     /* threads that did the work */
	unsigned int threads_wanted;              /* threads asked for */
	int thread_create_err;                    /* -errno of a failed create, 0 if none */
	int err;                                  /* first failure, 0 if none */
	uint64_t err_off;                         /* where it failed or stopped */
	bool cancelled;                           /* stopped because *cancel was set */
	int thread_err[MEM_POPULATE_MAX_THREADS]; /* each thread's own result */
	uint64_t done;                            /* bytes of successful steps */
};

int mem_parallel_run(uint64_t size, uint64_t align, unsigned int threads,
		     uint64_t step_bytes, mem_step_fn step, void *ctx,
		     mem_progress_fn progress, void *progress_arg,
		     const atomic_bool *cancel, struct mem_parallel_result *res) MEM_WUR;

/* pthread_create(3)'s shape: returns 0 or a positive error number. */
typedef int (*mem_thread_create_fn)(pthread_t *thread, const pthread_attr_t *attr,
				    void *(*fn)(void *), void *arg);

/* mem_parallel_run() with the thread-creating function as a parameter; tests pass a fake. */
int __mem_parallel_run(mem_thread_create_fn create, uint64_t size, uint64_t align,
		       unsigned int threads, uint64_t step_bytes, mem_step_fn step, void *ctx,
		       mem_progress_fn progress, void *progress_arg,
		       const atomic_bool *cancel, struct mem_parallel_result *res) MEM_WUR;

/* The syscalls a population step makes, in their libc shape (-1 and errno); tests pass fakes. */
typedef int (*mem_fallocate_fn)(int fd, int mode, off_t off, off_t len);
typedef int (*mem_madvise_fn)(void *addr, size_t len, int advice);

/*
 * fallocate(fd, mode, off, len) / madvise(addr, len, advice), retried on
 * EINTR unless cancel (may be NULL) is set, which gives -ECANCELED. 0 or
 * -errno. fallocate halves the piece it asks for on each EINTR (shmem undoes
 * an interrupted call), down to unit (the backend's alignment; a page when
 * off or len is not a multiple of it), then retries up to
 * MEM_EINTR_MAX_RETRIES times in a row; madvise retries the same range up
 * to MEM_EINTR_MAX_RETRIES times in a row (what it populated stays).
 */
int __mem_fallocate(mem_fallocate_fn fn, int fd, int mode, uint64_t off, uint64_t len,
		    uint64_t unit, const atomic_bool *cancel) MEM_WUR;
int __mem_madvise(mem_madvise_fn fn, void *addr, size_t len, int advice,
		  const atomic_bool *cancel) MEM_WUR;

/* A source to fill guest memory from: a buffer, or a file at an offset. */
struct mem_source {
	const void *buf;      /* used when not NULL */
	int fd;               /* else read from fd at fd_offset */
	uint64_t fd_offset;
};

struct mem_populate_req {
	enum mem_populate_strategy strategy;   /* AUTO allowed */
	unsigned int max_threads;              /* 0: as many as CPUs are online */
	const struct mem_source *src;          /* NULL: populate (contents unchanged) */
	mem_progress_fn progress;              /* may be NULL */
	void *progress_arg;
	const atomic_bool *cancel;             /* NULL: never cancelled */
};

/* What mem_populate() did to one region. */
struct mem_populate_region_report {
	unsigned int region;
	uint64_t gpa, len;
	enum mem_populate_strategy used;
	unsigned int threads;        /* that ran (0: nothing to do) */
	unsigned int threads_wanted; /* asked for */
	int thread_create_err;       /* -errno of a failed pthread_create (fewer ran), or 0 */
	uint64_t ns;
	char why[160];     /* AUTO: what was passed over; refusal reason */
};

struct mem_populate_report {
	struct mem_populate_region_report region[MEM_MAX_REGIONS];
	unsigned int nr;
	/* On failure: which region, where, with which strategy. */
	int err;                     /* -ECANCELED: stopped by req->cancel at err_gpa */
	unsigned int err_region;
	uint64_t err_gpa;
	enum mem_populate_strategy err_strategy;
	/*
	 * The failure is mem_populate_choose()'s refusal (-EOPNOTSUPP) and the
	 * last region's why says why. False for a strategy that failed while
	 * running (even with EOPNOTSUPP): then why only lists what AUTO passed over.
	 */
	bool refused;
	uint64_t done;               /* bytes populated before it ended */
};

/*
 * Populate (src NULL) or fill (src set) [gpa, gpa + len) of guest RAM. The
 * range must be RAM throughout (adjacent regions are fine; the MMIO hole
 * between RAM below 3 GiB and above 4 GiB is not: call once per region) and
 * page aligned (hugetlb: 2 MiB aligned), else -EINVAL. With a source, write copies straight into the
 * file; the others populate each step, then copy into it (none: copy with
 * faults). With no source, write writes zeros, so only use it on fresh memory.
 * Failure: -errno with report->err_* saying where; memory populated before
 * the failure stays populated. req->cancel set: -ECANCELED at the next step.
 * A thread that cannot be created means fewer threads, not a failure
 * (report->region[].threads_wanted, .thread_create_err).
 */
int mem_populate(struct guest_mem *gm, uint64_t gpa, uint64_t len,
		 const struct mem_populate_req *req,
		 struct mem_populate_report *report) MEM_WUR;

/* The ioctl used by the pre-fault loop; tests pass a fake. */
typedef int (*mem_ioctl_fn)(int fd, unsigned long request, void *arg);

struct mem_prefault_report {
	bool used;
	uint64_t bytes;       /* pre-faulted */
	uint64_t calls;       /* ioctls, retries included */
	uint64_t retries;     /* EINTR / EAGAIN */
	uint64_t ns;
	int err;              /* -errno when it failed or is unsupported */
	uint64_t err_gpa;
};

/*
 * KVM_PRE_FAULT_MEMORY over [gpa, gpa + size) on vcpu_fd, at most
 * MEM_PREFAULT_CALL_BYTES per call, following the ioctl's contract: it
 * returns 0 once it has done at least one page, with gpa advanced and size
 * reduced; loop until size is 0, retry EINTR and EAGAIN, fail on anything
 * else (ENOENT: no memslot; EOPNOTSUPP: no TDP). cancel (may be NULL) is
 * read before every call, retries included: set, it ends with -ECANCELED.
 * done (may be NULL) gets the bytes pre-faulted, even on failure.
 */
int __mem_prefault_range(mem_ioctl_fn ioctl_fn, int vcpu_fd, uint64_t gpa,
			 uint64_t size, const atomic_bool *cancel, uint64_t *done,
			 uint64_t *calls, uint64_t *retries) MEM_WUR;

/*
 * Pre-fault every boot RAM region of gm on vcpu_fd (memslots must be
 * installed); hotplug and device regions are left alone.
 * cancel (may be NULL): -ECANCELED with report->err_gpa where it stopped.
 */
int mem_prefault(const struct guest_mem *gm, int vcpu_fd, const atomic_bool *cancel,
		 struct mem_prefault_report *report) MEM_WUR;

#endif /* MEMVMM_MEM_POPULATE_H */
