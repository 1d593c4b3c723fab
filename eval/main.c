/* llm-eval: a language model's loss, perplexity and next-token accuracy over a blocks stream,
 * or text generated from prompts. Options here; the evaluation in score.c, generation in
 * generate.c, the model's folder in load.c. */
#include "cli.h"
#include "eval.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: llm-eval --model=DIR --data=FILE [OPTION]...\n"
    "  or:  llm-eval --model=DIR --generate --prompt=TEXT|--prompts=FILE [OPTION]...\n"
    "Evaluate a language model on a blocks stream (from llm-pack or llm-collate): one JSON\n"
    "object with the mean cross-entropy (loss), perplexity = exp(loss) and next-token\n"
    "accuracy over the positions whose label is not masked, and the loss as Trainer's\n"
    "evaluate() reports it (eval_loss). Or, with --generate, continue prompts with the\n"
    "model.\n"
    "\n"
    "Model:\n"
    "  -m, --model=DIR         a checkpoint folder (llm-train's, or a Hugging Face GPT-2 one\n"
    "                          with config.json and model.safetensors), or a run folder: its\n"
    "                          latest checkpoint\n"
    "\n"
    "Evaluation:\n"
    "  -d, --data=FILE         a blocks stream file (not a pipe); its tokenizer must be the\n"
    "                          model's\n"
    "  -b, --batch-size=N      records a batch, Trainer's per_device_eval_batch_size\n"
    "                          (default 8): eval_loss is the mean of the batches' losses;\n"
    "                          a forward pass takes a batch: memory grows with N\n"
    "      --doc-attention=WHEN  auto (default) or on: in a record that records where its\n"
    "                          documents start, attention stays inside each document and\n"
    "                          positions restart there; off: every record is one sequence\n"
    "                          Records longer than the model's context are cut to it, counted.\n"
    "      --label-smoothing=F the loss as Trainer's evaluate() reports it with\n"
    "                          label_smoothing_factor F: (1-F) x the cross-entropy + F x\n"
    "                          the mean -log p over the vocabulary (default 0)\n"
    "\n"
    "Generation:\n"
    "  -g, --generate          generate text instead of evaluating\n"
    "  -p, --prompt=TEXT       a prompt, taken as it is (the text of special tokens becomes\n"
    "                          them); repeat for more; each continuation on one line\n"
    "      --prompts=FILE      prompts from JSONL, {\"prompt\": TEXT} a line (- for standard\n"
    "                          input); writes JSONL: each record with \"completion\" added\n"
    "      --tokenizer=NAME|PATH  the model's tokenizer (default: the one its config.json\n"
    "                          names, else the folder's tokenizer.json, else GPT-2's)\n"
    "  -n, --max-new-tokens=N  tokens to generate at most (default 128); generation stops\n"
    "                          earlier at the end-of-text token or an end-of-turn token\n"
    "                          (<|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>)\n"
    "      --temperature=T     sample, the logits divided by T (0 to 1e6; default 0: greedy;\n"
    "                          1 when --top-k or --top-p is given)\n"
    "      --top-k=K           sample from the K most likely tokens only (1: greedy)\n"
    "      --top-p=P           sample from the fewest most likely tokens whose probability\n"
    "                          adds up to P (0 < P <= 1)\n"
    "      --seed=S            the sampling's seed (default 0): the same seed, the same text\n"
    "\n"
    "      --device=WHERE      auto (default: the GPU when one is usable, else the CPU, said\n"
    "                          on stderr), cpu or cuda: where the model runs (bf16 on the\n"
    "                          GPU), to evaluate or to generate\n"
    "  -o, --output=FILE       write FILE (atomically: a temporary renamed at the end)\n"
    "  -j, --threads=N         threads of the model (default: all cores)\n"
    "  -q, --quiet             no progress line or summary\n"
    "  -h, --help              print this help and exit\n"
    "      --version           print the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad model, data or I/O error, 2 usage error. See llm-eval(1).\n";

enum { OPT_DOC_ATTENTION = 256, OPT_LABEL_SMOOTHING, OPT_PROMPTS, OPT_TOKENIZER, OPT_TEMPERATURE, OPT_TOP_K,
       OPT_TOP_P, OPT_SEED, OPT_DEVICE, OPT_VERSION };

static const struct option long_options[] = {
    {"model", required_argument, NULL, 'm'},
    {"data", required_argument, NULL, 'd'},
    {"batch-size", required_argument, NULL, 'b'},
    {"doc-attention", required_argument, NULL, OPT_DOC_ATTENTION},
    {"label-smoothing", required_argument, NULL, OPT_LABEL_SMOOTHING},
    {"generate", no_argument, NULL, 'g'},
    {"prompt", required_argument, NULL, 'p'},
    {"prompts", required_argument, NULL, OPT_PROMPTS},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
    {"max-new-tokens", required_argument, NULL, 'n'},
    {"temperature", required_argument, NULL, OPT_TEMPERATURE},
    {"top-k", required_argument, NULL, OPT_TOP_K},
    {"top-p", required_argument, NULL, OPT_TOP_P},
    {"seed", required_argument, NULL, OPT_SEED},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"output", required_argument, NULL, 'o'},
    {"threads", required_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* A finite number in [lo, hi] (lo_open: above lo). 0, or -1. */
static int parse_real(const char *s, double lo, int lo_open, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The checks between options, once all are read. -1 to go on, else a usage error. */
static int check_args(const ev_opts *o, int sampling_seen, int scoring_seen, int seed_seen)
{
    if (!o->model)
        return llm_usage_error("no model: give --model DIR");
    if (o->generate) {
        if (o->data)
            return llm_usage_error("--data evaluates and --generate generates: choose one");
        /* generation takes one prompt at a time, as one sequence: these would do nothing */
        if (scoring_seen)
            return llm_usage_error("--batch-size, --doc-attention and --label-smoothing go with --data, not "
                                   "--generate");
        if (!o->n_prompts && !o->prompts_file)
            return llm_usage_error("--generate: give --prompt TEXT or --prompts FILE");
        if (o->n_prompts && o->prompts_file)
            return llm_usage_error("--prompt and --prompts: choose one");
        /* a note, not an error: one command line may sweep --temperature down to 0 */
        if (seed_seen && llm_sample_is_greedy(&o->sample) && !o->quiet)
            llm_msg("note: --seed changes nothing here: decoding is greedy (--temperature 0 or --top-k 1)");
        return -1;
    }
    if (o->n_prompts || o->prompts_file || o->tokenizer || sampling_seen)
        return llm_usage_error("--prompt, --prompts, --tokenizer, --max-new-tokens and the sampling "
                               "options go with --generate");
    if (!o->data)
        return llm_usage_error("no data: give --data FILE (or --generate)");
    return -1;
}

/* Parses argv into o. Returns -1 to go on, else the exit status to return at once. */
static int parse_args(ev_opts *o, int argc, char **argv)
{
    static const char *const doc_names[] = {"auto", "on", "off"};
    static const char *const device_names[] = {"auto", "cpu", "cuda"};    /* llm_device's order */
    uint64_t v;
    int c, k, status, sampling_seen = 0, temperature_seen = 0, warp_seen = 0, scoring_seen = 0, seed_seen = 0;
    /* LLM_DEVICE is --device's default (the CPU tests pin it to cpu); the option wins */
    const char *env_device = getenv("LLM_DEVICE");
    if (env_device && *env_device) {
        if ((status = llm_choice_option("device (LLM_DEVICE)", env_device, device_names, 3, &k)) >= 0)
            return status;
        o->device = (llm_device)k;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:d:b:gp:n:o:j:qh", long_options, NULL)) != -1) {
        status = -1;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'd': o->data = optarg; break;
        case 'b':
            if (llm_parse_u64(optarg, 1, 65536, &v) < 0)
                return llm_usage_error("--batch-size: expected 1 to 65536 records, got '%s'", optarg);
            o->batch_size = (int)v;
            scoring_seen = 1;
            break;
        case OPT_DOC_ATTENTION:
            status = llm_choice_option("doc-attention", optarg, doc_names, 3, &k);
            o->doc_attention = (ev_doc_attention)k;
            scoring_seen = 1;
            break;
        case OPT_LABEL_SMOOTHING:
            if (parse_real(optarg, 0, 0, 0.999, &o->label_smoothing) < 0)
                return llm_usage_error("--label-smoothing: expected a number from 0 to 0.999, got '%s'", optarg);
            scoring_seen = 1;
            break;
        case 'g': o->generate = 1; break;
        case 'p': o->prompts[o->n_prompts++] = optarg; break;
        case OPT_PROMPTS: o->prompts_file = optarg; break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case 'n':
            if (llm_parse_u64(optarg, 0, 1u << 24, &v) < 0)
                return llm_usage_error("--max-new-tokens: expected 0 to %u, got '%s'", 1u << 24, optarg);
            o->max_new_tokens = (int)v;
            sampling_seen = 1;
            break;
        case OPT_TEMPERATURE:
            if (parse_real(optarg, 0, 0, 1e6, &o->sample.temperature) < 0)
                return llm_usage_error("--temperature: expected a number from 0 to 1e6, got '%s'", optarg);
            sampling_seen = temperature_seen = 1;
            break;
        case OPT_TOP_K:
            if (llm_parse_u64(optarg, 1, INT32_MAX, &v) < 0)
                return llm_usage_error("--top-k: expected a count of tokens, 1 or more, got '%s'", optarg);
            o->sample.top_k = (int)v;
            sampling_seen = warp_seen = 1;
            break;
        case OPT_TOP_P:
            if (parse_real(optarg, 0, 1, 1, &o->sample.top_p) < 0)
                return llm_usage_error("--top-p: expected a number above 0, at most 1, got '%s'", optarg);
            sampling_seen = warp_seen = 1;
            break;
        case OPT_SEED:
            if (llm_parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
                return llm_usage_error("--seed: expected a number, got '%s'", optarg);
            sampling_seen = seed_seen = 1;
            break;
        case OPT_DEVICE:
            status = llm_choice_option("device", optarg, device_names, 3, &k);
            o->device = (llm_device)k;
            break;
        case 'o': status = llm_output_option("output", optarg, &o->output); break;
        case 'j': status = llm_threads_option(optarg, &o->threads); break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return llm_flush_stdout();
        case OPT_VERSION: puts("llm-eval (llm-tools) " LLM_VERSION); return llm_flush_stdout();
        default: return llm_bad_option_error(argc, argv);
        }
        if (status >= 0)
            return status;
    }
    if (optind < argc)
        return llm_usage_error("unexpected argument '%s' (the data is --data FILE)", argv[optind]);
    /* --top-k or --top-p without --temperature sample at temperature 1, as generate's
     * do_sample does; --temperature 0 stays greedy. */
    if (warp_seen && !temperature_seen)
        o->sample.temperature = 1;
    return check_args(o, sampling_seen, scoring_seen, seed_seen);
}

int main(int argc, char **argv)
{
    llm_cli_init("llm-eval");
    ev_opts o = {.batch_size = 8, .max_new_tokens = 128, .sample = {0, 0, 1.0}};
    o.threads = llm_default_threads();
    /* At most one --prompt per argument. */
    o.prompts = malloc((size_t)argc * sizeof *o.prompts);
    if (!o.prompts) {
        llm_msg("out of memory");
        return LLM_EXIT_FAILURE;
    }
    int status = parse_args(&o, argc, argv);
    if (status < 0)
        status = o.generate ? ev_run_generate(&o) : ev_run_score(&o);
    free(o.prompts);
    return status;
}
