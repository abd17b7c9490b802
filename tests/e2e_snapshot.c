// SPDX-License-Identifier: MIT
/*
 * End to end: snapshots (`memvmm ctl ... snapshot`, `memvmm run --restore`)
 * of the real test guest, checked by what the guest finds in its memory
 * after the restore (verify, report's checksum against the original run's)
 * and by what memvmm says (the snapshot reply, the "memvmm: restored" line).
 *
 * Cases (argv[1]; each its own Meson test):
 *   cli                  --restore refusals before any VM exists (no KVM)
 *   damaged              state and memory files truncated, flipped, missing,
 *                        another format version, a diff's parent gone,
 *                        verify=on: exit 1 (2) naming the file and the reason
 *   rt-BACKEND-MODE      a live snapshot restored in MODE on BACKEND: the
 *                        guest goes on where it was, its memory intact
 *   refuse-modes         modes the backend cannot do; another backend than saved
 *   diff-chain           full + two diffs: restores of the chain's ends
 *   diff-refused-guest_memfd  parent= on guest_memfd: the dirty-log reason
 *   ctl-errors           `ctl snapshot` refusals; the VM keeps running
 *   vmem, balloon        device state across a restore: the devices keep working
 *   lazy-resnap          a lazily restored VM snapshotted again at once (CH #8525)
 *   truncate-lazy        a memory file truncated under a lazy restore: exit 1
 *   truncate-map         ... under a map restore: the lease, no SIGBUS
 *   ext-guest            a guest written outside the project ($EXT_GUEST_ELF)
 *
 * The files: e2e_snapshot.c (this: cli, damaged), e2e_snapshot_rt.c (round
 * trips, modes, diffs, ctl errors), e2e_snapshot_dev.c (devices, lazy and
 * map corner cases, the external guest), e2e_snapshot_util.c (helpers).
 */
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mem/mem.h"
#include "tests/e2e.h"
#include "tests/e2e_snapshot.h"
#include "tests/test.h"

#define CHECKSUM_BYTES     8
#define FDT_HEADER_BYTES   40
#define BIG_STATE_BYTES    (65u << 20)   /* over the 64 MiB a state file may be */

/* ---- what memvmm must refuse ------------------------------------------------ */

static void expect_restore_refused(const char *spec, int status, const char *want,
				   const char *want2, const char *what)
{
	const char *args[] = { "run", "--restore", spec, NULL };

	snap_expect_refused(args, status, want, want2, what);
}

/* ---- state files made here (libfdt, XXH3: vmm/snap_state.h's format) ------ */

/* /checksum = XXH3-64 of the blob with its 8 bytes zero, big-endian. */
static void seal(void *blob)
{
	int len;
	uint8_t *p = (uint8_t *)fdt_getprop(blob, 0, "checksum", &len);

	TEST_ASSERT(p && len == CHECKSUM_BYTES, "no 8-byte /checksum in the state file");
	memset(p, 0, CHECKSUM_BYTES);
	fdt64_st(p, XXH3_64bits(blob, fdt_totalsize(blob)));
}

/* A devicetree with only /format-version and /checksum, sealed. */
static void *minimal_state(uint32_t version, size_t *len)
{
	const size_t size = 4096;
	void *blob = calloc(1, size);

	TEST_ASSERT(blob, "out of memory");
	TEST_ASSERT(fdt_create_empty_tree(blob, (int)size) == 0 &&
		    fdt_setprop_u32(blob, 0, "format-version", version) == 0 &&
		    fdt_setprop_u64(blob, 0, "checksum", 0) == 0 && fdt_pack(blob) == 0,
		    "building a devicetree");
	seal(blob);
	*len = fdt_totalsize(blob);
	return blob;
}

/* ---- cli: refusals before any VM exists (no KVM needed) -------------------- */

static void cli_fixed_options(const char *dir)
{
	static const struct {
		const char *opt, *val, *want;
	} fixed[] = {
		{ "--kernel", "/nonexistent/kernel", "--kernel cannot be used with --restore" },
		{ "--initrd", "/nonexistent/initrd", "--initrd cannot be used with --restore" },
		{ "--vcpus", "2", "--vcpus cannot be used with --restore" },
		{ "--cmdline", "touch=1M", "--cmdline cannot be used with --restore" },
		{ "--virtio-mem", "size=1G", "--virtio-mem cannot be used with --restore" },
		{ "--balloon", "on", "--balloon cannot be used with --restore" },
		{ "--memory", "size=256M", "--memory size= cannot be used with --restore" },
		{ "--memory", "backend=anon,size=512M", "--memory size= cannot be used" },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		const char *after[] = { "run", "--restore", dir, fixed[i].opt, fixed[i].val, NULL };
		const char *before[] = { "run", fixed[i].opt, fixed[i].val, "--restore", dir,
					 NULL };

		snap_expect_refused(after, 2, fixed[i].want, NULL, fixed[i].opt);
		snap_expect_refused(before, 2, fixed[i].want, NULL, fixed[i].opt);
	}
}

static void cli_groups(const char *dir)
{
	char spec[SNAP_PATH_MAX + 64];

	expect_restore_refused("", 2, "--restore", NULL, "--restore ''");
	expect_restore_refused("path=", 2, "path=DIR", NULL, "--restore path=");
	expect_restore_refused("mode=eager", 2, "path=DIR", NULL, "--restore without path=");
	snprintf(spec, sizeof(spec), "path=%s,mode=bogus", dir);
	expect_restore_refused(spec, 2, "'bogus'", NULL, "mode=bogus");
	snprintf(spec, sizeof(spec), "path=%s,verify=maybe", dir);
	expect_restore_refused(spec, 2, "'maybe'", NULL, "verify=maybe");
	snprintf(spec, sizeof(spec), "path=%s,background=perhaps", dir);
	expect_restore_refused(spec, 2, "'perhaps'", NULL, "background=perhaps");
	snprintf(spec, sizeof(spec), "path=%s,frobnicate=1", dir);
	expect_restore_refused(spec, 2, "frobnicate", NULL, "an unknown key");
	snprintf(spec, sizeof(spec), "path=%s,mode=eager,background=off", dir);
	expect_restore_refused(spec, 2, "background=off", NULL, "background=off in mode eager");
}

/* A directory with state.dtb holding data[0..len) (data NULL: no state.dtb), refused. */
static void cli_state(const char *tmp, const char *name, const void *data, size_t len,
		      int status, const char *want, const char *want2, const char *what)
{
	char dir[SNAP_PATH_MAX], path[SNAP_PATH_MAX];

	snap_path(dir, tmp, name);
	TEST_ASSERT(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	if (data)
		snap_write_file(snap_path(path, dir, "state.dtb"), data, len);
	expect_restore_refused(dir, status, want, want2 ? want2 : dir, what);
}

void case_cli(const void *unused)
{
	static const char garbage[] = "this is not a devicetree\n";
	const char *tmp = snap_tmpdir();
	char dir[SNAP_PATH_MAX], path[SNAP_PATH_MAX], target[SNAP_PATH_MAX];
	void *blob;
	size_t len;
	int fd;

	/* A directory with a garbage state file: the options are refused before it is read. */
	snap_path(dir, tmp, "garbage");
	TEST_ASSERT(mkdir(dir, 0700) == 0, "mkdir");
	snap_write_file(snap_path(path, dir, "state.dtb"), garbage, sizeof(garbage) - 1);
	cli_fixed_options(dir);
	cli_groups(dir);

	/* Paths that are no snapshot directory: exit 2 naming them. */
	expect_restore_refused(snap_path(path, tmp, "missing"), 2, path, "No such file",
			       "a missing directory");
	snap_write_file(snap_path(path, tmp, "file"), garbage, sizeof(garbage) - 1);
	expect_restore_refused(path, 2, path, "Not a directory", "a regular file as the directory");

	/* Directories that are no snapshot: exit 1 naming the state file and the reason. */
	expect_restore_refused(dir, 1, "refused", dir, "a garbage state.dtb");
	cli_state(tmp, "empty-dir", NULL, 0, 1, "state.dtb", NULL, "a directory without state.dtb");
	cli_state(tmp, "empty-state", "", 0, 1, "state.dtb", NULL, "an empty state.dtb");
	/* A state file over the limit: refused by its size, never read whole. */
	snap_path(dir, tmp, "big");
	TEST_ASSERT(mkdir(dir, 0700) == 0, "mkdir");
	fd = open(snap_path(path, dir, "state.dtb"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, BIG_STATE_BYTES) == 0 && close(fd) == 0, "%s", path);
	expect_restore_refused(dir, 1, "state.dtb", dir, "a 65 MiB state.dtb");
	/* state.dtb a directory, and a symbolic link (not followed). */
	snap_path(dir, tmp, "state-dir");
	TEST_ASSERT(mkdir(dir, 0700) == 0 && mkdir(snap_path(path, dir, "state.dtb"), 0700) == 0,
		    "mkdir");
	expect_restore_refused(dir, 1, "state.dtb", dir, "state.dtb a directory");
	snap_path(dir, tmp, "state-link");
	TEST_ASSERT(mkdir(dir, 0700) == 0, "mkdir");
	snap_path(target, tmp, "garbage/state.dtb");
	TEST_ASSERT(symlink(target, snap_path(path, dir, "state.dtb")) == 0, "symlink");
	expect_restore_refused(dir, 1, "state.dtb", dir, "state.dtb a symbolic link");

	/* Devicetrees sealed here: the checksum is right, the content is not. */
	blob = minimal_state(1, &len);
	cli_state(tmp, "minimal", blob, len, 1, "refused", "/id", "a state file without /id");
	/* format-version 1 -> 0x01000001: the checksum finds it first. */
	((uint8_t *)fdt_getprop(blob, 0, "format-version", NULL))[0] ^= 0x01;
	cli_state(tmp, "minimal-flipped", blob, len, 1, "refused", "checksum",
		  "a flipped byte in /format-version");
	free(blob);
	blob = minimal_state(2, &len);
	cli_state(tmp, "version-2", blob, len, 1, "format version 2", NULL,
		  "format-version 2, sealed");
	free(blob);
	TEST_PASS("cli: every --restore refusal exits 1 or 2 naming what is wrong, before any VM");
}

/* ---- damaged: a real snapshot, then copies of it damaged ------------------------ */

struct damaged {
	const char *tmp;
	char s[SNAP_PATH_MAX];     /* full snapshot at gate 1 */
	char sd[SNAP_PATH_MAX];    /* diff of s at gate 2 */
	char sv[SNAP_PATH_MAX];    /* full, verify=on, at gate 1 */
	unsigned int n;            /* copies made */
};

/* A new copy of src in the scratch directory; mem_real: mem-0.raw copied, not linked. */
static char *damaged_copy(struct damaged *d, const char *src, bool mem_real, char *dst)
{
	char name[32], a[SNAP_PATH_MAX], b[SNAP_PATH_MAX];

	snprintf(name, sizeof(name), "copy-%u", d->n++);
	snap_copy_dir(src, snap_path(dst, d->tmp, name));
	if (mem_real) {
		TEST_ASSERT(unlink(snap_path(b, dst, "mem-0.raw")) == 0, "unlink %s", b);
		snap_copy_file(snap_path(a, src, "mem-0.raw"), b, false);
	}
	return dst;
}

/* state.dtb of a copy of s replaced by blob[0..len). Must be refused naming it. */
static void damaged_state(struct damaged *d, const uint8_t *blob, size_t len, const char *what)
{
	char dst[SNAP_PATH_MAX], path[SNAP_PATH_MAX];

	damaged_copy(d, d->s, false, dst);
	snap_write_file(snap_path(path, dst, "state.dtb"), blob, len);
	expect_restore_refused(dst, 1, dst, "state.dtb", what);
}

static void damaged_state_files(struct damaged *d)
{
	char path[SNAP_PATH_MAX], what[96];
	size_t len, cuts[8], flips[12], nc = 0, nf = 0;
	uint8_t *blob = snap_read_file(snap_path(path, d->s, "state.dtb"), &len), *copy;
	uint64_t stored;

	TEST_ASSERT(len > 2 * FDT_HEADER_BYTES, "state.dtb is %zu bytes", len);
	cuts[nc++] = 1;
	cuts[nc++] = FDT_HEADER_BYTES - 1;
	cuts[nc++] = FDT_HEADER_BYTES;
	cuts[nc++] = len / 3;
	cuts[nc++] = len / 2;
	cuts[nc++] = len - CHECKSUM_BYTES;
	cuts[nc++] = len - 1;
	for (size_t i = 0; i < nc; i++) {
		snprintf(what, sizeof(what), "state.dtb truncated to %zu of %zu bytes", cuts[i],
			 len);
		damaged_state(d, blob, cuts[i], what);
	}
	/* Header fields (magic, totalsize, offsets, version), the structure, the strings. */
	flips[nf++] = 0;
	flips[nf++] = 5;
	flips[nf++] = 9;
	flips[nf++] = 13;
	flips[nf++] = 21;
	flips[nf++] = FDT_HEADER_BYTES + 3;
	flips[nf++] = len / 4;
	flips[nf++] = len / 2;
	flips[nf++] = len / 2 + 1;
	flips[nf++] = 3 * len / 4;
	flips[nf++] = len - 1;
	copy = malloc(len);
	TEST_ASSERT(copy, "out of memory");
	for (size_t i = 0; i < nf; i++) {
		memcpy(copy, blob, len);
		copy[flips[i]] ^= 0xff;
		snprintf(what, sizeof(what), "state.dtb byte %zu of %zu flipped", flips[i], len);
		damaged_state(d, copy, len, what);
	}

	/* This test's own seal reproduces memvmm's checksum: the format is as documented. */
	memcpy(copy, blob, len);
	TEST_ASSERT(fdt_check_full(copy, len) == 0, "memvmm's state.dtb: fdt_check_full");
	stored = fdt64_ld(fdt_getprop(copy, 0, "checksum", NULL));
	seal(copy);
	TEST_ASSERT(fdt64_ld(fdt_getprop(copy, 0, "checksum", NULL)) == stored,
		    "XXH3-64 with /checksum zeroed is not what memvmm stored");
	TEST_ASSERT(fdt_setprop_inplace_u32(copy, 0, "format-version", 2) == 0,
		    "no 4-byte /format-version");
	seal(copy);
	damaged_copy(d, d->s, false, path);
	snap_write_file(snap_path(what, path, "state.dtb"), copy, len);
	expect_restore_refused(path, 1, "format version 2", path, "format-version 2, resealed");
	free(copy);
	free(blob);
}

static void damaged_mem_files(struct damaged *d)
{
	char dst[SNAP_PATH_MAX], path[SNAP_PATH_MAX], a[SNAP_PATH_MAX];
	struct stat st;

	damaged_copy(d, d->s, false, dst);
	TEST_ASSERT(unlink(snap_path(path, dst, "state.dtb")) == 0, "unlink");
	expect_restore_refused(dst, 1, "state.dtb", "No such file", "state.dtb missing");

	damaged_copy(d, d->s, false, dst);
	TEST_ASSERT(unlink(snap_path(path, dst, "mem-0.raw")) == 0, "unlink");
	expect_restore_refused(dst, 1, "mem-0.raw", "No such file", "mem-0.raw missing");

	TEST_ASSERT(stat(snap_path(a, d->s, "mem-0.raw"), &st) == 0, "stat %s", a);
	damaged_copy(d, d->s, true, dst);
	TEST_ASSERT(truncate(snap_path(path, dst, "mem-0.raw"), st.st_size - 4096) == 0,
		    "truncate");
	expect_restore_refused(dst, 1, "mem-0.raw", dst, "mem-0.raw 4096 bytes short");

	damaged_copy(d, d->s, true, dst);
	TEST_ASSERT(truncate(snap_path(path, dst, "mem-0.raw"), st.st_size + 4096) == 0,
		    "truncate");
	expect_restore_refused(dst, 1, "mem-0.raw", dst, "mem-0.raw 4096 bytes long");

	damaged_copy(d, d->s, false, dst);
	TEST_ASSERT(unlink(snap_path(path, dst, "mem-0.raw")) == 0 &&
		    mkdir(path, 0700) == 0, "mem-0.raw as a directory");
	expect_restore_refused(dst, 1, "mem-0.raw", dst, "mem-0.raw a directory");
}

/* A diff whose parent directory is gone (and no sibling of its name). */
static void damaged_parent(struct damaged *d)
{
	char away[SNAP_PATH_MAX], abs_s[SNAP_PATH_MAX];

	snap_abs(abs_s, d->s);
	snap_path(away, d->tmp, "parent-moved-away");
	TEST_ASSERT(rename(d->s, away) == 0, "rename %s", d->s);
	expect_restore_refused(d->sd, 1, "parent", abs_s, "a diff whose parent is missing");
	TEST_ASSERT(rename(away, d->s) == 0, "rename back");
}

static void damaged_verify(struct damaged *d)
{
	char dst[SNAP_PATH_MAX], path[SNAP_PATH_MAX], spec[SNAP_PATH_MAX + 32];
	struct snap_rt rt = { .spec = spec, .sends = 2, .verifies = 1 };
	uint8_t byte;
	off_t data;
	int fd;

	/* One data byte flipped in a copy of the verify=on snapshot. */
	damaged_copy(d, d->sv, true, dst);
	fd = open(snap_path(path, dst, "mem-0.raw"), O_RDWR);
	TEST_ASSERT(fd >= 0, "open %s", path);
	data = lseek(fd, 16 << 20, SEEK_DATA);
	TEST_ASSERT(data >= 0 && pread(fd, &byte, 1, data + 100) == 1, "no data in %s", path);
	byte ^= 0xff;
	TEST_ASSERT(pwrite(fd, &byte, 1, data + 100) == 1 && close(fd) == 0, "flip");
	snprintf(spec, sizeof(spec), "path=%s,verify=on", dst);
	expect_restore_refused(spec, 1, "checksum mismatch", "mem-0.raw",
			       "verify=on, one data byte flipped in mem-0.raw");

	/* The intact one restores, checked. */
	snprintf(spec, sizeof(spec), "path=%s,verify=on", d->sv);
	snap_restore_check(&rt);
	printf("ok - verify=on of an intact snapshot: restored, the guest's memory intact (%s)\n",
	       rt.restored);

	/* verify=on of a snapshot saved without checksums: a bad request. */
	snprintf(spec, sizeof(spec), "path=%s,verify=on", d->s);
	expect_restore_refused(spec, 2, "without checksums", d->s,
			       "verify=on, saved without checksums");
}

void case_damaged(const void *unused)
{
	const char *args[] = { "--memory", "size=256M,backend=anon", "--cmdline",
			       "touch=32M read=1 bump read=1 verify exit=0", NULL };
	struct damaged d = { .tmp = snap_tmpdir() };
	char chain[SNAP_PATH_MAX], line[SNAP_LINE_BYTES], parent[SNAP_PATH_MAX + 8];
	const char *verify_on[] = { "verify=on", NULL };
	const char *diff_stop[] = { parent, "stop=on", NULL };
	struct snap_taken tv, ts, tsd;
	struct e2e_gated g;

	snap_require_backend(&mem_backend_anon, 0);
	TEST_ASSERT(mkdir(snap_path(chain, d.tmp, "chain"), 0700) == 0, "mkdir");
	snap_path(d.s, chain, "s");
	snap_path(d.sd, chain, "sd");
	snap_path(d.sv, d.tmp, "sv");
	snprintf(parent, sizeof(parent), "parent=%s", d.s);

	e2e_gated_start(&g, args, NULL);
	e2e_gated_line(&g, "touch", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, d.sv, verify_on, &tv);
	snap_take(&g, d.s, NULL, &ts);
	e2e_gated_send(&g);
	e2e_gated_line(&g, "bump", 1, line, sizeof(line), SNAP_STEP_S);
	snap_take(&g, d.sd, diff_stop, &tsd);
	TEST_ASSERT(e2e_gated_wait(&g, SNAP_EXIT_S) == 0, "stop=on must end memvmm with 0:\n%s",
		    e2e_gated_output(&g));
	e2e_gated_end(&g);
	printf("ok - snapshots: full %lluK (state %lluK) in %.1f ms, verify=on %lluK in %.1f ms, "
	       "diff %lluK (%llu dirty pages) in %.1f ms\n", (unsigned long long)(ts.bytes >> 10),
	       (unsigned long long)(ts.state_bytes >> 10), ts.ms,
	       (unsigned long long)(tv.bytes >> 10), tv.ms, (unsigned long long)(tsd.bytes >> 10),
	       (unsigned long long)tsd.ram_dirty_pages, tsd.ms);

	damaged_state_files(&d);
	damaged_mem_files(&d);
	damaged_parent(&d);
	damaged_verify(&d);
	TEST_PASS("damaged: every damaged copy refused with exit 1 (2 for verify=on without "
		  "checksums), naming the file and the reason, no guest run");
}

int main(int argc, char **argv)
{
	static const struct snap_rt_case rt[] = {
		{ &mem_backend_anon, "eager" }, { &mem_backend_anon, "map" },
		{ &mem_backend_anon, "lazy-copy" }, { &mem_backend_anon, "lazy-move" },
		{ &mem_backend_anon, "auto" },
		{ &mem_backend_memfd, "eager" }, { &mem_backend_memfd, "lazy-minor" },
		{ &mem_backend_memfd, "auto" },
		{ &mem_backend_guest_memfd, "eager" }, { &mem_backend_guest_memfd, "auto" },
		{ &mem_backend_hugetlb, "eager" }, { &mem_backend_hugetlb, "auto" },
	};
	static const struct e2e_case cases[] = {
		{ "cli", case_cli, NULL },
		{ "damaged", case_damaged, NULL },
		{ "rt-anon-eager", case_rt, &rt[0] },
		{ "rt-anon-map", case_rt, &rt[1] },
		{ "rt-anon-lazy-copy", case_rt, &rt[2] },
		{ "rt-anon-lazy-move", case_rt, &rt[3] },
		{ "rt-anon-auto", case_rt, &rt[4] },
		{ "rt-memfd-eager", case_rt, &rt[5] },
		{ "rt-memfd-lazy-minor", case_rt, &rt[6] },
		{ "rt-memfd-auto", case_rt, &rt[7] },
		{ "rt-guest_memfd-eager", case_rt, &rt[8] },
		{ "rt-guest_memfd-auto", case_rt, &rt[9] },
		{ "rt-hugetlb-eager", case_rt, &rt[10] },
		{ "rt-hugetlb-auto", case_rt, &rt[11] },
		{ "refuse-modes", case_refuse_modes, NULL },
		{ "diff-chain", case_diff_chain, NULL },
		{ "diff-refused-guest_memfd", case_diff_refused_gmem, NULL },
		{ "ctl-errors", case_ctl_errors, NULL },
		{ "vmem", case_vmem, NULL },
		{ "balloon", case_balloon, NULL },
		{ "lazy-resnap", case_lazy_resnap, NULL },
		{ "truncate-lazy", case_truncate_lazy, NULL },
		{ "truncate-map", case_truncate_map, NULL },
		{ "ext-guest", case_ext_guest, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
