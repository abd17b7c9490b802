// SPDX-License-Identifier: MIT
/* Command-line parsing: sizes, the --memory group, every kind of bad value. */
#include <string.h>

#include "mem/mem.h"
#include "tests/test.h"
#include "vmm/options.h"

static char err[256];

static int parse(struct run_config *cfg, const char *const *args)
{
	char *argv[32] = { "run" };
	int argc = 1;

	while (*args)
		argv[argc++] = (char *)*args++;
	err[0] = '\0';
	return options_parse_run(argc, argv, cfg, err, sizeof(err));
}

#define PARSE_OK(cfg, ...)                                                       \
	do {                                                                     \
		const char *const a_[] = { __VA_ARGS__, NULL };                  \
		int r_ = parse(cfg, a_);                                         \
		TEST_ASSERT(r_ == 0, "parse failed (%d): %s", r_, err);          \
	} while (0)

/* Parsing must fail with a message that names the offending value. */
#define PARSE_BAD(want, ...)                                                     \
	do {                                                                     \
		struct run_config c_;                                            \
		const char *const a_[] = { __VA_ARGS__, NULL };                  \
		int r_ = parse(&c_, a_);                                         \
		TEST_ASSERT(r_ == -EINVAL, "expected -EINVAL, got %d", r_);      \
		TEST_ASSERT(strstr(err, want), "message '%s' lacks '%s'", err, want); \
	} while (0)

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
		    cfg.mem_size == OPTIONS_DEFAULT_MEM_BYTES && !cfg.backend, "defaults");

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
	PARSE_BAD("unknown key 'sise'", "--memory", "sise=1G");
	PARSE_BAD("'size' is not key=value", "--memory", "size");
	PARSE_BAD("needs key=value", "--memory", "");
	PARSE_BAD("given twice", "--memory", "size=1G", "--memory", "size=2G");
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

static void test_probe(void)
{
	struct probe_config cfg;
	char *json[] = { "probe", "--json" }, *bad[] = { "probe", "--jsn" };
	char *help[] = { "probe", "-h" };

	TEST_OK(options_parse_probe(2, json, &cfg, err, sizeof(err)));
	TEST_ASSERT(cfg.json, "--json");
	TEST_ASSERT(options_parse_probe(2, help, &cfg, err, sizeof(err)) == OPTIONS_HELP, "-h");
	TEST_ASSERT(options_parse_probe(2, bad, &cfg, err, sizeof(err)) == -EINVAL &&
		    strstr(err, "'--jsn'"), "bad option: %s", err);
	TEST_PASS("probe options");
}

int main(void)
{
	test_sizes();
	test_run_defaults_and_values();
	test_run_bad();
	test_probe();
	return 0;
}
