// SPDX-License-Identifier: MIT
/*
 * Command-line parsing. Options take "--opt VALUE" or "--opt=VALUE"; option
 * groups (--memory) are comma-separated key=value lists, as in Cloud
 * Hypervisor. Every error names the offending value.
 */
#include "vmm/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mem/mem.h"
#include "mem/populate.h"

const char options_run_help[] =
	"usage: memvmm run [OPTIONS]\n"
	"\n"
	"Boot a PVH guest (by default the bundled test guest) and exit with its status.\n"
	"\n"
	"  --kernel FILE      ELF64 kernel with a PVH entry note (default: bundled test guest)\n"
	"  --initrd FILE      module passed to the guest (placed at the top of low RAM)\n"
	"  --cmdline STR      guest command line (test guest: its workload, e.g.\n"
	"                     'touch=64M verify report')\n"
	"  --vcpus N          number of vCPUs, 1..255 (default 1)\n"
	"  --memory GROUP     comma-separated key=value list:\n"
	"                       size=SIZE       RAM size, K/M/G/T suffixes (default 256M)\n"
	"                       backend=NAME    guest_memfd | memfd | anon | hugetlb\n"
	"                                       (default guest_memfd, memfd if unsupported)\n"
	"                       populate=HOW    auto | none | fallocate | madvise | write:\n"
	"                                       how RAM is backed before the guest runs\n"
	"                                       (default auto: the fastest this host offers)\n"
	"                       populate-threads=N  threads for populating, 1..64\n"
	"                                       (default: online CPUs, one per 64M at most)\n"
	"                       prefault=MODE   auto | on | off: KVM_PRE_FAULT_MEMORY over\n"
	"                                       RAM before the guest runs (default auto)\n"
	"  --debug            log unclaimed port/MMIO accesses (rate-limited) to stderr\n"
	"  --quiet            no summary line on stderr\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: the guest's (exit device, port 0x501), 0 on i8042 reset, 1 on a\n"
	"triple fault or VMM error, 2 for bad command-line input, 128+N on signal N.\n";

const char options_probe_help[] =
	"usage: memvmm probe [--json]\n"
	"\n"
	"Print what this host's kernel offers memvmm, one row per feature: supported\n"
	"(yes/no), a raw value and a detail (for a no, the errno or what is missing).\n"
	"Besides the KVM capabilities, features are tried on scratch VMs, vCPUs and\n"
	"mappings: guest_memfd and its MMAP/INIT_SHARED flags, write() on guest_memfd,\n"
	"KVM_PRE_FAULT_MEMORY, MADV_POPULATE_READ/WRITE, MADV_PAGEOUT and swap,\n"
	"userfaultfd (COPY, MOVE, MINOR_SHMEM, WP, on guest_memfd), dirty logging on\n"
	"guest_memfd and anonymous slots, THP/mTHP settings, free 2M huge pages and\n"
	"VM types.\n"
	"\n"
	"  --json       the same rows as JSON: {\"features\":[{feature, supported, value, detail}]}\n"
	"  -h, --help   this text\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int options_parse_size(const char *s, uint64_t *out)
{
	uint64_t val = 0, mult = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = (unsigned int)(*p - '0');

		if (val > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		val = val * 10 + digit;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k': case 'K':
		mult = 1ull << 10;
		break;
	case 'm': case 'M':
		mult = 1ull << 20;
		break;
	case 'g': case 'G':
		mult = 1ull << 30;
		break;
	case 't': case 'T':
		mult = 1ull << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*p && p[1])
		return -EINVAL;
	if (val > UINT64_MAX / mult)
		return -ERANGE;
	*out = val * mult;
	return 0;
}

static int parse_memory_group(const char *group, struct run_config *cfg,
			      char *err, size_t errlen)
{
	char buf[256], *save = NULL, *item;

	if (strlen(group) >= sizeof(buf))
		return fail(err, errlen, "--memory value is too long: '%.40s...'", group);
	if (!*group)
		return fail(err, errlen, "--memory needs key=value pairs (e.g. size=1G,backend=memfd)");
	strcpy(buf, group);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *val = strchr(item, '=');

		if (!val)
			return fail(err, errlen, "--memory: '%s' is not key=value", item);
		*val++ = '\0';
		if (!strcmp(item, "size")) {
			int ret = options_parse_size(val, &cfg->mem_size);

			if (ret == -ERANGE)
				return fail(err, errlen, "--memory: size '%s' is too large", val);
			if (ret)
				return fail(err, errlen,
					    "--memory: invalid size '%s' (use e.g. 512M, 4G)", val);
		} else if (!strcmp(item, "backend")) {
			cfg->backend = mem_backend_find(val);
			if (!cfg->backend)
				return fail(err, errlen,
					    "--memory: unknown backend '%s' (guest_memfd, memfd, anon, hugetlb)",
					    val);
		} else if (!strcmp(item, "populate")) {
			if (mem_populate_parse(val, &cfg->populate))
				return fail(err, errlen, "--memory: unknown populate '%s' "
					    "(auto, none, fallocate, madvise, write)", val);
		} else if (!strcmp(item, "populate-threads")) {
			uint64_t n;

			if (strpbrk(val, "kKmMgGtT") || options_parse_size(val, &n) ||
			    n < 1 || n > MEM_POPULATE_MAX_THREADS)
				return fail(err, errlen, "--memory: invalid populate-threads '%s' "
					    "(1..%u)", val, MEM_POPULATE_MAX_THREADS);
			cfg->populate_threads = (unsigned int)n;
		} else if (!strcmp(item, "prefault")) {
			if (mem_prefault_parse(val, &cfg->prefault))
				return fail(err, errlen, "--memory: unknown prefault '%s' "
					    "(auto, on, off)", val);
		} else {
			return fail(err, errlen, "--memory: unknown key '%s' "
				    "(size, backend, populate, populate-threads, prefault)", item);
		}
	}
	return 0;
}

static int check_memory(const struct run_config *cfg, char *err, size_t errlen)
{
	uint64_t size = cfg->mem_size;

	if (size < MEM_MIN_BYTES || size > MEM_MAX_BYTES)
		return fail(err, errlen,
			    "--memory: size %llu bytes is out of range (%lluM..%lluG)",
			    (unsigned long long)size,
			    (unsigned long long)(MEM_MIN_BYTES >> 20),
			    (unsigned long long)(MEM_MAX_BYTES >> 30));
	if (size % MEM_PAGE_BYTES)
		return fail(err, errlen, "--memory: size %llu is not a multiple of 4K",
			    (unsigned long long)size);
	if (cfg->backend && size % cfg->backend->align)
		return fail(err, errlen,
			    "--memory: size %llu is not a multiple of %lluK, which backend %s needs",
			    (unsigned long long)size,
			    (unsigned long long)(cfg->backend->align >> 10), cfg->backend->name);
	return 0;
}

/*
 * Match argv[*i] against "--name" / "--name=VALUE". Returns 1 and sets *val
 * (consuming the next argument for the spaced form), 0 if it is another
 * option, -EINVAL if the value is missing.
 */
static int take_value(int argc, char **argv, int *i, const char *name,
		      const char **val, char *err, size_t errlen)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, name, n))
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	if (arg[n])
		return 0;
	if (*i + 1 >= argc)
		return fail(err, errlen, "%s needs a value", name);
	*val = argv[++*i];
	return 1;
}

/* take_value() for a file name, which must not be empty. */
static int take_path(int argc, char **argv, int *i, const char *name, const char **path,
		     char *err, size_t errlen)
{
	const char *val;
	int ret = take_value(argc, argv, i, name, &val, err, errlen);

	if (ret <= 0)
		return ret;
	if (!*val)
		return fail(err, errlen, "%s: empty file name", name);
	*path = val;
	return 1;
}

static int parse_vcpus(const char *s, unsigned int *out, char *err, size_t errlen)
{
	uint64_t n;

	if (strpbrk(s, "kKmMgGtT") || options_parse_size(s, &n) ||
	    n < 1 || n > OPTIONS_MAX_VCPUS)
		return fail(err, errlen, "--vcpus: invalid count '%s' (1..%d)", s,
			    OPTIONS_MAX_VCPUS);
	*out = (unsigned int)n;
	return 0;
}

int options_parse_run(int argc, char **argv, struct run_config *cfg,
		      char *err, size_t errlen)
{
	bool have_memory = false;
	const char *val;
	int i, ret;

	*cfg = (struct run_config){
		.cmdline = "",
		.vcpus = 1,
		.mem_size = OPTIONS_DEFAULT_MEM_BYTES,
	};
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
			return OPTIONS_HELP;
		if (!strcmp(arg, "--debug")) {
			cfg->debug = true;
			continue;
		}
		if (!strcmp(arg, "--quiet")) {
			cfg->quiet = true;
			continue;
		}
		if ((ret = take_path(argc, argv, &i, "--kernel", &cfg->kernel, err, errlen)) ||
		    (ret = take_path(argc, argv, &i, "--initrd", &cfg->initrd, err, errlen))) {
			if (ret < 0)
				return ret;
		} else if ((ret = take_value(argc, argv, &i, "--cmdline", &val, err, errlen))) {
			if (ret < 0)
				return ret;
			if (strlen(val) > OPTIONS_MAX_CMDLINE_BYTES)
				return fail(err, errlen,
					    "--cmdline is %zu bytes; at most %d fit",
					    strlen(val), OPTIONS_MAX_CMDLINE_BYTES);
			cfg->cmdline = val;
		} else if ((ret = take_value(argc, argv, &i, "--vcpus", &val, err, errlen))) {
			if (ret < 0)
				return ret;
			ret = parse_vcpus(val, &cfg->vcpus, err, errlen);
			if (ret)
				return ret;
		} else if ((ret = take_value(argc, argv, &i, "--memory", &val, err, errlen))) {
			if (ret < 0)
				return ret;
			if (have_memory)
				return fail(err, errlen, "--memory given twice");
			have_memory = true;
			ret = parse_memory_group(val, cfg, err, errlen);
			if (ret)
				return ret;
		} else if (arg[0] == '-') {
			return fail(err, errlen, "unknown option '%s' (see memvmm run --help)", arg);
		} else {
			return fail(err, errlen, "unexpected argument '%s' (see memvmm run --help)", arg);
		}
	}
	return check_memory(cfg, err, errlen);
}

int options_parse_probe(int argc, char **argv, struct probe_config *cfg,
			char *err, size_t errlen)
{
	int i;

	*cfg = (struct probe_config){ 0 };
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return OPTIONS_HELP;
		if (!strcmp(argv[i], "--json"))
			cfg->json = true;
		else
			return fail(err, errlen, "unknown option '%s' (see memvmm probe --help)",
				    argv[i]);
	}
	return 0;
}
