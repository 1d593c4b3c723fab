/* libFuzzer target for llm-clean's per-document path: arbitrary bytes as a text line or a
 * JSONL record, under options picked by the first byte. Whatever comes out must be one
 * line of valid JSON whose text is valid UTF-8 without control characters other than
 * newline and tab, and a malformed record must be reported, never half-written. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clean.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

static void check_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = llm_utf8_seq_len((const unsigned char *)s + i, n - i);
        promise(len > 0);
        promise(len > 1 || (unsigned char)s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t');
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++, size--;
    clean_opts o = {
        .in = flags & 1 ? CLEAN_IN_JSONL : CLEAN_IN_LINES,
        .field = "text",
        .norm = (llm_norm)((flags >> 1) % 3),
        .markup = !(flags & 8),
        .collapse_newlines = !!(flags & 16),
        .max_blank_lines = (flags >> 5) & 1,
        .quality = (clean_quality_preset)((flags >> 6) % 3),
    };
    clean_worker w;
    promise(clean_worker_init(&w, &o) == 0);
    char *doc = malloc(size + LLM_JSON_PADDING);
    promise(doc != NULL);
    memcpy(doc, data, size);
    memset(doc + size, 0, LLM_JSON_PADDING);
    llm_buf out;
    llm_buf_init(&out);
    clean_result res;
    clean_document(&o, &w, doc, size, &out, &res);
    if (res.reason) {
        promise(out.len == 0);
        promise((res.error != NULL) == (res.reason == CLEAN_REASON_MALFORMED || res.reason == CLEAN_REASON_NO_FIELD));
    } else {
        /* One line of JSON: an object whose "text" is clean. */
        promise(out.len == res.out_len && out.len > 0 && out.data[out.len - 1] == '\n');
        promise(memchr(out.data, '\n', out.len) == out.data + out.len - 1);
        llm_json_parser *p = llm_json_parser_new();
        llm_json root, text;
        const char *s;
        size_t n;
        promise(llm_json_parse(p, out.data, out.len - 1, 0, &root, NULL) == 0);
        promise(llm_json_field(root, "text", &text) == 1);
        promise(llm_json_get_string(text, &s, &n) == 0);
        check_text(s, n);
        promise(n > 0);
        llm_json_parser_free(p);
    }
    free(res.error);
    llm_buf_free(&out);
    free(doc);
    clean_worker_free(&w);
    return 0;
}
