/* SPDX-License-Identifier: MIT */
/*
 * The setup header of a Linux x86 bzImage (Documentation/arch/x86/boot.rst),
 * read from a file held in memory. Only what the 64-bit boot protocol needs;
 * every field is bounds-checked against the file first.
 */
#ifndef MEMVMM_BZIMAGE_H
#define MEMVMM_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

/* Where the setup header lies in the file (and in the zero page). */
#define BZIMAGE_HDR_OFFSET        0x1f1u
#define BZIMAGE_MAGIC_OFFSET      0x202u
#define BZIMAGE_MAGIC             "HdrS"
/* The zero page has room for the header up to here (edd_mbr_sig_buffer follows). */
#define BZIMAGE_HDR_END_MAX       0x290u
/* The fields read here end with init_size (0x260/4): the header must reach this far. */
#define BZIMAGE_HDR_END_MIN       0x264u

/* Boot protocol versions: (major << 8) | minor. */
#define BZIMAGE_MIN_VERSION       0x0206u   /* cmdline_size */
#define BZIMAGE_XLOADFLAGS_VERSION 0x020cu  /* xloadflags: the 64-bit entry */

#define BZIMAGE_SECTOR_BYTES      512u
#define BZIMAGE_DEFAULT_SETUP_SECTS 4u      /* setup_sects 0 means this */
#define BZIMAGE_PARAGRAPH_BYTES   16u       /* unit of syssize */

/* loadflags */
#define BZIMAGE_LOADED_HIGH       0x01u
#define BZIMAGE_CAN_USE_HEAP      0x80u
/* xloadflags */
#define BZIMAGE_XLF_KERNEL_64     0x0001u
#define BZIMAGE_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002u

/* The 64-bit entry point: this far into the loaded protected-mode kernel. */
#define BZIMAGE_ENTRY64_OFFSET    0x200u
/* The traditional load address of a bzImage's protected-mode kernel. */
#define BZIMAGE_LOAD_HIGH_GPA     0x100000ull

/*
 * Bounds a header must keep to: kernel_alignment at most this (a power of
 * two), init_size at most this (Debian's 6.1 cloud kernel asks for 52 MiB).
 */
#define BZIMAGE_MAX_ALIGNMENT     (1ull << 30)
#define BZIMAGE_MAX_INIT_BYTES    (1ull << 30)

/* Setup header offsets (boot.rst "The Real-Mode Kernel Header"). */
#define BZIMAGE_OFF_SETUP_SECTS   0x1f1u
#define BZIMAGE_OFF_SYSSIZE       0x1f4u
#define BZIMAGE_OFF_BOOT_FLAG     0x1feu
#define BZIMAGE_OFF_JUMP          0x200u
#define BZIMAGE_OFF_VERSION       0x206u
#define BZIMAGE_OFF_TYPE_OF_LOADER 0x210u
#define BZIMAGE_OFF_LOADFLAGS     0x211u
#define BZIMAGE_OFF_CODE32_START  0x214u
#define BZIMAGE_OFF_RAMDISK_IMAGE 0x218u
#define BZIMAGE_OFF_RAMDISK_SIZE  0x21cu
#define BZIMAGE_OFF_HEAP_END_PTR  0x224u
#define BZIMAGE_OFF_CMD_LINE_PTR  0x228u
#define BZIMAGE_OFF_INITRD_ADDR_MAX 0x22cu
#define BZIMAGE_OFF_KERNEL_ALIGNMENT 0x230u
#define BZIMAGE_OFF_RELOCATABLE   0x234u
#define BZIMAGE_OFF_XLOADFLAGS    0x236u
#define BZIMAGE_OFF_CMDLINE_SIZE  0x238u
#define BZIMAGE_OFF_PREF_ADDRESS  0x258u
#define BZIMAGE_OFF_INIT_SIZE     0x260u

#define BZIMAGE_JUMP_OPCODE       0xebu     /* a short jmp over the header */
#define BZIMAGE_BOOT_FLAG         0xaa55u

struct bzimage_info {
	uint16_t version;
	unsigned int setup_sects;   /* 0 in the file reads as 4 */
	uint32_t hdr_end;           /* the header is [BZIMAGE_HDR_OFFSET, hdr_end) */
	uint64_t pm_offset;         /* the protected-mode kernel: file offset ... */
	uint64_t pm_size;           /* ... and size (syssize paragraphs) */
	uint8_t loadflags;
	bool relocatable;
	uint32_t kernel_alignment;  /* a power of two */
	uint16_t xloadflags;
	uint32_t code32_start;
	uint32_t cmdline_size;      /* characters, without the NUL */
	uint32_t initrd_addr_max;   /* the highest byte an initrd may occupy */
	uint64_t pref_address;
	uint32_t init_size;         /* bytes from the runtime start, >= pm_size */
};

/* True if img carries the "HdrS" magic at 0x202: a bzImage (or a bad one). */
bool bzimage_has_magic(const void *img, size_t len);

/*
 * Read and check the setup header of a bzImage of len bytes. -ENOEXEC with
 * e->text naming the field and its value when the image is truncated or
 * malformed, or cannot be booted through the 64-bit boot protocol: protocol
 * before 2.12 (2.06 is the least accepted at all, 2.12 brought xloadflags),
 * no LOADED_HIGH, no XLF_KERNEL_64, setup_sects or syssize past the end of
 * the file, kernel_alignment not a power of two up to BZIMAGE_MAX_ALIGNMENT,
 * init_size smaller than the protected-mode kernel or above
 * BZIMAGE_MAX_INIT_BYTES.
 */
int bzimage_parse(const void *img, size_t len, struct bzimage_info *out, struct errmsg *e)
	__attribute__((warn_unused_result));

/*
 * The same from the file's first head_len bytes, the file being file_len
 * bytes: head_len must be at least min(file_len, BZIMAGE_HDR_END_MAX) (else
 * -EINVAL), which is all the header checks read.
 */
int bzimage_parse_head(const void *head, size_t head_len, uint64_t file_len,
		       struct bzimage_info *out, struct errmsg *e)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_BZIMAGE_H */
