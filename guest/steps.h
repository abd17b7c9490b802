/* SPDX-License-Identifier: MIT */
/* The workload steps of the test guest's command line. */
#ifndef GUEST_STEPS_H
#define GUEST_STEPS_H

#include <stdint.h>

#include "memmap.h"

struct workload {
	struct free_ram ram;
	uint32_t tsc_khz;               /* 0: report cycles, not microseconds */
	uint64_t touched_pages;         /* by the last touch step; 0: none */
};

/*
 * Runs one step, "name" or "name=value". Returns NULL on success, or the
 * reason it failed. Some steps never return (exit, fault, triple, hang).
 */
const char *step_run(struct workload *w, const char *step);

#endif /* GUEST_STEPS_H */
