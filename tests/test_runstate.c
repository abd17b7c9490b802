// SPDX-License-Identifier: MIT
/*
 * The run-state machine and the pause handshake with plain threads standing
 * in for vCPUs: a fake KVM_RUN spins (the guest "runs" and counts) until its
 * immediate_exit is set, as KVM's does. Checks that a pause returns only
 * when every vCPU is parked, that nothing runs while paused, that resume
 * lets them go and clears immediate_exit, that stop works from either
 * state, and the refusals. Also measures pause latency over 100 pauses.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/test.h"
#include "vmm/runstate.h"

#define NR_FAKE_VCPUS 4
#define PAUSE_ROUNDS 100

struct fake_vcpu {
	unsigned int id;
	struct runstate *rs;
	atomic_int immediate_exit;
	atomic_ulong guest_steps;     /* advances only "inside KVM_RUN" */
	atomic_bool in_run;
	atomic_bool exit_early;       /* end the thread as a failing vCPU would */
	pthread_t thread;
};

static struct fake_vcpu vcpus[NR_FAKE_VCPUS];

static void fake_kick(void *arg, unsigned int i)
{
	atomic_store(&vcpus[i].immediate_exit, 1);
}

static void fake_unkick(void *arg, unsigned int i)
{
	atomic_store(&vcpus[i].immediate_exit, 0);
}

/* KVM_RUN: returns at once when immediate_exit is set, else runs until it is. */
static void fake_kvm_run(struct fake_vcpu *v)
{
	atomic_store(&v->in_run, true);
	while (!atomic_load(&v->immediate_exit))
		atomic_fetch_add(&v->guest_steps, 1);
	atomic_store(&v->in_run, false);
}

static void *fake_vcpu_thread(void *arg)
{
	struct fake_vcpu *v = arg;

	for (;;) {
		if (atomic_load(&v->exit_early))
			break;
		if (runstate_vcpu_pending(v->rs)) {
			if (!runstate_vcpu_park(v->rs, v->id))
				break;
			continue;
		}
		fake_kvm_run(v);
	}
	runstate_vcpu_exit(v->rs);
	return NULL;
}

static void start(struct runstate *rs, unsigned int n)
{
	TEST_OK(runstate_init(rs, n, fake_kick, fake_unkick, NULL));
	TEST_ASSERT(runstate_get(rs) == VM_STATE_CREATED, "created");
	runstate_start(rs, n);
	for (unsigned int i = 0; i < n; i++) {
		vcpus[i] = (struct fake_vcpu){ .id = i, .rs = rs };
		TEST_ASSERT(pthread_create(&vcpus[i].thread, NULL, fake_vcpu_thread, &vcpus[i]) == 0,
			    "pthread_create");
	}
}

static void stop(struct runstate *rs, unsigned int n)
{
	runstate_stop(rs);
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT(pthread_join(vcpus[i].thread, NULL) == 0, "join");
	runstate_stopped(rs);
	TEST_ASSERT(runstate_get(rs) == VM_STATE_STOPPED, "stopped");
	runstate_destroy(rs);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned long total_steps(unsigned int n)
{
	unsigned long sum = 0;

	for (unsigned int i = 0; i < n; i++)
		sum += atomic_load(&vcpus[i].guest_steps);
	return sum;
}

static void test_pause_parks_everyone(void)
{
	struct runstate rs;
	unsigned long before, after;

	start(&rs, NR_FAKE_VCPUS);
	sleep_ms(20);
	TEST_ASSERT(total_steps(NR_FAKE_VCPUS) > 0, "the vCPUs run");
	TEST_OK(runstate_pause(&rs));
	TEST_ASSERT(runstate_get(&rs) == VM_STATE_PAUSED, "paused");
	for (unsigned int i = 0; i < NR_FAKE_VCPUS; i++)
		TEST_ASSERT(!atomic_load(&vcpus[i].in_run), "vCPU %u is out of KVM_RUN", i);
	before = total_steps(NR_FAKE_VCPUS);
	sleep_ms(50);
	after = total_steps(NR_FAKE_VCPUS);
	TEST_ASSERT(before == after, "nothing runs while paused (%lu -> %lu)", before, after);
	TEST_ASSERT(runstate_pause(&rs) == -EALREADY, "a second pause");
	TEST_OK(runstate_resume(&rs));
	TEST_ASSERT(runstate_get(&rs) == VM_STATE_RUNNING, "running again");
	sleep_ms(20);
	TEST_ASSERT(total_steps(NR_FAKE_VCPUS) > after, "the vCPUs run again after resume");
	for (unsigned int i = 0; i < NR_FAKE_VCPUS; i++)
		TEST_ASSERT(atomic_load(&vcpus[i].guest_steps) > 0, "vCPU %u ran", i);
	TEST_ASSERT(runstate_resume(&rs) == -EINVAL, "resume while running");
	stop(&rs, NR_FAKE_VCPUS);
	TEST_PASS("pause parks every vCPU; nothing runs until resume");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait until every vCPU is back inside its fake KVM_RUN. */
static void wait_all_running(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		while (!atomic_load(&vcpus[i].in_run))
			sched_yield();
}

/*
 * 100 pause/resume rounds, each pause taken with every vCPU inside KVM_RUN:
 * each ends with all parked; latency printed, not asserted.
 */
static void test_pause_rounds(void)
{
	uint64_t lat[PAUSE_ROUNDS];
	struct runstate rs;

	start(&rs, NR_FAKE_VCPUS);
	for (unsigned int k = 0; k < PAUSE_ROUNDS; k++) {
		unsigned long a, b;
		uint64_t t0;

		wait_all_running(NR_FAKE_VCPUS);
		t0 = now_ns();
		TEST_OK(runstate_pause(&rs));
		lat[k] = now_ns() - t0;
		a = total_steps(NR_FAKE_VCPUS);
		b = total_steps(NR_FAKE_VCPUS);
		TEST_ASSERT(a == b, "round %u: a vCPU ran while paused", k);
		TEST_OK(runstate_resume(&rs));
	}
	stop(&rs, NR_FAKE_VCPUS);
	qsort(lat, PAUSE_ROUNDS, sizeof(lat[0]), cmp_u64);
	printf("ok - %d pause/resume rounds with %d threads: pause latency min %.1f us, "
	       "median %.1f us, max %.1f us\n", PAUSE_ROUNDS, NR_FAKE_VCPUS, lat[0] / 1e3,
	       lat[PAUSE_ROUNDS / 2] / 1e3, lat[PAUSE_ROUNDS - 1] / 1e3);
}

static void test_stop_while_paused(void)
{
	struct runstate rs;

	start(&rs, NR_FAKE_VCPUS);
	TEST_OK(runstate_pause(&rs));
	stop(&rs, NR_FAKE_VCPUS);   /* joins: hangs here if parked vCPUs were not woken */
	TEST_PASS("stop while paused wakes and ends the parked vCPUs");
}

/* A vCPU thread that ended (a failure) is not waited for by a later pause. */
static void test_exited_vcpu(void)
{
	struct runstate rs;

	start(&rs, 2);
	atomic_store(&vcpus[1].exit_early, true);
	fake_kick(NULL, 1);
	TEST_ASSERT(pthread_join(vcpus[1].thread, NULL) == 0, "join");
	TEST_OK(runstate_pause(&rs));
	TEST_OK(runstate_resume(&rs));
	runstate_stop(&rs);
	TEST_ASSERT(pthread_join(vcpus[0].thread, NULL) == 0, "join");
	runstate_stopped(&rs);
	runstate_destroy(&rs);
	TEST_PASS("a pause does not wait for a vCPU thread that has ended");
}

static void test_refusals(void)
{
	struct runstate rs;

	TEST_OK(runstate_init(&rs, 1, fake_kick, fake_unkick, NULL));
	TEST_ASSERT(runstate_pause(&rs) == -EINVAL, "pause before start");
	TEST_ASSERT(runstate_resume(&rs) == -EINVAL, "resume before start");
	runstate_start(&rs, 0);
	runstate_stop(&rs);
	TEST_ASSERT(runstate_get(&rs) == VM_STATE_STOPPING, "stopping");
	TEST_ASSERT(runstate_pause(&rs) == -EINVAL, "pause while stopping");
	runstate_stopped(&rs);
	TEST_ASSERT(runstate_pause(&rs) == -EINVAL, "pause when stopped");
	TEST_ASSERT(!strcmp(runstate_name(VM_STATE_PAUSED), "paused"), "names");
	TEST_ASSERT(!strcmp(runstate_name((enum vm_state)99), "?"), "unknown name");
	runstate_destroy(&rs);
	TEST_PASS("pause/resume refused outside running/paused");
}

/* Resume clears immediate_exit while the vCPU is still parked (the unkick). */
static void test_unkick_on_resume(void)
{
	struct runstate rs;

	start(&rs, 1);
	TEST_OK(runstate_pause(&rs));
	TEST_ASSERT(atomic_load(&vcpus[0].immediate_exit) == 1, "kicked");
	TEST_OK(runstate_resume(&rs));
	for (int i = 0; i < 1000 && atomic_load(&vcpus[0].immediate_exit); i++)
		sleep_ms(1);
	TEST_ASSERT(atomic_load(&vcpus[0].immediate_exit) == 0, "immediate_exit cleared");
	stop(&rs, 1);
	TEST_PASS("resume clears immediate_exit again");
}

int main(void)
{
	test_refusals();
	test_pause_parks_everyone();
	test_unkick_on_resume();
	test_stop_while_paused();
	test_exited_vcpu();
	test_pause_rounds();
	return 0;
}
