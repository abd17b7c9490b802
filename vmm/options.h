/* SPDX-License-Identifier: MIT */
/* Command-line parsing for `memvmm run`, `probe` and `ctl` (on vmm/cli.h). Prints nothing. */
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
#include "vmm/cpu_model.h"

/*
 * --virtio-mem size=MAX,requested=SIZE[,block=,backend=,populate=]: a
 * hotplug region of size bytes above all RAM, behind a virtio-mem device.
 * Checked against devices/virtio_mem.h's limits when parsed.
 */
struct run_vmem_config {
	bool enabled;                            /* --virtio-mem given */
	uint64_t size;                           /* a multiple of MACHINE_HOTPLUG_ALIGN */
	uint64_t requested;                      /* initial requested size (default 0) */
	uint64_t block;                          /* power of two, dividing size */
	const struct mem_backend_ops *backend;   /* NULL: boot RAM's (--memory's or the default) */
	enum mem_populate_strategy populate;     /* for every plug (default: --memory's) */
};

/*
 * --balloon GROUP (GROUP "on" for the defaults, "off" for none, or
 * size=,deflate-on-oom=,free-page-reporting=,stats=): a virtio-balloon
 * device. size is the balloon's initial target (what the guest is asked to
 * give back), at most RAM.
 */
struct run_balloon_config {
	bool enabled;
	uint64_t size;                 /* a multiple of 4 KiB (default 0) */
	bool deflate_on_oom;           /* default on */
	bool free_page_reporting;      /* default on */
	bool stats;                    /* offer the stats queue (stats=off: no) */
	unsigned int stats_s;          /* polling interval, 0: never (default 5) */
};

/* --restore's mode= (vmm/snapshot.h says what each does). */
enum restore_mode {
	RESTORE_AUTO,
	RESTORE_EAGER,
	RESTORE_MAP,
	RESTORE_LAZY_COPY,
	RESTORE_LAZY_MOVE,
	RESTORE_LAZY_MINOR,
	RESTORE_NR_MODES,
};

/* "auto", "eager", "map", "lazy-copy", "lazy-move", "lazy-minor"; NULL when out of range. */
const char *restore_mode_name(enum restore_mode m);

/*
 * --restore DIR or --restore path=DIR,mode=MODE,verify=on|off,background=on|off: start the
 * saved VM instead of booting. The machine (memory size, vCPUs, devices,
 * command line) comes from the snapshot; --memory may only choose backend=,
 * populate= (how the holes are preallocated; default none),
 * populate-threads=, prefault= and thp=.
 */
struct run_restore_config {
	const char *path;              /* NULL: boot a kernel */
	enum restore_mode mode;
	bool verify;                   /* check the memory files' checksums first */
	/*
	 * Lazy modes: a background thread fills what the guest has not
	 * touched (default). off: pages come only when touched (measuring
	 * pure on-demand restore; the snapshot's files must stay).
	 */
	bool background;
};

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
	enum mem_thp_mode thp;                   /* default MEM_THP_AUTO (0) */
	bool debug;               /* log unclaimed I/O and other debug detail */
	bool quiet;               /* no summary line on stderr */
	const char *api_socket;   /* --api-socket PATH: serve the control socket; NULL: none */
	struct run_vmem_config vmem;
	struct run_balloon_config balloon;
	struct run_restore_config restore;
	bool mem_size_given;      /* --memory size= was given */
	bool populate_given;      /* --memory populate= was given */
	struct cpu_model cpu;     /* --cpu (all zero: host, KVM's CPUID unchanged) */
	const char *help_text;    /* OPTIONS_HELP for `--cpu help`: print this, not the usage */
};

struct probe_config {
	bool json;
};

/* `memvmm ctl --api-socket PATH COMMAND [key=value ...]`: one request. */
#define OPTIONS_CTL_MAX_ARGS      16
#define OPTIONS_CTL_MAX_KEY_BYTES 63   /* a key's or the command's length, NUL not counted */

struct ctl_config {
	const char *api_socket;   /* never NULL after parsing */
	const char *command;      /* [a-z0-9_-]{1,63}; not checked against the server's list */
	unsigned int nr_args;
	/* keys: [a-z0-9_-]+, distinct; values may be empty. Pointing into key_buf and argv. */
	const char *key[OPTIONS_CTL_MAX_ARGS];
	const char *value[OPTIONS_CTL_MAX_ARGS];
	char key_buf[OPTIONS_CTL_MAX_ARGS][OPTIONS_CTL_MAX_KEY_BYTES + 1];
};

/*
 * Parse a size: decimal digits with an optional K, M, G or T suffix
 * (binary units, any case). -EINVAL for anything else, -ERANGE on overflow.
 */
int options_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));

/*
 * --balloon's GROUP, once --memory is known (cfg->mem_size): fills
 * cfg->balloon. -EINVAL with a message naming the bad value.
 */
int options_parse_balloon(const char *group, struct run_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * --cpu's SPEC (vmm/cpu_model.h) into cfg->cpu: 0, -EINVAL with a message
 * naming the bad item, or OPTIONS_HELP for "help" (cfg->help_text set).
 */
int options_parse_cpu(const char *spec, struct run_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * argv[0] is the subcommand name. 0 on success, OPTIONS_HELP for --help,
 * -EINVAL with a message naming the bad value in err otherwise (it fits in
 * 256 bytes: long values are shortened in it). argv is neither reordered nor
 * written; the configs point into it. Not thread-safe (getopt_long(3)).
 */
int options_parse_run(int argc, char **argv, struct run_config *cfg,
		      char *err, size_t errlen) __attribute__((warn_unused_result));
int options_parse_probe(int argc, char **argv, struct probe_config *cfg,
			char *err, size_t errlen) __attribute__((warn_unused_result));
int options_parse_ctl(int argc, char **argv, struct ctl_config *cfg,
		      char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * --restore's value (DIR, or path=,mode=,verify=) into cfg->restore.
 * -EINVAL with a message naming the bad value.
 */
int options_parse_restore(const char *group, struct run_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

extern const char options_run_help[];
extern const char options_probe_help[];
extern const char options_ctl_help[];

#endif /* MEMVMM_OPTIONS_H */
