// SPDX-License-Identifier: MIT
/*
 * Map restore of anon RAM from a chain (mem_snap_map_region()) and what
 * guards it: the read lease that makes a truncating process wait until
 * guest memory is detached from the file, refusals (memfd, a writer, a
 * short file), and a layer truncated under a fill (-EIO, never SIGBUS).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem/snapshot.h"
#include "tests/test.h"
#include "tests/test_snap_mem.h"

/* The lease-break signal must come this soon after the child truncates. */
#define LEASE_WAIT_S  10

/* ---- a layer truncated after init ---- */

void run_truncated(const void *arg)
{
	struct mem_snap_src src = { .size = SMALL_BYTES, .nr_layers = 1 };
	struct mem_snap_fill_opts o = snapt_fill_auto;
	struct mem_snap_fill_report rep;
	struct mem_snap_map *map = NULL;
	char why[WHY_BYTES];
	uint64_t a, b;
	struct guest_mem tgt;
	uint8_t buf[PAGE];
	struct model m;
	int writer = -1;

	snapt_model_init(&m, SMALL_BYTES);
	memset(m.salt, 3, m.pages);
	src.layer[0].fd = snapt_layer_file(&m, NULL, &writer);
	TEST_OK(mem_snap_src_init(&src, NULL));
	TEST_OK(snapt_fill_check(&mem_backend_anon, &src, &m, &snapt_fill_auto, "before truncation",
				 &rep));

	TEST_ASSERT(ftruncate(writer, SMALL_BYTES / 2) == 0, "ftruncate");
	for (int how = 0; how < MEM_SNAP_FILL_NR; how++) {
		const struct mem_backend_ops *be = how == MEM_SNAP_FILL_WRITE ? &mem_backend_memfd :
						   &mem_backend_anon;
		int ret;

		o.force = true;
		o.how = (enum mem_snap_fill_how)how;
		snapt_ram_create(&tgt, be, SMALL_BYTES);
		ret = mem_snap_fill_region(&tgt, 0, &src, &o, &rep);
		TEST_ASSERT(ret == -EIO, "%s after truncation: %d", mem_snap_fill_name(o.how), ret);
		mem_destroy(&tgt);
	}
	TEST_ASSERT(mem_snap_src_read(&src, SMALL_BYTES * 3 / 4, buf, PAGE) == -EIO, "read");
	TEST_ASSERT(mem_snap_src_next_data(&src, SMALL_BYTES * 3 / 4, &a) == -EIO, "next_data");
	TEST_ASSERT(mem_snap_src_data_run(&src, SMALL_BYTES / 2, SMALL_BYTES, &a, &b) == -EIO,
		    "data_run");
	/* Map mode: the writer is gone, the lease is taken, and the short file refused. */
	close(writer);
	snapt_ram_create(&tgt, &mem_backend_anon, SMALL_BYTES);
	TEST_ASSERT(mem_snap_map_region(&tgt, 0, &src, &map, why, sizeof(why)) == -EIO && !map,
		    "map of a truncated file: %s", why);
	fprintf(stderr, "map refused: %s\n", why);
	TEST_ASSERT(strstr(why, "truncated"), "why: %s", why);
	memset(m.salt, 0, m.pages);
	snapt_put_page(&tgt, &m, 7, 4);                         /* still fresh anon memory */
	snapt_check_region(&tgt, &m, "after refusal");
	mem_destroy(&tgt);
	mem_snap_src_release(&src);
	close(src.layer[0].fd);
	free(m.salt);
}


/* ---- map restore ---- */

void run_map_anon(const void *arg)
{
	struct mem_snap_map *map = NULL;
	struct guest_mem gm, tgt;
	char why[WHY_BYTES];
	uint8_t buf[PAGE];
	struct mem_snap_save_opts so = { 0 };
	struct mem_snap_save_report rep;
	bool detached = false;
	struct statfs sfs;
	char path[64];
	struct chain c;
	int fd;

	snapt_ram_create(&gm, &mem_backend_anon, SMALL_BYTES);
	snapt_chain_build(&c, &gm);
	mem_destroy(&gm);
	snapt_ram_create(&tgt, &mem_backend_anon, SMALL_BYTES);
	TEST_OK(mem_snap_map_region(&tgt, 0, &c.src, &map, why, sizeof(why)));
	/* Saved as anon memory, its untouched pages would be lost as holes: refused. */
	fd = snapt_tmp_file();
	TEST_ASSERT(mem_snap_save_region(&tgt.region[0], fd, &so, &rep) == -EINVAL,
		    "a file mapping saved as anon memory");
	close(fd);
	/* Writes stay private: the base file keeps its page. */
	snapt_put_page(&tgt, &c.m, 0, 99);
	TEST_ASSERT(pread(c.src.layer[0].fd, buf, PAGE, 0) == (ssize_t)PAGE, "pread");
	snapt_check_page(buf, 0, snapt_layout_salt(0, c.m.pages), "base file after a guest write");
	/* A snapshot now: the pages never touched are the base file's, not holes. */
	so.mapped = map;
	fd = snapt_save(&tgt, &so, &rep);
	TEST_ASSERT(rep.mapped_pages > 0, "pages from the base file: %" PRIu64, rep.mapped_pages);
	snapt_check_file(fd, &c.m, "snapshot of a mapped region");
	snapt_check_sparse(fd, &c.m, "snapshot of a mapped region");
	close(fd);
	snapt_check_region(&tgt, &c.m, "mapped chain");
	TEST_ASSERT(!mem_snap_map_is_detached(map), "attached");
	TEST_OK(mem_snap_map_detach(map, &detached));
	TEST_ASSERT(detached && mem_snap_map_is_detached(map), "detached");
	TEST_OK(mem_snap_map_detach(map, &detached));
	TEST_ASSERT(!detached, "detach is idempotent");
	/*
	 * Anonymous memory now: the base's holes unbacked, and the file no
	 * longer needed. Not on tmpfs: there the reads through the mapping
	 * above put zero pages into the file's page cache, which SEEK_DATA then
	 * reports as data (disk filesystems keep the holes).
	 */
	TEST_ASSERT(fstatfs(c.src.layer[0].fd, &sfs) == 0, "fstatfs");
	for (uint64_t p = 0; p < c.m.pages && sfs.f_type != TMPFS_MAGIC; p++)
		TEST_ASSERT(c.m.salt[p] || c.src.owner[p] || !snapt_backed(&tgt, p * PAGE, PAGE),
			    "hole page %" PRIu64 " snapt_backed after detach", p);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c.src.layer[0].fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, 0) == 0, "truncate the base file");
	close(fd);
	snapt_check_region(&tgt, &c.m, "detached, base file truncated");
	so.mapped = NULL;                                 /* anonymous memory again */
	fd = snapt_save(&tgt, &so, &rep);
	snapt_check_file(fd, &c.m, "snapshot after detach");
	close(fd);
	mem_snap_map_release(map);
	mem_destroy(&tgt);
	snapt_chain_free(&c);
}

/* A child truncating the mapped file blocks until the lease is let go. */
void run_map_lease(const void *arg)
{
	struct mem_snap_src src = { .size = SMALL_BYTES, .nr_layers = 1 };
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const struct timespec wait = { .tv_sec = LEASE_WAIT_S }, pause = { 0, 200000000 };
	struct mem_snap_map *map = NULL;
	char path[256], why[WHY_BYTES];
	struct guest_mem tgt;
	bool detached = false;
	sigset_t set;
	siginfo_t si;
	struct model m;
	struct stat st;
	pid_t child;
	int status, fd;

	snapt_model_init(&m, SMALL_BYTES);
	for (uint64_t p = 0; p < m.pages; p++)
		m.salt[p] = snapt_layout_salt(p, m.pages);
	snprintf(path, sizeof(path), "%s/snapmem-lease-XXXXXX", dir);
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0, "mkstemp %s", path);
	close(fd);
	src.layer[0].fd = snapt_layer_file(&m, path, NULL);
	TEST_OK(mem_snap_src_init(&src, NULL));

	sigemptyset(&set);
	sigaddset(&set, mem_snap_map_signal());
	TEST_ASSERT(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask");
	snapt_ram_create(&tgt, &mem_backend_anon, SMALL_BYTES);
	TEST_OK(mem_snap_map_region(&tgt, 0, &src, &map, why, sizeof(why)));
	snapt_put_page(&tgt, &m, 1, 77);          /* a private page before the break */
	child = fork();
	TEST_ASSERT(child >= 0, "fork");
	if (child == 0)
		_exit(truncate(path, 0) == 0 ? 0 : 1);
	TEST_ASSERT(sigtimedwait(&set, &si, &wait) == mem_snap_map_signal(),
		    "the lease break signal within %d s", LEASE_WAIT_S);
	nanosleep(&pause, NULL);
	TEST_ASSERT(waitpid(child, &status, WNOHANG) == 0, "the truncation waits for the lease");
	TEST_OK(mem_snap_map_detach(map, &detached));
	TEST_ASSERT(detached, "detached");
	TEST_ASSERT(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0, "the child truncated the file");
	TEST_ASSERT(stat(path, &st) == 0 && st.st_size == 0, "truncated");
	snapt_check_region(&tgt, &m, "after the file was truncated");
	unlink(path);
	mem_snap_map_release(map);
	mem_destroy(&tgt);
	mem_snap_src_release(&src);
	close(src.layer[0].fd);
	free(m.salt);
}

void run_map_refused(const void *arg)
{
	struct mem_snap_src src = { .size = SMALL_BYTES, .nr_layers = 1 };
	struct mem_snap_map *map = NULL;
	char why[WHY_BYTES];
	struct guest_mem tgt;
	struct model m;
	int writer = -1;

	snapt_model_init(&m, SMALL_BYTES);
	m.salt[3] = 8;
	src.layer[0].fd = snapt_layer_file(&m, NULL, &writer);
	TEST_OK(mem_snap_src_init(&src, NULL));
	snapt_ram_create(&tgt, &mem_backend_memfd, SMALL_BYTES);
	TEST_ASSERT(mem_snap_map_region(&tgt, 0, &src, &map, why, sizeof(why)) == -EOPNOTSUPP &&
		    !map && strstr(why, "anon"), "memfd refused: %s", why);
	fprintf(stderr, "memfd: %s\n", why);
	mem_destroy(&tgt);
	snapt_ram_create(&tgt, &mem_backend_anon, SMALL_BYTES);
	TEST_ASSERT(mem_snap_map_region(&tgt, 0, &src, &map, why, sizeof(why)) == -EOPNOTSUPP &&
		    !map && strstr(why, "open for writing"), "a writer: %s", why);
	fprintf(stderr, "with a writer: %s\n", why);
	memset(m.salt, 0, m.pages);
	snapt_put_page(&tgt, &m, 9, 4);                         /* still fresh anon memory */
	snapt_check_region(&tgt, &m, "after refusal");
	mem_destroy(&tgt);
	close(writer);
	mem_snap_src_release(&src);
	close(src.layer[0].fd);
	free(m.salt);
}

