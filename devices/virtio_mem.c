// SPDX-License-Identifier: MIT
/*
 * virtio-mem (virtio 1.2 §5.15) over virtio-pci: the device configuration,
 * the request queue and the plugged-block bitmap. Plug is population
 * (mem_populate() with the configured strategy: ACK only once the blocks
 * are backed, NACK and discard on any failure), unplug is mem_discard():
 * the device never maps, madvises or fallocates guest memory itself.
 *
 * Requests run on the main loop's thread (the queue's ioeventfd) or on a
 * vCPU thread (a trapped notify), always under the transport's lock.
 * Machine reset and save/restore are in virtio_mem_state.c.
 */
#include "devices/virtio_mem.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>

#include "devices/virtio_mem_int.h"
#include "devices/virtio_pci.h"
#include "devices/virtqueue.h"
#include "mem/cgroup.h"
#include "mem/populate.h"

#define VMEM_REQUEST_QUEUE 0u
#define VMEM_REQ_BYTES     ((uint64_t)sizeof(struct virtio_mem_req))
#define VMEM_RESP_BYTES    ((uint32_t)sizeof(struct virtio_mem_resp))
#define VMEM_NS_PER_SEC    1000000000ull

_Static_assert((VMEM_MIN_BLOCK_BYTES & (VMEM_MIN_BLOCK_BYTES - 1)) == 0 &&
	       (VMEM_MAX_BLOCK_BYTES & (VMEM_MAX_BLOCK_BYTES - 1)) == 0 &&
	       VMEM_MIN_BLOCK_BYTES <= VMEM_MAX_BLOCK_BYTES, "block size bounds");
_Static_assert(VMEM_DEFAULT_BLOCK_BYTES >= VMEM_MIN_BLOCK_BYTES &&
	       VMEM_DEFAULT_BLOCK_BYTES <= VMEM_MAX_BLOCK_BYTES, "default block size");
_Static_assert(VMEM_QUEUE_SIZE <= VQ_MAX_SIZE && (VMEM_QUEUE_SIZE & (VMEM_QUEUE_SIZE - 1)) == 0,
	       "request queue size");

static const char VMEM_ERR_NO_RESP[] =
	"virtio-mem request without a writable buffer for struct virtio_mem_resp";
static const char VMEM_ERR_RESP_WRITE[] = "virtio-mem response could not be written";

/* ---- blocks ---- */

static uint64_t vmem_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * VMEM_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t vmem_usable_for(const struct vmem *vm, uint64_t requested)
{
	uint64_t room = vm->region_size - requested;   /* requested <= region_size always */
	uint64_t u;

	if (room <= VMEM_USABLE_EXTENT_BYTES)
		return vm->region_size;
	u = requested + VMEM_USABLE_EXTENT_BYTES;
	u = (u + vm->block_size - 1) / vm->block_size * vm->block_size;
	return u < vm->region_size ? u : vm->region_size;
}

bool vmem_next_run(const uint64_t *map, uint64_t nr_blocks, bool set, uint64_t *b, uint64_t *n)
{
	uint64_t i = *b;

	while (i < nr_blocks && bitmap_test(map, i) != set)
		i++;
	if (i >= nr_blocks)
		return false;
	*b = i;
	while (i < nr_blocks && bitmap_test(map, i) == set)
		i++;
	*n = i - *b;
	return true;
}

static uint64_t vmem_count(const struct vmem *vm, uint64_t b, uint64_t n)
{
	uint64_t c = 0;

	for (uint64_t i = b; i < b + n; i++)
		c += bitmap_test(vm->plugged_map, i);
	return c;
}

static void vmem_mark(struct vmem *vm, uint64_t b, uint64_t n, bool plugged)
{
	for (uint64_t i = b; i < b + n; i++)
		bitmap_assign(vm->plugged_map, i, plugged);
	if (plugged)
		vm->plugged += n * vm->block_size;
	else
		vm->plugged -= n * vm->block_size;
}

int vmem_discard_blocks(struct vmem *vm, uint64_t b, uint64_t n)
{
	uint64_t t0 = vmem_now_ns();
	int ret = mem_discard(vm->ctx.mem, vm->gpa + b * vm->block_size, n * vm->block_size);

	vm->unplug_ns += vmem_now_ns() - t0;
	if (ret)
		vm->last_discard_err = ret;
	return ret;
}

int vmem_populate_blocks(struct vmem *vm, uint64_t b, uint64_t n)
{
	const struct mem_populate_req req = {
		.strategy = vm->cfg.populate,
		.max_threads = vm->cfg.populate_threads,
	};
	uint64_t t0 = vmem_now_ns();
	int ret;

	memset(&vm->report, 0, sizeof(vm->report));
	ret = mem_populate(vm->ctx.mem, vm->gpa + b * vm->block_size, n * vm->block_size, &req,
			   &vm->report);
	vm->plug_ns += vmem_now_ns() - t0;
	if (!ret && vm->report.nr)
		vm->populate_used = vm->report.region[0].used;
	return ret;
}

/* ---- requests (§5.15.6) ---- */

/*
 * The blocks [*b, *b + nb) that [addr, addr + nb blocks) names, if it is a
 * nonzero, block-aligned range inside the usable region (no sum formed
 * that could wrap).
 */
static bool vmem_range(const struct vmem *vm, uint64_t addr, uint16_t nb, uint64_t *b)
{
	uint64_t off, len = (uint64_t)nb * vm->block_size;

	if (!nb || addr < vm->gpa || addr % vm->block_size)
		return false;
	off = addr - vm->gpa;
	if (off >= vm->usable || len > vm->usable - off)
		return false;
	*b = off / vm->block_size;
	return true;
}

/*
 * Populating past this process's memory cgroup limit does not always fail
 * with ENOMEM: a fault taken by MADV_POPULATE_WRITE can wake the cgroup's
 * OOM killer, which kills memvmm. So a plug that would not fit the room
 * left (limit - usage, less VMEM_MEMCG_SLACK_BYTES for memvmm itself) is
 * NACKed (-ENOMEM) before anything is populated. Backends the memory
 * controller does not charge (hugetlb) and populate=none are not checked;
 * an unreadable cgroup is not a reason to refuse.
 */
static int vmem_memcg_room(const struct vmem *vm, uint64_t len)
{
	const struct mem_region *r = &vm->ctx.mem->region[vm->cfg.region];
	struct mem_cgroup_limit cg;
	uint64_t room;

	if (vm->cfg.populate == MEM_POPULATE_NONE || !r->ops->memcg_charged)
		return 0;
	if (mem_cgroup_limit_get(&cg) || !cg.limited)
		return 0;
	room = cg.limit > cg.usage ? cg.limit - cg.usage : 0;
	return room >= len && room - len >= VMEM_MEMCG_SLACK_BYTES ? 0 : -ENOMEM;
}

static uint16_t vmem_plug(struct vmem *vm, uint64_t b, uint16_t nb)
{
	uint64_t len = (uint64_t)nb * vm->block_size;
	int ret;

	if (vmem_count(vm, b, nb))
		return VIRTIO_MEM_RESP_ERROR;   /* a block is plugged already */
	if (vm->plugged > vm->requested || len > vm->requested - vm->plugged) {
		vm->last_nack_err = -ENOSPC;
		return VIRTIO_MEM_RESP_NACK;
	}
	ret = vmem_memcg_room(vm, len);
	if (ret) {
		vm->last_nack_err = ret;
		return VIRTIO_MEM_RESP_NACK;
	}
	ret = vmem_populate_blocks(vm, b, nb);
	if (ret) {
		/* What was populated goes back; the blocks stay unplugged. */
		(void)vmem_discard_blocks(vm, b, nb);
		vm->last_nack_err = ret;
		return VIRTIO_MEM_RESP_NACK;
	}
	vmem_mark(vm, b, nb, true);
	virtio_pci_config_bump(vm->vp);
	vm->plugs++;
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t vmem_unplug(struct vmem *vm, uint64_t b, uint16_t nb)
{
	int ret;

	if (vmem_count(vm, b, nb) != nb)
		return VIRTIO_MEM_RESP_ERROR;   /* a block is unplugged already */
	ret = vmem_discard_blocks(vm, b, nb);
	if (ret) {
		vm->last_nack_err = ret;
		return VIRTIO_MEM_RESP_NACK;
	}
	vmem_mark(vm, b, nb, false);
	virtio_pci_config_bump(vm->vp);
	vm->unplugs++;
	return VIRTIO_MEM_RESP_ACK;
}

/* Discard every run of plugged blocks. 0, or the first discard error (those blocks stay). */
static int vmem_unplug_runs(struct vmem *vm)
{
	uint64_t b = 0, n;
	int err = 0;

	while (vmem_next_run(vm->plugged_map, vm->nr_blocks, true, &b, &n)) {
		int ret = vmem_discard_blocks(vm, b, n);

		if (ret && !err)
			err = ret;
		if (!ret)
			vmem_mark(vm, b, n, false);
		b += n;
	}
	return err;
}

static uint16_t vmem_unplug_all(struct vmem *vm)
{
	uint64_t plugged = vm->plugged, usable = vm->usable;
	int ret = vmem_unplug_runs(vm);

	if (!ret)   /* nothing plugged now: the usable region may shrink to what requested needs */
		vm->usable = vmem_usable_for(vm, vm->requested);
	if (vm->plugged != plugged || vm->usable != usable)
		virtio_pci_config_bump(vm->vp);
	if (ret) {
		vm->last_nack_err = ret;
		return VIRTIO_MEM_RESP_NACK;
	}
	vm->unplug_alls++;
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t vmem_state(struct vmem *vm, uint64_t b, uint16_t nb, uint16_t *state)
{
	uint64_t c = vmem_count(vm, b, nb);

	*state = c == 0 ? VIRTIO_MEM_STATE_UNPLUGGED :
		c == nb ? VIRTIO_MEM_STATE_PLUGGED : VIRTIO_MEM_STATE_MIXED;
	vm->states++;
	return VIRTIO_MEM_RESP_ACK;
}

/* Carry out one request; the response type, and resp's state for STATE. */
static uint16_t vmem_request(struct vmem *vm, const struct virtio_mem_req *req,
			     struct virtio_mem_resp *resp)
{
	uint16_t type = le16toh(req->type), state = 0, ret;
	/* The three range requests share one layout (linux/virtio_mem.h). */
	uint64_t addr = le64toh(req->u.plug.addr), b;
	uint16_t nb = le16toh(req->u.plug.nb_blocks);

	if (type == VIRTIO_MEM_REQ_UNPLUG_ALL)
		return vmem_unplug_all(vm);
	if (type != VIRTIO_MEM_REQ_PLUG && type != VIRTIO_MEM_REQ_UNPLUG &&
	    type != VIRTIO_MEM_REQ_STATE)
		return VIRTIO_MEM_RESP_ERROR;
	if (!vmem_range(vm, addr, nb, &b))
		return VIRTIO_MEM_RESP_ERROR;
	switch (type) {
	case VIRTIO_MEM_REQ_PLUG:
		return vmem_plug(vm, b, nb);
	case VIRTIO_MEM_REQ_UNPLUG:
		return vmem_unplug(vm, b, nb);
	default:
		ret = vmem_state(vm, b, nb, &state);
		resp->u.state.state = htole16(state);
		return ret;
	}
}

/* Give a chain back unanswered; a failed push breaks the queue, as the violation that follows. */
static void vmem_push_empty(struct virtqueue *vq, uint16_t head)
{
	if (vq_push(vq, head, 0)) {
		/* Nothing more to do: the caller stops the queue anyway. */
	}
}

/*
 * Answer one chain and give it back. False when the queue cannot go on
 * (a violation, or a push that broke the queue).
 */
static bool vmem_chain(struct vmem *vm, struct virtqueue *vq, const struct vq_chain *c)
{
	struct virtio_mem_req req;
	struct virtio_mem_resp resp = { 0 };
	uint16_t type;

	if (c->in_bytes < VMEM_RESP_BYTES) {
		/* Nowhere to answer: give the chain back empty and stop the queue. */
		vm->unanswered++;
		vm->errors++;
		vmem_push_empty(vq, c->head);
		virtio_pci_violation(vm->vp, VMEM_REQUEST_QUEUE, VMEM_ERR_NO_RESP);
		return false;
	}
	if (c->out_bytes < VMEM_REQ_BYTES || vq_chain_read(vm->ctx.mem, c, 0, &req, sizeof(req)))
		type = VIRTIO_MEM_RESP_ERROR;
	else
		type = vmem_request(vm, &req, &resp);
	if (type == VIRTIO_MEM_RESP_ERROR)
		vm->errors++;
	else if (type == VIRTIO_MEM_RESP_NACK)
		vm->nacks++;
	resp.type = htole16(type);
	if (vq_chain_write(vm->ctx.mem, c, 0, &resp, sizeof(resp))) {
		vm->unanswered++;
		vmem_push_empty(vq, c->head);
		virtio_pci_violation(vm->vp, VMEM_REQUEST_QUEUE, VMEM_ERR_RESP_WRITE);
		return false;
	}
	/* A failed push breaks the queue; the transport then reports the violation. */
	return vq_push(vq, c->head, VMEM_RESP_BYTES) == 0;
}

static void vmem_queue_notify(void *dev, unsigned int q)
{
	struct vmem *vm = dev;
	struct virtqueue *vq = virtio_pci_vq(vm->vp, q);
	bool pushed = false;
	struct vq_chain c;

	if (q != VMEM_REQUEST_QUEUE || !vq)
		return;
	for (;;) {
		int ret = vq_pop(vq, &c);

		if (ret < 0)
			virtio_pci_violation(vm->vp, q, vq->why_broken);
		if (ret <= 0)
			break;
		pushed = true;
		if (!vmem_chain(vm, vq, &c))
			break;
	}
	if (pushed)
		virtio_pci_used(vm->vp, q);
}

/*
 * The queue may use guest memory outside the region and the plugged blocks
 * inside it, never an unplugged block: reading or writing one would back
 * it on the host again, unseen by plugged_size (and on hugetlb, whose
 * reservation a discard gives back, fault with SIGBUS when the pool is
 * empty). Rings and buffers there are violations. Transport lock held.
 */
static bool vmem_access_ok(void *dev, uint64_t gpa, uint64_t len)
{
	const struct vmem *vm = dev;
	uint64_t last, region_last = vm->gpa + (vm->region_size - 1);

	if (!len || len - 1 > UINT64_MAX - gpa)
		return !len;
	last = gpa + (len - 1);
	if (last < vm->gpa || gpa > region_last)
		return true;
	if (gpa < vm->gpa)
		gpa = vm->gpa;
	if (last > region_last)
		last = region_last;
	for (uint64_t b = (gpa - vm->gpa) / vm->block_size;
	     b <= (last - vm->gpa) / vm->block_size; b++)
		if (!bitmap_test(vm->plugged_map, b))
			return false;
	return true;
}

/* ---- configuration (§5.15.4) ---- */

static void vmem_config_read(void *dev, unsigned int off, void *buf, unsigned int len)
{
	const struct vmem *vm = dev;
	const struct virtio_mem_config cfg = {
		.block_size = htole64(vm->block_size),
		.node_id = htole16(vm->cfg.node_id),
		.addr = htole64(vm->gpa),
		.region_size = htole64(vm->region_size),
		.usable_region_size = htole64(vm->usable),
		.plugged_size = htole64(vm->plugged),
		.requested_size = htole64(vm->requested),
	};

	/* The transport keeps off + len inside config_len == sizeof(cfg). */
	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

static const struct virtio_device_ops vmem_virtio_ops = {
	.name = "virtio-mem",
	.device_id = VIRTIO_ID_MEM,
	.features = 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
	.nr_queues = 1,
	.queue_size = VMEM_QUEUE_SIZE,
	.config_len = sizeof(struct virtio_mem_config),
	.config_read = vmem_config_read,
	.queue_notify = vmem_queue_notify,
	/* A driver reset changes no block (§5.15.5): nothing to do. */
	.access_ok = vmem_access_ok,
};

/* ---- device_ops ---- */

/* The first hotplug region, for a NULL cfg. */
static int vmem_default_region(const struct guest_mem *gm, unsigned int *index)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && r->role == MEM_ROLE_HOTPLUG) {
			*index = i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool vmem_config_ok(const struct guest_mem *gm, const struct vmem_config *c)
{
	const struct mem_region *r;
	uint64_t bs = c->block_size;

	if (c->region >= gm->nr_regions || (unsigned int)c->populate >= MEM_POPULATE_NR)
		return false;
	r = &gm->region[c->region];
	if (!mem_region_in_use(r) || r->role != MEM_ROLE_HOTPLUG || !r->size)
		return false;
	if (bs < VMEM_MIN_BLOCK_BYTES || bs > VMEM_MAX_BLOCK_BYTES || (bs & (bs - 1)))
		return false;
	if (!r->ops->align || bs % r->ops->align || r->gpa % bs || r->size % bs)
		return false;
	return c->requested <= r->size && c->requested % bs == 0;
}

static int vmem_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	struct vmem_config c;
	const struct mem_region *r;
	struct vmem *vm;
	int ret;

	if (!ctx->mem)
		return -EINVAL;
	if (cfg) {
		c = *(const struct vmem_config *)cfg;
	} else {
		c = (struct vmem_config){ .block_size = VMEM_DEFAULT_BLOCK_BYTES };
		ret = vmem_default_region(ctx->mem, &c.region);
		if (ret)
			return ret;
	}
	if (!vmem_config_ok(ctx->mem, &c))
		return -EINVAL;
	r = &ctx->mem->region[c.region];
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->ctx = *ctx;
	vm->cfg = c;
	vm->gpa = r->gpa;
	vm->region_size = r->size;
	vm->block_size = c.block_size;
	vm->nr_blocks = r->size / c.block_size;
	vm->requested = c.requested;
	vm->usable = vmem_usable_for(vm, c.requested);
	vm->populate_used = MEM_POPULATE_AUTO;
	vm->plugged_map = calloc(bitmap_words(vm->nr_blocks), sizeof(uint64_t));
	if (!vm->plugged_map) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = virtio_pci_create(ctx, &vmem_virtio_ops, vm, &vm->vp);
	if (ret)
		goto err_map;
	*state = vm;
	return 0;

err_map:
	free(vm->plugged_map);
err_free:
	free(vm);
	return ret;
}

static void vmem_destroy(void *state)
{
	struct vmem *vm = state;

	if (!vm)
		return;
	virtio_pci_destroy(vm->vp);
	free(vm->plugged_map);
	free(vm);
}

int virtio_mem_set_requested(void *state, uint64_t bytes)
{
	struct vmem *vm = state;
	uint64_t usable;

	if (bytes > vm->region_size || bytes % vm->block_size)
		return -EINVAL;
	virtio_pci_lock(vm->vp);
	vm->requested = bytes;
	/* The usable region only grows here; it shrinks at UNPLUG_ALL (§5.15.4). */
	usable = vmem_usable_for(vm, bytes);
	if (usable > vm->usable)
		vm->usable = usable;
	virtio_pci_config_changed(vm->vp);
	virtio_pci_unlock(vm->vp);
	return 0;
}

void virtio_mem_get_sizes(void *state, struct vmem_status *st)
{
	struct vmem *vm = state;
	struct virtio_pci_stats ps;

	virtio_pci_lock(vm->vp);
	virtio_pci_stats(vm->vp, &ps);
	*st = (struct vmem_status){
		.gpa = vm->gpa,
		.region_size = vm->region_size,
		.block_size = vm->block_size,
		.requested = vm->requested,
		.plugged = vm->plugged,
		.usable = vm->usable,
		.plugs = vm->plugs,
		.unplugs = vm->unplugs,
		.unplug_alls = vm->unplug_alls,
		.states = vm->states,
		.nacks = vm->nacks,
		.errors = vm->errors,
		.unanswered = vm->unanswered,
		.populate_used = vm->populate_used,
		.plug_ns = vm->plug_ns,
		.unplug_ns = vm->unplug_ns,
		.last_nack_err = vm->last_nack_err,
		.last_discard_err = vm->last_discard_err,
		.needs_reset = ps.status & VIRTIO_CONFIG_S_NEEDS_RESET,
		.last_violation = ps.last_violation,
		.driver_status = ps.status,
	};
	virtio_pci_unlock(vm->vp);
}

void virtio_mem_get_status(void *state, struct vmem_status *st)
{
	struct vmem *vm = state;
	uint64_t resident = 0;
	int ret;

	virtio_mem_get_sizes(state, st);
	/* The host's meter, not ours; outside the lock (a large region takes a while). */
	ret = mem_resident(vm->ctx.mem, vm->gpa, vm->region_size, &resident);
	st->resident = ret ? 0 : resident;
	st->resident_err = ret;
}

struct virtio_pci *virtio_mem_transport(void *state)
{
	return ((struct vmem *)state)->vp;
}

const struct device_ops virtio_mem_device_ops = {
	.name = "virtio-mem",
	.create = vmem_create,
	.destroy = vmem_destroy,
	.reset = vmem_machine_reset,
	.save = vmem_save,
	.restore = vmem_restore,
};
