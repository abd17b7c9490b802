/* SPDX-License-Identifier: MIT */
/*
 * What vmem-plug and balloon share around their guest runs (guest_proc.h):
 * the host's offer (KVM, memvmm, QEMU, the guest's ELF, huge pages, a
 * meter), the lines that say it, and a case's run before and after.
 */
#ifndef MEMVMM_BENCH_GUEST_BENCH_H
#define MEMVMM_BENCH_GUEST_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/guest_proc.h"

struct bench_case;
struct bench_summary;

/* What the host offers, found once. */
struct guest_host {
	bool kvm;
	char memvmm[PATH_MAX];
	int memvmm_err;
	char qemu[PATH_MAX];
	bool have_qemu;
	char guest[PATH_MAX];          /* $MEMVMM_GUEST, else where meson built it */
	bool have_guest;
	int hp_err;                    /* huge pages could not be reserved */
	uint64_t hp_pages;
	enum guest_meter meter;
	char meter_why[192];
};

/* Find it; reserves hp_pages huge pages (bench_hugepages_restore() gives them back). */
void guest_host_find(struct guest_host *h, uint64_t hp_pages);
/*
 * The header's lines on the host: the meter ("host memory: ..."), then
 * "       <hugetlb_label>: <the hugetlb meter><tail>", and which rows are
 * skipped or how QEMU runs; then a blank line.
 */
void guest_host_print(const struct guest_host *h, const char *hugetlb_label, const char *tail);
/* The summary's memvmm=, qemu=, meter= keys. */
void guest_host_summary(const struct guest_host *h, struct bench_summary *s);

/* Record the first reason a case cannot run (later ones are dropped). */
void guest_skip(int *skip_err, char *skip_why, size_t len, int err, const char *why);
/* A case known not to run: its why, and skip_err to return; 0 when it runs. */
int guest_case_skipped(struct bench_case *c, int skip_err, const char *skip_why);
/*
 * After a guest run that returned ret (why: its why): the case's why,
 * memvmm's socket sock (NULL for QEMU) removed, and fail set (a failure,
 * not a refusal: -EOPNOTSUPP). The run's result.
 */
int guest_case_ran(struct bench_case *c, int ret, const char *sock, const char *why, char *fail,
		   size_t fail_len);

/* val[0..nvals) each of repeat NANs: 0 or -ENOMEM (guest_vals_free() either way). */
int guest_vals_alloc(double **val, unsigned int nvals, unsigned int repeat)
	__attribute__((warn_unused_result));
void guest_vals_free(double **val, unsigned int nvals);
/* Min and median of the non-NAN values among v[0..n); NAN if none. */
void guest_min_median(const double *v, unsigned int n, double *min, double *median);

/*
 * A fresh directory /tmp/memvmm-<bench>-XXXXXX (dir, at least 64 bytes)
 * and memvmm's API socket's path in it: 0, or -errno after saying why on
 * stderr (dir is then empty).
 */
int guest_sock_dir(const char *bench, char *dir, size_t dir_len, char *sock, size_t sock_len)
	__attribute__((warn_unused_result));
/* Remove it, if made (saying on stderr when that fails). */
void guest_sock_dir_remove(const char *bench, const char *dir);

#endif /* MEMVMM_BENCH_GUEST_BENCH_H */
