/* The stream library's benchmark driver (bench/run.sh times it against the zstd CLI):
 * generates token data that compresses like real tokenized text, writes and reads it back
 * through llm_writer/llm_reader, and checksums the raw file to prove the round trip. */
#include "cli.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_VOCAB 50257u          /* GPT-2's */
#define BENCH_EOS (BENCH_VOCAB - 1) /* <|endoftext|> ends every generated document */
#define IO_BYTES (1u << 20)         /* read/write chunk: memory stays bounded */

static const char usage_text[] =
    "Usage: stream_bench gen OUT.u16 SIZE_MIB SEED\n"
    "       stream_bench write RAW.u16 OUT.bin LEVEL BLOCK\n"
    "       stream_bench read IN.bin\n"
    "       stream_bench sum RAW.u16\n"
    "\n"
    "gen    writes SIZE_MIB MiB of little-endian u16 tokens shaped like tokenized text\n"
    "       (Zipf vocabulary of 50257 ids, common phrases, repeated spans, documents\n"
    "       ending in id 50256), the same bytes for the same SEED and libm.\n"
    "write  puts RAW's tokens through llm_writer as records of BLOCK tokens at zstd LEVEL.\n"
    "read   reads every record with llm_reader_next and checksums the tokens.\n"
    "sum    the checksum `read` prints, computed over a raw u16 file.\n"
    "\n"
    "Each prints one line of key=value: seconds, mb_s (10^6 bytes of raw tokens per\n"
    "second), peak_rss_kib (getrusage). Exit status: 0 ok, 1 error, 2 usage.\n";

/* ---- helpers ---------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Reads until n bytes or end of file. Returns the bytes read, or -1 with errno set. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = read(fd, (uint8_t *)buf + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* An order-sensitive checksum of the tokens: Fletcher's two sums (mod 2^64) over the
 * stream taken as 64-bit little-endian words of four u16 tokens, the last word padded with
 * zeros. Partial words carry over between calls, so records of 1024 tokens and raw reads
 * of 1 MiB give the same answer. Two adds per four tokens: cheap next to decompression,
 * yet every token is loaded and counted. */
typedef struct checksum {
    uint64_t a, b, tokens;
    uint64_t pending;    /* the tokens of an incomplete word */
    unsigned npending;
} checksum;

static void checksum_add(checksum *c, const uint16_t *t, size_t n)
{
    size_t i = 0;
    uint64_t a = c->a, b = c->b;
    for (; c->npending > 0 && i < n; i++) {
        c->pending |= (uint64_t)t[i] << (16 * c->npending);
        if (++c->npending == 4) {
            a += c->pending;
            b += a;
            c->pending = 0;
            c->npending = 0;
        }
    }
    /* Four words a step: b gains 4a + 4w0 + 3w1 + 2w2 + w3, the same as four single
     * steps, with a shorter chain of dependent adds. */
    const uint8_t *p = (const uint8_t *)(t + i);
    for (; i + 16 <= n; i += 16, p += 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        b += 4 * (a + w[0]) + 3 * w[1] + 2 * w[2] + w[3];
        a += (w[0] + w[1]) + (w[2] + w[3]);
    }
    for (; i + 4 <= n; i += 4, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        a += w;
        b += a;
    }
    for (; i < n; i++)
        c->pending |= (uint64_t)t[i] << (16 * c->npending++);
    c->a = a;
    c->b = b;
    c->tokens += n;
}

/* The checksum as 32 hex digits; c is left as it was. */
static void checksum_hex(const checksum *c, char out[33])
{
    uint64_t a = c->a, b = c->b;
    if (c->npending > 0) {
        a += c->pending;
        b += a;
    }
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, a, b);
}

static int open_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        llm_msg("%s: %s", path, strerror(errno));
    return fd;
}

static int open_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        llm_msg("%s: %s", path, strerror(errno));
    return fd;
}

/* ---- gen: synthetic tokenized text ------------------------------------------------ */

/* xoshiro256**, seeded through splitmix64: fast, and the same stream on every host. */
typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

static double rng_unit(rng *g) { return (double)(rng_next(g) >> 11) * 0x1p-53; }  /* [0, 1) */

/* Uniform in [0, n), by the multiply-shift method (n < 2^32). */
static uint32_t rng_below(rng *g, uint32_t n) { return (uint32_t)(((rng_next(g) >> 32) * n) >> 32); }

static double rng_normal(rng *g)
{
    double u = rng_unit(g), v = rng_unit(g);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* Walker's alias table: O(1) draws from a fixed discrete distribution. */
typedef struct alias_table {
    uint32_t n;
    uint32_t *threshold;  /* keep i when the low 32 random bits are below threshold[i] */
    uint32_t *alias;
} alias_table;

static void alias_free(alias_table *t)
{
    free(t->threshold);
    free(t->alias);
    t->threshold = t->alias = NULL;
}

/* Zipf-Mandelbrot weights 1 / (rank + q)^s over n ranks. Returns 0, or -1 out of memory. */
static int alias_zipf(alias_table *t, uint32_t n, double s, double q)
{
    double *p = malloc(n * sizeof *p);
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    t->n = n;
    t->threshold = malloc(n * sizeof *t->threshold);
    t->alias = malloc(n * sizeof *t->alias);
    int rc = -1;
    if (!p || !small || !large || !t->threshold || !t->alias)
        goto out;
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += p[i] = pow(i + 1 + q, -s);
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] *= n / total;          /* mean 1 */
        t->alias[i] = i;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t sm = small[--ns], lg = large[nl - 1];
        t->threshold[sm] = (uint32_t)(p[sm] * 4294967296.0);
        t->alias[sm] = lg;
        p[lg] -= 1.0 - p[sm];
        if (p[lg] < 1.0) {
            nl--;
            small[ns++] = lg;
        }
    }
    while (nl > 0)                   /* what rounding left: always kept */
        t->threshold[large[--nl]] = UINT32_MAX;
    while (ns > 0)
        t->threshold[small[--ns]] = UINT32_MAX;
    rc = 0;
out:
    free(p);
    free(small);
    free(large);
    if (rc < 0)
        alias_free(t);
    return rc;
}

static uint32_t alias_draw(const alias_table *t, rng *g)
{
    uint64_t r = rng_next(g);
    uint32_t i = (uint32_t)(((r >> 32) * t->n) >> 32);
    return (uint32_t)r < t->threshold[i] ? i : t->alias[i];
}

/* A BPE vocabulary numbers frequent tokens low, but only roughly: the id of frequency
 * rank r is the position of r after sorting ranks by log(r + 1) plus noise. */
typedef struct rank_key {
    double key;
    uint32_t rank;
} rank_key;

static int by_key(const void *a, const void *b)
{
    double x = ((const rank_key *)a)->key, y = ((const rank_key *)b)->key;
    return x < y ? -1 : x > y;
}

#define GEN_PHRASES 16384    /* common n-grams ("of the", names, boilerplate) */
#define GEN_PHRASE_MAX 8
#define GEN_HISTORY 65536    /* tokens a repeated span may be copied from (power of two) */

typedef struct generator {
    rng g;
    alias_table words, phrases;
    uint16_t *rank_to_id;                /* (BENCH_EOS) */
    uint16_t *phrase;                    /* (GEN_PHRASES, GEN_PHRASE_MAX) */
    uint8_t *phrase_len;                 /* (GEN_PHRASES) */
    uint16_t *history;                   /* ring of the last GEN_HISTORY tokens */
    uint64_t emitted;
    uint64_t doc_left;                   /* tokens before the next EOS */
    const uint16_t *run;                 /* a phrase or span being emitted */
    uint32_t run_left;
    uint64_t copy_from;                  /* history position while copying a span */
    int copying;
} generator;

static void generator_free(generator *gen)
{
    alias_free(&gen->words);
    alias_free(&gen->phrases);
    free(gen->rank_to_id);
    free(gen->phrase);
    free(gen->phrase_len);
    free(gen->history);
}

static uint16_t word(generator *gen) { return gen->rank_to_id[alias_draw(&gen->words, &gen->g)]; }

static int generator_init(generator *gen, uint64_t seed)
{
    memset(gen, 0, sizeof *gen);
    rng_seed(&gen->g, seed);
    rank_key *keys = malloc(BENCH_EOS * sizeof *keys);
    gen->rank_to_id = malloc(BENCH_EOS * sizeof *gen->rank_to_id);
    gen->phrase = malloc(GEN_PHRASES * GEN_PHRASE_MAX * sizeof *gen->phrase);
    gen->phrase_len = malloc(GEN_PHRASES);
    gen->history = calloc(GEN_HISTORY, sizeof *gen->history);
    int rc = -1;
    if (!keys || !gen->rank_to_id || !gen->phrase || !gen->phrase_len || !gen->history ||
        alias_zipf(&gen->words, BENCH_EOS, 1.0, 2.7) < 0 || alias_zipf(&gen->phrases, GEN_PHRASES, 1.1, 1.0) < 0)
        goto out;
    for (uint32_t r = 0; r < BENCH_EOS; r++) {
        keys[r].key = log(r + 1.0) + 0.8 * rng_normal(&gen->g);
        keys[r].rank = r;
    }
    qsort(keys, BENCH_EOS, sizeof *keys, by_key);
    for (uint32_t id = 0; id < BENCH_EOS; id++)
        gen->rank_to_id[keys[id].rank] = (uint16_t)id;
    for (uint32_t i = 0; i < GEN_PHRASES; i++) {
        gen->phrase_len[i] = (uint8_t)(2 + rng_below(&gen->g, GEN_PHRASE_MAX - 1));
        for (uint32_t j = 0; j < gen->phrase_len[i]; j++)
            gen->phrase[i * GEN_PHRASE_MAX + j] = word(gen);
    }
    rc = 0;
out:
    free(keys);
    if (rc < 0)
        generator_free(gen);
    return rc;
}

/* Documents of log-normal length (median ~400 tokens). Inside one, each step is a single
 * Zipf word (60%), a common phrase (32%), or a span of 8-63 tokens repeated from the
 * last GEN_HISTORY tokens (8%), the way quotes, names and boilerplate recur. */
static uint16_t generator_next(generator *gen)
{
    uint16_t t;
    if (gen->doc_left == 0) {
        double len = exp(6.0 + rng_normal(&gen->g));
        gen->doc_left = len < 16 ? 16 : len > 50000 ? 50000 : (uint64_t)len;
        gen->run_left = 0;
        t = BENCH_EOS;
    } else if (gen->run_left > 0) {
        gen->run_left--;
        gen->doc_left--;
        t = gen->copying ? gen->history[gen->copy_from++ & (GEN_HISTORY - 1)] : *gen->run++;
    } else {
        uint32_t u = rng_below(&gen->g, 1000);
        gen->doc_left--;
        if (u < 958) {
            t = word(gen);
        } else if (u < 996 || gen->emitted < GEN_HISTORY) {
            uint32_t p = alias_draw(&gen->phrases, &gen->g);
            gen->copying = 0;
            gen->run = gen->phrase + p * GEN_PHRASE_MAX;
            gen->run_left = gen->phrase_len[p] - 1;
            t = *gen->run++;
        } else {
            uint32_t len = 8 + rng_below(&gen->g, 56);
            uint64_t dist = len + rng_below(&gen->g, GEN_HISTORY - len);
            gen->copying = 1;
            gen->copy_from = gen->emitted - dist;
            gen->run_left = len - 1;
            t = gen->history[gen->copy_from++ & (GEN_HISTORY - 1)];
        }
    }
    gen->history[gen->emitted++ & (GEN_HISTORY - 1)] = t;
    return t;
}

static int cmd_gen(const char *path, uint64_t mib, uint64_t seed)
{
    generator gen;
    uint16_t *buf = malloc(IO_BYTES);
    int fd = -1, rc = LLM_EXIT_FAILURE;
    if (!buf || generator_init(&gen, seed) < 0) {
        llm_msg("out of memory");
        free(buf);
        return LLM_EXIT_FAILURE;
    }
    if ((fd = open_write(path)) < 0)
        goto out;
    double t0 = now_seconds();
    for (uint64_t chunk = 0; chunk < mib; chunk++) {
        for (size_t i = 0; i < IO_BYTES / 2; i++)
            buf[i] = generator_next(&gen);
        if (write_full(fd, buf, IO_BYTES) < 0) {
            llm_msg("%s: write error: %s", path, strerror(errno));
            goto out;
        }
    }
    if (close(fd) < 0) {
        fd = -1;
        llm_msg("%s: write error: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    double dt = now_seconds() - t0;
    printf("op=gen raw_bytes=%" PRIu64 " tokens=%" PRIu64 " seed=%" PRIu64 " seconds=%.3f mb_s=%.1f peak_rss_kib=%ld\n",
           mib * IO_BYTES, mib * IO_BYTES / 2, seed, dt, (double)(mib * IO_BYTES) / 1e6 / dt, peak_rss_kib());
    rc = LLM_EXIT_OK;
out:
    if (fd >= 0)
        close(fd);
    generator_free(&gen);
    free(buf);
    return rc;
}

/* ---- write, read, sum ------------------------------------------------------------- */

static int cmd_write(const char *raw_path, const char *out_path, int level, uint32_t block)
{
    size_t rec = 2 * (size_t)block, chunk = (IO_BYTES + rec - 1) / rec * rec;  /* whole records */
    uint8_t *buf = malloc(chunk);
    int in = -1, out = -1, rc = LLM_EXIT_FAILURE, header_ok = 0;
    llm_writer *w = NULL;
    llm_header h;
    llm_error e;
    if (!buf || llm_header_init(&h) < 0) {
        llm_msg("out of memory");
        free(buf);
        return LLM_EXIT_FAILURE;
    }
    header_ok = 1;
    h.kind = LLM_KIND_BLOCKS;
    h.token_bytes = 2;
    h.vocab_size = BENCH_VOCAB;
    h.block_size = block;
    h.eos_id = BENCH_EOS;
    if (llm_header_set_tokenizer(&h, "gpt2", "") < 0) {
        llm_msg("out of memory");
        goto out;
    }
    double t0 = now_seconds();
    if ((in = open_read(raw_path)) < 0 || (out = open_write(out_path)) < 0)
        goto out;
    llm_writer_opts opts = {.level = level, .frame_bytes = 0, .index = -1};
    if (!(w = llm_writer_open(out, &h, &opts, &e))) {
        llm_msg("%s: %s", out_path, e.msg);
        goto out;
    }
    uint64_t raw_bytes = 0;
    for (;;) {
        ssize_t got = read_full(in, buf, chunk);
        if (got < 0) {
            llm_msg("%s: read error: %s", raw_path, strerror(errno));
            goto out;
        }
        if (got & 1) {
            llm_msg("%s: not a u16 token file (odd length)", raw_path);
            goto out;
        }
        raw_bytes += (uint64_t)got;
        /* A last partial block goes out short rather than dropped, so the checksum of
         * the raw file still covers exactly what was written. */
        for (size_t off = 0; off < (size_t)got; off += rec) {
            size_t n = ((size_t)got - off) / 2 < block ? ((size_t)got - off) / 2 : block;
            llm_record r = {.n_tokens = (uint32_t)n, .token_bytes = 2, .tokens = buf + off};
            if (llm_writer_put(w, &r) < 0) {
                llm_msg("%s: %s", out_path, llm_writer_error(w));
                goto out;
            }
        }
        if ((size_t)got < chunk)
            break;
    }
    if (llm_writer_finish(w) < 0) {
        llm_msg("%s: %s", out_path, llm_writer_error(w));
        goto out;
    }
    uint64_t out_bytes = llm_writer_bytes(w), records = llm_writer_records(w);
    int fd = out;
    out = -1;
    if (close(fd) < 0) {
        llm_msg("%s: write error: %s", out_path, strerror(errno));
        goto out;
    }
    double dt = now_seconds() - t0;
    printf("op=write level=%d block=%" PRIu32 " raw_bytes=%" PRIu64 " records=%" PRIu64
           " out_bytes=%" PRIu64 " seconds=%.3f mb_s=%.1f peak_rss_kib=%ld\n",
           level, block, raw_bytes, records, out_bytes, dt, (double)raw_bytes / 1e6 / dt, peak_rss_kib());
    rc = LLM_EXIT_OK;
out:
    llm_writer_free(w);
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    if (header_ok)
        llm_header_free(&h);
    free(buf);
    return rc;
}

static int cmd_read(const char *path)
{
    int fd = -1, rc = LLM_EXIT_FAILURE;
    llm_reader *r = NULL;
    llm_error e;
    checksum c = {0, 0, 0, 0, 0};
    char hex[33];
    uint64_t records = 0, raw_bytes = 0;
    double t0 = now_seconds();
    if ((fd = open_read(path)) < 0)
        goto out;
    if (!(r = llm_reader_open(fd, path, &e))) {
        llm_msg("%s", e.msg);
        goto out;
    }
    llm_record rec;
    int k;
    while ((k = llm_reader_next(r, &rec)) == 1) {
        if (rec.token_bytes != 2) {
            llm_msg("%s: a stream of %d-byte tokens; this benchmark reads u16 streams", path, rec.token_bytes);
            goto out;
        }
        checksum_add(&c, rec.tokens, rec.n_tokens);
        raw_bytes += (uint64_t)rec.n_tokens * (uint64_t)rec.token_bytes;
        records++;
    }
    if (k < 0) {
        llm_msg("%s", llm_reader_error(r));
        goto out;
    }
    llm_reader_free(r);
    r = NULL;
    close(fd);
    fd = -1;
    double dt = now_seconds() - t0;
    checksum_hex(&c, hex);
    printf("op=read raw_bytes=%" PRIu64 " records=%" PRIu64 " tokens=%" PRIu64 " checksum=%s"
           " seconds=%.3f mb_s=%.1f peak_rss_kib=%ld\n",
           raw_bytes, records, c.tokens, hex, dt, (double)raw_bytes / 1e6 / dt, peak_rss_kib());
    rc = LLM_EXIT_OK;
out:
    llm_reader_free(r);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int cmd_sum(const char *path)
{
    uint16_t *buf = malloc(IO_BYTES);
    int fd = -1, rc = LLM_EXIT_FAILURE;
    checksum c = {0, 0, 0, 0, 0};
    char hex[33];
    if (!buf) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    if ((fd = open_read(path)) < 0)
        goto out;
    for (;;) {
        ssize_t got = read_full(fd, buf, IO_BYTES);
        if (got < 0) {
            llm_msg("%s: read error: %s", path, strerror(errno));
            goto out;
        }
        if (got & 1) {
            llm_msg("%s: not a u16 token file (odd length)", path);
            goto out;
        }
        checksum_add(&c, buf, (size_t)got / 2);
        if ((size_t)got < IO_BYTES)
            break;
    }
    checksum_hex(&c, hex);
    printf("op=sum raw_bytes=%" PRIu64 " tokens=%" PRIu64 " checksum=%s\n", 2 * c.tokens, c.tokens, hex);
    rc = LLM_EXIT_OK;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    llm_cli_init("stream_bench");
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return fflush(stdout) == 0 && !ferror(stdout) ? LLM_EXIT_OK : LLM_EXIT_FAILURE;
    }
    if (argc < 2)
        return llm_usage_error("missing subcommand (gen, write, read or sum)");
    const char *cmd = argv[1];
    uint64_t a, b;
    int rc;
    if (!strcmp(cmd, "gen") && argc == 5) {
        if (llm_parse_u64(argv[3], 1, UINT64_C(1) << 20, &a) < 0)
            return llm_usage_error("SIZE_MIB must be a number of MiB from 1 to 1048576, not '%s'", argv[3]);
        if (llm_parse_u64(argv[4], 0, UINT64_MAX, &b) < 0)
            return llm_usage_error("SEED must be a non-negative integer, not '%s'", argv[4]);
        rc = cmd_gen(argv[2], a, b);
    } else if (!strcmp(cmd, "write") && argc == 6) {
        if (llm_parse_u64(argv[4], 1, 22, &a) < 0)
            return llm_usage_error("LEVEL must be a zstd level from 1 to 22, not '%s'", argv[4]);
        if (llm_parse_u64(argv[5], 1, 1u << 20, &b) < 0)
            return llm_usage_error("BLOCK must be a number of tokens from 1 to 1048576, not '%s'", argv[5]);
        rc = cmd_write(argv[2], argv[3], (int)a, (uint32_t)b);
    } else if (!strcmp(cmd, "read") && argc == 3) {
        rc = cmd_read(argv[2]);
    } else if (!strcmp(cmd, "sum") && argc == 3) {
        rc = cmd_sum(argv[2]);
    } else if (!strcmp(cmd, "gen") || !strcmp(cmd, "write") || !strcmp(cmd, "read") || !strcmp(cmd, "sum")) {
        return llm_usage_error("wrong number of arguments for '%s'", cmd);
    } else {
        return llm_usage_error("unknown subcommand '%s'", cmd);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        llm_msg("(stdout): write error: %s", strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    return rc;
}
