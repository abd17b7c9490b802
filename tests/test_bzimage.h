/* SPDX-License-Identifier: MIT */
/* Shared by tests/test_bzimage*.c: synthetic bzImages and guest memory. */
#ifndef MEMVMM_TEST_BZIMAGE_H
#define MEMVMM_TEST_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;
extern struct guest_mem gm;

/* What bz_build() writes into the setup header. */
struct bz_opts {
	unsigned int setup_sects;
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	size_t payload_len;    /* a multiple of 16 (syssize) */
	uint8_t hdr_len;       /* byte at 0x201: the header ends at 0x202 + this */
};

/* Protocol 2.15, relocatable, 2 MiB aligned, 16 MiB preferred, 1 MiB init_size, 64 KiB payload. */
struct bz_opts bz_default(void);
/* A malloc'd bzImage of *len bytes; its payload byte i is payload_byte(i). */
uint8_t *bz_build(const struct bz_opts *o, size_t *len);
uint8_t payload_byte(size_t i);

/* gm: fresh anonymous guest memory of size bytes (the previous one destroyed). */
void make_mem(uint64_t size);

void put_le(uint8_t *p, size_t off, uint64_t v, unsigned int bytes);
uint64_t get_le(const uint8_t *p, size_t off, unsigned int bytes);

/* Cases in tests/test_bzimage_load.c. */
void case_placement(const void *arg);
void case_zero_page(const void *arg);
void case_page_tables(const void *arg);
void case_vmlinux(const void *arg);
void case_boot_load(const void *arg);
void case_cmdline(const void *arg);
void case_check_files(const void *arg);

#endif
