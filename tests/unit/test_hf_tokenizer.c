/* Unit tests for tokenizer.json loading (lib/hf_tokenizer.c, hf_encode.c): a clear error for
 * each malformed or unsupported file that names the component, loading by path and by folder,
 * the post-processor's BOS/EOS, a hash that covers the whole definition, a round trip
 * through the hand-written SentencePiece-style tokenizer of tests/tokenizers, writing
 * tokenizer.json back (llm_tokenizer_to_json) and adding tokens (llm_tokenizer_add_tokens).
 * The token ids themselves are compared with Hugging Face's tokenizers by
 * tests/cli/tokenizer_conformance.sh and tests/cli/tokenize_added.sh. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tokenizer.h"

/* A minimal text (not byte-level) BPE; %s slots: extra top-level members, model members. */
#define TINY "{%s\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, " \
             "\"merges\": [\"a b\"]%s}}"

/* Loads TINY with the two slots filled; expects failure with `want` in the message (or
 * success when want is NULL). */
static void expect(const char *top, const char *model, const char *want)
{
    char json[2048];
    snprintf(json, sizeof json, TINY, top, model);
    llm_error err = {{0}};
    llm_tokenizer *t = llm_tokenizer_from_hf_json(json, strlen(json), "tiny", &err);
    if (want == NULL)
        CHECKF(t != NULL, "%s: %s", json, err.msg);
    else
        CHECKF(t == NULL && strstr(err.msg, want) != NULL, "%s: got '%s', wanted '%s'", json,
               t ? "success" : err.msg, want);
    llm_tokenizer_free(t);
}

static void test_errors(void)
{
    expect("", "", NULL);
    llm_error err;
    CHECK(llm_tokenizer_from_hf_json("{\"model\": ", 10, "x", &err) == NULL && err.msg[0] != '\0');
    CHECK(llm_tokenizer_from_hf_json("[]", 2, "x", &err) == NULL && strstr(err.msg, "not a JSON object"));
    CHECK(llm_tokenizer_from_hf_json("{}", 2, "x", &err) == NULL && strstr(err.msg, "missing \"model\""));
    const char *wp = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}";
    CHECK(llm_tokenizer_from_hf_json(wp, strlen(wp), "x", &err) == NULL &&
          strstr(err.msg, "unsupported model 'WordPiece'"));
    expect("\"normalizer\": {\"type\": \"Lowercase\"},", "", "unsupported normalizer 'Lowercase'");
    expect("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
           "{\"type\": \"Strip\"}]},", "", "unsupported normalizer 'Strip'");
    expect("\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a+\"}, \"content\": \"b\"},",
           "", "unsupported normalizer 'Replace' with a Regex");
    expect("\"pre_tokenizer\": {\"type\": \"Metaspace\"},", "", "unsupported pre-tokenizer 'Metaspace'");
    expect("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
           "\"behavior\": \"Isolated\"},", "", "bad regex");
    expect("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, "
           "\"behavior\": \"Sideways\"},", "", "unsupported Split behavior 'Sideways'");
    expect("\"pre_tokenizer\": {\"type\": \"Split\", \"behavior\": \"Isolated\"},", "",
           "Split: missing \"pattern\"");
    expect("\"post_processor\": {\"type\": \"BertProcessing\"},", "",
           "unsupported post-processor 'BertProcessing'");
    expect("\"decoder\": {\"type\": \"WordPiece\"},", "", "unsupported decoder 'WordPiece'");
    expect("\"truncation\": {\"max_length\": 5},", "", "unsupported \"truncation\"");
    expect("", ", \"continuing_subword_prefix\": \"##\"", "unsupported BPE option 'continuing_subword_prefix'");
    expect("", ", \"dropout\": 0.1", "unsupported BPE option 'dropout'");
    expect("", ", \"unk_token\": \"<unk>\"", "unk_token \"<unk>\" is not in the vocabulary");
    expect("", ", \"byte_fallback\": \"yes\"", "\"byte_fallback\" is not a boolean");
    expect("\"added_tokens\": [{\"id\": 3}],", "", "added_tokens[0]: missing \"content\"");
    expect("\"added_tokens\": [{\"id\": 3, \"content\": \"x\"}, {\"id\": 3, \"content\": \"y\"}],", "",
           "id 3 appears twice");
    /* Merges naming tokens that are not in the vocabulary, or malformed. */
    const char *bad_merge = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}";
    CHECK(llm_tokenizer_from_hf_json(bad_merge, strlen(bad_merge), "x", &err) == NULL &&
          strstr(err.msg, "merges[0]") && strstr(err.msg, "the merged token is not in the vocabulary"));
    const char *bad_form = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}";
    CHECK(llm_tokenizer_from_hf_json(bad_form, strlen(bad_form), "x", &err) == NULL &&
          strstr(err.msg, "merges[0]: not \"a b\""));
    /* Byte-level BPE needs a token for every byte. */
    expect("\"pre_tokenizer\": {\"type\": \"ByteLevel\"},", "", "no token for the single byte");
}

static void test_load_paths(void)
{
    llm_error err;
    llm_tokenizer *a = llm_tokenizer_load("tests/tokenizers/sp_tiny.json", &err);
    CHECKF(a != NULL, "%s", err.msg);
    if (a == NULL)
        return;
    CHECK(strcmp(llm_tokenizer_name(a), "sp_tiny") == 0);
    int64_t bos, eos;
    llm_tokenizer_template(a, &bos, &eos);
    CHECK(bos == 1 && eos == -1);
    CHECK(llm_tokenizer_bos(a) == 1 && llm_tokenizer_eos(a) == 2);
    CHECK(llm_tokenizer_n_special(a) == 3 && llm_tokenizer_special_id(a, "</s>") == 2);

    /* A folder holding tokenizer.json is named after the folder. */
    char dir[] = "/tmp/llm-hf-test.XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *target = realpath("tests/tokenizers/sp_tiny.json", NULL);
    CHECK(target != NULL && symlink(target, path) == 0);
    free(target);
    llm_tokenizer *b = llm_tokenizer_load(dir, &err);
    CHECKF(b != NULL, "%s", err.msg);
    if (b) {
        CHECK(strncmp(llm_tokenizer_name(b), "llm-hf-test.", 12) == 0);
        CHECK(llm_tokenizer_hash(a) == llm_tokenizer_hash(b));
    }
    llm_tokenizer_free(b);
    unlink(path);
    rmdir(dir);
    CHECK(llm_tokenizer_load("/nonexistent/tokenizer.json", &err) == NULL && strstr(err.msg, "/nonexistent"));
    CHECK(llm_tokenizer_load("no_such_tokenizer", &err) == NULL && strstr(err.msg, "unknown tokenizer"));
    llm_tokenizer_free(a);
}

/* Any change to the definition changes the hash: an added token, a merge, a component. */
static void test_hash(void)
{
    const char *base = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}";
    const char *added = "{\"added_tokens\": [{\"id\": 3, \"content\": \"<x>\", \"special\": true}], "
                        "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}";
    const char *nomerge = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": []}}";
    const char *nfc = "{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": "
                      "{\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [[\"a\", \"b\"]]}}";
    const char *texts[] = {base, added, nomerge, nfc};
    uint64_t h[4] = {0};
    for (int i = 0; i < 4; i++) {
        llm_error err;
        llm_tokenizer *t = llm_tokenizer_from_hf_json(texts[i], strlen(texts[i]), "t", &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t)
            h[i] = llm_tokenizer_hash(t);
        if (t && i == 1)
            CHECK(llm_tokenizer_vocab_size(t) == 4);
        llm_tokenizer_free(t);
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            CHECK(h[i] != h[j]);
}

static void test_sentencepiece_roundtrip(void)
{
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load("tests/tokenizers/sp_tiny.json", &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t == NULL)
        return;
    llm_encoder *e = llm_encoder_new(t, 0);
    const char *texts[] = {"hello world", " two  spaces ", "床前明月光 ☃ 😀", "<s> plain </s>", ""};
    llm_ids ids;
    llm_buf back;
    llm_ids_init(&ids);
    llm_buf_init(&back);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        llm_ids_clear(&ids);
        llm_buf_clear(&back);
        CHECK(llm_encode(e, texts[i], strlen(texts[i]), 0, &ids, &err) == 0);
        CHECK(llm_decode(t, ids.data, ids.len, &back, &err) == 0);
        CHECKF(back.len == strlen(texts[i]) && memcmp(back.data, texts[i], back.len) == 0,
               "'%s' came back as '%.*s'", texts[i], (int)back.len, back.data);
        for (size_t k = 0; k < ids.len; k++)
            CHECK(ids.data[k] != 0);   /* byte fallback: never <unk> */
    }
    /* Special-token strings are text unless allowed. */
    llm_ids_clear(&ids);
    CHECK(llm_encode(e, "<s>", 3, 1, &ids, &err) == 0 && ids.len == 1 && ids.data[0] == 1);
    llm_ids_clear(&ids);
    CHECK(llm_encode(e, "<s>", 3, 0, &ids, &err) == 0 && ids.len > 1);
    llm_ids_free(&ids);
    llm_buf_free(&back);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
}

/* The named tokenizers of make tokenizers, when they are there. */
static void test_named(void)
{
    if (access("data/tokenizers/qwen3.json", R_OK) != 0 || access("data/tokenizers/llama3.json", R_OK) != 0) {
        printf("ok test_named # skipped: no data/tokenizers/qwen3.json (make tokenizers)\n");
        return;
    }
    llm_error err;
    llm_tokenizer *q = llm_tokenizer_load("data/tokenizers/qwen3.json", &err);
    llm_tokenizer *l = llm_tokenizer_load("data/tokenizers/llama3.json", &err);
    CHECKF(q && l, "%s", err.msg);
    if (q && l) {
        CHECK(llm_tokenizer_vocab_size(q) == 151669 && llm_tokenizer_eos(q) == 151643);
        CHECK(llm_tokenizer_vocab_size(l) == 128256 && llm_tokenizer_eos(l) == 128001 &&
              llm_tokenizer_bos(l) == 128000);
        llm_encoder *e = llm_encoder_new(q, 0);
        llm_ids ids;
        llm_ids_init(&ids);
        CHECK(llm_encode(e, "Hello world", 11, 0, &ids, &err) == 0 && ids.len == 2 &&
              ids.data[0] == 9707 && ids.data[1] == 1879);
        llm_ids_free(&ids);
        llm_encoder_free(e);
    }
    llm_tokenizer_free(q);
    llm_tokenizer_free(l);
}

/* ids of text, or an empty list when encoding fails. */
static void encode_all(const llm_tokenizer *t, const char *text, int special, llm_ids *ids)
{
    llm_error err;
    llm_encoder *e = llm_encoder_new(t, 0);
    llm_ids_clear(ids);
    if (e == NULL || llm_encode(e, text, strlen(text), special, ids, &err) < 0)
        llm_ids_clear(ids);
    llm_encoder_free(e);
}

static int same_ids(const llm_ids *a, const llm_ids *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len * sizeof *a->data) == 0);
}

static const char *const sample_texts[] = {
    "hello world", " two  spaces \n\n tabs\t\t", "foo food xfoo Bar  x [MASK] <|sep|>", "café cafe\u0301",
    "床前明月光 ☃ 😀 I'LL she'd've 12345", "<s> plain </s> <|endoftext|>", "",
};

/* A tokenizer written by llm_tokenizer_to_json and loaded again is the same tokenizer: the
 * same hash for a tokenizer.json, the same ids for a tiktoken encoding. */
static void test_save_roundtrip(void)
{
    const char *files[] = {"tests/tokenizers/sp_tiny.json", "tests/tokenizers/sp_unk.json",
                           "tests/tokenizers/bl_tiny.json", "tests/tokenizers/bl_split.json", NULL};
    llm_ids a, b;
    llm_ids_init(&a);
    llm_ids_init(&b);
    for (int i = 0; i < 5; i++) {
        llm_error err;
        llm_tokenizer *t = files[i] ? llm_tokenizer_load(files[i], &err) : llm_tokenizer_load_embedded(&err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t == NULL)
            continue;
        llm_buf json;
        llm_buf_init(&json);
        CHECKF(llm_tokenizer_to_json(t, &json, &err) == 0, "%s", err.msg);
        llm_tokenizer *u = llm_tokenizer_from_hf_json(json.data, json.len, "again", &err);
        CHECKF(u != NULL, "%s: %s", files[i] ? files[i] : "gpt2", err.msg);
        if (u != NULL) {
            if (files[i])
                CHECKF(llm_tokenizer_hash(t) == llm_tokenizer_hash(u), "%s: the hash changed", files[i]);
            CHECK(llm_tokenizer_vocab_size(t) == llm_tokenizer_vocab_size(u));
            CHECK(llm_tokenizer_eos(t) == llm_tokenizer_eos(u));
            for (size_t k = 0; k < sizeof sample_texts / sizeof sample_texts[0]; k++)
                for (int special = 0; special < 2; special++) {
                    encode_all(t, sample_texts[k], special, &a);
                    encode_all(u, sample_texts[k], special, &b);
                    CHECKF(same_ids(&a, &b), "%s: '%s' (special %d): %zu ids, then %zu",
                           files[i] ? files[i] : "gpt2", sample_texts[k], special, a.len, b.len);
                }
        }
        /* Loaded from the written file, a tiktoken encoding's JSON says what it is. */
        if (files[i] == NULL)
            CHECK(strstr(json.data, "\"ignore_merges\": true") && strstr(json.data, "\"<|endoftext|>\": 50256") &&
                  strstr(json.data, "\"Ġ t\""));
        llm_buf_free(&json);
        llm_tokenizer_free(u);
        llm_tokenizer_free(t);
    }
    llm_ids_free(&a);
    llm_ids_free(&b);
}

/* Hugging Face's add_tokens: new ids after the highest, a token of the vocabulary keeps its
 * id, added tokens and repeats are skipped, each matched whole. */
static void test_add_tokens(void)
{
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load("tests/tokenizers/bl_tiny.json", &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t == NULL)
        return;
    uint64_t hash = llm_tokenizer_hash(t);
    const char *tokens[] = {"xyz", "foo", "a", "xyz", "", "h\xC3\xA9", "<|sep|>", "xy", "xyzw"};
    size_t lens[9];
    for (int i = 0; i < 9; i++)
        lens[i] = strlen(tokens[i]);
    llm_added_count c;
    llm_tokenizer *x = llm_tokenizer_add_tokens(t, tokens, lens, 9, "bl_more", &c, &err);
    CHECKF(x != NULL, "%s", err.msg);
    if (x == NULL) {
        llm_tokenizer_free(t);
        return;
    }
    CHECKF(c.added == 4 && c.first_id == 761 && c.in_vocab == 1 && c.skipped == 4,
           "added %zu from %u, in vocab %zu, skipped %zu", c.added, c.first_id, c.in_vocab, c.skipped);
    CHECK(strcmp(llm_tokenizer_name(x), "bl_more") == 0 && llm_tokenizer_vocab_size(x) == 765);
    CHECK(llm_tokenizer_hash(t) == hash && llm_tokenizer_hash(x) != hash);
    llm_ids ids;
    llm_ids_init(&ids);
    /* The ids of Hugging Face's tokenizers after the same add_tokens. */
    encode_all(x, "bxyzc", 0, &ids);
    CHECK(ids.len == 3 && ids.data[0] == 268 && ids.data[1] == 761 && ids.data[2] == 261);
    /* Of the tokens that start at a place, the longest (xy, xyz, xyzw). */
    encode_all(x, "bxyc", 0, &ids);
    CHECK(ids.len == 3 && ids.data[0] == 268 && ids.data[1] == 763 && ids.data[2] == 261);
    encode_all(x, "bxyzwc", 0, &ids);
    CHECK(ids.len == 3 && ids.data[0] == 268 && ids.data[1] == 764 && ids.data[2] == 261);
    encode_all(x, "xyzxy", 0, &ids);
    CHECK(ids.len == 2 && ids.data[0] == 761 && ids.data[1] == 763);
    encode_all(x, "h\xC3\xA9", 0, &ids);
    CHECK(ids.len == 1 && ids.data[0] == 762);
    /* "a", of the vocabulary, is now matched whole; as the crate does, it keeps its id. */
    encode_all(x, "xa", 0, &ids);
    CHECK(ids.len == 3 && ids.data[0] == 32 && ids.data[1] == 120 && ids.data[2] == 97);
    /* Saved and loaded again: the same tokenizer. */
    llm_buf json;
    llm_buf_init(&json);
    CHECK(llm_tokenizer_to_json(x, &json, &err) == 0);
    llm_tokenizer *y = llm_tokenizer_from_hf_json(json.data, json.len, "bl_more", &err);
    CHECKF(y != NULL && llm_tokenizer_hash(y) == llm_tokenizer_hash(x), "%s", y ? "another hash" : err.msg);
    llm_tokenizer_free(y);
    llm_buf_free(&json);
    /* Not UTF-8: refused, naming the token. */
    const char *bad[] = {"ok", "\xFF"};
    size_t bad_lens[] = {2, 1};
    CHECK(llm_tokenizer_add_tokens(t, bad, bad_lens, 2, NULL, &c, &err) == NULL &&
          strstr(err.msg, "token 2 is not valid UTF-8"));
    llm_ids_free(&ids);
    llm_tokenizer_free(x);
    llm_tokenizer_free(t);
}

/* A tiktoken encoding (the embedded GPT-2) extended: its tokenizer.json, then the tokens. */
static void test_add_tokens_tiktoken(void)
{
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load_embedded(&err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t == NULL)
        return;
    const char *tokens[] = {"\xE4\xB8\xAD\xE5\x9B\xBD", "hello", "<|endoftext|>", " the end"};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(tokens[i]);
    llm_added_count c;
    llm_tokenizer *x = llm_tokenizer_add_tokens(t, tokens, lens, 4, NULL, &c, &err);
    CHECKF(x != NULL, "%s", err.msg);
    if (x == NULL) {
        llm_tokenizer_free(t);
        return;
    }
    CHECKF(c.added == 2 && c.first_id == 50257 && c.in_vocab == 1 && c.skipped == 1,
           "added %zu from %u, in vocab %zu, skipped %zu", c.added, c.first_id, c.in_vocab, c.skipped);
    CHECK(strcmp(llm_tokenizer_name(x), "gpt2") == 0 && llm_tokenizer_vocab_size(x) == 50259);
    CHECK(llm_tokenizer_eos(x) == 50256 && llm_tokenizer_hash(x) != llm_tokenizer_hash(t));
    llm_ids ids;
    llm_ids_init(&ids);
    encode_all(x, "\xE6\x88\x91\xE4\xB8\xAD\xE5\x9B\xBDhello the end", 0, &ids);
    CHECKF(ids.len >= 3 && ids.data[ids.len - 3] == 50257 && ids.data[ids.len - 2] == 31373 &&
           ids.data[ids.len - 1] == 50258, "%zu ids", ids.len);
    llm_buf back;
    llm_buf_init(&back);
    CHECK(llm_decode(x, ids.data, ids.len, &back, &err) == 0 && back.len == 22 &&
          memcmp(back.data, "\xE6\x88\x91\xE4\xB8\xAD\xE5\x9B\xBDhello the end", 22) == 0);
    encode_all(x, "Hello world<|endoftext|>", 1, &ids);
    CHECK(ids.len == 3 && ids.data[0] == 15496 && ids.data[1] == 995 && ids.data[2] == 50256);
    llm_buf_free(&back);
    llm_ids_free(&ids);
    llm_tokenizer_free(x);
    llm_tokenizer_free(t);
}

int main(void)
{
    RUN(test_errors);
    RUN(test_load_paths);
    RUN(test_hash);
    RUN(test_sentencepiece_roundtrip);
    RUN(test_named);
    RUN(test_save_roundtrip);
    RUN(test_add_tokens);
    RUN(test_add_tokens_tiktoken);
    return check_cases_failed != 0;
}
