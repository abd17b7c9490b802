// SPDX-License-Identifier: MIT
/*
 * 8250/16550A UART, enough for Linux's 8250 driver and simple polled guests:
 * output goes straight to the console fd, input comes from serial_receive(),
 * interrupts (receive data, transmitter empty) drive IRQ 4. Loopback mode is
 * modelled because Linux's autoconfig probes it.
 */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "devices/device.h"
#include "guest/abi.h"

#define UART_NR_PORTS 8

/* Register offsets. */
#define UART_RBR_THR 0  /* DLL when LCR.DLAB */
#define UART_IER     1  /* DLM when LCR.DLAB */
#define UART_IIR_FCR 2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define UART_MSR     6
#define UART_SCR     7

#define UART_IER_RDI   0x01
#define UART_IER_THRI  0x02
#define UART_IER_MASK  0x0f
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_FIFO  0xc0
#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_LCR_DLAB  0x80
#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10
#define UART_MCR_MASK  0x1f
#define UART_LSR_DR    0x01
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80

struct serial {
	pthread_mutex_t lock;
	struct device_ctx ctx;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;     /* transmitter-empty interrupt not yet acknowledged */
	int irq_level;
	uint8_t rx[SERIAL_RX_FIFO_BYTES];
	unsigned int rx_head, rx_count;
	bool out_broken;       /* console write failed; output is dropped */
};

/* Pending interrupt identification, highest priority first. Lock held. */
static uint8_t serial_iir(const struct serial *s)
{
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thri_pending)
		return UART_IIR_THRI;
	return UART_IIR_NO_INT;
}

/* Drive the IRQ line from the interrupt state. Lock held. */
static void serial_update_irq(struct serial *s)
{
	int level = serial_iir(s) != UART_IIR_NO_INT;

	/* OUT2 gates the interrupt on PC-compatible boards. */
	if (!(s->mcr & UART_MCR_OUT2))
		level = 0;
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->ctx.irq_line)
		(void)s->ctx.irq_line(s->ctx.opaque, SERIAL_COM1_IRQ, level);
}

static void serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_RX_FIFO_BYTES)
		return;
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO_BYTES] = c;
	s->rx_count++;
}

static void serial_console_write(struct serial *s, uint8_t c)
{
	ssize_t n;

	if (s->out_broken || s->ctx.console_out_fd < 0)
		return;
	do {
		n = write(s->ctx.console_out_fd, &c, 1);
	} while (n < 0 && errno == EINTR);
	/* A closed or failing console must not stop the guest: drop output. */
	if (n != 1)
		s->out_broken = true;
}

static uint8_t serial_msr(const struct serial *s)
{
	uint8_t mcr = s->mcr;

	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	return (mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
	       (mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
	       (mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
	       (mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned int size)
{
	struct serial *s = opaque;
	uint8_t val = 0;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & UART_LCR_DLAB) {
			val = s->dll;
		} else if (s->rx_count) {
			val = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO_BYTES;
			s->rx_count--;
		}
		break;
	case UART_IER:
		val = s->lcr & UART_LCR_DLAB ? s->dlm : s->ier;
		break;
	case UART_IIR_FCR:
		val = serial_iir(s);
		/* Reading IIR acknowledges a transmitter-empty interrupt. */
		if (val == UART_IIR_THRI)
			s->thri_pending = false;
		if (s->fcr & UART_FCR_ENABLE)
			val |= UART_IIR_FIFO;
		break;
	case UART_LCR:
		val = s->lcr;
		break;
	case UART_MCR:
		val = s->mcr;
		break;
	case UART_LSR:
		/* Output is written out at once: the transmitter is always empty. */
		val = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_count ? UART_LSR_DR : 0);
		break;
	case UART_MSR:
		val = serial_msr(s);
		break;
	case UART_SCR:
		val = s->scr;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return val;
}

static void serial_write(void *opaque, uint64_t off, unsigned int size, uint64_t v)
{
	struct serial *s = opaque;
	uint8_t val = (uint8_t)v;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
			break;
		}
		if (s->mcr & UART_MCR_LOOP)
			serial_rx_push(s, val);
		else
			serial_console_write(s, val);
		s->thri_pending = true;
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling THRI with an empty transmitter raises it at once. */
		if (!(s->ier & UART_IER_THRI) && (val & UART_IER_THRI))
			s->thri_pending = true;
		s->ier = val & UART_IER_MASK;
		break;
	case UART_IIR_FCR:
		s->fcr = val & UART_FCR_ENABLE;
		if (val & UART_FCR_CLEAR_RX)
			s->rx_count = 0;
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & UART_MCR_MASK;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default:
		break;  /* LSR and MSR are read-only */
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_handler serial_handler = {
	.read = serial_read,
	.write = serial_write,
};

size_t serial_receive(void *state, const void *buf, size_t len)
{
	struct serial *s = state;
	const uint8_t *p = buf;
	size_t n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->rx_count < SERIAL_RX_FIFO_BYTES; n++)
		serial_rx_push(s, p[n]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(void *state)
{
	struct serial *s = state;
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = SERIAL_RX_FIFO_BYTES - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

static int serial_create(const struct device_ctx *ctx, void **state)
{
	struct serial *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		goto err_free;
	s->ctx = *ctx;
	s->dll = 12;  /* 9600 baud, the power-on divisor */
	ret = bus_register(ctx->pio, MEMVMM_COM1_PORT, UART_NR_PORTS, "com1",
			   &serial_handler, s);
	if (ret)
		goto err_mutex;
	*state = s;
	return 0;
err_mutex:
	pthread_mutex_destroy(&s->lock);
err_free:
	free(s);
	return ret;
}

static void serial_destroy(void *state)
{
	struct serial *s = state;

	bus_unregister(s->ctx.pio, MEMVMM_COM1_PORT);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct device_ops serial_device_ops = {
	.name = "serial",
	.create = serial_create,
	.destroy = serial_destroy,
};
