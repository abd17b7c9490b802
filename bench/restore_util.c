// SPDX-License-Identifier: MIT
/*
 * restore's helpers for both parts (restore.h): the --size list, what the
 * host can hold, the page cache's share of the snapshot files, removing a
 * snapshot directory.
 */
#include "bench/restore.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/stats.h"
#include "mem/mem.h"
#include "vmm/options.h"

#define RS_DISK_MARGIN_BYTES (256ull << 20)
#define RS_MIB               (1024.0 * 1024.0)

struct bench_restore_opts bench_restore_opts;

static const uint64_t rs_default_sizes[] = { 256ull << 20, 1ull << 30, 4ull << 30 };

int bench_size_list_parse(const char *list, uint64_t *first)
{
	char buf[256], *save = NULL, *tok;
	unsigned int n = 0;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (n == RS_MAX_SIZES || options_parse_size(tok, &v) || v < 4096 || v % 4096)
			return -EINVAL;
		if (!n)
			*first = v;
		n++;
	}
	/* "1G," or ",1G" or "1G,,2G": strtok would hide the empty element. */
	if (!n || list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return -EINVAL;
	return 0;
}

int rs_sizes(const struct bench_opts *o, uint64_t *sizes, unsigned int *n)
{
	char buf[256], *save = NULL, *tok, sz[32];

	*n = 0;
	if (bench_restore_opts.size_list) {
		snprintf(buf, sizeof(buf), "%s", bench_restore_opts.size_list);
		for (tok = strtok_r(buf, ",", &save); tok && *n < RS_MAX_SIZES;
		     tok = strtok_r(NULL, ",", &save))
			if (!options_parse_size(tok, &sizes[*n]))
				(*n)++;
	} else if (o->size) {
		sizes[(*n)++] = o->size;
	} else {
		for (unsigned int i = 0; i < sizeof(rs_default_sizes) / sizeof(rs_default_sizes[0]);
		     i++)
			sizes[(*n)++] = rs_default_sizes[i];
	}
	for (unsigned int i = 0; i < *n; i++) {
		bench_fmt_size(sizes[i], sz, sizeof(sz));
		if (sizes[i] % RS_ALIGN_BYTES || sizes[i] < MEM_MIN_BYTES ||
		    sizes[i] > RS_MAX_BYTES) {
			fprintf(stderr, "memvmm-bench: restore: --size %s is not a multiple of 2M "
				"from 4M to 64G (hugetlb rows, 2M lazy chunks)\n", sz);
			return 2;
		}
	}
	return *n ? 0 : 2;
}

/* MemAvailable in bytes (0 when unknown). */
static uint64_t rs_mem_available(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb * 1024;
}

bool rs_host_lacks(uint64_t bytes, const char *dir, char *why, size_t len)
{
	uint64_t avail = rs_mem_available(), disk = 0;
	struct statvfs st;
	char sz[32];

	bench_fmt_size(bytes, sz, sizeof(sz));
	if (statvfs(dir, &st) == 0)
		disk = (uint64_t)st.f_bavail * st.f_frsize;
	if (avail < RS_MEM_FACTOR * bytes)
		snprintf(why, len, "MemAvailable %.0f MiB < %u x %s", (double)avail / RS_MIB,
			 RS_MEM_FACTOR, sz);
	else if (disk < bytes + RS_DISK_MARGIN_BYTES)
		snprintf(why, len, "%s has %.0f MiB free, needs %s + 256M", dir,
			 (double)disk / RS_MIB, sz);
	else
		return false;
	return true;
}

bool rs_hugetlb_lacks(uint64_t bytes, char *why, size_t len)
{
	uint64_t free_pages = 0, total = 0, need = bytes / MEM_HUGE_PAGE_BYTES;

	if (!mem_hugetlb_free_pages(&free_pages, &total) && free_pages >= need)
		return false;
	snprintf(why, len, "the 2M huge page pool has %llu free pages of %llu, needs %llu (the "
		 "benchmark does not change the pool)", (unsigned long long)free_pages,
		 (unsigned long long)total, (unsigned long long)need);
	return true;
}

double rs_files_cached_pct(const int *fd, unsigned int n)
{
	uint64_t pages = 0, cached = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct stat st;
		uint64_t size, np;
		unsigned char *vec;
		void *p;
		bool ok;

		if (fstat(fd[i], &st) < 0 || st.st_size <= 0)
			return NAN;
		size = (uint64_t)st.st_size;
		np = (size + MEM_PAGE_BYTES - 1) / MEM_PAGE_BYTES;
		vec = malloc(np);
		p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd[i], 0);
		ok = vec && p != MAP_FAILED && mincore(p, size, vec) == 0;
		for (uint64_t k = 0; ok && k < np; k++)
			cached += vec[k] & 1;
		pages += np;
		if (p != MAP_FAILED)
			munmap(p, size);
		free(vec);
		if (!ok)
			return NAN;
	}
	return pages ? 100.0 * (double)cached / (double)pages : NAN;
}

int rs_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 256];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* A snapshot's files, or a DIR.tmp-XXXXXX a failed save left (one level more). */
		if (unlink(path) < 0 && (errno != EISDIR || rs_remove_dir(path)) && !ret)
			ret = -errno;
	}
	closedir(d);
	if (rmdir(dir) < 0 && !ret)
		ret = -errno;
	return ret;
}

bool rs_case_usable(struct bench_case *c, const char *fail, unsigned int *failed)
{
	if (fail[0]) {
		snprintf(c->why, sizeof(c->why), "FAILED in round %u: %.170s", c->err_round + 1,
			 fail);
		(*failed)++;
	}
	return bench_case_ok(c);
}
