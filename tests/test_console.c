// SPDX-License-Identifier: MIT
/*
 * The console queue never loses output silently: bytes written, bytes lost
 * with the first error when the reader went away (EPIPE) or the disk is
 * full (ENOSPC), and a drain at exit that gives up on a stalled reader
 * after its timeout, saying how much it left.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "devices/console.h"
#include "tests/test.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait (at most 5 s) until the console thread has met a write error. */
static struct console_stats wait_for_error(struct console *c)
{
	struct console_stats st;
	uint64_t end = now_ms() + 5000;

	do {
		console_stats_get(c, &st);
		if (st.write_err)
			return st;
		usleep(1000);
	} while (now_ms() < end);
	TEST_ASSERT(0, "no write error seen in 5 s");
	return st;
}

static void test_ok(void)
{
	struct console_stats st;
	struct console *c;
	char buf[16] = "";
	int p[2];

	TEST_ASSERT(pipe(p) == 0, "pipe");
	TEST_OK(console_create(p[1], &c));
	TEST_ASSERT(console_write(c, "hello", 5) == 5, "queued");
	console_destroy(c, &st);
	TEST_ASSERT(read(p[0], buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5), "arrived");
	TEST_ASSERT(st.written == 5 && st.lost == 0 && st.write_err == 0 && !st.drain_cut &&
		    st.drain_lost == 0, "written %llu lost %llu err %d cut %d",
		    (unsigned long long)st.written, (unsigned long long)st.lost, st.write_err,
		    st.drain_cut);
	TEST_OK(console_create(p[1], &c));
	console_destroy(c, NULL);        /* stats are optional */
	console_destroy(NULL, &st);      /* and so is a console */
	TEST_ASSERT(CONSOLE_FLUSH_TIMEOUT_MS == 2000, "the README's 2 s drain");
	close(p[0]);
	close(p[1]);
	TEST_PASS("written bytes counted, nothing lost");
}

/* The fd fails: what was queued and everything after counts as lost, with the error. */
static void check_lost(int fd, int want_err, const char *what)
{
	static char data[3000];
	struct console_stats st;
	struct console *c;

	TEST_OK(console_create(fd, &c));
	TEST_ASSERT(console_write(c, data, 1000) == 1000, "%s: queued", what);
	st = wait_for_error(c);
	TEST_ASSERT(st.write_err == want_err, "%s: error %d, want %d", what, st.write_err,
		    want_err);
	/* From now on output is taken and dropped, so the guest never waits. */
	TEST_ASSERT(console_write(c, data, sizeof(data)) == sizeof(data), "%s: dropped", what);
	TEST_ASSERT(console_room(c) == CONSOLE_QUEUE_BYTES, "%s: always room", what);
	console_destroy(c, &st);
	TEST_ASSERT(st.written == 0 && st.lost == 1000 + sizeof(data) && st.write_err == want_err &&
		    !st.drain_cut, "%s: written %llu lost %llu err %d cut %d", what,
		    (unsigned long long)st.written, (unsigned long long)st.lost, st.write_err,
		    st.drain_cut);
}

static void test_closed_pipe(void)
{
	int p[2];

	/* As memvmm must: a closed pipe is EPIPE, not death by SIGPIPE. */
	TEST_ASSERT(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "ignore SIGPIPE");
	TEST_ASSERT(pipe(p) == 0, "pipe");
	close(p[0]);
	check_lost(p[1], -EPIPE, "closed pipe");
	close(p[1]);
	TEST_PASS("closed pipe: lost bytes counted with EPIPE");
}

static void test_full_disk(void)
{
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

	TEST_ASSERT(fd >= 0, "/dev/full (every Linux has it)");
	check_lost(fd, -ENOSPC, "/dev/full");
	close(fd);
	TEST_PASS("full disk (/dev/full): lost bytes counted with ENOSPC");
}

/* A reader that never reads: the drain gives up after its timeout, saying how much was left. */
static void test_stalled_reader(void)
{
	static char data[CONSOLE_QUEUE_BYTES];
	struct console_stats st;
	struct console *c;
	size_t queued;
	uint64_t t0, ms;
	int p[2], in_pipe = 0;

	TEST_ASSERT(pipe(p) == 0, "pipe");
	TEST_ASSERT(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096, "small pipe");
	TEST_OK(console_create(p[1], &c));
	console_set_drain_timeout(c, 100);
	queued = console_write(c, data, sizeof(data));
	TEST_ASSERT(queued == sizeof(data), "queue takes %zu", queued);
	t0 = now_ms();
	console_destroy(c, &st);
	ms = now_ms() - t0;
	TEST_ASSERT(ioctl(p[0], FIONREAD, &in_pipe) == 0, "FIONREAD");
	TEST_ASSERT(st.drain_cut && st.written == (uint64_t)in_pipe &&
		    st.written + st.drain_lost == queued && st.lost == 0 && st.write_err == 0,
		    "cut %d written %llu (pipe holds %d) drain_lost %llu of %zu", st.drain_cut,
		    (unsigned long long)st.written, in_pipe, (unsigned long long)st.drain_lost,
		    queued);
	TEST_ASSERT(ms >= 100 && ms < 1000, "gave up after %llu ms (timeout 100 ms)",
		    (unsigned long long)ms);
	close(p[0]);
	close(p[1]);
	TEST_PASS("stalled reader: drain cut after the timeout, bytes left counted");
}

int main(void)
{
	test_ok();
	test_closed_pipe();
	test_full_disk();
	test_stalled_reader();
	return 0;
}
