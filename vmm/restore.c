// SPDX-License-Identifier: MIT
/*
 * Restoring a snapshot into a VM that vm_create() built from the saved
 * configuration (vmm/snapshot.h): memory by the chosen mode, device state,
 * vCPU and irqchip state. Everything is checked and in place before the
 * first guest instruction; lazy modes keep filling memory afterwards.
 */
#include "vmm/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "vmm/vm.h"

/* ---- choosing the mode ---------------------------------------------------- */

static enum mem_lazy_mode restore_lazy_mode(enum restore_mode m)
{
	return m == RESTORE_LAZY_MOVE ? MEM_LAZY_MOVE :
	       m == RESTORE_LAZY_MINOR ? MEM_LAZY_MINOR : MEM_LAZY_COPY;
}

static bool restore_is_lazy(enum restore_mode m)
{
	return m == RESTORE_LAZY_COPY || m == RESTORE_LAZY_MOVE || m == RESTORE_LAZY_MINOR;
}

/* Every boot RAM region can be restored lazily in mode m (else why says why not). */
static int restore_lazy_ok(struct vm *vm, enum restore_mode m, char *why, size_t whylen)
{
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		int ret;

		if (!mem_region_is_boot_ram(r))
			continue;
		ret = mem_lazy_check(r, restore_lazy_mode(m), why, whylen);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * auto: eager for guest_memfd and hugetlb (no userfaultfd there);
 * lazy-move, else lazy-copy on anon; lazy-minor, else eager on memfd.
 */
static int restore_choose(struct vm *vm, struct errmsg *e)
{
	struct restore_info *ri = &vm->restore;
	const struct mem_backend_ops *b = vm->mem.ops;
	char why[160] = "";
	int ret;

	if (ri->requested != RESTORE_AUTO) {
		ri->used = ri->requested;
		if (ri->used == RESTORE_MAP && b != &mem_backend_anon)
			return errmsg_set(e, -EOPNOTSUPP, "--restore mode=map needs anon RAM "
					  "(MAP_PRIVATE of the memory file), not %s", b->name);
		if (restore_is_lazy(ri->used)) {
			ret = restore_lazy_ok(vm, ri->used, why, sizeof(why));
			if (ret)
				return errmsg_set(e, ret, "--restore mode=%s is not possible with %s "
						  "RAM here: %s", restore_mode_name(ri->used), b->name,
						  why);
		}
		return 0;
	}
	ri->used = RESTORE_EAGER;
	if (b == &mem_backend_anon) {
		if (!restore_lazy_ok(vm, RESTORE_LAZY_MOVE, why, sizeof(why)))
			ri->used = RESTORE_LAZY_MOVE;
		else if (!restore_lazy_ok(vm, RESTORE_LAZY_COPY, ri->why, sizeof(ri->why)))
			ri->used = RESTORE_LAZY_COPY;
		if (ri->used == RESTORE_LAZY_COPY)
			snprintf(ri->why, sizeof(ri->why), "lazy-move: %s", why);
	} else if (b == &mem_backend_memfd) {
		if (!restore_lazy_ok(vm, RESTORE_LAZY_MINOR, ri->why, sizeof(ri->why)))
			ri->used = RESTORE_LAZY_MINOR;
	} else {
		snprintf(ri->why, sizeof(ri->why), "%s memory cannot be registered with "
			 "userfaultfd", b->name);
	}
	return 0;
}

/* ---- memory ----------------------------------------------------------------- */

/* Region of vm matching the snapshot's region i (same gpa, size and role). */
static int restore_region_index(struct vm *vm, const struct snap_region *sr,
				unsigned int *index)
{
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];

		if (mem_region_in_use(r) && r->gpa == sr->gpa && r->size == sr->size &&
		    !strcmp(mem_role_name(r->role), sr->role)) {
			*index = i;
			return 0;
		}
	}
	return -ENOENT;
}

static int restore_fill(struct vm *vm, unsigned int index, const struct mem_snap_src *src,
			struct errmsg *e)
{
	struct mem_snap_fill_opts o = {
		.prealloc = vm->restore_prealloc,
		.max_threads = vm->restore_threads,
		.cancel = vm->cancel,
	};
	struct mem_snap_fill_report rep = { 0 };
	const struct mem_region *r = &vm->mem.region[index];
	int ret = mem_snap_fill_region(&vm->mem, index, src, &o, &rep);

	if (ret)
		return errmsg_set(e, ret, "restoring region %u (%s, %lluM) from the snapshot "
				  "failed: %s", index, r->ops->name,
				  (unsigned long long)(r->size >> 20), strerror(-ret));
	if (mem_region_is_boot_ram(r)) {
		vm->restore.fill.how = rep.how;
		vm->restore.fill.data_bytes += rep.data_bytes;
		vm->restore.fill.threads = rep.threads;
		vm->restore.fill.ns += rep.ns;
		if (rep.why[0])
			snprintf(vm->restore.fill.why, sizeof(vm->restore.fill.why), "%s", rep.why);
	}
	return 0;
}

static int restore_boot_region(struct vm *vm, unsigned int index,
			       const struct mem_snap_src *src, struct errmsg *e)
{
	struct restore_info *ri = &vm->restore;
	int ret;

	switch (ri->used) {
	case RESTORE_MAP:
		return 0;   /* vm_restore_prepare() mapped it */
	case RESTORE_LAZY_COPY:
	case RESTORE_LAZY_MOVE:
	case RESTORE_LAZY_MINOR: {
		struct mem_lazy_opts o = {
			.mode = restore_lazy_mode(ri->used),
			.order = MEM_LAZY_ORDER_NEAR_FAULTS,
			.collapse = true,
			.no_background = !vm->restore_background,
		};

		ret = mem_lazy_start(&vm->mem, index, src, &o, &ri->lazy_region[index]);
		if (ret)
			return errmsg_set(e, ret, "--restore mode=%s: region %u: starting the "
					  "userfaultfd server failed: %s",
					  restore_mode_name(ri->used), index, strerror(-ret));
		return 0;
	}
	default:
		return restore_fill(vm, index, src, e);
	}
}

/* ---- devices and vCPUs ------------------------------------------------------ */

/*
 * Each saved device into the machine's, in order. A stateless machine
 * device the snapshot does not list (acpi-sleep, added after snapshots
 * existed) is skipped: a snapshot from before it still restores.
 */
static int restore_devices(struct vm *vm, const struct snap_state *s, struct errmsg *e)
{
	unsigned int j = 0;

	for (unsigned int i = 0; i < vm->nr_devices; i++) {
		const struct vm_device *d = &vm->dev[i];
		const struct snap_device *sd = j < s->nr_devices ? &s->dev[j] : NULL;
		int ret;

		if (!d->ops->restore && (!sd || strcmp(sd->name, d->ops->name)))
			continue;
		if (!sd)
			return errmsg_set(e, -EINVAL, "the snapshot has %u devices, the machine it "
					  "describes has %s after them", s->nr_devices,
					  d->ops->name);
		j++;
		if (strcmp(sd->name, d->ops->name))
			return errmsg_set(e, -EINVAL, "the snapshot's device %u is '%.32s', the "
					  "machine's is %s", j - 1, sd->name, d->ops->name);
		if (!d->ops->restore) {
			if (sd->len)
				return errmsg_set(e, -EINVAL, "device %s keeps no state, but the "
						  "snapshot has %u bytes for it", d->ops->name,
						  sd->len);
			continue;
		}
		ret = d->ops->restore(d->state, sd->blob, sd->len);
		if (ret)
			return errmsg_set(e, ret, "device %s refused its saved state: %s",
					  d->ops->name, strerror(-ret));
	}
	if (j != s->nr_devices)
		return errmsg_set(e, -EINVAL, "the snapshot has %u devices, the machine it describes "
				  "%u", s->nr_devices, j);
	return 0;
}

static int restore_cpus(struct vm *vm, const struct snap_state *s, struct errmsg *e)
{
	int ret;

	if (s->nr_vcpus != vm->nr_vcpus)
		return errmsg_set(e, -EINVAL, "the snapshot has %u vCPUs, the VM %u", s->nr_vcpus,
				  vm->nr_vcpus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		uint32_t msr = 0;

		ret = vcpu_state_set(vm->vcpus[i].fd, &s->vcpu[i], &msr);
		if (ret == -EIO)
			return errmsg_set(e, ret, "vCPU %u: KVM refused the saved MSR 0x%x (a "
					  "snapshot from another host?)", i, msr);
		if (ret)
			return errmsg_set(e, ret, "vCPU %u: KVM refused the saved state: %s", i,
					  strerror(-ret));
	}
	ret = vm_irq_state_set(vm->kvm.vm_fd, &s->irq);
	if (ret)
		return errmsg_set(e, ret, "KVM refused the saved irqchip/PIT/clock state: %s",
				  strerror(-ret));
	return 0;
}

/* ---- lazy fill: watching it ------------------------------------------------- */

/* Poll interval of the watcher, so that teardown can stop it. */
#define RESTORE_WAIT_POLL_MS 100

static void *restore_wait_thread(void *arg)
{
	struct vm *vm = arg;
	struct restore_info *ri = &vm->restore;
	uint64_t one = 1;

	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		int ret = -ETIMEDOUT;

		while (ri->lazy_region[i] && ret == -ETIMEDOUT) {
			if (atomic_load(&ri->stop_waiter))
				return NULL;
			ret = mem_lazy_wait(ri->lazy_region[i], RESTORE_WAIT_POLL_MS);
		}
		if (ret && ret != -ETIMEDOUT) {
			/*
			 * The error fd tells the main loop, which may itself be
			 * blocked in a fault on a page that can no longer come:
			 * let every blocked fault through.
			 */
			for (unsigned int k = 0; k < MEM_MAX_REGIONS; k++)
				if (ri->lazy_region[k])
					mem_lazy_abort(ri->lazy_region[k]);
			return NULL;
		}
	}
	ri->lazy_done_ns = vm_now_ns() - ri->start_ns;
	if (write(ri->lazy_done_efd, &one, sizeof(one)) < 0)
		return NULL;
	return NULL;
}

static int restore_start_waiter(struct vm *vm, struct errmsg *e)
{
	struct restore_info *ri = &vm->restore;
	int ret;

	ri->lazy_done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ri->lazy_done_efd < 0)
		return errmsg_set(e, -errno, "eventfd failed: %s", strerror(errno));
	ret = pthread_create(&ri->lazy_wait_thread, NULL, restore_wait_thread, vm);
	if (ret)
		return errmsg_set(e, -ret, "starting the lazy restore's watcher failed: %s",
				  strerror(ret));
	ri->lazy_wait_running = true;
	return 0;
}

/* ---- the whole restore ------------------------------------------------------ */

/* Region of vm for each of the snapshot's regions. */
static int restore_indices(struct vm *vm, const struct snap_state *s,
			   unsigned int index[MEM_MAX_REGIONS], struct errmsg *e)
{
	for (unsigned int i = 0; i < s->nr_regions; i++)
		if (restore_region_index(vm, &s->region[i], &index[i]))
			return errmsg_set(e, -EINVAL, "the snapshot's region %u (%s at 0x%llx, "
					  "%lluM) is not in the machine it describes", i,
					  s->region[i].role, (unsigned long long)s->region[i].gpa,
					  (unsigned long long)(s->region[i].size >> 20));
	return 0;
}

int vm_restore_prepare(struct vm *vm, struct errmsg *e)
{
	struct snap_chain *c = vm->restore_chain;
	const struct snap_state *s = &c->state[0];
	struct restore_info *ri = &vm->restore;
	unsigned int index[MEM_MAX_REGIONS];
	uint64_t t0 = vm_now_ns();
	char why[160] = "";
	int ret;

	ret = restore_choose(vm, e);
	if (!ret)
		ret = restore_indices(vm, s, index, e);
	if (ret || ri->used != RESTORE_MAP)
		return ret;
	/* Before the memslots go in: the mapping is replaced under them. */
	for (unsigned int i = 0; i < s->nr_regions; i++) {
		unsigned int r = index[i];

		if (!mem_region_is_boot_ram(&vm->mem.region[r]))
			continue;
		ret = mem_snap_map_region(&vm->mem, r, &c->src[i], &ri->map_region[r], why,
					  sizeof(why));
		if (ret)
			return errmsg_set(e, ret, "--restore mode=map: region %u: %s", r,
					  why[0] ? why : strerror(-ret));
		ri->fill.data_bytes += c->src[i].size;
	}
	ri->fill.threads = 1;
	ri->map_ns = vm_now_ns() - t0;
	return 0;
}

int vm_restore(struct vm *vm, struct errmsg *e)
{
	struct snap_chain *c = vm->restore_chain;
	const struct snap_state *s = &c->state[0];
	unsigned int index[MEM_MAX_REGIONS];
	uint64_t t0;
	int ret;

	ret = restore_indices(vm, s, index, e);
	if (ret)
		return ret;
	t0 = vm_now_ns();
	/* Boot RAM first: lazy servers must be up before anything touches it. */
	for (unsigned int i = 0; i < s->nr_regions; i++) {
		if (!mem_region_is_boot_ram(&vm->mem.region[index[i]]))
			continue;
		ret = restore_boot_region(vm, index[i], &c->src[i], e);
		if (ret)
			return ret;
	}
	ret = restore_devices(vm, s, e);
	/* The hotplug region after virtio-mem's own restore has plugged its blocks. */
	for (unsigned int i = 0; !ret && i < s->nr_regions; i++)
		if (!mem_region_is_boot_ram(&vm->mem.region[index[i]]))
			ret = restore_fill(vm, index[i], &c->src[i], e);
	if (!ret)
		ret = restore_cpus(vm, s, e);
	if (ret)
		return ret;
	vm->restore.fill_ns = vm_now_ns() - t0 + vm->restore.map_ns;
	if (restore_is_lazy(vm->restore.used)) {
		ret = restore_start_waiter(vm, e);
		if (ret)
			return ret;
	}
	/* Diffs from here on are relative to the snapshot restored. */
	vm->snap_epoch = s->id;
	{
		char why[8];

		vm->snap_dirty = mem_dirty_check(&vm->mem, why, sizeof(why)) == 0 &&
				 mem_dirty_start(&vm->mem) == 0;
	}
	return 0;
}

bool vm_restore_lazy_failed(struct vm *vm, int *err)
{
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		struct mem_lazy_report rep;

		if (!vm->restore.lazy_region[i])
			continue;
		mem_lazy_get_report(vm->restore.lazy_region[i], &rep);
		if (rep.err) {
			*err = rep.err;
			return true;
		}
	}
	return false;
}

void vm_restore_stop_lazy(struct vm *vm)
{
	struct restore_info *ri = &vm->restore;

	/* The watcher first: it uses the engines. */
	atomic_store(&ri->stop_waiter, true);
	if (ri->lazy_wait_running) {
		(void)pthread_join(ri->lazy_wait_thread, NULL);
		ri->lazy_wait_running = false;
	}
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		mem_lazy_stop(ri->lazy_region[i]);
		ri->lazy_region[i] = NULL;
	}
}

void vm_restore_release(struct vm *vm)
{
	struct restore_info *ri = &vm->restore;

	vm_restore_stop_lazy(vm);
	if (ri->lazy_done_efd > 0)
		close(ri->lazy_done_efd);
	ri->lazy_done_efd = -1;
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		mem_snap_map_release(ri->map_region[i]);
		ri->map_region[i] = NULL;
	}
	if (vm->restore_chain) {
		snap_chain_close(vm->restore_chain);
		free(vm->restore_chain);
		vm->restore_chain = NULL;
	}
}
