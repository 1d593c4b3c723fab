/* libFuzzer target for tokenizer.json loading: any bytes either load or fail with a message,
 * and a tokenizer that loads encodes the same bytes (special tokens as text and as special
 * tokens) into ids below its vocabulary size, and decodes them; written back as
 * tokenizer.json it loads to the same hash, and so does it extended with a few tokens. The
 * corpus starts from the hand-written tokenizers of tests/tokenizers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_error err = {{0}};
    llm_tokenizer *t = llm_tokenizer_from_hf_json((const char *)data, size, "fuzz", &err);
    if (t == NULL) {
        promise(err.msg[0] != '\0');
        return 0;
    }
    llm_encoder *e = llm_encoder_new(t, 256);
    promise(e != NULL);
    llm_ids ids;
    llm_buf out;
    llm_ids_init(&ids);
    llm_buf_init(&out);
    /* The file's own text is as good an input as any: it names the tokens. */
    size_t n = size < 4096 ? size : 4096;
    for (int special = 0; special < 2; special++) {
        llm_ids_clear(&ids);
        llm_buf_clear(&out);
        if (llm_encode(e, (const char *)data, n, special, &ids, &err) < 0)
            continue;   /* a user regex may hit PCRE2's limits */
        for (size_t i = 0; i < ids.len; i++)
            promise(ids.data[i] < llm_tokenizer_vocab_size(t));
        promise(llm_decode(t, ids.data, ids.len, &out, &err) == 0);
    }
    /* Written as tokenizer.json and loaded again: the same tokenizer. */
    llm_buf_clear(&out);
    promise(llm_tokenizer_to_json(t, &out, &err) == 0);
    llm_tokenizer *again = llm_tokenizer_from_hf_json(out.data, out.len, "fuzz", &err);
    promise(again != NULL && llm_tokenizer_hash(again) == llm_tokenizer_hash(t));
    llm_tokenizer_free(again);
    /* Extended with the first lines of the input as tokens: it loads, and so does its file. */
    const char *tokens[4];
    size_t lens[4], k = 0;
    for (size_t i = 0; i < n && k < 4;) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (const char *)data) - i : n - i;
        tokens[k] = (const char *)data + i;
        lens[k++] = len;
        i += len + 1;
    }
    llm_added_count c;
    llm_tokenizer *more = llm_tokenizer_add_tokens(t, tokens, lens, k, "more", &c, &err);
    promise(more != NULL || err.msg[0] != '\0');
    if (more != NULL) {
        promise(c.added + c.in_vocab + c.skipped == k);
        promise(llm_tokenizer_vocab_size(more) >= llm_tokenizer_vocab_size(t) + c.added);
        llm_buf_clear(&out);
        promise(llm_tokenizer_to_json(more, &out, &err) == 0);
        again = llm_tokenizer_from_hf_json(out.data, out.len, "more", &err);
        promise(again != NULL && llm_tokenizer_hash(again) == llm_tokenizer_hash(more));
        llm_tokenizer_free(again);
        llm_tokenizer_free(more);
    }
    llm_ids_free(&ids);
    llm_buf_free(&out);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
    return 0;
}
