// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the snapshot state file's parser (vmm/snap_state.c):
 * the input is a state.dtb. Each input is parsed twice: as it is (almost
 * every mutation then fails the checksum), and resealed (its checksum
 * recomputed where it is a devicetree with one), so that the structure and
 * value checks behind the checksum are what is fuzzed.
 *
 * A refusal must be one of the documented errors, with a reason of printable
 * bytes, and leave nothing allocated in the state. An accepted state must
 * pass snap_state_check(), build, and round-trip: parsing what it builds
 * gives a state that builds the same bytes again. The sanitizers catch any
 * read outside the input (it is a buffer of exactly its size) and any leak.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/snap_state.h"

#define FUZZ_WHY_BYTES 256
/* Inputs larger than this are not resealed (libFuzzer's are far smaller). */
#define FUZZ_RESEAL_MAX_BYTES (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int ret, const char *why, const struct snap_state *s)
{
	size_t i;

	if (ret != -EBADMSG && ret != -EPROTONOSUPPORT && ret != -EINVAL && ret != -ENOMEM)
		abort();
	if (!why[0] || !memchr(why, '\0', FUZZ_WHY_BYTES))
		abort();
	for (i = 0; why[i]; i++)
		if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] > 0x7e)
			abort();
	if (s->vcpu || s->nr_vcpus || s->nr_regions || s->nr_devices)
		abort();
}

static void check_one(const uint8_t *data, size_t size)
{
	static struct snap_state s, s2;
	char why[FUZZ_WHY_BYTES];
	void *b1, *b2;
	size_t l1, l2;
	int ret;

	memset(why, 0, sizeof(why));
	ret = snap_state_parse(data, size, &s, why, sizeof(why));
	if (ret) {
		check_refusal(ret, why, &s);
		return;
	}
	if (snap_state_check(&s, NULL, 0))
		abort();
	if (snap_state_build(&s, &b1, &l1))
		abort();
	if (snap_state_parse(b1, l1, &s2, why, sizeof(why)))
		abort();
	if (snap_state_build(&s2, &b2, &l2))
		abort();
	if (l1 != l2 || memcmp(b1, b2, l1))
		abort();
	free(b1);
	free(b2);
	snap_state_release(&s2);
	snap_state_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	check_one(data, size);
	if (size > FUZZ_RESEAL_MAX_BYTES)
		return 0;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (!snap_state_seal(copy, size))
		check_one(copy, size);
	free(copy);
	return 0;
}
