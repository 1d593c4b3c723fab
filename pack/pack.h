/* llm-pack's internals: the options (main.c parses them), the shuffle of finished blocks
 * (shuffle.c) and the driver that reads documents, splits off validation, packs and
 * writes (run.c). The packing itself is lib/packer.c, shared with llm-collate. */
#ifndef LLM_PACK_H
#define LLM_PACK_H

#include "packer.h"
#include "rng.h"

typedef struct pack_opts {
    llm_packer_opts packer;     /* mode, block size, remainder, group, long, window */
    int64_t pad_id;             /* --pad-id; -1: the stream's pad, else its eos */
    const char *val;            /* --val FILE */
    double val_fraction;        /* --val-fraction; 0: none */
    uint64_t val_docs;          /* --val-docs; 0: none */
    int shuffle;                /* --shuffle */
    uint64_t shuffle_buffer;    /* --shuffle-buffer N; 0: a full shuffle */
    uint64_t seed;
    const char *tmp_dir;        /* the full shuffle's temporary file goes here */
    uint64_t shard_k, shard_n;
    int force, quiet;
    double max_drop;            /* --max-drop percentage; -1: no limit */
    int level;                  /* zstd level; 0: the stream's default */
    unsigned threads;           /* compression threads */
    const char *output;
    char **inputs;
    int n_inputs;
    int argc;                   /* the command line as typed, for the provenance */
    char **argv;
} pack_opts;

/* ---- shuffle.c: blocks on their way to the writer, in a random order ---- */

typedef struct pack_shuffle pack_shuffle;

/* With buffer_blocks 0, a full shuffle: every block goes to an unlinked temporary file in
 * tmp_dir (NULL: $TMPDIR, else /tmp) and they come out in a random permutation at the end;
 * else a buffer of that many blocks in memory, each new block taking the place of one
 * drawn at random, which goes out. name (kept, not copied) names w's output in its
 * errors. NULL with err set. */
pack_shuffle *pack_shuffle_new(llm_writer *w, const char *name, int token_bytes, uint64_t buffer_blocks,
                               uint64_t seed, const char *tmp_dir, llm_error *err);
/* Takes one block. 0, or -1 with err set. */
int pack_shuffle_put(pack_shuffle *s, const llm_record *block, llm_error *err);
/* Writes out every block still held. 0, or -1 with err set. */
int pack_shuffle_finish(pack_shuffle *s, llm_error *err);
void pack_shuffle_free(pack_shuffle *s);    /* NULL-safe */
uint64_t pack_shuffle_spilled_bytes(const pack_shuffle *s);

/* ---- run.c ---- */

/* Reads every input, writes the stream(s), prints the summary. Returns the exit status. */
int pack_run(const pack_opts *o);

#endif
