/*
 * libFuzzer target for html_text(): any bytes must give valid UTF-8
 * without a crash, a leak or a sanitizer report, and no more text than
 * the bound its layout allows (quote markers and list indents are
 * capped, so each byte of markup yields a bounded amount of text). See
 * README.md for running it with the seed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html_text.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = html_text((const char *)data, size);
	size_t len = strlen(text);

	if (!text_is_clean(text, len) || len > 16 * size + 64)
		abort();
	free(text);
	return 0;
}
