// SPDX-License-Identifier: MIT
/* virtio over PCI, modern (virtio 1.2 §4.1), with one split virtqueue (§2.7). */
#include <stddef.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "cpu.h"
#include "virtio.h"
#include "mem/machine.h"

#define STATUS_POLL_MS       1000   /* for a reset to read back 0 */
#define NEEDS_RESET_POLLS    64     /* used-ring polls between status reads */
#define BAD_BUFFER_ADDR      (1ull << 46)   /* 64 TiB: no RAM, no BAR */
#define MSIX_VECTOR_CONFIG   0
#define MSIX_VECTOR_QUEUE    1
#define MSIX_MSG_DATA_BASE   0x40   /* an unused vector number; IF stays clear */
#define COMMON_CFG_BYTES     (VIRTIO_PCI_COMMON_Q_USEDHI + 4)

/* Queue 0's rings, each in a page of its own (alignment 16, 2 and 4 suffice). */
static uint8_t ring_pages[3][PAGE_SIZE]
	__attribute__((aligned(PAGE_SIZE), section(".noinit")));       /* queue_setup() clears them */
#define RING_DESC  ((volatile struct vring_desc *)ring_pages[0])
#define RING_AVAIL ((volatile struct vring_avail *)ring_pages[1])
#define RING_USED  ((volatile struct vring_used *)ring_pages[2])

static void barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

/* ---- registers ----------------------------------------------------------- */

static uint8_t common_read8(const struct virtio_dev *d, unsigned int off)
{
	return *(volatile uint8_t *)(d->common.base + off);
}

static uint16_t common_read16(const struct virtio_dev *d, unsigned int off)
{
	return *(volatile uint16_t *)(d->common.base + off);
}

static uint32_t common_read32(const struct virtio_dev *d, unsigned int off)
{
	return *(volatile uint32_t *)(d->common.base + off);
}

static void common_write8(const struct virtio_dev *d, unsigned int off, uint8_t v)
{
	*(volatile uint8_t *)(d->common.base + off) = v;
}

static void common_write16(const struct virtio_dev *d, unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)(d->common.base + off) = v;
}

static void common_write32(const struct virtio_dev *d, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(d->common.base + off) = v;
}

/* A 64-bit field as two 32-bit writes, low half first (§4.1.3.1). */
static void common_write64(const struct virtio_dev *d, unsigned int off, uint64_t v)
{
	common_write32(d, off, (uint32_t)v);
	common_write32(d, off + 4, (uint32_t)(v >> 32));
}

uint8_t virtio_status(const struct virtio_dev *d)
{
	return common_read8(d, VIRTIO_PCI_COMMON_STATUS);
}

static void status_set(const struct virtio_dev *d, uint8_t bits)
{
	common_write8(d, VIRTIO_PCI_COMMON_STATUS, virtio_status(d) | bits);
}

uint8_t virtio_config_generation(const struct virtio_dev *d)
{
	return common_read8(d, VIRTIO_PCI_COMMON_CFGGENERATION);
}

uint32_t virtio_config_read32(const struct virtio_dev *d, unsigned int off)
{
	return *(volatile uint32_t *)(d->device.base + off);
}

static uint64_t elapsed_ms(const struct virtio_dev *d, uint64_t t0)
{
	return (rdtsc() - t0) / d->cycles_per_ms;
}

/* ---- probe ----------------------------------------------------------------- */

/* Records a vendor capability's structure if it is the first usable one of its type. */
static const char *cap_take(struct virtio_dev *d, unsigned int pos, bool used_bars[PCI_BARS])
{
	uint8_t type = pci_read8(d->bdf, pos + VIRTIO_PCI_CAP_CFG_TYPE);
	uint8_t bar = pci_read8(d->bdf, pos + VIRTIO_PCI_CAP_BAR);
	uint8_t cap_len = pci_read8(d->bdf, pos + VIRTIO_PCI_CAP_LEN);
	uint32_t off = pci_read32(d->bdf, pos + VIRTIO_PCI_CAP_OFFSET);
	uint32_t len = pci_read32(d->bdf, pos + VIRTIO_PCI_CAP_LENGTH);
	struct virtio_region *r;
	const struct pci_bar *b;

	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG: r = &d->common; break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG: r = &d->notify; break;
	case VIRTIO_PCI_CAP_ISR_CFG: r = &d->isr; break;
	case VIRTIO_PCI_CAP_DEVICE_CFG: r = &d->device; break;
	default: return NULL;   /* PCI config access, shared memory, vendor: unused */
	}
	/* §4.1.4: the first one the driver can use; BARs 0..5 only. */
	if (r->base || bar >= PCI_BARS)
		return NULL;
	b = &d->bars[bar];
	if (b->io)
		return "a virtio structure is in an I/O BAR (not supported)";
	if (!b->size || (uint64_t)off + len > b->size)
		return "a virtio structure lies outside its BAR";
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		if (cap_len < sizeof(struct virtio_pci_notify_cap))
			return "notify capability too short";
		d->notify_mult = pci_read32(d->bdf, pos + VIRTIO_PCI_NOTIFY_CAP_MULT);
	}
	r->base = (volatile uint8_t *)(uintptr_t)(b->addr + off);
	r->len = len;
	used_bars[bar] = true;
	return NULL;
}

static const char *msix_probe(struct virtio_dev *d, bool used_bars[PCI_BARS])
{
	unsigned int pos = pci_cap_find(d->bdf, PCI_CAP_ID_MSIX, 0);
	uint32_t table, pba;
	const struct pci_bar *tb, *pb;

	if (!pos)
		return NULL;
	d->msix_vectors = (pci_read16(d->bdf, pos + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1;
	table = pci_read32(d->bdf, pos + PCI_MSIX_TABLE);
	pba = pci_read32(d->bdf, pos + PCI_MSIX_PBA);
	tb = &d->bars[table & PCI_MSIX_TABLE_BIR];
	pb = &d->bars[pba & PCI_MSIX_PBA_BIR];
	if ((table & PCI_MSIX_TABLE_BIR) >= PCI_BARS || (pba & PCI_MSIX_PBA_BIR) >= PCI_BARS ||
	    tb->io || pb->io ||
	    (uint64_t)(table & PCI_MSIX_TABLE_OFFSET) + d->msix_vectors * PCI_MSIX_ENTRY_SIZE > tb->size ||
	    (uint64_t)(pba & PCI_MSIX_PBA_OFFSET) + (d->msix_vectors + 63) / 64 * 8 > pb->size)
		return "MSI-X table or PBA outside its BAR";
	d->msix_cap = pos;
	d->msix_table = (volatile uint32_t *)(uintptr_t)(tb->addr + (table & PCI_MSIX_TABLE_OFFSET));
	d->msix_pba = (volatile uint32_t *)(uintptr_t)(pb->addr + (pba & PCI_MSIX_PBA_OFFSET));
	used_bars[table & PCI_MSIX_TABLE_BIR] = true;
	used_bars[pba & PCI_MSIX_PBA_BIR] = true;
	return NULL;
}

const char *virtio_probe(struct virtio_dev *d, uint16_t device_id, uint64_t cycles_per_ms)
{
	bool used_bars[PCI_BARS] = { false };
	const char *why;

	*d = (struct virtio_dev){ .cycles_per_ms = cycles_per_ms ? cycles_per_ms : 1 };
	d->pci_device = (uint16_t)(MACHINE_PCI_VIRTIO_DEVICE_BASE + device_id);
	if (!pci_find(MACHINE_PCI_VIRTIO_VENDOR, d->pci_device, &d->bdf))
		return "no such virtio device on PCI bus 0";
	if ((why = pci_bars_probe(d->bdf, d->bars)))
		return why;
	for (unsigned int pos = pci_cap_find(d->bdf, PCI_CAP_ID_VNDR, 0); pos;
	     pos = pci_cap_find(d->bdf, PCI_CAP_ID_VNDR, pos))
		if ((why = cap_take(d, pos, used_bars)))
			return why;
	if (!d->common.base || !d->notify.base || !d->device.base)
		return "a common, notify or device configuration capability is missing";
	if (d->common.len < COMMON_CFG_BYTES)
		return "common configuration too short";
	if ((why = msix_probe(d, used_bars)))
		return why;
	for (unsigned int i = 0; i < PCI_BARS; i++) {
		const struct pci_bar *b = &d->bars[i];

		if (used_bars[i] && (why = paging_map(b->addr, b->addr + b->size, true)))
			return why;
	}
	pci_write16(d->bdf, PCI_COMMAND, pci_read16(d->bdf, PCI_COMMAND) |
		    PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return NULL;
}

/* ---- initialization ----------------------------------------------------- */

bool virtio_reset(struct virtio_dev *d)
{
	uint64_t t0 = rdtsc();

	d->resets++;
	d->msix_on = false;
	common_write8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	/* §4.1.4.3.2: wait until it reads 0. */
	while (virtio_status(d))
		if (elapsed_ms(d, t0) > STATUS_POLL_MS)
			return false;
	return true;
}

static void msix_setup(struct virtio_dev *d)
{
	unsigned int ctl = d->msix_cap + PCI_MSIX_FLAGS;

	/* Function masked while the entries are written; then every vector masked alone. */
	pci_write16(d->bdf, ctl, pci_read16(d->bdf, ctl) | PCI_MSIX_FLAGS_ENABLE |
		    PCI_MSIX_FLAGS_MASKALL);
	for (uint16_t v = 0; v < d->msix_vectors; v++) {
		volatile uint32_t *e = d->msix_table + v * PCI_MSIX_ENTRY_SIZE / 4;

		e[PCI_MSIX_ENTRY_VECTOR_CTRL / 4] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		e[PCI_MSIX_ENTRY_LOWER_ADDR / 4] = (uint32_t)MACHINE_MSI_ADDR_BASE;
		e[PCI_MSIX_ENTRY_UPPER_ADDR / 4] = 0;
		e[PCI_MSIX_ENTRY_DATA / 4] = MSIX_MSG_DATA_BASE + v;
	}
	pci_write16(d->bdf, ctl, (pci_read16(d->bdf, ctl) | PCI_MSIX_FLAGS_ENABLE) &
		    ~PCI_MSIX_FLAGS_MASKALL);
	d->msix_on = true;
}

static void msix_off(struct virtio_dev *d)
{
	unsigned int ctl = d->msix_cap + PCI_MSIX_FLAGS;

	if (d->msix_cap)
		pci_write16(d->bdf, ctl, pci_read16(d->bdf, ctl) &
			    ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
}

static const char *queue_setup(struct virtio_dev *d)
{
	uint16_t size, noff;

	common_write16(d, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	d->queue_max = common_read16(d, VIRTIO_PCI_COMMON_Q_SIZE);
	if (!d->queue_max)
		return "queue 0 is not available";
	if (common_read16(d, VIRTIO_PCI_COMMON_Q_ENABLE))
		return "queue 0 is enabled after a reset";
	/* The largest power of two up to both limits (§2.7: split queue sizes are powers of 2). */
	for (size = 1; size * 2 <= d->queue_max && size * 2 <= VIRTIO_QUEUE_SIZE_MAX; size *= 2)
		;
	d->queue_size = size;
	for (unsigned int p = 0; p < 3; p++)
		for (unsigned int i = 0; i < PAGE_SIZE / 8; i++)
			((volatile uint64_t *)ring_pages[p])[i] = 0;
	d->avail_idx = d->used_idx = 0;
	common_write16(d, VIRTIO_PCI_COMMON_Q_SIZE, size);
	if (d->msix_on) {
		common_write16(d, VIRTIO_PCI_COMMON_Q_MSIX, MSIX_VECTOR_QUEUE);
		d->queue_vector = common_read16(d, VIRTIO_PCI_COMMON_Q_MSIX);
	} else {
		d->queue_vector = common_read16(d, VIRTIO_PCI_COMMON_Q_MSIX);
		/* No interrupts wanted: polling (a hint, §2.7.7). */
		RING_AVAIL->flags = VRING_AVAIL_F_NO_INTERRUPT;
	}
	common_write64(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uintptr_t)RING_DESC);
	common_write64(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uintptr_t)RING_AVAIL);
	common_write64(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uintptr_t)RING_USED);
	noff = common_read16(d, VIRTIO_PCI_COMMON_Q_NOFF);
	if ((uint64_t)noff * d->notify_mult + 2 > d->notify.len)
		return "queue 0's notify address is outside the notify structure";
	d->queue_notify = (volatile uint16_t *)(d->notify.base + (uint64_t)noff * d->notify_mult);
	common_write16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	return NULL;
}

const char *virtio_init(struct virtio_dev *d, uint64_t wanted, bool msix)
{
	const char *why;
	uint64_t f = 0;
	uint8_t st;

	msix_off(d);
	if (!virtio_reset(d))
		return "device status does not read 0 after a reset";
	status_set(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	status_set(d, VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		common_write32(d, VIRTIO_PCI_COMMON_DFSELECT, sel);
		f |= (uint64_t)common_read32(d, VIRTIO_PCI_COMMON_DF) << (32 * sel);
	}
	d->device_features = f;
	if (!(f & 1ull << VIRTIO_F_VERSION_1)) {
		why = "the device does not offer VIRTIO_F_VERSION_1";
		goto failed;
	}
	d->driver_features = f & (wanted | 1ull << VIRTIO_F_VERSION_1);
	for (uint32_t sel = 0; sel < 2; sel++) {
		common_write32(d, VIRTIO_PCI_COMMON_GFSELECT, sel);
		common_write32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)(d->driver_features >> (32 * sel)));
	}
	status_set(d, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		why = "the device refused the features (FEATURES_OK did not stick)";
		goto failed;
	}
	d->config_vector = common_read16(d, VIRTIO_PCI_COMMON_MSIX);
	if (msix && d->msix_cap) {
		msix_setup(d);
		common_write16(d, VIRTIO_PCI_COMMON_MSIX, MSIX_VECTOR_CONFIG);
		d->config_vector = common_read16(d, VIRTIO_PCI_COMMON_MSIX);
	}
	if ((why = queue_setup(d)))
		goto failed;
	status_set(d, VIRTIO_CONFIG_S_DRIVER_OK);
	st = virtio_status(d);
	if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED) ||
	    !(st & VIRTIO_CONFIG_S_DRIVER_OK))
		return "the device status is wrong after DRIVER_OK";
	return NULL;
failed:
	status_set(d, VIRTIO_CONFIG_S_FAILED);
	return why;
}

/* ---- requests ----------------------------------------------------------- */

static void desc_set(uint16_t i, const volatile void *buf, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	RING_DESC[i].addr = (uintptr_t)buf;
	RING_DESC[i].len = len;
	RING_DESC[i].flags = flags;
	RING_DESC[i].next = next;
}

/* Makes HEAD available, the index STEP further on, and notifies queue 0. */
static void avail_push(struct virtio_dev *d, uint16_t head, uint16_t step)
{
	RING_AVAIL->ring[d->avail_idx % d->queue_size] = head;
	barrier();      /* x86 keeps stores in order: the compiler must too */
	d->avail_idx += step;
	RING_AVAIL->idx = d->avail_idx;
	barrier();
	*d->queue_notify = 0;
	d->requests++;
}

enum virtio_result virtio_request(struct virtio_dev *d, const void *out, uint32_t out_len,
				  void *in, uint32_t in_len, uint32_t *written,
				  uint64_t timeout_ms)
{
	uint64_t t0 = rdtsc();
	volatile struct vring_used_elem *e;

	desc_set(0, out, out_len, VRING_DESC_F_NEXT, 1);
	desc_set(1, in, in_len, VRING_DESC_F_WRITE, 0);
	avail_push(d, 0, 1);
	for (unsigned int n = 1; RING_USED->idx == d->used_idx; n++) {
		if (n % NEEDS_RESET_POLLS == 0) {
			if (virtio_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET)
				return VIRTIO_NEEDS_RESET;
			if (elapsed_ms(d, t0) > timeout_ms)
				return VIRTIO_TIMEOUT;
		}
	}
	barrier();
	e = &RING_USED->ring[d->used_idx % d->queue_size];
	d->used_idx++;
	if (!d->msix_on && d->isr.base)
		(void)*d->isr.base;     /* reading ISR lowers INTx */
	if (e->id != 0)
		return VIRTIO_BAD_USED;
	*written = e->len;
	return VIRTIO_OK;
}

uint8_t virtio_corrupt(struct virtio_dev *d, enum virtio_corruption kind,
		       const void *out, uint32_t out_len, void *in, uint32_t in_len,
		       uint64_t timeout_ms, bool *used)
{
	uint16_t size = d->queue_size, head = 0, step = 1;
	uint64_t t0;
	uint8_t st;

	desc_set(0, out, out_len, VRING_DESC_F_NEXT, 1);
	desc_set(1, in, in_len, VRING_DESC_F_WRITE, 0);
	switch (kind) {
	case VIRTIO_CORRUPT_LOOP:
		desc_set(1, out, out_len, VRING_DESC_F_NEXT, 0);
		break;
	case VIRTIO_CORRUPT_NEXT:
		desc_set(0, out, out_len, VRING_DESC_F_NEXT, size);
		break;
	case VIRTIO_CORRUPT_HEAD:
		head = size;
		break;
	case VIRTIO_CORRUPT_IDX:
		step = (uint16_t)(size + 1);
		break;
	case VIRTIO_CORRUPT_ORDER:
		desc_set(0, in, in_len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		desc_set(1, out, out_len, 0, 0);
		break;
	case VIRTIO_CORRUPT_ADDR:
		desc_set(0, (const volatile void *)(uintptr_t)BAD_BUFFER_ADDR, out_len,
			 VRING_DESC_F_NEXT, 1);
		break;
	case VIRTIO_CORRUPTIONS:
		break;
	}
	avail_push(d, head, step);
	t0 = rdtsc();
	while (!((st = virtio_status(d)) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       elapsed_ms(d, t0) <= timeout_ms)
		;
	*used = RING_USED->idx != d->used_idx;
	return st;
}

const char *virtio_result_name(enum virtio_result r)
{
	switch (r) {
	case VIRTIO_OK: return "ok";
	case VIRTIO_NEEDS_RESET: return "needs-reset";
	case VIRTIO_TIMEOUT: return "timeout";
	case VIRTIO_BAD_USED: return "bad-used";
	}
	return "?";
}

const char *virtio_corruption_name(enum virtio_corruption kind)
{
	static const char *const names[VIRTIO_CORRUPTIONS] = {
		[VIRTIO_CORRUPT_LOOP] = "loop", [VIRTIO_CORRUPT_NEXT] = "next",
		[VIRTIO_CORRUPT_HEAD] = "head", [VIRTIO_CORRUPT_IDX] = "idx",
		[VIRTIO_CORRUPT_ORDER] = "order", [VIRTIO_CORRUPT_ADDR] = "addr",
	};

	return kind < VIRTIO_CORRUPTIONS ? names[kind] : "?";
}

/* ---- MSI-X ------------------------------------------------------------------ */

bool virtio_msix_pending(const struct virtio_dev *d, uint16_t vector)
{
	return d->msix_pba[vector / 32] >> (vector % 32) & 1;
}

void virtio_msix_mask(struct virtio_dev *d, uint16_t vector, bool masked)
{
	d->msix_table[vector * PCI_MSIX_ENTRY_SIZE / 4 + PCI_MSIX_ENTRY_VECTOR_CTRL / 4] =
		masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}
