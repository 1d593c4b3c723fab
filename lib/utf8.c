/* UTF-8 validation, repair lengths and counting. */
#include "utf8.h"

#include <string.h>

#define HIGHS 0x8080808080808080ull
#define ONES 0x0101010101010101ull

/* The second byte's allowed range depends on the lead byte; the rest are plain
 * continuation bytes. Returns the sequence length, or 0 for a bad lead byte. */
static size_t lead_info(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            *lo = 0xA0;
        else if (c == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

size_t llm_utf8_invalid_len(const unsigned char *s, size_t n)
{
    unsigned char lo, hi;
    size_t len = lead_info(s[0], &lo, &hi);
    if (len == 0 || n < 2 || s[1] < lo || s[1] > hi)
        return 1;
    size_t i = 2;
    while (i < len && i < n && (s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

size_t llm_utf8_ascii_prefix(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if (v & HIGHS)
            break;
    }
    while (i < n && (unsigned char)s[i] < 0x80)
        i++;
    return i;
}

/* The first ill-formed byte at or after i in text whose prefix s[0..i) is well-formed, or n:
 * a byte at a time, ASCII eight at a time. */
static size_t scan_valid(const char *s, size_t n, size_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        i += llm_utf8_ascii_prefix(s + i, n - i);
        while (i < n && u[i] >= 0x80) {
            size_t k = llm_utf8_seq_len(u + i, n - i);
            if (k == 0)
                return i;
            i += k;
        }
    }
    return i;
}

/* The end of a block of about len bytes from i (i + len < n), moved back to the start of the
 * character that straddles it, so that the block and the text after it are well-formed
 * together exactly when each is. A longer run of continuation bytes is ill-formed anyway. */
static size_t block_end(const unsigned char *u, size_t i, size_t len)
{
    size_t e = i + len;
    for (int back = 0; back < 3 && (u[e] & 0xC0) == 0x80; back++)
        e--;
    return e;
}

/* The SIMD validator reads all it is given, past the first error too: handed the rest of a
 * document at each ill-formed sequence, it made encoding quadratic in the length of the
 * document (seconds for a megabyte of Latin-1). So it checks blocks that start small and
 * double while they are valid, and the first block that is not is walked a byte at a time
 * to its error: what is read is a few times the prefix returned, plus the first block. */
#define VALID_BLOCK_START 64

size_t llm_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len = VALID_BLOCK_START;
    while (n - i > len) {
        size_t e = block_end(u, i, len);
        if (!llm_utf8_valid(s + i, e - i))
            return scan_valid(s, n, i);
        i = e;
        len *= 2;
    }
    return llm_utf8_valid(s + i, n - i) ? n : scan_valid(s, n, i);
}

size_t llm_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every byte that is not a continuation byte (10xxxxxx) starts a code point. */
size_t llm_utf8_count(const char *s, size_t n)
{
    size_t count = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        /* continuation: top bits 10, i.e. bit7 set and bit6 clear */
        uint64_t cont = (v & ~(v << 1) & HIGHS) >> 7;
        /* Sum the eight 0/1 bytes with one multiply: a popcount without needing the
         * instruction, which a generic x86-64 build calls through libgcc. */
        count += 8 - (size_t)((cont * ONES) >> 56);
    }
    for (; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}
