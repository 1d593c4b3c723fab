/* One document of llm-tokenize: its text found (a JSONL member, or the line or input
 * itself), encoded, and framed by BOS and EOS as the plan says. */
#include "tokenize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t tok_bos_id(const llm_tokenizer *t)
{
    /* tiktoken's encodings have no BOS of their own; GPT-2 starts a text with <|endoftext|>
     * (Hugging Face's GPT2Tokenizer: bos_token = eos_token). */
    int64_t bos = llm_tokenizer_bos(t);
    return bos >= 0 ? bos : llm_tokenizer_eos(t);
}

int tok_worker_init(tok_worker *w, const tok_plan *p)
{
    w->enc = llm_encoder_new(p->tokenizer, 0);
    w->json = p->opts->in == TOK_IN_LINES || p->opts->in == TOK_IN_WHOLE ? NULL : llm_json_parser_new();
    if (!w->enc || (!w->json && (p->opts->in == TOK_IN_AUTO || p->opts->in == TOK_IN_JSONL))) {
        tok_worker_free(w);
        return -1;
    }
    return 0;
}

void tok_worker_free(tok_worker *w)
{
    llm_encoder_free(w->enc);
    llm_json_parser_free(w->json);
    w->enc = NULL;
    w->json = NULL;
}

static void set_error(tok_result *res, int fatal, const char *fmt, ...) LLM_PRINTF(3, 4);
static void set_error(tok_result *res, int fatal, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    res->error = strdup(msg);
    res->fatal = fatal || !res->error;
}

/* The text of a JSONL record: 0, or -1 with the error set. */
static int json_text(const tok_plan *p, tok_worker *w, const char *doc, size_t len, const char **text,
                     size_t *n, tok_result *res)
{
    llm_json root, v;
    llm_error err;
    const char *field = p->opts->field;
    if (llm_json_parse(w->json, doc, len, 1, &root, &err) < 0) {
        set_error(res, 0, "malformed JSON: %s", err.msg);
        return -1;
    }
    if (llm_json_type_of(root) != LLM_JSON_OBJECT) {
        set_error(res, 0, "malformed JSON: a record must be an object, got %s",
                  llm_json_type_name(llm_json_type_of(root)));
        return -1;
    }
    if (!llm_json_field(root, field, &v)) {
        set_error(res, 0, "malformed JSON: no \"%s\" member", field);
        return -1;
    }
    if (llm_json_get_string(v, text, n) < 0) {
        set_error(res, 0, "malformed JSON: \"%s\" is %s, not a string", field,
                  llm_json_type_name(llm_json_type_of(v)));
        return -1;
    }
    return 0;
}

void tok_document(const tok_plan *p, tok_worker *w, int jsonl, const char *doc, size_t len, llm_ids *ids,
                  tok_result *res)
{
    memset(res, 0, sizeof *res);
    res->ids_off = ids->len;
    const char *text = doc;
    size_t n = len;
    if (jsonl && json_text(p, w, doc, len, &text, &n, res) < 0)
        return;
    llm_error err;
    if (p->bos_id >= 0 && llm_ids_push(ids, (uint32_t)p->bos_id) < 0)
        goto oom;
    size_t before = ids->len;
    if (llm_encode(w->enc, text, n, p->opts->allow_special, ids, &err) < 0) {
        ids->len = res->ids_off;
        set_error(res, strstr(err.msg, "out of memory") != NULL, "cannot tokenize: %s", err.msg);
        return;
    }
    res->n_text = (uint32_t)(ids->len - before < UINT32_MAX ? ids->len - before : UINT32_MAX);
    if (p->eos_id >= 0 && llm_ids_push(ids, (uint32_t)p->eos_id) < 0)
        goto oom;
    res->n_ids = ids->len - res->ids_off;
    if (res->n_ids > LLM_RECORD_MAX_TOKENS) {
        ids->len = res->ids_off;
        set_error(res, 0, "a document of %zu tokens is over the stream's limit of %u a record", res->n_ids,
                  (unsigned)LLM_RECORD_MAX_TOKENS);
        res->n_ids = 0;
        res->n_text = 0;
    }
    return;
oom:
    ids->len = res->ids_off;
    set_error(res, 1, "out of memory");
}
