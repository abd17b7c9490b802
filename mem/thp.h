/* SPDX-License-Identifier: MIT */
/*
 * Transparent huge pages for guest RAM: what the host allows, what memvmm
 * asks for per region (MADV_HUGEPAGE / MADV_NOHUGEPAGE), and how much of a
 * region huge pages back, measured in the process's smaps.
 *
 * memvmm never writes the host's THP settings; it reads them:
 *   <root>/sys/kernel/mm/transparent_hugepage/enabled          anon, global
 *   .../hugepages-2048kB/enabled                              anon, 2 MiB (6.8+)
 *   .../shmem_enabled                                          shmem, global
 *   .../hugepages-2048kB/shmem_enabled                        shmem, 2 MiB (6.11+)
 *   .../defrag, .../khugepaged/defrag
 * A per-size setting decides for its size; "inherit" there (or no per-size
 * file: an older kernel) means the global setting. Which of the two applies
 * to a backend is a field of its table (mem_backend_ops.thp).
 */
#ifndef MEMVMM_MEM_THP_H
#define MEMVMM_MEM_THP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"

/* The host's THP directory below a root ("" for the real one). */
#define MEM_THP_SYSFS         "/sys/kernel/mm/transparent_hugepage"
#define MEM_THP_WORD_BYTES    16    /* a sysfs choice word with its NUL */
#define MEM_THP_WHY_BYTES     200   /* a plan's explanation with its NUL */

/* What a host policy does for 2 MiB pages of one kind of memory. */
enum mem_thp_policy {
	MEM_THP_POLICY_NEVER,    /* no huge pages, whatever is asked */
	MEM_THP_POLICY_ADVISE,   /* huge pages where MADV_HUGEPAGE asks for them */
	MEM_THP_POLICY_ALWAYS,   /* huge pages unless MADV_NOHUGEPAGE */
};

/* The host's settings as sysfs words ("" where the file does not exist). */
struct mem_thp_host {
	bool present;        /* the THP directory exists (CONFIG_TRANSPARENT_HUGEPAGE) */
	char anon[MEM_THP_WORD_BYTES];       /* enabled: always | madvise | never */
	char anon_2m[MEM_THP_WORD_BYTES];    /* hugepages-2048kB/enabled: + inherit */
	char shmem[MEM_THP_WORD_BYTES];      /* shmem_enabled: always | within_size | advise |
					      * never | deny | force */
	char shmem_2m[MEM_THP_WORD_BYTES];   /* hugepages-2048kB/shmem_enabled: + inherit */
	char defrag[MEM_THP_WORD_BYTES];     /* defrag: always | defer | defer+madvise | madvise | never */
	int khugepaged_defrag;               /* khugepaged/defrag: 0 or 1; -1 if unknown */
	bool process_disabled;               /* prctl(PR_SET_THP_DISABLE): no THP at all */
	/* PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED: MADV_HUGEPAGE still works */
	bool process_except_advised;
};

/*
 * The [selected] word of a sysfs choice file ("always [madvise] never") into
 * out: -errno (-ENOENT: no such file), -EPROTO if there is no [word] or it
 * does not fit in len.
 */
int mem_thp_read_choice(const char *path, char *out, size_t len) MEM_WUR;

/*
 * Read the settings below root ("" for the real host; tests pass a fake
 * tree). A missing THP directory is not an error (present = false); a file
 * that exists but cannot be read or parsed is (-errno, -EPROTO).
 * process_disabled is read from this process (prctl), not from root.
 */
int mem_thp_host_read(const char *root, struct mem_thp_host *h) MEM_WUR;

/*
 * The policy for 2 MiB pages of this kind on this host; *setting (may be
 * NULL) gets the files that decided it, e.g. "enabled=madvise,
 * hugepages-2048kB/enabled=inherit".
 */
enum mem_thp_policy mem_thp_policy(const struct mem_thp_host *h, enum mem_thp_kind kind,
				   char *setting, size_t len);

/* What memvmm does for one backend's regions. */
struct mem_thp_plan {
	bool huge;                      /* 2 MiB pages are expected to back the memory */
	enum mem_thp_advice advice;     /* applied to every region at creation */
	char why[MEM_THP_WHY_BYTES];    /* what was done and why, for the user */
};

/*
 * Decide thp=mode for memory of this kind on host h.
 *   auto: huge pages wherever the host allows them (MADV_HUGEPAGE under
 *         "madvise"/"advise", and under "always" too so defrag=madvise
 *         applies); none otherwise, saying why.
 *   on:   the same, but -EOPNOTSUPP (why says why) where the host cannot.
 *   off:  MADV_NOHUGEPAGE; -EINVAL for hugetlb, which is always huge.
 * Pure: reads nothing but its arguments.
 */
int mem_thp_decide(enum mem_thp_mode mode, enum mem_thp_kind kind,
		   const struct mem_thp_host *h, struct mem_thp_plan *plan) MEM_WUR;

/* "auto", "on", "off"; mem_thp_parse: 0 or -EINVAL. */
const char *mem_thp_mode_name(enum mem_thp_mode mode);
int mem_thp_parse(const char *s, enum mem_thp_mode *out) MEM_WUR;
/* "never", "advise", "always". */
const char *mem_thp_policy_name(enum mem_thp_policy p);

/*
 * mmap len bytes of fd (-1: anonymous) read-write with flags, at an address
 * congruent to phase modulo 2 MiB (phase 0: 2 MiB-aligned), so that huge
 * pages can back every whole 2 MiB of it: a PROT_NONE reservation 2 MiB
 * larger first, the mapping put into it, the rest given back. 0 with *out
 * set, or -errno (-ENOMEM also when only the reservation did not fit).
 */
int mem_map_congruent(uint64_t len, uint64_t phase, int flags, int fd, void **out) MEM_WUR;

/* A range of this process's address space to measure. */
struct mem_huge_range {
	uintptr_t start;
	uint64_t len;
	uint64_t huge_bytes;   /* out: bytes of it mapped by huge pages */
};

/*
 * Sum, per range, the huge page fields of smaps (AnonHugePages,
 * ShmemPmdMapped, FilePmdMapped, Shared_Hugetlb, Private_Hugetlb) of every
 * mapping that lies in it. A mapping that only partly overlaps a range
 * counts at most the overlap (smaps does not say where in a mapping its
 * huge pages are). path: "/proc/self/smaps" (tests pass a file).
 */
int mem_huge_measure(const char *path, struct mem_huge_range *ranges,
		     unsigned int nr) MEM_WUR;

/*
 * Bytes of each region in use backed by huge pages now, from
 * /proc/self/smaps: huge[i] for gm->region[i] (0 for unused entries).
 */
int mem_huge_bytes(const struct guest_mem *gm, uint64_t huge[MEM_MAX_REGIONS]) MEM_WUR;

#endif /* MEMVMM_MEM_THP_H */
