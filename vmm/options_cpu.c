// SPDX-License-Identifier: MIT
/* --cpu SPEC: the guest's CPU model (vmm/cpu_model.h, vmm/options.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cli.h"
#include "vmm/cpu_model.h"
#include "vmm/options.h"

/* What cpu_model_parse() says, with room for "--cpu: " in a 256-byte message. */
#define OPTIONS_CPU_WHY_BYTES 240

int options_parse_cpu(const char *spec, struct run_config *cfg, char *err, size_t errlen)
{
	static char help[CPU_MODEL_HELP_BYTES];
	char why[OPTIONS_CPU_WHY_BYTES];

	if (!strcmp(spec, "help")) {
		cpu_model_help(help, sizeof(help));
		cfg->help_text = help;
		return OPTIONS_HELP;
	}
	if (!*spec)
		return cli_fail(err, errlen, "--cpu: empty SPEC (host, or items such as "
				"-cx16,-xsave; memvmm run --cpu help lists the names)");
	if (cpu_model_parse(spec, &cfg->cpu, why, sizeof(why)))
		return cli_fail(err, errlen, "--cpu: %s", why);
	return 0;
}
