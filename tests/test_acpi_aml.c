// SPDX-License-Identifier: MIT
/*
 * The AML encoder (vmm/aml.h) against the byte encodings of the ACPI
 * specification (section 20.2): integers in their shortest form, names
 * (root, parents, one, two and many segments, padding, refusals), EISA
 * IDs, strings, PkgLength at each of its size boundaries, packages,
 * buffers, resource descriptors with the End Tag checksum, and the sticky
 * errors (-ENOSPC without writing past the end, -EINVAL, -E2BIG).
 */
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"
#include "tests/test_acpi.h"
#include "vmm/aml.h"

#define BUF_BYTES (1u << 21)

static uint8_t buf[BUF_BYTES];
static uint8_t filler[1u << 20];

/* The bytes one call writes into a fresh encoder must be want[0..n). */
#define EXPECT_AML(call, ...)                                                           \
	do {                                                                            \
		static const uint8_t want_[] = { __VA_ARGS__ };                         \
		struct aml a_;                                                          \
		size_t len_;                                                            \
		aml_init(&a_, buf, sizeof(buf));                                        \
		call;                                                                   \
		TEST_OK(aml_finish(&a_, &len_));                                        \
		TEST_ASSERT(len_ == sizeof(want_) && !memcmp(buf, want_, len_),         \
			    "%s: %zu bytes %02x %02x %02x %02x %02x ...", #call, len_,  \
			    buf[0], buf[1], buf[2], buf[3], buf[4]);                    \
	} while (0)

#define EXPECT_AML_ERR(call, err)                                                       \
	do {                                                                            \
		struct aml a_;                                                          \
		size_t len_;                                                            \
		aml_init(&a_, buf, sizeof(buf));                                        \
		call;                                                                   \
		TEST_ASSERT(aml_finish(&a_, &len_) == (err), "%s: want %d", #call, err); \
	} while (0)

static void integers_names_strings(void)
{
	EXPECT_AML(aml_integer(&a_, 0), 0x00);
	EXPECT_AML(aml_integer(&a_, 1), 0x01);
	EXPECT_AML(aml_integer(&a_, 2), 0x0a, 0x02);
	EXPECT_AML(aml_integer(&a_, 0xff), 0x0a, 0xff);
	EXPECT_AML(aml_integer(&a_, 0x100), 0x0b, 0x00, 0x01);
	EXPECT_AML(aml_integer(&a_, 0xffff), 0x0b, 0xff, 0xff);
	EXPECT_AML(aml_integer(&a_, 0x10000), 0x0c, 0x00, 0x00, 0x01, 0x00);
	EXPECT_AML(aml_integer(&a_, 0xfee00000), 0x0c, 0x00, 0x00, 0xe0, 0xfe);
	EXPECT_AML(aml_integer(&a_, 0x100000000ull), 0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
	EXPECT_AML(aml_integer(&a_, UINT64_MAX), 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		   0xff);

	EXPECT_AML(aml_name_string(&a_, "_S5"), '_', 'S', '5', '_');
	EXPECT_AML(aml_name_string(&a_, "PCI0"), 'P', 'C', 'I', '0');
	EXPECT_AML(aml_name_string(&a_, "\\_SB"), '\\', '_', 'S', 'B', '_');
	EXPECT_AML(aml_name_string(&a_, "\\_SB.PCI0"), '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C',
		   'I', '0');
	EXPECT_AML(aml_name_string(&a_, "A.B.C"), 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_',
		   'C', '_', '_', '_');
	EXPECT_AML(aml_name_string(&a_, "^^COM1"), '^', '^', 'C', 'O', 'M', '1');
	EXPECT_AML(aml_name_string(&a_, "\\"), '\\', 0x00);
	EXPECT_AML(aml_name_string(&a_, ""), 0x00);
	EXPECT_AML(aml_name(&a_, "_UID"), 0x08, '_', 'U', 'I', 'D');
	EXPECT_AML_ERR(aml_name_string(&a_, "1ABC"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "ABCDE"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "abc"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "A..B"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "A."), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, ".A"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "AB-C"), -EINVAL);
	EXPECT_AML_ERR(aml_name_string(&a_, "\\^A"), -EINVAL);

	EXPECT_AML(aml_eisaid(&a_, "PNP0A03"), 0x0c, 0x41, 0xd0, 0x0a, 0x03);
	EXPECT_AML(aml_eisaid(&a_, "PNP0501"), 0x0c, 0x41, 0xd0, 0x05, 0x01);
	EXPECT_AML_ERR(aml_eisaid(&a_, "pnp0a03"), -EINVAL);
	EXPECT_AML_ERR(aml_eisaid(&a_, "PNP0A0G"), -EINVAL);
	EXPECT_AML_ERR(aml_eisaid(&a_, "PNP0A0"), -EINVAL);
	EXPECT_AML_ERR(aml_eisaid(&a_, "PNP0A030"), -EINVAL);

	EXPECT_AML(aml_string(&a_, "ab"), 0x0d, 'a', 'b', 0x00);
	EXPECT_AML(aml_string(&a_, ""), 0x0d, 0x00);
	EXPECT_AML_ERR(aml_string(&a_, "\xe9"), -EINVAL);
}

/* Decode a PkgLength (as the spec says) at p. */
static size_t pkg_decode(const uint8_t *p, size_t *bytes)
{
	unsigned int follow = p[0] >> 6;
	size_t v = follow ? p[0] & 0x0f : p[0] & 0x3f;

	for (unsigned int i = 1; i <= follow; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*bytes = follow + 1;
	return v;
}

/* A Scope whose body is body bytes: PkgLength in `want` bytes, counting itself. */
static void pkg_length_at(size_t body, size_t want)
{
	struct aml a;
	aml_mark m;
	size_t len, n, v;

	aml_init(&a, buf, sizeof(buf));
	m = aml_scope_begin(&a, "S");            /* 0x10, then the name: 4 bytes */
	TEST_ASSERT(body >= 4, "body holds the name");
	TEST_ASSERT(body - 4 <= sizeof(filler), "filler");
	memset(filler, 0x01, body - 4);
	aml_bytes(&a, filler, body - 4);
	aml_scope_end(&a, m);
	TEST_OK(aml_finish(&a, &len));
	v = pkg_decode(buf + 1, &n);
	TEST_ASSERT(n == want && v == body + n && len == 1 + n + body,
		    "body %zu: PkgLength %zu in %zu bytes (want %zu), total %zu", body, v, n, want,
		    len);
	TEST_ASSERT(!memcmp(buf + 1 + n, "S___", 4), "the name after the PkgLength");
	if (n > 1)
		TEST_ASSERT(!(buf[1] & 0x30), "bits 4-5 of a multi-byte lead are 0");
}

static void pkg_lengths(void)
{
	pkg_length_at(4, 1);
	pkg_length_at(62, 1);           /* 63: the most one byte holds */
	pkg_length_at(63, 2);
	pkg_length_at(4093, 2);         /* 4095 */
	pkg_length_at(4094, 3);
	pkg_length_at((1u << 20) - 4, 3);
	pkg_length_at((1u << 20) - 3, 4);
}

static void containers(void)
{
	EXPECT_AML({ aml_mark m = aml_package_begin(&a_); aml_integer(&a_, 5);
		     aml_integer(&a_, 0); aml_package_end(&a_, m, 2); },
		   0x12, 0x05, 0x02, 0x0a, 0x05, 0x00);
	EXPECT_AML({ aml_mark m = aml_package_begin(&a_); aml_package_end(&a_, m, 0); },
		   0x12, 0x02, 0x00);
	EXPECT_AML_ERR({ aml_mark m = aml_package_begin(&a_); aml_package_end(&a_, m, 256); },
		       -EINVAL);
	EXPECT_AML({ aml_mark m = aml_buffer_begin(&a_); aml_bytes(&a_, "\x01\x02", 2);
		     aml_buffer_end(&a_, m); },
		   0x11, 0x05, 0x0a, 0x02, 0x01, 0x02);
	EXPECT_AML({ aml_mark m = aml_buffer_begin(&a_); aml_buffer_end(&a_, m); },
		   0x11, 0x02, 0x00);
	EXPECT_AML({ aml_mark m = aml_device_begin(&a_, "COM1"); aml_device_end(&a_, m); },
		   0x5b, 0x82, 0x05, 'C', 'O', 'M', '1');
	EXPECT_AML({ aml_mark m = aml_scope_begin(&a_, "\\_SB"); aml_scope_end(&a_, m); },
		   0x10, 0x06, '\\', '_', 'S', 'B', '_');
	/* Nested: the inner PkgLength is counted in the outer one. */
	EXPECT_AML({ aml_mark s = aml_scope_begin(&a_, "A");
		     aml_mark d = aml_device_begin(&a_, "B");
		     aml_device_end(&a_, d); aml_scope_end(&a_, s); },
		   0x10, 0x0c, 'A', '_', '_', '_', 0x5b, 0x82, 0x05, 'B', '_', '_', '_');
	EXPECT_AML_ERR(aml_scope_end(&a_, 7), -EINVAL);   /* a mark past the end */
}

static void resources(void)
{
	struct aml a;
	aml_mark m;
	size_t len;
	uint8_t sum = 0;

	EXPECT_AML(aml_res_io(&a_, 0x3f8, 1, 8), 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08);
	EXPECT_AML(aml_res_irq(&a_, 4), 0x22, 0x10, 0x00);
	EXPECT_AML(aml_res_irq(&a_, 15), 0x22, 0x00, 0x80);
	EXPECT_AML_ERR(aml_res_irq(&a_, 16), -EINVAL);
	EXPECT_AML(aml_res_word_bus(&a_, 0, 0xff), 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,
		   0, 0, 0, 0, 0xff, 0, 0, 0, 0, 1);
	EXPECT_AML(aml_res_word_io(&a_, 0xd00, 0xffff), 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03,
		   0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3);
	EXPECT_AML(aml_res_dword_mem(&a_, 0xc0000000, 0xfebfffff, AML_RES_NON_CACHEABLE),
		   0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0,
		   0xff, 0xff, 0xbf, 0xfe, 0, 0, 0, 0, 0, 0, 0xc0, 0x3e);
	EXPECT_AML(aml_res_qword_mem(&a_, 1ull << 32, (2ull << 32) - 1, AML_RES_CACHEABLE),
		   0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03,
		   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
		   0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		   0, 0, 0, 0, 1, 0, 0, 0);
	EXPECT_AML_ERR(aml_res_word_bus(&a_, 1, 0), -EINVAL);
	EXPECT_AML_ERR(aml_res_qword_mem(&a_, 2, 1, AML_RES_CACHEABLE), -EINVAL);

	/* A template: Buffer, BufferSize, the descriptors, an End Tag making the sum 0. */
	aml_init(&a, buf, sizeof(buf));
	m = aml_res_begin(&a);
	aml_res_io(&a, 0x3f8, 1, 8);
	aml_res_irq(&a, 4);
	aml_res_end(&a, m);
	TEST_OK(aml_finish(&a, &len));
	TEST_ASSERT(len == 3 + 1 + 8 + 3 + 2 && buf[0] == 0x11 && buf[1] == len - 1 &&
		    buf[2] == 0x0a && buf[3] == 13, "ResourceTemplate framing (%zu bytes)", len);
	TEST_ASSERT(buf[len - 2] == 0x79, "End Tag last");
	for (size_t i = 4; i < len; i++)
		sum = (uint8_t)(sum + buf[i]);
	TEST_ASSERT(sum == 0, "the descriptors and the End Tag sum to 0x%02x", sum);
}

/* A full buffer: -ENOSPC, sticky, nothing written past the end; other errors sticky too. */
static void errors(void)
{
	uint8_t small[8];
	struct aml a;
	aml_mark m;
	size_t len;

	memset(small, 0xee, sizeof(small));
	aml_init(&a, small, 3);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0);
	TEST_ASSERT(aml_finish(&a, &len) == -ENOSPC, "5 bytes into 3");
	for (size_t i = 3; i < sizeof(small); i++)
		TEST_ASSERT(small[i] == 0xee, "byte %zu written", i);
	/* The PkgLength's insertion is what does not fit. */
	aml_init(&a, small, 5);
	m = aml_scope_begin(&a, "AB");
	aml_scope_end(&a, m);
	TEST_ASSERT(aml_finish(&a, &len) == -ENOSPC && a.len == 5, "PkgLength past the end");
	for (size_t i = 5; i < sizeof(small); i++)
		TEST_ASSERT(small[i] == 0xee, "byte %zu written", i);
	aml_init(&a, NULL, 100);
	aml_integer(&a, 0);
	TEST_ASSERT(aml_finish(&a, &len) == -ENOSPC, "no buffer");
	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "bad");
	aml_integer(&a, 0);
	TEST_ASSERT(aml_finish(&a, &len) == -EINVAL && a.len == 0, "-EINVAL sticks");
	/* An object larger than a PkgLength can say: -E2BIG (no 256 MiB buffer: a fake one). */
	aml_init(&a, buf, sizeof(buf));
	a.len = AML_PKG_LENGTH_MAX;
	a.cap = (size_t)AML_PKG_LENGTH_MAX + 16;
	aml_scope_end(&a, 0);
	TEST_ASSERT(aml_finish(&a, &len) == -E2BIG, "2^28 bytes in a PkgLength");
}

void acpi_run_aml(const void *arg)
{
	integers_names_strings();
	pkg_lengths();
	containers();
	resources();
	errors();
	TEST_PASS("AML encodings, PkgLength boundaries, resource descriptors, sticky errors");
}
