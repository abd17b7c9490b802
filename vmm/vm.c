// SPDX-License-Identifier: MIT
/*
 * The VM: creation in a fixed order (KVM, memory, buses, devices, kernel,
 * vCPUs), the main thread's loop (stop requests, signals, console input), and
 * teardown in reverse.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/serial.h"
#include "mem/kvm_compat.h"
#include "vmm/boot.h"
#include "vmm/options.h"

/* Devices every VM has, created in this order and destroyed in reverse. */
static const struct device_ops *const vm_devices[] = {
	&serial_device_ops,
	&exit_device_ops,
	&i8042_device_ops,
};
#define VM_NR_DEVICES (sizeof(vm_devices) / sizeof(vm_devices[0]))
_Static_assert(VM_NR_DEVICES <= VM_MAX_DEVICES, "device table fits");

#define CONSOLE_POLL_RETRY_MS 10

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

static void vm_request_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	struct vm *vm = opaque;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE) {
		vm->stop_reason = reason;
		vm->stop_status = status;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	atomic_store(&vm->stopping, true);
	efd_signal(vm->stop_efd);
}

static void vm_first_run(void *opaque)
{
	struct vm *vm = opaque;

	vm->first_run_ns = vm_now_ns();
	efd_signal(vm->started_efd);
}

static int vm_irq_line(void *opaque, unsigned int irq, int level)
{
	struct vm *vm = opaque;

	return kvm_irq_line(vm->kvm.vm_fd, irq, level);
}

/* Say which region failed, on which backend, and what the host lacks. */
static int vm_memory_error(const struct mem_config *mc, unsigned int failed, int ret,
			   struct errmsg *e)
{
	struct mem_layout layout = { 0 };
	uint64_t size = 0, gpa = 0;
	char extra[160] = "";

	if (mem_layout_build(mc->size, &layout) == 0 && failed < layout.nr) {
		size = layout.range[failed].size;
		gpa = layout.range[failed].gpa;
	}
	if (mc->backend->explain_create_error)
		mc->backend->explain_create_error(size, ret, extra, sizeof(extra));
	return errmsg_set(e, ret, "cannot allocate guest memory: %s region %u (%lluM at 0x%llx "
			  "of %lluM): %s (%s)%s%s", mc->backend->name, failed,
			  (unsigned long long)(size >> 20), (unsigned long long)gpa,
			  (unsigned long long)(mc->size >> 20),
			  strerrorname_np(-ret) ? strerrorname_np(-ret) : "?", strerror(-ret),
			  extra[0] ? "; " : "", extra);
}

/* From this much RAM on, population shows its progress on a terminal. */
#define VM_PROGRESS_MIN_BYTES (1ull << 30)

struct vm_progress {
	uint64_t start_ns;
	uint64_t before;    /* bytes of the regions already done */
	uint64_t total;     /* all RAM */
};

/* Progress on stderr: bytes, percent and rate, rewritten in place. */
static void vm_populate_progress(void *arg, uint64_t region_done, uint64_t region_total)
{
	const struct vm_progress *p = arg;
	double secs = (double)(vm_now_ns() - p->start_ns) / 1e9;
	uint64_t done = p->before + region_done, total = p->total;

	fprintf(stderr, "\rmemvmm: populating %llu/%lluM %3u%% %.2f GB/s%s",
		(unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
		total ? (unsigned int)(done * 100 / total) : 100,
		secs > 0 ? (double)done / 1e9 / secs : 0.0, done >= total ? "\n" : "");
}

/* Say which region failed, on which backend, with which strategy, and why. */
static int vm_populate_error(struct vm *vm, const struct run_config *cfg, int ret,
			     struct errmsg *e)
{
	const struct mem_populate_report *rep = &vm->populate;
	const struct mem_region *r = &vm->mem.region[rep->err_region % MEM_MAX_REGIONS];
	const char *why = rep->nr ? rep->region[rep->nr - 1].why : "";
	char extra[160] = "";

	if (r->ops && r->ops->explain_create_error)
		r->ops->explain_create_error(r->size, ret, extra, sizeof(extra));
	if (ret == -EOPNOTSUPP && why[0])
		return errmsg_set(e, ret, "cannot populate guest memory: %s region %u: %s",
				  vm->mem.ops->name, rep->err_region, why);
	return errmsg_set(e, ret, "cannot populate guest memory: %s region %u (%lluM at 0x%llx) "
			  "with populate=%s failed at 0x%llx: %s (%s)%s%s", vm->mem.ops->name,
			  rep->err_region, (unsigned long long)(r->size >> 20),
			  (unsigned long long)r->gpa, mem_populate_name(rep->err_strategy),
			  (unsigned long long)rep->err_gpa,
			  strerrorname_np(-ret) ? strerrorname_np(-ret) : "?", strerror(-ret),
			  extra[0] ? "; " : "", extra);
}

/* Back all of RAM before the guest runs, as cfg->populate says. */
static int vm_populate(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	struct vm_progress progress = { .start_ns = vm_now_ns(), .total = vm->mem.ram_size };
	struct mem_populate_req req = {
		.strategy = cfg->populate,
		.max_threads = cfg->populate_threads,
	};
	int ret;

	if (!cfg->quiet && vm->mem.ram_size >= VM_PROGRESS_MIN_BYTES && isatty(STDERR_FILENO)) {
		req.progress = vm_populate_progress;
		req.progress_arg = &progress;
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		struct mem_populate_report one;

		ret = mem_populate(&vm->mem, r->gpa, r->size, &req, &one);
		/* Keep every region's line and the failure's details. */
		if (one.nr && vm->populate.nr < MEM_MAX_REGIONS)
			vm->populate.region[vm->populate.nr++] = one.region[0];
		vm->populate.err = one.err;
		vm->populate.err_region = one.err_region;
		vm->populate.err_gpa = one.err_gpa;
		vm->populate.err_strategy = one.err_strategy;
		if (ret) {
			if (req.progress)
				fputc('\n', stderr);  /* end the unfinished progress line */
			return vm_populate_error(vm, cfg, ret, e);
		}
		progress.before += r->size;
	}
	vm->populate_ns = vm_now_ns() - progress.start_ns;
	return 0;
}

static int vm_create_memory(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	char why[160] = "";
	struct mem_config mc = { .size = cfg->mem_size, .backend = cfg->backend };
	unsigned int failed = 0;
	int ret;

	if (!mc.backend) {
		mc.backend = mem_backend_default(vm->kvm.vm_fd, vm->backend_note,
						 sizeof(vm->backend_note));
	} else if (mc.backend->supported(vm->kvm.vm_fd, why, sizeof(why))) {
		return errmsg_set(e, -EOPNOTSUPP, "backend %s is not supported here: %s",
				  mc.backend->name, why);
	}
	ret = mem_create(&vm->mem, &mc, vm->kvm.vm_fd, &failed);
	if (ret)
		return vm_memory_error(&mc, failed, ret, e);
	return vm_populate(vm, cfg, e);
}

/*
 * KVM_PRE_FAULT_MEMORY over all RAM on vCPU 0, so the guest takes no
 * stage-2 faults. The ioctl is the test of support: x86 reports the cap
 * only with TDP, and without it the ioctl fails with EOPNOTSUPP.
 */
static int vm_prefault(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	int cap = kvm_check_cap(vm->kvm.vm_fd, KVM_CAP_PRE_FAULT_MEMORY);
	const char *name;
	int ret;

	if (cfg->prefault == MEM_PREFAULT_OFF) {
		snprintf(vm->prefault_note, sizeof(vm->prefault_note), "off");
		return 0;
	}
	ret = mem_prefault(&vm->mem, vm->vcpus[0].fd, &vm->prefault);
	if (!ret)
		return 0;
	name = strerrorname_np(-ret) ? strerrorname_np(-ret) : "?";
	vm->prefault.used = false;
	if ((ret == -EOPNOTSUPP || ret == -ENOTTY) && !vm->prefault.bytes) {
		snprintf(vm->prefault_note, sizeof(vm->prefault_note),
			 "not supported (%s, KVM_CAP_PRE_FAULT_MEMORY %d%s)", name, cap,
			 ret == -EOPNOTSUPP ? "; x86 needs TDP (EPT/NPT)" : "");
		if (cfg->prefault == MEM_PREFAULT_AUTO)
			return 0;
		return errmsg_set(e, ret, "prefault=on: KVM_PRE_FAULT_MEMORY is %s",
				  vm->prefault_note);
	}
	return errmsg_set(e, ret, "KVM_PRE_FAULT_MEMORY failed at 0x%llx after %lluM: %s (%s)",
			  (unsigned long long)vm->prefault.err_gpa,
			  (unsigned long long)(vm->prefault.bytes >> 20), name, strerror(-ret));
}

/*
 * Installing a memslot costs this host's kernel 4-8 ms whatever its size, as
 * long as the rest of VM setup together; so the slots go in on their own
 * thread while the irqchip, devices, kernel and vCPUs are set up. Guest
 * memory is only written through its host mapping meanwhile.
 */
static void *vm_register_thread(void *arg)
{
	struct vm *vm = arg;

	vm->register_ret = mem_register(&vm->mem, vm->kvm.user_memory2);
	return NULL;
}

static void vm_register_start(struct vm *vm)
{
	if (pthread_create(&vm->register_thread, NULL, vm_register_thread, vm) == 0)
		vm->register_running = true;
	else
		vm_register_thread(vm);  /* no thread: do it here */
}

static int vm_register_finish(struct vm *vm, struct errmsg *e, int ret)
{
	if (vm->register_running) {
		pthread_join(vm->register_thread, NULL);
		vm->register_running = false;
	}
	if (ret || !vm->register_ret)
		return ret;
	return errmsg_set(e, vm->register_ret, "installing KVM memory slots (%s) failed: %s",
			  vm->kvm.user_memory2 ? "KVM_SET_USER_MEMORY_REGION2" :
			  "KVM_SET_USER_MEMORY_REGION", strerror(-vm->register_ret));
}

static int vm_create_devices(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
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
	vm->dev_ctx = (struct device_ctx){
		.opaque = vm,
		.irq_line = vm_irq_line,
		.request_stop = vm_request_stop,
		.console = vm->console,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
	};
	for (vm->nr_devices = 0; vm->nr_devices < VM_NR_DEVICES; vm->nr_devices++) {
		const struct device_ops *ops = vm_devices[vm->nr_devices];

		ret = ops->create(&vm->dev_ctx, NULL, &vm->dev_state[vm->nr_devices]);
		if (ret)
			return errmsg_set(e, ret, "device %s: %s", ops->name, strerror(-ret));
		if (ops == &serial_device_ops)
			vm->serial = vm->dev_state[vm->nr_devices];
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
		.stopping = &vm->stopping,
		.request_stop = vm_request_stop,
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

/* The signals that stop the VM in order; read through a signalfd by vm_run(). */
static void vm_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int vm_create(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
{
	struct boot_request req = {
		.kernel = cfg->kernel, .initrd = cfg->initrd, .cmdline = cfg->cmdline,
	};
	struct boot_result boot;
	sigset_t stop_sigs;
	int ret;

	/*
	 * Blocked before any thread exists (console, memslots, vCPUs inherit the
	 * mask), so that only vm_run()'s signalfd ever sees them, and they stay
	 * blocked until exit: a second signal during teardown must not kill
	 * memvmm before it has flushed the console and cleaned up.
	 */
	vm_stop_signals(&stop_sigs);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	memset(vm, 0, sizeof(*vm));
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->stop_efd = vm->started_efd = -1;
	e->bad_input = false;
	ret = pthread_mutex_init(&vm->stop_lock, NULL);
	if (ret)
		return errmsg_set(e, -ret, "pthread_mutex_init failed");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->started_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0 || vm->started_efd < 0)
		return errmsg_set(e, -errno, "eventfd failed: %s", strerror(errno));
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
	if (!ret)
		ret = boot_load(&vm->mem, &req, &boot, e);
	if (!ret)
		ret = vm_create_vcpus(vm, cfg, &boot, e);
	ret = vm_register_finish(vm, e, ret);
	if (!ret)
		ret = vm_prefault(vm, cfg, e);
	return ret;
}

/*
 * Console input is read when stdin is open, and for a terminal only when
 * memvmm is in the foreground (a background read would stop it with SIGTTIN).
 */
static bool vm_stdin_usable(void)
{
	if (fcntl(STDIN_FILENO, F_GETFD) < 0)
		return false;
	return !isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) == getpgrp();
}

/* Move console input to the UART as far as its FIFO has room. */
static bool vm_console_input(struct vm *vm)
{
	char buf[SERIAL_RX_FIFO_BYTES];
	size_t room = serial_rx_room(vm->serial);
	ssize_t n;

	if (!room)
		return true;
	n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;  /* EOF: stop watching stdin */
	serial_receive(vm->serial, buf, (size_t)n);
	return true;
}

static void vm_stop_vcpus(struct vm *vm)
{
	unsigned int i;

	atomic_store(&vm->stopping, true);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

int vm_run(struct vm *vm, void (*on_started)(struct vm *vm, void *arg), void *arg)
{
	enum { FD_STOP, FD_STARTED, FD_SIGNAL, FD_STDIN, NR_FDS };
	struct pollfd pfd[NR_FDS];
	bool stdin_open = vm_stdin_usable();
	sigset_t sigs;
	unsigned int i;
	int sfd, ret;

	vm_stop_signals(&sigs);  /* blocked since vm_create() */
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "memvmm: signalfd failed: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret) {
			fprintf(stderr, "memvmm: starting vCPU %u failed: %s\n", i, strerror(-ret));
			vm_request_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
	}
	while (!atomic_load(&vm->stopping)) {
		bool fifo_full = stdin_open && !serial_rx_room(vm->serial);

		pfd[FD_STOP] = (struct pollfd){ .fd = vm->stop_efd, .events = POLLIN };
		pfd[FD_STARTED] = (struct pollfd){ .fd = vm->started_efd, .events = POLLIN };
		pfd[FD_SIGNAL] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[FD_STDIN] = (struct pollfd){
			.fd = stdin_open && !fifo_full ? STDIN_FILENO : -1, .events = POLLIN,
		};
		ret = poll(pfd, NR_FDS, fifo_full ? CONSOLE_POLL_RETRY_MS : -1);
		if (ret < 0 && errno != EINTR) {
			fprintf(stderr, "memvmm: poll failed: %s\n", strerror(errno));
			vm_request_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
		if (ret <= 0)
			continue;
		if (pfd[FD_STARTED].revents & POLLIN) {
			uint64_t v;

			if (read(vm->started_efd, &v, sizeof(v)) == sizeof(v) && on_started)
				on_started(vm, arg);
		}
		if (pfd[FD_SIGNAL].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				fprintf(stderr, "memvmm: stopping on %s\n", strsignal((int)si.ssi_signo));
				vm_request_stop(vm, VM_STOP_SIGNAL, 128 + (int)si.ssi_signo);
			}
		}
		if (pfd[FD_STDIN].revents & (POLLIN | POLLHUP | POLLERR))
			stdin_open = vm_console_input(vm);
	}
	vm_stop_vcpus(vm);
	close(sfd);
	return vm->stop_status;
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	while (vm->nr_devices > 0) {
		vm->nr_devices--;
		vm_devices[vm->nr_devices]->destroy(vm->dev_state[vm->nr_devices]);
	}
	console_destroy(vm->console);
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
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->started_efd >= 0)
		close(vm->started_efd);
	vm->stop_efd = vm->started_efd = -1;
	pthread_mutex_destroy(&vm->stop_lock);
}
