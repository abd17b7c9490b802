// SPDX-License-Identifier: MIT
/* Host settings files, with syscalls only (tests/sysfs.h). */
#include "tests/sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* A choice file's whole text: a line of words, well under this. */
#define SYSFS_READ_BYTES 256

int sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	return 0;
}

int sysfs_read_u64(const char *path, uint64_t *v)
{
	char buf[32];
	int ret = sysfs_read(path, buf, sizeof(buf));

	if (!ret)
		*v = strtoull(buf, NULL, 10);
	return ret;
}

int sysfs_choice_read(const char *path, char *word, size_t len)
{
	char buf[SYSFS_READ_BYTES], *open_b, *close_b;
	int ret = sysfs_read(path, buf, sizeof(buf));

	if (ret)
		return ret;
	open_b = strchr(buf, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (!close_b || (size_t)(close_b - open_b - 1) >= len)
		return -EPROTO;
	memcpy(word, open_b + 1, (size_t)(close_b - open_b - 1));
	word[close_b - open_b - 1] = '\0';
	return 0;
}

int sysfs_write(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}
