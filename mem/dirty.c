// SPDX-License-Identifier: MIT
/*
 * Dirty-page tracking (mem/dirty.h): KVM's dirty log on each memslot, and
 * one VMM-side bitmap per region for what memvmm changes itself.
 *
 * The VMM-side bitmaps live in gm->dirty (NULL while tracking is off, the
 * one test marking pays then), indexed like gm->region[]. Whether a slot
 * logs is r->dirty_log, which guest_mem.c's slot install turns into
 * KVM_MEM_LOG_DIRTY_PAGES; mem_region_reinstall() applies a change to an
 * installed slot (KVM then changes only its flags, KVM_MR_FLAGS_ONLY).
 */
#include "mem/dirty.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "mem/kvm_compat.h"
#include "mem/snapshot.h"

struct mem_dirty {
	/* VMM-side bitmaps by region index, mem_snap_bitmap_words() words each. */
	_Atomic uint64_t *bits[MEM_MAX_REGIONS];
};

static unsigned int nr_entries(const struct guest_mem *gm)
{
	return gm->nr_regions < MEM_MAX_REGIONS ? gm->nr_regions : MEM_MAX_REGIONS;
}

/* KVM refuses KVM_MEM_LOG_DIRTY_PAGES on a slot with KVM_MEM_GUEST_MEMFD. */
static bool region_can_log(const struct mem_region *r)
{
	return !(r->ops->slot_flags & KVM_MEM_GUEST_MEMFD);
}

/* True if KVM keeps a dirty log for r's slot. */
static bool region_logs_in_kvm(const struct guest_mem *gm, const struct mem_region *r)
{
	return gm->vm_fd >= 0 && r->registered && r->dirty_log;
}

/* KVM_GET_DIRTY_LOG: the slot's log into bitmap (one bit per page), cleared in KVM. */
static int kvm_log_read(int vm_fd, uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	return ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

int mem_dirty_check(const struct guest_mem *gm, char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		const struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r) || region_can_log(r))
			continue;
		if (why && whylen)
			snprintf(why, whylen, "region %u (%s, %s): guest_memfd slots cannot log "
				 "dirty pages: KVM refuses KVM_MEM_LOG_DIRTY_PAGES on them", i,
				 mem_role_name(r->role), r->ops->name);
		return -EOPNOTSUPP;
	}
	return 0;
}

bool mem_dirty_active(const struct guest_mem *gm)
{
	return gm && gm->dirty;
}

/*
 * Read every logging slot's KVM log once and throw it away, so that the
 * next collect sees only what was written from now on.
 */
static int kvm_logs_drain(struct guest_mem *gm)
{
	uint64_t *scratch = NULL, scratch_words = 0;
	int ret = 0;

	for (unsigned int i = 0; i < nr_entries(gm) && !ret; i++) {
		const struct mem_region *r = &gm->region[i];
		uint64_t words = mem_snap_bitmap_words(r->size);

		if (!mem_region_in_use(r) || !region_logs_in_kvm(gm, r))
			continue;
		if (words > scratch_words) {
			free(scratch);
			scratch = malloc(words * sizeof(*scratch));
			if (!scratch)
				return -ENOMEM;
			scratch_words = words;
		}
		ret = kvm_log_read(gm->vm_fd, r->slot, scratch);
	}
	free(scratch);
	return ret;
}

/* Restart: drop what the VMM-side bitmaps and KVM's logs hold. */
static int dirty_restart(struct guest_mem *gm)
{
	struct mem_dirty *d = gm->dirty;

	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		uint64_t words = mem_snap_bitmap_words(gm->region[i].size);

		if (!mem_region_in_use(&gm->region[i]) || !d->bits[i])
			continue;
		for (uint64_t w = 0; w < words; w++)
			atomic_store_explicit(&d->bits[i][w], 0, memory_order_relaxed);
	}
	return kvm_logs_drain(gm);
}

int mem_dirty_start(struct guest_mem *gm)
{
	struct mem_dirty *d;
	int ret;

	ret = mem_dirty_check(gm, NULL, 0);
	if (ret)
		goto err;
	if (gm->dirty) {
		ret = dirty_restart(gm);
		if (ret)
			goto err;
		return 0;
	}

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	gm->dirty = d;
	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		if (!mem_region_in_use(&gm->region[i]))
			continue;
		d->bits[i] = calloc(mem_snap_bitmap_words(gm->region[i].size), sizeof(*d->bits[i]));
		if (!d->bits[i]) {
			ret = -ENOMEM;
			goto err;
		}
	}
	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r))
			continue;
		r->dirty_log = true;
		if (r->registered && gm->vm_fd >= 0) {
			ret = mem_region_reinstall(gm, i);
			if (ret) {
				r->dirty_log = false;   /* KVM left the slot as it was */
				goto err;
			}
		}
	}
	ret = kvm_logs_drain(gm);
	if (ret)
		goto err;
	return 0;

err:
	mem_dirty_stop(gm);
	return ret;
}

void mem_dirty_stop(struct guest_mem *gm)
{
	struct mem_dirty *d = gm ? gm->dirty : NULL;

	if (!d)
		return;
	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r) || !r->dirty_log)
			continue;
		r->dirty_log = false;
		/* A slot KVM refuses to change keeps logging: r->dirty_log says so. */
		if (r->registered && gm->vm_fd >= 0 && mem_region_reinstall(gm, i))
			r->dirty_log = true;
	}
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++)
		free(d->bits[i]);
	free(d);
	gm->dirty = NULL;
}

int mem_dirty_collect(struct guest_mem *gm, unsigned int index, uint64_t *out)
{
	const struct mem_region *r;
	_Atomic uint64_t *bits;
	uint64_t words;
	int ret;

	if (!gm || index >= nr_entries(gm) || !mem_region_in_use(&gm->region[index]))
		return -ENOENT;
	if (!gm->dirty || !gm->dirty->bits[index])
		return -EINVAL;
	r = &gm->region[index];
	bits = gm->dirty->bits[index];
	words = mem_snap_bitmap_words(r->size);

	memset(out, 0, words * sizeof(*out));
	if (region_logs_in_kvm(gm, r)) {
		ret = kvm_log_read(gm->vm_fd, r->slot, out);
		if (ret)
			return ret;
	}
	/*
	 * Take each word with an exchange: a mark racing with this lands
	 * either here or in the next collect. The load first keeps clean
	 * words' cache lines shared.
	 */
	for (uint64_t w = 0; w < words; w++)
		if (atomic_load_explicit(&bits[w], memory_order_relaxed))
			out[w] |= atomic_exchange_explicit(&bits[w], 0, memory_order_acquire);
	return 0;
}

/* Set bits [first, last] (first <= last, both inside the bitmap). */
static void bits_set(_Atomic uint64_t *bits, uint64_t first, uint64_t last)
{
	uint64_t first_word = first / 64, last_word = last / 64;

	for (uint64_t w = first_word; w <= last_word; w++) {
		unsigned int lo = w == first_word ? first % 64 : 0;
		unsigned int hi = w == last_word ? last % 64 : 63;
		uint64_t mask = (~0ull >> (63 - hi)) & (~0ull << lo);

		/* Skip the locked write when every bit is set already (hot pages). */
		if ((atomic_load_explicit(&bits[w], memory_order_relaxed) & mask) != mask)
			atomic_fetch_or_explicit(&bits[w], mask, memory_order_release);
	}
}

void mem_dirty_mark_tracked(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct mem_dirty *d = gm->dirty;
	uint64_t last;

	if (!d || !len)
		return;
	/* The last byte; a range running past 2^64 ends there (no region goes further). */
	last = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + (len - 1);
	for (unsigned int i = 0; i < nr_entries(gm); i++) {
		const struct mem_region *r = &gm->region[i];
		uint64_t r_last, lo, hi;

		if (!mem_region_in_use(r) || !d->bits[i])
			continue;
		r_last = r->gpa + (r->size - 1);   /* regions never wrap (mem_region_add) */
		if (gpa > r_last || last < r->gpa)
			continue;
		lo = (gpa > r->gpa ? gpa : r->gpa) - r->gpa;
		hi = (last < r_last ? last : r_last) - r->gpa;
		bits_set(d->bits[i], lo / MEM_PAGE_BYTES, hi / MEM_PAGE_BYTES);
	}
}

int mem_dirty_region_added(struct guest_mem *gm, unsigned int index)
{
	struct mem_dirty *d = gm->dirty;
	struct mem_region *r;

	if (!d)
		return 0;
	if (index >= MEM_MAX_REGIONS || !mem_region_in_use(&gm->region[index]))
		return -ENOENT;
	r = &gm->region[index];
	if (!region_can_log(r))
		return -EOPNOTSUPP;
	free(d->bits[index]);   /* none: a removed region's went with it */
	d->bits[index] = calloc(mem_snap_bitmap_words(r->size), sizeof(*d->bits[index]));
	if (!d->bits[index])
		return -ENOMEM;
	r->dirty_log = true;
	return 0;
}

void mem_dirty_region_removed(struct guest_mem *gm, unsigned int index)
{
	if (!gm->dirty || index >= MEM_MAX_REGIONS)
		return;
	free(gm->dirty->bits[index]);
	gm->dirty->bits[index] = NULL;
}
