/* libFuzzer target for the tokenizer core: any bytes encode with gpt2's ranks and decode back
 * to the same bytes, with special tokens as text and as special tokens; any bytes read as a
 * rank file either load or fail with a message; and the ASCII scanners of the three tiktoken
 * patterns (and Qwen's) split the input's valid UTF-8 exactly as PCRE2 alone does. The round
 * trip needs data/tokenizers/gpt2.tiktoken (or $LLM_TOKENIZER_DIR) and is skipped without it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pretokenize.h"
#include "tokenizer.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

static llm_tokenizer *gpt2;
static llm_encoder *enc, *tiny;

static int load(void)
{
    static int tried;
    if (!tried) {
        tried = 1;
        llm_error err;
        if ((gpt2 = llm_tokenizer_load("gpt2", &err)) != NULL) {
            enc = llm_encoder_new(gpt2, 0);
            tiny = llm_encoder_new(gpt2, 64);   /* one cache entry: every piece evicts */
            promise(enc != NULL && tiny != NULL);
        }
    }
    return gpt2 != NULL;
}

static void round_trip(llm_encoder *e, const char *s, size_t n, int special, llm_ids *ids, llm_buf *out)
{
    llm_error err;
    llm_ids_clear(ids);
    llm_buf_clear(out);
    promise(llm_encode(e, s, n, special, ids, &err) == 0);
    promise(ids->len <= n);
    for (size_t i = 0; i < ids->len; i++)
        promise(ids->data[i] < llm_tokenizer_vocab_size(gpt2));
    promise(llm_decode(gpt2, ids->data, ids->len, out, &err) == 0);
    promise(out->len == n && (n == 0 || memcmp(out->data, s, n) == 0));
}

/* The scanner against PCRE2 alone, piece by piece, on text[0..n) (valid UTF-8). */
static void same_split(const char *text, size_t n)
{
    static llm_pretok *with[4], *without[4];
    static llm_pretok_matcher *mw[4], *mo[4];
    const char *patterns[4] = {LLM_PRETOK_GPT2, LLM_PRETOK_CL100K, LLM_PRETOK_O200K, LLM_PRETOK_QWEN};
    llm_error err;
    for (int p = 0; p < 4; p++) {
        if (with[p] == NULL) {
            with[p] = llm_pretok_new(patterns[p], &err);
            without[p] = llm_pretok_new(patterns[p], &err);
            promise(with[p] && without[p] && llm_pretok_set_scanner(without[p], 0) == 1);
            mw[p] = llm_pretok_matcher_new(with[p]);
            mo[p] = llm_pretok_matcher_new(without[p]);
            promise(mw[p] && mo[p]);
        }
        size_t pos = 0;
        for (;;) {
            size_t a1, z1, a2, z2;
            int r1 = llm_pretok_next(mw[p], text, n, pos, &a1, &z1, &err);
            int r2 = llm_pretok_next(mo[p], text, n, pos, &a2, &z2, &err);
            promise(r1 == r2 && r1 >= 0);
            if (r1 == 0)
                break;
            promise(a1 == a2 && z1 == z2 && a1 == pos);
            pos = z1;
        }
        promise(pos == n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t valid = 0;
    while (valid < size) {
        size_t k = llm_utf8_seq_len(data + valid, size - valid);
        if (k == 0)
            break;
        valid += k;
    }
    same_split((const char *)data, valid);

    llm_error err;
    llm_tokenizer *t = llm_tokenizer_from_tiktoken((const char *)data, size, "p50k_edit", &err);
    promise(t != NULL || err.msg[0] != '\0');
    llm_tokenizer_free(t);

    if (!load())
        return 0;
    const char *s = (const char *)data;
    llm_ids a, b;
    llm_buf out;
    llm_ids_init(&a);
    llm_ids_init(&b);
    llm_buf_init(&out);
    round_trip(enc, s, size, 0, &a, &out);
    round_trip(tiny, s, size, 0, &b, &out);
    promise(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len * sizeof *a.data) == 0));
    round_trip(enc, s, size, 1, &b, &out);
    llm_ids_free(&a);
    llm_ids_free(&b);
    llm_buf_free(&out);
    return 0;
}
