// SPDX-License-Identifier: MIT
#include "tests/memcg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define MEMCG_MAX_LIVE 4

static struct memcg *live[MEMCG_MAX_LIVE];
static pid_t live_owner;

static bool write_str(const char *dir, const char *file, const char *val)
{
	char path[400];
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

/* This process's memory cgroup directory, from /proc/self/cgroup. */
static bool own_group(char *out, size_t len)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *path;

		if (!ctrl || !(path = strchr(ctrl + 1, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (!strcmp(ctrl + 1, "memory")) {
			snprintf(out, len, "%s%s", MEMCG_ROOT, strcmp(path, "/") ? path : "");
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void memcg_cleanup(void)
{
	if (getpid() != live_owner)
		return;
	for (unsigned int i = 0; i < MEMCG_MAX_LIVE; i++)
		if (live[i])
			memcg_destroy(live[i]);
}

bool memcg_create(struct memcg *cg, uint64_t limit, bool oom_kill_disable)
{
	static unsigned int seq;
	char val[32];
	unsigned int slot;

	memset(cg, 0, sizeof(*cg));
	for (slot = 0; slot < MEMCG_MAX_LIVE && live[slot]; slot++)
		;
	if (slot == MEMCG_MAX_LIVE || !own_group(cg->parent, sizeof(cg->parent)))
		return false;
	snprintf(cg->path, sizeof(cg->path), "%s/memvmm-test-%d-%u", cg->parent, (int)getpid(),
		 seq++);
	if (mkdir(cg->path, 0755) < 0)
		return false;
	if (!live_owner) {
		live_owner = getpid();
		atexit(memcg_cleanup);
	}
	live[slot] = cg;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	if ((limit && !write_str(cg->path, "memory.limit_in_bytes", val)) ||
	    (oom_kill_disable && !write_str(cg->path, "memory.oom_control", "1"))) {
		memcg_destroy(cg);
		return false;
	}
	return true;
}

bool memcg_enter(const struct memcg *cg)
{
	return write_str(cg->path, "cgroup.procs", "0");
}

bool memcg_leave(const struct memcg *cg)
{
	return write_str(cg->parent, "cgroup.procs", "0");
}

uint64_t memcg_usage(const struct memcg *cg)
{
	char path[400], buf[32];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", cg->path);
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%llu", &v) != 1)
		v = UINT64_MAX;
	fclose(f);
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
