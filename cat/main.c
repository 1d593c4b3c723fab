/* llm-cat: concatenate, inspect and convert llm-stream files. Options here; the work in
 * source.c (reading), write.c (formats), stats.c and import.c. */
#include "cat.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: llm-cat [OPTION]... [FILE]...\n"
    "Concatenate llm-stream FILEs into one stream on standard output, or inspect and convert\n"
    "them. With no FILE, or when FILE is -, read standard input.\n"
    "\n"
    "Output:\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "      --to=FORMAT         stream (default); ids: JSONL {\"input_ids\",\"labels\"} with -100\n"
    "                          for masked tokens; raw: little-endian token array; npy: NumPy\n"
    "                          array, (records, block_size) when every record is one block\n"
    "      --header            print each input's header as a line of JSON\n"
    "      --ledger            print the inputs' ledger: each stage's records and tokens in\n"
    "                          and out, dropped by reason, split off and written (summed\n"
    "                          stage by stage over the inputs)\n"
    "      --stats             print records, tokens, masked share and the length distribution\n"
    "      --json              with --stats or --ledger: print JSON\n"
    "      --decode[=FORMAT]   the records as text, with the stream's tokenizer (found by its\n"
    "                          name, or the built-in GPT-2 when the hash is its): jsonl\n"
    "                          (default: {\"text\": ...} a record), text (each record's text\n"
    "                          and a newline) or raw (the texts back to back); a document's\n"
    "                          BOS and final EOS are left out\n"
    "      --tokenizer=NAME|PATH  with --decode: decode with this tokenizer, which must have\n"
    "                          the stream's tokenizer hash\n"
    "  -l, --level=N           zstd level of an output stream (default 3)\n"
    "      --frame-size=SIZE   decompressed bytes per frame (default 1M; k, M, G suffixes)\n"
    "  -f, --force             write a binary stream even to a terminal\n"
    "\n"
    "Selection, applied in this order:\n"
    "      --shard=K/N         keep the records whose number modulo N is K (0 <= K < N)\n"
    "      --skip=N            leave out the first N records\n"
    "      --head=N            stop after N records\n"
    "\n"
    "Import (data tokenized elsewhere):\n"
    "      --from=FORMAT       stream (default); ids: JSONL as --to=ids writes (\"labels\" and\n"
    "                          \"doc_starts\" optional); raw: little-endian token array\n"
    "      --vocab-size=N      vocabulary size (required with --from)\n"
    "      --kind=KIND         docs (default) or blocks\n"
    "      --token-bytes=2|4   token width (default: 2 when the vocabulary fits)\n"
    "      --tokenizer=NAME    tokenizer name to record in the header\n"
    "      --tokenizer-hash=H  hash of the tokenizer's definition to record\n"
    "      --eos=ID, --pad=ID, --bos=ID   special token ids\n"
    "      --block-size=N      records' fixed length (raw input is cut into blocks of N)\n"
    "      --on-error=WHAT     fail (default) or skip malformed input lines, counted\n"
    "\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "Raw input is cut after each --eos (docs) or every --block-size tokens (blocks).\n"
    "A summary line on standard error accounts for every record read.\n"
    "Exit status: 0 ok, 1 bad input or I/O error, 2 usage error. See llm-cat(1), llm-stream(5).\n";

enum {
    OPT_TO = 256, OPT_FROM, OPT_HEADER, OPT_STATS, OPT_JSON, OPT_FRAME_SIZE, OPT_SHARD, OPT_SKIP, OPT_HEAD,
    OPT_VOCAB, OPT_KIND, OPT_TOKEN_BYTES, OPT_TOKENIZER, OPT_TOKENIZER_HASH, OPT_EOS, OPT_PAD, OPT_BOS,
    OPT_BLOCK_SIZE, OPT_ON_ERROR, OPT_DECODE, OPT_LEDGER, OPT_VERSION
};

static const struct option long_options[] = {
    {"output", required_argument, NULL, 'o'},      {"to", required_argument, NULL, OPT_TO},
    {"from", required_argument, NULL, OPT_FROM},   {"header", no_argument, NULL, OPT_HEADER},
    {"stats", no_argument, NULL, OPT_STATS},       {"json", no_argument, NULL, OPT_JSON},
    {"level", required_argument, NULL, 'l'},       {"frame-size", required_argument, NULL, OPT_FRAME_SIZE},
    {"force", no_argument, NULL, 'f'},             {"shard", required_argument, NULL, OPT_SHARD},
    {"skip", required_argument, NULL, OPT_SKIP},   {"head", required_argument, NULL, OPT_HEAD},
    {"vocab-size", required_argument, NULL, OPT_VOCAB}, {"kind", required_argument, NULL, OPT_KIND},
    {"token-bytes", required_argument, NULL, OPT_TOKEN_BYTES},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
    {"tokenizer-hash", required_argument, NULL, OPT_TOKENIZER_HASH},
    {"eos", required_argument, NULL, OPT_EOS},     {"pad", required_argument, NULL, OPT_PAD},
    {"bos", required_argument, NULL, OPT_BOS},     {"block-size", required_argument, NULL, OPT_BLOCK_SIZE},
    {"on-error", required_argument, NULL, OPT_ON_ERROR}, {"decode", optional_argument, NULL, OPT_DECODE},
    {"quiet", no_argument, NULL, 'q'},             {"help", no_argument, NULL, 'h'},
    {"ledger", no_argument, NULL, OPT_LEDGER},
    {"version", no_argument, NULL, OPT_VERSION},   {NULL, 0, NULL, 0},
};

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(cat_opts *o, int argc, char **argv)
{
    static const char *const to_names[] = {"stream", "ids", "raw", "npy"};
    static const char *const from_names[] = {"stream", "ids", "raw"};
    uint64_t v;
    int64_t id;
    static const char *const decode_names[] = {"jsonl", "text", "raw"};
    int c, to_set = 0, token_bytes = 0, vocab_set = 0, header_set = 0, stats_set = 0, decode_set = 0, ledger_set = 0;
    const char *import_option = NULL;   /* an option that means something only with --from */
    const char *stream_option = NULL;   /* one that shapes an output stream only */
    const char *select_option = NULL;   /* one that selects records */
    opterr = 0;    /* our own message, with the program's name rather than argv[0] */
    int which = 0;
    while ((c = getopt_long(argc, argv, "o:l:fqh", long_options, &which)) != -1) {
        /* --tokenizer is also --decode's: checked after the loop. */
        if (c >= OPT_VOCAB && c <= OPT_ON_ERROR && c != OPT_TOKENIZER)
            import_option = long_options[which].name;
        switch (c) {
        case 'o': {
            int status = llm_output_option("output", optarg, &o->output);
            if (status >= 0)
                return status;
            break;
        }
        case 'f': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION:
            puts("llm-cat (llm-tools) " LLM_VERSION);
            return llm_flush_stdout();
        case 'l':
            if (llm_parse_u64(optarg, 1, 22, &v) < 0)
                return llm_usage_error("--level: expected 1 to 22, got '%s'", optarg);
            o->writer.level = (int)v;
            stream_option = "level";
            break;
        case OPT_FRAME_SIZE:
            if (llm_parse_size(optarg, 4096, LLM_FRAME_MAX_CONTENT, &v) < 0)
                return llm_usage_error("--frame-size: expected 4k to 256M, got '%s'", optarg);
            o->writer.frame_bytes = v;
            stream_option = "frame-size";
            break;
        case OPT_TO: {
            int k = llm_parse_choice(optarg, to_names, 4);
            if (k < 0)
                return llm_usage_error("--to: expected stream, ids, raw or npy, got '%s'", optarg);
            o->to = (cat_to)k;
            to_set = 1;
            break;
        }
        case OPT_FROM: {
            int k = llm_parse_choice(optarg, from_names, 3);
            if (k < 0)
                return llm_usage_error("--from: expected stream, ids or raw, got '%s'", optarg);
            o->from = (cat_from)k;
            break;
        }
        case OPT_HEADER: header_set = 1; break;
        case OPT_STATS: stats_set = 1; break;
        case OPT_LEDGER: ledger_set = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_SHARD:
            if (llm_parse_shard(optarg, &o->shard_k, &o->shard_n) < 0)
                return llm_usage_error("--shard: expected K/N with 0 <= K < N, got '%s'", optarg);
            select_option = "shard";
            break;
        case OPT_SKIP:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->skip) < 0)
                return llm_usage_error("--skip: expected a record count, got '%s'", optarg);
            select_option = "skip";
            break;
        case OPT_HEAD:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->head) < 0)
                return llm_usage_error("--head: expected a record count, got '%s'", optarg);
            o->has_head = 1;
            select_option = "head";
            break;
        case OPT_VOCAB:
            if (llm_parse_u64(optarg, 1, UINT32_MAX, &v) < 0)
                return llm_usage_error("--vocab-size: expected 1 to %u, got '%s'", UINT32_MAX, optarg);
            o->import.vocab_size = (uint32_t)v;
            vocab_set = 1;
            break;
        case OPT_KIND:
            if (llm_kind_parse(optarg, &o->import.kind) < 0)
                return llm_usage_error("--kind: expected docs or blocks, got '%s'", optarg);
            break;
        case OPT_TOKEN_BYTES:
            if (llm_parse_u64(optarg, 2, 4, &v) < 0 || v == 3)
                return llm_usage_error("--token-bytes: expected 2 or 4, got '%s'", optarg);
            token_bytes = (int)v;
            break;
        case OPT_DECODE: {
            int k = optarg ? llm_parse_choice(optarg, decode_names, 3) : CAT_DECODE_JSONL;
            if (k < 0)
                return llm_usage_error("--decode: expected jsonl, text or raw, got '%s'", optarg);
            o->decode = (cat_decode_format)k;
            decode_set = 1;
            break;
        }
        case OPT_TOKENIZER:
            o->tokenizer = optarg;
            /* fall through */
        case OPT_TOKENIZER_HASH:
            if (llm_header_set_tokenizer(&o->import, c == OPT_TOKENIZER ? optarg : o->import.tokenizer_name,
                                         c == OPT_TOKENIZER ? o->import.tokenizer_hash : optarg) < 0)
                return llm_msg("out of memory"), LLM_EXIT_FAILURE;
            break;
        case OPT_EOS:
        case OPT_PAD:
        case OPT_BOS:
            if (llm_parse_i64(optarg, 0, UINT32_MAX, &id) < 0)
                return llm_usage_error("--%s: expected a token id, got '%s'",
                                       c == OPT_EOS ? "eos" : c == OPT_PAD ? "pad" : "bos", optarg);
            *(c == OPT_EOS ? &o->import.eos_id : c == OPT_PAD ? &o->import.pad_id : &o->import.bos_id) = id;
            break;
        case OPT_BLOCK_SIZE:
            if (llm_parse_u64(optarg, 1, LLM_RECORD_MAX_TOKENS, &v) < 0)
                return llm_usage_error("--block-size: expected 1 to %u, got '%s'", (unsigned)LLM_RECORD_MAX_TOKENS,
                                       optarg);
            o->import.block_size = (uint32_t)v;
            break;
        case OPT_ON_ERROR:
            if (strcmp(optarg, "fail") && strcmp(optarg, "skip"))
                return llm_usage_error("--on-error: expected fail or skip, got '%s'", optarg);
            o->on_error_skip = strcmp(optarg, "skip") == 0;
            break;
        default:
            return llm_bad_option_error(argc, argv);
        }
    }
    int status = llm_input_args(argv + optind, argc - optind, &o->inputs, &o->n_inputs);
    if (status >= 0)
        return status;
    if (header_set + stats_set + to_set + decode_set + ledger_set > 1)
        return llm_usage_error("--header, --ledger, --stats, --decode and --to cannot be combined: choose one");
    if (header_set)
        o->to = CAT_TO_HEADER;
    if (ledger_set)
        o->to = CAT_TO_LEDGER;
    if (decode_set)
        o->to = CAT_TO_DECODE;
    if (o->tokenizer && o->from == CAT_FROM_STREAM && !decode_set)
        return llm_usage_error("--tokenizer goes with --decode, --from=ids or --from=raw");
    if (stats_set)
        o->to = CAT_TO_STATS;
    if (o->json && o->to != CAT_TO_STATS && o->to != CAT_TO_LEDGER)
        return llm_usage_error("--json goes with --stats or --ledger");
    /* Accepted and ignored, they would look as if they had done something. */
    static const char *const mode_names[] = {
        [CAT_TO_STREAM] = "--to=stream", [CAT_TO_IDS] = "--to=ids", [CAT_TO_RAW] = "--to=raw",
        [CAT_TO_NPY] = "--to=npy", [CAT_TO_HEADER] = "--header", [CAT_TO_STATS] = "--stats",
        [CAT_TO_DECODE] = "--decode", [CAT_TO_LEDGER] = "--ledger",
    };
    if (stream_option && o->to != CAT_TO_STREAM)
        return llm_usage_error("--%s goes with stream output, not with %s", stream_option, mode_names[o->to]);
    if (select_option && (o->to == CAT_TO_HEADER || o->to == CAT_TO_LEDGER))
        return llm_usage_error("--%s selects records; %s describes whole inputs", select_option, mode_names[o->to]);
    if (o->from == CAT_FROM_STREAM) {
        if (import_option)
            return llm_usage_error("--%s goes with --from=ids or --from=raw", import_option);
        return -1;
    }
    if (o->to == CAT_TO_HEADER || o->to == CAT_TO_LEDGER)
        return llm_usage_error("--%s reads streams, not --from input", header_set ? "header" : "ledger");
    if (!vocab_set)
        return llm_usage_error("--from=%s needs --vocab-size", from_names[o->from]);
    o->import.token_bytes = token_bytes ? token_bytes : llm_token_bytes_for_vocab(o->import.vocab_size);
    if (o->from == CAT_FROM_RAW && !(o->import.kind == LLM_KIND_BLOCKS ? o->import.block_size != 0
                                                                       : o->import.eos_id != LLM_NO_TOKEN))
        return llm_usage_error("--from=raw needs --eos (docs) or --kind=blocks with --block-size");
    llm_error e;
    if (llm_header_validate(&o->import, &e) < 0)
        return llm_usage_error("%s", e.msg);
    return -1;
}

int main(int argc, char **argv)
{
    cat_opts o;
    memset(&o, 0, sizeof o);
    llm_cli_init("llm-cat");
    o.writer.index = -1;
    o.shard_n = 1;
    /* getopt_long permutes argv; the provenance keeps the command as it was typed. */
    char **typed = malloc(((size_t)argc + 1) * sizeof *typed);
    if (!typed) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    memcpy(typed, argv, ((size_t)argc + 1) * sizeof *typed);
    o.argc = argc;
    o.argv = typed;
    if (llm_header_init(&o.import) < 0) {
        llm_msg("out of memory");
        free(typed);
        return LLM_EXIT_FAILURE;
    }
    int status = parse_args(&o, argc, argv);
    if (status < 0) {
        if (o.to == CAT_TO_HEADER) {
            status = cat_print_headers(&o);
        } else if (o.to == CAT_TO_LEDGER) {
            status = cat_print_ledger(&o);
        } else {
            cat_source *src = cat_source_open(&o);
            status = !src                     ? LLM_EXIT_FAILURE
                     : o.to == CAT_TO_STATS   ? cat_stats(&o, src)
                     : o.to == CAT_TO_DECODE  ? cat_decode(&o, src)
                                              : cat_write(&o, src);
            cat_source_free(src);
        }
    }
    llm_header_free(&o.import);
    free(typed);
    return status;
}
