// SPDX-License-Identifier: MIT
/*
 * End to end: `memvmm probe` agrees with this host, in its table and as JSON.
 * Each feature row is compared with the test's own trial of that feature,
 * done here with raw syscalls (not with memvmm's code).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "tests/e2e.h"
#include "tests/test.h"

#define SLOT_BYTES (2ull << 20)
#define PAGE_BYTES 4096ull
#define GMEM_MMAP_SHARED (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
#define HUGETLB_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"

/* The probe's row for a feature; fails the test when there is none. */
static json_object *row_of(json_object *features, const char *name)
{
	size_t i, n = json_object_array_length(features);

	for (i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(features, i), *v;

		if (json_object_object_get_ex(row, "feature", &v) &&
		    !strcmp(json_object_get_string(v), name))
			return row;
	}
	TEST_ASSERT(0, "probe has no row %s", name);
	return NULL;
}

static json_object *row_field(json_object *row, const char *key)
{
	json_object *v;

	TEST_ASSERT(json_object_object_get_ex(row, key, &v), "row without %s: %s", key,
		    json_object_to_json_string(row));
	return v;
}

static bool row_yes(json_object *features, const char *name)
{
	return json_object_get_boolean(row_field(row_of(features, name), "supported"));
}

static int64_t row_value(json_object *features, const char *name)
{
	return json_object_get_int64(row_field(row_of(features, name), "value"));
}

static const char *row_detail(json_object *features, const char *name)
{
	return json_object_get_string(row_field(row_of(features, name), "detail"));
}

/* The probe's row for a capability, checked against our own KVM_CHECK_EXTENSION. */
static void check_cap(json_object *features, int fd, const char *name, long cap)
{
	int want = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	TEST_ASSERT(row_value(features, name) == want, "%s: probe says %" PRId64 ", host %d",
		    name, row_value(features, name), want);
	TEST_ASSERT(row_yes(features, name) == (want > 0), "%s supported", name);
}

/*
 * The probe's yes/no for name matches our own trial, which returned ret
 * (0 or -errno); for a no, the detail names the same errno.
 */
static void expect_trial(json_object *features, const char *name, int ret)
{
	const char *detail = row_detail(features, name);
	char msg[256];

	TEST_ASSERT(row_yes(features, name) == !ret, "%s: probe says %s (%s), our trial: %s",
		    name, row_yes(features, name) ? "yes" : "no", detail,
		    ret ? strerrorname_np(-ret) : "ok");
	/* The errno, or (a kernel without the feature) the capability that lacks it. */
	if (ret)
		TEST_ASSERT(strstr(detail, strerrorname_np(-ret)) || strstr(detail, "KVM_CAP_"),
			    "%s: detail '%s' lacks %s", name, detail, strerrorname_np(-ret));
	snprintf(msg, sizeof(msg), "probe: %s is %s, as our own trial says%s%s", name,
		 ret ? "no" : "yes", ret ? ": " : "", ret ? strerrorname_np(-ret) : "");
	TEST_PASS(msg);
}

/* Raw: a guest_memfd of SLOT_BYTES, or -errno. */
static int __gmem_create(int vm, uint64_t flags)
{
	struct kvm_create_guest_memfd args = { .size = SLOT_BYTES, .flags = flags };
	int fd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);

	return fd < 0 ? -errno : fd;
}

static int new_vm(int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);

	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");
	return vm;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap %zu", len);
	return p;
}

static void check_guest_memfd(json_object *features, int vm)
{
	static const struct {
		const char *name;
		uint64_t flags;
	} cases[] = {
		{ "guest_memfd", 0 },
		{ "GUEST_MEMFD_FLAG_MMAP", GUEST_MEMFD_FLAG_MMAP },
		{ "GUEST_MEMFD_FLAG_INIT_SHARED", GMEM_MMAP_SHARED },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = __gmem_create(vm, cases[i].flags);

		if (fd >= 0)
			close(fd);
		expect_trial(features, cases[i].name, fd < 0 ? fd : 0);
	}
}

/*
 * One page written with write(), else with pwrite(), into a fresh
 * guest_memfd (the mappable kind memvmm uses). No guest_memfd at all: the
 * probe must say no.
 */
static void check_gmem_write(json_object *features, int vm)
{
	static char page[PAGE_BYTES];
	int fd = __gmem_create(vm, GMEM_MMAP_SHARED), ret, perr;

	if (fd < 0) {
		TEST_ASSERT(!row_yes(features, "write() on guest_memfd"),
			    "no guest_memfd with MMAP|INIT_SHARED here (%s), probe says yes",
			    strerrorname_np(-fd));
		TEST_PASS("probe: write() on guest_memfd no, there is no such guest_memfd here");
		return;
	}
	memset(page, 0xa5, sizeof(page));
	ret = write(fd, page, sizeof(page)) == (ssize_t)sizeof(page) ? 0 : -errno;
	perr = pwrite(fd, page, sizeof(page), 0) == (ssize_t)sizeof(page) ? 0 : -errno;
	if (ret && !perr)
		ret = 0;
	if (ret) {
		const char *detail = row_detail(features, "write() on guest_memfd");

		/* The probe names write()'s errno, or pwrite()'s when that is not ESPIPE. */
		TEST_ASSERT(!row_yes(features, "write() on guest_memfd") &&
			    (strstr(detail, strerrorname_np(-ret)) ||
			     strstr(detail, strerrorname_np(-perr))),
			    "write(): %s, pwrite(): %s; probe says %s (%s)", strerrorname_np(-ret),
			    strerrorname_np(-perr), row_yes(features, "write() on guest_memfd") ?
			    "yes" : "no", detail);
		TEST_PASS("probe: write() on guest_memfd no, as our own write() and pwrite() say");
	} else {
		expect_trial(features, "write() on guest_memfd", 0);
	}
	close(fd);
}

/* KVM_PRE_FAULT_MEMORY of one page on a vCPU, with a 2 MiB anon slot at GPA 0. */
static void check_prefault(json_object *features, int kvm)
{
	struct kvm_pre_fault_memory pf = { .gpa = 0, .size = PAGE_BYTES };
	int vm = new_vm(kvm), vcpu, ret, cap;
	void *hva = map_anon(SLOT_BYTES);
	struct kvm_userspace_memory_region slot = {
		.memory_size = SLOT_BYTES, .userspace_addr = (uintptr_t)hva,
	};

	TEST_ASSERT(!ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot), "KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(vcpu >= 0, "KVM_CREATE_VCPU");
	ret = ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &pf) < 0 ? -errno : 0;
	cap = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY);
	TEST_ASSERT(row_value(features, "KVM_PRE_FAULT_MEMORY") == cap,
		    "KVM_PRE_FAULT_MEMORY value %" PRId64 ", cap %d",
		    row_value(features, "KVM_PRE_FAULT_MEMORY"), cap);
	expect_trial(features, "KVM_PRE_FAULT_MEMORY", ret);
	close(vcpu);
	close(vm);
	munmap(hva, SLOT_BYTES);
}

static void check_populate_write(json_object *features)
{
	void *p = map_anon(2 * PAGE_BYTES);
	int ret = madvise(p, 2 * PAGE_BYTES, MADV_POPULATE_WRITE) ? -errno : 0;

	expect_trial(features, "MADV_POPULATE_WRITE", ret);
	munmap(p, 2 * PAGE_BYTES);
}

/* UFFD_FEATURE_MOVE among what UFFDIO_API offers to a fresh userfaultfd. */
static void check_uffd_move(json_object *features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool want = false;

	if (uffd >= 0) {
		TEST_ASSERT(!ioctl(uffd, UFFDIO_API, &api), "UFFDIO_API");
		want = api.features & UFFD_FEATURE_MOVE;
		close(uffd);
	}
	TEST_ASSERT(row_yes(features, "UFFDIO_MOVE") == want, "UFFDIO_MOVE: probe %d, host %d",
		    row_yes(features, "UFFDIO_MOVE"), want);
	TEST_PASS(want ? "probe: UFFDIO_MOVE yes, UFFDIO_API offers UFFD_FEATURE_MOVE" :
		  "probe: UFFDIO_MOVE no, UFFDIO_API does not offer UFFD_FEATURE_MOVE");
}

/* Devices in /proc/swaps and their total size in KiB. */
static void check_swap(json_object *features)
{
	unsigned long long kib, total = 0;
	unsigned int count = 0;
	char line[512];
	FILE *f = fopen("/proc/swaps", "r");

	TEST_ASSERT(f, "open /proc/swaps");
	TEST_ASSERT(fgets(line, sizeof(line), f), "/proc/swaps header");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %llu", &kib) == 1) {
			count++;
			total += kib;
		}
	}
	fclose(f);
	TEST_ASSERT(row_yes(features, "swap") == (count > 0), "swap: probe %d, %u devices",
		    row_yes(features, "swap"), count);
	TEST_ASSERT(row_value(features, "swap") == (int64_t)total,
		    "swap: probe %" PRId64 " KiB, /proc/swaps %llu", row_value(features, "swap"),
		    total);
	TEST_PASS("probe: swap matches /proc/swaps");
}

static unsigned long long read_ull(const char *path)
{
	unsigned long long v;
	FILE *f = fopen(path, "r");

	TEST_ASSERT(f, "open %s", path);
	TEST_ASSERT(fscanf(f, "%llu", &v) == 1, "parse %s", path);
	fclose(f);
	return v;
}

/* Free 2 MiB pages not yet reserved, and the pool size, as sysfs says. */
static void check_huge_pages(json_object *features)
{
	unsigned long long total, free_pages, resv, avail;
	char want[64];

	if (access(HUGETLB_2M "nr_hugepages", R_OK)) {
		TEST_ASSERT(!row_yes(features, "free huge pages"), "no 2M pool, probe says yes");
		TEST_PASS("probe: free huge pages no, there is no 2M hugetlb pool");
		return;
	}
	total = read_ull(HUGETLB_2M "nr_hugepages");
	free_pages = read_ull(HUGETLB_2M "free_hugepages");
	resv = read_ull(HUGETLB_2M "resv_hugepages");
	avail = free_pages > resv ? free_pages - resv : 0;
	TEST_ASSERT(row_value(features, "free huge pages") == (int64_t)avail &&
		    row_yes(features, "free huge pages") == (avail > 0),
		    "free huge pages: probe %" PRId64 ", sysfs %llu free - %llu reserved",
		    row_value(features, "free huge pages"), free_pages, resv);
	snprintf(want, sizeof(want), "%llu of %llu 2M pages free", avail, total);
	TEST_ASSERT(strstr(row_detail(features, "free huge pages"), want), "detail '%s', want '%s'",
		    row_detail(features, "free huge pages"), want);
	TEST_PASS("probe: free huge pages match sysfs");
}

/* A guest_memfd slot (REGION2) asking for KVM_MEM_LOG_DIRTY_PAGES. */
static void check_gmem_dirty_log(json_object *features, int kvm)
{
	struct kvm_userspace_memory_region2 slot = {
		.flags = KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES,
		.memory_size = SLOT_BYTES,
	};
	int vm = new_vm(kvm), fd = __gmem_create(vm, GMEM_MMAP_SHARED), ret;
	void *hva;

	if (fd < 0) {
		TEST_ASSERT(!row_yes(features, "dirty log on guest_memfd slot"),
			    "no guest_memfd with MMAP|INIT_SHARED here (%s), probe says yes",
			    strerrorname_np(-fd));
		TEST_PASS("probe: dirty log on guest_memfd slot no, there is no such guest_memfd");
		close(vm);
		return;
	}
	hva = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(hva != MAP_FAILED, "mmap guest_memfd");
	slot.userspace_addr = (uintptr_t)hva;
	slot.guest_memfd = (uint32_t)fd;
	ret = ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &slot) < 0 ? -errno : 0;
	expect_trial(features, "dirty log on guest_memfd slot", ret);
	munmap(hva, SLOT_BYTES);
	close(fd);
	close(vm);
}

/* Every JSON row is one table line (after the header), in the same order. */
static void check_table(json_object *features, const char *table)
{
	size_t i, n = json_object_array_length(features), lines = 0;
	const char *line = strchr(table, '\n');

	TEST_ASSERT(line, "table has no header: %s", table);
	for (i = 0; line && line[1]; i++, line = strchr(line + 1, '\n')) {
		const char *name = json_object_get_string(
			row_field(json_object_array_get_idx(features, i < n ? i : 0), "feature"));

		lines++;
		TEST_ASSERT(i < n && !strncmp(line + 1, name, strlen(name)) &&
			    line[1 + strlen(name)] == ' ', "table line %zu is not '%s': %.80s",
			    i + 1, name, line + 1);
	}
	TEST_ASSERT(lines == n, "table has %zu rows, JSON %zu", lines, n);
	TEST_PASS("probe: the table has the JSON's rows, in order");
}

int main(void)
{
	const char *table[] = { "probe", NULL }, *json[] = { "probe", "--json", NULL };
	const char *bogus[] = { "probe", "--bogus", NULL };
	json_object *root, *features;
	struct e2e_result r, t;
	int kvm, vm;

	e2e_require_kvm();
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_ASSERT(kvm >= 0, "open /dev/kvm");
	vm = new_vm(kvm);

	e2e_run(table, NULL, &t);
	E2E_EXPECT_STATUS(&t, 0);
	TEST_ASSERT(strstr(t.out, "KVM_CAP_GUEST_MEMFD_FLAGS") && strstr(t.out, "KVM API version"),
		    "table: %s", t.out);
	if (ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS) == 3)
		TEST_ASSERT(strstr(t.out, "MMAP|INIT_SHARED"), "flags decoded: %s", t.out);
	TEST_PASS("probe: table");

	e2e_run(json, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	root = json_tokener_parse(r.out);
	TEST_ASSERT(root && json_object_object_get_ex(root, "features", &features) &&
		    json_object_is_type(features, json_type_array), "valid JSON: %s", r.out);
	check_cap(features, vm, "KVM_CAP_USER_MEMORY2", KVM_CAP_USER_MEMORY2);
	check_cap(features, vm, "KVM_CAP_GUEST_MEMFD", KVM_CAP_GUEST_MEMFD);
	check_cap(features, vm, "KVM_CAP_GUEST_MEMFD_FLAGS", KVM_CAP_GUEST_MEMFD_FLAGS);
	check_cap(features, vm, "KVM_CAP_PRE_FAULT_MEMORY", KVM_CAP_PRE_FAULT_MEMORY);
	check_cap(features, vm, "KVM_CAP_MEMORY_ATTRIBUTES", KVM_CAP_MEMORY_ATTRIBUTES);
	check_cap(features, kvm, "KVM_CAP_VM_TYPES", KVM_CAP_VM_TYPES);
	TEST_PASS("probe --json: parses, each capability matches the host");

	check_table(features, t.out);
	check_guest_memfd(features, vm);
	check_gmem_write(features, vm);
	check_prefault(features, kvm);
	check_populate_write(features);
	check_uffd_move(features);
	check_swap(features);
	check_huge_pages(features);
	check_gmem_dirty_log(features, kvm);
	json_object_put(root);
	e2e_free(&r);
	e2e_free(&t);

	e2e_run(bogus, NULL, &r);
	E2E_EXPECT_STATUS(&r, 2);
	e2e_free(&r);
	TEST_PASS("probe --bogus: exit status 2");
	close(vm);
	close(kvm);
	return 0;
}
