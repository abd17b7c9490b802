// SPDX-License-Identifier: MIT
/*
 * `memvmm probe`: one row per feature (supported or not, raw value, detail).
 * VM-scoped capabilities are asked on a scratch VM, as their answer can
 * depend on the VM type.
 */
#include "vmm/probe.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "vmm/kvm.h"

static const struct {
	uint64_t bit;
	const char *name;
} gmem_flag_names[] = {
	{ GUEST_MEMFD_FLAG_MMAP, "MMAP" },
	{ GUEST_MEMFD_FLAG_INIT_SHARED, "INIT_SHARED" },
};

static const char *const vm_type_names[] = {
	[KVM_X86_DEFAULT_VM] = "DEFAULT_VM",
	[KVM_X86_SW_PROTECTED_VM] = "SW_PROTECTED_VM",
	[2] = "SEV_VM",
	[3] = "SEV_ES_VM",
	[4] = "SNP_VM",
	[5] = "TDX_VM",
};

static struct probe_row *add_row(struct probe_report *r, const char *feature,
				 bool supported, int64_t value)
{
	struct probe_row *row = &r->row[r->nr < PROBE_MAX_ROWS ? r->nr++ : PROBE_MAX_ROWS - 1];

	*row = (struct probe_row){ .feature = feature, .supported = supported, .value = value };
	return row;
}

/* "A|B|bit5" for a bitmask, given names for the low bits. */
static void decode_bits(char *out, size_t len, uint64_t mask, const char *const *names,
			unsigned int nr_names)
{
	size_t used = 0;
	unsigned int bit;

	out[0] = '\0';
	for (bit = 0; bit < 64 && used < len; bit++) {
		if (!(mask & (1ull << bit)))
			continue;
		if (bit < nr_names && names[bit])
			used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "|" : "",
						 names[bit]);
		else
			used += (size_t)snprintf(out + used, len - used, "%sbit%u", used ? "|" : "",
						 bit);
	}
}

static void add_cap_row(struct probe_report *r, int fd, const char *name, long cap)
{
	int val = kvm_check_cap(fd, cap);
	struct probe_row *row = add_row(r, name, val > 0, val);

	if (val < 0)
		snprintf(row->detail, sizeof(row->detail), "KVM_CHECK_EXTENSION failed: %s",
			 strerrorname_np(-val));
	else if (val == 0)
		snprintf(row->detail, sizeof(row->detail), "not offered by this kernel");
}

int probe_collect(struct probe_report *r, struct errmsg *e)
{
	const char *gmem_names[2] = { NULL };
	struct probe_row *row;
	struct kvm k;
	int vm_fd, ret, val;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	ret = kvm_open(&k, e);
	if (ret)
		return ret;
	row = add_row(r, "KVM API version", true, KVM_API_VERSION_EXPECTED);
	snprintf(row->detail, sizeof(row->detail), "%d", KVM_API_VERSION_EXPECTED);

	vm_fd = ioctl(k.sys_fd, KVM_CREATE_VM, KVM_X86_DEFAULT_VM);
	if (vm_fd < 0) {
		ret = -errno;
		kvm_close(&k);
		return errmsg_set(e, ret, "KVM_CREATE_VM failed: %s", strerror(-ret));
	}
	add_cap_row(r, vm_fd, "KVM_CAP_USER_MEMORY2", KVM_CAP_USER_MEMORY2);
	add_cap_row(r, vm_fd, "KVM_CAP_GUEST_MEMFD", KVM_CAP_GUEST_MEMFD);

	val = kvm_check_cap(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS);
	row = add_row(r, "KVM_CAP_GUEST_MEMFD_FLAGS", val > 0, val);
	for (i = 0; i < sizeof(gmem_flag_names) / sizeof(gmem_flag_names[0]); i++)
		gmem_names[__builtin_ctzll(gmem_flag_names[i].bit)] = gmem_flag_names[i].name;
	if (val > 0)
		decode_bits(row->detail, sizeof(row->detail), (uint64_t)val, gmem_names, 2);
	else
		snprintf(row->detail, sizeof(row->detail), "no mmap-able guest_memfd");

	add_cap_row(r, vm_fd, "KVM_CAP_PRE_FAULT_MEMORY", KVM_CAP_PRE_FAULT_MEMORY);
	add_cap_row(r, vm_fd, "KVM_CAP_MEMORY_ATTRIBUTES", KVM_CAP_MEMORY_ATTRIBUTES);
	add_cap_row(r, vm_fd, "KVM_CAP_MEMORY_FAULT_INFO", KVM_CAP_MEMORY_FAULT_INFO);

	val = kvm_check_cap(k.sys_fd, KVM_CAP_VM_TYPES);
	row = add_row(r, "KVM_CAP_VM_TYPES", val > 0, val);
	if (val > 0)
		decode_bits(row->detail, sizeof(row->detail), (uint64_t)val, vm_type_names,
			    sizeof(vm_type_names) / sizeof(vm_type_names[0]));
	else
		snprintf(row->detail, sizeof(row->detail), "default VM only (cap not offered)");

	add_cap_row(r, k.sys_fd, "KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP);
	add_cap_row(r, k.sys_fd, "KVM_CAP_PIT2", KVM_CAP_PIT2);
	add_cap_row(r, k.sys_fd, "KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT);
	add_cap_row(r, k.sys_fd, "KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS);
	close(vm_fd);
	kvm_close(&k);
	return 0;
}

void probe_print_table(const struct probe_report *r)
{
	unsigned int i;

	printf("%-28s %-9s %-8s %s\n", "feature", "supported", "value", "detail");
	for (i = 0; i < r->nr; i++) {
		const struct probe_row *row = &r->row[i];

		printf("%-28s %-9s %-8lld %s\n", row->feature, row->supported ? "yes" : "no",
		       (long long)row->value, row->detail);
	}
}

int probe_print_json(const struct probe_report *r)
{
	json_object *root = json_object_new_object(), *rows = json_object_new_array();
	unsigned int i;
	int ret = -ENOMEM;

	if (!root || !rows)
		goto out;
	for (i = 0; i < r->nr; i++) {
		const struct probe_row *row = &r->row[i];
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(rows, o)) {
			json_object_put(o);
			goto out;
		}
		json_object_object_add(o, "feature", json_object_new_string(row->feature));
		json_object_object_add(o, "supported", json_object_new_boolean(row->supported));
		json_object_object_add(o, "value", json_object_new_int64(row->value));
		json_object_object_add(o, "detail", json_object_new_string(row->detail));
	}
	json_object_object_add(root, "features", rows);
	rows = NULL;
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	ret = 0;
out:
	json_object_put(rows);
	json_object_put(root);
	return ret;
}
