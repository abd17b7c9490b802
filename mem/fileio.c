// SPDX-License-Identifier: MIT
/* Whole reads and writes of files at offsets (mem/fileio.h). */
#include "mem/fileio.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/pthread_must.h"

/* Zeros are written as up to this many views of one buffer per call. */
#define FILEIO_ZERO_BUF_BYTES  (64u << 10)
#define FILEIO_ZERO_IOVECS     64u

static bool fileio_cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load(cancel);
}

int mem_pread_full(int fd, void *buf, uint64_t len, uint64_t off, const atomic_bool *cancel,
		   int eof_err)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR && fileio_cancelled(cancel))
			return -ECANCELED;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return eof_err;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static ssize_t fileio_writev(const struct mem_file_writer *w, const struct iovec *iov, int nr,
			     uint64_t off)
{
	ssize_t n;
	int err;

	if (!w->serial)
		return pwritev(w->fd, iov, nr, (off_t)off);
	mem_pthread_must(pthread_mutex_lock(w->lock));
	n = lseek(w->fd, (off_t)off, SEEK_SET) < 0 ? -1 : writev(w->fd, iov, nr);
	err = errno;
	mem_pthread_must(pthread_mutex_unlock(w->lock));
	errno = err;
	return n;
}

int mem_file_write(const struct mem_file_writer *w, const uint8_t *buf, uint64_t len,
		   uint64_t off)
{
	static const uint8_t zero_buf[FILEIO_ZERO_BUF_BYTES];
	struct iovec iov[FILEIO_ZERO_IOVECS];

	while (len) {
		unsigned int nr = 0;
		uint64_t left = len;
		ssize_t n;

		if (buf)
			iov[nr++] = (struct iovec){ .iov_base = (void *)buf, .iov_len = len };
		for (; !buf && nr < FILEIO_ZERO_IOVECS && left; nr++) {
			size_t piece = left < FILEIO_ZERO_BUF_BYTES ? (size_t)left :
				       FILEIO_ZERO_BUF_BYTES;

			iov[nr] = (struct iovec){ .iov_base = (void *)zero_buf, .iov_len = piece };
			left -= piece;
		}
		n = fileio_writev(w, iov, (int)nr, off);
		if (n < 0 && errno == EINTR && fileio_cancelled(w->cancel))
			return -ECANCELED;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		if (buf)
			buf += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}
