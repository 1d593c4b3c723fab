/* The tokenizer API: loading tiktoken encodings and tokenizer.json files, special tokens, the
 * per-thread encoder with its pre-token cache, and decoding. The regex split is
 * pretokenize.c's, the merges bpe.c's, tokenizer.json's pipeline hf_encode.c's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "hf_tokenizer.h"
#include "pretokenize.h"
#include "tiktoken.h"
#include "tokenizer.h"
#include "utf8.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#define MAX_RANK_FILE (1u << 30)

typedef struct special_token {
    char *text;
    size_t len;
    uint32_t id;
} special_token;

struct llm_tokenizer {
    char *name;
    llm_bpe *bpe;
    llm_pretok *pretok;
    special_token *special;     /* sorted by id */
    size_t n_special;
    unsigned char special_first[256];   /* 1 for bytes that start a special token */
    uint32_t vocab_size;
    int64_t eos, bos, pad;
    int64_t tmpl_bos, tmpl_eos;     /* what the post-processor's template adds, -1: nothing */
    uint64_t hash;
    llm_hf *hf;                 /* a tokenizer.json (owns bpe), or NULL for tiktoken */
    int direct;                 /* a pre-token that is a whole token skips the merges
                                 * (tiktoken always; tokenizer.json with ignore_merges) */
    int text_symbols;           /* BPE starts from characters (SentencePiece style), not bytes */
};

/* ---- ids ---- */

void llm_ids_init(llm_ids *v)
{
    v->data = NULL;
    v->len = 0;
    v->cap = 0;
}

void llm_ids_free(llm_ids *v)
{
    free(v->data);
    llm_ids_init(v);
}

int llm_ids_reserve(llm_ids *v, size_t extra)
{
    if (extra <= v->cap - v->len)
        return 0;
    if (extra > SIZE_MAX / sizeof(uint32_t) - v->len)
        return -1;
    size_t bytes = v->cap * sizeof(uint32_t);
    if (llm_grow(&v->data, &bytes, (v->len + extra) * sizeof(uint32_t)) < 0)
        return -1;
    v->cap = bytes / sizeof(uint32_t);
    return 0;
}

int llm_ids_push(llm_ids *v, uint32_t id)
{
    if (v->len == v->cap && llm_ids_reserve(v, 1) < 0)
        return -1;
    v->data[v->len++] = id;
    return 0;
}

/* ---- loading ---- */

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const special_token *)a)->id, y = ((const special_token *)b)->id;
    return x < y ? -1 : x > y;
}

/* Every id's token bytes, with its length (0 for an id without one), into a hash. */
static void hash_tokens(XXH3_state_t *st, const llm_bpe *b)
{
    uint32_t n = llm_bpe_n_ids(b);
    for (uint32_t id = 0; id < n; id++) {
        size_t len = 0;
        const unsigned char *s = llm_bpe_token(b, id, &len);
        uint32_t len32 = (uint32_t)len;
        XXH3_64bits_update(st, &len32, sizeof len32);
        if (s)
            XXH3_64bits_update(st, s, len);
    }
}

/* The definition's hash, independent of the file's layout: each id's bytes (length first,
 * 0 for ids without a token), the regex, then the special tokens in id order. */
static uint64_t definition_hash(const llm_tokenizer *t)
{
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, "llm-tokenizer/bpe/1", 19);
    hash_tokens(&st, t->bpe);
    const char *pattern = llm_pretok_pattern(t->pretok);
    XXH3_64bits_update(&st, pattern, strlen(pattern) + 1);
    for (size_t i = 0; i < t->n_special; i++) {
        XXH3_64bits_update(&st, &t->special[i].id, sizeof t->special[i].id);
        XXH3_64bits_update(&st, t->special[i].text, t->special[i].len + 1);
    }
    return XXH3_64bits_digest(&st);
}

llm_tokenizer *llm_tokenizer_from_tiktoken(const char *data, size_t n, const char *encoding,
                                           llm_error *err)
{
    const llm_tiktoken_encoding *enc = llm_tiktoken_find(encoding);
    if (enc == NULL) {
        llm_error_set(err, "unknown tiktoken encoding '%s' (known: gpt2, r50k_base, p50k_base, "
                      "p50k_edit, cl100k_base, o200k_base)", encoding);
        return NULL;
    }
    llm_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL || (t->name = strdup(enc->name)) == NULL || (t->bpe = llm_bpe_new()) == NULL ||
        (t->special = calloc(enc->n_specials, sizeof *t->special)) == NULL) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    if (llm_tiktoken_parse(t->bpe, data, n, err) < 0 || llm_bpe_index(t->bpe, err) < 0 ||
        llm_bpe_derive_merges(t->bpe, err) < 0)
        goto fail;
    if ((t->pretok = llm_pretok_new(enc->pattern, err)) == NULL)
        goto fail;

    t->vocab_size = llm_bpe_n_ids(t->bpe);
    t->eos = -1;
    t->pad = -1;
    for (size_t i = 0; i < enc->n_specials; i++) {
        special_token *s = &t->special[t->n_special];
        uint32_t id = enc->specials[i].id;
        if (id < llm_bpe_n_ids(t->bpe) && llm_bpe_token(t->bpe, id, &s->len) != NULL) {
            llm_error_set(err, "special token %s: id %u is an ordinary token in the rank file",
                          enc->specials[i].text, id);
            goto fail;
        }
        if ((s->text = strdup(enc->specials[i].text)) == NULL) {
            llm_error_set(err, "out of memory");
            goto fail;
        }
        s->len = strlen(s->text);
        s->id = id;
        t->n_special++;
        t->special_first[(unsigned char)s->text[0]] = 1;
        if (id >= t->vocab_size)
            t->vocab_size = id + 1;
        if (strcmp(s->text, "<|endoftext|>") == 0)
            t->eos = id;
    }
    qsort(t->special, t->n_special, sizeof *t->special, by_id);
    if (enc->n_vocab != 0 && t->vocab_size != enc->n_vocab) {
        llm_error_set(err, "%s has %u token ids, the encoding wants %u (wrong rank file?)",
                      enc->name, t->vocab_size, enc->n_vocab);
        goto fail;
    }
    t->hash = definition_hash(t);
    t->direct = 1;
    t->bos = t->tmpl_bos = t->tmpl_eos = -1;
    return t;
fail:
    llm_tokenizer_free(t);
    return NULL;
}

/* A tokenizer.json's hash: every id's bytes as above (then the tokens outside the byte
 * alphabet), the merges in rank order, the components' JSON and the added tokens with their
 * flags, so that any change to the definition, an added token included, changes it. */
static uint64_t hf_hash(const llm_tokenizer *t)
{
    const llm_hf *h = t->hf;
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, "llm-tokenizer/hf-bpe/1", 22);
    XXH3_64bits_update(&st, &h->byte_level, sizeof h->byte_level);
    hash_tokens(&st, t->bpe);
    for (size_t i = 0; i < h->n_extra; i++) {
        XXH3_64bits_update(&st, &h->extra[i].id, sizeof h->extra[i].id);
        XXH3_64bits_update(&st, h->extra[i].text, h->extra[i].len + 1);
    }
    uint64_t nm = h->n_merges;
    XXH3_64bits_update(&st, &nm, sizeof nm);
    if (h->n_merges)
        XXH3_64bits_update(&st, h->merges, h->n_merges * sizeof h->merges[0]);
    int flags[5] = {h->ignore_merges, h->byte_fallback, h->fuse_unk, (int)h->unk, 0};
    XXH3_64bits_update(&st, flags, sizeof flags);
    if (h->config)
        XXH3_64bits_update(&st, h->config, h->config_len);
    for (size_t i = 0; i < h->n_added; i++) {
        const llm_hf_added *a = &h->added[i];
        uint8_t f[5] = {a->special, a->lstrip, a->rstrip, a->single_word, a->normalized};
        XXH3_64bits_update(&st, &a->id, sizeof a->id);
        XXH3_64bits_update(&st, f, sizeof f);
        XXH3_64bits_update(&st, a->text, a->len + 1);
    }
    return XXH3_64bits_digest(&st);
}

/* The id of the first of names[] that is an added token, or -1. */
static int64_t added_named(const llm_hf *h, const char *const *names)
{
    for (; *names; names++)
        for (size_t i = 0; i < h->n_added; i++)
            if (strcmp(h->added[i].text, *names) == 0)
                return h->added[i].id;
    return -1;
}

llm_tokenizer *llm_tokenizer_from_hf_json(const char *data, size_t n, const char *name, llm_error *err)
{
    llm_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL || (t->name = strdup(name)) == NULL) {
        free(t);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    if ((t->hf = llm_hf_parse(data, n, err)) == NULL)
        goto fail;
    const llm_hf *h = t->hf;
    t->bpe = h->bpe;
    t->direct = h->ignore_merges;
    t->text_symbols = !h->byte_level;
    t->vocab_size = llm_bpe_n_ids(t->bpe);
    for (size_t i = 0; i < h->n_extra; i++)
        if (h->extra[i].id >= t->vocab_size)
            t->vocab_size = h->extra[i].id + 1;
    size_t n_special = 0;
    for (size_t i = 0; i < h->n_added; i++) {
        if (h->added[i].id >= t->vocab_size)
            t->vocab_size = h->added[i].id + 1;
        n_special += h->added[i].special;
    }
    if (n_special && (t->special = calloc(n_special, sizeof *t->special)) == NULL) {
        llm_error_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < h->n_added; i++) {
        if (!h->added[i].special)
            continue;
        special_token *s = &t->special[t->n_special];
        if ((s->text = strdup(h->added[i].text)) == NULL) {
            llm_error_set(err, "out of memory");
            goto fail;
        }
        s->len = h->added[i].len;
        s->id = h->added[i].id;
        t->n_special++;
    }
    /* The template's tokens when it has them; else the usual names of the end-of-text and
     * beginning-of-text tokens (tokenizer.json itself does not say which they are). */
    static const char *const eos_names[] = {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>",
                                            "<|end▁of▁sentence|>", NULL};
    static const char *const bos_names[] = {"<|begin_of_text|>", "<s>", "<bos>",
                                            "<|begin▁of▁sentence|>", NULL};
    t->tmpl_bos = h->bos;
    t->tmpl_eos = h->eos;
    t->eos = h->eos >= 0 ? h->eos : added_named(h, eos_names);
    t->bos = h->bos >= 0 ? h->bos : added_named(h, bos_names);
    static const char *const pad_names[] = {"<|pad|>", "<pad>", "[PAD]", "<|padding|>", NULL};
    t->pad = added_named(h, pad_names);
    t->hash = hf_hash(t);
    return t;
fail:
    llm_tokenizer_free(t);
    return NULL;
}

void llm_tokenizer_free(llm_tokenizer *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_special; i++)
        free(t->special[i].text);
    free(t->special);
    llm_pretok_free(t->pretok);
    if (t->hf)
        llm_hf_free(t->hf);     /* which owns the bpe */
    else
        llm_bpe_free(t->bpe);
    free(t->name);
    free(t);
}

/* Reads a whole file. Returns the bytes (owned) or NULL with err set. */
static char *read_file(const char *path, size_t *len, llm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        llm_error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *data = NULL;
    if (fstat(fd, &st) < 0) {
        llm_error_set(err, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_RANK_FILE) {
        llm_error_set(err, "%s: not a regular file of at most %u bytes", path, MAX_RANK_FILE);
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if ((data = malloc(size + 1)) == NULL) {
        llm_error_set(err, "%s: out of memory", path);
        goto done;
    }
    while (got < size) {
        ssize_t k = read(fd, data + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            llm_error_set(err, "%s: %s", path, k < 0 ? strerror(errno) : "file shrank while reading");
            free(data);
            data = NULL;
            goto done;
        }
        got += (size_t)k;
    }
    *len = size;
done:
    close(fd);
    return data;
}

/* A tokenizer from the file at path, made by one of the llm_tokenizer_from_ functions. */
static llm_tokenizer *load_with(llm_tokenizer *(*from)(const char *, size_t, const char *, llm_error *),
                                const char *path, const char *name, llm_error *err)
{
    size_t n;
    char *data = read_file(path, &n, err);
    if (data == NULL)
        return NULL;
    llm_error why;
    llm_tokenizer *t = from(data, n, name, &why);
    if (t == NULL)
        llm_error_set(err, "%s: %s", path, why.msg);
    free(data);
    return t;
}

llm_tokenizer *llm_tokenizer_load_tiktoken(const char *path, const char *encoding, llm_error *err)
{
    return load_with(llm_tokenizer_from_tiktoken, path, encoding, err);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The folder of the running program, or "" when /proc does not say. */
static void exe_dir(char *out, size_t cap)
{
    ssize_t k = readlink("/proc/self/exe", out, cap - 1);
    out[k > 0 ? k : 0] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        out[0] = '\0';
}

llm_tokenizer *llm_tokenizer_load_hf(const char *path, const char *name, llm_error *err)
{
    return load_with(llm_tokenizer_from_hf_json, path, name, err);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The last component of path[0..len) without a trailing suffix, into out. */
static void base_name(const char *path, size_t len, const char *suffix, char *out, size_t cap)
{
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *b = path + len;
    while (b > path && b[-1] != '/')
        b--;
    size_t k = (size_t)(path + len - b);
    if (suffix && k > strlen(suffix) && strncmp(b + k - strlen(suffix), suffix, strlen(suffix)) == 0)
        k -= strlen(suffix);
    snprintf(out, cap, "%.*s", (int)(k < cap ? k : cap - 1), b);
}

/* A tokenizer.json path, or a folder holding one. Its name: the file's, or the folder's
 * when the file is called tokenizer.json. */
static llm_tokenizer *load_hf_path(const char *path, llm_error *err)
{
    char file[PATH_MAX + 32], name[64];
    if (is_dir(path)) {
        snprintf(file, sizeof file, "%.*s/tokenizer.json", PATH_MAX, path);
        base_name(path, strlen(path), NULL, name, sizeof name);
    } else {
        snprintf(file, sizeof file, "%.*s", PATH_MAX, path);
        base_name(path, strlen(path), ".json", name, sizeof name);
        if (strcmp(name, "tokenizer") == 0) {
            const char *slash = strrchr(path, '/');
            if (slash && slash > path)
                base_name(path, (size_t)(slash - path), NULL, name, sizeof name);
        }
    }
    return llm_tokenizer_load_hf(file, name, err);
}

llm_tokenizer *llm_tokenizer_load(const char *name_or_path, llm_error *err)
{
    if (ends_with(name_or_path, ".json") || is_dir(name_or_path))
        return load_hf_path(name_or_path, err);
    if (strchr(name_or_path, '/') != NULL || ends_with(name_or_path, ".tiktoken")) {
        /* A missing file is the likelier mistake than its name: say that first. */
        if (access(name_or_path, R_OK) != 0) {
            llm_error_set(err, "%s: %s", name_or_path, strerror(errno));
            return NULL;
        }
        const char *base = strrchr(name_or_path, '/');
        base = base ? base + 1 : name_or_path;
        char enc[64];
        size_t k = strlen(base) - (ends_with(base, ".tiktoken") ? strlen(".tiktoken") : 0);
        snprintf(enc, sizeof enc, "%.*s", (int)(k < sizeof enc ? k : sizeof enc - 1), base);
        if (llm_tiktoken_find(enc) == NULL) {
            llm_error_set(err, "%s: the file name does not name a tiktoken encoding (gpt2, "
                          "r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base)", name_or_path);
            return NULL;
        }
        return llm_tokenizer_load_tiktoken(name_or_path, enc, err);
    }
    int tiktoken = llm_tiktoken_find(name_or_path) != NULL;
    if (strlen(name_or_path) > 64) {
        llm_error_set(err, "unknown tokenizer '%.64s...'", name_or_path);
        return NULL;
    }
    char dirs[3][PATH_MAX], exe[PATH_MAX], path[PATH_MAX + 80];
    size_t n_dirs = 0;
    const char *env = getenv("LLM_TOKENIZER_DIR");
    if (env && *env) {
        snprintf(dirs[n_dirs++], PATH_MAX, "%s", env);
    } else {
        exe_dir(exe, sizeof exe);
        if (exe[0]) {
            snprintf(dirs[n_dirs++], PATH_MAX, "%.*s/../data/tokenizers", PATH_MAX - 40, exe);
            snprintf(dirs[n_dirs++], PATH_MAX, "%.*s/../share/llm-tools/tokenizers", PATH_MAX - 40, exe);
        }
        snprintf(dirs[n_dirs++], PATH_MAX, "data/tokenizers");
    }
    /* tiktoken's encodings are NAME.tiktoken; any other name is a tokenizer.json, NAME.json. */
    const char *ext = tiktoken ? "tiktoken" : "json";
    for (size_t i = 0; i < n_dirs; i++) {
        snprintf(path, sizeof path, "%.4000s/%.64s.%s", dirs[i], name_or_path, ext);
        if (access(path, R_OK) == 0)
            return tiktoken ? llm_tokenizer_load_tiktoken(path, name_or_path, err)
                            : llm_tokenizer_load_hf(path, name_or_path, err);
    }
    if (!tiktoken) {
        llm_error_set(err, "unknown tokenizer '%s': no %s.json in %s%s (known: gpt2, r50k_base, "
                      "p50k_base, p50k_edit, cl100k_base, o200k_base, and the NAME.json files there, "
                      "e.g. qwen3 and llama3 after make tokenizers; or a path to a rank file, a "
                      "tokenizer.json or its folder)", name_or_path, name_or_path,
                      env && *env ? "LLM_TOKENIZER_DIR=" : "", env && *env ? env : "data/tokenizers");
        return NULL;
    }
    llm_error_set(err, "%s: no %s.tiktoken in %s%s (make tokenizers writes data/tokenizers)",
                  name_or_path, name_or_path, env && *env ? "LLM_TOKENIZER_DIR=" : "",
                  env && *env ? env : "data/tokenizers beside the program or the current folder");
    return NULL;
}

const llm_bpe *llm_tokenizer_bpe(const llm_tokenizer *t) { return t->bpe; }
const llm_hf *llm_tokenizer_hf(const llm_tokenizer *t) { return t->hf; }
const char *llm_tokenizer_name(const llm_tokenizer *t) { return t->name; }
uint32_t llm_tokenizer_vocab_size(const llm_tokenizer *t) { return t->vocab_size; }
uint64_t llm_tokenizer_hash(const llm_tokenizer *t) { return t->hash; }
int64_t llm_tokenizer_eos(const llm_tokenizer *t) { return t->eos; }
size_t llm_tokenizer_n_special(const llm_tokenizer *t) { return t->n_special; }
int64_t llm_tokenizer_bos(const llm_tokenizer *t) { return t->bos; }
int64_t llm_tokenizer_pad(const llm_tokenizer *t) { return t->pad; }

void llm_tokenizer_template(const llm_tokenizer *t, int64_t *bos, int64_t *eos)
{
    *bos = t->tmpl_bos;
    *eos = t->tmpl_eos;
}

const char *llm_tokenizer_pattern(const llm_tokenizer *t)
{
    if (t->hf == NULL)
        return llm_pretok_pattern(t->pretok);
    for (size_t i = 0; i < t->hf->n_pre; i++)
        if (t->hf->pre[i].re != NULL)
            return llm_pretok_pattern(t->hf->pre[i].re);
    return "";
}

void llm_tokenizer_hash_string(const llm_tokenizer *t, char out[22])
{
    snprintf(out, 22, "xxh3:%016llx", (unsigned long long)t->hash);
}

const char *llm_tokenizer_special(const llm_tokenizer *t, size_t i, uint32_t *id)
{
    if (i >= t->n_special)
        return NULL;
    if (id)
        *id = t->special[i].id;
    return t->special[i].text;
}

int64_t llm_tokenizer_special_id(const llm_tokenizer *t, const char *text)
{
    for (size_t i = 0; i < t->n_special; i++)
        if (strcmp(t->special[i].text, text) == 0)
            return t->special[i].id;
    return -1;
}

const char *llm_tokenizer_token_bytes(const llm_tokenizer *t, uint32_t id, size_t *len)
{
    if (t->text_symbols)
        return NULL;    /* SentencePiece-style tokens spell its alphabet, not the text */
    if (t->hf) {
        const llm_hf_added *a = llm_hf_added_by_id(t->hf, id);
        if (a) {
            *len = a->len;
            return a->text;
        }
    } else {
        size_t lo = 0, hi = t->n_special;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->special[mid].id == id) {
                *len = t->special[mid].len;
                return t->special[mid].text;
            }
            if (t->special[mid].id < id)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return (const char *)llm_bpe_token(t->bpe, id, len);
}

/* ---- the encoder ---- */

/* One cache line per entry: a piece of up to CACHE_TEXT bytes and its ids, when at most
 * CACHE_IDS. Direct-mapped, replaced on a miss: no bookkeeping, and a fixed size. The parts
 * that llm_bpe_cut makes of the pieces that miss (CJK characters, mostly) have a smaller
 * cache of their own, which stays in the core's cache. */
#define CACHE_TEXT 26
#define CACHE_IDS 8
#define CACHE_DEFAULT_BYTES (4u << 20)
#define PART_CACHE_ENTRIES 8192
#define CHAR_CACHE_ENTRIES 32768

typedef struct cache_entry {
    uint32_t tag;
    uint8_t len;                 /* 0: empty */
    uint8_t n;
    char text[CACHE_TEXT];
    uint32_t ids[CACHE_IDS];
} cache_entry;

_Static_assert(sizeof(cache_entry) == 64, "a cache entry is one cache line");

typedef struct cache {
    cache_entry *v;
    size_t mask;
} cache;

/* Parts of up to 4 bytes (one CJK character, mostly), keyed by their bytes packed into a
 * word: 16 bytes an entry, so that the characters of a script fit in the core's cache. */
typedef struct char_entry {
    uint32_t key;                /* 0: empty */
    uint32_t ids[3];             /* LLM_BPE_NONE after the last */
} char_entry;

struct llm_encoder {
    const llm_tokenizer *t;
    llm_pretok_matcher *m;      /* tiktoken's regex */
    llm_hf_state *hs;           /* tokenizer.json's pipeline */
    llm_bpe_scratch scratch;
    cache pieces;               /* pre-token -> its ids */
    cache parts;                /* a part of a pre-token -> its ids by the merges alone */
    char_entry *chars;          /* the same for parts of up to 4 bytes */
    uint64_t lookups, hits;
};

/* The entry for s[0..n) (n <= CACHE_TEXT) and its tag. */
static inline cache_entry *cache_slot(const cache *c, const unsigned char *s, size_t n, uint32_t *tag)
{
    uint64_t h = XXH3_64bits(s, n);
    *tag = (uint32_t)(h >> 32);
    return &c->v[h & c->mask];
}

static inline int cache_holds(const cache_entry *c, const unsigned char *s, size_t n, uint32_t tag)
{
    return c->len == n && c->tag == tag && memcmp(c->text, s, n) == 0;
}

/* Appends a hit's ids to out: 0, or -1 when out of memory. */
static int cache_copy(const cache_entry *c, llm_ids *out)
{
    if (llm_ids_reserve(out, c->n) < 0)
        return -1;
    memcpy(out->data + out->len, c->ids, c->n * sizeof(uint32_t));
    out->len += c->n;
    return 0;
}

/* Remembers ids[0..k) for s[0..n), when they fit. */
static void cache_store(cache_entry *c, uint32_t tag, const unsigned char *s, size_t n, const uint32_t *ids,
                        size_t k)
{
    if (k > CACHE_IDS)
        return;
    c->tag = tag;
    c->len = (uint8_t)n;
    c->n = (uint8_t)k;
    memcpy(c->text, s, n);
    memcpy(c->ids, ids, k * sizeof(uint32_t));
}

/* A direct-mapped cache of at most `bytes`, a power of two of entries. 0, or -1. */
static int cache_init(cache *c, size_t bytes)
{
    size_t entries = 1;
    while (entries * 2 * sizeof(cache_entry) <= bytes)
        entries *= 2;
    c->v = calloc(entries, sizeof(cache_entry));
    c->mask = entries - 1;
    return c->v ? 0 : -1;
}

llm_encoder *llm_encoder_new(const llm_tokenizer *t, size_t cache_bytes)
{
    llm_encoder *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->t = t;
    llm_bpe_scratch_init(&e->scratch);
    int cached = cache_init(&e->pieces, cache_bytes ? cache_bytes : CACHE_DEFAULT_BYTES) == 0 &&
                 cache_init(&e->parts, PART_CACHE_ENTRIES * sizeof(cache_entry)) == 0 &&
                 (e->chars = calloc(CHAR_CACHE_ENTRIES, sizeof(char_entry))) != NULL;
    if (t->hf)
        e->hs = llm_hf_state_new(t->hf);
    else
        e->m = llm_pretok_matcher_new(t->pretok);
    if (!cached || (e->m == NULL && e->hs == NULL)) {
        llm_encoder_free(e);
        return NULL;
    }
    return e;
}

void llm_encoder_free(llm_encoder *e)
{
    if (e == NULL)
        return;
    llm_pretok_matcher_free(e->m);
    llm_hf_state_free(e->hs);
    llm_bpe_scratch_free(&e->scratch);
    free(e->pieces.v);
    free(e->parts.v);
    free(e->chars);
    free(e);
}

void llm_encoder_stats(const llm_encoder *e, uint64_t *lookups, uint64_t *hits)
{
    *lookups = e->lookups;
    *hits = e->hits;
}

/* The merges over the bytes (or characters) of s[0..n), written straight into out. */
static int merge_bytes(llm_encoder *e, const unsigned char *s, size_t n, llm_ids *out, llm_error *err)
{
    const llm_bpe *b = e->t->bpe;
    if (llm_ids_reserve(out, n) < 0)
        return llm_error_set(err, "out of memory");
    uint32_t *ids = out->data + out->len;
    size_t k = n;
    if (e->t->text_symbols) {
        k = llm_hf_symbols(e->t->hf, s, n, ids);
    } else {
        for (size_t i = 0; i < n; i++)
            ids[i] = llm_bpe_byte_id(b, s[i]);
    }
    size_t m = llm_bpe_merge(b, ids, k, &e->scratch, 0);
    if (m == (size_t)-1)
        return llm_error_set(err, "out of memory");
    out->len += m;
    return 0;
}

/* The bytes of a part of 2 to 4 bytes packed into a word, or 0 when one is NUL (the key
 * would not say the length). */
static inline uint32_t char_key(const unsigned char *s, size_t n)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0)
            return 0;
        k |= (uint32_t)s[i] << (8 * i);
    }
    return k;
}

/* A part of 2 to 4 bytes: the character cache, else the merges. */
static int encode_char(llm_encoder *e, const unsigned char *s, size_t n, uint32_t key, llm_ids *out,
                       llm_error *err)
{
    char_entry *c = &e->chars[(uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) % CHAR_CACHE_ENTRIES];
    if (c->key != key) {
        size_t before = out->len;
        if (merge_bytes(e, s, n, out, err) < 0)
            return -1;
        size_t k = out->len - before;
        if (k <= 3) {
            c->key = key;
            for (size_t i = 0; i < 3; i++)
                c->ids[i] = i < k ? out->data[before + i] : LLM_BPE_NONE;
        }
        return 0;
    }
    if (llm_ids_reserve(out, 3) < 0)
        return llm_error_set(err, "out of memory");
    for (size_t i = 0; i < 3 && c->ids[i] != LLM_BPE_NONE; i++)
        out->data[out->len++] = c->ids[i];
    return 0;
}

/* One part of a cut piece: a cache, else the merges. */
static int encode_part(llm_encoder *e, const unsigned char *s, size_t n, llm_ids *out, llm_error *err)
{
    uint32_t key = n >= 2 && n <= 4 ? char_key(s, n) : 0;
    if (key != 0)
        return encode_char(e, s, n, key, out, err);
    if (n > CACHE_TEXT)
        return merge_bytes(e, s, n, out, err);
    uint32_t tag;
    cache_entry *c = cache_slot(&e->parts, s, n, &tag);
    if (cache_holds(c, s, n, tag))
        return cache_copy(c, out) < 0 ? llm_error_set(err, "out of memory") : 0;
    size_t before = out->len;
    if (merge_bytes(e, s, n, out, err) < 0)
        return -1;
    cache_store(c, tag, s, n, out->data + before, out->len - before);
    return 0;
}

/* BPE over the bytes of s[0..n), whose first cut is at `cut` (n: none): part by part. */
static int encode_cut(llm_encoder *e, const unsigned char *s, size_t n, size_t cut, llm_ids *out,
                      llm_error *err)
{
    if (cut == n)
        return merge_bytes(e, s, n, out, err);
    for (size_t pos = 0, end = cut; pos < n; pos = end) {
        if (pos > 0)
            end = pos + llm_bpe_cut(e->t->bpe, s + pos, n - pos);
        if (encode_part(e, s + pos, end - pos, out, err) < 0)
            return -1;
    }
    return 0;
}

/* BPE over the bytes of s[0..n). */
static int encode_bytes(llm_encoder *e, const unsigned char *s, size_t n, llm_ids *out, llm_error *err)
{
    return encode_cut(e, s, n, e->t->text_symbols ? n : llm_bpe_cut(e->t->bpe, s, n), out, err);
}

/* One pre-token: the cache, else the whole piece as one token, else the merges. */
static int encode_piece(llm_encoder *e, const unsigned char *s, size_t n, llm_ids *out, llm_error *err)
{
    const llm_bpe *b = e->t->bpe;
    if (n == 0)
        return 0;
    if (n == 1 && !e->t->text_symbols) {
        if (llm_ids_push(out, llm_bpe_byte_id(b, s[0])) < 0)
            return llm_error_set(err, "out of memory");
        return 0;
    }
    /* A piece cut after its first character (CJK text, mostly) seldom comes again: it goes
     * to its parts, which do, without a turn through the pre-token cache. */
    if (s[0] >= 0xC0 && !e->t->text_symbols) {
        size_t x = llm_utf8_lead_len(s[0]), two = x < n ? x + llm_utf8_lead_len(s[x]) : n;
        size_t cut = llm_bpe_cut(b, s, two < n ? two : n);
        if (cut < n && cut == x)
            return encode_cut(e, s, n, cut, out, err);
    }
    cache_entry *c = NULL;
    uint32_t tag = 0;
    if (n <= CACHE_TEXT) {
        c = cache_slot(&e->pieces, s, n, &tag);
        e->lookups++;
        if (cache_holds(c, s, n, tag)) {
            e->hits++;
            return cache_copy(c, out) < 0 ? llm_error_set(err, "out of memory") : 0;
        }
    }
    size_t before = out->len;
    /* A piece with a cut is no token: some boundary in it none spans. */
    size_t cut = e->t->text_symbols ? n : llm_bpe_cut(b, s, n);
    uint32_t id = e->t->direct && cut == n ? llm_bpe_lookup(b, s, n) : LLM_BPE_NONE;
    if (id != LLM_BPE_NONE) {
        if (llm_ids_push(out, id) < 0)
            return llm_error_set(err, "out of memory");
    } else if (encode_cut(e, s, n, cut, out, err) < 0) {
        return -1;
    }
    if (c != NULL)
        cache_store(c, tag, s, n, out->data + before, out->len - before);
    return 0;
}

/* Valid UTF-8 text: the regex's pieces, each encoded. Text the regex skips (never, with the
 * tiktoken patterns) is encoded as bytes so that nothing is lost. */
static int encode_valid(llm_encoder *e, const char *s, size_t n, llm_ids *out, llm_error *err)
{
    size_t pos = 0;
    while (pos < n) {
        size_t a, z;
        int r = llm_pretok_next(e->m, s, n, pos, &a, &z, err);
        if (r < 0)
            return -1;
        if (r == 0)
            a = z = n;
        if (a > pos && encode_bytes(e, (const unsigned char *)s + pos, a - pos, out, err) < 0)
            return -1;
        if (r == 0)
            break;
        if (encode_piece(e, (const unsigned char *)s + a, z - a, out, err) < 0)
            return -1;
        pos = z;
    }
    return 0;
}

/* Any bytes: valid runs through the regex, each ill-formed subsequence a piece of its own.
 * Linear: llm_utf8_valid_prefix reads about as far as the run it returns, not to the end. */
static int encode_ordinary(llm_encoder *e, const char *s, size_t n, llm_ids *out, llm_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t pos = 0;
    while (pos < n) {
        size_t k = llm_utf8_valid_prefix(s + pos, n - pos);
        if (k > 0 && encode_valid(e, s + pos, k, out, err) < 0)
            return -1;
        pos += k;
        if (pos < n) {
            size_t bad = llm_utf8_invalid_len(u + pos, n - pos);
            if (encode_bytes(e, u + pos, bad, out, err) < 0)
                return -1;
            pos += bad;
        }
    }
    return 0;
}

/* The first special token in s[0..n): its offset (n when none) and index in *which; of
 * several starting at the same byte, the longest. */
static size_t find_special(const llm_tokenizer *t, const char *s, size_t n, size_t *which)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (!t->special_first[u[i]])
            continue;
        size_t best = SIZE_MAX, best_len = 0;
        for (size_t k = 0; k < t->n_special; k++) {
            const special_token *sp = &t->special[k];
            if (sp->len > best_len && sp->len <= n - i && memcmp(s + i, sp->text, sp->len) == 0) {
                best = k;
                best_len = sp->len;
            }
        }
        if (best != SIZE_MAX) {
            *which = best;
            return i;
        }
    }
    return n;
}

static int hf_piece(void *ctx, const unsigned char *s, size_t n, llm_ids *out, llm_error *err)
{
    return encode_piece(ctx, s, n, out, err);
}

int llm_encode(llm_encoder *e, const char *text, size_t n, int allow_special, llm_ids *out,
               llm_error *err)
{
    if (e->t->hf)
        return llm_hf_encode(e->t->hf, e->hs, text, n, allow_special, hf_piece, e, out, err);
    if (!allow_special || e->t->n_special == 0)
        return encode_ordinary(e, text, n, out, err);
    size_t pos = 0;
    while (pos < n) {
        size_t which = 0, at = pos + find_special(e->t, text + pos, n - pos, &which);
        if (encode_ordinary(e, text + pos, at - pos, out, err) < 0)
            return -1;
        if (at == n)
            break;
        if (llm_ids_push(out, e->t->special[which].id) < 0)
            return llm_error_set(err, "out of memory");
        pos = at + e->t->special[which].len;
    }
    return 0;
}

/* ---- decoding ---- */

int llm_decode(const llm_tokenizer *t, const uint32_t *ids, size_t n, llm_buf *out, llm_error *err)
{
    if (t->hf)
        return llm_hf_decode(t->hf, ids, n, out, err);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const unsigned char *s = llm_bpe_token(t->bpe, ids[i], &len);
        if (s == NULL) {
            size_t k = 0;
            while (k < t->n_special && t->special[k].id != ids[i])
                k++;
            if (k == t->n_special)
                return llm_error_set(err, "token id %u is not in the %s vocabulary", ids[i], t->name);
            s = (const unsigned char *)t->special[k].text;
            len = t->special[k].len;
        }
        llm_buf_append(out, s, len);
    }
    if (llm_buf_failed(out))
        return llm_error_set(err, "out of memory");
    return 0;
}
