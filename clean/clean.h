/* llm-clean's internals: the options, the per-document cleaning steps (text.c, markup.c,
 * rules.c, quality.c, document.c) and the driver that reads, cleans on threads and
 * writes in input order (run.c). main.c only parses the command line. */
#ifndef LLM_CLEAN_H
#define LLM_CLEAN_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "buf.h"
#include "json.h"
#include "normalize.h"

typedef enum clean_in { CLEAN_IN_AUTO, CLEAN_IN_LINES, CLEAN_IN_PARAGRAPHS, CLEAN_IN_JSONL } clean_in;
typedef enum clean_out { CLEAN_OUT_JSONL, CLEAN_OUT_LINES } clean_out;
typedef enum clean_quality_preset { CLEAN_QUALITY_NONE, CLEAN_QUALITY_GOPHER, CLEAN_QUALITY_C4 } clean_quality_preset;
typedef enum clean_rule_kind { CLEAN_RULE_DROP_IF, CLEAN_RULE_KEEP_IF, CLEAN_RULE_REPLACE } clean_rule_kind;

/* One --drop-if, --keep-if or --replace, compiled (UTF, UCP, JIT). */
typedef struct clean_rule {
    clean_rule_kind kind;
    pcre2_code *re;
    char *replacement;      /* --replace only; owned */
    size_t replacement_len;
} clean_rule;

typedef struct clean_opts {
    clean_in in;
    clean_out out;
    const char *field;          /* JSONL member holding the text */
    int invalid_drop;           /* --invalid=drop */
    llm_norm norm;
    int markup;                 /* strip markup (default) */
    int collapse_newlines;
    unsigned max_blank_lines;   /* blank lines kept between paragraphs */
    uint64_t min_chars, max_chars;   /* max_chars 0: no limit */
    clean_rule *rules;
    size_t n_rules;
    clean_quality_preset quality;
    int dedup;
    int on_error_skip;
    unsigned threads;
    int quiet;
    const char *output;
    const char *rejects;
    const char *ledger;         /* --ledger FILE: this run's account, as a ledger */
    int ledger_inline;          /* --ledger-inline: the same as the output's last line */
    double max_drop;            /* --max-drop percentage; -1: no limit */
    char **inputs;
    int n_inputs;
    int argc;                   /* the command line as typed, for the ledger */
    char **argv;
} clean_opts;

/* ---- text.c: the character-level steps ---- */

/* What sanitize's scan learns, on the way, about the whitespace of a text it passes on
 * unchanged, so that the whitespace step need not scan it again. A "break" is where
 * clean_whitespace's runs of words end: whitespace other than one space between two
 * words, the end of the text counting as whitespace. */
typedef struct clean_ws_hint {
    int known;       /* 0: nothing learnt; the fields below mean nothing */
    size_t first;    /* the first break: n when the text is one run of words */
    size_t last;     /* one past the last break before n, 0 when there is none */
} clean_ws_hint;

/* Makes s[0..n) valid UTF-8 without control characters: ill-formed sequences become
 * U+FFFD (counted in *invalid), CRLF and lone CR, NEL, LS, PS, VT and FF become '\n',
 * NUL, other C0/C1 controls, DEL and U+FEFF are removed; tab and newline stay.
 * Returns 0 when nothing needed changing (out untouched), else 1 with the result
 * appended to out. *markup is 0 when s came back unchanged without a '<' or '&' (the
 * markup step has nothing to do then), else 1. hint (may be NULL) gets what the scan
 * learnt of the whitespace of s when it comes back unchanged. valid_utf8: the caller
 * knows s is valid UTF-8 (not checked again). */
int clean_sanitize(const char *s, size_t n, int valid_utf8, llm_buf *out, size_t *invalid, int *markup,
                   clean_ws_hint *hint);

/* Appends s[0..n) to out with each ill-formed UTF-8 sequence replaced by U+FFFD, one for
 * each maximal subpart as clean_sanitize replaces them, and nothing else changed: for a
 * JSONL record, whose controls are JSON's to judge. Returns the replacements made. */
size_t clean_repair_utf8(const char *s, size_t n, llm_buf *out);

/* Cleans the whitespace of s[0..n) (valid UTF-8, only tab and newline as controls): runs
 * of spaces, tabs and Unicode spaces become one space, lines are trimmed, at most
 * max_blank blank lines are kept between paragraphs and none at either end; with
 * collapse_newlines every run of whitespace, newlines included, becomes one space.
 * hint (may be NULL) is what clean_sanitize learnt of these very bytes. Returns 0 when
 * s is clean already (out untouched), else 1 with the result appended to out
 * (out->failed set when memory ran out). */
int clean_whitespace(const char *s, size_t n, int collapse_newlines, unsigned max_blank, const clean_ws_hint *hint,
                     llm_buf *out);

/* ---- rules.c: PCRE2 patterns ---- */

/* Parses "drop-if RE", "keep-if RE" or "replace RE=REPL" (the kinds as on the command
 * line; a literal '=' in RE is written \=) and compiles it. Returns 0, or -1 with err. */
int clean_rule_compile(clean_rule *r, clean_rule_kind kind, const char *spec, llm_error *err);
void clean_rule_free(clean_rule *r);
/* Reads a --rules file: one rule a line, blank lines and lines starting with '#' skipped.
 * Appends to *rules (reallocated). Returns 0, or -1 with err naming the line. */
int clean_rules_load(const char *path, clean_rule **rules, size_t *n, llm_error *err);

/* Per-thread matching state. */
typedef struct clean_matcher {
    pcre2_match_data *md;
    pcre2_match_context *ctx;
    pcre2_jit_stack *jit;
} clean_matcher;

int clean_matcher_init(clean_matcher *m);
void clean_matcher_free(clean_matcher *m);

/* Applies the rules in order to text[0..n). Returns NULL when the document stays, with
 * *text and *n pointing at the result (in one of the two scratch buffers, or unchanged),
 * else the reason it is dropped ("drop-if", "keep-if", "rule-error") and *rule its index. */
const char *clean_rules_apply(const clean_rule *rules, size_t n_rules, clean_matcher *m, const char **text,
                              size_t *n, llm_buf scratch[2], size_t *rule);

/* ---- document.c: one document through every step ---- */

/* A worker's scratch space, reused from document to document: a buffer for each step
 * that rewrites the text (two for the rules, which alternate), since a step that changes
 * nothing passes its input on and that may still lie in an earlier step's buffer, and
 * one for a JSONL record with its ill-formed UTF-8 repaired. */
#define CLEAN_TMP_BUFS 8
typedef struct clean_worker {
    llm_buf tmp[CLEAN_TMP_BUFS];
    llm_json_parser *json;
    clean_matcher matcher;
} clean_worker;

int clean_worker_init(clean_worker *w, const clean_opts *o);
void clean_worker_free(clean_worker *w);

/* What became of one document. */
typedef struct clean_result {
    const char *reason;     /* NULL: kept; else a static reason name */
    char *error;            /* malformed input: the detail (owned), for --on-error=fail */
    size_t rule;            /* the rule that dropped it (drop-if, keep-if) */
    size_t out_off, out_len;    /* its output line in the batch's output buffer */
    uint64_t hash[2];       /* 128-bit hash of the cleaned text, for --dedup */
} clean_result;

/* Cleans doc[0..len) (a line, a paragraph or a JSONL record; LLM_JSON_PADDING readable
 * bytes follow it) and appends its output line to out when it is kept. */
void clean_document(const clean_opts *o, clean_worker *w, const char *doc, size_t len, llm_buf *out,
                    clean_result *res);
/* The same for a document the caller knows to be valid UTF-8 (valid_utf8 1; a line or
 * paragraph, not a record), having checked many at once. */
void clean_document_utf8(const clean_opts *o, clean_worker *w, const char *doc, size_t len, int valid_utf8,
                         llm_buf *out, clean_result *res);

/* Reasons that are input errors rather than filters (--on-error decides). */
extern const char CLEAN_REASON_MALFORMED[];
extern const char CLEAN_REASON_NO_FIELD[];
extern const char CLEAN_REASON_NO_MEMORY[];    /* always fatal */
/* Not a document: a JSONL ledger line ({"llm_ledger":[...]}, llm-clean --ledger-inline's),
 * which the writer carries into this run's ledger instead of counting it. */
extern const char CLEAN_REASON_LEDGER[];

/* ---- run.c ---- */

/* Reads every input, cleans, writes; prints the summary. Returns the exit status. */
int clean_run(const clean_opts *o);

#endif
