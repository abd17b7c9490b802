// SPDX-License-Identifier: MIT
/*
 * The VM's devices: the services they get (device_ctx: interrupts, MSI
 * routes, irqfds, ioeventfds, fds in the main loop that a pause mutes),
 * console input, the PCI host, the device list in creation order, and
 * teardown in reverse.
 */
#include "vmm/vm_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/acpi_sleep.h"
#include "devices/exit_dev.h"
#include "devices/pci.h"
#include "devices/serial.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_mem.h"
#include "mem/machine.h"
#include "vmm/kvm_irq.h"
#include "vmm/options.h"

static void vm_dev_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	vm_request_stop(opaque, reason, status);
}

/* ---- services devices get (device_ctx) -------------------------------- */

static int vm_irq_line(void *opaque, unsigned int irq, int level)
{
	struct vm *vm = opaque;

	return kvm_irq_line(vm->kvm.vm_fd, irq, level);
}

static int vm_msi_route(void *opaque, int *gsi, uint64_t addr, uint32_t data)
{
	struct vm *vm = opaque;

	return kvm_irq_msi_route(vm->irq, gsi, addr, data);
}

static void vm_msi_route_free(void *opaque, int gsi)
{
	struct vm *vm = opaque;

	kvm_irq_msi_route_free(vm->irq, gsi);
}

static int vm_irqfd(void *opaque, int gsi, int efd, bool assign)
{
	struct vm *vm = opaque;

	return kvm_irq_irqfd(vm->irq, gsi, efd, assign);
}

static int vm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
	struct vm *vm = opaque;

	return kvm_irq_msi_send(vm->irq, addr, data);
}

static int vm_ioeventfd(void *opaque, const struct device_ioeventfd *io, bool assign)
{
	struct vm *vm = opaque;

	return kvm_irq_ioeventfd(vm->irq, io, assign);
}

/*
 * Device fds go through this table so that a pause can mute them all (no
 * device work while paused) and a resume restore what each asked for.
 */
static int vm_watch_fd(void *opaque, int fd, uint32_t events, device_fd_fn fn, void *arg)
{
	struct vm *vm = opaque;
	struct vm_device_fd *slot = NULL;
	bool paused;
	int ret;

	pthread_mutex_lock(&vm->dev_fd_lock);
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS && !slot; i++)
		if (vm->dev_fd[i].fd == fd)
			slot = &vm->dev_fd[i];
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS && !slot; i++)
		if (vm->dev_fd[i].fd < 0)
			slot = &vm->dev_fd[i];
	if (!slot) {
		pthread_mutex_unlock(&vm->dev_fd_lock);
		return -ENOSPC;
	}
	paused = vm->rs_ready && runstate_get(&vm->rs) == VM_STATE_PAUSED;
	ret = loop_watch(&vm->loop, fd, paused ? 0 : events, fn, arg);
	if (!ret)
		*slot = (struct vm_device_fd){ .fd = fd, .events = events, .fn = fn, .arg = arg };
	pthread_mutex_unlock(&vm->dev_fd_lock);
	return ret;
}

static void vm_unwatch_fd(void *opaque, int fd)
{
	struct vm *vm = opaque;

	pthread_mutex_lock(&vm->dev_fd_lock);
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS; i++)
		if (vm->dev_fd[i].fd == fd)
			vm->dev_fd[i].fd = -1;
	loop_unwatch(&vm->loop, fd);
	pthread_mutex_unlock(&vm->dev_fd_lock);
}

/* Mute (pause) or restore (resume) every device fd. */
int vm_device_fds_mute(struct vm *vm, bool mute)
{
	int ret = 0;

	pthread_mutex_lock(&vm->dev_fd_lock);
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS; i++) {
		const struct vm_device_fd *d = &vm->dev_fd[i];
		int r;

		if (d->fd < 0)
			continue;
		r = loop_watch(&vm->loop, d->fd, mute ? 0 : d->events, d->fn, d->arg);
		if (r && !ret)
			ret = r;
	}
	pthread_mutex_unlock(&vm->dev_fd_lock);
	return ret;
}

/* ---- console input ---------------------------------------------------- */

/*
 * Console input is read when stdin is open, and for a terminal only when
 * memvmm is in the foreground (a background read would stop it with SIGTTIN).
 */
static int vm_stdin_fd(void)
{
	if (fcntl(STDIN_FILENO, F_GETFD) < 0)
		return -1;
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) != getpgrp())
		return -1;
	return STDIN_FILENO;
}

/* Copies stdin into the console pipe, for a stdin epoll cannot watch. */
static void *vm_stdin_feeder(void *arg)
{
	struct vm *vm = arg;
	char buf[4096];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf)), done = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (done < n) {
			ssize_t w = write(vm->stdin_pipe[1], buf + done, (size_t)(n - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;   /* EPIPE: the VM is going away */
			done += w;
		}
	}
out:
	close(vm->stdin_pipe[1]);
	vm->stdin_pipe[1] = -1;
	return NULL;
}

/*
 * The fd the UART reads console input from. epoll cannot watch a regular
 * file or /dev/null (EPERM), which the old poll() loop could: for those,
 * a thread copies stdin into a pipe, so `memvmm run < file` still feeds the
 * guest. -1: no input.
 */
static int vm_console_input_fd(struct vm *vm)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = vm_stdin_fd(), ep, err;

	if (fd < 0)
		return -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	err = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? errno : 0;
	close(ep);
	if (!err)
		return fd;
	if (err != EPERM || pipe2(vm->stdin_pipe, O_CLOEXEC) < 0)
		return -1;
	if (pthread_create(&vm->stdin_thread, NULL, vm_stdin_feeder, vm)) {
		close(vm->stdin_pipe[0]);
		close(vm->stdin_pipe[1]);
		vm->stdin_pipe[0] = vm->stdin_pipe[1] = -1;
		return -1;
	}
	vm->stdin_thread_running = true;
	return vm->stdin_pipe[0];
}

/* After the UART is gone: the feeder's next write fails, it ends. */
static void vm_console_input_close(struct vm *vm)
{
	if (vm->stdin_pipe[0] >= 0)
		close(vm->stdin_pipe[0]);
	vm->stdin_pipe[0] = -1;
	if (vm->stdin_thread_running) {
		(void)pthread_join(vm->stdin_thread, NULL);
		vm->stdin_thread_running = false;
	}
}

/* ---- the device list ---------------------------------------------------- */

/* Per-instance configurations of the devices in the list (they are copied by create()). */
struct vm_device_cfgs {
	struct serial_config com1;
	struct exit_dev_config exitc;
	struct vmem_config vmem;
	struct balloon_config balloon;
};

/*
 * The devices of this machine, in creation order, with their per-instance
 * configuration: the legacy ones, then PCI devices as the command line
 * asks (virtio-mem, then the balloon).
 */
static unsigned int vm_device_list(struct vm *vm, const struct run_config *cfg,
				   struct vm_device_spec *list, unsigned int max,
				   struct vm_device_cfgs *c)
{
	unsigned int n = 0;

	c->com1 = (struct serial_config){
		.port = MACHINE_COM1_PORT, .irq = MACHINE_COM1_IRQ,
		.input_fd = vm_console_input_fd(vm),
	};
	c->exitc = (struct exit_dev_config){ .port = MACHINE_EXIT_PORT };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &serial_device_ops, &c->com1 };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &exit_device_ops, &c->exitc };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &i8042_device_ops, NULL };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &acpi_sleep_device_ops, NULL };
	if (cfg->vmem.enabled && vm->vmem_region_ready && n < max) {
		c->vmem = (struct vmem_config){
			.region = vm->vmem_region,
			.block_size = cfg->vmem.block,
			.requested = cfg->vmem.requested,
			.populate = cfg->vmem.populate,
			.populate_threads = cfg->populate_threads,
		};
		list[n++] = (struct vm_device_spec){ &virtio_mem_device_ops, &c->vmem };
	}
	if (cfg->balloon.enabled && n < max) {
		c->balloon = (struct balloon_config){
			.target = cfg->balloon.size,
			.deflate_on_oom = cfg->balloon.deflate_on_oom,
			.free_page_reporting = cfg->balloon.free_page_reporting,
			.stats = cfg->balloon.stats,
			.stats_interval_s = cfg->balloon.stats_s,
			.populate = cfg->populate,
			.populate_threads = cfg->populate_threads,
		};
		list[n++] = (struct vm_device_spec){ &virtio_balloon_device_ops, &c->balloon };
	}
	return n;
}

/* The PCI host bridge, with the windows of the machine's layout. */
static int vm_create_pci(struct vm *vm, struct errmsg *e)
{
	const struct pci_host_config pc = {
		.mmio32_base = vm->layout.pci_mmio32_base,
		.mmio32_size = vm->layout.pci_mmio32_size,
		.mmio64_base = vm->layout.pci_mmio64_base,
		.mmio64_size = vm->layout.pci_mmio64_size,
	};
	int ret = pci_host_create(&vm->dev_ctx, &pc, &vm->pci);

	if (ret)
		return errmsg_set(e, ret, "PCI host setup failed: %s", strerror(-ret));
	vm->dev_ctx.pci = vm->pci;
	return 0;
}

int vm_create_devices(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	struct vm_device_spec list[VM_MAX_DEVICES];
	struct vm_device_cfgs c;
	unsigned int n;
	int ret;

	ret = bus_init(&vm->pio, "pio");
	if (ret)
		return errmsg_set(e, ret, "bus setup failed: %s", strerror(-ret));
	ret = bus_init(&vm->mmio, "mmio");
	if (ret) {
		bus_destroy(&vm->pio);
		return errmsg_set(e, ret, "bus setup failed: %s", strerror(-ret));
	}
	vm->buses_ready = true;
	if (cfg->debug)
		vm->pio.log = vm->mmio.log = stderr;
	ret = console_create(STDOUT_FILENO, &vm->console);
	if (ret)
		return errmsg_set(e, ret, "console setup failed: %s", strerror(-ret));
	ret = kvm_irq_init(&vm->irq, vm->kvm.vm_fd);
	if (ret)
		return errmsg_set(e, ret, "interrupt routing setup failed: %s", strerror(-ret));
	vm->dev_ctx = (struct device_ctx){
		.opaque = vm,
		.irq_line = vm_irq_line,
		.request_stop = vm_dev_stop,
		.console = vm->console,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.mem = &vm->mem,
		.msi_route = vm_msi_route,
		.msi_route_free = vm_msi_route_free,
		.irqfd = vm_irqfd,
		.msi_send = vm_msi_send,
		.ioeventfd = vm_ioeventfd,
		.watch_fd = vm_watch_fd,
		.unwatch_fd = vm_unwatch_fd,
	};
	ret = vm_create_pci(vm, e);
	if (ret)
		return ret;
	n = vm_device_list(vm, cfg, list, VM_MAX_DEVICES, &c);
	for (vm->nr_devices = 0; vm->nr_devices < n; vm->nr_devices++) {
		const struct vm_device_spec *d = &list[vm->nr_devices];
		struct vm_device *dev = &vm->dev[vm->nr_devices];

		ret = d->ops->create(&vm->dev_ctx, d->cfg, &dev->state);
		if (ret)
			return errmsg_set(e, ret, "device %s: %s", d->ops->name, strerror(-ret));
		dev->ops = d->ops;
		if (d->ops == &virtio_mem_device_ops)
			vm->vmem = dev->state;
		if (d->ops == &virtio_balloon_device_ops)
			vm->balloon = dev->state;
	}
	return 0;
}

void vm_destroy_devices(struct vm *vm)
{
	while (vm->nr_devices > 0) {
		struct vm_device *dev = &vm->dev[--vm->nr_devices];

		dev->ops->destroy(dev->state);
	}
	vm->vmem = NULL;
	vm->balloon = NULL;
	/* After every device on it. */
	pci_host_destroy(vm->pci);
	vm->pci = NULL;
	vm->dev_ctx.pci = NULL;
	vm_console_input_close(vm);
	kvm_irq_destroy(vm->irq);
	vm->irq = NULL;
	console_destroy(vm->console, &vm->console_stats);
	vm->console = NULL;
	if (vm->buses_ready) {
		bus_log_flush(&vm->pio);
		bus_log_flush(&vm->mmio);
		bus_destroy(&vm->mmio);
		bus_destroy(&vm->pio);
		vm->buses_ready = false;
	}
}
