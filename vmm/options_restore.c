// SPDX-License-Identifier: MIT
/* --restore: start a saved VM (vmm/options.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cli.h"
#include "vmm/options.h"

static const char *const restore_mode_names[RESTORE_NR_MODES] = {
	[RESTORE_AUTO] = "auto",
	[RESTORE_EAGER] = "eager",
	[RESTORE_MAP] = "map",
	[RESTORE_LAZY_COPY] = "lazy-copy",
	[RESTORE_LAZY_MOVE] = "lazy-move",
	[RESTORE_LAZY_MINOR] = "lazy-minor",
};

const char *restore_mode_name(enum restore_mode m)
{
	return (unsigned int)m < RESTORE_NR_MODES ? restore_mode_names[m] : NULL;
}

enum restore_key { RES_PATH, RES_MODE, RES_VERIFY, RES_BACKGROUND };

static const char *const restore_keys[] = {
	[RES_PATH] = "path",
	[RES_MODE] = "mode",
	[RES_VERIFY] = "verify",
	[RES_BACKGROUND] = "background",
	NULL,
};

static const struct cli_group restore_group = {
	.option = "--restore",
	.keys = restore_keys,
	.example = "path=snap1,mode=lazy-copy",
};

/* on|off (absent: unchanged) into *out. */
static int restore_on_off(const char *key, const char *val, bool *out, char *err, size_t errlen)
{
	if (!val)
		return 0;
	if (!strcmp(val, "on"))
		*out = true;
	else if (!strcmp(val, "off"))
		*out = false;
	else
		return cli_fail(err, errlen, "--restore: %s '%s' is not on or off", key,
				CLI_ECHO(val));
	return 0;
}

int options_parse_restore(const char *group, struct run_config *cfg, char *err, size_t errlen)
{
	struct run_restore_config *r = &cfg->restore;
	const char *val[CLI_GROUP_MAX_KEYS];
	static char buf[CLI_GROUP_MAX_BYTES + 1];
	int ret;

	*r = (struct run_restore_config){ .mode = RESTORE_AUTO, .background = true };
	/* A plain directory name: no key=value pairs in it. */
	if (!strchr(group, '=')) {
		if (!*group)
			return cli_fail(err, errlen, "--restore: empty directory name");
		r->path = group;
		return 0;
	}
	ret = cli_group_parse(&restore_group, group, val, buf, err, errlen);
	if (ret)
		return ret;
	if (!val[RES_PATH] || !*val[RES_PATH])
		return cli_fail(err, errlen, "--restore: path=DIR is missing (e.g. %s)",
				restore_group.example);
	r->path = val[RES_PATH];
	if (val[RES_MODE]) {
		unsigned int m;

		for (m = 0; m < RESTORE_NR_MODES; m++)
			if (!strcmp(val[RES_MODE], restore_mode_names[m]))
				break;
		if (m == RESTORE_NR_MODES)
			return cli_fail(err, errlen, "--restore: unknown mode '%s' (auto, eager, "
					"map, lazy-copy, lazy-move, lazy-minor)",
					CLI_ECHO(val[RES_MODE]));
		r->mode = (enum restore_mode)m;
	}
	ret = restore_on_off("verify", val[RES_VERIFY], &r->verify, err, errlen);
	if (!ret)
		ret = restore_on_off("background", val[RES_BACKGROUND], &r->background, err, errlen);
	if (!ret && !r->background && r->mode != RESTORE_LAZY_COPY && r->mode != RESTORE_LAZY_MOVE &&
	    r->mode != RESTORE_LAZY_MINOR)
		return cli_fail(err, errlen, "--restore: background=off needs a lazy mode "
				"(mode=lazy-copy, lazy-move or lazy-minor)");
	return ret;
}
