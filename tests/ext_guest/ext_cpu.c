// SPDX-License-Identifier: MIT
/*
 * ext_guest: console (a 16550A at COM1, polled), the exit port, exceptions
 * and the TSC. See README.md for where each piece comes from.
 */

#include <stdarg.h>

#include "ext_guest.h"

#define COM1_DATA_PORT 0x3f8
#define COM1_LSR_PORT 0x3fd
#define LSR_THR_EMPTY 0x20 /* line status bit 5: transmit holding register empty */
#define EXIT_PORT 0x501     /* memvmm README; also QEMU's isa-debug-exit default */

#define IDT_VECTORS 32
#define IDT_STUB_BYTES 16 /* ext_guest.S: one 16-byte stub per vector */
#define SEL_CODE64 0x08
#define GATE_INTERRUPT_PRESENT 0x8e

#define ASSUMED_TSC_KHZ 2000000ULL /* 2 GHz when the CPU does not say */
#define CPUID_HV_BASE 0x40000000U
#define CPUID_HV_TSC_LEAF 0x40000010U /* memvmm README: EAX = TSC kHz */
#define CPUID_HV_LAST 0x400000ffU
#define CPUID1_ECX_HYPERVISOR (1U << 31)

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t zero;
} __attribute__((packed));

static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

extern char ext_trap_stubs[];
void ext_trap(const uint64_t *frame);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

void guest_exit(uint8_t status)
{
	outb(EXIT_PORT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void fail_setup(void)
{
	guest_exit(EXIT_SETUP);
}

/* ---- console ------------------------------------------------------------ */

static void con_putc(char c)
{
	while (!(inb(COM1_LSR_PORT) & LSR_THR_EMPTY))
		;
	outb(COM1_DATA_PORT, (uint8_t)c);
}

static void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void con_dec(uint64_t v)
{
	char buf[24];
	int i = 0;

	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		con_putc(buf[--i]);
}

static void con_hex(uint64_t v)
{
	int shift = 60;

	con_puts("0x");
	while (shift > 0 && !((v >> shift) & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		con_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_puts("ext: ");
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		switch (*++fmt) {
		case 's':
			con_puts(va_arg(ap, const char *));
			break;
		case 'u':
			con_dec(va_arg(ap, uint64_t));
			break;
		case 'x':
			con_hex(va_arg(ap, uint64_t));
			break;
		case '%':
			con_putc('%');
			break;
		default:
			con_putc('?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	con_putc('\n');
	va_end(ap);
}

/* ---- exceptions --------------------------------------------------------- */

void idt_setup(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr;

	for (unsigned int v = 0; v < IDT_VECTORS; v++) {
		uint64_t a = (uint64_t)(uintptr_t)ext_trap_stubs + (uint64_t)v * IDT_STUB_BYTES;

		idt[v] = (struct idt_gate){
			.offset_lo = (uint16_t)a,
			.selector = SEL_CODE64,
			.ist = 0,
			.type_attr = GATE_INTERRUPT_PRESENT,
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
	idtr.limit = sizeof(idt) - 1;
	idtr.base = (uint64_t)(uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* frame: vector, error code, rip, cs, rflags, rsp, ss (see ext_guest.S). */
void ext_trap(const uint64_t *frame)
{
	say("exception vector=%u error=%x rip=%x rsp=%x cr2=%x", frame[0], frame[1], frame[2],
	    frame[5], read_cr2());
	guest_exit(EXIT_EXCEPTION);
}

/* ---- time --------------------------------------------------------------- */

uint64_t tsc_khz_detect(const char **from)
{
	uint32_t r[4];

	cpuid(0, r);
	uint32_t max_basic = r[0];
	cpuid(1, r);
	if (r[2] & CPUID1_ECX_HYPERVISOR) {
		cpuid(CPUID_HV_BASE, r);
		if (r[0] >= CPUID_HV_TSC_LEAF && r[0] <= CPUID_HV_LAST) {
			cpuid(CPUID_HV_TSC_LEAF, r);
			if (r[0]) {
				*from = "hypervisor-leaf";
				return r[0];
			}
		}
	}
	if (max_basic >= 0x15) {
		cpuid(0x15, r); /* EAX denominator, EBX numerator, ECX crystal Hz */
		if (r[0] && r[1] && r[2]) {
			*from = "cpuid-15";
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
		}
	}
	if (max_basic >= 0x16) {
		cpuid(0x16, r); /* EAX[15:0] base MHz */
		if (r[0] & 0xffff) {
			*from = "cpuid-16";
			return (uint64_t)(r[0] & 0xffff) * 1000;
		}
	}
	*from = "assumed";
	return ASSUMED_TSC_KHZ;
}

/*
 * A TSC that jumps across a snapshot and restore, forwards or backwards
 * (the unsigned difference is then huge), only ends the wait early.
 */
void spin_ms(uint64_t ms, uint64_t tsc_khz)
{
	uint64_t t0 = rdtsc(), ticks = ms * tsc_khz;

	while (rdtsc() - t0 < ticks)
		__asm__ volatile("pause");
}
