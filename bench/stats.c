// SPDX-License-Identifier: MIT
/*
 * Interleaved repeats, min/median, the printed table and CSV/JSON output.
 */
#include "bench/stats.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bench_ms_since(uint64_t t0_ns)
{
	return (double)(bench_now_ns() - t0_ns) / 1e6;
}

const char *bench_errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : strerror(err);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Min and median of the non-NAN values among v[0..n). */
static void min_median(const double *v, unsigned int n, double *min, double *median)
{
	double sorted[BENCH_MAX_REPEAT];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		if (!isnan(v[i]))
			sorted[k++] = v[i];
	if (!k) {
		*min = *median = NAN;
		return;
	}
	qsort(sorted, k, sizeof(sorted[0]), cmp_double);
	*min = sorted[0];
	*median = k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
}

bool bench_case_ok(const struct bench_case *c)
{
	return !c->err && c->n > 0;
}

static void case_fail(struct bench_case *c, int ret, unsigned int round)
{
	char msg[sizeof(c->why)];

	c->err = ret;
	c->err_round = round;
	/* why is at most 199 bytes; keep room for the words around it. */
	if (c->why_is_message && round == 0)
		snprintf(msg, sizeof(msg), "unsupported: %.160s", c->why);
	else if (c->why_is_message)
		snprintf(msg, sizeof(msg), "failed in round %u: %.160s", round + 1, c->why);
	else if (round == 0)
		snprintf(msg, sizeof(msg), "unsupported (%.20s%s%.150s)", bench_errname(-ret),
			 c->why[0] ? ": " : "", c->why);
	else
		snprintf(msg, sizeof(msg), "failed in round %u (%.20s%s%.140s)", round + 1,
			 bench_errname(-ret), c->why[0] ? ": " : "", c->why);
	memcpy(c->why, msg, sizeof(c->why));
}

static unsigned int gcd(unsigned int a, unsigned int b)
{
	while (b) {
		unsigned int t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * Round r visits case (start + k * stride) % n for k = 0..n-1. The start
 * rotates, so each case runs at a different place in each round, and the
 * stride (coprime with n, so every case runs once) changes too, so that a
 * case does not always follow the same case: on this host a case that runs
 * right after one that freed a lot of memory is measurably faster or slower
 * (free page reporting hands freed memory back to the outer host).
 */
static void round_order(unsigned int n, unsigned int r, unsigned int rounds,
			unsigned int *start, unsigned int *stride)
{
	unsigned int s;

	*start = n ? (unsigned int)(((uint64_t)r * n) / rounds) : 0;
	*stride = 1;
	if (n < 3)
		return;
	for (s = 1 + (unsigned int)(((uint64_t)r * n) / rounds) % (n - 1); gcd(s, n) != 1;
	     s = s % (n - 1) + 1)
		;
	*stride = s;
}

int bench_table_run(struct bench_table *t)
{
	bool tty = isatty(STDERR_FILENO);
	unsigned int n = t->ncases;

	for (unsigned int i = 0; i < n; i++) {
		struct bench_case *c = &t->cases[i];

		for (unsigned int m = 0; m < t->nmetrics; m++) {
			c->samples[m] = calloc(t->repeat, sizeof(double));
			if (!c->samples[m]) {
				fprintf(stderr, "%s: out of memory\n", t->bench);
				return BENCH_FATAL;
			}
		}
		for (unsigned int e = 0; e < BENCH_MAX_EXTRA; e++)
			c->extra[e] = NAN;
	}
	for (unsigned int r = 0; r < t->repeat; r++) {
		unsigned int start, stride;

		round_order(n, r, t->repeat, &start, &stride);
		for (unsigned int k = 0; k < n; k++) {
			struct bench_case *c = &t->cases[(start + (uint64_t)k * stride) % n];
			double m[BENCH_MAX_METRICS];
			int ret;

			if (c->err)
				continue;
			if (tty)
				fprintf(stderr, "\r%s: round %u/%u, case %u/%u   ", t->bench,
					r + 1, t->repeat, k + 1, n);
			for (unsigned int j = 0; j < BENCH_MAX_METRICS; j++)
				m[j] = NAN;
			c->why[0] = '\0';
			c->why_is_message = false;
			ret = c->run(c, m);
			if (ret == BENCH_FATAL) {
				if (tty)
					fputc('\n', stderr);
				return BENCH_FATAL;
			}
			if (ret < 0) {
				case_fail(c, ret, r);
				continue;
			}
			for (unsigned int j = 0; j < t->nmetrics; j++)
				c->samples[j][c->n] = m[j];
			c->n++;
		}
	}
	if (tty)
		fprintf(stderr, "\r%*s\r", 60, "");
	for (unsigned int i = 0; i < n; i++) {
		struct bench_case *c = &t->cases[i];

		/* A case that failed in round 1 has no samples; else samples[m][0] is round 1. */
		for (unsigned int m = 0; m < t->nmetrics; m++) {
			c->first[m] = NAN;
			if (!t->first_apart) {
				min_median(c->samples[m], c->n, &c->min[m], &c->median[m]);
				continue;
			}
			if (c->n)
				c->first[m] = c->samples[m][0];
			min_median(c->samples[m] + (c->n ? 1 : 0), c->n ? c->n - 1 : 0,
				   &c->min[m], &c->median[m]);
		}
	}
	return 0;
}

void bench_table_free(struct bench_table *t)
{
	for (unsigned int i = 0; i < t->ncases; i++)
		for (unsigned int m = 0; m < BENCH_MAX_METRICS; m++) {
			free(t->cases[i].samples[m]);
			t->cases[i].samples[m] = NULL;
		}
}

struct bench_case *bench_table_find(struct bench_table *t, const char *key)
{
	for (unsigned int i = 0; i < t->ncases; i++)
		if (!strcmp(t->cases[i].key, key))
			return &t->cases[i];
	return NULL;
}

double bench_table_median(struct bench_table *t, const char *key, unsigned int m)
{
	struct bench_case *c = bench_table_find(t, key);

	return c && bench_case_ok(c) && m < t->nmetrics ? c->median[m] : NAN;
}

/* Numbers: 3 decimals below 10, 2 below 1000, 1 above. */
static void fmt_num(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (fabs(v) < 10)
		snprintf(buf, len, "%.3f", v);
	else if (fabs(v) < 1000)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.1f", v);
}

#define MAX_COLS (BENCH_MAX_LABELS + 3 * BENCH_MAX_METRICS + BENCH_MAX_EXTRA + 1)

/* The cells of one row, numbers right-aligned; *span: row is labels + one message. */
static unsigned int row_cells(const struct bench_table *t, const struct bench_case *c,
			      char cells[MAX_COLS][200], bool *span)
{
	unsigned int k = 0;

	for (unsigned int l = 0; l < t->nlabels; l++)
		snprintf(cells[k++], 200, "%s", c->label[l] ? c->label[l] : "");
	*span = !bench_case_ok(c);
	if (*span) {
		snprintf(cells[k++], 200, "%s", c->err ? c->why : "no measurement");
		return k;
	}
	for (unsigned int m = 0; m < t->nmetrics; m++) {
		if (t->first_apart)
			fmt_num(cells[k++], 200, c->first[m]);
		fmt_num(cells[k++], 200, c->min[m]);
		fmt_num(cells[k++], 200, c->median[m]);
	}
	for (unsigned int e = 0; e < t->nextra; e++)
		fmt_num(cells[k++], 200, c->extra[e]);
	if (t->note_name)
		snprintf(cells[k++], 200, "%s", c->note);
	return k;
}

void bench_table_print(const struct bench_table *t, FILE *f)
{
	static char cells[MAX_COLS][200];
	char head[MAX_COLS][64];
	size_t width[MAX_COLS] = { 0 };
	unsigned int ncols = 0, first_num = t->nlabels;
	bool span;

	for (unsigned int l = 0; l < t->nlabels; l++)
		snprintf(head[ncols++], 64, "%s", t->label_names[l]);
	for (unsigned int m = 0; m < t->nmetrics; m++) {
		const char *warm = t->first_apart ? " warm" : "";

		if (t->first_apart)
			snprintf(head[ncols++], 64, "%s 1st", t->metric_names[m]);
		snprintf(head[ncols++], 64, "%s%s min", t->metric_names[m], warm);
		snprintf(head[ncols++], 64, "%s%s median", t->metric_names[m], warm);
	}
	for (unsigned int e = 0; e < t->nextra; e++)
		snprintf(head[ncols++], 64, "%s", t->extra_names[e]);
	if (t->note_name)
		snprintf(head[ncols++], 64, "%s", t->note_name);
	for (unsigned int i = 0; i < ncols; i++)
		width[i] = strlen(head[i]);
	for (unsigned int i = 0; i < t->ncases; i++) {
		unsigned int k = row_cells(t, &t->cases[i], cells, &span);

		/* A spanning message does not widen the numeric columns. */
		for (unsigned int j = 0; j < (span ? k - 1 : k); j++)
			if (strlen(cells[j]) > width[j])
				width[j] = strlen(cells[j]);
	}
	for (unsigned int i = 0; i < ncols; i++)
		fprintf(f, "%s%-*s", i ? "  " : "", i == ncols - 1 ? 0 : (int)width[i], head[i]);
	fputc('\n', f);
	for (unsigned int i = 0; i < ncols; i++) {
		fprintf(f, "%s", i ? "  " : "");
		for (size_t w = 0; w < width[i]; w++)
			fputc('-', f);
	}
	fputc('\n', f);
	for (unsigned int i = 0; i < t->ncases; i++) {
		unsigned int k = row_cells(t, &t->cases[i], cells, &span);

		/* An empty last cell (no note) prints nothing, not trailing blanks. */
		if (k > 1 && !cells[k - 1][0])
			k--;
		for (unsigned int j = 0; j < k; j++) {
			bool last = j == k - 1;
			bool number = j >= first_num && !span &&
				      !(t->note_name && j == ncols - 1);

			if (number)
				fprintf(f, "%s%*s", j ? "  " : "", (int)width[j], cells[j]);
			else
				fprintf(f, "%s%-*s", j ? "  " : "", last ? 0 : (int)width[j], cells[j]);
		}
		fputc('\n', f);
	}
}

struct bench_summary {
	char bench[64];
	char line[2048];
	size_t used;
	json_object *obj;
};

struct bench_summary *bench_summary_new(const char *bench)
{
	struct bench_summary *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	snprintf(s->bench, sizeof(s->bench), "%s", bench);
	s->obj = json_object_new_object();
	return s;
}

static void summary_append(struct bench_summary *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void summary_append(struct bench_summary *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->used >= sizeof(s->line))
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->line + s->used, sizeof(s->line) - s->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->used += (size_t)n;
}

void bench_summary_str(struct bench_summary *s, const char *key, const char *val)
{
	summary_append(s, " %s=%s", key, val);
	json_object_object_add(s->obj, key, json_object_new_string(val));
}

void bench_summary_num(struct bench_summary *s, const char *key, double val, int decimals)
{
	if (isnan(val)) {
		summary_append(s, " %s=nan", key);
		json_object_object_add(s->obj, key, NULL);
		return;
	}
	summary_append(s, " %s=%.*f", key, decimals, val);
	json_object_object_add(s->obj, key, decimals ? json_object_new_double(val) :
				json_object_new_int64((int64_t)llround(val)));
}

void bench_summary_print(const struct bench_summary *s, FILE *f)
{
	fprintf(f, "bench %s:%s\n", s->bench, s->line);
	fflush(f);
}

void bench_summary_free(struct bench_summary *s)
{
	if (!s)
		return;
	json_object_put(s->obj);
	free(s);
}

static json_object *json_num(double v)
{
	return isnan(v) ? NULL : json_object_new_double(v);
}

/* Kernel, CPU model, CPUs, RAM: where the numbers were taken. */
static json_object *host_json(void)
{
	json_object *h = json_object_new_object();
	struct utsname u;
	char line[256], model[256] = "";
	FILE *f = fopen("/proc/cpuinfo", "r");
	time_t now = time(NULL);
	char date[32];

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) == 0)
		json_object_object_add(h, "kernel", json_object_new_string(u.release));
	json_object_object_add(h, "cpu", json_object_new_string(model));
	json_object_object_add(h, "cpus", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(h, "ram_bytes",
			       json_object_new_int64((int64_t)sysconf(_SC_PHYS_PAGES) *
						     sysconf(_SC_PAGESIZE)));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_object_add(h, "date", json_object_new_string(date));
	return h;
}

static json_object *table_json(const struct bench_table *t)
{
	json_object *cases = json_object_new_array();

	for (unsigned int i = 0; i < t->ncases; i++) {
		const struct bench_case *c = &t->cases[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(c->key));
		for (unsigned int l = 0; l < t->nlabels; l++)
			json_object_object_add(o, t->label_names[l],
					       json_object_new_string(c->label[l] ? c->label[l] : ""));
		json_object_object_add(o, "ok", json_object_new_boolean(bench_case_ok(c)));
		if (!bench_case_ok(c))
			json_object_object_add(o, "error", json_object_new_string(c->why));
		for (unsigned int m = 0; m < t->nmetrics; m++) {
			json_object *mo = json_object_new_object();
			json_object *samples = json_object_new_array();

			for (unsigned int s = 0; s < c->n; s++)
				json_object_array_add(samples, json_num(c->samples[m][s]));
			if (t->first_apart)
				json_object_object_add(mo, "first", json_num(c->first[m]));
			json_object_object_add(mo, "min", json_num(c->min[m]));
			json_object_object_add(mo, "median", json_num(c->median[m]));
			json_object_object_add(mo, "samples", samples);
			json_object_object_add(o, t->metric_names[m], mo);
		}
		for (unsigned int e = 0; e < t->nextra; e++)
			json_object_object_add(o, t->extra_names[e], json_num(c->extra[e]));
		if (t->note_name)
			json_object_object_add(o, t->note_name, json_object_new_string(c->note));
		json_object_array_add(cases, o);
	}
	return cases;
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s, bool first)
{
	if (!first)
		fputc(',', f);
	if (!strpbrk(s, ",\"\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
	if (isnan(v))
		fputc(',', f);
	else
		fprintf(f, ",%.4f", v);
}

static void write_csv(FILE *f, const struct bench_table *t)
{
	char name[80];

	for (unsigned int l = 0; l < t->nlabels; l++)
		csv_field(f, t->label_names[l], l == 0);
	for (unsigned int m = 0; m < t->nmetrics; m++) {
		if (t->first_apart) {
			snprintf(name, sizeof(name), "%s 1st", t->metric_names[m]);
			csv_field(f, name, false);
		}
		snprintf(name, sizeof(name), "%s min", t->metric_names[m]);
		csv_field(f, name, false);
		snprintf(name, sizeof(name), "%s median", t->metric_names[m]);
		csv_field(f, name, false);
	}
	for (unsigned int e = 0; e < t->nextra; e++)
		csv_field(f, t->extra_names[e], false);
	if (t->note_name)
		csv_field(f, t->note_name, false);
	csv_field(f, "status", false);
	fputc('\n', f);
	for (unsigned int i = 0; i < t->ncases; i++) {
		const struct bench_case *c = &t->cases[i];
		bool ok = bench_case_ok(c);

		for (unsigned int l = 0; l < t->nlabels; l++)
			csv_field(f, c->label[l] ? c->label[l] : "", l == 0);
		for (unsigned int m = 0; m < t->nmetrics; m++) {
			if (t->first_apart)
				csv_num(f, ok ? c->first[m] : NAN);
			csv_num(f, ok ? c->min[m] : NAN);
			csv_num(f, ok ? c->median[m] : NAN);
		}
		for (unsigned int e = 0; e < t->nextra; e++)
			csv_num(f, ok ? c->extra[e] : NAN);
		if (t->note_name)
			csv_field(f, c->note, false);
		csv_field(f, ok ? "ok" : c->why, false);
		fputc('\n', f);
	}
}

int bench_write_output(const char *path, const struct bench_table *t,
		       const struct bench_summary *s, json_object *opts)
{
	const struct bench_table *one[] = { t };

	return bench_write_outputs(path, one, 1, s, opts);
}

int bench_write_outputs(const char *path, const struct bench_table *const *t, unsigned int nt,
			const struct bench_summary *s, json_object *opts)
{
	size_t len = strlen(path);
	FILE *f;
	int ret = 0;

	if (!nt)
		return -EINVAL;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (len >= 4 && !strcmp(path + len - 4, ".csv")) {
		for (unsigned int i = 0; i < nt; i++) {
			if (i)
				fputc('\n', f);
			write_csv(f, t[i]);
		}
	} else {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "bench", json_object_new_string(t[0]->bench));
		json_object_object_add(root, "host", host_json());
		json_object_object_add(root, "options", json_object_get(opts));
		json_object_object_add(root, "repeat", json_object_new_int((int)t[0]->repeat));
		if (t[0]->first_apart)
			json_object_object_add(root, "first_round_apart",
					       json_object_new_boolean(true));
		json_object_object_add(root, "cases", table_json(t[0]));
		for (unsigned int i = 1; i < nt; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "repeat", json_object_new_int((int)t[i]->repeat));
			json_object_object_add(o, "first_round_apart",
					       json_object_new_boolean(t[i]->first_apart));
			json_object_object_add(o, "cases", table_json(t[i]));
			json_object_object_add(root, t[i]->json_key ? t[i]->json_key : "more", o);
		}
		if (s)
			json_object_object_add(root, "summary", json_object_get(s->obj));
		fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	}
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}
