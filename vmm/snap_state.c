// SPDX-License-Identifier: MIT
/*
 * The snapshot state file (vmm/snap_state.h): built with libfdt's
 * sequential-write API, sealed with an XXH3-64 checksum, and parsed as
 * untrusted input: the devicetree is checked whole (fdt_check_full) before
 * anything is read, then every property's length and value.
 * snap_state_check() holds the value rules, so that build and parse agree.
 */
#include "vmm/snap_state.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "mem/snapshot.h"
#include "vmm/snap_state_int.h"

/* A populate-threads value above this is not a configuration memvmm wrote. */
#define SNAP_MAX_POPULATE_THREADS 1024u
/* What the build buffer holds besides the payload: header, names, tags. */
#define SNAP_BASE_BYTES        (16u << 10)
#define SNAP_NODE_BYTES        512u
#define SNAP_FILE_PREFIX       "mem-"
#define SNAP_FILE_SUFFIX       ".raw"
#define SNAP_CHECKSUM_BYTES    8u

/*
 * The names mem_role_name() gives, by role (tests/test_snap_state.c checks
 * that they agree): here so that the parser links without mem/.
 */
static const char *const snap_role_names[MEM_ROLE_NR] = {
	[MEM_ROLE_BOOT_RAM] = "ram",
	[MEM_ROLE_HOTPLUG] = "hotplug",
	[MEM_ROLE_DEVICE] = "device",
};

static const char *const snap_thp_names[] = { "auto", "on", "off" };

int snap_region_role(const struct snap_region *r, enum mem_role *role)
{
	unsigned int i;

	if (!snap_str_ok(r->role, sizeof(r->role)))
		return -EINVAL;
	for (i = 0; i < MEM_ROLE_NR; i++) {
		if (!strcmp(r->role, snap_role_names[i])) {
			*role = (enum mem_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- value rules (both directions) ------------------------------------- */

static bool page_aligned(uint64_t v)
{
	return v % MEM_PAGE_BYTES == 0;
}

/* "mem-" digits ".raw", nothing else (no slash, no "..") */
static bool file_name_ok(const char *f)
{
	size_t digits;

	if (strncmp(f, SNAP_FILE_PREFIX, strlen(SNAP_FILE_PREFIX)))
		return false;
	f += strlen(SNAP_FILE_PREFIX);
	digits = strspn(f, "0123456789");
	return digits > 0 && !strcmp(f + digits, SNAP_FILE_SUFFIX);
}

static int vmem_check(const struct snap_config *c, char *why, size_t whylen)
{
	const char *p = "/config/virtio-mem";

	if (!c->vmem_size || !page_aligned(c->vmem_size) || c->vmem_size > MEM_MAX_BYTES)
		return snap_why(why, whylen, -EINVAL, "%s/size: %llu, expected a multiple of 4 KiB in 4 KiB..1 TiB",
				p, (unsigned long long)c->vmem_size);
	if (c->vmem_block < MEM_PAGE_BYTES || (c->vmem_block & (c->vmem_block - 1)) ||
	    c->vmem_size % c->vmem_block)
		return snap_why(why, whylen, -EINVAL, "%s/block: %llu, expected a power of two >= 4 KiB dividing the size",
				p, (unsigned long long)c->vmem_block);
	if (c->vmem_requested > c->vmem_size || c->vmem_requested % c->vmem_block)
		return snap_why(why, whylen, -EINVAL, "%s/requested: %llu, expected whole blocks within the size",
				p, (unsigned long long)c->vmem_requested);
	if (!snap_name_ok(c->vmem_backend, sizeof(c->vmem_backend)))
		return snap_why(why, whylen, -EINVAL, "%s/backend: not a name", p);
	if (!snap_name_ok(c->vmem_populate, sizeof(c->vmem_populate)))
		return snap_why(why, whylen, -EINVAL, "%s/populate: not a name", p);
	return 0;
}

/* /config/cpu: a SPEC that cpu_model_parse() takes (its reason in why). */
static int config_cpu_check(const struct snap_config *c, char *why, size_t whylen)
{
	struct cpu_model m;
	char reason[200];

	if (!snap_str_ok(c->cpu, sizeof(c->cpu)))
		return snap_why(why, whylen, -EINVAL, "/config/cpu: longer than %u bytes",
				CPU_MODEL_SPEC_BYTES - 1);
	if (cpu_model_parse(c->cpu, &m, reason, sizeof(reason)))
		return snap_why(why, whylen, -EINVAL, "/config/cpu: %s", reason);
	return 0;
}

static int config_check(const struct snap_config *c, char *why, size_t whylen)
{
	bool thp = false;
	size_t i;

	if (!c->mem_size || !page_aligned(c->mem_size) || c->mem_size > MEM_MAX_BYTES)
		return snap_why(why, whylen, -EINVAL, "/config/mem-size: %llu, expected a multiple of 4 KiB in 4 KiB..1 TiB",
				(unsigned long long)c->mem_size);
	if (!snap_name_ok(c->backend, sizeof(c->backend)))
		return snap_why(why, whylen, -EINVAL, "/config/backend: not a name");
	if (!snap_name_ok(c->populate, sizeof(c->populate)))
		return snap_why(why, whylen, -EINVAL, "/config/populate: not a name");
	if (!snap_name_ok(c->prefault, sizeof(c->prefault)))
		return snap_why(why, whylen, -EINVAL, "/config/prefault: not a name");
	for (i = 0; i < sizeof(snap_thp_names) / sizeof(snap_thp_names[0]); i++)
		thp = thp || (snap_str_ok(c->thp, sizeof(c->thp)) && !strcmp(c->thp, snap_thp_names[i]));
	if (!thp)
		return snap_why(why, whylen, -EINVAL, "/config/thp: not auto, on or off");
	if (c->populate_threads > SNAP_MAX_POPULATE_THREADS)
		return snap_why(why, whylen, -EINVAL, "/config/populate-threads: %u, at most %u",
				c->populate_threads, SNAP_MAX_POPULATE_THREADS);
	if (c->vcpus < 1 || c->vcpus > SNAP_MAX_VCPUS)
		return snap_why(why, whylen, -EINVAL, "/config/vcpus: %u, expected 1..%u", c->vcpus,
				SNAP_MAX_VCPUS);
	if (!snap_str_ok(c->cmdline, sizeof(c->cmdline)))
		return snap_why(why, whylen, -EINVAL, "/config/cmdline: longer than %u bytes",
				SNAP_CMDLINE_BYTES - 1);
	if (config_cpu_check(c, why, whylen))
		return -EINVAL;
	if (c->vmem && vmem_check(c, why, whylen))
		return -EINVAL;
	if (c->balloon && (!page_aligned(c->balloon_size) || c->balloon_size > c->mem_size))
		return snap_why(why, whylen, -EINVAL, "/config/balloon/size: %llu, expected a multiple of 4 KiB up to mem-size",
				(unsigned long long)c->balloon_size);
	return 0;
}

/* What a region's arrays' lengths depend on: checked before they are read. */
static int region_check_scalars(const struct snap_region *r, unsigned int i, char *why,
				size_t whylen)
{
	enum mem_role role;

	if (!snap_name_ok(r->role, sizeof(r->role)) || snap_region_role(r, &role))
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/role: not ram, hotplug or device", i);
	if (!page_aligned(r->gpa) || !r->size || !page_aligned(r->size) || r->size > MEM_MAX_BYTES ||
	    r->gpa > UINT64_MAX - r->size)
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u: gpa 0x%llx size 0x%llx, expected 4 KiB aligned, size 4 KiB..1 TiB, not wrapping",
				i, (unsigned long long)r->gpa, (unsigned long long)r->size);
	if (!snap_name_ok(r->backend, sizeof(r->backend)))
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/backend: not a name", i);
	if (!snap_name_ok(r->file, sizeof(r->file)) || !file_name_ok(r->file))
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/file: not mem-N.raw", i);
	/* memvmm saves MEM_SNAP_CHUNK_BYTES: a huge one would make verify=on hash for minutes. */
	if (r->chunk_bytes && r->chunk_bytes != MEM_SNAP_CHUNK_BYTES)
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/chunk-bytes: %llu, "
				"expected %llu", i, (unsigned long long)r->chunk_bytes,
				(unsigned long long)MEM_SNAP_CHUNK_BYTES);
	return 0;
}

static int region_check(const struct snap_region *r, unsigned int i, bool has_parent, char *why,
			size_t whylen)
{
	uint64_t pages, words;
	int ret;

	ret = region_check_scalars(r, i, why, whylen);
	if (ret)
		return ret;
	if (!r->chunk_bytes != !r->chunk_sums)
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u: chunk-bytes and chunk-sums go together", i);
	if (!r->present)
		return 0;
	if (!has_parent)
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/present: a diff region in a snapshot without /parent", i);
	pages = r->size / MEM_PAGE_BYTES;
	words = mem_snap_bitmap_words(r->size);
	if (pages % MEM_SNAP_BITS_PER_WORD &&
	    r->present[words - 1] >> (pages % MEM_SNAP_BITS_PER_WORD))
		return snap_why(why, whylen, -EINVAL, "/memory/region@%u/present: bits set past the region's end", i);
	return 0;
}

static int memory_check(const struct snap_state *s, char *why, size_t whylen)
{
	const struct snap_region *a, *b;
	unsigned int i, j;
	int ret;

	if (s->nr_regions < 1 || s->nr_regions > MEM_MAX_REGIONS)
		return snap_why(why, whylen, -EINVAL, "/memory: %u regions, expected 1..%u", s->nr_regions,
				MEM_MAX_REGIONS);
	for (i = 0; i < s->nr_regions; i++) {
		ret = region_check(&s->region[i], i, s->has_parent, why, whylen);
		if (ret)
			return ret;
	}
	for (i = 0; i < s->nr_regions; i++) {
		for (j = i + 1; j < s->nr_regions; j++) {
			a = &s->region[i];
			b = &s->region[j];
			if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
				return snap_why(why, whylen, -EINVAL, "/memory/region@%u overlaps region@%u", j, i);
			if (!strcmp(a->file, b->file))
				return snap_why(why, whylen, -EINVAL, "/memory/region@%u/file: the same as region@%u's",
						j, i);
		}
	}
	return 0;
}

int snap_state_check(const struct snap_state *s, char *why, size_t whylen)
{
	unsigned int i;
	int ret;

	ret = config_check(&s->cfg, why, whylen);
	if (!ret)
		ret = memory_check(s, why, whylen);
	if (!ret)
		ret = snap_cpus_check(s, why, whylen);
	if (!ret)
		ret = snap_irq_check(&s->irq, why, whylen);
	if (ret)
		return ret;
	if (s->nr_devices > SNAP_MAX_DEVICES)
		return snap_why(why, whylen, -EINVAL, "/devices: %u devices, at most %u", s->nr_devices,
				SNAP_MAX_DEVICES);
	for (i = 0; i < s->nr_devices; i++) {
		if (!snap_name_ok(s->dev[i].name, sizeof(s->dev[i].name)))
			return snap_why(why, whylen, -EINVAL, "/devices/dev@%u/device: not a name", i);
		if ((!s->dev[i].blob && s->dev[i].len) || s->dev[i].len > SNAP_MAX_STATE_BYTES)
			return snap_why(why, whylen, -EINVAL, "/devices/dev@%u/state: %u bytes", i,
					s->dev[i].len);
	}
	if (s->has_parent && (!snap_str_ok(s->parent_path, sizeof(s->parent_path)) ||
			      s->parent_path[0] != '/'))
		return snap_why(why, whylen, -EINVAL, "/parent/path: not an absolute path of at most %u bytes",
				SNAP_PATH_BYTES - 1);
	return 0;
}

/* ---- building ----------------------------------------------------------- */

static int put_config(void *fdt, const struct snap_config *c)
{
	SNAP_PUT(fdt_begin_node(fdt, "config"));
	SNAP_PUT(fdt_property_u64(fdt, "mem-size", c->mem_size));
	SNAP_PUT(fdt_property_string(fdt, "backend", c->backend));
	SNAP_PUT(fdt_property_string(fdt, "populate", c->populate));
	SNAP_PUT(fdt_property_string(fdt, "prefault", c->prefault));
	SNAP_PUT(fdt_property_string(fdt, "thp", c->thp));
	SNAP_PUT(fdt_property_u32(fdt, "populate-threads", c->populate_threads));
	SNAP_PUT(fdt_property_u32(fdt, "vcpus", c->vcpus));
	SNAP_PUT(fdt_property_string(fdt, "cmdline", c->cmdline));
	if (c->cpu[0])
		SNAP_PUT(fdt_property_string(fdt, "cpu", c->cpu));
	if (c->vmem) {
		SNAP_PUT(fdt_begin_node(fdt, "virtio-mem"));
		SNAP_PUT(fdt_property_u64(fdt, "size", c->vmem_size));
		SNAP_PUT(fdt_property_u64(fdt, "requested", c->vmem_requested));
		SNAP_PUT(fdt_property_u64(fdt, "block", c->vmem_block));
		SNAP_PUT(fdt_property_string(fdt, "backend", c->vmem_backend));
		SNAP_PUT(fdt_property_string(fdt, "populate", c->vmem_populate));
		SNAP_PUT(fdt_end_node(fdt));
	}
	if (c->balloon) {
		SNAP_PUT(fdt_begin_node(fdt, "balloon"));
		SNAP_PUT(fdt_property_u64(fdt, "size", c->balloon_size));
		SNAP_PUT(snap_put_flag(fdt, "deflate-on-oom", c->balloon_deflate_on_oom));
		SNAP_PUT(snap_put_flag(fdt, "free-page-reporting", c->balloon_free_page_reporting));
		SNAP_PUT(snap_put_flag(fdt, "stats", c->balloon_stats));
		SNAP_PUT(fdt_property_u32(fdt, "stats-interval-s", c->balloon_stats_s));
		SNAP_PUT(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int put_region(void *fdt, const struct snap_region *r, unsigned int i)
{
	char name[SNAP_NODE_PATH_BYTES];

	snprintf(name, sizeof(name), "region@%u", i);
	SNAP_PUT(fdt_begin_node(fdt, name));
	SNAP_PUT(fdt_property_string(fdt, "role", r->role));
	SNAP_PUT(fdt_property_u64(fdt, "gpa", r->gpa));
	SNAP_PUT(fdt_property_u64(fdt, "size", r->size));
	SNAP_PUT(fdt_property_string(fdt, "backend", r->backend));
	SNAP_PUT(fdt_property_string(fdt, "file", r->file));
	if (r->present)
		SNAP_PUT(snap_put_u64s(fdt, "present", r->present, mem_snap_bitmap_words(r->size)));
	if (r->chunk_bytes) {
		SNAP_PUT(fdt_property_u64(fdt, "chunk-bytes", r->chunk_bytes));
		SNAP_PUT(snap_put_u64s(fdt, "chunk-sums", r->chunk_sums,
				       mem_snap_nr_chunks(r->size, r->chunk_bytes)));
	}
	return fdt_end_node(fdt);
}

static int put_rest(void *fdt, const struct snap_state *s)
{
	char name[SNAP_NODE_PATH_BYTES];
	unsigned int i;

	SNAP_PUT(fdt_begin_node(fdt, "memory"));
	for (i = 0; i < s->nr_regions; i++)
		SNAP_PUT(put_region(fdt, &s->region[i], i));
	SNAP_PUT(fdt_end_node(fdt));
	SNAP_PUT(snap_cpus_put(fdt, s));
	SNAP_PUT(snap_irq_put(fdt, &s->irq));
	SNAP_PUT(fdt_begin_node(fdt, "devices"));
	for (i = 0; i < s->nr_devices; i++) {
		snprintf(name, sizeof(name), "dev@%u", i);
		SNAP_PUT(fdt_begin_node(fdt, name));
		SNAP_PUT(fdt_property_string(fdt, "device", s->dev[i].name));
		SNAP_PUT(fdt_property(fdt, "state", s->dev[i].len ? s->dev[i].blob : (const void *)"",
				      (int)s->dev[i].len));
		SNAP_PUT(fdt_end_node(fdt));
	}
	SNAP_PUT(fdt_end_node(fdt));
	if (s->has_parent) {
		SNAP_PUT(fdt_begin_node(fdt, "parent"));
		SNAP_PUT(fdt_property_string(fdt, "path", s->parent_path));
		SNAP_PUT(fdt_property_u64(fdt, "id", s->parent_id));
		SNAP_PUT(fdt_end_node(fdt));
	}
	return 0;
}

static int put_tree(void *fdt, int size, const struct snap_state *s)
{
	SNAP_PUT(fdt_create(fdt, size));
	SNAP_PUT(fdt_finish_reservemap(fdt));
	SNAP_PUT(fdt_begin_node(fdt, ""));
	SNAP_PUT(fdt_property_u32(fdt, "format-version", SNAP_FORMAT_VERSION));
	SNAP_PUT(fdt_property_u64(fdt, "id", s->id));
	SNAP_PUT(fdt_property_u64(fdt, "created-ns", s->created_ns));
	SNAP_PUT(fdt_property_u64(fdt, "checksum", 0));
	SNAP_PUT(put_config(fdt, &s->cfg));
	SNAP_PUT(put_rest(fdt, s));
	SNAP_PUT(fdt_end_node(fdt));
	SNAP_PUT(fdt_finish(fdt));
	return fdt_pack(fdt);
}

/* A first guess at the blob's size (checked state: every term is bounded). */
static size_t tree_bytes(const struct snap_state *s)
{
	const struct snap_region *r;
	size_t bytes = SNAP_BASE_BYTES + SNAP_CMDLINE_BYTES + SNAP_PATH_BYTES;
	unsigned int i;

	bytes += snap_cpus_bytes(s);
	for (i = 0; i < s->nr_regions; i++) {
		r = &s->region[i];
		bytes += SNAP_NODE_BYTES;
		if (r->present)
			bytes += mem_snap_bitmap_words(r->size) * sizeof(uint64_t);
		bytes += mem_snap_nr_chunks(r->size, r->chunk_bytes) * sizeof(uint64_t);
	}
	for (i = 0; i < s->nr_devices; i++)
		bytes += SNAP_NODE_BYTES + s->dev[i].len;
	return bytes;
}

int snap_state_build(const struct snap_state *s, void **blob, size_t *len)
{
	size_t size;
	void *buf = NULL, *shrunk;
	int ret;

	*blob = NULL;
	*len = 0;
	ret = snap_state_check(s, NULL, 0);
	if (ret)
		return ret;
	size = tree_bytes(s);
	if (size > SNAP_MAX_STATE_BYTES)
		size = SNAP_MAX_STATE_BYTES;
	for (;;) {
		free(buf);
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		ret = put_tree(buf, (int)size, s);
		if (ret != -FDT_ERR_NOSPACE)
			break;
		/* Too big for the largest state file allowed: refused. */
		if (size == SNAP_MAX_STATE_BYTES)
			goto fail_inval;
		size = size * 2 > SNAP_MAX_STATE_BYTES ? SNAP_MAX_STATE_BYTES : size * 2;
	}
	if (ret)
		goto fail_inval;
	size = fdt_totalsize(buf);
	ret = snap_state_seal(buf, size);
	if (ret)
		goto fail;
	shrunk = realloc(buf, size);
	*blob = shrunk ? shrunk : buf;
	*len = size;
	return 0;

fail_inval:
	ret = -EINVAL;
fail:
	free(buf);
	return ret;
}

/* ---- the checksum ------------------------------------------------------- */

/* Where /checksum's 8 bytes are in a blob that passed fdt_check_full(). */
static int checksum_find(const void *blob, size_t *off)
{
	const uint8_t *p;
	int len;

	p = fdt_getprop(blob, 0, "checksum", &len);
	if (!p || len != SNAP_CHECKSUM_BYTES)
		return -EBADMSG;
	*off = (size_t)(p - (const uint8_t *)blob);
	return 0;
}

/* XXH3-64 of the blob with the 8 bytes at off read as zero. */
static int checksum_compute(const void *blob, size_t len, size_t off, uint64_t *sum)
{
	static const uint8_t zero[SNAP_CHECKSUM_BYTES];
	const uint8_t *b = blob;
	XXH3_state_t *st;
	int ret = -ENOMEM;

	st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	if (XXH3_64bits_reset(st) != XXH_OK ||
	    XXH3_64bits_update(st, b, off) != XXH_OK ||
	    XXH3_64bits_update(st, zero, sizeof(zero)) != XXH_OK ||
	    XXH3_64bits_update(st, b + off + SNAP_CHECKSUM_BYTES,
			       len - off - SNAP_CHECKSUM_BYTES) != XXH_OK)
		goto out;
	*sum = XXH3_64bits_digest(st);
	ret = 0;
out:
	XXH3_freeState(st);
	return ret;
}

int snap_state_seal(void *blob, size_t len)
{
	uint64_t sum;
	size_t off;
	int ret;

	if (len < sizeof(struct fdt_header) || len > SNAP_MAX_STATE_BYTES ||
	    fdt_check_full(blob, len) || fdt_totalsize(blob) != len)
		return -EBADMSG;
	ret = checksum_find(blob, &off);
	if (!ret)
		ret = checksum_compute(blob, len, off, &sum);
	if (!ret)
		fdt64_st((uint8_t *)blob + off, sum);
	return ret;
}

/* The whole blob: a devicetree of exactly len bytes whose checksum matches. */
static int blob_check(const void *blob, size_t len, char *why, size_t whylen)
{
	uint64_t sum;
	size_t off;
	int ret;

	if (len > SNAP_MAX_STATE_BYTES)
		return snap_why(why, whylen, -EINVAL, "%zu bytes, larger than a state file may be (%u MiB)",
				len, SNAP_MAX_STATE_BYTES >> 20);
	if (len < sizeof(struct fdt_header))
		return snap_why(why, whylen, -EBADMSG, "%zu bytes, too short for a devicetree", len);
	ret = fdt_check_full(blob, len);
	if (ret)
		return snap_why(why, whylen, -EBADMSG, "not a devicetree, or truncated (libfdt: %s)",
				fdt_strerror(ret));
	if (fdt_totalsize(blob) != len)
		return snap_why(why, whylen, -EBADMSG, "the devicetree is %u bytes but the file %zu",
				fdt_totalsize(blob), len);
	if (checksum_find(blob, &off))
		return snap_why(why, whylen, -EBADMSG, "/checksum: missing or not 8 bytes");
	ret = checksum_compute(blob, len, off, &sum);
	if (ret)
		return snap_why(why, whylen, ret, "checksum: out of memory");
	if (sum != fdt64_ld((const fdt64_t *)((const uint8_t *)blob + off)))
		return snap_why(why, whylen, -EBADMSG,
				"checksum mismatch: the state file was altered or damaged");
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static int get_config(const struct snap_node *root, struct snap_config *c)
{
	struct snap_node n, sub;
	int ret, len;

	ret = snap_node_sub(root, "config", true, &n);
	if (!ret)
		ret = snap_get_u64(&n, "mem-size", &c->mem_size);
	if (!ret)
		ret = snap_get_str(&n, "backend", c->backend, sizeof(c->backend));
	if (!ret)
		ret = snap_get_str(&n, "populate", c->populate, sizeof(c->populate));
	if (!ret)
		ret = snap_get_str(&n, "prefault", c->prefault, sizeof(c->prefault));
	if (!ret)
		ret = snap_get_str(&n, "thp", c->thp, sizeof(c->thp));
	if (!ret)
		ret = snap_get_u32(&n, "populate-threads", &c->populate_threads);
	if (!ret)
		ret = snap_get_u32(&n, "vcpus", &c->vcpus);
	if (!ret)
		ret = snap_get_str(&n, "cmdline", c->cmdline, sizeof(c->cmdline));
	/* Optional: older snapshots have none (host). */
	if (!ret && snap_prop(&n, "cpu", &len))
		ret = snap_get_str(&n, "cpu", c->cpu, sizeof(c->cpu));
	if (!ret)
		ret = snap_node_sub(&n, "virtio-mem", false, &sub);
	if (!ret && sub.off >= 0) {
		c->vmem = true;
		ret = snap_get_u64(&sub, "size", &c->vmem_size);
		if (!ret)
			ret = snap_get_u64(&sub, "requested", &c->vmem_requested);
		if (!ret)
			ret = snap_get_u64(&sub, "block", &c->vmem_block);
		if (!ret)
			ret = snap_get_str(&sub, "backend", c->vmem_backend, sizeof(c->vmem_backend));
		if (!ret)
			ret = snap_get_str(&sub, "populate", c->vmem_populate, sizeof(c->vmem_populate));
	}
	if (!ret)
		ret = snap_node_sub(&n, "balloon", false, &sub);
	if (!ret && sub.off >= 0) {
		c->balloon = true;
		ret = snap_get_u64(&sub, "size", &c->balloon_size);
		if (!ret)
			ret = snap_get_flag(&sub, "deflate-on-oom", &c->balloon_deflate_on_oom);
		if (!ret)
			ret = snap_get_flag(&sub, "free-page-reporting", &c->balloon_free_page_reporting);
		if (!ret)
			ret = snap_get_flag(&sub, "stats", &c->balloon_stats);
		if (!ret)
			ret = snap_get_u32(&sub, "stats-interval-s", &c->balloon_stats_s);
	}
	/* Checked before the vCPUs are counted against vcpus. */
	if (!ret)
		ret = config_check(c, root->why, root->whylen);
	return ret;
}

static int get_region(const struct snap_node *n, unsigned int i, bool has_parent,
		      struct snap_region *r)
{
	int len, ret;

	ret = snap_get_str(n, "role", r->role, sizeof(r->role));
	if (!ret)
		ret = snap_get_u64(n, "gpa", &r->gpa);
	if (!ret)
		ret = snap_get_u64(n, "size", &r->size);
	if (!ret)
		ret = snap_get_str(n, "backend", r->backend, sizeof(r->backend));
	if (!ret)
		ret = snap_get_str(n, "file", r->file, sizeof(r->file));
	if (!ret && snap_prop(n, "chunk-bytes", &len)) {
		ret = snap_get_u64(n, "chunk-bytes", &r->chunk_bytes);
		if (!ret && !r->chunk_bytes)
			ret = snap_fail(n, "chunk-bytes", "0");
	} else if (!ret && snap_prop(n, "chunk-sums", &len)) {
		ret = snap_fail(n, "chunk-sums", "without chunk-bytes");
	}
	/* The arrays' lengths follow from size and chunk-bytes: check those first. */
	if (!ret)
		ret = region_check_scalars(r, i, n->why, n->whylen);
	if (!ret && r->chunk_bytes)
		ret = snap_get_u64s(n, "chunk-sums", mem_snap_nr_chunks(r->size, r->chunk_bytes),
				    &r->chunk_sums);
	if (!ret && snap_prop(n, "present", &len))
		ret = snap_get_u64s(n, "present", mem_snap_bitmap_words(r->size), &r->present);
	if (!ret)
		ret = region_check(r, i, has_parent, n->why, n->whylen);
	return ret;
}

static int get_memory(const struct snap_node *root, struct snap_state *s)
{
	int offs[MEM_MAX_REGIONS];
	struct snap_node mem, n;
	unsigned int i, nr;
	int ret;

	ret = snap_node_sub(root, "memory", true, &mem);
	if (!ret)
		ret = snap_node_list(&mem, "region", MEM_MAX_REGIONS, offs, &nr);
	if (ret)
		return ret;
	if (!nr)
		return snap_fail(&mem, NULL, "no region");
	s->nr_regions = nr;
	for (i = 0; i < nr; i++) {
		snap_node_child(&mem, "region", i, offs[i], &n);
		ret = get_region(&n, i, s->has_parent, &s->region[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int get_devices(const struct snap_node *root, struct snap_state *s)
{
	int offs[SNAP_MAX_DEVICES];
	struct snap_node devs, n;
	struct snap_device *d;
	const void *p;
	unsigned int i, nr;
	int len, ret;

	ret = snap_node_sub(root, "devices", true, &devs);
	if (!ret)
		ret = snap_node_list(&devs, "dev", SNAP_MAX_DEVICES, offs, &nr);
	if (ret)
		return ret;
	s->nr_devices = nr;
	for (i = 0; i < nr; i++) {
		d = &s->dev[i];
		snap_node_child(&devs, "dev", i, offs[i], &n);
		ret = snap_get_str(&n, "device", d->name, sizeof(d->name));
		if (ret)
			return ret;
		if (!snap_name_ok(d->name, sizeof(d->name)))
			return snap_fail(&n, "device", "not a name");
		p = snap_prop(&n, "state", &len);
		if (!p)
			return snap_fail(&n, "state", "missing");
		if (!len)
			continue;
		d->blob = malloc((size_t)len);
		if (!d->blob)
			return snap_why(n.why, n.whylen, -ENOMEM, "%s/state: out of memory", n.path);
		memcpy(d->blob, p, (size_t)len);
		d->len = (uint32_t)len;
	}
	return 0;
}

static int get_parent(const struct snap_node *root, struct snap_state *s)
{
	struct snap_node n;
	int ret;

	ret = snap_node_sub(root, "parent", false, &n);
	if (ret || n.off < 0)
		return ret;
	s->has_parent = true;
	ret = snap_get_str(&n, "path", s->parent_path, sizeof(s->parent_path));
	if (!ret && s->parent_path[0] != '/')
		ret = snap_fail(&n, "path", "not an absolute path");
	if (!ret)
		ret = snap_get_u64(&n, "id", &s->parent_id);
	return ret;
}

int snap_state_parse(const void *blob, size_t len, struct snap_state *s, char *why,
		     size_t whylen)
{
	struct snap_node root = { .fdt = blob, .off = 0, .path = "", .why = why, .whylen = whylen };
	uint32_t version;
	int ret;

	memset(s, 0, sizeof(*s));
	if (why && whylen)
		why[0] = '\0';
	ret = blob_check(blob, len, why, whylen);
	if (ret)
		return ret;
	ret = snap_get_u32(&root, "format-version", &version);
	if (ret)
		return ret;
	if (version != SNAP_FORMAT_VERSION)
		return snap_why(why, whylen, -EPROTONOSUPPORT, "format version %u, this memvmm reads %u",
				version, SNAP_FORMAT_VERSION);
	s->version = version;
	ret = snap_get_u64(&root, "id", &s->id);
	if (!ret)
		ret = snap_get_u64(&root, "created-ns", &s->created_ns);
	if (!ret)
		ret = get_parent(&root, s);
	if (!ret)
		ret = get_config(&root, &s->cfg);
	if (!ret)
		ret = get_memory(&root, s);
	if (!ret)
		ret = snap_cpus_get(&root, s);
	if (!ret)
		ret = snap_irq_get(&root, &s->irq);
	if (!ret)
		ret = get_devices(&root, s);
	if (!ret)
		ret = snap_state_check(s, why, whylen);
	if (ret)
		snap_state_release(s);
	return ret;
}

void snap_state_release(struct snap_state *s)
{
	unsigned int i;

	for (i = 0; s->vcpu && i < s->nr_vcpus; i++)
		free(s->vcpu[i].xsave);
	free(s->vcpu);
	s->vcpu = NULL;
	s->nr_vcpus = 0;
	for (i = 0; i < s->nr_regions && i < MEM_MAX_REGIONS; i++) {
		free(s->region[i].present);
		free(s->region[i].chunk_sums);
		s->region[i].present = NULL;
		s->region[i].chunk_sums = NULL;
	}
	s->nr_regions = 0;
	for (i = 0; i < s->nr_devices && i < SNAP_MAX_DEVICES; i++) {
		free(s->dev[i].blob);
		s->dev[i].blob = NULL;
		s->dev[i].len = 0;
	}
	s->nr_devices = 0;
}
