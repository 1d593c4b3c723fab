/* Test driver for the tokenizer core (no llm-tokenize needed): reads JSONL documents
 * {"text": ...} and writes each one's token ids on a line, space-separated, as
 * tests/cli/tokenizer_reference.js writes the reference encoder's; or, with --bench, times
 * the encoding and prints MB/s.
 *
 * usage: tokenizer_driver [--special] [--bench] [--repeat N] [--cache BYTES] TOKENIZER FILE
 *   TOKENIZER  a name (looked up as llm_tokenizer_load does) or a rank file path
 *   --special  special-token strings in the text become their ids (default: plain text)
 *   --roundtrip  also check decode(encode(text)) == text for every document */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "lines.h"
#include "normalize.h"
#include "tokenizer.h"
#include "utf8.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* decode(encode(x)) is x, or NFC(x) for tokenizers that normalize (Qwen's NFC). */
static int same_text(const llm_buf *back, const char *x, size_t n, llm_buf *nfc)
{
    if (back->len == n && (n == 0 || memcmp(back->data, x, n) == 0))
        return 1;
    if (!llm_utf8_valid(x, n))
        return 0;
    llm_buf_clear(nfc);
    llm_normalize(LLM_NORM_NFC, x, n, nfc);
    return back->len == nfc->len && (nfc->len == 0 || memcmp(back->data, nfc->data, nfc->len) == 0);
}

typedef struct doc_list {
    char **text;
    size_t *len;
    size_t n, cap, bytes;
} doc_list;

static int load_docs(const char *path, doc_list *d)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    llm_lines *lines = llm_lines_open(fd);
    llm_json_parser *p = llm_json_parser_new();
    llm_error err;
    const char *line;
    size_t len;
    int r, status = 0;
    while ((r = llm_lines_next(lines, &line, &len, &err)) == 1) {
        llm_json root, text;
        const char *s;
        size_t n;
        /* Lone surrogate escapes (\ud800) are U+FFFD, as the reference encoders see them
         * through node's conversion to UTF-8: lib/json.cpp's doing, tested here too. */
        int parsed = llm_json_parse(p, line, len, 1, &root, &err) == 0;
        if (!parsed || !llm_json_field(root, "text", &text) || llm_json_get_string(text, &s, &n) < 0) {
            fprintf(stderr, "%s:%llu: not a {\"text\": ...} line\n", path,
                    (unsigned long long)llm_lines_number(lines));
            status = -1;
            break;
        }
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 1024;
            d->text = realloc(d->text, d->cap * sizeof *d->text);
            d->len = realloc(d->len, d->cap * sizeof *d->len);
        }
        d->text[d->n] = malloc(n + 1);
        memcpy(d->text[d->n], s, n);
        d->text[d->n][n] = '\0';
        d->len[d->n++] = n;
        d->bytes += n;
    }
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        status = -1;
    }
    llm_json_parser_free(p);
    llm_lines_close(lines);
    close(fd);
    return status;
}

int main(int argc, char **argv)
{
    int special = 0, bench = 0, roundtrip = 0, repeat = 1;
    size_t cache = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--special") == 0)
            special = 1;
        else if (strcmp(argv[i], "--bench") == 0)
            bench = 1;
        else if (strcmp(argv[i], "--roundtrip") == 0)
            roundtrip = 1;
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            cache = (size_t)strtoull(argv[++i], NULL, 10);
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: %s [--special] [--bench] [--roundtrip] [--repeat N] [--cache BYTES] "
                        "TOKENIZER FILE\n", argv[0]);
        return 2;
    }
    llm_error err;
    double t0 = now();
    llm_tokenizer *t = llm_tokenizer_load(argv[i], &err);
    if (t == NULL) {
        fprintf(stderr, "tokenizer_driver: %s\n", err.msg);
        return 1;
    }
    double load_s = now() - t0;
    doc_list docs = {0};
    if (load_docs(argv[i + 1], &docs) < 0)
        return 1;
    llm_encoder *e = llm_encoder_new(t, cache);
    llm_ids ids;
    llm_ids_init(&ids);
    llm_buf out, back, nfc;
    llm_buf_init(&out);
    llm_buf_init(&back);
    llm_buf_init(&nfc);
    int status = 0;
    uint64_t tokens = 0;
    t0 = now();
    for (int rep = 0; rep < repeat && status == 0; rep++) {
        for (size_t k = 0; k < docs.n; k++) {
            llm_ids_clear(&ids);
            if (llm_encode(e, docs.text[k], docs.len[k], special, &ids, &err) < 0) {
                fprintf(stderr, "tokenizer_driver: document %zu: %s\n", k + 1, err.msg);
                status = 1;
                break;
            }
            tokens += ids.len;
            if (roundtrip) {
                llm_buf_clear(&back);
                if (llm_decode(t, ids.data, ids.len, &back, &err) < 0 ||
                    !same_text(&back, docs.text[k], docs.len[k], &nfc)) {
                    fprintf(stderr, "tokenizer_driver: document %zu: decode(encode(x)) != x\n", k + 1);
                    status = 1;
                }
            }
            if (bench)
                continue;
            for (size_t j = 0; j < ids.len; j++) {
                if (j)
                    llm_buf_putc(&out, ' ');
                llm_buf_u64(&out, ids.data[j]);
            }
            llm_buf_putc(&out, '\n');
            if (out.len > (1u << 20)) {
                if (fwrite(out.data, 1, out.len, stdout) != out.len)
                    status = 1;
                llm_buf_clear(&out);
            }
        }
    }
    double secs = now() - t0;
    if (bench) {
        uint64_t lookups, hits;
        llm_encoder_stats(e, &lookups, &hits);
        printf("%s: %.1f MB/s (%zu docs, %.2f MB x %d, %.1f tokens/KB, cache hits %.1f%%, load %.0f ms)\n",
               llm_tokenizer_name(t), (double)docs.bytes * repeat / secs / 1e6, docs.n,
               (double)docs.bytes / 1e6, repeat, (double)tokens * 1000.0 / ((double)docs.bytes * repeat),
               lookups ? 100.0 * (double)hits / (double)lookups : 0.0, load_s * 1000);
    } else if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) {
        status = 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        status = 1;
    for (size_t k = 0; k < docs.n; k++)
        free(docs.text[k]);
    free(docs.text);
    free(docs.len);
    llm_buf_free(&out);
    llm_buf_free(&back);
    llm_buf_free(&nfc);
    llm_ids_free(&ids);
    llm_encoder_free(e);
    llm_tokenizer_free(t);
    return status;
}
