/* SPDX-License-Identifier: MIT */
/* What tests/test_snap_state*.c share: states to build, and asserting parses. */
#ifndef MEMVMM_TEST_SNAP_STATE_H
#define MEMVMM_TEST_SNAP_STATE_H

#include <stddef.h>

#include "vmm/snap_state.h"

#define SNAP_TEST_WHY_BYTES 256

struct snap_test_blob {
	void *p;
	size_t len;
};

/* Two vCPUs (XSAVE, MSRs), three regions (one a diff with sums), four devices, a parent. */
void snap_test_full(struct snap_state *s);
/* One vCPU with an FPU, one region, no devices, no parent. */
void snap_test_minimal(struct snap_state *s);
/* snap_state_build(), asserted. */
void snap_test_build(const struct snap_state *s, struct snap_test_blob *b);
/* snap_state_parse() on a copy of exactly b->len bytes. */
int snap_test_parse(const struct snap_test_blob *b, struct snap_state *s, char *why,
		    size_t whylen);
/* Parse must return want with want_why (may be NULL) in the reason, and leave nothing. */
void snap_test_refused(const struct snap_test_blob *b, int want, const char *want_why);
void snap_test_assert_equal(const struct snap_state *a, const struct snap_state *b);

/* A copy of b with room to edit with libfdt (fdt_open_into); close packs and reseals it. */
void snap_test_edit_open(const struct snap_test_blob *b, struct snap_test_blob *e);
void snap_test_edit_close(struct snap_test_blob *e);

/* tests/test_snap_state_refuse.c */
void snap_test_run_missing(const void *arg);
void snap_test_run_sizes(const void *arg);
void snap_test_run_values(const void *arg);
void snap_test_run_huge(const void *arg);
void snap_test_run_build_refusals(const void *arg);
int snap_test_write_corpus(const char *dir);

#endif /* MEMVMM_TEST_SNAP_STATE_H */
