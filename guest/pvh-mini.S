/* SPDX-License-Identifier: MIT */
/*
 * pvh-mini: the smallest PVH guest, in 32-bit assembly and written apart
 * from memvmm's test guest, to show that memvmm boots any guest that follows
 * the PVH boot ABI. It stays in 32-bit protected mode with paging off (so it
 * reads only what lies below 4 GiB), prints
 *
 *   pvh-mini: magic ok
 *   pvh-mini: cmdline=<command line>
 *   pvh-mini: memmap entries=<decimal> ram=0x<hex sum of type-1 sizes>
 *
 * on COM1 and resets the machine through the i8042. With a bad start info
 * magic it prints "pvh-mini: bad magic" and writes 1 to the exit device.
 */

#define COM1            0x3f8
#define COM1_LSR        (COM1 + 5)
#define LSR_THRE        0x20
#define TX_POLLS        65536
#define EXIT_PORT       0x501
#define I8042_STATUS    0x64
#define I8042_INPUT_FULL 0x02
#define I8042_RESET     0xfe
#define I8042_POLLS     65536
#define START_MAGIC     0x336ec578

/* struct hvm_start_info offsets and the memmap entry layout (abi.h). */
#define SI_MAGIC        0
#define SI_VERSION      4
#define SI_CMDLINE      24
#define SI_MEMMAP       40
#define SI_MEMMAP_COUNT 48
#define MM_ENTRY_SIZE   24
#define MM_SIZE         8
#define MM_TYPE         16
#define E820_RAM        1

	.section .note.Xen, "a"
	.balign 4
	.long 4, 8, 18                  /* "Xen", 8-byte entry, PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad start

	.text
	.code32
	.globl start
start:
	cli
	cld
	movl $stack_top, %esp
	movl %ebx, %ebp                 /* start info, kept in %ebp */
	cmpl $START_MAGIC, SI_MAGIC(%ebp)
	jne bad_magic

	movl $msg_magic, %esi
	call puts
	movl $msg_cmdline, %esi
	call puts
	movl SI_CMDLINE(%ebp), %esi     /* 0: no command line */
	testl %esi, %esi
	jz 1f
	call puts
1:	movb $'\n', %al
	call putc

	/* Sum the type-1 sizes into %edx:%ebx over %ecx entries at %edi. */
	xorl %ecx, %ecx
	cmpl $1, SI_VERSION(%ebp)       /* version 0 has no memmap */
	jb 2f
	movl SI_MEMMAP_COUNT(%ebp), %ecx
2:	movl SI_MEMMAP(%ebp), %edi
	xorl %ebx, %ebx
	xorl %edx, %edx
	pushl %ecx
	jecxz 4f
3:	cmpl $E820_RAM, MM_TYPE(%edi)
	jne 5f
	addl MM_SIZE(%edi), %ebx
	adcl MM_SIZE + 4(%edi), %edx
5:	addl $MM_ENTRY_SIZE, %edi
	loop 3b
4:	movl $msg_entries, %esi
	call puts
	popl %eax
	call put_dec
	movl $msg_ram, %esi
	call puts
	movl %edx, %eax                 /* high half, only if non-zero */
	testl %eax, %eax
	jz 6f
	call put_hex
	movl %ebx, %eax
	movl $8, %ecx                   /* low half, zero-padded */
	call put_hex_digits
	jmp 7f
6:	movl %ebx, %eax
	call put_hex
7:	movb $'\n', %al
	call putc

	/* Reset: wait for the controller's input buffer to drain, a bounded
	 * number of polls as Linux does, then pulse reset. */
	movl $I8042_POLLS, %ecx
8:	inb $I8042_STATUS, %al
	testb $I8042_INPUT_FULL, %al
	loopnz 8b
	movb $I8042_RESET, %al
	outb %al, $I8042_STATUS
	jmp halt

bad_magic:
	movl $msg_bad_magic, %esi
	call puts
	movl $1, %eax
	movw $EXIT_PORT, %dx
	outl %eax, %dx
halt:
	hlt
	jmp halt

/* putc(%al): waits (boundedly) for the transmitter, sends %al. */
putc:
	pushl %ecx
	pushl %edx
	pushl %eax
	movl $TX_POLLS, %ecx
	movw $COM1_LSR, %dx
1:	inb %dx, %al
	testb $LSR_THRE, %al
	loopz 1b
	popl %eax
	movw $COM1, %dx
	outb %al, %dx
	popl %edx
	popl %ecx
	ret

/* puts(%esi): sends the NUL-terminated string; %esi ends past it. */
puts:
	lodsb
	testb %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

/* put_dec(%eax): unsigned decimal. */
put_dec:
	pushl %edx
	pushl %ecx
	pushl %ebx
	movl $10, %ebx
	xorl %ecx, %ecx
1:	xorl %edx, %edx
	divl %ebx
	pushl %edx
	incl %ecx
	testl %eax, %eax
	jnz 1b
2:	popl %eax
	addb $'0', %al
	call putc
	loop 2b
	popl %ebx
	popl %ecx
	popl %edx
	ret

/* put_hex(%eax): hex without leading zeros. */
put_hex:
	pushl %ecx
	movl $8, %ecx
1:	cmpl $1, %ecx                   /* keep at least one digit */
	je 2f
	testl $0xf0000000, %eax
	jnz 2f
	shll $4, %eax
	decl %ecx
	jmp 1b
2:	call put_hex_digits
	popl %ecx
	ret

/* put_hex_digits(%eax, %ecx): the top %ecx nibbles of %eax, high first. */
put_hex_digits:
	pushl %ebx
	movl %eax, %ebx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movb hex_digits(%eax), %al
	call putc
	loop 1b
	popl %ebx
	ret

	.section .rodata
hex_digits:     .ascii "0123456789abcdef"
msg_magic:      .asciz "pvh-mini: magic ok\n"
msg_cmdline:    .asciz "pvh-mini: cmdline="
msg_entries:    .asciz "pvh-mini: memmap entries="
msg_ram:        .asciz " ram=0x"
msg_bad_magic:  .asciz "pvh-mini: bad magic\n"

	.bss
	.balign 16
	.skip 4096
stack_top:
