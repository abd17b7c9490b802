// SPDX-License-Identifier: MIT
/*
 * 8250/16550A UART, enough for Linux's 8250 driver and simple polled guests:
 * output goes to the console queue (drained to stdout by its own thread, so a
 * vCPU never blocks on a slow reader), interrupts (receive data, transmitter
 * empty) drive the configured IRQ. While the console queue is full the
 * transmitter reads busy (LSR.THRE clear) and the transmitter-empty interrupt
 * comes when it drains. Loopback mode is modelled because Linux's autoconfig
 * probes it. Wider accesses are handled as the byte accesses they stand for.
 *
 * Input: the device watches its input fd in the main loop (ctx->watch_fd)
 * and reads at most what its receive FIFO has room for (the fd may be a
 * terminal: what is not read stays there). While the FIFO is full, or in
 * loopback mode (the line is disconnected then), the fd is muted (events 0);
 * a guest read of RBR that makes room unmutes it. EOF or a read error ends
 * input; EINTR and EAGAIN are retried on the next event.
 */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/dev_blob.h"
#include "devices/device.h"
#include "mem/machine.h"

#define UART_NR_PORTS 8
#define UART_PORT_SPACE 0x10000   /* I/O ports 0 .. 0xffff */
#define UART_POWER_ON_DLL 12      /* divisor 12: 9600 baud */

/* save()/restore() blob: "MSER", version, then the fields of serial_save(). */
#define SERIAL_BLOB_MAGIC "MSER"
#define SERIAL_BLOB_VERSION 1u

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
	uint16_t port;
	unsigned int irq;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;     /* transmitter-empty interrupt not yet acknowledged */
	int irq_level;         /* -1: unknown, drive the line on the next update */
	uint8_t rx[SERIAL_RX_FIFO_BYTES];
	unsigned int rx_head, rx_count;
	int input_fd;          /* -1: no input, or it ended (EOF, read error) */
	uint32_t input_events; /* what the main loop watches input_fd for: EPOLLIN or 0 */
};

static void serial_input_ready(void *arg, uint32_t events);

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
		(void)s->ctx.irq_line(s->ctx.opaque, s->irq, level);
}

/* Receive FIFO room for input from the line; none in loopback mode. Lock held. */
static size_t serial_input_room(const struct serial *s)
{
	if (s->mcr & UART_MCR_LOOP)
		return 0;
	return SERIAL_RX_FIFO_BYTES - s->rx_count;
}

/* Mute or unmute the input fd as the FIFO fills and drains. Lock held. */
static void serial_input_update(struct serial *s)
{
	uint32_t want;

	if (s->input_fd < 0)
		return;
	want = serial_input_room(s) ? EPOLLIN : 0;
	if (want == s->input_events)
		return;
	/* On failure nothing changed: the next update tries again. */
	if (!s->ctx.watch_fd(s->ctx.opaque, s->input_fd, want, serial_input_ready, s))
		s->input_events = want;
}

/* Input ended (EOF, read error): stop watching the fd for good. Lock held. */
static void serial_input_stop(struct serial *s)
{
	s->ctx.unwatch_fd(s->ctx.opaque, s->input_fd);
	s->input_fd = -1;
	s->input_events = 0;
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
	serial_input_update(s);
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
	serial_input_update(s);
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
	serial_input_update(s);
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

/*
 * The input fd has events (main loop thread). Reads outside the lock, at most
 * the room the FIFO had: only loopback (which mutes input) can take room
 * meanwhile, and bytes that no longer fit then are dropped, like a line
 * disconnected by loopback.
 */
static void serial_input_ready(void *arg, uint32_t events)
{
	struct serial *s = arg;
	uint8_t buf[SERIAL_RX_FIFO_BYTES];
	size_t room;
	ssize_t n;
	int fd;

	pthread_mutex_lock(&s->lock);
	fd = s->input_fd;
	room = serial_input_room(s);
	if (fd >= 0 && !room) {
		/*
		 * Muted, yet a hangup or error is reported whatever the events:
		 * stop watching until the guest makes room, then read to EOF.
		 */
		if (events & (EPOLLHUP | EPOLLERR)) {
			s->ctx.unwatch_fd(s->ctx.opaque, fd);
			s->input_events = 0;
		} else {
			serial_input_update(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (fd < 0 || !room)
		return;
	n = read(fd, buf, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;  /* level-triggered: the loop calls again */
	pthread_mutex_lock(&s->lock);
	if (s->input_fd == fd) {
		if (n <= 0) {
			serial_input_stop(s);
		} else {
			for (ssize_t i = 0; i < n; i++)
				serial_rx_push(s, buf[i]);
			serial_update_irq(s);
			serial_input_update(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Registers as after power-on or reset. Lock held or not yet shared. */
static void serial_power_on(struct serial *s)
{
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->dlm = 0;
	s->dll = UART_POWER_ON_DLL;
	s->thri_pending = false;
	s->rx_head = s->rx_count = 0;
}

static int serial_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	const struct serial_config def = {
		.port = MACHINE_COM1_PORT, .irq = MACHINE_COM1_IRQ, .input_fd = -1,
	};
	const struct serial_config *c = cfg ? cfg : &def;
	struct serial *s;
	int ret;

	if (c->irq >= MACHINE_ISA_IRQS || c->port > UART_PORT_SPACE - UART_NR_PORTS)
		return -EINVAL;
	if (c->input_fd >= 0 && (!ctx->watch_fd || !ctx->unwatch_fd))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		goto err_free;
	s->ctx = *ctx;
	s->port = c->port;
	s->irq = c->irq;
	s->input_fd = -1;
	serial_power_on(s);
	ret = bus_register(ctx->pio, s->port, UART_NR_PORTS, "serial", &serial_handler, s);
	if (ret)
		goto err_mutex;
	if (ctx->console)
		console_on_room(ctx->console, serial_tx_room, s);
	if (c->input_fd >= 0) {
		/* Last: the loop may call serial_input_ready() at once. */
		pthread_mutex_lock(&s->lock);
		ret = ctx->watch_fd(ctx->opaque, c->input_fd, EPOLLIN, serial_input_ready, s);
		if (!ret) {
			s->input_fd = c->input_fd;
			s->input_events = EPOLLIN;
		}
		pthread_mutex_unlock(&s->lock);
		if (ret)
			goto err_console;
	}
	*state = s;
	return 0;
err_console:
	if (ctx->console)
		console_on_room(ctx->console, NULL, NULL);
	bus_unregister(ctx->pio, s->port);
err_mutex:
	pthread_mutex_destroy(&s->lock);
err_free:
	free(s);
	return ret;
}

static void serial_destroy(void *state)
{
	struct serial *s = state;

	if (s->input_fd >= 0)
		s->ctx.unwatch_fd(s->ctx.opaque, s->input_fd);
	if (s->ctx.console)
		console_on_room(s->ctx.console, NULL, NULL);
	bus_unregister(s->ctx.pio, s->port);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void serial_reset(void *state)
{
	struct serial *s = state;

	pthread_mutex_lock(&s->lock);
	serial_power_on(s);
	s->irq_level = -1;
	serial_update_irq(s);
	serial_input_update(s);
	pthread_mutex_unlock(&s->lock);
}

/* The guest-visible state, as the blob carries it (FIFO from its head). */
struct serial_regs {
	uint16_t port;
	uint8_t irq;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, thri_pending;
	uint8_t rx_count;
	uint8_t rx[SERIAL_RX_FIFO_BYTES];
};

static int serial_save(void *state, void *buf, size_t *len)
{
	struct dev_blob_writer w = { .buf = buf, .room = *len };
	struct serial *s = state;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	dev_blob_put_header(&w, SERIAL_BLOB_MAGIC, SERIAL_BLOB_VERSION);
	dev_blob_put16(&w, s->port);
	dev_blob_put8(&w, (uint8_t)s->irq);
	dev_blob_put8(&w, s->ier);
	dev_blob_put8(&w, s->lcr);
	dev_blob_put8(&w, s->mcr);
	dev_blob_put8(&w, s->scr);
	dev_blob_put8(&w, s->fcr);
	dev_blob_put8(&w, s->dll);
	dev_blob_put8(&w, s->dlm);
	dev_blob_put8(&w, s->thri_pending);
	dev_blob_put8(&w, (uint8_t)s->rx_count);
	/* Unused FIFO bytes are written as zeros, so equal states give equal blobs. */
	for (i = 0; i < SERIAL_RX_FIFO_BYTES; i++)
		dev_blob_put8(&w, i < s->rx_count ?
			      s->rx[(s->rx_head + i) % SERIAL_RX_FIFO_BYTES] : 0);
	pthread_mutex_unlock(&s->lock);
	return dev_blob_finish(&w, len);
}

/* Parse and check a blob for this device; nothing is changed. */
static int serial_parse(const struct serial *s, const void *buf, size_t len,
			struct serial_regs *g)
{
	struct dev_blob_reader r = { .buf = buf, .len = len };
	unsigned int i;

	if (!dev_blob_get_header(&r, SERIAL_BLOB_MAGIC, SERIAL_BLOB_VERSION))
		return -EINVAL;
	g->port = dev_blob_get16(&r);
	g->irq = dev_blob_get8(&r);
	g->ier = dev_blob_get8(&r);
	g->lcr = dev_blob_get8(&r);
	g->mcr = dev_blob_get8(&r);
	g->scr = dev_blob_get8(&r);
	g->fcr = dev_blob_get8(&r);
	g->dll = dev_blob_get8(&r);
	g->dlm = dev_blob_get8(&r);
	g->thri_pending = dev_blob_get8(&r);
	g->rx_count = dev_blob_get8(&r);
	for (i = 0; i < SERIAL_RX_FIFO_BYTES; i++)
		g->rx[i] = dev_blob_get8(&r);
	if (!dev_blob_done(&r))
		return -EINVAL;
	/* Another UART's state (port, IRQ) is not this one's. */
	if (g->port != s->port || g->irq != s->irq)
		return -EINVAL;
	if ((g->ier & ~UART_IER_MASK) || (g->mcr & ~UART_MCR_MASK) ||
	    (g->fcr & ~UART_FCR_ENABLE) || g->thri_pending > 1 ||
	    g->rx_count > SERIAL_RX_FIFO_BYTES)
		return -EINVAL;
	for (i = g->rx_count; i < SERIAL_RX_FIFO_BYTES; i++)
		if (g->rx[i])
			return -EINVAL;
	return 0;
}

static int serial_restore(void *state, const void *buf, size_t len)
{
	struct serial *s = state;
	struct serial_regs g;
	int ret;

	ret = serial_parse(s, buf, len, &g);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	s->ier = g.ier;
	s->lcr = g.lcr;
	s->mcr = g.mcr;
	s->scr = g.scr;
	s->fcr = g.fcr;
	s->dll = g.dll;
	s->dlm = g.dlm;
	s->thri_pending = g.thri_pending;
	memcpy(s->rx, g.rx, sizeof(s->rx));
	s->rx_head = 0;
	s->rx_count = g.rx_count;
	s->irq_level = -1;
	serial_update_irq(s);
	serial_input_update(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const struct device_ops serial_device_ops = {
	.name = "serial",
	.create = serial_create,
	.destroy = serial_destroy,
	.reset = serial_reset,
	.save = serial_save,
	.restore = serial_restore,
};
