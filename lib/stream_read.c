/* Reading an llm-stream: frames are taken whole, every record is validated before any is
 * handed out, and indexes met on the way must agree with the data they describe. */
#include "stream.h"
#include "stream_format.h"
#include "buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#define INPUT_CHUNK (1u << 20)

struct llm_reader {
    int fd;
    char *name;
    int seekable;              /* a regular file: read with pread at `pos` */
    uint64_t pos;              /* file offset of the next byte to read into `in` */

    llm_header header;         /* the first segment's */
    llm_header merged;         /* plus the provenance of later segments */
    ZSTD_DCtx *dctx;

    uint8_t *in;               /* unread input is in[in_start..in_end) */
    size_t in_cap, in_start, in_end;
    uint64_t in_offset;        /* stream offset of in[in_start] */
    int eof;

    uint8_t *frame;            /* the current data frame, decompressed */
    size_t frame_cap, frame_len, frame_pos;
    uint64_t frame_offset;
    uint32_t frame_records, frame_tokens;
    uint8_t *mask;             /* the current record's mask, one byte per token */
    size_t mask_cap;

    /* The segment being read, to hold its index against. `counted` is 0 after a seek
     * into the middle of a segment, when the counts no longer cover all of it. */
    uint64_t seg_start, seg_frames, seg_records, seg_tokens;
    int counted, closed, ledgered;
    XXH64_state_t *seg_entries;

    llm_ledger ledger;         /* of the segments read from their start, summed */
    uint64_t segments, ledgers;

    int failed;
    char err[512];
};

LLM_PRINTF(2, 3)
static int fail(llm_reader *r, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof r->err, "%s: ", r->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
    r->failed = 1;
    return -1;
}

/* ---- input ------------------------------------------------------------------------ */

static size_t avail(const llm_reader *r) { return r->in_end - r->in_start; }
static const uint8_t *cursor(const llm_reader *r) { return r->in + r->in_start; }

static void consume(llm_reader *r, size_t n)
{
    r->in_start += n;
    r->in_offset += n;
}

/* Buffers at least `need` unread bytes unless the input ends first. Returns the bytes
 * buffered (fewer than need only at end of input), or -1 on a read error. */
static ssize_t fill(llm_reader *r, size_t need)
{
    while (avail(r) < need && !r->eof) {
        if (r->in_start > 0) {
            memmove(r->in, r->in + r->in_start, avail(r));
            r->in_end -= r->in_start;
            r->in_start = 0;
        }
        size_t want = need > INPUT_CHUNK ? need : INPUT_CHUNK;
        if (llm_grow(&r->in, &r->in_cap, want) < 0)
            return fail(r, "out of memory");
        size_t room = r->in_cap - r->in_end;
        ssize_t k = r->seekable ? pread(r->fd, r->in + r->in_end, room, (off_t)r->pos)
                                : read(r->fd, r->in + r->in_end, room);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail(r, "read error at byte offset %" PRIu64 ": %s", r->in_offset + avail(r),
                        strerror(errno));
        }
        if (k == 0)
            r->eof = 1;
        r->in_end += (size_t)k;
        r->pos += (uint64_t)k;
    }
    return (ssize_t)avail(r);
}

static void drop_input(llm_reader *r, uint64_t offset)
{
    r->in_start = r->in_end = 0;
    r->in_offset = r->pos = offset;
    r->eof = 0;
    r->frame_len = r->frame_pos = 0;
}

/* ---- frames ----------------------------------------------------------------------- */

/* Buffers the whole skippable frame of `size` payload bytes at the cursor. 0, or -1 when the
 * input ends first or cannot be read. */
static int fill_frame(llm_reader *r, uint32_t size, const char *what)
{
    ssize_t got = fill(r, LLM_SKIPPABLE_HEAD + (size_t)size);
    if (got < 0)
        return -1;
    if ((size_t)got < LLM_SKIPPABLE_HEAD + (size_t)size)
        return fail(r, "truncated %s frame at byte offset %" PRIu64, what, r->in_offset);
    return 0;
}

static int parse_header_payload(llm_reader *r, const uint8_t *p, size_t n, uint64_t at, llm_header *out)
{
    llm_error e;
    if (n < LLM_HEADER_PREFIX || memcmp(p, LLM_HEADER_TAG, 4) != 0)
        return fail(r, "corrupt header frame at byte offset %" PRIu64, at);
    if (llm_checksum32(p + LLM_HEADER_PREFIX, n - LLM_HEADER_PREFIX) != llm_load32(p + 4))
        return fail(r, "header checksum mismatch at byte offset %" PRIu64, at);
    if (llm_header_from_json(out, (const char *)p + LLM_HEADER_PREFIX, n - LLM_HEADER_PREFIX, &e) < 0)
        return fail(r, "bad header at byte offset %" PRIu64 ": %s", at, e.msg);
    return 0;
}

static void start_segment(llm_reader *r, uint64_t at)
{
    r->seg_start = at;
    r->seg_frames = r->seg_records = r->seg_tokens = 0;
    r->counted = 1;
    r->closed = r->ledgered = 0;
    r->segments++;
    XXH64_reset(r->seg_entries, 0);
}

/* A header frame of `size` payload bytes is at the cursor. The first one defines the
 * stream; later ones (concatenated streams) must describe the same data. */
static int read_header_frame(llm_reader *r, uint32_t size, int first)
{
    uint64_t at = r->in_offset;
    if (size > LLM_HEADER_MAX + LLM_HEADER_PREFIX)
        return fail(r, "header frame of %" PRIu32 " bytes at byte offset %" PRIu64 " is above the limit",
                    size, at);
    if (fill_frame(r, size, "header") < 0)
        return -1;
    llm_header h;
    if (parse_header_payload(r, cursor(r) + LLM_SKIPPABLE_HEAD, size, at, &h) < 0)
        return -1;
    int rc = 0;
    char why[256];
    if (first) {
        r->header = h;
        if (llm_header_copy(&r->merged, &h) < 0)
            rc = fail(r, "out of memory");
        start_segment(r, at);
    } else if (!llm_header_compatible(&r->header, &h, why, sizeof why)) {
        rc = fail(r, "the stream concatenated at byte offset %" PRIu64 " does not match the first: %s",
                  at, why);
    } else {
        if (llm_header_merge_provenance(&r->merged, &h) < 0)
            rc = fail(r, "out of memory");
        start_segment(r, at);
    }
    if (!first)
        llm_header_free(&h);
    consume(r, LLM_SKIPPABLE_HEAD + (size_t)size);
    return rc;
}

/* Checks a ledger frame's payload and parses its JSON into *out. */
static int parse_ledger_payload(llm_reader *r, const uint8_t *p, size_t n, uint64_t at, llm_ledger *out)
{
    llm_error e;
    if (n < LLM_LEDGER_FOOTER || memcmp(p + n - 4, LLM_LEDGER_TAG, 4) != 0 ||
        llm_load32(p + n - LLM_LEDGER_FOOTER) != n - LLM_LEDGER_FOOTER)
        return fail(r, "corrupt ledger frame at byte offset %" PRIu64, at);
    size_t json = n - LLM_LEDGER_FOOTER;
    if (llm_checksum32(p, json) != llm_load32(p + json + 4))
        return fail(r, "ledger checksum mismatch at byte offset %" PRIu64, at);
    if (llm_ledger_from_json(out, (const char *)p, json, &e) < 0)
        return fail(r, "bad ledger at byte offset %" PRIu64 ": %s", at, e.msg);
    return 0;
}

/* A ledger frame ends a segment's data; it is summed into the reader's ledger when the
 * whole segment was read, and only checked after a seek into it. */
static int read_ledger_frame(llm_reader *r, uint32_t size)
{
    uint64_t at = r->in_offset;
    if (r->closed || r->ledgered)
        return fail(r, "unexpected ledger frame at byte offset %" PRIu64, at);
    if (size > LLM_HEADER_MAX + LLM_LEDGER_FOOTER)
        return fail(r, "ledger frame of %" PRIu32 " bytes at byte offset %" PRIu64 " is above the limit", size, at);
    if (fill_frame(r, size, "ledger") < 0)
        return -1;
    llm_ledger l;
    llm_ledger_init(&l);
    int rc = parse_ledger_payload(r, cursor(r) + LLM_SKIPPABLE_HEAD, size, at, &l);
    if (rc == 0 && r->counted) {
        if (llm_ledger_merge(&r->ledger, &l) < 0)
            rc = fail(r, "out of memory");
        r->ledgers++;
    }
    llm_ledger_free(&l);
    r->ledgered = 1;
    consume(r, LLM_SKIPPABLE_HEAD + (size_t)size);
    return rc;
}

/* An index frame ends a segment. Its entries are hashed as they stream past and compared
 * with the hash of the entries this reader derived from the frames it read, so memory stays
 * constant however long the index is. */
static int read_index_frame(llm_reader *r, uint32_t size)
{
    uint64_t at = r->in_offset;
    if (size < LLM_INDEX_FOOTER || (size - LLM_INDEX_FOOTER) % LLM_INDEX_ENTRY != 0)
        return fail(r, "corrupt index frame at byte offset %" PRIu64 " (size %" PRIu32 ")", at, size);
    consume(r, LLM_SKIPPABLE_HEAD);
    XXH64_state_t *all = XXH64_createState(), *entries = XXH64_createState();
    int rc = -1;
    if (!all || !entries) {
        fail(r, "out of memory");
        goto out;
    }
    XXH64_reset(all, 0);
    XXH64_reset(entries, 0);
    for (size_t left = size - LLM_INDEX_FOOTER; left > 0;) {
        ssize_t got = fill(r, left < INPUT_CHUNK ? left : INPUT_CHUNK);
        if (got <= 0) {
            if (got == 0)
                fail(r, "truncated index frame at byte offset %" PRIu64, at);
            goto out;
        }
        size_t n = (size_t)got < left ? (size_t)got : left;
        XXH64_update(all, cursor(r), n);
        XXH64_update(entries, cursor(r), n);
        consume(r, n);
        left -= n;
    }
    if (fill(r, LLM_INDEX_FOOTER) < (ssize_t)LLM_INDEX_FOOTER) {
        if (!r->failed)
            fail(r, "truncated index frame at byte offset %" PRIu64, at);
        goto out;
    }
    const uint8_t *f = cursor(r);
    XXH64_update(all, f, 28);
    if (memcmp(f + 32, LLM_INDEX_TAG, 4) != 0 || (uint32_t)XXH64_digest(all) != llm_load32(f + 28) ||
        llm_load32(f + 24) != (size - LLM_INDEX_FOOTER) / LLM_INDEX_ENTRY) {
        fail(r, "index checksum mismatch at byte offset %" PRIu64, at);
        goto out;
    }
    if (r->counted &&
        (llm_load64(f) != at - r->seg_start || llm_load64(f + 8) != r->seg_records ||
         llm_load64(f + 16) != r->seg_tokens || llm_load32(f + 24) != r->seg_frames ||
         XXH64_digest(entries) != XXH64_digest(r->seg_entries))) {
        fail(r, "the index at byte offset %" PRIu64 " does not match the data before it "
                "(index: %" PRIu64 " records, data: %" PRIu64 ")", at, llm_load64(f + 8), r->seg_records);
        goto out;
    }
    consume(r, LLM_INDEX_FOOTER);
    r->closed = 1;
    rc = 0;
out:
    XXH64_freeState(all);
    XXH64_freeState(entries);
    return rc;
}

/* Checks every record of the decompressed frame so that next() can hand them out without
 * further checks; counts them for the index comparison. */
static int validate_frame(llm_reader *r, uint32_t *records, uint64_t *tokens)
{
    const uint8_t *p = r->frame, *end = r->frame + r->frame_len;
    const int width = r->header.token_bytes;
    const uint32_t vocab = r->header.vocab_size;
    uint32_t count = 0;
    uint64_t total = 0;
#define BAD(...) do { char why_[160]; snprintf(why_, sizeof why_, __VA_ARGS__);                   \
        return fail(r, "corrupt record %" PRIu32 " in the frame at byte offset %" PRIu64 ": %s", \
                    count, r->frame_offset, why_); } while (0)
    while (p < end) {
        if ((size_t)(end - p) < LLM_RECORD_HEAD)
            BAD("record header cut short");
        uint32_t n = llm_load32(p), flags = llm_load32(p + 4);
        p += LLM_RECORD_HEAD;
        if (flags & ~(LLM_RECORD_HAS_MASK | LLM_RECORD_HAS_BOUNDS))
            BAD("unknown flags 0x%" PRIx32, flags);
        size_t tb = (size_t)n * width;
        if (n > LLM_RECORD_MAX_TOKENS || llm_pad4(tb) > (size_t)(end - p))
            BAD("%" PRIu32 " tokens do not fit the frame", n);
        uint32_t max = width == 2 ? llm_max_u16((const uint16_t *)p, n) : llm_max_u32((const uint32_t *)p, n);
        if (n && max >= vocab)
            BAD("token id %" PRIu32 " is not below the vocabulary size %" PRIu32, max, vocab);
        for (size_t i = tb; i < llm_pad4(tb); i++)
            if (p[i])
                BAD("nonzero padding");
        p += llm_pad4(tb);
        if (flags & LLM_RECORD_HAS_MASK) {
            size_t mb = ((size_t)n + 7) / 8;
            if (llm_pad4(mb) > (size_t)(end - p))
                BAD("mask does not fit the frame");
            if ((n & 7) && (p[mb - 1] >> (n & 7)))
                BAD("mask bits past the last token");
            for (size_t i = mb; i < llm_pad4(mb); i++)
                if (p[i])
                    BAD("nonzero padding");
            p += llm_pad4(mb);
        }
        if (flags & LLM_RECORD_HAS_BOUNDS) {
            if ((size_t)(end - p) < 4)
                BAD("document starts cut short");
            uint32_t nb = llm_load32(p);
            if (nb == 0 || nb > n || 4 * (size_t)nb > (size_t)(end - p) - 4)
                BAD("%" PRIu32 " document starts do not fit", nb);
            const uint32_t *b = (const uint32_t *)(p + 4);
            for (uint32_t i = 0; i < nb; i++)
                if (b[i] >= n || (i && b[i] <= b[i - 1]))
                    BAD("document starts must ascend and lie below %" PRIu32, n);
            p += 4 + 4 * (size_t)nb;
        }
        count++;
        total += n;
        if (count == 0)
            BAD("too many records");
    }
#undef BAD
    *records = count;
    *tokens = total;
    return 0;
}

/* A zstd frame is at the cursor: buffer it whole, decompress it in one call (which also
 * verifies its checksum) and validate its records. */
static int read_data_frame(llm_reader *r)
{
    uint64_t at = r->in_offset;
    /* The longest zstd frame header: magic, descriptor, window, dictionary id, size. */
    enum { FRAME_HEADER_MAX = 18 };
    ssize_t got = fill(r, FRAME_HEADER_MAX);
    if (got < 0)
        return -1;
    unsigned long long declared = ZSTD_getFrameContentSize(cursor(r), (size_t)got);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return fail(r, (size_t)got < FRAME_HEADER_MAX ? "truncated zstd frame header at byte offset %" PRIu64
                                                      : "corrupt zstd frame header at byte offset %" PRIu64, at);
    /* Frame header descriptor (RFC 8878 3.1.1.1.1): bit 2 content checksum, bits 0-1 dictionary. */
    uint8_t descriptor = cursor(r)[4];
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || !(descriptor & 4) || (descriptor & 3))
        return fail(r, "the zstd frame at byte offset %" PRIu64
                       " was not written by llm-stream (no content size or checksum)", at);
    if (declared > LLM_FRAME_MAX_CONTENT)
        return fail(r, "the frame at byte offset %" PRIu64 " claims %llu bytes, above the limit of %u",
                    at, declared, LLM_FRAME_MAX_CONTENT);
    size_t content = (size_t)declared;
    size_t bound = ZSTD_compressBound(content) + FRAME_HEADER_MAX + 4;
    size_t csize;
    for (;;) {
        csize = ZSTD_findFrameCompressedSize(cursor(r), avail(r));
        if (!ZSTD_isError(csize))
            break;
        if (ZSTD_getErrorCode(csize) != ZSTD_error_srcSize_wrong)
            return fail(r, "corrupt zstd frame at byte offset %" PRIu64 ": %s", at, ZSTD_getErrorName(csize));
        size_t before = avail(r);
        if (before >= bound)
            return fail(r, "corrupt zstd frame at byte offset %" PRIu64 ": larger than its content allows", at);
        got = fill(r, before * 2 < bound ? before * 2 : bound);
        if (got < 0)
            return -1;
        if ((size_t)got == before)
            return fail(r, "truncated stream: the zstd frame at byte offset %" PRIu64 " is cut short at %" PRIu64,
                        at, at + before);
    }
    if (llm_grow(&r->frame, &r->frame_cap, content ? content : 1) < 0)
        return fail(r, "out of memory");
    size_t out = ZSTD_decompressDCtx(r->dctx, r->frame, content, cursor(r), csize);
    if (ZSTD_isError(out) || out != content)
        return fail(r, "corrupt zstd frame at byte offset %" PRIu64 ": %s", at,
                    ZSTD_isError(out) ? ZSTD_getErrorName(out) : "wrong content size");
    consume(r, csize);
    r->frame_offset = at;
    r->frame_len = content;
    r->frame_pos = 0;
    uint32_t records;
    uint64_t tokens;
    if (validate_frame(r, &records, &tokens) < 0)
        return -1;
    uint8_t entry[LLM_INDEX_ENTRY];
    llm_store64(entry, at - r->seg_start);
    llm_store32(entry + 8, records);
    llm_store32(entry + 12, (uint32_t)tokens);
    XXH64_update(r->seg_entries, entry, sizeof entry);
    r->frame_records = records;
    r->frame_tokens = (uint32_t)tokens;
    r->seg_frames++;
    r->seg_records += records;
    r->seg_tokens += tokens;
    return 1;
}

/* Moves to the next data frame, through any header and index frames on the way.
 * Returns 1, 0 at a clean end of input, -1 on error. */
static int next_frame(llm_reader *r)
{
    for (;;) {
        ssize_t got = fill(r, LLM_SKIPPABLE_HEAD);
        if (got < 0)
            return -1;
        if (got == 0)
            return 0;
        if (got < 4)
            return fail(r, "truncated stream: %zd stray bytes at byte offset %" PRIu64, got, r->in_offset);
        uint32_t magic = llm_load32(cursor(r));
        if (magic == LLM_MAGIC_ZSTD) {
            if (r->closed || r->ledgered)
                return fail(r, "data frame after the %s at byte offset %" PRIu64 " (missing header)",
                            r->closed ? "index" : "ledger", r->in_offset);
            return read_data_frame(r);
        }
        if ((magic & LLM_MAGIC_SKIPPABLE_MASK) != LLM_MAGIC_SKIPPABLE)
            return fail(r, "not an llm-stream frame at byte offset %" PRIu64 " (magic 0x%08" PRIx32 ")",
                        r->in_offset, magic);
        if (got < LLM_SKIPPABLE_HEAD)
            return fail(r, "truncated frame at byte offset %" PRIu64, r->in_offset);
        uint32_t size = llm_load32(cursor(r) + 4);
        int rc;
        if (magic == LLM_MAGIC_HEADER)
            rc = read_header_frame(r, size, 0);
        else if (magic == LLM_MAGIC_INDEX && !r->closed)
            rc = read_index_frame(r, size);
        else if (magic == LLM_MAGIC_LEDGER)
            rc = read_ledger_frame(r, size);
        else
            rc = fail(r, "unexpected %s frame at byte offset %" PRIu64,
                      magic == LLM_MAGIC_INDEX ? "second index" : "skippable", r->in_offset);
        if (rc < 0)
            return -1;
    }
}

/* ---- public API ------------------------------------------------------------------- */

static llm_reader *reader_new(int fd, const char *name, uint64_t start, int seekable)
{
    llm_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = fd;
    r->seekable = seekable;
    r->pos = r->in_offset = start;
    r->name = strdup(name && strcmp(name, "-") ? name : "(stdin)");
    r->dctx = ZSTD_createDCtx();
    r->seg_entries = XXH64_createState();
    llm_ledger_init(&r->ledger);
    if (!r->name || !r->dctx || !r->seg_entries || llm_header_init(&r->header) < 0 ||
        llm_header_init(&r->merged) < 0) {
        llm_reader_free(r);
        return NULL;
    }
    return r;
}

/* Reads the first header at the cursor, naming what the input is when it is not a stream. */
static int open_stream(llm_reader *r)
{
    ssize_t got = fill(r, LLM_SKIPPABLE_HEAD);
    if (got < 0)
        return -1;
    if (got == 0)
        return fail(r, "empty input, not an llm-stream");
    uint32_t magic = got >= 4 ? llm_load32(cursor(r)) : 0;
    if (magic == LLM_MAGIC_ZSTD)
        return fail(r, "zstd data without an llm-stream header at byte offset %" PRIu64, r->in_offset);
    if (magic != LLM_MAGIC_HEADER)
        return fail(r, "not an llm-stream (no header at byte offset %" PRIu64 ")", r->in_offset);
    if (got < LLM_SKIPPABLE_HEAD)
        return fail(r, "truncated header frame at byte offset %" PRIu64, r->in_offset);
    llm_header_free(&r->header);
    llm_header_free(&r->merged);
    return read_header_frame(r, llm_load32(cursor(r) + 4), 1);
}

llm_reader *llm_reader_open(int fd, const char *name, llm_error *err)
{
    struct stat st;
    off_t start = lseek(fd, 0, SEEK_CUR);
    int seekable = start >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    llm_reader *r = reader_new(fd, name, seekable ? (uint64_t)start : 0, seekable);
    if (!r) {
        llm_error_set(err, "out of memory");
        return NULL;
    }
    if (open_stream(r) < 0) {
        llm_error_set(err, "%s", r->err);
        llm_reader_free(r);
        return NULL;
    }
    return r;
}

void llm_reader_free(llm_reader *r)
{
    if (!r)
        return;
    /* Leave a seekable fd where reading stopped, as a program reading it would expect. */
    if (r->seekable && !r->failed)
        lseek(r->fd, (off_t)r->in_offset, SEEK_SET);
    ZSTD_freeDCtx(r->dctx);
    XXH64_freeState(r->seg_entries);
    llm_header_free(&r->header);
    llm_header_free(&r->merged);
    llm_ledger_free(&r->ledger);
    free(r->in);
    free(r->frame);
    free(r->mask);
    free(r->name);
    free(r);
}

const llm_header *llm_reader_header(const llm_reader *r) { return &r->header; }
const llm_header *llm_reader_merged_header(const llm_reader *r) { return &r->merged; }
const llm_ledger *llm_reader_ledger(const llm_reader *r) { return &r->ledger; }
uint64_t llm_reader_segments(const llm_reader *r) { return r->segments; }
uint64_t llm_reader_ledgers(const llm_reader *r) { return r->ledgers; }
const char *llm_reader_error(const llm_reader *r) { return r->err; }
uint64_t llm_reader_offset(const llm_reader *r) { return r->in_offset; }

int llm_reader_next(llm_reader *r, llm_record *rec)
{
    if (r->failed)
        return -1;
    while (r->frame_pos >= r->frame_len) {
        int rc = next_frame(r);
        if (rc <= 0)
            return rc;
    }
    /* validate_frame has checked every offset used here. */
    const uint8_t *p = r->frame + r->frame_pos;
    uint32_t n = llm_load32(p), flags = llm_load32(p + 4);
    p += LLM_RECORD_HEAD;
    rec->n_tokens = n;
    rec->token_bytes = r->header.token_bytes;
    rec->tokens = p;
    p += llm_pad4((size_t)n * rec->token_bytes);
    rec->mask = NULL;
    if (flags & LLM_RECORD_HAS_MASK) {
        if (llm_grow(&r->mask, &r->mask_cap, n ? n : 1) < 0)
            return fail(r, "out of memory");
        for (size_t i = 0; i < n; i++)
            r->mask[i] = (p[i >> 3] >> (i & 7)) & 1;
        rec->mask = r->mask;
        p += llm_pad4(((size_t)n + 7) / 8);
    }
    rec->n_bounds = 0;
    rec->bounds = NULL;
    if (flags & LLM_RECORD_HAS_BOUNDS) {
        rec->n_bounds = llm_load32(p);
        rec->bounds = (const uint32_t *)(p + 4);
        p += 4 + 4 * (size_t)rec->n_bounds;
    }
    r->frame_pos = (size_t)(p - r->frame);
    return 1;
}

/* ---- random access ---------------------------------------------------------------- */

void llm_index_free(llm_index *idx)
{
    if (!idx)
        return;
    free(idx->frames);
    idx->frames = NULL;
    idx->n_frames = 0;
}

static int pread_all(llm_reader *r, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(r->fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return fail(r, "read error at byte offset %" PRIu64 ": %s", off + done, strerror(errno));
        if (k == 0)
            return fail(r, "unexpected end of file at byte offset %" PRIu64, off + done);
        done += (size_t)k;
    }
    return 0;
}

static int append_frame(llm_index *idx, size_t *cap, uint64_t offset, uint32_t records, uint32_t tokens)
{
    if (idx->n_frames == *cap) {
        size_t n = *cap ? *cap * 2 : 64;
        llm_frame_info *f = realloc(idx->frames, n * sizeof *f);
        if (!f)
            return -1;
        idx->frames = f;
        *cap = n;
    }
    llm_frame_info *f = &idx->frames[idx->n_frames++];
    f->offset = offset;
    f->first_record = idx->records;
    f->records = records;
    f->tokens = tokens;
    idx->records += records;
    idx->tokens += tokens;
    return 0;
}

/* Builds the index by reading the whole file with a second reader, leaving r's position. */
static int scan_index(llm_reader *r, llm_index *out)
{
    llm_reader *s = reader_new(r->fd, r->name, 0, 1);
    size_t cap = 0;
    int rc = -1;
    if (!s)
        return fail(r, "out of memory");
    if (open_stream(s) < 0)
        goto out;
    for (;;) {
        int k = next_frame(s);
        if (k < 0)
            goto out;
        if (k == 0)
            break;
        if (append_frame(out, &cap, s->frame_offset, s->frame_records, s->frame_tokens) < 0) {
            fail(s, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "%s", s->err);
        llm_index_free(out);
    }
    s->failed = 1;   /* keep the fd offset alone */
    llm_reader_free(s);
    return rc;
}

/* One indexed segment, found from its end. */
typedef struct segment {
    uint64_t start, index_at;
    uint8_t *payload;      /* entries + footer, owned */
    uint32_t entries;
    llm_header header;     /* the segment's own, owned */
} segment;

/* Reads the index that ends at `end` and the header that opens its segment. Returns 1 and
 * fills seg, 0 when no index ends there, -1 when one does but it is corrupt or belongs to an
 * incompatible stream. */
static int read_segment_index(llm_reader *r, uint64_t end, segment *seg)
{
    uint8_t foot[LLM_INDEX_FOOTER], head[LLM_SKIPPABLE_HEAD];
    if (end < LLM_SKIPPABLE_HEAD + LLM_INDEX_FOOTER || pread_all(r, foot, sizeof foot, end - sizeof foot) < 0)
        return r->failed ? -1 : 0;
    if (memcmp(foot + 32, LLM_INDEX_TAG, 4) != 0)
        return 0;
    uint64_t entries = llm_load32(foot + 24);
    uint64_t size = entries * LLM_INDEX_ENTRY + LLM_INDEX_FOOTER;
    if (size + LLM_SKIPPABLE_HEAD > end)
        return fail(r, "corrupt index ending at byte offset %" PRIu64, end);
    uint64_t at = end - size - LLM_SKIPPABLE_HEAD;
    if (pread_all(r, head, sizeof head, at) < 0)
        return -1;
    if (llm_load32(head) != LLM_MAGIC_INDEX || llm_load32(head + 4) != size)
        return fail(r, "corrupt index frame at byte offset %" PRIu64, at);
    uint8_t *p = malloc(size);
    if (!p)
        return fail(r, "out of memory");
    if (pread_all(r, p, size, at + LLM_SKIPPABLE_HEAD) < 0 ||
        llm_checksum32(p, size - 8) != llm_load32(p + size - 8) || llm_load64(p + size - LLM_INDEX_FOOTER) > at) {
        free(p);
        return r->failed ? -1 : fail(r, "index checksum mismatch at byte offset %" PRIu64, at);
    }
    seg->index_at = at;
    seg->start = at - llm_load64(p + size - LLM_INDEX_FOOTER);
    seg->payload = p;
    seg->entries = (uint32_t)entries;

    /* The segment must open with a header that fits the one this reader follows. */
    uint8_t *hp = NULL;
    llm_header h;
    char why[256];
    int rc = -1;
    if (pread_all(r, head, sizeof head, seg->start) < 0)
        goto out;
    uint32_t hsize = llm_load32(head + 4);
    if (llm_load32(head) != LLM_MAGIC_HEADER || hsize > LLM_HEADER_MAX + LLM_HEADER_PREFIX) {
        fail(r, "the index at byte offset %" PRIu64 " points to no header at %" PRIu64, at, seg->start);
        goto out;
    }
    if (!(hp = malloc(hsize ? hsize : 1))) {
        fail(r, "out of memory");
        goto out;
    }
    if (pread_all(r, hp, hsize, seg->start + LLM_SKIPPABLE_HEAD) < 0 ||
        parse_header_payload(r, hp, hsize, seg->start, &h) < 0)
        goto out;
    if (llm_header_compatible(&r->header, &h, why, sizeof why)) {
        seg->header = h;
        rc = 1;
    } else {
        fail(r, "the stream concatenated at byte offset %" PRIu64 " does not match the first: %s",
             seg->start, why);
        llm_header_free(&h);
    }
out:
    free(hp);
    if (rc < 0) {
        free(p);
        seg->payload = NULL;
    }
    return rc;
}

static void free_segments(segment *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(segs[i].payload);
        llm_header_free(&segs[i].header);
    }
    free(segs);
}

/* Follows indexes from the end of the file back to its start: *n segments, last first, in
 * *out (free_segments). Returns 0 when they cover the file, 1 when the walk met a part with
 * no index (the segments after it are kept) or the input is not a file, -1 on error (none
 * kept). */
static int find_segments(llm_reader *r, segment **out, size_t *n)
{
    struct stat st;
    *out = NULL;
    *n = 0;
    if (r->failed)
        return -1;
    if (!r->seekable || fstat(r->fd, &st) < 0)
        return 1;
    size_t cap = 0;
    for (uint64_t end = (uint64_t)st.st_size; end > 0;) {
        if (llm_grow(out, &cap, (*n + 1) * sizeof **out) < 0) {
            fail(r, "out of memory");
            break;
        }
        int k = read_segment_index(r, end, &(*out)[*n]);
        if (k == 0)
            return 1;
        if (k < 0)
            break;
        end = (*out)[(*n)++].start;
    }
    if (!r->failed)
        return 0;
    free_segments(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

/* The frames of every segment, in file order. Returns 0 with *out filled, 1 when some part
 * of the file has no index, -1 on error. */
static int chain_index(llm_reader *r, llm_index *out)
{
    segment *segs;
    size_t n, frames_cap = 0;
    int rc = find_segments(r, &segs, &n);
    for (size_t i = n; rc == 0 && i-- > 0;) {
        const segment *s = &segs[i];
        uint64_t prev = 0;
        for (uint32_t e = 0; rc == 0 && e < s->entries; e++) {
            const uint8_t *p = s->payload + (size_t)e * LLM_INDEX_ENTRY;
            uint64_t off = llm_load64(p);
            if (off <= prev || s->start + off >= s->index_at)
                rc = fail(r, "corrupt index at byte offset %" PRIu64 ": frame offsets out of order", s->index_at);
            else if (append_frame(out, &frames_cap, s->start + off, llm_load32(p + 8), llm_load32(p + 12)) < 0)
                rc = fail(r, "out of memory");
            prev = off;
        }
    }
    free_segments(segs, n);
    if (rc != 0)
        llm_index_free(out);
    return rc;
}

int llm_reader_load_index(llm_reader *r, int scan, llm_index *out)
{
    memset(out, 0, sizeof *out);
    if (r->failed)
        return -1;
    if (!r->seekable) {
        snprintf(r->err, sizeof r->err, "%s: not a regular file, so it has no index", r->name);
        return 1;
    }
    int rc = chain_index(r, out);
    if (rc == 1 && scan)
        rc = scan_index(r, out);
    else if (rc == 1)
        snprintf(r->err, sizeof r->err, "%s: some part of the file has no index", r->name);
    if (rc < 0)
        r->failed = 1;
    return rc;
}

/* Reads the ledger frame that ends at `end` (where a segment's index starts). Returns 1 with
 * *out filled, 0 when there is none, -1 when there is one but it is corrupt. */
static int read_segment_ledger(llm_reader *r, uint64_t start, uint64_t end, llm_ledger *out)
{
    uint8_t foot[LLM_LEDGER_FOOTER], head[LLM_SKIPPABLE_HEAD];
    if (end < start + LLM_SKIPPABLE_HEAD + LLM_LEDGER_FOOTER || pread_all(r, foot, sizeof foot, end - sizeof foot) < 0)
        return r->failed ? -1 : 0;
    uint64_t size = (uint64_t)llm_load32(foot) + LLM_LEDGER_FOOTER;
    if (memcmp(foot + 8, LLM_LEDGER_TAG, 4) != 0 || size + LLM_SKIPPABLE_HEAD > end - start)
        return 0;
    uint64_t at = end - size - LLM_SKIPPABLE_HEAD;
    if (pread_all(r, head, sizeof head, at) < 0)
        return -1;
    if (llm_load32(head) != LLM_MAGIC_LEDGER || llm_load32(head + 4) != size)
        return 0;    /* the tag's bytes were the end of a data frame */
    if (size > LLM_HEADER_MAX + LLM_LEDGER_FOOTER)
        return fail(r, "ledger frame of %" PRIu64 " bytes at byte offset %" PRIu64 " is above the limit", size, at);
    uint8_t *p = malloc(size);
    if (!p)
        return fail(r, "out of memory");
    int rc = pread_all(r, p, size, at + LLM_SKIPPABLE_HEAD) < 0 || parse_ledger_payload(r, p, size, at, out) < 0 ? -1 : 1;
    free(p);
    return rc;
}

int llm_reader_load_ledger(llm_reader *r, llm_ledger *out)
{
    llm_ledger_free(out);
    /* Segments are found from the end; their ledgers are summed from the start. */
    segment *segs;
    size_t n;
    int rc = find_segments(r, &segs, &n), missing = rc == 1;
    for (size_t i = n; rc >= 0 && i-- > 0;) {
        llm_ledger l;
        llm_ledger_init(&l);
        int k = read_segment_ledger(r, segs[i].start, segs[i].index_at, &l);
        if (k < 0)
            rc = -1;
        else if (llm_ledger_merge(out, &l) < 0)
            rc = fail(r, "out of memory");
        missing |= k == 0;
        llm_ledger_free(&l);
    }
    free_segments(segs, n);
    if (rc < 0)
        r->failed = 1;
    return rc < 0 ? -1 : missing;
}

int llm_reader_load_provenance(llm_reader *r)
{
    /* Segments are found from the end; their steps are merged from the start. */
    segment *segs;
    size_t n;
    int rc = find_segments(r, &segs, &n);
    for (size_t i = n; rc >= 0 && i-- > 0;)
        if (llm_header_merge_provenance(&r->merged, &segs[i].header) < 0)
            rc = fail(r, "out of memory");
    free_segments(segs, n);
    return rc;
}

int llm_stream_ledger(int fd, const char *name, llm_ledger *out, uint64_t *unaccounted, llm_error *err)
{
    llm_reader *r = llm_reader_open(fd, name, err);
    if (!r)
        return -1;
    int rc = llm_reader_load_ledger(r, out);
    *unaccounted = 0;
    if (rc == 1) {
        /* Some part has no index or no ledger: read it all, meeting every ledger frame. */
        llm_record rec;
        while ((rc = llm_reader_next(r, &rec)) > 0)
            ;
        if (rc == 0 && llm_ledger_copy(out, &r->ledger) < 0)
            rc = fail(r, "out of memory");
        *unaccounted = r->segments - r->ledgers;
    }
    if (rc < 0)
        llm_error_set(err, "%s", r->err);
    llm_reader_free(r);
    return rc < 0 ? -1 : 0;
}

int llm_reader_seek(llm_reader *r, const llm_index *idx, size_t i)
{
    if (r->failed)
        return -1;
    if (!r->seekable)
        return fail(r, "cannot seek: not a regular file");
    if (i >= idx->n_frames)
        return fail(r, "frame %zu is past the last of %zu", i, idx->n_frames);
    drop_input(r, idx->frames[i].offset);
    /* The segment's first frames were not read: its index can no longer be checked. */
    r->counted = 0;
    r->closed = r->ledgered = 0;
    return 0;
}
