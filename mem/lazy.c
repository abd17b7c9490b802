// SPDX-License-Identifier: MIT
/*
 * Lazy restore by userfaultfd (mem/lazy.h): the checks, the object's life,
 * and the fault thread. The background thread is in mem/lazy_fill.c; the
 * page states both follow are described in mem/lazy_int.h.
 *
 * The userfaultfd is opened without UFFD_USER_MODE_ONLY: KVM reaches guest
 * memory by get_user_pages() from the kernel, and those faults must reach
 * us too (so it needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1).
 *
 * The fault thread serves one page per fault: it claims the page, reads it
 * from the snapshot (move: takes it from staging when the background thread
 * staged it already) and puts it in place, which wakes the faulting thread.
 * A fault on a page already fetched is a stale message or a page dropped
 * since (MADV_DONTNEED, a punched hole): it gets a zero page (UFFDIO_ZEROPAGE
 * on anon, UFFDIO_COPY of zeros on shmem; EEXIST: it was stale) or, for a
 * minor fault, UFFDIO_CONTINUE, and is woken. A fault on a page the
 * background thread claimed is parked until the page is fetched, then woken.
 * When reading the snapshot fails, the faulting thread is left blocked (the
 * VMM, told through the error fd, stops the VM).
 */
#include "mem/lazy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/kvm_compat.h"
#include "mem/pthread_must.h"
#include "mem/thp.h"

/* uffd_msg records read per read(). */
#define LAZY_MSG_BATCH        16u
/* The fault thread's poll: with faults parked, and idle (stop is also a flag). */
#define LAZY_DEFER_POLL_MS    1
#define LAZY_IDLE_POLL_MS     100
/* A parked fault when the list is full: how long to sleep between looks. */
#define LAZY_DEFER_SPIN_NS    20000L
#define LAZY_MS_PER_S         1000u
#define LAZY_NS_PER_MS        1000000ull
#define LAZY_WHY_BYTES        200u

static const char *const lazy_mode_names[MEM_LAZY_NR_MODES] = {
	[MEM_LAZY_COPY] = "lazy-copy",
	[MEM_LAZY_MOVE] = "lazy-move",
	[MEM_LAZY_MINOR] = "lazy-minor",
};

/* Zeros for UFFDIO_COPY into shmem (UFFDIO_ZEROPAGE maps the zero page on anon only). */
static const uint8_t lazy_zero_page[LAZY_PAGE_BYTES] __attribute__((aligned(LAZY_PAGE_BYTES)));

const char *mem_lazy_mode_name(enum mem_lazy_mode m)
{
	return (unsigned int)m < MEM_LAZY_NR_MODES ? lazy_mode_names[m] : "?";
}

void lazy_fail(struct mem_lazy *l, int err)
{
	int none = 0;

	if (!atomic_compare_exchange_strong(&l->err, &none, err))
		return;
	/* An eventfd write of 1 fails only with the counter at 2^64 - 2: not here. */
	if (eventfd_write(l->err_fd, 1) < 0)
		return;
}

/* ---- checks: one trial that mem_lazy_check() and mem_lazy_start() share ---- */

/* What a mode needs: features, registration, the range ioctls used. */
struct lazy_need {
	uint64_t features;
	uint64_t reg_mode;
	uint64_t ioctls;
	const char *feature_name;   /* for the refusal */
	const char *kernel;
};

static int lazy_need(enum mem_lazy_mode m, bool shmem, struct lazy_need *n)
{
	*n = (struct lazy_need){ .reg_mode = UFFDIO_REGISTER_MODE_MISSING,
				 .ioctls = 1ull << _UFFDIO_WAKE };
	switch (m) {
	case MEM_LAZY_COPY:
		n->ioctls |= 1ull << _UFFDIO_COPY;
		if (shmem) {
			n->features = UFFD_FEATURE_MISSING_SHMEM;
			n->feature_name = "UFFD_FEATURE_MISSING_SHMEM";
			n->kernel = "4.11";
		} else {
			n->ioctls |= 1ull << _UFFDIO_ZEROPAGE;
		}
		return 0;
	case MEM_LAZY_MOVE:
		n->features = UFFD_FEATURE_MOVE;
		n->ioctls |= 1ull << _UFFDIO_MOVE | 1ull << _UFFDIO_COPY | 1ull << _UFFDIO_ZEROPAGE;
		n->feature_name = "UFFD_FEATURE_MOVE";
		n->kernel = "6.8";
		return 0;
	case MEM_LAZY_MINOR:
		n->features = UFFD_FEATURE_MINOR_SHMEM;
		n->reg_mode |= UFFDIO_REGISTER_MODE_MINOR;
		n->ioctls |= 1ull << _UFFDIO_CONTINUE | 1ull << _UFFDIO_COPY;
		n->feature_name = "UFFD_FEATURE_MINOR_SHMEM";
		n->kernel = "5.14";
		return 0;
	default:
		return -EINVAL;
	}
}

/* userfaultfd(2) for kernel-mode faults, handshaken with features. */
static int uffd_open(uint64_t features, uint64_t *offered, int *out, char *why, size_t whylen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0) {
		ret = -errno;
		if (ret == -EPERM)
			snprintf(why, whylen, "userfaultfd(2) for kernel-mode faults is not "
				 "allowed (vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE, "
				 "or seccomp)");
		else if (ret == -ENOSYS)
			snprintf(why, whylen, "no userfaultfd(2) in this kernel "
				 "(CONFIG_USERFAULTFD)");
		else
			snprintf(why, whylen, "userfaultfd(2) failed: %s", strerror(-ret));
		return ret == -ENOSYS ? -EOPNOTSUPP : ret;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		close(fd);
		snprintf(why, whylen, "UFFDIO_API failed: %s", strerror(-ret));
		return ret == -EINVAL ? -EOPNOTSUPP : ret;
	}
	if (offered)
		*offered = api.features;
	*out = fd;
	return 0;
}

/*
 * The trial: refusals by design and by memory kind, the mode's features,
 * and a registration of r's whole range. On success *uffd is a userfaultfd
 * with r's range registered in mode m.
 */
static int lazy_prepare(const struct mem_region *r, enum mem_lazy_mode m, int *uffd, char *why,
			size_t whylen)
{
	struct uffdio_register reg = { .range = { .start = (uintptr_t)r->hva, .len = r->size } };
	enum mem_thp_kind kind = r->ops ? r->ops->thp : MEM_THP_KIND_NONE;
	bool shmem = kind == MEM_THP_KIND_SHMEM;
	uint64_t offered = 0;
	struct lazy_need need;
	int fd = -1, ret;

	if (!mem_region_in_use(r) || !r->hva || !r->size || (unsigned int)m >= MEM_LAZY_NR_MODES) {
		snprintf(why, whylen, "no such region or mode");
		return -EINVAL;
	}
	if (kind == MEM_THP_KIND_HUGETLB) {
		snprintf(why, whylen, "%s RAM is not restored lazily, by design: userfaultfd would "
			 "fill it a whole 2 MiB page per fault; restore it eagerly", r->ops->name);
		return -EOPNOTSUPP;
	}
	/* The mode does not fit this memory: say so before asking the kernel for features. */
	if (m == MEM_LAZY_MINOR && kind == MEM_THP_KIND_ANON) {
		snprintf(why, whylen, "lazy-minor needs memfd (shmem) RAM; this region is %s "
			 "(lazy-copy or lazy-move serve it)", r->ops->name);
		return -EOPNOTSUPP;
	}
	if (m == MEM_LAZY_MOVE && shmem) {
		snprintf(why, whylen, "lazy-move needs anon RAM (UFFDIO_MOVE moves private "
			 "anonymous pages only); this region is %s", r->ops->name);
		return -EOPNOTSUPP;
	}
	ret = lazy_need(m, shmem, &need);
	if (ret)
		return ret;
	/* What the kernel offers (UFFDIO_API can be done once per fd: a throwaway one). */
	ret = uffd_open(0, &offered, &fd, why, whylen);
	if (ret)
		return ret;
	close(fd);
	if ((offered & need.features) != need.features) {
		snprintf(why, whylen, "%s is not offered (kernel older than %s)", need.feature_name,
			 need.kernel);
		return -EOPNOTSUPP;
	}
	ret = uffd_open(need.features, NULL, &fd, why, whylen);
	if (ret)
		return ret;
	/* Every mode registers MISSING: the kernel's own answer for this memory first. */
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		ret = -errno;
		if (ret == -EINVAL)
			snprintf(why, whylen, "%s mappings cannot be registered with "
				 "userfaultfd on this kernel (EINVAL)", r->ops->name);
		else if (ret == -EBUSY)
			snprintf(why, whylen, "the region is registered with another userfaultfd "
				 "already (EBUSY)");
		else
			snprintf(why, whylen, "UFFDIO_REGISTER failed: %s", strerror(-ret));
		goto fail;
	}
	ret = -EOPNOTSUPP;
	if (m == MEM_LAZY_MINOR && !shmem) {
		snprintf(why, whylen, "lazy-minor needs memfd (shmem) RAM; this region is %s "
			 "(lazy-copy or lazy-move serve it)", r->ops->name);
		goto fail;
	}
	if (m == MEM_LAZY_MOVE && kind != MEM_THP_KIND_ANON) {
		snprintf(why, whylen, "lazy-move needs anon RAM (UFFDIO_MOVE moves private "
			 "anonymous pages only); this region is %s", r->ops->name);
		goto fail;
	}
	if (kind != MEM_THP_KIND_ANON && !shmem) {
		snprintf(why, whylen, "%s needs anon or memfd RAM; this region is %s",
			 mem_lazy_mode_name(m), r->ops->name);
		goto fail;
	}
	if (need.reg_mode != reg.mode) {
		reg.mode = need.reg_mode;
		if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
			ret = -errno;
			snprintf(why, whylen, "UFFDIO_REGISTER (MISSING|MINOR) failed: %s",
				 strerror(-ret));
			goto fail;
		}
	}
	if ((reg.ioctls & need.ioctls) != need.ioctls) {
		snprintf(why, whylen, "registration offers ioctls %#llx, %s needs %#llx",
			 (unsigned long long)reg.ioctls, mem_lazy_mode_name(m),
			 (unsigned long long)need.ioctls);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	*uffd = fd;
	return 0;
fail:
	close(fd);   /* unregisters */
	return ret;
}

int mem_lazy_check(const struct mem_region *r, enum mem_lazy_mode m, char *why, size_t whylen)
{
	char dummy[LAZY_WHY_BYTES];
	int fd, ret;

	if (!why || !whylen) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	ret = lazy_prepare(r, m, &fd, why, whylen);
	if (!ret)
		close(fd);
	return ret;
}

/* ---- the fault thread ---- */

/* A zero page at off, atomically: nothing if a page is there (*exist). */
static int zero_fill(struct mem_lazy *l, uint64_t off, bool *exist)
{
	if (l->mem_fd < 0)
		return lazy_uffd_op(l, LAZY_OP_ZEROPAGE, off, NULL, LAZY_PAGE_BYTES, false, exist);
	return lazy_uffd_op(l, LAZY_OP_COPY, off, lazy_zero_page, LAZY_PAGE_BYTES, false, exist);
}

/* Fill the page at off, which this thread claimed. */
static int fill_page(struct mem_lazy *l, uint64_t off, bool minor)
{
	uint64_t page = off / LAZY_PAGE_BYTES;
	bool exist = false;
	int ret;

	/* Staged by the background thread: move it without copying (gone since: read it). */
	if (l->staged && lazy_bit_test(l->staged, page) &&
	    !lazy_uffd_op(l, LAZY_OP_MOVE, off, l->staging + off, LAZY_PAGE_BYTES, false, &exist))
		goto out;
	exist = false;
	ret = mem_snap_src_read(l->src, off, l->fault_buf, LAZY_PAGE_BYTES);
	if (ret)
		return ret;
	/* A minor fault's page is in the memfd already: write over it there. */
	if (!minor && lazy_page_is_zero(l->fault_buf))
		ret = zero_fill(l, off, &exist);
	else
		ret = lazy_place(l, off, l->fault_buf, LAZY_PAGE_BYTES, &exist);
	if (ret)
		return ret;
out:
	return exist ? lazy_wake(l, off, LAZY_PAGE_BYTES) : 0;
}

/* A fault on a page fetched already: stale, or the page was dropped since. */
static int refill_page(struct mem_lazy *l, uint64_t off, bool minor)
{
	bool exist = false;
	int ret = -EFAULT;

	if (minor)
		ret = lazy_uffd_op(l, LAZY_OP_CONTINUE, off, NULL, LAZY_PAGE_BYTES, false, &exist);
	/* EFAULT: the page left the page cache between the fault and now. */
	if (ret == -EFAULT)
		ret = zero_fill(l, off, &exist);
	/* ENOENT: the range was unregistered, which woke the faulting thread. */
	if (!ret || ret == -ENOENT)
		ret = exist || ret ? lazy_wake(l, off, LAZY_PAGE_BYTES) : 0;
	return ret;
}

/* Wake parked faults whose pages are fetched now. */
static void flush_deferred(struct mem_lazy *l)
{
	int ret;

	for (unsigned int i = 0; i < l->nr_deferred;) {
		uint64_t page = l->deferred[i];

		if (!lazy_bit_test(l->fetched, page)) {
			i++;
			continue;
		}
		ret = lazy_wake(l, page * LAZY_PAGE_BYTES, LAZY_PAGE_BYTES);
		if (ret)
			lazy_fail(l, ret);
		l->deferred[i] = l->deferred[--l->nr_deferred];
	}
	atomic_store(&l->deferred_nr, l->nr_deferred);
}

/* Park a fault on a page the background thread is filling. */
static void defer_fault(struct mem_lazy *l, uint64_t page)
{
	const struct timespec pause = { .tv_nsec = LAZY_DEFER_SPIN_NS };
	int ret;

	if (l->nr_deferred == LAZY_DEFER_MAX)
		flush_deferred(l);
	if (l->nr_deferred < LAZY_DEFER_MAX) {
		l->deferred[l->nr_deferred++] = page;
		atomic_store(&l->deferred_nr, l->nr_deferred);
		flush_deferred(l);   /* it may have been fetched before deferred_nr said so */
		return;
	}
	/* The list is full: wait here, the background thread is inside one ioctl. */
	while (!lazy_bit_test(l->fetched, page) && !atomic_load(&l->stopping) &&
	       !atomic_load(&l->err))
		if (nanosleep(&pause, NULL) < 0 && errno != EINTR)
			break;
	if (lazy_bit_test(l->fetched, page)) {
		ret = lazy_wake(l, page * LAZY_PAGE_BYTES, LAZY_PAGE_BYTES);
		if (ret)
			lazy_fail(l, ret);
	}
}

static void serve_fault(struct mem_lazy *l, uint64_t off, bool minor)
{
	uint64_t page = off / LAZY_PAGE_BYTES;
	int ret;

	if (!lazy_bit_claim(l->claimed, page)) {
		if (!lazy_bit_test(l->fetched, page)) {
			defer_fault(l, page);
			return;
		}
		ret = refill_page(l, off, minor);
		if (ret)
			lazy_fail(l, ret);
		return;
	}
	ret = fill_page(l, off, minor);
	if (ret) {
		/* The faulting thread stays blocked; the VMM stops the VM. */
		lazy_bit_clear(l->claimed, page);
		lazy_fail(l, ret);
		return;
	}
	lazy_bit_set(l->fetched, page);
	atomic_fetch_add(&l->fault_pages, 1);
	if (atomic_load(&l->final_wait)) {
		mem_pthread_must(pthread_mutex_lock(&l->lock));
		mem_pthread_must(pthread_cond_broadcast(&l->cond));
		mem_pthread_must(pthread_mutex_unlock(&l->lock));
	}
}

static void handle_msg(struct mem_lazy *l, const struct uffd_msg *msg)
{
	uint64_t addr = msg->arg.pagefault.address & ~(LAZY_PAGE_BYTES - 1), t0, dt, max;
	uint64_t off = addr - (uintptr_t)l->hva;

	if (msg->event != UFFD_EVENT_PAGEFAULT || addr < (uintptr_t)l->hva || off >= l->size)
		return;
	t0 = lazy_now_ns();
	atomic_fetch_add(&l->faults, 1);
	atomic_store(&l->last_fault_off, off);
	atomic_fetch_add(&l->fault_seq, 1);
	serve_fault(l, off, msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR);
	dt = lazy_now_ns() - t0;
	max = atomic_load(&l->fault_max_ns);
	while (t0 && dt > max && !atomic_compare_exchange_weak(&l->fault_max_ns, &max, dt))
		;
}

static void *fault_main(void *arg)
{
	struct mem_lazy *l = arg;
	struct pollfd pfd[] = {
		{ .fd = l->uffd, .events = POLLIN },
		{ .fd = l->stop_fd, .events = POLLIN },
		{ .fd = l->progress_fd, .events = POLLIN },
	};
	struct uffd_msg msgs[LAZY_MSG_BATCH];
	eventfd_t v;
	ssize_t n;
	int ready;

	while (!atomic_load(&l->stopping)) {
		ready = poll(pfd, MEM_ARRAY_LEN(pfd),
			     l->nr_deferred ? LAZY_DEFER_POLL_MS : LAZY_IDLE_POLL_MS);
		if (ready < 0 && errno != EINTR) {
			lazy_fail(l, -errno);
			break;
		}
		if (ready <= 0 || atomic_load(&l->stopping))
			goto parked;
		if ((pfd[2].revents & POLLIN) && eventfd_read(l->progress_fd, &v) < 0 &&
		    errno != EAGAIN) {
			lazy_fail(l, -errno);
			break;
		}
		if (pfd[0].revents & (POLLERR | POLLNVAL)) {
			lazy_fail(l, -EIO);
			break;
		}
		if (!(pfd[0].revents & POLLIN))
			goto parked;
		n = read(l->uffd, msgs, sizeof(msgs));
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			lazy_fail(l, -errno);
			break;
		}
		for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(msgs[0]); i++)
			handle_msg(l, &msgs[i]);
parked:
		if (l->nr_deferred)
			flush_deferred(l);
	}
	return NULL;
}

/* ---- the object ---- */

static void lazy_free(struct mem_lazy *l)
{
	if (l->staging)
		munmap(l->staging, l->size);
	if (l->bg_buf)
		munmap(l->bg_buf, MEM_LAZY_CHUNK_BYTES);
	if (l->fault_buf)
		munmap(l->fault_buf, LAZY_PAGE_BYTES);
	free((void *)l->claimed);
	free((void *)l->fetched);
	free((void *)l->staged);
	if (l->uffd >= 0)
		close(l->uffd);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->err_fd >= 0)
		close(l->err_fd);
	if (l->progress_fd >= 0)
		close(l->progress_fd);
	free(l);
}

void mem_lazy_abort(struct mem_lazy *l)
{
	struct uffdio_range r = { .start = (uintptr_t)l->hva, .len = l->size };

	atomic_store(&l->stopping, true);
	/* EINVAL: unregistered already (the fill was done); nothing else can fail here. */
	if (ioctl(l->uffd, UFFDIO_UNREGISTER, &r) < 0)
		return;
}

void mem_lazy_stop(struct mem_lazy *l)
{
	if (!l)
		return;
	atomic_store(&l->stopping, true);
	/* If this write failed, the threads still see stopping within 100 ms. */
	if (eventfd_write(l->stop_fd, 1) < 0)
		atomic_store(&l->stopping, true);
	mem_pthread_must(pthread_mutex_lock(&l->lock));
	mem_pthread_must(pthread_cond_broadcast(&l->cond));
	mem_pthread_must(pthread_mutex_unlock(&l->lock));
	if (l->fault_started)
		mem_pthread_must(pthread_join(l->fault_thread, NULL));
	if (l->bg_started)
		mem_pthread_must(pthread_join(l->bg_thread, NULL));
	mem_pthread_must(pthread_cond_destroy(&l->cond));
	mem_pthread_must(pthread_mutex_destroy(&l->lock));
	/* Closing the userfaultfd unregisters the range and wakes blocked faults. */
	lazy_free(l);
}

/* An anonymous private mapping of len bytes. */
static int map_anon(uint64_t len, uint8_t **out)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* Bitmaps, eventfds and buffers. */
static int lazy_alloc(struct mem_lazy *l)
{
	void *staging;
	int ret, advice;

	l->claimed = calloc(l->words, sizeof(*l->claimed));
	l->fetched = calloc(l->words, sizeof(*l->fetched));
	if (!l->claimed || !l->fetched)
		return -ENOMEM;
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->err_fd = l->stop_fd >= 0 ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	l->progress_fd = l->err_fd >= 0 ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	if (l->progress_fd < 0)
		return -errno;
	ret = map_anon(LAZY_PAGE_BYTES, &l->fault_buf);
	if (ret)
		return ret;
	if (l->opts.mode != MEM_LAZY_MOVE)
		return map_anon(MEM_LAZY_CHUNK_BYTES, &l->bg_buf);
	l->staged = calloc(l->words, sizeof(*l->staged));
	if (!l->staged)
		return -ENOMEM;
	/* Congruent to hva modulo 2 MiB: a staged 2 MiB page moves whole. */
	ret = mem_map_congruent(l->size, l->phase, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, &staging);
	if (ret)
		return ret;
	l->staging = staging;
	advice = l->advice == MEM_THP_ADVICE_HUGE ? MADV_HUGEPAGE :
		 l->advice == MEM_THP_ADVICE_NOHUGE ? MADV_NOHUGEPAGE : -1;
	/* EINVAL: no THP in this kernel; staging then has small pages, as RAM does. */
	if (advice >= 0 && madvise(l->staging, l->size, advice) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Both threads, with every signal blocked in them (signals are the VMM's). */
static int lazy_threads(struct mem_lazy *l)
{
	sigset_t all, old;
	int ret;

	if (sigfillset(&all) < 0)
		return -errno;
	ret = -pthread_sigmask(SIG_SETMASK, &all, &old);
	if (ret)
		return ret;
	ret = -pthread_create(&l->fault_thread, NULL, fault_main, l);
	l->fault_started = !ret;
	if (!ret && !l->opts.no_background) {
		ret = -pthread_create(&l->bg_thread, NULL, lazy_bg_main, l);
		l->bg_started = !ret;
	}
	mem_pthread_must(pthread_sigmask(SIG_SETMASK, &old, NULL));
	return ret;
}

static int lazy_sync_init(struct mem_lazy *l)
{
	pthread_condattr_t ca;
	int ret = -pthread_condattr_init(&ca);

	if (ret)
		return ret;
	ret = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!ret)
		ret = -pthread_cond_init(&l->cond, &ca);
	mem_pthread_must(pthread_condattr_destroy(&ca));
	if (ret)
		return ret;
	ret = -pthread_mutex_init(&l->lock, NULL);
	if (ret)
		mem_pthread_must(pthread_cond_destroy(&l->cond));
	return ret;
}

int mem_lazy_start(struct guest_mem *gm, unsigned int index, const struct mem_snap_src *src,
		   const struct mem_lazy_opts *opts, struct mem_lazy **out)
{
	char why[LAZY_WHY_BYTES];
	struct mem_region *r;
	struct mem_lazy *l;
	int ret;

	if (!gm || !src || !opts || !out || index >= gm->nr_regions || index >= MEM_MAX_REGIONS)
		return -EINVAL;
	r = &gm->region[index];
	if (!mem_region_in_use(r) || src->size != r->size || r->size % LAZY_PAGE_BYTES ||
	    (unsigned int)opts->mode >= MEM_LAZY_NR_MODES ||
	    (opts->order != MEM_LAZY_ORDER_ADDRESS && opts->order != MEM_LAZY_ORDER_NEAR_FAULTS))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->uffd = l->stop_fd = l->err_fd = l->progress_fd = -1;
	l->hva = r->hva;
	l->size = r->size;
	l->mem_fd = r->ops->thp == MEM_THP_KIND_SHMEM ? r->fd : -1;
	l->advice = r->thp_advice;
	l->src = src;
	l->opts = *opts;
	l->pages = r->size / LAZY_PAGE_BYTES;
	l->words = (l->pages + LAZY_BITS_PER_WORD - 1) / LAZY_BITS_PER_WORD;
	l->phase = (uintptr_t)r->hva % MEM_LAZY_CHUNK_BYTES;
	l->nr_chunks = (l->phase + l->size + MEM_LAZY_CHUNK_BYTES - 1) / MEM_LAZY_CHUNK_BYTES;
	ret = lazy_prepare(r, opts->mode, &l->uffd, why, sizeof(why));
	if (!ret)
		ret = lazy_alloc(l);
	if (ret) {
		lazy_free(l);
		return ret;
	}
	ret = lazy_sync_init(l);
	if (ret) {
		lazy_free(l);
		return ret;
	}
	l->start_ns = lazy_now_ns();
	ret = lazy_threads(l);
	if (ret) {
		mem_lazy_stop(l);
		return ret;
	}
	*out = l;
	return 0;
}

const _Atomic uint64_t *mem_lazy_fetched(const struct mem_lazy *l)
{
	return l->fetched;
}

int mem_lazy_error_fd(const struct mem_lazy *l)
{
	return l->err_fd;
}

int mem_lazy_wait(struct mem_lazy *l, int timeout_ms)
{
	struct timespec ts;
	int ret = 0;

	if (timeout_ms >= 0) {
		if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
			return -errno;
		ts.tv_sec += timeout_ms / (int)LAZY_MS_PER_S;
		ts.tv_nsec += (long)(timeout_ms % (int)LAZY_MS_PER_S) * (long)LAZY_NS_PER_MS;
		if (ts.tv_nsec >= (long)LAZY_NS_PER_S) {
			ts.tv_sec++;
			ts.tv_nsec -= (long)LAZY_NS_PER_S;
		}
	}
	mem_pthread_must(pthread_mutex_lock(&l->lock));
	while (!l->finished && !ret) {
		ret = timeout_ms < 0 ? pthread_cond_wait(&l->cond, &l->lock) :
				       pthread_cond_timedwait(&l->cond, &l->lock, &ts);
		ret = -ret;
	}
	if (!ret && !atomic_load(&l->done))
		ret = atomic_load(&l->err) ? atomic_load(&l->err) : -ECANCELED;
	mem_pthread_must(pthread_mutex_unlock(&l->lock));
	return ret;
}

void mem_lazy_get_report(struct mem_lazy *l, struct mem_lazy_report *rep)
{
	*rep = (struct mem_lazy_report){
		.mode = l->opts.mode,
		.faults = atomic_load(&l->faults),
		.fault_pages = atomic_load(&l->fault_pages),
		.background_pages = atomic_load(&l->background_pages),
		.zero_pages = atomic_load(&l->zero_pages),
		.fault_max_ns = atomic_load(&l->fault_max_ns),
		.done = atomic_load(&l->done),
		.done_ns = atomic_load(&l->done_ns),
		.huge_bytes = atomic_load(&l->huge_bytes),
		.collapse_err = atomic_load(&l->collapse_err),
		.err = atomic_load(&l->err),
	};
}
