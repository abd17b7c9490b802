// SPDX-License-Identifier: MIT
/*
 * memvmm's front end: the only place that prints errors and picks exit codes.
 *   0..255  the guest's status (run), 0 on success otherwise
 *   1       host or VMM failure, triple fault
 *   2       bad command-line input (the message names the bad value)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm/options.h"
#include "vmm/probe.h"
#include "vmm/vm.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char main_help[] =
	"usage: memvmm COMMAND [OPTIONS]\n"
	"\n"
	"A minimal KVM VMM for guest-memory work (guest_memfd, population, hotplug).\n"
	"\n"
	"commands:\n"
	"  run      boot a guest (default: the bundled test guest on guest_memfd)\n"
	"  probe    show what this host's kernel supports\n"
	"  help     this text\n"
	"\n"
	"`memvmm COMMAND --help` describes each command. --version prints the version.\n";

static uint64_t main_start_ns;

struct run_summary {
	const struct run_config *cfg;
};

/* One line on stderr once the guest is about to run: what was set up and how fast. */
static void print_started(struct vm *vm, void *arg)
{
	const struct run_summary *s = arg;

	if (s->cfg->quiet)
		return;
	fprintf(stderr, "memvmm: %s, %lluM on %s (%u region%s), %u vCPU%s; "
		"first guest instruction %.2f ms after start\n",
		s->cfg->kernel ? s->cfg->kernel : "bundled test guest",
		(unsigned long long)(vm->mem.ram_size >> 20), vm->mem.ops->name,
		vm->mem.nr_regions, vm->mem.nr_regions == 1 ? "" : "s",
		vm->nr_vcpus, vm->nr_vcpus == 1 ? "" : "s",
		(double)(vm->first_run_ns - main_start_ns) / 1e6);
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
	}
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
	case VM_STOP_SHUTDOWN:
		return "guest shut down (triple fault)";
	case VM_STOP_SIGNAL:
		return "stopped by signal";
	case VM_STOP_ERROR:
		return "stopped on error";
	default:
		return "stopped";
	}
}

static int cmd_run(int argc, char **argv)
{
	struct run_summary summary;
	struct run_config cfg;
	struct errmsg e = { 0 };
	char err[256];
	struct vm vm;
	int ret, status;

	ret = options_parse_run(argc, argv, &cfg, err, sizeof(err));
	if (ret == OPTIONS_HELP) {
		fputs(options_run_help, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "memvmm run: %s\n", err);
		return EXIT_USAGE;
	}
	ret = vm_create(&vm, &cfg, &e);
	if (vm.backend_note[0] && !cfg.quiet)
		fprintf(stderr, "memvmm: note: using %s, not guest_memfd: %s\n",
			vm.mem.ops ? vm.mem.ops->name : "memfd", vm.backend_note);
	if (ret) {
		/*
		 * Release guest memory before anything else: after a failed
		 * population the host (or memory cgroup) may have no room left
		 * even for the pages printing would touch.
		 */
		vm_destroy(&vm);
		fprintf(stderr, "memvmm: %s\n", e.text);
		return e.bad_input ? EXIT_USAGE : EXIT_FAIL;
	}
	if (!cfg.quiet)
		print_memory(&vm);
	summary.cfg = &cfg;
	status = vm_run(&vm, print_started, &summary);
	if (!cfg.quiet)
		fprintf(stderr, "memvmm: %s, exit status %d\n", stop_description(vm.stop_reason),
			status);
	vm_destroy(&vm);
	return status;
}

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

static int main_dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
	main_start_ns = vm_now_ns();
	if (main_fill_std_fds())
		return EXIT_FAIL;
	return main_finish(main_dispatch(argc, argv));
}

static int main_dispatch(int argc, char **argv)
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
		return cmd_run(argc - 1, argv + 1);
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
	fprintf(stderr, "memvmm: unknown command '%s' (commands: run, probe, help)\n", argv[1]);
	return EXIT_USAGE;
}
