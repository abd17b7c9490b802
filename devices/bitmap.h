/* SPDX-License-Identifier: MIT */
/* Bitmaps of 64-bit words, for the devices' block and page maps (virtio-mem, the balloon). */
#ifndef MEMVMM_BITMAP_H
#define MEMVMM_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#define BITMAP_WORD_BITS 64u

/* Words holding `bits` bits. */
static inline uint64_t bitmap_words(uint64_t bits)
{
	return (bits + BITMAP_WORD_BITS - 1) / BITMAP_WORD_BITS;
}

static inline bool bitmap_test(const uint64_t *map, uint64_t b)
{
	return map[b / BITMAP_WORD_BITS] >> (b % BITMAP_WORD_BITS) & 1;
}

static inline void bitmap_assign(uint64_t *map, uint64_t b, bool set)
{
	uint64_t bit = 1ull << (b % BITMAP_WORD_BITS);

	if (set)
		map[b / BITMAP_WORD_BITS] |= bit;
	else
		map[b / BITMAP_WORD_BITS] &= ~bit;
}

#endif /* MEMVMM_BITMAP_H */
