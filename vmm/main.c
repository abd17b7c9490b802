// SPDX-License-Identifier: MIT
/*
 * memvmm's front end: the only place that prints errors and picks exit
 * codes, and the owner of the process's signal mask.
 *   0..255  the guest's status (run), 0 on success otherwise
 *   1       host or VMM failure, triple fault, an error reply (ctl)
 *   2       bad command-line input (the message names the bad value)
 *   128+N   stopped by signal N
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread from the
 * start and read through one signalfd. While the VM is being created (the
 * long phases: population, pre-fault, loading) a watcher thread reads it and
 * sets the cancel flag that those phases poll; once the VM runs, the main
 * loop reads it. Either way memvmm stops in order with 128+N, and a second
 * signal cannot kill it halfway through releasing guest memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm/control.h"
#include "vmm/options.h"
#include "vmm/probe.h"
#include "vmm/vm.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* From this much RAM on, population shows its progress on a terminal. */
#define MAIN_PROGRESS_MIN_BYTES (1ull << 30)
/* How long `memvmm ctl` waits for a reply. */
#define CTL_TIMEOUT_MS 30000
/* A snapshot of a large guest writes gigabytes: its reply may take minutes. */
#define CTL_SNAPSHOT_TIMEOUT_MS 600000

static const char main_help[] =
	"usage: memvmm COMMAND [OPTIONS]\n"
	"\n"
	"A minimal KVM VMM for guest-memory work (guest_memfd, population, hotplug).\n"
	"\n"
	"commands:\n"
	"  run      boot a guest (default: the bundled test guest on guest_memfd)\n"
	"  ctl      send one command to a running memvmm's --api-socket\n"
	"  probe    show what this host's kernel supports\n"
	"  help     this text\n"
	"\n"
	"`memvmm COMMAND --help` describes each command. --version prints the version.\n";

static uint64_t main_start_ns;

/* ---- signals ---------------------------------------------------------- */

static void main_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Reads the signalfd while the VM is created, and sets cancel. */
struct signal_watch {
	int sfd;
	int done_efd;
	atomic_bool cancel;
	int signo;
	pthread_t thread;
	bool running;
};

static void *signal_watch_thread(void *arg)
{
	struct signal_watch *w = arg;
	struct pollfd p[2] = {
		{ .fd = w->sfd, .events = POLLIN },
		{ .fd = w->done_efd, .events = POLLIN },
	};

	for (;;) {
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if ((p[0].revents & POLLIN) && read(w->sfd, &si, sizeof(si)) == sizeof(si)) {
			w->signo = (int)si.ssi_signo;
			atomic_store(&w->cancel, true);
			break;
		}
	}
	return NULL;
}

static int signal_watch_start(struct signal_watch *w, int sfd)
{
	int ret;

	w->sfd = sfd;
	w->signo = 0;
	atomic_init(&w->cancel, false);
	w->done_efd = eventfd(0, EFD_CLOEXEC);
	if (w->done_efd < 0)
		return -errno;
	ret = pthread_create(&w->thread, NULL, signal_watch_thread, w);
	if (ret) {
		close(w->done_efd);
		return -ret;
	}
	w->running = true;
	return 0;
}

/* Stop watching; returns the signal caught meanwhile, 0 if none. */
static int signal_watch_stop(struct signal_watch *w)
{
	uint64_t one = 1;

	if (!w->running)
		return 0;
	if (write(w->done_efd, &one, sizeof(one)) < 0)
		atomic_store(&w->cancel, true);   /* cannot happen; do not hang below */
	(void)pthread_join(w->thread, NULL);
	close(w->done_efd);
	w->running = false;
	return w->signo;
}

/* ---- memvmm run ------------------------------------------------------- */

struct run_summary {
	const struct run_config *cfg;
	const char *restore_dir;     /* --restore's directory, NULL: a boot */
	bool restore_printed;
};

/* Eager and map: how much of boot RAM huge pages back now. */
static void print_restored_huge(struct vm *vm)
{
	uint64_t huge = 0;

	vm_measure_huge(vm);
	if (vm->huge_err)
		return;
	for (unsigned int i = 0; i < vm->mem.nr_regions && i < MEM_MAX_REGIONS; i++)
		if (mem_region_is_boot_ram(&vm->mem.region[i]))
			huge += vm->huge_after_populate[i];
	fprintf(stderr, ", %lluM of RAM in huge pages", (unsigned long long)(huge >> 20));
}

/*
 * A restored VM's line: the mode used and why, the time to the first guest
 * instruction, and what filled memory: for eager/map at the first
 * instruction, for lazy modes once the background fill is done (or at the
 * end, if the VM stopped before).
 */
static void print_restored(struct vm *vm, struct run_summary *s, bool at_end)
{
	const struct restore_info *ri = &vm->restore;
	const struct snap_chain *c = vm->restore_chain;
	bool lazy = ri->used >= RESTORE_LAZY_COPY;
	char chain[48] = "";

	if (s->cfg->quiet || s->restore_printed || !s->restore_dir)
		return;
	if (lazy && !ri->lazy_done_ns && !at_end)
		return;
	s->restore_printed = true;
	if (c && c->nr > 1)
		snprintf(chain, sizeof(chain), " (a chain of %u snapshots)", c->nr);
	fprintf(stderr, "memvmm: restored '%s'%s: %lluM on %s, mode %s", errmsg_path(s->restore_dir).s,
		chain, (unsigned long long)(vm->mem.ram_size >> 20), vm->mem.ops->name,
		restore_mode_name(ri->used));
	if (ri->requested == RESTORE_AUTO)
		fprintf(stderr, " (auto%s%s)", ri->why[0] ? ": " : "", ri->why);
	fprintf(stderr, "; first guest instruction %.2f ms after start (memory and state restored "
		"in %.2f ms)", vm->first_run_ns ? (double)(vm->first_run_ns - main_start_ns) / 1e6 :
		-1.0, (double)ri->fill_ns / 1e6);
	if (!lazy) {
		fprintf(stderr, "; %lluM of data %s by %s on %u thread%s in %.2f ms%s%s",
			(unsigned long long)(ri->fill.data_bytes >> 20),
			ri->used == RESTORE_MAP ? "mapped" : "copied",
			ri->used == RESTORE_MAP ? "MAP_PRIVATE" : mem_snap_fill_name(ri->fill.how),
			ri->fill.threads, ri->fill.threads == 1 ? "" : "s",
			(double)ri->fill_ns / 1e6, ri->fill.why[0] ? " (write(): " : "",
			ri->fill.why[0] ? ri->fill.why : "");
		if (ri->fill.why[0])
			fputc(')', stderr);
		print_restored_huge(vm);
		if (vm->prefault.used)
			fprintf(stderr, "; pre-fault %lluM in %.2f ms",
				(unsigned long long)(vm->prefault.bytes >> 20),
				(double)vm->prefault.ns / 1e6);
		else
			fprintf(stderr, "; pre-fault: %s", vm->prefault_note[0] ? vm->prefault_note :
				"not used (the guest's faults map the file's pages)");
		fputc('\n', stderr);
		return;
	}
	for (unsigned int i = 0; i < MEM_MAX_REGIONS; i++) {
		struct mem_lazy_report rep;

		if (!ri->lazy_region[i])
			continue;
		mem_lazy_get_report(ri->lazy_region[i], &rep);
		fprintf(stderr, "; region %u: %llu faults (%llu pages, longest %.3f ms), %llu pages "
			"in the background, ", i, (unsigned long long)rep.faults,
			(unsigned long long)rep.fault_pages, (double)rep.fault_max_ns / 1e6,
			(unsigned long long)rep.background_pages);
		if (rep.done)
			fprintf(stderr, "%lluM in huge pages", (unsigned long long)(rep.huge_bytes >> 20));
		else
			fprintf(stderr, "fill not finished");
	}
	if (ri->lazy_done_ns)
		fprintf(stderr, "; background fill done %.2f ms after start\n",
			(double)(ri->start_ns + ri->lazy_done_ns - main_start_ns) / 1e6);
	else if (!vm->restore_background)
		fprintf(stderr, "; no background fill (background=off)\n");
	else
		fprintf(stderr, "; the VM stopped before the background fill finished\n");
}

static void print_lazy_done(struct vm *vm, void *arg)
{
	print_restored(vm, arg, false);
}

/* Regions of boot RAM (the hotplug region has its own clause). */
static unsigned int boot_ram_regions(const struct vm *vm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->mem.nr_regions; i++)
		n += mem_region_is_boot_ram(&vm->mem.region[i]);
	return n;
}

/* One line on stderr once the guest is about to run: what was set up and how fast. */
static void print_started(struct vm *vm, void *arg)
{
	struct run_summary *s = arg;
	const struct mem_region *hp = vm->vmem_region_ready ? &vm->mem.region[vm->vmem_region] :
				      NULL;
	const struct run_balloon_config *bc = &s->cfg->balloon;
	unsigned int regions = boot_ram_regions(vm);
	char vmem[128] = "", balloon[128] = "", stats[32] = "stats off";

	if (s->cfg->quiet)
		return;
	if (s->restore_dir) {
		print_restored(vm, s, false);
		return;
	}
	if (hp)
		snprintf(vmem, sizeof(vmem), "; virtio-mem %lluM at 0x%llx on %s (requested %lluM, "
			 "block %lluM)", (unsigned long long)(hp->size >> 20),
			 (unsigned long long)hp->gpa, hp->ops->name,
			 (unsigned long long)(s->cfg->vmem.requested >> 20),
			 (unsigned long long)(s->cfg->vmem.block >> 20));
	if (vm->balloon) {
		if (bc->stats)
			snprintf(stats, sizeof(stats), bc->stats_s ? "stats every %us" :
				 "stats not polled", bc->stats_s);
		snprintf(balloon, sizeof(balloon), "; balloon target %llu%c (%s%s%s)",
			 (unsigned long long)(bc->size % (1ull << 20) ? bc->size >> 10 :
					      bc->size >> 20),
			 bc->size % (1ull << 20) ? 'K' : 'M', stats,
			 bc->free_page_reporting ? ", free page reporting" : "",
			 bc->deflate_on_oom ? ", deflate-on-oom" : "");
	}
	fprintf(stderr, "memvmm: %s%s%s%s, %lluM on %s (%u region%s), %u vCPU%s%s%s; "
		"first guest instruction %.2f ms after start%s%s\n",
		s->cfg->kernel ? s->cfg->kernel : "bundled test guest",
		s->cfg->kernel && vm->boot_what[0] ? " (" : "",
		s->cfg->kernel ? vm->boot_what : "", s->cfg->kernel && vm->boot_what[0] ? ")" : "",
		(unsigned long long)(vm->mem.ram_size >> 20), vm->mem.ops->name,
		regions, regions == 1 ? "" : "s",
		vm->nr_vcpus, vm->nr_vcpus == 1 ? "" : "s", vmem, balloon,
		(double)(vm->first_run_ns - main_start_ns) / 1e6,
		vm->control_ready ? "; control socket " : "",
		vm->control_ready ? vm->control.path : "");
}

/* Population progress on stderr: bytes, percent and rate, rewritten in place. */
struct progress {
	uint64_t start_ns;
	bool shown;
};

static void print_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	double secs = (double)(vm_now_ns() - p->start_ns) / 1e9;

	p->shown = done < total;
	fprintf(stderr, "\rmemvmm: populating %llu/%lluM %3u%% %.2f GB/s%s",
		(unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
		total ? (unsigned int)(done * 100 / total) : 100,
		secs > 0 ? (double)done / 1e9 / secs : 0.0, done >= total ? "\n" : "");
}

/*
 * One line on what backed guest memory: per region the strategy, threads and
 * time, then pre-fault. Benchmarks parse "memory populated in X ms".
 */
static void print_memory(const struct vm *vm)
{
	const struct mem_prefault_report *pf = &vm->prefault;

	fprintf(stderr, "memvmm: memory populated in %.2f ms:",
		(double)vm->populate_ns / 1e6);
	for (unsigned int i = 0; i < vm->populate.nr; i++) {
		const struct mem_populate_region_report *rr = &vm->populate.region[i];

		fprintf(stderr, "%s region %u (%lluM at 0x%llx on %s) %s", i ? ";" : "",
			rr->region, (unsigned long long)(rr->len >> 20),
			(unsigned long long)rr->gpa, vm->mem.ops->name,
			mem_populate_name(rr->used));
		if (rr->threads)
			fprintf(stderr, " on %u thread%s", rr->threads, rr->threads == 1 ? "" : "s");
		fprintf(stderr, " %.2f ms", (double)rr->ns / 1e6);
		if (rr->why[0])
			fprintf(stderr, " (%s)", rr->why);
		if (!vm->huge_err && rr->region < MEM_MAX_REGIONS && rr->len)
			fprintf(stderr, ", %lluM in huge pages (%llu%%)",
				(unsigned long long)(vm->huge_after_populate[rr->region] >> 20),
				(unsigned long long)(vm->huge_after_populate[rr->region] * 100 /
						     rr->len));
	}
	fprintf(stderr, "; thp=%s: %s", mem_thp_mode_name(vm->thp_mode), vm->thp.why);
	if (vm->huge_err)
		fprintf(stderr, " (huge pages not measured: %s)", strerror(-vm->huge_err));
	if (pf->used)
		fprintf(stderr, "; pre-fault: %lluM in %.2f ms, %llu calls\n",
			(unsigned long long)(pf->bytes >> 20), (double)pf->ns / 1e6,
			(unsigned long long)pf->calls);
	else
		fprintf(stderr, "; pre-fault: %s\n", vm->prefault_note);
}

static const char *stop_description(enum vm_stop_reason r)
{
	switch (r) {
	case VM_STOP_GUEST_EXIT:
		return "guest exited";
	case VM_STOP_RESET:
		return "guest reset the machine";
	case VM_STOP_POWEROFF:
		return "guest powered off";
	case VM_STOP_SHUTDOWN:
		return "guest shut down (triple fault)";
	case VM_STOP_SIGNAL:
		return "stopped by signal";
	case VM_STOP_QUIT:
		return "stopped by the control socket's quit";
	case VM_STOP_ERROR:
		return "stopped on error";
	default:
		return "stopped";
	}
}

static void print_segment(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr, "  %-3s sel=0x%04x base=0x%016llx limit=0x%08x type=%u dpl=%u p=%u l=%u db=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->l, s->db);
}

/* A vCPU failure: what happened, the exit data and the registers. */
static void print_failure(const struct vcpu_failure *f)
{
	const struct kvm_regs *r = &f->regs;
	const struct kvm_sregs *s = &f->sregs;

	fprintf(stderr, "memvmm: vCPU %u: %s", f->vcpu, f->what);
	if (f->internal) {
		fprintf(stderr, ", %u data words:", f->ndata);
		for (uint32_t i = 0; i < f->ndata && i < VCPU_FAILURE_DATA_WORDS; i++)
			fprintf(stderr, " 0x%llx", (unsigned long long)f->data[i]);
	}
	fputc('\n', stderr);
	if (f->have_regs)
		fprintf(stderr,
			"  rip=0x%016llx rsp=0x%016llx rflags=0x%016llx\n"
			"  rax=0x%016llx rbx=0x%016llx rcx=0x%016llx rdx=0x%016llx\n"
			"  rsi=0x%016llx rdi=0x%016llx rbp=0x%016llx\n",
			r->rip, r->rsp, r->rflags, r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi,
			r->rbp);
	if (f->have_sregs) {
		fprintf(stderr, "  cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx\n",
			s->cr0, s->cr2, s->cr3, s->cr4, s->efer);
		print_segment("cs", &s->cs);
		print_segment("ss", &s->ss);
	}
}

/* Console output that never reached stdout: say how much, and why. */
static void print_console_loss(const struct console_stats *st)
{
	if (st->lost)
		fprintf(stderr, "memvmm: %llu bytes of guest console output were lost: "
			"writing standard output failed: %s\n", (unsigned long long)st->lost,
			st->write_err ? strerror(-st->write_err) : "unknown error");
	if (st->drain_cut)
		fprintf(stderr, "memvmm: %llu bytes of guest console output were not written: "
			"standard output took more than %u ms to drain at exit\n",
			(unsigned long long)st->drain_lost, CONSOLE_FLUSH_TIMEOUT_MS);
}

static int run_status_after_loss(int status, const struct console_stats *st)
{
	return status == 0 && (st->lost || st->drain_cut) ? EXIT_FAIL : status;
}

/*
 * --restore: open and check the snapshot, and make cfg the saved machine
 * with the user's --memory choices. 0, or the exit status after telling why.
 */
static int open_restore(const struct run_config *user, struct run_config *cfg, char *cmdline,
			size_t cmdline_len, struct vm_create_opts *opts, const atomic_bool *cancel)
{
	struct snap_chain *c = calloc(1, sizeof(*c));
	struct errmsg e = { 0 };
	int ret;

	if (!c) {
		fprintf(stderr, "memvmm: out of memory\n");
		return EXIT_FAIL;
	}
	ret = snap_chain_open(c, user->restore.path, user->restore.verify, cancel, &e);
	if (!ret)
		ret = snapshot_run_config(c, user, cfg, cmdline, cmdline_len, &e);
	if (ret) {
		snap_chain_close(c);
		free(c);
		fprintf(stderr, "memvmm: %s\n", e.text);
		return e.bad_input ? EXIT_USAGE : EXIT_FAIL;
	}
	opts->restore = c;
	return 0;
}

/* --debug: what vCPU 0's CPUID became under the CPU model (vmm/cpu_model.h). */
static void print_cpu_model(const struct vm *vm, const struct cpu_model *m)
{
	static char text[CPU_MODEL_TEXT_BYTES];
	int ret = cpu_model_vcpu_text(vm->kvm.sys_fd, vm->vcpus[0].fd, m, text, sizeof(text));

	if (ret)
		fprintf(stderr, "memvmm: debug: cannot read vCPU 0's CPUID: %s\n", strerror(-ret));
	else
		fputs(text, stderr);
}

static int cmd_run(int argc, char **argv, int sfd)
{
	struct run_summary summary = { 0 };
	struct signal_watch watch = { 0 };
	struct progress progress = { 0 };
	struct vm_create_opts opts = { 0 };
	struct run_config cfg, user;
	struct errmsg e = { 0 };
	static char cmdline[SNAP_CMDLINE_BYTES];
	char err[256];
	struct vm vm;
	int ret, status, signo;

	ret = options_parse_run(argc, argv, &user, err, sizeof(err));
	if (ret == OPTIONS_HELP) {
		fputs(user.help_text ? user.help_text : options_run_help, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "memvmm run: %s\n", err);
		return EXIT_USAGE;
	}
	cfg = user;
	ret = signal_watch_start(&watch, sfd);
	if (ret) {
		fprintf(stderr, "memvmm: cannot watch for signals: %s\n", strerror(-ret));
		return EXIT_FAIL;
	}
	opts.cancel = &watch.cancel;
	if (user.restore.path) {
		/* Checking a large snapshot (verify=on) takes a while: signals stop it. */
		ret = open_restore(&user, &cfg, cmdline, sizeof(cmdline), &opts, &watch.cancel);
		if (ret) {
			signo = signal_watch_stop(&watch);
			return signo ? 128 + signo : ret;
		}
		summary.restore_dir = user.restore.path;
	}
	progress.start_ns = vm_now_ns();
	if (!cfg.quiet && cfg.mem_size >= MAIN_PROGRESS_MIN_BYTES && isatty(STDERR_FILENO)) {
		opts.progress = print_progress;
		opts.progress_arg = &progress;
	}
	ret = vm_create(&vm, &cfg, &opts, &e);
	signo = signal_watch_stop(&watch);
	if (progress.shown)
		fputc('\n', stderr);  /* end an unfinished progress line */
	if (vm.backend_note[0] && !cfg.quiet)
		fprintf(stderr, "memvmm: note: using %s, not guest_memfd: %s\n",
			vm.mem.ops ? vm.mem.ops->name : "memfd", vm.backend_note);
	if (ret || signo) {
		/*
		 * Release guest memory before anything else: after a failed
		 * population the host (or memory cgroup) may have no room left
		 * even for the pages printing would touch.
		 */
		vm_destroy(&vm);
		if (signo) {
			fprintf(stderr, "memvmm: stopped by %s while setting up the VM\n",
				strsignal(signo));
			return 128 + signo;
		}
		fprintf(stderr, "memvmm: %s\n", e.text);
		return e.bad_input ? EXIT_USAGE : EXIT_FAIL;
	}
	if (cfg.debug)
		print_cpu_model(&vm, &cfg.cpu);
	if (!cfg.quiet && !summary.restore_dir) {
		vm_measure_huge(&vm);
		print_memory(&vm);
	}
	summary.cfg = &cfg;
	vm.on_restored = print_lazy_done;
	status = vm_run(&vm, sfd, print_started, &summary);
	if (status < 0) {
		fprintf(stderr, "memvmm: cannot start the main loop: %s\n", strerror(-status));
		status = EXIT_FAIL;
	}
	if (vm.have_failure)
		print_failure(&vm.failure);
	if (vm.stop_reason == VM_STOP_SIGNAL && vm.stop_signal)
		fprintf(stderr, "memvmm: stopping on %s\n", strsignal(vm.stop_signal));
	if (vm.first_run_ns)
		print_restored(&vm, &summary, true);
	vm_destroy(&vm);
	print_console_loss(&vm.console_stats);
	status = run_status_after_loss(status, &vm.console_stats);
	if (!cfg.quiet)
		fprintf(stderr, "memvmm: %s, exit status %d\n", stop_description(vm.stop_reason),
			status);
	return status;
}

/* ---- memvmm ctl ------------------------------------------------------- */

/*
 * snapshot's dir= and parent= are paths of the caller, not of memvmm (whose
 * working directory may be anywhere, e.g. / under systemd): relative ones
 * are made absolute here (buf: one PATH_MAX buffer each).
 */
static int ctl_absolute_paths(struct ctl_config *cfg, char buf[2][PATH_MAX])
{
	static const char *const keys[2] = { "dir", "parent" };
	char cwd[PATH_MAX];
	bool have_cwd = false;

	for (unsigned int i = 0; i < cfg->nr_args; i++) {
		for (unsigned int k = 0; k < 2; k++) {
			const char *v = cfg->value[i];

			if (strcmp(cfg->key[i], keys[k]) || !*v || *v == '/')
				continue;
			if (!have_cwd && !getcwd(cwd, sizeof(cwd)))
				return -errno;
			have_cwd = true;
			if (snprintf(buf[k], PATH_MAX, "%s/%s", cwd, v) >= PATH_MAX)
				return -ENAMETOOLONG;
			cfg->value[i] = buf[k];
		}
	}
	return 0;
}

/* A reply counts as ok only if it is one JSON object, nothing after it, with "ok":true. */
static bool ctl_reply_ok(const char *reply)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj = NULL, *ok;
	size_t len = strlen(reply), end;
	bool good = false;

	if (!tok)
		return false;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	obj = json_tokener_parse_ex(tok, reply, (int)len);
	end = json_tokener_get_parse_end(tok);
	while (end < len && (reply[end] == '\n' || reply[end] == '\r' || reply[end] == ' '))
		end++;
	if (obj && end == len && json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "ok", &ok) && json_object_is_type(ok, json_type_boolean))
		good = json_object_get_boolean(ok);
	json_object_put(obj);
	json_tokener_free(tok);
	return good;
}

static int cmd_ctl(int argc, char **argv)
{
	static char abs_buf[2][PATH_MAX];
	struct ctl_config cfg;
	char err[256], *reply = NULL;
	int ret, status, timeout_ms;

	ret = options_parse_ctl(argc, argv, &cfg, err, sizeof(err));
	if (ret == OPTIONS_HELP) {
		fputs(options_ctl_help, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "memvmm ctl: %s\n", err);
		return EXIT_USAGE;
	}
	timeout_ms = strcmp(cfg.command, "snapshot") ? CTL_TIMEOUT_MS : CTL_SNAPSHOT_TIMEOUT_MS;
	if (!strcmp(cfg.command, "snapshot")) {
		ret = ctl_absolute_paths(&cfg, abs_buf);
		if (ret) {
			fprintf(stderr, "memvmm ctl: snapshot: %s\n", strerror(-ret));
			return EXIT_USAGE;
		}
	}
	ret = control_request(cfg.api_socket, cfg.command, cfg.nr_args,
			      (const char *const *)cfg.key, (const char *const *)cfg.value,
			      timeout_ms, &reply);
	if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTSOCK ||
	    ret == -ENAMETOOLONG || ret == -EACCES) {
		fprintf(stderr, "memvmm ctl: no memvmm at --api-socket '%s': %s\n",
			errmsg_path(cfg.api_socket).s, strerror(-ret));
		return EXIT_USAGE;
	}
	if (ret) {
		fprintf(stderr, "memvmm ctl: %s: %s\n", cfg.command,
			ret == -EPROTO ? "the server closed the connection without a reply" :
			ret == -EMSGSIZE ? "the reply is longer than 256 KiB" :
			ret == -ETIMEDOUT ? (timeout_ms == CTL_TIMEOUT_MS ?
			"no reply within 30 s" : "no reply within 10 minutes") : strerror(-ret));
		return EXIT_FAIL;
	}
	fputs(reply, stdout);
	status = ctl_reply_ok(reply) ? 0 : EXIT_FAIL;
	free(reply);
	return status;
}

/* ---- memvmm probe ----------------------------------------------------- */

static int cmd_probe(int argc, char **argv)
{
	struct probe_config cfg;
	struct probe_report report;
	struct errmsg e = { 0 };
	char err[256];
	int ret;

	ret = options_parse_probe(argc, argv, &cfg, err, sizeof(err));
	if (ret == OPTIONS_HELP) {
		fputs(options_probe_help, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "memvmm probe: %s\n", err);
		return EXIT_USAGE;
	}
	ret = probe_collect(&report, &e);
	if (ret) {
		fprintf(stderr, "memvmm probe: %s\n", e.text);
		return EXIT_FAIL;
	}
	if (!cfg.json) {
		probe_print_table(&report);
		return 0;
	}
	if (probe_print_json(&report)) {
		fprintf(stderr, "memvmm probe: out of memory\n");
		return EXIT_FAIL;
	}
	return 0;
}

/*
 * With fd 0, 1 or 2 closed, memvmm's own fds (eventfds, guest memory) would
 * take their numbers and receive console or log output. Park /dev/null there.
 */
static int main_fill_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return -1;
	}
	return 0;
}

/* What main() returns, unless writing stdout failed (e.g. a full disk). */
static int main_finish(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "memvmm: writing standard output failed: %s\n", strerror(errno));
		return status ? status : EXIT_FAIL;
	}
	return status;
}

static int main_dispatch(int argc, char **argv, int sfd);

int main(int argc, char **argv)
{
	sigset_t stop_sigs;
	int sfd, status;

	main_start_ns = vm_now_ns();
	if (main_fill_std_fds())
		return EXIT_FAIL;
	/*
	 * `run` only (ctl and probe keep the default: Ctrl-C ends them). Before
	 * any thread exists, so every thread inherits the mask and only the
	 * signalfd ever sees these. They stay blocked until exit.
	 */
	sfd = -1;
	if (argc >= 2 && !strcmp(argv[1], "run")) {
		sigset_t block;

		main_stop_signals(&stop_sigs);
		block = stop_sigs;
		/* Map restore's lease breaks: read by the VM's own signalfd. */
		sigaddset(&block, mem_snap_map_signal());
		if (pthread_sigmask(SIG_BLOCK, &block, NULL)) {
			fprintf(stderr, "memvmm: cannot block signals\n");
			return EXIT_FAIL;
		}
		sfd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
		if (sfd < 0) {
			fprintf(stderr, "memvmm: signalfd failed: %s\n", strerror(errno));
			return EXIT_FAIL;
		}
	}
	status = main_finish(main_dispatch(argc, argv, sfd));
	if (sfd >= 0)
		close(sfd);
	return status;
}

static int main_dispatch(int argc, char **argv, int sfd)
{
	/* A closed stdout must not kill memvmm; the UART drops output instead. */
	signal(SIGPIPE, SIG_IGN);
	if (vcpu_init_signals()) {
		fprintf(stderr, "memvmm: cannot install signal handlers: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	if (argc < 2) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1, sfd);
	if (!strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
	if (!strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(main_help, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("memvmm %s\n", MEMVMM_VERSION);
		return 0;
	}
	fprintf(stderr, "memvmm: unknown command '%s' (commands: run, ctl, probe, help)\n",
		argv[1]);
	return EXIT_USAGE;
}
