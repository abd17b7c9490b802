/* SPDX-License-Identifier: MIT */
/*
 * pageout's row through memvmm (pageout_vm.c): the test guest touches most
 * of its anon RAM, the guest is paused, and `memvmm ctl pageout` pages all
 * of it out; memvmm's reply gives the time in MADV_PAGEOUT and its meters.
 */
#ifndef MEMVMM_BENCH_PAGEOUT_H
#define MEMVMM_BENCH_PAGEOUT_H

#include <stddef.h>
#include <stdint.h>

struct bench_case;
struct bench_opts;

/* memvmm-bench pageout (pageout.c): the exit status, as every benchmark's. */
int bench_pageout(const struct bench_opts *o);

/* Can the row run here (/dev/kvm, the memvmm binary)? 0, or -errno with why. */
int po_memvmm_check(char *why, size_t len);
/*
 * One round on size bytes of guest RAM: m[0] = memvmm's ms in MADV_PAGEOUT,
 * m[3] = resident MiB after; the case's note gets the meters. 0 or -errno
 * with c->why.
 */
int po_memvmm_run(struct bench_case *c, uint64_t size, double *m);

#endif /* MEMVMM_BENCH_PAGEOUT_H */
