// SPDX-License-Identifier: MIT
/*
 * vs-qemu: the same amount of memory preallocated by QEMU
 * (memory-backend-memfd, prealloc=on, prealloc-threads=N) and populated by
 * memvmm (populate=auto), each against its own run without population, so
 * that the differences are the population cost without the fixed start-up.
 *
 * QEMU starts paused (-S) with QMP on stdio and is told to quit: by the
 * time it reads QMP, the machine, and so the preallocated RAM, is set up.
 * memvmm boots its test guest with 'exit=0', which exits at once.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"

#define VQ_DEFAULT_BYTES (1ull << 30)
#define VQ_TIMEOUT_S     300.0
#define VQ_QMP_QUIT      "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n"

enum vq_kind { VQ_QEMU, VQ_MEMVMM };

struct vq_case {
	enum vq_kind kind;
	char *argv[24];
	char path[PATH_MAX];
	char args[6][256];     /* storage for the variable arguments */
};

static int vq_run(struct bench_case *c, double *metrics)
{
	struct vq_case *v = c->ctx;
	struct proc_result r;
	int ret;

	ret = proc_run(v->argv, v->kind == VQ_QEMU ? VQ_QMP_QUIT : NULL, VQ_TIMEOUT_S, &r);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "running %.180s", v->argv[0]);
		proc_result_free(&r);
		return ret;
	}
	if (v->kind == VQ_MEMVMM) {
		ret = bench_memvmm_refusal(&r, c->why, sizeof(c->why));
		if (ret)
			c->why_is_message = true;
		metrics[1] = bench_memvmm_populated_ms(r.err);
	} else if (r.timed_out || !WIFEXITED(r.status) || WEXITSTATUS(r.status) ||
		   !strstr(r.out, "host-qmp-quit")) {
		char line[200];

		proc_last_line(r.err[0] ? r.err : r.out, line, sizeof(line));
		snprintf(c->why, sizeof(c->why), "qemu %s: %.150s",
			 r.timed_out ? "timed out" : "did not quit cleanly", line);
		c->why_is_message = true;
		ret = -EIO;
	}
	metrics[0] = r.wall_ms;
	proc_result_free(&r);
	return ret;
}

bool bench_find_qemu(char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/qemu-system-x86_64", d);
		if (access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

static void qemu_case(struct vq_case *v, const char *qemu, const char *sz, bool prealloc,
		      unsigned int threads)
{
	unsigned int k = 0;

	*v = (struct vq_case){ .kind = VQ_QEMU };
	snprintf(v->path, sizeof(v->path), "%s", qemu);
	snprintf(v->args[1], sizeof(v->args[1]), "%s", sz);
	snprintf(v->args[2], sizeof(v->args[2]),
		 "memory-backend-memfd,id=m0,size=%s,prealloc=%s,prealloc-threads=%u",
		 sz, prealloc ? "on" : "off", threads);
	v->argv[k++] = v->path;
	v->argv[k++] = "-machine";
	v->argv[k++] = "q35,accel=kvm";
	v->argv[k++] = "-m";
	v->argv[k++] = v->args[1];
	v->argv[k++] = "-object";
	v->argv[k++] = v->args[2];
	v->argv[k++] = "-machine";
	v->argv[k++] = "memory-backend=m0";
	v->argv[k++] = "-nographic";
	v->argv[k++] = "-nodefaults";
	v->argv[k++] = "-S";
	v->argv[k++] = "-display";
	v->argv[k++] = "none";
	v->argv[k++] = "-qmp";
	v->argv[k++] = "stdio";
	v->argv[k] = NULL;
}

static void memvmm_case(struct vq_case *v, const char *memvmm, const char *sz,
			const char *backend, const char *populate, const char *threads)
{
	unsigned int k = 0;

	*v = (struct vq_case){ .kind = VQ_MEMVMM };
	snprintf(v->path, sizeof(v->path), "%s", memvmm);
	snprintf(v->args[1], sizeof(v->args[1]), "size=%s%s%s,populate=%s%s", sz,
		 backend ? ",backend=" : "", backend ? backend : "", populate, threads);
	v->argv[k++] = v->path;
	v->argv[k++] = "run";
	v->argv[k++] = "--memory";
	v->argv[k++] = v->args[1];
	v->argv[k++] = "--cmdline";
	v->argv[k++] = "exit=0";
	v->argv[k] = NULL;
}

/* a - b over min and median, printed; the median difference is returned. */
static double print_diff(struct bench_table *t, const char *what, const char *a, const char *b)
{
	struct bench_case *ca = bench_table_find(t, a), *cb = bench_table_find(t, b);

	if (!ca || !cb || !bench_case_ok(ca) || !bench_case_ok(cb)) {
		printf("%-48s  -\n", what);
		return NAN;
	}
	printf("%-48s  min %8.1f ms   median %8.1f ms\n", what, ca->min[0] - cb->min[0],
	       ca->median[0] - cb->median[0]);
	return ca->median[0] - cb->median[0];
}

int bench_vs_qemu(const struct bench_opts *o)
{
	uint64_t size = o->size ? o->size : VQ_DEFAULT_BYTES;
	struct bench_case cases[6];
	struct vq_case vcs[6];
	struct bench_table t = {
		.bench = "vs-qemu",
		.nlabels = 2, .label_names = { "program", "memory" },
		.nmetrics = 2, .metric_names = { "wall ms", "reported populate ms" },
		.repeat = o->repeat,
	};
	static const struct {
		const char *program, *memory, *key, *backend, *populate;
		bool qemu, prealloc;
	} rows[] = {
		{ "qemu", "memfd prealloc=on", "qemu_on", NULL, NULL, true, true },
		{ "qemu", "memfd prealloc=off", "qemu_off", NULL, NULL, true, false },
		{ "memvmm", "default backend populate=auto", "memvmm_auto", NULL, "auto", false, false },
		{ "memvmm", "default backend populate=none", "memvmm_none", NULL, "none", false, false },
		{ "memvmm", "memfd populate=auto", "memvmm_memfd_auto", "memfd", "auto", false, false },
		{ "memvmm", "memfd populate=none", "memvmm_memfd_none", "memfd", "none", false, false },
	};
	struct bench_summary *s = bench_summary_new("vs-qemu");
	char qemu[PATH_MAX], memvmm[PATH_MAX], sz[32], threads[32] = "";
	double qcost, mcost, mcost_memfd;
	int status = 0, ret;

	if (!s)
		return 1;
	bench_fmt_size(size, sz, sizeof(sz));
	if (!bench_find_qemu(qemu, sizeof(qemu))) {
		printf("vs-qemu: qemu-system-x86_64 is not installed (not in PATH); skipped\n");
		bench_summary_str(s, "size", sz);
		bench_summary_num(s, "skipped", 1, 0);
		bench_summary_print(s, stdout);
		bench_summary_free(s);
		return 0;
	}
	if (bench_memvmm_path(memvmm, sizeof(memvmm))) {
		bench_summary_free(s);
		return 1;
	}
	if (o->threads_set)
		snprintf(threads, sizeof(threads), ",populate-threads=%u", o->threads);
	for (unsigned int i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].qemu)
			qemu_case(&vcs[i], qemu, sz, rows[i].prealloc, o->threads);
		else
			memvmm_case(&vcs[i], memvmm, sz, rows[i].backend, rows[i].populate, threads);
		cases[i] = (struct bench_case){ .label = { rows[i].program, rows[i].memory },
						.run = vq_run, .ctx = &vcs[i] };
		snprintf(cases[i].key, sizeof(cases[i].key), "%s", rows[i].key);
	}
	t.cases = cases;
	t.ncases = sizeof(rows) / sizeof(rows[0]);

	printf("vs-qemu: %s of RAM, %u interleaved rounds\n", sz, o->repeat);
	for (unsigned int i = 0; i < t.ncases; i++) {
		printf("  %-7s", rows[i].program);
		for (char **a = vcs[i].argv; *a; a++)
			printf(" %s", *a);
		printf("%s\n", rows[i].qemu ? "  < qmp_capabilities, quit" : "");
	}
	putchar('\n');
	ret = bench_table_run(&t);
	if (ret) {
		status = 1;
		goto out;
	}
	for (unsigned int i = 0; i < t.ncases; i++)
		if (cases[i].err && cases[i].err_round > 0)
			status = 1;
	bench_table_print(&t, stdout);
	putchar('\n');
	printf("population cost (difference of wall times):\n");
	qcost = print_diff(&t, "  qemu prealloc=on - prealloc=off", "qemu_on", "qemu_off");
	mcost = print_diff(&t, "  memvmm populate=auto - none (default backend)",
			   "memvmm_auto", "memvmm_none");
	mcost_memfd = print_diff(&t, "  memvmm memfd populate=auto - none",
				 "memvmm_memfd_auto", "memvmm_memfd_none");

	bench_summary_str(s, "size", sz);
	bench_summary_num(s, "threads", o->threads, 0);
	bench_summary_num(s, "qemu_on_ms", bench_table_median(&t, "qemu_on", 0), 1);
	bench_summary_num(s, "qemu_off_ms", bench_table_median(&t, "qemu_off", 0), 1);
	bench_summary_num(s, "memvmm_auto_ms", bench_table_median(&t, "memvmm_auto", 0), 1);
	bench_summary_num(s, "memvmm_none_ms", bench_table_median(&t, "memvmm_none", 0), 1);
	bench_summary_num(s, "qemu_prealloc_ms", qcost, 1);
	bench_summary_num(s, "memvmm_populate_ms", mcost, 1);
	bench_summary_num(s, "memvmm_reported_populate_ms",
			  bench_table_median(&t, "memvmm_auto", 1), 1);
	bench_summary_num(s, "ratio", qcost / mcost, 2);
	bench_summary_num(s, "memvmm_memfd_populate_ms", mcost_memfd, 1);
	bench_summary_num(s, "ratio_memfd", qcost / mcost_memfd, 2);
	if (o->out) {
		json_object *opts = bench_opts_json(o, size);

		ret = bench_write_output(o->out, &t, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "vs-qemu: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	bench_table_free(&t);
	bench_summary_free(s);
	return status;
}
