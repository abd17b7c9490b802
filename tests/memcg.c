// SPDX-License-Identifier: MIT
#include "tests/memcg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/cgroup.h"

#define MEMCG_MAX_LIVE 4
#define OOM_SCORE_ADJ_MIN "-1000"

static struct memcg *live[MEMCG_MAX_LIVE];
static pid_t live_owner;

static bool write_str(const char *dir, const char *file, const char *val)
{
	char path[640];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val);
}

/* The first line of dir/file (without its newline) into buf; false if unreadable. */
static bool read_line(const char *dir, const char *file, char *buf, size_t len)
{
	char path[640];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* True if the space-separated list in dir/file has word. */
static bool has_word(const char *dir, const char *file, const char *word)
{
	char buf[512];

	return read_line(dir, file, buf, sizeof(buf)) && memcg_list_has(buf, ' ', word);
}

bool memcg_list_has(const char *list, char sep, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, word, n))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/*
 * The mount point and mount root of the v1 hierarchy with the memory
 * controller (version 1), or of cgroup2 (version 2).
 */
static bool find_mount(const char *root, int version, char *mnt, size_t mlen, char *mroot,
		       size_t rlen)
{
	char path[640], mr[512], mp[512], type[32], opts[512];
	size_t cap = 0;
	char *line = NULL;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", mr, mp) != 2 ||
		    sscanf(sep + 3, "%31s %*s %511s", type, opts) != 2)
			continue;
		if (version == MEMCG_V1)
			found = !strcmp(type, "cgroup") && memcg_list_has(opts, ',', "memory");
		else
			found = !strcmp(type, "cgroup2");
	}
	free(line);
	fclose(f);
	if (found) {
		mem_cgroup_unescape(mr);
		mem_cgroup_unescape(mp);
		snprintf(mnt, mlen, "%s", mp);
		snprintf(mroot, rlen, "%s", mr);
	}
	return found;
}

/* This process's path: v1 in the hierarchy with memory, v2 its "0::" line. */
static bool own_path(const char *root, int version, char *out, size_t len)
{
	char path[640], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *p;

		if (!ctrl || !(p = strchr(ctrl + 1, ':')))
			continue;
		*ctrl++ = '\0';
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		if (version == MEMCG_V1)
			found = memcg_list_has(ctrl, ',', "memory");
		else
			found = !strcmp(line, "0") && !ctrl[0];
		if (found)
			snprintf(out, len, "%s", p);
	}
	fclose(f);
	return found;
}

/* root + mount point + path below the mount's root; false if outside it. */
static bool group_dir(const char *root, const char *mnt, const char *mroot, const char *path,
		      char *out, size_t len, bool *at_mount_root)
{
	size_t rl = strlen(mroot);
	const char *rel = path;

	if (strcmp(mroot, "/")) {
		if (strncmp(path, mroot, rl) || (path[rl] != '/' && path[rl] != '\0'))
			return false;
		rel = path + rl;
	}
	*at_mount_root = !rel[0] || !strcmp(rel, "/");
	snprintf(out, len, "%s%s%s", root, mnt, *at_mount_root ? "" : rel);
	return true;
}

void memcg_find(const char *root, struct memcg_place *p)
{
	char mnt[512], mroot[512], path[512];
	bool top;

	memset(p, 0, sizeof(*p));
	if (find_mount(root, MEMCG_V1, mnt, sizeof(mnt), mroot, sizeof(mroot))) {
		if (!own_path(root, MEMCG_V1, path, sizeof(path))) {
			snprintf(p->why, sizeof(p->why), "cgroup v1 memory controller at %.100s, "
				 "but /proc/self/cgroup has no memory line", mnt);
			return;
		}
		if (!group_dir(root, mnt, mroot, path, p->own, sizeof(p->own), &top)) {
			snprintf(p->why, sizeof(p->why), "our memory cgroup %.40s is outside the "
				 "part mounted at %.40s (%.30s)", path, mnt, mroot);
			return;
		}
		snprintf(p->base, sizeof(p->base), "%s", p->own);
		p->version = MEMCG_V1;
		return;
	}
	if (!find_mount(root, MEMCG_V2, mnt, sizeof(mnt), mroot, sizeof(mroot))) {
		snprintf(p->why, sizeof(p->why), "no cgroup v1 memory controller and no cgroup2 "
			 "mounted");
		return;
	}
	if (!own_path(root, MEMCG_V2, path, sizeof(path)) ||
	    !group_dir(root, mnt, mroot, path, p->own, sizeof(p->own), &top)) {
		snprintf(p->why, sizeof(p->why), "cgroup2 at %.100s, but our group is not in it "
			 "(/proc/self/cgroup has no 0:: line below its root)", mnt);
		return;
	}
	if (!has_word(p->own, "cgroup.controllers", "memory")) {
		snprintf(p->why, sizeof(p->why), "cgroup v2 at %.80s: no memory controller in our "
			 "group's cgroup.controllers (bound to v1, or not delegated)", mnt);
		return;
	}
	/* A group with processes (ours) cannot give controllers to children; the root can. */
	snprintf(p->base, sizeof(p->base), "%s", p->own);
	if (!top)
		*strrchr(p->base, '/') = '\0';
	p->version = MEMCG_V2;
}

enum memcg_version memcg_version(char *why, size_t whylen)
{
	struct memcg_place p;

	memcg_find("", &p);
	if (why && whylen)
		snprintf(why, whylen, "%s", p.why);
	return p.version;
}

static void memcg_cleanup(void)
{
	if (getpid() != live_owner)
		return;
	for (unsigned int i = 0; i < MEMCG_MAX_LIVE; i++)
		if (live[i])
			memcg_destroy(live[i]);
}

/* v2: the new group's parent must hand it the memory controller. */
static bool v2_delegates(struct memcg *cg, const char *base)
{
	if (has_word(base, "cgroup.subtree_control", "memory"))
		return true;
	/* Only the root may enable it with processes inside (us). */
	if (write_str(base, "cgroup.subtree_control", "+memory"))
		return true;
	snprintf(cg->why, sizeof(cg->why), "cgroup v2: cannot enable the memory controller for "
		 "children of %.100s (%s)", base, strerror(errno));
	return false;
}

/* v2 with oom_kill_disable: can this process set oom_score_adj to -1000 and back? */
static bool oom_adj_settable(struct memcg *cg)
{
	char old[16];
	bool ok;

	if (!read_line("/proc/self", "oom_score_adj", old, sizeof(old))) {
		snprintf(cg->why, sizeof(cg->why), "cannot read /proc/self/oom_score_adj");
		return false;
	}
	cg->oom_score_adj = atoi(old);
	ok = write_str("/proc/self", "oom_score_adj", OOM_SCORE_ADJ_MIN);
	if (!ok)
		snprintf(cg->why, sizeof(cg->why), "cgroup v2 has no oom_control, and setting "
			 "oom_score_adj to -1000 instead failed (%s; needs CAP_SYS_RESOURCE)",
			 strerror(errno));
	return write_str("/proc/self", "oom_score_adj", old) && ok;
}

static bool set_limit(struct memcg *cg, uint64_t limit)
{
	const char *max_file = cg->version == MEMCG_V1 ? "memory.limit_in_bytes" : "memory.max";
	char val[32];

	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	if (!write_str(cg->path, max_file, val)) {
		snprintf(cg->why, sizeof(cg->why), "cannot write %s: %s", max_file, strerror(errno));
		return false;
	}
	/* So that the limit makes charges fail rather than pages go to swap. */
	if (cg->version == MEMCG_V1)
		cg->swap_limited = write_str(cg->path, "memory.memsw.limit_in_bytes", val);
	else
		cg->swap_limited = write_str(cg->path, "memory.swap.max", "0");
	return true;
}

bool memcg_create(struct memcg *cg, uint64_t limit, bool oom_kill_disable)
{
	static unsigned int seq;
	struct memcg_place p;
	unsigned int slot;

	memset(cg, 0, sizeof(*cg));
	for (slot = 0; slot < MEMCG_MAX_LIVE && live[slot]; slot++)
		;
	if (slot == MEMCG_MAX_LIVE) {
		snprintf(cg->why, sizeof(cg->why), "more than %d test memory cgroups at once",
			 MEMCG_MAX_LIVE);
		return false;
	}
	memcg_find("", &p);
	if (p.version == MEMCG_NONE) {
		snprintf(cg->why, sizeof(cg->why), "%s", p.why);
		return false;
	}
	cg->version = p.version;
	cg->oom_kill_disable = oom_kill_disable;
	snprintf(cg->parent, sizeof(cg->parent), "%s", p.own);
	if (p.version == MEMCG_V2 && !v2_delegates(cg, p.base))
		return false;
	if (p.version == MEMCG_V2 && oom_kill_disable && !oom_adj_settable(cg))
		return false;
	snprintf(cg->path, sizeof(cg->path), "%.480s/memvmm-test-%d-%u", p.base, (int)getpid(),
		 seq++);
	if (mkdir(cg->path, 0755) < 0) {
		snprintf(cg->why, sizeof(cg->why), "cgroup v%d: mkdir %.100s: %s", cg->version,
			 cg->path, strerror(errno));
		cg->path[0] = '\0';
		return false;
	}
	if (!live_owner) {
		live_owner = getpid();
		atexit(memcg_cleanup);
	}
	live[slot] = cg;
	if (limit && !set_limit(cg, limit))
		goto fail;
	if (p.version == MEMCG_V1 && oom_kill_disable &&
	    !write_str(cg->path, "memory.oom_control", "1")) {
		snprintf(cg->why, sizeof(cg->why), "cannot write memory.oom_control: %s",
			 strerror(errno));
		goto fail;
	}
	if (memcg_usage(cg) == UINT64_MAX) {
		snprintf(cg->why, sizeof(cg->why), "cgroup v%d: the new group %.100s has no "
			 "memory controller files", cg->version, cg->path);
		goto fail;
	}
	return true;
fail:
	memcg_destroy(cg);
	return false;
}

bool memcg_enter(const struct memcg *cg)
{
	if (cg->version == MEMCG_V2 && cg->oom_kill_disable &&
	    !write_str("/proc/self", "oom_score_adj", OOM_SCORE_ADJ_MIN))
		return false;
	return write_str(cg->path, "cgroup.procs", "0");
}

bool memcg_leave(const struct memcg *cg)
{
	bool ok = write_str(cg->parent, "cgroup.procs", "0");

	if (cg->version == MEMCG_V2 && cg->oom_kill_disable) {
		char val[16];

		snprintf(val, sizeof(val), "%d", cg->oom_score_adj);
		ok = write_str("/proc/self", "oom_score_adj", val) && ok;
	}
	return ok;
}

uint64_t memcg_usage(const struct memcg *cg)
{
	char buf[32];
	unsigned long long v;

	if (!read_line(cg->path, cg->version == MEMCG_V1 ? "memory.usage_in_bytes" :
		       "memory.current", buf, sizeof(buf)) || sscanf(buf, "%llu", &v) != 1)
		return UINT64_MAX;
	return v;
}

void memcg_destroy(struct memcg *cg)
{
	if (!cg->path[0])
		return;
	memcg_leave(cg);
	/* Emptied by its processes' exit; rmdir hands leftover charges up. */
	for (int i = 0; i < 50 && rmdir(cg->path) < 0 && errno == EBUSY; i++)
		usleep(20000);
	for (unsigned int i = 0; i < MEMCG_MAX_LIVE; i++)
		if (live[i] == cg)
			live[i] = NULL;
	cg->path[0] = '\0';
}
