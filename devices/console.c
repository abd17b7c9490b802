// SPDX-License-Identifier: MIT
/*
 * Console output queue and its writer thread. The thread waits for POLLOUT
 * before each write of at most PIPE_BUF bytes, so it notices a stop request
 * within CONSOLE_POLL_MS even when the reader of stdout has stopped reading,
 * and copes with an fd someone else made non-blocking (EAGAIN). A write
 * error (the reader went away, the disk is full) drops the output from then
 * on: the guest must not stop because nobody is listening. What was dropped
 * is counted, with the first error, for the front end to report.
 */
#include "devices/console.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mem/pthread_must.h"

#define CONSOLE_POLL_MS 100

struct console {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* data queued, or finishing */
	pthread_cond_t drained;     /* queue became empty, or the thread ended (CLOCK_MONOTONIC) */
	uint8_t *buf;
	size_t head, count;
	bool full_seen;             /* a writer found the queue full */
	bool finishing;             /* drain what is left, then end */
	bool abort;                 /* end now */
	bool done;                  /* the thread has ended */
	bool broken;                /* the fd failed: drop output */
	unsigned int drain_ms;
	struct console_stats stats; /* under lock */
	/* on_room is called and changed under cb_lock, so clearing it is final. */
	pthread_mutex_t cb_lock;
	void (*on_room)(void *opaque);
	void *on_room_opaque;
};

/* Wait until fd takes data or the console is aborted. False on abort. */
static bool console_wait_writable(struct console *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };

	for (;;) {
		bool abort_now;

		mem_pthread_must(pthread_mutex_lock(&c->lock));
		abort_now = c->abort;
		mem_pthread_must(pthread_mutex_unlock(&c->lock));
		if (abort_now)
			return false;
		/* poll() failing (EINTR, ENOMEM) is only another round. */
		if (poll(&p, 1, CONSOLE_POLL_MS) > 0 || (p.revents & (POLLERR | POLLHUP)))
			return true;
	}
}

/* Under lock: w bytes of the queue's head are gone (written or dropped). */
static void console_consume(struct console *c, size_t w)
{
	bool was_full;

	c->head = (c->head + w) % CONSOLE_QUEUE_BYTES;
	c->count -= w;
	was_full = c->full_seen;
	c->full_seen = false;
	if (!c->count)
		mem_pthread_must(pthread_cond_broadcast(&c->drained));
	if (was_full) {
		mem_pthread_must(pthread_mutex_unlock(&c->lock));
		mem_pthread_must(pthread_mutex_lock(&c->cb_lock));
		if (c->on_room)
			c->on_room(c->on_room_opaque);
		mem_pthread_must(pthread_mutex_unlock(&c->cb_lock));
		mem_pthread_must(pthread_mutex_lock(&c->lock));
	}
}

static void *console_thread(void *arg)
{
	struct console *c = arg;

	mem_pthread_must(pthread_mutex_lock(&c->lock));
	for (;;) {
		size_t n;
		ssize_t w;
		int err;

		while (!c->count && !c->finishing && !c->abort)
			mem_pthread_must(pthread_cond_wait(&c->cond, &c->lock));
		if (c->abort || !c->count)
			break;
		n = CONSOLE_QUEUE_BYTES - c->head;
		if (n > c->count)
			n = c->count;
		if (n > PIPE_BUF)
			n = PIPE_BUF;
		mem_pthread_must(pthread_mutex_unlock(&c->lock));
		if (!console_wait_writable(c)) {
			mem_pthread_must(pthread_mutex_lock(&c->lock));
			break;
		}
		w = write(c->fd, c->buf + c->head, n);
		err = w < 0 ? errno : EIO;   /* write() taking 0 of n bytes: no progress */
		mem_pthread_must(pthread_mutex_lock(&c->lock));
		if (w < 0 && (err == EINTR || err == EAGAIN))
			continue;
		if (w > 0) {
			c->stats.written += (uint64_t)w;
		} else {
			c->broken = true;
			c->stats.write_err = -err;
			c->stats.lost += c->count;
			w = (ssize_t)c->count;  /* drop everything queued */
		}
		console_consume(c, (size_t)w);
	}
	c->done = true;
	mem_pthread_must(pthread_cond_broadcast(&c->drained));
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
	return NULL;
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
static int cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int ret;

	ret = -pthread_condattr_init(&attr);
	if (ret)
		return ret;
	ret = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = -pthread_cond_init(cond, &attr);
	mem_pthread_must(pthread_condattr_destroy(&attr));
	return ret;
}

int console_create(int out_fd, struct console **out)
{
	struct console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->fd = out_fd;
	c->drain_ms = CONSOLE_FLUSH_TIMEOUT_MS;
	c->buf = malloc(CONSOLE_QUEUE_BYTES);
	if (!c->buf) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = -pthread_mutex_init(&c->lock, NULL);
	if (ret)
		goto err_buf;
	ret = -pthread_mutex_init(&c->cb_lock, NULL);
	if (ret)
		goto err_mutex;
	ret = -pthread_cond_init(&c->cond, NULL);
	if (ret)
		goto err_cb_lock;
	ret = cond_init_monotonic(&c->drained);
	if (ret)
		goto err_cond;
	ret = -pthread_create(&c->thread, NULL, console_thread, c);
	if (ret)
		goto err_drained;
	*out = c;
	return 0;
err_drained:
	mem_pthread_must(pthread_cond_destroy(&c->drained));
err_cond:
	mem_pthread_must(pthread_cond_destroy(&c->cond));
err_cb_lock:
	mem_pthread_must(pthread_mutex_destroy(&c->cb_lock));
err_mutex:
	mem_pthread_must(pthread_mutex_destroy(&c->lock));
err_buf:
	free(c->buf);
err_free:
	free(c);
	return ret;
}

void console_set_drain_timeout(struct console *c, unsigned int ms)
{
	mem_pthread_must(pthread_mutex_lock(&c->lock));
	c->drain_ms = ms;
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
}

void console_stats_get(struct console *c, struct console_stats *stats)
{
	mem_pthread_must(pthread_mutex_lock(&c->lock));
	*stats = c->stats;
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
}

void console_destroy(struct console *c, struct console_stats *stats)
{
	struct timespec deadline;
	int ret = 0;

	if (!c)
		return;
	mem_pthread_must(pthread_mutex_lock(&c->lock));
	/* Without a clock (cannot happen) there is no time to wait: give up at once. */
	if (clock_gettime(CLOCK_MONOTONIC, &deadline) < 0)
		deadline = (struct timespec){ 0, 0 };
	deadline.tv_sec += c->drain_ms / 1000;
	deadline.tv_nsec += (long)(c->drain_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	c->finishing = true;
	mem_pthread_must(pthread_cond_signal(&c->cond));
	while (!c->done && ret != ETIMEDOUT) {
		ret = pthread_cond_timedwait(&c->drained, &c->lock, &deadline);
		if (ret && ret != ETIMEDOUT)
			break;   /* cannot happen; stop waiting rather than spin */
	}
	/* Nobody is reading: give up on what is left. */
	c->abort = true;
	mem_pthread_must(pthread_cond_signal(&c->cond));
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
	mem_pthread_must(pthread_join(c->thread, NULL));
	/* The thread has ended: what is still queued was never written. */
	c->stats.drain_cut = c->count > 0;
	c->stats.drain_lost = c->count;
	if (stats)
		*stats = c->stats;
	mem_pthread_must(pthread_cond_destroy(&c->drained));
	mem_pthread_must(pthread_cond_destroy(&c->cond));
	mem_pthread_must(pthread_mutex_destroy(&c->cb_lock));
	mem_pthread_must(pthread_mutex_destroy(&c->lock));
	free(c->buf);
	free(c);
}

size_t console_write(struct console *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t n;

	mem_pthread_must(pthread_mutex_lock(&c->lock));
	if (c->broken) {
		c->stats.lost += len;
		mem_pthread_must(pthread_mutex_unlock(&c->lock));
		return len;  /* dropped: nobody is listening */
	}
	for (n = 0; n < len && c->count < CONSOLE_QUEUE_BYTES; n++, c->count++)
		c->buf[(c->head + c->count) % CONSOLE_QUEUE_BYTES] = p[n];
	if (n < len)
		c->full_seen = true;
	if (n)
		mem_pthread_must(pthread_cond_signal(&c->cond));
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
	return n;
}

size_t console_room(struct console *c)
{
	size_t room;

	mem_pthread_must(pthread_mutex_lock(&c->lock));
	room = c->broken ? CONSOLE_QUEUE_BYTES : CONSOLE_QUEUE_BYTES - c->count;
	if (!room)
		c->full_seen = true;
	mem_pthread_must(pthread_mutex_unlock(&c->lock));
	return room;
}

void console_on_room(struct console *c, void (*fn)(void *opaque), void *opaque)
{
	mem_pthread_must(pthread_mutex_lock(&c->cb_lock));
	c->on_room = fn;
	c->on_room_opaque = opaque;
	mem_pthread_must(pthread_mutex_unlock(&c->cb_lock));
}
