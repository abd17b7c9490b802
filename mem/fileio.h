/* SPDX-License-Identifier: MIT */
/*
 * Whole reads and writes of files at offsets, shared by population, the
 * snapshot files and the lazy restore. Private to mem/.
 */
#ifndef MEMVMM_MEM_FILEIO_H
#define MEMVMM_MEM_FILEIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"

/*
 * pread() all of len at off; EINTR retried (unless *cancel is set:
 * -ECANCELED; cancel may be NULL). The file ending early is eof_err.
 */
int mem_pread_full(int fd, void *buf, uint64_t len, uint64_t off, const atomic_bool *cancel,
		   int eof_err) MEM_WUR;

/*
 * A file written at offsets: pwritev(), or for a file that takes write()
 * but not pwrite() (serial), lseek() + writev() under lock.
 */
struct mem_file_writer {
	int fd;
	bool serial;
	pthread_mutex_t *lock;          /* with serial */
	const atomic_bool *cancel;      /* may be NULL */
};

/*
 * Write len bytes at off from buf, or zeros when buf is NULL (views of one
 * zero buffer); short writes and EINTR retried (EINTR unless cancelled:
 * -ECANCELED); a write of 0 bytes is -EIO.
 */
int mem_file_write(const struct mem_file_writer *w, const uint8_t *buf, uint64_t len,
		   uint64_t off) MEM_WUR;

#endif /* MEMVMM_MEM_FILEIO_H */
