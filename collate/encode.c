/* The rendered pieces of an example into token ids and a loss mask. Text between two special
 * tokens is gathered into one run and encoded whole, so the ids are those the reference
 * tokenizer gives the whole rendered text (special tokens split a text there too), while the
 * special tokens of the template go in as ids and the messages' text is encoded with special-
 * token strings as plain text: a message cannot smuggle in a control token.
 *
 * A run can hold masked and trained text (ChatML's "assistant\n" before the answer). A token
 * counts in the loss when any of its bytes is trained, as transformers'
 * return_assistant_tokens_mask counts the token that holds an answer's first character: where
 * a token straddles the join, the answer keeps it. */
#include "collate.h"

#include <stdlib.h>
#include <string.h>

int col_builder_init(col_builder *b, const llm_tokenizer *tok, int text_only)
{
    memset(b, 0, sizeof *b);
    b->tok = tok;
    b->text_only = text_only;
    llm_buf_init(&b->run);
    llm_ids_init(&b->prefix);
    if (!text_only && !(b->enc = llm_encoder_new(tok, 0)))
        return -1;
    return 0;
}

void col_builder_free(col_builder *b)
{
    llm_encoder_free(b->enc);
    llm_buf_free(&b->run);
    llm_ids_free(&b->prefix);
    free(b->cut);
    memset(b, 0, sizeof *b);
}

void col_builder_start(col_builder *b, llm_ids *ids, llm_buf *mask, llm_buf *text, llm_buf *spans)
{
    b->ids = ids;
    b->mask = mask;
    b->text = text;
    b->spans = spans;
    llm_buf_clear(&b->run);
    b->n_cut = 0;
}

/* --render: text and the spans of it that count, adjacent spans joined. */
static int text_append(col_builder *b, const char *s, size_t n, int trained, llm_error *err)
{
    size_t start = b->text->len;
    llm_buf_append(b->text, s, n);
    if (trained) {
        size_t *last = b->spans->len ? (size_t *)(b->spans->data + b->spans->len) - 1 : NULL;
        size_t pair[2] = {start, start + n};
        if (last && *last == start)
            *last = start + n;
        else
            llm_buf_append(b->spans, pair, sizeof pair);
    }
    if (llm_buf_failed(b->text) || llm_buf_failed(b->spans))
        return llm_error_set(err, "out of memory");
    return 0;
}

int col_builder_text(col_builder *b, const char *s, size_t n, int trained, llm_error *err)
{
    if (n == 0)
        return 0;
    if (b->text_only)
        return text_append(b, s, n, trained, err);
    if (b->run.len == 0) {
        b->run_flag = b->flag = trained;
    } else if (trained != b->flag) {
        if (b->n_cut == b->cap_cut) {
            size_t cap = b->cap_cut ? 2 * b->cap_cut : 8;
            size_t *c = realloc(b->cut, cap * sizeof *c);
            if (!c)
                return llm_error_set(err, "out of memory");
            b->cut = c;
            b->cap_cut = cap;
        }
        b->cut[b->n_cut++] = b->run.len;
        b->flag = trained;
    }
    llm_buf_append(&b->run, s, n);
    return llm_buf_failed(&b->run) ? llm_error_set(err, "out of memory") : 0;
}

/* The mask of the run's tokens from the bytes each one spells, walked up to the last cut:
 * after it the flag no longer changes. Only the tokens that hold a cut are compared with the
 * run's bytes, the rest are counted by length: enough to catch a normalizer that changed the
 * text before a cut, which moves the tokens off it. 1 when they fit, 0 when they do not (or
 * the tokens are SentencePiece's). */
static int mask_by_bytes(col_builder *b, const uint32_t *ids, size_t n, uint8_t *mask)
{
    const char *run = b->run.data;
    size_t pos = 0, c = 0, i = 0;
    int flag = b->run_flag;   /* of the byte at pos: the flags alternate at each cut */
    for (; i < n && c < b->n_cut; i++) {
        size_t len;
        const char *tb = llm_tokenizer_token_bytes(b->tok, ids[i], &len);
        if (!tb || len > b->run.len - pos)
            return 0;
        size_t end = pos + len;
        while (c < b->n_cut && b->cut[c] <= pos) {
            flag = !flag;
            c++;
        }
        int any = flag;
        if (c < b->n_cut && b->cut[c] < end) {
            if (memcmp(tb, run + pos, len) != 0)
                return 0;
            while (c < b->n_cut && b->cut[c] < end) {
                flag = !flag;
                any |= flag;
                c++;
            }
        }
        mask[i] = (uint8_t)any;
        pos = end;
    }
    while (c < b->n_cut && b->cut[c] <= pos) {
        flag = !flag;
        c++;
    }
    if (c < b->n_cut)
        return 0;             /* the tokens ended before the last cut */
    memset(mask + i, flag, n - i);
    return 1;
}

/* The mask when the bytes do not add up: at each cut, the run's text up to the cut is encoded
 * alone; the tokens both encodings share lie before it. Where they part, a token straddles the
 * cut and goes with the trained side. 0, or -1 with err set. */
static int mask_by_prefix(col_builder *b, const uint32_t *ids, size_t n, uint8_t *mask, llm_error *err)
{
    size_t from = 0;
    int flag = b->run_flag;
    for (size_t c = 0; c < b->n_cut; c++) {
        llm_ids_clear(&b->prefix);
        if (llm_encode(b->enc, b->run.data, b->cut[c], 0, &b->prefix, err) < 0)
            return -1;
        size_t k = 0;
        while (k < b->prefix.len && k < n && b->prefix.data[k] == ids[k])
            k++;
        if (k < b->prefix.len && flag && k < n)
            k++;              /* the straddling token stays with the trained text before */
        if (k < from)
            k = from;
        memset(mask + from, flag, k - from);
        from = k;
        flag = !flag;
    }
    memset(mask + from, flag, n - from);
    return 0;
}

/* Encodes the gathered run and appends its ids and mask. 0, or -1 with err set. */
static int flush_run(col_builder *b, llm_error *err)
{
    if (b->run.len == 0)
        return 0;
    size_t base = b->ids->len;
    if (llm_encode(b->enc, b->run.data, b->run.len, 0, b->ids, err) < 0)
        return -1;
    size_t n = b->ids->len - base;
    if (llm_buf_reserve(b->mask, n) < 0)
        return llm_error_set(err, "out of memory");
    uint8_t *mask = (uint8_t *)b->mask->data + b->mask->len;
    const uint32_t *ids = b->ids->data + base;
    if (b->n_cut == 0)
        memset(mask, b->run_flag, n);
    else if (!mask_by_bytes(b, ids, n, mask) && mask_by_prefix(b, ids, n, mask, err) < 0)
        return -1;
    b->mask->len += n;
    llm_buf_clear(&b->run);
    b->n_cut = 0;
    return 0;
}

int col_builder_token(col_builder *b, uint32_t id, int trained, llm_error *err)
{
    if (b->text_only) {
        size_t len;
        const char *s = llm_tokenizer_token_bytes(b->tok, id, &len);
        if (s)
            return text_append(b, s, len, trained, err);
        llm_buf tmp;
        llm_buf_init(&tmp);
        int rc = llm_decode(b->tok, &id, 1, &tmp, err);
        if (rc == 0)
            rc = text_append(b, tmp.data, tmp.len, trained, err);
        llm_buf_free(&tmp);
        return rc;
    }
    if (flush_run(b, err) < 0)
        return -1;
    if (llm_ids_push(b->ids, id) < 0)
        return llm_error_set(err, "out of memory");
    llm_buf_putc(b->mask, (char)trained);
    return llm_buf_failed(b->mask) ? llm_error_set(err, "out of memory") : 0;
}

int col_builder_finish(col_builder *b, llm_error *err)
{
    return b->text_only ? 0 : flush_run(b, err);
}
