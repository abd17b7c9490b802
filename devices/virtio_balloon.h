/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon (virtio 1.2 §5.5) over virtio-pci: the guest gives pages
 * of its boot RAM back to the host (inflate) and takes them again
 * (deflate); it reports free pages (free page reporting) and its memory
 * statistics.
 *
 * Queues. inflateq 0 and deflateq 1 always; then statsq when
 * VIRTIO_BALLOON_F_STATS_VQ is negotiated, then reporting_vq when
 * VIRTIO_BALLOON_F_REPORTING is. Absent queues take no index: this is what
 * Linux's driver does (it numbers the queues it finds consecutively), so
 * with reporting but no stats the reporting queue is 2. The transport shows
 * 2 + one per offered feature of the two; a notification of an index the
 * negotiated features give no queue is ignored (counted in
 * ignored_notifies, as is the transport's own kick of such a queue when
 * the driver enabled it and set DRIVER_OK).
 * FREE_PAGE_HINT, PAGE_POISON and MUST_TELL_HOST are not offered: without
 * MUST_TELL_HOST the driver may reuse a page before it deflates it
 * (§5.5.6.1), which is harmless here.
 *
 * Inflate / deflate. Each device-readable buffer of a chain is an array of
 * little-endian 32-bit 4 KiB page frame numbers (a trailing partial entry
 * is ignored). A PFN outside boot RAM is ignored and counted (bad_pfns,
 * or hotplug_pfns when it is in a virtio-mem region: that memory is
 * virtio-mem's), and so is inflating a page already in the balloon or
 * deflating one that is not (dup_pfns); nothing a PFN says crashes or
 * fails the device. The PFNs of a chain are sorted and merged into runs,
 * and memory goes back in ranges: one mem_discard() per run of whole
 * discard units. The unit is the region's backend alignment (4 KiB, 2 MiB
 * for hugetlb): a unit is discarded when its last page enters the balloon,
 * and made usable again when its first page leaves it: repopulated
 * (mem_populate() with the boot RAM's strategy) when that strategy
 * preallocates, left to fault in otherwise. A hugetlb unit is always
 * repopulated (a 2 MiB page faulted in later could find the pool empty),
 * and while that fails it stays given back and untouched by the device. Inside a transparent huge
 * page, a 4 KiB discard splits it and the kernel frees the rest when it
 * splits it later (the deferred split); whole 2 MiB runs are freed at once.
 * The chain goes back with 0 bytes written once its discards are done.
 *
 * Free page reporting: each device-writable buffer of a reporting chain is
 * a range of free guest memory; the whole discard units inside it (inside
 * boot RAM) are discarded, nothing else changes (the pages are not in the
 * balloon; the guest reuses them, and they fault in again). Not on
 * hugetlb: the guest reuses reported memory without telling, and a 2 MiB
 * page faulted in again could find the pool empty, so it is left backed.
 * A buffer starting outside boot RAM counts one bad (or hotplug) PFN. The
 * chain goes back with 0 bytes written.
 *
 * Statistics: the driver's statsq buffer (struct virtio_balloon_stat
 * entries) is read and kept, the chain held by the device; every
 * stats_interval_s seconds (a timerfd on the main loop; 0: never) the held
 * chain is given back, asking the driver for fresh numbers. The latest
 * values, which tags came and when are in the status.
 *
 * Configuration: num_pages (the target, set at creation and by
 * virtio_balloon_set_target(), with the config interrupt) and actual,
 * which the driver writes (kept as written, shown in status; the device's
 * own count is `inflated`). Other writes are ignored.
 *
 * Rules the driver must keep (violations: DEVICE_NEEDS_RESET, devices/
 * virtio_pci.h): a malformed chain (devices/virtqueue.h); a device-writable
 * buffer in an inflate/deflate/stats chain; a device-readable one in a
 * reporting chain; an inflate or deflate chain of more than 65536 PFNs
 * (chains run on the main loop: their work must be bounded); on hugetlb,
 * a ring or buffer in a 2 MiB page the balloon gave back (reading it could
 * fault with SIGBUS when the pool is empty: never touched).
 *
 * A driver reset (status 0) and a machine reset empty the balloon: every
 * page in it is usable again (repopulated as on deflate), actual reads 0;
 * a machine reset also sets the target back to the configured one.
 *
 * save() writes the target (and configured target), actual, the balloon
 * bitmap, the held stats chain, the latest statistics and the transport;
 * restore() checks all of it against this device (same boot RAM layout, a
 * held chain's head inside the queue), then discards the units that become
 * inflated and repopulates (as on deflate) those that become usable.
 */
#ifndef MEMVMM_VIRTIO_BALLOON_H
#define MEMVMM_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "mem/mem.h"
#include "mem/populate.h"

#define VIRTIO_BALLOON_WUR __attribute__((warn_unused_result))

/* The balloon's page size (VIRTIO_BALLOON_PFN_SHIFT). */
#define BALLOON_PAGE_BYTES        4096ull
/* Queue size offered for every queue. */
#define BALLOON_QUEUE_SIZE        128u
/* Default stats polling interval, and the largest one accepted. */
#define BALLOON_DEFAULT_STATS_S   5u
#define BALLOON_MAX_STATS_S       3600u
/*
 * Statistics tags the device names (Linux's, virtio 1.3: swap-in ..
 * hugetlb-failures 0-9, oom-kills .. direct-reclaims 10-15). Other tags
 * are counted in stats_unknown and dropped.
 */
#define BALLOON_STATS_NR          16u

/* device_ops create()'s cfg (NULL: target 0, stats every BALLOON_DEFAULT_STATS_S, nothing else). */
struct balloon_config {
	uint64_t target;                 /* bytes, a multiple of BALLOON_PAGE_BYTES, <= boot RAM */
	bool deflate_on_oom;             /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	bool free_page_reporting;        /* offer VIRTIO_BALLOON_F_REPORTING */
	bool stats;                      /* offer VIRTIO_BALLOON_F_STATS_VQ */
	unsigned int stats_interval_s;   /* poll every this many seconds; 0: never */
	/* Boot RAM's population, for pages leaving the balloon (NONE: left to fault in). */
	enum mem_populate_strategy populate;
	unsigned int populate_threads;   /* 0: as many as CPUs */
};

extern const struct device_ops virtio_balloon_device_ops;

/* What `status` shows. Sizes in bytes. */
struct balloon_status {
	uint64_t target;                 /* num_pages */
	uint64_t configured_target;      /* the target at creation (a machine reset's) */
	uint64_t actual;                 /* as the driver wrote it */
	uint64_t inflated;               /* in the balloon, by the device's count */
	/*
	 * Given back to the host now: the balloon's whole discard units, and
	 * on hugetlb also units whose repopulation failed when they left it
	 * (they stay given back, even after a reset empties the balloon).
	 */
	uint64_t given_back;
	uint64_t inflated_total, deflated_total;   /* entered / left the balloon, all time */
	uint64_t reported;               /* free memory reported (whole units discarded), all time */
	uint64_t reports;                /* reporting chains */
	uint64_t discards;               /* mem_discard() calls (ranges) */
	uint64_t discard_errors, populate_errors;
	int last_discard_err, last_populate_err;   /* -errno, 0 if none */
	uint64_t repopulated;            /* bytes repopulated on leaving the balloon */
	uint64_t discard_ns, populate_ns;
	uint64_t bad_pfns, hotplug_pfns, dup_pfns;
	uint64_t ignored_notifies;       /* for a queue index that has no queue */
	uint64_t features;               /* negotiated (0 before FEATURES_OK) */
	uint64_t offered;                /* device feature bits offered */
	unsigned int stats_interval_s;
	/* Latest statistics: stat[tag] valid where bit tag of stats_valid is set. */
	uint64_t stat[BALLOON_STATS_NR];
	uint32_t stats_valid;
	uint64_t stats_updates;          /* stats buffers read */
	uint64_t stats_unknown;          /* entries with a tag >= BALLOON_STATS_NR */
	uint64_t stats_age_ns;           /* since the latest update; 0 when there was none */
	bool stats_held;                 /* the device holds the driver's stats buffer */
	uint8_t driver_status;
	bool needs_reset;
	const char *last_violation;      /* NULL if none */
};

/* The name of a statistics tag ("swap-in", ... "direct-reclaims"), or NULL. */
const char *virtio_balloon_stat_name(unsigned int tag);

/*
 * Set the target (the control socket): a multiple of BALLOON_PAGE_BYTES, at
 * most the boot RAM (-EINVAL otherwise). Counts a config change and
 * interrupts the driver.
 */
int virtio_balloon_set_target(void *state, uint64_t bytes) VIRTIO_BALLOON_WUR;
/* Takes the device's lock. */
void virtio_balloon_get_status(void *state, struct balloon_status *st);

struct virtio_pci;
/* The device's transport (virtio_pci_stats(), the PCI slot), for status and tests. */
struct virtio_pci *virtio_balloon_transport(void *state);

#endif /* MEMVMM_VIRTIO_BALLOON_H */
