// SPDX-License-Identifier: MIT
/* The run-state machine and the pause handshake (see runstate.h). */
#include "vmm/runstate.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = {
	[VM_STATE_CREATED] = "created",
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_STOPPING] = "stopping",
	[VM_STATE_STOPPED] = "stopped",
};

int runstate_init(struct runstate *rs, unsigned int nr_vcpus,
		  void (*kick)(void *arg, unsigned int vcpu),
		  void (*unkick)(void *arg, unsigned int vcpu), void *arg)
{
	pthread_condattr_t attr;
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->state = VM_STATE_CREATED;
	rs->nr_vcpus = nr_vcpus;
	rs->kick = kick;
	rs->unkick = unkick;
	rs->arg = arg;
	atomic_init(&rs->pending, false);
	ret = pthread_mutex_init(&rs->lock, NULL);
	if (ret)
		return -ret;
	ret = pthread_condattr_init(&attr);
	if (!ret) {
		ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		if (!ret)
			ret = pthread_cond_init(&rs->cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (ret) {
		pthread_mutex_destroy(&rs->lock);
		return -ret;
	}
	return 0;
}

void runstate_destroy(struct runstate *rs)
{
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->lock);
}

const char *runstate_name(enum vm_state s)
{
	return (unsigned int)s < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[s] : "?";
}

enum vm_state runstate_get(struct runstate *rs)
{
	enum vm_state s;

	pthread_mutex_lock(&rs->lock);
	s = rs->state;
	pthread_mutex_unlock(&rs->lock);
	return s;
}

void runstate_start(struct runstate *rs, unsigned int alive)
{
	pthread_mutex_lock(&rs->lock);
	if (rs->state == VM_STATE_CREATED) {
		rs->state = VM_STATE_RUNNING;
		rs->alive = alive;
	}
	pthread_mutex_unlock(&rs->lock);
}

static void kick_all(struct runstate *rs)
{
	for (unsigned int i = 0; i < rs->nr_vcpus; i++)
		if (rs->kick)
			rs->kick(rs->arg, i);
}

static void deadline_in_ms(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int runstate_pause(struct runstate *rs)
{
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	if (rs->state == VM_STATE_PAUSED) {
		ret = -EALREADY;
		goto out;
	}
	if (rs->state != VM_STATE_RUNNING || rs->stop_req) {
		ret = -EINVAL;
		goto out;
	}
	rs->pause_req = true;
	atomic_store_explicit(&rs->pending, true, memory_order_release);
	kick_all(rs);
	while (rs->parked < rs->alive && !rs->stop_req) {
		struct timespec ts;

		deadline_in_ms(&ts, RUNSTATE_REKICK_MS);
		/*
		 * A vCPU busy in a device handler cannot be interrupted; one
		 * that was about to enter KVM_RUN saw immediate_exit. Kicking
		 * again is harmless and covers anything in between.
		 */
		if (pthread_cond_timedwait(&rs->cond, &rs->lock, &ts) == ETIMEDOUT)
			kick_all(rs);
	}
	if (rs->stop_req) {
		/* A stop overtook the pause: the VM is going away, not paused. */
		ret = -EINVAL;
		goto out;
	}
	rs->state = VM_STATE_PAUSED;
	rs->pauses++;
out:
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

int runstate_resume(struct runstate *rs)
{
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	if (rs->state != VM_STATE_PAUSED) {
		ret = -EINVAL;
		goto out;
	}
	rs->pause_req = false;
	if (!rs->stop_req)
		atomic_store_explicit(&rs->pending, false, memory_order_release);
	rs->state = VM_STATE_RUNNING;
	pthread_cond_broadcast(&rs->cond);
out:
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

void runstate_stop(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->stop_req = true;
	atomic_store_explicit(&rs->pending, true, memory_order_release);
	if (rs->state == VM_STATE_RUNNING || rs->state == VM_STATE_PAUSED)
		rs->state = VM_STATE_STOPPING;
	kick_all(rs);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

void runstate_stopped(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->state = VM_STATE_STOPPED;
	pthread_mutex_unlock(&rs->lock);
}

bool runstate_vcpu_park(struct runstate *rs, unsigned int vcpu)
{
	bool go_on;

	pthread_mutex_lock(&rs->lock);
	if (rs->pause_req && !rs->stop_req) {
		rs->parked++;
		pthread_cond_broadcast(&rs->cond);
		while (rs->pause_req && !rs->stop_req)
			pthread_cond_wait(&rs->cond, &rs->lock);
		rs->parked--;
	}
	go_on = !rs->stop_req;
	/*
	 * Let go: clear immediate_exit while the lock keeps the next pause
	 * from setting it, so that pause's kick is never lost.
	 */
	if (go_on && !rs->pause_req && rs->unkick)
		rs->unkick(rs->arg, vcpu);
	pthread_mutex_unlock(&rs->lock);
	return go_on;
}

void runstate_vcpu_exit(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	if (rs->alive)
		rs->alive--;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}
