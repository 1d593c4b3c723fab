/* The program side of every tool: messages prefixed with the program's name, checked
 * number parsing, atomic output files and the progress line on a terminal. Unlike the rest
 * of the library these print to stderr; none of them exits, main decides that. */
#ifndef LLM_CLI_H
#define LLM_CLI_H

#include "common.h"

#include <stdio.h>

enum { LLM_EXIT_OK = 0, LLM_EXIT_FAILURE = 1, LLM_EXIT_USAGE = 2 };

/* Names the program for messages and installs the handlers that remove temporary output
 * files on SIGINT, SIGTERM and SIGHUP. Call first in main. */
void llm_cli_init(const char *program);
const char *llm_cli_program(void);

/* "llm-xxx: message\n" on stderr. */
void llm_msg(const char *fmt, ...) LLM_PRINTF(1, 2);
/* A usage error: the message, a hint to --help, and LLM_EXIT_USAGE to return from main. */
int llm_usage_error(const char *fmt, ...) LLM_PRINTF(1, 2);
/* The usage error for an option getopt_long refused (its '?'), naming the option as
 * typed: -Z of a group such as -Zq too, before which optind still points. */
int llm_bad_option_error(int argc, char **argv);

/* Range-checked parsers for option values: 0, or -1 when s is not entirely a number in
 * [min, max] (decimal; k/M/G suffixes for llm_parse_size: powers of 1024). */
int llm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int llm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int llm_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A finite decimal or exponent number in [min, max] ("3e-4", "0.1"). */
int llm_parse_double(const char *s, double min, double max, double *out);
/* The index of arg in names[0..n), or -1. */
int llm_parse_choice(const char *arg, const char *const names[], int n);
/* A --option=CHOICE: -1 (go on) with *out the index of arg in names[0..n), or a usage
 * error naming the choices, as an exit status. */
int llm_choice_option(const char *option, const char *arg, const char *const names[], int n, int *out);
/* The input files of a command line (args[0..n)): "-" alone when none is named, and "-"
 * at most once. -1 to go on, or a usage error as an exit status. */
int llm_input_args(char **args, int n, char ***inputs, int *n_inputs);
/* Flushes and closes stdout after --help or --version, where a full disk or a closed
 * pipe is an error too. Returns the exit status. */
int llm_flush_stdout(void);
/* The command line for a stream's provenance, as typed (call before getopt permutes argv),
 * less the options that do not change the stream's bytes (-j, -o, -q, -f and their long
 * forms): a new NULL-terminated array of argv's strings (free it), its count in *n; NULL
 * after a message when out of memory. */
char **llm_provenance_argv(int argc, char **argv, int *n);
/* -l/--level N (zstd, 1 to 22) and -j/--threads N (1 to 1024) checked into *out: -1 to go
 * on, or a usage error as an exit status, as llm_choice_option returns. */
int llm_level_option(const char *arg, int *out);
int llm_threads_option(const char *arg, unsigned *out);
/* --max-drop PCT (0 to 100) the same way. */
int llm_max_drop_option(const char *arg, double *out);
/* -o/--output FILE and the other options naming a file to write (--rejects, --ledger):
 * -1 to go on with *out = arg, or a usage error as an exit status when the name is empty,
 * which would otherwise be found only when the file is written, after all the work. */
int llm_output_option(const char *option, const char *arg, const char **out);
/* Checks that a program's output files stay apart, before any work (a clash would show
 * only when they are written): paths[0] is its output (NULL or "-": standard output, which
 * holds `stdout_has`), the others its extra files (names[i]: the options, NULL paths not
 * given). None may name another's file, nor standard output while the output is there:
 * two writers on one file interleave, and the first closed cuts the other off. Nor may an
 * extra file name one of the inputs: only the output replaces an input, renamed into place
 * once all is read (as sort -o does). -1 to go on, or a usage error's exit status. */
int llm_outputs_apart(const char *const names[], const char *const paths[], int n, const char *stdout_has,
                      char *const inputs[], int n_inputs);
/* The default of -j: every online core. */
unsigned llm_default_threads(void);
/* The inputs' total size when every one is a regular file, else 0 (unknown): for the
 * progress line's ETA. */
uint64_t llm_inputs_size(char *const *inputs, int n);
/* "K/N" with 0 <= K < N: this process takes the records whose number modulo N is K. */
int llm_parse_shard(const char *s, uint64_t *k, uint64_t *n);

/* An output: standard output, or a temporary file beside PATH renamed onto it by
 * llm_output_commit, so a failed or killed run never leaves a half-written file there. */
typedef struct llm_output {
    int fd;
    FILE *fp;          /* set by llm_output_file for text output */
    char *path;        /* NULL for standard output */
    char *tmp;
} llm_output;

/* Opens path ("-" or NULL: stdout). A binary output refuses a terminal unless force.
 * Returns 0, or -1 with err set. */
int llm_output_open(llm_output *o, const char *path, int binary, int force, llm_error *err);
/* A buffered FILE over the output's fd, for text; NULL when out of memory. */
FILE *llm_output_file(llm_output *o);
/* Flushes and closes, checking for write errors (a full disk, a closed pipe), then renames
 * the temporary file into place. Returns 0, or -1 with err set and the temporary removed. */
int llm_output_commit(llm_output *o, llm_error *err);
/* Removes the temporary file; NULL-safe and safe after commit. */
void llm_output_abort(llm_output *o);
/* The name to use in messages: the path, or "(stdout)". */
const char *llm_output_name(const llm_output *o);

/* A progress line, redrawn at most a few times a second, shown only when stderr is a
 * terminal and not quiet: records, bytes, MB/s and, when the total is known, the ETA. */
typedef struct llm_progress {
    int enabled, drawn;
    double start, last;
    uint64_t total_bytes;    /* 0 when unknown */
    unsigned calls;
} llm_progress;

void llm_progress_start(llm_progress *p, int quiet, uint64_t total_bytes);
void llm_progress_update(llm_progress *p, uint64_t records, uint64_t bytes);
void llm_progress_end(llm_progress *p);    /* clears the line */

#endif
