/* SPDX-License-Identifier: MIT */
/*
 * fake_ctx as a vCPU sees it, for the spec-only virtio driver
 * (tests/virtio_driver.h): conf1 and MMIO through the buses, a write that a
 * registered ioeventfd takes (as KVM would) signals it instead, guest memory
 * through mem/, and "run" is one round of the fake main loop.
 */
#ifndef MEMVMM_TESTS_VDRV_FAKE_H
#define MEMVMM_TESTS_VDRV_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/virtio_driver.h"

/* The machine for f (f must outlive it). */
struct vdrv_machine vdrv_fake_machine(struct fake_ctx *f);

/* Guest memory of the fake_ctx o, as vdrv_machine's mem_read/mem_write. */
int vdrv_fake_mem_read(void *o, uint64_t gpa, void *buf, size_t len);
int vdrv_fake_mem_write(void *o, uint64_t gpa, const void *buf, size_t len);

/*
 * MSIs f delivered for (addr, data): irqfds on a route with them (taken),
 * and direct sends from f->msi_sent[*seen] on (*seen moves past them).
 */
uint64_t vdrv_fake_msis(struct fake_ctx *f, unsigned int *seen, uint64_t addr, uint32_t data);

/* Assert a driver call returned 0, printing why it did not (r->d: the struct vdrv). */
#define DRV_OK(r, expr)                                                              \
	do {                                                                         \
		int drv_ret_ = (expr);                                               \
		TEST_ASSERT(drv_ret_ == 0, "%s returned %d: %s", #expr, drv_ret_,    \
			    (r)->d.err);                                             \
	} while (0)


#endif /* MEMVMM_TESTS_VDRV_FAKE_H */
