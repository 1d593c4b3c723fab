/* llm-cat --decode: records back to text with the tokenizer that made them. The stream's
 * header names the tokenizer and the hash of its definition; a tokenizer whose hash differs
 * would give other text, so it is refused. */
#include "cat.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* The tokenizer to decode with: --tokenizer, else the one the header names (found on disk),
 * else the built-in default when the hash is its. NULL after printing why. */
static llm_tokenizer *decode_tokenizer(const cat_opts *o, const llm_header *h)
{
    llm_error e;
    char hash[22];
    llm_tokenizer *t;
    if (o->tokenizer) {
        if (!(t = llm_tokenizer_load_default(o->tokenizer, &e))) {
            llm_msg("--tokenizer: %s", e.msg);
            return NULL;
        }
        llm_tokenizer_hash_string(t, hash);
        if (*h->tokenizer_hash && strcmp(hash, h->tokenizer_hash) != 0) {
            llm_msg("tokenizer mismatch: the stream was tokenized with %s (%s), --tokenizer %s is %s (%s)",
                    *h->tokenizer_name ? h->tokenizer_name : "an unnamed tokenizer", h->tokenizer_hash,
                    o->tokenizer, llm_tokenizer_name(t), hash);
            llm_tokenizer_free(t);
            return NULL;
        }
        return t;
    }
    if (!*h->tokenizer_name && !*h->tokenizer_hash) {
        llm_msg("the stream does not say which tokenizer made it: give --tokenizer");
        return NULL;
    }
    llm_error why = {""};
    if (*h->tokenizer_name && (t = llm_tokenizer_load(h->tokenizer_name, &why)) != NULL) {
        llm_tokenizer_hash_string(t, hash);
        if (!*h->tokenizer_hash || strcmp(hash, h->tokenizer_hash) == 0)
            return t;
        snprintf(why.msg, sizeof why.msg, "%s here is %s", h->tokenizer_name, hash);
        llm_tokenizer_free(t);
    }
    if ((t = llm_tokenizer_load_embedded(&e)) == NULL) {
        llm_msg("%s", e.msg);
        return NULL;
    }
    llm_tokenizer_hash_string(t, hash);
    if (strcmp(hash, h->tokenizer_hash) == 0 || (!*h->tokenizer_hash && strcmp(h->tokenizer_name, "gpt2") == 0))
        return t;
    llm_tokenizer_free(t);
    llm_msg("the stream was tokenized with %s (%s), which is not available: %s; give --tokenizer",
            *h->tokenizer_name ? h->tokenizer_name : "an unnamed tokenizer", h->tokenizer_hash, why.msg);
    return NULL;
}

int cat_decode(const cat_opts *o, cat_source *src)
{
    static const char *const what[] = {"decoded as JSONL", "decoded as text lines", "decoded as raw text"};
    const llm_header *h = cat_source_header(src);
    llm_tokenizer *t = decode_tokenizer(o, h);
    if (!t)
        return LLM_EXIT_FAILURE;
    llm_output out;
    llm_error e;
    llm_buf text, line;
    llm_buf_init(&text);
    llm_buf_init(&line);
    uint32_t *ids = NULL;
    size_t ids_cap = 0;
    FILE *fp = NULL;
    int rc = llm_output_open(&out, o->output, 0, 0, &e);
    if (rc < 0)
        llm_msg("%s", e.msg);
    else if (!(fp = llm_output_file(&out)))
        rc = -1, llm_msg("out of memory");
    llm_record rec;
    while (rc == 0 && (rc = cat_source_next(src, &rec)) == 1) {
        rc = 0;
        size_t from = 0, to = rec.n_tokens;
        /* A document's BOS and closing EOS frame it; they are not its text. */
        if (h->kind == LLM_KIND_DOCS) {
            if (h->bos_id != LLM_NO_TOKEN && to > from && llm_record_token(&rec, from) == (uint64_t)h->bos_id)
                from++;
            if (h->eos_id != LLM_NO_TOKEN && to > from && llm_record_token(&rec, to - 1) == (uint64_t)h->eos_id)
                to--;
        }
        if (to - from > ids_cap / sizeof *ids && llm_grow(&ids, &ids_cap, (to - from) * sizeof *ids) < 0) {
            llm_msg("out of memory");
            rc = -1;
            break;
        }
        for (size_t i = from; i < to; i++)
            ids[i - from] = llm_record_token(&rec, i);
        llm_buf_clear(&text);
        if (llm_decode(t, ids, to - from, &text, &e) < 0) {
            llm_msg("%s", e.msg);
            rc = -1;
            break;
        }
        const llm_buf *b = &text;
        if (o->decode == CAT_DECODE_JSONL) {
            llm_buf_clear(&line);
            llm_buf_puts(&line, "{\"text\":");
            llm_buf_json_string(&line, text.data ? text.data : "", text.len);
            llm_buf_puts(&line, "}\n");
            b = &line;
        } else if (o->decode == CAT_DECODE_TEXT) {
            llm_buf_putc(&text, '\n');
        }
        if (llm_buf_failed(b)) {
            llm_msg("out of memory");
            rc = -1;
            break;
        }
        fwrite(b->data, 1, b->len, fp);    /* errors are caught at the commit */
    }
    if (rc == 0 && llm_output_commit(&out, &e) < 0) {
        llm_msg("%s", e.msg);
        rc = -1;
    }
    if (rc < 0)
        llm_output_abort(&out);
    free(ids);
    llm_buf_free(&text);
    llm_buf_free(&line);
    llm_tokenizer_free(t);
    if (rc < 0)
        return LLM_EXIT_FAILURE;
    cat_source_summary(src, what[o->decode]);
    return LLM_EXIT_OK;
}
