// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the ELF/PVH loader: the input is a kernel image.
 * pvh_parse() must refuse it with a reason or describe it so that
 * pvh_load(), pvh_place_module() and pvh_write_boot_data() stay inside guest
 * memory; the sanitizers catch any access that does not, and libFuzzer's
 * -timeout any input that takes long (note scanning is bounded).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm/pvh.h"

/* Created once and kept (anonymous, so only what inputs touch is ever allocated). */
#define FUZZ_RAM_BYTES (64ull << 20)

static struct guest_mem *fuzz_mem(void)
{
	static struct guest_mem gm;
	static bool ready;
	struct mem_config mc = { .size = FUZZ_RAM_BYTES, .backend = &mem_backend_anon };

	if (!ready) {
		if (mem_create(&gm, &mc, -1, NULL))
			abort();
		ready = true;
	}
	return &gm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *gm = fuzz_mem();
	struct pvh_boot_params bp = { .cmdline = "console=ttyS0" };
	struct pvh_image img;
	struct errmsg e = { 0 };
	uint64_t gpa, start_info;
	unsigned int i;
	/* A copy the size of the input: ASan sees any read past its end. */
	uint8_t *elf = malloc(size ? size : 1);

	if (!elf)
		return 0;
	memcpy(elf, data, size);
	if (pvh_parse(elf, size, gm, &img, &e)) {
		if (!e.text[0] || !memchr(e.text, '\0', sizeof(e.text)))
			abort();   /* a refusal always says why */
		goto out;
	}
	/* What parse accepted lies in RAM, in the file, and apart from the boot data. */
	for (i = 0; i < img.nr_segments; i++) {
		const struct pvh_segment *s = &img.seg[i];

		if (s->filesz > s->memsz || s->offset > size || s->filesz > size - s->offset ||
		    !mem_range_is_ram(gm, s->paddr, s->memsz))
			abort();
	}
	/* Both ways: bss zeroed (memory that may hold data) or left (fresh memory). */
	if (pvh_load(gm, elf, &img, size & 1 ? PVH_LOAD_MEM_IS_ZERO : 0))
		abort();
	if (!pvh_place_module(gm, &img, size, &gpa)) {
		bp.module_gpa = gpa;
		bp.module_size = size;
		if (size && !mem_range_is_ram(gm, gpa, size))
			abort();
	}
	if (pvh_write_boot_data(gm, &bp, &start_info))
		abort();
out:
	free(elf);
	return 0;
}
