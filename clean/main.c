/* llm-clean: repair, normalize, strip and filter text documents, accounting for every
 * one. Options here; the steps in text.c, markup.c, rules.c, quality.c and document.c,
 * the threads and the accounting in run.c. */
#include "clean.h"
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: llm-clean [OPTION]... [FILE]...\n"
    "Clean text documents for language-model training: repair UTF-8, normalize Unicode,\n"
    "strip markup, clean whitespace, filter by length, patterns and quality, deduplicate.\n"
    "Writes JSONL {\"text\": ...} for llm-tokenize. With no FILE, or when FILE is -, read\n"
    "standard input.\n"
    "\n"
    "Input and output:\n"
    "      --in=FORMAT         auto (default: jsonl when the first line that is not blank\n"
    "                          is a JSON object, or has the shape of one ({\"...}), else\n"
    "                          lines), lines (a document a line), paragraphs (documents\n"
    "                          between blank lines), jsonl\n"
    "      --field=NAME        JSONL member holding the text (default text); the other\n"
    "                          members pass through unchanged\n"
    "      --out=FORMAT        jsonl (default) or lines (the cleaned text and a newline)\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "      --rejects=FILE      write every dropped document, whole, with its reason (JSONL)\n"
    "      --on-error=WHAT     malformed JSONL lines: fail (default) or skip, counted\n"
    "      --ledger=FILE       write this run's account (documents in, kept, dropped by\n"
    "                          reason) to FILE as a ledger, for llm-tokenize --ledger\n"
    "      --ledger-inline     end the JSONL output with the same account as a ledger line\n"
    "                          {\"llm_ledger\": [...]}, which llm-tokenize reads and carries;\n"
    "                          ledger lines in JSONL input are carried into both ledgers\n"
    "                          (and into such a last line of JSONL output even without it)\n"
    "      --max-drop=PCT      exit 1, after writing everything, when more than PCT percent\n"
    "                          of the documents were dropped\n"
    "\n"
    "Cleaning, in this order:\n"
    "      --invalid=WHAT      ill-formed UTF-8 (in a JSONL record: anywhere in it): replace\n"
    "                          with U+FFFD (default) or drop the document; BOM, NUL and\n"
    "                          control characters are always removed\n"
    "      --markup=WHAT       strip (default: HTML/XML tags removed, script and style\n"
    "                          dropped, entities decoded) or keep\n"
    "      --normalize=FORM    nfc (default), nfkc or none\n"
    "      --keep-linebreaks   spaces and tabs collapsed, lines trimmed, line breaks kept\n"
    "                          (default)\n"
    "      --collapse-newlines every run of whitespace, line breaks too, becomes one space\n"
    "      --max-blank-lines=N blank lines kept between paragraphs (default 1)\n"
    "\n"
    "Filtering, in this order (a dropped document is counted under its reason):\n"
    "      --drop-if=RE        drop documents that match RE (PCRE2, UTF, Unicode classes)\n"
    "      --keep-if=RE        drop documents that do not match RE\n"
    "      --replace=RE=TEXT   replace every match ($1, ${name}; a literal = in RE is \\=)\n"
    "      --rules=FILE        rules from FILE, one a line: drop-if RE, keep-if RE,\n"
    "                          replace RE=TEXT; rules apply in command-line order\n"
    "      --min-chars=N       drop documents under N characters (code points; default 0)\n"
    "      --max-chars=N       drop documents over N characters (default 0: no limit)\n"
    "      --quality=PRESET    none (default), gopher or c4: the published heuristic filters\n"
    "      --dedup             drop exact duplicates of an earlier kept document\n"
    "\n"
    "  -j, --threads=N         worker threads (default: all cores); same output for any N\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "A summary on standard error accounts for every document: in = kept + dropped\n"
    "(+ failed: the record that stopped the run, if one did).\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-clean(1).\n";

enum {
    OPT_IN = 256, OPT_FIELD, OPT_OUT, OPT_REJECTS, OPT_ON_ERROR, OPT_INVALID, OPT_MARKUP, OPT_NORMALIZE,
    OPT_KEEP_LINEBREAKS, OPT_COLLAPSE_NEWLINES, OPT_MAX_BLANK, OPT_DROP_IF, OPT_KEEP_IF, OPT_REPLACE, OPT_RULES,
    OPT_MIN_CHARS, OPT_MAX_CHARS, OPT_QUALITY, OPT_DEDUP, OPT_LEDGER, OPT_LEDGER_INLINE, OPT_MAX_DROP, OPT_VERSION
};

static const struct option long_options[] = {
    {"in", required_argument, NULL, OPT_IN},
    {"field", required_argument, NULL, OPT_FIELD},
    {"out", required_argument, NULL, OPT_OUT},
    {"output", required_argument, NULL, 'o'},
    {"rejects", required_argument, NULL, OPT_REJECTS},
    {"on-error", required_argument, NULL, OPT_ON_ERROR},
    {"invalid", required_argument, NULL, OPT_INVALID},
    {"markup", required_argument, NULL, OPT_MARKUP},
    {"normalize", required_argument, NULL, OPT_NORMALIZE},
    {"keep-linebreaks", no_argument, NULL, OPT_KEEP_LINEBREAKS},
    {"collapse-newlines", no_argument, NULL, OPT_COLLAPSE_NEWLINES},
    {"max-blank-lines", required_argument, NULL, OPT_MAX_BLANK},
    {"drop-if", required_argument, NULL, OPT_DROP_IF},
    {"keep-if", required_argument, NULL, OPT_KEEP_IF},
    {"replace", required_argument, NULL, OPT_REPLACE},
    {"rules", required_argument, NULL, OPT_RULES},
    {"min-chars", required_argument, NULL, OPT_MIN_CHARS},
    {"max-chars", required_argument, NULL, OPT_MAX_CHARS},
    {"quality", required_argument, NULL, OPT_QUALITY},
    {"dedup", no_argument, NULL, OPT_DEDUP},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"ledger", required_argument, NULL, OPT_LEDGER},
    {"ledger-inline", no_argument, NULL, OPT_LEDGER_INLINE},
    {"max-drop", required_argument, NULL, OPT_MAX_DROP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int add_rule(clean_opts *o, clean_rule_kind kind, const char *option, const char *spec)
{
    clean_rule *grown = realloc(o->rules, (o->n_rules + 1) * sizeof *grown);
    if (!grown) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    o->rules = grown;
    llm_error err;
    if (clean_rule_compile(&o->rules[o->n_rules], kind, spec, &err) < 0)
        return llm_usage_error("--%s: %s", option, err.msg);
    o->n_rules++;
    return -1;
}

/* The output, the rejects file and the ledger each need a file of their own. */
static int check_outputs(const clean_opts *o)
{
    const char *const names[] = {"output", "rejects", "ledger"};
    const char *const paths[] = {o->output, o->rejects, o->ledger};
    return llm_outputs_apart(names, paths, 3, "cleaned documents", o->inputs, o->n_inputs);
}

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(clean_opts *o, int argc, char **argv)
{
    static const char *const in_names[] = {"auto", "lines", "paragraphs", "jsonl"};
    static const char *const out_names[] = {"jsonl", "lines"};
    static const char *const invalid_names[] = {"replace", "drop"};
    static const char *const markup_names[] = {"keep", "strip"};
    static const char *const quality_names[] = {"none", "gopher", "c4"};
    static const char *const on_error_names[] = {"fail", "skip"};
    uint64_t v;
    int c, k, status;
    const char *jsonl_option = NULL;    /* an option that means something only for JSONL input */
    int max_blank_set = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:j:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case 'o': status = llm_output_option("output", optarg, &o->output); break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-clean (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        case OPT_IN: status = llm_choice_option("in", optarg, in_names, 4, &k); o->in = (clean_in)k; break;
        case OPT_OUT: status = llm_choice_option("out", optarg, out_names, 2, &k); o->out = (clean_out)k; break;
        case OPT_FIELD: o->field = optarg; jsonl_option = "field"; break;
        case OPT_REJECTS: status = llm_output_option("rejects", optarg, &o->rejects); break;
        case OPT_ON_ERROR:
            status = llm_choice_option("on-error", optarg, on_error_names, 2, &o->on_error_skip);
            jsonl_option = "on-error";
            break;
        case OPT_INVALID: status = llm_choice_option("invalid", optarg, invalid_names, 2, &o->invalid_drop); break;
        case OPT_MARKUP: status = llm_choice_option("markup", optarg, markup_names, 2, &o->markup); break;
        case OPT_QUALITY: status = llm_choice_option("quality", optarg, quality_names, 3, &k); o->quality = k; break;
        case OPT_NORMALIZE:
            if (llm_norm_parse(optarg, &o->norm) < 0)
                return llm_usage_error("--normalize: expected nfc, nfkc or none, got '%s'", optarg);
            break;
        case OPT_KEEP_LINEBREAKS: o->collapse_newlines = 0; break;
        case OPT_COLLAPSE_NEWLINES: o->collapse_newlines = 1; break;
        case OPT_MAX_BLANK:
            if (llm_parse_u64(optarg, 0, 1000, &v) < 0)
                return llm_usage_error("--max-blank-lines: expected 0 to 1000, got '%s'", optarg);
            o->max_blank_lines = (unsigned)v;
            max_blank_set = 1;
            break;
        case OPT_MIN_CHARS:
        case OPT_MAX_CHARS:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &v) < 0)
                return llm_usage_error("--%s: expected a number of characters, got '%s'",
                                       c == OPT_MIN_CHARS ? "min-chars" : "max-chars", optarg);
            *(c == OPT_MIN_CHARS ? &o->min_chars : &o->max_chars) = v;
            break;
        case OPT_DROP_IF: status = add_rule(o, CLEAN_RULE_DROP_IF, "drop-if", optarg); break;
        case OPT_KEEP_IF: status = add_rule(o, CLEAN_RULE_KEEP_IF, "keep-if", optarg); break;
        case OPT_REPLACE: status = add_rule(o, CLEAN_RULE_REPLACE, "replace", optarg); break;
        case OPT_RULES: {
            llm_error err;
            if (clean_rules_load(optarg, &o->rules, &o->n_rules, &err) < 0)
                return llm_usage_error("--rules: %s", err.msg);
            break;
        }
        case OPT_DEDUP: o->dedup = 1; break;
        case OPT_LEDGER: status = llm_output_option("ledger", optarg, &o->ledger); break;
        case OPT_LEDGER_INLINE: o->ledger_inline = 1; break;
        case OPT_MAX_DROP: status = llm_max_drop_option(optarg, &o->max_drop); break;
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
    }
    /* Accepted and ignored, they would look as if they had done something. */
    if (jsonl_option && (o->in == CLEAN_IN_LINES || o->in == CLEAN_IN_PARAGRAPHS))
        return llm_usage_error("--%s goes with JSONL input (--in=jsonl or auto), not --in=%s", jsonl_option,
                               o->in == CLEAN_IN_LINES ? "lines" : "paragraphs");
    if (max_blank_set && o->collapse_newlines)
        return llm_usage_error("--max-blank-lines goes with --keep-linebreaks: --collapse-newlines keeps no line break");
    if (o->max_chars && o->max_chars < o->min_chars)
        return llm_usage_error("--max-chars is below --min-chars");
    if (o->ledger_inline && o->out != CLEAN_OUT_JSONL)
        return llm_usage_error("--ledger-inline goes with JSONL output: use --ledger FILE with --out=lines");
    if ((status = llm_input_args(argv + optind, argc - optind, &o->inputs, &o->n_inputs)) >= 0)
        return status;
    return check_outputs(o);
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-clean");
    clean_opts o = {
        .field = "text",
        .norm = LLM_NORM_NFC,
        .markup = 1,
        .max_blank_lines = 1,
        .max_drop = -1,
    };
    o.threads = llm_default_threads();
    /* getopt_long permutes argv; the ledger keeps the command as it was typed. */
    char **typed = llm_provenance_argv(argc, argv, &o.argc);
    if (!typed)
        return LLM_EXIT_FAILURE;
    o.argv = typed;
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = clean_run(&o);
    free(typed);
    for (size_t i = 0; i < o.n_rules; i++)
        clean_rule_free(&o.rules[i]);
    free(o.rules);
    return status;
}
