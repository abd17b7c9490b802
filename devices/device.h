/* SPDX-License-Identifier: MIT */
/*
 * What a device gets from the VMM, and the ops table every device exports.
 * Devices never include vmm/ headers: the VMM hands them these services.
 */
#ifndef MEMVMM_DEVICE_H
#define MEMVMM_DEVICE_H

#include <stdint.h>

#include "devices/bus.h"

struct console;

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_GUEST_EXIT,   /* exit device: status from the guest */
	VM_STOP_RESET,        /* i8042 reset: status 0 */
	VM_STOP_SHUTDOWN,     /* triple fault / KVM_EXIT_SHUTDOWN: status 1 */
	VM_STOP_SIGNAL,       /* SIGINT/SIGTERM: status 128 + signal */
	VM_STOP_ERROR,        /* VMM or KVM failure: status 1 */
};

struct device_ctx {
	void *opaque;
	/* Set a legacy (PIC/IOAPIC) interrupt line; 0 or -errno. */
	int (*irq_line)(void *opaque, unsigned int irq, int level);
	/* Ask the VM to stop; the first request wins. Never blocks. */
	void (*request_stop)(void *opaque, enum vm_stop_reason reason, int status);
	struct console *console;  /* where the UART's output goes; NULL: dropped */
	struct bus *pio;
	struct bus *mmio;
};

struct device_ops {
	const char *name;
	/* Allocate the device and claim its ranges; *state is passed back to destroy. */
	int (*create)(const struct device_ctx *ctx, void **state);
	void (*destroy)(void *state);
};

extern const struct device_ops serial_device_ops;
extern const struct device_ops exit_device_ops;
extern const struct device_ops i8042_device_ops;

#endif /* MEMVMM_DEVICE_H */
