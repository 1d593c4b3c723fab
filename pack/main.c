/* llm-pack: a docs stream to a blocks stream of fixed-size training blocks. Options here;
 * the packing is lib/packer.c, the shuffle shuffle.c, the driver run.c. */
#include "cli.h"
#include "pack.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: llm-pack [OPTION]... [FILE]...\n"
    "Cut the documents of a docs stream (from llm-tokenize) into training blocks: a blocks\n"
    "stream for llm-train. With no FILE, or when FILE is -, read standard input.\n"
    "\n"
    "Packing:\n"
    "  -b, --block-size=N      tokens a block (default 1024)\n"
    "      --mode=MODE         concat (default): documents concatenated and cut every N\n"
    "                          tokens, as run_clm.py's group_texts; fit: whole documents\n"
    "                          packed into blocks (best fit decreasing over a window),\n"
    "                          the rest of each block masked padding, starts recorded\n"
    "      --remainder=WHAT    concat: the last block shorter than N is dropped (default,\n"
    "                          counted) or padded and its padding masked (pad)\n"
    "      --group=N           concat: drop the remainder after every N documents, as\n"
    "                          run_clm.py's map(batched=True) does with N=1000 (default 0:\n"
    "                          only at the end)\n"
    "      --boundaries        concat: record where documents start inside each block\n"
    "      --stride=S          concat: a block starts every S tokens (S <= N), its first\n"
    "                          N - S tokens the end of the one before, masked: each token\n"
    "                          counts once, with context (the sliding-window perplexity);\n"
    "                          the last, shorter block is padded\n"
    "      --long=WHAT         fit: a document longer than a block is split (default) into\n"
    "                          full blocks and a last piece, or dropped (drop), counted\n"
    "      --window=N          fit: documents packed together (default 1024)\n"
    "      --pad-id=ID         the padding token (default: the stream's pad, else its eos)\n"
    "\n"
    "Selection:\n"
    "      --val=FILE          write the validation documents' blocks to FILE ('-': standard\n"
    "                          output, when -o names a file)\n"
    "      --val-fraction=F    send this share of documents (0 < F < 1) to --val, chosen by\n"
    "                          a hash of each document's tokens\n"
    "      --val-docs=N        send exactly N documents to --val: the N smallest hashes\n"
    "                          (held in memory until the end)\n"
    "      --shard=K/N         take the documents whose number modulo N is K\n"
    "      --shuffle           write the blocks in a random order: all of them, through an\n"
    "                          unlinked temporary file the size of the uncompressed blocks\n"
    "      --shuffle-buffer=N  with --shuffle, shuffle within N blocks held in memory\n"
    "                          instead (no temporary file)\n"
    "      --seed=S            the shuffle's seed (default 0)\n"
    "      --tmp-dir=DIR       where --shuffle's temporary file goes (default $TMPDIR, /tmp)\n"
    "\n"
    "Output:\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "  -l, --level=N           zstd level of the stream (default 3)\n"
    "  -f, --force             write the stream even to a terminal\n"
    "\n"
    "      --max-drop=PCT      exit 1, after writing everything, when more than PCT percent\n"
    "                          of the documents or tokens read were dropped\n"
    "  -j, --threads=N         compression threads (default: all cores); same bytes for any N\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "A summary on standard error accounts for every document and token: tokens in = tokens\n"
    "in blocks + remainder dropped + long documents dropped. The same account, with those of\n"
    "the stages before, ends each stream written: its ledger, which llm-cat shows.\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-pack(1).\n";

enum {
    OPT_MODE = 256, OPT_REMAINDER, OPT_GROUP, OPT_BOUNDARIES, OPT_STRIDE, OPT_LONG, OPT_WINDOW, OPT_PAD_ID, OPT_VAL,
    OPT_VAL_FRACTION, OPT_VAL_DOCS, OPT_SHARD, OPT_SHUFFLE, OPT_SHUFFLE_BUFFER, OPT_SEED, OPT_TMP_DIR, OPT_MAX_DROP, OPT_VERSION
};

static const struct option long_options[] = {
    {"block-size", required_argument, NULL, 'b'},
    {"mode", required_argument, NULL, OPT_MODE},
    {"remainder", required_argument, NULL, OPT_REMAINDER},
    {"group", required_argument, NULL, OPT_GROUP},
    {"boundaries", no_argument, NULL, OPT_BOUNDARIES},
    {"stride", required_argument, NULL, OPT_STRIDE},
    {"long", required_argument, NULL, OPT_LONG},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"pad-id", required_argument, NULL, OPT_PAD_ID},
    {"val", required_argument, NULL, OPT_VAL},
    {"val-fraction", required_argument, NULL, OPT_VAL_FRACTION},
    {"val-docs", required_argument, NULL, OPT_VAL_DOCS},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"shuffle", no_argument, NULL, OPT_SHUFFLE},
    {"shuffle-buffer", required_argument, NULL, OPT_SHUFFLE_BUFFER},
    {"seed", required_argument, NULL, OPT_SEED},
    {"tmp-dir", required_argument, NULL, OPT_TMP_DIR},
    {"max-drop", required_argument, NULL, OPT_MAX_DROP},
    {"output", required_argument, NULL, 'o'},
    {"level", required_argument, NULL, 'l'},
    {"force", no_argument, NULL, 'f'},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v < 1))
        return -1;
    *out = v;
    return 0;
}

/* The checks between options, once all are read. -1 to go on, else a usage error. */
static int check_args(pack_opts *o, int seen_concat_only, int seen_fit_only, int seen_seed, int seen_remainder)
{
    if (o->packer.mode == LLM_PACK_FIT && seen_concat_only)
        return llm_usage_error("--remainder, --group, --boundaries and --stride are for --mode=concat");
    if (o->packer.stride > o->packer.block_size)
        return llm_usage_error("--stride %u is longer than the block of %u: tokens between would be left out",
                               o->packer.stride, o->packer.block_size);
    if (o->packer.stride && (o->packer.group || seen_remainder))
        return llm_usage_error("--stride keeps every token, and its last block padded: not with --group or "
                               "--remainder");
    if (o->packer.mode == LLM_PACK_CONCAT && seen_fit_only)
        return llm_usage_error("--long and --window are for --mode=fit");
    if (o->val_fraction > 0 && o->val_docs)
        return llm_usage_error("give --val-fraction or --val-docs, not both");
    if (!o->val != !(o->val_fraction > 0 || o->val_docs))
        return llm_usage_error(o->val ? "--val: say how much with --val-fraction or --val-docs"
                                      : "--val-fraction and --val-docs need --val FILE");
    if ((o->shuffle_buffer || seen_seed || o->tmp_dir) && !o->shuffle)
        return llm_usage_error("--shuffle-buffer, --seed and --tmp-dir go with --shuffle");
    if (o->shuffle_buffer && o->tmp_dir)    /* the buffer is in memory: no temporary file */
        return llm_usage_error("--tmp-dir is for the full --shuffle, not --shuffle-buffer");
    const char *const names[] = {"output", "val"};
    const char *const paths[] = {o->output, o->val};
    return llm_outputs_apart(names, paths, 2, "training stream", o->inputs, o->n_inputs);
}

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(pack_opts *o, int argc, char **argv)
{
    static const char *const mode_names[] = {"concat", "fit"};
    static const char *const remainder_names[] = {"drop", "pad"};
    static const char *const long_names[] = {"split", "drop"};
    uint64_t v;
    int c, k, status, concat_only = 0, fit_only = 0, seed = 0, remainder = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "b:o:l:fj:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case 'b':
            if (llm_parse_size(optarg, 1, LLM_RECORD_MAX_TOKENS, &v) < 0)
                return llm_usage_error("--block-size: expected 1 to %u, got '%s'", (unsigned)LLM_RECORD_MAX_TOKENS,
                                       optarg);
            o->packer.block_size = (uint32_t)v;
            break;
        case OPT_MODE: status = llm_choice_option("mode", optarg, mode_names, 2, &k); o->packer.mode = (llm_pack_mode)k; break;
        case OPT_REMAINDER:
            status = llm_choice_option("remainder", optarg, remainder_names, 2, &o->packer.pad_remainder);
            concat_only = remainder = 1;
            break;
        case OPT_GROUP:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->packer.group) < 0)
                return llm_usage_error("--group: expected a number of documents, got '%s'", optarg);
            concat_only = 1;
            break;
        case OPT_BOUNDARIES: o->packer.boundaries = 1; concat_only = 1; break;
        case OPT_STRIDE:
            if (llm_parse_size(optarg, 1, LLM_RECORD_MAX_TOKENS, &v) < 0)
                return llm_usage_error("--stride: expected 1 to %u, got '%s'", (unsigned)LLM_RECORD_MAX_TOKENS, optarg);
            o->packer.stride = (uint32_t)v;
            concat_only = 1;
            break;
        case OPT_LONG: status = llm_choice_option("long", optarg, long_names, 2, &o->packer.drop_long); fit_only = 1; break;
        case OPT_WINDOW:
            if (llm_parse_u64(optarg, 1, 1u << 24, &v) < 0)
                return llm_usage_error("--window: expected 1 to %u documents, got '%s'", 1u << 24, optarg);
            o->packer.window = (size_t)v;
            fit_only = 1;
            break;
        case OPT_PAD_ID:
            if (llm_parse_i64(optarg, 0, UINT32_MAX, &o->pad_id) < 0)
                return llm_usage_error("--pad-id: expected a token id, got '%s'", optarg);
            break;
        case OPT_VAL: status = llm_output_option("val", optarg, &o->val); break;
        case OPT_VAL_FRACTION:
            if (parse_fraction(optarg, &o->val_fraction) < 0)
                return llm_usage_error("--val-fraction: expected a number between 0 and 1, got '%s'", optarg);
            break;
        case OPT_VAL_DOCS:
            if (llm_parse_u64(optarg, 1, 1u << 30, &o->val_docs) < 0)
                return llm_usage_error("--val-docs: expected 1 to %u, got '%s'", 1u << 30, optarg);
            break;
        case OPT_SHARD:
            if (llm_parse_shard(optarg, &o->shard_k, &o->shard_n) < 0)
                return llm_usage_error("--shard: expected K/N with 0 <= K < N, got '%s'", optarg);
            break;
        case OPT_SHUFFLE: o->shuffle = 1; break;
        case OPT_SHUFFLE_BUFFER:
            if (llm_parse_size(optarg, 1, 1u << 30, &o->shuffle_buffer) < 0)
                return llm_usage_error("--shuffle-buffer: expected 1 to %u blocks, got '%s'", 1u << 30, optarg);
            break;
        case OPT_SEED:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
                return llm_usage_error("--seed: expected a number, got '%s'", optarg);
            seed = 1;
            break;
        case OPT_TMP_DIR: o->tmp_dir = optarg; break;
        case OPT_MAX_DROP: status = llm_max_drop_option(optarg, &o->max_drop); break;
        case 'o': status = llm_output_option("output", optarg, &o->output); break;
        case 'f': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-pack (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        case 'l': status = llm_level_option(optarg, &o->level); break;
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
    }
    if ((status = llm_input_args(argv + optind, argc - optind, &o->inputs, &o->n_inputs)) >= 0)
        return status;
    return check_args(o, concat_only, fit_only, seed, remainder);
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-pack");
    pack_opts o = {.packer = {.mode = LLM_PACK_CONCAT, .block_size = 1024}, .pad_id = -1, .shard_n = 1, .max_drop = -1};
    o.threads = llm_default_threads();
    /* getopt_long permutes argv; the provenance keeps the command as it was typed. */
    char **typed = llm_provenance_argv(argc, argv, &o.argc);
    if (!typed)
        return LLM_EXIT_FAILURE;
    o.argv = typed;
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = pack_run(&o);
    free(typed);
    return status;
}
