// SPDX-License-Identifier: MIT
/*
 * Guest RAM: the regions of the layout, their KVM memslots, and
 * bounds-checked access by guest-physical address.
 *
 * Addresses and lengths here often come from the guest, so every range is
 * checked without forming gpa + len (which could wrap): a range is walked
 * region by region, and each step stays below a region's end.
 *
 * Regions keep their index in gm->region[] for life; a removed one leaves
 * an unused entry (ops NULL) that the next mem_region_add() fills. Memslot
 * numbers come from a bitmap, lowest free first, and go back on removal.
 */
#include "mem/backend.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "mem/dirty.h"
#include "mem/kvm_compat.h"

static const char *const mem_role_names[MEM_ROLE_NR] = {
	[MEM_ROLE_BOOT_RAM] = "ram",
	[MEM_ROLE_HOTPLUG] = "hotplug",
	[MEM_ROLE_DEVICE] = "device",
};

const char *mem_role_name(enum mem_role r)
{
	return (unsigned int)r < MEM_ROLE_NR ? mem_role_names[r] : NULL;
}

/* Index of the region holding [gpa, gpa+len) wholly (len may be 0), or -1. */
static int region_index(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr_regions && i < MEM_MAX_REGIONS; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return (int)i;
	}
	return -1;
}

/* Called for each piece of a range: its host address and offset into the range. */
typedef void (*mem_piece_fn)(uint8_t *hva, size_t done, size_t n, void *ctx);

/*
 * Walk [gpa, gpa+len) region by region, calling fn (if not NULL) per piece.
 * -EFAULT at the first byte outside RAM, after fn has seen the pieces before
 * it; range_access() therefore walks once without fn first. An empty range
 * is RAM.
 */
static int range_walk(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		      mem_piece_fn fn, void *ctx)
{
	uint64_t done = 0;

	while (done < len) {
		/* gpa + done cannot wrap: the bytes before it were all RAM. */
		uint64_t cur = gpa + done;
		int i = region_index(gm, cur, 1);
		const struct mem_region *r;
		uint64_t off, n;

		if (i < 0)
			return -EFAULT;
		r = &gm->region[i];
		off = cur - r->gpa;
		n = r->size - off;
		if (n > len - done)
			n = len - done;
		if (fn)
			fn(r->hva + off, done, n, ctx);
		done += n;
	}
	return 0;
}

bool mem_range_is_ram(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return range_walk(gm, gpa, len, NULL, NULL) == 0;
}

void *mem_gpa_to_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	int i = region_index(gm, gpa, len);

	return i < 0 ? NULL : gm->region[i].hva + (gpa - gm->region[i].gpa);
}

static void piece_write(uint8_t *hva, size_t done, size_t n, void *ctx)
{
	memcpy(hva, (const uint8_t *)ctx + done, n);
}

static void piece_read(uint8_t *hva, size_t done, size_t n, void *ctx)
{
	memcpy((uint8_t *)ctx + done, hva, n);
}

static void piece_zero(uint8_t *hva, size_t done, size_t n, void *ctx)
{
	memset(hva, 0, n);
}

/* Check the whole range first, so that a failed access changes nothing. */
static int range_access(const struct guest_mem *gm, uint64_t gpa, size_t len,
			mem_piece_fn fn, void *ctx)
{
	int ret = range_walk(gm, gpa, len, NULL, NULL);

	if (ret)
		return ret;
	return range_walk(gm, gpa, len, fn, ctx);
}

int mem_write(struct guest_mem *gm, uint64_t gpa, const void *buf, size_t len)
{
	int ret = range_access(gm, gpa, len, piece_write, (void *)buf);

	if (!ret)
		mem_dirty_mark(gm, gpa, len);
	return ret;
}

int mem_read(const struct guest_mem *gm, uint64_t gpa, void *buf, size_t len)
{
	return range_access(gm, gpa, len, piece_read, buf);
}

int mem_zero(struct guest_mem *gm, uint64_t gpa, size_t len)
{
	int ret = range_access(gm, gpa, len, piece_zero, NULL);

	if (!ret)
		mem_dirty_mark(gm, gpa, len);
	return ret;
}

int mem_discard(struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	int i = region_index(gm, gpa, len), ret;
	struct mem_region *r;

	if (i < 0)
		return -EINVAL;
	r = &gm->region[i];
	/* The backend checks that the range is non-empty and aligned. */
	ret = r->ops->discard(r, gpa - r->gpa, len);
	/* Even on failure: part of the range may read zero now. */
	mem_dirty_mark(gm, gpa, len);
	return ret;
}

int mem_resident(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		 uint64_t *bytes)
{
	int i = region_index(gm, gpa, len);
	const struct mem_region *r;

	if (i < 0)
		return -EINVAL;
	r = &gm->region[i];
	return r->ops->resident(r, gpa - r->gpa, len, bytes);
}

/* Lowest free slot number below gm->slot_limit, marked used; -ENOSPC if none. */
static int slot_alloc(struct guest_mem *gm, uint32_t *slot)
{
	for (unsigned int s = 0; s < gm->slot_limit && s < MEM_MAX_SLOTS; s++) {
		uint64_t bit = 1ull << (s % 64);

		if (!(gm->slot_used[s / 64] & bit)) {
			gm->slot_used[s / 64] |= bit;
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

static void slot_free(struct guest_mem *gm, uint32_t slot)
{
	if (slot < MEM_MAX_SLOTS)
		gm->slot_used[slot / 64] &= ~(1ull << (slot % 64));
}

/* The region of index, or NULL if there is none in use there. */
static struct mem_region *region_at(struct guest_mem *gm, unsigned int index)
{
	if (!gm || index >= gm->nr_regions || index >= MEM_MAX_REGIONS ||
	    !mem_region_in_use(&gm->region[index]))
		return NULL;
	return &gm->region[index];
}

/* True if [gpa, gpa+size) (non-empty, not wrapping) overlaps a region in use. */
static bool overlaps_region(const struct guest_mem *gm, uint64_t gpa, uint64_t size)
{
	uint64_t last = gpa + (size - 1);

	for (unsigned int i = 0; i < gm->nr_regions && i < MEM_MAX_REGIONS; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && gpa <= r->gpa + (r->size - 1) && r->gpa <= last)
			return true;
	}
	return false;
}

/*
 * Check spec against gm, then create and map it in the lowest free entry
 * with a fresh slot. Boot RAM goes through here too (from mem_create()).
 */
static int region_add(struct guest_mem *gm, const struct mem_region_spec *spec,
		      unsigned int *index)
{
	const struct mem_backend_ops *ops = spec->backend;
	struct mem_region *r;
	unsigned int i;
	uint32_t slot;
	int ret;

	if (!ops || (unsigned int)spec->role >= MEM_ROLE_NR || !spec->size || !ops->align)
		return -EINVAL;
	if (spec->gpa % MEM_PAGE_BYTES || spec->size % MEM_PAGE_BYTES ||
	    spec->gpa % ops->align || spec->size % ops->align)
		return -EINVAL;
	if (spec->size - 1 > UINT64_MAX - spec->gpa)
		return -EINVAL;   /* the range would wrap past 2^64 */
	if (overlaps_region(gm, spec->gpa, spec->size))
		return -EEXIST;
	for (i = 0; i < MEM_MAX_REGIONS; i++)
		if (!mem_region_in_use(&gm->region[i]))
			break;
	if (i == MEM_MAX_REGIONS)
		return -ENOSPC;
	ret = slot_alloc(gm, &slot);
	if (ret)
		return ret;

	r = &gm->region[i];
	*r = (struct mem_region){
		.gpa = spec->gpa,
		.size = spec->size,
		.fd = -1,
		.slot = slot,
		.role = spec->role,
		.thp_advice = spec->thp_advice,
		.ops = ops,
	};
	ret = ops->create(r, gm->vm_fd);
	if (!ret) {
		ret = mem_region_advise_thp(r);
		if (!ret)
			ret = mem_dirty_region_added(gm, i);
		if (ret)
			ops->destroy(r);
	}
	if (ret) {
		slot_free(gm, slot);
		*r = (struct mem_region){ .fd = -1 };
		return ret;
	}
	if (i >= gm->nr_regions)
		gm->nr_regions = i + 1;
	if (index)
		*index = i;
	return 0;
}

int mem_region_add(struct guest_mem *gm, const struct mem_region_spec *spec,
		   unsigned int *index)
{
	/* gm->ops is set by mem_create(): adding needs a created gm. */
	if (!gm || !gm->ops || !spec || spec->role == MEM_ROLE_BOOT_RAM)
		return -EINVAL;
	return region_add(gm, spec, index);
}

int mem_create(struct guest_mem *gm, const struct mem_config *cfg, int vm_fd,
	       unsigned *failed_region)
{
	struct mem_layout layout;
	unsigned i = 0;
	int ret;

	memset(gm, 0, sizeof(*gm));
	gm->vm_fd = vm_fd;
	if (failed_region)
		*failed_region = 0;
	if (!cfg || !cfg->backend)
		return -EINVAL;
	gm->slot_limit = cfg->nr_slots && cfg->nr_slots < MEM_MAX_SLOTS ? cfg->nr_slots :
		MEM_MAX_SLOTS;
	ret = mem_layout_build(cfg->size, &layout);
	if (ret)
		return ret;
	gm->ram_size = cfg->size;
	gm->ops = cfg->backend;

	for (i = 0; i < layout.nr; i++) {
		const struct mem_region_spec spec = {
			.gpa = layout.range[i].gpa,
			.size = layout.range[i].size,
			.role = MEM_ROLE_BOOT_RAM,
			.backend = cfg->backend,
			.thp_advice = cfg->thp_advice,
		};

		/* Counted only once created, so mem_destroy() can roll back. */
		ret = region_add(gm, &spec, NULL);
		if (ret)
			goto err;
	}
	return 0;

err:
	if (failed_region)
		*failed_region = i;
	mem_destroy(gm);
	return ret;
}

/* The backend's slot flags, plus dirty logging while tracking (mem/dirty.h). */
static uint32_t slot_flags(const struct mem_region *r)
{
	return r->ops->slot_flags | (r->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

/* Install r as memslot r->slot; REGION2 can name the guest_memfd behind it. */
static int slot_install(int vm_fd, const struct mem_region *r, bool use_region2)
{
	int ret;

	if (use_region2) {
		struct kvm_userspace_memory_region2 m = {
			.slot = r->slot,
			.flags = slot_flags(r),
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (m.flags & KVM_MEM_GUEST_MEMFD) {
			m.guest_memfd = (uint32_t)r->fd;
			m.guest_memfd_offset = 0;
		}
		ret = ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &m);
	} else {
		/* Never a backend's flags here (needs_region2()): at most the dirty log. */
		struct kvm_userspace_memory_region m = {
			.slot = r->slot,
			.flags = slot_flags(r),
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		ret = ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
	}
	return ret < 0 ? -errno : 0;
}

/*
 * Delete r's memslot (size 0). The old ioctl deletes a slot on every
 * kernel, whichever ioctl installed it.
 */
static int slot_delete(int vm_fd, const struct mem_region *r)
{
	struct kvm_userspace_memory_region m = { .slot = r->slot };

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0 ? -errno : 0;
}

/* The old ioctl cannot describe a slot with flags (a guest_memfd one). */
static bool needs_region2(const struct mem_region *r)
{
	return r->ops->slot_flags != 0;
}

int mem_region_register(struct guest_mem *gm, unsigned int index, bool use_region2)
{
	struct mem_region *r = region_at(gm, index);
	int ret;

	if (!r)
		return -ENOENT;
	if (r->registered)
		return -EEXIST;
	if (!use_region2 && needs_region2(r))
		return -EOPNOTSUPP;
	ret = slot_install(gm->vm_fd, r, use_region2);
	if (ret)
		return ret;
	r->registered = true;
	return 0;
}

int mem_region_reinstall(struct guest_mem *gm, unsigned int index)
{
	struct mem_region *r = region_at(gm, index);

	if (!r || !r->registered)
		return -ENOENT;
	/* The old ioctl changes the flags of any slot without backend flags. */
	return slot_install(gm->vm_fd, r, needs_region2(r));
}

int mem_register(struct guest_mem *gm, bool use_region2)
{
	bool installed[MEM_MAX_REGIONS] = { false };
	unsigned int i, todo = 0;
	int ret = 0;

	for (i = 0; i < gm->nr_regions && i < MEM_MAX_REGIONS; i++) {
		const struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r) || r->registered)
			continue;
		if (!use_region2 && needs_region2(r))
			return -EOPNOTSUPP;
		todo++;
	}
	if (!todo)
		return -EEXIST;

	for (i = 0; i < gm->nr_regions && i < MEM_MAX_REGIONS; i++) {
		struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r) || r->registered)
			continue;
		ret = slot_install(gm->vm_fd, r, use_region2);
		if (ret)
			goto err;
		r->registered = installed[i] = true;
	}
	return 0;

err:
	while (i-- > 0) {
		/* Best effort: the install error is the one to report. */
		if (installed[i] && slot_delete(gm->vm_fd, &gm->region[i]) == 0)
			gm->region[i].registered = false;
	}
	return ret;
}

int mem_region_remove(struct guest_mem *gm, unsigned int index)
{
	struct mem_region *r = region_at(gm, index);
	int ret;

	if (!r)
		return -ENOENT;
	if (r->role == MEM_ROLE_BOOT_RAM)
		return -EINVAL;
	/* Unmapping memory KVM still maps would leave the guest a dangling slot. */
	if (r->registered) {
		ret = slot_delete(gm->vm_fd, r);
		if (ret)
			return ret;
		r->registered = false;
	}
	r->ops->destroy(r);
	mem_dirty_region_removed(gm, index);
	slot_free(gm, r->slot);
	*r = (struct mem_region){ .fd = -1 };
	while (gm->nr_regions > 0 && !mem_region_in_use(&gm->region[gm->nr_regions - 1]))
		gm->nr_regions--;
	return 0;
}

void mem_destroy(struct guest_mem *gm)
{
	unsigned n;

	if (!gm)
		return;
	/* Slots back without the dirty log, bitmaps freed (before anything goes). */
	mem_dirty_stop(gm);
	n = gm->nr_regions < MEM_MAX_REGIONS ? gm->nr_regions : MEM_MAX_REGIONS;
	/*
	 * Delete slots before unmapping. A failure cannot be acted on here;
	 * closing the VM fd frees the slot in any case.
	 */
	for (unsigned i = 0; i < n; i++)
		if (mem_region_in_use(&gm->region[i]) && gm->region[i].registered)
			(void)slot_delete(gm->vm_fd, &gm->region[i]);
	for (unsigned i = n; i-- > 0;)
		if (mem_region_in_use(&gm->region[i]))
			gm->region[i].ops->destroy(&gm->region[i]);
	memset(gm, 0, sizeof(*gm));
}
