/* libFuzzer target for llm-collate's parsers: the first byte chooses what the rest is.
 *   even: a template file (collate/template.c); when it parses, it is bound to GPT-2's
 *         tokenizer and renders two fixed chats, one with tool use;
 *   odd:  a JSONL record (collate/record.c), read in every schema and rendered through the
 *         alpaca and plain templates and one with every tool line (render.c, encode.c).
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
    static const char *const chats[] = {
        "{\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"<think>r</think>a\"}]}",
        "{\"system\":\"s\",\"tools\":[{\"name\":\"f\",\"p\":[1,0.5,null]}],\"messages\":[{\"role\":\"user\","
        "\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
        "\"arguments\":{\"x\":1}}},{\"name\":\"g\",\"arguments\":\"{}\"}]},{\"role\":\"tool\",\"content\":\"r\"},"
        "{\"role\":\"tool\",\"content\":\"s\"},{\"role\":\"assistant\",\"content\":\"a\",\"reasoning_content\":\"t\"}]}",
    };
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
        for (size_t i = 0; i < sizeof chats / sizeof *chats; i++) {
            promise(llm_json_parse(p, chats[i], strlen(chats[i]), 0, &root, &err) == 0);
            if (col_read_record(root, COL_SCHEMA_AUTO, NULL, &ex, msg, sizeof msg) == COL_OK)
                render(t, &ex);
        }
        col_example_free(&ex);
        llm_json_parser_free(p);
    }
    col_template_free(t);
}

/* A template with every tool line, and only GPT-2's special tokens. */
static const char tools_src[] =
    "tools = \"T {system}[{tools}]\\n\"\nsystem = \"S {content}\\n\"\nuser = \"U {content}\\n\"\n"
    "tool_start = \"R\"\ntool = \" ({content})\"\ntool_end = \"\\n\"\nassistant_start = \"A \"\n"
    "assistant = \"{content}{tool_calls}{eos}\"\n"
    "assistant_last = \"<think>{reasoning}</think>{content}{tool_calls}{eos}\"\n"
    "tool_call = \"{name}<{arguments}>\"\ntool_call_sep = \"; \"\n";

static void fuzz_record(const char *s, size_t n)
{
    static col_template *tmpl[3];
    static const char *const names[2] = {"alpaca", "plain"};
    llm_error err;
    for (int i = 0; i < 3; i++)
        if (!tmpl[i]) {
            tmpl[i] = i < 2 ? col_template_load(names[i], &err)
                            : col_template_parse(tools_src, sizeof tools_src - 1, "tools", &err);
            promise(tmpl[i] != NULL);
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
                for (int i = 0; i < 3; i++)
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
