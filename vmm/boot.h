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
	uint64_t acpi_rsdp_gpa;   /* 0: no ACPI tables */
	/*
	 * Bytes of boot RAM the VM will have: boot_check_files() checks that
	 * a bzImage fits in its low part before any memory exists. 0: not
	 * checked there (boot_load() always checks).
	 */
	uint64_t ram_size;
};

/* How the boot vCPU enters the kernel. */
enum boot_protocol {
	BOOT_PVH,        /* 32-bit PVH entry: entry, start_info (vcpu_setup_pvh()) */
	BOOT_LINUX64,    /* Linux 64-bit boot protocol (vcpu_setup_linux64()) */
};

struct boot_result {
	enum boot_protocol protocol;
	uint32_t entry;            /* BOOT_PVH */
	uint32_t start_info;
	uint64_t entry64;          /* BOOT_LINUX64: %rip, %rsi and CR3 */
	uint64_t boot_params_gpa;
	uint64_t pml4_gpa;
	/* e.g. "bzImage, boot protocol 2.15, loaded at 0x1000000", for --debug */
	char what[96];
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
 * Of the kernel, the first bytes are read: it must be an ELF or a bzImage,
 * and a bzImage's setup header must pass bzimage_parse() (an ELF is checked
 * when loaded, against guest memory). The initrd is not read. -errno with
 * e->text naming the file and the reason, and
 * e->bad_input set unless the host failed (EMFILE, ENFILE, ENOMEM).
 * boot_load() checks the same again on the files it opens.
 */
int boot_check_files(const struct boot_request *req, struct errmsg *e)
	__attribute__((warn_unused_result));

/*
 * Load the kernel (and initrd) by its format: an ELF with a PVH note
 * through PVH, an ELF without one or a bzImage ("HdrS" at 0x202) through
 * Linux's 64-bit boot protocol; anything else is refused. Errors: -errno
 * with e->text, e->bad_input set when the files or command line are to
 * blame (exit 2).
 */
int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_BOOT_H */
