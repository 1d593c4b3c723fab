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

int ev_choose_device(const ev_opts *o, llm_model *m)
{
    llm_error err, why = {""};
    llm_device dev;
    char name[128];
    if (llm_device_resolve(o->device, &dev, &why, &err) < 0) {
        llm_msg("%s", err.msg);
        return -1;
    }
    if (dev == LLM_DEVICE_CPU) {
        if (o->device == LLM_DEVICE_AUTO && why.msg[0] && !o->quiet)
            llm_msg("device: CPU (%s)", why.msg);
        return 0;
    }
    llm_cuda_available(name, sizeof name, NULL);
    if (llm_model_cuda_attach(m, 0, &err) < 0) {
        llm_msg("%s", err.msg);
        return -1;
    }
    if (!o->quiet)
        llm_msg("device: GPU %s, bf16 mixed precision", name);
    return 0;
}
