/* SPDX-License-Identifier: MIT */
/* 8250/16550A UART on COM1 (port 0x3f8, IRQ 4). */
#ifndef MEMVMM_SERIAL_H
#define MEMVMM_SERIAL_H

#include <stddef.h>

#define SERIAL_COM1_IRQ      4
#define SERIAL_RX_FIFO_BYTES 64

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
