/* SPDX-License-Identifier: MIT */
/* Load the kernel (a file or the bundled test guest) and the initrd into guest memory. */
#ifndef MEMVMM_BOOT_H
#define MEMVMM_BOOT_H

#include <stdint.h>

#include "vmm/errmsg.h"

struct guest_mem;

struct boot_request {
	const char *kernel;    /* NULL: the bundled test guest */
	const char *initrd;    /* NULL: none */
	const char *cmdline;
};

struct boot_result {
	uint32_t entry;
	uint32_t start_info;
};

/* The test guest embedded in the memvmm binary. */
extern const unsigned char memvmm_guest_elf_start[];
extern const unsigned char memvmm_guest_elf_end[];

int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_BOOT_H */
