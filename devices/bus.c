// SPDX-License-Identifier: MIT
/* Address-space bus: range registration and access dispatch. */
#include "devices/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ull

int bus_init(struct bus *b, const char *name)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->name = name;
	ret = pthread_rwlock_init(&b->lock, NULL);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&b->log_lock, NULL);
	if (ret) {
		pthread_rwlock_destroy(&b->lock);
		return -ret;
	}
	return 0;
}

void bus_destroy(struct bus *b)
{
	pthread_rwlock_destroy(&b->lock);
	pthread_mutex_destroy(&b->log_lock);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Inclusive ends: no range wraps, so a + alen - 1 cannot overflow. */
	return a <= b + blen - 1 && b <= a + alen - 1;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name,
		 const struct bus_handler *h, void *opaque)
{
	unsigned int i, pos;
	int ret = 0;

	if (!len || base + len - 1 < base || !h)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	if (b->nr == BUS_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	for (i = 0; i < b->nr; i++) {
		if (ranges_overlap(base, len, b->range[i].base, b->range[i].len)) {
			ret = -EEXIST;
			goto out;
		}
	}
	for (pos = 0; pos < b->nr && b->range[pos].base < base; pos++)
		;
	memmove(&b->range[pos + 1], &b->range[pos],
		(b->nr - pos) * sizeof(b->range[0]));
	b->range[pos] = (struct bus_range){
		.base = base, .len = len, .name = name, .handler = h, .opaque = opaque,
	};
	b->nr++;
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

void bus_unregister(struct bus *b, uint64_t base)
{
	unsigned int i;

	pthread_rwlock_wrlock(&b->lock);
	for (i = 0; i < b->nr; i++) {
		if (b->range[i].base == base) {
			memmove(&b->range[i], &b->range[i + 1],
				(b->nr - i - 1) * sizeof(b->range[0]));
			b->nr--;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
}

/* Binary search; the access must lie wholly inside one range. Lock held. */
static const struct bus_range *bus_find(const struct bus *b, uint64_t addr,
					unsigned int size)
{
	unsigned int lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->range[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			if (size > r->len - (addr - r->base))
				return NULL;
			return r;
		}
	}
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void bus_log_flush(struct bus *b)
{
	pthread_mutex_lock(&b->log_lock);
	if (b->log && b->log_suppressed)
		fprintf(b->log, "memvmm: debug: %s: %" PRIu64 " more unclaimed accesses not shown\n",
			b->name, b->log_suppressed);
	b->log_suppressed = 0;
	pthread_mutex_unlock(&b->log_lock);
}

static void bus_log_unclaimed(struct bus *b, const char *what, uint64_t addr,
			      unsigned int size, uint64_t val)
{
	uint64_t now;

	if (!b->log)
		return;
	pthread_mutex_lock(&b->log_lock);
	now = now_ns();
	if (now - b->log_window_start_ns >= NSEC_PER_SEC) {
		if (b->log_suppressed)
			fprintf(b->log, "memvmm: debug: %s: %" PRIu64
				" more unclaimed accesses not shown\n",
				b->name, b->log_suppressed);
		b->log_window_start_ns = now;
		b->log_lines_in_window = 0;
		b->log_suppressed = 0;
	}
	if (b->log_lines_in_window < BUS_LOG_LINES_PER_SEC) {
		b->log_lines_in_window++;
		fprintf(b->log, "memvmm: debug: %s: unclaimed %s addr=0x%" PRIx64
			" size=%u value=0x%" PRIx64 "\n", b->name, what, addr, size, val);
	} else {
		b->log_suppressed++;
	}
	pthread_mutex_unlock(&b->log_lock);
}

static uint64_t all_ones(unsigned int size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

bool bus_read(struct bus *b, uint64_t addr, unsigned int size, uint64_t *val)
{
	const struct bus_range *r;

	pthread_rwlock_rdlock(&b->lock);
	r = bus_find(b, addr, size);
	if (r && r->handler->read)
		*val = r->handler->read(r->opaque, addr - r->base, size) & all_ones(size);
	else
		*val = all_ones(size);
	pthread_rwlock_unlock(&b->lock);
	if (!r)
		bus_log_unclaimed(b, "read", addr, size, *val);
	return r != NULL;
}

bool bus_write(struct bus *b, uint64_t addr, unsigned int size, uint64_t val)
{
	const struct bus_range *r;

	pthread_rwlock_rdlock(&b->lock);
	r = bus_find(b, addr, size);
	if (r && r->handler->write)
		r->handler->write(r->opaque, addr - r->base, size, val & all_ones(size));
	pthread_rwlock_unlock(&b->lock);
	if (!r)
		bus_log_unclaimed(b, "write", addr, size, val);
	return r != NULL;
}
