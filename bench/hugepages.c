// SPDX-License-Identifier: MIT
/*
 * Reserve 2 MiB huge pages for a benchmark and put /proc/sys/vm/nr_hugepages
 * back afterwards: at exit, and from fatal signals (SIGINT, SIGTERM, SIGHUP,
 * SIGSEGV, SIGBUS, SIGABRT), with only async-signal-safe calls there.
 */
#include "bench/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HP_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static volatile sig_atomic_t saved;
static pid_t saved_by;                 /* children must not restore */
static char saved_text[32];            /* "N\n", written back as is */
static size_t saved_len;

static int read_u64(const char *file, uint64_t *v)
{
	char buf[32];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	close(fd);
	buf[n] = '\0';
	if (sscanf(buf, "%lu", v) != 1)
		return -EINVAL;
	return 0;
}

/* Async-signal-safe write of text to file. */
static int write_text(const char *file, const char *text, size_t len)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (close(fd) < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

void bench_hugepages_restore(void)
{
	if (!saved || getpid() != saved_by)
		return;
	saved = 0;
	if (write_text(HP_DIR "nr_hugepages", saved_text, saved_len)) {
		static const char msg[] = "memvmm-bench: warning: could not restore nr_hugepages\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing more to do */
		}
	}
}

static void restore_on_signal(int sig)
{
	bench_hugepages_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int hugepages_save(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGABRT };
	uint64_t nr;
	int ret;

	if (saved)
		return 0;
	ret = read_u64(HP_DIR "nr_hugepages", &nr);
	if (ret)
		return ret;
	saved_len = (size_t)snprintf(saved_text, sizeof(saved_text), "%lu\n", nr);
	saved_by = getpid();
	saved = 1;
	if (atexit(bench_hugepages_restore))
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa = { .sa_handler = restore_on_signal };

		sigemptyset(&sa.sa_mask);
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

int bench_hugepages_reserve(uint64_t pages)
{
	uint64_t nr, free_pages, rsvd, avail;
	char text[32];
	int ret;

	ret = hugepages_save();
	if (!ret)
		ret = read_u64(HP_DIR "nr_hugepages", &nr);
	if (!ret)
		ret = read_u64(HP_DIR "free_hugepages", &free_pages);
	if (!ret)
		ret = read_u64(HP_DIR "resv_hugepages", &rsvd);
	if (ret)
		return ret;
	avail = free_pages > rsvd ? free_pages - rsvd : 0;
	if (avail >= pages)
		return 0;
	ret = write_text(HP_DIR "nr_hugepages", text,
			 (size_t)snprintf(text, sizeof(text), "%lu\n", nr + pages - avail));
	if (ret)
		return ret;
	ret = read_u64(HP_DIR "free_hugepages", &free_pages);
	if (!ret)
		ret = read_u64(HP_DIR "resv_hugepages", &rsvd);
	if (ret)
		return ret;
	return free_pages >= rsvd && free_pages - rsvd >= pages ? 0 : -ENOMEM;
}
