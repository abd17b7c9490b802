/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-balloon steps (balloon_steps.c). Each takes the
 * step's value ("" when it has none) and returns NULL or why it failed.
 */
#ifndef GUEST_BALLOON_STEPS_H
#define GUEST_BALLOON_STEPS_H

#include "steps.h"

const char *step_balloon_info(struct workload *w, const char *value);
const char *step_balloon_inflate(struct workload *w, const char *value);
const char *step_balloon_deflate(struct workload *w, const char *value);
const char *step_balloon_follow(struct workload *w, const char *value);
const char *step_balloon_report(struct workload *w, const char *value);
const char *step_balloon_stats(struct workload *w, const char *value);
const char *step_balloon_bad(struct workload *w, const char *value);
const char *step_balloon_corrupt(struct workload *w, const char *value);
const char *step_balloon_reset(struct workload *w, const char *value);

#endif /* GUEST_BALLOON_STEPS_H */
