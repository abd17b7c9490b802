// SPDX-License-Identifier: MIT
/* The 8250 UART: output, input FIFO, interrupts, loopback, divisor latch. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/device.h"
#include "devices/serial.h"
#include "mem/machine.h"
#include "tests/test.h"

static int irq_level = -1, irq_changes;

static int fake_irq(void *opaque, unsigned int irq, int level)
{
	TEST_ASSERT(irq == MACHINE_COM1_IRQ, "irq %u", irq);
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

static uint8_t rd(unsigned int reg)
{
	uint64_t v;

	TEST_ASSERT(bus_read(&pio, MACHINE_COM1_PORT + reg, 1, &v), "read reg %u", reg);
	return (uint8_t)v;
}

static void wr(unsigned int reg, uint8_t v)
{
	TEST_ASSERT(bus_write(&pio, MACHINE_COM1_PORT + reg, 1, v), "write reg %u", reg);
}

int main(void)
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

	/* memvmm ignores SIGPIPE too: a closed console must not kill it. */
	signal(SIGPIPE, SIG_IGN);
	TEST_OK(bus_init(&pio, "pio"));
	TEST_ASSERT(pipe2(out_pipe, O_NONBLOCK) == 0, "pipe");
	TEST_OK(console_create(out_pipe[1], &con));
	ctx.console = con;
	TEST_OK(serial_device_ops.create(&ctx, NULL, &state));
	s = state;

	/* Output: transmitter always empty, bytes reach the console unchanged. */
	TEST_ASSERT((rd(5) & 0x60) == 0x60, "LSR THRE|TEMT");
	for (i = 0; msg[i]; i++)
		wr(0, (uint8_t)msg[i]);
	TEST_ASSERT(read_console(buf, sizeof(buf)) == 6 && !memcmp(buf, msg, 6),
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
	bus_destroy(&pio);
	return 0;
}
