/* Where the GPU's time goes, stage by stage (LLM_CUDA_PROFILE=1): a CUDA event before and
 * after each stage of the passes, read back where the host waits for the device anyway
 * (llm_cu_sync, generation's copy of a token's logits), summed by stage name, and a table
 * on stderr when the model is freed. It measures the stages as they run in the step,
 * launch gaps excluded, without adding a synchronisation; for the one machine session a
 * GPU is lent for, one run of llm-train then says which kernel to work on. Off (the
 * default), a stage costs two calls that return at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda_common.cuh"

namespace {

struct timed_stage {
    const char *name;    /* a string literal of the caller's */
    cudaEvent_t start, end;
};

struct stage_total {
    const char *name;
    double ms;
    long calls;
};

int enabled = -1;    /* -1: LLM_CUDA_PROFILE not read yet */
bool broken;         /* an event call failed: profiling stops, the run goes on */
std::vector<timed_stage> pending;    /* recorded, not yet read */
std::vector<cudaEvent_t> spare;
std::vector<stage_total> totals;

cudaEvent_t take_event()
{
    cudaEvent_t e = NULL;
    if (!spare.empty()) {
        e = spare.back();
        spare.pop_back();
    } else if (cudaEventCreate(&e) != cudaSuccess) {
        broken = true;
        e = NULL;
    }
    return e;
}

void add_time(const char *name, double ms)
{
    for (stage_total &t : totals)
        if (t.name == name || strcmp(t.name, name) == 0) {
            t.ms += ms;
            t.calls++;
            return;
        }
    totals.push_back({name, ms, 1});
}

bool prof_on()
{
    if (enabled < 0) {
        const char *e = getenv("LLM_CUDA_PROFILE");
        enabled = e && *e && strcmp(e, "0") != 0;
    }
    return enabled && !broken;
}

}    // namespace

void llm_cu_prof_begin(const char *name)
{
    if (!prof_on())
        return;
    timed_stage s = {name, take_event(), take_event()};
    if (!broken && cudaEventRecord(s.start, 0) == cudaSuccess) {
        pending.push_back(s);
        return;
    }
    broken = true;
    for (cudaEvent_t e : {s.start, s.end})
        if (e)
            spare.push_back(e);
}

void llm_cu_prof_end(void)
{
    if (!prof_on() || pending.empty())
        return;
    if (cudaEventRecord(pending.back().end, 0) != cudaSuccess)
        broken = true;
}

void llm_cu_prof_collect(void)
{
    for (const timed_stage &s : pending) {
        float ms = 0.0f;
        if (!broken && cudaEventElapsedTime(&ms, s.start, s.end) == cudaSuccess)
            add_time(s.name, ms);
        else
            broken = true;
        spare.push_back(s.start);
        spare.push_back(s.end);
    }
    pending.clear();
}

void llm_cu_prof_report(void)
{
    if (!pending.empty() && cudaDeviceSynchronize() != cudaSuccess)
        broken = true;
    llm_cu_prof_collect();
    if (!totals.empty()) {
        std::sort(totals.begin(), totals.end(),
                  [](const stage_total &a, const stage_total &b) { return a.ms > b.ms; });
        double all = 0.0;
        for (const stage_total &t : totals)
            all += t.ms;
        fprintf(stderr, "GPU time by stage (LLM_CUDA_PROFILE): %.1f ms in all%s\n", all,
                broken ? " (stopped early: a CUDA event call failed)" : "");
        fprintf(stderr, "  %-32s %10s %6s %8s %10s\n", "stage", "ms", "%", "calls", "us/call");
        for (const stage_total &t : totals)
            fprintf(stderr, "  %-32s %10.1f %6.1f %8ld %10.1f\n", t.name, t.ms, all > 0 ? 100.0 * t.ms / all : 0.0,
                    t.calls, 1000.0 * t.ms / (double)t.calls);
    }
    for (cudaEvent_t e : spare)
        cudaEventDestroy(e);
    spare.clear();
    totals.clear();
}
