/* SPDX-License-Identifier: MIT */
/*
 * x86-64 definitions shared by the test guest's assembly (boot.S) and C code:
 * GDT selectors, control-register and page-table bits, the page-table pool,
 * and (for C) port I/O and the CPU helpers in cpu.c.
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

/* GDT layout (boot.S). */
#define SEL_KCODE    0x08   /* 64-bit ring-0 code */
#define SEL_KDATA    0x10   /* ring-0 data */
#define SEL_KCODE32  0x18   /* 32-bit ring-0 code, used during boot only */
#define SEL_UCODE    0x20   /* 64-bit ring-3 code */
#define SEL_UDATA    0x28   /* ring-3 data */
#define SEL_TSS      0x30   /* 64-bit TSS, 16 bytes */
#define GDT_ENTRIES  8

#define CR0_PE       (1 << 0)
#define CR0_WP       (1 << 16)
#define CR0_PG       0x80000000
#define CR4_PAE      (1 << 5)
#define MSR_EFER     0xc0000080
#define EFER_LME     (1 << 8)
#define RFLAGS_FIXED 0x2    /* bit 1 is always set; IF stays clear */
#define VEC_UD       6

/* Page-table entry bits; every entry is user-accessible so ring 3 can run. */
#define PTE_P        (1 << 0)
#define PTE_W        (1 << 1)
#define PTE_U        (1 << 2)
#define PTE_PWT      (1 << 3)
#define PTE_PCD      (1 << 4)   /* with PWT: uncached under the power-on PAT */
#define PTE_PS       (1 << 7)   /* 2 MiB page in a PD, 1 GiB page in a PDPT */
#define PTE_TABLE    (PTE_P | PTE_W | PTE_U)
#define PTE_LARGE    (PTE_P | PTE_W | PTE_U | PTE_PS)

#define PAGE_SIZE          4096
#define LARGE_PAGE_SHIFT   21
#define GIB_SHIFT          30
#define BOOT_MAPPED_GIB    4    /* mapped by boot.S before long mode */
#define MAX_MAPPED_GIB     64   /* one page directory per GiB in the pool */
/* Page-table pages for paging_map() (device and hotplug memory). */
#define PT_DYN_PAGES       64

#define KERNEL_STACK_SIZE  16384
#define USER_STACK_SIZE    16384

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* Defined in boot.S and the linker script. */
extern uint64_t pt_pdpt[512];
extern uint64_t pt_pd_pool[MAX_MAPPED_GIB][512];
extern uint64_t pt_pml4[512];
extern uint64_t pt_dyn_pool[PT_DYN_PAGES][512];
extern char _end[];

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b,
			 uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			 : "a"(leaf), "c"(0));
}

static inline __attribute__((noreturn)) void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Loads the GDT's TSS and the IDT; exceptions are reported from then on. */
void cpu_init(void);

/*
 * Maps [4 GiB, top) with 2 MiB pages, capped at MAX_MAPPED_GIB. Returns the
 * end of the identity map (at least 4 GiB).
 */
uint64_t paging_map_up_to(uint64_t top);

/*
 * Identity-maps [start, end), widened to 2 MiB boundaries, below 128 TiB:
 * 1 GiB pages where the CPU has them and a whole aligned GiB is inside the
 * range, 2 MiB pages elsewhere, uncached (PCD|PWT) when UNCACHED (device
 * memory), write-back otherwise. Entries already there are rewritten with
 * the new attributes. Returns NULL, or why it could not (the page-table
 * pool, PT_DYN_PAGES pages, is used up; the range is out of reach).
 */
const char *paging_map(uint64_t start, uint64_t end, bool uncached);

/*
 * Runs fn(arg) in ring 3, where code runs natively instead of in KVM's
 * instruction emulator, and returns its result.
 */
uint64_t user_call(uint64_t (*fn)(void *arg), void *arg);

enum cpu_fault {
	CPU_FAULT_UD,           /* ud2 */
	CPU_FAULT_DE,           /* divide by zero */
	CPU_FAULT_GP,           /* non-canonical access */
	CPU_FAULT_PF,           /* access to an unmapped address */
};

/* Raises FAULT in ring 0. Returns only if no exception was taken. */
void cpu_raise_fault(enum cpu_fault fault);
__attribute__((noreturn)) void cpu_triple_fault(void);
#endif

#endif /* GUEST_CPU_H */
