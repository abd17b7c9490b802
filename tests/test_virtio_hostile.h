/* SPDX-License-Identifier: MIT */
/*
 * The rig of tests/test_virtio_hostile*.c: virtio-mem over virtio-pci on a
 * fake machine (tests/fake_ctx.h) with a memfd hotplug region, found and
 * started by the tests' driver (tests/vtest.h), and a driver that writes
 * whatever it likes beside it. Everything asserts.
 */
#ifndef MEMVMM_TESTS_TEST_VIRTIO_HOSTILE_H
#define MEMVMM_TESTS_TEST_VIRTIO_HOSTILE_H

#include <stdint.h>

#include "devices/virtio_mem.h"
#include "tests/fake_ctx.h"
#include "tests/vtest.h"

#define MiB              (1ull << 20)
#define HOTPLUG_BYTES    (256 * MiB)
#define BLOCK            (2 * MiB)
#define NR_BLOCKS        (HOTPLUG_BYTES / BLOCK)
#define REQUESTED        (64 * MiB)
#define REQ_GPA          VT_DATA_GPA
#define RESP_GPA         (VT_DATA_GPA + 0x1000)
#define RESP_NONE        0xffffu     /* the chain did not come back answered */
#define QSIZE            128u        /* VMEM_QUEUE_SIZE */
#define MAX_CHAIN        64u         /* VQ_MAX_CHAIN */
#define NR_VECTORS       2u          /* one queue + config */

extern struct fake_ctx f;
extern struct vtest vt;
extern void *dev;
extern uint64_t base;    /* the region's gpa */

uint64_t rnd(void);

void setup(void);
void teardown(void);
struct vmem_status status(void);
/* Host memory behind [off, off + len) of the region (the backend's own meter). */
uint64_t resident(uint64_t off, uint64_t len);
/* Memory behind unplugged blocks: stays 0 whatever the guest asks the device to do. */
uint64_t resident_unplugged(void);
int open_fds(void);
/* The device's PCI function, and where BAR 4 is on the bus now (0: off it). */
struct pci_dev *pdev(void);
uint64_t bar4_now(void);

/* A chain of n <= QSIZE descriptors from descriptor 0, made available (not notified). */
void chain_add(const struct vt_buf *b, unsigned int n);
/* chain_add, a kick, one loop round: the response type at resp_gpa, or RESP_NONE. */
uint16_t send_chain(const struct vt_buf *b, unsigned int n, uint64_t resp_gpa);
uint16_t request_at(uint16_t type, uint64_t addr, uint16_t nb, uint64_t req_gpa,
		    uint64_t resp_gpa);
uint16_t request(uint16_t type, uint64_t addr, uint16_t nb);
uint16_t plug(uint64_t off, uint64_t len);
uint16_t unplug(uint64_t off, uint64_t len);
/* The driver resets the device and starts it again; asserts it is usable. */
void restart(void);
void expect_violation(const char *what);
/* No route, irqfd or ioeventfd leaked or misused (at most the device's own). */
void check_services(const char *when);

/* Cases in test_virtio_hostile_state.c. */
void run_msix(const void *arg);
void run_requested_race(const void *arg);
void run_reset_race(const void *arg);
void run_machine_reset_race(const void *arg);
void run_restore_garbage(const void *arg);
void run_cycles(const void *arg);
void run_rlimit_nofile(const void *arg);
void run_ctl(const void *arg);

#endif /* MEMVMM_TESTS_TEST_VIRTIO_HOSTILE_H */
