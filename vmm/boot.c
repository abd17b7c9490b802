// SPDX-License-Identifier: MIT
/*
 * Boot loading: read the kernel file (or take the embedded test guest), tell
 * its format, check and load it, read the initrd straight into guest memory
 * at the top of low RAM, and write the boot data:
 *   ELF with a PVH entry note   PVH (vmm/pvh.h), as memvmm's test guest boots
 *   ELF without one (vmlinux)   Linux's 64-bit boot protocol (vmm/linux_boot.h)
 *   bzImage ("HdrS" at 0x202)   the same, after its setup header (vmm/bzimage.h)
 *
 * Paths come from the user: nothing here may block on them (a FIFO, a
 * terminal), and every message echoes them through errmsg_path() so that the
 * reason survives a long path.
 */
#include "vmm/boot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm/bzimage.h"
#include "vmm/linux_boot.h"
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

/* What the initrd goes above: one of the two kinds of kernel. */
struct initrd_target {
	const struct pvh_image *pvh;          /* BOOT_PVH */
	const struct linux_image *lx;         /* BOOT_LINUX64 */
};

static int place_initrd(struct guest_mem *gm, const struct initrd_target *t, const char *path,
			uint64_t size, uint64_t *gpa, struct errmsg *e)
{
	int ret;

	if (t->pvh) {
		ret = pvh_place_module(gm, t->pvh, size, gpa);
		if (ret)
			errmsg_set(e, ret, "initrd '%s' (%llu bytes) does not fit in low RAM above "
				   "the kernel", errmsg_path(path).s, (unsigned long long)size);
	} else {
		ret = linux_place_initrd(gm, t->lx, size, gpa);
		if (ret)
			errmsg_set(e, ret, "initrd '%s' (%llu bytes) does not fit in RAM above the "
				   "kernel (which ends at 0x%llx) and below its initrd_addr_max "
				   "0x%x%s", errmsg_path(path).s, (unsigned long long)size,
				   (unsigned long long)t->lx->kernel_end,
				   t->lx->initrd_addr_max,
				   t->lx->initrd_above_4g ? " or in RAM above 4 GiB" : "");
	}
	e->bad_input = true;
	return ret;
}

/* Read the initrd straight into guest memory where place_initrd() puts it. */
static int load_initrd(struct guest_mem *gm, const struct initrd_target *t,
		       const char *path, uint64_t *gpa_out, uint64_t *size_out, struct errmsg *e)
{
	uint64_t size, gpa;
	void *dst;
	int fd, ret;

	fd = open_input("initrd", path, 0, &size, e);
	if (fd < 0)
		return fd;
	ret = place_initrd(gm, t, path, size, &gpa, e);
	if (ret)
		goto out;
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
	*gpa_out = gpa;
	*size_out = size;
out:
	close(fd);
	return ret;
}

/* "kernel 'NAME': REASON" from the reason a parser left in e. */
static int kernel_refused(const char *name, int ret, struct errmsg *e)
{
	char why[sizeof(e->text)];

	memcpy(why, e->text, sizeof(why));
	e->bad_input = true;
	return errmsg_set(e, ret, "kernel '%s': %s", errmsg_path(name).s, why);
}

/*
 * A command line of len bytes for a kernel that takes kernel_max (its
 * cmdline_size): it must fit both that and memvmm's page. -E2BIG naming
 * which limit.
 */
static int check_cmdline(const char *name, size_t len, uint32_t kernel_max, struct errmsg *e)
{
	if (len <= kernel_max && len <= LINUX_CMDLINE_BYTES - 1)
		return 0;
	e->bad_input = true;
	if (kernel_max < LINUX_CMDLINE_BYTES - 1)
		return errmsg_set(e, -E2BIG, "the kernel command line is %zu bytes; kernel '%s' "
				  "takes at most %u (its cmdline_size)", len, errmsg_path(name).s,
				  kernel_max);
	return errmsg_set(e, -E2BIG, "the kernel command line is %zu bytes; at most %llu fit",
			  len, LINUX_CMDLINE_BYTES - 1);
}

static bool has_elf_magic(const void *data, size_t len)
{
	return len >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
}

static int not_a_kernel(const char *name, struct errmsg *e)
{
	e->bad_input = true;
	return errmsg_set(e, -ENOEXEC, "kernel '%s': not an ELF file or a bzImage (no ELF magic, "
			  "no \"%s\" at offset 0x%x)", errmsg_path(name).s, BZIMAGE_MAGIC,
			  BZIMAGE_MAGIC_OFFSET);
}

/*
 * The kernel's format from its first bytes, before anything slow happens:
 * an ELF (checked whole when loaded: its segments against guest memory), or
 * a bzImage, whose setup header is all there is to check and is checked here.
 */
static int check_kernel_format(const struct boot_request *req, int fd, uint64_t size,
			       struct errmsg *e)
{
	const char *path = req->kernel;
	uint8_t head[BZIMAGE_HDR_END_MAX];
	size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
	size_t cmdline_len = req->cmdline ? strlen(req->cmdline) : 0;
	struct bzimage_info bz;
	struct mem_layout layout;
	uint64_t load, rt;
	int ret = read_exact(fd, head, n, "kernel", path, e);

	if (ret)
		return ret;
	if (has_elf_magic(head, n))
		return 0;
	if (!bzimage_has_magic(head, n))
		return not_a_kernel(path, e);
	ret = bzimage_parse_head(head, n, size, &bz, e);
	if (ret)
		return kernel_refused(path, ret, e);
	/* What boot_linux64() refuses later, said before KVM and memory are set up. */
	ret = check_cmdline(path, cmdline_len, bz.cmdline_size, e);
	if (ret)
		return ret;
	if (req->ram_size && !mem_layout_build(req->ram_size, &layout)) {
		/* Boot RAM from 0, as the guest will have it (range 0 of the layout). */
		ret = linux_place_bzimage(&bz, layout.range[0].size, &load, &rt, e);
		if (ret)
			return kernel_refused(path, ret, e);
	}
	return 0;
}

/* Open and check a user's file; a kernel's format too. */
static int check_file(const char *what, const char *path, uint64_t max_bytes,
		      const struct boot_request *kernel_req, struct errmsg *e)
{
	uint64_t size;
	int fd = open_input(what, path, max_bytes, &size, e);
	int ret = 0;

	if (fd < 0)
		return fd;
	if (kernel_req)
		ret = check_kernel_format(kernel_req, fd, size, e);
	close(fd);
	return ret;
}

int boot_check_files(const struct boot_request *req, struct errmsg *e)
{
	int ret;

	if (req->kernel) {
		ret = check_file("kernel", req->kernel, BOOT_MAX_KERNEL_BYTES, req, e);
		if (ret)
			return ret;
	}
	if (req->initrd) {
		ret = check_file("initrd", req->initrd, 0, NULL, e);
		if (ret)
			return ret;
	}
	/* The checks above leave bad_input set: what fails next is the host's. */
	e->bad_input = false;
	return 0;
}

/* Through PVH: the ELF has its entry note (pvh_parse_elf() described it). */
static int boot_pvh(struct guest_mem *gm, const struct boot_request *req, const char *name,
		    const void *kernel, const struct pvh_image *img, struct boot_result *out,
		    struct errmsg *e)
{
	struct pvh_boot_params bp = { .cmdline = req->cmdline, .rsdp_gpa = req->acpi_rsdp_gpa };
	const struct initrd_target t = { .pvh = img };
	uint64_t start_info;
	int ret;

	e->bad_input = false;
	ret = pvh_load(gm, kernel, img, req->mem_is_zero ? PVH_LOAD_MEM_IS_ZERO : 0);
	if (ret)
		return errmsg_set(e, ret, "loading kernel '%s' into guest memory failed: %s",
				  errmsg_path(name).s, strerror(-ret));
	if (req->initrd) {
		ret = load_initrd(gm, &t, req->initrd, &bp.module_gpa, &bp.module_size, e);
		if (ret)
			return ret;
	}
	ret = pvh_write_boot_data(gm, &bp, &start_info);
	if (ret == -E2BIG) {
		e->bad_input = true;
		return errmsg_set(e, ret, "the kernel command line is %zu bytes; at most %llu fit",
				  strlen(req->cmdline), PVH_CMDLINE_BYTES - 1);
	}
	if (ret) {
		e->bad_input = false;
		return errmsg_set(e, ret, "writing the PVH start info failed: %s", strerror(-ret));
	}
	out->protocol = BOOT_PVH;
	out->entry = img->entry;
	out->start_info = (uint32_t)start_info;
	snprintf(out->what, sizeof(out->what), "ELF, PVH entry 0x%x", img->entry);
	return 0;
}

/* Through Linux's 64-bit boot protocol: a bzImage, or an ELF without a PVH note. */
static int boot_linux64(struct guest_mem *gm, const struct boot_request *req, const char *name,
			const void *kernel, const struct linux_image *img,
			struct boot_result *out, struct errmsg *e)
{
	struct linux_boot_params bp = { .cmdline = req->cmdline,
					.acpi_rsdp_gpa = req->acpi_rsdp_gpa };
	const struct initrd_target t = { .lx = img };
	size_t cmdline_len = strlen(req->cmdline);
	int ret;

	/* Before anything is loaded: the initrd may be large. */
	ret = check_cmdline(name, cmdline_len, img->cmdline_max, e);
	if (ret)
		return ret;
	e->bad_input = false;
	ret = linux_load(gm, kernel, img, req->mem_is_zero ? PVH_LOAD_MEM_IS_ZERO : 0);
	if (ret)
		return errmsg_set(e, ret, "loading kernel '%s' into guest memory failed: %s",
				  errmsg_path(name).s, strerror(-ret));
	if (req->initrd) {
		ret = load_initrd(gm, &t, req->initrd, &bp.initrd_gpa, &bp.initrd_size, e);
		if (ret)
			return ret;
	}
	ret = linux_write_boot_data(gm, img, &bp);
	if (ret) {
		e->bad_input = false;
		return errmsg_set(e, ret, "writing the Linux boot parameters failed: %s",
				  strerror(-ret));
	}
	out->protocol = BOOT_LINUX64;
	out->entry64 = img->entry64;
	out->boot_params_gpa = LINUX_BOOT_PARAMS_GPA;
	out->pml4_gpa = LINUX_PML4_GPA;
	if (img->kind == LINUX_IMAGE_BZIMAGE)
		snprintf(out->what, sizeof(out->what), "bzImage, boot protocol %u.%02u, loaded at "
			 "0x%llx", img->bz.version >> 8, img->bz.version & 0xff,
			 (unsigned long long)img->load_gpa);
	else
		snprintf(out->what, sizeof(out->what), "vmlinux ELF without PVH note, 64-bit boot "
			 "protocol, entry 0x%llx", (unsigned long long)img->entry64);
	return 0;
}

int boot_load(struct guest_mem *gm, const struct boot_request *req,
	      struct boot_result *out, struct errmsg *e)
{
	struct file_buf kernel = {
		.data = (void *)memvmm_guest_elf_start,
		.len = (size_t)(memvmm_guest_elf_end - memvmm_guest_elf_start),
	};
	const char *name = req->kernel ? req->kernel : "bundled test guest";
	struct linux_image *lx = NULL;
	struct pvh_image pvh;
	int ret;

	if (req->kernel) {
		kernel.data = NULL;
		ret = read_kernel(req->kernel, &kernel, e);
		if (ret)
			goto out;
	}
	if (has_elf_magic(kernel.data, kernel.len)) {
		ret = pvh_parse_elf(kernel.data, kernel.len, gm, PVH_PARSE_ENTRY_OPTIONAL, &pvh, e);
		if (ret) {
			kernel_refused(name, ret, e);
			goto out;
		}
		if (pvh.has_pvh_entry) {
			ret = boot_pvh(gm, req, name, kernel.data, &pvh, out, e);
			goto out;
		}
	} else if (!bzimage_has_magic(kernel.data, kernel.len)) {
		ret = not_a_kernel(name, e);
		goto out;
	}
	lx = malloc(sizeof(*lx));
	if (!lx) {
		e->bad_input = false;
		ret = errmsg_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (has_elf_magic(kernel.data, kernel.len))
		ret = linux_prepare_vmlinux(&pvh, lx, e);
	else
		ret = linux_prepare_bzimage(kernel.data, kernel.len, gm, lx, e);
	if (ret) {
		kernel_refused(name, ret, e);
		goto out;
	}
	ret = boot_linux64(gm, req, name, kernel.data, lx, out, e);
out:
	free(lx);
	if (req->kernel)
		free(kernel.data);
	if (!ret)
		e->bad_input = false;   /* checks on the way set it */
	return ret;
}
