/* libFuzzer target for clean/markup.c. Arbitrary bytes are first made what the function
 * accepts (valid UTF-8 without NUL: other bytes dropped); the output must be valid UTF-8
 * without NUL, bring in no control character the input lacked, grow by at most the one byte
 * that "&nGt;" adds per five, and come back unchanged, with a count of 0, when the count is
 * 0 or the text has neither '<' nor '&'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

/* Keeps the well-formed sequences of data other than NUL, in order. Returns the length. */
static size_t valid_utf8(const uint8_t *data, size_t size, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < size;) {
        size_t len = llm_utf8_seq_len(data + i, size - i);
        if (len == 0) {
            i++;
            continue;
        }
        if (data[i] != 0) {
            memcpy(out + n, data + i, len);
            n += len;
        }
        i += len;
    }
    return n;
}

static int is_utf8(const char *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len)
        if ((len = llm_utf8_seq_len((const unsigned char *)s + i, n - i)) == 0)
            return 0;
    return 1;
}

/* Whether valid UTF-8 s holds a character that text.c's repair would have removed or
 * turned into a newline: C0 controls but tab and newline, DEL, C1, LS, PS, U+FEFF. */
static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = llm_utf8_seq_len((const unsigned char *)s + i, n - i);
        uint32_t cp = llm_utf8_decode((const unsigned char *)s + i, len);
        if ((cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
            cp == 0x2029 || cp == 0xFEFF)
            return 1;
        i += len;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    promise(in != NULL);
    size_t n = valid_utf8(data, size, in);

    llm_buf out;
    llm_buf_init(&out);
    size_t count = clean_markup_strip(in, n, &out);
    promise(!llm_buf_failed(&out));
    const char *o = out.data ? out.data : "";
    promise(out.len <= n + n / 5);
    promise(memchr(o, 0, out.len) == NULL);
    promise(is_utf8(o, out.len));
    if (!has_control(in, n))
        promise(!has_control(o, out.len));
    int same = out.len == n && memcmp(o, in, n) == 0;
    if (count == 0)
        promise(same);
    if (!memchr(in, '<', n) && !memchr(in, '&', n))
        promise(count == 0 && same);

    /* Appending after existing text gives the same bytes after it. */
    llm_buf again;
    llm_buf_init(&again);
    llm_buf_append(&again, "x", 1);
    promise(clean_markup_strip(in, n, &again) == count);
    promise(again.len == out.len + 1 && memcmp(again.data + 1, o, out.len) == 0);

    llm_buf_free(&again);
    llm_buf_free(&out);
    free(in);
    return 0;
}
