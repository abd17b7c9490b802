// SPDX-License-Identifier: MIT
/*
 * The VM: creation in a fixed order (control socket, KVM, memory, buses,
 * devices, kernel, vCPUs), the main loop (stop requests, signals, the
 * control socket, device fds), pause and resume, the state API, and
 * teardown in reverse.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/exit_dev.h"
#include "devices/serial.h"
#include "mem/kvm_compat.h"
#include "mem/machine.h"
#include "vmm/boot.h"
#include "vmm/kvm_irq.h"
#include "vmm/options.h"
#include "vmm/vm_memory.h"

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	/* An eventfd write only fails if the counter would overflow. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

static void efd_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;   /* EAGAIN: already drained */
}

/* ---- stopping --------------------------------------------------------- */

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE) {
		vm->stop_reason = reason;
		vm->stop_status = status;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	efd_signal(vm->stop_efd);
}

static void vm_stop_cb(void *opaque, enum vm_stop_reason reason, int status)
{
	vm_request_stop(opaque, reason, status);
}

static void vm_vcpu_failed(void *opaque, const struct vcpu_failure *f)
{
	struct vm *vm = opaque;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE && !vm->have_failure) {
		vm->failure = *f;
		vm->have_failure = true;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	vm_request_stop(vm, f->reason, f->status);
}

static void vm_first_run(void *opaque)
{
	struct vm *vm = opaque;

	vm->first_run_ns = vm_now_ns();
	efd_signal(vm->started_efd);
}

static bool vm_cancelled(const struct vm *vm)
{
	return vm->cancel && atomic_load(vm->cancel);
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
static int vm_device_fds_mute(struct vm *vm, bool mute)
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

/* ---- creation --------------------------------------------------------- */

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

/*
 * The devices of this machine, in creation order, with their per-instance
 * configuration. Later issues append what the command line asks for
 * (virtio-mem, balloon) here.
 */
static unsigned int vm_device_list(struct vm *vm, struct vm_device_spec *list,
				   unsigned int max, struct serial_config *com1,
				   struct exit_dev_config *exitc)
{
	unsigned int n = 0;

	*com1 = (struct serial_config){
		.port = MACHINE_COM1_PORT, .irq = MACHINE_COM1_IRQ,
		.input_fd = vm_console_input_fd(vm),
	};
	*exitc = (struct exit_dev_config){ .port = MACHINE_EXIT_PORT };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &serial_device_ops, com1 };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &exit_device_ops, exitc };
	if (n < max)
		list[n++] = (struct vm_device_spec){ &i8042_device_ops, NULL };
	return n;
}

static int vm_create_devices(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	struct vm_device_spec list[VM_MAX_DEVICES];
	struct serial_config com1;
	struct exit_dev_config exitc;
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
		.request_stop = vm_stop_cb,
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
	n = vm_device_list(vm, list, VM_MAX_DEVICES, &com1, &exitc);
	for (vm->nr_devices = 0; vm->nr_devices < n; vm->nr_devices++) {
		const struct vm_device_spec *d = &list[vm->nr_devices];
		struct vm_device *dev = &vm->dev[vm->nr_devices];

		ret = d->ops->create(&vm->dev_ctx, d->cfg, &dev->state);
		if (ret)
			return errmsg_set(e, ret, "device %s: %s", d->ops->name, strerror(-ret));
		dev->ops = d->ops;
	}
	return 0;
}

static int vm_create_vcpus(struct vm *vm, const struct run_config *cfg,
			   const struct boot_result *boot, struct errmsg *e)
{
	struct kvm_cpuid2 *cpuid;
	unsigned int i;
	int ret;

	if ((int)cfg->vcpus > vm->kvm.max_vcpus) {
		e->bad_input = true;
		return errmsg_set(e, -EINVAL, "--vcpus %u: this host allows at most %d",
				  cfg->vcpus, vm->kvm.max_vcpus);
	}
	ret = vcpu_supported_cpuid(vm->kvm.sys_fd, &cpuid);
	if (ret)
		return errmsg_set(e, ret, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-ret));
	vm->vcpus = calloc(cfg->vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(cpuid);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	for (i = 0; i < cfg->vcpus; i++)
		vm->vcpus[i].fd = -1;
	vm->vcpu_env = (struct vcpu_env){
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.rs = &vm->rs,
		.request_stop = vm_stop_cb,
		.fail = vm_vcpu_failed,
		.opaque = vm,
		.first_run = vm_first_run,
	};
	for (i = 0; i < cfg->vcpus; i++) {
		vm->nr_vcpus = i + 1;
		ret = vcpu_create(&vm->vcpus[i], &vm->kvm, i, cpuid, &vm->vcpu_env, e);
		if (ret)
			break;
	}
	free(cpuid);
	if (ret)
		return ret;
	/* The boot processor enters the kernel; the others wait for INIT/SIPI. */
	return vcpu_setup_pvh(&vm->vcpus[0], boot->entry, boot->start_info, e);
}

static void vm_kick(void *arg, unsigned int i)
{
	struct vm *vm = arg;

	if (i < vm->nr_vcpus)
		vcpu_kick(&vm->vcpus[i]);
}

static void vm_unkick(void *arg, unsigned int i)
{
	struct vm *vm = arg;

	if (i < vm->nr_vcpus)
		vcpu_unkick(&vm->vcpus[i]);
}

/* Everything a VM needs before anything can fail halfway: locks, fds, the loop. */
static int vm_init_basics(struct vm *vm, struct errmsg *e)
{
	int ret;

	ret = pthread_mutex_init(&vm->stop_lock, NULL);
	if (ret)
		return errmsg_set(e, -ret, "pthread_mutex_init failed: %s", strerror(ret));
	ret = pthread_mutex_init(&vm->dev_fd_lock, NULL);
	if (ret) {
		pthread_mutex_destroy(&vm->stop_lock);
		return errmsg_set(e, -ret, "pthread_mutex_init failed: %s", strerror(ret));
	}
	vm->locks_ready = true;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->started_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0 || vm->started_efd < 0)
		return errmsg_set(e, -errno, "eventfd failed: %s", strerror(errno));
	ret = loop_init(&vm->loop);
	if (ret)
		return errmsg_set(e, ret, "epoll setup failed: %s", strerror(-ret));
	vm->loop_ready = true;
	return 0;
}

int vm_create(struct vm *vm, const struct run_config *cfg, const struct vm_create_opts *o,
	      struct errmsg *e)
{
	struct boot_request req = {
		.kernel = cfg->kernel, .initrd = cfg->initrd, .cmdline = cfg->cmdline,
		.mem_is_zero = true,   /* fresh guest memory: the bss stays unpopulated */
	};
	struct boot_result boot;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->start_ns = vm_now_ns();
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->stop_efd = vm->started_efd = vm->signal_fd = -1;
	vm->control.listen_fd = -1;
	vm->stdin_pipe[0] = vm->stdin_pipe[1] = -1;
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS; i++)
		vm->dev_fd[i].fd = -1;
	if (o) {
		vm->cancel = o->cancel;
		vm->progress = o->progress;
		vm->progress_arg = o->progress_arg;
	}
	e->bad_input = false;
	ret = vm_init_basics(vm, e);
	if (ret)
		return ret;
	/* What the user named must be usable before any long work starts. */
	ret = boot_check_files(&req, e);
	if (ret)
		return ret;
	if (cfg->api_socket) {
		/*
		 * Before the VM's threads exist: the socket is created under a
		 * temporary umask (main's signal watcher creates no files).
		 */
		ret = control_open(&vm->control, cfg->api_socket, e);
		if (ret)
			return ret;
		vm->control_ready = true;
	}
	ret = kvm_open(&vm->kvm, e);
	if (!ret)
		ret = kvm_create_vm(&vm->kvm, e);
	if (!ret)
		ret = vm_create_memory(vm, cfg, e);
	if (ret)
		return ret;
	vm_register_start(vm);
	ret = kvm_create_irqchip(&vm->kvm, e);
	if (!ret)
		ret = vm_create_devices(vm, cfg, e);
	if (!ret && vm_cancelled(vm))
		ret = errmsg_set(e, -ECANCELED, "stopped while setting up the VM");
	if (!ret)
		ret = boot_load(&vm->mem, &req, &boot, e);
	if (!ret)
		ret = runstate_init(&vm->rs, cfg->vcpus, vm_kick, vm_unkick, vm) ?
		      errmsg_set(e, -ENOMEM, "run state setup failed") : 0;
	if (!ret) {
		vm->rs_ready = true;
		ret = vm_create_vcpus(vm, cfg, &boot, e);
	}
	ret = vm_register_finish(vm, e, ret);
	if (!ret && vm_cancelled(vm))
		ret = errmsg_set(e, -ECANCELED, "stopped while setting up the VM");
	if (!ret)
		ret = vm_prefault(vm, cfg, e);
	return ret;
}

/* ---- running ---------------------------------------------------------- */

static void vm_on_stop(void *arg, uint32_t events)
{
	struct vm *vm = arg;

	efd_drain(vm->stop_efd);
}

static void vm_on_started(void *arg, uint32_t events)
{
	struct vm *vm = arg;

	efd_drain(vm->started_efd);
	if (vm->on_started)
		vm->on_started(vm, vm->on_started_arg);
}

static void vm_on_signal(void *arg, uint32_t events)
{
	struct vm *vm = arg;
	struct signalfd_siginfo si;

	if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (!vm->stop_signal)
		vm->stop_signal = (int)si.ssi_signo;
	vm_request_stop(vm, VM_STOP_SIGNAL, 128 + (int)si.ssi_signo);
}

static bool vm_stop_requested(struct vm *vm)
{
	bool stop;

	pthread_mutex_lock(&vm->stop_lock);
	stop = vm->stop_reason != VM_STOP_NONE;
	pthread_mutex_unlock(&vm->stop_lock);
	return stop;
}

static void vm_stop_vcpus(struct vm *vm, unsigned int started)
{
	runstate_stop(&vm->rs);
	for (unsigned int i = 0; i < started; i++)
		vcpu_join(&vm->vcpus[i]);
	runstate_stopped(&vm->rs);
}

/* The main loop's fds: stop and start events, signals, the control socket. */
static int vm_watch_core(struct vm *vm, int signal_fd)
{
	int ret;

	ret = loop_watch(&vm->loop, vm->stop_efd, EPOLLIN, vm_on_stop, vm);
	if (!ret)
		ret = loop_watch(&vm->loop, vm->started_efd, EPOLLIN, vm_on_started, vm);
	if (!ret && signal_fd >= 0) {
		vm->signal_fd = signal_fd;
		ret = loop_watch(&vm->loop, signal_fd, EPOLLIN, vm_on_signal, vm);
	}
	if (!ret && vm->control_ready)
		ret = control_attach(&vm->control, &vm->loop, vm_control_commands,
				     vm_nr_control_commands, vm);
	return ret;
}

int vm_run(struct vm *vm, int signal_fd, void (*on_started)(struct vm *vm, void *arg),
	   void *arg)
{
	unsigned int started;
	int ret;

	vm->on_started = on_started;
	vm->on_started_arg = arg;
	ret = vm_watch_core(vm, signal_fd);
	if (ret)
		return ret;
	runstate_start(&vm->rs, vm->nr_vcpus);
	for (started = 0; started < vm->nr_vcpus; started++) {
		ret = vcpu_start(&vm->vcpus[started]);
		if (ret) {
			struct vcpu_failure f = { .vcpu = started, .reason = VM_STOP_ERROR,
						  .status = 1 };

			snprintf(f.what, sizeof(f.what), "starting the vCPU thread failed: %s",
				 strerror(-ret));
			/* The threads never started do not count as alive. */
			for (unsigned int i = started; i < vm->nr_vcpus; i++)
				runstate_vcpu_exit(&vm->rs);
			vm_vcpu_failed(vm, &f);
			break;
		}
	}
	while (!vm_stop_requested(vm)) {
		ret = loop_run_once(&vm->loop, -1);
		if (ret < 0) {
			struct vcpu_failure f = { .vcpu = 0, .reason = VM_STOP_ERROR, .status = 1 };

			snprintf(f.what, sizeof(f.what), "the main loop failed: epoll_wait: %s",
				 strerror(-ret));
			vm_vcpu_failed(vm, &f);
		}
	}
	vm_stop_vcpus(vm, started);
	return vm->stop_status;
}

int vm_pause(struct vm *vm)
{
	int ret = runstate_pause(&vm->rs);

	if (ret)
		return ret;
	/* Device work stops with the vCPUs: their fds are muted until resume. */
	ret = vm_device_fds_mute(vm, true);
	if (ret) {
		/* Cannot quiesce: do not claim a pause. */
		if (runstate_resume(&vm->rs) == 0)
			(void)vm_device_fds_mute(vm, false);
		return ret;
	}
	return 0;
}

int vm_resume(struct vm *vm)
{
	int ret;

	if (runstate_get(&vm->rs) != VM_STATE_PAUSED)
		return -EINVAL;
	ret = vm_device_fds_mute(vm, false);
	if (ret)
		return ret;
	return runstate_resume(&vm->rs);
}

enum vm_state vm_state(struct vm *vm)
{
	return vm->rs_ready ? runstate_get(&vm->rs) : VM_STATE_CREATED;
}

/* The state API needs a paused VM; the capabilities are found once. */
static int vm_state_ready(struct vm *vm)
{
	if (vm_state(vm) != VM_STATE_PAUSED)
		return -EBUSY;
	if (!vm->state_caps) {
		struct kvm_state_caps *caps = malloc(sizeof(*caps));
		int ret;

		if (!caps)
			return -ENOMEM;
		ret = kvm_state_caps_init(vm->kvm.sys_fd, vm->kvm.vm_fd, caps);
		if (ret) {
			free(caps);
			return ret;
		}
		vm->state_caps = caps;
	}
	return 0;
}

int vm_vcpu_state_get(struct vm *vm, unsigned int i, struct vcpu_state *st)
{
	int ret = vm_state_ready(vm);

	if (!ret && i >= vm->nr_vcpus)
		ret = -EINVAL;
	if (ret)
		return ret;
	return vcpu_state_get(vm->vcpus[i].fd, vm->state_caps, st);
}

int vm_vcpu_state_set(struct vm *vm, unsigned int i, const struct vcpu_state *st,
		      uint32_t *failed_msr)
{
	int ret = vm_state_ready(vm);

	if (!ret && i >= vm->nr_vcpus)
		ret = -EINVAL;
	if (ret)
		return ret;
	return vcpu_state_set(vm->vcpus[i].fd, st, failed_msr);
}

int vm_irqchip_state_get(struct vm *vm, struct vm_irq_state *st)
{
	int ret = vm_state_ready(vm);

	return ret ? ret : vm_irq_state_get(vm->kvm.vm_fd, st);
}

int vm_irqchip_state_set(struct vm *vm, const struct vm_irq_state *st)
{
	int ret = vm_state_ready(vm);

	return ret ? ret : vm_irq_state_set(vm->kvm.vm_fd, st);
}

/* ---- teardown --------------------------------------------------------- */

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	if (vm->register_running) {
		(void)pthread_join(vm->register_thread, NULL);
		vm->register_running = false;
	}
	if (vm->control_ready) {
		control_close(&vm->control);
		vm->control_ready = false;
	}
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	while (vm->nr_devices > 0) {
		struct vm_device *dev = &vm->dev[--vm->nr_devices];

		dev->ops->destroy(dev->state);
	}
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
	mem_destroy(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->rs_ready) {
		runstate_destroy(&vm->rs);
		vm->rs_ready = false;
	}
	free(vm->state_caps);
	vm->state_caps = NULL;
	if (vm->loop_ready) {
		loop_destroy(&vm->loop);
		vm->loop_ready = false;
	}
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->started_efd >= 0)
		close(vm->started_efd);
	vm->stop_efd = vm->started_efd = -1;
	if (vm->locks_ready) {
		pthread_mutex_destroy(&vm->dev_fd_lock);
		pthread_mutex_destroy(&vm->stop_lock);
		vm->locks_ready = false;
	}
}
