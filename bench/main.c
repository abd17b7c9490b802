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

#include "bench/balloon.h"
#include "bench/bench.h"
#include "bench/pageout.h"
#include "bench/restore.h"
#include "mem/populate.h"
#include "vmm/cli.h"
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
	  "THP table (anon/memfd x thp on/off x write touch/POPULATE_WRITE,\n"
	  "                  huge-page share, round 1 apart), then the MADV_POPULATE\n"
	  "                  table (private/shared x backing x operation x size);\n"
	  "                  --size default 1G" },
	{ "gmem-fill", bench_gmem_fill,
	  "fill guest_memfd from a buffer: memcpy, populate+memcpy, write(),\n"
	  "                  mem_populate auto, UFFDIO_COPY/MOVE, floor; --size default 3G" },
	{ "guest-touch", bench_guest_touch,
	  "memvmm run per backend x thp on/off x populate none/madvise (round 1\n"
	  "                  apart, huge-page share), then per backend x populate;\n"
	  "                  the guest touches --size (default 512M)" },
	{ "vs-qemu", bench_vs_qemu,
	  "QEMU memory-backend-memfd prealloc=on/off vs memvmm populate=auto/none;\n"
	  "                  --size default 1G" },
	{ "vmem-plug", bench_vmem_plug,
	  "the test guest plugs, touches and unplugs --size (default 1G, a multiple\n"
	  "                  of 128M) of virtio-mem: memvmm per backend x populate,\n"
	  "                  mem_populate() alone, QEMU virtio-mem-pci prealloc=on/off;\n"
	  "                  host memory before/after (memory cgroup)" },
	{ "pageout", bench_pageout,
	  "MADV_PAGEOUT of --size (default 256M) of anon memory, 4K pages vs 64K\n"
	  "                  mTHP, zero and pattern fill, swap set up for the run;\n"
	  "                  and a paused memvmm guest's anon RAM (ctl pageout)" },
	{ "balloon", bench_balloon,
	  "the test guest inflates and deflates --size (default 1G, a multiple\n"
	  "                  of 2M) through virtio-balloon: memvmm per backend, QEMU\n"
	  "                  virtio-balloon-pci (anon, memfd RAM); GiB/s, host memory\n"
	  "                  returned (memory cgroup)" },
	{ "restore", bench_restore,
	  "snapshot restore per --size (default 256M,1G,4G; a comma list):\n"
	  "                  A: mem/'s methods per backend (eager write(), populate+copy,\n"
	  "                  read+memcpy baseline, map, lazy-copy/move/minor), no VM;\n"
	  "                  B (KVM): memvmm --restore per mode, the test guest" },
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
		"                  (restore: also a comma list, e.g. 256M,1G)\n"
		"  --cold          restore: drop the snapshot files from the page cache\n"
		"                  before each round (default: warm, as just written)\n"
		"  --out FILE      write results: CSV if FILE ends in .csv, else JSON\n"
		"  --threads N     threads for the multithreaded cases, 1..%u\n"
		"                  (default: online CPUs)\n"
		"  -h, --help      this text\n"
		"\n"
		"Environment: MEMVMM overrides the memvmm binary (guest-touch, vs-qemu,\n"
		"vmem-plug, balloon, restore); MEMVMM_GUEST the test guest's ELF that\n"
		"vmem-plug and balloon boot in QEMU.\n"
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

enum bench_option { OPT_REPEAT = CLI_FIRST_ID, OPT_SIZE, OPT_OUT, OPT_THREADS, OPT_COLD };

static const struct cli_option bench_options[] = {
	{ "repeat", OPT_REPEAT, true },
	{ "size", OPT_SIZE, true },
	{ "out", OPT_OUT, true },
	{ "threads", OPT_THREADS, true },
	{ "cold", OPT_COLD, false },
	{ NULL, 0, false },
};

static int bench_option(struct bench_opts *o, int id, const char *v, char *err, size_t errlen)
{
	switch (id) {
	case OPT_REPEAT:
		if (parse_uint(v, 1, BENCH_MAX_REPEAT, &o->repeat))
			return cli_fail(err, errlen, "invalid --repeat '%s' (1..%u)", CLI_ECHO(v),
					BENCH_MAX_REPEAT);
		bench_restore_opts.repeat_given = true;
		return 0;
	case OPT_SIZE:
		/* A comma list: restore only (refused for the others once the name is known). */
		if (strchr(v, ',')) {
			if (bench_size_list_parse(v, &o->size))
				return cli_fail(err, errlen, "invalid --size '%s' (sizes, "
						"multiples of 4K, comma-separated)", CLI_ECHO(v));
			bench_restore_opts.size_list = v;
			return 0;
		}
		if (options_parse_size(v, &o->size) || o->size < 4096 || o->size % 4096)
			return cli_fail(err, errlen, "invalid --size '%s' "
					"(a multiple of 4K, e.g. 512M, 3G)", CLI_ECHO(v));
		return 0;
	case OPT_OUT:
		if (!*v)
			return cli_fail(err, errlen, "invalid --out '' (a file name)");
		o->out = v;
		return 0;
	case OPT_THREADS:
		if (parse_uint(v, 1, MAX_THREADS, &o->threads))
			return cli_fail(err, errlen, "invalid --threads '%s' (1..%u)", CLI_ECHO(v),
					MAX_THREADS);
		o->threads_set = true;
		return 0;
	case OPT_COLD:
		bench_restore_opts.cold = true;
		return 0;
	default:
		return cli_fail(err, errlen, "internal error: option %d", id);
	}
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .repeat = 5, .threads = bench_online_cpus() };
	const char *name = NULL, *v;
	int (*run)(const struct bench_opts *) = NULL;
	char err[256];
	struct cli c;
	int ret;

	if (o.threads > MAX_THREADS)
		o.threads = MAX_THREADS;
	ret = cli_begin(&c, argc, argv, bench_options, "see --help", err, sizeof(err));
	while (!ret && (ret = cli_next(&c, &v)) > 0) {
		if (ret == CLI_HELP) {
			usage(stdout);
			return 0;
		}
		if (ret != CLI_ARG) {
			ret = bench_option(&o, ret, v, err, sizeof(err));
		} else if (name) {
			ret = cli_fail(err, sizeof(err), "unexpected argument '%s' "
				       "(one benchmark per run)", CLI_ECHO(v));
		} else {
			name = v;
			ret = 0;
		}
	}
	if (ret) {
		fprintf(stderr, "memvmm-bench: %s\n", err);
		return 2;
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
			"gmem-fill, guest-touch, vs-qemu, vmem-plug, pageout, balloon, restore)\n",
			CLI_ECHO(name));
		return 2;
	}
	if (run != bench_restore && (bench_restore_opts.size_list || bench_restore_opts.cold)) {
		fprintf(stderr, "memvmm-bench: %s takes neither a --size list nor --cold "
			"(restore only)\n", CLI_ECHO(name));
		return 2;
	}
	/* Tables go to a pipe or file as they are printed, line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return run(&o);
}
