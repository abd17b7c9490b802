// SPDX-License-Identifier: MIT
/*
 * vCPUs. Each runs KVM_RUN in its own thread and dispatches port and MMIO
 * exits to the buses. Pauses and stops go through the run state
 * (vmm/runstate.h): the VM kicks each vCPU (immediate_exit plus
 * VCPU_KICK_SIGNAL) so that one inside KVM_RUN, even a halted one, comes out
 * at once, and the vCPU parks or ends. Failures are handed to the VM as data
 * (struct vcpu_failure); nothing here prints.
 */
#include "vmm/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/machine.h"
#include "vmm/runstate.h"
#include "mem/kvm_compat.h"
#include "vmm/kvm.h"
#include "vmm/linux_boot.h"
#include "vmm/pvh.h"

#define VCPU_KICK_SIGNAL SIGUSR1
#define CPUID_FIRST_ENTRIES 128
#define CPUID_MAX_ENTRIES 4096
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define X86_CR0_PE 0x1ull
#define X86_CR0_ET 0x10ull
#define X86_CR0_PG 0x80000000ull
#define X86_CR4_PAE 0x20ull
#define X86_EFER_LME 0x100ull
#define X86_EFER_LMA 0x400ull
#define X86_RFLAGS_RESERVED 0x2ull
#define APIC_LVT0_OFFSET 0x350
#define APIC_LVT1_OFFSET 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_init_signals(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	/* No SA_RESTART: KVM_RUN must return EINTR. */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	}
	return NULL;
}

int vcpu_supported_cpuid(int sys_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *hv, *leaf1;
	uint32_t room = CPUID_FIRST_ENTRIES;

	for (;;) {
		int ret;

		/* One spare entry for the timing leaf. */
		c = calloc(1, sizeof(*c) + (room + 1) * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = room;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		ret = -errno;
		free(c);
		/* E2BIG: KVM has more leaves than room; try with more. */
		if (ret != -E2BIG || room >= CPUID_MAX_ENTRIES)
			return ret;
		room *= 2;
	}
	/*
	 * KVM leaves CPUID.1:ECX.HYPERVISOR to the VMM; without it Linux does
	 * not look for KVM's leaves (no kvmclock, and on a hardware-reduced
	 * ACPI machine, no PIT either, nothing to calibrate the TSC against).
	 */
	leaf1 = cpuid_find(c, 1, 0);
	if (leaf1)
		leaf1->ecx |= CPUID_1_ECX_HYPERVISOR;
	hv = cpuid_find(c, MACHINE_CPUID_HV_BASE, 0);
	if (hv && !cpuid_find(c, MACHINE_CPUID_TIMING, 0)) {
		if (hv->eax < MACHINE_CPUID_TIMING)
			hv->eax = MACHINE_CPUID_TIMING;
		/* EAX (TSC kHz) is filled per vCPU from KVM_GET_TSC_KHZ. */
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = MACHINE_CPUID_TIMING,
		};
	}
	*out = c;
	return 0;
}

/* Per-vCPU copy: APIC IDs and the TSC frequency. */
static int vcpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *tmpl)
{
	size_t bytes = sizeof(*tmpl) + tmpl->nent * sizeof(tmpl->entries[0]);
	struct kvm_cpuid_entry2 *ent;
	struct kvm_cpuid2 *c;
	uint32_t i;
	int ret = 0, khz;

	c = malloc(bytes);
	if (!c)
		return -ENOMEM;
	memcpy(c, tmpl, bytes);
	for (i = 0; i < c->nent; i++) {
		ent = &c->entries[i];
		if (ent->function == 1)
			ent->ebx = (ent->ebx & 0x00ffffffu) | (v->id << 24);
		else if (ent->function == 0xb || ent->function == 0x1f)
			ent->edx = v->id;
	}
	ent = cpuid_find(c, MACHINE_CPUID_TIMING, 0);
	khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	if (ent)
		ent->eax = khz > 0 ? (uint32_t)khz : 0;
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as on a PC. */
static int vcpu_setup_lapic(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&lvt, &lapic.regs[APIC_LVT0_OFFSET], 4);
	lvt = (lvt & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&lapic.regs[APIC_LVT0_OFFSET], &lvt, 4);
	memcpy(&lvt, &lapic.regs[APIC_LVT1_OFFSET], 4);
	lvt = (lvt & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT1_OFFSET], &lvt, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int vcpu_create(struct vcpu *v, const struct kvm *k, unsigned int id,
		const struct kvm_cpuid2 *cpuid, const struct vcpu_env *env,
		struct errmsg *e)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->id = id;
	v->env = env;
	v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "KVM_CREATE_VCPU %u failed: %s", id, strerror(-ret));
	}
	v->run_size = k->run_mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		return errmsg_set(e, ret, "mmap of vCPU %u kvm_run failed: %s", id, strerror(-ret));
	}
	ret = vcpu_set_cpuid(v, cpuid);
	if (ret)
		return errmsg_set(e, ret, "KVM_SET_CPUID2 on vCPU %u failed: %s", id,
				  strerror(-ret));
	ret = vcpu_setup_lapic(v);
	if (ret)
		return errmsg_set(e, ret, "LAPIC setup of vCPU %u failed: %s", id,
				  strerror(-ret));
	return 0;
}

static void set_flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

/* Load an entry state: special registers first (the mode), then the others. */
static int vcpu_set_entry(struct vcpu *v, const struct kvm_sregs *sregs,
			  const struct kvm_regs *regs, struct errmsg *e)
{
	int ret;

	if (ioctl(v->fd, KVM_SET_SREGS, sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, regs) < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "setting vCPU %u registers failed: %s", v->id,
				  strerror(-ret));
	}
	return 0;
}

int vcpu_setup_pvh(struct vcpu *v, uint32_t entry, uint32_t start_info, struct errmsg *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = entry, .rbx = start_info, .rflags = X86_RFLAGS_RESERVED,
	};
	int ret;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	set_flat_segment(&sregs.cs, PVH_SEL_CODE, 0xb);   /* execute/read, accessed */
	set_flat_segment(&sregs.ds, PVH_SEL_DATA, 0x3);   /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
		.base = 0, .limit = 0x67, .selector = PVH_SEL_TSS, .type = 0xb,  /* busy TSS */
		.present = 1,
	};
	sregs.gdt.base = PVH_GDT_GPA;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	return vcpu_set_entry(v, &sregs, &regs, e);
fail:
	ret = -errno;
	return errmsg_set(e, ret, "setting vCPU %u registers failed: %s", v->id, strerror(-ret));
}

int vcpu_setup_linux64(struct vcpu *v, uint64_t entry, uint64_t boot_params_gpa,
		       uint64_t pml4_gpa, struct errmsg *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = entry, .rsi = boot_params_gpa, .rsp = LINUX_STACK_TOP_GPA,
		.rflags = X86_RFLAGS_RESERVED,   /* IF clear: interrupts off */
	};
	int ret;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	set_flat_segment(&sregs.cs, LINUX_SEL_CODE, 0xb);   /* execute/read, accessed */
	sregs.cs.db = 0;                                    /* L=1 needs D=0 */
	sregs.cs.l = 1;
	set_flat_segment(&sregs.ds, LINUX_SEL_DATA, 0x3);   /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
		.base = 0, .limit = 0x67, .selector = LINUX_SEL_TSS, .type = 0xb,  /* busy TSS */
		.present = 1,
	};
	sregs.gdt.base = LINUX_GDT_GPA;
	sregs.gdt.limit = LINUX_GDT_BYTES - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs.cr3 = pml4_gpa;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = X86_EFER_LME | X86_EFER_LMA;
	return vcpu_set_entry(v, &sregs, &regs, e);
fail:
	ret = -errno;
	return errmsg_set(e, ret, "setting vCPU %u registers failed: %s", v->id, strerror(-ret));
}

/* Port I/O exit; the data buffer lies inside the kvm_run mapping. */
static int vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t data_off = run->io.data_offset;
	unsigned int size = run->io.size, i;
	uint64_t total = (uint64_t)size * run->io.count;
	uint8_t *data;

	if ((size != 1 && size != 2 && size != 4) || data_off > v->run_size ||
	    total > v->run_size - data_off)
		return -EPROTO;
	data = (uint8_t *)run + data_off;
	for (i = 0; i < run->io.count; i++, data += size) {
		uint64_t val = 0;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, data, size);
			bus_write(v->env->pio, run->io.port, size, val);
		} else {
			bus_read(v->env->pio, run->io.port, size, &val);
			memcpy(data, &val, size);
		}
	}
	return 0;
}

static int vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned int len = run->mmio.len;
	uint64_t val = 0;

	if (len == 0 || len > sizeof(run->mmio.data))
		return -EPROTO;
	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		bus_write(v->env->mmio, run->mmio.phys_addr, len, val);
	} else {
		bus_read(v->env->mmio, run->mmio.phys_addr, len, &val);
		memcpy(run->mmio.data, &val, len);
	}
	return 0;
}

static void vcpu_fail(struct vcpu *v, enum vm_stop_reason reason, int status,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Stop the VM with the reason and this vCPU's registers, as data. */
static void vcpu_fail(struct vcpu *v, enum vm_stop_reason reason, int status,
		      const char *fmt, ...)
{
	struct vcpu_failure f = { .vcpu = v->id, .reason = reason, .status = status };
	struct kvm_run *run = v->run;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f.what, sizeof(f.what), fmt, ap);
	va_end(ap);
	f.have_regs = ioctl(v->fd, KVM_GET_REGS, &f.regs) == 0;
	f.have_sregs = ioctl(v->fd, KVM_GET_SREGS, &f.sregs) == 0;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		const uint32_t max = sizeof(run->internal.data) / sizeof(run->internal.data[0]);

		f.internal = true;
		f.suberror = run->internal.suberror;
		f.ndata = run->internal.ndata;
		for (uint32_t i = 0; i < f.ndata && i < max && i < VCPU_FAILURE_DATA_WORDS; i++)
			f.data[i] = run->internal.data[i];
	}
	v->env->fail(v->env->opaque, &f);
}

/* One exit; returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	const struct kvm_compat_memory_fault *mf;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (vcpu_handle_io(v) == 0)
			return true;
		vcpu_fail(v, VM_STOP_ERROR, 1, "malformed port I/O exit (size %u, count %u)",
			  run->io.size, run->io.count);
		return false;
	case KVM_EXIT_MMIO:
		if (vcpu_handle_mmio(v) == 0)
			return true;
		vcpu_fail(v, VM_STOP_ERROR, 1, "malformed MMIO exit (len %u)", run->mmio.len);
		return false;
	case KVM_EXIT_HLT:
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, VM_STOP_SHUTDOWN, 1, "guest shut down (triple fault)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			v->env->request_stop(v->env->opaque, VM_STOP_RESET, 0);
			return false;
		}
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			v->env->request_stop(v->env->opaque, VM_STOP_POWEROFF, 0);
			return false;
		}
		vcpu_fail(v, VM_STOP_ERROR, 1, "system event %u", run->system_event.type);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fail(v, VM_STOP_ERROR, 1, "KVM internal error, suberror %u%s",
			  run->internal.suberror,
			  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			  " (instruction emulation failed)" : "");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(v, VM_STOP_ERROR, 1, "VM entry failed, hardware reason 0x%llx",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_MEMORY_FAULT:
		mf = (const void *)&run->hw;
		vcpu_fail(v, VM_STOP_ERROR, 1, "memory fault at gpa 0x%llx size 0x%llx flags 0x%llx",
			  (unsigned long long)mf->gpa, (unsigned long long)mf->size,
			  (unsigned long long)mf->flags);
		return false;
	default:
		vcpu_fail(v, VM_STOP_ERROR, 1, "unexpected exit reason %u", run->exit_reason);
		return false;
	}
}

/* An exit KVM completes only when KVM_RUN is entered again. */
static bool vcpu_exit_needs_completion(const struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
}

static void vcpu_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The vCPU's loop. Before each KVM_RUN it checks the run state: when a
 * pause or stop is pending it first completes an I/O exit still in flight
 * (KVM_RUN with immediate_exit set, which the kick did, finishes it and
 * returns EINTR at once), so that the state read while paused is
 * consistent, then parks until resumed or ends on stop.
 */
static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	const struct vcpu_env *env = v->env;
	bool needs_completion = false;
	unsigned int eagain = 0;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	/* This thread's own mask: the kick must interrupt KVM_RUN here. */
	if (pthread_sigmask(SIG_UNBLOCK, &kick, NULL)) {
		vcpu_fail(v, VM_STOP_ERROR, 1, "cannot unblock the kick signal");
		runstate_vcpu_exit(env->rs);
		return NULL;
	}
	if (v->id == 0 && env->first_run)
		env->first_run(env->opaque);
	for (;;) {
		if (runstate_vcpu_pending(env->rs)) {
			if (needs_completion && ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR) {
				vcpu_fail(v, VM_STOP_ERROR, 1, "completing I/O before a pause failed: %s",
					  strerror(errno));
				break;
			}
			needs_completion = false;
			if (!runstate_vcpu_park(env->rs, v->id))
				break;
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			int err = errno;

			if (err == EINTR) {
				eagain = 0;
				continue;
			}
			if (err == EAGAIN && ++eagain < VCPU_RUN_EAGAIN_MAX) {
				vcpu_sleep_ms(VCPU_RUN_EAGAIN_SLEEP_MS);
				continue;
			}
			if (err == EAGAIN)
				vcpu_fail(v, VM_STOP_ERROR, 1, "KVM_RUN failed with EAGAIN %u times "
					  "in a row (%u ms): %s (is a pids or memory cgroup at its "
					  "limit?)", eagain, eagain * VCPU_RUN_EAGAIN_SLEEP_MS,
					  strerror(err));
			else
				vcpu_fail(v, VM_STOP_ERROR, 1, "KVM_RUN failed: %s", strerror(err));
			break;
		}
		eagain = 0;
		needs_completion = vcpu_exit_needs_completion(v->run);
		if (!vcpu_handle_exit(v))
			break;
	}
	runstate_vcpu_exit(env->rs);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* ESRCH (the thread has ended) needs nothing more. */
	if (v->thread_started)
		(void)pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_unkick(struct vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

void vcpu_join(struct vcpu *v)
{
	/* Fails only for a thread that was never started or already joined. */
	if (v->thread_started && pthread_join(v->thread, NULL))
		abort();
	v->thread_started = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
