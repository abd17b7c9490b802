// SPDX-License-Identifier: MIT
/*
 * hugetlb backend: a memfd on the 2 MiB hugetlbfs, mapped MAP_SHARED.
 *
 * Huge pages are reserved when the file is mapped, so create() fails with
 * -ENOMEM right away (not with SIGBUS later) when too few are free, and
 * explain_create_error() says how many are needed and free. Sizes and discard
 * ranges must be multiples of 2 MiB (-EINVAL otherwise). Discard punches a
 * hole, which returns the pages to the pool.
 *
 * Residency is mincore() on the VMM's mapping; for hugetlb, mincore() looks
 * at that mapping's page tables, not at the page cache. That is exact here
 * because KVM faults guest pages in through this same mapping and a punched
 * hole unmaps them from it.
 */
#include "mem/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGETLB_2M_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB"

static int hugetlb_supported(int vm_fd, char *why, size_t whylen)
{
	if (access(HUGETLB_2M_SYSFS, F_OK) < 0) {
		snprintf(why, whylen, "no 2 MiB hugetlb pages (%s: %s)",
			 HUGETLB_2M_SYSFS, strerror(errno));
		return -EOPNOTSUPP;
	}
	if (why && whylen)
		why[0] = '\0';
	return 0;
}

static int hugetlb_create(struct mem_region *r, int vm_fd)
{
	return mem_region_create_memfd(r, MFD_HUGETLB | MFD_HUGE_2MB);
}

/* Read one unsigned decimal from a sysfs file. */
static int read_u64_file(const char *path, uint64_t *val)
{
	char buf[32], *end;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	buf[n] = '\0';
	errno = 0;
	*val = strtoull(buf, &end, 10);
	if (errno || end == buf)
		ret = -EINVAL;
out:
	close(fd);
	return ret;
}

int mem_hugetlb_free_pages(uint64_t *free_pages, uint64_t *total_pages)
{
	uint64_t nr_free, nr_resv;
	int ret;

	ret = read_u64_file(HUGETLB_2M_SYSFS "/nr_hugepages", total_pages);
	if (!ret)
		ret = read_u64_file(HUGETLB_2M_SYSFS "/free_hugepages", &nr_free);
	if (!ret)
		ret = read_u64_file(HUGETLB_2M_SYSFS "/resv_hugepages", &nr_resv);
	if (ret)
		return ret;
	/* Reserved pages are still counted free but promised to a mapping. */
	*free_pages = nr_free > nr_resv ? nr_free - nr_resv : 0;
	return 0;
}

static void hugetlb_explain_create_error(uint64_t size, int err, char *buf, size_t len)
{
	uint64_t free_pages, total_pages;

	buf[0] = '\0';
	if (err != -ENOMEM || mem_hugetlb_free_pages(&free_pages, &total_pages))
		return;
	if (free_pages >= size / MEM_HUGE_PAGE_BYTES) {
		/* Not the pool: the mapping itself (an address-space limit, ulimit -v). */
		snprintf(buf, len, "the 2M pool has enough free pages (%llu of %llu for %llu); "
			 "the address space may be limited (ulimit -v)",
			 (unsigned long long)free_pages, (unsigned long long)total_pages,
			 (unsigned long long)(size / MEM_HUGE_PAGE_BYTES));
		return;
	}
	snprintf(buf, len, "it needs %llu huge pages of 2M, %llu of %llu are free "
		 "(see /proc/sys/vm/nr_hugepages)",
		 (unsigned long long)(size / MEM_HUGE_PAGE_BYTES),
		 (unsigned long long)free_pages, (unsigned long long)total_pages);
}

/* populate=auto, fastest first (README's decision table, bench/RESULTS.md). */
static const enum mem_populate_strategy hugetlb_populate_order[] = {
	MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE, MEM_POPULATE_NONE,
};

const struct mem_backend_ops mem_backend_hugetlb = {
	.name = "hugetlb",
	.align = MEM_HUGE_PAGE_BYTES,
	.slot_flags = 0,
	.supported = hugetlb_supported,
	.create = hugetlb_create,
	.destroy = mem_region_release,
	.discard = mem_region_punch_hole,
	.resident = mem_region_mincore,
	.explain_create_error = hugetlb_explain_create_error,
	.populate_order = hugetlb_populate_order,
	.populate_order_len = MEM_ARRAY_LEN(hugetlb_populate_order),
	.memcg_charged = false,
	.no_pageout = "hugetlb pages are never reclaimed or swapped: MADV_PAGEOUT "
		      "reclaims nothing",
	.thp = MEM_THP_KIND_HUGETLB,
};
