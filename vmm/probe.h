/* SPDX-License-Identifier: MIT */
/* `memvmm probe`: what this host's kernel offers memvmm. */
#ifndef MEMVMM_PROBE_H
#define MEMVMM_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/errmsg.h"

struct mem_thp_host;

#define PROBE_MAX_ROWS 48
#define PROBE_DETAIL_LEN 160

struct probe_row {
	const char *feature;  /* a string literal */
	bool supported;
	int64_t value;        /* raw value (cap result, flags, count), else 0 */
	char detail[PROBE_DETAIL_LEN]; /* decoded value, or for a no: errno name / what is missing */
};

struct probe_report {
	struct probe_row row[PROBE_MAX_ROWS];
	unsigned int nr;
	unsigned int dropped; /* rows refused because row[] was full */
	/*
	 * The first trial that failed for a reason that says nothing about the
	 * host's features (probe_err_inconclusive()); the table is then no
	 * answer and probe_collect() fails naming it.
	 */
	int fail_err;              /* positive errno; 0: none failed so */
	const char *fail_feature;  /* string literals */
	const char *fail_step;
};

/*
 * Collect the table. Fails when /dev/kvm itself is unusable, and when a trial
 * failed for a reason that says nothing about the host's features (EMFILE
 * under a low `ulimit -n`, ENOMEM, ...): e->text then names the errno, the
 * feature and the step, rather than the table reporting the feature missing.
 */
int probe_collect(struct probe_report *r, struct errmsg *e) __attribute__((warn_unused_result));
void probe_print_table(const struct probe_report *r);
/* 0 or -ENOMEM. */
int probe_print_json(const struct probe_report *r) __attribute__((warn_unused_result));

/* Shared by probe.c and probe_trials.c only. */

/* Append a row; when row[] is full the row is refused and counted in dropped. */
__attribute__((format(printf, 5, 6)))
void probe_add(struct probe_report *r, const char *feature, bool supported, int64_t value,
	       const char *fmt, ...);
/* "EINVAL" for EINVAL (strerrorname_np), "errno N" for an unknown one. */
const char *probe_errname(int err);
/*
 * True for an errno (positive) that says the process or host ran short of
 * something (EMFILE, ENFILE, ENOMEM, EAGAIN), not whether a feature exists.
 */
bool probe_err_inconclusive(int err);
/*
 * A trial for feature failed at step with err (positive errno). True when err
 * is inconclusive: the first such failure is recorded in r->fail_* and the
 * caller adds no row; false: the caller reports the feature as missing.
 */
bool probe_trial_inconclusive(struct probe_report *r, const char *feature, const char *step,
			      int err);
/* The rows found by trial on scratch VMs, mappings and userfaultfds. */
void probe_collect_trials(struct probe_report *r, int sys_fd);

/*
 * Transparent huge pages; none of it needs KVM.
 *
 * probe_collect_thp() reads the host's settings (mem_thp_host_read()) and adds
 * every THP row: the settings (probe_thp_settings()), "mTHP sizes", and two
 * trials, "THP trial (anon)" and "THP trial (memfd)": 2 MiB at a 2 MiB-aligned
 * address advised MADV_HUGEPAGE and populated with MADV_POPULATE_WRITE is
 * measured in /proc/self/smaps; yes when one 2 MiB page maps it, value = the
 * huge bytes, detail = why not (the host's policy, this process, an errno).
 */
void probe_collect_thp(struct probe_report *r);
/*
 * The settings rows from h, in this order: "THP (anon)", "THP (anon 2M)",
 * "THP (shmem)", "THP (shmem 2M)", "THP defrag", "khugepaged defrag",
 * "THP (this process)". The 2M rows give mem_thp_policy() (value: enum
 * mem_thp_policy) as "<per-size word> -> <policy> (<files that decided>)".
 * err (positive errno): the settings could not be read; every row is a no
 * naming it, and h is not read. Reads nothing but its arguments.
 */
void probe_thp_settings(struct probe_report *r, const struct mem_thp_host *h, int err);
/* "mTHP sizes": hugepages-<N>kB/enabled of every size; anon: THP (anon)'s word. */
void probe_add_mthp_row(struct probe_report *r, const char *anon);

#endif /* MEMVMM_PROBE_H */
