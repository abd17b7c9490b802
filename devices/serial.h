/* SPDX-License-Identifier: MIT */
/* 8250/16550A UART (serial_device_ops): COM1 by default. */
#ifndef MEMVMM_SERIAL_H
#define MEMVMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#define SERIAL_RX_FIFO_BYTES 64

/* serial_device_ops.create()'s cfg; NULL: COM1 (0x3f8, IRQ 4), no input. */
struct serial_config {
	uint16_t port;          /* first of 8 I/O ports */
	unsigned int irq;       /* ISA interrupt line, < MACHINE_ISA_IRQS */
	/*
	 * Console input, read through the device context's watch_fd() as the
	 * receive FIFO has room, until EOF or a read error; -1: no input.
	 * Not closed by the device.
	 */
	int input_fd;
};

/* The state serial_device_ops.create() returns. */
struct serial;

/*
 * Queue host input for the guest. Returns how many bytes were taken (fewer
 * than len when the receive FIFO is full; the caller retries later).
 */
size_t serial_receive(struct serial *s, const void *buf, size_t len);
/* Bytes of receive FIFO space left, so the caller knows when to read input. */
size_t serial_rx_room(struct serial *s);

#endif /* MEMVMM_SERIAL_H */
