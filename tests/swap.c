// SPDX-License-Identifier: MIT
#include "tests/swap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <unistd.h>

#include "mem/pageout.h"

#define SWAP_PAGE_BYTES        4096u   /* the header is one page; x86's page */
/* union swap_header (linux/swap.h): info after 1 KiB of boot bits, magic ends page 0. */
#define SWAP_INFO_OFFSET       1024u
#define SWAP_MAGIC             "SWAPSPACE2"
#define SWAP_MAGIC_BYTES       10u
#define SWAP_HEADER_VERSION    1u
#define SWAP_PATH_BYTES        256
#define SWAP_LINE_BYTES        512
#define ZRAM_SYSFS             "/sys/block/zram0"
#define ZRAM_DEV               "/dev/zram0"
#define SWAP_FILE_NAME         "memvmm-swap"

/* What was set up, in a page shared with the processes forked after swap_arm(). */
struct swap_state {
	enum swap_kind kind;
	pid_t armed_by, set_up_by;   /* the processes that take it down at exit */
	bool zram_sized;             /* disksize written: reset it */
	bool file_made;              /* the file exists: remove it */
	bool swapped_on;             /* swapon() done: swapoff() it */
	char path[SWAP_PATH_BYTES];
};

static struct swap_state *st;
static const int swap_signals[] = { SIGTERM, SIGINT, SIGHUP };
static struct sigaction old_action[sizeof(swap_signals) / sizeof(swap_signals[0])];

const char *swap_kind_name(enum swap_kind k)
{
	switch (k) {
	case SWAP_NONE:
		return "none";
	case SWAP_EXISTING:
		return "existing";
	case SWAP_ZRAM:
		return "zram";
	case SWAP_FILE:
		return "file";
	}
	return "?";
}

/* Write s to a sysfs file, with syscalls only: 0 or -errno. */
static int sysfs_write(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

static int sysfs_read_u64(const char *path, uint64_t *v)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 10);
	return 0;
}

/* Undo what st records, with syscalls only (async-signal-safe). 0 or the first -errno. */
static int teardown_raw(void)
{
	int ret = 0;

	if (!st)
		return 0;
	if (st->swapped_on) {
		if (swapoff(st->path) < 0)
			ret = -errno;
		else
			st->swapped_on = false;
	}
	if (st->zram_sized && !st->swapped_on) {
		int r = sysfs_write(ZRAM_SYSFS "/reset", "1");

		if (r && !ret)
			ret = r;
		if (!r)
			st->zram_sized = false;
	}
	if (st->file_made && !st->swapped_on) {
		if (unlink(st->path) < 0 && errno != ENOENT && !ret)
			ret = -errno;
		else
			st->file_made = false;
	}
	if (!st->swapped_on && !st->zram_sized && !st->file_made)
		st->kind = SWAP_NONE;
	return ret;
}

static bool teardown_mine(void)
{
	pid_t me = getpid();

	return st && (me == st->armed_by || me == st->set_up_by);
}

static void say(const char *s)
{
	/* Best effort: nothing to do if stderr is gone. */
	if (write(STDERR_FILENO, s, strlen(s)) < 0)
		return;
}

static void teardown_at_exit(void)
{
	int saved_errno = errno;

	if (teardown_mine() && teardown_raw()) {
		say("warning: could not take down the test's swap: ");
		say(st->path);
		say("\n");
	}
	errno = saved_errno;
}

static void teardown_on_signal(int sig)
{
	unsigned int i;

	if (teardown_mine() && teardown_raw()) {
		say("warning: could not take down the test's swap: ");
		say(st->path);
		say("\n");
	}
	for (i = 0; i < sizeof(swap_signals) / sizeof(swap_signals[0]); i++) {
		if (swap_signals[i] != sig)
			continue;
		if (old_action[i].sa_handler != SIG_DFL && old_action[i].sa_handler != SIG_IGN &&
		    !(old_action[i].sa_flags & SA_SIGINFO)) {
			old_action[i].sa_handler(sig);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int swap_arm(void)
{
	void *p;

	if (st)
		return 0;
	p = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	st = p;
	*st = (struct swap_state){ .kind = SWAP_NONE, .armed_by = getpid(), .set_up_by = -1 };
	if (atexit(teardown_at_exit))
		return -ENOMEM;
	for (unsigned int i = 0; i < sizeof(swap_signals) / sizeof(swap_signals[0]); i++) {
		struct sigaction sa = { .sa_handler = teardown_on_signal };

		if (sigemptyset(&sa.sa_mask) < 0 ||
		    sigaction(swap_signals[i], &sa, &old_action[i]) < 0)
			return -errno;
		/* An ignored signal stays ignored. */
		if (old_action[i].sa_handler == SIG_IGN &&
		    sigaction(swap_signals[i], &old_action[i], NULL) < 0)
			return -errno;
	}
	return 0;
}

/* Page 0 of a swap area of bytes: union swap_header's info and magic. */
static int header_write(int fd, uint64_t bytes)
{
	static uint8_t page[SWAP_PAGE_BYTES];
	uint32_t info[2] = { SWAP_HEADER_VERSION, (uint32_t)(bytes / SWAP_PAGE_BYTES - 1) };
	size_t done = 0;

	memset(page, 0, sizeof(page));
	memcpy(page + SWAP_INFO_OFFSET, info, sizeof(info));   /* version, last_page */
	memcpy(page + SWAP_PAGE_BYTES - SWAP_MAGIC_BYTES, SWAP_MAGIC, SWAP_MAGIC_BYTES);
	while (done < sizeof(page)) {
		ssize_t n = pwrite(fd, page + done, sizeof(page) - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

/* Write a header into path (a device or a file) and close it: 0 or -errno. */
static int header_write_path(const char *path, uint64_t bytes)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = header_write(fd, bytes);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

static void append(char *why, size_t len, const char *fmt, const char *what, int err)
{
	size_t used = strnlen(why, len);

	if (used + 1 < len)
		snprintf(why + used, len - used, fmt, what, strerror(-err));
}

/* zram0, if present and unused: 0, or -errno with why. */
static int zram_on(uint64_t bytes, char *why, size_t len)
{
	char size[32];
	uint64_t disksize;
	int ret, ret2;

	ret = sysfs_read_u64(ZRAM_SYSFS "/disksize", &disksize);
	if (ret) {
		append(why, len, "zram: %s: %s; ", ZRAM_SYSFS "/disksize", ret);
		return ret;
	}
	if (disksize) {
		snprintf(why + strnlen(why, len), len - strnlen(why, len),
			 "zram: zram0 is in use (disksize %llu); ", (unsigned long long)disksize);
		return -EBUSY;
	}
	if (access(ZRAM_DEV, F_OK) < 0) {
		ret = -errno;
		append(why, len, "zram: %s: %s; ", ZRAM_DEV, ret);
		return ret;
	}
	snprintf(size, sizeof(size), "%llu", (unsigned long long)bytes);
	ret = sysfs_write(ZRAM_SYSFS "/disksize", size);
	if (ret) {
		/* EBUSY: another process sized it first; it is not ours to reset. */
		append(why, len, "zram: writing %s: %s; ", ZRAM_SYSFS "/disksize", ret);
		return ret;
	}
	snprintf(st->path, sizeof(st->path), "%s", ZRAM_DEV);
	st->kind = SWAP_ZRAM;
	st->zram_sized = true;
	ret = header_write_path(ZRAM_DEV, bytes);
	if (ret) {
		append(why, len, "zram: swap header on %s: %s; ", ZRAM_DEV, ret);
		goto fail;
	}
	if (swapon(ZRAM_DEV, 0) < 0) {
		ret = -errno;
		append(why, len, "zram: swapon(%s): %s; ", ZRAM_DEV, ret);
		goto fail;
	}
	st->swapped_on = true;
	return 0;
fail:
	ret2 = teardown_raw();
	if (ret2)
		append(why, len, "zram: taking it down again: %s: %s; ", ZRAM_SYSFS, ret2);
	return ret;
}

/* A swap file in dir: 0, or -errno with why. */
static int file_on(const char *dir, uint64_t bytes, char *why, size_t len)
{
	int fd, ret, ret2;

	snprintf(st->path, sizeof(st->path), "%s/%s-%d", dir, SWAP_FILE_NAME, (int)getpid());
	fd = open(st->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		append(why, len, "file: creating in %s: %s; ", dir, ret);
		return ret;
	}
	st->kind = SWAP_FILE;
	st->file_made = true;
	if (fallocate(fd, 0, 0, (off_t)bytes) < 0) {
		ret = -errno;
		append(why, len, "file: fallocate in %s: %s; ", dir, ret);
		goto fail_fd;
	}
	ret = header_write(fd, bytes);
	if (ret) {
		append(why, len, "file: swap header in %s: %s; ", dir, ret);
		goto fail_fd;
	}
	if (close(fd) < 0) {
		ret = -errno;
		append(why, len, "file: close in %s: %s; ", dir, ret);
		goto fail;
	}
	if (swapon(st->path, 0) < 0) {
		ret = -errno;
		/* EINVAL: the filesystem does not take swap files (tmpfs, overlayfs). */
		append(why, len, "file: swapon in %s: %s; ", dir, ret);
		goto fail;
	}
	st->swapped_on = true;
	return 0;
fail_fd:
	close(fd);
fail:
	ret2 = teardown_raw();
	if (ret2)
		append(why, len, "file: removing it from %s: %s; ", dir, ret2);
	return ret;
}

/* True if /proc/swaps lists path. */
static bool swaps_list(const char *path)
{
	char line[SWAP_LINE_BYTES], name[SWAP_PATH_BYTES];
	FILE *f = fopen("/proc/swaps", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s", name) == 1 && !strcmp(name, path);
	fclose(f);
	return found;
}

int swap_on(uint64_t bytes, enum swap_kind *kind, char *why, size_t len)
{
	const char *dirs[] = { getenv("MEMVMM_SWAP_DIR"), "/var/tmp", "/tmp" };
	struct mem_swap_info si;
	int ret;

	why[0] = '\0';
	if (!bytes || bytes % SWAP_PAGE_BYTES || sysconf(_SC_PAGESIZE) != SWAP_PAGE_BYTES) {
		snprintf(why, len, "swap of %llu bytes: not a multiple of the 4 KiB page",
			 (unsigned long long)bytes);
		return -EINVAL;
	}
	ret = swap_arm();
	if (ret) {
		snprintf(why, len, "arming the teardown: %s", strerror(-ret));
		return ret;
	}
	if (st->kind != SWAP_NONE) {
		*kind = st->kind;
		return 0;
	}
	ret = mem_swap_read(&si);
	if (ret) {
		snprintf(why, len, "cannot read /proc/swaps: %s", strerror(-ret));
		return ret;
	}
	if (si.devices) {
		*kind = SWAP_EXISTING;
		return 0;
	}
	if (geteuid() != 0) {
		snprintf(why, len, "no swap on, and setting it up needs root (swapon)");
		return -EPERM;
	}
	st->set_up_by = getpid();
	ret = zram_on(bytes, why, len);
	/* A way that failed and could not be undone is left recorded: try no other. */
	for (size_t i = 0; ret && st->kind == SWAP_NONE && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (dirs[i] && dirs[i][0])
			ret = file_on(dirs[i], bytes, why, len);
	if (ret)
		return ret == -EPERM ? ret : -EOPNOTSUPP;
	if (!swaps_list(st->path)) {
		snprintf(why, len, "swapon(%s) succeeded but /proc/swaps does not list it",
			 st->path);
		return -EPROTO;
	}
	why[0] = '\0';
	*kind = st->kind;
	return 0;
}

const char *swap_path(void)
{
	return st && st->kind != SWAP_NONE && st->kind != SWAP_EXISTING ? st->path : "";
}

int swap_off(char *why, size_t len)
{
	enum swap_kind kind = st ? st->kind : SWAP_NONE;
	char path[SWAP_PATH_BYTES];
	uint64_t disksize;
	int ret;

	why[0] = '\0';
	if (kind == SWAP_NONE || kind == SWAP_EXISTING)
		return 0;
	snprintf(path, sizeof(path), "%s", st->path);
	ret = teardown_raw();
	if (ret) {
		snprintf(why, len, "taking down %s swap %s: %s", swap_kind_name(kind), path,
			 strerror(-ret));
		return ret;
	}
	if (swaps_list(path)) {
		snprintf(why, len, "/proc/swaps still lists %s after swapoff", path);
		return -EPROTO;
	}
	if (kind == SWAP_ZRAM) {
		ret = sysfs_read_u64(ZRAM_SYSFS "/disksize", &disksize);
		if (ret || disksize) {
			snprintf(why, len, "zram0 not reset: disksize %s",
				 ret ? strerror(-ret) : "not 0");
			return ret ? ret : -EPROTO;
		}
	}
	if (kind == SWAP_FILE && access(path, F_OK) == 0) {
		snprintf(why, len, "swap file %s still exists", path);
		return -EPROTO;
	}
	return 0;
}
