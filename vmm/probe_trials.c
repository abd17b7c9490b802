// SPDX-License-Identifier: MIT
/*
 * `memvmm probe` trials: what a capability bit cannot tell is found by trying
 * it on scratch objects (a VM, a memslot, a vCPU, a small mapping, a
 * userfaultfd), each released before its trial returns. A trial's helpers
 * return 0 or -errno; the trial turns that into one row.
 */
#include "vmm/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "mem/pageout.h"
#include "mem/populate.h"
#include "mem/thp.h"
#include "vmm/kvm.h"

#define WUR __attribute__((warn_unused_result))

#define SCRATCH_SLOT_BYTES   (2ull << 20)  /* anon memslot / guest_memfd of the trials */
#define GMEM_WRITE_RAM_BYTES (4ull << 20)  /* the smallest RAM mem_create() takes */
#define SCRATCH_GMEM_FLAGS   (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)
/* A THP trial's 2 MiB, a 2 MiB-aligned start inside, and a page either side of it. */
#define UFFDIO_MOVE_IOCTL    (1ull << _IOC_NR(UFFDIO_MOVE))
#define SLOT_STEP            "KVM_SET_USER_MEMORY_REGION"  /* ...and REGION2 */

/* Scratch objects. */

static WUR int scratch_vm_create(int sys_fd, int *vm_fd)
{
	int fd = ioctl(sys_fd, KVM_CREATE_VM, KVM_X86_DEFAULT_VM);

	if (fd < 0)
		return -errno;
	*vm_fd = fd;
	return 0;
}

static WUR int scratch_gmem_create(int vm_fd, uint64_t flags, int *gmem_fd)
{
	struct kvm_create_guest_memfd args = { .size = SCRATCH_SLOT_BYTES, .flags = flags };
	int fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &args);

	if (fd < 0)
		return -errno;
	*gmem_fd = fd;
	return 0;
}

static WUR int scratch_map(int fd, size_t size, void **hva)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*hva = p;
	return 0;
}

/* Slot 0 at GPA 0 over SCRATCH_SLOT_BYTES at hva; gmem_fd < 0: no guest_memfd. */
static WUR int scratch_slot_set(int vm_fd, uint32_t flags, void *hva, int gmem_fd)
{
	struct kvm_userspace_memory_region2 m2 = {
		.flags = flags | (gmem_fd >= 0 ? KVM_MEM_GUEST_MEMFD : 0),
		.memory_size = SCRATCH_SLOT_BYTES,
		.userspace_addr = (uintptr_t)hva,
		.guest_memfd = gmem_fd >= 0 ? (uint32_t)gmem_fd : 0,
	};
	struct kvm_userspace_memory_region m = {
		.flags = flags,
		.memory_size = SCRATCH_SLOT_BYTES,
		.userspace_addr = (uintptr_t)hva,
	};
	int ret = gmem_fd >= 0 ? ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &m2) :
				 ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m);

	return ret < 0 ? -errno : 0;
}

/* A scratch VM with SCRATCH_SLOT_BYTES mapped: a guest_memfd's, or anonymous. */
struct scratch_mem {
	int vm_fd;
	int gmem_fd;    /* -1: anonymous memory */
	void *hva;
};

static void scratch_mem_close(struct scratch_mem *m)
{
	if (m->hva)
		munmap(m->hva, SCRATCH_SLOT_BYTES);
	if (m->gmem_fd >= 0)
		close(m->gmem_fd);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	*m = (struct scratch_mem){ .vm_fd = -1, .gmem_fd = -1 };
}

/* *step names what failed. gmem: an MMAP|INIT_SHARED guest_memfd, mapped shared. */
static WUR int scratch_mem_open(int sys_fd, bool gmem, struct scratch_mem *m,
				const char **step)
{
	int ret;

	*m = (struct scratch_mem){ .vm_fd = -1, .gmem_fd = -1 };
	*step = "KVM_CREATE_VM";
	ret = scratch_vm_create(sys_fd, &m->vm_fd);
	if (!ret && gmem) {
		*step = "KVM_CREATE_GUEST_MEMFD(MMAP|INIT_SHARED)";
		ret = scratch_gmem_create(m->vm_fd, SCRATCH_GMEM_FLAGS, &m->gmem_fd);
	}
	if (!ret) {
		*step = "mmap";
		ret = scratch_map(m->gmem_fd, SCRATCH_SLOT_BYTES, &m->hva);
	}
	if (ret)
		scratch_mem_close(m);
	return ret;
}

/* guest_memfd and its flags: in KVM_CAP_GUEST_MEMFD_FLAGS, and creatable. */

static void trial_guest_memfd(struct probe_report *r, int sys_fd)
{
	static const struct {
		const char *feature, *trial_name;
		uint64_t bit, trial_flags;
	} flags[] = {
		{ "GUEST_MEMFD_FLAG_MMAP", "KVM_CREATE_GUEST_MEMFD(MMAP)", GUEST_MEMFD_FLAG_MMAP,
		  GUEST_MEMFD_FLAG_MMAP },
		{ "GUEST_MEMFD_FLAG_INIT_SHARED", "KVM_CREATE_GUEST_MEMFD(MMAP|INIT_SHARED)",
		  GUEST_MEMFD_FLAG_INIT_SHARED, SCRATCH_GMEM_FLAGS },
	};
	int vm_fd = -1, gmem_fd = -1, cap, flags_cap, ret;
	unsigned int i;

	ret = scratch_vm_create(sys_fd, &vm_fd);
	if (ret && probe_trial_inconclusive(r, "guest_memfd", "scratch KVM_CREATE_VM", -ret))
		return;
	if (ret) {
		probe_add(r, "guest_memfd", false, 0, "scratch KVM_CREATE_VM: %s",
			  probe_errname(-ret));
		return;
	}
	cap = kvm_check_cap(vm_fd, KVM_CAP_GUEST_MEMFD);
	flags_cap = kvm_check_cap(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS);
	ret = scratch_gmem_create(vm_fd, 0, &gmem_fd);
	if (!ret)
		close(gmem_fd);
	if ((cap < 0 && probe_trial_inconclusive(r, "guest_memfd", "KVM_CHECK_EXTENSION", -cap)) ||
	    (flags_cap < 0 && probe_trial_inconclusive(r, "guest_memfd", "KVM_CHECK_EXTENSION",
						       -flags_cap)) ||
	    (cap > 0 && ret && probe_trial_inconclusive(r, "guest_memfd", "KVM_CREATE_GUEST_MEMFD",
						       -ret)))
		goto out;
	if (cap <= 0)
		probe_add(r, "guest_memfd", false, cap,
			  "KVM_CAP_GUEST_MEMFD is %d (kernel before 6.8?)", cap);
	else if (ret)
		probe_add(r, "guest_memfd", false, cap, "KVM_CREATE_GUEST_MEMFD: %s",
			  probe_errname(-ret));
	else
		probe_add(r, "guest_memfd", true, cap, "KVM_CREATE_GUEST_MEMFD ok");

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (flags_cap <= 0 || !((uint64_t)flags_cap & flags[i].bit)) {
			probe_add(r, flags[i].feature, false, 0,
				  "not in KVM_CAP_GUEST_MEMFD_FLAGS (%d)", flags_cap);
			continue;
		}
		ret = scratch_gmem_create(vm_fd, flags[i].trial_flags, &gmem_fd);
		if (!ret)
			close(gmem_fd);
		if (ret && probe_trial_inconclusive(r, flags[i].feature, flags[i].trial_name, -ret))
			break;
		probe_add(r, flags[i].feature, !ret, (int64_t)flags[i].bit,
			  "in KVM_CAP_GUEST_MEMFD_FLAGS; %s: %s",
			  flags[i].trial_name, ret ? probe_errname(-ret) : "ok");
	}
out:
	close(vm_fd);
}

/* write() on guest_memfd, as mem_region_caps() finds it (a zero-length write). */
static void trial_gmem_write(struct probe_report *r, int sys_fd)
{
	const struct mem_config cfg = {
		.size = GMEM_WRITE_RAM_BYTES, .backend = &mem_backend_guest_memfd,
	};
	const char *feature = "write() on guest_memfd";
	struct mem_populate_caps caps;
	char why[PROBE_DETAIL_LEN];
	struct guest_mem gm;
	int vm_fd = -1, ret;

	ret = scratch_vm_create(sys_fd, &vm_fd);
	if (ret && probe_trial_inconclusive(r, feature, "scratch KVM_CREATE_VM", -ret))
		return;
	if (ret) {
		probe_add(r, feature, false, 0, "scratch KVM_CREATE_VM: %s", probe_errname(-ret));
		return;
	}
	if (mem_backend_guest_memfd.supported(vm_fd, why, sizeof(why))) {
		probe_add(r, feature, false, 0, "no guest_memfd backend: %s", why);
		goto out_vm;
	}
	ret = mem_create(&gm, &cfg, vm_fd, NULL);
	if (ret && probe_trial_inconclusive(r, feature, "guest_memfd region", -ret))
		goto out_vm;
	if (ret) {
		probe_add(r, feature, false, 0, "guest_memfd region: %s", probe_errname(-ret));
		goto out_vm;
	}
	ret = mem_region_caps(&gm.region[0], 0, &caps);
	if (!ret)
		probe_add(r, feature, caps.write, 0, "%s",
			  caps.write ? "zero-length pwrite() ok" : caps.why_no_write);
	else if (!probe_trial_inconclusive(r, feature, "mem_region_caps", -ret))
		probe_add(r, feature, false, 0, "mem_region_caps: %s", probe_errname(-ret));
	mem_destroy(&gm);
out_vm:
	close(vm_fd);
}

/*
 * KVM_PRE_FAULT_MEMORY of one page on a vCPU of a VM with a 2 MiB anon slot;
 * *cap: KVM_CAP_PRE_FAULT_MEMORY on that VM.
 */
static WUR int prefault_trial(int sys_fd, int *cap, const char **step)
{
	struct kvm_pre_fault_memory pf = { .gpa = 0, .size = MEM_PAGE_BYTES };
	int vm_fd = -1, vcpu_fd, ret;
	void *hva = NULL;

	*step = "KVM_CREATE_VM";
	ret = scratch_vm_create(sys_fd, &vm_fd);
	if (ret)
		return ret;
	*cap = kvm_check_cap(vm_fd, KVM_CAP_PRE_FAULT_MEMORY);
	*step = "mmap";
	ret = scratch_map(-1, SCRATCH_SLOT_BYTES, &hva);
	if (ret)
		goto out_vm;
	*step = "KVM_SET_USER_MEMORY_REGION";
	ret = scratch_slot_set(vm_fd, 0, hva, -1);
	if (ret)
		goto out_map;
	*step = "KVM_CREATE_VCPU";
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0) {
		ret = -errno;
		goto out_map;
	}
	*step = "KVM_PRE_FAULT_MEMORY";
	ret = ioctl(vcpu_fd, KVM_PRE_FAULT_MEMORY, &pf) < 0 ? -errno : 0;
	close(vcpu_fd);
out_map:
	munmap(hva, SCRATCH_SLOT_BYTES);
out_vm:
	close(vm_fd);
	return ret;
}

static void trial_prefault(struct probe_report *r, int sys_fd)
{
	int cap = kvm_check_cap(sys_fd, KVM_CAP_PRE_FAULT_MEMORY);
	const char *step;
	int ret = prefault_trial(sys_fd, &cap, &step);

	if (ret && probe_trial_inconclusive(r, "KVM_PRE_FAULT_MEMORY", step, -ret))
		return;
	if (!ret)
		probe_add(r, "KVM_PRE_FAULT_MEMORY", true, cap, "cap %d; trial on a vCPU ok", cap);
	else if (strcmp(step, "KVM_PRE_FAULT_MEMORY"))
		probe_add(r, "KVM_PRE_FAULT_MEMORY", false, cap, "cap %d; scratch %s: %s", cap,
			  step, probe_errname(-ret));
	else
		probe_add(r, "KVM_PRE_FAULT_MEMORY", false, cap, "%s (cap %d%s)",
			  probe_errname(-ret), cap,
			  ret == -EOPNOTSUPP ? "; x86 needs TDP" :
			  ret == -ENOTTY ? "; kernel before 6.11" : "");
}

/* madvise(advice) on a fresh two-page anonymous mapping, written first if touch. */
static WUR int madvise_trial(int advice, bool touch)
{
	size_t len = 2 * MEM_PAGE_BYTES;
	void *p = NULL;
	int ret;

	ret = scratch_map(-1, len, &p);
	if (ret)
		return ret;
	if (touch)
		memset(p, 0x5a, len);
	ret = madvise(p, len, advice) ? -errno : 0;
	munmap(p, len);
	return ret;
}

static void trial_madvise(struct probe_report *r, int sys_fd)
{
	static const struct {
		const char *feature;
		int advice;
	} populate[] = {
		{ "MADV_POPULATE_READ", MADV_POPULATE_READ },
		{ "MADV_POPULATE_WRITE", MADV_POPULATE_WRITE },
	};
	struct mem_swap_info si;
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(populate) / sizeof(populate[0]); i++) {
		ret = madvise_trial(populate[i].advice, false);
		if (ret && probe_trial_inconclusive(r, populate[i].feature, "mmap+madvise", -ret))
			return;
		probe_add(r, populate[i].feature, !ret, 0, "%s",
			  ret ? probe_errname(-ret) : "trial ok");
	}

	ret = mem_swap_read(&si);
	if (ret && probe_trial_inconclusive(r, "MADV_PAGEOUT", "/proc/swaps", -ret))
		return;
	si.devices = ret ? 0 : si.devices;
	ret = madvise_trial(MADV_PAGEOUT, true);
	if (ret && probe_trial_inconclusive(r, "MADV_PAGEOUT", "mmap+madvise", -ret))
		return;
	probe_add(r, "MADV_PAGEOUT", !ret, 0, "%s%s", ret ? probe_errname(-ret) : "trial ok",
		  !ret && !si.devices ? " (anonymous pages need swap: none)" : "");

	ret = mem_swap_read(&si);
	if (ret && probe_trial_inconclusive(r, "swap", "/proc/swaps", -ret))
		return;
	if (ret)
		probe_add(r, "swap", false, 0, "/proc/swaps: %s", probe_errname(-ret));
	else if (!si.devices)
		probe_add(r, "swap", false, 0, "no device in /proc/swaps");
	else
		probe_add(r, "swap", true, (int64_t)(si.total_bytes >> 10), "%u device%s, %llu MiB",
			  si.devices, si.devices == 1 ? "" : "s",
			  (unsigned long long)(si.total_bytes >> 20));
}

/* Bytes of [p, p + SCRATCH_SLOT_BYTES) that mincore() finds resident. */
static WUR int scratch_resident(void *p, uint64_t *bytes)
{
	unsigned char vec[SCRATCH_SLOT_BYTES / MEM_PAGE_BYTES];

	*bytes = 0;
	if (mincore(p, SCRATCH_SLOT_BYTES, vec))
		return -errno;
	for (size_t i = 0; i < sizeof(vec); i++)
		*bytes += (vec[i] & 1) * MEM_PAGE_BYTES;
	return 0;
}

/* A written MMAP|INIT_SHARED guest_memfd mapping, MADV_PAGEOUT: resident before and after. */
static WUR int gmem_pageout_trial(int sys_fd, uint64_t *before, uint64_t *after,
				  const char **step)
{
	struct scratch_mem m;
	int ret = scratch_mem_open(sys_fd, true, &m, step);

	if (ret)
		return ret;
	memset(m.hva, 0x5a, SCRATCH_SLOT_BYTES);
	*step = "mincore";
	ret = scratch_resident(m.hva, before);
	if (!ret && madvise(m.hva, SCRATCH_SLOT_BYTES, MADV_PAGEOUT)) {
		*step = "MADV_PAGEOUT";
		ret = -errno;
	}
	if (!ret)
		ret = scratch_resident(m.hva, after);
	scratch_mem_close(&m);
	return ret;
}

/* Does MADV_PAGEOUT reclaim guest_memfd memory (mem/pageout.h refuses it where not)? */
static void trial_gmem_pageout(struct probe_report *r, int sys_fd)
{
	const char *feature = "MADV_PAGEOUT guest_memfd", *step;
	unsigned long long kib = SCRATCH_SLOT_BYTES >> 10;
	struct mem_swap_info si = { .devices = 0 };
	uint64_t before = 0, after = 0;
	int ret = gmem_pageout_trial(sys_fd, &before, &after, &step);

	if (ret && probe_trial_inconclusive(r, feature, step, -ret))
		return;
	if (!ret && mem_swap_read(&si))
		si.devices = 0;
	if (ret)
		probe_add(r, feature, false, 0, "%s: %s", step, probe_errname(-ret));
	else if (after < before)
		probe_add(r, feature, true, (int64_t)(before - after), "reclaimed %llu of %llu KiB",
			  (unsigned long long)((before - after) >> 10), kib);
	else
		probe_add(r, feature, false, 0, "reclaims nothing%s (%llu of %llu KiB resident "
			  "after)", si.devices ? ": unevictable" :
			  ", with no swap on (unevictable not proven)",
			  (unsigned long long)(after >> 10), kib);
}

/* userfaultfd */

/* A new userfaultfd: the syscall, else /dev/userfaultfd (when the syscall is refused). */
static WUR int uffd_open(int *uffd, const char **how)
{
	int fd, dev, ret;

	*how = "userfaultfd()";
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		goto done;
	ret = -errno;
	if (ret != -EPERM && ret != -ENOSYS)
		return ret;
	*how = "/dev/userfaultfd";
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	ret = fd < 0 ? -errno : 0;
	close(dev);
	if (ret)
		return ret;
done:
	*uffd = fd;
	return 0;
}

/* A new userfaultfd after UFFDIO_API asking for features; *offered: what it gave. */
static WUR int uffd_open_api(uint64_t features, int *uffd, uint64_t *offered, const char **how)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int ret = uffd_open(uffd, how);

	if (ret)
		return ret;
	if (ioctl(*uffd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		*how = "UFFDIO_API";
		close(*uffd);
		return ret;
	}
	*offered = api.features;
	return 0;
}

static WUR int uffd_register(int uffd, void *addr, uint64_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len }, .mode = mode,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	*ioctls = reg.ioctls;
	return 0;
}

/* A fresh uffd with features, registered in MISSING mode on anon memory: the ioctls. */
static WUR int uffd_anon_ioctls(uint64_t features, uint64_t *ioctls)
{
	size_t len = MEM_PAGE_BYTES;
	const char *how;
	uint64_t offered;
	int uffd = -1, ret;
	void *p = NULL;

	ret = uffd_open_api(features, &uffd, &offered, &how);
	if (ret)
		return ret;
	ret = scratch_map(-1, len, &p);
	if (ret)
		goto out_uffd;
	ret = uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_MISSING, ioctls);
	munmap(p, len);
out_uffd:
	close(uffd);
	return ret;
}

static void add_ioctl_row(struct probe_report *r, const char *feature, uint64_t features,
			  uint64_t ioctl_bit)
{
	uint64_t ioctls = 0;
	int ret = uffd_anon_ioctls(features, &ioctls);

	if (ret && probe_trial_inconclusive(r, feature, "UFFDIO_REGISTER(MISSING) on anon", -ret))
		return;
	if (ret)
		probe_add(r, feature, false, 0, "UFFDIO_REGISTER(MISSING) on anon: %s",
			  probe_errname(-ret));
	else
		probe_add(r, feature, ioctls & ioctl_bit, (int64_t)ioctls,
			  "%s in the ioctls of an anon MISSING registration",
			  ioctls & ioctl_bit ? "listed" : "not listed");
}

static void add_feature_row(struct probe_report *r, const char *feature, uint64_t offered,
			    uint64_t bit)
{
	probe_add(r, feature, offered & bit, (int64_t)(offered & bit), "%s by UFFDIO_API",
		  offered & bit ? "offered" : "not offered");
}

/* UFFDIO_REGISTER in mode on the MAP_SHARED mapping of an MMAP|INIT_SHARED guest_memfd. */
static WUR int uffd_gmem_register(int sys_fd, uint64_t mode, const char **step)
{
	struct scratch_mem m;
	uint64_t offered, ioctls;
	int uffd = -1, ret;

	ret = scratch_mem_open(sys_fd, true, &m, step);
	if (ret)
		return ret;
	ret = uffd_open_api(0, &uffd, &offered, step);
	if (!ret) {
		*step = "UFFDIO_REGISTER";
		ret = uffd_register(uffd, m.hva, SCRATCH_SLOT_BYTES, mode, &ioctls);
		close(uffd);
	}
	scratch_mem_close(&m);
	return ret;
}

static void trial_uffd_gmem(struct probe_report *r, int sys_fd)
{
	const char *feature = "userfaultfd on guest_memfd", *step;
	int missing, minor;

	missing = uffd_gmem_register(sys_fd, UFFDIO_REGISTER_MODE_MISSING, &step);
	if (missing && probe_trial_inconclusive(r, feature, step, -missing))
		return;
	if (missing && strcmp(step, "UFFDIO_REGISTER")) {
		probe_add(r, feature, false, 0, "scratch %s: %s", step, probe_errname(-missing));
		return;
	}
	minor = uffd_gmem_register(sys_fd, UFFDIO_REGISTER_MODE_MINOR, &step);
	if (minor && probe_trial_inconclusive(r, feature, step, -minor))
		return;
	probe_add(r, feature, !missing || !minor, 0, "UFFDIO_REGISTER MISSING: %s, MINOR: %s",
		  missing ? probe_errname(-missing) : "ok", minor ? probe_errname(-minor) : "ok");
}

static void trial_userfaultfd(struct probe_report *r, int sys_fd)
{
	static const char *const dependents[] = {
		"UFFDIO_COPY", "UFFDIO_MOVE", "UFFD_FEATURE_MINOR_SHMEM",
		"UFFD_FEATURE_PAGEFAULT_FLAG_WP", "userfaultfd on guest_memfd",
	};
	uint64_t offered;
	const char *how;
	unsigned int i;
	int uffd, ret;

	ret = uffd_open_api(0, &uffd, &offered, &how);
	if (ret && probe_trial_inconclusive(r, "userfaultfd", how, -ret))
		return;
	if (ret) {
		probe_add(r, "userfaultfd", false, 0, "%s: %s", how, probe_errname(-ret));
		for (i = 0; i < sizeof(dependents) / sizeof(dependents[0]); i++)
			probe_add(r, dependents[i], false, 0, "no userfaultfd");
		return;
	}
	close(uffd);
	probe_add(r, "userfaultfd", true, (int64_t)offered, "via %s; features %#llx", how,
		  (unsigned long long)offered);
	add_ioctl_row(r, "UFFDIO_COPY", 0, 1ull << _UFFDIO_COPY);
	if (offered & UFFD_FEATURE_MOVE)
		add_ioctl_row(r, "UFFDIO_MOVE", UFFD_FEATURE_MOVE, UFFDIO_MOVE_IOCTL);
	else
		probe_add(r, "UFFDIO_MOVE", false, 0,
			  "UFFD_FEATURE_MOVE not offered (kernel before 6.8?)");
	add_feature_row(r, "UFFD_FEATURE_MINOR_SHMEM", offered, UFFD_FEATURE_MINOR_SHMEM);
	add_feature_row(r, "UFFD_FEATURE_PAGEFAULT_FLAG_WP", offered,
			UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	trial_uffd_gmem(r, sys_fd);
}

/* Dirty logging: an anon slot, and a guest_memfd slot (REGION2). */

static WUR int dirty_log_trial(int sys_fd, bool gmem, uint32_t flags, const char **step)
{
	struct scratch_mem m;
	int ret;

	ret = scratch_mem_open(sys_fd, gmem, &m, step);
	if (ret)
		return ret;
	*step = gmem ? "KVM_SET_USER_MEMORY_REGION2" : "KVM_SET_USER_MEMORY_REGION";
	ret = scratch_slot_set(m.vm_fd, flags, m.hva, m.gmem_fd);
	scratch_mem_close(&m);
	return ret;
}

static void add_dirty_row(struct probe_report *r, int sys_fd, const char *feature, bool gmem)
{
	const char *step, *plain_step;
	int ret = dirty_log_trial(sys_fd, gmem, KVM_MEM_LOG_DIRTY_PAGES, &step), plain;

	if (!ret) {
		probe_add(r, feature, true, 0, "%s with KVM_MEM_LOG_DIRTY_PAGES ok", step);
		return;
	}
	if (probe_trial_inconclusive(r, feature, step, -ret))
		return;
	if (!strncmp(step, SLOT_STEP, sizeof(SLOT_STEP) - 1)) {
		/* Is it the dirty log that the slot refuses? */
		plain = dirty_log_trial(sys_fd, gmem, 0, &plain_step);
		if (plain && probe_trial_inconclusive(r, feature, plain_step, -plain))
			return;
		probe_add(r, feature, false, 0, "%s (%s)", probe_errname(-ret),
			  plain ? "the slot fails without dirty logging too" :
			  "the same slot without KVM_MEM_LOG_DIRTY_PAGES is accepted");
		return;
	}
	probe_add(r, feature, false, 0, "scratch %s: %s", step, probe_errname(-ret));
}

static void trial_thp(struct probe_report *r, int sys_fd)
{
	probe_collect_thp(r);
}

/* Free 2 MiB hugetlb pages (not yet promised to a mapping). */
static void trial_hugetlb(struct probe_report *r, int sys_fd)
{
	uint64_t free_pages, total_pages;
	int ret = mem_hugetlb_free_pages(&free_pages, &total_pages);

	if (ret && probe_trial_inconclusive(r, "free huge pages", "2M hugetlb pool", -ret))
		return;
	if (ret)
		probe_add(r, "free huge pages", false, 0, "2M hugetlb pool: %s",
			  probe_errname(-ret));
	else
		probe_add(r, "free huge pages", free_pages > 0, (int64_t)free_pages,
			  "%llu of %llu 2M pages free", (unsigned long long)free_pages,
			  (unsigned long long)total_pages);
}

static void trial_dirty_log(struct probe_report *r, int sys_fd)
{
	add_dirty_row(r, sys_fd, "dirty log on guest_memfd slot", true);
	if (!r->fail_err)
		add_dirty_row(r, sys_fd, "dirty log on anon slot", false);
}

/* In order; the first inconclusive failure ends the run (the table is no answer then). */
static void (*const trials[])(struct probe_report *r, int sys_fd) = {
	trial_guest_memfd,
	trial_gmem_write,
	trial_prefault,
	trial_madvise,
	trial_gmem_pageout,
	trial_userfaultfd,
	trial_dirty_log,
	trial_thp,
	trial_hugetlb,
};

void probe_collect_trials(struct probe_report *r, int sys_fd)
{
	unsigned int i;

	for (i = 0; i < sizeof(trials) / sizeof(trials[0]) && !r->fail_err; i++)
		trials[i](r, sys_fd);
}
