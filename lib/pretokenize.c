/* Pre-tokenization with PCRE2: one compiled pattern (JIT when the platform has it), and per
 * thread the match data and a JIT stack, so a match allocates nothing. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "pretokenize.h"
#include "utf8.h"

/* The JIT stack grows on demand up to this; the tiktoken patterns need little (their
 * repeats are of single characters), but a user's pattern may backtrack deeply. */
#define JIT_STACK_START (32u << 10)
#define JIT_STACK_MAX (64u << 20)

/* Returns the end of the piece that starts at pos, or 0 when ASCII alone cannot decide it. */
typedef size_t (*scanner)(const unsigned char *s, size_t n, size_t pos);

struct llm_pretok {
    pcre2_code *code;
    int jit;
    char *pattern;
    scanner scan;          /* NULL: PCRE2 alone */
    scanner known;         /* the pattern's scanner, whether on or not */
};

/* ---- scanners for the tiktoken patterns, on ASCII and CJK text ----
 * Each follows its regex's alternatives in order, for the classes it can tell apart: ASCII
 * letters [A-Za-z] (upper and lower for o200k), digits, whitespace [\t\n\v\f\r ] and the rest,
 * and the CJK text that makes up most of what is not ASCII: ideographs, kana and Hangul
 * syllables (all Lo: letters of no case) and CJK punctuation (neither letters, digits nor
 * spaces). Wherever the answer depends on another character (a letter? a digit? Unicode
 * whitespace? 'ſ', which (?i) matches for 's'?) they return 0 and PCRE2 decides that piece.
 * The unit test and the fuzz target compare them with PCRE2 alone. */

enum { C_OTHER, C_LOWER, C_UPPER, C_DIGIT, C_SPACE, C_HIGH, C_LO, C_PUNCT };

/* The class of each byte, C_HIGH for those >= 0x80. */
static const unsigned char byte_class[256] = {
    ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\v'] = C_SPACE, ['\f'] = C_SPACE, ['\r'] = C_SPACE, [' '] = C_SPACE,
    ['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT, ['3'] = C_DIGIT, ['4'] = C_DIGIT, ['5'] = C_DIGIT,
    ['6'] = C_DIGIT, ['7'] = C_DIGIT, ['8'] = C_DIGIT, ['9'] = C_DIGIT,
#define R4(c, k) [c] = k, [c + 1] = k, [c + 2] = k, [c + 3] = k
#define R16(c, k) R4(c, k), R4(c + 4, k), R4(c + 8, k), R4(c + 12, k)
    R16('A', C_UPPER), R4('Q', C_UPPER), R4('U', C_UPPER), ['Y'] = C_UPPER, ['Z'] = C_UPPER,
    R16('a', C_LOWER), R4('q', C_LOWER), R4('u', C_LOWER), ['y'] = C_LOWER, ['z'] = C_LOWER,
    R16(0x80, C_HIGH), R16(0x90, C_HIGH), R16(0xA0, C_HIGH), R16(0xB0, C_HIGH),
    R16(0xC0, C_HIGH), R16(0xD0, C_HIGH), R16(0xE0, C_HIGH), R16(0xF0, C_HIGH),
#undef R16
#undef R4
};

static inline int cls(unsigned char c)
{
    return byte_class[c];
}

/* The class of a code point >= U+0080: C_LO for the CJK letters, C_PUNCT for CJK and general
 * punctuation, C_HIGH for the rest. Only ranges whose every code point has had that class
 * since Unicode 13, so PCRE2 and the reference encoders' Unicode tables agree on them. */
static int high_cls(uint32_t cp)
{
    if ((cp >= 0x4E00 && cp <= 0x9FFC) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
        (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA))
        return C_LO;
    if ((cp >= 0x3001 && cp <= 0x3003) || (cp >= 0x3008 && cp <= 0x3011) || (cp >= 0x3014 && cp <= 0x301F) ||
        (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0x2010 && cp <= 0x2027) ||
        cp == 0x00B7 || cp == 0x30FB)
        return C_PUNCT;
    return C_HIGH;
}

/* The class of the character at s[i] (i < n, valid UTF-8) and its length. */
static inline int cls_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    if (s[i] < 0x80) {
        *len = 1;
        return cls(s[i]);
    }
    size_t k = llm_utf8_lead_len(s[i]);
    if (k > n - i)
        return *len = 1, C_HIGH;
    *len = k;
    return high_cls(llm_utf8_decode(s + i, k));
}

static inline int is_letter(int k) { return k == C_LOWER || k == C_UPPER || k == C_LO; }
static inline int is_other(int k) { return k == C_OTHER || k == C_PUNCT; }

/* The class of the character at i, -1 at the end of the text. */
static inline int class_after(const unsigned char *s, size_t n, size_t i)
{
    size_t len;
    return i < n ? cls_at(s, n, i, &len) : -1;
}

/* End of the run of letters (k a letter class) or of other characters from i, or 0 when the
 * run stops at a character the scanner does not know. ASCII goes a byte at a time. */
static size_t run_of(const unsigned char *s, size_t n, size_t i, int k)
{
    int letters = is_letter(k);
    for (;;) {
        if (letters)
            while (i < n && s[i] < 0x80 && is_letter(cls(s[i])))
                i++;
        else
            while (i < n && s[i] < 0x80 && cls(s[i]) == C_OTHER)
                i++;
        if (i == n || s[i] < 0x80)
            return i;
        size_t len;
        int c = cls_at(s, n, i, &len);
        if (c == C_HIGH)
            return 0;
        if (letters ? !is_letter(c) : !is_other(c))
            return i;
        i += len;
    }
}

/* \p{N}{1,3} from pos (a digit). */
static size_t digits3(const unsigned char *s, size_t n, size_t pos)
{
    size_t i = pos;
    while (i < n && i < pos + 3 && cls(s[i]) == C_DIGIT)
        i++;
    return i < pos + 3 && class_after(s, n, i) == C_HIGH ? 0 : i;
}

/* The whitespace alternatives at pos (ASCII whitespace): \s*[\r\n]+ when crlf, then
 * \s+(?!\S), then \s+. */
static size_t space_run(const unsigned char *s, size_t n, size_t pos, int crlf)
{
    size_t e = pos, last_nl = SIZE_MAX;
    for (; e < n && cls(s[e]) == C_SPACE; e++)
        if (s[e] == '\r' || s[e] == '\n')
            last_nl = e;
    if (class_after(s, n, e) == C_HIGH)
        return 0;
    if (crlf && last_nl != SIZE_MAX)
        return last_nl + 1;          /* \s* gives back what follows the last line break */
    if (e == n)
        return e;
    return e - pos >= 2 ? e - 1 : pos + 1;   /* leave the last space to the next word */
}

static inline unsigned char lower(unsigned char c) { return cls(c) == C_UPPER ? c | 0x20 : c; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at i (s[i] == '\''): its end, i when none, 0 to defer
 * (a byte >= 0x80 after the quote might be 'ſ'). Case-sensitive for gpt2. */
static size_t contraction(const unsigned char *s, size_t n, size_t i, int caseless)
{
    if (i + 1 >= n)
        return i;
    unsigned char d = s[i + 1], e = i + 2 < n ? s[i + 2] : 0;
    if (d >= 0x80)
        return caseless ? 0 : i;
    if (caseless) {
        d = lower(d);
        e = lower(e);
    }
    if (d == 's' || d == 't' || d == 'm' || d == 'd')
        return i + 2;
    if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l'))
        return i + 3;
    return i;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t scan_gpt2(const unsigned char *s, size_t n, size_t pos)
{
    size_t len;
    int k = cls_at(s, n, pos, &len);
    if (k == C_HIGH)
        return 0;
    if (s[pos] == '\'') {
        size_t e = contraction(s, n, pos, 0);
        if (e != pos)
            return e;
    }
    size_t i = pos;
    if (s[pos] == ' ' && pos + 1 < n) {
        int k2 = cls_at(s, n, pos + 1, &len);
        if (k2 == C_HIGH)
            return 0;
        if (k2 != C_SPACE) {
            i = pos + 1;
            k = k2;
        }
    }
    if (k == C_DIGIT) {
        size_t e = i;
        while (e < n && cls(s[e]) == C_DIGIT)
            e++;
        return class_after(s, n, e) == C_HIGH ? 0 : e;
    }
    if (k != C_SPACE)
        return run_of(s, n, i, k);
    return space_run(s, n, pos, 0);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
 * |\s*[\r\n]+|\s+(?!\S)|\s+ ; Qwen's is the same with \p{N} for \p{N}{1,3} (digits1). */
static size_t scan_cl100k_like(const unsigned char *s, size_t n, size_t pos, int digits1)
{
    unsigned char c = s[pos];
    size_t len;
    int k = cls_at(s, n, pos, &len);
    if (k == C_HIGH)
        return 0;
    if (c == '\'') {
        size_t e = contraction(s, n, pos, 1);
        if (e != pos)
            return e;
    }
    if (is_letter(k))
        return run_of(s, n, pos, C_LOWER);
    if (k == C_DIGIT)
        return digits1 ? pos + 1 : digits3(s, n, pos);
    int next = class_after(s, n, pos + len);
    if (c != '\r' && c != '\n' && next >= 0) {
        if (next == C_HIGH)
            return 0;
        if (is_letter(next))
            return run_of(s, n, pos + len, C_LOWER);
    }
    if (is_other(k) || (c == ' ' && is_other(next))) {
        size_t e = run_of(s, n, is_other(k) ? pos : pos + 1, C_OTHER);
        if (e == 0)
            return 0;
        while (e < n && (s[e] == '\r' || s[e] == '\n'))
            e++;
        return e;
    }
    return space_run(s, n, pos, 1);
}

static size_t scan_cl100k(const unsigned char *s, size_t n, size_t pos)
{
    return scan_cl100k_like(s, n, pos, 0);
}

static size_t scan_qwen(const unsigned char *s, size_t n, size_t pos)
{
    return scan_cl100k_like(s, n, pos, 1);
}

/* An optional caseless contraction at e, after a word: its end, or 0 to defer. */
static size_t o200k_contraction(const unsigned char *s, size_t n, size_t e)
{
    return e < n && s[e] == '\'' ? contraction(s, n, e, 1) : e;
}

/* o200k's two word alternatives from i (an ASCII letter): uppers then lowers, or uppers
 * alone, then an optional caseless contraction. A letter of another script next to the
 * ASCII ones defers. */
static size_t o200k_word(const unsigned char *s, size_t n, size_t i)
{
    size_t u = i;
    while (u < n && cls(s[u]) == C_UPPER)
        u++;
    if (u < n && s[u] >= 0x80)
        return 0;
    size_t l = u;
    while (l < n && cls(s[l]) == C_LOWER)
        l++;
    if (l < n && s[l] >= 0x80)
        return 0;
    /* with no lowers, l == u: the second alternative, uppers alone */
    return o200k_contraction(s, n, l);
}

/* The same for a run of CJK letters (Lo, in both alternatives' classes) from i: the whole
 * run, unless a letter of some case or an unknown character follows it. */
static size_t o200k_cjk_word(const unsigned char *s, size_t n, size_t i)
{
    size_t e = i;
    while (e < n) {
        size_t len;
        int c = cls_at(s, n, e, &len);
        if (c == C_HIGH || c == C_LOWER || c == C_UPPER)
            return 0;
        if (c != C_LO)
            break;
        e += len;
    }
    return o200k_contraction(s, n, e);
}

/* [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?
 * |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?
 * |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t scan_o200k(const unsigned char *s, size_t n, size_t pos)
{
    unsigned char c = s[pos];
    size_t len;
    int k = cls_at(s, n, pos, &len);
    if (k == C_HIGH)
        return 0;
    if (k == C_LO)
        return o200k_cjk_word(s, n, pos);
    if (is_letter(k))
        return o200k_word(s, n, pos);
    if (k == C_DIGIT)
        return digits3(s, n, pos);
    int next = class_after(s, n, pos + len);
    if (c != '\r' && c != '\n' && next >= 0) {
        if (next == C_HIGH)
            return 0;
        if (next == C_LO)
            return o200k_cjk_word(s, n, pos + len);
        if (is_letter(next))
            return o200k_word(s, n, pos + len);
    }
    if (is_other(k) || (c == ' ' && is_other(next))) {
        size_t e = run_of(s, n, is_other(k) ? pos : pos + 1, C_OTHER);
        if (e == 0)
            return 0;
        while (e < n && (s[e] == '\r' || s[e] == '\n' || s[e] == '/'))
            e++;
        return e;
    }
    return space_run(s, n, pos, 1);
}

struct llm_pretok_matcher {
    const llm_pretok *p;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
};

llm_pretok *llm_pretok_new(const char *pattern, llm_error *err)
{
    llm_pretok *p = calloc(1, sizeof *p);
    if (p == NULL || (p->pattern = strdup(pattern)) == NULL) {
        free(p);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE offset;
    p->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code,
                            &offset, NULL);
    if (p->code == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        llm_error_set(err, "bad regex at offset %zu: %s", (size_t)offset, (const char *)msg);
        llm_pretok_free(p);
        return NULL;
    }
    /* Without JIT (an unsupported CPU, or SELinux refusing executable memory) the
     * interpreter gives the same matches, slower. */
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
    if (strcmp(pattern, LLM_PRETOK_GPT2) == 0)
        p->known = scan_gpt2;
    else if (strcmp(pattern, LLM_PRETOK_CL100K) == 0)
        p->known = scan_cl100k;
    else if (strcmp(pattern, LLM_PRETOK_O200K) == 0)
        p->known = scan_o200k;
    else if (strcmp(pattern, LLM_PRETOK_QWEN) == 0)
        p->known = scan_qwen;
    p->scan = p->known;
    return p;
}

void llm_pretok_free(llm_pretok *p)
{
    if (p == NULL)
        return;
    pcre2_code_free(p->code);
    free(p->pattern);
    free(p);
}

const char *llm_pretok_pattern(const llm_pretok *p) { return p->pattern; }
int llm_pretok_jit(const llm_pretok *p) { return p->jit; }

int llm_pretok_set_scanner(llm_pretok *p, int on)
{
    p->scan = on ? p->known : NULL;
    return p->known != NULL;
}

llm_pretok_matcher *llm_pretok_matcher_new(const llm_pretok *p)
{
    llm_pretok_matcher *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->p = p;
    m->md = pcre2_match_data_create_from_pattern(p->code, NULL);
    m->mc = pcre2_match_context_create(NULL);
    if (m->md == NULL || m->mc == NULL) {
        llm_pretok_matcher_free(m);
        return NULL;
    }
    if (p->jit) {
        m->stack = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
        if (m->stack == NULL) {
            llm_pretok_matcher_free(m);
            return NULL;
        }
        pcre2_jit_stack_assign(m->mc, NULL, m->stack);
    }
    return m;
}

void llm_pretok_matcher_free(llm_pretok_matcher *m)
{
    if (m == NULL)
        return;
    pcre2_jit_stack_free(m->stack);
    pcre2_match_context_free(m->mc);
    pcre2_match_data_free(m->md);
    free(m);
}

int llm_pretok_next(llm_pretok_matcher *m, const char *text, size_t n, size_t pos, size_t *start,
                    size_t *end, llm_error *err)
{
    /* The tiktoken patterns match at every position, so the piece found at pos is the
     * one the regex would find searching from pos. */
    if (pos < n && m->p->scan) {
        size_t e = m->p->scan((const unsigned char *)text, n, pos);
        if (e != 0) {
            *start = pos;
            *end = e;
            return 1;
        }
    }
    while (pos < n) {
        int rc;
        if (m->p->jit)
            rc = pcre2_jit_match(m->p->code, (PCRE2_SPTR)text, n, pos, 0, m->md, m->mc);
        else
            rc = pcre2_match(m->p->code, (PCRE2_SPTR)text, n, pos, PCRE2_NO_UTF_CHECK, m->md, m->mc);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 0;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return llm_error_set(err, "regex match failed at byte %zu: %s", pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        if (ov[1] > ov[0]) {
            *start = ov[0];
            *end = ov[1];
            return 1;
        }
        /* An empty match: try again after the character where it was found. */
        if (ov[0] >= n)
            return 0;
        pos = ov[0] + llm_utf8_lead_len((unsigned char)text[ov[0]]);
    }
    return 0;
}
