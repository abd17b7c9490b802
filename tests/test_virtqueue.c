// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (devices/virtqueue.h) against rings laid out by hand, as a
 * driver would, in anonymous guest memory (no KVM): chains of every shape, the
 * used ring, index wrap-around, every rule a hostile guest can break (each
 * breaks the queue, consumes nothing and names the rule), and random rings
 * popped for many rounds: they end, and stay inside guest RAM (ASan checks).
 */
#include <endian.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "devices/virtqueue.h"
#include "mem/mem.h"
#include "tests/test.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define RAM_BYTES    (8 * MiB)
#define DESC_GPA     0x10000ull
#define AVAIL_GPA    0x20000ull
#define USED_GPA     0x30000ull
#define IND_GPA      0x40000ull     /* indirect tables */
#define RINGS_END    0x100000ull    /* [DESC_GPA, RINGS_END) is cleared per test */
#define BUF_GPA      0x100000ull    /* buffers from here */
#define EXTRA_GPA    RAM_BYTES      /* a region added right after boot RAM */
#define EXTRA_BYTES  (2 * MiB)
#define MAX_SIZE     256u           /* what the test device offers */
#define RANDOM_ROUNDS 100000u
#define MAX_RULES     32u

static struct guest_mem gm;
static struct virtqueue vq;
static uint16_t drv_avail_idx;   /* the driver's avail->idx */
static uint16_t drv_size;

static void put16(uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);

	TEST_OK(mem_write(&gm, gpa, &le, sizeof(le)));
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t le;

	TEST_OK(mem_read(&gm, gpa, &le, sizeof(le)));
	return le16toh(le);
}

static void set_desc_at(uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(addr), .len = htole32(len),
		.flags = htole16(flags), .next = htole16(next),
	};

	TEST_OK(mem_write(&gm, table + 16ull * i, &d, sizeof(d)));
}

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc_at(DESC_GPA, i, addr, len, flags, next);
}

/* The driver makes chain head available: ring entry, then (released) the index. */
static void publish(uint16_t head)
{
	put16(AVAIL_GPA + 4 + 2ull * (drv_avail_idx % drv_size), head);
	atomic_thread_fence(memory_order_release);
	put16(AVAIL_GPA + 2, ++drv_avail_idx);
}

/* A queue as the transport leaves it before the driver enables it. */
static void configure(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	vq_init(&vq, &gm, MAX_SIZE);
	vq.size = size;
	vq.desc_gpa = desc;
	vq.avail_gpa = avail;
	vq.used_gpa = used;
}

/* A fresh queue of size entries over cleared rings, enabled. */
static void setup_at(uint16_t size, bool indirect, uint64_t avail, uint64_t used)
{
	TEST_OK(mem_zero(&gm, DESC_GPA, RINGS_END - DESC_GPA));
	configure(size, DESC_GPA, avail, used);
	vq.indirect = indirect;
	drv_size = size;
	drv_avail_idx = 0;
	TEST_OK(vq_enable(&vq));
	TEST_ASSERT(vq.enabled && !vq.broken, "enabled queue of %u", size);
}

static void setup(uint16_t size, bool indirect)
{
	setup_at(size, indirect, AVAIL_GPA, USED_GPA);
}

static void check_used(uint16_t idx, uint32_t id, uint32_t len)
{
	struct vring_used_elem e;

	TEST_OK(mem_read(&gm, USED_GPA + 4 + 8ull * (idx % drv_size), &e, sizeof(e)));
	TEST_ASSERT(le32toh(e.id) == id && le32toh(e.len) == len,
		    "used[%u] = {%u, %u}, expected {%u, %u}", idx % drv_size,
		    le32toh(e.id), le32toh(e.len), id, len);
}

/* vq_pop() must refuse with a violation naming rule, consuming nothing; the queue stays broken. */
static void expect_violation(const char *rule, const char *what)
{
	struct vq_chain c;
	uint16_t last = vq.last_avail;

	TEST_ASSERT(vq_pop(&vq, &c) == -EBADMSG && vq.last_avail == last, "%s: popped", what);
	TEST_ASSERT(vq.broken && vq.why_broken && strstr(vq.why_broken, rule),
		    "%s: broke '%s', expected '%s'", what, vq.why_broken ? vq.why_broken : "-", rule);
	TEST_ASSERT(vq_pop(&vq, &c) == -EBADMSG && vq.last_avail == last, "%s: second pop", what);
	TEST_ASSERT(vq_push(&vq, 0, 0) == -EBADMSG, "%s: push on a broken queue", what);
	TEST_ASSERT(get16(USED_GPA + 2) == vq.used_idx, "%s: used idx moved", what);
	printf("ok - violation: %s (%s)\n", what, vq.why_broken);
}

static struct vq_chain pop_one(const char *what)
{
	struct vq_chain c;
	int ret = vq_pop(&vq, &c);

	TEST_ASSERT(ret == 1, "%s: vq_pop returned %d (%s)", what, ret,
		    vq.why_broken ? vq.why_broken : "-");
	return c;
}

static void test_single(void)
{
	struct vq_chain c;

	vq_init(&vq, &gm, MAX_SIZE);
	TEST_ASSERT(vq.size == MAX_SIZE && !vq.enabled && !vq.broken && !vq.desc_gpa,
		    "vq_init state");
	TEST_ASSERT(vq_pop(&vq, &c) == 0, "pop on a queue not enabled");
	TEST_ASSERT(vq_push(&vq, 0, 0) == -EINVAL, "push on a queue not enabled");
	setup(8, false);
	TEST_ASSERT(vq_pop(&vq, &c) == 0 && vq.last_avail == 0, "pop on an empty queue");
	set_desc(0, BUF_GPA, 10, 0, 0);
	publish(0);
	pop_one("one chain");
	TEST_ASSERT(vq_pop(&vq, &c) == 0 && vq.last_avail == 1, "pop after the only chain");

	setup(8, false);
	set_desc(5, BUF_GPA, 100, 0, 0);
	publish(5);
	c = pop_one("single");
	TEST_ASSERT(c.head == 5 && c.nr_out == 1 && c.nr_in == 0 && c.out_bytes == 100 &&
		    c.in_bytes == 0 && c.buf[0].gpa == BUF_GPA && c.buf[0].len == 100 &&
		    !c.buf[0].device_writes && vq.last_avail == 1, "single chain");

	/* One writable buffer; and an empty buffer, which is accepted wherever it points. */
	set_desc(1, BUF_GPA, 4096, VRING_DESC_F_WRITE, 0);
	publish(1);
	c = pop_one("writable");
	TEST_ASSERT(c.nr_out == 0 && c.nr_in == 1 && c.in_bytes == 4096 &&
		    c.buf[0].device_writes, "writable only");
	set_desc(2, 64 * GiB, 0, 0, 0);
	publish(2);
	c = pop_one("empty buffer");
	TEST_ASSERT(c.nr_out == 1 && c.out_bytes == 0, "empty buffer");
	TEST_PASS("empty queue, single-descriptor chains");
}

static void test_multi(void)
{
	static const uint16_t order[] = { 5, 2, 7, 0, 3 };   /* 3 readable, 2 writable */
	const uint32_t lens[] = { 10, 20, 30, 40, 50 };
	uint8_t out[60], got[60], in[90];
	struct vq_chain c;

	setup(8, false);
	for (unsigned int i = 0; i < 5; i++)
		set_desc(order[i], BUF_GPA + 0x1000 * i, lens[i],
			 (i >= 3 ? VRING_DESC_F_WRITE : 0) | (i < 4 ? VRING_DESC_F_NEXT : 0),
			 i < 4 ? order[i + 1] : 0xffff);
	for (unsigned int i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i + 1);
	/* The readable side is 10 + 20 + 30 bytes: lay out[] across the three buffers. */
	TEST_OK(mem_write(&gm, BUF_GPA, out, 10));
	TEST_OK(mem_write(&gm, BUF_GPA + 0x1000, out + 10, 20));
	TEST_OK(mem_write(&gm, BUF_GPA + 0x2000, out + 30, 30));
	TEST_OK(mem_zero(&gm, BUF_GPA + 0x3000, 0x2000));
	publish(5);
	c = pop_one("multi");
	TEST_ASSERT(c.head == 5 && c.nr_out == 3 && c.nr_in == 2 && c.out_bytes == 60 &&
		    c.in_bytes == 90, "split: out %u (%" PRIu64 " B), in %u (%" PRIu64 " B)",
		    c.nr_out, c.out_bytes, c.nr_in, c.in_bytes);
	for (unsigned int i = 0; i < 5; i++)
		TEST_ASSERT(c.buf[i].gpa == BUF_GPA + 0x1000 * i && c.buf[i].len == lens[i] &&
			    c.buf[i].device_writes == (i >= 3), "buffer %u", i);

	/* Reads by offset, across buffers; past the end refused and copying nothing. */
	TEST_OK(vq_chain_read(&gm, &c, 0, got, 60));
	TEST_ASSERT(!memcmp(got, out, 60), "whole readable side");
	TEST_OK(vq_chain_read(&gm, &c, 5, got, 30));
	TEST_ASSERT(!memcmp(got, out + 5, 30), "read from offset 5 across two buffers");
	TEST_OK(vq_chain_read(&gm, &c, 59, got, 1));
	TEST_ASSERT(got[0] == out[59], "last readable byte");
	TEST_OK(vq_chain_read(&gm, &c, 60, got, 0));
	TEST_ASSERT(vq_chain_read(&gm, &c, 55, got, 6) == -EFAULT, "read past the end");
	TEST_ASSERT(vq_chain_read(&gm, &c, UINT64_MAX, got, 2) == -EFAULT, "read at 2^64-1");

	/* Writes land in the writable buffers only, by offset. */
	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xa0 + i);
	TEST_OK(vq_chain_write(&gm, &c, 35, in, 10));
	TEST_OK(mem_read(&gm, BUF_GPA + 0x3000, got, 40));
	TEST_ASSERT(!memcmp(got + 35, in, 5) && got[34] == 0, "write into buffer 3 at 35");
	TEST_OK(mem_read(&gm, BUF_GPA + 0x4000, got, 50));
	TEST_ASSERT(!memcmp(got, in + 5, 5) && got[5] == 0, "write continued into buffer 4");
	TEST_ASSERT(vq_chain_write(&gm, &c, 1, in, 90) == -EFAULT, "write past the end");
	TEST_OK(mem_read(&gm, BUF_GPA, got, 10));
	TEST_ASSERT(!memcmp(got, out, 10), "readable buffer written");
	TEST_OK(mem_read(&gm, BUF_GPA + 0x3000, got, 1));
	TEST_ASSERT(got[0] == 0, "refused write changed memory");
	TEST_PASS("multi-descriptor chain: split, read and write by offset");
}

/* A buffer may span two regions that touch; both accesses cross them. */
static void test_cross_region(void)
{
	const struct mem_region_spec spec = { .gpa = EXTRA_GPA, .size = EXTRA_BYTES,
					      .role = MEM_ROLE_DEVICE,
					      .backend = &mem_backend_anon };
	uint8_t data[32], got[32];
	struct vq_chain c;
	unsigned int idx;

	TEST_OK(mem_region_add(&gm, &spec, &idx));
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x55 ^ i);
	setup(4, false);
	set_desc(0, EXTRA_GPA - 16, 32, VRING_DESC_F_NEXT, 1);
	set_desc(1, EXTRA_GPA - 8, 16, VRING_DESC_F_WRITE, 0);
	TEST_OK(mem_write(&gm, EXTRA_GPA - 16, data, 32));
	publish(0);
	c = pop_one("across regions");
	TEST_OK(vq_chain_read(&gm, &c, 0, got, 32));
	TEST_ASSERT(!memcmp(got, data, 32), "read across regions");
	TEST_OK(vq_chain_write(&gm, &c, 0, data, 16));
	TEST_OK(mem_read(&gm, EXTRA_GPA - 8, got, 16));
	TEST_ASSERT(!memcmp(got, data, 16), "write across regions");

	/* Past the added region: outside RAM again. */
	setup(4, false);
	set_desc(0, EXTRA_GPA + EXTRA_BYTES - 8, 16, 0, 0);
	publish(0);
	expect_violation("buffer not in RAM", "buffer crossing the end of the added region");
	TEST_OK(mem_region_remove(&gm, idx));
	TEST_PASS("buffers across two regions");
}

static void test_used_ring(void)
{
	struct vq_chain c;

	setup(4, false);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(i, BUF_GPA + 0x100 * i, 0x100, VRING_DESC_F_WRITE, 0);
		publish(i);
	}
	for (uint16_t i = 0; i < 4; i++)
		TEST_ASSERT(pop_one("four").head == i, "heads in order");
	TEST_ASSERT(vq_pop(&vq, &c) == 0, "a fifth chain");
	/* Completed out of order: the used ring says which, in completion order. */
	TEST_OK(vq_push(&vq, 2, 7));
	TEST_ASSERT(get16(USED_GPA + 2) == 1 && vq.used_idx == 1, "used idx after one push");
	check_used(0, 2, 7);
	TEST_OK(vq_push(&vq, 0, 0x100));
	TEST_OK(vq_push(&vq, 3, 0));
	TEST_OK(vq_push(&vq, 1, 1));
	check_used(1, 0, 0x100);
	check_used(2, 3, 0);
	check_used(3, 1, 1);
	TEST_ASSERT(get16(USED_GPA + 2) == 4, "used idx %u", get16(USED_GPA + 2));
	TEST_ASSERT(vq_push(&vq, 4, 0) == -EINVAL && get16(USED_GPA + 2) == 4 && !vq.broken,
		    "push of a head past the size");

	/* VRING_AVAIL_F_NO_INTERRUPT. */
	TEST_ASSERT(vq_wants_interrupt(&vq), "interrupt with flags 0");
	put16(AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
	TEST_ASSERT(!vq_wants_interrupt(&vq), "interrupt with NO_INTERRUPT");
	put16(AVAIL_GPA, 0xfffe);
	TEST_ASSERT(vq_wants_interrupt(&vq), "other flag bits suppressed the interrupt");
	put16(AVAIL_GPA, 0);
	TEST_PASS("used ring entries and index, NO_INTERRUPT");
}

/* Free-running 16-bit indices past 65535, on a ring of 4 (many laps of the ring). */
static void test_wrap(void)
{
	const unsigned int rounds = 65536 + 300;

	setup(4, false);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(i, BUF_GPA + 0x100 * i, 0x10, VRING_DESC_F_WRITE, 0);
	for (unsigned int n = 0; n < rounds; n++) {
		uint16_t head = (uint16_t)(n * 3 % 4);
		struct vq_chain c;

		publish(head);
		c = pop_one("wrap");
		TEST_ASSERT(c.head == head, "round %u: head %u, expected %u", n, c.head, head);
		TEST_OK(vq_push(&vq, c.head, n & 0xf));
		TEST_ASSERT(vq.last_avail == (uint16_t)(n + 1) && vq.used_idx == (uint16_t)(n + 1),
			    "round %u: indices %u %u", n, vq.last_avail, vq.used_idx);
		if (n == 65534 || n == 65535 || n == 65536) {
			TEST_ASSERT(get16(USED_GPA + 2) == (uint16_t)(n + 1), "used idx at %u", n);
			check_used((uint16_t)n, head, n & 0xf);
		}
	}
	/* Two chains pending across the wrap of the index. */
	vq.last_avail = vq.used_idx = drv_avail_idx = 65535;
	put16(AVAIL_GPA + 2, drv_avail_idx);
	publish(1);
	publish(2);
	TEST_ASSERT(get16(AVAIL_GPA + 2) == 1, "avail idx wrapped");
	TEST_ASSERT(pop_one("before the wrap").head == 1 && pop_one("after").head == 2 &&
		    vq.last_avail == 1, "heads across the wrap");
	TEST_PASS("index wrap-around at 65535");
}

/* Exactly as many chains as the queue size is fine; one more is a violation. */
static void test_avail_ahead(void)
{
	setup(4, false);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(i, BUF_GPA, 1, 0, 0);
		publish(i);
	}
	for (uint16_t i = 0; i < 4; i++)
		pop_one("full ring");
	setup(4, false);
	set_desc(0, BUF_GPA, 1, 0, 0);
	put16(AVAIL_GPA + 2, 5);
	expect_violation("ahead", "avail idx 5 ahead of 0 on a ring of 4");
	setup(4, false);
	put16(AVAIL_GPA + 2, 0xffff);   /* "behind": 65535 ahead */
	expect_violation("ahead", "avail idx moved backwards");
	TEST_PASS("avail idx at most the queue size ahead");
}

/* Chains of descriptors 0 and 1 on a ring of 8, made available as head. */
static void test_chain_violations(void)
{
	enum { N = VRING_DESC_F_NEXT, W = VRING_DESC_F_WRITE };
	static const struct { uint16_t head, f0, n0, f1, n1; const char *rule, *what; } bad[] = {
		{ 8, 0, 0, 0, 0, "head", "head == size" },
		{ 0xffff, 0, 0, 0, 0, "head", "head 0xffff" },
		{ 0, N, 1, N, 0, "loop", "loop 0 -> 1 -> 0" },
		{ 1, 0, 0, N, 1, "loop", "descriptor naming itself" },
		{ 0, N, 8, 0, 0, "next index not below", "next == size" },
		{ 0, N, 0xffff, 0, 0, "next index not below", "next 0xffff" },
		{ 0, W | N, 1, 0, 0, "readable buffer after a writable", "writable before readable" },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(8, false);
		set_desc(0, BUF_GPA, 1, bad[i].f0, bad[i].n0);
		set_desc(1, BUF_GPA, 1, bad[i].f1, bad[i].n1);
		publish(bad[i].head);
		expect_violation(bad[i].rule, bad[i].what);
	}

	/* A chain through every descriptor of the ring is fine. */
	setup(8, false);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(i, BUF_GPA, 1, i < 7 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	publish(0);
	TEST_ASSERT(pop_one("whole ring").nr_out == 8, "chain of 8");

	/* On a ring larger than VQ_MAX_CHAIN: VQ_MAX_CHAIN buffers pass, one more does not. */
	setup(128, false);
	for (uint16_t i = 0; i < 128; i++)
		set_desc(i, BUF_GPA, 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(VQ_MAX_CHAIN - 1, BUF_GPA, 1, 0, 0);
	publish(0);
	TEST_ASSERT(pop_one("VQ_MAX_CHAIN").nr_out == VQ_MAX_CHAIN, "chain of VQ_MAX_CHAIN");
	set_desc(VQ_MAX_CHAIN - 1, BUF_GPA, 1, VRING_DESC_F_NEXT, VQ_MAX_CHAIN);
	set_desc(VQ_MAX_CHAIN, BUF_GPA, 1, 0, 0);
	publish(0);
	expect_violation("VQ_MAX_CHAIN", "chain of VQ_MAX_CHAIN + 1");
	TEST_PASS("chain rules");
}

/* Buffer addresses and lengths, each as the second buffer of a chain. */
static void test_buffer_violations(void)
{
	static const struct { uint64_t addr; uint32_t len; const char *rule, *what; } bad[] = {
		{ 16 * GiB, 1, "not in RAM", "buffer above all RAM" },
		{ MEM_MMIO_HOLE_START, 4096, "not in RAM", "buffer in the MMIO hole" },
		{ RAM_BYTES - 8, 16, "not in RAM", "buffer crossing the end of RAM" },
		{ RAM_BYTES, 1, "not in RAM", "buffer right after RAM" },
		{ UINT64_MAX - 7, 16, "wraps", "buffer wrapping past 2^64" },
		{ UINT64_MAX, 2, "wraps", "buffer at 2^64-1 of 2 bytes" },
		{ 0, UINT32_MAX, "not in RAM", "4 GiB buffer at 0" },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(8, false);
		set_desc(0, BUF_GPA, 1, VRING_DESC_F_NEXT, 1);
		set_desc(1, bad[i].addr, bad[i].len, VRING_DESC_F_WRITE, 0);
		publish(0);
		expect_violation(bad[i].rule, bad[i].what);
	}
	/* The last byte of RAM is fine. */
	setup(8, false);
	set_desc(0, RAM_BYTES - 1, 1, 0, 0);
	publish(0);
	pop_one("last byte of RAM");
	TEST_PASS("buffer ranges");
}

/* Ring descriptor 0 names an indirect table of len bytes at IND_GPA, published. */
static void start_indirect(uint32_t len)
{
	setup(8, true);
	set_desc(0, IND_GPA, len, VRING_DESC_F_INDIRECT, 0);
	publish(0);
}

static void test_indirect(void)
{
	struct vq_chain c;

	/* A direct buffer, then an indirect table: 2 readable, 1 writable. */
	setup(8, true);
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 6);
	set_desc(6, IND_GPA, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	set_desc_at(IND_GPA, 0, BUF_GPA + 0x100, 16, VRING_DESC_F_NEXT, 2);
	set_desc_at(IND_GPA, 2, BUF_GPA + 0x200, 32, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA + 0x300, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	c = pop_one("indirect");
	TEST_ASSERT(c.head == 0 && c.nr_out == 3 && c.nr_in == 1 && c.out_bytes == 56 &&
		    c.in_bytes == 64 && c.buf[1].gpa == BUF_GPA + 0x100 &&
		    c.buf[2].gpa == BUF_GPA + 0x200 && c.buf[3].gpa == BUF_GPA + 0x300 &&
		    c.buf[3].device_writes, "indirect chain: out %u in %u", c.nr_out, c.nr_in);

	/* A table of VQ_MAX_CHAIN entries, all used. */
	start_indirect(VQ_MAX_CHAIN * 16);
	for (uint16_t i = 0; i < VQ_MAX_CHAIN; i++)
		set_desc_at(IND_GPA, i, BUF_GPA, 1, i + 1u < VQ_MAX_CHAIN ? VRING_DESC_F_NEXT : 0,
			    (uint16_t)(i + 1));
	TEST_ASSERT(pop_one("full table").nr_out == VQ_MAX_CHAIN, "full table");

	start_indirect(16);
	vq.indirect = false;
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, 0, 0);
	expect_violation("VIRTIO_RING_F_INDIRECT_DESC", "indirect not negotiated");

	start_indirect(32);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	expect_violation("inside an indirect table", "nested indirect");

	start_indirect(16);
	set_desc(0, IND_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 1, 0, 0);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, 0, 0);
	expect_violation("combined with NEXT", "indirect + next");

	static const struct { uint64_t addr; uint32_t len; const char *rule, *what; } bad[] = {
		{ IND_GPA, 0, "multiple of 16", "indirect table of 0 bytes" },
		{ IND_GPA, 24, "multiple of 16", "indirect table of 24 bytes" },
		{ IND_GPA, 15, "multiple of 16", "indirect table of 15 bytes" },
		{ IND_GPA, (VQ_MAX_CHAIN + 1) * 16, "longer than VQ_MAX_CHAIN",
		  "indirect table of VQ_MAX_CHAIN + 1 entries" },
		{ IND_GPA, 0xfffffff0u, "longer than VQ_MAX_CHAIN", "indirect table of 4 GiB" },
		{ 16 * GiB, 32, "table not in RAM", "indirect table outside RAM" },
		{ RAM_BYTES - 16, 32, "table not in RAM", "indirect table crossing the end of RAM" },
		{ UINT64_MAX - 15, 32, "table not in RAM", "indirect table wrapping past 2^64" },
	};
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start_indirect(0);
		set_desc(0, bad[i].addr, bad[i].len, VRING_DESC_F_INDIRECT, 0);
		expect_violation(bad[i].rule, bad[i].what);
	}

	/* Next indices inside a table are bounded by the table, loops by its length. */
	start_indirect(32);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA, 1, VRING_DESC_F_NEXT, 2);
	set_desc_at(IND_GPA, 2, BUF_GPA, 1, 0, 0);   /* past the table: never read */
	expect_violation("outside the indirect table", "indirect next == table length");
	start_indirect(32);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA, 1, VRING_DESC_F_NEXT, 0);
	expect_violation("loop", "loop inside an indirect table");
	start_indirect(32);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA, 1, 0, 0);
	expect_violation("readable buffer after a writable", "indirect: writable before readable");
	setup(8, true);
	set_desc(0, BUF_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc_at(IND_GPA, 0, BUF_GPA, 1, 0, 0);
	publish(0);
	expect_violation("readable buffer after a writable", "readable in a table after writable");
	TEST_PASS("indirect descriptors");
}

/* vq_enable(): size and ring placement. */
static void expect_enable_fails(const char *rule, const char *what)
{
	struct vq_chain c;

	TEST_ASSERT(vq_enable(&vq) == -EINVAL && !vq.enabled && vq.broken && vq.why_broken &&
		    strstr(vq.why_broken, rule), "%s: broke '%s', expected '%s'", what,
		    vq.why_broken ? vq.why_broken : "-", rule);
	TEST_ASSERT(vq_pop(&vq, &c) == -EBADMSG, "%s: pop", what);
	printf("ok - enable refused: %s (%s)\n", what, vq.why_broken);
}

static void test_enable(void)
{
	static const uint16_t bad_sizes[] = { 0, 3, 6, 100, 255, MAX_SIZE + 1, 2 * MAX_SIZE,
					      0x8000, 0xffff };
	static const struct { uint64_t desc, avail, used; const char *rule, *what; } bad[] = {
		{ DESC_GPA + 8, AVAIL_GPA, USED_GPA, "16-byte", "desc misaligned" },
		{ DESC_GPA, AVAIL_GPA + 1, USED_GPA, "2-byte", "avail misaligned" },
		{ DESC_GPA, AVAIL_GPA, USED_GPA + 2, "4-byte", "used misaligned" },
		{ 16 * GiB, AVAIL_GPA, USED_GPA, "descriptor table not in RAM", "desc outside RAM" },
		{ RAM_BYTES - 16 * 3, AVAIL_GPA, USED_GPA, "descriptor table not in RAM",
		  "desc crossing the end of RAM" },
		/* avail is 6 + 2*4 = 14 bytes: 12 left is 2 short (the used_event field). */
		{ DESC_GPA, RAM_BYTES - 12, USED_GPA, "avail ring not in RAM",
		  "avail without room for used_event" },
		/* used is 6 + 8*4 = 38 bytes: 36 left misses avail_event. */
		{ DESC_GPA, AVAIL_GPA, RAM_BYTES - 36, "used ring not in RAM",
		  "used without room for avail_event" },
		{ DESC_GPA, MEM_MMIO_HOLE_START, USED_GPA, "avail ring not in RAM",
		  "avail in the MMIO hole" },
		{ DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, "used ring not in RAM", "used at 2^64-4" },
	};

	for (unsigned int i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		char what[64];

		configure(bad_sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA);
		snprintf(what, sizeof(what), "size %u", bad_sizes[i]);
		expect_enable_fails("power of two", what);
	}
	/* VQ_MAX_SIZE bounds a device offering more. */
	configure(2 * VQ_MAX_SIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	vq.max_size = 0x8000;
	expect_enable_fails("power of two", "size above VQ_MAX_SIZE");

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		configure(4, bad[i].desc, bad[i].avail, bad[i].used);
		expect_enable_fails(bad[i].rule, bad[i].what);
	}
	/* Exactly fitting at the end of RAM, and size 1 and the maximum, are fine. */
	configure(4, RAM_BYTES - 64, RAM_BYTES - 128, RAM_BYTES - 40);
	TEST_OK(vq_enable(&vq));
	configure(1, DESC_GPA, AVAIL_GPA, USED_GPA);
	TEST_OK(vq_enable(&vq));
	configure(MAX_SIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	TEST_OK(vq_enable(&vq));

	/* Broken stays broken, even for a now valid configuration, until vq_reset(). */
	configure(3, DESC_GPA, AVAIL_GPA, USED_GPA);
	expect_enable_fails("power of two", "size 3 again");
	vq.size = 4;
	TEST_ASSERT(vq_enable(&vq) == -EINVAL && vq.broken, "a broken queue was enabled");
	vq_reset(&vq);
	TEST_ASSERT(!vq.broken && !vq.why_broken && !vq.enabled && vq.size == MAX_SIZE &&
		    !vq.desc_gpa && !vq.avail_gpa && !vq.used_gpa && vq.mem == &gm &&
		    vq.max_size == MAX_SIZE, "vq_reset state");
	TEST_PASS("vq_enable: sizes, alignment, rings in RAM");
}

/* A violation stays until vq_reset(); after it the queue works again from index 0. */
static void test_reset(void)
{
	struct vq_chain c;

	setup(8, false);
	set_desc(0, BUF_GPA, 1, 0, 0);
	publish(0);
	pop_one("before");
	TEST_OK(vq_push(&vq, 0, 0));
	set_desc(1, 32 * GiB, 1, 0, 0);
	publish(1);
	expect_violation("not in RAM", "bad buffer");
	set_desc(1, BUF_GPA, 1, 0, 0);   /* the driver mends it: still broken */
	TEST_ASSERT(vq_pop(&vq, &c) == -EBADMSG && vq.last_avail == 1, "mended chain popped");
	vq_reset(&vq);
	TEST_ASSERT(!vq.broken && vq.last_avail == 0 && vq.used_idx == 0 && !vq.indirect &&
		    vq_pop(&vq, &c) == 0, "reset state, pop before enable");
	setup(8, false);   /* the driver sets the queue up again */
	set_desc(0, BUF_GPA, 1, 0, 0);
	publish(0);
	TEST_ASSERT(pop_one("after reset").head == 0, "head after reset");
	TEST_OK(vq_push(&vq, 0, 0));
	TEST_ASSERT(get16(USED_GPA + 2) == 1, "used idx after reset");
	TEST_PASS("broken until vq_reset()");
}

/* Rings in a region that goes away while enabled: the queue breaks, nothing crashes. */
static void test_ring_removed(void)
{
	const struct mem_region_spec spec = { .gpa = 8 * GiB, .size = EXTRA_BYTES,
					      .role = MEM_ROLE_HOTPLUG,
					      .backend = &mem_backend_anon };
	struct vq_chain c;
	unsigned int idx;

	TEST_OK(mem_region_add(&gm, &spec, &idx));
	setup_at(4, false, AVAIL_GPA, 8 * GiB);
	set_desc(0, BUF_GPA, 1, 0, 0);
	publish(0);
	pop_one("used ring in the hotplug region");
	TEST_OK(mem_region_remove(&gm, idx));
	TEST_ASSERT(vq_push(&vq, 0, 0) == -EFAULT && vq.broken &&
		    strstr(vq.why_broken, "used ring not in RAM"), "push into a removed ring");

	TEST_OK(mem_region_add(&gm, &spec, &idx));
	setup_at(4, false, 8 * GiB, USED_GPA);
	TEST_OK(mem_region_remove(&gm, idx));
	TEST_ASSERT(vq_wants_interrupt(&vq), "no avail ring: interrupt anyway");
	TEST_ASSERT(vq_pop(&vq, &c) == -EBADMSG && strstr(vq.why_broken, "avail ring not in RAM"),
		    "pop from a removed ring");
	TEST_PASS("rings removed under an enabled queue");
}

/* xorshift64*: reproducible from the printed seed. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(uint64_t gpa, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t r = rnd();

		TEST_OK(mem_write(&gm, gpa + i, &r, len - i < 8 ? len - i : 8));
	}
}

/* A descriptor that is often almost valid: addresses near RAM, small lengths, near indices. */
static void plausible_desc(uint64_t table, uint16_t i, uint16_t size)
{
	static const uint64_t bases[] = { BUF_GPA, IND_GPA, RAM_BYTES, 0, UINT64_MAX };
	uint64_t addr = bases[rnd() % 5] - 64 + rnd() % 128;
	uint32_t len = rnd() % 4 ? (uint32_t)(rnd() % 8 * 16) : (uint32_t)rnd();
	uint16_t flags = (uint16_t)(rnd() % 8);

	set_desc_at(table, i, addr, len, flags, (uint16_t)(rnd() % (size + 2u)));
}

/* A popped chain obeys every rule vq_pop() promises. */
static void check_chain(const struct vq_chain *c, uint16_t size)
{
	uint64_t out = 0, in = 0;
	uint8_t scratch[256];

	TEST_ASSERT(c->head < size, "head %u of %u", c->head, size);
	TEST_ASSERT(c->nr_out + c->nr_in >= 1 && c->nr_out + c->nr_in <= VQ_MAX_CHAIN,
		    "%u + %u buffers", c->nr_out, c->nr_in);
	for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++) {
		TEST_ASSERT(c->buf[i].device_writes == (i >= c->nr_out), "direction of %u", i);
		TEST_ASSERT(mem_range_is_ram(&gm, c->buf[i].gpa, c->buf[i].len),
			    "buffer %u outside RAM", i);
		*(c->buf[i].device_writes ? &in : &out) += c->buf[i].len;
	}
	TEST_ASSERT(out == c->out_bytes && in == c->in_bytes, "byte counts");
	if (c->out_bytes)
		TEST_OK(vq_chain_read(&gm, c, rnd() % c->out_bytes, scratch, 1));
	if (c->in_bytes) {
		uint64_t off = rnd() % c->in_bytes;
		size_t n = c->in_bytes - off < sizeof(scratch) ? c->in_bytes - off : sizeof(scratch);

		memset(scratch, 0xee, n);
		TEST_OK(vq_chain_write(&gm, c, off, scratch, n));
	}
	TEST_ASSERT(vq_chain_read(&gm, c, c->out_bytes, scratch, 1) == -EFAULT, "read past out");
}

/* Random rings, changed between pops as a hostile guest would: pops end, rules hold. */
static void test_random(void)
{
	const char *env = getenv("VQ_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
	unsigned long pops = 0, good = 0, broken = 0, refused = 0;
	struct { const char *why; unsigned long n; } rules[MAX_RULES] = { { 0 } };
	unsigned int nr_rules = 0;

	rng_state = seed ? seed : 1;
	printf("# random rings: seed 0x%" PRIx64 " (VQ_SEED=... to repeat)\n", seed);
	for (unsigned int round = 0; round < RANDOM_ROUNDS; round++) {
		uint16_t size = (uint16_t)(1u << (rnd() % 9));   /* 1..256 */
		uint64_t used = rnd() % 16 ? USED_GPA : RAM_BYTES - rnd() % 64;

		configure(size, DESC_GPA, AVAIL_GPA, used);
		vq.indirect = rnd() % 2;
		fill_random(DESC_GPA, 16ull * size);
		fill_random(AVAIL_GPA, 6 + 2ull * size);
		fill_random(IND_GPA, 16 * VQ_MAX_CHAIN);
		if (rnd() % 4) {   /* else: all random */
			for (uint16_t i = 0; i < size; i++)
				plausible_desc(DESC_GPA, i, size);
			for (uint16_t i = 0; i < VQ_MAX_CHAIN; i++)
				plausible_desc(IND_GPA, i, VQ_MAX_CHAIN);
			for (uint16_t i = 0; i < size; i++)
				put16(AVAIL_GPA + 4 + 2ull * i, (uint16_t)(rnd() % (size + 1u)));
			vq.last_avail = vq.used_idx = (uint16_t)rnd();
			put16(AVAIL_GPA + 2, (uint16_t)(vq.last_avail + rnd() % (size + 2u)));
		}
		if (vq_enable(&vq)) {
			TEST_ASSERT(vq.broken && vq.why_broken, "refused enable without a reason");
			refused++;
			continue;
		}
		for (unsigned int k = 0; k < 2u * size + 2; k++) {
			struct vq_chain c;
			uint16_t last = vq.last_avail;
			unsigned int i;
			int ret = vq_pop(&vq, &c);

			pops++;
			if (ret < 0) {
				TEST_ASSERT(ret == -EBADMSG && vq.broken && vq.why_broken &&
					    vq.last_avail == last, "round %u: violation state", round);
				broken++;
				for (i = 0; i < nr_rules && rules[i].why != vq.why_broken; i++)
					;
				if (i == nr_rules && nr_rules < MAX_RULES)
					rules[nr_rules++].why = vq.why_broken;
				if (i < nr_rules)
					rules[i].n++;
				break;
			}
			if (ret == 0)
				break;
			good++;
			check_chain(&c, size);
			if (vq_push(&vq, c.head, (uint32_t)c.in_bytes) == -EFAULT)
				TEST_ASSERT(vq.broken, "push fault without breaking");
			/* The guest scribbles on a descriptor or a ring entry meanwhile. */
			if (rnd() % 3 == 0)
				plausible_desc(DESC_GPA, (uint16_t)(rnd() % size), size);
			if (rnd() % 5 == 0)
				fill_random(AVAIL_GPA + 2, 2);
		}
	}
	printf("# %lu pops: %lu chains, %lu violations, %lu refused enables\n", pops, good,
	       broken, refused);
	for (unsigned int i = 0; i < nr_rules; i++)
		printf("#   %8lu  %s\n", rules[i].n, rules[i].why);
	TEST_ASSERT(good > 1000 && broken > 1000 && nr_rules >= 10,
		    "random rings hardly exercised the walker");
	TEST_PASS("random rings");
}

int main(void)
{
	struct mem_config cfg = { .size = RAM_BYTES, .backend = &mem_backend_anon };

	alarm(120);   /* a walk that does not end fails the test instead of hanging it */
	TEST_OK(mem_create(&gm, &cfg, -1, NULL));
	test_single();
	test_multi();
	test_cross_region();
	test_used_ring();
	test_wrap();
	test_avail_ahead();
	test_chain_violations();
	test_buffer_violations();
	test_indirect();
	test_enable();
	test_reset();
	test_ring_removed();
	test_random();
	mem_destroy(&gm);
	return 0;
}
