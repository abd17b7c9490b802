// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: memvmm's command-line parsers (run, ctl, probe, on
 * vmm/cli.c) and options_parse_size().
 *
 * The input is an argv: NUL-separated arguments, the first naming what to
 * call ("run", "ctl", "probe" or "size"; anything else: run). Besides the
 * sanitizers, every input must keep these promises:
 *   - a parser returns 0, OPTIONS_HELP or -EINVAL, and -EINVAL comes with a
 *     message that fits the 256-byte buffer whole and holds no control bytes
 *     (values echoed in it are shortened and cleaned);
 *   - argv is neither reordered nor written;
 *   - what a parse accepted is in range (vCPUs, memory size and alignment,
 *     socket path length, ctl command and keys);
 *   - options_parse_size() agrees with a 128-bit reference.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "mem/mem.h"
#include "vmm/cli.h"
#include "vmm/options.h"

#define FUZZ_MAX_ARGS  64
#define FUZZ_ERR_BYTES 256   /* what vmm/main.c gives the parsers */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_options: %s:%d: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

static bool word(const char *s, size_t len)
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

static bool socket_path_ok(const char *p)
{
	return p && *p && strlen(p) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

static void check_message(int ret, const char *err)
{
	CHECK(ret == 0 || ret == OPTIONS_HELP || ret == -EINVAL);
	if (ret != -EINVAL)
		return;
	CHECK(err[0] != '\0');
	CHECK(strlen(err) < FUZZ_ERR_BYTES - 1);
	CHECK(strncmp(err, "internal error", 14));
	for (const char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void check_run(const struct run_config *c)
{
	CHECK(c->vcpus >= 1 && c->vcpus <= OPTIONS_MAX_VCPUS);
	CHECK(c->mem_size >= MEM_MIN_BYTES && c->mem_size <= MEM_MAX_BYTES);
	CHECK(c->mem_size % MEM_PAGE_BYTES == 0);
	CHECK(!c->backend || c->mem_size % c->backend->align == 0);
	CHECK(c->cmdline && strlen(c->cmdline) <= OPTIONS_MAX_CMDLINE_BYTES);
	CHECK(!c->kernel || *c->kernel);
	CHECK(!c->initrd || *c->initrd);
	CHECK(!c->api_socket || socket_path_ok(c->api_socket));
	CHECK(c->populate_threads <= MEM_POPULATE_MAX_THREADS);
}

/* Every key and value comes from one of argv's key=value arguments. */
static void check_ctl(const struct ctl_config *c, int argc, char **argv)
{
	CHECK(socket_path_ok(c->api_socket));
	CHECK(c->command && word(c->command, strlen(c->command)) &&
	      strlen(c->command) <= OPTIONS_CTL_MAX_KEY_BYTES);
	CHECK(c->nr_args <= OPTIONS_CTL_MAX_ARGS);
	for (unsigned int i = 0; i < c->nr_args; i++) {
		size_t klen = strlen(c->key[i]);
		bool found = false;

		CHECK(word(c->key[i], klen) && klen <= OPTIONS_CTL_MAX_KEY_BYTES);
		for (unsigned int j = 0; j < i; j++)
			CHECK(strcmp(c->key[i], c->key[j]));
		for (int a = 1; a < argc && !found; a++)
			found = c->value[i] == argv[a] + klen + 1 &&
				!strncmp(argv[a], c->key[i], klen) && argv[a][klen] == '=';
		CHECK(found);
	}
}

/* options_parse_size() against arithmetic in 128 bits. */
static void check_size(const char *s)
{
	unsigned __int128 want = 0;
	uint64_t got = 0;
	const char *p = s;
	bool valid = *p >= '0' && *p <= '9';
	int ret = options_parse_size(s, &got);

	for (; *p >= '0' && *p <= '9'; p++) {
		want = want * 10 + (unsigned int)(*p - '0');
		if (want > UINT64_MAX)
			want = (unsigned __int128)UINT64_MAX + 1;   /* stays too large */
	}
	if (*p) {
		const char *suffix = strchr("kKmMgGtT", *p);

		valid = valid && suffix && p[1] == '\0';
		if (valid)
			want <<= 10 * (1 + (suffix - "kKmMgGtT") / 2);
	}
	if (!valid) {
		CHECK(ret == -EINVAL);
		return;
	}
	if (want > UINT64_MAX) {
		CHECK(ret == -ERANGE);
		return;
	}
	CHECK(ret == 0 && got == (uint64_t)want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *orig, *argv[FUZZ_MAX_ARGS + 1], *argv_copy[FUZZ_MAX_ARGS + 1];
	char err[FUZZ_ERR_BYTES];
	union {
		struct run_config run;
		struct probe_config probe;
		struct ctl_config ctl;
	} cfg;
	int argc = 0, ret;
	size_t off = 0;

	buf = malloc(size + 1);
	orig = malloc(size + 1);
	if (!buf || !orig)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	memcpy(orig, buf, size + 1);
	while (argc < FUZZ_MAX_ARGS && (off < size || argc == 0)) {
		argv[argc++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	argv[argc] = NULL;
	memcpy(argv_copy, argv, sizeof(argv));
	err[0] = '\0';

	if (!strcmp(argv[0], "size")) {
		for (int i = 1; i < argc; i++)
			check_size(argv[i]);
	} else if (!strcmp(argv[0], "ctl")) {
		ret = options_parse_ctl(argc, argv, &cfg.ctl, err, sizeof(err));
		check_message(ret, err);
		if (ret == 0)
			check_ctl(&cfg.ctl, argc, argv);
	} else if (!strcmp(argv[0], "probe")) {
		ret = options_parse_probe(argc, argv, &cfg.probe, err, sizeof(err));
		check_message(ret, err);
	} else {
		ret = options_parse_run(argc, argv, &cfg.run, err, sizeof(err));
		check_message(ret, err);
		if (ret == 0)
			check_run(&cfg.run);
	}
	CHECK(!memcmp(argv, argv_copy, sizeof(argv)));
	CHECK(!memcmp(buf, orig, size + 1));
	free(buf);
	free(orig);
	return 0;
}
