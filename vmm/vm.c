// SPDX-License-Identifier: MIT
/*
 * The VM: creation in a fixed order (control socket, KVM, memory, buses,
 * devices, kernel, vCPUs), the main loop (stop requests, signals, the
 * control socket, device fds), pause and resume, the state API, and
 * teardown in reverse.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "vmm/acpi.h"
#include "vmm/boot.h"
#include "vmm/options.h"
#include "vmm/vm_devices.h"
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

/* ---- creation --------------------------------------------------------- */

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
	{
		char why[256];

		/* --cpu (or the snapshot's): refused only for a +NAME this KVM lacks. */
		ret = cpu_model_apply(&cfg->cpu, cpuid, why, sizeof(why));
		if (ret) {
			free(cpuid);
			e->bad_input = true;
			return errmsg_set(e, ret, "CPU model '%s': %s", cfg->cpu.spec, why);
		}
	}
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
	if (ret || vm->restore_chain)
		return ret;   /* a restore sets the saved state later */
	/* The boot processor enters the kernel; the others wait for INIT/SIPI. */
	if (boot->protocol == BOOT_LINUX64)
		return vcpu_setup_linux64(&vm->vcpus[0], boot->entry64, boot->boot_params_gpa,
					  boot->pml4_gpa, e);
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

/*
 * The configuration memory is created with: a restore populates nothing
 * up front (the snapshot's data go in by the restore mode; its populate=
 * only says how eager restore backs the holes).
 */
static const struct run_config *vm_memory_cfg(struct vm *vm, const struct run_config *cfg,
					      struct run_config *copy)
{
	if (!vm->restore_chain)
		return cfg;
	*copy = *cfg;
	copy->populate = MEM_POPULATE_NONE;
	vm->restore_prealloc = cfg->populate;
	vm->restore_threads = cfg->populate_threads;
	vm->restore.requested = cfg->restore.mode;
	vm->restore_background = cfg->restore.background;
	vm->restore.start_ns = vm->start_ns;
	return copy;
}

/* What a snapshot of this VM records about the machine. */
static void vm_remember_config(struct vm *vm, const struct run_config *cfg)
{
	snapshot_remember_config(vm, cfg);
	if (!vm->restore_chain)
		return;
	/* A restored VM is the saved machine, on the backend it has now. */
	vm->snap_cfg = vm->restore_chain->state[0].cfg;
	snprintf(vm->snap_cfg.backend, sizeof(vm->snap_cfg.backend), "%s", vm->mem.ops->name);
}

/*
 * What firmware would leave in the reserved legacy area: the ACPI tables
 * (vmm/acpi.h: the MADT lists every vCPU, the DSDT the PCI host's windows)
 * and, at the reset vector, a real-mode stub that resets through the i8042:
 * mov $0xfe, %al; out %al, $0x64; 1: hlt; jmp 1b. A restore brings its own
 * in guest memory.
 */
static int vm_write_firmware(struct vm *vm, const struct run_config *cfg, uint64_t *rsdp_gpa,
			     struct errmsg *e)
{
	static const uint8_t reset_stub[] = {
		0xb0, MACHINE_I8042_CMD_RESET, 0xe6, MACHINE_I8042_COMMAND_PORT, 0xf4, 0xeb, 0xfd,
	};
	struct acpi_config ac = { .nr_vcpus = cfg->vcpus, .layout = &vm->layout };
	int ret = acpi_tables_write(&vm->mem, &ac, rsdp_gpa);

	if (ret)
		return errmsg_set(e, ret, "writing the ACPI tables failed: %s", strerror(-ret));
	ret = mem_write(&vm->mem, MACHINE_RESET_VECTOR_GPA, reset_stub, sizeof(reset_stub));
	if (ret)
		return errmsg_set(e, ret, "writing the reset vector failed: %s", strerror(-ret));
	return 0;
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
		.ram_size = cfg->mem_size,
	};
	struct boot_result boot = { 0 };
	struct run_config mcfg;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->start_ns = vm_now_ns();
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->stop_efd = vm->started_efd = vm->signal_fd = -1;
	vm->control.listen_fd = -1;
	vm->stdin_pipe[0] = vm->stdin_pipe[1] = -1;
	for (unsigned int i = 0; i < VM_MAX_DEVICE_FDS; i++)
		vm->dev_fd[i].fd = -1;
	vm->restore.lazy_done_efd = vm->lease_sfd = -1;
	if (o) {
		vm->restore_chain = o->restore;
		vm->cancel = o->cancel;
		vm->progress = o->progress;
		vm->progress_arg = o->progress_arg;
	}
	e->bad_input = false;
	ret = vm_init_basics(vm, e);
	if (ret)
		return ret;
	/* What the user named must be usable before any long work starts. */
	ret = vm->restore_chain ? 0 : boot_check_files(&req, e);
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
		ret = vm_create_memory(vm, vm_memory_cfg(vm, cfg, &mcfg), e);
	if (ret)
		return ret;
	vm_remember_config(vm, cfg);
	if (vm->restore_chain) {
		ret = vm_restore_prepare(vm, e);
		if (ret)
			return ret;
	}
	vm_register_start(vm);
	ret = kvm_create_irqchip(&vm->kvm, e);
	if (!ret)
		ret = vm_create_devices(vm, cfg, e);
	if (!ret && vm_cancelled(vm))
		ret = errmsg_set(e, -ECANCELED, "stopped while setting up the VM");
	if (!ret && !vm->restore_chain)
		ret = vm_write_firmware(vm, cfg, &req.acpi_rsdp_gpa, e);
	if (!ret && !vm->restore_chain)
		ret = boot_load(&vm->mem, &req, &boot, e);
	if (!ret && !vm->restore_chain)
		snprintf(vm->boot_what, sizeof(vm->boot_what), "%s", boot.what);
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
	if (!ret && vm->restore_chain)
		ret = vm_restore(vm, e);
	/* Pre-fault would fault in what lazy and map restores leave to the guest. */
	if (!ret && (!vm->restore_chain || vm->restore.used == RESTORE_EAGER))
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

/* ---- restored VMs: the lazy fill and map mode's lease ------------------ */

static void vm_on_lazy_done(void *arg, uint32_t events)
{
	struct vm *vm = arg;

	efd_drain(vm->restore.lazy_done_efd);
	if (vm->on_restored)
		vm->on_restored(vm, vm->on_started_arg);
}

static void vm_on_lazy_error(void *arg, uint32_t events)
{
	struct vm *vm = arg;
	struct vcpu_failure f = { .vcpu = 0, .reason = VM_STOP_ERROR, .status = 1 };
	int err = -EIO;

	if (!vm_restore_lazy_failed(vm, &err))
		return;
	snprintf(f.what, sizeof(f.what), "lazy restore: serving guest memory from the snapshot "
		 "failed: %s (a memory file truncated or unreadable?)", strerror(-err));
	vm_vcpu_failed(vm, &f);
}

/*
 * Someone wants to write or truncate a mapped memory file: copy the region
 * into anonymous memory (paused, so that no guest write is lost), let go.
 */
static void vm_on_lease_break(void *arg, uint32_t events)
{
	struct vm *vm = arg;
	struct signalfd_siginfo si;
	struct vcpu_failure f = { .vcpu = 0, .reason = VM_STOP_ERROR, .status = 1 };
	bool paused = false, detached;
	int ret = 0;

	while (read(vm->lease_sfd, &si, sizeof(si)) == sizeof(si))
		;
	if (vm_state(vm) == VM_STATE_RUNNING) {
		ret = vm_pause(vm);
		paused = !ret;
	}
	for (unsigned int i = 0; i < MEM_MAX_REGIONS && !ret; i++) {
		struct mem_snap_map *m = vm->restore.map_region[i];

		if (m && !mem_snap_map_is_detached(m)) {
			ret = mem_snap_map_detach(m, &detached);
			if (ret)
				snprintf(f.what, sizeof(f.what), "map restore: copying region %u out "
					 "of its memory file (which is being changed) failed: %s", i,
					 strerror(-ret));
		}
	}
	if (!ret && paused)
		ret = vm_resume(vm);
	if (ret && !f.what[0])
		snprintf(f.what, sizeof(f.what), "map restore: pausing around the copy out of the "
			 "memory file failed: %s", strerror(-ret));
	if (ret)
		vm_vcpu_failed(vm, &f);
}

static int vm_watch_restore(struct vm *vm)
{
	struct restore_info *ri = &vm->restore;
	bool mapped = false;
	sigset_t set;
	int ret = 0;

	for (unsigned int i = 0; i < MEM_MAX_REGIONS && !ret; i++) {
		mapped |= ri->map_region[i] != NULL;
		if (ri->lazy_region[i])
			ret = loop_watch(&vm->loop, mem_lazy_error_fd(ri->lazy_region[i]), EPOLLIN,
					 vm_on_lazy_error, vm);
	}
	if (!ret && ri->lazy_done_efd >= 0)
		ret = loop_watch(&vm->loop, ri->lazy_done_efd, EPOLLIN, vm_on_lazy_done, vm);
	if (ret || !mapped)
		return ret;
	/* main blocked the signal in every thread; only this signalfd sees it. */
	sigemptyset(&set);
	sigaddset(&set, mem_snap_map_signal());
	vm->lease_sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->lease_sfd < 0)
		return -errno;
	return loop_watch(&vm->loop, vm->lease_sfd, EPOLLIN, vm_on_lease_break, vm);
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
	if (!ret && vm->restore_chain)
		ret = vm_watch_restore(vm);
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
	{
		int err;

		/* A vCPU blocked in a fault nobody can serve wakes when the server goes. */
		if (vm_restore_lazy_failed(vm, &err))
			vm_restore_stop_lazy(vm);
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
		/* Cannot quiesce: do not claim a pause; ret is what the caller hears. */
		int undo = runstate_resume(&vm->rs);

		if (!undo)
			undo = vm_device_fds_mute(vm, false);
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
	/* Lazy restore threads use guest memory: gone before it is. */
	vm_restore_release(vm);
	if (vm->lease_sfd >= 0)
		close(vm->lease_sfd);
	vm->lease_sfd = -1;
	vm_destroy_devices(vm);
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
