/* SPDX-License-Identifier: MIT */
/*
 * vmem-plug's guest runs (vmem_plug_guest.c): memvmm or QEMU as a child
 * process running the test guest through its virtio-mem steps, with the
 * guest's read=1 step (it waits for one byte on its console) between the
 * steps, so that the host's meters and memvmm's status are read at known
 * points: before the plug, after it, after the first touch, after the
 * unplug.
 */
#ifndef MEMVMM_BENCH_VMEM_PLUG_H
#define MEMVMM_BENCH_VMEM_PLUG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/guest_proc.h"

/* A command line: argv[] points into buf. */
#define VP_CMD_MAX_ARGS 40
struct vp_cmd {
	char *argv[VP_CMD_MAX_ARGS + 1];
	unsigned int argc;
	char buf[2 * PATH_MAX + 2048];
	size_t used;
	bool truncated;        /* an argument did not fit: argv ends before it */
};

/* Append one formatted argument. */
void vp_cmd_add(struct vp_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The command as a shell would take it (arguments with blanks quoted). */
void vp_cmd_print(const struct vp_cmd *c, FILE *f);
/*
 * guest/qemu-test.sh's QEMU options after the machine and memory: no
 * display, no monitor, the guest's console on stdio, its exit device.
 */
void vp_cmd_qemu_headless(struct vp_cmd *c);

/* memvmm with the test guest: boot RAM and a virtio-mem region of one backend. */
struct vp_memvmm_spec {
	const char *memvmm, *backend, *populate;
	uint64_t ram, size;
	unsigned int threads;  /* populate-threads= */
	const char *sock, *cmdline;
};
void vp_memvmm_cmd(struct vp_cmd *c, const struct vp_memvmm_spec *m);

/*
 * QEMU with the test guest: guest/qemu-test.sh's machine and
 * guest/qemu-vmem-cases.sh's virtio-mem-pci device (memory backend
 * `object`, 2M blocks, unplugged-inaccessible=on, requested = size from
 * the start), prealloc on or off, accelerator accel.
 */
struct vp_qemu_spec {
	const char *qemu, *elf, *accel, *object;
	bool prealloc;
	uint64_t ram, size;
	const char *cmdline;
};
void vp_qemu_cmd(struct vp_cmd *c, const struct vp_qemu_spec *q);

/* What one guest run measures; NAN where it does not apply. */
enum vp_val {
	VP_PLUG_MS,            /* the guest's vmem-plug step (its own clock) */
	VP_DEV_PLUG_MS,        /* memvmm's status: virtio_mem.plug_ms */
	VP_TOUCH_MS,           /* the guest's vmem-touch step: first touch of the plugged memory */
	VP_UNPLUG_MS,          /* the guest's vmem-unplug step */
	VP_DEV_UNPLUG_MS,      /* memvmm's status: virtio_mem.unplug_ms */
	VP_HOST_BEFORE_MIB,    /* host meter before the plug */
	VP_HOST_PLUG_MIB,      /* host meter after the plug, minus before */
	VP_HOST_TOUCH_MIB,     /* ... after the touch, minus before */
	VP_HOST_UNPLUG_MIB,    /* ... after the unplug, minus before */
	VP_RES_PLUG_MIB,       /* memvmm's status: virtio_mem.resident after the plug */
	VP_RES_UNPLUG_MIB,     /* ... after the unplug */
	VP_NVALS,
};

struct vp_guest_run {
	/* In. */
	char *const *argv;     /* memvmm or QEMU, running the test guest with VP_GUEST_STEPS */
	const char *sock;      /* memvmm's --api-socket; NULL for QEMU */
	enum guest_meter meter;
	uint64_t size;         /* what the guest must plug and unplug */
	int exit_status;       /* the child's exit status when the guest ends well */
	/* Out. */
	double val[VP_NVALS];
	uint64_t plug_requests; /* the guest's plug requests (its vmem-plug line) */
	char note[96];         /* memvmm's populate strategy used */
	char why[200];         /* on failure or refusal */
};

/*
 * The guest's steps; %s is the size to unplug (the plugged size): plug up
 * to the requested size, touch every plugged page, unplug, each after a
 * byte from the host.
 */
#define VP_GUEST_STEPS "read=1 vmem-plug read=1 vmem-touch read=1 vmem-unplug=%s read=1"

/*
 * Run it. 0 with val[] set; -EOPNOTSUPP when the child ended before the
 * guest started (memvmm or QEMU refused the configuration: why has its
 * last line); other -errno for a failure (a wrong result, a crash, a
 * timeout), why saying which.
 */
int vp_guest_run(struct vp_guest_run *g);

#endif /* MEMVMM_BENCH_VMEM_PLUG_H */
