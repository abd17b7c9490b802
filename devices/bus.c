// SPDX-License-Identifier: MIT
/*
 * Address-space bus: range registration and access dispatch.
 *
 * The range table is a struct bus_map: sorted by base, never changed while
 * it is current. bus_register()/bus_unregister() (serialized by update_lock)
 * fill the spare map and swap it in. A dispatch holds swap_lock for reading
 * only while it searches the current map and takes a reference on the range
 * it found; the swap holds it for writing, so the old map, the next spare,
 * is no longer searched by anyone. swap_lock prefers writers: a stream of
 * dispatches cannot starve a swap. No lock is held while a handler runs, and
 * nothing is allocated but the ranges.
 *
 * Each range is a struct bus_entry, reference-counted: one reference while
 * it is in the current map, one per dispatch that found it, one while
 * bus_unregister() waits on it. bus_unregister() publishes the map without
 * the entry, marks it dead and waits until the references left are its own
 * and those of this thread's own dispatches to it (a thread-local list of
 * frames). A dispatch takes its reference before it checks dead, and
 * bus_unregister() sets dead before it reads the count (all sequentially
 * consistent), so either the dispatch sees dead and backs off, or
 * bus_unregister() sees its reference and waits for it. A dispatch that
 * drops a reference while some bus_unregister() waits (bus.waiters) wakes
 * it; it never touches the entry after its own reference is gone.
 */
#include "devices/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ull

struct bus_entry {
	struct bus_range r;
	atomic_uint refs;      /* current map + dispatches + a waiting bus_unregister() */
	atomic_bool dead;      /* unregistered: no new dispatch may enter */
};

struct bus_slot {
	uint64_t base;
	uint64_t len;
	struct bus_entry *e;
};

struct bus_map {
	unsigned int nr;
	struct bus_slot slot[BUS_MAX_RANGES];  /* sorted by base, no overlaps */
};

/* This thread's running dispatches, innermost first (handlers may nest). */
struct bus_frame {
	const struct bus_entry *e;
	struct bus_frame *prev;
};
static __thread struct bus_frame *bus_frames;

/* Drop a reference; wake bus_unregister() callers that may wait for it. */
static void entry_put(struct bus *b, struct bus_entry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1) {
		free(e);
		return;
	}
	if (atomic_load(&b->waiters)) {
		pthread_mutex_lock(&b->wait_lock);
		pthread_cond_broadcast(&b->idle);
		pthread_mutex_unlock(&b->wait_lock);
	}
}

static void map_append(struct bus_map *m, struct bus_entry *e)
{
	m->slot[m->nr++] = (struct bus_slot){ .base = e->r.base, .len = e->r.len, .e = e };
}

/* Make the spare map (now filled) current; the old one becomes the spare. update_lock held. */
static void map_publish(struct bus *b)
{
	struct bus_map *old;

	pthread_rwlock_wrlock(&b->swap_lock);
	old = b->map;
	b->map = b->spare;
	pthread_rwlock_unlock(&b->swap_lock);
	b->spare = old;
}

int bus_init(struct bus *b, const char *name)
{
	pthread_rwlockattr_t attr;
	struct bus_map *m;
	int ret;

	memset(b, 0, sizeof(*b));
	b->name = name;
	m = calloc(1, sizeof(*m));
	b->spare = calloc(1, sizeof(*b->spare));
	if (!m || !b->spare) {
		ret = -ENOMEM;
		goto err_maps;
	}
	b->map = m;
	atomic_init(&b->waiters, 0);
	ret = -pthread_rwlockattr_init(&attr);
	if (ret)
		goto err_maps;
	ret = -pthread_rwlockattr_setkind_np(&attr,
					     PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!ret)
		ret = -pthread_rwlock_init(&b->swap_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret)
		goto err_maps;
	ret = -pthread_mutex_init(&b->update_lock, NULL);
	if (ret)
		goto err_swap;
	ret = -pthread_mutex_init(&b->wait_lock, NULL);
	if (ret)
		goto err_update;
	ret = -pthread_cond_init(&b->idle, NULL);
	if (ret)
		goto err_wait;
	ret = -pthread_mutex_init(&b->log_lock, NULL);
	if (ret)
		goto err_cond;
	return 0;
err_cond:
	pthread_cond_destroy(&b->idle);
err_wait:
	pthread_mutex_destroy(&b->wait_lock);
err_update:
	pthread_mutex_destroy(&b->update_lock);
err_swap:
	pthread_rwlock_destroy(&b->swap_lock);
err_maps:
	free(b->spare);
	free(m);
	return ret;
}

void bus_destroy(struct bus *b)
{
	struct bus_map *m = b->map;
	unsigned int i;

	b->map = NULL;
	for (i = 0; i < m->nr; i++)
		entry_put(b, m->slot[i].e);
	free(m);
	free(b->spare);
	b->spare = NULL;
	pthread_mutex_destroy(&b->log_lock);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->wait_lock);
	pthread_mutex_destroy(&b->update_lock);
	pthread_rwlock_destroy(&b->swap_lock);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Inclusive ends: no range wraps, so a + alen - 1 cannot overflow. */
	return a <= b + blen - 1 && b <= a + alen - 1;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name,
		 const struct bus_handler *h, void *opaque)
{
	struct bus_map *cur, *m;
	struct bus_entry *e;
	unsigned int i;
	int ret = 0;

	if (!len || base + len - 1 < base || !h)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->r = (struct bus_range){
		.base = base, .len = len, .name = name, .handler = h, .opaque = opaque,
	};
	atomic_init(&e->refs, 1);  /* the map's */
	atomic_init(&e->dead, false);
	pthread_mutex_lock(&b->update_lock);
	cur = b->map;  /* only writers change it, and we are the writer */
	if (cur->nr == BUS_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	for (i = 0; i < cur->nr; i++) {
		if (ranges_overlap(base, len, cur->slot[i].base, cur->slot[i].len)) {
			ret = -EEXIST;
			goto out;
		}
	}
	m = b->spare;
	m->nr = 0;
	for (i = 0; i < cur->nr && cur->slot[i].base < base; i++)
		map_append(m, cur->slot[i].e);
	map_append(m, e);
	for (; i < cur->nr; i++)
		map_append(m, cur->slot[i].e);
	map_publish(b);
	e = NULL;  /* the map holds it now */
out:
	pthread_mutex_unlock(&b->update_lock);
	free(e);
	return ret;
}

/* How many of this thread's running dispatches are in e's handler. */
static unsigned int own_dispatches(const struct bus_entry *e)
{
	const struct bus_frame *f;
	unsigned int n = 0;

	for (f = bus_frames; f; f = f->prev)
		n += f->e == e;
	return n;
}

void bus_unregister(struct bus *b, uint64_t base)
{
	struct bus_entry *e = NULL;
	struct bus_map *cur, *m;
	unsigned int i, own;

	pthread_mutex_lock(&b->update_lock);
	cur = b->map;
	m = b->spare;
	m->nr = 0;
	for (i = 0; i < cur->nr; i++) {
		if (cur->slot[i].base == base)
			e = cur->slot[i].e;
		else
			map_append(m, cur->slot[i].e);
	}
	if (!e) {
		pthread_mutex_unlock(&b->update_lock);
		return;
	}
	map_publish(b);
	/* The map's reference becomes ours, for the wait. */
	atomic_store(&e->dead, true);
	pthread_mutex_unlock(&b->update_lock);

	own = own_dispatches(e);
	atomic_fetch_add(&b->waiters, 1);
	pthread_mutex_lock(&b->wait_lock);
	while (atomic_load(&e->refs) > 1 + own)
		pthread_cond_wait(&b->idle, &b->wait_lock);
	pthread_mutex_unlock(&b->wait_lock);
	atomic_fetch_sub(&b->waiters, 1);
	entry_put(b, e);
}

/* Binary search; the access must lie wholly inside one range. */
static const struct bus_slot *map_find(const struct bus_map *m, uint64_t addr,
				       unsigned int size)
{
	unsigned int lo = 0, hi = m->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_slot *s = &m->slot[mid];

		if (addr < s->base) {
			hi = mid;
		} else if (addr - s->base >= s->len) {
			lo = mid + 1;
		} else {
			if (size > s->len - (addr - s->base))
				return NULL;
			return s;
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

/*
 * Run one access through the handler claiming it; false if none does. An
 * entry found dead was unregistered after this dispatch loaded its map: the
 * map without it is already current, so look again.
 */
static bool bus_dispatch(struct bus *b, uint64_t addr, unsigned int size, bool is_write,
			 uint64_t *val)
{
	const struct bus_slot *s;
	struct bus_frame frame;
	struct bus_entry *e;

	for (;;) {
		pthread_rwlock_rdlock(&b->swap_lock);
		s = map_find(b->map, addr, size);
		e = s ? s->e : NULL;
		if (e)
			atomic_fetch_add(&e->refs, 1);
		pthread_rwlock_unlock(&b->swap_lock);
		if (!e)
			return false;
		if (!atomic_load(&e->dead))
			break;
		entry_put(b, e);
	}
	frame = (struct bus_frame){ .e = e, .prev = bus_frames };
	bus_frames = &frame;
	if (is_write) {
		if (e->r.handler->write)
			e->r.handler->write(e->r.opaque, addr - e->r.base, size, *val);
	} else {
		*val = e->r.handler->read ?
		       e->r.handler->read(e->r.opaque, addr - e->r.base, size) & all_ones(size) :
		       all_ones(size);
	}
	bus_frames = frame.prev;
	entry_put(b, e);
	return true;
}

bool bus_read(struct bus *b, uint64_t addr, unsigned int size, uint64_t *val)
{
	if (bus_dispatch(b, addr, size, false, val))
		return true;
	*val = all_ones(size);
	bus_log_unclaimed(b, "read", addr, size, *val);
	return false;
}

bool bus_write(struct bus *b, uint64_t addr, unsigned int size, uint64_t val)
{
	uint64_t v = val & all_ones(size);

	if (bus_dispatch(b, addr, size, true, &v))
		return true;
	bus_log_unclaimed(b, "write", addr, size, val);
	return false;
}
