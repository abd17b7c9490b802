// SPDX-License-Identifier: MIT
/* The device bus: registration rules, dispatch, unclaimed accesses. */
#include <stdlib.h>
#include <string.h>

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
	struct bus b;
	unsigned int i;

	TEST_OK(bus_init(&b, "test"));
	TEST_OK(bus_register(&b, 0x100, 8, "a", &fake, &a));
	TEST_ASSERT(bus_register(&b, 0x107, 1, "x", &fake, &a) == -EEXIST, "overlap at end");
	TEST_ASSERT(bus_register(&b, 0xf8, 9, "x", &fake, &a) == -EEXIST, "overlap at start");
	TEST_ASSERT(bus_register(&b, 0x0, 0x1000, "x", &fake, &a) == -EEXIST, "covering");
	TEST_ASSERT(bus_register(&b, 0x200, 0, "x", &fake, &a) == -EINVAL, "empty");
	TEST_ASSERT(bus_register(&b, UINT64_MAX, 2, "x", &fake, &a) == -EINVAL, "wrapping");
	TEST_OK(bus_register(&b, UINT64_MAX, 1, "last", &fake, &a));
	TEST_OK(bus_register(&b, 0xf8, 8, "adjacent below", &fake, &a));
	TEST_OK(bus_register(&b, 0x108, 8, "adjacent above", &fake, &a));
	for (i = b.nr; i < BUS_MAX_RANGES; i++)
		TEST_OK(bus_register(&b, 0x10000 + i * 16, 16, "fill", &fake, &a));
	TEST_ASSERT(bus_register(&b, 0x1, 1, "x", &fake, &a) == -ENOSPC, "full");
	for (i = 1; i < b.nr; i++)
		TEST_ASSERT(b.range[i - 1].base < b.range[i].base, "sorted at %u", i);
	bus_unregister(&b, 0x100);
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

int main(void)
{
	test_register();
	test_dispatch();
	test_log_rate_limit();
	return 0;
}
