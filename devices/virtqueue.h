/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.2 §2.7), device side, trusting nothing the
 * guest wrote. Rings and buffers are reached only through mem/'s
 * bounds-checked calls. vq_pop() validates a whole chain before handing it
 * out: every descriptor inside guest RAM (any region) that the device's
 * access rule allows (vq_access_fn below), no length overflow,
 * device-writable descriptors only after the readable ones, at most
 * VQ_MAX_CHAIN descriptors and never more than the queue size (so a loop
 * in `next` ends), indirect tables only when VIRTIO_RING_F_INDIRECT_DESC
 * was negotiated (then: a multiple of 16 bytes, in RAM, not nested, not
 * combined with NEXT). An avail index more than the queue size ahead of
 * what the device has consumed is a violation too.
 *
 * A violation breaks the queue (vq->broken): it hands out nothing more
 * until vq_reset(); the transport then sets DEVICE_NEEDS_RESET.
 *
 * Not locked: the transport serializes every call for a queue.
 */
#ifndef MEMVMM_VIRTQUEUE_H
#define MEMVMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

#define VQ_WUR __attribute__((warn_unused_result))

/* Largest queue size a memvmm device offers (a power of two; the spec allows 32768). */
#define VQ_MAX_SIZE   1024u
/* Most descriptors in one chain memvmm devices accept (longer: a violation). */
#define VQ_MAX_CHAIN  64u

/*
 * A device's own rule on which guest memory its queues may touch, on top of
 * "inside RAM" (virtio-mem: not its unplugged blocks). True when the device
 * allows [gpa, gpa + len) (len > 0, not wrapping, in RAM). Checked wherever
 * the queue reaches guest memory, every time (the device may change what it
 * allows between two uses): the rings at vq_enable(), vq_pop(), vq_push()
 * and vq_wants_interrupt(); every descriptor table and buffer at vq_pop();
 * and each piece vq_chain_read()/vq_chain_write() copies. Refused: the same
 * as outside RAM (a violation, or -EFAULT). Called with the transport's
 * serialization held, like everything here.
 */
typedef bool (*vq_access_fn)(void *arg, uint64_t gpa, uint64_t len);

struct vq_buf {
	uint64_t gpa;
	uint32_t len;
	bool device_writes;   /* VRING_DESC_F_WRITE */
};

/* One validated chain: nr_out readable buffers, then nr_in writable ones. */
struct vq_chain {
	uint16_t head;        /* what vq_push() gives back */
	vq_access_fn access;  /* the queue's, for vq_chain_read()/vq_chain_write() */
	void *access_arg;
	unsigned int nr_out, nr_in;
	uint64_t out_bytes, in_bytes;
	struct vq_buf buf[VQ_MAX_CHAIN];
};

struct virtqueue {
	struct guest_mem *mem;
	/* Set by the driver through the transport; checked by vq_enable(). */
	uint16_t size;        /* power of two, <= max_size */
	uint16_t max_size;    /* what the device offers */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool indirect;        /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool enabled;         /* queue_enable written 1 and the rings validated */
	bool broken;          /* a violation was found */
	const char *why_broken;   /* static string, for status and debug */
	vq_access_fn access;  /* NULL: RAM is enough; kept by vq_reset() */
	void *access_arg;
	/* Device state. */
	uint16_t last_avail;  /* next avail entry to consume */
	uint16_t used_idx;    /* next used entry to fill */
};

/* Initialize an unconfigured queue of at most max_size entries. */
void vq_init(struct virtqueue *vq, struct guest_mem *mem, uint16_t max_size);
/*
 * Back to unconfigured (transport reset, queue reset): size max_size,
 * addresses 0, not enabled, not broken, indices 0, indirect false (the
 * transport sets it again from the negotiated features before vq_enable()).
 */
void vq_reset(struct virtqueue *vq);
/* Set the device's access rule (fn NULL: none); vq_reset() keeps it. */
void vq_set_access(struct virtqueue *vq, vq_access_fn fn, void *arg);

/*
 * The driver enabled the queue: check the size (a power of two, 1..max)
 * and that the three rings lie in RAM with their alignments (desc 16,
 * avail 2, used 4; sizes 16*size, 6+2*size and 6+8*size bytes, the event
 * fields included). -EINVAL (and vq->broken, with why_broken) otherwise;
 * -EINVAL, changing nothing, on a queue already broken.
 */
int vq_enable(struct virtqueue *vq) VQ_WUR;

/*
 * Take the next available chain. 1: *c filled; 0: nothing available (or
 * the queue is not enabled); -EBADMSG: a violation (the queue is now
 * broken, nothing was taken, *c is garbage), or the queue was broken
 * already. A buffer of length 0 is accepted wherever it points (nothing
 * is ever accessed through it).
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c) VQ_WUR;

/*
 * Give chain head back with written bytes written into its device-writable
 * buffers: used ring entry, then (after a release barrier) the used index.
 * -EFAULT if the used ring left RAM or the device refuses it now (the
 * queue is then broken); -EBADMSG on a broken queue, -EINVAL on one not
 * enabled or for head >= size (nothing written). written is not checked
 * against the chain: the caller passes what it wrote.
 */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written) VQ_WUR;

/*
 * False while the driver sets VRING_AVAIL_F_NO_INTERRUPT (or on a read
 * failure: true). Call it after vq_push(): it starts with a full barrier,
 * so the used index is visible before the flags are read.
 */
bool vq_wants_interrupt(const struct virtqueue *vq);

/*
 * Copy out of a chain's readable buffers / into its writable ones, from
 * byte off of that side. -EFAULT if the chain is shorter, memory failed or
 * the queue's access rule refuses a piece now (nothing is copied then).
 */
int vq_chain_read(struct guest_mem *mem, const struct vq_chain *c, uint64_t off,
		  void *buf, size_t len) VQ_WUR;
int vq_chain_write(struct guest_mem *mem, const struct vq_chain *c, uint64_t off,
		   const void *buf, size_t len) VQ_WUR;

#endif /* MEMVMM_VIRTQUEUE_H */
