/* Concatenate-and-cut and best-fit packing of sequences into blocks (packer.h). */
#include "packer.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW 1024

/* One sequence held in the fit window: its tokens and mask in the arena. */
typedef struct held {
    size_t off;
    uint32_t len;
    uint32_t next;           /* the next sequence of the same bin, in packing order */
} held;

typedef struct bin {
    uint32_t used;
    uint32_t first, last;    /* indexes into held */
} bin;

struct llm_packer {
    llm_packer_opts o;
    llm_block_fn fn;
    void *ctx;
    llm_packer_stats st;

    /* the block being filled */
    uint32_t *tokens;
    uint8_t *mask;
    uint32_t *starts;
    uint32_t fill, n_starts, masked_in_block;
    uint32_t context;           /* concat with a stride: the previous window's tokens it begins with */
    uint64_t in_group;
    uint64_t pending;           /* concat: sequences begun since the last block went out */
    uint32_t pending_tokens;    /* and their tokens */

    /* fit: the window */
    uint32_t *arena_tokens;
    uint8_t *arena_mask;
    size_t arena_len, arena_cap, arena_mask_cap;
    held *held;
    size_t n_held;
    uint32_t *order;
    bin *bins;
};

#define NO_NEXT UINT32_MAX

llm_packer *llm_packer_new(const llm_packer_opts *o, llm_block_fn fn, void *ctx, llm_error *err)
{
    if (o->block_size == 0 || o->block_size > LLM_RECORD_MAX_TOKENS) {
        llm_error_set(err, "block size %u is out of range (1 to %u)", o->block_size, (unsigned)LLM_RECORD_MAX_TOKENS);
        return NULL;
    }
    if (o->stride > o->block_size || (o->stride && (o->mode != LLM_PACK_CONCAT || o->group))) {
        llm_error_set(err, "stride %u: 1 to the block size %u, with concat packing and no group", o->stride,
                      o->block_size);
        return NULL;
    }
    llm_packer *p = calloc(1, sizeof *p);
    if (!p)
        goto oom;
    p->o = *o;
    if (p->o.window == 0)
        p->o.window = DEFAULT_WINDOW;
    p->fn = fn;
    p->ctx = ctx;
    size_t b = o->block_size;
    p->tokens = malloc(b * sizeof *p->tokens);
    p->mask = malloc(b);
    p->starts = malloc(b * sizeof *p->starts);
    if (!p->tokens || !p->mask || !p->starts)
        goto oom;
    if (o->mode == LLM_PACK_FIT) {
        size_t w = p->o.window;
        p->held = malloc(w * sizeof *p->held);
        p->order = malloc(w * sizeof *p->order);
        p->bins = malloc(w * sizeof *p->bins);
        if (!p->held || !p->order || !p->bins)
            goto oom;
    }
    return p;
oom:
    llm_packer_free(p);
    llm_error_set(err, "out of memory");
    return NULL;
}

void llm_packer_free(llm_packer *p)
{
    if (!p)
        return;
    free(p->tokens);
    free(p->mask);
    free(p->starts);
    free(p->arena_tokens);
    free(p->arena_mask);
    free(p->held);
    free(p->order);
    free(p->bins);
    free(p);
}

const llm_packer_stats *llm_packer_stats_get(const llm_packer *p) { return &p->st; }

/* Copies n tokens of seq from position `from` as u32, and their mask bits (1 without a
 * mask). Returns how many of them are masked. */
static uint32_t copy_seq(uint32_t *dst, uint8_t *dmask, const llm_record *seq, size_t from, size_t n)
{
    if (seq->token_bytes == 2) {
        const uint16_t *t = (const uint16_t *)seq->tokens + from;
        for (size_t i = 0; i < n; i++)
            dst[i] = t[i];
    } else {
        memcpy(dst, (const uint32_t *)seq->tokens + from, n * sizeof *dst);
    }
    if (!seq->mask) {
        memset(dmask, 1, n);
        return 0;
    }
    uint32_t masked = 0;
    for (size_t i = 0; i < n; i++) {
        dmask[i] = seq->mask[from + i];
        masked += !dmask[i];
    }
    return masked;
}

/* Pads the block being filled to block_size, hands it out and starts the next one. */
static int emit_block(llm_packer *p, llm_error *err)
{
    uint32_t b = p->o.block_size, pad = b - p->fill;
    for (uint32_t i = p->fill; i < b; i++)
        p->tokens[i] = p->o.pad_id;
    memset(p->mask + p->fill, 0, pad);
    llm_record r = {
        .n_tokens = b,
        .token_bytes = 4,
        .tokens = p->tokens,
        .mask = pad || p->masked_in_block ? p->mask : NULL,
        .n_bounds = p->n_starts,
        .bounds = p->n_starts ? p->starts : NULL,
    };
    p->st.blocks++;
    p->st.block_tokens += p->fill;
    p->st.pad_tokens += pad;
    p->st.masked_tokens += p->masked_in_block;
    p->st.context_tokens += p->context;
    p->fill = p->n_starts = p->masked_in_block = p->context = 0;
    p->pending = p->pending_tokens = 0;
    (void)err;    /* the callback's failure: it said why */
    return p->fn(p->ctx, &r);
}

/* ---- concat ---- */

/* With a stride, after a full window of n_starts starts went out: the next begins stride
 * tokens on, with the window's last block_size - stride tokens as its context, masked, as
 * Hugging Face's "Perplexity of fixed-length models" sets their labels to -100. */
static void keep_context(llm_packer *p, uint32_t n_starts)
{
    uint32_t stride = p->o.stride, keep = p->o.block_size - stride;
    memmove(p->tokens, p->tokens + stride, keep * sizeof *p->tokens);
    memset(p->mask, 0, keep);
    p->fill = p->masked_in_block = p->context = keep;
    for (uint32_t i = 0; i < n_starts; i++)
        if (p->starts[i] >= stride)
            p->starts[p->n_starts++] = p->starts[i] - stride;
}

static int concat_add(llm_packer *p, const llm_record *seq, llm_error *err)
{
    uint32_t b = p->o.block_size;
    uint64_t blocks = p->st.blocks;
    if (p->o.boundaries && seq->n_tokens)
        p->starts[p->n_starts++] = p->fill;
    for (size_t done = 0; done < seq->n_tokens;) {
        size_t take = seq->n_tokens - done;
        if (take > b - p->fill)
            take = b - p->fill;
        p->masked_in_block += copy_seq(p->tokens + p->fill, p->mask + p->fill, seq, done, take);
        p->fill += (uint32_t)take;
        done += take;
        if (p->fill == b) {
            uint32_t n_starts = p->n_starts;
            if (emit_block(p, err) < 0)
                return -1;
            if (p->o.stride)
                keep_context(p, n_starts);
        }
    }
    /* Every token of it still waits in the block being filled. */
    if (seq->n_tokens && p->st.blocks == blocks) {
        p->pending++;
        p->pending_tokens += seq->n_tokens;
    }
    if (p->o.group && ++p->in_group == p->o.group)
        return llm_packer_finish(p, err);
    return 0;
}

/* The short tail of a group: padded and masked, or dropped and counted. */
static int concat_finish(llm_packer *p, llm_error *err)
{
    p->in_group = 0;
    if (p->fill == p->context) {    /* nothing new since the last window */
        p->fill = p->n_starts = p->masked_in_block = p->context = 0;
        return 0;
    }
    if (p->o.pad_remainder || p->o.stride)    /* the recipe's last window is shorter */
        return emit_block(p, err);
    p->st.remainder_tokens += p->fill;
    p->st.remainders++;
    p->st.remainder_sequences += p->pending;
    p->st.remainder_cut += p->fill > p->pending_tokens;
    p->fill = p->n_starts = p->masked_in_block = 0;
    p->pending = p->pending_tokens = 0;
    return 0;
}

/* ---- fit ---- */

static int hold(llm_packer *p, const llm_record *seq, size_t from, uint32_t len, llm_error *err)
{
    size_t need = p->arena_len + len;
    if (llm_grow(&p->arena_tokens, &p->arena_cap, need * sizeof *p->arena_tokens) < 0 ||
        llm_grow(&p->arena_mask, &p->arena_mask_cap, need) < 0)
        return llm_error_set(err, "out of memory");
    copy_seq(p->arena_tokens + p->arena_len, p->arena_mask + p->arena_len, seq, from, len);
    p->held[p->n_held++] = (held){.off = p->arena_len, .len = len, .next = NO_NEXT};
    p->arena_len = need;
    return 0;
}

static int longer_first(const void *a, const void *b, void *heldv)
{
    const held *h = heldv;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (h[x].len != h[y].len)
        return h[x].len > h[y].len ? -1 : 1;
    return x < y ? -1 : x > y;    /* ties in input order: the result does not depend on qsort */
}

/* Best fit decreasing over the window: each sequence, longest first, goes into the bin it
 * leaves the least room in, or a new bin. Bins go out in the order they were opened. */
static int pack_window(llm_packer *p, llm_error *err)
{
    uint32_t b = p->o.block_size;
    size_t n_bins = 0;
    for (size_t i = 0; i < p->n_held; i++)
        p->order[i] = (uint32_t)i;
    qsort_r(p->order, p->n_held, sizeof *p->order, longer_first, p->held);
    for (size_t k = 0; k < p->n_held; k++) {
        uint32_t s = p->order[k], len = p->held[s].len;
        size_t best = n_bins;
        for (size_t j = 0; j < n_bins; j++) {
            uint32_t room = b - p->bins[j].used;
            if (room >= len && (best == n_bins || room < b - p->bins[best].used)) {
                best = j;
                if (room == len)
                    break;
            }
        }
        if (best == n_bins)
            p->bins[n_bins++] = (bin){.used = 0, .first = s, .last = s};
        else
            p->held[p->bins[best].last].next = s;
        p->bins[best].last = s;
        p->bins[best].used += len;
    }
    for (size_t j = 0; j < n_bins; j++) {
        for (uint32_t s = p->bins[j].first; s != NO_NEXT; s = p->held[s].next) {
            const held *h = &p->held[s];
            p->starts[p->n_starts++] = p->fill;
            memcpy(p->tokens + p->fill, p->arena_tokens + h->off, h->len * sizeof *p->tokens);
            memcpy(p->mask + p->fill, p->arena_mask + h->off, h->len);
            for (uint32_t i = 0; i < h->len; i++)
                p->masked_in_block += !p->arena_mask[h->off + i];
            p->fill += h->len;
        }
        if (emit_block(p, err) < 0)
            return -1;
    }
    p->n_held = 0;
    p->arena_len = 0;
    return 0;
}

/* A sequence longer than a block: dropped, or cut into full blocks of its own and a last
 * piece that is packed like any sequence. Every piece starts a sequence of its own. */
static int fit_long(llm_packer *p, const llm_record *seq, llm_error *err)
{
    uint32_t b = p->o.block_size, n = seq->n_tokens;
    if (p->o.drop_long) {
        p->st.long_dropped++;
        p->st.long_dropped_tokens += n;
        return 0;
    }
    p->st.long_split++;
    p->st.long_pieces += (n + b - 1) / b;
    uint32_t from = 0;
    for (; n - from >= b; from += b) {
        p->masked_in_block = copy_seq(p->tokens, p->mask, seq, from, b);
        p->fill = b;
        p->starts[0] = 0;
        p->n_starts = 1;
        if (emit_block(p, err) < 0)
            return -1;
    }
    return from < n ? hold(p, seq, from, n - from, err) : 0;
}

static int fit_add(llm_packer *p, const llm_record *seq, llm_error *err)
{
    int rc = 0;
    if (seq->n_tokens > p->o.block_size)
        rc = fit_long(p, seq, err);
    else if (seq->n_tokens)
        rc = hold(p, seq, 0, seq->n_tokens, err);
    if (rc == 0 && p->n_held == p->o.window)
        rc = pack_window(p, err);
    return rc;
}

/* ---- the interface ---- */

int llm_packer_add(llm_packer *p, const llm_record *seq, llm_error *err)
{
    p->st.sequences++;
    p->st.tokens += seq->n_tokens;
    return p->o.mode == LLM_PACK_FIT ? fit_add(p, seq, err) : concat_add(p, seq, err);
}

int llm_packer_finish(llm_packer *p, llm_error *err)
{
    if (p->o.mode == LLM_PACK_FIT)
        return p->n_held ? pack_window(p, err) : 0;
    return concat_finish(p, err);
}
