// SPDX-License-Identifier: MIT
/*
 * The hostile guest's second half (tests/test_virtio_hostile.h): MSI-X
 * garbage and cycles, requests racing the control socket's requested size
 * and driver resets on other threads, garbage restore blobs, many
 * plug/unplug/reset cycles (nothing leaks), a device created with too few
 * file descriptors, and the control socket's virtio-mem command.
 */
#include "tests/test_virtio_hostile.h"

#include <endian.h>
#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>
#include <linux/virtio_pci.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tests/test.h"
#include "vmm/control.h"
#include "vmm/vm.h"

static uint64_t msix_entry(unsigned int v, unsigned int field)
{
	return vt.msix_bar + PCI_MSIX_ENTRY_SIZE * v + field;
}

/* MSI-X table and PBA writes of every size at every offset; vectors on and off many times. */
void run_msix(const void *arg)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	int fds;

	setup();
	fds = open_fds();
	vt_msix_enable(&vt, NR_VECTORS);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_MSIX, 2, 1);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK && vt_msix_fired(&vt, 0) == 1,
		    "queue vector");
	for (unsigned int off = 0; off < PCI_MSIX_BAR_BYTES; off++)
		for (unsigned int i = 0; i < 4; i++)
			fake_mmio_write(&f, vt.msix_bar + off, sizes[i], rnd());
	check_services("MSI-X table garbage");
	for (unsigned int round = 0; round < 3000; round++) {
		uint32_t ctl = (uint32_t)rnd() & (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);

		fake_cfg_write(&f, vt.slot, vt.msix_cap + PCI_MSIX_FLAGS, 2, ctl);
		fake_mmio_write(&f, msix_entry(round % NR_VECTORS, PCI_MSIX_ENTRY_VECTOR_CTRL), 4,
				rnd() & 1);
		fake_mmio_write(&f, msix_entry(round % NR_VECTORS, PCI_MSIX_ENTRY_DATA), 4, rnd());
		vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, rnd() % 4);
		TEST_ASSERT(request(VIRTIO_MEM_REQ_STATE, base, 1) == VIRTIO_MEM_RESP_ACK,
			    "STATE in round %u", round);
		TEST_OK(virtio_mem_set_requested(dev, (rnd() % 8) * BLOCK));
	}
	check_services("MSI-X cycles");
	fake_cfg_write(&f, vt.slot, vt.msix_cap + PCI_MSIX_FLAGS, 2, 0);
	TEST_ASSERT(f.routes_used == 0 && f.irqfds_assigned == 0, "MSI-X off: %u routes, %u irqfds",
		    f.routes_used, f.irqfds_assigned);
	TEST_ASSERT(open_fds() == fds, "fds: %d before, %d after", fds, open_fds());
	TEST_ASSERT(status().driver_status & VIRTIO_CONFIG_S_DRIVER_OK && !status().needs_reset,
		    "device broken by MSI-X garbage");
	teardown();
}

/* The plugged blocks as STATE reports them, one request per block. */
static uint64_t plugged_by_state(void)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < NR_BLOCKS; b++) {
		struct virtio_mem_resp resp;
		uint16_t t = request(VIRTIO_MEM_REQ_STATE, base + b * BLOCK, 1);

		if (t != VIRTIO_MEM_RESP_ACK)
			return UINT64_MAX;   /* past the usable region */
		TEST_OK(mem_read(&f.mem, RESP_GPA, &resp, sizeof(resp)));
		n += le16toh(resp.u.state.state) == VIRTIO_MEM_STATE_PLUGGED;
	}
	return n * BLOCK;
}

struct racer {
	atomic_bool stop;
	atomic_ulong rounds;
};

/* The control socket: requested size up and down, status, on its own thread. */
static void *requested_thread(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		struct vmem_status st;

		TEST_OK(virtio_mem_set_requested(dev, (rnd() % (NR_BLOCKS + 1)) * BLOCK));
		virtio_mem_get_status(dev, &st);
		TEST_ASSERT(st.plugged <= HOTPLUG_BYTES && st.usable <= HOTPLUG_BYTES,
			    "status: plugged %llu, usable %llu", (unsigned long long)st.plugged,
			    (unsigned long long)st.usable);
		atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

void run_requested_race(const void *arg)
{
	struct racer r;
	pthread_t t;

	setup();
	atomic_init(&r.stop, false);
	atomic_init(&r.rounds, 0);
	TEST_ASSERT(!pthread_create(&t, NULL, requested_thread, &r), "pthread_create");
	for (unsigned int round = 0; round < 3000; round++) {
		uint64_t b = rnd() % NR_BLOCKS, nb = 1 + rnd() % 4;
		uint16_t type = rnd() % 3 ? VIRTIO_MEM_REQ_PLUG : VIRTIO_MEM_REQ_UNPLUG;
		uint16_t t2 = request(type, base + b * BLOCK, (uint16_t)nb);

		TEST_ASSERT(t2 != RESP_NONE, "round %u unanswered", round);
		if (round % 500 == 0)
			TEST_ASSERT(request(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0) == VIRTIO_MEM_RESP_ACK,
				    "UNPLUG_ALL");
	}
	atomic_store(&r.stop, true);
	TEST_ASSERT(!pthread_join(t, NULL), "pthread_join");
	printf("# %lu requested-size changes meanwhile\n", (unsigned long)atomic_load(&r.rounds));
	TEST_OK(virtio_mem_set_requested(dev, HOTPLUG_BYTES));
	TEST_ASSERT(!status().needs_reset && plugged_by_state() == status().plugged &&
		    resident(0, HOTPLUG_BYTES) == status().plugged,
		    "plugged %llu, by STATE %llu, resident %llu", (unsigned long long)status().plugged,
		    (unsigned long long)plugged_by_state(),
		    (unsigned long long)resident(0, HOTPLUG_BYTES));
	teardown();
}

/* A second vCPU resetting the driver state and re-enabling the queue, raw. */
static void *reset_thread(void *arg)
{
	struct racer *r = arg;
	const uint64_t common = vt.bar4 + vt.off[VIRTIO_PCI_CAP_COMMON_CFG];
	const struct vt_queue q = vt.q[0];

	while (!atomic_load(&r->stop)) {
		uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, 0);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, st);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_GF, 4, 1);
		st |= VIRTIO_CONFIG_S_FEATURES_OK;
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, st);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_DESCLO, 8, q.desc);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_AVAILLO, 8, q.avail);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_USEDLO, 8, q.used);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1,
				st | VIRTIO_CONFIG_S_DRIVER_OK);
		atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

/*
 * Requests processed on this thread (trapped notifies, as from a vCPU) and
 * on the main loop, while another vCPU resets the device over and over.
 */
void run_reset_race(const void *arg)
{
	struct virtio_mem_req req = { .type = htole16(VIRTIO_MEM_REQ_PLUG) };
	const struct vt_buf b[2] = {
		{ .gpa = REQ_GPA, .len = sizeof(req) },
		{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
	};
	struct racer r;
	pthread_t t;

	setup();
	atomic_init(&r.stop, false);
	atomic_init(&r.rounds, 0);
	TEST_ASSERT(!pthread_create(&t, NULL, reset_thread, &r), "pthread_create");
	for (unsigned int round = 0; round < 20000; round++) {
		req.type = htole16(rnd() % 2 ? VIRTIO_MEM_REQ_PLUG : VIRTIO_MEM_REQ_UNPLUG);
		req.u.plug.addr = htole64(base + (rnd() % 32) * BLOCK);
		req.u.plug.nb_blocks = htole16(1);
		vt_mem_write(&vt, REQ_GPA, &req, sizeof(req));
		chain_add(b, 2);
		if (round % 2)
			fake_mmio_write(&f, vt_notify_addr(&vt, 0), 4, 0);
		else
			vt_kick(&vt, 0);
	}
	atomic_store(&r.stop, true);
	TEST_ASSERT(!pthread_join(t, NULL), "pthread_join");
	printf("# %lu resets meanwhile; %llu plugged\n", (unsigned long)atomic_load(&r.rounds),
	       (unsigned long long)status().plugged);
	check_services("reset race");
	restart();
	TEST_ASSERT(plugged_by_state() == status().plugged && resident_unplugged() == 0,
		    "plugged %llu, by STATE %llu", (unsigned long long)status().plugged,
		    (unsigned long long)plugged_by_state());
	teardown();
}

/* The machine resetting (as a snapshot restore or reboot would) and a vCPU bringing it back. */
static void *machine_reset_thread(void *arg)
{
	struct racer *r = arg;
	const uint64_t common = vt.bar4 + vt.off[VIRTIO_PCI_CAP_COMMON_CFG];
	const struct vt_queue q = vt.q[0];

	while (!atomic_load(&r->stop)) {
		virtio_mem_device_ops.reset(dev);
		/* After a reset BARs are back where memvmm put them, decoding off. */
		fake_cfg_write(&f, vt.slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, 3);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_GF, 4, 1);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, 11);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_DESCLO, 8, q.desc);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_AVAILLO, 8, q.avail);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_USEDLO, 8, q.used);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		fake_mmio_write(&f, common + VIRTIO_PCI_COMMON_STATUS, 1, 15);
		atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

/* Plugs on this thread (trapped) and the main loop while the machine resets under them. */
void run_machine_reset_race(const void *arg)
{
	struct virtio_mem_req req = { .type = htole16(VIRTIO_MEM_REQ_PLUG) };
	const struct vt_buf b[2] = {
		{ .gpa = REQ_GPA, .len = sizeof(req) },
		{ .gpa = RESP_GPA, .len = sizeof(struct virtio_mem_resp), .write = true },
	};
	struct racer r;
	pthread_t t;

	setup();
	atomic_init(&r.stop, false);
	atomic_init(&r.rounds, 0);
	TEST_ASSERT(!pthread_create(&t, NULL, machine_reset_thread, &r), "pthread_create");
	for (unsigned int round = 0; round < 3000; round++) {
		req.u.plug.addr = htole64(base + (rnd() % 16) * BLOCK);
		req.u.plug.nb_blocks = htole16(1);
		vt_mem_write(&vt, REQ_GPA, &req, sizeof(req));
		chain_add(b, 2);
		if (round % 2)
			fake_mmio_write(&f, vt.bar4 + VIRTIO_PCI_NOTIFY_OFF, 4, 0);
		else
			vt_kick(&vt, 0);
	}
	atomic_store(&r.stop, true);
	TEST_ASSERT(!pthread_join(t, NULL), "pthread_join");
	printf("# %lu machine resets meanwhile\n", (unsigned long)atomic_load(&r.rounds));
	check_services("machine reset race");
	virtio_mem_device_ops.reset(dev);
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0 && status().plugged == 0, "after a reset");
	vt_find(&f, &vt);
	vt_start(&vt, 0, 1);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK && resident_unplugged() == 0,
		    "after the race");
	teardown();
}

static size_t save(uint8_t **blob)
{
	size_t len = 0;
	int ret = virtio_mem_device_ops.save(dev, NULL, &len);

	TEST_ASSERT(ret == -ENOSPC && len, "save's size: %d", ret);
	*blob = malloc(len);
	TEST_ASSERT(*blob, "malloc");
	TEST_OK(virtio_mem_device_ops.save(dev, *blob, &len));
	return len;
}

/* After any restore, accepted or not: a device that says what the host has. */
static void check_consistent(const char *what, size_t at)
{
	TEST_ASSERT(resident_unplugged() == 0 && status().plugged <= HOTPLUG_BYTES &&
		    status().usable <= HOTPLUG_BYTES && status().requested <= HOTPLUG_BYTES,
		    "%s at %zu: plugged %llu, resident %llu", what, at,
		    (unsigned long long)status().plugged,
		    (unsigned long long)resident(0, HOTPLUG_BYTES));
	check_services(what);
}

/* Truncated, bit-flipped and random restore blobs: refused whole, or a consistent device. */
void run_restore_garbage(const void *arg)
{
	struct vmem_status before;
	uint8_t *blob, *bad;
	unsigned int taken = 0;
	size_t len;

	setup();
	vt_msix_enable(&vt, NR_VECTORS);
	TEST_ASSERT(plug(0, 8 * BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
	len = save(&blob);
	before = status();
	bad = malloc(len);
	TEST_ASSERT(bad, "malloc");
	for (size_t n = 0; n < len; n++) {
		TEST_ASSERT(virtio_mem_device_ops.restore(dev, blob, n) == -EINVAL,
			    "a blob cut at %zu of %zu taken", n, len);
		TEST_ASSERT(status().plugged == before.plugged, "cut at %zu changed it", n);
	}
	check_consistent("truncated", 0);
	for (unsigned int round = 0; round < 4000; round++) {
		size_t bit = round < 8 * 64 ? round : rnd() % (8 * len);
		int ret;

		memcpy(bad, blob, len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (round % 7 == 6)
			for (unsigned int k = 0; k < 8; k++)
				bad[rnd() % len] = (uint8_t)rnd();
		ret = virtio_mem_device_ops.restore(dev, bad, len);
		TEST_ASSERT(ret == 0 || ret == -EINVAL, "restore: %d", ret);
		check_consistent(ret ? "refused" : "taken", bit);
		if (!ret) {
			taken++;
			TEST_OK(virtio_mem_device_ops.restore(dev, blob, len));
			TEST_ASSERT(status().plugged == before.plugged, "the good blob again");
		}
	}
	printf("# %u of 4000 mutated blobs taken\n", taken);
	TEST_OK(virtio_mem_device_ops.restore(dev, blob, len));
	restart();
	TEST_ASSERT(status().plugged == 8 * BLOCK && plugged_by_state() == 8 * BLOCK,
		    "after the garbage");
	free(bad);
	free(blob);
	teardown();
}

/* Plug, unplug, UNPLUG_ALL, MSI-X on and off, driver and machine resets, many times. */
void run_cycles(const void *arg)
{
	unsigned int routes, irqfds;
	int fds;

	setup();
	fds = open_fds();
	routes = f.routes_used;
	irqfds = f.irqfds_assigned;
	for (unsigned int round = 0; round < 400; round++) {
		TEST_ASSERT(plug(0, 8 * BLOCK) == VIRTIO_MEM_RESP_ACK, "plug %u", round);
		TEST_ASSERT(unplug(2 * BLOCK, 2 * BLOCK) == VIRTIO_MEM_RESP_ACK, "unplug %u", round);
		TEST_ASSERT(request(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0) == VIRTIO_MEM_RESP_ACK,
			    "UNPLUG_ALL %u", round);
		if (round % 2)
			vt_msix_enable(&vt, NR_VECTORS);
		else
			fake_cfg_write(&f, vt.slot, vt.msix_cap + PCI_MSIX_FLAGS, 2, 0);
		if (round % 5 == 0)
			restart();
		if (round % 50 == 49) {
			virtio_mem_device_ops.reset(dev);
			vt_find(&f, &vt);
			vt_start(&vt, 0, 1);
		}
	}
	fake_cfg_write(&f, vt.slot, vt.msix_cap + PCI_MSIX_FLAGS, 2, 0);
	TEST_ASSERT(open_fds() == fds && f.routes_used == routes && f.irqfds_assigned == irqfds,
		    "fds %d -> %d, routes %u -> %u, irqfds %u -> %u", fds, open_fds(), routes,
		    f.routes_used, irqfds, f.irqfds_assigned);
	TEST_ASSERT(resident(0, HOTPLUG_BYTES) == 0 && status().plugged == 0, "memory left");
	check_services("cycles");
	teardown();
}

/* One control socket request line to vm_control.c's commands; the reply line. */
static char *ctl(struct vm *vm, const char *line)
{
	char *reply = control_handle_line(vm_control_commands, vm_nr_control_commands, vm, line,
					  strlen(line));

	TEST_ASSERT(reply, "no reply to %s", line);
	return reply;
}

static void ctl_refused(struct vm *vm, const char *value, const char *want)
{
	char line[256], *reply;

	snprintf(line, sizeof(line), "{\"cmd\":\"virtio-mem\",\"requested\":\"%s\"}", value);
	reply = ctl(vm, line);
	TEST_ASSERT(strstr(reply, "\"ok\":false") && strstr(reply, want),
		    "requested '%s': %s", value, reply);
	free(reply);
}

/* memvmm ctl virtio-mem requested=...: every bad value refused by name, a good one taken. */
void run_ctl(const void *arg)
{
	static struct vm vm;   /* what the command uses of it: the device */
	char *reply;
	uint8_t isr;

	setup();
	vm.vmem = dev;
	ctl_refused(&vm, "", "invalid requested ''");
	ctl_refused(&vm, "1.5G", "invalid requested '1.5G'");
	ctl_refused(&vm, "-2M", "invalid requested '-2M'");
	ctl_refused(&vm, "99999999999T", "too large: requested '99999999999T'");
	ctl_refused(&vm, "512M", "requested '512M' is more than the region's 256M");
	ctl_refused(&vm, "3M", "requested '3M' is not a multiple of the block size 2048K");
	reply = ctl(&vm, "{\"cmd\":\"virtio-mem\",\"requested\":1}");
	TEST_ASSERT(strstr(reply, "must be a string"), "a number: %s", reply);
	free(reply);
	reply = ctl(&vm, "{\"cmd\":\"virtio-mem\"}");
	TEST_ASSERT(strstr(reply, "requested=SIZE is missing"), "none: %s", reply);
	free(reply);
	TEST_ASSERT(status().requested == REQUESTED, "a refusal changed requested");
	(void)vt_isr(&vt);
	reply = ctl(&vm, "{\"cmd\":\"virtio-mem\",\"requested\":\"128M\"}");
	isr = vt_isr(&vt);
	TEST_ASSERT(strstr(reply, "\"ok\":true") && strstr(reply, "\"requested\":134217728") &&
		    strstr(reply, "\"previous\":67108864") && status().requested == 128 * MiB &&
		    (isr & VIRTIO_PCI_ISR_CONFIG), "taken: %s (ISR %#x)", reply, isr);
	free(reply);
	/* The sizes the command reads are status's, without measuring the region. */
	{
		struct vmem_status a, b;

		TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug");
		virtio_mem_get_sizes(dev, &a);
		virtio_mem_get_status(dev, &b);
		TEST_ASSERT(a.requested == b.requested && a.plugged == b.plugged &&
			    a.usable == b.usable && a.plugs == b.plugs && !a.resident &&
			    !a.resident_err && b.resident == BLOCK, "sizes vs status");
	}
	teardown();
}

/* Below it, no new fd can be had (fds are numbered lowest free first). */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	TEST_ASSERT(fd >= 0, "dup");
	close(fd);
	return fd;
}

/*
 * Creation with too few fds fails cleanly; at run time an interrupt without
 * an eventfd still goes out.
 */
void run_rlimit_nofile(const void *arg)
{
	const struct fake_ctx_config fc = {
		.ram_bytes = VT_RAM_BYTES, .hotplug_bytes = HOTPLUG_BYTES, .pci = true,
	};
	struct rlimit old, low;
	struct vmem_config c;
	unsigned int region, failed = 0;
	int fds;

	TEST_ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
	fake_ctx_init(&f, &fc);
	fake_ctx_add_hotplug(&f, &mem_backend_memfd, &region);
	base = f.mem.region[region].gpa;
	c = (struct vmem_config){ .region = region, .block_size = BLOCK, .requested = REQUESTED };
	fds = open_fds();
	for (unsigned int extra = 0; extra < 4; extra++) {
		int ret;

		low = (struct rlimit){ .rlim_cur = (rlim_t)lowest_free_fd() + extra,
				       .rlim_max = old.rlim_max };
		TEST_ASSERT(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
		ret = virtio_mem_device_ops.create(&f.ctx, &c, &dev);
		TEST_ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit back");
		if (ret) {
			TEST_ASSERT(ret == -EMFILE, "create with %u fds to spare: %d", extra, ret);
			TEST_ASSERT(open_fds() == fds && !f.nr_ioeventfds && !f.routes_used,
				    "a failed create leaked");
			failed++;
			continue;
		}
		virtio_mem_device_ops.destroy(dev);
		TEST_ASSERT(open_fds() == fds, "destroy leaked fds");
	}
	TEST_ASSERT(failed, "create never ran out of fds");
	/* Created with room, then no fd left for MSI-X's eventfds: sent directly instead. */
	TEST_OK(virtio_mem_device_ops.create(&f.ctx, &c, &dev));
	vt_find(&f, &vt);
	vt_start(&vt, 0, 1);
	low.rlim_cur = (rlim_t)lowest_free_fd();
	TEST_ASSERT(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
	vt_msix_enable(&vt, NR_VECTORS);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	vt_common_write(&vt, VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
	TEST_ASSERT(plug(0, BLOCK) == VIRTIO_MEM_RESP_ACK, "plug without fds");
	TEST_ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit back");
	TEST_ASSERT(f.nr_msi_sent >= 1 && status().plugged == BLOCK,
		    "the queue interrupt was not sent directly (%u)", f.nr_msi_sent);
	check_services("rlimit");
	teardown();
}
