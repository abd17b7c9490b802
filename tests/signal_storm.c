// SPDX-License-Identifier: MIT
#include "tests/signal_storm.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/test.h"

static atomic_uint storm_hits;
static atomic_bool storm_stop;
static pthread_t storm_thread;
static pthread_t storm_target;
static long storm_interval_ns;

static void storm_handler(int sig)
{
	atomic_fetch_add(&storm_hits, 1);
}

static void *storm_fn(void *arg)
{
	while (!atomic_load(&storm_stop)) {
		struct timespec ts = { 0, storm_interval_ns };

		TEST_ASSERT(pthread_kill(storm_target, SIGUSR1) == 0, "pthread_kill");
		nanosleep(&ts, NULL);
	}
	return NULL;
}

void signal_storm_install(void)
{
	struct sigaction sa = { .sa_handler = storm_handler };   /* no SA_RESTART */

	TEST_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
}

void signal_storm_uninstall(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	TEST_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
}

unsigned int signal_storm_hits(void)
{
	return atomic_load(&storm_hits);
}

void signal_storm_reset(void)
{
	atomic_store(&storm_hits, 0);
}

void signal_storm_start(long interval_ns)
{
	storm_target = pthread_self();
	storm_interval_ns = interval_ns;
	atomic_store(&storm_stop, false);
	TEST_ASSERT(pthread_create(&storm_thread, NULL, storm_fn, NULL) == 0, "storm");
}

void signal_storm_stop(void)
{
	atomic_store(&storm_stop, true);
	TEST_ASSERT(pthread_join(storm_thread, NULL) == 0, "join");
}

static long storm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

long signal_storm_interval(long min_ns)
{
	long best = -1, interval;
	int fd = memfd_create("memvmm-storm-calibrate", MFD_CLOEXEC);

	TEST_ASSERT(fd >= 0 && ftruncate(fd, 1 << 20) == 0, "calibration memfd");
	for (int i = 0; i < 16; i++) {
		long t0 = storm_now_ns(), t;

		TEST_ASSERT(fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)i * 4096, 4096) == 0,
			    "calibration fallocate");
		t = storm_now_ns() - t0;
		if (best < 0 || t < best)
			best = t;
	}
	close(fd);
	interval = 20 * best;
	return interval > min_ns ? interval : min_ns;
}
