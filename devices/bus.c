// SPDX-License-Identifier: MIT
/*
 * Address-space bus: range registration and access dispatch.
 *
 * The range table is a struct bus_map: immutable once published, sorted by
 * base, reference-counted. The bus holds one reference on the current map,
 * each dispatch one on the map it searched. bus_register()/bus_unregister()
 * (serialized by update_lock) build a new map and swap it in; the old one is
 * freed by whoever drops its last reference. A dispatch takes its reference
 * inside a short "pinning" window (load the pointer, increment its count),
 * and a writer waits for the window to be empty before dropping the bus's
 * reference, so a map is never freed between a reader's load and increment.
 * No lock is held while a handler runs.
 *
 * Each range is a struct bus_entry shared by every map that contains it and
 * kept alive by them. Its inflight count says how many dispatches are inside
 * (or about to enter) its handler; bus_unregister() marks the entry dead after
 * publishing the map without it and waits until inflight falls to the number
 * of this thread's own dispatches to it (a thread-local list of frames). A
 * dispatch increments inflight before it checks dead, bus_unregister() sets
 * dead before it reads inflight (both sequentially consistent), so either the
 * dispatch sees dead and backs off or bus_unregister() sees it and waits.
 */
#include "devices/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ull

struct bus_entry {
	struct bus_range r;
	atomic_uint refs;      /* maps holding it, + 1 while bus_unregister() waits */
	atomic_uint inflight;  /* dispatches inside (or entering) its handler */
	atomic_bool dead;      /* unregistered: no new dispatch may enter */
};

struct bus_slot {
	uint64_t base;
	uint64_t len;
	struct bus_entry *e;
};

struct bus_map {
	atomic_uint refs;      /* the bus's while current, + 1 per dispatch */
	unsigned int nr;
	struct bus_slot slot[];  /* sorted by base, no overlaps */
};

/* This thread's running dispatches, innermost first (handlers may nest). */
struct bus_frame {
	const struct bus_entry *e;
	struct bus_frame *prev;
};
static __thread struct bus_frame *bus_frames;

static struct bus_map *map_alloc(unsigned int nr)
{
	struct bus_map *m = calloc(1, sizeof(*m) + (size_t)nr * sizeof(m->slot[0]));

	if (m)
		atomic_init(&m->refs, 1);
	return m;
}

static void entry_put(struct bus_entry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1)
		free(e);
}

static void map_put(struct bus_map *m)
{
	unsigned int i;

	if (atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	for (i = 0; i < m->nr; i++)
		entry_put(m->slot[i].e);
	free(m);
}

/* Add a slot for e to a map being built. */
static void map_append(struct bus_map *m, struct bus_entry *e)
{
	atomic_fetch_add(&e->refs, 1);
	m->slot[m->nr++] = (struct bus_slot){ .base = e->r.base, .len = e->r.len, .e = e };
}

/* A reference on the current map, for one dispatch. */
static struct bus_map *map_get(struct bus *b)
{
	struct bus_map *m;

	atomic_fetch_add(&b->pinning, 1);
	m = atomic_load(&b->map);
	atomic_fetch_add(&m->refs, 1);
	atomic_fetch_sub(&b->pinning, 1);
	return m;
}

/* Make m current and drop the bus's reference on the old map. update_lock held. */
static void map_publish(struct bus *b, struct bus_map *m)
{
	struct bus_map *old = atomic_exchange(&b->map, m);

	/* A reader may have loaded old without having counted itself yet. */
	while (atomic_load(&b->pinning))
		sched_yield();
	map_put(old);
}

int bus_init(struct bus *b, const char *name)
{
	struct bus_map *m;
	int ret;

	memset(b, 0, sizeof(*b));
	b->name = name;
	m = map_alloc(0);
	if (!m)
		return -ENOMEM;
	atomic_init(&b->map, m);
	atomic_init(&b->pinning, 0);
	ret = -pthread_mutex_init(&b->update_lock, NULL);
	if (ret)
		goto err_map;
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
err_map:
	map_put(m);
	return ret;
}

void bus_destroy(struct bus *b)
{
	map_put(atomic_load(&b->map));
	atomic_store(&b->map, NULL);
	pthread_mutex_destroy(&b->log_lock);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->wait_lock);
	pthread_mutex_destroy(&b->update_lock);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Inclusive ends: no range wraps, so a + alen - 1 cannot overflow. */
	return a <= b + blen - 1 && b <= a + alen - 1;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name,
		 const struct bus_handler *h, void *opaque)
{
	struct bus_map *cur, *m = NULL;
	struct bus_entry *e;
	unsigned int i, live = 0;
	bool placed = false;
	int ret = 0;

	if (!len || base + len - 1 < base || !h)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->r = (struct bus_range){
		.base = base, .len = len, .name = name, .handler = h, .opaque = opaque,
	};
	pthread_mutex_lock(&b->update_lock);
	cur = atomic_load(&b->map);
	/* Dead entries linger only when an unregister could not allocate: drop them now. */
	for (i = 0; i < cur->nr; i++) {
		if (atomic_load(&cur->slot[i].e->dead))
			continue;
		if (ranges_overlap(base, len, cur->slot[i].base, cur->slot[i].len)) {
			ret = -EEXIST;
			goto out;
		}
		live++;
	}
	if (live == BUS_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	m = map_alloc(live + 1);
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	m->nr = 0;
	for (i = 0; i < cur->nr; i++) {
		if (atomic_load(&cur->slot[i].e->dead))
			continue;
		if (!placed && cur->slot[i].base > base) {
			map_append(m, e);
			placed = true;
		}
		map_append(m, cur->slot[i].e);
	}
	if (!placed)
		map_append(m, e);
	map_publish(b, m);
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
	cur = atomic_load(&b->map);
	for (i = 0; i < cur->nr; i++) {
		if (cur->slot[i].base == base && !atomic_load(&cur->slot[i].e->dead)) {
			e = cur->slot[i].e;
			break;
		}
	}
	if (!e) {
		pthread_mutex_unlock(&b->update_lock);
		return;
	}
	atomic_fetch_add(&e->refs, 1);  /* ours, while we wait */
	m = map_alloc(cur->nr - 1);
	if (m) {
		for (i = 0; i < cur->nr; i++)
			if (cur->slot[i].e != e && !atomic_load(&cur->slot[i].e->dead))
				map_append(m, cur->slot[i].e);
		map_publish(b, m);
	}
	/*
	 * Without memory for a new map, e stays in the current one, dead:
	 * dispatches treat it as unclaimed and the next registration drops it.
	 */
	atomic_store(&e->dead, true);
	pthread_mutex_unlock(&b->update_lock);

	own = own_dispatches(e);
	pthread_mutex_lock(&b->wait_lock);
	while (atomic_load(&e->inflight) > own)
		pthread_cond_wait(&b->idle, &b->wait_lock);
	pthread_mutex_unlock(&b->wait_lock);
	entry_put(e);
}

/* A dispatch leaves e's handler (or backs off from it). */
static void entry_leave(struct bus *b, struct bus_entry *e)
{
	atomic_fetch_sub(&e->inflight, 1);
	if (atomic_load(&e->dead)) {
		pthread_mutex_lock(&b->wait_lock);
		pthread_cond_broadcast(&b->idle);
		pthread_mutex_unlock(&b->wait_lock);
	}
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
 * entry found dead was unregistered after this dispatch took its map: look
 * again in the new map, or call it unclaimed if the map did not change (the
 * unregister could not allocate one).
 */
static bool bus_dispatch(struct bus *b, uint64_t addr, unsigned int size, bool is_write,
			 uint64_t *val)
{
	const struct bus_slot *s;
	struct bus_frame frame;
	struct bus_entry *e;
	struct bus_map *m;
	bool retry;

	for (;;) {
		m = map_get(b);
		s = map_find(m, addr, size);
		if (!s) {
			map_put(m);
			return false;
		}
		e = s->e;
		atomic_fetch_add(&e->inflight, 1);
		if (!atomic_load(&e->dead))
			break;
		entry_leave(b, e);
		retry = atomic_load(&b->map) != m;
		map_put(m);
		if (!retry)
			return false;
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
	entry_leave(b, e);
	map_put(m);
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
