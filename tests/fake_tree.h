/* SPDX-License-Identifier: MIT */
/*
 * A fake root directory for tests of code that reads /proc and /sys files
 * below a root it is given (memcg_find(), __mem_cgroup_limit_get()). One
 * tree at a time per process.
 */
#ifndef MEMVMM_TEST_FAKE_TREE_H
#define MEMVMM_TEST_FAKE_TREE_H

/*
 * A fresh, empty /tmp/memvmm-<name>-XXXXXX, after removing the previous
 * one; returns its path (valid until the next call).
 */
const char *fake_tree_new(const char *name);
/* Write text to tree/rel, creating the directories on the way. */
void fake_tree_put(const char *rel, const char *text);
/* Remove the tree, if any (register it with atexit() to clean up after a failed assertion). */
void fake_tree_remove(void);

#endif
