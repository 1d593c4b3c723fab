/* libFuzzer target for a checkpoint's JSON files: whatever llm_hf_config_from_json or
 * llm_train_state_from_json accepts must write out as text that reads back as the same
 * text (config.json, trainer_state.json). The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

static void config_round_trip(const char *text, size_t len)
{
    llm_hf_config c, back;
    llm_error err;
    if (llm_hf_config_from_json(&c, text, len, &err) < 0) {
        promise(err.msg[0] != '\0');
        return;
    }
    promise(llm_hf_config_validate(&c, NULL) == 0);
    llm_buf a, b;
    llm_buf_init(&a);
    llm_buf_init(&b);
    llm_hf_config_to_json(&c, &a);
    promise(llm_hf_config_from_json(&back, a.data, a.len, &err) == 0);
    llm_hf_config_to_json(&back, &b);
    promise(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    llm_buf_free(&a);
    llm_buf_free(&b);
}

static void state_round_trip(const char *text, size_t len)
{
    llm_train_state s, back;
    llm_error err;
    if (llm_train_state_from_json(&s, text, len, &err) < 0) {
        promise(err.msg[0] != '\0');
        return;
    }
    llm_buf a, b;
    llm_buf_init(&a);
    llm_buf_init(&b);
    llm_train_state_to_json(&s, &a);
    promise(llm_train_state_from_json(&back, a.data, a.len, &err) == 0);
    llm_train_state_to_json(&back, &b);
    promise(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    llm_buf_free(&a);
    llm_buf_free(&b);
    llm_train_state_free(&s);
    llm_train_state_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        state_round_trip((const char *)data + 1, size - 1);
    else
        config_round_trip((const char *)data + 1, size - 1);
    return 0;
}
