// SPDX-License-Identifier: MIT
/* COM1 (16550A, polled) and the exit device. */
#include <stdarg.h>

#include "console.h"
#include "cpu.h"
#include "mem/machine.h"

#define UART_DATA        MACHINE_COM1_PORT
#define UART_LSR         (MACHINE_COM1_PORT + 5)
#define UART_LSR_DR      0x01   /* receive data ready */
#define UART_LSR_THRE    0x20   /* transmit holding register empty */
/* Give up waiting for THRE after this many polls and send anyway, so that a
 * device model that never sets it slows output down instead of hanging. */
#define UART_TX_POLLS    65536

void con_putc(char c)
{
	for (int i = 0; i < UART_TX_POLLS; i++)
		if (inb(UART_LSR) & UART_LSR_THRE)
			break;
	outb(UART_DATA, (uint8_t)c);
}

uint8_t con_getc(void)
{
	while (!(inb(UART_LSR) & UART_LSR_DR))
		;
	return inb(UART_DATA);
}

static void put_str(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void put_num(uint64_t v, unsigned int base, int width, char pad)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (; width > n; width--)
		con_putc(pad);
	while (n)
		con_putc(buf[--n]);
}

void con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		char pad = ' ';
		int width = 0, longs = 0;
		uint64_t v;

		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = *fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			put_str(va_arg(ap, const char *));
			continue;
		case 'c':
			con_putc((char)va_arg(ap, int));
			continue;
		case '%':
			con_putc('%');
			continue;
		case 'u':
		case 'x':
			v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(v, *fmt == 'u' ? 10 : 16, width, pad);
			continue;
		default:        /* unsupported: -Wformat keeps these out */
			if (!*fmt)
				goto out;
			con_putc('?');
		}
	}
out:
	va_end(ap);
}

void guest_exit(uint32_t status)
{
	outl(MACHINE_EXIT_PORT, status);
	halt_forever();
}
