/* The character-level steps of llm-clean: UTF-8 repair with control removal, and
 * whitespace cleaning. Both are single passes with a fast path for plain ASCII, since
 * they see every byte of the corpus. */
#include "clean.h"
#include "utf8.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Length of the leading run of printable ASCII, tab and newline: the bytes sanitize
 * passes through untouched. Sixteen bytes at a time where SSE2 is there (signed
 * compares catch bytes below 0x20 and above 0x7F at once), eight otherwise. */
static size_t plain_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F);
    const __m128i tab = _mm_set1_epi8('\t'), nl = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del));
        __m128i fine = _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, nl));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(fine, bad));
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#else
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if ((((v - ONES * 0x20) & ~v) | (v + ONES) | v) & HIGHS)
            break;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        if ((c < 0x20 && c != '\t' && c != '\n') || c >= 0x7F)
            break;
    }
    return i;
}

/* Length of the leading run of three-byte characters that need no second look (most
 * CJK text): lead bytes E1..EC, EE and EF take any two continuation bytes, and only
 * U+2028, U+2029 and U+FEFF among them are characters sanitize changes. */
static size_t three_byte_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i + 3 <= n) {
        unsigned char c = s[i], c1 = s[i + 1], c2 = s[i + 2];
        if (c < 0xE1 || c == 0xED || c > 0xEF || (c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80)
            break;
        if ((c == 0xE2 && c1 == 0x80 && (c2 == 0xA8 || c2 == 0xA9)) || (c == 0xEF && c1 == 0xBB && c2 == 0xBF))
            break;
        i += 3;
    }
    return i;
}

/* What sanitize does with the character at s (len bytes, valid): 0 keep it, 1 drop it,
 * 2 turn it into a newline. */
static int control_action(const unsigned char *s, size_t len)
{
    if (len == 1)
        return s[0] == '\t' || s[0] == '\n' || (s[0] >= 0x20 && s[0] < 0x7F) ? 0
               : s[0] == '\v' || s[0] == '\f'                                ? 2
                                                                             : 1;
    if (len == 2 && s[0] == 0xC2 && s[1] < 0xA0)
        return s[1] == 0x85 ? 2 : 1;                          /* C1 controls; NEL */
    if (len == 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return 1;                                             /* U+FEFF */
    if (len == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))
        return 2;                                             /* LS, PS */
    return 0;
}

/* In valid UTF-8: 1 when the character starting at s[i] is one sanitize changes (a C0
 * control but tab and newline, DEL, a C1 control, U+FEFF, U+2028, U+2029). */
static int changes_at(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    if (c < 0x80)
        return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7F;
    if (c == 0xC2)
        return i + 1 < n && s[i + 1] < 0xA0;
    if (i + 2 >= n)
        return 0;
    return (c == 0xEF && s[i + 1] == 0xBB && s[i + 2] == 0xBF) ||
           (c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9));
}

#ifdef __SSE2__
/* The first i where changes_at holds, sixteen positions at a time: each of those
 * characters is recognised by its first two or three bytes, compared in place. */
static size_t next_change(const unsigned char *s, size_t n)
{
    const __m128i c1f = _mm_set1_epi8(0x1F), c9f = _mm_set1_epi8((char)0x9F);
    size_t i = 0;
    for (; i + 18 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i v1 = _mm_loadu_si128((const __m128i *)(s + i + 1));
        __m128i v2 = _mm_loadu_si128((const __m128i *)(s + i + 2));
        __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
        low = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))), low);
        __m128i m = _mm_or_si128(low, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
        __m128i c1 = _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xC2)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(v1, c9f), v1));
        __m128i bom = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xEF)),
                                                  _mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xBB))),
                                    _mm_cmpeq_epi8(v2, _mm_set1_epi8((char)0xBF)));
        __m128i sep = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE2)),
                                                  _mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0x80))),
                                    _mm_or_si128(_mm_cmpeq_epi8(v2, _mm_set1_epi8((char)0xA8)),
                                                 _mm_cmpeq_epi8(v2, _mm_set1_epi8((char)0xA9))));
        m = _mm_or_si128(_mm_or_si128(m, c1), _mm_or_si128(bom, sep));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    for (; i < n; i++)
        if (changes_at(s, n, i))
            return i;
    return n;
}

/* Valid UTF-8 needs sanitizing only from its first character that sanitize changes:
 * found with one validation and one scan, both SIMD. Returns that offset, or n. */
static size_t first_change(const unsigned char *s, size_t n)
{
    return llm_utf8_valid((const char *)s, n) ? next_change(s, n) : 0;
}
#else
static size_t first_change(const unsigned char *s, size_t n)
{
    (void)s;
    (void)n;
    return 0;    /* the careful loop does it all */
}
#endif

int clean_sanitize(const char *str, size_t n, llm_buf *out, size_t *invalid)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t copied = 0;   /* s[0..copied) has been dealt with */
    int changed = 0;
    *invalid = 0;
    size_t i = first_change(s, n);
    if (i == n)
        return 0;
    while (i < n) {
        if (s[i] < 0x80) {   /* non-ASCII text comes in runs: stay in this loop for them */
            i += plain_prefix(s + i, n - i);
            if (i == n)
                break;
        }
        if (s[i] >= 0xE1) {
            size_t k = three_byte_prefix(s + i, n - i);
            if (k) {
                i += k;
                continue;
            }
        }
        size_t len = llm_utf8_seq_len(s + i, n - i);
        const char *replacement = NULL;
        size_t skip = len;
        if (len == 0) {
            skip = llm_utf8_invalid_len(s + i, n - i);
            replacement = LLM_UTF8_REPLACEMENT;
            ++*invalid;
        } else {
            int action = control_action(s + i, len);
            if (action == 0) {
                i += len;
                continue;
            }
            if (action == 2)
                replacement = "\n";
            else if (s[i] == '\r')
                /* CRLF is one newline; a lone CR is one too (old Mac text). */
                replacement = i + 1 < n && s[i + 1] == '\n' ? "" : "\n";
            else
                replacement = "";
        }
        if (!changed) {
            changed = 1;
            llm_buf_reserve(out, n + 16);
        }
        llm_buf_append(out, s + copied, i - copied);
        llm_buf_puts(out, replacement);
        i += skip;
        copied = i;
    }
    if (!changed)
        return 0;
    llm_buf_append(out, s + copied, n - copied);
    return 1;
}

/* ---- whitespace ---- */

/* Byte length of the horizontal space at s, or 0: space, tab, and the Unicode spaces
 * (NBSP, Ogham, U+2000..200A, narrow NBSP, medium math space, ideographic space). */
static size_t space_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == ' ' || c == '\t')
        return 1;
    if (c < 0xC2)
        return 0;
    if (c == 0xC2)
        return n >= 2 && s[1] == 0xA0 ? 2 : 0;
    if (n < 3)
        return 0;
    if (c == 0xE1)
        return s[1] == 0x9A && s[2] == 0x80 ? 3 : 0;
    if (c == 0xE2) {
        if (s[1] == 0x80)
            return s[2] <= 0x8A || s[2] == 0xAF ? 3 : 0;
        return s[1] == 0x81 && s[2] == 0x9F ? 3 : 0;
    }
    if (c == 0xE3)
        return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;
    return 0;
}

/* Bytes that may start whitespace (space, tab, newline, lead bytes of the Unicode
 * spaces): the copy loop stops only at these. */
static const uint8_t maybe_space[256] = {
    ['\t'] = 1, ['\n'] = 1, [' '] = 1, [0xC2] = 1, [0xE1] = 1, [0xE2] = 1, [0xE3] = 1,
};

#ifdef __SSE2__
/* Bytes of v that may start whitespace. */
static inline __attribute__((always_inline)) __m128i sse_maybe_space(__m128i v)
{
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xC2)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE1)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE2)));
    return _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE3)));
}
#endif

/* End of the run of word bytes that starts at s[i], with the single spaces between words
 * left in it: they are clean already, and copying whole runs is what makes this step
 * fast. s[i] itself must not be whitespace to start a run (leading spaces are trimmed). */
static size_t word_run(const unsigned char *s, size_t i, size_t n)
{
    if (i < n && maybe_space[s[i]])
        return i;
    for (;;) {
#ifdef __SSE2__
        const __m128i sp = _mm_set1_epi8(' ');
        for (; i + 17 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i next = _mm_loadu_si128((const __m128i *)(s + i + 1));
            __m128i ws = sse_maybe_space(v), is_space = _mm_cmpeq_epi8(v, sp);
            /* Trouble: whitespace other than a space, or a space followed by whitespace. */
            __m128i trouble =
                _mm_or_si128(_mm_andnot_si128(is_space, ws), _mm_and_si128(is_space, sse_maybe_space(next)));
            unsigned mask = (unsigned)_mm_movemask_epi8(trouble);
            if (mask) {
                i += (size_t)__builtin_ctz(mask);
                break;
            }
        }
#endif
        while (i < n && (!maybe_space[s[i]] || (s[i] == ' ' && i + 1 < n && !maybe_space[s[i + 1]])))
            i++;
        /* A lead byte that starts no space (CJK punctuation, say) is part of the word. */
        if (i < n && s[i] >= 0xC2 && space_len(s + i, n - i) == 0) {
            i += llm_utf8_lead_len(s[i]);
            if (i >= n)
                return n;
            continue;
        }
        return i;
    }
}

/* The whitespace step's state between words. */
typedef struct ws_state {
    char *dst;
    size_t w;                  /* bytes written to dst */
    int started;               /* a word has been written */
    int space;                 /* a space is owed before the next word */
    size_t newlines;           /* newlines owed before the next word */
    int collapse;
} ws_state;

/* Writes what is owed before the next word: nothing at the very start (so the text is
 * trimmed), newlines (or one space when collapsing), or a space. */
static void ws_before_word(ws_state *st)
{
    if (st->started) {
        if (st->newlines && !st->collapse) {
            memset(st->dst + st->w, '\n', st->newlines);
            st->w += st->newlines;
        } else if (st->newlines || st->space) {
            st->dst[st->w++] = ' ';
        }
    }
    st->started = 1;
    st->space = 0;
    st->newlines = 0;
}

void clean_whitespace(const char *str, size_t n, int collapse_newlines, unsigned max_blank, llm_buf *out)
{
    const unsigned char *s = (const unsigned char *)str;
    if (llm_buf_reserve(out, n) < 0)
        return;
    /* Built in place in out's storage: whitespace only shrinks, so n bytes suffice. */
    ws_state st = {.dst = out->data + out->len, .collapse = collapse_newlines};
    size_t i = 0;
    while (i < n) {
        size_t run = word_run(s, i, n);
        if (run == i) {
            size_t len;
            if (s[i] == '\n') {
                /* One newline for the line break, plus the blank lines up to the cap;
                 * spaces at the end of the line are dropped with the owed space. */
                if (st.newlines < 1 + (size_t)max_blank)
                    st.newlines++;
                st.space = 0;
                i++;
                continue;
            }
            if ((len = space_len(s + i, n - i)) != 0) {
                st.space = 1;
                i += len;
                continue;
            }
            /* The lead byte of a character that is not a space: part of a word. */
            run = i + llm_utf8_lead_len(s[i]);
            if (run > n)
                run = n;
        }
        ws_before_word(&st);
        memcpy(st.dst + st.w, s + i, run - i);
        st.w += run - i;
        i = run;
    }
    out->len += st.w;
    out->data[out->len] = '\0';
}
