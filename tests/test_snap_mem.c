// SPDX-License-Identifier: MIT
/*
 * Snapshot memory files (mem/snapshot.h) without KVM (guest_memfd needs a
 * VM and skips without /dev/kvm): guest memory made by mem_create(), saved
 * into sparse files, read back through the chain, filled into fresh
 * regions by every method (map restore: test_snap_mem_map.c). Each page's
 * expected contents are a model (one salt per page, 0: zero), and the
 * files are checked with the kernel's own meters (SEEK_DATA, st_blocks,
 * mincore through mem_resident()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/snapshot.h"
#include "tests/e2e.h"
#include "tests/hugepages.h"
#include "tests/test.h"
#include "tests/test_snap_mem.h"

#define BIG_BYTES     (160 * MiB)   /* anon, memfd: more than one thread saves and fills */
#define HUGE_BYTES    (16 * MiB)    /* hugetlb */
#define GMEM_BYTES    (32 * MiB)
#define CHUNK_BYTES   (4 * MiB)     /* checksums: a 10 MiB region has a short last chunk */
#define CSUM_BYTES    (10 * MiB)

/* ---- the model: a salt per page (0: zero page; tests/test_snap_mem.h) ---- */

void snapt_model_init(struct model *m, uint64_t size)
{
	m->pages = size / PAGE;
	m->salt = calloc(m->pages, 1);
	TEST_ASSERT(m->salt, "calloc");
}

void snapt_page_contents(uint64_t page, uint8_t salt, uint8_t *buf)
{
	uint64_t *w = (uint64_t *)(void *)buf;

	for (size_t i = 0; i < PAGE / sizeof(*w); i++)
		w[i] = salt ? (page * 0x9e3779b97f4a7c15ull + salt * 0x100000001b3ull + i) | 1 :
		       0;
}

/* Write salt's contents into page of the guest memory (0: zeros) and the model. */
void snapt_put_page(struct guest_mem *gm, struct model *m, uint64_t page, uint8_t salt)
{
	uint8_t buf[PAGE];

	snapt_page_contents(page, salt, buf);
	TEST_OK(mem_write(gm, page * PAGE, buf, PAGE));
	m->salt[page] = salt;
}

/* The round trips' layout: runs, single pages, a thread boundary, the last page. */
uint8_t snapt_layout_salt(uint64_t p, uint64_t pages)
{
	bool data = p < 3 || (p >= 100 && p < 200) || p == pages / 2 - 1 || p == pages / 2 ||
		    p == pages - 1 || p % 4099 == 7;

	return data ? (uint8_t)(1 + p % 200) : 0;
}

void snapt_check_page(const uint8_t *got, uint64_t page, uint8_t salt, const char *what)
{
	uint8_t want[PAGE];

	snapt_page_contents(page, salt, want);
	TEST_ASSERT(!memcmp(got, want, PAGE), "%s: page %" PRIu64 " differs (salt %u)", what,
		    page, salt);
}

void snapt_check_region(const struct guest_mem *gm, const struct model *m, const char *what)
{
	uint8_t buf[PAGE];

	for (uint64_t p = 0; p < m->pages; p++) {
		TEST_OK(mem_read(gm, p * PAGE, buf, PAGE));
		snapt_check_page(buf, p, m->salt[p], what);
	}
}

void snapt_check_file(int fd, const struct model *m, const char *what)
{
	uint8_t buf[PAGE];

	for (uint64_t p = 0; p < m->pages; p++) {
		TEST_ASSERT(pread(fd, buf, PAGE, (off_t)(p * PAGE)) == (ssize_t)PAGE, "pread");
		snapt_check_page(buf, p, m->salt[p], what);
	}
}

/* The file's data pages (SEEK_DATA/SEEK_HOLE) are exactly the model's non-zero ones. */
void snapt_check_sparse(int fd, const struct model *m, const char *what)
{
	uint64_t size = m->pages * PAGE, pos = 0, data = 0, nonzero = 0;
	struct stat st;

	for (uint64_t p = 0; p < m->pages; p++)
		nonzero += m->salt[p] != 0;
	while (pos < size) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			d = (off_t)size;
		TEST_ASSERT(d >= 0, "SEEK_DATA");
		for (; pos < (uint64_t)d; pos += PAGE)
			TEST_ASSERT(!m->salt[pos / PAGE], "%s: page %" PRIu64 " is a hole", what,
				    pos / PAGE);
		if (pos >= size)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		TEST_ASSERT(h > d, "SEEK_HOLE");
		for (; pos < (uint64_t)h; pos += PAGE, data++)
			TEST_ASSERT(m->salt[pos / PAGE], "%s: zero page %" PRIu64 " is data", what,
				    pos / PAGE);
	}
	TEST_ASSERT(data == nonzero, "%s: %" PRIu64 " data pages, want %" PRIu64, what, data,
		    nonzero);
	TEST_ASSERT(fstat(fd, &st) == 0 && (uint64_t)st.st_size == size, "size");
	TEST_ASSERT((uint64_t)st.st_blocks * 512 >= data * PAGE &&
		    (uint64_t)st.st_blocks * 512 <= data * PAGE + MiB,
		    "%s: %lld blocks for %" PRIu64 " data pages", what, (long long)st.st_blocks,
		    data);
}

/* ---- guest memory and files ---- */

static int vm_fd = -1;

static void backend_require(const struct mem_backend_ops *b, uint64_t huge_pages)
{
	char why[WHY_BYTES] = "";

	if (b == &mem_backend_guest_memfd && vm_fd < 0) {
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

		TEST_REQUIRE(kvm >= 0, "guest_memfd needs a KVM VM: no /dev/kvm");
		vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
		TEST_ASSERT(vm_fd >= 0, "KVM_CREATE_VM");
		close(kvm);
	}
	if (b->supported(vm_fd, why, sizeof(why))) {
		fprintf(stderr, "%s: %s\n", b->name, why);
		TEST_REQUIRE(false, "the backend is not supported here");
	}
	if (huge_pages && !hugepages_reserve(huge_pages)) {
		fprintf(stderr, "needs %" PRIu64 " free 2 MiB huge pages\n", huge_pages);
		TEST_REQUIRE(false, "too few free 2 MiB hugetlb pages, and the pool cannot grow");
	}
}

void snapt_ram_create(struct guest_mem *gm, const struct mem_backend_ops *b, uint64_t size)
{
	const struct mem_config cfg = {
		.size = size, .backend = b, .thp_advice = MEM_THP_ADVICE_NOHUGE,
	};

	memset(gm, 0, sizeof(*gm));
	TEST_OK(mem_create(gm, &cfg, b == &mem_backend_guest_memfd ? vm_fd : -1, NULL));
}

int snapt_tmp_file(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	TEST_ASSERT(fd >= 0, "O_TMPFILE in %s", dir);
	return fd;
}

/* A read-only fd for the file behind fd, which is closed (a writer would block leases). */
int snapt_reopen_ro(int fd)
{
	char path[64];
	int ro;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(ro >= 0, "reopen %s", path);
	close(fd);
	return ro;
}

/* Save region 0 of gm with opts into a new file; its read-only fd. */
int snapt_save(const struct guest_mem *gm, const struct mem_snap_save_opts *o,
	       struct mem_snap_save_report *rep)
{
	int fd = snapt_tmp_file();

	TEST_OK(mem_snap_save_region(&gm->region[0], fd, o, rep));
	return snapt_reopen_ro(fd);
}

bool snapt_backed(const struct guest_mem *gm, uint64_t off, uint64_t len)
{
	uint64_t bytes = 0;

	TEST_OK(mem_resident(gm, off, len, &bytes));
	return bytes != 0;
}

/* With prealloc none, exactly the units with data are snapt_backed. */
static void check_backed(const struct guest_mem *gm, const struct model *m, const char *what)
{
	uint64_t unit = gm->region[0].ops->align / PAGE;

	for (uint64_t u = 0; u < m->pages; u += unit) {
		bool want = false;

		for (uint64_t p = u; p < u + unit; p++)
			want |= m->salt[p] != 0;
		TEST_ASSERT(snapt_backed(gm, u * PAGE, unit * PAGE) == want,
			    "%s: page %" PRIu64 " is %s",
			    what, u, want ? "unbacked" : "snapt_backed");
	}
}

const struct mem_snap_fill_opts snapt_fill_auto = { .prealloc = MEM_POPULATE_NONE };

/*
 * Fill a fresh region of b from src and check it against m (contents; with
 * prealloc none exactly the data is snapt_backed, else everything). Returns the
 * fill's error (nothing checked then).
 */
int snapt_fill_check(const struct mem_backend_ops *b, const struct mem_snap_src *src,
		      const struct model *m, const struct mem_snap_fill_opts *o, const char *what,
		      struct mem_snap_fill_report *rep)
{
	struct guest_mem gm;
	uint64_t bytes = 0;
	int ret;

	snapt_ram_create(&gm, b, src->size);
	ret = mem_snap_fill_region(&gm, 0, src, o, rep);
	if (!ret && o->prealloc == MEM_POPULATE_NONE) {
		check_backed(&gm, m, what);
	} else if (!ret) {
		TEST_OK(mem_resident(&gm, 0, src->size, &bytes));
		TEST_ASSERT(bytes == src->size, "%s: prealloc backs all: %" PRIu64 " of %" PRIu64,
			    what, bytes, src->size);
	}
	if (!ret)
		snapt_check_region(&gm, m, what);
	mem_destroy(&gm);
	if (ret)
		return ret;
	TEST_ASSERT(rep->threads >= 1 && rep->data_bytes >= PAGE, "%s: report", what);
	TEST_ASSERT(!o->force || rep->how == o->how, "%s: how %d", what, rep->how);
	TEST_ASSERT(rep->threads == 1 || rep->how != MEM_SNAP_FILL_READ_MEMCPY,
		    "read+memcpy is the one-thread baseline");
	fprintf(stderr, "%s %s: %s, %u threads, %" PRIu64 " bytes, %" PRIu64 " us%s%s\n",
		b->name, what, mem_snap_fill_name(rep->how), rep->threads, rep->data_bytes,
		rep->ns / 1000, rep->why[0] ? "; why: " : "", rep->why);
	return 0;
}

static void run_roundtrip(const void *arg)
{
	const struct mem_backend_ops *b = arg;
	uint64_t size = b == &mem_backend_hugetlb ? HUGE_BYTES :
			b == &mem_backend_guest_memfd ? GMEM_BYTES : BIG_BYTES;
	struct mem_snap_save_opts so = { 0 };
	struct mem_snap_save_report srep;
	struct mem_snap_fill_report frep;
	struct mem_snap_src src = { .size = size, .nr_layers = 1 };
	struct mem_snap_fill_opts fo = snapt_fill_auto;
	struct guest_mem gm;
	struct model m;
	uint64_t data = 0;
	int ret;

	backend_require(b, b == &mem_backend_hugetlb ? 2 * size / MEM_HUGE_PAGE_BYTES : 0);
	snapt_ram_create(&gm, b, size);
	snapt_model_init(&m, size);
	for (uint64_t p = 0; p < m.pages; p++) {
		if (snapt_layout_salt(p, m.pages)) {
			snapt_put_page(&gm, &m, p, snapt_layout_salt(p, m.pages));
			data++;
		}
	}
	snapt_put_page(&gm, &m, 50, 9);
	snapt_put_page(&gm, &m, 50, 0);   /* snapt_backed, all zero: a hole in the file */

	src.layer[0].fd = snapt_save(&gm, &so, &srep);
	TEST_ASSERT(srep.data_bytes == data * PAGE, "%" PRIu64 " bytes written, want %" PRIu64,
		    srep.data_bytes, data * PAGE);
	TEST_ASSERT(srep.zero_pages >= 1 && srep.zero_pages + srep.hole_pages == m.pages - data,
		    "zero %" PRIu64 " + hole %" PRIu64 " pages", srep.zero_pages, srep.hole_pages);
	TEST_ASSERT(srep.pending_pages == 0 && srep.threads >= 1, "report");
	fprintf(stderr, "%s save: %" PRIu64 " data, %" PRIu64 " zero, %" PRIu64
		" unbacked pages, %u threads, %" PRIu64 " us\n", b->name, srep.data_bytes / PAGE,
		srep.zero_pages, srep.hole_pages, srep.threads, srep.ns / 1000);
	snapt_check_sparse(src.layer[0].fd, &m, "saved file");
	snapt_check_file(src.layer[0].fd, &m, "saved file");
	TEST_OK(mem_snap_src_init(&src, NULL));

	/* Every method forced; write only where the file takes write(). */
	fo.force = true;
	for (int how = 0; how < MEM_SNAP_FILL_NR; how++) {
		fo.how = (enum mem_snap_fill_how)how;
		ret = snapt_fill_check(b, &src, &m, &fo, mem_snap_fill_name(fo.how), &frep);
		TEST_ASSERT(ret == 0 || (how == MEM_SNAP_FILL_WRITE && ret == -EOPNOTSUPP &&
					 frep.why[0] && b != &mem_backend_memfd),
			    "%s: %s", mem_snap_fill_name(fo.how), strerror(-ret));
	}
	/* auto: write() where there is one (memfd has it), else populate+copy saying why. */
	TEST_OK(snapt_fill_check(b, &src, &m, &snapt_fill_auto, "auto", &frep));
	if (b == &mem_backend_memfd)
		TEST_ASSERT(frep.how == MEM_SNAP_FILL_WRITE && !frep.why[0], "memfd: auto: write");
	if (b == &mem_backend_anon || b == &mem_backend_hugetlb)
		TEST_ASSERT(frep.how == MEM_SNAP_FILL_POPULATE_COPY && frep.why[0],
			    "%s: auto is populate+copy, why given", b->name);
	fo = snapt_fill_auto;
	fo.prealloc = MEM_POPULATE_MADVISE;
	TEST_OK(snapt_fill_check(b, &src, &m, &fo, "auto, prealloc madvise", &frep));

	mem_snap_src_release(&src);
	close(src.layer[0].fd);
	mem_destroy(&gm);
	free(m.salt);
}

/* ---- diff layers: a 3-layer chain ---- */

static void bit_set(uint64_t *map, uint64_t page)
{
	map[page / 64] |= 1ull << (page % 64);
}

static bool bit_get(const uint64_t *map, uint64_t page)
{
	return (map[page / 64] >> (page % 64)) & 1;
}

/*
 * Change pages to salt (page 100 is zeroed instead: a data page of the base
 * that the diff must turn into zeros) and mark them, and the unchanged
 * pages same, in a new bitmap.
 */
static uint64_t *diff_pages(struct guest_mem *gm, struct model *m, const uint64_t *pages,
			    size_t n, const uint64_t *same, size_t nsame, uint8_t salt)
{
	uint64_t *map = calloc(mem_snap_bitmap_words(m->pages * PAGE), sizeof(uint64_t));

	TEST_ASSERT(map, "calloc");
	for (size_t i = 0; i < n; i++) {
		snapt_put_page(gm, m, pages[i], pages[i] == 100 ? 0 : salt);
		bit_set(map, pages[i]);
	}
	for (size_t i = 0; i < nsame; i++)
		bit_set(map, same[i]);
	return map;
}

/* Base, then two diffs of region gm; c->src initialized over them. */
void snapt_chain_build(struct chain *c, struct guest_mem *gm)
{
	static const uint64_t d1[] = { 2, 100, 150, 300, 301, 302, 303, 304, 305, 1000 };
	static const uint64_t s1[] = { 5 };                /* unbacked, unchanged */
	static const uint64_t d2[] = { 150, 305, 2000 };
	static const uint64_t s2[] = { 101 };              /* base data, unchanged */
	struct mem_snap_save_opts o = { 0 };
	struct mem_snap_save_report rep;
	struct model diff;
	unsigned int bad = 99;

	memset(c, 0, sizeof(*c));
	snapt_model_init(&c->m, SMALL_BYTES);
	for (uint64_t p = 0; p < c->m.pages; p++)
		if (snapt_layout_salt(p, c->m.pages))
			snapt_put_page(gm, &c->m, p, snapt_layout_salt(p, c->m.pages));
	c->src = (struct mem_snap_src){ .size = SMALL_BYTES, .nr_layers = 3 };
	c->src.layer[0].fd = snapt_save(gm, &o, &rep);

	snapt_model_init(&diff, SMALL_BYTES);
	c->present[1] = diff_pages(gm, &c->m, d1, 10, s1, 1, 201);
	o.only = c->present[1];
	c->src.layer[1] = (struct mem_snap_layer){ .fd = snapt_save(gm, &o, &rep),
						   .present = c->present[1] };
	/* The diff holds the non-zero pages of its bitmap only. */
	for (size_t i = 0; i < 10; i++)
		diff.salt[d1[i]] = c->m.salt[d1[i]];
	snapt_check_sparse(c->src.layer[1].fd, &diff, "diff 1");
	snapt_check_file(c->src.layer[1].fd, &diff, "diff 1");

	c->present[2] = diff_pages(gm, &c->m, d2, 3, s2, 1, 202);
	o.only = c->present[2];
	c->src.layer[2] = (struct mem_snap_layer){ .fd = snapt_save(gm, &o, &rep),
						   .present = c->present[2] };
	TEST_ASSERT(rep.data_bytes == 4 * PAGE, "diff 2: %" PRIu64 " bytes", rep.data_bytes);
	TEST_OK(mem_snap_src_init(&c->src, &bad));
	TEST_ASSERT(bad == 0, "bad_layer untouched: %u", bad);
	free(diff.salt);
}

void snapt_chain_free(struct chain *c)
{
	mem_snap_src_release(&c->src);
	for (unsigned int l = 0; l < c->src.nr_layers; l++) {
		close(c->src.layer[l].fd);
		free(c->present[l]);
	}
	free(c->m.salt);
}

static void run_chain(const void *arg)
{
	struct mem_snap_fill_report rep;
	struct guest_mem gm;
	uint8_t buf[PAGE];
	struct chain c;
	uint64_t pos = 0;

	snapt_ram_create(&gm, &mem_backend_anon, SMALL_BYTES);
	snapt_chain_build(&c, &gm);
	for (uint64_t p = 0; p < c.m.pages; p++) {
		uint8_t want = bit_get(c.present[2], p) ? 2 :
			       bit_get(c.present[1], p) ? 1 : 0;

		TEST_ASSERT(c.src.owner[p] == want, "page %" PRIu64 ": owner %u, want %u", p,
			    c.src.owner[p], want);
		TEST_OK(mem_snap_src_read(&c.src, p * PAGE, buf, PAGE));
		snapt_check_page(buf, p, c.m.salt[p], "chain read");
	}
	/* The data runs cover exactly the non-zero pages. */
	while (pos < SMALL_BYTES) {
		uint64_t start, stop, next;

		TEST_OK(mem_snap_src_data_run(&c.src, pos, SMALL_BYTES, &start, &stop));
		TEST_OK(mem_snap_src_next_data(&c.src, pos, &next));
		TEST_ASSERT(next == start && start <= stop, "runs");
		for (; pos < stop; pos += PAGE)
			TEST_ASSERT((c.m.salt[pos / PAGE] != 0) == (pos >= start),
				    "page %" PRIu64 " in a run: %d", pos / PAGE, pos >= start);
	}
	snapt_check_region(&gm, &c.m, "guest");
	TEST_OK(snapt_fill_check(&mem_backend_anon, &c.src, &c.m, &snapt_fill_auto, "chain", &rep));
	TEST_OK(snapt_fill_check(&mem_backend_memfd, &c.src, &c.m, &snapt_fill_auto, "chain",
				 &rep));
	TEST_ASSERT(rep.how == MEM_SNAP_FILL_WRITE, "memfd: write");
	snapt_chain_free(&c);
	mem_destroy(&gm);
}

/* ---- a snapshot of a region still being restored lazily ---- */

/*
 * A full layer file with m's contents, in a new unnamed file (path NULL) or
 * at path; its read-only fd. writer NULL: the writable fd is closed, else
 * it is kept open there.
 */
int snapt_layer_file(const struct model *m, const char *path, int *writer)
{
	int fd = path ? open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : snapt_tmp_file();
	char proc[64];
	uint8_t buf[PAGE];
	int ro;

	TEST_ASSERT(fd >= 0 && ftruncate(fd, (off_t)(m->pages * PAGE)) == 0, "create");
	for (uint64_t p = 0; p < m->pages; p++) {
		snapt_page_contents(p, m->salt[p], buf);
		if (m->salt[p])
			TEST_ASSERT(pwrite(fd, buf, PAGE, (off_t)(p * PAGE)) == (ssize_t)PAGE,
				    "pwrite");
	}
	if (!writer)
		return snapt_reopen_ro(fd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ro = open(proc, O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(ro >= 0, "open %s", proc);
	*writer = fd;
	return ro;
}

static void run_pending(const void *arg)
{
	struct mem_snap_src pend = { .size = SMALL_BYTES, .nr_layers = 1 };
	struct mem_snap_save_opts o = { 0 };
	struct mem_snap_save_report rep;
	struct model pm, guest, want;
	_Atomic uint64_t *fetched;
	struct guest_mem gm;
	int fd;

	snapt_model_init(&pm, SMALL_BYTES);
	snapt_model_init(&guest, SMALL_BYTES);
	snapt_model_init(&want, SMALL_BYTES);
	for (uint64_t p = 0; p < pm.pages; p += 3)
		pm.salt[p] = 5;
	pend.layer[0].fd = snapt_layer_file(&pm, NULL, NULL);
	TEST_OK(mem_snap_src_init(&pend, NULL));
	fetched = calloc(mem_snap_bitmap_words(SMALL_BYTES), sizeof(*fetched));
	TEST_ASSERT(fetched, "calloc");

	/* The first half is fetched (some pages then written, the rest zero and unbacked). */
	snapt_ram_create(&gm, &mem_backend_anon, SMALL_BYTES);
	for (uint64_t p = 0; p < pm.pages / 2; p++) {
		atomic_fetch_or(&fetched[p / 64], 1ull << (p % 64));
		if (p % 5 == 0)
			snapt_put_page(&gm, &guest, p, 6);
		want.salt[p] = guest.salt[p];
	}
	/* The rest is not: it must come from the chain, never from guest memory. */
	for (uint64_t p = pm.pages / 2; p < pm.pages; p++)
		want.salt[p] = pm.salt[p];
	snapt_put_page(&gm, &guest, pm.pages / 2 + 1, 7);
	o.pending = &pend;
	o.fetched = fetched;
	fd = snapt_save(&gm, &o, &rep);
	TEST_ASSERT(rep.pending_pages == pm.pages / 2, "%" PRIu64 " pending pages",
		    rep.pending_pages);
	snapt_check_sparse(fd, &want, "pending");
	snapt_check_file(fd, &want, "pending");
	close(fd);
	mem_destroy(&gm);
	mem_snap_src_release(&pend);
	close(pend.layer[0].fd);
	free(fetched);
	free(pm.salt);
	free(guest.salt);
	free(want.salt);
}

/* ---- chunk checksums ---- */

static void flip(int fd, uint64_t off, uint8_t x)
{
	uint8_t b;

	TEST_ASSERT(pread(fd, &b, 1, (off_t)off) == 1, "pread");
	b ^= x;
	TEST_ASSERT(pwrite(fd, &b, 1, (off_t)off) == 1, "pwrite");
}

static void run_checksums(const void *arg)
{
	const uint64_t nr = mem_snap_nr_chunks(CSUM_BYTES, CHUNK_BYTES);
	uint64_t sums[3] = { 0 }, bad = 99;
	struct mem_snap_save_opts o = { .chunk_bytes = CHUNK_BYTES, .chunk_sums = sums };
	struct mem_snap_save_report rep;
	struct guest_mem gm;
	struct model m;
	uint8_t *all = malloc(CSUM_BYTES);
	char path[64];
	int ro, rw;

	TEST_ASSERT(nr == 3 && all, "3 chunks, the last one short");
	snapt_ram_create(&gm, &mem_backend_anon, CSUM_BYTES);
	snapt_model_init(&m, CSUM_BYTES);
	for (uint64_t p = 0; p < 4; p++)
		snapt_put_page(&gm, &m, p, 1);
	snapt_put_page(&gm, &m, 9 * MiB / PAGE, 2);
	ro = snapt_save(&gm, &o, &rep);
	/* Independently: XXH3-64 of each chunk of the file as read (holes read as zeros). */
	TEST_ASSERT(pread(ro, all, CSUM_BYTES, 0) == (ssize_t)CSUM_BYTES, "pread");
	for (uint64_t k = 0; k < nr; k++) {
		uint64_t len = k == nr - 1 ? CSUM_BYTES - k * CHUNK_BYTES : CHUNK_BYTES;

		TEST_ASSERT(sums[k] == XXH3_64bits(all + k * CHUNK_BYTES, len),
			    "chunk %" PRIu64 ": %#" PRIx64, k, sums[k]);
	}
	TEST_OK(mem_snap_file_verify(ro, CSUM_BYTES, CHUNK_BYTES, sums, 0, NULL, &bad));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ro);
	rw = open(path, O_RDWR | O_CLOEXEC);
	TEST_ASSERT(rw >= 0, "open %s", path);

	flip(rw, 9 * MiB + 17, 0xff);                     /* data of the short last chunk */
	TEST_ASSERT(mem_snap_file_verify(ro, CSUM_BYTES, CHUNK_BYTES, sums, 4, NULL, &bad) == -EBADMSG &&
		    bad == 2, "flipped byte in chunk 2: bad %" PRIu64, bad);
	flip(rw, 5 * MiB + 3, 0x01);                      /* inside chunk 1, all hole */
	TEST_ASSERT(mem_snap_file_verify(ro, CSUM_BYTES, CHUNK_BYTES, sums, 4, NULL, &bad) == -EBADMSG &&
		    bad == 1, "the first bad chunk is reported: %" PRIu64, bad);
	flip(rw, 9 * MiB + 17, 0xff);
	flip(rw, 5 * MiB + 3, 0x01);                      /* zeros written as data: the same sum */
	TEST_OK(mem_snap_file_verify(ro, CSUM_BYTES, CHUNK_BYTES, sums, 0, NULL, &bad));
	TEST_ASSERT(ftruncate(rw, CSUM_BYTES + PAGE) == 0, "ftruncate");
	TEST_ASSERT(mem_snap_file_verify(ro, CSUM_BYTES, CHUNK_BYTES, sums, 0, NULL, &bad) == -EINVAL,
		    "wrong size");
	close(rw);
	close(ro);
	mem_destroy(&gm);
	free(m.salt);
	free(all);
}

/* ---- refusals ---- */

static void run_errors(const void *arg)
{
	struct mem_snap_src src = { .size = SMALL_BYTES, .nr_layers = 3 };
	uint64_t map[mem_snap_bitmap_words(SMALL_BYTES)], sum = 0, a, b;
	struct mem_snap_save_opts so = { 0 };
	struct mem_snap_save_report srep;
	struct mem_snap_fill_opts fo = snapt_fill_auto;
	struct mem_snap_fill_report frep;
	struct guest_mem gm;
	struct model m;
	unsigned int bad = 99;
	int pipefd[2], other, out;
	uint8_t buf[PAGE];

	snapt_model_init(&m, SMALL_BYTES);
	memset(map, 0, sizeof(map));
	TEST_ASSERT(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	src.layer[0].fd = snapt_layer_file(&m, NULL, NULL);
	for (unsigned int l = 1; l < 3; l++)
		src.layer[l] = (struct mem_snap_layer){ .fd = snapt_layer_file(&m, NULL, NULL),
							 .present = map };
	TEST_OK(mem_snap_src_init(&src, &bad));
	mem_snap_src_release(&src);

	src.nr_layers = 0;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL, "no layers");
	src.nr_layers = MEM_SNAP_MAX_LAYERS + 1;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL, "too many layers");
	src.nr_layers = 3;
	src.size = SMALL_BYTES + 1;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL, "unaligned size");
	src.size = SMALL_BYTES;
	src.layer[0].present = map;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL && bad == 0, "a diff as base");
	src.layer[0].present = NULL;
	src.layer[1].present = NULL;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL && bad == 1, "a full diff");
	src.layer[1].present = map;
	other = src.layer[1].fd;
	m.pages /= 2;
	src.layer[1].fd = snapt_layer_file(&m, NULL, NULL);
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL && bad == 1, "half the size");
	close(src.layer[1].fd);
	src.layer[1].fd = other;
	other = src.layer[2].fd;
	src.layer[2].fd = pipefd[0];
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EINVAL && bad == 2, "a pipe");
	src.layer[2].fd = -1;
	TEST_ASSERT(mem_snap_src_init(&src, &bad) == -EBADF && bad == 2, "a closed fd");
	src.layer[2].fd = other;
	TEST_OK(mem_snap_src_init(&src, &bad));
	TEST_ASSERT(mem_snap_src_read(&src, 1, buf, PAGE) == -EINVAL, "unaligned offset");
	TEST_ASSERT(mem_snap_src_read(&src, SMALL_BYTES, buf, PAGE) == -EINVAL, "past the end");
	TEST_ASSERT(mem_snap_src_data_run(&src, PAGE, 0, &a, &b) == -EINVAL, "off > end");
	TEST_ASSERT(mem_snap_src_next_data(&src, SMALL_BYTES, &a) == 0 && a == SMALL_BYTES, "end");

	/* Saving: the output must be an empty file; options must agree. */
	snapt_ram_create(&gm, &mem_backend_anon, SMALL_BYTES);
	out = snapt_tmp_file();
	so.pending = &src;
	TEST_ASSERT(mem_snap_save_region(&gm.region[0], out, &so, &srep) == -EINVAL, "no fetched");
	so = (struct mem_snap_save_opts){ .chunk_bytes = PAGE + 1, .chunk_sums = &sum };
	TEST_ASSERT(mem_snap_save_region(&gm.region[0], out, &so, &srep) == -EINVAL, "chunk size");
	so = (struct mem_snap_save_opts){ .chunk_bytes = PAGE };
	TEST_ASSERT(mem_snap_save_region(&gm.region[0], out, &so, &srep) == -EINVAL, "no sums");
	so = (struct mem_snap_save_opts){ 0 };
	TEST_ASSERT(mem_snap_save_region(&gm.region[0], pipefd[1], &so, &srep) == -EINVAL, "pipe");
	TEST_ASSERT(pwrite(out, "x", 1, 0) == 1, "pwrite");
	TEST_ASSERT(mem_snap_save_region(&gm.region[0], out, &so, &srep) == -EINVAL, "not empty");
	close(out);

	/* Filling: sizes must match; write() needs a file. */
	TEST_ASSERT(mem_snap_fill_region(&gm, 1, &src, &fo, &frep) == -EINVAL, "no region 1");
	src.size = SMALL_BYTES / 2;
	TEST_ASSERT(mem_snap_fill_region(&gm, 0, &src, &fo, &frep) == -EINVAL, "size");
	src.size = SMALL_BYTES;
	fo.force = true;
	fo.how = MEM_SNAP_FILL_NR;
	TEST_ASSERT(mem_snap_fill_region(&gm, 0, &src, &fo, &frep) == -EINVAL, "no such method");
	fo.how = MEM_SNAP_FILL_WRITE;
	TEST_ASSERT(mem_snap_fill_region(&gm, 0, &src, &fo, &frep) == -EOPNOTSUPP && frep.why[0],
		    "anon has no file to write");
	TEST_ASSERT(!strcmp(mem_snap_fill_name(MEM_SNAP_FILL_WRITE), "write") &&
		    !strcmp(mem_snap_fill_name(MEM_SNAP_FILL_POPULATE_COPY), "populate+copy") &&
		    !strcmp(mem_snap_fill_name(MEM_SNAP_FILL_READ_MEMCPY), "read+memcpy") &&
		    !mem_snap_fill_name(MEM_SNAP_FILL_NR), "names");
	TEST_ASSERT(mem_snap_file_verify(pipefd[0], SMALL_BYTES, PAGE, &sum, 0, NULL, NULL) == -EINVAL,
		    "verify a pipe");
	mem_destroy(&gm);
	mem_snap_src_release(&src);
	for (unsigned int l = 0; l < 3; l++)
		close(src.layer[l].fd);
	close(pipefd[0]);
	close(pipefd[1]);
	free(m.salt);
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "roundtrip-anon", run_roundtrip, &mem_backend_anon },
		{ "roundtrip-memfd", run_roundtrip, &mem_backend_memfd },
		{ "roundtrip-hugetlb", run_roundtrip, &mem_backend_hugetlb },
		{ "roundtrip-guest_memfd", run_roundtrip, &mem_backend_guest_memfd },
		{ "chain", run_chain, NULL },
		{ "pending", run_pending, NULL },
		{ "checksums", run_checksums, NULL },
		{ "truncated", run_truncated, NULL },
		{ "errors", run_errors, NULL },
		{ "map-anon", run_map_anon, NULL },
		{ "map-lease", run_map_lease, NULL },
		{ "map-refused", run_map_refused, NULL },
	};

	/* The hugetlb case may grow the pool; this process puts it back however it ends. */
	hugepages_save();
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
