// SPDX-License-Identifier: MIT
/*
 * The CPU model's facts (vmm/cpu_features.h).
 *
 * Names and bits: Linux's arch/x86/include/asm/cpufeatures.h (the quoted
 * /proc/cpuinfo name; for a bit Linux does not show there, such as shstk,
 * xfd or cmpccxadd, its X86_FEATURE_ name in lower case), which follows the
 * Intel SDM vol. 2A (CPUID) and the AMD APM vol. 3 (CPUID Fn0000_0001,
 * Fn0000_0007, Fn0000_000D, Fn8000_0001).
 *
 * Dependencies: Linux's arch/x86/kernel/cpu/cpuid-deps.c (what its
 * clear_cpu_cap() clears with a feature), plus the rules marked "SDM"
 * below, where the manuals make one feature unusable without another.
 *
 * XSAVE components: Intel SDM vol. 1 ch. 13.1 (component numbers; 0 and 1
 * are x87 and SSE, 2 AVX, 3-4 MPX, 5-7 AVX-512, 8 PT, 9 PKRU, 10 PASID,
 * 11-12 CET, 15 LBR, 17-18 AMX; 8, 10-12 and 15 are supervisor states in
 * IA32_XSS).
 */
#include "vmm/cpu_features.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cpu_model.h"

#define L1      0x1u
#define L7      0x7u
#define LD      0xdu
#define LX1     0x80000001u

#define F(id, nm, lf, sub, r, b) [id] = { .name = nm, .leaf = lf, .subleaf = sub, .reg = r, .bit = b }
/* Leaf 1 EDX bits that AMD repeats in 0x80000001 EDX (APM vol. 3, CPUID Fn8000_0001_EDX). */
#define FM(id, nm, b) [id] = { .name = nm, .leaf = L1, .reg = CPU_EDX, .bit = b, .amd_mirror = true }

#define WHY_LM "memvmm's guests run in 64-bit mode: the test guest and Linux's 64-bit " \
	       "boot protocol set EFER.LME, which KVM refuses without lm"
#define WHY_HYPERVISOR "without it Linux does not look for KVM's leaves (no kvmclock) and, " \
	       "on memvmm's machine (hardware-reduced ACPI, no PIT, no HPET), hangs calibrating " \
	       "the TSC"
#define WHY_APIC "KVM sets it from the APIC base MSR (memvmm's vCPUs always have a local " \
		 "APIC); boot Linux with nolapic instead"
#define WHY_OSXSAVE "KVM sets it from the guest's CR4.OSXSAVE; use -xsave"
#define WHY_OSPKE "KVM sets it from the guest's CR4.PKE; use -pku"

const struct cpu_feature cpu_features[CF_NR_FEATURES] = {
	FM(CF_FPU, "fpu", 0), FM(CF_VME, "vme", 1), FM(CF_DE, "de", 2), FM(CF_PSE, "pse", 3),
	FM(CF_TSC, "tsc", 4), FM(CF_MSR, "msr", 5), FM(CF_PAE, "pae", 6), FM(CF_MCE, "mce", 7),
	FM(CF_CX8, "cx8", 8),
	[CF_APIC] = { .name = "apic", .leaf = L1, .reg = CPU_EDX, .bit = 9, .amd_mirror = true,
		      .use = CPU_USE_NONE, .why = WHY_APIC },
	F(CF_SEP, "sep", L1, 0, CPU_EDX, 11), FM(CF_MTRR, "mtrr", 12), FM(CF_PGE, "pge", 13),
	FM(CF_MCA, "mca", 14), FM(CF_CMOV, "cmov", 15), FM(CF_PAT, "pat", 16),
	FM(CF_PSE36, "pse36", 17), F(CF_CLFLUSH, "clflush", L1, 0, CPU_EDX, 19),
	FM(CF_MMX, "mmx", 23), FM(CF_FXSR, "fxsr", 24), F(CF_SSE, "sse", L1, 0, CPU_EDX, 25),
	F(CF_SSE2, "sse2", L1, 0, CPU_EDX, 26), F(CF_SS, "ss", L1, 0, CPU_EDX, 27),
	F(CF_HT, "ht", L1, 0, CPU_EDX, 28),

	F(CF_PNI, "pni", L1, 0, CPU_ECX, 0), F(CF_PCLMULQDQ, "pclmulqdq", L1, 0, CPU_ECX, 1),
	F(CF_MONITOR, "monitor", L1, 0, CPU_ECX, 3), F(CF_VMX, "vmx", L1, 0, CPU_ECX, 5),
	F(CF_SSSE3, "ssse3", L1, 0, CPU_ECX, 9), F(CF_FMA, "fma", L1, 0, CPU_ECX, 12),
	F(CF_CX16, "cx16", L1, 0, CPU_ECX, 13), F(CF_XTPR, "xtpr", L1, 0, CPU_ECX, 14),
	F(CF_PDCM, "pdcm", L1, 0, CPU_ECX, 15), F(CF_PCID, "pcid", L1, 0, CPU_ECX, 17),
	F(CF_SSE4_1, "sse4_1", L1, 0, CPU_ECX, 19), F(CF_SSE4_2, "sse4_2", L1, 0, CPU_ECX, 20),
	F(CF_X2APIC, "x2apic", L1, 0, CPU_ECX, 21), F(CF_MOVBE, "movbe", L1, 0, CPU_ECX, 22),
	F(CF_POPCNT, "popcnt", L1, 0, CPU_ECX, 23),
	F(CF_TSC_DEADLINE_TIMER, "tsc_deadline_timer", L1, 0, CPU_ECX, 24),
	F(CF_AES, "aes", L1, 0, CPU_ECX, 25), F(CF_XSAVE, "xsave", L1, 0, CPU_ECX, 26),
	[CF_OSXSAVE] = { .name = "osxsave", .leaf = L1, .reg = CPU_ECX, .bit = 27,
			 .use = CPU_USE_NONE, .why = WHY_OSXSAVE },
	F(CF_AVX, "avx", L1, 0, CPU_ECX, 28), F(CF_F16C, "f16c", L1, 0, CPU_ECX, 29),
	F(CF_RDRAND, "rdrand", L1, 0, CPU_ECX, 30),
	[CF_HYPERVISOR] = { .name = "hypervisor", .leaf = L1, .reg = CPU_ECX, .bit = 31,
			    .use = CPU_USE_KEEP_ONLY, .why = WHY_HYPERVISOR },

	F(CF_FSGSBASE, "fsgsbase", L7, 0, CPU_EBX, 0), F(CF_TSC_ADJUST, "tsc_adjust", L7, 0, CPU_EBX, 1),
	F(CF_SGX, "sgx", L7, 0, CPU_EBX, 2), F(CF_BMI1, "bmi1", L7, 0, CPU_EBX, 3),
	F(CF_HLE, "hle", L7, 0, CPU_EBX, 4), F(CF_AVX2, "avx2", L7, 0, CPU_EBX, 5),
	F(CF_SMEP, "smep", L7, 0, CPU_EBX, 7), F(CF_BMI2, "bmi2", L7, 0, CPU_EBX, 8),
	F(CF_ERMS, "erms", L7, 0, CPU_EBX, 9), F(CF_INVPCID, "invpcid", L7, 0, CPU_EBX, 10),
	F(CF_RTM, "rtm", L7, 0, CPU_EBX, 11), F(CF_MPX, "mpx", L7, 0, CPU_EBX, 14),
	F(CF_AVX512F, "avx512f", L7, 0, CPU_EBX, 16), F(CF_AVX512DQ, "avx512dq", L7, 0, CPU_EBX, 17),
	F(CF_RDSEED, "rdseed", L7, 0, CPU_EBX, 18), F(CF_ADX, "adx", L7, 0, CPU_EBX, 19),
	F(CF_SMAP, "smap", L7, 0, CPU_EBX, 20), F(CF_AVX512IFMA, "avx512ifma", L7, 0, CPU_EBX, 21),
	F(CF_CLFLUSHOPT, "clflushopt", L7, 0, CPU_EBX, 23), F(CF_CLWB, "clwb", L7, 0, CPU_EBX, 24),
	F(CF_INTEL_PT, "intel_pt", L7, 0, CPU_EBX, 25), F(CF_AVX512PF, "avx512pf", L7, 0, CPU_EBX, 26),
	F(CF_AVX512ER, "avx512er", L7, 0, CPU_EBX, 27), F(CF_AVX512CD, "avx512cd", L7, 0, CPU_EBX, 28),
	F(CF_SHA_NI, "sha_ni", L7, 0, CPU_EBX, 29), F(CF_AVX512BW, "avx512bw", L7, 0, CPU_EBX, 30),
	F(CF_AVX512VL, "avx512vl", L7, 0, CPU_EBX, 31),

	F(CF_AVX512VBMI, "avx512vbmi", L7, 0, CPU_ECX, 1), F(CF_UMIP, "umip", L7, 0, CPU_ECX, 2),
	F(CF_PKU, "pku", L7, 0, CPU_ECX, 3),
	[CF_OSPKE] = { .name = "ospke", .leaf = L7, .reg = CPU_ECX, .bit = 4,
		       .use = CPU_USE_NONE, .why = WHY_OSPKE },
	F(CF_WAITPKG, "waitpkg", L7, 0, CPU_ECX, 5),
	F(CF_AVX512_VBMI2, "avx512_vbmi2", L7, 0, CPU_ECX, 6), F(CF_SHSTK, "shstk", L7, 0, CPU_ECX, 7),
	F(CF_GFNI, "gfni", L7, 0, CPU_ECX, 8), F(CF_VAES, "vaes", L7, 0, CPU_ECX, 9),
	F(CF_VPCLMULQDQ, "vpclmulqdq", L7, 0, CPU_ECX, 10),
	F(CF_AVX512_VNNI, "avx512_vnni", L7, 0, CPU_ECX, 11),
	F(CF_AVX512_BITALG, "avx512_bitalg", L7, 0, CPU_ECX, 12), F(CF_TME, "tme", L7, 0, CPU_ECX, 13),
	F(CF_AVX512_VPOPCNTDQ, "avx512_vpopcntdq", L7, 0, CPU_ECX, 14),
	F(CF_LA57, "la57", L7, 0, CPU_ECX, 16), F(CF_RDPID, "rdpid", L7, 0, CPU_ECX, 22),
	F(CF_BUS_LOCK_DETECT, "bus_lock_detect", L7, 0, CPU_ECX, 24),
	F(CF_CLDEMOTE, "cldemote", L7, 0, CPU_ECX, 25), F(CF_MOVDIRI, "movdiri", L7, 0, CPU_ECX, 27),
	F(CF_MOVDIR64B, "movdir64b", L7, 0, CPU_ECX, 28), F(CF_ENQCMD, "enqcmd", L7, 0, CPU_ECX, 29),
	F(CF_SGX_LC, "sgx_lc", L7, 0, CPU_ECX, 30),

	F(CF_AVX512_4VNNIW, "avx512_4vnniw", L7, 0, CPU_EDX, 2),
	F(CF_AVX512_4FMAPS, "avx512_4fmaps", L7, 0, CPU_EDX, 3), F(CF_FSRM, "fsrm", L7, 0, CPU_EDX, 4),
	F(CF_AVX512_VP2INTERSECT, "avx512_vp2intersect", L7, 0, CPU_EDX, 8),
	F(CF_MD_CLEAR, "md_clear", L7, 0, CPU_EDX, 10), F(CF_SERIALIZE, "serialize", L7, 0, CPU_EDX, 14),
	F(CF_TSXLDTRK, "tsxldtrk", L7, 0, CPU_EDX, 16), F(CF_PCONFIG, "pconfig", L7, 0, CPU_EDX, 18),
	F(CF_ARCH_LBR, "arch_lbr", L7, 0, CPU_EDX, 19), F(CF_IBT, "ibt", L7, 0, CPU_EDX, 20),
	F(CF_AMX_BF16, "amx_bf16", L7, 0, CPU_EDX, 22),
	F(CF_AVX512_FP16, "avx512_fp16", L7, 0, CPU_EDX, 23),
	F(CF_AMX_TILE, "amx_tile", L7, 0, CPU_EDX, 24), F(CF_AMX_INT8, "amx_int8", L7, 0, CPU_EDX, 25),
	F(CF_FLUSH_L1D, "flush_l1d", L7, 0, CPU_EDX, 28),
	F(CF_ARCH_CAPABILITIES, "arch_capabilities", L7, 0, CPU_EDX, 29),

	F(CF_AVX_VNNI, "avx_vnni", L7, 1, CPU_EAX, 4), F(CF_AVX512_BF16, "avx512_bf16", L7, 1, CPU_EAX, 5),
	F(CF_CMPCCXADD, "cmpccxadd", L7, 1, CPU_EAX, 7), F(CF_FZRM, "fzrm", L7, 1, CPU_EAX, 10),
	F(CF_FSRS, "fsrs", L7, 1, CPU_EAX, 11), F(CF_FSRC, "fsrc", L7, 1, CPU_EAX, 12),
	F(CF_FRED, "fred", L7, 1, CPU_EAX, 17), F(CF_LKGS, "lkgs", L7, 1, CPU_EAX, 18),
	F(CF_WRMSRNS, "wrmsrns", L7, 1, CPU_EAX, 19), F(CF_AMX_FP16, "amx_fp16", L7, 1, CPU_EAX, 21),
	F(CF_AVX_IFMA, "avx_ifma", L7, 1, CPU_EAX, 23), F(CF_LAM, "lam", L7, 1, CPU_EAX, 26),

	F(CF_XSAVEOPT, "xsaveopt", LD, 1, CPU_EAX, 0), F(CF_XSAVEC, "xsavec", LD, 1, CPU_EAX, 1),
	F(CF_XGETBV1, "xgetbv1", LD, 1, CPU_EAX, 2), F(CF_XSAVES, "xsaves", LD, 1, CPU_EAX, 3),
	F(CF_XFD, "xfd", LD, 1, CPU_EAX, 4),

	F(CF_SYSCALL, "syscall", LX1, 0, CPU_EDX, 11), F(CF_NX, "nx", LX1, 0, CPU_EDX, 20),
	F(CF_MMXEXT, "mmxext", LX1, 0, CPU_EDX, 22), F(CF_FXSR_OPT, "fxsr_opt", LX1, 0, CPU_EDX, 25),
	F(CF_PDPE1GB, "pdpe1gb", LX1, 0, CPU_EDX, 26), F(CF_RDTSCP, "rdtscp", LX1, 0, CPU_EDX, 27),
	[CF_LM] = { .name = "lm", .leaf = LX1, .reg = CPU_EDX, .bit = 29,
		    .use = CPU_USE_KEEP_ONLY, .why = WHY_LM },
	F(CF_3DNOWEXT, "3dnowext", LX1, 0, CPU_EDX, 30), F(CF_3DNOW, "3dnow", LX1, 0, CPU_EDX, 31),

	F(CF_LAHF_LM, "lahf_lm", LX1, 0, CPU_ECX, 0), F(CF_CMP_LEGACY, "cmp_legacy", LX1, 0, CPU_ECX, 1),
	F(CF_SVM, "svm", LX1, 0, CPU_ECX, 2), F(CF_EXTAPIC, "extapic", LX1, 0, CPU_ECX, 3),
	F(CF_CR8_LEGACY, "cr8_legacy", LX1, 0, CPU_ECX, 4), F(CF_ABM, "abm", LX1, 0, CPU_ECX, 5),
	F(CF_SSE4A, "sse4a", LX1, 0, CPU_ECX, 6), F(CF_MISALIGNSSE, "misalignsse", LX1, 0, CPU_ECX, 7),
	F(CF_3DNOWPREFETCH, "3dnowprefetch", LX1, 0, CPU_ECX, 8), F(CF_OSVW, "osvw", LX1, 0, CPU_ECX, 9),
	F(CF_XOP, "xop", LX1, 0, CPU_ECX, 11), F(CF_FMA4, "fma4", LX1, 0, CPU_ECX, 16),
	F(CF_TBM, "tbm", LX1, 0, CPU_ECX, 21), F(CF_TOPOEXT, "topoext", LX1, 0, CPU_ECX, 22),
	F(CF_PERFCTR_CORE, "perfctr_core", LX1, 0, CPU_ECX, 23), F(CF_MWAITX, "mwaitx", LX1, 0, CPU_ECX, 29),
};

#define D(f, n) { f, n }

const struct cpu_dep cpu_deps[] = {
	/* Linux's cpuid-deps.c */
	D(CF_FXSR, CF_FPU), D(CF_XSAVEOPT, CF_XSAVE), D(CF_XSAVEC, CF_XSAVE),
	D(CF_XSAVES, CF_XSAVE), D(CF_AVX, CF_XSAVE), D(CF_PKU, CF_XSAVE), D(CF_MPX, CF_XSAVE),
	D(CF_XGETBV1, CF_XSAVE), D(CF_CMOV, CF_FXSR), D(CF_MMX, CF_FXSR), D(CF_MMXEXT, CF_MMX),
	D(CF_FXSR_OPT, CF_FXSR), D(CF_XSAVE, CF_FXSR), D(CF_SSE, CF_FXSR), D(CF_SSE2, CF_SSE),
	D(CF_PNI, CF_SSE2), D(CF_SSE4_1, CF_SSE2), D(CF_SSE4_2, CF_SSE2),
	D(CF_PCLMULQDQ, CF_SSE2), D(CF_SSSE3, CF_SSE2), D(CF_F16C, CF_SSE2), D(CF_AES, CF_SSE2),
	D(CF_SHA_NI, CF_SSE2), D(CF_GFNI, CF_SSE2), D(CF_FMA, CF_AVX), D(CF_VAES, CF_AVX),
	D(CF_VPCLMULQDQ, CF_AVX), D(CF_AVX2, CF_AVX), D(CF_AVX512F, CF_AVX),
	D(CF_AVX512IFMA, CF_AVX512F), D(CF_AVX512PF, CF_AVX512F), D(CF_AVX512ER, CF_AVX512F),
	D(CF_AVX512CD, CF_AVX512F), D(CF_AVX512DQ, CF_AVX512F), D(CF_AVX512BW, CF_AVX512F),
	D(CF_AVX512VL, CF_AVX512F), D(CF_AVX512VBMI, CF_AVX512F),
	D(CF_AVX512_VBMI2, CF_AVX512VL), D(CF_AVX512_VNNI, CF_AVX512VL),
	D(CF_AVX512_BITALG, CF_AVX512VL), D(CF_AVX512_4VNNIW, CF_AVX512F),
	D(CF_AVX512_4FMAPS, CF_AVX512F), D(CF_AVX512_VPOPCNTDQ, CF_AVX512F),
	D(CF_AVX512_VP2INTERSECT, CF_AVX512VL), D(CF_AVX512_BF16, CF_AVX512VL),
	D(CF_AVX512_FP16, CF_AVX512BW), D(CF_ENQCMD, CF_XSAVES), D(CF_SGX_LC, CF_SGX),
	D(CF_XFD, CF_XSAVES), D(CF_XFD, CF_XGETBV1), D(CF_AMX_TILE, CF_XFD),
	D(CF_SHSTK, CF_XSAVES), D(CF_FRED, CF_LKGS),
	/* The OS-enable bits of a feature go with it (KVM recomputes them anyway). */
	D(CF_OSXSAVE, CF_XSAVE), D(CF_OSPKE, CF_PKU),
	/*
	 * SDM vol. 1 14.4.1 and 14.5.3: F16C and FMA are detected like AVX and
	 * need it (VEX-encoded, YMM state).
	 */
	D(CF_F16C, CF_AVX),
	/*
	 * SDM vol. 1 14.3 and 13.3: AVX has VEX forms of every SSE..SSE4.2
	 * instruction, and XCR0 cannot enable AVX state without SSE state:
	 * a CPU without SSE2 (or SSE3, SSSE3, SSE4.x) has no AVX.
	 */
	D(CF_AVX, CF_SSE2), D(CF_AVX, CF_PNI), D(CF_AVX, CF_SSSE3), D(CF_AVX, CF_SSE4_1),
	D(CF_AVX, CF_SSE4_2),
	/* VEX-encoded (AVX-VNNI, AVX-IFMA) and XOP/FMA4 (AMD APM vol. 6): YMM state. */
	D(CF_AVX_VNNI, CF_AVX), D(CF_AVX_IFMA, CF_AVX), D(CF_FMA4, CF_AVX), D(CF_XOP, CF_AVX),
	D(CF_SSE4A, CF_SSE2),
	/* SDM vol. 1 ch. 18 (AMX): the AMX instruction sets work on tiles. */
	D(CF_AMX_BF16, CF_AMX_TILE), D(CF_AMX_INT8, CF_AMX_TILE), D(CF_AMX_FP16, CF_AMX_TILE),
};
const size_t cpu_nr_deps = sizeof(cpu_deps) / sizeof(cpu_deps[0]);

#define X(c, sup, nm, ...) { .component = c, .supervisor = sup, .name = nm,                \
			     .owner = { __VA_ARGS__ },                                    \
			     .nr_owners = sizeof((uint16_t[]){ __VA_ARGS__ }) / sizeof(uint16_t) }

const struct cpu_xstate cpu_xstates[] = {
	X(1, false, "sse", CF_SSE),
	X(2, false, "ymm", CF_AVX),
	X(3, false, "bndregs", CF_MPX),
	X(4, false, "bndcsr", CF_MPX),
	X(5, false, "opmask", CF_AVX512F),
	X(6, false, "zmm_hi256", CF_AVX512F),
	X(7, false, "hi16_zmm", CF_AVX512F),
	X(8, true, "pt", CF_INTEL_PT),
	X(9, false, "pkru", CF_PKU),
	X(10, true, "pasid", CF_ENQCMD),
	X(11, true, "cet_u", CF_SHSTK, CF_IBT),
	X(12, true, "cet_s", CF_SHSTK, CF_IBT),
	X(15, true, "lbr", CF_ARCH_LBR),
	X(17, false, "xtilecfg", CF_AMX_TILE),
	X(18, false, "xtiledata", CF_AMX_TILE),
};
const size_t cpu_nr_xstates = sizeof(cpu_xstates) / sizeof(cpu_xstates[0]);

const struct cpu_alias cpu_aliases[] = {
	{ "sse3", CF_PNI },          /* Linux shows SSE3 as pni */
	{ "lzcnt", CF_ABM },         /* ABM is LZCNT (and POPCNT, which has its own bit) */
	{ "gbpages", CF_PDPE1GB },   /* X86_FEATURE_GBPAGES */
};
const size_t cpu_nr_aliases = sizeof(cpu_aliases) / sizeof(cpu_aliases[0]);

int cpu_feature_lookup(const char *name, size_t len)
{
	for (int i = 0; i < CF_NR_FEATURES; i++)
		if (strlen(cpu_features[i].name) == len && !memcmp(cpu_features[i].name, name, len))
			return i;
	for (size_t i = 0; i < cpu_nr_aliases; i++)
		if (strlen(cpu_aliases[i].name) == len && !memcmp(cpu_aliases[i].name, name, len))
			return cpu_aliases[i].feature;
	return -1;
}

const char *cpu_feature_where(const struct cpu_feature *f, char *buf, size_t len)
{
	static const char *const reg[] = { "EAX", "EBX", "ECX", "EDX" };

	snprintf(buf, len, "0x%x.%u %s[%u]", f->leaf, f->subleaf, reg[f->reg & 3], f->bit);
	return buf;
}

void cpu_text_add(struct cpu_text *t, const char *fmt, ...)
{
	size_t room = t->pos < t->len ? t->len - t->pos : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? t->buf + t->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->pos += (size_t)n;
}

static const char cpu_help_head[] =
	"usage: memvmm run --cpu SPEC\n"
	"\n"
	"The guest's CPU features, on top of what this host's KVM offers\n"
	"(KVM_GET_SUPPORTED_CPUID). SPEC is 'host' (the default: KVM's CPUID\n"
	"unchanged) or comma-separated items, optionally after 'host':\n"
	"  -NAME   clear NAME and every feature that needs it (NEEDS below, followed\n"
	"          through: -xsave clears avx, avx2, avx512*, ... and empties leaf 0xd)\n"
	"  +NAME   keep NAME: refused when this host's KVM does not offer it\n"
	"e.g. --cpu -cx16,-xsave. Leaves 1, 7, 0xd (XSAVE components and sizes) and\n"
	"0x80000001 change together; KVM's leaves (0x40000000 up) never do. --debug\n"
	"prints the result. With --restore the snapshot's SPEC is used.\n"
	"\n"
	"NAME                 CPUID                  NEEDS\n";

size_t cpu_model_help(char *buf, size_t len)
{
	struct cpu_text t = { .buf = buf, .len = len };
	char where[32];

	if (len)
		buf[0] = '\0';
	cpu_text_add(&t, "%s", cpu_help_head);
	for (int i = 0; i < CF_NR_FEATURES; i++) {
		const struct cpu_feature *f = &cpu_features[i];
		bool needs = false;

		for (size_t d = 0; d < cpu_nr_deps; d++)
			needs = needs || cpu_deps[d].feature == i;
		cpu_text_add(&t, needs ? "%-20s %-22s" : "%-20s %s", f->name,
			     cpu_feature_where(f, where, sizeof(where)));
		for (size_t d = 0; d < cpu_nr_deps; d++)
			if (cpu_deps[d].feature == i)
				cpu_text_add(&t, " %s", cpu_features[cpu_deps[d].needs].name);
		cpu_text_add(&t, "\n");
		if (f->use == CPU_USE_KEEP_ONLY)
			cpu_text_add(&t, "    -%s is refused: %s\n", f->name, f->why);
		else if (f->use == CPU_USE_NONE)
			cpu_text_add(&t, "    cannot be named: %s\n", f->why);
	}
	cpu_text_add(&t, "\nOther names:");
	for (size_t a = 0; a < cpu_nr_aliases; a++)
		cpu_text_add(&t, "%s %s = %s", a ? "," : "", cpu_aliases[a].name,
			     cpu_features[cpu_aliases[a].feature].name);
	cpu_text_add(&t, ".\nXSAVE components that go when all their features go:\n");
	for (size_t x = 0; x < cpu_nr_xstates; x++) {
		const struct cpu_xstate *xs = &cpu_xstates[x];

		cpu_text_add(&t, "  %2u %-10s %-5s", xs->component, xs->name,
			     xs->supervisor ? "XSS" : "XCR0");
		for (unsigned int o = 0; o < xs->nr_owners; o++)
			cpu_text_add(&t, " %s", cpu_features[xs->owner[o]].name);
		cpu_text_add(&t, "\n");
	}
	cpu_text_add(&t, "-xsaves removes every XSS component; -xsave every component.\n");
	return t.pos;
}
