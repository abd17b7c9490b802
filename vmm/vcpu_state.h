/* SPDX-License-Identifier: MIT */
/*
 * The whole architectural state of a vCPU and of the VM's in-kernel devices,
 * read and written while the VM is paused (vm_pause()). The snapshot work
 * saves exactly this.
 *
 * vCPU: regs, sregs, FPU or XSAVE (KVM_GET_XSAVE2's size where offered),
 * XCRs, debug registers, the MSRs KVM lists for save/restore
 * (KVM_GET_MSR_INDEX_LIST, less those this vCPU refuses to read), LAPIC,
 * vCPU events, MP state. VM: PIC master and slave, IOAPIC, PIT, kvmclock.
 */
#ifndef MEMVMM_VCPU_STATE_H
#define MEMVMM_VCPU_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/kvm_compat.h"

#define KVM_STATE_MAX_MSRS 1024u

/* What the host offers, found once per VM (kvm_state_caps_init()). */
struct kvm_state_caps {
	size_t xsave_bytes;      /* 0: no XSAVE, use KVM_GET_FPU */
	bool xsave2;             /* KVM_GET_XSAVE2 (else KVM_GET_XSAVE) */
	bool xcrs;
	bool debugregs;
	uint32_t nr_msrs;
	uint32_t msr_index[KVM_STATE_MAX_MSRS];
};

int kvm_state_caps_init(int sys_fd, int vm_fd, struct kvm_state_caps *caps)
	__attribute__((warn_unused_result));

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;                 /* when caps->xsave_bytes == 0 */
	struct kvm_xsave *xsave;            /* caps->xsave_bytes bytes, else NULL */
	size_t xsave_bytes;
	bool have_xcrs;
	struct kvm_xcrs xcrs;
	bool have_debugregs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[KVM_STATE_MAX_MSRS];
};

/*
 * Read everything; st->xsave is allocated (vcpu_state_release() frees it).
 * MSRs the vCPU refuses to read are left out. 0 or -errno.
 */
int vcpu_state_get(int vcpu_fd, const struct kvm_state_caps *caps, struct vcpu_state *st)
	__attribute__((warn_unused_result));
/*
 * Write everything back in the order KVM needs (MP state, regs, sregs,
 * FPU/XSAVE, XCRs, debug registers, LAPIC, MSRs, events). -EIO when KVM took
 * fewer MSRs than given; *failed_msr (may be NULL) then names the first.
 */
int vcpu_state_set(int vcpu_fd, const struct vcpu_state *st, uint32_t *failed_msr)
	__attribute__((warn_unused_result));
void vcpu_state_release(struct vcpu_state *st);

struct vm_irq_state {
	struct kvm_irqchip pic_master;
	struct kvm_irqchip pic_slave;
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

int vm_irq_state_get(int vm_fd, struct vm_irq_state *st) __attribute__((warn_unused_result));
int vm_irq_state_set(int vm_fd, const struct vm_irq_state *st)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_VCPU_STATE_H */
