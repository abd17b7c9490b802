// SPDX-License-Identifier: MIT
/*
 * The control socket's memory commands: balloon (the target), pageout
 * (host-side reclaim with MADV_PAGEOUT), and status's "balloon" object.
 * They run on the main loop's thread: a pageout of a large guest keeps the
 * loop (and device queues served there) busy while it runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_balloon.h>

#include "devices/pci.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_pci.h"
#include "mem/pageout.h"
#include "vmm/cli.h"
#include "vmm/options.h"
#include "vmm/vm_control_int.h"

const char *const vm_balloon_keys[] = { "size", NULL };
const char *const vm_pageout_keys[] = { "gpa", "len", NULL };

/* {"stats_vq": bool, "deflate_on_oom": bool, "free_page_reporting": bool} of features. */
static struct json_object *vm_balloon_features(uint64_t f)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "stats_vq",
			       json_object_new_boolean(f >> VIRTIO_BALLOON_F_STATS_VQ & 1));
	json_object_object_add(o, "deflate_on_oom",
			       json_object_new_boolean(f >> VIRTIO_BALLOON_F_DEFLATE_ON_OOM & 1));
	json_object_object_add(o, "free_page_reporting",
			       json_object_new_boolean(f >> VIRTIO_BALLOON_F_REPORTING & 1));
	return o;
}

/* The guest's latest statistics by name; tags it never sent are absent. */
static struct json_object *vm_balloon_stats(const struct balloon_status *st)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	for (unsigned int t = 0; t < BALLOON_STATS_NR; t++)
		if (st->stats_valid >> t & 1)
			vm_json_add_u64(o, virtio_balloon_stat_name(t), st->stat[t]);
	return o;
}

struct json_object *vm_balloon_json(const struct vm *vm)
{
	struct virtio_pci *vp = virtio_balloon_transport(vm->balloon);
	struct json_object *o = json_object_new_object();
	struct virtio_pci_stats ps;
	struct balloon_status st;

	if (!o)
		return NULL;
	virtio_balloon_get_status(vm->balloon, &st);
	virtio_pci_lock(vp);
	virtio_pci_stats(vp, &ps);
	virtio_pci_unlock(vp);
	vm_json_add_u64(o, "pci_slot", pci_dev_slot(virtio_pci_pci_dev(vp)));
	vm_json_add_u64(o, "target", st.target);
	vm_json_add_u64(o, "configured_target", st.configured_target);
	vm_json_add_u64(o, "actual", st.actual);
	vm_json_add_u64(o, "inflated", st.inflated);
	vm_json_add_u64(o, "given_back", st.given_back);
	vm_json_add_u64(o, "inflated_total", st.inflated_total);
	vm_json_add_u64(o, "deflated_total", st.deflated_total);
	vm_json_add_u64(o, "reported", st.reported);
	vm_json_add_u64(o, "reports", st.reports);
	vm_json_add_u64(o, "repopulated", st.repopulated);
	vm_json_add_u64(o, "discards", st.discards);
	vm_json_add_u64(o, "discard_errors", st.discard_errors);
	vm_json_add_u64(o, "populate_errors", st.populate_errors);
	json_object_object_add(o, "last_discard_err", vm_json_errno(st.last_discard_err));
	json_object_object_add(o, "last_populate_err", vm_json_errno(st.last_populate_err));
	json_object_object_add(o, "discard_ms", json_object_new_double(vm_ns_to_ms(st.discard_ns)));
	json_object_object_add(o, "populate_ms",
			       json_object_new_double(vm_ns_to_ms(st.populate_ns)));
	vm_json_add_u64(o, "bad_pfns", st.bad_pfns);
	vm_json_add_u64(o, "hotplug_pfns", st.hotplug_pfns);
	vm_json_add_u64(o, "dup_pfns", st.dup_pfns);
	vm_json_add_u64(o, "ignored_notifies", st.ignored_notifies);
	json_object_object_add(o, "offered", vm_balloon_features(st.offered));
	json_object_object_add(o, "negotiated", vm_balloon_features(st.features));
	json_object_object_add(o, "stats", vm_balloon_stats(&st));
	vm_json_add_u64(o, "stats_updates", st.stats_updates);
	vm_json_add_u64(o, "stats_unknown", st.stats_unknown);
	if (st.stats_updates)
		json_object_object_add(o, "stats_age_s",
				       json_object_new_double((double)st.stats_age_ns / 1e9));
	vm_json_add_u64(o, "stats_interval_s", st.stats_interval_s);
	vm_json_add_u64(o, "driver_status", st.driver_status);
	json_object_object_add(o, "needs_reset", json_object_new_boolean(st.needs_reset));
	vm_json_add_u64(o, "violations", ps.violations);
	json_object_object_add(o, "last_violation", st.last_violation ?
			       json_object_new_string(st.last_violation) : NULL);
	vm_json_add_u64(o, "notifies", ps.notifies);
	vm_json_add_u64(o, "interrupts", ps.interrupts);
	return o;
}

/*
 * balloon size=SIZE: the balloon's new target. The reply has the previous
 * and new target and what the balloon holds now (the guest follows at its
 * pace).
 */
int vm_cmd_balloon(void *opaque, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct balloon_status st;
	struct json_object *arg;
	uint64_t bytes = 0;
	const char *val;
	int ret;

	if (!vm->balloon) {
		snprintf(err, errlen, "no balloon device (memvmm run --balloon ...)");
		return -ENODEV;
	}
	if (!json_object_object_get_ex(req, "size", &arg)) {
		snprintf(err, errlen, "size=SIZE is missing");
		return -EINVAL;
	}
	val = json_object_get_string(arg);
	ret = options_parse_size(val, &bytes);
	if (ret) {
		snprintf(err, errlen, "%s size '%s' (use e.g. 512M, 1G)",
			 ret == -ERANGE ? "too large:" : "invalid", CLI_ECHO(val));
		return -EINVAL;
	}
	if (bytes % BALLOON_PAGE_BYTES) {
		snprintf(err, errlen, "size '%s' is not a multiple of 4K", CLI_ECHO(val));
		return -EINVAL;
	}
	if (bytes > vm->mem.ram_size) {
		snprintf(err, errlen, "size '%s' is more than RAM (%lluM)", CLI_ECHO(val),
			 (unsigned long long)(vm->mem.ram_size >> 20));
		return -EINVAL;
	}
	virtio_balloon_get_status(vm->balloon, &st);
	ret = virtio_balloon_set_target(vm->balloon, bytes);
	if (ret) {
		snprintf(err, errlen, "size '%s': %s", CLI_ECHO(val), strerror(-ret));
		return ret;
	}
	vm_json_add_u64(reply, "previous", st.target);
	virtio_balloon_get_status(vm->balloon, &st);
	vm_json_add_u64(reply, "target", st.target);
	vm_json_add_u64(reply, "actual", st.actual);
	vm_json_add_u64(reply, "inflated", st.inflated);
	vm_json_add_u64(reply, "given_back", st.given_back);
	return 0;
}

/* ---- pageout ---- */

/* gpa=ADDR: 0x-prefixed hex, or a size (decimal with a K/M/G/T suffix). */
static int vm_parse_gpa(const char *val, uint64_t *out)
{
	char *end;

	if (val[0] == '0' && (val[1] == 'x' || val[1] == 'X')) {
		if (!val[2] || val[2] == '-' || val[2] == '+')
			return -EINVAL;
		errno = 0;
		*out = strtoull(val + 2, &end, 16);
		return errno || *end ? -EINVAL : 0;
	}
	return options_parse_size(val, out);
}

/* A key's string value, or NULL when absent. */
static const char *vm_arg(struct json_object *req, const char *key)
{
	struct json_object *arg;

	return json_object_object_get_ex(req, key, &arg) ? json_object_get_string(arg) : NULL;
}

static void vm_pageout_add(struct mem_pageout_result *sum, const struct mem_pageout_result *r)
{
	sum->bytes += r->bytes;
	sum->ns += r->ns;
	if (r->passes > sum->passes)
		sum->passes = r->passes;
	sum->before.resident += r->before.resident;
	sum->before.mapped += r->before.mapped;
	sum->before.swapped += r->before.swapped;
	sum->after.resident += r->after.resident;
	sum->after.mapped += r->after.mapped;
	sum->after.swapped += r->after.swapped;
}

/* Refusal text: the reason, and which region when it is the backend's. */
static int vm_pageout_refuse(const struct vm *vm, int ret, const char *why, unsigned int region,
			     char *err, size_t errlen)
{
	if (ret == -EOPNOTSUPP && region < vm->mem.nr_regions)
		snprintf(err, errlen, "pageout refused: region %u (%s, %s): %s", region,
			 mem_role_name(vm->mem.region[region].role),
			 vm->mem.region[region].ops->name, why);
	else
		snprintf(err, errlen, "pageout refused: %s", why ? why : strerror(-ret));
	return ret;
}

/* Every region in use, one after another; all are checked before any is paged out. */
static int vm_pageout_all(struct vm *vm, struct mem_pageout_result *sum, char *err,
			  size_t errlen)
{
	const char *why = NULL;
	unsigned int bad = UINT32_MAX;
	int ret;

	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];

		if (!mem_region_in_use(r))
			continue;
		ret = mem_pageout_check(&vm->mem, r->gpa, r->size, &why, &bad);
		if (ret)
			return vm_pageout_refuse(vm, ret, why, bad, err, errlen);
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		struct mem_pageout_result one = { 0 };

		if (!mem_region_in_use(r))
			continue;
		ret = mem_pageout(&vm->mem, r->gpa, r->size, &one, &why);
		if (ret)
			return vm_pageout_refuse(vm, ret, why, bad, err, errlen);
		vm_pageout_add(sum, &one);
	}
	return 0;
}

/*
 * pageout [gpa=ADDR len=SIZE]: MADV_PAGEOUT over that range of guest
 * memory (inside RAM, page aligned; it may cross regions) or over every
 * region, with the meters before and after (mem/pageout.h says what each
 * one counts).
 */
int vm_cmd_pageout(void *opaque, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen)
{
	struct vm *vm = opaque;
	const char *gpa_s = vm_arg(req, "gpa"), *len_s = vm_arg(req, "len"), *why = NULL;
	struct mem_pageout_result res = { 0 };
	struct mem_swap_info si = { 0 };
	unsigned int bad = UINT32_MAX;
	uint64_t gpa = 0, len = 0;
	int ret;

	if (!gpa_s != !len_s) {
		snprintf(err, errlen, "give both gpa=ADDR and len=SIZE, or neither (all memory)");
		return -EINVAL;
	}
	if (gpa_s && vm_parse_gpa(gpa_s, &gpa)) {
		snprintf(err, errlen, "invalid gpa '%s' (use e.g. 0x100000 or 1M)", CLI_ECHO(gpa_s));
		return -EINVAL;
	}
	if (len_s && (options_parse_size(len_s, &len) || !len)) {
		snprintf(err, errlen, "invalid len '%s' (use e.g. 64M)", CLI_ECHO(len_s));
		return -EINVAL;
	}
	if (gpa_s) {
		ret = mem_pageout_check(&vm->mem, gpa, len, &why, &bad);
		if (ret == -EINVAL) {
			snprintf(err, errlen, "gpa '%s' len '%s' is not a page-aligned range of guest "
				 "memory", CLI_ECHO(gpa_s), CLI_ECHO(len_s));
			return ret;
		}
		if (ret)
			return vm_pageout_refuse(vm, ret, why, bad, err, errlen);
		ret = mem_pageout(&vm->mem, gpa, len, &res, &why);
		if (ret)
			return vm_pageout_refuse(vm, ret, why, bad, err, errlen);
	} else {
		ret = vm_pageout_all(vm, &res, err, errlen);
		if (ret)
			return ret;
	}
	vm_json_add_u64(reply, "bytes", res.bytes);
	json_object_object_add(reply, "ms", json_object_new_double(vm_ns_to_ms(res.ns)));
	vm_json_add_u64(reply, "passes", res.passes);
	vm_json_add_u64(reply, "resident_before", res.before.resident);
	vm_json_add_u64(reply, "resident_after", res.after.resident);
	vm_json_add_u64(reply, "mapped_before", res.before.mapped);
	vm_json_add_u64(reply, "mapped_after", res.after.mapped);
	vm_json_add_u64(reply, "swapped_before", res.before.swapped);
	vm_json_add_u64(reply, "swapped_after", res.after.swapped);
	if (mem_swap_read(&si) == 0) {
		vm_json_add_u64(reply, "swap_devices", si.devices);
		vm_json_add_u64(reply, "swap_used", si.used_bytes);
	}
	return 0;
}

/* ---- snapshot ------------------------------------------------------------ */

const char *const vm_snapshot_keys[] = { "dir", "parent", "stop", "verify", NULL };

/* key=on|off (absent: off) into *out; -EINVAL naming the value. */
static int vm_on_off(struct json_object *req, const char *key, bool *out, char *err,
		     size_t errlen)
{
	const char *val = vm_arg(req, key);

	*out = false;
	if (!val || !strcmp(val, "off"))
		return 0;
	if (!strcmp(val, "on")) {
		*out = true;
		return 0;
	}
	snprintf(err, errlen, "%s '%s' is not on or off", key, CLI_ECHO(val));
	return -EINVAL;
}

int vm_cmd_snapshot(void *opaque, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct snapshot_req sr = { .dir = vm_arg(req, "dir"), .parent = vm_arg(req, "parent") };
	struct snapshot_result *res;
	struct json_object *regions;
	struct errmsg e = { 0 };
	int ret;

	if (!sr.dir) {
		snprintf(err, errlen, "dir=DIR is missing (a new directory to write)");
		return -EINVAL;
	}
	ret = vm_on_off(req, "stop", &sr.stop, err, errlen);
	if (!ret)
		ret = vm_on_off(req, "verify", &sr.verify, err, errlen);
	if (ret)
		return ret;
	res = calloc(1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	ret = vm_snapshot(vm, &sr, res, &e);
	if (ret) {
		snprintf(err, errlen, "%s", e.text);
		free(res);
		return ret;
	}
	json_object_object_add(reply, "dir", json_object_new_string(res->dir));
	{
		char id[20];

		snprintf(id, sizeof(id), "%016" PRIx64, res->id);
		json_object_object_add(reply, "id", json_object_new_string(id));
	}
	json_object_object_add(reply, "diff", json_object_new_boolean(sr.parent != NULL));
	vm_json_add_u64(reply, "bytes", res->bytes);
	vm_json_add_u64(reply, "state_bytes", res->state_bytes);
	json_object_object_add(reply, "ms", json_object_new_double(vm_ns_to_ms(res->total_ns)));
	json_object_object_add(reply, "paused_ms",
			       json_object_new_double(vm_ns_to_ms(res->pause_ns)));
	vm_json_add_u64(reply, "pending_pages", res->pending_pages);
	json_object_object_add(reply, "stopping", json_object_new_boolean(sr.stop));
	regions = json_object_new_array();
	for (unsigned int i = 0; regions && i < res->nr_regions; i++) {
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		vm_json_add_u64(o, "index", res->region[i].index);
		vm_json_add_u64(o, "data_bytes", res->region[i].data_bytes);
		if (sr.parent)
			vm_json_add_u64(o, "dirty_pages", res->region[i].dirty_pages);
		json_object_array_add(regions, o);
	}
	if (regions)
		json_object_object_add(reply, "regions", regions);
	free(res);
	return 0;
}
