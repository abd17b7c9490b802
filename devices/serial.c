// SPDX-License-Identifier: MIT
/*
 * 8250/16550A UART, enough for Linux's 8250 driver and simple polled guests:
 * output goes to the console queue (drained to stdout by its own thread, so a
 * vCPU never blocks on a slow reader), input comes from serial_receive(),
 * interrupts (receive data, transmitter empty) drive IRQ 4. While the console
 * queue is full the transmitter reads busy (LSR.THRE clear) and the
 * transmitter-empty interrupt comes when it drains. Loopback mode is
 * modelled because Linux's autoconfig probes it. Wider accesses are handled
 * as the byte accesses they stand for.
 */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "devices/console.h"
#include "devices/device.h"
#include "mem/machine.h"

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
		(void)s->ctx.irq_line(s->ctx.opaque, MACHINE_COM1_IRQ, level);
}

static void serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_RX_FIFO_BYTES)
		return;
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO_BYTES] = c;
	s->rx_count++;
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

static bool serial_tx_ready(struct serial *s)
{
	return !s->ctx.console || console_room(s->ctx.console) > 0;
}

/* One register read. Lock held. */
static uint8_t serial_read_reg(struct serial *s, uint64_t off)
{
	uint8_t val = 0;

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
		val = (serial_tx_ready(s) ? UART_LSR_THRE | UART_LSR_TEMT : 0) |
		      (s->rx_count ? UART_LSR_DR : 0);
		break;
	case UART_MSR:
		val = serial_msr(s);
		break;
	case UART_SCR:
		val = s->scr;
		break;
	}
	return val;
}

/* One register write. Lock held. */
static void serial_write_reg(struct serial *s, uint64_t off, uint8_t val)
{
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
			break;
		}
		if (s->mcr & UART_MCR_LOOP)
			serial_rx_push(s, val);
		else if (s->ctx.console)
			console_write(s->ctx.console, &val, 1);
		/* Otherwise the interrupt comes when the console drains (serial_tx_room). */
		s->thri_pending = serial_tx_ready(s);
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling THRI with an empty transmitter raises it at once. */
		if (!(s->ier & UART_IER_THRI) && (val & UART_IER_THRI) && serial_tx_ready(s))
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
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned int size)
{
	struct serial *s = opaque;
	uint64_t val = 0;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < size && off + i < UART_NR_PORTS; i++)
		val |= (uint64_t)serial_read_reg(s, off + i) << (8 * i);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return val;
}

static void serial_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct serial *s = opaque;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < size && off + i < UART_NR_PORTS; i++)
		serial_write_reg(s, off + i, (uint8_t)(val >> (8 * i)));
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

/* The console queue has room again: the transmitter is empty. */
static void serial_tx_room(void *opaque)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->thri_pending = true;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_handler serial_handler = {
	.read = serial_read,
	.write = serial_write,
};

size_t serial_receive(struct serial *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->rx_count < SERIAL_RX_FIFO_BYTES; n++)
		serial_rx_push(s, p[n]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = SERIAL_RX_FIFO_BYTES - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

static int serial_create(const struct device_ctx *ctx, const void *cfg, void **state)
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
	ret = bus_register(ctx->pio, MACHINE_COM1_PORT, UART_NR_PORTS, "com1",
			   &serial_handler, s);
	if (ret)
		goto err_mutex;
	if (ctx->console)
		console_on_room(ctx->console, serial_tx_room, s);
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

	if (s->ctx.console)
		console_on_room(s->ctx.console, NULL, NULL);
	bus_unregister(s->ctx.pio, MACHINE_COM1_PORT);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct device_ops serial_device_ops = {
	.name = "serial",
	.create = serial_create,
	.destroy = serial_destroy,
};
