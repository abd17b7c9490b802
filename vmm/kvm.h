/* SPDX-License-Identifier: MIT */
/* /dev/kvm, capability checks and the VM file descriptor. */
#ifndef MEMVMM_KVM_H
#define MEMVMM_KVM_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/errmsg.h"

#define KVM_DEVICE_PATH "/dev/kvm"
#define KVM_API_VERSION_EXPECTED 12

/* Outside guest RAM (in the MMIO hole), as KVM needs for the real-mode TSS. */
#define KVM_TSS_GPA          0xfffbd000ull
#define KVM_IDENTITY_MAP_GPA 0xfffbc000ull

struct kvm {
	int sys_fd;          /* /dev/kvm */
	int vm_fd;
	size_t run_mmap_size;
	bool user_memory2;   /* KVM_SET_USER_MEMORY_REGION2 available */
	int max_vcpus;
};

/* Open /dev/kvm and check the API version; errors name what is missing. */
int kvm_open(struct kvm *k, struct errmsg *e) __attribute__((warn_unused_result));
/*
 * Check the required capabilities and create the VM with its TSS and
 * identity-map addresses.
 */
int kvm_create_vm(struct kvm *k, struct errmsg *e) __attribute__((warn_unused_result));
/* In-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT; before any vCPU exists. */
int kvm_create_irqchip(struct kvm *k, struct errmsg *e) __attribute__((warn_unused_result));
void kvm_close(struct kvm *k);

/* KVM_CHECK_EXTENSION on fd; negative errno on failure. */
int kvm_check_cap(int fd, long cap) __attribute__((warn_unused_result));

/* Set a legacy interrupt line (KVM_IRQ_LINE). 0 or -errno. */
int kvm_irq_line(int vm_fd, unsigned int irq, int level) __attribute__((warn_unused_result));

#endif /* MEMVMM_KVM_H */
