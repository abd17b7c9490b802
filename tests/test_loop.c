// SPDX-License-Identifier: MIT
/*
 * The epoll main loop: handlers run for ready fds, muting with events 0,
 * changing a handler, unwatching from inside a handler (the stale event in
 * the same batch is dropped), watching from another thread, the fd limit.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/loop.h"

struct pipe_h {
	int fd[2];
	int calls;
	struct loop *l;
	struct pipe_h *victim;   /* unwatched by this handler */
};

static void on_read(void *arg, uint32_t events)
{
	struct pipe_h *p = arg;
	char c;

	p->calls++;
	if (read(p->fd[0], &c, 1) != 1)
		p->calls += 1000;
	if (p->victim)
		loop_unwatch(p->l, p->victim->fd[0]);
}

static void open_pipe(struct pipe_h *p, struct loop *l)
{
	*p = (struct pipe_h){ .l = l };
	TEST_ASSERT(pipe(p->fd) == 0, "pipe");
}

static void poke(struct pipe_h *p)
{
	TEST_ASSERT(write(p->fd[1], "x", 1) == 1, "write");
}

static void test_basics(void)
{
	struct loop l;
	struct pipe_h a, b;

	TEST_OK(loop_init(&l));
	open_pipe(&a, &l);
	open_pipe(&b, &l);
	TEST_OK(loop_watch(&l, a.fd[0], EPOLLIN, on_read, &a));
	TEST_OK(loop_watch(&l, b.fd[0], EPOLLIN, on_read, &b));
	TEST_ASSERT(loop_run_once(&l, 0) == 0, "nothing ready");
	poke(&a);
	TEST_ASSERT(loop_run_once(&l, 1000) == 1 && a.calls == 1 && b.calls == 0, "a ran");
	/* Muted: ready but not run; unmuted: runs. */
	TEST_OK(loop_watch(&l, b.fd[0], 0, on_read, &b));
	poke(&b);
	TEST_ASSERT(loop_run_once(&l, 50) == 0 && b.calls == 0, "muted fd does not run");
	TEST_OK(loop_watch(&l, b.fd[0], EPOLLIN, on_read, &b));
	TEST_ASSERT(loop_run_once(&l, 1000) == 1 && b.calls == 1, "unmuted fd runs");
	/* Muted, not even a hangup (always reported by epoll) runs the handler. */
	TEST_OK(loop_watch(&l, b.fd[0], 0, on_read, &b));
	close(b.fd[1]);
	TEST_ASSERT(loop_run_once(&l, 50) == 0 && b.calls == 1, "muted fd: hangup ignored");
	TEST_OK(loop_watch(&l, b.fd[0], EPOLLIN, on_read, &b));
	TEST_ASSERT(loop_run_once(&l, 1000) == 1 && b.calls == 1002, "unmuted: hangup (EOF) seen");
	loop_unwatch(&l, b.fd[0]);
	TEST_ASSERT(loop_watch(&l, -1, EPOLLIN, on_read, &b) == -EINVAL, "bad fd");
	TEST_ASSERT(loop_watch(&l, b.fd[0], EPOLLIN, NULL, &b) == -EINVAL, "no handler");
	loop_unwatch(&l, 12345);   /* unknown: ignored */
	loop_unwatch(&l, a.fd[0]);
	poke(&a);
	TEST_ASSERT(loop_run_once(&l, 50) == 0 && a.calls == 1, "unwatched fd does not run");
	loop_destroy(&l);
	TEST_PASS("loop: ready fds run, muted and unwatched ones do not");
}

/* Both ready in one batch; whichever runs first unwatches the other. */
static void test_unwatch_in_batch(void)
{
	struct loop l;
	struct pipe_h a, b;

	TEST_OK(loop_init(&l));
	open_pipe(&a, &l);
	open_pipe(&b, &l);
	a.victim = &b;
	b.victim = &a;
	TEST_OK(loop_watch(&l, a.fd[0], EPOLLIN, on_read, &a));
	TEST_OK(loop_watch(&l, b.fd[0], EPOLLIN, on_read, &b));
	poke(&a);
	poke(&b);
	TEST_ASSERT(loop_run_once(&l, 1000) == 1, "only one handler ran");
	TEST_ASSERT(a.calls + b.calls == 1, "the stale event was dropped (%d, %d)", a.calls,
		    b.calls);
	loop_destroy(&l);
	TEST_PASS("loop: an fd unwatched earlier in the batch is not dispatched");
}

struct watcher {
	struct loop *l;
	struct pipe_h *p;
};

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;

	TEST_OK(loop_watch(w->l, w->p->fd[0], EPOLLIN, on_read, w->p));
	poke(w->p);
	return NULL;
}

static void test_other_thread(void)
{
	struct loop l;
	struct pipe_h a;
	struct watcher w = { &l, &a };
	pthread_t t;
	int ran = 0;

	TEST_OK(loop_init(&l));
	open_pipe(&a, &l);
	TEST_ASSERT(pthread_create(&t, NULL, watch_thread, &w) == 0, "pthread_create");
	for (int i = 0; i < 100 && !ran; i++)
		ran = loop_run_once(&l, 20);
	TEST_ASSERT(pthread_join(t, NULL) == 0, "join");
	TEST_ASSERT(ran == 1 && a.calls == 1, "an fd watched from another thread runs");
	loop_destroy(&l);
	TEST_PASS("loop: fds can be watched from another thread");
}

static void test_limit(void)
{
	struct loop l;
	int fds[2], n = 0, ret = 0;
	static int efd_keep[LOOP_MAX_FDS + 1];

	TEST_OK(loop_init(&l));
	TEST_ASSERT(pipe(fds) == 0, "pipe");
	for (n = 0; n <= LOOP_MAX_FDS; n++) {
		efd_keep[n] = dup(fds[0]);
		TEST_ASSERT(efd_keep[n] >= 0, "dup");
		ret = loop_watch(&l, efd_keep[n], EPOLLIN, on_read, NULL);
		if (ret)
			break;
	}
	TEST_ASSERT(n == LOOP_MAX_FDS && ret == -ENOSPC, "limit at %d fds: %d", n, ret);
	for (int i = 0; i <= n; i++)
		close(efd_keep[i]);
	loop_destroy(&l);
	TEST_PASS("loop: -ENOSPC past LOOP_MAX_FDS");
}

int main(void)
{
	test_basics();
	test_unwatch_in_batch();
	test_other_thread();
	test_limit();
	return 0;
}
