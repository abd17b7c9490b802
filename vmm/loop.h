/* SPDX-License-Identifier: MIT */
/*
 * The main loop: one epoll instance and the handlers registered on it
 * (signalfd, stop eventfd, the control socket listener and its clients,
 * device fds such as console input). Handlers run on the thread that calls
 * loop_run_once(); fds may be added, changed and removed from any thread,
 * but a handler already running on the loop thread may still run to its end
 * after loop_unwatch() returns on another thread: what its arg points to
 * must outlive the loop (devices are destroyed after it ends).
 */
#ifndef MEMVMM_LOOP_H
#define MEMVMM_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Called with the epoll events (EPOLLIN, EPOLLHUP, ...) that fd reported. */
typedef void (*loop_fn)(void *arg, uint32_t events);

#define LOOP_MAX_FDS 256

struct loop_entry {
	int fd;              /* -1: free */
	loop_fn fn;
	void *arg;
	uint64_t gen;        /* changes when the slot is reused */
	bool in_epoll;       /* false while muted (events 0): not even hangups wake it */
};

struct loop {
	int epfd;
	pthread_mutex_t lock;  /* guards entry[] */
	struct loop_entry entry[LOOP_MAX_FDS];
};

int loop_init(struct loop *l) __attribute__((warn_unused_result));
void loop_destroy(struct loop *l);

/*
 * Watch fd for events (EPOLLIN etc., level-triggered). Watching an fd again
 * changes its events and handler; events 0 mutes it without forgetting it:
 * it leaves the epoll set, so that not even a hangup or error runs its
 * handler (or spins the loop) until it is watched with events again.
 * -ENOSPC when LOOP_MAX_FDS fds are watched.
 */
int loop_watch(struct loop *l, int fd, uint32_t events, loop_fn fn, void *arg)
	__attribute__((warn_unused_result));
/* Stop watching fd (before closing it). Unknown fds are ignored. */
void loop_unwatch(struct loop *l, int fd);

/*
 * Wait up to timeout_ms (-1: forever) and run the handlers of the fds that
 * are ready. Returns the number of handlers run, 0 on timeout or EINTR, or
 * -errno when epoll_wait failed.
 */
int loop_run_once(struct loop *l, int timeout_ms) __attribute__((warn_unused_result));

#endif /* MEMVMM_LOOP_H */
