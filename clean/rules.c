/* --drop-if, --keep-if, --replace and --rules: PCRE2 patterns with UTF and Unicode
 * properties, compiled once and JIT-compiled, matched with per-thread state. */
#include "clean.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JIT stack grows to this much for patterns that backtrack deeply. */
#define JIT_STACK_MAX (4u << 20)

/* Splits "RE=REPL" at the first '=' not escaped by a backslash. Returns its offset, or
 * -1 when there is none. */
static long replace_separator(const char *spec)
{
    for (size_t i = 0; spec[i]; i++) {
        if (spec[i] == '\\' && spec[i + 1]) {
            i++;
            continue;
        }
        if (spec[i] == '=')
            return (long)i;
    }
    return -1;
}

/* The options of every substitution: an unset group ((a)|(b) matching b, then $1) is
 * empty, as in sed and Python, not an error that would drop the document. */
#define SUBSTITUTE_OPTS (PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_EXTENDED | PCRE2_SUBSTITUTE_UNSET_EMPTY | \
                         PCRE2_SUBSTITUTE_OVERFLOW_LENGTH)

/* PCRE2 reads a replacement only when it substitutes a match, so a bad one ($2 of a
 * pattern with one group, a stray $) would drop every matching document as rule-error.
 * It is tried once here on a match forced by an empty alternative after the pattern,
 * which keeps its groups. Returns 0, or -1 with err. A pattern that cannot be wrapped so
 * (a leading (*VERB), an open \Q) is left to the documents. */
static int check_replacement(const clean_rule *r, const char *re, size_t re_len, llm_error *err)
{
    char *wrapped = malloc(re_len + 6);
    if (!wrapped)
        return llm_error_set(err, "out of memory");
    memcpy(wrapped, "(?:", 3);
    memcpy(wrapped + 3, re, re_len);
    memcpy(wrapped + 3 + re_len, ")|", 3);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *any = pcre2_compile((PCRE2_SPTR)wrapped, re_len + 5, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
    free(wrapped);
    if (!any)
        return 0;
    PCRE2_UCHAR out[64];
    PCRE2_SIZE len = sizeof out;
    int rc = pcre2_substitute(any, (PCRE2_SPTR) "", 0, 0, SUBSTITUTE_OPTS, NULL, NULL, (PCRE2_SPTR)r->replacement,
                              r->replacement_len, out, &len);
    pcre2_code_free(any);
    if (rc != PCRE2_ERROR_BADREPLACEMENT && rc != PCRE2_ERROR_NOSUBSTRING && rc != PCRE2_ERROR_BADREPESCAPE &&
        rc != PCRE2_ERROR_REPMISSINGBRACE && rc != PCRE2_ERROR_BADSUBSTITUTION)
        return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return llm_error_set(err, "bad replacement '%s' at offset %zu: %s", r->replacement, (size_t)len,
                         (const char *)msg);
}

int clean_rule_compile(clean_rule *r, clean_rule_kind kind, const char *spec, llm_error *err)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    size_t re_len = strlen(spec);
    if (kind == CLEAN_RULE_REPLACE) {
        long sep = replace_separator(spec);
        if (sep < 0)
            return llm_error_set(err, "expected RE=REPLACEMENT, got '%s'", spec);
        re_len = (size_t)sep;
        r->replacement = strdup(spec + sep + 1);
        if (!r->replacement)
            return llm_error_set(err, "out of memory");
        r->replacement_len = strlen(r->replacement);
    }
    int code;
    PCRE2_SIZE offset;
    r->re = pcre2_compile((PCRE2_SPTR)spec, re_len, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
    if (!r->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        clean_rule_free(r);
        return llm_error_set(err, "bad pattern '%.*s' at offset %zu: %s", (int)re_len, spec, (size_t)offset,
                             (const char *)msg);
    }
    if (kind == CLEAN_RULE_REPLACE && check_replacement(r, spec, re_len, err) < 0) {
        clean_rule_free(r);
        return -1;
    }
    /* Without JIT (a build that lacks it) matching still works, only slower. */
    (void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
    return 0;
}

void clean_rule_free(clean_rule *r)
{
    if (!r)
        return;
    pcre2_code_free(r->re);
    free(r->replacement);
    r->re = NULL;
    r->replacement = NULL;
}

/* "drop-if RE", "keep-if RE", "replace RE=REPL": the kind and where the spec starts. */
static int parse_rule_line(const char *line, clean_rule_kind *kind, const char **spec)
{
    static const struct { const char *word; clean_rule_kind kind; } kinds[] = {
        {"drop-if", CLEAN_RULE_DROP_IF}, {"keep-if", CLEAN_RULE_KEEP_IF}, {"replace", CLEAN_RULE_REPLACE}};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(kinds[i].word);
        if (strncmp(line, kinds[i].word, len) == 0 && (line[len] == ' ' || line[len] == '\t')) {
            *kind = kinds[i].kind;
            *spec = line + len + strspn(line + len, " \t");
            return 0;
        }
    }
    return -1;
}

int clean_rules_load(const char *path, clean_rule **rules, size_t *n, llm_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return llm_error_set(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long number = 0;
    int status = 0;
    while (status == 0 && (len = getline(&line, &cap, f)) >= 0) {
        number++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *p = line + strspn(line, " \t");
        if (*p == '\0' || *p == '#')
            continue;
        clean_rule_kind kind;
        const char *spec;
        if (parse_rule_line(p, &kind, &spec) < 0) {
            status = llm_error_set(err, "%s:%lu: expected drop-if RE, keep-if RE or replace RE=REPLACEMENT", path,
                                   number);
            break;
        }
        clean_rule *grown = realloc(*rules, (*n + 1) * sizeof **rules);
        if (!grown) {
            status = llm_error_set(err, "out of memory");
            break;
        }
        *rules = grown;
        llm_error e;
        if (clean_rule_compile(&grown[*n], kind, spec, &e) < 0)
            status = llm_error_set(err, "%s:%lu: %s", path, number, e.msg);
        else
            ++*n;
    }
    if (status == 0 && ferror(f))
        status = llm_error_set(err, "%s: read error", path);
    free(line);
    fclose(f);
    return status;
}

int clean_matcher_init(clean_matcher *m)
{
    memset(m, 0, sizeof *m);
    m->md = pcre2_match_data_create(16, NULL);
    m->ctx = pcre2_match_context_create(NULL);
    m->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (!m->md || !m->ctx || !m->jit) {
        clean_matcher_free(m);
        return -1;
    }
    pcre2_jit_stack_assign(m->ctx, NULL, m->jit);
    return 0;
}

void clean_matcher_free(clean_matcher *m)
{
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->ctx);
    pcre2_jit_stack_free(m->jit);
    memset(m, 0, sizeof *m);
}

/* Replaces every match of r in text[0..n) into dst. Returns 0, or a PCRE2 error code. */
static int substitute(const clean_rule *r, clean_matcher *m, const char *text, size_t n, llm_buf *dst)
{
    const uint32_t opts = PCRE2_NO_UTF_CHECK | SUBSTITUTE_OPTS;
    size_t room = n + n / 4 + 64;
    for (;;) {
        llm_buf_clear(dst);
        if (llm_buf_reserve(dst, room) < 0)
            return PCRE2_ERROR_NOMEMORY;
        PCRE2_SIZE len = room;
        int rc = pcre2_substitute(r->re, (PCRE2_SPTR)text, n, 0, opts, m->md, m->ctx, (PCRE2_SPTR)r->replacement,
                                  r->replacement_len, (PCRE2_UCHAR *)dst->data, &len);
        if (rc >= 0) {
            dst->len = len;
            return 0;
        }
        if (rc != PCRE2_ERROR_NOMEMORY)
            return rc;
        room = len + 1;    /* PCRE2 said how much it needs */
    }
}

const char *clean_rules_apply(const clean_rule *rules, size_t n_rules, clean_matcher *m, const char **text,
                              size_t *n, llm_buf scratch[2], size_t *rule)
{
    int which = 0;
    for (size_t i = 0; i < n_rules; i++) {
        const clean_rule *r = &rules[i];
        *rule = i;
        int rc = pcre2_match(r->re, (PCRE2_SPTR)*text, *n, 0, PCRE2_NO_UTF_CHECK, m->md, m->ctx);
        if (rc < PCRE2_ERROR_NOMATCH)
            return "rule-error";    /* a match or JIT stack limit: counted, never silent */
        int matched = rc >= 0;
        if (r->kind == CLEAN_RULE_DROP_IF && matched)
            return "drop-if";
        if (r->kind == CLEAN_RULE_KEEP_IF && !matched)
            return "keep-if";
        if (r->kind == CLEAN_RULE_REPLACE && matched) {
            llm_buf *dst = &scratch[which];
            if (substitute(r, m, *text, *n, dst) != 0)
                return "rule-error";
            *text = dst->data;
            *n = dst->len;
            which ^= 1;
        }
    }
    return NULL;
}
