/* One JSONL record of llm-collate read into a conversation: a chat's messages as they are (tool
 * calls and tool responses included), or a flat instruction record (Alpaca's, and the
 * instruct/label and query/answer shapes) as a user message and the assistant's answer; and
 * the record's tools. Every way a record can be malformed has a reason and a message that names
 * the member. */
#include "collate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[COL_REASON_COUNT] = {
    "ok", "malformed-json", "missing-field", "wrong-type", "empty-answer", "bad-chat", "too-long", "no-answer-left",
};

const char *col_reason_name(col_reason r)
{
    return r < COL_REASON_COUNT ? reason_names[r] : "?";
}

int col_reason_is_error(col_reason r)
{
    return r != COL_OK && r != COL_TOO_LONG && r != COL_NO_ANSWER_LEFT;
}

void col_example_free(col_example *ex)
{
    free(ex->msgs);
    ex->msgs = NULL;
    ex->n = ex->cap = 0;
    free(ex->calls);
    ex->calls = NULL;
    ex->n_calls = ex->cap_calls = 0;
    llm_buf_free(&ex->json);
}

static col_reason fail(col_reason r, char *msg, size_t msglen, const char *fmt, ...) LLM_PRINTF(4, 5);
static col_reason fail(col_reason r, char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return r;
}

/* A new message at the end of ex; NULL when out of memory. */
static col_msg *add_msg(col_example *ex, col_role role)
{
    if (llm_grow(&ex->msgs, &ex->cap, (ex->n + 1) * sizeof *ex->msgs) < 0)
        return NULL;
    col_msg *m = &ex->msgs[ex->n++];
    memset(m, 0, sizeof *m);
    m->role = role;
    return m;
}

static int is_blank(col_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!strchr(" \t\n\r\f\v", s.s[i]))
            return 0;
    return 1;
}

/* Member `key` of obj as a string: COL_OK; COL_MISSING_FIELD when it is not there (or null and
 * optional); COL_WRONG_TYPE. An optional member that is missing or null reads as "". `where`
 * prefixes the member's name in messages ("messages[2]."). */
static col_reason get_string(llm_json obj, const char *where, const char *key, int optional, col_str *out,
                             char *msg, size_t msglen)
{
    llm_json v;
    out->s = "";
    out->n = 0;
    if (!llm_json_field(obj, key, &v) || (optional && llm_json_type_of(v) == LLM_JSON_NULL)) {
        if (optional)
            return COL_OK;
        return fail(COL_MISSING_FIELD, msg, msglen, "no \"%s%s\" member", where, key);
    }
    if (llm_json_get_string(v, &out->s, &out->n) < 0)
        return fail(COL_WRONG_TYPE, msg, msglen, "\"%s%s\" is %s, not a string", where, key,
                    llm_json_type_name(llm_json_type_of(v)));
    return COL_OK;
}

/* The members of each flat schema: the instruction, the input, the answer. */
static const char *const flat_members[][3] = {
    [COL_SCHEMA_ALPACA] = {"instruction", "input", "output"},
    [COL_SCHEMA_INSTRUCT] = {"instruct", "input", "label"},
    [COL_SCHEMA_QUERY] = {"query", NULL, "answer"},
};

/* The system message a record has (its "system" member), else --system's. */
static col_reason add_system(llm_json root, const char *system, col_example *ex, char *msg, size_t msglen)
{
    col_str s;
    col_reason r = get_string(root, "", "system", 1, &s, msg, msglen);
    if (r != COL_OK)
        return r;
    if (s.n == 0 && system) {
        s.s = system;
        s.n = strlen(system);
    }
    if (s.n == 0)
        return COL_OK;
    col_msg *m = add_msg(ex, COL_ROLE_SYSTEM);
    if (!m)
        return COL_REASON_COUNT;
    m->content = s;
    return COL_OK;
}

static col_reason read_flat(llm_json root, col_schema schema, const char *system, col_example *ex, char *msg,
                            size_t msglen)
{
    const char *const *names = flat_members[schema];
    col_str instruction, input = {"", 0}, answer;
    col_reason r = get_string(root, "", names[0], 0, &instruction, msg, msglen);
    if (r == COL_OK && names[1])
        r = get_string(root, "", names[1], 1, &input, msg, msglen);
    if (r == COL_OK)
        r = get_string(root, "", names[2], 0, &answer, msg, msglen);
    if (r == COL_OK && is_blank(answer))
        r = fail(COL_EMPTY_ANSWER, msg, msglen, "\"%s\" is empty", names[2]);
    if (r == COL_OK)
        r = add_system(root, system, ex, msg, msglen);
    if (r != COL_OK)
        return r;
    col_msg *u = add_msg(ex, COL_ROLE_USER);
    col_msg *a = u ? add_msg(ex, COL_ROLE_ASSISTANT) : NULL;
    if (!a)
        return COL_REASON_COUNT;
    u = &ex->msgs[ex->n - 2];
    u->flat = 1;
    u->instruction = instruction;
    u->input = input;
    u->content = instruction;
    a->content = answer;
    return COL_OK;
}

static col_reason read_role(llm_json m, size_t i, col_role *role, char *msg, size_t msglen)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    char where[48];
    col_str s;
    snprintf(where, sizeof where, "messages[%zu].", i);
    col_reason r = get_string(m, where, "role", 0, &s, msg, msglen);
    if (r != COL_OK)
        return r;
    for (int k = 0; k < 4; k++)
        if (strlen(roles[k]) == s.n && memcmp(roles[k], s.s, s.n) == 0) {
            *role = (col_role)k;
            return COL_OK;
        }
    return fail(COL_BAD_CHAT, msg, msglen, "messages[%zu]: unknown role \"%.*s\" (system, user, assistant or tool)", i,
                (int)(s.n > 40 ? 40 : s.n), s.s);
}

/* A chat that starts with a system message cannot have a "system" member as well. */
static col_reason check_one_system(llm_json root, char *msg, size_t msglen)
{
    col_str s;
    col_reason r = get_string(root, "", "system", 1, &s, msg, msglen);
    if (r == COL_OK && s.n)
        r = fail(COL_BAD_CHAT, msg, msglen,
                 "\"system\" member and a system message at messages[0]: one system message per conversation");
    return r;
}

/* A tool call's arguments: a string as it is, an object as JSON text in ex->json (its place
 * set in col_read_record, as the buffer may still move). */
static col_reason read_arguments(llm_json f, const char *where, col_example *ex, col_call *c, char *msg,
                                 size_t msglen)
{
    llm_json v;
    if (!llm_json_field(f, "arguments", &v))
        return fail(COL_MISSING_FIELD, msg, msglen, "no \"%sarguments\" member", where);
    llm_json_type t = llm_json_type_of(v);
    if (t == LLM_JSON_STRING) {
        llm_json_get_string(v, &c->arguments.s, &c->arguments.n);
        return COL_OK;
    }
    if (t != LLM_JSON_OBJECT)
        return fail(COL_WRONG_TYPE, msg, msglen, "\"%sarguments\" is %s, not a string or an object", where,
                    llm_json_type_name(t));
    c->json_at = ex->json.len;
    llm_json_dump(v, &ex->json);
    c->arguments = (col_str){NULL, ex->json.len - c->json_at};
    return COL_OK;
}

/* The "tool_calls" of messages[i], an assistant message's: [{"function": {"name", "arguments"}}]
 * as OpenAI writes them, or [{"name", "arguments"}]. */
static col_reason read_calls(llm_json m, size_t i, col_msg *cm, col_example *ex, char *msg, size_t msglen)
{
    llm_json arr, c, f;
    llm_json_iter it;
    cm->first_call = ex->n_calls;
    cm->n_calls = 0;
    if (!llm_json_field(m, "tool_calls", &arr) || llm_json_type_of(arr) == LLM_JSON_NULL)
        return COL_OK;
    if (llm_json_type_of(arr) != LLM_JSON_ARRAY)
        return fail(COL_WRONG_TYPE, msg, msglen, "\"messages[%zu].tool_calls\" is %s, not an array", i,
                    llm_json_type_name(llm_json_type_of(arr)));
    if (cm->role != COL_ROLE_ASSISTANT && llm_json_array_len(arr) > 0)
        return fail(COL_BAD_CHAT, msg, msglen, "messages[%zu]: tool_calls on a message whose role is not assistant", i);
    size_t k = 0;
    llm_json_array_begin(arr, &it);
    for (; llm_json_array_next(&it, &c); k++) {
        char where[96];
        if (llm_json_type_of(c) != LLM_JSON_OBJECT)
            return fail(COL_WRONG_TYPE, msg, msglen, "messages[%zu].tool_calls[%zu] is %s, not an object", i, k,
                        llm_json_type_name(llm_json_type_of(c)));
        snprintf(where, sizeof where, "messages[%zu].tool_calls[%zu].", i, k);
        if (llm_json_field(c, "function", &f) && llm_json_type_of(f) != LLM_JSON_NULL) {
            if (llm_json_type_of(f) != LLM_JSON_OBJECT)
                return fail(COL_WRONG_TYPE, msg, msglen, "\"%sfunction\" is %s, not an object", where,
                            llm_json_type_name(llm_json_type_of(f)));
            snprintf(where, sizeof where, "messages[%zu].tool_calls[%zu].function.", i, k);
            c = f;
        }
        if (llm_grow(&ex->calls, &ex->cap_calls, (ex->n_calls + 1) * sizeof *ex->calls) < 0)
            return COL_REASON_COUNT;
        col_call *call = &ex->calls[ex->n_calls];
        memset(call, 0, sizeof *call);
        col_reason r = get_string(c, where, "name", 0, &call->name, msg, msglen);
        if (r == COL_OK)
            r = read_arguments(c, where, ex, call, msg, msglen);
        if (r != COL_OK)
            return r;
        ex->n_calls++;
        cm->n_calls++;
    }
    return COL_OK;
}

/* The record's "tools": each an object, written as JSON, one a line. */
static col_reason read_tools(llm_json root, col_example *ex, char *msg, size_t msglen)
{
    llm_json arr, t;
    llm_json_iter it;
    if (!llm_json_field(root, "tools", &arr) || llm_json_type_of(arr) == LLM_JSON_NULL)
        return COL_OK;
    if (llm_json_type_of(arr) != LLM_JSON_ARRAY)
        return fail(COL_WRONG_TYPE, msg, msglen, "\"tools\" is %s, not an array",
                    llm_json_type_name(llm_json_type_of(arr)));
    ex->tools_at = ex->json.len;
    size_t k = 0;
    llm_json_array_begin(arr, &it);
    for (; llm_json_array_next(&it, &t); k++) {
        if (llm_json_type_of(t) != LLM_JSON_OBJECT)
            return fail(COL_WRONG_TYPE, msg, msglen, "tools[%zu] is %s, not an object", k,
                        llm_json_type_name(llm_json_type_of(t)));
        if (k)
            llm_buf_putc(&ex->json, '\n');
        llm_json_dump(t, &ex->json);
    }
    if (k)
        ex->tools = (col_str){NULL, ex->json.len - ex->tools_at};
    return COL_OK;
}

static col_reason read_chat(llm_json root, const char *system, col_example *ex, char *msg, size_t msglen)
{
    llm_json arr, m;
    llm_json_iter it;
    if (!llm_json_field(root, "messages", &arr))
        return fail(COL_MISSING_FIELD, msg, msglen, "no \"messages\" member");
    if (llm_json_type_of(arr) != LLM_JSON_ARRAY)
        return fail(COL_WRONG_TYPE, msg, msglen, "\"messages\" is %s, not an array",
                    llm_json_type_name(llm_json_type_of(arr)));
    if (llm_json_array_len(arr) == 0)
        return fail(COL_BAD_CHAT, msg, msglen, "\"messages\" is empty");
    size_t answers = 0, i = 0;
    llm_json_array_begin(arr, &it);
    while (llm_json_array_next(&it, &m)) {
        char where[48];
        col_role role = COL_ROLE_USER;
        snprintf(where, sizeof where, "messages[%zu].", i);
        if (llm_json_type_of(m) != LLM_JSON_OBJECT)
            return fail(COL_WRONG_TYPE, msg, msglen, "messages[%zu] is %s, not an object", i,
                        llm_json_type_name(llm_json_type_of(m)));
        col_reason r = read_role(m, i, &role, msg, msglen);
        if (r != COL_OK)
            return r;
        if (i == 0 && role != COL_ROLE_SYSTEM && (r = add_system(root, system, ex, msg, msglen)) != COL_OK)
            return r;
        if (i == 0 && role == COL_ROLE_SYSTEM && (r = check_one_system(root, msg, msglen)) != COL_OK)
            return r;
        col_msg *cm = add_msg(ex, role);
        if (!cm)
            return COL_REASON_COUNT;
        /* OpenAI writes "content": null (or leaves it out) beside tool calls: empty content. */
        if ((r = read_calls(m, i, cm, ex, msg, msglen)) != COL_OK)
            return r;
        if ((r = get_string(m, where, "content", cm->n_calls > 0, &cm->content, msg, msglen)) != COL_OK)
            return r;
        if (role == COL_ROLE_ASSISTANT) {
            if ((r = get_string(m, where, "reasoning_content", 1, &cm->reasoning, msg, msglen)) != COL_OK)
                return r;
            llm_json v;
            cm->has_reasoning = llm_json_field(m, "reasoning_content", &v) && llm_json_type_of(v) != LLM_JSON_NULL;
            if (is_blank(cm->content) && cm->n_calls == 0)
                return fail(COL_EMPTY_ANSWER, msg, msglen,
                            "messages[%zu]: the assistant's content is empty, and it has no tool_calls", i);
            answers++;
        }
        i++;
    }
    if (answers == 0)
        return fail(COL_BAD_CHAT, msg, msglen, "no assistant message: nothing to train on");
    return COL_OK;
}

/* The schema of a record: by the member that names it. */
static col_schema detect(llm_json root)
{
    static const struct {
        const char *member;
        col_schema schema;
    } marks[] = {
        {"messages", COL_SCHEMA_CHAT}, {"instruction", COL_SCHEMA_ALPACA},
        {"instruct", COL_SCHEMA_INSTRUCT}, {"query", COL_SCHEMA_QUERY},
    };
    llm_json v;
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        if (llm_json_field(root, marks[i].member, &v))
            return marks[i].schema;
    return COL_SCHEMA_AUTO;
}

col_reason col_read_record(llm_json root, col_schema schema, const char *system, col_example *ex, char *msg,
                           size_t msglen)
{
    ex->n = ex->n_calls = 0;
    ex->tools = (col_str){"", 0};
    if (llm_buf_failed(&ex->json)) {    /* out of memory on an earlier record: start afresh */
        llm_buf_free(&ex->json);
        llm_buf_init(&ex->json);
    }
    llm_buf_clear(&ex->json);
    if (llm_json_type_of(root) != LLM_JSON_OBJECT)
        return fail(COL_MALFORMED_JSON, msg, msglen, "a record must be an object, got %s",
                    llm_json_type_name(llm_json_type_of(root)));
    if (schema == COL_SCHEMA_AUTO && (schema = detect(root)) == COL_SCHEMA_AUTO)
        return fail(COL_MISSING_FIELD, msg, msglen,
                    "no \"messages\", \"instruction\", \"instruct\" or \"query\" member: not a record "
                    "of a known shape");
    col_reason r = schema == COL_SCHEMA_CHAT ? read_chat(root, system, ex, msg, msglen)
                                             : read_flat(root, schema, system, ex, msg, msglen);
    if (r == COL_OK)
        r = read_tools(root, ex, msg, msglen);
    if (r == COL_OK && llm_buf_failed(&ex->json))
        r = COL_REASON_COUNT;
    /* The JSON text has stopped moving: point into it. */
    for (size_t i = 0; r == COL_OK && i < ex->n_calls; i++)
        if (!ex->calls[i].arguments.s)
            ex->calls[i].arguments.s = ex->json.data + ex->calls[i].json_at;
    if (r == COL_OK && ex->tools.n)
        ex->tools.s = ex->json.data + ex->tools_at;
    if (r == COL_REASON_COUNT)
        snprintf(msg, msglen, "out of memory");
    return r;
}
