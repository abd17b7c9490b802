// SPDX-License-Identifier: MIT
/*
 * ext_guest: a guest written outside memvmm, for snapshot round trips.
 *
 * It is built only from public specifications (the Xen PVH boot ABI, the
 * Intel/AMD manuals, the 16550A UART) and the guest ABI that memvmm's
 * README documents (COM1 at 0x3f8, the exit port 0x501); it shares no code
 * or header with memvmm. See README.md.
 *
 * What it does: fills mb=N MiB of RAM above its image, one 64-bit word per
 * 4 KiB page, with a value made from the page's address and a seed taken
 * from the TSC at boot; then for rounds=R rounds checks every page's word
 * and writes the next round's value into it (so each round dirties every
 * page), printing one line per round, and exits through the exit port:
 * 0 when every round passed, 3 at the first round with a bad page.
 */

#include "ext_guest.h"

#define FILL_RANGES_MAX 64
#define BAD_LINES_MAX 8 /* BAD lines printed per round; all are counted */

#define DEFAULT_FILL_MIB 64
#define DEFAULT_ROUNDS 50
#define DEFAULT_GAP_MS 200
#define MAX_FILL_MIB (1ULL << 20) /* 1 TiB */
#define MAX_ROUNDS 1000000
#define MAX_GAP_MS 60000

struct config {
	uint64_t fill_mib;
	uint64_t rounds;
	uint64_t gap_ms;
	uint64_t corrupt_round; /* 0: none; else flip one word before this round */
};

static struct range fill[FILL_RANGES_MAX];
static unsigned int nr_fill;

extern char ext_image_end[]; /* ext_guest.ld */
extern const uint64_t ext_text_start[], ext_text_end[];
void ext_main(uint32_t start_info_pa);

/* ---- command line ------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix, const char **rest)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	*rest = s;
	return true;
}

/* Decimal, the whole token up to the space or the end; no overflow. */
static bool parse_u64(const char *s, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void config_parse(char *cmdline, struct config *cfg)
{
	*cfg = (struct config){
		.fill_mib = DEFAULT_FILL_MIB,
		.rounds = DEFAULT_ROUNDS,
		.gap_ms = DEFAULT_GAP_MS,
	};
	for (char *p = cmdline; *p;) {
		char *end;
		const char *v;
		bool ok;

		if (*p == ' ') {
			p++;
			continue;
		}
		for (end = p; *end && *end != ' '; end++)
			;
		if (starts_with(p, "mb=", &v))
			ok = parse_u64(v, end, MAX_FILL_MIB, &cfg->fill_mib) && cfg->fill_mib;
		else if (starts_with(p, "rounds=", &v))
			ok = parse_u64(v, end, MAX_ROUNDS, &cfg->rounds) && cfg->rounds;
		else if (starts_with(p, "gap_ms=", &v))
			ok = parse_u64(v, end, MAX_GAP_MS, &cfg->gap_ms);
		else if (starts_with(p, "corrupt=", &v))
			ok = parse_u64(v, end, MAX_ROUNDS, &cfg->corrupt_round) &&
			     cfg->corrupt_round;
		else
			ok = false;
		if (!ok) {
			*end = '\0';
			say("bad option '%s' (takes mb=1..%u rounds=1..%u gap_ms=0..%u "
			    "corrupt=ROUND)", p, (uint64_t)MAX_FILL_MIB, (uint64_t)MAX_ROUNDS,
			    (uint64_t)MAX_GAP_MS);
			fail_setup();
		}
		p = end;
	}
	if (cfg->corrupt_round > cfg->rounds) {
		say("corrupt=%u is past rounds=%u", cfg->corrupt_round, cfg->rounds);
		fail_setup();
	}
}

/* ---- the fill and the rounds -------------------------------------------- */

static uint64_t fill_pages_wanted, fill_pages;

static bool fill_take(uint64_t base, uint64_t end)
{
	uint64_t pages = (end - base) / PAGE_BYTES;

	if (nr_fill == FILL_RANGES_MAX)
		return false;
	if (pages > fill_pages_wanted - fill_pages)
		pages = fill_pages_wanted - fill_pages;
	fill[nr_fill++] = (struct range){ base, base + pages * PAGE_BYTES };
	fill_pages += pages;
	return fill_pages < fill_pages_wanted;
}

/* One word per page, its place in the page moving with the page number. */
static inline volatile uint64_t *page_word(uint64_t page)
{
	return phys(page + ((page / PAGE_BYTES) % (PAGE_BYTES / 8)) * 8);
}

/* splitmix64's finalizer over the page address and the boot seed. */
static inline uint64_t page_value(uint64_t page, uint64_t seed)
{
	uint64_t x = page ^ seed;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void fill_write(uint64_t seed)
{
	for (unsigned int i = 0; i < nr_fill; i++)
		for (uint64_t p = fill[i].base; p < fill[i].end; p += PAGE_BYTES)
			*page_word(p) = page_value(p, seed);
}

/*
 * Round r (1-based) expects value + r - 1 in every page and leaves
 * value + r. Returns the number of bad pages (which are not rewritten).
 */
static uint64_t round_check(uint64_t round, uint64_t seed)
{
	uint64_t bad = 0;

	for (unsigned int i = 0; i < nr_fill; i++) {
		for (uint64_t p = fill[i].base; p < fill[i].end; p += PAGE_BYTES) {
			volatile uint64_t *w = page_word(p);
			uint64_t want = page_value(p, seed) + round - 1;
			uint64_t got = *w;

			if (got == want) {
				*w = want + 1;
				continue;
			}
			if (bad++ < BAD_LINES_MAX)
				say("round %u BAD page=%x got=%x want=%x", round, p, got, want);
		}
	}
	return bad;
}

/* The guest's own code and read-only data: a restore must bring them back too. */
static uint64_t image_sum(void)
{
	uint64_t h = 0;

	for (const volatile uint64_t *w = ext_text_start; w < ext_text_end; w++)
		h = ((h << 1) | (h >> 63)) ^ *w;
	return h;
}

/* ---- main --------------------------------------------------------------- */

void ext_main(uint32_t start_info_pa)
{
	struct config cfg;
	const char *tsc_from;
	unsigned int nr_ram;

	idt_setup();
	char *cmdline = boot_info_read(start_info_pa);
	config_parse(cmdline, &cfg);
	uint64_t tsc_khz = tsc_khz_detect(&tsc_from);
	uint64_t ram_bytes = boot_ram_bytes(&nr_ram);
	say("start mb=%u rounds=%u gap_ms=%u ram_kib=%u ram_ranges=%u tsc_khz=%u tsc_from=%s "
	    "cmdline='%s'", cfg.fill_mib, cfg.rounds, cfg.gap_ms, ram_bytes >> 10,
	    (uint64_t)nr_ram, tsc_khz, tsc_from, cmdline);

	uint64_t image_end = align_up((uint64_t)(uintptr_t)ext_image_end, PAGE_BYTES);
	uint64_t free_start = paging_setup(image_end);

	fill_pages_wanted = cfg.fill_mib * (MIB_BYTES / PAGE_BYTES);
	free_ram_walk(free_start, fill_take);
	if (fill_pages < fill_pages_wanted) {
		say("mb=%u needs %u pages, only %u free above %x", cfg.fill_mib,
		    fill_pages_wanted, fill_pages, free_start);
		fail_setup();
	}
	for (unsigned int i = 0; i < nr_fill; i++)
		say("fill base=%x pages=%u", fill[i].base, (fill[i].end - fill[i].base) / PAGE_BYTES);

	uint64_t image_want = image_sum();
	uint64_t seed = rdtsc();
	fill_write(seed);
	say("filled pages=%u seed=%x", fill_pages, seed);

	for (uint64_t round = 1; round <= cfg.rounds; round++) {
		if (round == cfg.corrupt_round) {
			const struct range *f = &fill[nr_fill / 2];
			uint64_t p = f->base + (f->end - f->base) / PAGE_BYTES / 2 * PAGE_BYTES;
			*page_word(p) ^= 1;
			say("corrupt round=%u page=%x", round, p);
		}
		uint64_t bad = round_check(round, seed);
		uint64_t image_got = image_sum();
		if (image_got != image_want) {
			say("round %u BAD image sum=%x want=%x", round, image_got, image_want);
			bad++;
		}
		if (bad) {
			say("round %u bad=%u pages=%u", round, bad, fill_pages);
			guest_exit(EXIT_BAD_PAGE);
		}
		say("round %u ok pages=%u", round, fill_pages);
		if (round < cfg.rounds)
			spin_ms(cfg.gap_ms, tsc_khz);
	}
	say("done");
	guest_exit(EXIT_OK);
}
