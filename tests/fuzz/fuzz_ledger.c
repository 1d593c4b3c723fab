/* libFuzzer target for the ledger's JSON and its JSONL line: whatever llm_ledger_from_json
 * accepts balances stage by stage, survives to_json -> from_json as the same text, and summed
 * with itself keeps balancing with every count doubled. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

static char *text_of(const llm_ledger *l)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_ledger_to_json(l, &b);
    llm_buf_putc(&b, '\0');
    promise(!llm_buf_failed(&b));
    return b.data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_ledger l, back, line;
    llm_ledger_init(&l);
    llm_ledger_init(&back);
    llm_ledger_init(&line);
    llm_error err;
    llm_ledger_from_line(&line, (const char *)data, size, &err);
    if (llm_ledger_from_json(&l, (const char *)data, size, &err) == 0) {
        char why[256];
        for (size_t i = 0; i < l.len; i++)
            promise(llm_stage_check(&l.stages[i], why, sizeof why) == 0);
        char *a = text_of(&l);
        promise(llm_ledger_from_json(&back, a, strlen(a), &err) == 0);
        char *b = text_of(&back);
        promise(strcmp(a, b) == 0);
        /* Counts near 2^64 may wrap when doubled; the sum is only checked below that. */
        int small = 1;
        for (size_t i = 0; i < l.len; i++)
            small &= l.stages[i].in.records < (UINT64_C(1) << 62) &&
                     (l.stages[i].in.tokens == LLM_NO_COUNT || l.stages[i].in.tokens < (UINT64_C(1) << 62));
        if (small && llm_ledger_merge(&back, &l) == 0)
            for (size_t i = 0; i < back.len; i++)
                promise(llm_stage_check(&back.stages[i], why, sizeof why) == 0);
        free(a);
        free(b);
    }
    llm_ledger_free(&l);
    llm_ledger_free(&back);
    llm_ledger_free(&line);
    return 0;
}
