/* SPDX-License-Identifier: MIT */
/* `memvmm probe`: what this host's kernel offers memvmm. */
#ifndef MEMVMM_PROBE_H
#define MEMVMM_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/errmsg.h"

#define PROBE_MAX_ROWS 32

struct probe_row {
	const char *feature;
	bool supported;
	int64_t value;        /* raw value (cap result, version, flags) */
	char detail[96];      /* decoded flags, or for a no: what is missing */
};

struct probe_report {
	struct probe_row row[PROBE_MAX_ROWS];
	unsigned int nr;
};

/* Collect the table; fails only when /dev/kvm itself is unusable. */
int probe_collect(struct probe_report *r, struct errmsg *e) __attribute__((warn_unused_result));
void probe_print_table(const struct probe_report *r);
/* 0 or -ENOMEM. */
int probe_print_json(const struct probe_report *r) __attribute__((warn_unused_result));

#endif /* MEMVMM_PROBE_H */
