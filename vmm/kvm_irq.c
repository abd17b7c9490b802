// SPDX-License-Identifier: MIT
/*
 * KVM interrupt services for devices: GSI routing (KVM's default irqchip
 * routes plus allocated MSI routes), irqfd, KVM_SIGNAL_MSI, ioeventfd.
 *
 * The routing table is kept here because KVM_SET_GSI_ROUTING replaces
 * KVM's whole table: every push sends the default routes again, so the
 * PIC/IOAPIC lines keep working once MSI routes exist. A failed push
 * leaves KVM's table as it was (the ioctl swaps tables atomically), and
 * this copy is rolled back to match.
 */
#include "vmm/kvm_irq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mem/kvm_compat.h"

_Static_assert(KVM_IRQ_NR_DEFAULT_ROUTES < KVM_IRQ_MAX_ROUTES, "room for MSI routes");

#define KVM_IRQ_NR_IOAPIC_PINS 24u
#define KVM_IRQ_NR_PIC_PINS    16u   /* master 0-7, slave 8-15 */
#define KVM_IRQ_PIC_CHIP_PINS  8u

struct msi_route {
	uint64_t addr;
	uint32_t data;
	bool used;
};

struct kvm_irq {
	pthread_mutex_t lock;          /* the fields below */
	int vm_fd;
	kvm_irq_ioctl_fn ioctl_fn;
	unsigned int nr_gsis;          /* GSIs and table entries stay below this */
	unsigned int nr_msi;           /* MSI routes in use */
	struct msi_route *msi;         /* by gsi - KVM_IRQ_FIRST_MSI_GSI */
	struct kvm_irq_routing *table; /* room for nr_gsis entries */
};

/* Locking a default mutex this thread does not hold cannot fail; if it does, stop. */
static void irq_lock(struct kvm_irq *k)
{
	if (pthread_mutex_lock(&k->lock))
		abort();
}

static void irq_unlock(struct kvm_irq *k)
{
	if (pthread_mutex_unlock(&k->lock))
		abort();
}

/* Write KVM's default routes (kvm_setup_default_irq_routing) to e; returns their count. */
static unsigned int default_routes(struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;

	for (uint32_t gsi = 0; gsi < KVM_IRQ_NR_IOAPIC_PINS; gsi++) {
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
		};
		if (gsi < KVM_IRQ_NR_PIC_PINS)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = {
					.irqchip = gsi < KVM_IRQ_PIC_CHIP_PINS ?
						KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					.pin = gsi % KVM_IRQ_PIC_CHIP_PINS,
				},
			};
	}
	return n;
}

/* The route of an allocated MSI GSI, or NULL. Called with the lock held. */
static struct msi_route *msi_at(struct kvm_irq *k, int gsi)
{
	struct msi_route *m;

	if (gsi < (int)KVM_IRQ_FIRST_MSI_GSI || (unsigned int)gsi >= k->nr_gsis)
		return NULL;
	m = &k->msi[gsi - (int)KVM_IRQ_FIRST_MSI_GSI];
	return m->used ? m : NULL;
}

/* Send the default routes and every MSI route to KVM. Called with the lock held. */
static int push(struct kvm_irq *k)
{
	struct kvm_irq_routing_entry *e = k->table->entries;
	unsigned int n = default_routes(e);

	for (unsigned int i = 0; i < k->nr_gsis - KVM_IRQ_FIRST_MSI_GSI; i++) {
		const struct msi_route *m = &k->msi[i];

		if (!m->used)
			continue;
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = KVM_IRQ_FIRST_MSI_GSI + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = {
				.address_lo = (uint32_t)m->addr,
				.address_hi = (uint32_t)(m->addr >> 32),
				.data = m->data,
			},
		};
	}
	k->table->nr = n;
	k->table->flags = 0;
	return k->ioctl_fn(k->vm_fd, KVM_SET_GSI_ROUTING, k->table) < 0 ? -errno : 0;
}

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

int __kvm_irq_init_with(struct kvm_irq **out, int vm_fd, kvm_irq_ioctl_fn ioctl_fn)
{
	struct kvm_irq *k;
	int cap, ret;

	if (!out || !ioctl_fn)
		return -EINVAL;
	*out = NULL;
	cap = ioctl_fn(vm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_IRQ_ROUTING);
	if (cap < 0)
		return -errno;
	if ((unsigned int)cap <= KVM_IRQ_NR_DEFAULT_ROUTES)
		return -EOPNOTSUPP;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm_fd = vm_fd;
	k->ioctl_fn = ioctl_fn;
	k->nr_gsis = (unsigned int)cap < KVM_IRQ_MAX_ROUTES ? (unsigned int)cap :
		KVM_IRQ_MAX_ROUTES;
	k->msi = calloc(k->nr_gsis - KVM_IRQ_FIRST_MSI_GSI, sizeof(*k->msi));
	k->table = calloc(1, sizeof(*k->table) +
			  k->nr_gsis * sizeof(struct kvm_irq_routing_entry));
	if (!k->msi || !k->table) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = -pthread_mutex_init(&k->lock, NULL);
	if (ret)
		goto err_free;
	*out = k;
	return 0;

err_free:
	free(k->table);
	free(k->msi);
	free(k);
	return ret;
}

int kvm_irq_init(struct kvm_irq **out, int vm_fd)
{
	return __kvm_irq_init_with(out, vm_fd, sys_ioctl);
}

void kvm_irq_destroy(struct kvm_irq *k)
{
	if (!k)
		return;
	/* Only fails for a locked mutex, which would be a caller's bug. */
	(void)pthread_mutex_destroy(&k->lock);
	free(k->table);
	free(k->msi);
	free(k);
}

/* Allocate the lowest free MSI GSI for (addr, data) and push. Lock held. */
static int msi_alloc(struct kvm_irq *k, int *gsi, uint64_t addr, uint32_t data)
{
	unsigned int i, nr = k->nr_gsis - KVM_IRQ_FIRST_MSI_GSI;
	int ret;

	if (KVM_IRQ_NR_DEFAULT_ROUTES + k->nr_msi >= k->nr_gsis)
		return -ENOSPC;   /* the table would be longer than KVM takes */
	for (i = 0; i < nr && k->msi[i].used; i++)
		;
	if (i == nr)
		return -ENOSPC;
	k->msi[i] = (struct msi_route){ .addr = addr, .data = data, .used = true };
	k->nr_msi++;
	ret = push(k);
	if (ret) {
		k->msi[i].used = false;
		k->nr_msi--;
		return ret;
	}
	*gsi = (int)(KVM_IRQ_FIRST_MSI_GSI + i);
	return 0;
}

int kvm_irq_msi_route(struct kvm_irq *k, int *gsi, uint64_t addr, uint32_t data)
{
	struct msi_route *m, old;
	int ret = 0;

	if (!k || !gsi)
		return -EINVAL;
	irq_lock(k);
	if (*gsi < 0) {
		ret = msi_alloc(k, gsi, addr, data);
		goto out;
	}
	m = msi_at(k, *gsi);
	if (!m) {
		ret = -EINVAL;
		goto out;
	}
	if (m->addr == addr && m->data == data)
		goto out;
	old = *m;
	m->addr = addr;
	m->data = data;
	ret = push(k);
	if (ret)
		*m = old;
out:
	irq_unlock(k);
	return ret;
}

void kvm_irq_msi_route_free(struct kvm_irq *k, int gsi)
{
	struct msi_route *m;

	if (!k)
		return;
	irq_lock(k);
	m = msi_at(k, gsi);
	if (m) {
		m->used = false;
		k->nr_msi--;
		/* See the header: a refused push leaves an unused route behind. */
		(void)push(k);
	}
	irq_unlock(k);
}

int kvm_irq_irqfd(struct kvm_irq *k, int gsi, int efd, bool assign)
{
	struct kvm_irqfd fd = {
		.fd = (uint32_t)efd,
		.gsi = (uint32_t)gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	bool routed;

	if (!k || gsi < 0 || (unsigned int)gsi >= k->nr_gsis)
		return -EINVAL;
	if (efd < 0)
		return -EBADF;
	irq_lock(k);
	routed = (unsigned int)gsi < KVM_IRQ_FIRST_MSI_GSI || msi_at(k, gsi);
	irq_unlock(k);
	if (assign && !routed)
		return -EINVAL;
	return k->ioctl_fn(k->vm_fd, KVM_IRQFD, &fd) < 0 ? -errno : 0;
}

int kvm_irq_msi_send(struct kvm_irq *k, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	if (!k)
		return -EINVAL;
	/* > 0: delivered; 0: the guest blocked it (e.g. no LAPIC enabled yet). */
	return k->ioctl_fn(k->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

/* 0 if io describes an ioeventfd KVM can take, else -EINVAL or -EBADF. */
static int ioeventfd_check(const struct device_ioeventfd *io)
{
	switch (io->len) {
	case 0:
		/* Any length: MMIO only, and nothing to compare data with. */
		if (io->pio || io->datamatch)
			return -EINVAL;
		break;
	case 1:
	case 2:
	case 4:
	case 8:
		if (io->addr > UINT64_MAX - (io->len - 1))
			return -EINVAL;
		if (io->pio && (io->addr >= KVM_IRQ_PIO_SPACE_BYTES ||
				io->len > KVM_IRQ_PIO_SPACE_BYTES - io->addr))
			return -EINVAL;
		if (io->datamatch && io->len < 8 && io->data >> (8 * io->len))
			return -EINVAL;   /* a write of len bytes can never match */
		break;
	default:
		return -EINVAL;
	}
	return io->efd < 0 ? -EBADF : 0;
}

int kvm_irq_ioeventfd(struct kvm_irq *k, const struct device_ioeventfd *io, bool assign)
{
	struct kvm_ioeventfd ev;
	int ret;

	if (!k || !io)
		return -EINVAL;
	ret = ioeventfd_check(io);
	if (ret)
		return ret;
	ev = (struct kvm_ioeventfd){
		.datamatch = io->datamatch ? io->data : 0,
		.addr = io->addr,
		.len = io->len,
		.fd = io->efd,
		.flags = (io->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (io->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return k->ioctl_fn(k->vm_fd, KVM_IOEVENTFD, &ev) < 0 ? -errno : 0;
}
