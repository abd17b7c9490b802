// SPDX-License-Identifier: MIT
#include "tests/elf_build.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test.h"

_Static_assert(ELF_BUILD_PHDR_OFF == sizeof(Elf64_Ehdr), "program headers follow the header");
_Static_assert(ELF_RAW_DATA_OFF(1) == sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), "raw layout");
_Static_assert(ELF_PVH_NOTE_BYTES == sizeof(Elf64_Nhdr) + 4 + 8, "PVH note size");

static void put_header(Elf64_Ehdr *eh, unsigned int phnum, uint64_t entry)
{
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = ELF_BUILD_PHDR_OFF;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (Elf64_Half)phnum;
}

void *elf_build(const struct elf_build_opts *o, size_t *len)
{
	const size_t name_len = o->note_align == 8 ? 8 : 4;  /* "Xen\0", padded */
	const size_t note_len = sizeof(Elf64_Nhdr) + 8 + 8;
	const size_t code_off = ELF_BUILD_NOTE_OFF + note_len;
	size_t total = code_off + o->code_len;
	uint8_t *buf = calloc(1, total);
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + ELF_BUILD_PHDR_OFF);
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = (Elf64_Word)o->note,
			  .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
	uint8_t *note = buf + ELF_BUILD_NOTE_OFF;

	TEST_ASSERT(buf, "calloc");
	put_header((Elf64_Ehdr *)buf, 2, o->entry);
	ph[0] = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X, .p_offset = code_off,
		.p_vaddr = o->paddr, .p_paddr = o->paddr, .p_filesz = o->code_len,
		.p_memsz = o->code_len + o->bss_len, .p_align = 16,
	};
	ph[1] = (Elf64_Phdr){
		.p_type = PT_NOTE, .p_flags = PF_R, .p_offset = ELF_BUILD_NOTE_OFF,
		.p_filesz = o->note ? sizeof(nh) + name_len + (size_t)o->note : 0,
		.p_align = o->note_align == 8 ? 8 : 4,
	};
	if (o->note) {
		memcpy(note, &nh, sizeof(nh));
		memcpy(note + sizeof(nh), "Xen", 4);
		memcpy(note + sizeof(nh) + name_len, &o->entry, (size_t)o->note);
	}
	memcpy(buf + code_off, o->code, o->code_len);
	*len = total;
	return buf;
}

void *elf_build_raw(const void *phdrs, unsigned int nr, size_t data_len, size_t *len)
{
	size_t total = ELF_RAW_DATA_OFF(nr) + data_len;
	uint8_t *buf = calloc(1, total);

	TEST_ASSERT(buf, "calloc %zu", total);
	TEST_ASSERT(nr <= 0xffff, "%u program headers do not fit e_phnum", nr);
	put_header((Elf64_Ehdr *)buf, nr, 0);
	memcpy(buf + ELF_BUILD_PHDR_OFF, phdrs, nr * sizeof(Elf64_Phdr));
	*len = total;
	return buf;
}

void elf_put_pvh_note(void *at, uint64_t entry)
{
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 8, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
	uint8_t *p = at;

	memcpy(p, &nh, sizeof(nh));
	memcpy(p + sizeof(nh), "Xen", 4);
	memcpy(p + sizeof(nh) + 4, &entry, 8);
}

char *elf_write_temp(const void *buf, size_t len, const char *tag)
{
	char *path = NULL;
	FILE *f;
	int fd;

	TEST_ASSERT(asprintf(&path, "/tmp/memvmm-test-%s-XXXXXX", tag) > 0, "asprintf");
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0, "mkstemp %s", path);
	f = fdopen(fd, "wb");
	TEST_ASSERT(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0, "write %s", path);
	return path;
}
