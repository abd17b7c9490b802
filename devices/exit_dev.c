// SPDX-License-Identifier: MIT
/*
 * Exit device: a write of STATUS (1, 2 or 4 bytes) to its port ends memvmm
 * with exit status STATUS, capped at 255 so that a large status can never
 * wrap to 0 ("success"). Reads return 0. It has no state of its own: its
 * save() blob only names the device and its port, so that restore() refuses
 * another device's state.
 */
#include "devices/exit_dev.h"

#include <errno.h>
#include <stdlib.h>

#include "devices/dev_blob.h"
#include "devices/device.h"
#include "mem/machine.h"

#define EXIT_DEV_PORTS 4
#define EXIT_DEV_PORT_SPACE 0x10000   /* I/O ports 0 .. 0xffff */
#define EXIT_STATUS_MAX 255

#define EXIT_BLOB_MAGIC "MEXT"
#define EXIT_BLOB_VERSION 1u

struct exit_dev {
	struct device_ctx ctx;
	uint16_t port;
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
	const struct exit_dev_config def = { .port = MACHINE_EXIT_PORT };
	const struct exit_dev_config *c = cfg ? cfg : &def;
	struct exit_dev *d;
	int ret;

	if (c->port > EXIT_DEV_PORT_SPACE - EXIT_DEV_PORTS || !ctx->request_stop)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = *ctx;
	d->port = c->port;
	ret = bus_register(ctx->pio, d->port, EXIT_DEV_PORTS, "exit", &exit_dev_handler, d);
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

	bus_unregister(d->ctx.pio, d->port);
	free(d);
}

static int exit_dev_save(void *state, void *buf, size_t *len)
{
	struct dev_blob_writer w = { .buf = buf, .room = *len };
	struct exit_dev *d = state;

	dev_blob_put_header(&w, EXIT_BLOB_MAGIC, EXIT_BLOB_VERSION);
	dev_blob_put16(&w, d->port);
	return dev_blob_finish(&w, len);
}

static int exit_dev_restore(void *state, const void *buf, size_t len)
{
	struct dev_blob_reader r = { .buf = buf, .len = len };
	struct exit_dev *d = state;

	if (!dev_blob_get_header(&r, EXIT_BLOB_MAGIC, EXIT_BLOB_VERSION) ||
	    dev_blob_get16(&r) != d->port || !dev_blob_done(&r))
		return -EINVAL;
	return 0;
}

const struct device_ops exit_device_ops = {
	.name = "exit",
	.create = exit_dev_create,
	.destroy = exit_dev_destroy,
	.reset = NULL,  /* no state */
	.save = exit_dev_save,
	.restore = exit_dev_restore,
};
