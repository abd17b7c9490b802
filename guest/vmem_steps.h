/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-mem steps (vmem_steps.c). Each takes the step's
 * value ("" when it has none) and returns NULL or why it failed.
 */
#ifndef GUEST_VMEM_STEPS_H
#define GUEST_VMEM_STEPS_H

#include "steps.h"

const char *step_vmem_info(struct workload *w, const char *value);
const char *step_vmem_plug(struct workload *w, const char *value);
const char *step_vmem_unplug(struct workload *w, const char *value);
const char *step_vmem_unplug_all(struct workload *w, const char *value);
const char *step_vmem_touch(struct workload *w, const char *value);
const char *step_vmem_state(struct workload *w, const char *value);
const char *step_vmem_wait(struct workload *w, const char *value);
const char *step_vmem_bad(struct workload *w, const char *value);
const char *step_vmem_corrupt(struct workload *w, const char *value);
const char *step_vmem_reset(struct workload *w, const char *value);
const char *step_vmem_msix(struct workload *w, const char *value);

#endif /* GUEST_VMEM_STEPS_H */
