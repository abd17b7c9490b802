// SPDX-License-Identifier: MIT
/*
 * The CPU model (vmm/cpu_model.h): a SPEC parsed into bitmaps over the
 * feature table (vmm/cpu_features.c), closed under its dependencies, and
 * applied to a CPUID template leaf by leaf, XSAVE components and sizes
 * included. Pure: cpu_model_vcpu_text() is in vmm/cpu_model_kvm.c.
 */
#include "vmm/cpu_model.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "vmm/cli.h"
#include "vmm/cpu_features.h"

static_assert(CF_NR_FEATURES <= CPU_MODEL_WORDS * 64, "the bitmaps hold every feature");

#define CPU_LEAF_XSAVE        0xdu
#define CPU_XSAVE_LEGACY_BYTES 512u   /* the x87/SSE area (SDM vol. 1 13.4.1) */
#define CPU_XSAVE_HEADER_BYTES 64u    /* the XSAVE header after it (13.4.2) */
#define CPU_XSAVE_ALIGN_BYTES  64u    /* ECX[1] components in the compacted form (13.4.3) */
#define CPU_XSTATE_ALIGNED     (1u << 1)   /* leaf 0xd.i ECX[1] */
#define CPU_XSTATE_XFD         (1u << 2)   /* leaf 0xd.i ECX[2]: XFD faults supported */
#define CPU_XSTATE_FIRST_EXT   2u          /* components 0 and 1 live in the legacy area */
#define CPU_XSTATE_MAX         63u
#define CPU_HELP_HINT          "memvmm run --cpu help lists the names"
#define CPU_LEAF_AMD_EXT       0x80000001u

static bool bm_test(const uint64_t *b, unsigned int i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void bm_set(uint64_t *b, unsigned int i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static bool bm_empty(const uint64_t *b)
{
	for (unsigned int w = 0; w < CPU_MODEL_WORDS; w++)
		if (b[w])
			return false;
	return true;
}

/* Add to clear everything that needs something in it, until nothing changes. */
static void close_deps(uint64_t *clear)
{
	bool changed;

	do {
		changed = false;
		for (size_t d = 0; d < cpu_nr_deps; d++) {
			if (bm_test(clear, cpu_deps[d].needs) && !bm_test(clear, cpu_deps[d].feature)) {
				bm_set(clear, cpu_deps[d].feature);
				changed = true;
			}
		}
	} while (changed);
}

/* ---- parsing ------------------------------------------------------------- */

/* One item (item[0..n), the index-th): into m, or -EINVAL naming it. */
static int parse_item(struct cpu_model *m, const char *item, size_t n, unsigned int index,
		      char *err, size_t errlen)
{
	char text[CPU_MODEL_SPEC_BYTES];
	const struct cpu_feature *f;
	int id;

	if (!n)
		return cli_fail(err, errlen, "item %u is empty (a stray comma); items are +NAME "
				"or -NAME, e.g. -cx16,-xsave", index);
	memcpy(text, item, n);
	text[n] = '\0';
	if (!strcmp(text, "host")) {
		if (index == 1)
			return 0;
		return cli_fail(err, errlen, "'host' may only come first (item %u)", index);
	}
	if (text[0] != '+' && text[0] != '-')
		return cli_fail(err, errlen, "item '%s' needs + or - before the name (e.g. -%s); "
				CPU_HELP_HINT, CLI_ECHO(text), CLI_ECHO(text));
	id = cpu_feature_lookup(text + 1, n - 1);
	if (id < 0)
		return cli_fail(err, errlen, "unknown feature '%s' in item '%s'; " CPU_HELP_HINT,
				CLI_ECHO(text + 1), CLI_ECHO(text));
	f = &cpu_features[id];
	if (bm_test(m->named, (unsigned int)id) || bm_test(m->keep, (unsigned int)id))
		return cli_fail(err, errlen, "item '%s': %s is named twice", CLI_ECHO(text), f->name);
	if (f->use == CPU_USE_NONE)
		return cli_fail(err, errlen, "item '%s': %s cannot be named: %s", CLI_ECHO(text),
				f->name, f->why);
	if (text[0] == '+') {
		bm_set(m->keep, (unsigned int)id);
		return 0;
	}
	if (f->use == CPU_USE_KEEP_ONLY)
		return cli_fail(err, errlen, "item '%s' is refused: %s", CLI_ECHO(text), f->why);
	bm_set(m->named, (unsigned int)id);
	return 0;
}

/* A +NAME that a -NAME clears: name both. */
static int check_keep(const struct cpu_model *m, char *err, size_t errlen)
{
	for (unsigned int k = 0; k < CF_NR_FEATURES; k++) {
		if (!bm_test(m->keep, k) || !bm_test(m->clear, k))
			continue;
		for (unsigned int n = 0; n < CF_NR_FEATURES; n++) {
			uint64_t one[CPU_MODEL_WORDS] = { 0 };

			if (!bm_test(m->named, n))
				continue;
			bm_set(one, n);
			close_deps(one);
			if (bm_test(one, k))
				return cli_fail(err, errlen, "+%s and -%s: %s needs %s, which -%s "
						"clears", cpu_features[k].name, cpu_features[n].name,
						cpu_features[k].name, cpu_features[n].name,
						cpu_features[n].name);
		}
	}
	return 0;
}

int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen)
{
	size_t len = spec ? strlen(spec) : 0;
	unsigned int index = 1;
	const char *p = spec;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!len)
		return 0;
	if (len >= CPU_MODEL_SPEC_BYTES)
		return cli_fail(err, errlen, "'%s' is %zu bytes, at most %d", CLI_ECHO(spec), len,
				CPU_MODEL_SPEC_BYTES - 1);
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		ret = parse_item(out, p, n, index++, err, errlen);
		if (ret)
			goto fail;
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(out->clear, out->named, sizeof(out->clear));
	close_deps(out->clear);
	ret = check_keep(out, err, errlen);
	if (ret)
		goto fail;
	memcpy(out->spec, spec, len + 1);
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return ret;
}

bool cpu_model_is_host(const struct cpu_model *m)
{
	return bm_empty(m->clear) && bm_empty(m->keep);
}

/* ---- applying ------------------------------------------------------------ */

static struct kvm_cpuid_entry2 *cpuid_entry(const struct kvm_cpuid2 *c, uint32_t leaf,
					    uint32_t subleaf)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf && c->entries[i].index == subleaf)
			return (struct kvm_cpuid_entry2 *)&c->entries[i];
	return NULL;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, unsigned int reg)
{
	switch (reg) {
	case CPU_EAX:
		return &e->eax;
	case CPU_EBX:
		return &e->ebx;
	case CPU_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

/* Feature i is set in c (false when its leaf is missing). */
static bool cpuid_has(const struct kvm_cpuid2 *c, unsigned int i)
{
	const struct cpu_feature *f = &cpu_features[i];
	struct kvm_cpuid_entry2 *e = cpuid_entry(c, f->leaf, f->subleaf);

	return e && (*entry_reg(e, f->reg) >> f->bit & 1);
}

static void cpuid_clear(struct kvm_cpuid2 *c, unsigned int i)
{
	const struct cpu_feature *f = &cpu_features[i];
	struct kvm_cpuid_entry2 *e = cpuid_entry(c, f->leaf, f->subleaf);

	if (e)
		*entry_reg(e, f->reg) &= ~(1u << f->bit);
	e = f->amd_mirror ? cpuid_entry(c, CPU_LEAF_AMD_EXT, 0) : NULL;
	if (e)
		e->edx &= ~(1u << f->bit);
}

/*
 * The XSAVE area's size for the components in mask, as the SDM defines
 * leaf 0xd.0 EBX/ECX (standard form: the furthest end of a component) and
 * 0xd.1 EBX (compacted: each after the last, 64-byte aligned when its
 * ECX[1] says so); KVM's xstate_required_size() computes the same.
 */
static uint32_t xsave_size(const struct kvm_cpuid2 *c, uint64_t mask, bool compacted)
{
	uint32_t size = CPU_XSAVE_LEGACY_BYTES + CPU_XSAVE_HEADER_BYTES;

	for (uint32_t i = CPU_XSTATE_FIRST_EXT; i <= CPU_XSTATE_MAX; i++) {
		const struct kvm_cpuid_entry2 *e;
		uint32_t offset;

		if (!(mask >> i & 1) || !(e = cpuid_entry(c, CPU_LEAF_XSAVE, i)) || !e->eax)
			continue;
		if (!compacted)
			offset = e->ebx;
		else if (e->ecx & CPU_XSTATE_ALIGNED)
			offset = (size + CPU_XSAVE_ALIGN_BYTES - 1) & ~(CPU_XSAVE_ALIGN_BYTES - 1);
		else
			offset = size;
		if (offset + e->eax > size)
			size = offset + e->eax;
	}
	return size;
}

/* The components m removes: all of whose features are gone, one by m. */
static uint64_t xstates_gone(const struct cpu_model *m, const struct kvm_cpuid2 *c,
			     uint64_t xss)
{
	uint64_t gone = bm_test(m->clear, CF_XSAVES) ? xss : 0;

	for (size_t x = 0; x < cpu_nr_xstates; x++) {
		const struct cpu_xstate *xs = &cpu_xstates[x];
		bool hit = false, left = false;

		for (unsigned int o = 0; o < xs->nr_owners; o++) {
			if (bm_test(m->clear, xs->owner[o]))
				hit = true;
			else if (cpuid_has(c, xs->owner[o]))
				left = true;
		}
		if (hit && !left)
			gone |= 1ull << xs->component;
	}
	return gone;
}

/*
 * Leaf 0xd after the feature bits are cleared: -xsave empties it; else the
 * removed components leave XCR0's (0xd.0 EAX/EDX) and IA32_XSS's (0xd.1
 * ECX/EDX) supported bits, their subleaves read as zeros (what the SDM
 * says of an unsupported component), and the sizes are computed again.
 * d1_eax: leaf 0xd.1 EAX before the feature bits were cleared.
 */
static void apply_xsave(const struct cpu_model *m, struct kvm_cpuid2 *c, uint32_t d1_eax)
{
	struct kvm_cpuid_entry2 *d0 = cpuid_entry(c, CPU_LEAF_XSAVE, 0);
	struct kvm_cpuid_entry2 *d1 = cpuid_entry(c, CPU_LEAF_XSAVE, 1);
	const uint32_t compact = 1u << cpu_features[CF_XSAVEC].bit |
				 1u << cpu_features[CF_XSAVES].bit;
	uint64_t xcr0, xss, gone;

	if (bm_test(m->clear, CF_XSAVE)) {
		for (uint32_t i = 0; i < c->nent; i++) {
			struct kvm_cpuid_entry2 *e = &c->entries[i];

			if (e->function == CPU_LEAF_XSAVE)
				e->eax = e->ebx = e->ecx = e->edx = 0;
		}
		return;
	}
	xcr0 = d0 ? d0->eax | (uint64_t)d0->edx << 32 : 0;
	xss = d1 ? d1->ecx | (uint64_t)d1->edx << 32 : 0;
	gone = xstates_gone(m, c, xss) & (xcr0 | xss);
	if (bm_test(m->clear, CF_XFD)) {
		for (uint32_t i = 0; i < c->nent; i++)
			if (c->entries[i].function == CPU_LEAF_XSAVE &&
			    c->entries[i].index >= CPU_XSTATE_FIRST_EXT)
				c->entries[i].ecx &= ~CPU_XSTATE_XFD;
	}
	if (!gone && (!d1 || (d1->eax & compact) == (d1_eax & compact)))
		return;
	xcr0 &= ~gone;
	xss &= ~gone;
	for (uint32_t i = CPU_XSTATE_FIRST_EXT; i <= CPU_XSTATE_MAX; i++) {
		struct kvm_cpuid_entry2 *e = gone >> i & 1 ? cpuid_entry(c, CPU_LEAF_XSAVE, i) : NULL;

		if (e)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
	if (d0) {
		d0->eax = (uint32_t)xcr0;
		d0->edx = (uint32_t)(xcr0 >> 32);
		d0->ebx = d0->ecx = xsave_size(c, xcr0, false);
	}
	if (d1) {
		d1->ecx = (uint32_t)xss;
		d1->edx = (uint32_t)(xss >> 32);
		d1->ebx = d1->eax & compact ? xsave_size(c, xcr0 | xss, true) : 0;
	}
}

int cpu_model_apply(const struct cpu_model *m, struct kvm_cpuid2 *cpuid, char *err,
		    size_t errlen)
{
	const struct kvm_cpuid_entry2 *d1 = cpuid_entry(cpuid, CPU_LEAF_XSAVE, 1);
	uint32_t d1_eax = d1 ? d1->eax : 0;
	char where[32];

	for (unsigned int i = 0; i < CF_NR_FEATURES; i++)
		if (bm_test(m->keep, i) && !cpuid_has(cpuid, i))
			return cli_fail(err, errlen, "+%s: this host's KVM does not offer %s (CPUID "
					"%s is clear in KVM_GET_SUPPORTED_CPUID)",
					cpu_features[i].name, cpu_features[i].name,
					cpu_feature_where(&cpu_features[i], where, sizeof(where)));
	if (bm_empty(m->clear))
		return 0;
	for (unsigned int i = 0; i < CF_NR_FEATURES; i++)
		if (bm_test(m->clear, i))
			cpuid_clear(cpuid, i);
	apply_xsave(m, cpuid, d1_eax);
	return 0;
}

/* ---- describing ---------------------------------------------------------- */

struct cpu_leaf_view {
	uint32_t leaf, subleaf;
	const char *regs;   /* which registers to show: "abcd" letters */
};

static const struct cpu_leaf_view cpu_views[] = {
	{ 0x1, 0, "cd" }, { 0x7, 0, "bcd" }, { 0x7, 1, "ad" }, { 0xd, 0, "abcd" },
	{ 0xd, 1, "abcd" }, { CPU_LEAF_AMD_EXT, 0, "cd" },
};

/* The features of leaf/subleaf in m->clear: off now (was_on) or never there. */
static void describe_names(struct cpu_text *t, const struct cpu_model *m,
			   const struct kvm_cpuid2 *host, const struct kvm_cpuid2 *c,
			   const struct cpu_leaf_view *v, bool was_on, const char *label)
{
	bool any = false;

	for (unsigned int i = 0; i < CF_NR_FEATURES; i++) {
		const struct cpu_feature *f = &cpu_features[i];

		if (!bm_test(m->clear, i) || f->leaf != v->leaf || f->subleaf != v->subleaf ||
		    cpuid_has(c, i) || (host && cpuid_has(host, i) != was_on) || (!host && !was_on))
			continue;
		/* An OS-enable bit KVM_GET_SUPPORTED_CPUID never sets is no news. */
		if (!was_on && f->use == CPU_USE_NONE)
			continue;
		cpu_text_add(t, "%s %s", any ? "" : label, f->name);
		any = true;
	}
	if (any)
		cpu_text_add(t, "\n");
}

static void describe_xstates(struct cpu_text *t, const struct kvm_cpuid2 *c, const char *label)
{
	const struct kvm_cpuid_entry2 *d0 = cpuid_entry(c, CPU_LEAF_XSAVE, 0);
	const struct kvm_cpuid_entry2 *d1 = cpuid_entry(c, CPU_LEAF_XSAVE, 1);
	uint64_t mask = (d0 ? d0->eax | (uint64_t)d0->edx << 32 : 0) |
			(d1 ? d1->ecx | (uint64_t)d1->edx << 32 : 0);

	cpu_text_add(t, "%s", label);
	for (unsigned int i = 0; i <= CPU_XSTATE_MAX; i++) {
		const char *name = i == 0 ? "x87" : NULL;

		if (!(mask >> i & 1))
			continue;
		for (size_t x = 0; x < cpu_nr_xstates; x++)
			if (cpu_xstates[x].component == i)
				name = cpu_xstates[x].name;
		if (name)
			cpu_text_add(t, " %s", name);
		else
			cpu_text_add(t, " component-%u", i);
	}
	cpu_text_add(t, mask ? "\n" : " none\n");
}

size_t cpu_model_describe(const struct cpu_model *m, const struct kvm_cpuid2 *host,
			  const struct kvm_cpuid2 *cpuid, char *buf, size_t len)
{
	struct cpu_text t = { .buf = buf, .len = len };

	if (len)
		buf[0] = '\0';
	cpu_text_add(&t, "CPU model: %s%s\n", m->spec[0] ? m->spec : "host",
		     cpu_model_is_host(m) ? " (KVM_GET_SUPPORTED_CPUID unchanged)" : "");
	for (size_t v = 0; v < sizeof(cpu_views) / sizeof(cpu_views[0]); v++) {
		const struct cpu_leaf_view *view = &cpu_views[v];
		struct kvm_cpuid_entry2 *e = cpuid_entry(cpuid, view->leaf, view->subleaf);
		char name[24];

		if (!e)
			continue;
		snprintf(name, sizeof(name), "leaf 0x%x.%u", view->leaf, view->subleaf);
		cpu_text_add(&t, "  %-18s", name);
		for (const char *r = view->regs; *r; r++)
			cpu_text_add(&t, " e%cx=0x%08x", *r, *entry_reg(e, (unsigned int)(*r - 'a')));
		cpu_text_add(&t, "\n");
		describe_names(&t, m, host, cpuid, view, true, "    off:");
		describe_names(&t, m, host, cpuid, view, false, "    not offered by KVM anyway:");
	}
	describe_xstates(&t, cpuid, "  XSAVE components:");
	if (host && !cpu_model_is_host(m))
		describe_xstates(&t, host, "  KVM's XSAVE components:");
	if (!bm_empty(m->keep)) {
		cpu_text_add(&t, "  kept (+):");
		for (unsigned int i = 0; i < CF_NR_FEATURES; i++)
			if (bm_test(m->keep, i))
				cpu_text_add(&t, " %s", cpu_features[i].name);
		cpu_text_add(&t, "\n");
	}
	return t.pos;
}
