/* libFuzzer target for the stream header's JSON: whatever llm_header_from_json accepts must be
 * valid, and must survive to_json -> from_json -> to_json as the same text. Merging its
 * provenance (arbitrary JSON values) into another header must keep the header readable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void promise(int ok)
{
    if (!ok)
        abort();
}

/* The header's JSON text, parsed again: the text must not change. Returns the text (owned). */
static char *round_trip(const llm_header *h)
{
    llm_buf a, b;
    llm_buf_init(&a);
    llm_buf_init(&b);
    llm_header_to_json(h, &a);
    promise(!llm_buf_failed(&a));
    llm_header back;
    llm_error err;
    promise(llm_header_from_json(&back, a.data, a.len, &err) == 0);
    promise(llm_header_compatible(h, &back, NULL, 0) == 1);
    promise(strcmp(h->provenance, back.provenance) == 0);
    llm_header_to_json(&back, &b);
    promise(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    llm_header_free(&back);
    llm_buf_free(&b);
    return a.data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_header h;
    llm_error err;
    if (llm_header_from_json(&h, (const char *)data, size, &err) < 0) {
        promise(err.msg[0] != '\0');
        return 0;
    }
    promise(llm_header_validate(&h, NULL) == 0);
    free(round_trip(&h));

    /* Provenance carried into another header, twice (the second adds nothing), then a step. */
    llm_header other;
    promise(llm_header_copy(&other, &h) == 0);
    char *argv[] = {"fuzz", "--x=\"y\""};
    promise(llm_header_add_step(&other, "fuzz", 2, argv) == 0);
    promise(llm_header_merge_provenance(&other, &h) == 0);
    char *once = round_trip(&other);
    promise(llm_header_merge_provenance(&other, &h) == 0);
    char *twice = round_trip(&other);
    promise(strcmp(once, twice) == 0);
    free(once);
    free(twice);
    llm_header_free(&other);
    llm_header_free(&h);
    return 0;
}
