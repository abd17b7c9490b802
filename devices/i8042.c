// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller, only as far as machine reset: command 0xfe on
 * the command port pulses the reset line, which ends memvmm with status 0.
 * There is no keyboard: the status register reads "both buffers empty" so
 * that a guest waiting to send a command proceeds, and data reads return 0.
 * It has no state of its own: its save() blob only names the device, so that
 * restore() refuses another device's state. No config (cfg must be NULL):
 * the ports are the PC's.
 */
#include <errno.h>
#include <stdlib.h>

#include "devices/dev_blob.h"
#include "devices/device.h"
#include "mem/machine.h"

#define I8042_BLOB_MAGIC "MKBC"
#define I8042_BLOB_VERSION 1u

struct i8042 {
	struct device_ctx ctx;
};

static uint64_t i8042_read(void *opaque, uint64_t off, unsigned int size)
{
	return 0;  /* data: nothing; status: output and input buffers empty */
}

static void i8042_cmd_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct i8042 *k = opaque;

	if ((val & 0xff) == MACHINE_I8042_CMD_RESET)
		k->ctx.request_stop(k->ctx.opaque, VM_STOP_RESET, 0);
}

static void i8042_data_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
}

static const struct bus_handler i8042_cmd_handler = {
	.read = i8042_read,
	.write = i8042_cmd_write,
};

static const struct bus_handler i8042_data_handler = {
	.read = i8042_read,
	.write = i8042_data_write,
};

static int i8042_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	struct i8042 *k;
	int ret;

	if (cfg || !ctx->request_stop)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->ctx = *ctx;
	ret = bus_register(ctx->pio, MACHINE_I8042_DATA_PORT, 1, "i8042-data",
			   &i8042_data_handler, k);
	if (ret)
		goto err_free;
	ret = bus_register(ctx->pio, MACHINE_I8042_COMMAND_PORT, 1, "i8042-cmd",
			   &i8042_cmd_handler, k);
	if (ret)
		goto err_data;
	*state = k;
	return 0;
err_data:
	bus_unregister(ctx->pio, MACHINE_I8042_DATA_PORT);
err_free:
	free(k);
	return ret;
}

static void i8042_destroy(void *state)
{
	struct i8042 *k = state;

	bus_unregister(k->ctx.pio, MACHINE_I8042_COMMAND_PORT);
	bus_unregister(k->ctx.pio, MACHINE_I8042_DATA_PORT);
	free(k);
}

static int i8042_save(void *state, void *buf, size_t *len)
{
	struct dev_blob_writer w = { .buf = buf, .room = *len };

	dev_blob_put_header(&w, I8042_BLOB_MAGIC, I8042_BLOB_VERSION);
	return dev_blob_finish(&w, len);
}

static int i8042_restore(void *state, const void *buf, size_t len)
{
	struct dev_blob_reader r = { .buf = buf, .len = len };

	if (!dev_blob_get_header(&r, I8042_BLOB_MAGIC, I8042_BLOB_VERSION) ||
	    !dev_blob_done(&r))
		return -EINVAL;
	return 0;
}

const struct device_ops i8042_device_ops = {
	.name = "i8042",
	.create = i8042_create,
	.destroy = i8042_destroy,
	.reset = NULL,  /* no state */
	.save = i8042_save,
	.restore = i8042_restore,
};
