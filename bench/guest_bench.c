// SPDX-License-Identifier: MIT
/*
 * vmem-plug's and balloon's scaffolding around their guest runs
 * (guest_bench.h).
 */
#include "bench/guest_bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/stats.h"

#ifndef MEMVMM_GUEST_ELF
#define MEMVMM_GUEST_ELF ""
#endif

void guest_host_find(struct guest_host *h, uint64_t hp_pages)
{
	const char *env = getenv("MEMVMM_GUEST");

	h->kvm = access("/dev/kvm", R_OK | W_OK) == 0;
	h->memvmm_err = h->kvm ? bench_memvmm_path(h->memvmm, sizeof(h->memvmm)) : 0;
	h->have_qemu = bench_find_qemu(h->qemu, sizeof(h->qemu));
	snprintf(h->guest, sizeof(h->guest), "%s", env && *env ? env : MEMVMM_GUEST_ELF);
	h->have_guest = h->guest[0] && access(h->guest, R_OK) == 0;
	h->hp_pages = hp_pages;
	h->hp_err = bench_hugepages_reserve(h->hp_pages);
	h->meter = guest_meter_choose(h->meter_why, sizeof(h->meter_why));
}

void guest_host_print(const struct guest_host *h, const char *hugetlb_label, const char *tail)
{
	printf("host memory: %s, a group made and removed per run with the child inside%s%s%s;\n"
	       "       %s: %s%s\n", guest_meter_name(h->meter),
	       h->meter_why[0] ? " (no memory cgroup: " : "", h->meter_why,
	       h->meter_why[0] ? ")" : "", hugetlb_label, guest_meter_name(GUEST_METER_HUGETLB),
	       tail);
	if (!h->kvm)
		printf("memvmm rows: skipped, no /dev/kvm on this host (memvmm needs KVM)\n");
	if (!h->have_qemu)
		printf("qemu rows: skipped, qemu-system-x86_64 is not installed (not in PATH)\n");
	else
		printf("qemu rows: accel=%s\n", h->kvm ? "kvm" : "tcg (no KVM: not comparable with "
		       "memvmm's KVM rows)");
	putchar('\n');
}

void guest_host_summary(const struct guest_host *h, struct bench_summary *s)
{
	bench_summary_str(s, "memvmm", h->kvm ? "kvm" : "no_kvm");
	bench_summary_str(s, "qemu", !h->have_qemu ? "absent" : h->kvm ? "kvm" : "tcg");
	bench_summary_str(s, "meter", h->meter == GUEST_METER_MEMCG ? "memcg" : "rss");
}

void guest_skip(int *skip_err, char *skip_why, size_t len, int err, const char *why)
{
	if (*skip_err)
		return;
	*skip_err = err;
	snprintf(skip_why, len, "%s", why);
}

int guest_case_skipped(struct bench_case *c, int skip_err, const char *skip_why)
{
	if (!skip_err)
		return 0;
	snprintf(c->why, sizeof(c->why), "%s", skip_why);
	c->why_is_message = true;
	return skip_err;
}

int guest_case_ran(struct bench_case *c, int ret, const char *sock, const char *why, char *fail,
		   size_t fail_len)
{
	snprintf(c->why, sizeof(c->why), "%s", why);
	c->why_is_message = true;
	if (sock && unlink(sock) < 0 && errno != ENOENT && !ret)
		ret = -errno;
	if (ret && ret != -EOPNOTSUPP)
		snprintf(fail, fail_len, "%s", why);
	return ret;
}

int guest_vals_alloc(double **val, unsigned int nvals, unsigned int repeat)
{
	for (unsigned int k = 0; k < nvals; k++) {
		val[k] = malloc(repeat * sizeof(double));
		if (!val[k])
			return -ENOMEM;
		for (unsigned int r = 0; r < repeat; r++)
			val[k][r] = NAN;
	}
	return 0;
}

void guest_vals_free(double **val, unsigned int nvals)
{
	for (unsigned int k = 0; k < nvals; k++) {
		free(val[k]);
		val[k] = NULL;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void guest_min_median(const double *v, unsigned int n, double *min, double *median)
{
	double sorted[BENCH_MAX_REPEAT];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		if (!isnan(v[i]))
			sorted[k++] = v[i];
	*min = *median = NAN;
	if (!k)
		return;
	qsort(sorted, k, sizeof(sorted[0]), cmp_double);
	*min = sorted[0];
	*median = k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
}

int guest_sock_dir(const char *bench, char *dir, size_t dir_len, char *sock, size_t sock_len)
{
	int ret;

	snprintf(dir, dir_len, "/tmp/memvmm-%s-XXXXXX", bench);
	if (!mkdtemp(dir)) {
		ret = -errno;
		fprintf(stderr, "%s: mkdtemp %s: %s\n", bench, dir, strerror(-ret));
		dir[0] = '\0';
		return ret;
	}
	snprintf(sock, sock_len, "%s/api.sock", dir);
	return 0;
}

void guest_sock_dir_remove(const char *bench, const char *dir)
{
	if (dir[0] && rmdir(dir) < 0)
		fprintf(stderr, "%s: rmdir %s: %s\n", bench, dir, strerror(errno));
}
