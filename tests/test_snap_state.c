// SPDX-License-Identifier: MIT
/*
 * The snapshot state file (vmm/snap_state.h) without KVM: a full state
 * (two vCPUs with XSAVE and MSRs, three regions one of them a diff region
 * with its present bitmap and chunk checksums, four devices, a parent)
 * survives build and parse field for field; dtc decodes it; and every kind
 * of damage is refused with the node or property named: each byte flipped,
 * each truncation, another version, each property missing or of the wrong
 * size, each value out of range (edited in with libfdt and resealed, so that
 * the structure check is what refuses), huge lengths in the headers. Every
 * blob is parsed from a buffer of exactly its size, so the ASan build
 * catches a read outside it.
 *
 * `test_snap_state --write-corpus DIR` writes the fuzz target's seed corpus.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "mem/snapshot.h"
#include "tests/e2e.h"
#include "tests/test.h"
#include "tests/test_snap_state.h"
#include "vmm/snap_state.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

#define XSAVE2_BYTES  8192u   /* an AMX-less XSAVE2 size */
#define CPU0_MSRS     40u

/* Deterministic bytes (xorshift), never all zero. */
static void fill_bytes(void *p, size_t n, uint64_t seed)
{
	uint8_t *b = p;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	TEST_ASSERT(p, "calloc %zu x %zu", n, size);
	return p;
}

static void fill_cpu(struct vcpu_state *v, unsigned int i, size_t xsave_bytes, uint32_t nr_msrs,
		     bool debugregs)
{
	uint32_t m;

	fill_bytes(&v->regs, sizeof(v->regs), 10 + i);
	fill_bytes(&v->sregs, sizeof(v->sregs), 20 + i);
	if (xsave_bytes) {
		v->xsave = xcalloc(1, xsave_bytes);
		fill_bytes(v->xsave, xsave_bytes, 30 + i);
		v->xsave_bytes = xsave_bytes;
	} else {
		fill_bytes(&v->fpu, sizeof(v->fpu), 30 + i);
	}
	v->have_xcrs = true;
	fill_bytes(&v->xcrs, sizeof(v->xcrs), 40 + i);
	v->have_debugregs = debugregs;
	if (debugregs)
		fill_bytes(&v->debugregs, sizeof(v->debugregs), 50 + i);
	fill_bytes(&v->lapic, sizeof(v->lapic), 60 + i);
	fill_bytes(&v->events, sizeof(v->events), 70 + i);
	fill_bytes(&v->mp_state, sizeof(v->mp_state), 80 + i);
	v->nr_msrs = nr_msrs;
	for (m = 0; m < nr_msrs; m++) {
		v->msrs[m].index = 0xc0000080u + m * 7 + i;
		v->msrs[m].data = 0x0123456789abcdefull * (m + 1) + i;
	}
}

static void set_region(struct snap_region *r, const char *role, uint64_t gpa, uint64_t size,
		       const char *file)
{
	snprintf(r->role, sizeof(r->role), "%s", role);
	r->gpa = gpa;
	r->size = size;
	snprintf(r->backend, sizeof(r->backend), "memfd");
	snprintf(r->file, sizeof(r->file), "%s", file);
}

static void add_device(struct snap_state *s, const char *name, uint32_t len)
{
	struct snap_device *d = &s->dev[s->nr_devices];

	snprintf(d->name, sizeof(d->name), "%s", name);
	d->len = len;
	if (len) {
		d->blob = xcalloc(1, len);
		fill_bytes(d->blob, len, 100 + s->nr_devices);
	}
	s->nr_devices++;
}

void snap_test_minimal(struct snap_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = SNAP_FORMAT_VERSION;
	s->id = 7;
	s->cfg.mem_size = 64 * MiB;
	snprintf(s->cfg.backend, sizeof(s->cfg.backend), "anon");
	snprintf(s->cfg.populate, sizeof(s->cfg.populate), "auto");
	snprintf(s->cfg.prefault, sizeof(s->cfg.prefault), "auto");
	snprintf(s->cfg.thp, sizeof(s->cfg.thp), "auto");
	s->cfg.vcpus = 1;
	s->nr_regions = 1;
	set_region(&s->region[0], "ram", 0, 64 * MiB, "mem-0.raw");
	s->nr_vcpus = 1;
	s->vcpu = xcalloc(1, sizeof(*s->vcpu));
	fill_cpu(&s->vcpu[0], 0, 0, 3, false);
	s->irq.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->irq.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->irq.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
}

void snap_test_full(struct snap_state *s)
{
	struct snap_config *c = &s->cfg;
	struct snap_region *r;
	uint64_t words, i;

	memset(s, 0, sizeof(*s));
	s->version = SNAP_FORMAT_VERSION;
	s->id = 0x1122334455667788ull;
	s->created_ns = 1700000000123456789ull;
	s->has_parent = true;
	s->parent_id = 0xdeadbeefcafef00dull;
	snprintf(s->parent_path, sizeof(s->parent_path), "/var/lib/memvmm/snap-0");

	c->mem_size = 1 * GiB;
	snprintf(c->backend, sizeof(c->backend), "memfd");
	snprintf(c->populate, sizeof(c->populate), "none");
	snprintf(c->prefault, sizeof(c->prefault), "on");
	snprintf(c->thp, sizeof(c->thp), "off");
	c->populate_threads = 4;
	c->vcpus = 2;
	snprintf(c->cmdline, sizeof(c->cmdline), "console=ttyS0 quiet memvmm.test=1");
	c->vmem = true;
	c->vmem_size = 512 * MiB;
	c->vmem_requested = 128 * MiB;
	c->vmem_block = 2 * MiB;
	snprintf(c->vmem_backend, sizeof(c->vmem_backend), "guest_memfd");
	snprintf(c->vmem_populate, sizeof(c->vmem_populate), "write");
	c->balloon = true;
	c->balloon_size = 64 * MiB;
	c->balloon_deflate_on_oom = true;
	c->balloon_free_page_reporting = false;
	c->balloon_stats = true;
	c->balloon_stats_s = 5;

	s->nr_regions = 3;
	set_region(&s->region[0], "ram", 0, 768 * MiB, "mem-0.raw");
	/* The diff region: a present bitmap and checksums of 1 MiB chunks. */
	r = &s->region[1];
	set_region(r, "ram", 4 * GiB, 256 * MiB + 12 * 4096, "mem-1.raw");
	words = mem_snap_bitmap_words(r->size);
	r->present = xcalloc(words, sizeof(uint64_t));
	fill_bytes(r->present, words * sizeof(uint64_t), 5);
	r->present[words - 1] &= (1ull << ((r->size / MEM_PAGE_BYTES) % 64)) - 1;
	r->chunk_bytes = MEM_SNAP_CHUNK_BYTES;
	r->chunk_sums = xcalloc(mem_snap_nr_chunks(r->size, r->chunk_bytes), sizeof(uint64_t));
	for (i = 0; i < mem_snap_nr_chunks(r->size, r->chunk_bytes); i++)
		r->chunk_sums[i] = i * 0x9e3779b97f4a7c15ull;
	set_region(&s->region[2], "hotplug", 8 * GiB, 512 * MiB, "mem-17.raw");

	s->nr_vcpus = 2;
	s->vcpu = xcalloc(2, sizeof(*s->vcpu));
	fill_cpu(&s->vcpu[0], 0, XSAVE2_BYTES, CPU0_MSRS, true);
	fill_cpu(&s->vcpu[1], 1, sizeof(struct kvm_xsave), KVM_STATE_MAX_MSRS, false);

	fill_bytes(&s->irq, sizeof(s->irq), 90);
	s->irq.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->irq.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->irq.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;

	add_device(s, "serial", 37);
	add_device(s, "i8042", 5);
	add_device(s, "virtio-mem", 300);
	add_device(s, "virtio-balloon", 1000);
}

void snap_test_build(const struct snap_state *s, struct snap_test_blob *b)
{
	TEST_OK(snap_state_build(s, &b->p, &b->len));
	TEST_ASSERT(b->p && b->len, "build gave no blob");
}

int snap_test_parse(const struct snap_test_blob *b, struct snap_state *s, char *why,
		    size_t whylen)
{
	/* Exactly len bytes, so that ASan sees a read past the end. */
	void *copy = malloc(b->len ? b->len : 1);
	int ret;

	TEST_ASSERT(copy, "malloc %zu", b->len);
	memcpy(copy, b->p, b->len);
	ret = snap_state_parse(copy, b->len, s, why, whylen);
	free(copy);
	return ret;
}

void snap_test_refused(const struct snap_test_blob *b, int want, const char *want_why)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));
	char why[SNAP_TEST_WHY_BYTES];
	int ret;

	ret = snap_test_parse(b, s, why, sizeof(why));
	TEST_ASSERT(ret == want, "parse returned %d (%s), expected %d; why: %s", ret,
		    strerror(-ret), want, why);
	TEST_ASSERT(!want_why || strstr(why, want_why), "why '%s' does not say '%s'", why, want_why);
	TEST_ASSERT(why[0], "refused without a reason");
	TEST_ASSERT(!s->vcpu && !s->nr_vcpus && !s->nr_regions && !s->nr_devices,
		    "a refused parse left allocations in the state");
	snap_state_release(s);
	free(s);
}

static bool u64s_equal(const uint64_t *a, const uint64_t *b, uint64_t n)
{
	if (!a || !b)
		return a == b;
	return !memcmp(a, b, n * sizeof(*a));
}

static void assert_cpu_equal(const struct vcpu_state *a, const struct vcpu_state *b, unsigned int i)
{
	uint32_t m;

#define CPU_FIELD_EQ(f) TEST_ASSERT(!memcmp(&a->f, &b->f, sizeof(a->f)), "cpu %u: " #f " differs", i)
	CPU_FIELD_EQ(regs);
	CPU_FIELD_EQ(sregs);
	TEST_ASSERT(a->xsave_bytes == b->xsave_bytes && !a->xsave == !b->xsave,
		    "cpu %u: xsave %zu vs %zu bytes", i, a->xsave_bytes, b->xsave_bytes);
	if (a->xsave)
		TEST_ASSERT(!memcmp(a->xsave, b->xsave, a->xsave_bytes), "cpu %u: xsave differs", i);
	else
		CPU_FIELD_EQ(fpu);
	TEST_ASSERT(a->have_xcrs == b->have_xcrs && a->have_debugregs == b->have_debugregs,
		    "cpu %u: optional parts differ", i);
	if (a->have_xcrs)
		CPU_FIELD_EQ(xcrs);
	if (a->have_debugregs)
		CPU_FIELD_EQ(debugregs);
	CPU_FIELD_EQ(lapic);
	CPU_FIELD_EQ(events);
	CPU_FIELD_EQ(mp_state);
#undef CPU_FIELD_EQ
	TEST_ASSERT(a->nr_msrs == b->nr_msrs, "cpu %u: %u vs %u MSRs", i, a->nr_msrs, b->nr_msrs);
	for (m = 0; m < a->nr_msrs; m++)
		TEST_ASSERT(a->msrs[m].index == b->msrs[m].index && a->msrs[m].data == b->msrs[m].data,
			    "cpu %u: MSR %u differs", i, m);
}

void snap_test_assert_equal(const struct snap_state *a, const struct snap_state *b)
{
	const struct snap_region *ra, *rb;
	unsigned int i;

	TEST_ASSERT(b->version == SNAP_FORMAT_VERSION, "version %u", b->version);
	TEST_ASSERT(a->id == b->id && a->created_ns == b->created_ns, "id or created-ns differ");
	TEST_ASSERT(a->has_parent == b->has_parent && a->parent_id == b->parent_id &&
		    !strcmp(a->parent_path, b->parent_path), "parent differs");
	TEST_ASSERT(!memcmp(&a->cfg, &b->cfg, sizeof(a->cfg)), "config differs");
	TEST_ASSERT(a->nr_regions == b->nr_regions, "%u vs %u regions", a->nr_regions, b->nr_regions);
	for (i = 0; i < a->nr_regions; i++) {
		ra = &a->region[i];
		rb = &b->region[i];
		TEST_ASSERT(!strcmp(ra->role, rb->role) && ra->gpa == rb->gpa && ra->size == rb->size &&
			    !strcmp(ra->backend, rb->backend) && !strcmp(ra->file, rb->file) &&
			    ra->chunk_bytes == rb->chunk_bytes, "region %u differs", i);
		TEST_ASSERT(u64s_equal(ra->present, rb->present, mem_snap_bitmap_words(ra->size)),
			    "region %u: present differs", i);
		TEST_ASSERT(u64s_equal(ra->chunk_sums, rb->chunk_sums,
				       mem_snap_nr_chunks(ra->size, ra->chunk_bytes)),
			    "region %u: chunk sums differ", i);
	}
	TEST_ASSERT(a->nr_vcpus == b->nr_vcpus, "%u vs %u vCPUs", a->nr_vcpus, b->nr_vcpus);
	for (i = 0; i < a->nr_vcpus; i++)
		assert_cpu_equal(&a->vcpu[i], &b->vcpu[i], i);
	TEST_ASSERT(!memcmp(&a->irq, &b->irq, sizeof(a->irq)), "irqchip state differs");
	TEST_ASSERT(a->nr_devices == b->nr_devices, "%u vs %u devices", a->nr_devices, b->nr_devices);
	for (i = 0; i < a->nr_devices; i++) {
		TEST_ASSERT(!strcmp(a->dev[i].name, b->dev[i].name) && a->dev[i].len == b->dev[i].len,
			    "device %u differs", i);
		TEST_ASSERT(!a->dev[i].len || !memcmp(a->dev[i].blob, b->dev[i].blob, a->dev[i].len),
			    "device %u: state differs", i);
	}
}

/* ---- cases -------------------------------------------------------------- */

static void run_roles(const void *arg)
{
	struct snap_region r = { 0 };
	enum mem_role role;
	unsigned int i;

	(void)arg;
	for (i = 0; i < MEM_ROLE_NR; i++) {
		snprintf(r.role, sizeof(r.role), "%s", mem_role_name((enum mem_role)i));
		TEST_OK(snap_region_role(&r, &role));
		TEST_ASSERT(role == (enum mem_role)i, "'%s' is role %d, expected %u", r.role, role, i);
	}
	snprintf(r.role, sizeof(r.role), "rom");
	TEST_ASSERT(snap_region_role(&r, &role) == -EINVAL, "'rom' taken as a role");
	memset(r.role, 'r', sizeof(r.role));
	TEST_ASSERT(snap_region_role(&r, &role) == -EINVAL, "an unterminated role taken");
}

static void round_trip(void (*fill)(struct snap_state *))
{
	struct snap_state *s = xcalloc(1, sizeof(*s)), *p = xcalloc(1, sizeof(*p));
	struct snap_test_blob b, b2;
	char why[SNAP_TEST_WHY_BYTES];
	int ret;

	fill(s);
	snap_test_build(s, &b);
	ret = snap_test_parse(&b, p, why, sizeof(why));
	TEST_ASSERT(ret == 0, "parse of a built blob: %d (%s)", ret, why);
	snap_test_assert_equal(s, p);
	/* The parsed state builds the same bytes again. */
	snap_test_build(p, &b2);
	TEST_ASSERT(b.len == b2.len && !memcmp(b.p, b2.p, b.len), "rebuild differs");
	snap_state_release(p);
	snap_state_release(p);   /* idempotent */
	snap_state_release(s);
	free(b.p);
	free(b2.p);
	free(s);
	free(p);
}

static void run_round_trip(const void *arg)
{
	(void)arg;
	round_trip(snap_test_full);
	round_trip(snap_test_minimal);
}

static void run_dtc(const void *arg)
{
	static const char *const want[] = {
		"format-version = <0x01>", "region@0 {", "region@2 {", "file = \"mem-17.raw\"",
		"cpu@1 {", "msrs = <0xc0000080 0x1234567 0x89abcdef", "irqchip {", "dev@3 {", "device = \"virtio-balloon\"",
		"parent {", "path = \"/var/lib/memvmm/snap-0\"", "deflate-on-oom;",
		"cmdline = \"console=ttyS0 quiet memvmm.test=1\"",
	};
	char dir[] = "/tmp/memvmm-snap-XXXXXX", path[64], cmd[256], *dts;
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob b;
	size_t i, n;
	FILE *f;
	int rc;

	(void)arg;
	TEST_REQUIRE(system("command -v dtc >/dev/null 2>&1") == 0,
		     "dtc is not installed (Debian: device-tree-compiler)");
	snap_test_full(s);
	snap_test_build(s, &b);
	TEST_ASSERT(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/state.dtb", dir);
	f = fopen(path, "w");
	TEST_ASSERT(f && fwrite(b.p, 1, b.len, f) == b.len && !fclose(f), "writing %s", path);
	snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts -o %s/state.dts %s", dir, path);
	rc = system(cmd);
	TEST_ASSERT(rc == 0, "'%s' exited with %d", cmd, rc);
	snprintf(path, sizeof(path), "%s/state.dts", dir);
	f = fopen(path, "r");
	TEST_ASSERT(f, "opening %s", path);
	dts = xcalloc(1, 1 << 20);
	n = fread(dts, 1, (1 << 20) - 1, f);
	fclose(f);
	TEST_ASSERT(n > 0, "dtc wrote nothing");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		TEST_ASSERT(strstr(dts, want[i]), "dtc's output lacks '%s'", want[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	TEST_ASSERT(system(cmd) == 0, "%s", cmd);
	free(dts);
	free(b.p);
	snap_state_release(s);
	free(s);
}

/* Every bit of the first bytes and every byte with several masks: checksum or structure. */
static void run_flips(const void *arg)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob b, bad;
	size_t i, m;

	(void)arg;
	snap_test_full(s);
	snap_test_build(s, &b);
	bad.p = xcalloc(1, b.len);
	bad.len = b.len;
	for (i = 0; i < b.len; i++) {
		for (m = 0; m < sizeof(masks); m++) {
			memcpy(bad.p, b.p, b.len);
			((uint8_t *)bad.p)[i] ^= masks[m];
			snap_test_refused(&bad, -EBADMSG, NULL);
		}
	}
	/* The checksum's own message, for a change in a value. */
	memcpy(bad.p, b.p, b.len);
	((uint8_t *)bad.p)[b.len / 2] ^= 1;
	snap_test_refused(&bad, -EBADMSG,
			  "checksum mismatch: the state file was altered or damaged");
	free(bad.p);
	free(b.p);
	snap_state_release(s);
	free(s);
}

static void run_truncation(const void *arg)
{
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob b, cut;
	size_t len;

	(void)arg;
	snap_test_full(s);
	snap_test_build(s, &b);
	snap_state_release(s);
	cut.p = b.p;
	for (len = 0; len < b.len; len++) {
		cut.len = len;
		snap_test_refused(&cut, -EBADMSG, NULL);
	}
	/* A byte more than the devicetree says. */
	cut.p = xcalloc(1, b.len + 1);
	memcpy(cut.p, b.p, b.len);
	cut.len = b.len + 1;
	snap_test_refused(&cut, -EBADMSG, "the devicetree is");
	/* Larger than any state file. */
	cut.len = (size_t)SNAP_MAX_STATE_BYTES + 1;
	TEST_ASSERT(snap_state_parse(cut.p, cut.len, s, NULL, 0) == -EINVAL,
		    "a blob over SNAP_MAX_STATE_BYTES taken");
	free(cut.p);
	free(b.p);
	free(s);
}

static void run_version(const void *arg)
{
	static const uint32_t versions[] = { 0, 2, 0xffffffffu };
	struct snap_state *s = xcalloc(1, sizeof(*s));
	struct snap_test_blob b, e;
	char want[64];
	size_t i;

	(void)arg;
	snap_test_full(s);
	snap_test_build(s, &b);
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		snap_test_edit_open(&b, &e);
		TEST_ASSERT(!fdt_setprop_u32(e.p, 0, "format-version", versions[i]), "setprop");
		snap_test_edit_close(&e);
		snprintf(want, sizeof(want), "format version %u, this memvmm reads 1", versions[i]);
		snap_test_refused(&e, -EPROTONOSUPPORT, want);
		free(e.p);
	}
	/* No checksum at all: refused before anything else is read. */
	snap_test_edit_open(&b, &e);
	TEST_ASSERT(!fdt_delprop(e.p, 0, "checksum"), "delprop");
	TEST_ASSERT(!fdt_pack(e.p), "pack");
	e.len = fdt_totalsize(e.p);
	snap_test_refused(&e, -EBADMSG, "/checksum");
	free(e.p);
	free(b.p);
	snap_state_release(s);
	free(s);
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "roles", run_roles, NULL },
		{ "round-trip", run_round_trip, NULL },
		{ "dtc", run_dtc, NULL },
		{ "flips", run_flips, NULL },
		{ "truncation", run_truncation, NULL },
		{ "version", run_version, NULL },
		{ "missing", snap_test_run_missing, NULL },
		{ "sizes", snap_test_run_sizes, NULL },
		{ "values", snap_test_run_values, NULL },
		{ "huge-lengths", snap_test_run_huge, NULL },
		{ "build-refusals", snap_test_run_build_refusals, NULL },
	};

	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return snap_test_write_corpus(argv[2]);
	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
