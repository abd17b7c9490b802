// SPDX-License-Identifier: MIT
/*
 * Map restore: anon RAM replaced by a MAP_PRIVATE mapping of the base
 * memory file, so the page cache serves the guest's faults and its writes
 * stay private; the diff layers' pages are then written into the mapping
 * (copied privately).
 *
 * A private file mapping still reads untouched pages from the file, and
 * truncating a file discards even the private copies of its pages beyond
 * the new end (truncate_pagecache() unmaps CoW pages too, as POSIX wants):
 * the VMM would SIGBUS, or lose what the guest wrote. A read lease guards
 * the file: whoever opens it for writing or truncates it blocks (up to
 * /proc/sys/fs/lease-break-time, 45 s by default) while the kernel sends
 * mem_snap_map_signal() to this process; the VMM then pauses the VM and
 * detaches: the mapping's contents are copied into fresh anonymous memory
 * that replaces it (mremap()), the pages the guest changed from the
 * mapping, the others straight from the file (its holes stay unbacked),
 * and the lease is let go. After that the file is no longer needed.
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/thp.h"

/* Detach copies this many pages per step (one pagemap read). */
#define DETACH_STEP_PAGES   512u
#define PAGEMAP_PATH        "/proc/self/pagemap"
#define PAGEMAP_PRESENT     (1ull << 63)
#define PAGEMAP_SWAPPED     (1ull << 62)
#define PAGEMAP_FILE        (1ull << 61)   /* a file page (or shared anon) */

struct mem_snap_map {
	struct mem_region *r;
	int fd;                     /* our own reference to the base file (holds the lease) */
	struct mem_snap_src base;   /* that file as a one-layer source (for saving) */
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
		snprintf(why, whylen,
			 "cannot take a read lease on %s: someone has it open for writing", name);
	else
		snprintf(why, whylen, "cannot take a read lease on %s (%s)%s", name,
			 strerrorname_np(err) ? strerrorname_np(err) : strerror(err),
			 err == EINVAL ? ": its filesystem has no leases" :
			 err == EACCES ? ": not its owner and no CAP_LEASE" : "");
	return -EOPNOTSUPP;
}

/*
 * With the lease held the file cannot shrink unnoticed; it must not be
 * shorter now (a page mapped past its end would SIGBUS): -EIO.
 */
static int map_check_size(struct mem_snap_map *m, uint64_t size, char *why, size_t whylen)
{
	char name[256];
	struct stat st;

	if (fstat(m->fd, &st) < 0)
		return -errno;
	if (st.st_size >= 0 && (uint64_t)st.st_size == size)
		return 0;
	fd_name(m->fd, name, sizeof(name));
	snprintf(why, whylen, "%s is %lld bytes, not the region's %llu (truncated?)", name,
		 (long long)st.st_size, (unsigned long long)size);
	return -EIO;
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

/* Detaching: where the mapping's contents go, and how to tell which pages are private. */
struct detach_ctx {
	struct mem_snap_map *m;
	uint8_t *dst;               /* the new anonymous memory, as long as the region */
	int pagemap_fd;             /* -1: every page is copied from the mapping */
};

/* The base file's data in [off, off + len) into dst (its holes left alone: zero, unbacked). */
static int copy_file_data(struct detach_ctx *c, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int ret = 0;

	while (!ret && off < end) {
		uint64_t ds, de;

		ret = mem_snap_src_data_run(&c->m->base, off, end, &ds, &de);
		if (!ret && ds < de)
			ret = mem_snap_src_read(&c->m->base, ds, c->dst + ds, de - ds);
		off = de;
	}
	return ret;
}

/*
 * Copy [off, off + len) of the mapping into dst: pages the guest (or the
 * diff layers) wrote are private anonymous pages (pagemap: present and not
 * a file page, or swapped) and are copied from the mapping; the others are
 * the file's and come from it.
 */
static int detach_step(void *ctx, unsigned int thread, uint64_t off, uint64_t len)
{
	struct detach_ctx *c = ctx;
	const uint8_t *hva = c->m->r->hva;
	uint64_t ent[DETACH_STEP_PAGES];
	uint64_t n = len / MEM_PAGE_BYTES;
	ssize_t got;
	int ret;

	if (c->pagemap_fd < 0) {
		memcpy(c->dst + off, hva + off, len);
		return 0;
	}
	got = pread(c->pagemap_fd, ent, n * sizeof(ent[0]),
		    (off_t)((uintptr_t)(hva + off) / MEM_PAGE_BYTES * sizeof(ent[0])));
	if (got < 0)
		return -errno;
	if (got != (ssize_t)(n * sizeof(ent[0])))
		return -EIO;      /* pagemap ends before the mapping: cannot happen */
	for (uint64_t i = 0; i < n;) {
		bool priv = (ent[i] & PAGEMAP_SWAPPED) ||
			    ((ent[i] & PAGEMAP_PRESENT) && !(ent[i] & PAGEMAP_FILE));
		uint64_t j = i + 1, at = off + i * MEM_PAGE_BYTES;

		while (j < n && priv == ((ent[j] & PAGEMAP_SWAPPED) ||
					 ((ent[j] & PAGEMAP_PRESENT) && !(ent[j] & PAGEMAP_FILE))))
			j++;
		if (priv)
			memcpy(c->dst + at, hva + at, (j - i) * MEM_PAGE_BYTES);
		else if ((ret = copy_file_data(c, at, (j - i) * MEM_PAGE_BYTES)))
			return ret;
		i = j;
	}
	return 0;
}

/*
 * Give the anonymous mapping at hva (r->size bytes) what the anon backend
 * gives its own: r's THP advice and its name (which also keeps it apart
 * from its neighbours). Both stay with the mapping when mremap() moves it.
 */
static int region_dress(const struct mem_region *r, uint8_t *hva)
{
	struct mem_region at = *r;
	char name[32];
	int ret;

	at.hva = hva;
	ret = mem_region_advise_thp(&at);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "memvmm-ram-%u", r->slot);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)hva, r->size,
		  (unsigned long)name) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Back to a fresh anonymous mapping at the same place (after a failure). */
static int map_anon_again(struct mem_region *r)
{
	if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return -errno;
	return region_dress(r, r->hva);
}

static int map_parallel(struct mem_region *r, uint64_t step_bytes, mem_step_fn step, void *ctx)
{
	struct mem_parallel_result res;
	unsigned int threads = mem_populate_nr_threads(r->size, 0, mem_online_cpus());

	return mem_parallel_run(r->size, MEM_PAGE_BYTES, threads, step_bytes, step, ctx, NULL,
				NULL, NULL, &res);
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
		snprintf(why, whylen,
			 "map restore needs anon RAM; %s memory lives in a file of its own",
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
	if (!ret)
		ret = map_check_size(m, r->size, why, whylen);
	if (!ret) {
		m->base = (struct mem_snap_src){ .size = r->size, .nr_layers = 1 };
		m->base.layer[0].fd = m->fd;
		ret = mem_snap_src_init(&m->base, NULL);
	}
	if (ret)
		goto out_unlease;
	if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
		 m->fd, 0) == MAP_FAILED) {
		ret = -errno;
		goto out_anon;
	}
	ret = mem_region_advise_thp(r);
	oc = (struct overlay_ctx){ .r = r, .src = src };
	if (!ret && src->nr_layers > 1)
		ret = map_parallel(r, MEM_POPULATE_STEP_BYTES, overlay_step, &oc);
	if (ret)
		goto out_anon;
	*out = m;
	return 0;

out_anon:
	/* MAP_FIXED may have unmapped the old memory already: map fresh anon memory again. */
	if (map_anon_again(r))
		snprintf(why, whylen, "the region could not be mapped again after a failure");
out_unlease:
	mem_snap_src_release(&m->base);
	(void)unlease(m);
	close(m->fd);
out_mutex:
	mem_pthread_must(pthread_mutex_destroy(&m->lock));
out_free:
	free(m);
	return ret;
}

/* Copy the mapping into new anonymous memory and move that over it. */
static int detach_copy(struct mem_snap_map *m)
{
	struct mem_region *r = m->r;
	struct detach_ctx c = { .m = m };
	void *dst;
	int ret = mem_map_congruent(r->size, (uint64_t)(uintptr_t)r->hva,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, &dst);

	if (ret)
		return ret;
	c.dst = dst;
	c.pagemap_fd = open(PAGEMAP_PATH, O_RDONLY | O_CLOEXEC);
	ret = region_dress(r, dst);
	if (!ret)
		ret = map_parallel(r, DETACH_STEP_PAGES * MEM_PAGE_BYTES, detach_step, &c);
	if (c.pagemap_fd >= 0)
		close(c.pagemap_fd);
	if (!ret && mremap(dst, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED, r->hva) ==
		    MAP_FAILED)
		ret = -errno;
	if (ret)
		munmap(dst, r->size);   /* the mapping is as it was */
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
	ret = detach_copy(m);
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

int mem_snap_region_file_mapped(const struct mem_region *r, bool *file)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uintptr_t hva = (uintptr_t)r->hva;
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	/* "start-end perms offset dev inode path"; getline(): any path length. */
	while (ret == -ENOENT && getline(&line, &cap, f) >= 0) {
		unsigned long start, end, inode;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &start, &end, &inode) == 3 &&
		    start <= hva && hva < end) {
			*file = inode != 0;
			ret = 0;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

const struct mem_snap_src *mem_snap_map_base(const struct mem_snap_map *m)
{
	return &m->base;
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
	mem_snap_src_release(&m->base);
	close(m->fd);
	mem_pthread_must(pthread_mutex_destroy(&m->lock));
	free(m);
}
