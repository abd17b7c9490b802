// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the control socket's request handler. Every input must
 * give exactly one line of JSON with "ok" (true only for a known command
 * with allowed string arguments), and never crash or leak. The commands are
 * fakes with the same shapes as the VM's (no arguments, string arguments,
 * a failing one).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_ok(void *opaque, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen)
{
	json_object_object_add(reply, "state", json_object_new_string("running"));
	return 0;
}

static int fake_args(void *opaque, struct json_object *req, struct json_object *reply,
		     char *err, size_t errlen)
{
	json_object_object_foreach(req, key, val) {
		if (strcmp(key, "cmd") && !json_object_is_type(val, json_type_string))
			abort();   /* check_args let a non-string argument through */
	}
	return 0;
}

static int fake_fail(void *opaque, struct json_object *req, struct json_object *reply,
		     char *err, size_t errlen)
{
	snprintf(err, errlen, "refused");
	return -EINVAL;
}

static const char *const arg_keys[] = { "dir", "size", "gpa", NULL };
static const struct control_command cmds[] = {
	{ .name = "status", .fn = fake_ok },
	{ .name = "pause", .fn = fake_ok },
	{ .name = "snapshot", .keys = arg_keys, .fn = fake_args },
	{ .name = "quit", .fn = fake_fail },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = control_handle_line(cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
					 (const char *)data, size);
	struct json_object *o, *ok;
	size_t n;

	if (!line)
		return 0;   /* out of memory only */
	n = strlen(line);
	if (!n || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		abort();    /* a reply is exactly one line */
	o = json_tokener_parse(line);
	if (!o || !json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean))
		abort();    /* ... of JSON with "ok" */
	json_object_put(o);
	free(line);
	return 0;
}
