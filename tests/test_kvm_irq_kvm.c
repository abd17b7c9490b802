// SPDX-License-Identifier: MIT
/*
 * vmm/kvm_irq.c on real KVM (skipped, exit 77, without /dev/kvm): a VM
 * with an in-kernel irqchip and one vCPU, no guest code. What KVM did is
 * read back from KVM's own state, not from kvm_irq:
 *   - after our tables replaced KVM's, KVM_IRQ_LINE still reaches the PIC
 *     and IOAPIC pins of KVM's default routes (KVM_GET_IRQCHIP's irr);
 *   - an irqfd on a legacy GSI raises its PIC pin, one on an MSI route and
 *     KVM_SIGNAL_MSI set the vector in the LAPIC's IRR (KVM_GET_LAPIC);
 *   - KVM takes a table as long as we allow, and ioeventfds are recorded
 *     (a second assign is -EEXIST, a second deassign -ENOENT).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "mem/kvm_compat.h"
#include "tests/test.h"
#include "vmm/kvm_irq.h"

#define MSI_ADDR_DEST0  0xfee00000ull   /* physical destination APIC ID 0 */
#define APIC_REG_SVR    0xf0
#define APIC_SVR_ENABLE 0x100u
#define APIC_REG_IRR    0x200
#define DELIVERY_WAIT_MS 2000

struct vm {
	int sys;
	int fd;
	int vcpu;
};

static void vm_create(struct vm *vm)
{
	vm->sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_REQUIRE(vm->sys >= 0, "/dev/kvm cannot be opened on this host");
	vm->fd = ioctl(vm->sys, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm->fd >= 0, "KVM_CREATE_VM");
	TEST_ASSERT(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) == 0, "KVM_CREATE_IRQCHIP");
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(vm->vcpu >= 0, "KVM_CREATE_VCPU");
}

static void vm_close(struct vm *vm)
{
	close(vm->vcpu);
	close(vm->fd);
	close(vm->sys);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_nsec = (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

static struct kvm_irqchip get_chip(const struct vm *vm, uint32_t id)
{
	struct kvm_irqchip chip = { .chip_id = id };

	TEST_ASSERT(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip) == 0, "KVM_GET_IRQCHIP %u", id);
	return chip;
}

static bool pic_irr(const struct vm *vm, unsigned int gsi)
{
	struct kvm_irqchip c = get_chip(vm, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
					KVM_IRQCHIP_PIC_SLAVE);

	return c.chip.pic.irr & (1u << (gsi % 8));
}

static bool ioapic_irr(const struct vm *vm, unsigned int pin)
{
	return get_chip(vm, KVM_IRQCHIP_IOAPIC).chip.ioapic.irr & (1u << pin);
}

static void irq_line(const struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	TEST_ASSERT(ioctl(vm->fd, KVM_IRQ_LINE, &l) == 0, "KVM_IRQ_LINE %u=%d", gsi, level);
}

/*
 * Forget pending PIC requests (edge-triggered pins stay pending after the
 * line drops). The slave goes first: after every change KVM's
 * pic_update_irq pulses the master's cascade pin 2 while the slave has an
 * unmasked request, so clearing the master first would set its IRR bit 2
 * again from a request the slave still held (e.g. an earlier GSI 10).
 */
static void pic_clear_irr(const struct vm *vm)
{
	static const uint32_t ids[] = { KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_PIC_MASTER };

	for (unsigned int i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct kvm_irqchip c = get_chip(vm, ids[i]);

		c.chip.pic.irr = 0;
		TEST_ASSERT(ioctl(vm->fd, KVM_SET_IRQCHIP, &c) == 0, "KVM_SET_IRQCHIP %u",
			    ids[i]);
	}
}

/*
 * KVM's default routes are in force: raising GSI g marks IOAPIC pin g
 * (masked since reset, so it stays pending while the line is high) and,
 * below 16, the PIC pin (master for 0-7, slave for 8-15). The PICs are
 * cleared before each GSI, so that no earlier one (GSI 10 through the
 * cascade, master pin 2) leaves the next one's pin pending.
 */
static void check_default_routes(const struct vm *vm, const char *when)
{
	static const unsigned int gsis[] = { 2, 4, 10, 20 };

	for (unsigned int i = 0; i < sizeof(gsis) / sizeof(gsis[0]); i++) {
		unsigned int g = gsis[i];

		pic_clear_irr(vm);
		TEST_ASSERT(!ioapic_irr(vm, g) && (g >= 16 || !pic_irr(vm, g)),
			    "%s: GSI %u pending before it was raised", when, g);
		irq_line(vm, g, 1);
		TEST_ASSERT(ioapic_irr(vm, g), "%s: GSI %u did not reach IOAPIC pin %u", when, g, g);
		if (g < 16)
			TEST_ASSERT(pic_irr(vm, g), "%s: GSI %u did not reach its PIC pin", when, g);
		irq_line(vm, g, 0);
	}
}

/* Software-enable vCPU 0's LAPIC so that fixed interrupts are accepted into IRR. */
static void lapic_enable(const struct vm *vm)
{
	struct kvm_lapic_state s;
	uint32_t svr;

	TEST_ASSERT(ioctl(vm->vcpu, KVM_GET_LAPIC, &s) == 0, "KVM_GET_LAPIC");
	memcpy(&svr, s.regs + APIC_REG_SVR, sizeof(svr));
	svr |= APIC_SVR_ENABLE;
	memcpy(s.regs + APIC_REG_SVR, &svr, sizeof(svr));
	TEST_ASSERT(ioctl(vm->vcpu, KVM_SET_LAPIC, &s) == 0, "KVM_SET_LAPIC");
}

static bool lapic_irr(const struct vm *vm, unsigned int vector)
{
	struct kvm_lapic_state s;
	uint32_t word;

	TEST_ASSERT(ioctl(vm->vcpu, KVM_GET_LAPIC, &s) == 0, "KVM_GET_LAPIC");
	memcpy(&word, s.regs + APIC_REG_IRR + (vector / 32) * 0x10, sizeof(word));
	return word & (1u << (vector % 32));
}

/* Wait for cond(vm, arg) (irqfd injection of irqchip routes runs on a workqueue). */
static bool wait_for(bool (*cond)(const struct vm *, unsigned int), const struct vm *vm,
		     unsigned int arg)
{
	uint64_t end = now_ms() + DELIVERY_WAIT_MS;

	while (!cond(vm, arg)) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

static void efd_kick(int efd)
{
	uint64_t one = 1;

	TEST_ASSERT(write(efd, &one, sizeof(one)) == sizeof(one), "eventfd write");
}

static void test_routes_and_irqfds(void)
{
	const unsigned int vec_irqfd = 0x31, vec_signal = 0x42, legacy_gsi = 5;
	struct kvm_irq *k;
	struct vm vm;
	int gsi = -1, efd_msi, efd_legacy;

	vm_create(&vm);
	TEST_OK(kvm_irq_init(&k, vm.fd));
	lapic_enable(&vm);
	check_default_routes(&vm, "KVM's own table");

	/* An MSI route replaces KVM's table with ours: the legacy pins still work. */
	TEST_OK(kvm_irq_msi_route(k, &gsi, MSI_ADDR_DEST0, 0x99));
	TEST_ASSERT(gsi >= (int)KVM_IRQ_FIRST_MSI_GSI, "GSI %d", gsi);
	check_default_routes(&vm, "our table");
	TEST_OK(kvm_irq_msi_route(k, &gsi, MSI_ADDR_DEST0, vec_irqfd));

	/* irqfd on the MSI route: KVM consumes the count and the vector is pending. */
	efd_msi = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(efd_msi >= 0, "eventfd");
	TEST_OK(kvm_irq_irqfd(k, gsi, efd_msi, true));
	TEST_ASSERT(kvm_irq_irqfd(k, gsi, efd_msi, true) == -EBUSY, "irqfd assigned twice");
	TEST_ASSERT(!lapic_irr(&vm, vec_irqfd), "vector %#x pending early", vec_irqfd);
	efd_kick(efd_msi);
	TEST_ASSERT(wait_for(lapic_irr, &vm, vec_irqfd), "MSI irqfd: vector %#x not in IRR",
		    vec_irqfd);
	TEST_OK(kvm_irq_irqfd(k, gsi, efd_msi, false));

	/* irqfd on a legacy GSI raises its PIC pin. */
	efd_legacy = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(efd_legacy >= 0, "eventfd");
	TEST_ASSERT(!pic_irr(&vm, legacy_gsi), "PIC pin %u pending early", legacy_gsi);
	TEST_OK(kvm_irq_irqfd(k, (int)legacy_gsi, efd_legacy, true));
	efd_kick(efd_legacy);
	TEST_ASSERT(wait_for(pic_irr, &vm, legacy_gsi), "legacy irqfd: PIC pin %u not raised",
		    legacy_gsi);
	TEST_OK(kvm_irq_irqfd(k, (int)legacy_gsi, efd_legacy, false));

	/* KVM_SIGNAL_MSI straight to the LAPIC. */
	TEST_OK(kvm_irq_msi_send(k, MSI_ADDR_DEST0, vec_signal));
	TEST_ASSERT(lapic_irr(&vm, vec_signal), "KVM_SIGNAL_MSI: vector %#x not in IRR",
		    vec_signal);

	kvm_irq_msi_route_free(k, gsi);
	check_default_routes(&vm, "after free");
	close(efd_legacy);
	close(efd_msi);
	kvm_irq_destroy(k);
	vm_close(&vm);
	TEST_PASS("routes, irqfds and KVM_SIGNAL_MSI on KVM");
}

/* KVM takes the longest table we build; past it we say -ENOSPC, not KVM. */
static void test_full_table(void)
{
	static int gsis[KVM_IRQ_MAX_ROUTES];
	unsigned int n = 0, want;
	struct kvm_irq *k;
	struct vm vm;
	int cap, ret;

	vm_create(&vm);
	cap = ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	TEST_ASSERT(cap > (int)KVM_IRQ_NR_DEFAULT_ROUTES, "KVM_CAP_IRQ_ROUTING %d", cap);
	want = ((unsigned int)cap < KVM_IRQ_MAX_ROUTES ? (unsigned int)cap : KVM_IRQ_MAX_ROUTES) -
	       KVM_IRQ_NR_DEFAULT_ROUTES;
	TEST_OK(kvm_irq_init(&k, vm.fd));
	for (;;) {
		gsis[n] = -1;
		ret = kvm_irq_msi_route(k, &gsis[n], MSI_ADDR_DEST0, 0x30 + n % 0x80);
		if (ret)
			break;
		n++;
		TEST_ASSERT(n <= want, "more routes than the table holds");
	}
	TEST_ASSERT(ret == -ENOSPC && n == want, "%u routes, then %d; want %u then -ENOSPC",
		    n, ret, want);
	check_default_routes(&vm, "full table");
	for (unsigned int i = 0; i < n; i++)
		kvm_irq_msi_route_free(k, gsis[i]);
	check_default_routes(&vm, "emptied table");
	kvm_irq_destroy(k);
	vm_close(&vm);
	printf("ok - KVM took %u MSI routes (KVM_CAP_IRQ_ROUTING %d)\n", n, cap);
}

static void ioeventfd_cycle(struct kvm_irq *k, const struct device_ioeventfd *io,
			    const char *what)
{
	int ret;

	TEST_OK(kvm_irq_ioeventfd(k, io, true));
	ret = kvm_irq_ioeventfd(k, io, true);
	TEST_ASSERT(ret == -EEXIST, "%s: second assign: %d", what, ret);
	TEST_OK(kvm_irq_ioeventfd(k, io, false));
	ret = kvm_irq_ioeventfd(k, io, false);
	TEST_ASSERT(ret == -ENOENT, "%s: second deassign: %d", what, ret);
}

static void test_ioeventfds(void)
{
	struct device_ioeventfd io;
	struct kvm_irq *k;
	struct vm vm;
	int efd;

	vm_create(&vm);
	TEST_OK(kvm_irq_init(&k, vm.fd));
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(efd >= 0, "eventfd");

	io = (struct device_ioeventfd){ .addr = 0xd0000040, .len = 4, .datamatch = true,
					.data = 3, .efd = efd };
	ioeventfd_cycle(k, &io, "MMIO datamatch");
	io = (struct device_ioeventfd){ .addr = 0x600, .len = 2, .pio = true, .efd = efd };
	ioeventfd_cycle(k, &io, "PIO");
	if (ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0) {
		io = (struct device_ioeventfd){ .addr = 0xd0001000, .len = 0, .efd = efd };
		ioeventfd_cycle(k, &io, "MMIO any length");
	}
	close(efd);
	kvm_irq_destroy(k);
	vm_close(&vm);
	TEST_PASS("ioeventfds on KVM");
}

int main(void)
{
	test_routes_and_irqfds();
	test_full_table();
	test_ioeventfds();
	return 0;
}
