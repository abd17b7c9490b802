/* SPDX-License-Identifier: MIT */
/*
 * balloon: the test guest inflates and deflates --size of its RAM through
 * virtio-balloon, under memvmm (per backend) and under QEMU's
 * virtio-balloon-pci, the same guest and steps (balloon.c). One run
 * (balloon_guest.c): memvmm or QEMU as a child process, the guest waiting
 * in read=1 steps (one byte on its console) between its steps, so that the
 * host's meter and memvmm's status are read at known points: after the
 * guest's touch (RAM is all resident: memvmm populate=auto, QEMU
 * prealloc=on), after the inflate, after the deflate.
 */
#ifndef MEMVMM_BENCH_BALLOON_H
#define MEMVMM_BENCH_BALLOON_H

#include <stdint.h>

#include "bench/vmem_plug.h"

struct bench_opts;

/* memvmm-bench balloon: the exit status, as every benchmark's. */
int bench_balloon(const struct bench_opts *o);

/* The guest's steps; %s: the size to inflate and deflate. */
#define BL_GUEST_STEPS "touch=64M read=1 balloon-inflate=%s read=1 balloon-deflate=%s read=1"

/* What one guest run measures; NAN where it does not apply. */
enum bl_val {
	BL_INFLATE_MS,         /* balloon-inflate's chains, notify to used (the guest's clock) */
	BL_DEFLATE_MS,         /* balloon-deflate's chains */
	BL_INFLATE_STEP_MS,    /* the whole balloon-inflate step, the guest's page writes too */
	BL_DEFLATE_STEP_MS,    /* the whole balloon-deflate step */
	BL_HOST_BEFORE_MIB,    /* host meter after the touch, before the inflate */
	BL_HOST_RETURNED_MIB,  /* before minus after the inflate */
	BL_HOST_REGAINED_MIB,  /* after the deflate minus after the inflate */
	BL_DEV_DISCARD_MS,     /* memvmm's status: balloon.discard_ms */
	BL_DEV_POPULATE_MS,    /* memvmm's status: balloon.populate_ms */
	BL_DEV_GIVEN_MIB,      /* memvmm's status: balloon.given_back after the inflate */
	BL_NVALS,
};

struct bl_guest_run {
	/* In. */
	char *const *argv;     /* memvmm or QEMU running the test guest with BL_GUEST_STEPS */
	const char *sock;      /* memvmm's --api-socket; NULL for QEMU */
	enum guest_meter meter;
	uint64_t size;         /* what the guest inflates and deflates */
	int exit_status;       /* the child's exit status when the guest ends well */
	/* Out. */
	double val[BL_NVALS];
	uint64_t chains;       /* the guest's inflate chains */
	char why[200];         /* on failure or refusal */
};

/*
 * Run it. 0 with val[] set; -EOPNOTSUPP when the child ended before the
 * guest started (memvmm or QEMU refused the configuration: why has its
 * last line); other -errno for a failure (a wrong result, a crash, a
 * timeout), why saying which.
 */
int bl_guest_run(struct bl_guest_run *g);

#endif /* MEMVMM_BENCH_BALLOON_H */
