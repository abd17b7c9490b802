// SPDX-License-Identifier: MIT
/*
 * Map restore: anon RAM replaced by a MAP_PRIVATE mapping of the base
 * memory file, so the page cache serves the guest's faults and its writes
 * stay private; the diff layers' pages are then written into the mapping
 * (copied privately).
 *
 * A private file mapping still reads untouched pages from the file, so a
 * file truncated underneath would SIGBUS the VMM on the next fault. A read
 * lease guards it: whoever opens the file for writing or truncates it
 * blocks (up to /proc/sys/fs/lease-break-time) while the kernel sends
 * mem_snap_map_signal() to this process; the VMM then detaches (populates
 * the whole mapping, copying every page privately) and lets go of the
 * lease. After that the file is no longer needed.
 */
#include "mem/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/backend.h"

struct mem_snap_map {
	struct mem_region *r;
	int fd;                     /* our own reference to the base file (holds the lease) */
	bool leased;
	atomic_bool detached;
	pthread_mutex_t lock;       /* serializes detach */
};

int mem_snap_map_signal(void)
{
	return SIGRTMIN + 3;
}

/* "a file" or the path of fd, for messages. */
static void fd_name(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n <= 0)
		snprintf(buf, len, "the memory file");
	else
		buf[n] = '\0';
}

/* Take the read lease on m->fd; -EOPNOTSUPP with why when the kernel refuses it. */
static int map_lease(struct mem_snap_map *m, char *why, size_t whylen)
{
	char name[256];
	int err;

	if (fcntl(m->fd, F_SETSIG, mem_snap_map_signal()) < 0 ||
	    fcntl(m->fd, F_SETOWN, getpid()) < 0)
		return -errno;
	if (fcntl(m->fd, F_SETLEASE, F_RDLCK) == 0) {
		m->leased = true;
		return 0;
	}
	err = errno;
	fd_name(m->fd, name, sizeof(name));
	if (err == EAGAIN)
		snprintf(why, whylen, "cannot take a read lease on %s: someone has %s open for writing",
			 name, name);
	else
		snprintf(why, whylen, "cannot take a read lease on %s (%s)%s", name,
			 strerrorname_np(err) ? strerrorname_np(err) : strerror(err),
			 err == EINVAL ? ": its filesystem has no leases" :
			 err == EACCES ? ": not its owner and no CAP_LEASE" : "");
	return -EOPNOTSUPP;
}

static int unlease(struct mem_snap_map *m)
{
	/* EAGAIN: no lease any more (broken by lease-break-time): nothing to release. */
	if (m->leased && fcntl(m->fd, F_SETLEASE, F_UNLCK) < 0 && errno != EAGAIN)
		return -errno;
	m->leased = false;
	return 0;
}

struct overlay_ctx {
	struct mem_region *r;
	const struct mem_snap_src *src;
};

/* Write the diff layers' pages of [off, off + len) into the mapping. */
static int overlay_step(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct overlay_ctx *c = ctx;
	uint64_t page = off / MEM_PAGE_BYTES, end = (off + len) / MEM_PAGE_BYTES;

	while (page < end) {
		uint64_t next;
		int ret;

		if (!c->src->owner[page]) {
			page++;
			continue;
		}
		for (next = page + 1; next < end && c->src->owner[next]; next++)
			;
		ret = mem_snap_src_read(c->src, page * MEM_PAGE_BYTES,
					c->r->hva + page * MEM_PAGE_BYTES,
					(size_t)(next - page) * MEM_PAGE_BYTES);
		if (ret)
			return ret;
		page = next;
	}
	return 0;
}

/* Back to a fresh anonymous mapping at the same place (after a failure). */
static int map_anon_again(struct mem_region *r)
{
	if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return -errno;
	return mem_region_advise_thp(r);
}

static int populate_step(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct mem_region *r = ctx;

	return __mem_madvise(madvise, r->hva + off, len, MADV_POPULATE_WRITE, NULL);
}

static int map_parallel(struct mem_region *r, mem_step_fn step, void *ctx)
{
	struct mem_parallel_result res;
	unsigned int threads = mem_populate_nr_threads(r->size, 0, mem_online_cpus());

	return mem_parallel_run(r->size, MEM_PAGE_BYTES, threads, MEM_POPULATE_STEP_BYTES, step,
				ctx, NULL, NULL, NULL, &res);
}

int mem_snap_map_region(struct guest_mem *gm, unsigned int index,
			const struct mem_snap_src *src, struct mem_snap_map **out,
			char *why, size_t whylen)
{
	struct overlay_ctx oc;
	struct mem_snap_map *m;
	struct mem_region *r;
	int ret;

	if (why && whylen)
		why[0] = '\0';
	*out = NULL;
	if (!why || !whylen || index >= gm->nr_regions || !mem_region_in_use(&gm->region[index]))
		return -EINVAL;
	r = &gm->region[index];
	if (!src->owner || src->size != r->size || !r->hva)
		return -EINVAL;
	if (r->fd >= 0) {
		snprintf(why, whylen, "map restore needs anon RAM; %s memory lives in a file of its own",
			 r->ops->name);
		return -EOPNOTSUPP;
	}
	if (r->registered) {
		snprintf(why, whylen, "the region is already a KVM memslot");
		return -EBUSY;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->r = r;
	ret = -pthread_mutex_init(&m->lock, NULL);
	if (ret)
		goto out_free;
	m->fd = fcntl(src->layer[0].fd, F_DUPFD_CLOEXEC, 0);
	if (m->fd < 0) {
		ret = -errno;
		goto out_mutex;
	}
	ret = map_lease(m, why, whylen);
	if (ret)
		goto out_close;
	if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
		 m->fd, 0) == MAP_FAILED) {
		ret = -errno;
		goto out_anon;
	}
	ret = mem_region_advise_thp(r);
	oc = (struct overlay_ctx){ .r = r, .src = src };
	if (!ret && src->nr_layers > 1)
		ret = map_parallel(r, overlay_step, &oc);
	if (ret)
		goto out_anon;
	*out = m;
	return 0;

out_anon:
	/* MAP_FIXED may have unmapped the old memory already: map fresh anon memory again. */
	if (map_anon_again(r))
		snprintf(why, whylen, "the region could not be mapped again after a failure");
	(void)unlease(m);
out_close:
	close(m->fd);
out_mutex:
	mem_pthread_must(pthread_mutex_destroy(&m->lock));
out_free:
	free(m);
	return ret;
}

int mem_snap_map_detach(struct mem_snap_map *m, bool *detached)
{
	int ret = 0;

	if (detached)
		*detached = false;
	mem_pthread_must(pthread_mutex_lock(&m->lock));
	if (atomic_load(&m->detached))
		goto out;
	/* A write fault on every page: each becomes a private copy, the file unused. */
	ret = map_parallel(m->r, populate_step, m->r);
	if (!ret)
		ret = unlease(m);
	if (!ret) {
		atomic_store(&m->detached, true);
		if (detached)
			*detached = true;
	}
out:
	mem_pthread_must(pthread_mutex_unlock(&m->lock));
	return ret;
}

bool mem_snap_map_is_detached(const struct mem_snap_map *m)
{
	return atomic_load(&m->detached);
}

void mem_snap_map_release(struct mem_snap_map *m)
{
	if (!m)
		return;
	/* Nothing to do about a failure: closing the last reference drops the lease too. */
	(void)unlease(m);
	close(m->fd);
	mem_pthread_must(pthread_mutex_destroy(&m->lock));
	free(m);
}
