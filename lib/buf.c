/* Growable output buffer with a sticky failure flag, plus the hot formatters: decimal
 * integers without printf and JSON string escaping with UTF-8 validation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "simd.h"
#include "utf8.h"

#define BUF_MIN_CAP 64

void llm_buf_init(llm_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void llm_buf_free(llm_buf *b)
{
    free(b->data);
    llm_buf_init(b);
}

static int buf_fail(llm_buf *b)
{
    b->failed = 1;
    return -1;
}

/* Doubling keeps a long run of appends at amortised O(1) copies per byte. */
int llm_grow(void *pp, size_t *cap, size_t need)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t n = *cap < BUF_MIN_CAP ? BUF_MIN_CAP : *cap;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    void *q = realloc(*p, n);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int buf_grow(llm_buf *b, size_t need)
{
    return llm_grow(&b->data, &b->cap, need) < 0 ? buf_fail(b) : 0;
}

int llm_buf_reserve(llm_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX - 1 - b->len)
        return buf_fail(b);
    size_t need = b->len + extra + 1;   /* + 1 keeps room for the NUL */
    if (need <= b->cap)
        return 0;
    return buf_grow(b, need);
}

/* Room for n more bytes and the NUL, with no failure pending: the hot paths test this
 * inline and only call llm_buf_reserve when the buffer must grow. */
static int buf_fits(const llm_buf *b, size_t n)
{
    return !b->failed && b->cap - b->len > n;
}

void llm_buf_append(llm_buf *b, const void *p, size_t n)
{
    if (!buf_fits(b, n) && llm_buf_reserve(b, n) < 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void llm_buf_puts(llm_buf *b, const char *s)
{
    llm_buf_append(b, s, strlen(s));
}

void llm_buf_putc(llm_buf *b, char c)
{
    if (!buf_fits(b, 1) && llm_buf_reserve(b, 1) < 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void llm_buf_printf(llm_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    /* First try the room already there; most calls fit and format once. */
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf_fail(b);
        return;
    }
    if ((size_t)n >= room) {
        if (llm_buf_reserve(b, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static const char digit_pairs[201] =
    "00010203040506070809"
    "10111213141516171819"
    "20212223242526272829"
    "30313233343536373839"
    "40414243444546474849"
    "50515253545556575859"
    "60616263646566676869"
    "70717273747576777879"
    "80818283848586878889"
    "90919293949596979899";

static const uint64_t powers_of_10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};

/* Branch-free digit count: bits * log10(2) (1233 / 4096) guesses it within one, and a
 * table lookup corrects the guess. Mixed-width ids would mispredict a comparison chain. */
static unsigned u64_digits(uint64_t v)
{
    uint64_t x = v | 1;   /* 0 has one digit; and clz(0) is undefined */
    unsigned bits = 64 - (unsigned)__builtin_clzll(x);
    unsigned guess = (bits * 1233) >> 12;
    return guess + (x >= powers_of_10[guess]);
}

/* Writes v's decimal digits so that they end at `end`. Two digits per division halves
 * the divides (which the compiler turns into multiplies). */
static void format_u64_backwards(char *end, uint64_t v)
{
    char *p = end;
    while (v >= 100) {
        const char *pair = digit_pairs + (v % 100) * 2;
        v /= 100;
        *--p = pair[1];
        *--p = pair[0];
    }
    if (v >= 10) {
        const char *pair = digit_pairs + v * 2;
        *--p = pair[1];
        *--p = pair[0];
    } else {
        *--p = (char)('0' + v);
    }
}

/* Formats in place: counting digits first avoids a temporary and a variable memcpy,
 * which matters when the output is billions of token ids. */
static void buf_put_decimal(llm_buf *b, int negative, uint64_t mag)
{
    size_t n = u64_digits(mag) + (negative ? 1 : 0);
    if (!buf_fits(b, n) && llm_buf_reserve(b, n) < 0)
        return;
    char *p = b->data + b->len;
    if (negative)
        *p = '-';
    format_u64_backwards(p + n, mag);
    b->len += n;
    b->data[b->len] = '\0';
}

void llm_buf_u64(llm_buf *b, uint64_t v)
{
    buf_put_decimal(b, 0, v);
}

void llm_buf_i64(llm_buf *b, int64_t v)
{
    /* Negate in unsigned arithmetic: -INT64_MIN overflows int64_t. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    buf_put_decimal(b, v < 0, mag);
}

/* ---- JSON strings ---- */

/* Bytes that cannot be copied as they are: control characters, '"', '\\', and, unless
 * the text is known to be valid UTF-8, every non-ASCII byte (checked first). */
static int json_byte_is_plain(unsigned char c, int valid_utf8)
{
    return c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || valid_utf8);
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Length of the leading run of plain bytes, eight at a time where possible: most text
 * is plain and the byte loop would dominate output time. */
static size_t json_plain_prefix(const unsigned char *s, size_t n, int valid_utf8)
{
    const uint64_t high_bytes = valid_utf8 ? 0 : ~0ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        uint64_t quote = v ^ (ONES * '"');
        uint64_t bslash = v ^ (ONES * '\\');
        /* Classic bit tricks: a zero byte, a byte below 0x20, a byte with the top bit. */
        uint64_t special = ((quote - ONES) & ~quote) | ((bslash - ONES) & ~bslash) |
                           ((v - ONES * 0x20) & ~v) | (v & high_bytes);
        if (special & HIGHS)
            break;
    }
    while (i < n && json_byte_is_plain(s[i], valid_utf8))
        i++;
    return i;
}

static void json_put_escape(llm_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        llm_buf_append(b, esc, 6);
        return;
    }
    llm_buf_append(b, esc, 2);
}

#ifdef LLM_SIMD
/* The bits of the bytes of v that json_byte_is_plain rejects. */
static uint64_t json_special(llm_vec v, int valid_utf8)
{
    llm_vec m = llm_vec_or(llm_vec_le_u8(v, 0x1F), llm_vec_or(llm_vec_eq_byte(v, '"'), llm_vec_eq_byte(v, '\\')));
    return llm_vec_mask(m) | (valid_utf8 ? 0 : llm_vec_mask(v));
}
#endif

/* Appends the leading run of plain bytes of s[0..n) and returns its length. Where there
 * is room, a vector at a time is stored whole and counted up to its first special byte:
 * one pass that scans and copies, where scanning first and copying the run after read
 * the text twice (the default output of llm-clean is all such runs). The bytes stored
 * past the run, NUL's place among them, are overwritten by what json_string appends
 * next, which always ends with the closing quote. */
static size_t json_copy_plain(llm_buf *b, const unsigned char *s, size_t n, int valid_utf8)
{
    size_t i = 0;
#ifdef LLM_SIMD
    while (n - i >= LLM_VEC_BYTES && buf_fits(b, LLM_VEC_BYTES)) {
        llm_vec v = llm_vec_load(s + i);
        llm_vec_store(b->data + b->len, v);
        uint64_t special = json_special(v, valid_utf8);
        size_t k = special ? (size_t)__builtin_ctzll(special) : LLM_VEC_BYTES;
        b->len += k;
        i += k;
        if (special)
            return i;
    }
#endif
    size_t k = json_plain_prefix(s + i, n - i, valid_utf8);
    llm_buf_append(b, s + i, k);
    return i + k;
}

static void json_string(llm_buf *b, const char *str, size_t n, int valid_utf8)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Reserve the common case (nothing escaped) up front; escapes grow as needed. */
    if (llm_buf_reserve(b, n + 2) < 0)
        return;
    llm_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        i += json_copy_plain(b, s + i, n - i, valid_utf8);
        if (i == n)
            break;
        if (s[i] >= 0x80) {    /* text not known to be valid */
            size_t k = llm_utf8_seq_len(s + i, n - i);
            if (k) {
                llm_buf_append(b, s + i, k);
                i += k;
                continue;
            }
            /* One replacement per byte: the next bytes of a broken sequence are then
             * lone continuation bytes and get their own. */
            llm_buf_append(b, "\\ufffd", 6);
        } else {
            json_put_escape(b, s[i]);
        }
        i++;
    }
    llm_buf_putc(b, '"');
}

void llm_buf_json_string(llm_buf *b, const char *s, size_t n)
{
    json_string(b, s, n, 0);
}

void llm_buf_json_utf8(llm_buf *b, const char *s, size_t n)
{
    json_string(b, s, n, 1);
}

void llm_buf_reject_begin(llm_buf *b, const char *reason, char *const inputs[], int n_inputs, int input,
                          uint64_t line)
{
    llm_buf_puts(b, "{\"reason\":");
    llm_buf_json_string(b, reason, strlen(reason));
    if (n_inputs > 1 || strcmp(inputs[input], "-") != 0) {
        llm_buf_puts(b, ",\"file\":");
        llm_buf_json_string(b, inputs[input], strlen(inputs[input]));
    }
    llm_buf_puts(b, ",\"line\":");
    llm_buf_u64(b, line);
}

void llm_buf_reject_line(llm_buf *b, const char *line, size_t len, int parsed)
{
    if (!parsed) {
        llm_buf_puts(b, ",\"raw\":");
        llm_buf_json_string(b, line, len);
        return;
    }
    while (len && strchr(" \t\r\n", line[len - 1]))
        len--;
    llm_buf_puts(b, ",\"record\":");
    llm_buf_append(b, line, len);
}
