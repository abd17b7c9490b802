/* SPDX-License-Identifier: MIT */
/* `memvmm probe`: what this host's kernel offers memvmm. */
#ifndef MEMVMM_PROBE_H
#define MEMVMM_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/errmsg.h"

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
};

/* Collect the table; fails only when /dev/kvm itself is unusable. */
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
/* The rows found by trial on scratch VMs, mappings and userfaultfds. */
void probe_collect_trials(struct probe_report *r, int sys_fd);

#endif /* MEMVMM_PROBE_H */
