// SPDX-License-Identifier: MIT
/*
 * Saving a snapshot (vmm/snapshot.h): pause, gather the machine state,
 * write every region's memory file and the state file into DIR.tmp-XXXXXX,
 * fsync, rename to DIR, resume. Diff snapshots take the dirty pages since
 * the VM's snapshot epoch (the last snapshot it took or was restored from).
 */
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/dev_blob.h"
#include "mem/dirty.h"
#include "vmm/snap_io.h"
#include "vmm/vm.h"

void snapshot_remember_config(struct vm *vm, const struct run_config *cfg)
{
	struct snap_config *c = &vm->snap_cfg;

	memset(c, 0, sizeof(*c));
	c->mem_size = cfg->mem_size;
	snprintf(c->backend, sizeof(c->backend), "%s", vm->mem.ops ? vm->mem.ops->name : "");
	snprintf(c->populate, sizeof(c->populate), "%s", mem_populate_name(cfg->populate));
	snprintf(c->prefault, sizeof(c->prefault), "%s", mem_prefault_name(cfg->prefault));
	snprintf(c->thp, sizeof(c->thp), "%s", mem_thp_mode_name(cfg->thp));
	c->populate_threads = cfg->populate_threads;
	c->vcpus = cfg->vcpus;
	snprintf(c->cpu, sizeof(c->cpu), "%s", cfg->cpu.spec);
	snprintf(c->cmdline, sizeof(c->cmdline), "%s", cfg->cmdline ? cfg->cmdline : "");
	c->vmem = cfg->vmem.enabled;
	if (c->vmem) {
		const struct mem_region *r = &vm->mem.region[vm->vmem_region];

		c->vmem_size = cfg->vmem.size;
		c->vmem_requested = cfg->vmem.requested;
		c->vmem_block = cfg->vmem.block;
		snprintf(c->vmem_backend, sizeof(c->vmem_backend), "%s",
			 vm->vmem_region_ready ? r->ops->name : "");
		snprintf(c->vmem_populate, sizeof(c->vmem_populate), "%s",
			 mem_populate_name(cfg->vmem.populate));
	}
	c->balloon = cfg->balloon.enabled;
	c->balloon_size = cfg->balloon.size;
	c->balloon_deflate_on_oom = cfg->balloon.deflate_on_oom;
	c->balloon_free_page_reporting = cfg->balloon.free_page_reporting;
	c->balloon_stats = cfg->balloon.stats;
	c->balloon_stats_s = cfg->balloon.stats_s;
}

/* ---- the directory ------------------------------------------------------ */

/*
 * DIR must not exist and its parent must be a directory: the absolute path
 * goes to res->dir, the parent's fd to *parent_fd.
 */
static int snap_check_dir(const char *dir, struct snapshot_result *res, int *parent_fd,
			  struct errmsg *e)
{
	char copy[SNAP_PATH_BYTES], real[PATH_MAX], *parent, *base;
	struct stat st;

	e->bad_input = true;
	if (!*dir)
		return errmsg_set(e, -EINVAL, "dir= is empty");
	if (strlen(dir) >= sizeof(copy) - 32)
		return errmsg_set(e, -ENAMETOOLONG, "dir '%s' is too long", errmsg_path(dir).s);
	if (lstat(dir, &st) == 0)
		return errmsg_set(e, -EEXIST, "dir '%s' exists already (a snapshot is written to a "
				  "new directory)", errmsg_path(dir).s);
	if (errno != ENOENT)
		return errmsg_set(e, -errno, "dir '%s': %s", errmsg_path(dir).s, strerror(errno));
	snprintf(copy, sizeof(copy), "%s", dir);
	parent = dirname(copy);
	if (!realpath(parent, real))
		return errmsg_set(e, -errno, "dir '%s': its parent directory: %s",
				  errmsg_path(dir).s, strerror(errno));
	snprintf(copy, sizeof(copy), "%s", dir);
	base = basename(copy);
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/"))
		return errmsg_set(e, -EINVAL, "dir '%s' names no new directory", errmsg_path(dir).s);
	if (snprintf(res->dir, sizeof(res->dir), "%s/%s", strcmp(real, "/") ? real : "", base) >=
	    (int)sizeof(res->dir))
		return errmsg_set(e, -ENAMETOOLONG, "dir '%s' is too long", errmsg_path(dir).s);
	*parent_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*parent_fd < 0)
		return errmsg_set(e, -errno, "dir '%s': its parent directory: %s",
				  errmsg_path(dir).s, strerror(errno));
	e->bad_input = false;
	return 0;
}

/* ---- the state ---------------------------------------------------------- */

static int snap_gather_devices(struct vm *vm, struct snap_state *s, struct errmsg *e)
{
	for (unsigned int i = 0; i < vm->nr_devices; i++) {
		const struct vm_device *d = &vm->dev[i];
		struct snap_device *sd = &s->dev[s->nr_devices++];
		size_t len = 0;
		int ret;

		snprintf(sd->name, sizeof(sd->name), "%s", d->ops->name);
		if (!d->ops->save)
			continue;
		ret = dev_blob_save_alloc(d->ops->save, d->state, &sd->blob, &len);
		if (ret)
			return errmsg_set(e, ret, "saving device %s failed: %s", d->ops->name,
					  strerror(-ret));
		sd->len = (uint32_t)len;
	}
	return 0;
}

static int snap_gather_state(struct vm *vm, struct snap_state *s, struct errmsg *e)
{
	int ret;

	s->version = SNAP_FORMAT_VERSION;
	s->cfg = vm->snap_cfg;
	s->vcpu = calloc(vm->nr_vcpus, sizeof(*s->vcpu));
	if (!s->vcpu)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vm_vcpu_state_get(vm, i, &s->vcpu[i]);
		if (ret)
			return errmsg_set(e, ret, "reading vCPU %u's state failed: %s", i,
					  strerror(-ret));
		s->nr_vcpus = i + 1;
	}
	ret = vm_irqchip_state_get(vm, &s->irq);
	if (ret)
		return errmsg_set(e, ret, "reading the irqchip state failed: %s", strerror(-ret));
	if (vm->nr_devices > SNAP_MAX_DEVICES)
		return errmsg_set(e, -E2BIG, "%u devices: a snapshot holds at most %u",
				  vm->nr_devices, SNAP_MAX_DEVICES);
	return snap_gather_devices(vm, s, e);
}

/* ---- memory --------------------------------------------------------------- */

/* The lazy restore still filling region i: its source and fetched map. */
static void snap_pending(struct vm *vm, unsigned int i, struct mem_snap_save_opts *o)
{
	struct mem_lazy *l = vm->restore.lazy_region[i];
	struct mem_lazy_report rep;

	if (!l || !vm->restore_chain)
		return;
	mem_lazy_get_report(l, &rep);
	if (rep.done)
		return;
	o->pending = &vm->restore_chain->src[i];
	o->fetched = mem_lazy_fetched(l);
}

static int snap_save_region(struct vm *vm, unsigned int i, int dir_fd, bool diff,
			    bool verify, struct snap_state *s, struct snapshot_result *res,
			    struct errmsg *e)
{
	const struct mem_region *r = &vm->mem.region[i];
	struct snap_region *sr = &s->region[s->nr_regions];
	struct mem_snap_save_opts o = { .cancel = NULL };
	struct mem_snap_save_report rep = { 0 };
	uint64_t words = mem_snap_bitmap_words(r->size);
	int fd, ret;

	snprintf(sr->role, sizeof(sr->role), "%s", mem_role_name(r->role));
	snprintf(sr->backend, sizeof(sr->backend), "%s", r->ops->name);
	snprintf(sr->file, sizeof(sr->file), "mem-%u.raw", i);
	sr->gpa = r->gpa;
	sr->size = r->size;
	s->nr_regions++;
	if (diff) {
		sr->present = calloc(words, sizeof(uint64_t));
		if (!sr->present)
			return errmsg_set(e, -ENOMEM, "out of memory");
		ret = mem_dirty_collect(&vm->mem, i, sr->present);
		if (ret)
			return errmsg_set(e, ret, "reading region %u's dirty log failed: %s", i,
					  strerror(-ret));
		o.only = sr->present;
		for (uint64_t w = 0; w < words; w++)
			res->region[res->nr_regions].dirty_pages +=
				(uint64_t)__builtin_popcountll(sr->present[w]);
	}
	if (verify) {
		sr->chunk_bytes = MEM_SNAP_CHUNK_BYTES;
		sr->chunk_sums = calloc(mem_snap_nr_chunks(r->size, sr->chunk_bytes),
					sizeof(uint64_t));
		if (!sr->chunk_sums)
			return errmsg_set(e, -ENOMEM, "out of memory");
		o.chunk_bytes = sr->chunk_bytes;
		o.chunk_sums = sr->chunk_sums;
	}
	snap_pending(vm, i, &o);
	/* Map-restored: pages the guest never wrote are still the base file's. */
	if (vm->restore.map_region[i] && !mem_snap_map_is_detached(vm->restore.map_region[i]))
		o.mapped = vm->restore.map_region[i];
	fd = openat(dir_fd, sr->file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return errmsg_set(e, -errno, "creating %s failed: %s", sr->file, strerror(errno));
	ret = mem_snap_save_region(r, fd, &o, &rep);
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		return errmsg_set(e, ret, "writing region %u (%s, %lluM) to %s failed: %s", i,
				  r->ops->name, (unsigned long long)(r->size >> 20), sr->file,
				  strerror(-ret));
	res->region[res->nr_regions].index = i;
	res->region[res->nr_regions].data_bytes = rep.data_bytes;
	res->nr_regions++;
	res->bytes += rep.data_bytes;
	res->pending_pages += rep.pending_pages;
	return 0;
}

/* ---- diff snapshots: the parent ---------------------------------------- */

static int snap_check_parent(struct vm *vm, const char *parent, struct snap_state *s,
			     struct errmsg *e)
{
	struct snap_state ps = { 0 };
	char why[160] = "", real[PATH_MAX];
	int ret;

	e->bad_input = true;
	ret = mem_dirty_check(&vm->mem, why, sizeof(why));
	if (ret)
		return errmsg_set(e, ret, "parent=: diff snapshots need dirty page logging: %s", why);
	if (!realpath(parent, real))
		return errmsg_set(e, -errno, "parent '%s': %s", errmsg_path(parent).s,
				  strerror(errno));
	ret = snap_io_read_state(real, &ps, why, sizeof(why));
	if (ret) {
		snap_state_release(&ps);
		return errmsg_set(e, ret, "parent '%s': %s", errmsg_path(parent).s, why);
	}
	if (!vm->snap_dirty || ps.id != vm->snap_epoch) {
		snap_state_release(&ps);
		return errmsg_set(e, -ESTALE, "parent '%s' is not the last snapshot this VM took or "
				  "was restored from: dirty pages are tracked only since then (take "
				  "a full snapshot first)", errmsg_path(parent).s);
	}
	snap_state_release(&ps);
	s->has_parent = true;
	s->parent_id = vm->snap_epoch;
	snprintf(s->parent_path, sizeof(s->parent_path), "%s", real);
	e->bad_input = false;
	return 0;
}

/* ---- the whole save ------------------------------------------------------- */

static int snap_write_all(struct vm *vm, const struct snapshot_req *req, int parent_fd,
			  const char *tmp_name, struct snap_state *s,
			  struct snapshot_result *res, struct errmsg *e)
{
	int dir_fd = openat(parent_fd, tmp_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (dir_fd < 0)
		return errmsg_set(e, -errno, "opening %s failed: %s", tmp_name, strerror(errno));
	for (unsigned int i = 0; i < vm->mem.nr_regions && !ret; i++)
		if (mem_region_in_use(&vm->mem.region[i]))
			ret = snap_save_region(vm, i, dir_fd, req->parent != NULL, req->verify, s,
					       res, e);
	if (!ret) {
		char why[160] = "";

		ret = snap_state_check(s, why, sizeof(why));
		if (ret)
			errmsg_set(e, ret, "the machine state cannot be written: %s", why);
	}
	if (!ret) {
		ret = snap_io_write_state(dir_fd, s, &res->state_bytes);
		if (ret)
			errmsg_set(e, ret, "writing %s failed: %s", SNAP_STATE_FILE, strerror(-ret));
		res->bytes += res->state_bytes;
	}
	if (!ret && fsync(dir_fd))
		ret = errmsg_set(e, -errno, "fsync of the snapshot directory failed: %s",
				 strerror(errno));
	close(dir_fd);
	return ret;
}

/* After a snapshot: dirty pages are tracked from now on, where the memory allows. */
static void snap_new_epoch(struct vm *vm, uint64_t id)
{
	char why[8];

	vm->snap_epoch = id;
	vm->snap_dirty = false;
	if (mem_dirty_check(&vm->mem, why, sizeof(why)) == 0 && mem_dirty_start(&vm->mem) == 0)
		vm->snap_dirty = true;
}

int vm_snapshot(struct vm *vm, const struct snapshot_req *req, struct snapshot_result *res,
		struct errmsg *e)
{
	uint64_t t0 = vm_now_ns(), tp;
	struct snap_state s = { 0 };
	char tmp_name[NAME_MAX + 1];
	bool was_running;
	int parent_fd = -1, ret;

	memset(res, 0, sizeof(*res));
	ret = snap_check_dir(req->dir, res, &parent_fd, e);
	if (ret)
		return ret;
	if (req->parent) {
		ret = snap_check_parent(vm, req->parent, &s, e);
		if (ret)
			goto out;
	}
	if (getrandom(&s.id, sizeof(s.id), 0) != sizeof(s.id) || !s.id) {
		ret = errmsg_set(e, -EIO, "getrandom failed");
		goto out;
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	res->id = s.id;
	was_running = vm_state(vm) == VM_STATE_RUNNING;
	if (was_running) {
		ret = vm_pause(vm);
		if (ret) {
			errmsg_set(e, ret, "pausing the VM failed: %s", strerror(-ret));
			goto out;
		}
	} else if (vm_state(vm) != VM_STATE_PAUSED) {
		ret = errmsg_set(e, -EINVAL, "the VM is %s", runstate_name(vm_state(vm)));
		goto out;
	}
	tp = vm_now_ns();
	ret = snap_gather_state(vm, &s, e);
	if (!ret)
		ret = snap_io_mkdtemp(parent_fd, res->dir, tmp_name, sizeof(tmp_name), e);
	if (!ret) {
		ret = snap_write_all(vm, req, parent_fd, tmp_name, &s, res, e);
		if (!ret)
			ret = snap_io_publish(parent_fd, tmp_name, res->dir, e);
		if (ret)
			snap_io_remove_tmp(parent_fd, tmp_name);
	}
	/* A diff's dirty log was consumed: without this snapshot, no diff can follow. */
	if (ret && req->parent) {
		vm->snap_epoch = 0;
		vm->snap_dirty = false;
	}
	if (!ret)
		snap_new_epoch(vm, s.id);
	res->pause_ns = vm_now_ns() - tp;
	if (req->stop && !ret)
		vm_request_stop(vm, VM_STOP_QUIT, 0);
	else if (was_running) {
		int rret = vm_resume(vm);

		if (rret && !ret)
			ret = errmsg_set(e, rret, "snapshot written, but resuming failed: %s",
					 strerror(-rret));
	}
out:
	res->total_ns = vm_now_ns() - t0;
	snap_state_release(&s);
	if (parent_fd >= 0)
		close(parent_fd);
	return ret;
}
