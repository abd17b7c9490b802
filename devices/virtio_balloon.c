// SPDX-License-Identifier: MIT
/*
 * virtio-balloon (virtio 1.2 §5.5) over virtio-pci: the configuration, the
 * queues (inflate, deflate, stats, reporting) and the stats timer. What a
 * page entering or leaving the balloon does to guest memory is in
 * virtio_balloon_pages.c; resets and save/restore in
 * virtio_balloon_state.c. devices/virtio_balloon.h says what it promises.
 *
 * Chains run on the main loop's thread (the queues' ioeventfds) or on a
 * vCPU thread (a trapped notify); the stats timer on the main loop's
 * thread. All of it under the transport's lock.
 */
#include "devices/virtio_balloon.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "devices/virtio_balloon_int.h"
#include "devices/virtqueue.h"

_Static_assert(BALLOON_PAGE_BYTES == 1ull << VIRTIO_BALLOON_PFN_SHIFT, "balloon page size");
_Static_assert(BALLOON_QUEUE_SIZE <= VQ_MAX_SIZE &&
	       (BALLOON_QUEUE_SIZE & (BALLOON_QUEUE_SIZE - 1)) == 0, "queue size");
_Static_assert(sizeof(struct virtio_balloon_stat) == BAL_STAT_BYTES, "stat entry");
_Static_assert(BALLOON_STATS_NR <= 32, "stats_valid is 32 bits");

/* Unit of the page bitmap's region starts: 2 MiB of pages (a multiple of every unit). */
#define BAL_REGION_ALIGN_PAGES 512u
#define BAL_CONFIG_ACTUAL_OFF  4u

static const char BAL_ERR_WRITABLE[] =
	"virtio-balloon: a device-writable buffer in an inflate, deflate or stats chain";
static const char BAL_ERR_READABLE[] =
	"virtio-balloon: a device-readable buffer in a free page reporting chain";
static const char BAL_ERR_LONG[] =
	"virtio-balloon: an inflate or deflate chain of more than 65536 PFNs";

static const char *const bal_stat_names[BALLOON_STATS_NR] = {
	"swap-in", "swap-out", "major-faults", "minor-faults", "free-memory",
	"total-memory", "available-memory", "disk-caches", "hugetlb-allocations",
	"hugetlb-failures", "oom-kills", "alloc-stalls", "async-scans", "direct-scans",
	"async-reclaims", "direct-reclaims",
};

const char *virtio_balloon_stat_name(unsigned int tag)
{
	return tag < BALLOON_STATS_NR ? bal_stat_names[tag] : NULL;
}

/* ---- queues ---- */

/* What queue q is under the negotiated features (consecutive numbering, as Linux does). */
static enum bal_queue bal_queue_of(const struct balloon *b, unsigned int q)
{
	uint64_t f = virtio_pci_driver_features(b->vp);
	unsigned int next = 2;

	if (q == 0)
		return BAL_Q_INFLATE;
	if (q == 1)
		return BAL_Q_DEFLATE;
	if (f & 1ull << VIRTIO_BALLOON_F_STATS_VQ) {
		if (q == next)
			return BAL_Q_STATS;
		next++;
	}
	if (f & 1ull << VIRTIO_BALLOON_F_REPORTING && q == next)
		return BAL_Q_REPORTING;
	return BAL_Q_NONE;
}

static int bal_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The page-bitmap bit of gpa, or false (counted) when it is not boot RAM. */
static bool bal_gpa_bit(struct balloon *b, uint64_t gpa, uint64_t *bit)
{
	const struct guest_mem *gm = b->ctx.mem;

	for (unsigned int i = 0; i < b->nr_regions; i++) {
		const struct bal_region *r = &b->region[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*bit = r->first + (gpa - r->gpa) / BALLOON_PAGE_BYTES;
			return true;
		}
	}
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (mem_region_in_use(r) && r->role == MEM_ROLE_HOTPLUG && gpa >= r->gpa &&
		    gpa - r->gpa < r->size) {
			b->hotplug_pfns++;
			return false;
		}
	}
	b->bad_pfns++;
	return false;
}

/* Sorted bits [0, n) of b->sorted: runs of consecutive bits in one region. */
static void bal_apply_sorted(struct balloon *b, unsigned int n, bool inflate)
{
	unsigned int i = 0;

	while (i < n) {
		const struct bal_region *r = bal_region_of_bit(b, b->sorted[i]);
		uint64_t start = b->sorted[i], len = 1;

		i++;
		while (i < n) {
			uint64_t next = b->sorted[i];

			if (next == start + len - 1) {
				b->dup_pfns++;   /* the same PFN twice in a batch */
				i++;
				continue;
			}
			if (next != start + len || next - r->first >= r->pages)
				break;
			len++;
			i++;
		}
		if (inflate)
			bal_pages_inflate(b, r, start, len);
		else
			bal_pages_deflate(b, r, start, len);
	}
}

/* An inflate or deflate chain: the PFNs of its readable buffers, batch by batch. */
static void bal_pfn_chain(struct balloon *b, const struct vq_chain *c, bool inflate)
{
	uint64_t total = c->out_bytes / sizeof(uint32_t), done = 0;

	while (done < total) {
		unsigned int n = total - done > BAL_BATCH_PFNS ? BAL_BATCH_PFNS :
				 (unsigned int)(total - done), valid = 0;

		/* The chain was validated: this fails only if RAM did (then the rest is skipped). */
		if (vq_chain_read(b->ctx.mem, c, done * sizeof(uint32_t), b->batch,
				  n * sizeof(uint32_t)))
			return;
		for (unsigned int i = 0; i < n; i++) {
			uint64_t gpa = (uint64_t)le32toh(b->batch[i]) << VIRTIO_BALLOON_PFN_SHIFT;

			if (bal_gpa_bit(b, gpa, &b->sorted[valid]))
				valid++;
		}
		qsort(b->sorted, valid, sizeof(b->sorted[0]), bal_cmp_u64);
		bal_apply_sorted(b, valid, inflate);
		done += n;
	}
}

/* A free page reporting chain: each writable buffer is free memory. */
static void bal_report_chain(struct balloon *b, const struct vq_chain *c)
{
	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		uint64_t gpa = c->buf[i].gpa, len = c->buf[i].len, bit;

		if (!len)
			continue;
		if (!bal_gpa_bit(b, gpa, &bit))
			continue;   /* counted as one bad (or hotplug) PFN */
		bal_report_range(b, gpa, len);
	}
	b->reports++;
}

/* A stats buffer: read its entries, keep the chain until the next poll. */
static void bal_stats_chain(struct balloon *b, unsigned int q, const struct vq_chain *c)
{
	uint8_t raw[BAL_MAX_STATS * BAL_STAT_BYTES];
	uint64_t n = c->out_bytes / BAL_STAT_BYTES;

	if (n > BAL_MAX_STATS)
		n = BAL_MAX_STATS;
	if (n && vq_chain_read(b->ctx.mem, c, 0, raw, n * BAL_STAT_BYTES))
		n = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint16_t tag;
		uint64_t val;

		memcpy(&tag, raw + i * BAL_STAT_BYTES, sizeof(tag));
		memcpy(&val, raw + i * BAL_STAT_BYTES + sizeof(tag), sizeof(val));
		tag = le16toh(tag);
		if (tag >= BALLOON_STATS_NR) {
			b->stats_unknown++;
			continue;
		}
		b->stat[tag] = le64toh(val);
		b->stats_valid |= 1u << tag;
	}
	b->stats_updates++;
	b->stats_ns = bal_now_ns();
	b->stats_held = true;
	b->stats_queue = q;
	b->stats_head = c->head;
}

/* Give the held stats buffer back: the driver refills it. */
static void bal_stats_release(struct balloon *b)
{
	struct virtqueue *vq;

	if (!b->stats_held)
		return;
	b->stats_held = false;
	/* Only into the stats queue of the features negotiated now (a restore could say otherwise). */
	if (bal_queue_of(b, b->stats_queue) != BAL_Q_STATS)
		return;
	vq = virtio_pci_vq(b->vp, b->stats_queue);
	if (vq && vq_push(vq, b->stats_head, 0) == 0)
		virtio_pci_used(b->vp, b->stats_queue);
}

/* One chain of queue kind k. False when the queue cannot go on. */
static bool bal_chain(struct balloon *b, struct virtqueue *vq, unsigned int q, enum bal_queue k,
		      const struct vq_chain *c)
{
	const char *why = NULL;

	if (k == BAL_Q_REPORTING ? c->nr_out != 0 : c->nr_in != 0)
		why = k == BAL_Q_REPORTING ? BAL_ERR_READABLE : BAL_ERR_WRITABLE;
	else if ((k == BAL_Q_INFLATE || k == BAL_Q_DEFLATE) &&
		 c->out_bytes / sizeof(uint32_t) > BAL_MAX_CHAIN_PFNS)
		why = BAL_ERR_LONG;
	if (why) {
		/* Give it back unanswered; a failed push changes nothing: the queue stops. */
		if (vq_push(vq, c->head, 0)) {
			/* Nothing more to do. */
		}
		virtio_pci_violation(b->vp, q, why);
		return false;
	}
	switch (k) {
	case BAL_Q_INFLATE:
	case BAL_Q_DEFLATE:
		bal_pfn_chain(b, c, k == BAL_Q_INFLATE);
		break;
	case BAL_Q_REPORTING:
		bal_report_chain(b, c);
		break;
	case BAL_Q_STATS:
		/* A second buffer while one is held: the older goes back first. */
		bal_stats_release(b);
		bal_stats_chain(b, q, c);
		return true;   /* held, not pushed */
	case BAL_Q_NONE:
		break;
	}
	/* A failed push breaks the queue; the transport then reports the violation. */
	return vq_push(vq, c->head, 0) == 0;
}

static void bal_queue_notify(void *dev, unsigned int q)
{
	struct balloon *b = dev;
	struct virtqueue *vq = virtio_pci_vq(b->vp, q);
	enum bal_queue k = bal_queue_of(b, q);
	bool pushed = false;
	struct vq_chain c;

	if (!vq || k == BAL_Q_NONE) {
		b->ignored_notifies++;
		return;
	}
	for (;;) {
		int ret = vq_pop(vq, &c);

		if (ret < 0)
			virtio_pci_violation(b->vp, q, vq->why_broken);
		if (ret <= 0)
			break;
		if (k != BAL_Q_STATS)
			pushed = true;
		if (!bal_chain(b, vq, q, k, &c))
			break;
	}
	if (pushed)
		virtio_pci_used(b->vp, q);
}

/* ---- configuration (§5.5.4) ---- */

static void bal_config_read(void *dev, unsigned int off, void *buf, unsigned int len)
{
	const struct balloon *b = dev;
	const struct virtio_balloon_config cfg = {
		.num_pages = htole32(b->num_pages),
		.actual = htole32(b->actual),
	};

	/* The transport keeps off + len inside config_len == sizeof(cfg). */
	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

/* Only `actual` is the driver's to write; its bytes are merged as written. */
static void bal_config_write(void *dev, unsigned int off, const void *buf, unsigned int len)
{
	struct balloon *b = dev;
	uint8_t v[sizeof(uint32_t)];
	uint32_t le = htole32(b->actual);

	memcpy(v, &le, sizeof(v));
	for (unsigned int i = 0; i < len; i++) {
		unsigned int at = off + i;

		if (at >= BAL_CONFIG_ACTUAL_OFF && at < BAL_CONFIG_ACTUAL_OFF + sizeof(v))
			v[at - BAL_CONFIG_ACTUAL_OFF] = ((const uint8_t *)buf)[i];
	}
	memcpy(&le, v, sizeof(v));
	b->actual = le32toh(le);
}

/* A driver reset (status 0): the balloon empties, the held buffer is gone with the queue. */
static void bal_driver_reset(void *dev)
{
	struct balloon *b = dev;

	b->stats_held = false;
	bal_empty(b);
	b->actual = 0;
}

/* ---- the stats timer ---- */

static void bal_stats_tick(void *arg, uint32_t events)
{
	struct balloon *b = arg;
	uint64_t expirations;

	(void)events;
	/* EAGAIN: another tick consumed it; nothing else can fail on a timerfd. */
	if (read(b->timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	virtio_pci_lock(b->vp);
	if (virtio_pci_live(b->vp))
		bal_stats_release(b);
	virtio_pci_unlock(b->vp);
}

static int bal_timer_start(struct balloon *b)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = b->cfg.stats_interval_s },
		.it_value = { .tv_sec = b->cfg.stats_interval_s },
	};
	int ret;

	b->timer_fd = -1;
	if (!b->cfg.stats || !b->cfg.stats_interval_s || !b->ctx.watch_fd)
		return 0;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->timer_fd < 0)
		return -errno;
	if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	ret = b->ctx.watch_fd(b->ctx.opaque, b->timer_fd, EPOLLIN, bal_stats_tick, b);
	if (ret)
		return ret;
	b->timer_watched = true;
	return 0;
}

static void bal_timer_stop(struct balloon *b)
{
	if (b->timer_watched)
		b->ctx.unwatch_fd(b->ctx.opaque, b->timer_fd);
	b->timer_watched = false;
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	b->timer_fd = -1;
}

/* ---- device_ops ---- */

/* The boot RAM regions, their bitmap ranges; false if there is none or one is odd. */
static bool bal_regions_init(struct balloon *b)
{
	const struct guest_mem *gm = b->ctx.mem;
	uint64_t next = 0;

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *m = &gm->region[i];
		struct bal_region *r;
		uint64_t align;

		if (!mem_region_is_boot_ram(m))
			continue;
		align = m->ops->align < BALLOON_PAGE_BYTES ? BALLOON_PAGE_BYTES : m->ops->align;
		if ((align & (align - 1)) || align / BALLOON_PAGE_BYTES > BAL_REGION_ALIGN_PAGES ||
		    !m->size || m->size % align || m->gpa % align)
			return false;
		r = &b->region[b->nr_regions++];
		*r = (struct bal_region){
			.index = i, .gpa = m->gpa, .size = m->size,
			.first = next, .pages = m->size / BALLOON_PAGE_BYTES,
			.unit_pages = align / BALLOON_PAGE_BYTES,
		};
		next = (r->first + r->pages + BAL_REGION_ALIGN_PAGES - 1) / BAL_REGION_ALIGN_PAGES *
		       BAL_REGION_ALIGN_PAGES;
		b->ram_bytes += m->size;
	}
	b->map_bits = next;
	return b->nr_regions > 0;
}

static bool bal_config_ok(const struct balloon *b, const struct balloon_config *c)
{
	if ((unsigned int)c->populate >= MEM_POPULATE_NR)
		return false;
	if (c->stats_interval_s > BALLOON_MAX_STATS_S)
		return false;
	return c->target % BALLOON_PAGE_BYTES == 0 && c->target <= b->ram_bytes &&
	       c->target / BALLOON_PAGE_BYTES <= UINT32_MAX;
}

static uint64_t bal_offered(const struct balloon_config *c)
{
	uint64_t f = 0;

	if (c->stats)
		f |= 1ull << VIRTIO_BALLOON_F_STATS_VQ;
	if (c->deflate_on_oom)
		f |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (c->free_page_reporting)
		f |= 1ull << VIRTIO_BALLOON_F_REPORTING;
	return f;
}

static void bal_free(struct balloon *b)
{
	bal_timer_stop(b);
	free(b->given);
	free(b->pages);
	free(b);
}

static int bal_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	struct balloon *b;
	int ret;

	if (!ctx->mem)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = *ctx;
	b->timer_fd = -1;
	b->cfg = cfg ? *(const struct balloon_config *)cfg :
		 (struct balloon_config){ .stats = true,
					  .stats_interval_s = BALLOON_DEFAULT_STATS_S };
	ret = -EINVAL;
	if (!bal_regions_init(b) || !bal_config_ok(b, &b->cfg))
		goto err;
	b->num_pages = (uint32_t)(b->cfg.target / BALLOON_PAGE_BYTES);
	ret = -ENOMEM;
	b->pages = calloc(bitmap_words(b->map_bits), sizeof(uint64_t));
	b->given = calloc(bitmap_words(b->map_bits), sizeof(uint64_t));
	if (!b->pages || !b->given)
		goto err;
	b->ops = (struct virtio_device_ops){
		.name = "virtio-balloon",
		.device_id = VIRTIO_ID_BALLOON,
		.features = bal_offered(&b->cfg),
		.nr_queues = 2 + b->cfg.stats + b->cfg.free_page_reporting,
		.queue_size = BALLOON_QUEUE_SIZE,
		.config_len = sizeof(struct virtio_balloon_config),
		.config_read = bal_config_read,
		.config_write = bal_config_write,
		.queue_notify = bal_queue_notify,
		.reset = bal_driver_reset,
		.access_ok = bal_access_ok,
	};
	ret = virtio_pci_create(ctx, &b->ops, b, &b->vp);
	if (ret)
		goto err;
	ret = bal_timer_start(b);
	if (ret) {
		virtio_pci_destroy(b->vp);
		goto err;
	}
	*state = b;
	return 0;

err:
	bal_free(b);
	return ret;
}

static void bal_destroy(void *state)
{
	struct balloon *b = state;

	if (!b)
		return;
	/* The timer first: its tick takes the transport's lock. */
	bal_timer_stop(b);
	virtio_pci_destroy(b->vp);
	bal_free(b);
}

int virtio_balloon_set_target(void *state, uint64_t bytes)
{
	struct balloon *b = state;

	if (bytes % BALLOON_PAGE_BYTES || bytes > b->ram_bytes ||
	    bytes / BALLOON_PAGE_BYTES > UINT32_MAX)
		return -EINVAL;
	virtio_pci_lock(b->vp);
	b->num_pages = (uint32_t)(bytes / BALLOON_PAGE_BYTES);
	virtio_pci_config_changed(b->vp);
	virtio_pci_unlock(b->vp);
	return 0;
}

void virtio_balloon_get_status(void *state, struct balloon_status *st)
{
	struct balloon *b = state;
	struct virtio_pci_stats ps;
	uint64_t now = bal_now_ns();

	virtio_pci_lock(b->vp);
	virtio_pci_stats(b->vp, &ps);
	*st = (struct balloon_status){
		.target = (uint64_t)b->num_pages * BALLOON_PAGE_BYTES,
		.configured_target = b->cfg.target,
		.actual = (uint64_t)b->actual * BALLOON_PAGE_BYTES,
		.inflated = b->inflated_pages * BALLOON_PAGE_BYTES,
		.given_back = b->given_bytes,
		.inflated_total = b->inflated_total * BALLOON_PAGE_BYTES,
		.deflated_total = b->deflated_total * BALLOON_PAGE_BYTES,
		.reported = b->reported,
		.reports = b->reports,
		.discards = b->discards,
		.discard_errors = b->discard_errors,
		.populate_errors = b->populate_errors,
		.last_discard_err = b->last_discard_err,
		.last_populate_err = b->last_populate_err,
		.repopulated = b->repopulated,
		.discard_ns = b->discard_ns,
		.populate_ns = b->populate_ns,
		.bad_pfns = b->bad_pfns,
		.hotplug_pfns = b->hotplug_pfns,
		.dup_pfns = b->dup_pfns,
		.ignored_notifies = b->ignored_notifies,
		.features = ps.status & VIRTIO_CONFIG_S_FEATURES_OK ? ps.driver_features : 0,
		.offered = b->ops.features,
		.stats_interval_s = b->timer_fd >= 0 ? b->cfg.stats_interval_s : 0,
		.stats_valid = b->stats_valid,
		.stats_updates = b->stats_updates,
		.stats_unknown = b->stats_unknown,
		.stats_age_ns = b->stats_updates && now > b->stats_ns ? now - b->stats_ns : 0,
		.stats_held = b->stats_held,
		.driver_status = ps.status,
		.needs_reset = ps.status & VIRTIO_CONFIG_S_NEEDS_RESET,
		.last_violation = ps.last_violation,
	};
	memcpy(st->stat, b->stat, sizeof(st->stat));
	virtio_pci_unlock(b->vp);
}

struct virtio_pci *virtio_balloon_transport(void *state)
{
	return ((struct balloon *)state)->vp;
}

const struct device_ops virtio_balloon_device_ops = {
	.name = "virtio-balloon",
	.create = bal_create,
	.destroy = bal_destroy,
	.reset = bal_machine_reset,
	.save = bal_save,
	.restore = bal_restore,
};
