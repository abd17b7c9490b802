// SPDX-License-Identifier: MIT
/* The PCI tests' device and guest-side helpers (tests/pci_tdev.h). */
#include "tests/pci_tdev.h"

#include <linux/pci_regs.h>
#include <string.h>

#include "tests/test.h"

static uint64_t tdev_read(void *opaque, uint64_t off, unsigned int size)
{
	struct tdev *t = opaque;

	atomic_fetch_add(&t->reads, 1);
	t->last_off = off;
	t->last_size = size;
	return 0x1122334455667788ull ^ off;
}

static void tdev_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct tdev *t = opaque;

	atomic_fetch_add(&t->writes, 1);
	t->last_off = off;
	t->last_size = size;
	t->last_val = val;
}

static const struct bus_handler tdev_handler = { .read = tdev_read, .write = tdev_write };

static void tdev_bar_map(void *opaque, unsigned int bar, uint64_t addr, bool mapped)
{
	struct tdev *t = opaque;

	if (t->nev < MAX_EVENTS)
		t->ev[t->nev] = (struct bar_event){ .bar = bar, .addr = addr, .mapped = mapped };
	t->nev++;
	/* Callbacks may read config space (the lock is theirs already). */
	if (t->pci) {
		uint16_t vendor;

		pci_dev_cfg_get(t->pci, PCI_VENDOR_ID, &vendor, sizeof(vendor));
		TEST_ASSERT(vendor == 0x1234, "cfg_get from a callback read 0x%x", vendor);
	}
}

static void tdev_command(void *opaque, uint16_t old_cmd, uint16_t new_cmd)
{
	struct tdev *t = opaque;

	t->commands++;
	t->old_cmd = old_cmd;
	t->new_cmd = new_cmd;
}

static bool in_vcap_reg(const struct tdev *t, unsigned int off, unsigned int size)
{
	return t->vcap && off == t->vcap + 4 && size == 4;
}

static bool tdev_cfg_read(void *opaque, unsigned int off, unsigned int size, uint32_t *val)
{
	struct tdev *t = opaque;

	if (!in_vcap_reg(t, off, size))
		return false;
	*val = t->vcap_reg;
	return true;
}

static bool tdev_cfg_write(void *opaque, unsigned int off, unsigned int size, uint32_t val)
{
	struct tdev *t = opaque;

	if (!in_vcap_reg(t, off, size))
		return false;
	t->vcap_reg = val;
	return true;
}

static const struct pci_dev_callbacks tdev_cb = {
	.bar_map = tdev_bar_map,
	.cfg_read = tdev_cfg_read,
	.cfg_write = tdev_cfg_write,
	.command = tdev_command,
};

struct pci_dev_desc tdev_desc(struct tdev *t)
{
	return (struct pci_dev_desc){
		.name = "tdev",
		.vendor = 0x1234, .device = 0x5678,
		.subsys_vendor = 0x1af4, .subsys_id = 0x0042,
		.class_code = 0x058000, .revision = 7,
		.intx = true,
		.bar[0] = { .type = PCI_BAR_MEM32, .size = BAR0_BYTES, .handler = &tdev_handler,
			    .opaque = t },
		.bar[2] = { .type = PCI_BAR_MEM64, .size = BAR2_BYTES, .prefetchable = true,
			    .handler = &tdev_handler, .opaque = t },
		.msix_vectors = NR_VECTORS,
		.msix_bar = MSIX_BAR,
		.cb = &tdev_cb,
		.opaque = t,
	};
}

void tdev_setup(struct fake_ctx *f, struct tdev *t)
{
	const struct fake_ctx_config cfg = { .ram_bytes = RAM_BYTES, .pci = true };
	struct pci_dev_desc desc;

	fake_ctx_init(f, &cfg);
	memset(t, 0, sizeof(*t));
	desc = tdev_desc(t);
	TEST_OK(pci_dev_add(f->pci, &desc, &t->pci));
	TEST_ASSERT(pci_dev_slot(t->pci) == 1, "first device in slot %u", pci_dev_slot(t->pci));
}

void tdev_teardown(struct fake_ctx *f, struct tdev *t)
{
	pci_dev_remove(t->pci);
	TEST_ASSERT(f->routes_used == 0 && f->irqfds_assigned == 0,
		    "after removal: %u routes, %u irqfds", f->routes_used, f->irqfds_assigned);
	TEST_ASSERT(!f->route_freed_with_irqfd && !f->bad_route_frees && !f->bad_irqfd_deassigns,
		    "route/irqfd order: %u freed with irqfd, %u bad frees, %u bad deassigns",
		    f->route_freed_with_irqfd, f->bad_route_frees, f->bad_irqfd_deassigns);
	fake_ctx_destroy(f);
}

uint64_t cfg_bar_addr(struct fake_ctx *f, unsigned int slot, unsigned int bar, bool is64)
{
	uint64_t a = fake_cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 4 * bar, 4) & ~0xfull;

	if (is64)
		a |= (uint64_t)fake_cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 4) << 32;
	return a;
}

void cfg_set_bar(struct fake_ctx *f, unsigned int slot, unsigned int bar, uint64_t addr,
		 bool is64)
{
	fake_cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 4 * bar, 4, (uint32_t)addr);
	if (is64)
		fake_cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), 4,
			       (uint32_t)(addr >> 32));
}

void cfg_set_command(struct fake_ctx *f, unsigned int slot, uint16_t cmd)
{
	fake_cfg_write(f, slot, PCI_COMMAND, 2, cmd);
}

/* The capability with id, by walking the list as a driver does; 0 if none. */
unsigned int cfg_find_cap(struct fake_ctx *f, unsigned int slot, uint8_t id)
{
	unsigned int off, n = 0;

	if (!(fake_cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	for (off = fake_cfg_read(f, slot, PCI_CAPABILITY_LIST, 1); off && n < 48; n++) {
		TEST_ASSERT(off >= 0x40 && off % 4 == 0, "capability at 0x%x", off);
		if (fake_cfg_read(f, slot, off, 1) == id)
			return off;
		off = fake_cfg_read(f, slot, off + 1, 1);
	}
	return 0;
}

bool tdev_has_event(const struct tdev *t, unsigned int from, unsigned int bar, uint64_t addr,
		    bool mapped)
{
	for (unsigned int i = from; i < t->nev && i < MAX_EVENTS; i++)
		if (t->ev[i].bar == bar && t->ev[i].addr == addr && t->ev[i].mapped == mapped)
			return true;
	return false;
}


void msix_ctl(struct msix_env *e, uint16_t bits)
{
	uint16_t ctl = (uint16_t)fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2);

	ctl = (uint16_t)((ctl & PCI_MSIX_FLAGS_QSIZE) | bits);
	fake_cfg_write(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2, ctl);
}

uint64_t msix_entry(const struct msix_env *e, unsigned int v, unsigned int field)
{
	return e->table + v * PCI_MSIX_ENTRY_SIZE + field;
}

void msix_program(struct msix_env *e, unsigned int v, uint64_t addr, uint32_t data)
{
	fake_mmio_write(&e->f, msix_entry(e, v, PCI_MSIX_ENTRY_LOWER_ADDR), 8, addr);
	fake_mmio_write(&e->f, msix_entry(e, v, PCI_MSIX_ENTRY_DATA), 4, data);
}

void msix_vmask(struct msix_env *e, unsigned int v, bool masked)
{
	fake_mmio_write(&e->f, msix_entry(e, v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, masked);
}

uint64_t msix_pba(struct msix_env *e)
{
	return fake_mmio_read(&e->f, e->table + PCI_MSIX_PBA_BAR_OFFSET, 8);
}

/* The GSI vector v is routed on: found through the route's data. */
int msix_gsi_of(struct msix_env *e, uint32_t data)
{
	for (int gsi = FAKE_FIRST_MSI_GSI; gsi < (int)FAKE_MAX_GSI; gsi++) {
		uint32_t d;

		if (fake_msi_route_get(&e->f, gsi, NULL, &d) && d == data)
			return gsi;
	}
	return -1;
}

void msix_setup(struct msix_env *e)
{
	tdev_setup(&e->f, &e->t);
	e->cap = cfg_find_cap(&e->f, 1, PCI_CAP_ID_MSIX);
	TEST_ASSERT(e->cap, "no MSI-X capability");
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2) == NR_VECTORS - 1,
		    "message control 0x%x", fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_FLAGS, 2));
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_TABLE, 4) == MSIX_BAR, "table");
	TEST_ASSERT(fake_cfg_read(&e->f, 1, e->cap + PCI_MSIX_PBA, 4) ==
		    (PCI_MSIX_PBA_BAR_OFFSET | MSIX_BAR), "PBA");
	e->table = cfg_bar_addr(&e->f, 1, MSIX_BAR, false);
	cfg_set_command(&e->f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* What Linux does: enable with the function masked, program, unmask. */
	msix_ctl(e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	TEST_ASSERT(pci_msix_enabled(e->t.pci), "MSI-X not enabled");
	for (unsigned int v = 0; v < NR_VECTORS; v++) {
		TEST_ASSERT(fake_mmio_read(&e->f, msix_entry(e, v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4) == 1,
			    "vector %u not masked at start", v);
		msix_program(e, v, MSI_ADDR | v << 12, 0x40 + v);
	}
}
