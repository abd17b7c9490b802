/* SPDX-License-Identifier: MIT */
/*
 * The CPU model: `memvmm run --cpu SPEC`, feature masks on top of what KVM
 * offers (KVM_GET_SUPPORTED_CPUID, the template every vCPU's CPUID is made
 * from).
 *
 * SPEC is "host" (the default: KVM's CPUID unchanged) or comma-separated
 * items, optionally after a leading "host":
 *   -NAME  clear NAME and every feature that needs it (vmm/cpu_features.c:
 *          -xsave also clears avx, avx2, fma, avx512*, xsaveopt, ... and
 *          empties leaf 0xd; -cx16 clears only cx16)
 *   +NAME  keep NAME: refused when this host's KVM does not offer it, or
 *          when a -NAME of the same SPEC clears it
 * NAME is Linux's /proc/cpuinfo flag (`memvmm run --cpu help` lists them).
 * -lm is refused (memvmm's guests run in 64-bit mode); apic, osxsave and
 * ospke are set by KVM itself at run time and cannot be named.
 *
 * Applied to every leaf that reports a feature or its state: 1 (ECX, EDX),
 * 7.0 (EBX, ECX, EDX), 7.1 (EAX), 0xd (XCR0 and IA32_XSS components, their
 * subleaves, the XSAVE area sizes), 0x80000001 (ECX, EDX, and on AMD the
 * copies of leaf 1 EDX bits there). KVM's own leaves (0x40000000 up) are
 * never touched.
 *
 * Parsing and applying are pure (no KVM, no printing): they work on any
 * struct kvm_cpuid2, which the unit tests build by hand.
 */
#ifndef MEMVMM_CPU_MODEL_H
#define MEMVMM_CPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

#define CPU_MODEL_SPEC_BYTES 256   /* the longest SPEC, NUL included */
#define CPU_MODEL_WORDS      4     /* uint64_t words of a feature bitmap */
/* cpu_model_help()'s text fits in this, and cpu_model_describe()'s in the other. */
#define CPU_MODEL_HELP_BYTES (16u << 10)
#define CPU_MODEL_TEXT_BYTES (8u << 10)

/* A parsed SPEC: plain data, copyable. All zero is "host". */
struct cpu_model {
	/* Bitmaps over enum cpu_feature_id (vmm/cpu_features.h). */
	uint64_t clear[CPU_MODEL_WORDS];   /* the -NAMEs and what needs them */
	uint64_t named[CPU_MODEL_WORDS];   /* the -NAMEs themselves */
	uint64_t keep[CPU_MODEL_WORDS];    /* the +NAMEs */
	char spec[CPU_MODEL_SPEC_BYTES];   /* as given ("" for the default) */
};

/*
 * SPEC into *out (zeroed first). 0, or -EINVAL with err naming the bad item
 * and saying where to see the valid names: an empty SPEC or item, an item
 * without + or -, an unknown name, a name given twice, -lm, a name KVM sets
 * itself, +NAME cleared by a -NAME, SPEC too long. NULL or "" is "host".
 */
int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The model changes nothing ("host", "" or all zero). */
bool cpu_model_is_host(const struct cpu_model *m);

/*
 * Apply m to a CPUID template in place. 0, or -EINVAL with err naming the
 * +NAME this template (this host's KVM) lacks; then cpuid is unchanged.
 */
int cpu_model_apply(const struct cpu_model *m, struct kvm_cpuid2 *cpuid, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * For --debug: the SPEC; per leaf the resulting registers of cpuid and the
 * features the SPEC turned off there (host: the template before, to tell
 * them from those it never had; may be NULL); the XSAVE components left.
 * Like snprintf: returns the length of the whole text, writes at most len
 * bytes (NUL included) into buf.
 */
size_t cpu_model_describe(const struct cpu_model *m, const struct kvm_cpuid2 *host,
			  const struct kvm_cpuid2 *cpuid, char *buf, size_t len);

/* The text of `memvmm run --cpu help`: the syntax and every name (like describe). */
size_t cpu_model_help(char *buf, size_t len);

/*
 * For --debug on a running VM: KVM_GET_SUPPORTED_CPUID on sys_fd and
 * KVM_GET_CPUID2 on vcpu_fd (what the vCPU got), described. 0 or -errno.
 */
int cpu_model_vcpu_text(int sys_fd, int vcpu_fd, const struct cpu_model *m, char *buf,
			size_t len) __attribute__((warn_unused_result));

#endif /* MEMVMM_CPU_MODEL_H */
