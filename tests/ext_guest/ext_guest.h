/* SPDX-License-Identifier: MIT */
/*
 * ext_guest's internal interfaces: the CPU and console (ext_cpu.c), boot
 * information and page tables (ext_mem.c), used by the fill-and-check loop
 * (ext_guest.c). Nothing here comes from memvmm; see README.md.
 */
#ifndef EXT_GUEST_H
#define EXT_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_BYTES 4096ULL
#define MIB_BYTES (1ULL << 20)

/* Exit statuses, written to the exit port. */
#define EXIT_OK 0
#define EXIT_SETUP 2 /* bad command line, no usable memory map, no room */
#define EXIT_BAD_PAGE 3
#define EXIT_EXCEPTION 4

struct range {
	uint64_t base;
	uint64_t end; /* exclusive */
};

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static inline void *phys(uint64_t pa)
{
	return (void *)(uintptr_t)pa;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

/* ext_cpu.c */

/*
 * One line on COM1: "ext: " + fmt + "\n". %s a string, %u a uint64_t in
 * decimal, %x a uint64_t as 0x..., %% a '%'.
 */
void say(const char *fmt, ...);
/* Writes status to the exit port; halts should nothing happen. */
__attribute__((noreturn)) void guest_exit(uint8_t status);
__attribute__((noreturn)) void fail_setup(void);
void idt_setup(void);
/* TSC kHz: the hypervisor leaf, CPUID 0x15 or 0x16, else 2 GHz; *from says which. */
uint64_t tsc_khz_detect(const char **from);
void spin_ms(uint64_t ms, uint64_t tsc_khz);

/* ext_mem.c */

/*
 * Reads hvm_start_info at start_info_pa: the command line (returned,
 * writable, NUL-terminated), the memory map's RAM and the boot data that
 * must stay untouched (start_info, memory map, command line, modules).
 * Fails (exit 2) with a message when something is missing or unusable.
 */
char *boot_info_read(uint32_t start_info_pa);
/* RAM in the memory map: bytes and number of (merged) ranges. */
uint64_t boot_ram_bytes(unsigned int *ranges);
/*
 * Identity maps every 2 MiB page holding RAM, in page tables taken from
 * free RAM at or above image_end, and switches to them. Returns the first
 * byte above those tables.
 */
uint64_t paging_setup(uint64_t image_end);
/*
 * Walks free RAM (RAM minus boot data) at or above `from` in page-aligned
 * runs, lowest first, calling take(base, end) until it returns false.
 */
void free_ram_walk(uint64_t from, bool (*take)(uint64_t base, uint64_t end));

#endif
