// SPDX-License-Identifier: MIT
/*
 * The CPU model (vmm/cpu_model.h) without KVM: the feature table against
 * bits from the manuals, SPECs good and bad (every refusal names the item),
 * dependency closure, and apply on a hand-built template like KVM's on a
 * modern Intel host (leaves 0, 1, 7.0, 7.1, 0xd.0-18 with AVX-512, PKRU,
 * AMX and CET, 0x80000001, KVM's 0x40000000 leaves) checked register by
 * register with bit numbers written out here, not taken from the table;
 * an AMD template for the 0x80000001 copies of leaf 1; describe and help
 * texts. tests/test_cpu_model_run.c: the SPEC in a snapshot's /config, a
 * vCPU and the memvmm binary under a model.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "tests/e2e.h"
#include "tests/test.h"
#include "tests/test_cpu_model.h"
#include "vmm/cpu_features.h"
#include "vmm/cpu_model.h"

#define TMPL_MAX_ENTRIES 64

uint32_t cpu_test_bits(const int *b, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= 1u << b[i];
	return v;
}

static struct kvm_cpuid2 *tmpl_new(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + TMPL_MAX_ENTRIES * sizeof(c->entries[0]));

	TEST_ASSERT(c, "calloc");
	return c;
}

static void put(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
		uint32_t cx, uint32_t d)
{
	TEST_ASSERT(c->nent < TMPL_MAX_ENTRIES, "template full");
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx, .eax = a, .ebx = b, .ecx = cx, .edx = d,
		.flags = fn == 7 || fn == 0xd ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
	};
}

struct kvm_cpuid_entry2 *cpu_test_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	TEST_ASSERT(0, "no leaf 0x%x.%u", fn, idx);
	return NULL;
}

static size_t cpuid_bytes(const struct kvm_cpuid2 *c)
{
	return sizeof(*c) + c->nent * sizeof(c->entries[0]);
}

/* Leaf 1 EDX on this template: fpu..pse36, clflush, mmx, fxsr, sse, sse2, ss. */
#define INTEL_L1_EDX BITS(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 23, 24, \
			  25, 26, 27)
#define INTEL_L1_ECX BITS(0, 1, 9, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31)
#define INTEL_L7_EBX BITS(0, 1, 3, 4, 5, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 23, 24, 28, 29, \
			  30, 31)
#define INTEL_L7_ECX BITS(1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 22, 24, 25, 27, 28)
#define INTEL_L7_EDX BITS(4, 10, 14, 16, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31)
#define INTEL_L71_EAX BITS(4, 5, 10, 11, 12)
/* XCR0: x87, SSE, YMM, opmask, ZMM_Hi256, Hi16_ZMM, PKRU, XTILECFG, XTILEDATA. */
#define INTEL_XCR0 0x602e7u
#define INTEL_XSS  0x1800u           /* CET_U, CET_S */
#define INTEL_XSAVE_STD_BYTES  11008u   /* XTILEDATA ends at 2816 + 8192 */
#define INTEL_XSAVE_CMP_BYTES  10752u   /* compacted, XCR0 | XSS */

/*
 * A Sapphire Rapids-like KVM_GET_SUPPORTED_CPUID (XSAVE offsets and sizes
 * as the hardware reports them), plus memvmm's timing leaf.
 */
static struct kvm_cpuid2 *intel_template(void)
{
	struct kvm_cpuid2 *c = tmpl_new();

	put(c, 0, 0, 0x20, 0x756e6547, 0x6c65746e, 0x49656e69);
	put(c, 1, 0, 0x000806f8, 0x00010800, INTEL_L1_ECX, INTEL_L1_EDX);
	put(c, 7, 0, 1, INTEL_L7_EBX, INTEL_L7_ECX, INTEL_L7_EDX);
	put(c, 7, 1, INTEL_L71_EAX, 0, 0, 0);
	put(c, 0xd, 0, INTEL_XCR0, INTEL_XSAVE_STD_BYTES, INTEL_XSAVE_STD_BYTES, 0);
	put(c, 0xd, 1, 0x1f, INTEL_XSAVE_CMP_BYTES, INTEL_XSS, 0);
	put(c, 0xd, 2, 256, 576, 0, 0);
	put(c, 0xd, 5, 64, 1088, 0, 0);
	put(c, 0xd, 6, 512, 1152, 0, 0);
	put(c, 0xd, 7, 1024, 1664, 0, 0);
	put(c, 0xd, 9, 8, 2688, 0, 0);
	put(c, 0xd, 11, 16, 0, 1, 0);
	put(c, 0xd, 12, 24, 0, 1, 0);
	put(c, 0xd, 17, 64, 2752, 2, 0);
	put(c, 0xd, 18, 8192, 2816, 6, 0);
	put(c, 0x80000000, 0, 0x80000008, 0, 0, 0);
	put(c, 0x80000001, 0, 0, 0, BITS(0, 5, 8), BITS(11, 20, 26, 27, 29));
	put(c, 0x80000008, 0, 0x3934, 0, 0, 0);
	put(c, 0x40000000, 0, 0x40000010, 0x4b4d564b, 0x564b4d56, 0x4d);
	put(c, 0x40000001, 0, 0x01007afb, 0, 0, 0);
	put(c, 0x40000010, 0, 2100000, 0, 0, 0);
	return c;
}

/* KVM's own leaves are the same in a and b. */
static void assert_kvm_leaves_kept(struct kvm_cpuid2 *a, struct kvm_cpuid2 *b)
{
	static const uint32_t leaves[] = { 0x40000000, 0x40000001, 0x40000010 };

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
		TEST_ASSERT(!memcmp(LEAF(a, leaves[i], 0), LEAF(b, leaves[i], 0),
				    sizeof(struct kvm_cpuid_entry2)), "leaf 0x%x changed", leaves[i]);
}

static void assert_regs(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
			uint32_t cx, uint32_t d)
{
	struct kvm_cpuid_entry2 *e = LEAF(c, fn, idx);

	TEST_ASSERT(e->eax == a && e->ebx == b && e->ecx == cx && e->edx == d,
		    "leaf 0x%x.%u: %08x %08x %08x %08x, want %08x %08x %08x %08x", fn, idx,
		    e->eax, e->ebx, e->ecx, e->edx, a, b, cx, d);
}

void cpu_test_parse_ok(const char *spec, struct cpu_model *m)
{
	char err[ERR_BYTES] = "";

	TEST_ASSERT(cpu_model_parse(spec, m, err, sizeof(err)) == 0, "'%s': %s", spec, err);
}

/* Parse and apply spec to a fresh template; returns it. */
static struct kvm_cpuid2 *applied(const char *spec, struct kvm_cpuid2 *(*make)(void))
{
	struct kvm_cpuid2 *c = make();
	char err[ERR_BYTES] = "";
	struct cpu_model m;

	cpu_test_parse_ok(spec, &m);
	TEST_ASSERT(cpu_model_apply(&m, c, err, sizeof(err)) == 0, "'%s': %s", spec, err);
	return c;
}

bool cpu_test_clears(const struct cpu_model *m, const char *name)
{
	int id = cpu_feature_lookup(name, strlen(name));

	TEST_ASSERT(id >= 0, "no feature %s", name);
	return m->clear[id / 64] >> (id % 64) & 1;
}

/* m clears every (clears_all) or none (clears_none) of the space-separated names. */
static bool clears_some(const struct cpu_model *m, const char *names, bool want)
{
	char copy[256], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", names);
	for (char *n = strtok_r(copy, " ", &save); n; n = strtok_r(NULL, " ", &save))
		if (cpu_test_clears(m, n) != want)
			return false;
	return true;
}

static bool clears_all(const struct cpu_model *m, const char *names)
{
	return clears_some(m, names, true);
}

static bool clears_none(const struct cpu_model *m, const char *names)
{
	return clears_some(m, names, false);
}

/* ---- the table ----------------------------------------------------------- */

static void run_table(const void *arg)
{
	static const struct {
		const char *name;
		uint32_t leaf, subleaf, reg, bit;
	} manual[] = {
		/* Intel SDM vol. 2A, CPUID; AMD APM vol. 3, Fn8000_0001. */
		{ "fpu", 1, 0, CPU_EDX, 0 }, { "cx8", 1, 0, CPU_EDX, 8 }, { "apic", 1, 0, CPU_EDX, 9 },
		{ "mtrr", 1, 0, CPU_EDX, 12 }, { "pat", 1, 0, CPU_EDX, 16 },
		{ "pse36", 1, 0, CPU_EDX, 17 }, { "sse", 1, 0, CPU_EDX, 25 },
		{ "sse2", 1, 0, CPU_EDX, 26 }, { "pni", 1, 0, CPU_ECX, 0 },
		{ "pclmulqdq", 1, 0, CPU_ECX, 1 }, { "ssse3", 1, 0, CPU_ECX, 9 },
		{ "fma", 1, 0, CPU_ECX, 12 }, { "cx16", 1, 0, CPU_ECX, 13 },
		{ "pcid", 1, 0, CPU_ECX, 17 }, { "sse4_1", 1, 0, CPU_ECX, 19 },
		{ "sse4_2", 1, 0, CPU_ECX, 20 }, { "x2apic", 1, 0, CPU_ECX, 21 },
		{ "movbe", 1, 0, CPU_ECX, 22 }, { "popcnt", 1, 0, CPU_ECX, 23 },
		{ "tsc_deadline_timer", 1, 0, CPU_ECX, 24 }, { "aes", 1, 0, CPU_ECX, 25 },
		{ "xsave", 1, 0, CPU_ECX, 26 }, { "osxsave", 1, 0, CPU_ECX, 27 },
		{ "avx", 1, 0, CPU_ECX, 28 }, { "f16c", 1, 0, CPU_ECX, 29 },
		{ "rdrand", 1, 0, CPU_ECX, 30 }, { "hypervisor", 1, 0, CPU_ECX, 31 },
		{ "fsgsbase", 7, 0, CPU_EBX, 0 }, { "bmi1", 7, 0, CPU_EBX, 3 },
		{ "avx2", 7, 0, CPU_EBX, 5 }, { "smep", 7, 0, CPU_EBX, 7 }, { "bmi2", 7, 0, CPU_EBX, 8 },
		{ "erms", 7, 0, CPU_EBX, 9 }, { "invpcid", 7, 0, CPU_EBX, 10 },
		{ "avx512f", 7, 0, CPU_EBX, 16 }, { "rdseed", 7, 0, CPU_EBX, 18 },
		{ "adx", 7, 0, CPU_EBX, 19 }, { "smap", 7, 0, CPU_EBX, 20 },
		{ "clflushopt", 7, 0, CPU_EBX, 23 }, { "clwb", 7, 0, CPU_EBX, 24 },
		{ "sha_ni", 7, 0, CPU_EBX, 29 }, { "avx512vl", 7, 0, CPU_EBX, 31 },
		{ "umip", 7, 0, CPU_ECX, 2 }, { "pku", 7, 0, CPU_ECX, 3 }, { "gfni", 7, 0, CPU_ECX, 8 },
		{ "vaes", 7, 0, CPU_ECX, 9 }, { "vpclmulqdq", 7, 0, CPU_ECX, 10 },
		{ "la57", 7, 0, CPU_ECX, 16 }, { "rdpid", 7, 0, CPU_ECX, 22 },
		{ "amx_tile", 7, 0, CPU_EDX, 24 }, { "avx_vnni", 7, 1, CPU_EAX, 4 },
		{ "xsaveopt", 0xd, 1, CPU_EAX, 0 }, { "xsavec", 0xd, 1, CPU_EAX, 1 },
		{ "xsaves", 0xd, 1, CPU_EAX, 3 }, { "nx", 0x80000001, 0, CPU_EDX, 20 },
		{ "pdpe1gb", 0x80000001, 0, CPU_EDX, 26 }, { "rdtscp", 0x80000001, 0, CPU_EDX, 27 },
		{ "lm", 0x80000001, 0, CPU_EDX, 29 }, { "lahf_lm", 0x80000001, 0, CPU_ECX, 0 },
		{ "abm", 0x80000001, 0, CPU_ECX, 5 },
	};
	(void)arg;

	for (size_t i = 0; i < sizeof(manual) / sizeof(manual[0]); i++) {
		int id = cpu_feature_lookup(manual[i].name, strlen(manual[i].name));
		const struct cpu_feature *f;

		TEST_ASSERT(id >= 0, "%s missing", manual[i].name);
		f = &cpu_features[id];
		TEST_ASSERT(f->leaf == manual[i].leaf && f->subleaf == manual[i].subleaf &&
			    f->reg == manual[i].reg && f->bit == manual[i].bit, "%s: wrong place",
			    manual[i].name);
	}
	TEST_ASSERT(cpu_feature_lookup("sse3", 4) == CF_PNI && cpu_feature_lookup("lzcnt", 5) ==
		    CF_ABM && cpu_feature_lookup("cx1", 3) < 0 && cpu_feature_lookup("CX16", 4) < 0,
		    "aliases, exact names");
	for (int i = 0; i < CF_NR_FEATURES; i++) {
		const struct cpu_feature *f = &cpu_features[i];

		TEST_ASSERT(f->name && *f->name && strspn(f->name, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
			    strlen(f->name), "feature %d: name", i);
		TEST_ASSERT(cpu_feature_lookup(f->name, strlen(f->name)) == i, "%s: not unique", f->name);
		TEST_ASSERT((f->use == CPU_USE_FREE) == !f->why, "%s: why", f->name);
		TEST_ASSERT(!f->amd_mirror || (f->leaf == 1 && f->reg == CPU_EDX), "%s: mirror", f->name);
		for (int j = 0; j < i; j++) {
			const struct cpu_feature *g = &cpu_features[j];

			TEST_ASSERT(f->leaf != g->leaf || f->subleaf != g->subleaf || f->reg != g->reg ||
				    f->bit != g->bit, "%s and %s: one bit", f->name, g->name);
		}
	}
	for (size_t i = 0; i < cpu_nr_aliases; i++)
		TEST_ASSERT(cpu_feature_lookup(cpu_aliases[i].name, strlen(cpu_aliases[i].name)) ==
			    cpu_aliases[i].feature, "alias %s shadowed", cpu_aliases[i].name);
	for (size_t d = 0; d < cpu_nr_deps; d++) {
		struct cpu_model m;
		char spec[64];

		TEST_ASSERT(cpu_deps[d].feature < CF_NR_FEATURES && cpu_deps[d].needs < CF_NR_FEATURES &&
			    cpu_deps[d].feature != cpu_deps[d].needs, "dep %zu", d);
		/* No cycles: clearing what a feature needs never clears what it needs. */
		if (cpu_features[cpu_deps[d].needs].use != CPU_USE_FREE)
			continue;
		snprintf(spec, sizeof(spec), "-%s", cpu_features[cpu_deps[d].needs].name);
		cpu_test_parse_ok(spec, &m);
		TEST_ASSERT(cpu_test_clears(&m, cpu_features[cpu_deps[d].feature].name), "%s", spec);
	}
	for (size_t x = 0; x < cpu_nr_xstates; x++) {
		TEST_ASSERT(cpu_xstates[x].component >= 1 && cpu_xstates[x].component <= 63 &&
			    cpu_xstates[x].nr_owners >= 1 &&
			    cpu_xstates[x].nr_owners <= CPU_XSTATE_MAX_OWNERS, "xstate %zu", x);
		for (size_t y = 0; y < x; y++)
			TEST_ASSERT(cpu_xstates[x].component != cpu_xstates[y].component, "xstate twice");
	}
	TEST_PASS("table: bits as the manuals say, unique names and bits, sound dependencies");
}

/* ---- parsing ------------------------------------------------------------- */

static void run_parse(const void *arg)
{
	static const char *const xsave_clears[] = {
		"xsave", "osxsave", "avx", "avx2", "fma", "f16c", "avx512f", "avx512vl",
		"avx512bw", "avx512_vnni", "avx512_fp16", "avx512_bf16", "xsaveopt", "xsavec",
		"xsaves", "xgetbv1", "xfd", "pku", "ospke", "mpx", "vaes", "vpclmulqdq",
		"amx_tile", "amx_int8", "amx_bf16", "shstk", "enqcmd", "avx_vnni",
	};
	static const char *const xsave_keeps[] = {
		"sse2", "sse4_2", "gfni", "aes", "sha_ni", "pclmulqdq", "fxsr", "ibt",
	};
	static const char *const sse2_clears[] = {
		"sse2", "pni", "ssse3", "sse4_1", "sse4_2", "aes", "pclmulqdq", "sha_ni", "gfni",
		"f16c", "fma", "avx", "avx2", "avx512f", "vaes", "vpclmulqdq", "sse4a", "xop",
	};
	static const char *const sse2_keeps[] = { "sse", "fxsr", "xsave", "cx16", "popcnt", "mmx" };
	struct cpu_model m, zero;
	(void)arg;

	memset(&zero, 0, sizeof(zero));
	cpu_test_parse_ok("host", &m);
	TEST_ASSERT(cpu_model_is_host(&m) && !strcmp(m.spec, "host"), "host");
	cpu_test_parse_ok("", &m);
	TEST_ASSERT(!memcmp(&m, &zero, sizeof(m)) && cpu_model_is_host(&m), "empty: host");
	cpu_test_parse_ok(NULL, &m);
	TEST_ASSERT(cpu_model_is_host(&m) && cpu_model_is_host(&zero), "NULL, zero: host");

	cpu_test_parse_ok("-cx16", &m);
	for (int i = 0; i < CF_NR_FEATURES; i++)
		TEST_ASSERT(cpu_test_clears(&m, cpu_features[i].name) == (i == CF_CX16), "-cx16: only cx16, "
			    "not %s", cpu_features[i].name);
	TEST_ASSERT(!strcmp(m.spec, "-cx16") && !cpu_model_is_host(&m), "spec kept");

	cpu_test_parse_ok("host,-cx16,-xsave", &m);
	for (size_t i = 0; i < sizeof(xsave_clears) / sizeof(xsave_clears[0]); i++)
		TEST_ASSERT(cpu_test_clears(&m, xsave_clears[i]), "-xsave keeps %s", xsave_clears[i]);
	for (size_t i = 0; i < sizeof(xsave_keeps) / sizeof(xsave_keeps[0]); i++)
		TEST_ASSERT(!cpu_test_clears(&m, xsave_keeps[i]), "-xsave clears %s", xsave_keeps[i]);
	TEST_ASSERT(cpu_test_clears(&m, "cx16"), "and cx16");

	cpu_test_parse_ok("-sse2", &m);
	for (size_t i = 0; i < sizeof(sse2_clears) / sizeof(sse2_clears[0]); i++)
		TEST_ASSERT(cpu_test_clears(&m, sse2_clears[i]), "-sse2 keeps %s", sse2_clears[i]);
	for (size_t i = 0; i < sizeof(sse2_keeps) / sizeof(sse2_keeps[0]); i++)
		TEST_ASSERT(!cpu_test_clears(&m, sse2_keeps[i]), "-sse2 clears %s", sse2_keeps[i]);

	cpu_test_parse_ok("-avx", &m);
	TEST_ASSERT(clears_all(&m, "avx2 fma f16c vaes vpclmulqdq avx512f avx512_vbmi2 "
			       "avx512_fp16 avx_vnni") && clears_none(&m, "xsave gfni aes amx_tile"),
		    "-avx");
	cpu_test_parse_ok("-sse3", &m);
	TEST_ASSERT(clears_all(&m, "pni avx") && clears_none(&m, "sse2"), "alias sse3");
	cpu_test_parse_ok("-lzcnt,+avx2,+lm,-rdrand", &m);
	TEST_ASSERT(clears_all(&m, "abm rdrand") && clears_none(&m, "avx2") &&
		    m.keep[CF_AVX2 / 64] >> (CF_AVX2 % 64) & 1, "keep and clear");
	TEST_PASS("parse: host, closures of -cx16, -xsave, -sse2, -avx, aliases, +NAME");
}

static void parse_bad(const char *spec, const char *want)
{
	char err[ERR_BYTES];
	struct cpu_model m;

	memset(&m, 0xa5, sizeof(m));
	memset(err, 0, sizeof(err));
	TEST_ASSERT(cpu_model_parse(spec, &m, err, sizeof(err)) == -EINVAL, "'%s' accepted", spec);
	TEST_ASSERT(strstr(err, want), "'%s': message '%s' lacks '%s'", spec, err, want);
	TEST_ASSERT(strlen(err) < sizeof(err) - 1, "'%s': message cut: %s", spec, err);
	TEST_ASSERT(cpu_model_is_host(&m) && !m.spec[0], "'%s': model left behind", spec);
}

static void run_parse_bad(const void *arg)
{
	char huge[CPU_MODEL_SPEC_BYTES + 40], longname[200];
	(void)arg;

	parse_bad(",", "item 1 is empty (a stray comma)");
	parse_bad("-cx16,", "item 2 is empty");
	parse_bad("-cx16,,-xsave", "item 2 is empty");
	parse_bad("cx16", "item 'cx16' needs + or -");
	parse_bad("-cx16,avx", "item 'avx' needs + or -");
	parse_bad("-foo", "unknown feature 'foo' in item '-foo'");
	parse_bad("-foo", "memvmm run --cpu help lists the names");
	parse_bad("-CX16", "unknown feature 'CX16'");
	parse_bad("+", "unknown feature '' in item '+'");
	parse_bad("- cx16", "unknown feature ' cx16'");
	parse_bad("-cx16,-cx16", "item '-cx16': cx16 is named twice");
	parse_bad("+cx16,-cx16", "item '-cx16': cx16 is named twice");
	parse_bad("-sse3,-pni", "item '-pni': pni is named twice");
	parse_bad("-cx16,host", "'host' may only come first (item 2)");
	parse_bad("-lm", "item '-lm' is refused: memvmm's guests run in 64-bit mode");
	parse_bad("-hypervisor", "item '-hypervisor' is refused: without it Linux does not look");
	parse_bad("-apic", "item '-apic': apic cannot be named: KVM sets it from the APIC base MSR");
	parse_bad("+apic", "apic cannot be named");
	parse_bad("-osxsave", "osxsave cannot be named: KVM sets it from the guest's CR4.OSXSAVE");
	parse_bad("+ospke", "ospke cannot be named");
	parse_bad("-xsave,+avx2", "+avx2 and -xsave: avx2 needs xsave, which -xsave clears");
	parse_bad("+f16c,-sse2", "+f16c and -sse2");
	memset(huge, 'x', sizeof(huge) - 1);
	huge[0] = '-';
	huge[sizeof(huge) - 1] = '\0';
	parse_bad(huge, "bytes, at most 255");
	memset(longname, 'y', sizeof(longname) - 1);
	longname[0] = '+';
	longname[sizeof(longname) - 1] = '\0';
	parse_bad(longname, "unknown feature 'yyy");
	TEST_PASS("parse: every refusal names its item");
}

/* ---- applying ------------------------------------------------------------ */

static void run_apply_host(const void *arg)
{
	struct kvm_cpuid2 *want = intel_template(), *c;
	(void)arg;

	c = applied("host", intel_template);
	TEST_ASSERT(!memcmp(c, want, cpuid_bytes(want)), "host changes nothing");
	free(c);
	c = applied("+avx2,+lm,+amx_tile", intel_template);
	TEST_ASSERT(!memcmp(c, want, cpuid_bytes(want)), "+NAME changes nothing");
	free(c);
	c = applied("-cx16", intel_template);
	TEST_ASSERT(LEAF(c, 1, 0)->ecx == (INTEL_L1_ECX & ~BITS(13)), "cx16 cleared");
	LEAF(c, 1, 0)->ecx = INTEL_L1_ECX;
	TEST_ASSERT(!memcmp(c, want, cpuid_bytes(want)), "-cx16 changes only cx16");
	free(c);
	c = applied("-rdrand,-rdtscp,-pdpe1gb,-nx,-la57", intel_template);
	assert_regs(c, 1, 0, 0x000806f8, 0x00010800, INTEL_L1_ECX & ~BITS(30), INTEL_L1_EDX);
	assert_regs(c, 0x80000001, 0, 0, 0, BITS(0, 5, 8), BITS(11, 29));
	TEST_ASSERT(LEAF(c, 7, 0)->ecx == (INTEL_L7_ECX & ~BITS(16)), "la57");
	assert_kvm_leaves_kept(c, want);
	free(c);
	free(want);
	TEST_PASS("apply: host and +NAME change nothing, -cx16 one bit, extended leaf");
}

static void run_apply_xsave(const void *arg)
{
	struct kvm_cpuid2 *want = intel_template(), *c = applied("-cx16,-xsave", intel_template);
	(void)arg;

	assert_regs(c, 1, 0, 0x000806f8, 0x00010800,
		    INTEL_L1_ECX & ~BITS(13, 26, 28, 29, 12), INTEL_L1_EDX);
	assert_regs(c, 7, 0, 1, INTEL_L7_EBX & ~BITS(5, 16, 17, 21, 28, 30, 31),
		    INTEL_L7_ECX & ~BITS(1, 3, 6, 7, 9, 10, 11, 12, 14),
		    INTEL_L7_EDX & ~BITS(22, 23, 24, 25));
	assert_regs(c, 7, 1, INTEL_L71_EAX & ~BITS(4, 5), 0, 0, 0);
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0xd)
			assert_regs(c, 0xd, c->entries[i].index, 0, 0, 0, 0);
	assert_regs(c, 0x80000001, 0, 0, 0, BITS(0, 5, 8), BITS(11, 20, 26, 27, 29));
	TEST_ASSERT(LEAF(c, 7, 0)->ecx & BITS(8), "gfni stays (SSE-encoded forms)");
	assert_kvm_leaves_kept(c, want);
	TEST_ASSERT(c->nent == want->nent, "no leaf removed");
	free(c);

	c = applied("-sse2", intel_template);
	assert_regs(c, 1, 0, 0x000806f8, 0x00010800,
		    INTEL_L1_ECX & ~BITS(0, 1, 9, 12, 19, 20, 25, 28, 29), INTEL_L1_EDX & ~BITS(26));
	assert_regs(c, 7, 0, 1, INTEL_L7_EBX & ~BITS(5, 16, 17, 21, 28, 29, 30, 31),
		    INTEL_L7_ECX & ~BITS(1, 6, 8, 9, 10, 11, 12, 14), INTEL_L7_EDX & ~BITS(23));
	TEST_ASSERT(LEAF(c, 0xd, 0)->eax == 0x60203 && LEAF(c, 0xd, 1)->ecx == INTEL_XSS &&
		    LEAF(c, 0xd, 17)->eax == 64 && LEAF(c, 0xd, 2)->eax == 0,
		    "-sse2: YMM and AVX-512 state gone, AMX, PKRU and CET stay");
	free(c);
	free(want);
	TEST_PASS("apply: -xsave empties leaf 0xd and clears its dependants bit by bit; -sse2");
}

static void run_apply_xstates(const void *arg)
{
	struct kvm_cpuid2 *c;
	(void)arg;

	/* -avx: YMM and the AVX-512 components go; sizes from what is left. */
	c = applied("-avx", intel_template);
	assert_regs(c, 0xd, 0, 0x60203, INTEL_XSAVE_STD_BYTES, INTEL_XSAVE_STD_BYTES, 0);
	/* Compacted: 576, PKRU 584, CET 600 and 624, XTILECFG at 640 (aligned) to 704, +8192. */
	assert_regs(c, 0xd, 1, 0x1f, 8896, INTEL_XSS, 0);
	assert_regs(c, 0xd, 2, 0, 0, 0, 0);
	assert_regs(c, 0xd, 5, 0, 0, 0, 0);
	assert_regs(c, 0xd, 6, 0, 0, 0, 0);
	assert_regs(c, 0xd, 7, 0, 0, 0, 0);
	assert_regs(c, 0xd, 9, 8, 2688, 0, 0);
	assert_regs(c, 0xd, 18, 8192, 2816, 6, 0);
	TEST_ASSERT(LEAF(c, 1, 0)->ecx == (INTEL_L1_ECX & ~BITS(12, 28, 29)), "-avx: leaf 1");
	free(c);

	/* -amx_tile: XTILECFG/XTILEDATA go, the standard size ends at PKRU. */
	c = applied("-amx_tile", intel_template);
	assert_regs(c, 0xd, 0, 0x2e7, 2696, 2696, 0);
	assert_regs(c, 0xd, 1, 0x1f, 2480, INTEL_XSS, 0);
	assert_regs(c, 0xd, 17, 0, 0, 0, 0);
	assert_regs(c, 0xd, 18, 0, 0, 0, 0);
	TEST_ASSERT(LEAF(c, 7, 0)->edx == (INTEL_L7_EDX & ~BITS(22, 24, 25)), "amx_*");
	free(c);

	/* -xsaves: every IA32_XSS component, XFD and so AMX; XSAVEC keeps a compacted size. */
	c = applied("-xsaves", intel_template);
	assert_regs(c, 0xd, 0, 0x2e7, 2696, 2696, 0);
	assert_regs(c, 0xd, 1, 0x7, 2440, 0, 0);
	assert_regs(c, 0xd, 11, 0, 0, 0, 0);
	assert_regs(c, 0xd, 12, 0, 0, 0, 0);
	TEST_ASSERT(LEAF(c, 7, 0)->ecx == (INTEL_L7_ECX & ~BITS(7)) &&
		    LEAF(c, 7, 0)->edx == (INTEL_L7_EDX & ~BITS(22, 24, 25)),
		    "shstk, amx cleared, ibt kept");
	free(c);

	/* CET state belongs to shadow stacks and IBT: it goes only when both do. */
	c = applied("-shstk", intel_template);
	assert_regs(c, 0xd, 1, 0x1f, INTEL_XSAVE_CMP_BYTES, INTEL_XSS, 0);
	assert_regs(c, 0xd, 11, 16, 0, 1, 0);
	free(c);
	c = applied("-shstk,-ibt", intel_template);
	assert_regs(c, 0xd, 0, INTEL_XCR0, INTEL_XSAVE_STD_BYTES, INTEL_XSAVE_STD_BYTES, 0);
	assert_regs(c, 0xd, 1, 0x1f, INTEL_XSAVE_CMP_BYTES, 0, 0);
	assert_regs(c, 0xd, 12, 0, 0, 0, 0);
	free(c);

	/* Neither XSAVEC nor XSAVES: no compacted size. */
	c = applied("-xsavec,-xsaves", intel_template);
	assert_regs(c, 0xd, 1, 0x5, 0, 0, 0);
	free(c);

	/* -xfd: the XFD bit of every component's ECX (here only XTILEDATA had it, gone). */
	c = applied("-xfd", intel_template);
	assert_regs(c, 0xd, 1, 0xf, 2480, INTEL_XSS, 0);
	assert_regs(c, 0xd, 18, 0, 0, 0, 0);
	free(c);
	c = applied("-pku", intel_template);
	assert_regs(c, 0xd, 0, 0x602e7 & ~BITS(9), INTEL_XSAVE_STD_BYTES, INTEL_XSAVE_STD_BYTES, 0);
	assert_regs(c, 0xd, 9, 0, 0, 0, 0);
	free(c);
	TEST_PASS("apply: XSAVE components leave XCR0/XSS, their subleaves, and the sizes");
}

/* An AMD template: leaf 1 EDX repeated in 0x80000001 EDX. */
static struct kvm_cpuid2 *amd_template(void)
{
	struct kvm_cpuid2 *c = tmpl_new();
	uint32_t l1_edx = INTEL_L1_EDX & ~BITS(27);
	uint32_t mirror = BITS(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 23, 24);

	put(c, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);
	put(c, 1, 0, 0x00a10f11, 0x00010800, INTEL_L1_ECX & ~BITS(21), l1_edx);
	put(c, 0x80000001, 0, 0x00a10f11, 0, BITS(0, 1, 5, 6, 8),
	    (l1_edx & mirror) | BITS(11, 20, 22, 25, 26, 27, 29));
	put(c, 0x40000000, 0, 0x40000010, 0x4b4d564b, 0x564b4d56, 0x4d);
	put(c, 0x40000001, 0, 0x01007afb, 0, 0, 0);
	put(c, 0x40000010, 0, 2100000, 0, 0, 0);
	return c;
}

static void run_apply_amd(const void *arg)
{
	struct kvm_cpuid2 *want = amd_template(), *c;
	(void)arg;

	c = applied("-pae", amd_template);
	TEST_ASSERT(LEAF(c, 1, 0)->edx == (LEAF(want, 1, 0)->edx & ~BITS(6)) &&
		    LEAF(c, 0x80000001, 0)->edx == (LEAF(want, 0x80000001, 0)->edx & ~BITS(6)),
		    "pae cleared in both places");
	free(c);
	c = applied("-mmx", amd_template);
	TEST_ASSERT(LEAF(c, 1, 0)->edx == (LEAF(want, 1, 0)->edx & ~BITS(23)) &&
		    LEAF(c, 0x80000001, 0)->edx == (LEAF(want, 0x80000001, 0)->edx & ~BITS(22, 23)),
		    "mmx in both places, mmxext with it");
	free(c);
	c = applied("-sse2", amd_template);
	TEST_ASSERT(LEAF(c, 0x80000001, 0)->ecx == BITS(0, 1, 5, 8), "sse4a goes with sse2");
	TEST_ASSERT(LEAF(c, 0x80000001, 0)->edx == LEAF(want, 0x80000001, 0)->edx, "no sse2 copy");
	assert_kvm_leaves_kept(c, want);
	free(c);
	free(want);
	TEST_PASS("apply: AMD's copies of leaf 1 EDX in 0x80000001 EDX");
}

static void run_keep_refused(const void *arg)
{
	struct kvm_cpuid2 *want = intel_template(), *c = intel_template();
	char err[ERR_BYTES] = "";
	struct cpu_model m;
	(void)arg;

	cpu_test_parse_ok("-cx16,+avx512_vp2intersect", &m);
	TEST_ASSERT(cpu_model_apply(&m, c, err, sizeof(err)) == -EINVAL, "accepted");
	TEST_ASSERT(strstr(err, "+avx512_vp2intersect: this host's KVM does not offer "
			   "avx512_vp2intersect (CPUID 0x7.0 EDX[8]"), "message: %s", err);
	TEST_ASSERT(!memcmp(c, want, cpuid_bytes(want)), "template changed by a refusal");
	cpu_test_parse_ok("+mpx", &m);
	TEST_ASSERT(cpu_model_apply(&m, c, err, sizeof(err)) == -EINVAL &&
		    strstr(err, "does not offer mpx"), "+mpx: %s", err);
	free(c);
	/* A template without leaf 7 at all. */
	c = amd_template();
	cpu_test_parse_ok("+avx2", &m);
	TEST_ASSERT(cpu_model_apply(&m, c, err, sizeof(err)) == -EINVAL &&
		    strstr(err, "does not offer avx2"), "no leaf 7: %s", err);
	/* -NAME of what a template lacks is no error. */
	cpu_test_parse_ok("-avx512f,-xsaves", &m);
	TEST_OK(cpu_model_apply(&m, c, err, sizeof(err)));
	free(c);
	free(want);
	TEST_PASS("apply: +NAME refused when KVM lacks it, template untouched");
}

/* ---- texts ----------------------------------------------------------------- */

static void run_describe(const void *arg)
{
	struct kvm_cpuid2 *host = intel_template(), *c = applied("-cx16,-xsave", intel_template);
	static char text[TEXT_BYTES];
	struct cpu_model m;
	char small[16];
	size_t n;
	(void)arg;

	cpu_test_parse_ok("-cx16,-xsave,-mpx", &m);
	free(c);
	c = applied("-cx16,-xsave,-mpx", intel_template);
	n = cpu_model_describe(&m, host, c, text, sizeof(text));
	TEST_ASSERT(n == strlen(text) && n < sizeof(text), "length %zu", n);
	TEST_ASSERT(strstr(text, "CPU model: -cx16,-xsave,-mpx\n") &&
		    strstr(text, "leaf 0x1.0") && strstr(text, "ecx=0x") &&
		    strstr(text, "    off: fma cx16 xsave avx f16c\n") &&
		    strstr(text, "    off: avx2 avx512f") &&
		    strstr(text, "    not offered by KVM anyway: mpx") &&
		    strstr(text, "leaf 0xd.0") && strstr(text, "eax=0x00000000 ebx=0x00000000") &&
		    strstr(text, "  XSAVE components: none\n") &&
		    strstr(text, "  KVM's XSAVE components: x87 sse ymm opmask zmm_hi256 hi16_zmm "
			   "pkru cet_u cet_s xtilecfg xtiledata\n") &&
		    strstr(text, "leaf 0x80000001.0"), "describe:\n%s", text);
	TEST_ASSERT(!strstr(text, "osxsave") && !strstr(text, "leaf 0x40000000"),
		    "a bit never set is not 'off'; KVM's leaves not shown:\n%s", text);
	/* Like snprintf when the buffer is short. */
	TEST_ASSERT(cpu_model_describe(&m, host, c, small, sizeof(small)) == n &&
		    strlen(small) == sizeof(small) - 1 && !strncmp(small, text, sizeof(small) - 1),
		    "truncation");
	TEST_ASSERT(cpu_model_describe(&m, host, c, NULL, 0) == n, "length only");
	/* Without the template: what is off, nothing about what KVM lacked. */
	cpu_model_describe(&m, NULL, c, text, sizeof(text));
	TEST_ASSERT(strstr(text, "off: fma cx16 xsave osxsave avx f16c") &&
		    !strstr(text, "not offered"), "no host:\n%s", text);
	free(c);
	cpu_test_parse_ok("+avx2", &m);
	c = applied("+avx2", intel_template);
	cpu_model_describe(&m, host, c, text, sizeof(text));
	TEST_ASSERT(strstr(text, "CPU model: +avx2\n") && strstr(text, "  kept (+): avx2\n") &&
		    strstr(text, "  XSAVE components: x87 sse ymm") && !strstr(text, "off:"),
		    "+avx2:\n%s", text);
	memset(&m, 0, sizeof(m));
	cpu_model_describe(&m, host, host, text, sizeof(text));
	TEST_ASSERT(strstr(text, "CPU model: host (KVM_GET_SUPPORTED_CPUID unchanged)\n"),
		    "host:\n%s", text);
	free(c);
	free(host);
	TEST_PASS("describe: registers per leaf, what the SPEC turned off, XSAVE components");
}

static void run_help(const void *arg)
{
	static char text[CPU_MODEL_HELP_BYTES];
	size_t n = cpu_model_help(text, sizeof(text));
	(void)arg;

	TEST_ASSERT(n == strlen(text) && n < sizeof(text), "help is %zu bytes", n);
	for (int i = 0; i < CF_NR_FEATURES; i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n%s ", cpu_features[i].name);
		TEST_ASSERT(strstr(text, line), "help lacks %s", cpu_features[i].name);
	}
	TEST_ASSERT(strstr(text, "usage: memvmm run --cpu SPEC") && strstr(text, "-cx16,-xsave") &&
		    strstr(text, "\navx2                 0x7.0 EBX[5]           avx\n") &&
		    strstr(text, "-lm is refused: memvmm's guests run in 64-bit mode") &&
		    strstr(text, "sse3 = pni") && strstr(text, "ymm        XCR0  avx\n"),
		    "help:\n%s", text);
	TEST_PASS("help: every name with its bit and what it needs");
}

int main(int argc, char **argv)
{
	static const struct e2e_case cases[] = {
		{ "table", run_table, NULL },
		{ "parse", run_parse, NULL },
		{ "parse-bad", run_parse_bad, NULL },
		{ "apply-host", run_apply_host, NULL },
		{ "apply-xsave", run_apply_xsave, NULL },
		{ "apply-xstates", run_apply_xstates, NULL },
		{ "apply-amd", run_apply_amd, NULL },
		{ "keep-refused", run_keep_refused, NULL },
		{ "describe", run_describe, NULL },
		{ "help", run_help, NULL },
		{ "snapshot", cpu_test_run_snapshot, NULL },
		{ "kvm", cpu_test_run_kvm, NULL },
		{ "cli", cpu_test_run_cli, NULL },
		{ "memvmm-kvm", cpu_test_run_memvmm_kvm, NULL },
	};

	return e2e_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
