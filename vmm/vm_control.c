// SPDX-License-Identifier: MIT
/*
 * The control socket's commands: status, pause, resume, quit, virtio-mem
 * (balloon and pageout: vm_control_mem.c). They run on the main loop's
 * thread (see vmm/control.h for the protocol).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "devices/pci.h"
#include "devices/virtio_mem.h"
#include "devices/virtio_pci.h"
#include "vmm/cli.h"
#include "vmm/options.h"
#include "vmm/vm.h"
#include "vmm/vm_control_int.h"

void vm_json_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}


/* What population did to the region at gpa, if it did anything. */
static const struct mem_populate_region_report *vm_region_report(const struct vm *vm,
								 uint64_t gpa)
{
	for (unsigned int i = 0; i < vm->populate.nr && i < MEM_MAX_REGIONS; i++)
		if (vm->populate.region[i].gpa == gpa)
			return &vm->populate.region[i];
	return NULL;
}

/*
 * One region's object. known (may be NULL): its resident bytes, measured
 * already (the virtio-mem region: a walk of it takes seconds when large).
 */
static struct json_object *vm_region_json(const struct vm *vm, unsigned int i,
					  const uint64_t *huge, const uint64_t *known)
{
	const struct mem_region *r = &vm->mem.region[i];
	const struct mem_populate_region_report *rr = vm_region_report(vm, r->gpa);
	struct json_object *o = json_object_new_object();
	uint64_t resident = 0;

	if (!o)
		return NULL;
	vm_json_add_u64(o, "index", i);
	json_object_object_add(o, "role", json_object_new_string(mem_role_name(r->role)));
	json_object_object_add(o, "backend", json_object_new_string(r->ops->name));
	vm_json_add_u64(o, "gpa", r->gpa);
	vm_json_add_u64(o, "size", r->size);
	vm_json_add_u64(o, "slot", r->slot);
	if (known)
		vm_json_add_u64(o, "resident", *known);
	else if (mem_resident(&vm->mem, r->gpa, r->size, &resident) == 0)
		vm_json_add_u64(o, "resident", resident);
	if (huge)
		vm_json_add_u64(o, "huge_bytes", huge[i]);
	if (rr) {
		json_object_object_add(o, "populate",
				       json_object_new_string(mem_populate_name(rr->used)));
		vm_json_add_u64(o, "populate_threads", rr->threads);
		json_object_object_add(o, "populate_ms", json_object_new_double((double)rr->ns / 1e6));
		if (rr->why[0])
			json_object_object_add(o, "populate_note", json_object_new_string(rr->why));
	}
	return o;
}

double vm_ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}


struct json_object *vm_json_errno(int err)
{
	const char *name = err ? strerrorname_np(-err) : NULL;

	return err ? json_object_new_string(name ? name : "?") : NULL;
}

/*
 * The virtio-mem device as its status says, its transport's counters, the
 * region's backend; *st gets the status (its resident measured once here).
 */
static struct json_object *vm_vmem_json(const struct vm *vm, struct vmem_status *out)
{
	const struct mem_region *r = &vm->mem.region[vm->vmem_region];
	struct virtio_pci *vp = virtio_mem_transport(vm->vmem);
	struct json_object *o = json_object_new_object();
	struct virtio_pci_stats ps;
	struct vmem_status st;

	if (!o)
		return NULL;
	virtio_mem_get_status(vm->vmem, &st);
	*out = st;
	virtio_pci_lock(vp);
	virtio_pci_stats(vp, &ps);
	virtio_pci_unlock(vp);
	vm_json_add_u64(o, "region", vm->vmem_region);
	vm_json_add_u64(o, "pci_slot", pci_dev_slot(virtio_pci_pci_dev(vp)));
	json_object_object_add(o, "backend", json_object_new_string(r->ops->name));
	vm_json_add_u64(o, "gpa", st.gpa);
	vm_json_add_u64(o, "region_size", st.region_size);
	vm_json_add_u64(o, "block_size", st.block_size);
	vm_json_add_u64(o, "requested", st.requested);
	vm_json_add_u64(o, "plugged", st.plugged);
	vm_json_add_u64(o, "usable", st.usable);
	if (st.resident_err)
		json_object_object_add(o, "resident_error", vm_json_errno(st.resident_err));
	else
		vm_json_add_u64(o, "resident", st.resident);
	vm_json_add_u64(o, "plugs", st.plugs);
	vm_json_add_u64(o, "unplugs", st.unplugs);
	vm_json_add_u64(o, "unplug_alls", st.unplug_alls);
	vm_json_add_u64(o, "states", st.states);
	vm_json_add_u64(o, "nacks", st.nacks);
	vm_json_add_u64(o, "errors", st.errors);
	vm_json_add_u64(o, "unanswered", st.unanswered);
	json_object_object_add(o, "last_nack_err", vm_json_errno(st.last_nack_err));
	json_object_object_add(o, "last_discard_err", vm_json_errno(st.last_discard_err));
	vm_json_add_u64(o, "driver_status", st.driver_status);
	json_object_object_add(o, "needs_reset", json_object_new_boolean(st.needs_reset));
	vm_json_add_u64(o, "violations", ps.violations);
	json_object_object_add(o, "last_violation", st.last_violation ?
			       json_object_new_string(st.last_violation) : NULL);
	json_object_object_add(o, "populate",
			       json_object_new_string(mem_populate_name(vm->vmem_populate)));
	json_object_object_add(o, "populate_used",
			       json_object_new_string(st.populate_used == MEM_POPULATE_AUTO ? "" :
						      mem_populate_name(st.populate_used)));
	json_object_object_add(o, "plug_ms", json_object_new_double(vm_ns_to_ms(st.plug_ns)));
	json_object_object_add(o, "unplug_ms", json_object_new_double(vm_ns_to_ms(st.unplug_ns)));
	vm_json_add_u64(o, "notifies", ps.notifies);
	vm_json_add_u64(o, "trapped_notifies", ps.trapped_notifies);
	vm_json_add_u64(o, "interrupts", ps.interrupts);
	vm_json_add_u64(o, "interrupt_errors", ps.interrupt_errors);
	json_object_object_add(o, "thp", json_object_new_string(vm->vmem_thp.why));
	return o;
}

/*
 * "snapshot": the epoch diffs are taken against and whether dirty pages are
 * tracked; "restore" (a restored VM): the mode, and per lazy region its
 * progress.
 */
static int vm_snapshot_json(const struct vm *vm, struct json_object *reply)
{
	const struct restore_info *ri = &vm->restore;
	struct json_object *snap = json_object_new_object(), *res, *lazy;
	char id[20];

	if (!snap)
		return -ENOMEM;
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)vm->snap_epoch);
	json_object_object_add(snap, "parent_for_diffs", vm->snap_epoch ?
			       json_object_new_string(id) : NULL);
	json_object_object_add(snap, "dirty_tracking", json_object_new_boolean(vm->snap_dirty));
	json_object_object_add(reply, "snapshot", snap);
	if (!vm->restore_chain)
		return 0;
	res = json_object_new_object();
	lazy = json_object_new_array();
	if (!res || !lazy) {
		json_object_put(res);
		json_object_put(lazy);
		return -ENOMEM;
	}
	json_object_object_add(res, "mode", json_object_new_string(restore_mode_name(ri->used)));
	json_object_object_add(res, "requested",
			       json_object_new_string(restore_mode_name(ri->requested)));
	json_object_object_add(res, "why", json_object_new_string(ri->why));
	vm_json_add_u64(res, "layers", vm->restore_chain->nr);
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		struct json_object *o;
		struct mem_lazy_report rep;

		if (!ri->lazy_region[i])
			continue;
		o = json_object_new_object();
		if (!o)
			break;
		mem_lazy_get_report(ri->lazy_region[i], &rep);
		vm_json_add_u64(o, "region", i);
		vm_json_add_u64(o, "faults", rep.faults);
		vm_json_add_u64(o, "fault_pages", rep.fault_pages);
		vm_json_add_u64(o, "background_pages", rep.background_pages);
		json_object_object_add(o, "done", json_object_new_boolean(rep.done));
		json_object_object_add(o, "error", vm_json_errno(rep.err));
		json_object_array_add(lazy, o);
	}
	json_object_object_add(res, "lazy", lazy);
	json_object_object_add(reply, "restore", res);
	return 0;
}

static int vm_cmd_status(void *opaque, struct json_object *req, struct json_object *reply,
			 char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *mem, *regions, *thp, *vmem = NULL, *balloon = NULL;
	uint64_t huge[MEM_MAX_REGIONS];
	int huge_err = mem_huge_bytes(&vm->mem, huge);
	struct vmem_status st;

	json_object_object_add(reply, "state", json_object_new_string(runstate_name(vm_state(vm))));
	json_object_object_add(reply, "uptime_s",
			       json_object_new_double((double)(vm_now_ns() - vm->start_ns) / 1e9));
	vm_json_add_u64(reply, "vcpus", vm->nr_vcpus);
	vm_json_add_u64(reply, "pauses", vm->rs.pauses);
	mem = json_object_new_object();
	regions = json_object_new_array();
	thp = json_object_new_object();
	if (!mem || !regions || !thp) {
		json_object_put(mem);
		json_object_put(regions);
		json_object_put(thp);
		return -ENOMEM;
	}
	json_object_object_add(thp, "mode", json_object_new_string(mem_thp_mode_name(vm->thp_mode)));
	json_object_object_add(thp, "huge", json_object_new_boolean(vm->thp.huge));
	json_object_object_add(thp, "detail", json_object_new_string(vm->thp.why));
	if (huge_err)
		json_object_object_add(thp, "measure_error",
				       json_object_new_string(strerror(-huge_err)));
	vm_json_add_u64(mem, "ram_bytes", vm->mem.ram_size);
	json_object_object_add(mem, "backend", json_object_new_string(vm->mem.ops->name));
	json_object_object_add(mem, "populate_ms",
			       json_object_new_double((double)vm->populate_ns / 1e6));
	if (vm->prefault.used) {
		vm_json_add_u64(mem, "prefault_bytes", vm->prefault.bytes);
		json_object_object_add(mem, "prefault_ms",
				       json_object_new_double((double)vm->prefault.ns / 1e6));
	} else {
		json_object_object_add(mem, "prefault", json_object_new_string(vm->prefault_note));
	}
	if (vm->vmem) {
		vmem = vm_vmem_json(vm, &st);
		if (!vmem) {
			json_object_put(mem);
			json_object_put(regions);
			json_object_put(thp);
			return -ENOMEM;
		}
	}
	/* The hotplug region's resident was measured for virtio_mem: not twice. */
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++)
		if (mem_region_in_use(&vm->mem.region[i]))
			json_object_array_add(regions, vm_region_json(vm, i, huge_err ? NULL : huge,
				vmem && i == vm->vmem_region && !st.resident_err ? &st.resident : NULL));
	json_object_object_add(mem, "thp", thp);
	json_object_object_add(mem, "regions", regions);
	json_object_object_add(reply, "memory", mem);
	if (vmem)
		json_object_object_add(reply, "virtio_mem", vmem);
	if (vm->balloon) {
		balloon = vm_balloon_json(vm);
		if (!balloon)
			return -ENOMEM;
		json_object_object_add(reply, "balloon", balloon);
	}
	return vm_snapshot_json(vm, reply);
}

static int vm_cmd_pause(void *opaque, struct json_object *req, struct json_object *reply,
			char *err, size_t errlen)
{
	struct vm *vm = opaque;
	uint64_t t0 = vm_now_ns();
	int ret = vm_pause(vm);

	if (ret == -EALREADY) {
		snprintf(err, errlen, "already paused");
		return ret;
	}
	if (ret == -EINVAL) {
		snprintf(err, errlen, "the VM is %s", runstate_name(vm_state(vm)));
		return ret;
	}
	if (ret)
		return ret;
	json_object_object_add(reply, "state", json_object_new_string("paused"));
	json_object_object_add(reply, "pause_us",
			       json_object_new_double((double)(vm_now_ns() - t0) / 1e3));
	return 0;
}

static int vm_cmd_resume(void *opaque, struct json_object *req, struct json_object *reply,
			 char *err, size_t errlen)
{
	struct vm *vm = opaque;
	int ret = vm_resume(vm);

	if (ret == -EINVAL) {
		snprintf(err, errlen, "the VM is %s, not paused", runstate_name(vm_state(vm)));
		return ret;
	}
	if (ret)
		return ret;
	json_object_object_add(reply, "state", json_object_new_string("running"));
	return 0;
}

static int vm_cmd_quit(void *opaque, struct json_object *req, struct json_object *reply,
		       char *err, size_t errlen)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, VM_STOP_QUIT, 0);
	json_object_object_add(reply, "state", json_object_new_string("stopping"));
	return 0;
}

/*
 * virtio-mem requested=SIZE (the command line's size syntax): ask the
 * guest to plug or unplug until SIZE is plugged. The reply has the new
 * requested size and what is plugged now (the guest follows at its pace).
 */
static int vm_cmd_virtio_mem(void *opaque, struct json_object *req, struct json_object *reply,
			     char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *arg;
	struct vmem_status st;
	uint64_t bytes = 0;
	const char *val;
	int ret;

	if (!vm->vmem) {
		snprintf(err, errlen, "no virtio-mem device (memvmm run --virtio-mem size=...)");
		return -ENODEV;
	}
	if (!json_object_object_get_ex(req, "requested", &arg)) {
		snprintf(err, errlen, "requested=SIZE is missing");
		return -EINVAL;
	}
	val = json_object_get_string(arg);
	ret = options_parse_size(val, &bytes);
	if (ret) {
		snprintf(err, errlen, "%s requested '%s' (use e.g. 512M, 2G)",
			 ret == -ERANGE ? "too large:" : "invalid", CLI_ECHO(val));
		return -EINVAL;
	}
	/* Sizes only: measuring the region's resident memory takes seconds when it is large. */
	virtio_mem_get_sizes(vm->vmem, &st);
	if (bytes > st.region_size) {
		snprintf(err, errlen, "requested '%s' is more than the region's %lluM", CLI_ECHO(val),
			 (unsigned long long)(st.region_size >> 20));
		return -EINVAL;
	}
	if (bytes % st.block_size) {
		snprintf(err, errlen, "requested '%s' is not a multiple of the block size %lluK",
			 CLI_ECHO(val), (unsigned long long)(st.block_size >> 10));
		return -EINVAL;
	}
	ret = virtio_mem_set_requested(vm->vmem, bytes);
	if (ret) {
		snprintf(err, errlen, "requested '%s': %s", CLI_ECHO(val), strerror(-ret));
		return ret;
	}
	vm_json_add_u64(reply, "previous", st.requested);
	virtio_mem_get_sizes(vm->vmem, &st);
	vm_json_add_u64(reply, "requested", st.requested);
	vm_json_add_u64(reply, "plugged", st.plugged);
	vm_json_add_u64(reply, "usable", st.usable);
	return 0;
}

static const char *const vm_vmem_keys[] = { "requested", NULL };

const struct control_command vm_control_commands[] = {
	{ .name = "status", .fn = vm_cmd_status },
	{ .name = "pause", .fn = vm_cmd_pause },
	{ .name = "resume", .fn = vm_cmd_resume },
	{ .name = "quit", .fn = vm_cmd_quit },
	{ .name = "virtio-mem", .keys = vm_vmem_keys, .fn = vm_cmd_virtio_mem },
	{ .name = "balloon", .keys = vm_balloon_keys, .fn = vm_cmd_balloon },
	{ .name = "pageout", .keys = vm_pageout_keys, .fn = vm_cmd_pageout },
	{ .name = "snapshot", .keys = vm_snapshot_keys, .fn = vm_cmd_snapshot },
};
const unsigned int vm_nr_control_commands =
	sizeof(vm_control_commands) / sizeof(vm_control_commands[0]);
