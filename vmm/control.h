/* SPDX-License-Identifier: MIT */
/*
 * The control socket (`memvmm run --api-socket PATH`): a Unix stream
 * socket, mode 0600, one JSON object per line each way.
 *
 *   request: {"cmd":"NAME", "KEY":"VALUE", ...}     (arguments are strings)
 *   reply:   {"ok":true, ...} or {"ok":false,"error":"..."}
 *
 * Requests longer than CONTROL_MAX_LINE_BYTES get an error reply and are
 * skipped up to their newline; malformed JSON (strict, UTF-8), unknown
 * commands and bad arguments get error replies; the connection stays usable
 * in every case. A client that shuts its side still gets every reply (a last
 * request without a newline counts). A client that does not read its
 * replies is dropped once CONTROL_MAX_OUT_BYTES are waiting for it; when all
 * CONTROL_MAX_CLIENTS slots are taken, the client idle longest (nothing
 * half-sent either way) makes room for a new one. A duplicate "cmd" key
 * takes the last value (json-c keeps the last). Nothing a client sends can
 * affect another client or the VM beyond the commands it issues.
 */
#ifndef MEMVMM_CONTROL_H
#define MEMVMM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/errmsg.h"

struct json_object;
struct loop;

#define CONTROL_MAX_LINE_BYTES 4096u
#define CONTROL_MAX_OUT_BYTES  (256u << 10)
#define CONTROL_MAX_CLIENTS    16u
#define CONTROL_MAX_ARGS       16u
/* Bytes read from one client per wakeup, so that a flood cannot starve the others. */
#define CONTROL_READ_BUDGET_BYTES (64u << 10)

/*
 * One command. keys: the argument names it takes (NULL-terminated; NULL:
 * none). fn adds its reply members to `reply` and returns 0, or returns
 * -errno with a message in err (empty: strerror is used).
 */
struct control_command {
	const char *name;
	const char *const *keys;
	int (*fn)(void *opaque, struct json_object *req, struct json_object *reply,
		  char *err, size_t errlen);
};

/*
 * Handle one request line (without its newline) against cmds. Returns the
 * reply, a NUL-terminated line ending in '\n' that the caller frees, or NULL
 * when out of memory. Pure apart from what the commands do: the fuzz target
 * drives it with fake commands.
 */
char *control_handle_line(const struct control_command *cmds, unsigned int nr_cmds,
			  void *opaque, const char *line, size_t len);

/* CLOCK_MONOTONIC in ns, for the server's idle times and the client's deadline. */
uint64_t control_now_ns(void);

/* An error reply line (caller frees), for paths that never reach a command. */
char *control_error_line(const char *error);

struct control_client;

struct control_server {
	int listen_fd;
	char path[108];
	dev_t dev;               /* of the socket file memvmm created */
	ino_t ino;
	struct loop *loop;
	const struct control_command *cmds;
	unsigned int nr_cmds;
	void *opaque;
	int spare_fd;            /* /dev/null, given up to accept when out of fds */
	bool accept_muted;       /* out of fds and no spare: not listening for now */
	struct control_client *client[CONTROL_MAX_CLIENTS];
	unsigned long long requests;
};

/*
 * Create and bind the socket. Replaces only a stale socket (one nobody
 * accepts on); anything else at path (a file, a directory, a live socket)
 * is refused with e->bad_input set. Call while no other thread creates
 * files: the socket is created under umask 0177 so that it is 0600 from the
 * start.
 */
int control_open(struct control_server *s, const char *path, struct errmsg *e)
	__attribute__((warn_unused_result));
/* Start serving in the loop. */
int control_attach(struct control_server *s, struct loop *l,
		   const struct control_command *cmds, unsigned int nr_cmds, void *opaque)
	__attribute__((warn_unused_result));
/* Close the clients and the socket, and remove the path if it is still ours. */
void control_close(struct control_server *s);

/*
 * The client side (`memvmm ctl`): send one request built from cmd and
 * key=value pairs, and wait for the reply line; the whole exchange (connect,
 * send, reply) takes at most timeout_ms. 0 with *reply (caller frees) or
 * -errno (-ENOENT, -ECONNREFUSED: no server; -ETIMEDOUT; -EPROTO: the server
 * closed without a reply; -EMSGSIZE: a reply over CONTROL_MAX_OUT_BYTES).
 */
int control_request(const char *path, const char *cmd, unsigned int nr_args,
		    const char *const *keys, const char *const *values, int timeout_ms,
		    char **reply) __attribute__((warn_unused_result));

#endif /* MEMVMM_CONTROL_H */
