/* Byte layout of llm-stream(5), private to the library: magic numbers, record flags and
 * the little-endian load/store helpers that the reader, the writer and the index share. */
#ifndef LLM_STREAM_FORMAT_H
#define LLM_STREAM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LLM_MAGIC_ZSTD 0xFD2FB528u
#define LLM_MAGIC_SKIPPABLE 0x184D2A50u  /* low 4 bits free: zstd's skippable frames */
#define LLM_MAGIC_SKIPPABLE_MASK 0xFFFFFFF0u
#define LLM_MAGIC_HEADER 0x184D2A5Cu
#define LLM_MAGIC_INDEX 0x184D2A5Du
#define LLM_MAGIC_LEDGER 0x184D2A5Eu
#define LLM_SKIPPABLE_HEAD 8             /* magic + payload size */

#define LLM_HEADER_TAG "LLMH"            /* payload: tag, u32 checksum, JSON */
#define LLM_HEADER_PREFIX 8

#define LLM_INDEX_ENTRY 16               /* u64 offset in segment, u32 records, u32 tokens */
#define LLM_INDEX_FOOTER 36              /* u64 segment bytes, records, tokens; u32 entries, checksum, tag */
#define LLM_INDEX_TAG "LLMX"

/* The ledger ends with its footer so that it can be found from the index after it:
 * payload = JSON, u32 JSON bytes, u32 checksum of the JSON, tag. */
#define LLM_LEDGER_FOOTER 12
#define LLM_LEDGER_TAG "LLML"

#define LLM_RECORD_HEAD 8                /* u32 tokens, u32 flags */
#define LLM_RECORD_HAS_MASK 1u
#define LLM_RECORD_HAS_BOUNDS 2u

static inline uint32_t llm_load32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t llm_load64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void llm_store32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void llm_store64(void *p, uint64_t v) { memcpy(p, &v, 8); }
static inline size_t llm_pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* The largest token id in t[0..n), 0 for none. Sixteen running maxima rather than one:
 * a single one is a serial chain the compiler cannot vectorise, and this check is on the
 * path of every token read or written. */
#define LLM_DEFINE_MAX(name, type)                                          \
    static inline uint32_t name(const type *t, size_t n)                    \
    {                                                                       \
        type lane[16] = {0};                                                \
        size_t i = 0;                                                       \
        for (; i + 16 <= n; i += 16)                                        \
            for (int j = 0; j < 16; j++)                                    \
                lane[j] = t[i + j] > lane[j] ? t[i + j] : lane[j];          \
        uint32_t max = 0;                                                   \
        for (int j = 0; j < 16; j++)                                        \
            max = lane[j] > max ? lane[j] : max;                            \
        for (; i < n; i++)                                                  \
            max = t[i] > max ? t[i] : max;                                  \
        return max;                                                         \
    }
LLM_DEFINE_MAX(llm_max_u16, uint16_t)
LLM_DEFINE_MAX(llm_max_u32, uint32_t)
#undef LLM_DEFINE_MAX

/* The checksum of header and index payloads: the low half of XXH64, seed 0. */
uint32_t llm_checksum32(const void *p, size_t n);

#endif
