/* libFuzzer target for llm-collate's parsers: the first byte chooses what the rest is.
 *   even: a template file (collate/template.c); when it parses, it is bound to GPT-2's
 *         tokenizer and renders a fixed chat;
 *   odd:  a JSONL record (collate/record.c), read in every schema and rendered through the
 *         alpaca and plain templates (render.c, encode.c).
 * Errors are fine; crashes, leaks, and ids and masks of different lengths are not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

static llm_tokenizer *gpt2(void)
{
    static llm_tokenizer *tok;
    llm_error err;
    if (!tok)
        tok = llm_tokenizer_load_default(NULL, &err);
    promise(tok != NULL);
    return tok;
}

/* Renders ex through t, encoded and as text; the ids and the mask must match in length. */
static void render(const col_template *t, const col_example *ex)
{
    for (int text_only = 0; text_only < 2; text_only++) {
        col_builder b;
        llm_ids ids;
        llm_buf mask, text, spans;
        llm_error err;
        char msg[256];
        llm_ids_init(&ids);
        llm_buf_init(&mask);
        llm_buf_init(&text);
        llm_buf_init(&spans);
        promise(col_builder_init(&b, gpt2(), text_only) == 0);
        col_builder_start(&b, &ids, &mask, &text, &spans);
        for (int mode = 0; mode < 3; mode++) {
            col_render_opts o = {.tmpl = t, .train_on_inputs = mode == 1, .last_turn_only = mode == 2};
            col_render(&o, ex, &b, msg, sizeof msg, &err);
            promise(ids.len == mask.len);
            for (size_t i = 0; i < ids.len; i++)
                promise(ids.data[i] < llm_tokenizer_vocab_size(gpt2()));
        }
        col_builder_free(&b);
        llm_ids_free(&ids);
        llm_buf_free(&mask);
        llm_buf_free(&text);
        llm_buf_free(&spans);
    }
}

static void fuzz_template(const char *src, size_t n)
{
    static const char chat[] = "{\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                               "{\"role\":\"assistant\",\"content\":\"<think>r</think>a\"}]}";
    llm_error err;
    col_template *t = col_template_parse(src, n, "fuzz", &err);
    if (!t)
        return;
    if (col_template_bind(t, gpt2(), &err) == 0) {
        llm_json_parser *p = llm_json_parser_new();
        llm_json root;
        col_example ex = {0};
        char msg[256];
        promise(p != NULL);
        promise(llm_json_parse(p, chat, sizeof chat - 1, 0, &root, &err) == 0);
        if (col_read_record(root, COL_SCHEMA_AUTO, NULL, &ex, msg, sizeof msg) == COL_OK)
            render(t, &ex);
        col_example_free(&ex);
        llm_json_parser_free(p);
    }
    col_template_free(t);
}

static void fuzz_record(const char *s, size_t n)
{
    static col_template *tmpl[2];
    static const char *const names[2] = {"alpaca", "plain"};
    llm_error err;
    for (int i = 0; i < 2; i++)
        if (!tmpl[i]) {
            promise((tmpl[i] = col_template_load(names[i], &err)) != NULL);
            promise(col_template_bind(tmpl[i], gpt2(), &err) == 0);
        }
    llm_json_parser *p = llm_json_parser_new();
    llm_json root;
    promise(p != NULL);
    if (llm_json_parse(p, s, n, 0, &root, &err) == 0) {
        col_example ex = {0};
        char msg[256];
        for (int schema = COL_SCHEMA_AUTO; schema <= COL_SCHEMA_QUERY; schema++)
            if (col_read_record(root, (col_schema)schema, "sys", &ex, msg, sizeof msg) == COL_OK)
                for (int i = 0; i < 2; i++)
                    render(tmpl[i], &ex);
        col_example_free(&ex);
    }
    llm_json_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 1 << 16)
        return 0;
    if (data[0] % 2 == 0)
        fuzz_template((const char *)data + 1, size - 1);
    else
        fuzz_record((const char *)data + 1, size - 1);
    return 0;
}
