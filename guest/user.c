// SPDX-License-Identifier: MIT
/* Ring-3 page loops: one 64-bit word per 4 KiB page, in free-RAM order. */
#include <stdbool.h>

#include "abi.h"
#include "cpu.h"
#include "user.h"

/* Visits word 0 of page I of JOB; returns the new accumulator. */
typedef uint64_t page_visit_fn(const struct page_job *job, volatile uint64_t *word,
			       uint64_t i, uint64_t acc);

/* Folds VISIT over the job's pages. Inlined, so VISIT is too. */
static inline __attribute__((always_inline)) uint64_t
walk_pages(const struct page_job *job, page_visit_fn *visit)
{
	uint64_t i = 0, acc = 0;

	for (unsigned int r = 0; r < job->ram->count && i < job->pages; r++) {
		const struct mem_range *range = &job->ram->ranges[r];
		uint64_t n = (range->end - range->start) / PAGE_SIZE;

		if (n > job->pages - i)
			n = job->pages - i;
		for (uint64_t a = range->start; n; n--, a += PAGE_SIZE, i++)
			acc = visit(job, (volatile uint64_t *)a, i, acc);
	}
	return acc;
}

static uint64_t touch_page(const struct page_job *job, volatile uint64_t *word,
			   uint64_t i, uint64_t acc)
{
	*word = memvmm_page_value(i);
	return acc + 1;
}

static uint64_t bump_page(const struct page_job *job, volatile uint64_t *word,
			  uint64_t i, uint64_t acc)
{
	*word = *word + 1;
	return acc + 1;
}

static uint64_t verify_page(const struct page_job *job, volatile uint64_t *word,
			    uint64_t i, uint64_t acc)
{
	uint64_t want = memvmm_page_value(i) + (i < job->bumped ? job->bumps : 0);

	return acc + (*word != want);
}

static uint64_t sum_page(const struct page_job *job, volatile uint64_t *word,
			 uint64_t i, uint64_t acc)
{
	return acc + *word;
}

uint64_t user_touch(void *job)
{
	return walk_pages(job, touch_page);
}

uint64_t user_bump(void *job)
{
	return walk_pages(job, bump_page);
}

uint64_t user_verify(void *job)
{
	return walk_pages(job, verify_page);
}

uint64_t user_checksum(void *job)
{
	return walk_pages(job, sum_page);
}

uint64_t user_vmem_touch(void *arg)
{
	struct vmem_touch_job *job = arg;
	uint64_t per_block = job->block_size / PAGE_SIZE;

	for (uint64_t b = 0; b < job->nblocks; b++) {
		uint64_t bit = 1ull << (b % 64), page = b * per_block;
		bool fresh = !(job->touched[b / 64] & bit);
		uint64_t a = job->base + b * job->block_size;

		if (!(job->plugged[b / 64] & bit)) {
			if (!job->plugged[b / 64])
				b |= 63;        /* a word of unplugged blocks */
			continue;
		}
		for (uint64_t i = 0; i < per_block; i++, page++, a += PAGE_SIZE) {
			volatile uint64_t *word = (volatile uint64_t *)a;
			uint64_t want = memvmm_page_value(page);

			if (fresh)
				job->nonzero += *word != 0;
			else
				job->bad += *word != want;
			*word = want;
		}
		job->touched[b / 64] |= bit;
		job->blocks++;
		job->pages += per_block;
		job->fresh += fresh ? per_block : 0;
	}
	return job->pages;
}
