/* SPDX-License-Identifier: MIT */
/*
 * The VM's run state and the pause handshake between the thread that
 * pauses and the vCPU threads.
 *
 *   created --start--> running --pause--> paused
 *                         ^                 |
 *                         +-----resume------+
 *   running / paused --stop--> stopping --all vCPUs joined--> stopped
 *
 * runstate_pause() returns only when every vCPU thread that is still alive
 * is parked outside KVM_RUN: it sets the request, then kicks each vCPU (the
 * VM's kick sets kvm_run.immediate_exit and signals the thread, so a vCPU
 * about to enter KVM_RUN returns at once and one inside leaves it). The
 * request and the kicks happen under the lock, and a parked vCPU clears its
 * immediate_exit (the unkick) under the same lock when it is let go, so a
 * resume never races with the next pause. Nothing here knows about KVM:
 * the kick and unkick are callbacks, so the handshake is unit-tested with
 * plain threads (tests/test_runstate.c).
 */
#ifndef MEMVMM_RUNSTATE_H
#define MEMVMM_RUNSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum vm_state {
	VM_STATE_CREATED,
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_STOPPING,
	VM_STATE_STOPPED,
};

/* How often a pauser kicks again while waiting for vCPUs to park. */
#define RUNSTATE_REKICK_MS 50

struct runstate {
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* parked vCPUs and pausers wait here */
	enum vm_state state;
	atomic_bool pending;            /* pause or stop requested: leave the fast path */
	bool pause_req;
	bool stop_req;
	unsigned int nr_vcpus;          /* vCPU threads the kick reaches */
	unsigned int alive;             /* vCPU threads not yet exited */
	unsigned int parked;
	uint64_t pauses;                /* completed pauses */
	void (*kick)(void *arg, unsigned int vcpu);
	void (*unkick)(void *arg, unsigned int vcpu);
	void *arg;
};

int runstate_init(struct runstate *rs, unsigned int nr_vcpus,
		  void (*kick)(void *arg, unsigned int vcpu),
		  void (*unkick)(void *arg, unsigned int vcpu), void *arg)
	__attribute__((warn_unused_result));
void runstate_destroy(struct runstate *rs);

const char *runstate_name(enum vm_state s);
enum vm_state runstate_get(struct runstate *rs);

/* created -> running, with `alive` vCPU threads about to start. */
void runstate_start(struct runstate *rs, unsigned int alive);

/*
 * Park every live vCPU: 0 once they are all parked; -EALREADY when already
 * paused; -EINVAL when not running (created, stopping, stopped) or when a
 * stop overtook the pause. Not from a vCPU thread (it would wait for itself).
 */
int runstate_pause(struct runstate *rs) __attribute__((warn_unused_result));
/* paused -> running; -EINVAL (not paused). */
int runstate_resume(struct runstate *rs) __attribute__((warn_unused_result));
/* -> stopping: parked vCPUs wake and end, running ones are kicked. */
void runstate_stop(struct runstate *rs);
/* stopping -> stopped, once the vCPU threads are joined. */
void runstate_stopped(struct runstate *rs);

/*
 * vCPU side. runstate_vcpu_pending() is the cheap check before each
 * KVM_RUN. When it is true the vCPU finishes what it must (complete a
 * pending I/O exit) and calls runstate_vcpu_park(), which waits while
 * paused and returns false when the vCPU must end (stop requested).
 */
static inline bool runstate_vcpu_pending(struct runstate *rs)
{
	return atomic_load_explicit(&rs->pending, memory_order_acquire);
}
bool runstate_vcpu_park(struct runstate *rs, unsigned int vcpu);
/* The vCPU thread ends (stop, error): pausers no longer wait for it. */
void runstate_vcpu_exit(struct runstate *rs);

#endif /* MEMVMM_RUNSTATE_H */
