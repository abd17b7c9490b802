// SPDX-License-Identifier: MIT
/*
 * One command-line parser on getopt_long(3) and getsubopt(3); see cli.h.
 *
 * getopt_long runs with optstring "-:h": '-' returns positional arguments in
 * order (as option 1) instead of permuting argv, ':' reports a missing value
 * as ':' rather than '?', and opterr = 0 keeps getopt's own messages out.
 */
#include "vmm/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long's val for opts[i] is CLI_LONG_BASE + i: never a character. */
#define CLI_LONG_BASE 0x1000
#define CLI_HELP_VAL  'h'
#define CLI_ECHO_PART_BYTES ((CLI_ECHO_BYTES - 1 - 3) / 2)

int cli_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool utf8_continuation(unsigned char ch)
{
	return (ch & 0xc0) == 0x80;
}

static char *echo_copy(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];

		*dst++ = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	return dst;
}

const char *cli_echo(const char *s, char *buf)
{
	size_t len = strlen(s), head, tail;
	char *p;

	if (len < CLI_ECHO_BYTES) {
		*echo_copy(buf, s, len) = '\0';
		return buf;
	}
	head = CLI_ECHO_PART_BYTES;
	while (head && utf8_continuation((unsigned char)s[head]))
		head--;
	tail = CLI_ECHO_PART_BYTES;
	while (tail && utf8_continuation((unsigned char)s[len - tail]))
		tail--;
	p = echo_copy(buf, s, head);
	memcpy(p, "...", 3);
	p = echo_copy(p + 3, s + len - tail, tail);
	*p = '\0';
	return buf;
}

int cli_begin(struct cli *c, int argc, char **argv, const struct cli_option *opts,
	      const char *hint, char *err, size_t errlen)
{
	unsigned int i;

	*c = (struct cli){
		.argc = argc, .argv = argv, .opts = opts, .hint = hint,
		.err = err, .errlen = errlen,
	};
	for (i = 0; opts[i].name; i++) {
		if (i == CLI_MAX_OPTIONS)
			return cli_fail(err, errlen, "more than %d options", CLI_MAX_OPTIONS);
		c->longopts[i] = (struct option){
			.name = opts[i].name,
			.has_arg = opts[i].takes_value ? required_argument : no_argument,
			.val = CLI_LONG_BASE + (int)i,
		};
	}
	c->nr_opts = (int)i;
	c->longopts[i++] = (struct option){ .name = "help", .val = CLI_HELP_VAL };
	c->longopts[i] = (struct option){ 0 };
	/* optind = 0 re-initialises getopt fully, whatever an earlier parse left. */
	optind = 0;
	opterr = 0;
	return 0;
}

/* The option's name as written, up to '=': "--memory" from "--memory=size=1G". */
static bool written_exactly(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return arg[0] == '-' && arg[1] == '-' && !strncmp(arg + 2, name, n) &&
	       (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

static int unknown_option(struct cli *c, const char *arg)
{
	return cli_fail(c->err, c->errlen, "unknown option '%s' (%s)", CLI_ECHO(arg), c->hint);
}

/* The option behind getopt_long's val, or NULL when val is not one of ours. */
static const struct cli_option *cli_long(const struct cli *c, int val)
{
	int i = val - CLI_LONG_BASE;

	if (i < 0 || i >= c->nr_opts)
		return NULL;
	return &c->opts[i];
}

int cli_next(struct cli *c, const char **value)
{
	const struct cli_option *opt;
	int ch, longindex = -1;
	const char *arg;

	*value = NULL;
	if (c->options_done) {
		if (optind >= c->argc)
			return CLI_END;
		*value = c->argv[optind++];
		return CLI_ARG;
	}
	ch = getopt_long(c->argc, c->argv, "-:h", c->longopts, &longindex);
	switch (ch) {
	case -1:
		/* After "--", the rest are positionals from optind on. */
		c->options_done = true;
		return cli_next(c, value);
	case 1:
		*value = optarg;
		return CLI_ARG;
	case ':':
		opt = cli_long(c, optopt);
		if (!opt)
			break;
		return cli_fail(c->err, c->errlen, "--%s needs a value", opt->name);
	case '?':
		if (optopt == CLI_HELP_VAL && c->argv[optind - 1][1] == '-')
			return cli_fail(c->err, c->errlen, "--help takes no value ('%s')",
					CLI_ECHO(c->argv[optind - 1]));
		opt = cli_long(c, optopt);
		if (opt)
			return cli_fail(c->err, c->errlen, "--%s takes no value ('%s')", opt->name,
					CLI_ECHO(c->argv[optind - 1]));
		if (optopt) {
			char flag[3] = { '-', (char)optopt, '\0' };

			return unknown_option(c, flag);
		}
		return unknown_option(c, c->argv[optind - 1]);
	case CLI_HELP_VAL:
		/* -h (longindex untouched), or --help written out in full (not "--he"). */
		if (longindex >= 0 && !written_exactly(c->argv[optind - 1], "help"))
			return unknown_option(c, c->argv[optind - 1]);
		return CLI_HELP;
	default:
		opt = cli_long(c, ch);
		if (!opt)
			break;
		/* The option's own argument: before its value when that was separate. */
		arg = c->argv[optind - 1];
		if (opt->takes_value && optarg == arg)
			arg = c->argv[optind - 2];
		if (!written_exactly(arg, opt->name))
			return unknown_option(c, arg);
		*value = opt->takes_value ? optarg : NULL;
		return opt->id;
	}
	return cli_fail(c->err, c->errlen, "internal error: getopt_long returned %d (optopt %d)",
			ch, optopt);
}

static void group_key_list(const struct cli_group *g, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; g->keys[i] && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", g->keys[i]);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

int cli_group_parse(const struct cli_group *g, const char *group, const char **value,
		    char *buf, char *err, size_t errlen)
{
	size_t len = strlen(group);
	char keys[128], *p = buf, *val;
	unsigned int i;

	for (i = 0; g->keys[i]; i++) {
		if (i == CLI_GROUP_MAX_KEYS)
			return cli_fail(err, errlen, "%s: more than %d keys", g->option,
					CLI_GROUP_MAX_KEYS);
		value[i] = NULL;
	}
	if (len > CLI_GROUP_MAX_BYTES)
		return cli_fail(err, errlen, "%s value is too long (%zu bytes, at most %d): '%s'",
				g->option, len, CLI_GROUP_MAX_BYTES, CLI_ECHO(group));
	if (!len)
		return cli_fail(err, errlen, "%s needs key=value pairs (e.g. %s)", g->option,
				g->example);
	/* getsubopt() ends at a trailing comma without a word: check it here. */
	if (group[len - 1] == ',')
		return cli_fail(err, errlen, "%s: empty item (a stray comma) in '%s'", g->option,
				CLI_ECHO(group));
	memcpy(buf, group, len + 1);
	while (*p) {
		int k = getsubopt(&p, (char *const *)g->keys, &val);

		if (k < 0) {
			char *eq = strchr(val, '=');

			if (!*val)
				return cli_fail(err, errlen, "%s: empty item (a stray comma) in '%s'",
						g->option, CLI_ECHO(group));
			if (eq == val)
				return cli_fail(err, errlen, "%s: '%s' has no key", g->option,
						CLI_ECHO(val));
			if (eq)
				*eq = '\0';
			group_key_list(g, keys, sizeof(keys));
			return cli_fail(err, errlen, "%s: unknown key '%s' (%s)", g->option,
					CLI_ECHO(val), keys);
		}
		if (!val)
			return cli_fail(err, errlen, "%s: '%s' is not key=value", g->option,
					g->keys[k]);
		if (value[k])
			return cli_fail(err, errlen, "%s: %s given twice in '%s'", g->option,
					g->keys[k], CLI_ECHO(group));
		value[k] = val;
	}
	return 0;
}
