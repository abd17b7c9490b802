// SPDX-License-Identifier: MIT
#include "tests/thp.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/thp.h"
#include "tests/sysfs.h"

/* ---- the test's own smaps reader ---- */

static const struct {
	const char *key;
	size_t field;
} smaps_fields[] = {
	{ "Size:", offsetof(struct thp_smaps, size) },
	{ "Rss:", offsetof(struct thp_smaps, rss) },
	{ "AnonHugePages:", offsetof(struct thp_smaps, anon_huge) },
	{ "ShmemPmdMapped:", offsetof(struct thp_smaps, shmem_pmd) },
	{ "FilePmdMapped:", offsetof(struct thp_smaps, file_pmd) },
	{ "Shared_Hugetlb:", offsetof(struct thp_smaps, hugetlb) },
	{ "Private_Hugetlb:", offsetof(struct thp_smaps, hugetlb) },
};

void thp_smaps_read(const void *addr, uint64_t len, struct thp_smaps *out)
{
	const uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	FILE *f = fopen("/proc/self/smaps", "re");
	bool inside = false;
	char *line = NULL;
	size_t cap = 0;

	TEST_ASSERT(f, "open /proc/self/smaps");
	memset(out, 0, sizeof(*out));
	out->exact = true;
	while (getline(&line, &cap, f) > 0) {
		unsigned long start, end;
		unsigned long long kb;
		char perms[8];

		/* "start-end perms offset dev inode [path]"; field lines begin "Key:". */
		if (sscanf(line, "%lx-%lx %7s ", &start, &end, perms) == 3 && strlen(perms) == 4) {
			inside = start < hi && end > lo;
			if (inside) {
				out->mappings++;
				out->exact &= start >= lo && end <= hi;
			}
			continue;
		}
		for (size_t i = 0; inside && i < sizeof(smaps_fields) / sizeof(smaps_fields[0]); i++) {
			size_t n = strlen(smaps_fields[i].key);

			if (!strncmp(line, smaps_fields[i].key, n)) {
				TEST_ASSERT(sscanf(line + n, "%llu kB", &kb) == 1, "smaps: %s", line);
				*(uint64_t *)((char *)out + smaps_fields[i].field) += kb << 10;
			}
		}
	}
	TEST_ASSERT(!ferror(f), "read /proc/self/smaps");
	free(line);
	fclose(f);
	TEST_ASSERT(out->mappings, "no mapping at %p in smaps", addr);
}

/* ---- flipping the host's settings, with restore ---- */

#define THP_SETTINGS     4
#define THP_PATH_BYTES   128

static const char *const thp_rel[THP_SETTINGS] = {
	THP_SYSFS_ANON, THP_SYSFS_ANON_2M, THP_SYSFS_SHMEM, THP_SYSFS_SHMEM_2M,
};
/* Filled by thp_sysfs_save(), so that restoring needs nothing but syscalls. */
static char saved_path[THP_SETTINGS][THP_PATH_BYTES];
static char saved_word[THP_SETTINGS][MEM_THP_WORD_BYTES];   /* "": no such file */
static bool saved;
static pid_t saved_by;   /* forked children inherit atexit and handlers; only it restores */

static void say(const char *a, const char *b, const char *c)
{
	/* Best effort: nothing to do if stderr is gone. */
	if (write(STDERR_FILENO, a, strlen(a)) < 0 || write(STDERR_FILENO, b, strlen(b)) < 0 ||
	    write(STDERR_FILENO, c, strlen(c)) < 0)
		return;
}

void thp_sysfs_restore(void)
{
	int saved_errno = errno;

	if (!saved || getpid() != saved_by) {
		errno = saved_errno;
		return;
	}
	for (unsigned int i = 0; i < THP_SETTINGS; i++) {
		char now[MEM_THP_WORD_BYTES];

		if (!saved_word[i][0])
			continue;
		/* Unchanged: nothing to write (and no write permission needed). */
		if (sysfs_choice_read(saved_path[i], now, sizeof(now)) == 0 &&
		    !strcmp(now, saved_word[i]))
			continue;
		if (sysfs_write(saved_path[i], saved_word[i]) ||
		    sysfs_choice_read(saved_path[i], now, sizeof(now)) || strcmp(now, saved_word[i]))
			say("warning: could not restore ", saved_path[i], "\n");
	}
	errno = saved_errno;
}

static void restore_atexit(void)
{
	thp_sysfs_restore();
}

static void restore_on_signal(int sig)
{
	thp_sysfs_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

bool thp_sysfs_save(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	bool any = false;

	if (saved)
		return true;
	for (unsigned int i = 0; i < THP_SETTINGS; i++) {
		int ret;

		snprintf(saved_path[i], sizeof(saved_path[i]), MEM_THP_SYSFS "/%s", thp_rel[i]);
		ret = sysfs_choice_read(saved_path[i], saved_word[i], sizeof(saved_word[i]));
		TEST_ASSERT(ret == 0 || ret == -ENOENT, "read %s: %s", saved_path[i],
			    strerror(-ret));
		any |= ret == 0;
	}
	if (!any)
		return false;
	saved = true;
	saved_by = getpid();
	TEST_ASSERT(atexit(restore_atexit) == 0, "atexit");
	for (unsigned int i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa = { .sa_handler = restore_on_signal }, old;

		TEST_ASSERT(sigaction(sigs[i], NULL, &old) == 0, "sigaction");
		if (old.sa_handler == SIG_DFL)
			TEST_ASSERT(sigaction(sigs[i], &sa, NULL) == 0, "sigaction");
	}
	return true;
}

bool thp_sysfs_exists(const char *rel)
{
	char path[THP_PATH_BYTES];

	snprintf(path, sizeof(path), MEM_THP_SYSFS "/%s", rel);
	return access(path, F_OK) == 0;
}

void thp_sysfs_get(const char *rel, char *word, size_t len)
{
	char path[THP_PATH_BYTES];
	int ret;

	snprintf(path, sizeof(path), MEM_THP_SYSFS "/%s", rel);
	ret = sysfs_choice_read(path, word, len);
	TEST_ASSERT(ret == 0 || ret == -ENOENT, "read %s: %s", path, strerror(-ret));
}

bool thp_sysfs_set(const char *rel, const char *word, char *why, size_t len)
{
	char now[MEM_THP_WORD_BYTES];
	unsigned int i;
	int ret;

	for (i = 0; i < THP_SETTINGS && strcmp(rel, thp_rel[i]); i++)
		;
	TEST_ASSERT(i < THP_SETTINGS && saved, "%s: not saved by thp_sysfs_save()", rel);
	if (!saved_word[i][0]) {
		snprintf(why, len, "%s does not exist", saved_path[i]);
		return false;
	}
	ret = sysfs_write(saved_path[i], word);
	if (ret) {
		snprintf(why, len, "cannot write '%s' to %s: %s%s", word, saved_path[i],
			 strerror(-ret), ret == -EACCES || ret == -EPERM ? " (not root?)" :
			 ret == -EROFS ? " (read-only sysfs)" : "");
		return false;
	}
	ret = sysfs_choice_read(saved_path[i], now, sizeof(now));
	if (ret || strcmp(now, word)) {
		snprintf(why, len, "%s reads '%s' after writing '%s'", saved_path[i], now, word);
		return false;
	}
	return true;
}
