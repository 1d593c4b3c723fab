/* llm-pack's driver: documents in, the validation split, the packers, the shuffle, the
 * writers, and the summary that accounts for every document and token. */
#include "cli.h"
#include "pack.h"
#include "source.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* One output stream: the file, its writer and what feeds it. */
typedef struct pack_out {
    const char *path;          /* NULL: standard output */
    llm_output file;
    int opened;
    llm_writer *writer;
    pack_shuffle *shuffle;     /* NULL: blocks go straight to the writer */
    llm_packer *packer;
    llm_error *err;            /* where a failed write says why */
} pack_out;

/* A document held for --val-docs: it goes to validation if its hash stays among the
 * smallest N seen. */
typedef struct val_doc {
    uint64_t hash, number;
    uint32_t n;
    uint32_t *tokens;
    uint8_t *mask;
} val_doc;

typedef struct pack_state {
    const pack_opts *o;
    llm_packer_opts packing;   /* o->packer with the pad id resolved */
    llm_source *src;
    llm_header header;         /* of the outputs: all zero until make_header copies it */
    pack_out train, val;
    uint32_t *scratch;         /* a document's tokens as u32, for hashing */
    size_t scratch_cap;
    val_doc *heap;             /* --val-docs: a max-heap on (hash, number) */
    size_t heap_len;
    uint64_t docs, tokens, other_shards, other_tokens, no_eos;
    llm_error err;
} pack_state;

static int block_to_output(void *ctx, const llm_record *block)
{
    pack_out *out = ctx;
    if (out->shuffle)
        return pack_shuffle_put(out->shuffle, block, out->err);
    if (llm_writer_put(out->writer, block) < 0)
        return llm_error_set(out->err, "%s: %s", llm_output_name(&out->file), llm_writer_error(out->writer));
    return 0;
}

/* ---- the validation split ---- */

/* A hash of the token ids (as u32, whatever the stream's width), so a document goes the
 * same way in every run, whatever the thread count, order or token width. */
static int doc_hash(pack_state *s, const llm_record *doc, uint64_t *hash)
{
    if (doc->token_bytes == 4) {
        *hash = XXH3_64bits(doc->tokens, (size_t)doc->n_tokens * 4);
        return 0;
    }
    if (llm_grow(&s->scratch, &s->scratch_cap, ((size_t)doc->n_tokens + 1) * 4) < 0)
        return llm_error_set(&s->err, "out of memory");
    for (uint32_t i = 0; i < doc->n_tokens; i++)
        s->scratch[i] = ((const uint16_t *)doc->tokens)[i];
    *hash = XXH3_64bits(s->scratch, (size_t)doc->n_tokens * 4);
    return 0;
}

static int heap_above(const val_doc *a, const val_doc *b)
{
    return a->hash != b->hash ? a->hash > b->hash : a->number > b->number;
}

static void heap_sift_down(val_doc *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && heap_above(&h[l], &h[top]))
            top = l;
        if (r < n && heap_above(&h[r], &h[top]))
            top = r;
        if (top == i)
            return;
        val_doc t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static void heap_sift_up(val_doc *h, size_t i)
{
    while (i > 0 && heap_above(&h[i], &h[(i - 1) / 2])) {
        val_doc t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int val_doc_fill(val_doc *v, const llm_record *doc, uint64_t hash, uint64_t number)
{
    v->hash = hash;
    v->number = number;
    v->n = doc->n_tokens;
    v->tokens = malloc(((size_t)doc->n_tokens + 1) * 4);
    v->mask = doc->mask ? malloc((size_t)doc->n_tokens + 1) : NULL;
    if (!v->tokens || (doc->mask && !v->mask)) {
        free(v->tokens);
        free(v->mask);
        return -1;
    }
    for (uint32_t i = 0; i < doc->n_tokens; i++)
        v->tokens[i] = llm_record_token(doc, i);
    if (doc->mask)
        memcpy(v->mask, doc->mask, doc->n_tokens);
    return 0;
}

static llm_record val_doc_record(const val_doc *v)
{
    return (llm_record){.n_tokens = v->n, .token_bytes = 4, .tokens = v->tokens, .mask = v->mask};
}

static int add_to(pack_state *s, pack_out *out, const llm_record *doc)
{
    return llm_packer_add(out->packer, doc, &s->err);
}

/* --val-docs: the document joins the N smallest hashes, pushing out the largest to
 * training, or goes to training itself. */
static int val_docs_offer(pack_state *s, const llm_record *doc, uint64_t hash, uint64_t number)
{
    val_doc cand = {.hash = hash, .number = number};
    size_t cap = (size_t)s->o->val_docs;
    if (s->heap_len == cap && !heap_above(&s->heap[0], &cand))
        return add_to(s, &s->train, doc);
    val_doc v;
    if (val_doc_fill(&v, doc, hash, number) < 0)
        return llm_error_set(&s->err, "out of memory holding %zu documents for --val-docs", cap);
    if (s->heap_len < cap) {
        s->heap[s->heap_len] = v;
        heap_sift_up(s->heap, s->heap_len++);
        return 0;
    }
    val_doc out = s->heap[0];
    s->heap[0] = v;
    heap_sift_down(s->heap, s->heap_len, 0);
    llm_record r = val_doc_record(&out);
    int rc = add_to(s, &s->train, &r);
    free(out.tokens);
    free(out.mask);
    return rc;
}

static int by_number(const void *a, const void *b)
{
    uint64_t x = ((const val_doc *)a)->number, y = ((const val_doc *)b)->number;
    return x < y ? -1 : x > y;
}

/* The documents kept for validation, packed in input order. */
static int val_docs_flush(pack_state *s)
{
    qsort(s->heap, s->heap_len, sizeof *s->heap, by_number);
    int rc = 0;
    for (size_t i = 0; i < s->heap_len; i++) {
        llm_record r = val_doc_record(&s->heap[i]);
        if (rc == 0)
            rc = add_to(s, &s->val, &r);
        free(s->heap[i].tokens);
        free(s->heap[i].mask);
    }
    s->heap_len = 0;
    return rc;
}

static int route(pack_state *s, const llm_record *doc, uint64_t number)
{
    const pack_opts *o = s->o;
    if (!o->val)
        return add_to(s, &s->train, doc);
    uint64_t hash = 0;
    if (doc_hash(s, doc, &hash) < 0)
        return -1;
    if (o->val_docs)
        return val_docs_offer(s, doc, hash, number);
    int to_val = (double)(hash >> 11) * 0x1p-53 < o->val_fraction;
    return add_to(s, to_val ? &s->val : &s->train, doc);
}

/* ---- outputs ---- */

static int out_open(pack_state *s, pack_out *out, const char *path, int shuffle)
{
    const pack_opts *o = s->o;
    llm_writer_opts wo = {.level = o->level, .threads = o->threads, .index = -1};
    if (llm_output_open(&out->file, path, 1, o->force, &s->err) < 0)
        return -1;
    out->opened = 1;
    out->err = &s->err;
    llm_error why;
    out->writer = llm_writer_open(out->file.fd, &s->header, &wo, &why);
    if (!out->writer)    /* named: with --val there are two outputs */
        return llm_error_set(&s->err, "%s: %s", llm_output_name(&out->file), why.msg);
    if (shuffle) {
        out->shuffle = pack_shuffle_new(out->writer, llm_output_name(&out->file), s->header.token_bytes,
                                        o->shuffle_buffer, o->seed, o->tmp_dir, &s->err);
        if (!out->shuffle)
            return -1;
    }
    out->packer = llm_packer_new(&s->packing, block_to_output, out, &s->err);
    return out->packer ? 0 : -1;
}

/* Packs what is left and empties the shuffle. */
static int out_flush(pack_state *s, pack_out *out)
{
    if (llm_packer_finish(out->packer, &s->err) < 0)
        return -1;
    return out->shuffle ? pack_shuffle_finish(out->shuffle, &s->err) : 0;
}

/* What one output's packer dropped, by reason. */
static int add_drops(llm_reasons *r, const llm_packer_stats *st)
{
    if (st->remainder_tokens && llm_reasons_add(r, "remainder", st->remainder_sequences, st->remainder_tokens) < 0)
        return -1;
    return st->long_dropped ? llm_reasons_add(r, "too-long", st->long_dropped, st->long_dropped_tokens) : 0;
}

/* This run's stage as one output sees it: every document read came in; those packed here
 * went out but for the ones dropped here; the rest went to the other output or to other
 * shards. */
static int account(const pack_state *s, const pack_out *out, const pack_out *other, const char *other_name,
                   llm_ledger *l)
{
    const pack_opts *o = s->o;
    const llm_packer_stats *st = llm_packer_stats_get(out->packer);
    llm_stage *g = llm_ledger_add_stage(l, "llm-pack", "documents", o->argc, o->argv);
    if (!g)
        return -1;
    g->in = (llm_tally){s->docs + s->other_shards, s->tokens + s->other_tokens};
    uint64_t dropped = st->remainder_sequences + st->long_dropped;
    uint64_t dropped_tokens = st->remainder_tokens + st->long_dropped_tokens;
    g->out = (llm_tally){st->sequences - dropped, st->tokens - dropped_tokens};
    g->truncated = st->remainder_cut;
    int rc = add_drops(&g->dropped, st);
    if (other) {
        const llm_packer_stats *ot = llm_packer_stats_get(other->packer);
        rc |= llm_reasons_add(&g->split, other_name, ot->sequences, ot->tokens);
    }
    if (s->other_shards)
        rc |= llm_reasons_add(&g->split, "other-shards", s->other_shards, s->other_tokens);
    llm_writer_account(out->writer, g);
    g->padding = st->pad_tokens;
    return rc;
}

/* Ends the stream with the ledger of the inputs and this stage; pack_run renames the file
 * into place once every output is complete. */
static int out_finish(pack_state *s, pack_out *out, const pack_out *other, const char *other_name)
{
    llm_ledger l;
    llm_ledger_init(&l);
    int rc = llm_ledger_copy(&l, llm_source_ledger(s->src)) < 0 || account(s, out, other, other_name, &l) < 0
                 ? llm_error_set(&s->err, "out of memory") : 0;
    if (rc == 0 && llm_writer_finish_ledger(out->writer, &l) < 0)
        rc = llm_error_set(&s->err, "%s: %s", llm_output_name(&out->file), llm_writer_error(out->writer));
    llm_ledger_free(&l);
    return rc;
}

/* --max-drop: what both outputs dropped, against everything read. */
static int over_max_drop(const pack_state *s)
{
    const pack_opts *o = s->o;
    if (o->max_drop < 0)
        return 0;
    llm_ledger l;
    llm_ledger_init(&l);
    llm_stage *g = llm_ledger_add_stage(&l, "llm-pack", "documents", o->argc, o->argv);
    int over = 0;
    if (g && add_drops(&g->dropped, llm_packer_stats_get(s->train.packer)) == 0 &&
        (!o->val || add_drops(&g->dropped, llm_packer_stats_get(s->val.packer)) == 0)) {
        g->in = (llm_tally){s->docs + s->other_shards, s->tokens + s->other_tokens};
        over = llm_stage_max_drop(g, o->max_drop);
    }
    llm_ledger_free(&l);
    return over;
}

static void out_free(pack_out *out, int failed)
{
    if (failed && out->opened)
        llm_output_abort(&out->file);
    llm_packer_free(out->packer);
    pack_shuffle_free(out->shuffle);
    llm_writer_free(out->writer);
}

/* ---- the header ---- */

static int make_header(pack_state *s)
{
    const pack_opts *o = s->o;
    const llm_header *in = llm_source_header(s->src);
    if (in->kind != LLM_KIND_DOCS)
        return llm_error_set(&s->err, "%s: a %s stream; llm-pack wants a docs stream (from llm-tokenize)",
                             o->inputs[0], llm_kind_name(in->kind));
    int64_t pad = o->pad_id >= 0 ? o->pad_id : in->pad_id >= 0 ? in->pad_id : in->eos_id;
    int pads = o->packer.mode == LLM_PACK_FIT || o->packer.pad_remainder || o->packer.stride;
    if (pads && pad < 0)
        return llm_error_set(&s->err, "the stream names no pad or end-of-text token to pad with: give --pad-id");
    if (pad >= (int64_t)in->vocab_size)
        return llm_error_set(&s->err, "--pad-id %" PRId64 " is not below the vocabulary size %" PRIu32, pad,
                             in->vocab_size);
    if (llm_header_copy(&s->header, in) < 0)
        return llm_error_set(&s->err, "out of memory");
    s->header.kind = LLM_KIND_BLOCKS;
    s->header.block_size = o->packer.block_size;
    if (pads)
        s->header.pad_id = pad;
    s->packing = o->packer;
    s->packing.pad_id = pads ? (uint32_t)pad : 0;
    if (llm_header_add_step(&s->header, "llm-pack", o->argc, o->argv) < 0)
        return llm_error_set(&s->err, "out of memory");
    return 0;
}

/* ---- the summary ---- */

static void summarise_output(const pack_opts *o, const char *what, const pack_out *out)
{
    const llm_packer_stats *st = llm_packer_stats_get(out->packer);
    char line[768];
    int n = snprintf(line, sizeof line, "%s: %" PRIu64 " documents, %" PRIu64 " tokens: %" PRIu64
                     " blocks of %" PRIu32 " (%" PRIu64 " tokens",
                     what, st->sequences, st->tokens, st->blocks, o->packer.block_size, st->block_tokens);
    uint64_t slots = st->block_tokens + st->pad_tokens;
    if (st->context_tokens)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %" PRIu64 " of them repeated as masked context",
                      st->context_tokens);
    if (st->pad_tokens)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %" PRIu64 " padding, %.2f%% of the blocks",
                      st->pad_tokens, slots ? 100.0 * (double)st->pad_tokens / (double)slots : 0.0);
    n += snprintf(line + n, sizeof line - (size_t)n, ")");
    if (st->remainder_tokens)
        n += snprintf(line + n, sizeof line - (size_t)n, "; %" PRIu64 " tokens of remainder dropped", st->remainder_tokens);
    if (st->remainders > 1)
        n += snprintf(line + n, sizeof line - (size_t)n, " (the tails of %" PRIu64 " groups)", st->remainders);
    if (st->long_split)
        n += snprintf(line + n, sizeof line - (size_t)n, "; %" PRIu64 " documents longer than a block split into %" PRIu64
                      " pieces", st->long_split, st->long_pieces);
    if (st->long_dropped)
        snprintf(line + n, sizeof line - (size_t)n, "; %" PRIu64 " documents longer than a block dropped (%" PRIu64
                 " tokens)", st->long_dropped, st->long_dropped_tokens);
    llm_msg("%s", line);
}

static void summarise(const pack_state *s)
{
    const pack_opts *o = s->o;
    if (o->quiet)
        return;
    char line[512];
    /* Read: every document and token, those of the other shards too, as the ledger's in. */
    int n = snprintf(line, sizeof line, "%" PRIu64 " documents, %" PRIu64 " tokens read from %d input%s",
                     s->docs + s->other_shards, s->tokens + s->other_tokens, o->n_inputs,
                     o->n_inputs == 1 ? "" : "s");
    if (s->other_shards)
        snprintf(line + n, sizeof line - (size_t)n, "; %" PRIu64 " documents in other shards (--shard %" PRIu64
                 "/%" PRIu64 ", %" PRIu64 " tokens)", s->other_shards, o->shard_k, o->shard_n, s->other_tokens);
    llm_msg("%s", line);
    summarise_output(o, "train", &s->train);
    if (o->val)
        summarise_output(o, strcmp(o->val, "-") == 0 ? "validation" : o->val, &s->val);
    /* In fit mode blocks keep documents apart, but nothing marks where one ends. */
    if (s->no_eos)
        llm_msg("note: %" PRIu64 " documents do not end in the end-of-text token (llm-tokenize --no-eos?): %s",
                s->no_eos, o->packer.mode == LLM_PACK_FIT ? "the model is never shown where a document ends"
                                                          : "each runs into the next");
    llm_source_notes(llm_source_unaccounted(s->src), llm_source_ledger(s->src)->len,
                     llm_source_provenance_missed(s->src));
}

/* ---- the run ---- */

static int read_all(pack_state *s)
{
    const pack_opts *o = s->o;
    llm_progress progress;
    llm_progress_start(&progress, o->quiet, llm_source_total_bytes(s->src));
    int64_t eos = s->header.eos_id;
    llm_record doc;
    int rc;
    uint64_t number = 0;
    while ((rc = llm_source_next(s->src, &doc, &s->err)) > 0) {
        uint64_t this = number++;
        if (o->shard_n > 1 && this % o->shard_n != o->shard_k) {
            s->other_shards++;
            s->other_tokens += doc.n_tokens;
            continue;
        }
        s->docs++;
        s->tokens += doc.n_tokens;
        if (eos >= 0 && doc.n_tokens && llm_record_token(&doc, doc.n_tokens - 1) != (uint32_t)eos)
            s->no_eos++;
        if (route(s, &doc, this) < 0) {
            rc = -1;
            break;
        }
        if ((this & 1023) == 0)
            llm_progress_update(&progress, s->docs, llm_source_bytes(s->src));
    }
    llm_progress_end(&progress);
    if (rc == 0 && s->heap_len)
        rc = val_docs_flush(s);
    return rc;
}

int pack_run(const pack_opts *o)
{
    pack_state s = {.o = o};
    int status = LLM_EXIT_FAILURE;
    s.src = llm_source_open(o->inputs, o->n_inputs, &s.err);
    if (!s.src || make_header(&s) < 0)
        goto done;
    if (o->val_docs && !(s.heap = malloc((size_t)o->val_docs * sizeof *s.heap))) {
        llm_error_set(&s.err, "out of memory for --val-docs %" PRIu64, o->val_docs);
        goto done;
    }
    if (out_open(&s, &s.train, o->output, o->shuffle) < 0 || (o->val && out_open(&s, &s.val, o->val, 0) < 0))
        goto done;
    if (read_all(&s) < 0)
        goto done;
    if (out_flush(&s, &s.train) < 0 || (o->val && out_flush(&s, &s.val) < 0))
        goto done;
    if (out_finish(&s, &s.train, o->val ? &s.val : NULL, "validation") < 0 ||
        (o->val && out_finish(&s, &s.val, &s.train, "training") < 0))
        goto done;
    /* Only now, both streams written: a failed --val must not leave a new training stream
     * in place beside the validation stream of an earlier run. */
    if (llm_output_commit(&s.train.file, &s.err) < 0 || (o->val && llm_output_commit(&s.val.file, &s.err) < 0))
        goto done;
    summarise(&s);
    status = over_max_drop(&s) ? LLM_EXIT_FAILURE : LLM_EXIT_OK;
done:
    if (status != LLM_EXIT_OK && s.err.msg[0])    /* --max-drop has said why */
        llm_msg("%s", s.err.msg);
    out_free(&s.train, status != LLM_EXIT_OK);
    out_free(&s.val, status != LLM_EXIT_OK);
    for (size_t i = 0; i < s.heap_len; i++) {
        free(s.heap[i].tokens);
        free(s.heap[i].mask);
    }
    free(s.heap);
    free(s.scratch);
    llm_source_free(s.src);
    llm_header_free(&s.header);
    return status;
}
