// SPDX-License-Identifier: MIT
/* TSS, IDT, exception reports and test faults. */
#include "console.h"
#include "cpu.h"

#define IDT_EXCEPTIONS     32
#define GATE_INTERRUPT     0x8e     /* present, DPL 0, 64-bit interrupt gate */
#define TSS_TYPE_AVAILABLE 0x9
#define EXIT_EXCEPTION     64       /* exit status = 64 + vector */
#define UNMAPPED_ADDRESS   0x100000000000ull    /* 16 TiB: PML4[32], absent */
#define NONCANONICAL_ADDRESS 0x8000000000000000ull

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};

struct __attribute__((packed)) table_ptr {
	uint16_t limit;
	uint64_t base;
};

/* What trap_common in boot.S pushes, lowest address first. */
struct trap_frame {
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;      /* pushed by the CPU */
};

_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS layout");
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout");

/* user_call() writes TSS.RSP0 (offset 4) directly. */
struct tss64 tss = { .iomap_base = sizeof(struct tss64) };
static struct idt_gate idt[IDT_EXCEPTIONS];

extern uint64_t gdt[GDT_ENTRIES];
extern const uint64_t trap_stubs[IDT_EXCEPTIONS];
void trap_report(const struct trap_frame *f);

void cpu_init(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct table_ptr idtr = { sizeof(idt) - 1, (uint64_t)idt };

	gdt[SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
			   (uint64_t)TSS_TYPE_AVAILABLE << 40 | 1ull << 47 |
			   (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));

	for (unsigned int v = 0; v < IDT_EXCEPTIONS; v++) {
		uint64_t handler = trap_stubs[v];

		idt[v] = (struct idt_gate){
			.offset_low = (uint16_t)handler,
			.selector = SEL_KCODE,
			.type = GATE_INTERRUPT,
			.offset_mid = (uint16_t)(handler >> 16),
			.offset_high = (uint32_t)(handler >> 32),
		};
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void trap_report(const struct trap_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	con_printf("memvmm-guest: exception vector=%lu error=0x%lx rip=0x%lx "
		   "cr2=0x%lx\n", f->vector, f->error, f->rip, cr2);
	guest_exit(EXIT_EXCEPTION + (uint32_t)f->vector);
}

void cpu_raise_fault(enum cpu_fault fault)
{
	uint32_t lo = 1, hi = 0;

	switch (fault) {
	case CPU_FAULT_UD:
		__asm__ volatile("ud2");
		break;
	case CPU_FAULT_DE:
		__asm__ volatile("xorl %%ecx, %%ecx; divl %%ecx"
				 : "+a"(lo), "+d"(hi) : : "ecx");
		break;
	case CPU_FAULT_GP:
		__asm__ volatile("movq (%0), %%rax"
				 : : "r"(NONCANONICAL_ADDRESS) : "rax");
		break;
	case CPU_FAULT_PF:
		__asm__ volatile("movq (%0), %%rax"
				 : : "r"(UNMAPPED_ADDRESS) : "rax");
		break;
	}
}

void cpu_triple_fault(void)
{
	struct table_ptr none = { 0, 0 };

	__asm__ volatile("lidt %0; ud2" : : "m"(none));
	halt_forever();
}
