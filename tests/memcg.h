/* SPDX-License-Identifier: MIT */
/*
 * A memory cgroup for one test: measure what a piece of code charges, or run
 * memvmm under a memory limit. Removed at exit (also after a failed assertion).
 *
 * Both cgroup versions, found from /proc/self/cgroup and /proc/self/mountinfo:
 * - v1 (the "memory" controller bound to a v1 hierarchy, e.g.
 *   /sys/fs/cgroup/memory, also on hybrid hosts whose cgroup2 has no memory
 *   controller): the group is created below this process's own memory group;
 *   memory.limit_in_bytes, memory.usage_in_bytes, memory.oom_control.
 * - v2 (Debian's default: /sys/fs/cgroup is cgroup2): a v2 group with
 *   processes cannot hand controllers to its children, so the group is
 *   created next to this process's own group (below its parent, which does),
 *   or below the root when this process is in it; memory.max, memory.current,
 *   memory.swap.max.
 */
#ifndef MEMVMM_TEST_MEMCG_H
#define MEMVMM_TEST_MEMCG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum memcg_version { MEMCG_NONE = 0, MEMCG_V1 = 1, MEMCG_V2 = 2 };

struct memcg {
	int version;            /* enum memcg_version */
	bool oom_kill_disable;  /* as asked of memcg_create() */
	bool swap_limited;      /* a limit was set and swap is held to 0 (or mem+swap to it) */
	int oom_score_adj;      /* v2 with oom_kill_disable: what memcg_leave() puts back */
	char path[512];         /* the new group */
	char parent[512];       /* this process's own group (memcg_leave() goes back there) */
	char why[192];          /* memcg_create() returned false: why */
};

/*
 * The memory controller memcg_create() would use here: MEMCG_V1 when the
 * memory controller is bound to a v1 hierarchy, else MEMCG_V2 when this
 * process's v2 group has it; MEMCG_NONE otherwise, with why (may be NULL).
 */
enum memcg_version memcg_version(char *why, size_t whylen);

/*
 * Create a group with limit bytes (0: no limit; with a limit, swap is held
 * to 0 where the kernel accounts it, see swap_limited). False, with cg->why,
 * if this host has no memory cgroup this process may create groups in.
 *
 * oom_kill_disable: a charge beyond the limit fails with ENOMEM outside page
 * faults (fallocate, MADV_POPULATE_WRITE) instead of invoking the OOM killer.
 * - v1 writes memory.oom_control = 1.
 * - v2 has no oom_control (and memory.oom.group only chooses between killing
 *   one task or all). Instead memcg_enter() sets this process's
 *   oom_score_adj to -1000, inherited by the children it forks while inside
 *   (memvmm), so that the group's OOM killer finds nobody to kill and the
 *   charge fails with ENOMEM; memcg_leave() puts the old value back. This
 *   needs CAP_SYS_RESOURCE (checked here).
 * How callers cope, both versions: a plain page fault over the limit does not
 * fail: it waits (v1) or retries (v2) until memory is freed or the task is
 * killed. Run what may fault over the limit (memvmm after a failed
 * population, ASan's shadow memory) in a child with a timeout, and do not
 * stay inside the group yourself while it is full.
 */
bool memcg_create(struct memcg *cg, uint64_t limit, bool oom_kill_disable);
/* Move this process in or back out; children forked meanwhile stay inside. */
bool memcg_enter(const struct memcg *cg);
bool memcg_leave(const struct memcg *cg);
/* What the group holds now (v1 memory.usage_in_bytes, v2 memory.current); UINT64_MAX on error. */
uint64_t memcg_usage(const struct memcg *cg);
void memcg_destroy(struct memcg *cg);

/* Internals, exposed for tests/test_memcg.c (fake /proc and /sys trees). */
struct memcg_place {
	int version;            /* enum memcg_version; MEMCG_NONE: see why */
	char own[512];          /* this process's memory cgroup directory */
	char base[512];         /* where memcg_create() makes its group */
	char why[192];
};
/*
 * Where this process's memory cgroup is and where a test group would go,
 * from root/proc/self/cgroup, root/proc/self/mountinfo and (v2)
 * root/<group>/cgroup.controllers; root "" for the real files. Paths in p
 * start with root.
 */
void memcg_find(const char *root, struct memcg_place *p);
/* True if word is one of the sep-separated items of list. */
bool memcg_list_has(const char *list, char sep, const char *word);

#endif
