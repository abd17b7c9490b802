// SPDX-License-Identifier: MIT
/*
 * Guest memory for a new VM: the machine's layout, backend choice, the
 * hotplug (virtio-mem) region, the memory cgroup check, population,
 * memslots (on their own thread), pre-fault. Every long phase polls
 * vm->cancel, so that a signal during creation ends memvmm promptly.
 */
#include "vmm/vm_memory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mem/cgroup.h"
#include "mem/kvm_compat.h"
#include "mem/populate.h"
#include "mem/thp.h"
#include "vmm/options.h"

/* What memvmm itself needs beside guest RAM in its memory cgroup. */
#define VM_MEMCG_OVERHEAD_BYTES (32ull << 20)

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "?";
}

/* Say which region failed, on which backend, and what the host lacks. */
static int vm_memory_error(const struct mem_config *mc, unsigned int failed, int ret,
			   struct errmsg *e)
{
	struct mem_layout layout = { 0 };
	uint64_t size = 0, gpa = 0;
	char extra[160] = "";

	if (mem_layout_build(mc->size, &layout) == 0 && failed < layout.nr) {
		size = layout.range[failed].size;
		gpa = layout.range[failed].gpa;
	}
	if (mc->backend->explain_create_error)
		mc->backend->explain_create_error(size, ret, extra, sizeof(extra));
	return errmsg_set(e, ret, "cannot allocate guest memory: %s region %u (%lluM at 0x%llx "
			  "of %lluM): %s (%s)%s%s", mc->backend->name, failed,
			  (unsigned long long)(size >> 20), (unsigned long long)gpa,
			  (unsigned long long)(mc->size >> 20), errname(-ret), strerror(-ret),
			  extra[0] ? "; " : "", extra);
}

/* Progress over all of RAM, from each region's own. */
struct vm_progress {
	const struct vm *vm;
	uint64_t before;    /* bytes of the regions already done */
};

static void vm_populate_progress(void *arg, uint64_t region_done, uint64_t region_total)
{
	const struct vm_progress *p = arg;

	p->vm->progress(p->vm->progress_arg, p->before + region_done, p->vm->mem.ram_size);
}

/* Say which region failed, on which backend, with which strategy, and why. */
static int vm_populate_error(struct vm *vm, int ret, struct errmsg *e)
{
	const struct mem_populate_report *rep = &vm->populate;
	const struct mem_region *r = &vm->mem.region[rep->err_region % MEM_MAX_REGIONS];
	const char *why = rep->nr ? rep->region[rep->nr - 1].why : "";
	char extra[160] = "";

	if (ret == -ECANCELED)
		return errmsg_set(e, ret, "stopped while populating guest memory (%lluM of "
				  "region %u done)", (unsigned long long)(rep->err_gpa - r->gpa) >> 20,
				  rep->err_region);
	if (r->ops && r->ops->explain_create_error)
		r->ops->explain_create_error(r->size, ret, extra, sizeof(extra));
	/* Only a refusal (the strategy cannot be done here) says why not. */
	if (rep->refused && why[0])
		return errmsg_set(e, ret, "cannot populate guest memory: %s region %u: %s",
				  vm->mem.ops->name, rep->err_region, why);
	return errmsg_set(e, ret, "cannot populate guest memory: %s region %u (%lluM at 0x%llx) "
			  "with populate=%s failed at 0x%llx: %s (%s)%s%s", vm->mem.ops->name,
			  rep->err_region, (unsigned long long)(r->size >> 20),
			  (unsigned long long)r->gpa, mem_populate_name(rep->err_strategy),
			  (unsigned long long)rep->err_gpa, errname(-ret), strerror(-ret),
			  extra[0] ? "; " : "", extra);
}

/*
 * Population charges all of RAM to this process's memory cgroup (except
 * for hugetlb, which the memory controller does not count). Past the limit
 * the kernel's OOM killer ends memvmm with SIGKILL and no message, so refuse
 * up front, naming both numbers.
 */
static int vm_check_memcg(const struct vm *vm, const struct run_config *cfg,
			  struct errmsg *e)
{
	struct mem_cgroup_limit cg;
	uint64_t need = vm->mem.ram_size + VM_MEMCG_OVERHEAD_BYTES, room;

	if (cfg->populate == MEM_POPULATE_NONE || !vm->mem.ops->memcg_charged)
		return 0;
	if (mem_cgroup_limit_get(&cg) || !cg.limited)
		return 0;   /* no cgroup, no limit, or unreadable: nothing to check */
	room = cg.limit > cg.usage ? cg.limit - cg.usage : 0;
	if (room >= need)
		return 0;
	return errmsg_set(e, -ENOMEM, "guest memory does not fit the memory cgroup '%.120s' "
			  "(cgroup v%d): populating %lluM of %s (plus %lluM for memvmm) needs "
			  "%lluM, but the limit is %lluM with %lluM in use, %lluM free; raise the "
			  "limit, use less memory, or populate=none (the guest may then be "
			  "OOM-killed when it touches its memory)", cg.path, cg.version,
			  (unsigned long long)(vm->mem.ram_size >> 20), vm->mem.ops->name,
			  (unsigned long long)(VM_MEMCG_OVERHEAD_BYTES >> 20),
			  (unsigned long long)(need >> 20), (unsigned long long)(cg.limit >> 20),
			  (unsigned long long)(cg.usage >> 20), (unsigned long long)(room >> 20));
}

/* Back all of RAM before the guest runs, as cfg->populate says. */
static int vm_populate(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	struct vm_progress progress = { .vm = vm };
	uint64_t t0 = vm_now_ns();
	struct mem_populate_req req = {
		.strategy = cfg->populate,
		.max_threads = cfg->populate_threads,
		.cancel = vm->cancel,
	};
	int ret;

	if (vm->progress) {
		req.progress = vm_populate_progress;
		req.progress_arg = &progress;
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		struct mem_populate_report one;

		if (!mem_region_is_boot_ram(r))
			continue;
		ret = mem_populate(&vm->mem, r->gpa, r->size, &req, &one);
		/* Keep every region's line and the failure's details. */
		if (one.nr && vm->populate.nr < MEM_MAX_REGIONS)
			vm->populate.region[vm->populate.nr++] = one.region[0];
		vm->populate.err = one.err;
		vm->populate.err_region = one.err_region;
		vm->populate.err_gpa = one.err_gpa;
		vm->populate.err_strategy = one.err_strategy;
		vm->populate.refused = one.refused;
		if (ret)
			return vm_populate_error(vm, ret, e);
		progress.before += r->size;
	}
	vm->populate_ns = vm_now_ns() - t0;
	return 0;
}

/*
 * thp=: what memory of this backend is advised (what says whose: "" for
 * boot RAM, "the virtio-mem region's " for hotplug memory); thp=on refused
 * where the host cannot.
 */
static int vm_plan_thp(const struct run_config *cfg, const struct mem_backend_ops *backend,
		       const char *what, bool defaulted, struct mem_thp_plan *plan,
		       struct errmsg *e)
{
	struct mem_thp_host host;
	int ret = mem_thp_host_read("", &host);

	if (ret)
		return errmsg_set(e, ret, "cannot read the host's THP settings (%s): %s",
				  MEM_THP_SYSFS, strerror(-ret));
	ret = mem_thp_decide(cfg->thp, backend->thp, &host, plan);
	if (ret == -EOPNOTSUPP)
		return errmsg_set(e, ret, "thp=on: no transparent huge pages for %s%s memory here: "
				  "%s%s", what, backend->name, plan->why, defaulted ?
				  " (the default backend; backend=anon or memfd can have them)" : "");
	if (ret)
		return errmsg_set(e, ret, "%s (%sbackend %s)", plan->why, what, backend->name);
	return 0;
}

/*
 * An explicit populate= that the hotplug region cannot do would NACK every
 * plug: refuse it before the guest starts, as for boot RAM. The trial makes
 * the region's first backend block resident (a whole huge page where THP
 * backs it); the first 2 MiB are discarded again, so that no huge page is
 * left split and half charged.
 */
static int vm_check_vmem_populate(struct vm *vm, const struct run_config *cfg,
				  struct errmsg *e)
{
	struct mem_region *r = &vm->mem.region[vm->vmem_region];
	enum mem_populate_strategy want = cfg->vmem.populate, chosen;
	struct mem_populate_caps caps;
	char why[160] = "";
	int ret, dret;

	if (want == MEM_POPULATE_AUTO || want == MEM_POPULATE_NONE)
		return 0;
	ret = mem_region_caps(r, 0, &caps);
	if (!ret)
		ret = mem_populate_choose(want, r->ops->populate_order, r->ops->populate_order_len,
					  &caps, &chosen, why, sizeof(why));
	dret = mem_discard(&vm->mem, r->gpa, r->ops->align > MEM_HUGE_PAGE_BYTES ? r->ops->align :
			   MEM_HUGE_PAGE_BYTES);
	if (ret == -EOPNOTSUPP)
		return errmsg_set(e, ret, "--virtio-mem populate=%s: %s region: %s",
				  mem_populate_name(want), r->ops->name, why);
	if (ret)
		return errmsg_set(e, ret, "--virtio-mem populate=%s: trying it on the %s region "
				  "failed: %s", mem_populate_name(want), r->ops->name, strerror(-ret));
	if (dret)
		return errmsg_set(e, dret, "virtio-mem region (%s): discarding the populate trial's "
				  "block failed: %s", r->ops->name, strerror(-dret));
	return 0;
}

/*
 * --virtio-mem's region: at the layout's hotplug address, its own backend
 * instance (--virtio-mem backend=, else boot RAM's) and memslot, not
 * populated and not in the guest's memory map.
 */
static int vm_create_hotplug(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	const struct mem_backend_ops *b = cfg->vmem.backend ? cfg->vmem.backend : vm->mem.ops;
	struct mem_region_spec spec = {
		.gpa = vm->layout.hotplug_gpa,
		.size = vm->layout.hotplug_size,
		.role = MEM_ROLE_HOTPLUG,
		.backend = b,
	};
	char why[160] = "", extra[160] = "";
	int ret;

	if (!cfg->vmem.enabled)
		return 0;
	/* Boot RAM's backend was checked already. */
	if (b != vm->mem.ops && b->supported(vm->kvm.vm_fd, why, sizeof(why)))
		return errmsg_set(e, -EOPNOTSUPP, "virtio-mem: backend %s is not supported here: %s",
				  b->name, why);
	ret = vm_plan_thp(cfg, b, "the virtio-mem region's ", false, &vm->vmem_thp, e);
	if (ret)
		return ret;
	spec.thp_advice = vm->vmem_thp.advice;
	ret = mem_region_add(&vm->mem, &spec, &vm->vmem_region);
	if (ret) {
		if (b->explain_create_error)
			b->explain_create_error(spec.size, ret, extra, sizeof(extra));
		return errmsg_set(e, ret, "cannot allocate the virtio-mem region: %s (%lluM at "
				  "0x%llx): %s (%s)%s%s", b->name,
				  (unsigned long long)(spec.size >> 20),
				  (unsigned long long)spec.gpa, errname(-ret), strerror(-ret),
				  extra[0] ? "; " : "", extra);
	}
	vm->vmem_region_ready = true;
	vm->vmem_populate = cfg->vmem.populate;
	return vm_check_vmem_populate(vm, cfg, e);
}

/* Huge pages behind each region now (smaps); a failure is kept, not fatal. */
void vm_measure_huge(struct vm *vm)
{
	vm->huge_err = mem_huge_bytes(&vm->mem, vm->huge_after_populate);
}

int vm_create_memory(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	char why[160] = "";
	struct mem_config mc = { .size = cfg->mem_size, .backend = cfg->backend };
	uint64_t hotplug = cfg->vmem.enabled ? cfg->vmem.size : 0;
	unsigned int failed = 0;
	int ret, slots = kvm_check_cap(vm->kvm.vm_fd, KVM_CAP_NR_MEMSLOTS);

	ret = mem_machine_layout_build(cfg->mem_size, hotplug, &vm->layout);
	if (ret) {
		e->bad_input = true;
		return errmsg_set(e, ret, "cannot lay out %lluM of RAM with a %lluM hotplug region",
				  (unsigned long long)(cfg->mem_size >> 20),
				  (unsigned long long)(hotplug >> 20));
	}
	mc.nr_slots = slots > 0 ? (uint32_t)slots : 0;
	if (!mc.backend) {
		mc.backend = mem_backend_default(vm->kvm.vm_fd, vm->backend_note,
						 sizeof(vm->backend_note));
	} else if (mc.backend->supported(vm->kvm.vm_fd, why, sizeof(why))) {
		return errmsg_set(e, -EOPNOTSUPP, "backend %s is not supported here: %s",
				  mc.backend->name, why);
	}
	vm->thp_mode = cfg->thp;
	ret = vm_plan_thp(cfg, mc.backend, "", !cfg->backend, &vm->thp, e);
	if (ret)
		return ret;
	mc.thp_advice = vm->thp.advice;
	ret = mem_create(&vm->mem, &mc, vm->kvm.vm_fd, &failed);
	if (ret)
		return vm_memory_error(&mc, failed, ret, e);
	ret = vm_create_hotplug(vm, cfg, e);
	if (ret)
		return ret;
	ret = vm_check_memcg(vm, cfg, e);
	if (ret)
		return ret;
	return vm_populate(vm, cfg, e);
}

int vm_prefault(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	int cap = kvm_check_cap(vm->kvm.vm_fd, KVM_CAP_PRE_FAULT_MEMORY);
	const char *name;
	int ret;

	if (cfg->prefault == MEM_PREFAULT_OFF) {
		snprintf(vm->prefault_note, sizeof(vm->prefault_note), "off");
		return 0;
	}
	ret = mem_prefault(&vm->mem, vm->vcpus[0].fd, vm->cancel, &vm->prefault);
	if (!ret)
		return 0;
	name = errname(-ret);
	vm->prefault.used = false;
	if (ret == -ECANCELED)
		return errmsg_set(e, ret, "stopped while pre-faulting guest memory");
	/*
	 * Not there: EOPNOTSUPP where the ioctl exists without TDP; a kernel
	 * before 6.11 does not know the ioctl and answers ENOTTY or, on a vCPU
	 * fd, EINVAL (then the cap is 0 too).
	 */
	if ((ret == -EOPNOTSUPP || ret == -ENOTTY || (ret == -EINVAL && cap <= 0)) &&
	    !vm->prefault.bytes) {
		snprintf(vm->prefault_note, sizeof(vm->prefault_note),
			 "not supported (%s, KVM_CAP_PRE_FAULT_MEMORY %d%s)", name, cap,
			 ret == -EOPNOTSUPP ? "; x86 needs TDP (EPT/NPT)" :
			 cap <= 0 ? "; kernel before 6.11?" : "");
		if (cfg->prefault == MEM_PREFAULT_AUTO)
			return 0;
		return errmsg_set(e, ret, "prefault=on: KVM_PRE_FAULT_MEMORY is %s",
				  vm->prefault_note);
	}
	return errmsg_set(e, ret, "KVM_PRE_FAULT_MEMORY failed at 0x%llx after %lluM: %s (%s)",
			  (unsigned long long)vm->prefault.err_gpa,
			  (unsigned long long)(vm->prefault.bytes >> 20), name, strerror(-ret));
}

/*
 * Installing a memslot costs this host's kernel 4-8 ms whatever its size, as
 * long as the rest of VM setup together; so the slots go in on their own
 * thread while the irqchip, devices, kernel and vCPUs are set up. Guest
 * memory is only written through its host mapping meanwhile.
 */
static void *vm_register_thread(void *arg)
{
	struct vm *vm = arg;

	vm->register_ret = mem_register(&vm->mem, vm->kvm.user_memory2);
	return NULL;
}

void vm_register_start(struct vm *vm)
{
	if (pthread_create(&vm->register_thread, NULL, vm_register_thread, vm) == 0)
		vm->register_running = true;
	else
		vm_register_thread(vm);  /* no thread: do it here */
}

int vm_register_finish(struct vm *vm, struct errmsg *e, int ret)
{
	if (vm->register_running) {
		int jret = pthread_join(vm->register_thread, NULL);

		vm->register_running = false;
		if (jret && !ret)
			return errmsg_set(e, -jret, "joining the memslot thread failed: %s",
					  strerror(jret));
	}
	if (ret || !vm->register_ret)
		return ret;
	return errmsg_set(e, vm->register_ret, "installing KVM memory slots (%s) failed: %s",
			  vm->kvm.user_memory2 ? "KVM_SET_USER_MEMORY_REGION2" :
			  "KVM_SET_USER_MEMORY_REGION", strerror(-vm->register_ret));
}
