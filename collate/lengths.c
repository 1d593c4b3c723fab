/* The token lengths of the examples, for the summary's min, max, mean and percentiles: a count
 * per length (exact, and small for the lengths fine-tuning data has), and each length past
 * COL_LENGTHS_DENSE kept on its own. */
#include "collate.h"

#include <stdlib.h>
#include <string.h>

#define COL_LENGTHS_DENSE (1u << 20)

void col_lengths_add(col_lengths *l, uint32_t len)
{
    if (l->n == 0 || len < l->min)
        l->min = len;
    if (len > l->max)
        l->max = len;
    l->n++;
    l->sum += len;
    if (l->failed)
        return;
    if (len < COL_LENGTHS_DENSE) {
        if (len >= l->n_counts) {
            size_t n = l->n_counts ? l->n_counts : 1024;
            while (n <= len)
                n *= 2;
            uint64_t *c = realloc(l->counts, n * sizeof *c);
            if (!c) {
                l->failed = 1;
                return;
            }
            memset(c + l->n_counts, 0, (n - l->n_counts) * sizeof *c);
            l->counts = c;
            l->n_counts = n;
        }
        l->counts[len]++;
        return;
    }
    if (l->n_big == l->cap_big) {
        size_t cap = l->cap_big ? 2 * l->cap_big : 64;
        uint32_t *b = realloc(l->big, cap * sizeof *b);
        if (!b) {
            l->failed = 1;
            return;
        }
        l->big = b;
        l->cap_big = cap;
    }
    l->big[l->n_big++] = len;
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t col_lengths_percentile(col_lengths *l, unsigned p)
{
    if (l->n == 0 || l->failed)
        return 0;
    /* The nearest rank: ceil(p% of n), at least 1. */
    uint64_t rank = (l->n * p + 99) / 100;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t len = 0; len < l->n_counts; len++) {
        seen += l->counts[len];
        if (seen >= rank)
            return (uint32_t)len;
    }
    qsort(l->big, l->n_big, sizeof *l->big, by_value);
    return l->big[rank - seen - 1];
}

void col_lengths_free(col_lengths *l)
{
    free(l->counts);
    free(l->big);
    memset(l, 0, sizeof *l);
}
