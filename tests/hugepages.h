/* SPDX-License-Identifier: MIT */
/*
 * Reserve 2 MiB huge pages for a test and put the old setting back afterwards
 * (also on a failed assertion: restoring runs from atexit).
 */
#ifndef MEMVMM_TEST_HUGEPAGES_H
#define MEMVMM_TEST_HUGEPAGES_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Remember nr_hugepages and restore it at exit (in this process only, not in
 * forked children). Called by the functions below; call it before forking.
 */
bool hugepages_save(void);
/* Make at least `free_pages` huge pages free. False if the host cannot. */
bool hugepages_reserve(uint64_t free_pages);
/* Set nr_hugepages to exactly n (for exhaustion tests). */
bool hugepages_set_total(uint64_t n);
/* Put nr_hugepages back as saved (nothing to write, and no permission needed, if unchanged). */
void hugepages_restore(void);

#endif
