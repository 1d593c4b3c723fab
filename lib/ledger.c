/* The ledger: stages, their sums, their JSON, and the table people read (see ledger.h). */
#include "ledger.h"
#include "checkpoint.h"
#include "cli.h"
#include "json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void llm_ledger_init(llm_ledger *l) { memset(l, 0, sizeof *l); }

static void reasons_free(llm_reasons *r)
{
    for (size_t i = 0; i < r->len; i++)
        free(r->items[i].name);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void stage_free(llm_stage *s)
{
    free(s->program);
    free(s->version);
    free(s->argv);
    free(s->unit);
    reasons_free(&s->dropped);
    reasons_free(&s->split);
}

void llm_ledger_free(llm_ledger *l)
{
    for (size_t i = 0; i < l->len; i++)
        stage_free(&l->stages[i]);
    free(l->stages);
    llm_ledger_init(l);
}

/* ---- counts ----------------------------------------------------------------------- */

/* Token counts add up only while both sides keep them. */
static uint64_t add_count(uint64_t a, uint64_t b)
{
    return a == LLM_NO_COUNT || b == LLM_NO_COUNT ? LLM_NO_COUNT : a + b;
}

static void tally_add(llm_tally *t, llm_tally add)
{
    t->records += add.records;
    t->tokens = add_count(t->tokens, add.tokens);
}

int llm_reasons_add(llm_reasons *r, const char *name, uint64_t records, uint64_t tokens)
{
    llm_tally add = {records, tokens};
    for (size_t i = 0; i < r->len; i++)
        if (strcmp(r->items[i].name, name) == 0) {
            tally_add(&r->items[i].n, add);
            return 0;
        }
    if (llm_grow(&r->items, &r->cap, (r->len + 1) * sizeof *r->items) < 0)
        return -1;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    r->items[r->len++] = (llm_reason){copy, add};
    return 0;
}

uint64_t llm_reasons_records(const llm_reasons *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->len; i++)
        n += r->items[i].n.records;
    return n;
}

uint64_t llm_reasons_tokens(const llm_reasons *r)
{
    uint64_t n = 0;
    int any = 0;
    for (size_t i = 0; i < r->len; i++)
        if (r->items[i].n.tokens != LLM_NO_COUNT) {
            n += r->items[i].n.tokens;
            any = 1;
        }
    return any ? n : LLM_NO_COUNT;
}

static int reasons_merge(llm_reasons *dst, const llm_reasons *src)
{
    for (size_t i = 0; i < src->len; i++)
        if (llm_reasons_add(dst, src->items[i].name, src->items[i].n.records, src->items[i].n.tokens) < 0)
            return -1;
    return 0;
}

/* ---- stages ----------------------------------------------------------------------- */

static llm_stage *push_stage(llm_ledger *l)
{
    if (llm_grow(&l->stages, &l->cap, (l->len + 1) * sizeof *l->stages) < 0)
        return NULL;
    llm_stage *s = &l->stages[l->len++];
    memset(s, 0, sizeof *s);
    s->in.tokens = s->out.tokens = LLM_NO_COUNT;
    return s;
}

static char *argv_json(const char *program, int argc, char *const argv[])
{
    llm_buf b;
    llm_buf_init(&b);
    /* The program's name stands for argv[0], as in the header's provenance. */
    llm_buf_putc(&b, '[');
    llm_buf_json_string(&b, program, strlen(program));
    for (int i = 1; i < argc; i++) {
        llm_buf_putc(&b, ',');
        llm_buf_json_string(&b, argv[i], strlen(argv[i]));
    }
    llm_buf_putc(&b, ']');
    llm_buf_putc(&b, '\0');
    if (llm_buf_failed(&b)) {
        llm_buf_free(&b);
        return NULL;
    }
    return b.data;
}

llm_stage *llm_ledger_add_stage(llm_ledger *l, const char *program, const char *unit, int argc,
                                char *const argv[])
{
    llm_stage *s = push_stage(l);
    if (!s)
        return NULL;
    s->runs = 1;
    s->program = strdup(program);
    s->version = strdup(LLM_VERSION);
    s->unit = strdup(unit);
    s->argv = argv_json(program, argc, argv);
    if (!s->program || !s->version || !s->unit || !s->argv) {
        stage_free(s);
        l->len--;
        return NULL;
    }
    return s;
}

static int stage_copy(llm_stage *dst, const llm_stage *src)
{
    *dst = *src;
    dst->program = strdup(src->program);
    dst->version = strdup(src->version);
    dst->argv = strdup(src->argv);
    dst->unit = strdup(src->unit);
    memset(&dst->dropped, 0, sizeof dst->dropped);
    memset(&dst->split, 0, sizeof dst->split);
    if (!dst->program || !dst->version || !dst->argv || !dst->unit || reasons_merge(&dst->dropped, &src->dropped) < 0 ||
        reasons_merge(&dst->split, &src->split) < 0) {
        stage_free(dst);
        return -1;
    }
    return 0;
}

int llm_ledger_copy(llm_ledger *dst, const llm_ledger *src)
{
    llm_ledger_free(dst);
    for (size_t i = 0; i < src->len; i++) {
        llm_stage *s = push_stage(dst);
        if (!s || stage_copy(s, &src->stages[i]) < 0) {
            if (s)
                dst->len--;
            llm_ledger_free(dst);
            return -1;
        }
    }
    return 0;
}

static int stage_add(llm_stage *dst, const llm_stage *src)
{
    dst->runs += src->runs;
    tally_add(&dst->in, src->in);
    tally_add(&dst->out, src->out);
    dst->truncated += src->truncated;
    dst->has_written |= src->has_written;
    dst->written_records += src->written_records;
    dst->written_tokens += src->written_tokens;
    dst->padding += src->padding;
    dst->masked += src->masked;
    return reasons_merge(&dst->dropped, &src->dropped) < 0 || reasons_merge(&dst->split, &src->split) < 0 ? -1 : 0;
}

/* Which run of its program stage i is: 0 for the first llm-pack of the history, ... */
static size_t occurrence(const llm_ledger *l, size_t i)
{
    size_t k = 0;
    for (size_t j = 0; j < i; j++)
        k += strcmp(l->stages[j].program, l->stages[i].program) == 0;
    return k;
}

static size_t find_occurrence(const llm_ledger *l, const char *program, size_t k)
{
    for (size_t j = 0; j < l->len; j++)
        if (strcmp(l->stages[j].program, program) == 0 && k-- == 0)
            return j;
    return SIZE_MAX;
}

int llm_ledger_merge(llm_ledger *l, const llm_ledger *other)
{
    size_t after = 0;     /* a stage l lacks goes after the last one matched */
    for (size_t i = 0; i < other->len; i++) {
        const llm_stage *s = &other->stages[i];
        size_t j = find_occurrence(l, s->program, occurrence(other, i));
        if (j != SIZE_MAX) {
            if (stage_add(&l->stages[j], s) < 0)
                return -1;
            after = j + 1;
            continue;
        }
        llm_stage copy;
        if (!push_stage(l))
            return -1;
        l->len--;
        if (stage_copy(&copy, s) < 0)
            return -1;
        memmove(&l->stages[after + 1], &l->stages[after], (l->len - after) * sizeof copy);
        l->stages[after++] = copy;
        l->len++;
    }
    return 0;
}

/* ---- checks ----------------------------------------------------------------------- */

int llm_stage_check(const llm_stage *s, char *why, size_t whylen)
{
    uint64_t records = s->out.records + llm_reasons_records(&s->dropped) + llm_reasons_records(&s->split);
    if (records != s->in.records) {
        snprintf(why, whylen, "%s: %" PRIu64 " %s in, but %" PRIu64 " out, dropped or split", s->program,
                 s->in.records, s->unit, records);
        return -1;
    }
    if (s->in.tokens == LLM_NO_COUNT)
        return 0;
    uint64_t dropped = llm_reasons_tokens(&s->dropped), split = llm_reasons_tokens(&s->split);
    uint64_t tokens = s->out.tokens + (dropped == LLM_NO_COUNT ? 0 : dropped) + (split == LLM_NO_COUNT ? 0 : split);
    if (s->out.tokens == LLM_NO_COUNT || tokens != s->in.tokens) {
        snprintf(why, whylen, "%s: %" PRIu64 " tokens in, but %" PRIu64 " out, dropped or split", s->program,
                 s->in.tokens, s->out.tokens == LLM_NO_COUNT ? 0 : tokens);
        return -1;
    }
    return 0;
}

static double share(uint64_t part, uint64_t whole)
{
    return whole && whole != LLM_NO_COUNT && part != LLM_NO_COUNT ? (double)part / (double)whole : 0.0;
}

double llm_stage_drop_share(const llm_stage *s)
{
    double by_records = share(llm_reasons_records(&s->dropped), s->in.records);
    double by_tokens = share(llm_reasons_tokens(&s->dropped), s->in.tokens);
    return by_records > by_tokens ? by_records : by_tokens;
}

double llm_ledger_drop_share(const llm_ledger *l)
{
    double kept = 1.0;
    for (size_t i = 0; i < l->len; i++)
        kept *= 1.0 - llm_stage_drop_share(&l->stages[i]);
    return 1.0 - kept;
}

/* "12 documents, 900 tokens", leaving out what is zero or not counted unless both are. */
static int tally_text(char *buf, size_t len, uint64_t records, uint64_t tokens, const char *unit)
{
    if (tokens == LLM_NO_COUNT || tokens == 0)
        return snprintf(buf, len, "%" PRIu64 " %s", records, unit);
    if (records == 0)
        return snprintf(buf, len, "%" PRIu64 " tokens", tokens);
    return snprintf(buf, len, "%" PRIu64 " %s, %" PRIu64 " tokens", records, unit, tokens);
}

static void reasons_text(const llm_reasons *r, const char *unit, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->len && n < len; i++) {
        const llm_reason *x = &r->items[i];
        n += (size_t)snprintf(buf + n, len - n, "%s%s ", i ? ", " : "", x->name);
        if (n < len)
            n += (size_t)tally_text(buf + n, len - n, x->n.records, x->n.tokens, unit);
    }
}

void llm_stage_describe_drops(const llm_stage *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "dropped %.2f%% of its input", 100.0 * llm_stage_drop_share(s));
    if (s->dropped.len && (size_t)n + 3 < len) {
        buf[n] = ' ';
        buf[n + 1] = '(';
        reasons_text(&s->dropped, s->unit, buf + n + 2, len - (size_t)n - 3);
        strcat(buf, ")");
    }
}

int llm_stage_max_drop(const llm_stage *s, double max_pct)
{
    if (max_pct < 0 || 100.0 * llm_stage_drop_share(s) <= max_pct)
        return 0;
    char why[512];
    llm_stage_describe_drops(s, why, sizeof why);
    llm_msg("%s, more than --max-drop %g%%", why, max_pct);
    return 1;
}

/* ---- JSON ------------------------------------------------------------------------- */

static void tally_json(llm_buf *b, llm_tally t)
{
    llm_buf_printf(b, "{\"records\":%" PRIu64, t.records);
    if (t.tokens != LLM_NO_COUNT)
        llm_buf_printf(b, ",\"tokens\":%" PRIu64, t.tokens);
    llm_buf_putc(b, '}');
}

static void reasons_json(llm_buf *b, const char *key, const llm_reasons *r)
{
    llm_buf_printf(b, ",\"%s\":{", key);
    for (size_t i = 0; i < r->len; i++) {
        if (i)
            llm_buf_putc(b, ',');
        llm_buf_json_string(b, r->items[i].name, strlen(r->items[i].name));
        llm_buf_putc(b, ':');
        tally_json(b, r->items[i].n);
    }
    llm_buf_putc(b, '}');
}

static void stage_json(llm_buf *b, const llm_stage *s)
{
    llm_buf_puts(b, "{\"program\":");
    llm_buf_json_string(b, s->program, strlen(s->program));
    llm_buf_puts(b, ",\"version\":");
    llm_buf_json_string(b, s->version, strlen(s->version));
    llm_buf_printf(b, ",\"argv\":%s,\"runs\":%" PRIu64 ",\"unit\":", s->argv, s->runs);
    llm_buf_json_string(b, s->unit, strlen(s->unit));
    llm_buf_puts(b, ",\"in\":");
    tally_json(b, s->in);
    llm_buf_puts(b, ",\"out\":");
    tally_json(b, s->out);
    reasons_json(b, "dropped", &s->dropped);
    reasons_json(b, "split", &s->split);
    llm_buf_printf(b, ",\"truncated\":%" PRIu64, s->truncated);
    if (s->has_written)
        llm_buf_printf(b, ",\"written\":{\"records\":%" PRIu64 ",\"tokens\":%" PRIu64 ",\"padding\":%" PRIu64
                       ",\"masked\":%" PRIu64 ",\"trained\":%" PRIu64 "}",
                       s->written_records, s->written_tokens, s->padding, s->masked,
                       s->written_tokens - (s->masked < s->written_tokens ? s->masked : s->written_tokens));
    llm_buf_putc(b, '}');
}

void llm_ledger_to_json(const llm_ledger *l, llm_buf *out)
{
    llm_buf_putc(out, '[');
    for (size_t i = 0; i < l->len; i++) {
        if (i)
            llm_buf_putc(out, ',');
        stage_json(out, &l->stages[i]);
    }
    llm_buf_putc(out, ']');
}

static int get_u64(llm_json obj, const char *key, int required, uint64_t *out, const char *where, llm_error *err)
{
    llm_json v;
    if (!llm_json_field(obj, key, &v)) {
        if (required)
            return llm_error_set(err, "ledger: %s has no \"%s\"", where, key);
        return 0;
    }
    if (llm_json_get_uint64(v, out) < 0 || *out == LLM_NO_COUNT)
        return llm_error_set(err, "ledger: %s's \"%s\" is not a count", where, key);
    return 0;
}

static int get_string(llm_json obj, const char *key, char **out, llm_error *err)
{
    llm_json v;
    const char *s;
    size_t n;
    if (!llm_json_field(obj, key, &v) || llm_json_get_string(v, &s, &n) < 0 || memchr(s, '\0', n))
        return llm_error_set(err, "ledger: a stage's \"%s\" is missing or not a string", key);
    if (!(*out = strndup(s, n)))
        return llm_error_set(err, "out of memory");
    return 0;
}

static int tally_from_json(llm_json v, llm_tally *t, const char *where, llm_error *err)
{
    if (llm_json_type_of(v) != LLM_JSON_OBJECT)
        return llm_error_set(err, "ledger: %s is not an object", where);
    t->tokens = LLM_NO_COUNT;
    return get_u64(v, "records", 1, &t->records, where, err) < 0 || get_u64(v, "tokens", 0, &t->tokens, where, err) < 0
               ? -1 : 0;
}

static int reasons_from_json(llm_json stage, const char *key, llm_reasons *r, llm_error *err)
{
    llm_json obj, v;
    if (!llm_json_field(stage, key, &obj))
        return 0;
    if (llm_json_type_of(obj) != LLM_JSON_OBJECT)
        return llm_error_set(err, "ledger: \"%s\" is not an object", key);
    llm_json_iter it;
    const char *name;
    size_t n;
    llm_json_object_begin(obj, &it);
    while (llm_json_object_next(&it, &name, &n, &v)) {
        llm_tally t;
        char *copy = strndup(name, n);
        int rc = !copy ? llm_error_set(err, "out of memory") : tally_from_json(v, &t, key, err);
        if (rc == 0 && llm_reasons_add(r, copy, t.records, t.tokens) < 0)
            rc = llm_error_set(err, "out of memory");
        free(copy);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int stage_from_json(llm_json v, llm_stage *s, llm_error *err)
{
    llm_json f;
    if (llm_json_type_of(v) != LLM_JSON_OBJECT)
        return llm_error_set(err, "ledger: a stage is not an object");
    if (get_string(v, "program", &s->program, err) < 0 || get_string(v, "version", &s->version, err) < 0 ||
        get_string(v, "unit", &s->unit, err) < 0)
        return -1;
    if (!llm_json_field(v, "argv", &f) || llm_json_type_of(f) != LLM_JSON_ARRAY)
        return llm_error_set(err, "ledger: %s's \"argv\" is not an array", s->program);
    llm_buf b;
    llm_buf_init(&b);
    llm_json_minify(f, &b);
    llm_buf_putc(&b, '\0');
    if (llm_buf_failed(&b))
        return llm_error_set(err, "out of memory");
    s->argv = b.data;
    s->runs = 1;
    llm_json in, out;
    if (get_u64(v, "runs", 0, &s->runs, s->program, err) < 0)
        return -1;
    if (!llm_json_field(v, "in", &in) || !llm_json_field(v, "out", &out))
        return llm_error_set(err, "ledger: %s has no \"in\" or \"out\"", s->program);
    if (tally_from_json(in, &s->in, "\"in\"", err) < 0 || tally_from_json(out, &s->out, "\"out\"", err) < 0 ||
        reasons_from_json(v, "dropped", &s->dropped, err) < 0 || reasons_from_json(v, "split", &s->split, err) < 0 ||
        get_u64(v, "truncated", 0, &s->truncated, s->program, err) < 0)
        return -1;
    if (!llm_json_field(v, "written", &f))
        return 0;
    s->has_written = 1;
    if (llm_json_type_of(f) != LLM_JSON_OBJECT)
        return llm_error_set(err, "ledger: \"written\" is not an object");
    return get_u64(f, "records", 1, &s->written_records, "\"written\"", err) < 0 ||
                   get_u64(f, "tokens", 1, &s->written_tokens, "\"written\"", err) < 0 ||
                   get_u64(f, "padding", 0, &s->padding, "\"written\"", err) < 0 ||
                   get_u64(f, "masked", 0, &s->masked, "\"written\"", err) < 0
               ? -1 : 0;
}

static int ledger_from_value(llm_ledger *l, llm_json root, llm_error *err)
{
    if (llm_json_type_of(root) != LLM_JSON_ARRAY)
        return llm_error_set(err, "ledger: not a JSON array of stages");
    llm_json_iter it;
    llm_json v;
    llm_json_array_begin(root, &it);
    while (llm_json_array_next(&it, &v)) {
        llm_stage *s = push_stage(l);
        if (!s)
            return llm_error_set(err, "out of memory");
        if (stage_from_json(v, s, err) < 0)
            return -1;
        char why[256];
        if (llm_stage_check(s, why, sizeof why) < 0)
            return llm_error_set(err, "ledger: the counts do not add up: %s", why);
    }
    return 0;
}

int llm_ledger_from_json(llm_ledger *l, const char *json, size_t len, llm_error *err)
{
    llm_ledger_free(l);
    llm_json_parser *p = llm_json_parser_new();
    llm_json root;
    int rc = !p ? llm_error_set(err, "out of memory") : llm_json_parse(p, json, len, 0, &root, err);
    if (rc == 0)
        rc = ledger_from_value(l, root, err);
    llm_json_parser_free(p);
    if (rc < 0)
        llm_ledger_free(l);
    return rc;
}

/* ---- the JSONL line --------------------------------------------------------------- */

void llm_ledger_to_line(const llm_ledger *l, llm_buf *out)
{
    llm_buf_puts(out, LLM_LEDGER_LINE_KEY);
    llm_ledger_to_json(l, out);
    llm_buf_puts(out, "}\n");
}

int llm_ledger_from_line(llm_ledger *l, const char *line, size_t len, llm_error *err)
{
    const size_t key = sizeof LLM_LEDGER_LINE_KEY - 1;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len < key + 1 || memcmp(line, LLM_LEDGER_LINE_KEY, key) != 0 || line[len - 1] != '}')
        return 0;
    if (!l)
        return 1;
    llm_ledger got;
    llm_ledger_init(&got);
    if (llm_ledger_from_json(&got, line + key, len - key - 1, err) < 0)
        return -1;
    int rc = llm_ledger_merge(l, &got) < 0 ? llm_error_set(err, "out of memory") : 1;
    llm_ledger_free(&got);
    return rc;
}

/* ---- files ------------------------------------------------------------------------ */

int llm_ledger_load_file(llm_ledger *l, const char *path, llm_error *err)
{
    size_t len;
    char *text = llm_read_file(path, &len, err);
    if (!text)
        return -1;
    llm_error why;
    int rc = llm_ledger_from_line(l, text, len, &why);
    if (rc == 0) {
        llm_ledger got;
        llm_ledger_init(&got);
        rc = llm_ledger_from_json(&got, text, len, &why);
        if (rc == 0 && llm_ledger_merge(l, &got) < 0)
            rc = llm_error_set(&why, "out of memory");
        llm_ledger_free(&got);
    }
    free(text);
    return rc < 0 ? llm_error_set(err, "%s: %s", path, why.msg) : 0;
}

int llm_ledger_save_file(const llm_ledger *l, const char *path, llm_error *err)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_ledger_to_json(l, &b);
    llm_buf_putc(&b, '\n');
    int rc = llm_buf_failed(&b) ? llm_error_set(err, "out of memory") : llm_write_file_durable(path, b.data, b.len, err);
    llm_buf_free(&b);
    return rc;
}

/* ---- for people ------------------------------------------------------------------- */

static double percent(uint64_t part, uint64_t whole) { return 100.0 * share(part, whole); }

void llm_ledger_print_table(const llm_ledger *l, FILE *f)
{
    char in[96], out[96], dropped[128], why[1024];
    fprintf(f, "%-3s %-13s %-36s %-36s %s\n", "#", "program", "in", "out", "dropped");
    for (size_t i = 0; i < l->len; i++) {
        const llm_stage *s = &l->stages[i];
        uint64_t dr = llm_reasons_records(&s->dropped), dt = llm_reasons_tokens(&s->dropped);
        tally_text(in, sizeof in, s->in.records, s->in.tokens, s->unit);
        tally_text(out, sizeof out, s->out.records, s->out.tokens, s->unit);
        int n = snprintf(dropped, sizeof dropped, "%" PRIu64 " (%.2f%%)", dr, percent(dr, s->in.records));
        if (dt != LLM_NO_COUNT && s->in.tokens != LLM_NO_COUNT)
            snprintf(dropped + n, sizeof dropped - (size_t)n, ", %" PRIu64 " tokens (%.2f%%)", dt, percent(dt, s->in.tokens));
        fprintf(f, "%-3zu %-13s %-36s %-36s %s\n", i + 1, s->program, in, out, dropped);
        if (s->runs > 1)
            fprintf(f, "      %" PRIu64 " runs summed\n", s->runs);
        for (size_t k = 0; k < s->dropped.len; k++) {
            const llm_reason *x = &s->dropped.items[k];
            tally_text(why, sizeof why, x->n.records, x->n.tokens, s->unit);
            fprintf(f, "      dropped %-20s %s\n", x->name, why);
        }
        if (s->truncated)
            fprintf(f, "      truncated %" PRIu64 " %s\n", s->truncated, s->unit);
        for (size_t k = 0; k < s->split.len; k++) {
            const llm_reason *x = &s->split.items[k];
            tally_text(why, sizeof why, x->n.records, x->n.tokens, s->unit);
            fprintf(f, "      split   %-20s %s\n", x->name, why);
        }
        if (s->has_written)
            fprintf(f, "      wrote %" PRIu64 " records, %" PRIu64 " tokens: %" PRIu64 " trained, %" PRIu64
                    " masked (%" PRIu64 " of them padding)\n", s->written_records, s->written_tokens,
                    s->written_tokens - (s->masked < s->written_tokens ? s->masked : s->written_tokens), s->masked,
                    s->padding);
        if (llm_stage_check(s, why, sizeof why) < 0)
            fprintf(f, "      the counts do not add up: %s\n", why);
    }
}

void llm_ledger_print_summary(const llm_ledger *l, const char *what, FILE *f)
{
    if (l->len == 0) {
        fprintf(f, "%s: %s: no ledger (written before ledgers, or by a program that keeps none)\n",
                llm_cli_program(), what);
        return;
    }
    const llm_stage *first = &l->stages[0];
    fprintf(f, "%s: %s: %zu stages since %s read %" PRIu64 " %s; %.2f%% dropped on the way\n", llm_cli_program(),
            what, l->len, first->program, first->in.records, first->unit, 100.0 * llm_ledger_drop_share(l));
    for (size_t i = 0; i < l->len; i++) {
        char drops[512];
        llm_stage_describe_drops(&l->stages[i], drops, sizeof drops);
        fprintf(f, "  %zu %s: %" PRIu64 " %s in, %" PRIu64 " out, %s\n", i + 1, l->stages[i].program,
                l->stages[i].in.records, l->stages[i].unit, l->stages[i].out.records, drops);
    }
}
