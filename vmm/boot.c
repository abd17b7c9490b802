// SPDX-License-Identifier: MIT
/*
 * Boot loading: read the kernel file (or take the embedded test guest), check
 * and load it as a PVH image, read the initrd straight into guest memory at
 * the top of low RAM, and write the PVH boot data.
 *
 * Paths come from the user: nothing here may block on them (a FIFO, a
 * terminal), and every message echoes them through errmsg_path() so that the
 * reason survives a long path.
 */
#include "vmm/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm/pvh.h"

struct file_buf {
	void *data;
	size_t len;
};

/* Errors that are the host's (exit 1), not the user's file's (exit 2). */
static bool host_errno(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM;
}

static const char *file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "of an unknown type";
}

/* A failed system call on a user's file: its errno, and who is to blame. */
static int input_errno(const char *what, const char *path, int err, struct errmsg *e)
{
	e->bad_input = !host_errno(err);
	return errmsg_set(e, -err, "%s '%s': %s", what, errmsg_path(path).s, strerror(err));
}

/* Regular, non-empty, and at most max_bytes (0: no limit). */
static int check_stat(const char *what, const char *path, const struct stat *st,
		      uint64_t max_bytes, struct errmsg *e)
{
	e->bad_input = true;
	if (!S_ISREG(st->st_mode))
		return errmsg_set(e, -EINVAL, "%s '%s' is not a regular file (it is %s)", what,
				  errmsg_path(path).s, file_type(st->st_mode));
	if (st->st_size == 0)
		return errmsg_set(e, -EINVAL, "%s '%s' is empty", what, errmsg_path(path).s);
	if (max_bytes && (uint64_t)st->st_size > max_bytes)
		return errmsg_set(e, -EFBIG, "%s '%s' is %llu bytes; at most %llu MiB are read",
				  what, errmsg_path(path).s, (unsigned long long)st->st_size,
				  (unsigned long long)(max_bytes >> 20));
	return 0;
}

/*
 * Open a regular, non-empty file of at most max_bytes (0: any size) for
 * reading; returns the fd or -errno. stat() first, so that nothing else is
 * ever opened (opening a device can have effects), and O_NONBLOCK so that a
 * path swapped for a FIFO in between cannot block open() either; what was
 * opened is checked again. O_NONBLOCK does not change reads of a regular
 * file. Files are read, not mapped: a file truncated while memvmm loads it
 * must give an error, not a SIGBUS.
 */
static int open_input(const char *what, const char *path, uint64_t max_bytes, uint64_t *size,
		      struct errmsg *e)
{
	struct stat st;
	int fd, ret;

	if (stat(path, &st) < 0)
		return input_errno(what, path, errno, e);
	ret = check_stat(what, path, &st, max_bytes, e);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return input_errno(what, path, errno, e);
	if (fstat(fd, &st) < 0) {
		ret = input_errno(what, path, errno, e);
		goto err;
	}
	ret = check_stat(what, path, &st, max_bytes, e);
	if (ret)
		goto err;
	*size = (uint64_t)st.st_size;
	return fd;
err:
	close(fd);
	return ret;
}

/* Read exactly len bytes at offset 0; a short read means the file changed. */
static int read_exact(int fd, void *buf, size_t len, const char *what, const char *path,
		      struct errmsg *e)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e->bad_input = false;
			return errmsg_set(e, -errno, "%s '%s': read failed: %s", what,
					  errmsg_path(path).s, strerror(errno));
		}
		if (n == 0) {
			e->bad_input = true;
			return errmsg_set(e, -EIO, "%s '%s' shrank while it was read (%zu of %zu bytes)",
					  what, errmsg_path(path).s, done, len);
		}
		done += (size_t)n;
	}
	return 0;
}

static int read_kernel(const char *path, struct file_buf *f, struct errmsg *e)
{
	uint64_t size;
	int fd, ret;

	fd = open_input("kernel", path, BOOT_MAX_KERNEL_BYTES, &size, e);
	if (fd < 0)
		return fd;
	f->len = (size_t)size;
	f->data = malloc(f->len);
	if (!f->data) {
		e->bad_input = false;
		ret = errmsg_set(e, -ENOMEM, "no memory to read kernel '%s' (%zu bytes)",
				 errmsg_path(path).s, f->len);
		goto out;
	}
	ret = read_exact(fd, f->data, f->len, "kernel", path, e);
out:
	close(fd);
	return ret;
}

/* Read the initrd straight into guest memory at the top of low RAM. */
static int load_initrd(struct guest_mem *gm, const struct pvh_image *img,
		       const char *path, struct pvh_boot_params *bp, struct errmsg *e)
{
	uint64_t size, gpa;
	void *dst;
	int fd, ret;

	fd = open_input("initrd", path, 0, &size, e);
	if (fd < 0)
		return fd;
	ret = pvh_place_module(gm, img, size, &gpa);
	if (ret) {
		e->bad_input = true;
		errmsg_set(e, ret, "initrd '%s' (%llu bytes) does not fit in low RAM above the kernel",
			   errmsg_path(path).s, (unsigned long long)size);
		goto out;
	}
	dst = mem_gpa_to_hva(gm, gpa, size);
	if (!dst) {
		e->bad_input = false;
		ret = errmsg_set(e, -EFAULT, "initrd '%s': no guest memory at 0x%llx",
				 errmsg_path(path).s, (unsigned long long)gpa);
		goto out;
	}
	ret = read_exact(fd, dst, (size_t)size, "initrd", path, e);
	if (ret)
		goto out;
	bp->module_gpa = gpa;
	bp->module_size = size;
out:
	close(fd);
	return ret;
}

static int check_file(const char *what, const char *path, uint64_t max_bytes, struct errmsg *e)
{
	uint64_t size;
	int fd = open_input(what, path, max_bytes, &size, e);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int boot_check_files(const struct boot_request *req, struct errmsg *e)
{
	int ret;

	if (req->kernel) {
		ret = check_file("kernel", req->kernel, BOOT_MAX_KERNEL_BYTES, e);
		if (ret)
			return ret;
	}
	if (req->initrd) {
		ret = check_file("initrd", req->initrd, 0, e);
		if (ret)
			return ret;
	}
	return 0;
}

int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
{
	struct file_buf kernel = {
		.data = (void *)memvmm_guest_elf_start,
		.len = (size_t)(memvmm_guest_elf_end - memvmm_guest_elf_start),
	};
	struct pvh_boot_params bp = { .cmdline = req->cmdline };
	const char *name = req->kernel ? req->kernel : "bundled test guest";
	struct pvh_image img;
	uint64_t start_info;
	int ret;

	if (req->kernel) {
		kernel.data = NULL;
		ret = read_kernel(req->kernel, &kernel, e);
		if (ret)
			goto out;
	}
	ret = pvh_parse(kernel.data, kernel.len, gm, &img, e);
	if (ret) {
		char why[sizeof(e->text)];

		memcpy(why, e->text, sizeof(why));
		e->bad_input = true;
		errmsg_set(e, ret, "kernel '%s': %s", errmsg_path(name).s, why);
		goto out;
	}
	e->bad_input = false;
	ret = pvh_load(gm, kernel.data, &img, req->mem_is_zero ? PVH_LOAD_MEM_IS_ZERO : 0);
	if (ret) {
		errmsg_set(e, ret, "loading kernel '%s' into guest memory failed: %s",
			   errmsg_path(name).s, strerror(-ret));
		goto out;
	}
	if (req->initrd) {
		ret = load_initrd(gm, &img, req->initrd, &bp, e);
		if (ret)
			goto out;
	}
	ret = pvh_write_boot_data(gm, &bp, &start_info);
	if (ret == -E2BIG) {
		e->bad_input = true;
		errmsg_set(e, ret, "the kernel command line is %zu bytes; at most %llu fit",
			   strlen(req->cmdline), PVH_CMDLINE_BYTES - 1);
		goto out;
	}
	if (ret) {
		e->bad_input = false;
		errmsg_set(e, ret, "writing the PVH start info failed: %s", strerror(-ret));
		goto out;
	}
	out->entry = img.entry;
	out->start_info = (uint32_t)start_info;
out:
	if (req->kernel)
		free(kernel.data);
	return ret;
}
