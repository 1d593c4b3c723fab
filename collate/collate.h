/* llm-collate's internals: the options (main.c), chat templates (template.c), one JSONL record
 * read into messages (record.c), a conversation rendered through a template (render.c), the
 * rendered pieces encoded into token ids with a loss mask (encode.c), the lengths summary
 * (lengths.c), the output of finished examples (sink.c) and the driver (run.c). */
#ifndef LLM_COLLATE_H
#define LLM_COLLATE_H

#include "buf.h"
#include "json.h"
#include "stream.h"
#include "tokenizer.h"

/* ---- options ---- */

typedef enum col_schema {
    COL_SCHEMA_AUTO,          /* from the members of each record */
    COL_SCHEMA_CHAT,          /* {"messages": [{"role", "content"}, ...]} */
    COL_SCHEMA_ALPACA,        /* {"instruction", "input", "output"} */
    COL_SCHEMA_INSTRUCT,      /* {"instruct", "input", "label"} */
    COL_SCHEMA_QUERY          /* {"query", "answer"} */
} col_schema;

typedef enum col_overflow { COL_OVERFLOW_TRUNCATE, COL_OVERFLOW_DROP } col_overflow;

/* How finished examples become records (sink.c). */
typedef enum col_layout {
    COL_LAYOUT_NONE,          /* --pad=none: each example as long as it is */
    COL_LAYOUT_PAD,           /* --pad=max: every record max_len tokens, the padding masked */
    COL_LAYOUT_PACK           /* --pack: whole examples bin-packed into blocks of max_len */
} col_layout;

typedef struct col_opts {
    col_schema schema;
    const char *tokenizer;      /* --tokenizer NAME|PATH; NULL: the embedded default */
    const char *template_arg;   /* --template NAME|FILE */
    const char *system;         /* --system: the system message of records without one */
    int train_on_inputs;        /* every token counts in the loss */
    int last_turn_only;         /* only the last assistant message counts */
    uint32_t max_len;           /* --max-len (-b); 0: none */
    col_overflow overflow;
    col_layout layout;
    int64_t pad_id;             /* --pad-id; -1: the tokenizer's pad token, else its EOS */
    int on_error_skip;
    const char *rejects;        /* --rejects FILE */
    int render;                 /* --render: rendered text as JSONL instead of a stream */
    const char *ledger;         /* --ledger FILE: the account of the stages before */
    double max_drop;            /* --max-drop percentage; -1: no limit */
    int force, quiet;
    int level;                  /* zstd level; 0: the stream's default */
    unsigned threads;
    const char *output;
    char **inputs;
    int n_inputs;
    int argc;                   /* the command line for the provenance */
    char **argv;
} col_opts;

/* ---- template.c: chat templates ---- */

/* The lines of a template, in the order a conversation uses them. */
typedef enum col_key {
    COL_KEY_BEGIN,            /* once, at the start of an example */
    COL_KEY_TOOLS,            /* once, after begin, for a record with a "tools" list */
    COL_KEY_SYSTEM,           /* a system message */
    COL_KEY_USER,             /* a user message */
    COL_KEY_USER_INPUT,       /* a user message whose record has a non-empty input */
    COL_KEY_TOOL_START,       /* before a run of tool messages (masked) */
    COL_KEY_TOOL,             /* a tool message: a tool's response (masked) */
    COL_KEY_TOOL_END,         /* after a run of tool messages (masked) */
    COL_KEY_ASSISTANT_START,  /* before each assistant message (masked) */
    COL_KEY_ASSISTANT,        /* an assistant message: what counts in the loss */
    COL_KEY_ASSISTANT_LAST,   /* the final answer (see template.c) */
    COL_KEY_ASSISTANT_END,    /* after each assistant message (masked) */
    COL_KEY_TOOL_CALL,        /* each tool call, where an assistant line has {tool_calls} */
    COL_KEY_TOOL_CALL_SEP,    /* before a tool call that follows text (the content, a call) */
    COL_KEY_COUNT
} col_key;

/* What a piece of a template line stands for. */
typedef enum col_piece_kind {
    COL_PIECE_TEXT,           /* literal text */
    COL_PIECE_TOKEN,          /* a special token, by id */
    COL_PIECE_CONTENT,        /* {content}: the message's text */
    COL_PIECE_INSTRUCTION,    /* {instruction} */
    COL_PIECE_INPUT,          /* {input} */
    COL_PIECE_REASONING,      /* {reasoning}: an assistant message's thinking */
    COL_PIECE_TOOL_CALLS,     /* {tool_calls}: an assistant message's calls, each its tool_call line */
    COL_PIECE_NAME,           /* {name}, {arguments}: a tool call's */
    COL_PIECE_ARGUMENTS,
    COL_PIECE_TOOLS,          /* {tools}: the record's tools as JSON, one a line */
    COL_PIECE_SYSTEM,         /* {system}: the first system message and a blank line, or nothing */
    COL_PIECE_BOS,            /* {bos}, {eos}: the tokenizer's, resolved by col_template_bind */
    COL_PIECE_EOS
} col_piece_kind;

typedef struct col_piece {
    col_piece_kind kind;
    uint32_t off, len;        /* COL_PIECE_TEXT: in the template's text */
    uint32_t id;              /* COL_PIECE_TOKEN */
} col_piece;

typedef struct col_line {
    int present;
    uint32_t first, n;        /* its pieces in the template's pieces */
    unsigned fields;          /* the placeholders it holds, as bits 1 << col_piece_kind */
} col_line;

/* Whether a line holds the placeholder `kind`. */
static inline int col_line_holds(const col_line *ln, col_piece_kind kind) { return (ln->fields >> kind) & 1; }

typedef struct col_template {
    char *name;               /* a built-in's name, or the file's path */
    col_line line[COL_KEY_COUNT];
    int trim;                 /* strip white space around message texts */
    int reasoning;            /* some line holds {reasoning}: answers are split at </think> */
    col_piece *pieces;
    size_t n_pieces, cap_pieces;
    llm_buf text;             /* the literal text of the pieces */
} col_template;

/* The built-in templates' names, NULL-terminated, and one's definition in the file format. */
extern const char *const col_builtin_names[];
const char *col_builtin_source(const char *name);   /* NULL when there is none */

/* Parses a template in the file format (see llm-collate(1)) from src[0..n); `name` is used in
 * messages. Returns a template (free with col_template_free), or NULL with err set, naming the
 * line ("template.txt:3: unknown key 'asistant'"). */
col_template *col_template_parse(const char *src, size_t n, const char *name, llm_error *err);
/* The template a tokenizer's special tokens call for: chatml with <|im_start|>, llama3 with
 * <|start_header_id|>, else plain. */
const char *col_default_template(const llm_tokenizer *tok);
/* Loads --template: a built-in by name, else a file. NULL with err set. */
col_template *col_template_load(const char *arg, llm_error *err);
void col_template_free(col_template *t);
/* Turns the special-token text of the literal pieces into token pieces, and {bos}/{eos} into
 * the tokenizer's ids. Text shaped like a special token (<|...|>) that the tokenizer does
 * not have is an error, as is {bos} or {eos} when it has none. 0, or -1 with err set. */
int col_template_bind(col_template *t, const llm_tokenizer *tok, llm_error *err);

/* ---- record.c: one JSONL record ---- */

typedef enum col_role { COL_ROLE_SYSTEM, COL_ROLE_USER, COL_ROLE_ASSISTANT, COL_ROLE_TOOL } col_role;

/* A string inside the parser's document (or the options). */
typedef struct col_str {
    const char *s;
    size_t n;
} col_str;

typedef struct col_msg {
    col_role role;
    col_str content;          /* chat: the message's text; flat records: see instruction */
    col_str instruction, input;   /* user message of a flat record: {content} is these two
                                   * joined by a newline (the instruction alone without input) */
    int flat;                 /* a user message made from a flat record */
    col_str reasoning;        /* an assistant message's "reasoning_content", when given */
    int has_reasoning;
    size_t first_call, n_calls;   /* an assistant message's tool calls in the example's calls */
} col_msg;

/* A tool call of an assistant message: {name} and {arguments}, the latter the record's string
 * as it is, or its object as JSON (llm_json_dump) in the example's json. */
typedef struct col_call {
    col_str name;
    col_str arguments;
    size_t json_at;           /* while the record is read: where dumped arguments start in json */
} col_call;

typedef struct col_example {
    col_msg *msgs;            /* owned, reused from record to record */
    size_t n, cap;            /* cap in bytes (llm_grow) */
    col_call *calls;          /* owned, likewise */
    size_t n_calls, cap_calls;    /* cap_calls in bytes */
    col_str tools;            /* the record's "tools", each as JSON, one a line; n == 0: none */
    size_t tools_at;          /* while the record is read: where tools start in json */
    llm_buf json;             /* owns the JSON text that arguments and tools point into */
} col_example;

/* Why a record was not written: the summary's reasons and the rejects file's. */
typedef enum col_reason {
    COL_OK = 0,
    COL_MALFORMED_JSON,       /* not JSON, or not an object */
    COL_MISSING_FIELD,        /* no member the schema needs */
    COL_WRONG_TYPE,           /* a member of another type */
    COL_EMPTY_ANSWER,         /* an answer that is empty or only white space */
    COL_BAD_CHAT,             /* an unknown role, no assistant message, ... */
    COL_TOO_LONG,             /* longer than --max-len with --overflow=drop */
    COL_NO_ANSWER_LEFT,       /* truncation left no token that counts */
    COL_REASON_COUNT
} col_reason;

const char *col_reason_name(col_reason r);     /* "malformed-json", ... */
/* 1 for the reasons that are faults of the input: errors unless --on-error=skip. */
int col_reason_is_error(col_reason r);

/* Reads the JSON object `root` as `schema` into ex (--system fills in a missing system
 * message). Returns COL_OK, or a reason with the detail in msg. The strings point into the
 * parser's document, or into ex->json. */
col_reason col_read_record(llm_json root, col_schema schema, const char *system, col_example *ex, char *msg,
                           size_t msglen);
void col_example_free(col_example *ex);

/* ---- encode.c: rendered pieces into token ids and a mask ---- */

/* Receives the pieces of a rendered example, each counted in the loss (trained) or not, and
 * makes its token ids and mask: text is gathered into runs between special tokens, and a run
 * is encoded whole, as the reference tokenizer encodes the rendered text, with special-token
 * strings in it as text. A token holding any trained byte is trained. With `text_only`, the
 * pieces are gathered as text instead (--render). */
typedef struct col_builder {
    const llm_tokenizer *tok;
    llm_encoder *enc;
    int text_only;
    llm_ids *ids;             /* the example's ids are appended here */
    llm_buf *mask;            /* and one byte per id, 1 = trained */
    llm_buf *text;            /* text_only: the rendered text */
    llm_buf *spans;           /* text_only: (start, end) size_t pairs of trained text */
    /* the run being gathered */
    llm_buf run;
    size_t *cut;              /* byte offsets in run where the trained flag changes */
    size_t n_cut, cap_cut;
    int run_flag;             /* the flag at the run's start */
    int flag;                 /* the flag of the last byte gathered */
    llm_ids prefix;           /* scratch for the fallback of run_mask */
    uint64_t fallbacks;       /* runs whose bytes did not add up (see encode.c) */
} col_builder;

/* 0, or -1 when out of memory. */
int col_builder_init(col_builder *b, const llm_tokenizer *tok, int text_only);
void col_builder_free(col_builder *b);
/* Starts an example: ids (or text) go on after what ids, mask (text, spans) hold. */
void col_builder_start(col_builder *b, llm_ids *ids, llm_buf *mask, llm_buf *text, llm_buf *spans);
/* Appends text or a special token. 0, or -1 with err set (the encoder's limits, memory). */
int col_builder_text(col_builder *b, const char *s, size_t n, int trained, llm_error *err);
int col_builder_token(col_builder *b, uint32_t id, int trained, llm_error *err);
/* Ends the example (encodes the last run). 0, or -1 with err set. */
int col_builder_finish(col_builder *b, llm_error *err);

/* ---- render.c: a conversation through a template ---- */

typedef struct col_render_opts {
    const col_template *tmpl;
    int train_on_inputs, last_turn_only;
} col_render_opts;

/* Hands ex, rendered through the template, to b. COL_OK; COL_BAD_CHAT with msg set (a system
 * message, a tool message, tool calls or tools that the template cannot place);
 * COL_REASON_COUNT with err set when the builder fails (memory, the encoder's limits). */
col_reason col_render(const col_render_opts *o, const col_example *ex, col_builder *b, char *msg, size_t msglen,
                      llm_error *err);

/* ---- lengths.c: the length distribution of the summary ---- */

typedef struct col_lengths {
    uint64_t *counts;         /* counts[len] for len < COL_LENGTHS_DENSE, grown as needed */
    size_t n_counts;
    uint32_t *big;            /* longer lengths, one entry each */
    size_t n_big, cap_big;
    uint64_t n, sum;
    uint32_t min, max;
    int failed;               /* out of memory: the percentiles are missing */
} col_lengths;

void col_lengths_add(col_lengths *l, uint32_t len);
/* The smallest length that at least p percent of the examples do not exceed (the nearest
 * rank); 0 when there are none. Sorts the long lengths in place. */
uint32_t col_lengths_percentile(col_lengths *l, unsigned p);
void col_lengths_free(col_lengths *l);

/* ---- sink.c: where finished examples go ---- */

/* The one place an example (its ids and mask, already within max_len) becomes stream
 * records, as the layout says. */
typedef struct col_sink {
    col_layout layout;
    uint32_t max_len;
    uint32_t pad_id;
    llm_writer *stream;
    uint32_t *pad_ids;        /* COL_LAYOUT_PAD: a record's worth of scratch */
    uint8_t *pad_mask;
    struct llm_packer *packer;   /* COL_LAYOUT_PACK */
    llm_error *block_err;     /* where put_block reports, during a packer call */
    uint64_t records, tokens, counted, padding;
} col_sink;

/* 0, or -1 with err set. */
int col_sink_init(col_sink *s, col_layout layout, uint32_t max_len, uint32_t pad_id, llm_writer *stream,
                  llm_error *err);
/* Writes one example. 0, or -1 with err set. */
int col_sink_put(col_sink *s, const uint32_t *ids, const uint8_t *mask, size_t n, llm_error *err);
/* Writes what the layout still holds (the packer's last blocks). 0, or -1 with err set. */
int col_sink_finish(col_sink *s, llm_error *err);
void col_sink_free(col_sink *s);

/* ---- run.c ---- */

/* Loads the tokenizer and template, reads every input, writes the stream (or the rendered
 * text), prints the summary. Returns the exit status. */
int col_run(const col_opts *o);

#endif
