// SPDX-License-Identifier: MIT
/*
 * The 8250 UART: output, input FIFO, interrupts, loopback, divisor latch;
 * its config; console input through the main loop (a fake watch_fd); its
 * state blob (save, reset, restore, refusals).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/device.h"
#include "devices/serial.h"
#include "mem/machine.h"
#include "tests/test.h"

/* Written by the console thread too (transmitter-empty interrupts). */
static atomic_int irq_level = -1, irq_changes;
static unsigned int irq_expected = MACHINE_COM1_IRQ;

static int fake_irq(void *opaque, unsigned int irq, int level)
{
	TEST_ASSERT(irq == irq_expected, "irq %u, expected %u", irq, irq_expected);
	irq_level = level;
	irq_changes++;
	return 0;
}

static void fake_stop(void *opaque, enum vm_stop_reason r, int status)
{
	TEST_ASSERT(0, "the UART never stops the VM");
}

static struct bus pio;
static int out_pipe[2];
static uint16_t port = MACHINE_COM1_PORT;

/* Read what the console thread wrote, waiting up to timeout_ms for it. */
static ssize_t read_console_within(char *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = out_pipe[0], .events = POLLIN };

	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	return read(out_pipe[0], buf, len);
}

static ssize_t read_console(char *buf, size_t len)
{
	return read_console_within(buf, len, 5000);
}

/*
 * Exactly want bytes (the console's thread may write them in several
 * pieces), or what arrived before 5 s passed without more.
 */
static size_t read_console_n(char *buf, size_t want)
{
	size_t got = 0;
	ssize_t n;

	while (got < want && (n = read_console(buf + got, want - got)) > 0)
		got += (size_t)n;
	return got;
}

static uint8_t rd(unsigned int reg)
{
	uint64_t v;

	TEST_ASSERT(bus_read(&pio, port + reg, 1, &v), "read reg %u", reg);
	return (uint8_t)v;
}

static void wr(unsigned int reg, uint8_t v)
{
	TEST_ASSERT(bus_write(&pio, port + reg, 1, v), "write reg %u", reg);
}

static void test_registers(void)
{
	struct device_ctx ctx = {
		.irq_line = fake_irq, .request_stop = fake_stop, .pio = &pio,
	};
	const char *msg = "hello\n";
	struct console *con;
	char buf[64];
	struct serial *s;
	void *state;
	int i;

	TEST_ASSERT(pipe2(out_pipe, O_NONBLOCK) == 0, "pipe");
	TEST_OK(console_create(out_pipe[1], &con));
	ctx.console = con;
	TEST_OK(serial_device_ops.create(&ctx, NULL, &state));
	s = state;

	/* Output: transmitter always empty, bytes reach the console unchanged. */
	TEST_ASSERT((rd(5) & 0x60) == 0x60, "LSR THRE|TEMT");
	for (i = 0; msg[i]; i++)
		wr(0, (uint8_t)msg[i]);
	TEST_ASSERT(read_console_n(buf, 6) == 6 && !memcmp(buf, msg, 6),
		    "console got the bytes");
	TEST_ASSERT(irq_changes == 0, "no interrupt without OUT2 and IER");
	TEST_PASS("output");

	/* Input: LSR.DR, FIFO order, receive interrupt through OUT2. */
	wr(4, 0x08);                    /* MCR.OUT2 */
	wr(1, 0x01);                    /* IER.RDI */
	TEST_ASSERT(rd(2) == 0x01, "IIR: no interrupt yet");
	TEST_ASSERT(serial_receive(s, "ab", 2) == 2, "receive");
	TEST_ASSERT(irq_level == 1, "IRQ raised on data");
	TEST_ASSERT((rd(2) & 0x0f) == 0x04 && (rd(5) & 0x01), "IIR=RDI, LSR.DR");
	TEST_ASSERT(rd(0) == 'a' && rd(0) == 'b', "FIFO order");
	TEST_ASSERT(!(rd(5) & 0x01) && irq_level == 0, "drained: DR and IRQ clear");
	TEST_ASSERT(rd(0) == 0, "empty RBR reads 0");
	memset(buf, 'x', sizeof(buf));
	TEST_ASSERT(serial_receive(s, buf, sizeof(buf)) == SERIAL_RX_FIFO_BYTES &&
		    serial_rx_room(s) == 0 && serial_receive(s, "y", 1) == 0, "FIFO bound");
	wr(2, 0x03);                    /* FCR: enable + clear receive FIFO */
	TEST_ASSERT(serial_rx_room(s) == SERIAL_RX_FIFO_BYTES && (rd(2) & 0xc0) == 0xc0,
		    "FIFO cleared, IIR shows FIFOs enabled");
	TEST_PASS("input and receive interrupt");

	/* Transmitter-empty interrupt: raised on enable, acked by reading IIR. */
	wr(1, 0x02);
	TEST_ASSERT(irq_level == 1 && (rd(2) & 0x0f) == 0x02, "THRI pending");
	TEST_ASSERT((rd(2) & 0x0f) == 0x01 && irq_level == 0, "IIR read acks THRI");
	wr(0, 'z');
	TEST_ASSERT(irq_level == 1, "THRI again after a write");
	TEST_ASSERT(read_console(buf, sizeof(buf)) == 1, "z written");
	wr(1, 0);
	TEST_ASSERT(irq_level == 0, "IER cleared");
	TEST_PASS("transmitter-empty interrupt");

	/* Loopback (Linux probes it) and the divisor latch. */
	wr(4, 0x10 | 0x0a);             /* LOOP | OUT2 | RTS */
	TEST_ASSERT((rd(6) & 0xf0) == 0x90, "MSR mirrors MCR in loopback: 0x%x", rd(6));
	wr(0, 0x5a);
	TEST_ASSERT(rd(0) == 0x5a, "looped back");
	TEST_ASSERT(read_console_within(buf, sizeof(buf), 200) < 0, "nothing reached the console");
	wr(4, 0x08);
	TEST_ASSERT((rd(6) & 0xb0) == 0xb0, "MSR: DCD|DSR|CTS");
	wr(3, 0x80);
	wr(0, 0x01);
	wr(1, 0x00);
	TEST_ASSERT(rd(0) == 0x01 && rd(1) == 0x00, "divisor latch");
	wr(3, 0x03);
	TEST_ASSERT(rd(3) == 0x03 && rd(1) == 0x00, "LCR, IER back");
	wr(7, 0xa5);
	TEST_ASSERT(rd(7) == 0xa5, "scratch");
	TEST_PASS("loopback, divisor latch, scratch");

	/*
	 * Flow control: nobody reads stdout, so the pipe and then the console
	 * queue fill; the transmitter reads busy instead of the vCPU blocking.
	 * Draining the pipe empties the queue and raises THRI.
	 */
	wr(4, 0x08);                    /* OUT2, no loopback */
	wr(1, 0x02);                    /* IER.THRI */
	(void)rd(2);                    /* ack the THRI raised by enabling it */
	for (i = 0; (rd(5) & 0x20) && i < 4 * (int)CONSOLE_QUEUE_BYTES; i++)
		wr(0, 'f');
	TEST_ASSERT(!(rd(5) & 0x60), "LSR reports the transmitter busy after %d bytes", i);
	TEST_ASSERT(i >= (int)CONSOLE_QUEUE_BYTES, "queue held %d bytes", i);
	TEST_ASSERT(irq_level == 0, "no THRI while busy");
	{
		size_t got = 0;
		ssize_t n;

		while (got < (size_t)i && (n = read_console(buf, sizeof(buf))) > 0)
			got += (size_t)n;
		TEST_ASSERT(got == (size_t)i, "every byte arrived: %zu of %d", got, i);
	}
	TEST_ASSERT((rd(5) & 0x60) == 0x60, "transmitter empty again");
	TEST_ASSERT(irq_level == 1, "THRI raised when the console drained");
	wr(1, 0);
	TEST_PASS("flow control: full console queue reads busy, drains without loss");

	/* A closed console drops output instead of failing. */
	close(out_pipe[0]);
	wr(0, 'q');
	wr(0, 'q');
	TEST_PASS("closed console");

	serial_device_ops.destroy(state);
	console_destroy(con, NULL);
}

/* ---- config ----------------------------------------------------------------- */

/* A main loop that the test runs by hand: it records what the device asked. */
static struct {
	int fd;                 /* -1: not watched */
	uint32_t events;
	device_fd_fn fn;
	void *arg;
	unsigned int watches, unwatches;
	int fail;               /* next watch_fd() returns this */
} loop;

static int fake_watch(void *opaque, int fd, uint32_t events, device_fd_fn fn, void *arg)
{
	if (loop.fail) {
		int ret = loop.fail;

		loop.fail = 0;
		return ret;
	}
	TEST_ASSERT(loop.fd == -1 || loop.fd == fd, "one fd only");
	loop.fd = fd;
	loop.events = events;
	loop.fn = fn;
	loop.arg = arg;
	loop.watches++;
	return 0;
}

static void fake_unwatch(void *opaque, int fd)
{
	TEST_ASSERT(fd == loop.fd, "unwatch %d, watched %d", fd, loop.fd);
	loop.fd = -1;
	loop.unwatches++;
}

static void loop_reset(void)
{
	memset(&loop, 0, sizeof(loop));
	loop.fd = -1;
}

/* The main loop reports events on the watched fd. */
static void loop_fire(uint32_t events)
{
	TEST_ASSERT(loop.fd >= 0 && loop.fn, "fd watched");
	loop.fn(loop.arg, events);
}

static const struct device_ctx loop_ctx = {
	.irq_line = fake_irq, .request_stop = fake_stop, .pio = &pio,
	.watch_fd = fake_watch, .unwatch_fd = fake_unwatch,
};

static void test_config(void)
{
	struct device_ctx no_loop = loop_ctx;
	struct serial_config c;
	void *st, *st2;
	uint64_t v;

	loop_reset();
	c = (struct serial_config){ .port = 0x2f8, .irq = MACHINE_ISA_IRQS, .input_fd = -1 };
	TEST_ASSERT(serial_device_ops.create(&loop_ctx, &c, &st) == -EINVAL, "IRQ 16");
	c = (struct serial_config){ .port = 0xfff9, .irq = 3, .input_fd = -1 };
	TEST_ASSERT(serial_device_ops.create(&loop_ctx, &c, &st) == -EINVAL, "past port 0xffff");
	c.port = 0xfff8;
	TEST_OK(serial_device_ops.create(&loop_ctx, &c, &st));
	serial_device_ops.destroy(st);
	no_loop.watch_fd = NULL;
	no_loop.unwatch_fd = NULL;
	c = (struct serial_config){ .port = 0x2f8, .irq = 3, .input_fd = 0 };
	TEST_ASSERT(serial_device_ops.create(&no_loop, &c, &st) == -EINVAL, "input without a loop");
	loop.fail = -ENOSPC;
	TEST_ASSERT(serial_device_ops.create(&loop_ctx, &c, &st) == -ENOSPC, "watch failure");
	TEST_ASSERT(!bus_read(&pio, 0x2f8, 1, &v), "ports released after a failed create");

	/* COM2 next to COM1: its own ports and IRQ. */
	c = (struct serial_config){ .port = 0x2f8, .irq = 3, .input_fd = -1 };
	TEST_OK(serial_device_ops.create(&loop_ctx, NULL, &st));
	TEST_OK(serial_device_ops.create(&loop_ctx, &c, &st2));
	TEST_ASSERT(serial_device_ops.create(&loop_ctx, &c, &st) == -EEXIST, "port taken");
	irq_expected = 3;
	port = 0x2f8;
	wr(4, 0x08);
	wr(1, 0x02);                    /* THRI: raised at once on IRQ 3 */
	TEST_ASSERT(irq_level == 1, "COM2 raised IRQ 3");
	wr(1, 0);
	port = MACHINE_COM1_PORT;
	irq_expected = MACHINE_COM1_IRQ;
	TEST_ASSERT(rd(1) == 0 && rd(4) == 0, "COM1 untouched");
	serial_device_ops.destroy(st2);
	serial_device_ops.destroy(st);
	TEST_ASSERT(loop.watches == 0, "no input, no watching");
	TEST_PASS("config: port and IRQ bounds, second UART, failed create undone");
}

/* ---- console input through the main loop ------------------------------------- */

static void write_all(int fd, const char *buf, size_t len)
{
	TEST_ASSERT(write(fd, buf, len) == (ssize_t)len, "pipe write");
}

/* The guest reads n bytes from RBR; they must be want[0..n). */
static void guest_reads(const char *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = rd(0);

		TEST_ASSERT(c == (uint8_t)want[i], "byte %zu: 0x%x, want 0x%x", i, c,
			    (uint8_t)want[i]);
	}
}

static void test_input(void)
{
	struct serial_config c = { .port = MACHINE_COM1_PORT, .irq = MACHINE_COM1_IRQ };
	char data[100];
	int p[2], i;
	void *st;

	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (char)('!' + i);
	loop_reset();
	TEST_ASSERT(pipe2(p, O_NONBLOCK) == 0, "pipe");
	c.input_fd = p[0];
	TEST_OK(serial_device_ops.create(&loop_ctx, &c, &st));
	TEST_ASSERT(loop.fd == p[0] && loop.events == EPOLLIN, "watching input");
	wr(4, 0x08);
	wr(1, 0x01);                    /* receive interrupt on */

	/* 100 bytes waiting: 64 fit, then the fd is muted. */
	write_all(p[1], data, sizeof(data));
	loop_fire(EPOLLIN);
	TEST_ASSERT(serial_rx_room(st) == 0 && loop.events == 0, "FIFO full, fd muted");
	TEST_ASSERT(irq_level == 1 && (rd(5) & 0x01), "receive interrupt, LSR.DR");
	loop_fire(EPOLLIN);             /* an event already queued: still nothing read */
	TEST_ASSERT(serial_rx_room(st) == 0 && loop.events == 0, "still muted");
	guest_reads(data, 1);
	TEST_ASSERT(loop.events == EPOLLIN, "unmuted when the guest made room");
	loop_fire(EPOLLIN);
	TEST_ASSERT(serial_rx_room(st) == 0 && loop.events == 0, "one byte read, muted again");
	guest_reads(data + 1, SERIAL_RX_FIFO_BYTES);
	loop_fire(EPOLLIN);
	TEST_ASSERT(serial_rx_room(st) == SERIAL_RX_FIFO_BYTES - 35 && loop.events == EPOLLIN,
		    "the rest, with room to spare");
	loop_fire(EPOLLIN);             /* nothing there: EAGAIN, retried later */
	TEST_ASSERT(loop.fd == p[0] && loop.unwatches == 0, "EAGAIN keeps watching");
	guest_reads(data + 65, 35);
	TEST_ASSERT(irq_level == 0, "drained");

	/* Loopback disconnects the line: input is muted meanwhile. */
	wr(4, 0x18);
	TEST_ASSERT(loop.events == 0, "muted in loopback");
	wr(4, 0x08);
	TEST_ASSERT(loop.events == EPOLLIN, "unmuted after loopback");

	/* EOF ends input for good. */
	close(p[1]);
	loop_fire(EPOLLIN | EPOLLHUP);
	TEST_ASSERT(loop.fd == -1 && loop.unwatches == 1, "EOF: not watched any more");
	i = (int)loop.watches;
	(void)rd(0);
	wr(2, 0x03);
	TEST_ASSERT(loop.watches == (unsigned int)i, "nothing watched again");
	serial_device_ops.destroy(st);
	TEST_ASSERT(loop.unwatches == 1, "destroy does not unwatch twice");
	close(p[0]);
	TEST_PASS("input: FIFO-sized reads, mute when full, unmute on RBR read, EOF stops");

	/* A hangup while muted: stop watching (no busy loop), read the rest later. */
	loop_reset();
	TEST_ASSERT(pipe2(p, O_NONBLOCK) == 0, "pipe");
	c.input_fd = p[0];
	TEST_OK(serial_device_ops.create(&loop_ctx, &c, &st));
	write_all(p[1], data, 70);
	close(p[1]);
	loop_fire(EPOLLIN | EPOLLHUP);
	TEST_ASSERT(serial_rx_room(st) == 0 && loop.events == 0, "full");
	loop_fire(EPOLLHUP);
	TEST_ASSERT(loop.fd == -1 && loop.unwatches == 1, "hangup while muted: parked");
	guest_reads(data, 1);
	TEST_ASSERT(loop.fd == p[0] && loop.events == EPOLLIN, "watched again with room");
	loop_fire(EPOLLIN | EPOLLHUP);
	guest_reads(data + 1, SERIAL_RX_FIFO_BYTES);
	loop_fire(EPOLLIN | EPOLLHUP);
	TEST_ASSERT(serial_rx_room(st) == SERIAL_RX_FIFO_BYTES - 5, "the last 5 bytes");
	loop_fire(EPOLLIN | EPOLLHUP);
	TEST_ASSERT(loop.fd == -1 && loop.unwatches == 2, "then EOF");
	guest_reads(data + 65, 5);
	serial_device_ops.destroy(st);
	close(p[0]);

	/* A read error (here: the pipe's write end) ends input too. */
	loop_reset();
	TEST_ASSERT(pipe2(p, O_NONBLOCK) == 0, "pipe");
	c.input_fd = p[1];
	TEST_OK(serial_device_ops.create(&loop_ctx, &c, &st));
	loop_fire(EPOLLIN);
	TEST_ASSERT(loop.fd == -1 && loop.unwatches == 1, "read error: not watched");
	serial_device_ops.destroy(st);
	close(p[0]);
	close(p[1]);
	TEST_PASS("input: hangup while muted, read errors");
}

/* ---- state: save, reset, restore --------------------------------------------- */

#define BLOB_MAX 256

static size_t save(void *st, uint8_t *buf)
{
	size_t len = BLOB_MAX;

	TEST_OK(serial_device_ops.save(st, buf, &len));
	return len;
}

static void test_state(void)
{
	uint8_t a[BLOB_MAX], b[BLOB_MAX], bad[BLOB_MAX];
	size_t alen, blen, len;
	void *st, *other;
	unsigned int i;
	struct {
		unsigned int off;   /* byte in the blob */
		uint8_t val;
		const char *what;
	} const refusals[] = {
		{ 0, 'X', "magic" }, { 4, 2, "version" }, { 7, 1, "version high byte" },
		{ 8, 0xf9, "port" }, { 10, 3, "IRQ" }, { 11, 0x10, "IER bit 4" },
		{ 13, 0x20, "MCR bit 5" }, { 15, 0x02, "FCR bit 1" }, { 18, 2, "THRI flag" },
		{ 19, SERIAL_RX_FIFO_BYTES + 1, "FIFO count" },
		{ 20 + SERIAL_RX_FIFO_BYTES - 1, 1, "byte past the FIFO count" },
	};

	loop_reset();
	TEST_OK(serial_device_ops.create(&loop_ctx, NULL, &st));
	/* A state far from power-on: divisor, line, modem, scratch, FIFO not at 0. */
	wr(3, 0x80);
	wr(0, 0x01);
	wr(1, 0x02);
	wr(3, 0x1b);
	wr(4, 0x0b);
	wr(7, 0x77);
	wr(2, 0x01);
	TEST_ASSERT(serial_receive(st, "wxyz", 4) == 4, "receive");
	guest_reads("w", 1);
	wr(1, 0x05);
	TEST_ASSERT(irq_level == 1, "receive interrupt pending");
	alen = save(st, a);
	TEST_ASSERT(alen == 20 + SERIAL_RX_FIFO_BYTES, "blob is %zu bytes", alen);
	TEST_ASSERT(!memcmp(a, "MSER\1\0\0\0\xf8\x03\x04", 11), "header, port, IRQ");
	TEST_ASSERT(a[19] == 3 && !memcmp(a + 20, "xyz", 3), "FIFO from its head");

	len = alen - 1;
	TEST_ASSERT(serial_device_ops.save(st, b, &len) == -ENOSPC && len == alen, "too small");
	len = 0;
	TEST_ASSERT(serial_device_ops.save(st, NULL, &len) == -ENOSPC && len == alen, "size query");

	serial_device_ops.reset(st);
	TEST_ASSERT(irq_level == 0, "reset lowers the IRQ");
	TEST_ASSERT(rd(3) == 0 && rd(1) == 0 && rd(4) == 0 && rd(7) == 0 && !(rd(5) & 0x01) &&
		    serial_rx_room(st) == SERIAL_RX_FIFO_BYTES, "power-on registers");
	wr(3, 0x80);
	TEST_ASSERT(rd(0) == 12 && rd(1) == 0, "power-on divisor 12 (9600 baud)");
	wr(3, 0);
	blen = save(st, b);
	TEST_ASSERT(blen == alen && memcmp(a, b, alen), "reset state differs");

	TEST_OK(serial_device_ops.restore(st, a, alen));
	TEST_ASSERT(irq_level == 1, "restore drives the IRQ line");
	blen = save(st, b);
	TEST_ASSERT(blen == alen && !memcmp(a, b, alen), "save, reset, restore, save: same bytes");

	/* Refusals leave the device as it was. */
	for (len = 0; len < alen; len++)
		TEST_ASSERT(serial_device_ops.restore(st, a, len) == -EINVAL, "%zu bytes", len);
	memcpy(bad, a, alen);
	bad[alen] = 0;
	TEST_ASSERT(serial_device_ops.restore(st, bad, alen + 1) == -EINVAL, "trailing byte");
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		memcpy(bad, a, alen);
		bad[refusals[i].off] = refusals[i].val;
		TEST_ASSERT(serial_device_ops.restore(st, bad, alen) == -EINVAL, "%s",
			    refusals[i].what);
	}
	/* Another UART's state is not this one's. */
	{
		struct serial_config c = { .port = 0x2f8, .irq = 3, .input_fd = -1 };

		TEST_OK(serial_device_ops.create(&loop_ctx, &c, &other));
		TEST_ASSERT(serial_device_ops.restore(other, a, alen) == -EINVAL, "COM1 into COM2");
		serial_device_ops.destroy(other);
	}
	blen = save(st, b);
	TEST_ASSERT(blen == alen && !memcmp(a, b, alen), "refused blobs changed nothing");
	guest_reads("xyz", 3);
	serial_device_ops.destroy(st);
	TEST_PASS("state: save/reset/restore round trip, -ENOSPC, truncated and bad blobs refused");
}

int main(void)
{
	/* memvmm ignores SIGPIPE too: a closed console must not kill it. */
	signal(SIGPIPE, SIG_IGN);
	TEST_OK(bus_init(&pio, "pio"));
	test_registers();
	test_config();
	test_input();
	test_state();
	bus_destroy(&pio);
	return 0;
}
