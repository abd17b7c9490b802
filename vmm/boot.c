// SPDX-License-Identifier: MIT
/*
 * Boot loading: map the kernel file (or take the embedded test guest), check
 * and load it as a PVH image, read the initrd straight into guest memory at
 * the top of low RAM, and write the PVH boot data.
 */
#include "vmm/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm/pvh.h"

struct mapped_file {
	void *data;
	size_t len;
};

/* Map a regular, non-empty file read-only. Errors are the user's (bad input). */
static int map_file(const char *what, const char *path, struct mapped_file *f,
		    struct errmsg *e)
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
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = errmsg_set(e, -EINVAL, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	if (st.st_size == 0) {
		ret = errmsg_set(e, -EINVAL, "%s '%s' is empty", what, path);
		goto out;
	}
	f->len = (size_t)st.st_size;
	f->data = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f->data == MAP_FAILED) {
		ret = -errno;
		f->data = NULL;
		errmsg_set(e, ret, "%s '%s': mmap failed: %s", what, path, strerror(-ret));
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

static int load_initrd(struct guest_mem *gm, const struct pvh_image *img,
		       const char *path, struct pvh_boot_params *bp, struct errmsg *e)
{
	struct mapped_file f = { 0 };
	uint64_t gpa;
	int ret;

	ret = map_file("initrd", path, &f, e);
	if (ret)
		return ret;
	ret = pvh_place_module(gm, img, f.len, &gpa);
	if (ret) {
		errmsg_set(e, ret, "initrd '%s' (%zu bytes) does not fit in low RAM above the kernel",
			   path, f.len);
		goto out;
	}
	ret = mem_write(gm, gpa, f.data, f.len);
	if (ret) {
		e->bad_input = false;
		errmsg_set(e, ret, "copying initrd '%s' into guest memory failed", path);
		goto out;
	}
	bp->module_gpa = gpa;
	bp->module_size = f.len;
out:
	munmap(f.data, f.len);
	return ret;
}

int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
{
	struct mapped_file kernel = {
		.data = (void *)memvmm_guest_elf_start,
		.len = (size_t)(memvmm_guest_elf_end - memvmm_guest_elf_start),
	};
	struct pvh_boot_params bp = { .cmdline = req->cmdline };
	const char *name = req->kernel ? req->kernel : "bundled test guest";
	struct pvh_image img;
	uint64_t start_info;
	int ret;

	if (req->kernel) {
		ret = map_file("kernel", req->kernel, &kernel, e);
		if (ret)
			return ret;
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
		munmap(kernel.data, kernel.len);
	return ret;
}
