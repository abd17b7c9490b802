// SPDX-License-Identifier: MIT
/*
 * The control socket's commands: status, pause, resume, quit. They run on
 * the main loop's thread (see vmm/control.h for the protocol).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vm.h"

static void add_u64(struct json_object *o, const char *key, uint64_t v)
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

static struct json_object *vm_region_json(const struct vm *vm, unsigned int i,
					  const uint64_t *huge)
{
	const struct mem_region *r = &vm->mem.region[i];
	const struct mem_populate_region_report *rr = vm_region_report(vm, r->gpa);
	struct json_object *o = json_object_new_object();
	uint64_t resident = 0;

	if (!o)
		return NULL;
	add_u64(o, "index", i);
	json_object_object_add(o, "role", json_object_new_string(mem_role_name(r->role)));
	json_object_object_add(o, "backend", json_object_new_string(r->ops->name));
	add_u64(o, "gpa", r->gpa);
	add_u64(o, "size", r->size);
	add_u64(o, "slot", r->slot);
	if (mem_resident(&vm->mem, r->gpa, r->size, &resident) == 0)
		add_u64(o, "resident", resident);
	if (huge)
		add_u64(o, "huge_bytes", huge[i]);
	if (rr) {
		json_object_object_add(o, "populate",
				       json_object_new_string(mem_populate_name(rr->used)));
		add_u64(o, "populate_threads", rr->threads);
		json_object_object_add(o, "populate_ms", json_object_new_double((double)rr->ns / 1e6));
		if (rr->why[0])
			json_object_object_add(o, "populate_note", json_object_new_string(rr->why));
	}
	return o;
}

static int vm_cmd_status(void *opaque, struct json_object *req, struct json_object *reply,
			 char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *mem, *regions, *thp;
	uint64_t huge[MEM_MAX_REGIONS];
	int huge_err = mem_huge_bytes(&vm->mem, huge);

	json_object_object_add(reply, "state", json_object_new_string(runstate_name(vm_state(vm))));
	json_object_object_add(reply, "uptime_s",
			       json_object_new_double((double)(vm_now_ns() - vm->start_ns) / 1e9));
	add_u64(reply, "vcpus", vm->nr_vcpus);
	add_u64(reply, "pauses", vm->rs.pauses);
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
	add_u64(mem, "ram_bytes", vm->mem.ram_size);
	json_object_object_add(mem, "backend", json_object_new_string(vm->mem.ops->name));
	json_object_object_add(mem, "populate_ms",
			       json_object_new_double((double)vm->populate_ns / 1e6));
	if (vm->prefault.used) {
		add_u64(mem, "prefault_bytes", vm->prefault.bytes);
		json_object_object_add(mem, "prefault_ms",
				       json_object_new_double((double)vm->prefault.ns / 1e6));
	} else {
		json_object_object_add(mem, "prefault", json_object_new_string(vm->prefault_note));
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++)
		if (mem_region_in_use(&vm->mem.region[i]))
			json_object_array_add(regions, vm_region_json(vm, i, huge_err ? NULL : huge));
	json_object_object_add(mem, "thp", thp);
	json_object_object_add(mem, "regions", regions);
	json_object_object_add(reply, "memory", mem);
	return 0;
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

const struct control_command vm_control_commands[] = {
	{ .name = "status", .fn = vm_cmd_status },
	{ .name = "pause", .fn = vm_cmd_pause },
	{ .name = "resume", .fn = vm_cmd_resume },
	{ .name = "quit", .fn = vm_cmd_quit },
};
const unsigned int vm_nr_control_commands =
	sizeof(vm_control_commands) / sizeof(vm_control_commands[0]);
