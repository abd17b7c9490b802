// SPDX-License-Identifier: MIT
/*
 * The small devices: the exit device and the i8042 (what the guest sees,
 * their configs), and for every device the state blob contract: save ->
 * reset -> restore -> save gives the same bytes, -ENOSPC says the size, every
 * truncation and every foreign blob is refused, and a corrupted blob is
 * either refused without changing the device or is a state of its own that
 * saves back to exactly those bytes.
 */
#include <string.h>

#include "devices/device.h"
#include "devices/exit_dev.h"
#include "devices/serial.h"
#include "mem/machine.h"
#include "tests/test.h"

#define BLOB_MAX 256
#define CORRUPTIONS 20000

static struct bus pio;
static struct {
	unsigned int calls;
	enum vm_stop_reason reason;
	int status;
} stop;

static void fake_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	stop.calls++;
	stop.reason = reason;
	stop.status = status;
}

static int fake_irq(void *opaque, unsigned int irq, int level)
{
	return 0;
}

static const struct device_ctx ctx = {
	.irq_line = fake_irq, .request_stop = fake_stop, .pio = &pio,
};

static uint64_t in(uint16_t port, unsigned int size)
{
	uint64_t v;

	TEST_ASSERT(bus_read(&pio, port, size, &v), "port 0x%x claimed", port);
	return v;
}

static void out(uint16_t port, unsigned int size, uint64_t v)
{
	TEST_ASSERT(bus_write(&pio, port, size, v), "port 0x%x claimed", port);
}

static void test_exit_dev(void)
{
	struct exit_dev_config c = { .port = 0xfffd };
	struct device_ctx no_stop = ctx;
	void *st;
	uint64_t v;

	TEST_ASSERT(exit_device_ops.create(&ctx, &c, &st) == -EINVAL, "ports past 0xffff");
	c.port = 0xfffc;
	TEST_OK(exit_device_ops.create(&ctx, &c, &st));
	exit_device_ops.destroy(st);
	no_stop.request_stop = NULL;
	TEST_ASSERT(exit_device_ops.create(&no_stop, NULL, &st) == -EINVAL, "needs request_stop");

	TEST_OK(exit_device_ops.create(&ctx, NULL, &st));
	TEST_ASSERT(in(MACHINE_EXIT_PORT, 4) == 0, "reads 0");
	out(MACHINE_EXIT_PORT + 1, 1, 7);
	TEST_ASSERT(stop.calls == 0, "a write into the upper bytes is not an exit");
	out(MACHINE_EXIT_PORT, 2, 42);
	TEST_ASSERT(stop.calls == 1 && stop.reason == VM_STOP_GUEST_EXIT && stop.status == 42,
		    "exit 42");
	out(MACHINE_EXIT_PORT, 4, 256);
	TEST_ASSERT(stop.calls == 2 && stop.status == 255, "256 is capped at 255, not 0");
	exit_device_ops.destroy(st);
	TEST_ASSERT(!bus_read(&pio, MACHINE_EXIT_PORT, 1, &v), "ports released");

	c.port = 0x600;
	TEST_OK(exit_device_ops.create(&ctx, &c, &st));
	TEST_ASSERT(!bus_read(&pio, MACHINE_EXIT_PORT, 1, &v), "not at the default port");
	out(0x600, 1, 3);
	TEST_ASSERT(stop.calls == 3 && stop.status == 3, "exit at 0x600");
	exit_device_ops.destroy(st);
	memset(&stop, 0, sizeof(stop));
	TEST_PASS("exit device: status, cap, config port");
}

static void test_i8042(void)
{
	int dummy = 0;
	void *st;
	uint64_t v;

	TEST_ASSERT(i8042_device_ops.create(&ctx, &dummy, &st) == -EINVAL, "takes no config");
	TEST_OK(i8042_device_ops.create(&ctx, NULL, &st));
	TEST_ASSERT(in(MACHINE_I8042_COMMAND_PORT, 1) == 0, "status: buffers empty");
	TEST_ASSERT(in(MACHINE_I8042_DATA_PORT, 1) == 0, "no data");
	out(MACHINE_I8042_DATA_PORT, 1, MACHINE_I8042_CMD_RESET);
	out(MACHINE_I8042_COMMAND_PORT, 1, 0xad);
	TEST_ASSERT(stop.calls == 0, "other writes do nothing");
	out(MACHINE_I8042_COMMAND_PORT, 1, MACHINE_I8042_CMD_RESET);
	TEST_ASSERT(stop.calls == 1 && stop.reason == VM_STOP_RESET && stop.status == 0,
		    "0xfe resets");
	i8042_device_ops.destroy(st);
	TEST_ASSERT(!bus_read(&pio, MACHINE_I8042_COMMAND_PORT, 1, &v) &&
		    !bus_read(&pio, MACHINE_I8042_DATA_PORT, 1, &v), "ports released");
	memset(&stop, 0, sizeof(stop));
	TEST_PASS("i8042: reset command, status, no config");
}

/* ---- the state blob contract, for every device ------------------------------ */

/* Put the device in a state other than power-on, as far as it has state. */
static void serial_dirty(void *st)
{
	out(MACHINE_COM1_PORT + 3, 1, 0x80);
	out(MACHINE_COM1_PORT + 0, 1, 0x30);
	out(MACHINE_COM1_PORT + 3, 1, 0x07);
	out(MACHINE_COM1_PORT + 7, 1, 0x5a);
	out(MACHINE_COM1_PORT + 4, 1, 0x0b);
	TEST_ASSERT(serial_receive(st, "abc", 3) == 3, "receive");
	(void)in(MACHINE_COM1_PORT, 1);
}

static const struct state_case {
	const struct device_ops *ops;
	const void *cfg;
	void (*dirty)(void *st);
} cases[] = {
	{ &serial_device_ops, NULL, serial_dirty },
	{ &exit_device_ops, NULL, NULL },
	{ &i8042_device_ops, NULL, NULL },
};
#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

static size_t save(const struct state_case *c, void *st, uint8_t *buf)
{
	size_t len = BLOB_MAX;

	TEST_OK(c->ops->save(st, buf, &len));
	TEST_ASSERT(len <= BLOB_MAX, "%s: %zu bytes", c->ops->name, len);
	return len;
}

static void test_state(const struct state_case *c)
{
	uint8_t a[BLOB_MAX], b[BLOB_MAX], bad[BLOB_MAX];
	size_t alen, blen, len, i;
	unsigned int seed = 1, n;
	void *st;

	TEST_ASSERT(c->ops->save && c->ops->restore, "%s has save and restore", c->ops->name);
	TEST_OK(c->ops->create(&ctx, c->cfg, &st));
	if (c->dirty)
		c->dirty(st);
	alen = save(c, st, a);
	TEST_ASSERT(alen >= 8, "%s: magic and version", c->ops->name);
	len = alen - 1;
	TEST_ASSERT(c->ops->save(st, b, &len) == -ENOSPC && len == alen, "%s: -ENOSPC", c->ops->name);
	len = 0;
	TEST_ASSERT(c->ops->save(st, NULL, &len) == -ENOSPC && len == alen, "%s: size query",
		    c->ops->name);

	if (c->ops->reset)
		c->ops->reset(st);
	TEST_OK(c->ops->restore(st, a, alen));
	blen = save(c, st, b);
	TEST_ASSERT(blen == alen && !memcmp(a, b, alen), "%s: save, reset, restore, save",
		    c->ops->name);

	for (len = 0; len < alen; len++)
		TEST_ASSERT(c->ops->restore(st, a, len) == -EINVAL, "%s: %zu of %zu bytes",
			    c->ops->name, len, alen);
	memcpy(bad, a, alen);
	TEST_ASSERT(c->ops->restore(st, bad, alen + 1) == -EINVAL, "%s: trailing byte",
		    c->ops->name);

	/* Another device's blob. */
	for (i = 0; i < NR_CASES; i++) {
		uint8_t o[BLOB_MAX];
		size_t olen;
		void *ost;

		if (cases[i].ops == c->ops)
			continue;
		TEST_OK(cases[i].ops->create(&ctx, cases[i].cfg, &ost));
		olen = save(&cases[i], ost, o);
		cases[i].ops->destroy(ost);
		TEST_ASSERT(c->ops->restore(st, o, olen) == -EINVAL, "%s refuses %s's state",
			    c->ops->name, cases[i].ops->name);
	}

	/*
	 * Random corruption (one to three bytes): refused without a change,
	 * or accepted as a valid state that saves back to the same bytes.
	 */
	for (n = 0; n < CORRUPTIONS; n++) {
		int k, changes = 1 + (int)(n % 3);

		memcpy(bad, a, alen);
		for (k = 0; k < changes; k++) {
			seed = seed * 1103515245u + 12345u;
			bad[(seed >> 8) % alen] = (uint8_t)(seed >> 20);
		}
		if (c->ops->restore(st, bad, alen) == 0) {
			blen = save(c, st, b);
			TEST_ASSERT(blen == alen && !memcmp(bad, b, alen),
				    "%s: an accepted blob saves back unchanged", c->ops->name);
			TEST_OK(c->ops->restore(st, a, alen));
		} else {
			blen = save(c, st, b);
			TEST_ASSERT(blen == alen && !memcmp(a, b, alen),
				    "%s: a refused blob changed the device", c->ops->name);
		}
	}
	c->ops->destroy(st);
	printf("ok - %s: state blob of %zu bytes: round trip, -ENOSPC, truncated, foreign and "
	       "corrupted blobs\n", c->ops->name, alen);
}

int main(void)
{
	unsigned int i;

	TEST_OK(bus_init(&pio, "pio"));
	test_exit_dev();
	test_i8042();
	for (i = 0; i < NR_CASES; i++)
		test_state(&cases[i]);
	bus_destroy(&pio);
	return 0;
}
