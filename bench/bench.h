/* SPDX-License-Identifier: MIT */
/*
 * memvmm-bench: benchmarks that print tables, compared within one run.
 * Each benchmark returns the exit status: 0, 1 (failed or wrong result),
 * 2 (bad input).
 */
#ifndef MEMVMM_BENCH_H
#define MEMVMM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

struct bench_opts {
	unsigned int repeat;        /* --repeat, default 5 */
	uint64_t size;              /* --size, 0: the benchmark's default */
	const char *out;            /* --out FILE, NULL for none */
	unsigned int threads;       /* --threads, default online CPUs */
	bool threads_set;
};

int bench_populate_table(const struct bench_opts *o);
int bench_gmem_fill(const struct bench_opts *o);
int bench_guest_touch(const struct bench_opts *o);
int bench_vs_qemu(const struct bench_opts *o);
int bench_vmem_plug(const struct bench_opts *o);

/* "512M", "3G", "4K", or bytes: the shortest exact form. */
void bench_fmt_size(uint64_t bytes, char *buf, size_t len);

/* {"repeat":..,"size":..,"threads":..} for the JSON output; caller puts it. */
struct json_object *bench_opts_json(const struct bench_opts *o, uint64_t size);

/* Online CPUs (the default for --threads). */
unsigned int bench_online_cpus(void);

/*
 * KVM VM (KVM_CREATE_VM, default type) for guest_memfd: fd or -errno, with
 * *kvm_fd set so that both can be closed.
 */
int bench_kvm_vm(int *kvm_fd);

/*
 * 2 MiB huge pages: make at least `pages` free (raising
 * /proc/sys/vm/nr_hugepages). The old value is put back at exit, on
 * fatal signals too. 0, or -errno when the host cannot.
 */
int bench_hugepages_reserve(uint64_t pages);
void bench_hugepages_restore(void);

/*
 * memvmm for guest-touch and vs-qemu: $MEMVMM, else ../memvmm next to this
 * program's directory, else the path meson built it at. Prints why not.
 */
int bench_memvmm_path(char *buf, size_t len);

/* qemu-system-x86_64 in PATH (vs-qemu, vmem-plug), into buf; false if none. */
bool bench_find_qemu(char *buf, size_t len);

struct proc_result;
/* "memvmm: memory populated in X ms" on memvmm's stderr: X, or NAN. */
double bench_memvmm_populated_ms(const char *err_text);
/*
 * 0 if memvmm exited 0; -EOPNOTSUPP when it refused (exit 1 or 2), else
 * -EIO/-ETIMEDOUT; why gets its message.
 */
int bench_memvmm_refusal(const struct proc_result *r, char *why, size_t len);

#endif /* MEMVMM_BENCH_H */
