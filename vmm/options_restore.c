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

enum restore_key { RES_PATH, RES_MODE, RES_VERIFY };

static const char *const restore_keys[] = {
	[RES_PATH] = "path",
	[RES_MODE] = "mode",
	[RES_VERIFY] = "verify",
	NULL,
};

static const struct cli_group restore_group = {
	.option = "--restore",
	.keys = restore_keys,
	.example = "path=snap1,mode=lazy-copy",
};

int options_parse_restore(const char *group, struct run_config *cfg, char *err, size_t errlen)
{
	struct run_restore_config *r = &cfg->restore;
	const char *val[CLI_GROUP_MAX_KEYS];
	static char buf[CLI_GROUP_MAX_BYTES + 1];
	int ret;

	*r = (struct run_restore_config){ .mode = RESTORE_AUTO };
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
	if (val[RES_VERIFY]) {
		if (!strcmp(val[RES_VERIFY], "on"))
			r->verify = true;
		else if (strcmp(val[RES_VERIFY], "off"))
			return cli_fail(err, errlen, "--restore: verify '%s' is not on or off",
					CLI_ECHO(val[RES_VERIFY]));
	}
	return 0;
}
