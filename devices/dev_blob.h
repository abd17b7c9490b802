/* SPDX-License-Identifier: MIT */
/*
 * Device state blobs (device_ops.save/restore): a 4-byte magic, a 32-bit
 * version, then the device's fields, all little endian. The writer counts
 * what it would need even past the end of the buffer (for -ENOSPC); the
 * reader never reads past the end and remembers that it tried.
 */
#ifndef MEMVMM_DEV_BLOB_H
#define MEMVMM_DEV_BLOB_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct dev_blob_writer {
	uint8_t *buf;
	size_t room;
	size_t len;       /* bytes written, or needed once past room */
};

struct dev_blob_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
	bool short_read;  /* a read went past the end */
};

static inline void dev_blob_put8(struct dev_blob_writer *w, uint8_t v)
{
	if (w->len < w->room)
		w->buf[w->len] = v;
	w->len++;
}

static inline void dev_blob_put16(struct dev_blob_writer *w, uint16_t v)
{
	dev_blob_put8(w, (uint8_t)v);
	dev_blob_put8(w, (uint8_t)(v >> 8));
}

static inline void dev_blob_put32(struct dev_blob_writer *w, uint32_t v)
{
	dev_blob_put16(w, (uint16_t)v);
	dev_blob_put16(w, (uint16_t)(v >> 16));
}

static inline void dev_blob_put64(struct dev_blob_writer *w, uint64_t v)
{
	dev_blob_put32(w, (uint32_t)v);
	dev_blob_put32(w, (uint32_t)(v >> 32));
}

/* Another object's blob inside this one: its 32-bit length, then its bytes. */
static inline void dev_blob_put_nested(struct dev_blob_writer *w, const uint8_t *blob,
				       uint32_t len)
{
	dev_blob_put32(w, len);
	for (uint32_t i = 0; i < len; i++)
		dev_blob_put8(w, blob[i]);
}

static inline void dev_blob_put_header(struct dev_blob_writer *w, const char magic[4],
				       uint32_t version)
{
	for (int i = 0; i < 4; i++)
		dev_blob_put8(w, (uint8_t)magic[i]);
	dev_blob_put32(w, version);
}

/* The save() ending: 0, or -ENOSPC with *len set to what is needed. */
static inline int dev_blob_finish(const struct dev_blob_writer *w, size_t *len)
{
	*len = w->len;
	return w->len > w->room ? -ENOSPC : 0;
}

static inline uint8_t dev_blob_get8(struct dev_blob_reader *r)
{
	if (r->off >= r->len) {
		r->short_read = true;
		return 0;
	}
	return r->buf[r->off++];
}

static inline uint16_t dev_blob_get16(struct dev_blob_reader *r)
{
	uint16_t lo = dev_blob_get8(r);

	return (uint16_t)(lo | (uint16_t)dev_blob_get8(r) << 8);
}

static inline uint32_t dev_blob_get32(struct dev_blob_reader *r)
{
	uint32_t lo = dev_blob_get16(r);

	return lo | (uint32_t)dev_blob_get16(r) << 16;
}

static inline uint64_t dev_blob_get64(struct dev_blob_reader *r)
{
	uint64_t lo = dev_blob_get32(r);

	return lo | (uint64_t)dev_blob_get32(r) << 32;
}

/*
 * A nested blob (dev_blob_put_nested()): points *blob into the reader's
 * buffer and steps past it. False, with short_read set, when it does not fit.
 */
static inline bool dev_blob_get_nested(struct dev_blob_reader *r, const uint8_t **blob,
				       uint32_t *len)
{
	*len = dev_blob_get32(r);
	if (r->short_read || *len > r->len - r->off) {
		r->short_read = true;
		return false;
	}
	*blob = r->buf + r->off;
	r->off += *len;
	return true;
}

/* True when the blob starts with magic and version. */
static inline bool dev_blob_get_header(struct dev_blob_reader *r, const char magic[4],
				       uint32_t version)
{
	bool ok = true;

	for (int i = 0; i < 4; i++)
		ok &= dev_blob_get8(r) == (uint8_t)magic[i];
	return dev_blob_get32(r) == version && ok && !r->short_read;
}

/* True when every read stayed inside the blob and consumed all of it. */
static inline bool dev_blob_done(const struct dev_blob_reader *r)
{
	return !r->short_read && r->off == r->len;
}

/* An object's save() (device_ops.save's shape), for dev_blob_save_alloc(). */
typedef int dev_blob_save_fn(void *obj, void *buf, size_t *len);

/*
 * obj's blob in a buffer of its own (malloc'd, the caller frees it), to
 * nest with dev_blob_put_nested(): 0, -EOVERFLOW when it is longer than a
 * 32-bit length says, or save()'s error.
 */
static inline __attribute__((warn_unused_result))
int dev_blob_save_alloc(dev_blob_save_fn *save, void *obj, uint8_t **blob, size_t *len)
{
	uint8_t probe;
	size_t need = 0;
	int ret;

	ret = save(obj, &probe, &need);
	if (ret && ret != -ENOSPC)
		return ret;
	*blob = malloc(need ? need : 1);
	if (!*blob)
		return -ENOMEM;
	*len = need;
	ret = save(obj, *blob, len);
	if (!ret && *len > UINT32_MAX)
		ret = -EOVERFLOW;
	if (ret) {
		free(*blob);
		*blob = NULL;
	}
	return ret;
}

#endif /* MEMVMM_DEV_BLOB_H */
