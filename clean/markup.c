/* HTML/XML markup removal (markup.h) in one left-to-right pass: the text between '<' and
 * '&' is copied in bulk, and each '<' or '&' either starts a construct, which is replaced,
 * or is copied as text. Every scan is bounded so that the pass is linear on any input. */
#include "markup.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "entities.h"
#include "simd.h"
#include "utf8.h"

/* Where the next occurrence of a byte is: the answer for any search starting in [from, at]
 * (at == n: none), so repeated searches never scan the same bytes twice. */
typedef struct next_byte {
    size_t from, at;
} next_byte;

typedef struct markup {
    const char *in;
    size_t n;
    llm_buf *out;
    size_t run;        /* start of the text not yet copied to out */
    size_t count;      /* constructs replaced */
    next_byte lt, gt;
    size_t block;          /* constructs: the '<' and '&' of in[block, block + 64), one bit a byte */
    uint64_t constructs;
    /* One bit per input byte: an opening quote on the path of a tag that failed. Another
     * tag reaching it would fail the same way (see scan_attrs); allocated when needed. */
    unsigned char *dead_quotes;
    size_t text_until; /* a '<' before this is text: the fallback when dead_quotes is NULL */
    const struct clean_entity *last_entity;   /* the last named reference found */
} markup;

enum tag_kind { TAG_INLINE, TAG_BLOCK, TAG_CELL, TAG_RAW };

#define TAG_KEY 16   /* longest listed name + NUL, padded to two words */

/* Elements that break the text flow (a newline), table cells (a space) and those whose
 * contents are not text; every other name is inline. tag_kind looks them up by hash. */
static const struct tag_entry {
    char name[TAG_KEY];
    unsigned char kind;
} tag_table[] = {
    {"address", TAG_BLOCK}, {"article", TAG_BLOCK}, {"aside", TAG_BLOCK},
    {"blockquote", TAG_BLOCK}, {"body", TAG_BLOCK}, {"br", TAG_BLOCK},
    {"caption", TAG_BLOCK}, {"center", TAG_BLOCK}, {"dd", TAG_BLOCK},
    {"details", TAG_BLOCK}, {"dialog", TAG_BLOCK}, {"dir", TAG_BLOCK},
    {"div", TAG_BLOCK}, {"dl", TAG_BLOCK}, {"dt", TAG_BLOCK},
    {"fieldset", TAG_BLOCK}, {"figcaption", TAG_BLOCK}, {"figure", TAG_BLOCK},
    {"footer", TAG_BLOCK}, {"form", TAG_BLOCK}, {"frameset", TAG_BLOCK},
    {"h1", TAG_BLOCK}, {"h2", TAG_BLOCK}, {"h3", TAG_BLOCK},
    {"h4", TAG_BLOCK}, {"h5", TAG_BLOCK}, {"h6", TAG_BLOCK},
    {"head", TAG_BLOCK}, {"header", TAG_BLOCK}, {"hgroup", TAG_BLOCK},
    {"hr", TAG_BLOCK}, {"html", TAG_BLOCK}, {"legend", TAG_BLOCK},
    {"li", TAG_BLOCK}, {"listing", TAG_BLOCK}, {"main", TAG_BLOCK},
    {"menu", TAG_BLOCK}, {"nav", TAG_BLOCK}, {"noscript", TAG_BLOCK},
    {"ol", TAG_BLOCK}, {"optgroup", TAG_BLOCK}, {"option", TAG_BLOCK},
    {"p", TAG_BLOCK}, {"plaintext", TAG_BLOCK}, {"pre", TAG_BLOCK},
    {"script", TAG_RAW}, {"search", TAG_BLOCK}, {"section", TAG_BLOCK},
    {"select", TAG_BLOCK}, {"style", TAG_RAW}, {"summary", TAG_BLOCK},
    {"table", TAG_BLOCK}, {"tbody", TAG_BLOCK}, {"td", TAG_CELL},
    {"textarea", TAG_BLOCK}, {"tfoot", TAG_BLOCK}, {"th", TAG_CELL},
    {"thead", TAG_BLOCK}, {"title", TAG_BLOCK}, {"tr", TAG_BLOCK},
    {"ul", TAG_BLOCK}, {"xmp", TAG_BLOCK},
};

/* HTML5's numeric references 0x80..0x9F name Windows-1252 characters; 0: left as is. */
static const uint16_t windows_1252[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/* ---- character classes (ASCII; bytes of multi-byte characters are in none) ---- */

/* Every class is a bit in one 256-byte table, so that testing a byte is one load and one
 * AND instead of a chain of comparisons. The vector scans below compute the same classes
 * with comparisons; tests and the fuzzer hold the two to the same answers. */
enum {
    C_SPACE = 1 << 0,       /* HTML whitespace */
    C_ALPHA = 1 << 1,
    C_ALNUM = 1 << 2,
    C_TAG_NAME = 1 << 3,    /* may be part of a tag name */
    C_TAG_DELIM = 1 << 4,   /* may follow a tag name */
    C_END_ATTR = 1 << 5,    /* ends an attribute name */
    C_END_VALUE = 1 << 6,   /* ends an unquoted attribute value */
};

#define IS_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\f')
#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_ALNUM(c) (IS_ALPHA(c) || ((c) >= '0' && (c) <= '9'))

/* Narrower than HTML5 (anything but whitespace, '/' and '>'), so that code such as
 * "if (a<b) c>d" stays text; '=' is in for quoted-printable mail's soft breaks ("<br=\n>"). */
#define IS_TAG_NAME(c) \
    (IS_ALNUM(c) || (c) == ':' || (c) == '.' || (c) == '_' || (c) == '-' || (c) == '=')

#define IS_TAG_DELIM(c) (IS_SPACE(c) || (c) == '/' || (c) == '>')

/* HTML5 allows quotes, '=' and '<' in attribute names and unquoted values (as parse
 * errors), and browsers take such tags: mail encoded as quoted-printable is full of them
 * (<A href=3D"x">). A '<' alone ends a tag try, which keeps the scans linear; a quote
 * opens a quoted value only right after '='. */
#define IS_END_ATTR(c) (IS_SPACE(c) || (c) == '/' || (c) == '>' || (c) == '=' || (c) == '<')
#define IS_END_VALUE(c) (IS_SPACE(c) || (c) == '>' || (c) == '<')

#define BYTE_CLASS(c)                                                                     \
    ((IS_SPACE(c) ? C_SPACE : 0) | (IS_ALPHA(c) ? C_ALPHA : 0) | (IS_ALNUM(c) ? C_ALNUM : 0) | \
     (IS_TAG_NAME(c) ? C_TAG_NAME : 0) | (IS_TAG_DELIM(c) ? C_TAG_DELIM : 0) |             \
     (IS_END_ATTR(c) ? C_END_ATTR : 0) | (IS_END_VALUE(c) ? C_END_VALUE : 0))
#define BYTE_CLASS4(c) BYTE_CLASS(c), BYTE_CLASS((c) + 1), BYTE_CLASS((c) + 2), BYTE_CLASS((c) + 3)
#define BYTE_CLASS16(c) BYTE_CLASS4(c), BYTE_CLASS4((c) + 4), BYTE_CLASS4((c) + 8), BYTE_CLASS4((c) + 12)
#define BYTE_CLASS64(c) \
    BYTE_CLASS16(c), BYTE_CLASS16((c) + 16), BYTE_CLASS16((c) + 32), BYTE_CLASS16((c) + 48)

static const unsigned char byte_class[256] = {
    BYTE_CLASS64(0), BYTE_CLASS64(64), BYTE_CLASS64(128), BYTE_CLASS64(192),
};

static int is_class(unsigned char c, unsigned cls) { return byte_class[c] & cls; }
static int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10; }
static unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

/* ---- scanning and output ---- */

/* The first index from p with a byte in one of the classes cls, or n. */
static size_t scan_to(const char *in, size_t n, size_t p, unsigned cls)
{
    while (p < n && !is_class((unsigned char)in[p], cls))
        p++;
    return p;
}

/* The first index from p with a byte in none of the classes cls, or n. */
static size_t scan_over(const char *in, size_t n, size_t p, unsigned cls)
{
    while (p < n && is_class((unsigned char)in[p], cls))
        p++;
    return p;
}

#ifdef LLM_SIMD
/* The classes of byte_class by comparisons (vectors have no byte-wide table lookup). */
static llm_vec vec_space(llm_vec v)
{
    return llm_vec_or(llm_vec_eq_byte(v, ' '),
                      llm_vec_andnot(llm_vec_eq_byte(v, '\v'), llm_vec_in_range(v, '\t', '\r')));
}

/* Bit i: the byte at s + i is not in C_TAG_NAME. */
static uint64_t vec_not_tag_name(const char *s)
{
    llm_vec v = llm_vec_load(s);
    llm_vec letter = llm_vec_in_range(llm_vec_or(v, llm_vec_splat(0x20)), 'a', 'z');
    /* '-', '.', the digits and ':' are 0x2D..0x3A, but so is '/' */
    llm_vec punct = llm_vec_andnot(llm_vec_eq_byte(v, '/'), llm_vec_in_range(v, '-', ':'));
    llm_vec name = llm_vec_or(llm_vec_or(letter, punct),
                              llm_vec_or(llm_vec_eq_byte(v, '='), llm_vec_eq_byte(v, '_')));
    return ~llm_vec_mask(name) & LLM_VEC_ALL;
}

/* Bit i: the byte at s + i is in C_END_ATTR (attr) or C_END_VALUE. */
static uint64_t vec_attr_end(const char *s, int attr)
{
    llm_vec v = llm_vec_load(s);
    llm_vec end = llm_vec_or(vec_space(v), llm_vec_or(llm_vec_eq_byte(v, '>'), llm_vec_eq_byte(v, '<')));
    if (attr)
        end = llm_vec_or(end, llm_vec_or(llm_vec_eq_byte(v, '/'), llm_vec_eq_byte(v, '=')));
    return llm_vec_mask(end);
}

/* Bit i: the byte at s + i is '<' or '&'. */
static uint64_t vec_construct(const char *s)
{
    llm_vec v = llm_vec_load(s);
    return llm_vec_mask(llm_vec_or(llm_vec_eq_byte(v, '<'), llm_vec_eq_byte(v, '&')));
}

static uint64_t vec_byte(const char *s, char c)
{
    return llm_vec_mask(llm_vec_eq_byte(llm_vec_load(s), (unsigned char)c));
}

/* Bit i: the byte at s + i is '>', '<', or a quote right after an '=' or a space (one
 * that may open a quoted value). Reads s[-1]. */
static uint64_t vec_tag_stop(const char *s)
{
    llm_vec v = llm_vec_load(s), before = llm_vec_load(s - 1);
    llm_vec quote = llm_vec_or(llm_vec_eq_byte(v, '"'), llm_vec_eq_byte(v, '\''));
    llm_vec may_open = llm_vec_and(quote, llm_vec_or(llm_vec_eq_byte(before, '='), vec_space(before)));
    return llm_vec_mask(llm_vec_or(may_open, llm_vec_or(llm_vec_eq_byte(v, '>'), llm_vec_eq_byte(v, '<'))));
}

/* What quoted_tag_end looks at in 64 bytes of a tag, one bit a byte. */
typedef struct tag_block {
    uint64_t quote;      /* '"' */
    uint64_t eq;         /* '=' */
    uint64_t gt;         /* '>' */
    uint64_t odd;        /* '<' or '\'' */
    uint64_t ends;       /* a space, '>' or '<': what ends an unquoted value */
    uint64_t not_name;   /* none of the bytes of an attribute name in a simple tag */
} tag_block;

static void tag_block_load(const char *s, tag_block *b)
{
    *b = (tag_block){0};
    for (int k = 0; k < 64; k += LLM_VEC_BYTES) {
        llm_vec v = llm_vec_load(s + k);
        llm_vec quote = llm_vec_eq_byte(v, '"'), eq = llm_vec_eq_byte(v, '='), gt = llm_vec_eq_byte(v, '>');
        llm_vec odd = llm_vec_or(llm_vec_eq_byte(v, '<'), llm_vec_eq_byte(v, '\''));
        llm_vec space = vec_space(v);
        llm_vec ends = llm_vec_or(space, llm_vec_or(gt, llm_vec_eq_byte(v, '<')));
        llm_vec other = llm_vec_or(space, llm_vec_eq_byte(v, '/'));
        llm_vec not_name = llm_vec_or(llm_vec_or(quote, eq), llm_vec_or(gt, llm_vec_or(odd, other)));
        b->quote |= llm_vec_mask(quote) << k;
        b->eq |= llm_vec_mask(eq) << k;
        b->gt |= llm_vec_mask(gt) << k;
        b->odd |= llm_vec_mask(odd) << k;
        b->ends |= llm_vec_mask(ends) << k;
        b->not_name |= llm_vec_mask(not_name) << k;
    }
}
#endif


/* The end of a tag name from p: the first byte not in C_TAG_NAME, or n. Names and
 * attribute names are a few bytes of varying length; a vector and a bit scan find their
 * end where a byte loop's exit was a mispredicted branch for nearly every tag. */
static size_t tag_name_end(const char *in, size_t n, size_t p)
{
#ifdef LLM_SIMD
    for (; p + LLM_VEC_BYTES <= n; p += LLM_VEC_BYTES) {
        uint64_t mask = vec_not_tag_name(in + p);
        if (mask)
            return p + (size_t)__builtin_ctzll(mask);
    }
#endif
    return scan_over(in, n, p, C_TAG_NAME);
}

/* The first byte from p that ends an attribute name (attr) or an unquoted value, or n. */
static size_t attr_end(const char *in, size_t n, size_t p, int attr)
{
#ifdef LLM_SIMD
    for (; p + LLM_VEC_BYTES <= n; p += LLM_VEC_BYTES) {
        uint64_t mask = vec_attr_end(in + p, attr);
        if (mask)
            return p + (size_t)__builtin_ctzll(mask);
    }
#endif
    return scan_to(in, n, p, attr ? C_END_ATTR : C_END_VALUE);
}

/* The first index from p (<= n) of a '<' or '&', or n: the main loop's scan of the text,
 * one pass for both bytes. Constructs in markup are a few bytes apart: the bits of the last
 * 64 bytes loaded answer most searches without a load. */
static size_t find_construct(markup *m, size_t p)
{
    const char *in = m->in;
    size_t n = m->n;
#ifdef LLM_SIMD
    for (;;) {
        if (p - m->block < 64) {
            uint64_t mask = m->constructs >> (p - m->block);
            if (mask)
                return p + (size_t)__builtin_ctzll(mask);
            p = m->block + 64;
        }
        if (n - p < 64)
            break;
        m->block = p;
        m->constructs = 0;
        for (int k = 0; k < 64; k += LLM_VEC_BYTES)
            m->constructs |= vec_construct(in + p + k) << k;
    }
#endif
    while (p < n && in[p] != '<' && in[p] != '&')
        p++;
    return p;
}

/* Where a tag whose attributes start at p ends, when no '<' and no quote that may open a
 * value (one right after an '=' or a space) comes before its '>'. scan_attrs stops at
 * every '>' and '<' but inside quoted values, and a quote opens one only after an '='
 * and maybe spaces: with none such, it ends at that first '>'. Most tags are like that,
 * mail's quoted-printable ones too (<a href=3D"x">, where the quotes are bytes of an
 * unquoted value). 0 otherwise, and quoted_tag_end or scan_attrs decide. p is past a
 * tag name: in[p - 1] can be read. */
static size_t plain_tag_end(const char *in, size_t n, size_t p)
{
#ifdef LLM_SIMD
    for (; p + LLM_VEC_BYTES <= n; p += LLM_VEC_BYTES) {
        uint64_t mask = vec_tag_stop(in + p);
        if (mask) {
            p += (size_t)__builtin_ctzll(mask);
            return in[p] == '>' ? p + 1 : 0;
        }
    }
#endif
    for (; p < n && in[p] != '>' && in[p] != '<'; p++)
        if ((in[p] == '"' || in[p] == '\'') && (in[p - 1] == '=' || is_class((unsigned char)in[p - 1], C_SPACE)))
            return 0;
    return p < n && in[p] == '>' ? p + 1 : 0;
}

/* The first index from p of byte c, or n: for quoted attribute values, mostly too short
 * to repay a memchr call. */
static size_t find_char(const char *in, size_t n, size_t p, char c)
{
#ifdef LLM_SIMD
    for (; p + LLM_VEC_BYTES <= n; p += LLM_VEC_BYTES) {
        uint64_t mask = vec_byte(in + p, c);
        if (mask)
            return p + (size_t)__builtin_ctzll(mask);
    }
#endif
    while (p < n && in[p] != c)
        p++;
    return p;
}

static size_t find_byte(markup *m, next_byte *c, char ch, size_t from)
{
    if (from >= c->from && from <= c->at)
        return c->at;
    const char *p = from < m->n ? memchr(m->in + from, ch, m->n - from) : NULL;
    c->from = from;
    c->at = p ? (size_t)(p - m->in) : m->n;
    return c->at;
}

#define SHORT_RUN 32   /* text runs up to this long are copied by put_text's fixed-size move */

/* Appends in[from, to) to out. clean_markup_strip reserves room for the whole input up
 * front, so only decoded references can outgrow it: the common case stays inline, and a
 * short run is one fixed-size move (two vector moves instead of a memcpy call). The bytes
 * it writes past the run are overwritten by what follows, or by the NUL at the end. */
static void put_text(markup *m, size_t from, size_t to)
{
    llm_buf *b = m->out;
    size_t len = to - from;
    if (len <= SHORT_RUN && m->n - from >= SHORT_RUN && !b->failed && b->cap - b->len > 2 * SHORT_RUN) {
        memcpy(b->data + b->len, m->in + from, SHORT_RUN);
        b->len += len;
        return;
    }
    llm_buf_append(b, m->in + from, len);
}

/* What a tag of each kind leaves in the text: a newline, a space or nothing. */
static const char tag_separator[] = {[TAG_INLINE] = 0, [TAG_BLOCK] = '\n', [TAG_CELL] = ' ', [TAG_RAW] = 0};

/* Appends the separator of a tag kind, stored unconditionally (counted only when there
 * is one): which kind comes next is anybody's guess, so a branch on it mispredicts. */
static void put_separator(markup *m, int kind)
{
    llm_buf *b = m->out;
    if (b->failed || b->cap - b->len <= 1) {
        if (tag_separator[kind])
            llm_buf_putc(b, tag_separator[kind]);
        return;
    }
    b->data[b->len] = tag_separator[kind];
    b->len += tag_separator[kind] != 0;
}

/* Copies the pending text up to a construct at s, which the caller then replaces. */
static void begin_construct(markup *m, size_t s)
{
    put_text(m, m->run, s);
    m->count++;
}

/* Appends a decoded code point. Controls that text.c's repair removes or turns into
 * newlines get the same treatment here, so that a reference cannot bring one back. */
static void put_code_point(markup *m, uint32_t cp)
{
    if (cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
        llm_buf_putc(m->out, '\n');
        return;
    }
    if ((cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFEFF)
        return;
    char u[4];
    llm_buf_append(m->out, u, llm_utf8_encode(cp, u));
}

/* ---- character references ---- */

/* Orders a name of len letters and digits against a table name (inline: names are short,
 * and a strncmp call per step was a fifth of the time on text dense with references). */
static int entity_cmp(const char *key, size_t len, const char *name)
{
    for (size_t i = 0; i < len; i++)
        if (key[i] != name[i])   /* a NUL in name orders it first */
            return (unsigned char)key[i] < (unsigned char)name[i] ? -1 : 1;
    return name[len] ? -1 : 0;
}

/* The table entry for name[0..len) (len >= 1, name[0] a letter), or NULL. */
static const clean_entity *entity_find(const char *name, size_t len)
{
    unsigned char c = (unsigned char)name[0];
    int slot = c <= 'Z' ? c - 'A' : c - 'a' + 26;
    size_t lo = clean_entity_first[slot], hi = clean_entity_first[slot + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = entity_cmp(name, len, clean_entities[mid].name);
        if (cmp == 0)
            return &clean_entities[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* &name; or a legacy &name. Only the maximal run of letters and digits is tried, and a
 * legacy name must not run on into '=': HTML5's rule for attribute values, used in text
 * too so that "AT&T", "&ampx" and "?a=1&copy=2" stay as they are. */
static size_t named_reference(markup *m, size_t s)
{
    const char *in = m->in;
    size_t p = s + 1;
    if (p >= m->n || !is_class((unsigned char)in[p], C_ALPHA))
        return 0;
    /* Bounded: one byte past the longest name is enough to reject it. */
    size_t limit = m->n - p > CLEAN_ENTITY_MAX_NAME + 1 ? p + CLEAN_ENTITY_MAX_NAME + 1 : m->n;
    size_t q = scan_over(in, limit, p, C_ALNUM);
    if (q - p > CLEAN_ENTITY_MAX_NAME)
        return 0;
    /* Text that has references mostly repeats one (&nbsp;): the last one found is
     * compared first, which spares the search's unpredictable steps. */
    const clean_entity *e = m->last_entity;
    if (!e || entity_cmp(in + p, q - p, e->name) != 0)
        e = entity_find(in + p, q - p);
    if (!e)
        return 0;
    m->last_entity = e;
    size_t end;
    if (q < m->n && in[q] == ';')
        end = q + 1;
    else if (e->legacy && !(q < m->n && in[q] == '='))
        end = q;
    else
        return 0;
    begin_construct(m, s);
    llm_buf_puts(m->out, e->utf8);
    return end;
}

static int digit_value(unsigned char c, int hex)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* &#DDD; or &#xHHH;, the ';' optional as in HTML5. */
static size_t numeric_reference(markup *m, size_t s)
{
    const char *in = m->in;
    size_t p = s + 2;
    int hex = p < m->n && (in[p] | 0x20) == 'x';
    p += hex;
    size_t digits = p;
    uint32_t cp = 0;
    for (int d; p < m->n && (d = digit_value((unsigned char)in[p], hex)) >= 0; p++) {
        cp = cp * (hex ? 16 : 10) + (uint32_t)d;
        if (cp > 0x10FFFF)
            cp = 0x110000;   /* saturate: any longer run is out of range too */
    }
    if (p == digits)
        return 0;
    if (p < m->n && in[p] == ';')
        p++;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    else if (cp >= 0x80 && cp <= 0x9F && windows_1252[cp - 0x80])
        cp = windows_1252[cp - 0x80];
    begin_construct(m, s);
    put_code_point(m, cp);
    return p;
}

static size_t reference_at(markup *m, size_t s)
{
    if (s + 1 < m->n && m->in[s + 1] == '#')
        return numeric_reference(m, s);
    return named_reference(m, s);
}

/* ---- tags ---- */

/* A tag name as a 16-byte key: its bytes with bit 0x20 set, then zeros (len < TAG_KEY).
 * Setting 0x20 lowercases letters and turns no other name byte into a letter or digit
 * (only '_' changes, to DEL), so a key matches a listed name exactly when the name
 * matches caselessly. Without a branch on len: the zeros come from ANDing with the 16
 * bytes of tag_key_mask that start len bytes before its zeros. */
static const unsigned char tag_key_mask[2 * TAG_KEY] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

static void tag_key(const char *name, size_t len, size_t room, uint64_t key[2])
{
    uint64_t mask[2];
    if (room >= TAG_KEY) {   /* a word load may read past the name, within the input */
        memcpy(key, name, TAG_KEY);
    } else {
        char pad[TAG_KEY] = {0};
        memcpy(pad, name, len);
        memcpy(key, pad, TAG_KEY);
    }
    /* Two word loads: copied whole, the mask is stored as one vector, and the loads of
     * its halves wait for that store to complete. */
    memcpy(&mask[0], tag_key_mask + TAG_KEY - len, 8);
    memcpy(&mask[1], tag_key_mask + TAG_KEY - len + 8, 8);
    key[0] = (key[0] | 0x2020202020202020ull) & mask[0];
    key[1] = (key[1] | 0x2020202020202020ull) & mask[1];
}

/* tag_table as a perfect hash on the key, built once: every listed name has a slot of
 * its own, so a lookup is one probe and one comparison, with no branch on the outcome
 * (block, cell and inline tags alternate in no order a predictor could learn). */
#define TAG_COUNT (sizeof tag_table / sizeof tag_table[0])
#define TAG_SLOT_BITS 9   /* 512 slots for 62 names: a collision-free multiplier is near */

static struct tag_listed {
    uint64_t key[2];   /* the last one, all zeros, matches no key: the empty slots' */
    unsigned char kind;
} tag_keys[TAG_COUNT + 1];
static unsigned char tag_slots[1 << TAG_SLOT_BITS];   /* index into tag_keys */
static uint64_t tag_multiplier;
static pthread_once_t tag_hash_once = PTHREAD_ONCE_INIT;

static size_t tag_slot_of(const uint64_t key[2], uint64_t multiplier)
{
    return (size_t)(((key[0] ^ key[1]) * multiplier) >> (64 - TAG_SLOT_BITS));
}

/* The odd multipliers tag_hash_build tries: splitmix64's outputs, which unlike steps
 * of a fixed stride spread the names afresh each time. */
static uint64_t next_multiplier(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) | 1;
}

/* Tries multipliers until no two names share a slot: the table fixes how many tries that
 * takes (78 for the names above), a few microseconds once per process. */
static void tag_hash_build(void)
{
    _Static_assert(TAG_COUNT < 255, "tag_slots holds byte indices");
    for (size_t i = 0; i < TAG_COUNT; i++) {
        tag_key(tag_table[i].name, strlen(tag_table[i].name), TAG_KEY, tag_keys[i].key);
        tag_keys[i].kind = tag_table[i].kind;
    }
    tag_keys[TAG_COUNT].kind = TAG_INLINE;
    uint64_t state = 0;
    for (;;) {
        uint64_t multiplier = next_multiplier(&state);
        memset(tag_slots, TAG_COUNT, sizeof tag_slots);
        size_t i = 0;
        for (; i < TAG_COUNT; i++) {
            size_t h = tag_slot_of(tag_keys[i].key, multiplier);
            if (tag_slots[h] != TAG_COUNT)
                break;
            tag_slots[h] = (unsigned char)i;
        }
        if (i == TAG_COUNT) {
            tag_multiplier = multiplier;
            return;
        }
    }
}

/* The kind of the tag named name[0..len), where room bytes of input start at name. */
static int tag_kind(const char *name, size_t len, size_t room)
{
    if (len >= TAG_KEY)
        return TAG_INLINE;
    uint64_t key[2];
    tag_key(name, len, room, key);
    const struct tag_listed *t = &tag_keys[tag_slots[tag_slot_of(key, tag_multiplier)]];
    int same = (t->key[0] == key[0]) & (t->key[1] == key[1]);
    _Static_assert(TAG_INLINE == 0, "a mismatch masks the kind to TAG_INLINE");
    return t->kind & -same;   /* not "same ? kind : TAG_INLINE", which compilers branch on */
}

static int quote_dead(const markup *m, size_t o)
{
    return m->dead_quotes && (m->dead_quotes[o >> 3] >> (o & 7) & 1);
}

#ifdef LLM_SIMD
/* Bit i set when an odd number of bits at or below i are set in x. */
static uint64_t prefix_xor(uint64_t x)
{
    for (int shift = 1; shift < 64; shift *= 2)
        x ^= x << shift;
    return x;
}

#define QUOTED_TAG_BLOCKS 4   /* longer tags are left to scan_attrs */

/* Bit i set for the bytes from each start (a bit of starts) up to the next byte that is
 * not in run, excluding it; *open is set when a run reaches bit 63 (it goes on in the
 * next block). A start is added to run's bits at its place, and the carry clears the run
 * up to its end: the bits that change are the run's, and its end's, which is not in run. */
static uint64_t runs_from(uint64_t starts, uint64_t run, int *open)
{
    uint64_t bits = ((run + starts) ^ run) & run;
    *open = (int)(bits >> 63);
    return bits;
}
#endif

/* Where a tag whose attributes start at p ends when they are simple: every '=' comes
 * right after a name, and before a '"', which opens a value that the next '"' closes,
 * or before an unquoted value with no quote and no '=', which the next space, '>' or
 * '<' ends; no '<' or '\'' comes outside the values. scan_attrs then reads the
 * attributes just so: a '"' that no '=' precedes, an '=' after a space, a '/', another
 * '=' or a value, or an '=' before a space, a '>', a '<' or a '\'' would break a rule.
 * So the quotes pair up in order, and the tag ends at the first '>' outside them; blocks
 * of 64 bytes find it with a few masks instead of a branch or two per byte of every
 * attribute. An unquoted value is taken to hold no quote (its bytes are found before the
 * quotes are known to be real), and checked to: where a quote is in one after all, the
 * first such is a byte of the run, and the tag is not simple.
 * 0 when the attributes are not simple, or the tag is long or near the end of the input:
 * scan_attrs decides then. *self_closing as scan_attrs sets it: a '/' before the '>' but
 * not as the last byte of an unquoted value. */
static size_t quoted_tag_end(const char *in, size_t n, size_t p, int *self_closing)
{
#ifdef LLM_SIMD
    uint64_t inside = 0;           /* all ones while a value is open across blocks */
    uint64_t eq_before = 0;        /* bit 0: the byte before the block is '=' */
    uint64_t not_name_before = 1;  /* bit 0: the byte before the block is no name byte */
    uint64_t value_before = 0;     /* bit 0: an unquoted value starts or goes on here */
    int open = 0;                  /* the byte before the block is in an unquoted value */
    for (int k = 0; k < QUOTED_TAG_BLOCKS && n - p > 64; k++, p += 64) {
        tag_block b;
        tag_block_load(in + p, &b);
        /* Bit i: byte i is an opening quote or inside a value. */
        uint64_t in_value = prefix_xor(b.quote) ^ inside;
        uint64_t end = b.gt & ~in_value;
        uint64_t before_end = end ? (end & -end) - 1 : ~0ull;
        uint64_t openers = b.quote & in_value & before_end, eqs = b.eq & ~in_value & before_end;
        unsigned char next = (unsigned char)in[p + 64];
        uint64_t quote_after = b.quote >> 1 | (uint64_t)(next == '"') << 63;
        uint64_t bad_after = (b.ends | b.odd) >> 1 | (uint64_t)(is_class(next, C_END_VALUE) || next == '\'') << 63;
        int was_open = open;
        uint64_t unquoted = runs_from((eqs & ~quote_after) << 1 | value_before, ~b.ends, &open);
        uint64_t broken = (openers & ~(b.eq << 1 | eq_before)) | (eqs & bad_after) |
                          (eqs & (b.not_name << 1 | not_name_before)) | (b.odd & ~in_value & before_end) |
                          (unquoted & (b.quote | b.eq) & before_end);
        if (broken)
            return 0;
        if (end) {
            size_t i = (size_t)__builtin_ctzll(end);
            int slash_in_value = i ? (int)(unquoted >> (i - 1) & 1) : was_open;
            *self_closing = in[p + i - 1] == '/' && !slash_in_value;
            return p + i + 1;
        }
        inside = (uint64_t)((int64_t)in_value >> 63);
        eq_before = b.eq >> 63;
        not_name_before = b.not_name >> 63;
        /* A value goes on, or starts after an '=' that ends the block. */
        value_before = (uint64_t)open | (eqs >> 63 & (uint64_t)(next != '"'));
    }
#else
    (void)in, (void)n, (void)p, (void)self_closing;
#endif
    return 0;
}

/* Scans a tag's attributes from p (just past its name) to its '>'. Returns the index after
 * the '>', or 0 when they are malformed or unclosed, with *stop where the scan gave up.
 * With mark, sets the bit of every opening quote on the way in dead_quotes.
 *
 * Why this is linear over all tags tried: outside quotes a scan stops at a '<', so only a
 * quoted value can carry it over the '<' of a later try, and what follows a quote depends
 * on nothing before it. A failed try whose quotes held a '<' marks its opening quotes,
 * and a later try that opens one of them fails there at once instead of scanning again. */
static size_t scan_attrs(markup *m, size_t p, int *self_closing, size_t *stop, int mark)
{
    const char *in = m->in;
    size_t n = m->n;
    for (;;) {
        p = scan_over(in, n, p, C_SPACE);
        if (p >= n)
            break;
        unsigned char c = (unsigned char)in[p];
        if (c == '>')
            return p + 1;
        if (c == '/') {   /* "/>", or a stray '/' between attributes */
            if (p + 1 < n && in[p + 1] == '>') {
                *self_closing = 1;
                return p + 2;
            }
            p++;
            continue;
        }
        if (c == '<')
            break;
        /* the first character of a name may be anything else, '=' included */
        p = attr_end(in, n, p + 1, 1);
        if (p >= n || in[p] == '<')
            break;
        size_t eq = scan_over(in, n, p, C_SPACE);
        if (eq >= n || in[eq] != '=') {   /* an attribute without a value */
            p = eq;
            continue;
        }
        p = scan_over(in, n, eq + 1, C_SPACE);
        if (p >= n)
            break;
        c = (unsigned char)in[p];
        if (c == '"' || c == '\'') {
            if (quote_dead(m, p))
                break;
            if (mark)
                m->dead_quotes[p >> 3] |= (unsigned char)(1u << (p & 7));
            p = find_char(in, n, p + 1, (char)c);
            if (p >= n)
                break;
            p++;   /* HTML5 lets the next name follow the closing quote at once */
            continue;
        }
        if (c == '>')   /* "a=>": an empty value */
            return p + 1;
        p = attr_end(in, n, p, 0);
        if (p >= n || in[p] == '<')
            break;
    }
    *stop = p;
    return 0;
}

/* After a tag starting at s failed at stop (attributes from attrs): if a '<' lies inside
 * the span, a later try starts there and may reach this one's quotes, so mark them. */
static void remember_failure(markup *m, size_t s, size_t attrs, size_t stop)
{
    if (find_byte(m, &m->lt, '<', s + 1) >= stop)
        return;
    if (!m->dead_quotes && !(m->dead_quotes = calloc(m->n / 8 + 1, 1))) {
        m->text_until = stop;   /* no memory: give up on tags in the span, still linear */
        return;
    }
    int self_closing;
    size_t again;
    scan_attrs(m, attrs, &self_closing, &again, 1);
}

/* The end of the </name ...> closing raw text (script, style) from p, or n when there is
 * none: everything up to it is dropped. */
static size_t raw_text_end(markup *m, size_t p, const char *name, size_t len)
{
    const char *in = m->in;
    size_t n = m->n;
    for (;;) {
        const char *lt = p < n ? memchr(in + p, '<', n - p) : NULL;
        if (!lt)
            return n;
        size_t q = (size_t)(lt - in), after = q + 2 + len;
        if (after < n && in[q + 1] == '/' && is_class((unsigned char)in[after], C_TAG_DELIM)) {
            size_t i = 0;
            while (i < len && ascii_lower((unsigned char)in[q + 2 + i]) == ascii_lower((unsigned char)name[i]))
                i++;
            if (i == len) {
                const char *gt = memchr(in + after, '>', n - after);
                m->count++;
                return gt ? (size_t)(gt - in) + 1 : n;
            }
        }
        p = q + 1;
    }
}

/* A start or end tag at s whose name starts at name. */
static size_t tag_at(markup *m, size_t s, size_t name, int end_tag)
{
    const char *in = m->in;
    size_t p = tag_name_end(in, m->n, name);
    if (p >= m->n || !is_class((unsigned char)in[p], C_TAG_DELIM))
        return 0;
    int kind = tag_kind(in + name, p - name, m->n - name);
    int self_closing = 0;
    /* Only raw text tags care whether they close themselves, which takes the full scan. */
    size_t stop, end = in[p] == '>' ? p + 1 : kind != TAG_RAW ? plain_tag_end(in, m->n, p) : 0;
    /* The fast path does not look at dead quotes: none are marked yet when it runs. */
    if (!end && in[p] != '>' && !m->dead_quotes)
        end = quoted_tag_end(in, m->n, p, &self_closing);
    if (!end && in[p] != '>')
        end = scan_attrs(m, p, &self_closing, &stop, 0);
    if (!end) {
        remember_failure(m, s, p, stop);
        return 0;
    }
    begin_construct(m, s);
    put_separator(m, kind);
    if (kind == TAG_RAW && !end_tag && !self_closing)   /* XHTML's <script/> is empty */
        end = raw_text_end(m, end, in + name, p - name);
    return end;
}

/* The end of a comment whose text starts at p: after "-->" or "--!>", or n. HTML5 also
 * ends "<!-->" and "<!--->" at once. */
static size_t comment_end(const char *in, size_t n, size_t p)
{
    if (p < n && in[p] == '>')
        return p + 1;
    if (p + 1 < n && in[p] == '-' && in[p + 1] == '>')
        return p + 2;
    for (;;) {
        const char *d = memchr(in + p, '-', n - p);
        if (!d)
            return n;
        size_t q = (size_t)(d - in);
        if (q + 2 < n && in[q + 1] == '-') {
            if (in[q + 2] == '>')
                return q + 3;
            if (in[q + 2] == '!' && q + 3 < n && in[q + 3] == '>')
                return q + 4;
        }
        p = q + 1;
    }
}

/* Where "]]>" starts at or after p, or n. */
static size_t cdata_end(const char *in, size_t n, size_t p)
{
    for (;;) {
        const char *b = memchr(in + p, ']', n - p);
        if (!b)
            return n;
        size_t q = (size_t)(b - in);
        if (q + 2 < n && in[q + 1] == ']' && in[q + 2] == '>')
            return q;
        p = q + 1;
    }
}

static int starts_with(const markup *m, size_t s, const char *lit, size_t len)
{
    return m->n - s >= len && memcmp(m->in + s, lit, len) == 0;
}

/* <!DOCTYPE ...>, <?xml ...?> and other declarations: up to the first '>', which must
 * come before any '<' (so that "x<? ... a -> b" prose is not swallowed). */
static size_t declaration_at(markup *m, size_t s)
{
    size_t gt = find_byte(m, &m->gt, '>', s + 2);
    if (gt >= m->n || find_byte(m, &m->lt, '<', s + 1) < gt)
        return 0;
    begin_construct(m, s);
    return gt + 1;
}

static size_t bang_at(markup *m, size_t s)
{
    if (starts_with(m, s, "<!--", 4)) {
        begin_construct(m, s);
        return comment_end(m->in, m->n, s + 4);
    }
    if (starts_with(m, s, "<![CDATA[", 9)) {
        size_t close = cdata_end(m->in, m->n, s + 9);
        begin_construct(m, s);
        put_text(m, s + 9, close);
        return close < m->n ? close + 3 : m->n;
    }
    return declaration_at(m, s);
}

/* Handles the construct starting with '<' at s: returns where it ends, having written its
 * replacement to out, or 0 when this '<' is text. */
static size_t markup_at(markup *m, size_t s)
{
    if (s + 1 >= m->n || s < m->text_until)
        return 0;
    unsigned char c = (unsigned char)m->in[s + 1];
    /* Start and end tags alternate: one path for both rather than a branch between them. */
    int end_tag = c == '/';
    size_t name = s + 1 + (size_t)end_tag;
    if (name < m->n && is_class((unsigned char)m->in[name], C_ALPHA))
        return tag_at(m, s, name, end_tag);
    if (c == '!')
        return bang_at(m, s);
    if (c == '?')
        return declaration_at(m, s);
    return 0;
}

size_t clean_markup_strip(const char *in, size_t n, llm_buf *out)
{
    pthread_once(&tag_hash_once, tag_hash_build);
    markup m = {.in = in, .n = n, .out = out};
    m.lt.from = m.gt.from = SIZE_MAX;   /* nothing known yet */
    m.block = n + 64;   /* no block yet: past every p */
    llm_buf_reserve(out, n + SHORT_RUN);   /* removing markup only shrinks text; see put_text */
    size_t pos = 0;
    for (;;) {
        size_t s = find_construct(&m, pos);
        if (s >= n)
            break;
        size_t end = in[s] == '&' ? reference_at(&m, s) : markup_at(&m, s);
        if (end)
            m.run = end;
        pos = end ? end : s + 1;
    }
    llm_buf_append(out, in + m.run, n - m.run);   /* and the NUL that put_text leaves out */
    free(m.dead_quotes);
    return m.count;
}
