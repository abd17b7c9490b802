// SPDX-License-Identifier: MIT
#include "tests/swap.h"

#include <dirent.h>
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
#include "tests/sysfs.h"

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
#define SWAP_FILE_NAME         "memvmm-swap"   /* and -<pid>: the file, the record */
#define SWAP_RECORD_SUFFIX     ".state"
#define SWAP_DIRS              3         /* see swap_dirs() */

/* Where the record of what is set up goes: the first that takes it. */
static const char *const swap_state_dirs[] = { "/run", "/tmp" };

/* What was set up, in a page shared with the processes forked after swap_arm(). */
struct swap_state {
	enum swap_kind kind;
	pid_t armed_by, set_up_by;   /* the processes that take it down at exit */
	pid_t claimed_by;            /* the process taking it down now (0: none) */
	bool zram_sized;             /* disksize written: reset it */
	bool file_made;              /* the file exists: remove it */
	bool swapped_on;             /* swapon() done: swapoff() it */
	char path[SWAP_PATH_BYTES];
	char record[SWAP_PATH_BYTES];   /* the record on disk ("": none) */
};

static struct swap_state *st;
/* The catchable signals whose default action ends the process. */
static const int swap_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGVTALRM,
	SIGPROF, SIGXCPU, SIGXFSZ,
};
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

int swap_sigset(sigset_t *set)
{
	if (sigemptyset(set) < 0)
		return -errno;
	for (unsigned int i = 0; i < sizeof(swap_signals) / sizeof(swap_signals[0]); i++)
		if (sigaddset(set, swap_signals[i]) < 0)
			return -errno;
	return 0;
}

/* Block the signals above (old gets the mask to put back): 0 or -errno. */
static int signals_block(sigset_t *old)
{
	sigset_t set;
	int ret = swap_sigset(&set);

	if (!ret && sigprocmask(SIG_BLOCK, &set, old) < 0)
		ret = -errno;
	return ret;
}

/* Put the mask back; a failure only adds to ret when ret is 0. */
static int signals_restore(const sigset_t *old, int ret)
{
	if (sigprocmask(SIG_SETMASK, old, NULL) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* With syscalls only (async-signal-safe): a zombie, or a process on its way out, is dead. */
bool swap_pid_alive(pid_t pid)
{
	char path[32], buf[SWAP_LINE_BYTES], *paren;
	int fd, digits = 0, saved_errno = errno;
	ssize_t n = 0;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM)) {
		errno = saved_errno;
		return false;
	}
	/* "pid (comm) S ...": the state follows the last ')'. No snprintf in a handler. */
	memcpy(path, "/proc/", 6);
	for (pid_t v = pid; v; v /= 10)
		digits++;
	for (pid_t v = pid, i = 0; i < digits; i++, v /= 10)
		path[6 + digits - 1 - i] = (char)('0' + v % 10);
	memcpy(path + 6 + digits, "/stat", 6);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	errno = saved_errno;
	if (n <= 0)
		return fd >= 0;   /* no /proc: kill() said it exists */
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return !paren || (paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X');
}

/*
 * The record on disk of what is about to be set up, written before the
 * host is changed: swap_recover() in a later process undoes it if this one
 * is killed (SIGKILL: no handler runs). In the first state directory that
 * takes it. 0 or -errno.
 */
static int record_write(void)
{
	char line[SWAP_LINE_BYTES];
	int ret = -ENOENT, len;

	len = snprintf(line, sizeof(line), "%d %d %s %s\n", (int)st->armed_by,
		       (int)st->set_up_by, swap_kind_name(st->kind), st->path);
	for (size_t i = 0; i < sizeof(swap_state_dirs) / sizeof(swap_state_dirs[0]); i++) {
		int fd;
		ssize_t n;

		snprintf(st->record, sizeof(st->record), "%s/%s-%d%s", swap_state_dirs[i],
			 SWAP_FILE_NAME, (int)st->set_up_by, SWAP_RECORD_SUFFIX);
		fd = open(st->record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		n = write(fd, line, (size_t)len);
		ret = n < 0 ? -errno : n != len ? -EIO : 0;
		if (close(fd) < 0 && !ret)
			ret = -errno;
		if (!ret)
			return 0;
		unlink(st->record);
	}
	st->record[0] = '\0';
	return ret;
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
	if (!st->swapped_on && !st->zram_sized && !st->file_made) {
		st->kind = SWAP_NONE;
		if (st->record[0] && (unlink(st->record) == 0 || errno == ENOENT))
			st->record[0] = '\0';
	}
	return ret;
}

/*
 * One process at a time takes it down (a process group's SIGTERM reaches
 * the test's parent and child together): claim it, unless a live process
 * holds it. Async-signal-safe.
 */
static bool teardown_claim(void)
{
	pid_t me = getpid(), cur = 0;

	while (!__atomic_compare_exchange_n(&st->claimed_by, &cur, me, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		if (cur == me || swap_pid_alive(cur))
			return false;   /* cur: the holder; a dead one's claim is taken over */
	return true;
}

static void teardown_release(void)
{
	__atomic_store_n(&st->claimed_by, 0, __ATOMIC_RELEASE);
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

/* At exit and on a signal: take it down if this process should and can claim it. */
static void teardown_quiet(void)
{
	int saved_errno = errno;

	if (teardown_mine() && teardown_claim()) {
		if (teardown_raw()) {
			say("warning: could not take down the test's swap: ");
			say(st->path);
			say("\n");
		}
		teardown_release();
	}
	errno = saved_errno;
}

static void teardown_on_signal(int sig)
{
	int saved_errno = errno;
	unsigned int i;

	teardown_quiet();
	for (i = 0; i < sizeof(swap_signals) / sizeof(swap_signals[0]); i++) {
		if (swap_signals[i] != sig)
			continue;
		if (old_action[i].sa_handler != SIG_DFL && old_action[i].sa_handler != SIG_IGN &&
		    !(old_action[i].sa_flags & SA_SIGINFO)) {
			old_action[i].sa_handler(sig);
			errno = saved_errno;
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);   /* blocked in the handler: it ends the process when the handler returns */
	errno = saved_errno;
}

int swap_arm(void)
{
	struct sigaction sa = { .sa_handler = teardown_on_signal };
	void *p;
	int ret;

	if (st)
		return 0;
	p = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	st = p;
	*st = (struct swap_state){ .kind = SWAP_NONE, .armed_by = getpid(), .set_up_by = -1 };
	if (atexit(teardown_quiet))
		return -ENOMEM;
	/* The handler runs with all of them blocked: one teardown at a time. */
	ret = swap_sigset(&sa.sa_mask);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < sizeof(swap_signals) / sizeof(swap_signals[0]); i++) {
		if (sigaction(swap_signals[i], &sa, &old_action[i]) < 0)
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

/* swapon(path) with the handled signals blocked, recorded in st: 0, or -errno with why. */
static int swapon_recorded(const char *path, char *why, size_t len, const char *what)
{
	sigset_t old;
	int ret = signals_block(&old);

	if (ret)
		return ret;
	if (swapon(path, 0) < 0) {
		ret = -errno;
		append(why, len, "%s: %s; ", what, ret);
	} else {
		st->swapped_on = true;
	}
	return signals_restore(&old, ret);
}

/* Take down what this process set up, the handled signals blocked; a failure goes to why. */
static void teardown_blocked(char *why, size_t len, const char *what)
{
	sigset_t old;
	int ret = signals_block(&old);

	if (!ret)
		ret = signals_restore(&old, teardown_raw());
	if (ret)
		append(why, len, "%s: %s; ", what, ret);
}

/* zram0, if present and unused: 0, or -errno with why. */
static int zram_on(uint64_t bytes, char *why, size_t len)
{
	char size[32];
	uint64_t disksize;
	sigset_t old;
	int ret;

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
	/* Each step and its record together: no signal in between (nor a lost record). */
	ret = signals_block(&old);
	if (ret) {
		append(why, len, "zram: %s: %s; ", "blocking signals", ret);
		return ret;
	}
	snprintf(st->path, sizeof(st->path), "%s", ZRAM_DEV);
	st->kind = SWAP_ZRAM;
	ret = record_write();
	if (ret)
		append(why, len, "zram: %s: %s; ", "recording it in /run or /tmp", ret);
	else if ((ret = sysfs_write(ZRAM_SYSFS "/disksize", size)) != 0)
		/* EBUSY: another process sized it first; it is not ours to reset. */
		append(why, len, "zram: writing %s: %s; ", ZRAM_SYSFS "/disksize", ret);
	else
		st->zram_sized = true;
	ret = signals_restore(&old, ret);
	if (ret)
		goto fail;
	ret = header_write_path(ZRAM_DEV, bytes);
	if (ret) {
		append(why, len, "zram: swap header on %s: %s; ", ZRAM_DEV, ret);
		goto fail;
	}
	ret = swapon_recorded(ZRAM_DEV, why, len, "zram: swapon(" ZRAM_DEV ")");
	if (ret)
		goto fail;
	return 0;
fail:
	teardown_blocked(why, len, "zram: taking it down again: " ZRAM_SYSFS);
	return ret;
}

/* A swap file in dir: 0, or -errno with why. */
static int file_on(const char *dir, uint64_t bytes, char *why, size_t len)
{
	char what[SWAP_PATH_BYTES + 32];
	int fd = -1, ret;
	sigset_t old;

	ret = signals_block(&old);
	if (ret) {
		append(why, len, "file: %s: %s; ", "blocking signals", ret);
		return ret;
	}
	snprintf(st->path, sizeof(st->path), "%s/%s-%d", dir, SWAP_FILE_NAME, (int)getpid());
	st->kind = SWAP_FILE;
	ret = record_write();
	if (ret) {
		append(why, len, "file: %s: %s; ", "recording it in /run or /tmp", ret);
	} else {
		fd = open(st->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = -errno;
			append(why, len, "file: creating in %s: %s; ", dir, ret);
		} else {
			st->file_made = true;
		}
	}
	ret = signals_restore(&old, ret);
	if (ret)
		goto fail;
	if (fallocate(fd, 0, 0, (off_t)bytes) < 0) {
		ret = -errno;
		append(why, len, "file: fallocate in %s: %s; ", dir, ret);
		goto fail;
	}
	ret = header_write(fd, bytes);
	if (ret) {
		append(why, len, "file: swap header in %s: %s; ", dir, ret);
		goto fail;
	}
	ret = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (ret) {
		append(why, len, "file: close in %s: %s; ", dir, ret);
		goto fail;
	}
	/* EINVAL from swapon: the filesystem does not take swap files (tmpfs, overlayfs). */
	snprintf(what, sizeof(what), "file: swapon in %s", dir);
	ret = swapon_recorded(st->path, why, len, what);
	if (ret)
		goto fail;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	snprintf(what, sizeof(what), "file: removing it from %s", dir);
	teardown_blocked(why, len, what);
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

/* The directories a swap file may be in: $MEMVMM_SWAP_DIR, /var/tmp, /tmp. */
static void swap_dirs(const char *dirs[SWAP_DIRS])
{
	dirs[0] = getenv("MEMVMM_SWAP_DIR");
	dirs[1] = "/var/tmp";
	dirs[2] = "/tmp";
}

static void note(char *what, size_t len, const char *fmt, const char *a, int pid, int err)
{
	size_t used = strnlen(what, len);

	if (used + 1 < len)
		snprintf(what + used, len - used, fmt, a, pid, err ? strerror(-err) : "done");
}

/* Undo one dead process's record: swapoff, zram reset, the file removed. 0 or -errno. */
static int recover_one(const char *record, char *what, size_t len)
{
	char line[SWAP_LINE_BYTES], kind[16], path[SWAP_PATH_BYTES];
	int armed, set_up, ret = 0;
	uint64_t disksize;
	FILE *f = fopen(record, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "%d %d %15s %255s", &armed, &set_up, kind, path) != 4) {
		/* Cut short (a kill while it was written): nothing was changed yet. */
		fclose(f);
		ret = unlink(record) < 0 && errno != ENOENT ? -errno : 0;
		note(what, len, "unreadable record %s (pid %d) removed: %s; ", record, 0, ret);
		return ret;
	}
	fclose(f);
	if (swap_pid_alive(armed) || swap_pid_alive(set_up))
		return 0;   /* its owner is alive and takes it down */
	if (swaps_list(path) && swapoff(path) < 0)
		ret = -errno;
	if (!ret && !strcmp(kind, swap_kind_name(SWAP_ZRAM)) &&
	    !sysfs_read_u64(ZRAM_SYSFS "/disksize", &disksize) && disksize)
		ret = sysfs_write(ZRAM_SYSFS "/reset", "1");
	if (!ret && !strcmp(kind, swap_kind_name(SWAP_FILE)) && unlink(path) < 0 &&
	    errno != ENOENT)
		ret = -errno;
	if (!ret && unlink(record) < 0 && errno != ENOENT)
		ret = -errno;
	note(what, len, "%s swap left by pid %d, taken down: %s; ", path, set_up, ret);
	return ret;
}

/* True if a record of pid's swap is on disk. */
static bool recorded(int pid)
{
	char record[SWAP_PATH_BYTES];

	for (size_t i = 0; i < sizeof(swap_state_dirs) / sizeof(swap_state_dirs[0]); i++) {
		snprintf(record, sizeof(record), "%s/%s-%d%s", swap_state_dirs[i], SWAP_FILE_NAME,
			 pid, SWAP_RECORD_SUFFIX);
		if (access(record, F_OK) == 0)
			return true;
	}
	return false;
}

/* Leftovers in dir named SWAP_FILE_NAME-<pid>[suffix] of dead processes. */
static int recover_dir(const char *dir, bool records, char *what, size_t len)
{
	char path[SWAP_PATH_BYTES];
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return 0;   /* no such directory: nothing left there */
	while ((e = readdir(d))) {
		const char *suffix = records ? SWAP_RECORD_SUFFIX : "";
		int pid, end = 0, r = 0;

		if (sscanf(e->d_name, SWAP_FILE_NAME "-%d%n", &pid, &end) != 1 || pid <= 0 ||
		    strcmp(e->d_name + end, suffix) || swap_pid_alive(pid))
			continue;
		snprintf(path, sizeof(path), "%.100s/%.100s", dir, e->d_name);
		if (records) {
			r = recover_one(path, what, len);
		} else if (!recorded(pid)) {
			/* A swap file with no record: a process killed before records existed. */
			if (swaps_list(path) && swapoff(path) < 0)
				r = -errno;
			else if (unlink(path) < 0 && errno != ENOENT)
				r = -errno;
			note(what, len, "swap file %s left by pid %d, removed: %s; ", path, pid, r);
		}
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	return ret;
}

int swap_recover(char *what, size_t len)
{
	const char *dirs[SWAP_DIRS];
	int ret = 0, r;

	what[0] = '\0';
	if (geteuid() != 0)
		return 0;   /* nothing we could have set up */
	for (size_t i = 0; i < sizeof(swap_state_dirs) / sizeof(swap_state_dirs[0]); i++) {
		r = recover_dir(swap_state_dirs[i], true, what, len);
		if (r && !ret)
			ret = r;
	}
	swap_dirs(dirs);
	for (size_t i = 0; i < SWAP_DIRS; i++) {
		r = dirs[i] && dirs[i][0] ? recover_dir(dirs[i], false, what, len) : 0;
		if (r && !ret)
			ret = r;
	}
	return ret;
}

int swap_on(uint64_t bytes, enum swap_kind *kind, char *why, size_t len)
{
	char recovered[SWAP_LINE_BYTES];
	const char *dirs[SWAP_DIRS];
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
	/* What a killed process left is no swap of this host's: take it down first. */
	ret = swap_recover(recovered, sizeof(recovered));
	if (ret) {
		snprintf(why, len, "taking down leftovers: %s", recovered);
		return ret;
	}
	ret = mem_swap_read(&si);
	if (ret) {
		snprintf(why, len, "cannot read /proc/swaps: %s", strerror(-ret));
		return ret;
	}
	if (si.devices) {
		snprintf(why, len, "%s", recovered);
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
	swap_dirs(dirs);
	for (size_t i = 0; ret && st->kind == SWAP_NONE && i < SWAP_DIRS; i++)
		if (dirs[i] && dirs[i][0])
			ret = file_on(dirs[i], bytes, why, len);
	if (ret)
		return ret == -EPERM ? ret : -EOPNOTSUPP;
	if (!swaps_list(st->path)) {
		snprintf(why, len, "swapon(%s) succeeded but /proc/swaps does not list it",
			 st->path);
		return -EPROTO;
	}
	snprintf(why, len, "%s", recovered);
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
	sigset_t old;
	int ret;

	why[0] = '\0';
	if (kind == SWAP_NONE || kind == SWAP_EXISTING)
		return 0;
	snprintf(path, sizeof(path), "%s", st->path);
	ret = signals_block(&old);
	if (!ret) {
		if (teardown_claim()) {
			ret = teardown_raw();
			teardown_release();
		} else {
			ret = -EBUSY;   /* another process is taking it down */
		}
		ret = signals_restore(&old, ret);
	}
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
