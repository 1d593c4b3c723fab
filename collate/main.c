/* llm-collate: fine-tuning records (JSONL) to a blocks stream of token ids with a loss mask,
 * one example a record. Options here; templates in template.c, records in record.c, rendering
 * in render.c, encoding and masking in encode.c, the output layouts in sink.c, the run in run.c. */
#include "cli.h"
#include "collate.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: llm-collate [OPTION]... [FILE]...\n"
    "Render supervised fine-tuning records (JSONL) through a chat template, tokenize them and\n"
    "write an llm-stream of kind blocks, one example a record, with the prompt masked out of\n"
    "the loss. With no FILE, or when FILE is -, read standard input.\n"
    "\n"
    "Records:\n"
    "      --schema=NAME       auto (default: from the members of each record), chat\n"
    "                          ({\"messages\": [{\"role\", \"content\"}, ...]}, tool_calls,\n"
    "                          tool messages and \"tools\" included), alpaca\n"
    "                          ({\"instruction\", \"input\", \"output\"}), instruct\n"
    "                          ({\"instruct\", \"input\", \"label\"}), query ({\"query\", \"answer\"})\n"
    "      --system=TEXT       the system message of records that have none\n"
    "      --on-error=WHAT     malformed records: fail (default) or skip, counted\n"
    "      --rejects=FILE      write every record not written, with its reason (JSONL)\n"
    "\n"
    "Template:\n"
    "      --tokenizer=NAME|PATH  as llm-tokenize's (default: GPT-2's, built in)\n"
    "      --template=NAME|FILE   chatml, qwen3, llama3, alpaca, plain, or a template file\n"
    "                          (default: chatml when the tokenizer has <|im_start|>, llama3\n"
    "                          when it has <|start_header_id|>, else plain)\n"
    "      --show-template     print the template's definition and exit; without\n"
    "                          --template, the one --tokenizer's default is\n"
    "      --render            write each example's rendered text and the byte spans that\n"
    "                          count in the loss as JSONL, instead of the stream (so not\n"
    "                          with -b, --pad=max, --pack, --pad-id, -l, --ledger, --max-drop)\n"
    "\n"
    "Loss:\n"
    "      --train-on-inputs   every token counts, the prompts' too\n"
    "      --last-turn-only    only the last assistant message counts (default: every one)\n"
    "\n"
    "Length and layout:\n"
    "  -b, --max-len=N         the longest example, in tokens (1 to 67108848)\n"
    "      --overflow=WHAT     examples longer than -b: truncate (default: their end is cut)\n"
    "                          or drop\n"
    "      --pad=WHAT          none (default: each example as long as it is) or max (every\n"
    "                          record padded to --max-len, the padding masked)\n"
    "      --pack              whole examples packed into blocks of --max-len tokens, their\n"
    "                          starts recorded, the padding masked\n"
    "      --pad-id=ID         the padding token (default: the tokenizer's pad token, else\n"
    "                          its end-of-text token)\n"
    "\n"
    "Output:\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "  -l, --level=N           zstd level of the stream (default 3)\n"
    "  -f, --force             write the stream even to a terminal\n"
    "\n"
    "      --ledger=FILE       the account of the stages before (llm-clean --ledger FILE),\n"
    "                          carried into the stream's ledger; ledger lines in the input\n"
    "                          (llm-clean writes them inline) are read the same way (left\n"
    "                          out when FILE is given)\n"
    "      --max-drop=PCT      exit 1, after writing everything, when more than PCT percent\n"
    "                          of the examples (or their tokens) were dropped\n"
    "  -j, --threads=N         worker threads (default: all cores); same output for any N\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "A summary on standard error accounts for every record (in = written + dropped + skipped,\n"
    "+ failed: the record that stopped the run, if one did) and gives the distribution of\n"
    "the examples' lengths in tokens. The same account, after those of the stages before,\n"
    "ends the stream (its ledger; llm-cat --ledger shows it).\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-collate(1).\n";

enum {
    OPT_SCHEMA = 256, OPT_SYSTEM, OPT_ON_ERROR, OPT_REJECTS, OPT_TOKENIZER, OPT_TEMPLATE, OPT_SHOW_TEMPLATE,
    OPT_RENDER, OPT_TRAIN_ON_INPUTS, OPT_LAST_TURN_ONLY, OPT_OVERFLOW, OPT_PAD, OPT_PACK, OPT_PAD_ID, OPT_LEDGER, OPT_MAX_DROP, OPT_VERSION
};

static const struct option long_options[] = {
    {"schema", required_argument, NULL, OPT_SCHEMA},
    {"system", required_argument, NULL, OPT_SYSTEM},
    {"on-error", required_argument, NULL, OPT_ON_ERROR},
    {"rejects", required_argument, NULL, OPT_REJECTS},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
    {"template", required_argument, NULL, OPT_TEMPLATE},
    {"show-template", no_argument, NULL, OPT_SHOW_TEMPLATE},
    {"render", no_argument, NULL, OPT_RENDER},
    {"train-on-inputs", no_argument, NULL, OPT_TRAIN_ON_INPUTS},
    {"last-turn-only", no_argument, NULL, OPT_LAST_TURN_ONLY},
    {"max-len", required_argument, NULL, 'b'},
    {"overflow", required_argument, NULL, OPT_OVERFLOW},
    {"pad", required_argument, NULL, OPT_PAD},
    {"pack", no_argument, NULL, OPT_PACK},
    {"pad-id", required_argument, NULL, OPT_PAD_ID},
    {"output", required_argument, NULL, 'o'},
    {"level", required_argument, NULL, 'l'},
    {"force", no_argument, NULL, 'f'},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"ledger", required_argument, NULL, OPT_LEDGER},
    {"max-drop", required_argument, NULL, OPT_MAX_DROP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* --show-template: a built-in's definition, or the file as it is; without --template, the
 * built-in that --tokenizer's special tokens call for. */
static int show_template(const char *arg, const char *tokenizer)
{
    llm_error err;
    if (!arg) {
        llm_tokenizer *tok = llm_tokenizer_load_default(tokenizer, &err);
        if (!tok) {
            llm_msg("%s", err.msg);
            return LLM_EXIT_FAILURE;
        }
        arg = col_default_template(tok);    /* a built-in's name: static */
        llm_tokenizer_free(tok);
    }
    const char *src = col_builtin_source(arg);
    if (src) {
        fputs(src, stdout);
        return llm_flush_stdout();
    }
    col_template *t = col_template_load(arg, &err);
    if (!t) {
        llm_msg("%s", err.msg);
        return LLM_EXIT_FAILURE;
    }
    col_template_free(t);
    /* It parsed, so it was read a moment ago: print it as it is. */
    FILE *f = fopen(arg, "rb");
    if (!f) {
        llm_msg("%s: %s", arg, strerror(errno));
        return LLM_EXIT_FAILURE;
    }
    char buf[1 << 14];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, k, stdout);
    fclose(f);
    return llm_flush_stdout();
}

/* The checks between options. -1 to go on, or the usage status. */
static int check_args(col_opts *o, int pad_max, int overflow_set)
{
    if (o->layout == COL_LAYOUT_PACK && pad_max)
        return llm_usage_error("--pack and --pad=max: choose one");
    if (pad_max)
        o->layout = COL_LAYOUT_PAD;
    if (o->layout != COL_LAYOUT_NONE && !o->max_len)
        return llm_usage_error("--%s needs --max-len (-b), the length of its records",
                               o->layout == COL_LAYOUT_PACK ? "pack" : "pad=max");
    if (overflow_set && !o->max_len)
        return llm_usage_error("--overflow goes with --max-len (-b): without it no example is too long");
    /* These shape or guard the stream, which --render does not write (--pad=max and --pack
     * need --max-len, refused above without it). */
    const struct { int given; const char *name; } stream_only[] = {
        {o->max_len != 0, "--max-len"}, {o->pad_id >= 0, "--pad-id"}, {o->level != 0, "--level"},
        {o->ledger != NULL, "--ledger"}, {o->max_drop >= 0, "--max-drop"},
    };
    for (size_t i = 0; o->render && i < sizeof stream_only / sizeof stream_only[0]; i++)
        if (stream_only[i].given)
            return llm_usage_error("--render writes text, not a stream: %s has no meaning with it",
                                   stream_only[i].name);
    if (o->train_on_inputs && o->last_turn_only)
        return llm_usage_error("--train-on-inputs and --last-turn-only: choose one");
    const char *const names[] = {"output", "rejects"};
    const char *const paths[] = {o->output, o->rejects};
    return llm_outputs_apart(names, paths, 2, "stream", o->inputs, o->n_inputs);
}

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(col_opts *o, int argc, char **argv)
{
    static const char *const schema_names[] = {"auto", "chat", "alpaca", "instruct", "query"};
    static const char *const on_error_names[] = {"fail", "skip"};
    static const char *const overflow_names[] = {"truncate", "drop"};
    static const char *const pad_names[] = {"none", "max"};
    uint64_t v;
    int64_t id;
    int c, k, status, pad_max = 0, show = 0, overflow_set = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "b:o:l:fj:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case 'o': status = llm_output_option("output", optarg, &o->output); break;
        case 'f': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-collate (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        case 'l': status = llm_level_option(optarg, &o->level); break;
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        case OPT_LEDGER: o->ledger = optarg; break;
        case OPT_MAX_DROP: status = llm_max_drop_option(optarg, &o->max_drop); break;
        case 'b':
            /* No record is longer, so a larger limit could only fail later, as a block size. */
            if (llm_parse_u64(optarg, 1, LLM_RECORD_MAX_TOKENS, &v) < 0)
                return llm_usage_error("--max-len: expected 1 to %u tokens, got '%s'", (unsigned)LLM_RECORD_MAX_TOKENS,
                                       optarg);
            o->max_len = (uint32_t)v;
            break;
        case OPT_PAD_ID:
            if (llm_parse_i64(optarg, 0, UINT32_MAX, &id) < 0)
                return llm_usage_error("--pad-id: expected a token id, got '%s'", optarg);
            o->pad_id = id;
            break;
        case OPT_SCHEMA: status = llm_choice_option("schema", optarg, schema_names, 5, &k); o->schema = (col_schema)k; break;
        case OPT_ON_ERROR: status = llm_choice_option("on-error", optarg, on_error_names, 2, &o->on_error_skip); break;
        case OPT_OVERFLOW:
            status = llm_choice_option("overflow", optarg, overflow_names, 2, &k);
            o->overflow = (col_overflow)k;
            overflow_set = 1;
            break;
        case OPT_PAD: status = llm_choice_option("pad", optarg, pad_names, 2, &pad_max); break;
        case OPT_SYSTEM: o->system = optarg; break;
        case OPT_REJECTS: status = llm_output_option("rejects", optarg, &o->rejects); break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case OPT_TEMPLATE: o->template_arg = optarg; break;
        case OPT_SHOW_TEMPLATE: show = 1; break;
        case OPT_RENDER: o->render = 1; break;
        case OPT_TRAIN_ON_INPUTS: o->train_on_inputs = 1; break;
        case OPT_LAST_TURN_ONLY: o->last_turn_only = 1; break;
        case OPT_PACK: o->layout = COL_LAYOUT_PACK; break;
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
    }
    if (show) {
        if (!o->template_arg && !o->tokenizer)
            return llm_usage_error("--show-template: name the template with --template, or the tokenizer whose "
                                   "default template to show with --tokenizer");
        return show_template(o->template_arg, o->tokenizer);
    }
    if ((status = llm_input_args(argv + optind, argc - optind, &o->inputs, &o->n_inputs)) >= 0)
        return status;
    return check_args(o, pad_max, overflow_set);
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-collate");
    col_opts o = {.pad_id = -1, .max_drop = -1};
    o.threads = llm_default_threads();
    /* getopt_long permutes argv; the provenance keeps the command as it was typed. */
    char **typed = llm_provenance_argv(argc, argv, &o.argc);
    if (!typed)
        return LLM_EXIT_FAILURE;
    o.argv = typed;
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = col_run(&o);
    free(typed);
    return status;
}
