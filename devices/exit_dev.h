/* SPDX-License-Identifier: MIT */
/* Exit device (exit_device_ops): the guest ends memvmm with a status. */
#ifndef MEMVMM_EXIT_DEV_H
#define MEMVMM_EXIT_DEV_H

#include <stdint.h>

/* exit_device_ops.create()'s cfg; NULL: MACHINE_EXIT_PORT. */
struct exit_dev_config {
	uint16_t port;          /* first of 4 I/O ports */
};

#endif /* MEMVMM_EXIT_DEV_H */
