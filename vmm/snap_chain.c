// SPDX-License-Identifier: MIT
/*
 * Opening a snapshot for restore (vmm/snapshot.h): DIR and its parents,
 * every state file parsed and checked, every memory file opened and sized,
 * one mem_snap_src per region, checksums verified when asked, and the run
 * configuration of the saved machine.
 */
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/cpu_model.h"
#include "vmm/snap_io.h"

void snap_chain_close(struct snap_chain *c)
{
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		if (c->src_ready[i])
			mem_snap_src_release(&c->src[i]);
		c->src_ready[i] = false;
		for (unsigned int l = 0; l < MEM_SNAP_MAX_LAYERS; l++) {
			if (c->mem_fd[i][l] > 0)
				close(c->mem_fd[i][l]);
			c->mem_fd[i][l] = -1;
		}
	}
	for (unsigned int l = 0; l < MEM_SNAP_MAX_LAYERS; l++) {
		if (c->dir_fd[l] > 0)
			close(c->dir_fd[l]);
		c->dir_fd[l] = -1;
		if (l < c->nr)
			snap_state_release(&c->state[l]);
	}
	c->nr = 0;
}

/*
 * Layer l's parent: the directory at the absolute path saved, else the one
 * of the same name beside layer l (a chain moved or copied as a whole):
 * the first whose state has the id layer l recorded. Fills layer l + 1.
 */
static int snap_open_parent(struct snap_chain *c, unsigned int l, struct errmsg *e)
{
	const struct snap_state *s = &c->state[l];
	char base[SNAP_PATH_BYTES], tried[2][SNAP_PATH_BYTES], why[2][256];
	const char *slash = strrchr(s->parent_path, '/');
	int ret[2];

	snprintf(base, sizeof(base), "%s", slash ? slash + 1 : s->parent_path);
	snprintf(tried[0], sizeof(tried[0]), "%s", s->parent_path);
	if (snprintf(tried[1], sizeof(tried[1]), "%.2000s/../%.2000s", c->dir[l], base) < 0)
		tried[1][0] = '\0';
	for (unsigned int k = 0; k < 2; k++) {
		int fd = k == 0 ? open(tried[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
			 openat(c->dir_fd[l], "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0 && k == 1) {
			int pfd = openat(fd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			close(fd);
			fd = pfd;
		}
		if (fd < 0) {
			ret[k] = -errno;
			snprintf(why[k], sizeof(why[k]), "%s", strerror(errno));
			continue;
		}
		ret[k] = snap_io_read_state_at(fd, &c->state[l + 1], why[k], sizeof(why[k]));
		if (!ret[k] && c->state[l + 1].id != s->parent_id) {
			ret[k] = -ESTALE;
			snprintf(why[k], sizeof(why[k]), "a snapshot with another id (not the one "
				 "this diff was taken from)");
		}
		if (!ret[k]) {
			c->dir_fd[l + 1] = fd;
			snprintf(c->dir[l + 1], sizeof(c->dir[l + 1]), "%s", tried[k]);
			return 0;
		}
		snap_state_release(&c->state[l + 1]);
		close(fd);
	}
	return errmsg_set(e, ret[0] == -ESTALE ? ret[0] : ret[1], "snapshot '%s' is a diff, but "
			  "its parent was not found: '%s': %s; '%s': %s",
			  errmsg_path(c->dir[l]).s, errmsg_path(tried[0]).s, why[0],
			  errmsg_path(tried[1]).s, why[1]);
}

static int snap_open_layers(struct snap_chain *c, const char *dir, struct errmsg *e)
{
	char why[256] = "";
	int fd, ret;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e->bad_input = true;
		return errmsg_set(e, -errno, "--restore: '%s': %s", errmsg_path(dir).s,
				  strerror(errno));
	}
	snprintf(c->dir[0], sizeof(c->dir[0]), "%s", dir);
	c->dir_fd[0] = fd;
	c->nr = 1;
	ret = snap_io_read_state_at(fd, &c->state[0], why, sizeof(why));
	if (ret)
		return errmsg_set(e, ret, "snapshot '%s' refused: %s", errmsg_path(dir).s, why);
	for (unsigned int l = 0; c->state[l].has_parent; l++) {
		if (l + 1 == MEM_SNAP_MAX_LAYERS)
			return errmsg_set(e, -ELOOP, "snapshot '%s': the chain is longer than %u "
					  "snapshots (or loops back on itself)", errmsg_path(dir).s,
					  MEM_SNAP_MAX_LAYERS);
		ret = snap_open_parent(c, l, e);
		if (ret)
			return ret;
		c->nr = l + 2;
	}
	return 0;
}

/* Every layer must describe the same regions; the base full, the others diffs. */
static int snap_check_layers(const struct snap_chain *c, struct errmsg *e)
{
	const struct snap_state *top = &c->state[0];

	for (unsigned int l = 0; l < c->nr; l++) {
		const struct snap_state *s = &c->state[l];
		bool base = l == c->nr - 1;

		if (s->nr_regions != top->nr_regions)
			return errmsg_set(e, -EINVAL, "snapshot '%s' has %u memory regions, '%s' %u",
					  errmsg_path(c->dir[l]).s, s->nr_regions,
					  errmsg_path(c->dir[0]).s, top->nr_regions);
		for (unsigned int i = 0; i < s->nr_regions; i++) {
			const struct snap_region *a = &s->region[i], *b = &top->region[i];

			if (a->gpa != b->gpa || a->size != b->size || strcmp(a->role, b->role))
				return errmsg_set(e, -EINVAL, "snapshot '%s': region %u differs from "
						  "the one in '%s'", errmsg_path(c->dir[l]).s, i,
						  errmsg_path(c->dir[0]).s);
			if (base != !a->present)
				return errmsg_set(e, -EINVAL, "snapshot '%s': region %u is %s, but "
						  "the snapshot is %s of the chain",
						  errmsg_path(c->dir[l]).s, i,
						  a->present ? "a diff" : "full",
						  base ? "the base" : "not the base");
		}
	}
	return 0;
}

static int snap_open_region(struct snap_chain *c, unsigned int i, bool verify,
			    struct errmsg *e)
{
	struct mem_snap_src *src = &c->src[i];
	unsigned int bad = 0;
	int ret;

	src->size = c->state[0].region[i].size;
	src->nr_layers = c->nr;
	for (unsigned int k = 0; k < c->nr; k++) {
		/* src layers oldest first; chain states newest first. */
		unsigned int l = c->nr - 1 - k;
		const struct snap_region *r = &c->state[l].region[i];
		struct stat st;
		/* O_NONBLOCK: a FIFO put there must not block the open (it is refused below). */
		int fd = openat(c->dir_fd[l], r->file,
				O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		if (fd < 0)
			return errmsg_set(e, -errno, "snapshot '%s': memory file %s: %s",
					  errmsg_path(c->dir[l]).s, r->file,
					  errno == ELOOP ? "a symbolic link (refused)" :
					  errno == ENXIO ? "not a regular file" : strerror(errno));
		c->mem_fd[i][k] = fd;
		if (fstat(fd, &st))
			return errmsg_set(e, -errno, "snapshot '%s': %s: %s",
					  errmsg_path(c->dir[l]).s, r->file, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return errmsg_set(e, -EINVAL, "snapshot '%s': memory file %s is not a regular "
					  "file", errmsg_path(c->dir[l]).s, r->file);
		if ((uint64_t)st.st_size != r->size)
			return errmsg_set(e, -EINVAL, "snapshot '%s': memory file %s is %lld bytes, "
					  "region %u is %llu (truncated or not this snapshot's)",
					  errmsg_path(c->dir[l]).s, r->file, (long long)st.st_size, i,
					  (unsigned long long)r->size);
		if (verify && !r->chunk_bytes) {
			e->bad_input = true;
			return errmsg_set(e, -EINVAL, "verify=on: snapshot '%s' was saved without "
					  "checksums (snapshot ... verify=on)",
					  errmsg_path(c->dir[l]).s);
		}
		if (verify) {
			uint64_t chunk = 0;

			ret = mem_snap_file_verify(fd, r->size, r->chunk_bytes, r->chunk_sums, 0,
						   c->cancel, &chunk);
			if (ret == -ECANCELED)
				return errmsg_set(e, ret, "stopped while checking snapshot '%s'",
						  errmsg_path(c->dir[l]).s);
			if (ret == -EBADMSG)
				return errmsg_set(e, ret, "snapshot '%s': %s: checksum mismatch in "
						  "the chunk at offset 0x%llx (the file was altered or "
						  "damaged)", errmsg_path(c->dir[l]).s, r->file,
						  (unsigned long long)(chunk * r->chunk_bytes));
			if (ret)
				return errmsg_set(e, ret, "snapshot '%s': checking %s failed: %s",
						  errmsg_path(c->dir[l]).s, r->file, strerror(-ret));
		}
		src->layer[k].fd = fd;
		src->layer[k].present = r->present;
	}
	ret = mem_snap_src_init(src, &bad);
	if (ret)
		return errmsg_set(e, ret, "snapshot '%s': memory file of region %u does not fit the "
				  "chain: %s", errmsg_path(c->dir[c->nr - 1 - bad % c->nr]).s, i,
				  strerror(-ret));
	c->src_ready[i] = true;
	return 0;
}

int snap_chain_open(struct snap_chain *c, const char *dir, bool verify,
		    const atomic_bool *cancel, struct errmsg *e)
{
	int ret;

	for (unsigned int l = 0; l < MEM_SNAP_MAX_LAYERS; l++) {
		c->dir_fd[l] = -1;
		for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++)
			c->mem_fd[i][l] = -1;
	}
	e->bad_input = false;
	c->cancel = cancel;
	ret = snap_open_layers(c, dir, e);
	if (!ret)
		ret = snap_check_layers(c, e);
	for (unsigned int i = 0; !ret && i < c->state[0].nr_regions; i++)
		ret = snap_open_region(c, i, verify, e);
	return ret;
}

/* ---- the saved machine's configuration ------------------------------------ */

static int snap_backend(const char *name, const char *what, const struct mem_backend_ops **out,
			struct errmsg *e)
{
	*out = mem_backend_find(name);
	if (!*out)
		return errmsg_set(e, -EINVAL, "the snapshot's %s backend '%.32s' is unknown to this "
				  "memvmm", what, name);
	return 0;
}

static int snap_populate(const char *name, enum mem_populate_strategy *out, struct errmsg *e)
{
	if (mem_populate_parse(name, out))
		return errmsg_set(e, -EINVAL, "the snapshot's populate '%.32s' is unknown to this "
				  "memvmm", name);
	return 0;
}

/* Does the snapshot hold a region (gpa, size, role)? */
static bool snap_has_region(const struct snap_state *s, uint64_t gpa, uint64_t size,
			    const char *role)
{
	for (unsigned int i = 0; i < s->nr_regions; i++)
		if (s->region[i].gpa == gpa && s->region[i].size == size &&
		    !strcmp(s->region[i].role, role))
			return true;
	return false;
}

/*
 * The regions must be exactly the machine's: boot RAM as laid out for the
 * saved size, and the virtio-mem region when there is one. Checked before
 * KVM or any memory: a state whose regions leave RAM out would start it as
 * zeros.
 */
static int snap_check_regions(const struct snap_chain *c, const struct run_config *cfg,
			      struct errmsg *e)
{
	const struct snap_state *s = &c->state[0];
	struct mem_machine_layout m;
	unsigned int want;

	if (mem_machine_layout_build(cfg->mem_size, cfg->vmem.enabled ? cfg->vmem.size : 0, &m))
		return errmsg_set(e, -EINVAL, "the snapshot's machine (%lluK of RAM, a %lluK "
				  "virtio-mem region) cannot be laid out",
				  (unsigned long long)(cfg->mem_size >> 10),
				  (unsigned long long)(cfg->vmem.enabled ? cfg->vmem.size >> 10 : 0));
	want = m.ram.nr + (cfg->vmem.enabled ? 1 : 0);
	for (unsigned int i = 0; i < m.ram.nr; i++)
		if (!snap_has_region(s, m.ram.range[i].gpa, m.ram.range[i].size,
				     mem_role_name(MEM_ROLE_BOOT_RAM)))
			return errmsg_set(e, -EINVAL, "snapshot '%s' has no memory for RAM at 0x%llx "
					  "(%lluM), which its machine has",
					  errmsg_path(c->dir[0]).s,
					  (unsigned long long)m.ram.range[i].gpa,
					  (unsigned long long)(m.ram.range[i].size >> 20));
	if (cfg->vmem.enabled && !snap_has_region(s, m.hotplug_gpa, m.hotplug_size,
						  mem_role_name(MEM_ROLE_HOTPLUG)))
		return errmsg_set(e, -EINVAL, "snapshot '%s' has no memory for its virtio-mem "
				  "region at 0x%llx", errmsg_path(c->dir[0]).s,
				  (unsigned long long)m.hotplug_gpa);
	if (s->nr_regions != want)
		return errmsg_set(e, -EINVAL, "snapshot '%s' has %u memory regions, its machine %u",
				  errmsg_path(c->dir[0]).s, s->nr_regions, want);
	return 0;
}

int snapshot_run_config(const struct snap_chain *c, const struct run_config *user,
			struct run_config *cfg, char *cmdline_buf, size_t cmdline_len,
			struct errmsg *e)
{
	const struct snap_config *s = &c->state[0].cfg;
	int ret = 0;

	*cfg = *user;
	cfg->kernel = NULL;
	cfg->initrd = NULL;
	snprintf(cmdline_buf, cmdline_len, "%s", s->cmdline);
	cfg->cmdline = cmdline_buf;
	cfg->vcpus = s->vcpus;
	cfg->mem_size = s->mem_size;
	if (!user->backend)
		ret = snap_backend(s->backend, "RAM", &cfg->backend, e);
	/* The saved contents are the data: holes stay unbacked unless populate= says. */
	if (!user->populate_given)
		cfg->populate = MEM_POPULATE_NONE;
	if (c->state[0].nr_vcpus != s->vcpus)
		ret = errmsg_set(e, -EINVAL, "the snapshot holds %u vCPU states for %u vCPUs",
				 c->state[0].nr_vcpus, s->vcpus);
	if (!ret) {
		char why[256];

		/* The saved CPU model, as --cpu gave it (--cpu with --restore is refused). */
		if (cpu_model_parse(s->cpu, &cfg->cpu, why, sizeof(why)))
			ret = errmsg_set(e, -EINVAL, "the snapshot's CPU model '%.64s': %s", s->cpu,
					 why);
	}
	cfg->vmem = (struct run_vmem_config){ .enabled = s->vmem };
	if (!ret && s->vmem) {
		cfg->vmem.size = s->vmem_size;
		cfg->vmem.requested = s->vmem_requested;
		cfg->vmem.block = s->vmem_block;
		ret = snap_backend(s->vmem_backend, "virtio-mem region's", &cfg->vmem.backend, e);
		if (!ret)
			ret = snap_populate(s->vmem_populate, &cfg->vmem.populate, e);
	}
	cfg->balloon = (struct run_balloon_config){
		.enabled = s->balloon,
		.size = s->balloon_size,
		.deflate_on_oom = s->balloon_deflate_on_oom,
		.free_page_reporting = s->balloon_free_page_reporting,
		.stats = s->balloon_stats,
		.stats_s = s->balloon_stats_s,
	};
	if (!ret && cfg->backend && cfg->mem_size % cfg->backend->align)
		ret = errmsg_set(e, -EINVAL, "the snapshot's %lluK of RAM is not a multiple of "
				 "%lluK, which backend %s needs",
				 (unsigned long long)(cfg->mem_size >> 10),
				 (unsigned long long)(cfg->backend->align >> 10),
				 cfg->backend->name);
	if (ret == -EINVAL && user->backend && cfg->mem_size % user->backend->align)
		e->bad_input = true;
	return ret ? ret : snap_check_regions(c, cfg, e);
}
