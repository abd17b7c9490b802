/* SPDX-License-Identifier: MIT */
/*
 * For the pthread calls that can fail only through a bug (locking a corrupt
 * mutex, joining a thread that is not joinable, destroying a condition
 * someone waits on): stop at once rather than run on unlocked. Calls that
 * can fail for real (init, create) return -errno instead. Shared by mem/ and
 * devices/ (which may include mem/ headers).
 */
#ifndef MEMVMM_MEM_PTHREAD_MUST_H
#define MEMVMM_MEM_PTHREAD_MUST_H

#include <stdlib.h>

static inline void mem_pthread_must(int err)
{
	if (err)
		abort();
}

#endif /* MEMVMM_MEM_PTHREAD_MUST_H */
