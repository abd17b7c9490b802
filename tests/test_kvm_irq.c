// SPDX-License-Identifier: MIT
/*
 * vmm/kvm_irq.c against a fake ioctl: the exact routing table each change
 * sends to KVM (KVM's default irqchip routes always kept, MSI entries
 * right, GSIs reused after free, the table's length limit), rollback when
 * KVM refuses, and what irqfd, KVM_SIGNAL_MSI and ioeventfd requests look
 * like or why they are refused before reaching KVM. Runs on any host;
 * tests/test_kvm_irq_kvm.c does the same calls on real KVM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "mem/kvm_compat.h"
#include "tests/test.h"
#include "vmm/kvm_irq.h"

#define FAKE_VM_FD 42
#define KVM_ROUTES_X86 4096   /* KVM_CAP_IRQ_ROUTING on x86 (KVM_MAX_IRQ_ROUTES) */
#define MSI_ADDR 0xfee00000ull
#define NR_THREADS 8
#define ROUTES_PER_THREAD 200

/* What the fake KVM answers and what it last received. */
static struct {
	pthread_mutex_t lock;
	int cap;                 /* KVM_CAP_IRQ_ROUTING; < 0: the check fails with -cap */
	int fail_errno;          /* nonzero: the next other ioctl fails with this */
	int msi_ret;             /* KVM_SIGNAL_MSI's return when it succeeds */
	unsigned int calls;      /* ioctls other than KVM_CHECK_EXTENSION */
	unsigned int pushes;     /* KVM_SET_GSI_ROUTING calls that succeeded */
	unsigned int nr;         /* the table KVM holds */
	struct kvm_irq_routing_entry table[KVM_ROUTES_X86];
	unsigned long last_request;
	struct kvm_irqfd irqfd;
	struct kvm_msi msi;
	struct kvm_ioeventfd ioeventfd;
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
	int ret = 0;

	TEST_ASSERT(fd == FAKE_VM_FD, "ioctl on fd %d", fd);
	if (request == KVM_CHECK_EXTENSION) {
		TEST_ASSERT((uintptr_t)arg == KVM_CAP_IRQ_ROUTING, "cap %lu asked",
			    (unsigned long)(uintptr_t)arg);
		if (fake.cap < 0) {
			errno = -fake.cap;
			return -1;
		}
		return fake.cap;
	}
	TEST_ASSERT(pthread_mutex_lock(&fake.lock) == 0, "fake lock");
	fake.calls++;
	fake.last_request = request;
	if (fake.fail_errno) {
		errno = fake.fail_errno;
		fake.fail_errno = 0;
		ret = -1;
	} else if (request == KVM_SET_GSI_ROUTING) {
		const struct kvm_irq_routing *t = arg;

		/* What KVM itself refuses (kvm_set_irq_routing). */
		TEST_ASSERT(t->nr <= (unsigned int)fake.cap && t->flags == 0, "table of %u", t->nr);
		for (unsigned int i = 0; i < t->nr; i++)
			TEST_ASSERT(t->entries[i].gsi < (unsigned int)fake.cap &&
				    t->entries[i].flags == 0, "entry %u: gsi %u", i,
				    t->entries[i].gsi);
		memcpy(fake.table, t->entries, t->nr * sizeof(t->entries[0]));
		fake.nr = t->nr;
		fake.pushes++;
	} else if (request == KVM_IRQFD) {
		fake.irqfd = *(const struct kvm_irqfd *)arg;
	} else if (request == KVM_SIGNAL_MSI) {
		fake.msi = *(const struct kvm_msi *)arg;
		ret = fake.msi_ret;
	} else if (request == KVM_IOEVENTFD) {
		fake.ioeventfd = *(const struct kvm_ioeventfd *)arg;
	} else {
		TEST_ASSERT(0, "unexpected ioctl %#lx", request);
	}
	TEST_ASSERT(pthread_mutex_unlock(&fake.lock) == 0, "fake unlock");
	return ret;
}

static struct kvm_irq *fake_init(int cap)
{
	struct kvm_irq *k;

	fake.cap = cap;
	fake.calls = fake.pushes = fake.nr = 0;
	TEST_OK(__kvm_irq_init_with(&k, FAKE_VM_FD, fake_ioctl));
	TEST_ASSERT(fake.calls == 0, "init sent %u ioctls", fake.calls);
	return k;
}

/* How many entries of the table KVM holds match e exactly. */
static unsigned int count_entry(const struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < fake.nr; i++)
		n += !memcmp(&fake.table[i], e, sizeof(*e));
	return n;
}

static struct kvm_irq_routing_entry chip_entry(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	return (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
					       .u.irqchip = { .irqchip = chip, .pin = pin } };
}

static struct kvm_irq_routing_entry msi_entry(uint32_t gsi, uint64_t addr, uint32_t data)
{
	return (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
					       .u.msi = { .address_lo = (uint32_t)addr,
							  .address_hi = (uint32_t)(addr >> 32),
							  .data = data } };
}

/*
 * KVM holds exactly the default routes (written out here from the
 * kernel's default_routing[]: ROUTING_ENTRY2 for 0-15, ROUTING_ENTRY1 for
 * 16-23) and the MSI routes given as gsi/data pairs (address MSI_ADDR + gsi).
 */
static void check_table(const int *gsis, const uint32_t *datas, unsigned int nr_msi,
			const char *when)
{
	static const uint32_t pic_master = KVM_IRQCHIP_PIC_MASTER, pic_slave = KVM_IRQCHIP_PIC_SLAVE;
	unsigned int want = 0;

	for (uint32_t g = 0; g < 24; g++) {
		struct kvm_irq_routing_entry io = chip_entry(g, KVM_IRQCHIP_IOAPIC, g);

		TEST_ASSERT(count_entry(&io) == 1, "%s: IOAPIC route of GSI %u", when, g);
		want++;
		if (g < 16) {
			struct kvm_irq_routing_entry pic =
				chip_entry(g, g < 8 ? pic_master : pic_slave, g % 8);

			TEST_ASSERT(count_entry(&pic) == 1, "%s: PIC route of GSI %u", when, g);
			want++;
		}
	}
	TEST_ASSERT(want == KVM_IRQ_NR_DEFAULT_ROUTES, "default count %u", want);
	for (unsigned int i = 0; i < nr_msi; i++) {
		struct kvm_irq_routing_entry m = msi_entry((uint32_t)gsis[i], MSI_ADDR + gsis[i],
							   datas[i]);

		TEST_ASSERT(count_entry(&m) == 1, "%s: MSI route of GSI %d (data %#x)", when,
			    gsis[i], datas[i]);
	}
	TEST_ASSERT(fake.nr == want + nr_msi, "%s: %u entries, want %u", when, fake.nr,
		    want + nr_msi);
}

static void test_init(void)
{
	struct kvm_irq *k = (struct kvm_irq *)&fake;
	int ret;

	fake.cap = -ENOTTY;
	ret = __kvm_irq_init_with(&k, FAKE_VM_FD, fake_ioctl);
	TEST_ASSERT(ret == -ENOTTY && k == NULL, "failed check: %d", ret);
	fake.cap = 0;
	TEST_ASSERT(__kvm_irq_init_with(&k, FAKE_VM_FD, fake_ioctl) == -EOPNOTSUPP, "cap 0");
	fake.cap = KVM_IRQ_NR_DEFAULT_ROUTES;
	TEST_ASSERT(__kvm_irq_init_with(&k, FAKE_VM_FD, fake_ioctl) == -EOPNOTSUPP,
		    "room for the defaults only");
	TEST_ASSERT(__kvm_irq_init_with(&k, FAKE_VM_FD, NULL) == -EINVAL, "no ioctl");
	TEST_ASSERT(__kvm_irq_init_with(NULL, FAKE_VM_FD, fake_ioctl) == -EINVAL, "no out");
	kvm_irq_destroy(NULL);
	TEST_PASS("init");
}

/* Allocation, update, free and reuse, with the exact table after each. */
static void test_routes(void)
{
	/* Legacy GSIs, unallocated ones, and past the limit. */
	static const int unrouted[] = { 0, 5, 23, 27, 4095, 4096, 1 << 30 };
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	int g[3] = { -1, -1, -1 }, bad;
	uint32_t d[3] = { 0x4021, 0x4022, 0x4023 };
	unsigned int pushes;

	for (unsigned int i = 0; i < 3; i++) {
		TEST_OK(kvm_irq_msi_route(k, &g[i], MSI_ADDR + 24 + i, d[i]));
		TEST_ASSERT(g[i] == (int)(KVM_IRQ_FIRST_MSI_GSI + i), "route %u got GSI %d", i, g[i]);
		TEST_ASSERT(fake.pushes == i + 1, "one push per route");
		check_table(g, d, i + 1, "allocating");
	}

	/* Free the middle one: the table loses exactly it; the next route reuses it. */
	kvm_irq_msi_route_free(k, g[1]);
	check_table((int[]){ g[0], g[2] }, (uint32_t[]){ d[0], d[2] }, 2, "after free");
	g[1] = -1;
	d[1] = 0x4055;
	TEST_OK(kvm_irq_msi_route(k, &g[1], MSI_ADDR + 25, d[1]));
	TEST_ASSERT(g[1] == 25, "freed GSI not reused: %d", g[1]);
	check_table(g, d, 3, "reuse");

	/* Update in place; an unchanged route sends nothing. */
	d[0] = 0x40ff;
	TEST_OK(kvm_irq_msi_route(k, &g[0], MSI_ADDR + 24, d[0]));
	TEST_ASSERT(g[0] == 24, "update moved the GSI");
	check_table(g, d, 3, "update");
	pushes = fake.pushes;
	TEST_OK(kvm_irq_msi_route(k, &g[0], MSI_ADDR + 24, d[0]));
	TEST_ASSERT(fake.pushes == pushes, "unchanged route pushed");

	/* A 64-bit address is split into lo/hi. */
	{
		int hi = -1;

		TEST_OK(kvm_irq_msi_route(k, &hi, 0x123456789abcdef0ull, 7));
		TEST_ASSERT(fake.table[fake.nr - 1].u.msi.address_lo == 0x9abcdef0u &&
			    fake.table[fake.nr - 1].u.msi.address_hi == 0x12345678u &&
			    fake.table[fake.nr - 1].gsi == (uint32_t)hi, "64-bit address");
		kvm_irq_msi_route_free(k, hi);
		check_table(g, d, 3, "after the 64-bit route");
	}

	/* Updates of GSIs not allocated here are refused without an ioctl. */
	pushes = fake.calls;
	for (unsigned int i = 0; i < sizeof(unrouted) / sizeof(unrouted[0]); i++) {
		bad = unrouted[i];
		TEST_ASSERT(kvm_irq_msi_route(k, &bad, MSI_ADDR, 1) == -EINVAL && bad == unrouted[i],
			    "update of GSI %d accepted", unrouted[i]);
		kvm_irq_msi_route_free(k, unrouted[i]);
	}
	kvm_irq_msi_route_free(k, -1);
	TEST_ASSERT(fake.calls == pushes, "refused calls reached KVM");
	TEST_ASSERT(kvm_irq_msi_route(k, NULL, MSI_ADDR, 1) == -EINVAL, "NULL gsi");
	TEST_ASSERT(kvm_irq_msi_route(NULL, &bad, MSI_ADDR, 1) == -EINVAL, "NULL kvm_irq");
	check_table(g, d, 3, "after refusals");
	kvm_irq_destroy(k);
	TEST_PASS("MSI routes: exact tables, reuse, updates");
}

/* When KVM refuses a table, both tables stay as they were. */
static void test_rollback(void)
{
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	int g = -1, g2 = -1, ret;
	uint32_t d = 0x31;

	TEST_OK(kvm_irq_msi_route(k, &g, MSI_ADDR + 24, d));
	fake.fail_errno = ENOMEM;
	ret = kvm_irq_msi_route(k, &g2, MSI_ADDR + 25, 0x32);
	TEST_ASSERT(ret == -ENOMEM && g2 == -1, "refused allocation: %d, gsi %d", ret, g2);
	check_table(&g, &d, 1, "refused allocation");

	fake.fail_errno = EFAULT;
	ret = kvm_irq_msi_route(k, &g, MSI_ADDR + 24, 0x99);
	TEST_ASSERT(ret == -EFAULT, "refused update: %d", ret);
	check_table(&g, &d, 1, "refused update");
	/* The refused update was forgotten: setting the old value again sends nothing. */
	ret = (int)fake.pushes;
	TEST_OK(kvm_irq_msi_route(k, &g, MSI_ADDR + 24, d));
	TEST_ASSERT((int)fake.pushes == ret, "old route not kept");

	/* The next allocation gets the GSI the refused one would have had. */
	TEST_OK(kvm_irq_msi_route(k, &g2, MSI_ADDR + 25, 0x32));
	TEST_ASSERT(g2 == 25, "GSI %d after a refused allocation", g2);

	/* A refused free still releases the GSI here; the next push drops the route. */
	fake.fail_errno = EINVAL;
	kvm_irq_msi_route_free(k, g2);
	g2 = -1;
	TEST_OK(kvm_irq_msi_route(k, &g2, MSI_ADDR + 25, 0x33));
	TEST_ASSERT(g2 == 25, "GSI %d after a refused free", g2);
	check_table((int[]){ g, g2 }, (uint32_t[]){ d, 0x33 }, 2, "after a refused free");
	kvm_irq_destroy(k);
	TEST_PASS("rollback when KVM refuses");
}

/* KVM_CAP_IRQ_ROUTING bounds the table: defaults + cap - 40 MSI routes, then -ENOSPC. */
static void test_limit(void)
{
	const unsigned int room = 3;
	struct kvm_irq *k = fake_init(KVM_IRQ_NR_DEFAULT_ROUTES + room);
	int g[3], extra = -1, ret;
	unsigned int calls;

	for (unsigned int i = 0; i < room; i++) {
		g[i] = -1;
		TEST_OK(kvm_irq_msi_route(k, &g[i], MSI_ADDR + 24 + i, i));
	}
	TEST_ASSERT(fake.nr == KVM_IRQ_NR_DEFAULT_ROUTES + room, "full table of %u", fake.nr);
	calls = fake.calls;
	ret = kvm_irq_msi_route(k, &extra, MSI_ADDR, 0);
	TEST_ASSERT(ret == -ENOSPC && extra == -1 && fake.calls == calls,
		    "past the limit: %d (gsi %d)", ret, extra);
	kvm_irq_msi_route_free(k, g[0]);
	TEST_OK(kvm_irq_msi_route(k, &extra, MSI_ADDR + 24, 0));
	TEST_ASSERT(extra == g[0], "freed GSI %d not reused (%d)", g[0], extra);
	kvm_irq_destroy(k);

	/* A capability above what we use is clamped to KVM_IRQ_MAX_ROUTES. */
	k = fake_init(1 << 30);
	fake.cap = KVM_ROUTES_X86;   /* the fake checks tables against this */
	for (unsigned int i = 0; i < KVM_IRQ_MAX_ROUTES - KVM_IRQ_NR_DEFAULT_ROUTES; i++) {
		int gsi = -1;

		TEST_OK(kvm_irq_msi_route(k, &gsi, MSI_ADDR, i));
		TEST_ASSERT(gsi == (int)(KVM_IRQ_FIRST_MSI_GSI + i), "GSI %d for route %u", gsi, i);
	}
	TEST_ASSERT(fake.nr == KVM_IRQ_MAX_ROUTES, "table of %u", fake.nr);
	extra = -1;
	TEST_ASSERT(kvm_irq_msi_route(k, &extra, MSI_ADDR, 0) == -ENOSPC, "past the clamp");
	kvm_irq_destroy(k);
	TEST_PASS("routing table limit");
}

static void test_irqfd(void)
{
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	int g = -1, ret;
	unsigned int calls;

	TEST_OK(kvm_irq_msi_route(k, &g, MSI_ADDR, 1));
	TEST_OK(kvm_irq_irqfd(k, g, 7, true));
	TEST_ASSERT(fake.last_request == KVM_IRQFD && fake.irqfd.fd == 7 &&
		    fake.irqfd.gsi == (uint32_t)g && fake.irqfd.flags == 0, "assign");
	TEST_OK(kvm_irq_irqfd(k, g, 7, false));
	TEST_ASSERT(fake.irqfd.gsi == (uint32_t)g && fake.irqfd.flags == KVM_IRQFD_FLAG_DEASSIGN,
		    "deassign");
	TEST_OK(kvm_irq_irqfd(k, 4, 8, true));
	TEST_ASSERT(fake.irqfd.gsi == 4 && fake.irqfd.fd == 8, "legacy GSI");

	calls = fake.calls;
	TEST_ASSERT(kvm_irq_irqfd(k, -1, 7, true) == -EINVAL, "GSI -1");
	TEST_ASSERT(kvm_irq_irqfd(k, KVM_ROUTES_X86, 7, false) == -EINVAL, "GSI past the limit");
	TEST_ASSERT(kvm_irq_irqfd(k, g + 1, 7, true) == -EINVAL, "unallocated GSI");
	TEST_ASSERT(kvm_irq_irqfd(k, g, -1, true) == -EBADF, "no eventfd");
	TEST_ASSERT(kvm_irq_irqfd(NULL, g, 7, true) == -EINVAL, "NULL kvm_irq");
	TEST_ASSERT(fake.calls == calls, "refused irqfds reached KVM");

	/* Deassigning after the route is gone still reaches KVM. */
	kvm_irq_msi_route_free(k, g);
	TEST_OK(kvm_irq_irqfd(k, g, 7, false));
	fake.fail_errno = ENOENT;
	ret = kvm_irq_irqfd(k, g, 7, false);
	TEST_ASSERT(ret == -ENOENT, "KVM's error: %d", ret);
	kvm_irq_destroy(k);
	TEST_PASS("irqfd");
}

static void test_msi_send(void)
{
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	int ret;

	fake.msi_ret = 1;
	TEST_OK(kvm_irq_msi_send(k, 0xabcd0000fee01000ull, 0x4041));
	TEST_ASSERT(fake.last_request == KVM_SIGNAL_MSI && fake.msi.address_lo == 0xfee01000u &&
		    fake.msi.address_hi == 0xabcd0000u && fake.msi.data == 0x4041 &&
		    fake.msi.flags == 0, "KVM_SIGNAL_MSI arguments");
	fake.msi_ret = 0;   /* blocked by the guest: not an error */
	TEST_OK(kvm_irq_msi_send(k, MSI_ADDR, 1));
	fake.fail_errno = EINVAL;
	ret = kvm_irq_msi_send(k, MSI_ADDR, 1);
	TEST_ASSERT(ret == -EINVAL, "KVM's error: %d", ret);
	TEST_ASSERT(kvm_irq_msi_send(NULL, MSI_ADDR, 1) == -EINVAL, "NULL kvm_irq");
	kvm_irq_destroy(k);
	TEST_PASS("KVM_SIGNAL_MSI");
}

static void test_ioeventfd(void)
{
	static const struct {
		struct device_ioeventfd io;
		int want;
		const char *what;
	} bad[] = {
		{ { .addr = 0xd0000000, .len = 3, .efd = 5 }, -EINVAL, "length 3" },
		{ { .addr = 0xd0000000, .len = 5, .efd = 5 }, -EINVAL, "length 5" },
		{ { .addr = 0xd0000000, .len = 16, .efd = 5 }, -EINVAL, "length 16" },
		{ { .addr = 0x600, .len = 0, .pio = true, .efd = 5 }, -EINVAL, "PIO any length" },
		{ { .addr = 0xd0000000, .len = 0, .datamatch = true, .efd = 5 }, -EINVAL,
		  "any length with datamatch" },
		{ { .addr = UINT64_MAX, .len = 2, .efd = 5 }, -EINVAL, "MMIO wraps" },
		{ { .addr = UINT64_MAX - 6, .len = 8, .efd = 5 }, -EINVAL, "MMIO wraps by one" },
		{ { .addr = 0xffff, .len = 2, .pio = true, .efd = 5 }, -EINVAL, "past port 0xffff" },
		{ { .addr = 0x10000, .len = 1, .pio = true, .efd = 5 }, -EINVAL, "port 0x10000" },
		{ { .addr = 0x600, .len = 1, .pio = true, .datamatch = true, .data = 0x100,
		    .efd = 5 }, -EINVAL, "datamatch wider than 1 byte" },
		{ { .addr = 0xd0000000, .len = 4, .datamatch = true, .data = 1ull << 32,
		    .efd = 5 }, -EINVAL, "datamatch wider than 4 bytes" },
		{ { .addr = 0xd0000000, .len = 4, .efd = -1 }, -EBADF, "no eventfd" },
	};
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	struct device_ioeventfd io;
	unsigned int calls = fake.calls;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = kvm_irq_ioeventfd(k, &bad[i].io, true);

		TEST_ASSERT(ret == bad[i].want, "%s: %d, want %d", bad[i].what, ret, bad[i].want);
	}
	TEST_ASSERT(kvm_irq_ioeventfd(k, NULL, true) == -EINVAL, "NULL io");
	TEST_ASSERT(fake.calls == calls, "refused ioeventfds reached KVM");

	io = (struct device_ioeventfd){ .addr = 0xd0000040, .len = 4, .datamatch = true,
					.data = 0xfffffffe, .efd = 9 };
	TEST_OK(kvm_irq_ioeventfd(k, &io, true));
	TEST_ASSERT(fake.last_request == KVM_IOEVENTFD && fake.ioeventfd.addr == 0xd0000040 &&
		    fake.ioeventfd.len == 4 && fake.ioeventfd.fd == 9 &&
		    fake.ioeventfd.datamatch == 0xfffffffe &&
		    fake.ioeventfd.flags == KVM_IOEVENTFD_FLAG_DATAMATCH, "MMIO datamatch");
	TEST_OK(kvm_irq_ioeventfd(k, &io, false));
	TEST_ASSERT(fake.ioeventfd.flags == (KVM_IOEVENTFD_FLAG_DATAMATCH |
					     KVM_IOEVENTFD_FLAG_DEASSIGN), "deassign");

	io = (struct device_ioeventfd){ .addr = 0xfffe, .len = 2, .pio = true, .data = 0xdead,
					.efd = 10 };
	TEST_OK(kvm_irq_ioeventfd(k, &io, true));
	TEST_ASSERT(fake.ioeventfd.flags == KVM_IOEVENTFD_FLAG_PIO &&
		    fake.ioeventfd.datamatch == 0 && fake.ioeventfd.addr == 0xfffe,
		    "PIO without datamatch (data ignored)");

	io = (struct device_ioeventfd){ .addr = 0xd0001000, .len = 0, .efd = 11 };
	TEST_OK(kvm_irq_ioeventfd(k, &io, true));
	TEST_ASSERT(fake.ioeventfd.len == 0 && fake.ioeventfd.flags == 0, "MMIO any length");
	io = (struct device_ioeventfd){ .addr = UINT64_MAX - 7, .len = 8, .datamatch = true,
					.data = UINT64_MAX, .efd = 11 };
	TEST_OK(kvm_irq_ioeventfd(k, &io, true));
	TEST_ASSERT(fake.ioeventfd.datamatch == UINT64_MAX, "8-byte datamatch at the top");

	fake.fail_errno = EEXIST;
	TEST_ASSERT(kvm_irq_ioeventfd(k, &io, true) == -EEXIST, "KVM's error");
	kvm_irq_destroy(k);
	TEST_PASS("ioeventfd");
}

/* Threads allocating and freeing at once: GSIs stay unique, the table ends as defaults. */
struct churn {
	struct kvm_irq *k;
	unsigned int id;
	int ret;
	int gsis[ROUTES_PER_THREAD];
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;

	for (unsigned int i = 0; i < ROUTES_PER_THREAD && !c->ret; i++) {
		c->gsis[i] = -1;
		c->ret = kvm_irq_msi_route(c->k, &c->gsis[i], MSI_ADDR, c->id);
		if (!c->ret && i % 2)
			kvm_irq_msi_route_free(c->k, c->gsis[i - 1]);
	}
	return NULL;
}

static void test_threads(void)
{
	static struct churn c[NR_THREADS];
	static bool seen[KVM_ROUTES_X86];
	struct kvm_irq *k = fake_init(KVM_ROUTES_X86);
	pthread_t t[NR_THREADS];
	unsigned int held = 0;

	for (unsigned int i = 0; i < NR_THREADS; i++) {
		c[i] = (struct churn){ .k = k, .id = i };
		TEST_ASSERT(pthread_create(&t[i], NULL, churn_thread, &c[i]) == 0, "create");
	}
	for (unsigned int i = 0; i < NR_THREADS; i++)
		TEST_ASSERT(pthread_join(t[i], NULL) == 0, "join");
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		TEST_OK(c[i].ret);
		/* Odd routes are still held: each GSI by one thread only. */
		for (unsigned int j = 1; j < ROUTES_PER_THREAD; j += 2) {
			int g = c[i].gsis[j];

			TEST_ASSERT(g >= 24 && g < KVM_ROUTES_X86 && !seen[g], "GSI %d twice", g);
			seen[g] = true;
			held++;
		}
	}
	TEST_ASSERT(fake.nr == KVM_IRQ_NR_DEFAULT_ROUTES + held, "table of %u for %u routes",
		    fake.nr, held);
	for (unsigned int i = 0; i < NR_THREADS; i++)
		for (unsigned int j = 1; j < ROUTES_PER_THREAD; j += 2)
			kvm_irq_msi_route_free(k, c[i].gsis[j]);
	check_table(NULL, NULL, 0, "after the threads");
	kvm_irq_destroy(k);
	TEST_PASS("threads");
}

int main(void)
{
	test_init();
	test_routes();
	test_rollback();
	test_limit();
	test_irqfd();
	test_msi_send();
	test_ioeventfd();
	test_threads();
	return 0;
}
