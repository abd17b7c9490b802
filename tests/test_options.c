// SPDX-License-Identifier: MIT
/*
 * Command-line parsing: sizes, the --memory and --virtio-mem groups,
 * --api-socket, ctl, every kind of bad value, messages that keep their
 * reason with huge values.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>

#include "devices/virtio_mem.h"
#include "mem/mem.h"
#include "tests/test.h"
#include "vmm/cli.h"
#include "devices/virtio_balloon.h"
#include "vmm/options.h"

#define ERR_BYTES 256   /* what vmm/main.c gives the parsers */
#define MAX_ARGS  40

static char err[ERR_BYTES];

enum which { RUN, PROBE, CTL };

union any_config {
	struct run_config run;
	struct probe_config probe;
	struct ctl_config ctl;
};

/*
 * Parse args (NULL-terminated) with one of the parsers, and check what every
 * parse must do: argv neither reordered nor written, and a refusal's message
 * not cut by the buffer.
 */
static int parse_with(enum which w, union any_config *cfg, const char *const *args)
{
	static const char *const name[] = { [RUN] = "run", [PROBE] = "probe", [CTL] = "ctl" };
	char *argv[MAX_ARGS + 2] = { (char *)name[w] }, *copy[MAX_ARGS + 2];
	int argc = 1, ret = -1;

	while (*args) {
		TEST_ASSERT(argc <= MAX_ARGS, "too many test arguments");
		argv[argc++] = (char *)*args++;
	}
	memcpy(copy, argv, sizeof(argv));
	memset(err, 'Z', sizeof(err));
	err[0] = '\0';
	if (w == RUN)
		ret = options_parse_run(argc, argv, &cfg->run, err, sizeof(err));
	else if (w == PROBE)
		ret = options_parse_probe(argc, argv, &cfg->probe, err, sizeof(err));
	else
		ret = options_parse_ctl(argc, argv, &cfg->ctl, err, sizeof(err));
	TEST_ASSERT(!memcmp(copy, argv, sizeof(argv)), "argv was reordered");
	TEST_ASSERT(ret == 0 || ret == OPTIONS_HELP || ret == -EINVAL, "ret %d", ret);
	TEST_ASSERT(ret != -EINVAL || (err[0] && strlen(err) < sizeof(err) - 1),
		    "message empty or cut: '%s'", err);
	return ret;
}

static int parse(struct run_config *cfg, const char *const *args)
{
	union any_config u;
	int ret = parse_with(RUN, &u, args);

	*cfg = u.run;
	return ret;
}

#define PARSE_OK(cfg, ...)                                                       \
	do {                                                                     \
		const char *const a_[] = { __VA_ARGS__, NULL };                  \
		int r_ = parse(cfg, a_);                                         \
		TEST_ASSERT(r_ == 0, "parse failed (%d): %s", r_, err);          \
	} while (0)

/* Parsing must fail with a message that names the offending value. */
#define PARSE_BAD_WITH(which, want, ...)                                         \
	do {                                                                     \
		union any_config c_;                                             \
		const char *const a_[] = { __VA_ARGS__, NULL };                  \
		int r_ = parse_with(which, &c_, a_);                             \
		TEST_ASSERT(r_ == -EINVAL, "expected -EINVAL, got %d", r_);      \
		TEST_ASSERT(strstr(err, want), "message '%s' lacks '%s'", err, want); \
	} while (0)
#define PARSE_BAD(want, ...) PARSE_BAD_WITH(RUN, want, __VA_ARGS__)
#define CTL_BAD(want, ...) PARSE_BAD_WITH(CTL, want, __VA_ARGS__)

static void test_sizes(void)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t val;
	} cases[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "4K", 0, 4096 }, { "4k", 0, 4096 },
		{ "256M", 0, 256ull << 20 }, { "3G", 0, 3ull << 30 }, { "1T", 0, 1ull << 40 },
		{ "16777215T", 0, 16777215ull << 40 },
		{ "16777216T", -ERANGE, 0 }, { "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "M", -EINVAL, 0 }, { "12Q", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 }, { "+1", -EINVAL, 0 }, { " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 }, { "1MB", -EINVAL, 0 }, { "1.5G", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		/* Syntax first: a huge number with a bad suffix is invalid, not too large. */
		{ "99999999999999999999999.5G", -EINVAL, 0 }, { "99999999999999999999999X", -EINVAL, 0 },
		{ "99999999999999999999999K", -ERANGE, 0 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		int ret = options_parse_size(cases[i].s, &v);

		TEST_ASSERT(ret == cases[i].ret, "'%s': ret %d, want %d", cases[i].s, ret,
			    cases[i].ret);
		TEST_ASSERT(ret || v == cases[i].val, "'%s': %llu", cases[i].s,
			    (unsigned long long)v);
	}
	TEST_PASS("sizes");
}

static void test_run_defaults_and_values(void)
{
	struct run_config cfg;
	const char *const none[] = { NULL };

	TEST_OK(parse(&cfg, none));
	TEST_ASSERT(!cfg.kernel && !cfg.initrd && !strcmp(cfg.cmdline, "") && cfg.vcpus == 1 &&
		    cfg.mem_size == OPTIONS_DEFAULT_MEM_BYTES && !cfg.backend &&
		    cfg.thp == MEM_THP_AUTO, "defaults");

	PARSE_OK(&cfg, "--kernel", "vmlinux", "--initrd=initrd.img", "--cmdline",
		 "console=ttyS0 touch=1G", "--vcpus=4", "--memory", "size=1G,backend=memfd");
	TEST_ASSERT(!strcmp(cfg.kernel, "vmlinux") && !strcmp(cfg.initrd, "initrd.img") &&
		    !strcmp(cfg.cmdline, "console=ttyS0 touch=1G") && cfg.vcpus == 4 &&
		    cfg.mem_size == (1ull << 30) && cfg.backend == &mem_backend_memfd,
		    "values");
	PARSE_OK(&cfg, "--memory=backend=hugetlb,size=4M", "--debug", "--quiet");
	TEST_ASSERT(cfg.backend == &mem_backend_hugetlb && cfg.mem_size == (4ull << 20) &&
		    cfg.debug && cfg.quiet, "group order, flags");
	PARSE_OK(&cfg, "--memory", "backend=guest_memfd");
	TEST_ASSERT(cfg.backend == &mem_backend_guest_memfd &&
		    cfg.mem_size == OPTIONS_DEFAULT_MEM_BYTES, "size keeps its default");
	PARSE_OK(&cfg, "--cmdline", "");
	TEST_ASSERT(!strcmp(cfg.cmdline, ""), "empty cmdline");
	PARSE_OK(&cfg, "--memory", "backend=anon,thp=off");
	TEST_ASSERT(cfg.thp == MEM_THP_OFF && cfg.backend == &mem_backend_anon, "thp=off");
	PARSE_OK(&cfg, "--memory", "thp=on");
	TEST_ASSERT(cfg.thp == MEM_THP_ON, "thp=on");
	PARSE_OK(&cfg, "--memory", "backend=hugetlb,size=4M,thp=on");
	TEST_ASSERT(cfg.thp == MEM_THP_ON, "thp=on with hugetlb");
	{
		const char *const help[] = { "--vcpus", "2", "--help", NULL };

		TEST_ASSERT(parse(&cfg, help) == OPTIONS_HELP, "--help");
	}
	TEST_PASS("run: defaults and values");
}

static void test_run_bad(void)
{
	static char long_cmdline[OPTIONS_MAX_CMDLINE_BYTES + 2];

	PARSE_BAD("'12Q'", "--memory", "size=12Q");
	PARSE_BAD("out of range", "--memory", "size=1M");
	PARSE_BAD("out of range", "--memory", "size=2T");
	PARSE_BAD("too large", "--memory", "size=99999999999T");
	PARSE_BAD("not a multiple of 4K", "--memory", "size=4097K");
	PARSE_BAD("which backend hugetlb needs", "--memory", "size=5M,backend=hugetlb");
	PARSE_BAD("unknown backend 'foo'", "--memory", "backend=foo");
	PARSE_BAD("unknown thp 'yes' (auto, on, off)", "--memory", "thp=yes");
	PARSE_BAD("unknown thp ''", "--memory", "thp=");
	PARSE_BAD("thp=off with backend hugetlb", "--memory", "size=4M,backend=hugetlb,thp=off");
	PARSE_BAD("unknown key 'sise'", "--memory", "sise=1G");
	PARSE_BAD("'size' is not key=value", "--memory", "size");
	PARSE_BAD("needs key=value", "--memory", "");
	PARSE_BAD("given twice", "--memory", "size=1G", "--memory", "size=2G");
	PARSE_BAD("--kernel given twice", "--kernel", "a", "--kernel=b");
	PARSE_BAD("--initrd given twice", "--initrd", "a", "--initrd", "b");
	PARSE_BAD("--cmdline given twice", "--cmdline", "a", "--cmdline", "b");
	PARSE_BAD("--vcpus given twice", "--vcpus", "1", "--vcpus", "2");
	PARSE_BAD("--api-socket given twice", "--api-socket", "/a", "--api-socket", "/b");
	{
		struct run_config twice;

		PARSE_OK(&twice, "--debug", "--debug", "--quiet", "--quiet");
	}
	PARSE_BAD("invalid count '0'", "--vcpus", "0");
	PARSE_BAD("invalid count '256'", "--vcpus", "256");
	PARSE_BAD("invalid count '-1'", "--vcpus", "-1");
	PARSE_BAD("invalid count '2K'", "--vcpus", "2K");
	PARSE_BAD("invalid count 'two'", "--vcpus=two");
	PARSE_BAD("--vcpus needs a value", "--vcpus");
	PARSE_BAD("--kernel needs a value", "--kernel");
	PARSE_BAD("empty file name", "--kernel=");
	PARSE_BAD("unknown option '--memroy'", "--memroy", "size=1G");
	PARSE_BAD("unknown option '--kernelx'", "--kernelx", "a");
	PARSE_BAD("unexpected argument 'extra'", "extra");
	memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
	PARSE_BAD("at most 4095", "--cmdline", long_cmdline);
	TEST_PASS("run: bad values are named");
}

/* Issue 7: empty items, stray commas and repeated keys in a group are refused. */
static void test_memory_group_strict(void)
{
	PARSE_BAD("empty item (a stray comma) in 'size=1G,'", "--memory", "size=1G,");
	PARSE_BAD("empty item (a stray comma) in ','", "--memory", ",");
	PARSE_BAD("empty item (a stray comma) in ',size=1G'", "--memory", ",size=1G");
	PARSE_BAD("empty item", "--memory", "size=1G,,backend=memfd");
	PARSE_BAD("empty item", "--memory", ",,");
	PARSE_BAD("size given twice in 'size=1G,size=2G'", "--memory", "size=1G,size=2G");
	PARSE_BAD("populate given twice", "--memory=populate=none,size=1G,populate=write");
	PARSE_BAD("'=1G' has no key", "--memory", "=1G");
	PARSE_BAD("unknown key 'sizes'", "--memory", "sizes=1G");
	PARSE_BAD("unknown key 'x' (size, backend, populate, populate-threads, prefault, thp)",
		  "--memory", "size=1G,x");
	PARSE_BAD("invalid size ''", "--memory", "size=");
	PARSE_BAD("unknown backend ''", "--memory", "size=1G,backend=");
	TEST_PASS("run: --memory refuses empty items, stray commas, repeated keys");
}

/* --virtio-mem: values, defaults taken from --memory whatever the order. */
static void test_vmem_good(void)
{
	struct run_config cfg;

	PARSE_OK(&cfg, "--vcpus", "2");
	TEST_ASSERT(!cfg.vmem.enabled, "no virtio-mem by default");
	PARSE_OK(&cfg, "--virtio-mem", "size=4G");
	TEST_ASSERT(cfg.vmem.enabled && cfg.vmem.size == 4ull << 30 && cfg.vmem.requested == 0 &&
		    cfg.vmem.block == VMEM_DEFAULT_BLOCK_BYTES && !cfg.vmem.backend &&
		    cfg.vmem.populate == MEM_POPULATE_AUTO, "defaults: requested 0, block 2M, "
		    "the default backend, populate auto");
	TEST_ASSERT(VMEM_DEFAULT_BLOCK_BYTES == 2ull << 20, "default block 2M");
	PARSE_OK(&cfg, "--virtio-mem=size=1G,requested=512M,block=4M,backend=memfd,"
		 "populate=fallocate");
	TEST_ASSERT(cfg.vmem.size == 1ull << 30 && cfg.vmem.requested == 512ull << 20 &&
		    cfg.vmem.block == 4ull << 20 && cfg.vmem.backend == &mem_backend_memfd &&
		    cfg.vmem.populate == MEM_POPULATE_FALLOCATE, "every key");
	PARSE_OK(&cfg, "--virtio-mem", "requested=128M,size=128M");
	TEST_ASSERT(cfg.vmem.size == 128ull << 20 && cfg.vmem.requested == 128ull << 20,
		    "the smallest region, fully requested, keys in any order");
	PARSE_OK(&cfg, "--virtio-mem", "size=1T,requested=1T,block=1G");
	TEST_ASSERT(cfg.vmem.size == MEM_MAX_BYTES && cfg.vmem.block == VMEM_MAX_BLOCK_BYTES,
		    "the largest region and block");
	PARSE_OK(&cfg, "--virtio-mem", "size=2G,block=1g,requested=0");
	TEST_ASSERT(cfg.vmem.block == 1ull << 30 && cfg.vmem.requested == 0, "block=1g, requested=0");

	/* backend and populate follow --memory's, before or after it. */
	PARSE_OK(&cfg, "--virtio-mem", "size=256M", "--memory", "backend=anon,populate=madvise");
	TEST_ASSERT(cfg.vmem.backend == &mem_backend_anon &&
		    cfg.vmem.populate == MEM_POPULATE_MADVISE, "--memory after --virtio-mem");
	PARSE_OK(&cfg, "--memory", "backend=memfd,populate=none", "--virtio-mem", "size=256M");
	TEST_ASSERT(cfg.vmem.backend == &mem_backend_memfd && cfg.vmem.populate == MEM_POPULATE_NONE,
		    "--memory before --virtio-mem");
	PARSE_OK(&cfg, "--memory", "backend=memfd,populate=none", "--virtio-mem",
		 "size=256M,backend=guest_memfd,populate=auto");
	TEST_ASSERT(cfg.vmem.backend == &mem_backend_guest_memfd &&
		    cfg.vmem.populate == MEM_POPULATE_AUTO && cfg.backend == &mem_backend_memfd &&
		    cfg.populate == MEM_POPULATE_NONE, "its own backend and populate; RAM keeps its");
	PARSE_OK(&cfg, "--memory", "size=4M,backend=hugetlb", "--virtio-mem", "size=128M,block=2M");
	TEST_ASSERT(cfg.vmem.backend == &mem_backend_hugetlb, "hugetlb from --memory");
	PARSE_OK(&cfg, "--memory", "thp=off", "--virtio-mem", "size=128M,backend=anon");
	TEST_ASSERT(cfg.thp == MEM_THP_OFF && cfg.vmem.backend == &mem_backend_anon, "thp=off, anon");
	TEST_ASSERT(strstr(options_run_help, "--virtio-mem GROUP") &&
		    strstr(options_run_help, "requested=SIZE") &&
		    strstr(options_run_help, "block=SIZE") &&
		    strstr(options_ctl_help, "virtio-mem requested=SIZE"), "help texts");
	TEST_PASS("run: --virtio-mem values and defaults (backend, populate from --memory)");
}

/* --virtio-mem refusals, each naming the bad value. */
static void test_vmem_bad(void)
{
	PARSE_BAD("--virtio-mem: size=MAX is required", "--virtio-mem", "requested=1G");
	PARSE_BAD("--virtio-mem: invalid size '4Q'", "--virtio-mem", "size=4Q");
	PARSE_BAD("--virtio-mem: invalid size ''", "--virtio-mem", "size=");
	PARSE_BAD("--virtio-mem: size '99999999999T' is too large", "--virtio-mem",
		  "size=99999999999T");
	PARSE_BAD("--virtio-mem: size '0' is out of range (128M..1024G)", "--virtio-mem", "size=0");
	PARSE_BAD("--virtio-mem: size '64M' is out of range", "--virtio-mem", "size=64M");
	PARSE_BAD("--virtio-mem: size '2T' is out of range", "--virtio-mem", "size=2T");
	PARSE_BAD("--virtio-mem: size '1025G' is out of range", "--virtio-mem", "size=1025G");
	PARSE_BAD("--virtio-mem: size '200M' is not a multiple of 128M", "--virtio-mem",
		  "size=200M");
	PARSE_BAD("size '134217729' is not a multiple of 128M", "--virtio-mem",
		  "size=134217729");
	PARSE_BAD("--virtio-mem: block '3M' is not a power of two from 2M to 1G", "--virtio-mem",
		  "size=1G,block=3M");
	PARSE_BAD("block '1M' is not a power of two from 2M to 1G", "--virtio-mem",
		  "size=1G,block=1M");
	PARSE_BAD("block '4K' is not a power of two", "--virtio-mem", "size=1G,block=4K");
	PARSE_BAD("block '2G' is not a power of two from 2M to 1G", "--virtio-mem",
		  "size=2G,block=2G");
	PARSE_BAD("block '0' is not a power of two", "--virtio-mem", "size=1G,block=0");
	PARSE_BAD("--virtio-mem: block '256M' does not divide size '384M'", "--virtio-mem",
		  "size=384M,block=256M");
	PARSE_BAD("--virtio-mem: invalid block 'big'", "--virtio-mem", "size=1G,block=big");
	PARSE_BAD("--virtio-mem: requested '2G' is more than size '1G'", "--virtio-mem",
		  "size=1G,requested=2G");
	PARSE_BAD("--virtio-mem: requested '3M' is not a multiple of block '2M'", "--virtio-mem",
		  "size=1G,requested=3M");
	PARSE_BAD("requested '64M' is not a multiple of block '128M'", "--virtio-mem",
		  "size=1G,block=128M,requested=64M");
	PARSE_BAD("--virtio-mem: invalid requested '1.5G'", "--virtio-mem",
		  "size=2G,requested=1.5G");
	PARSE_BAD("--virtio-mem: unknown backend 'pmem' (guest_memfd, memfd, anon, hugetlb)",
		  "--virtio-mem", "size=1G,backend=pmem");
	PARSE_BAD("--virtio-mem: unknown populate 'eager'", "--virtio-mem",
		  "size=1G,populate=eager");
	PARSE_BAD("--virtio-mem: backend hugetlb with --memory thp=off", "--memory", "thp=off",
		  "--virtio-mem", "size=128M,backend=hugetlb");
	/* The group's own strictness, as --memory's. */
	PARSE_BAD("--virtio-mem given twice", "--virtio-mem", "size=1G", "--virtio-mem", "size=2G");
	PARSE_BAD("size given twice in 'size=1G,size=2G'", "--virtio-mem", "size=1G,size=2G");
	PARSE_BAD("unknown key 'max' (size, requested, block, backend, populate)", "--virtio-mem",
		  "max=1G");
	PARSE_BAD("empty item (a stray comma) in 'size=1G,'", "--virtio-mem", "size=1G,");
	PARSE_BAD("'size' is not key=value", "--virtio-mem", "size");
	PARSE_BAD("--virtio-mem needs a value", "--virtio-mem");
	PARSE_BAD("unknown option '--virtio'", "--virtio", "size=1G");
	{
		char group[CLI_GROUP_MAX_BYTES];

		memcpy(group, "size=", 5);
		memset(group + 5, '9', sizeof(group) - 6);
		group[sizeof(group) - 1] = '\0';
		PARSE_BAD("is too large", "--virtio-mem", group);
		PARSE_BAD("...", "--virtio-mem", group);
	}
	/* --memory's own errors come first. */
	PARSE_BAD("--memory: unknown backend 'x'", "--virtio-mem", "size=1G", "--memory",
		  "backend=x");
	/* The region lies at 4G + 128M after 3200M of RAM: a 1G or 256M block cannot start there. */
	PARSE_BAD("--virtio-mem: block '1G' does not divide the region's address 0x108000000 "
		  "(after --memory's 3200M", "--memory", "size=3200M", "--virtio-mem",
		  "size=1G,block=1G");
	PARSE_BAD("block '256M' does not divide the region's address 0x108000000", "--virtio-mem",
		  "size=1G,block=256M", "--memory", "size=3200M");
	{
		struct run_config cfg;

		PARSE_OK(&cfg, "--memory", "size=3200M", "--virtio-mem", "size=1G,block=128M");
		PARSE_OK(&cfg, "--memory", "size=1G", "--virtio-mem", "size=1T,block=1G");
	}
	TEST_PASS("run: --virtio-mem refusals name the bad value");
}

/* getopt_long's abbreviations and forms are refused the way the old parser did. */
/* --balloon: defaults, values, refusals naming the value. */
static void test_balloon(void)
{
	struct run_config cfg;

	PARSE_OK(&cfg, "--memory", "size=1G");
	TEST_ASSERT(!cfg.balloon.enabled, "no balloon by default");
	PARSE_OK(&cfg, "--balloon", "on");
	TEST_ASSERT(cfg.balloon.enabled && cfg.balloon.size == 0 && cfg.balloon.deflate_on_oom &&
		    cfg.balloon.free_page_reporting && cfg.balloon.stats &&
		    cfg.balloon.stats_s == BALLOON_DEFAULT_STATS_S, "--balloon on: the defaults");
	/* size is checked against --memory's, whichever comes first. */
	PARSE_OK(&cfg, "--balloon", "size=512M,deflate-on-oom=off,free-page-reporting=off,stats=1",
		 "--memory", "size=1G");
	TEST_ASSERT(cfg.balloon.size == 512ull << 20 && !cfg.balloon.deflate_on_oom &&
		    !cfg.balloon.free_page_reporting && cfg.balloon.stats &&
		    cfg.balloon.stats_s == 1, "values");
	PARSE_OK(&cfg, "--balloon=stats=off,size=256M");
	TEST_ASSERT(!cfg.balloon.stats && cfg.balloon.stats_s == 0 &&
		    cfg.balloon.size == 256ull << 20, "stats=off, size = all of the default RAM");
	PARSE_OK(&cfg, "--balloon", "stats=0,size=4K");
	TEST_ASSERT(cfg.balloon.stats && cfg.balloon.stats_s == 0, "stats=0: offered, no polling");
	PARSE_OK(&cfg, "--balloon", "stats=3600");
	PARSE_OK(&cfg, "--balloon", "off");
	TEST_ASSERT(!cfg.balloon.enabled, "--balloon off: no balloon");
	PARSE_BAD("--balloon: size '257M' is more than RAM (256M)", "--balloon", "size=257M");
	PARSE_BAD("--balloon: size '5000' is not a multiple of 4K", "--balloon", "size=5000");
	PARSE_BAD("--balloon: invalid size 'lots'", "--balloon", "size=lots");
	PARSE_BAD("--balloon: too large: size '99999999999T'", "--balloon", "size=99999999999T");
	PARSE_BAD("--balloon: stats '3601' is not a number of seconds", "--balloon", "stats=3601");
	PARSE_BAD("--balloon: stats '-1' is not", "--balloon", "stats=-1");
	PARSE_BAD("--balloon: stats '' is not", "--balloon", "stats=");
	PARSE_BAD("--balloon: deflate-on-oom 'yes' is not on or off", "--balloon",
		  "deflate-on-oom=yes");
	PARSE_BAD("--balloon: free-page-reporting '' is not on or off", "--balloon",
		  "free-page-reporting=");
	PARSE_BAD("--balloon: unknown key 'target'", "--balloon", "target=1G");
	PARSE_BAD("--balloon", "--balloon", "");
	PARSE_BAD("--balloon", "--balloon", "on,size=1M");
	PARSE_BAD("--balloon given twice", "--balloon", "on", "--balloon", "on");
	TEST_ASSERT(strstr(options_run_help, "--balloon GROUP") &&
		    strstr(options_ctl_help, "balloon size=SIZE") &&
		    strstr(options_ctl_help, "pageout [gpa=ADDR len=SIZE]"), "help texts");
	TEST_PASS("run: --balloon values, defaults and refusals");
}

/* --restore: a directory or a key=value list; what the snapshot fixes is refused. */
static void test_restore(void)
{
	struct run_config cfg;

	PARSE_OK(&cfg, "--quiet");
	TEST_ASSERT(!cfg.restore.path, "no restore by default");
	PARSE_OK(&cfg, "--restore", "snap1");
	TEST_ASSERT(!strcmp(cfg.restore.path, "snap1") && cfg.restore.mode == RESTORE_AUTO &&
		    !cfg.restore.verify && cfg.restore.background, "--restore DIR: the defaults");
	PARSE_OK(&cfg, "--restore", "path=/x/s,mode=lazy-move,verify=on,background=off",
		 "--memory", "backend=anon,populate=madvise,thp=off", "--api-socket", "/tmp/s",
		 "--quiet", "--debug");
	TEST_ASSERT(!strcmp(cfg.restore.path, "/x/s") && cfg.restore.mode == RESTORE_LAZY_MOVE &&
		    cfg.restore.verify && !cfg.restore.background && cfg.populate_given &&
		    !cfg.mem_size_given && cfg.backend == &mem_backend_anon, "values");
	for (unsigned int m = 0; m < RESTORE_NR_MODES; m++) {
		char group[64];

		snprintf(group, sizeof(group), "path=d,mode=%s", restore_mode_name(m));
		PARSE_OK(&cfg, "--restore", group);
		TEST_ASSERT(cfg.restore.mode == m, "mode %s", restore_mode_name(m));
	}
	TEST_ASSERT(!restore_mode_name(RESTORE_NR_MODES), "out of range: NULL");
	PARSE_BAD("--restore: empty directory name", "--restore", "");
	PARSE_BAD("--restore: path=DIR is missing", "--restore", "mode=eager");
	PARSE_BAD("--restore: path=DIR is missing", "--restore", "path=");
	PARSE_BAD("--restore: unknown mode 'fast'", "--restore", "path=d,mode=fast");
	PARSE_BAD("--restore: verify 'yes' is not on or off", "--restore", "path=d,verify=yes");
	PARSE_BAD("--restore: background 'x' is not on or off", "--restore",
		  "path=d,mode=lazy-copy,background=x");
	PARSE_BAD("background=off needs a lazy mode", "--restore", "path=d,background=off");
	PARSE_BAD("--restore: unknown key 'size'", "--restore", "path=d,size=1G");
	PARSE_BAD("--kernel cannot be used with --restore", "--restore", "d", "--kernel", "k");
	PARSE_BAD("--vcpus cannot be used with --restore", "--vcpus", "2", "--restore", "d");
	PARSE_BAD("--cmdline cannot be used with --restore", "--restore", "d", "--cmdline", "x");
	PARSE_BAD("--initrd cannot be used with --restore", "--restore", "d", "--initrd", "i");
	PARSE_BAD("--virtio-mem cannot be used with --restore", "--restore", "d", "--virtio-mem",
		  "size=1G");
	PARSE_BAD("--balloon cannot be used with --restore", "--restore", "d", "--balloon", "on");
	PARSE_BAD("--memory size= cannot be used with --restore", "--restore", "d", "--memory",
		  "size=1G");
	PARSE_BAD("--memory: unknown backend 'x'", "--restore", "d", "--memory", "backend=x");
	PARSE_BAD("--restore given twice", "--restore", "d", "--restore", "e");
	TEST_ASSERT(strstr(options_run_help, "--restore GROUP") &&
		    strstr(options_ctl_help, "snapshot dir=DIR"), "help texts");
	TEST_PASS("run: --restore values, defaults and refusals");
}

/* --cpu SPEC: the model, `--cpu help`, refusals naming the item, fixed by --restore. */
static void test_cpu(void)
{
	static char long_spec[CPU_MODEL_SPEC_BYTES + 16];
	struct run_config cfg;

	PARSE_OK(&cfg, "--quiet");
	TEST_ASSERT(cpu_model_is_host(&cfg.cpu) && !cfg.cpu.spec[0] && !cfg.help_text, "default");
	PARSE_OK(&cfg, "--cpu", "-cx16,-xsave", "--vcpus", "2");
	TEST_ASSERT(!strcmp(cfg.cpu.spec, "-cx16,-xsave") && !cpu_model_is_host(&cfg.cpu) &&
		    cfg.vcpus == 2, "--cpu -cx16,-xsave");
	PARSE_OK(&cfg, "--cpu=host");
	TEST_ASSERT(cpu_model_is_host(&cfg.cpu), "--cpu=host");
	PARSE_OK(&cfg, "--cpu", "+avx2,-lzcnt");
	TEST_ASSERT(!cpu_model_is_host(&cfg.cpu), "+NAME and an alias");
	{
		const char *const help[] = { "--cpu", "help", NULL };

		TEST_ASSERT(parse(&cfg, help) == OPTIONS_HELP && cfg.help_text &&
			    strstr(cfg.help_text, "usage: memvmm run --cpu SPEC") &&
			    strstr(cfg.help_text, "\ncx16 "), "--cpu help");
	}
	PARSE_BAD("--cpu: empty SPEC", "--cpu", "");
	PARSE_BAD("--cpu: unknown feature 'foo' in item '-foo'; memvmm run --cpu help lists the "
		  "names", "--cpu", "-cx16,-foo");
	PARSE_BAD("--cpu: item 2 is empty (a stray comma)", "--cpu", "-cx16,");
	PARSE_BAD("--cpu: item 'cx16' needs + or -", "--cpu", "cx16");
	PARSE_BAD("--cpu: item '-lm' is refused: memvmm's guests run in 64-bit mode", "--cpu", "-lm");
	PARSE_BAD("--cpu: item '-apic': apic cannot be named", "--cpu", "-apic");
	PARSE_BAD("--cpu: +avx and -xsave: avx needs xsave", "--cpu", "-xsave,+avx");
	PARSE_BAD("--cpu: item '-cx16': cx16 is named twice", "--cpu", "+cx16,-cx16");
	PARSE_BAD("--cpu given twice", "--cpu", "-cx16", "--cpu", "-xsave");
	PARSE_BAD("--cpu needs a value", "--cpu");
	PARSE_BAD("--cpu cannot be used with --restore", "--restore", "d", "--cpu", "-cx16");
	PARSE_BAD("--cpu cannot be used with --restore", "--cpu", "host", "--restore", "d");
	/* Long values: the reason survives in a 256-byte message. */
	memset(long_spec, 'q', sizeof(long_spec) - 1);
	long_spec[0] = '-';
	PARSE_BAD("bytes, at most 255", "--cpu", long_spec);
	long_spec[200] = '\0';
	PARSE_BAD("lists the names", "--cpu", long_spec);
	memcpy(long_spec, "-cx16,", 6);
	PARSE_BAD("item 'qqq", "--cpu", long_spec);
	TEST_ASSERT(strstr(options_run_help, "--cpu SPEC") &&
		    strstr(options_run_help, "--vcpus, --cpu, --virtio-mem"), "help text");
	TEST_PASS("run: --cpu values, help and refusals");
}

static void test_getopt_edges(void)
{
	struct run_config cfg;

	PARSE_BAD("unknown option '--mem'", "--mem", "size=1G");
	PARSE_BAD("unknown option '--mem=size=1G'", "--mem=size=1G");
	PARSE_BAD("unknown option '--kern'", "--kern", "vmlinux");
	PARSE_BAD("unknown option '--deb'", "--deb");
	PARSE_BAD("unknown option '--he'", "--he");
	PARSE_BAD("unknown option '--api'", "--api", "/tmp/s");
	PARSE_BAD("unknown option '-x' (see memvmm run --help)", "-x");
	/* Found by fuzz_options: a control byte reached the message raw. */
	PARSE_BAD("unknown option '-?' (see memvmm run --help)", "-\rkernel");
	PARSE_BAD("unknown option '---kernel'", "---kernel", "a");
	PARSE_BAD("--debug takes no value ('--debug=1')", "--debug=1");
	PARSE_BAD("--help takes no value", "--help=1");
	PARSE_BAD("unexpected argument '-'", "-");
	PARSE_BAD("unexpected argument 'extra'", "--", "extra");
	PARSE_BAD("--memory needs a value", "--debug", "--memory");
	PARSE_OK(&cfg, "--quiet", "--");
	TEST_ASSERT(cfg.quiet, "options before --");
	/* A value is the next argument, whatever it looks like (as before). */
	PARSE_OK(&cfg, "--cmdline", "--debug", "--kernel", "-");
	TEST_ASSERT(!strcmp(cfg.cmdline, "--debug") && !cfg.debug && !strcmp(cfg.kernel, "-"),
		    "values that look like options");
	{
		const char *const cluster[] = { "-hx", NULL }, *const bad_cluster[] = { "-xh", NULL };

		TEST_ASSERT(parse(&cfg, cluster) == OPTIONS_HELP, "-hx");
		/* Stops inside "-xh": the next parse must not resume there. */
		TEST_ASSERT(parse(&cfg, bad_cluster) == -EINVAL && strstr(err, "'-x'"), "%s", err);
	}
	PARSE_OK(&cfg, "--vcpus", "3");
	TEST_ASSERT(cfg.vcpus == 3, "parse after a failed parse");
	TEST_PASS("run: exact option names, getopt's forms, repeated parses");
}

static void test_api_socket(void)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1], want[64];
	struct run_config cfg;

	PARSE_OK(&cfg, "--vcpus", "2");
	TEST_ASSERT(!cfg.api_socket, "no socket by default");
	PARSE_OK(&cfg, "--api-socket", "/run/memvmm.sock");
	TEST_ASSERT(!strcmp(cfg.api_socket, "/run/memvmm.sock"), "--api-socket PATH");
	PARSE_OK(&cfg, "--api-socket=rel.sock");
	TEST_ASSERT(!strcmp(cfg.api_socket, "rel.sock"), "--api-socket=PATH");
	memset(path, 'p', max);
	path[max] = '\0';
	PARSE_OK(&cfg, "--api-socket", path);
	TEST_ASSERT(strlen(cfg.api_socket) == max, "a path of %zu bytes fits", max);
	path[max] = 'p';
	path[max + 1] = '\0';
	snprintf(want, sizeof(want), "path is %zu bytes; a Unix socket's path holds at most %zu",
		 max + 1, max);
	PARSE_BAD(want, "--api-socket", path);
	PARSE_BAD("--api-socket: empty path", "--api-socket=");
	PARSE_BAD("--api-socket needs a value", "--api-socket");
	TEST_ASSERT(strstr(options_run_help, "--api-socket PATH"), "run help");
	TEST_PASS("run: --api-socket");
}

/*
 * Every refusal that echoes a value keeps its reason when the value is huge:
 * the value is shortened in the middle, the message fits in 256 bytes.
 */
static void test_long_values(void)
{
	static char huge[10000], opt[10003], group[CLI_GROUP_MAX_BYTES + 2];
	static char backend[200], kv[10000];

	memset(huge, 'v', sizeof(huge) - 1);
	huge[0] = 'V';
	snprintf(opt, sizeof(opt), "--%s", huge);
	memcpy(group, "backend=", 8);
	memset(group + 8, 'b', sizeof(group) - 9);
	snprintf(backend, sizeof(backend), "backend=%0190d", 7);
	memset(kv, 'k', sizeof(kv) - 1);
	kv[sizeof(kv) / 2] = '=';

	PARSE_BAD("(1..255)", "--vcpus", huge);
	PARSE_BAD("(see memvmm run --help)", opt);
	PARSE_BAD("(see memvmm run --help)", huge);
	PARSE_BAD("is too long (256 bytes, at most 255)", "--memory", group);
	PARSE_BAD("(guest_memfd, memfd, anon, hugetlb)", "--memory", backend);
	PARSE_BAD("...", "--memory", backend);
	PARSE_BAD("(size, backend, populate, populate-threads, prefault, thp)", "--memory",
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1");
	PARSE_BAD("given twice in", "--memory", "size=1G,populate-threads=2,populate-threads=3,"
		  "backend=memfd,prefault=auto,populate=auto,size=2Gxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	PARSE_BAD("holds at most", "--api-socket", huge);
	PARSE_BAD_WITH(PROBE, "(see memvmm probe --help)", opt);
	CTL_BAD("(status, pause, resume, quit, virtio-mem, balloon, pageout)", "--api-socket", "s", huge);
	CTL_BAD("is not key=value", "--api-socket", "s", "status", huge);
	CTL_BAD("key is 5000 bytes, at most 63", "--api-socket", "s", "status", kv);
	TEST_PASS("long values are shortened, reasons kept");
}

static void test_echo(void)
{
	char buf[CLI_ECHO_BYTES], s[200];
	const char *e;

	memset(s, 'a', CLI_ECHO_BYTES - 1);
	s[CLI_ECHO_BYTES - 1] = '\0';
	TEST_ASSERT(!strcmp(cli_echo(s, buf), s), "63 bytes are kept whole");
	s[CLI_ECHO_BYTES - 1] = 'z';
	s[CLI_ECHO_BYTES] = '\0';
	e = cli_echo(s, buf);
	TEST_ASSERT(strlen(e) < CLI_ECHO_BYTES && strstr(e, "...") && e[strlen(e) - 1] == 'z' &&
		    e[0] == 'a', "64 bytes shortened: '%s'", e);
	TEST_ASSERT(!strcmp(cli_echo("a\nb\033c\177", buf), "a?b?c?"), "control bytes: '%s'",
		    buf);
	/* 2-byte UTF-8 characters: never cut in the middle of one. */
	for (unsigned int i = 0; i < 80; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[160] = '\0';
	e = cli_echo(s, buf);
	TEST_ASSERT(strlen(e) < CLI_ECHO_BYTES && strstr(e, "..."), "'%s'", e);
	for (const char *p = e; *p; p++) {
		bool cont = ((unsigned char)*p & 0xc0) == 0x80;
		bool lead = (unsigned char)*p == 0xc3;

		TEST_ASSERT(!lead || ((unsigned char)p[1] & 0xc0) == 0x80, "cut after a lead byte");
		TEST_ASSERT(!cont || (p > e && (unsigned char)p[-1] == 0xc3),
			    "stray continuation byte at %zu", (size_t)(p - e));
	}
	TEST_PASS("cli_echo: shortened, control bytes hidden, UTF-8 kept whole");
}

static void test_probe(void)
{
	struct probe_config cfg;
	char *json[] = { "probe", "--json" }, *bad[] = { "probe", "--jsn" };
	char *extra[] = { "probe", "--json", "table" };
	char *help[] = { "probe", "-h" };

	TEST_OK(options_parse_probe(2, json, &cfg, err, sizeof(err)));
	TEST_ASSERT(cfg.json, "--json");
	TEST_ASSERT(options_parse_probe(2, help, &cfg, err, sizeof(err)) == OPTIONS_HELP, "-h");
	TEST_ASSERT(options_parse_probe(2, bad, &cfg, err, sizeof(err)) == -EINVAL &&
		    strstr(err, "'--jsn'"), "bad option: %s", err);
	TEST_ASSERT(options_parse_probe(3, extra, &cfg, err, sizeof(err)) == -EINVAL &&
		    strstr(err, "unexpected argument 'table'"), "extra argument: %s", err);
	TEST_PASS("probe options");
}

static struct ctl_config *ctl_ok(union any_config *u, const char *const *args)
{
	int ret = parse_with(CTL, u, args);

	TEST_ASSERT(ret == 0, "ctl parse failed (%d): %s", ret, err);
	return &u->ctl;
}

static void test_ctl(void)
{
	const char *const status[] = { "--api-socket", "/tmp/s", "status", NULL };
	const char *const after[] = { "quit", "--api-socket=/tmp/t", NULL };
	const char *const dashdash[] = { "--api-socket", "s", "--", "pause", NULL };
	char a1[] = "size=1G", a2[] = "empty=", a3[] = "x_y-2=a=b c";
	const char *const args[] = { "--api-socket", "s", "resume", a1, a2, a3, NULL };
	const char *const help[] = { "status", "--help", NULL };
	const char *many[OPTIONS_CTL_MAX_ARGS + 5] = { "--api-socket", "s", "status" };
	char keys[OPTIONS_CTL_MAX_ARGS + 1][16], key63[OPTIONS_CTL_MAX_KEY_BYTES + 4];
	char word64[OPTIONS_CTL_MAX_KEY_BYTES + 2] = { 0 };
	union any_config u;
	struct ctl_config *c;
	unsigned int i;

	c = ctl_ok(&u, status);
	TEST_ASSERT(!strcmp(c->api_socket, "/tmp/s") && !strcmp(c->command, "status") &&
		    c->nr_args == 0, "ctl status");
	c = ctl_ok(&u, after);
	TEST_ASSERT(!strcmp(c->api_socket, "/tmp/t") && !strcmp(c->command, "quit"),
		    "option after the command");
	c = ctl_ok(&u, dashdash);
	TEST_ASSERT(!strcmp(c->command, "pause"), "command after --");
	c = ctl_ok(&u, args);
	TEST_ASSERT(!strcmp(c->command, "resume") && c->nr_args == 3, "key=value args");
	TEST_ASSERT(!strcmp(c->key[0], "size") && !strcmp(c->value[0], "1G") &&
		    !strcmp(c->key[1], "empty") && !strcmp(c->value[1], "") &&
		    !strcmp(c->key[2], "x_y-2") && !strcmp(c->value[2], "a=b c"),
		    "keys and values");
	TEST_ASSERT(!strcmp(a1, "size=1G") && !strcmp(a2, "empty=") && !strcmp(a3, "x_y-2=a=b c"),
		    "argv strings written");
	TEST_ASSERT(parse_with(CTL, &u, help) == OPTIONS_HELP, "ctl --help");
	{
		const char *const h[] = { "-h", NULL };

		TEST_ASSERT(parse_with(CTL, &u, h) == OPTIONS_HELP, "ctl -h");
	}
	/* 16 arguments fit, 17 do not. */
	for (i = 0; i <= OPTIONS_CTL_MAX_ARGS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%u=%u", i, i);
		many[3 + i] = keys[i];
	}
	many[3 + OPTIONS_CTL_MAX_ARGS] = NULL;
	c = ctl_ok(&u, many);
	TEST_ASSERT(c->nr_args == OPTIONS_CTL_MAX_ARGS && !strcmp(c->key[15], "k15") &&
		    !strcmp(c->value[15], "15"), "16 arguments");
	many[3 + OPTIONS_CTL_MAX_ARGS] = keys[OPTIONS_CTL_MAX_ARGS];
	{
		union any_config u2;

		TEST_ASSERT(parse_with(CTL, &u2, many) == -EINVAL &&
			    strstr(err, "more than 16 key=value arguments"), "17: %s", err);
	}
	memset(key63, 'k', OPTIONS_CTL_MAX_KEY_BYTES);
	strcpy(key63 + OPTIONS_CTL_MAX_KEY_BYTES, "=1");
	{
		const char *const k[] = { "--api-socket", "s", "status", key63, NULL };

		c = ctl_ok(&u, k);
		TEST_ASSERT(strlen(c->key[0]) == OPTIONS_CTL_MAX_KEY_BYTES, "63-byte key");
	}
	memmove(key63 + 1, key63, strlen(key63) + 1);
	CTL_BAD("key is 64 bytes, at most 63", "--api-socket", "s", "status", key63);

	CTL_BAD("--api-socket PATH is required", "status");
	{
		const char *const none[] = { NULL };

		TEST_ASSERT(parse_with(CTL, &u, none) == -EINVAL &&
			    strstr(err, "--api-socket PATH is required"), "no arguments: %s", err);
	}
	CTL_BAD("missing COMMAND (status, pause, resume, quit, virtio-mem, balloon, pageout)",
		"--api-socket", "s");
	CTL_BAD("--api-socket needs a value", "status", "--api-socket");
	CTL_BAD("--api-socket: empty path", "--api-socket=", "status");
	CTL_BAD("holds at most", "--api-socket",
		"/tmp/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "status");
	memset(word64, 'c', OPTIONS_CTL_MAX_KEY_BYTES + 1);
	CTL_BAD("command is 64 bytes, at most 63", "--api-socket", "s", word64);
	CTL_BAD("invalid command 'Status'", "--api-socket", "s", "Status");
	CTL_BAD("invalid command ''", "--api-socket", "s", "");
	CTL_BAD("invalid command 'a=b'", "--api-socket", "s", "a=b");
	CTL_BAD("'size' is not key=value", "--api-socket", "s", "status", "size");
	CTL_BAD("'=1' has no key", "--api-socket", "s", "status", "=1");
	CTL_BAD("invalid key in 'Size=1'", "--api-socket", "s", "status", "Size=1");
	CTL_BAD("invalid key in 'a b=1'", "--api-socket", "s", "status", "a b=1");
	CTL_BAD("invalid key in 'a.b=1'", "--api-socket", "s", "status", "a.b=1");
	CTL_BAD("key 'a' given twice", "--api-socket", "s", "status", "a=1", "b=2", "a=3");
	CTL_BAD("unknown option '--socket' (see memvmm ctl --help)", "--socket", "s", "status");
	CTL_BAD("unknown option '--api'", "--api", "s", "status");
	CTL_BAD("unknown option '-s'", "-s", "status");
	{
		const char *const vm[] = { "--api-socket", "s", "virtio-mem", "requested=1G", NULL };

		c = ctl_ok(&u, vm);
		TEST_ASSERT(!strcmp(c->command, "virtio-mem") && c->nr_args == 1 &&
			    !strcmp(c->key[0], "requested") && !strcmp(c->value[0], "1G"),
			    "virtio-mem requested=1G passes as a key=value argument");
	}
	for (i = 0; i < 5; i++) {
		static const char *const cmd[] = { "status", "pause", "resume", "quit", "virtio-mem" };

		TEST_ASSERT(strstr(options_ctl_help, cmd[i]), "help lacks %s", cmd[i]);
	}
	TEST_ASSERT(strstr(options_ctl_help, "JSON") && strstr(options_ctl_help, "one line") &&
		    strstr(options_ctl_help, "Exit status"), "ctl help");
	TEST_PASS("ctl: socket, command, key=value arguments and every refusal");
}

int main(void)
{
	test_sizes();
	test_run_defaults_and_values();
	test_run_bad();
	test_memory_group_strict();
	test_vmem_good();
	test_vmem_bad();
	test_balloon();
	test_restore();
	test_cpu();
	test_getopt_edges();
	test_api_socket();
	test_long_values();
	test_echo();
	test_probe();
	test_ctl();
	return 0;
}
