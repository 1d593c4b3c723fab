/* Unit tests for lib/ledger.c and the ledger frame of lib/stream_*.c: the JSON round trip,
 * the balance check that refuses a ledger whose counts do not add up, summing histories
 * stage by stage, the JSONL ledger line, and a ledger found through the index of a file of
 * concatenated streams, or missing from one of them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ledger.h"
#include "stream.h"

static llm_stage *stage(llm_ledger *l, const char *program, uint64_t in, uint64_t out, uint64_t dropped)
{
    char *argv[] = {(char *)program, (char *)"-x", NULL};
    llm_stage *s = llm_ledger_add_stage(l, program, "documents", 2, argv);
    CHECK(s != NULL);
    s->in = (llm_tally){in, LLM_NO_COUNT};
    s->out = (llm_tally){out, LLM_NO_COUNT};
    if (dropped)
        CHECK(llm_reasons_add(&s->dropped, "short", dropped, LLM_NO_COUNT) == 0);
    return s;
}

static char *json_of(const llm_ledger *l)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_ledger_to_json(l, &b);
    llm_buf_putc(&b, '\0');
    CHECK(!llm_buf_failed(&b));
    return b.data;
}

static void test_round_trip(void)
{
    llm_ledger l, back;
    llm_ledger_init(&l);
    llm_ledger_init(&back);
    stage(&l, "llm-clean", 10, 7, 3);
    llm_stage *p = stage(&l, "llm-pack", 7, 6, 0);
    p->in.tokens = 100;
    p->out.tokens = 80;
    CHECK(llm_reasons_add(&p->dropped, "remainder", 1, 15) == 0);
    CHECK(llm_reasons_add(&p->split, "validation", 0, 5) == 0);
    p->truncated = 1;
    p->has_written = 1;
    p->written_records = 5, p->written_tokens = 90, p->padding = 10, p->masked = 12;
    char *a = json_of(&l);
    llm_error err;
    CHECK(llm_ledger_from_json(&back, a, strlen(a), &err) == 0);
    char *b = json_of(&back);
    CHECK(strcmp(a, b) == 0);
    CHECK(strstr(a, "\"trained\":78") != NULL);
    CHECK(llm_stage_drop_share(&back.stages[1]) == 0.15);       /* tokens 15/100 > records 1/7 */
    double lost = llm_ledger_drop_share(&back);
    CHECK(lost > 1 - 0.7 * 0.85 - 1e-12 && lost < 1 - 0.7 * 0.85 + 1e-12);
    free(a);
    free(b);
    llm_ledger_free(&l);
    llm_ledger_free(&back);
}

static void test_refuses_bad_counts(void)
{
    llm_ledger l;
    llm_ledger_init(&l);
    llm_error err;
    const char *off = "[{\"program\":\"p\",\"version\":\"1\",\"argv\":[\"p\"],\"unit\":\"documents\","
                      "\"in\":{\"records\":5},\"out\":{\"records\":3},\"dropped\":{\"x\":{\"records\":1}}}]";
    CHECK(llm_ledger_from_json(&l, off, strlen(off), &err) == -1);
    CHECK(strstr(err.msg, "do not add up") != NULL);
    const char *no_out = "[{\"program\":\"p\",\"version\":\"1\",\"argv\":[],\"unit\":\"d\",\"in\":{\"records\":5}}]";
    CHECK(llm_ledger_from_json(&l, no_out, strlen(no_out), &err) == -1);
    CHECK(llm_ledger_from_json(&l, "{}", 2, &err) == -1);
    CHECK(llm_ledger_from_json(&l, "[]", 2, &err) == 0 && l.len == 0);
    llm_ledger_free(&l);
}

static void test_merge(void)
{
    llm_ledger a, b;
    llm_ledger_init(&a);
    llm_ledger_init(&b);
    stage(&a, "llm-tokenize", 10, 10, 0);
    stage(&a, "llm-pack", 10, 9, 1);
    stage(&b, "llm-clean", 8, 6, 2);      /* only b has a clean stage: it goes first */
    stage(&b, "llm-tokenize", 6, 5, 1);
    stage(&b, "llm-pack", 5, 5, 0);
    stage(&b, "llm-pack", 5, 4, 1);       /* a second pack: b's own, after the first */
    CHECK(llm_ledger_merge(&a, &b) == 0);
    CHECK(a.len == 4);
    CHECK(strcmp(a.stages[0].program, "llm-clean") == 0 && a.stages[0].runs == 1);
    CHECK(strcmp(a.stages[1].program, "llm-tokenize") == 0 && a.stages[1].runs == 2 && a.stages[1].in.records == 16);
    CHECK(strcmp(a.stages[2].program, "llm-pack") == 0 && a.stages[2].out.records == 14);
    CHECK(llm_reasons_records(&a.stages[2].dropped) == 1);
    CHECK(strcmp(a.stages[3].program, "llm-pack") == 0 && a.stages[3].runs == 1);
    char why[256];
    for (size_t i = 0; i < a.len; i++)
        CHECK(llm_stage_check(&a.stages[i], why, sizeof why) == 0);
    llm_ledger_free(&a);
    llm_ledger_free(&b);
}

static void test_line(void)
{
    llm_ledger l, got;
    llm_ledger_init(&l);
    llm_ledger_init(&got);
    stage(&l, "llm-clean", 4, 3, 1);
    llm_buf b;
    llm_buf_init(&b);
    llm_ledger_to_line(&l, &b);
    llm_error err;
    CHECK(b.len && b.data[b.len - 1] == '\n');
    CHECK(llm_ledger_from_line(&got, b.data, b.len, &err) == 1);
    CHECK(llm_ledger_from_line(&got, b.data, b.len, &err) == 1);     /* a second one adds up */
    CHECK(got.len == 1 && got.stages[0].runs == 2 && got.stages[0].in.records == 8);
    CHECK(llm_ledger_from_line(&got, "{\"text\":\"x\"}", 12, &err) == 0);
    CHECK(llm_ledger_from_line(&got, "{\"llm_ledger\":[1]}", 18, &err) == -1);
    llm_buf_free(&b);
    llm_ledger_free(&l);
    llm_ledger_free(&got);
}

/* One small docs stream appended to fd, with or without a ledger. */
static void write_stream(int fd, const llm_ledger *l, uint32_t first)
{
    llm_header h;
    CHECK(llm_header_init(&h) == 0);
    h.vocab_size = 100;
    llm_writer_opts o = {.index = 1};
    llm_error err;
    llm_writer *w = llm_writer_open(fd, &h, &o, &err);
    CHECK(w != NULL);
    uint32_t toks[3] = {first, first + 1, first + 2};
    llm_record r = {.n_tokens = 3, .token_bytes = 4, .tokens = toks};
    CHECK(llm_writer_put(w, &r) == 0);
    CHECK(llm_writer_finish_ledger(w, l) == 0);
    llm_writer_free(w);
    llm_header_free(&h);
}

static void test_stream(void)
{
    char path[] = "/tmp/llm-ledger-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    llm_ledger l, got;
    llm_ledger_init(&l);
    llm_ledger_init(&got);
    stage(&l, "llm-tokenize", 1, 1, 0);
    write_stream(fd, &l, 1);
    write_stream(fd, &l, 5);
    llm_error err;
    uint64_t missing = 9;
    lseek(fd, 0, SEEK_SET);
    CHECK(llm_stream_ledger(fd, path, &got, &missing, &err) == 0);
    CHECK(missing == 0 && got.len == 1 && got.stages[0].runs == 2 && got.stages[0].in.records == 2);

    /* Reading through meets both ledger frames and sums them the same way. */
    lseek(fd, 0, SEEK_SET);
    llm_reader *r = llm_reader_open(fd, path, &err);
    CHECK(r != NULL);
    llm_record rec;
    int n = 0;
    while (llm_reader_next(r, &rec) == 1)
        n++;
    CHECK(n == 2 && llm_reader_segments(r) == 2 && llm_reader_ledgers(r) == 2);
    CHECK(llm_reader_ledger(r)->len == 1 && llm_reader_ledger(r)->stages[0].runs == 2);
    llm_reader_free(r);

    /* A third stream without one: the index finds two, and says one is missing. */
    lseek(fd, 0, SEEK_END);
    write_stream(fd, NULL, 9);
    lseek(fd, 0, SEEK_SET);
    r = llm_reader_open(fd, path, &err);
    CHECK(r != NULL && llm_reader_load_ledger(r, &got) == 1 && got.len == 1 && got.stages[0].runs == 2);
    llm_reader_free(r);
    lseek(fd, 0, SEEK_SET);
    CHECK(llm_stream_ledger(fd, path, &got, &missing, &err) == 0 && missing == 1 && got.stages[0].runs == 2);
    close(fd);
    unlink(path);
    llm_ledger_free(&l);
    llm_ledger_free(&got);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_refuses_bad_counts);
    RUN(test_merge);
    RUN(test_line);
    RUN(test_stream);
    CHECK_EXIT();
}
