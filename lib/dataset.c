/* Blocks streams for llm-train and llm-eval: file order, the shuffled sampler, and batches
 * (see dataset.h). */
#include "dataset.h"

#include "buf.h"
#include "rng.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct llm_dataset {
    char *path;
    int fd;
    llm_reader *reader;
    llm_index index;
};

llm_dataset *llm_dataset_open(const char *path, llm_error *err)
{
    if (strcmp(path, "-") == 0) {
        llm_error_set(err, "standard input: the data must be a file (it is read more than once)");
        return NULL;
    }
    llm_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    struct stat st;
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0) {
        llm_error_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        llm_error_set(err, "%s: not a regular file (the data is read more than once)", path);
        goto fail;
    }
    if (!(d->reader = llm_reader_open(d->fd, path, err)))
        goto fail;
    const llm_header *h = llm_reader_header(d->reader);
    if (h->kind != LLM_KIND_BLOCKS) {
        llm_error_set(err, "%s: a %s stream; training data is blocks (llm-pack or llm-collate makes them)",
                      path, llm_kind_name(h->kind));
        goto fail;
    }
    if (llm_reader_load_index(d->reader, 1, &d->index) != 0) {
        llm_error_set(err, "%s", llm_reader_error(d->reader));
        goto fail;
    }
    return d;
fail:
    llm_dataset_free(d);
    return NULL;
}

void llm_dataset_free(llm_dataset *d)
{
    if (!d)
        return;
    llm_index_free(&d->index);
    llm_reader_free(d->reader);
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d);
}

const llm_header *llm_dataset_header(const llm_dataset *d) { return llm_reader_header(d->reader); }
uint64_t llm_dataset_records(const llm_dataset *d) { return d->index.records; }
uint64_t llm_dataset_tokens(const llm_dataset *d) { return d->index.tokens; }

int llm_dataset_rewind(llm_dataset *d, llm_error *err)
{
    if (d->index.n_frames && llm_reader_seek(d->reader, &d->index, 0) < 0)
        return llm_error_set(err, "%s", llm_reader_error(d->reader));
    return 0;
}

int llm_dataset_next(llm_dataset *d, llm_record *rec, llm_error *err)
{
    if (!d->index.n_frames)
        return 0;
    int rc = llm_reader_next(d->reader, rec);
    if (rc < 0)
        llm_error_set(err, "%s", llm_reader_error(d->reader));
    return rc;
}

/* ---- the sampler ------------------------------------------------------------------------ */

/* A record of the loaded group, its parts in the group's arrays. */
typedef struct held_record {
    size_t tokens, mask, bounds;   /* offsets; mask SIZE_MAX when every token counts */
    uint32_t n_tokens, n_bounds;
} held_record;

struct llm_sampler {
    llm_dataset *d;
    uint64_t seed;
    size_t window;
    size_t length_batch;           /* group_by_length's batch; 0: off */

    uint64_t epoch, group, next;   /* the position (llm_sampler_tell) */
    size_t *frames;                /* this epoch's frame order */
    size_t *group_start;           /* n_groups + 1 offsets into frames */
    uint64_t *records_before;      /* records of the epoch's earlier groups, per group */
    size_t n_groups;
    uint64_t order_epoch;          /* the epoch frames and group_start are for */
    int have_order;

    /* The loaded group: its records, in shuffled order. */
    uint64_t loaded_epoch, loaded_group;
    int loaded;
    held_record *held;
    size_t n_held, held_cap;
    uint32_t *tok;
    size_t n_tok, tok_cap;
    uint8_t *mask;
    size_t n_mask, mask_cap;
    uint32_t *bounds;
    size_t n_bounds, bounds_cap;
};

/* A generator for one (seed, epoch, group): the same numbers however the run got there. */
static void seed_for(llm_rng *rng, uint64_t seed, uint64_t epoch, uint64_t group)
{
    uint64_t x = seed;
    uint64_t a = llm_splitmix64(&x) ^ epoch;
    uint64_t b = llm_splitmix64(&a) ^ group;
    llm_rng_seed(rng, llm_splitmix64(&b));
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void shuffle(size_t *v, size_t n, llm_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)llm_rng_below(rng, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* The frame order and groups of s->epoch. */
static void plan_epoch(llm_sampler *s)
{
    const llm_index *idx = &s->d->index;
    llm_rng rng;
    seed_for(&rng, s->seed, s->epoch, UINT64_MAX);
    for (size_t i = 0; i < idx->n_frames; i++)
        s->frames[i] = i;
    shuffle(s->frames, idx->n_frames, &rng);
    s->n_groups = 0;
    s->group_start[0] = 0;
    uint64_t tokens = 0, records = 0;
    for (size_t i = 0; i < idx->n_frames; i++) {
        const llm_frame_info *f = &idx->frames[s->frames[i]];
        tokens += f->tokens;
        records += f->records;
        if (tokens >= s->window || i + 1 == idx->n_frames) {
            s->records_before[s->n_groups + 1] = s->records_before[s->n_groups] + records;
            s->group_start[++s->n_groups] = i + 1;
            tokens = records = 0;
        }
    }
    s->order_epoch = s->epoch;
    s->have_order = 1;
}

static int hold(llm_sampler *s, const llm_record *r)
{
    size_t n = r->n_tokens;
    if (llm_grow(&s->held, &s->held_cap, (s->n_held + 1) * sizeof *s->held) < 0 ||
        llm_grow(&s->tok, &s->tok_cap, (s->n_tok + n) * 4) < 0 ||
        (r->mask && n && llm_grow(&s->mask, &s->mask_cap, s->n_mask + n) < 0) ||
        llm_grow(&s->bounds, &s->bounds_cap, (s->n_bounds + r->n_bounds) * 4) < 0)
        return -1;
    held_record *h = &s->held[s->n_held++];
    h->n_tokens = r->n_tokens;
    h->n_bounds = r->n_bounds;
    h->tokens = s->n_tok;
    for (size_t i = 0; i < n; i++)
        s->tok[s->n_tok++] = llm_record_token(r, i);
    h->mask = SIZE_MAX;
    if (r->mask && n) {
        h->mask = s->n_mask;
        memcpy(s->mask + s->n_mask, r->mask, n);
        s->n_mask += n;
    }
    h->bounds = s->n_bounds;
    if (r->n_bounds) {    /* both may be NULL when there are none */
        memcpy(s->bounds + s->n_bounds, r->bounds, (size_t)r->n_bounds * 4);
        s->n_bounds += r->n_bounds;
    }
    return 0;
}

/* Sorts each megabatch of the shuffled group by length, longest first, as Python's stable
 * sorted(reverse=True) does in get_length_grouped_indices, then moves the longest record of
 * the group to the front (see llm_sampler_group_by_length). */
static int group_by_length(llm_sampler *s)
{
    size_t n = s->n_held, batch = s->length_batch;
    if (n < 2)
        return 0;
    size_t mult = n / (4 * batch) < 50 ? n / (4 * batch) : 50;
    size_t mega = (mult ? mult : 1) * batch;
    if (mega > n)
        mega = n;
    if (mega > UINT32_MAX)    /* a place in the megabatch must fit the key's low half */
        mega = UINT32_MAX;
    /* key: the length's complement above the place in the megabatch, so that ascending keys
     * are descending lengths with ties kept in order */
    uint64_t *key = malloc(mega * sizeof *key);
    held_record *sorted = malloc(mega * sizeof *sorted);
    if (!key || !sorted) {
        free(key);
        free(sorted);
        return -1;
    }
    size_t longest_at = 0;
    for (size_t start = 0; start < n; start += mega) {
        size_t m = n - start < mega ? n - start : mega;
        for (size_t i = 0; i < m; i++)
            key[i] = (uint64_t)(UINT32_MAX - s->held[start + i].n_tokens) << 32 | i;
        qsort(key, m, sizeof *key, compare_u64);
        for (size_t i = 0; i < m; i++)
            sorted[i] = s->held[start + (key[i] & UINT32_MAX)];
        memcpy(s->held + start, sorted, m * sizeof *sorted);
        if (s->held[start].n_tokens > s->held[longest_at].n_tokens)
            longest_at = start;
    }
    held_record t = s->held[0];
    s->held[0] = s->held[longest_at];
    s->held[longest_at] = t;
    free(key);
    free(sorted);
    return 0;
}

/* Reads the frames of group s->group of s->epoch and shuffles its records. */
static int load_group(llm_sampler *s, llm_error *err)
{
    llm_dataset *d = s->d;
    if (!s->have_order || s->order_epoch != s->epoch)
        plan_epoch(s);
    s->n_held = s->n_tok = s->n_mask = s->n_bounds = 0;
    for (size_t i = s->group_start[s->group]; i < s->group_start[s->group + 1]; i++) {
        size_t f = s->frames[i];
        if (llm_reader_seek(d->reader, &d->index, f) < 0)
            return llm_error_set(err, "%s", llm_reader_error(d->reader));
        for (uint32_t k = 0; k < d->index.frames[f].records; k++) {
            llm_record r;
            int rc = llm_reader_next(d->reader, &r);
            if (rc <= 0)
                return llm_error_set(err, "%s", rc < 0 ? llm_reader_error(d->reader)
                                                       : "the file ends before its index says");
            if (hold(s, &r) < 0)
                return llm_error_set(err, "out of memory");
        }
    }
    /* Shuffle the records' descriptions, not their tokens. */
    llm_rng rng;
    seed_for(&rng, s->seed, s->epoch, s->group);
    for (size_t i = s->n_held; i > 1; i--) {
        size_t j = (size_t)llm_rng_below(&rng, i);
        held_record t = s->held[i - 1];
        s->held[i - 1] = s->held[j];
        s->held[j] = t;
    }
    if (s->length_batch && group_by_length(s) < 0)
        return llm_error_set(err, "out of memory");
    s->loaded = 1;
    s->loaded_epoch = s->epoch;
    s->loaded_group = s->group;
    return 0;
}

llm_sampler *llm_sampler_new(llm_dataset *d, uint64_t seed, size_t window, llm_error *err)
{
    if (!d->index.records) {
        llm_error_set(err, "%s: no records to train on", d->path);
        return NULL;
    }
    llm_sampler *s = calloc(1, sizeof *s);
    size_t nf = d->index.n_frames;
    if (!s || !(s->frames = malloc(nf * sizeof *s->frames)) ||
        !(s->group_start = malloc((nf + 1) * sizeof *s->group_start)) ||
        !(s->records_before = calloc(nf + 1, sizeof *s->records_before))) {
        llm_sampler_free(s);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    s->d = d;
    s->seed = seed;
    s->window = window ? window : LLM_SAMPLER_WINDOW;
    return s;
}

void llm_sampler_free(llm_sampler *s)
{
    if (!s)
        return;
    free(s->frames);
    free(s->group_start);
    free(s->records_before);
    free(s->held);
    free(s->tok);
    free(s->mask);
    free(s->bounds);
    free(s);
}

void llm_sampler_group_by_length(llm_sampler *s, size_t batch)
{
    s->length_batch = batch;
    s->loaded = 0;
}

int llm_sampler_next(llm_sampler *s, llm_record *rec, llm_error *err)
{
    for (;;) {
        if (!s->loaded || s->loaded_epoch != s->epoch || s->loaded_group != s->group)
            if (load_group(s, err) < 0)
                return -1;
        if (s->next < s->n_held)
            break;
        s->next = 0;
        if (++s->group == s->n_groups) {
            s->group = 0;
            s->epoch++;
        }
    }
    const held_record *h = &s->held[s->next++];
    rec->n_tokens = h->n_tokens;
    rec->token_bytes = 4;
    /* An empty record's arrays may all be NULL: no offset is added to them then. */
    rec->tokens = h->n_tokens ? s->tok + h->tokens : s->tok;
    rec->mask = h->mask == SIZE_MAX ? NULL : s->mask + h->mask;
    rec->n_bounds = h->n_bounds;
    rec->bounds = h->n_bounds ? s->bounds + h->bounds : NULL;
    return 1;
}

int llm_sampler_epoch_done(const llm_sampler *s)
{
    if (!s->have_order || s->order_epoch != s->epoch)
        return 0;    /* nothing taken from this epoch yet */
    return s->group + 1 == s->n_groups && s->next == s->records_before[s->n_groups] - s->records_before[s->group];
}

double llm_sampler_epoch(const llm_sampler *s)
{
    uint64_t before = s->have_order && s->order_epoch == s->epoch ? s->records_before[s->group] : 0;
    return (double)s->epoch + (double)(before + s->next) / (double)s->d->index.records;
}

void llm_sampler_tell(const llm_sampler *s, uint64_t words[LLM_SAMPLER_WORDS])
{
    words[0] = s->epoch;
    words[1] = s->group;
    words[2] = s->next;
}

int llm_sampler_seek(llm_sampler *s, const uint64_t words[LLM_SAMPLER_WORDS], llm_error *err)
{
    uint64_t saved[LLM_SAMPLER_WORDS];
    llm_sampler_tell(s, saved);
    s->epoch = words[0];
    s->group = words[1];
    s->next = words[2];
    plan_epoch(s);
    if (s->group >= s->n_groups ||
        s->next > s->records_before[s->group + 1] - s->records_before[s->group]) {
        s->epoch = saved[0];
        s->group = saved[1];
        s->next = saved[2];
        plan_epoch(s);
        return llm_error_set(err, "%s: the saved data position (epoch %" PRIu64 ", group %" PRIu64
                             ", record %" PRIu64 ") is not in this data set",
                             s->d->path, words[0], words[1], words[2]);
    }
    s->loaded = 0;
    return 0;
}

/* ---- batches ---------------------------------------------------------------------------- */

int llm_batcher_init(llm_batcher *b, int max_B, int max_T, int32_t pad_id, int doc_attention,
                     llm_error *err)
{
    memset(b, 0, sizeof *b);
    if (max_B <= 0 || max_T <= 0)
        return llm_error_set(err, "batch of %d x %d tokens", max_B, max_T);
    size_t n = (size_t)max_B * (size_t)max_T;
    b->tokens = malloc(n * sizeof *b->tokens);
    b->targets = malloc(n * sizeof *b->targets);
    b->pos = malloc(n * sizeof *b->pos);
    if (!b->tokens || !b->targets || !b->pos) {
        llm_batcher_free(b);
        return llm_error_set(err, "out of memory for a batch of %d x %d tokens", max_B, max_T);
    }
    b->max_B = max_B;
    b->max_T = max_T;
    b->pad_id = pad_id;
    b->doc_attention = doc_attention;
    return 0;
}

void llm_batcher_free(llm_batcher *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->pos);
    memset(b, 0, sizeof *b);
}

void llm_batcher_clear(llm_batcher *b)
{
    b->rows = 0;
    b->width = 0;
}

int llm_batcher_add(llm_batcher *b, const llm_record *rec)
{
    if (rec->n_tokens == 0)
        return 0;
    int n = rec->n_tokens > (uint32_t)b->max_T ? b->max_T : (int)rec->n_tokens;
    if ((uint32_t)n < rec->n_tokens) {
        b->truncated++;
        b->tokens_cut += rec->n_tokens - (uint32_t)n;
    }
    size_t row = (size_t)b->rows * (size_t)b->max_T;
    int32_t *tok = b->tokens + row, *tgt = b->targets + row, *pos = b->pos + row;
    for (int t = 0; t < n; t++)
        tok[t] = (int32_t)llm_record_token(rec, (size_t)t);
    for (int t = 0; t + 1 < n; t++)
        tgt[t] = !rec->mask || rec->mask[t + 1] ? tok[t + 1] : -1;
    tgt[n - 1] = -1;
    /* Bounds past the cut no longer matter; the first one may be 0. */
    uint32_t nb = 0;
    while (nb < rec->n_bounds && rec->bounds[nb] < (uint32_t)n)
        nb++;
    if (b->doc_attention && nb) {
        llm_positions_from_bounds(pos, n, rec->bounds, nb);
        for (uint32_t i = 0; i < nb; i++)
            if (rec->bounds[i] > 0)
                tgt[rec->bounds[i] - 1] = -1;
    } else {
        for (int t = 0; t < n; t++)
            pos[t] = t;
    }
    for (int t = n; t < b->max_T; t++) {
        tok[t] = b->pad_id;
        tgt[t] = -1;
        pos[t] = pos[t - 1] + 1;   /* below t + 1 <= max_T: a valid position */
    }
    b->rows++;
    if (n > b->width)
        b->width = n;
    b->tokens_added += (uint64_t)n;
    return 1;
}

void llm_batcher_build(llm_batcher *b, llm_batch *out)
{
    int T = b->width;
    /* Rows move towards the front (T <= max_T), so in order nothing is overwritten early. */
    if (T < b->max_T)
        for (int r = 1; r < b->rows; r++) {
            size_t from = (size_t)r * (size_t)b->max_T, to = (size_t)r * (size_t)T;
            memmove(b->tokens + to, b->tokens + from, (size_t)T * sizeof *b->tokens);
            memmove(b->targets + to, b->targets + from, (size_t)T * sizeof *b->targets);
            memmove(b->pos + to, b->pos + from, (size_t)T * sizeof *b->pos);
        }
    out->B = b->rows;
    out->T = T;
    out->tokens = b->tokens;
    out->targets = b->targets;
    out->pos = b->pos;
    out->noise_key = 0;
}

/* ---- evaluation ------------------------------------------------------------------------- */

/* One forward over the rows of b, planning a longer context first when asked and needed;
 * its sums go into the evaluation's and the current batch's. */
static int evaluate_rows(llm_model *m, llm_batcher *b, const llm_eval_opts *o, int *planned_T,
                         llm_loss_stats *batch_stats, llm_eval_sums *out, llm_error *err)
{
    llm_batch batch;
    llm_loss_stats st;
    llm_batcher_build(b, &batch);
    llm_batcher_clear(b);
    if (o->plan_as_needed && batch.T > *planned_T) {
        /* Twice the longest so far: data of growing lengths replans a few times only. */
        int T = *planned_T * 2 > batch.T ? *planned_T * 2 : batch.T;
        if (T > b->max_T)
            T = b->max_T;
        if (llm_model_plan(m, b->max_B, T, 0, err) < 0)
            return -1;
        *planned_T = T;
    }
    if (llm_model_forward(m, &batch, &st, err) < 0)
        return -1;
    out->stats.loss_sum += st.loss_sum;
    out->stats.count += st.count;
    out->stats.correct += st.correct;
    batch_stats->loss_sum += st.loss_sum;
    batch_stats->count += st.count;
    if (o->progress)
        o->progress(o->ctx, out);
    return 0;
}

/* Trainer's weighted sum of batch means, carried while an evaluation runs. */
typedef struct {
    llm_loss_stats stats;         /* of the batch being read */
    uint64_t records;             /* its records, the empty ones too */
    double weighted_sum;          /* over the batches closed: records x mean loss */
    uint64_t weighted_records;
} eval_batches;

static void close_batch(eval_batches *e, llm_eval_sums *out)
{
    if (e->stats.count) {
        e->weighted_sum += (double)e->records * (e->stats.loss_sum / (double)e->stats.count);
        e->weighted_records += e->records;
    } else {
        out->batches_uncounted++;
    }
    out->batches++;
    memset(&e->stats, 0, sizeof e->stats);
    e->records = 0;
}

int llm_dataset_evaluate(llm_dataset *d, llm_model *m, llm_batcher *b, const llm_eval_opts *opts,
                         llm_eval_sums *out, llm_error *err)
{
    static const llm_eval_opts defaults;
    const llm_eval_opts *o = opts ? opts : &defaults;
    uint64_t batch_records = o->batch_records ? o->batch_records : (uint64_t)b->max_B;
    memset(out, 0, sizeof *out);
    llm_batcher_clear(b);
    if (llm_dataset_rewind(d, err) < 0)
        return -1;
    uint64_t truncated = b->truncated, cut = b->tokens_cut;
    eval_batches e = {0};
    int planned_T = 0, rc = 0;
    llm_record rec;
    while ((o->max_batches == 0 || out->batches < o->max_batches) && (rc = llm_dataset_next(d, &rec, err)) == 1) {
        out->records++;
        out->tokens_in += rec.n_tokens;
        out->with_bounds += rec.n_bounds > 0;
        e.records++;
        if (!llm_batcher_add(b, &rec))
            out->empty++;
        /* a forward holds one batch's rows only, so that each batch's sums stay apart */
        int batch_done = e.records == batch_records;
        if ((b->rows == b->max_B || (batch_done && b->rows)) &&
            evaluate_rows(m, b, o, &planned_T, &e.stats, out, err) < 0)
            return -1;
        if (batch_done)
            close_batch(&e, out);
    }
    if (rc < 0)
        return -1;
    if (e.records) {    /* the last batch, shorter */
        if (b->rows && evaluate_rows(m, b, o, &planned_T, &e.stats, out, err) < 0)
            return -1;
        close_batch(&e, out);
    }
    llm_batcher_clear(b);
    out->truncated = b->truncated - truncated;
    out->tokens_cut = b->tokens_cut - cut;
    out->trainer_loss = e.weighted_records ? e.weighted_sum / (double)e.weighted_records : NAN;
    return 0;
}
