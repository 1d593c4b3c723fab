/* llm-cat --stats: counts and the record length distribution that users read to choose
 * max_len, in constant memory whatever the number of records. */
#include "cat.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Lengths below EXACT_LIMIT are counted exactly; longer ones in buckets of 1/1024 of their
 * power of two (reported as the bucket's lowest length, so within 0.1% below the truth). */
#define EXACT_BITS 16
#define EXACT_LIMIT (1u << EXACT_BITS)
#define SUB_BITS 10
#define N_BUCKETS (EXACT_LIMIT + (32 - EXACT_BITS) * (1u << SUB_BITS))

typedef struct length_hist {
    uint64_t *count;   /* N_BUCKETS */
    uint64_t n, sum;
    uint32_t min, max;
} length_hist;

static size_t bucket_of(uint32_t len)
{
    if (len < EXACT_LIMIT)
        return len;
    int e = 31 - __builtin_clz(len);                 /* EXACT_BITS .. 31 */
    uint32_t sub = (len >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return EXACT_LIMIT + (size_t)(e - EXACT_BITS) * (1u << SUB_BITS) + sub;
}

static uint32_t bucket_low(size_t b)
{
    if (b < EXACT_LIMIT)
        return (uint32_t)b;
    b -= EXACT_LIMIT;
    int e = (int)(b >> SUB_BITS) + EXACT_BITS;
    uint32_t sub = (uint32_t)(b & ((1u << SUB_BITS) - 1));
    return ((1u << SUB_BITS) | sub) << (e - SUB_BITS);
}

static void hist_add(length_hist *h, uint32_t len)
{
    h->count[bucket_of(len)]++;
    if (h->n == 0 || len < h->min)
        h->min = len;
    if (len > h->max)
        h->max = len;
    h->n++;
    h->sum += len;
}

/* Nearest rank: the smallest length L such that at least p% of records are no longer. */
static uint32_t hist_percentile(const length_hist *h, double p)
{
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->n);
    if ((double)rank < p / 100.0 * (double)h->n)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank)
            return bucket_low(b) > h->min ? bucket_low(b) : h->min;
    }
    return h->max;
}

int cat_stats(const cat_opts *o, cat_source *src)
{
    length_hist h = {0};
    uint64_t tokens = 0, masked = 0, masked_records = 0, bounded = 0, docs = 0;
    llm_record rec;
    int rc;
    llm_output out;
    llm_error e;
    if (llm_output_open(&out, o->output, 0, 1, &e) < 0) {
        llm_msg("%s", e.msg);
        return LLM_EXIT_FAILURE;
    }
    FILE *fp = llm_output_file(&out);
    if (!fp || !(h.count = calloc(N_BUCKETS, sizeof *h.count))) {
        llm_msg("out of memory");
        llm_output_abort(&out);
        return LLM_EXIT_FAILURE;
    }
    while ((rc = cat_source_next(src, &rec)) == 1) {
        hist_add(&h, rec.n_tokens);
        tokens += rec.n_tokens;
        if (rec.mask) {
            masked_records++;
            for (uint32_t i = 0; i < rec.n_tokens; i++)
                masked += !rec.mask[i];
        }
        if (rec.n_bounds) {
            bounded++;
            docs += rec.n_bounds;
        }
    }
    if (rc < 0) {
        free(h.count);
        llm_output_abort(&out);
        return LLM_EXIT_FAILURE;
    }
    const llm_header *hd = cat_source_header(src);
    double mean = h.n ? (double)h.sum / (double)h.n : 0;
    double share = tokens ? (double)masked / (double)tokens : 0;
    uint32_t p50 = h.n ? hist_percentile(&h, 50) : 0, p90 = h.n ? hist_percentile(&h, 90) : 0,
             p99 = h.n ? hist_percentile(&h, 99) : 0;
    if (o->json) {
        fprintf(fp, "{\"kind\":\"%s\",\"records\":%" PRIu64 ",\"tokens\":%" PRIu64 ",\"masked_tokens\":%" PRIu64
               ",\"masked_share\":%.6f,\"records_with_mask\":%" PRIu64 ",\"records_with_doc_starts\":%" PRIu64
               ",\"doc_starts\":%" PRIu64 ",\"length\":{\"min\":%" PRIu32 ",\"max\":%" PRIu32
               ",\"mean\":%.3f,\"p50\":%" PRIu32 ",\"p90\":%" PRIu32 ",\"p99\":%" PRIu32 "}}\n",
               llm_kind_name(hd->kind), h.n, tokens, masked, share, masked_records, bounded, docs,
               h.min, h.max, mean, p50, p90, p99);
    } else {
        fprintf(fp, "kind         %s\n", llm_kind_name(hd->kind));
        fprintf(fp, "records      %" PRIu64 "\n", h.n);
        fprintf(fp, "tokens       %" PRIu64 "\n", tokens);
        fprintf(fp, "masked       %" PRIu64 " tokens (%.2f%%) in %" PRIu64 " records with a mask\n", masked,
               100 * share, masked_records);
        if (bounded)
            fprintf(fp, "doc starts   %" PRIu64 " in %" PRIu64 " records\n", docs, bounded);
        fprintf(fp, "length       min %" PRIu32 "  p50 %" PRIu32 "  p90 %" PRIu32 "  p99 %" PRIu32 "  max %" PRIu32
               "  mean %.1f\n", h.min, p50, p90, p99, h.max, mean);
        if (h.max >= EXACT_LIMIT)
            fprintf(fp, "             (percentiles above %u tokens are within 0.1%%)\n", EXACT_LIMIT);
    }
    free(h.count);
    if (llm_output_commit(&out, &e) < 0) {
        llm_msg("%s", e.msg);
        return LLM_EXIT_FAILURE;
    }
    cat_source_summary(src, "counted");
    return LLM_EXIT_OK;
}
