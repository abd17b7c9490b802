// SPDX-License-Identifier: MIT
/*
 * memvmm-bench <name> [options]: dispatch, common options, help.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bench/bench.h"
#include "mem/populate.h"
#include "vmm/options.h"
#include "bench/stats.h"
#include "mem/kvm_compat.h"

#define MAX_THREADS 64u

static const struct {
	const char *name;
	int (*run)(const struct bench_opts *o);
	const char *help;
} benches[] = {
	{ "populate-table", bench_populate_table,
	  "MADV_POPULATE table (private/shared x backing x operation x size);\n"
	  "                  --size default 1G" },
	{ "gmem-fill", bench_gmem_fill,
	  "fill guest_memfd from a buffer: memcpy, populate+memcpy, write(),\n"
	  "                  mem_populate auto, UFFDIO_COPY/MOVE, floor; --size default 3G" },
	{ "guest-touch", bench_guest_touch,
	  "memvmm run per backend x populate, guest touches --size (default 512M)" },
	{ "vs-qemu", bench_vs_qemu,
	  "QEMU memory-backend-memfd prealloc=on/off vs memvmm populate=auto/none;\n"
	  "                  --size default 1G" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memvmm-bench NAME [OPTIONS]\n"
		"\n"
		"Benchmarks of guest memory population. Each prints a table (min and\n"
		"median ms over repeats run interleaved: every round runs each case once)\n"
		"and ends with one line 'bench NAME: key=value ...'.\n"
		"\n"
		"Benchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-15s %s\n", benches[i].name, benches[i].help);
	fprintf(f,
		"\n"
		"Options:\n"
		"  --repeat N      rounds, 1..%u (default 5)\n"
		"  --size SIZE     memory size, K/M/G suffixes, a multiple of 4K\n"
		"  --out FILE      write results: CSV if FILE ends in .csv, else JSON\n"
		"  --threads N     threads for the multithreaded cases, 1..%u\n"
		"                  (default: online CPUs)\n"
		"  -h, --help      this text\n"
		"\n"
		"Environment: MEMVMM overrides the memvmm binary (guest-touch, vs-qemu).\n"
		"Exit status: 0, 1 when a benchmark failed or produced wrong data,\n"
		"2 for bad input.\n",
		BENCH_MAX_REPEAT, MAX_THREADS);
}

static int parse_uint(const char *s, unsigned int lo, unsigned int hi, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}


void bench_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	unsigned int i = 0;

	if (!bytes || bytes % 1024) {
		snprintf(buf, len, "%lu", bytes);
		return;
	}
	bytes /= 1024;
	while (i < 3 && bytes % 1024 == 0) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, "%lu%c", bytes, suffix[i]);
}

struct json_object *bench_opts_json(const struct bench_opts *o, uint64_t size)
{
	json_object *j = json_object_new_object();
	char s[32];

	bench_fmt_size(size, s, sizeof(s));
	json_object_object_add(j, "repeat", json_object_new_int((int)o->repeat));
	json_object_object_add(j, "size", json_object_new_string(s));
	json_object_object_add(j, "size_bytes", json_object_new_int64((int64_t)size));
	json_object_object_add(j, "threads", json_object_new_int((int)o->threads));
	return j;
}

unsigned int bench_online_cpus(void)
{
	return mem_online_cpus();
}

int bench_kvm_vm(int *kvm_fd)
{
	int vm, ret;

	*kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (*kvm_fd < 0)
		return -errno;
	do {
		vm = ioctl(*kvm_fd, KVM_CREATE_VM, KVM_X86_DEFAULT_VM);
	} while (vm < 0 && errno == EINTR);
	if (vm < 0) {
		ret = -errno;
		close(*kvm_fd);
		*kvm_fd = -1;
		return ret;
	}
	return vm;
}

/* "--opt VALUE" or "--opt=VALUE": the value, advancing *i; NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (!strncmp(argv[*i], opt, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (strcmp(argv[*i], opt))
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "memvmm-bench: %s needs a value\n", opt);
		exit(2);
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .repeat = 5, .threads = bench_online_cpus() };
	const char *name = NULL, *v;
	int (*run)(const struct bench_opts *) = NULL;

	if (o.threads > MAX_THREADS)
		o.threads = MAX_THREADS;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if ((v = opt_value(argc, argv, &i, "--repeat"))) {
			if (parse_uint(v, 1, BENCH_MAX_REPEAT, &o.repeat)) {
				fprintf(stderr, "memvmm-bench: invalid --repeat '%s' (1..%u)\n",
					v, BENCH_MAX_REPEAT);
				return 2;
			}
		} else if ((v = opt_value(argc, argv, &i, "--size"))) {
			if (options_parse_size(v, &o.size) || o.size < 4096 || o.size % 4096) {
				fprintf(stderr, "memvmm-bench: invalid --size '%s' "
					"(a multiple of 4K, e.g. 512M, 3G)\n", v);
				return 2;
			}
		} else if ((v = opt_value(argc, argv, &i, "--out"))) {
			if (!*v) {
				fprintf(stderr, "memvmm-bench: invalid --out '' (a file name)\n");
				return 2;
			}
			o.out = v;
		} else if ((v = opt_value(argc, argv, &i, "--threads"))) {
			if (parse_uint(v, 1, MAX_THREADS, &o.threads)) {
				fprintf(stderr, "memvmm-bench: invalid --threads '%s' (1..%u)\n",
					v, MAX_THREADS);
				return 2;
			}
			o.threads_set = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "memvmm-bench: unknown option '%s' (see --help)\n", argv[i]);
			return 2;
		} else if (name) {
			fprintf(stderr, "memvmm-bench: unexpected argument '%s' "
				"(one benchmark per run)\n", argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!strcmp(name, benches[i].name))
			run = benches[i].run;
	if (!run) {
		fprintf(stderr, "memvmm-bench: unknown benchmark '%s' (populate-table, "
			"gmem-fill, guest-touch, vs-qemu)\n", name);
		return 2;
	}
	/* Tables go to a pipe or file as they are printed, line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return run(&o);
}
