// SPDX-License-Identifier: MIT
/* virtio-balloon (virtio 1.2 §5.5): inflate, deflate, free page reporting, statistics. */
#include <stddef.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "balloon.h"
#include "cpu.h"

#define REQUEST_TIMEOUT_MS   60000      /* a chain discards up to 64 MiB on the host */
#define CONFIG_READ_TRIES    100        /* generation changes before giving up */
#define WANTED_FEATURES      (1ull << VIRTIO_BALLOON_F_STATS_VQ | \
			      1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM | \
			      1ull << VIRTIO_BALLOON_F_REPORTING)
#define CFG_OFF(field)       offsetof(struct virtio_balloon_config, field)
#define CFG_BYTES_NEEDED     (CFG_OFF(actual) + 4)
#define PFN_LIMIT            (1ull << 32)       /* PFNs are 32-bit */
#define TOUCH_MAGIC          0x62616c6c6f6f6e00ull
#define PAGES_PER_BLOCK      (BALLOON_REPORT_BLOCK_BYTES / PAGE_SIZE)

_Static_assert(sizeof(struct balloon_stat) == 10, "virtio_balloon_stat layout");

/* The chain's PFNs; .noinit: not cleared at boot, written before use. */
static uint32_t pfn_buf[BALLOON_CHAIN_PFNS] __attribute__((section(".noinit")));
/* Free page reporting: the blocks of the chain being sent. */
static uint64_t report_addrs[BALLOON_REPORT_CHAIN_MAX];

/* ---- ring 3 ------------------------------------------------------------------ */

struct page_run {
	uint32_t *pfns;         /* NULL: no PFNs */
	uint64_t addr, pages;
	bool write;             /* write the touch word */
	bool check;             /* and read it back: returns the pages where it did not stick */
};

static uint64_t touch_word(uint64_t addr)
{
	return addr ^ TOUCH_MAGIC;
}

/* One run of contiguous pages: PFNs, touches, checks. */
static uint64_t user_page_run(void *arg)
{
	const struct page_run *run = arg;
	uint64_t a = run->addr, bad = 0;

	for (uint64_t i = 0; i < run->pages; i++, a += PAGE_SIZE) {
		volatile uint64_t *word = (volatile uint64_t *)a;

		if (run->write)
			*word = touch_word(a);
		if (run->check)
			bad += *word != touch_word(a);
		if (run->pfns)
			run->pfns[i] = (uint32_t)(a / PAGE_SIZE);
	}
	return bad;
}

struct block_touch {
	const uint64_t *addrs;
	unsigned int n;
};

static uint64_t user_block_touch(void *arg)
{
	const struct block_touch *job = arg;

	for (unsigned int b = 0; b < job->n; b++)
		for (uint64_t a = job->addrs[b]; a < job->addrs[b] + BALLOON_REPORT_BLOCK_BYTES;
		     a += PAGE_SIZE)
			*(volatile uint64_t *)a = touch_word(a);
	return job->n;
}

/* ---- the record ---------------------------------------------------------------- */

/* Free page I's address, and how many free pages from it on are contiguous (at most MAX). */
static uint64_t run_at(const struct free_ram *fr, uint64_t i, uint64_t max, uint64_t *addr)
{
	for (unsigned int r = 0; r < fr->count; r++) {
		uint64_t n = (fr->ranges[r].end - fr->ranges[r].start) / PAGE_SIZE;

		if (i < n) {
			*addr = fr->ranges[r].start + i * PAGE_SIZE;
			n -= i;
			return n < max ? n : max;
		}
		i -= n;
	}
	*addr = 0;
	return 0;
}

/*
 * Free pages [first, first + n): PFNs into pfn_buf (when PFNS), the touch
 * word written (WRITE) and read back (CHECK), in ring 3 a run at a time.
 * Returns the pages where the word did not stick.
 */
static uint64_t pages_visit(const struct balloon *b, uint64_t first, uint64_t n, bool pfns,
			    bool write, bool check)
{
	uint64_t done = 0, bad = 0;

	while (done < n) {
		struct page_run run = { .write = write, .check = check };

		run.pages = run_at(b->ram, first + done, n - done, &run.addr);
		if (!run.pages)
			break;
		run.pfns = pfns ? pfn_buf + done : NULL;
		bad += user_call(user_page_run, &run);
		done += run.pages;
	}
	return bad;
}

uint64_t balloon_room(const struct balloon *b)
{
	uint64_t top = b->ram->pages - b->inflated;

	return top > b->floor ? top - b->floor : 0;
}

static const char *chain_why(enum virtio_result r)
{
	switch (r) {
	case VIRTIO_OK: return NULL;
	case VIRTIO_NEEDS_RESET: return "the device set DEVICE_NEEDS_RESET";
	case VIRTIO_TIMEOUT: return "a chain did not come back within 60 s";
	default: return "a chain came back wrong";
	}
}

enum virtio_result balloon_pfns_send(struct balloon *b, unsigned int q, const uint32_t *pfns,
				     uint32_t bytes)
{
	const struct virtio_buf buf = { pfns, bytes, false };
	uint64_t t = rdtsc();
	uint32_t written;
	enum virtio_result r;

	r = virtio_chain_request(&b->dev, q, &buf, 1, &written, REQUEST_TIMEOUT_MS);
	b->request_cycles += rdtsc() - t;
	b->chains++;
	b->pfns += bytes / 4;
	if (r != VIRTIO_OK)
		b->ready = false;       /* the queue's state is unknown: initialize again */
	return r;
}

const char *balloon_inflate(struct balloon *b, uint64_t pages)
{
	if (pages > balloon_room(b))
		return "not that much free RAM above what the guest uses";
	while (pages) {
		uint64_t n = pages < BALLOON_CHAIN_PFNS ? pages : BALLOON_CHAIN_PFNS;
		uint64_t first = b->ram->pages - b->inflated - n;
		enum virtio_result r;

		/* The highest pages first: backed by the host before they go back. */
		pages_visit(b, first, n, true, true, false);
		r = balloon_pfns_send(b, BALLOON_QUEUE_INFLATE, pfn_buf, (uint32_t)(n * 4));
		if (r != VIRTIO_OK)
			return chain_why(r);
		b->inflated += n;
		pages -= n;
	}
	return NULL;
}

const char *balloon_deflate(struct balloon *b, uint64_t pages)
{
	if (pages > b->inflated)
		return "fewer pages than that are in the balloon";
	while (pages) {
		uint64_t n = pages < BALLOON_CHAIN_PFNS ? pages : BALLOON_CHAIN_PFNS;
		uint64_t first = b->ram->pages - b->inflated;
		enum virtio_result r;

		/* The lowest pages of the balloon first. */
		pages_visit(b, first, n, true, false, false);
		r = balloon_pfns_send(b, BALLOON_QUEUE_DEFLATE, pfn_buf, (uint32_t)(n * 4));
		if (r != VIRTIO_OK)
			return chain_why(r);
		b->inflated -= n;
		pages -= n;
		/* Usable again: a word written reads back (its old content is undefined). */
		b->touch_bad += pages_visit(b, first, n, false, true, true);
	}
	return NULL;
}

/* ---- free page reporting -------------------------------------------------------- */

/* Where report blocks may lie: [lo, hi) in addresses, between the guest's pages and the balloon. */
static bool report_window(const struct balloon *b, uint64_t *lo, uint64_t *hi)
{
	uint64_t top = b->ram->pages - b->inflated;

	if (top <= b->floor)
		return false;
	(void)run_at(b->ram, b->floor, 1, lo);
	(void)run_at(b->ram, top - 1, 1, hi);
	*hi += PAGE_SIZE;
	return true;
}

/*
 * The next report block down from *CURSOR (an address: blocks end at or
 * below it), inside free RAM and [lo, hi); false when there is none.
 */
static bool report_next(const struct balloon *b, uint64_t lo, uint64_t hi, uint64_t *cursor,
			uint64_t *block)
{
	const uint64_t bs = BALLOON_REPORT_BLOCK_BYTES;

	for (unsigned int r = b->ram->count; r-- > 0;) {
		uint64_t start = b->ram->ranges[r].start, end = b->ram->ranges[r].end;

		if (start < lo)
			start = lo;
		if (end > hi)
			end = hi;
		if (end > *cursor)
			end = *cursor;
		start = (start + bs - 1) / bs * bs;
		end = end / bs * bs;
		if (start < end) {
			*block = end - bs;
			*cursor = *block;
			return true;
		}
	}
	return false;
}

uint64_t balloon_report_room(const struct balloon *b)
{
	uint64_t lo, hi, cursor = UINT64_MAX, block, bytes = 0;

	if (!report_window(b, &lo, &hi))
		return 0;
	while (report_next(b, lo, hi, &cursor, &block))
		bytes += BALLOON_REPORT_BLOCK_BYTES;
	return bytes;
}

const char *balloon_report(struct balloon *b, uint64_t bytes, uint64_t *ranges, uint64_t *chains)
{
	struct virtio_buf bufs[BALLOON_REPORT_CHAIN_MAX];
	uint64_t lo = 0, hi = 0, cursor = UINT64_MAX, left = bytes / BALLOON_REPORT_BLOCK_BYTES;
	unsigned int per_chain;

	*ranges = *chains = 0;
	if (b->report_q < 0)
		return "VIRTIO_BALLOON_F_REPORTING was not negotiated";
	if (!bytes || bytes % BALLOON_REPORT_BLOCK_BYTES)
		return "size is not a positive multiple of 2 MiB";
	if (balloon_report_room(b) < bytes)
		return "not that much free memory in 2 MiB blocks";
	per_chain = b->dev.q[b->report_q].size;
	if (per_chain > BALLOON_REPORT_CHAIN_MAX)
		per_chain = BALLOON_REPORT_CHAIN_MAX;
	(void)report_window(b, &lo, &hi);
	while (left) {
		struct block_touch job = { report_addrs, 0 };
		uint32_t written;
		enum virtio_result r;

		while (job.n < per_chain && job.n < left &&
		       report_next(b, lo, hi, &cursor, &report_addrs[job.n])) {
			bufs[job.n] = (struct virtio_buf){
				(const volatile void *)(uintptr_t)report_addrs[job.n],
				(uint32_t)BALLOON_REPORT_BLOCK_BYTES, true,
			};
			job.n++;
		}
		if (!job.n)
			return "report blocks ran out";
		user_call(user_block_touch, &job);
		r = virtio_chain_request(&b->dev, (unsigned int)b->report_q, bufs, job.n, &written,
					 REQUEST_TIMEOUT_MS);
		++*chains;
		if (r != VIRTIO_OK) {
			b->ready = false;
			return chain_why(r);
		}
		*ranges += job.n;
		left -= job.n;
	}
	return NULL;
}

/* ---- statistics ------------------------------------------------------------------- */

enum virtio_result balloon_stats_give(struct balloon *b)
{
	const struct virtio_buf buf = { b->stats, sizeof(b->stats), false };
	uint64_t total = b->ram->pages, avail = total - b->inflated;
	uint64_t used = b->floor < avail ? b->floor : avail;
	enum virtio_result r;

	if (b->stats_q < 0)
		return VIRTIO_NO_QUEUE;
	if (b->dev.q[b->stats_q].in_flight)
		return VIRTIO_BUSY;
	b->stats[0] = (struct balloon_stat){ VIRTIO_BALLOON_S_MEMTOT, total * PAGE_SIZE };
	b->stats[1] = (struct balloon_stat){ VIRTIO_BALLOON_S_MEMFREE, (avail - used) * PAGE_SIZE };
	b->stats[2] = (struct balloon_stat){ VIRTIO_BALLOON_S_AVAIL, avail * PAGE_SIZE };
	b->stats[3] = (struct balloon_stat){ VIRTIO_BALLOON_S_MINFLT, b->stats_sent };
	r = virtio_chain_add(&b->dev, (unsigned int)b->stats_q, &buf, 1);
	if (r == VIRTIO_OK)
		b->stats_sent++;
	return r;
}

enum virtio_result balloon_stats_wait(struct balloon *b, uint64_t timeout_ms)
{
	uint32_t written;
	enum virtio_result r;

	if (b->stats_q < 0)
		return VIRTIO_NO_QUEUE;
	r = virtio_chain_wait(&b->dev, (unsigned int)b->stats_q, timeout_ms, &written);
	if (r == VIRTIO_NEEDS_RESET || r == VIRTIO_BAD_USED)
		b->ready = false;
	return r;
}

/* ---- the device ------------------------------------------------------------------- */

const char *balloon_config_read(struct balloon *b)
{
	unsigned int tries;
	uint32_t num, actual;
	uint8_t gen;

	/* §4.1.4.3.1: the generation before and after; equal means one consistent view. */
	for (tries = 0; tries < CONFIG_READ_TRIES; tries++) {
		gen = virtio_config_generation(&b->dev);
		num = virtio_config_read32(&b->dev, CFG_OFF(num_pages));
		actual = virtio_config_read32(&b->dev, CFG_OFF(actual));
		if (gen == virtio_config_generation(&b->dev))
			break;
	}
	if (tries == CONFIG_READ_TRIES)
		return "the configuration generation never stood still";
	b->num_pages = num;
	b->actual = actual;
	return NULL;
}

void balloon_actual_write(struct balloon *b)
{
	virtio_config_write32(&b->dev, CFG_OFF(actual), (uint32_t)b->inflated);
}

const char *balloon_reinit(struct balloon *b)
{
	uint64_t f, offered = b->dev.device_features;
	unsigned int nq = 2;
	const char *why;

	b->ready = false;
	b->inflated = 0;        /* a reset empties the balloon (§5.5.6: pages are the guest's again) */
	b->stats_q = b->report_q = -1;
	/* Without FREE_PAGE_HINT, a device numbering by its offer would put reporting elsewhere. */
	f = WANTED_FEATURES;
	if (offered & 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT)
		f &= ~(1ull << VIRTIO_BALLOON_F_REPORTING);
	if ((why = virtio_init_features(&b->dev, f, false)))
		return why;
	f = b->dev.driver_features;
	if (f & 1ull << VIRTIO_BALLOON_F_STATS_VQ)
		b->stats_q = (int)nq++;
	if (f & 1ull << VIRTIO_BALLOON_F_REPORTING)
		b->report_q = (int)nq++;
	if ((why = virtio_init_queues(&b->dev, nq, VIRTIO_QUEUE_SIZE_MAX)) ||
	    (why = balloon_config_read(b)))
		return why;
	b->ready = true;
	/* §5.5.6.3: a buffer on statsq from the start. */
	if (b->stats_q >= 0 && balloon_stats_give(b) != VIRTIO_OK)
		return "the first stats buffer could not be given";
	return NULL;
}

const char *balloon_open(struct balloon *b, const struct free_ram *ram, uint64_t cycles_per_ms,
			 bool *first)
{
	const char *why;

	*first = false;
	b->ram = ram;
	if (b->ready)
		return NULL;
	if (b->probed)
		return balloon_reinit(b);
	if (ram->count && ram->ranges[ram->count - 1].end / PAGE_SIZE > PFN_LIMIT)
		return "free RAM reaches above 16 TiB (32-bit PFNs)";
	if ((why = virtio_probe(&b->dev, VIRTIO_ID_BALLOON, cycles_per_ms)))
		return why;
	if (b->dev.device.len < CFG_BYTES_NEEDED)
		return "device configuration shorter than num_pages and actual";
	b->probed = *first = true;
	/* The device's offer, for balloon_reinit() (virtio_init_features() reads it again). */
	if ((why = virtio_init_features(&b->dev, 0, false)))
		return why;
	return balloon_reinit(b);
}

uint8_t balloon_corrupt(struct balloon *b, enum virtio_corruption kind, uint64_t timeout_ms,
			bool *used)
{
	/* A harmless chain (a PFN no RAM has) made broken. */
	pfn_buf[0] = UINT32_MAX;
	b->ready = false;
	b->chains++;
	return virtio_corrupt(&b->dev, BALLOON_QUEUE_INFLATE, kind, pfn_buf, 4, NULL, 0,
			      timeout_ms, used);
}
