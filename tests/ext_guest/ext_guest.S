/* SPDX-License-Identifier: MIT */
/*
 * ext_guest: entry from the Xen PVH boot ABI into long mode, and the
 * exception stubs. Written from the public PVH ABI (Xen's
 * docs/misc/pvh.pandoc and public/elfnote.h, arch-x86/hvm/start_info.h)
 * and the Intel/AMD manuals; see README.md for provenance.
 *
 * PVH entry state: 32-bit protected mode, paging off, flat code and data
 * segments, %ebx = physical address of struct hvm_start_info. Nothing else
 * (GDT, stack, IDT) may be assumed, so this file brings its own.
 */

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#define PTE_P 0x001
#define PTE_RW 0x002
#define PTE_PS 0x080
#define PAGE_BYTES 4096
#define HUGE_2M_BYTES 0x200000
/* The bootstrap map: the whole 32-bit space, 4 page directories. */
#define BOOT_PDS 4
#define BOOT_PD_ENTRIES (BOOT_PDS * 512)
#define STACK_BYTES (16 * 1024)

/*
 * The PVH entry note. The descriptor is 8 bytes, as in Linux's vmlinux:
 * readers that take the 32-bit entry from the first 4 bytes (Xen, newer
 * QEMU) and those that read a 64-bit value (QEMU up to 9.x) agree.
 * The note is 4-byte aligned, so the descriptor follows the 4-byte name
 * directly whether or not a reader rounds the name to the segment's
 * alignment.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz: "Xen\0" */
	.long 8				/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad ext_pvh_start

	.section .data
	.balign 16
ext_gdt:
	.quad 0				/* null */
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code, DPL 0, accessed */
	.quad 0x00cf93000000ffff	/* 0x10: flat 4 GiB data, accessed */
	.quad 0x00cf9b000000ffff	/* 0x18: flat 4 GiB 32-bit code, accessed */
ext_gdt_end:
	.balign 8
ext_gdt_ptr:
	.word ext_gdt_end - ext_gdt - 1
	.quad ext_gdt

	.section .bss
	.balign PAGE_BYTES
	.globl ext_boot_pml4
ext_boot_pml4:
	.skip PAGE_BYTES
ext_boot_pdpt:
	.skip PAGE_BYTES
ext_boot_pd:
	.skip BOOT_PDS * PAGE_BYTES
	.balign 16
ext_stack:
	.skip STACK_BYTES
ext_stack_top:

	.section .text.entry, "ax"
	.code32
	.globl ext_pvh_start
ext_pvh_start:
	cli
	cld
	mov %ebx, %esi			/* start_info, kept in %esi throughout */

	lgdt ext_gdt_ptr		/* 32-bit form: limit and a 32-bit base */
	ljmp $SEL_CODE32, $1f
1:	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss
	mov $ext_stack_top, %esp

	/* Zero .bss: a loader may leave it as it found it. */
	mov $ext_bss_start, %edi
	mov $ext_bss_end, %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; 2 MiB pages for 0..4 GiB. */
	mov $(ext_boot_pdpt + PTE_P + PTE_RW), %eax
	mov %eax, ext_boot_pml4
	mov $(ext_boot_pd + PTE_P + PTE_RW), %eax
	mov $ext_boot_pdpt, %edi
	mov $BOOT_PDS, %ecx
2:	mov %eax, (%edi)
	add $PAGE_BYTES, %eax
	add $8, %edi
	dec %ecx
	jnz 2b
	mov $ext_boot_pd, %edi
	mov $(PTE_P + PTE_RW + PTE_PS), %eax
	xor %ecx, %ecx
3:	mov %eax, (%edi,%ecx,8)
	add $HUGE_2M_BYTES, %eax
	inc %ecx
	cmp $BOOT_PD_ENTRIES, %ecx
	jb 3b

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $ext_boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PE | CR0_PG), %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $ext_long_entry

	.code64
ext_long_entry:
	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss
	mov $ext_stack_top, %rsp
	xor %ebp, %ebp
	mov %esi, %edi			/* ext_main(start_info physical address) */
	call ext_main
4:	cli
	hlt
	jmp 4b

/*
 * Exception vectors 0..31: one 16-byte stub each, so that the C code finds
 * stub N at ext_trap_stubs + 16 * N. Each leaves [vector, error code, rip,
 * cs, rflags, rsp, ss] on the stack (a 0 error code where the CPU pushes
 * none) and calls ext_trap(frame), which reports and exits.
 */
.macro TRAP vec, has_err
	.balign 16
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp ext_trap_common
.endm

	.text
	.balign 16
	.globl ext_trap_stubs
ext_trap_stubs:
	TRAP 0, 0
	TRAP 1, 0
	TRAP 2, 0
	TRAP 3, 0
	TRAP 4, 0
	TRAP 5, 0
	TRAP 6, 0
	TRAP 7, 0
	TRAP 8, 1
	TRAP 9, 0
	TRAP 10, 1
	TRAP 11, 1
	TRAP 12, 1
	TRAP 13, 1
	TRAP 14, 1
	TRAP 15, 0
	TRAP 16, 0
	TRAP 17, 1
	TRAP 18, 0
	TRAP 19, 0
	TRAP 20, 0
	TRAP 21, 1
	TRAP 22, 0
	TRAP 23, 0
	TRAP 24, 0
	TRAP 25, 0
	TRAP 26, 0
	TRAP 27, 0
	TRAP 28, 0
	TRAP 29, 1
	TRAP 30, 1
	TRAP 31, 0

ext_trap_common:
	mov %rsp, %rdi
	and $-16, %rsp
	call ext_trap
5:	cli
	hlt
	jmp 5b

	.section .note.GNU-stack, "", @progbits
