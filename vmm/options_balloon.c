// SPDX-License-Identifier: MIT
/* --balloon: the virtio-balloon device's options (vmm/options.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_balloon.h"
#include "vmm/cli.h"
#include "vmm/options.h"

enum balloon_key { BAL_SIZE, BAL_OOM, BAL_REPORTING, BAL_STATS };

static const char *const balloon_keys[] = {
	[BAL_SIZE] = "size",
	[BAL_OOM] = "deflate-on-oom",
	[BAL_REPORTING] = "free-page-reporting",
	[BAL_STATS] = "stats",
	NULL,
};

static const struct cli_group balloon_group = {
	.option = "--balloon",
	.keys = balloon_keys,
	.example = "size=512M,stats=1",
};

/* on|off into *out; -EINVAL with a message naming key and value. */
static int balloon_on_off(const char *key, const char *val, bool *out, char *err, size_t errlen)
{
	if (!val)
		return 0;
	if (!strcmp(val, "on"))
		*out = true;
	else if (!strcmp(val, "off"))
		*out = false;
	else
		return cli_fail(err, errlen, "--balloon: %s '%s' is not on or off", key,
				CLI_ECHO(val));
	return 0;
}

/* stats=SECONDS (0..BALLOON_MAX_STATS_S: 0 offers the queue without polling) or off. */
static int balloon_stats(const char *val, struct run_balloon_config *b, char *err, size_t errlen)
{
	unsigned long n;
	char *end;

	if (!val)
		return 0;
	if (!strcmp(val, "off")) {
		b->stats = false;
		b->stats_s = 0;
		return 0;
	}
	errno = 0;
	n = strtoul(val, &end, 10);
	if (*val < '0' || *val > '9' || *end || errno || n > BALLOON_MAX_STATS_S)
		return cli_fail(err, errlen, "--balloon: stats '%s' is not a number of seconds "
				"0..%u or off", CLI_ECHO(val), BALLOON_MAX_STATS_S);
	b->stats_s = (unsigned int)n;
	return 0;
}

int options_parse_balloon(const char *group, struct run_config *cfg, char *err, size_t errlen)
{
	struct run_balloon_config *b = &cfg->balloon;
	const char *val[CLI_GROUP_MAX_KEYS];
	char buf[CLI_GROUP_MAX_BYTES + 1];
	int ret;

	*b = (struct run_balloon_config){
		.enabled = true,
		.deflate_on_oom = true,
		.free_page_reporting = true,
		.stats = true,
		.stats_s = BALLOON_DEFAULT_STATS_S,
	};
	if (!strcmp(group, "on"))
		return 0;
	if (!strcmp(group, "off")) {
		b->enabled = false;
		return 0;
	}
	ret = cli_group_parse(&balloon_group, group, val, buf, err, errlen);
	if (ret)
		return ret;
	if (val[BAL_SIZE]) {
		ret = options_parse_size(val[BAL_SIZE], &b->size);
		if (ret)
			return cli_fail(err, errlen, "--balloon: %s size '%s' (use e.g. 512M, 1G)",
					ret == -ERANGE ? "too large:" : "invalid",
					CLI_ECHO(val[BAL_SIZE]));
		if (b->size % BALLOON_PAGE_BYTES)
			return cli_fail(err, errlen, "--balloon: size '%s' is not a multiple of 4K",
					CLI_ECHO(val[BAL_SIZE]));
		if (b->size > cfg->mem_size)
			return cli_fail(err, errlen, "--balloon: size '%s' is more than RAM (%lluM)",
					CLI_ECHO(val[BAL_SIZE]),
					(unsigned long long)(cfg->mem_size >> 20));
	}
	ret = balloon_on_off("deflate-on-oom", val[BAL_OOM], &b->deflate_on_oom, err, errlen);
	if (!ret)
		ret = balloon_on_off("free-page-reporting", val[BAL_REPORTING],
				     &b->free_page_reporting, err, errlen);
	return ret ? ret : balloon_stats(val[BAL_STATS], b, err, errlen);
}
