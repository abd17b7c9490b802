/* SPDX-License-Identifier: MIT */
/*
 * The facts under the CPU model (vmm/cpu_model.h): which CPUID bit each
 * feature name is, which features need which, and which XSAVE state
 * components belong to which features. Data only; vmm/cpu_features.c says
 * where each fact comes from.
 */
#ifndef MEMVMM_CPU_FEATURES_H
#define MEMVMM_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cpu_reg { CPU_EAX, CPU_EBX, CPU_ECX, CPU_EDX };

/* Every feature the model knows, in table order (leaf by leaf, bit by bit). */
enum cpu_feature_id {
	/* leaf 1 EDX */
	CF_FPU, CF_VME, CF_DE, CF_PSE, CF_TSC, CF_MSR, CF_PAE, CF_MCE, CF_CX8, CF_APIC,
	CF_SEP, CF_MTRR, CF_PGE, CF_MCA, CF_CMOV, CF_PAT, CF_PSE36, CF_CLFLUSH, CF_MMX,
	CF_FXSR, CF_SSE, CF_SSE2, CF_SS, CF_HT,
	/* leaf 1 ECX */
	CF_PNI, CF_PCLMULQDQ, CF_MONITOR, CF_VMX, CF_SSSE3, CF_FMA, CF_CX16, CF_XTPR, CF_PDCM,
	CF_PCID, CF_SSE4_1, CF_SSE4_2, CF_X2APIC, CF_MOVBE, CF_POPCNT, CF_TSC_DEADLINE_TIMER,
	CF_AES, CF_XSAVE, CF_OSXSAVE, CF_AVX, CF_F16C, CF_RDRAND, CF_HYPERVISOR,
	/* leaf 7 subleaf 0 EBX */
	CF_FSGSBASE, CF_TSC_ADJUST, CF_SGX, CF_BMI1, CF_HLE, CF_AVX2, CF_SMEP, CF_BMI2, CF_ERMS,
	CF_INVPCID, CF_RTM, CF_MPX, CF_AVX512F, CF_AVX512DQ, CF_RDSEED, CF_ADX, CF_SMAP,
	CF_AVX512IFMA, CF_CLFLUSHOPT, CF_CLWB, CF_INTEL_PT, CF_AVX512PF, CF_AVX512ER,
	CF_AVX512CD, CF_SHA_NI, CF_AVX512BW, CF_AVX512VL,
	/* leaf 7 subleaf 0 ECX */
	CF_AVX512VBMI, CF_UMIP, CF_PKU, CF_OSPKE, CF_WAITPKG, CF_AVX512_VBMI2, CF_SHSTK, CF_GFNI,
	CF_VAES, CF_VPCLMULQDQ, CF_AVX512_VNNI, CF_AVX512_BITALG, CF_TME, CF_AVX512_VPOPCNTDQ,
	CF_LA57, CF_RDPID, CF_BUS_LOCK_DETECT, CF_CLDEMOTE, CF_MOVDIRI, CF_MOVDIR64B, CF_ENQCMD,
	CF_SGX_LC,
	/* leaf 7 subleaf 0 EDX */
	CF_AVX512_4VNNIW, CF_AVX512_4FMAPS, CF_FSRM, CF_AVX512_VP2INTERSECT, CF_MD_CLEAR,
	CF_SERIALIZE, CF_TSXLDTRK, CF_PCONFIG, CF_ARCH_LBR, CF_IBT, CF_AMX_BF16, CF_AVX512_FP16,
	CF_AMX_TILE, CF_AMX_INT8, CF_FLUSH_L1D, CF_ARCH_CAPABILITIES,
	/* leaf 7 subleaf 1 EAX */
	CF_AVX_VNNI, CF_AVX512_BF16, CF_CMPCCXADD, CF_FZRM, CF_FSRS, CF_FSRC, CF_FRED, CF_LKGS,
	CF_WRMSRNS, CF_AMX_FP16, CF_AVX_IFMA, CF_LAM,
	/* leaf 0xd subleaf 1 EAX */
	CF_XSAVEOPT, CF_XSAVEC, CF_XGETBV1, CF_XSAVES, CF_XFD,
	/* leaf 0x80000001 EDX */
	CF_SYSCALL, CF_NX, CF_MMXEXT, CF_FXSR_OPT, CF_PDPE1GB, CF_RDTSCP, CF_LM, CF_3DNOWEXT,
	CF_3DNOW,
	/* leaf 0x80000001 ECX */
	CF_LAHF_LM, CF_CMP_LEGACY, CF_SVM, CF_EXTAPIC, CF_CR8_LEGACY, CF_ABM, CF_SSE4A,
	CF_MISALIGNSSE, CF_3DNOWPREFETCH, CF_OSVW, CF_XOP, CF_FMA4, CF_TBM, CF_TOPOEXT,
	CF_PERFCTR_CORE, CF_MWAITX,
	CF_NR_FEATURES,
};

/* How a name may be used in a SPEC. */
enum cpu_feature_use {
	CPU_USE_FREE,       /* +NAME and -NAME */
	CPU_USE_KEEP_ONLY,  /* memvmm needs it: -NAME is refused (why says why) */
	CPU_USE_NONE,       /* KVM sets the bit itself at run time: both refused */
};

struct cpu_feature {
	const char *name;           /* Linux's /proc/cpuinfo flag (or X86_FEATURE_ name) */
	uint32_t leaf;
	uint8_t subleaf;
	uint8_t reg;                /* enum cpu_reg */
	uint8_t bit;
	uint8_t use;                /* enum cpu_feature_use */
	/* AMD mirrors this leaf-1 EDX bit at the same place in 0x80000001 EDX. */
	bool amd_mirror;
	const char *why;            /* for CPU_USE_KEEP_ONLY and CPU_USE_NONE */
};

/* feature needs needs: clearing needs clears feature. */
struct cpu_dep {
	uint16_t feature;
	uint16_t needs;
};

#define CPU_XSTATE_MAX_OWNERS 2

/* An XSAVE state component (leaf 0xd subleaf component) and its features. */
struct cpu_xstate {
	uint8_t component;          /* 1..63: its bit in XCR0 or IA32_XSS */
	bool supervisor;            /* IA32_XSS (leaf 0xd.1 ECX/EDX), not XCR0 */
	const char *name;
	/* It goes when a SPEC clears one of these and none of them is left. */
	uint16_t owner[CPU_XSTATE_MAX_OWNERS];
	uint8_t nr_owners;
};

/* Another name for a feature ("sse3" for pni). */
struct cpu_alias {
	const char *name;
	uint16_t feature;
};

extern const struct cpu_feature cpu_features[CF_NR_FEATURES];
extern const struct cpu_dep cpu_deps[];
extern const size_t cpu_nr_deps;
extern const struct cpu_xstate cpu_xstates[];
extern const size_t cpu_nr_xstates;
extern const struct cpu_alias cpu_aliases[];
extern const size_t cpu_nr_aliases;

/* A name or alias (exact, lower case) as its id; -1 when unknown. */
int cpu_feature_lookup(const char *name, size_t len);

/* "0x7.0 EBX[5]" for a feature (buf of at least 32 bytes). */
const char *cpu_feature_where(const struct cpu_feature *f, char *buf, size_t len);

/* Text built piece by piece, snprintf-like: pos counts what did not fit too. */
struct cpu_text {
	char *buf;
	size_t len;
	size_t pos;
};

void cpu_text_add(struct cpu_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* MEMVMM_CPU_FEATURES_H */
