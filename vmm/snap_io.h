/* SPDX-License-Identifier: MIT */
/* Snapshot directories and state files on disk (vmm/snapshot.c's and snap_chain.c's helpers). */
#ifndef MEMVMM_SNAP_IO_H
#define MEMVMM_SNAP_IO_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"
#include "vmm/snap_state.h"

/*
 * Read and parse DIR/state.dtb of the snapshot directory dir_fd (why says
 * what is wrong: missing, too large, not a state file, ...). -ENOENT when
 * there is no state file, else snap_state_parse()'s refusals.
 */
int snap_io_read_state_at(int dir_fd, struct snap_state *s, char *why, size_t whylen)
	__attribute__((warn_unused_result));
/* The same for the directory at path. */
int snap_io_read_state(const char *path, struct snap_state *s, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* Build s and write it as dir_fd/state.dtb (new file), fsynced; *bytes its size. */
int snap_io_write_state(int dir_fd, const struct snap_state *s, uint64_t *bytes)
	__attribute__((warn_unused_result));

/* Create BASE.tmp-XXXXXX (BASE: final's last component) in parent_fd; its name to name. */
int snap_io_mkdtemp(int parent_fd, const char *final, char *name, size_t namelen,
		    struct errmsg *e) __attribute__((warn_unused_result));

/* Rename parent_fd/tmp to final (which must still not exist) and fsync parent_fd. */
int snap_io_publish(int parent_fd, const char *tmp, const char *final, struct errmsg *e)
	__attribute__((warn_unused_result));

/* Remove parent_fd/tmp and the files in it (a failed save). */
void snap_io_remove_tmp(int parent_fd, const char *tmp);

#endif /* MEMVMM_SNAP_IO_H */
