// SPDX-License-Identifier: MIT
/*
 * End to end: boot the bundled test guest on every backend with
 * `touch=64M verify report` and check what the guest reported against what
 * the host computes independently (guest/abi.h's page pattern).
 */
#include <stdio.h>
#include <string.h>

#include "guest/abi.h"
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

static void boot_backend(const struct mem_backend_ops *b)
{
	char memory[64];
	const char *args[] = { "run", "--memory", memory, "--cmdline", "touch=64M verify report",
			       NULL };
	struct e2e_result r;

	snprintf(memory, sizeof(memory), "size=256M,backend=%s", b->name);
	e2e_run(args, NULL, &r);
	check_workload(&r, b->name);
	TEST_ASSERT(strstr(r.err, b->name), "summary names the backend: %s", r.err);
	e2e_free(&r);
	printf("ok - %s: touch=64M verify report\n", b->name);
}

/* Too few huge pages: exit 1 before the guest runs, naming hugetlb and ENOMEM. */
static void test_hugetlb_exhausted(void)
{
	const char *args[] = { "run", "--memory", "size=256M,backend=hugetlb", NULL };
	struct e2e_result r;

	if (!hugepages_set_total(16)) {
		printf("skip - hugetlb exhaustion: cannot set nr_hugepages\n");
		return;
	}
	e2e_run(args, NULL, &r);
	hugepages_restore();
	E2E_EXPECT_STATUS(&r, 1);
	TEST_ASSERT(strstr(r.err, "hugetlb") && strstr(r.err, "ENOMEM") &&
		    strstr(r.err, "needs 128 huge pages"), "message: %s", r.err);
	TEST_ASSERT(!e2e_guest_line(&r, "start"), "the guest must not have run: %s", r.out);
	e2e_free(&r);
	TEST_PASS("hugetlb with 16 huge pages for 256M: exit 1, hugetlb and ENOMEM named");
}

int main(void)
{
	const char *plain[] = { "run", NULL };
	const char *workload[] = { "run", "--cmdline", "touch=64M verify report", NULL };
	struct e2e_result r;
	unsigned int i;

	e2e_require_kvm();

	/* No arguments: the test guest on guest_memfd, banner, exit 0. */
	e2e_run(plain, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(e2e_guest_line(&r, "start") && e2e_guest_line(&r, "done"),
		    "banner and done: %s", r.out);
	TEST_ASSERT(strstr(r.err, "256M on guest_memfd"), "default is 256M guest_memfd: %s",
		    r.err);
	e2e_free(&r);
	TEST_PASS("memvmm run: bundled guest, guest_memfd, exit 0");

	e2e_run(workload, NULL, &r);
	check_workload(&r, "default");
	e2e_free(&r);
	TEST_PASS("default backend: touch=64M verify report");

	for (i = 0; mem_backends[i]; i++) {
		const struct mem_backend_ops *b = mem_backends[i];

		if (b == &mem_backend_hugetlb) {
			/* 256M plus slack for anything else using huge pages. */
			if (!hugepages_reserve(128)) {
				printf("skip - hugetlb: cannot reserve 128 huge pages\n");
				continue;
			}
		}
		boot_backend(b);
		if (b == &mem_backend_hugetlb)
			hugepages_restore();
	}
	test_hugetlb_exhausted();
	return 0;
}
