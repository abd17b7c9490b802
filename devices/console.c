// SPDX-License-Identifier: MIT
/*
 * Console output queue and its writer thread. The thread waits for POLLOUT
 * before each write of at most PIPE_BUF bytes, so it notices a stop request
 * within CONSOLE_POLL_MS even when the reader of stdout has stopped reading,
 * and copes with an fd someone else made non-blocking (EAGAIN). A write
 * error (the reader went away) drops the output from then on: the guest
 * must not stop because nobody is listening.
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

#define CONSOLE_POLL_MS 100

struct console {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* data queued, or finishing */
	pthread_cond_t drained;     /* queue became empty, or the thread ended */
	uint8_t *buf;
	size_t head, count;
	bool full_seen;             /* a writer found the queue full */
	bool finishing;             /* drain what is left, then end */
	bool abort;                 /* end now */
	bool done;                  /* the thread has ended */
	bool broken;                /* the fd failed: drop output */
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
		bool abort;

		pthread_mutex_lock(&c->lock);
		abort = c->abort;
		pthread_mutex_unlock(&c->lock);
		if (abort)
			return false;
		if (poll(&p, 1, CONSOLE_POLL_MS) > 0 || (p.revents & (POLLERR | POLLHUP)))
			return true;
	}
}

static void *console_thread(void *arg)
{
	struct console *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		size_t n;
		ssize_t w;
		bool was_full;

		while (!c->count && !c->finishing && !c->abort)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->abort || !c->count)
			break;
		n = CONSOLE_QUEUE_BYTES - c->head;
		if (n > c->count)
			n = c->count;
		if (n > PIPE_BUF)
			n = PIPE_BUF;
		pthread_mutex_unlock(&c->lock);
		if (!console_wait_writable(c)) {
			pthread_mutex_lock(&c->lock);
			break;
		}
		w = write(c->fd, c->buf + c->head, n);
		pthread_mutex_lock(&c->lock);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			c->broken = true;
			w = (ssize_t)c->count;  /* drop everything queued */
		}
		c->head = (c->head + (size_t)w) % CONSOLE_QUEUE_BYTES;
		c->count -= (size_t)w;
		was_full = c->full_seen;
		c->full_seen = false;
		if (!c->count)
			pthread_cond_broadcast(&c->drained);
		if (was_full) {
			pthread_mutex_unlock(&c->lock);
			pthread_mutex_lock(&c->cb_lock);
			if (c->on_room)
				c->on_room(c->on_room_opaque);
			pthread_mutex_unlock(&c->cb_lock);
			pthread_mutex_lock(&c->lock);
		}
	}
	c->done = true;
	pthread_cond_broadcast(&c->drained);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int console_create(int out_fd, struct console **out)
{
	struct console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->fd = out_fd;
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
	ret = -pthread_cond_init(&c->drained, NULL);
	if (ret)
		goto err_cond;
	ret = -pthread_create(&c->thread, NULL, console_thread, c);
	if (ret)
		goto err_drained;
	*out = c;
	return 0;
err_drained:
	pthread_cond_destroy(&c->drained);
err_cond:
	pthread_cond_destroy(&c->cond);
err_cb_lock:
	pthread_mutex_destroy(&c->cb_lock);
err_mutex:
	pthread_mutex_destroy(&c->lock);
err_buf:
	free(c->buf);
err_free:
	free(c);
	return ret;
}

void console_destroy(struct console *c)
{
	struct timespec deadline;

	if (!c)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CONSOLE_FLUSH_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (CONSOLE_FLUSH_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	c->finishing = true;
	pthread_cond_signal(&c->cond);
	while (!c->done && pthread_cond_timedwait(&c->drained, &c->lock, &deadline) != ETIMEDOUT)
		;
	/* Nobody is reading: give up on what is left. */
	c->abort = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->drained);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->cb_lock);
	pthread_mutex_destroy(&c->lock);
	free(c->buf);
	free(c);
}

size_t console_write(struct console *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t n;

	pthread_mutex_lock(&c->lock);
	if (c->broken) {
		pthread_mutex_unlock(&c->lock);
		return len;  /* dropped: nobody is listening */
	}
	for (n = 0; n < len && c->count < CONSOLE_QUEUE_BYTES; n++, c->count++)
		c->buf[(c->head + c->count) % CONSOLE_QUEUE_BYTES] = p[n];
	if (n < len)
		c->full_seen = true;
	if (n)
		pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t console_room(struct console *c)
{
	size_t room;

	pthread_mutex_lock(&c->lock);
	room = c->broken ? CONSOLE_QUEUE_BYTES : CONSOLE_QUEUE_BYTES - c->count;
	if (!room)
		c->full_seen = true;
	pthread_mutex_unlock(&c->lock);
	return room;
}

void console_on_room(struct console *c, void (*fn)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&c->cb_lock);
	c->on_room = fn;
	c->on_room_opaque = opaque;
	pthread_mutex_unlock(&c->cb_lock);
}
