// SPDX-License-Identifier: MIT
/*
 * virtio-mem steps. Each prints one "memvmm-guest: <step> key=value ..."
 * line (vmem-wait and vmem-bad one more, under other names), also when it
 * then fails; the first vmem step also prints how it found the device
 * ("virtio-pci" and "vmem-init" lines). Sizes are bytes, in decimal.
 */
#include <stddef.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>

#include "console.h"
#include "cpu.h"
#include "user.h"
#include "vmem.h"
#include "vmem_steps.h"

#define WAIT_TIMEOUT_MS      60000
#define WAIT_POLL_MS         10
#define CORRUPT_TIMEOUT_MS   10000
#define DEFAULT_TSC_KHZ      1000000    /* without a TSC rate, assume 1 GHz */
#define REQ_TYPE_UNKNOWN     (VIRTIO_MEM_REQ_STATE + 1)
#define MSIX_QUEUE_VECTOR    1
#define MSIX_POLL_MS         1000
#define ARRAY_SIZE(a)        (sizeof(a) / sizeof((a)[0]))

static struct vmem vmem;

static uint64_t cycles_per_ms(const struct workload *w)
{
	return w->tsc_khz ? w->tsc_khz : DEFAULT_TSC_KHZ;
}

static uint64_t driver_plugged(const struct vmem *vm)
{
	return vm->plugged_blocks * vm->cfg.block_size;
}

/* The driver, ready for requests; per-step counters cleared. */
static const char *vmem_get(struct workload *w, struct vmem **out)
{
	struct vmem *vm = &vmem;
	const char *why;
	bool first;

	why = vmem_open(vm, cycles_per_ms(w), &first);
	if (first) {
		virtio_print_pci(&vm->dev);
		con_printf("memvmm-guest: vmem-init device_features=0x%lx driver_features=0x%lx "
			   "queue_max=%u queue_size=%u block_size=%lu addr=0x%lx region_size=%lu "
			   "requested=%lu plugged=%lu unplug_all=%u\n", vm->dev.device_features,
			   vm->dev.driver_features, vm->dev.q[0].max, vm->dev.q[0].size,
			   vm->cfg.block_size, vm->cfg.addr, vm->cfg.region_size,
			   vm->cfg.requested, vm->cfg.plugged, vm->unplugged_all_at_init);
	}
	if (why)
		return why;
	vm->counts = (struct vmem_counts){ 0 };
	*out = vm;
	return NULL;
}

/* Reads the configuration and checks the device's plugged size against the record. */
static const char *config_check(struct vmem *vm)
{
	const char *why = vmem_config_read(vm);

	if (why)
		return why;
	if (vm->cfg.plugged != driver_plugged(vm))
		return "plugged_size differs from the blocks the driver plugged";
	return NULL;
}

/* A size value: a positive multiple of the block size. */
static const char *size_value(const struct vmem *vm, const char *value, uint64_t *blocks)
{
	uint64_t bytes;

	if (!step_parse_size(value, &bytes))
		return "bad size";
	if (!bytes || bytes % vm->cfg.block_size)
		return "size is not a positive multiple of the block size";
	*blocks = bytes / vm->cfg.block_size;
	return NULL;
}

static bool resp_is_answer(enum vmem_resp r)
{
	return r == VMEM_ACK || r == VMEM_NACK || r == VMEM_BUSY || r == VMEM_ERROR;
}

static void print_counts(const struct vmem *vm, uint64_t bytes)
{
	const struct vmem_counts *c = &vm->counts;

	con_printf(" bytes=%lu requests=%lu ack=%lu nack=%lu busy=%lu error=%lu plugged=%lu "
		   "driver_plugged=%lu requested=%lu usable=%lu", bytes, c->requests,
		   c->resp[VMEM_ACK], c->resp[VMEM_NACK], c->resp[VMEM_BUSY], c->resp[VMEM_ERROR],
		   vm->cfg.plugged, driver_plugged(vm), vm->cfg.requested, vm->cfg.usable);
}

const char *step_vmem_info(struct workload *w, const char *value)
{
	struct vmem *vm;
	const char *why;

	if ((why = vmem_get(w, &vm)) || (why = vmem_config_read(vm)))
		return why;
	con_printf("memvmm-guest: vmem-info block_size=%lu addr=0x%lx region_size=%lu usable=%lu "
		   "requested=%lu plugged=%lu driver_plugged=%lu node_id=%u\n",
		   vm->cfg.block_size, vm->cfg.addr, vm->cfg.region_size, vm->cfg.usable,
		   vm->cfg.requested, vm->cfg.plugged, driver_plugged(vm), vm->cfg.node_id);
	return NULL;
}

/*
 * Plug (the lowest unplugged blocks first) or unplug (the highest plugged
 * first) left blocks, a request per chunk, until done or the device says
 * NACK or BUSY (counted, not a failure); then the step's line. ERROR or no
 * answer fails the step.
 */
static const char *vmem_requests(struct workload *w, struct vmem *vm, uint64_t left, bool plug)
{
	const char *why = NULL, *fail = NULL;
	uint64_t bytes = 0, t = rdtsc();

	while (left) {
		uint64_t first, n;
		enum vmem_resp r;

		if (plug ? !vmem_lowest_unplugged(vm, left, &first, &n) :
			   !vmem_highest_plugged(vm, left, &first, &n)) {
			fail = plug ? "no unplugged block left in the usable region" :
				      "no plugged block left";
			break;
		}
		r = plug ? vmem_plug(vm, first, n, &why) : vmem_unplug(vm, first, n);
		if (why) {
			fail = why;
			break;
		}
		if (r != VMEM_ACK) {
			if (r != VMEM_NACK && r != VMEM_BUSY)
				fail = plug ? "a plug request got no ACK, NACK or BUSY" :
					      "an unplug request got no ACK, NACK or BUSY";
			break;
		}
		left -= n;
		bytes += n * vm->cfg.block_size;
	}
	t = rdtsc() - t;
	why = config_check(vm);
	con_printf(plug ? "memvmm-guest: vmem-plug" : "memvmm-guest: vmem-unplug");
	print_counts(vm, bytes);
	step_print_elapsed(w, t);
	return fail ? fail : why;
}

/*
 * vmem-plug: plug up to the requested size; vmem-plug=SIZE: plug SIZE more
 * (vmem_requests(): a request per chunk, Linux's memory block).
 */
const char *step_vmem_plug(struct workload *w, const char *value)
{
	const char *why;
	uint64_t left;
	struct vmem *vm;

	if ((why = vmem_get(w, &vm)) || (why = vmem_config_read(vm)))
		return why;
	if (*value) {
		if ((why = size_value(vm, value, &left)))
			return why;
	} else {
		left = vm->cfg.requested > vm->cfg.plugged ?
		       (vm->cfg.requested - vm->cfg.plugged) / vm->cfg.block_size : 0;
	}
	return vmem_requests(w, vm, left, true);
}

/*
 * vmem-unplug: unplug down to the requested size; vmem-unplug=SIZE: unplug
 * SIZE. The highest plugged blocks first, a request per chunk.
 */
const char *step_vmem_unplug(struct workload *w, const char *value)
{
	const char *why;
	uint64_t left;
	struct vmem *vm;

	if ((why = vmem_get(w, &vm)) || (why = vmem_config_read(vm)))
		return why;
	if (*value) {
		if ((why = size_value(vm, value, &left)))
			return why;
		if (left > vm->plugged_blocks)
			return "less than that is plugged";
	} else {
		left = driver_plugged(vm) > vm->cfg.requested ?
		       (driver_plugged(vm) - vm->cfg.requested) / vm->cfg.block_size : 0;
	}
	return vmem_requests(w, vm, left, false);
}

const char *step_vmem_unplug_all(struct workload *w, const char *value)
{
	struct vmem *vm;
	const char *why;
	enum vmem_resp r;
	uint64_t t;

	if ((why = vmem_get(w, &vm)))
		return why;
	t = rdtsc();
	r = vmem_unplug_all(vm);
	t = rdtsc() - t;
	why = resp_is_answer(r) && r != VMEM_ERROR ? config_check(vm) :
	      "UNPLUG_ALL got no ACK, NACK or BUSY";
	con_printf("memvmm-guest: vmem-unplug-all resp=%s plugged=%lu driver_plugged=%lu "
		   "requested=%lu usable=%lu", vmem_resp_name(r), vm->cfg.plugged,
		   driver_plugged(vm), vm->cfg.requested, vm->cfg.usable);
	step_print_elapsed(w, t);
	return why;
}

/*
 * vmem-touch: word 0 of every page of every plugged block, in ring 3: a
 * block plugged since the last touch must read zero (re-plugged memory
 * included), an older one must still hold the pattern.
 */
const char *step_vmem_touch(struct workload *w, const char *value)
{
	struct vmem_touch_job job;
	struct vmem *vm;
	const char *why;
	uint64_t t;

	if ((why = vmem_get(w, &vm)))
		return why;
	job = (struct vmem_touch_job){
		.base = vm->cfg.addr, .block_size = vm->cfg.block_size, .nblocks = vm->nblocks,
		.plugged = vm->plugged_map, .touched = vm->touched_map,
	};
	t = rdtsc();
	user_call(user_vmem_touch, &job);
	t = rdtsc() - t;
	con_printf("memvmm-guest: vmem-touch blocks=%lu pages=%lu fresh=%lu nonzero=%lu bad=%lu",
		   job.blocks, job.pages, job.fresh, job.nonzero, job.bad);
	step_print_elapsed(w, t);
	if (job.nonzero)
		return "newly plugged memory does not read zero";
	return job.bad ? "plugged memory lost what the last touch wrote" : NULL;
}

/* STATE over the usable region, chunk by chunk, against the record. */
struct state_scan {
	uint64_t ranges, count[3], mismatch;
	const char *whole;
};

static const char *state_scan(struct vmem *vm, struct state_scan *s)
{
	uint64_t usable = vmem_usable_blocks(vm), chunk = vmem_chunk_blocks(vm), n;
	uint16_t st;

	*s = (struct state_scan){ .whole = "none" };
	for (uint64_t b = 0; b < usable; b += chunk) {
		n = usable - b < chunk ? usable - b : chunk;
		if (vmem_request(vm, VIRTIO_MEM_REQ_STATE, vmem_block_addr(vm, b), (uint16_t)n,
				 &st) != VMEM_ACK)
			return "a STATE request got no ACK";
		s->ranges++;
		s->count[st]++;
		s->mismatch += st != vmem_expected_state(vm, b, n);
	}
	if (usable) {
		/* One request for as much of it as nb_blocks can say. */
		n = usable < 0xffff ? usable : 0xffff;
		if (vmem_request(vm, VIRTIO_MEM_REQ_STATE, vm->cfg.addr, (uint16_t)n, &st) != VMEM_ACK)
			return "a STATE request got no ACK";
		s->whole = vmem_state_name(st);
		s->mismatch += st != vmem_expected_state(vm, 0, n);
	}
	return NULL;
}

const char *step_vmem_state(struct workload *w, const char *value)
{
	struct state_scan s;
	struct vmem *vm;
	const char *why;
	uint64_t t;

	if ((why = vmem_get(w, &vm)) || (why = vmem_config_read(vm)))
		return why;
	t = rdtsc();
	why = state_scan(vm, &s);
	t = rdtsc() - t;
	con_printf("memvmm-guest: vmem-state ranges=%lu ranges_plugged=%lu ranges_unplugged=%lu "
		   "ranges_mixed=%lu mismatch=%lu whole=%s", s.ranges,
		   s.count[VIRTIO_MEM_STATE_PLUGGED], s.count[VIRTIO_MEM_STATE_UNPLUGGED],
		   s.count[VIRTIO_MEM_STATE_MIXED], s.mismatch, s.whole);
	step_print_elapsed(w, t);
	if (why)
		return why;
	return s.mismatch ? "the device's block states differ from the driver's" : NULL;
}

/*
 * vmem-wait: poll the configuration until requested_size differs from what
 * the driver last read; vmem-wait=SIZE: until it is SIZE. At most
 * WAIT_TIMEOUT_MS. Prints "vmem-waiting" first, so the host knows when.
 */
const char *step_vmem_wait(struct workload *w, const char *value)
{
	uint64_t target = 0, last, t0, next, cpm = cycles_per_ms(w);
	struct vmem *vm;
	const char *why;

	bool opened = vmem.probed;

	if (*value && !step_parse_size(value, &target))
		return "bad size";
	/* What the driver saw last, not what a re-initialization reads now. */
	last = vmem.cfg.requested;
	if ((why = vmem_get(w, &vm)))
		return why;
	if (!opened)
		last = vm->cfg.requested;
	con_printf("memvmm-guest: vmem-waiting requested=%lu\n", last);
	t0 = next = rdtsc();
	for (;;) {
		if ((why = vmem_config_read(vm)))
			return why;
		if (*value ? vm->cfg.requested == target : vm->cfg.requested != last)
			break;
		if ((rdtsc() - t0) / cpm > WAIT_TIMEOUT_MS)
			return "requested_size did not change within 60 s";
		next += WAIT_POLL_MS * cpm;
		while (rdtsc() < next)
			;
	}
	con_printf("memvmm-guest: vmem-wait requested=%lu usable=%lu plugged=%lu",
		   vm->cfg.requested, vm->cfg.usable, vm->cfg.plugged);
	step_print_elapsed(w, rdtsc() - t0);
	return NULL;
}

/* ---- vmem-bad --------------------------------------------------------------- */

enum bad_target {
	AT_UNPLUGGED,           /* the lowest unplugged block of the usable region */
	AT_PLUGGED,             /* the highest plugged block */
	AT_USABLE_END,          /* the first block past the usable region */
	AT_BELOW,               /* the block below the region */
	AT_LAST_USABLE,         /* the last block of the usable region */
	AT_REGION,              /* the region's first block */
};

struct bad_case {
	const char *name;
	uint16_t type;
	enum bad_target at;
	bool unaligned;         /* a page (or half a block) past the target */
	uint16_t nb_blocks;
};

static const struct bad_case bad_cases[] = {
	{ "plug-unaligned", VIRTIO_MEM_REQ_PLUG, AT_UNPLUGGED, true, 1 },
	{ "plug-zero", VIRTIO_MEM_REQ_PLUG, AT_UNPLUGGED, false, 0 },
	{ "plug-beyond", VIRTIO_MEM_REQ_PLUG, AT_USABLE_END, false, 1 },
	{ "plug-below", VIRTIO_MEM_REQ_PLUG, AT_BELOW, false, 1 },
	{ "plug-cross", VIRTIO_MEM_REQ_PLUG, AT_LAST_USABLE, false, 2 },
	{ "plug-plugged", VIRTIO_MEM_REQ_PLUG, AT_PLUGGED, false, 1 },
	{ "unplug-unaligned", VIRTIO_MEM_REQ_UNPLUG, AT_PLUGGED, true, 1 },
	{ "unplug-zero", VIRTIO_MEM_REQ_UNPLUG, AT_PLUGGED, false, 0 },
	{ "unplug-beyond", VIRTIO_MEM_REQ_UNPLUG, AT_USABLE_END, false, 1 },
	{ "unplug-below", VIRTIO_MEM_REQ_UNPLUG, AT_BELOW, false, 1 },
	{ "unplug-cross", VIRTIO_MEM_REQ_UNPLUG, AT_LAST_USABLE, false, 2 },
	{ "unplug-unplugged", VIRTIO_MEM_REQ_UNPLUG, AT_UNPLUGGED, false, 1 },
	{ "state-beyond", VIRTIO_MEM_REQ_STATE, AT_USABLE_END, false, 1 },
	{ "state-zero", VIRTIO_MEM_REQ_STATE, AT_REGION, false, 0 },
	{ "type", REQ_TYPE_UNKNOWN, AT_REGION, false, 1 },
};

/* Is NAME in the comma-separated LIST ("" is every case)? */
static bool in_list(const char *list, const char *name)
{
	if (!*list)
		return true;
	while (*list) {
		const char *n = name;

		while (*n && *list == *n)
			list++, n++;
		if (!*n && (!*list || *list == ','))
			return true;
		while (*list && *list != ',')
			list++;
		if (*list)
			list++;
	}
	return false;
}

/* Every name in LIST is a case. */
static bool list_valid(const char *list)
{
	while (*list) {
		const char *end = list;
		bool found = false;

		while (*end && *end != ',')
			end++;
		for (size_t i = 0; i < ARRAY_SIZE(bad_cases) && !found; i++) {
			const char *n = bad_cases[i].name, *p = list;

			while (p < end && *p == *n)
				p++, n++;
			found = p == end && !*n;
		}
		if (!found)
			return false;
		list = *end ? end + 1 : end;
	}
	return true;
}

/*
 * The address of a case's target; NULL or why the device's state does not
 * allow the case (the host test sets that up: see the README of guest/).
 */
static const char *bad_addr(const struct vmem *vm, const struct bad_case *c, uint64_t *addr)
{
	uint64_t bs = vm->cfg.block_size, usable = vmem_usable_blocks(vm), b, n;

	switch (c->at) {
	case AT_UNPLUGGED:
		if (!vmem_lowest_unplugged(vm, 1, &b, &n))
			return "vmem-bad needs an unplugged block in the usable region";
		*addr = vmem_block_addr(vm, b);
		break;
	case AT_PLUGGED:
		if (!vmem_highest_plugged(vm, 1, &b, &n))
			return "vmem-bad needs a plugged block";
		*addr = vmem_block_addr(vm, b);
		break;
	case AT_USABLE_END:
		*addr = vmem_block_addr(vm, usable);
		break;
	case AT_BELOW:
		if (vm->cfg.addr < bs)
			return "vmem-bad needs the region to start at or above one block";
		*addr = vm->cfg.addr - bs;
		break;
	case AT_LAST_USABLE:
		if (!usable)
			return "vmem-bad needs a usable region";
		*addr = vmem_block_addr(vm, usable - 1);
		break;
	case AT_REGION:
		*addr = vm->cfg.addr;
		break;
	}
	if (c->unaligned)
		*addr += bs > PAGE_SIZE ? PAGE_SIZE : bs / 2;
	/* A plug must not be refusable for going over the requested size (a NACK). */
	if (c->type == VIRTIO_MEM_REQ_PLUG &&
	    vm->cfg.requested < vm->cfg.plugged + 2 * bs)
		return "vmem-bad's plug cases need requested_size >= plugged_size + 2 blocks";
	return NULL;
}

/*
 * vmem-bad[=CASE,...]: requests that break a rule of §5.15; each must get
 * ERROR. One "vmem-bad-case name=N resp=R" line per case, then the
 * summary. A case that makes the device need a reset is followed by one.
 */
const char *step_vmem_bad(struct workload *w, const char *value)
{
	uint64_t cases = 0, errors = 0, t;
	const char *why, *fail = NULL;
	struct vmem *vm;

	if (!list_valid(value))
		return "unknown case";
	if ((why = vmem_get(w, &vm)) || (why = vmem_config_read(vm)))
		return why;
	/* Check every precondition before the first request. */
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		uint64_t addr;

		if (in_list(value, bad_cases[i].name) && (why = bad_addr(vm, &bad_cases[i], &addr)))
			return why;
	}
	t = rdtsc();
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases) && !fail; i++) {
		const struct bad_case *c = &bad_cases[i];
		enum vmem_resp r;
		uint64_t addr = 0;

		if (!in_list(value, c->name))
			continue;
		(void)bad_addr(vm, c, &addr);
		r = vmem_request(vm, c->type, addr, c->nb_blocks, NULL);
		con_printf("memvmm-guest: vmem-bad-case name=%s resp=%s\n", c->name, vmem_resp_name(r));
		cases++;
		errors += r == VMEM_ERROR;
		if (!vm->ready)
			fail = vmem_reinit(vm, vm->msix);
	}
	t = rdtsc() - t;
	if (!fail)
		fail = config_check(vm);
	con_printf("memvmm-guest: vmem-bad cases=%lu error=%lu plugged=%lu driver_plugged=%lu",
		   cases, errors, vm->cfg.plugged, driver_plugged(vm));
	step_print_elapsed(w, t);
	if (fail)
		return fail;
	return errors != cases ? "a bad request did not get ERROR" : NULL;
}

/* ---- device status ------------------------------------------------------ */

/*
 * vmem-corrupt[=KIND]: a broken chain (loop by default, see virtio.h) must
 * make the device set DEVICE_NEEDS_RESET; then reset, initialize again and
 * check that a STATE request works.
 */
const char *step_vmem_corrupt(struct workload *w, const char *value)
{
	enum virtio_corruption kind;
	const char *why, *reinit;
	enum vmem_resp after = VMEM_BAD_RESPONSE;
	struct vmem *vm;
	bool used = false;
	uint64_t t;
	uint8_t st;

	if ((why = virtio_corruption_parse(value, &kind)))
		return why;
	if ((why = vmem_get(w, &vm)))
		return why;
	t = rdtsc();
	st = vmem_corrupt(vm, kind, CORRUPT_TIMEOUT_MS, &used);
	reinit = vmem_reinit(vm, vm->msix);
	if (!reinit)
		after = vmem_request(vm, VIRTIO_MEM_REQ_STATE, vm->cfg.addr, 1, NULL);
	t = rdtsc() - t;
	con_printf("memvmm-guest: vmem-corrupt kind=%s status=0x%02x needs_reset=%u used=%u "
		   "reinit=%s after=%s", virtio_corruption_name(kind), st,
		   !!(st & VIRTIO_CONFIG_S_NEEDS_RESET), used, reinit ? "fail" : "ok",
		   reinit ? "none" : vmem_resp_name(after));
	step_print_elapsed(w, t);
	if (!(st & VIRTIO_CONFIG_S_NEEDS_RESET))
		return "the device did not set DEVICE_NEEDS_RESET";
	if (reinit)
		return reinit;
	if (after != VMEM_ACK)
		return "a STATE request after the reset got no ACK";
	return config_check(vm);
}

/*
 * vmem-reset: device status 0 must read back 0; initialize again; plugged
 * blocks stay plugged (§5.15: a reset does not change block states).
 */
const char *step_vmem_reset(struct workload *w, const char *value)
{
	uint8_t before, after = 0xff;
	struct state_scan s = { 0 };
	struct vmem *vm;
	const char *why;
	bool zero;
	uint64_t t;

	if ((why = vmem_get(w, &vm)))
		return why;
	t = rdtsc();
	before = virtio_status(&vm->dev);
	vm->ready = false;
	zero = virtio_reset(&vm->dev);
	after = virtio_status(&vm->dev);
	if (!(why = vmem_reinit(vm, vm->msix)) && !(why = vmem_config_read(vm)))
		why = state_scan(vm, &s);
	t = rdtsc() - t;
	con_printf("memvmm-guest: vmem-reset before=0x%02x after=0x%02x plugged=%lu "
		   "driver_plugged=%lu mismatch=%lu", before, after, vm->cfg.plugged,
		   driver_plugged(vm), s.mismatch);
	step_print_elapsed(w, t);
	if (!zero || after)
		return "the device status did not read back 0 after the reset";
	if (why)
		return why;
	if (s.mismatch)
		return "block states changed across the reset";
	return config_check(vm);
}

/* Polls the queue vector's pending bit until it is WANT; returns whether it got there. */
static bool msix_pending_wait(const struct workload *w, const struct vmem *vm, bool want)
{
	uint64_t t0 = rdtsc();

	while (virtio_msix_pending(&vm->dev, MSIX_QUEUE_VECTOR) != want)
		if ((rdtsc() - t0) / cycles_per_ms(w) > MSIX_POLL_MS)
			return false;
	return true;
}

/*
 * vmem-msix: initialize again with MSI-X on, every vector masked; a
 * request's completion must leave the queue vector's pending bit set, and
 * unmasking must send it (the bit clears; the message goes to the local
 * APIC, where it waits behind IF=0). MSI-X stays enabled, vectors masked.
 */
const char *step_vmem_msix(struct workload *w, const char *value)
{
	bool pending_masked, pending_unmasked;
	struct vmem *vm;
	const char *why;
	enum vmem_resp r;

	if ((why = vmem_get(w, &vm)))
		return why;
	if (!vm->dev.msix_cap)
		return "the device has no MSI-X capability";
	if ((why = vmem_reinit(vm, true)))
		return why;
	if (vm->dev.q[0].vector != MSIX_QUEUE_VECTOR)
		return "the device did not take the queue's MSI-X vector";
	r = vmem_request(vm, VIRTIO_MEM_REQ_STATE, vm->cfg.addr, 1, NULL);
	/* The device may raise the vector a moment after the used index moved. */
	pending_masked = msix_pending_wait(w, vm, true);
	virtio_msix_mask(&vm->dev, MSIX_QUEUE_VECTOR, false);
	pending_unmasked = !msix_pending_wait(w, vm, false);
	virtio_msix_mask(&vm->dev, MSIX_QUEUE_VECTOR, true);
	con_printf("memvmm-guest: vmem-msix vectors=%u config_vector=%u queue_vector=%u resp=%s "
		   "pending_masked=%u pending_unmasked=%u\n", vm->dev.msix_vectors,
		   vm->dev.config_vector, vm->dev.q[0].vector, vmem_resp_name(r),
		   pending_masked, pending_unmasked);
	if (r != VMEM_ACK)
		return "a STATE request got no ACK";
	if (!pending_masked)
		return "no pending bit for a masked vector";
	return pending_unmasked ? "the pending bit stayed set after unmasking" : NULL;
}
