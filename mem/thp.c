// SPDX-License-Identifier: MIT
/*
 * Transparent huge pages: the host's settings, the per-backend decision and
 * the smaps meter (see mem/thp.h).
 *
 * Which setting decides, measured on 6.18 with a memfd mapped MAP_SHARED,
 * MADV_HUGEPAGE and MADV_POPULATE_WRITE: shmem_enabled=never with
 * hugepages-2048kB/shmem_enabled=advise gives PMD-mapped 2 MiB pages;
 * shmem_enabled=advise with the per-size file at never gives none, at
 * inherit gives them. So a per-size word other than "inherit" decides.
 * For anonymous memory the kernel documents the same rule.
 */
#include "mem/thp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#define THP_LINE_BYTES 256

/* PR_SET_THP_DISABLE's flag (6.18 uapi): THP stays on where MADV_HUGEPAGE asks. */
#ifndef PR_THP_DISABLE_EXCEPT_ADVISED
#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)
#endif
#define THP_2M_DIR     "/hugepages-2048kB"

static const char *const thp_mode_names[MEM_THP_NR_MODES] = {
	[MEM_THP_AUTO] = "auto",
	[MEM_THP_ON] = "on",
	[MEM_THP_OFF] = "off",
};

const char *mem_thp_mode_name(enum mem_thp_mode mode)
{
	return (unsigned int)mode < MEM_THP_NR_MODES ? thp_mode_names[mode] : "?";
}

int mem_thp_parse(const char *s, enum mem_thp_mode *out)
{
	for (unsigned int i = 0; s && i < MEM_THP_NR_MODES; i++) {
		if (!strcmp(s, thp_mode_names[i])) {
			*out = (enum mem_thp_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mem_thp_policy_name(enum mem_thp_policy p)
{
	switch (p) {
	case MEM_THP_POLICY_ALWAYS:
		return "always";
	case MEM_THP_POLICY_ADVISE:
		return "advise";
	default:
		return "never";
	}
}

/* The first line of path, without its newline. */
static int read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	errno = 0;
	if (!fgets(out, (int)len, f))
		ret = !ferror(f) ? -ENODATA : errno ? -errno : -EIO;
	fclose(f);
	if (!ret)
		out[strcspn(out, "\n")] = '\0';
	return ret;
}

int mem_thp_read_choice(const char *path, char *out, size_t len)
{
	char line[THP_LINE_BYTES], *open_b, *close_b;
	int ret;

	if (!len)
		return -EINVAL;
	out[0] = '\0';
	ret = read_line(path, line, sizeof(line));
	if (ret)
		return ret;
	open_b = strchr(line, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (!close_b || close_b == open_b + 1 || (size_t)(close_b - open_b - 1) >= len)
		return -EPROTO;
	snprintf(out, len, "%.*s", (int)(close_b - open_b - 1), open_b + 1);
	return 0;
}

/* root + MEM_THP_SYSFS + rel. */
static int thp_path(char *buf, size_t len, const char *root, const char *rel)
{
	if ((size_t)snprintf(buf, len, "%s" MEM_THP_SYSFS "%s", root, rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* A choice file below root; a missing file leaves out empty and is not an error. */
static int read_choice(const char *root, const char *rel, char *out, size_t len)
{
	char path[512];
	int ret = thp_path(path, sizeof(path), root, rel);

	out[0] = '\0';
	if (ret)
		return ret;
	ret = mem_thp_read_choice(path, out, len);
	return ret == -ENOENT ? 0 : ret;
}

int mem_thp_host_read(const char *root, struct mem_thp_host *h)
{
	char path[512], line[THP_LINE_BYTES];
	struct stat st;
	int ret, off;

	memset(h, 0, sizeof(*h));
	h->khugepaged_defrag = -1;
	if (!root)
		root = "";
	off = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (off < 0)
		return -errno;
	/*
	 * 1: no THP at all; 3 (6.18+, PR_THP_DISABLE_EXCEPT_ADVISED): none
	 * except where MADV_HUGEPAGE asks, as memvmm's RAM does.
	 */
	h->process_except_advised = off > 0 && (off & PR_THP_DISABLE_EXCEPT_ADVISED);
	h->process_disabled = off > 0 && !h->process_except_advised;
	ret = thp_path(path, sizeof(path), root, "");
	if (ret)
		return ret;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	h->present = true;
	ret = read_choice(root, "/enabled", h->anon, sizeof(h->anon));
	if (!ret)
		ret = read_choice(root, THP_2M_DIR "/enabled", h->anon_2m, sizeof(h->anon_2m));
	if (!ret)
		ret = read_choice(root, "/shmem_enabled", h->shmem, sizeof(h->shmem));
	if (!ret)
		ret = read_choice(root, THP_2M_DIR "/shmem_enabled", h->shmem_2m,
				  sizeof(h->shmem_2m));
	if (!ret)
		ret = read_choice(root, "/defrag", h->defrag, sizeof(h->defrag));
	if (ret)
		return ret;
	ret = thp_path(path, sizeof(path), root, "/khugepaged/defrag");
	if (!ret)
		ret = read_line(path, line, sizeof(line));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if ((line[0] != '0' && line[0] != '1') || line[1])
		return -EPROTO;
	h->khugepaged_defrag = line[0] - '0';
	return 0;
}

/* One sysfs word as a policy. */
static enum mem_thp_policy word_policy(const char *w)
{
	/* within_size: huge within the file's size; a region's file is sized up front. */
	if (!strcmp(w, "always") || !strcmp(w, "within_size") || !strcmp(w, "force"))
		return MEM_THP_POLICY_ALWAYS;
	if (!strcmp(w, "madvise") || !strcmp(w, "advise"))
		return MEM_THP_POLICY_ADVISE;
	return MEM_THP_POLICY_NEVER;   /* never, deny, or a word this code does not know */
}

enum mem_thp_policy mem_thp_policy(const struct mem_thp_host *h, enum mem_thp_kind kind,
				   char *setting, size_t len)
{
	const char *global, *per_size, *gname, *pname;
	char dummy[1];

	if (!setting || !len) {
		setting = dummy;
		len = sizeof(dummy);
	}
	setting[0] = '\0';
	if (kind == MEM_THP_KIND_HUGETLB) {
		snprintf(setting, len, "hugetlb pages are 2 MiB");
		return MEM_THP_POLICY_ALWAYS;
	}
	if (kind == MEM_THP_KIND_NONE) {
		snprintf(setting, len, "no huge folios for this memory in this kernel");
		return MEM_THP_POLICY_NEVER;
	}
	if (!h->present) {
		snprintf(setting, len, "no THP in this kernel (no %s)", MEM_THP_SYSFS);
		return MEM_THP_POLICY_NEVER;
	}
	if (kind == MEM_THP_KIND_ANON) {
		global = h->anon, per_size = h->anon_2m;
		gname = "enabled", pname = "hugepages-2048kB/enabled";
	} else {
		global = h->shmem, per_size = h->shmem_2m;
		gname = "shmem_enabled", pname = "hugepages-2048kB/shmem_enabled";
	}
	/* deny forces shmem THP off everywhere; force forces it on. */
	if (kind == MEM_THP_KIND_SHMEM && (!strcmp(global, "deny") || !strcmp(global, "force"))) {
		snprintf(setting, len, "%s=%s", gname, global);
		return word_policy(global);
	}
	if (per_size[0] && strcmp(per_size, "inherit")) {
		snprintf(setting, len, "%s=%s", pname, per_size);
		return word_policy(per_size);
	}
	if (!global[0]) {
		snprintf(setting, len, "no %s file", gname);
		return MEM_THP_POLICY_NEVER;
	}
	if (per_size[0])
		snprintf(setting, len, "%s=%s, %s=inherit", gname, global, pname);
	else
		snprintf(setting, len, "%s=%s", gname, global);
	return word_policy(global);
}

int mem_thp_decide(enum mem_thp_mode mode, enum mem_thp_kind kind,
		   const struct mem_thp_host *h, struct mem_thp_plan *plan)
{
	char setting[MEM_THP_WHY_BYTES / 2];
	enum mem_thp_policy p = mem_thp_policy(h, kind, setting, sizeof(setting));

	memset(plan, 0, sizeof(*plan));
	if ((unsigned int)mode >= MEM_THP_NR_MODES)
		return -EINVAL;
	if (kind == MEM_THP_KIND_HUGETLB) {
		if (mode == MEM_THP_OFF) {
			snprintf(plan->why, sizeof(plan->why),
				 "thp=off: hugetlb memory is always 2 MiB pages");
			return -EINVAL;
		}
		plan->huge = true;
		snprintf(plan->why, sizeof(plan->why), "hugetlb: 2 MiB pages");
		return 0;
	}
	if (mode == MEM_THP_OFF) {
		/* Nothing to turn off where there are no huge folios. */
		if (kind != MEM_THP_KIND_NONE && h->present)
			plan->advice = MEM_THP_ADVICE_NOHUGE;
		snprintf(plan->why, sizeof(plan->why), "off%s", plan->advice ?
			 " (MADV_NOHUGEPAGE)" : "");
		return 0;
	}
	/* auto says "not used: <reason>"; on is refused with the reason alone. */
	if (kind != MEM_THP_KIND_NONE && h->process_disabled) {
		snprintf(plan->why, sizeof(plan->why), "%sTHP is disabled for this process "
			 "(prctl PR_SET_THP_DISABLE, inherited from its parent)",
			 mode == MEM_THP_ON ? "" : "not used: ");
		return mode == MEM_THP_ON ? -EOPNOTSUPP : 0;
	}
	if (p == MEM_THP_POLICY_NEVER) {
		snprintf(plan->why, sizeof(plan->why), "%s%s", mode == MEM_THP_ON ? "" :
			 "not used: ", setting);
		return mode == MEM_THP_ON ? -EOPNOTSUPP : 0;
	}
	plan->huge = true;
	plan->advice = MEM_THP_ADVICE_HUGE;
	snprintf(plan->why, sizeof(plan->why), "MADV_HUGEPAGE (host: %s)", setting);
	return 0;
}

/* A smaps mapping line: "start-end perms ..."; false for a field line ("Key: value kB"). */
static bool smaps_mapping(const char *line, uintptr_t *start, uintptr_t *end)
{
	unsigned long a, b;
	int n = 0;

	if (sscanf(line, "%lx-%lx %*s%n", &a, &b, &n) != 2 || !n || b < a)
		return false;
	*start = a;
	*end = b;
	return true;
}

static const char *const smaps_huge_fields[] = {
	"AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:",
	"Shared_Hugetlb:", "Private_Hugetlb:", NULL,
};

/* Bytes of a huge page field line, or 0 for any other line. */
static uint64_t smaps_huge_field(const char *line)
{
	unsigned long long kb;

	for (const char *const *f = smaps_huge_fields; *f; f++) {
		size_t n = strlen(*f);

		if (!strncmp(line, *f, n) && sscanf(line + n, "%llu kB", &kb) == 1)
			return kb << 10;
	}
	return 0;
}

/* Add one mapping's huge bytes to every range it overlaps, at most the overlap. */
static void add_mapping(struct mem_huge_range *ranges, unsigned int nr,
			uintptr_t start, uintptr_t end, uint64_t huge)
{
	for (unsigned int i = 0; huge && i < nr; i++) {
		uintptr_t lo = ranges[i].start;
		uintptr_t hi = lo + ranges[i].len;
		uint64_t overlap;

		if (end <= lo || start >= hi)
			continue;
		overlap = (end < hi ? end : hi) - (start > lo ? start : lo);
		ranges[i].huge_bytes += huge < overlap ? huge : overlap;
	}
}

int mem_huge_measure(const char *path, struct mem_huge_range *ranges, unsigned int nr)
{
	uintptr_t start = 0, end = 0;
	char *line = NULL;
	size_t cap = 0;
	uint64_t huge = 0;
	bool mapping = false;
	FILE *f;
	int ret = 0;

	for (unsigned int i = 0; i < nr; i++)
		ranges[i].huge_bytes = 0;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* getline(): a line of any length (an escaped path) stays one line. */
	while (getline(&line, &cap, f) >= 0) {
		uintptr_t s, e;

		if (smaps_mapping(line, &s, &e)) {
			if (mapping)
				add_mapping(ranges, nr, start, end, huge);
			mapping = true;
			start = s, end = e, huge = 0;
			continue;
		}
		huge += smaps_huge_field(line);
	}
	if (ferror(f))
		ret = -EIO;
	else if (!feof(f))
		ret = -ENOMEM;   /* getline() could not grow its buffer */
	else if (mapping)
		add_mapping(ranges, nr, start, end, huge);
	free(line);
	fclose(f);
	return ret;
}

int mem_huge_bytes(const struct guest_mem *gm, uint64_t huge[MEM_MAX_REGIONS])
{
	struct mem_huge_range ranges[MEM_MAX_REGIONS];
	unsigned int idx[MEM_MAX_REGIONS], nr = 0;
	int ret;

	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++)
		huge[i] = 0;
	for (unsigned int i = 0; i < gm->nr_regions && i < MEM_MAX_REGIONS; i++) {
		const struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r) || !r->hva)
			continue;
		ranges[nr] = (struct mem_huge_range){ .start = (uintptr_t)r->hva, .len = r->size };
		idx[nr++] = i;
	}
	if (!nr)
		return 0;
	ret = mem_huge_measure("/proc/self/smaps", ranges, nr);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < nr; i++)
		huge[idx[i]] = ranges[i].huge_bytes;
	return 0;
}
