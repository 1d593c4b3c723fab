/* Chat templates: the built-in ones, written in the same small file format that --template
 * FILE reads (llm-collate(1), TEMPLATE FILES), the parser of that format, and the binding of a
 * parsed template to a tokenizer's special tokens. */
#include "collate.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEMPLATE_MAX_BYTES (1u << 20)

static const char *const key_names[COL_KEY_COUNT] = {
    "begin", "tools", "system", "user", "user_input", "tool_start", "tool", "tool_end", "assistant_start",
    "assistant", "assistant_last", "assistant_end", "tool_call", "tool_call_sep",
};

/* ---- the built-in templates ---- */

#define CHATML_TURNS                                                    \
    "system          = \"<|im_start|>system\\n{content}<|im_end|>\\n\"\n" \
    "user            = \"<|im_start|>user\\n{content}<|im_end|>\\n\"\n"   \
    "assistant_start = \"<|im_start|>assistant\\n\"\n"

static const char chatml_src[] =
    "# ChatML: how Qwen2, Qwen2.5 and Qwen3 render a conversation (Qwen3 adds a think block\n"
    "# to the final answer and renders tools: see qwen3; Qwen2 and Qwen2.5 add a default\n"
    "# system message when the conversation has none, which this does not). A tool message\n"
    "# is a message like the others; tool calls and tools have no place here.\n" CHATML_TURNS
    "assistant       = \"{content}<|im_end|>\"\n"
    "assistant_end   = \"\\n\"\n"
    "tool            = \"<|im_start|>tool\\n{content}<|im_end|>\\n\"\n";

static const char qwen3_src[] =
    "# Qwen3's chat template: ChatML, and the final answer (the last message, or one after the\n"
    "# last user message that has reasoning) starts with its think block, empty or not. The\n"
    "# tools, and the system message with them, open the conversation; a run of tool\n"
    "# responses is one user message; an answer's tool calls follow its text.\n"
    "tools           = \"<|im_start|>system\\n{system}# Tools\\n\\n\"\n"
    "                  \"You may call one or more functions to assist with the user query.\\n\\n\"\n"
    "                  \"You are provided with function signatures within <tools></tools> XML tags:\\n\"\n"
    "                  \"<tools>\\n{tools}\\n</tools>\\n\\n\"\n"
    "                  \"For each function call, return a json object with function name and arguments \"\n"
    "                  \"within <tool_call></tool_call> XML tags:\\n\"\n"
    "                  \"<tool_call>\\n{{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}}\\n\"\n"
    "                  \"</tool_call><|im_end|>\\n\"\n" CHATML_TURNS
    "assistant       = \"{content}{tool_calls}<|im_end|>\"\n"
    "assistant_last  = \"<think>\\n{reasoning}\\n</think>\\n\\n{content}{tool_calls}<|im_end|>\"\n"
    "assistant_end   = \"\\n\"\n"
    "tool_start      = \"<|im_start|>user\"\n"
    "tool            = \"\\n<tool_response>\\n{content}\\n</tool_response>\"\n"
    "tool_end        = \"<|im_end|>\\n\"\n"
    "tool_call       = \"<tool_call>\\n{{\\\"name\\\": \\\"{name}\\\", \\\"arguments\\\": {arguments}}}\\n</tool_call>\"\n"
    "tool_call_sep   = \"\\n\"\n";

static const char llama3_src[] =
    "# LLaMA-3's chat template: a header per message, its text trimmed, <|eot_id|> after it.\n"
    "begin           = \"<|begin_of_text|>\"\n"
    "system          = \"<|start_header_id|>system<|end_header_id|>\\n\\n{content}<|eot_id|>\"\n"
    "user            = \"<|start_header_id|>user<|end_header_id|>\\n\\n{content}<|eot_id|>\"\n"
    "assistant_start = \"<|start_header_id|>assistant<|end_header_id|>\\n\\n\"\n"
    "assistant       = \"{content}<|eot_id|>\"\n"
    "tool            = \"<|start_header_id|>tool<|end_header_id|>\\n\\n{content}<|eot_id|>\"\n"
    "trim            = yes\n";

static const char alpaca_src[] =
    "# Stanford Alpaca's prompts (train.py's PROMPT_DICT), the answer and EOS after them.\n"
    "user       = \"Below is an instruction that describes a task. \"\n"
    "             \"Write a response that appropriately completes the request.\\n\\n\"\n"
    "             \"### Instruction:\\n{instruction}\\n\\n### Response:\"\n"
    "user_input = \"Below is an instruction that describes a task, paired with an input that \"\n"
    "             \"provides further context. \"\n"
    "             \"Write a response that appropriately completes the request.\\n\\n\"\n"
    "             \"### Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n### Response:\"\n"
    "assistant  = \"{content}{eos}\"\n";

static const char plain_src[] =
    "# The prompt and the answer back to back, and EOS.\n"
    "user      = \"{content}\"\n"
    "assistant = \"{content}{eos}\"\n";

const char *const col_builtin_names[] = {"chatml", "qwen3", "llama3", "alpaca", "plain", NULL};
static const char *const builtin_sources[] = {chatml_src, qwen3_src, llama3_src, alpaca_src, plain_src};

const char *col_builtin_source(const char *name)
{
    for (size_t i = 0; col_builtin_names[i]; i++)
        if (strcmp(name, col_builtin_names[i]) == 0)
            return builtin_sources[i];
    return NULL;
}

const char *col_default_template(const llm_tokenizer *tok)
{
    if (llm_tokenizer_special_id(tok, "<|im_start|>") >= 0)
        return "chatml";
    if (llm_tokenizer_special_id(tok, "<|start_header_id|>") >= 0)
        return "llama3";
    return "plain";
}

/* ---- parsing ---- */

typedef struct parser {
    col_template *t;
    const char *name;
    size_t line;              /* 1-based, for messages */
    llm_error *err;
    llm_buf value;            /* the current key's value, unescaped */
    int key;                  /* the key being read (continuation lines), -1 for none */
    int seen[COL_KEY_COUNT + 1];   /* the last one is trim */
} parser;

static int parse_error(parser *p, const char *fmt, ...) LLM_PRINTF(2, 3);
static int parse_error(parser *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->line)
        return llm_error_set(p->err, "%s:%zu: %s", p->name, p->line, msg);
    return llm_error_set(p->err, "%s: %s", p->name, msg);
}

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* Reads the quoted strings at s, unescaped, onto p->value; then only a comment may follow. */
static int parse_strings(parser *p, const char *s, const char *end)
{
    int any = 0;
    for (;;) {
        s = skip_blanks(s, end);
        if (s == end || *s == '#')
            break;
        if (*s != '"')
            return parse_error(p, any ? "expected a string or the end of the line" : "expected a quoted string");
        s++;
        for (;;) {
            if (s == end)
                return parse_error(p, "a string without its closing quote");
            char c = *s++;
            if (c == '"')
                break;
            if (c == '\\') {
                if (s == end)
                    return parse_error(p, "a string without its closing quote");
                c = *s++;
                switch (c) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case '\\': case '"': break;
                default: return parse_error(p, "unknown escape \\%c (\\n \\t \\r \\\\ \\\" are known)", c);
                }
            }
            llm_buf_putc(&p->value, c);
        }
        any = 1;
    }
    return any ? 0 : parse_error(p, "expected a quoted string");
}

static int push_piece(col_template *t, col_piece pc)
{
    if (t->n_pieces == t->cap_pieces) {
        size_t cap = t->cap_pieces ? 2 * t->cap_pieces : 32;
        col_piece *np = realloc(t->pieces, cap * sizeof *np);
        if (!np)
            return -1;
        t->pieces = np;
        t->cap_pieces = cap;
    }
    t->pieces[t->n_pieces++] = pc;
    return 0;
}

static int push_text(col_template *t, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    col_piece pc = {.kind = COL_PIECE_TEXT, .off = (uint32_t)t->text.len, .len = (uint32_t)n};
    llm_buf_append(&t->text, s, n);
    return llm_buf_failed(&t->text) ? -1 : push_piece(t, pc);
}

static const struct {
    const char *name;
    col_piece_kind kind;
} placeholders[] = {
    {"content", COL_PIECE_CONTENT}, {"instruction", COL_PIECE_INSTRUCTION}, {"input", COL_PIECE_INPUT},
    {"reasoning", COL_PIECE_REASONING}, {"tool_calls", COL_PIECE_TOOL_CALLS}, {"name", COL_PIECE_NAME},
    {"arguments", COL_PIECE_ARGUMENTS}, {"tools", COL_PIECE_TOOLS}, {"system", COL_PIECE_SYSTEM},
    {"bos", COL_PIECE_BOS}, {"eos", COL_PIECE_EOS},
};

/* Which placeholders each line may hold, as bits of col_piece_kind. */
static unsigned allowed_fields(col_key k)
{
    const unsigned content = 1u << COL_PIECE_CONTENT, instruction = 1u << COL_PIECE_INSTRUCTION,
                   input = 1u << COL_PIECE_INPUT, reasoning = 1u << COL_PIECE_REASONING,
                   tool_calls = 1u << COL_PIECE_TOOL_CALLS;
    switch (k) {
    case COL_KEY_TOOLS: return 1u << COL_PIECE_TOOLS | 1u << COL_PIECE_SYSTEM;
    case COL_KEY_SYSTEM:
    case COL_KEY_TOOL: return content;
    case COL_KEY_USER:
    case COL_KEY_USER_INPUT: return content | instruction | input;
    case COL_KEY_ASSISTANT:
    case COL_KEY_ASSISTANT_LAST: return content | reasoning | tool_calls;
    case COL_KEY_TOOL_CALL: return 1u << COL_PIECE_NAME | 1u << COL_PIECE_ARGUMENTS;
    default: return 0;
    }
}

/* Splits the value of key k into pieces: text, {placeholders}, {{ and }} for braces. */
static int split_value(parser *p, col_key k)
{
    col_template *t = p->t;
    const char *s = p->value.data ? p->value.data : "";
    size_t n = p->value.len;
    if (!llm_utf8_valid(s, n))
        return parse_error(p, "%s: not valid UTF-8", key_names[k]);
    col_line *ln = &t->line[k];
    ln->present = 1;
    ln->first = (uint32_t)t->n_pieces;
    unsigned seen = 0;
    size_t lit = 0;           /* start of the literal text not yet pushed */
    llm_buf tmp;
    llm_buf_init(&tmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (s[i] == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                llm_buf_append(&tmp, s + lit, i + 1 - lit);
                lit = ++i + 1;
                continue;
            }
            rc = parse_error(p, "%s: a lone '}' (write }} for a brace)", key_names[k]);
            break;
        }
        if (s[i] != '{')
            continue;
        if (i + 1 < n && s[i + 1] == '{') {
            llm_buf_append(&tmp, s + lit, i + 1 - lit);
            lit = ++i + 1;
            continue;
        }
        const char *close = memchr(s + i, '}', n - i);
        size_t len = close ? (size_t)(close - s) - i - 1 : 0;
        size_t which = 0;
        while (close && which < sizeof placeholders / sizeof *placeholders &&
               !(strlen(placeholders[which].name) == len && memcmp(placeholders[which].name, s + i + 1, len) == 0))
            which++;
        if (!close || which == sizeof placeholders / sizeof *placeholders) {
            rc = parse_error(p, "%s: unknown placeholder '%.*s' (write {{ for a brace)", key_names[k],
                             close ? (int)(len + 2) : (int)(n - i), s + i);
            break;
        }
        col_piece_kind kind = placeholders[which].kind;
        if (kind != COL_PIECE_BOS && kind != COL_PIECE_EOS && !(allowed_fields(k) & (1u << kind))) {
            rc = parse_error(p, "%s: {%s} has no meaning here", key_names[k], placeholders[which].name);
            break;
        }
        if ((seen & (1u << kind)) && kind != COL_PIECE_BOS && kind != COL_PIECE_EOS) {
            rc = parse_error(p, "%s: {%s} twice", key_names[k], placeholders[which].name);
            break;
        }
        seen |= 1u << kind;
        llm_buf_append(&tmp, s + lit, i - lit);
        if (push_text(t, tmp.data, tmp.len) < 0 || push_piece(t, (col_piece){.kind = kind}) < 0)
            rc = llm_error_set(p->err, "out of memory");
        llm_buf_clear(&tmp);
        i = (size_t)(close - s);
        lit = i + 1;
    }
    if (rc == 0) {
        llm_buf_append(&tmp, s + lit, n - lit);
        if (push_text(t, tmp.data, tmp.len) < 0 || llm_buf_failed(&tmp))
            rc = llm_error_set(p->err, "out of memory");
    }
    llm_buf_free(&tmp);
    ln->n = (uint32_t)(t->n_pieces - ln->first);
    ln->fields = seen;
    return rc;
}

/* Ends the value being read, if any. */
static int end_value(parser *p)
{
    if (p->key < 0)
        return 0;
    int k = p->key;
    p->key = -1;
    if (llm_buf_failed(&p->value))
        return llm_error_set(p->err, "out of memory");
    return split_value(p, (col_key)k);
}

/* One line: blank, a comment, a continuation string, or KEY = VALUE. */
static int parse_line(parser *p, const char *s, const char *end)
{
    s = skip_blanks(s, end);
    if (s == end || *s == '#')
        return 0;
    if (*s == '"') {
        if (p->key < 0)
            return parse_error(p, "a string that continues no line");
        return parse_strings(p, s, end);
    }
    if (end_value(p) < 0)
        return -1;
    const char *k = s;
    while (s < end && ((*s >= 'a' && *s <= 'z') || *s == '_'))
        s++;
    size_t klen = (size_t)(s - k);
    s = skip_blanks(s, end);
    if (klen == 0 || s == end || *s != '=')
        return parse_error(p, "expected KEY = \"VALUE\"");
    s = skip_blanks(s + 1, end);
    if (klen == 4 && memcmp(k, "trim", 4) == 0) {
        if (p->seen[COL_KEY_COUNT]++)
            return parse_error(p, "trim given twice");
        const char *w = s;
        while (s < end && *s >= 'a' && *s <= 'z')
            s++;
        size_t wlen = (size_t)(s - w);
        s = skip_blanks(s, end);
        if (s != end && *s != '#') {    /* name the whole value, up to a comment */
            const char *e = w;
            while (e < end && *e != '#')
                e++;
            while (e > w && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            return parse_error(p, "trim: expected yes or no, got '%.*s'", (int)(e - w), w);
        }
        if (wlen == 3 && memcmp(w, "yes", 3) == 0)
            p->t->trim = 1;
        else if (!(wlen == 2 && memcmp(w, "no", 2) == 0))
            return parse_error(p, "trim: expected yes or no, got '%.*s'", (int)wlen, w);
        return 0;
    }
    int key = 0;
    while (key < COL_KEY_COUNT && !(strlen(key_names[key]) == klen && memcmp(key_names[key], k, klen) == 0))
        key++;
    if (key == COL_KEY_COUNT)
        return parse_error(p, "unknown key '%.*s'", (int)klen, k);
    if (p->seen[key]++)
        return parse_error(p, "%s given twice", key_names[key]);
    p->key = key;
    llm_buf_clear(&p->value);
    return parse_strings(p, s, end);
}

/* Whether line k holds the placeholder `kind`. */
static int holds(const col_template *t, col_key k, col_piece_kind kind)
{
    return col_line_holds(&t->line[k], kind);
}

/* The rules of the tool lines: a tool message, each tool call and the tools have a place. */
static int check_tool_lines(parser *p)
{
    const col_template *t = p->t;
    const col_line *ln = t->line;
    const col_key around[] = {COL_KEY_TOOL_START, COL_KEY_TOOL_END};
    for (size_t i = 0; i < sizeof around / sizeof *around; i++)
        if (ln[around[i]].present && !ln[COL_KEY_TOOL].present)
            return parse_error(p, "%s without a tool line", key_names[around[i]]);
    if (ln[COL_KEY_TOOL].present && !holds(t, COL_KEY_TOOL, COL_PIECE_CONTENT))
        return parse_error(p, "tool: no {content}, where the tool's response goes");
    if (ln[COL_KEY_TOOLS].present && !holds(t, COL_KEY_TOOLS, COL_PIECE_TOOLS))
        return parse_error(p, "tools: no {tools}, where the record's tools go");
    if (ln[COL_KEY_TOOL_CALL_SEP].present && !ln[COL_KEY_TOOL_CALL].present)
        return parse_error(p, "tool_call_sep without a tool_call line");
    if (ln[COL_KEY_TOOL_CALL].present && !holds(t, COL_KEY_TOOL_CALL, COL_PIECE_NAME))
        return parse_error(p, "tool_call: no {name}, where the function's name goes");
    if (ln[COL_KEY_TOOL_CALL].present && !holds(t, COL_KEY_TOOL_CALL, COL_PIECE_ARGUMENTS))
        return parse_error(p, "tool_call: no {arguments}, where the call's arguments go");
    for (int k = COL_KEY_ASSISTANT; k <= COL_KEY_ASSISTANT_LAST; k++) {
        if (!ln[k].present || holds(t, (col_key)k, COL_PIECE_TOOL_CALLS) == ln[COL_KEY_TOOL_CALL].present)
            continue;
        if (ln[COL_KEY_TOOL_CALL].present)
            return parse_error(p, "%s: no {tool_calls}, where the tool_call lines go", key_names[k]);
        return parse_error(p, "%s: {tool_calls} without a tool_call line, which writes each call", key_names[k]);
    }
    return 0;
}

/* The rules a whole template must meet: every line a message goes through has a place for
 * all of its text, which would otherwise vanish from the examples without a word. */
static int check_template(parser *p)
{
    const col_template *t = p->t;
    const col_line *ln = t->line;
    p->line = 0;
    if (!ln[COL_KEY_USER].present)
        return parse_error(p, "no user line");
    if (!ln[COL_KEY_ASSISTANT].present)
        return parse_error(p, "no assistant line");
    for (int k = COL_KEY_ASSISTANT; k <= COL_KEY_ASSISTANT_LAST; k++)
        if (ln[k].present && !holds(t, (col_key)k, COL_PIECE_CONTENT))
            return parse_error(p, "%s: no {content}, where the answer goes", key_names[k]);
    if (ln[COL_KEY_SYSTEM].present && !holds(t, COL_KEY_SYSTEM, COL_PIECE_CONTENT))
        return parse_error(p, "system: no {content}, where the system message goes");
    int content = holds(t, COL_KEY_USER, COL_PIECE_CONTENT);
    int instruction = holds(t, COL_KEY_USER, COL_PIECE_INSTRUCTION);
    if (!content && !instruction)
        return parse_error(p, "user: no {content} or {instruction}, where the message goes");
    if (!ln[COL_KEY_USER_INPUT].present && !content && !holds(t, COL_KEY_USER, COL_PIECE_INPUT))
        return parse_error(p, "user: {instruction} without {input}, and no user_input line: a record's input "
                              "would be lost ({content} holds both)");
    if (ln[COL_KEY_USER_INPUT].present && !holds(t, COL_KEY_USER_INPUT, COL_PIECE_CONTENT) &&
        !(holds(t, COL_KEY_USER_INPUT, COL_PIECE_INSTRUCTION) && holds(t, COL_KEY_USER_INPUT, COL_PIECE_INPUT)))
        return parse_error(p, "user_input: no {content}, nor {instruction} and {input}, where the message and "
                              "its input go");
    return check_tool_lines(p);
}

col_template *col_template_parse(const char *src, size_t n, const char *name, llm_error *err)
{
    col_template *t = calloc(1, sizeof *t);
    parser p = {.t = t, .name = name, .err = err, .key = -1};
    if (!t || !(t->name = strdup(name))) {
        free(t);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    llm_buf_init(&t->text);
    llm_buf_init(&p.value);
    int rc = 0;
    size_t i = 0;
    if (n >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0)
        i = 3;                /* a byte order mark, as some editors write one */
    while (i < n && rc == 0) {
        const char *s = src + i;
        const char *nl = memchr(s, '\n', n - i);
        size_t len = nl ? (size_t)(nl - s) : n - i;
        i += len + (nl != NULL);
        p.line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (memchr(s, '\0', len))
            rc = parse_error(&p, "a NUL byte");
        else
            rc = parse_line(&p, s, s + len);
    }
    if (rc == 0)
        rc = end_value(&p);
    if (rc == 0)
        rc = check_template(&p);
    llm_buf_free(&p.value);
    if (rc < 0) {
        col_template_free(t);
        return NULL;
    }
    for (int k = 0; k < COL_KEY_COUNT; k++)
        t->reasoning |= col_line_holds(&t->line[k], COL_PIECE_REASONING);
    return t;
}

void col_template_free(col_template *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->pieces);
    llm_buf_free(&t->text);
    free(t);
}

/* The whole of a template file. 0, or -1 with err set. */
static int read_file(const char *path, llm_buf *out, llm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return llm_error_set(err, "%s: %s", path, strerror(errno));
    int rc = 0;
    for (;;) {
        if (llm_buf_reserve(out, 1 << 14) < 0) {
            rc = llm_error_set(err, "out of memory");
            break;
        }
        ssize_t k = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = llm_error_set(err, "%s: %s", path, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        out->len += (size_t)k;
        if (out->len > TEMPLATE_MAX_BYTES) {
            rc = llm_error_set(err, "%s: a template of more than 1 MiB", path);
            break;
        }
    }
    close(fd);
    return rc;
}

col_template *col_template_load(const char *arg, llm_error *err)
{
    const char *src = col_builtin_source(arg);
    if (src)
        return col_template_parse(src, strlen(src), arg, err);
    llm_buf file;
    llm_buf_init(&file);
    col_template *t = NULL;
    if (read_file(arg, &file, err) == 0)
        t = col_template_parse(file.data ? file.data : "", file.len, arg, err);
    llm_buf_free(&file);
    return t;
}

/* ---- binding to a tokenizer ---- */

/* The leftmost special token in s[0..n): its offset (n when none), *len and *id; of several
 * starting at the same byte, the longest. */
static size_t find_special(const llm_tokenizer *tok, const char *s, size_t n, size_t *len, uint32_t *id)
{
    size_t count = llm_tokenizer_n_special(tok);
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 0; k < count; k++) {
            uint32_t kid;
            const char *sp = llm_tokenizer_special(tok, k, &kid);
            size_t sl = strlen(sp);
            if (sl > best && sl <= n - i && memcmp(s + i, sp, sl) == 0) {
                best = sl;
                *id = kid;
            }
        }
        if (best) {
            *len = best;
            return i;
        }
    }
    return n;
}

/* Text shaped like a special token, <|name|>, left in s[0..n): its offset, or n. */
static size_t find_lookalike(const char *s, size_t n, size_t *len)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '<' || s[i + 1] != '|')
            continue;
        for (size_t j = i + 2; j + 1 < n && s[j] != '<' && s[j] != '>' && s[j] != '\n'; j++)
            if (s[j] == '|' && s[j + 1] == '>') {
                *len = j + 2 - i;
                return i;
            }
    }
    return n;
}

/* push_piece, with the message when memory runs out. */
static int bind_push(col_template *t, col_piece pc, llm_error *err)
{
    return push_piece(t, pc) < 0 ? llm_error_set(err, "out of memory") : 0;
}

int col_template_bind(col_template *t, const llm_tokenizer *tok, llm_error *err)
{
    col_template old = *t;
    t->pieces = NULL;
    t->n_pieces = t->cap_pieces = 0;
    const char *tname = llm_tokenizer_name(tok);
    int rc = 0;
    for (int k = 0; k < COL_KEY_COUNT && rc == 0; k++) {
        col_line *ln = &t->line[k];
        uint32_t first = (uint32_t)t->n_pieces;
        for (uint32_t i = 0; i < ln->n && rc == 0; i++) {
            col_piece pc = old.pieces[ln->first + i];
            if (pc.kind == COL_PIECE_BOS || pc.kind == COL_PIECE_EOS) {
                int64_t id = pc.kind == COL_PIECE_BOS ? llm_tokenizer_bos(tok) : llm_tokenizer_eos(tok);
                if (id < 0) {
                    rc = llm_error_set(err, "template %s: %s has no %s token for {%s}", t->name, tname,
                                       pc.kind == COL_PIECE_BOS ? "beginning-of-text" : "end-of-text",
                                       pc.kind == COL_PIECE_BOS ? "bos" : "eos");
                    break;
                }
                rc = bind_push(t, (col_piece){.kind = COL_PIECE_TOKEN, .id = (uint32_t)id}, err);
                continue;
            }
            if (pc.kind != COL_PIECE_TEXT) {
                rc = bind_push(t, pc, err);
                continue;
            }
            /* Literal text: its special-token strings become the tokens, the rest stays text. */
            const char *s = t->text.data + pc.off;
            size_t n = pc.len, pos = 0;
            while (pos < n && rc == 0) {
                size_t len = 0, look;
                uint32_t id = 0;
                size_t at = pos + find_special(tok, s + pos, n - pos, &len, &id);
                if ((look = find_lookalike(s + pos, at - pos, &len)) < at - pos) {
                    rc = llm_error_set(err, "template %s: %s: %.*s is not a special token of %s", t->name,
                                       key_names[k], (int)len, s + pos + look, tname);
                    break;
                }
                if (at > pos)
                    rc = bind_push(t, (col_piece){.kind = COL_PIECE_TEXT, .off = pc.off + (uint32_t)pos,
                                                  .len = (uint32_t)(at - pos)}, err);
                if (at < n && rc == 0)
                    rc = bind_push(t, (col_piece){.kind = COL_PIECE_TOKEN, .id = id}, err);
                pos = at + len;
            }
        }
        ln->first = first;
        ln->n = (uint32_t)t->n_pieces - first;
    }
    free(old.pieces);
    return rc;
}
