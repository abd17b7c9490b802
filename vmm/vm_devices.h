/* SPDX-License-Identifier: MIT */
/* The VM's devices (vm.c's helpers; see vm_devices.c). */
#ifndef MEMVMM_VM_DEVICES_H
#define MEMVMM_VM_DEVICES_H

#include "vmm/vm.h"

/*
 * Buses, console, interrupt routing, the PCI host, then every device of
 * the list in order. On failure vm_destroy_devices() releases what exists.
 */
int vm_create_devices(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
	__attribute__((warn_unused_result));
/* Devices in reverse order, then the PCI host, console, routing and buses. */
void vm_destroy_devices(struct vm *vm);
/* Mute (pause) or restore (resume) every device fd in the main loop. */
int vm_device_fds_mute(struct vm *vm, bool mute) __attribute__((warn_unused_result));

#endif /* MEMVMM_VM_DEVICES_H */
