/* HTML/XML markup removal (markup.h) in one left-to-right pass: the text between '<' and
 * '&' is copied in bulk, and each '<' or '&' either starts a construct, which is replaced,
 * or is copied as text. Every scan is bounded so that the pass is linear on any input. */
#include "markup.h"

#include <stdlib.h>
#include <string.h>

#include "entities.h"
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
    next_byte lt, amp, gt;
    /* One bit per input byte: an opening quote on the path of a tag that failed. Another
     * tag reaching it would fail the same way (see scan_attrs); allocated when needed. */
    unsigned char *dead_quotes;
    size_t text_until; /* a '<' before this is text: the fallback when dead_quotes is NULL */
} markup;

enum tag_kind { TAG_INLINE, TAG_BLOCK, TAG_CELL, TAG_RAW };

#define TAG_KEY 16   /* longest listed name + NUL, padded to two words */

/* Elements that break the text flow (a newline), table cells (a space) and those whose
 * contents are not text. Sorted (bytes) for binary search; every other name is inline. */
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

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26; }
static int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10; }
static int is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

/* Narrower than HTML5 (anything but whitespace, '/' and '>'), so that code such as
 * "if (a<b) c>d" stays text; '=' is in for quoted-printable mail's soft breaks ("<br=\n>"). */
static int is_tag_name_char(unsigned char c)
{
    return is_alnum(c) || c == ':' || c == '.' || c == '_' || c == '-' || c == '=';
}

/* What may follow a tag name. */
static int is_tag_delim(unsigned char c) { return is_space(c) || c == '/' || c == '>'; }

/* HTML5 allows quotes, '=' and '<' in attribute names and unquoted values (as parse
 * errors), and browsers take such tags: mail encoded as quoted-printable is full of them
 * (<A href=3D"x">). A '<' alone ends a tag try, which keeps the scans linear; a quote
 * opens a quoted value only right after '='. */
static int is_attr_bad(unsigned char c) { return c == '<'; }

static int ends_attr_name(unsigned char c)
{
    return is_space(c) || c == '/' || c == '>' || c == '=' || is_attr_bad(c);
}

static int ends_unquoted(unsigned char c) { return is_space(c) || c == '>' || is_attr_bad(c); }

static unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

/* ---- scanning and output ---- */

static size_t find_byte(markup *m, next_byte *c, char ch, size_t from)
{
    if (from >= c->from && from <= c->at)
        return c->at;
    const char *p = from < m->n ? memchr(m->in + from, ch, m->n - from) : NULL;
    c->from = from;
    c->at = p ? (size_t)(p - m->in) : m->n;
    return c->at;
}

/* Copies the pending text up to a construct at s, which the caller then replaces. */
static void begin_construct(markup *m, size_t s)
{
    llm_buf_append(m->out, m->in + m->run, s - m->run);
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
    size_t p = s + 1, q = p;
    if (p >= m->n || !is_alpha((unsigned char)in[p]))
        return 0;
    while (q < m->n && q - p <= CLEAN_ENTITY_MAX_NAME && is_alnum((unsigned char)in[q]))
        q++;
    if (q - p > CLEAN_ENTITY_MAX_NAME)
        return 0;
    const clean_entity *e = entity_find(in + p, q - p);
    if (!e)
        return 0;
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

/* Eight bytes as a big-endian number, so that numbers order as memcmp orders bytes
 * (common.h has made sure the host is little-endian). */
static uint64_t load_be64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/* Binary search on the padded lowercase name, compared eight bytes at a time: this runs
 * for every tag, and memcmp calls were a tenth of the time on markup-heavy pages. */
static int tag_kind(const char *name, size_t len)
{
    char key[TAG_KEY] = {0};
    if (len >= TAG_KEY)
        return TAG_INLINE;
    for (size_t i = 0; i < len; i++)
        key[i] = (char)ascii_lower((unsigned char)name[i]);
    uint64_t k0 = load_be64(key), k1 = load_be64(key + 8);
    size_t lo = 0, hi = sizeof tag_table / sizeof tag_table[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t t0 = load_be64(tag_table[mid].name), t1 = load_be64(tag_table[mid].name + 8);
        if (k0 == t0 && k1 == t1)
            return tag_table[mid].kind;
        if (k0 < t0 || (k0 == t0 && k1 < t1))
            hi = mid;
        else
            lo = mid + 1;
    }
    return TAG_INLINE;
}

static size_t skip_space(const char *in, size_t n, size_t p)
{
    while (p < n && is_space((unsigned char)in[p]))
        p++;
    return p;
}

static int quote_dead(const markup *m, size_t o)
{
    return m->dead_quotes && (m->dead_quotes[o >> 3] >> (o & 7) & 1);
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
        p = skip_space(in, n, p);
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
        if (is_attr_bad(c))
            break;
        p++;    /* the first character of a name may be anything else, '=' included */
        while (p < n && !ends_attr_name((unsigned char)in[p]))
            p++;
        if (p >= n || is_attr_bad((unsigned char)in[p]))
            break;
        size_t eq = skip_space(in, n, p);
        if (eq >= n || in[eq] != '=') {   /* an attribute without a value */
            p = eq;
            continue;
        }
        p = skip_space(in, n, eq + 1);
        if (p >= n)
            break;
        c = (unsigned char)in[p];
        if (c == '"' || c == '\'') {
            if (quote_dead(m, p))
                break;
            if (mark)
                m->dead_quotes[p >> 3] |= (unsigned char)(1u << (p & 7));
            const char *close = memchr(in + p + 1, c, n - p - 1);
            if (!close) {
                p = n;
                break;
            }
            p = (size_t)(close - in) + 1;   /* HTML5 lets the next name follow at once */
            continue;
        }
        if (c == '>')   /* "a=>": an empty value */
            return p + 1;
        while (p < n && !ends_unquoted((unsigned char)in[p]))
            p++;
        if (p >= n || is_attr_bad((unsigned char)in[p]))
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
        if (after < n && in[q + 1] == '/' && is_tag_delim((unsigned char)in[after])) {
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
    size_t p = name;
    while (p < m->n && is_tag_name_char((unsigned char)in[p]))
        p++;
    if (p >= m->n || !is_tag_delim((unsigned char)in[p]))
        return 0;
    int self_closing = 0;
    size_t stop, end = scan_attrs(m, p, &self_closing, &stop, 0);
    if (!end) {
        remember_failure(m, s, p, stop);
        return 0;
    }
    int kind = tag_kind(in + name, p - name);
    begin_construct(m, s);
    if (kind == TAG_BLOCK)
        llm_buf_putc(m->out, '\n');
    else if (kind == TAG_CELL)
        llm_buf_putc(m->out, ' ');
    else if (kind == TAG_RAW && !end_tag && !self_closing)   /* XHTML's <script/> is empty */
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
        llm_buf_append(m->out, m->in + s + 9, close - (s + 9));
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
    if (is_alpha(c))
        return tag_at(m, s, s + 1, 0);
    if (c == '/')
        return s + 2 < m->n && is_alpha((unsigned char)m->in[s + 2]) ? tag_at(m, s, s + 2, 1) : 0;
    if (c == '!')
        return bang_at(m, s);
    if (c == '?')
        return declaration_at(m, s);
    return 0;
}

size_t clean_markup_strip(const char *in, size_t n, llm_buf *out)
{
    markup m = {.in = in, .n = n, .out = out};
    m.lt.from = m.amp.from = m.gt.from = SIZE_MAX;   /* nothing known yet */
    size_t pos = 0;
    for (;;) {
        size_t lt = find_byte(&m, &m.lt, '<', pos), amp = find_byte(&m, &m.amp, '&', pos);
        size_t s = lt < amp ? lt : amp;
        if (s >= n)
            break;
        size_t end = in[s] == '&' ? reference_at(&m, s) : markup_at(&m, s);
        if (end)
            m.run = end;
        pos = end ? end : s + 1;
    }
    llm_buf_append(out, in + m.run, n - m.run);
    free(m.dead_quotes);
    return m.count;
}
