// SPDX-License-Identifier: MIT
/* End to end: `memvmm probe` agrees with this host, in its table and as JSON. */
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "tests/e2e.h"
#include "tests/test.h"

/* The probe's row for a feature, checked against our own KVM_CHECK_EXTENSION. */
static void check_cap(json_object *features, int fd, const char *name, long cap)
{
	size_t i, n = json_object_array_length(features);
	int want = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	for (i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(features, i), *v;

		if (!json_object_object_get_ex(row, "feature", &v) ||
		    strcmp(json_object_get_string(v), name))
			continue;
		TEST_ASSERT(json_object_object_get_ex(row, "value", &v) &&
			    json_object_get_int64(v) == want, "%s: probe says %lld, host %d", name,
			    (long long)json_object_get_int64(v), want);
		TEST_ASSERT(json_object_object_get_ex(row, "supported", &v) &&
			    json_object_get_boolean(v) == (want > 0), "%s supported", name);
		return;
	}
	TEST_ASSERT(0, "probe has no row %s", name);
}

int main(void)
{
	const char *table[] = { "probe", NULL }, *json[] = { "probe", "--json", NULL };
	json_object *root, *features;
	struct e2e_result r;
	int kvm, vm;

	e2e_require_kvm();
	kvm = open("/dev/kvm", O_RDWR);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");

	e2e_run(table, NULL, &r);
	E2E_EXPECT_STATUS(&r, 0);
	TEST_ASSERT(strstr(r.out, "KVM_CAP_GUEST_MEMFD_FLAGS") && strstr(r.out, "KVM API version"),
		    "table: %s", r.out);
	if (ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS) == 3)
		TEST_ASSERT(strstr(r.out, "MMAP|INIT_SHARED"), "flags decoded: %s", r.out);
	e2e_free(&r);
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
	json_object_put(root);
	e2e_free(&r);
	TEST_PASS("probe --json: parses, each capability matches the host");
	close(vm);
	close(kvm);
	return 0;
}
