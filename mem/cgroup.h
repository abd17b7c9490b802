/* SPDX-License-Identifier: MIT */
/*
 * The memory cgroup limit this process runs under, so that memvmm can
 * refuse up front a guest that the limit would OOM-kill while populating
 * (the kernel kills without a word; exit 137).
 *
 * cgroup v1: the "memory" controller's line in /proc/self/cgroup, its
 * memory.limit_in_bytes (a huge number when unlimited) and
 * memory.usage_in_bytes. cgroup v2: the "0::" line, memory.max ("max" when
 * unlimited) and memory.current. Mount points come from
 * /proc/self/mountinfo. A parent's limit applies to its children too, so
 * every level up to the hierarchy's root is read and the one with the
 * least room (limit - usage) is reported.
 */
#ifndef MEMVMM_MEM_CGROUP_H
#define MEMVMM_MEM_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"

/* A v1 limit at or above this is "unlimited" (the kernel shows LONG_MAX rounded to pages). */
#define MEM_CGROUP_UNLIMITED_MIN (1ull << 62)

struct mem_cgroup_limit {
	int version;        /* 1 or 2; 0: no memory cgroup found */
	bool limited;       /* some level has a limit */
	/*
	 * limited: the limit and usage of the level with the least room, and
	 * its cgroup path (as /proc/self/cgroup writes it, e.g. "/user.slice").
	 * Not limited: UINT64_MAX, this process's cgroup's usage and path.
	 */
	uint64_t limit;
	uint64_t usage;
	char path[256];     /* cut short if longer */
};

/*
 * Find this process's memory cgroup limit. 0 with version 0 when there is
 * no memory controller; -errno when it exists but cannot be read (e.g.
 * -ENOENT for a cgroup outside the mounted part of the hierarchy).
 */
int mem_cgroup_limit_get(struct mem_cgroup_limit *out) MEM_WUR;

/*
 * The same, reading every path below root ("" for the real files):
 * root/proc/self/cgroup, root/proc/self/mountinfo and root/<mount point>/...
 * Tests pass a fake tree.
 */
int __mem_cgroup_limit_get(const char *root, struct mem_cgroup_limit *out) MEM_WUR;

/*
 * Undo /proc/self/mountinfo's octal escapes in place (\040 for a space;
 * also tab, newline and backslash).
 */
void mem_cgroup_unescape(char *s);

#endif /* MEMVMM_MEM_CGROUP_H */
