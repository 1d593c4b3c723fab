/* Unit tests for the tokenizer core (lib/tokenizer.c, bpe.c, pretokenize.c, tiktoken.c): the
 * merge loop against a naive BPE, tie-breaking on a hand-made vocabulary, rank-file errors,
 * and, when `make tokenizers` has written data/tokenizers, known ids of the real encodings,
 * byte round trips, special tokens and invalid UTF-8. The ids of whole corpora are compared
 * with tiktoken itself by tests/cli/tokenizer_conformance.sh. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "check.h"
#include "pretokenize.h"
#include "tokenizer.h"

static const char *tokenizer_dir(void)
{
    const char *env = getenv("LLM_TOKENIZER_DIR");
    return env && *env ? env : "data/tokenizers";
}

/* A real encoding, or NULL (and the caller skips) when its rank file is not there. */
static llm_tokenizer *load_real(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.tiktoken", tokenizer_dir(), name);
    if (access(path, R_OK) != 0)
        return NULL;
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load_tiktoken(path, name, &err);
    CHECKF(t != NULL, "%s", err.msg);
    return t;
}

/* Base64 of bytes, for writing rank files in tests. */
static void b64(const unsigned char *s, size_t n, llm_buf *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        llm_buf_putc(out, a[w >> 18]);
        llm_buf_putc(out, a[(w >> 12) & 63]);
        llm_buf_putc(out, i + 1 < n ? a[(w >> 6) & 63] : '=');
        llm_buf_putc(out, i + 2 < n ? a[w & 63] : '=');
    }
}

/* A rank file: the 256 bytes as ranks 0..255, then the extra tokens in order. */
static void rank_file(const char *const *extra, size_t n_extra, llm_buf *out)
{
    uint32_t rank = 0;
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        b64(&byte, 1, out);
        llm_buf_printf(out, " %u\n", rank++);
    }
    for (size_t i = 0; i < n_extra; i++) {
        b64((const unsigned char *)extra[i], strlen(extra[i]), out);
        llm_buf_printf(out, " %u\n", rank++);
    }
}

static llm_tokenizer *small_tokenizer(const char *const *extra, size_t n_extra)
{
    llm_buf f;
    llm_buf_init(&f);
    rank_file(extra, n_extra, &f);
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_from_tiktoken(f.data, f.len, "cl100k_base", &err);
    CHECKF(t != NULL, "%s", err.msg);
    llm_buf_free(&f);
    return t;
}

static int ids_equal(const llm_ids *v, const uint32_t *want, size_t n)
{
    return v->len == n && (n == 0 || memcmp(v->data, want, n * sizeof *want) == 0);
}

static void encode_str(llm_encoder *e, const char *s, int special, llm_ids *v)
{
    llm_error err;
    llm_ids_clear(v);
    CHECKF(llm_encode(e, s, strlen(s), special, v, &err) == 0, "%s", err.msg);
}

/* Tie-breaking: equal ranks merge leftmost first; and the lowest rank anywhere goes first. */
static void test_merge_order(void)
{
    /* 256 "aa", 257 "aaa", 258 "bc", 259 "ab" */
    const char *extra[] = {"aa", "aaa", "bc", "ab"};
    llm_tokenizer *t = small_tokenizer(extra, 4);
    if (t == NULL)
        return;
    llm_encoder *e = llm_encoder_new(t, 0);
    llm_ids v;
    llm_ids_init(&v);
    /* "aaaa": (a,a) x3 at rank 256 -> leftmost: [aa, a, a]; then (a,a)=256 beats (aa,a)=257. */
    encode_str(e, "aaaa", 0, &v);
    CHECK(ids_equal(&v, (uint32_t[]){256, 256}, 2));
    /* "aaa" is a token itself: one id, whatever the merges would do. */
    encode_str(e, "aaa", 0, &v);
    CHECK(ids_equal(&v, (uint32_t[]){257}, 1));
    /* "abc": bc (258) has a lower rank than ab (259). */
    encode_str(e, "abc", 0, &v);
    CHECK(ids_equal(&v, (uint32_t[]){'a', 258}, 2));
    /* "aaaaa": [aa, aa, a] -> (aa,aa) is no token, (aa,a) = aaa -> [aa, aaa]. */
    encode_str(e, "aaaaa", 0, &v);
    CHECK(ids_equal(&v, (uint32_t[]){256, 257}, 2));
    CHECK(llm_tokenizer_vocab_size(t) == 100277);   /* cl100k's special ids reach 100276 */
    CHECK(llm_tokenizer_eos(t) == 100257);
    llm_ids_free(&v);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
}

static void expect_parse_error(const char *data, const char *want)
{
    llm_error err = {{0}};
    llm_tokenizer *t = llm_tokenizer_from_tiktoken(data, strlen(data), "cl100k_base", &err);
    CHECKF(t == NULL && strstr(err.msg, want) != NULL, "got '%s', wanted '%s'", err.msg, want);
    llm_tokenizer_free(t);
}

static void test_rank_file_errors(void)
{
    expect_parse_error("", "no tokens");
    expect_parse_error("YQ==\n", "line 1: expected");
    expect_parse_error("YQ== x\n", "line 1: rank is not a number");
    expect_parse_error("YQ== \n", "line 1: missing rank");
    expect_parse_error("Y*== 1\n", "line 1: bad base64");
    expect_parse_error("YR== 1\n", "line 1: bad base64");      /* nonzero padding bits */
    expect_parse_error("YQ== 1\nYg== 1\n", "line 2: token id 1 appears twice");
    expect_parse_error("YQ== 99999999\n", "line 1: rank is not a number below");
    expect_parse_error("YQ== 0\nYQ== 1\n", "same bytes");
    expect_parse_error("YQ== 0\n", "no token for the single byte 0x00");

    llm_error err;
    CHECK(llm_tokenizer_from_tiktoken("YQ== 0\n", 7, "nope", &err) == NULL);
    CHECK(strstr(err.msg, "unknown tiktoken encoding") != NULL);
    CHECK(llm_tokenizer_load("no_such_encoding", &err) == NULL);
    CHECK(strstr(err.msg, "unknown tokenizer") != NULL);
    CHECK(llm_tokenizer_load("/nonexistent/gpt2.tiktoken", &err) == NULL);
    CHECK(strstr(err.msg, "No such file") != NULL);
    CHECK(llm_tokenizer_load("/tmp/no-such-dir-llm/whatever.tiktoken", &err) == NULL);
    CHECK(strstr(err.msg, "No such file") != NULL);    /* missing, before a bad name */
    char named[] = "/tmp/llm-test-XXXXXX.tiktoken";
    int fd = mkstemps(named, 9);
    CHECK(fd >= 0);
    if (fd >= 0) {
        close(fd);
        CHECK(llm_tokenizer_load(named, &err) == NULL);
        CHECK(strstr(err.msg, "does not name a tiktoken encoding") != NULL);
        unlink(named);
    }

    /* A rank file that gives an ordinary token the id of a special one. */
    const char *extra[] = {"x"};
    llm_buf f;
    llm_buf_init(&f);
    rank_file(extra, 0, &f);
    llm_buf_puts(&f, "eHg= 100257\n");
    CHECK(llm_tokenizer_from_tiktoken(f.data, f.len, "cl100k_base", &err) == NULL);
    CHECK(strstr(err.msg, "ordinary token") != NULL);
    llm_buf_free(&f);
}

/* The merge loop by its definition, on byte strings: find the lowest-ranked adjacent pair
 * (leftmost of equals), join it, repeat. */
static size_t naive_bpe(const llm_bpe *b, const unsigned char *s, size_t n, uint32_t *out)
{
    size_t start[4096], k = n;
    for (size_t i = 0; i <= n; i++)
        start[i] = i;
    for (;;) {
        uint32_t best = LLM_BPE_NONE;
        size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            uint32_t r = llm_bpe_lookup(b, s + start[i], start[i + 2] - start[i]);
            if (r < best) {
                best = r;
                at = i;
            }
        }
        if (best == LLM_BPE_NONE)
            break;
        memmove(start + at + 1, start + at + 2, (k - at - 1) * sizeof *start);
        k--;
    }
    for (size_t i = 0; i < k; i++)
        out[i] = llm_bpe_lookup(b, s + start[i], start[i + 1] - start[i]);
    return k;
}

/* Linear scan, heap and the naive loop agree on random byte strings over a small alphabet
 * (so that merges are plentiful). Uses gpt2's table when present, else a made-up one. */
static void test_merge_paths(void)
{
    llm_error err;
    llm_bpe *b = llm_bpe_new();
    unsigned char tok[8];
    uint32_t id = 0;
    for (int c = 0; c < 256; c++) {
        tok[0] = (unsigned char)c;
        CHECK(llm_bpe_add_token(b, id++, tok, 1, &err) == 0);
    }
    /* Every string of 2..4 letters over "abc" whose hash is even: a dense, irregular table. */
    for (int len = 2; len <= 4; len++) {
        int total = 1;
        for (int i = 0; i < len; i++)
            total *= 3;
        for (int x = 0; x < total; x++) {
            int y = x;
            for (int i = 0; i < len; i++, y /= 3)
                tok[i] = (unsigned char)('a' + y % 3);
            if (((unsigned)x * 2654435761u >> 7) % 3 != 0)
                CHECK(llm_bpe_add_token(b, id++, tok, (size_t)len, &err) == 0);
        }
    }
    CHECK(llm_bpe_index(b, &err) == 0);
    CHECK(llm_bpe_derive_merges(b, &err) == 0);
    llm_bpe_scratch s;
    llm_bpe_scratch_init(&s);
    unsigned int seed = 1;
    static uint32_t lin[4096], heap[4096], naive[4096];
    for (int round = 0; round < 300; round++) {
        unsigned char text[600];
        size_t n = 1 + (size_t)(rand_r(&seed) % 599);
        for (size_t i = 0; i < n; i++)
            text[i] = (unsigned char)("abc "[rand_r(&seed) % (round % 2 ? 3 : 4)]);
        for (size_t i = 0; i < n; i++)
            lin[i] = heap[i] = llm_bpe_byte_id(b, text[i]);
        size_t k1 = llm_bpe_merge(b, lin, n, &s, 256);
        size_t k2 = llm_bpe_merge(b, heap, n, &s, 1);
        size_t k3 = naive_bpe(b, text, n, naive);
        CHECKF(k2 == k3 && memcmp(heap, naive, k3 * sizeof *naive) == 0, "heap, round %d", round);
        if (n <= 256)
            CHECKF(k1 == k3 && memcmp(lin, naive, k3 * sizeof *naive) == 0, "linear, round %d", round);
    }
    llm_bpe_scratch_free(&s);
    llm_bpe_free(b);
}

static void test_known_ids(void)
{
    struct { const char *enc, *text; uint32_t ids[8]; size_t n; } cases[] = {
        {"gpt2", "hello world", {31373, 995}, 2},
        {"cl100k_base", "hello world", {15339, 1917}, 2},
        {"o200k_base", "hello world", {24912, 2375}, 2},
        {"gpt2", "<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}, 7},
        {"cl100k_base", "<|endoftext|>", {27, 91, 8862, 728, 428, 91, 29}, 7},
        {"o200k_base", "<|endoftext|>", {27, 91, 419, 1440, 919, 91, 29}, 7},
        {"gpt2", " ", {220}, 1},
        {"gpt2", "", {0}, 0},
    };
    llm_tokenizer *t = load_real("gpt2");
    if (t == NULL)
        return;
    llm_tokenizer_free(t);
    llm_ids v;
    llm_ids_init(&v);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t = load_real(cases[i].enc);
        if (t == NULL)
            continue;
        llm_encoder *e = llm_encoder_new(t, 0);
        encode_str(e, cases[i].text, 0, &v);
        CHECKF(ids_equal(&v, cases[i].ids, cases[i].n), "%s '%s': %zu ids", cases[i].enc, cases[i].text,
               v.len);
        llm_encoder_free(e);
        llm_tokenizer_free(t);
    }
    llm_ids_free(&v);
}

static void test_metadata(void)
{
    llm_tokenizer *g = load_real("gpt2"), *r = load_real("r50k_base"), *c = load_real("cl100k_base"),
                  *o = load_real("o200k_base");
    if (!g || !r || !c || !o)
        goto done;
    CHECK(strcmp(llm_tokenizer_name(g), "gpt2") == 0);
    CHECK(llm_tokenizer_vocab_size(g) == 50257 && llm_tokenizer_eos(g) == 50256);
    CHECK(llm_tokenizer_vocab_size(c) == 100277 && llm_tokenizer_eos(c) == 100257);
    CHECK(llm_tokenizer_vocab_size(o) == 200019 && llm_tokenizer_eos(o) == 199999);
    CHECK(llm_tokenizer_special_id(c, "<|fim_middle|>") == 100259);
    CHECK(llm_tokenizer_special_id(c, "<|nope|>") == -1);
    CHECK(llm_tokenizer_n_special(c) == 5);
    uint32_t id;
    CHECK(strcmp(llm_tokenizer_special(o, 1, &id), "<|endofprompt|>") == 0 && id == 200018);
    CHECK(llm_tokenizer_special(o, 2, &id) == NULL);
    /* gpt2 and r50k_base are the same definition; cl100k is another. */
    CHECK(llm_tokenizer_hash(g) == llm_tokenizer_hash(r));
    CHECK(llm_tokenizer_hash(g) != llm_tokenizer_hash(c));
    char hs[22];
    llm_tokenizer_hash_string(c, hs);
    CHECK(strncmp(hs, "xxh3:", 5) == 0 && strlen(hs) == 21);
    /* By name through LLM_TOKENIZER_DIR: the same tokenizer. */
    setenv("LLM_TOKENIZER_DIR", tokenizer_dir(), 1);
    llm_error err;
    llm_tokenizer *byname = llm_tokenizer_load("cl100k_base", &err);
    CHECKF(byname != NULL, "%s", err.msg);
    if (byname)
        CHECK(llm_tokenizer_hash(byname) == llm_tokenizer_hash(c));
    llm_tokenizer_free(byname);
    /* Decoding ids that have no token. */
    llm_buf out;
    llm_buf_init(&out);
    uint32_t bad[] = {100256};
    CHECK(llm_decode(c, bad, 1, &out, &err) < 0 && strstr(err.msg, "100256") != NULL);
    uint32_t big[] = {100277};
    CHECK(llm_decode(c, big, 1, &out, &err) < 0);
    uint32_t eot[] = {15339, 100257};
    llm_buf_clear(&out);
    CHECK(llm_decode(c, eot, 2, &out, &err) == 0 && strcmp(out.data, "hello<|endoftext|>") == 0);
    llm_buf_free(&out);
done:
    llm_tokenizer_free(g);
    llm_tokenizer_free(r);
    llm_tokenizer_free(c);
    llm_tokenizer_free(o);
}

static int round_trips(const llm_tokenizer *t, llm_encoder *e, const char *s, size_t n, int special)
{
    llm_ids v;
    llm_buf out;
    llm_error err;
    llm_ids_init(&v);
    llm_buf_init(&out);
    int ok = llm_encode(e, s, n, special, &v, &err) == 0 && llm_decode(t, v.data, v.len, &out, &err) == 0 &&
             out.len == n && (n == 0 || memcmp(out.data, s, n) == 0);
    llm_ids_free(&v);
    llm_buf_free(&out);
    return ok;
}

/* Every byte alone (most are invalid UTF-8 alone), every pair of bytes, and long runs. */
static void test_round_trips(void)
{
    const char *names[] = {"gpt2", "cl100k_base", "o200k_base"};
    llm_tokenizer *first = load_real("gpt2");
    if (first == NULL)
        return;
    llm_tokenizer_free(first);
    for (size_t k = 0; k < 3; k++) {
        llm_tokenizer *t = load_real(names[k]);
        if (t == NULL)
            continue;
        llm_encoder *e = llm_encoder_new(t, 0);
        for (int c = 0; c < 256; c++) {
            char s[1] = {(char)c};
            CHECKF(round_trips(t, e, s, 1, 0), "%s byte %d", names[k], c);
        }
        for (int c = 0; c < 256; c += 3)
            for (int d = 0; d < 256; d += 5) {
                char s[3] = {(char)c, (char)d, 'x'};
                CHECKF(round_trips(t, e, s, 3, 0), "%s bytes %d %d", names[k], c, d);
            }
        size_t big = 60000;
        char *s = malloc(big);
        const char *fills[] = {"a", " ", "\n", "7", "\xe4\xb8\xad", "\xff", "ab ", "\xe4\xb8"};
        for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
            size_t m = strlen(fills[f]);
            for (size_t i = 0; i < big; i++)
                s[i] = fills[f][i % m];
            CHECKF(round_trips(t, e, s, big, 0), "%s fill %zu", names[k], f);
        }
        unsigned int seed = 3;
        for (size_t i = 0; i < big; i++)
            s[i] = (char)rand_r(&seed);
        CHECKF(round_trips(t, e, s, big, 0), "%s random bytes", names[k]);
        CHECKF(round_trips(t, e, s, big, 1), "%s random bytes, specials allowed", names[k]);
        free(s);
        llm_encoder_free(e);
        llm_tokenizer_free(t);
    }
}

static void test_special(void)
{
    llm_tokenizer *t = load_real("cl100k_base");
    if (t == NULL)
        return;
    llm_encoder *e = llm_encoder_new(t, 0);
    llm_ids v, w;
    llm_ids_init(&v);
    llm_ids_init(&w);
    encode_str(e, "<|endoftext|>", 1, &v);
    CHECK(ids_equal(&v, (uint32_t[]){100257}, 1));
    encode_str(e, "a<|endoftext|><|endofprompt|>b", 1, &v);
    CHECK(v.len == 4 && v.data[0] == 64 && v.data[1] == 100257 && v.data[2] == 100276 && v.data[3] == 65);
    encode_str(e, "a<|endoftext|>b", 0, &v);
    CHECK(v.len > 3);
    for (size_t i = 0; i < v.len; i++)
        CHECK(v.data[i] < 100257);
    /* Text around a special token is encoded on its own, as tiktoken does. */
    encode_str(e, "hello <|fim_prefix|> world", 1, &v);
    llm_ids_clear(&w);
    encode_str(e, "hello ", 0, &w);
    size_t k = w.len;
    CHECK(v.len > k && memcmp(v.data, w.data, k * sizeof(uint32_t)) == 0 && v.data[k] == 100258);
    /* A broken special token is text. */
    encode_str(e, "<|endoftext|", 1, &v);
    for (size_t i = 0; i < v.len; i++)
        CHECK(v.data[i] < 100257);
    /* out is appended to, not cleared. */
    llm_ids_clear(&v);
    llm_error err;
    CHECK(llm_encode(e, "a", 1, 0, &v, &err) == 0 && llm_encode(e, "b", 1, 0, &v, &err) == 0);
    CHECK(ids_equal(&v, (uint32_t[]){64, 65}, 2));
    llm_ids_free(&v);
    llm_ids_free(&w);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
}

/* Invalid UTF-8: each maximal ill-formed subsequence is a piece of its own and the valid runs
 * around it are pre-tokenized separately. */
static void test_invalid_utf8(void)
{
    llm_tokenizer *t = load_real("gpt2");
    if (t == NULL)
        return;
    llm_encoder *e = llm_encoder_new(t, 0);
    llm_ids v, parts;
    llm_ids_init(&v);
    llm_ids_init(&parts);
    llm_error err;
    const char *s = "hello \xff world \xe4\xb8 end";
    CHECK(llm_encode(e, s, strlen(s), 0, &v, &err) == 0);
    CHECK(llm_encode(e, "hello ", 6, 0, &parts, &err) == 0);
    CHECK(llm_encode(e, "\xff", 1, 0, &parts, &err) == 0);
    CHECK(llm_encode(e, " world ", 7, 0, &parts, &err) == 0);
    CHECK(llm_encode(e, "\xe4\xb8", 2, 0, &parts, &err) == 0);
    CHECK(llm_encode(e, " end", 4, 0, &parts, &err) == 0);
    CHECK(v.len == parts.len && memcmp(v.data, parts.data, v.len * sizeof(uint32_t)) == 0);
    CHECK(round_trips(t, e, s, strlen(s), 0));
    /* A NUL inside the text is text. */
    CHECK(round_trips(t, e, "a\0b", 3, 0));
    llm_ids_free(&v);
    llm_ids_free(&parts);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
}

/* The cache never changes an answer: a one-entry cache (every piece evicts the last) gives
 * the same ids as the default one. */
static void test_cache(void)
{
    llm_tokenizer *t = load_real("o200k_base");
    if (t == NULL)
        return;
    llm_encoder *big = llm_encoder_new(t, 0), *tiny = llm_encoder_new(t, 64);
    const char *s = "The cat sat on the mat. The cat sat on the mat! 猫坐在垫子上。猫坐在垫子上。 "
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa the the the";
    llm_ids a, b;
    llm_ids_init(&a);
    llm_ids_init(&b);
    for (int rep = 0; rep < 3; rep++) {
        encode_str(big, s, 0, &a);
        encode_str(tiny, s, 0, &b);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len * sizeof(uint32_t)) == 0);
    }
    uint64_t lookups, hits;
    llm_encoder_stats(big, &lookups, &hits);
    CHECK(lookups > 0 && hits > 0);
    llm_ids_free(&a);
    llm_ids_free(&b);
    llm_encoder_free(big);
    llm_encoder_free(tiny);
    llm_tokenizer_free(t);
}

/* One tokenizer, an encoder per thread. */
typedef struct job {
    const llm_tokenizer *t;
    const char *text;
    llm_ids ids;
    int ok;
} job;

static void *encode_job(void *arg)
{
    job *j = arg;
    llm_encoder *e = llm_encoder_new(j->t, 1 << 16);
    llm_error err;
    llm_ids_init(&j->ids);
    j->ok = e != NULL;
    for (int rep = 0; rep < 50 && j->ok; rep++) {
        llm_ids_clear(&j->ids);
        j->ok = llm_encode(e, j->text, strlen(j->text), 0, &j->ids, &err) == 0;
    }
    llm_encoder_free(e);
    return NULL;
}

static void test_threads(void)
{
    llm_tokenizer *t = load_real("cl100k_base");
    if (t == NULL)
        return;
    const char *text = "Threads share the tokenizer; each has its own encoder. 并发 😀 1234567";
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){t, text, {0}, 0};
        CHECK(pthread_create(&th[i], NULL, encode_job, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(jobs[i].ok);
        CHECK(jobs[i].ids.len == jobs[0].ids.len &&
              memcmp(jobs[i].ids.data, jobs[0].ids.data, jobs[0].ids.len * sizeof(uint32_t)) == 0);
    }
    for (int i = 0; i < 4; i++)
        llm_ids_free(&jobs[i].ids);
    llm_tokenizer_free(t);
}

/* The pieces of text[0..n), as their end offsets. */
static size_t split(llm_pretok *p, const char *text, size_t n, size_t *ends, size_t cap)
{
    llm_pretok_matcher *m = llm_pretok_matcher_new(p);
    llm_error err;
    size_t k = 0, pos = 0, a, z;
    while (k < cap && llm_pretok_next(m, text, n, pos, &a, &z, &err) == 1) {
        CHECK(a == pos);   /* the tiktoken patterns leave no gaps */
        ends[k++] = z;
        pos = z;
    }
    CHECK(pos == n);
    llm_pretok_matcher_free(m);
    return k;
}

/* The scanners split exactly as PCRE2 does, on random strings made of the bytes and
 * characters at their decision points: every class, quotes before contraction letters in
 * both cases, 'ſ', Unicode spaces, letters, digits and marks next to ASCII, the CJK letters
 * and punctuation they know and the characters just outside those ranges. */
static void test_scanners(void)
{
    const char *patterns[] = {LLM_PRETOK_GPT2, LLM_PRETOK_CL100K, LLM_PRETOK_O200K, LLM_PRETOK_QWEN};
    const char *atoms[] = {"a", "Z", "s", "S", "t", "l", "L", "e", "E", "r", "v", "m", "d", "D", "0", "7",
                           " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\v", "'", "'", ".", "/", "-", "(",
                           "\x01", "\x7f", "\xc5\xbf" /* ſ */, "\xc3\xa9" /* é */, "\xc3\x89" /* É */,
                           "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80", "\xd9\xa3" /* Arabic 3 */,
                           "\xcc\x81" /* combining acute */, "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                           "\xc7\x85" /* Lt */, "\xca\xb0" /* Lm */, "\xe2\x85\xab" /* Nl */,
                           "\xe4\xb8\x80" /* U+4E00 */, "\xe9\xbf\xbc" /* U+9FFC */,
                           "\xe9\xbf\xbd" /* U+9FFD */, "\xe3\x81\x82" /* あ */,
                           "\xe3\x83\xbc" /* ー, Lm */, "\xed\x95\x9c" /* 한 */,
                           "\xef\xbc\x8c" /* ， */, "\xe3\x80\x82" /* 。 */, "\xe3\x80\x8a" /* 《 */,
                           "\xe3\x80\x84" /* 〄, So */, "\xe2\x80\x94" /* — */, "\xe2\x80\xa6" /* … */,
                           "\xe2\x80\xa8" /* U+2028 */, "\xc2\xb7" /* · */, "\xef\xbc\x90" /* ０ */,
                           "\xef\xbc\xa1" /* Ａ */, "\xef\xbd\x81" /* ａ */};
    size_t n_atoms = sizeof atoms / sizeof atoms[0];
    static size_t fast[4096], slow[4096];
    char text[2048];
    unsigned int seed = 11;
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        llm_error err;
        llm_pretok *with = llm_pretok_new(patterns[p], &err), *without = llm_pretok_new(patterns[p], &err);
        CHECK(with != NULL && without != NULL);
        CHECK(llm_pretok_set_scanner(without, 0) == 1);
        for (int round = 0; round < 20000; round++) {
            size_t n = 0, len = 1 + (size_t)(rand_r(&seed) % 24);
            for (size_t i = 0; i < len; i++) {
                const char *a = atoms[(size_t)rand_r(&seed) % n_atoms];
                size_t k = strlen(a);
                memcpy(text + n, a, k);
                n += k;
            }
            size_t k1 = split(with, text, n, fast, 4096), k2 = split(without, text, n, slow, 4096);
            CHECKF(k1 == k2 && memcmp(fast, slow, k1 * sizeof *fast) == 0, "pattern %zu: '%.*s'", p,
                   (int)n, text);
            if (check_case_failed)
                break;
        }
        llm_pretok_free(with);
        llm_pretok_free(without);
    }
}

int main(void)
{
    RUN(test_merge_order);
    RUN(test_rank_file_errors);
    RUN(test_merge_paths);
    RUN(test_scanners);
    char path[4200];
    snprintf(path, sizeof path, "%s/gpt2.tiktoken", tokenizer_dir());
    if (access(path, R_OK) != 0) {
        printf("ok test_tokenizer_real # skipped: no %s (make data tokenizers)\n", path);
        CHECK_EXIT();
    }
    RUN(test_known_ids);
    RUN(test_metadata);
    RUN(test_round_trips);
    RUN(test_special);
    RUN(test_invalid_utf8);
    RUN(test_cache);
    RUN(test_threads);
    CHECK_EXIT();
}
