// SPDX-License-Identifier: MIT
/* mem_layout_build(): where RAM goes for a given size, and what is refused. */
#include <errno.h>
#include <stdint.h>

#include "mem/mem.h"
#include "tests/test.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Build the layout for size and check it has the expected one or two ranges. */
static void check_layout(uint64_t size, uint64_t low, uint64_t high)
{
	struct mem_layout l;

	TEST_OK(mem_layout_build(size, &l));
	TEST_ASSERT(l.nr == (high ? 2u : 1u), "size %#llx: %u ranges",
		    (unsigned long long)size, l.nr);
	TEST_ASSERT(l.range[0].gpa == 0 && l.range[0].size == low,
		    "size %#llx: low range %#llx+%#llx, want 0+%#llx",
		    (unsigned long long)size, (unsigned long long)l.range[0].gpa,
		    (unsigned long long)l.range[0].size, (unsigned long long)low);
	if (high)
		TEST_ASSERT(l.range[1].gpa == MEM_HIGH_RAM_START && l.range[1].size == high,
			    "size %#llx: high range %#llx+%#llx, want 4G+%#llx",
			    (unsigned long long)size, (unsigned long long)l.range[1].gpa,
			    (unsigned long long)l.range[1].size, (unsigned long long)high);
}

static void check_refused(uint64_t size)
{
	struct mem_layout l;
	int ret = mem_layout_build(size, &l);

	TEST_ASSERT(ret == -EINVAL, "size %#llx: got %d, want -EINVAL",
		    (unsigned long long)size, ret);
	TEST_ASSERT(l.nr == 0, "size %#llx: refused layout has %u ranges",
		    (unsigned long long)size, l.nr);
}

int main(void)
{
	/* The hole is where mem.h says, and high RAM starts right after it. */
	TEST_ASSERT(MEM_MMIO_HOLE_START == 3 * GiB && MEM_HIGH_RAM_START == 4 * GiB,
		    "hole constants changed");

	check_layout(MEM_MIN_BYTES, MEM_MIN_BYTES, 0);
	check_layout(4 * MiB + 4 * KiB, 4 * MiB + 4 * KiB, 0);
	check_layout(64 * MiB, 64 * MiB, 0);
	check_layout(3 * GiB - 4 * KiB, 3 * GiB - 4 * KiB, 0);
	check_layout(3 * GiB, 3 * GiB, 0);
	check_layout(3 * GiB + 4 * KiB, 3 * GiB, 4 * KiB);
	check_layout(4 * GiB, 3 * GiB, 1 * GiB);
	check_layout(16 * GiB, 3 * GiB, 13 * GiB);
	check_layout(MEM_MAX_BYTES, 3 * GiB, MEM_MAX_BYTES - 3 * GiB);
	TEST_PASS("layouts");

	check_refused(0);
	check_refused(MEM_MIN_BYTES - 4 * KiB);
	check_refused(MEM_MAX_BYTES + 4 * KiB);
	check_refused(UINT64_MAX);
	check_refused(UINT64_MAX - 4095);       /* page aligned, far too big */
	check_refused(64 * MiB + 1);
	check_refused(64 * MiB + 2048);
	check_refused(3 * GiB + 512);
	TEST_ASSERT(mem_layout_build(64 * MiB, NULL) == -EINVAL, "NULL out accepted");
	TEST_PASS("refused sizes");
	return 0;
}
