// SPDX-License-Identifier: MIT
#include "tests/fake_tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/test.h"

static char tree[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void fake_tree_remove(void)
{
	if (tree[0])
		nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	tree[0] = '\0';
}

const char *fake_tree_new(const char *name)
{
	fake_tree_remove();
	snprintf(tree, sizeof(tree), "/tmp/memvmm-%s-XXXXXX", name);
	TEST_ASSERT(mkdtemp(tree), "mkdtemp");
	return tree;
}

void fake_tree_put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	for (char *p = path + strlen(tree) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		TEST_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
		*p = '/';
	}
	f = fopen(path, "we");
	TEST_ASSERT(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}
