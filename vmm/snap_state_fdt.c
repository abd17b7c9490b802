// SPDX-License-Identifier: MIT
/*
 * Checked property access for the snapshot state file (vmm/snap_state_int.h):
 * every read compares the property's length with what is expected before a
 * byte is copied, and says which node and property was wrong.
 */
#include "vmm/snap_state_int.h"

#include <errno.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_NAME_FIRST 0x21   /* '!' */
#define SNAP_NAME_LAST  0x7e   /* '~' */
/* A u32 index in a list node's name: at most 10 digits, "@" and the NUL. */
#define SNAP_UNIT_BYTES 12u

int snap_why(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

int snap_fail(const struct snap_node *n, const char *name, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (name)
		return snap_why(n->why, n->whylen, -EINVAL, "%s/%s: %s", n->path, name, msg);
	return snap_why(n->why, n->whylen, -EINVAL, "%s: %s", n->path[0] ? n->path : "/", msg);
}

/* out's path: parent's, "/", name and, for list entries, "@index". */
static void node_path(struct snap_node *out, const struct snap_node *parent, const char *name,
		      int index)
{
	int n;

	if (index < 0)
		n = snprintf(out->path, sizeof(out->path), "%s/%s", parent->path, name);
	else
		n = snprintf(out->path, sizeof(out->path), "%s/%s@%d", parent->path, name, index);
	/* Every path memvmm names fits; a cut one would still be a fine message. */
	if (n < 0 || (size_t)n >= sizeof(out->path))
		out->path[sizeof(out->path) - 1] = '\0';
}

int snap_node_sub(const struct snap_node *parent, const char *name, bool required,
		  struct snap_node *out)
{
	const char *found;
	int node, len;

	*out = *parent;
	node_path(out, parent, name, -1);
	/* Not fdt_subnode_offset(): it would take "NAME@unit" for NAME. */
	fdt_for_each_subnode(node, parent->fdt, parent->off) {
		found = fdt_get_name(parent->fdt, node, &len);
		if (found && (size_t)len == strlen(name) && !memcmp(found, name, (size_t)len)) {
			out->off = node;
			return 0;
		}
	}
	out->off = -1;
	if (required)
		return snap_why(parent->why, parent->whylen, -EINVAL, "%s: missing", out->path);
	return 0;
}

void snap_node_child(const struct snap_node *parent, const char *prefix, unsigned int index,
		     int off, struct snap_node *out)
{
	*out = *parent;
	node_path(out, parent, prefix, (int)index);
	out->off = off;
}

int snap_node_list(const struct snap_node *parent, const char *prefix, unsigned int max,
		   int *offs, unsigned int *nr)
{
	size_t plen = strlen(prefix);
	unsigned int i = 0;
	char unit[SNAP_UNIT_BYTES];
	const char *name;
	int node, len;

	*nr = 0;
	fdt_for_each_subnode(node, parent->fdt, parent->off) {
		name = fdt_get_name(parent->fdt, node, &len);
		if (!name)
			return snap_fail(parent, NULL, "a subnode without a name");
		if (i >= max)
			return snap_fail(parent, NULL, "more than %u %s nodes", max, prefix);
		snprintf(unit, sizeof(unit), "@%u", i);
		if ((size_t)len != plen + strlen(unit) || memcmp(name, prefix, plen) ||
		    memcmp(name + plen, unit, strlen(unit)))
			return snap_fail(parent, NULL, "subnode %u is not named %s%s", i,
					 prefix, unit);
		offs[i++] = node;
	}
	if (node != -FDT_ERR_NOTFOUND)
		return snap_fail(parent, NULL, "%s", fdt_strerror(node));
	*nr = i;
	return 0;
}

const void *snap_prop(const struct snap_node *n, const char *name, int *len)
{
	const void *p = fdt_getprop(n->fdt, n->off, name, len);

	if (!p || *len < 0)
		return NULL;
	return p;
}

/* The property, exactly size bytes long. */
static const void *prop_sized(const struct snap_node *n, const char *name, size_t size, int *ret)
{
	const void *p;
	int len;

	p = snap_prop(n, name, &len);
	if (!p) {
		*ret = snap_fail(n, name, "missing");
		return NULL;
	}
	if ((size_t)len != size) {
		*ret = snap_fail(n, name, "%d bytes, expected %zu", len, size);
		return NULL;
	}
	*ret = 0;
	return p;
}

int snap_get_u32(const struct snap_node *n, const char *name, uint32_t *out)
{
	const void *p;
	int ret;

	p = prop_sized(n, name, sizeof(*out), &ret);
	if (p)
		*out = fdt32_ld(p);
	return ret;
}

int snap_get_u64(const struct snap_node *n, const char *name, uint64_t *out)
{
	const void *p;
	int ret;

	p = prop_sized(n, name, sizeof(*out), &ret);
	if (p)
		*out = fdt64_ld(p);
	return ret;
}

int snap_get_raw(const struct snap_node *n, const char *name, void *out, size_t size)
{
	const void *p;
	int ret;

	p = prop_sized(n, name, size, &ret);
	if (p)
		memcpy(out, p, size);
	return ret;
}

int snap_get_str(const struct snap_node *n, const char *name, char *out, size_t cap)
{
	const char *p;
	int len;

	p = snap_prop(n, name, &len);
	if (!p)
		return snap_fail(n, name, "missing");
	if (len < 1 || p[len - 1] != '\0')
		return snap_fail(n, name, "not a NUL-terminated string");
	if ((size_t)len > cap)
		return snap_fail(n, name, "%d bytes, at most %zu allowed", len, cap);
	if (strlen(p) != (size_t)len - 1)
		return snap_fail(n, name, "more than one string");
	memcpy(out, p, (size_t)len);
	return 0;
}

int snap_get_flag(const struct snap_node *n, const char *name, bool *out)
{
	int len;

	*out = false;
	if (!snap_prop(n, name, &len))
		return 0;
	if (len != 0)
		return snap_fail(n, name, "a flag with %d bytes of value (expected none)", len);
	*out = true;
	return 0;
}

int snap_get_u64s(const struct snap_node *n, const char *name, uint64_t count, uint64_t **out)
{
	const uint8_t *p;
	uint64_t *v, i;
	int len;

	*out = NULL;
	p = snap_prop(n, name, &len);
	if (!p)
		return snap_fail(n, name, "missing");
	/* len is at most the blob's size: compare without multiplying count. */
	if ((uint64_t)len % sizeof(uint64_t) || (uint64_t)len / sizeof(uint64_t) != count)
		return snap_fail(n, name, "%d bytes, expected %llu values of 8 bytes", len,
				 (unsigned long long)count);
	v = malloc(count ? count * sizeof(*v) : 1);
	if (!v)
		return snap_why(n->why, n->whylen, -ENOMEM, "%s/%s: out of memory", n->path, name);
	for (i = 0; i < count; i++)
		v[i] = fdt64_ld((const fdt64_t *)(p + i * sizeof(*v)));
	*out = v;
	return 0;
}

int snap_put_u64s(void *fdt, const char *name, const uint64_t *v, uint64_t count)
{
	uint8_t *p;
	void *val;
	uint64_t i;
	int ret;

	if (count > (uint64_t)SNAP_MAX_STATE_BYTES / sizeof(*v))
		return -FDT_ERR_BADVALUE;
	ret = fdt_property_placeholder(fdt, name, (int)(count * sizeof(*v)), &val);
	if (ret)
		return ret;
	p = val;
	for (i = 0; i < count; i++)
		fdt64_st(p + i * sizeof(*v), v[i]);
	return 0;
}

int snap_put_flag(void *fdt, const char *name, bool on)
{
	return on ? fdt_property(fdt, name, "", 0) : 0;
}

bool snap_str_ok(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

bool snap_name_ok(const char *name, size_t cap)
{
	size_t i;

	if (!snap_str_ok(name, cap) || !name[0])
		return false;
	for (i = 0; name[i]; i++)
		if ((unsigned char)name[i] < SNAP_NAME_FIRST || (unsigned char)name[i] > SNAP_NAME_LAST)
			return false;
	return true;
}
