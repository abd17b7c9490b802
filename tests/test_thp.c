// SPDX-License-Identifier: MIT
/*
 * mem/thp.c without KVM: mode names, the host's settings read from fake
 * sysfs trees, the policy each kind of memory gets, the decision for every
 * mode x kind x policy, and the smaps meter on fake files and on this
 * process's own memory (against the test's own reading, tests/thp.c).
 * Each case is its own Meson test; only "measure-real" depends on the host.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "mem/thp.h"
#include "tests/e2e.h"
#include "tests/fake_tree.h"
#include "tests/test.h"
#include "tests/thp.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)

#define SYS "sys/kernel/mm/transparent_hugepage/"

/* ---- names ---- */

static void run_names(const void *unused)
{
	static const char *const bad[] = { "", "ON", "auto ", " off", "1", "always", "autox" };
	enum mem_thp_mode m = MEM_THP_NR_MODES;

	for (unsigned int i = 0; i < MEM_THP_NR_MODES; i++) {
		const char *name = mem_thp_mode_name((enum mem_thp_mode)i);

		TEST_ASSERT(strcmp(name, "?") && mem_thp_parse(name, &m) == 0 && m == i,
			    "mode %u '%s' does not parse back", i, name);
	}
	TEST_ASSERT(!strcmp(mem_thp_mode_name(MEM_THP_AUTO), "auto") &&
		    !strcmp(mem_thp_mode_name(MEM_THP_ON), "on") &&
		    !strcmp(mem_thp_mode_name(MEM_THP_OFF), "off"), "the names the CLI documents");
	TEST_ASSERT(!strcmp(mem_thp_mode_name(MEM_THP_NR_MODES), "?") &&
		    !strcmp(mem_thp_mode_name((enum mem_thp_mode)-1), "?"), "out of range");
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = MEM_THP_NR_MODES;
		TEST_ASSERT(mem_thp_parse(bad[i], &m) == -EINVAL && m == MEM_THP_NR_MODES,
			    "'%s' parses", bad[i]);
	}
	TEST_ASSERT(mem_thp_parse(NULL, &m) == -EINVAL, "NULL parses");
	TEST_ASSERT(!strcmp(mem_thp_policy_name(MEM_THP_POLICY_NEVER), "never") &&
		    !strcmp(mem_thp_policy_name(MEM_THP_POLICY_ADVISE), "advise") &&
		    !strcmp(mem_thp_policy_name(MEM_THP_POLICY_ALWAYS), "always"), "policy names");
	TEST_PASS("mode and policy names");
}

/* ---- the host's settings on fake trees ---- */

static const char *tree;

/* A fresh tree with a full 6.18-like THP directory (files may be replaced after). */
static void fake_full(void)
{
	tree = fake_tree_new("thp");
	fake_tree_put(SYS "enabled", "always [madvise] never\n");
	fake_tree_put(SYS "hugepages-2048kB/enabled", "always [inherit] madvise never\n");
	fake_tree_put(SYS "shmem_enabled", "always within_size advise [never] deny force\n");
	fake_tree_put(SYS "hugepages-2048kB/shmem_enabled",
		      "always [inherit] within_size advise never\n");
	fake_tree_put(SYS "defrag", "always defer defer+madvise [madvise] never\n");
	fake_tree_put(SYS "khugepaged/defrag", "1\n");
}

static int host_read(struct mem_thp_host *h)
{
	memset(h, 0x5a, sizeof(*h));   /* every field must be written */
	return mem_thp_host_read(tree, h);
}

/* khugepaged/defrag holding text reads as want (-1: unknown), or fails with err. */
static void check_khugepaged(const char *text, int want, int err)
{
	struct mem_thp_host h;
	int ret;

	fake_full();
	fake_tree_put(SYS "khugepaged/defrag", text);
	ret = host_read(&h);
	TEST_ASSERT(ret == err && (err || h.khugepaged_defrag == want),
		    "khugepaged/defrag '%s': %d, defrag %d; want %d, %d", text, ret,
		    h.khugepaged_defrag, err, want);
}

/* A choice file holding text makes the whole read fail with err. */
static void check_garbage(const char *rel, const char *text, int err)
{
	struct mem_thp_host h;
	int ret;

	fake_full();
	fake_tree_put(rel, text);
	ret = host_read(&h);
	TEST_ASSERT(ret == err, "%s '%s': %d (%s), want %d", rel, text, ret, strerror(-ret), err);
}

static void run_host_read(const void *unused)
{
	struct mem_thp_host h;
	char word[MEM_THP_WORD_BYTES], path[512];

	atexit(fake_tree_remove);

	fake_full();
	TEST_OK(host_read(&h));
	TEST_ASSERT(h.present && !strcmp(h.anon, "madvise") && !strcmp(h.anon_2m, "inherit") &&
		    !strcmp(h.shmem, "never") && !strcmp(h.shmem_2m, "inherit") &&
		    !strcmp(h.defrag, "madvise") && h.khugepaged_defrag == 1 && !h.process_disabled,
		    "full tree: present %d anon '%s' '%s' shmem '%s' '%s' defrag '%s' %d", h.present,
		    h.anon, h.anon_2m, h.shmem, h.shmem_2m, h.defrag, h.khugepaged_defrag);
	TEST_PASS("a full tree reads as written");

	/* No THP directory (no CONFIG_TRANSPARENT_HUGEPAGE): not an error. */
	tree = fake_tree_new("thp");
	fake_tree_put("sys/kernel/mm/other", "x\n");
	TEST_OK(host_read(&h));
	TEST_ASSERT(!h.present && !h.anon[0] && !h.anon_2m[0] && !h.shmem[0] && !h.shmem_2m[0] &&
		    !h.defrag[0] && h.khugepaged_defrag == -1, "no THP directory");
	TEST_OK(mem_thp_host_read(tree, &h));
	TEST_PASS("no THP directory: present=false, no error");

	/* An old kernel: no per-size files, no khugepaged directory. */
	tree = fake_tree_new("thp");
	fake_tree_put(SYS "enabled", "[always] madvise never\n");
	fake_tree_put(SYS "shmem_enabled", "always within_size [advise] never deny force\n");
	fake_tree_put(SYS "defrag", "[always] defer defer+madvise madvise never\n");
	TEST_OK(host_read(&h));
	TEST_ASSERT(h.present && !strcmp(h.anon, "always") && !h.anon_2m[0] &&
		    !strcmp(h.shmem, "advise") && !h.shmem_2m[0] && !strcmp(h.defrag, "always") &&
		    h.khugepaged_defrag == -1, "old kernel: anon_2m '%s' shmem_2m '%s' khugepaged %d",
		    h.anon_2m, h.shmem_2m, h.khugepaged_defrag);
	/* Only the directory: every word empty. */
	tree = fake_tree_new("thp");
	fake_tree_put(SYS "hpage_pmd_size", "2097152\n");
	TEST_OK(host_read(&h));
	TEST_ASSERT(h.present && !h.anon[0] && !h.shmem[0] && !h.defrag[0], "empty directory");
	TEST_PASS("missing files read as empty words (older kernels)");

	/* Files that exist but say nothing sensible fail the read. */
	check_garbage(SYS "enabled", "always madvise never\n", -EPROTO);
	check_garbage(SYS "enabled", "always [] never\n", -EPROTO);
	check_garbage(SYS "enabled", "always [madvise never\n", -EPROTO);
	check_garbage(SYS "hugepages-2048kB/enabled", "[an_overly_long_word] never\n", -EPROTO);
	check_garbage(SYS "shmem_enabled", "garbage\n", -EPROTO);
	check_garbage(SYS "hugepages-2048kB/shmem_enabled", "\n", -EPROTO);
	check_garbage(SYS "defrag", "]madvise[\n", -EPROTO);
	check_garbage(SYS "enabled", "", -ENODATA);
	TEST_PASS("garbage in a choice file: -EPROTO (empty file: -ENODATA)");

	check_khugepaged("0\n", 0, 0);
	check_khugepaged("1\n", 1, 0);
	check_khugepaged("1", 1, 0);
	check_khugepaged("2\n", -1, -EPROTO);
	check_khugepaged("10\n", -1, -EPROTO);
	check_khugepaged("yes\n", -1, -EPROTO);
	check_khugepaged(" 1\n", -1, -EPROTO);
	check_khugepaged("", -1, -ENODATA);
	TEST_PASS("khugepaged/defrag: 0, 1, garbage");

	/* mem_thp_read_choice itself. */
	fake_full();
	snprintf(path, sizeof(path), "%s/%senabled", tree, SYS);
	TEST_OK(mem_thp_read_choice(path, word, sizeof(word)));
	TEST_ASSERT(!strcmp(word, "madvise"), "read_choice: '%s'", word);
	TEST_ASSERT(mem_thp_read_choice(path, word, 7) == -EPROTO && !word[0],
		    "a word that does not fit");
	TEST_OK(mem_thp_read_choice(path, word, 8));
	TEST_ASSERT(mem_thp_read_choice(path, word, 0) == -EINVAL, "len 0");
	snprintf(path, sizeof(path), "%s/%snope", tree, SYS);
	TEST_ASSERT(mem_thp_read_choice(path, word, sizeof(word)) == -ENOENT, "missing file");
	TEST_PASS("mem_thp_read_choice");

	/* process_disabled comes from this process (this case runs in a child). */
	fake_full();
	TEST_ASSERT(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE");
	TEST_OK(host_read(&h));
	TEST_ASSERT(h.process_disabled && h.present, "prctl not seen");
	tree = fake_tree_new("thp");
	TEST_OK(host_read(&h));
	TEST_ASSERT(h.process_disabled && !h.present, "prctl not seen without THP directory");
	TEST_PASS("PR_SET_THP_DISABLE is read from the process");

	/*
	 * 6.18+: disabled except where MADV_HUGEPAGE asks. memvmm's RAM asks,
	 * so that is not "disabled" for it. Older kernels refuse the flag.
	 */
	if (prctl(PR_SET_THP_DISABLE, 1, 1 << 1, 0, 0) == 0) {
		TEST_OK(host_read(&h));
		TEST_ASSERT(!h.process_disabled && h.process_except_advised,
			    "PR_THP_DISABLE_EXCEPT_ADVISED read as disabled=%d except=%d",
			    h.process_disabled, h.process_except_advised);
		TEST_PASS("PR_THP_DISABLE_EXCEPT_ADVISED: THP where advised");
	} else {
		TEST_ASSERT(errno == EINVAL, "PR_SET_THP_DISABLE with EXCEPT_ADVISED");
		printf("ok - PR_THP_DISABLE_EXCEPT_ADVISED: not in this kernel (EINVAL)\n");
	}
	TEST_ASSERT(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0) == 0, "PR_SET_THP_DISABLE 0");
	TEST_OK(host_read(&h));
	TEST_ASSERT(!h.process_disabled && !h.process_except_advised, "THP back on");
}

/* ---- policy ---- */

static struct mem_thp_host host(const char *anon, const char *anon_2m, const char *shmem,
				const char *shmem_2m)
{
	struct mem_thp_host h = { .present = true, .khugepaged_defrag = 1 };

	snprintf(h.anon, sizeof(h.anon), "%s", anon);
	snprintf(h.anon_2m, sizeof(h.anon_2m), "%s", anon_2m);
	snprintf(h.shmem, sizeof(h.shmem), "%s", shmem);
	snprintf(h.shmem_2m, sizeof(h.shmem_2m), "%s", shmem_2m);
	snprintf(h.defrag, sizeof(h.defrag), "madvise");
	return h;
}

static void expect_policy(const struct mem_thp_host *h, enum mem_thp_kind kind,
			  enum mem_thp_policy want, const char *want_setting)
{
	char setting[MEM_THP_WHY_BYTES];
	enum mem_thp_policy p = mem_thp_policy(h, kind, setting, sizeof(setting));

	TEST_ASSERT(p == want && !strcmp(setting, want_setting),
		    "kind %d anon '%s'/'%s' shmem '%s'/'%s': %s '%s', want %s '%s'", kind,
		    h->anon, h->anon_2m, h->shmem, h->shmem_2m, mem_thp_policy_name(p), setting,
		    mem_thp_policy_name(want), want_setting);
	TEST_ASSERT(mem_thp_policy(h, kind, NULL, 0) == want, "without a setting buffer");
}

#define ANON    MEM_THP_KIND_ANON
#define SHMEM   MEM_THP_KIND_SHMEM
#define NEVER   MEM_THP_POLICY_NEVER
#define ADVISE  MEM_THP_POLICY_ADVISE
#define ALWAYS  MEM_THP_POLICY_ALWAYS

static void run_policy(const void *unused)
{
	struct mem_thp_host h;
	char small[8];

	/* Anon: the per-size word decides unless it is "inherit" or missing. */
	h = host("madvise", "inherit", "never", "inherit");
	expect_policy(&h, ANON, ADVISE, "enabled=madvise, hugepages-2048kB/enabled=inherit");
	expect_policy(&h, SHMEM, NEVER, "shmem_enabled=never, hugepages-2048kB/shmem_enabled=inherit");
	h = host("always", "inherit", "always", "inherit");
	expect_policy(&h, ANON, ALWAYS, "enabled=always, hugepages-2048kB/enabled=inherit");
	h = host("never", "always", "never", "never");
	expect_policy(&h, ANON, ALWAYS, "hugepages-2048kB/enabled=always");
	h = host("never", "madvise", "never", "never");
	expect_policy(&h, ANON, ADVISE, "hugepages-2048kB/enabled=madvise");
	h = host("always", "never", "never", "never");
	expect_policy(&h, ANON, NEVER, "hugepages-2048kB/enabled=never");
	h = host("madvise", "", "", "");
	expect_policy(&h, ANON, ADVISE, "enabled=madvise");
	h = host("never", "", "", "");
	expect_policy(&h, ANON, NEVER, "enabled=never");
	h = host("something_new", "inherit", "", "");
	expect_policy(&h, ANON, NEVER, "enabled=something_new, hugepages-2048kB/enabled=inherit");
	h = host("", "", "", "");
	expect_policy(&h, ANON, NEVER, "no enabled file");
	TEST_PASS("anon: per-size overrides the global word, inherit and old kernels use it");

	/* Shmem: the same, except that deny and force override everything. */
	h = host("never", "never", "never", "advise");
	expect_policy(&h, SHMEM, ADVISE, "hugepages-2048kB/shmem_enabled=advise");
	h = host("never", "never", "advise", "never");
	expect_policy(&h, SHMEM, NEVER, "hugepages-2048kB/shmem_enabled=never");
	h = host("never", "never", "advise", "inherit");
	expect_policy(&h, SHMEM, ADVISE,
		      "shmem_enabled=advise, hugepages-2048kB/shmem_enabled=inherit");
	h = host("never", "never", "always", "");
	expect_policy(&h, SHMEM, ALWAYS, "shmem_enabled=always");
	h = host("never", "never", "within_size", "");
	expect_policy(&h, SHMEM, ALWAYS, "shmem_enabled=within_size");
	h = host("never", "never", "never", "within_size");
	expect_policy(&h, SHMEM, ALWAYS, "hugepages-2048kB/shmem_enabled=within_size");
	h = host("never", "never", "deny", "always");
	expect_policy(&h, SHMEM, NEVER, "shmem_enabled=deny");
	h = host("never", "never", "deny", "inherit");
	expect_policy(&h, SHMEM, NEVER, "shmem_enabled=deny");
	h = host("never", "never", "force", "never");
	expect_policy(&h, SHMEM, ALWAYS, "shmem_enabled=force");
	h = host("never", "never", "force", "");
	expect_policy(&h, SHMEM, ALWAYS, "shmem_enabled=force");
	/* The anon words do not matter for shmem, nor the shmem ones for anon. */
	h = host("always", "always", "never", "inherit");
	expect_policy(&h, SHMEM, NEVER, "shmem_enabled=never, hugepages-2048kB/shmem_enabled=inherit");
	h = host("never", "inherit", "force", "always");
	expect_policy(&h, ANON, NEVER, "enabled=never, hugepages-2048kB/enabled=inherit");
	TEST_PASS("shmem: per-size overrides, deny/force override per-size, within_size = always");

	/* hugetlb and guest_memfd do not look at the settings at all. */
	h = host("never", "never", "deny", "never");
	expect_policy(&h, MEM_THP_KIND_HUGETLB, ALWAYS, "hugetlb pages are 2 MiB");
	h.present = false;
	expect_policy(&h, MEM_THP_KIND_HUGETLB, ALWAYS, "hugetlb pages are 2 MiB");
	h = host("always", "always", "force", "always");
	expect_policy(&h, MEM_THP_KIND_NONE, NEVER,
		      "no huge folios for this memory in this kernel");
	/* No THP in the kernel. */
	h = host("always", "always", "always", "always");
	h.present = false;
	expect_policy(&h, ANON, NEVER, "no THP in this kernel (no " MEM_THP_SYSFS ")");
	expect_policy(&h, SHMEM, NEVER, "no THP in this kernel (no " MEM_THP_SYSFS ")");
	/* A short buffer truncates, never overflows. */
	h = host("madvise", "inherit", "never", "inherit");
	memset(small, 'x', sizeof(small));
	TEST_ASSERT(mem_thp_policy(&h, ANON, small, sizeof(small)) == ADVISE &&
		    !strcmp(small, "enabled"), "short buffer: '%.8s'", small);
	TEST_PASS("hugetlb, no-huge-folio kinds, no THP, short buffers");
}

/* ---- decide: every mode x kind x policy ---- */

/* A host where the 2 MiB policy of anon and shmem is p (policy() is checked above). */
static struct mem_thp_host host_policy(enum mem_thp_policy p, bool present, bool disabled)
{
	static const char *const anon[] = { "never", "madvise", "always" };
	static const char *const shmem[] = { "never", "advise", "always" };
	struct mem_thp_host h = host(anon[p], "inherit", shmem[p], "inherit");

	h.present = present;
	h.process_disabled = disabled;
	return h;
}

static void expect_decide(enum mem_thp_mode mode, enum mem_thp_kind kind,
			  const struct mem_thp_host *h, int want_ret, bool want_huge,
			  enum mem_thp_advice want_advice, const char *want_why)
{
	struct mem_thp_plan plan;
	int ret;

	memset(&plan, 0x5a, sizeof(plan));
	ret = mem_thp_decide(mode, kind, h, &plan);
	TEST_ASSERT(ret == want_ret && plan.huge == want_huge && plan.advice == want_advice &&
		    strstr(plan.why, want_why), "thp=%s kind %d (anon '%s' shmem '%s' present %d "
		    "disabled %d): %d huge %d advice %d why '%s'; want %d %d %d '%s'",
		    mem_thp_mode_name(mode), kind, h->anon, h->shmem, h->present,
		    h->process_disabled, ret, plan.huge, plan.advice, plan.why, want_ret,
		    want_huge, want_advice, want_why);
	TEST_ASSERT(memchr(plan.why, '\0', sizeof(plan.why)), "why is not terminated");
}

/* What decide must say for (mode, kind) on h whose 2 MiB policy for kind is p. */
static void decide_one(enum mem_thp_mode mode, enum mem_thp_kind kind,
		       const struct mem_thp_host *h, enum mem_thp_policy p)
{
	bool thp_kind = kind == ANON || kind == SHMEM;
	char setting[MEM_THP_WHY_BYTES / 2];

	if (kind == MEM_THP_KIND_HUGETLB) {
		if (mode == MEM_THP_OFF)
			expect_decide(mode, kind, h, -EINVAL, false, MEM_THP_ADVICE_NONE,
				      "always 2 MiB");
		else
			expect_decide(mode, kind, h, 0, true, MEM_THP_ADVICE_NONE, "hugetlb");
		return;
	}
	if (mode == MEM_THP_OFF) {
		expect_decide(mode, kind, h, 0, false, thp_kind && h->present ?
			      MEM_THP_ADVICE_NOHUGE : MEM_THP_ADVICE_NONE, "off");
		return;
	}
	if (thp_kind && h->process_disabled) {
		expect_decide(mode, kind, h, mode == MEM_THP_ON ? -EOPNOTSUPP : 0, false,
			      MEM_THP_ADVICE_NONE, "PR_SET_THP_DISABLE");
		return;
	}
	/* The why names the setting that decided; auto says it used none. */
	(void)mem_thp_policy(h, kind, setting, sizeof(setting));
	if (!thp_kind || !h->present || p == NEVER) {
		char why[MEM_THP_WHY_BYTES];

		snprintf(why, sizeof(why), "%s%s", mode == MEM_THP_ON ? "" : "not used: ",
			 setting);
		expect_decide(mode, kind, h, mode == MEM_THP_ON ? -EOPNOTSUPP : 0, false,
			      MEM_THP_ADVICE_NONE, why);
		return;
	}
	expect_decide(mode, kind, h, 0, true, MEM_THP_ADVICE_HUGE, setting);
}

static void run_decide(const void *unused)
{
	static const enum mem_thp_kind kinds[] = {
		MEM_THP_KIND_NONE, MEM_THP_KIND_ANON, MEM_THP_KIND_SHMEM, MEM_THP_KIND_HUGETLB,
	};
	struct mem_thp_host h;
	struct mem_thp_plan plan;
	unsigned int n = 0;

	for (unsigned int mode = 0; mode < MEM_THP_NR_MODES; mode++)
		for (unsigned int k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			for (unsigned int p = NEVER; p <= ALWAYS; p++)
				for (unsigned int v = 0; v < 4; v++, n++) {
					h = host_policy((enum mem_thp_policy)p, !(v & 1), v & 2);
					decide_one((enum mem_thp_mode)mode, kinds[k], &h,
						   (enum mem_thp_policy)p);
				}
	printf("ok - decide: %u combinations of mode x kind x policy x present x prctl\n", n);

	/* Named spot checks of what users see. */
	h = host("never", "inherit", "never", "inherit");
	expect_decide(MEM_THP_ON, ANON, &h, -EOPNOTSUPP, false, MEM_THP_ADVICE_NONE,
		      "enabled=never, hugepages-2048kB/enabled=inherit");
	h = host("madvise", "never", "never", "inherit");
	expect_decide(MEM_THP_ON, ANON, &h, -EOPNOTSUPP, false, MEM_THP_ADVICE_NONE,
		      "hugepages-2048kB/enabled=never");
	expect_decide(MEM_THP_AUTO, ANON, &h, 0, false, MEM_THP_ADVICE_NONE,
		      "not used: hugepages-2048kB/enabled=never");
	h = host("never", "never", "never", "advise");
	expect_decide(MEM_THP_ON, SHMEM, &h, 0, true, MEM_THP_ADVICE_HUGE,
		      "MADV_HUGEPAGE (host: hugepages-2048kB/shmem_enabled=advise)");
	/* always: still MADV_HUGEPAGE, so that defrag=madvise compacts for it. */
	h = host("always", "inherit", "force", "never");
	expect_decide(MEM_THP_AUTO, ANON, &h, 0, true, MEM_THP_ADVICE_HUGE, "enabled=always");
	expect_decide(MEM_THP_AUTO, SHMEM, &h, 0, true, MEM_THP_ADVICE_HUGE, "shmem_enabled=force");
	h = host("always", "inherit", "deny", "always");
	expect_decide(MEM_THP_ON, SHMEM, &h, -EOPNOTSUPP, false, MEM_THP_ADVICE_NONE,
		      "shmem_enabled=deny");
	expect_decide(MEM_THP_OFF, MEM_THP_KIND_HUGETLB, &h, -EINVAL, false,
		      MEM_THP_ADVICE_NONE, "thp=off: hugetlb");
	expect_decide(MEM_THP_ON, MEM_THP_KIND_NONE, &h, -EOPNOTSUPP, false,
		      MEM_THP_ADVICE_NONE, "no huge folios");
	/* A mode out of range. */
	TEST_ASSERT(mem_thp_decide(MEM_THP_NR_MODES, ANON, &h, &plan) == -EINVAL && !plan.huge,
		    "mode out of range");
	TEST_ASSERT(mem_thp_decide((enum mem_thp_mode)-1, ANON, &h, &plan) == -EINVAL,
		    "mode -1");
	TEST_PASS("decide: refusals and advice name the setting");
}

/* ---- the smaps meter on fake files ---- */

/* A mapping line and its fields; fields left 0 are written as "0 kB". */
struct fake_map {
	uint64_t start, end;
	const char *path;
	unsigned long long rss_kb, anon_kb, shmem_kb, file_kb, shared_tlb_kb, private_tlb_kb;
};

static void put_smaps(const char *rel, const struct fake_map *m, unsigned int nr)
{
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap);

	TEST_ASSERT(text, "malloc");
	text[0] = '\0';
	for (unsigned int i = 0; i < nr; i++, m++) {
		len += (size_t)snprintf(text + len, cap - len,
			"%012" PRIx64 "-%012" PRIx64 " rw-p 00000000 00:00 0    %s\n"
			"Size:           %8llu kB\nKernelPageSize:        4 kB\nRss:  %8llu kB\n"
			"Pss:            %8llu kB\nAnonymous:      %8llu kB\n"
			"AnonHugePages:  %8llu kB\nShmemPmdMapped: %8llu kB\n"
			"FilePmdMapped:  %8llu kB\nShared_Hugetlb: %8llu kB\n"
			"Private_Hugetlb: %7llu kB\nSwap:                  0 kB\n"
			"Locked:                0 kB\nTHPeligible:    1\n"
			"VmFlags: rd wr mr mw me ac hg\n",
			m->start, m->end, m->path ? m->path : "",
			(unsigned long long)((m->end - m->start) >> 10), m->rss_kb, m->rss_kb,
			m->rss_kb, m->anon_kb, m->shmem_kb, m->file_kb, m->shared_tlb_kb,
			m->private_tlb_kb);
		TEST_ASSERT(len < cap, "fake smaps too long");
	}
	fake_tree_put(rel, text);
	free(text);
}

/* mem_huge_measure of the ranges in the fake file gives want[] each. */
static void expect_measure(const char *what, struct mem_huge_range *r, unsigned int nr,
			   const uint64_t *want)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/smaps", tree);
	for (unsigned int i = 0; i < nr; i++)
		r[i].huge_bytes = 0xdead;
	TEST_OK(mem_huge_measure(path, r, nr));
	for (unsigned int i = 0; i < nr; i++)
		TEST_ASSERT(r[i].huge_bytes == want[i], "%s: range %u [%#lx +%#" PRIx64 "): %" PRIu64
			    " huge bytes, want %" PRIu64, what, i, (unsigned long)r[i].start,
			    r[i].len, r[i].huge_bytes, want[i]);
}

#define LONG_PATH_BYTES 6000   /* longer than PATH_MAX and than memvmm's line buffer */

static void run_measure_fake(const void *unused)
{
	static char long_path[LONG_PATH_BYTES + 1];
	const uint64_t B = 0x7f0000000000ull;
	const struct fake_map maps[] = {
		/* 8 MiB anon, 6 MiB of it huge. */
		{ B, B + 8 * MiB, "[anon:memvmm-ram-0]", .rss_kb = 8192, .anon_kb = 6144 },
		/* 4 MiB shmem, PMD-mapped and file PMD-mapped fields both count. */
		{ B + 8 * MiB, B + 12 * MiB, "/memfd:memvmm-ram (deleted)", .rss_kb = 4096,
		  .shmem_kb = 2048, .file_kb = 2048 },
		/* 4 MiB hugetlb: shared and private. */
		{ B + 12 * MiB, B + 16 * MiB, "/anon_hugepage (deleted)", .shared_tlb_kb = 2048,
		  .private_tlb_kb = 2048 },
		/* Elsewhere, with a very long path. */
		{ B + 32 * MiB, B + 36 * MiB, long_path, .rss_kb = 4096, .anon_kb = 4096 },
		/* A neighbour without huge pages. */
		{ B + 36 * MiB, B + 40 * MiB, NULL, .rss_kb = 4096 },
	};
	struct mem_huge_range r[6];
	char path[512];

	atexit(fake_tree_remove);
	long_path[0] = '/';
	memset(long_path + 1, 'p', LONG_PATH_BYTES - 1);
	tree = fake_tree_new("thp");
	put_smaps("smaps", maps, sizeof(maps) / sizeof(maps[0]));

	/* Exactly each mapping. */
	for (unsigned int i = 0; i < 5; i++)
		r[i] = (struct mem_huge_range){ .start = maps[i].start,
						.len = maps[i].end - maps[i].start };
	expect_measure("each mapping", r, 5, (const uint64_t[]){ 6 * MiB, 4 * MiB, 4 * MiB,
								   4 * MiB, 0 });
	/* Several mappings in one range are summed. */
	r[0] = (struct mem_huge_range){ .start = B, .len = 16 * MiB };
	r[1] = (struct mem_huge_range){ .start = B + 32 * MiB, .len = 8 * MiB };
	r[2] = (struct mem_huge_range){ .start = B - 64 * MiB, .len = 64 * MiB };   /* before */
	r[3] = (struct mem_huge_range){ .start = B + 16 * MiB, .len = 16 * MiB };   /* a gap */
	expect_measure("sums", r, 4, (const uint64_t[]){ 14 * MiB, 4 * MiB, 0, 0 });
	/*
	 * Partial overlap counts at most the overlap: 2 MiB of the 6 huge; the
	 * last MiB of anon and first of shmem; one page; 2 MiB of the long
	 * path's 4 huge and 2 of its neighbour's none; a range that straddles
	 * the first mapping's start; an empty range.
	 */
	r[0] = (struct mem_huge_range){ .start = B, .len = 2 * MiB };
	r[1] = (struct mem_huge_range){ .start = B + 7 * MiB, .len = 2 * MiB };
	r[2] = (struct mem_huge_range){ .start = B + 4 * KiB, .len = 4 * KiB };
	r[3] = (struct mem_huge_range){ .start = B + 34 * MiB, .len = 4 * MiB };
	r[4] = (struct mem_huge_range){ .start = B - 1 * MiB, .len = 2 * MiB };
	r[5] = (struct mem_huge_range){ .start = B + 8 * MiB, .len = 0 };
	expect_measure("clipped", r, 6, (const uint64_t[]){ 2 * MiB, 2 * MiB, 4 * KiB, 2 * MiB,
							     1 * MiB, 0 });
	TEST_PASS("fake smaps: fields summed per mapping, ranges summed, overlap clipped");

	/* Empty file: nothing huge, no error. Missing file: -ENOENT. */
	fake_tree_put("smaps", "");
	r[0] = (struct mem_huge_range){ .start = B, .len = 16 * MiB };
	expect_measure("empty file", r, 1, (const uint64_t[]){ 0 });
	snprintf(path, sizeof(path), "%s/nope", tree);
	TEST_ASSERT(mem_huge_measure(path, r, 1) == -ENOENT, "missing file");
	/* No ranges. */
	snprintf(path, sizeof(path), "%s/smaps", tree);
	TEST_OK(mem_huge_measure(path, r, 0));
	TEST_PASS("fake smaps: empty file, missing file (-ENOENT), no ranges");
}

/* ---- the smaps meter on this process's memory ---- */

#define REAL_BYTES (4 * MiB)

static void run_measure_real(const void *unused)
{
	struct mem_thp_host h;
	struct mem_thp_plan plan;
	struct mem_huge_range r[2];
	struct thp_smaps s;
	uint8_t *res, *p;
	uintptr_t aligned;

	TEST_OK(mem_thp_host_read("", &h));
	TEST_OK(mem_thp_decide(MEM_THP_AUTO, MEM_THP_KIND_ANON, &h, &plan));
	if (!plan.huge)
		fprintf(stderr, "anon THP: %s\n", plan.why);
	TEST_REQUIRE(plan.huge, "the host gives anonymous memory no huge pages (thp=auto: see above)");

	/* 4 MiB at a 2 MiB boundary, the rest of the reservation given back. */
	res = mmap(NULL, REAL_BYTES + MEM_HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(res != MAP_FAILED, "mmap");
	aligned = ((uintptr_t)res + MEM_HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(MEM_HUGE_PAGE_BYTES - 1);
	p = (uint8_t *)aligned;
	TEST_ASSERT((p == res || munmap(res, (size_t)(p - res)) == 0) &&
		    munmap(p + REAL_BYTES, (size_t)(res + MEM_HUGE_PAGE_BYTES - p)) == 0, "trim");
	TEST_ASSERT(madvise(p, REAL_BYTES, MADV_HUGEPAGE) == 0, "MADV_HUGEPAGE");
	TEST_ASSERT(madvise(p, REAL_BYTES, MADV_POPULATE_WRITE) == 0, "MADV_POPULATE_WRITE");

	thp_smaps_read(p, REAL_BYTES, &s);
	TEST_ASSERT(s.exact && s.mappings == 1 && s.size == REAL_BYTES && s.rss == REAL_BYTES,
		    "own reading: %u mappings, exact %d, size %" PRIu64 " rss %" PRIu64,
		    s.mappings, s.exact, s.size, s.rss);
	printf("  4 MiB anon after MADV_HUGEPAGE + MADV_POPULATE_WRITE: %" PRIu64
	       " KiB AnonHugePages\n", s.anon_huge >> 10);
	TEST_ASSERT(s.anon_huge > 0, "not one huge page in 4 aligned MiB (host: %s)", plan.why);

	r[0] = (struct mem_huge_range){ .start = aligned, .len = REAL_BYTES };
	/* clipped */
	r[1] = (struct mem_huge_range){ .start = aligned, .len = MEM_HUGE_PAGE_BYTES };
	TEST_OK(mem_huge_measure("/proc/self/smaps", r, 2));
	TEST_ASSERT(r[0].huge_bytes == s.anon_huge + s.shmem_pmd + s.file_pmd + s.hugetlb,
		    "mem_huge_measure %" PRIu64 ", the test's reading %" PRIu64, r[0].huge_bytes,
		    s.anon_huge);
	TEST_ASSERT(r[1].huge_bytes == (s.anon_huge < MEM_HUGE_PAGE_BYTES ? s.anon_huge :
					MEM_HUGE_PAGE_BYTES), "clipped: %" PRIu64, r[1].huge_bytes);
	/* Nothing changed in between (khugepaged has nothing left to collapse). */
	thp_smaps_read(p, REAL_BYTES, &s);
	TEST_ASSERT(r[0].huge_bytes == s.anon_huge, "changed between two readings");
	TEST_ASSERT(munmap(p, REAL_BYTES) == 0, "munmap");
	TEST_PASS("mem_huge_measure on real memory agrees with the test's own reading");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "names", run_names, NULL },
		{ "host-read", run_host_read, NULL },
		{ "policy", run_policy, NULL },
		{ "decide", run_decide, NULL },
		{ "measure-fake", run_measure_fake, NULL },
		{ "measure-real", run_measure_real, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
