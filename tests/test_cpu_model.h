/* SPDX-License-Identifier: MIT */
/* What tests/test_cpu_model*.c share. */
#ifndef MEMVMM_TEST_CPU_MODEL_H
#define MEMVMM_TEST_CPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "vmm/cpu_model.h"

#define ERR_BYTES  256
#define TEXT_BYTES (16u << 10)

/* A register with the listed bits set: BITS(0, 13, 26). */
uint32_t cpu_test_bits(const int *b, size_t n);
#define BITS(...) cpu_test_bits((const int[]){ __VA_ARGS__ }, \
				sizeof((int[]){ __VA_ARGS__ }) / sizeof(int))

/* cpu_model_parse(), asserted. */
void cpu_test_parse_ok(const char *spec, struct cpu_model *m);
/* m clears the feature called name (asserted to exist). */
bool cpu_test_clears(const struct cpu_model *m, const char *name);
/* Leaf fn.idx of c, asserted to be there. */
struct kvm_cpuid_entry2 *cpu_test_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx);
#define LEAF(c, fn, idx) cpu_test_entry((c), (fn), (idx))

/* tests/test_cpu_model_run.c */
void cpu_test_run_snapshot(const void *arg);
void cpu_test_run_kvm(const void *arg);
void cpu_test_run_cli(const void *arg);
void cpu_test_run_memvmm_kvm(const void *arg);

#endif /* MEMVMM_TEST_CPU_MODEL_H */
