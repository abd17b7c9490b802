// SPDX-License-Identifier: MIT
/*
 * bzImage setup header parser. The image is untrusted input: each field is
 * read only after the file is known to hold it, and sizes are compared
 * without forming sums that could wrap.
 */
#include "vmm/bzimage.h"

#include <errno.h>
#include <string.h>

static uint8_t get8(const uint8_t *p, uint32_t off)
{
	return p[off];
}

static uint16_t get16(const uint8_t *p, uint32_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, uint32_t off)
{
	return (uint32_t)get16(p, off) | (uint32_t)get16(p, off + 2) << 16;
}

static uint64_t get64(const uint8_t *p, uint32_t off)
{
	return (uint64_t)get32(p, off) | (uint64_t)get32(p, off + 4) << 32;
}

bool bzimage_has_magic(const void *img, size_t len)
{
	return len >= BZIMAGE_MAGIC_OFFSET + 4 &&
	       !memcmp((const uint8_t *)img + BZIMAGE_MAGIC_OFFSET, BZIMAGE_MAGIC, 4);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The header: magic, version, its extent (the jump at 0x200). */
static int check_header(const uint8_t *p, size_t head_len, uint64_t len,
			struct bzimage_info *bz, struct errmsg *e)
{
	uint8_t jump;

	if (!bzimage_has_magic(p, head_len))
		return errmsg_set(e, -ENOEXEC, "not a bzImage (no \"%s\" at offset 0x%x)",
				  BZIMAGE_MAGIC, BZIMAGE_MAGIC_OFFSET);
	if (len < BZIMAGE_OFF_VERSION + 2)
		return errmsg_set(e, -ENOEXEC, "truncated bzImage: %llu bytes, the boot protocol "
				  "version is at 0x%x", (unsigned long long)len,
				  BZIMAGE_OFF_VERSION);
	bz->version = get16(p, BZIMAGE_OFF_VERSION);
	if (bz->version < BZIMAGE_MIN_VERSION)
		return errmsg_set(e, -ENOEXEC, "bzImage boot protocol %u.%02u is too old "
				  "(version 0x%04x; 2.06 or later is needed)", bz->version >> 8,
				  bz->version & 0xff, bz->version);
	if (bz->version < BZIMAGE_XLOADFLAGS_VERSION)
		return errmsg_set(e, -ENOEXEC, "bzImage boot protocol %u.%02u has no 64-bit entry "
				  "point (xloadflags came with 2.12)", bz->version >> 8,
				  bz->version & 0xff);
	jump = get8(p, BZIMAGE_OFF_JUMP);
	if (jump != BZIMAGE_JUMP_OPCODE)
		return errmsg_set(e, -ENOEXEC, "bzImage jump at 0x%x is 0x%02x, not a short jmp "
				  "(0x%02x) over the setup header", BZIMAGE_OFF_JUMP, jump,
				  BZIMAGE_JUMP_OPCODE);
	/* A signed offset from 0x202: the header's end. */
	bz->hdr_end = BZIMAGE_MAGIC_OFFSET + get8(p, BZIMAGE_OFF_JUMP + 1);
	if (get8(p, BZIMAGE_OFF_JUMP + 1) >= 0x80 || bz->hdr_end < BZIMAGE_HDR_END_MIN ||
	    bz->hdr_end > BZIMAGE_HDR_END_MAX)
		return errmsg_set(e, -ENOEXEC, "bzImage setup header length byte at 0x%x is 0x%02x: "
				  "the header must end between 0x%x and 0x%x",
				  BZIMAGE_OFF_JUMP + 1, get8(p, BZIMAGE_OFF_JUMP + 1),
				  BZIMAGE_HDR_END_MIN, BZIMAGE_HDR_END_MAX);
	if (len < bz->hdr_end)
		return errmsg_set(e, -ENOEXEC, "truncated bzImage: %llu bytes, the setup header "
				  "ends at 0x%x", (unsigned long long)len, bz->hdr_end);
	return 0;
}

/* Where the protected-mode kernel is in the file, and how large. */
static int check_payload(const uint8_t *p, uint64_t len, struct bzimage_info *bz,
			 struct errmsg *e)
{
	uint32_t syssize;

	bz->setup_sects = get8(p, BZIMAGE_OFF_SETUP_SECTS);
	if (bz->setup_sects == 0)
		bz->setup_sects = BZIMAGE_DEFAULT_SETUP_SECTS;
	bz->pm_offset = (uint64_t)(bz->setup_sects + 1) * BZIMAGE_SECTOR_BYTES;
	if (bz->pm_offset >= len)
		return errmsg_set(e, -ENOEXEC, "truncated bzImage: setup_sects %u puts the "
				  "protected-mode kernel at offset 0x%llx, the file is %llu bytes",
				  bz->setup_sects, (unsigned long long)bz->pm_offset,
				  (unsigned long long)len);
	syssize = get32(p, BZIMAGE_OFF_SYSSIZE);
	bz->pm_size = (uint64_t)syssize * BZIMAGE_PARAGRAPH_BYTES;
	if (syssize == 0)
		return errmsg_set(e, -ENOEXEC, "bzImage syssize is 0: no protected-mode kernel");
	if (bz->pm_size > len - bz->pm_offset)
		return errmsg_set(e, -ENOEXEC, "truncated bzImage: syssize 0x%x says %llu bytes of "
				  "protected-mode kernel at offset 0x%llx, the file has %llu",
				  syssize, (unsigned long long)bz->pm_size,
				  (unsigned long long)bz->pm_offset,
				  (unsigned long long)(len - bz->pm_offset));
	if (bz->pm_size <= BZIMAGE_ENTRY64_OFFSET)
		return errmsg_set(e, -ENOEXEC, "bzImage syssize 0x%x: %llu bytes of protected-mode "
				  "kernel do not reach the 64-bit entry at +0x%x", syssize,
				  (unsigned long long)bz->pm_size, BZIMAGE_ENTRY64_OFFSET);
	return 0;
}

/* The fields that say how and where the kernel can be loaded. */
static int check_fields(const uint8_t *p, struct bzimage_info *bz, struct errmsg *e)
{
	bz->loadflags = get8(p, BZIMAGE_OFF_LOADFLAGS);
	bz->code32_start = get32(p, BZIMAGE_OFF_CODE32_START);
	bz->initrd_addr_max = get32(p, BZIMAGE_OFF_INITRD_ADDR_MAX);
	bz->kernel_alignment = get32(p, BZIMAGE_OFF_KERNEL_ALIGNMENT);
	bz->relocatable = get8(p, BZIMAGE_OFF_RELOCATABLE) != 0;
	bz->xloadflags = get16(p, BZIMAGE_OFF_XLOADFLAGS);
	bz->cmdline_size = get32(p, BZIMAGE_OFF_CMDLINE_SIZE);
	bz->pref_address = get64(p, BZIMAGE_OFF_PREF_ADDRESS);
	bz->init_size = get32(p, BZIMAGE_OFF_INIT_SIZE);

	if (!(bz->loadflags & BZIMAGE_LOADED_HIGH))
		return errmsg_set(e, -ENOEXEC, "bzImage loadflags 0x%02x lack LOADED_HIGH (0x%02x): "
				  "a zImage loaded low is not supported", bz->loadflags,
				  BZIMAGE_LOADED_HIGH);
	if (!(bz->xloadflags & BZIMAGE_XLF_KERNEL_64))
		return errmsg_set(e, -ENOEXEC, "bzImage xloadflags 0x%04x lack XLF_KERNEL_64 "
				  "(0x%x): no 64-bit entry point", bz->xloadflags,
				  BZIMAGE_XLF_KERNEL_64);
	if (!is_pow2(bz->kernel_alignment) || bz->kernel_alignment > BZIMAGE_MAX_ALIGNMENT)
		return errmsg_set(e, -ENOEXEC, "bzImage kernel_alignment 0x%x is not a power of two "
				  "of at most 0x%llx", bz->kernel_alignment, BZIMAGE_MAX_ALIGNMENT);
	if (bz->init_size < bz->pm_size)
		return errmsg_set(e, -ENOEXEC, "bzImage init_size 0x%x is smaller than its "
				  "protected-mode kernel (0x%llx bytes)", bz->init_size,
				  (unsigned long long)bz->pm_size);
	if (bz->init_size > BZIMAGE_MAX_INIT_BYTES)
		return errmsg_set(e, -ENOEXEC, "bzImage init_size 0x%x is over the %llu MiB "
				  "memvmm accepts", bz->init_size, BZIMAGE_MAX_INIT_BYTES >> 20);
	return 0;
}

int bzimage_parse_head(const void *head, size_t head_len, uint64_t file_len,
		       struct bzimage_info *out, struct errmsg *e)
{
	const uint8_t *p = head;
	int ret;

	memset(out, 0, sizeof(*out));
	/* Every read below stays under min(file_len, BZIMAGE_HDR_END_MAX). */
	if (head_len > file_len ||
	    head_len < (file_len < BZIMAGE_HDR_END_MAX ? file_len : BZIMAGE_HDR_END_MAX))
		return errmsg_set(e, -EINVAL, "%zu bytes of a %llu-byte bzImage are too few to "
				  "check", head_len, (unsigned long long)file_len);
	ret = check_header(p, head_len, file_len, out, e);
	if (!ret)
		ret = check_payload(p, file_len, out, e);
	if (!ret)
		ret = check_fields(p, out, e);
	return ret;
}

int bzimage_parse(const void *img, size_t len, struct bzimage_info *out, struct errmsg *e)
{
	return bzimage_parse_head(img, len, len, out, e);
}
