/* The embedded default tokenizer (lib/tokenizer_embedded.c): GPT-2's known ids without any
 * file, and, when `make tokenizers` has written data/tokenizers/gpt2.tiktoken, the same hash,
 * vocabulary and ids as the tokenizer read from that rank file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tokenizer.h"

static const char sample[] =
    "Hello world! It's 2024, and GPT-2's tokenizer still splits   spaces,\ttabs\r\n"
    "and numbers like 1234567 the same way. \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c "
    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd <|endoftext|> I'LL she'd've \xff\xfe broken bytes\n\n\n";

static void encode(const llm_tokenizer *t, const char *s, size_t n, int allow, llm_ids *out)
{
    llm_error err;
    llm_encoder *e = llm_encoder_new(t, 0);
    CHECK(e != NULL);
    if (e)
        CHECKF(llm_encode(e, s, n, allow, out, &err) == 0, "%s", err.msg);
    llm_encoder_free(e);
}

static void test_embedded_known_ids(void)
{
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load_embedded(&err);
    CHECKF(t != NULL, "%s", err.msg);
    if (!t)
        return;
    CHECK(strcmp(llm_tokenizer_name(t), "gpt2") == 0);
    CHECK(llm_tokenizer_vocab_size(t) == 50257);
    CHECK(llm_tokenizer_eos(t) == 50256);
    /* tiktoken.get_encoding("gpt2").encode("Hello world") and " hello world!!!" */
    llm_ids ids;
    llm_ids_init(&ids);
    encode(t, "Hello world", 11, 0, &ids);
    CHECK(ids.len == 2 && ids.data[0] == 15496 && ids.data[1] == 995);
    llm_ids_clear(&ids);
    encode(t, " hello world!!!", 15, 0, &ids);
    CHECKF(ids.len == 3 && ids.data[0] == 23748 && ids.data[1] == 995 && ids.data[2] == 10185,
           "%zu ids, first %u", ids.len, ids.len ? ids.data[0] : 0);
    llm_ids_clear(&ids);
    encode(t, "<|endoftext|>", 13, 1, &ids);
    CHECK(ids.len == 1 && ids.data[0] == 50256);
    /* The whole sample decodes back to its bytes, invalid UTF-8 included. */
    llm_ids_clear(&ids);
    encode(t, sample, sizeof sample - 1, 0, &ids);
    llm_buf back;
    llm_buf_init(&back);
    CHECK(llm_decode(t, ids.data, ids.len, &back, &err) == 0);
    CHECK(back.len == sizeof sample - 1 && memcmp(back.data, sample, back.len) == 0);
    llm_buf_free(&back);
    llm_ids_free(&ids);
    llm_tokenizer_free(t);
}

static void test_embedded_matches_rank_file(void)
{
    const char *dir = getenv("LLM_TOKENIZER_DIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/gpt2.tiktoken", dir && *dir ? dir : "data/tokenizers");
    if (access(path, R_OK) != 0) {
        printf("# skipped: %s is not there (make tokenizers)\n", path);
        return;
    }
    llm_error err;
    llm_tokenizer *a = llm_tokenizer_load_embedded(&err);
    CHECKF(a != NULL, "%s", err.msg);
    llm_tokenizer *b = llm_tokenizer_load_tiktoken(path, "gpt2", &err);
    CHECKF(b != NULL, "%s", err.msg);
    if (a && b) {
        char ha[22], hb[22];
        llm_tokenizer_hash_string(a, ha);
        llm_tokenizer_hash_string(b, hb);
        CHECKF(strcmp(ha, hb) == 0, "embedded %s, %s %s", ha, path, hb);
        CHECK(llm_tokenizer_vocab_size(a) == llm_tokenizer_vocab_size(b));
        CHECK(llm_tokenizer_eos(a) == llm_tokenizer_eos(b));
        for (int allow = 0; allow <= 1; allow++) {
            llm_ids x, y;
            llm_ids_init(&x);
            llm_ids_init(&y);
            encode(a, sample, sizeof sample - 1, allow, &x);
            encode(b, sample, sizeof sample - 1, allow, &y);
            CHECKF(x.len == y.len && memcmp(x.data, y.data, x.len * sizeof *x.data) == 0,
                   "allow_special=%d: %zu ids vs %zu", allow, x.len, y.len);
            llm_ids_free(&x);
            llm_ids_free(&y);
        }
    }
    llm_tokenizer_free(a);
    llm_tokenizer_free(b);
}

int main(void)
{
    RUN(test_embedded_known_ids);
    RUN(test_embedded_matches_rank_file);
    CHECK_EXIT();
}
