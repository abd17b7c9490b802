/* SPDX-License-Identifier: MIT */
/*
 * The test guest under memvmm or QEMU as a child process, driven step by
 * step (vmem-plug, balloon): start it (inside a memory cgroup made for the
 * run when that is the meter), wait for each of the guest's report lines,
 * read the host's meter of the child's memory while the guest waits in its
 * read=1 step, then let it go on with one byte on its console.
 */
#ifndef MEMVMM_BENCH_GUEST_PROC_H
#define MEMVMM_BENCH_GUEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/proc.h"
#include "tests/memcg.h"

#define GUEST_LINE_PREFIX      "memvmm-guest: "
#define GUEST_LINE_ERROR       "memvmm-guest: error "
#define GUEST_EXIT_TIMEOUT_NS  (30ull * 1000000000ull)  /* after the last byte */
#define GUEST_CHILD_CGROUP_EXIT 126        /* the child could not join the cgroup */

/* The host's meter of the child's memory. */
enum guest_meter {
	GUEST_METER_MEMCG,     /* a memory cgroup made for each run, the child inside */
	GUEST_METER_RSS,       /* the child's /proc/PID/smaps_rollup Rss */
	GUEST_METER_HUGETLB,   /* huge pages in use, /proc/meminfo (hugetlb is not charged) */
};

/* "memcg v1 memory.usage_in_bytes", ... */
const char *guest_meter_name(enum guest_meter m);
/*
 * The meter for memory charged to memcgs: GUEST_METER_MEMCG if a group can
 * be made here (one is made and removed), else GUEST_METER_RSS with why.
 */
enum guest_meter guest_meter_choose(char *why, size_t len);

/* The host's TSC rate in kHz (measured once, 50 ms): QEMU's guest reports cycles. */
double guest_tsc_khz(void);

struct guest_child {
	pid_t pid;                 /* -1 once reaped */
	int in_fd, out_fd, err_fd;
	struct proc_buf out, err;
	size_t scan;               /* stdout: the first line not yet looked at */
	int status;                /* waitpid() status once reaped */
};

/* One run of the child, from guest_run_start() to guest_run_free(). */
struct guest_run {
	struct guest_child ch;
	struct memcg cg;
	bool cg_made;
	enum guest_meter meter;
	uint64_t deadline;         /* of the whole run */
	char line[512];            /* the last step's line */
	char *why;                 /* failures and refusals are said here */
	size_t why_len;
};

/*
 * Start argv (memvmm or QEMU running the test guest), in a memory cgroup
 * made for it when meter is GUEST_METER_MEMCG; the run must end within
 * timeout_ns. 0 or -errno, why saying what failed. guest_run_free() after
 * either.
 */
int guest_run_start(struct guest_run *r, char *const argv[], enum guest_meter meter,
		    uint64_t timeout_ns, char *why, size_t why_len)
	__attribute__((warn_unused_result));
/* Kill the child if it still runs, reap it, remove the cgroup. */
void guest_run_free(struct guest_run *r);

/*
 * Wait for the guest's next line starting with prefix (after one byte on
 * its console when send_first), into r->line. -EPROTO when the guest's
 * error line came first, -EPIPE when the child's output ended (it was
 * reaped), -ETIMEDOUT; why says which.
 */
int guest_run_step(struct guest_run *r, const char *prefix, bool send_first)
	__attribute__((warn_unused_result));
/*
 * The child ended before the guest started (guest_run_step() gave -EPIPE):
 * -EOPNOTSUPP when it refused the configuration itself (exit status 1 or
 * 2), why its last line; else -EIO.
 */
int guest_run_refused(struct guest_run *r) __attribute__((warn_unused_result));
/* The host meter now, in bytes: 0 or -errno, why says which. */
int guest_run_meter(struct guest_run *r, uint64_t *bytes) __attribute__((warn_unused_result));
/*
 * The last byte (the guest's last read=1), then the child must end with
 * exit_status: 0, else -errno and why.
 */
int guest_run_finish(struct guest_run *r, int exit_status) __attribute__((warn_unused_result));

/* The number after " key=" in a guest's line. */
bool guest_line_u64(const char *line, const char *key, uint64_t *v);
/*
 * The step's time in ms: us=N (memvmm tells the guest its TSC rate), or
 * cycles=N (QEMU does not) over the host's TSC rate, which KVM and TCG
 * guests read without scaling. NAN if neither.
 */
double guest_line_ms(const char *line);
/* The same for a named time: NAME_us=, else NAME_cycles= ("request" -> request_us=). */
double guest_line_ms_of(const char *line, const char *name);

struct json_object;
/* A number (double or int) member of a JSON object. */
bool guest_json_num(struct json_object *o, const char *key, double *v);
/*
 * memvmm's `status` over its API socket: 0 with *root (json_object_put()
 * it) when the reply says "ok": true; else -errno, why says.
 */
int guest_memvmm_status(const char *sock, struct json_object **root, char *why, size_t len)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_BENCH_GUEST_PROC_H */
