// SPDX-License-Identifier: MIT
/*
 * The snapshot state file's /cpus/cpu@N and /irqchip nodes: KVM's structures
 * as their raw bytes (each length checked exactly), MSRs as (be32 index,
 * be64 value) pairs.
 */
#include "vmm/snap_state_int.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One MSR in the msrs property: a be32 index, then a be64 value. */
#define SNAP_MSR_INDEX_BYTES 4u
#define SNAP_MSR_BYTES       12u
/* Node names, tags and property headers of one vCPU, generously. */
#define SNAP_CPU_OVERHEAD_BYTES 1024u

size_t snap_cpus_bytes(const struct snap_state *s)
{
	size_t bytes = 0;
	unsigned int i;

	for (i = 0; i < s->nr_vcpus; i++)
		bytes += sizeof(struct vcpu_state) + s->vcpu[i].xsave_bytes +
			 SNAP_CPU_OVERHEAD_BYTES;
	return bytes;
}

static int put_msrs(void *fdt, const struct vcpu_state *v)
{
	uint8_t *p;
	void *val;
	uint32_t i;
	int ret;

	ret = fdt_property_placeholder(fdt, "msrs", (int)(v->nr_msrs * SNAP_MSR_BYTES), &val);
	if (ret)
		return ret;
	p = val;
	for (i = 0; i < v->nr_msrs; i++, p += SNAP_MSR_BYTES) {
		fdt32_st(p, v->msrs[i].index);
		fdt64_st(p + SNAP_MSR_INDEX_BYTES, v->msrs[i].data);
	}
	return 0;
}

static int put_cpu(void *fdt, const struct vcpu_state *v, unsigned int index)
{
	char name[SNAP_NODE_PATH_BYTES];

	snprintf(name, sizeof(name), "cpu@%u", index);
	SNAP_PUT(fdt_begin_node(fdt, name));
	SNAP_PUT(fdt_property(fdt, "regs", &v->regs, sizeof(v->regs)));
	SNAP_PUT(fdt_property(fdt, "sregs", &v->sregs, sizeof(v->sregs)));
	if (v->xsave)
		SNAP_PUT(fdt_property(fdt, "xsave", v->xsave, (int)v->xsave_bytes));
	else
		SNAP_PUT(fdt_property(fdt, "fpu", &v->fpu, sizeof(v->fpu)));
	if (v->have_xcrs)
		SNAP_PUT(fdt_property(fdt, "xcrs", &v->xcrs, sizeof(v->xcrs)));
	if (v->have_debugregs)
		SNAP_PUT(fdt_property(fdt, "debugregs", &v->debugregs, sizeof(v->debugregs)));
	SNAP_PUT(fdt_property(fdt, "lapic", &v->lapic, sizeof(v->lapic)));
	SNAP_PUT(fdt_property(fdt, "events", &v->events, sizeof(v->events)));
	SNAP_PUT(fdt_property(fdt, "mp-state", &v->mp_state, sizeof(v->mp_state)));
	SNAP_PUT(put_msrs(fdt, v));
	return fdt_end_node(fdt);
}

int snap_cpus_put(void *fdt, const struct snap_state *s)
{
	unsigned int i;

	SNAP_PUT(fdt_begin_node(fdt, "cpus"));
	for (i = 0; i < s->nr_vcpus; i++)
		SNAP_PUT(put_cpu(fdt, &s->vcpu[i], i));
	return fdt_end_node(fdt);
}

int snap_irq_put(void *fdt, const struct vm_irq_state *irq)
{
	SNAP_PUT(fdt_begin_node(fdt, "irqchip"));
	SNAP_PUT(fdt_property(fdt, "pic-master", &irq->pic_master, sizeof(irq->pic_master)));
	SNAP_PUT(fdt_property(fdt, "pic-slave", &irq->pic_slave, sizeof(irq->pic_slave)));
	SNAP_PUT(fdt_property(fdt, "ioapic", &irq->ioapic, sizeof(irq->ioapic)));
	SNAP_PUT(fdt_property(fdt, "pit", &irq->pit, sizeof(irq->pit)));
	SNAP_PUT(fdt_property(fdt, "clock", &irq->clock, sizeof(irq->clock)));
	return fdt_end_node(fdt);
}

/* fpu, or xsave of [sizeof(struct kvm_xsave), SNAP_MAX_XSAVE_BYTES] bytes: exactly one. */
static int get_fpu(const struct snap_node *n, struct vcpu_state *v)
{
	const void *xsave, *fpu;
	int xlen, flen;

	xsave = snap_prop(n, "xsave", &xlen);
	fpu = snap_prop(n, "fpu", &flen);
	if (xsave && fpu)
		return snap_fail(n, NULL, "both fpu and xsave (expected one)");
	if (!xsave)
		return snap_get_raw(n, "fpu", &v->fpu, sizeof(v->fpu));
	if ((size_t)xlen < sizeof(struct kvm_xsave) || (size_t)xlen > SNAP_MAX_XSAVE_BYTES)
		return snap_fail(n, "xsave", "%d bytes, expected %zu..%u", xlen,
				 sizeof(struct kvm_xsave), SNAP_MAX_XSAVE_BYTES);
	v->xsave = malloc((size_t)xlen);
	if (!v->xsave)
		return snap_why(n->why, n->whylen, -ENOMEM, "%s/xsave: out of memory", n->path);
	memcpy(v->xsave, xsave, (size_t)xlen);
	v->xsave_bytes = (size_t)xlen;
	return 0;
}

/* A raw structure that may be absent. */
static int get_optional(const struct snap_node *n, const char *name, void *out, size_t size,
			bool *have)
{
	int len;

	*have = snap_prop(n, name, &len) != NULL;
	return *have ? snap_get_raw(n, name, out, size) : 0;
}

static int get_msrs(const struct snap_node *n, struct vcpu_state *v)
{
	const uint8_t *p;
	uint32_t i;
	int len;

	p = snap_prop(n, "msrs", &len);
	if (!p)
		return snap_fail(n, "msrs", "missing");
	if ((unsigned int)len % SNAP_MSR_BYTES)
		return snap_fail(n, "msrs", "%d bytes, not a multiple of %u", len, SNAP_MSR_BYTES);
	if ((unsigned int)len / SNAP_MSR_BYTES > KVM_STATE_MAX_MSRS)
		return snap_fail(n, "msrs", "%u MSRs, at most %u", (unsigned int)len / SNAP_MSR_BYTES,
				 KVM_STATE_MAX_MSRS);
	v->nr_msrs = (unsigned int)len / SNAP_MSR_BYTES;
	for (i = 0; i < v->nr_msrs; i++, p += SNAP_MSR_BYTES) {
		v->msrs[i].index = fdt32_ld((const fdt32_t *)p);
		v->msrs[i].data = fdt64_ld((const fdt64_t *)(p + SNAP_MSR_INDEX_BYTES));
	}
	return 0;
}

static int get_cpu(const struct snap_node *n, struct vcpu_state *v)
{
	int ret;

	ret = snap_get_raw(n, "regs", &v->regs, sizeof(v->regs));
	if (!ret)
		ret = snap_get_raw(n, "sregs", &v->sregs, sizeof(v->sregs));
	if (!ret)
		ret = get_fpu(n, v);
	if (!ret)
		ret = get_optional(n, "xcrs", &v->xcrs, sizeof(v->xcrs), &v->have_xcrs);
	if (!ret)
		ret = get_optional(n, "debugregs", &v->debugregs, sizeof(v->debugregs),
				   &v->have_debugregs);
	if (!ret)
		ret = snap_get_raw(n, "lapic", &v->lapic, sizeof(v->lapic));
	if (!ret)
		ret = snap_get_raw(n, "events", &v->events, sizeof(v->events));
	if (!ret)
		ret = snap_get_raw(n, "mp-state", &v->mp_state, sizeof(v->mp_state));
	if (!ret)
		ret = get_msrs(n, v);
	return ret;
}

int snap_cpus_get(const struct snap_node *root, struct snap_state *s)
{
	struct snap_node cpus, cpu;
	int offs[SNAP_MAX_VCPUS];
	unsigned int i, nr;
	int ret;

	ret = snap_node_sub(root, "cpus", true, &cpus);
	if (ret)
		return ret;
	ret = snap_node_list(&cpus, "cpu", SNAP_MAX_VCPUS, offs, &nr);
	if (ret)
		return ret;
	if (nr != s->cfg.vcpus)
		return snap_fail(&cpus, NULL, "%u cpu nodes, /config/vcpus is %u", nr, s->cfg.vcpus);
	s->vcpu = calloc(nr, sizeof(*s->vcpu));
	if (!s->vcpu)
		return snap_why(root->why, root->whylen, -ENOMEM, "/cpus: out of memory");
	s->nr_vcpus = nr;
	for (i = 0; i < nr; i++) {
		snap_node_child(&cpus, "cpu", i, offs[i], &cpu);
		ret = get_cpu(&cpu, &s->vcpu[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int snap_irq_get(const struct snap_node *root, struct vm_irq_state *irq)
{
	struct snap_node n;
	int ret;

	ret = snap_node_sub(root, "irqchip", true, &n);
	if (!ret)
		ret = snap_get_raw(&n, "pic-master", &irq->pic_master, sizeof(irq->pic_master));
	if (!ret)
		ret = snap_get_raw(&n, "pic-slave", &irq->pic_slave, sizeof(irq->pic_slave));
	if (!ret)
		ret = snap_get_raw(&n, "ioapic", &irq->ioapic, sizeof(irq->ioapic));
	if (!ret)
		ret = snap_get_raw(&n, "pit", &irq->pit, sizeof(irq->pit));
	if (!ret)
		ret = snap_get_raw(&n, "clock", &irq->clock, sizeof(irq->clock));
	return ret;
}

int snap_cpus_check(const struct snap_state *s, char *why, size_t whylen)
{
	const struct vcpu_state *v;
	unsigned int i;

	if (s->nr_vcpus < 1 || s->nr_vcpus > SNAP_MAX_VCPUS || !s->vcpu)
		return snap_why(why, whylen, -EINVAL, "/cpus: %u vCPUs, expected 1..%u",
				s->nr_vcpus, SNAP_MAX_VCPUS);
	if (s->nr_vcpus != s->cfg.vcpus)
		return snap_why(why, whylen, -EINVAL, "/cpus: %u cpu nodes, /config/vcpus is %u",
				s->nr_vcpus, s->cfg.vcpus);
	for (i = 0; i < s->nr_vcpus; i++) {
		v = &s->vcpu[i];
		if (v->xsave && (v->xsave_bytes < sizeof(struct kvm_xsave) ||
				 v->xsave_bytes > SNAP_MAX_XSAVE_BYTES))
			return snap_why(why, whylen, -EINVAL, "/cpus/cpu@%u/xsave: %zu bytes, expected %zu..%u",
					i, v->xsave_bytes, sizeof(struct kvm_xsave),
					SNAP_MAX_XSAVE_BYTES);
		if (v->nr_msrs > KVM_STATE_MAX_MSRS)
			return snap_why(why, whylen, -EINVAL, "/cpus/cpu@%u/msrs: %u MSRs, at most %u",
					i, v->nr_msrs, KVM_STATE_MAX_MSRS);
	}
	return 0;
}

int snap_irq_check(const struct vm_irq_state *irq, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		size_t off;
		uint32_t chip_id;
	} chips[] = {
		{ "pic-master", offsetof(struct vm_irq_state, pic_master), KVM_IRQCHIP_PIC_MASTER },
		{ "pic-slave", offsetof(struct vm_irq_state, pic_slave), KVM_IRQCHIP_PIC_SLAVE },
		{ "ioapic", offsetof(struct vm_irq_state, ioapic), KVM_IRQCHIP_IOAPIC },
	};
	const struct kvm_irqchip *chip;
	size_t i;

	for (i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
		chip = (const struct kvm_irqchip *)((const uint8_t *)irq + chips[i].off);
		if (chip->chip_id != chips[i].chip_id)
			return snap_why(why, whylen, -EINVAL, "/irqchip/%s: chip_id %u, expected %u",
					chips[i].name, chip->chip_id, chips[i].chip_id);
	}
	return 0;
}
