/* SPDX-License-Identifier: MIT */
/*
 * A cgroup v1 memory controller group for one test: measure what a piece of
 * code charges, or run memvmm under a memory limit. Created below the test's
 * own memory cgroup, removed at exit (also after a failed assertion).
 */
#ifndef MEMVMM_TEST_MEMCG_H
#define MEMVMM_TEST_MEMCG_H

#include <stdbool.h>
#include <stdint.h>

struct memcg {
	char path[320];      /* the new group */
	char parent[256];    /* where this process was */
};

/*
 * Create a group with limit bytes (0: no limit); oom_kill_disable makes a
 * charge beyond the limit fail with ENOMEM outside page faults (populate,
 * fallocate) instead of invoking the OOM killer. False if the host has no
 * writable v1 memory controller.
 */
bool memcg_create(struct memcg *cg, uint64_t limit, bool oom_kill_disable);
/* Move this process in or back out; children forked meanwhile stay inside. */
bool memcg_enter(const struct memcg *cg);
bool memcg_leave(const struct memcg *cg);
/* memory.usage_in_bytes, or UINT64_MAX on error. */
uint64_t memcg_usage(const struct memcg *cg);
void memcg_destroy(struct memcg *cg);

#endif
