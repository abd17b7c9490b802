// SPDX-License-Identifier: MIT
/*
 * Regions added and removed on real KVM (skipped, exit 77, without
 * /dev/kvm): an added region is installed only when asked, removal deletes
 * its memslot in KVM (KVM then takes a different region under the same
 * slot number, which it refuses for a slot still in use), and the slot
 * limit follows KVM_CAP_NR_MEMSLOTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "mem/mem.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define BOOT_BYTES    (8 * MiB)
#define HOTPLUG_GPA   (8 * GiB)

static int install(int vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region m = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &m) < 0 ? -errno : 0;
}

static void run(const struct mem_backend_ops *b, int sys, bool region2)
{
	int vm = ioctl(sys, KVM_CREATE_VM, 0), nr_slots, ret;
	struct mem_config cfg = { .size = BOOT_BYTES, .backend = b };
	struct guest_mem gm;
	unsigned int idx, idx2;
	uint32_t slot;
	char why[256];
	void *probe;

	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");
	if (b->supported(vm, why, sizeof(why))) {
		printf("ok - %s not supported here (%s): not run\n", b->name, why);
		close(vm);
		return;
	}
	nr_slots = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	TEST_ASSERT(nr_slots > 2, "KVM_CAP_NR_MEMSLOTS %d", nr_slots);
	cfg.nr_slots = (uint32_t)nr_slots;
	TEST_OK(mem_create(&gm, &cfg, vm, NULL));
	TEST_ASSERT(gm.slot_limit == ((unsigned int)nr_slots < MEM_MAX_SLOTS ?
				      (unsigned int)nr_slots : MEM_MAX_SLOTS), "slot limit %u",
		    gm.slot_limit);
	TEST_OK(mem_register(&gm, region2));

	/* Added: not installed until asked; mem_register() installs only it. */
	TEST_OK(mem_region_add(&gm, &(struct mem_region_spec){ .gpa = HOTPLUG_GPA,
		.size = 4 * MiB, .role = MEM_ROLE_HOTPLUG, .backend = b }, &idx));
	TEST_ASSERT(!gm.region[idx].registered, "%s: added region installed", b->name);
	slot = gm.region[idx].slot;
	TEST_OK(mem_register(&gm, region2));
	TEST_ASSERT(gm.region[idx].registered && gm.region[0].registered, "%s: registered",
		    b->name);
	TEST_ASSERT(mem_register(&gm, region2) == -EEXIST, "%s: nothing left to install",
		    b->name);
	TEST_ASSERT(mem_region_register(&gm, idx, region2) == -EEXIST, "%s: installed twice",
		    b->name);

	/* KVM refuses to resize a slot in use: the probe for "the slot is still there". */
	ret = install(vm, slot, HOTPLUG_GPA, 2 * MiB, gm.region[idx].hva);
	TEST_ASSERT(ret == -EINVAL, "%s: resizing a live slot: %d", b->name, ret);

	/* Removed: the same slot number now takes a different region. */
	TEST_OK(mem_region_remove(&gm, idx));
	TEST_OK(mem_region_add(&gm, &(struct mem_region_spec){ .gpa = 2 * HOTPLUG_GPA,
		.size = 2 * MiB, .role = MEM_ROLE_DEVICE, .backend = b }, &idx2));
	TEST_ASSERT(gm.region[idx2].slot == slot, "%s: slot %u not reused (%u)", b->name, slot,
		    gm.region[idx2].slot);
	TEST_OK(mem_region_register(&gm, idx2, region2));

	/* Guest-physical access and removal of an installed region. */
	TEST_OK(mem_write(&gm, 2 * HOTPLUG_GPA, "x", 1));
	TEST_OK(mem_region_remove(&gm, idx2));
	probe = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(probe != MAP_FAILED, "mmap");
	TEST_ASSERT(install(vm, slot, HOTPLUG_GPA, 2 * MiB, probe) == 0,
		    "%s: slot %u still in KVM after removal", b->name, slot);
	TEST_ASSERT(install(vm, slot, 0, 0, NULL) == 0, "%s: delete probe slot", b->name);
	TEST_ASSERT(munmap(probe, 2 * MiB) == 0, "munmap");
	mem_destroy(&gm);
	close(vm);
	printf("ok - %s: add, register, remove on KVM (%s)\n", b->name,
	       region2 ? "KVM_SET_USER_MEMORY_REGION2" : "KVM_SET_USER_MEMORY_REGION");
}

int main(void)
{
	int sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	bool region2;

	TEST_REQUIRE(sys >= 0, "/dev/kvm cannot be opened on this host");
	region2 = ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) > 0;
	run(&mem_backend_memfd, sys, false);
	run(&mem_backend_anon, sys, region2);
	if (region2)
		run(&mem_backend_guest_memfd, sys, true);
	close(sys);
	return 0;
}
