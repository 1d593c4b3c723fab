/* Unit tests for clean/markup.c: exact outputs for tags, raw text, comments, declarations
 * and every kind of character reference (the whole HTML5 table included), a naive tag
 * parser as the reference for random tag soup, and inputs built to be quadratic. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "entities.h"
#include "markup.h"
#include "check.h"
#include "utf8.h"

typedef struct strip_case {
    const char *in, *want;
} strip_case;

/* Strips in[0..n) into a fresh buffer; *count gets the return value. */
static llm_buf strip(const char *in, size_t n, size_t *count)
{
    llm_buf b;
    llm_buf_init(&b);
    *count = clean_markup_strip(in, n, &b);
    return b;
}

/* One case: exact output, the count is 0 exactly when the text came back unchanged, and
 * the output appends to what the buffer already held. */
static void check_case(const char *in, const char *want)
{
    size_t n = strlen(in), wn = strlen(want), count;
    llm_buf b = strip(in, n, &count);
    CHECKF(!llm_buf_failed(&b) && b.len == wn && memcmp(b.data ? b.data : "", want, wn) == 0,
           "in [%s]: want [%s], got [%.*s]", in, want, (int)b.len, b.data ? b.data : "");
    CHECKF((count == 0) == (n == wn && memcmp(in, want, n) == 0), "in [%s]: count %zu", in, count);
    llm_buf_clear(&b);
    llm_buf_puts(&b, "pre:");
    clean_markup_strip(in, n, &b);
    CHECKF(b.len == 4 + wn && memcmp(b.data, "pre:", 4) == 0 && memcmp(b.data + 4, want, wn) == 0,
           "in [%s]: appending to a non-empty buffer", in);
    llm_buf_free(&b);
}

static void check_cases(const strip_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_case(cases[i].in, cases[i].want);
}

#define CHECK_CASES(cases) check_cases(cases, sizeof cases / sizeof cases[0])

static void test_plain_text(void)
{
    static const strip_case cases[] = {
        {"", ""},
        {"no markup at all", "no markup at all"},
        {"a < b and c > d", "a < b and c > d"},
        {"x<5", "x<5"},
        {"<3 you", "<3 you"},
        {"for (i=0;i<n;i++)", "for (i=0;i<n;i++)"},
        {"if (a<b) c>d", "if (a<b) c>d"},
        {"<<<", "<<<"},
        {"a->b => c >= d", "a->b => c >= d"},
        {"<", "<"},
        {"x <", "x <"},
        {"</", "</"},
        {"</>", "</>"},
        {"</ p>", "</ p>"},
        {"</3", "</3"},
        {"<a", "<a"},
        {"<a b", "<a b"},
        {"<abc", "<abc"},
        {"<\xC3\xBC" "ber>", "<\xC3\xBC" "ber>"},   /* names are ASCII */
        {"<a\xC3\xA9>", "<a\xC3\xA9>"},
        {"<a b=\"unclosed", "<a b=\"unclosed"},
        {"<a b='unclosed>", "<a b='unclosed>"},
        {"<a b c=", "<a b c="},
        {"<a b=<c>", "<a b="},                      /* the second '<' starts the tag */
        {"<!", "<!"},
        {"<?", "<?"},
        {"x<!y", "x<!y"},
        {"is it <? or <! here", "is it <? or <! here"},
        {"what<? then a<b>c", "what<? then ac"},
        {"text & more &; &# &#; &#x; &#xg &x &", "text & more &; &# &#; &#x; &#xg &x &"},
        {"caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80"},
    };
    CHECK_CASES(cases);
}

static void test_tags(void)
{
    static const strip_case cases[] = {
        {"<b>bo</b>ld", "bold"},
        {"<B>bo</B>ld", "bold"},
        {"a<i>b</i>c<span class=x>d</span>e", "abcde"},
        {"<div><p><b><i>x</i></b></p></div>", "\n\nx\n\n"},
        {"<P>x</P>", "\nx\n"},
        {"one<br>two<BR/>three<br />four</br>", "one\ntwo\nthree\nfour\n"},
        {"<hr>", "\n"},
        {"<table><tr><td>a</td><td>b</td></tr></table>", "\n\n a  b \n\n"},
        {"<th>h</th>", " h "},
        {"<ul><li>a<li>b</ul>", "\n\na\nb\n"},
        {"<h1>T</h1><H6>t</H6>", "\nT\n\nt\n"},
        {"<a href=\"x>y\" title='a>b'>link</a>", "link"},
        {"<a title=\"line\none\n>two\">x</a>", "x"},
        {"<a\nhref=\"x\"\n>y</a>", "y"},
        {"<a\thref=x>y</a >", "y"},
        {"<img src=x.png alt=\"a 'b'\">after", "after"},
        {"<img alt=\"a\"'b'>after", "after"},       /* HTML5: a quote may start a name */
        {"<a \"x\">y", "y"},                         /* a quote where a name belongs */
        {"<a b=\"x\"\"y\">z", "z"},
        {"<a b=x\"y>z", "z"},                         /* a quote inside an unquoted value */
        {"<a =b>z", "z"},                              /* '=' may start a name */
        {"<body style=3D\"a\">hi", "\nhi"},            /* quoted-printable mail */
        {"<a =\nhref=3D\"x\">hi", "hi"},
        {"<font face=3Darial =\nsize=3D2>hi", "hi"},
        {"<br=\nclear=3Dall>hi", "hi"},                /* a soft break after the name */
        {"</div=\n>hi", "hi"},
        {"<img src=a.png/>x", "x"},
        {"<a href=x/y?a=1&b=2>z</a>", "z"},
        {"<a b=>c", "c"},
        {"<input disabled checked>x", "x"},
        {"<input disabled = \"1\" >x", "x"},
        {"<a href=\"x\"class=\"y\">z</a>", "z"},   /* no space between attributes */
        {"<a / b / >c", "c"},
        {"<a b=x=y`z>c", "c"},
        {"<div data-x='{\"a\":1}' @click=\"f()\" [prop]=v>x</div>", "\nx\n"},
        {"<o:p></o:p><w:sdt a=b>x</w:sdt>", "x"},
        {"<my-element>x</my-element><x.y_z>y", "xy"},
        {"<svg:rect width=1/>z", "z"},
        {"x <y && z> w", "x  w"},                    /* a tag to HTML5 too */
        {"a<b c>d", "ad"},
        {"<a b=\"oops <b>text</b>", "<a b=\"oops text"},
        {"<a href=\"foo>link</a> and <a href=\"bar\">more</a>", "more"},   /* as browsers do */
        {"<td>a</td><p>b", " a \nb"},
        {"<TITLE>t</TITLE><Option>o", "\nt\n\no"},
        {"<p\n>x", "\nx"},
        {"</p class=\"x\">y", "\ny"},
        {"<a <b>c", "<a c"},
        /* quotes that open no value (plain_tag_end), unquoted values (quoted_tag_end) */
        {"<a href=3D\"x y\" b=3D'z'>w", "w"},
        {"<a href=3D\"x>y\">w", "y\">w"},            /* the quotes are bytes of the value */
        {"<b a=3D\"x", "<b a=3D\"x"},                /* unterminated */
        {"<b a=\"x\" c=d", "<b a=\"x\" c=d"},
        {"<b a=x\"y\" c=\"d>e\">f", "f"},
        {"<b a = \"x>y\">z", "z"},
        {"<b a=b/>c", "c"},
        {"<script a=b/>x</script>y", "y"},             /* the '/' is the value's */
        {"<script a=\"b\"/>x</script>y", "xy"},
        {"<b a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb c=\"d>e\">f", "f"},
        {"<b a=\"x\" b=y'z>w", "w"},
    };
    CHECK_CASES(cases);
}

/* Names next to listed ones, which must stay inline (the lookup is a hash). */
static void test_tag_names(void)
{
    static const strip_case cases[] = {
        {"a<tdd>b", "ab"},
        {"a<t>b", "ab"},
        {"a<h7>b", "ab"},
        {"a<hr_>b", "ab"},
        {"a<b_r>b", "ab"},
        {"a<_p>b", "a<_p>b"},
        {"a<pp>b", "ab"},
        {"a<tD>b<Td>c", "a b c"},
        {"a<blockquotes>b", "ab"},
        {"a<blockquote1234>b", "ab"},            /* 16 bytes: longer than any key */
        {"a<figcaptio>b<figcaption>c", "ab\nc"},
        {"a<div.x>b<div:x>c<div-x>d<div=x>e", "abcde"},
        {"a<DIV=\n>b", "ab"},
    };
    CHECK_CASES(cases);
}

/* tpl with every '@' replaced by c (one character, possibly several bytes), into buf. */
static size_t fill_template(const char *tpl, const char *c, char *buf)
{
    size_t n = 0, cn = strlen(c);
    for (; *tpl; tpl++) {
        if (*tpl == '@') {
            memcpy(buf + n, c, cn);
            n += cn;
        } else {
            buf[n++] = *tpl;
        }
    }
    return n;
}

/* Each ASCII character and a few longer ones in each place of a tag: in a short text,
 * where the scans go a byte at a time, and followed by padding, where they take whole
 * vectors (in builds that have them) and compute the byte classes by comparisons. The two
 * must agree. */
static void test_every_byte_in_tags(void)
{
    static const char *const templates[] = {
        "<a@>z",       "<@b>x</@b>z",  "<a@b c>z",  "<a x@=1>z",     "<a x=1@>z",  "<a x=@>z",
        "<a x=\"1\"@>z", "<a x@y=\"1\">z", "<b@/>z",    "<a @>z",        "</a@>z",     "<a x=1@y>z",
        "<t@>z",       "<d@v>z",       "<a x= @>z", "<a x=\"@\">z", "&@;z",       "<a x @>z",
        /* where the class of the byte decides which '>' ends the tag */
        "<a x=1@y=\"q>w\">z", "<a x@=\"q>w\">z", "<a x@y=\"q>w\">z", "<a x=\"1\"@y='q>w'>z",
    };
    static const char *const wide[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char pad[64];
    memset(pad, 'y', sizeof pad);
    for (int ci = 1; ci < 128 + 3; ci++) {
        char one[2] = {(char)ci, 0};
        const char *c = ci < 128 ? one : wide[ci - 128];
        for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++) {
            char text[128];
            size_t n = fill_template(templates[t], c, text), count_short, count_long;
            llm_buf s = strip(text, n, &count_short);
            memcpy(text + n, pad, sizeof pad);
            llm_buf l = strip(text, n + sizeof pad, &count_long);
            CHECKF(count_short == count_long && l.len == s.len + sizeof pad &&
                       memcmp(l.data, s.data ? s.data : "", s.len) == 0 &&
                       memcmp(l.data + s.len, pad, sizeof pad) == 0,
                   "template [%s] with byte 0x%02x: [%.*s] vs [%.*s]", templates[t],
                   (unsigned char)c[0], (int)s.len, s.data ? s.data : "", (int)l.len, l.data);
            llm_buf_free(&s);
            llm_buf_free(&l);
        }
    }
}

/* Every block element named in the man page, in both cases. */
static void test_block_elements(void)
{
    static const char *const blocks[] = {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "thead",
        "tbody", "tfoot", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section",
        "article", "header", "footer", "nav", "aside", "main", "form", "fieldset", "address",
        "figure", "figcaption", "title", "option", "caption", "center", "details", "summary",
        "dialog", "html", "head", "body", "legend", "menu", "noscript", "optgroup", "select",
        "textarea", "hgroup", "search", "listing", "plaintext", "xmp", "frameset", "dir",
    };
    static const char *const inline_names[] = {
        "a", "b", "i", "em", "strong", "span", "img", "code", "font", "sup", "sub", "label",
        "button", "tdx", "pp", "h7", "h", "t", "x", "scriptx", "meta", "link", "blockquotes",
    };
    char in[64], up[16];
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        snprintf(in, sizeof in, "x<%s>y</%s>z", blocks[i], blocks[i]);
        check_case(in, "x\ny\nz");
        size_t k;
        for (k = 0; blocks[i][k]; k++)
            up[k] = (char)(blocks[i][k] >= 'a' ? blocks[i][k] - 'a' + 'A' : blocks[i][k]);
        up[k] = '\0';
        snprintf(in, sizeof in, "x<%s class=a>y</%s >z", up, blocks[i]);
        check_case(in, "x\ny\nz");
    }
    for (size_t i = 0; i < sizeof inline_names / sizeof inline_names[0]; i++) {
        snprintf(in, sizeof in, "x<%s>y</%s>z", inline_names[i], inline_names[i]);
        check_case(in, "xyz");
    }
}

static void test_script_style(void)
{
    static const strip_case cases[] = {
        {"a<script>if (a<b && c>d) x = \"</p>\";</script>b", "ab"},
        {"a<SCRIPT type=\"text/javascript\">x</ScRiPt>b", "ab"},
        {"a<script>x</script >b", "ab"},
        {"a<script>x</script\n foo=\"y>\">b", "a\">b"},   /* the first '>' closes it */
        {"a<script>x</scriptx>y</script>b", "ab"},
        {"a<script>x</scrip>y</script>b", "ab"},
        {"a<script>var s = '<script>';</script>b", "ab"},
        {"a<script>never closed <p>text</p>", "a"},
        {"a<script>x</script", "a"},
        {"a<script src=\"x.js\"/>b", "ab"},               /* XHTML: empty */
        {"a<style>p { color: red }</style>b", "ab"},
        {"a<STYLE media=all>p>b{}</Style>b", "ab"},
        {"a<style>x", "a"},
        {"a</script>b", "ab"},                             /* a lone end tag */
        {"a<scripts>x</scripts>b", "axb"},
        {"a<script>&amp;<!-- x --></script>b&amp;", "ab&"},
        {"<script", "<script"},
        {"<script a=\"b", "<script a=\"b"},
    };
    CHECK_CASES(cases);
    /* Long enough for the vector scan of quoted attributes, with the end of the tag at
     * every place in a block and across blocks: only "/>" outside a value is empty. Each
     * tag is a value of 'v's between a start and an end. */
    static const char *const tags[][2] = {
        {"<script a=\"", "\"/>"},          {"<script a=\"", "\" />"},
        {"<script a=\"", "/\">x</script>"}, {"<script a=\"", "\"/ >x</script>"},
        {"<style b=\"1\"a=\"", ">\">x</style>"}, {"<script a=\"", "\" b=c/>x</script>"},
        /* unquoted values: a '/' that ends one does not close the tag */
        {"<script a=", "/>x</script>"},     {"<script b=\"1\" a=", "/>x</script>"},
        {"<script a=3D\"", "\"/>x</script>"}, {"<script a=b c=\"", "\" />"},
        {"<b a=3D\"", "\">"},               {"<b a=3D\"x y=3D", "\">"},
    };
    static const char tail[] = "0123456789012345678901234567890123456789012345678901234567890123456789";
    char value[160], in[512];
    for (size_t len = 0; len < sizeof value; len++) {
        memset(value, 'v', len);
        value[len] = '\0';
        for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
            snprintf(in, sizeof in, "a%s%s%sb%s", tags[t][0], value, tags[t][1], tail);
            char want[sizeof tail + 2];
            snprintf(want, sizeof want, "ab%s", tail);
            check_case(in, want);
        }
    }
}

static void test_comments_and_declarations(void)
{
    static const strip_case cases[] = {
        {"a<!-- comment -->b", "ab"},
        {"a<!-- <p>tag</p> & &amp; -->b", "ab"},
        {"a<!---->b", "ab"},
        {"a<!-->b", "ab"},                  /* HTML5: an empty comment */
        {"a<!--->b", "ab"},
        {"a<!-- x --!>b", "ab"},
        {"a<!-- x -- y --->b", "ab"},
        {"a<!-- unclosed <p>rest", "a"},
        {"a<!--", "a"},
        {"a<!-- x --", "a"},
        {"<!DOCTYPE html>x", "x"},
        {"<!doctype html PUBLIC \"-//W3C//DTD\" \"http://x\">x", "x"},
        {"a<!ELEMENT b>c", "ac"},
        {"a<!>b", "ab"},
        {"a<!DOCTYPE html", "a<!DOCTYPE html"},
        {"a<!x <p>y", "a<!x \ny"},           /* '<' before any '>': text */
        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>x", "x"},
        {"a<?xml:namespace prefix = o ns=\"urn:schemas-microsoft-com:office:office\" />b", "ab"},
        {"a<?php echo 1; ?>b", "ab"},
        {"a<?b", "a<?b"},
        {"a<![CDATA[<b>&amp;</b>]]>c", "a<b>&amp;</b>c"},
        {"a<![CDATA[]]>c", "ac"},
        {"a<![CDATA[x]]]>c", "ax]c"},
        {"a<![CDATA[unclosed <b>", "aunclosed <b>"},
        {"a<![cdata[x]]>c", "ac"},         /* not CDATA: a declaration to the first '>' */
    };
    CHECK_CASES(cases);
}

static void test_named_references(void)
{
    static const strip_case cases[] = {
        {"&amp;&lt;&gt;&quot;&apos;", "&<>\"'"},
        {"&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"},     /* decoded text is not parsed */
        {"&amp;lt;", "&lt;"},
        {"&amp;amp;", "&amp;"},
        {"&nbsp;x&nbsp", "\xC2\xA0x\xC2\xA0"},
        {"&copy; &copy &COPY &reg &eacute;&Eacute", "\xC2\xA9 \xC2\xA9 \xC2\xA9 \xC2\xAE \xC3\xA9\xC3\x89"},
        {"&amp &lt &gt &quot", "& < > \""},
        {"AT&T R&D &ampx &amp1 &copy2", "AT&T R&D &ampx &amp1 &copy2"},
        {"?a=1&copy=2&amp=3", "?a=1&copy=2&amp=3"},
        {"&amp=", "&amp="},
        {"&amp;=", "&="},
        {"&copy;=2", "\xC2\xA9=2"},
        {"&apos &hellip &rarr", "&apos &hellip &rarr"},   /* not legacy: ';' needed */
        {"&hellip;&rarr;&mdash;&euro;", "\xE2\x80\xA6\xE2\x86\x92\xE2\x80\x94\xE2\x82\xAC"},
        {"&notit; &notin; &notin", "&notit; \xE2\x88\x89 &notin"},   /* no prefix matching */
        {"&not;&not &not=", "\xC2\xAC\xC2\xAC &not="},
        {"&NotEqualTilde;", "\xE2\x89\x82\xCC\xB8"},     /* two code points */
        {"&bne;&nvlt;", "=\xE2\x83\xA5<\xE2\x83\x92"},
        {"&CounterClockwiseContourIntegral;", "\xE2\x88\xB3"},
        {"&CounterClockwiseContourIntegralX;", "&CounterClockwiseContourIntegralX;"},
        {"&frac12 &frac12; &sup2;", "\xC2\xBD \xC2\xBD \xC2\xB2"},
        {"&Tab;&NewLine;", "\t\n"},
        {"&AMP; &Amp; &amP;", "& &Amp; &amP;"},            /* names are case-sensitive */
        {"&unknown; &foo", "&unknown; &foo"},
        {"&&amp;&", "&&&"},
        {"&#&amp;", "&#&"},
        {"&1; &_; &-x;", "&1; &_; &-x;"},
        {"&lt", "<"},
        {"x&lt", "x<"},
        {"&lt;", "<"},
        /* the last name found is tried first: repeats, then others, then near misses */
        {"a &nbsp;&nbsp;&amp;&nbsp;&ampx &nbspb", "a \xC2\xA0\xC2\xA0&\xC2\xA0&ampx &nbspb"},
        {"&nbsp;&nbs;&nbsp&nb&nbsp;", "\xC2\xA0&nbs;\xC2\xA0&nb\xC2\xA0"},
    };
    CHECK_CASES(cases);
}

static void test_numeric_references(void)
{
    static const strip_case cases[] = {
        {"&#65;&#x41;&#X41;&#x4e2d;&#x4E2D;", "AAA\xE4\xB8\xAD\xE4\xB8\xAD"},
        {"&#65 &#65", "A A"},                        /* ';' optional */
        {"&#65a &#x41g &#x41G", "Aa Ag AG"},
        {"&#0065;&#x000041;", "AA"},
        {"&#128512;&#x1F600;", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80"},
        {"&#0;&#x0;", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"&#xD800;&#xDFFF;&#55296;", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"&#x10FFFF;", "\xF4\x8F\xBF\xBF"},
        {"&#x110000;&#1114112;", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"&#99999999999999999999999999;&#xFFFFFFFFFFFFFFFFFFFF;", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"&#x80;&#x9F;&#150;&#x92;", "\xE2\x82\xAC\xC5\xB8\xE2\x80\x93\xE2\x80\x99"},
        {"&#x85;", "\xE2\x80\xA6"},                  /* Windows-1252 first: not NEL */
        {"a&#x81;&#x8D;&#x8F;&#x90;&#x9D;b", "ab"},  /* C1 controls: removed */
        {"a&#1;&#x1F;&#x7F;&#xFEFF;b", "ab"},        /* other controls: removed */
        {"&#9;&#10;&#13;&#11;&#12;&#x2028;&#x2029;", "\t\n\n\n\n\n\n"},
        {"&#32;&#160;&#xA0;", " \xC2\xA0\xC2\xA0"},
        {"&#38;lt; &#60;b&#62;", "&lt; <b>"},        /* never parsed again */
        {"&#xFFFE;&#xFDD0;", "\xEF\xBF\xBE\xEF\xB7\x90"},   /* noncharacters stay */
        {"&#; &#x; &#xG; &#a; &# 1;", "&#; &#x; &#xG; &#a; &# 1;"},
        {"&#", "&#"},
        {"&#x", "&#x"},
        {"&#6", ""},                                /* a removed control */
        {"&#x4", ""},
        {"&#x41", "A"},
    };
    CHECK_CASES(cases);
}

/* Every name in the table: with ';' it decodes; without, only the legacy ones do. */
static void test_entity_table(void)
{
    char in[64], want[64];
    for (size_t i = 0; i < CLEAN_ENTITY_COUNT; i++) {
        const clean_entity *e = &clean_entities[i];
        snprintf(in, sizeof in, "x&%s;y", e->name);
        snprintf(want, sizeof want, "x%sy", e->utf8);
        check_case(in, want);
        snprintf(in, sizeof in, "x&%s y", e->name);
        if (e->legacy)
            snprintf(want, sizeof want, "x%s y", e->utf8);
        else
            snprintf(want, sizeof want, "x&%s y", e->name);
        check_case(in, want);
        snprintf(in, sizeof in, "&%s=", e->name);
        check_case(in, in);
        if (i > 0)
            CHECK(strcmp(clean_entities[i - 1].name, e->name) < 0);
    }
    CHECK(CLEAN_ENTITY_COUNT == 2125);   /* 2231 keys in Python's table, 106 of them legacy */
    size_t legacy = 0;
    for (size_t i = 0; i < CLEAN_ENTITY_COUNT; i++)
        legacy += clean_entities[i].legacy;
    CHECK(legacy == 106);
}

/* > 1 MiB of a repeated page fragment, and the same with text only. */
static void test_large_document(void)
{
    static const char unit[] =
        "<div class=\"post\" id='p'><h2>Title &amp; more</h2><p>Some <b>bold</b> text, "
        "a&nbsp;b, x < y.<!-- note --><br/></p><script>var a = '<p>';</script></div>\n";
    static const char want_unit[] =
        "\n\nTitle & more\n\nSome bold text, a\xC2\xA0" "b, x < y.\n\n\n\n";
    size_t reps = (1u << 20) / (sizeof unit - 1) + 100;
    llm_buf in, want;
    llm_buf_init(&in);
    llm_buf_init(&want);
    for (size_t i = 0; i < reps; i++) {
        llm_buf_append(&in, unit, sizeof unit - 1);
        llm_buf_append(&want, want_unit, sizeof want_unit - 1);
    }
    CHECK(in.len > (1u << 20));
    size_t count;
    llm_buf out = strip(in.data, in.len, &count);
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    CHECK(count == reps * 14);
    llm_buf_free(&out);

    memset(in.data, 'a', in.len);
    out = strip(in.data, in.len, &count);
    CHECK(count == 0 && out.len == in.len && memcmp(out.data, in.data, in.len) == 0);
    llm_buf_free(&out);
    llm_buf_free(&in);
    llm_buf_free(&want);
}

/* ---- linear time ---- */

/* Repeats unit to about 1 MB, strips it and checks the output: unchanged when want is
 * NULL, else want. A quadratic scan would take minutes; the limit is generous enough for
 * valgrind. */
static void check_linear(const char *unit, const char *prefix, const char *want)
{
    llm_buf in;
    llm_buf_init(&in);
    llm_buf_puts(&in, prefix);
    while (in.len < 1000000)
        llm_buf_puts(&in, unit);
    clock_t t0 = clock();
    size_t count;
    llm_buf out = strip(in.data, in.len, &count);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECKF(secs < 5.0, "[%s%s]...: %.2f s", prefix, unit, secs);
    if (want == NULL)
        CHECKF(count == 0 && out.len == in.len && memcmp(out.data, in.data, in.len) == 0, "[%s%s]", prefix, unit);
    else
        CHECKF(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0, "[%s%s]", prefix, unit);
    llm_buf_free(&out);
    llm_buf_free(&in);
}

static void test_pathological(void)
{
    check_linear("<a ", "", NULL);
    check_linear("&#", "", NULL);
    check_linear("&#x", "", NULL);
    check_linear("&", "", NULL);
    check_linear("&a", "", NULL);
    check_linear("<", "", NULL);
    check_linear("<!", "", NULL);
    check_linear("<?", "", NULL);
    check_linear("<!x", "", NULL);
    check_linear("<a b=\"", "", NULL);
    check_linear("<a b='", "", NULL);
    check_linear("<a b='<a c=\"", "", NULL);
    check_linear("<a c=\"x\" b='", "", NULL);
    check_linear("<a c='x' b=\"", "", NULL);
    check_linear("<a c=\"x\" ", "<a d='", NULL);
    check_linear("<a c='<' ", "", NULL);
    check_linear("<a c=\"<a\" d='", "", NULL);
    check_linear("<a b=\"<a b=x", "", NULL);
    check_linear("<a c='x' d=\"y\" \"", "", NULL);
    check_linear("<a b=\"x\"<", "", NULL);
    check_linear("a", "<a", NULL);
    check_linear("a ", "<a ", NULL);
    check_linear("a=b ", "<x ", NULL);
    check_linear("<a <b ", "<c d='", NULL);
    check_linear("x<a b=\"y", "<c d='", NULL);
    check_linear("<a b=\"", "<a c='", NULL);
    check_linear("<script", "", NULL);
    check_linear("<![CDATA", "", NULL);
    check_linear("--", "<!--", "");
    check_linear("--!", "<!--", "");
    check_linear("<!---->", "", "");
    check_linear("<!--", "", "");
    check_linear("</scrip", "<script>", "");
    check_linear("<script>", "", "");
}

/* The unclosed CDATA case above keeps everything after its marker. */
static void test_pathological_cdata(void)
{
    llm_buf in;
    llm_buf_init(&in);
    llm_buf_puts(&in, "<![CDATA[");
    while (in.len < 1000000)
        llm_buf_puts(&in, "]]");
    size_t count;
    llm_buf out = strip(in.data, in.len, &count);
    CHECK(count == 1 && out.len == in.len - 9 && memcmp(out.data, in.data + 9, out.len) == 0);
    llm_buf_free(&out);
    llm_buf_free(&in);
}

/* ---- a naive reference for tag soup ---- */

/* The tag grammar written the obvious way, every '<' tried from scratch with no memory:
 * the output of random strings of tag characters must match. Only inline names (a, b)
 * and block p occur, so a tag becomes nothing or "\n". */
static size_t naive_tag_end(const char *s, size_t n, size_t i)
{
    size_t p = i + 1;
    if (p < n && s[p] == '/')
        p++;
    if (p >= n || !(s[p] == 'a' || s[p] == 'b' || s[p] == 'p'))
        return 0;
    while (p < n && (s[p] == 'a' || s[p] == 'b' || s[p] == 'p' || s[p] == '='))
        p++;
    if (p >= n || !(s[p] == ' ' || s[p] == '/' || s[p] == '>'))
        return 0;
    for (;;) {
        while (p < n && s[p] == ' ')
            p++;
        if (p >= n)
            return 0;
        if (s[p] == '>')
            return p + 1;
        if (s[p] == '/') {
            if (p + 1 < n && s[p + 1] == '>')
                return p + 2;
            p++;
            continue;
        }
        if (s[p] == '<')
            return 0;
        p++;    /* a name's first character may be '=' or a quote */
        while (p < n && !strchr(" />=<", s[p]))
            p++;
        if (p >= n || s[p] == '<')
            return 0;
        size_t q = p;
        while (q < n && s[q] == ' ')
            q++;
        if (q >= n || s[q] != '=') {
            p = q;
            continue;
        }
        p = q + 1;
        while (p < n && s[p] == ' ')
            p++;
        if (p >= n)
            return 0;
        if (s[p] == '"' || s[p] == '\'') {
            const char *close = memchr(s + p + 1, s[p], n - p - 1);
            if (!close)
                return 0;
            p = (size_t)(close - s) + 1;
            continue;
        }
        if (s[p] == '>')
            return p + 1;
        while (p < n && !strchr(" ><", s[p]))
            p++;
        if (p >= n || (s[p] != '>' && s[p] != ' '))
            return 0;
    }
}

static void naive_strip(const char *s, size_t n, llm_buf *out)
{
    for (size_t i = 0; i < n;) {
        size_t end = s[i] == '<' ? naive_tag_end(s, n, i) : 0;
        if (end) {
            size_t name = s[i + 1] == '/' ? i + 2 : i + 1;
            if (s[name] == 'p' && (s[name + 1] == ' ' || s[name + 1] == '/' || s[name + 1] == '>'))
                llm_buf_putc(out, '\n');
            i = end;
        } else {
            llm_buf_putc(out, s[i++]);
        }
    }
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_against_naive(void)
{
    static const char alphabet[] = "<<<<>>ab p==\"\"''//";
    char s[48];
    llm_buf want, got;
    llm_buf_init(&want);
    llm_buf_init(&got);
    int bad = 0;
    for (int iter = 0; iter < 300000 && bad < 5; iter++) {
        size_t n = (size_t)(rng_next() % sizeof s);
        for (size_t i = 0; i < n; i++)
            s[i] = alphabet[rng_next() % (sizeof alphabet - 1)];
        llm_buf_clear(&want);
        llm_buf_clear(&got);
        naive_strip(s, n, &want);
        clean_markup_strip(s, n, &got);
        if (want.len != got.len || memcmp(want.data, got.data, want.len) != 0) {
            bad++;
            CHECKF(0, "[%.*s]: want [%.*s], got [%.*s]", (int)n, s, (int)want.len, want.data,
                   (int)got.len, got.data);
        }
    }
    llm_buf_free(&want);
    llm_buf_free(&got);
}

/* Longer tag soup made of whole attributes and of what makes attributes other than
 * simple (an '=' after a space or at a name's start, a quote after a name, an unquoted
 * value, a lone quote), with quoted values that hold '>' and '<': long enough for the
 * vector scan of quoted attributes, over one block or several. */
static void test_attributes_against_naive(void)
{
    static const char *const pieces[] = {
        "<a", "<p", "</b", "<b/", " ", " ", "  ", "a", "b", "=", "\"", "'", ">", "<", "/", "/>",
        " a=\"b\"", " b=\"a>b\"", " a=\"<p>\"", " p='a>'", " a=b", " b=\"\"", "=\"a>b\"", "a\"",
        "==\"a>\"", " a =\"b>\"", " a= \"b>\"", "=b=\"a>b\"", "\"\"", "b=\"a\"a=\"b\"",
        " a=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>aaaaaaaaaaa\"",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    };
    char s[480];
    llm_buf want, got;
    llm_buf_init(&want);
    llm_buf_init(&got);
    int bad = 0;
    for (int iter = 0; iter < 100000 && bad < 5; iter++) {
        size_t n = 0, target = 64 + (size_t)(rng_next() % 320);
        while (n < target) {
            const char *piece = pieces[rng_next() % (sizeof pieces / sizeof pieces[0])];
            size_t len = strlen(piece);
            memcpy(s + n, piece, len);
            n += len;
        }
        llm_buf_clear(&want);
        llm_buf_clear(&got);
        naive_strip(s, n, &want);
        clean_markup_strip(s, n, &got);
        if (want.len != got.len || memcmp(want.data, got.data, want.len) != 0) {
            bad++;
            CHECKF(0, "[%.*s]: want [%.*s], got [%.*s]", (int)n, s, (int)want.len, want.data,
                   (int)got.len, got.data);
        }
    }
    llm_buf_free(&want);
    llm_buf_free(&got);
}

/* The same with unquoted values around quoted ones: values that hold quotes and '='
 * (quoted-printable mail's a=3D"b"), '/' before '>', quotes after a space, and values
 * long enough to run from one 64-byte block into the next. */
static void test_unquoted_against_naive(void)
{
    static const char *const pieces[] = {
        "<a", "<p", "</b", "<b", " ", " ", "  ", "a", "=", "\"", "'", ">", "/", "/>",
        " a=\"b\"", " b=\"a>b\"", " a=b", " a=b/", " b=a/>", " p=b'", " a=b\"", " \"b\"", " 'a'",
        " a=3D\"b c\"", "=3D\"", " a=3D\"b>\"", " a=b=\"c\"", " a==b", "=/", " a=>", " a=\"\"b=c",
        " b=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        " a=\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
    };
    char s[480];
    llm_buf want, got;
    llm_buf_init(&want);
    llm_buf_init(&got);
    int bad = 0;
    for (int iter = 0; iter < 100000 && bad < 5; iter++) {
        size_t n = 0, target = 64 + (size_t)(rng_next() % 320);
        while (n < target) {
            const char *piece = pieces[rng_next() % (sizeof pieces / sizeof pieces[0])];
            size_t len = strlen(piece);
            memcpy(s + n, piece, len);
            n += len;
        }
        llm_buf_clear(&want);
        llm_buf_clear(&got);
        naive_strip(s, n, &want);
        clean_markup_strip(s, n, &got);
        if (want.len != got.len || memcmp(want.data, got.data, want.len) != 0) {
            bad++;
            CHECKF(0, "[%.*s]: want [%.*s], got [%.*s]", (int)n, s, (int)want.len, want.data,
                   (int)got.len, got.data);
        }
    }
    llm_buf_free(&want);
    llm_buf_free(&got);
}

/* Valid UTF-8 in, valid UTF-8 out, whatever the references. */
static void test_output_is_utf8(void)
{
    static const char *const ins[] = {
        "&#xD800;&#xDBFF;&#xDC00;&#x110000;&#0;&#x80;&#x9F;&#xFFFF;&#x10FFFF;",
        "\xE4\xB8\xAD<b>\xE6\x96\x87</b>&eacute;<!--\xF0\x9F\x98\x80-->\xC3\xA9",
    };
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        size_t count;
        llm_buf b = strip(ins[i], strlen(ins[i]), &count);
        size_t p = 0;
        while (p < b.len) {
            size_t len = llm_utf8_seq_len((const unsigned char *)b.data + p, b.len - p);
            CHECK(len > 0);
            p += len ? len : 1;
        }
        llm_buf_free(&b);
    }
}

int main(void)
{
    RUN(test_plain_text);
    RUN(test_tags);
    RUN(test_tag_names);
    RUN(test_every_byte_in_tags);
    RUN(test_block_elements);
    RUN(test_script_style);
    RUN(test_comments_and_declarations);
    RUN(test_named_references);
    RUN(test_numeric_references);
    RUN(test_entity_table);
    RUN(test_large_document);
    RUN(test_pathological);
    RUN(test_pathological_cdata);
    RUN(test_against_naive);
    RUN(test_attributes_against_naive);
    RUN(test_unquoted_against_naive);
    RUN(test_output_is_utf8);
    CHECK_EXIT();
}
