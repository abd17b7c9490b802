/* SPDX-License-Identifier: MIT */
/*
 * What test_snap_mem.c (saving, filling, chains, checksums, refusals) and
 * test_snap_mem_map.c (map restore, truncated layers) share: the model of
 * a region's expected contents (a salt per page, 0: a zero page) and
 * helpers that build guest memory, layer files and chains.
 */
#ifndef MEMVMM_TEST_SNAP_MEM_H
#define MEMVMM_TEST_SNAP_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"
#include "mem/snapshot.h"

#define MiB           ((uint64_t)1 << 20)
#define PAGE          ((uint64_t)MEM_PAGE_BYTES)
#define SMALL_BYTES   (16 * MiB)
#define WHY_BYTES     256

struct model {
	uint64_t pages;
	uint8_t *salt;
};

void snapt_model_init(struct model *m, uint64_t size);
/* Page contents for salt (never zero unless salt is 0). */
void snapt_page_contents(uint64_t page, uint8_t salt, uint8_t *buf);
/* Write salt's contents into the page of guest memory and the model. */
void snapt_put_page(struct guest_mem *gm, struct model *m, uint64_t page, uint8_t salt);
/* The round trips' layout: the salt of page p of pages (0: none). */
uint8_t snapt_layout_salt(uint64_t p, uint64_t pages);
void snapt_check_page(const uint8_t *got, uint64_t page, uint8_t salt, const char *what);
void snapt_check_region(const struct guest_mem *gm, const struct model *m, const char *what);
void snapt_check_file(int fd, const struct model *m, const char *what);
/* The file's data pages (SEEK_DATA/SEEK_HOLE, st_blocks) are exactly m's non-zero ones. */
void snapt_check_sparse(int fd, const struct model *m, const char *what);

/* Region 0 of size bytes of backend b (THP off), at gpa 0. */
void snapt_ram_create(struct guest_mem *gm, const struct mem_backend_ops *b, uint64_t size);
/* True if any of [off, off + len) of guest memory is backed (mem_resident()). */
bool snapt_backed(const struct guest_mem *gm, uint64_t off, uint64_t len);
/* A new unnamed file in $TMPDIR (or /tmp), read-write. */
int snapt_tmp_file(void);
/* A read-only fd for the file behind fd, which is closed. */
int snapt_reopen_ro(int fd);
/* Save region 0 of gm with o into a new unnamed file; its read-only fd. */
int snapt_save(const struct guest_mem *gm, const struct mem_snap_save_opts *o,
	       struct mem_snap_save_report *rep);
/*
 * A full layer file with m's contents, unnamed (path NULL) or at path; its
 * read-only fd. writer NULL: the writable fd is closed, else kept there.
 */
int snapt_layer_file(const struct model *m, const char *path, int *writer);

/* Fill options: auto, prealloc none. */
extern const struct mem_snap_fill_opts snapt_fill_auto;
/*
 * Fill a fresh region of b from src and check it against m (contents; with
 * prealloc none exactly the data is backed, else everything). Returns the
 * fill's error (nothing checked then).
 */
int snapt_fill_check(const struct mem_backend_ops *b, const struct mem_snap_src *src,
		     const struct model *m, const struct mem_snap_fill_opts *o, const char *what,
		     struct mem_snap_fill_report *rep);

/* A base and two diffs saved from an anon region of SMALL_BYTES; m: what it holds now. */
struct chain {
	struct mem_snap_src src;
	struct model m;
	uint64_t *present[MEM_SNAP_MAX_LAYERS];
};

void snapt_chain_build(struct chain *c, struct guest_mem *gm);
void snapt_chain_free(struct chain *c);

/* Cases in test_snap_mem_map.c. */
void run_truncated(const void *arg);
void run_map_anon(const void *arg);
void run_map_lease(const void *arg);
void run_map_refused(const void *arg);

#endif
