// SPDX-License-Identifier: MIT
/*
 * The memory cgroup limit reader: on fake /proc and /sys trees (v1, v2,
 * hybrid, a container's partial mount, escaped mount points, broken
 * files), then on this host, checked against what its files say and
 * against a child group with a limit we set.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/cgroup.h"
#include "tests/e2e.h"
#include "tests/fake_tree.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define V1_UNLIMITED "9223372036854771712\n"

static const char *tree;   /* the fake root */

static const char hybrid_mountinfo[] =
	"25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n"
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static struct mem_cgroup_limit get_ok(const char *what)
{
	struct mem_cgroup_limit l;
	int ret = __mem_cgroup_limit_get(tree, &l);

	TEST_ASSERT(ret == 0, "%s: %d (%s)", what, ret, strerror(-ret));
	return l;
}

static void test_v1(void)
{
	struct mem_cgroup_limit l;

	/* /a allows 1 GiB with 600 MiB used, /a/b 2 GiB with 500 MiB used: /a binds. */
	tree = fake_tree_new("cgroup");
	fake_tree_put("proc/self/cgroup", "9:name=systemd:/\n5:cpu,cpuacct:/\n4:memory:/a/b\n0::/\n");
	fake_tree_put("proc/self/mountinfo", hybrid_mountinfo);
	fake_tree_put("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
	fake_tree_put("sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED);
	fake_tree_put("sys/fs/cgroup/memory/memory.usage_in_bytes", "4000000000\n");
	fake_tree_put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "1073741824\n");
	fake_tree_put("sys/fs/cgroup/memory/a/memory.usage_in_bytes", "629145600\n");
	fake_tree_put("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "2147483648\n");
	fake_tree_put("sys/fs/cgroup/memory/a/b/memory.usage_in_bytes", "524288000\n");
	l = get_ok("v1");
	TEST_ASSERT(l.version == 1 && l.limited, "v1 limited: version %d", l.version);
	TEST_ASSERT(l.limit == 1024 * MiB && l.usage == 600 * MiB && !strcmp(l.path, "/a"),
		    "the parent with less room binds: %llu/%llu at '%s'",
		    (unsigned long long)l.usage, (unsigned long long)l.limit, l.path);

	/* The own group is tighter: it binds. */
	fake_tree_put("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "629145600\n");
	l = get_ok("v1 own");
	TEST_ASSERT(l.limit == 600 * MiB && l.usage == 500 * MiB && !strcmp(l.path, "/a/b"),
		    "own group binds: '%s'", l.path);

	/* No limit anywhere: usage of the own group, "unlimited" as UINT64_MAX. */
	fake_tree_put("sys/fs/cgroup/memory/a/memory.limit_in_bytes", V1_UNLIMITED);
	fake_tree_put("sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "9223372036854710272\n");
	l = get_ok("v1 unlimited");
	TEST_ASSERT(l.version == 1 && !l.limited && l.limit == UINT64_MAX &&
		    l.usage == 500 * MiB && !strcmp(l.path, "/a/b"),
		    "unlimited (64 KiB-page huge number too): limited %d usage %llu '%s'",
		    l.limited, (unsigned long long)l.usage, l.path);

	/* The root group itself. */
	fake_tree_put("proc/self/cgroup", "4:memory:/\n");
	l = get_ok("v1 root");
	TEST_ASSERT(l.version == 1 && !l.limited && l.usage == 4000000000ull &&
		    !strcmp(l.path, "/"), "root group: '%s'", l.path);
	TEST_PASS("cgroup v1: tightest level of the hierarchy, unlimited, root");
}

static void test_v2(void)
{
	struct mem_cgroup_limit l;

	tree = fake_tree_new("cgroup");
	fake_tree_put("proc/self/cgroup", "0::/user.slice/x y\n");
	fake_tree_put("proc/self/mountinfo",
	    "30 22 0:27 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
	fake_tree_put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	fake_tree_put("sys/fs/cgroup/user.slice/memory.max", "max\n");
	fake_tree_put("sys/fs/cgroup/user.slice/memory.current", "999999999\n");
	fake_tree_put("sys/fs/cgroup/user.slice/x y/memory.max", "268435456\n");
	fake_tree_put("sys/fs/cgroup/user.slice/x y/memory.current", "1048576\n");
	l = get_ok("v2");
	TEST_ASSERT(l.version == 2 && l.limited && l.limit == 256 * MiB && l.usage == MiB &&
		    !strcmp(l.path, "/user.slice/x y"), "v2: %d %llu/%llu '%s'", l.version,
		    (unsigned long long)l.usage, (unsigned long long)l.limit, l.path);

	/* memory.max = "max" everywhere, root without the files: not limited. */
	fake_tree_put("sys/fs/cgroup/user.slice/x y/memory.max", "max\n");
	l = get_ok("v2 unlimited");
	TEST_ASSERT(l.version == 2 && !l.limited && l.limit == UINT64_MAX && l.usage == MiB,
		    "v2 unlimited: usage %llu", (unsigned long long)l.usage);

	/* A level where the controller is not enabled has no files: its parent's limit counts. */
	tree = fake_tree_new("cgroup");
	fake_tree_put("proc/self/cgroup", "0::/svc/leaf\n");
	fake_tree_put("proc/self/mountinfo",
	    "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
	fake_tree_put("sys/fs/cgroup/cgroup.controllers", "memory pids\n");
	fake_tree_put("sys/fs/cgroup/svc/memory.max", "536870912\n");
	fake_tree_put("sys/fs/cgroup/svc/memory.current", "134217728\n");
	fake_tree_put("sys/fs/cgroup/svc/leaf/cgroup.procs", "1\n");
	l = get_ok("v2 parent");
	TEST_ASSERT(l.limited && l.limit == 512 * MiB && l.usage == 128 * MiB &&
		    !strcmp(l.path, "/svc"), "parent's limit: '%s'", l.path);
	TEST_PASS("cgroup v2: memory.max/current, \"max\", levels without the controller");
}

static void test_odd_trees(void)
{
	struct mem_cgroup_limit l;
	int ret;

	/* Hybrid host whose cgroup2 has no memory controller and no v1 memory mount. */
	tree = fake_tree_new("cgroup");
	fake_tree_put("proc/self/cgroup", "4:memory:/a\n0::/\n");
	fake_tree_put("proc/self/mountinfo",
	    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
	fake_tree_put("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
	l = get_ok("no memory controller");
	TEST_ASSERT(l.version == 0 && !l.limited, "no memory cgroup: version %d", l.version);

	/* A container: the mount shows only /docker/abc of the hierarchy, at an escaped path. */
	tree = fake_tree_new("cgroup");
	fake_tree_put("proc/self/cgroup", "7:memory:/docker/abc/sub\n");
	fake_tree_put("proc/self/mountinfo",
	    "50 40 0:31 /docker/abc /sys/fs/cgroup/mem\\040ory ro,nosuid - cgroup cgroup "
	    "rw,memory\n");
	fake_tree_put("sys/fs/cgroup/mem ory/memory.limit_in_bytes", "1073741824\n");
	fake_tree_put("sys/fs/cgroup/mem ory/memory.usage_in_bytes", "1000\n");
	fake_tree_put("sys/fs/cgroup/mem ory/sub/memory.limit_in_bytes", V1_UNLIMITED);
	fake_tree_put("sys/fs/cgroup/mem ory/sub/memory.usage_in_bytes", "500\n");
	l = get_ok("container");
	TEST_ASSERT(l.version == 1 && l.limited && l.limit == 1024 * MiB && l.usage == 1000 &&
		    !strcmp(l.path, "/docker/abc"), "container's own root binds: '%s'", l.path);

	/* The cgroup is outside the mounted part: cannot be read. */
	fake_tree_put("proc/self/cgroup", "7:memory:/docker/other\n");
	ret = __mem_cgroup_limit_get(tree, &l);
	TEST_ASSERT(ret == -ENOENT, "outside the mount: %d", ret);
	/* "/docker/abcd" is not inside "/docker/abc". */
	fake_tree_put("proc/self/cgroup", "7:memory:/docker/abcd\n");
	TEST_ASSERT(__mem_cgroup_limit_get(tree, &l) == -ENOENT, "prefix is not a parent");

	/* Garbage in a limit file is an error, not a limit. */
	fake_tree_put("proc/self/cgroup", "7:memory:/docker/abc/sub\n");
	fake_tree_put("sys/fs/cgroup/mem ory/sub/memory.limit_in_bytes", "lots\n");
	TEST_ASSERT(__mem_cgroup_limit_get(tree, &l) == -EINVAL, "garbage limit");
	fake_tree_put("sys/fs/cgroup/mem ory/sub/memory.limit_in_bytes", "-1\n");
	TEST_ASSERT(__mem_cgroup_limit_get(tree, &l) == -EINVAL, "negative limit");

	/* No /proc at all. */
	tree = fake_tree_new("cgroup");
	TEST_ASSERT(__mem_cgroup_limit_get(tree, &l) == -ENOENT, "no /proc/self/cgroup");
	/* Lines that are not cgroup lines are ignored. */
	fake_tree_put("proc/self/cgroup", "garbage\n\n::\n");
	fake_tree_put("proc/self/mountinfo", "1 2 3\n- - -\n");
	l = get_ok("garbage lines");
	TEST_ASSERT(l.version == 0, "garbage: no cgroup");
	TEST_PASS("container mounts, escapes, unreadable and garbage files");
}

/* This process's v1 memory cgroup path from /proc/self/cgroup, written independently. */
static bool own_v1_path(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;

	TEST_ASSERT(f, "/proc/self/cgroup");
	while (!found && fgets(line, sizeof(line), f)) {
		char *c = strstr(line, ":memory:");

		if (c && (c == line || strchr(line, ':') == c)) {
			snprintf(out, len, "%s", c + strlen(":memory:"));
			out[strcspn(out, "\n")] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

static uint64_t file_value(const char *path)
{
	unsigned long long v = UINT64_MAX;
	char buf[64];
	FILE *f = fopen(path, "re");

	TEST_ASSERT(f && fgets(buf, sizeof(buf), f), "read %s", path);
	fclose(f);
	if (strncmp(buf, "max", 3))
		TEST_ASSERT(sscanf(buf, "%llu", &v) == 1, "number in %s", path);
	return v;
}

static void test_host(void)
{
	struct mem_cgroup_limit l;
	char own[400], dir[512];

	TEST_OK(mem_cgroup_limit_get(&l));
	printf("# this host: cgroup v%d, %s, limit %llu, usage %llu, at '%s'\n", l.version,
	       l.limited ? "limited" : "not limited", (unsigned long long)l.limit,
	       (unsigned long long)l.usage, l.path);
	if (own_v1_path(own, sizeof(own)) && access("/sys/fs/cgroup/memory", F_OK) == 0) {
		uint64_t limit;

		TEST_ASSERT(l.version == 1, "v1 memory controller present: version %d", l.version);
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
			 strcmp(own, "/") ? own : "");
		limit = file_value(dir);
		TEST_ASSERT(l.limited || limit >= MEM_CGROUP_UNLIMITED_MIN,
			    "own limit %llu is seen", (unsigned long long)limit);
		TEST_ASSERT(!l.limited || l.limit <= limit, "never looser than our own group");
		if (!l.limited)
			TEST_ASSERT(!strcmp(l.path, own), "path '%s' is ours '%s'", l.path, own);
	} else if (l.version == 2) {
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s/memory.max", l.path);
		TEST_ASSERT(!l.limited || file_value(dir) == l.limit, "v2 limit matches %s", dir);
	}
	TEST_PASS("this host's memory cgroup, consistent with its files");
}

/* A child group with a limit we set: a child process sees exactly it. */
static void test_host_limit(void)
{
	struct mem_cgroup_limit l;
	struct memcg cg;
	pid_t pid;
	int status;

	TEST_REQUIRE(memcg_create(&cg, 300 * MiB, false), cg.why);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		const char *name = strrchr(cg.path, '/');

		TEST_ASSERT(memcg_enter(&cg), "enter %s", cg.path);
		TEST_OK(mem_cgroup_limit_get(&l));
		TEST_ASSERT(l.version == cg.version && l.limited && l.limit == 300 * MiB,
			    "limit set is seen: %llu", (unsigned long long)l.limit);
		TEST_ASSERT(l.usage <= l.limit && strlen(l.path) >= strlen(name) &&
			    !strcmp(l.path + strlen(l.path) - strlen(name), name),
			    "usage %llu, path '%s' ends in '%s'", (unsigned long long)l.usage,
			    l.path, name);
		_exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0, "child's checks");
	memcg_destroy(&cg);
	TEST_PASS("a limit set on our group is what the reader reports");
}

static void run_fake_trees(const void *arg)
{
	atexit(fake_tree_remove);
	test_v1();
	test_v2();
	test_odd_trees();
}

static void run_host(const void *arg)
{
	test_host();
}

static void run_host_limit(const void *arg)
{
	test_host_limit();
}

/* Cases: fake-trees, host, host-limit (needs a writable memory controller). */
int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "fake-trees", run_fake_trees, NULL },
		{ "host", run_host, NULL },
		{ "host-limit", run_host_limit, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
