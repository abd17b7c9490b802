/* SPDX-License-Identifier: MIT */
/*
 * Lazy restore by userfaultfd: the guest starts at once on empty memory;
 * its first touch of a page (a vCPU through KVM, or the VMM itself) is
 * served from the snapshot, and a background thread fills everything else.
 *
 *   copy   anon or memfd RAM, MISSING faults, UFFDIO_COPY from a buffer
 *          read from the file (into the page cache for memfd).
 *   move   anon RAM, MISSING faults, UFFDIO_MOVE from anonymous staging
 *          memory that the background thread fills from the file ahead of
 *          the guest (no copy on the fault path once staged); 6.8+. Each
 *          UFFDIO_MOVE flushes the TLB, an IPI to every CPU running a vCPU:
 *          the background moves whole runs (2 MiB pages whole where the RAM
 *          is THP-advised), a fault moves one page.
 *   minor  memfd RAM, MISSING and MINOR faults: the page is written into
 *          the memfd (pwrite(), page cache) and mapped with UFFDIO_CONTINUE.
 *
 * guest_memfd and hugetlb are refused (uffd registration on guest_memfd is
 * EINVAL on 6.18; hugetlb would need 2 MiB copies: not done). Each page is
 * filled exactly once: the fault thread and the background thread claim
 * pages in a shared bitmap before writing them, so a page the guest has
 * already changed is never overwritten. Holes and all-zero pages of the
 * snapshot are left unbacked where the mode allows (they read as zero); a
 * page dropped after its fill (MADV_DONTNEED, a punched hole) reads as zero,
 * as it would without a restore in progress.
 *
 * Nothing here prints. 0 or -errno.
 */
#ifndef MEMVMM_MEM_LAZY_H
#define MEMVMM_MEM_LAZY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"
#include "mem/snapshot.h"

enum mem_lazy_mode {
	MEM_LAZY_COPY,
	MEM_LAZY_MOVE,
	MEM_LAZY_MINOR,
	MEM_LAZY_NR_MODES,
};

/* "lazy-copy", "lazy-move", "lazy-minor". */
const char *mem_lazy_mode_name(enum mem_lazy_mode m);

/* The background thread's order. */
enum mem_lazy_order {
	MEM_LAZY_ORDER_ADDRESS,       /* from the start of the region up */
	MEM_LAZY_ORDER_NEAR_FAULTS,   /* around the most recent fault first, then up */
};

/* Background work unit: 2 MiB, aligned (so THP-backed RAM can be collapsed). */
#define MEM_LAZY_CHUNK_BYTES (2ull << 20)

/*
 * Whether region r can be restored in mode m on this kernel, found by trial
 * (a userfaultfd with the mode's features, registration of r's range,
 * unregistered again). -EOPNOTSUPP with the reason in why (e.g. "guest_memfd
 * mappings cannot be registered with userfaultfd on this kernel (EINVAL)",
 * "UFFD_FEATURE_MOVE is not offered (kernel older than 6.8)"); -EPERM when
 * userfaultfd is not allowed (vm.unprivileged_userfaultfd, seccomp);
 * -EBUSY when the region is registered already (a restore in progress).
 * The userfaultfd is for kernel-mode faults too (no UFFD_USER_MODE_ONLY):
 * KVM's faults on guest memory are get_user_pages() in the kernel.
 */
int mem_lazy_check(const struct mem_region *r, enum mem_lazy_mode m, char *why,
		   size_t whylen) MEM_WUR;

struct mem_lazy_opts {
	enum mem_lazy_mode mode;
	enum mem_lazy_order order;
	/* After the background fill: MADV_COLLAPSE where the region is THP-advised. */
	bool collapse;
	/*
	 * No background thread: pages come only when touched (measuring pure
	 * on-demand restore); the fill is then never done and the source must
	 * stay readable for as long as the VM runs.
	 */
	bool no_background;
};

struct mem_lazy;

/*
 * Register region index of gm (fresh: nothing populated) and start the
 * fault thread and the background thread, serving from src (which must
 * outlive the returned object). Returns at once. -EOPNOTSUPP, -EPERM,
 * -EBUSY (registered already) as mem_lazy_check(), which says why; -EINVAL
 * when src is not the region's size. Every signal is blocked in the two
 * threads. Once the fill is done the range is unregistered (the
 * userfaultfd stays open until mem_lazy_stop()).
 */
int mem_lazy_start(struct guest_mem *gm, unsigned int index, const struct mem_snap_src *src,
		   const struct mem_lazy_opts *opts, struct mem_lazy **out) MEM_WUR;

/*
 * One bit per page of the region, set once the page holds its saved
 * contents (by a fault or by the background thread). For snapshots taken
 * before the fill finished (mem_snap_save_opts.fetched). Pages left
 * unbacked because the snapshot holds zeros there count as fetched (guest
 * memory reads zero there, as the snapshot does). Valid until
 * mem_lazy_stop().
 */
const _Atomic uint64_t *mem_lazy_fetched(const struct mem_lazy *l);

/*
 * Wait until the background fill is done (and the collapse, if asked), or
 * timeout_ms passed (-ETIMEDOUT; < 0: no limit). Returns the fill's error
 * when it failed (also a fault's: the fill stops at the first error), e.g.
 * -EIO for a memory file truncated under the restore. Several threads may
 * wait at once.
 */
int mem_lazy_wait(struct mem_lazy *l, int timeout_ms) MEM_WUR;

struct mem_lazy_report {
	enum mem_lazy_mode mode;
	uint64_t faults;             /* fault events served */
	/*
	 * Each page is claimed once, by one of the two threads: once done,
	 * fault_pages + background_pages is the region's page count.
	 */
	uint64_t fault_pages;        /* pages filled on the fault path */
	uint64_t background_pages;   /* pages filled by the background thread */
	uint64_t zero_pages;         /* of those, holes and zero pages left unbacked */
	uint64_t fault_max_ns;       /* longest fault service (message read to page mapped) */
	bool done;                   /* background fill finished */
	uint64_t done_ns;            /* from mem_lazy_start() to the end of the fill */
	uint64_t huge_bytes;         /* after the fill (and collapse): bytes in 2 MiB pages */
	int collapse_err;            /* MADV_COLLAPSE's error, 0 if none or not asked */
	int err;                     /* the first failure (fault or fill), 0 if none */
};

void mem_lazy_get_report(struct mem_lazy *l, struct mem_lazy_report *rep);

/*
 * An eventfd that becomes readable when serving failed (a memory file
 * truncated or unreadable under a lazy restore): the faulting thread then
 * stays blocked until mem_lazy_stop(), so the VMM watches this fd and stops
 * the VM with report.err. Owned by l.
 */
int mem_lazy_error_fd(const struct mem_lazy *l);

/*
 * After a failure (mem_lazy_error_fd()): unregister the range, so that
 * every thread blocked in a fault on it (the VMM's own main loop included)
 * goes on with a plain fault (an empty page) and the VMM can stop the VM.
 * Any thread; l stays valid until mem_lazy_stop().
 */
void mem_lazy_abort(struct mem_lazy *l);

/*
 * Stop the threads and close the userfaultfd (threads blocked in a fault
 * are woken and retry it as a plain fault); pages never filled then read as
 * zero: only for teardown, after the vCPUs were told to stop (a vCPU
 * blocked in a fault cannot be joined before this). Frees l; NULL is fine.
 */
void mem_lazy_stop(struct mem_lazy *l);

#endif /* MEMVMM_MEM_LAZY_H */
