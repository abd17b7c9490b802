// SPDX-License-Identifier: MIT
/*
 * memvmm probe: transparent huge pages, a trial per kind of memory (the
 * settings rows are in probe.c; the other trials in probe_trials.c).
 */
#include "vmm/probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem/thp.h"

#define WUR __attribute__((warn_unused_result))

#define THP_TRIAL_MAP_BYTES  (2 * MEM_HUGE_PAGE_BYTES + 2 * MEM_PAGE_BYTES)
#define THP_SETTING_BYTES    80   /* mem_thp_policy()'s "files that decided" */

/*
 * 2 MiB at a 2 MiB-aligned address, MADV_HUGEPAGE, MADV_POPULATE_WRITE, then
 * smaps: *huge gets how much of it huge pages map. The 2 MiB lies strictly
 * inside a larger anonymous mapping, whose unadvised rest keeps it a mapping
 * of its own in smaps (no merging with a neighbour's huge pages). memfd: a
 * memfd mapped MAP_SHARED there instead, over that anonymous reservation.
 */
static WUR int thp_trial_run(bool memfd, uint64_t *huge, const char **step)
{
	struct mem_huge_range range = { .len = MEM_HUGE_PAGE_BYTES };
	uint8_t *base, *at;
	int fd = -1, ret = 0;

	*step = "mmap";
	base = mmap(NULL, THP_TRIAL_MAP_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	range.start = ((uintptr_t)base + MEM_PAGE_BYTES + MEM_HUGE_PAGE_BYTES - 1) &
		      ~(uintptr_t)(MEM_HUGE_PAGE_BYTES - 1);
	at = (uint8_t *)range.start;
	if (memfd) {
		*step = "memfd_create";
		fd = memfd_create("memvmm-probe-thp", MFD_CLOEXEC);
		if (fd < 0)
			goto fail;
		*step = "ftruncate";
		if (ftruncate(fd, MEM_HUGE_PAGE_BYTES))
			goto fail;
		*step = "mmap(MAP_SHARED|MAP_FIXED)";
		if (mmap(at, MEM_HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == MAP_FAILED)
			goto fail;
	}
	*step = "MADV_HUGEPAGE";
	if (madvise(at, MEM_HUGE_PAGE_BYTES, MADV_HUGEPAGE))
		goto fail;
	*step = "MADV_POPULATE_WRITE";
	if (madvise(at, MEM_HUGE_PAGE_BYTES, MADV_POPULATE_WRITE))
		goto fail;
	*step = "/proc/self/smaps";
	ret = mem_huge_measure("/proc/self/smaps", &range, 1);
	*huge = range.huge_bytes;
	goto out;
fail:
	ret = -errno;
out:
	if (fd >= 0 && close(fd) && !ret) {
		*step = "close";
		ret = -errno;
	}
	if (munmap(base, THP_TRIAL_MAP_BYTES) && !ret) {
		*step = "munmap";
		ret = -errno;
	}
	return ret;
}

/* Why a trial got small pages, from what the host says (h NULL: unreadable). */
static void thp_why_small(const struct mem_thp_host *h, enum mem_thp_kind kind, char *out,
			  size_t len)
{
	char setting[THP_SETTING_BYTES];
	enum mem_thp_policy p;

	if (!h) {
		snprintf(out, len, "host THP settings unreadable");
		return;
	}
	p = mem_thp_policy(h, kind, setting, sizeof(setting));
	if (p == MEM_THP_POLICY_NEVER)
		snprintf(out, len, "host policy never (%s)", setting);
	else if (h->process_disabled)
		snprintf(out, len, "THP disabled for this process (PR_SET_THP_DISABLE)");
	else
		snprintf(out, len, "no 2M page though the host allows it (%s; defrag=%s)",
			 setting, h->defrag);
}

static void add_thp_trial_row(struct probe_report *r, const char *feature, bool memfd,
			      enum mem_thp_kind kind, const struct mem_thp_host *h)
{
	char why[PROBE_DETAIL_LEN];
	const char *step;
	uint64_t huge = 0;
	int ret = thp_trial_run(memfd, &huge, &step);

	if (ret && probe_trial_inconclusive(r, feature, step, -ret))
		return;
	if (ret) {
		probe_add(r, feature, false, 0, "%s: %s", step, probe_errname(-ret));
	} else if (huge >= MEM_HUGE_PAGE_BYTES) {
		probe_add(r, feature, true, (int64_t)huge, "MADV_HUGEPAGE + MADV_POPULATE_WRITE "
			  "of 2 MiB: one 2 MiB page (%s)",
			  memfd ? "ShmemPmdMapped" : "AnonHugePages");
	} else {
		thp_why_small(h, kind, why, sizeof(why));
		probe_add(r, feature, false, (int64_t)huge, "4K pages: %s", why);
	}
}

void probe_collect_thp(struct probe_report *r)
{
	struct mem_thp_host h;
	int ret = mem_thp_host_read("", &h);

	if (ret && probe_trial_inconclusive(r, "THP (anon)", MEM_THP_SYSFS, -ret))
		return;
	probe_thp_settings(r, ret ? NULL : &h, -ret);
	if (!ret && !h.present)
		probe_add(r, "mTHP sizes", false, 0, "no " MEM_THP_SYSFS " (kernel without THP)");
	else
		probe_add_mthp_row(r, ret ? "" : h.anon);
	if (!r->fail_err)
		add_thp_trial_row(r, "THP trial (anon)", false, MEM_THP_KIND_ANON, ret ? NULL : &h);
	if (!r->fail_err)
		add_thp_trial_row(r, "THP trial (memfd)", true, MEM_THP_KIND_SHMEM,
				  ret ? NULL : &h);
}
