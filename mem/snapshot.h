/* SPDX-License-Identifier: MIT */
/*
 * Guest memory in snapshots: one sparse raw file per region, written in
 * parallel, and read back by every restore mode through one source type.
 *
 * A region's memory file is exactly the region's size. A full snapshot's
 * file holds every page: unbacked and all-zero pages are holes (they read
 * as zero). A diff snapshot's file holds only the pages its `present`
 * bitmap names (those dirtied since the parent); the other pages come from
 * older layers. A chain (base, diff, diff, ...) is a struct mem_snap_src:
 * each page is read from the newest layer that holds it.
 *
 * Checksums (verify=on): XXH3-64 over each chunk_bytes piece of a memory
 * file's contents (holes read as zeros; the last chunk may be short).
 *
 * Nothing here prints. Every function returns 0 or -errno.
 */
#ifndef MEMVMM_MEM_SNAPSHOT_H
#define MEMVMM_MEM_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"
#include "mem/populate.h"

/* Layers in a chain: the base plus at most 15 diffs. */
#define MEM_SNAP_MAX_LAYERS        16u
/* Checksum granularity when verify=on. */
#define MEM_SNAP_CHUNK_BYTES       (1ull << 20)
/* Pages per bitmap word. */
#define MEM_SNAP_BITS_PER_WORD     64u

/* Words of a bitmap with one bit per 4 KiB page of size bytes. */
static inline uint64_t mem_snap_bitmap_words(uint64_t size)
{
	uint64_t pages = size / MEM_PAGE_BYTES;

	return (pages + MEM_SNAP_BITS_PER_WORD - 1) / MEM_SNAP_BITS_PER_WORD;
}

/* Number of checksums for size bytes in chunk_bytes pieces. */
static inline uint64_t mem_snap_nr_chunks(uint64_t size, uint64_t chunk_bytes)
{
	return chunk_bytes ? (size + chunk_bytes - 1) / chunk_bytes : 0;
}

/* ---- reading saved memory: one region's chain of layers ---------------- */

struct mem_snap_layer {
	int fd;                    /* the layer's memory file for this region, read-only */
	/*
	 * Diff layers: one bit per page, set for the pages this file holds
	 * (mem_snap_bitmap_words(size) words). NULL: every page (a full
	 * snapshot; must be layer 0, and only layer 0 may be full).
	 */
	const uint64_t *present;
};

struct mem_snap_src {
	uint64_t size;             /* the region's bytes; each file must be this long */
	unsigned int nr_layers;    /* 1..MEM_SNAP_MAX_LAYERS; layer[0] the base */
	struct mem_snap_layer layer[MEM_SNAP_MAX_LAYERS];
	/* Filled by mem_snap_src_init(): for each page, the newest layer holding it. */
	uint8_t *owner;
};

/*
 * Check the chain (each file a regular file of exactly size bytes: -EINVAL
 * with *bad_layer set otherwise; layer 0 full, the others diffs) and build
 * owner[]. The caller keeps the fds and bitmaps alive until release.
 * bad_layer may be NULL.
 */
int mem_snap_src_init(struct mem_snap_src *s, unsigned int *bad_layer) MEM_WUR;
void mem_snap_src_release(struct mem_snap_src *s);

/*
 * Copy [off, off + len) of the saved contents into buf (off and len page
 * aligned, inside size): each page from its owner layer, holes as zeros.
 * -EIO when a file is shorter than it was at init (truncated since), -EINVAL
 * for a bad range. Safe from several threads at once (pread only).
 */
int mem_snap_src_read(const struct mem_snap_src *s, uint64_t off, void *buf,
		      size_t len) MEM_WUR;

/*
 * The next page-aligned offset >= off that may hold non-zero data in the
 * chain (a data page of any layer that owns it), found with SEEK_DATA on the
 * owner layers; size when none. Lets fills skip holes. -errno on failure
 * (-EIO when a file is shorter than at init). The seeks move the layer fds'
 * file offsets (every read here is pread(), so only lseek users care).
 */
int mem_snap_src_next_data(const struct mem_snap_src *s, uint64_t off, uint64_t *next) MEM_WUR;

/*
 * The first run of pages in [off, end) that may hold data: [*start, *stop),
 * page aligned, ending at the first page that is a hole in its owner layer
 * (SEEK_HOLE) or at end; *start = *stop = end when there is none. off and
 * end page aligned, off <= end <= size (-EINVAL otherwise); -EIO as
 * mem_snap_src_next_data(). Fills and lazy restores walk data this way.
 */
int mem_snap_src_data_run(const struct mem_snap_src *s, uint64_t off, uint64_t end,
			  uint64_t *start, uint64_t *stop) MEM_WUR;

/* ---- saving ------------------------------------------------------------- */

struct mem_snap_map;

struct mem_snap_save_opts {
	/* Diff: write only these pages (bitmap over the region); NULL: all (full). */
	const uint64_t *only;
	/*
	 * A lazily restored region whose background fill has not finished:
	 * pages whose bit in fetched is clear are copied from pending (the
	 * chain the region is being restored from), not read from guest memory
	 * (where they would look like holes and be lost). Both NULL otherwise.
	 */
	const struct mem_snap_src *pending;
	const _Atomic uint64_t *fetched;
	/*
	 * A region restored by mem_snap_map_region() (NULL otherwise): until it
	 * is detached, the pages the guest has not written are not in guest
	 * memory but in the base file (they would look like holes and be
	 * lost); they are read from there. Not with pending.
	 */
	const struct mem_snap_map *mapped;
	/* verify=on: chunk_sums gets mem_snap_nr_chunks(size, chunk_bytes) checksums. */
	uint64_t chunk_bytes;      /* 0: no checksums */
	uint64_t *chunk_sums;
	unsigned int max_threads;  /* 0: as many as CPUs */
	const atomic_bool *cancel; /* may be NULL */
};

struct mem_snap_save_report {
	uint64_t data_bytes;       /* bytes written as data */
	uint64_t zero_pages;       /* backed pages found all zero (written as holes) */
	uint64_t hole_pages;       /* unbacked pages skipped without reading */
	uint64_t pending_pages;    /* copied from opts->pending */
	uint64_t mapped_pages;     /* copied from opts->mapped's base file */
	unsigned int threads;
	uint64_t ns;
};

/*
 * Write region r's memory into out_fd (an empty regular file opened for
 * writing): ftruncate to r->size, then every page to write (opts->only, or
 * all) that is backed and not all zero, at its offset, on several threads;
 * unbacked pages and zero pages are left as holes. Backed pages are found
 * without touching memory: SEEK_DATA/SEEK_HOLE on the backing file where
 * it has real hole support (memfd; swapped-out pages count), mincore() on
 * the mapping otherwise (hugetlb, guest_memfd), /proc/self/pagemap
 * (present or swapped) for anon (without pagemap every page is read).
 * Runs of data pages go out with one pwritev() each, straight from guest
 * memory. fsync()s the file before returning. The VM must be paused (the
 * contents must not change underneath). -EINVAL for a non-empty or
 * non-regular out_fd or options that disagree (and for an anon region
 * found mapped from a file without opts->mapped).
 */
int mem_snap_save_region(const struct mem_region *r, int out_fd,
			 const struct mem_snap_save_opts *opts,
			 struct mem_snap_save_report *rep) MEM_WUR;

/*
 * Checksums of a memory file as saved (verify=on at restore): recompute
 * and compare; -EBADMSG with *bad_chunk set at the first mismatch.
 * cancel (may be NULL) set: -ECANCELED within a step (a few MiB).
 */
int mem_snap_file_verify(int fd, uint64_t size, uint64_t chunk_bytes,
			 const uint64_t *chunk_sums, unsigned int max_threads,
			 const atomic_bool *cancel, uint64_t *bad_chunk) MEM_WUR;

/* ---- eager restore ------------------------------------------------------ */

/* How an eager fill copied the data in. */
enum mem_snap_fill_how {
	MEM_SNAP_FILL_WRITE,          /* pwrite() into the region's file */
	MEM_SNAP_FILL_POPULATE_COPY,  /* MADV_POPULATE_WRITE, then pread() into the mapping */
	MEM_SNAP_FILL_READ_MEMCPY,    /* the baseline: read() into a buffer, memcpy (one thread) */
	MEM_SNAP_FILL_NR,
};

/* "write", "populate+copy", "read+memcpy". */
const char *mem_snap_fill_name(enum mem_snap_fill_how how);

struct mem_snap_fill_opts {
	/* AUTO: write() where the region's file takes it, else populate+copy. */
	bool force;
	enum mem_snap_fill_how how;   /* with force (benchmarks, tests) */
	/*
	 * How the region is preallocated (the run's populate setting):
	 * MEM_POPULATE_NONE leaves holes unbacked; anything else backs the
	 * whole region (holes as zeros): the threads populate the holes
	 * between data runs with that strategy as they go (AUTO: the
	 * backend's populate_order, as mem_populate() chooses).
	 */
	enum mem_populate_strategy prealloc;
	unsigned int max_threads;     /* 0: as many as CPUs */
	const atomic_bool *cancel;    /* may be NULL */
	mem_progress_fn progress;     /* may be NULL */
	void *progress_arg;
};

struct mem_snap_fill_report {
	enum mem_snap_fill_how how;
	char why[160];                /* why write() was not used ("" when it was); refusals */
	uint64_t data_bytes;          /* copied from the files (runs widened to huge pages) */
	unsigned int threads;
	uint64_t ns;
};

/*
 * Fill region index of gm (fresh: nothing populated yet) from src, the
 * data runs only (mem_snap_src_data_run()), on several threads (read+memcpy:
 * one). Runs are widened to whole 2 MiB pages on hugetlb and where the
 * region is advised MADV_HUGEPAGE, so huge pages survive a restore. The
 * choice among the methods is made by mem_region_caps()'s trials on the
 * block of the first data page (filled anyway). -EIO when a file is
 * truncated under it (the region is then partly filled); -EOPNOTSUPP with
 * rep->why for a forced write without write() or a prealloc strategy the
 * region cannot do; -EINVAL for a bad index, a src of another size or not
 * initialized.
 */
int mem_snap_fill_region(struct guest_mem *gm, unsigned int index,
			 const struct mem_snap_src *src, const struct mem_snap_fill_opts *opts,
			 struct mem_snap_fill_report *rep) MEM_WUR;

/* ---- map restore (anon RAM only) --------------------------------------- */

/*
 * Signal a lease break on a mapped memory file is delivered with
 * (F_SETSIG). The VMM blocks it and reads it from its signalfd, then calls
 * mem_snap_map_detach().
 */
int mem_snap_map_signal(void);

/*
 * Replace anon region index's mapping with a MAP_PRIVATE mapping of the
 * chain's base file (the page cache serves faults; writes stay private),
 * then copy the diff layers' pages into it. A read lease (F_SETLEASE
 * F_RDLCK, signal mem_snap_map_signal()) guards the base file: anyone who
 * opens it for writing or truncates it waits (up to the kernel's
 * lease-break-time) until the VMM has detached (moved guest memory into
 * anonymous memory), so guest memory never loses its backing (no SIGBUS).
 * The region keeps its hva. -EOPNOTSUPP with why set when the region is
 * not anon or the lease cannot be taken (someone has the file open for
 * writing, or the filesystem has no leases); -EIO with why when the base
 * file is shorter than the region; -EBUSY when the region is a memslot
 * already (call it before the memslots are installed). The layer fds must
 * be read-only; the lease is held on a duplicate of layer 0's fd (the
 * F_SETSIG/F_SETOWN settings are shared with it). On failure the region is
 * fresh anonymous memory again.
 */
int mem_snap_map_region(struct guest_mem *gm, unsigned int index,
			const struct mem_snap_src *src, struct mem_snap_map **out,
			char *why, size_t whylen) MEM_WUR;

/*
 * The lease was broken (or the VMM wants to let go of the file): copy the
 * mapping into fresh anonymous memory and move that over it (mremap(), same
 * address), then release the lease. Populating the private mapping would
 * not do: truncating a file discards even the private copies of its pages
 * (truncate_pagecache() unmaps CoW pages too). The VM must be paused (no
 * vCPU or device thread touching the region) while it runs: a write to the
 * old mapping during the copy would be lost. Pages the guest changed are
 * copied from the mapping, the rest read from the file (its holes stay
 * unbacked); briefly the changed pages exist twice. On failure the mapping
 * is left as it was. Idempotent. *detached (may be NULL) set when this call
 * detached.
 */
int mem_snap_map_detach(struct mem_snap_map *m, bool *detached) MEM_WUR;

/*
 * The base file of a map restore as a one-layer source (m's own fd; valid
 * until mem_snap_map_release()).
 */
const struct mem_snap_src *mem_snap_map_base(const struct mem_snap_map *m);

/*
 * *file: whether region r's memory is mapped from a file right now (the
 * mapping holding r->hva in /proc/self/maps has an inode): an anon region
 * restored by mem_snap_map_region() and not detached. -errno when the
 * maps cannot be read, -ENOENT when r->hva is not mapped.
 */
int mem_snap_region_file_mapped(const struct mem_region *r, bool *file) MEM_WUR;

/* True once detached. */
bool mem_snap_map_is_detached(const struct mem_snap_map *m);

/* Release the lease (if held) and free m; the mapping stays (mem_destroy() unmaps). */
void mem_snap_map_release(struct mem_snap_map *m);

#endif /* MEMVMM_MEM_SNAPSHOT_H */
