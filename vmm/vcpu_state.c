// SPDX-License-Identifier: MIT
/* Reading and writing a paused vCPU's and the VM's in-kernel state. */
#include "vmm/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/kvm.h"

#define XSAVE_LEGACY_BYTES 4096u

/* ioctl that returns 0 or -errno. */
static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int kvm_state_caps_init(int sys_fd, int vm_fd, struct kvm_state_caps *caps)
{
	struct kvm_msr_list *list;
	int n;

	memset(caps, 0, sizeof(*caps));
	n = kvm_check_cap(vm_fd, KVM_CAP_XSAVE2);
	if (n >= (int)XSAVE_LEGACY_BYTES) {
		caps->xsave_bytes = (size_t)n;
		caps->xsave2 = true;
	} else if (kvm_check_cap(sys_fd, KVM_CAP_XSAVE) > 0) {
		caps->xsave_bytes = XSAVE_LEGACY_BYTES;
	}
	caps->xcrs = kvm_check_cap(sys_fd, KVM_CAP_XCRS) > 0;
	caps->debugregs = kvm_check_cap(sys_fd, KVM_CAP_DEBUGREGS) > 0;

	list = calloc(1, sizeof(*list) + KVM_STATE_MAX_MSRS * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = KVM_STATE_MAX_MSRS;
	if (ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		n = -errno;
		free(list);
		return n;
	}
	caps->nr_msrs = list->nmsrs < KVM_STATE_MAX_MSRS ? list->nmsrs : KVM_STATE_MAX_MSRS;
	memcpy(caps->msr_index, list->indices, caps->nr_msrs * sizeof(caps->msr_index[0]));
	free(list);
	return 0;
}

/* A kvm_msrs header followed by room for KVM_STATE_MAX_MSRS entries. */
static struct kvm_msrs *msrs_alloc(void)
{
	return calloc(1, sizeof(struct kvm_msrs) +
			 KVM_STATE_MAX_MSRS * sizeof(struct kvm_msr_entry));
}

/*
 * KVM_GET_MSRS reads entries in order and stops at the first it cannot
 * read, returning how many it read: skip that one and go on.
 */
static int get_msrs(int vcpu_fd, const struct kvm_state_caps *caps, struct vcpu_state *st)
{
	struct kvm_msrs *m = msrs_alloc();
	uint32_t next = 0;

	if (!m)
		return -ENOMEM;
	st->nr_msrs = 0;
	while (next < caps->nr_msrs) {
		uint32_t want = caps->nr_msrs - next;
		int got;

		m->nmsrs = want;
		for (uint32_t i = 0; i < want; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = caps->msr_index[next + i] };
		got = ioctl(vcpu_fd, KVM_GET_MSRS, m);
		if (got < 0) {
			got = -errno;
			free(m);
			return got;
		}
		if ((uint32_t)got > want)
			got = (int)want;
		memcpy(&st->msrs[st->nr_msrs], m->entries, (size_t)got * sizeof(m->entries[0]));
		st->nr_msrs += (uint32_t)got;
		next += (uint32_t)got + ((uint32_t)got < want ? 1 : 0);
	}
	free(m);
	return 0;
}

int vcpu_state_get(int vcpu_fd, const struct kvm_state_caps *caps, struct vcpu_state *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	ret = kvm_ioctl(vcpu_fd, KVM_GET_REGS, &st->regs);
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_GET_SREGS, &st->sregs);
	if (ret)
		return ret;
	if (caps->xsave_bytes) {
		st->xsave = calloc(1, caps->xsave_bytes);
		if (!st->xsave)
			return -ENOMEM;
		st->xsave_bytes = caps->xsave_bytes;
		ret = kvm_ioctl(vcpu_fd, caps->xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, st->xsave);
	} else {
		ret = kvm_ioctl(vcpu_fd, KVM_GET_FPU, &st->fpu);
	}
	if (!ret && caps->xcrs) {
		ret = kvm_ioctl(vcpu_fd, KVM_GET_XCRS, &st->xcrs);
		st->have_xcrs = !ret;
	}
	if (!ret && caps->debugregs) {
		ret = kvm_ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &st->debugregs);
		st->have_debugregs = !ret;
	}
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_GET_LAPIC, &st->lapic);
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events);
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_GET_MP_STATE, &st->mp_state);
	if (!ret)
		ret = get_msrs(vcpu_fd, caps, st);
	if (ret)
		vcpu_state_release(st);
	return ret;
}

static int set_msrs(int vcpu_fd, const struct vcpu_state *st, uint32_t *failed_msr)
{
	struct kvm_msrs *m;
	int n;

	if (!st->nr_msrs)
		return 0;
	if (st->nr_msrs > KVM_STATE_MAX_MSRS)
		return -EINVAL;
	m = msrs_alloc();
	if (!m)
		return -ENOMEM;
	m->nmsrs = st->nr_msrs;
	memcpy(m->entries, st->msrs, st->nr_msrs * sizeof(m->entries[0]));
	n = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (n < 0) {
		n = -errno;
	} else if ((uint32_t)n < st->nr_msrs) {
		if (failed_msr)
			*failed_msr = st->msrs[n].index;
		n = -EIO;
	} else {
		n = 0;
	}
	free(m);
	return n;
}

int vcpu_state_set(int vcpu_fd, const struct vcpu_state *st, uint32_t *failed_msr)
{
	struct kvm_vcpu_events events = st->events;
	int ret;

	/* MP state first: setting it can reset parts of the others. */
	ret = kvm_ioctl(vcpu_fd, KVM_SET_MP_STATE, (void *)&st->mp_state);
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_REGS, (void *)&st->regs);
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_SREGS, (void *)&st->sregs);
	if (!ret && st->xsave)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_XSAVE, st->xsave);
	else if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_FPU, (void *)&st->fpu);
	if (!ret && st->have_xcrs)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_XCRS, (void *)&st->xcrs);
	if (!ret && st->have_debugregs)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_DEBUGREGS, (void *)&st->debugregs);
	/* LAPIC before the MSRs: the TSC deadline MSR depends on its timer mode. */
	if (!ret)
		ret = kvm_ioctl(vcpu_fd, KVM_SET_LAPIC, (void *)&st->lapic);
	if (!ret)
		ret = set_msrs(vcpu_fd, st, failed_msr);
	if (ret)
		return ret;
	/*
	 * GET leaves the NMI-pending and SIPI-vector flags clear although it
	 * fills those fields: ask SET to take them too, as QEMU does.
	 */
	events.flags = (st->events.flags & KVM_VCPUEVENT_VALID_PAYLOAD) |
		       KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		       KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	return kvm_ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &events);
}

void vcpu_state_release(struct vcpu_state *st)
{
	free(st->xsave);
	st->xsave = NULL;
	st->xsave_bytes = 0;
}

int vm_irq_state_get(int vm_fd, struct vm_irq_state *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	ret = kvm_ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_master);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_slave);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_GET_IRQCHIP, &st->ioapic);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_GET_PIT2, &st->pit);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_GET_CLOCK, &st->clock);
	return ret;
}

int vm_irq_state_set(int vm_fd, const struct vm_irq_state *st)
{
	struct kvm_clock_data clock = { .clock = st->clock.clock };
	int ret;

	if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return -EINVAL;
	ret = kvm_ioctl(vm_fd, KVM_SET_IRQCHIP, (void *)&st->pic_master);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_SET_IRQCHIP, (void *)&st->pic_slave);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_SET_IRQCHIP, (void *)&st->ioapic);
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_SET_PIT2, (void *)&st->pit);
	/* The clock value alone: KVM_CLOCK_REALTIME would add the time since it was read. */
	if (!ret)
		ret = kvm_ioctl(vm_fd, KVM_SET_CLOCK, &clock);
	return ret;
}
