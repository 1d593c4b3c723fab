/* The model of --model, for the evaluation and for generation. */
#include "cli.h"
#include "eval.h"

#include <stdlib.h>

llm_model *ev_load_model(const ev_opts *o, llm_hf_config *hf, char **dir)
{
    llm_error err;
    llm_model *m = llm_model_load(o->model, hf, dir, &err);
    if (!m) {
        llm_msg("%s", err.msg);
        return NULL;
    }
    llm_model_set_threads(m, (int)o->threads);
    return m;
}
