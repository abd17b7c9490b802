// SPDX-License-Identifier: MIT
/*
 * pageout's memvmm row: `memvmm run --memory size=S,backend=anon,thp=off`
 * with the test guest touching three quarters of its RAM and then waiting
 * (read=1); once it reported the touch, `pause`, `pageout` (all of guest
 * RAM) and `quit` go over the control socket. The time is memvmm's own
 * (the reply's ms: in MADV_PAGEOUT alone), as the plain rows time only the
 * madvise() call.
 */
#include "bench/pageout.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/stats.h"
#include "vmm/control.h"

#define PV_START_TIMEOUT_NS (120ull * 1000000000ull)  /* boot and touch */
#define PV_EXIT_TIMEOUT_NS  (30ull * 1000000000ull)
#define PV_CTL_TIMEOUT_MS   60000                     /* pageout of a large guest */
#define PV_REAP_POLL_US     10000
#define PV_TOUCH_LINE       "memvmm-guest: touch "
#define PV_MIB              (1024.0 * 1024.0)
#define PV_GIB              (1024.0 * 1024.0 * 1024.0)

static char pv_memvmm[PATH_MAX];

int po_memvmm_check(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "no /dev/kvm (%s): the memvmm row needs KVM", strerror(-ret));
		return ret;
	}
	close(fd);
	ret = bench_memvmm_path(pv_memvmm, sizeof(pv_memvmm));
	if (ret)
		snprintf(why, len, "no memvmm binary (set MEMVMM)");
	return ret;
}

struct pv_child {
	pid_t pid;
	int out_fd;            /* stdout and stderr together */
	struct proc_buf out;
};

static int pv_start(struct pv_child *ch, char *const argv[])
{
	pid_t parent = getpid();
	int p[2];

	*ch = (struct pv_child){ .pid = -1, .out_fd = -1 };
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	ch->pid = fork();
	if (ch->pid < 0) {
		int ret = -errno;

		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (ch->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		/* A measuring process killed mid-run takes its guest with it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	ch->out_fd = p[0];
	return 0;
}

/* Read until the output holds line, the child closes it, or the deadline. */
static int pv_wait_for(struct pv_child *ch, const char *line, uint64_t deadline)
{
	struct pollfd p = { .fd = ch->out_fd, .events = POLLIN };

	while (!ch->out.data || !strstr(ch->out.data, line)) {
		uint64_t now = bench_now_ns();
		int r, k;

		if (ch->out_fd < 0)
			return -EPIPE;
		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		k = proc_buf_read(&ch->out, ch->out_fd);
		if (k < 0)
			return k;
		if (k == 0)
			proc_close_fd(&ch->out_fd);
	}
	return 0;
}

/* Reap the child by the deadline, else kill it: its exit status, or -errno. */
static int pv_reap(struct pv_child *ch, uint64_t deadline)
{
	int status;
	pid_t r;

	while ((r = waitpid(ch->pid, &status, WNOHANG)) == 0 && bench_now_ns() < deadline)
		usleep(PV_REAP_POLL_US);
	if (r == 0) {
		kill(ch->pid, SIGKILL);
		r = waitpid(ch->pid, &status, 0);
	}
	ch->pid = -1;
	proc_close_fd(&ch->out_fd);
	free(ch->out.data);
	ch->out = (struct proc_buf){ .data = NULL };
	if (r < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double json_num(json_object *j, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(j, key, &v) ? json_object_get_double(v) : NAN;
}

/* `memvmm ctl pageout`'s reply into m and the note. */
static int pv_pageout(struct bench_case *c, const char *sock, double *m)
{
	char *reply = NULL;
	json_object *j, *ok, *err;
	double mapped0, mapped1, ms;
	int ret = control_request(sock, "pageout", 0, NULL, NULL, PV_CTL_TIMEOUT_MS, &reply);

	if (ret) {
		snprintf(c->why, sizeof(c->why), "ctl pageout: %s", strerror(-ret));
		return ret;
	}
	j = json_tokener_parse(reply);
	if (!j || !json_object_object_get_ex(j, "ok", &ok)) {
		snprintf(c->why, sizeof(c->why), "ctl pageout: not a reply: %.120s", reply);
		ret = -EPROTO;
	} else if (!json_object_get_boolean(ok)) {
		/* A refusal (no swap, the backend): memvmm's reason. */
		snprintf(c->why, sizeof(c->why), "memvmm refused: %.150s",
			 json_object_object_get_ex(j, "error", &err) ?
			 json_object_get_string(err) : reply);
		c->why_is_message = true;
		ret = -EOPNOTSUPP;
	} else {
		ms = json_num(j, "ms");
		mapped0 = json_num(j, "mapped_before");
		mapped1 = json_num(j, "mapped_after");
		m[0] = ms;
		m[3] = json_num(j, "resident_after") / PV_MIB;
		snprintf(c->note, sizeof(c->note), "mapped %.0f -> %.0f MiB, swapped %.0f MiB, "
			 "%.2f GiB/s", mapped0 / PV_MIB, mapped1 / PV_MIB,
			 json_num(j, "swapped_after") / PV_MIB,
			 (mapped0 - mapped1) / PV_GIB / (ms / 1000.0));
		if (isnan(ms) || isnan(mapped0) || isnan(mapped1)) {
			snprintf(c->why, sizeof(c->why), "ctl pageout: reply lacks ms or mapped_*");
			ret = -EPROTO;
		}
	}
	json_object_put(j);
	free(reply);
	return ret;
}

static int pv_ctl(struct bench_case *c, const char *sock, const char *cmd)
{
	char *reply = NULL;
	int ret = control_request(sock, cmd, 0, NULL, NULL, PV_CTL_TIMEOUT_MS, &reply);

	if (!ret && !strstr(reply, "\"ok\":true"))
		ret = -EPROTO;
	if (ret)
		snprintf(c->why, sizeof(c->why), "ctl %s: %s%.100s", cmd,
			 ret == -EPROTO ? "" : strerror(-ret), ret == -EPROTO ? reply : "");
	free(reply);
	return ret;
}

int po_memvmm_run(struct bench_case *c, uint64_t size, double *m)
{
	char sock[108], mem[96], cmdline[64], sz[32], last[160];
	char *argv[] = { pv_memvmm, "run", "--memory", mem, "--api-socket", sock, "--cmdline",
			 cmdline, NULL };
	struct pv_child ch;
	int ret, status;

	bench_fmt_size(size, sz, sizeof(sz));
	snprintf(sock, sizeof(sock), "/tmp/memvmm-bench-pageout-%d.sock", (int)getpid());
	snprintf(mem, sizeof(mem), "size=%s,backend=anon,thp=off", sz);
	/* Three quarters of RAM: the rest holds the guest's image and page tables. */
	snprintf(cmdline, sizeof(cmdline), "touch=%lluM read=1",
		 (unsigned long long)(size / 4 * 3 >> 20));
	unlink(sock);
	ret = pv_start(&ch, argv);
	if (ret) {
		snprintf(c->why, sizeof(c->why), "starting memvmm");
		return ret;
	}
	ret = pv_wait_for(&ch, PV_TOUCH_LINE, bench_now_ns() + PV_START_TIMEOUT_NS);
	if (ret) {
		proc_last_line(ch.out.data ? ch.out.data : "", last, sizeof(last));
		snprintf(c->why, sizeof(c->why), "no touch line from the guest (%s): %s",
			 strerror(-ret), last);
	}
	if (!ret)
		ret = pv_ctl(c, sock, "pause");
	if (!ret)
		ret = pv_pageout(c, sock, m);
	if (pv_ctl(c, sock, "quit") && !ret)
		ret = -EIO;
	status = pv_reap(&ch, bench_now_ns() + PV_EXIT_TIMEOUT_NS);
	unlink(sock);
	if (!ret && status != 0) {
		snprintf(c->why, sizeof(c->why), "memvmm exited with status %d after quit", status);
		ret = -EIO;
	}
	return ret;
}
