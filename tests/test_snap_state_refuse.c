// SPDX-License-Identifier: MIT
/*
 * Refusals of the snapshot state file (vmm/snap_state.h): a valid blob is
 * edited with libfdt (a property deleted, resized, set out of range; nodes
 * added, renamed, removed) and resealed, so that what refuses it is the
 * parser's structure and value checks, not the checksum; and the headers'
 * lengths are made huge (no reseal possible: fdt_check_full refuses). The
 * builder refuses the same values in a struct. Also the fuzz seed corpus.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "mem/snapshot.h"
#include "tests/test.h"
#include "tests/test_snap_state.h"
#include "vmm/snap_state.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

/* Room for an edit to grow the blob: more than the largest property set here. */
#define EDIT_ROOM_BYTES (4u << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	TEST_ASSERT(p, "calloc %zu x %zu", n, size);
	return p;
}

void snap_test_edit_open(const struct snap_test_blob *b, struct snap_test_blob *e)
{
	e->len = b->len + EDIT_ROOM_BYTES;
	e->p = xcalloc(1, e->len);
	TEST_ASSERT(fdt_open_into(b->p, e->p, (int)e->len) == 0, "fdt_open_into");
}

void snap_test_edit_close(struct snap_test_blob *e)
{
	TEST_ASSERT(fdt_pack(e->p) == 0, "fdt_pack");
	e->len = fdt_totalsize(e->p);
	TEST_OK(snap_state_seal(e->p, e->len));
}

enum edit_kind { SET_U32, SET_U64, SET_STR, SET_RAW, DEL_PROP, DEL_NODE, ADD_NODE };

struct edit {
	const char *path;
	const char *name;        /* the property; for ADD_NODE the new node */
	enum edit_kind kind;
	uint64_t v;              /* the value; for SET_RAW the length */
	const char *bytes;       /* SET_STR: the string; SET_RAW: v bytes (NULL: zeros) */
	const char *want;        /* in the reason; NULL: parse must accept */
};

static void apply(struct snap_test_blob *e, const struct edit *x)
{
	int node = fdt_path_offset(e->p, x->path);
	char *buf;
	int ret = 0;

	TEST_ASSERT(node >= 0, "no node %s in the blob", x->path);
	switch (x->kind) {
	case SET_U32:
		ret = fdt_setprop_u32(e->p, node, x->name, (uint32_t)x->v);
		break;
	case SET_U64:
		ret = fdt_setprop_u64(e->p, node, x->name, x->v);
		break;
	case SET_STR:
		ret = fdt_setprop_string(e->p, node, x->name, x->bytes);
		break;
	case SET_RAW:
		buf = xcalloc(1, x->v + 1);
		if (x->bytes)
			memcpy(buf, x->bytes, x->v);
		ret = fdt_setprop(e->p, node, x->name, buf, (int)x->v);
		free(buf);
		break;
	case DEL_PROP:
		ret = fdt_delprop(e->p, node, x->name);
		break;
	case DEL_NODE:
		ret = fdt_del_node(e->p, node);
		break;
	case ADD_NODE:
		ret = fdt_add_subnode(e->p, node, x->name);
		ret = ret < 0 ? ret : 0;
		break;
	}
	TEST_ASSERT(ret == 0, "edit %s %s: %s", x->path, x->name ? x->name : "", fdt_strerror(ret));
}

/* Apply x to a copy of b, reseal, and parse: refused as x says, or accepted. */
static void check_edit(const struct snap_test_blob *b, const struct edit *x)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));
	char why[SNAP_TEST_WHY_BYTES];
	struct snap_test_blob e;
	int ret;

	snap_test_edit_open(b, &e);
	apply(&e, x);
	snap_test_edit_close(&e);
	if (x->want) {
		snap_test_refused(&e, -EINVAL, x->want);
	} else {
		ret = snap_test_parse(&e, s, why, sizeof(why));
		TEST_ASSERT(ret == 0, "%s %s: refused (%s)", x->path, x->name ? x->name : "", why);
		snap_state_release(s);
	}
	free(e.p);
	free(s);
}

static void full_blob(struct snap_test_blob *b)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));

	snap_test_full(s);
	snap_test_build(s, b);
	snap_state_release(s);
	free(s);
}

/* "PATH/NAME" as the parser names a property (the root's path is ""). */
static void prop_path(char *out, size_t len, const char *path, const char *name)
{
	snprintf(out, len, "%s/%s", strcmp(path, "/") ? path : "", name);
}

void snap_test_run_missing(const void *arg)
{
	static const struct {
		const char *path;
		const char *names[9];
	} required[] = {
		{ "/", { "format-version", "id", "created-ns" } },
		{ "/config", { "mem-size", "backend", "populate", "prefault", "thp",
			       "populate-threads", "vcpus", "cmdline" } },
		{ "/config/virtio-mem", { "size", "requested", "block", "backend", "populate" } },
		{ "/config/balloon", { "size", "stats-interval-s" } },
		{ "/memory/region@0", { "role", "gpa", "size", "backend", "file" } },
		{ "/memory/region@1", { "role", "gpa", "size", "backend", "file", "chunk-sums" } },
		{ "/memory/region@2", { "role", "gpa", "size", "backend", "file" } },
		{ "/cpus/cpu@0", { "regs", "sregs", "lapic", "events", "mp-state", "msrs" } },
		{ "/cpus/cpu@1", { "regs", "sregs", "lapic", "events", "mp-state", "msrs" } },
		{ "/irqchip", { "pic-master", "pic-slave", "ioapic", "pit", "clock" } },
		{ "/devices/dev@0", { "device", "state" } },
		{ "/devices/dev@3", { "device", "state" } },
		{ "/parent", { "path", "id" } },
	};
	static const char *const nodes[] = { "/config", "/memory", "/cpus", "/irqchip", "/devices" };
	/* Optional parts: the blob stays valid without them. */
	static const struct edit optional[] = {
		{ "/config/virtio-mem", NULL, DEL_NODE, 0, NULL, NULL },
		{ "/config/balloon", NULL, DEL_NODE, 0, NULL, NULL },
		{ "/config/balloon", "deflate-on-oom", DEL_PROP, 0, NULL, NULL },
		{ "/cpus/cpu@0", "xcrs", DEL_PROP, 0, NULL, NULL },
		{ "/cpus/cpu@0", "debugregs", DEL_PROP, 0, NULL, NULL },
		{ "/memory/region@1", "present", DEL_PROP, 0, NULL, NULL },
		{ "/devices/dev@3", NULL, DEL_NODE, 0, NULL, NULL },
		/* The other way round: what a missing part turns into. */
		{ "/memory/region@1", "chunk-bytes", DEL_PROP, 0, NULL,
		  "/memory/region@1/chunk-sums: without chunk-bytes" },
		{ "/cpus/cpu@0", "xsave", DEL_PROP, 0, NULL, "/cpus/cpu@0/fpu: missing" },
		{ "/memory/region@0", NULL, DEL_NODE, 0, NULL, "/memory: subnode 0 is not named region@0" },
		{ "/devices/dev@1", NULL, DEL_NODE, 0, NULL, "/devices: subnode 1 is not named dev@1" },
		{ "/cpus/cpu@1", NULL, DEL_NODE, 0, NULL, "/cpus: 1 cpu nodes, /config/vcpus is 2" },
		{ "/parent", NULL, DEL_NODE, 0, NULL,
		  "/memory/region@1/present: a diff region in a snapshot without /parent" },
	};
	struct snap_test_blob b;
	struct edit x = { .kind = DEL_PROP };
	char want[128];
	size_t i, j;

	(void)arg;
	full_blob(&b);
	for (i = 0; i < ARRAY_SIZE(required); i++) {
		for (j = 0; j < ARRAY_SIZE(required[i].names) && required[i].names[j]; j++) {
			x.path = required[i].path;
			x.name = required[i].names[j];
			prop_path(want, sizeof(want) - 10, x.path, x.name);
			strcat(want, ": missing");
			x.want = want;
			check_edit(&b, &x);
		}
	}
	x.kind = DEL_NODE;
	x.name = NULL;
	for (i = 0; i < ARRAY_SIZE(nodes); i++) {
		x.path = nodes[i];
		snprintf(want, sizeof(want), "%s: missing", nodes[i]);
		x.want = want;
		check_edit(&b, &x);
	}
	for (i = 0; i < ARRAY_SIZE(optional); i++)
		check_edit(&b, &optional[i]);
	free(b.p);
}

/* Every property of a fixed size, at other sizes. */
void snap_test_run_sizes(const void *arg)
{
	const struct {
		const char *path;
		const char *name;
		size_t size;
	} fixed[] = {
		{ "/", "format-version", 4 }, { "/", "id", 8 }, { "/", "created-ns", 8 },
		{ "/config", "mem-size", 8 }, { "/config", "populate-threads", 4 },
		{ "/config", "vcpus", 4 },
		{ "/config/virtio-mem", "size", 8 }, { "/config/virtio-mem", "requested", 8 },
		{ "/config/virtio-mem", "block", 8 },
		{ "/config/balloon", "size", 8 }, { "/config/balloon", "stats-interval-s", 4 },
		{ "/memory/region@0", "gpa", 8 }, { "/memory/region@2", "size", 8 },
		{ "/memory/region@1", "chunk-bytes", 8 },
		{ "/cpus/cpu@0", "regs", sizeof(struct kvm_regs) },
		{ "/cpus/cpu@1", "sregs", sizeof(struct kvm_sregs) },
		{ "/cpus/cpu@0", "xcrs", sizeof(struct kvm_xcrs) },
		{ "/cpus/cpu@0", "debugregs", sizeof(struct kvm_debugregs) },
		{ "/cpus/cpu@1", "lapic", sizeof(struct kvm_lapic_state) },
		{ "/cpus/cpu@0", "events", sizeof(struct kvm_vcpu_events) },
		{ "/cpus/cpu@1", "mp-state", sizeof(struct kvm_mp_state) },
		{ "/irqchip", "pic-master", sizeof(struct kvm_irqchip) },
		{ "/irqchip", "pic-slave", sizeof(struct kvm_irqchip) },
		{ "/irqchip", "ioapic", sizeof(struct kvm_irqchip) },
		{ "/irqchip", "pit", sizeof(struct kvm_pit_state2) },
		{ "/irqchip", "clock", sizeof(struct kvm_clock_data) },
		{ "/parent", "id", 8 },
		/* Arrays whose length the size or count fixes. */
		{ "/memory/region@1", "present", 8 * mem_snap_bitmap_words(256 * MiB + 12 * 4096) },
		{ "/memory/region@1", "chunk-sums", 8 * 257 },
		{ "/memory/region@0", "present", 8 * mem_snap_bitmap_words(768 * MiB) },
	};
	static const struct {
		const char *path;
		const char *name;
		size_t cap;
	} strings[] = {
		{ "/config", "backend", SNAP_NAME_BYTES }, { "/config", "populate", SNAP_NAME_BYTES },
		{ "/config", "prefault", SNAP_NAME_BYTES }, { "/config", "thp", SNAP_NAME_BYTES },
		{ "/config", "cmdline", SNAP_CMDLINE_BYTES },
		{ "/config/virtio-mem", "backend", SNAP_NAME_BYTES },
		{ "/config/virtio-mem", "populate", SNAP_NAME_BYTES },
		{ "/memory/region@0", "role", SNAP_NAME_BYTES },
		{ "/memory/region@1", "backend", SNAP_NAME_BYTES },
		{ "/memory/region@2", "file", SNAP_NAME_BYTES },
		{ "/devices/dev@2", "device", SNAP_NAME_BYTES },
		{ "/parent", "path", SNAP_PATH_BYTES },
	};
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob b, mb;
	char want[128], *longstr;
	struct edit x = { .kind = SET_RAW };
	size_t i, k, sizes[5];

	(void)arg;
	full_blob(&b);
	for (i = 0; i < ARRAY_SIZE(fixed); i++) {
		sizes[0] = 0;
		sizes[1] = fixed[i].size - 1;
		sizes[2] = fixed[i].size + 1;
		sizes[3] = fixed[i].size + 8;
		sizes[4] = fixed[i].size - 4;
		x.path = fixed[i].path;
		x.name = fixed[i].name;
		x.bytes = NULL;
		prop_path(want, sizeof(want), x.path, x.name);
		x.want = want;
		for (k = 0; k < ARRAY_SIZE(sizes); k++) {
			x.v = sizes[k];
			check_edit(&b, &x);
		}
	}
	longstr = xcalloc(1, SNAP_PATH_BYTES + 2);
	for (i = 0; i < ARRAY_SIZE(strings); i++) {
		x.path = strings[i].path;
		x.name = strings[i].name;
		prop_path(want, sizeof(want), x.path, x.name);
		x.want = want;
		x.v = 0;                /* empty */
		check_edit(&b, &x);
		x.v = 3;                /* no NUL */
		x.bytes = "abc";
		check_edit(&b, &x);
		x.v = 4;                /* two strings */
		x.bytes = "a\0b";
		check_edit(&b, &x);
		memset(longstr, 'a', strings[i].cap);   /* one byte too long with its NUL */
		longstr[strings[i].cap] = '\0';
		x.v = strings[i].cap + 1;
		x.bytes = longstr;
		check_edit(&b, &x);
	}
	/* A flag with a value. */
	x = (struct edit){ "/config/balloon", "stats", SET_RAW, 1, NULL, "/config/balloon/stats" };
	check_edit(&b, &x);
	/* The FPU when there is no XSAVE. */
	snap_test_minimal(s);
	snap_test_build(s, &mb);
	x = (struct edit){ "/cpus/cpu@0", "fpu", SET_RAW, sizeof(struct kvm_fpu) - 1, NULL,
			   "/cpus/cpu@0/fpu" };
	check_edit(&mb, &x);
	x.v = 0;
	check_edit(&mb, &x);
	free(mb.p);
	free(longstr);
	free(b.p);
	snap_state_release(s);
	free(s);
}

/* Rename PREFIX@(n-1)..PREFIX@0 one up and add an empty PREFIX@0 first: n + 1 in order. */
static void list_grow(struct snap_test_blob *e, const char *parent, const char *prefix,
		      unsigned int n)
{
	char path[64], name[32];
	int node;

	while (n--) {
		snprintf(path, sizeof(path), "%s/%s@%u", parent, prefix, n);
		node = fdt_path_offset(e->p, path);
		TEST_ASSERT(node >= 0, "no %s", path);
		snprintf(name, sizeof(name), "%s@%u", prefix, n + 1);
		TEST_ASSERT(fdt_set_name(e->p, node, name) == 0, "rename %s", path);
	}
	snprintf(name, sizeof(name), "%s@0", prefix);
	TEST_ASSERT(fdt_add_subnode(e->p, fdt_path_offset(e->p, parent), name) >= 0, "add %s", name);
}

/* A state with n vCPUs (all alike), or NULL for the full one; grown by one in the blob. */
static void check_list_grown(struct snap_state *s, const char *parent, const char *prefix,
			     unsigned int n, const char *want)
{
	struct snap_test_blob b, e;

	snap_test_build(s, &b);
	snap_test_edit_open(&b, &e);
	list_grow(&e, parent, prefix, n);
	snap_test_edit_close(&e);
	snap_test_refused(&e, -EINVAL, want);
	free(e.p);
	free(b.p);
}

static void run_lists(void)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct vcpu_state *v;
	unsigned int i;

	/* 3 cpu nodes for 2 vCPUs; 17 devices; 17 regions; 256 vCPUs. */
	snap_test_full(s);
	check_list_grown(s, "/cpus", "cpu", 2, "/cpus: 3 cpu nodes, /config/vcpus is 2");
	while (s->nr_devices < SNAP_MAX_DEVICES)
		s->dev[s->nr_devices++] = (struct snap_device){ .name = "pad" };
	check_list_grown(s, "/devices", "dev", SNAP_MAX_DEVICES, "/devices: more than 16 dev nodes");
	s->nr_devices = 4;
	while (s->nr_regions < MEM_MAX_REGIONS) {
		i = s->nr_regions++;
		s->region[i] = (struct snap_region){ .role = "device", .backend = "anon",
						     .gpa = (16 + i) * GiB, .size = MiB };
		snprintf(s->region[i].file, sizeof(s->region[i].file), "mem-%u.raw", 100 + i);
	}
	check_list_grown(s, "/memory", "region", MEM_MAX_REGIONS,
			 "/memory: more than 16 region nodes");
	s->nr_regions = 3;
	snap_state_release(s);

	snap_test_minimal(s);
	v = realloc(s->vcpu, SNAP_MAX_VCPUS * sizeof(*v));
	TEST_ASSERT(v, "realloc");
	for (i = 1; i < SNAP_MAX_VCPUS; i++)
		v[i] = v[0];
	s->vcpu = v;
	s->nr_vcpus = s->cfg.vcpus = SNAP_MAX_VCPUS;
	check_list_grown(s, "/cpus", "cpu", SNAP_MAX_VCPUS, "/cpus: more than 255 cpu nodes");
	s->nr_vcpus = 1;
	snap_state_release(s);
	free(s);
}

void snap_test_run_values(const void *arg)
{
	static const char *const bad_files[] = {
		"mem-.raw", "../mem-1.raw", "mem-1.raw/", "mem-1.rawx", "mem-a.raw", "/etc/passwd",
		"mem-1.ra", "mem-1/.raw", "mem-1.raw.raw", "Mem-1.raw", "mem--1.raw", "mem-1 .raw",
	};
	static const char *const bad_names[] = { "", "mem fd", "a\tb", "\x7f", "\xc3\xa9" };
	static const struct edit edits[] = {
		{ "/config", "mem-size", SET_U64, 0, NULL, "/config/mem-size" },
		{ "/config", "mem-size", SET_U64, 4097, NULL, "/config/mem-size" },
		{ "/config", "mem-size", SET_U64, MEM_MAX_BYTES + 4096, NULL, "/config/mem-size" },
		{ "/config", "thp", SET_STR, 0, "maybe", "/config/thp" },
		{ "/config", "populate-threads", SET_U32, 5000, NULL, "/config/populate-threads" },
		{ "/config", "vcpus", SET_U32, 0, NULL, "/config/vcpus: 0" },
		{ "/config", "vcpus", SET_U32, 256, NULL, "/config/vcpus: 256" },
		{ "/config", "vcpus", SET_U32, 3, NULL, "/cpus: 2 cpu nodes, /config/vcpus is 3" },
		{ "/config/virtio-mem", "size", SET_U64, 0, NULL, "/config/virtio-mem/size" },
		{ "/config/virtio-mem", "block", SET_U64, 3 * MiB, NULL, "/config/virtio-mem/block" },
		{ "/config/virtio-mem", "block", SET_U64, 2048, NULL, "/config/virtio-mem/block" },
		{ "/config/virtio-mem", "block", SET_U64, 1 * GiB, NULL, "/config/virtio-mem/block" },
		{ "/config/virtio-mem", "requested", SET_U64, MiB, NULL, "/config/virtio-mem/requested" },
		{ "/config/virtio-mem", "requested", SET_U64, GiB, NULL, "/config/virtio-mem/requested" },
		{ "/config/balloon", "size", SET_U64, 4097, NULL, "/config/balloon/size" },
		{ "/config/balloon", "size", SET_U64, 2 * GiB, NULL, "/config/balloon/size" },
		{ "/memory/region@0", "role", SET_STR, 0, "rom", "/memory/region@0/role" },
		{ "/memory/region@0", "gpa", SET_U64, 0x1001, NULL, "/memory/region@0: gpa" },
		{ "/memory/region@2", "size", SET_U64, 0, NULL, "/memory/region@2: gpa" },
		{ "/memory/region@2", "size", SET_U64, 4097, NULL, "/memory/region@2: gpa" },
		{ "/memory/region@2", "size", SET_U64, MEM_MAX_BYTES + 4096, NULL, "/memory/region@2: gpa" },
		{ "/memory/region@2", "gpa", SET_U64, UINT64_MAX - 4095, NULL, "/memory/region@2: gpa" },
		{ "/memory/region@2", "gpa", SET_U64, 100 * MiB, NULL, "/memory/region@2 overlaps region@0" },
		{ "/memory/region@1", "gpa", SET_U64, 0, NULL, "/memory/region@1 overlaps region@0" },
		{ "/memory/region@2", "file", SET_STR, 0, "mem-1.raw", "/memory/region@2/file: the same as region@1's" },
		{ "/memory/region@1", "chunk-bytes", SET_U64, 0, NULL, "/memory/region@1/chunk-bytes" },
		{ "/memory/region@1", "chunk-bytes", SET_U64, 4097, NULL, "/memory/region@1/chunk-bytes" },
		{ "/memory/region@1", "chunk-bytes", SET_U64, MEM_MAX_BYTES + 4096, NULL, "/memory/region@1/chunk-bytes" },
		{ "/memory/region@1", "chunk-bytes", SET_U64, 2 * MiB, NULL, "/memory/region@1/chunk-bytes: 2097152, expected 1048576" },
		/* A 1 TiB region: its arrays would be huge; the small ones are refused. */
		{ "/memory/region@1", "size", SET_U64, MEM_MAX_BYTES, NULL, "/memory/region@1/chunk-sums" },
		{ "/memory/region@0", "chunk-sums", SET_RAW, 8, NULL, "/memory/region@0/chunk-sums: without chunk-bytes" },
		{ "/parent", "path", SET_STR, 0, "relative/snap", "/parent/path" },
		{ "/cpus/cpu@0", "fpu", SET_RAW, sizeof(struct kvm_fpu), NULL, "/cpus/cpu@0: both fpu and xsave" },
		{ "/cpus/cpu@1", "xsave", SET_RAW, sizeof(struct kvm_xsave) - 4, NULL, "/cpus/cpu@1/xsave" },
		{ "/cpus/cpu@1", "xsave", SET_RAW, SNAP_MAX_XSAVE_BYTES + 4, NULL, "/cpus/cpu@1/xsave" },
		{ "/cpus/cpu@1", "xsave", SET_RAW, SNAP_MAX_XSAVE_BYTES, NULL, NULL },
		{ "/cpus/cpu@0", "msrs", SET_RAW, 13, NULL, "/cpus/cpu@0/msrs: 13 bytes" },
		{ "/cpus/cpu@0", "msrs", SET_RAW, 12 * (KVM_STATE_MAX_MSRS + 1), NULL, "/cpus/cpu@0/msrs: 1025 MSRs" },
		{ "/cpus/cpu@0", "msrs", SET_RAW, 0, NULL, NULL },
		{ "/irqchip", "ioapic", SET_RAW, sizeof(struct kvm_irqchip), NULL, "/irqchip/ioapic: chip_id 0" },
		{ "/memory", "foo", ADD_NODE, 0, NULL, "/memory: subnode 0 is not named region@0" },
		{ "/devices/dev@3", "state", SET_RAW, 0, NULL, NULL },
	};
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_region *r;
	struct snap_test_blob b, e;
	struct edit x;
	uint64_t words;
	size_t i;

	(void)arg;
	full_blob(&b);
	for (i = 0; i < ARRAY_SIZE(edits); i++)
		check_edit(&b, &edits[i]);
	for (i = 0; i < ARRAY_SIZE(bad_files); i++) {
		x = (struct edit){ "/memory/region@2", "file", SET_STR, 0, bad_files[i],
				   "/memory/region@2/file: not mem-N.raw" };
		check_edit(&b, &x);
	}
	for (i = 0; i < ARRAY_SIZE(bad_names); i++) {
		x = (struct edit){ "/devices/dev@1", "device", SET_STR, 0, bad_names[i],
				   "/devices/dev@1/device: not a name" };
		check_edit(&b, &x);
		x = (struct edit){ "/config", "backend", SET_STR, 0, bad_names[i],
				   "/config/backend: not a name" };
		check_edit(&b, &x);
		x = (struct edit){ "/memory/region@0", "backend", SET_STR, 0, bad_names[i],
				   "/memory/region@0/backend: not a name" };
		check_edit(&b, &x);
	}
	/* An irqchip whose chip_id is another chip's. */
	{
		struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_SLAVE };

		x = (struct edit){ "/irqchip", "pic-master", SET_RAW, sizeof(chip), (const char *)&chip,
				   "/irqchip/pic-master: chip_id 1" };
		check_edit(&b, &x);
	}
	/* A present bit past the region's end. */
	snap_test_full(s);
	r = &s->region[1];
	words = mem_snap_bitmap_words(r->size);
	r->present[words - 1] |= 1ull << 63;
	TEST_ASSERT(snap_state_build(s, &e.p, &e.len) == -EINVAL, "built a bit past the end");
	r->present[words - 1] &= ~(1ull << 63);
	snap_test_build(s, &e);
	TEST_ASSERT(e.len > words * 8, "blob too small");
	{
		const uint8_t *p;
		int len, node = fdt_path_offset(e.p, "/memory/region@1");

		p = fdt_getprop(e.p, node, "present", &len);
		TEST_ASSERT(p && (uint64_t)len == words * 8, "present");
		((uint8_t *)e.p)[p - (const uint8_t *)e.p + (size_t)len - 8] |= 0x80;
		TEST_OK(snap_state_seal(e.p, e.len));
		snap_test_refused(&e, -EINVAL, "/memory/region@1/present: bits set past the region's end");
	}
	free(e.p);
	snap_state_release(s);
	free(s);
	free(b.p);
	run_lists();
}

/* Header and property lengths made huge or inconsistent: no reseal, libfdt refuses. */
void snap_test_run_huge(const void *arg)
{
	static const uint32_t huge[] = { 0xffffffffu, 0x80000000u, 0x7fffffffu, 0xfffffff0u };
	static const size_t header_fields[] = {
		offsetof(struct fdt_header, totalsize), offsetof(struct fdt_header, off_dt_struct),
		offsetof(struct fdt_header, off_dt_strings), offsetof(struct fdt_header, off_mem_rsvmap),
		offsetof(struct fdt_header, size_dt_strings), offsetof(struct fdt_header, size_dt_struct),
	};
	static const struct { const char *path, *name; } props[] = {
		{ "/", "format-version" }, { "/config", "cmdline" }, { "/cpus/cpu@1", "msrs" },
		{ "/memory/region@1", "present" }, { "/devices/dev@3", "state" }, { "/parent", "id" },
	};
	struct snap_test_blob b, bad;
	const uint8_t *p;
	size_t i, k, lenoff;
	uint32_t orig;
	int len;

	(void)arg;
	full_blob(&b);
	bad.len = b.len;
	bad.p = xcalloc(1, b.len);
	for (i = 0; i < ARRAY_SIZE(header_fields); i++) {
		for (k = 0; k < ARRAY_SIZE(huge) + 1; k++) {
			memcpy(bad.p, b.p, b.len);
			orig = fdt32_ld((const fdt32_t *)((uint8_t *)b.p + header_fields[i]));
			fdt32_st((uint8_t *)bad.p + header_fields[i],
				 k < ARRAY_SIZE(huge) ? huge[k] : orig + 4);
			snap_test_refused(&bad, -EBADMSG, NULL);
		}
	}
	/* A property's length (the cell 8 bytes before its value) and name offset. */
	for (i = 0; i < ARRAY_SIZE(props); i++) {
		p = fdt_getprop(b.p, fdt_path_offset(b.p, props[i].path), props[i].name, &len);
		TEST_ASSERT(p, "%s/%s", props[i].path, props[i].name);
		lenoff = (size_t)(p - (const uint8_t *)b.p) - 8;
		for (k = 0; k < ARRAY_SIZE(huge) + 1; k++) {
			memcpy(bad.p, b.p, b.len);
			fdt32_st((uint8_t *)bad.p + lenoff,
				 k < ARRAY_SIZE(huge) ? huge[k] : (uint32_t)len + 4);
			snap_test_refused(&bad, -EBADMSG, NULL);
			memcpy(bad.p, b.p, b.len);
			fdt32_st((uint8_t *)bad.p + lenoff + 4, k < ARRAY_SIZE(huge) ? huge[k] : b.len);
			snap_test_refused(&bad, -EBADMSG, NULL);
		}
	}
	free(bad.p);
	free(b.p);
}

/* What the parser refuses, the builder refuses too (and writes nothing). */
void snap_test_run_build_refusals(const void *arg)
{
	static const char *const wants[] = {
		"/config/mem-size", "/config/thp", "/config/vcpus", "/memory: 0 regions",
		"/memory/region@1/file", "/memory/region@2 overlaps", "/memory/region@0/role",
		"/cpus/cpu@1/xsave", "/cpus/cpu@0/msrs", "/irqchip/pic-slave", "/devices/dev@2/device",
		"/devices: 17 devices", "/parent/path", "/memory/region@1/present",
		"/config/cmdline", "/cpus: 0 vCPUs", "/memory/region@0: chunk-bytes and chunk-sums",
		"/memory/region@2: gpa",
	};
	struct snap_state *s = xcalloc(1, sizeof(*s));
	char why[SNAP_TEST_WHY_BYTES];
	void *blob;
	size_t i, len;
	unsigned int keep;

	(void)arg;
	for (i = 0; i < ARRAY_SIZE(wants); i++) {
		snap_test_full(s);
		keep = s->nr_devices;
		switch (i) {
		case 0: s->cfg.mem_size = 12345; break;
		case 1: snprintf(s->cfg.thp, sizeof(s->cfg.thp), "always"); break;
		case 2: s->cfg.vcpus = 0; break;
		case 3: keep = s->nr_regions; s->nr_regions = 0; break;
		case 4: snprintf(s->region[1].file, sizeof(s->region[1].file), "../x"); break;
		case 5: s->region[2].gpa = 4 * GiB; break;
		case 6: memset(s->region[0].role, 'r', sizeof(s->region[0].role)); break;
		case 7: s->vcpu[1].xsave_bytes = 100; break;
		case 8: s->vcpu[0].nr_msrs = KVM_STATE_MAX_MSRS + 1; break;
		case 9: s->irq.pic_slave.chip_id = 7; break;
		case 10: s->dev[2].name[0] = '\0'; break;
		case 11: s->nr_devices = SNAP_MAX_DEVICES + 1; break;
		case 12: snprintf(s->parent_path, sizeof(s->parent_path), "x"); break;
		case 13: s->has_parent = false; break;
		case 14: memset(s->cfg.cmdline, 'x', sizeof(s->cfg.cmdline)); break;
		case 15: keep = s->nr_vcpus; s->nr_vcpus = 0; break;
		case 16: s->region[0].chunk_bytes = MiB; break;
		default: s->region[2].size = 0; break;
		}
		blob = (void *)1;
		len = 1;
		TEST_ASSERT(snap_state_build(s, &blob, &len) == -EINVAL && !blob && !len,
			    "built a state with %s wrong", wants[i]);
		TEST_ASSERT(snap_state_check(s, why, sizeof(why)) == -EINVAL && strstr(why, wants[i]),
			    "check: '%s', expected '%s'", why, wants[i]);
		TEST_ASSERT(snap_state_check(s, NULL, 0) == -EINVAL, "check without why");
		if (i == 3)
			s->nr_regions = keep;
		else if (i == 11)
			s->nr_devices = keep;
		else if (i == 15)
			s->nr_vcpus = keep;
		else if (i == 8)
			s->vcpu[0].nr_msrs = 0;
		snap_state_release(s);
	}
	/* Larger than a state file may be: sixteen 5 MiB device blobs. */
	snap_test_minimal(s);
	for (i = 0; i < SNAP_MAX_DEVICES; i++) {
		snprintf(s->dev[i].name, sizeof(s->dev[i].name), "big%zu", i);
		s->dev[i].len = 5 * MiB;
		s->dev[i].blob = xcalloc(1, s->dev[i].len);
	}
	s->nr_devices = SNAP_MAX_DEVICES;
	TEST_OK(snap_state_check(s, NULL, 0));
	TEST_ASSERT(snap_state_build(s, &blob, &len) == -EINVAL && !blob, "built a blob over 64 MiB");
	/* Twelve of them fit (60 MiB). */
	s->nr_devices = 12;
	TEST_OK(snap_state_build(s, &blob, &len));
	TEST_ASSERT(len > 60 * MiB && len <= SNAP_MAX_STATE_BYTES, "%zu bytes", len);
	free(blob);
	s->nr_devices = SNAP_MAX_DEVICES;
	snap_state_release(s);
	free(s);
}

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "writing %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* The seed corpus of tests/fuzz/fuzz_snap_state: valid blobs, damaged ones, garbage. */
int snap_test_write_corpus(const char *dir)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob full, min, e;
	uint8_t garbage[256];
	int bad = 0;
	size_t i;

	snap_test_full(s);
	snap_test_build(s, &full);
	snap_state_release(s);
	snap_test_minimal(s);
	s->cfg.balloon = true;
	s->cfg.balloon_stats = true;
	snap_test_build(s, &min);
	snap_state_release(s);
	bad |= write_file(dir, "full", full.p, full.len);
	bad |= write_file(dir, "minimal", min.p, min.len);
	bad |= write_file(dir, "truncated-header", min.p, 30);
	bad |= write_file(dir, "truncated-half", min.p, min.len / 2);
	bad |= write_file(dir, "truncated-last", min.p, min.len - 1);
	snap_test_edit_open(&min, &e);
	TEST_ASSERT(!fdt_setprop_u32(e.p, 0, "format-version", 2), "setprop");
	snap_test_edit_close(&e);
	bad |= write_file(dir, "version-2", e.p, e.len);
	free(e.p);
	snap_test_edit_open(&min, &e);
	TEST_ASSERT(!fdt_setprop_u32(e.p, fdt_path_offset(e.p, "/config"), "vcpus", 2), "setprop");
	snap_test_edit_close(&e);
	bad |= write_file(dir, "vcpus-mismatch", e.p, e.len);
	free(e.p);
	((uint8_t *)min.p)[min.len / 2] ^= 0x20;
	bad |= write_file(dir, "flipped", min.p, min.len);
	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 131 + 7);
	bad |= write_file(dir, "garbage", garbage, sizeof(garbage));
	bad |= write_file(dir, "one-byte", "x", 1);
	free(full.p);
	free(min.p);
	free(s);
	return bad;
}
