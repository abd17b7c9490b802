// SPDX-License-Identifier: MIT
/*
 * The device bus: registration rules, dispatch, unclaimed accesses, and
 * handlers that (un)register ranges while other threads dispatch.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/bus.h"
#include "tests/test.h"

struct fake_dev {
	uint64_t last_off, last_val;
	unsigned int last_size, reads, writes;
};

static uint64_t fake_read(void *opaque, uint64_t off, unsigned int size)
{
	struct fake_dev *d = opaque;

	d->reads++;
	d->last_off = off;
	d->last_size = size;
	return 0x1122334455667788ull;  /* the bus masks it to the access size */
}

static void fake_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct fake_dev *d = opaque;

	d->writes++;
	d->last_off = off;
	d->last_size = size;
	d->last_val = val;
}

static const struct bus_handler fake = { .read = fake_read, .write = fake_write };

static void test_register(void)
{
	struct fake_dev a = { 0 };
	unsigned int i, nr;
	struct bus b;
	uint64_t v;

	TEST_OK(bus_init(&b, "test"));
	TEST_OK(bus_register(&b, 0x100, 8, "a", &fake, &a));
	TEST_ASSERT(bus_register(&b, 0x107, 1, "x", &fake, &a) == -EEXIST, "overlap at end");
	TEST_ASSERT(bus_register(&b, 0xf8, 9, "x", &fake, &a) == -EEXIST, "overlap at start");
	TEST_ASSERT(bus_register(&b, 0x0, 0x1000, "x", &fake, &a) == -EEXIST, "covering");
	TEST_ASSERT(bus_register(&b, 0x200, 0, "x", &fake, &a) == -EINVAL, "empty");
	TEST_ASSERT(bus_register(&b, UINT64_MAX, 2, "x", &fake, &a) == -EINVAL, "wrapping");
	TEST_ASSERT(bus_register(&b, 0x200, 1, "x", NULL, &a) == -EINVAL, "no handler");
	TEST_OK(bus_register(&b, UINT64_MAX, 1, "last", &fake, &a));
	TEST_OK(bus_register(&b, 0xf8, 8, "adjacent below", &fake, &a));
	TEST_OK(bus_register(&b, 0x108, 8, "adjacent above", &fake, &a));
	nr = 4;
	/* Fill in descending order, so that every insertion lands in front. */
	for (i = BUS_MAX_RANGES - 1; i >= nr; i--)
		TEST_OK(bus_register(&b, 0x10000 + i * 16, 16, "fill", &fake, &a));
	TEST_ASSERT(bus_register(&b, 0x1, 1, "x", &fake, &a) == -ENOSPC, "full at %u",
		    BUS_MAX_RANGES);
	/* The binary search finds every range only if the table stayed sorted. */
	for (i = nr; i < BUS_MAX_RANGES; i++)
		TEST_ASSERT(bus_read(&b, 0x10000 + i * 16 + 15, 1, &v), "range %u found", i);
	TEST_ASSERT(bus_read(&b, 0xf8, 1, &v) && bus_read(&b, 0x10f, 1, &v) &&
		    bus_read(&b, UINT64_MAX, 1, &v), "edge ranges found");
	bus_unregister(&b, 0x100);
	bus_unregister(&b, 0x100);      /* already gone: nothing happens */
	bus_unregister(&b, 0x101);      /* not a base: nothing happens */
	TEST_ASSERT(!bus_read(&b, 0x100, 1, &v) && bus_read(&b, 0x108, 1, &v), "unregistered");
	TEST_OK(bus_register(&b, 0x100, 8, "again", &fake, &a));
	bus_destroy(&b);
	TEST_PASS("registration: overlaps, bounds, capacity, unregister");
}

static void test_dispatch(void)
{
	struct fake_dev a = { 0 }, c = { 0 };
	struct bus b;
	uint64_t v;

	TEST_OK(bus_init(&b, "test"));
	b.log = fopen("/dev/null", "w");
	TEST_OK(bus_register(&b, 0x3f8, 8, "a", &fake, &a));
	TEST_OK(bus_register(&b, 0xd0000000, 0x1000, "c", &fake, &c));

	TEST_ASSERT(bus_write(&b, 0x3fb, 1, 0x1ff), "claimed write");
	TEST_ASSERT(a.writes == 1 && a.last_off == 3 && a.last_size == 1 && a.last_val == 0xff,
		    "write masked to its size: off %lu val 0x%lx", (long)a.last_off,
		    (long)a.last_val);
	TEST_ASSERT(bus_read(&b, 0x3fc, 2, &v) && v == 0x7788 && a.last_off == 4, "read 0x%lx",
		    (long)v);
	TEST_ASSERT(bus_read(&b, 0xd0000ff8, 8, &v) && v == 0x1122334455667788ull &&
		    c.last_off == 0xff8, "8-byte MMIO read");

	/* Unclaimed: reads are all ones, writes dropped, no device sees them. */
	TEST_ASSERT(!bus_read(&b, 0x80, 1, &v) && v == 0xff, "unclaimed 1-byte read 0x%lx",
		    (long)v);
	TEST_ASSERT(!bus_read(&b, 0x80, 4, &v) && v == 0xffffffffull, "4-byte");
	TEST_ASSERT(!bus_read(&b, 0x80, 8, &v) && v == UINT64_MAX, "8-byte");
	TEST_ASSERT(!bus_write(&b, 0x80, 4, 1), "unclaimed write");
	/* An access straddling the end of a range is not the device's. */
	TEST_ASSERT(!bus_read(&b, 0x3fe, 4, &v) && v == 0xffffffffull, "straddling read");
	TEST_ASSERT(!bus_write(&b, 0xd0000ffe, 4, 0), "straddling write");
	TEST_ASSERT(a.reads == 1 && a.writes == 1 && c.writes == 0, "devices untouched");
	fclose(b.log);
	bus_destroy(&b);
	TEST_PASS("dispatch: offsets, sizes, unclaimed all-ones");
}

static void test_log_rate_limit(void)
{
	char *text = NULL;
	size_t len = 0, lines = 0;
	struct bus b;
	uint64_t v;
	char *p;
	int i;

	TEST_OK(bus_init(&b, "pio"));
	b.log = open_memstream(&text, &len);
	for (i = 0; i < 1000; i++)
		bus_read(&b, 0x80, 1, &v);
	fflush(b.log);
	for (p = text; (p = strstr(p, "unclaimed read")); p++)
		lines++;
	TEST_ASSERT(lines == BUS_LOG_LINES_PER_SEC, "%zu lines logged for 1000 accesses", lines);
	TEST_ASSERT(b.log_suppressed == 1000 - BUS_LOG_LINES_PER_SEC, "suppressed %lu",
		    (long)b.log_suppressed);
	TEST_ASSERT(strstr(text, "addr=0x80 size=1"), "log names the access: %s", text);
	fclose(b.log);
	free(text);
	bus_destroy(&b);
	TEST_PASS("unclaimed-access log is rate-limited");
}

/* ---- handlers that change the bus ------------------------------------------ */

#define BAR_LEN 16
#define BAR_OFF_MOVE 0       /* write NEW_BASE: the range moves there */
#define BAR_OFF_ADD 4        /* write BASE: a fake device is registered there */
#define BAR_OFF_REMOVE 8     /* write BASE: the range there is unregistered */
#define BAR_OFF_PEEK 12      /* read: a nested dispatch to peek_addr */

/* A device with a movable range, like a PCI BAR. */
struct bar_dev {
	struct bus *b;
	uint64_t base;
	int move_ret, add_ret;
	unsigned int accesses;
	uint64_t peek_addr;
	struct fake_dev other;
};

static const struct bus_handler bar_handler;

static uint64_t bar_read(void *opaque, uint64_t off, unsigned int size)
{
	struct bar_dev *d = opaque;
	uint64_t v = 0;

	d->accesses++;
	if (off == BAR_OFF_PEEK && !bus_read(d->b, d->peek_addr, 1, &v))
		return 0xdead;
	return v;
}

static void bar_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct bar_dev *d = opaque;

	d->accesses++;
	switch (off) {
	case BAR_OFF_MOVE:
		bus_unregister(d->b, d->base);
		d->move_ret = bus_register(d->b, val, BAR_LEN, "bar", &bar_handler, d);
		if (!d->move_ret)
			d->base = val;
		d->accesses++;  /* still ours: no other dispatch can free it */
		break;
	case BAR_OFF_ADD:
		d->add_ret = bus_register(d->b, val, 16, "other", &fake, &d->other);
		break;
	case BAR_OFF_REMOVE:
		bus_unregister(d->b, val);
		break;
	}
}

static const struct bus_handler bar_handler = { .read = bar_read, .write = bar_write };

static void test_handler_changes_bus(void)
{
	struct bar_dev d = { 0 };
	struct bus b;
	uint64_t v;

	TEST_OK(bus_init(&b, "test"));
	d.b = &b;
	d.base = 0x1000;
	TEST_OK(bus_register(&b, 0x1000, BAR_LEN, "bar", &bar_handler, &d));

	/* Moving onto part of its own old range, then somewhere else. */
	TEST_ASSERT(bus_write(&b, 0x1000 + BAR_OFF_MOVE, 4, 0x1008), "move 1");
	TEST_ASSERT(d.move_ret == 0 && d.base == 0x1008 && d.accesses == 2, "moved: %d",
		    d.move_ret);
	TEST_ASSERT(!bus_read(&b, 0x1000, 1, &v) && bus_read(&b, 0x1008, 1, &v) &&
		    bus_read(&b, 0x1017, 1, &v), "old range gone, new one claimed");
	TEST_ASSERT(bus_write(&b, 0x1008 + BAR_OFF_MOVE, 4, 0x2000), "move 2");
	TEST_ASSERT(d.move_ret == 0 && d.base == 0x2000, "moved again");
	TEST_ASSERT(!bus_read(&b, 0x1008, 1, &v) && bus_read(&b, 0x2000, 1, &v), "claims");

	/* Registering and unregistering another range from the handler. */
	TEST_ASSERT(bus_write(&b, 0x2000 + BAR_OFF_ADD, 4, 0x3000), "add");
	TEST_ASSERT(d.add_ret == 0, "added: %d", d.add_ret);
	TEST_ASSERT(bus_write(&b, 0x3004, 1, 0x5a) && d.other.writes == 1 &&
		    d.other.last_val == 0x5a, "the added range works");
	TEST_ASSERT(bus_write(&b, 0x2000 + BAR_OFF_ADD, 4, 0x2008), "add overlapping");
	TEST_ASSERT(d.add_ret == -EEXIST, "refused inside a handler too: %d", d.add_ret);
	TEST_ASSERT(bus_write(&b, 0x2000 + BAR_OFF_REMOVE, 4, 0x3000), "remove");
	TEST_ASSERT(!bus_write(&b, 0x3004, 1, 0) && d.other.writes == 1, "removed");

	/* A handler may dispatch again (nested), to itself too. */
	d.peek_addr = 0x2001;
	TEST_ASSERT(bus_read(&b, 0x2000 + BAR_OFF_PEEK, 1, &v) && v == 0, "nested: 0x%lx",
		    (long)v);
	d.peek_addr = 0x9999;
	TEST_ASSERT(bus_read(&b, 0x2000 + BAR_OFF_PEEK, 2, &v) && v == 0xdead, "nested miss");

	/* Unregistering itself without registering again. */
	TEST_ASSERT(bus_write(&b, 0x2000 + BAR_OFF_REMOVE, 4, 0x2000), "remove self");
	TEST_ASSERT(!bus_read(&b, 0x2000, 1, &v), "gone");
	bus_destroy(&b);
	TEST_PASS("handlers move their range, (un)register others, dispatch nested");
}

/* ---- bus_unregister() waits for dispatches on other threads -------------- */

struct gate_dev {
	struct bus *b;
	atomic_int entered, left, release, unregistered;
};

/* The first dispatch waits for release; later ones unregister the range. */
static uint64_t gate_read(void *opaque, uint64_t off, unsigned int size)
{
	struct gate_dev *g = opaque;

	if (atomic_fetch_add(&g->entered, 1) == 0) {
		while (!atomic_load(&g->release))
			sched_yield();
	} else {
		bus_unregister(g->b, 0x80);
		atomic_store(&g->unregistered, 1);
	}
	atomic_fetch_add(&g->left, 1);
	return 1;
}

static const struct bus_handler gate = { .read = gate_read };

static void *gate_reader(void *arg)
{
	struct gate_dev *g = arg;
	uint64_t v;

	TEST_ASSERT(bus_read(g->b, 0x80, 1, &v) && v == 1, "dispatched");
	return NULL;
}

static void *gate_unregister(void *arg)
{
	struct gate_dev *g = arg;

	bus_unregister(g->b, 0x80);
	/* The blocked handler has returned, so its opaque could be freed now. */
	TEST_ASSERT(atomic_load(&g->left) == 1, "unregister returned while a handler ran");
	atomic_store(&g->unregistered, 1);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

static void wait_for(atomic_int *v, int want)
{
	int i;

	for (i = 0; i < 5000 && atomic_load(v) != want; i++)
		sleep_ms(1);
	TEST_ASSERT(atomic_load(v) == want, "waited 5 s for %d, have %d", want, atomic_load(v));
}

static void test_unregister_waits(bool from_handler)
{
	struct gate_dev g = { 0 };
	pthread_t t1, t2;
	struct bus b;
	uint64_t v;

	TEST_OK(bus_init(&b, "test"));
	g.b = &b;
	TEST_OK(bus_register(&b, 0x80, 1, "gate", &gate, &g));
	TEST_ASSERT(pthread_create(&t1, NULL, gate_reader, &g) == 0, "thread");
	wait_for(&g.entered, 1);
	/*
	 * The second thread unregisters either directly or from inside the
	 * range's own handler: both must wait for the first dispatch, and the
	 * second must not wait for itself.
	 */
	TEST_ASSERT(pthread_create(&t2, NULL, from_handler ? gate_reader : gate_unregister,
				   &g) == 0, "thread");
	if (from_handler)
		wait_for(&g.entered, 2);
	sleep_ms(50);
	TEST_ASSERT(!atomic_load(&g.unregistered), "bus_unregister() did not wait");
	TEST_ASSERT(!bus_read(&b, 0x80, 1, &v), "no new dispatch enters meanwhile");
	atomic_store(&g.release, 1);
	TEST_ASSERT(pthread_join(t1, NULL) == 0 && pthread_join(t2, NULL) == 0, "join");
	TEST_ASSERT(atomic_load(&g.unregistered) && atomic_load(&g.left) == (from_handler ? 2 : 1),
		    "done");
	bus_destroy(&b);
	TEST_PASS(from_handler ? "unregister from its own handler waits for other threads only" :
		  "unregister waits for a running dispatch");
}

/* ---- stress: dispatch from several threads while ranges move ------------- */

#define STRESS_READERS 4
#define STRESS_DEVS 4
#define STRESS_SLOTS 8        /* places the moved devices go between */
#define STRESS_SLOT_BYTES 0x100
#define STRESS_SELF_SLOTS 4   /* places the self-moving device goes between */
#define STRESS_SELF_BASE 0x10000
#define STRESS_DURATION_MS 500
#define STRESS_ALIVE 0xa11fe
#define STRESS_DEAD 0xdead

struct stress_dev {
	unsigned int magic;
	uint64_t base;
};

static struct {
	struct bus b;
	atomic_bool stop;
	atomic_ulong dispatched, claimed, moves, self_moves;
	_Atomic uint64_t self_base;   /* where the self-moving range is now */
} st;

static uint64_t stress_read(void *opaque, uint64_t off, unsigned int size)
{
	struct stress_dev *d = opaque;
	unsigned int i;

	/* Stay a while, touching the device: ASan sees any use after free. */
	for (i = 0; i < 16; i++)
		TEST_ASSERT(d->magic == STRESS_ALIVE, "handler ran on a released device");
	atomic_fetch_add(&st.dispatched, 1);
	return d->base;
}

static const struct bus_handler stress_handler = { .read = stress_read };

static const struct bus_handler self_handler;

/* Writing the range's base moves the range on to the next place. */
static void self_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	uint64_t cur = val, next;

	next = STRESS_SELF_BASE + (cur - STRESS_SELF_BASE + STRESS_SLOT_BYTES) %
	       (STRESS_SELF_SLOTS * STRESS_SLOT_BYTES);
	/* Whoever wins the exchange moves it; stale writers see another base. */
	if (!atomic_compare_exchange_strong(&st.self_base, &cur, next))
		return;
	bus_unregister(&st.b, val);
	TEST_OK(bus_register(&st.b, next, STRESS_SLOT_BYTES, "self", &self_handler, opaque));
	atomic_fetch_add(&st.self_moves, 1);
}

static const struct bus_handler self_handler = { .read = stress_read, .write = self_write };

static void *stress_reader(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, slot;
	uint64_t v, addr;

	while (!atomic_load(&st.stop)) {
		seed = seed * 1103515245u + 12345u;
		slot = (seed >> 16) % STRESS_SLOTS;
		addr = (uint64_t)slot * STRESS_SLOT_BYTES;
		if (bus_read(&st.b, addr + (seed & 0xff), 1, &v)) {
			TEST_ASSERT(v == (addr & 0xff), "read 0x%lx from slot at 0x%lx", (long)v,
				    (long)addr);
			atomic_fetch_add(&st.claimed, 1);
		}
		if (!(seed & 0x700)) {
			addr = atomic_load(&st.self_base);
			(void)bus_write(&st.b, addr, 8, addr);
		}
	}
	return NULL;
}

static struct stress_dev *stress_dev_new(uint64_t base)
{
	struct stress_dev *d = malloc(sizeof(*d));

	TEST_ASSERT(d, "malloc");
	d->magic = STRESS_ALIVE;
	d->base = base;
	return d;
}

/* Move the devices around, releasing each one's memory once unregistered. */
static void stress_move(struct stress_dev **dev, bool *used, unsigned int *slot_of,
			unsigned int step)
{
	unsigned int i = step % STRESS_DEVS, slot = (slot_of[i] + 1 + step / 3) % STRESS_SLOTS;
	struct stress_dev *d = dev[i];

	while (used[slot])
		slot = (slot + 1) % STRESS_SLOTS;
	bus_unregister(&st.b, d->base);
	d->magic = STRESS_DEAD;
	free(d);
	used[slot_of[i]] = false;
	dev[i] = stress_dev_new((uint64_t)slot * STRESS_SLOT_BYTES);
	TEST_OK(bus_register(&st.b, dev[i]->base, STRESS_SLOT_BYTES, "moving", &stress_handler,
			     dev[i]));
	used[slot] = true;
	slot_of[i] = slot;
	atomic_fetch_add(&st.moves, 1);
}

static void test_stress(void)
{
	struct stress_dev *dev[STRESS_DEVS], *self;
	unsigned int slot_of[STRESS_DEVS], i, step;
	bool used[STRESS_SLOTS] = { false };
	pthread_t reader[STRESS_READERS];
	struct timespec t0, t;

	TEST_OK(bus_init(&st.b, "stress"));
	for (i = 0; i < STRESS_DEVS; i++) {
		slot_of[i] = i * 2;
		used[i * 2] = true;
		dev[i] = stress_dev_new((uint64_t)i * 2 * STRESS_SLOT_BYTES);
		TEST_OK(bus_register(&st.b, dev[i]->base, STRESS_SLOT_BYTES, "moving",
				     &stress_handler, dev[i]));
	}
	self = stress_dev_new(0);
	atomic_store(&st.self_base, STRESS_SELF_BASE);
	TEST_OK(bus_register(&st.b, STRESS_SELF_BASE, STRESS_SLOT_BYTES, "self", &self_handler,
			     self));
	for (i = 0; i < STRESS_READERS; i++)
		TEST_ASSERT(pthread_create(&reader[i], NULL, stress_reader,
					   (void *)(uintptr_t)(i + 1)) == 0, "thread");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (step = 0;; step++) {
		stress_move(dev, used, slot_of, step);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >=
		    STRESS_DURATION_MS)
			break;
	}
	atomic_store(&st.stop, true);
	for (i = 0; i < STRESS_READERS; i++)
		TEST_ASSERT(pthread_join(reader[i], NULL) == 0, "join");
	printf("# %lu moves, %lu self-moves, %lu dispatches, %lu claimed reads\n",
	       atomic_load(&st.moves), atomic_load(&st.self_moves),
	       atomic_load(&st.dispatched), atomic_load(&st.claimed));
	TEST_ASSERT(atomic_load(&st.moves) > 100 && atomic_load(&st.claimed) > 100 &&
		    atomic_load(&st.self_moves) > 10, "the stress did something");
	for (i = 0; i < STRESS_DEVS; i++) {
		bus_unregister(&st.b, dev[i]->base);
		free(dev[i]);
	}
	bus_unregister(&st.b, atomic_load(&st.self_base));
	free(self);
	bus_destroy(&st.b);
	TEST_PASS("dispatch on several threads while ranges move (no stale handler, no leak)");
}

int main(void)
{
	test_register();
	test_dispatch();
	test_log_rate_limit();
	alarm(30);  /* a deadlock fails the test instead of hanging it */
	test_handler_changes_bus();
	test_unregister_waits(false);
	test_unregister_waits(true);
	test_stress();
	return 0;
}
