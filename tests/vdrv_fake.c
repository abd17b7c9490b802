// SPDX-License-Identifier: MIT
/* fake_ctx as the spec-only virtio driver's machine (tests/vdrv_fake.h). */
#include "tests/vdrv_fake.h"

#include <stdbool.h>

#include "devices/bus.h"
#include "mem/mem.h"

/* A write that an ioeventfd takes (as KVM would) counts as claimed. */
static bool ioeventfd_takes(struct fake_ctx *f, bool pio, uint64_t addr, unsigned int size,
			    uint64_t val)
{
	uint64_t mask = size == 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;

	for (unsigned int i = 0; i < f->nr_ioeventfds; i++) {
		const struct device_ioeventfd *io = &f->ioeventfd[i];

		if (io->pio == pio && io->addr == addr && (!io->len || io->len == size) &&
		    (!io->datamatch || (io->data & mask) == (val & mask)))
			return true;
	}
	return false;
}

static bool m_pio_read(void *o, uint16_t port, unsigned int size, uint32_t *val)
{
	uint64_t v = UINT64_MAX;
	bool hit = bus_read(&((struct fake_ctx *)o)->pio, port, size, &v);

	*val = (uint32_t)v;
	return hit;
}

static bool m_pio_write(void *o, uint16_t port, unsigned int size, uint32_t val)
{
	struct fake_ctx *f = o;

	if (ioeventfd_takes(f, true, port, size, val)) {
		fake_pio_write(f, port, size, val);
		return true;
	}
	return bus_write(&f->pio, port, size, val);
}

static bool m_mmio_read(void *o, uint64_t gpa, unsigned int size, uint64_t *val)
{
	return bus_read(&((struct fake_ctx *)o)->mmio, gpa, size, val);
}

static bool m_mmio_write(void *o, uint64_t gpa, unsigned int size, uint64_t val)
{
	struct fake_ctx *f = o;

	if (ioeventfd_takes(f, false, gpa, size, val)) {
		fake_mmio_write(f, gpa, size, val);
		return true;
	}
	return bus_write(&f->mmio, gpa, size, val);
}

int vdrv_fake_mem_read(void *o, uint64_t gpa, void *buf, size_t len)
{
	return mem_read(&((struct fake_ctx *)o)->mem, gpa, buf, len);
}

int vdrv_fake_mem_write(void *o, uint64_t gpa, const void *buf, size_t len)
{
	return mem_write(&((struct fake_ctx *)o)->mem, gpa, buf, len);
}

static void m_run(void *o)
{
	(void)fake_ctx_run_loop(o);
}

struct vdrv_machine vdrv_fake_machine(struct fake_ctx *f)
{
	return (struct vdrv_machine){
		.opaque = f, .pio_read = m_pio_read, .pio_write = m_pio_write,
		.mmio_read = m_mmio_read, .mmio_write = m_mmio_write,
		.mem_read = vdrv_fake_mem_read, .mem_write = vdrv_fake_mem_write, .run = m_run,
	};
}

uint64_t vdrv_fake_msis(struct fake_ctx *f, unsigned int *seen, uint64_t addr, uint32_t data)
{
	uint64_t n = 0, a;
	uint32_t dt;

	for (int gsi = FAKE_FIRST_MSI_GSI; gsi < (int)FAKE_MAX_GSI; gsi++)
		if (fake_msi_route_get(f, gsi, &a, &dt) && a == addr && dt == data)
			n += fake_irqfd_take(f, gsi);
	for (; *seen < f->nr_msi_sent && *seen < FAKE_MSI_SEND_LOG; ++*seen)
		n += f->msi_sent[*seen].addr == addr && f->msi_sent[*seen].data == data;
	return n;
}
