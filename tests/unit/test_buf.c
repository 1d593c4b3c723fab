/* Unit tests for lib/buf.c: growth, sticky failure, integer formatting against snprintf,
 * and the exact bytes of JSON string escaping, invalid UTF-8 included. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "check.h"

static int buf_equals(const llm_buf *b, const char *want, size_t n)
{
    return b->len == n && b->data != NULL && memcmp(b->data, want, n) == 0 && b->data[n] == '\0';
}

#define BUF_IS(b, lit) buf_equals((b), (lit), sizeof(lit) - 1)

static void test_append_and_grow(void)
{
    llm_buf b;
    llm_buf_init(&b);
    CHECK(b.len == 0 && !llm_buf_failed(&b));
    llm_buf_puts(&b, "ab");
    llm_buf_putc(&b, 'c');
    llm_buf_append(&b, "d\0e", 3);   /* embedded NUL kept */
    CHECK(BUF_IS(&b, "abcd\0e"));
    for (int i = 0; i < 10000; i++)
        llm_buf_putc(&b, (char)('a' + i % 26));
    CHECK(b.len == 6 + 10000);
    CHECK(b.data[6] == 'a' && b.data[6 + 25] == 'z' && b.data[b.len] == '\0');
    llm_buf_clear(&b);
    CHECK(b.len == 0);
    llm_buf_puts(&b, "x");
    CHECK(BUF_IS(&b, "x"));
    llm_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    llm_buf_free(&b);   /* freeing twice after init is harmless */
}

static void test_printf(void)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_printf(&b, "%d-%s", 42, "x");
    CHECK(BUF_IS(&b, "42-x"));
    /* Longer than the room left, so it formats twice. */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    llm_buf_printf(&b, "[%s]", big);
    CHECK(b.len == 4 + 1001);
    CHECK(b.data[4] == '[' && b.data[5] == 'q' && b.data[b.len - 1] == ']' && b.data[b.len] == 0);
    llm_buf_printf(&b, "%s", "");
    CHECK(b.len == 1005);
    llm_buf_free(&b);
}

static void test_sticky_failure(void)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_puts(&b, "keep");
    CHECK(llm_buf_reserve(&b, SIZE_MAX) == -1);
    CHECK(llm_buf_failed(&b));
    llm_buf_puts(&b, "more");
    llm_buf_u64(&b, 7);
    llm_buf_printf(&b, "%d", 1);
    llm_buf_json_string(&b, "s", 1);
    CHECK(BUF_IS(&b, "keep"));
    CHECK(llm_buf_reserve(&b, 1) == -1);
    llm_buf_free(&b);
    CHECK(!llm_buf_failed(&b));
}

static void check_u64(uint64_t v)
{
    char want[32];
    int n = snprintf(want, sizeof want, "%" PRIu64, v);
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_u64(&b, v);
    CHECKF(buf_equals(&b, want, (size_t)n), "u64 %s gave %.*s", want, (int)b.len, b.data);
    llm_buf_free(&b);
}

static void check_i64(int64_t v)
{
    char want[32];
    int n = snprintf(want, sizeof want, "%" PRId64, v);
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_i64(&b, v);
    CHECKF(buf_equals(&b, want, (size_t)n), "i64 %s gave %.*s", want, (int)b.len, b.data);
    llm_buf_free(&b);
}

static void test_integer_boundaries(void)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_buf_u64(&b, 0);
    llm_buf_putc(&b, ' ');
    llm_buf_u64(&b, 9);
    llm_buf_putc(&b, ' ');
    llm_buf_u64(&b, 10);
    llm_buf_putc(&b, ' ');
    llm_buf_u64(&b, 99);
    llm_buf_putc(&b, ' ');
    llm_buf_u64(&b, 100);
    llm_buf_putc(&b, ' ');
    llm_buf_u64(&b, UINT64_MAX);
    llm_buf_putc(&b, ' ');
    llm_buf_i64(&b, INT64_MIN);
    llm_buf_putc(&b, ' ');
    llm_buf_i64(&b, INT64_MAX);
    llm_buf_putc(&b, ' ');
    llm_buf_i64(&b, -1);
    llm_buf_putc(&b, ' ');
    llm_buf_i64(&b, 0);
    CHECKF(BUF_IS(&b, "0 9 10 99 100 18446744073709551615 -9223372036854775808 "
                      "9223372036854775807 -1 0"),
           "got %s", b.data);
    llm_buf_free(&b);

    for (uint64_t v = 0; v < 100000; v++)
        check_u64(v);

    /* Every power of ten and its neighbours. */
    uint64_t p = 1;
    for (int i = 0; i < 20; i++, p *= 10) {
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
        check_i64((int64_t)(p - 1));
        check_i64(-(int64_t)(p - 1));
    }
}

/* xorshift64*: reproducible across libcs, unlike rand(). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static void test_integer_random(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next(&seed);
        /* Spread over all digit counts, not just 19-20 digit values. */
        uint64_t v = r >> (rng_next(&seed) % 64);
        check_u64(v);
        check_i64((int64_t)v);
        check_i64((int64_t)r);
    }
    /* Many values into one buffer, compared with one snprintf stream. */
    llm_buf got, want;
    llm_buf_init(&got);
    llm_buf_init(&want);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = rng_next(&seed) >> (i % 64);
        llm_buf_u64(&got, v);
        llm_buf_putc(&got, ',');
        llm_buf_printf(&want, "%" PRIu64 ",", v);
    }
    CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
    llm_buf_free(&got);
    llm_buf_free(&want);
}

struct escape_case {
    const char *in;
    size_t in_len;
    const char *out;
};

#define ESC(in, out) {in, sizeof(in) - 1, out}

static const struct escape_case escape_cases[] = {
    ESC("", "\"\""),
    ESC("hello", "\"hello\""),
    ESC("a\"b\\c", "\"a\\\"b\\\\c\""),
    ESC("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\""),
    ESC("\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\""),
    ESC("a\0b", "\"a\\u0000b\""),
    ESC("/\x7f", "\"/\x7f\""),                      /* '/' and DEL are left alone */
    ESC("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\""),  /* é, 2 bytes */
    ESC("\xe2\x82\xac", "\"\xe2\x82\xac\""),          /* €, 3 bytes */
    ESC("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""),  /* U+1F600, 4 bytes */
    ESC("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),  /* U+10FFFF, the last code point */
    ESC("\xed\x9f\xbf", "\"\xed\x9f\xbf\""),          /* U+D7FF, just below surrogates */
    ESC("\xe2\x80\xa8\xe2\x80\xa9", "\"\xe2\x80\xa8\xe2\x80\xa9\""),  /* U+2028/9 kept */
    ESC("\xef\xbb\xbf", "\"\xef\xbb\xbf\""),          /* BOM passes */
    /* Invalid: one \ufffd per byte. */
    ESC("\x80", "\"\\ufffd\""),                        /* lone continuation byte */
    ESC("a\xbf" "b", "\"a\\ufffdb\""),
    ESC("\xe2\x82", "\"\\ufffd\\ufffd\""),            /* truncated 3-byte, at the end */
    ESC("\xe2\x82z", "\"\\ufffd\\ufffdz\""),          /* truncated 3-byte, then ASCII */
    ESC("\xc0\x80", "\"\\ufffd\\ufffd\""),            /* overlong NUL */
    ESC("\xc1\xbf", "\"\\ufffd\\ufffd\""),            /* overlong */
    ESC("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""),  /* overlong 3-byte '/' */
    ESC("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),  /* overlong 4-byte */
    ESC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""),  /* surrogate U+D800 */
    ESC("\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\""),  /* surrogate U+DFFF */
    ESC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),  /* U+110000 */
    ESC("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),
    ESC("\xff\xfe", "\"\\ufffd\\ufffd\""),
    ESC("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\""),  /* truncated 4-byte */
    ESC("\xc3\xa9\xc3", "\"\xc3\xa9\\ufffd\""),        /* valid then truncated */
    ESC("\xc3\x28", "\"\\ufffd(\""),                   /* bad continuation */
    /* Long enough to cross the eight-byte fast path at every position. */
    ESC("abcdefgh\"ijklmnop\\qrstuvw\nxyz", "\"abcdefgh\\\"ijklmnop\\\\qrstuvw\\nxyz\""),
    ESC("abcdefg\xc3\xa9hijklmnopq\x80rstuvwxy",
        "\"abcdefg\xc3\xa9hijklmnopq\\ufffdrstuvwxy\""),
};

static void test_json_string_table(void)
{
    for (size_t i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        const struct escape_case *c = &escape_cases[i];
        llm_buf b;
        llm_buf_init(&b);
        llm_buf_json_string(&b, c->in, c->in_len);
        CHECKF(buf_equals(&b, c->out, strlen(c->out)), "case %zu: want %s got %.*s", i, c->out,
               (int)b.len, b.data);
        llm_buf_free(&b);
    }
}

/* A slow, obviously right escaper to compare the fast one with on random bytes. */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void ref_json_string(llm_buf *b, const unsigned char *s, size_t n)
{
    llm_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            llm_buf_putc(b, '\\');
            llm_buf_putc(b, (char)c);
        } else if (c == '\n') {
            llm_buf_puts(b, "\\n");
        } else if (c == '\t') {
            llm_buf_puts(b, "\\t");
        } else if (c == '\r') {
            llm_buf_puts(b, "\\r");
        } else if (c == '\b') {
            llm_buf_puts(b, "\\b");
        } else if (c == '\f') {
            llm_buf_puts(b, "\\f");
        } else if (c < 0x20) {
            llm_buf_printf(b, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t k = ref_utf8_len(s + i, n - i);
            if (k == 0) {
                llm_buf_puts(b, "\\ufffd");
                k = 1;
            } else {
                llm_buf_append(b, s + i, k);
            }
            i += k;
            continue;
        } else {
            llm_buf_putc(b, (char)c);
        }
        i++;
    }
    llm_buf_putc(b, '"');
}

/* Every byte of ref_json_string's input is valid UTF-8 or not: llm_buf_json_utf8 may be
 * given the first kind only. */
static int ref_utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = ref_utf8_len(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static void test_json_string_random(void)
{
    /* Bytes drawn mostly from a pool of interesting ones so that valid and broken
     * sequences both occur often; lengths past two vectors, appended after a prefix of
     * varying length, so that the vector path meets every alignment and buffer end. */
    static const unsigned char pool[] = {'a', 'b', ' ', '"', '\\', '\n', 0, 0x1f, 0x7f,
                                         0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
                                         0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    uint64_t seed = 12345;
    unsigned char in[160];
    size_t valid_cases = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = rng_next(&seed) % sizeof in;
        uint64_t shape = rng_next(&seed);
        int plain = shape & 1;    /* mostly plain text, as real documents are */
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&seed);
            if (plain && r % 16)
                in[i] = (unsigned char)('a' + r % 26);
            else
                in[i] = (r & 0x100) ? (unsigned char)r : pool[(r >> 16) % sizeof pool];
        }
        size_t prefix = (shape >> 1) % 40;
        int valid = ref_utf8_valid(in, n);
        valid_cases += (size_t)valid;
        for (int utf8 = 0; utf8 <= valid; utf8++) {
            llm_buf got, want;
            llm_buf_init(&got);
            llm_buf_init(&want);
            for (size_t k = 0; k < prefix; k++)
                llm_buf_putc(&got, 'p');
            llm_buf_append(&want, got.data, got.len);
            if (utf8)
                llm_buf_json_utf8(&got, (const char *)in, n);
            else
                llm_buf_json_string(&got, (const char *)in, n);
            ref_json_string(&want, in, n);
            CHECKF(got.len == want.len && memcmp(got.data, want.data, got.len) == 0 && got.data[got.len] == 0,
                   "iteration %d (%s): want %s got %s", iter, utf8 ? "utf8" : "string", want.data, got.data);
            llm_buf_free(&got);
            llm_buf_free(&want);
        }
        if (check_case_failed)
            break;
    }
    CHECKF(valid_cases > 10000, "only %zu valid inputs", valid_cases);
}

int main(void)
{
    RUN(test_append_and_grow);
    RUN(test_printf);
    RUN(test_sticky_failure);
    RUN(test_integer_boundaries);
    RUN(test_integer_random);
    RUN(test_json_string_table);
    RUN(test_json_string_random);
    CHECK_EXIT();
}
