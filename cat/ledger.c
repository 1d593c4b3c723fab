/* llm-cat --ledger: the history of the inputs, summed stage by stage, as a table or JSON. */
#include "cat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* Adds one input's ledger to l; *unaccounted gets its streams that carry none. */
static int add_input(const char *name, llm_ledger *l, uint64_t *unaccounted)
{
    int fd = strcmp(name, "-") == 0 ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        llm_msg("%s: %s", name, strerror(errno));
        return -1;
    }
    llm_ledger one;
    llm_ledger_init(&one);
    llm_error e;
    uint64_t missing = 0;
    int rc = llm_stream_ledger(fd, name, &one, &missing, &e);
    if (rc < 0)
        llm_msg("%s", e.msg);
    else if (llm_ledger_merge(l, &one) < 0)
        rc = -1, llm_msg("out of memory");
    *unaccounted += missing;
    llm_ledger_free(&one);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

int cat_print_ledger(const cat_opts *o)
{
    llm_ledger l;
    llm_ledger_init(&l);
    uint64_t unaccounted = 0;
    int status = LLM_EXIT_OK;
    for (int i = 0; i < o->n_inputs && status == LLM_EXIT_OK; i++)
        if (add_input(o->inputs[i], &l, &unaccounted) < 0)
            status = LLM_EXIT_FAILURE;
    llm_output out;
    llm_error e = {{0}};
    if (status == LLM_EXIT_OK && llm_output_open(&out, o->output, 0, 1, &e) == 0) {
        FILE *fp = llm_output_file(&out);
        if (fp && o->json) {
            llm_buf b;
            llm_buf_init(&b);
            llm_ledger_to_json(&l, &b);
            llm_buf_putc(&b, '\n');
            if (!llm_buf_failed(&b))
                fwrite(b.data, 1, b.len, fp);
            llm_buf_free(&b);
        } else if (fp) {
            llm_ledger_print_table(&l, fp);
        }
        if (llm_output_commit(&out, &e) < 0)
            status = LLM_EXIT_FAILURE;
    } else if (status == LLM_EXIT_OK) {
        status = LLM_EXIT_FAILURE;
    }
    if (status == LLM_EXIT_FAILURE && e.msg[0])
        llm_msg("%s", e.msg);
    if (status == LLM_EXIT_OK && unaccounted && !o->quiet)
        llm_msg("note: %" PRIu64 " of the streams read carry no ledger (written before ledgers, or by other "
                "tools): their records are not in it", unaccounted);
    llm_ledger_free(&l);
    return status;
}
