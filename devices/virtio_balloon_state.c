// SPDX-License-Identifier: MIT
/*
 * virtio-balloon machine reset and save/restore (devices/virtio_balloon.h
 * says what they promise). A restore checks the whole blob and restores
 * the transport before it changes anything of its own; guest memory then
 * follows the restored bitmap (units discarded or repopulated as for
 * inflate and deflate).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_balloon.h>

#include "devices/dev_blob.h"
#include "devices/virtio_balloon_int.h"
#include "devices/virtqueue.h"

#define BAL_BLOB_MAGIC   "BALN"
#define BAL_BLOB_VERSION 1u

void bal_machine_reset(void *state)
{
	struct balloon *b = state;

	/* The transport back to power-on; its driver reset empties the balloon. */
	virtio_pci_machine_reset(b->vp);
	virtio_pci_lock(b->vp);
	b->num_pages = (uint32_t)(b->cfg.target / BALLOON_PAGE_BYTES);
	b->stats_valid = 0;
	memset(b->stat, 0, sizeof(b->stat));
	virtio_pci_config_bump(b->vp);
	virtio_pci_unlock(b->vp);
}

/* The transport's save() in dev_blob_save_fn's shape (it takes the lock). */
static int bal_transport_save(void *vp, void *buf, size_t *len)
{
	return virtio_pci_save(vp, buf, len);
}

int bal_save(void *state, void *buf, size_t *len)
{
	struct balloon *b = state;
	struct dev_blob_writer w = { .buf = buf, .room = *len };
	uint8_t *tp;
	size_t tp_len;
	int ret;

	ret = dev_blob_save_alloc(bal_transport_save, b->vp, &tp, &tp_len);
	if (ret)
		return ret;
	dev_blob_put_header(&w, BAL_BLOB_MAGIC, BAL_BLOB_VERSION);
	virtio_pci_lock(b->vp);
	dev_blob_put32(&w, b->nr_regions);
	for (unsigned int i = 0; i < b->nr_regions; i++) {
		dev_blob_put64(&w, b->region[i].gpa);
		dev_blob_put64(&w, b->region[i].size);
	}
	dev_blob_put64(&w, b->map_bits);
	dev_blob_put32(&w, b->num_pages);
	dev_blob_put32(&w, b->actual);
	dev_blob_put8(&w, b->stats_held);
	dev_blob_put32(&w, b->stats_queue);
	dev_blob_put16(&w, b->stats_head);
	dev_blob_put32(&w, b->stats_valid);
	for (unsigned int i = 0; i < BALLOON_STATS_NR; i++)
		dev_blob_put64(&w, b->stat[i]);
	for (uint64_t i = 0; i < bitmap_words(b->map_bits); i++)
		dev_blob_put64(&w, b->pages[i]);
	virtio_pci_unlock(b->vp);
	dev_blob_put_nested(&w, tp, (uint32_t)tp_len);
	free(tp);
	return dev_blob_finish(&w, len);
}

/* Every set bit of map lies inside a region (not in the gaps between them). */
static bool bal_map_ok(const struct balloon *b, const uint64_t *map)
{
	for (uint64_t w = 0; w < bitmap_words(b->map_bits); w++) {
		uint64_t bits = map[w];

		while (bits) {
			uint64_t bit = w * BITMAP_WORD_BITS + (uint64_t)__builtin_ctzll(bits);

			if (bit >= b->map_bits || !bal_region_of_bit(b, bit))
				return false;
			bits &= bits - 1;
		}
	}
	return true;
}

struct bal_saved {
	uint32_t num_pages, actual, stats_queue, stats_valid;
	uint16_t stats_head;
	bool stats_held;
	uint64_t stat[BALLOON_STATS_NR];
};

/* The header, layout and scalars; false when they are not this device's. */
static bool bal_read_head(const struct balloon *b, struct dev_blob_reader *r, struct bal_saved *s)
{
	uint8_t held;

	if (!dev_blob_get_header(r, BAL_BLOB_MAGIC, BAL_BLOB_VERSION) ||
	    dev_blob_get32(r) != b->nr_regions)
		return false;
	for (unsigned int i = 0; i < b->nr_regions; i++)
		if (dev_blob_get64(r) != b->region[i].gpa || dev_blob_get64(r) != b->region[i].size)
			return false;
	if (dev_blob_get64(r) != b->map_bits)
		return false;
	s->num_pages = dev_blob_get32(r);
	s->actual = dev_blob_get32(r);
	held = dev_blob_get8(r);
	s->stats_queue = dev_blob_get32(r);
	s->stats_head = dev_blob_get16(r);
	s->stats_valid = dev_blob_get32(r);
	for (unsigned int i = 0; i < BALLOON_STATS_NR; i++)
		s->stat[i] = dev_blob_get64(r);
	if (r->short_read || held > 1)
		return false;
	s->stats_held = held;
	if ((uint64_t)s->num_pages * BALLOON_PAGE_BYTES > b->ram_bytes)
		return false;
	if (BALLOON_STATS_NR < 32 && s->stats_valid >> BALLOON_STATS_NR)
		return false;
	/* A held buffer is a stats queue's head. */
	return !held || (b->cfg.stats && s->stats_queue == 2 && s->stats_head < BALLOON_QUEUE_SIZE);
}

int bal_restore(void *state, const void *buf, size_t len)
{
	struct balloon *b = state;
	struct dev_blob_reader r = { .buf = buf, .len = len };
	uint64_t words = bitmap_words(b->map_bits);
	struct bal_saved s;
	uint64_t *map;
	const uint8_t *tp;
	uint32_t tp_len;
	int ret = -EINVAL;

	if (!bal_read_head(b, &r, &s))
		return -EINVAL;
	map = calloc(words ? words : 1, sizeof(uint64_t));
	if (!map)
		return -ENOMEM;
	for (uint64_t i = 0; i < words; i++)
		map[i] = dev_blob_get64(&r);
	if (r.short_read || !bal_map_ok(b, map))
		goto out;
	if (!dev_blob_get_nested(&r, &tp, &tp_len) || !dev_blob_done(&r))
		goto out;
	ret = virtio_pci_restore(b->vp, tp, tp_len);
	if (ret)
		goto out;
	virtio_pci_lock(b->vp);
	b->num_pages = s.num_pages;
	b->actual = s.actual;
	b->stats_held = s.stats_held;
	if (s.stats_held) {
		/* Only a head inside the restored queue is held (the transport checked its size). */
		const struct virtqueue *vq = virtio_pci_vq(b->vp, s.stats_queue);
		uint64_t f = virtio_pci_driver_features(b->vp);

		/* Queue 2 is the stats queue only when the restored driver negotiated it. */
		b->stats_held = vq && vq->enabled && s.stats_head < vq->size &&
				f & 1ull << VIRTIO_BALLOON_F_STATS_VQ;
	}
	b->stats_queue = s.stats_queue;
	b->stats_head = s.stats_head;
	b->stats_valid = s.stats_valid;
	memcpy(b->stat, s.stat, sizeof(b->stat));
	bal_apply_map(b, map);
	virtio_pci_unlock(b->vp);
out:
	free(map);
	return ret;
}
