/* SPDX-License-Identifier: MIT */
/*
 * What a device gets from the VMM, and the ops table every device exports.
 * Devices never include vmm/ headers: the VMM hands them these services.
 *
 * Lifecycle (vmm/ drives it): create() in command-line order, reset() on a
 * machine reset, save()/restore() while the VM is paused (the snapshot
 * work), destroy() in reverse order, also when a later create() failed.
 */
#ifndef MEMVMM_DEVICE_H
#define MEMVMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"

struct console;
struct guest_mem;
struct pci_host;

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_GUEST_EXIT,   /* exit device: status from the guest */
	VM_STOP_RESET,        /* i8042 reset / KVM reset event: status 0 */
	VM_STOP_POWEROFF,     /* guest powered off (KVM shutdown event): status 0 */
	VM_STOP_SHUTDOWN,     /* triple fault / KVM_EXIT_SHUTDOWN: status 1 */
	VM_STOP_SIGNAL,       /* SIGINT/SIGTERM/SIGHUP: status 128 + signal */
	VM_STOP_QUIT,         /* the control socket's quit: status 0 */
	VM_STOP_ERROR,        /* VMM or KVM failure: status 1 */
};

/* Called on the main loop's thread when fd has events (EPOLLIN, ...). */
typedef void (*device_fd_fn)(void *arg, uint32_t events);

/* An ioeventfd: a guest write to [addr, addr + len) signals efd without an exit. */
struct device_ioeventfd {
	uint64_t addr;
	unsigned int len;        /* 1, 2, 4 or 8; 0 for any length (MMIO only) */
	bool pio;                /* port I/O rather than MMIO */
	bool datamatch;          /* only writes of `data` */
	uint64_t data;
	int efd;
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
	/*
	 * Guest memory. Devices reach it only through mem/'s bounds-checked
	 * calls (mem_read(), mem_write(), mem_gpa_to_hva() with a length,
	 * mem_discard(), mem_populate()), never by mapping or madvising it.
	 */
	struct guest_mem *mem;
	/* The PCI host bridge PCI devices join (pci_dev_add()); NULL: no PCI. */
	struct pci_host *pci;
	/*
	 * MSI through KVM GSI routing: msi_route() sets *gsi's route to
	 * (addr, data), allocating a GSI when *gsi < 0; msi_route_free()
	 * releases it. irqfd() (de)assigns efd so that writing it raises gsi.
	 * msi_send() injects one MSI directly (KVM_SIGNAL_MSI).
	 */
	int (*msi_route)(void *opaque, int *gsi, uint64_t addr, uint32_t data);
	void (*msi_route_free)(void *opaque, int gsi);
	int (*irqfd)(void *opaque, int gsi, int efd, bool assign);
	int (*msi_send)(void *opaque, uint64_t addr, uint32_t data);
	int (*ioeventfd)(void *opaque, const struct device_ioeventfd *io, bool assign);
	/*
	 * Watch fd in the main loop: fn(arg, events) runs on the loop's thread.
	 * Calling it again for the same fd changes the events (0 mutes the fd
	 * without removing it). May be called from any thread. After
	 * unwatch_fd() returns, fn may still be running once on the loop
	 * thread if it had already started: device state must outlive the loop
	 * (devices are destroyed after it ends).
	 */
	int (*watch_fd)(void *opaque, int fd, uint32_t events, device_fd_fn fn, void *arg);
	void (*unwatch_fd)(void *opaque, int fd);
};

struct device_ops {
	const char *name;
	/*
	 * Allocate the device and claim its ranges. cfg is the device's own
	 * config struct (see its header), NULL for its defaults; it is copied,
	 * not kept. *state is passed back to every other hook.
	 */
	int (*create)(const struct device_ctx *ctx, const void *cfg, void **state);
	void (*destroy)(void *state);
	/* Back to the power-on state (machine reset). May be NULL: nothing to do. */
	void (*reset)(void *state);
	/*
	 * Serialize the device's guest-visible state while the VM is paused.
	 * *len: room in buf on entry, bytes used on return; -ENOSPC with *len
	 * set to what is needed when buf is too small. NULL: no state.
	 */
	int (*save)(void *state, void *buf, size_t *len);
	/*
	 * Load what save() wrote (untrusted: a snapshot file). -EINVAL for a
	 * malformed or foreign blob, leaving the device unchanged. NULL: no state.
	 */
	int (*restore)(void *state, const void *buf, size_t len);
};

extern const struct device_ops serial_device_ops;
extern const struct device_ops exit_device_ops;
extern const struct device_ops i8042_device_ops;

#endif /* MEMVMM_DEVICE_H */
