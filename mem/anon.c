// SPDX-License-Identifier: MIT
/*
 * anon backend: private anonymous memory, no fd. MAP_NORESERVE so that a
 * large, mostly idle guest does not count against overcommit up front.
 * Discard is MADV_DONTNEED, which frees private anonymous pages (it would
 * not free anything for a shared file mapping; those use a punched hole).
 *
 * A 4 KiB discard inside a transparent huge page splits its mapping and
 * frees the page's mapping at once (it reads zero after, RSS falls by 4 KiB),
 * but the kernel returns the 2 MiB folio's memory only when its deferred
 * split runs (under memory pressure); memfd's punched hole splits and frees
 * at once.
 *
 * Residency is mincore() on the mapping. Note that reading a discarded or
 * never-written page maps the shared zero page, which mincore() reports as
 * resident although it costs no memory.
 */
#include "mem/backend.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>

/*
 * Name the mapping ("[anon:memvmm-ram-<slot>]" in /proc/PID/maps). Besides
 * telling users what it is, a name keeps the kernel from merging two
 * regions' mappings into one, so smaps measures each region on its own
 * (mem/thp.c). Kernels without CONFIG_ANON_VMA_NAME answer EINVAL: then the
 * mapping stays unnamed, which costs only that.
 */
static int anon_name(struct mem_region *r)
{
	char name[32];

	snprintf(name, sizeof(name), "memvmm-ram-%u", r->slot);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)r->hva, r->size,
		  (unsigned long)name) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

static int anon_create(struct mem_region *r, int vm_fd)
{
	int ret = __mem_region_map(r, -1, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);

	if (!ret) {
		ret = anon_name(r);
		if (ret)
			mem_region_release(r);
	}
	return ret;
}

static int anon_discard(struct mem_region *r, uint64_t off, uint64_t len)
{
	int ret = mem_region_check_range(r, off, len);

	if (ret)
		return ret;
	if (madvise(r->hva + off, len, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

/* populate=auto, fastest first (README's decision table, bench/RESULTS.md). */
static const enum mem_populate_strategy anon_populate_order[] = {
	MEM_POPULATE_MADVISE, MEM_POPULATE_NONE,
};

const struct mem_backend_ops mem_backend_anon = {
	.name = "anon",
	.align = MEM_PAGE_BYTES,
	.slot_flags = 0,
	.supported = mem_backend_always_supported,
	.create = anon_create,
	.destroy = mem_region_release,
	.discard = anon_discard,
	.resident = mem_region_mincore,
	.populate_order = anon_populate_order,
	.populate_order_len = MEM_ARRAY_LEN(anon_populate_order),
	.memcg_charged = true,
	.thp = MEM_THP_KIND_ANON,
};
