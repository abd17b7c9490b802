// SPDX-License-Identifier: MIT
/*
 * guest_memfd backend: KVM's own memory file (KVM_CREATE_GUEST_MEMFD on the
 * VM fd), created with MMAP | INIT_SHARED so that the VMM can map it
 * MAP_SHARED and read and write guest RAM like any other memory. The memslot
 * names the file (KVM_MEM_GUEST_MEMFD), so guest faults are served from it.
 *
 * Discard punches a hole (the only fallocate modes guest_memfd takes are
 * KEEP_SIZE and KEEP_SIZE | PUNCH_HOLE). Residency must be measured with
 * mincore() on the shared mapping: st_blocks stays 0 for guest_memfd, and RSS
 * only counts pages the VMM itself has mapped.
 */
#include "mem/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/kvm_compat.h"

#define GMEM_FLAGS (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

/* KVM_CHECK_EXTENSION on the VM fd; 0 with *val set, or -EOPNOTSUPP and why. */
static int gmem_check_cap(int vm_fd, unsigned long cap, const char *name,
			  int *val, char *why, size_t whylen)
{
	int ret = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	if (ret < 0) {
		snprintf(why, whylen, "KVM_CHECK_EXTENSION(%s) failed: %s",
			 name, strerror(errno));
		return -EOPNOTSUPP;
	}
	*val = ret;
	return 0;
}

static int gmem_supported(int vm_fd, char *why, size_t whylen)
{
	int val, ret;

	ret = gmem_check_cap(vm_fd, KVM_CAP_USER_MEMORY2, "KVM_CAP_USER_MEMORY2",
			     &val, why, whylen);
	if (ret)
		return ret;
	if (!val) {
		snprintf(why, whylen, "KVM_CAP_USER_MEMORY2 is 0 (kernel before 6.8?)");
		return -EOPNOTSUPP;
	}
	ret = gmem_check_cap(vm_fd, KVM_CAP_GUEST_MEMFD, "KVM_CAP_GUEST_MEMFD",
			     &val, why, whylen);
	if (ret)
		return ret;
	if (!val) {
		snprintf(why, whylen, "KVM_CAP_GUEST_MEMFD is 0 (kernel before 6.8?)");
		return -EOPNOTSUPP;
	}
	ret = gmem_check_cap(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS,
			     "KVM_CAP_GUEST_MEMFD_FLAGS", &val, why, whylen);
	if (ret)
		return ret;
	if ((val & GMEM_FLAGS) != GMEM_FLAGS) {
		snprintf(why, whylen, "KVM_CAP_GUEST_MEMFD_FLAGS is %#x, lacks %s%s%s",
			 (unsigned)val,
			 val & GUEST_MEMFD_FLAG_MMAP ? "" : "MMAP",
			 !(val & GMEM_FLAGS) ? " and " : "",
			 val & GUEST_MEMFD_FLAG_INIT_SHARED ? "" : "INIT_SHARED");
		return -EOPNOTSUPP;
	}
	if (why && whylen)
		why[0] = '\0';
	return 0;
}

static int gmem_create(struct mem_region *r, int vm_fd)
{
	struct kvm_create_guest_memfd args = {
		.size = r->size,
		.flags = GMEM_FLAGS,
	};
	int fd, ret;

	fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &args);
	if (fd < 0)
		return -errno;
	/* KVM hands the fd out without O_CLOEXEC. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return mem_region_adopt_fd(r, fd);
}

/* populate=auto, fastest first (README's decision table, bench/RESULTS.md). */
static const enum mem_populate_strategy gmem_populate_order[] = {
	MEM_POPULATE_WRITE, MEM_POPULATE_MADVISE, MEM_POPULATE_FALLOCATE, MEM_POPULATE_NONE,
};

const struct mem_backend_ops mem_backend_guest_memfd = {
	.name = "guest_memfd",
	.align = MEM_PAGE_BYTES,
	.slot_flags = KVM_MEM_GUEST_MEMFD,
	.supported = gmem_supported,
	.create = gmem_create,
	.destroy = mem_region_release,
	.discard = mem_region_punch_hole,
	.resident = mem_region_fd_resident,
	.populate_order = gmem_populate_order,
	.populate_order_len = MEM_ARRAY_LEN(gmem_populate_order),
	.memcg_charged = true,
	.no_pageout = "guest_memfd pages are unevictable on this kernel (the file's mapping is "
		      "marked unevictable): MADV_PAGEOUT reclaims nothing",
	.thp = MEM_THP_KIND_NONE,
};
