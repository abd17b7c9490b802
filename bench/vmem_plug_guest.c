// SPDX-License-Identifier: MIT
/*
 * vmem-plug's guest runs: start memvmm or QEMU with the test guest, wait
 * for each of the guest's report lines, read the host's meter (and
 * memvmm's status) while the guest waits in its read=1 step, then let it
 * go on with one byte on its console (the child: guest_proc.c).
 */
#include "bench/vmem_plug.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/guest_proc.h"

#define VP_RUN_TIMEOUT_NS     (300ull * 1000000000ull)  /* one whole run */
#define VP_MIB                (1024.0 * 1024.0)

/* ---- command lines ------------------------------------------------------------ */

void vp_cmd_add(struct vp_cmd *c, const char *fmt, ...)
{
	size_t room = sizeof(c->buf) - c->used;
	va_list ap;
	int n;

	if (c->truncated || c->argc == VP_CMD_MAX_ARGS) {
		c->truncated = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->buf + c->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		c->truncated = true;
		return;
	}
	c->argv[c->argc++] = c->buf + c->used;
	c->argv[c->argc] = NULL;
	c->used += (size_t)n + 1;
}

void vp_cmd_print(const struct vp_cmd *c, FILE *f)
{
	for (unsigned int i = 0; i < c->argc; i++)
		fprintf(f, strpbrk(c->argv[i], " \t") ? "%s'%s'" : "%s%s", i ? " " : "",
			c->argv[i]);
}

/* "128M", "1G": sizes the way memvmm and QEMU take them. */
static const char *size_arg(uint64_t v, char *buf, size_t len)
{
	bench_fmt_size(v, buf, len);
	return buf;
}

void vp_memvmm_cmd(struct vp_cmd *c, const struct vp_memvmm_spec *m)
{
	char ram[32], sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	size_arg(m->ram, ram, sizeof(ram));
	size_arg(m->size, sz, sizeof(sz));
	vp_cmd_add(c, "%s", m->memvmm);
	vp_cmd_add(c, "run");
	vp_cmd_add(c, "--memory");
	vp_cmd_add(c, "size=%s,backend=%s,populate-threads=%u", ram, m->backend, m->threads);
	vp_cmd_add(c, "--virtio-mem");
	vp_cmd_add(c, "size=%s,requested=%s,block=2M,backend=%s,populate=%s", sz, sz, m->backend,
		   m->populate);
	vp_cmd_add(c, "--api-socket");
	vp_cmd_add(c, "%s", m->sock);
	vp_cmd_add(c, "--cmdline");
	vp_cmd_add(c, "%s", m->cmdline);
}

void vp_cmd_qemu_headless(struct vp_cmd *c)
{
	vp_cmd_add(c, "-vga");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-display");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-no-reboot");
	vp_cmd_add(c, "-monitor");
	vp_cmd_add(c, "none");
	vp_cmd_add(c, "-serial");
	vp_cmd_add(c, "stdio");
	vp_cmd_add(c, "-device");
	vp_cmd_add(c, "isa-debug-exit,iobase=0x501,iosize=4");
}

void vp_qemu_cmd(struct vp_cmd *c, const struct vp_qemu_spec *q)
{
	char ram[32], maxmem[32], sz[32];

	*c = (struct vp_cmd){ .argc = 0 };
	size_arg(q->ram, ram, sizeof(ram));
	size_arg(q->ram + q->size, maxmem, sizeof(maxmem));
	size_arg(q->size, sz, sizeof(sz));
	vp_cmd_add(c, "%s", q->qemu);
	vp_cmd_add(c, "-machine");
	vp_cmd_add(c, "pc");
	vp_cmd_add(c, "-accel");
	vp_cmd_add(c, "%s", q->accel);
	vp_cmd_add(c, "-m");
	vp_cmd_add(c, "%s,maxmem=%s", ram, maxmem);
	vp_cmd_qemu_headless(c);
	vp_cmd_add(c, "-kernel");
	vp_cmd_add(c, "%s", q->elf);
	vp_cmd_add(c, "-append");
	vp_cmd_add(c, "%s", q->cmdline);
	vp_cmd_add(c, "-object");
	vp_cmd_add(c, "%s,id=vmem0,size=%s", q->object, sz);
	vp_cmd_add(c, "-device");
	vp_cmd_add(c, "virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=%s,block-size=2M,"
		   "prealloc=%s,unplugged-inaccessible=on", sz, q->prealloc ? "on" : "off");
}

/* ---- the guest's lines and memvmm's status -------------------------------- */

struct vp_status {
	double plug_ms, unplug_ms;
	double resident;       /* bytes; NAN if memvmm could not measure it */
	uint64_t plugged;
	char used[32];
};

static bool json_u64(json_object *o, const char *key, uint64_t *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
		return false;
	*v = json_object_get_uint64(x);
	return true;
}

/* memvmm's `status`: its "virtio_mem" object. */
static int memvmm_status(const char *sock, struct vp_status *st, char *why, size_t len)
{
	json_object *root, *vm, *used;
	uint64_t resident;
	int ret = guest_memvmm_status(sock, &root, why, len);

	if (ret)
		return ret;
	ret = -EPROTO;
	if (!json_object_object_get_ex(root, "virtio_mem", &vm) ||
	    !guest_json_num(vm, "plug_ms", &st->plug_ms) ||
	    !guest_json_num(vm, "unplug_ms", &st->unplug_ms) ||
	    !json_u64(vm, "plugged", &st->plugged)) {
		snprintf(why, len, "memvmm status: no virtio_mem plug_ms, unplug_ms, plugged");
		goto out;
	}
	/* Absent when memvmm could not measure it ("resident_error"). */
	st->resident = NAN;
	if (json_u64(vm, "resident", &resident))
		st->resident = (double)resident;
	st->used[0] = '\0';
	if (json_object_object_get_ex(vm, "populate_used", &used))
		snprintf(st->used, sizeof(st->used), "%s", json_object_get_string(used));
	ret = 0;
out:
	json_object_put(root);
	return ret;
}

/* ---- one run --------------------------------------------------------------- */

struct vp_run_state {
	struct vp_guest_run *g;
	struct guest_run r;
	uint64_t before;
};

/* Meter now, minus before (in MiB) into val[k]; before itself when k is VP_HOST_BEFORE_MIB. */
static int vp_meter(struct vp_run_state *s, enum vp_val k)
{
	uint64_t bytes;
	int ret = guest_run_meter(&s->r, &bytes);

	if (ret)
		return ret;
	if (k == VP_HOST_BEFORE_MIB)
		s->before = bytes;
	s->g->val[k] = k == VP_HOST_BEFORE_MIB ? (double)bytes / VP_MIB :
		       ((double)bytes - (double)s->before) / VP_MIB;
	return 0;
}

/* The step's bytes= is the size, and no request got NACK/BUSY/ERROR. */
static int vp_check_bytes(struct vp_run_state *s, const char *step)
{
	uint64_t bytes = 0, nack = 0, busy = 0, error = 0;

	if (!guest_line_u64(s->r.line, "bytes", &bytes) || bytes != s->g->size ||
	    (guest_line_u64(s->r.line, "nack", &nack) && nack) ||
	    (guest_line_u64(s->r.line, "busy", &busy) && busy) ||
	    (guest_line_u64(s->r.line, "error", &error) && error)) {
		snprintf(s->g->why, sizeof(s->g->why), "%s: bytes=%llu of %llu, nack=%llu busy=%llu "
			 "error=%llu", step, (unsigned long long)bytes,
			 (unsigned long long)s->g->size, (unsigned long long)nack,
			 (unsigned long long)busy, (unsigned long long)error);
		return -EIO;
	}
	return 0;
}

/* memvmm's status after a step: plugged must be what the guest says. */
static int vp_status(struct vp_run_state *s, bool after_plug)
{
	struct vp_guest_run *g = s->g;
	struct vp_status st;
	uint64_t want = after_plug ? g->size : 0;
	int ret;

	if (!g->sock)
		return 0;
	ret = memvmm_status(g->sock, &st, g->why, sizeof(g->why));
	if (ret)
		return ret;
	if (st.plugged != want) {
		snprintf(g->why, sizeof(g->why), "memvmm status: plugged %llu after the %s, want %llu",
			 (unsigned long long)st.plugged, after_plug ? "plug" : "unplug",
			 (unsigned long long)want);
		return -EIO;
	}
	if (after_plug) {
		g->val[VP_DEV_PLUG_MS] = st.plug_ms;
		g->val[VP_RES_PLUG_MIB] = st.resident / VP_MIB;
		snprintf(g->note, sizeof(g->note), "%s", st.used);
	} else {
		g->val[VP_DEV_UNPLUG_MS] = st.unplug_ms;
		g->val[VP_RES_UNPLUG_MIB] = st.resident / VP_MIB;
	}
	return 0;
}

static int vp_drive(struct vp_run_state *s)
{
	struct vp_guest_run *g = s->g;
	struct guest_run *r = &s->r;
	int ret;

	ret = guest_run_step(r, GUEST_LINE_PREFIX "start ", false);
	if (ret == -EPIPE)
		return guest_run_refused(r);
	if (ret || (ret = vp_meter(s, VP_HOST_BEFORE_MIB)))
		return ret;

	if ((ret = guest_run_step(r, GUEST_LINE_PREFIX "vmem-plug ", true)))
		return ret;
	g->val[VP_PLUG_MS] = guest_line_ms(r->line);
	if (!guest_line_u64(r->line, "requests", &g->plug_requests))
		g->plug_requests = 0;
	if ((ret = vp_check_bytes(s, "vmem-plug")) || (ret = vp_meter(s, VP_HOST_PLUG_MIB)) ||
	    (ret = vp_status(s, true)))
		return ret;

	if ((ret = guest_run_step(r, GUEST_LINE_PREFIX "vmem-touch ", true)))
		return ret;
	g->val[VP_TOUCH_MS] = guest_line_ms(r->line);
	if ((ret = vp_meter(s, VP_HOST_TOUCH_MIB)))
		return ret;

	if ((ret = guest_run_step(r, GUEST_LINE_PREFIX "vmem-unplug ", true)))
		return ret;
	g->val[VP_UNPLUG_MS] = guest_line_ms(r->line);
	if ((ret = vp_check_bytes(s, "vmem-unplug")) || (ret = vp_meter(s, VP_HOST_UNPLUG_MIB)) ||
	    (ret = vp_status(s, false)))
		return ret;

	/* The last read=1, then the guest ends. */
	if ((ret = guest_run_finish(r, g->exit_status)))
		return ret;
	if (isnan(g->val[VP_PLUG_MS]) || isnan(g->val[VP_TOUCH_MS]) ||
	    isnan(g->val[VP_UNPLUG_MS])) {
		snprintf(g->why, sizeof(g->why), "a vmem step's line has neither us= nor cycles=");
		return -EPROTO;
	}
	return 0;
}

int vp_guest_run(struct vp_guest_run *g)
{
	struct vp_run_state s = { .g = g };
	int ret;

	for (unsigned int k = 0; k < VP_NVALS; k++)
		g->val[k] = NAN;
	g->note[0] = g->why[0] = '\0';
	ret = guest_run_start(&s.r, g->argv, g->meter, VP_RUN_TIMEOUT_NS, g->why, sizeof(g->why));
	if (!ret)
		ret = vp_drive(&s);
	guest_run_free(&s.r);
	return ret;
}
