// SPDX-License-Identifier: MIT
/*
 * Exit device: a write of STATUS (1, 2 or 4 bytes) to MACHINE_EXIT_PORT ends
 * memvmm with exit status STATUS, capped at 255 so that a large status can
 * never wrap to 0 ("success"). Reads return 0.
 */
#include <errno.h>
#include <stdlib.h>

#include "devices/device.h"
#include "mem/machine.h"

#define EXIT_DEV_PORTS 4
#define EXIT_STATUS_MAX 255

struct exit_dev {
	struct device_ctx ctx;
};

static uint64_t exit_dev_read(void *opaque, uint64_t off, unsigned int size)
{
	return 0;
}

static void exit_dev_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct exit_dev *d = opaque;

	/* Only a write at the port itself counts, not into its upper bytes. */
	if (off != 0)
		return;
	d->ctx.request_stop(d->ctx.opaque, VM_STOP_GUEST_EXIT,
			    val > EXIT_STATUS_MAX ? EXIT_STATUS_MAX : (int)val);
}

static const struct bus_handler exit_dev_handler = {
	.read = exit_dev_read,
	.write = exit_dev_write,
};

static int exit_dev_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	struct exit_dev *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = *ctx;
	ret = bus_register(ctx->pio, MACHINE_EXIT_PORT, EXIT_DEV_PORTS, "exit",
			   &exit_dev_handler, d);
	if (ret) {
		free(d);
		return ret;
	}
	*state = d;
	return 0;
}

static void exit_dev_destroy(void *state)
{
	struct exit_dev *d = state;

	bus_unregister(d->ctx.pio, MACHINE_EXIT_PORT);
	free(d);
}

const struct device_ops exit_device_ops = {
	.name = "exit",
	.create = exit_dev_create,
	.destroy = exit_dev_destroy,
};
