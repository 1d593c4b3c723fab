/* Loading Hugging Face tokenizer.json (BPE models): the vocabulary and merges into an llm_bpe,
 * and the normalizers, pre-tokenizers, added tokens, post-processor and decoders into an
 * llm_hf. What the file asks for and we do not do is an error that names the component, so
 * that a tokenizer is never silently encoded differently from the crate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_tokenizer.h"
#include "json.h"
#include "utf8.h"

/* GPT-2's ByteLevel pre-tokenizer regex (use_regex: true). */
#define BYTELEVEL_PATTERN LLM_PRETOK_GPT2

typedef struct loader {
    llm_hf *h;
    llm_error *err;
    llm_buf config;
} loader;

void llm_hf_free(llm_hf *h)
{
    if (h == NULL)
        return;
    llm_bpe_free(h->bpe);
    for (size_t i = 0; i < h->n_norm; i++) {
        free(h->norm[i].a);
        free(h->norm[i].b);
    }
    free(h->norm);
    for (size_t i = 0; i < h->n_pre; i++)
        llm_pretok_free(h->pre[i].re);
    free(h->pre);
    for (size_t i = 0; i < h->n_added; i++) {
        free(h->added[i].text);
        free(h->added[i].content);
    }
    free(h->added);
    free(h->added_slots);
    free(h->added_order);
    for (size_t i = 0; i < h->n_extra; i++)
        free(h->extra[i].text);
    free(h->extra);
    free(h->merges);
    for (size_t i = 0; i < h->n_dec; i++) {
        free(h->dec[i].a);
        free(h->dec[i].b);
    }
    free(h->dec);
    free(h->config);
    free(h);
}

/* ---- small JSON helpers: each returns -1 with the error set ---- */

static int oom(loader *L)
{
    return llm_error_set(L->err, "out of memory");
}

static const char *type_of(llm_json obj)
{
    llm_json t;
    const char *s;
    size_t n;
    if (llm_json_type_of(obj) != LLM_JSON_OBJECT || !llm_json_field(obj, "type", &t) ||
        llm_json_get_string(t, &s, &n) < 0)
        return NULL;
    return s;
}

/* A boolean member; def when absent or null. */
static int get_bool(loader *L, llm_json obj, const char *where, const char *key, int def, int *out)
{
    llm_json v;
    *out = def;
    if (!llm_json_field(obj, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL)
        return 0;
    if (llm_json_get_bool(v, out) < 0)
        return llm_error_set(L->err, "%s: \"%s\" is not a boolean", where, key);
    return 0;
}

/* A string member (copied, NUL-terminated): NULL in *out when absent or null and !need. */
static int get_string(loader *L, llm_json obj, const char *where, const char *key, int need,
                      char **out, size_t *len)
{
    llm_json v;
    const char *s;
    size_t n;
    *out = NULL;
    if (len)
        *len = 0;
    if (!llm_json_field(obj, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL) {
        if (need)
            return llm_error_set(L->err, "%s: missing \"%s\"", where, key);
        return 0;
    }
    if (llm_json_get_string(v, &s, &n) < 0)
        return llm_error_set(L->err, "%s: \"%s\" is not a string", where, key);
    if ((*out = malloc(n + 1)) == NULL)
        return oom(L);
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

static int get_uint(loader *L, llm_json obj, const char *where, const char *key, uint64_t def,
                    uint64_t *out)
{
    llm_json v;
    *out = def;
    if (!llm_json_field(obj, key, &v) || llm_json_type_of(v) == LLM_JSON_NULL)
        return 0;
    if (llm_json_get_uint64(v, out) < 0)
        return llm_error_set(L->err, "%s: \"%s\" is not a non-negative integer", where, key);
    return 0;
}

/* Appends "key":value to the hashed configuration, and notes where the value is. */
static void keep_config(loader *L, llm_hf_part part, const char *key, llm_json v)
{
    llm_buf_printf(&L->config, "\"%s\":", key);
    L->h->part_off[part] = L->config.len;
    llm_json_minify(v, &L->config);
    L->h->part_len[part] = L->config.len - L->h->part_off[part];
    llm_buf_putc(&L->config, ';');
}

/* A Sequence step: each item of its array `field`, through add (normalizers, pre-tokenizers,
 * decoders and post-processors all nest the same way). */
static int add_sequence(loader *L, llm_json n, const char *field, const char *what, int (*add)(loader *, llm_json))
{
    llm_json list, item;
    llm_json_iter it;
    if (!llm_json_field(n, field, &list) || llm_json_type_of(list) != LLM_JSON_ARRAY)
        return llm_error_set(L->err, "%s Sequence: missing \"%s\" array", what, field);
    llm_json_array_begin(list, &it);
    while (llm_json_array_next(&it, &item))
        if (add(L, item) < 0)
            return -1;
    return 0;
}

/* ---- normalizers ---- */

static int add_norm(loader *L, llm_json n)
{
    llm_hf *h = L->h;
    const char *type = type_of(n);
    if (type == NULL)
        return llm_error_set(L->err, "normalizer: not an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0)
        return add_sequence(L, n, "normalizers", "normalizer", add_norm);
    llm_hf_norm step = {0};
    if (strcmp(type, "NFC") == 0) {
        step.kind = HF_NORM_NFC;
    } else if (strcmp(type, "NFKC") == 0) {
        step.kind = HF_NORM_NFKC;
    } else if (strcmp(type, "Prepend") == 0) {
        step.kind = HF_NORM_PREPEND;
        if (get_string(L, n, "normalizer Prepend", "prepend", 1, &step.a, &step.alen) < 0)
            return -1;
    } else if (strcmp(type, "Replace") == 0) {
        step.kind = HF_NORM_REPLACE;
        llm_json pat;
        if (!llm_json_field(n, "pattern", &pat) || llm_json_type_of(pat) != LLM_JSON_OBJECT)
            return llm_error_set(L->err, "normalizer Replace: missing \"pattern\"");
        if (get_string(L, pat, "normalizer Replace", "String", 0, &step.a, &step.alen) < 0)
            return -1;
        if (step.a == NULL)
            return llm_error_set(L->err, "unsupported normalizer 'Replace' with a Regex pattern "
                                 "(only String patterns)");
        if (step.alen == 0) {
            free(step.a);
            return llm_error_set(L->err, "normalizer Replace: empty pattern");
        }
        if (get_string(L, n, "normalizer Replace", "content", 1, &step.b, &step.blen) < 0) {
            free(step.a);
            return -1;
        }
    } else {
        return llm_error_set(L->err, "unsupported normalizer '%s' (supported: NFC, NFKC, Prepend, "
                             "Replace, Sequence)", type);
    }
    llm_hf_norm *grown = realloc(h->norm, (h->n_norm + 1) * sizeof *grown);
    if (grown == NULL) {
        free(step.a);
        free(step.b);
        return oom(L);
    }
    h->norm = grown;
    h->norm[h->n_norm++] = step;
    return 0;
}

/* ---- pre-tokenizers ---- */

/* A literal pattern as a PCRE2 regex: every ASCII character that is not a letter or digit
 * escaped (a backslash before any of them means the character itself). */
static char *escape_literal(const char *s, size_t n)
{
    char *out = malloc(2 * n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

static int parse_behavior(loader *L, llm_json n, llm_hf_split *out)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    char *s;
    if (get_string(L, n, "pre-tokenizer Split", "behavior", 1, &s, NULL) < 0)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (llm_hf_split)i;
            free(s);
            return 0;
        }
    llm_error_set(L->err, "unsupported Split behavior '%s'", s);
    free(s);
    return -1;
}

static int add_pre(loader *L, llm_json n)
{
    llm_hf *h = L->h;
    const char *type = type_of(n);
    if (type == NULL)
        return llm_error_set(L->err, "pre_tokenizer: not an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0)
        return add_sequence(L, n, "pretokenizers", "pre-tokenizer", add_pre);
    llm_hf_pre step = {0};
    char *pattern = NULL;
    if (strcmp(type, "Split") == 0) {
        step.kind = HF_PRE_SPLIT;
        llm_json pat;
        if (!llm_json_field(n, "pattern", &pat) || llm_json_type_of(pat) != LLM_JSON_OBJECT)
            return llm_error_set(L->err, "pre-tokenizer Split: missing \"pattern\"");
        size_t len;
        if (get_string(L, pat, "pre-tokenizer Split", "Regex", 0, &pattern, &len) < 0)
            return -1;
        if (pattern == NULL) {
            char *lit;
            if (get_string(L, pat, "pre-tokenizer Split", "String", 1, &lit, &len) < 0)
                return -1;
            pattern = escape_literal(lit, len);
            free(lit);
            if (pattern == NULL)
                return oom(L);
        }
        if (strlen(pattern) != len && memchr(pattern, '\0', len) != NULL) {
            free(pattern);
            return llm_error_set(L->err, "pre-tokenizer Split: pattern holds a NUL");
        }
        if (parse_behavior(L, n, &step.behavior) < 0 ||
            get_bool(L, n, "pre-tokenizer Split", "invert", 0, &step.invert) < 0) {
            free(pattern);
            return -1;
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        step.kind = HF_PRE_BYTELEVEL;
        int use_regex;
        if (get_bool(L, n, "pre-tokenizer ByteLevel", "add_prefix_space", 1, &step.add_prefix_space) < 0 ||
            get_bool(L, n, "pre-tokenizer ByteLevel", "use_regex", 1, &use_regex) < 0)
            return -1;
        if (use_regex && (pattern = strdup(BYTELEVEL_PATTERN)) == NULL)
            return oom(L);
        h->byte_level = 1;
    } else if (strcmp(type, "Digits") == 0) {
        step.kind = HF_PRE_DIGITS;
        if (get_bool(L, n, "pre-tokenizer Digits", "individual_digits", 0, &step.individual) < 0)
            return -1;
    } else {
        return llm_error_set(L->err, "unsupported pre-tokenizer '%s' (supported: ByteLevel, Split, "
                             "Digits, Sequence)", type);
    }
    if (pattern != NULL) {
        llm_error why;
        step.re = llm_pretok_new(pattern, &why);
        free(pattern);
        if (step.re == NULL)
            return llm_error_set(L->err, "pre-tokenizer %s: %s", type, why.msg);
    }
    llm_hf_pre *grown = realloc(h->pre, (h->n_pre + 1) * sizeof *grown);
    if (grown == NULL) {
        llm_pretok_free(step.re);
        return oom(L);
    }
    h->pre = grown;
    h->pre[h->n_pre++] = step;
    return 0;
}

/* ---- decoders ---- */

static int add_dec(loader *L, llm_json n)
{
    llm_hf *h = L->h;
    const char *type = type_of(n);
    if (type == NULL)
        return llm_error_set(L->err, "decoder: not an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0)
        return add_sequence(L, n, "decoders", "decoder", add_dec);
    /* ByteLevel's work (bytes back from the alphabet) is done: the table holds raw bytes.
     * Fuse only joins the tokens, which decoding does anyway. */
    if (strcmp(type, "ByteLevel") == 0 || strcmp(type, "Fuse") == 0)
        return 0;
    if (strcmp(type, "ByteFallback") == 0) {
        h->dec_byte_fallback = 1;
        return 0;
    }
    llm_hf_dec step = {0};
    if (strcmp(type, "Replace") == 0) {
        step.kind = HF_DEC_REPLACE;
        llm_json pat;
        if (!llm_json_field(n, "pattern", &pat) ||
            get_string(L, pat, "decoder Replace", "String", 0, &step.a, &step.alen) < 0)
            return llm_error_set(L->err, "decoder Replace: missing \"pattern\"");
        if (step.a == NULL || step.alen == 0) {
            free(step.a);
            return llm_error_set(L->err, "unsupported decoder 'Replace' with a Regex or empty pattern");
        }
        if (get_string(L, n, "decoder Replace", "content", 1, &step.b, &step.blen) < 0) {
            free(step.a);
            return -1;
        }
    } else if (strcmp(type, "Strip") == 0) {
        step.kind = HF_DEC_STRIP;
        uint64_t start, stop;
        if (get_string(L, n, "decoder Strip", "content", 1, &step.a, &step.alen) < 0)
            return -1;
        if (get_uint(L, n, "decoder Strip", "start", 0, &start) < 0 ||
            get_uint(L, n, "decoder Strip", "stop", 0, &stop) < 0) {
            free(step.a);
            return -1;
        }
        step.start = (size_t)start;
        step.stop = (size_t)stop;
    } else {
        return llm_error_set(L->err, "unsupported decoder '%s' (supported: ByteLevel, Replace, "
                             "ByteFallback, Fuse, Strip, Sequence)", type);
    }
    llm_hf_dec *grown = realloc(h->dec, (h->n_dec + 1) * sizeof *grown);
    if (grown == NULL) {
        free(step.a);
        free(step.b);
        return oom(L);
    }
    h->dec = grown;
    h->dec[h->n_dec++] = step;
    return 0;
}

/* ---- post-processor: only the BOS/EOS of the single-sequence template matter here ---- */

static int add_post(loader *L, llm_json n)
{
    llm_hf *h = L->h;
    const char *type = type_of(n);
    if (type == NULL)
        return llm_error_set(L->err, "post_processor: not an object with a \"type\"");
    if (strcmp(type, "ByteLevel") == 0)
        return 0;   /* offsets only */
    if (strcmp(type, "Sequence") == 0)
        return add_sequence(L, n, "processors", "post-processor", add_post);
    if (strcmp(type, "TemplateProcessing") != 0)
        return llm_error_set(L->err, "unsupported post-processor '%s' (supported: TemplateProcessing, "
                             "ByteLevel, Sequence)", type);
    llm_json single, specials, item;
    llm_json_iter it;
    if (!llm_json_field(n, "single", &single) || llm_json_type_of(single) != LLM_JSON_ARRAY ||
        !llm_json_field(n, "special_tokens", &specials))
        return llm_error_set(L->err, "post-processor TemplateProcessing: missing \"single\" or "
                             "\"special_tokens\"");
    int seen_text = 0;
    llm_json_array_begin(single, &it);
    while (llm_json_array_next(&it, &item)) {
        llm_json sp, idv, tok, ids, first;
        const char *name;
        size_t len;
        if (llm_json_field(item, "Sequence", &sp)) {
            seen_text = 1;
            continue;
        }
        if (!llm_json_field(item, "SpecialToken", &sp) || !llm_json_field(sp, "id", &idv) ||
            llm_json_get_string(idv, &name, &len) < 0)
            return llm_error_set(L->err, "post-processor TemplateProcessing: bad \"single\" item");
        if (!llm_json_field(specials, name, &tok) || !llm_json_field(tok, "ids", &ids) ||
            llm_json_array_len(ids) != 1)
            return llm_error_set(L->err, "post-processor TemplateProcessing: special token '%s' "
                                 "needs exactly one id in \"special_tokens\"", name);
        llm_json_iter k;
        uint64_t id;
        llm_json_array_begin(ids, &k);
        if (!llm_json_array_next(&k, &first) || llm_json_get_uint64(first, &id) < 0 ||
            id >= LLM_BPE_MAX_IDS)
            return llm_error_set(L->err, "post-processor TemplateProcessing: bad id for '%s'", name);
        if (!seen_text && h->bos < 0)
            h->bos = (int64_t)id;
        else if (seen_text && h->eos < 0)
            h->eos = (int64_t)id;
    }
    return 0;
}

/* ---- the BPE model ---- */

/* GPT-2's bytes_to_unicode, inverted: the byte each alphabet character stands for, -1 for
 * characters outside the alphabet (which ends at U+0143). */
static void byte_alphabet(int16_t inv[0x144])
{
    for (int c = 0; c < 0x144; c++)
        inv[c] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        inv[printable ? b : 256 + extra++] = (int16_t)b;
    }
}

/* A byte-level vocabulary string back to its bytes: the length, or -1 when a character is
 * outside the alphabet (such a token can never be produced from text). */
static long unmap_bytes(const int16_t inv[0x144], const char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = llm_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return -1;
        uint32_t cp = llm_utf8_decode((const unsigned char *)s + i, k);
        if (cp >= 0x144 || inv[cp] < 0)
            return -1;
        out[o++] = (unsigned char)inv[cp];
        i += k;
    }
    return (long)o;
}

/* bytes_to_unicode itself: the alphabet character of byte b. The bytes that are not printable
 * (0-32, 127-160 and 173) take U+0100 on, in byte order. */
static uint32_t byte_char(unsigned char b)
{
    if (b <= 32)
        return 256u + b;
    if (b >= 127 && b <= 160)
        return 256u + 33 + (b - 127u);
    return b == 173 ? 256u + 33 + 34 : b;
}

void llm_hf_byte_alphabet(const unsigned char *s, size_t n, llm_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = byte_char(s[i]);
        if (c < 0x80) {
            llm_buf_putc(out, (char)c);
        } else {
            char two[2] = {(char)(0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
            llm_buf_append(out, two, 2);
        }
    }
}

/* The entry with this id in an array sorted by id, or NULL. */
static const llm_hf_added *find_by_id(const llm_hf_added *a, size_t n, uint32_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo].id == id ? &a[lo] : NULL;
}

static const llm_hf_added *extra_by_id(const llm_hf *h, uint32_t id)
{
    return find_by_id(h->extra, h->n_extra, id);
}

int llm_hf_vocab_string(const llm_hf *h, uint32_t id, llm_buf *out)
{
    size_t len;
    const unsigned char *s = llm_bpe_token(h->bpe, id, &len);
    if (s != NULL) {
        if (h->byte_level)
            llm_hf_byte_alphabet(s, len, out);
        else
            llm_buf_append(out, s, len);
        return 0;
    }
    const llm_hf_added *x = extra_by_id(h, id);
    if (x == NULL)
        return -1;
    llm_buf_append(out, x->text, x->len);
    return 0;
}

uint32_t llm_hf_vocab_id(const llm_hf *h, const char *s, size_t n)
{
    for (size_t i = 0; i < h->n_extra; i++)
        if (h->extra[i].len == n && memcmp(h->extra[i].text, s, n) == 0)
            return h->extra[i].id;
    if (!h->byte_level)
        return n > 0 ? llm_bpe_lookup(h->bpe, s, n) : LLM_BPE_NONE;
    int16_t inv[0x144];
    byte_alphabet(inv);
    unsigned char *tmp = malloc(n + 1);
    if (tmp == NULL)
        return LLM_BPE_NONE;
    long k = unmap_bytes(inv, s, n, tmp);
    uint32_t id = k > 0 ? llm_bpe_lookup(h->bpe, tmp, (size_t)k) : LLM_BPE_NONE;
    free(tmp);
    return id;
}

/* A token the model cannot reach from text, kept for decoding and the hash. */
static int add_extra(loader *L, uint32_t id, const char *s, size_t n)
{
    llm_hf *h = L->h;
    llm_hf_added *grown = realloc(h->extra, (h->n_extra + 1) * sizeof *grown);
    if (grown == NULL)
        return oom(L);
    h->extra = grown;
    llm_hf_added *a = &h->extra[h->n_extra];
    memset(a, 0, sizeof *a);
    if ((a->text = malloc(n + 1)) == NULL)
        return oom(L);
    memcpy(a->text, s, n);
    a->text[n] = '\0';
    a->len = n;
    a->id = id;
    h->n_extra++;
    return 0;
}

static int by_id(const void *a, const void *b);

/* The id of a vocabulary string as the merges name it. */
static uint32_t vocab_id(const llm_hf *h, const int16_t inv[0x144], const char *s, size_t n,
                         unsigned char *tmp)
{
    if (!h->byte_level)
        return llm_bpe_lookup(h->bpe, s, n);
    long k = unmap_bytes(inv, s, n, tmp);
    return k <= 0 ? LLM_BPE_NONE : llm_bpe_lookup(h->bpe, tmp, (size_t)k);
}

static int load_vocab(loader *L, llm_json vocab, const int16_t inv[0x144])
{
    llm_hf *h = L->h;
    if (llm_json_type_of(vocab) != LLM_JSON_OBJECT)
        return llm_error_set(L->err, "model: \"vocab\" is not an object");
    llm_json_iter it;
    const char *key;
    size_t klen;
    llm_json v;
    unsigned char *tmp = NULL;
    size_t tmp_cap = 0;
    llm_json_object_begin(vocab, &it);
    while (llm_json_object_next(&it, &key, &klen, &v)) {
        uint64_t id;
        if (llm_json_get_uint64(v, &id) < 0 || id >= LLM_BPE_MAX_IDS) {
            free(tmp);
            return llm_error_set(L->err, "model vocab: \"%.60s\" has no valid id", key);
        }
        const void *bytes = key;
        long len = (long)klen;
        if (h->byte_level) {
            if (llm_grow(&tmp, &tmp_cap, klen + 1) < 0) {
                free(tmp);
                return oom(L);
            }
            len = unmap_bytes(inv, key, klen, tmp);
            bytes = tmp;
        }
        llm_error why;
        if (len <= 0 ? add_extra(L, (uint32_t)id, key, klen) < 0
                     : llm_bpe_add_token(h->bpe, (uint32_t)id, bytes, (size_t)len, &why) < 0) {
            free(tmp);
            if (len > 0)
                llm_error_set(L->err, "model vocab: \"%.60s\": %s", key, why.msg);
            return -1;
        }
    }
    free(tmp);
    /* By id, so that the hash and a saved file do not depend on the order of the vocab. */
    if (h->n_extra > 1)
        qsort(h->extra, h->n_extra, sizeof *h->extra, by_id);
    /* An id names one string: a second one would vanish from a saved file and from
     * decoding. The tokens' own ids are checked when they are indexed. */
    for (size_t i = 0; i < h->n_extra; i++) {
        size_t len;
        uint32_t id = h->extra[i].id;
        if ((i > 0 && h->extra[i - 1].id == id) || llm_bpe_token(h->bpe, id, &len) != NULL)
            return llm_error_set(L->err, "model vocab: id %u is given to two strings", id);
    }
    llm_error why;
    if ((h->byte_level ? llm_bpe_index(h->bpe, &why) : llm_bpe_index_text(h->bpe, &why)) < 0)
        return llm_error_set(L->err, "model vocab: %s", why.msg);
    return 0;
}

/* One merge as "a b" or ["a", "b"]. */
static int merge_parts(llm_json m, const char **a, size_t *alen, const char **b, size_t *blen)
{
    if (llm_json_type_of(m) == LLM_JSON_STRING) {
        const char *s;
        size_t n;
        llm_json_get_string(m, &s, &n);
        const char *sp = memchr(s, ' ', n);
        if (sp == NULL || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) != NULL)
            return -1;
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = n - *alen - 1;
        return 0;
    }
    llm_json_iter it;
    llm_json x, y, z;
    if (llm_json_array_len(m) != 2)
        return -1;
    llm_json_array_begin(m, &it);
    llm_json_array_next(&it, &x);
    llm_json_array_next(&it, &y);
    (void)z;
    return llm_json_get_string(x, a, alen) < 0 || llm_json_get_string(y, b, blen) < 0 ? -1 : 0;
}

static int load_merges(loader *L, llm_json merges, const int16_t inv[0x144])
{
    llm_hf *h = L->h;
    if (llm_json_type_of(merges) != LLM_JSON_ARRAY)
        return llm_error_set(L->err, "model: \"merges\" is not an array");
    size_t n = llm_json_array_len(merges);
    if (n >= LLM_BPE_NONE)
        return llm_error_set(L->err, "model: too many merges");
    if (n > 0 && (h->merges = malloc(n * sizeof *h->merges)) == NULL)
        return oom(L);
    llm_json first;
    llm_json_iter first_it;
    llm_json_array_begin(merges, &first_it);
    h->merges_as_pairs = llm_json_array_next(&first_it, &first) && llm_json_type_of(first) == LLM_JSON_ARRAY;
    unsigned char *tmp = NULL, *joined = NULL;
    size_t tmp_cap = 0, joined_cap = 0;
    int status = 0;
    llm_json_iter it;
    llm_json m;
    llm_json_array_begin(merges, &it);
    for (size_t rank = 0; status == 0 && llm_json_array_next(&it, &m); rank++) {
        const char *a, *b;
        size_t alen, blen;
        if (merge_parts(m, &a, &alen, &b, &blen) < 0) {
            status = llm_error_set(L->err, "model merges[%zu]: not \"a b\" or [\"a\", \"b\"]", rank);
            break;
        }
        if (llm_grow(&tmp, &tmp_cap, alen + blen + 1) < 0 ||
            llm_grow(&joined, &joined_cap, alen + blen + 1) < 0) {
            status = oom(L);
            break;
        }
        memcpy(joined, a, alen);
        memcpy(joined + alen, b, blen);
        uint32_t left = vocab_id(h, inv, a, alen, tmp);
        uint32_t right = vocab_id(h, inv, b, blen, tmp);
        uint32_t merged = vocab_id(h, inv, (const char *)joined, alen + blen, tmp);
        if (left == LLM_BPE_NONE || right == LLM_BPE_NONE || merged == LLM_BPE_NONE) {
            status = llm_error_set(L->err, "model merges[%zu]: \"%.40s\" + \"%.40s\": %s is not in "
                                   "the vocabulary", rank, a, b,
                                   merged != LLM_BPE_NONE || left == LLM_BPE_NONE ||
                                   right == LLM_BPE_NONE ? "a part" : "the merged token");
            break;
        }
        h->merges[rank][0] = left;
        h->merges[rank][1] = right;
        h->n_merges = rank + 1;
    }
    free(tmp);
    free(joined);
    if (status < 0)
        return -1;
    /* The crate collects the merges into a map, where a pair listed twice keeps its last
     * rank; llm_bpe_add_merge keeps the first added, so add them last to first. */
    for (size_t r = h->n_merges; r-- > 0;) {
        uint32_t merged;
        const unsigned char *x, *y;
        size_t xl, yl;
        x = llm_bpe_token(h->bpe, h->merges[r][0], &xl);
        y = llm_bpe_token(h->bpe, h->merges[r][1], &yl);
        unsigned char stack[512];
        unsigned char *both = xl + yl <= sizeof stack ? stack : malloc(xl + yl);
        if (both == NULL)
            return oom(L);
        memcpy(both, x, xl);
        memcpy(both + xl, y, yl);
        merged = llm_bpe_lookup(h->bpe, both, xl + yl);
        if (both != stack)
            free(both);
        llm_error why;
        if (llm_bpe_add_merge(h->bpe, h->merges[r][0], h->merges[r][1], (uint32_t)r, merged, &why) < 0)
            return llm_error_set(L->err, "model merges[%zu]: %s", r, why.msg);
    }
    return 0;
}

static int load_model(loader *L, llm_json model)
{
    llm_hf *h = L->h;
    const char *type = type_of(model);
    llm_json vocab, merges, v;
    if (llm_json_type_of(model) != LLM_JSON_OBJECT)
        return llm_error_set(L->err, "\"model\" is missing or not an object");
    if (type != NULL && strcmp(type, "BPE") != 0)
        return llm_error_set(L->err, "unsupported model '%s' (only BPE)", type);
    if (!llm_json_field(model, "vocab", &vocab) || !llm_json_field(model, "merges", &merges))
        return llm_error_set(L->err, "model: missing \"vocab\" or \"merges\"%s",
                             type == NULL ? " (a model without a type must be BPE)" : "");
    double dropout;
    if (llm_json_field(model, "dropout", &v) && llm_json_type_of(v) != LLM_JSON_NULL &&
        (llm_json_get_double(v, &dropout) < 0 || dropout != 0.0))
        return llm_error_set(L->err, "unsupported BPE option 'dropout' (random merges)");
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        char *s;
        if (get_string(L, model, "model", affixes[i], 0, &s, NULL) < 0)
            return -1;
        int set = s != NULL && s[0] != '\0';
        free(s);
        if (set)
            return llm_error_set(L->err, "unsupported BPE option '%s'", affixes[i]);
    }
    if (get_bool(L, model, "model", "ignore_merges", 0, &h->ignore_merges) < 0 ||
        get_bool(L, model, "model", "byte_fallback", 0, &h->byte_fallback) < 0 ||
        get_bool(L, model, "model", "fuse_unk", 0, &h->fuse_unk) < 0)
        return -1;

    int16_t inv[0x144];
    byte_alphabet(inv);
    if (load_vocab(L, vocab, inv) < 0 || load_merges(L, merges, inv) < 0)
        return -1;

    char *unk;
    size_t unk_len;
    h->unk = LLM_BPE_NONE;
    if (get_string(L, model, "model", "unk_token", 0, &unk, &unk_len) < 0)
        return -1;
    if (unk != NULL) {
        unsigned char tmp[256];
        h->unk = unk_len < sizeof tmp ? vocab_id(h, inv, unk, unk_len, tmp) : LLM_BPE_NONE;
        if (h->unk == LLM_BPE_NONE) {
            llm_error_set(L->err, "model: unk_token \"%.60s\" is not in the vocabulary", unk);
            free(unk);
            return -1;
        }
        free(unk);
    }
    for (int c = 0; c < 256; c++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", c);
        h->fallback[c] = h->byte_level ? LLM_BPE_NONE : llm_bpe_lookup(h->bpe, name, 6);
    }
    return 0;
}

/* ---- added tokens ---- */

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const llm_hf_added *)a)->id, y = ((const llm_hf_added *)b)->id;
    return x < y ? -1 : x > y;
}

/* An added token's first character as a key: its UTF-8 bytes, or the byte itself when it
 * starts no character. *len: how many bytes. */
static uint32_t first_char(const unsigned char *s, size_t n, size_t *len)
{
    size_t k = llm_utf8_seq_len(s, n);
    *len = k ? k : 1;
    uint32_t key = 0;
    for (size_t i = 0; i < *len; i++)
        key = key << 8 | s[i];
    return key;
}

static size_t slot_of(uint32_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B1u) >> 7) & mask;
}

typedef struct added_key {
    uint32_t key, len, id, index;
} added_key;

/* By first character, then longest first, then by id: the first of a group that matches is
 * the crate's leftmost-longest. */
static int longest_first(const void *a, const void *b)
{
    const added_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The lookup of the added tokens by their first character: with a few hundred added words,
 * most characters of a Chinese text start one, and a scan of them all at each would cost
 * more than the encoding itself. */
static int index_added(loader *L)
{
    llm_hf *h = L->h;
    size_t n = h->n_added, slots = 16;
    if (n == 0)
        return 0;
    while (slots < 2 * n)
        slots *= 2;
    added_key *keys = malloc(n * sizeof *keys);
    h->added_slots = calloc(slots, sizeof *h->added_slots);
    h->added_order = malloc(2 * n * sizeof *h->added_order);
    if (keys == NULL || h->added_slots == NULL || h->added_order == NULL) {
        free(keys);
        return oom(L);
    }
    h->added_mask = slots - 1;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        const llm_hf_added *a = &h->added[i];
        keys[i] = (added_key){first_char((const unsigned char *)a->text, a->len, &k), (uint32_t)a->len,
                              a->id, (uint32_t)i};
    }
    qsort(keys, n, sizeof *keys, longest_first);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || keys[i].key != keys[i - 1].key) {
            if (i > 0)
                h->added_order[o++] = UINT32_MAX;
            size_t slot = slot_of(keys[i].key, h->added_mask);
            while (h->added_slots[slot] != 0)
                slot = (slot + 1) & h->added_mask;
            h->added_slots[slot] = (uint32_t)o + 1;
        }
        h->added_order[o++] = keys[i].index;
    }
    h->added_order[o] = UINT32_MAX;
    free(keys);
    return 0;
}

const llm_hf_added *llm_hf_added_at(const llm_hf *h, const unsigned char *s, size_t n, int normalized,
                                    int allow_special)
{
    size_t k;
    if (h->added_slots == NULL || n == 0)
        return NULL;
    uint32_t key = first_char(s, n, &k);
    for (size_t slot = slot_of(key, h->added_mask); h->added_slots[slot] != 0;
         slot = (slot + 1) & h->added_mask) {
        const uint32_t *g = &h->added_order[h->added_slots[slot] - 1];
        const llm_hf_added *a = &h->added[*g];
        size_t ka;
        if (first_char((const unsigned char *)a->text, a->len, &ka) != key || ka != k)
            continue;
        for (; *g != UINT32_MAX; g++) {
            a = &h->added[*g];
            if (a->len <= n && a->normalized == normalized && (allow_special || !a->special) &&
                memcmp(s, a->text, a->len) == 0)
                return a;
        }
        return NULL;
    }
    return NULL;
}

static int load_added(loader *L, llm_json list)
{
    llm_hf *h = L->h;
    if (llm_json_type_of(list) == LLM_JSON_NULL)
        return 0;
    if (llm_json_type_of(list) != LLM_JSON_ARRAY)
        return llm_error_set(L->err, "\"added_tokens\" is not an array");
    size_t n = llm_json_array_len(list);
    if (n > 0 && (h->added = calloc(n, sizeof *h->added)) == NULL)
        return oom(L);
    llm_json_iter it;
    llm_json item;
    llm_buf norm;
    llm_buf_init(&norm);
    llm_json_array_begin(list, &it);
    while (llm_json_array_next(&it, &item)) {
        llm_hf_added *a = &h->added[h->n_added];
        char where[48];
        snprintf(where, sizeof where, "added_tokens[%zu]", h->n_added);
        uint64_t id;
        int f[5];
        if (get_uint(L, item, where, "id", LLM_BPE_MAX_IDS, &id) < 0 ||
            get_string(L, item, where, "content", 1, &a->text, &a->len) < 0)
            goto fail;
        h->n_added++;
        if (id >= LLM_BPE_MAX_IDS) {
            llm_error_set(L->err, "%s: missing or too large \"id\"", where);
            goto fail;
        }
        if (a->len == 0) {
            llm_error_set(L->err, "%s: empty \"content\"", where);
            goto fail;
        }
        a->id = (uint32_t)id;
        if (get_bool(L, item, where, "special", 0, &f[0]) < 0 ||
            get_bool(L, item, where, "lstrip", 0, &f[1]) < 0 ||
            get_bool(L, item, where, "rstrip", 0, &f[2]) < 0 ||
            get_bool(L, item, where, "single_word", 0, &f[3]) < 0 ||
            get_bool(L, item, where, "normalized", !f[0], &f[4]) < 0)
            goto fail;
        a->special = (uint8_t)f[0];
        a->lstrip = (uint8_t)f[1];
        a->rstrip = (uint8_t)f[2];
        a->single_word = (uint8_t)f[3];
        a->normalized = (uint8_t)f[4];
        /* A normalized token is matched in normalized text, so by its normalized form. */
        if (a->normalized && h->n_norm > 0) {
            llm_buf_clear(&norm);
            if (llm_hf_normalize(h, a->text, a->len, &norm) < 0 || llm_buf_failed(&norm)) {
                oom(L);
                goto fail;
            }
            if (norm.len != a->len || memcmp(norm.data, a->text, a->len) != 0) {
                char *t = malloc(norm.len + 1);
                if (t == NULL) {
                    oom(L);
                    goto fail;
                }
                memcpy(t, norm.data, norm.len);
                t[norm.len] = '\0';
                a->content = a->text;     /* kept for saving the file again */
                a->content_len = a->len;
                a->text = t;
                a->len = norm.len;
            }
        }
        if (a->len > 0)
            h->added_first[(unsigned char)a->text[0]] = 1;
    }
    llm_buf_free(&norm);
    if (h->n_added > 1)
        qsort(h->added, h->n_added, sizeof *h->added, by_id);
    for (size_t i = 1; i < h->n_added; i++)
        if (h->added[i].id == h->added[i - 1].id)
            return llm_error_set(L->err, "added_tokens: id %u appears twice", h->added[i].id);
    return index_added(L);
fail:
    llm_buf_free(&norm);
    return -1;
}

const llm_hf_added *llm_hf_added_by_id(const llm_hf *h, uint32_t id)
{
    return find_by_id(h->added, h->n_added, id);
}

/* ---- the whole file ---- */

static int load_root(loader *L, llm_json root)
{
    llm_hf *h = L->h;
    llm_json v;
    if (llm_json_type_of(root) != LLM_JSON_OBJECT)
        return llm_error_set(L->err, "not a JSON object");
    if (llm_json_field(root, "truncation", &v) && llm_json_type_of(v) != LLM_JSON_NULL)
        return llm_error_set(L->err, "unsupported \"truncation\" (documents are never cut)");
    if (llm_json_field(root, "normalizer", &v) && llm_json_type_of(v) != LLM_JSON_NULL) {
        keep_config(L, HF_PART_NORMALIZER, "normalizer", v);
        if (add_norm(L, v) < 0)
            return -1;
    }
    if (llm_json_field(root, "pre_tokenizer", &v) && llm_json_type_of(v) != LLM_JSON_NULL) {
        keep_config(L, HF_PART_PRE_TOKENIZER, "pre_tokenizer", v);
        if (add_pre(L, v) < 0)
            return -1;
    }
    if (llm_json_field(root, "post_processor", &v) && llm_json_type_of(v) != LLM_JSON_NULL) {
        keep_config(L, HF_PART_POST_PROCESSOR, "post_processor", v);
        if (add_post(L, v) < 0)
            return -1;
    }
    if (llm_json_field(root, "decoder", &v) && llm_json_type_of(v) != LLM_JSON_NULL) {
        keep_config(L, HF_PART_DECODER, "decoder", v);
        if (add_dec(L, v) < 0)
            return -1;
    }
    if (!llm_json_field(root, "model", &v))
        return llm_error_set(L->err, "missing \"model\"");
    if (load_model(L, v) < 0)
        return -1;
    if (llm_json_field(root, "added_tokens", &v) && load_added(L, v) < 0)
        return -1;
    /* The common layout, one Isolated Split and a ByteLevel that only maps bytes, lets the
     * encoder take the regex's matches as pre-tokens without building lists. */
    const llm_hf_pre *p = h->pre;
    h->fast_split = (h->n_pre == 1 && p[0].kind == HF_PRE_SPLIT) ||
                    (h->n_pre == 2 && p[0].kind == HF_PRE_SPLIT && p[1].kind == HF_PRE_BYTELEVEL &&
                     p[1].re == NULL && !p[1].add_prefix_space);
    h->fast_split = h->fast_split && p[0].behavior == HF_SPLIT_ISOLATED && !p[0].invert;
    return 0;
}

llm_hf *llm_hf_parse(const char *data, size_t n, llm_error *err)
{
    loader L = {0};
    L.err = err;
    llm_buf_init(&L.config);
    llm_hf *h = calloc(1, sizeof *h);
    llm_json_parser *p = llm_json_parser_new();
    if (h == NULL || p == NULL || (h->bpe = llm_bpe_new()) == NULL) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    h->bos = h->eos = -1;
    h->unk = LLM_BPE_NONE;
    L.h = h;
    llm_json root;
    if (llm_json_parse(p, data, n, 0, &root, err) < 0 || load_root(&L, root) < 0)
        goto fail;
    if (llm_buf_failed(&L.config)) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    h->config = L.config.data;
    h->config_len = L.config.len;
    llm_json_parser_free(p);
    return h;
fail:
    llm_buf_free(&L.config);
    llm_json_parser_free(p);
    llm_hf_free(h);
    return NULL;
}
