/* SPDX-License-Identifier: MIT */
/* The workload steps of the test guest's command line. */
#ifndef GUEST_STEPS_H
#define GUEST_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "memmap.h"

struct workload {
	struct free_ram ram;
	uint32_t tsc_khz;               /* 0: report cycles, not microseconds */
	uint64_t touched_pages;         /* by the last touch step; 0: none */
	uint64_t bumps;                 /* bump steps since that touch */
};

/*
 * Runs one step, "name" or "name=value". Returns NULL on success, or the
 * reason it failed. Some steps never return (exit, fault, triple, hang).
 */
const char *step_run(struct workload *w, const char *step);

/* SIZE: decimal with an optional K, M or G suffix (any case). */
bool step_parse_size(const char *s, uint64_t *out);

/* Ends a step's line with its duration: " us=N" (or " cycles=N" without a TSC rate). */
void step_print_elapsed(const struct workload *w, uint64_t cycles);

#endif /* GUEST_STEPS_H */
