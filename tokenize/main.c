/* llm-tokenize: text documents to a docs stream of token ids, one record per document.
 * Options here; one document's encoding in document.c, reading, threads, writing and the
 * accounting in run.c. */
#include "cli.h"
#include "tokenize.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: llm-tokenize [OPTION]... [FILE]...\n"
    "Tokenize text documents into an llm-stream of kind docs, one record per document, for\n"
    "llm-pack. With no FILE, or when FILE is -, read standard input.\n"
    "\n"
    "Input:\n"
    "      --in=FORMAT         auto (default: jsonl when the first line that is not blank\n"
    "                          is a JSON object, or looks like one, else lines), jsonl,\n"
    "                          lines (a document a line), whole (each input is one document)\n"
    "      --field=NAME        JSONL member holding the text (default text)\n"
    "      --on-error=WHAT     malformed JSONL lines: fail (default) or skip, counted\n"
    "      --ledger=FILE       the account of the stages before (llm-clean --ledger FILE),\n"
    "                          carried into the stream's ledger; JSONL input may carry it\n"
    "                          in ledger lines instead, as llm-clean writes them inline\n"
    "                          (left out when FILE is given)\n"
    "\n"
    "Tokenizer:\n"
    "      --tokenizer=NAME|PATH  a tiktoken encoding by name (gpt2, r50k_base, p50k_base,\n"
    "                          p50k_edit, cl100k_base, o200k_base) or another name (qwen3,\n"
    "                          llama3: NAME.json), looked up in $LLM_TOKENIZER_DIR or\n"
    "                          data/tokenizers; or the path of a rank file, a tokenizer.json\n"
    "                          or its folder (default: GPT-2's, built in)\n"
    "      --add-tokens=FILE   add the tokens of FILE, one a line (blank lines left out), as\n"
    "                          Hugging Face's add_tokens does: new ids after the highest,\n"
    "                          each matched whole wherever it occurs; changes the header's\n"
    "                          tokenizer hash\n"
    "      --save-tokenizer=FILE  write the tokenizer (extended, with --add-tokens) as a\n"
    "                          tokenizer.json that Hugging Face tools load; with --add-tokens\n"
    "                          the stream's tokenizer takes FILE's name\n"
    "      --special=WHAT      special-token strings in the text: text (default: encoded as\n"
    "                          ordinary text) or allow (each becomes its special token)\n"
    "      --no-eos            do not end each document with the end-of-text token\n"
    "      --bos               start each document with the beginning-of-text token\n"
    "                          (<|endoftext|> for the tiktoken encodings, as GPT-2 does)\n"
    "      --no-bos            do not, even when the tokenizer's post-processor would\n"
    "                          (default: as it says; tiktoken encodings add none)\n"
    "\n"
    "Output:\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "  -l, --level=N           zstd level of the stream (default 3)\n"
    "  -f, --force             write the stream even to a terminal\n"
    "\n"
    "      --max-drop=PCT      exit 1, after writing everything, when more than PCT percent\n"
    "                          of the documents read were dropped (empty or malformed)\n"
    "  -j, --threads=N         worker threads (default: all cores); same output for any N\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "Empty documents are counted and not written. A summary on standard error accounts for\n"
    "every document: in = written + empty + skipped (+ failed: the record that stopped the\n"
    "run, if one did). The same account, after those of the stages before, ends the stream\n"
    "(its ledger; llm-cat --ledger shows it).\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-tokenize(1).\n";

/* New options go here, in the enum and in parse_args; their values land in tok_opts. */
enum {
    OPT_IN = 256, OPT_FIELD, OPT_ON_ERROR, OPT_TOKENIZER, OPT_ADD_TOKENS, OPT_SAVE_TOKENIZER, OPT_SPECIAL,
    OPT_NO_EOS, OPT_BOS, OPT_NO_BOS, OPT_LEDGER, OPT_MAX_DROP, OPT_VERSION
};

static const struct option long_options[] = {
    {"in", required_argument, NULL, OPT_IN},
    {"field", required_argument, NULL, OPT_FIELD},
    {"on-error", required_argument, NULL, OPT_ON_ERROR},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
    {"add-tokens", required_argument, NULL, OPT_ADD_TOKENS},
    {"save-tokenizer", required_argument, NULL, OPT_SAVE_TOKENIZER},
    {"special", required_argument, NULL, OPT_SPECIAL},
    {"no-eos", no_argument, NULL, OPT_NO_EOS},
    {"bos", no_argument, NULL, OPT_BOS},
    {"no-bos", no_argument, NULL, OPT_NO_BOS},
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

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(tok_opts *o, int argc, char **argv)
{
    static const char *const in_names[] = {"auto", "jsonl", "lines", "whole"};
    static const char *const special_names[] = {"text", "allow"};
    static const char *const on_error_names[] = {"fail", "skip"};
    int c, k, status;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:l:fj:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case 'o': status = llm_output_option("output", optarg, &o->output); break;
        case 'f': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-tokenize (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        case 'l': status = llm_level_option(optarg, &o->level); break;
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        case OPT_LEDGER: o->ledger = optarg; break;
        case OPT_MAX_DROP: status = llm_max_drop_option(optarg, &o->max_drop); break;
        case OPT_IN: status = llm_choice_option("in", optarg, in_names, 4, &k); o->in = (tok_in)k; break;
        case OPT_FIELD: o->field = optarg; break;
        case OPT_ON_ERROR: status = llm_choice_option("on-error", optarg, on_error_names, 2, &o->on_error_skip); break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case OPT_ADD_TOKENS: o->add_tokens = optarg; break;
        case OPT_SAVE_TOKENIZER: status = llm_output_option("save-tokenizer", optarg, &o->save_tokenizer); break;
        case OPT_SPECIAL: status = llm_choice_option("special", optarg, special_names, 2, &o->allow_special); break;
        case OPT_NO_EOS: o->eos = 0; break;
        case OPT_BOS: o->bos = 1; break;
        case OPT_NO_BOS: o->bos = 0; break;
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
    }
    if (!*o->field)
        return llm_usage_error("--field: the name is empty");
    /* The file's name is the extended tokenizer's, which the stream's header records. */
    if (o->save_tokenizer && strcmp(o->save_tokenizer, "-") == 0)
        return llm_usage_error("--save-tokenizer: give a file name: it names the tokenizer the stream records");
    /* The tokenizer is saved first: a stream renamed onto the same name would replace it. */
    const char *const names[] = {"output", "save-tokenizer"};
    const char *const paths[] = {o->output, o->save_tokenizer};
    if ((status = llm_input_args(argv + optind, argc - optind, &o->inputs, &o->n_inputs)) >= 0)
        return status;
    return llm_outputs_apart(names, paths, 2, "stream", o->inputs, o->n_inputs);
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-tokenize");
    tok_opts o = {.field = "text", .eos = 1, .bos = -1, .max_drop = -1};
    o.threads = llm_default_threads();
    /* getopt_long permutes argv; the provenance keeps the command as it was typed. */
    char **typed = llm_provenance_argv(argc, argv, &o.argc);
    if (!typed)
        return LLM_EXIT_FAILURE;
    o.argv = typed;
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = tok_run(&o);
    free(typed);
    return status;
}
