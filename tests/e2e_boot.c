// SPDX-License-Identifier: MIT
/*
 * End to end: boot the bundled test guest on every backend with
 * `touch=64M verify report` and check what the guest reported against what
 * the host computes independently (guest/abi.h's page pattern).
 * One Meson test per case: e2e_boot CASE (see main()).
 */
#include <stdio.h>
#include <string.h>

#include "guest/abi.h"
#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"

#define TOUCH_BYTES (64ull << 20)
#define TOUCH_PAGES (TOUCH_BYTES / 4096)

static uint64_t expected_checksum(uint64_t pages)
{
	uint64_t i, sum = 0;

	for (i = 0; i < pages; i++)
		sum += memvmm_page_value(i);
	return sum;
}

static void check_workload(const struct e2e_result *r, const char *backend)
{
	const char *line;
	uint64_t v, first, last;

	E2E_EXPECT_STATUS(r, 0);
	line = e2e_guest_line(r, "touch");
	TEST_ASSERT(e2e_key_u64(line, "pages", &v) && v == TOUCH_PAGES, "%s: touch line '%s'",
		    backend, line ? line : "(none)");
	TEST_ASSERT(e2e_key_u64(line, "bytes", &v) && v == TOUCH_BYTES, "touch bytes");
	TEST_ASSERT(e2e_key_u64(line, "first", &first) && e2e_key_u64(line, "last", &last) &&
		    first >= 0x100000 && last - first == TOUCH_BYTES - 4096,
		    "touched one contiguous range above the image: %s", line);
	line = e2e_guest_line(r, "verify");
	TEST_ASSERT(e2e_key_u64(line, "pages", &v) && v == TOUCH_PAGES, "verify line '%s'",
		    line ? line : "(none)");
	TEST_ASSERT(e2e_key_u64(line, "bad", &v) && v == 0, "verify found bad pages: %s", line);
	line = e2e_guest_line(r, "report");
	TEST_ASSERT(e2e_key_u64(line, "checksum", &v) && v == expected_checksum(TOUCH_PAGES),
		    "%s: report '%s', host expects 0x%016llx", backend, line ? line : "(none)",
		    (unsigned long long)expected_checksum(TOUCH_PAGES));
	TEST_ASSERT(e2e_guest_line(r, "done"), "no done line");
}

/* The default backend's trial, done here: guest_memfd with MMAP | INIT_SHARED. */
static int default_trial(void)
{
	return e2e_gmem_trial(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
}

/*
 * No arguments: the bundled test guest, 256M, banner, exit 0, on guest_memfd
 * exactly when this host's trial creates a mappable guest_memfd; otherwise on
 * memfd, with a note saying why. Then the workload on that default.
 */
static void test_default(const void *unused)
{
	const char *plain[] = { "run", NULL };
	const char *workload[] = { "run", "--cmdline", "touch=64M verify report", NULL };
	struct e2e_result r;
	char want[64];
	int trial;

	e2e_require_kvm();
	trial = default_trial();
	snprintf(want, sizeof(want), "256M on %s", trial ? "memfd" : "guest_memfd");
	e2e_run(plain, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(e2e_guest_line(&r, "start") && e2e_guest_line(&r, "done"),
		    "banner and done: %s", r.out);
	TEST_ASSERT(strstr(r.err, want), "guest_memfd MMAP|INIT_SHARED trial: %s, so want '%s': %s",
		    trial ? strerrorname_np(-trial) : "ok", want, r.err);
	TEST_ASSERT(!trial == !strstr(r.err, "not guest_memfd"),
		    "a note says why guest_memfd is not used exactly when it is not: %s", r.err);
	e2e_free(&r);
	printf("ok - memvmm run: bundled guest, exit 0, %s (trial: %s)\n", want,
	       trial ? strerrorname_np(-trial) : "guest_memfd MMAP|INIT_SHARED works");

	e2e_run(workload, NULL, &r);
	check_workload(&r, "default");
	TEST_ASSERT(strstr(r.err, want), "want '%s': %s", want, r.err);
	e2e_free(&r);
	TEST_PASS("default backend: touch=64M verify report");
}

/* The workload on one backend. */
static void test_backend(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	char memory[64];
	const char *args[] = { "run", "--memory", memory, "--cmdline", "touch=64M verify report",
			       NULL };
	struct e2e_result r;

	e2e_require_kvm();
	if (b == &mem_backend_guest_memfd)
		TEST_REQUIRE(!default_trial(), "this kernel creates no guest_memfd with "
			     "MMAP|INIT_SHARED (memvmm's trial for the backend)");
	/* 256M: nothing else may use those huge pages while this runs. */
	if (b == &mem_backend_hugetlb)
		TEST_REQUIRE(hugepages_reserve(128), "cannot make 128 2 MiB huge pages free "
			     "(nr_hugepages not writable, or the host lacks the memory)");
	snprintf(memory, sizeof(memory), "size=256M,backend=%s", b->name);
	e2e_run(args, NULL, &r);
	check_workload(&r, b->name);
	TEST_ASSERT(strstr(r.err, b->name), "summary names the backend: %s", r.err);
	e2e_free(&r);
	printf("ok - %s: touch=64M verify report\n", b->name);
}

/* Too few huge pages: exit 1 before the guest runs, naming hugetlb and ENOMEM. */
static void test_hugetlb_exhausted(const void *unused)
{
	const char *args[] = { "run", "--memory", "size=256M,backend=hugetlb", NULL };
	struct e2e_result r;

	e2e_require_kvm();
	TEST_REQUIRE(hugepages_set_total(16), "cannot set nr_hugepages to 16");
	e2e_run(args, NULL, &r);
	hugepages_restore();
	E2E_EXPECT_STATUS(&r, 1);
	TEST_ASSERT(strstr(r.err, "hugetlb") && strstr(r.err, "ENOMEM") &&
		    strstr(r.err, "needs 128 huge pages"), "message: %s", r.err);
	TEST_ASSERT(!e2e_guest_line(&r, "start"), "the guest must not have run: %s", r.out);
	e2e_free(&r);
	TEST_PASS("hugetlb with 16 huge pages for 256M: exit 1, hugetlb and ENOMEM named");
}

#define MAX_CASES 16

/* Cases: default, one per backend (by its name), hugetlb-exhausted. */
int main(int argc, char **argv)
{
	struct e2e_case cases[MAX_CASES] = { { "default", test_default, NULL } };
	size_t n = 1;

	for (unsigned int i = 0; mem_backends[i] && n < MAX_CASES - 1; i++)
		cases[n++] = (struct e2e_case){ mem_backends[i]->name, test_backend, mem_backends[i] };
	cases[n++] = (struct e2e_case){ "hugetlb-exhausted", test_hugetlb_exhausted, NULL };
	/* Cases change the huge page pool; this process puts it back however they end. */
	hugepages_save();
	return e2e_case_main(argc, argv, cases, n);
}
