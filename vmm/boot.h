/* SPDX-License-Identifier: MIT */
/* Load the kernel (a file or the bundled test guest) and the initrd into guest memory. */
#ifndef MEMVMM_BOOT_H
#define MEMVMM_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/errmsg.h"

struct guest_mem;

/* Kernels larger than this are refused rather than read into memory. */
#define BOOT_MAX_KERNEL_BYTES (1ull << 30)

struct boot_request {
	const char *kernel;    /* NULL: the bundled test guest */
	const char *initrd;    /* NULL: none */
	const char *cmdline;
	/*
	 * Guest memory is all zero (fresh, as at VM creation): the kernel's
	 * bss is then left alone instead of written, which would make all of
	 * it resident and undo populate=none. false (memory may hold data,
	 * e.g. a reset that reuses it): the bss is zeroed.
	 */
	bool mem_is_zero;
};

struct boot_result {
	uint32_t entry;
	uint32_t start_info;
};

/* The test guest embedded in the memvmm binary. */
extern const unsigned char memvmm_guest_elf_start[];
extern const unsigned char memvmm_guest_elf_end[];

/*
 * Check the kernel and initrd paths of req before anything slow or blocking
 * happens (call it first when creating a VM, before /dev/kvm is opened and
 * guest memory populated): each must exist, be a regular file (a FIFO,
 * directory, device or socket is refused without ever blocking on it), be
 * non-empty and readable, and the kernel at most BOOT_MAX_KERNEL_BYTES.
 * Nothing is read. -errno with e->text naming the file and the reason, and
 * e->bad_input set unless the host failed (EMFILE, ENFILE, ENOMEM).
 * boot_load() checks the same again on the files it opens.
 */
int boot_check_files(const struct boot_request *req, struct errmsg *e)
	__attribute__((warn_unused_result));

int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_BOOT_H */
