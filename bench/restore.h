/* SPDX-License-Identifier: MIT */
/*
 * restore: snapshot restore speed (issue 11's benchmark).
 *
 * Part A (restore.c, no KVM needed): a synthetic guest that touched all
 * its RAM (one non-zero word per 4 KiB page, the test guest's pattern) is
 * saved with mem_snap_save_region() into /var/tmp, then restored per
 * backend x method through mem/ (eager write(), eager populate+copy, the
 * read()+memcpy baseline, map, lazy-copy, lazy-move, lazy-minor) in
 * interleaved rounds: time to the "first instruction", until a reader
 * thread has read one word of every page, and until the background fill
 * is done.
 *
 * Part B (restore_vm.c, needs /dev/kvm): memvmm itself. The test guest
 * touches all of --size, is snapshotted at its read gate (`ctl snapshot
 * dir=D stop=on`), and `memvmm run --restore path=D,mode=M` restarts it
 * per mode: memvmm's own first-instruction time, the guest's verify of all
 * of its memory, the process's wall time.
 */
#ifndef MEMVMM_BENCH_RESTORE_H
#define MEMVMM_BENCH_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_case;
struct bench_opts;
struct bench_summary;
struct bench_table;

/* memvmm-bench restore: the exit status, as every benchmark's. */
int bench_restore(const struct bench_opts *o);

/* At most this many sizes in one --size list. */
#define RS_MAX_SIZES 8u
/* Sizes must be multiples of this (hugetlb rows, the lazy engines' 2 MiB chunks). */
#define RS_ALIGN_BYTES (2ull << 20)
/* Part B: the test guest's RAM is --size plus this (its image, stack, page tables). */
#define RS_VM_EXTRA_BYTES (64ull << 20)
/* A size runs only where MemAvailable holds this many times it. */
#define RS_MEM_FACTOR 3u

/*
 * What main.c's option parsing hands restore beyond struct bench_opts
 * (bench.h): set by main.c, read by restore only; main.c refuses size_list
 * and cold for the other benchmarks.
 */
struct bench_restore_opts {
	const char *size_list;     /* --size with a comma ("256M,1G,4G"), else NULL */
	bool cold;                 /* --cold: drop the memory files from the page cache */
	bool repeat_given;         /* --repeat was given (part B's default is 3, not 5) */
};
extern struct bench_restore_opts bench_restore_opts;

/*
 * Check a --size comma list (each element a size, a multiple of 4K, at
 * most RS_MAX_SIZES): 0 with *first set to the first size, else -EINVAL.
 */
int bench_size_list_parse(const char *list, uint64_t *first)
	__attribute__((warn_unused_result));

/* ---- shared between part A and part B ------------------------------------------------ */

/* The largest --size (RAM of part B is 64M more). */
#define RS_MAX_BYTES (64ull << 30)

/* The sizes to run: --size's list, --size, or 256M,1G,4G. 0, or 2 after saying why. */
int rs_sizes(const struct bench_opts *o, uint64_t *sizes, unsigned int *n)
	__attribute__((warn_unused_result));
/*
 * True, with why, when the host cannot hold a guest of bytes: MemAvailable
 * under RS_MEM_FACTOR x bytes (RAM, page cache, lazy-move's staging), or
 * dir's filesystem without bytes + 256M free.
 */
bool rs_host_lacks(uint64_t bytes, const char *dir, char *why, size_t len);
/* True, with why, when the free 2 MiB huge pages cannot hold bytes (never changed here). */
bool rs_hugetlb_lacks(uint64_t bytes, char *why, size_t len);
/* Share of these files' pages in the page cache now, % (mincore); NAN if unknown. */
/*
 * A row whose rounds recorded a failure (fail non-empty) says so in its why
 * and counts in *failed. True when the row has numbers to work on.
 */
bool rs_case_usable(struct bench_case *c, const char *fail, unsigned int *failed);
double rs_files_cached_pct(const int *fd, unsigned int n);
/* Remove a snapshot directory (its files and temporary directories, then itself). */
int rs_remove_dir(const char *dir) __attribute__((warn_unused_result));

/* ---- part B (restore_vm.c) -------------------------------------------------------------- */

/*
 * Run part B for these sizes: prints its tables, adds its keys to s, and
 * fills *save and *vm (bench_table_free() both) for the --out file;
 * *failed gets the rows that failed. The exit status's share: 0, or 1 when
 * a case asked the whole benchmark to stop.
 */
int rs_vm_run(const struct bench_opts *o, const uint64_t *sizes, unsigned int nsizes,
	      struct bench_summary *s, struct bench_table *save, struct bench_table *vm,
	      unsigned int *failed) __attribute__((warn_unused_result));
/* Free what rs_vm_run() allocated for the tables. */
void rs_vm_free(struct bench_table *save, struct bench_table *vm);

#endif /* MEMVMM_BENCH_RESTORE_H */
