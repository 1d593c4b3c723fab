/* llm-cat's output side: the selected records as a stream, Hugging Face style JSONL, a raw
 * token array, or a NumPy .npy file. */
#include "cat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_IGNORE_INDEX "-100"
#define NPY_HEADER_BYTES 128     /* magic, version, length and the padded dict: a multiple of 64 */

/* Where the records go; each sink returns 0 or -1 (having printed why). */
typedef struct sink {
    llm_output out;
    FILE *fp;
    llm_writer *writer;
    llm_buf line;
    uint64_t npy_start;          /* offset of the .npy header in the output */
    uint64_t tokens;
    uint64_t masked;             /* raw and npy: masked tokens, whose mask is not written */
    int npy_rectangular;         /* every record has block_size tokens so far */
} sink;

static int put_stream(sink *k, const llm_record *r)
{
    if (llm_writer_put(k->writer, r) < 0) {
        llm_msg("%s: %s", llm_output_name(&k->out), llm_writer_error(k->writer));
        return -1;
    }
    return 0;
}

static int put_ids(sink *k, const llm_record *r)
{
    llm_buf *b = &k->line;
    llm_buf_clear(b);
    llm_buf_puts(b, "{\"input_ids\":[");
    for (uint32_t i = 0; i < r->n_tokens; i++) {
        if (i)
            llm_buf_putc(b, ',');
        llm_buf_u64(b, llm_record_token(r, i));
    }
    llm_buf_puts(b, "],\"labels\":[");
    for (uint32_t i = 0; i < r->n_tokens; i++) {
        if (i)
            llm_buf_putc(b, ',');
        if (r->mask && !r->mask[i])
            llm_buf_puts(b, HF_IGNORE_INDEX);
        else
            llm_buf_u64(b, llm_record_token(r, i));
    }
    llm_buf_putc(b, ']');
    if (r->n_bounds) {
        llm_buf_puts(b, ",\"doc_starts\":[");
        for (uint32_t i = 0; i < r->n_bounds; i++) {
            if (i)
                llm_buf_putc(b, ',');
            llm_buf_u64(b, r->bounds[i]);
        }
        llm_buf_putc(b, ']');
    }
    llm_buf_puts(b, "}\n");
    if (llm_buf_failed(b)) {
        llm_msg("out of memory");
        return -1;
    }
    fwrite(b->data, 1, b->len, k->fp);
    return 0;
}

static int put_raw(sink *k, const llm_record *r, const llm_header *h)
{
    fwrite(r->tokens, (size_t)r->token_bytes, r->n_tokens, k->fp);
    k->tokens += r->n_tokens;
    for (uint32_t i = 0; r->mask && i < r->n_tokens; i++)
        k->masked += !r->mask[i];
    if (r->n_tokens != h->block_size)
        k->npy_rectangular = 0;
    return 0;
}

/* The .npy v1.0 header for what was written: 2-D (records, block_size) when every record
 * is one block, else the flat token array. Padded with spaces to NPY_HEADER_BYTES. */
static void npy_header(const sink *k, const llm_header *h, uint8_t out[NPY_HEADER_BYTES])
{
    char dict[NPY_HEADER_BYTES];
    if (k->npy_rectangular && h->block_size)
        snprintf(dict, sizeof dict, "{'descr': '<u%d', 'fortran_order': False, 'shape': (%" PRIu64 ", %" PRIu32 "), }",
                 h->token_bytes, k->tokens / h->block_size, h->block_size);
    else
        snprintf(dict, sizeof dict, "{'descr': '<u%d', 'fortran_order': False, 'shape': (%" PRIu64 ",), }",
                 h->token_bytes, k->tokens);
    memset(out, ' ', NPY_HEADER_BYTES);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (NPY_HEADER_BYTES - 10) & 0xff;
    out[9] = (NPY_HEADER_BYTES - 10) >> 8;
    memcpy(out + 10, dict, strlen(dict));
    out[NPY_HEADER_BYTES - 1] = '\n';
}

static int is_seekable_file(int fd, uint64_t *at)
{
    struct stat st;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    int flags = fcntl(fd, F_GETFL);
    /* appending (>>) sends the shape's rewrite to the end instead of over the header */
    if (pos < 0 || flags < 0 || (flags & O_APPEND) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    *at = (uint64_t)pos;
    return 1;
}

static int sink_open(sink *k, const cat_opts *o, const llm_header *h)
{
    llm_error e;
    memset(k, 0, sizeof *k);
    llm_buf_init(&k->line);
    k->npy_rectangular = 1;
    int binary = o->to != CAT_TO_IDS;
    if (llm_output_open(&k->out, o->output, binary, o->force, &e) < 0) {
        llm_msg("%s", e.msg);
        return -1;
    }
    if (o->to == CAT_TO_STREAM) {
        k->writer = llm_writer_open(k->out.fd, h, &o->writer, &e);
        if (!k->writer)
            llm_msg("%s: %s", llm_output_name(&k->out), e.msg);
        return k->writer ? 0 : -1;
    }
    if (o->to == CAT_TO_NPY && !is_seekable_file(k->out.fd, &k->npy_start)) {
        llm_msg("--to=npy writes its shape last, so it needs a regular file not opened to append: use -o FILE");
        return -1;
    }
    k->fp = llm_output_file(&k->out);
    if (!k->fp) {
        llm_msg("out of memory");
        return -1;
    }
    if (o->to == CAT_TO_NPY) {
        uint8_t placeholder[NPY_HEADER_BYTES] = {0};
        fwrite(placeholder, 1, sizeof placeholder, k->fp);
    }
    return 0;
}

/* Completes the output; returns 0 or -1. The output is removed unless this succeeds. */
static int sink_finish(sink *k, const cat_opts *o, const llm_header *h, cat_source *src)
{
    llm_error e;
    if (k->writer) {
        llm_ledger l;
        llm_ledger_init(&l);
        int rc = cat_source_ledger(src, &l);
        if (rc == 0) {
            llm_writer_account(k->writer, &l.stages[l.len - 1]);
            if ((rc = llm_writer_finish_ledger(k->writer, &l)) < 0)
                llm_msg("%s: %s", llm_output_name(&k->out), llm_writer_error(k->writer));
        }
        llm_ledger_free(&l);
        if (rc < 0)
            return -1;
    }
    if (o->to == CAT_TO_NPY) {
        uint8_t head[NPY_HEADER_BYTES];
        npy_header(k, h, head);
        if (fflush(k->fp) != 0 || pwrite(k->out.fd, head, sizeof head, (off_t)k->npy_start) != sizeof head) {
            llm_msg("%s: write error: %s", llm_output_name(&k->out), strerror(errno));
            return -1;
        }
    }
    if (llm_output_commit(&k->out, &e) < 0) {
        llm_msg("%s", e.msg);
        return -1;
    }
    return 0;
}

static void sink_free(sink *k)
{
    llm_writer_free(k->writer);
    llm_output_abort(&k->out);
    llm_buf_free(&k->line);
}

int cat_write(const cat_opts *o, cat_source *src)
{
    const llm_header *h = cat_source_header(src);
    static const char *const what[] = {
        [CAT_TO_STREAM] = "written", [CAT_TO_IDS] = "written as JSONL", [CAT_TO_RAW] = "written as raw tokens",
        [CAT_TO_NPY] = "written as .npy",
    };
    sink k;
    llm_record rec;
    int rc = sink_open(&k, o, h);
    while (rc == 0 && (rc = cat_source_next(src, &rec)) == 1) {
        switch (o->to) {
        case CAT_TO_STREAM: rc = put_stream(&k, &rec); break;
        case CAT_TO_IDS: rc = put_ids(&k, &rec); break;
        default: rc = put_raw(&k, &rec, h); break;
        }
    }
    if (rc == 0)
        rc = sink_finish(&k, o, h, src);
    uint64_t masked = k.masked;
    sink_free(&k);
    if (rc < 0)
        return LLM_EXIT_FAILURE;
    cat_source_summary(src, what[o->to]);
    /* A loss mask dropped without a word would train on the prompts it masked. */
    if (masked && !o->quiet)
        llm_msg("note: %" PRIu64 " masked tokens (label -100) are written as ordinary tokens: %s output has no "
                "loss mask (--to=ids keeps it)", masked, o->to == CAT_TO_NPY ? "npy" : "raw");
    return LLM_EXIT_OK;
}
