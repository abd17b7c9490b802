// SPDX-License-Identifier: MIT
/*
 * The epoll main loop. Each watched fd has a slot; the epoll data carries
 * the slot index and the slot's generation, so that an event for an fd that
 * was unwatched (or whose slot was reused) earlier in the same batch is
 * dropped instead of calling a stale handler.
 */
#include "vmm/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_BATCH 32
#define LOOP_SLOT_BITS 16

_Static_assert(LOOP_MAX_FDS <= (1 << LOOP_SLOT_BITS), "slot index fits the epoll data");

int loop_init(struct loop *l)
{
	int ret;

	memset(l, 0, sizeof(*l));
	for (unsigned int i = 0; i < LOOP_MAX_FDS; i++)
		l->entry[i].fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	ret = pthread_mutex_init(&l->lock, NULL);
	if (ret) {
		close(l->epfd);
		l->epfd = -1;
		return -ret;
	}
	return 0;
}

void loop_destroy(struct loop *l)
{
	if (l->epfd < 0)
		return;
	close(l->epfd);
	l->epfd = -1;
	pthread_mutex_destroy(&l->lock);
}

static int loop_find(const struct loop *l, int fd)
{
	for (unsigned int i = 0; i < LOOP_MAX_FDS; i++)
		if (l->entry[i].fd == fd)
			return (int)i;
	return -1;
}

int loop_watch(struct loop *l, int fd, uint32_t events, loop_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct loop_entry *e;
	bool known;
	int i, ret = 0;

	if (fd < 0 || !fn)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	i = loop_find(l, fd);
	known = i >= 0;
	if (!known)
		i = loop_find(l, -1);
	if (i < 0) {
		ret = -ENOSPC;
		goto out;
	}
	e = &l->entry[i];
	if (!known)
		e->gen++;
	ev.data.u64 = (uint64_t)i | (e->gen << LOOP_SLOT_BITS);
	if (!events) {
		/* Muted: out of the epoll set, remembered here. */
		if (known && e->in_epoll && epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0) {
			ret = -errno;
			goto out;
		}
		e->in_epoll = false;
	} else if (epoll_ctl(l->epfd, known && e->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
			     fd, &ev) < 0) {
		ret = -errno;
		goto out;
	} else {
		e->in_epoll = true;
	}
	e->fd = fd;
	e->fn = fn;
	e->arg = arg;
out:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void loop_unwatch(struct loop *l, int fd)
{
	int i;

	pthread_mutex_lock(&l->lock);
	i = loop_find(l, fd);
	if (i >= 0) {
		/* The fd may already be closed by a careless caller: nothing to undo then. */
		if (l->entry[i].in_epoll)
			(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->entry[i].in_epoll = false;
		l->entry[i].fd = -1;
		l->entry[i].fn = NULL;
		l->entry[i].arg = NULL;
		l->entry[i].gen++;
	}
	pthread_mutex_unlock(&l->lock);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int n, ran = 0;

	n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int k = 0; k < n; k++) {
		unsigned int i = (unsigned int)(ev[k].data.u64 & ((1u << LOOP_SLOT_BITS) - 1));
		uint64_t gen = ev[k].data.u64 >> LOOP_SLOT_BITS;
		loop_fn fn = NULL;
		void *arg = NULL;

		if (i >= LOOP_MAX_FDS)
			continue;
		pthread_mutex_lock(&l->lock);
		if (l->entry[i].fd >= 0 && l->entry[i].in_epoll &&
		    (l->entry[i].gen & (UINT64_MAX >> LOOP_SLOT_BITS)) == gen) {
			fn = l->entry[i].fn;
			arg = l->entry[i].arg;
		}
		pthread_mutex_unlock(&l->lock);
		if (fn) {
			fn(arg, ev[k].events);
			ran++;
		}
	}
	return ran;
}
