// SPDX-License-Identifier: MIT
/* Configure-time check: clang links a libFuzzer program with ASan and UBSan. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return 0;
}
