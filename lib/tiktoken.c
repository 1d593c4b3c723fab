/* tiktoken rank files and the known encodings. The regexes and special-token ids are those
 * of tiktoken's registry (tiktoken_ext/openai_public.py, and the npm package's registry.json). */
#include <string.h>

#include "pretokenize.h"
#include "tiktoken.h"

#define GPT2_PATTERN LLM_PRETOK_GPT2
#define CL100K_PATTERN LLM_PRETOK_CL100K
#define O200K_PATTERN LLM_PRETOK_O200K

static const llm_tiktoken_special gpt2_specials[] = {{"<|endoftext|>", 50256}};
static const llm_tiktoken_special p50k_edit_specials[] = {
    {"<|endoftext|>", 50256}, {"<|fim_prefix|>", 50281}, {"<|fim_middle|>", 50282},
    {"<|fim_suffix|>", 50283}};
static const llm_tiktoken_special cl100k_specials[] = {
    {"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}, {"<|fim_middle|>", 100259},
    {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276}};
static const llm_tiktoken_special o200k_specials[] = {{"<|endoftext|>", 199999},
                                                      {"<|endofprompt|>", 200018}};

#define SPECIALS(a) a, sizeof a / sizeof a[0]

static const llm_tiktoken_encoding encodings[] = {
    {"gpt2", GPT2_PATTERN, SPECIALS(gpt2_specials), 50257},
    {"r50k_base", GPT2_PATTERN, SPECIALS(gpt2_specials), 50257},
    {"p50k_base", GPT2_PATTERN, SPECIALS(gpt2_specials), 50281},
    {"p50k_edit", GPT2_PATTERN, SPECIALS(p50k_edit_specials), 0},
    {"cl100k_base", CL100K_PATTERN, SPECIALS(cl100k_specials), 0},
    {"o200k_base", O200K_PATTERN, SPECIALS(o200k_specials), 0},
};

const llm_tiktoken_encoding *llm_tiktoken_at(size_t i)
{
    return i < sizeof encodings / sizeof encodings[0] ? &encodings[i] : NULL;
}

const llm_tiktoken_encoding *llm_tiktoken_find(const char *name)
{
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++)
        if (strcmp(encodings[i].name, name) == 0)
            return &encodings[i];
    return NULL;
}

/* Longest token a rank file may hold; tiktoken's are at most 128 bytes. */
#define MAX_TOKEN_BYTES 4096

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with its '=' padding (what Python's base64.b64encode writes). Returns the
 * decoded length, or -1 when s is not canonical base64 or decodes to more than cap bytes. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    size_t len = n / 4 * 3 - pad;
    if (len > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            int last = i + 4 == n;
            if (last && s[i + k] == '=' && k >= 4 - (int)pad)
                v[k] = 0;
            else if ((v[k] = b64_value((unsigned char)s[i + k])) < 0)
                return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        for (int k = 0; k < 3 && o < len; k++)
            out[o++] = bytes[k];
        /* Padding bits must be zero, so that each token has one spelling. */
        if (i + 4 == n && pad > 0 && (pad == 2 ? (w & 0xFFFF) : (w & 0xFF)) != 0)
            return -1;
    }
    return (long)len;
}

int llm_tiktoken_parse(llm_bpe *b, const char *data, size_t n, llm_error *err)
{
    unsigned char token[MAX_TOKEN_BYTES];
    size_t line = 0;
    for (size_t pos = 0; pos < n;) {
        line++;
        const char *s = data + pos;
        const char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl != NULL);
        if (len > 0 && s[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        const char *sp = memchr(s, ' ', len);
        if (sp == NULL)
            return llm_error_set(err, "line %zu: expected \"BASE64 RANK\"", line);
        long k = b64_decode(s, (size_t)(sp - s), token, sizeof token);
        if (k <= 0)
            return llm_error_set(err, "line %zu: bad base64 token (or longer than %d bytes)", line,
                                 MAX_TOKEN_BYTES);
        uint64_t rank = 0;
        const char *d = sp + 1, *e = s + len;
        if (d == e)
            return llm_error_set(err, "line %zu: missing rank", line);
        for (; d < e; d++) {
            if (*d < '0' || *d > '9' || rank >= LLM_BPE_MAX_IDS)
                return llm_error_set(err, "line %zu: rank is not a number below %u", line,
                                     LLM_BPE_MAX_IDS);
            rank = rank * 10 + (uint64_t)(*d - '0');
        }
        if (rank >= LLM_BPE_MAX_IDS)
            return llm_error_set(err, "line %zu: rank is not a number below %u", line, LLM_BPE_MAX_IDS);
        llm_error why;
        if (llm_bpe_add_token(b, (uint32_t)rank, token, (size_t)k, &why) < 0)
            return llm_error_set(err, "line %zu: %s", line, why.msg);
    }
    if (llm_bpe_n_tokens(b) == 0)
        return llm_error_set(err, "no tokens in the rank file");
    return 0;
}
