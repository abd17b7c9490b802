// SPDX-License-Identifier: MIT
/*
 * cpu_model_vcpu_text() (vmm/cpu_model.h): what a vCPU got, read back from
 * KVM. Apart from vmm/cpu_model.c so that the pure part links without the
 * vCPU code.
 */
#include "vmm/cpu_model.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmm/vcpu.h"

#define CPU_GET_CPUID_MAX_ENTRIES 4096u

int cpu_model_vcpu_text(int sys_fd, int vcpu_fd, const struct cpu_model *m, char *buf,
			size_t len)
{
	struct kvm_cpuid2 *host = NULL, *cur = NULL;
	uint32_t room;
	int ret;

	ret = vcpu_supported_cpuid(sys_fd, &host);
	if (ret)
		return ret;
	for (room = host->nent + 8; ; room *= 2) {
		cur = calloc(1, sizeof(*cur) + room * sizeof(cur->entries[0]));
		if (!cur) {
			ret = -ENOMEM;
			goto out;
		}
		cur->nent = room;
		if (ioctl(vcpu_fd, KVM_GET_CPUID2, cur) == 0)
			break;
		ret = -errno;
		free(cur);
		cur = NULL;
		if (ret != -E2BIG || room >= CPU_GET_CPUID_MAX_ENTRIES)
			goto out;
	}
	cpu_model_describe(m, host, cur, buf, len);
	ret = 0;
out:
	free(cur);
	free(host);
	return ret;
}
