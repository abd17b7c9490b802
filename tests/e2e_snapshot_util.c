// SPDX-License-Identifier: MIT
/* Helpers of the snapshot end-to-end tests (tests/e2e_snapshot.h). */
#include "tests/e2e_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/hugepages.h"
#include "tests/test.h"

#define SNAP_MAX_TMPDIRS    8
#define SNAP_MAX_ARGS       24
#define SNAP_POLL_MS        20
#define SNAP_CTL_TIMEOUT_S  600    /* a snapshot of a large guest takes a while */
#define SNAP_COPY_BYTES     (1u << 20)
#define SNAP_REFUSE_TIMEOUT_S 60   /* a refusal comes before any guest runs */

/* ---- scratch ------------------------------------------------------------- */

static char tmpdirs[SNAP_MAX_TMPDIRS][64];
static unsigned int nr_tmpdirs;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);   /* best effort: the rest is still removed */
	return 0;
}

static void remove_tmpdirs(void)
{
	for (unsigned int i = 0; i < nr_tmpdirs; i++)
		nftw(tmpdirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
	nr_tmpdirs = 0;
}

const char *snap_tmpdir(void)
{
	char *d;

	TEST_ASSERT(nr_tmpdirs < SNAP_MAX_TMPDIRS, "too many scratch directories");
	if (!nr_tmpdirs)
		TEST_ASSERT(atexit(remove_tmpdirs) == 0, "atexit");
	d = tmpdirs[nr_tmpdirs];
	snprintf(d, sizeof(tmpdirs[0]), "/tmp/memvmm-e2esnap-XXXXXX");
	TEST_ASSERT(mkdtemp(d), "mkdtemp %s", d);
	nr_tmpdirs++;
	return d;
}

char *snap_path(char *buf, const char *dir, const char *name)
{
	TEST_ASSERT(snprintf(buf, SNAP_PATH_MAX, "%s/%s", dir, name) < SNAP_PATH_MAX,
		    "path too long: %s/%s", dir, name);
	return buf;
}

void snap_abs(char *buf, const char *dir)
{
	char a[SNAP_PATH_MAX], b[SNAP_PATH_MAX], real[PATH_MAX];

	snprintf(a, sizeof(a), "%s", dir);
	snprintf(b, sizeof(b), "%s", dir);
	TEST_ASSERT(realpath(dirname(a), real), "realpath of %s's parent", dir);
	TEST_ASSERT(snprintf(buf, SNAP_PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "",
			     basename(b)) < SNAP_PATH_MAX, "path too long");
}

/* ---- refusals and skips ---------------------------------------------------- */

void snap_expect_refused(const char *const *args, int status, const char *want,
			 const char *want2, const char *what)
{
	struct e2e_opts o = { .timeout_s = SNAP_REFUSE_TIMEOUT_S };
	struct e2e_result r;
	size_t n;

	e2e_run(args, &o, &r);
	E2E_EXPECT_STATUS(&r, status);
	TEST_ASSERT(strstr(r.err, want) && (!want2 || strstr(r.err, want2)),
		    "%s: stderr lacks '%s'%s%s%s:\n%s", what, want, want2 ? " and '" : "",
		    want2 ? want2 : "", want2 ? "'" : "", r.err);
	TEST_ASSERT(!strstr(r.out, "memvmm-guest:"), "%s: a guest ran:\n%s", what, r.out);
	TEST_ASSERT(!strstr(r.err, "AddressSanitizer") && !strstr(r.err, "runtime error"),
		    "%s: sanitizer report: %s", what, r.err);
	n = strcspn(r.err, "\n");
	printf("ok - %s: exit %d: %.*s\n", what, status, (int)n, r.err);
	e2e_free(&r);
}

void snap_skip_add(char *acc, const char *what, const char *why)
{
	size_t len = strlen(acc);

	snprintf(acc + len, SNAP_LINE_BYTES - len, "%s%s: %s", len ? "; " : "", what, why);
}

void snap_skips_end(const char *acc)
{
	TEST_REQUIRE(!acc[0], acc);
}

/* ---- the control socket -------------------------------------------------- */

static void ctl_run(const struct e2e_gated *g, const char *cmd, const char *const *args,
		    struct e2e_result *r)
{
	const char *argv[SNAP_MAX_ARGS + 1];
	struct e2e_opts o = { .timeout_s = SNAP_CTL_TIMEOUT_S };
	unsigned int n = 0;

	argv[n++] = "ctl";
	argv[n++] = "--api-socket";
	argv[n++] = g->sock;
	argv[n++] = cmd;
	for (; args && *args; args++) {
		TEST_ASSERT(n < SNAP_MAX_ARGS, "too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	e2e_run(argv, &o, r);
}

struct json_object *snap_ctl(const struct e2e_gated *g, int want, const char *cmd,
			     const char *const *args)
{
	struct json_object *o;
	struct e2e_result r;

	ctl_run(g, cmd, args, &r);
	TEST_ASSERT(!r.signaled && r.status == want, "ctl %s %s%s: exit %d, want %d: %s%s", cmd,
		    args && args[0] ? args[0] : "", args && args[0] && args[1] ? " ..." : "",
		    r.status, want, r.out, r.err);
	o = json_tokener_parse(r.out);
	TEST_ASSERT(o && json_object_is_type(o, json_type_object), "ctl %s printed no JSON "
		    "object: '%s' (stderr: %s)", cmd, r.out, r.err);
	e2e_free(&r);
	return o;
}

int snap_ctl_status(const struct e2e_gated *g, const char *cmd)
{
	struct e2e_result r;
	int status;

	ctl_run(g, cmd, NULL, &r);
	status = r.signaled ? -1 : r.status;
	e2e_free(&r);
	return status;
}

static double jdouble(struct json_object *o, const char *key)
{
	struct json_object *v;

	TEST_ASSERT(json_object_object_get_ex(o, key, &v) &&
		    (json_object_is_type(v, json_type_double) ||
		     json_object_is_type(v, json_type_int)),
		    "no number %s in %s", key, json_object_to_json_string(o));
	return json_object_get_double(v);
}

static bool has_arg(const char *const *args, const char *arg)
{
	for (; args && *args; args++)
		if (!strcmp(*args, arg) || (arg[strlen(arg) - 1] == '=' &&
					    !strncmp(*args, arg, strlen(arg))))
			return true;
	return false;
}

/* No DIR.tmp-XXXXXX left in dir's parent (snapshot.h: written there, then renamed). */
static void expect_no_tmp(const char *dir)
{
	char copy[SNAP_PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(copy, sizeof(copy), "%s", dir);
	d = opendir(dirname(copy));
	TEST_ASSERT(d, "opendir %s's parent", dir);
	while ((de = readdir(d)))
		TEST_ASSERT(!strstr(de->d_name, ".tmp-"), "a temporary snapshot directory was "
			    "left beside %s: %s", dir, de->d_name);
	closedir(d);
}

void snap_take(const struct e2e_gated *g, const char *dir, const char *const *args,
	       struct snap_taken *t)
{
	const char *argv[SNAP_MAX_ARGS + 1];
	char arg[SNAP_PATH_MAX + 8], abs_dir[SNAP_PATH_MAX], path[SNAP_PATH_MAX];
	struct json_object *o, *regions;
	const char *id;
	uint64_t sum = 0;
	unsigned int n = 0;
	struct stat st;

	memset(t, 0, sizeof(*t));
	snprintf(arg, sizeof(arg), "dir=%s", dir);
	argv[n++] = arg;
	for (; args && *args; args++) {
		TEST_ASSERT(n < SNAP_MAX_ARGS, "too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	o = snap_ctl(g, 0, "snapshot", argv);
	snap_abs(abs_dir, dir);
	TEST_ASSERT(e2e_jbool(o, "ok") && !strcmp(e2e_jstr(o, "dir"), abs_dir),
		    "snapshot dir=%s: reply %s (want dir %s)", dir, json_object_to_json_string(o),
		    abs_dir);
	id = e2e_jstr(o, "id");
	TEST_ASSERT(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16, "id: %s",
		    json_object_to_json_string(o));
	TEST_ASSERT(e2e_jbool(o, "diff") == has_arg(argv, "parent=") &&
		    e2e_jbool(o, "stopping") == has_arg(argv, "stop=on"),
		    "diff/stopping do not match the request: %s", json_object_to_json_string(o));
	t->bytes = e2e_ju64(o, "bytes");
	t->state_bytes = e2e_ju64(o, "state_bytes");
	t->pending_pages = e2e_ju64(o, "pending_pages");
	t->ms = jdouble(o, "ms");
	t->paused_ms = jdouble(o, "paused_ms");
	TEST_ASSERT(t->state_bytes > 0 && t->ms >= 0 && t->paused_ms >= 0 &&
		    t->paused_ms <= t->ms + 1, "%s", json_object_to_json_string(o));
	TEST_ASSERT(json_object_object_get_ex(o, "regions", &regions) &&
		    json_object_is_type(regions, json_type_array) &&
		    json_object_array_length(regions) >= 1, "no regions: %s",
		    json_object_to_json_string(o));
	for (size_t i = 0; i < json_object_array_length(regions); i++) {
		struct json_object *r = json_object_array_get_idx(regions, i);
		uint64_t index = e2e_ju64(r, "index"), data = e2e_ju64(r, "data_bytes");
		char name[32];

		sum += data;
		t->nr_regions++;
		if (index == 0) {
			t->ram_data_bytes = data;
			if (has_arg(argv, "parent="))
				t->ram_dirty_pages = e2e_ju64(r, "dirty_pages");
		}
		snprintf(name, sizeof(name), "mem-%llu.raw", (unsigned long long)index);
		TEST_ASSERT(stat(snap_path(path, dir, name), &st) == 0 && S_ISREG(st.st_mode),
			    "the reply names region %llu, %s is missing", (unsigned long long)index,
			    path);
	}
	TEST_ASSERT(t->bytes == sum + t->state_bytes, "bytes %llu is not the regions' %llu plus "
		    "the state's %llu: %s", (unsigned long long)t->bytes, (unsigned long long)sum,
		    (unsigned long long)t->state_bytes, json_object_to_json_string(o));
	TEST_ASSERT(stat(snap_path(path, dir, "state.dtb"), &st) == 0 &&
		    (uint64_t)st.st_size == t->state_bytes, "%s: %lld bytes, the reply says %llu",
		    path, (long long)st.st_size, (unsigned long long)t->state_bytes);
	expect_no_tmp(dir);
	snprintf(t->dir, sizeof(t->dir), "%s", abs_dir);
	json_object_put(o);
}

const char *snap_take_fails(const struct e2e_gated *g, const char *const *args, const char *want,
			    const char *dir)
{
	static char error[SNAP_LINE_BYTES];
	struct json_object *o = snap_ctl(g, 1, "snapshot", args), *st;
	struct stat sb;

	snprintf(error, sizeof(error), "%s", e2e_jstr(o, "error"));
	TEST_ASSERT(!e2e_jbool(o, "ok") && strstr(error, want), "snapshot %s ...: want an error "
		    "naming '%s': %s", args && args[0] ? args[0] : "", want,
		    json_object_to_json_string(o));
	json_object_put(o);
	TEST_ASSERT(!dir || (lstat(dir, &sb) && errno == ENOENT), "a refused snapshot created %s",
		    dir);
	st = snap_ctl(g, 0, "status", NULL);
	TEST_ASSERT(!strcmp(e2e_jstr(st, "state"), "running"), "after a refused snapshot: %s",
		    json_object_to_json_string(st));
	json_object_put(st);
	return error;
}

/* ---- restoring ------------------------------------------------------------ */

/* memvmm exited (not reaped: e2e_gated_wait() does that). */
static bool gated_exited(const struct e2e_gated *g)
{
	siginfo_t si = { 0 };

	if (!g->pid)
		return true;
	TEST_ASSERT(waitid(P_PID, (id_t)g->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0, "waitid");
	return si.si_pid == g->pid;
}

bool snap_restore_start(struct e2e_gated *g, const char *spec, const char *const *extra)
{
	const char *args[SNAP_MAX_ARGS + 1];
	double deadline;
	unsigned int n = 0;

	args[n++] = "--restore";
	args[n++] = spec;
	for (; extra && *extra; extra++) {
		TEST_ASSERT(n < SNAP_MAX_ARGS, "too many arguments");
		args[n++] = *extra;
	}
	args[n] = NULL;
	e2e_gated_start(g, args, NULL);
	deadline = e2e_now_s() + SNAP_STEP_S;
	for (;;) {
		if (gated_exited(g)) {
			e2e_gated_wait(g, SNAP_STEP_S);
			return false;
		}
		if (snap_ctl_status(g, "status") == 0)
			return true;
		TEST_ASSERT(e2e_now_s() < deadline, "--restore %s: no answer to status within %d "
			    "s:\n%s", spec, SNAP_STEP_S, e2e_gated_output(g));
		e2e_sleep_ms(SNAP_POLL_MS);
	}
}

bool snap_uffd_usable(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, UFFDIO_API, &api) == 0;
	close(fd);
	return ok;
}

/* The first stderr line of g containing needle, in buf; NULL if none. */
static const char *err_line(const struct e2e_gated *g, const char *needle, char *buf)
{
	char *err = e2e_slurp(g->err), *p = strstr(err, needle), *start, *end;
	const char *ret = NULL;

	if (p) {
		for (start = p; start > err && start[-1] != '\n'; start--)
			;
		end = strchr(p, '\n');
		snprintf(buf, SNAP_LINE_BYTES, "%.*s",
			 (int)(end ? end - start : (long)strlen(start)), start);
		ret = buf;
	}
	free(err);
	return ret;
}

const char *snap_restored_line(const struct e2e_gated *g, char *buf)
{
	return err_line(g, "memvmm: restored '", buf);
}

const char *snap_restored_mode(const char *line, char *buf)
{
	const char *p = strstr(line, ", mode ");
	size_t n;

	buf[0] = '\0';
	if (!p)
		return buf;
	p += strlen(", mode ");
	n = strcspn(p, " ;,(");
	snprintf(buf, 32, "%.*s", (int)n, p);
	return buf;
}

double snap_first_ms(const char *line)
{
	const char *p = strstr(line, "first guest instruction ");

	return p ? strtod(p + strlen("first guest instruction "), NULL) : -1.0;
}

bool snap_restore_check(struct snap_rt *rt)
{
	char line[SNAP_LINE_BYTES], why[SNAP_LINE_BYTES];
	struct e2e_gated g;
	char *out;

	if (!snap_restore_start(&g, rt->spec, rt->extra)) {
		bool not_possible = g.status == 1 && err_line(&g, "is not possible with", why);

		if (not_possible && rt->skip_not_possible) {
			e2e_gated_end(&g);
			if (rt->skipped) {
				snprintf(rt->skipped, SNAP_LINE_BYTES, "%s", why);
				return false;
			}
			TEST_REQUIRE(false, why);
		}
		TEST_ASSERT(false, "--restore %s: exit %d before the guest went on:\n%s", rt->spec,
			    g.status, e2e_gated_output(&g));
	}
	for (unsigned int i = 1; i <= rt->sends; i++) {
		e2e_gated_send(&g);
		e2e_gated_line(&g, "read", i, line, sizeof(line), SNAP_STEP_S);
	}
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "--restore %s: the guest's steps:\n%s",
		    rt->spec, e2e_gated_output(&g));
	out = e2e_slurp(g.out);
	TEST_ASSERT(!e2e_count_lines(out, "start") && !e2e_count_lines(out, "touch"),
		    "--restore %s: the guest booted again:\n%s", rt->spec, out);
	TEST_ASSERT(e2e_count_lines(out, "read") == rt->sends, "--restore %s: read lines:\n%s",
		    rt->spec, out);
	free(out);
	snap_expect_verifies(&g, rt->verifies);
	if (rt->want_report) {
		uint64_t sum = snap_report(&g);

		TEST_ASSERT(sum == rt->report, "--restore %s: report checksum 0x%016llx, the "
			    "original's 0x%016llx", rt->spec, (unsigned long long)sum,
			    (unsigned long long)rt->report);
	}
	TEST_ASSERT(snap_restored_line(&g, rt->restored), "--restore %s: no 'memvmm: restored' "
		    "line:\n%s", rt->spec, e2e_gated_output(&g));
	snap_restored_mode(rt->restored, rt->mode);
	rt->first_ms = snap_first_ms(rt->restored);
	TEST_ASSERT(rt->mode[0] && rt->first_ms >= 0, "restored line: %s", rt->restored);
	e2e_gated_end(&g);
	return true;
}

/* ---- the guest's output ----------------------------------------------------- */

uint64_t snap_report(struct e2e_gated *g)
{
	char line[SNAP_LINE_BYTES];

	e2e_gated_line(g, "report", 1, line, sizeof(line), 1);
	TEST_ASSERT(e2e_key(line, "pages") > 0, "%s", line);
	return e2e_key(line, "checksum");
}

void snap_expect_verifies(struct e2e_gated *g, unsigned int n)
{
	char *out = e2e_slurp(g->out), line[SNAP_LINE_BYTES];

	TEST_ASSERT(e2e_count_lines(out, "verify") == n, "want %u verify lines:\n%s", n, out);
	for (unsigned int i = 1; i <= n; i++) {
		TEST_ASSERT(e2e_nth_line(out, "verify", i, line, sizeof(line)), "verify #%u", i);
		TEST_ASSERT(e2e_key(line, "bad") == 0 && e2e_key(line, "pages") > 0,
			    "verify #%u: %s", i, line);
	}
	free(out);
}

/* A complete line of out starting with prefix. */
static bool has_line(char *out, const char *prefix)
{
	char *end = strrchr(out, '\n');
	size_t n = strlen(prefix);

	if (!end)
		return false;
	end[1] = '\0';
	for (char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, prefix, n))
			return true;
	return false;
}

void snap_wait_out(struct e2e_gated *g, const char *prefix, int timeout_s)
{
	double deadline = e2e_now_s() + timeout_s;

	for (;;) {
		char *out = e2e_slurp(g->out);
		bool found = has_line(out, prefix);

		free(out);
		if (found)
			return;
		TEST_ASSERT(!gated_exited(g), "memvmm exited before a line '%s...':\n%s", prefix,
			    e2e_gated_output(g));
		TEST_ASSERT(e2e_now_s() < deadline, "no line '%s...' within %d s:\n%s", prefix,
			    timeout_s, e2e_gated_output(g));
		e2e_sleep_ms(SNAP_POLL_MS);
	}
}

/* ---- files ----------------------------------------------------------------- */

void snap_copy_file(const char *src, const char *dst, bool hard_link)
{
	static char buf[SNAP_COPY_BYTES];
	int in, out;
	struct stat st;
	off_t off = 0;

	if (hard_link) {
		TEST_ASSERT(link(src, dst) == 0, "link %s %s", src, dst);
		return;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	TEST_ASSERT(in >= 0 && out >= 0 && fstat(in, &st) == 0 && ftruncate(out, st.st_size) == 0,
		    "copy %s to %s", src, dst);
	for (;;) {
		off_t data = lseek(in, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		TEST_ASSERT(data >= 0, "SEEK_DATA in %s", src);
		hole = lseek(in, data, SEEK_HOLE);
		TEST_ASSERT(hole > data, "SEEK_HOLE in %s", src);
		for (off = data; off < hole;) {
			size_t want = (size_t)(hole - off) < sizeof(buf) ? (size_t)(hole - off) :
				      sizeof(buf);
			ssize_t n = pread(in, buf, want, off);

			TEST_ASSERT(n > 0 && pwrite(out, buf, (size_t)n, off) == n, "copy %s", src);
			off += n;
		}
	}
	close(in);
	TEST_ASSERT(close(out) == 0, "close %s", dst);
}

void snap_copy_dir(const char *src, const char *dst)
{
	char a[SNAP_PATH_MAX], b[SNAP_PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(src);

	TEST_ASSERT(d && mkdir(dst, 0700) == 0, "copy %s to %s", src, dst);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snap_copy_file(snap_path(a, src, de->d_name), snap_path(b, dst, de->d_name),
			       strcmp(de->d_name, "state.dtb") != 0);
	}
	closedir(d);
}

uint8_t *snap_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;

	TEST_ASSERT(fd >= 0 && fstat(fd, &st) == 0, "open %s", path);
	buf = malloc((size_t)st.st_size + 1);
	TEST_ASSERT(buf, "out of memory");
	TEST_ASSERT(read(fd, buf, (size_t)st.st_size) == st.st_size, "read %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

void snap_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	TEST_ASSERT(fd >= 0 && write(fd, data, len) == (ssize_t)len && close(fd) == 0,
		    "write %s", path);
}

/* ---- host set-up ------------------------------------------------------------ */

void snap_require_backend(const struct mem_backend_ops *b, uint64_t huge_pages)
{
	char why[160];

	e2e_require_backend(b);
	if (b != &mem_backend_hugetlb)
		return;
	TEST_REQUIRE(hugepages_save(), "cannot read /proc/sys/vm/nr_hugepages");
	snprintf(why, sizeof(why), "cannot make %llu 2 MiB huge pages free (nr_hugepages not "
		 "writable, or the host lacks the memory)", (unsigned long long)huge_pages);
	TEST_REQUIRE(hugepages_reserve(huge_pages), why);
}
