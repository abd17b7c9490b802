/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: the guest-physical layout, the backends that provide host
 * memory for it, and bounds-checked access to it.
 *
 * Every fallible function returns 0 or a negative errno and prints nothing;
 * the command-line front end decides what to tell the user.
 */
#ifndef MEMVMM_MEM_H
#define MEMVMM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/machine.h"

#define MEM_WUR __attribute__((warn_unused_result))

#define MEM_PAGE_BYTES        4096ull
#define MEM_HUGE_PAGE_BYTES   (2ull << 20)
/* RAM below 4 GiB ends here; [hole start, 4 GiB) is left for MMIO (mem/machine.h). */
#define MEM_MMIO_HOLE_START   MACHINE_MMIO_HOLE_START
#define MEM_MMIO_HOLE_END     MACHINE_MMIO_HOLE_END
#define MEM_HIGH_RAM_START    MACHINE_HIGH_RAM_START
#define MEM_MIN_BYTES         (4ull << 20)
#define MEM_MAX_BYTES         (1ull << 40)
/* Regions of one guest: boot RAM (at most MEM_LAYOUT_MAX_RANGES) plus added ones. */
#define MEM_MAX_REGIONS       16
/* KVM memslot numbers handed out at most (KVM_CAP_NR_MEMSLOTS may lower it). */
#define MEM_MAX_SLOTS         512u
/* Boot RAM ranges: below the MMIO hole, and above 4 GiB. */
#define MEM_LAYOUT_MAX_RANGES 2

/* Where boot RAM sits in guest-physical space for a given size. */
struct mem_layout {
	unsigned nr;
	struct {
		uint64_t gpa;
		uint64_t size;
	} range[MEM_LAYOUT_MAX_RANGES];
};

/*
 * Lay out ram_size bytes: [0, min(size, hole start)), the rest from 4 GiB.
 * -EINVAL if ram_size is not a multiple of MEM_PAGE_BYTES or outside
 * [MEM_MIN_BYTES, MEM_MAX_BYTES].
 */
int mem_layout_build(uint64_t ram_size, struct mem_layout *out) MEM_WUR;

/*
 * The whole guest-physical machine, described once: boot RAM, the hotplug
 * (virtio-mem) region, and the PCI MMIO windows BARs are assigned from.
 * ACPI tables and the PCI host take their windows from here.
 */
struct mem_machine_layout {
	struct mem_layout ram;
	uint64_t hotplug_gpa;     /* MACHINE_HOTPLUG_ALIGN-aligned, >= 4 GiB, above RAM */
	uint64_t hotplug_size;    /* 0: no hotplug region */
	uint64_t pci_mmio32_base; /* 32-bit BARs: [base, base + size) */
	uint64_t pci_mmio32_size;
	uint64_t pci_mmio64_base; /* 64-bit BARs: above everything else */
	uint64_t pci_mmio64_size;
};

/*
 * Lay out ram_size bytes of boot RAM (as mem_layout_build()) and a hotplug
 * region of hotplug_size bytes (0: none; else a multiple of
 * MACHINE_HOTPLUG_ALIGN, at most MEM_MAX_BYTES), then the PCI windows
 * (mem/machine.h). -EINVAL for sizes it refuses.
 */
int mem_machine_layout_build(uint64_t ram_size, uint64_t hotplug_size,
			     struct mem_machine_layout *out) MEM_WUR;

struct mem_region;

/* How memory is populated before the guest runs (see mem/populate.h). */
enum mem_populate_strategy {
	MEM_POPULATE_AUTO,
	MEM_POPULATE_NONE,
	MEM_POPULATE_FALLOCATE,
	MEM_POPULATE_MADVISE,
	MEM_POPULATE_WRITE,
	MEM_POPULATE_NR,
};

/* --memory thp=: transparent huge pages for guest RAM (see mem/thp.h). */
enum mem_thp_mode {
	MEM_THP_AUTO,    /* where the host allows them, saying what was done */
	MEM_THP_ON,      /* required: refused where the host cannot */
	MEM_THP_OFF,     /* MADV_NOHUGEPAGE */
	MEM_THP_NR_MODES,
};

/* Which host settings give a backend's memory 2 MiB pages (mem/thp.h). */
enum mem_thp_kind {
	MEM_THP_KIND_NONE,      /* never huge (guest_memfd: no huge folios yet) */
	MEM_THP_KIND_ANON,      /* anonymous THP */
	MEM_THP_KIND_SHMEM,     /* shmem THP */
	MEM_THP_KIND_HUGETLB,   /* always 2 MiB pages */
};

/* What a region's mapping is advised at creation. */
enum mem_thp_advice {
	MEM_THP_ADVICE_NONE,     /* nothing: the host's default */
	MEM_THP_ADVICE_HUGE,     /* MADV_HUGEPAGE */
	MEM_THP_ADVICE_NOHUGE,   /* MADV_NOHUGEPAGE */
};

/*
 * One backend = one file in mem/ exporting one const table of these.
 * The differences between backends live here, not in if-chains.
 */
struct mem_backend_ops {
	const char *name;
	/* Region sizes and discard ranges must be multiples of this. */
	uint64_t align;
	/* Extra KVM memslot flags (KVM_MEM_GUEST_MEMFD for guest_memfd). */
	uint32_t slot_flags;
	/*
	 * 0 if this kernel/VM can use the backend, else -EOPNOTSUPP with a
	 * short reason (e.g. "KVM_CAP_GUEST_MEMFD_FLAGS is 0x1, lacks
	 * INIT_SHARED") written to why.
	 */
	int (*supported)(int vm_fd, char *why, size_t whylen);
	/* Allocate and map r->size bytes: fills r->hva and r->fd (-1 if none). */
	int (*create)(struct mem_region *r, int vm_fd);
	void (*destroy)(struct mem_region *r);
	/* Give [off, off+len) of the region back to the host; it reads zero after. */
	int (*discard)(struct mem_region *r, uint64_t off, uint64_t len);
	/* Bytes of [off, off+len) backed by host memory right now. */
	int (*resident)(const struct mem_region *r, uint64_t off, uint64_t len,
			uint64_t *bytes);
	/*
	 * Optional: after create() of size bytes failed with err, write what
	 * the host lacks (e.g. free huge pages) to buf; "" when nothing to add.
	 */
	void (*explain_create_error)(uint64_t size, int err, char *buf, size_t len);
	/*
	 * populate=auto: the strategies to try, fastest first on the kernels
	 * measured (bench/RESULTS.md), ending with MEM_POPULATE_NONE. This is
	 * the backend's row of the README's decision table.
	 */
	const enum mem_populate_strategy *populate_order;
	unsigned int populate_order_len;   /* entries in populate_order */
	/*
	 * The memory cgroup controller charges this backend's memory to the
	 * process's cgroup (shmem, guest_memfd and anonymous pages are; hugetlb
	 * pages are not, unless cgroup v2 is mounted with
	 * memory_hugetlb_accounting), so a memory limit bounds how much can be
	 * populated.
	 */
	bool memcg_charged;
	/* Which host THP settings apply (mem/thp.h). */
	enum mem_thp_kind thp;
	/*
	 * NULL: MADV_PAGEOUT can reclaim this backend's memory (to swap,
	 * mem/pageout.h); else why it cannot, in words, for the refusal.
	 */
	const char *no_pageout;
};

extern const struct mem_backend_ops mem_backend_guest_memfd;
extern const struct mem_backend_ops mem_backend_memfd;
extern const struct mem_backend_ops mem_backend_anon;
extern const struct mem_backend_ops mem_backend_hugetlb;

/*
 * 2 MiB huge pages a new hugetlb region could still reserve (free minus
 * already reserved) and the size of the pool, for error messages.
 */
int mem_hugetlb_free_pages(uint64_t *free_pages, uint64_t *total_pages) MEM_WUR;

/* All backends, NULL-terminated, in the order help text lists them. */
extern const struct mem_backend_ops *const mem_backends[];

/* Backend by name ("guest_memfd", "memfd", "anon", "hugetlb"), or NULL. */
const struct mem_backend_ops *mem_backend_find(const char *name);

/*
 * The default: guest_memfd when supported, else memfd. When it falls back,
 * *why_not_gmem gets the reason guest_memfd was not used (for a one-line
 * note); it is set to "" otherwise.
 */
const struct mem_backend_ops *mem_backend_default(int vm_fd, char *why_not_gmem,
						  size_t whylen);

/*
 * What a region is for. Only boot RAM is in the guest's memory map (e820 /
 * PVH memmap) and in ram_size; hotplug memory (virtio-mem) and device
 * memory are found by the guest through their device.
 */
enum mem_role {
	MEM_ROLE_BOOT_RAM = 0,
	MEM_ROLE_HOTPLUG,
	MEM_ROLE_DEVICE,
	MEM_ROLE_NR,
};

/* "ram", "hotplug", "device"; NULL for anything else. */
const char *mem_role_name(enum mem_role r);

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;                 /* backing fd, -1 when there is none (anon) */
	uint32_t slot;          /* KVM memslot number, allocated (not the index) */
	bool registered;        /* slot is installed in KVM */
	bool dirty_log;         /* its slot has KVM_MEM_LOG_DIRTY_PAGES (mem/dirty.h) */
	enum mem_role role;
	enum mem_thp_advice thp_advice;      /* given to the mapping at creation */
	const struct mem_backend_ops *ops;   /* NULL: an unused entry (a removed region) */
};

/*
 * True for a region in use; entries below nr_regions can be unused after
 * mem_region_remove() (indices of the other regions do not move).
 */
static inline bool mem_region_in_use(const struct mem_region *r)
{
	return r->ops != NULL;
}

/* True for a region in use whose role is boot RAM: what the guest's memory map lists. */
static inline bool mem_region_is_boot_ram(const struct mem_region *r)
{
	return mem_region_in_use(r) && r->role == MEM_ROLE_BOOT_RAM;
}

struct mem_config {
	uint64_t size;                          /* total boot RAM bytes */
	const struct mem_backend_ops *backend;  /* never NULL */
	/* KVM_CAP_NR_MEMSLOTS, or 0 if unknown: slots come from [0, min(this, MEM_MAX_SLOTS)). */
	uint32_t nr_slots;
	/* For every boot RAM region (mem_thp_decide() says which, mem/thp.h). */
	enum mem_thp_advice thp_advice;
};

#define MEM_SLOT_WORDS (MEM_MAX_SLOTS / 64)

struct mem_dirty;

struct guest_mem {
	struct mem_region region[MEM_MAX_REGIONS];
	unsigned nr_regions;    /* one past the last entry in use (see mem_region_in_use) */
	uint64_t ram_size;      /* boot RAM only */
	const struct mem_backend_ops *ops;   /* boot RAM's backend */
	int vm_fd;
	unsigned int slot_limit;             /* slots are numbered below this */
	uint64_t slot_used[MEM_SLOT_WORDS];  /* bitmap of allocated slot numbers */
	struct mem_dirty *dirty;             /* dirty-page tracking (mem/dirty.h); NULL: off */
};

/* What mem_region_add() creates. */
struct mem_region_spec {
	uint64_t gpa;
	uint64_t size;
	enum mem_role role;                     /* MEM_ROLE_HOTPLUG or MEM_ROLE_DEVICE */
	const struct mem_backend_ops *backend;  /* never NULL; may differ from gm->ops */
	enum mem_thp_advice thp_advice;
};

/*
 * Create and map every boot RAM region of the layout with cfg->backend
 * (role MEM_ROLE_BOOT_RAM, slots allocated from 0 up, so 0 and 1).
 * -EINVAL for sizes the backend cannot take (hugetlb: not a multiple of
 * 2 MiB). On failure everything created so far is released.
 * *failed_region (may be NULL) gets the index of the region that failed.
 */
int mem_create(struct guest_mem *gm, const struct mem_config *cfg, int vm_fd,
	       unsigned *failed_region) MEM_WUR;

/*
 * Install every region not yet installed as a KVM memslot (its allocated
 * slot). Uses KVM_SET_USER_MEMORY_REGION2 when use_region2, else the old
 * ioctl (-EOPNOTSUPP then, before installing anything, if one of them has
 * a backend with slot_flags). -EEXIST when every region is installed
 * already. On failure the slots this call installed are removed again.
 */
int mem_register(struct guest_mem *gm, bool use_region2) MEM_WUR;

/*
 * Regions added after mem_create(): hotplug (virtio-mem) or device memory.
 *
 * mem_region_add() creates and maps spec->size bytes at spec->gpa with
 * spec->backend and allocates a memslot, but does not install it in KVM
 * (mem_region_register() or mem_register() does). *index (may be NULL)
 * gets the region's index in gm->region[]; indices stay valid until that
 * region is removed. -EINVAL for a NULL/unknown backend or role, boot RAM
 * role, an empty range, a gpa or size not aligned to the page and the
 * backend, or a range that wraps past 2^64; -EEXIST if it overlaps a
 * region; -ENOSPC without a free entry or slot; the backend's error;
 * while dirty tracking is on (mem/dirty.h), -EOPNOTSUPP for a backend
 * whose slots cannot log dirty pages (guest_memfd).
 *
 * mem_region_register() installs one region (-ENOENT: no such region,
 * -EEXIST: installed already, -EOPNOTSUPP as mem_register()).
 *
 * mem_region_remove() deletes its slot (if installed), unmaps and frees
 * it, and frees the slot number. -ENOENT: no such region; -EINVAL for
 * boot RAM (it lives until mem_destroy()); KVM's error if the slot could
 * not be deleted, the region then left as it was.
 *
 * None of these three lock: the caller serializes them against every
 * other use of gm (the VMM does them before the vCPUs start or while the
 * VM is paused, or under its own lock).
 */
int mem_region_add(struct guest_mem *gm, const struct mem_region_spec *spec,
		   unsigned int *index) MEM_WUR;
int mem_region_register(struct guest_mem *gm, unsigned int index, bool use_region2) MEM_WUR;
int mem_region_remove(struct guest_mem *gm, unsigned int index) MEM_WUR;

/*
 * Install region index's slot, installed already, again with the flags it
 * has now (the backend's, plus KVM_MEM_LOG_DIRTY_PAGES while r->dirty_log):
 * KVM changes only the flags. For mem/dirty.c. -ENOENT: no such region, or
 * not installed; KVM's error, the slot then left as it was.
 */
int mem_region_reinstall(struct guest_mem *gm, unsigned int index) MEM_WUR;

/* Remove slots, unmap, close. Safe on a zeroed or partially created gm. */
void mem_destroy(struct guest_mem *gm);

/*
 * Access by guest-physical address covers every region in use, whatever
 * its role ("RAM" below means any of them).
 *
 * Host pointer for [gpa, gpa+len) if it lies wholly inside one region, else NULL.
 */
void *mem_gpa_to_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Bounds-checked copies; -EFAULT if any byte is outside RAM. May cross regions. */
int mem_write(struct guest_mem *gm, uint64_t gpa, const void *buf, size_t len) MEM_WUR;
int mem_read(const struct guest_mem *gm, uint64_t gpa, void *buf, size_t len) MEM_WUR;
int mem_zero(struct guest_mem *gm, uint64_t gpa, size_t len) MEM_WUR;

/* True if [gpa, gpa+len) lies wholly inside RAM (possibly several regions). */
bool mem_range_is_ram(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/*
 * Discard / measure a guest-physical range through the region's backend.
 * -EINVAL if it is not aligned to the backend or not inside one region.
 */
int mem_discard(struct guest_mem *gm, uint64_t gpa, uint64_t len) MEM_WUR;
int mem_resident(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		 uint64_t *bytes) MEM_WUR;

#endif /* MEMVMM_MEM_H */
