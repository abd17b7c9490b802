// SPDX-License-Identifier: MIT
/* /dev/kvm and the VM: version and capability checks, irqchip, PIT. */
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "mem/kvm_compat.h"

/* What every memvmm VM needs from KVM; the run fails naming the first missing. */
static const struct {
	long cap;
	const char *name;
} kvm_required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

int kvm_check_cap(int fd, long cap)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? -errno : ret;
}

int kvm_open(struct kvm *k, struct errmsg *e)
{
	int ret, version;

	memset(k, 0, sizeof(*k));
	k->vm_fd = -1;
	k->sys_fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "cannot open %s: %s%s", KVM_DEVICE_PATH,
				  strerror(-ret),
				  ret == -ENOENT ? " (is the kvm module loaded?)" :
				  ret == -EACCES ? " (are you in the kvm group?)" : "");
	}
	version = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION_EXPECTED) {
		ret = version < 0 ? -errno : -EPROTO;
		close(k->sys_fd);
		k->sys_fd = -1;
		return errmsg_set(e, ret, "KVM API version is %d, memvmm needs %d",
				  version, KVM_API_VERSION_EXPECTED);
	}
	return 0;
}

int kvm_create_vm(struct kvm *k, struct errmsg *e)
{
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
		if (kvm_check_cap(k->sys_fd, kvm_required_caps[i].cap) <= 0)
			return errmsg_set(e, -EOPNOTSUPP, "KVM lacks %s, which memvmm needs",
					  kvm_required_caps[i].name);
	}
	ret = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0)
		return errmsg_set(e, ret < 0 ? -errno : -EPROTO, "KVM_GET_VCPU_MMAP_SIZE failed");
	k->run_mmap_size = (size_t)ret;
	k->user_memory2 = kvm_check_cap(k->sys_fd, KVM_CAP_USER_MEMORY2) > 0;
	ret = kvm_check_cap(k->sys_fd, KVM_CAP_MAX_VCPUS);
	k->max_vcpus = ret > 0 ? ret : 1;

	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, KVM_X86_DEFAULT_VM);
	if (k->vm_fd < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "KVM_CREATE_VM failed: %s", strerror(-ret));
	}
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_GPA) < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "KVM_SET_TSS_ADDR failed: %s", strerror(-ret));
	}
	{
		__u64 ident = KVM_IDENTITY_MAP_GPA;

		/* Only needed (and only offered) by Intel's real-mode support. */
		if (kvm_check_cap(k->sys_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
		    ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0) {
			ret = -errno;
			return errmsg_set(e, ret, "KVM_SET_IDENTITY_MAP_ADDR failed: %s",
					  strerror(-ret));
		}
	}
	return 0;
}

int kvm_create_irqchip(struct kvm *k, struct errmsg *e)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int ret;

	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "KVM_CREATE_IRQCHIP failed: %s", strerror(-ret));
	}
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "KVM_CREATE_PIT2 failed: %s", strerror(-ret));
	}
	return 0;
}

void kvm_close(struct kvm *k)
{
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	k->vm_fd = k->sys_fd = -1;
}

int kvm_irq_line(int vm_fd, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	return ioctl(vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}
