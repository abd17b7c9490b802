/* SPDX-License-Identifier: MIT */
/*
 * KVM interrupt services the VMM hands to devices (device_ctx): MSI routes
 * in KVM's GSI routing table, irqfds, direct MSIs and ioeventfds.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so this keeps one: the
 * routes KVM_CREATE_IRQCHIP installs (kvm_setup_default_irq_routing: GSIs
 * 0-23 to IOAPIC pins 0-23, and GSIs 0-15 also to the PICs, master pins
 * 0-7 for GSIs 0-7 and slave pins 0-7 for GSIs 8-15, GSI 2 included) plus
 * one MSI route per allocated GSI, from KVM_IRQ_FIRST_MSI_GSI up.
 * KVM_CAP_IRQ_ROUTING bounds both the GSI numbers and the table's length.
 *
 * Create it after KVM_CREATE_IRQCHIP (KVM takes a routing table only with
 * an in-kernel irqchip). Every call may come from any thread. All fallible
 * calls return 0 or a negative errno and print nothing.
 */
#ifndef MEMVMM_KVM_IRQ_H
#define MEMVMM_KVM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define KVM_IRQ_WUR __attribute__((warn_unused_result))

/* GSIs 0-23 are the irqchip's pins; MSI routes get GSIs from here up. */
#define KVM_IRQ_FIRST_MSI_GSI     24u
/* KVM's default table: 24 IOAPIC routes and 16 PIC routes. */
#define KVM_IRQ_NR_DEFAULT_ROUTES 40u
/* Most routes (and GSIs) used, whatever KVM_CAP_IRQ_ROUTING says (4096 on x86). */
#define KVM_IRQ_MAX_ROUTES        4096u
/* Port I/O addresses are below this. */
#define KVM_IRQ_PIO_SPACE_BYTES   0x10000ull

struct kvm_irq;

/* ioctl(2) as a parameter, so that tests can check what would reach KVM. */
typedef int (*kvm_irq_ioctl_fn)(int fd, unsigned long request, void *arg);

/*
 * Read KVM_CAP_IRQ_ROUTING on vm_fd and set up the table (nothing is sent
 * to KVM yet: it already has the default routes). -EOPNOTSUPP when the
 * capability is too small for the default table plus one MSI route.
 */
int kvm_irq_init(struct kvm_irq **out, int vm_fd) KVM_IRQ_WUR;
/* Raw: the same with every ioctl going through ioctl_fn. */
int __kvm_irq_init_with(struct kvm_irq **out, int vm_fd, kvm_irq_ioctl_fn ioctl_fn) KVM_IRQ_WUR;
/* Free it; KVM keeps routes, irqfds and ioeventfds until the VM fd is closed. NULL is fine. */
void kvm_irq_destroy(struct kvm_irq *k);

/*
 * Route *gsi to the MSI (addr, data) and send the table to KVM. *gsi < 0:
 * allocate the lowest free GSI and store it in *gsi (-ENOSPC if none is
 * left); else *gsi must be a GSI allocated here (-EINVAL otherwise) and
 * its route is changed (nothing is sent when it is unchanged). On any
 * failure KVM's table and this one are left as they were.
 */
int kvm_irq_msi_route(struct kvm_irq *k, int *gsi, uint64_t addr, uint32_t data) KVM_IRQ_WUR;
/*
 * Release an allocated GSI and send the table without it. Deassign its
 * irqfds first. Anything else is ignored; if KVM refuses the smaller
 * table, it keeps a route nobody uses until the next change replaces it.
 */
void kvm_irq_msi_route_free(struct kvm_irq *k, int gsi);

/*
 * (De)assign efd as an irqfd for gsi: a write to efd raises it. Assigning
 * needs a legacy GSI (0-23) or an allocated one (-EINVAL otherwise);
 * deassigning takes any GSI below the limit.
 */
int kvm_irq_irqfd(struct kvm_irq *k, int gsi, int efd, bool assign) KVM_IRQ_WUR;

/* Inject one MSI now (KVM_SIGNAL_MSI). 0 also when the guest blocked it. */
int kvm_irq_msi_send(struct kvm_irq *k, uint64_t addr, uint32_t data) KVM_IRQ_WUR;

/*
 * (De)assign an ioeventfd. -EINVAL, before anything reaches KVM, for a
 * length other than 1, 2, 4 or 8 (0, any length, only for MMIO without
 * datamatch), a range that wraps or leaves the 64 KiB port space, or a
 * datamatch value wider than len; -EBADF for efd < 0. Deassigning needs
 * the same description as assigning.
 */
int kvm_irq_ioeventfd(struct kvm_irq *k, const struct device_ioeventfd *io,
		      bool assign) KVM_IRQ_WUR;

#endif /* MEMVMM_KVM_IRQ_H */
