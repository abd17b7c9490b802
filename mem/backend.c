// SPDX-License-Identifier: MIT
/*
 * The list of backends, and the code the backend tables share: mapping,
 * punching holes, measuring residency. Each backend file only says which
 * of these it uses and how it creates its memory.
 */
#include "mem/backend.h"
#include "mem/thp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* mincore() at most this many pages per call: a 16 KiB vector on the stack. */
#define MINCORE_CHUNK_PAGES 16384u

const struct mem_backend_ops *const mem_backends[] = {
	&mem_backend_guest_memfd,
	&mem_backend_memfd,
	&mem_backend_anon,
	&mem_backend_hugetlb,
	NULL,
};

const struct mem_backend_ops *mem_backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct mem_backend_ops *const *b = mem_backends; *b; b++)
		if (!strcmp((*b)->name, name))
			return *b;
	return NULL;
}

const struct mem_backend_ops *mem_backend_default(int vm_fd, char *why_not_gmem,
						  size_t whylen)
{
	if (why_not_gmem && whylen)
		why_not_gmem[0] = '\0';
	if (mem_backend_guest_memfd.supported(vm_fd, why_not_gmem, whylen) == 0)
		return &mem_backend_guest_memfd;
	return &mem_backend_memfd;
}

int mem_backend_always_supported(int vm_fd, char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	return 0;
}

int mem_map_congruent(uint64_t len, uint64_t phase, int flags, int fd, void **out)
{
	uint64_t span = len + MEM_HUGE_PAGE_BYTES, head, tail;
	uintptr_t base, start;
	void *res, *p;
	int ret;

	if (!len || len > SIZE_MAX - MEM_HUGE_PAGE_BYTES)
		return -ENOMEM;
	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	base = (uintptr_t)res;
	/* The first address at or above base with start % 2M == phase % 2M. */
	head = ((phase % MEM_HUGE_PAGE_BYTES) - (base % MEM_HUGE_PAGE_BYTES) +
		MEM_HUGE_PAGE_BYTES) % MEM_HUGE_PAGE_BYTES;
	tail = span - head - len;
	start = base + head;
	p = mmap((void *)start, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* Give back what is left of the reservation before and after. */
	if ((head && munmap(res, head) < 0) || (tail && munmap((void *)(start + len), tail) < 0))
		goto fail;
	*out = p;
	return 0;
fail:
	ret = -errno;
	munmap(res, span);
	return ret;
}

/*
 * Map so that hva and gpa are congruent modulo 2 MiB (both aligned for boot
 * RAM): KVM maps a guest range with a 2 MiB entry only where they are and
 * the host maps it with a huge page, and a file's huge pages need hva
 * aligned with the file offset (0 at the region's start).
 */
int __mem_region_map(struct mem_region *r, int fd, int mmap_flags)
{
	void *p;
	int ret = mem_map_congruent(r->size, r->gpa, mmap_flags, fd, &p);

	if (ret == -ENOMEM) {
		/*
		 * No room for the extra 2 MiB (an RLIMIT_AS just above what is
		 * needed): map where the kernel likes. Only the huge-page share
		 * (reported after population) can suffer from it.
		 */
		p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, mmap_flags, fd, 0);
		ret = p == MAP_FAILED ? -errno : 0;
	}
	if (ret)
		return ret;
	r->hva = p;
	r->fd = fd;
	return 0;
}

int mem_region_advise_thp(struct mem_region *r)
{
	int advice;

	switch (r->thp_advice) {
	case MEM_THP_ADVICE_NONE:
		return 0;
	case MEM_THP_ADVICE_HUGE:
		advice = MADV_HUGEPAGE;
		break;
	case MEM_THP_ADVICE_NOHUGE:
		advice = MADV_NOHUGEPAGE;
		break;
	default:
		return -EINVAL;
	}
	return madvise(r->hva, r->size, advice) < 0 ? -errno : 0;
}

int mem_region_adopt_fd(struct mem_region *r, int fd)
{
	int ret = __mem_region_map(r, fd, MAP_SHARED);

	if (ret)
		close(fd);
	return ret;
}

int mem_region_create_memfd(struct mem_region *r, unsigned int mfd_flags)
{
	int fd, ret;

	fd = memfd_create("memvmm-ram", MFD_CLOEXEC | mfd_flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)r->size) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return mem_region_adopt_fd(r, fd);
}

void mem_region_release(struct mem_region *r)
{
	/* munmap and close of what we created cannot fail in a way we could fix. */
	if (r->hva)
		munmap(r->hva, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->hva = NULL;
	r->fd = -1;
}

int mem_region_check_range(const struct mem_region *r, uint64_t off, uint64_t len)
{
	uint64_t align = r->ops->align;

	if (!len || off > r->size || len > r->size - off)
		return -EINVAL;
	if (off % align || len % align)
		return -EINVAL;
	return 0;
}

int mem_region_punch_hole(struct mem_region *r, uint64_t off, uint64_t len)
{
	int ret = mem_region_check_range(r, off, len);

	if (ret)
		return ret;
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

/*
 * For memfd and guest_memfd the mapping is MAP_SHARED, so mincore() reports
 * page-cache residency: pages the guest faulted in through KVM count even if
 * the VMM never touched them. This is the only reliable measure for
 * guest_memfd (st_blocks stays 0, RSS only counts what the VMM mapped).
 * For hugetlb and anon, mincore() reports this mapping's page tables instead
 * (see hugetlb.c and anon.c for what that means).
 */
int mem_region_mincore(const struct mem_region *r, uint64_t off, uint64_t len,
		       uint64_t *bytes)
{
	unsigned char vec[MINCORE_CHUNK_PAGES];
	uint64_t pages = 0;
	int ret = mem_region_check_range(r, off, len);

	if (ret)
		return ret;
	while (len) {
		uint64_t n = len / MEM_PAGE_BYTES;

		if (n > MINCORE_CHUNK_PAGES)
			n = MINCORE_CHUNK_PAGES;
		if (!n)
			return -EINVAL;   /* less than a page: never loop on it */
		if (mincore(r->hva + off, n * MEM_PAGE_BYTES, vec) < 0)
			return -errno;
		for (uint64_t i = 0; i < n; i++)
			pages += vec[i] & 1;
		off += n * MEM_PAGE_BYTES;
		len -= n * MEM_PAGE_BYTES;
	}
	*bytes = pages * MEM_PAGE_BYTES;
	return 0;
}

/*
 * Fallocated shmem pages are backed (and charged) but not yet "uptodate",
 * so mincore() and SEEK_DATA both miss them (measured on 6.18: 32 MiB
 * fallocated into a memfd, mincore 0, SEEK_DATA none, st_blocks 32 MiB).
 * Over a whole region the file's allocated blocks count them (and every
 * page mincore() would see); over part of it, mincore() is a lower bound.
 * A file that does not account blocks (st_blocks 0: guest_memfd) leaves
 * mincore()'s count. Shmem pages swapped out stay in st_blocks: over a
 * whole memfd region this counts memory in swap too (a pageout measure
 * must use part of the region, or the cgroup's meters).
 */
int mem_region_fd_resident(const struct mem_region *r, uint64_t off, uint64_t len,
			   uint64_t *bytes)
{
	struct stat st;
	uint64_t allocated;

	if (off == 0 && len == r->size && r->fd >= 0 && mem_region_check_range(r, off, len) == 0) {
		if (fstat(r->fd, &st) < 0)
			return -errno;
		/*
		 * Every page mincore() could count is an allocated block, so
		 * when the file accounts blocks they are the answer, without
		 * walking the region (seconds for a terabyte).
		 */
		allocated = (uint64_t)st.st_blocks * 512u;
		if (allocated) {
			*bytes = allocated < len ? allocated : len;
			return 0;
		}
	}
	return mem_region_mincore(r, off, len, bytes);
}
