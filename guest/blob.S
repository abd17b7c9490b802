/* SPDX-License-Identifier: MIT */
/*
 * The test guest's ELF file as read-only data, so that memvmm can boot it
 * without a file on disk. Built with -DGUEST_ELF_PATH="<path of the ELF>".
 */
	.section .rodata.memvmm_guest_elf, "a"
	.balign 16
	.globl memvmm_guest_elf_start, memvmm_guest_elf_end
	.type memvmm_guest_elf_start, @object
	.type memvmm_guest_elf_end, @object
memvmm_guest_elf_start:
	.incbin GUEST_ELF_PATH
memvmm_guest_elf_end:
	.size memvmm_guest_elf_start, memvmm_guest_elf_end - memvmm_guest_elf_start

	.section .note.GNU-stack, "", @progbits
