/* SPDX-License-Identifier: MIT */
/*
 * The control socket's commands, split over vm_control.c (status, pause,
 * resume, quit, virtio-mem) and vm_control_mem.c (balloon, pageout).
 */
#ifndef MEMVMM_VM_CONTROL_INT_H
#define MEMVMM_VM_CONTROL_INT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vm.h"

void vm_json_add_u64(struct json_object *o, const char *key, uint64_t v);
/* An errno's name for status ("ENOMEM"), or JSON null for 0. */
struct json_object *vm_json_errno(int err);
double vm_ns_to_ms(uint64_t ns);

/* status's "balloon" object (NULL: out of memory). */
struct json_object *vm_balloon_json(const struct vm *vm);

int vm_cmd_balloon(void *opaque, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen);
int vm_cmd_pageout(void *opaque, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen);
int vm_cmd_snapshot(void *opaque, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen);
extern const char *const vm_balloon_keys[];
extern const char *const vm_snapshot_keys[];
extern const char *const vm_pageout_keys[];

#endif /* MEMVMM_VM_CONTROL_INT_H */
