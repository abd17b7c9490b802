// SPDX-License-Identifier: MIT
/*
 * The fake device_ctx (tests/fake_ctx.h). The recorders follow the rules
 * of vmm/kvm_irq.c and of KVM itself where a device could get them wrong:
 *
 * - msi_route(): *gsi < 0 allocates the lowest free GSI from 24 up
 *   (-ENOSPC when none is left); otherwise *gsi must be allocated (-EINVAL).
 * - irqfd(): efd < 0 is -EBADF; assigning needs GSI 0-23 or an allocated
 *   one (-EINVAL); an eventfd already assigned (to any GSI) or a GSI that
 *   has one already is -EBUSY (KVM allows several eventfds per GSI; memvmm's
 *   devices use one, so a second is treated as a bug). Deassigning what is
 *   not assigned succeeds, as in KVM, but is counted (bad_irqfd_deassigns).
 * - msi_route_free() of a GSI that still has an irqfd is counted
 *   (route_freed_with_irqfd): kvm_irq.h says to deassign first.
 * - ioeventfd(): the checks of kvm_irq_ioeventfd() (length 1, 2, 4, 8, or 0
 *   for MMIO without datamatch; port range; datamatch wider than the length;
 *   efd < 0), KVM's collision rule (-EEXIST) and deassign by the exact
 *   description and eventfd (-ENOENT).
 */
#include "tests/fake_ctx.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/pci.h"
#include "mem/machine.h"
#include "tests/test.h"

#define FAKE_PIO_SPACE_BYTES 0x10000ull

/* ---- the services ---- */

static int fake_irq_line_cb(void *opaque, unsigned int irq, int level)
{
	struct fake_ctx *f = opaque;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_irq_line)
		ret = f->fail_irq_line;
	else if (irq >= FAKE_IRQ_LINES)
		ret = -EINVAL;
	else {
		f->irq_level[irq] = level;
		f->irq_line_calls[irq]++;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void fake_request_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	struct fake_ctx *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (f->stop_reason == VM_STOP_NONE) {
		f->stop_reason = reason;
		f->stop_status = status;
	}
	pthread_mutex_unlock(&f->lock);
}

static struct fake_msi_route *route_at(struct fake_ctx *f, int gsi)
{
	if (gsi < (int)FAKE_FIRST_MSI_GSI || gsi >= (int)FAKE_MAX_GSI)
		return NULL;
	return &f->route[gsi - FAKE_FIRST_MSI_GSI];
}

static int fake_msi_route_cb(void *opaque, int *gsi, uint64_t addr, uint32_t data)
{
	struct fake_ctx *f = opaque;
	struct fake_msi_route *r = NULL;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_msi_route) {
		ret = f->fail_msi_route;
		goto out;
	}
	if (*gsi < 0) {
		for (unsigned int i = 0; i < FAKE_MAX_MSI_ROUTES && !r; i++) {
			if (!f->route[i].used) {
				r = &f->route[i];
				*gsi = (int)(FAKE_FIRST_MSI_GSI + i);
			}
		}
		if (!r) {
			ret = -ENOSPC;
			goto out;
		}
		*r = (struct fake_msi_route){ .used = true };
		f->routes_used++;
	} else {
		r = route_at(f, *gsi);
		if (!r || !r->used) {
			ret = -EINVAL;
			goto out;
		}
	}
	r->addr = addr;
	r->data = data;
	r->changes++;
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void fake_msi_route_free_cb(void *opaque, int gsi)
{
	struct fake_ctx *f = opaque;
	struct fake_msi_route *r;

	pthread_mutex_lock(&f->lock);
	r = route_at(f, gsi);
	if (!r || !r->used) {
		f->bad_route_frees++;
	} else {
		if (f->irqfd_efd[gsi] >= 0)
			f->route_freed_with_irqfd++;
		*r = (struct fake_msi_route){ 0 };
		f->routes_used--;
	}
	pthread_mutex_unlock(&f->lock);
}

static int fake_irqfd_cb(void *opaque, int gsi, int efd, bool assign)
{
	struct fake_ctx *f = opaque;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_irqfd) {
		ret = f->fail_irqfd;
		goto out;
	}
	if (efd < 0) {
		ret = -EBADF;
		goto out;
	}
	if (gsi < 0 || gsi >= (int)FAKE_MAX_GSI) {
		ret = -EINVAL;
		goto out;
	}
	if (!assign) {
		if (f->irqfd_efd[gsi] == efd) {
			f->irqfd_efd[gsi] = -1;
			f->irqfds_assigned--;
		} else {
			f->bad_irqfd_deassigns++;
		}
		goto out;
	}
	if (gsi >= (int)FAKE_IRQ_LINES && !route_at(f, gsi)->used) {
		ret = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < FAKE_MAX_GSI; i++) {
		if (f->irqfd_efd[i] == efd) {
			ret = -EBUSY;
			goto out;
		}
	}
	if (f->irqfd_efd[gsi] >= 0) {
		ret = -EBUSY;
		goto out;
	}
	f->irqfd_efd[gsi] = efd;
	f->irqfds_assigned++;
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int fake_msi_send_cb(void *opaque, uint64_t addr, uint32_t data)
{
	struct fake_ctx *f = opaque;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_msi_send) {
		ret = f->fail_msi_send;
	} else {
		if (f->nr_msi_sent < FAKE_MSI_SEND_LOG) {
			f->msi_sent[f->nr_msi_sent].addr = addr;
			f->msi_sent[f->nr_msi_sent].data = data;
		}
		f->nr_msi_sent++;
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static bool ioeventfd_valid(const struct device_ioeventfd *io)
{
	switch (io->len) {
	case 0:
		if (io->pio || io->datamatch)
			return false;
		break;
	case 1:
	case 2:
	case 4:
	case 8:
		break;
	default:
		return false;
	}
	if (io->addr + io->len < io->addr)
		return false;
	if (io->pio && (io->addr >= FAKE_PIO_SPACE_BYTES ||
			io->len > FAKE_PIO_SPACE_BYTES - io->addr))
		return false;
	if (io->datamatch && io->len < 8 && io->data >> (io->len * 8))
		return false;
	return true;
}

/* KVM's ioeventfd_check_collision(). */
static bool ioeventfd_collides(const struct device_ioeventfd *a, const struct device_ioeventfd *b)
{
	return a->pio == b->pio && a->addr == b->addr &&
	       (!a->len || !b->len || a->len == b->len) &&
	       (!a->datamatch || !b->datamatch || a->data == b->data);
}

static int fake_ioeventfd_cb(void *opaque, const struct device_ioeventfd *io, bool assign)
{
	struct fake_ctx *f = opaque;
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_ioeventfd) {
		ret = f->fail_ioeventfd;
		goto out;
	}
	if (!ioeventfd_valid(io)) {
		ret = -EINVAL;
		goto out;
	}
	if (io->efd < 0) {
		ret = -EBADF;
		goto out;
	}
	if (!assign) {
		for (i = 0; i < f->nr_ioeventfds; i++) {
			const struct device_ioeventfd *p = &f->ioeventfd[i];

			if (p->efd == io->efd && p->addr == io->addr && p->len == io->len &&
			    p->pio == io->pio && p->datamatch == io->datamatch &&
			    (!p->datamatch || p->data == io->data))
				break;
		}
		if (i == f->nr_ioeventfds) {
			ret = -ENOENT;
			goto out;
		}
		memmove(&f->ioeventfd[i], &f->ioeventfd[i + 1],
			(f->nr_ioeventfds - i - 1) * sizeof(f->ioeventfd[0]));
		f->nr_ioeventfds--;
		goto out;
	}
	for (i = 0; i < f->nr_ioeventfds; i++) {
		if (ioeventfd_collides(&f->ioeventfd[i], io)) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (f->nr_ioeventfds == FAKE_MAX_IOEVENTFDS) {
		ret = -ENOSPC;
		goto out;
	}
	f->ioeventfd[f->nr_ioeventfds++] = *io;
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int fake_watch_fd_cb(void *opaque, int fd, uint32_t events, device_fd_fn fn, void *arg)
{
	struct fake_ctx *f = opaque;
	struct fake_watch *slot = NULL;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->fail_watch_fd) {
		ret = f->fail_watch_fd;
		goto out;
	}
	if (fd < 0 || !fn) {
		ret = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS && !slot; i++)
		if (f->watch[i].fd == fd)
			slot = &f->watch[i];
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS && !slot; i++)
		if (f->watch[i].fd < 0)
			slot = &f->watch[i];
	if (!slot) {
		ret = -ENOSPC;
		goto out;
	}
	*slot = (struct fake_watch){ .fd = fd, .events = events, .fn = fn, .arg = arg };
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void fake_unwatch_fd_cb(void *opaque, int fd)
{
	struct fake_ctx *f = opaque;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS; i++)
		if (f->watch[i].fd == fd)
			f->watch[i].fd = -1;
	pthread_mutex_unlock(&f->lock);
}

/* ---- setup ---- */

int __fake_ctx_init(struct fake_ctx *f, const struct fake_ctx_config *cfg)
{
	uint64_t ram = cfg->ram_bytes ? cfg->ram_bytes : MEM_MIN_BYTES;
	int ret;

	memset(f, 0, sizeof(*f));
	for (unsigned int i = 0; i < FAKE_MAX_GSI; i++)
		f->irqfd_efd[i] = -1;
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS; i++)
		f->watch[i].fd = -1;
	ret = mem_machine_layout_build(ram, cfg->hotplug_bytes, &f->layout);
	if (ret)
		return ret;
	ret = -pthread_mutex_init(&f->lock, NULL);
	if (ret)
		return ret;
	ret = -pthread_mutex_init(&f->conf1_lock, NULL);
	if (ret)
		goto err_lock;
	ret = bus_init(&f->pio, "pio");
	if (ret)
		goto err_conf1;
	ret = bus_init(&f->mmio, "mmio");
	if (ret)
		goto err_pio;
	if (cfg->ram_bytes) {
		const struct mem_config mc = { .size = cfg->ram_bytes,
					       .backend = &mem_backend_anon };

		ret = mem_create(&f->mem, &mc, -1, NULL);
		if (ret)
			goto err_mmio;
		f->mem_ready = true;
	}
	f->ctx = (struct device_ctx){
		.opaque = f,
		.irq_line = fake_irq_line_cb,
		.request_stop = fake_request_stop,
		.pio = &f->pio,
		.mmio = &f->mmio,
		.mem = f->mem_ready ? &f->mem : NULL,
		.msi_route = fake_msi_route_cb,
		.msi_route_free = fake_msi_route_free_cb,
		.irqfd = fake_irqfd_cb,
		.msi_send = fake_msi_send_cb,
		.ioeventfd = fake_ioeventfd_cb,
		.watch_fd = fake_watch_fd_cb,
		.unwatch_fd = fake_unwatch_fd_cb,
	};
	if (cfg->pci) {
		const struct pci_host_config hc = {
			.mmio32_base = f->layout.pci_mmio32_base,
			.mmio32_size = f->layout.pci_mmio32_size,
			.mmio64_base = f->layout.pci_mmio64_base,
			.mmio64_size = f->layout.pci_mmio64_size,
		};

		ret = pci_host_create(&f->ctx, &hc, &f->pci);
		if (ret)
			goto err_mem;
		f->ctx.pci = f->pci;
	}
	return 0;
err_mem:
	if (f->mem_ready)
		mem_destroy(&f->mem);
	f->mem_ready = false;
err_mmio:
	bus_destroy(&f->mmio);
err_pio:
	bus_destroy(&f->pio);
err_conf1:
	pthread_mutex_destroy(&f->conf1_lock);
err_lock:
	pthread_mutex_destroy(&f->lock);
	return ret;
}

void fake_ctx_init(struct fake_ctx *f, const struct fake_ctx_config *cfg)
{
	TEST_OK(__fake_ctx_init(f, cfg));
}

void fake_ctx_destroy(struct fake_ctx *f)
{
	pci_host_destroy(f->pci);
	f->pci = NULL;
	f->ctx.pci = NULL;
	bus_destroy(&f->mmio);
	bus_destroy(&f->pio);
	if (f->mem_ready)
		mem_destroy(&f->mem);
	f->mem_ready = false;
	pthread_mutex_destroy(&f->conf1_lock);
	pthread_mutex_destroy(&f->lock);
}

void fake_ctx_add_hotplug(struct fake_ctx *f, const struct mem_backend_ops *backend,
			  unsigned int *index)
{
	const struct mem_region_spec spec = {
		.gpa = f->layout.hotplug_gpa,
		.size = f->layout.hotplug_size,
		.role = MEM_ROLE_HOTPLUG,
		.backend = backend ? backend : &mem_backend_memfd,
	};

	TEST_ASSERT(f->mem_ready, "fake_ctx_add_hotplug needs boot RAM (cfg.ram_bytes)");
	TEST_ASSERT(f->layout.hotplug_size, "fake_ctx_add_hotplug needs cfg.hotplug_bytes");
	TEST_OK(mem_region_add(&f->mem, &spec, index));
}

/* ---- the guest's side ---- */

static uint32_t conf1_addr(unsigned int bus, unsigned int dev, unsigned int fn,
			   unsigned int reg)
{
	return MACHINE_PCI_CONF1_ENABLE | (bus & 0xff) << 16 | (dev & 0x1f) << 11 |
	       (fn & 7) << 8 | (reg & 0xfc);
}

uint32_t fake_cfg_read_bdf(struct fake_ctx *f, unsigned int bus, unsigned int dev,
			   unsigned int fn, unsigned int reg, unsigned int size)
{
	uint64_t v;

	pthread_mutex_lock(&f->conf1_lock);
	fake_pio_write(f, MACHINE_PCI_CONF1_ADDR_PORT, 4, conf1_addr(bus, dev, fn, reg));
	v = fake_pio_read(f, MACHINE_PCI_CONF1_DATA_PORT + (reg & 3), size);
	pthread_mutex_unlock(&f->conf1_lock);
	return (uint32_t)v;
}

void fake_cfg_write_bdf(struct fake_ctx *f, unsigned int bus, unsigned int dev,
			unsigned int fn, unsigned int reg, unsigned int size, uint32_t val)
{
	pthread_mutex_lock(&f->conf1_lock);
	fake_pio_write(f, MACHINE_PCI_CONF1_ADDR_PORT, 4, conf1_addr(bus, dev, fn, reg));
	fake_pio_write(f, MACHINE_PCI_CONF1_DATA_PORT + (reg & 3), size, val);
	pthread_mutex_unlock(&f->conf1_lock);
}

uint32_t fake_cfg_read(struct fake_ctx *f, unsigned int slot, unsigned int reg,
		       unsigned int size)
{
	return fake_cfg_read_bdf(f, 0, slot, 0, reg, size);
}

void fake_cfg_write(struct fake_ctx *f, unsigned int slot, unsigned int reg,
		    unsigned int size, uint32_t val)
{
	fake_cfg_write_bdf(f, 0, slot, 0, reg, size, val);
}

/* KVM's ioeventfd_in_range() over the assigned list; the eventfd or -1. */
static int ioeventfd_match(struct fake_ctx *f, bool pio, uint64_t addr, unsigned int size,
			   uint64_t val)
{
	uint64_t v = size >= 8 ? val : val & ((1ull << (size * 8)) - 1);
	int efd = -1;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->nr_ioeventfds && efd < 0; i++) {
		const struct device_ioeventfd *p = &f->ioeventfd[i];

		if (p->pio != pio || p->addr != addr)
			continue;
		if (p->len && (p->len != size || (p->datamatch && p->data != v)))
			continue;
		efd = p->efd;
	}
	if (efd >= 0)
		f->ioeventfd_signals++;
	pthread_mutex_unlock(&f->lock);
	return efd;
}

static void eventfd_signal_fd(int efd)
{
	uint64_t one = 1;

	TEST_ASSERT(write(efd, &one, sizeof(one)) == sizeof(one), "signalling eventfd %d", efd);
}

uint64_t fake_mmio_read(struct fake_ctx *f, uint64_t addr, unsigned int size)
{
	uint64_t v;

	bus_read(&f->mmio, addr, size, &v);
	return v;
}

void fake_mmio_write(struct fake_ctx *f, uint64_t addr, unsigned int size, uint64_t val)
{
	int efd = ioeventfd_match(f, false, addr, size, val);

	if (efd >= 0)
		eventfd_signal_fd(efd);
	else
		bus_write(&f->mmio, addr, size, val);
}

uint64_t fake_pio_read(struct fake_ctx *f, uint64_t port, unsigned int size)
{
	uint64_t v;

	bus_read(&f->pio, port, size, &v);
	return v;
}

void fake_pio_write(struct fake_ctx *f, uint64_t port, unsigned int size, uint64_t val)
{
	int efd = ioeventfd_match(f, true, port, size, val);

	if (efd >= 0)
		eventfd_signal_fd(efd);
	else
		bus_write(&f->pio, port, size, val);
}

/* ---- the loop and interrupts ---- */

unsigned int fake_ctx_run_loop(struct fake_ctx *f)
{
	struct pollfd pfd[FAKE_MAX_WATCHED_FDS];
	struct fake_watch w[FAKE_MAX_WATCHED_FDS];
	unsigned int n = 0, ran = 0;
	int ret;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < FAKE_MAX_WATCHED_FDS; i++) {
		if (f->watch[i].fd < 0 || !f->watch[i].events)
			continue;
		w[n] = f->watch[i];
		/* EPOLLIN/OUT/ERR/HUP have poll's values. */
		pfd[n] = (struct pollfd){ .fd = w[n].fd, .events = (short)w[n].events };
		n++;
	}
	pthread_mutex_unlock(&f->lock);
	if (!n)
		return 0;
	do   /* a signal (libFuzzer's timer) is not a failure */
		ret = poll(pfd, n, 0);
	while (ret < 0 && errno == EINTR);
	TEST_ASSERT(ret >= 0, "poll of %u watched fds", n);
	for (unsigned int i = 0; i < n; i++) {
		bool still = false;

		if (!pfd[i].revents)
			continue;
		/* A callback that ran before may have unwatched this one. */
		pthread_mutex_lock(&f->lock);
		for (unsigned int j = 0; j < FAKE_MAX_WATCHED_FDS && !still; j++)
			still = f->watch[j].fd == w[i].fd && f->watch[j].fn == w[i].fn &&
				f->watch[j].arg == w[i].arg && f->watch[j].events;
		pthread_mutex_unlock(&f->lock);
		if (!still)
			continue;
		w[i].fn(w[i].arg, (uint32_t)(uint16_t)pfd[i].revents);
		ran++;
	}
	return ran;
}

uint64_t fake_eventfd_take(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v = 0;
	int ret;

	if (efd < 0)
		return 0;
	do
		ret = poll(&p, 1, 0);
	while (ret < 0 && errno == EINTR);
	TEST_ASSERT(ret >= 0, "poll of eventfd %d", efd);
	if (!ret || !(p.revents & POLLIN))
		return 0;
	do
		ret = (int)read(efd, &v, sizeof(v));
	while (ret < 0 && errno == EINTR);
	TEST_ASSERT(ret == sizeof(v), "reading eventfd %d", efd);
	return v;
}

uint64_t fake_irqfd_take(struct fake_ctx *f, int gsi)
{
	int efd = -1;

	pthread_mutex_lock(&f->lock);
	if (gsi >= 0 && gsi < (int)FAKE_MAX_GSI)
		efd = f->irqfd_efd[gsi];
	pthread_mutex_unlock(&f->lock);
	return fake_eventfd_take(efd);
}

int fake_irq_level(struct fake_ctx *f, unsigned int irq)
{
	int level;

	TEST_ASSERT(irq < FAKE_IRQ_LINES, "irq %u out of range", irq);
	pthread_mutex_lock(&f->lock);
	level = f->irq_level[irq];
	pthread_mutex_unlock(&f->lock);
	return level;
}

bool fake_msi_route_get(struct fake_ctx *f, int gsi, uint64_t *addr, uint32_t *data)
{
	const struct fake_msi_route *r;
	bool used = false;

	pthread_mutex_lock(&f->lock);
	r = route_at(f, gsi);
	if (r && r->used) {
		used = true;
		if (addr)
			*addr = r->addr;
		if (data)
			*data = r->data;
	}
	pthread_mutex_unlock(&f->lock);
	return used;
}

const struct device_ioeventfd *fake_ioeventfd_find(struct fake_ctx *f, uint64_t addr, bool pio)
{
	const struct device_ioeventfd *found = NULL;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->nr_ioeventfds && !found; i++)
		if (f->ioeventfd[i].addr == addr && f->ioeventfd[i].pio == pio)
			found = &f->ioeventfd[i];
	pthread_mutex_unlock(&f->lock);
	return found;
}
