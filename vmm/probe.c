// SPDX-License-Identifier: MIT
/*
 * `memvmm probe`: one row per feature (supported or not, raw value, detail),
 * printed as a table or as JSON. This file holds the rows read from what the
 * host declares (KVM capabilities, THP settings) and the output;
 * probe_trials.c finds the rest by trying it. VM-scoped capabilities are asked
 * on a scratch VM, as their answer can depend on the VM type.
 */
#include "vmm/probe.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/thp.h"
#include "vmm/kvm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MTHP_MAX_SIZES 32

static const char *const gmem_flag_names[] = {
	[0] = "MMAP",           /* GUEST_MEMFD_FLAG_MMAP */
	[1] = "INIT_SHARED",    /* GUEST_MEMFD_FLAG_INIT_SHARED */
};

static const char *const vm_type_names[] = {
	[KVM_X86_DEFAULT_VM] = "DEFAULT_VM",
	[KVM_X86_SW_PROTECTED_VM] = "SW_PROTECTED_VM",
	[2] = "SEV_VM",
	[3] = "SEV_ES_VM",
	[4] = "SNP_VM",
	[5] = "TDX_VM",
};

void probe_add(struct probe_report *r, const char *feature, bool supported, int64_t value,
	       const char *fmt, ...)
{
	struct probe_row *row;
	va_list ap;

	if (r->nr >= PROBE_MAX_ROWS) {
		r->dropped++;
		return;
	}
	row = &r->row[r->nr++];
	*row = (struct probe_row){ .feature = feature, .supported = supported, .value = value };
	va_start(ap, fmt);
	vsnprintf(row->detail, sizeof(row->detail), fmt, ap);
	va_end(ap);
}

const char *probe_errname(int err)
{
	static char unknown[24];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(unknown, sizeof(unknown), "errno %d", err);
	return unknown;
}

bool probe_err_inconclusive(int err)
{
	switch (err) {
	case EMFILE:    /* RLIMIT_NOFILE */
	case ENFILE:    /* the system's file table */
	case ENOMEM:    /* RLIMIT_AS, RLIMIT_MEMLOCK, a memory cgroup, the host */
	case EAGAIN:    /* RLIMIT_NPROC, locked memory, a busy resource */
		return true;
	default:
		return false;
	}
}

bool probe_trial_inconclusive(struct probe_report *r, const char *feature, const char *step,
			      int err)
{
	if (!probe_err_inconclusive(err))
		return false;
	if (!r->fail_err) {
		r->fail_err = err;
		r->fail_feature = feature;
		r->fail_step = step;
	}
	return true;
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

	if (val < 0 && probe_trial_inconclusive(r, name, "KVM_CHECK_EXTENSION", -val))
		return;
	if (val < 0)
		probe_add(r, name, false, val, "KVM_CHECK_EXTENSION failed: %s",
			  probe_errname(-val));
	else if (val == 0)
		probe_add(r, name, false, 0, "not offered by this kernel");
	else
		probe_add(r, name, true, val, "%s", "");
}

/* A capability whose value is a bitmask, decoded with names. */
static void add_mask_row(struct probe_report *r, int fd, const char *name, long cap,
			 const char *const *names, unsigned int nr_names, const char *if_none)
{
	char bits[PROBE_DETAIL_LEN];
	int val = kvm_check_cap(fd, cap);

	if (val < 0 && probe_trial_inconclusive(r, name, "KVM_CHECK_EXTENSION", -val))
		return;
	if (val <= 0) {
		probe_add(r, name, false, val, "%s", if_none);
		return;
	}
	decode_bits(bits, sizeof(bits), (uint64_t)val, names, nr_names);
	probe_add(r, name, true, val, "%s", bits);
}

static void add_cap_rows(struct probe_report *r, int sys_fd, int vm_fd)
{
	add_cap_row(r, vm_fd, "KVM_CAP_USER_MEMORY2", KVM_CAP_USER_MEMORY2);
	add_cap_row(r, vm_fd, "KVM_CAP_GUEST_MEMFD", KVM_CAP_GUEST_MEMFD);
	add_mask_row(r, vm_fd, "KVM_CAP_GUEST_MEMFD_FLAGS", KVM_CAP_GUEST_MEMFD_FLAGS,
		     gmem_flag_names, ARRAY_SIZE(gmem_flag_names), "no mmap-able guest_memfd");
	add_cap_row(r, vm_fd, "KVM_CAP_PRE_FAULT_MEMORY", KVM_CAP_PRE_FAULT_MEMORY);
	add_cap_row(r, vm_fd, "KVM_CAP_MEMORY_ATTRIBUTES", KVM_CAP_MEMORY_ATTRIBUTES);
	add_cap_row(r, vm_fd, "KVM_CAP_MEMORY_FAULT_INFO", KVM_CAP_MEMORY_FAULT_INFO);
	add_mask_row(r, sys_fd, "KVM_CAP_VM_TYPES", KVM_CAP_VM_TYPES, vm_type_names,
		     ARRAY_SIZE(vm_type_names), "default VM only (cap not offered)");
	add_cap_row(r, sys_fd, "KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP);
	add_cap_row(r, sys_fd, "KVM_CAP_PIT2", KVM_CAP_PIT2);
	add_cap_row(r, sys_fd, "KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT);
	add_cap_row(r, sys_fd, "KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS);
}

/*
 * Transparent huge pages: the host's settings (mem/thp.h) as rows; the trials
 * of what they give are in probe_trials.c.
 */

/* A settings row whose word is "" when its file does not exist. */
static void add_word_row(struct probe_report *r, const char *feature, const char *word,
			 const char *file)
{
	if (!word[0])
		probe_add(r, feature, false, 0, "no %s", file);
	else
		probe_add(r, feature, strcmp(word, "never") && strcmp(word, "deny"), 0, "%s", word);
}

/* The effective policy for 2 MiB pages: "inherit -> advise (enabled=madvise, ...)". */
static void add_policy_row(struct probe_report *r, const char *feature,
			   const struct mem_thp_host *h, enum mem_thp_kind kind,
			   const char *per_size)
{
	char setting[PROBE_DETAIL_LEN];
	enum mem_thp_policy p = mem_thp_policy(h, kind, setting, sizeof(setting));

	probe_add(r, feature, p != MEM_THP_POLICY_NEVER, p, "%s -> %s (%s)",
		  per_size[0] ? per_size : "no per-size file", mem_thp_policy_name(p), setting);
}

static const struct {
	const char *word, *meaning;
	bool stalls;   /* faults in MADV_HUGEPAGE regions (memvmm's RAM) compact directly */
} thp_defrag_words[] = {
	{ "always", "every THP fault stalls to reclaim and compact", true },
	{ "defer", "no fault stalls; kswapd/kcompactd compact in the background", false },
	{ "defer+madvise", "MADV_HUGEPAGE faults stall to compact, others defer", true },
	{ "madvise", "MADV_HUGEPAGE faults stall to compact, others do not", true },
	{ "never", "no fault stalls to compact: huge pages only from free 2 MiB blocks", false },
};

static void add_defrag_rows(struct probe_report *r, const struct mem_thp_host *h)
{
	unsigned int i, n = ARRAY_SIZE(thp_defrag_words);

	for (i = 0; i < n && strcmp(h->defrag, thp_defrag_words[i].word); i++)
		;
	if (!h->defrag[0])
		probe_add(r, "THP defrag", false, 0, "no defrag file");
	else if (i == n)
		probe_add(r, "THP defrag", false, 0, "%s (unknown word)", h->defrag);
	else
		probe_add(r, "THP defrag", thp_defrag_words[i].stalls, 0, "%s: %s", h->defrag,
			  thp_defrag_words[i].meaning);
	probe_add(r, "khugepaged defrag", h->khugepaged_defrag == 1, h->khugepaged_defrag, "%s",
		  h->khugepaged_defrag < 0 ? "no khugepaged/defrag file" :
		  h->khugepaged_defrag ? "khugepaged compacts to collapse pages into huge ones" :
		  "khugepaged collapses only into free 2 MiB blocks");
}

/* The settings rows in order; unreadable settings make each of them a no. */
static const char *const thp_setting_rows[] = {
	"THP (anon)", "THP (anon 2M)", "THP (shmem)", "THP (shmem 2M)",
	"THP defrag", "khugepaged defrag", "THP (this process)",
};

void probe_thp_settings(struct probe_report *r, const struct mem_thp_host *h, int err)
{
	unsigned int i;

	if (err) {
		for (i = 0; i < ARRAY_SIZE(thp_setting_rows); i++)
			probe_add(r, thp_setting_rows[i], false, 0, "THP settings: %s",
				  probe_errname(err));
		return;
	}
	if (h->present) {
		add_word_row(r, "THP (anon)", h->anon, "enabled file");
		add_policy_row(r, "THP (anon 2M)", h, MEM_THP_KIND_ANON, h->anon_2m);
		add_word_row(r, "THP (shmem)", h->shmem, "shmem_enabled file");
		add_policy_row(r, "THP (shmem 2M)", h, MEM_THP_KIND_SHMEM, h->shmem_2m);
		add_defrag_rows(r, h);
	} else {
		/* All but the last: whether this process disables THP. */
		for (i = 0; i + 1 < ARRAY_SIZE(thp_setting_rows); i++)
			probe_add(r, thp_setting_rows[i], false, 0,
				  "no " MEM_THP_SYSFS " (kernel without THP)");
	}
	if (h->process_except_advised)
		probe_add(r, "THP (this process)", true, 3, "disabled except where MADV_HUGEPAGE "
			  "asks (PR_THP_DISABLE_EXCEPT_ADVISED, from the parent), as memvmm's RAM does");
	else
		probe_add(r, "THP (this process)", !h->process_disabled, h->process_disabled, "%s",
			  h->process_disabled ? "disabled: prctl(PR_SET_THP_DISABLE), inherited from "
			  "the parent" : "not disabled (PR_GET_THP_DISABLE 0)");
}

struct mthp_size {
	unsigned long kib;
	char value[MEM_THP_WORD_BYTES];
};

static int mthp_cmp(const void *a, const void *b)
{
	const struct mthp_size *x = a, *y = b;

	return (x->kib > y->kib) - (x->kib < y->kib);
}

/* hugepages-<N>kB/enabled of every mTHP size, sorted by size. */
static __attribute__((warn_unused_result)) int
mthp_read(struct mthp_size *sizes, unsigned int max, unsigned int *nr)
{
	char path[512];
	struct dirent *d;
	unsigned long kib;
	DIR *dir = opendir(MEM_THP_SYSFS);
	int ret = 0;

	if (!dir)
		return -errno;
	*nr = 0;
	while ((d = readdir(dir)) && *nr < max) {
		if (sscanf(d->d_name, "hugepages-%lukB", &kib) != 1)
			continue;
		snprintf(path, sizeof(path), MEM_THP_SYSFS "/%s/enabled", d->d_name);
		ret = mem_thp_read_choice(path, sizes[*nr].value, sizeof(sizes[*nr].value));
		if (ret == -ENOENT) {   /* a size for files only (shmem/), no anon setting */
			ret = 0;
			continue;
		}
		if (ret)
			break;
		sizes[(*nr)++].kib = kib;
	}
	closedir(dir);
	qsort(sizes, *nr, sizeof(*sizes), mthp_cmp);
	return ret;
}

void probe_add_mthp_row(struct probe_report *r, const char *anon)
{
	struct mthp_size sizes[MTHP_MAX_SIZES];
	char list[PROBE_DETAIL_LEN] = "";
	unsigned int nr = 0, i, on = 0;
	size_t used = 0;
	int ret = mthp_read(sizes, MTHP_MAX_SIZES, &nr);

	if (ret && probe_trial_inconclusive(r, "mTHP sizes", MEM_THP_SYSFS "/hugepages-*kB",
					    -ret))
		return;
	if (ret) {
		probe_add(r, "mTHP sizes", false, 0, MEM_THP_SYSFS ": %s", probe_errname(-ret));
		return;
	}
	if (!nr) {
		probe_add(r, "mTHP sizes", false, 0, "no hugepages-*kB (kernel before 6.8?)");
		return;
	}
	for (i = 0; i < nr; i++) {
		if (!strcmp(sizes[i].value, "never"))
			continue;
		/* inherit follows THP (anon). */
		if (strcmp(sizes[i].value, "inherit") || (anon[0] && strcmp(anon, "never")))
			on++;
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%lukB:%s",
						 used ? " " : "", sizes[i].kib, sizes[i].value);
	}
	probe_add(r, "mTHP sizes", on > 0, on, "%s", used ? list : "none enabled");
}

int probe_collect(struct probe_report *r, struct errmsg *e)
{
	struct kvm k;
	int vm_fd, ret;

	memset(r, 0, sizeof(*r));
	ret = kvm_open(&k, e);
	if (ret)
		return ret;
	probe_add(r, "KVM API version", true, KVM_API_VERSION_EXPECTED, "%d",
		  KVM_API_VERSION_EXPECTED);

	vm_fd = ioctl(k.sys_fd, KVM_CREATE_VM, KVM_X86_DEFAULT_VM);
	if (vm_fd < 0) {
		ret = -errno;
		kvm_close(&k);
		return errmsg_set(e, ret, "KVM_CREATE_VM failed: %s (%s)", probe_errname(-ret),
				  strerror(-ret));
	}
	add_cap_rows(r, k.sys_fd, vm_fd);
	close(vm_fd);

	probe_collect_trials(r, k.sys_fd);
	kvm_close(&k);
	if (r->fail_err)
		return errmsg_set(e, -r->fail_err,
				  "the trial for '%s' failed at %s with %s (%s), which says "
				  "nothing about this host's features; no table, as it would not "
				  "be true (raise the limit, e.g. `ulimit -n`, or free memory, and "
				  "retry)", r->fail_feature, r->fail_step,
				  probe_errname(r->fail_err), strerror(r->fail_err));
	if (r->dropped)
		return errmsg_set(e, -ENOSPC, "internal error: %u rows beyond PROBE_MAX_ROWS (%d)",
				  r->dropped, PROBE_MAX_ROWS);
	return 0;
}

void probe_print_table(const struct probe_report *r)
{
	int width = (int)strlen("feature");
	unsigned int i;

	for (i = 0; i < r->nr; i++) {
		int len = (int)strlen(r->row[i].feature);

		if (len > width)
			width = len;
	}
	printf("%-*s %-9s %-8s %s\n", width, "feature", "supported", "value", "detail");
	for (i = 0; i < r->nr; i++) {
		const struct probe_row *row = &r->row[i];

		printf("%-*s %-9s %-8lld %s\n", width, row->feature,
		       row->supported ? "yes" : "no", (long long)row->value, row->detail);
	}
}

int probe_print_json(const struct probe_report *r)
{
	json_object *root = json_object_new_object(), *rows = json_object_new_array();
	const char *text;
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
		if (json_object_object_add(o, "feature", json_object_new_string(row->feature)) ||
		    json_object_object_add(o, "supported",
					   json_object_new_boolean(row->supported)) ||
		    json_object_object_add(o, "value", json_object_new_int64(row->value)) ||
		    json_object_object_add(o, "detail", json_object_new_string(row->detail)))
			goto out;
	}
	if (json_object_object_add(root, "features", rows))
		goto out;
	rows = NULL;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		goto out;
	printf("%s\n", text);
	ret = 0;
out:
	json_object_put(rows);
	json_object_put(root);
	return ret;
}
