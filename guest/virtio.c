// SPDX-License-Identifier: MIT
/* virtio over PCI, modern (virtio 1.2 §4.1), with split virtqueues (§2.7). */
#include <stddef.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "console.h"
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

/*
 * A queue's rings share its page: descriptors at 0, the avail ring at
 * RING_AVAIL_OFF, the used ring at RING_USED_OFF (alignments 16, 2 and 4).
 */
#define RING_AVAIL_OFF       1024
#define RING_USED_OFF        2048
_Static_assert(VIRTIO_QUEUE_SIZE_MAX * sizeof(struct vring_desc) <= RING_AVAIL_OFF &&
	       RING_AVAIL_OFF + 6 + 2 * VIRTIO_QUEUE_SIZE_MAX <= RING_USED_OFF &&
	       RING_USED_OFF + 6 + sizeof(struct vring_used_elem) * VIRTIO_QUEUE_SIZE_MAX <= PAGE_SIZE,
	       "a queue's rings fit in its page");

/* Not cleared at boot (.noinit): queue_setup() clears a page before use. */
static uint8_t ring_pages[VIRTIO_RING_PAGES][PAGE_SIZE]
	__attribute__((aligned(PAGE_SIZE), section(".noinit")));
static unsigned int ring_pages_used;

static volatile struct vring_desc *ring_desc(const struct virtio_queue *vq)
{
	return (volatile struct vring_desc *)vq->ring;
}

static volatile struct vring_avail *ring_avail(const struct virtio_queue *vq)
{
	return (volatile struct vring_avail *)(vq->ring + RING_AVAIL_OFF);
}

static volatile struct vring_used *ring_used(const struct virtio_queue *vq)
{
	return (volatile struct vring_used *)(vq->ring + RING_USED_OFF);
}

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

void virtio_config_write32(const struct virtio_dev *d, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(d->device.base + off) = v;
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

void virtio_print_pci(const struct virtio_dev *d)
{
	unsigned int assigned = 0;

	con_printf("memvmm-guest: virtio-pci dev=%02x:%02x.%x device=0x%04x",
		   PCI_BDF_BUS(d->bdf), PCI_BDF_DEV(d->bdf), PCI_BDF_FN(d->bdf), d->pci_device);
	for (unsigned int i = 0; i < PCI_BARS; i++) {
		if (!d->bars[i].size)
			continue;
		con_printf(" bar%u=0x%lx bar%u_size=%lu", i, d->bars[i].addr, i, d->bars[i].size);
		assigned += d->bars[i].assigned;
	}
	con_printf(" common=0x%lx notify=0x%lx notify_mult=%u isr=0x%lx device_cfg=0x%lx "
		   "msix_vectors=%u assigned=%u\n", (uint64_t)(uintptr_t)d->common.base,
		   (uint64_t)(uintptr_t)d->notify.base, d->notify_mult,
		   (uint64_t)(uintptr_t)d->isr.base, (uint64_t)(uintptr_t)d->device.base,
		   d->msix_vectors, assigned);
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

static const char *queue_setup(struct virtio_dev *d, uint16_t qi, uint16_t size_cap)
{
	struct virtio_queue *vq = &d->q[qi];
	uint16_t size, noff;

	common_write16(d, VIRTIO_PCI_COMMON_Q_SELECT, qi);
	vq->max = common_read16(d, VIRTIO_PCI_COMMON_Q_SIZE);
	if (!vq->max)
		return "a queue the driver needs is not available";
	if (common_read16(d, VIRTIO_PCI_COMMON_Q_ENABLE))
		return "a queue is enabled after a reset";
	if (!vq->ring) {
		if (ring_pages_used == VIRTIO_RING_PAGES)
			return "no ring page left for another queue";
		vq->ring = ring_pages[ring_pages_used++];
	}
	if (size_cap > VIRTIO_QUEUE_SIZE_MAX)
		size_cap = VIRTIO_QUEUE_SIZE_MAX;
	/* The largest power of two up to both limits (§2.7: split queue sizes are powers of 2). */
	for (size = 1; size * 2 <= vq->max && size * 2 <= size_cap; size *= 2)
		;
	vq->size = size;
	for (unsigned int i = 0; i < PAGE_SIZE / 8; i++)
		((volatile uint64_t *)vq->ring)[i] = 0;
	vq->avail_idx = vq->used_idx = 0;
	vq->in_flight = false;
	common_write16(d, VIRTIO_PCI_COMMON_Q_SIZE, size);
	if (d->msix_on) {
		common_write16(d, VIRTIO_PCI_COMMON_Q_MSIX, MSIX_VECTOR_QUEUE);
		vq->vector = common_read16(d, VIRTIO_PCI_COMMON_Q_MSIX);
	} else {
		vq->vector = common_read16(d, VIRTIO_PCI_COMMON_Q_MSIX);
		/* No interrupts wanted: polling (a hint, §2.7.7). */
		ring_avail(vq)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	}
	common_write64(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uintptr_t)ring_desc(vq));
	common_write64(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uintptr_t)ring_avail(vq));
	common_write64(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uintptr_t)ring_used(vq));
	noff = common_read16(d, VIRTIO_PCI_COMMON_Q_NOFF);
	if ((uint64_t)noff * d->notify_mult + 2 > d->notify.len)
		return "a queue's notify address is outside the notify structure";
	vq->notify = (volatile uint16_t *)(d->notify.base + (uint64_t)noff * d->notify_mult);
	common_write16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	return NULL;
}

const char *virtio_init_features(struct virtio_dev *d, uint64_t wanted, bool msix)
{
	const char *why;
	uint64_t f = 0;

	msix_off(d);
	d->nqueues = 0;
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
	return NULL;
failed:
	status_set(d, VIRTIO_CONFIG_S_FAILED);
	return why;
}

const char *virtio_init_queues(struct virtio_dev *d, unsigned int nqueues, uint16_t size_cap)
{
	const char *why;
	uint8_t st;

	if (nqueues > VIRTIO_QUEUES_MAX) {
		why = "more queues than the driver can set up";
		goto failed;
	}
	for (unsigned int i = 0; i < nqueues; i++)
		if ((why = queue_setup(d, (uint16_t)i, size_cap)))
			goto failed;
	d->nqueues = nqueues;
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

const char *virtio_init(struct virtio_dev *d, uint64_t wanted, bool msix)
{
	const char *why = virtio_init_features(d, wanted, msix);

	return why ? why : virtio_init_queues(d, 1, VIRTIO_QUEUE_SIZE_DEFAULT);
}

/* ---- requests ----------------------------------------------------------- */

static void desc_set(struct virtio_queue *vq, uint16_t i, const volatile void *buf,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	volatile struct vring_desc *desc = ring_desc(vq);

	desc[i].addr = (uintptr_t)buf;
	desc[i].len = len;
	desc[i].flags = flags;
	desc[i].next = next;
}

/* Makes HEAD available, the index STEP further on, and notifies queue QI. */
static void avail_push(struct virtio_dev *d, uint16_t qi, uint16_t head, uint16_t step)
{
	struct virtio_queue *vq = &d->q[qi];
	volatile struct vring_avail *avail = ring_avail(vq);

	avail->ring[vq->avail_idx % vq->size] = head;
	barrier();      /* x86 keeps stores in order: the compiler must too */
	vq->avail_idx += step;
	avail->idx = vq->avail_idx;
	barrier();
	*vq->notify = qi;       /* §4.1.5.2: the queue's index */
	vq->in_flight = true;
	d->requests++;
}

enum virtio_result virtio_chain_add(struct virtio_dev *d, unsigned int q,
				    const struct virtio_buf *bufs, unsigned int n)
{
	struct virtio_queue *vq = &d->q[q];

	if (q >= d->nqueues || !n || n > vq->size)
		return VIRTIO_NO_QUEUE;
	if (vq->in_flight)
		return VIRTIO_BUSY;
	for (unsigned int i = 0; i < n; i++)
		desc_set(vq, (uint16_t)i, bufs[i].addr, bufs[i].len,
			 (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) |
				    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			 (uint16_t)(i + 1 < n ? i + 1 : 0));
	avail_push(d, (uint16_t)q, 0, 1);
	return VIRTIO_OK;
}

enum virtio_result virtio_chain_wait(struct virtio_dev *d, unsigned int q, uint64_t timeout_ms,
				     uint32_t *written)
{
	struct virtio_queue *vq = &d->q[q];
	uint64_t t0 = rdtsc();
	volatile struct vring_used_elem *e;

	if (q >= d->nqueues || !vq->in_flight)
		return VIRTIO_NO_QUEUE;
	for (unsigned int n = 1; ring_used(vq)->idx == vq->used_idx; n++) {
		if (n % NEEDS_RESET_POLLS == 0) {
			if (virtio_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET)
				return VIRTIO_NEEDS_RESET;
			if (elapsed_ms(d, t0) > timeout_ms)
				return VIRTIO_TIMEOUT;
		}
	}
	barrier();
	e = &ring_used(vq)->ring[vq->used_idx % vq->size];
	vq->used_idx++;
	if (!d->msix_on && d->isr.base)
		(void)*d->isr.base;     /* reading ISR lowers INTx */
	if (e->id != 0)
		return VIRTIO_BAD_USED;
	vq->in_flight = false;
	*written = e->len;
	return VIRTIO_OK;
}

enum virtio_result virtio_chain_request(struct virtio_dev *d, unsigned int q,
					const struct virtio_buf *bufs, unsigned int n,
					uint32_t *written, uint64_t timeout_ms)
{
	enum virtio_result r = virtio_chain_add(d, q, bufs, n);

	return r != VIRTIO_OK ? r : virtio_chain_wait(d, q, timeout_ms, written);
}

enum virtio_result virtio_request(struct virtio_dev *d, const void *out, uint32_t out_len,
				  void *in, uint32_t in_len, uint32_t *written,
				  uint64_t timeout_ms)
{
	const struct virtio_buf bufs[2] = {
		{ out, out_len, false }, { in, in_len, true },
	};

	return virtio_chain_request(d, 0, bufs, 2, written, timeout_ms);
}

uint8_t virtio_corrupt(struct virtio_dev *d, unsigned int q, enum virtio_corruption kind,
		       const void *out, uint32_t out_len, void *in, uint32_t in_len,
		       uint64_t timeout_ms, bool *used)
{
	struct virtio_queue *vq = &d->q[q < d->nqueues ? q : 0];
	uint16_t size = vq->size, head = 0, step = 1;
	uint64_t t0;
	uint8_t st;

	/* The second buffer: IN, or OUT again when there is none. */
	const volatile void *second = in_len ? in : out;
	uint32_t second_len = in_len ? in_len : out_len;

	desc_set(vq, 0, out, out_len, in_len ? VRING_DESC_F_NEXT : 0, in_len ? 1 : 0);
	if (in_len)
		desc_set(vq, 1, in, in_len, VRING_DESC_F_WRITE, 0);
	switch (kind) {
	case VIRTIO_CORRUPT_LOOP:
		desc_set(vq, 0, out, out_len, VRING_DESC_F_NEXT, 1);
		desc_set(vq, 1, second, second_len, VRING_DESC_F_NEXT, 0);
		break;
	case VIRTIO_CORRUPT_NEXT:
		desc_set(vq, 0, out, out_len, VRING_DESC_F_NEXT, size);
		break;
	case VIRTIO_CORRUPT_HEAD:
		head = size;
		break;
	case VIRTIO_CORRUPT_IDX:
		step = (uint16_t)(size + 1);
		break;
	case VIRTIO_CORRUPT_ORDER:
		desc_set(vq, 0, second, second_len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		desc_set(vq, 1, out, out_len, 0, 0);
		break;
	case VIRTIO_CORRUPT_ADDR:
		desc_set(vq, 0, (const volatile void *)(uintptr_t)BAD_BUFFER_ADDR, out_len,
			 in_len ? VRING_DESC_F_NEXT : 0, in_len ? 1 : 0);
		break;
	case VIRTIO_CORRUPTIONS:
		break;
	}
	avail_push(d, (uint16_t)(vq - d->q), head, step);
	t0 = rdtsc();
	while (!((st = virtio_status(d)) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       elapsed_ms(d, t0) <= timeout_ms)
		;
	*used = ring_used(vq)->idx != vq->used_idx;
	return st;
}

const char *virtio_result_name(enum virtio_result r)
{
	switch (r) {
	case VIRTIO_OK: return "ok";
	case VIRTIO_NEEDS_RESET: return "needs-reset";
	case VIRTIO_TIMEOUT: return "timeout";
	case VIRTIO_BAD_USED: return "bad-used";
	case VIRTIO_BUSY: return "busy";
	case VIRTIO_NO_QUEUE: return "no-queue";
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

const char *virtio_corruption_parse(const char *value, enum virtio_corruption *kind)
{
	*kind = VIRTIO_CORRUPT_LOOP;
	if (!*value)
		return NULL;
	for (*kind = 0; *kind < VIRTIO_CORRUPTIONS; (*kind)++) {
		const char *n = virtio_corruption_name(*kind), *v = value;

		while (*n && *v == *n)
			v++, n++;
		if (!*n && !*v)
			return NULL;
	}
	return "unknown kind (loop, next, head, idx, order or addr)";
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
