/* libFuzzer target for the stream reader: the input, as a file, goes through llm_reader_open,
 * every llm_reader_next, llm_reader_load_provenance, llm_reader_load_index (with and without a
 * scan) and a seek to each frame.
 *
 * Checksums guard the header and every frame, and a fuzzer cannot guess them, so an input that
 * starts with "LLMF" is a recipe instead, built into a stream with valid checksums so that
 * mutations reach the record and index checks behind them:
 *   "LLMF", u8 opts, then chunks of {u16 len, u32 records, u32 tokens, len bytes of content}
 *   opts bits 0-1: width and vocabulary (u16 50257, u16 65536, u32 100277, u32 2^32-1)
 *   bit 2: end the segment with an index listing each chunk's records and tokens as given
 *   bit 3: the segment twice over (concatenation); bit 4: leave the header out
 * Each chunk's content becomes one zstd frame (content size and checksum included).
 *
 * Besides "no crash, no leak", what the reader hands out is checked against its promises
 * (ids below vocab_size, masks of 0 and 1, ascending bounds below n_tokens), and a stream read
 * cleanly to its end must agree with any index loaded for it; a broken promise aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "stream.h"
#include "stream_format.h"

#define MAX_RECORDS (1u << 20)   /* per pass: keeps each input fast */
#define MAX_SEEKS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void promise(int ok)
{
    if (!ok)
        abort();
}

/* Reads every token, mask byte and bound, checking what the reader promises. */
static void touch(const llm_record *rec, const llm_header *h)
{
    uint64_t sum = 0;
    promise(rec->token_bytes == h->token_bytes);
    for (uint32_t i = 0; i < rec->n_tokens; i++) {
        uint32_t t = llm_record_token(rec, i);
        promise(t < h->vocab_size);
        sum += t;
    }
    if (rec->mask)
        for (uint32_t i = 0; i < rec->n_tokens; i++) {
            promise(rec->mask[i] <= 1);
            sum += rec->mask[i];
        }
    for (uint32_t i = 0; i < rec->n_bounds; i++) {
        promise(rec->bounds[i] < rec->n_tokens && (i == 0 || rec->bounds[i] > rec->bounds[i - 1]));
        sum += rec->bounds[i];
    }
    sink += sum;
}

static void seek_all(llm_reader *r, const llm_index *idx)
{
    const llm_header *h = llm_reader_header(r);
    size_t budget = MAX_RECORDS;
    for (size_t i = 0; i < idx->n_frames && i < MAX_SEEKS; i++) {
        if (llm_reader_seek(r, idx, i) < 0)
            return;
        llm_record rec;
        for (uint32_t j = 0; j < idx->frames[i].records && budget > 0; j++, budget--) {
            int rc = llm_reader_next(r, &rec);
            if (rc < 0)
                return;
            if (rc == 0)
                break;
            touch(&rec, h);
        }
    }
}

static void run_stream(const uint8_t *p, size_t n)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t at = 0; at < n;) {
        ssize_t k = write(fd, p + at, n - at);
        if (k <= 0)
            abort();
        at += (size_t)k;
    }
    lseek(fd, 0, SEEK_SET);

    llm_error err;
    llm_reader *r = llm_reader_open(fd, "fuzz", &err);
    if (!r) {
        promise(err.msg[0] != '\0');
        close(fd);
        return;
    }
    const llm_header *h = llm_reader_header(r);
    promise(llm_header_validate(h, NULL) == 0);
    llm_record rec;
    uint64_t records = 0, tokens = 0;
    int rc = 1;
    while (records < MAX_RECORDS && (rc = llm_reader_next(r, &rec)) == 1) {
        touch(&rec, h);
        records++;
        tokens += rec.n_tokens;
    }
    int clean = rc == 0;
    if (rc < 0)
        promise(llm_reader_error(r)[0] != '\0');
    sink += llm_reader_offset(r) + strlen(llm_reader_merged_header(r)->provenance);

    /* The provenance found through the indexes is the one reading met. */
    lseek(fd, 0, SEEK_SET);
    llm_reader *ir = llm_reader_open(fd, "fuzz", &err);
    promise(ir != NULL);
    int whole = llm_reader_load_provenance(ir);
    if (whole < 0)
        promise(llm_reader_error(ir)[0] != '\0');
    if (whole == 0 && clean)
        promise(strcmp(llm_reader_merged_header(ir)->provenance, llm_reader_merged_header(r)->provenance) == 0);
    llm_reader_free(ir);

    for (int scan = 0; scan <= 1; scan++) {
        llm_index idx;
        if (scan) {         /* a fresh reader: the first may have failed */
            llm_reader_free(r);
            lseek(fd, 0, SEEK_SET);
            r = llm_reader_open(fd, "fuzz", &err);
            promise(r != NULL);
        }
        int k = llm_reader_load_index(r, scan, &idx);
        if (k == 0) {
            if (clean)
                promise(idx.records == records && idx.tokens == tokens);
            seek_all(r, &idx);
        } else {
            promise(idx.n_frames == 0 && llm_reader_error(r)[0] != '\0');
        }
        llm_index_free(&idx);
    }
    llm_reader_free(r);
    close(fd);
}

/* ---- recipes ---------------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put32(bytes *b, uint32_t v)
{
    uint8_t w[4];
    llm_store32(w, v);
    put(b, w, 4);
}

static void put64(bytes *b, uint64_t v)
{
    uint8_t w[8];
    llm_store64(w, v);
    put(b, w, 8);
}

static void build_recipe(const uint8_t *data, size_t size)
{
    static const struct {
        int width;
        uint32_t vocab;
    } kinds[4] = {{2, 50257}, {2, 65536}, {4, 100277}, {4, UINT32_MAX}};
    if (size < 5)
        return;
    uint8_t opts = data[4];
    data += 5;
    size -= 5;

    llm_header h;
    if (llm_header_init(&h) < 0)
        return;
    h.token_bytes = kinds[opts & 3].width;
    h.vocab_size = kinds[opts & 3].vocab;
    h.eos_id = 0;
    llm_header_set_tokenizer(&h, "fuzz", "xxh64:0");
    llm_buf js;
    llm_buf_init(&js);
    llm_header_to_json(&h, &js);
    llm_header_free(&h);

    bytes seg = {0}, entries = {0}, out = {0};
    uint64_t records = 0, tokens = 0;
    uint32_t frames = 0;
    if (!(opts & 16)) {
        put32(&seg, LLM_MAGIC_HEADER);
        put32(&seg, (uint32_t)(js.len + LLM_HEADER_PREFIX));
        put(&seg, LLM_HEADER_TAG, 4);
        put32(&seg, llm_checksum32(js.data, js.len));
        put(&seg, js.data, js.len);
    }
    llm_buf_free(&js);

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    while (size >= 10) {
        size_t len = data[0] | (size_t)data[1] << 8;
        uint32_t rec = llm_load32(data + 2), tok = llm_load32(data + 6);
        data += 10;
        size -= 10;
        if (len > size)
            len = size;
        size_t cap = ZSTD_compressBound(len);
        uint8_t *z = malloc(cap);
        size_t zn = ZSTD_compress2(cctx, z, cap, data, len);
        if (!ZSTD_isError(zn)) {
            put64(&entries, seg.len);
            put32(&entries, rec);
            put32(&entries, tok);
            records += rec;
            tokens += tok;
            frames++;
            put(&seg, z, zn);
        }
        free(z);
        data += len;
        size -= len;
    }
    ZSTD_freeCCtx(cctx);

    if (opts & 4) {
        bytes ix = {0};
        put(&ix, entries.p, entries.len);
        put64(&ix, seg.len);
        put64(&ix, records);
        put64(&ix, tokens);
        put32(&ix, frames);
        put32(&ix, llm_checksum32(ix.p, ix.len));
        put(&ix, LLM_INDEX_TAG, 4);
        put32(&seg, LLM_MAGIC_INDEX);
        put32(&seg, (uint32_t)ix.len);
        put(&seg, ix.p, ix.len);
        free(ix.p);
    }
    put(&out, seg.p, seg.len);
    if (opts & 8)
        put(&out, seg.p, seg.len);
    run_stream(out.p, out.len);
    free(seg.p);
    free(entries.p);
    free(out.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "LLMF", 4) == 0)
        build_recipe(data, size);
    else
        run_stream(data, size);
    return 0;
}
