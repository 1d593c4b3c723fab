/* UTF-8 primitives shared by the text stages: validation with the Unicode rules, the
 * maximal-subpart rule for repairs, and fast scans for the ASCII common case. */
#ifndef LLM_UTF8_H
#define LLM_UTF8_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLM_UTF8_REPLACEMENT "\xEF\xBF\xBD"   /* U+FFFD */

/* Length (1..4) of the well-formed sequence at s[0..n), or 0 when it is not one: overlong
 * forms, surrogates and code points above U+10FFFF are refused (Unicode table 3-7).
 * Inline: the text stages call it for every non-ASCII character. */
static inline size_t llm_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* For an ill-formed sequence at s: the length of its maximal subpart (at least 1), the
 * bytes that one U+FFFD replaces under Unicode's recommended practice, which Python's
 * errors="replace", browsers and the tokenizer peers all follow. */
size_t llm_utf8_invalid_len(const unsigned char *s, size_t n);

/* 1 when s[0..n) is entirely well-formed UTF-8, else 0; SIMD, several GB/s (simdjson's
 * validator, in json.cpp). */
int llm_utf8_valid(const char *s, size_t n);

/* Length of the leading run of ASCII bytes, eight at a time. */
size_t llm_utf8_ascii_prefix(const char *s, size_t n);

/* Length of the longest well-formed prefix of s[0..n) (n when it is all valid). It reads a
 * few times that length plus a few dozen bytes, not all of s: the encoders call it for the
 * rest of the document at each ill-formed sequence, and must stay linear. */
size_t llm_utf8_valid_prefix(const char *s, size_t n);

/* Decodes the well-formed sequence at s (length from llm_utf8_seq_len). */
static inline uint32_t llm_utf8_decode(const unsigned char *s, size_t len)
{
    switch (len) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* Length of the sequence that lead byte c starts in text known to be valid. */
static inline size_t llm_utf8_lead_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Writes cp (at most U+10FFFF, not a surrogate) as UTF-8 into out[0..4); returns the length. */
size_t llm_utf8_encode(uint32_t cp, char *out);

/* Code points in valid UTF-8 text. */
size_t llm_utf8_count(const char *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif
