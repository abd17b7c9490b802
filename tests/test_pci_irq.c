// SPDX-License-Identifier: MIT
/*
 * PCI interrupts and state (tests/pci_tdev.h's device on a fake_ctx):
 * MSI-X masks, pending bits, lazy routes, re-routing, irqfds and the
 * direct-MSI fallbacks; INTx; reset; save/restore; a hostile guest.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "devices/pci.h"
#include "tests/fake_ctx.h"
#include "tests/pci_tdev.h"
#include "tests/test.h"

#define HOSTILE_ROUNDS 200000u

void test_msix_masks(void)
{
	struct msix_env e;
	int gsi;

	msix_setup(&e);
	TEST_ASSERT(fake_mmio_read(&e.f, msix_entry(&e, 0, PCI_MSIX_ENTRY_LOWER_ADDR), 8) == MSI_ADDR,
		    "8-byte table read");
	TEST_ASSERT(fake_mmio_read(&e.f, msix_entry(&e, 1, PCI_MSIX_ENTRY_DATA), 4) == 0x41, "data");
	TEST_ASSERT(fake_mmio_read(&e.f, msix_entry(&e, 1, PCI_MSIX_ENTRY_DATA), 2) == 0,
		    "2-byte table read");

	/* Masked vector (and function): pending, nothing sent, no route yet. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(msix_pba(&e) == 1 && e.f.routes_used == 0, "pending bit / early route");
	fake_mmio_write(&e.f, e.table + PCI_MSIX_PBA_BAR_OFFSET, 8, 0);
	TEST_ASSERT(msix_pba(&e) == 1, "PBA is read-only");
	/* Vector unmasked, function still masked: still pending. */
	msix_vmask(&e, 0, false);
	TEST_ASSERT(msix_pba(&e) == 1 && e.f.routes_used == 0, "sent under the function mask");
	/* Function unmasked: routed, irqfd assigned, the pending message goes out. */
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	gsi = msix_gsi_of(&e, 0x40);
	TEST_ASSERT(gsi >= 0 && msix_pba(&e) == 0, "vector 0 not routed or still pending");
	TEST_ASSERT(e.f.irqfd_efd[gsi] >= 0, "no irqfd on GSI %d", gsi);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "pending message not sent");
	TEST_ASSERT(e.f.routes_used == 1, "masked vectors got routes: %u", e.f.routes_used);
	/* Live: every notify is one irqfd signal. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 2, "two notifies");
	/* Unmasking a vector routes it ahead of its first message. */
	msix_vmask(&e, 1, false);
	TEST_ASSERT(msix_gsi_of(&e, 0x41) >= 0 && fake_irqfd_take(&e.f, msix_gsi_of(&e, 0x41)) == 0,
		    "vector 1 routed on unmask, nothing sent");

	/* Vector mask again. */
	msix_vmask(&e, 0, true);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && msix_pba(&e) == 1, "sent while masked");
	msix_vmask(&e, 0, false);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && msix_pba(&e) == 0, "not sent on unmask");

	/* Function mask. */
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && msix_pba(&e) == 3, "sent under function mask");
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 &&
		    fake_irqfd_take(&e.f, msix_gsi_of(&e, 0x41)) == 1 && msix_pba(&e) == 0,
		    "not sent on function unmask");

	/* Bus mastering off: pending; on: sent. */
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(!pci_dev_bus_master(e.t.pci), "bus master bit");
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && msix_pba(&e) == 1, "sent without bus master");
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && msix_pba(&e) == 0, "not sent on bus master");
	/* Unmasked while bus mastering is off: still pending. */
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	msix_vmask(&e, 0, true);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	msix_vmask(&e, 0, false);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 0 && msix_pba(&e) == 1,
		    "sent on unmask without bus master");
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1 && msix_pba(&e) == 0, "not sent on bus master");

	/* Disable: irqfds and routes released (irqfd first); notifies pend. */
	msix_ctl(&e, 0);
	TEST_ASSERT(!pci_msix_enabled(e.t.pci), "still enabled");
	TEST_ASSERT(e.f.routes_used == 0 && e.f.irqfds_assigned == 0 &&
		    !e.f.route_freed_with_irqfd, "routes after disable: %u, irqfds %u",
		    e.f.routes_used, e.f.irqfds_assigned);
	TEST_OK(pci_msix_notify(e.t.pci, 2));
	TEST_ASSERT(msix_pba(&e) == 4, "disabled: not pending");
	msix_vmask(&e, 2, false);
	TEST_ASSERT(msix_pba(&e) == 4, "sent while disabled");
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	gsi = msix_gsi_of(&e, 0x42);
	TEST_ASSERT(gsi >= 0 && fake_irqfd_take(&e.f, gsi) == 1 && msix_pba(&e) == 0,
		    "pending vector 2 not sent on enable");

	TEST_ASSERT(pci_msix_notify(e.t.pci, NR_VECTORS) == -EINVAL, "vector out of range");
	TEST_ASSERT(pci_msix_notify(e.t.pci, UINT32_MAX) == -EINVAL, "vector far out of range");
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("MSI-X: vector and function masks, pending bits, enable, bus master");
}

void test_msix_routes(void)
{
	uint64_t addr;
	uint32_t data;
	struct msix_env e;
	int gsi, gsi2;

	msix_setup(&e);
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	msix_vmask(&e, 0, false);
	gsi = msix_gsi_of(&e, 0x40);
	TEST_ASSERT(gsi >= 0, "vector 0 not routed");

	/* Rewritten while masked (as Linux does): the route follows at unmask. */
	msix_vmask(&e, 0, true);
	msix_program(&e, 0, MSI_ADDR | 0x3000, 0x77);
	msix_vmask(&e, 0, false);
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, &data) && addr == (MSI_ADDR | 0x3000) &&
		    data == 0x77, "route not changed: 0x%lx 0x%x", (unsigned long)addr, data);
	/* Rewritten while unmasked: the next message re-routes first. */
	msix_program(&e, 0, MSI_ADDR | 0x5000 | 3 /* reserved bits */, 0x99);
	TEST_ASSERT(fake_mmio_read(&e.f, msix_entry(&e, 0, 0), 4) == (MSI_ADDR | 0x5000),
		    "address bits 1:0 are read-only zero");
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, &data) && addr == (MSI_ADDR | 0x5000) &&
		    data == 0x99, "not re-routed on send");
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "not sent after re-route");
	TEST_ASSERT(e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 3, "route changes %u",
		    e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes);
	/* An unchanged message does not touch the route. */
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 3, "route set again");
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 1, "second send");
	/* Only the address (high dword) changed. */
	fake_mmio_write(&e.f, msix_entry(&e, 0, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 1);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, &addr, NULL) &&
		    addr == (1ull << 32 | MSI_ADDR | 0x5000), "address-only change not routed");
	fake_mmio_write(&e.f, msix_entry(&e, 0, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 0);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi) == 2 &&
		    e.f.route[gsi - FAKE_FIRST_MSI_GSI].changes == 5, "address changes");

	/* No route to be had: sent directly. */
	e.f.fail_msi_route = -ENOSPC;
	msix_vmask(&e, 1, false);
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 1 && e.f.msi_sent[0].addr == (MSI_ADDR | 1 << 12) &&
		    e.f.msi_sent[0].data == 0x41, "no direct MSI after a route failure");
	TEST_ASSERT(msix_gsi_of(&e, 0x41) < 0, "a route appeared");
	e.f.fail_msi_route = 0;
	/* Route, but no irqfd: sent directly; once irqfds work, through one. */
	e.f.fail_irqfd = -EINVAL;
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 2, "no direct MSI after an irqfd failure");
	gsi2 = msix_gsi_of(&e, 0x41);
	TEST_ASSERT(gsi2 >= 0 && e.f.irqfd_efd[gsi2] < 0, "irqfd state");
	e.f.fail_irqfd = 0;
	TEST_OK(pci_msix_notify(e.t.pci, 1));
	TEST_ASSERT(e.f.nr_msi_sent == 2 && fake_irqfd_take(&e.f, gsi2) == 1, "irqfd not used");
	/* Both fail: KVM's error, the message is lost (as a failed MSI write would be). */
	e.f.fail_msi_route = -ENOSPC;
	e.f.fail_msi_send = -EIO;
	msix_vmask(&e, 2, false);
	TEST_ASSERT(pci_msix_notify(e.t.pci, 2) == -EIO, "msi_send's error");
	e.f.fail_msi_route = 0;
	e.f.fail_msi_send = 0;
	/* Re-routing a GSI that has one fails: the old route stays, the message goes direct. */
	msix_program(&e, 0, MSI_ADDR | 0x7000, 0xaa);
	e.f.fail_msi_route = -ENOMEM;
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(e.f.msi_sent[e.f.nr_msi_sent - 1].data == 0xaa &&
		    fake_irqfd_take(&e.f, gsi) == 0, "failed re-route");
	e.f.fail_msi_route = 0;
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_msi_route_get(&e.f, gsi, NULL, &data) && data == 0xaa &&
		    fake_irqfd_take(&e.f, gsi) == 1, "re-route retried");
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("MSI-X routes: lazy, re-routed on change, direct MSI fallbacks");
}

/* ---- INTx ---- */

void test_intx(void)
{
	struct fake_ctx f;
	struct tdev t;
	unsigned int gsi;
	struct msix_env e;

	tdev_setup(&f, &t);
	gsi = fake_cfg_read(&f, 1, PCI_INTERRUPT_LINE, 1);
	TEST_ASSERT(gsi == MACHINE_PCI_INTX_GSI_BASE + 1, "GSI %u", gsi);
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "INTx not raised");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, "status bit");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_COMMAND, 4) >> 16 & PCI_STATUS_INTERRUPT,
		    "status bit in a dword read");
	cfg_set_command(&f, 1, PCI_COMMAND_INTX_DISABLE);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "INTx disable ignored");
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		    "status bit follows the device, not the line");
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "raised while disabled");
	cfg_set_command(&f, 1, 0);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "not raised again on enable");
	/* Writing 1 to the status bit does not clear it (not RW1C). */
	fake_cfg_write(&f, 1, PCI_STATUS, 2, 0xffff);
	TEST_ASSERT(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, "cleared");
	pci_intx_set(t.pci, false);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0 &&
		    !(fake_cfg_read(&f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT), "lowered");
	/* A failing irq_line is retried at the next change. */
	f.fail_irq_line = -EIO;
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 0, "level recorded on failure");
	f.fail_irq_line = 0;
	pci_intx_set(t.pci, true);
	TEST_ASSERT(fake_irq_level(&f, gsi) == 1, "not retried");
	/* Removal lowers the line. */
	tdev_teardown(&f, &t);
	TEST_ASSERT(f.irq_level[gsi] == 0, "line left high after removal");

	/* While MSI-X is enabled, INTx stays low. */
	msix_setup(&e);
	pci_intx_set(e.t.pci, true);
	TEST_ASSERT(fake_irq_level(&e.f, gsi) == 0, "INTx with MSI-X enabled");
	msix_ctl(&e, 0);
	TEST_ASSERT(fake_irq_level(&e.f, gsi) == 1, "INTx back after MSI-X disable");
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("INTx: level, disable bit, status bit, MSI-X");
}

/* ---- reset, save/restore ---- */

/* A device in a busy state: BARs moved and decoding, MSI-X live with pending bits, INTx. */
static void busy_state(struct msix_env *e)
{
	msix_setup(e);
	cfg_set_bar(&e->f, 1, 0, cfg_bar_addr(&e->f, 1, 0, false) + 32 * MiB, false);
	cfg_set_bar(&e->f, 1, 2, cfg_bar_addr(&e->f, 1, 2, true) + GiB, true);
	msix_ctl(e, PCI_MSIX_FLAGS_ENABLE);
	msix_vmask(e, 0, false);
	msix_vmask(e, 3, false);
	TEST_OK(pci_msix_notify(e->t.pci, 1));     /* masked: pending */
	fake_cfg_write(&e->f, 1, PCI_INTERRUPT_LINE, 1, 0x0a);
	fake_cfg_write(&e->f, 1, PCI_CACHE_LINE_SIZE, 1, 0x10);
	pci_intx_set(e->t.pci, true);
}

void test_reset(void)
{
	struct msix_env e;
	uint64_t b0;
	unsigned int n;

	busy_state(&e);
	b0 = pci_dev_bar_addr(e.t.pci, 0);
	n = e.t.nev;
	pci_dev_reset(e.t.pci);
	TEST_ASSERT(pci_dev_command(e.t.pci) == 0 && fake_cfg_read(&e.f, 1, PCI_COMMAND, 2) == 0,
		    "command after reset");
	TEST_ASSERT(tdev_has_event(&e.t, n, 0, b0, false) && pci_dev_bar_addr(e.t.pci, 0) == 0,
		    "BAR 0 still mapped");
	TEST_ASSERT(cfg_bar_addr(&e.f, 1, 0, false) == b0 - 32 * MiB, "BAR 0 not back");
	TEST_ASSERT(!pci_msix_enabled(e.t.pci) &&
		    fake_cfg_read(&e.f, 1, e.cap + PCI_MSIX_FLAGS, 2) == NR_VECTORS - 1,
		    "MSI-X after reset");
	TEST_ASSERT(e.f.routes_used == 0 && e.f.irqfds_assigned == 0, "routes after reset");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_INTERRUPT_LINE, 1) ==
		    MACHINE_PCI_INTX_GSI_BASE + 1 && fake_cfg_read(&e.f, 1, PCI_CACHE_LINE_SIZE, 1) == 0,
		    "writable header fields not reset");
	TEST_ASSERT(!(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT),
		    "INTx after reset");
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY);
	TEST_ASSERT(msix_pba(&e) == 0 &&
		    fake_mmio_read(&e.f, msix_entry(&e, 0, PCI_MSIX_ENTRY_VECTOR_CTRL), 4) == 1 &&
		    fake_mmio_read(&e.f, msix_entry(&e, 0, PCI_MSIX_ENTRY_DATA), 4) == 0,
		    "MSI-X table after reset");
	cfg_set_command(&e.f, 1, 0);
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("reset");
}

static size_t save(struct pci_dev *d, uint8_t *buf, size_t room)
{
	size_t len = room;

	TEST_OK(pci_dev_save(d, buf, &len));
	return len;
}

static void expect_refused(struct msix_env *e, const uint8_t *blob, size_t len,
			   const char *what)
{
	uint8_t before[1024], after[1024];
	size_t n1 = save(e->t.pci, before, sizeof(before)), n2;

	TEST_ASSERT(pci_dev_restore(e->t.pci, blob, len) == -EINVAL, "%s accepted", what);
	n2 = save(e->t.pci, after, sizeof(after));
	TEST_ASSERT(n1 == n2 && !memcmp(before, after, n1), "%s changed the device", what);
}

void test_save_restore(void)
{
	uint8_t blob[1024], again[1024], bad[1024];
	struct msix_env e;
	size_t len, len2, need = 0;
	uint64_t b0, b2;
	int gsi0;

	busy_state(&e);
	b0 = pci_dev_bar_addr(e.t.pci, 0);
	b2 = pci_dev_bar_addr(e.t.pci, 2);
	TEST_ASSERT(pci_dev_save(e.t.pci, NULL, &need) == -ENOSPC && need > 256, "size query");
	len = need - 1;
	TEST_ASSERT(pci_dev_save(e.t.pci, blob, &len) == -ENOSPC && len == need, "short buffer");
	len = save(e.t.pci, blob, sizeof(blob));
	TEST_ASSERT(len == need, "saved %zu, needed %zu", len, need);

	pci_dev_reset(e.t.pci);
	TEST_OK(pci_dev_restore(e.t.pci, blob, len));
	len2 = save(e.t.pci, again, sizeof(again));
	TEST_ASSERT(len2 == len && !memcmp(blob, again, len), "round trip differs");
	TEST_ASSERT(pci_dev_bar_addr(e.t.pci, 0) == b0 && pci_dev_bar_addr(e.t.pci, 2) == b2 &&
		    fake_mmio_read(&e.f, b0, 1) == 0x88, "BARs not remapped");
	TEST_ASSERT(pci_msix_enabled(e.t.pci) && msix_pba(&e) == 2, "MSI-X state");
	gsi0 = msix_gsi_of(&e, 0x40);
	TEST_ASSERT(gsi0 >= 0 && msix_gsi_of(&e, 0x43) >= 0 && e.f.routes_used == 2,
		    "live vectors not re-routed (%u routes)", e.f.routes_used);
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, gsi0) == 1, "restored vector does not send");
	TEST_ASSERT(fake_irq_level(&e.f, 17) == 0 &&
		    fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		    "INTx level (held low by MSI-X)");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_INTERRUPT_LINE, 1) == 0x0a, "interrupt line");

	/* Malformed blobs: refused, device unchanged. */
	expect_refused(&e, blob, 0, "empty blob");
	expect_refused(&e, blob, len - 1, "truncated blob");
	memcpy(bad, blob, len);
	bad[len] = 0;
	expect_refused(&e, bad, len + 1, "blob with a trailing byte");
	bad[0] ^= 1;
	expect_refused(&e, bad, len, "wrong magic");
	memcpy(bad, blob, len);
	bad[4] = 2;
	expect_refused(&e, bad, len, "other version");
	memcpy(bad, blob, len);
	bad[8 + PCI_VENDOR_ID] ^= 0xff;
	expect_refused(&e, bad, len, "another vendor");
	memcpy(bad, blob, len);
	bad[8 + PCI_BASE_ADDRESS_2] ^= PCI_BASE_ADDRESS_MEM_TYPE_64;
	expect_refused(&e, bad, len, "BAR type changed");
	memcpy(bad, blob, len);
	bad[8 + 256] = NR_VECTORS + 1;
	expect_refused(&e, bad, len, "other vector count");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4 + PCI_MSIX_ENTRY_VECTOR_CTRL] = 2;
	expect_refused(&e, bad, len, "reserved vector control bit");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4] |= 1;
	expect_refused(&e, bad, len, "unaligned message address");
	memcpy(bad, blob, len);
	bad[8 + 256 + 4 + NR_VECTORS * 16] |= 1u << NR_VECTORS;
	expect_refused(&e, bad, len, "pending bit past the table");
	memcpy(bad, blob, len);
	bad[len - 1] = 2;
	expect_refused(&e, bad, len, "INTx level 2");
	expect_refused(&e, NULL, 5, "NULL buffer");
	/* Random garbage of every length. */
	for (size_t n = 0; n < len + 8; n++) {
		for (size_t i = 0; i < n; i++)
			bad[i] = (uint8_t)(i * 37 + n);
		TEST_ASSERT(pci_dev_restore(e.t.pci, bad, n) == -EINVAL, "garbage of %zu bytes", n);
	}
	/* Status error bits (write-one-to-clear) come back from a blob; a 1 clears them. */
	memcpy(bad, blob, len);
	bad[8 + PCI_STATUS + 1] |= PCI_STATUS_DETECTED_PARITY >> 8;
	TEST_OK(pci_dev_restore(e.t.pci, bad, len));
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY,
		    "error bit not restored");
	fake_cfg_write(&e.f, 1, PCI_STATUS, 2, 0);
	TEST_ASSERT(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY,
		    "a 0 cleared the error bit");
	fake_cfg_write(&e.f, 1, PCI_STATUS, 2, PCI_STATUS_DETECTED_PARITY);
	TEST_ASSERT(!(fake_cfg_read(&e.f, 1, PCI_STATUS, 2) & PCI_STATUS_DETECTED_PARITY),
		    "a 1 did not clear the error bit");
	/* Only guest-writable bits come from the blob: RO capability bytes stay. */
	memcpy(bad, blob, len);
	bad[8 + e.cap + PCI_MSIX_FLAGS] = 0x3f;    /* table size: read-only */
	TEST_OK(pci_dev_restore(e.t.pci, bad, len));
	TEST_ASSERT(fake_cfg_read(&e.f, 1, e.cap + PCI_MSIX_FLAGS, 2) ==
		    (PCI_MSIX_FLAGS_ENABLE | (NR_VECTORS - 1)), "read-only byte restored");
	cfg_set_command(&e.f, 1, 0);
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("save/restore: round trip, malformed blobs refused");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct notifier {
	struct msix_env *e;
	atomic_bool stop;
	unsigned long sent;
};

static void *notify_thread(void *arg)
{
	struct notifier *n = arg;

	while (!atomic_load(&n->stop)) {
		int ret = pci_msix_notify(n->e->t.pci, (unsigned int)(n->sent % NR_VECTORS));

		TEST_ASSERT(ret == 0, "notify %d", ret);
		pci_intx_set(n->e->t.pci, n->sent & 1);
		(void)pci_dev_bus_master(n->e->t.pci);
		(void)pci_msix_enabled(n->e->t.pci);
		n->sent++;
	}
	return NULL;
}

/* Reads the BARs wherever they are while they move (bus_unregister waits for them). */
static void *reader_thread(void *arg)
{
	struct notifier *n = arg;

	while (!atomic_load(&n->stop)) {
		for (unsigned int b = 0; b < 3; b++) {
			uint64_t a = pci_dev_bar_addr(n->e->t.pci, b);

			if (a)
				(void)fake_mmio_read(&n->e->f, a, 4);
		}
	}
	return NULL;
}

void test_hostile(void)
{
	static const unsigned int sizes[] = { 1, 2, 3, 4, 8 };
	pthread_t thr[2];
	struct notifier n = { 0 };
	struct msix_env e;
	uint64_t b[3];

	msix_setup(&e);
	n.e = &e;
	atomic_init(&n.stop, false);
	for (unsigned int i = 0; i < 3; i++)
		b[i] = cfg_bar_addr(&e.f, 1, i, i == 2);
	TEST_ASSERT(!pthread_create(&thr[0], NULL, notify_thread, &n), "thread");
	TEST_ASSERT(!pthread_create(&thr[1], NULL, reader_thread, &n), "thread");
	for (unsigned int round = 0; round < HOSTILE_ROUNDS; round++) {
		uint64_t r = rnd(), v = rnd();
		unsigned int size = sizes[r % 5];

		switch ((r >> 8) % 6) {
		case 0:   /* raw conf1 ports, any size */
			fake_pio_write(&e.f, MACHINE_PCI_CONF1_ADDR_PORT + (r >> 16) % 8, size, v);
			(void)fake_pio_read(&e.f, MACHINE_PCI_CONF1_ADDR_PORT + (r >> 24) % 8, size);
			break;
		case 1:   /* any register of slots 0-3, any function or bus now and then */
			fake_cfg_write_bdf(&e.f, (r >> 40) % 16 == 0, (r >> 16) % 4,
					   (r >> 44) % 16 == 0, (unsigned int)(r >> 24) & 0xff,
					   size == 3 || size == 8 ? 4 : size, (uint32_t)v);
			break;
		case 2:   /* the MSI-X table and PBA, any size and offset */
			fake_mmio_write(&e.f, b[1] + (v >> 20) % PCI_MSIX_BAR_BYTES, size, v);
			break;
		case 3:
			(void)fake_mmio_read(&e.f, b[1] + (v >> 20) % PCI_MSIX_BAR_BYTES, size);
			break;
		case 4:   /* keep the device mostly decoding, in its windows */
			cfg_set_command(&e.f, 1, (uint16_t)(v & 0x0407) | PCI_COMMAND_MEMORY);
			if (v & (1 << 20))
				msix_ctl(&e, (uint16_t)(v >> 8) & 0xc000);
			break;
		case 5:   /* move BARs around, sometimes onto each other */
			cfg_set_bar(&e.f, 1, (unsigned int)(v % 3), b[(v >> 4) % 3] + ((v >> 8) % 4) * 4 * KiB,
				v % 3 == 2);
			if (!(v & 0xff00))
				for (unsigned int i = 0; i < 3; i++)
					cfg_set_bar(&e.f, 1, i, b[i], i == 2);
			break;
		}
	}
	atomic_store(&n.stop, true);
	TEST_ASSERT(!pthread_join(thr[0], NULL) && !pthread_join(thr[1], NULL), "join");
	/* Still a working device: put it straight and check a vector end to end. */
	fake_cfg_write(&e.f, 1, PCI_COMMAND, 2, 0);
	for (unsigned int i = 0; i < 3; i++)
		cfg_set_bar(&e.f, 1, i, b[i], i == 2);
	cfg_set_command(&e.f, 1, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	msix_ctl(&e, PCI_MSIX_FLAGS_ENABLE);
	msix_program(&e, 0, MSI_ADDR, 0xfeedbeef);
	msix_vmask(&e, 0, false);
	(void)fake_irqfd_take(&e.f, msix_gsi_of(&e, 0xfeedbeef));
	TEST_OK(pci_msix_notify(e.t.pci, 0));
	TEST_ASSERT(fake_irqfd_take(&e.f, msix_gsi_of(&e, 0xfeedbeef)) == 1, "vector 0 after the storm");
	TEST_ASSERT(fake_cfg_read(&e.f, 1, 0, 4) == 0x56781234, "IDs after the storm");
	printf("# %lu notifies during %u hostile accesses\n", n.sent, HOSTILE_ROUNDS);
	tdev_teardown(&e.f, &e.t);
	TEST_PASS("hostile guest with busy devices");
}
