/* SPDX-License-Identifier: MIT */
/*
 * The rig of test_virtio_driver: memvmm's virtio-mem on a fake machine
 * (tests/fake_ctx.h) and the independent driver (tests/virtio_driver.h)
 * bound to it. Shared by test_virtio_driver.c (discovery, features,
 * requests, reset) and test_virtio_driver_faults.c (broken chains,
 * framing, interrupts, bus mastering, the driver's own checks).
 */
#ifndef MEMVMM_TEST_VIRTIO_DRIVER_RIG_H
#define MEMVMM_TEST_VIRTIO_DRIVER_RIG_H

#include <inttypes.h>
#include <stdint.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mem.h>

#include "devices/virtio_mem.h"
#include "mem/machine.h"
#include "mem/mem.h"
#include "tests/fake_ctx.h"
#include "tests/test.h"
#include "tests/vdrv_fake.h"
#include "tests/virtio_driver.h"

#define RAM_BYTES        (64ull << 20)
#define HOTPLUG_BYTES    (1ull << 30)
#define BLOCK_BYTES      VMEM_MIN_BLOCK_BYTES
#define REQUESTED_BYTES  (8ull << 20)          /* 4 blocks */
#define SCRATCH_GPA      (1ull << 20)
#define SCRATCH_BYTES    (1ull << 20)
/* Past the driver's own scratch use: buffers the fault tests chain by hand. */
#define TEST_BUF_GPA     (SCRATCH_GPA + VDRV_SCRATCH_MIN_BYTES)
#define PAD_BYTE         0xa5                  /* in every padding field: the device ignores it */
#define VMEM_PCI_ID      (MACHINE_PCI_VIRTIO_DEVICE_BASE + VIRTIO_ID_MEM)
#define F_VERSION_1      (1ull << VIRTIO_F_VERSION_1)
#define F_INACCESSIBLE   (1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)
#define WANT_FEATURES    (F_VERSION_1 | F_INACCESSIBLE)
#define MSI_ADDR         MACHINE_MSI_ADDR_BASE
#define MSI_DATA_CONFIG  0x4041u
#define MSI_DATA_QUEUE   0x4042u

struct rig {
	struct fake_ctx f;
	unsigned int region;
	void *vmem;
	struct vdrv d;
	uint64_t base;           /* the hotplug region's guest-physical address */
	unsigned int msi_sent_seen;   /* f.msi_sent entries rig_msis() counted */
};

/* A well-formed request must get response want. */
#define REQ_EXPECT(r, type, addr, nb, want)                                           \
	do {                                                                          \
		uint16_t got_ = rig_req(r, type, addr, nb, NULL);                     \
		TEST_ASSERT(got_ == (want), "%s(0x%" PRIx64 ", %u): response %u, want %s", \
			    #type, (uint64_t)(addr), (unsigned int)(nb), got_, #want);  \
	} while (0)

/* The fake machine with the device (hotplug region on backend, NULL: memfd) and the driver. */
void rig_machine(struct rig *r, const struct mem_backend_ops *backend);
/* rig_machine() and the driver's full bring-up, queue 0 with queue_vector. */
void rig_up(struct rig *r, const struct mem_backend_ops *backend, uint16_t queue_vector);
void rig_down(struct rig *r);
/* Negotiate, queue 0, DRIVER_OK again (after a reset). */
void rig_reinit(struct rig *r, uint16_t queue_vector);
struct virtio_mem_config rig_config(struct rig *r);
/* A request with PAD_BYTE padding: its response type (*state: STATE's answer). */
uint16_t rig_req(struct rig *r, uint16_t type, uint64_t addr, uint16_t nb, uint16_t *state);
/* STATE, which must be ACKed: the state. */
uint16_t rig_state(struct rig *r, uint64_t addr, uint16_t nb);
/* Host memory behind [gpa, gpa + len) (mem_resident). */
uint64_t rig_resident(struct rig *r, uint64_t gpa, uint64_t len);
/* MSIs the fake delivered for (addr, data) since the last call. */
uint64_t rig_msis(struct rig *r, uint64_t addr, uint32_t data);
/* Guest memory, as the machine's accessors. */
int rig_mem_read(void *o, uint64_t gpa, void *buf, size_t len);
int rig_mem_write(void *o, uint64_t gpa, const void *buf, size_t len);

/* Cases in test_virtio_driver_faults.c. */
void run_corrupt(const void *arg);
void run_msix(const void *arg);
void run_intx(const void *arg);
void run_bus_master(const void *arg);
void run_framing(const void *arg);
void run_driver_caps(const void *arg);

#endif /* MEMVMM_TEST_VIRTIO_DRIVER_RIG_H */
