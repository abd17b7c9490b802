// SPDX-License-Identifier: MIT
/*
 * End to end: inputs a hostile or careless user gives memvmm.
 *
 * - A FIFO, a directory or a character device as --kernel or --initrd is
 *   refused with exit 2 at once (a FIFO used to block open() forever, and
 *   SIGTERM could not stop it), naming the path and "not a regular file".
 *   memvmm checks its files before it opens /dev/kvm, so these run on any host.
 * - A 4000-byte path still ends in the reason.
 * - `memvmm probe` with too few file descriptors fails (exit 1) naming EMFILE,
 *   rather than reporting host features as missing (needs /dev/kvm).
 *
 * Each case is its own Meson test (tests/meson.build, e2e_case_main()).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"
#include "vmm/errmsg.h"

/*
 * What must be refused is refused this fast, beyond what `memvmm --help`
 * takes on this host (slow under sanitizers on a loaded CI machine): nothing
 * may block or populate first.
 */
#define REFUSE_MAX_S 1.0
/* A regression would block forever: give up long before E2E_TIMEOUT_S. */
#define REFUSE_TIMEOUT_S 10
#define LONG_PATH_BYTES 4000
/* File descriptors memvmm gets in the probe case: 0-2, /dev/kvm and one scratch VM. */
#define PROBE_NOFILE_TIGHT 5
#define PROBE_NOFILE_MAX 16
#define PROBE_TIMEOUT_S 60

static char tmpdir[] = "/tmp/memvmm-e2e-inputs-XXXXXX";

/* A FIFO nobody writes to, in a new temporary directory. */
static char *make_fifo(void)
{
	char *p = NULL;

	TEST_ASSERT(mkdtemp(tmpdir), "mkdtemp");
	TEST_ASSERT(asprintf(&p, "%s/fifo", tmpdir) > 0, "asprintf");
	TEST_ASSERT(mkfifo(p, 0600) == 0, "mkfifo %s", p);
	return p;
}

static void remove_fifo(char *p)
{
	TEST_ASSERT(unlink(p) == 0, "unlink %s", p);
	free(p);
	TEST_ASSERT(rmdir(tmpdir) == 0, "rmdir %s", tmpdir);
}

/* Seconds memvmm takes to start and exit here: `memvmm --help`. */
static double startup_s(void)
{
	static const char *const args[] = { "--help", NULL };
	struct e2e_opts o = { .timeout_s = REFUSE_TIMEOUT_S };
	struct e2e_result r;
	double s;

	e2e_run(args, &o, &r);
	E2E_EXPECT_STATUS(&r, 0);
	s = r.seconds;
	e2e_free(&r);
	return s;
}

/* `memvmm run OPTION path` exits 2 at once (see REFUSE_MAX_S), saying the path and want. */
static void expect_refused(const char *option, const char *path, const char *want)
{
	const char *args[] = { "run", option, path, NULL };
	struct e2e_opts o = { .timeout_s = REFUSE_TIMEOUT_S };
	struct e2e_result r;
	double start = startup_s();

	e2e_run(args, &o, &r);
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(r.seconds < start + REFUSE_MAX_S, "%s %s: refused after %.2f s (--help: %.2f s)",
		    option, errmsg_path(path).s, r.seconds, start);
	TEST_ASSERT(strstr(r.err, errmsg_path(path).s) && strstr(r.err, want),
		    "%s: stderr lacks the path or '%s':\n%s", option, want, r.err);
	TEST_ASSERT(!strstr(r.err, "AddressSanitizer") && !strstr(r.err, "runtime error"),
		    "sanitizer report: %s", r.err);
	printf("ok - %s %s: exit 2 in %.0f ms: %s", option, errmsg_path(path).s, r.seconds * 1000,
	       r.err);
	e2e_free(&r);
}

static void case_fifo_kernel(const void *arg)
{
	char *fifo = make_fifo();

	expect_refused("--kernel", fifo, "is not a regular file (it is a FIFO)");
	remove_fifo(fifo);
}

static void case_fifo_initrd(const void *arg)
{
	char *fifo = make_fifo();

	expect_refused("--initrd", fifo, "is not a regular file (it is a FIFO)");
	remove_fifo(fifo);
}

static void case_directory(const void *arg)
{
	expect_refused("--kernel", "/", "is not a regular file (it is a directory)");
	expect_refused("--initrd", "/tmp", "is not a regular file (it is a directory)");
}

static void case_char_device(const void *arg)
{
	expect_refused("--kernel", "/dev/zero", "is not a regular file (it is a character device)");
	expect_refused("--initrd", "/dev/null", "is not a regular file (it is a character device)");
}

/* A missing file under a 4000-byte path: the message still ends in the reason. */
static void case_long_path(const void *arg)
{
	const char *options[] = { "--kernel", "--initrd" };
	char *p = malloc(LONG_PATH_BYTES + 1);
	size_t i;

	TEST_ASSERT(p, "malloc");
	for (i = 0; i < LONG_PATH_BYTES; i++)
		p[i] = i % 100 == 0 ? '/' : 'a';
	memcpy(p + LONG_PATH_BYTES - 8, "/vmlinux", 9);
	for (i = 0; i < 2; i++)
		expect_refused(options[i], p, "/vmlinux': No such file or directory");
	free(p);
}

struct run_out {
	int status;       /* exit status, 128 + signal when killed */
	char out[65536];  /* stdout, cut */
	char err[8192];   /* stderr, cut */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `memvmm probe` with only fds 0-2 open and RLIMIT_NOFILE at nofile. */
static void probe_with_nofile(unsigned int nofile, struct run_out *r)
{
	const char *memvmm = e2e_memvmm();
	int out[2], err[2], status;
	size_t lens[2] = { 0, 0 }, caps[2] = { sizeof(r->out) - 1, sizeof(r->err) - 1 };
	char *bufs[2] = { r->out, r->err };
	double deadline = now_s() + PROBE_TIMEOUT_S;
	bool open_[2] = { true, true };
	pid_t pid;

	TEST_ASSERT(pipe(out) == 0 && pipe(err) == 0, "pipe");
	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		struct rlimit rl = { .rlim_cur = nofile, .rlim_max = nofile };
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0 || close_range(3, ~0u, 0) < 0 ||
		    setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(126);
		execl(memvmm, memvmm, "probe", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	while (open_[0] || open_[1]) {
		struct pollfd p[2] = {
			{ .fd = open_[0] ? out[0] : -1, .events = POLLIN },
			{ .fd = open_[1] ? err[0] : -1, .events = POLLIN },
		};
		double left = deadline - now_s();

		if (left <= 0) {
			kill(pid, SIGKILL);
			fprintf(stderr, "memvmm probe timed out, killed\n");
			break;
		}
		if (poll(p, 2, (int)(left * 1000) + 1) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char sink[4096];
			ssize_t n;

			if (!p[i].revents)
				continue;
			if (lens[i] < caps[i])
				n = read(i ? err[0] : out[0], bufs[i] + lens[i], caps[i] - lens[i]);
			else
				n = read(i ? err[0] : out[0], sink, sizeof(sink));
			if (n <= 0)
				open_[i] = false;
			else if (lens[i] < caps[i])
				lens[i] += (size_t)n;
		}
	}
	r->out[lens[0]] = '\0';
	r->err[lens[1]] = '\0';
	close(out[0]);
	close(err[0]);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	TEST_ASSERT(r->status != 126 && r->status != 127, "could not start %s", memvmm);
}

/*
 * Out of file descriptors, a trial says nothing about the host: probe must
 * fail naming EMFILE, never print a table with features missing because of it.
 * For every limit from PROBE_NOFILE_TIGHT - 1 (not even /dev/kvm's fd fits)
 * up: either exit 1 naming the error, or a table with no EMFILE in it; and at
 * PROBE_NOFILE_TIGHT (the trials' first scratch object does not fit) exit 1.
 */
static void case_probe_emfile(const void *arg)
{
	struct run_out *r = malloc(sizeof(*r));
	unsigned int n;

	TEST_ASSERT(r, "malloc");
	e2e_require_kvm();
	for (n = PROBE_NOFILE_TIGHT - 1; n <= PROBE_NOFILE_MAX; n++) {
		probe_with_nofile(n, r);
		if (r->status == 0) {
			TEST_ASSERT(!strstr(r->out, "EMFILE") && !strstr(r->out, "Too many open"),
				    "RLIMIT_NOFILE %u: exit 0 with EMFILE in the table:\n%s", n,
				    r->out);
			printf("ok - RLIMIT_NOFILE %u: full table\n", n);
			continue;
		}
		TEST_ASSERT(r->status == 1 && (strstr(r->err, "EMFILE") ||
					       strstr(r->err, "Too many open files")),
			    "RLIMIT_NOFILE %u: exit %d, stderr:\n%s\nstdout:\n%s", n, r->status,
			    r->err, r->out);
		TEST_ASSERT(!r->out[0], "RLIMIT_NOFILE %u: a table printed on failure:\n%s", n,
			    r->out);
		if (n == PROBE_NOFILE_TIGHT)
			TEST_ASSERT(strstr(r->err, "EMFILE") && strstr(r->err, "trial"),
				    "RLIMIT_NOFILE %u: the failed trial is not named: %s", n, r->err);
		printf("ok - RLIMIT_NOFILE %u: exit 1: %s", n, r->err);
	}
	free(r);
}

static const struct e2e_case cases[] = {
	{ "fifo-kernel", case_fifo_kernel, NULL },
	{ "fifo-initrd", case_fifo_initrd, NULL },
	{ "directory", case_directory, NULL },
	{ "char-device", case_char_device, NULL },
	{ "long-path", case_long_path, NULL },
	{ "probe-emfile", case_probe_emfile, NULL },
};

int main(int argc, char **argv)
{
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
