/* SPDX-License-Identifier: MIT */
/*
 * Transparent huge pages in tests.
 *
 * thp_off(): tests that count resident 4 KiB pages need those pages to be
 * 4 KiB: where the host's THP mode is "always", one touch of anonymous
 * memory can bring in a 2 MiB page. It asks for small pages on a
 * guest_mem's mappings (MADV_NOHUGEPAGE), whatever the host's setting.
 *
 * thp_smaps_read(): the test's own reading of /proc/self/smaps, independent
 * of memvmm's meter (mem_huge_measure()).
 *
 * thp_sysfs_*(): flip the host's THP settings for a test and put them back
 * afterwards, also after a crash of the case (the parent restores, from
 * atexit and from SIGTERM/SIGINT/SIGHUP handlers).
 */
#ifndef MEMVMM_TEST_THP_H
#define MEMVMM_TEST_THP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "mem/mem.h"
#include "tests/test.h"

static inline void thp_off(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && r->hva)
			TEST_ASSERT(madvise(r->hva, r->size, MADV_NOHUGEPAGE) == 0 || errno == EINVAL,
				    "MADV_NOHUGEPAGE on region %u", i);
	}
}

/* What smaps says, in bytes, about the mappings that overlap a range. */
struct thp_smaps {
	uint64_t size;        /* Size: of those mappings, whole */
	uint64_t rss;         /* Rss: */
	uint64_t anon_huge;   /* AnonHugePages: */
	uint64_t shmem_pmd;   /* ShmemPmdMapped: */
	uint64_t file_pmd;    /* FilePmdMapped: */
	uint64_t hugetlb;     /* Shared_Hugetlb: + Private_Hugetlb: */
	unsigned int mappings;   /* how many overlap the range */
	bool exact;              /* they lie wholly inside it, so the sums are the range's */
};

/* Read /proc/self/smaps for [addr, addr+len) (asserts it can). */
void thp_smaps_read(const void *addr, uint64_t len, struct thp_smaps *out);

/* The THP settings a test may flip, relative to MEM_THP_SYSFS. */
#define THP_SYSFS_ANON      "enabled"
#define THP_SYSFS_ANON_2M   "hugepages-2048kB/enabled"
#define THP_SYSFS_SHMEM     "shmem_enabled"
#define THP_SYSFS_SHMEM_2M  "hugepages-2048kB/shmem_enabled"

/*
 * Remember the four settings above (those that exist) and put them back at
 * exit and on SIGTERM, SIGINT and SIGHUP, in this process only (not in
 * forked children): call it in the parent before forking the case. False if
 * the host has no THP settings to save.
 */
bool thp_sysfs_save(void);
/* True if the setting's file exists. */
bool thp_sysfs_exists(const char *rel);
/*
 * The [selected] word of a setting into word ("" if the file is missing);
 * asserts a file that exists can be read.
 */
void thp_sysfs_get(const char *rel, char *word, size_t len);
/*
 * Select word in the setting rel (thp_sysfs_save() must have saved it).
 * False, with why (not root, read-only sysfs, refused word, ...), if the
 * host did not take it.
 */
bool thp_sysfs_set(const char *rel, const char *word, char *why, size_t len);
/*
 * Put back what thp_sysfs_save() saw (only files that changed); a no-op in
 * other processes. Async-signal-safe.
 */
void thp_sysfs_restore(void);

/* Cases of test_backends about THP (tests/test_backends_thp.c): adds at most max. */
struct e2e_case;
size_t backends_thp_cases(struct e2e_case *list, size_t max);

#endif
