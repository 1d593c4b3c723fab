/* A conversation rendered through a template: the record's tools, then each message through
 * its template line, the placeholders filled from the message, each piece handed to the builder
 * with whether it counts in the loss. The answers (assistant lines, their tool calls and
 * end-of-turn tokens included) count; everything else is masked, unless --train-on-inputs. */
#include "collate.h"

#include <stdio.h>
#include <string.h>

/* A placeholder's text: a few strings one after another (a system message merged into the
 * user's, the instruction and its input). */
typedef struct parts {
    col_str p[5];
    int n;
} parts;

static void parts_add(parts *x, const char *s, size_t n)
{
    if (n)
        x->p[x->n++] = (col_str){s, n};
}

/* The length of the white space character (Python's str.isspace) that s[0..n) starts with,
 * else 0. Python's strip() is what the Jinja templates' trim filter runs. */
static size_t space_at(const unsigned char *s, size_t n)
{
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)    /* U+1680 */
        return 3;
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;                                                  /* U+2000..200A, 2028, 2029, 202F */
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)    /* U+205F */
        return 3;
    if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)    /* U+3000 */
        return 3;
    return 0;
}

/* The length of the white space character that s[0..n) ends with, else 0. */
static size_t space_before(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_at(s + n - k, k) == k)
            return k;
    return 0;
}

/* Python's strip(): white space off both ends of the joined parts. */
static void parts_trim(parts *x)
{
    int i = 0;
    while (i < x->n) {
        col_str *s = &x->p[i];
        size_t k;
        while (s->n && (k = space_at((const unsigned char *)s->s, s->n)) > 0)
            s->s += k, s->n -= k;
        if (s->n)
            break;
        i++;
    }
    for (int j = x->n - 1; j >= i; j--) {
        col_str *s = &x->p[j];
        size_t k;
        while (s->n && (k = space_before((const unsigned char *)s->s, s->n)) > 0)
            s->n -= k;
        if (s->n)
            break;
    }
}

/* Newlines off the start (and the end when both) of s: Qwen3's lstrip('\n') and strip('\n'). */
static col_str strip_newlines(col_str s, int both)
{
    while (s.n && *s.s == '\n')
        s.s++, s.n--;
    while (both && s.n && s.s[s.n - 1] == '\n')
        s.n--;
    return s;
}

static const char *find_last(col_str s, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = s.n >= k ? s.n - k + 1 : 0; i-- > 0;)
        if (memcmp(s.s + i, needle, k) == 0)
            return s.s + i;
    return NULL;
}

static const char *find_first(col_str s, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= s.n; i++)
        if (memcmp(s.s + i, needle, k) == 0)
            return s.s + i;
    return NULL;
}

/* An answer and its reasoning, as Qwen3's template splits them: a "reasoning_content" member
 * is the reasoning; else, when the text holds </think>, the answer is what follows the last
 * one (leading newlines dropped) and the reasoning what precedes the first, after the last
 * <think> there (newlines dropped around it). Templates without {reasoning} take the text whole. */
static void split_answer(const col_template *t, const col_msg *m, col_str *answer, col_str *reasoning)
{
    *answer = m->content;
    *reasoning = (col_str){"", 0};
    if (!t->reasoning)
        return;
    if (m->has_reasoning) {
        *reasoning = m->reasoning;
        return;
    }
    const char *last = find_last(m->content, "</think>");
    if (!last)
        return;
    const char *first = find_first(m->content, "</think>");
    size_t skip = (size_t)(last - m->content.s) + 8;
    *answer = strip_newlines((col_str){m->content.s + skip, m->content.n - skip}, 0);
    col_str before = {m->content.s, (size_t)(first - m->content.s)};
    while (before.n && before.s[before.n - 1] == '\n')
        before.n--;
    const char *think = find_last(before, "<think>");
    if (think) {
        size_t k = (size_t)(think - before.s) + 7;
        before.s += k;
        before.n -= k;
    }
    *reasoning = strip_newlines(before, 0);
}

/* What a line's pieces refer to in one message. */
typedef struct turn {
    const col_example *ex;
    const col_msg *msg;       /* NULL for the lines outside messages */
    const col_msg *system;    /* a system message merged into this user message */
    const col_msg *head;      /* the tools line's {system}: the system message that opens the chat */
    const col_call *call;     /* the tool_call line's call */
    col_str answer, reasoning;
    int trained;
} turn;

/* The text of a placeholder in a turn. */
static void fill(const col_template *t, const col_line *ln, col_piece_kind kind, const turn *tu, parts *x)
{
    const col_msg *m = tu->msg;
    x->n = 0;
    switch (kind) {    /* the lines outside messages, and tool calls: JSON and names, never trimmed */
    case COL_PIECE_TOOLS: parts_add(x, tu->ex->tools.s, tu->ex->tools.n); return;
    case COL_PIECE_NAME: parts_add(x, tu->call->name.s, tu->call->name.n); return;
    case COL_PIECE_ARGUMENTS: parts_add(x, tu->call->arguments.s, tu->call->arguments.n); return;
    case COL_PIECE_SYSTEM:
        if (tu->head) {
            parts_add(x, tu->head->content.s, tu->head->content.n);
            if (t->trim)
                parts_trim(x);
            parts_add(x, "\n\n", 2);
        }
        return;
    default: break;
    }
    if (tu->system && kind != COL_PIECE_INPUT) {
        parts_add(x, tu->system->content.s, tu->system->content.n);
        parts_add(x, "\n\n", 2);
    }
    switch (kind) {
    case COL_PIECE_CONTENT:
        if (m->role == COL_ROLE_ASSISTANT) {
            /* Where the reasoning stands, the answer loses its leading newlines (Qwen3). */
            col_str a = col_line_holds(ln, COL_PIECE_REASONING) ? strip_newlines(tu->answer, 0) : tu->answer;
            parts_add(x, a.s, a.n);
        } else if (m->flat && m->input.n) {
            parts_add(x, m->instruction.s, m->instruction.n);
            parts_add(x, "\n", 1);
            parts_add(x, m->input.s, m->input.n);
        } else {
            parts_add(x, m->content.s, m->content.n);
        }
        break;
    case COL_PIECE_INSTRUCTION: parts_add(x, m->content.s, m->content.n); break;
    case COL_PIECE_INPUT: parts_add(x, m->input.s, m->input.n); break;
    case COL_PIECE_REASONING: {
        col_str r = strip_newlines(tu->reasoning, 1);
        parts_add(x, r.s, r.n);
        break;
    }
    default: break;
    }
    if (t->trim)
        parts_trim(x);
}

static int emit(const col_template *t, col_key key, const turn *tu, col_builder *b, llm_error *err);

/* {tool_calls}: each call of an assistant message through the tool_call line, tool_call_sep
 * before it when text comes before (the message's content, or a call). 0, or -1 with err set. */
static int emit_calls(const col_template *t, const turn *tu, col_builder *b, llm_error *err)
{
    turn sub = *tu;
    for (size_t k = 0; k < tu->msg->n_calls; k++) {
        sub.call = &tu->ex->calls[tu->msg->first_call + k];
        if ((k > 0 || tu->answer.n > 0) && emit(t, COL_KEY_TOOL_CALL_SEP, &sub, b, err) < 0)
            return -1;
        if (emit(t, COL_KEY_TOOL_CALL, &sub, b, err) < 0)
            return -1;
    }
    return 0;
}

/* Hands one template line, filled for a turn, to the builder. 0, or -1 with err set. */
static int emit(const col_template *t, col_key key, const turn *tu, col_builder *b, llm_error *err)
{
    const col_line *ln = &t->line[key];
    for (uint32_t i = 0; ln->present && i < ln->n; i++) {
        const col_piece *pc = &t->pieces[ln->first + i];
        int rc = 0;
        if (pc->kind == COL_PIECE_TEXT) {
            rc = col_builder_text(b, t->text.data + pc->off, pc->len, tu->trained, err);
        } else if (pc->kind == COL_PIECE_TOKEN) {
            rc = col_builder_token(b, pc->id, tu->trained, err);
        } else if (pc->kind == COL_PIECE_TOOL_CALLS) {
            rc = emit_calls(t, tu, b, err);
        } else {
            parts x;
            fill(t, ln, pc->kind, tu, &x);
            for (int k = 0; k < x.n && rc == 0; k++)
                rc = col_builder_text(b, x.p[k].s, x.p[k].n, tu->trained, err);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int starts_with(col_str s, const char *p)
{
    size_t k = strlen(p);
    return s.n >= k && memcmp(s.s, p, k) == 0;
}

static int ends_with(col_str s, const char *p)
{
    size_t k = strlen(p);
    return s.n >= k && memcmp(s.s + s.n - k, p, k) == 0;
}

/* The user message that Qwen3 calls the last query: the last user message that is not tool
 * responses passed on as a user message (its text within <tool_response> and
 * </tool_response>), or, when there is none, the last message. */
static size_t last_query(const col_example *ex)
{
    for (size_t i = ex->n; i-- > 0;) {
        const col_msg *m = &ex->msgs[i];
        if (m->role != COL_ROLE_USER)
            continue;
        col_str last = m->flat && m->input.n ? m->input : m->content;   /* of "instruction\ninput" */
        if (!starts_with(m->content, "<tool_response>") || !ends_with(last, "</tool_response>"))
            return i;
    }
    return ex->n - 1;
}

/* Whether the template has a place for the record's tools, tool messages and tool calls:
 * COL_OK, or COL_BAD_CHAT with msg set. */
static col_reason check_tools(const col_template *t, const col_example *ex, char *msg, size_t msglen)
{
    if (ex->tools.n && !t->line[COL_KEY_TOOLS].present) {
        snprintf(msg, msglen, "a \"tools\" list, and template %s has no tools line to render it", t->name);
        return COL_BAD_CHAT;
    }
    for (size_t i = 0; i < ex->n; i++) {
        if (ex->msgs[i].role == COL_ROLE_TOOL && !t->line[COL_KEY_TOOL].present) {
            snprintf(msg, msglen, "a tool message, and template %s has no tool line to render it", t->name);
            return COL_BAD_CHAT;
        }
        if (ex->msgs[i].n_calls && !t->line[COL_KEY_TOOL_CALL].present) {
            snprintf(msg, msglen, "an assistant message with tool_calls, and template %s has no tool_call line "
                     "to render them", t->name);
            return COL_BAD_CHAT;
        }
    }
    return COL_OK;
}

col_reason col_render(const col_render_opts *o, const col_example *ex, col_builder *b, char *msg, size_t msglen,
                      llm_error *err)
{
    const col_template *t = o->tmpl;
    int all = o->train_on_inputs;
    col_reason why = check_tools(t, ex, msg, msglen);
    if (why != COL_OK)
        return why;
    size_t query = last_query(ex), last_answer = 0, start = 0;
    for (size_t i = 0; i < ex->n; i++)
        if (ex->msgs[i].role == COL_ROLE_ASSISTANT)
            last_answer = i;
    turn outside = {.ex = ex, .trained = all};
    if (emit(t, COL_KEY_BEGIN, &outside, b, err) < 0)
        return COL_REASON_COUNT;
    if (ex->tools.n) {
        /* The system message that opens the chat goes with the tools, where they have its place. */
        if (col_line_holds(&t->line[COL_KEY_TOOLS], COL_PIECE_SYSTEM) && ex->n && ex->msgs[0].role == COL_ROLE_SYSTEM)
            outside.head = &ex->msgs[start++];
        if (emit(t, COL_KEY_TOOLS, &outside, b, err) < 0)
            return COL_REASON_COUNT;
        outside.head = NULL;
    }
    const col_msg *pending = NULL;    /* a system message for the next user message */
    for (size_t i = start; i < ex->n; i++) {
        const col_msg *m = &ex->msgs[i];
        turn tu = {.ex = ex, .msg = m, .trained = all};
        int rc = 0;
        if (m->role == COL_ROLE_SYSTEM && !t->line[COL_KEY_SYSTEM].present) {
            /* No system line: its text goes before the next user message's, as Gemma's does. */
            if (pending) {
                snprintf(msg, msglen, "two system messages in a row, and template %s has no system line",
                         t->name);
                return COL_BAD_CHAT;
            }
            pending = m;
        } else if (m->role == COL_ROLE_SYSTEM) {
            rc = emit(t, COL_KEY_SYSTEM, &tu, b, err);
        } else if (m->role == COL_ROLE_USER) {
            tu.system = pending;
            pending = NULL;
            int with_input = m->flat && m->input.n && t->line[COL_KEY_USER_INPUT].present;
            rc = emit(t, with_input ? COL_KEY_USER_INPUT : COL_KEY_USER, &tu, b, err);
        } else if (m->role == COL_ROLE_TOOL) {
            /* A run of tool messages: tool_start before the first, tool_end after the last. */
            if (i == 0 || ex->msgs[i - 1].role != COL_ROLE_TOOL)
                rc = emit(t, COL_KEY_TOOL_START, &tu, b, err);
            if (rc == 0)
                rc = emit(t, COL_KEY_TOOL, &tu, b, err);
            if (rc == 0 && (i == ex->n - 1 || ex->msgs[i + 1].role != COL_ROLE_TOOL))
                rc = emit(t, COL_KEY_TOOL_END, &tu, b, err);
        } else {
            split_answer(t, m, &tu.answer, &tu.reasoning);
            /* Qwen3 thinks aloud in its final answer, and in any answer after the last
             * question that comes with reasoning. */
            int final = t->line[COL_KEY_ASSISTANT_LAST].present && i > query &&
                        (i == ex->n - 1 || tu.reasoning.n > 0);
            rc = emit(t, COL_KEY_ASSISTANT_START, &tu, b, err);
            tu.trained = all || !o->last_turn_only || i == last_answer;
            if (rc == 0)
                rc = emit(t, final ? COL_KEY_ASSISTANT_LAST : COL_KEY_ASSISTANT, &tu, b, err);
            tu.trained = all;
            if (rc == 0)
                rc = emit(t, COL_KEY_ASSISTANT_END, &tu, b, err);
        }
        if (rc < 0)
            return COL_REASON_COUNT;
    }
    if (pending) {
        snprintf(msg, msglen, "a system message with no user message after it, and template %s has no system line",
                 t->name);
        return COL_BAD_CHAT;
    }
    return col_builder_finish(b, err) < 0 ? COL_REASON_COUNT : COL_OK;
}
