// SPDX-License-Identifier: MIT
/*
 * End to end: `memvmm run --api-socket S` steered by `memvmm ctl`, and
 * signals in every phase. The guest's tick step prints a counter every few
 * milliseconds, so the host can see whether it advances.
 *
 * Cases (argv[1]; each its own Meson test):
 *   socket    the socket refuses what it must (no KVM needed: it is created
 *             before /dev/kvm is opened)
 *   steer     status, pause (the guest stops advancing), resume (it goes on
 *             where it was), bad requests, 100 pauses, quit -> exit 0
 *   signals   SIGINT during a long population -> 130 before the guest runs;
 *             SIGTERM while paused -> 143
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/e2e_bg.h"
#include "tests/test.h"

#define PAUSE_ROUNDS 100

/* The last tick the guest printed, -1 if none yet. */
static long last_tick(const struct e2e_bg *b)
{
	char *out = e2e_slurp(b->out), *p = out;
	long n = -1;

	/*
	 * Only complete lines count: the UART writes byte by byte, so the last
	 * line may still be "tick n=12" of "tick n=123".
	 */
	while ((p = strstr(p, "memvmm-guest: tick n="))) {
		char *end;
		long v = strtol(p + strlen("memvmm-guest: tick n="), &end, 10);

		if (*end == '\n')
			n = v;
		p++;
	}
	free(out);
	return n;
}

/* Run `memvmm ctl --api-socket S cmd [args]`: its exit status and stdout. */
static int ctl(const char *sock, const char *cmd, const char *arg, char **out)
{
	const char *args[] = { "ctl", "--api-socket", sock, cmd, arg, NULL };
	struct e2e_result r;
	int status;

	e2e_run(args, NULL, &r);
	TEST_ASSERT(!r.signaled, "memvmm ctl was killed");
	status = r.status;
	if (out)
		*out = strdup(r.out);
	e2e_free(&r);
	return status;
}

static struct json_object *ctl_json(const char *sock, const char *cmd, int want_status)
{
	char *out = NULL;
	int status = ctl(sock, cmd, NULL, &out);
	struct json_object *o = json_tokener_parse(out);

	TEST_ASSERT(status == want_status, "ctl %s: exit %d, want %d: %s", cmd, status,
		    want_status, out);
	TEST_ASSERT(o, "ctl %s printed no JSON: '%s'", cmd, out);
	free(out);
	return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static void wait_for(struct e2e_bg *b, const char *sock)
{
	for (int i = 0; i < 3000 && (access(sock, F_OK) || last_tick(b) < 2); i++) {
		TEST_ASSERT(e2e_bg_running(b), "memvmm ended early:\n%s",
			    e2e_slurp(b->err));
		e2e_sleep_ms(10);
	}
	TEST_ASSERT(last_tick(b) >= 2, "the guest does not tick:\n%s", e2e_slurp(b->err));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void case_steer(void)
{
	char *out = NULL;
	const char *sock;
	struct e2e_bg b;
	struct json_object *o, *mem, *regions, *r0, *v;
	long t1, t2, t3;
	double lat[PAUSE_ROUNDS];
	struct stat st;

	e2e_require_kvm();
	{
		const char *args[] = { "--memory", "size=64M", "--cmdline", "tick=5", NULL };

		e2e_bg_start(&b, "steer", args, NULL);
	}
	sock = b.sock;
	wait_for(&b, sock);
	TEST_ASSERT(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0600, "socket mode 0%o",
		    st.st_mode & 0777);

	o = ctl_json(sock, "status", 0);
	TEST_ASSERT(!strcmp(jstr(o, "state"), "running"), "state: %s", jstr(o, "state"));
	TEST_ASSERT(json_object_object_get_ex(o, "vcpus", &v) && json_object_get_int(v) == 1,
		    "vcpus");
	TEST_ASSERT(json_object_object_get_ex(o, "memory", &mem) &&
		    json_object_object_get_ex(mem, "regions", &regions) &&
		    json_object_array_length(regions) == 1, "one region");
	r0 = json_object_array_get_idx(regions, 0);
	TEST_ASSERT(!strcmp(jstr(r0, "role"), "ram") && jstr(r0, "backend")[0], "region role");
	TEST_ASSERT(json_object_object_get_ex(r0, "size", &v) &&
		    json_object_get_uint64(v) == 64ull << 20, "region size");
	TEST_ASSERT(json_object_object_get_ex(r0, "resident", &v) && json_object_get_uint64(v) > 0,
		    "resident bytes");
	json_object_put(o);
	TEST_PASS("status: running, one vCPU, the RAM region with role, backend, size, resident");

	o = ctl_json(sock, "pause", 0);
	TEST_ASSERT(!strcmp(jstr(o, "state"), "paused"), "pause reply");
	json_object_put(o);
	t1 = last_tick(&b);
	e2e_sleep_ms(300);
	t2 = last_tick(&b);
	TEST_ASSERT(t1 == t2, "the guest advanced while paused: tick %ld -> %ld", t1, t2);
	o = ctl_json(sock, "status", 0);
	TEST_ASSERT(!strcmp(jstr(o, "state"), "paused"), "status says paused");
	json_object_put(o);
	o = ctl_json(sock, "pause", 1);
	TEST_ASSERT(strstr(jstr(o, "error"), "already paused"), "second pause: %s",
		    jstr(o, "error"));
	json_object_put(o);
	TEST_PASS("pause: the guest does not advance; a second pause is refused");

	o = ctl_json(sock, "resume", 0);
	json_object_put(o);
	for (int i = 0; i < 500 && last_tick(&b) <= t2 + 2; i++)
		e2e_sleep_ms(10);
	t3 = last_tick(&b);
	TEST_ASSERT(t3 > t2, "the guest goes on after resume (%ld -> %ld)", t2, t3);
	out = e2e_slurp(b.out);
	{
		char want[64];

		snprintf(want, sizeof(want), "memvmm-guest: tick n=%ld\n", t2 + 1);
		TEST_ASSERT(strstr(out, want), "after resume the guest continues at tick %ld", t2 + 1);
	}
	free(out);
	o = ctl_json(sock, "resume", 1);
	json_object_put(o);
	TEST_PASS("resume: the guest continues where it was; resume while running is refused");

	/* Bad requests get error replies and change nothing. */
	o = ctl_json(sock, "reboot", 1);
	TEST_ASSERT(strstr(jstr(o, "error"), "unknown command"), "unknown command");
	json_object_put(o);
	{
		char *o2 = NULL;
		int s = ctl(sock, "status", "bogus=1", &o2);

		TEST_ASSERT(s == 1 && strstr(o2, "unknown argument"), "bad argument: %d %s", s, o2);
		free(o2);
	}
	TEST_ASSERT(last_tick(&b) >= t3, "still running");

	/* 100 pauses: pause latency as memvmm measured it. */
	for (unsigned int k = 0; k < PAUSE_ROUNDS; k++) {
		o = ctl_json(sock, "pause", 0);
		TEST_ASSERT(json_object_object_get_ex(o, "pause_us", &v), "pause_us");
		lat[k] = json_object_get_double(v);
		json_object_put(o);
		json_object_put(ctl_json(sock, "resume", 0));
	}
	qsort(lat, PAUSE_ROUNDS, sizeof(lat[0]), cmp_double);
	printf("ok - %d pauses: latency min %.1f us, median %.1f us, max %.1f us\n",
	       PAUSE_ROUNDS, lat[0], lat[PAUSE_ROUNDS / 2], lat[PAUSE_ROUNDS - 1]);

	o = ctl_json(sock, "quit", 0);
	json_object_put(o);
	TEST_ASSERT(e2e_bg_wait(&b, 30) == 0, "quit: exit 0");
	TEST_ASSERT(access(sock, F_OK) < 0 && errno == ENOENT, "socket removed at exit");
	TEST_ASSERT(ctl(sock, "status", NULL, NULL) == 2, "ctl without a server: exit 2");
	e2e_bg_cleanup(&b);
	TEST_PASS("quit: memvmm exits 0 and removes its socket; ctl then exits 2");
}

/* VmRSS of pid (shmem it maps included), 0 when it cannot be read. */
static unsigned long long rss_bytes(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

static void case_signals(void)
{
	char *err;
	struct e2e_bg b;
	double t_sig, took;
	int status;

	e2e_require_kvm();
	/*
	 * 2G on one thread: SIGINT once 256M are resident, i.e. while the
	 * rest is still being populated, however fast this host is.
	 */
	{
		const char *args[] = { "--memory",
				       "size=2G,backend=memfd,populate=madvise,populate-threads=1",
				       "--cmdline", "exit=0", NULL };

		/* No control socket: only the signal. */
		e2e_bg_start(&b, NULL, args, NULL);
	}
	{
		double deadline = e2e_now_s() + 60;

		while (rss_bytes(b.pid) < (256ull << 20) && e2e_now_s() < deadline) {
			TEST_ASSERT(e2e_bg_running(&b),
				    "memvmm ended before 256M were populated:\n%s", e2e_slurp(b.err));
			e2e_sleep_ms(1);
		}
	}
	TEST_ASSERT(rss_bytes(b.pid) >= (256ull << 20), "population never reached 256M:\n%s",
		    e2e_slurp(b.err));
	t_sig = e2e_now_s();
	TEST_ASSERT(kill(b.pid, SIGINT) == 0, "kill");
	status = e2e_bg_wait(&b, 60);
	took = e2e_now_s() - t_sig;
	err = e2e_slurp(b.err);
	TEST_ASSERT(status == 130, "SIGINT during population: exit %d, want 130:\n%s", status, err);
	TEST_ASSERT(strstr(err, "while setting up the VM") && !strstr(err, "first guest instruction"),
		    "stopped before the guest ran:\n%s", err);
	printf("ok - SIGINT during a 2G one-thread population: exit 130, %.0f ms after the signal\n",
	       took * 1e3);
	TEST_ASSERT(took < 5.0, "took %.1f s to stop", took);
	free(err);
	e2e_bg_cleanup(&b);

	/* SIGTERM while paused. */
	{
		const char *args[] = { "--memory", "size=64M", "--cmdline", "tick=5", NULL };
		const char *sock;

		e2e_bg_start(&b, "sig", args, NULL);
		sock = b.sock;
		wait_for(&b, sock);
		json_object_put(ctl_json(sock, "pause", 0));
		TEST_ASSERT(kill(b.pid, SIGTERM) == 0, "kill");
		status = e2e_bg_wait(&b, 30);
		TEST_ASSERT(status == 143, "SIGTERM while paused: exit %d:\n%s", status,
			    e2e_slurp(b.err));
		TEST_ASSERT(access(sock, F_OK) < 0, "socket removed");
		e2e_bg_cleanup(&b);
	}
	TEST_PASS("SIGTERM while paused: exit 143, socket removed");
}

/* What the socket path refuses; it is created before /dev/kvm is opened. */
static void case_socket(void)
{
	char path[108];
	struct e2e_result r;
	int fd;

	snprintf(path, sizeof(path), "/tmp/memvmm-e2e-notsock-%d", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	TEST_ASSERT(fd >= 0 && write(fd, "keep", 4) == 4 && close(fd) == 0, "file");
	{
		const char *args[] = { "run", "--api-socket", path, NULL };

		e2e_run(args, NULL, &r);
	}
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(strstr(r.err, "not a socket"), "message: %s", r.err);
	e2e_free(&r);
	{
		char *kept = e2e_slurp(path);

		TEST_ASSERT(!strcmp(kept, "keep"), "the file was not touched");
		free(kept);
	}
	unlink(path);
	{
		const char *args[] = { "run", "--api-socket", "/nonexistent-dir/s.sock", NULL };

		e2e_run(args, NULL, &r);
	}
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(strstr(r.err, "/nonexistent-dir/s.sock"), "message names the path: %s", r.err);
	e2e_free(&r);
	{
		const char *args[] = { "ctl", "--api-socket", "/nonexistent-dir/s.sock", "status",
				       NULL };

		e2e_run(args, NULL, &r);
	}
	E2E_EXPECT_STATUS(&r, 2);
	TEST_ASSERT(strstr(r.err, "no memvmm at"), "ctl without a server: %s", r.err);
	e2e_free(&r);
	TEST_PASS("--api-socket: a file or a missing directory exits 2; ctl without a server exits 2");
}

static void run_case(const void *arg)
{
	((void (*)(void))arg)();
}

static const struct e2e_case cases[] = {
	{ "socket", run_case, (const void *)case_socket },
	{ "steer", run_case, (const void *)case_steer },
	{ "signals", run_case, (const void *)case_signals },
};

int main(int argc, char **argv)
{
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
