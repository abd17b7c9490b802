// SPDX-License-Identifier: MIT
/*
 * guest_mem without KVM: region roles, allocated memslot numbers, regions
 * added and removed after mem_create() on every backend that needs no KVM,
 * and what mem_region_add() refuses. Nothing here installs a slot (vm_fd
 * is -1); tests/test_guest_mem_kvm.c does that on a host with /dev/kvm.
 *
 * What removal released is read from the host, not from guest_mem: the
 * mapping is gone (mincore() fails with ENOMEM) and the fd is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/test.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define BOOT_BYTES    (8 * MiB)
#define HOTPLUG_BYTES (4 * MiB)
#define HOTPLUG_GPA   (8 * GiB)

/* Backends that can create regions without a VM; guest_memfd needs KVM, hugetlb a pool. */
static const struct mem_backend_ops *const no_kvm_backends[] = {
	&mem_backend_memfd,
	&mem_backend_anon,
};
#define NR_NO_KVM_BACKENDS (sizeof(no_kvm_backends) / sizeof(no_kvm_backends[0]))

static void create_boot(struct guest_mem *gm, const struct mem_backend_ops *b,
			uint32_t nr_slots)
{
	struct mem_config cfg = { .size = BOOT_BYTES, .backend = b, .nr_slots = nr_slots };

	TEST_OK(mem_create(gm, &cfg, -1, NULL));
}

static int add(struct guest_mem *gm, uint64_t gpa, uint64_t size, enum mem_role role,
	       const struct mem_backend_ops *b, unsigned int *index)
{
	const struct mem_region_spec spec = { .gpa = gpa, .size = size, .role = role,
					      .backend = b };

	return mem_region_add(gm, &spec, index);
}

/* Every region in use has a distinct slot, marked in the bitmap; no other bit is set. */
static void check_slots(const struct guest_mem *gm, const char *when)
{
	uint64_t seen[MEM_SLOT_WORDS] = { 0 };

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (!mem_region_in_use(r))
			continue;
		TEST_ASSERT(r->slot < gm->slot_limit, "%s: region %u slot %u past the limit %u",
			    when, i, r->slot, gm->slot_limit);
		TEST_ASSERT(!(seen[r->slot / 64] & (1ull << (r->slot % 64))),
			    "%s: slot %u given to two regions", when, r->slot);
		seen[r->slot / 64] |= 1ull << (r->slot % 64);
	}
	TEST_ASSERT(!memcmp(seen, gm->slot_used, sizeof(seen)),
		    "%s: slot bitmap does not match the regions in use", when);
}

/* The host no longer maps [hva, hva+len): mincore() says ENOMEM. */
static void check_unmapped(void *hva, const char *what)
{
	unsigned char vec[1];
	int ret = mincore(hva, MEM_PAGE_BYTES, vec);

	TEST_ASSERT(ret < 0 && errno == ENOMEM, "%s: still mapped (mincore %d)", what, ret);
}

static void test_roles(void)
{
	TEST_ASSERT(!strcmp(mem_role_name(MEM_ROLE_BOOT_RAM), "ram"), "boot RAM name");
	TEST_ASSERT(!strcmp(mem_role_name(MEM_ROLE_HOTPLUG), "hotplug"), "hotplug name");
	TEST_ASSERT(!strcmp(mem_role_name(MEM_ROLE_DEVICE), "device"), "device name");
	TEST_ASSERT(mem_role_name(MEM_ROLE_NR) == NULL, "past the end has a name");
	TEST_ASSERT(mem_role_name((enum mem_role)-1) == NULL, "-1 has a name");
	TEST_PASS("role names");
}

/* Boot RAM: role, slots from 0 in order, counted in ram_size; not removable. */
static void test_boot_ram(void)
{
	struct mem_config cfg = { .size = 3 * GiB + 4 * MiB, .backend = &mem_backend_anon };
	struct guest_mem gm;

	TEST_OK(mem_create(&gm, &cfg, -1, NULL));
	TEST_ASSERT(gm.nr_regions == 2 && gm.ram_size == cfg.size, "two boot regions");
	for (unsigned int i = 0; i < 2; i++) {
		TEST_ASSERT(gm.region[i].role == MEM_ROLE_BOOT_RAM &&
			    mem_region_is_boot_ram(&gm.region[i]), "region %u is boot RAM", i);
		TEST_ASSERT(gm.region[i].slot == i && !gm.region[i].registered,
			    "region %u: slot %u", i, gm.region[i].slot);
	}
	check_slots(&gm, "boot");
	TEST_ASSERT(gm.slot_limit == MEM_MAX_SLOTS, "default slot limit %u", gm.slot_limit);
	TEST_ASSERT(mem_region_remove(&gm, 0) == -EINVAL, "boot RAM removed");
	TEST_ASSERT(mem_region_remove(&gm, 1) == -EINVAL, "high boot RAM removed");
	TEST_ASSERT(gm.nr_regions == 2, "refused removal changed the regions");
	mem_destroy(&gm);

	/* A KVM limit above ours is clamped; a zeroed entry is not boot RAM. */
	create_boot(&gm, &mem_backend_memfd, 32764);
	TEST_ASSERT(gm.slot_limit == MEM_MAX_SLOTS, "limit not clamped: %u", gm.slot_limit);
	TEST_ASSERT(!mem_region_is_boot_ram(&gm.region[1]) && !mem_region_in_use(&gm.region[1]),
		    "unused entry counts as boot RAM");
	mem_destroy(&gm);
	TEST_PASS("boot RAM role and slots");
}

/*
 * Add, use and remove hotplug/device regions on one backend: indices and
 * slots are reused lowest first, removal releases the host memory, and
 * nothing but boot RAM is in ram_size.
 */
static void test_add_remove(const struct mem_backend_ops *b)
{
	const uint64_t gpa2 = HOTPLUG_GPA + HOTPLUG_BYTES, gpa3 = 2 * HOTPLUG_GPA;
	uint8_t out[16] = "hotplug bytes!!", in[16];
	unsigned int i1, i2, i3;
	struct guest_mem gm;
	uint8_t *hva1;
	int fd1;

	create_boot(&gm, b, 0);
	TEST_OK(add(&gm, HOTPLUG_GPA, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, b, &i1));
	TEST_OK(add(&gm, gpa2, HOTPLUG_BYTES, MEM_ROLE_DEVICE, b, &i2));
	TEST_ASSERT(i1 == 1 && i2 == 2 && gm.nr_regions == 3, "%s: indices %u %u", b->name, i1, i2);
	TEST_ASSERT(gm.region[i1].role == MEM_ROLE_HOTPLUG && gm.region[i2].role == MEM_ROLE_DEVICE,
		    "%s: roles", b->name);
	TEST_ASSERT(!mem_region_is_boot_ram(&gm.region[i1]) &&
		    !mem_region_is_boot_ram(&gm.region[i2]), "%s: added region is boot RAM", b->name);
	TEST_ASSERT(gm.region[i1].ops == b && !gm.region[i1].registered &&
		    gm.region[i1].gpa == HOTPLUG_GPA && gm.region[i1].size == HOTPLUG_BYTES,
		    "%s: region fields", b->name);
	TEST_ASSERT(gm.ram_size == BOOT_BYTES, "%s: ram_size counts hotplug", b->name);
	check_slots(&gm, "after two adds");

	/* Guest-physical access reaches the new memory, across the two regions. */
	TEST_OK(mem_write(&gm, gpa2 - 8, out, sizeof(out)));
	TEST_OK(mem_read(&gm, gpa2 - 8, in, sizeof(in)));
	TEST_ASSERT(!memcmp(in, out, sizeof(in)), "%s: read back across regions", b->name);
	TEST_ASSERT(mem_gpa_to_hva(&gm, HOTPLUG_GPA, 1) == gm.region[i1].hva, "%s: hva", b->name);

	/* Remove the first: an unused entry stays, its slot and memory are freed. */
	hva1 = gm.region[i1].hva;
	fd1 = gm.region[i1].fd;
	TEST_OK(mem_region_remove(&gm, i1));
	TEST_ASSERT(!mem_region_in_use(&gm.region[i1]) && gm.nr_regions == 3,
		    "%s: hole after removal", b->name);
	TEST_ASSERT(mem_region_remove(&gm, i1) == -ENOENT, "%s: removed twice", b->name);
	TEST_ASSERT(mem_region_register(&gm, i1, true) == -ENOENT, "%s: register a hole", b->name);
	check_unmapped(hva1, b->name);
	if (fd1 >= 0)
		TEST_ASSERT(fcntl(fd1, F_GETFD) < 0 && errno == EBADF, "%s: fd left open", b->name);
	TEST_ASSERT(mem_read(&gm, HOTPLUG_GPA, in, 1) == -EFAULT, "%s: removed memory read",
		    b->name);
	TEST_ASSERT(mem_read(&gm, gpa2, in, 8) == 0 && !memcmp(in, out + 8, 8),
		    "%s: other region lost its data", b->name);
	check_slots(&gm, "after removal");

	/* The next add fills the hole and gets the freed slot. */
	TEST_OK(add(&gm, gpa3, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, b, &i3));
	TEST_ASSERT(i3 == i1 && gm.region[i3].slot == 1, "%s: index %u slot %u not reused",
		    b->name, i3, gm.region[i3].slot);
	TEST_ASSERT(mem_read(&gm, gpa3, in, 1) == 0 && in[0] == 0, "%s: new memory reads 0",
		    b->name);
	check_slots(&gm, "after reuse");

	/* Removing from the end shrinks nr_regions past unused entries. */
	TEST_OK(mem_region_remove(&gm, i3));
	TEST_ASSERT(gm.nr_regions == 3, "%s: nr_regions %u", b->name, gm.nr_regions);
	TEST_OK(mem_region_remove(&gm, i2));
	TEST_ASSERT(gm.nr_regions == 1, "%s: nr_regions %u after emptying", b->name,
		    gm.nr_regions);
	check_slots(&gm, "after emptying");

	/* mem_destroy() releases added regions too. */
	TEST_OK(add(&gm, HOTPLUG_GPA, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, b, &i1));
	hva1 = gm.region[i1].hva;
	mem_destroy(&gm);
	check_unmapped(hva1, "destroy");
	TEST_ASSERT(gm.nr_regions == 0, "destroy left regions");
	printf("ok - add/remove on %s\n", b->name);
}

/* Everything mem_region_add() refuses, leaving gm as it was. */
static void test_refusals(void)
{
	const struct mem_backend_ops *b = &mem_backend_memfd;
	struct mem_region_spec spec = { .gpa = HOTPLUG_GPA, .size = HOTPLUG_BYTES,
					.role = MEM_ROLE_HOTPLUG, .backend = b };
	static const struct {
		uint64_t gpa, size;
		enum mem_role role;
		const struct mem_backend_ops *b;
		int want;
		const char *what;
	} bad[] = {
		{ HOTPLUG_GPA, 0, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL, "zero size" },
		{ HOTPLUG_GPA + 1, 4 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL,
		  "unaligned gpa" },
		{ HOTPLUG_GPA + 2 * KiB, 4 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL,
		  "half-page gpa" },
		{ HOTPLUG_GPA, 4 * KiB + 1, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL,
		  "unaligned size" },
		{ HOTPLUG_GPA, 4 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_hugetlb, -EINVAL,
		  "size below the backend's alignment" },
		{ HOTPLUG_GPA + 4 * KiB, 2 * MiB, MEM_ROLE_HOTPLUG, &mem_backend_hugetlb, -EINVAL,
		  "gpa off the backend's alignment" },
		{ UINT64_MAX - 4 * KiB + 1, 8 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL,
		  "wraps past 2^64" },
		{ 8 * KiB, UINT64_MAX - 4 * KiB + 1, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EINVAL,
		  "size wraps" },
		{ HOTPLUG_GPA, 4 * KiB, MEM_ROLE_BOOT_RAM, &mem_backend_memfd, -EINVAL,
		  "boot RAM added" },
		{ HOTPLUG_GPA, 4 * KiB, MEM_ROLE_NR, &mem_backend_memfd, -EINVAL, "unknown role" },
		{ HOTPLUG_GPA, 4 * KiB, MEM_ROLE_HOTPLUG, NULL, -EINVAL, "no backend" },
		{ 0, 4 * KiB, MEM_ROLE_DEVICE, &mem_backend_memfd, -EEXIST, "on boot RAM" },
		{ BOOT_BYTES - 4 * KiB, 8 * KiB, MEM_ROLE_DEVICE, &mem_backend_memfd, -EEXIST,
		  "over boot RAM's end" },
		{ HOTPLUG_GPA, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EEXIST,
		  "same range" },
		{ HOTPLUG_GPA - 4 * KiB, 8 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EEXIST,
		  "over the start" },
		{ HOTPLUG_GPA + HOTPLUG_BYTES - 4 * KiB, 8 * KiB, MEM_ROLE_HOTPLUG,
		  &mem_backend_memfd, -EEXIST, "over the end" },
		{ HOTPLUG_GPA + 4 * KiB, 4 * KiB, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EEXIST,
		  "inside" },
		{ HOTPLUG_GPA - 4 * KiB, HOTPLUG_BYTES + 8 * KiB, MEM_ROLE_HOTPLUG,
		  &mem_backend_memfd, -EEXIST, "covering" },
		{ 0, UINT64_MAX - 4 * KiB + 1, MEM_ROLE_HOTPLUG, &mem_backend_memfd, -EEXIST,
		  "all of the address space" },
	};
	struct guest_mem gm, before;
	unsigned int idx = 99;

	create_boot(&gm, b, 0);
	TEST_OK(mem_region_add(&gm, &spec, NULL));
	before = gm;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret;

		spec = (struct mem_region_spec){ .gpa = bad[i].gpa, .size = bad[i].size,
						 .role = bad[i].role, .backend = bad[i].b };
		ret = mem_region_add(&gm, &spec, &idx);
		TEST_ASSERT(ret == bad[i].want, "%s: got %d, want %d", bad[i].what, ret,
			    bad[i].want);
		TEST_ASSERT(idx == 99 && !memcmp(&gm, &before, sizeof(gm)),
			    "%s: refusal changed guest_mem", bad[i].what);
	}
	TEST_ASSERT(mem_region_add(&gm, NULL, &idx) == -EINVAL, "NULL spec");
	TEST_ASSERT(mem_region_add(NULL, &spec, &idx) == -EINVAL, "NULL gm");
	TEST_ASSERT(mem_region_remove(&gm, MEM_MAX_REGIONS) == -ENOENT, "index past the array");
	TEST_ASSERT(mem_region_remove(&gm, UINT32_MAX) == -ENOENT, "huge index");
	TEST_ASSERT(mem_region_register(&gm, 7, true) == -ENOENT, "register past the end");

	/* Touching neighbours are fine; so is a range ending exactly at 2^64. */
	TEST_OK(add(&gm, HOTPLUG_GPA - 4 * KiB, 4 * KiB, MEM_ROLE_HOTPLUG, b, NULL));
	TEST_OK(add(&gm, HOTPLUG_GPA + HOTPLUG_BYTES, 4 * KiB, MEM_ROLE_HOTPLUG, b, NULL));
	TEST_OK(add(&gm, UINT64_MAX - 4 * KiB + 1, 4 * KiB, MEM_ROLE_DEVICE, b, &idx));
	TEST_ASSERT(mem_gpa_to_hva(&gm, UINT64_MAX, 1) == gm.region[idx].hva + 4 * KiB - 1,
		    "last byte of the address space");
	check_slots(&gm, "refusals");
	mem_destroy(&gm);

	/* A gm that mem_create() did not set up takes nothing. */
	memset(&gm, 0, sizeof(gm));
	spec = (struct mem_region_spec){ .gpa = HOTPLUG_GPA, .size = HOTPLUG_BYTES,
					 .role = MEM_ROLE_HOTPLUG, .backend = b };
	TEST_ASSERT(mem_region_add(&gm, &spec, NULL) == -EINVAL, "add to an uncreated gm");
	TEST_PASS("refusals");
}

/* Out of entries, out of slots (a small KVM_CAP_NR_MEMSLOTS), and a freed slot reused. */
static void test_limits(void)
{
	const struct mem_backend_ops *b = &mem_backend_anon;
	unsigned int idx, first = 0;
	struct guest_mem gm;
	int ret;

	create_boot(&gm, b, 0);
	for (unsigned int i = 1; i < MEM_MAX_REGIONS; i++) {
		TEST_OK(add(&gm, HOTPLUG_GPA + i * MiB, MiB, MEM_ROLE_HOTPLUG, b, &idx));
		TEST_ASSERT(idx == i && gm.region[idx].slot == i, "add %u: index %u slot %u",
			    i, idx, gm.region[idx].slot);
	}
	ret = add(&gm, 2 * HOTPLUG_GPA, MiB, MEM_ROLE_HOTPLUG, b, &idx);
	TEST_ASSERT(ret == -ENOSPC, "entry %u: got %d, want -ENOSPC", MEM_MAX_REGIONS, ret);
	check_slots(&gm, "full");
	mem_destroy(&gm);

	create_boot(&gm, b, 3);
	TEST_ASSERT(gm.slot_limit == 3, "slot limit %u", gm.slot_limit);
	TEST_OK(add(&gm, HOTPLUG_GPA, MiB, MEM_ROLE_HOTPLUG, b, &first));
	TEST_OK(add(&gm, HOTPLUG_GPA + MiB, MiB, MEM_ROLE_HOTPLUG, b, &idx));
	ret = add(&gm, HOTPLUG_GPA + 2 * MiB, MiB, MEM_ROLE_HOTPLUG, b, &idx);
	TEST_ASSERT(ret == -ENOSPC, "slot 3 of 3: got %d, want -ENOSPC", ret);
	TEST_ASSERT(gm.nr_regions == 3, "failed add left an entry");
	TEST_OK(mem_region_remove(&gm, first));
	TEST_OK(add(&gm, HOTPLUG_GPA + 2 * MiB, MiB, MEM_ROLE_HOTPLUG, b, &idx));
	TEST_ASSERT(idx == first && gm.region[idx].slot == 1, "freed slot not reused: %u",
		    gm.region[idx].slot);
	check_slots(&gm, "small limit");
	mem_destroy(&gm);
	TEST_PASS("entry and slot limits");
}

/*
 * Installing fails without a VM (-EBADF) and leaves the regions as they
 * were: unregistered, and removable without touching KVM.
 */
static void test_register_without_vm(void)
{
	struct guest_mem gm;
	unsigned int idx;
	int ret;

	create_boot(&gm, &mem_backend_memfd, 0);
	TEST_OK(add(&gm, HOTPLUG_GPA, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, &mem_backend_memfd, &idx));
	ret = mem_region_register(&gm, idx, true);
	TEST_ASSERT(ret == -EBADF && !gm.region[idx].registered, "region register: %d", ret);
	ret = mem_register(&gm, false);
	TEST_ASSERT(ret == -EBADF, "register all: %d", ret);
	for (unsigned int i = 0; i < gm.nr_regions; i++)
		TEST_ASSERT(!gm.region[i].registered, "region %u marked registered", i);
	TEST_OK(mem_region_remove(&gm, idx));
	mem_destroy(&gm);
	TEST_PASS("register without a VM");
}

/*
 * memfd: fallocated pages are backed but neither mincore() nor SEEK_DATA
 * sees them; over a whole region resident() counts them (st_blocks), and
 * a punched hole takes them off again.
 */
static void test_fallocated_resident(void)
{
	struct guest_mem gm;
	struct mem_region *r;
	unsigned int idx;
	uint64_t bytes;

	create_boot(&gm, &mem_backend_memfd, 0);
	TEST_OK(add(&gm, HOTPLUG_GPA, HOTPLUG_BYTES, MEM_ROLE_HOTPLUG, &mem_backend_memfd, &idx));
	r = &gm.region[idx];
	TEST_OK(mem_resident(&gm, r->gpa, r->size, &bytes));
	TEST_ASSERT(bytes == 0, "fresh hotplug region resident %llu", (unsigned long long)bytes);
	TEST_ASSERT(fallocate(r->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)(r->size / 2)) == 0,
		    "fallocate: %s", strerror(errno));
	TEST_OK(mem_resident(&gm, r->gpa, r->size, &bytes));
	TEST_ASSERT(bytes == r->size / 2, "fallocated half: resident %llu of %llu",
		    (unsigned long long)bytes, (unsigned long long)r->size);
	TEST_OK(mem_discard(&gm, r->gpa, r->size / 4));
	TEST_OK(mem_resident(&gm, r->gpa, r->size, &bytes));
	TEST_ASSERT(bytes == r->size / 4, "after discard: resident %llu",
		    (unsigned long long)bytes);
	/* Part of a region: mincore() only, a lower bound. */
	TEST_OK(mem_resident(&gm, r->gpa, r->size / 2, &bytes));
	TEST_ASSERT(bytes <= r->size / 4, "partial range: %llu", (unsigned long long)bytes);
	mem_destroy(&gm);
	TEST_PASS("fallocated memfd pages count as resident over a whole region");
}

int main(void)
{
	test_roles();
	test_boot_ram();
	for (unsigned int i = 0; i < NR_NO_KVM_BACKENDS; i++)
		test_add_remove(no_kvm_backends[i]);
	test_refusals();
	test_limits();
	test_register_without_vm();
	test_fallocated_resident();
	return 0;
}
