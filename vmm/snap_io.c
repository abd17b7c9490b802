// SPDX-License-Identifier: MIT
/* Snapshot directories and state files on disk (vmm/snap_io.h). */
#include "vmm/snap_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_TMP_TRIES 64

int snap_io_read_state_at(int dir_fd, struct snap_state *s, char *why, size_t whylen)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, ret;

	fd = openat(dir_fd, SNAP_STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "%s: %s", SNAP_STATE_FILE,
			 errno == ELOOP ? "a symbolic link (refused)" :
			 errno == ENXIO ? "not a regular file" : strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(why, whylen, "%s: %s", SNAP_STATE_FILE, strerror(errno));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > SNAP_MAX_STATE_BYTES) {
		if (!S_ISREG(st.st_mode))
			snprintf(why, whylen, "%s is not a regular file", SNAP_STATE_FILE);
		else
			snprintf(why, whylen, "%s is %lld bytes: not a state file (1 byte to %u MiB)",
				 SNAP_STATE_FILE, (long long)st.st_size, SNAP_MAX_STATE_BYTES >> 20);
		close(fd);
		return -EBADMSG;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EBADMSG;
			snprintf(why, whylen, "reading %s failed: %s", SNAP_STATE_FILE,
				 n < 0 ? strerror(errno) : "it became shorter");
			free(buf);
			close(fd);
			return ret;
		}
		done += (size_t)n;
	}
	close(fd);
	ret = snap_state_parse(buf, done, s, why, whylen);
	free(buf);
	if (ret) {
		char reason[256];

		/* Name the file: "state.dtb: checksum mismatch: ..." */
		snprintf(reason, sizeof(reason), "%s", why);
		snprintf(why, whylen, "%s: %s", SNAP_STATE_FILE, reason);
	}
	return ret;
}

int snap_io_read_state(const char *path, struct snap_state *s, char *why, size_t whylen)
{
	int dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

	if (dir_fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		return ret;
	}
	ret = snap_io_read_state_at(dir_fd, s, why, whylen);
	close(dir_fd);
	return ret;
}

int snap_io_write_state(int dir_fd, const struct snap_state *s, uint64_t *bytes)
{
	void *blob = NULL;
	size_t len = 0, done = 0;
	int fd, ret;

	ret = snap_state_build(s, &blob, &len);
	if (ret)
		return ret;
	fd = openat(dir_fd, SNAP_STATE_FILE, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(blob);
		return -errno;
	}
	while (done < len && !ret) {
		ssize_t n = write(fd, (const uint8_t *)blob + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		else
			done += (size_t)n;
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	free(blob);
	*bytes = len;
	return ret;
}

int snap_io_mkdtemp(int parent_fd, const char *final, char *name, size_t namelen,
		    struct errmsg *e)
{
	const char *base = strrchr(final, '/');

	base = base ? base + 1 : final;
	for (int i = 0; i < SNAP_TMP_TRIES; i++) {
		uint32_t r;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return errmsg_set(e, -EIO, "getrandom failed");
		if (snprintf(name, namelen, ".%.200s.tmp-%08x", base, r) >= (int)namelen)
			return errmsg_set(e, -ENAMETOOLONG, "snapshot name too long");
		if (mkdirat(parent_fd, name, 0700) == 0)
			return 0;
		if (errno != EEXIST)
			return errmsg_set(e, -errno, "creating the temporary directory %s failed: %s",
					  name, strerror(errno));
	}
	return errmsg_set(e, -EEXIST, "no free temporary directory name");
}

int snap_io_publish(int parent_fd, const char *tmp, const char *final, struct errmsg *e)
{
	const char *base = strrchr(final, '/');

	base = base ? base + 1 : final;
	/* RENAME_NOREPLACE: a DIR created meanwhile is not replaced. */
	if (renameat2(parent_fd, tmp, parent_fd, base, RENAME_NOREPLACE)) {
		int err = errno;

		e->bad_input = err == EEXIST;
		return errmsg_set(e, -err, "renaming the snapshot to '%s' failed: %s",
				  errmsg_path(final).s, strerror(err));
	}
	if (fsync(parent_fd))
		return errmsg_set(e, -errno, "fsync of '%s''s directory failed: %s",
				  errmsg_path(final).s, strerror(errno));
	return 0;
}

void snap_io_remove_tmp(int parent_fd, const char *tmp)
{
	int fd = openat(parent_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
	} else {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	(void)unlinkat(parent_fd, tmp, AT_REMOVEDIR);
}
