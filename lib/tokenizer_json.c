/* Writing a tokenizer as a Hugging Face tokenizer.json, and extending one with added tokens
 * the way the tokenizers crate's add_tokens does. A tiktoken encoding is written as the
 * byte-level BPE that encodes the same text to the same ids: its regex as an Isolated Split,
 * every pair of tokens that join into a token as a merge, ranked by the joined token's rank,
 * and a piece that is a whole token taken as it is (ignore_merges), as tiktoken does. */
#include <stdlib.h>
#include <string.h>

#include "hf_tokenizer.h"
#include "tokenizer.h"
#include "utf8.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* An added token to write. */
typedef struct entry {
    uint32_t id;
    const char *content;
    size_t len;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} entry;

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const entry *)a)->id, y = ((const entry *)b)->id;
    return x < y ? -1 : x > y;
}

/* The vocabulary strings of every id, one after another in one buffer. */
typedef struct vocab_strings {
    llm_buf text;
    size_t *off;        /* id -> offset; off[id + 1] - off[id] is the length */
    uint8_t *has;       /* id -> 1 when it has a string (which may be empty) */
    uint32_t n;
} vocab_strings;

static void vocab_free(vocab_strings *v)
{
    llm_buf_free(&v->text);
    free(v->off);
    free(v->has);
}

/* Fills v for t: a tokenizer.json's own strings, or a tiktoken encoding's tokens in the
 * byte-level alphabet and its special tokens as they are. The crate takes an added token's id
 * from the vocabulary when its content is there, and gives the others the ids from the
 * vocabulary's size (its count of entries) on, whatever the file says; so each special token
 * is in the vocabulary at its id, and each id without a token (cl100k_base's 100256, say)
 * holds a string no text can give (a space is not in the byte-level alphabet). */
static int vocab_build(const llm_tokenizer *t, vocab_strings *v, llm_error *err)
{
    const llm_hf *h = llm_tokenizer_hf(t);
    const llm_bpe *b = llm_tokenizer_bpe(t);
    v->n = llm_tokenizer_vocab_size(t);
    llm_buf_init(&v->text);
    if ((v->off = calloc((size_t)v->n + 1, sizeof *v->off)) == NULL ||
        (v->has = calloc((size_t)v->n + 1, 1)) == NULL)
        return llm_error_set(err, "out of memory");
    for (uint32_t id = 0; id < v->n; id++) {
        v->off[id] = v->text.len;
        v->has[id] = 1;
        if (h != NULL) {
            v->has[id] = llm_hf_vocab_string(h, id, &v->text) == 0;
            continue;
        }
        size_t len;
        const unsigned char *s = llm_bpe_token(b, id, &len);
        if (s != NULL) {
            llm_hf_byte_alphabet(s, len, &v->text);
            continue;
        }
        for (size_t i = 0; i < llm_tokenizer_n_special(t); i++) {
            uint32_t sid;
            const char *sp = llm_tokenizer_special(t, i, &sid);
            if (sid != id)
                continue;
            for (const char *c = sp; *c; c++)
                if (*c <= ' ' || *c > '~')
                    return llm_error_set(err, "special token %s: only printable ASCII can be written "
                                         "into a byte-level vocabulary", sp);
            llm_buf_puts(&v->text, sp);
        }
        if (v->text.len == v->off[id])
            llm_buf_printf(&v->text, "<unused id %u>", id);
    }
    v->off[v->n] = v->text.len;
    return llm_buf_failed(&v->text) ? llm_error_set(err, "out of memory") : 0;
}

static void put_string(llm_buf *out, const vocab_strings *v, uint32_t id)
{
    llm_buf_json_string(out, v->text.data + v->off[id], v->off[id + 1] - v->off[id]);
}

static const char *json_bool(int b)
{
    return b ? "true" : "false";
}

/* The added tokens: the file's (their contents as the file had them) or the special tokens
 * of a tiktoken encoding, then `more`, by id. *n set; NULL when out of memory. */
static entry *added_list(const llm_tokenizer *t, const entry *more, size_t n_more, size_t *n)
{
    const llm_hf *h = llm_tokenizer_hf(t);
    size_t base = h ? h->n_added : llm_tokenizer_n_special(t);
    entry *list = malloc((base + n_more + 1) * sizeof *list);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < base; i++) {
        if (h != NULL) {
            const llm_hf_added *a = &h->added[i];
            list[i] = (entry){a->id, a->content ? a->content : a->text, a->content ? a->content_len : a->len,
                              a->special, a->lstrip, a->rstrip, a->single_word, a->normalized};
        } else {
            uint32_t id;
            const char *s = llm_tokenizer_special(t, i, &id);
            list[i] = (entry){id, s, strlen(s), 1, 0, 0, 0, 0};
        }
    }
    if (n_more)
        memcpy(list + base, more, n_more * sizeof *more);
    *n = base + n_more;
    qsort(list, *n, sizeof *list, by_id);
    return list;
}

/* One component: the file's JSON, or for a tiktoken encoding what stands for it. */
static void put_part(llm_buf *out, const llm_tokenizer *t, llm_hf_part part)
{
    const llm_hf *h = llm_tokenizer_hf(t);
    if (h != NULL) {
        if (h->part_len[part])
            llm_buf_append(out, h->config + h->part_off[part], h->part_len[part]);
        else
            llm_buf_puts(out, "null");
        return;
    }
    switch (part) {
    case HF_PART_PRE_TOKENIZER:
        llm_buf_puts(out, "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":");
        llm_buf_json_string(out, llm_tokenizer_pattern(t), strlen(llm_tokenizer_pattern(t)));
        llm_buf_puts(out, "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
                          "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}");
        break;
    case HF_PART_DECODER:
        llm_buf_puts(out, "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
                          "\"use_regex\":true}");
        break;
    default:
        llm_buf_puts(out, "null");
    }
}

static void put_merge(llm_buf *out, const vocab_strings *v, int pairs, uint32_t left, uint32_t right,
                      int first)
{
    llm_buf_puts(out, first ? "\n      " : ",\n      ");
    if (pairs) {
        llm_buf_putc(out, '[');
        put_string(out, v, left);
        llm_buf_puts(out, ", ");
        put_string(out, v, right);
        llm_buf_putc(out, ']');
        return;
    }
    /* "a b": the strings joined by a space, as one JSON string. */
    size_t start = out->len;
    llm_buf_append(out, v->text.data + v->off[left], v->off[left + 1] - v->off[left]);
    llm_buf_putc(out, ' ');
    llm_buf_append(out, v->text.data + v->off[right], v->off[right + 1] - v->off[right]);
    size_t n = out->len - start;
    char *copy = malloc(n);
    if (copy == NULL) {
        out->failed = 1;
        return;
    }
    memcpy(copy, out->data + start, n);
    out->len = start;
    llm_buf_json_string(out, copy, n);
    free(copy);
}

/* The whole tokenizer.json of t with `more` added tokens. */
static int write_json(const llm_tokenizer *t, const entry *more, size_t n_more, llm_buf *out, llm_error *err)
{
    const llm_hf *h = llm_tokenizer_hf(t);
    const llm_bpe *b = llm_tokenizer_bpe(t);
    vocab_strings v = {0};
    size_t n_added;
    entry *added = NULL;
    if (vocab_build(t, &v, err) < 0)
        goto fail;
    if ((added = added_list(t, more, n_more, &n_added)) == NULL) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    llm_buf_puts(out, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                      "  \"added_tokens\": [");
    for (size_t i = 0; i < n_added; i++) {
        const entry *a = &added[i];
        llm_buf_printf(out, "%s\n    {\"id\": %u, \"content\": ", i ? "," : "", a->id);
        llm_buf_json_string(out, a->content, a->len);
        llm_buf_printf(out, ", \"single_word\": %s, \"lstrip\": %s, \"rstrip\": %s, \"normalized\": %s, "
                       "\"special\": %s}", json_bool(a->single_word), json_bool(a->lstrip), json_bool(a->rstrip),
                       json_bool(a->normalized), json_bool(a->special));
    }
    static const char *const parts[HF_PART_N] = {"normalizer", "pre_tokenizer", "post_processor", "decoder"};
    llm_buf_puts(out, "\n  ],\n");
    for (int p = 0; p < HF_PART_N; p++) {
        llm_buf_printf(out, "  \"%s\": ", parts[p]);
        put_part(out, t, (llm_hf_part)p);
        llm_buf_puts(out, ",\n");
    }
    llm_buf_puts(out, "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ");
    if (h != NULL && h->unk != LLM_BPE_NONE)
        put_string(out, &v, h->unk);
    else
        llm_buf_puts(out, "null");
    llm_buf_printf(out, ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
                   "    \"fuse_unk\": %s,\n    \"byte_fallback\": %s,\n    \"ignore_merges\": %s,\n"
                   "    \"vocab\": {", json_bool(h && h->fuse_unk), json_bool(h && h->byte_fallback),
                   json_bool(h ? h->ignore_merges : 1));
    int first = 1;
    for (uint32_t id = 0; id < v.n; id++) {
        if (!v.has[id])
            continue;
        llm_buf_puts(out, first ? "\n      " : ",\n      ");
        put_string(out, &v, id);
        llm_buf_printf(out, ": %u", id);
        first = 0;
    }
    llm_buf_puts(out, "\n    },\n    \"merges\": [");
    if (h != NULL) {
        for (size_t r = 0; r < h->n_merges; r++)
            put_merge(out, &v, h->merges_as_pairs, h->merges[r][0], h->merges[r][1], r == 0);
    } else {
        /* tiktoken's rule: two tokens merge when their bytes joined are a token, the lower
         * that token's rank the sooner (lib/bpe.c's llm_bpe_derive_merges, in rank order). */
        first = 1;
        for (uint32_t id = 0; id < llm_bpe_n_ids(b); id++) {
            size_t len;
            const unsigned char *s = llm_bpe_token(b, id, &len);
            for (size_t k = 1; s != NULL && k < len; k++) {
                uint32_t left = llm_bpe_lookup(b, s, k), right = left == LLM_BPE_NONE ? LLM_BPE_NONE
                                                                 : llm_bpe_lookup(b, s + k, len - k);
                if (right == LLM_BPE_NONE)
                    continue;
                put_merge(out, &v, 0, left, right, first);
                first = 0;
            }
        }
    }
    llm_buf_puts(out, "\n    ]\n  }\n}\n");
    free(added);
    vocab_free(&v);
    return llm_buf_failed(out) ? llm_error_set(err, "out of memory") : 0;
fail:
    free(added);
    vocab_free(&v);
    return -1;
}

int llm_tokenizer_to_json(const llm_tokenizer *t, llm_buf *out, llm_error *err)
{
    return write_json(t, NULL, 0, out, err);
}

/* ---- add_tokens ---- */

/* A set of strings (pointers into the caller's memory), open addressing. */
typedef struct string_set {
    const char **s;
    size_t *len;
    size_t mask;
} string_set;

static int set_init(string_set *set, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n + 2)
        slots *= 2;
    set->s = calloc(slots, sizeof *set->s);
    set->len = calloc(slots, sizeof *set->len);
    set->mask = slots - 1;
    return set->s && set->len ? 0 : -1;
}

static void set_free(string_set *set)
{
    free(set->s);
    free(set->len);
}

/* Inserts s; 1 when it was new, 0 when it was there. */
static int set_add(string_set *set, const char *s, size_t len)
{
    size_t i = (size_t)XXH3_64bits(s, len) & set->mask;
    for (; set->s[i] != NULL; i = (i + 1) & set->mask)
        if (set->len[i] == len && memcmp(set->s[i], s, len) == 0)
            return 0;
    set->s[i] = s;
    set->len[i] = len;
    return 1;
}

llm_tokenizer *llm_tokenizer_add_tokens(const llm_tokenizer *t, const char *const *tokens, const size_t *lens,
                                        size_t n, const char *name, llm_added_count *count, llm_error *err)
{
    memset(count, 0, sizeof *count);
    llm_tokenizer *converted = NULL, *result = NULL;
    entry *more = NULL;
    string_set seen = {0};
    llm_buf json;
    llm_buf_init(&json);
    /* A tiktoken encoding becomes its tokenizer.json first: what is "in the vocabulary" is
     * then what the crate would find there. */
    if (llm_tokenizer_hf(t) == NULL) {
        if (llm_tokenizer_to_json(t, &json, err) < 0 ||
            (converted = llm_tokenizer_from_hf_json(json.data, json.len, llm_tokenizer_name(t), err)) == NULL)
            goto done;
        t = converted;
        llm_buf_clear(&json);
    }
    const llm_hf *h = llm_tokenizer_hf(t);
    /* The crate's next id: after the added tokens when they lie past the model's vocabulary
     * (counted in entries), else the vocabulary's size. */
    size_t vocab_count = llm_bpe_n_tokens(h->bpe) + h->n_extra;
    uint64_t next = vocab_count;
    if (h->n_added > 0 && h->added[h->n_added - 1].id >= vocab_count)
        next = (uint64_t)h->added[h->n_added - 1].id + 1;
    if (next < llm_tokenizer_vocab_size(t)) {
        llm_error_set(err, "cannot add tokens to %s: its ids have gaps, and the next id (%llu) is "
                      "in use", llm_tokenizer_name(t), (unsigned long long)next);
        goto done;
    }
    count->first_id = (uint32_t)next;
    if ((more = malloc((n + 1) * sizeof *more)) == NULL || set_init(&seen, n + h->n_added) < 0) {
        llm_error_set(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < h->n_added; i++) {
        const llm_hf_added *a = &h->added[i];
        set_add(&seen, a->content ? a->content : a->text, a->content ? a->content_len : a->len);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0 || !set_add(&seen, tokens[i], lens[i])) {
            count->skipped++;
            continue;
        }
        if (!llm_utf8_valid(tokens[i], lens[i])) {
            llm_error_set(err, "token %zu is not valid UTF-8", i + 1);
            goto done;
        }
        uint32_t id = llm_hf_vocab_id(h, tokens[i], lens[i]);
        if (id != LLM_BPE_NONE) {
            count->in_vocab++;
        } else {
            if (next >= LLM_BPE_MAX_IDS) {
                llm_error_set(err, "too many tokens: ids go up to %u", LLM_BPE_MAX_IDS - 1);
                goto done;
            }
            id = (uint32_t)next++;
            count->added++;
        }
        /* tokenizer.add_tokens(["..."]): not special, matched in normalized text. */
        more[k++] = (entry){id, tokens[i], lens[i], 0, 0, 0, 0, 1};
    }
    if (write_json(t, more, k, &json, err) < 0)
        goto done;
    result = llm_tokenizer_from_hf_json(json.data, json.len, name ? name : llm_tokenizer_name(t), err);
done:
    set_free(&seen);
    free(more);
    llm_buf_free(&json);
    llm_tokenizer_free(converted);
    return result;
}
