// SPDX-License-Identifier: MIT
/*
 * The vCPU/VM state API on a real KVM vCPU (skipped without /dev/kvm):
 * get -> set -> get gives the same state, and a changed value written with
 * set is what the next get reads (registers, an MSR, the LAPIC, the PIT).
 * Fields that move on their own while the vCPU sits idle (the TSC, the
 * LAPIC timer's current count, the clock) are left out of the comparison.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"

#define MSR_IA32_TSC            0x10u
#define MSR_IA32_TSC_ADJUST     0x3bu
#define MSR_IA32_TSC_DEADLINE   0x6e0u
#define MSR_KERNEL_GS_BASE      0xc0000102u
#define HV_X64_MSR_TIME_REF_COUNT 0x40000020u  /* Hyper-V reference counter: moves */
#define APIC_TMCCT              0x390     /* timer current count */

static void stop_cb(void *opaque, enum vm_stop_reason r, int s) { }
static void fail_cb(void *opaque, const struct vcpu_failure *f) { }

/* MSRs seen to change between two reads 20 ms apart, with nothing set between. */
static uint32_t drifting[64];
static unsigned int nr_drifting;

static bool msr_moves(uint32_t index)
{
	for (unsigned int i = 0; i < nr_drifting; i++)
		if (drifting[i] == index)
			return true;
	return index == MSR_IA32_TSC || index == MSR_IA32_TSC_ADJUST ||
	       index == MSR_IA32_TSC_DEADLINE || index == HV_X64_MSR_TIME_REF_COUNT;
}

static const struct kvm_msr_entry *find_msr(const struct vcpu_state *st, uint32_t index)
{
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index == index)
			return &st->msrs[i];
	return NULL;
}

static void expect_same(const struct vcpu_state *a, const struct vcpu_state *b)
{
	struct kvm_lapic_state la = a->lapic, lb = b->lapic;

	TEST_ASSERT(!memcmp(&a->regs, &b->regs, sizeof(a->regs)), "regs differ");
	TEST_ASSERT(!memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)), "sregs differ");
	TEST_ASSERT(a->xsave_bytes == b->xsave_bytes, "xsave size");
	if (a->xsave)
		TEST_ASSERT(!memcmp(a->xsave, b->xsave, a->xsave_bytes), "xsave differs");
	else
		TEST_ASSERT(!memcmp(&a->fpu, &b->fpu, sizeof(a->fpu)), "fpu differs");
	TEST_ASSERT(a->have_xcrs == b->have_xcrs &&
		    (!a->have_xcrs || !memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs))), "xcrs differ");
	TEST_ASSERT(!memcmp(&a->mp_state, &b->mp_state, sizeof(a->mp_state)), "mp_state");
	memset(&la.regs[APIC_TMCCT], 0, 4);
	memset(&lb.regs[APIC_TMCCT], 0, 4);
	TEST_ASSERT(!memcmp(&la, &lb, sizeof(la)), "lapic differs");
	TEST_ASSERT(a->events.exception.injected == b->events.exception.injected &&
		    a->events.nmi.pending == b->events.nmi.pending &&
		    a->events.sipi_vector == b->events.sipi_vector, "vcpu events differ");
	TEST_ASSERT(a->nr_msrs == b->nr_msrs, "MSR count %u vs %u", a->nr_msrs, b->nr_msrs);
	for (uint32_t i = 0; i < a->nr_msrs; i++) {
		const struct kvm_msr_entry *m = find_msr(b, a->msrs[i].index);

		TEST_ASSERT(m, "MSR 0x%x missing after set", a->msrs[i].index);
		if (!msr_moves(m->index))
			TEST_ASSERT(m->data == a->msrs[i].data, "MSR 0x%x: 0x%llx vs 0x%llx",
				    m->index, (unsigned long long)a->msrs[i].data,
				    (unsigned long long)m->data);
	}
}

int main(void)
{
	struct kvm k;
	struct errmsg e = { 0 };
	struct kvm_cpuid2 *cpuid;
	struct vcpu_env env = { .request_stop = stop_cb, .fail = fail_cb };
	struct kvm_state_caps *caps;
	struct vcpu_state *a, *b;
	struct vm_irq_state is1, is2;
	struct vcpu v;
	uint32_t failed = 0;
	int fd = open("/dev/kvm", O_RDWR);

	TEST_REQUIRE(fd >= 0, "/dev/kvm cannot be opened on this host");
	close(fd);
	/* Allocated after the skip, so that a skip leaks nothing (LeakSanitizer). */
	caps = calloc(1, sizeof(*caps));
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	TEST_ASSERT(caps && a && b, "calloc");
	TEST_ASSERT(kvm_open(&k, &e) == 0 && kvm_create_vm(&k, &e) == 0 &&
		    kvm_create_irqchip(&k, &e) == 0, "VM: %s", e.text);
	TEST_OK(vcpu_supported_cpuid(k.sys_fd, &cpuid));
	TEST_ASSERT(vcpu_create(&v, &k, 0, cpuid, &env, &e) == 0, "vCPU: %s", e.text);
	TEST_OK(kvm_state_caps_init(k.sys_fd, k.vm_fd, caps));
	TEST_ASSERT(caps->nr_msrs > 0, "KVM lists MSRs to save");

	/* What moves on its own (time counters): two reads, nothing set between. */
	TEST_OK(vcpu_state_get(v.fd, caps, a));
	usleep(20000);
	TEST_OK(vcpu_state_get(v.fd, caps, b));
	for (uint32_t i = 0; i < a->nr_msrs && nr_drifting < 64; i++) {
		const struct kvm_msr_entry *m = find_msr(b, a->msrs[i].index);

		if (m && m->data != a->msrs[i].data)
			drifting[nr_drifting++] = m->index;
	}
	vcpu_state_release(a);
	vcpu_state_release(b);
	printf("# %u MSRs move on their own and are not compared\n", nr_drifting);

	TEST_OK(vcpu_state_get(v.fd, caps, a));
	TEST_ASSERT(a->nr_msrs > 0 && a->nr_msrs <= caps->nr_msrs, "MSRs read: %u of %u",
		    a->nr_msrs, caps->nr_msrs);
	TEST_ASSERT(vcpu_state_set(v.fd, a, &failed) == 0, "set failed (MSR 0x%x)", failed);
	TEST_OK(vcpu_state_get(v.fd, caps, b));
	expect_same(a, b);
	vcpu_state_release(b);
	printf("ok - get -> set -> get: same state (%u MSRs, xsave %zu bytes)\n", a->nr_msrs,
	       a->xsave_bytes);

	/* A change written with set is read back. */
	a->regs.rax = 0x1234567890abcdefull;
	a->regs.rip = 0x100000;
	a->sregs.cr2 = 0xdead000;
	for (uint32_t i = 0; i < a->nr_msrs; i++)
		if (a->msrs[i].index == MSR_KERNEL_GS_BASE)
			a->msrs[i].data = 0xffff888000001000ull;
	TEST_ASSERT(vcpu_state_set(v.fd, a, &failed) == 0, "set failed (MSR 0x%x)", failed);
	TEST_OK(vcpu_state_get(v.fd, caps, b));
	expect_same(a, b);
	TEST_ASSERT(b->regs.rax == 0x1234567890abcdefull && b->sregs.cr2 == 0xdead000,
		    "changed registers read back");
	TEST_PASS("set of changed registers and MSRs is read back");

	/* The in-kernel devices: get -> set -> get (the clock moves; not compared). */
	TEST_OK(vm_irq_state_get(k.vm_fd, &is1));
	is1.ioapic.chip.ioapic.redirtbl[3].bits = 0x10030;   /* masked, vector 0x30 */
	TEST_OK(vm_irq_state_set(k.vm_fd, &is1));
	TEST_OK(vm_irq_state_get(k.vm_fd, &is2));
	TEST_ASSERT(!memcmp(&is1.pic_master, &is2.pic_master, sizeof(is1.pic_master)) &&
		    !memcmp(&is1.pic_slave, &is2.pic_slave, sizeof(is1.pic_slave)) &&
		    !memcmp(&is1.ioapic, &is2.ioapic, sizeof(is1.ioapic)), "irqchips differ");
	TEST_ASSERT(is2.ioapic.chip.ioapic.redirtbl[3].bits == 0x10030, "IOAPIC entry kept");
	TEST_ASSERT(is2.clock.clock >= is1.clock.clock, "the clock does not go back");
	is1.pic_master.chip_id = 7;
	TEST_ASSERT(vm_irq_state_set(k.vm_fd, &is1) == -EINVAL, "wrong chip ids refused");
	TEST_PASS("irqchip, PIT and clock: get -> set -> get");

	vcpu_state_release(a);
	vcpu_state_release(b);
	vcpu_destroy(&v);
	free(cpuid);
	kvm_close(&k);
	free(caps);
	free(a);
	free(b);
	return 0;
}
