// SPDX-License-Identifier: MIT
/*
 * balloon's guest runs: start memvmm or QEMU with the test guest, wait for
 * each of the guest's step lines, read the host's meter (and memvmm's
 * status) while the guest waits in its read=1 step, then let it go on with
 * one byte on its console (the child: guest_proc.c).
 */
#include "bench/balloon.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/guest_proc.h"

#define BL_RUN_TIMEOUT_NS     (600ull * 1000000000ull)  /* one whole run */
#define BL_PAGE_BYTES         4096ull      /* the balloon's PFN size */
#define BL_MIB                (1024.0 * 1024.0)

/* ---- memvmm's status ---------------------------------------------------------------- */

/* memvmm's status balloon object: inflated (bytes), given_back, discard_ms, populate_ms. */
static int memvmm_balloon(const char *sock, double *inflated, double *given, double *discard_ms,
			  double *populate_ms, char *why, size_t len)
{
	json_object *root, *b;
	int ret = guest_memvmm_status(sock, &root, why, len);

	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "balloon", &b) ||
	    !guest_json_num(b, "inflated", inflated) || !guest_json_num(b, "given_back", given) ||
	    !guest_json_num(b, "discard_ms", discard_ms) ||
	    !guest_json_num(b, "populate_ms", populate_ms)) {
		snprintf(why, len, "memvmm status: no balloon inflated, given_back, discard_ms, "
			 "populate_ms");
		ret = -EPROTO;
	}
	json_object_put(root);
	return ret;
}

/* ---- one run ------------------------------------------------------------------------ */

struct bl_run_state {
	struct bl_guest_run *g;
	struct guest_run r;
};

/* The step's bytes= is the size and the balloon holds want pages. */
static int bl_check(struct bl_run_state *s, const char *step, uint64_t want_inflated)
{
	uint64_t bytes = 0, inflated = UINT64_MAX, bad = 0;

	if (!guest_line_u64(s->r.line, "bytes", &bytes) || bytes != s->g->size ||
	    !guest_line_u64(s->r.line, "inflated", &inflated) || inflated != want_inflated ||
	    (guest_line_u64(s->r.line, "bad", &bad) && bad)) {
		snprintf(s->g->why, sizeof(s->g->why), "%s: %.160s", step, s->r.line);
		return -EIO;
	}
	return 0;
}

static int bl_drive(struct bl_run_state *s)
{
	struct bl_guest_run *g = s->g;
	struct guest_run *r = &s->r;
	uint64_t before, inflated, deflated;
	double dev_inflated = NAN, given = NAN, discard = NAN, populate = NAN;
	int ret;

	ret = guest_run_step(r, GUEST_LINE_PREFIX "start ", false);
	if (ret == -EPIPE)
		return guest_run_refused(r);
	if (ret || (ret = guest_run_step(r, GUEST_LINE_PREFIX "touch ", false)) ||
	    (ret = guest_run_meter(r, &before)))
		return ret;
	g->val[BL_HOST_BEFORE_MIB] = (double)before / BL_MIB;

	if ((ret = guest_run_step(r, GUEST_LINE_PREFIX "balloon-inflate ", true)) ||
	    (ret = bl_check(s, "balloon-inflate", g->size / BL_PAGE_BYTES)) ||
	    (ret = guest_run_meter(r, &inflated)))
		return ret;
	g->val[BL_INFLATE_MS] = guest_line_ms_of(r->line, "request");
	g->val[BL_INFLATE_STEP_MS] = guest_line_ms(r->line);
	if (!guest_line_u64(r->line, "chains", &g->chains))
		g->chains = 0;
	g->val[BL_HOST_RETURNED_MIB] = ((double)before - (double)inflated) / BL_MIB;
	if (g->sock) {
		ret = memvmm_balloon(g->sock, &dev_inflated, &given, &discard, &populate, g->why,
				     sizeof(g->why));
		if (ret)
			return ret;
		if (dev_inflated != (double)g->size) {
			snprintf(g->why, sizeof(g->why), "memvmm status: inflated %.0f, want %llu",
				 dev_inflated, (unsigned long long)g->size);
			return -EIO;
		}
		g->val[BL_DEV_GIVEN_MIB] = given / BL_MIB;
		g->val[BL_DEV_DISCARD_MS] = discard;
	}

	if ((ret = guest_run_step(r, GUEST_LINE_PREFIX "balloon-deflate ", true)) ||
	    (ret = bl_check(s, "balloon-deflate", 0)) || (ret = guest_run_meter(r, &deflated)))
		return ret;
	g->val[BL_DEFLATE_MS] = guest_line_ms_of(r->line, "request");
	g->val[BL_DEFLATE_STEP_MS] = guest_line_ms(r->line);
	g->val[BL_HOST_REGAINED_MIB] = ((double)deflated - (double)inflated) / BL_MIB;
	if (g->sock) {
		ret = memvmm_balloon(g->sock, &dev_inflated, &given, &discard, &populate, g->why,
				     sizeof(g->why));
		if (ret)
			return ret;
		g->val[BL_DEV_POPULATE_MS] = populate;
	}

	/* The last read=1, then the guest ends. */
	if ((ret = guest_run_finish(r, g->exit_status)))
		return ret;
	if (isnan(g->val[BL_INFLATE_MS]) || isnan(g->val[BL_DEFLATE_MS])) {
		snprintf(g->why, sizeof(g->why),
			 "a balloon step's line has neither request_us= nor request_cycles=");
		return -EPROTO;
	}
	return 0;
}

int bl_guest_run(struct bl_guest_run *g)
{
	struct bl_run_state s = { .g = g };
	int ret;

	for (unsigned int k = 0; k < BL_NVALS; k++)
		g->val[k] = NAN;
	g->why[0] = '\0';
	g->chains = 0;
	ret = guest_run_start(&s.r, g->argv, g->meter, BL_RUN_TIMEOUT_NS, g->why, sizeof(g->why));
	if (!ret)
		ret = bl_drive(&s);
	guest_run_free(&s.r);
	return ret;
}
