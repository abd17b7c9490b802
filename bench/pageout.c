// SPDX-License-Identifier: MIT
/*
 * pageout: the MADV_PAGEOUT experiment of the anonymous large folio unmap
 * series (Dev Jain, "Optimize anonymous large folio unmapping", 2026, after
 * Barry Song's test): mmap --size (256 MiB) of anonymous memory, memset it,
 * time madvise(MADV_PAGEOUT) over it. Rows: 4 KiB pages (MADV_NOHUGEPAGE)
 * and 64 KiB mTHP (MADV_HUGEPAGE, with hugepages-64kB/enabled=madvise and
 * every other size never for the run), each with the series' zero fill and
 * with a pattern (one distinct word per page: zram cannot keep it as a
 * same-filled page); and the same over a paused memvmm guest's anon RAM
 * (`memvmm ctl pageout`), which needs /dev/kvm.
 *
 * Swap is set up for the run (tests/swap.h: zram, else a swap file) and
 * taken down after, like the mTHP settings. A forked child measures; the
 * parent only waits, with every terminating signal blocked (passed on to
 * the child), and puts both back however the child ended, SIGKILL
 * included. Records on disk (/run, else /tmp), written before the host is
 * changed, let the next run put back what a run killed whole left. SIGPIPE
 * is ignored: `| head` ends the run with EPIPE, the host put back.
 *
 * The 64 KiB share is checked from the kernel's own counters
 * (hugepages-64kB/stats: anon_fault_alloc at the memset, swpout: folios
 * swapped out whole).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/pageout.h"
#include "bench/stats.h"
#include "mem/mem.h"
#include "mem/thp.h"
#include "tests/swap.h"
#include "tests/sysfs.h"

#define PO_DEFAULT_BYTES   (256ull << 20)     /* the series' 256 MiB */
#define PO_MTHP_BYTES      (64ull << 10)
#define PO_MTHP_DIR        MEM_THP_SYSFS "/hugepages-64kB"
#define PO_MIB             (1024.0 * 1024.0)
#define PO_GIB             (1024.0 * 1024.0 * 1024.0)
#define PO_MAX_SIZES       16                 /* hugepages-*kB directories saved */
#define PO_PATH_BYTES      128
#define PO_READ_BYTES      256
#define PO_FILL_WORD       0x6d656d766d6dull  /* "memvmm", xor the page number */
/*
 * zram's disksize or the swap file: four times the region (1 GiB for 256 MiB).
 * At twice the region, 4 KiB rows took 4-8x longer here (6.18, zram): the
 * order-0 swap slot allocator slows down on a half-full device.
 */
#define PO_SWAP_FACTOR     4

enum po_fill { PO_FILL_ZERO, PO_FILL_PATTERN };
enum po_metric { PO_MS, PO_MTHP_PCT, PO_SWPOUT_PCT, PO_RESIDENT_MIB };

struct po_case {
	bool mthp;            /* 64 KiB mTHP, else 4 KiB pages */
	bool memvmm;          /* through memvmm, else a plain mapping */
	enum po_fill fill;
	int refuse;           /* the host cannot: -errno, why says why */
	char why[200];
};

/* ---- the host's mTHP settings, changed for the run and put back ---- */

/*
 * What the settings were, on disk before the first is changed: the parent
 * puts them back from it however the measuring child ended, and a later run
 * does if both were killed (SIGKILL). Line 1: "<parent pid> <child pid>",
 * then "<path> <word>" per size.
 */
static const char *const po_record_paths[] = {
	"/run/memvmm-pageout.state", "/tmp/memvmm-pageout.state",
};

static struct {
	char path[PO_PATH_BYTES];
	char word[MEM_THP_WORD_BYTES];
} po_saved[PO_MAX_SIZES];
static unsigned int po_nsaved;
static char po_record[PO_PATH_BYTES];   /* the record this process wrote ("": none) */

/* Select word in path unless it is selected: 0 or -errno. */
static int choice_put(const char *path, const char *word)
{
	char now[MEM_THP_WORD_BYTES];

	if (sysfs_choice_read(path, now, sizeof(now)) == 0 && !strcmp(now, word))
		return 0;
	return sysfs_write(path, word);
}

/* Put every saved setting back and drop the record; 0 or the first -errno. */
static int mthp_restore(void)
{
	int ret = 0, r;

	for (unsigned int i = 0; i < po_nsaved; i++) {
		r = choice_put(po_saved[i].path, po_saved[i].word);
		if (r && !ret)
			ret = r;
	}
	if (!ret)
		po_nsaved = 0;
	if (!ret && po_record[0]) {
		if (unlink(po_record) < 0 && errno != ENOENT)
			ret = -errno;
		else
			po_record[0] = '\0';
	}
	return ret;
}

/* True if pid is this process (done with the run) or no live process. */
static bool po_gone(int pid)
{
	return pid == getpid() || !swap_pid_alive(pid);
}

/*
 * A record whose processes are gone (this one aside): put its settings back
 * and remove it. 0 (*what says what was done, "" if nothing), -EBUSY with
 * *holder when a live run holds it, or -errno.
 */
static int mthp_recover(const char *record, char *what, size_t len, int *holder)
{
	char line[PO_PATH_BYTES + MEM_THP_WORD_BYTES + 8], path[PO_PATH_BYTES];
	char word[MEM_THP_WORD_BYTES];
	int parent, child, ret = 0, r;
	FILE *f = fopen(record, "re");

	what[0] = '\0';
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fgets(line, sizeof(line), f) && sscanf(line, "%d %d", &parent, &child) == 2 &&
	    (!po_gone(parent) || !po_gone(child))) {
		*holder = po_gone(parent) ? child : parent;
		fclose(f);
		return -EBUSY;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %15s", path, word) != 2 ||
		    strncmp(path, MEM_THP_SYSFS "/", sizeof(MEM_THP_SYSFS)))
			continue;   /* only the settings this file may hold */
		r = choice_put(path, word);
		if (r && !ret)
			ret = r;
		snprintf(what + strlen(what), len - strlen(what), "%s%.48s=%s", r ? "(failed) " : "",
			 path + sizeof(MEM_THP_SYSFS), word);
		snprintf(what + strlen(what), len - strlen(what), " ");
	}
	fclose(f);
	if (!ret && unlink(record) < 0 && errno != ENOENT)
		ret = -errno;
	return ret;
}

/* mthp_recover() of every record place, saying on stderr what it did. 0 or -errno. */
static int mthp_recover_all(const char *who)
{
	char what[PO_READ_BYTES * 4];
	int ret = 0, holder = 0;

	for (size_t i = 0; i < sizeof(po_record_paths) / sizeof(po_record_paths[0]) && !ret; i++) {
		ret = mthp_recover(po_record_paths[i], what, sizeof(what), &holder);
		if (what[0])
			fprintf(stderr, "pageout: %s; put back: %s(from %s)\n", who, what,
				po_record_paths[i]);
	}
	if (ret == -EBUSY)
		fprintf(stderr, "pageout: another run (pid %d) has the mTHP settings changed\n",
			holder);
	else if (ret)
		fprintf(stderr, "pageout: putting back the mTHP settings %s: %s\n", who,
			strerror(-ret));
	return ret;
}

/* The record of po_saved, written before any setting changes. 0 or -errno. */
static int mthp_record(void)
{
	int ret = -ENOENT;

	for (size_t i = 0; i < sizeof(po_record_paths) / sizeof(po_record_paths[0]); i++) {
		FILE *f;
		int fd = open(po_record_paths[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		if (fd < 0) {
			ret = -errno;
			if (ret == -EEXIST)
				return ret;   /* another run's */
			continue;
		}
		f = fdopen(fd, "w");
		if (!f) {
			ret = -errno;
			close(fd);
			unlink(po_record_paths[i]);
			continue;
		}
		fprintf(f, "%d %d\n", (int)getppid(), (int)getpid());
		for (unsigned int j = 0; j < po_nsaved; j++)
			fprintf(f, "%s %s\n", po_saved[j].path, po_saved[j].word);
		ret = ferror(f) ? -EIO : 0;
		if (fclose(f) && !ret)
			ret = -errno;
		if (!ret) {
			snprintf(po_record, sizeof(po_record), "%s", po_record_paths[i]);
			return 0;
		}
		unlink(po_record_paths[i]);
	}
	return ret;
}

/* Save hugepages-*kB/enabled of every size and record them. 0 or -errno. */
static int mthp_save(void)
{
	DIR *d = opendir(MEM_THP_SYSFS);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && po_nsaved < PO_MAX_SIZES) {
		if (strncmp(e->d_name, "hugepages-", 10))
			continue;
		snprintf(po_saved[po_nsaved].path, PO_PATH_BYTES, MEM_THP_SYSFS "/%.32s/enabled",
			 e->d_name);
		if (!sysfs_choice_read(po_saved[po_nsaved].path, po_saved[po_nsaved].word,
				 MEM_THP_WORD_BYTES))
			po_nsaved++;
	}
	closedir(d);
	return mthp_record();
}

/* 64 KiB on MADV_HUGEPAGE, every other size never. 0, or -errno with why. */
static int mthp_setup(char *why, size_t len)
{
	char word[MEM_THP_WORD_BYTES];
	int ret;

	if (sysfs_choice_read(PO_MTHP_DIR "/enabled", word, sizeof(word))) {
		snprintf(why, len, "no %s (kernel without 64K mTHP)", PO_MTHP_DIR);
		return -EOPNOTSUPP;
	}
	ret = mthp_save();
	if (ret) {
		snprintf(why, len, "%s: %s", ret == -EEXIST ? "another run's record of the settings "
			 "is there" : "recording the settings in /run or /tmp", strerror(-ret));
		return ret;
	}
	for (unsigned int i = 0; i < po_nsaved; i++) {
		bool is_64k = strstr(po_saved[i].path, "/hugepages-64kB/") != NULL;
		const char *want = is_64k ? "madvise" : "never";

		ret = sysfs_write(po_saved[i].path, want);
		if (!ret)
			ret = sysfs_choice_read(po_saved[i].path, word, sizeof(word));
		if (!ret && strcmp(word, want))
			ret = -EPROTO;
		if (ret) {
			snprintf(why, len, "cannot set %s to %s: %s%s", po_saved[i].path, want,
				 strerror(-ret), ret == -EACCES || ret == -EPERM ? " (not root?)" : "");
			return ret;
		}
	}
	return 0;
}

/* A counter of hugepages-64kB/stats, or 0 when unreadable. */
static uint64_t mthp_stat(const char *name)
{
	char path[PO_PATH_BYTES], buf[32];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), PO_MTHP_DIR "/stats/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/* ---- the standalone rows ---- */

static uint64_t po_size;

static uint64_t resident_bytes(const uint8_t *p, uint64_t len)
{
	static unsigned char vec[16384];
	uint64_t bytes = 0;

	for (uint64_t off = 0; off < len; off += sizeof(vec) * MEM_PAGE_BYTES) {
		uint64_t n = (len - off) / MEM_PAGE_BYTES;

		if (n > sizeof(vec))
			n = sizeof(vec);
		if (mincore((void *)(p + off), n * MEM_PAGE_BYTES, vec) < 0)
			return UINT64_MAX;
		for (uint64_t i = 0; i < n; i++)
			bytes += (vec[i] & 1) * MEM_PAGE_BYTES;
	}
	return bytes;
}

static void fill(uint8_t *p, uint64_t len, enum po_fill f)
{
	if (f == PO_FILL_ZERO) {
		memset(p, 0, len);    /* as the series: all zero (zram keeps no data for it) */
		return;
	}
	for (uint64_t off = 0; off < len; off += sizeof(uint64_t))
		*(uint64_t *)(p + off) = PO_FILL_WORD ^ (off / MEM_PAGE_BYTES);
}

static int po_plain_run(struct bench_case *c, double *m)
{
	const struct po_case *pc = c->ctx;
	uint64_t alloc0, swpout0, t0, resident;
	void *p;
	int ret;

	/* 2 MiB-aligned, so every 64 KiB folio can be naturally aligned. */
	ret = mem_map_congruent(po_size, 0, MAP_PRIVATE | MAP_ANONYMOUS, -1, &p);
	if (ret)
		return ret;
	if (madvise(p, po_size, pc->mthp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "madvise(MADV_%sHUGEPAGE)", pc->mthp ? "" : "NO");
		goto out;
	}
	alloc0 = mthp_stat("anon_fault_alloc");
	fill(p, po_size, pc->fill);
	swpout0 = mthp_stat("swpout");
	/* Host-wide counters: another process's 64K faults could add to them. */
	m[PO_MTHP_PCT] = pc->mthp ? fmin(100.0, 100.0 * (double)((mthp_stat("anon_fault_alloc") -
								  alloc0) * PO_MTHP_BYTES) /
					 (double)po_size) : NAN;
	t0 = bench_now_ns();
	if (madvise(p, po_size, MADV_PAGEOUT) < 0) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "madvise(MADV_PAGEOUT)");
		goto out;
	}
	m[PO_MS] = bench_ms_since(t0);
	m[PO_SWPOUT_PCT] = pc->mthp ? fmin(100.0, 100.0 * (double)((mthp_stat("swpout") - swpout0) *
								    PO_MTHP_BYTES) /
					   (double)po_size) : NAN;
	resident = resident_bytes(p, po_size);
	m[PO_RESIDENT_MIB] = resident == UINT64_MAX ? NAN : (double)resident / PO_MIB;
out:
	if (munmap(p, po_size) < 0 && !ret) {
		ret = -errno;
		snprintf(c->why, sizeof(c->why), "munmap");
	}
	return ret;
}

/* ---- the run ---- */

static int po_run(struct bench_case *c, double *m)
{
	struct po_case *pc = c->ctx;

	for (unsigned int i = 0; i < BENCH_MAX_METRICS; i++)
		m[i] = NAN;
	if (pc->refuse) {
		snprintf(c->why, sizeof(c->why), "%.190s", pc->why);
		c->why_is_message = true;
		return pc->refuse;
	}
	return pc->memvmm ? po_memvmm_run(c, po_size, m) : po_plain_run(c, m);
}

static void po_add(struct bench_case *cases, struct po_case *pcs, unsigned int *n, bool mthp,
		   bool memvmm, enum po_fill f, int refuse, const char *why)
{
	struct po_case *pc = &pcs[*n];
	struct bench_case *c = &cases[*n];

	*pc = (struct po_case){ .mthp = mthp, .memvmm = memvmm, .fill = f, .refuse = refuse };
	snprintf(pc->why, sizeof(pc->why), "%s", refuse ? why : "");
	*c = (struct bench_case){
		.label = { memvmm ? "memvmm anon, paused guest (ctl pageout)" :
			   mthp ? "64K mTHP (MADV_HUGEPAGE)" : "4K (MADV_NOHUGEPAGE)",
			   memvmm ? "guest touch" : f == PO_FILL_ZERO ? "zero" : "pattern" },
		.run = po_run,
		.ctx = pc,
	};
	snprintf(c->key, sizeof(c->key), "%s_%s", memvmm ? "memvmm_anon" : mthp ? "mthp_64k" :
		 "small_4k", memvmm ? "touch" : f == PO_FILL_ZERO ? "zero" : "pattern");
	(*n)++;
}

/* GiB/s, and 64K/4K: this row's median ms over the 4K row's with the same fill. */
static void po_extras(struct bench_table *t, struct po_case *pcs)
{
	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *c = &t->cases[i];
		char key[64];

		if (!bench_case_ok(c))
			continue;
		c->extra[0] = (double)po_size / PO_GIB / (c->median[PO_MS] / 1000.0);
		c->extra[1] = NAN;
		if (pcs[i].mthp) {
			snprintf(key, sizeof(key), "small_4k_%s",
				 pcs[i].fill == PO_FILL_ZERO ? "zero" : "pattern");
			c->extra[1] = c->median[PO_MS] / bench_table_median(t, key, PO_MS);
			if (c->min[PO_MTHP_PCT] < 90.0)
				snprintf(c->note, sizeof(c->note), "only %.0f%% of the memory in 64K "
					 "folios in some round", c->min[PO_MTHP_PCT]);
		}
		if (pcs[i].memvmm)
			c->extra[0] = NAN;   /* its own GiB/s is in po_memvmm_run's note */
	}
}

/* ENOMEM at the first round: an allocation failure (a limit), not something the host lacks. */
static int po_alloc_failures(struct bench_table *t)
{
	char limit[80] = "";
	struct rlimit rl;
	int failed = 0;

	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		char sz[32];

		bench_fmt_size(rl.rlim_cur, sz, sizeof(sz));
		snprintf(limit, sizeof(limit), " under RLIMIT_AS %s (ulimit -v)", sz);
	}
	for (unsigned int i = 0; i < t->ncases; i++) {
		struct bench_case *c = &t->cases[i];

		if (c->err != -ENOMEM)
			continue;
		snprintf(c->why, sizeof(c->why), "allocation failed in round %u (ENOMEM%s)",
			 c->err_round + 1, limit);
		failed = 1;
	}
	return failed;
}

/* The measurement, in the child: the exit status. */
static int po_measure(const struct bench_opts *o)
{
	struct bench_case cases[6];
	struct po_case pcs[6];
	struct bench_table t = {
		.bench = "pageout",
		.nlabels = 2, .label_names = { "memory", "fill" },
		.nmetrics = 4, .metric_names = { "ms", "64K %", "swpout 64K %", "resident MiB" },
		.nextra = 2, .extra_names = { "GiB/s", "64K/4K ms" },
		.note_name = "note",
		.cases = cases,
		.repeat = o->repeat,
	};
	struct bench_summary *s = bench_summary_new("pageout");
	char swap_why[400], mthp_why[200], vm_why[200], sz[32];
	enum swap_kind kind = SWAP_NONE;
	int swap_err, mthp_err, vm_err, status = 0, ret;
	unsigned int n = 0;

	if (!s) {
		fprintf(stderr, "pageout: out of memory\n");
		return 1;
	}
	bench_fmt_size(po_size, sz, sizeof(sz));
	swap_err = swap_on(PO_SWAP_FACTOR * po_size, &kind, swap_why, sizeof(swap_why));
	if (!swap_err && swap_why[0]) {
		fprintf(stderr, "pageout: swap: %s\n", swap_why);
		swap_why[0] = '\0';
	}
	mthp_err = swap_err ? 0 : mthp_setup(mthp_why, sizeof(mthp_why));
	vm_err = swap_err ? 0 : po_memvmm_check(vm_why, sizeof(vm_why));
	for (int f = PO_FILL_ZERO; f <= PO_FILL_PATTERN; f++) {
		po_add(cases, pcs, &n, false, false, f, swap_err, swap_why);
		po_add(cases, pcs, &n, true, false, f, swap_err ? swap_err : mthp_err,
		       swap_err ? swap_why : mthp_why);
	}
	po_add(cases, pcs, &n, false, true, PO_FILL_PATTERN, swap_err ? swap_err : vm_err,
	       swap_err ? swap_why : vm_why);
	t.ncases = n;

	/* What was done to the host, not what was meant to be. */
	printf("pageout: %u cases x %u interleaved rounds, %s of anonymous memory each, filled, "
	       "then madvise(MADV_PAGEOUT) timed;\nswap: %s%s%s; mTHP: %s%s\n'64K %%' = memory "
	       "faulted in as 64K folios (hugepages-64kB/stats/anon_fault_alloc), 'swpout 64K "
	       "%%' = swapped out as whole 64K folios (stats/swpout), 'resident' = mincore() "
	       "after (the swap cache counts)\n\n", n, o->repeat, sz,
	       swap_err ? "none: " : swap_kind_name(kind), swap_err ? swap_why : swap_path()[0] ?
	       " " : "", swap_err ? "" : swap_path(),
	       swap_err ? "not changed (no swap: nothing runs)" : mthp_err ?
	       "not set up, the 64K rows do not run: " : "64K=madvise, other sizes never for the run",
	       swap_err || !mthp_err ? "" : mthp_why);
	ret = bench_table_run(&t);
	if (ret) {
		status = 1;
		goto out;
	}
	status |= po_alloc_failures(&t);
	po_extras(&t, pcs);
	bench_table_print(&t, stdout);
	for (unsigned int i = 0; i < n; i++)
		if (cases[i].err && cases[i].err_round > 0)
			status = 1;    /* worked, then failed: not a host limitation */

	bench_summary_str(s, "size", sz);
	bench_summary_str(s, "swap", swap_err ? "none" : swap_kind_name(kind));
	bench_summary_num(s, "small_4k_zero_ms", bench_table_median(&t, "small_4k_zero", 0), 1);
	bench_summary_num(s, "mthp_64k_zero_ms", bench_table_median(&t, "mthp_64k_zero", 0), 1);
	bench_summary_num(s, "small_4k_pattern_ms",
			  bench_table_median(&t, "small_4k_pattern", 0), 1);
	bench_summary_num(s, "mthp_64k_pattern_ms",
			  bench_table_median(&t, "mthp_64k_pattern", 0), 1);
	bench_summary_num(s, "ratio_64k_4k_zero", cases[1].extra[1], 2);
	bench_summary_num(s, "ratio_64k_4k_pattern", cases[3].extra[1], 2);
	bench_summary_num(s, "memvmm_anon_ms", bench_table_median(&t, "memvmm_anon_touch", 0), 1);
	if (o->out) {
		json_object *opts = bench_opts_json(o, po_size);

		ret = bench_write_output(o->out, &t, s, opts);
		json_object_put(opts);
		if (ret) {
			fprintf(stderr, "pageout: cannot write '%s': %s\n", o->out, strerror(-ret));
			status = 1;
		}
	}
	putchar('\n');
	bench_summary_print(s, stdout);
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		/* | head: EPIPE (SIGPIPE is ignored) ends the run quietly, with the host put back. */
		if (errno != EPIPE)
			fprintf(stderr, "pageout: writing the table: %s\n", strerror(errno));
		status = 1;
	}
	ret = mthp_restore();
	if (ret) {
		fprintf(stderr, "pageout: restoring the mTHP settings: %s\n", strerror(-ret));
		status = 1;
	}
	ret = swap_off(swap_why, sizeof(swap_why));
	if (ret) {
		fprintf(stderr, "pageout: %s\n", swap_why);
		status = 1;
	}
	bench_table_free(&t);
	bench_summary_free(s);
	return status;
}

/*
 * The parent waits while the child measures, with every terminating signal
 * blocked (taken with sigwaitinfo() and passed on to the child), and puts
 * the mTHP settings and the swap back however the child ended, SIGKILL
 * included. Then it ends the way it was asked to: by the signal it got.
 */
int bench_pageout(const struct bench_opts *o)
{
	char why[400];
	sigset_t wait_set, old;
	int status = 1, wst = 0, got = 0, ret;
	siginfo_t info;
	pid_t child;

	po_size = o->size ? o->size : PO_DEFAULT_BYTES;
	if (po_size % PO_MTHP_BYTES) {
		fprintf(stderr, "pageout: --size must be a multiple of 64K\n");
		return 2;
	}
	/* A closed stdout is an EPIPE from write(), not the end of this process. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || swap_sigset(&wait_set) ||
	    sigdelset(&wait_set, SIGPIPE) < 0 || sigaddset(&wait_set, SIGCHLD) < 0 ||
	    sigprocmask(SIG_BLOCK, &wait_set, &old) < 0) {
		fprintf(stderr, "pageout: setting up the signals: %s\n", strerror(errno));
		return 1;
	}
	if (mthp_recover_all("a killed run left the mTHP settings changed") == -EBUSY)
		goto unblock;
	ret = swap_arm();   /* the record of the swap is shared with the child */
	if (ret) {
		fprintf(stderr, "pageout: arming the swap teardown: %s\n", strerror(-ret));
		goto unblock;
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "pageout: fork: %s\n", strerror(errno));
		goto unblock;
	}
	if (child == 0) {
		if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
			_exit(1);
		exit(po_measure(o));
	}
	for (;;) {
		int sig = sigwaitinfo(&wait_set, &info);

		if (sig < 0 && errno != EINTR) {
			fprintf(stderr, "pageout: sigwaitinfo: %s\n", strerror(errno));
			sig = SIGTERM;    /* cannot wait: end the run */
		}
		if (sig == SIGCHLD || sig < 0) {
			pid_t r = waitpid(child, &wst, WNOHANG);

			if (r == child || (r < 0 && errno == ECHILD))
				break;
			continue;
		}
		/* A process group's signal reached the child too; one more does no harm. */
		got = sig;
		if (kill(child, sig == SIGQUIT ? SIGTERM : sig) < 0 && errno != ESRCH)
			fprintf(stderr, "pageout: passing on %s: %s\n", strsignal(sig),
				strerror(errno));
	}
	status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 1;
	if (WIFSIGNALED(wst))
		fprintf(stderr, "pageout: the run ended by %s; putting the host's settings back\n",
			strsignal(WTERMSIG(wst)));
	if (mthp_recover_all("the run left the mTHP settings changed"))
		status = 1;
	if (swap_off(why, sizeof(why))) {
		fprintf(stderr, "pageout: %s\n", why);
		status = 1;
	}
unblock:
	if (got) {
		fflush(NULL);
		signal(got, SIG_DFL);
		raise(got);   /* pending while blocked: ends this process at the unblock */
	}
	if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
		status = 1;
	return status;
}
