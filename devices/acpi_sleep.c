// SPDX-License-Identifier: MIT
/*
 * Hardware-reduced ACPI sleep control and status registers (ACPI 6.x,
 * section 4.8.3.7): one byte each in I/O space, at consecutive ports.
 *
 * Control: SLP_EN (bit 5) with SLP_TYP (bits 2-4) equal to the DSDT's \_S5
 * value asks the VM to stop as a guest power-off (VM_STOP_POWEROFF, status
 * 0). Any other value (another sleep state, SLP_EN clear) is ignored: there
 * is no sleeping, the guest just goes on. A 2-byte write at the control
 * port writes both registers, its low byte is the control value; accesses
 * that run past the status port are not this device's (the bus drops
 * them). Status: writes (Linux clears WAK_STS before sleeping) are
 * ignored. Reads of either return 0.
 *
 * No state: no save()/restore() (device.h: NULL, no state), so a snapshot
 * holds only its name.
 */
#include "devices/acpi_sleep.h"

#include <errno.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "mem/machine.h"

#define ACPI_SLEEP_PORTS 2   /* control, then status */

_Static_assert(MACHINE_ACPI_SLEEP_STATUS_PORT == MACHINE_ACPI_SLEEP_CONTROL_PORT + 1,
	       "one range: control, then status");

struct acpi_sleep {
	struct device_ctx ctx;
};

static uint64_t acpi_sleep_read(void *opaque, uint64_t off, unsigned int size)
{
	return 0;
}

static void acpi_sleep_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	struct acpi_sleep *s = opaque;
	uint8_t control = (uint8_t)val;
	unsigned int slp_typ;

	/* off 0: the control port (1: status). */
	if (off != 0 || !(control & MACHINE_ACPI_SLP_EN))
		return;
	slp_typ = (control & MACHINE_ACPI_SLP_TYP_MASK) >> MACHINE_ACPI_SLP_TYP_SHIFT;
	if (slp_typ == MACHINE_ACPI_S5_SLP_TYP)
		s->ctx.request_stop(s->ctx.opaque, VM_STOP_POWEROFF, 0);
}

static const struct bus_handler acpi_sleep_handler = {
	.read = acpi_sleep_read,
	.write = acpi_sleep_write,
};

static int acpi_sleep_create(const struct device_ctx *ctx, const void *cfg, void **state)
{
	struct acpi_sleep *s;
	int ret;

	if (cfg || !ctx->request_stop || !ctx->pio)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = *ctx;
	ret = bus_register(ctx->pio, MACHINE_ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_PORTS,
			   "acpi-sleep", &acpi_sleep_handler, s);
	if (ret) {
		free(s);
		return ret;
	}
	*state = s;
	return 0;
}

static void acpi_sleep_destroy(void *state)
{
	struct acpi_sleep *s = state;

	bus_unregister(s->ctx.pio, MACHINE_ACPI_SLEEP_CONTROL_PORT);
	free(s);
}

const struct device_ops acpi_sleep_device_ops = {
	.name = "acpi-sleep",
	.create = acpi_sleep_create,
	.destroy = acpi_sleep_destroy,
	.reset = NULL,    /* no state */
	.save = NULL,
	.restore = NULL,
};
