// SPDX-License-Identifier: MIT
/*
 * AML encoder (see aml.h). Opcodes and encodings from the ACPI 6.x
 * specification, section 20.2 (AML grammar) and section 6.4 (resource
 * data types).
 */
#include "vmm/aml.h"

#include <errno.h>
#include <string.h>

/* ---- opcodes (ACPI 6.x, 20.2) -------------------------------------------- */

#define AML_ZERO_OP           0x00
#define AML_ONE_OP            0x01
#define AML_NAME_OP           0x08
#define AML_BYTE_PREFIX       0x0a
#define AML_WORD_PREFIX       0x0b
#define AML_DWORD_PREFIX      0x0c
#define AML_STRING_PREFIX     0x0d
#define AML_QWORD_PREFIX      0x0e
#define AML_SCOPE_OP          0x10
#define AML_BUFFER_OP         0x11
#define AML_PACKAGE_OP        0x12
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX     0x5b
#define AML_DEVICE_OP         0x82   /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR         '\\'
#define AML_PARENT_CHAR       '^'
#define AML_NULL_NAME         0x00

#define AML_NAMESEG_BYTES     4
/* MultiNamePrefix counts segments in one byte. */
#define AML_MAX_NAMESEGS      255
#define AML_MAX_PARENTS       255
#define AML_PACKAGE_MAX_ELEMENTS 255

/* PkgLength: 1 byte up to 63, else a lead byte with 4 bits and 1..3 more bytes. */
#define AML_PKG_ONE_BYTE_MAX  0x3f
#define AML_PKG_MAX_BYTES     4

/* ---- resource descriptors (ACPI 6.x, 6.4) --------------------------------- */

#define RES_IRQ_NO_FLAGS      0x22   /* small, 2 bytes: the IRQ mask */
#define RES_IO                0x47   /* small, 7 bytes */
#define RES_END_TAG           0x79   /* small, 1 byte: the checksum */
#define RES_DWORD_ADDRESS     0x87   /* large */
#define RES_WORD_ADDRESS      0x88
#define RES_QWORD_ADDRESS     0x8a
#define RES_WORD_BODY_BYTES   13     /* the large descriptors' length fields */
#define RES_DWORD_BODY_BYTES  23
#define RES_QWORD_BODY_BYTES  43
#define RES_IO_DECODE16       0x01

#define RES_TYPE_MEMORY       0
#define RES_TYPE_IO           1
#define RES_TYPE_BUS          2
/* General flags: producer (bit 0 clear), positive decode, min and max fixed. */
#define RES_GEN_MIN_FIXED     0x04
#define RES_GEN_MAX_FIXED     0x08
#define RES_GEN_PRODUCER_FIXED (RES_GEN_MIN_FIXED | RES_GEN_MAX_FIXED)
/* I/O type-specific flags: ISA and non-ISA ranges (EntireRange). */
#define RES_IO_ENTIRE_RANGE   0x03
/* Memory type-specific flags: read-write, caching in bits 1-2. */
#define RES_MEM_READ_WRITE    0x01
#define RES_MEM_CACHE_SHIFT   1

#define ISA_IRQS              16

void aml_init(struct aml *a, void *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = buf ? cap : 0 };
}

int aml_finish(const struct aml *a, size_t *len)
{
	if (a->err)
		return a->err;
	*len = a->len;
	return 0;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

/* True when n more bytes fit; else records -ENOSPC. */
static bool aml_room(struct aml *a, size_t n)
{
	if (a->err)
		return false;
	if (n > a->cap - a->len) {
		aml_fail(a, -ENOSPC);
		return false;
	}
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!aml_room(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* Little-endian n bytes of v. */
static void aml_le(struct aml *a, uint64_t v, unsigned int n)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Insert n bytes at offset at, moving what follows (at <= a->len). */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (at > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (!aml_room(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

/* ---- data objects -------------------------------------------------------- */

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, n + 1);   /* with its NUL */
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * EISA ID: three letters, 5 bits each (letter - 0x40), and a 16-bit
 * product number, stored as the big-endian bytes of the two halves.
 */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t vendor, product = 0;

	if (strlen(id) != 7 || !is_upper(id[0]) || !is_upper(id[1]) || !is_upper(id[2])) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		product = product << 4 | (uint32_t)d;
	}
	vendor = (uint32_t)(id[0] - 0x40) << 10 | (uint32_t)(id[1] - 0x40) << 5 |
		 (uint32_t)(id[2] - 0x40);
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, (uint8_t)(vendor >> 8));
	aml_byte(a, (uint8_t)vendor);
	aml_byte(a, (uint8_t)(product >> 8));
	aml_byte(a, (uint8_t)product);
}

static bool is_lead_name_char(char c)
{
	return is_upper(c) || c == '_';
}

static bool is_name_char(char c)
{
	return is_lead_name_char(c) || (c >= '0' && c <= '9');
}

/* Length of the NameSeg at s (up to '.' or the end), or 0 if it is not one. */
static size_t nameseg_len(const char *s)
{
	size_t n = 0;

	if (!is_lead_name_char(s[0]))
		return 0;
	while (n < AML_NAMESEG_BYTES + 1 && is_name_char(s[n]))
		n++;
	if (n > AML_NAMESEG_BYTES || (s[n] && s[n] != '.'))
		return 0;
	return n;
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	unsigned int segs = 0, parents = 0;

	if (*p == AML_ROOT_CHAR) {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == AML_PARENT_CHAR && parents < AML_MAX_PARENTS) {
			aml_byte(a, AML_PARENT_CHAR);
			p++;
			parents++;
		}
	}
	/* Count and check the segments first: the prefix depends on how many. */
	for (const char *s = p; *s; segs++) {
		size_t n = nameseg_len(s);

		if (!n || segs == AML_MAX_NAMESEGS) {
			aml_fail(a, -EINVAL);
			return;
		}
		s += n;
		if (*s == '.' && !*++s) {
			aml_fail(a, -EINVAL);   /* a trailing '.' */
			return;
		}
	}
	if (segs == 0) {
		aml_byte(a, AML_NULL_NAME);
		return;
	}
	if (segs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (segs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)segs);
	}
	while (*p) {
		char seg[AML_NAMESEG_BYTES] = { '_', '_', '_', '_' };
		size_t n = nameseg_len(p);

		memcpy(seg, p, n);
		aml_bytes(a, seg, sizeof(seg));
		p += n;
		if (*p == '.')
			p++;
	}
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, path);
}

/* ---- objects with a length ------------------------------------------------ */

/*
 * Insert the PkgLength of the body [m, len) at m. The length counts the
 * PkgLength's own bytes; more than one byte: the lead byte's bits 6-7 say
 * how many follow, its bits 0-3 are the low nibble, the rest follow.
 */
static void aml_pkg_length_insert(struct aml *a, aml_mark m)
{
	uint8_t enc[AML_PKG_MAX_BYTES];
	size_t body, total;
	unsigned int n;

	if (a->err)
		return;
	if (m > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	body = a->len - m;
	if (body + 1 <= AML_PKG_ONE_BYTE_MAX) {
		enc[0] = (uint8_t)(body + 1);
		aml_insert(a, m, enc, 1);
		return;
	}
	for (n = 2; n <= AML_PKG_MAX_BYTES; n++) {
		if (body + n < (size_t)1 << (4 + 8 * (n - 1)))
			break;
	}
	if (n > AML_PKG_MAX_BYTES) {
		aml_fail(a, -E2BIG);
		return;
	}
	total = body + n;
	enc[0] = (uint8_t)((n - 1) << 6 | (total & 0x0f));
	for (unsigned int i = 1; i < n; i++)
		enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	aml_insert(a, m, enc, n);
}

/* Opcode(s), then the body from the returned mark on; the PkgLength goes at the mark. */
static aml_mark aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	aml_bytes(a, op, oplen);
	return a->len;
}

aml_mark aml_scope_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = { AML_SCOPE_OP };
	aml_mark m = aml_open(a, op, sizeof(op));

	aml_name_string(a, path);
	return m;
}

void aml_scope_end(struct aml *a, aml_mark m)
{
	aml_pkg_length_insert(a, m);
}

aml_mark aml_device_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };
	aml_mark m = aml_open(a, op, sizeof(op));

	aml_name_string(a, path);
	return m;
}

void aml_device_end(struct aml *a, aml_mark m)
{
	aml_pkg_length_insert(a, m);
}

aml_mark aml_package_begin(struct aml *a)
{
	static const uint8_t op[] = { AML_PACKAGE_OP };

	return aml_open(a, op, sizeof(op));
}

void aml_package_end(struct aml *a, aml_mark m, unsigned int count)
{
	uint8_t n = (uint8_t)count;

	if (count > AML_PACKAGE_MAX_ELEMENTS) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_insert(a, m, &n, 1);           /* NumElements, then the PkgLength before it */
	aml_pkg_length_insert(a, m);
}

aml_mark aml_buffer_begin(struct aml *a)
{
	static const uint8_t op[] = { AML_BUFFER_OP };

	return aml_open(a, op, sizeof(op));
}

void aml_buffer_end(struct aml *a, aml_mark m)
{
	struct aml size = { 0 };
	uint8_t enc[9];

	if (a->err)
		return;
	if (m > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	/* BufferSize (an Integer) before the bytes, then the PkgLength before it. */
	aml_init(&size, enc, sizeof(enc));
	aml_integer(&size, a->len - m);
	aml_insert(a, m, enc, size.len);
	aml_pkg_length_insert(a, m);
}

/* ---- resource templates --------------------------------------------------- */

aml_mark aml_res_begin(struct aml *a)
{
	return aml_buffer_begin(a);
}

/* The End Tag's checksum makes the sum of the template's bytes, it included, zero. */
void aml_res_end(struct aml *a, aml_mark m)
{
	uint8_t sum = RES_END_TAG;

	if (a->err)
		return;
	if (m > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (size_t i = m; i < a->len; i++)
		sum = (uint8_t)(sum + a->buf[i]);
	aml_byte(a, RES_END_TAG);
	aml_byte(a, (uint8_t)-sum);
	aml_buffer_end(a, m);
}

/*
 * An address space descriptor: tag, body length, type and flags, then
 * granularity, min, max, translation and length, each width bytes.
 */
static void res_address(struct aml *a, uint8_t tag, unsigned int body, unsigned int width,
			uint8_t type, uint8_t type_flags, uint64_t min, uint64_t max)
{
	if (max < min) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, body, 2);
	aml_byte(a, type);
	aml_byte(a, RES_GEN_PRODUCER_FIXED);
	aml_byte(a, type_flags);
	aml_le(a, 0, width);                    /* granularity */
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width);                    /* translation offset */
	aml_le(a, max - min + 1, width);        /* length (0 for the whole 64-bit space) */
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	res_address(a, RES_WORD_ADDRESS, RES_WORD_BODY_BYTES, 2, RES_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	res_address(a, RES_WORD_ADDRESS, RES_WORD_BODY_BYTES, 2, RES_TYPE_IO,
		    RES_IO_ENTIRE_RANGE, min, max);
}

static uint8_t res_mem_flags(enum aml_res_cache c)
{
	return (uint8_t)(RES_MEM_READ_WRITE | ((unsigned int)c & 3) << RES_MEM_CACHE_SHIFT);
}

void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, enum aml_res_cache c)
{
	res_address(a, RES_DWORD_ADDRESS, RES_DWORD_BODY_BYTES, 4, RES_TYPE_MEMORY,
		    res_mem_flags(c), min, max);
}

void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, enum aml_res_cache c)
{
	res_address(a, RES_QWORD_ADDRESS, RES_QWORD_BODY_BYTES, 8, RES_TYPE_MEMORY,
		    res_mem_flags(c), min, max);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t align, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, RES_IO_DECODE16);
	aml_le(a, base, 2);                     /* minimum base */
	aml_le(a, base, 2);                     /* maximum base */
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_irq(struct aml *a, unsigned int irq)
{
	if (irq >= ISA_IRQS) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, RES_IRQ_NO_FLAGS);
	aml_le(a, 1u << irq, 2);
}
