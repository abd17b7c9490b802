/* SPDX-License-Identifier: MIT */
/*
 * tests/test_pci*.c's test device on a fake_ctx (tests/fake_ctx.h): BAR 0
 * 32-bit (8 KiB), BAR 2 64-bit prefetchable (16 KiB), MSI-X with
 * NR_VECTORS vectors in BAR 1, INTx, and callbacks that record what pci
 * tells the device. Helpers act as a guest driver would, through conf1
 * and MMIO.
 */
#ifndef MEMVMM_TESTS_PCI_TDEV_H
#define MEMVMM_TESTS_PCI_TDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "mem/machine.h"
#include "tests/fake_ctx.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define RAM_BYTES      (64 * MiB)
#define BAR0_BYTES     (8 * KiB)
#define BAR2_BYTES     (16 * KiB)
#define MSIX_BAR       1u
#define NR_VECTORS     4u
#define VENDOR_CAP_LEN 8u
#define MSI_ADDR       MACHINE_MSI_ADDR_BASE
#define MAX_EVENTS     64u

struct bar_event {
	unsigned int bar;
	uint64_t addr;
	bool mapped;
};

struct tdev {
	struct pci_dev *pci;
	atomic_uint reads, writes;
	/* Atomics: the hostile test's reader thread runs the handlers too. */
	_Atomic uint64_t last_off, last_val;
	atomic_uint last_size;
	struct bar_event ev[MAX_EVENTS];   /* bar_map calls, in order */
	unsigned int nev;
	unsigned int commands;             /* command callbacks, and the last one's values */
	uint16_t old_cmd, new_cmd;
	unsigned int vcap;                 /* a vendor capability's offset (0: none) */
	uint32_t vcap_reg;                 /* what cfg_read/cfg_write handle at vcap + 4 */
};

struct pci_dev_desc tdev_desc(struct tdev *t);
/* A fake_ctx with PCI and the test device in slot 1. */
void tdev_setup(struct fake_ctx *f, struct tdev *t);
/* Remove the device (checking routes and irqfds were released in order), destroy f. */
void tdev_teardown(struct fake_ctx *f, struct tdev *t);
/* True if bar_map events from index `from` on include (bar, addr, mapped). */
bool tdev_has_event(const struct tdev *t, unsigned int from, unsigned int bar, uint64_t addr,
		    bool mapped);

/* Config space as a driver sees it. */
uint64_t cfg_bar_addr(struct fake_ctx *f, unsigned int slot, unsigned int bar, bool is64);
void cfg_set_bar(struct fake_ctx *f, unsigned int slot, unsigned int bar, uint64_t addr,
		 bool is64);
void cfg_set_command(struct fake_ctx *f, unsigned int slot, uint16_t cmd);
/* The capability with id, by walking the list; 0 if none. */
unsigned int cfg_find_cap(struct fake_ctx *f, unsigned int slot, uint8_t id);

/* A test device with MSI-X enabled (function masked), decoding and bus mastering. */
struct msix_env {
	struct fake_ctx f;
	struct tdev t;
	unsigned int cap;
	uint64_t table;           /* guest address of the table */
};

/* Vectors v get address MSI_ADDR | v << 12 and data 0x40 + v, all masked. */
void msix_setup(struct msix_env *e);
/* Message control: the table size plus bits (PCI_MSIX_FLAGS_ENABLE, _MASKALL). */
void msix_ctl(struct msix_env *e, uint16_t bits);
uint64_t msix_entry(const struct msix_env *e, unsigned int v, unsigned int field);
void msix_program(struct msix_env *e, unsigned int v, uint64_t addr, uint32_t data);
void msix_vmask(struct msix_env *e, unsigned int v, bool masked);
uint64_t msix_pba(struct msix_env *e);
/* The GSI whose route has this data, or -1. */
int msix_gsi_of(struct msix_env *e, uint32_t data);

/* tests/test_pci_irq.c */
void test_msix_masks(void);
void test_msix_routes(void);
void test_intx(void);
void test_reset(void);
void test_save_restore(void);
void test_hostile(void);

#endif /* MEMVMM_TESTS_PCI_TDEV_H */
