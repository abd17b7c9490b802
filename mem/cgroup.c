// SPDX-License-Identifier: MIT
/*
 * Reading the memory cgroup limit: /proc/self/cgroup says which cgroup,
 * /proc/self/mountinfo where its hierarchy is mounted (and which part of it:
 * in a cgroup namespace or a container the mount's root is not "/"), then
 * the limit and usage files of every level from there up.
 */
#include "mem/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Limit and usage files fit in this. */
#define CGROUP_VALUE_BYTES 64

struct cgroup_mount {
	bool found;
	char root[PATH_MAX];   /* the part of the hierarchy mounted, e.g. "/" */
	char dir[PATH_MAX];    /* where, e.g. "/sys/fs/cgroup/memory" */
};

/* Which files a cgroup version keeps the numbers in. */
struct cgroup_files {
	const char *limit, *usage;
};

static const struct cgroup_files cgroup_v1_files = {
	.limit = "memory.limit_in_bytes", .usage = "memory.usage_in_bytes",
};
static const struct cgroup_files cgroup_v2_files = {
	.limit = "memory.max", .usage = "memory.current",
};

/* True if item is one of the sep-separated words of list. */
static bool list_has(const char *list, char sep, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p; p = strchr(p, sep), p = p ? p + 1 : NULL)
		if (!strncmp(p, item, n) && (p[n] == sep || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

static int path_join(char *out, size_t len, const char *a, const char *b, const char *c)
{
	if ((size_t)snprintf(out, len, "%s%s%s", a, b, c) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The whole of a small file, NUL-terminated; -EFBIG if it does not fit. */
static int read_small(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (!ret && got == len - 1)
		ret = -EFBIG;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	buf[got] = '\0';
	return ret;
}

/* A limit or usage file: a decimal number, or "max" (UINT64_MAX). */
static int read_value(const char *dir, const char *name, uint64_t *out)
{
	char path[PATH_MAX], buf[CGROUP_VALUE_BYTES], *end;
	unsigned long long v;
	int ret;

	ret = path_join(path, sizeof(path), dir, "/", name);
	if (!ret)
		ret = read_small(path, buf, sizeof(buf));
	if (ret)
		return ret;
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "max")) {
		*out = UINT64_MAX;
		return 0;
	}
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
void mem_cgroup_unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static int mount_set(struct cgroup_mount *m, const char *root, const char *dir)
{
	if (m->found)
		return 0;   /* the first mount wins */
	if (strlen(root) >= sizeof(m->root) || strlen(dir) >= sizeof(m->dir))
		return -ENAMETOOLONG;
	strcpy(m->root, root);
	strcpy(m->dir, dir);
	mem_cgroup_unescape(m->root);
	mem_cgroup_unescape(m->dir);
	m->found = true;
	return 0;
}

/*
 * One mountinfo line: "36 35 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"
 * (ID, parent, dev, root, mount point, options, optional fields, "-",
 * type, source, super options).
 */
static int mountinfo_line(char *line, struct cgroup_mount *v1, struct cgroup_mount *v2)
{
	char *field[64], *save = NULL;
	unsigned int n = 0, sep = 0;

	for (char *t = strtok_r(line, " \n", &save); t && n < 64; t = strtok_r(NULL, " \n", &save)) {
		if (!sep && n >= 6 && !strcmp(t, "-"))
			sep = n;
		field[n++] = t;
	}
	if (!sep || n < sep + 4)
		return 0;   /* not a line we understand: not a cgroup mount either */
	if (!strcmp(field[sep + 1], "cgroup") && list_has(field[sep + 3], ',', "memory"))
		return mount_set(v1, field[3], field[4]);
	if (!strcmp(field[sep + 1], "cgroup2"))
		return mount_set(v2, field[3], field[4]);
	return 0;
}

/* Call fn on each line of file until it returns non-zero; 0 or -errno. */
static int for_each_line(const char *file, int (*fn)(char *line, void *ctx), void *ctx)
{
	FILE *f = fopen(file, "re");
	size_t cap = 0;
	char *line = NULL;
	int ret = 0;

	if (!f)
		return -errno;
	errno = 0;
	while (!ret && getline(&line, &cap, f) >= 0)
		ret = fn(line, ctx);
	if (!ret && ferror(f))
		ret = errno ? -errno : -EIO;
	free(line);
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

struct mounts {
	struct cgroup_mount *v1, *v2;
};

static int mounts_line(char *line, void *ctx)
{
	struct mounts *m = ctx;

	return mountinfo_line(line, m->v1, m->v2);
}

static int read_mounts(const char *file, struct cgroup_mount *v1, struct cgroup_mount *v2)
{
	struct mounts m = { v1, v2 };

	return for_each_line(file, mounts_line, &m);
}

struct self_paths {
	char *v1, *v2;
	size_t len;
};

/* One "ID:controllers:path" line of /proc/self/cgroup (v2 is "0::path"). */
static int self_line(char *line, void *ctx)
{
	struct self_paths *p = ctx;
	char *ctrl = strchr(line, ':'), *path;

	if (!ctrl || !(path = strchr(ctrl + 1, ':')))
		return 0;
	*ctrl++ = '\0';
	*path++ = '\0';
	path[strcspn(path, "\n")] = '\0';
	if (strlen(path) >= p->len)
		return -ENAMETOOLONG;
	if (!strcmp(line, "0") && !ctrl[0])
		strcpy(p->v2, path);
	else if (list_has(ctrl, ',', "memory"))
		strcpy(p->v1, path);
	return 0;
}

/*
 * This process's v1 memory cgroup path and v2 path from /proc/self/cgroup;
 * "" where there is none.
 */
static int read_self(const char *file, char *v1, char *v2, size_t len)
{
	struct self_paths p = { v1, v2, len };

	v1[0] = v2[0] = '\0';
	return for_each_line(file, self_line, &p);
}

/* Does the cgroup2 hierarchy offer the memory controller (its root's cgroup.controllers)? */
static bool v2_has_memory(const char *root, const struct cgroup_mount *m)
{
	char path[PATH_MAX], buf[512];

	return !path_join(path, sizeof(path), root, m->dir, "/cgroup.controllers") &&
	       !read_small(path, buf, sizeof(buf)) && list_has(buf, ' ', "memory");
}

/*
 * Walk from cgroup path cg (under mount m, with root prefixed) up to the
 * mount's root, keeping the level with the least room. Levels without the
 * limit file (v2 cgroups where the controller is not enabled, the v2 root)
 * impose nothing.
 */
static int walk_levels(const char *root, const struct cgroup_mount *m, const char *cg,
		       const struct cgroup_files *files, struct mem_cgroup_limit *out)
{
	size_t rootlen = strcmp(m->root, "/") ? strlen(m->root) : 0;
	uint64_t best_room = UINT64_MAX;
	char rel[PATH_MAX], dir[PATH_MAX];
	bool own = true;
	int ret;

	/* The cgroup must lie inside the part of the hierarchy that is mounted. */
	if (strncmp(cg, m->root, rootlen) || (cg[rootlen] && cg[rootlen] != '/'))
		return -ENOENT;
	if (strlen(cg + rootlen) >= sizeof(rel))
		return -ENAMETOOLONG;
	strcpy(rel, cg + rootlen);
	if (!strcmp(rel, "/"))
		rel[0] = '\0';
	out->limit = UINT64_MAX;
	snprintf(out->path, sizeof(out->path), "%s", cg);
	for (;;) {
		uint64_t limit, usage = 0;
		char *slash;

		ret = path_join(dir, sizeof(dir), root, m->dir, rel);
		if (ret)
			return ret;
		ret = read_value(dir, files->limit, &limit);
		if (ret == -ENOENT)
			limit = UINT64_MAX;
		else if (ret)
			return ret;
		if (limit < MEM_CGROUP_UNLIMITED_MIN || own) {
			ret = read_value(dir, files->usage, &usage);
			if (ret == -ENOENT && limit >= MEM_CGROUP_UNLIMITED_MIN)
				usage = 0;     /* own cgroup, no controller here: nothing to say */
			else if (ret)
				return ret;
		}
		if (own && !out->limited)
			out->usage = usage;
		if (limit < MEM_CGROUP_UNLIMITED_MIN &&
		    (!out->limited || (limit > usage ? limit - usage : 0) < best_room)) {
			best_room = limit > usage ? limit - usage : 0;
			out->limited = true;
			out->limit = limit;
			out->usage = usage;
			snprintf(out->path, sizeof(out->path), "%.*s%s", (int)rootlen, m->root,
				 rel[0] ? rel : (rootlen ? "" : "/"));
		}
		own = false;
		if (!rel[0])
			return 0;
		slash = strrchr(rel, '/');
		*slash = '\0';
	}
}

int __mem_cgroup_limit_get(const char *root, struct mem_cgroup_limit *out)
{
	struct cgroup_mount *v1, *v2;
	char *cg1, *cg2, path[PATH_MAX];
	int ret;

	memset(out, 0, sizeof(*out));
	/* PATH_MAX-sized buffers: on the heap, not 16 KiB of stack. */
	v1 = calloc(1, sizeof(*v1));
	v2 = calloc(1, sizeof(*v2));
	cg1 = malloc(PATH_MAX);
	cg2 = malloc(PATH_MAX);
	if (!v1 || !v2 || !cg1 || !cg2) {
		ret = -ENOMEM;
		goto out;
	}
	ret = path_join(path, sizeof(path), root, "/proc/self/cgroup", "");
	if (!ret)
		ret = read_self(path, cg1, cg2, PATH_MAX);
	if (!ret)
		ret = path_join(path, sizeof(path), root, "/proc/self/mountinfo", "");
	if (!ret)
		ret = read_mounts(path, v1, v2);
	if (ret)
		goto out;
	if (cg1[0] && v1->found) {
		out->version = 1;
		ret = walk_levels(root, v1, cg1, &cgroup_v1_files, out);
	} else if (cg2[0] && v2->found && v2_has_memory(root, v2)) {
		out->version = 2;
		ret = walk_levels(root, v2, cg2, &cgroup_v2_files, out);
	}
out:
	free(cg2);
	free(cg1);
	free(v2);
	free(v1);
	return ret;
}

int mem_cgroup_limit_get(struct mem_cgroup_limit *out)
{
	return __mem_cgroup_limit_get("", out);
}
