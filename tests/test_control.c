// SPDX-License-Identifier: MIT
/*
 * The control socket without a VM: request handling against fake commands
 * (every kind of bad request gets an error reply), and the server on a real
 * Unix socket driven by the epoll loop on a thread: 0600, stale sockets
 * replaced and nothing else, several clients, over-long lines, clients that
 * vanish mid-line or never read, removal at close, and the ctl client.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/test.h"
#include "vmm/control.h"
#include "vmm/loop.h"

static int echo_calls;

static int cmd_echo(void *opaque, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen)
{
	struct json_object *v;

	echo_calls++;
	if (json_object_object_get_ex(req, "say", &v))
		json_object_object_add(reply, "said", json_object_new_string(json_object_get_string(v)));
	return 0;
}

static int cmd_fail(void *opaque, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen)
{
	struct json_object *v;

	if (json_object_object_get_ex(req, "why", &v)) {
		snprintf(err, errlen, "because %s", json_object_get_string(v));
		return -EINVAL;
	}
	return -EBUSY;
}

static const char *const echo_keys[] = { "say", NULL };
static const char *const fail_keys[] = { "why", NULL };
static const struct control_command cmds[] = {
	{ .name = "echo", .keys = echo_keys, .fn = cmd_echo },
	{ .name = "fail", .keys = fail_keys, .fn = cmd_fail },
};
#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* The reply parsed; asserts it is one line of JSON with "ok". */
static struct json_object *handle(const char *req, size_t len, bool want_ok)
{
	char *line = control_handle_line(cmds, NR_CMDS, NULL, req, len);
	struct json_object *o, *ok;
	size_t n;

	TEST_ASSERT(line, "no reply to '%.*s'", (int)(len > 80 ? 80 : len), req);
	n = strlen(line);
	TEST_ASSERT(n && line[n - 1] == '\n' && !memchr(line, '\n', n - 1),
		    "reply is one line: %s", line);
	o = json_tokener_parse(line);
	TEST_ASSERT(o && json_object_object_get_ex(o, "ok", &ok), "reply is JSON with ok: %s",
		    line);
	TEST_ASSERT(json_object_get_boolean(ok) == want_ok, "ok=%d wanted for '%.*s': %s",
		    want_ok, (int)(len > 80 ? 80 : len), req, line);
	free(line);
	return o;
}

static void expect_error(const char *req, const char *want)
{
	struct json_object *o = handle(req, strlen(req), false), *e;

	TEST_ASSERT(json_object_object_get_ex(o, "error", &e) &&
		    strstr(json_object_get_string(e), want),
		    "error for '%s' lacks '%s': %s", req, want, json_object_get_string(e));
	json_object_put(o);
}

static void test_requests(void)
{
	struct json_object *o, *v;
	char *big;

	o = handle("{\"cmd\":\"echo\",\"say\":\"hi\"}", 25, true);
	TEST_ASSERT(json_object_object_get_ex(o, "said", &v) &&
		    !strcmp(json_object_get_string(v), "hi"), "echo");
	json_object_put(o);
	json_object_put(handle(" {\"cmd\":\"echo\"}  \r", 18, true));
	expect_error("", "malformed JSON");
	expect_error("{", "malformed JSON");
	expect_error("{\"cmd\":", "malformed JSON");
	expect_error("nonsense", "malformed JSON");
	expect_error("{\"cmd\":\"echo\"} {}", "text after the object");
	expect_error("[1,2]", "must be a JSON object");
	expect_error("\"echo\"", "must be a JSON object");
	expect_error("{}", "lacks \"cmd\"");
	expect_error("{\"cmd\":7}", "lacks \"cmd\"");
	expect_error("{\"cmd\":\"reboot\"}", "unknown command 'reboot'");
	expect_error("{\"cmd\":\"echo\",\"loud\":\"x\"}", "unknown argument 'loud'");
	expect_error("{\"cmd\":\"echo\",\"say\":1}", "must be a string");
	expect_error("{\"cmd\":\"fail\",\"why\":\"no\"}", "fail: because no");
	expect_error("{\"cmd\":\"fail\"}", "fail: Device or resource busy");
	expect_error("{\"cmd\":\"echo\\u0000x\"}", "lacks \"cmd\"");
	expect_error("{\"cmd\":\"echo\",\"say\":\"a\\u0000b\"}", "without NUL bytes");
	expect_error("{\"cmd\":\"ech\xff\"}", "malformed JSON");
	expect_error("{\"cmd\":\"echo\",}", "malformed JSON");
	o = handle("{\"cmd\":\"echo\"}\0junk", 19, false);
	json_object_put(o);
	big = malloc(CONTROL_MAX_LINE_BYTES + 2);
	TEST_ASSERT(big, "malloc");
	memset(big, ' ', CONTROL_MAX_LINE_BYTES + 1);
	big[CONTROL_MAX_LINE_BYTES + 1] = '\0';
	expect_error(big, "longer than");
	free(big);
	/* Deep nesting is refused by the parser, not a stack overflow. */
	big = malloc(3001);
	TEST_ASSERT(big, "malloc");
	memset(big, '[', 3000);
	big[3000] = '\0';
	expect_error(big, "malformed JSON");
	free(big);
	TEST_PASS("control requests: every malformed or unknown request gets an error reply");
}

/* ---- the server on a real socket -------------------------------------- */

struct server {
	struct loop loop;
	struct control_server cs;
	pthread_t thread;
	atomic_bool stop;
	char path[108];
};

static void *server_thread(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop))
		TEST_ASSERT(loop_run_once(&s->loop, 20) >= 0, "loop_run_once");
	return NULL;
}

static void server_start(struct server *s)
{
	struct errmsg e = { 0 };

	TEST_OK(loop_init(&s->loop));
	TEST_ASSERT(control_open(&s->cs, s->path, &e) == 0, "control_open: %s", e.text);
	TEST_OK(control_attach(&s->cs, &s->loop, cmds, NR_CMDS, NULL));
	atomic_init(&s->stop, false);
	TEST_ASSERT(pthread_create(&s->thread, NULL, server_thread, s) == 0, "pthread_create");
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, true);
	TEST_ASSERT(pthread_join(s->thread, NULL) == 0, "join");
	control_close(&s->cs);
	loop_destroy(&s->loop);
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0, "socket");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s", path);
	return fd;
}

static void send_buf(int fd, const char *s, size_t len)
{
	TEST_ASSERT(send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len, "send");
}

static void send_str(int fd, const char *s)
{
	send_buf(fd, s, strlen(s));
}

/* One reply line, with a 5 s limit. */
static char *recv_line(int fd)
{
	static char buf[8192];
	size_t n = 0;
	struct timeval tv = { .tv_sec = 5 };

	TEST_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "timeout");
	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + n, 1, 0);

		TEST_ASSERT(r == 1, "reply ended early after %zu bytes", n);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return buf;
}

static void test_server(void)
{
	struct server s = { 0 };
	struct errmsg e = { 0 };
	struct control_server other;
	struct stat st;
	int a, b, c;
	char *line, *big, *reply = NULL;
	const char *keys[] = { "say" }, *vals[] = { "hello" };

	snprintf(s.path, sizeof(s.path), "/tmp/memvmm-test-control-%d.sock", (int)getpid());
	unlink(s.path);
	server_start(&s);
	TEST_ASSERT(lstat(s.path, &st) == 0 && S_ISSOCK(st.st_mode), "socket exists");
	TEST_ASSERT((st.st_mode & 0777) == 0600, "mode is 0%o, want 0600", st.st_mode & 0777);

	/* A live socket is not replaced. */
	TEST_ASSERT(control_open(&other, s.path, &e) == -EADDRINUSE && e.bad_input,
		    "second server on a live socket: %s", e.text);

	a = client_connect(s.path);
	b = client_connect(s.path);
	c = client_connect(s.path);
	/* c sends half a line and vanishes: nobody else notices. */
	send_str(c, "{\"cmd\":\"ec");
	close(c);
	send_str(a, "{\"cmd\":\"echo\",\"say\":\"a\"}\n");
	line = recv_line(a);
	TEST_ASSERT(strstr(line, "\"said\":\"a\""), "a's reply: %s", line);
	/* Two requests in one write, and garbage between them. */
	send_str(b, "{\"cmd\":\"echo\"}\n}}}garbage\n{\"cmd\":\"echo\",\"say\":\"b\"}\n");
	TEST_ASSERT(strstr(recv_line(b), "\"ok\":true"), "b first");
	TEST_ASSERT(strstr(recv_line(b), "malformed JSON"), "b garbage");
	TEST_ASSERT(strstr(recv_line(b), "\"said\":\"b\""), "b second");
	/* An over-long line: one error, then the connection still works. */
	big = malloc(3 * CONTROL_MAX_LINE_BYTES);
	TEST_ASSERT(big, "malloc");
	memset(big, 'x', 3 * CONTROL_MAX_LINE_BYTES);
	send_buf(a, big, 3 * CONTROL_MAX_LINE_BYTES);
	send_str(a, "\n{\"cmd\":\"echo\",\"say\":\"again\"}\n");
	TEST_ASSERT(strstr(recv_line(a), "longer than"), "over-long line refused");
	TEST_ASSERT(strstr(recv_line(a), "\"said\":\"again\""), "usable after an over-long line");
	free(big);

	/* A request of exactly CONTROL_MAX_LINE_BYTES is served. */
	big = malloc(CONTROL_MAX_LINE_BYTES + 1);
	TEST_ASSERT(big, "malloc");
	memset(big, ' ', CONTROL_MAX_LINE_BYTES);
	memcpy(big, "{\"cmd\":\"echo\"}", 14);
	big[CONTROL_MAX_LINE_BYTES] = '\n';
	send_buf(a, big, CONTROL_MAX_LINE_BYTES + 1);
	TEST_ASSERT(strstr(recv_line(a), "\"ok\":true"), "a %u-byte request is served",
		    CONTROL_MAX_LINE_BYTES);
	free(big);

	/* A client that shuts its side gets every reply, the last line's too. */
	c = client_connect(s.path);
	for (int i = 0; i < 40; i++)
		send_str(c, "{\"cmd\":\"echo\",\"say\":\"x\"}\n");
	send_str(c, "{\"cmd\":\"echo\",\"say\":\"last\"}");
	TEST_ASSERT(shutdown(c, SHUT_WR) == 0, "shutdown");
	for (int i = 0; i < 40; i++)
		TEST_ASSERT(strstr(recv_line(c), "\"said\":\"x\""), "reply %d after SHUT_WR", i);
	TEST_ASSERT(strstr(recv_line(c), "\"said\":\"last\""), "the unterminated last line");
	close(c);

	/* The ctl client. */
	TEST_OK(control_request(s.path, "echo", 1, keys, vals, 5000, &reply));
	TEST_ASSERT(strstr(reply, "\"said\":\"hello\""), "ctl reply: %s", reply);
	free(reply);
	TEST_OK(control_request(s.path, "nope", 0, NULL, NULL, 5000, &reply));
	TEST_ASSERT(strstr(reply, "unknown command"), "ctl error reply: %s", reply);
	free(reply);
	close(a);
	close(b);
	server_stop(&s);
	TEST_ASSERT(lstat(s.path, &st) < 0 && errno == ENOENT, "socket removed at close");
	TEST_ASSERT(control_request(s.path, "echo", 0, NULL, NULL, 1000, &reply) == -ENOENT,
		    "no server: ENOENT");
	TEST_PASS("control server: clients, garbage, over-long lines, ctl client, cleanup");
}

/* A client that floods requests and never reads its replies is dropped; others are served. */
static void test_no_reader(void)
{
	struct server s = { 0 };
	char req[] = "{\"cmd\":\"echo\",\"say\":\"0123456789012345678901234567890123456789\"}\n";
	int hog, good, sndbuf = 1 << 20;
	size_t sent = 0;
	char *reply = NULL;

	snprintf(s.path, sizeof(s.path), "/tmp/memvmm-test-control-nr-%d.sock", (int)getpid());
	unlink(s.path);
	server_start(&s);
	hog = client_connect(s.path);
	TEST_ASSERT(setsockopt(hog, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == 0, "sndbuf");
	TEST_ASSERT(fcntl(hog, F_SETFL, O_NONBLOCK) == 0, "nonblock");
	/* Enough requests that their replies exceed CONTROL_MAX_OUT_BYTES plus socket buffers. */
	while (sent < 16 * CONTROL_MAX_OUT_BYTES) {
		ssize_t n = send(hog, req, sizeof(req) - 1, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (n < 0)
			break;   /* EPIPE/ECONNRESET: the server dropped us, as it should */
		sent += (size_t)n;
	}
	good = client_connect(s.path);
	(void)good;
	TEST_OK(control_request(s.path, "echo", 0, NULL, NULL, 5000, &reply));
	TEST_ASSERT(strstr(reply, "\"ok\":true"), "another client is served: %s", reply);
	free(reply);
	close(hog);
	close(good);
	server_stop(&s);
	TEST_PASS("control server: a client that never reads is dropped, others served");
}

/* Every slot taken by idle clients: a new client still gets in. */
static void test_idle_eviction(void)
{
	struct server s = { 0 };
	int idle[CONTROL_MAX_CLIENTS];
	char *reply = NULL;

	snprintf(s.path, sizeof(s.path), "/tmp/memvmm-test-control-idle-%d.sock", (int)getpid());
	unlink(s.path);
	server_start(&s);
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		idle[i] = client_connect(s.path);
	for (int k = 0; k < 3; k++) {
		TEST_OK(control_request(s.path, "echo", 0, NULL, NULL, 5000, &reply));
		TEST_ASSERT(strstr(reply, "\"ok\":true"), "served while idle clients fill the "
			    "table: %s", reply);
		free(reply);
	}
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(idle[i]);
	server_stop(&s);
	TEST_PASS("control server: idle clients cannot lock others out");
}

/* A live socket whose listener never accepts and whose queue is full: in use, at once. */
static void test_full_backlog(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control_server cs;
	struct errmsg e = { 0 };
	int lfd, fill[8], nfill = 0;
	char path[64];

	snprintf(path, sizeof(path), "/tmp/memvmm-test-backlog-%d", (int)getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	TEST_ASSERT(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    listen(lfd, 0) == 0, "listener");
	for (; nfill < 8; nfill++) {
		fill[nfill] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fill[nfill], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fill[nfill]);
			break;
		}
	}
	alarm(10);   /* a blocking connect would hang here */
	TEST_ASSERT(control_open(&cs, path, &e) == -EADDRINUSE, "full queue: %s", e.text);
	{
		char *reply = NULL;

		/* The ctl client gives up at its deadline, not never. */
		TEST_ASSERT(control_request(path, "status", 0, NULL, NULL, 300, &reply) ==
			    -ETIMEDOUT, "ctl against a full queue times out");
	}
	alarm(0);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	unlink(path);
	TEST_PASS("a live socket with a full queue: in use for run, a timeout for ctl");
}

static void test_claim_path(void)
{
	char path[64], dir[200];
	struct control_server cs;
	struct errmsg e = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(path, sizeof(path), "/tmp/memvmm-test-claim-%d", (int)getpid());
	/* A regular file is never replaced. */
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	TEST_ASSERT(fd >= 0, "create %s", path);
	close(fd);
	TEST_ASSERT(control_open(&cs, path, &e) == -EEXIST && e.bad_input &&
		    strstr(e.text, "not a socket"), "regular file: %s", e.text);
	TEST_ASSERT(access(path, F_OK) == 0, "the file is still there");
	unlink(path);
	/* Nor a directory. */
	snprintf(dir, sizeof(dir), "%s.d", path);
	TEST_ASSERT(mkdir(dir, 0700) == 0, "mkdir");
	TEST_ASSERT(control_open(&cs, dir, &e) == -EEXIST, "directory: %s", e.text);
	rmdir(dir);
	/* A stale socket (bound, nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind");
	close(fd);
	TEST_ASSERT(control_open(&cs, path, &e) == 0, "stale socket: %s", e.text);
	control_close(&cs);
	TEST_ASSERT(access(path, F_OK) < 0, "removed at close");
	/* Paths that cannot be socket addresses, and missing directories. */
	TEST_ASSERT(control_open(&cs, "", &e) == -ENAMETOOLONG && e.bad_input, "empty path");
	memset(dir, 'a', sizeof(dir) - 1);
	dir[sizeof(dir) - 1] = '\0';
	TEST_ASSERT(control_open(&cs, dir, &e) == -ENAMETOOLONG && e.bad_input, "long path");
	TEST_ASSERT(control_open(&cs, "/nonexistent-dir/x.sock", &e) == -ENOENT && e.bad_input,
		    "missing dir: %s", e.text);
	TEST_PASS("control socket path: only a stale socket is replaced");
}

int main(void)
{
	test_requests();
	test_claim_path();
	test_server();
	test_no_reader();
	test_idle_eviction();
	test_full_backlog();
	return 0;
}
