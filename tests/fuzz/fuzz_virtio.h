/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtio's shared parts: the input's script reader, guest-memory
 * helpers and the checks; fuzz_virtio.c has the entry point and walker
 * mode, fuzz_virtio_dev.c device mode (fuzz_virtio.c's comment says what
 * the input is).
 */
#ifndef MEMVMM_FUZZ_VIRTIO_H
#define MEMVMM_FUZZ_VIRTIO_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mem/mem.h"

#define FUZZ_RAM_BYTES        (4ull << 20)     /* boot RAM at gpa 0 */
#define FUZZ_IMAGE_BYTES      (64u << 10)      /* most of the input copied to gpa 0 */
#define DESC_BYTES            16u              /* struct vring_desc */

/* Not instrumented for coverage (long loops that find nothing new). */
#ifdef __clang__
#define FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_NO_COVERAGE
#endif

/* A broken rule: say which and where, and abort (libFuzzer keeps the input). */
#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/*
 * An input's parts: byte 0 the mode, bytes 1-2 the script's length (le16,
 * capped to what is there), the script, then the guest-memory image (at
 * most FUZZ_IMAGE_BYTES). False for an input too short to have a header.
 */
struct fuzz_input {
	uint8_t mode;
	const uint8_t *script, *img;
	size_t slen, ilen;
};

static inline bool fuzz_input_split(const uint8_t *data, size_t size, struct fuzz_input *in)
{
	if (size < 3)
		return false;
	in->mode = data[0];
	in->slen = (size_t)data[1] | (size_t)data[2] << 8;
	if (in->slen > size - 3)
		in->slen = size - 3;
	in->script = data + 3;
	in->img = data + 3 + in->slen;
	in->ilen = size - 3 - in->slen;
	if (in->ilen > FUZZ_IMAGE_BYTES)
		in->ilen = FUZZ_IMAGE_BYTES;
	return true;
}

/* FUZZ_VIRTIO_TRACE=1 in the environment: say what each op did (for writing seeds). */
static inline bool fuzz_tracing(void)
{
	static int trace = -1;

	if (trace < 0)
		trace = getenv("FUZZ_VIRTIO_TRACE") != NULL;
	return trace;
}

#define TRACE(...)                                                                    \
	do {                                                                          \
		if (fuzz_tracing())                                                   \
			fprintf(stderr, __VA_ARGS__);                                 \
	} while (0)

/* The script: little-endian fields; past its end everything reads 0. */
struct rd {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t rd_le(struct rd *r, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes && r->n; i++, r->p++, r->n--)
		v |= (uint64_t)*r->p << (8 * i);
	return v;
}

#define rd8(r)  ((uint8_t)rd_le(r, 1))
#define rd16(r) ((uint16_t)rd_le(r, 2))
#define rd32(r) ((uint32_t)rd_le(r, 4))
#define rd64(r) rd_le(r, 8)

/* An access width: 1, 2, 4 or 8. */
static inline unsigned int rd_size(struct rd *r)
{
	return 1u << (rd8(r) & 3);
}

/* A little-endian u16 of the guest; *ok cleared when it is not RAM. */
static inline uint16_t le16_at(struct guest_mem *gm, uint64_t gpa, bool *ok)
{
	uint16_t v = 0;

	*ok = *ok && mem_read(gm, gpa, &v, sizeof(v)) == 0;
	return le16toh(v);
}

static inline void image_load(struct guest_mem *gm, const uint8_t *img, size_t len)
{
	CHECK(!len || mem_write(gm, 0, img, len) == 0, "image of %zu bytes", len);
}

/* The script's poke op: 1-8 bytes at a 24-bit gpa (outside RAM: nothing, as for a guest). */
static inline void poke(struct guest_mem *gm, struct rd *r)
{
	uint64_t gpa = rd_le(r, 3);
	uint8_t b[8];
	unsigned int n = rd8(r) % 8 + 1;

	for (unsigned int i = 0; i < n; i++)
		b[i] = rd8(r);
	(void)!mem_write(gm, gpa, b, n);
}

/* The two modes (script, then image). */
void fuzz_walk_run(const uint8_t *script, size_t slen, const uint8_t *img, size_t ilen);
void fuzz_dev_run(uint8_t mode, const uint8_t *script, size_t slen, const uint8_t *img,
		  size_t ilen);

#endif /* MEMVMM_FUZZ_VIRTIO_H */
