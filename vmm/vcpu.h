/* SPDX-License-Identifier: MIT */
/* vCPUs: creation, CPUID, the PVH entry state, and the run loop. */
#ifndef MEMVMM_VCPU_H
#define MEMVMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "devices/device.h"
#include "vmm/errmsg.h"

struct kvm;

struct runstate;

/* Give up on KVM_RUN after this many EAGAIN in a row (a pids cgroup at its limit). */
#define VCPU_RUN_EAGAIN_MAX   100u
#define VCPU_RUN_EAGAIN_SLEEP_MS 10u
#define VCPU_FAILURE_DATA_WORDS 16u

/*
 * Why a vCPU stopped the VM, as data: main.c prints it. The registers are
 * read right after the failing exit.
 */
struct vcpu_failure {
	unsigned int vcpu;
	enum vm_stop_reason reason;
	int status;
	char what[200];                 /* "guest shut down (triple fault)", ... */
	bool have_regs;
	struct kvm_regs regs;
	bool have_sregs;
	struct kvm_sregs sregs;
	bool internal;                  /* KVM_EXIT_INTERNAL_ERROR details below */
	uint32_t suberror;
	uint32_t ndata;
	uint64_t data[VCPU_FAILURE_DATA_WORDS];
};

/* What the run loop needs from the VM; filled by vm.c. */
struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	struct runstate *rs;
	void (*request_stop)(void *opaque, enum vm_stop_reason reason, int status);
	/* A vCPU failed: record f (copy it) and stop the VM. */
	void (*fail)(void *opaque, const struct vcpu_failure *f);
	void *opaque;
	/* Called once by vCPU 0 right before its first KVM_RUN. */
	void (*first_run)(void *opaque);
};

struct vcpu {
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	const struct vcpu_env *env;
};

/*
 * KVM_GET_SUPPORTED_CPUID plus memvmm's timing leaf (TSC kHz at 0x40000010).
 * The caller frees *out.
 */
int vcpu_supported_cpuid(int sys_fd, struct kvm_cpuid2 **out)
	__attribute__((warn_unused_result));

int vcpu_create(struct vcpu *v, const struct kvm *k, unsigned int id,
		const struct kvm_cpuid2 *cpuid, const struct vcpu_env *env,
		struct errmsg *e) __attribute__((warn_unused_result));
/* Registers for the PVH 32-bit entry: flat segments, paging off, %ebx = start info. */
int vcpu_setup_pvh(struct vcpu *v, uint32_t entry, uint32_t start_info,
		   struct errmsg *e) __attribute__((warn_unused_result));
/*
 * Registers for Linux's 64-bit boot protocol: long mode with paging (CR3 =
 * pml4_gpa, an identity map), CS = __BOOT_CS (64-bit code) and the data
 * segments __BOOT_DS from the GDT vmm/linux_boot.c writes, interrupts off,
 * %rsi = the zero page, %rip = entry.
 */
int vcpu_setup_linux64(struct vcpu *v, uint64_t entry, uint64_t boot_params_gpa,
		       uint64_t pml4_gpa, struct errmsg *e) __attribute__((warn_unused_result));
int vcpu_start(struct vcpu *v) __attribute__((warn_unused_result));
/*
 * Make a running vCPU leave KVM_RUN: set immediate_exit (a vCPU about to
 * enter returns at once) and signal its thread (one inside leaves).
 * vcpu_unkick() clears immediate_exit again; runstate calls both.
 */
void vcpu_kick(struct vcpu *v);
void vcpu_unkick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Install the (empty) kick signal handler; once per process. */
int vcpu_init_signals(void) __attribute__((warn_unused_result));

#endif /* MEMVMM_VCPU_H */
