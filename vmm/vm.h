/* SPDX-License-Identifier: MIT */
/* A whole VM: KVM, guest memory, buses, devices, vCPUs, and its main loop. */
#ifndef MEMVMM_VM_H
#define MEMVMM_VM_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>

#include "devices/device.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "vmm/errmsg.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"

struct run_config;

#define VM_MAX_DEVICES 8

struct vm {
	struct kvm kvm;
	struct guest_mem mem;
	/* Why the default backend is not guest_memfd ("" when it is). */
	char backend_note[160];
	/* What population and pre-fault did, for the summary line. */
	struct mem_populate_report populate;
	uint64_t populate_ns;
	struct mem_prefault_report prefault;
	char prefault_note[128];     /* why pre-fault was not used ("" if it was) */
	pthread_t register_thread;   /* installs the memslots during setup */
	bool register_running;
	int register_ret;
	struct bus pio;
	struct bus mmio;
	bool buses_ready;
	struct console *console;
	struct serial *serial;
	struct device_ctx dev_ctx;
	void *dev_state[VM_MAX_DEVICES];
	unsigned int nr_devices;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct vcpu_env vcpu_env;

	atomic_bool stopping;
	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;
	int stop_status;
	int stop_efd;           /* written when a stop is requested */
	int started_efd;        /* written by vCPU 0 before its first KVM_RUN */
	uint64_t first_run_ns;  /* CLOCK_MONOTONIC of that moment */
};

/*
 * Build the VM from cfg: KVM, memory, devices, kernel, vCPUs. Nothing runs yet.
 * On failure e says why (e->bad_input: the user's input was unusable);
 * vm_destroy() must still be called.
 */
int vm_create(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
	__attribute__((warn_unused_result));

/*
 * Run until the guest exits, resets or fails, or a signal arrives. Feeds stdin
 * to the UART. Returns memvmm's exit status. on_started (may be NULL) is called
 * from the main thread once vCPU 0 is about to enter the guest.
 */
int vm_run(struct vm *vm, void (*on_started)(struct vm *vm, void *arg), void *arg);

void vm_destroy(struct vm *vm);

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t vm_now_ns(void);

#endif /* MEMVMM_VM_H */
