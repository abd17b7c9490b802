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

#endif /* MEMVMM_DEV_BLOB_H */
