/* SPDX-License-Identifier: MIT */
/* vCPUs: creation, CPUID, the PVH entry state, and the run loop. */
#ifndef MEMVMM_VCPU_H
#define MEMVMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "vmm/errmsg.h"

struct kvm;
struct kvm_run;
struct kvm_cpuid2;

/* What the run loop needs from the VM; filled by vm.c. */
struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	atomic_bool *stopping;
	void (*request_stop)(void *opaque, enum vm_stop_reason reason, int status);
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
int vcpu_start(struct vcpu *v) __attribute__((warn_unused_result));
/* Make a running vCPU leave KVM_RUN (after *env->stopping was set). */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Install the (empty) kick signal handler; once per process. */
int vcpu_init_signals(void) __attribute__((warn_unused_result));

#endif /* MEMVMM_VCPU_H */
