/* The tokenizers crate's encode pipeline for a loaded tokenizer.json: added tokens split the
 * text, normalizers run on the rest, pre-tokenizers cut it into pre-tokens, and a callback
 * (lib/tokenizer.c: the cache and the BPE merges) encodes each one. Also decoding. The order
 * of steps and the split rules follow the crate (added_vocabulary.rs, normalizer.rs's
 * split behaviours), since any difference changes token ids. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "hf_tokenizer.h"
#include "normalize.h"
#include "utf8.h"

/* A piece of text in one of the state's buffers. */
typedef struct span {
    size_t off, len;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
} span_list;

/* A range of a piece and whether the pattern matched it. */
typedef struct split_range {
    size_t a, z;
    int match;
} split_range;

struct llm_hf_state {
    const llm_hf *h;
    llm_pretok_matcher **m;     /* one per pre-tokenizer step with a regex */
    llm_buf norm, tmp;          /* normalizer output, and its second buffer */
    llm_buf text[2];            /* pre-tokens of the general path, this step's and the next's */
    span_list pieces[2];
    split_range *ranges;
    size_t ranges_cap;
};

llm_hf_state *llm_hf_state_new(const llm_hf *h)
{
    llm_hf_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->h = h;
    llm_buf_init(&s->norm);
    llm_buf_init(&s->tmp);
    llm_buf_init(&s->text[0]);
    llm_buf_init(&s->text[1]);
    if (h->n_pre > 0 && (s->m = calloc(h->n_pre, sizeof *s->m)) == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < h->n_pre; i++)
        if (h->pre[i].re != NULL && (s->m[i] = llm_pretok_matcher_new(h->pre[i].re)) == NULL) {
            llm_hf_state_free(s);
            return NULL;
        }
    return s;
}

void llm_hf_state_free(llm_hf_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->m && i < s->h->n_pre; i++)
        llm_pretok_matcher_free(s->m[i]);
    free(s->m);
    llm_buf_free(&s->norm);
    llm_buf_free(&s->tmp);
    llm_buf_free(&s->text[0]);
    llm_buf_free(&s->text[1]);
    free(s->pieces[0].v);
    free(s->pieces[1].v);
    free(s->ranges);
    free(s);
}

/* ---- normalizers ---- */

/* Appends s[0..n) with every `from` replaced by `to`, left to right. */
static void replace_all(llm_buf *out, const char *s, size_t n, const char *from, size_t flen,
                        const char *to, size_t tlen)
{
    size_t i = 0;
    while (i < n) {
        const char *hit = flen <= n - i ? memmem(s + i, n - i, from, flen) : NULL;
        if (hit == NULL)
            break;
        llm_buf_append(out, s + i, (size_t)(hit - (s + i)));
        llm_buf_append(out, to, tlen);
        i = (size_t)(hit - s) + flen;
    }
    llm_buf_append(out, s + i, n - i);
}

/* Runs the normalizers over s[0..n): the result is *res[0..*rlen), s itself when there are
 * none, else in one of the two buffers. */
static int normalize(const llm_hf *h, const char *s, size_t n, llm_buf *x, llm_buf *y,
                     const char **res, size_t *rlen)
{
    const char *cur = s;
    size_t len = n;
    for (size_t i = 0; i < h->n_norm; i++) {
        const llm_hf_norm *st = &h->norm[i];
        llm_buf *dst = cur == x->data ? y : x;
        llm_buf_clear(dst);
        switch (st->kind) {
        case HF_NORM_NFC:
        case HF_NORM_NFKC:
            if (llm_normalize(st->kind == HF_NORM_NFC ? LLM_NORM_NFC : LLM_NORM_NFKC, cur, len, dst) < 0)
                return -1;
            break;
        case HF_NORM_PREPEND:
            /* The crate prepends to non-empty text only. */
            if (len > 0)
                llm_buf_append(dst, st->a, st->alen);
            llm_buf_append(dst, cur, len);
            break;
        case HF_NORM_REPLACE:
            replace_all(dst, cur, len, st->a, st->alen, st->b, st->blen);
            break;
        }
        if (llm_buf_failed(dst) || llm_buf_reserve(dst, 1) < 0)
            return -1;
        cur = dst->data;
        len = dst->len;
    }
    *res = cur;
    *rlen = len;
    return 0;
}

int llm_hf_normalize(const llm_hf *h, const char *s, size_t n, llm_buf *out)
{
    llm_buf x, y;
    llm_buf_init(&x);
    llm_buf_init(&y);
    const char *r;
    size_t len;
    int status = normalize(h, s, n, &x, &y, &r, &len);
    if (status == 0)
        llm_buf_append(out, r, len);
    llm_buf_free(&x);
    llm_buf_free(&y);
    return status == 0 && !llm_buf_failed(out) ? 0 : -1;
}

/* ---- character classes of the crate's added-token rules (Rust regex \s and \w) ---- */

static int is_space(uint32_t c)
{
    if ((c >= 9 && c <= 13) || c == ' ' || c == 0x85)
        return 1;
    if (c < 0x80)
        return 0;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_word(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == 0x200C || c == 0x200D)
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

/* The character that starts at s[i] (U+FFFD for a byte that starts none) and its length. */
static uint32_t char_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    size_t k = llm_utf8_seq_len(s + i, n - i);
    *len = k ? k : 1;
    return k ? llm_utf8_decode(s + i, k) : 0xFFFD;
}

/* The start of the character that ends at s[i] (i > 0). */
static size_t char_before(const unsigned char *s, size_t i)
{
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (s[j] & 0xC0) == 0x80)
        j--;
    return j;
}

/* ---- added tokens ---- */

/* The leftmost, then longest, added token of this phase in s[from..n): its start, or n. */
static size_t find_added(const llm_hf *h, const unsigned char *s, size_t n, size_t from, int normalized,
                         int allow_special, const llm_hf_added **which)
{
    for (size_t i = from; i < n; i++) {
        if (!h->added_first[s[i]])
            continue;
        const llm_hf_added *best = llm_hf_added_at(h, s + i, n - i, normalized, allow_special);
        if (best != NULL) {
            *which = best;
            return i;
        }
    }
    return n;
}

typedef struct encode_ctx {
    const llm_hf *h;
    llm_hf_state *st;
    int allow_special;
    llm_hf_piece_fn piece;
    void *pctx;
    llm_ids *out;
    llm_error *err;
} encode_ctx;

typedef int (*gap_fn)(encode_ctx *c, const char *s, size_t n);

/* The crate's find_matches: splits s[0..n) at the added tokens of one phase, calling gap for
 * the text between them and pushing each token's id. */
static int split_added(encode_ctx *c, const char *text, size_t n, int normalized, gap_fn gap)
{
    const llm_hf *h = c->h;
    const unsigned char *s = (const unsigned char *)text;
    size_t done = 0, search = 0;
    while (search < n) {
        const llm_hf_added *a = NULL;
        size_t at = find_added(h, s, n, search, normalized, c->allow_special, &a);
        if (at == n)
            break;
        size_t start = at, stop = at + a->len, k;
        search = stop;
        if (a->single_word) {
            int before = start > 0 && is_word(char_at(s, n, char_before(s, start), &k));
            int after = stop < n && is_word(char_at(s, n, stop, &k));
            if (before || after)
                continue;
        }
        if (a->lstrip) {
            while (start > done) {
                size_t j = char_before(s, start);
                if (!is_space(char_at(s, n, j, &k)))
                    break;
                start = j;
            }
        }
        if (a->rstrip) {
            while (stop < n && is_space(char_at(s, n, stop, &k)))
                stop += k;
            search = stop;
        }
        if (start > done && gap(c, text + done, start - done) < 0)
            return -1;
        if (llm_ids_push(c->out, a->id) < 0)
            return llm_error_set(c->err, "out of memory");
        done = stop;
    }
    if (done < n && gap(c, text + done, n - done) < 0)
        return -1;
    return 0;
}

/* ---- pre-tokenizers ---- */

static int push_span(span_list *l, size_t off, size_t len)
{
    if (len == 0)
        return 0;   /* the crate drops empty pieces after every step */
    if (l->n == l->cap) {
        size_t bytes = l->cap * sizeof(span);
        if (llm_grow(&l->v, &bytes, (l->n + 1) * sizeof(span)) < 0)
            return -1;
        l->cap = bytes / sizeof(span);
    }
    l->v[l->n++] = (span){off, len};
    return 0;
}

static int push_range(llm_hf_state *st, size_t *n, size_t a, size_t z, int match)
{
    size_t bytes = st->ranges_cap * sizeof(split_range);
    if (*n == st->ranges_cap) {
        if (llm_grow(&st->ranges, &bytes, (*n + 1) * sizeof(split_range)) < 0)
            return -1;
        st->ranges_cap = bytes / sizeof(split_range);
    }
    st->ranges[(*n)++] = (split_range){a, z, match};
    return 0;
}

/* The matches of step i's regex in p[0..n) and the text between them, in order. */
static int regex_ranges(encode_ctx *c, size_t i, const char *p, size_t n, size_t *count)
{
    size_t pos = 0;
    *count = 0;
    while (pos < n) {
        size_t a, z;
        int r = llm_pretok_next(c->st->m[i], p, n, pos, &a, &z, c->err);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if ((a > pos && push_range(c->st, count, pos, a, 0) < 0) || push_range(c->st, count, a, z, 1) < 0)
            return llm_error_set(c->err, "out of memory");
        pos = z;
    }
    if (pos < n && push_range(c->st, count, pos, n, 0) < 0)
        return llm_error_set(c->err, "out of memory");
    return 0;
}

/* Digits: each numeric character (Rust's char::is_numeric: Nd, Nl, No) is a match. */
static int digit_ranges(encode_ctx *c, const char *p, size_t n, size_t *count)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, gap = 0;
    *count = 0;
    while (i < n) {
        size_t k;
        uint32_t cp = char_at(s, n, i, &k);
        int num = cp >= '0' && cp <= '9';
        if (!num && cp >= 0x80) {
            utf8proc_category_t g = utf8proc_category((utf8proc_int32_t)cp);
            num = g == UTF8PROC_CATEGORY_ND || g == UTF8PROC_CATEGORY_NL || g == UTF8PROC_CATEGORY_NO;
        }
        if (num) {
            if ((i > gap && push_range(c->st, count, gap, i, 0) < 0) || push_range(c->st, count, i, i + k, 1) < 0)
                return llm_error_set(c->err, "out of memory");
            gap = i + k;
        }
        i += k;
    }
    if (gap < n && push_range(c->st, count, gap, n, 0) < 0)
        return llm_error_set(c->err, "out of memory");
    return 0;
}

/* Applies a SplitDelimiterBehavior to ranges[0..n) in place (normalizer.rs's split):
 * returns the new count. */
static size_t apply_behavior(split_range *r, size_t n, llm_hf_split how, int invert)
{
    if (invert)
        for (size_t i = 0; i < n; i++)
            r[i].match = !r[i].match;
    size_t o = 0;
    int prev_match = 0;
    switch (how) {
    case HF_SPLIT_ISOLATED:
        return n;
    case HF_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!r[i].match)
                r[o++] = r[i];
        return o;
    case HF_SPLIT_PREVIOUS:
        for (size_t i = 0; i < n; i++) {
            if (r[i].match && !prev_match && o > 0)
                r[o - 1].z = r[i].z;
            else
                r[o++] = r[i];
            prev_match = r[i].match;
        }
        return o;
    case HF_SPLIT_NEXT:
        /* The crate folds from the right: a match joins the piece after it. */
        for (size_t i = n; i-- > 0;) {
            split_range cur = r[i];
            if (cur.match && !prev_match && o > 0)
                r[n - o].a = cur.a;
            else
                r[n - ++o] = cur;
            prev_match = cur.match;
        }
        memmove(r, r + (n - o), o * sizeof *r);
        return o;
    case HF_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if (r[i].match == prev_match && o > 0)
                r[o - 1].z = r[i].z;
            else
                r[o++] = r[i];
            prev_match = r[i].match;
        }
        return o;
    }
    return n;
}

/* One pre-tokenizer step over every piece of pieces[from] into pieces[!from]. */
static int pre_step(encode_ctx *c, size_t i, int from)
{
    llm_hf_state *st = c->st;
    const llm_hf_pre *p = &c->h->pre[i];
    llm_buf *src = &st->text[from], *dst = &st->text[!from];
    span_list *in = &st->pieces[from], *outl = &st->pieces[!from];
    llm_buf_clear(dst);
    outl->n = 0;
    for (size_t k = 0; k < in->n; k++) {
        const char *s = src->data + in->v[k].off;
        size_t n = in->v[k].len, base = dst->len, count = 0;
        if (p->kind == HF_PRE_BYTELEVEL && p->add_prefix_space && s[0] != ' ')
            llm_buf_putc(dst, ' ');
        llm_buf_append(dst, s, n);
        if (llm_buf_failed(dst) || llm_buf_reserve(dst, 1) < 0)
            return llm_error_set(c->err, "out of memory");
        s = dst->data + base;
        n = dst->len - base;
        llm_hf_split how = HF_SPLIT_ISOLATED;
        int invert = 0;
        if (p->kind == HF_PRE_DIGITS) {
            if (digit_ranges(c, s, n, &count) < 0)
                return -1;
            how = p->individual ? HF_SPLIT_ISOLATED : HF_SPLIT_CONTIGUOUS;
        } else if (p->re != NULL) {
            if (regex_ranges(c, i, s, n, &count) < 0)
                return -1;
            if (p->kind == HF_PRE_SPLIT) {
                how = p->behavior;
                invert = p->invert;
            }
        } else if (push_range(st, &count, 0, n, 0) < 0) {
            return llm_error_set(c->err, "out of memory");
        }
        count = apply_behavior(st->ranges, count, how, invert);
        for (size_t r = 0; r < count; r++)
            if (push_span(outl, base + st->ranges[r].a, st->ranges[r].z - st->ranges[r].a) < 0)
                return llm_error_set(c->err, "out of memory");
    }
    return 0;
}

/* Pre-tokenizes normalized text s[0..n) and encodes the pieces. */
static int encode_normalized(encode_ctx *c, const char *s, size_t n)
{
    const llm_hf *h = c->h;
    llm_hf_state *st = c->st;
    if (h->n_pre == 0)
        return c->piece(c->pctx, (const unsigned char *)s, n, c->out, c->err);
    if (h->fast_split) {
        size_t pos = 0;
        while (pos < n) {
            size_t a, z;
            int r = llm_pretok_next(st->m[0], s, n, pos, &a, &z, c->err);
            if (r < 0)
                return -1;
            if (r == 0)
                a = z = n;
            if (a > pos && c->piece(c->pctx, (const unsigned char *)s + pos, a - pos, c->out, c->err) < 0)
                return -1;
            if (r == 0)
                break;
            if (c->piece(c->pctx, (const unsigned char *)s + a, z - a, c->out, c->err) < 0)
                return -1;
            pos = z;
        }
        return 0;
    }
    /* The text may live in st->norm, which the steps do not touch. */
    llm_buf_clear(&st->text[0]);
    llm_buf_append(&st->text[0], s, n);
    if (llm_buf_failed(&st->text[0]))
        return llm_error_set(c->err, "out of memory");
    st->pieces[0].n = 0;
    if (push_span(&st->pieces[0], 0, n) < 0)
        return llm_error_set(c->err, "out of memory");
    int cur = 0;
    for (size_t i = 0; i < h->n_pre; i++, cur = !cur)
        if (pre_step(c, i, cur) < 0)
            return -1;
    for (size_t k = 0; k < st->pieces[cur].n; k++) {
        const span *sp = &st->pieces[cur].v[k];
        if (c->piece(c->pctx, (const unsigned char *)st->text[cur].data + sp->off, sp->len, c->out, c->err) < 0)
            return -1;
    }
    return 0;
}

/* The text between normalized added tokens. */
static int gap_normalized(encode_ctx *c, const char *s, size_t n)
{
    return encode_normalized(c, s, n);
}

/* Valid UTF-8 between raw added tokens: normalized, then split at the normalized ones. */
static int encode_valid(encode_ctx *c, const char *s, size_t n)
{
    const char *t;
    size_t len;
    if (normalize(c->h, s, n, &c->st->norm, &c->st->tmp, &t, &len) < 0)
        return llm_error_set(c->err, "out of memory");
    /* The pre-tokenizers may copy; the normalized text stays where it is meanwhile. */
    return split_added(c, t, len, 1, gap_normalized);
}

/* Any bytes between raw added tokens: valid runs as the crate would see them, and each
 * ill-formed subsequence (which a Rust string cannot hold) as a piece of its own. Linear:
 * llm_utf8_valid_prefix reads about as far as the run it returns, not to the end. */
static int gap_raw(encode_ctx *c, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t pos = 0;
    while (pos < n) {
        size_t k = pos + llm_utf8_valid_prefix(s + pos, n - pos);
        if (k > pos && encode_valid(c, s + pos, k - pos) < 0)
            return -1;
        pos = k;
        if (pos < n) {
            size_t bad = llm_utf8_invalid_len(u + pos, n - pos);
            if (c->piece(c->pctx, u + pos, bad, c->out, c->err) < 0)
                return -1;
            pos += bad;
        }
    }
    return 0;
}

int llm_hf_encode(const llm_hf *h, llm_hf_state *st, const char *text, size_t n, int allow_special,
                  llm_hf_piece_fn piece, void *ctx, llm_ids *out, llm_error *err)
{
    encode_ctx c = {h, st, allow_special, piece, ctx, out, err};
    return split_added(&c, text, n, 0, gap_raw);
}

/* ---- the model's first symbols (text vocabularies) ---- */

size_t llm_hf_symbols(const llm_hf *h, const unsigned char *s, size_t n, uint32_t *ids)
{
    size_t o = 0;
    int last_unk = 0;
    for (size_t i = 0; i < n;) {
        size_t k = llm_utf8_seq_len(s + i, n - i);
        if (k == 0)
            k = 1;   /* a byte of invalid UTF-8: no character token, byte fallback or unk */
        uint32_t id = llm_bpe_lookup(h->bpe, s + i, k);
        if (id != LLM_BPE_NONE) {
            ids[o++] = id;
            last_unk = 0;
        } else {
            int all = h->byte_fallback;
            for (size_t j = 0; all && j < k; j++)
                all = h->fallback[s[i + j]] != LLM_BPE_NONE;
            if (all) {
                for (size_t j = 0; j < k; j++)
                    ids[o++] = h->fallback[s[i + j]];
                last_unk = 0;
            } else if (h->unk != LLM_BPE_NONE) {
                if (!(h->fuse_unk && last_unk))
                    ids[o++] = h->unk;
                last_unk = 1;
            }
        }
        i += k;
    }
    return o;
}

/* ---- decoding ---- */

/* The text of a token before the decoders: its content, or NULL. */
static const char *token_text(const llm_hf *h, uint32_t id, size_t *len)
{
    const llm_hf_added *a = llm_hf_added_by_id(h, id);
    if (a != NULL) {
        *len = a->len;
        return a->text;
    }
    const unsigned char *s = llm_bpe_token(h->bpe, id, len);
    if (s != NULL)
        return (const char *)s;
    for (size_t i = 0; i < h->n_extra; i++)
        if (h->extra[i].id == id) {
            *len = h->extra[i].len;
            return h->extra[i].text;
        }
    return NULL;
}

/* "<0xXX>": the byte, or -1. */
static int fallback_byte(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

int llm_hf_decode(const llm_hf *h, const uint32_t *ids, size_t n, llm_buf *out, llm_error *err)
{
    size_t first = out->len;
    llm_buf a, b;
    llm_buf_init(&a);
    llm_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = token_text(h, ids[i], &len);
        if (s == NULL) {
            llm_buf_free(&a);
            llm_buf_free(&b);
            return llm_error_set(err, "token id %u is not in the vocabulary", ids[i]);
        }
        int byte = h->dec_byte_fallback ? fallback_byte(s, len) : -1;
        if (byte >= 0) {
            llm_buf_putc(out, (char)byte);
            continue;
        }
        /* Replace runs per token, so bytes from byte fallback are never replaced. */
        const char *cur = s;
        size_t cur_len = len;
        for (size_t d = 0; d < h->n_dec; d++) {
            const llm_hf_dec *st = &h->dec[d];
            if (st->kind != HF_DEC_REPLACE)
                continue;
            llm_buf *dst = cur == a.data ? &b : &a;
            llm_buf_clear(dst);
            replace_all(dst, cur, cur_len, st->a, st->alen, st->b, st->blen);
            llm_buf_reserve(dst, 1);
            cur = dst->data;
            cur_len = dst->len;
        }
        llm_buf_append(out, cur, cur_len);
    }
    int failed = llm_buf_failed(&a) || llm_buf_failed(&b);
    llm_buf_free(&a);
    llm_buf_free(&b);
    /* Strip, after the tokens are joined (the decoders put it after Fuse). */
    for (size_t d = 0; d < h->n_dec && !failed; d++) {
        const llm_hf_dec *st = &h->dec[d];
        if (st->kind != HF_DEC_STRIP || st->alen == 0)
            continue;
        for (size_t k = 0; k < st->start && out->len - first >= st->alen &&
                           memcmp(out->data + first, st->a, st->alen) == 0; k++) {
            memmove(out->data + first, out->data + first + st->alen, out->len - first - st->alen);
            out->len -= st->alen;
        }
        for (size_t k = 0; k < st->stop && out->len - first >= st->alen &&
                           memcmp(out->data + out->len - st->alen, st->a, st->alen) == 0; k++)
            out->len -= st->alen;
    }
    if (failed || llm_buf_failed(out))
        return llm_error_set(err, "out of memory");
    return 0;
}
