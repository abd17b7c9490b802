// SPDX-License-Identifier: MIT
/*
 * The tests' memory cgroup helper (tests/memcg.c): where it finds the memory
 * controller on fake /proc and /sys trees (v1, v2, hybrid, containers), and on
 * this host a group with a limit that really holds, with the OOM killer kept
 * out as memcg.h promises (v1 oom_control, v2 oom_score_adj).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/fake_tree.h"
#include "tests/memcg.h"
#include "tests/test.h"

#define MiB (1ull << 20)

static const char *tree;   /* the fake root */

/* A fresh fake root with these /proc/self/cgroup and /proc/self/mountinfo. */
static void fake(const char *cgroup, const char *mountinfo)
{
	tree = fake_tree_new("memcg");
	fake_tree_put("proc/self/cgroup", cgroup);
	fake_tree_put("proc/self/mountinfo", mountinfo);
}

/* memcg_find on the fake tree gives version, own and base (below the tree). */
static void expect(const char *what, int version, const char *own, const char *base)
{
	struct memcg_place p;
	char want_own[512], want_base[512];

	memcg_find(tree, &p);
	TEST_ASSERT(p.version == version, "%s: version %d, want %d (%s)", what, p.version,
		    version, p.why);
	if (version == MEMCG_NONE) {
		TEST_ASSERT(p.why[0], "%s: no reason given", what);
		printf("ok - %s: none (%s)\n", what, p.why);
		return;
	}
	snprintf(want_own, sizeof(want_own), "%s%s", tree, own);
	snprintf(want_base, sizeof(want_base), "%s%s", tree, base);
	TEST_ASSERT(!strcmp(p.own, want_own) && !strcmp(p.base, want_base),
		    "%s: own '%s' base '%s', want '%s' '%s'", what, p.own, p.base, want_own,
		    want_base);
	printf("ok - %s: v%d, own %s, group made in %s\n", what, version, own, base);
}

#define MI_TMPFS "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
#define MI_V1(ctrl) "34 30 0:31 / /sys/fs/cgroup/" ctrl " rw,relatime - cgroup cgroup rw," ctrl "\n"
#define MI_UNIFIED "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
#define MI_V2 "29 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

static void test_fake_trees(const void *unused)
{
	atexit(fake_tree_remove);

	TEST_ASSERT(memcg_list_has("cpu,memory", ',', "memory") &&
		    memcg_list_has("memory", ',', "memory") &&
		    memcg_list_has("cpuset cpu io memory pids", ' ', "memory") &&
		    !memcg_list_has("memory_x,cpu", ',', "memory") &&
		    !memcg_list_has("", ',', "memory") &&
		    !memcg_list_has("name=systemd", ',', "memory"), "memcg_list_has");

	/* This machine: v1 memory controller, a cgroup2 without controllers. */
	fake("9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n",
	     MI_TMPFS MI_V1("cpu") MI_V1("memory") MI_UNIFIED);
	fake_tree_put("sys/fs/cgroup/unified/cgroup.controllers", "\n");
	expect("hybrid, v1 memory", MEMCG_V1, "/sys/fs/cgroup/memory/process_api/abc",
	       "/sys/fs/cgroup/memory/process_api/abc");

	fake("3:cpu,cpuacct,memory:/\n", MI_TMPFS
	     "34 30 0:31 / /sys/fs/cgroup/cpu,cpuacct,memory rw - cgroup cgroup rw,cpu,cpuacct,memory\n");
	expect("v1 co-mounted, at the root", MEMCG_V1, "/sys/fs/cgroup/cpu,cpuacct,memory",
	       "/sys/fs/cgroup/cpu,cpuacct,memory");

	/* A container seeing only its own part of a v1 hierarchy. */
	fake("4:memory:/docker/c1/job\n",
	     "34 30 0:31 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
	expect("v1 container mount", MEMCG_V1, "/sys/fs/cgroup/memory/job",
	       "/sys/fs/cgroup/memory/job");
	fake("4:memory:/elsewhere\n",
	     "34 30 0:31 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
	expect("v1, our group outside the mounted part", MEMCG_NONE, NULL, NULL);

	/* An escaped mount point (a space is \040 in mountinfo). */
	fake("4:memory:/a\n",
	     "34 30 0:31 / /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n");
	expect("v1, space in the mount point", MEMCG_V1, "/sys/fs/cgroup/my mem/a",
	       "/sys/fs/cgroup/my mem/a");

	/* Debian's default: cgroup2 only, the group goes next to ours. */
	fake("0::/user.slice/user-0.slice/session-1.scope\n", MI_V2);
	fake_tree_put("sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/cgroup.controllers",
	    "cpuset cpu io memory pids\n");
	expect("v2, a session scope", MEMCG_V2, "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope",
	       "/sys/fs/cgroup/user.slice/user-0.slice");

	fake("0::/\n", MI_V2);
	fake_tree_put("sys/fs/cgroup/cgroup.controllers", "cpu io memory\n");
	expect("v2, in the root", MEMCG_V2, "/sys/fs/cgroup", "/sys/fs/cgroup");

	fake("0::/ci.scope\n", MI_V2);
	fake_tree_put("sys/fs/cgroup/ci.scope/cgroup.controllers", "cpu io pids\n");
	expect("v2 without memory delegated", MEMCG_NONE, NULL, NULL);

	/* Hybrid without a v1 memory controller: memory is on the cgroup2. */
	fake("9:name=systemd:/\n0::/job\n", MI_TMPFS MI_V1("cpu") MI_UNIFIED);
	fake_tree_put("sys/fs/cgroup/unified/job/cgroup.controllers", "memory pids\n");
	expect("hybrid, memory on cgroup2", MEMCG_V2, "/sys/fs/cgroup/unified/job",
	       "/sys/fs/cgroup/unified");

	fake("0::/\n", MI_TMPFS);
	expect("no cgroup mounted", MEMCG_NONE, NULL, NULL);
	fake_tree_remove();
}

static int self_oom_score_adj(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	int v = 0;

	TEST_ASSERT(f && fscanf(f, "%d", &v) == 1, "read oom_score_adj");
	fclose(f);
	return v;
}

/* In a child inside cg: fallocate len of a memfd; 0 or the errno. */
static int charge_in_child(const struct memcg *cg, uint64_t len)
{
	int status, fd;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		TEST_ASSERT(memcg_enter(cg), "enter %s", cg->path);
		fd = memfd_create("memcg-test", MFD_CLOEXEC);
		TEST_ASSERT(fd >= 0, "memfd_create");
		_exit(fallocate(fd, 0, 0, (off_t)len) ? errno : 0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status), "child: %#x", status);
	return WEXITSTATUS(status);
}

/*
 * On this host: a group takes charges (usage grows, and falls back when they
 * are freed) and, with oom_kill_disable, a charge past the limit fails with
 * ENOMEM and kills nobody.
 */
static void test_host(const void *unused)
{
	struct memcg cg, tight;
	int adj = self_oom_score_adj(), err;
	char why[192], path[2][512];

	TEST_REQUIRE(memcg_create(&cg, 64 * MiB, false), cg.why);
	TEST_ASSERT(cg.version == (int)memcg_version(why, sizeof(why)), "version %d: %s",
		    cg.version, why);
	TEST_ASSERT(memcg_usage(&cg) < MiB, "fresh group holds %llu",
		    (unsigned long long)memcg_usage(&cg));
	err = charge_in_child(&cg, 16 * MiB);
	TEST_ASSERT(err == 0, "16M under a 64M limit: %s", strerror(err));
	TEST_ASSERT(memcg_usage(&cg) < MiB, "freed with the child: %llu",
		    (unsigned long long)memcg_usage(&cg));
	printf("ok - cgroup v%d group %s: 16M charged and freed under a 64M limit\n",
	       cg.version, cg.path);

	TEST_REQUIRE(memcg_create(&tight, 16 * MiB, true), tight.why);
	err = charge_in_child(&tight, 64 * MiB);
	TEST_ASSERT(err == ENOMEM, "64M under a 16M limit, OOM killer kept out: %s (want ENOMEM)",
		    err ? strerror(err) : "no error");
	TEST_ASSERT(memcg_usage(&tight) < MiB, "nothing left: %llu",
		    (unsigned long long)memcg_usage(&tight));
	TEST_ASSERT(memcg_enter(&tight) && memcg_leave(&tight), "enter and leave");
	TEST_ASSERT(self_oom_score_adj() == adj, "oom_score_adj %d after leave, was %d",
		    self_oom_score_adj(), adj);
	snprintf(path[0], sizeof(path[0]), "%s", cg.path);
	snprintf(path[1], sizeof(path[1]), "%s", tight.path);
	memcg_destroy(&tight);
	memcg_destroy(&cg);
	TEST_ASSERT(access(path[0], F_OK) && access(path[1], F_OK), "groups removed");
	printf("ok - cgroup v%d: a charge past the limit fails with ENOMEM%s, nobody killed\n",
	       cg.version, cg.version == MEMCG_V2 ? " (oom_score_adj -1000)" : " (oom_control)");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "fake-trees", test_fake_trees, NULL },
		{ "host", test_host, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
