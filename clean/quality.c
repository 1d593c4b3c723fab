/* llm-clean's --quality presets: Gopher's quality and repetition rules (Rae et al. 2021,
 * appendix A) and C4's line and page filters (Raffel et al. 2020, section 2.2), with words
 * counted so that Chinese and Japanese, written without spaces, are judged fairly. */
#define XXH_INLINE_ALL   /* XXH3 for lines and long words, inlined: no library needed */
#include <xxhash.h>

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "quality.h"
#include "utf8.h"

static const char out_of_memory[] = "out-of-memory";

/* For the few functions of the word loop that the compiler would otherwise leave as calls,
 * and for a reference version that only the tests call where a faster one exists. */
#if defined(__GNUC__)
#define LLM_ALWAYS_INLINE inline __attribute__((always_inline))
#define LLM_MAYBE_UNUSED __attribute__((unused))
#else
#define LLM_ALWAYS_INLINE inline
#define LLM_MAYBE_UNUSED
#endif

/* ---- Characters and words ---- */

/* What a character is to the word splitter. CJK: a Han ideograph or a kana letter, which is
 * a word by itself, since Chinese and Japanese put no spaces between words. */
enum char_class { CC_SPACE, CC_PUNCT, CC_OTHER, CC_LETTER, CC_LATIN, CC_CJK };

/* The classes of the ASCII characters, one digit (enum char_class) each, 16 a row. Punctuation
 * and symbols, controls included, are CC_PUNCT; digits are word characters without being
 * letters. */
static const char ascii_classes[] =
    "1111111110000011"   /* 0x00: controls, \t \n \v \f \r */
    "1111111111111111"   /* 0x10 */
    "0111111111111111"   /* 0x20: space ! " # $ % & ' ( ) * + , - . / */
    "2222222222111111"   /* 0x30: 0-9 : ; < = > ? */
    "1444444444444444"   /* 0x40: @ A-O */
    "4444444444411111"   /* 0x50: P-Z [ \ ] ^ _ */
    "1444444444444444"   /* 0x60: ` a-o */
    "4444444444411111";  /* 0x70: p-z { | } ~ DEL */

/* Han ideographs, kana letters and their iteration and length marks, Bopomofo: the
 * characters of scripts written without spaces that count as one word each. Kana
 * punctuation (U+30A0, U+30FB) and the spacing voicing marks stay punctuation. */
static bool is_cjk_word_char(uint32_t cp)
{
    if (cp >= 0x4E00 && cp <= 0x9FFF)   /* CJK Unified Ideographs */
        return true;
    if (cp >= 0x3040 && cp <= 0x30FF)   /* Hiragana, Katakana */
        return cp != 0x309B && cp != 0x309C && cp != 0x30A0 && cp != 0x30FB;
    if (cp < 0x3005)
        return false;
    return cp <= 0x3007                          /* 々 〆 〇 */
           || (cp >= 0x3021 && cp <= 0x3029)     /* Hangzhou numerals */
           || (cp >= 0x3038 && cp <= 0x303C)
           || (cp >= 0x3100 && cp <= 0x312F)     /* Bopomofo */
           || (cp >= 0x31A0 && cp <= 0x31BF)
           || (cp >= 0x31F0 && cp <= 0x31FF)     /* Katakana phonetic extensions */
           || (cp >= 0x3400 && cp <= 0x4DBF)     /* Extension A */
           || (cp >= 0xF900 && cp <= 0xFAFF)     /* Compatibility ideographs */
           || (cp >= 0xFF66 && cp <= 0xFF9F)     /* Halfwidth katakana */
           || (cp >= 0x1AFF0 && cp <= 0x1B16F)   /* Kana supplement and extensions */
           || (cp >= 0x20000 && cp <= 0x3FFFF);  /* Extensions B and later */
}

/* For a letter: whether it is in a Latin block (the stop-word rule is for Latin text). */
static bool is_latin_letter(uint32_t cp)
{
    return cp <= 0x02FF || (cp >= 0x1D00 && cp <= 0x1EFF) || (cp >= 0x2C60 && cp <= 0x2C7F) ||
           (cp >= 0xA720 && cp <= 0xA7FF) || (cp >= 0xAB30 && cp <= 0xAB6F) ||
           (cp >= 0xFB00 && cp <= 0xFB06) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
           (cp >= 0xFF41 && cp <= 0xFF5A);
}

static enum char_class classify(uint32_t cp)
{
    if (is_cjk_word_char(cp))
        return CC_CJK;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return is_latin_letter(cp) ? CC_LATIN : CC_LETTER;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
        return CC_PUNCT;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CC_SPACE;
    case UTF8PROC_CATEGORY_CC:
        return cp == 0x85 ? CC_SPACE : CC_PUNCT;
    default:   /* marks, numbers, format characters: part of the word they are in */
        return cp == 0x200B ? CC_SPACE : CC_OTHER;   /* a zero-width space separates words */
    }
}

/* The code point at s[i] and its length. The text is valid UTF-8 by contract; should it not
 * be, a sequence cut short by the end is one byte, and nothing is read past s[n - 1]. */
static inline uint32_t decode_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    size_t l = llm_utf8_lead_len(s[i]);
    if (l > n - i)
        l = 1;
    *len = l;
    return llm_utf8_decode(s + i, l);
}

static inline enum char_class class_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    if (s[i] < 0x80) {
        *len = 1;
        return (enum char_class)(ascii_classes[s[i]] - '0');
    }
    return classify(decode_at(s, n, i, len));
}

enum { WORD_LATIN = 1, WORD_ALPHA = 2, WORD_CJK = 4 };   /* as WORD_IS_* >> 29 */

/* A word: a space-separated token less its leading and trailing punctuation (a token that is
 * all punctuation is no word, as in datatrove, whose tokenizer splits punctuation off), or
 * one CJK character. A token mixing scripts, like "iPhone用", gives "iPhone" and "用". */
typedef struct word {
    size_t start, end;   /* bytes of the word in the text */
    uint32_t chars;      /* its length in code points */
    unsigned flags;      /* WORD_ALPHA: has a letter; WORD_LATIN: a Latin one; WORD_CJK */
} word;

typedef struct word_iter {
    const unsigned char *s;
    size_t n, pos;
} word_iter;

static void word_iter_init(word_iter *it, const char *s, size_t n)
{
    it->s = (const unsigned char *)s;
    it->n = n;
    it->pos = 0;
}

/* A token of printable ASCII, text[i..j): its core as a word into *w, or false when it is
 * all punctuation. */
static bool ascii_word(const unsigned char *s, size_t i, size_t j, word *w)
{
    while (i < j && ascii_classes[s[i]] == '0' + CC_PUNCT)
        i++;
    while (j > i && ascii_classes[s[j - 1]] == '0' + CC_PUNCT)
        j--;
    if (i == j)
        return false;
    unsigned flags = 0;
    for (size_t k = i; k < j; k++)
        if (ascii_classes[s[k]] == '0' + CC_LATIN) {
            flags = WORD_ALPHA | WORD_LATIN;
            break;
        }
    *w = (word){i, j, (uint32_t)(j - i), flags};
    return true;
}

/* The next word from s[i..n) by characters, for tokens that are not plain ASCII. */
static bool next_word_slow(word_iter *it, size_t i, word *w)
{
    const unsigned char *s = it->s;
    size_t n = it->n, len;
    bool have_core = false;
    uint32_t chars = 0;   /* characters of the current run, punctuation included */
    uint32_t core_from = 0;
    *w = (word){0, 0, 0, 0};
    for (; i < n; i += len) {
        enum char_class c = class_at(s, n, i, &len);
        if (c == CC_SPACE || c == CC_CJK) {
            if (have_core)
                break;   /* a CJK character waits for the next call */
            chars = 0;
            if (c == CC_CJK) {
                *w = (word){i, i + len, 1, WORD_CJK | WORD_ALPHA};
                it->pos = i + len;
                return true;
            }
            continue;
        }
        chars++;
        if (c == CC_PUNCT)
            continue;
        if (!have_core) {
            have_core = true;
            w->start = i;
            core_from = chars - 1;
        }
        w->end = i + len;
        w->chars = chars - core_from;
        w->flags |= c == CC_LATIN ? WORD_ALPHA | WORD_LATIN : c == CC_LETTER ? WORD_ALPHA : 0;
    }
    it->pos = i;
    return have_core;
}

/* The next word into *w; false at the end of the text. Tokens of printable ASCII between
 * spaces, most of them in most text, take a fast path. */
static bool next_word(word_iter *it, word *w)
{
    const unsigned char *s = it->s;
    size_t n = it->n, i = it->pos;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\n'))
            i++;
        size_t j = i;
        while (j < n && s[j] > ' ' && s[j] < 0x7F)
            j++;
        if (j < n && s[j] != ' ' && s[j] != '\n')
            return next_word_slow(it, i, w);
        it->pos = j;
        if (i == j)
            return false;
        if (ascii_word(s, i, j, w))
            return true;
        i = j;
    }
}

/* ---- The same words, 64 bytes at a time ----
 * Most text is plain ASCII words between single spaces. For 64 bytes at a time the block
 * scanner makes bit masks of spaces, punctuation and letters (SSE2, or eight bytes at a time
 * in a 64-bit word), then finds each word's core with bit operations instead of a loop per
 * byte with a mispredicted branch at the end of each word. A token with anything else in it
 * (UTF-8, controls) goes to next_word, and so does one too long for a block. */

#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);   /* little-endian: byte k is bits 8k.. (common.h refuses other hosts) */
    return v;
}

/* 0x80 in each byte of v equal to c, else 0. */
static inline uint64_t bytes_equal(uint64_t v, unsigned char c)
{
    uint64_t x = v ^ (BYTES_01 * c);
    return ~(((x & ~BYTES_80) + ~BYTES_80) | x) & BYTES_80;
}

/* 0x80 in each byte of v within [lo, hi]; v's bytes must be below 0x80. */
static inline uint64_t bytes_between(uint64_t v, unsigned char lo, unsigned char hi)
{
    return (v + BYTES_01 * (0x80u - lo)) & ~(v + BYTES_01 * (0x7Fu - hi)) & BYTES_80;
}

/* The high bits of the eight bytes of m, as bits 0..7. */
static inline uint64_t gather_high_bits(uint64_t m)
{
    return ((m >> 7) * 0x0102040810204080ull) >> 56;
}

/* Bit k of each mask is about byte k of a block. other: bytes the block scanner leaves to
 * next_word (not ASCII, controls but '\n', DEL). */
typedef struct block_masks {
    uint64_t space, punct, letter, other;
} block_masks;

/* Eight bytes at a time in a 64-bit word: the portable version, and the reference that
 * tests/unit/test_clean_quality.c holds the SSE2 one to. */
static LLM_MAYBE_UNUSED void block_classify_swar(const unsigned char *p, block_masks *m)
{
    *m = (block_masks){0, 0, 0, 0};
    for (unsigned k = 0; k < 64; k += 8) {
        uint64_t v = load64(p + k);
        uint64_t ascii = ~v & BYTES_80, low = v & ~BYTES_80;
        uint64_t space = bytes_equal(v, ' ') | bytes_equal(v, '\n');
        uint64_t letter = bytes_between(low | BYTES_01 * 0x20, 'a', 'z') & ascii;
        uint64_t digit = bytes_between(low, '0', '9') & ascii;
        uint64_t other = (v & BYTES_80) | (bytes_between(low, 0, 0x1F) & ascii & ~space) | bytes_equal(v, 0x7F);
        uint64_t punct = ascii & ~(space | letter | digit | other);
        m->space |= gather_high_bits(space) << k;
        m->punct |= gather_high_bits(punct) << k;
        m->letter |= gather_high_bits(letter) << k;
        m->other |= gather_high_bits(other) << k;
    }
}

#if defined(__SSE2__)
/* 16 bytes at a time with SSE2, which every x86-64 has. */
static void block_classify(const unsigned char *p, block_masks *m)
{
    const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n'), del = _mm_set1_epi8(0x7F);
    const __m128i case_bit = _mm_set1_epi8(0x20);
    /* b - lo < count, unsigned, as a signed comparison after moving lo to -128 */
    const __m128i to_a = _mm_set1_epi8((char)(0x80 - 'a')), letters = _mm_set1_epi8((char)(-128 + 26));
    const __m128i to_0 = _mm_set1_epi8((char)(0x80 - '0')), digits = _mm_set1_epi8((char)(-128 + 10));
    *m = (block_masks){0, 0, 0, 0};
    for (unsigned k = 0; k < 64; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
        __m128i newline = _mm_cmpeq_epi8(v, nl);
        __m128i space = _mm_or_si128(_mm_cmpeq_epi8(v, sp), newline);
        __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, case_bit), to_a), letters);
        __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(v, to_0), digits);
        /* signed: bytes from 0x80 are negative, so below ' ' with the controls */
        __m128i other = _mm_or_si128(_mm_andnot_si128(newline, _mm_cmplt_epi8(v, sp)), _mm_cmpeq_epi8(v, del));
        __m128i word_char = _mm_or_si128(_mm_or_si128(space, other), _mm_or_si128(letter, digit));
        m->space |= (uint64_t)(unsigned)_mm_movemask_epi8(space) << k;
        m->letter |= (uint64_t)(unsigned)_mm_movemask_epi8(letter) << k;
        m->other |= (uint64_t)(unsigned)_mm_movemask_epi8(other) << k;
        m->punct |= (uint64_t)(unsigned)(~_mm_movemask_epi8(word_char) & 0xFFFF) << k;
    }
}
#else
#define block_classify block_classify_swar
#endif

static inline unsigned lowest_bit(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

static inline unsigned highest_bit(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

/* ---- Gopher ---- */

/* Gopher's thresholds (Rae et al. 2021, appendix A and table A1; datatrove's defaults).
 * Fractions are in thousandths so that their boundaries are exact. */
enum {
    GOPHER_MIN_WORDS = 50,
    GOPHER_MAX_WORDS = 100000,
    GOPHER_MIN_MEAN_WORD = 3,            /* characters */
    GOPHER_MAX_MEAN_WORD = 10,
    GOPHER_MAX_SYMBOLS = 100,            /* '#' per word, or ellipses per word */
    GOPHER_MAX_BULLET_LINES = 900,
    GOPHER_MAX_ELLIPSIS_LINES = 300,
    GOPHER_MIN_ALPHA_WORDS = 800,
    GOPHER_MIN_STOP_WORDS = 2,
    GOPHER_MAX_DUP_LINES = 300,          /* of the lines */
    GOPHER_MAX_DUP_PARAGRAPHS = 300,     /* of the paragraphs */
    GOPHER_MAX_DUP_LINE_CHARS = 200,     /* of the characters */
    GOPHER_MAX_DUP_PARAGRAPH_CHARS = 200,
    GOPHER_MAJORITY = 500,               /* share of words that makes a rule apply */
};
/* Most frequent n-gram's characters, n = 2..4; characters in repeated n-grams, n = 5..10. */
static const unsigned gopher_max_top_ngram[] = {[2] = 200, [3] = 180, [4] = 160};
static const unsigned gopher_max_dup_ngram[] = {[5] = 150, 140, 130, 120, 110, 100};

/* part / whole > permille / 1000, in integers. */
static bool above(uint64_t part, uint64_t whole, unsigned permille)
{
    return part * 1000 > whole * permille;
}

/* part / whole >= permille / 1000. */
static bool at_least(uint64_t part, uint64_t whole, unsigned permille)
{
    return part * 1000 >= whole * permille;
}

/* What the scan of a document found. The words themselves (hash and info) are kept for the
 * repetition rules, up to GOPHER_MAX_WORDS: past that the document fails anyway. */
typedef struct gopher_doc {
    size_t words, cjk_words, alpha_words, latin_words, stop_words;
    uint64_t spaced_chars;        /* characters of the non-CJK words */
    size_t hashes, ellipses;      /* '#' characters; "...", "…" and "……" */
    size_t lines, bullet_lines, ellipsis_lines;   /* non-empty lines */
    size_t paragraphs;            /* runs of non-empty lines */
    uint64_t *hash;               /* per word */
    uint32_t *info;               /* per word: characters (WORD_CHARS) and WORD_IS_* bits */
} gopher_doc;

/* A word's info: its characters, up to a limit past which the mean-length rule fails any
 * document, and what it is. */
#define WORD_CHARS 0x0FFFFFFFu
#define WORD_IS_STOP 0x10000000u
#define WORD_IS_LATIN 0x20000000u
#define WORD_IS_ALPHA 0x40000000u
#define WORD_IS_CJK 0x80000000u

/* A word's first bytes, little-endian, as word_hash gives them. */
#define PACK(a, b, c, d) ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24)

/* Whether a word is one of Gopher's eight English stop words, given its first eight bytes
 * (zero past its end): lowercase only, as datatrove (and NeMo Curator, which notes that
 * this catches documents written in capitals). A multiplier found by search sends the
 * eight to eight different slots, so one comparison decides, without branches. */
static inline bool is_stop_word(uint64_t head)
{
    static const uint64_t slots[8] = {
        PACK('t', 'h', 'e', 0), PACK('b', 'e', 0, 0), PACK('o', 'f', 0, 0), PACK('w', 'i', 't', 'h'),
        PACK('t', 'h', 'a', 't'), PACK('a', 'n', 'd', 0), PACK('t', 'o', 0, 0), PACK('h', 'a', 'v', 'e'),
    };
    return slots[(head * 0xC42DDDC22F41F7CDull) >> 61] == head;
}

static inline uint64_t mix64(uint64_t x)   /* MurmurHash3's finalizer: a bijection */
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

/* A 64-bit hash of the word p[0..len), room bytes readable from p, and its first eight
 * bytes into *head (0 for a word longer than 16 bytes). Words of up to 16 bytes, nearly
 * all, take one path with no branch on their length; the hashes only need to tell apart
 * the words of one document. */
static LLM_ALWAYS_INLINE uint64_t word_hash(const unsigned char *p, size_t len, size_t room, uint64_t *head)
{
    static const uint64_t low_bytes[9] = {
        0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFull, 0xFFFFFFFFFFFFull,
        0xFFFFFFFFFFFFFFull, ~0ull,
    };
    *head = 0;
    if (len > 16)
        return XXH3_64bits(p, len);
    unsigned char pad[16];
    if (room < 16) {
        memset(pad, 0, sizeof pad);
        memcpy(pad, p, len);
        p = pad;
    }
    uint64_t a = load64(p) & low_bytes[len < 8 ? len : 8];
    uint64_t b = load64(p + 8) & low_bytes[len > 8 ? len - 8 : 0];
    *head = a;
    return mix64(a ^ b * 0x9E3779B97F4A7C15ull ^ len * 0xC2B2AE3D27D4EB4Full);
}

/* Keeps word w of s[0..n) as word number i: its hash, and its length and kind as info. */
static LLM_ALWAYS_INLINE void keep_word(gopher_doc *d, size_t i, const unsigned char *s, size_t n, const word *w)
{
    uint64_t head;
    d->hash[i] = word_hash(s + w->start, w->end - w->start, n - w->start, &head);
    d->info[i] = (w->chars < WORD_CHARS ? w->chars : WORD_CHARS) | (uint32_t)is_stop_word(head) << 28 |
                 (uint32_t)w->flags << 29;
}

/* The word counts of the quality rules, from the words' info. */
static void gopher_tally_words(gopher_doc *d)
{
    for (size_t i = 0; i < d->words && i < GOPHER_MAX_WORDS; i++) {
        uint32_t info = d->info[i];
        d->cjk_words += info >> 31;
        d->alpha_words += (info & WORD_IS_ALPHA) != 0;
        d->latin_words += (info & WORD_IS_LATIN) != 0;
        d->stop_words += (info & WORD_IS_STOP) != 0;
        d->spaced_chars += info & WORD_IS_CJK ? 0 : info & WORD_CHARS;
    }
}

/* Keeps the words of s[from..to) by next_word; false past GOPHER_MAX_WORDS, with d->words
 * one more than that: the word-count rule is all there is left to know. */
static bool gopher_words_slowly(gopher_doc *d, const unsigned char *s, size_t n, size_t from, size_t to)
{
    word_iter it = {s, to, from};
    word w;
    while (next_word(&it, &w)) {
        if (d->words == GOPHER_MAX_WORDS) {
            d->words++;
            return false;
        }
        keep_word(d, d->words++, s, n, &w);
    }
    return true;
}

/* Keeps the words of the 64-byte block at s[p] (see block_classify), up to the last token
 * that ends in it, the caller having seen that there is room for them below the limit.
 * Returns where the next block starts (past p), or 0 past GOPHER_MAX_WORDS. The count is
 * in a local while words are stored, which could otherwise alias it. */
static size_t gopher_block_words(gopher_doc *d, const unsigned char *s, size_t n, size_t p)
{
    block_masks m;
    block_classify(s + p, &m);
    uint64_t tokens = ~m.space;
    size_t words = d->words, next = p + 64;
    while (tokens) {
        unsigned a = lowest_bit(tokens);
        uint64_t spaces_after = m.space & (~0ull << a);
        if (!spaces_after) {
            d->words = words;
            if (a)
                return p + a;   /* the token may fit in the next block */
            size_t end = p + 64;   /* it fills the block: find its end */
            while (end < n && s[end] != ' ' && s[end] != '\n')
                end++;
            return gopher_words_slowly(d, s, n, p, end) ? end : 0;
        }
        uint64_t end_bit = spaces_after & (0 - spaces_after);
        uint64_t range = end_bit - (1ull << a);
        tokens &= ~(end_bit - 1);
        if (range & m.other) {
            d->words = words;
            if (!gopher_words_slowly(d, s, n, p + a, p + lowest_bit(end_bit)))
                return 0;
            words = d->words;
            continue;
        }
        uint64_t core = range & ~m.punct;
        if (!core)
            continue;
        unsigned first = lowest_bit(core), last = highest_bit(core);
        word w = {p + first, p + last + 1, last + 1 - first, core & m.letter ? WORD_ALPHA | WORD_LATIN : 0};
        keep_word(d, words++, s, n, &w);
    }
    d->words = words;
    return next;
}

/* Keeps the words of the text, the words of next_word found a block at a time, and counts
 * them. */
static int gopher_scan_words(gopher_doc *d, const char *text, size_t n)
{
    /* Two words start at least two bytes apart, or three when the first is CJK. */
    size_t cap = n / 2 + 1 < GOPHER_MAX_WORDS ? n / 2 + 1 : GOPHER_MAX_WORDS;
    d->hash = malloc(cap * sizeof *d->hash);
    d->info = malloc(cap * sizeof *d->info);
    if (!d->hash || !d->info)
        return -1;
    const unsigned char *s = (const unsigned char *)text;
    size_t p = 0;
    /* A block holds at most 32 words; near the limit, the slow path counts them. */
    while (n - p >= 64 && d->words + 32 <= GOPHER_MAX_WORDS)
        if (!(p = gopher_block_words(d, s, n, p)))
            return 0;   /* too many words: nothing else counts */
    if (!gopher_words_slowly(d, s, n, p, n))
        return 0;
    gopher_tally_words(d);
    return 0;
}

/* Occurrences of the 3-byte needle in s[0..n), runs of k adjacent ones counting as
 * (k + per_run - 1) / per_run. memchr finds the candidates: the needles' first bytes are
 * rare, or (the dot) only a few per line. */
static size_t count_runs(const unsigned char *s, size_t n, const char *needle, size_t per_run)
{
    size_t count = 0, i = 0;
    const unsigned char *p;
    while (i < n && (p = memchr(s + i, needle[0], n - i))) {
        size_t run = 0;
        for (i = (size_t)(p - s); n - i >= 3 && memcmp(s + i, needle, 3) == 0; i += 3)
            run++;
        count += (run + per_run - 1) / per_run;
        i += !run;
    }
    return count;
}

/* '#' characters and ellipses: k dots in a row hold k / 3 "...", and k "…" in a row hold
 * (k + 1) / 2 ellipses, the Chinese and Japanese ellipsis "……" being one. */
static void gopher_scan_symbols(gopher_doc *d, const unsigned char *s, size_t n)
{
    if (!n)
        return;
    for (const unsigned char *p = s; (p = memchr(p, '#', n - (size_t)(p - s))); p++)
        d->hashes++;
    d->ellipses = count_runs(s, n, "...", 1) + count_runs(s, n, "\xE2\x80\xA6", 2);
}

/* Whether a line starts with a bullet: the list markers of text and Markdown, and the
 * Japanese middle dot. */
static bool starts_with_bullet(const unsigned char *s, size_t n)
{
    static const uint32_t bullets[] = {
        0x2022, 0x2023, 0x2043, 0x25E6, 0x2219, 0x00B7, 0x25CF, 0x25CB, 0x25A0, 0x25A1,
        0x25AA, 0x25AB, 0x25C6, 0x25C7, 0x25BA, 0x25B6, 0x27A2, 0x2713, 0x2714, 0x2605,
        0x30FB,   /* • ‣ ⁃ ◦ ∙ · ● ○ ■ □ ▪ ▫ ◆ ◇ ► ▶ ➢ ✓ ✔ ★ ・ */
    };
    if (s[0] == '-' || s[0] == '*')
        return true;
    if (s[0] < 0x80)
        return false;
    size_t len;
    uint32_t cp = decode_at(s, n, 0, &len);
    for (size_t i = 0; i < sizeof bullets / sizeof bullets[0]; i++)
        if (cp == bullets[i])
            return true;
    return false;
}

static bool ends_with(const unsigned char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Lines are the non-empty ones: in cleaned text an empty line only separates paragraphs. */
static void gopher_scan_lines(gopher_doc *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        if (end > i) {
            d->paragraphs += i < 2 || s[i - 2] == '\n';   /* after an empty line */
            d->lines++;
            d->bullet_lines += starts_with_bullet(s + i, end - i);
            d->ellipsis_lines += ends_with(s + i, end - i, "...") || ends_with(s + i, end - i, "\xE2\x80\xA6");
        }
        i = end + 1;
    }
}

static const char *gopher_quality_rule(const gopher_doc *d)
{
    size_t w = d->words;
    if (w < GOPHER_MIN_WORDS || w > GOPHER_MAX_WORDS)
        return "gopher-word-count";
    /* Word length means something for space-separated words only: judged on those, when
     * they are at least half of the words. */
    size_t spaced = w - d->cjk_words;
    if (at_least(spaced, w, GOPHER_MAJORITY) &&
        (d->spaced_chars < (uint64_t)GOPHER_MIN_MEAN_WORD * spaced ||
         d->spaced_chars > (uint64_t)GOPHER_MAX_MEAN_WORD * spaced))
        return "gopher-mean-word-length";
    if (above(d->hashes, w, GOPHER_MAX_SYMBOLS) || above(d->ellipses, w, GOPHER_MAX_SYMBOLS))
        return "gopher-symbol-ratio";
    if (above(d->bullet_lines, d->lines, GOPHER_MAX_BULLET_LINES))
        return "gopher-bullet-lines";
    if (above(d->ellipsis_lines, d->lines, GOPHER_MAX_ELLIPSIS_LINES))
        return "gopher-ellipsis-lines";
    if (!at_least(d->alpha_words, w, GOPHER_MIN_ALPHA_WORDS))
        return "gopher-alpha-words";
    /* The stop words are English: the rule is for documents mostly in Latin script. */
    if (at_least(d->latin_words, w, GOPHER_MAJORITY) && d->stop_words < GOPHER_MIN_STOP_WORDS)
        return "gopher-stop-words";
    return NULL;
}

/* An open-addressing hash table counting 64-bit hashes. An entry is one 64-bit word: the
 * hash's high 44 bits as its tag, and a count in the low 20 bits; 0 marks a free slot.
 * Small entries keep a document's table in the L1 cache. Two keys with the same tag count
 * as one, a chance of W² / 2^45 in a document of W words (3e-4 at the 100000-word limit),
 * and then one count is one too high. The table starts with room for four times as many keys as the document has words,
 * so that probes stay short and, the n-grams of a pass never outnumbering the words, an
 * entry never moves; lines, which can outnumber the words, make it double when half full. */
#define HT_COUNT 0xFFFFFull   /* the count's bits; it saturates there */

typedef struct htable {
    uint64_t *e;
    size_t used;
    unsigned bits;
} htable;

static inline uint64_t ht_tag(uint64_t key)
{
    uint64_t tag = key & ~HT_COUNT;
    return tag ? tag : HT_COUNT + 1;
}

static inline uint32_t ht_count(uint64_t entry)
{
    return (uint32_t)(entry & HT_COUNT);
}

/* Room for four times keys: a pass over n-grams never has more keys than the words. */
static int htable_init(htable *t, size_t keys)
{
    t->bits = 6;
    while (((size_t)1 << t->bits) < 4 * keys)
        t->bits++;
    t->used = 0;
    t->e = calloc((size_t)1 << t->bits, sizeof *t->e);
    return t->e ? 0 : -1;
}

static void htable_clear(htable *t)
{
    memset(t->e, 0, sizeof *t->e << t->bits);
    t->used = 0;
}

/* Where the key with this tag is, or the free slot where it goes. */
static inline size_t htable_slot(const htable *t, uint64_t tag)
{
    size_t mask = ((size_t)1 << t->bits) - 1;
    size_t i = (size_t)((tag * 0x9E3779B97F4A7C15ull) >> (64 - t->bits));
    while (t->e[i] && (t->e[i] & ~HT_COUNT) != tag)
        i = (i + 1) & mask;
    return i;
}

static int htable_grow(htable *t)
{
    uint64_t *old = t->e;
    size_t n = (size_t)1 << t->bits;
    uint64_t *e = calloc(2 * n, sizeof *e);
    if (!e)
        return -1;
    t->e = e;
    t->bits++;
    for (size_t i = 0; i < n; i++)
        if (old[i])
            t->e[htable_slot(t, old[i] & ~HT_COUNT)] = old[i];
    free(old);
    return 0;
}

/* Counts key in a table with room for it; its entry. Written without branches on whether
 * the key is new, which text makes unpredictable. */
static inline uint64_t *htable_bump(htable *t, uint64_t key)
{
    uint64_t tag = ht_tag(key);
    uint64_t *e = &t->e[htable_slot(t, tag)];
    t->used += !*e;
    *e = (*e ? *e : tag) + (ht_count(*e) != HT_COUNT);
    return e;
}

/* The count of key. */
static inline uint32_t htable_count_of(const htable *t, uint64_t key)
{
    return ht_count(t->e[htable_slot(t, ht_tag(key))]);
}

/* Counts key, making room first when the table is half full: its count before, or -1 when
 * out of memory. */
static int64_t htable_add(htable *t, uint64_t key)
{
    if (2 * (t->used + 1) > ((size_t)1 << t->bits) && htable_grow(t) < 0)
        return -1;
    return (int64_t)ht_count(*htable_bump(t, key)) - 1;
}

/* Characters in UTF-8 text: the bytes that do not continue a sequence, eight at a time. */
static uint64_t count_chars(const unsigned char *s, size_t n)
{
    uint64_t count = n;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t v = load64(s + i);
        uint64_t continuing = v & ~(v << 1) & BYTES_80;   /* 10xxxxxx */
        count -= ((continuing >> 7) * BYTES_01) >> 56;
    }
    for (; i < n; i++)
        count -= (s[i] & 0xC0) == 0x80;
    return count;
}

/* Lines or paragraphs: how many, how many repeat one before them, and the repeats' characters. */
typedef struct span_dups {
    size_t spans, dups;
    uint64_t chars;
} span_dups;

/* Counts span s[a..b), whose hash is h, in table t. -1 when out of memory. */
static int count_span(htable *t, span_dups *sd, const unsigned char *s, size_t a, size_t b, uint64_t h)
{
    int64_t seen = htable_add(t, h);
    if (seen < 0)
        return -1;
    sd->spans++;
    if (seen) {
        sd->dups++;
        sd->chars += count_chars(s + a, b - a);
    }
    return 0;
}

/* Repeated lines (non-empty ones) and paragraphs (runs of them) in one pass: a paragraph's
 * hash chains its lines' hashes. -1 when out of memory. */
static int count_dup_spans(htable *lt, htable *pt, const unsigned char *s, size_t n, span_dups *lines,
                           span_dups *paras)
{
    size_t i = 0, para_start = 0, para_end = 0;
    uint64_t para_hash = 0;
    for (;;) {
        const unsigned char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        if (end > i) {
            uint64_t h = XXH3_64bits(s + i, end - i);
            if (count_span(lt, lines, s, i, end, h) < 0)
                return -1;
            if (para_end <= para_start) {
                para_start = i;
                para_hash = 0;
            }
            para_hash = mix64(para_hash + h);
            para_end = end;
        }
        if ((end == i || !nl) && para_end > para_start) {
            if (count_span(pt, paras, s, para_start, para_end, para_hash) < 0)
                return -1;
            para_start = para_end;
        }
        if (!nl)
            return 0;
        i = end + 1;
    }
}

static const char *gopher_dup_span_rule(const gopher_doc *d, const unsigned char *s, size_t n,
                                        uint64_t total)
{
    span_dups lines = {0, 0, 0}, paras = {0, 0, 0};
    htable lt, pt;
    /* Lines without words can be many more than words, and be all the same: the tables
     * start with room for as many lines as words, and grow with the distinct ones. */
    int status = htable_init(&lt, d->lines < d->words ? d->lines : d->words);
    if (status == 0 && (status = htable_init(&pt, d->paragraphs < d->words ? d->paragraphs : d->words)) == 0) {
        status = count_dup_spans(&lt, &pt, s, n, &lines, &paras);
        free(pt.e);
    }
    free(lt.e);
    if (status < 0)
        return out_of_memory;
    /* Paragraphs first, as datatrove: a repeated paragraph is made of repeated lines, so
     * with lines first the paragraph rules could hardly ever be the one reported. */
    if (above(paras.dups, paras.spans, GOPHER_MAX_DUP_PARAGRAPHS))
        return "gopher-dup-paragraphs";
    if (above(paras.chars, total, GOPHER_MAX_DUP_PARAGRAPH_CHARS))
        return "gopher-dup-paragraph-chars";
    if (above(lines.dups, lines.spans, GOPHER_MAX_DUP_LINES))
        return "gopher-dup-lines";
    if (above(lines.chars, total, GOPHER_MAX_DUP_LINE_CHARS))
        return "gopher-dup-line-chars";
    return NULL;
}

/* The n-gram of words [i, i + n), as a polynomial in the word hashes so that order counts. */
static inline uint64_t ngram_hash(const gopher_doc *d, size_t i, size_t n)
{
    uint64_t g = 0;
    for (size_t k = i; k < i + n; k++)
        g = (g + d->hash[k]) * 0xD6E8FEB86659FD93ull;
    return g;
}

/* Characters of the n-gram as written: its words and a space between two, except between
 * two CJK characters, which the text writes without one. */
static inline uint64_t ngram_chars(const gopher_doc *d, size_t i, size_t n)
{
    uint64_t c = (d->info[i] & WORD_CHARS);
    for (size_t k = i + 1; k < i + n; k++)
        c += (d->info[k] & WORD_CHARS) + !(d->info[k] & d->info[k - 1] & WORD_IS_CJK);
    return c;
}

/* Characters of the most frequent n-gram times its count (ties: the one seen first, as
 * Python's Counter.most_common): the counts, then the first position holding the highest. */
static uint64_t top_ngram_chars(htable *t, const gopher_doc *d, size_t n)
{
    uint32_t best = 0;
    htable_clear(t);
    for (size_t i = 0; i + n <= d->words; i++) {
        uint32_t count = ht_count(*htable_bump(t, ngram_hash(d, i, n)));
        best = count > best ? count : best;
    }
    for (size_t i = 0; i + n <= d->words; i++)
        if (htable_count_of(t, ngram_hash(d, i, n)) == best)
            return best * ngram_chars(d, i, n);
    return 0;
}

/* The first n-gram pass, over the base n-grams (2 words): top_ngram_chars into *top, the
 * largest count × (characters + 1) of any of them into *bound, and into run[i] how many
 * base n-grams in a row from position i occur more than once. Inlined for each base size,
 * for loops of known length. */
static inline void base_ngram_pass_n(htable *t, const gopher_doc *d, size_t n, uint32_t *run,
                                     uint64_t *top, uint64_t *bound)
{
    uint32_t best_count = 0;
    size_t grams = d->words >= n ? d->words - n + 1 : 0;
    *bound = 0;   /* the table is new */
    for (size_t i = 0; i < grams; i++) {
        uint64_t *e = htable_bump(t, ngram_hash(d, i, n));
        uint32_t count = ht_count(*e);
        run[i] = (uint32_t)(e - t->e);   /* its slot, for now */
        best_count = count > best_count ? count : best_count;
        uint64_t b = count * (ngram_chars(d, i, n) + 1);
        *bound = b > *bound ? b : *bound;
    }
    /* The most frequent: the first to occur of those with the highest count. */
    *top = 0;
    for (size_t i = 0; i < grams; i++)
        if (ht_count(t->e[run[i]]) == best_count) {
            *top = best_count * ngram_chars(d, i, n);
            break;
        }
    /* Without branches: which n-grams repeat is not predictable. */
    uint32_t repeats = 0;
    for (size_t i = grams; i-- > 0;) {
        repeats = (repeats + 1) & (0 - (uint32_t)(ht_count(t->e[run[i]]) >= 2));
        run[i] = repeats;
    }
}

static void base_ngram_pass(htable *t, const gopher_doc *d, size_t n, uint32_t *run, uint64_t *top,
                            uint64_t *bound)
{
    assert(n == 2 || n == 4);
    if (n == 2)
        base_ngram_pass_n(t, d, 2, run, top, bound);
    else
        base_ngram_pass_n(t, d, 4, run, top, bound);
}

/* Characters of the words covered by repeated n-grams: each occurrence of an n-gram after its
 * first marks its words, and a word counts once however many such n-grams cover it (the
 * paper's "not double counting"; datatrove instead skips n words after a repeat, which can
 * miss the end of a repeated passage). A repeated n-gram is made of repeated base n-grams,
 * and so is the occurrence it repeats: only positions that start `need` of those in a row
 * (run) are looked at, few in most text. */
static int64_t dup_ngram_chars(const gopher_doc *d, size_t n, const uint32_t *run, size_t need)
{
    size_t candidates = 0;
    for (size_t i = 0; i + n <= d->words; i++)
        candidates += run[i] >= need;
    if (candidates < 2)
        return 0;
    htable t;
    if (htable_init(&t, candidates) < 0)
        return -1;
    uint64_t chars = 0;
    size_t counted = 0;   /* words before this one are counted already */
    for (size_t i = 0; i + n <= d->words; i++) {
        if (run[i] < need || ht_count(*htable_bump(&t, ngram_hash(d, i, n))) == 1)
            continue;
        for (size_t k = i > counted ? i : counted; k < i + n; k++)
            chars += d->info[k] & WORD_CHARS;
        counted = i + n;
    }
    free(t.e);
    return (int64_t)chars;
}

/* The repetition rules on word n-grams. In a document mostly of CJK characters an n-gram is
 * 2n characters: Chinese and Japanese words average about two characters, and 5-grams of
 * characters, two or three words, repeat in ordinary prose (Japanese man pages: 14% of
 * their characters, against 4% for 5-grams of words in the English original). */
static const char *gopher_ngram_rule(const gopher_doc *d, htable *t, uint32_t *run, uint64_t total)
{
    size_t unit = at_least(d->cjk_words, d->words, GOPHER_MAJORITY) ? 2 : 1, base = 2 * unit;
    uint64_t top, bound;
    base_ngram_pass(t, d, base, run, &top, &bound);
    if (above(top, total, gopher_max_top_ngram[2]))
        return "gopher-top-ngram";
    /* A 3- or 4-gram is covered by the 2-gram that starts it and the one that ends it, each
     * occurring at least as often as the whole, so count × characters of any of them is at
     * most 2 * bound: most documents need no pass for them. */
    for (size_t n = 3; n <= 4 && above(2 * bound, total, gopher_max_top_ngram[n]); n++)
        if (above(top_ngram_chars(t, d, n * unit), total, gopher_max_top_ngram[n]))
            return "gopher-top-ngram";
    /* Words covered by repeated (n+1)-grams are covered by repeated n-grams, so the fraction
     * shrinks as n grows: a longer n-gram needs a pass only while the last fraction found is
     * over its threshold. */
    uint64_t dup = total;
    for (size_t n = 5; n <= 10; n++) {
        if (!above(dup, total, gopher_max_dup_ngram[n]))
            continue;
        int64_t c = dup_ngram_chars(d, n * unit, run, n * unit - base + 1);
        if (c < 0)
            return out_of_memory;
        dup = (uint64_t)c;
        if (above(dup, total, gopher_max_dup_ngram[n]))
            return "gopher-dup-ngram";
    }
    return NULL;
}

static const char *gopher_repetition_rule(const gopher_doc *d, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    uint64_t total = count_chars(s, n);
    const char *rule = gopher_dup_span_rule(d, s, n, total);
    if (rule)
        return rule;
    htable t;
    uint32_t *run = malloc((d->words + 1) * sizeof *run);
    if (!run || htable_init(&t, d->words) < 0) {
        free(run);
        return out_of_memory;
    }
    rule = gopher_ngram_rule(d, &t, run, total);
    free(t.e);
    free(run);
    return rule;
}

const char *clean_quality_gopher(const char *text, size_t n)
{
    gopher_doc d;
    memset(&d, 0, sizeof d);
    const char *rule = out_of_memory;
    if (gopher_scan_words(&d, text, n) == 0) {
        gopher_scan_symbols(&d, (const unsigned char *)text, n);
        gopher_scan_lines(&d, (const unsigned char *)text, n);
        rule = gopher_quality_rule(&d);
        if (!rule)
            rule = gopher_repetition_rule(&d, text, n);
    }
    free(d.hash);
    free(d.info);
    return rule;
}

/* ---- C4 ---- */

enum {
    C4_MIN_WORDS_PER_LINE = 3,
    C4_MIN_SENTENCES = 5,
    C4_MAX_WORD_CHARS = 1000,   /* a line with a longer token is dropped (TFDS, datatrove) */
};

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Whether needle (lowercase ASCII) starts at s[0..n), ASCII letters compared caselessly. */
static bool has_prefix_caseless(const unsigned char *s, size_t n, const char *needle)
{
    size_t i = 0;
    for (; needle[i]; i++)
        if (i == n || ascii_lower(s[i]) != (unsigned char)needle[i])
            return false;
    return true;
}

/* Whether one of the phrases (lowercase ASCII) starts at s[0..n). */
static bool phrase_at(const unsigned char *s, size_t n, const char *const *phrases, size_t count)
{
    unsigned char c = ascii_lower(s[0]);
    for (size_t k = 0; k < count; k++)
        if ((unsigned char)phrases[k][0] == c && has_prefix_caseless(s, n, phrases[k]))
            return true;
    return false;
}

/* Whether one of the phrases (lowercase ASCII, at least three letters) occurs in s[0..n),
 * ASCII letters compared caselessly (as Python's lower() does for them). With SSE2, only
 * the places where a phrase's first three letters are get compared, sixteen places at a
 * time. */
static bool contains_phrase(const unsigned char *s, size_t n, const char *const *phrases, size_t count)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i case_bit = _mm_set1_epi8(0x20);
    for (; n - i >= 18; i += 16) {
        __m128i c0 = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i)), case_bit);
        __m128i c1 = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i + 1)), case_bit);
        __m128i c2 = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i + 2)), case_bit);
        __m128i hit = _mm_setzero_si128();
        for (size_t k = 0; k < count; k++) {
            __m128i h = _mm_and_si128(_mm_cmpeq_epi8(c0, _mm_set1_epi8(phrases[k][0])),
                                      _mm_cmpeq_epi8(c1, _mm_set1_epi8(phrases[k][1])));
            hit = _mm_or_si128(hit, _mm_and_si128(h, _mm_cmpeq_epi8(c2, _mm_set1_epi8(phrases[k][2]))));
        }
        for (unsigned bits = (unsigned)_mm_movemask_epi8(hit); bits; bits &= bits - 1) {
            size_t at = i + (unsigned)__builtin_ctz(bits);
            if (phrase_at(s + at, n - at, phrases, count))
                return true;
        }
    }
#endif
    for (; i < n; i++)
        if (phrase_at(s + i, n - i, phrases, count))
            return true;
    return false;
}

/* C4 drops lines that mention javascript ("please enable JavaScript") and cookie and policy
 * boilerplate. The cookie phrases are only looked for where "cookie" is. */
static bool is_boilerplate_line(const unsigned char *s, size_t n)
{
    static const char *const phrases[] = {"javascript", "terms of use", "privacy policy"};
    static const char *const cookie[] = {"cookie"};
    static const char *const cookie_phrases[] = {
        "cookie policy", "uses cookies", "use of cookies", "use cookies",
    };
    return contains_phrase(s, n, phrases, 3) ||
           (contains_phrase(s, n, cookie, 1) && contains_phrase(s, n, cookie_phrases, 4));
}

/* A space-separated token longer than C4_MAX_WORD_CHARS characters (minified code, data). */
static bool has_long_token(const unsigned char *s, size_t n)
{
    if (n <= C4_MAX_WORD_CHARS)
        return false;   /* no token has more characters than bytes */
    size_t i = 0;
    while (i < n) {
        const unsigned char *sp = memchr(s + i, ' ', n - i);
        size_t end = sp ? (size_t)(sp - s) : n;
        if (end - i > C4_MAX_WORD_CHARS && llm_utf8_count((const char *)s + i, end - i) > C4_MAX_WORD_CHARS)
            return true;
        i = end + 1;
    }
    return false;
}

/* Length of the citation marker at s ("[12]", "[]", "[edit]", "[citation needed]", as C4's
 * regex), or 0. */
static size_t citation_len(const char *s, size_t n)
{
    static const char *const words[] = {"[edit]", "[citation needed]"};
    for (size_t k = 0; k < 2; k++) {
        size_t m = strlen(words[k]);
        if (n >= m && memcmp(s, words[k], m) == 0)
            return m;
    }
    size_t i = 1;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i < n && s[i] == ']' ? i + 1 : 0;
}

/* Appends s[0..n) to b from offset line, dropping a space that would double one already
 * there or lead the line. */
static void append_piece(llm_buf *b, size_t line, const char *s, size_t n)
{
    if (n && s[0] == ' ' && (b->len == line || b->data[b->len - 1] == ' ')) {
        s++;
        n--;
    }
    llm_buf_append(b, s, n);
}

/* Appends the line with its citation markers removed, and no space left doubled or at
 * either end by the removal. */
static void append_uncited(llm_buf *b, const char *s, size_t n)
{
    size_t line = b->len, from = 0, i = 0;
    const char *p;
    while (i < n && (p = memchr(s + i, '[', n - i))) {
        size_t at = (size_t)(p - s), len = citation_len(p, n - at);
        if (!len) {
            i = at + 1;
            continue;
        }
        append_piece(b, line, s + from, at - from);
        from = i = at + len;
    }
    append_piece(b, line, s + from, n - from);
    while (b->len > line && b->data && b->data[b->len - 1] == ' ')
        b->data[--b->len] = '\0';
}

/* The code point that ends s[0..n) (n > 0). */
static uint32_t last_char(const unsigned char *s, size_t n)
{
    size_t i = n - 1, len;
    while (i > 0 && n - i < 4 && (s[i] & 0xC0) == 0x80)
        i--;
    return decode_at(s, n, i, &len);
}

/* C4 keeps lines that end a sentence: . ! ? " and ” in any script, and the ideographic and
 * full-width stops, marks and closing corner brackets of Chinese and Japanese. */
static bool is_terminal(uint32_t cp)
{
    switch (cp) {
    case '.': case '!': case '?': case '"':
    case 0x201D:   /* ” */
    case 0x3002:   /* 。 */
    case 0xFF61:   /* ｡ */
    case 0xFF0E:   /* ． */
    case 0xFF01:   /* ！ */
    case 0xFF1F:   /* ？ */
    case 0xFF02:   /* ＂ */
    case 0x300D:   /* 」 */
    case 0x300F:   /* 』 */
        return true;
    default:
        return false;
    }
}

/* The first offset from i on whose byte can start a sentence stop: . ! ? or the lead byte of
 * an ideographic or full-width one (E3, EF); n when none. */
static size_t next_stop_candidate(const unsigned char *s, size_t n, size_t i)
{
#if defined(__SSE2__)
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')), _mm_cmpeq_epi8(v, _mm_set1_epi8('!'))),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')),
                                              _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE3)),
                                                           _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xEF)))));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (unsigned)__builtin_ctz(bits);
    }
#endif
    while (i < n && s[i] != '.' && s[i] != '!' && s[i] != '?' && s[i] != 0xE3 && s[i] != 0xEF)
        i++;
    return i;
}

/* Sentence ends: 1 for . ! ?, which end a sentence when a space or the line's end follows;
 * 2 for the ideographic and full-width ones, which end it wherever they are. */
static int sentence_end_kind(uint32_t cp)
{
    if (cp == '.' || cp == '!' || cp == '?')
        return 1;
    if (cp == 0x3002 || cp == 0xFF61 || cp == 0xFF0E || cp == 0xFF01 || cp == 0xFF1F)
        return 2;
    return 0;
}

/* Quotes and brackets that may close a sentence after its stop. */
static bool is_closer(uint32_t cp)
{
    switch (cp) {
    case '"': case '\'': case ')': case ']':
    case 0x2019: case 0x201D: case 0x00BB: case 0x300D: case 0x300F: case 0xFF09: case 0x3011:
        return true;
    default:
        return false;
    }
}

static bool starts_lowercase(const unsigned char *s, size_t n)
{
    size_t len;
    return n && utf8proc_category((utf8proc_int32_t)decode_at(s, n, 0, &len)) == UTF8PROC_CATEGORY_LL;
}

/* Sentences in a kept line, counted by their stops, as TFDS's note says C4 counts them
 * ("a simple count of end marks"): a run of stops and the quotes closing it end one sentence
 * when the line ends or a space follows, unless only dots are followed by a lowercase word
 * ("e.g. this"); an ideographic stop always ends one. At least 1, as a sentence splitter
 * returns for any text. */
static size_t count_sentences(const unsigned char *s, size_t n)
{
    size_t count = 0, i = 0, len;
    while ((i = next_stop_candidate(s, n, i)) < n) {
        uint32_t cp = decode_at(s, n, i, &len);
        int kind = sentence_end_kind(cp);
        if (!kind) {
            i += len;
            continue;
        }
        bool ideographic = false, dots = true;
        for (; i < n && (kind = sentence_end_kind(cp = decode_at(s, n, i, &len))); i += len) {
            ideographic |= kind == 2;
            dots &= cp == '.';
        }
        while (i < n && is_closer(decode_at(s, n, i, &len)))
            i += len;
        if (ideographic || i == n)
            count++;
        else if (s[i] == ' ' && !(dots && starts_lowercase(s + i + 1, n - i - 1)))
            count++;
    }
    return count ? count : 1;
}

static bool has_min_words(const char *s, size_t n, size_t min)
{
    word_iter it;
    word w;
    size_t count = 0;
    word_iter_init(&it, s, n);
    while (count < min && next_word(&it, &w))
        count++;
    return count >= min;
}

/* C4's line rules, in TFDS's order. */
static bool c4_keeps_line(const char *line, size_t n)
{
    const unsigned char *s = (const unsigned char *)line;
    if (!n || !is_terminal(last_char(s, n)) || ends_with(s, n, "..."))
        return false;
    return has_min_words(line, n, C4_MIN_WORDS_PER_LINE) && !is_boilerplate_line(s, n);
}

typedef struct c4_page {
    llm_buf *out;
    size_t kept, sentences;
    bool blank;   /* a blank line since the last kept line */
} c4_page;

static void buf_truncate(llm_buf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

/* Appends the line to the page when C4 keeps it: after "\n", or "\n\n" where a blank line
 * separated it from the last kept line. */
static void c4_line(c4_page *p, const char *s, size_t n)
{
    if (!n) {
        p->blank = true;
        return;
    }
    if (has_long_token((const unsigned char *)s, n))
        return;
    llm_buf *b = p->out;
    size_t mark = b->len;
    if (p->kept)
        llm_buf_puts(b, p->blank ? "\n\n" : "\n");
    size_t line = b->len;
    append_uncited(b, s, n);
    if (llm_buf_failed(b))
        return;
    if (!c4_keeps_line(b->data + line, b->len - line)) {
        buf_truncate(b, mark);
        return;
    }
    p->kept++;
    p->blank = false;
    p->sentences += count_sentences((const unsigned char *)b->data + line, b->len - line);
}

const char *clean_quality_c4(const char *text, size_t n, llm_buf *out)
{
    const unsigned char *s = (const unsigned char *)text;
    /* The paper drops a page where these appear at all (TFDS only looks in lines that
     * survive the line rules). */
    static const char *const lorem[] = {"lorem ipsum"};
    if (contains_phrase(s, n, lorem, 1))
        return "c4-lorem-ipsum";
    if (memchr(text, '{', n))
        return "c4-curly-bracket";
    if (!n)
        return "c4-empty";
    c4_page p = {out, 0, 0, false};
    size_t start = out->len, i = 0;
    while (i <= n) {
        const char *nl = i < n ? memchr(text + i, '\n', n - i) : NULL;
        size_t end = nl ? (size_t)(nl - text) : n;
        c4_line(&p, text + i, end - i);
        if (llm_buf_failed(out))
            return NULL;   /* the caller finds the failed buffer and reports it */
        i = end + 1;
    }
    const char *rule = !p.kept ? "c4-empty" : p.sentences < C4_MIN_SENTENCES ? "c4-too-few-sentences" : NULL;
    if (rule)
        buf_truncate(out, start);
    return rule;
}
