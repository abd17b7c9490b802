/* SPDX-License-Identifier: MIT */
/* Command-line parsing for `memvmm run` and `memvmm probe`. Prints nothing. */
#ifndef MEMVMM_OPTIONS_H
#define MEMVMM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPTIONS_DEFAULT_MEM_BYTES (256ull << 20)
#define OPTIONS_MAX_VCPUS         255   /* xAPIC IDs are 8 bits */
#define OPTIONS_MAX_CMDLINE_BYTES 4095  /* plus NUL: one page */

/* Returned (positive) when the user asked for --help. */
#define OPTIONS_HELP 1

#include "mem/populate.h"

struct run_config {
	const char *kernel;       /* NULL: the bundled test guest */
	const char *initrd;       /* NULL: none */
	const char *cmdline;      /* never NULL after parsing */
	unsigned int vcpus;
	uint64_t mem_size;
	const struct mem_backend_ops *backend;  /* NULL: the default */
	enum mem_populate_strategy populate;
	unsigned int populate_threads;           /* 0: as many as CPUs online */
	enum mem_prefault_mode prefault;
	bool debug;               /* log unclaimed I/O and other debug detail */
	bool quiet;               /* no summary line on stderr */
};

struct probe_config {
	bool json;
};

/*
 * Parse a size: decimal digits with an optional K, M, G or T suffix
 * (binary units, any case). -EINVAL for anything else, -ERANGE on overflow.
 */
int options_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));

/*
 * argv[0] is the subcommand name. 0 on success, OPTIONS_HELP for --help,
 * -EINVAL with a message naming the bad value in err otherwise.
 */
int options_parse_run(int argc, char **argv, struct run_config *cfg,
		      char *err, size_t errlen) __attribute__((warn_unused_result));
int options_parse_probe(int argc, char **argv, struct probe_config *cfg,
			char *err, size_t errlen) __attribute__((warn_unused_result));

extern const char options_run_help[];
extern const char options_probe_help[];

#endif /* MEMVMM_OPTIONS_H */
