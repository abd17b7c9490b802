/* SPDX-License-Identifier: MIT */
/*
 * What vmm/snap_state.c and vmm/snap_state_cpu.c share: reading checked
 * properties out of a devicetree node (every length compared before a byte
 * is copied) and writing them. Nothing else includes this.
 */
#ifndef MEMVMM_SNAP_STATE_INT_H
#define MEMVMM_SNAP_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/snap_state.h"

/* A node's path: "/memory/region@15", "/cpus/cpu@254", "/config/virtio-mem". */
#define SNAP_NODE_PATH_BYTES 48u

#define SNAP_WUR __attribute__((warn_unused_result))

/* In a function returning 0 or a negative FDT_ERR_ code: return expr's failure. */
#define SNAP_PUT(expr)                   \
	do {                             \
		int put_ret_ = (expr);   \
		if (put_ret_ < 0)        \
			return put_ret_; \
	} while (0)

/* A node being read: where it is, its path for messages, where reasons go. */
struct snap_node {
	const void *fdt;
	int off;
	char path[SNAP_NODE_PATH_BYTES];   /* "" for the root */
	char *why;
	size_t whylen;
};

/* Put the reason in why (when there is room) and return err. */
int snap_why(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5))) SNAP_WUR;

/* -EINVAL with "PATH/NAME: " and the reason in n->why (name may be NULL: the node). */
int snap_fail(const struct snap_node *n, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) SNAP_WUR;

/*
 * The subnode NAME of parent in *out. Missing: -EINVAL naming it when
 * required, else 0 with out->off = -1.
 */
int snap_node_sub(const struct snap_node *parent, const char *name, bool required,
		  struct snap_node *out) SNAP_WUR;

/*
 * The subnodes of parent, which must be exactly PREFIX@0, PREFIX@1, ... in
 * that order and at most max of them: their offsets in offs[], their
 * number in *nr. Anything else is -EINVAL.
 */
int snap_node_list(const struct snap_node *parent, const char *prefix, unsigned int max,
		   int *offs, unsigned int *nr) SNAP_WUR;

/* The child at offset off of parent, named PREFIX@index, as a node. */
void snap_node_child(const struct snap_node *parent, const char *prefix, unsigned int index,
		     int off, struct snap_node *out);

/* A property's value and length, or NULL when the node has none. */
const void *snap_prop(const struct snap_node *n, const char *name, int *len);

/* Required properties of an exact size; -EINVAL naming the property otherwise. */
int snap_get_u32(const struct snap_node *n, const char *name, uint32_t *out) SNAP_WUR;
int snap_get_u64(const struct snap_node *n, const char *name, uint64_t *out) SNAP_WUR;
int snap_get_raw(const struct snap_node *n, const char *name, void *out, size_t size) SNAP_WUR;
/* One string, NUL-terminated, at most cap bytes with its NUL, no NUL inside. */
int snap_get_str(const struct snap_node *n, const char *name, char *out, size_t cap) SNAP_WUR;
/* A flag: absent is false, an empty property true, anything else -EINVAL. */
int snap_get_flag(const struct snap_node *n, const char *name, bool *out) SNAP_WUR;
/* An array of exactly count big-endian u64 (malloc'd into *out; -ENOMEM). */
int snap_get_u64s(const struct snap_node *n, const char *name, uint64_t count,
		  uint64_t **out) SNAP_WUR;

/* Writing (libfdt's sequential-write API): 0 or a negative FDT_ERR_ code. */
int snap_put_u64s(void *fdt, const char *name, const uint64_t *v, uint64_t count) SNAP_WUR;
int snap_put_flag(void *fdt, const char *name, bool on) SNAP_WUR;

/* A name: 1..SNAP_NAME_BYTES-1 printable bytes (0x21..0x7e), NUL-terminated in the array. */
bool snap_name_ok(const char *name, size_t cap);
/* NUL-terminated within cap bytes. */
bool snap_str_ok(const char *s, size_t cap);

/* vmm/snap_state_cpu.c: the vCPUs and the in-kernel irqchip, PIT and clock. */
int snap_cpus_put(void *fdt, const struct snap_state *s) SNAP_WUR;
int snap_irq_put(void *fdt, const struct vm_irq_state *irq) SNAP_WUR;
/* Bytes the vCPU properties take at most (the build buffer's first guess). */
size_t snap_cpus_bytes(const struct snap_state *s);
/* Reads /cpus (cfg.vcpus already parsed) into s->vcpu, allocated. */
int snap_cpus_get(const struct snap_node *root, struct snap_state *s) SNAP_WUR;
int snap_irq_get(const struct snap_node *root, struct vm_irq_state *irq) SNAP_WUR;
int snap_cpus_check(const struct snap_state *s, char *why, size_t whylen) SNAP_WUR;
int snap_irq_check(const struct vm_irq_state *irq, char *why, size_t whylen) SNAP_WUR;

#endif /* MEMVMM_SNAP_STATE_INT_H */
