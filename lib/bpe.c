/* Byte-pair merging: open-addressing hash tables for bytes -> id and (id, id) -> merge, the
 * merge loop (a linear scan for short pieces, a heap for long ones), and the index of the
 * places where a piece can be cut into parts that merge on their own. */
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "buf.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#define LINEAR_MAX_DEFAULT 64
#define LINEAR_MAX_LIMIT 256     /* the linear scan keeps its arrays on the stack */
#define SMALL_PAIRS (256 * 256)
#define CUT_FILTER_LOG2 14           /* 2^14 words, 128 KiB: two bits a key, in one word */

typedef struct str_slot {
    uint32_t id_plus1;           /* 0: empty */
    uint32_t tag;                /* high bits of the hash, to skip most byte compares */
} str_slot;

typedef struct pair_slot {
    uint32_t left, right;        /* left == LLM_BPE_NONE: empty */
    uint32_t rank, merged;
} pair_slot;

struct llm_bpe {
    /* id -> bytes: tok_off[id], tok_len[id] (0: no token) into arena */
    uint32_t *tok_off, *tok_len;
    uint32_t n_ids;              /* highest id + 1 */
    size_t ids_cap;
    size_t n_tokens;
    unsigned char *arena;
    size_t arena_len, arena_cap;

    str_slot *str;
    uint32_t str_mask;

    pair_slot *pairs;
    uint64_t *small;             /* pairs of ids below 256, rank << 32 | merged: every pair of
                                  * bytes, looked up first in every piece, from a 512 KiB array */
    size_t pair_count;
    uint32_t pair_mask;          /* 0 with pairs == NULL: no merges yet */

    uint32_t byte_id[256];

    /* Cuts (see llm_bpe_cut): what tokens hold of the two characters around a boundary. */
    uint64_t *cut_keys;          /* (suffix, prefix) keys, open addressing, 0: empty */
    uint32_t cut_mask;
    uint64_t cut_filter[1u << CUT_FILTER_LOG2];   /* a Bloom filter of the keys: most
                                                   * boundaries have none */
    uint64_t cut_bytes[65536 / 64];    /* bytes around a boundary a token holds in part */
    uint64_t cut_always[65536 / 64];   /* ... that some token spans as no key can say */
    int merges_not_concat;       /* a merge makes a token other than its parts' bytes: no cuts */
};

llm_bpe *llm_bpe_new(void)
{
    return calloc(1, sizeof(llm_bpe));
}

void llm_bpe_free(llm_bpe *b)
{
    if (b == NULL)
        return;
    free(b->tok_off);
    free(b->tok_len);
    free(b->arena);
    free(b->str);
    free(b->pairs);
    free(b->small);
    free(b->cut_keys);
    free(b);
}

static uint64_t bytes_hash(const void *s, size_t n)
{
    return XXH3_64bits(s, n);
}

/* Fibonacci hashing of the pair: one multiply spreads both ids over the top bits. */
static uint32_t pair_hash(uint32_t left, uint32_t right, uint32_t mask)
{
    uint64_t k = ((uint64_t)left << 32 | right) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32) & mask;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

int llm_bpe_add_token(llm_bpe *b, uint32_t id, const void *bytes, size_t len, llm_error *err)
{
    if (id >= LLM_BPE_MAX_IDS)
        return llm_error_set(err, "token id %u is too large (the limit is %u)", id, LLM_BPE_MAX_IDS - 1);
    if (len == 0)
        return llm_error_set(err, "token id %u is empty", id);
    if (len > UINT32_MAX || b->arena_len > UINT32_MAX - len)
        return llm_error_set(err, "token id %u: vocabulary too large", id);
    if (id >= b->ids_cap) {
        size_t n = b->ids_cap ? b->ids_cap : 1024;
        while (n <= id)
            n *= 2;
        uint32_t *off = realloc(b->tok_off, n * sizeof(uint32_t));
        if (off == NULL)
            return llm_error_set(err, "out of memory");
        b->tok_off = off;
        uint32_t *lens = realloc(b->tok_len, n * sizeof(uint32_t));
        if (lens == NULL)
            return llm_error_set(err, "out of memory");
        b->tok_len = lens;
        memset(b->tok_len + b->ids_cap, 0, (n - b->ids_cap) * sizeof(uint32_t));
        b->ids_cap = n;
    }
    if (b->tok_len[id] != 0)
        return llm_error_set(err, "token id %u appears twice", id);
    if (llm_grow(&b->arena, &b->arena_cap, b->arena_len + len) < 0)
        return llm_error_set(err, "out of memory");
    memcpy(b->arena + b->arena_len, bytes, len);
    b->tok_off[id] = (uint32_t)b->arena_len;
    b->tok_len[id] = (uint32_t)len;
    b->arena_len += len;
    b->n_tokens++;
    if (id >= b->n_ids)
        b->n_ids = id + 1;
    return 0;
}

const unsigned char *llm_bpe_token(const llm_bpe *b, uint32_t id, size_t *len)
{
    if (id >= b->n_ids || b->tok_len[id] == 0)
        return NULL;
    *len = b->tok_len[id];
    return b->arena + b->tok_off[id];
}

uint32_t llm_bpe_lookup(const llm_bpe *b, const void *s, size_t n)
{
    if (b->str == NULL)
        return LLM_BPE_NONE;
    uint64_t h = bytes_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & b->str_mask;; i = (i + 1) & b->str_mask) {
        const str_slot *slot = &b->str[i];
        if (slot->id_plus1 == 0)
            return LLM_BPE_NONE;
        uint32_t id = slot->id_plus1 - 1;
        if (slot->tag == tag && b->tok_len[id] == n && memcmp(b->arena + b->tok_off[id], s, n) == 0)
            return id;
    }
}

/* ---- cuts ----
 * A merge makes a token of the vocabulary whose bytes are its two parts' (tiktoken's rule
 * by definition, tokenizer.json's merges by construction; llm_bpe_add_merge checks). So
 * where no token of the vocabulary spans a boundary in a piece, no part ever does: the merges
 * on either side never meet, and the piece's BPE is the BPE of the text before the boundary
 * followed by that of the text after it. CJK text cuts so into single characters almost
 * everywhere, and an encoder caches those.
 *
 * The boundaries looked at are those between two multi-byte characters X|Y: a continuation
 * byte, then a lead byte. Text and tokens are read by the same byte rules (no validation).
 * A token that spans such a boundary holds a suffix of X (all of it, or a part when the token
 * starts inside X) and a prefix of Y; the index records each (suffix, prefix) it finds in the
 * vocabulary. Most hold X and Y whole; the few tokens that start or end inside a character
 * also mark the two bytes around the boundary, so that only there the text's other suffix
 * and prefix pairs are looked up. */

/* The length a lead byte announces, 0 for a byte that starts no multi-byte character. */
static inline size_t lead_len(unsigned char c)
{
    return c >= 0xC0 && c < 0xF8 ? (c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4) : 0;
}

static inline int is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* 1 to 4 bytes >= 0x80 packed into a word (nonzero, and unique for each length). */
static inline uint32_t pack(const unsigned char *s, size_t len)
{
    uint32_t k = s[0];
    for (size_t i = 1; i < len; i++)
        k |= (uint32_t)s[i] << (8 * i);
    return k;
}

/* A (suffix of X, prefix of Y) key: the l bytes before s + k and the r bytes from it. */
static inline uint64_t span_key(const unsigned char *s, size_t k, size_t l, size_t r)
{
    return (uint64_t)pack(s + k - l, l) << 32 | pack(s + k, r);
}

static inline uint64_t cut_hash(uint64_t key)
{
    return key * 0x9E3779B97F4A7C15ull;
}

/* A key's two filter bits, in the word filter_word picks. */
static inline uint64_t filter_bits(uint64_t h)
{
    return 1ull << ((h >> 20) & 63) | 1ull << ((h >> 26) & 63);
}

static inline size_t filter_word(uint64_t h)
{
    return (size_t)(h >> (64 - CUT_FILTER_LOG2));
}

static inline int bit_test(const uint64_t *bits, size_t i)
{
    return (int)(bits[i / 64] >> (i % 64)) & 1;
}

static inline void bit_set(uint64_t *bits, size_t i)
{
    bits[i / 64] |= 1ull << (i % 64);
}

/* The start of the character that ends at s[k - 1], or k when s[0..k) holds no lead byte
 * (the text starts inside it). */
static inline size_t char_start(const unsigned char *s, size_t k)
{
    size_t p = k - 1;
    while (p > 0 && is_continuation(s[p]))
        p--;
    return is_continuation(s[p]) ? k : p;
}

/* Adds key to a table known to have room. */
static void cut_put(uint64_t *t, uint32_t mask, uint64_t key)
{
    uint32_t i = (uint32_t)(cut_hash(key) >> 32) & mask;
    for (; t[i] != 0; i = (i + 1) & mask)
        if (t[i] == key)
            return;
    t[i] = key;
}

/* Visits the X|Y boundaries inside every token and records what each holds of X and Y: the
 * key into the table and the filter (keys NULL: only counts them), the two bytes around
 * the boundary when either is not whole, or those bytes as always spanned when the token's
 * part of X is not a character (longer than 4 bytes). Returns the number of keys. */
static size_t scan_spans(llm_bpe *b, uint64_t *keys, uint32_t mask)
{
    size_t count = 0;
    for (uint32_t id = 0; id < b->n_ids; id++) {
        const unsigned char *t = b->arena + b->tok_off[id];
        size_t n = b->tok_len[id];
        for (size_t k = 1; k < n; k++) {
            if (lead_len(t[k]) == 0 || !is_continuation(t[k - 1]))
                continue;
            size_t p = char_start(t, k), yl = lead_len(t[k]);
            size_t l = p < k ? k - p : k, r = n - k < yl ? n - k : yl;
            size_t bigram = (size_t)t[k - 1] << 8 | t[k];
            if (l > 4) {
                bit_set(b->cut_always, bigram);
                continue;
            }
            if (p == k || lead_len(t[p]) != l || r < yl)
                bit_set(b->cut_bytes, bigram);
            if (keys != NULL) {
                uint64_t key = span_key(t, k, l, r);
                cut_put(keys, mask, key);
                b->cut_filter[filter_word(cut_hash(key))] |= filter_bits(cut_hash(key));
            }
            count++;
        }
    }
    return count;
}

static int index_cuts(llm_bpe *b)
{
    free(b->cut_keys);
    memset(b->cut_bytes, 0, sizeof b->cut_bytes);
    memset(b->cut_always, 0, sizeof b->cut_always);
    memset(b->cut_filter, 0, sizeof b->cut_filter);
    size_t cap = pow2_at_least(scan_spans(b, NULL, 0) * 2 + 1);
    if (cap > UINT32_MAX || (b->cut_keys = calloc(cap, sizeof(uint64_t))) == NULL)
        return -1;
    b->cut_mask = (uint32_t)(cap - 1);
    scan_spans(b, b->cut_keys, b->cut_mask);
    return 0;
}

static inline int cut_has(const llm_bpe *b, uint64_t key)
{
    uint64_t h = cut_hash(key), bits = filter_bits(h);
    if ((b->cut_filter[filter_word(h)] & bits) != bits)
        return 0;
    for (uint32_t i = (uint32_t)(h >> 32) & b->cut_mask;; i = (i + 1) & b->cut_mask) {
        if (b->cut_keys[i] == key)
            return 1;
        if (b->cut_keys[i] == 0)
            return 0;
    }
}

/* 1 when some token may span boundary k of s[0..n) (a lead byte after a continuation byte). */
static int spanned(const llm_bpe *b, const unsigned char *s, size_t n, size_t k)
{
    size_t p = char_start(s, k), yl = lead_len(s[k]);
    /* X or Y cut off by the piece's ends, or not a character: keep it whole. */
    if (p == k || lead_len(s[p]) != k - p || n - k < yl ||
        bit_test(b->cut_always, (size_t)s[k - 1] << 8 | s[k]))
        return 1;
    size_t xl = k - p;
    if (cut_has(b, span_key(s, k, xl, yl)))
        return 1;
    if (!bit_test(b->cut_bytes, (size_t)s[k - 1] << 8 | s[k]))
        return 0;
    for (size_t l = 1; l <= xl; l++)
        for (size_t r = 1; r <= yl; r++)
            if ((l < xl || r < yl) && cut_has(b, span_key(s, k, l, r)))
                return 1;
    return 0;
}

size_t llm_bpe_cut(const llm_bpe *b, const unsigned char *s, size_t n)
{
    if (b->cut_keys == NULL || b->merges_not_concat)
        return n;
    for (size_t k = 1; k < n; k++)
        if (lead_len(s[k]) && is_continuation(s[k - 1]) && !spanned(b, s, n, k))
            return k;
    return n;
}

static int index_tokens(llm_bpe *b, int need_bytes, llm_error *err)
{
    size_t cap = pow2_at_least(b->n_tokens * 2 + 1);
    if (cap > UINT32_MAX)
        return llm_error_set(err, "vocabulary too large");
    free(b->str);
    b->str = calloc(cap, sizeof(str_slot));
    if (b->str == NULL)
        return llm_error_set(err, "out of memory");
    b->str_mask = (uint32_t)(cap - 1);
    for (uint32_t id = 0; id < b->n_ids; id++) {
        if (b->tok_len[id] == 0)
            continue;
        const unsigned char *s = b->arena + b->tok_off[id];
        size_t n = b->tok_len[id];
        uint64_t h = bytes_hash(s, n);
        uint32_t i = (uint32_t)h & b->str_mask;
        for (; b->str[i].id_plus1 != 0; i = (i + 1) & b->str_mask) {
            uint32_t other = b->str[i].id_plus1 - 1;
            if (b->tok_len[other] == n && memcmp(b->arena + b->tok_off[other], s, n) == 0)
                return llm_error_set(err, "token ids %u and %u have the same bytes", other, id);
        }
        b->str[i].id_plus1 = id + 1;
        b->str[i].tag = (uint32_t)(h >> 32);
    }
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        b->byte_id[c] = llm_bpe_lookup(b, &byte, 1);
        if (b->byte_id[c] == LLM_BPE_NONE && need_bytes)
            return llm_error_set(err, "no token for the single byte 0x%02x", c);
    }
    /* Cuts hold for merges that start from bytes; text vocabularies start from characters. */
    if (need_bytes && index_cuts(b) < 0)
        return llm_error_set(err, "out of memory");
    return 0;
}

int llm_bpe_index(llm_bpe *b, llm_error *err)
{
    return index_tokens(b, 1, err);
}

int llm_bpe_index_text(llm_bpe *b, llm_error *err)
{
    return index_tokens(b, 0, err);
}

uint32_t llm_bpe_byte_id(const llm_bpe *b, unsigned char c)
{
    return b->byte_id[c];
}

uint32_t llm_bpe_n_ids(const llm_bpe *b) { return b->n_ids; }
size_t llm_bpe_n_tokens(const llm_bpe *b) { return b->n_tokens; }
size_t llm_bpe_n_merges(const llm_bpe *b) { return b->pair_count; }

size_t llm_bpe_memory(const llm_bpe *b)
{
    return b->ids_cap * 2 * sizeof(uint32_t) + b->arena_cap +
           (b->str ? ((size_t)b->str_mask + 1) * sizeof(str_slot) : 0) +
           (b->pairs ? ((size_t)b->pair_mask + 1) * sizeof(pair_slot) : 0) +
           (b->small ? SMALL_PAIRS * sizeof(uint64_t) : 0) +
           (b->cut_keys ? ((size_t)b->cut_mask + 1) * sizeof(uint64_t) : 0);
}

static inline uint32_t pair_find(const llm_bpe *b, uint32_t left, uint32_t right, uint32_t *merged)
{
    if ((left | right) < 256 && b->small != NULL) {
        uint64_t v = b->small[left << 8 | right];
        *merged = (uint32_t)v;
        return (uint32_t)(v >> 32);
    }
    if (b->pairs == NULL)
        return LLM_BPE_NONE;
    for (uint32_t i = pair_hash(left, right, b->pair_mask);; i = (i + 1) & b->pair_mask) {
        const pair_slot *p = &b->pairs[i];
        if (p->left == left && p->right == right) {
            *merged = p->merged;
            return p->rank;
        }
        if (p->left == LLM_BPE_NONE)
            return LLM_BPE_NONE;
    }
}

uint32_t llm_bpe_pair(const llm_bpe *b, uint32_t left, uint32_t right, uint32_t *merged)
{
    return pair_find(b, left, right, merged);
}

/* Puts a pair into a table known to have room; keeps an existing entry. */
static int pair_put(pair_slot *t, uint32_t mask, uint32_t left, uint32_t right, uint32_t rank,
                    uint32_t merged)
{
    uint32_t i = pair_hash(left, right, mask);
    for (; t[i].left != LLM_BPE_NONE; i = (i + 1) & mask)
        if (t[i].left == left && t[i].right == right)
            return 0;
    t[i] = (pair_slot){left, right, rank, merged};
    return 1;
}

/* Keeps the table at most half full. */
static int pairs_reserve(llm_bpe *b, size_t count)
{
    size_t cap = b->pairs ? (size_t)b->pair_mask + 1 : 0;
    if (count * 2 <= cap)
        return 0;
    size_t ncap = pow2_at_least(count * 2 < 1024 ? 1024 : count * 2);
    if (ncap > UINT32_MAX)
        return -1;
    pair_slot *t = malloc(ncap * sizeof(pair_slot));
    if (t == NULL)
        return -1;
    memset(t, 0xFF, ncap * sizeof(pair_slot));
    for (size_t i = 0; i < cap; i++)
        if (b->pairs[i].left != LLM_BPE_NONE)
            pair_put(t, (uint32_t)(ncap - 1), b->pairs[i].left, b->pairs[i].right, b->pairs[i].rank,
                     b->pairs[i].merged);
    free(b->pairs);
    b->pairs = t;
    b->pair_mask = (uint32_t)(ncap - 1);
    return 0;
}

/* Adds a merge known to be valid. 0, or -1 when out of memory. */
static int add_pair(llm_bpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t merged)
{
    if (pairs_reserve(b, b->pair_count + 1) < 0)
        return -1;
    if (b->small == NULL) {
        if ((b->small = malloc(SMALL_PAIRS * sizeof(uint64_t))) == NULL)
            return -1;
        memset(b->small, 0xFF, SMALL_PAIRS * sizeof(uint64_t));
    }
    if (pair_put(b->pairs, b->pair_mask, left, right, rank, merged)) {
        b->pair_count++;
        if ((left | right) < 256)
            b->small[left << 8 | right] = (uint64_t)rank << 32 | merged;
    }
    return 0;
}

int llm_bpe_add_merge(llm_bpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t merged,
                      llm_error *err)
{
    if (left >= b->n_ids || right >= b->n_ids || merged >= b->n_ids || !b->tok_len[left] ||
        !b->tok_len[right] || !b->tok_len[merged])
        return llm_error_set(err, "merge %u + %u -> %u names an id without a token", left, right, merged);
    if (rank == LLM_BPE_NONE)
        return llm_error_set(err, "merge rank too large");
    const unsigned char *m = b->arena + b->tok_off[merged];
    if (b->tok_len[merged] != b->tok_len[left] + b->tok_len[right] ||
        memcmp(m, b->arena + b->tok_off[left], b->tok_len[left]) != 0 ||
        memcmp(m + b->tok_len[left], b->arena + b->tok_off[right], b->tok_len[right]) != 0)
        b->merges_not_concat = 1;
    return add_pair(b, left, right, rank, merged) < 0 ? llm_error_set(err, "out of memory") : 0;
}

int llm_bpe_derive_merges(llm_bpe *b, llm_error *err)
{
    for (uint32_t id = 0; id < b->n_ids; id++) {
        size_t n = b->tok_len[id];
        const unsigned char *s = b->arena + b->tok_off[id];
        for (size_t k = 1; k < n; k++) {
            uint32_t left = llm_bpe_lookup(b, s, k);
            if (left == LLM_BPE_NONE)
                continue;
            uint32_t right = llm_bpe_lookup(b, s + k, n - k);
            if (right == LLM_BPE_NONE)
                continue;
            if (add_pair(b, left, right, id, id) < 0)   /* the token is its parts' bytes */
                return llm_error_set(err, "out of memory");
        }
    }
    return 0;
}

/* ---- the merge loop ---- */

void llm_bpe_scratch_init(llm_bpe_scratch *s)
{
    memset(s, 0, sizeof *s);
}

void llm_bpe_scratch_free(llm_bpe_scratch *s)
{
    free(s->next);
    free(s->prev);
    free(s->heap);
    llm_bpe_scratch_init(s);
}

/* tiktoken's loop: the rank of every adjacent pair in an array, the lowest found by a scan,
 * the pair merged by shifting the tail down. Quadratic, and the fastest for short pieces. */
static size_t merge_linear(const llm_bpe *b, uint32_t *ids, size_t n)
{
    uint32_t rank[LINEAR_MAX_LIMIT], merged[LINEAR_MAX_LIMIT];
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = pair_find(b, ids[i], ids[i + 1], &merged[i]);
    while (n > 1) {
        uint32_t best = LLM_BPE_NONE;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) {
                best = rank[i];
                at = i;
            }
        if (best == LLM_BPE_NONE)
            break;
        ids[at] = merged[at];
        /* Remove ids[at + 1] and the pair (at + 1, at + 2), whose entries shift down. */
        size_t tail = n - at - 2;
        memmove(ids + at + 1, ids + at + 2, tail * sizeof *ids);
        if (tail > 0) {
            memmove(rank + at + 1, rank + at + 2, (tail - 1) * sizeof *rank);
            memmove(merged + at + 1, merged + at + 2, (tail - 1) * sizeof *merged);
        }
        n--;
        if (at + 1 < n)
            rank[at] = pair_find(b, ids[at], ids[at + 1], &merged[at]);
        if (at > 0)
            rank[at - 1] = pair_find(b, ids[at - 1], ids[at], &merged[at - 1]);
    }
    return n;
}

/* A min-heap of (rank << 32 | position): the lowest rank, then the leftmost, on top. */
static void heap_down(uint64_t *h, size_t n, size_t i)
{
    uint64_t v = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

#define END UINT32_MAX
#define DEAD (UINT32_MAX - 1)

/* The same rule in O(n log n): the parts form a linked list over their first positions, every
 * adjacent pair sits in the heap under its rank, and an entry popped from the heap is acted on
 * only if it still describes the pair at its position (ranks are re-read, so stale entries
 * fall away). Each merge pushes at most the two pairs it changed. */
static size_t merge_heap(const llm_bpe *b, uint32_t *ids, size_t n, llm_bpe_scratch *s)
{
    if (n >= DEAD)
        return (size_t)-1;
    if (n > s->cap) {
        uint32_t *next = realloc(s->next, n * sizeof(uint32_t));
        if (next == NULL)
            return (size_t)-1;
        s->next = next;
        uint32_t *prev = realloc(s->prev, n * sizeof(uint32_t));
        if (prev == NULL)
            return (size_t)-1;
        s->prev = prev;
        s->cap = n;
    }
    /* At most n - 1 pairs at the start and two more per merge, of which there are n - 1. */
    size_t heap_bytes = s->heap_cap * sizeof(uint64_t);
    if (llm_grow(&s->heap, &heap_bytes, 3 * n * sizeof(uint64_t)) < 0)
        return (size_t)-1;
    s->heap_cap = heap_bytes / sizeof(uint64_t);

    uint32_t *next = s->next, *prev = s->prev;
    uint64_t *heap = s->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (uint32_t)(i + 1) : END;
        prev[i] = i > 0 ? (uint32_t)(i - 1) : END;
        uint32_t m;
        if (i + 1 < n) {
            uint32_t r = pair_find(b, ids[i], ids[i + 1], &m);
            if (r != LLM_BPE_NONE)
                heap[hn++] = (uint64_t)r << 32 | i;
        }
    }
    for (size_t i = hn / 2; i-- > 0;)
        heap_down(heap, hn, i);

    while (hn > 0) {
        uint64_t top = heap[0];
        heap[0] = heap[--hn];
        heap_down(heap, hn, 0);
        uint32_t rank = (uint32_t)(top >> 32), pos = (uint32_t)top;
        if (prev[pos] == DEAD || next[pos] == END)
            continue;
        uint32_t right = next[pos], merged = 0;
        if (pair_find(b, ids[pos], ids[right], &merged) != rank)
            continue;
        ids[pos] = merged;
        next[pos] = next[right];
        if (next[right] != END)
            prev[next[right]] = pos;
        prev[right] = DEAD;
        uint32_t m;
        if (next[pos] != END) {
            uint32_t r = pair_find(b, ids[pos], ids[next[pos]], &m);
            if (r != LLM_BPE_NONE)
                heap_push(heap, &hn, (uint64_t)r << 32 | pos);
        }
        if (prev[pos] != END) {
            uint32_t r = pair_find(b, ids[prev[pos]], ids[pos], &m);
            if (r != LLM_BPE_NONE)
                heap_push(heap, &hn, (uint64_t)r << 32 | prev[pos]);
        }
    }
    size_t out = 0;
    for (uint32_t i = 0; i != END; i = next[i])
        ids[out++] = ids[i];
    return out;
}

size_t llm_bpe_merge(const llm_bpe *b, uint32_t *ids, size_t n, llm_bpe_scratch *s, size_t linear_max)
{
    if (linear_max == 0)
        linear_max = LINEAR_MAX_DEFAULT;
    if (linear_max > LINEAR_MAX_LIMIT)
        linear_max = LINEAR_MAX_LIMIT;
    if (n < 2)
        return n;
    if (n <= linear_max)
        return merge_linear(b, ids, n);
    return merge_heap(b, ids, n, s);
}
