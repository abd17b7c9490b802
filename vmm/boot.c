// SPDX-License-Identifier: MIT
/*
 * Boot loading: read the kernel file (or take the embedded test guest), check
 * and load it as a PVH image, read the initrd straight into guest memory at
 * the top of low RAM, and write the PVH boot data.
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

/* Kernels larger than this are refused rather than read into memory. */
#define BOOT_MAX_KERNEL_BYTES (1ull << 30)

struct file_buf {
	void *data;
	size_t len;
};

/*
 * Open a regular, non-empty file. Errors are the user's (bad input). Files are
 * read, not mapped: a file truncated while memvmm loads it must give an error,
 * not a SIGBUS.
 */
static int open_input(const char *what, const char *path, uint64_t *size, struct errmsg *e)
{
	struct stat st;
	int fd, ret;

	e->bad_input = true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "%s '%s': %s", what, path, strerror(-ret));
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		errmsg_set(e, ret, "%s '%s': %s", what, path, strerror(-ret));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = errmsg_set(e, -EINVAL, "%s '%s' is not a regular file", what, path);
		goto err;
	}
	if (st.st_size == 0) {
		ret = errmsg_set(e, -EINVAL, "%s '%s' is empty", what, path);
		goto err;
	}
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
		if (n < 0)
			return errmsg_set(e, -errno, "%s '%s': read failed: %s", what, path,
					  strerror(errno));
		if (n == 0)
			return errmsg_set(e, -EIO, "%s '%s' shrank while it was read (%zu of %zu bytes)",
					  what, path, done, len);
		done += (size_t)n;
	}
	return 0;
}

static int read_kernel(const char *path, struct file_buf *f, struct errmsg *e)
{
	uint64_t size;
	int fd, ret;

	fd = open_input("kernel", path, &size, e);
	if (fd < 0)
		return fd;
	if (size > BOOT_MAX_KERNEL_BYTES) {
		ret = errmsg_set(e, -EFBIG, "kernel '%s' is %llu bytes; at most %llu MiB are read",
				 path, (unsigned long long)size, BOOT_MAX_KERNEL_BYTES >> 20);
		goto out;
	}
	f->len = (size_t)size;
	f->data = malloc(f->len);
	if (!f->data) {
		e->bad_input = false;
		ret = errmsg_set(e, -ENOMEM, "no memory to read kernel '%s' (%zu bytes)", path,
				 f->len);
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

	fd = open_input("initrd", path, &size, e);
	if (fd < 0)
		return fd;
	ret = pvh_place_module(gm, img, size, &gpa);
	if (ret) {
		errmsg_set(e, ret, "initrd '%s' (%llu bytes) does not fit in low RAM above the kernel",
			   path, (unsigned long long)size);
		goto out;
	}
	dst = mem_gpa_to_hva(gm, gpa, size);
	if (!dst) {
		ret = errmsg_set(e, -EFAULT, "initrd '%s': no guest memory at 0x%llx", path,
				 (unsigned long long)gpa);
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
	e->bad_input = true;
	ret = pvh_parse(kernel.data, kernel.len, gm, &img, e);
	if (ret) {
		char why[sizeof(e->text)];

		memcpy(why, e->text, sizeof(why));
		errmsg_set(e, ret, "kernel '%s': %s", name, why);
		goto out;
	}
	e->bad_input = false;
	ret = pvh_load(gm, kernel.data, &img);
	if (ret) {
		errmsg_set(e, ret, "loading kernel '%s' into guest memory failed: %s", name,
			   strerror(-ret));
		goto out;
	}
	if (req->initrd) {
		ret = load_initrd(gm, &img, req->initrd, &bp, e);
		if (ret)
			goto out;
	}
	ret = pvh_write_boot_data(gm, &bp, &start_info);
	if (ret) {
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
