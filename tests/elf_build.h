/* SPDX-License-Identifier: MIT */
/* Build small PVH ELF64 images in memory, for loader tests and tiny test guests. */
#ifndef MEMVMM_TEST_ELF_BUILD_H
#define MEMVMM_TEST_ELF_BUILD_H

#include <stddef.h>
#include <stdint.h>

struct elf_build_opts {
	uint64_t paddr;          /* where the code segment loads */
	const void *code;        /* segment contents */
	size_t code_len;
	uint64_t bss_len;        /* extra zeroed bytes after the code */
	int note;                /* 0: no PVH note, 4 or 8: note with that desc size */
	uint64_t entry;          /* PVH entry written in the note */
	int note_align;          /* 0 or 4: 4-byte note padding; 8: 8-byte */
};

/* Returns a malloc'd image and its size in *len. Layout: ehdr, 2 phdrs, note, code. */
void *elf_build(const struct elf_build_opts *o, size_t *len);

/* Offsets into what elf_build() returns, for tests that corrupt images. */
#define ELF_BUILD_PHDR_OFF  64
#define ELF_BUILD_NOTE_OFF  (64 + 2 * 56)

/*
 * A raw image for loader stress tests: an ELF64 x86-64 executable header, then
 * the nr program headers given, then data_len zero bytes at
 * ELF_RAW_DATA_OFF(nr) for the caller to fill. Returns a malloc'd image of
 * *len bytes.
 */
void *elf_build_raw(const void *phdrs, unsigned int nr, size_t data_len, size_t *len);
#define ELF_RAW_DATA_OFF(nr) (64 + (size_t)(nr) * 56)

/* Size of what elf_put_pvh_note() writes. */
#define ELF_PVH_NOTE_BYTES (12 + 4 + 8)

/* Write a PVH entry note ("Xen", 8-byte value, 4-byte padding) at `at`. */
void elf_put_pvh_note(void *at, uint64_t entry);

/* Write buf to a new temporary file; returns its malloc'd path. */
char *elf_write_temp(const void *buf, size_t len, const char *tag);

#endif
