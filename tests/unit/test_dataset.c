/* Unit tests for lib/dataset.c: file order, the shuffled sampler (each epoch a permutation of
 * every record, groups bounded by the window, the same order from the same seed, a position
 * saved and restored mid-group; group_by_length against a plain transcription), batches (the recipes' shifted labels, masks, document
 * attention, padding, truncation), refusals, and an evaluation that adds up what forwards
 * of the same rows give. */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "tensor_fixture.h"

static char tmp[256];
static char path[300];

/* Record i: i % 7 + 1 tokens, token k = 10 * i + k (vocab 4096); every third record masks
 * its first token; every fifth has a document start at 2. frame_bytes small: many frames. */
static void write_stream(const char *name, llm_kind kind, int n_records)
{
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    llm_header h;
    llm_error err;
    llm_header_init(&h);
    h.kind = kind;
    h.vocab_size = 4096;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    llm_writer_opts wo = {.frame_bytes = 64};
    llm_writer *w = llm_writer_open(fd, &h, &wo, &err);
    for (int i = 0; i < n_records; i++) {
        uint32_t tok[8], bounds[1] = {2};
        uint8_t mask[8];
        uint32_t n = (uint32_t)(i % 7 + 1);
        for (uint32_t k = 0; k < n; k++) {
            tok[k] = (uint32_t)(10 * i) + k;
            mask[k] = !(i % 3 == 0 && k == 0);
        }
        llm_record r = {.n_tokens = n, .token_bytes = 4, .tokens = tok, .mask = i % 3 == 0 ? mask : NULL,
                        .n_bounds = i % 5 == 0 && n > 2, .bounds = bounds};
        CHECK(llm_writer_put(w, &r) == 0);
    }
    CHECK(llm_writer_finish(w) == 0);
    llm_writer_free(w);
    close(fd);
    llm_header_free(&h);
}

/* The record number of a record written by write_stream. */
static int record_id(const llm_record *r) { return (int)(llm_record_token(r, 0) / 10); }

static void test_file_order(void)
{
    llm_error err;
    write_stream("order.bin", LLM_KIND_BLOCKS, 100);
    llm_dataset *d = llm_dataset_open(path, &err);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(llm_dataset_records(d) == 100);
    for (int pass = 0; pass < 2; pass++) {
        CHECK(llm_dataset_rewind(d, &err) == 0);
        llm_record r;
        int i = 0, rc;
        while ((rc = llm_dataset_next(d, &r, &err)) == 1) {
            CHECKF(record_id(&r) == i && r.n_tokens == (uint32_t)(i % 7 + 1), "record %d", i);
            i++;
        }
        CHECK(rc == 0 && i == 100);
    }
    llm_dataset_free(d);
}

/* Draws n records, writing their ids to ids. */
static void draw(llm_sampler *s, int *ids, int n)
{
    llm_error err;
    for (int i = 0; i < n; i++) {
        llm_record r;
        CHECK(llm_sampler_next(s, &r, &err) == 1);
        ids[i] = record_id(&r);
    }
}

static void test_sampler(void)
{
    llm_error err;
    write_stream("shuffle.bin", LLM_KIND_BLOCKS, 200);
    llm_dataset *d = llm_dataset_open(path, &err);
    if (!d) {
        CHECK(0);
        return;
    }
    /* A window of 40 tokens: groups of a few frames. */
    llm_sampler *s = llm_sampler_new(d, 5, 40, &err);
    int a[600], b[600];
    draw(s, a, 600);
    for (int e = 0; e < 3; e++) {
        int seen[200] = {0}, in_order = 1;
        for (int i = 0; i < 200; i++) {
            seen[a[200 * e + i]]++;
            in_order &= a[200 * e + i] == i;
        }
        for (int i = 0; i < 200; i++)
            CHECKF(seen[i] == 1, "epoch %d: record %d seen %d times", e, i, seen[i]);
        CHECK(!in_order);
    }
    CHECK(memcmp(a, a + 200, 200 * sizeof *a) != 0);   /* each epoch its own order */

    /* The same seed, the same order; another seed, another. */
    llm_sampler *s2 = llm_sampler_new(d, 5, 40, &err);
    draw(s2, b, 600);
    CHECK(memcmp(a, b, sizeof a) == 0);
    llm_sampler_free(s2);
    s2 = llm_sampler_new(d, 6, 40, &err);
    draw(s2, b, 200);
    CHECK(memcmp(a, b, 200 * sizeof *a) != 0);
    llm_sampler_free(s2);

    /* Saved at record 237 (mid-group of epoch 1), restored in a new sampler: the same rest. */
    llm_sampler_free(s);
    s = llm_sampler_new(d, 5, 40, &err);
    draw(s, b, 237);
    uint64_t words[LLM_SAMPLER_WORDS];
    llm_sampler_tell(s, words);
    double epoch = llm_sampler_epoch(s);
    CHECKF(epoch > 1.18 && epoch < 1.19, "epoch %f", epoch);
    llm_sampler_free(s);
    s = llm_sampler_new(d, 5, 40, &err);
    CHECK(llm_sampler_seek(s, words, &err) == 0);
    CHECK(llm_sampler_epoch(s) == epoch);
    draw(s, b + 237, 600 - 237);
    CHECK(memcmp(a, b, sizeof a) == 0);
    uint64_t bad[LLM_SAMPLER_WORDS] = {0, 1u << 20, 0};
    CHECK(llm_sampler_seek(s, bad, &err) == -1 && strstr(err.msg, "not in this data set"));
    llm_sampler_free(s);

    /* A window bigger than the data: one group, the whole epoch shuffled at once. */
    s = llm_sampler_new(d, 5, 0, &err);
    draw(s, b, 200);
    int firsts = 0;
    for (int i = 0; i < 20; i++)
        firsts += b[i] < 20;
    CHECK(firsts < 10);
    llm_sampler_free(s);
    llm_dataset_free(d);
}

/* get_length_grouped_indices over the permutation `order` of records whose length is
 * id % 7 + 1, written plainly: megabatches, each sorted by a stable insertion sort, longest
 * first; the first longest megabatch's head trades places with the first megabatch's. */
static void length_grouped(const int *order, int n, int batch, int *out)
{
    int mult = n / (batch * 4) < 50 ? n / (batch * 4) : 50;
    int mega = (mult ? mult : 1) * batch, best = 0;
    memcpy(out, order, (size_t)n * sizeof *out);
    for (int start = 0; start < n; start += mega) {
        int end = start + mega < n ? start + mega : n;
        for (int i = start + 1; i < end; i++)
            for (int j = i; j > start && out[j - 1] % 7 < out[j] % 7; j--) {
                int t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
        if (out[start] % 7 > out[best] % 7)
            best = start;
    }
    int t = out[0];
    out[0] = out[best];
    out[best] = t;
}

/* The padding tokens of batches of `batch` records taken in `order`. */
static int padding(const int *order, int n, int batch)
{
    int pad = 0;
    for (int start = 0; start < n; start += batch) {
        int longest = 0, sum = 0, m = n - start < batch ? n - start : batch;
        for (int i = 0; i < m; i++) {
            int len = order[start + i] % 7 + 1;
            longest = len > longest ? len : longest;
            sum += len;
        }
        pad += m * longest - sum;
    }
    return pad;
}

static void test_group_by_length(void)
{
    llm_error err;
    write_stream("lengths.bin", LLM_KIND_BLOCKS, 200);
    llm_dataset *d = llm_dataset_open(path, &err);
    if (!d) {
        CHECK(0);
        return;
    }
    /* One group: the epochs' shuffled orders regrouped as the transcription does it, for
     * batches of 3 (megabatches of 16 x 3: the last one short) and 60 (of one batch). */
    int plain[400], grouped[400], want[200];
    llm_sampler *s = llm_sampler_new(d, 5, 0, &err);
    draw(s, plain, 400);
    llm_sampler_free(s);
    int batches[] = {3, 60};
    for (int k = 0; k < 2; k++) {
        s = llm_sampler_new(d, 5, 0, &err);
        llm_sampler_group_by_length(s, (size_t)batches[k]);
        draw(s, grouped, 400);
        for (int e = 0; e < 2; e++) {
            length_grouped(plain + 200 * e, 200, batches[k], want);
            CHECKF(memcmp(grouped + 200 * e, want, sizeof want) == 0, "batch %d, epoch %d", batches[k], e);
            CHECK(grouped[200 * e] % 7 == 6);    /* a longest record first */
        }
        llm_sampler_free(s);
    }

    /* Groups of about 100 records (several megabatches each): each epoch still a permutation,
     * with far less padding in batches of 3 than the plain order has, and a position restored
     * mid-group gives the same rest. */
    s = llm_sampler_new(d, 5, 400, &err);
    draw(s, plain, 400);
    llm_sampler_free(s);
    s = llm_sampler_new(d, 5, 400, &err);
    llm_sampler_group_by_length(s, 3);
    draw(s, grouped, 400);
    for (int e = 0; e < 2; e++) {
        int seen[200] = {0};
        for (int i = 0; i < 200; i++)
            seen[grouped[200 * e + i]]++;
        for (int i = 0; i < 200; i++)
            CHECKF(seen[i] == 1, "epoch %d: record %d seen %d times", e, i, seen[i]);
    }
    int pad_plain = padding(plain, 400, 3), pad_grouped = padding(grouped, 400, 3);
    CHECKF(pad_grouped * 3 < pad_plain, "padding %d grouped, %d plain", pad_grouped, pad_plain);
    llm_sampler_free(s);
    s = llm_sampler_new(d, 5, 400, &err);
    llm_sampler_group_by_length(s, 3);
    draw(s, plain, 150);
    uint64_t words[LLM_SAMPLER_WORDS];
    llm_sampler_tell(s, words);
    llm_sampler_free(s);
    s = llm_sampler_new(d, 5, 400, &err);
    llm_sampler_group_by_length(s, 3);
    CHECK(llm_sampler_seek(s, words, &err) == 0);
    draw(s, plain + 150, 250);
    CHECK(memcmp(plain, grouped, sizeof plain) == 0);
    llm_sampler_free(s);
    llm_dataset_free(d);
}

static void test_batches(void)
{
    llm_error err;
    llm_batcher b;
    CHECK(llm_batcher_init(&b, 3, 6, 99, 1, &err) == 0);
    uint32_t t1[4] = {1, 2, 3, 4}, t2[8] = {5, 6, 7, 8, 9, 10, 11, 12}, bounds[2] = {0, 2};
    uint8_t m1[4] = {0, 0, 1, 1};
    llm_record r1 = {.n_tokens = 4, .token_bytes = 4, .tokens = t1, .mask = m1};
    llm_record r2 = {.n_tokens = 8, .token_bytes = 4, .tokens = t2, .n_bounds = 2, .bounds = bounds};
    llm_record empty = {.n_tokens = 0, .token_bytes = 4, .tokens = t1};
    CHECK(llm_batcher_add(&b, &r1) == 1);
    CHECK(llm_batcher_add(&b, &empty) == 0);
    CHECK(llm_batcher_add(&b, &r2) == 1);
    llm_batch batch;
    llm_batcher_build(&b, &batch);
    CHECK(batch.B == 2 && batch.T == 6 && b.truncated == 1 && b.tokens_added == 10);
    /* Row 0: targets are the next tokens whose mask is 1; padding is 99 with no target. */
    int32_t tok0[6] = {1, 2, 3, 4, 99, 99}, tgt0[6] = {-1, 3, 4, -1, -1, -1}, pos0[6] = {0, 1, 2, 3, 4, 5};
    /* Row 1, cut to 6: documents at 0 and 2; token 7 is not a target of position 1. */
    int32_t tok1[6] = {5, 6, 7, 8, 9, 10}, tgt1[6] = {6, -1, 8, 9, 10, -1}, pos1[6] = {0, 1, 0, 1, 2, 3};
    CHECK(memcmp(batch.tokens, tok0, sizeof tok0) == 0 && memcmp(batch.tokens + 6, tok1, sizeof tok1) == 0);
    CHECK(memcmp(batch.targets, tgt0, sizeof tgt0) == 0 && memcmp(batch.targets + 6, tgt1, sizeof tgt1) == 0);
    CHECK(memcmp(batch.pos, pos0, sizeof pos0) == 0 && memcmp(batch.pos + 6, pos1, sizeof pos1) == 0);
    CHECK(llm_batch_count(&batch) == 6);

    /* Shorter rows: the batch is as wide as the longest; without document attention the
     * positions run on and the first token of a document is a target. */
    llm_batcher_free(&b);
    CHECK(llm_batcher_init(&b, 2, 8, 0, 0, &err) == 0);
    llm_record r3 = {.n_tokens = 3, .token_bytes = 4, .tokens = t2, .n_bounds = 2, .bounds = bounds};
    llm_batcher_add(&b, &r3);
    llm_batcher_add(&b, &r1);
    llm_batcher_build(&b, &batch);
    int32_t tok[8] = {5, 6, 7, 0, 1, 2, 3, 4}, tgt[8] = {6, 7, -1, -1, -1, 3, 4, -1}, pos[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    CHECK(batch.B == 2 && batch.T == 4);
    CHECK(memcmp(batch.tokens, tok, sizeof tok) == 0 && memcmp(batch.targets, tgt, sizeof tgt) == 0 &&
          memcmp(batch.pos, pos, sizeof pos) == 0);
    llm_batcher_clear(&b);
    CHECK(b.rows == 0 && b.width == 0);
    llm_batcher_free(&b);
    CHECK(llm_batcher_init(&b, 0, 8, 0, 0, &err) == -1);
}

static void test_refusals(void)
{
    llm_error err;
    write_stream("docs.bin", LLM_KIND_DOCS, 10);
    CHECK(!llm_dataset_open(path, &err) && strstr(err.msg, "a docs stream"));
    CHECK(!llm_dataset_open("-", &err) && strstr(err.msg, "standard input"));
    snprintf(path, sizeof path, "%s/none.bin", tmp);
    CHECK(!llm_dataset_open(path, &err) && strstr(err.msg, "none.bin"));
    CHECK(!llm_dataset_open(tmp, &err) && strstr(err.msg, "not a regular file"));
    write_stream("empty.bin", LLM_KIND_BLOCKS, 0);
    llm_dataset *d = llm_dataset_open(path, &err);
    CHECK(d && llm_dataset_records(d) == 0);
    llm_record r;
    CHECK(d && llm_dataset_rewind(d, &err) == 0 && llm_dataset_next(d, &r, &err) == 0);
    CHECK(d && !llm_sampler_new(d, 1, 0, &err) && strstr(err.msg, "no records"));
    llm_dataset_free(d);
}

/* llm_dataset_evaluate over 100 records, 8 rows a forward, equals the sums of forwards made
 * here over the same rows. */
static void test_evaluate(void)
{
    llm_error err;
    write_stream("eval.bin", LLM_KIND_BLOCKS, 100);
    llm_dataset *d = llm_dataset_open(path, &err);
    llm_model_config cfg = {LLM_FAMILY_GPT2, 1, 2, 16, 8, 4096};
    llm_model *m = llm_model_new(&cfg, &err);
    llm_model_init(m, 3);
    llm_model_set_threads(m, 1);
    CHECK(llm_model_plan(m, 8, 8, 0, &err) == 0);
    llm_batcher b;
    llm_batcher_init(&b, 8, 8, 0, 1, &err);
    llm_loss_stats want = {0, 0, 0}, st;
    llm_eval_sums sums;
    CHECK(llm_dataset_evaluate(d, m, &b, NULL, &sums, &err) == 0);
    llm_loss_stats got = sums.stats;
    CHECK(sums.records == 100 && sums.with_bounds == 14 && sums.empty == 0 && sums.truncated == 0);
    llm_dataset_rewind(d, &err);
    llm_record r;
    llm_batch batch;
    int rows = 0;
    while (llm_dataset_next(d, &r, &err) == 1) {
        llm_batcher_add(&b, &r);
        if (++rows % 8 == 0 || rows == 100) {
            llm_batcher_build(&b, &batch);
            llm_batcher_clear(&b);
            llm_model_forward(m, &batch, &st, &err);
            want.loss_sum += st.loss_sum;
            want.count += st.count;
            want.correct += st.correct;
        }
    }
    CHECK(got.count == want.count && got.correct == want.correct && got.loss_sum == want.loss_sum);
    CHECK(got.count > 200);
    llm_eval_opts two = {.max_batches = 2};
    CHECK(llm_dataset_evaluate(d, m, &b, &two, &sums, &err) == 0 && sums.stats.count < want.count / 4);
    CHECK(sums.records == 16);
    llm_batcher_free(&b);
    llm_model_free(m);
    llm_dataset_free(d);
}

/* Trainer's eval_loss, composed here from each record's forward alone: batches of E records
 * (the empty and uncounted ones in them too), each batch's mean weighing its records. */
static double composed_trainer_loss(const double *sum, const int64_t *count, int n, int E, uint64_t *uncounted)
{
    double weighted = 0;
    uint64_t records = 0;
    *uncounted = 0;
    for (int first = 0; first < n; first += E) {
        int last = first + E < n ? first + E : n;
        double s = 0;
        int64_t c = 0;
        for (int i = first; i < last; i++) {
            s += sum[i];
            c += count[i];
        }
        if (!c) {
            ++*uncounted;
            continue;
        }
        weighted += (double)(last - first) * (s / (double)c);
        records += (uint64_t)(last - first);
    }
    return weighted / (double)records;
}

/* The batches of trainer_loss do not depend on the forwards: batches of 5 in forwards of 2,
 * batches of 3 in forwards of 8 (a forward never spans two batches), batches of 1 (the
 * records without a label then make batches left out); --eval-batches counts batches. */
static void test_evaluate_batches(void)
{
    enum { N = 100 };
    llm_error err;
    write_stream("batches.bin", LLM_KIND_BLOCKS, N);
    llm_dataset *d = llm_dataset_open(path, &err);
    llm_model_config cfg = {LLM_FAMILY_GPT2, 1, 2, 16, 8, 4096};
    llm_model *m = llm_model_new(&cfg, &err);
    llm_model_init(m, 5);
    llm_model_set_threads(m, 1);
    CHECK(llm_model_plan(m, 8, 8, 0, &err) == 0);
    llm_batcher one, two, eight;
    llm_batcher_init(&one, 1, 8, 0, 1, &err);
    llm_batcher_init(&two, 2, 8, 0, 1, &err);
    llm_batcher_init(&eight, 8, 8, 0, 1, &err);
    double sum[N];
    int64_t count[N];
    llm_record r;
    llm_batch batch;
    llm_loss_stats st;
    int n = 0;
    llm_dataset_rewind(d, &err);
    while (n < N && llm_dataset_next(d, &r, &err) == 1) {
        llm_batcher_add(&one, &r);
        llm_batcher_build(&one, &batch);
        llm_batcher_clear(&one);
        CHECK(llm_model_forward(m, &batch, &st, &err) == 0);
        sum[n] = st.loss_sum;
        count[n++] = st.count;
    }
    CHECK(n == N);
    struct { llm_batcher *rows; int E; } cases[] = {{&two, 5}, {&eight, 3}, {&eight, 8}, {&one, 1}, {&two, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int E = cases[k].E;
        llm_eval_opts o = {.batch_records = (uint64_t)E};
        llm_eval_sums sums;
        uint64_t uncounted;
        double want = composed_trainer_loss(sum, count, N, E, &uncounted);
        CHECK(llm_dataset_evaluate(d, m, cases[k].rows, &o, &sums, &err) == 0);
        CHECK(fabs(sums.trainer_loss - want) <= 1e-6 * want);
        CHECK(sums.batches == (uint64_t)((N + E - 1) / E) && sums.batches_uncounted == uncounted);
    }
    uint64_t uncounted;
    composed_trainer_loss(sum, count, N, 1, &uncounted);
    CHECK(uncounted == 15);    /* the records of one token: i % 7 == 0 */
    /* weighing batches alike, or by their tokens, is another number */
    llm_eval_opts three = {.batch_records = 3};
    llm_eval_sums sums;
    CHECK(llm_dataset_evaluate(d, m, &eight, &three, &sums, &err) == 0);
    CHECK(fabs(sums.trainer_loss - sums.stats.loss_sum / (double)sums.stats.count) > 1e-4);
    llm_eval_opts first_two = {.batch_records = 5, .max_batches = 2};
    CHECK(llm_dataset_evaluate(d, m, &two, &first_two, &sums, &err) == 0);
    CHECK(sums.records == 10 && sums.batches == 2);
    CHECK(fabs(sums.trainer_loss - composed_trainer_loss(sum, count, 10, 5, &uncounted)) <= 1e-6 * sums.trainer_loss);
    llm_batcher_free(&one);
    llm_batcher_free(&two);
    llm_batcher_free(&eight);
    llm_model_free(m);
    llm_dataset_free(d);
}

int main(void)
{
    fixture_tmpdir(tmp, sizeof tmp, "dataset");
    RUN(test_file_order);
    RUN(test_sampler);
    RUN(test_group_by_length);
    RUN(test_batches);
    RUN(test_refusals);
    RUN(test_evaluate);
    RUN(test_evaluate_batches);
    fixture_remove(tmp);
    CHECK_EXIT();
}
