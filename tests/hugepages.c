// SPDX-License-Identifier: MIT
#include "tests/hugepages.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HP_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static bool saved;
static uint64_t saved_nr;
static pid_t saved_by;  /* forked children inherit atexit; only the saver restores */

static bool read_u64(const char *file, uint64_t *v)
{
	FILE *f = fopen(file, "r");
	unsigned long long x;
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%llu", &x) == 1;
	fclose(f);
	*v = x;
	return ok;
}

static bool write_u64(const char *file, uint64_t v)
{
	FILE *f = fopen(file, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%llu\n", (unsigned long long)v) > 0;
	return fclose(f) == 0 && ok;
}

void hugepages_restore(void)
{
	uint64_t now;

	if (!saved || getpid() != saved_by)
		return;
	/* Unchanged: nothing to write (and no write permission needed). */
	if (read_u64(HP_DIR "nr_hugepages", &now) && now == saved_nr) {
		saved = false;
		return;
	}
	if (!write_u64(HP_DIR "nr_hugepages", saved_nr))
		fprintf(stderr, "warning: could not restore nr_hugepages to %llu\n",
			(unsigned long long)saved_nr);
	saved = false;
}

bool hugepages_save(void)
{
	if (saved)
		return true;
	if (!read_u64(HP_DIR "nr_hugepages", &saved_nr))
		return false;
	saved = true;
	saved_by = getpid();
	atexit(hugepages_restore);
	return true;
}

bool hugepages_set_total(uint64_t n)
{
	uint64_t now;

	return hugepages_save() && write_u64(HP_DIR "nr_hugepages", n) &&
	       read_u64(HP_DIR "nr_hugepages", &now) && now == n;
}

bool hugepages_reserve(uint64_t free_pages)
{
	uint64_t nr, fr, rsvd;

	if (!hugepages_save() || !read_u64(HP_DIR "free_hugepages", &fr) ||
	    !read_u64(HP_DIR "resv_hugepages", &rsvd) || !read_u64(HP_DIR "nr_hugepages", &nr))
		return false;
	if (fr - rsvd >= free_pages)
		return true;
	if (!write_u64(HP_DIR "nr_hugepages", nr + free_pages - (fr - rsvd)))
		return false;
	return read_u64(HP_DIR "free_hugepages", &fr) && fr - rsvd >= free_pages;
}
