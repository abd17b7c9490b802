/* SPDX-License-Identifier: MIT */
/* Guest memory for a new VM (vm.c's helpers; see vm_memory.c). */
#ifndef MEMVMM_VM_MEMORY_H
#define MEMVMM_VM_MEMORY_H

#include "vmm/vm.h"

/* Choose the backend, create RAM, check the memory cgroup, populate. */
int vm_create_memory(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
	__attribute__((warn_unused_result));
/* KVM_PRE_FAULT_MEMORY over RAM on vCPU 0 (memslots must be in). */
int vm_prefault(struct vm *vm, const struct run_config *cfg, struct errmsg *e)
	__attribute__((warn_unused_result));
/* Install the memslots on a thread; finish joins it and reports its result. */
void vm_register_start(struct vm *vm);
int vm_register_finish(struct vm *vm, struct errmsg *e, int ret)
	__attribute__((warn_unused_result));

#endif /* MEMVMM_VM_MEMORY_H */
