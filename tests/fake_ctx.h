/* SPDX-License-Identifier: MIT */
/*
 * A fake struct device_ctx for unit tests of devices without KVM: real
 * buses, real guest memory (anonymous boot RAM, vm_fd -1), a real PCI host
 * when asked, and KVM's interrupt services replaced by recorders that
 * follow KVM's rules (tests/fake_ctx.c says which):
 *
 *   msi_route       GSIs from KVM_IRQ_FIRST_MSI_GSI (24) up, addr/data kept
 *   irqfd           gsi -> eventfd; assigning needs GSI 0-23 or a routed one
 *   ioeventfd       a list; fake_mmio_write()/fake_pio_write() signal the
 *                   eventfd of a matching one instead of dispatching, as KVM
 *   irq_line        levels of GSIs 0..FAKE_IRQ_LINES-1
 *   msi_send        a log
 *   watch_fd        a table; fake_ctx_run_loop() plays the main loop
 *   request_stop    the first reason and status
 *
 * Each service can be made to fail with a chosen -errno (fail_* fields),
 * to test fallbacks. The recorders lock, so devices may call them from any
 * thread; tests read the recorded fields directly when no other thread runs.
 *
 * Guest-side accessors act like a vCPU: fake_cfg_read()/fake_cfg_write()
 * go through conf1 on the pio bus (address port, then data port), like a
 * guest kernel would.
 *
 * Link with devices_lib and mem_lib; list fake_ctx.c in the test's sources.
 * Every function asserts (tests/test.h) instead of returning errors,
 * except the __ ones.
 */
#ifndef MEMVMM_FAKE_CTX_H
#define MEMVMM_FAKE_CTX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "mem/mem.h"

struct pci_host;

#define FAKE_IRQ_LINES        24u    /* GSIs the IOAPIC has (irq_line) */
#define FAKE_FIRST_MSI_GSI    24u    /* as KVM_IRQ_FIRST_MSI_GSI */
#define FAKE_MAX_MSI_ROUTES   256u   /* GSIs FAKE_FIRST_MSI_GSI .. + this - 1 */
#define FAKE_MAX_GSI          (FAKE_FIRST_MSI_GSI + FAKE_MAX_MSI_ROUTES)
#define FAKE_MAX_IOEVENTFDS   64u
#define FAKE_MAX_WATCHED_FDS  32u
#define FAKE_MSI_SEND_LOG     64u    /* msi_send entries kept (later ones only counted) */

struct fake_ctx_config {
	/* Boot RAM (anon backend, vm_fd -1); 0: no guest memory (ctx.mem NULL). */
	uint64_t ram_bytes;
	/*
	 * A hotplug region in the layout (a multiple of MACHINE_HOTPLUG_ALIGN;
	 * 0: none). Only laid out: fake_ctx_add_hotplug() creates it.
	 */
	uint64_t hotplug_bytes;
	/* Create the PCI host (ctx.pci) with the layout's windows. */
	bool pci;
};

struct fake_msi_route {
	bool used;
	uint64_t addr;
	uint32_t data;
	unsigned int changes;   /* msi_route() calls that set or changed it */
};

struct fake_watch {
	int fd;                 /* -1: free */
	uint32_t events;
	device_fd_fn fn;
	void *arg;
};

struct fake_ctx {
	struct device_ctx ctx;           /* hand &f->ctx to the device */
	struct guest_mem mem;
	bool mem_ready;
	struct bus pio, mmio;
	struct pci_host *pci;            /* == ctx.pci; NULL without cfg.pci */
	struct mem_machine_layout layout;

	/* Makes fake_cfg_read()/write()'s address + data accesses one step. */
	pthread_mutex_t conf1_lock;
	pthread_mutex_t lock;            /* guards everything below */

	/* msi_route / msi_route_free: route[gsi - FAKE_FIRST_MSI_GSI]. */
	struct fake_msi_route route[FAKE_MAX_MSI_ROUTES];
	unsigned int routes_used;
	/* msi_route_free() of a GSI that still had an irqfd (kvm_irq.h: deassign first). */
	unsigned int route_freed_with_irqfd;
	/* msi_route_free() of a GSI that was not allocated. */
	unsigned int bad_route_frees;

	/* irqfd: irqfd_efd[gsi], -1 when none. */
	int irqfd_efd[FAKE_MAX_GSI];
	unsigned int irqfds_assigned;
	/* Deassigns of an (efd, gsi) pair that was not assigned (KVM ignores them). */
	unsigned int bad_irqfd_deassigns;

	/* ioeventfd: the assigned ones, in assignment order. */
	struct device_ioeventfd ioeventfd[FAKE_MAX_IOEVENTFDS];
	unsigned int nr_ioeventfds;
	unsigned int ioeventfd_signals;  /* writes that hit one instead of the bus */

	/* irq_line: current level and calls per GSI. */
	int irq_level[FAKE_IRQ_LINES];
	unsigned int irq_line_calls[FAKE_IRQ_LINES];

	/* msi_send: every call counted, the first FAKE_MSI_SEND_LOG kept. */
	struct {
		uint64_t addr;
		uint32_t data;
	} msi_sent[FAKE_MSI_SEND_LOG];
	unsigned int nr_msi_sent;

	/* watch_fd / unwatch_fd. */
	struct fake_watch watch[FAKE_MAX_WATCHED_FDS];

	/* request_stop: the first request wins. */
	enum vm_stop_reason stop_reason;
	int stop_status;

	/*
	 * Failure knobs: 0, or the -errno the next calls of that service
	 * return (until set back to 0). Nothing is recorded for a failed call.
	 */
	int fail_msi_route;
	int fail_irqfd;
	int fail_ioeventfd;
	int fail_msi_send;
	int fail_irq_line;
	int fail_watch_fd;
};

/* Set up buses, memory, the layout and (cfg->pci) the PCI host; asserts on failure. */
void fake_ctx_init(struct fake_ctx *f, const struct fake_ctx_config *cfg);
/* Raw: 0 or -errno, everything released on failure. */
int __fake_ctx_init(struct fake_ctx *f, const struct fake_ctx_config *cfg);
/* Destroy the PCI host, buses and memory. Destroy the devices first. */
void fake_ctx_destroy(struct fake_ctx *f);

/*
 * Create the layout's hotplug region (role MEM_ROLE_HOTPLUG) with backend
 * (NULL: memfd; guest_memfd and hugetlb do not work here). *index (may be
 * NULL) gets its index in f->mem.region[]. Asserts.
 */
void fake_ctx_add_hotplug(struct fake_ctx *f, const struct mem_backend_ops *backend,
			  unsigned int *index);

/* ---- the guest's side, as a vCPU would do it ---- */

/* Config space of 00:slot.0 through conf1 (1, 2 or 4 bytes at reg). */
uint32_t fake_cfg_read(struct fake_ctx *f, unsigned int slot, unsigned int reg,
		       unsigned int size);
void fake_cfg_write(struct fake_ctx *f, unsigned int slot, unsigned int reg,
		    unsigned int size, uint32_t val);
/* Any bus/device/function: raw conf1 address fields. */
uint32_t fake_cfg_read_bdf(struct fake_ctx *f, unsigned int bus, unsigned int dev,
			   unsigned int fn, unsigned int reg, unsigned int size);
void fake_cfg_write_bdf(struct fake_ctx *f, unsigned int bus, unsigned int dev,
			unsigned int fn, unsigned int reg, unsigned int size, uint32_t val);

/* MMIO and port I/O: a write matching an assigned ioeventfd signals it instead. */
uint64_t fake_mmio_read(struct fake_ctx *f, uint64_t addr, unsigned int size);
void fake_mmio_write(struct fake_ctx *f, uint64_t addr, unsigned int size, uint64_t val);
uint64_t fake_pio_read(struct fake_ctx *f, uint64_t port, unsigned int size);
void fake_pio_write(struct fake_ctx *f, uint64_t port, unsigned int size, uint64_t val);

/* ---- the main loop and interrupts ---- */

/*
 * One round of the main loop: poll every watched fd with events (timeout
 * 0) and call fn(arg, revents) for each that has any. Returns how many
 * callbacks ran. Callbacks may (un)watch fds, theirs included.
 */
unsigned int fake_ctx_run_loop(struct fake_ctx *f);
/* Read and return the count of the irqfd assigned to gsi (0 if none or not signalled). */
uint64_t fake_irqfd_take(struct fake_ctx *f, int gsi);
/* Read and return an eventfd's count without blocking (0 if not signalled). */
uint64_t fake_eventfd_take(int efd);
/* Current level of legacy GSI irq (0..FAKE_IRQ_LINES-1). */
int fake_irq_level(struct fake_ctx *f, unsigned int irq);
/* The route of an MSI GSI: true when allocated, addr/data (may be NULL) filled. */
bool fake_msi_route_get(struct fake_ctx *f, int gsi, uint64_t *addr, uint32_t *data);
/* The assigned ioeventfd at (addr, pio), or NULL. Pointer valid until the next change. */
const struct device_ioeventfd *fake_ioeventfd_find(struct fake_ctx *f, uint64_t addr, bool pio);

#endif /* MEMVMM_FAKE_CTX_H */
