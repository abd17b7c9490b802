/* SPDX-License-Identifier: MIT */
/*
 * An independent virtio-pci driver (modern only, split virtqueues) with a
 * virtio-mem request layer and a balloon layer, written from the virtio 1.2
 * spec (§4.1 PCI transport, §2.7 split virtqueues, §3.1 device
 * initialization, §5.15 virtio-mem, §5.5 traditional memory balloon) and
 * the PCI Local Bus spec 3.0 alone, to check memvmm's
 * device from the guest's side. It does not know memvmm's device code: it
 * finds the device by scanning bus 0 through conf1, sizes and reads its
 * BARs, walks its capability list and drives it as a guest would.
 *
 * It acts on an abstract machine (struct vdrv_machine): port I/O and MMIO
 * as a vCPU does them, guest memory by guest-physical address, and a hook
 * that lets the device run (the VMM's main loop). A unit test drives it on
 * a fake machine; a fuzz target or a benchmark can drive it on others.
 *
 * Fallible calls return 0 or -errno and say why in d->err (they never
 * print): -ENODEV no device, -EPROTO the device broke the spec (err says
 * how), -ETIMEDOUT the device did not answer within cfg.poll_rounds runs,
 * -EFAULT guest memory could not be reached, -EINVAL a bad argument.
 */
#ifndef MEMVMM_TEST_VIRTIO_DRIVER_H
#define MEMVMM_TEST_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_mem.h>

#define VDRV_WUR __attribute__((warn_unused_result))

/* Bus 0 slots scanned, and the most capabilities walked before the list counts as a loop. */
#define VDRV_PCI_SLOTS           32u
#define VDRV_MAX_CAPS            48u
#define VDRV_NR_BARS             6u
/* Queues the driver sets up at most, and the largest queue it takes (spec: 32768). */
#define VDRV_MAX_QUEUES          4u
#define VDRV_MAX_QUEUE_SIZE      1024u
/*
 * Scratch guest RAM (vdrv_config): queue q's rings at scratch + q *
 * VDRV_RING_AREA_BYTES (descriptors, then the driver area and the device
 * area each on its own 4 KiB page), request buffers after all of them.
 */
#define VDRV_RING_AREA_BYTES     (32u << 10)
#define VDRV_DATA_AREA_BYTES     (16u << 10)
#define VDRV_SCRATCH_MIN_BYTES   (VDRV_MAX_QUEUES * VDRV_RING_AREA_BYTES + VDRV_DATA_AREA_BYTES)
/* Runs of the machine before a reset, a used buffer or a status change counts as never. */
#define VDRV_DEFAULT_POLL_ROUNDS 64u

/*
 * The machine. Accesses return false when nothing claims the address (a
 * read then yields all ones, as a PCI master abort does).
 */
struct vdrv_machine {
	void *opaque;
	bool (*pio_read)(void *opaque, uint16_t port, unsigned int size, uint32_t *val);
	bool (*pio_write)(void *opaque, uint16_t port, unsigned int size, uint32_t val);
	bool (*mmio_read)(void *opaque, uint64_t gpa, unsigned int size, uint64_t *val);
	bool (*mmio_write)(void *opaque, uint64_t gpa, unsigned int size, uint64_t val);
	/* Guest RAM by guest-physical address: 0 or -errno. */
	int (*mem_read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	int (*mem_write)(void *opaque, uint64_t gpa, const void *buf, size_t len);
	/* Let the device do what is pending (one pass of the VMM's main loop). May be NULL. */
	void (*run)(void *opaque);
};

struct vdrv_config {
	uint64_t scratch_gpa;        /* guest RAM the driver owns: rings and request buffers */
	uint64_t scratch_bytes;      /* >= VDRV_SCRATCH_MIN_BYTES */
	unsigned int poll_rounds;    /* 0: VDRV_DEFAULT_POLL_ROUNDS */
};

struct vdrv_bar {
	uint64_t addr;               /* as the BAR reads now */
	uint64_t size;               /* 0: not implemented */
	bool io, mem64, prefetchable;
	bool upper;                  /* the high half of the 64-bit BAR below */
};

/* Where a virtio structure lies (from its capability). */
struct vdrv_region {
	bool present;
	uint8_t cap;                 /* config space offset of its capability */
	uint8_t cap_len;
	uint8_t bar;
	uint32_t off, len;
};

struct vdrv_queue {
	bool ready;
	uint16_t size;
	uint64_t desc, avail, used;  /* guest-physical */
	uint16_t notify_off;
	uint16_t vector;             /* queue_msix_vector as read back */
	uint16_t avail_idx;          /* next avail index the driver publishes */
	uint16_t used_seen;          /* used entries the driver consumed */
	uint16_t next_desc;          /* where the next chain starts */
};

/* One buffer of a chain. */
struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool device_writes;
};

struct vdrv {
	struct vdrv_machine m;
	struct vdrv_config cfg;
	int slot;                    /* -1 until vdrv_find() */
	uint16_t vendor, device;
	struct vdrv_bar bar[VDRV_NR_BARS];
	unsigned int nr_caps;
	struct vdrv_region common, notify, isr, devcfg, pcicfg;
	uint32_t notify_mult;
	uint8_t msix_cap;            /* 0: no MSI-X capability */
	uint16_t msix_vectors;
	uint8_t msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	uint64_t dev_features;       /* offered (vdrv_features_read) */
	uint64_t drv_features;       /* accepted (vdrv_negotiate) */
	uint16_t num_queues;
	struct vdrv_queue q[VDRV_MAX_QUEUES];
	char err[256];               /* why the last call failed */
};

/* -EINVAL for a machine without its accessors or too little scratch RAM. */
int vdrv_init(struct vdrv *d, const struct vdrv_machine *m, const struct vdrv_config *cfg) VDRV_WUR;

/* ---- PCI (conf1, bus 0, function 0) ---- */

/* A conf1 access of size 1, 2 or 4 at off of slot (reads of nothing: all ones). */
uint32_t vdrv_conf_read(struct vdrv *d, unsigned int slot, unsigned int off, unsigned int size);
void vdrv_conf_write(struct vdrv *d, unsigned int slot, unsigned int off, unsigned int size,
		     uint32_t val);
/* Scan slots 0..31 for vendor:device; d->slot gets the first match (-ENODEV: none). */
int vdrv_find(struct vdrv *d, uint16_t vendor, uint16_t device) VDRV_WUR;
/*
 * Read every BAR and size it (memory decoding off meanwhile, each BAR
 * written all ones and restored): d->bar[]. -EPROTO for a size that is not
 * a power of two, an address not aligned to its size, or a BAR that did
 * not read back what it was restored to.
 */
int vdrv_bars_probe(struct vdrv *d) VDRV_WUR;
/* Program memory BAR bar with addr (both halves of a 64-bit one) and read it back. */
int vdrv_bar_set(struct vdrv *d, unsigned int bar, uint64_t addr) VDRV_WUR;
/* Set or clear bits of the command register. */
void vdrv_command(struct vdrv *d, uint16_t set, uint16_t clear);
/*
 * Walk the capability list (at most VDRV_MAX_CAPS entries, each pointer
 * >= 0x40 and dword aligned): the first virtio structure of each type,
 * the notify multiplier, MSI-X. -EPROTO for a broken list, a structure
 * outside its BAR or misaligned, or a required one missing.
 */
int vdrv_caps_parse(struct vdrv *d) VDRV_WUR;

/* ---- virtio structures ---- */

/* Common configuration field at off (VIRTIO_PCI_COMMON_*), size 1, 2 or 4. */
uint32_t vdrv_common_read(struct vdrv *d, unsigned int off, unsigned int size);
void vdrv_common_write(struct vdrv *d, unsigned int off, unsigned int size, uint32_t val);
uint8_t vdrv_status(struct vdrv *d);
void vdrv_status_set(struct vdrv *d, uint8_t status);
/* Read the ISR status byte (which clears it). */
uint8_t vdrv_isr(struct vdrv *d);
/* Write 0 to device_status and wait until it reads 0. */
int vdrv_reset(struct vdrv *d) VDRV_WUR;
/* The 64 offered feature bits into d->dev_features (and *features if not NULL). */
int vdrv_features_read(struct vdrv *d, uint64_t *features) VDRV_WUR;
/*
 * §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, read the features, accept
 * want & offered, FEATURES_OK, read it back. -EPROTO when the device
 * refused FEATURES_OK (the driver then sets FAILED, as §3.1.1 says).
 */
int vdrv_negotiate(struct vdrv *d, uint64_t want) VDRV_WUR;
/*
 * Set up queue q with at most size entries (rings zeroed in scratch RAM)
 * and MSI-X vector (VIRTIO_MSI_NO_VECTOR: none), then enable it. -ENOENT
 * when the device has no such queue; -EBUSY when the vector did not read
 * back (a mapping failure).
 */
int vdrv_queue_setup(struct vdrv *d, unsigned int q, uint16_t size, uint16_t vector) VDRV_WUR;
/*
 * The same with the rings where the caller says (not zeroed, not checked:
 * for tests of rings a device must refuse).
 */
int vdrv_queue_setup_at(struct vdrv *d, unsigned int q, uint16_t size, uint16_t vector,
			uint64_t desc, uint64_t avail, uint64_t used) VDRV_WUR;
/* Set DRIVER_OK; -EPROTO if the device shows NEEDS_RESET or FAILED. */
int vdrv_driver_ok(struct vdrv *d) VDRV_WUR;
/* config_msix_vector: write vector and return what reads back. */
uint16_t vdrv_config_vector(struct vdrv *d, uint16_t vector);

/* Device configuration, off from its start: 8/16/32-bit reads, 64-bit as two 32-bit halves. */
uint32_t vdrv_cfg_read(struct vdrv *d, unsigned int off, unsigned int size);
uint64_t vdrv_cfg_read64(struct vdrv *d, unsigned int off);
/* A driver write of size (1, 2, 4) bytes into the device configuration. */
void vdrv_cfg_write(struct vdrv *d, unsigned int off, unsigned int size, uint32_t val);
/*
 * The PCI configuration access capability: an access of len (1, 2, 4)
 * bytes at off of BAR bar through its pci_cfg_data window.
 */
int vdrv_pcicfg_read(struct vdrv *d, uint8_t bar, uint32_t off, unsigned int len,
		     uint32_t *val) VDRV_WUR;
int vdrv_pcicfg_write(struct vdrv *d, uint8_t bar, uint32_t off, unsigned int len,
		      uint32_t val) VDRV_WUR;

/* ---- split virtqueues ---- */

/* Write descriptor idx of queue q as it is (for tests of broken chains). */
int vdrv_desc_write(struct vdrv *d, unsigned int q, uint16_t idx, uint64_t gpa, uint32_t len,
		    uint16_t flags, uint16_t next) VDRV_WUR;
/* Put head in the next avail slot and publish it (avail idx + 1). */
int vdrv_avail_publish(struct vdrv *d, unsigned int q, uint16_t head) VDRV_WUR;
/* Notify queue q (a 16-bit write of its index to its notify address). */
int vdrv_notify(struct vdrv *d, unsigned int q) VDRV_WUR;
/* The used ring's idx as the device wrote it. */
int vdrv_used_idx(struct vdrv *d, unsigned int q, uint16_t *idx) VDRV_WUR;
/* Run the machine until one more used entry appears: its id and len (-ETIMEDOUT: none). */
int vdrv_used_wait(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len) VDRV_WUR;
/*
 * Chain the buffers (device-readable ones first: the caller orders them),
 * publish and notify without waiting; *head (may be NULL) gets the chain's
 * head, the id its used entry will carry.
 */
int vdrv_post(struct vdrv *d, unsigned int q, const struct vdrv_buf *bufs, unsigned int n,
	      uint16_t *head) VDRV_WUR;
/*
 * vdrv_post() and wait for the device to use the chain. -EPROTO if it
 * came back with another id.
 */
int vdrv_submit(struct vdrv *d, unsigned int q, const struct vdrv_buf *bufs, unsigned int n,
		uint32_t *used_len) VDRV_WUR;
/* The avail ring's flags (VRING_AVAIL_F_NO_INTERRUPT). */
int vdrv_avail_flags_set(struct vdrv *d, unsigned int q, uint16_t flags) VDRV_WUR;

/* ---- MSI-X (PCI 3.0 §6.8.2) ---- */

/* Set or clear MSI-X Enable and Function Mask in Message Control. */
int vdrv_msix_control(struct vdrv *d, bool enable, bool function_mask) VDRV_WUR;
/* Program table entry v; masked sets its Vector Control mask bit. */
int vdrv_msix_entry_set(struct vdrv *d, unsigned int v, uint64_t addr, uint32_t data,
			bool masked) VDRV_WUR;
int vdrv_msix_entry_get(struct vdrv *d, unsigned int v, uint64_t *addr, uint32_t *data,
			bool *masked) VDRV_WUR;
int vdrv_msix_mask(struct vdrv *d, unsigned int v, bool masked) VDRV_WUR;
/* Vector v's Pending Bit. */
int vdrv_msix_pending(struct vdrv *d, unsigned int v, bool *pending) VDRV_WUR;

/* ---- virtio-mem (§5.15) ---- */

struct vdrv_vmem_result {
	uint16_t type;               /* VIRTIO_MEM_RESP_* */
	uint16_t state;              /* STATE's VIRTIO_MEM_STATE_*, when type is ACK */
	uint32_t used_len;           /* what the device said it wrote */
};

/*
 * One request on queue 0: type with addr and nb_blocks, padding filled
 * with pad_byte (the device must ignore it), response read back.
 */
int vdrv_vmem_request(struct vdrv *d, uint16_t type, uint64_t addr, uint16_t nb_blocks,
		      uint8_t pad_byte, struct vdrv_vmem_result *res) VDRV_WUR;
/*
 * A request of any bytes (req_len may be short or long) with a response
 * buffer of resp_len bytes (0: none): for malformed requests.
 */
int vdrv_vmem_request_raw(struct vdrv *d, const void *req, uint32_t req_len, uint32_t resp_len,
			  struct vdrv_vmem_result *res) VDRV_WUR;

/*
 * The whole device configuration, each field at its own width (64-bit
 * ones as two 32-bit halves), retried until config_generation reads the
 * same before and after (§2.5.1, §4.1.3). *gen (may be NULL) gets it.
 */
int vdrv_vmem_config(struct vdrv *d, struct virtio_mem_config *c, uint8_t *gen) VDRV_WUR;

/* ---- traditional memory balloon (§5.5) ---- */

/* PFNs in one inflate/deflate buffer, statistics in one statsq buffer. */
#define VDRV_BALLOON_MAX_PFNS    2048u
#define VDRV_BALLOON_MAX_STATS   64u
#define VDRV_BALLOON_STAT_BYTES  10u   /* §5.5.6.3: packed le16 tag, le64 val */

struct vdrv_balloon_stat {
	uint16_t tag;                /* VIRTIO_BALLOON_S_* */
	uint64_t val;
};

/*
 * One buffer of n le32 PFNs (4 KiB page frame numbers, §5.5.6) on queue q
 * (inflateq or deflateq), waited for; *used_len (may be NULL) is what the
 * device said it wrote.
 */
int vdrv_balloon_pfns(struct vdrv *d, unsigned int q, const uint32_t *pfns, unsigned int n,
		      uint32_t *used_len) VDRV_WUR;
/*
 * Write n statistics into the statsq buffer (at vdrv_balloon_stats_gpa())
 * and make it available on queue q, without waiting: the device holds it
 * until it wants fresh numbers (§5.5.6.3).
 */
int vdrv_balloon_stats_post(struct vdrv *d, unsigned int q, const struct vdrv_balloon_stat *st,
			    unsigned int n) VDRV_WUR;
uint64_t vdrv_balloon_stats_gpa(const struct vdrv *d);
/* num_pages and actual (each one 32-bit read), retried until config_generation is stable. */
int vdrv_balloon_config(struct vdrv *d, struct virtio_balloon_config *c, uint8_t *gen) VDRV_WUR;
/* Write actual: the pages in the balloon (§5.5.6, after the device used the buffers). */
void vdrv_balloon_actual_set(struct vdrv *d, uint32_t pages);

/* ---- for code built on the driver (virtio_driver_vq.c, other device layers) ---- */

/* Record why (d->err) and return err. */
int vdrv_fail(struct vdrv *d, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Let the machine run once; the rounds a wait lasts. */
void vdrv_run(struct vdrv *d);
unsigned int vdrv_poll_rounds(const struct vdrv *d);
/* Guest-physical address of off in a virtio structure (its BAR's current address). */
uint64_t vdrv_region_addr(const struct vdrv *d, const struct vdrv_region *r, unsigned int off);

/* Full bring-up: find, probe BARs, enable, parse caps, negotiate want, queue 0, DRIVER_OK. */
int vdrv_bringup(struct vdrv *d, uint16_t vendor, uint16_t device, uint64_t want,
		 uint16_t queue_vector) VDRV_WUR;

#endif /* MEMVMM_TEST_VIRTIO_DRIVER_H */
