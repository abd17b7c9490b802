/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the snapshot end-to-end tests (tests/e2e_snapshot*.c):
 * scratch directories, `memvmm ctl ... snapshot` with its reply checked,
 * restored VMs on a console pipe (tests/e2e_gated.h), and what memvmm's
 * "memvmm: restored ..." line says.
 */
#ifndef MEMVMM_TEST_E2E_SNAPSHOT_H
#define MEMVMM_TEST_E2E_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/e2e_gated.h"

struct json_object;
struct mem_backend_ops;

#define SNAP_MB            (UINT64_C(1) << 20)
#define SNAP_PAGE_BYTES    UINT64_C(4096)
#define SNAP_HUGE_BYTES    (2 * SNAP_MB)
#define SNAP_STEP_S        120    /* one guest step, or a restore reaching its first gate */
#define SNAP_EXIT_S        180    /* from the last byte sent to memvmm's exit */
#define SNAP_LINE_BYTES    1024
#define SNAP_PATH_MAX      512

/* ---- scratch ------------------------------------------------------------- */

/*
 * A new directory /tmp/memvmm-e2esnap-XXXXXX (mkdtemp), removed with
 * everything in it when the case exits (passing or failing): the memvmm
 * processes of tests/e2e_gated.h are killed first.
 */
const char *snap_tmpdir(void);
/* dir/name in buf (asserts it fits); returns buf. */
char *snap_path(char *buf, const char *dir, const char *name);
/* realpath() of dir's parent joined with dir's last component: what memvmm replies. */
void snap_abs(char *buf, const char *dir);

/* ---- refusals and skips ---------------------------------------------------- */

/*
 * memvmm ARGS (stdin /dev/null) must exit status (not by a signal), say want
 * and want2 (may be NULL) on stderr, and run no guest.
 */
void snap_expect_refused(const char *const *args, int status, const char *want,
			 const char *want2, const char *what);
/*
 * Parts of a case this host cannot run: noted in acc (SNAP_LINE_BYTES,
 * starts ""), and snap_skips_end() skips the case (77) naming them, once
 * everything it could run has passed.
 */
void snap_skip_add(char *acc, const char *what, const char *why);
void snap_skips_end(const char *acc);

/* ---- the control socket -------------------------------------------------- */

/*
 * `memvmm ctl --api-socket SOCK CMD ARGS...` (args NULL-terminated, may be
 * NULL) must exit want (0: ok, 1: an error reply); its reply (caller puts).
 */
struct json_object *snap_ctl(const struct e2e_gated *g, int want, const char *cmd,
			     const char *const *args);
/* The same without asserting: memvmm ctl's exit status. */
int snap_ctl_status(const struct e2e_gated *g, const char *cmd);

/* What snap_take() saw. */
struct snap_taken {
	char dir[SNAP_PATH_MAX];
	uint64_t bytes, state_bytes, pending_pages;
	unsigned int nr_regions;
	uint64_t ram_data_bytes, ram_dirty_pages;   /* region 0 (boot RAM) */
	double ms, paused_ms;
};

/*
 * `ctl snapshot dir=DIR ARGS...` must succeed: checks the reply (dir as
 * asked, absolute; id; diff iff parent= was given; bytes = the regions'
 * data plus state_bytes; stopping iff stop=on; times) and the directory
 * (state.dtb of state_bytes bytes, one mem-N.raw per region, no temporary
 * directory left beside it).
 */
void snap_take(const struct e2e_gated *g, const char *dir, const char *const *args,
	       struct snap_taken *t);
/*
 * `ctl snapshot ARGS...` must get an error reply containing want (and
 * must create nothing at dir, if not NULL); memvmm must keep running.
 * Returns the error text (static buffer).
 */
const char *snap_take_fails(const struct e2e_gated *g, const char *const *args, const char *want,
			    const char *dir);

/* ---- restoring ------------------------------------------------------------ */

/*
 * Start `memvmm run --api-socket SOCK --restore SPEC EXTRA...` in g and wait
 * until it answers status (true) or exits (false: g->status, reaped;
 * asserts it was not killed by a signal).
 */
bool snap_restore_start(struct e2e_gated *g, const char *spec, const char *const *extra);

/* Whether this process may create a userfaultfd that handles kernel faults (a trial). */
bool snap_uffd_usable(void);

/* A restore of the test guest, checked end to end. */
struct snap_rt {
	const char *spec;               /* --restore's value */
	const char *const *extra;       /* more `run` arguments, NULL-terminated (may be NULL) */
	unsigned int sends;             /* read=1 gates to pass: one byte each */
	unsigned int verifies;          /* verify lines wanted, every one bad=0 */
	bool want_report;
	uint64_t report;                /* the report's checksum wanted */
	/*
	 * Exit 1 with "is not possible with" (the mode, on this host): skip
	 * (77) with memvmm's reason if set, else fail. *skipped set instead of
	 * skipping if skipped is not NULL (the caller skips at its end).
	 */
	bool skip_not_possible;
	char *skipped;                  /* SNAP_LINE_BYTES, or NULL */
	/* out */
	char restored[SNAP_LINE_BYTES]; /* memvmm's "restored" line */
	char mode[32];                  /* the mode it names */
	double first_ms;                /* its time to the first guest instruction */
};

/*
 * Restore, pass the gates, wait for exit 0: no second boot (no start or
 * touch line), the verify and report lines as wanted, the restored line.
 * Returns false only when the mode was not possible and rt->skipped took
 * the reason.
 */
bool snap_restore_check(struct snap_rt *rt);

/* memvmm's "memvmm: restored '...'" line on g's stderr, in buf (SNAP_LINE_BYTES); NULL if none. */
const char *snap_restored_line(const struct e2e_gated *g, char *buf);
/* The word after ", mode " in a restored line, in buf (32 bytes). */
const char *snap_restored_mode(const char *line, char *buf);
/* "first guest instruction X ms after start": X, or -1. */
double snap_first_ms(const char *line);

/* ---- the guest's output ----------------------------------------------------- */

/* The report line's checksum (after exit: the line must be there). */
uint64_t snap_report(struct e2e_gated *g);
/* Every verify line bad=0, and exactly n of them. */
void snap_expect_verifies(struct e2e_gated *g, unsigned int n);
/*
 * Wait (at most timeout_s) until g's stdout has a complete line starting
 * with prefix; fails when memvmm exits first.
 */
void snap_wait_out(struct e2e_gated *g, const char *prefix, int timeout_s);

/* ---- files ----------------------------------------------------------------- */

/* Copy src to dst keeping holes (SEEK_DATA/SEEK_HOLE), or hard-link it (link true). */
void snap_copy_file(const char *src, const char *dst, bool link);
/* Copy snapshot directory src to a new dst: state.dtb copied, mem-*.raw linked. */
void snap_copy_dir(const char *src, const char *dst);
/* A whole file into a malloc'd buffer; *len its size. */
uint8_t *snap_read_file(const char *path, size_t *len);
void snap_write_file(const char *path, const void *data, size_t len);

/* ---- host set-up ------------------------------------------------------------ */

/*
 * KVM and backend b (tests/e2e.h); for hugetlb, at least pages free 2 MiB
 * pages (nr_hugepages put back at exit), or skip.
 */
void snap_require_backend(const struct mem_backend_ops *b, uint64_t huge_pages);

/* ---- the cases (e2e_snapshot*.c) --------------------------------------------- */

struct snap_rt_case {
	const struct mem_backend_ops *backend;
	const char *mode;
};

void case_cli(const void *arg);
void case_damaged(const void *arg);
void case_rt(const void *arg);
void case_refuse_modes(const void *arg);
void case_diff_chain(const void *arg);
void case_diff_refused_gmem(const void *arg);
void case_ctl_errors(const void *arg);
void case_vmem(const void *arg);
void case_balloon(const void *arg);
void case_lazy_resnap(const void *arg);
void case_truncate_lazy(const void *arg);
void case_truncate_map(const void *arg);
void case_ext_guest(const void *arg);

#endif /* MEMVMM_TEST_E2E_SNAPSHOT_H */
