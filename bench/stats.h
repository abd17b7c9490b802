/* SPDX-License-Identifier: MIT */
/*
 * Benchmark tables: cases measured in interleaved rounds (round r runs every
 * case once, in a rotating order, before round r + 1), min and median per
 * metric, a printed table, CSV or JSON output, and the one summary line.
 *
 * A case's run() does its own setup and teardown and times only the
 * operation, returning the time(s) in milliseconds.
 */
#ifndef MEMVMM_BENCH_STATS_H
#define MEMVMM_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_LABELS   4
#define BENCH_MAX_METRICS  4
#define BENCH_MAX_EXTRA    3
#define BENCH_MAX_REPEAT   1000u

/*
 * run() returns 0 with metrics[] set (NAN where a metric does not apply),
 * -errno when the case cannot be done (c->why may say more), or BENCH_FATAL
 * after printing why (wrong results): the whole benchmark stops with exit 1.
 */
#define BENCH_FATAL 1

struct bench_case;
typedef int (*bench_run_fn)(struct bench_case *c, double *metrics);

struct bench_case {
	const char *label[BENCH_MAX_LABELS];
	char key[64];                 /* for JSON and the summary line */
	bench_run_fn run;
	void *ctx;                    /* the benchmark's own description */
	/* Filled in by bench_table_run(). */
	double *samples[BENCH_MAX_METRICS];
	unsigned int n;               /* successful measurements */
	int err;                      /* first failure, 0 if none */
	unsigned int err_round;
	char why[200];                /* shown instead of the numbers */
	bool why_is_message;          /* run() set why to a full message: no errno */
	double min[BENCH_MAX_METRICS], median[BENCH_MAX_METRICS];
	double first[BENCH_MAX_METRICS];   /* round 1's value (first_apart), else NAN */
	/* Filled in by the benchmark after the run; NAN prints as "-". */
	double extra[BENCH_MAX_EXTRA];
	char note[160];
};

struct bench_table {
	const char *bench;                            /* "populate-table" */
	unsigned int nlabels;
	const char *label_names[BENCH_MAX_LABELS];
	unsigned int nmetrics;
	const char *metric_names[BENCH_MAX_METRICS];  /* "ms", "touch ms" */
	unsigned int nextra;
	const char *extra_names[BENCH_MAX_EXTRA];     /* "GB/s" */
	const char *note_name;                        /* NULL: no note column */
	struct bench_case *cases;
	unsigned int ncases;
	unsigned int repeat;
	/*
	 * Round 1 on its own: each metric gets a "1st" column (the case's first
	 * measurement, e.g. a first allocation that has to compact memory) and
	 * min/median are over rounds 2..N only ("-" with --repeat 1).
	 */
	bool first_apart;
	const char *json_key;                         /* bench_write_outputs: t[1..] */
};

/* Monotonic clock in nanoseconds / milliseconds. */
uint64_t bench_now_ns(void);
double bench_ms_since(uint64_t t0_ns);

/* "EINVAL" (or the message when the name is unknown); err > 0. */
const char *bench_errname(int err);

/*
 * Allocate sample space and run t->repeat interleaved rounds. Progress goes
 * to stderr when it is a terminal. Returns 0, or BENCH_FATAL when a case did.
 */
int bench_table_run(struct bench_table *t);
void bench_table_free(struct bench_table *t);

/* True if the case has numbers. */
bool bench_case_ok(const struct bench_case *c);
/* Case by key, NULL if none. */
struct bench_case *bench_table_find(struct bench_table *t, const char *key);
/* Median of metric m of the case with this key, NAN if absent or unsupported. */
double bench_table_median(struct bench_table *t, const char *key, unsigned int m);

void bench_table_print(const struct bench_table *t, FILE *f);

/* The summary line: key=value pairs, also written to the JSON output. */
struct bench_summary;
struct bench_summary *bench_summary_new(const char *bench);
void bench_summary_str(struct bench_summary *s, const char *key, const char *val);
/* NAN prints as "nan" and is stored as null. */
void bench_summary_num(struct bench_summary *s, const char *key, double val, int decimals);
void bench_summary_print(const struct bench_summary *s, FILE *f);
void bench_summary_free(struct bench_summary *s);

/*
 * Write the table (and summary) to path: CSV when it ends in ".csv", else
 * JSON. opts is a JSON-ready description of the options (may be NULL).
 * Returns 0 or -errno.
 */
struct json_object;
int bench_write_output(const char *path, const struct bench_table *t,
		       const struct bench_summary *s, struct json_object *opts);
/*
 * The same for a benchmark that prints several tables (nt >= 1): JSON has
 * t[0]'s cases under "cases" and every further table as {"repeat",
 * "first_round_apart", "cases"} under its json_key; CSV has the tables one
 * after another, each with its header line, separated by an empty line.
 */
int bench_write_outputs(const char *path, const struct bench_table *const *t, unsigned int nt,
			const struct bench_summary *s, struct json_object *opts);

#endif /* MEMVMM_BENCH_STATS_H */
