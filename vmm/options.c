// SPDX-License-Identifier: MIT
/*
 * Command-line parsing on vmm/cli.c (getopt_long + getsubopt). Options take
 * "--opt VALUE" or "--opt=VALUE"; option groups (--memory) are comma-separated
 * key=value lists, as in Cloud Hypervisor. Every error names the offending
 * value.
 */
#include "vmm/options.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "devices/virtio_mem.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "mem/thp.h"
#include "vmm/cli.h"

/* The longest path a struct sockaddr_un holds with its NUL. */
#define OPTIONS_SOCKET_PATH_MAX_BYTES (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

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
	"                       thp=MODE        auto | on | off: transparent huge pages\n"
	"                                       for RAM (MADV_HUGEPAGE where the host's\n"
	"                                       THP settings allow; on: refuse if they do\n"
	"                                       not; off: MADV_NOHUGEPAGE, refused for\n"
	"                                       hugetlb; default auto)\n"
	"  --virtio-mem GROUP memory hotplug: a virtio-mem device (virtio-pci) and its\n"
	"                     region above all RAM, plugged and unplugged by the guest\n"
	"                     block by block; comma-separated key=value list:\n"
	"                       size=SIZE       region size, a multiple of 128M, at\n"
	"                                       most 1T (required)\n"
	"                       requested=SIZE  what the guest is asked to plug at\n"
	"                                       start, a multiple of block, at most\n"
	"                                       size (default 0; change it at run\n"
	"                                       time: memvmm ctl ... virtio-mem\n"
	"                                       requested=SIZE)\n"
	"                       block=SIZE      block size, a power of two from 2M\n"
	"                                       to 1G dividing size (default 2M)\n"
	"                       backend=NAME    as --memory's (default: the backend\n"
	"                                       boot RAM uses)\n"
	"                       populate=HOW    how a plug backs its blocks before it\n"
	"                                       is acknowledged: as --memory's\n"
	"                                       (default: --memory's populate; none\n"
	"                                       leaves them to the guest's faults)\n"
	"  --balloon GROUP    a virtio-balloon device (virtio-pci): the guest gives\n"
	"                     RAM back (inflate) and reports free pages; GROUP is\n"
	"                     'on' for the defaults, 'off' (none, the default) or\n"
	"                     a key=value list:\n"
	"                       size=SIZE       what the guest is asked to give back\n"
	"                                       at start, at most RAM (default 0;\n"
	"                                       change it at run time: memvmm ctl\n"
	"                                       ... balloon size=SIZE)\n"
	"                       deflate-on-oom=on|off  the guest may take pages back\n"
	"                                       when it runs out of memory (default on)\n"
	"                       free-page-reporting=on|off  free guest memory goes\n"
	"                                       back to the host (default on)\n"
	"                       stats=SECONDS|off  ask the guest for its memory\n"
	"                                       statistics this often, 0: only what\n"
	"                                       it sends itself (default 5)\n"
	"  --restore GROUP    start a saved VM (memvmm ctl ... snapshot) where it\n"
	"                     stopped, instead of booting: DIR, or a key=value list:\n"
	"                       path=DIR        the snapshot directory (a diff\n"
	"                                       snapshot reads its parents too)\n"
	"                       mode=MODE       auto | eager | map | lazy-copy |\n"
	"                                       lazy-move | lazy-minor (default auto:\n"
	"                                       eager for guest_memfd and hugetlb,\n"
	"                                       lazy for anon and memfd; README)\n"
	"                       verify=on|off   check the memory files' checksums\n"
	"                                       first (saved with verify=on)\n"
	"                       background=on|off  lazy modes: fill untouched memory\n"
	"                                       in the background (default on)\n"
	"                     The snapshot fixes the machine: --kernel, --initrd,\n"
	"                     --cmdline, --vcpus, --cpu, --virtio-mem, --balloon and\n"
	"                     --memory size= are refused; --memory backend= may\n"
	"                     differ from the saved one, populate= says how eager\n"
	"                     restore backs the holes (default none)\n"
	"  --cpu SPEC         the guest's CPU features on top of what KVM offers: host\n"
	"                     (the default) or +NAME/-NAME items, e.g. -cx16,-xsave\n"
	"                     (-NAME also clears what needs NAME); memvmm run --cpu\n"
	"                     help lists the names\n"
	"  --api-socket PATH  serve a JSON control socket at PATH (mode 0600; see\n"
	"                     memvmm ctl --help)\n"
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
	"whether MADV_PAGEOUT reclaims anything of a guest_memfd,\n"
	"userfaultfd (COPY, MOVE, MINOR_SHMEM, WP, on guest_memfd), dirty logging on\n"
	"guest_memfd and anonymous slots, THP (anon and shmem: the setting, the\n"
	"policy for 2 MiB pages, defrag, khugepaged defrag, THP disabled for this\n"
	"process), mTHP sizes, a trial of MADV_HUGEPAGE + MADV_POPULATE_WRITE of\n"
	"2 MiB on anonymous memory and on a memfd (is it one huge page?), free 2M\n"
	"huge pages and VM types.\n"
	"\n"
	"  --json       the same rows as JSON: {\"features\":[{feature, supported, value, detail}]}\n"
	"  -h, --help   this text\n";

const char options_ctl_help[] =
	"usage: memvmm ctl --api-socket PATH COMMAND [KEY=VALUE ...]\n"
	"\n"
	"Send one request to a memvmm started with `memvmm run --api-socket PATH` and\n"
	"print its reply: one JSON object on one line, {\"ok\":true,...} or\n"
	"{\"ok\":false,\"error\":\"...\"}.\n"
	"\n"
	"commands:\n"
	"  status     run state, uptime, vCPUs, every memory region (role, backend,\n"
	"             size, resident bytes, bytes in huge pages), what population\n"
	"             did and what thp= decided; with --virtio-mem its device\n"
	"             (requested, plugged and resident bytes, request counters);\n"
	"             with --balloon its device (target, actual, given back, stats)\n"
	"  pause      stop every vCPU; replies once all are parked\n"
	"  resume     let the vCPUs run again\n"
	"  quit       end memvmm (it exits 0)\n"
	"  virtio-mem requested=SIZE: ask the guest to plug or unplug memory until\n"
	"             SIZE of the virtio-mem region is plugged (a multiple of its\n"
	"             block size, at most its size; K/M/G/T suffixes)\n"
	"  balloon size=SIZE: ask the guest to inflate or deflate its balloon until\n"
	"             it holds SIZE (a multiple of 4K, at most RAM); status shows\n"
	"             target, actual, bytes given back and the guest's statistics\n"
	"  pageout [gpa=ADDR len=SIZE]: MADV_PAGEOUT over guest memory (all of it\n"
	"             by default): resident, mapped and swapped bytes before and\n"
	"             after. Refused, with the reason, where the memory cannot be\n"
	"             reclaimed (guest_memfd, hugetlb) or there is no swap\n"
	"  snapshot dir=DIR [parent=PREV] [stop=on] [verify=on]: pause, write the\n"
	"             VM to the new directory DIR (state.dtb + one sparse mem-N.raw\n"
	"             per region; written as a temporary directory, fsynced and\n"
	"             renamed), resume (stop=on: end memvmm, exit 0). parent=PREV:\n"
	"             a diff snapshot, only the pages dirtied since PREV (the last\n"
	"             snapshot this VM took or was restored from; not on\n"
	"             guest_memfd). verify=on: per-chunk checksums. The reply has\n"
	"             the bytes written and the time taken\n"
	"\n"
	"  --api-socket PATH  the control socket (required)\n"
	"  -h, --help         this text\n"
	"\n"
	"KEY=VALUE arguments (at most 16; KEY of a-z, 0-9, '_', '-') go into the\n"
	"request as strings.\n"
	"\n"
	"Exit status: 0 on an ok reply, 1 on an error reply, 2 for bad usage or\n"
	"when the socket cannot be reached.\n";

int options_parse_size(const char *s, uint64_t *out)
{
	uint64_t val = 0, mult = 1;
	bool overflow = false;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	/* The whole string is checked before a number is called too large. */
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = (unsigned int)(*p - '0');

		if (val > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
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
	if (overflow || val > UINT64_MAX / mult)
		return -ERANGE;
	*out = val * mult;
	return 0;
}

/* A count: decimal digits only, lo..hi. */
static int parse_count(const char *s, unsigned int lo, unsigned int hi, unsigned int *out)
{
	uint64_t n;

	if (strpbrk(s, "kKmMgGtT") || options_parse_size(s, &n) || n < lo || n > hi)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}

enum memory_key { MEM_SIZE, MEM_BACKEND, MEM_POPULATE, MEM_THREADS, MEM_PREFAULT, MEM_THP };

static const char *const memory_keys[] = {
	[MEM_SIZE] = "size",
	[MEM_BACKEND] = "backend",
	[MEM_POPULATE] = "populate",
	[MEM_THREADS] = "populate-threads",
	[MEM_PREFAULT] = "prefault",
	[MEM_THP] = "thp",
	NULL,
};

static const struct cli_group memory_group = {
	.option = "--memory",
	.keys = memory_keys,
	.example = "size=1G,backend=memfd",
};

static int parse_memory_group(const char *group, struct run_config *cfg,
			      char *err, size_t errlen)
{
	const char *val[CLI_GROUP_MAX_KEYS];
	char buf[CLI_GROUP_MAX_BYTES + 1];
	int ret;

	ret = cli_group_parse(&memory_group, group, val, buf, err, errlen);
	if (ret)
		return ret;
	cfg->mem_size_given |= val[MEM_SIZE] != NULL;
	cfg->populate_given |= val[MEM_POPULATE] != NULL;
	if (val[MEM_SIZE]) {
		ret = options_parse_size(val[MEM_SIZE], &cfg->mem_size);
		if (ret == -ERANGE)
			return cli_fail(err, errlen, "--memory: size '%s' is too large",
					CLI_ECHO(val[MEM_SIZE]));
		if (ret)
			return cli_fail(err, errlen, "--memory: invalid size '%s' (use e.g. 512M, 4G)",
					CLI_ECHO(val[MEM_SIZE]));
	}
	if (val[MEM_BACKEND]) {
		cfg->backend = mem_backend_find(val[MEM_BACKEND]);
		if (!cfg->backend)
			return cli_fail(err, errlen,
					"--memory: unknown backend '%s' (guest_memfd, memfd, anon, hugetlb)",
					CLI_ECHO(val[MEM_BACKEND]));
	}
	if (val[MEM_POPULATE] && mem_populate_parse(val[MEM_POPULATE], &cfg->populate))
		return cli_fail(err, errlen, "--memory: unknown populate '%s' "
				"(auto, none, fallocate, madvise, write)", CLI_ECHO(val[MEM_POPULATE]));
	if (val[MEM_THREADS] && parse_count(val[MEM_THREADS], 1, MEM_POPULATE_MAX_THREADS,
					    &cfg->populate_threads))
		return cli_fail(err, errlen, "--memory: invalid populate-threads '%s' (1..%u)",
				CLI_ECHO(val[MEM_THREADS]), MEM_POPULATE_MAX_THREADS);
	if (val[MEM_PREFAULT] && mem_prefault_parse(val[MEM_PREFAULT], &cfg->prefault))
		return cli_fail(err, errlen, "--memory: unknown prefault '%s' (auto, on, off)",
				CLI_ECHO(val[MEM_PREFAULT]));
	if (val[MEM_THP] && mem_thp_parse(val[MEM_THP], &cfg->thp))
		return cli_fail(err, errlen, "--memory: unknown thp '%s' (auto, on, off)",
				CLI_ECHO(val[MEM_THP]));
	return 0;
}

static int check_memory(const struct run_config *cfg, char *err, size_t errlen)
{
	uint64_t size = cfg->mem_size;

	if (size < MEM_MIN_BYTES || size > MEM_MAX_BYTES)
		return cli_fail(err, errlen,
				"--memory: size %llu bytes is out of range (%lluM..%lluG)",
				(unsigned long long)size,
				(unsigned long long)(MEM_MIN_BYTES >> 20),
				(unsigned long long)(MEM_MAX_BYTES >> 30));
	if (size % MEM_PAGE_BYTES)
		return cli_fail(err, errlen, "--memory: size %llu is not a multiple of 4K",
				(unsigned long long)size);
	if (cfg->backend && size % cfg->backend->align)
		return cli_fail(err, errlen,
				"--memory: size %llu is not a multiple of %lluK, which backend %s needs",
				(unsigned long long)size,
				(unsigned long long)(cfg->backend->align >> 10), cfg->backend->name);
	if (cfg->backend && cfg->backend->thp == MEM_THP_KIND_HUGETLB && cfg->thp == MEM_THP_OFF)
		return cli_fail(err, errlen, "--memory: thp=off with backend %s, whose pages are "
				"always 2M (use backend=anon or memfd for small pages)",
				cfg->backend->name);
	return 0;
}

enum vmem_key { VMEM_SIZE, VMEM_REQUESTED, VMEM_BLOCK, VMEM_BACKEND, VMEM_POPULATE };

static const char *const vmem_keys[] = {
	[VMEM_SIZE] = "size",
	[VMEM_REQUESTED] = "requested",
	[VMEM_BLOCK] = "block",
	[VMEM_BACKEND] = "backend",
	[VMEM_POPULATE] = "populate",
	NULL,
};

static const struct cli_group vmem_group = {
	.option = "--virtio-mem",
	.keys = vmem_keys,
	.example = "size=4G,requested=1G",
};

/* A size with a unit for messages: "2M", "1G", "4097K", "12345". */
static const char *size_name(uint64_t v, char *buf, size_t len)
{
	static const struct { uint64_t unit; char suffix; } units[] = {
		{ 1ull << 40, 'T' }, { 1ull << 30, 'G' }, { 1ull << 20, 'M' }, { 1ull << 10, 'K' },
	};

	for (unsigned int i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v && v % units[i].unit == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v / units[i].unit),
				 units[i].suffix);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}
#define SIZE_NAME(v) size_name((v), (char[24]){ 0 }, 24)

/* One size of the group: syntax, then a message naming key and value. */
static int vmem_size(const char *key, const char *val, uint64_t *out, char *err, size_t errlen)
{
	int ret = options_parse_size(val, out);

	if (ret == -ERANGE)
		return cli_fail(err, errlen, "--virtio-mem: %s '%s' is too large", key, CLI_ECHO(val));
	if (ret)
		return cli_fail(err, errlen, "--virtio-mem: invalid %s '%s' (use e.g. 2M, 512M, 4G)",
				key, CLI_ECHO(val));
	return 0;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The region and block sizes, and the requested size against both. */
static int check_vmem_sizes(const struct run_vmem_config *v, const char *const *val,
			    char *err, size_t errlen)
{
	const char *block = val[VMEM_BLOCK] ? CLI_ECHO(val[VMEM_BLOCK]) : SIZE_NAME(v->block);
	const char *size = CLI_ECHO(val[VMEM_SIZE]);

	if (v->size < MACHINE_HOTPLUG_ALIGN || v->size > MEM_MAX_BYTES)
		return cli_fail(err, errlen, "--virtio-mem: size '%s' is out of range (%lluM..%lluG)",
				size, (unsigned long long)(MACHINE_HOTPLUG_ALIGN >> 20),
				(unsigned long long)(MEM_MAX_BYTES >> 30));
	if (v->size % MACHINE_HOTPLUG_ALIGN)
		return cli_fail(err, errlen, "--virtio-mem: size '%s' is not a multiple of %lluM "
				"(Linux's memory block)", size,
				(unsigned long long)(MACHINE_HOTPLUG_ALIGN >> 20));
	if (!is_pow2(v->block) || v->block < VMEM_MIN_BLOCK_BYTES ||
	    v->block > VMEM_MAX_BLOCK_BYTES)
		return cli_fail(err, errlen, "--virtio-mem: block '%s' is not a power of two from "
				"%lluM to %lluG", block,
				(unsigned long long)(VMEM_MIN_BLOCK_BYTES >> 20),
				(unsigned long long)(VMEM_MAX_BLOCK_BYTES >> 30));
	if (v->size % v->block)
		return cli_fail(err, errlen, "--virtio-mem: block '%s' does not divide size '%s'",
				block, size);
	if (v->backend && v->block % v->backend->align)
		return cli_fail(err, errlen, "--virtio-mem: block '%s' is not a multiple of %lluK, "
				"which backend %s needs", block,
				(unsigned long long)(v->backend->align >> 10), v->backend->name);
	if (v->backend && v->size % v->backend->align)
		return cli_fail(err, errlen, "--virtio-mem: size '%s' is not a multiple of %lluK, "
				"which backend %s needs", size,
				(unsigned long long)(v->backend->align >> 10), v->backend->name);
	if (v->requested > v->size)
		return cli_fail(err, errlen, "--virtio-mem: requested '%s' is more than size '%s'",
				CLI_ECHO(val[VMEM_REQUESTED]), size);
	if (v->requested % v->block)
		return cli_fail(err, errlen, "--virtio-mem: requested '%s' is not a multiple of "
				"block '%s'", CLI_ECHO(val[VMEM_REQUESTED]), block);
	return 0;
}

/*
 * The region's address must be a multiple of the block size too (virtio
 * 1.2 §5.15.4; the device refuses it otherwise), but the layout aligns it
 * to 128M only: with a block above 128M that depends on --memory's size.
 */
static int check_vmem_addr(const struct run_config *cfg, const char *const *val,
			   char *err, size_t errlen)
{
	const struct run_vmem_config *v = &cfg->vmem;
	struct mem_machine_layout lay;
	int ret = mem_machine_layout_build(cfg->mem_size, v->size, &lay);

	if (ret)
		return cli_fail(err, errlen, "--virtio-mem: cannot lay out size '%s' after %lluM "
				"of RAM", CLI_ECHO(val[VMEM_SIZE]),
				(unsigned long long)(cfg->mem_size >> 20));
	if (lay.hotplug_gpa % v->block)
		return cli_fail(err, errlen, "--virtio-mem: block '%s' does not divide the "
				"region's address 0x%llx (after --memory's %lluM of RAM, aligned to "
				"%lluM): use a block of at most %lluM, or a memory size that puts "
				"the region on a %s boundary",
				val[VMEM_BLOCK] ? CLI_ECHO(val[VMEM_BLOCK]) : SIZE_NAME(v->block),
				(unsigned long long)lay.hotplug_gpa,
				(unsigned long long)(cfg->mem_size >> 20),
				(unsigned long long)(MACHINE_HOTPLUG_ALIGN >> 20),
				(unsigned long long)((lay.hotplug_gpa & -lay.hotplug_gpa) >> 20),
				SIZE_NAME(v->block));
	return 0;
}

/*
 * --virtio-mem, read once every other option is known: backend and
 * populate default to --memory's.
 */
static int parse_vmem_group(const char *group, struct run_config *cfg, char *err, size_t errlen)
{
	struct run_vmem_config *v = &cfg->vmem;
	const char *val[CLI_GROUP_MAX_KEYS];
	char buf[CLI_GROUP_MAX_BYTES + 1];
	int ret;

	ret = cli_group_parse(&vmem_group, group, val, buf, err, errlen);
	if (ret)
		return ret;
	*v = (struct run_vmem_config){
		.enabled = true,
		.block = VMEM_DEFAULT_BLOCK_BYTES,
		.backend = cfg->backend,
		.populate = cfg->populate,
	};
	if (!val[VMEM_SIZE])
		return cli_fail(err, errlen, "--virtio-mem: size=MAX is required (e.g. %s)",
				vmem_group.example);
	ret = vmem_size("size", val[VMEM_SIZE], &v->size, err, errlen);
	if (!ret && val[VMEM_REQUESTED])
		ret = vmem_size("requested", val[VMEM_REQUESTED], &v->requested, err, errlen);
	if (!ret && val[VMEM_BLOCK])
		ret = vmem_size("block", val[VMEM_BLOCK], &v->block, err, errlen);
	if (ret)
		return ret;
	if (val[VMEM_BACKEND]) {
		v->backend = mem_backend_find(val[VMEM_BACKEND]);
		if (!v->backend)
			return cli_fail(err, errlen, "--virtio-mem: unknown backend '%s' "
					"(guest_memfd, memfd, anon, hugetlb)",
					CLI_ECHO(val[VMEM_BACKEND]));
	}
	if (val[VMEM_POPULATE] && mem_populate_parse(val[VMEM_POPULATE], &v->populate))
		return cli_fail(err, errlen, "--virtio-mem: unknown populate '%s' "
				"(auto, none, fallocate, madvise, write)",
				CLI_ECHO(val[VMEM_POPULATE]));
	if (v->backend && v->backend->thp == MEM_THP_KIND_HUGETLB && cfg->thp == MEM_THP_OFF)
		return cli_fail(err, errlen, "--virtio-mem: backend %s with --memory thp=off: its "
				"pages are always 2M", v->backend->name);
	ret = check_vmem_sizes(v, val, err, errlen);
	return ret ? ret : check_vmem_addr(cfg, val, err, errlen);
}

/* A file name, which must not be empty. */
static int take_path(const char *opt, const char *val, const char **path,
		     char *err, size_t errlen)
{
	if (!*val)
		return cli_fail(err, errlen, "%s: empty file name", opt);
	*path = val;
	return 0;
}

/* A Unix socket's path: not empty, and short enough for struct sockaddr_un. */
static int take_socket_path(const char *val, const char **path, char *err, size_t errlen)
{
	size_t len = strlen(val);

	if (!len)
		return cli_fail(err, errlen, "--api-socket: empty path");
	if (len > OPTIONS_SOCKET_PATH_MAX_BYTES)
		return cli_fail(err, errlen, "--api-socket: path is %zu bytes; a Unix socket's "
				"path holds at most %zu: '%s'", len, OPTIONS_SOCKET_PATH_MAX_BYTES,
				CLI_ECHO(val));
	*path = val;
	return 0;
}

enum run_option {
	RUN_KERNEL = CLI_FIRST_ID, RUN_INITRD, RUN_CMDLINE, RUN_VCPUS, RUN_MEMORY,
	RUN_VIRTIO_MEM, RUN_BALLOON, RUN_API_SOCKET, RUN_DEBUG, RUN_QUIET, RUN_RESTORE, RUN_CPU,
};

static const struct cli_option run_options[] = {
	{ "kernel", RUN_KERNEL, true },
	{ "initrd", RUN_INITRD, true },
	{ "cmdline", RUN_CMDLINE, true },
	{ "vcpus", RUN_VCPUS, true },
	{ "memory", RUN_MEMORY, true },
	{ "virtio-mem", RUN_VIRTIO_MEM, true },
	{ "balloon", RUN_BALLOON, true },
	{ "api-socket", RUN_API_SOCKET, true },
	{ "debug", RUN_DEBUG, false },
	{ "quiet", RUN_QUIET, false },
	{ "restore", RUN_RESTORE, true },
	{ "cpu", RUN_CPU, true },
	{ NULL, 0, false },
};

/* What a snapshot fixes: refused with --restore. */
#define RUN_OPTION_BIT(id) (1u << ((id) - CLI_FIRST_ID))
#define RUN_MACHINE_OPTIONS (RUN_OPTION_BIT(RUN_KERNEL) | RUN_OPTION_BIT(RUN_INITRD) | \
			     RUN_OPTION_BIT(RUN_CMDLINE) | RUN_OPTION_BIT(RUN_VCPUS) | \
			     RUN_OPTION_BIT(RUN_VIRTIO_MEM) | RUN_OPTION_BIT(RUN_BALLOON) | \
			     RUN_OPTION_BIT(RUN_CPU))

/*
 * --restore with the options a snapshot fixes: name the first one given.
 * given: RUN_MACHINE_OPTIONS bits of what was on the command line.
 */
static int options_check_restore(const char *group, uint32_t given, struct run_config *cfg,
				 char *err, size_t errlen)
{
	for (const struct cli_option *o = run_options; o->name; o++)
		if (given & RUN_OPTION_BIT(o->id))
			return cli_fail(err, errlen, "--%s cannot be used with --restore: the "
					"snapshot fixes the machine (only --memory backend=, "
					"populate=, populate-threads=, prefault=, thp= may change)",
					o->name);
	if (cfg->mem_size_given)
		return cli_fail(err, errlen, "--memory size= cannot be used with --restore: "
				"the size comes from the snapshot");
	if (cfg->backend && cfg->backend->thp == MEM_THP_KIND_HUGETLB && cfg->thp == MEM_THP_OFF)
		return cli_fail(err, errlen, "--memory: thp=off with backend %s, whose pages are "
				"always 2M (use backend=anon or memfd for small pages)",
				cfg->backend->name);
	return options_parse_restore(group, cfg, err, errlen);
}

/* The value options, each at most once: a repeat would silently win otherwise. */
static int run_option_once(int id, uint32_t *seen, char *err, size_t errlen)
{
	uint32_t bit = 1u << (id - CLI_FIRST_ID);

	if (id == RUN_DEBUG || id == RUN_QUIET)
		return 0;
	for (const struct cli_option *o = run_options; o->name; o++)
		if (o->id == id && (*seen & bit))
			return cli_fail(err, errlen, "--%s given twice", o->name);
	*seen |= bit;
	return 0;
}

/* Values parsed after the loop: they depend on --memory. */
struct run_late_args {
	const char *vmem;       /* --virtio-mem's */
	const char *balloon;    /* --balloon's */
	const char *restore;    /* --restore's */
};

static int run_option(struct run_config *cfg, int id, const char *val, uint32_t *seen,
		      struct run_late_args *late, char *err, size_t errlen)
{
	int ret = run_option_once(id, seen, err, errlen);

	if (ret)
		return ret;
	switch (id) {
	case RUN_KERNEL:
		return take_path("--kernel", val, &cfg->kernel, err, errlen);
	case RUN_INITRD:
		return take_path("--initrd", val, &cfg->initrd, err, errlen);
	case RUN_CMDLINE:
		if (strlen(val) > OPTIONS_MAX_CMDLINE_BYTES)
			return cli_fail(err, errlen, "--cmdline is %zu bytes; at most %d fit",
					strlen(val), OPTIONS_MAX_CMDLINE_BYTES);
		cfg->cmdline = val;
		return 0;
	case RUN_VCPUS:
		if (parse_count(val, 1, OPTIONS_MAX_VCPUS, &cfg->vcpus))
			return cli_fail(err, errlen, "--vcpus: invalid count '%s' (1..%d)", CLI_ECHO(val),
					OPTIONS_MAX_VCPUS);
		return 0;
	case RUN_MEMORY:
		return parse_memory_group(val, cfg, err, errlen);
	case RUN_VIRTIO_MEM:
		late->vmem = val;
		return 0;
	case RUN_BALLOON:
		late->balloon = val;
		return 0;
	case RUN_RESTORE:
		late->restore = val;
		return 0;
	case RUN_API_SOCKET:
		return take_socket_path(val, &cfg->api_socket, err, errlen);
	case RUN_CPU:
		return options_parse_cpu(val, cfg, err, errlen);
	case RUN_DEBUG:
		cfg->debug = true;
		return 0;
	case RUN_QUIET:
		cfg->quiet = true;
		return 0;
	default:
		return cli_fail(err, errlen, "internal error: option %d", id);
	}
}

int options_parse_run(int argc, char **argv, struct run_config *cfg,
		      char *err, size_t errlen)
{
	struct run_late_args late = { 0 };
	const char *val;
	uint32_t seen = 0;
	struct cli c;
	int ret;

	*cfg = (struct run_config){
		.cmdline = "",
		.vcpus = 1,
		.mem_size = OPTIONS_DEFAULT_MEM_BYTES,
	};
	ret = cli_begin(&c, argc, argv, run_options, "see memvmm run --help", err, errlen);
	while (!ret && (ret = cli_next(&c, &val)) > 0) {
		if (ret == CLI_HELP)
			return OPTIONS_HELP;
		if (ret == CLI_ARG)
			return cli_fail(err, errlen, "unexpected argument '%s' (see memvmm run --help)",
					CLI_ECHO(val));
		ret = run_option(cfg, ret, val, &seen, &late, err, errlen);
	}
	if (ret)
		return ret;
	if (late.restore)
		return options_check_restore(late.restore, seen & RUN_MACHINE_OPTIONS, cfg, err,
					     errlen);
	ret = check_memory(cfg, err, errlen);
	if (!ret && late.vmem)
		ret = parse_vmem_group(late.vmem, cfg, err, errlen);
	if (!ret && late.balloon)
		ret = options_parse_balloon(late.balloon, cfg, err, errlen);
	return ret;
}

enum probe_option { PROBE_JSON = CLI_FIRST_ID };

static const struct cli_option probe_options[] = {
	{ "json", PROBE_JSON, false },
	{ NULL, 0, false },
};

int options_parse_probe(int argc, char **argv, struct probe_config *cfg,
			char *err, size_t errlen)
{
	const char *val;
	struct cli c;
	int ret;

	*cfg = (struct probe_config){ 0 };
	ret = cli_begin(&c, argc, argv, probe_options, "see memvmm probe --help", err, errlen);
	while (!ret && (ret = cli_next(&c, &val)) > 0) {
		if (ret == CLI_HELP)
			return OPTIONS_HELP;
		if (ret == CLI_ARG)
			return cli_fail(err, errlen, "unexpected argument '%s' (see memvmm probe --help)",
					CLI_ECHO(val));
		cfg->json = true;
		ret = 0;
	}
	return ret;
}

/* [a-z0-9_-]+ */
static bool ctl_word(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

#define CTL_COMMANDS "status, pause, resume, quit, virtio-mem, balloon, pageout"

static int ctl_arg(struct ctl_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t klen;
	unsigned int i;

	if (!cfg->command) {
		if (!ctl_word(arg, strlen(arg)))
			return cli_fail(err, errlen, "invalid command '%s' (" CTL_COMMANDS ")",
					CLI_ECHO(arg));
		if (strlen(arg) > OPTIONS_CTL_MAX_KEY_BYTES)
			return cli_fail(err, errlen, "command is %zu bytes, at most %d: '%s'",
					strlen(arg), OPTIONS_CTL_MAX_KEY_BYTES, CLI_ECHO(arg));
		cfg->command = arg;
		return 0;
	}
	if (!eq)
		return cli_fail(err, errlen, "'%s' is not key=value", CLI_ECHO(arg));
	klen = (size_t)(eq - arg);
	if (!klen)
		return cli_fail(err, errlen, "'%s' has no key", CLI_ECHO(arg));
	if (klen > OPTIONS_CTL_MAX_KEY_BYTES)
		return cli_fail(err, errlen, "key is %zu bytes, at most %d: '%s'", klen,
				OPTIONS_CTL_MAX_KEY_BYTES, CLI_ECHO(arg));
	if (!ctl_word(arg, klen))
		return cli_fail(err, errlen, "invalid key in '%s' (a-z, 0-9, '_', '-')", CLI_ECHO(arg));
	if (cfg->nr_args == OPTIONS_CTL_MAX_ARGS)
		return cli_fail(err, errlen, "more than %d key=value arguments", OPTIONS_CTL_MAX_ARGS);
	memcpy(cfg->key_buf[cfg->nr_args], arg, klen);
	cfg->key_buf[cfg->nr_args][klen] = '\0';
	for (i = 0; i < cfg->nr_args; i++) {
		if (!strcmp(cfg->key[i], cfg->key_buf[cfg->nr_args]))
			return cli_fail(err, errlen, "key '%s' given twice",
					cfg->key_buf[cfg->nr_args]);
	}
	cfg->key[cfg->nr_args] = cfg->key_buf[cfg->nr_args];
	cfg->value[cfg->nr_args] = eq + 1;
	cfg->nr_args++;
	return 0;
}

enum ctl_option { CTL_API_SOCKET = CLI_FIRST_ID };

static const struct cli_option ctl_options[] = {
	{ "api-socket", CTL_API_SOCKET, true },
	{ NULL, 0, false },
};

int options_parse_ctl(int argc, char **argv, struct ctl_config *cfg,
		      char *err, size_t errlen)
{
	const char *val;
	struct cli c;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = cli_begin(&c, argc, argv, ctl_options, "see memvmm ctl --help", err, errlen);
	while (!ret && (ret = cli_next(&c, &val)) > 0) {
		if (ret == CLI_HELP)
			return OPTIONS_HELP;
		if (ret == CLI_ARG)
			ret = ctl_arg(cfg, val, err, errlen);
		else
			ret = take_socket_path(val, &cfg->api_socket, err, errlen);
	}
	if (ret)
		return ret;
	if (!cfg->api_socket)
		return cli_fail(err, errlen, "--api-socket PATH is required (see memvmm ctl --help)");
	if (!cfg->command)
		return cli_fail(err, errlen, "missing COMMAND (" CTL_COMMANDS ")");
	return 0;
}
