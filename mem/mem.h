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

#define MEM_WUR __attribute__((warn_unused_result))

#define MEM_PAGE_BYTES        4096ull
#define MEM_HUGE_PAGE_BYTES   (2ull << 20)
/* RAM below 4 GiB ends here; [hole start, 4 GiB) is left for MMIO. */
#define MEM_MMIO_HOLE_START   0xc0000000ull
#define MEM_MMIO_HOLE_END     0x100000000ull
#define MEM_HIGH_RAM_START    MEM_MMIO_HOLE_END
#define MEM_MIN_BYTES         (4ull << 20)
#define MEM_MAX_BYTES         (1ull << 40)
#define MEM_MAX_REGIONS       4

/* Where RAM sits in guest-physical space for a given size. */
struct mem_layout {
	unsigned nr;
	struct {
		uint64_t gpa;
		uint64_t size;
	} range[MEM_MAX_REGIONS];
};

/*
 * Lay out ram_size bytes: [0, min(size, hole start)), the rest from 4 GiB.
 * -EINVAL if ram_size is not a multiple of MEM_PAGE_BYTES or outside
 * [MEM_MIN_BYTES, MEM_MAX_BYTES].
 */
int mem_layout_build(uint64_t ram_size, struct mem_layout *out) MEM_WUR;

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

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;                 /* backing fd, -1 when there is none (anon) */
	uint32_t slot;          /* KVM memslot number */
	bool registered;        /* slot is installed in KVM */
	const struct mem_backend_ops *ops;
};

struct mem_config {
	uint64_t size;                          /* total RAM bytes */
	const struct mem_backend_ops *backend;  /* never NULL */
};

struct guest_mem {
	struct mem_region region[MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size;
	const struct mem_backend_ops *ops;
	int vm_fd;
};

/*
 * Create and map every region of the layout with cfg->backend.
 * -EINVAL for sizes the backend cannot take (hugetlb: not a multiple of
 * 2 MiB). On failure everything created so far is released.
 * *failed_region (may be NULL) gets the index of the region that failed.
 */
int mem_create(struct guest_mem *gm, const struct mem_config *cfg, int vm_fd,
	       unsigned *failed_region) MEM_WUR;

/*
 * Install every region as a KVM memslot (slot = region index).
 * Uses KVM_SET_USER_MEMORY_REGION2 when use_region2, else the old ioctl
 * (-EOPNOTSUPP then for backends with slot_flags).
 */
int mem_register(struct guest_mem *gm, bool use_region2) MEM_WUR;

/* Remove slots, unmap, close. Safe on a zeroed or partially created gm. */
void mem_destroy(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one region, else NULL. */
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
