/* SPDX-License-Identifier: MIT */
/*
 * A whole VM: KVM, guest memory, buses, devices, vCPUs, its run state and
 * its main loop.
 *
 *   vm_create()  created: memory populated, kernel loaded, nothing runs
 *   vm_run()     running <-> paused (vm_pause()/vm_resume(), also through the
 *                control socket) until a stop: guest exit or reset, a vCPU
 *                failure, a signal, the control socket's quit
 *   vm_destroy() stopped, everything released in reverse order
 *
 * Nothing here prints: failures come back as struct errmsg (creation) or as
 * the stop reason with struct vcpu_failure (running); vmm/main.c tells the
 * user and picks the exit status.
 */
#ifndef MEMVMM_VM_H
#define MEMVMM_VM_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>

#include "devices/console.h"
#include "devices/device.h"
#include "mem/mem.h"
#include "mem/populate.h"
#include "mem/thp.h"
#include "vmm/control.h"
#include "vmm/errmsg.h"
#include "vmm/kvm.h"
#include "vmm/loop.h"
#include "vmm/runstate.h"
#include "vmm/snapshot.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"

struct run_config;
struct kvm_irq;
struct pci_host;

#define VM_MAX_DEVICES 16
#define VM_MAX_DEVICE_FDS 64

/* A device to create: its ops and its config (the device's own struct, or NULL). */
struct vm_device_spec {
	const struct device_ops *ops;
	const void *cfg;
};

/* One device instance: its ops and the state create() returned. */
struct vm_device {
	const struct device_ops *ops;
	void *state;
};

/* An fd a device watches, so that a pause can mute it (device work quiesced). */
struct vm_device_fd {
	int fd;                 /* -1: free */
	uint32_t events;        /* what the device asked for */
	device_fd_fn fn;
	void *arg;
};

struct vm {
	struct kvm kvm;
	struct guest_mem mem;
	struct mem_machine_layout layout;   /* RAM, the hotplug region, PCI windows */
	char boot_what[96];                 /* the kernel's format and how it was loaded */
	uint64_t start_ns;           /* CLOCK_MONOTONIC at vm_create() */
	/* Why the default backend is not guest_memfd ("" when it is). */
	char backend_note[160];
	/* What population and pre-fault did, for the summary line and status. */
	struct mem_populate_report populate;
	uint64_t populate_ns;
	struct mem_prefault_report prefault;
	char prefault_note[128];     /* why pre-fault was not used ("" if it was) */
	enum mem_thp_mode thp_mode;  /* --memory thp= */
	struct mem_thp_plan thp;     /* what boot RAM was advised, and why */
	/* Bytes of each region backed by huge pages after population (and pre-fault). */
	uint64_t huge_after_populate[MEM_MAX_REGIONS];
	int huge_err;                /* why those could not be measured (0: they were) */
	const atomic_bool *cancel;   /* set by main on a signal during creation */
	mem_progress_fn progress;    /* population progress over all RAM (NULL: none) */
	void *progress_arg;
	pthread_t register_thread;   /* installs the memslots during setup */
	bool register_running;
	int register_ret;
	struct bus pio;
	struct bus mmio;
	bool buses_ready;
	struct console *console;
	struct console_stats console_stats;
	int stdin_pipe[2];                   /* console input for a stdin epoll refuses */
	pthread_t stdin_thread;
	bool stdin_thread_running;  /* filled when the console is destroyed */
	struct kvm_irq *irq;                 /* GSI routing, irqfd, ioeventfd */
	struct device_ctx dev_ctx;
	struct pci_host *pci;                /* always there, destroyed after the devices */
	/* --virtio-mem: its region (an index in mem.region) and its device's state. */
	unsigned int vmem_region;
	bool vmem_region_ready;
	struct mem_thp_plan vmem_thp;        /* what the hotplug region was advised, and why */
	enum mem_populate_strategy vmem_populate;   /* for every plug */
	void *vmem;                          /* NULL: no virtio-mem device */
	void *balloon;                       /* NULL: no virtio-balloon device */
	struct vm_device dev[VM_MAX_DEVICES];
	unsigned int nr_devices;
	pthread_mutex_t dev_fd_lock;
	struct vm_device_fd dev_fd[VM_MAX_DEVICE_FDS];
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct vcpu_env vcpu_env;
	struct kvm_state_caps *state_caps;   /* for the vCPU state API */

	struct loop loop;
	bool loop_ready;
	struct runstate rs;
	bool rs_ready;
	struct control_server control;
	bool control_ready;

	bool locks_ready;
	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;
	int stop_status;
	bool have_failure;
	struct vcpu_failure failure;   /* the vCPU failure that stopped the VM */
	int stop_efd;                  /* written when a stop is requested */
	int started_efd;               /* written by vCPU 0 before its first KVM_RUN */
	uint64_t first_run_ns;         /* CLOCK_MONOTONIC of that moment */
	void (*on_started)(struct vm *vm, void *arg);
	void *on_started_arg;
	int signal_fd;                 /* main's signalfd, read by the loop (-1: none) */
	int stop_signal;               /* the signal that stopped the VM, 0: none */

	/* Snapshots (vmm/snapshot.h). */
	struct snap_config snap_cfg;   /* the machine, as a snapshot records it */
	uint64_t snap_epoch;           /* id of the last snapshot taken or restored, 0: none */
	bool snap_dirty;               /* dirty pages are tracked since that snapshot */
	struct snap_chain *restore_chain;   /* --restore: the snapshot (owned) */
	struct restore_info restore;
	enum mem_populate_strategy restore_prealloc;   /* eager restore: the holes */
	unsigned int restore_threads;
	bool restore_background;       /* lazy modes: --restore background= */
	int lease_sfd;                 /* map mode: lease breaks (-1: none) */
	/* Called on the main loop once a lazy restore's background fill is done. */
	void (*on_restored)(struct vm *vm, void *arg);
};

/* What the front end gives VM creation besides the configuration. */
struct vm_create_opts {
	/*
	 * Polled during the long phases (population, pre-fault, loading):
	 * when it becomes true, vm_create() returns -ECANCELED. May be NULL.
	 */
	const atomic_bool *cancel;
	/* Population progress, bytes of all RAM (may be NULL). */
	mem_progress_fn progress;
	void *progress_arg;
	/*
	 * --restore: the opened snapshot (snap_chain_open()), whose saved
	 * machine cfg describes (snapshot_run_config()). The VM owns it from
	 * vm_create() on, also when that fails. NULL: boot a kernel.
	 */
	struct snap_chain *restore;
};

/*
 * Measure the huge pages behind every region (smaps) into
 * vm->huge_after_populate, or the reason into vm->huge_err.
 */
void vm_measure_huge(struct vm *vm);

/*
 * Build the VM from cfg: control socket, KVM, memory, devices, kernel,
 * vCPUs. Nothing runs yet. On failure e says why (e->bad_input: the user's
 * input was unusable); vm_destroy() must still be called.
 */
int vm_create(struct vm *vm, const struct run_config *cfg, const struct vm_create_opts *o,
	      struct errmsg *e) __attribute__((warn_unused_result));

/*
 * Run until the guest exits, resets or fails, a signal arrives on
 * signal_fd (-1: none), or the control socket says quit. Returns memvmm's
 * exit status; vm->stop_reason says why (and vm->failure for a vCPU
 * failure). on_started (may be NULL) is called from the main loop once
 * vCPU 0 is about to enter the guest. -errno when the loop could not start.
 */
int vm_run(struct vm *vm, int signal_fd, void (*on_started)(struct vm *vm, void *arg),
	   void *arg);

/*
 * Pause: returns once every vCPU is parked outside KVM_RUN and device fds
 * are muted; nothing but the caller touches guest memory until
 * vm_resume(). Not from a vCPU thread. -EINVAL when not running,
 * -EALREADY when already paused.
 */
int vm_pause(struct vm *vm) __attribute__((warn_unused_result));
int vm_resume(struct vm *vm) __attribute__((warn_unused_result));
enum vm_state vm_state(struct vm *vm);

/* Ask the VM to stop; the first request wins. Any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status);

/*
 * The state API, only while paused (-EBUSY otherwise): vCPU i's whole
 * state, and the in-kernel PIC, IOAPIC, PIT and clock.
 */
int vm_vcpu_state_get(struct vm *vm, unsigned int i, struct vcpu_state *st)
	__attribute__((warn_unused_result));
int vm_vcpu_state_set(struct vm *vm, unsigned int i, const struct vcpu_state *st,
		      uint32_t *failed_msr) __attribute__((warn_unused_result));
int vm_irqchip_state_get(struct vm *vm, struct vm_irq_state *st)
	__attribute__((warn_unused_result));
int vm_irqchip_state_set(struct vm *vm, const struct vm_irq_state *st)
	__attribute__((warn_unused_result));

void vm_destroy(struct vm *vm);

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t vm_now_ns(void);

/* The control socket's commands (vmm/vm_control.c). */
extern const struct control_command vm_control_commands[];
extern const unsigned int vm_nr_control_commands;

#endif /* MEMVMM_VM_H */
