/* Checkpoints of llm-train: Hugging Face model folders (config.json + model.safetensors) with
 * the training state beside them, so that transformers loads what llm-train writes and
 * --resume continues a run bit for bit; and the run folder that holds them.
 *
 * On disk:
 *
 *   RUN/                          --out RUN
 *     log.jsonl                   one JSON line per step and per evaluation (trainlog.h)
 *     loss.svg                    the loss curves, rewritten at each evaluation
 *     latest                      "checkpoint-<step>\n": the checkpoint --resume RUN takes
 *     best -> checkpoint-<step>   a symbolic link to the checkpoint of the lowest validation
 *                                 loss (state.best_step); --keep never removes it
 *     checkpoint-<step>/          HF Trainer's naming; --keep N leaves the newest N
 *       config.json               GPT2Config fields (GPT2LMHeadModel.from_pretrained reads
 *                                 it), plus "llm_tools": {tokenizer name and hash, the
 *                                 stream's special ids}
 *       model.safetensors         F32 parameters under their HF names ("transformer.h.0...");
 *                                 no "lm_head.weight": the head is tied to wte, as
 *                                 save_pretrained writes GPT-2
 *       optimizer.safetensors     AdamW moments, F32: "m.<name>" and "v.<name>" per parameter
 *       trainer_state.json        step, epoch, tokens seen, best validation loss, the
 *                                 schedule and optimizer settings, the trainer's opaque
 *                                 words (RNG state, data cursor) as hex strings, the command
 *                                 line
 *     checkpoint-<step>.tmp-XXXXXX/   a checkpoint being written (removed by the next save)
 *
 * A checkpoint is written whole into checkpoint-<step>.tmp-XXXXXX, every file and the folder
 * fsynced, then renamed into place (exchanged with an existing one of the same name, which is
 * then removed), then "latest" is replaced (temporary file + rename), then old checkpoints are
 * pruned. A run killed at any point leaves "latest" naming a complete checkpoint, and a
 * missing or stale "latest" falls back to the highest complete checkpoint-<step>.
 *
 * Every float goes to disk as F32 and comes back bit-exact; doubles are written with as many
 * digits as it takes to read the same double back; 64-bit words as hex strings. */
#ifndef LLM_CHECKPOINT_H
#define LLM_CHECKPOINT_H

#include "adamw.h"
#include "buf.h"
#include "common.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- config.json ------------------------------------------------------------------------ */

/* The model config fields llm-tools uses. Token ids are -1 when absent. */
typedef struct llm_hf_config {
    char family[16];              /* "gpt2" (HF model_type); "qwen2" and "llama" later */
    int n_layer, n_head, n_embd;
    int n_positions;              /* the context length */
    int vocab_size;
    double layer_norm_eps;
    int64_t bos_id, eos_id, pad_id;
    char tokenizer_name[64];      /* the stream header's, "" when unknown */
    char tokenizer_hash[96];
} llm_hf_config;

/* GPT-2 small's values (GPT2Config's defaults), no tokenizer, no special ids. */
void llm_hf_config_init(llm_hf_config *c);
/* Appends config.json's text for c. */
void llm_hf_config_to_json(const llm_hf_config *c, llm_buf *out);
/* Reads config.json's text: model_type must be one this build implements ("gpt2") with its
 * standard math (activation gelu_new, n_inner null or 4 * n_embd, tied embeddings); fields
 * left out take GPT2Config's defaults. Returns 0, or -1 with err saying which field is wrong
 * (without a file name: the caller adds it). */
int llm_hf_config_from_json(llm_hf_config *c, const char *text, size_t len, llm_error *err);
/* Checks sizes: all positive, n_embd divisible by n_head, special ids below vocab_size. */
int llm_hf_config_validate(const llm_hf_config *c, llm_error *err);

/* ---- trainer_state.json ----------------------------------------------------------------- */

#define LLM_STATE_SLOTS 8
#define LLM_STATE_WORDS 272    /* greedy: 9 and a window of up to 256 */

/* Named 64-bit words the trainer keeps opaque to us: "rng" (an llm_rng's four words), "data"
 * (a sample cursor, a shuffle seed)... */
typedef struct llm_state_words {
    char name[32];
    int n;
    uint64_t w[LLM_STATE_WORDS];
} llm_state_words;

/* Where a run stands and what it was started with. */
typedef struct llm_train_state {
    uint64_t step;                /* optimizer steps done */
    uint64_t tokens_seen;
    double epoch;                 /* fractional, as HF logs it */
    double best_val_loss;         /* INFINITY before the first evaluation */
    /* The saved checkpoint with the lowest validation loss (of an evaluation at its own
     * step), as Trainer's best_model_checkpoint: 0 and INFINITY while there is none. */
    uint64_t best_step;
    double best_step_val_loss;
    /* The schedule and optimizer settings, so --resume can refuse ones that differ. */
    llm_lr_schedule sched;
    double beta1, beta2, eps, weight_decay, grad_clip;
    double label_smoothing;       /* Trainer's label_smoothing_factor */
    double neftune_alpha;         /* Trainer's neftune_noise_alpha */
    uint64_t seed;
    int n_slots;
    llm_state_words slots[LLM_STATE_SLOTS];
    int argc;                     /* the command line: borrowed when saving, owned after */
    char **argv;                  /* llm_train_state_read (llm_train_state_free) */
} llm_train_state;

/* Zeroes s (the best losses INFINITY, no slots, no command line). */
void llm_train_state_init(llm_train_state *s);
/* Frees a command line that llm_train_state_from_json allocated; s stays readable. */
void llm_train_state_free(llm_train_state *s);
/* Sets the slot name to w[0..n) (replacing one of that name). -1 when the name is too long,
 * n is over LLM_STATE_WORDS or every slot is taken. */
int llm_train_state_put(llm_train_state *s, const char *name, const uint64_t *w, int n);
/* Copies the slot name into w when it holds exactly n words: 0, else -1. */
int llm_train_state_get(const llm_train_state *s, const char *name, uint64_t *w, int n);
/* The words the slot name holds, or -1 when there is none. */
int llm_train_state_words(const llm_train_state *s, const char *name);

void llm_train_state_to_json(const llm_train_state *s, llm_buf *out);
/* Reads the text into s (initialised here; free with llm_train_state_free). */
int llm_train_state_from_json(llm_train_state *s, const char *text, size_t len, llm_error *err);

/* ---- a checkpoint folder ---------------------------------------------------------------- */

/* What a checkpoint holds; every pointer is borrowed. params, m and v are the model's one
 * float buffer and the AdamW moments laid out alike, described by tensors[0..n_tensors). */
typedef struct llm_checkpoint {
    const llm_hf_config *config;
    const llm_tensor_desc *tensors;
    int n_tensors;
    const float *params;
    const float *m, *v;             /* NULL, with state NULL: a model only, for export */
    const llm_train_state *state;
    const char *ledger;             /* JSON written as ledger.json (the data's history); NULL: none */
} llm_checkpoint;

/* Writes the folder dir atomically (see the top of this file): dir is either what it was
 * or the whole new checkpoint. Returns 0, or -1 with err set ("PATH: reason"). */
int llm_checkpoint_save(const char *dir, const llm_checkpoint *c, llm_error *err);

/* Reads dir/config.json. */
int llm_checkpoint_read_config(const char *dir, llm_hf_config *c, llm_error *err);
/* Fills params from dir/model.safetensors by the model's tensor list, taking HF names with or
 * without "transformer." (see llm_safetensors_load): a checkpoint of ours or one from the
 * Hugging Face hub. A missing, corrupt or mismatched file is refused with its name and why. */
int llm_checkpoint_load_model(const char *dir, const llm_tensor_desc *tensors, int n, float *params,
                              llm_error *err);
/* For --resume: fills m and v from dir/optimizer.safetensors and s from
 * dir/trainer_state.json (free with llm_train_state_free). */
int llm_checkpoint_load_train(const char *dir, const llm_tensor_desc *tensors, int n, float *m, float *v,
                              llm_train_state *s, llm_error *err);

/* A test hook: called with the name of each stage of a save ("config", "model", "optimizer",
 * "state", "written", "exchanged", "moved", "renamed", "latest") once it is done, so a test
 * can end the process there and check what a crash leaves. NULL (the default) for none. */
void llm_checkpoint_set_fault_hook(void (*hook)(const char *stage));

/* ---- the run folder --------------------------------------------------------------------- */

/* "RUN/checkpoint-STEP" (malloc'd; NULL when out of memory). */
char *llm_run_checkpoint_dir(const char *run, uint64_t step);
/* Saves c as RUN/checkpoint-<c->state->step> (creating RUN if needed), points RUN/latest at
 * it (and RUN/best, when its state names this step best_step), then prunes to the newest
 * keep checkpoints (keep 0: all). When saved is not NULL it gets the checkpoint's path
 * (malloc'd). Returns 0, or -1 with err set. */
int llm_run_save(const char *run, const llm_checkpoint *c, int keep, char **saved, llm_error *err);
/* The checkpoint to resume from, as a malloc'd path in *dir: path itself when it is a
 * checkpoint folder (holds config.json), else the one path/latest names, else the highest
 * complete path/checkpoint-<step>. Returns 0, 1 when path holds no checkpoint (a fresh
 * run), or -1 with err set. */
int llm_run_latest(const char *path, char **dir, llm_error *err);
/* Removes all but the newest keep checkpoints of RUN (never the ones "latest" and "best"
 * name) and the leftovers of interrupted saves. Returns 0, or -1 with err set. */
int llm_run_prune(const char *run, int keep, llm_error *err);

/* Reads a whole small file (at most 128 MiB) into a malloc'd, NUL-terminated buffer; *len
 * gets its size. NULL with err set (err may be NULL). */
char *llm_read_file(const char *path, size_t *len, llm_error *err);
/* Writes a small file whole, atomically and durably: a temporary file beside path, fsynced,
 * renamed onto it. Returns 0, or -1 with err set. */
int llm_write_file_durable(const char *path, const void *data, size_t len, llm_error *err);

#ifdef __cplusplus
}
#endif
#endif
