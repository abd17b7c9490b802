// SPDX-License-Identifier: MIT
/*
 * virtio-mem machine reset and save/restore (devices/virtio_mem.h says
 * what they promise). A restore never leaves a block half done: blocks
 * that become plugged are populated first (and discarded again if that or
 * the transport's restore fails, the device then unchanged); only once
 * nothing can fail are the blocks that become unplugged discarded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dev_blob.h"
#include "devices/virtio_mem.h"
#include "devices/virtio_mem_int.h"
#include "devices/virtio_pci.h"

#define VMEM_BLOB_MAGIC   "VMEM"
#define VMEM_BLOB_VERSION 1u

void vmem_machine_reset(void *state)
{
	struct vmem *vm = state;

	/* The transport and the driver's state back to power-on (not under our lock). */
	virtio_pci_machine_reset(vm->vp);
	virtio_pci_lock(vm->vp);
	/*
	 * Power-on: nothing plugged, nothing resident. One discard of the
	 * whole region also takes back pages a driver wrote in unplugged
	 * blocks; if it fails, the plugged runs one by one.
	 */
	if (vmem_discard_blocks(vm, 0, vm->nr_blocks) == 0) {
		memset(vm->plugged_map, 0, bitmap_words(vm->nr_blocks) * sizeof(uint64_t));
		vm->plugged = 0;
	} else {
		uint64_t b = 0, n;

		while (vmem_next_run(vm->plugged_map, vm->nr_blocks, true, &b, &n)) {
			if (vmem_discard_blocks(vm, b, n) == 0) {
				for (uint64_t i = b; i < b + n; i++)
					bitmap_assign(vm->plugged_map, i, false);
				vm->plugged -= n * vm->block_size;
			}
			b += n;
		}
	}
	if (!vm->plugged)
		vm->usable = vmem_usable_for(vm, vm->requested);
	virtio_pci_config_bump(vm->vp);
	virtio_pci_unlock(vm->vp);
}

/* The transport's save() in dev_blob_save_fn's shape (it takes the lock). */
static int vmem_transport_save(void *vp, void *buf, size_t *len)
{
	return virtio_pci_save(vp, buf, len);
}

int vmem_save(void *state, void *buf, size_t *len)
{
	struct vmem *vm = state;
	struct dev_blob_writer w = { .buf = buf, .room = *len };
	uint8_t *tp;
	size_t tp_len;
	int ret;

	ret = dev_blob_save_alloc(vmem_transport_save, vm->vp, &tp, &tp_len);
	if (ret)
		return ret;
	dev_blob_put_header(&w, VMEM_BLOB_MAGIC, VMEM_BLOB_VERSION);
	virtio_pci_lock(vm->vp);
	dev_blob_put64(&w, vm->gpa);
	dev_blob_put64(&w, vm->region_size);
	dev_blob_put64(&w, vm->block_size);
	dev_blob_put64(&w, vm->requested);
	dev_blob_put64(&w, vm->usable);
	for (uint64_t i = 0; i < bitmap_words(vm->nr_blocks); i++)
		dev_blob_put64(&w, vm->plugged_map[i]);
	virtio_pci_unlock(vm->vp);
	dev_blob_put_nested(&w, tp, (uint32_t)tp_len);
	free(tp);
	return dev_blob_finish(&w, len);
}

/* The saved sizes and bitmap fit this device. */
static bool vmem_saved_ok(const struct vmem *vm, uint64_t gpa, uint64_t size, uint64_t bs,
			  uint64_t requested, uint64_t usable, const uint64_t *map)
{
	uint64_t b = 0, n;

	if (gpa != vm->gpa || size != vm->region_size || bs != vm->block_size)
		return false;
	if (requested > size || requested % bs || usable > size || usable % bs ||
	    usable < requested)
		return false;
	/* Bits past the last block are clear, and no plugged block lies outside usable. */
	if (vm->nr_blocks % BITMAP_WORD_BITS &&
	    map[vm->nr_blocks / BITMAP_WORD_BITS] >> (vm->nr_blocks % BITMAP_WORD_BITS))
		return false;
	while (vmem_next_run(map, vm->nr_blocks, true, &b, &n)) {
		if ((b + n) * bs > usable)
			return false;
		b += n;
	}
	return true;
}

/* Blocks set in `want` and clear in the device now: populate them all, or none. */
static int vmem_populate_new(struct vmem *vm, const uint64_t *want, uint64_t *added)
{
	uint64_t words = bitmap_words(vm->nr_blocks);
	uint64_t b = 0, n;
	int ret = 0;

	for (uint64_t i = 0; i < words; i++)
		added[i] = want[i] & ~vm->plugged_map[i];
	while (vmem_next_run(added, vm->nr_blocks, true, &b, &n)) {
		ret = vmem_populate_blocks(vm, b, n);
		if (ret)
			break;
		b += n;
	}
	if (!ret)
		return 0;
	/* Undo: the failed run and those before it go back to the host. */
	{
		uint64_t end = b + n;

		for (b = 0; vmem_next_run(added, end, true, &b, &n); b += n)
			(void)vmem_discard_blocks(vm, b, n);
	}
	return ret;
}

static void vmem_discard_map(struct vmem *vm, const uint64_t *map)
{
	uint64_t b = 0, n;

	while (vmem_next_run(map, vm->nr_blocks, true, &b, &n)) {
		(void)vmem_discard_blocks(vm, b, n);
		b += n;
	}
}

int vmem_restore(void *state, const void *buf, size_t len)
{
	struct vmem *vm = state;
	struct dev_blob_reader r = { .buf = buf, .len = len };
	uint64_t words = bitmap_words(vm->nr_blocks);
	uint64_t gpa, size, bs, requested, usable;
	uint64_t *map = NULL, *added = NULL, *removed = NULL;
	uint32_t tp_len;
	const uint8_t *tp;
	int ret = -EINVAL;

	if (!dev_blob_get_header(&r, VMEM_BLOB_MAGIC, VMEM_BLOB_VERSION))
		return -EINVAL;
	gpa = dev_blob_get64(&r);
	size = dev_blob_get64(&r);
	bs = dev_blob_get64(&r);
	requested = dev_blob_get64(&r);
	usable = dev_blob_get64(&r);
	/* The bitmap's length follows from the region: refuse a foreign one before allocating. */
	if (r.short_read || gpa != vm->gpa || size != vm->region_size || bs != vm->block_size)
		return -EINVAL;
	map = calloc(words, sizeof(uint64_t));
	added = calloc(words, sizeof(uint64_t));
	removed = calloc(words, sizeof(uint64_t));
	if (!map || !added || !removed) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < words; i++)
		map[i] = dev_blob_get64(&r);
	/* The transport's blob comes last. */
	if (!dev_blob_get_nested(&r, &tp, &tp_len) || !dev_blob_done(&r))
		goto out;
	if (!vmem_saved_ok(vm, gpa, size, bs, requested, usable, map))
		goto out;

	virtio_pci_lock(vm->vp);
	ret = vmem_populate_new(vm, map, added);
	if (!ret) {
		/* The transport's restore checks its rings against the blocks plugged then. */
		memcpy(removed, vm->plugged_map, words * sizeof(uint64_t));
		memcpy(vm->plugged_map, map, words * sizeof(uint64_t));
	}
	virtio_pci_unlock(vm->vp);
	if (ret)
		goto out;
	ret = virtio_pci_restore(vm->vp, tp, tp_len);
	virtio_pci_lock(vm->vp);
	if (ret) {
		memcpy(vm->plugged_map, removed, words * sizeof(uint64_t));
		vmem_discard_map(vm, added);
	} else {
		uint64_t plugged = 0;

		for (uint64_t i = 0; i < words; i++) {
			removed[i] &= ~map[i];
			plugged += (uint64_t)__builtin_popcountll(map[i]);
		}
		vmem_discard_map(vm, removed);
		vm->plugged = plugged * vm->block_size;
		vm->requested = requested;
		vm->usable = usable;
	}
	virtio_pci_unlock(vm->vp);
out:
	free(removed);
	free(added);
	free(map);
	return ret;
}
