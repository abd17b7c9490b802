/* SPDX-License-Identifier: MIT */
/*
 * A small AML (ACPI Machine Language) encoder for the tables memvmm builds
 * at start (vmm/acpi.c): names, integers, strings, packages, scopes,
 * devices, buffers and resource templates, enough for a DSDT (ACPI 6.x,
 * section 20, "ACPI Machine Language Specification").
 *
 * It writes into a caller's buffer and never past its end. Errors are
 * sticky: the first one (-ENOSPC: the buffer is full, -EINVAL: a bad name,
 * -E2BIG: an object too large for a PkgLength) is kept, later calls do
 * nothing, and aml_finish() returns it. Objects with a length (scopes,
 * devices, packages, buffers) are opened with *_begin(), which returns a
 * mark, and closed with the matching *_end(mark); their PkgLength (and a
 * buffer's size, a package's element count) is inserted then, in its
 * shortest encoding, the way iasl writes it.
 */
#ifndef MEMVMM_AML_H
#define MEMVMM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest PkgLength (28 bits): no object can be longer. */
#define AML_PKG_LENGTH_MAX ((1u << 28) - 1)

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;        /* 0, or the first error */
};

/* Where an open object's body starts (from *_begin()). */
typedef size_t aml_mark;

void aml_init(struct aml *a, void *buf, size_t cap);
/* The first error, or 0 with *len set to the bytes written. */
int aml_finish(const struct aml *a, size_t *len) __attribute__((warn_unused_result));

/* ---- data objects -------------------------------------------------------- */

/* Bytes as they are (e.g. a table header) */
void aml_bytes(struct aml *a, const void *p, size_t n);
/* An Integer in its shortest encoding: Zero, One, Byte/Word/DWord/QWordConst. */
void aml_integer(struct aml *a, uint64_t v);
/* A String (ASCII 0x01..0x7f). */
void aml_string(struct aml *a, const char *s);
/* An EISA ID ("PNP0A03": 3 upper-case letters, 4 upper-case hex digits) as a DWord. */
void aml_eisaid(struct aml *a, const char *id);
/*
 * A NameString: "\" (root) or "^"s (parents), then NameSegs separated by
 * '.'; a segment is 1..4 of [A-Z0-9_], not starting with a digit, and is
 * padded with '_' ("\_SB.PCI0", "_S5", "^COM1").
 */
void aml_name_string(struct aml *a, const char *path);

/* Name (path, <the object written next>) */
void aml_name(struct aml *a, const char *path);

/* ---- objects with a length ------------------------------------------------ */

/* Scope (path) { ... } */
aml_mark aml_scope_begin(struct aml *a, const char *path);
void aml_scope_end(struct aml *a, aml_mark m);
/* Device (path) { ... } */
aml_mark aml_device_begin(struct aml *a, const char *path);
void aml_device_end(struct aml *a, aml_mark m);
/* Package (count) { the count objects written between } (count <= 255) */
aml_mark aml_package_begin(struct aml *a);
void aml_package_end(struct aml *a, aml_mark m, unsigned int count);
/* Buffer () { the bytes written between } */
aml_mark aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, aml_mark m);

/* ---- resource templates (ACPI 6.x, section 6.4) -------------------------- */

/*
 * ResourceTemplate () { the aml_res_*() descriptors written between }:
 * a Buffer whose descriptors end with an End Tag with a valid checksum.
 */
aml_mark aml_res_begin(struct aml *a);
void aml_res_end(struct aml *a, aml_mark m);

/* How a PCI host bridge's memory window may be cached. */
enum aml_res_cache {
	AML_RES_NON_CACHEABLE = 0,
	AML_RES_CACHEABLE = 1,
	AML_RES_WRITE_COMBINING = 2,
	AML_RES_PREFETCHABLE = 3,
};

/*
 * Address space descriptors for a bridge's windows: ResourceProducer,
 * PosDecode, MinFixed, MaxFixed, granularity and translation 0, covering
 * [min, max] (max >= min, else -EINVAL).
 */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, enum aml_res_cache c);
void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, enum aml_res_cache c);
/* IO (Decode16, min, min, align, len): len ports at a fixed base. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t align, uint8_t len);
/* IRQNoFlags () {irq}: one ISA IRQ (0..15), edge triggered, active high. */
void aml_res_irq(struct aml *a, unsigned int irq);

#endif /* MEMVMM_AML_H */
