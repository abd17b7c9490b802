// SPDX-License-Identifier: MIT
/* The control socket's client side, for `memvmm ctl`. */
#include "vmm/control.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Milliseconds of CLOCK_MONOTONIC. */
static int64_t mono_ms(void)
{
	return (int64_t)(control_now_ns() / 1000000u);
}

/* The request line: {"cmd":cmd,"k":"v",...}\n; caller frees. */
static char *request_line(const char *cmd, unsigned int nr_args, const char *const *keys,
			  const char *const *values)
{
	struct json_object *o = json_object_new_object();
	const char *s;
	char *line = NULL;

	if (!o)
		return NULL;
	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	for (unsigned int i = 0; i < nr_args; i++)
		json_object_object_add(o, keys[i], json_object_new_string(values[i]));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (s && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	json_object_put(o);
	return line;
}

/* Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

/*
 * Non-blocking throughout: a server whose listen queue is full answers
 * EAGAIN (retried until the deadline), one that never reads makes send()
 * wait in poll(), never past the deadline.
 */
static int connect_by(int fd, const struct sockaddr_un *sa, int64_t deadline)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 10);   /* the queue is full: try again shortly */
	}
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret)
				return ret;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to the first newline; the reply is one line of at most CONTROL_MAX_OUT_BYTES. */
static int read_line(int fd, int64_t deadline, char **reply)
{
	size_t cap = CONTROL_MAX_OUT_BYTES, len = 0;
	char *buf = malloc(cap + 1);
	int ret = -EMSGSIZE;

	if (!buf)
		return -ENOMEM;
	while (len < cap) {
		ssize_t n;
		char *nl;

		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			break;
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -EPROTO;   /* closed without a whole line */
			break;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			nl[1] = '\0';
			*reply = buf;
			return 0;
		}
		ret = -EMSGSIZE;
	}
	free(buf);
	return ret;
}

int control_request(const char *path, const char *cmd, unsigned int nr_args,
		    const char *const *keys, const char *const *values, int timeout_ms,
		    char **reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = mono_ms() + timeout_ms;
	size_t len = strlen(path);
	char *line;
	int fd = -1, ret;

	*reply = NULL;
	if (!len || len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	line = request_line(cmd, nr_args, keys, values);
	if (!line)
		return -ENOMEM;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = connect_by(fd, &sa, deadline);
	if (!ret)
		ret = send_all(fd, line, strlen(line), deadline);
	if (!ret)
		ret = read_line(fd, deadline, reply);
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return ret;
}
