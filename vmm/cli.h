/* SPDX-License-Identifier: MIT */
/*
 * The one command-line parser of memvmm and memvmm-bench, on getopt_long(3)
 * and getsubopt(3). Prints nothing: a refusal is -EINVAL with a message that
 * names the bad value in err (values echoed there are shortened, so that a
 * message always fits 256 bytes with its reason).
 *
 * Options are "--name VALUE" or "--name=VALUE", exact names only (getopt's
 * abbreviations are refused: "--mem" is not "--memory"); -h and --help are
 * always known. Arguments are read left to right and argv is never
 * reordered or written. getopt keeps global state: one parse at a time.
 */
#ifndef MEMVMM_CLI_H
#define MEMVMM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#define CLI_MAX_OPTIONS 16
/* A value echoed in a message is cut to this many bytes (NUL included), "..." in its middle. */
#define CLI_ECHO_BYTES 64

/* What cli_next() returns besides a caller's option id and -EINVAL. */
enum {
	CLI_END = 0,        /* every argument read */
	CLI_ARG = 1,        /* a positional argument (also everything after "--") */
	CLI_HELP = 2,       /* -h or --help */
	CLI_FIRST_ID = 16,  /* callers' option ids start here */
};

struct cli_option {
	const char *name;   /* long name without "--"; NULL ends a table */
	int id;             /* >= CLI_FIRST_ID */
	bool takes_value;
};

struct cli {
	int argc;
	char **argv;
	const struct cli_option *opts;
	int nr_opts;
	const char *hint;          /* "see memvmm run --help", after an unknown option */
	char *err;
	size_t errlen;
	bool options_done;         /* getopt_long returned -1: positionals remain */
	struct option longopts[CLI_MAX_OPTIONS + 2];
};

/*
 * Start reading argv[1..argc) (argv[0] is the command's name) against opts.
 * -EINVAL when opts has more than CLI_MAX_OPTIONS entries.
 */
int cli_begin(struct cli *c, int argc, char **argv, const struct cli_option *opts,
	      const char *hint, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The next argument: an option's id with *value set (NULL for an option that
 * takes none), CLI_ARG with *value the positional argument, CLI_HELP, CLI_END,
 * or -EINVAL with a message (unknown option, missing or unwanted value).
 */
int cli_next(struct cli *c, const char **value) __attribute__((warn_unused_result));

/* snprintf into err; returns -EINVAL. */
int cli_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * s made fit for a message: control bytes shown as '?', and when longer than
 * CLI_ECHO_BYTES - 1 its head and tail around "..." (cut on UTF-8 character
 * boundaries). Returns buf, which has CLI_ECHO_BYTES bytes.
 */
const char *cli_echo(const char *s, char *buf);
/* cli_echo() into a buffer that lives until the end of the enclosing block. */
#define CLI_ECHO(s) cli_echo((s), (char[CLI_ECHO_BYTES]){ 0 })

/*
 * A comma-separated key=value group such as `--memory size=1G,backend=memfd`.
 * keys is NULL-terminated, at most CLI_GROUP_MAX_KEYS; example is shown when
 * the group is empty.
 */
#define CLI_GROUP_MAX_KEYS 16
#define CLI_GROUP_MAX_BYTES 255
struct cli_group {
	const char *option;             /* "--memory" */
	const char *const *keys;
	const char *example;            /* "size=1G,backend=memfd" */
};

/*
 * Split group with getsubopt(3): value[i] becomes keys[i]'s value (maybe
 * empty), NULL when the key is absent. The values point into buf, a copy of
 * group, of CLI_GROUP_MAX_BYTES + 1 bytes. Refused with -EINVAL and a message:
 * an empty or over-long group, an empty item (a stray comma), an item without
 * '=', an unknown key, a key given twice.
 */
int cli_group_parse(const struct cli_group *g, const char *group, const char **value,
		    char *buf, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif /* MEMVMM_CLI_H */
