/* SPDX-License-Identifier: MIT */
/*
 * PVH entry of the test guest: 32-bit protected mode, paging off, flat
 * segments, %ebx = physical address of struct hvm_start_info. Switches to
 * long mode with the first 4 GiB identity-mapped and calls guest_main().
 *
 * Ring-0 code runs in KVM's instruction emulator on the development host
 * (about 1.5 M instructions/s), so this path is kept short: the page tables
 * for 4 GiB are 2048 entries, written once.
 */
#include "cpu.h"

/* ---- PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY = 18, see abi.h) ---------- */

	.section .note.Xen, "a"
	.balign 4
	.long 4                 /* name size: "Xen\0" */
	.long 8                 /* descriptor size: the entry, as Linux does */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad pvh_start32

/* ---- 32-bit entry ------------------------------------------------------ */

	.section .text.boot, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	lgdt gdt_ptr
	ljmp $SEL_KCODE32, $1f
1:	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $kernel_stack_top, %esp

	/* The ABI does not promise a zeroed .bss; the page directories and
	 * stacks live in .noinit and are not cleared. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT; PDPT[0..3] -> the first four page directories. */
	movl $(pt_pdpt + PTE_TABLE), pt_pml4
	movl $(pt_pd_pool + PTE_TABLE), %eax
	xorl %ecx, %ecx
2:	movl %eax, pt_pdpt(, %ecx, 8)
	addl $PAGE_SIZE, %eax
	incl %ecx
	cmpl $BOOT_MAPPED_GIB, %ecx
	jne 2b

	/* 2048 2 MiB pages: [0, 4 GiB). Both halves of each entry are written
	 * because .noinit is not cleared. */
	movl $pt_pd_pool, %edi
	movl $PTE_LARGE, %eax
	movl $(BOOT_MAPPED_GIB * 512), %ecx
3:	movl %eax, (%edi)
	movl $0, 4(%edi)
	addl $(1 << LARGE_PAGE_SHIFT), %eax
	addl $8, %edi
	decl %ecx
	jnz 3b

	movl $pt_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $long_mode

/* ---- 64-bit ------------------------------------------------------------ */

	.code64
long_mode:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movq $kernel_stack_top, %rsp
	movl %ebx, %edi                 /* start info, untouched since entry */
	call guest_main                 /* does not return */
halt_loop:
	cli
	hlt
	jmp halt_loop

/*
 * Exception stubs for vectors 0..31. Each pushes a zero error code when the
 * CPU does not, then the vector, and joins trap_common, which passes the
 * frame (struct trap_frame in cpu.c) to trap_report(). Nothing returns,
 * except the #UD that ends a user_call().
 */
.macro TRAP_STUB vec
trap_stub_\vec:
	.if !(\vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	pushq $0
	.endif
	pushq $\vec
	jmp trap_common
.endm

#define EXCEPTION_VECTORS 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, \
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31

	.irp vec, EXCEPTION_VECTORS
	TRAP_STUB \vec
	.endr

trap_common:
	cmpq $VEC_UD, (%rsp)
	jne 1f
	cmpq $user_exit, 16(%rsp)       /* RIP, above vector and error */
	je user_return
1:	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	movq %rsp, %rdi
	andq $-16, %rsp
	call trap_report
	jmp halt_loop

/*
 * uint64_t user_call(uint64_t (*fn)(void *), void *arg)
 *
 * Enters ring 3 at user_entry with IRETQ. The way back is an exception: on
 * KVM without VMX/SVM, SYSCALL from ring 3 stays in ring 3 and SYSENTER and
 * INT n raise #UD, while exceptions are delivered through the IDT everywhere.
 * So ring 3 ends with UD2 at user_exit, and trap_common sends that #UD to
 * user_return. The kernel stack pointer, below the saved callee-saved
 * registers, is TSS.RSP0: the #UD (and any real exception in ring 3) lands
 * below them.
 */
	.globl user_call
user_call:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, tss + 4              /* TSS.RSP0 */
	pushq $(SEL_UDATA | 3)          /* SS */
	pushq $user_stack_top           /* RSP */
	pushq $RFLAGS_FIXED             /* RFLAGS */
	pushq $(SEL_UCODE | 3)          /* CS */
	pushq $user_entry               /* RIP */
	iretq

/* Ring 3: call fn(arg) and hand its result back in %rax. */
user_entry:
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax
user_exit:
	ud2

/* From trap_common: drop the #UD frame and return from user_call. */
user_return:
	movq tss + 4, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/* ---- data ---------------------------------------------------------------- */

	.section .rodata
	.balign 8
	.globl trap_stubs
trap_stubs:
	.irp vec, EXCEPTION_VECTORS
	.quad trap_stub_\vec
	.endr

	.data
	.balign 16
	.globl gdt
gdt:
	.quad 0                         /* null */
	.quad 0x00af9a000000ffff        /* SEL_KCODE: 64-bit, DPL 0 */
	.quad 0x00cf92000000ffff        /* SEL_KDATA */
	.quad 0x00cf9a000000ffff        /* SEL_KCODE32 */
	.quad 0x00affa000000ffff        /* SEL_UCODE: 64-bit, DPL 3 */
	.quad 0x00cff2000000ffff        /* SEL_UDATA: DPL 3 */
	.quad 0, 0                      /* SEL_TSS: filled by cpu_init() */
gdt_end:

	/* Loaded in 32-bit mode: limit and 32-bit base. */
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.balign PAGE_SIZE
	.globl pt_pml4, pt_pdpt
pt_pml4:
	.skip PAGE_SIZE
pt_pdpt:
	.skip PAGE_SIZE

	/* Not cleared at boot: every entry in use is written before use. */
	.section .noinit, "aw", @nobits
	.balign PAGE_SIZE
	.globl pt_pd_pool
pt_pd_pool:
	.skip MAX_MAPPED_GIB * PAGE_SIZE
	.globl pt_dyn_pool
pt_dyn_pool:                            /* paging_map() clears what it takes */
	.skip PT_DYN_PAGES * PAGE_SIZE
	.balign 16
	.skip KERNEL_STACK_SIZE
kernel_stack_top:
	.skip USER_STACK_SIZE
user_stack_top:
