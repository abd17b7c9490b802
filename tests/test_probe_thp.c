// SPDX-License-Identifier: MIT
/*
 * `memvmm probe`'s THP rows without KVM: the settings rows from fake hosts,
 * and on this host the settings rows and the two trials (anonymous memory, a
 * memfd) agree with what mem_thp_host_read() + mem_thp_policy() say the host
 * allows, whatever that is; with THP disabled for the process (prctl), both
 * trials say no.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "mem/thp.h"
#include "tests/e2e.h"
#include "tests/test.h"
#include "vmm/probe.h"

#define SETTING_BYTES 160

static const char *const settings_rows[] = {
	"THP (anon)", "THP (anon 2M)", "THP (shmem)", "THP (shmem 2M)",
	"THP defrag", "khugepaged defrag", "THP (this process)",
};
#define NR_SETTINGS_ROWS (sizeof(settings_rows) / sizeof(settings_rows[0]))

/* The row named feature; fails the test when there is none. */
static const struct probe_row *row_of(const struct probe_report *r, const char *feature)
{
	for (unsigned int i = 0; i < r->nr; i++)
		if (!strcmp(r->row[i].feature, feature))
			return &r->row[i];
	TEST_ASSERT(0, "no row '%s'", feature);
	return NULL;
}

static unsigned int row_index(const struct probe_report *r, const char *feature)
{
	return (unsigned int)(row_of(r, feature) - r->row);
}

/* The 2M row's detail, built here from mem_thp_policy(). */
static void check_policy_row(const struct probe_report *r, const char *feature,
			     const struct mem_thp_host *h, enum mem_thp_kind kind,
			     const char *per_size)
{
	const struct probe_row *row = row_of(r, feature);
	char setting[SETTING_BYTES], want[SETTING_BYTES * 2];
	enum mem_thp_policy p = mem_thp_policy(h, kind, setting, sizeof(setting));

	snprintf(want, sizeof(want), "%s -> %s (%s)", per_size[0] ? per_size : "no per-size file",
		 mem_thp_policy_name(p), setting);
	TEST_ASSERT(row->supported == (p != MEM_THP_POLICY_NEVER) && row->value == (int64_t)p,
		    "%s: %s %lld, policy %s", feature, row->supported ? "yes" : "no",
		    (long long)row->value, mem_thp_policy_name(p));
	TEST_ASSERT(!strcmp(row->detail, want), "%s: '%s', want '%s'", feature, row->detail, want);
}

static struct mem_thp_host fake_host(const char *anon, const char *anon_2m, const char *shmem,
				     const char *shmem_2m, const char *defrag, int khugepaged)
{
	struct mem_thp_host h = { .present = true, .khugepaged_defrag = khugepaged };

	snprintf(h.anon, sizeof(h.anon), "%s", anon);
	snprintf(h.anon_2m, sizeof(h.anon_2m), "%s", anon_2m);
	snprintf(h.shmem, sizeof(h.shmem), "%s", shmem);
	snprintf(h.shmem_2m, sizeof(h.shmem_2m), "%s", shmem_2m);
	snprintf(h.defrag, sizeof(h.defrag), "%s", defrag);
	return h;
}

/* Every settings row, in order, consistent with h. */
static void check_settings(const struct probe_report *r, const struct mem_thp_host *h)
{
	const struct probe_row *row;

	for (unsigned int i = 0; i < NR_SETTINGS_ROWS; i++)
		TEST_ASSERT(row_index(r, settings_rows[i]) == row_index(r, settings_rows[0]) + i,
			    "'%s' out of order", settings_rows[i]);
	row = row_of(r, "THP (this process)");
	TEST_ASSERT(row->supported == !h->process_disabled &&
		    row->value == (int64_t)h->process_disabled, "THP (this process): %s %lld",
		    row->supported ? "yes" : "no", (long long)row->value);
	if (!h->present) {
		for (unsigned int i = 0; i + 1 < NR_SETTINGS_ROWS; i++)
			TEST_ASSERT(!row_of(r, settings_rows[i])->supported &&
				    strstr(row_of(r, settings_rows[i])->detail, "without THP"),
				    "%s: %s", settings_rows[i], row_of(r, settings_rows[i])->detail);
		return;
	}
	row = row_of(r, "THP (anon)");
	TEST_ASSERT(!strcmp(row->detail, h->anon) && row->supported == !!strcmp(h->anon, "never"),
		    "THP (anon): '%s' for '%s'", row->detail, h->anon);
	row = row_of(r, "THP (shmem)");
	TEST_ASSERT(!strcmp(row->detail, h->shmem) && row->supported ==
		    (strcmp(h->shmem, "never") && strcmp(h->shmem, "deny")),
		    "THP (shmem): '%s' for '%s'", row->detail, h->shmem);
	check_policy_row(r, "THP (anon 2M)", h, MEM_THP_KIND_ANON, h->anon_2m);
	check_policy_row(r, "THP (shmem 2M)", h, MEM_THP_KIND_SHMEM, h->shmem_2m);
	row = row_of(r, "THP defrag");
	TEST_ASSERT(!strncmp(row->detail, h->defrag, strlen(h->defrag)) &&
		    row->detail[strlen(h->defrag)] == ':', "THP defrag: '%s' for '%s'",
		    row->detail, h->defrag);
	row = row_of(r, "khugepaged defrag");
	TEST_ASSERT(row->value == h->khugepaged_defrag &&
		    row->supported == (h->khugepaged_defrag == 1), "khugepaged defrag: %lld for %d",
		    (long long)row->value, h->khugepaged_defrag);
}

static void test_settings(const void *arg)
{
	struct mem_thp_host h[] = {
		fake_host("madvise", "inherit", "never", "inherit", "madvise", 1),
		fake_host("never", "always", "advise", "", "never", 0),
		fake_host("always", "never", "deny", "always", "defer+madvise", -1),
		fake_host("always", "", "force", "never", "defer", 0),
	};
	struct probe_report r;

	for (unsigned int i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		memset(&r, 0, sizeof(r));
		probe_thp_settings(&r, &h[i], 0);
		TEST_ASSERT(r.nr == NR_SETTINGS_ROWS, "host %u: %u rows", i, r.nr);
		check_settings(&r, &h[i]);
	}
	/* The first as the example reads, and the defrag words. */
	memset(&r, 0, sizeof(r));
	probe_thp_settings(&r, &h[0], 0);
	TEST_ASSERT(!strcmp(row_of(&r, "THP (anon 2M)")->detail, "inherit -> advise (enabled="
			    "madvise, hugepages-2048kB/enabled=inherit)"), "'%s'",
		    row_of(&r, "THP (anon 2M)")->detail);
	TEST_ASSERT(row_of(&r, "THP defrag")->supported, "defrag=madvise stalls advised faults");
	memset(&r, 0, sizeof(r));
	probe_thp_settings(&r, &h[1], 0);
	TEST_ASSERT(!strcmp(row_of(&r, "THP (shmem 2M)")->detail,
			    "no per-size file -> advise (shmem_enabled=advise)"), "'%s'",
		    row_of(&r, "THP (shmem 2M)")->detail);
	TEST_ASSERT(!row_of(&r, "THP defrag")->supported, "defrag=never does not stall");

	/* No THP in the kernel; THP disabled for the process. */
	h[0].present = false;
	h[0].process_disabled = true;
	memset(&r, 0, sizeof(r));
	probe_thp_settings(&r, &h[0], 0);
	TEST_ASSERT(r.nr == NR_SETTINGS_ROWS, "%u rows without THP", r.nr);
	check_settings(&r, &h[0]);

	/* Unreadable settings: every row a no naming the errno. */
	memset(&r, 0, sizeof(r));
	probe_thp_settings(&r, NULL, EACCES);
	TEST_ASSERT(r.nr == NR_SETTINGS_ROWS, "%u rows for EACCES", r.nr);
	for (unsigned int i = 0; i < r.nr; i++)
		TEST_ASSERT(!strcmp(r.row[i].feature, settings_rows[i]) && !r.row[i].supported &&
			    strstr(r.row[i].detail, "EACCES"), "%s: %s", r.row[i].feature,
			    r.row[i].detail);
	printf("ok - settings rows from fake hosts (per-size, inherit, deny/force, no THP, "
	       "unreadable)\n");
}

static unsigned int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	TEST_ASSERT(d, "opendir /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static unsigned long long vm_size_kib(void)
{
	char line[256];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/self/status", "re");

	TEST_ASSERT(f, "open /proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	fclose(f);
	TEST_ASSERT(kib, "VmSize in /proc/self/status");
	return kib;
}

/* Does the detail tell why an advised 2 MiB got small pages, matching the host? */
static void check_small_why(const struct probe_row *row, const struct mem_thp_host *h,
			    enum mem_thp_kind kind)
{
	char setting[SETTING_BYTES], want[SETTING_BYTES * 2];
	enum mem_thp_policy p = mem_thp_policy(h, kind, setting, sizeof(setting));

	if (p == MEM_THP_POLICY_NEVER)
		snprintf(want, sizeof(want), "4K pages: host policy never (%s)", setting);
	else if (h->process_disabled)
		snprintf(want, sizeof(want), "4K pages: THP disabled for this process");
	else
		snprintf(want, sizeof(want), "4K pages: no 2M page though the host allows it (%s",
			 setting);
	TEST_ASSERT(!strncmp(row->detail, want, strlen(want)), "%s: '%s', want '%s...'",
		    row->feature, row->detail, want);
}

/*
 * The trial's row against the host's policy: never (or THP off for the
 * process) gives a no with the reason; a policy that allows it gives one 2 MiB
 * page. Only where no fault stalls to compact (defrag defer/never) may a
 * fragmented host give small pages instead, and the row must then say so.
 */
static void check_trial(const struct probe_report *r, const char *feature,
			const struct mem_thp_host *h, enum mem_thp_kind kind)
{
	const struct probe_row *row = row_of(r, feature);
	enum mem_thp_policy p = mem_thp_policy(h, kind, NULL, 0);
	bool allowed = h->present && p != MEM_THP_POLICY_NEVER && !h->process_disabled;
	bool may_fail = !strcmp(h->defrag, "defer") || !strcmp(h->defrag, "never");

	TEST_REQUIRE(strcmp(row->detail, "MADV_POPULATE_WRITE: EINVAL"),
		     "no MADV_POPULATE_WRITE (kernel before 5.14)");
	TEST_ASSERT(!h->present || !strstr(row->detail, "MADV_HUGEPAGE:"),
		    "%s: MADV_HUGEPAGE refused with THP in the kernel: %s", feature, row->detail);
	if (allowed && (row->supported || !may_fail)) {
		TEST_ASSERT(row->supported && row->value == (int64_t)MEM_HUGE_PAGE_BYTES,
			    "%s: host policy %s, yet %s %lld: %s", feature, mem_thp_policy_name(p),
			    row->supported ? "yes" : "no", (long long)row->value, row->detail);
		printf("ok - %s: one 2 MiB page, host policy %s (%s)\n", feature,
		       mem_thp_policy_name(p), row->detail);
		return;
	}
	TEST_ASSERT(!row->supported && row->value < (int64_t)MEM_HUGE_PAGE_BYTES,
		    "%s: %s %lld: %s", feature, row->supported ? "yes" : "no",
		    (long long)row->value, row->detail);
	if (h->present)
		check_small_why(row, h, kind);
	printf("ok - %s: no, %s\n", feature, row->detail);
}

/* probe_collect_thp() on this host; each row checked against mem_thp_host_read(). */
static void collect_and_check(struct probe_report *r, struct mem_thp_host *h)
{
	unsigned int fds = fd_count(), first;
	unsigned long long vm = vm_size_kib();

	TEST_OK(mem_thp_host_read("", h));
	memset(r, 0, sizeof(*r));
	probe_collect_thp(r);
	TEST_ASSERT(!r->fail_err, "inconclusive: %s at %s: %s", r->fail_feature, r->fail_step,
		    strerror(r->fail_err));
	TEST_ASSERT(!r->dropped, "%u rows dropped", r->dropped);
	TEST_ASSERT(fd_count() == fds, "fds: %u before, %u after", fds, fd_count());
	TEST_ASSERT(vm_size_kib() < vm + (MEM_HUGE_PAGE_BYTES >> 10), "VmSize %llu kB, was %llu",
		    vm_size_kib(), vm);
	check_settings(r, h);
	/* Settings, mTHP sizes, then the trials: nothing else. */
	first = row_index(r, settings_rows[0]);
	TEST_ASSERT(first == 0, "THP (anon) is row %u", first);
	TEST_ASSERT(row_index(r, "mTHP sizes") == NR_SETTINGS_ROWS, "mTHP sizes at %u",
		    row_index(r, "mTHP sizes"));
	TEST_ASSERT(row_index(r, "THP trial (anon)") == NR_SETTINGS_ROWS + 1 &&
		    row_index(r, "THP trial (memfd)") == NR_SETTINGS_ROWS + 2 &&
		    r->nr == NR_SETTINGS_ROWS + 3, "%u rows, trials last", r->nr);
	check_trial(r, "THP trial (anon)", h, MEM_THP_KIND_ANON);
	check_trial(r, "THP trial (memfd)", h, MEM_THP_KIND_SHMEM);
}

static void test_host(const void *arg)
{
	struct probe_report r;
	struct mem_thp_host h;

	/* THP on for this process, whatever it inherited. */
	TEST_ASSERT(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0) == 0, "PR_SET_THP_DISABLE 0");
	collect_and_check(&r, &h);
	TEST_ASSERT(!h.process_disabled, "THP still disabled after PR_SET_THP_DISABLE 0");
	for (unsigned int i = 0; i < r.nr; i++)
		printf("# %-20s %-3s %-8lld %s\n", r.row[i].feature, r.row[i].supported ? "yes" : "no",
		       (long long)r.row[i].value, r.row[i].detail);
}

static void test_process_disabled(const void *arg)
{
	struct probe_report r;
	struct mem_thp_host h;
	int ret = prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);

	TEST_ASSERT(ret == 0, "PR_SET_THP_DISABLE 1");
	collect_and_check(&r, &h);
	TEST_ASSERT(h.process_disabled, "PR_GET_THP_DISABLE after PR_SET_THP_DISABLE 1");
	TEST_ASSERT(!row_of(&r, "THP trial (anon)")->supported &&
		    !row_of(&r, "THP trial (memfd)")->supported, "trials no with THP disabled");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "settings", test_settings, NULL },
		{ "host", test_host, NULL },
		{ "process-disabled", test_process_disabled, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
