// SPDX-License-Identifier: MIT
/*
 * The control socket's server side: request handling (control_handle_line,
 * pure, fuzzed), the listener and its clients in the main loop.
 */
#include "vmm/control.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/loop.h"

#define CONTROL_BACKLOG 16

/* The reply object as one line; takes the reference to obj. */
static char *reply_line(struct json_object *obj)
{
	const char *s;
	char *line = NULL;

	if (!obj)
		return NULL;
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	if (s && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	json_object_put(obj);
	return line;
}

char *control_error_line(const char *error)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(error));
	return reply_line(o);
}

static char *error_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *error_fmt(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return control_error_line(buf);
}

/* A JSON string that holds a NUL (\u0000) would be cut short where it is used. */
static bool string_has_nul(struct json_object *v)
{
	return (size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v));
}

static bool key_allowed(const struct control_command *c, const char *key)
{
	for (const char *const *k = c->keys; k && *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

/* Every member but "cmd" must be a string argument the command takes. */
static char *check_args(const struct control_command *c, struct json_object *req)
{
	unsigned int n = 0;

	json_object_object_foreach(req, key, val) {
		if (!strcmp(key, "cmd"))
			continue;
		if (!key_allowed(c, key))
			return error_fmt("%s: unknown argument '%s'", c->name, errmsg_path(key).s);
		if (!json_object_is_type(val, json_type_string) || string_has_nul(val))
			return error_fmt("%s: argument '%s' must be a string without NUL bytes",
					 c->name, errmsg_path(key).s);
		if (++n > CONTROL_MAX_ARGS)
			return error_fmt("%s: more than %u arguments", c->name, CONTROL_MAX_ARGS);
	}
	return NULL;
}

static char *run_command(const struct control_command *c, void *opaque, struct json_object *req)
{
	struct json_object *reply = json_object_new_object();
	char err[256] = "";
	int ret;

	if (!reply)
		return NULL;
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	ret = c->fn(opaque, req, reply, err, sizeof(err));
	if (!ret)
		return reply_line(reply);
	json_object_put(reply);
	if (!err[0])
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	return error_fmt("%s: %s", c->name, err);
}

char *control_handle_line(const struct control_command *cmds, unsigned int nr_cmds,
			  void *opaque, const char *line, size_t len)
{
	struct json_tokener *tok;
	struct json_object *req, *cmd;
	const char *name;
	char *out = NULL;

	if (len > CONTROL_MAX_LINE_BYTES)
		return error_fmt("request longer than %u bytes", CONTROL_MAX_LINE_BYTES);
	if (memchr(line, '\0', len))
		return control_error_line("request contains a NUL byte");
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	/* Strict JSON, valid UTF-8; what follows the object is checked below. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
				    JSON_TOKENER_VALIDATE_UTF8);
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		json_object_put(req);
		json_tokener_free(tok);
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			return control_error_line("malformed JSON: incomplete object");
		return error_fmt("malformed JSON: %s", json_tokener_error_desc(jerr));
	}
	/* Nothing but white space may follow the object. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			out = control_error_line("malformed JSON: text after the object");
			goto done;
		}
	}
	if (!json_object_is_type(req, json_type_object)) {
		out = control_error_line("request must be a JSON object");
		goto done;
	}
	if (!json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string) || string_has_nul(cmd)) {
		out = control_error_line("request lacks \"cmd\" (a string)");
		goto done;
	}
	name = json_object_get_string(cmd);
	for (unsigned int i = 0; i < nr_cmds; i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		out = check_args(&cmds[i], req);
		if (!out)
			out = run_command(&cmds[i], opaque, req);
		goto done;
	}
	out = error_fmt("unknown command '%s'", errmsg_path(name).s);
done:
	json_object_put(req);
	json_tokener_free(tok);
	return out;
}

/* ---- the server ------------------------------------------------------- */

struct control_client {
	struct control_server *s;
	unsigned int slot;
	int fd;
	char in[CONTROL_MAX_LINE_BYTES + 1];
	size_t in_len;
	bool discarding;         /* inside an over-long line: skip to its newline */
	char *out;
	size_t out_len, out_cap;
	uint32_t watched;        /* the events being watched */
	bool eof;                /* the client shut its side: send what is left, then close */
	uint64_t last_active_ns; /* last request or reply, to evict the idlest when full */
};

uint64_t control_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void control_accept(void *arg, uint32_t events);

static void client_drop(struct control_client *c)
{
	struct control_server *s = c->s;

	loop_unwatch(s->loop, c->fd);
	close(c->fd);
	s->client[c->slot] = NULL;
	free(c->out);
	free(c);
	/* An fd is free again: listen again if running out of them had stopped it. */
	if (s->accept_muted && s->listen_fd >= 0 &&
	    loop_watch(s->loop, s->listen_fd, EPOLLIN, control_accept, s) == 0)
		s->accept_muted = false;
}

/* Write what is queued; false if the client is gone. */
static bool client_flush(struct control_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return true;
}

static void client_event(void *arg, uint32_t events);

/*
 * Watch for input (until the client shuts its side), and for output room
 * while replies wait. False when the client is done or the watch failed.
 */
static bool client_rewatch(struct control_client *c)
{
	uint32_t want = (c->eof ? 0 : EPOLLIN | EPOLLRDHUP) | (c->out_len ? EPOLLOUT : 0);

	if (!want)
		return false;   /* shut and every reply sent */
	if (want == c->watched)
		return true;
	c->watched = want;
	return loop_watch(c->s->loop, c->fd, want, client_event, c) == 0;
}

/* Queue a reply line (takes it); false when the client must be dropped. */
static bool client_send(struct control_client *c, char *line)
{
	size_t n;

	if (!line)
		line = strdup("{\"ok\":false,\"error\":\"out of memory\"}\n");
	if (!line)
		return false;
	n = strlen(line);
	if (c->out_len + n > CONTROL_MAX_OUT_BYTES) {
		free(line);
		return false;   /* it does not read its replies */
	}
	if (c->out_cap - c->out_len < n) {
		size_t cap = c->out_len + n + 1024;
		char *p = realloc(c->out, cap);

		if (!p) {
			free(line);
			return false;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, n);
	c->out_len += n;
	free(line);
	return client_flush(c);
}

/* Take the complete lines out of the input buffer. */
static bool client_lines(struct control_client *c)
{
	char *nl;

	while ((nl = memchr(c->in, '\n', c->in_len))) {
		size_t len = (size_t)(nl - c->in);

		if (c->discarding) {
			c->discarding = false;
		} else {
			c->s->requests++;
			c->last_active_ns = control_now_ns();
			if (!client_send(c, control_handle_line(c->s->cmds, c->s->nr_cmds,
								c->s->opaque, c->in, len)))
				return false;
		}
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
	}
	if (c->in_len > CONTROL_MAX_LINE_BYTES) {
		/* No newline in sight: answer once, then skip to the next newline. */
		if (!c->discarding &&
		    !client_send(c, error_fmt("request longer than %u bytes",
					      CONTROL_MAX_LINE_BYTES)))
			return false;
		c->discarding = true;
		c->in_len = 0;
	}
	return true;
}

static bool client_read(struct control_client *c)
{
	size_t budget = CONTROL_READ_BUDGET_BYTES;

	while (budget) {
		/* Room for a line of CONTROL_MAX_LINE_BYTES and its newline. */
		size_t room = CONTROL_MAX_LINE_BYTES + 1 - c->in_len;
		ssize_t n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (n == 0) {
			/* Shut: a last line without its newline is still a request. */
			c->eof = true;
			if (c->in_len && !c->discarding) {
				c->in[c->in_len++] = '\n';
				return client_lines(c);
			}
			return true;
		}
		c->in_len += (size_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (!client_lines(c))
			return false;
	}
	return true;
}

static void client_event(void *arg, uint32_t events)
{
	struct control_client *c = arg;
	bool ok = true;

	if (events & EPOLLOUT)
		ok = client_flush(c);
	if (ok && !c->eof && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		ok = client_read(c);
	if (ok && (events & EPOLLERR))
		ok = false;
	if (ok)
		ok = client_rewatch(c);
	if (!ok)
		client_drop(c);
}

/* Answer a connection we cannot serve with one error line, and close it. */
static void refuse_connection(int fd, const char *why)
{
	char *line = control_error_line(why);

	if (line && send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		line[0] = '\0';   /* the client is gone anyway */
	free(line);
	close(fd);
}

/*
 * Out of fds: the level-triggered listener would wake the loop again at
 * once. Use the spare fd to take the connection and say why, or, without
 * one, stop listening until a client leaves (client_drop() resumes).
 */
static void control_accept_failed(struct control_server *s, int err)
{
	int fd;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;   /* EAGAIN, ECONNABORTED: nothing to do */
	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			refuse_connection(fd, "memvmm is out of file descriptors");
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (s->spare_fd >= 0)
			return;
	}
	if (!s->accept_muted && loop_watch(s->loop, s->listen_fd, 0, control_accept, s) == 0)
		s->accept_muted = true;
}

/* The client idle longest with nothing half-received or unsent, or NULL. */
static struct control_client *idlest_client(struct control_server *s)
{
	struct control_client *best = NULL;

	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = s->client[i];

		if (c && !c->in_len && !c->out_len && !c->discarding &&
		    (!best || c->last_active_ns < best->last_active_ns))
			best = c;
	}
	return best;
}

static void control_accept(void *arg, uint32_t events)
{
	struct control_server *s = arg;
	struct control_client *c;
	unsigned int slot;
	int fd;

	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		control_accept_failed(s, errno);
		return;
	}
	for (slot = 0; slot < CONTROL_MAX_CLIENTS && s->client[slot]; slot++)
		;
	if (slot == CONTROL_MAX_CLIENTS) {
		/* Full: idle connections must not lock everyone out. */
		c = idlest_client(s);
		if (!c) {
			refuse_connection(fd, "too many clients");
			return;
		}
		slot = c->slot;
		client_drop(c);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		refuse_connection(fd, "out of memory");
		return;
	}
	*c = (struct control_client){
		.s = s, .slot = slot, .fd = fd, .watched = EPOLLIN | EPOLLRDHUP,
		.last_active_ns = control_now_ns(),
	};
	if (loop_watch(s->loop, fd, c->watched, client_event, c)) {
		close(fd);
		free(c);
		return;
	}
	s->client[slot] = c;
}

/* Is a socket at path served by someone? 0 no (stale), 1 yes, -errno unsure. */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	/* Non-blocking: a listener whose queue is full answers EAGAIN, not never. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path));
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (ret == 0)
		ret = 1;
	else
		ret = errno == ECONNREFUSED ? 0 : errno == EAGAIN ? 1 : -errno;
	close(fd);
	return ret;
}

/* Make room for our socket at path: only a stale socket may be removed. */
static int control_claim_path(const char *path, struct errmsg *e)
{
	struct stat st;
	int ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		return errmsg_set(e, ret, "--api-socket '%s': %s", errmsg_path(path).s,
				  strerror(-ret));
	}
	if (!S_ISSOCK(st.st_mode))
		return errmsg_set(e, -EEXIST, "--api-socket '%s' exists and is not a socket; "
				  "not replacing it", errmsg_path(path).s);
	ret = socket_in_use(path);
	if (ret == 1)
		return errmsg_set(e, -EADDRINUSE, "--api-socket '%s' is in use by another "
				  "process", errmsg_path(path).s);
	if (ret < 0)
		return errmsg_set(e, ret, "--api-socket '%s': cannot tell whether it is "
				  "in use: %s", errmsg_path(path).s, strerror(-ret));
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		return errmsg_set(e, ret, "--api-socket '%s': cannot remove the stale "
				  "socket: %s", errmsg_path(path).s, strerror(-ret));
	}
	return 0;
}

int control_open(struct control_server *s, const char *path, struct errmsg *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	struct stat st;
	mode_t old_mask;
	int ret;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	s->spare_fd = -1;
	e->bad_input = true;
	if (!len || len >= sizeof(sa.sun_path) || len >= sizeof(s->path))
		return errmsg_set(e, -ENAMETOOLONG, "--api-socket path is %zu bytes; 1..%zu fit",
				  len, sizeof(sa.sun_path) - 1);
	ret = control_claim_path(path, e);
	if (ret)
		return ret;
	e->bad_input = false;
	memcpy(sa.sun_path, path, len);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		ret = -errno;
		return errmsg_set(e, ret, "control socket: %s", strerror(-ret));
	}
	old_mask = umask(0177);
	ret = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_mask);
	if (ret) {
		e->bad_input = ret == -ENOENT || ret == -ENOTDIR || ret == -EADDRINUSE;
		errmsg_set(e, ret, "--api-socket '%s': bind failed: %s", errmsg_path(path).s,
			   strerror(-ret));
		goto err;
	}
	memcpy(s->path, path, len + 1);
	if (stat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	if (listen(s->listen_fd, CONTROL_BACKLOG) < 0) {
		ret = -errno;
		errmsg_set(e, ret, "--api-socket '%s': listen failed: %s", errmsg_path(path).s,
			   strerror(-ret));
		goto err;
	}
	return 0;
err:
	control_close(s);
	return ret;
}

int control_attach(struct control_server *s, struct loop *l,
		   const struct control_command *cmds, unsigned int nr_cmds, void *opaque)
{
	s->loop = l;
	s->cmds = cmds;
	s->nr_cmds = nr_cmds;
	s->opaque = opaque;
	/* Kept for taking a connection when out of fds (control_accept_failed()). */
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return loop_watch(l, s->listen_fd, EPOLLIN, control_accept, s);
}

void control_close(struct control_server *s)
{
	struct stat st;

	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = s->client[i];

		if (!c)
			continue;
		/* A last try at replies still queued (quit's, for one). */
		if (client_flush(c))
			shutdown(c->fd, SHUT_RDWR);
		client_drop(c);
	}
	if (s->listen_fd >= 0) {
		if (s->loop)
			loop_unwatch(s->loop, s->listen_fd);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	s->spare_fd = -1;
	/* Remove the path only if it is still the socket we made. */
	if (s->path[0] && lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	s->path[0] = '\0';
}
