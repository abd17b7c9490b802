// SPDX-License-Identifier: MIT
/*
 * The CPU model with what is around it (tests/test_cpu_model.c has the
 * model alone): the SPEC in a snapshot's /config, a vCPU that takes a model
 * (KVM), and the memvmm binary (--cpu help and refusals without KVM; the
 * test guest under a model with it).
 */
#include <fcntl.h>
#include <libfdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "tests/e2e.h"
#include "tests/test.h"
#include "tests/test_cpu_model.h"
#include "vmm/cpu_features.h"
#include "vmm/cpu_model.h"
#include "vmm/snap_state.h"
#include "vmm/vcpu.h"

#define EDIT_ROOM_BYTES 4096

/* ---- the snapshot's /config ------------------------------------------------ */

static void minimal_state(struct snap_state *s, const char *cpu)
{
	memset(s, 0, sizeof(*s));
	s->version = SNAP_FORMAT_VERSION;
	s->id = 9;
	s->cfg.mem_size = 64u << 20;
	snprintf(s->cfg.backend, sizeof(s->cfg.backend), "anon");
	snprintf(s->cfg.populate, sizeof(s->cfg.populate), "auto");
	snprintf(s->cfg.prefault, sizeof(s->cfg.prefault), "auto");
	snprintf(s->cfg.thp, sizeof(s->cfg.thp), "auto");
	snprintf(s->cfg.cpu, sizeof(s->cfg.cpu), "%s", cpu);
	s->cfg.vcpus = 1;
	s->nr_regions = 1;
	snprintf(s->region[0].role, sizeof(s->region[0].role), "ram");
	s->region[0].size = 64u << 20;
	snprintf(s->region[0].backend, sizeof(s->region[0].backend), "anon");
	snprintf(s->region[0].file, sizeof(s->region[0].file), "mem-0.raw");
	s->nr_vcpus = 1;
	s->vcpu = calloc(1, sizeof(*s->vcpu));
	TEST_ASSERT(s->vcpu, "calloc");
	s->irq.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->irq.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->irq.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
}

/* Build s, set /config/cpu to value (NULL: delete it), reseal, parse into out. */
static int rebuild(const struct snap_state *s, const char *value, struct snap_state *out,
		   char *why, size_t whylen)
{
	void *blob, *ed;
	size_t len;
	int node, ret;

	TEST_OK(snap_state_build(s, &blob, &len));
	ed = calloc(1, len + EDIT_ROOM_BYTES);
	TEST_ASSERT(ed && fdt_open_into(blob, ed, (int)(len + EDIT_ROOM_BYTES)) == 0, "open");
	node = fdt_path_offset(ed, "/config");
	TEST_ASSERT(node >= 0, "/config");
	if (value)
		TEST_ASSERT(fdt_setprop_string(ed, node, "cpu", value) == 0, "setprop");
	else
		TEST_ASSERT(fdt_delprop(ed, node, "cpu") == 0, "delprop");
	TEST_ASSERT(fdt_pack(ed) == 0, "pack");
	TEST_OK(snap_state_seal(ed, fdt_totalsize(ed)));
	ret = snap_state_parse(ed, fdt_totalsize(ed), out, why, whylen);
	free(ed);
	free(blob);
	return ret;
}

void cpu_test_run_snapshot(const void *arg)
{
	struct snap_state s, back;
	char why[ERR_BYTES] = "", huge[CPU_MODEL_SPEC_BYTES + 8];
	struct cpu_model m;
	void *blob;
	size_t len;
	(void)arg;

	minimal_state(&s, "host,-cx16,-xsave,+lm");
	TEST_OK(rebuild(&s, "host,-cx16,-xsave,+lm", &back, why, sizeof(why)));
	TEST_ASSERT(!strcmp(back.cfg.cpu, "host,-cx16,-xsave,+lm"), "round trip: '%s'", back.cfg.cpu);
	cpu_test_parse_ok(back.cfg.cpu, &m);
	TEST_ASSERT(cpu_test_clears(&m, "avx2") && cpu_test_clears(&m, "cx16"), "the model comes back");
	snap_state_release(&back);
	/* What snap_state_build() writes, untouched. */
	TEST_OK(snap_state_build(&s, &blob, &len));
	TEST_OK(snap_state_parse(blob, len, &back, why, sizeof(why)));
	TEST_ASSERT(!strcmp(back.cfg.cpu, s.cfg.cpu), "built: '%s'", back.cfg.cpu);
	snap_state_release(&back);
	free(blob);
	/* Older snapshots have no cpu: host. */
	TEST_OK(rebuild(&s, NULL, &back, why, sizeof(why)));
	TEST_ASSERT(back.cfg.cpu[0] == '\0', "no /config/cpu: host");
	snap_state_release(&back);
	/* Host writes no property at all. */
	snap_state_release(&s);
	minimal_state(&s, "");
	TEST_OK(snap_state_build(&s, &blob, &len));
	TEST_ASSERT(fdt_getprop(blob, fdt_path_offset(blob, "/config"), "cpu", NULL) == NULL,
		    "host: no property");
	free(blob);
	/* Refused: a SPEC memvmm would refuse, an over-long one, and on build too. */
	TEST_ASSERT(rebuild(&s, "-lm", &back, why, sizeof(why)) == -EINVAL &&
		    strstr(why, "/config/cpu: item '-lm' is refused"), "-lm: %s", why);
	TEST_ASSERT(rebuild(&s, "-nosuch", &back, why, sizeof(why)) == -EINVAL &&
		    strstr(why, "/config/cpu: unknown feature 'nosuch'"), "unknown: %s", why);
	memset(huge, 'x', sizeof(huge) - 1);
	huge[0] = '-';
	huge[sizeof(huge) - 1] = '\0';
	TEST_ASSERT(rebuild(&s, huge, &back, why, sizeof(why)) == -EINVAL &&
		    strstr(why, "/config/cpu") && strstr(why, "at most 256 allowed"), "long: %s", why);
	snprintf(s.cfg.cpu, sizeof(s.cfg.cpu), "-cx16,,");
	TEST_ASSERT(snap_state_build(&s, &blob, &len) == -EINVAL, "build takes a bad SPEC");
	snap_state_release(&s);
	TEST_PASS("snapshot: /config/cpu round trip, absent is host, bad ones refused");
}

/* ---- with KVM -------------------------------------------------------------- */

void cpu_test_run_kvm(const void *arg)
{
	struct kvm_cpuid2 *tmpl = NULL;
	static char text[TEXT_BYTES];
	char err[ERR_BYTES] = "";
	struct cpu_model m;
	struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
	const char *line;
	int sys, vm, vcpu;
	(void)arg;

	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_REQUIRE(sys >= 0, "no usable /dev/kvm");
	vm = ioctl(sys, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	TEST_ASSERT(vcpu >= 0, "KVM_CREATE_VCPU");
	TEST_OK(vcpu_supported_cpuid(sys, &tmpl));
	TEST_REQUIRE((LEAF(tmpl, 1, 0)->ecx & BITS(26, 28)) == BITS(26, 28),
		     "this host's KVM offers no XSAVE and AVX");
	cpu_test_parse_ok("-cx16,-avx", &m);
	TEST_OK(cpu_model_apply(&m, tmpl, err, sizeof(err)));
	TEST_ASSERT(ioctl(vcpu, KVM_SET_CPUID2, tmpl) == 0, "KVM_SET_CPUID2 takes the model");
	TEST_OK(cpu_model_vcpu_text(sys, vcpu, &m, text, sizeof(text)));
	line = strstr(text, "\n  XSAVE components:");
	TEST_ASSERT(strstr(text, "CPU model: -cx16,-avx") && strstr(text, "off:") &&
		    strstr(text, " cx16") && (strstr(text, " avx ") || strstr(text, " avx\n")) && line &&
		    (!strstr(line, " ymm") || strstr(line, " ymm") > strchr(line + 1, '\n')),
		    "vCPU text:\n%s", text);
	/* KVM holds the guest to it: XCR0 with YMM state is refused, x87|SSE is not. */
	xcrs.xcrs[0].value = 0x7;
	TEST_ASSERT(ioctl(vcpu, KVM_SET_XCRS, &xcrs) < 0, "XCR0 with YMM accepted");
	xcrs.xcrs[0].value = 0x3;
	TEST_ASSERT(ioctl(vcpu, KVM_SET_XCRS, &xcrs) == 0, "XCR0 x87|SSE refused");
	free(tmpl);
	close(vcpu);
	close(vm);
	close(sys);
	TEST_PASS("kvm: a vCPU takes the model and KVM enforces it");
}

/* ---- the memvmm binary --------------------------------------------------- */

static void expect_run(const char *const *args, int status, const char *where, const char *want)
{
	struct e2e_result r;
	const char *text;

	e2e_run(args, NULL, &r);
	E2E_EXPECT_STATUS(&r, status);
	text = !strcmp(where, "stdout") ? r.out : r.err;
	TEST_ASSERT(strstr(text, want), "%s lacks '%s':\n%s", where, want, text);
	e2e_free(&r);
}

/* What needs no KVM: --cpu help, refusals at parse time (exit 2). */
void cpu_test_run_cli(const void *arg)
{
	const char *const help[] = { "run", "--cpu", "help", NULL };
	const char *const unknown[] = { "run", "--cpu", "-cx16,-nosuch", NULL };
	const char *const lm[] = { "run", "--cpu=-lm", NULL };
	const char *const restore[] = { "run", "--restore", "snap", "--cpu", "-cx16", NULL };
	const char *const usage[] = { "run", "--help", NULL };
	(void)arg;

	expect_run(help, 0, "stdout", "\ncx16                 0x1.0 ECX[13]\n");
	expect_run(unknown, 2, "stderr", "memvmm run: --cpu: unknown feature 'nosuch' in item "
		   "'-nosuch'; memvmm run --cpu help lists the names");
	expect_run(lm, 2, "stderr", "--cpu: item '-lm' is refused");
	expect_run(restore, 2, "stderr", "--cpu cannot be used with --restore");
	expect_run(usage, 0, "stdout", "--cpu SPEC");
	TEST_PASS("cli: --cpu help, refusals exit 2");
}

/* The test guest under a model; a +NAME this KVM lacks is exit 2 naming it. */
void cpu_test_run_memvmm_kvm(const void *arg)
{
	const char *const run[] = { "run", "--debug", "--cpu", "-cx16,-xsave", "--cmdline",
				    "touch=4M verify report", NULL };
	const char *keep[] = { "run", "--cpu", NULL, NULL };
	struct kvm_cpuid2 *tmpl = NULL;
	char plus[64], want[128];
	int sys, i;
	(void)arg;

	e2e_require_kvm();
	expect_run(run, 0, "stderr", "CPU model: -cx16,-xsave\n");
	expect_run(run, 0, "stderr", "\n  XSAVE components: none\n");
	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_ASSERT(sys >= 0, "/dev/kvm");
	TEST_OK(vcpu_supported_cpuid(sys, &tmpl));
	for (i = 0; i < CF_NR_FEATURES; i++) {
		const struct cpu_feature *f = &cpu_features[i];
		struct kvm_cpuid_entry2 *e = NULL;

		for (uint32_t j = 0; j < tmpl->nent; j++)
			if (tmpl->entries[j].function == f->leaf && tmpl->entries[j].index == f->subleaf)
				e = &tmpl->entries[j];
		if (f->use == CPU_USE_FREE && e &&
		    !((f->reg == CPU_EAX ? e->eax : f->reg == CPU_EBX ? e->ebx :
		       f->reg == CPU_ECX ? e->ecx : e->edx) >> f->bit & 1))
			break;
	}
	free(tmpl);
	close(sys);
	TEST_REQUIRE(i < CF_NR_FEATURES, "this host's KVM offers every feature memvmm names");
	snprintf(plus, sizeof(plus), "+%s", cpu_features[i].name);
	snprintf(want, sizeof(want), "this host's KVM does not offer %s", cpu_features[i].name);
	keep[2] = plus;
	expect_run(keep, 2, "stderr", want);
	TEST_PASS("memvmm: the guest runs under -cx16,-xsave; --debug shows it; +NAME refused");
}
