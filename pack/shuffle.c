/* Shuffling finished blocks before they are written: a full shuffle through a temporary
 * file, or a bounded buffer in memory. Blocks are held in a compact form: a 12-byte head
 * (tokens, has-mask, starts), the starts, the tokens at the stream's width, the mask bytes
 * (in that order, so every field stays aligned). */
#include "pack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct held_block {
    uint8_t *data;
    size_t len, cap;
} held_block;

struct pack_shuffle {
    llm_writer *w;
    const char *name;          /* the writer's output, for its errors */
    int token_bytes;
    llm_rng rng;
    held_block scratch;        /* the block being encoded or read back */

    /* in memory */
    held_block *slots;
    uint64_t n_slots, filled;

    /* through a file */
    int fd;
    uint64_t *offsets;         /* where each block starts; one more at the end */
    size_t n_blocks, offsets_cap;
};

static int encode(held_block *b, int tb, const llm_record *r)
{
    size_t n = r->n_tokens;
    size_t need = 12 + n * (size_t)tb + (r->mask ? n : 0) + (size_t)r->n_bounds * 4;
    if (llm_grow(&b->data, &b->cap, need) < 0)
        return -1;
    uint32_t head[3] = {r->n_tokens, r->mask != NULL, r->n_bounds};
    uint8_t *p = b->data;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    if (r->n_bounds) {
        memcpy(p, r->bounds, (size_t)r->n_bounds * 4);
        p += (size_t)r->n_bounds * 4;
    }
    for (size_t i = 0; i < n; i++, p += tb) {
        uint32_t t = llm_record_token(r, i);
        if (tb == 2) {
            uint16_t s = (uint16_t)t;
            memcpy(p, &s, 2);
        } else {
            memcpy(p, &t, 4);
        }
    }
    if (r->mask)
        memcpy(p, r->mask, n);
    b->len = need;
    return 0;
}

static llm_record decode(const held_block *b, int tb)
{
    uint32_t head[3];
    memcpy(head, b->data, sizeof head);
    const uint8_t *p = b->data + sizeof head;
    llm_record r = {.n_tokens = head[0], .token_bytes = tb, .n_bounds = head[2]};
    r.bounds = head[2] ? (const uint32_t *)p : NULL;
    p += (size_t)head[2] * 4;
    r.tokens = p;
    p += (size_t)head[0] * (size_t)tb;
    r.mask = head[1] ? p : NULL;
    return r;
}

static int write_held(pack_shuffle *s, const held_block *b, llm_error *err)
{
    llm_record r = decode(b, s->token_bytes);
    if (llm_writer_put(s->w, &r) < 0)
        return llm_error_set(err, "%s: %s", s->name, llm_writer_error(s->w));
    return 0;
}

pack_shuffle *pack_shuffle_new(llm_writer *w, const char *name, int token_bytes, uint64_t buffer_blocks,
                               uint64_t seed, const char *tmp_dir, llm_error *err)
{
    pack_shuffle *s = calloc(1, sizeof *s);
    if (!s) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    s->w = w;
    s->name = name;
    s->token_bytes = token_bytes;
    s->fd = -1;
    llm_rng_seed(&s->rng, seed);
    if (buffer_blocks) {
        s->n_slots = buffer_blocks;
        s->slots = calloc(buffer_blocks, sizeof *s->slots);
        if (!s->slots) {
            llm_error_set(err, "out of memory for a shuffle buffer of %llu blocks", (unsigned long long)buffer_blocks);
            free(s);
            return NULL;
        }
        return s;
    }
    if (!tmp_dir)
        tmp_dir = getenv("TMPDIR");
    if (!tmp_dir || !*tmp_dir)
        tmp_dir = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/llm-pack-shuffle.XXXXXX", tmp_dir);
    s->fd = mkstemp(path);
    if (s->fd < 0) {
        llm_error_set(err, "cannot make a temporary file in %s for --shuffle: %s", tmp_dir, strerror(errno));
        free(s);
        return NULL;
    }
    unlink(path);    /* gone with the process, however it ends */
    return s;
}

void pack_shuffle_free(pack_shuffle *s)
{
    if (!s)
        return;
    for (uint64_t i = 0; i < s->n_slots; i++)
        free(s->slots[i].data);
    free(s->slots);
    free(s->scratch.data);
    free(s->offsets);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static int spill(pack_shuffle *s, const llm_record *block, llm_error *err)
{
    if (encode(&s->scratch, s->token_bytes, block) < 0 ||
        llm_grow(&s->offsets, &s->offsets_cap, (s->n_blocks + 2) * sizeof *s->offsets) < 0)
        return llm_error_set(err, "out of memory");
    uint64_t at = s->n_blocks ? s->offsets[s->n_blocks] : 0;
    s->offsets[0] = 0;
    for (size_t done = 0; done < s->scratch.len;) {
        ssize_t k = pwrite(s->fd, s->scratch.data + done, s->scratch.len - done, (off_t)(at + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return llm_error_set(err, "--shuffle: writing the temporary file: %s", k < 0 ? strerror(errno) : "no space");
        done += (size_t)k;
    }
    s->offsets[++s->n_blocks] = at + s->scratch.len;
    return 0;
}

int pack_shuffle_put(pack_shuffle *s, const llm_record *block, llm_error *err)
{
    if (!s->slots)
        return spill(s, block, err);
    if (s->filled < s->n_slots) {
        if (encode(&s->slots[s->filled], s->token_bytes, block) < 0)
            return llm_error_set(err, "out of memory");
        s->filled++;
        return 0;
    }
    held_block *out = &s->slots[llm_rng_below(&s->rng, s->n_slots)];
    if (write_held(s, out, err) < 0)
        return -1;
    return encode(out, s->token_bytes, block) < 0 ? llm_error_set(err, "out of memory") : 0;
}

static int read_back(pack_shuffle *s, size_t i, llm_error *err)
{
    uint64_t at = s->offsets[i], len = s->offsets[i + 1] - at;
    if (llm_grow(&s->scratch.data, &s->scratch.cap, len) < 0)
        return llm_error_set(err, "out of memory");
    for (size_t done = 0; done < len;) {
        ssize_t k = pread(s->fd, s->scratch.data + done, len - done, (off_t)(at + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return llm_error_set(err, "--shuffle: reading the temporary file: %s", k < 0 ? strerror(errno) : "it is short");
        done += (size_t)k;
    }
    s->scratch.len = len;
    return 0;
}

/* Fisher-Yates over what is held: the permutation depends only on the seed and the number
 * of blocks. */
int pack_shuffle_finish(pack_shuffle *s, llm_error *err)
{
    if (s->slots) {
        for (uint64_t left = s->filled; left > 0; left--) {
            uint64_t j = llm_rng_below(&s->rng, left);
            held_block t = s->slots[j];
            s->slots[j] = s->slots[left - 1];
            s->slots[left - 1] = t;
            if (write_held(s, &s->slots[left - 1], err) < 0)
                return -1;
        }
        s->filled = 0;
        return 0;
    }
    size_t *order = malloc((s->n_blocks ? s->n_blocks : 1) * sizeof *order);
    if (!order)
        return llm_error_set(err, "out of memory");
    for (size_t i = 0; i < s->n_blocks; i++)
        order[i] = i;
    int rc = 0;
    for (size_t left = s->n_blocks; left > 0 && rc == 0; left--) {
        size_t j = (size_t)llm_rng_below(&s->rng, left);
        size_t pick = order[j];
        order[j] = order[left - 1];
        rc = read_back(s, pick, err);
        if (rc == 0)
            rc = write_held(s, &s->scratch, err);
    }
    free(order);
    return rc;
}

uint64_t pack_shuffle_spilled_bytes(const pack_shuffle *s) { return s->n_blocks ? s->offsets[s->n_blocks] : 0; }
