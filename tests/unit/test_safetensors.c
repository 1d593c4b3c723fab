/* Unit tests for lib/safetensors.c: half and bfloat16 conversions, bit-exact F32 round trips of
 * a GPT-2 tensor list, BF16 output, an independent Python reader, Hugging Face and OpenAI
 * names, load errors by name, and hostile files (truncated, flipped, malformed headers). */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "safetensors.h"
#include "tensor_fixture.h"

static char tmp[256];

static char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    return p;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- conversions ------------------------------------------------------------------------ */

static void test_f16_exhaustive(void)
{
    /* Against the definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = llm_f16_to_f32((uint16_t)h);
        if (e == 31) {
            bad += m ? !isnan(got) : !(isinf(got) && (signbit(got) != 0) == s);
            continue;
        }
        double want = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        if (s)
            want = -want;
        bad += bits(got) != bits((float)want);
    }
    CHECKF(bad == 0, "%d half values convert wrongly", bad);
}

static void test_bf16_rounding(void)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 exact */
        {0x3f808000u, 0x3f80}, /* tie, even below */
        {0x3f818000u, 0x3f82}, /* tie, odd below: up */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x3f807fffu, 0x3f80}, /* below the tie */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x7f800001u, 0x7fc0}, /* signalling NaN stays NaN, quiet */
        {0xffc00000u, 0xffc0},
        {0x80000000u, 0x8000}, /* -0 */
        {0x00000001u, 0x0000}, /* smallest subnormal rounds to 0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float f;
        memcpy(&f, &cases[i].in, 4);
        CHECKF(llm_f32_to_bf16(f) == cases[i].out, "0x%08x -> 0x%04x, want 0x%04x", cases[i].in,
               llm_f32_to_bf16(f), cases[i].out);
    }
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = llm_bf16_to_f32((uint16_t)h);
        bad += !isnan(f) && llm_f32_to_bf16(f) != h;
    }
    CHECKF(bad == 0, "%d bf16 values do not round-trip", bad);
}

/* ---- round trips ------------------------------------------------------------------------ */

static llm_tensor_desc descs[4 + 12 * 2];
static int n_descs;
static size_t n_params;
static float *params;

static void setup_model(void)
{
    n_descs = fixture_gpt2(descs, 2, 8, 37, 16, &n_params);
    params = malloc(n_params * sizeof *params);
    fixture_fill(params, n_params, 42);
}

static void test_f32_round_trip(void)
{
    const char *path = tmp_path("model.safetensors");
    llm_error err = {""};
    llm_safetensors_part part = {"", params};
    static const char *const meta[] = {"producer", "test \"quoted\"", NULL};
    CHECKF(llm_safetensors_write(path, descs, n_descs, &part, 1, LLM_DTYPE_F32, meta, &err) == 0, "%s", err.msg);

    llm_safetensors *f = llm_safetensors_open(path, &err);
    CHECKF(f != NULL, "%s", err.msg);
    if (!f)
        return;
    CHECK(llm_safetensors_count(f) == (size_t)n_descs);
    CHECK(strcmp(llm_safetensors_metadata(f, "format"), "pt") == 0);
    CHECK(strcmp(llm_safetensors_metadata(f, "producer"), "test \"quoted\"") == 0);
    CHECK(llm_safetensors_metadata(f, "absent") == NULL);
    const llm_safetensors_tensor *t = llm_safetensors_find(f, "transformer.h.1.attn.c_attn.weight");
    CHECK(t && t->dtype == LLM_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 8 && t->shape[1] == 24 &&
          t->numel == 192 && t->end - t->begin == 768);
    CHECK(llm_safetensors_at(f, (size_t)n_descs) == NULL);
    for (size_t i = 1; i < llm_safetensors_count(f); i++)   /* sorted by name */
        CHECK(strcmp(llm_safetensors_at(f, i - 1)->name, llm_safetensors_at(f, i)->name) < 0);

    float *back = malloc(n_params * sizeof *back);
    memset(back, 0xab, n_params * sizeof *back);
    CHECKF(llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_EXACT, back, &err) == 0, "%s", err.msg);
    CHECK(memcmp(back, params, n_params * sizeof *back) == 0);   /* every bit, NaN payloads too */
    llm_safetensors_close(f);

    /* The data starts 8-byte aligned and the header is plain JSON padded with spaces. */
    FILE *fp = fopen(path, "rb");
    uint64_t hlen = 0;
    CHECK(fp && fread(&hlen, 8, 1, fp) == 1);
    CHECK(hlen % 8 == 0);
    if (fp)
        fclose(fp);
    free(back);
}

static void test_bf16_output(void)
{
    const char *path = tmp_path("model-bf16.safetensors");
    llm_error err = {""};
    llm_safetensors_part part = {"", params};
    CHECKF(llm_safetensors_write(path, descs, n_descs, &part, 1, LLM_DTYPE_BF16, NULL, &err) == 0, "%s", err.msg);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size < 8 + 4096 + n_params * 2);
    llm_safetensors *f = llm_safetensors_open(path, &err);
    CHECKF(f != NULL, "%s", err.msg);
    if (!f)
        return;
    CHECK(llm_safetensors_find(f, "transformer.wte.weight")->dtype == LLM_DTYPE_BF16);
    float *back = malloc(n_params * sizeof *back);
    CHECKF(llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_EXACT, back, &err) == 0, "%s", err.msg);
    size_t bad = 0;
    for (size_t i = 0; i < n_params; i++) {
        float want = llm_bf16_to_f32(llm_f32_to_bf16(params[i]));
        bad += isnan(want) ? !isnan(back[i]) : bits(back[i]) != bits(want);
    }
    CHECKF(bad == 0, "%zu values differ", bad);
    llm_safetensors_close(f);
    free(back);
}

/* Optimizer moments: two parts under prefixes in one file, loaded one prefix at a time. */
static void test_parts(void)
{
    const char *path = tmp_path("optimizer.safetensors");
    llm_error err = {""};
    float *m = malloc(n_params * sizeof *m), *v = malloc(n_params * sizeof *v);
    float *m2 = malloc(n_params * sizeof *m), *v2 = malloc(n_params * sizeof *v);
    fixture_fill(m, n_params, 1);
    fixture_fill(v, n_params, 2);
    llm_safetensors_part parts[2] = {{"m.", m}, {"v.", v}};
    CHECKF(llm_safetensors_write(path, descs, n_descs, parts, 2, LLM_DTYPE_F32, NULL, &err) == 0, "%s", err.msg);
    llm_safetensors *f = llm_safetensors_open(path, &err);
    CHECKF(f != NULL, "%s", err.msg);
    if (f) {
        CHECK(llm_safetensors_count(f) == 2 * (size_t)n_descs);
        CHECK(llm_safetensors_find(f, "m.transformer.ln_f.bias") && llm_safetensors_find(f, "v.transformer.wte.weight"));
        /* Exact mode refuses the other half as unexpected; OTHERS leaves it alone. */
        CHECK(llm_safetensors_load(f, descs, n_descs, "m.", LLM_SAFETENSORS_EXACT, m2, &err) == -1);
        CHECKF(strstr(err.msg, "unexpected tensor v.") != NULL, "%s", err.msg);
        CHECK(llm_safetensors_load(f, descs, n_descs, "m.", LLM_SAFETENSORS_OTHERS, m2, &err) == 0);
        CHECK(llm_safetensors_load(f, descs, n_descs, "v.", LLM_SAFETENSORS_OTHERS, v2, &err) == 0);
        CHECK(memcmp(m, m2, n_params * 4) == 0 && memcmp(v, v2, n_params * 4) == 0);
    }
    llm_safetensors_close(f);
    /* Two parts with one prefix would give duplicate names. */
    parts[1].prefix = "m.";
    CHECK(llm_safetensors_write(path, descs, n_descs, parts, 2, LLM_DTYPE_F32, NULL, &err) == -1);
    free(m), free(v), free(m2), free(v2);
}

/* Our file read by a reader that shares no code with ours. */
static void test_python_reader(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        fprintf(stderr, "test_python_reader: skipped: no /usr/bin/python3 with numpy\n");
        return;
    }
    char names[512], values[512], cmd[2048];
    snprintf(names, sizeof names, "%s/expect.json", tmp);
    snprintf(values, sizeof values, "%s/expect.f32", tmp);
    FILE *fn = fopen(names, "w"), *fv = fopen(values, "wb");
    CHECK(fn && fv);
    if (!fn || !fv)
        return;
    fputc('[', fn);
    for (int i = 0; i < n_descs; i++) {
        fprintf(fn, "%s[\"%s\", [%" PRId64, i ? ", " : "", descs[i].name, descs[i].shape[0]);
        if (descs[i].ndim == 2)
            fprintf(fn, ", %" PRId64, descs[i].shape[1]);
        fputs("]]", fn);
        size_t k = (size_t)descs[i].shape[0] * (size_t)(descs[i].ndim == 2 ? descs[i].shape[1] : 1);
        CHECK(fwrite(params + descs[i].offset, 4, k, fv) == k);
    }
    fputc(']', fn);
    CHECK(fclose(fn) == 0 && fclose(fv) == 0);
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/safetensors_check.py %s %s %s %s",
                 tmp_path(bf16 ? "model-bf16.safetensors" : "model.safetensors"), names, values,
                 bf16 ? "bf16" : "");
        CHECKF(system(cmd) == 0, "%s", cmd);
    }
}

/* ---- names ------------------------------------------------------------------------------ */

/* The same model under OpenAI's names ("h.0...", "wte.weight") with the mask buffers and a
 * tied lm_head, as the converted gpt2 checkpoints on the hub have them. */
static void test_openai_names(void)
{
    llm_tensor_desc alt[4 + 12 * 2 + 5];
    size_t extra = 0;
    int n = 0;
    for (int i = 0; i < n_descs; i++) {
        alt[n] = descs[i];
        memmove(alt[n].name, alt[n].name + 12, strlen(alt[n].name + 12) + 1);   /* drop "transformer." */
        n++;
    }
    size_t at = n_params;
    fixture_add(alt, &n, &at, "h.0.attn.bias", 0, 16, 16);
    fixture_add(alt, &n, &at, "h.1.attn.bias", 0, 16, 16);
    fixture_add(alt, &n, &at, "h.0.attn.masked_bias", 0, 1, 0);
    fixture_add(alt, &n, &at, "lm_head.weight", 1, 37, 8);
    extra = at - n_params;
    float *big = calloc(at, sizeof *big);
    memcpy(big, params, n_params * sizeof *big);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("openai.safetensors"));
    llm_error err = {""};
    llm_safetensors_part part = {"", big};
    CHECK(llm_safetensors_write(path, alt, n, &part, 1, LLM_DTYPE_F32, NULL, &err) == 0);
    CHECK(extra > 0);

    llm_safetensors *f = llm_safetensors_open(path, &err);
    float *back = malloc(n_params * sizeof *back);
    CHECKF(f != NULL, "%s", err.msg);
    if (f) {
        CHECK(llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_EXACT, back, &err) == -1);
        CHECKF(strstr(err.msg, "missing tensors transformer.wte.weight, transformer.wpe.weight") &&
                   strstr(err.msg, "(28 in all)"),
               "%s", err.msg);
        CHECKF(llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_HF_NAMES, back, &err) == 0, "%s",
               err.msg);
        CHECK(memcmp(back, params, n_params * 4) == 0);
        /* And the other way round: a list without the prefix reads our files. */
        llm_safetensors *ours = llm_safetensors_open(tmp_path("model.safetensors"), &err);
        CHECK(ours && llm_safetensors_load(ours, alt, n_descs, "", LLM_SAFETENSORS_HF_NAMES, back, &err) == 0);
        llm_safetensors_close(ours);
    }
    llm_safetensors_close(f);

    /* An lm_head of another shape is a real, untied head: refused, not skipped. */
    alt[n - 1].shape[0] = 36;
    CHECK(llm_safetensors_write(path, alt, n, &part, 1, LLM_DTYPE_F32, NULL, &err) == 0);
    f = llm_safetensors_open(path, &err);
    CHECK(f && llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_HF_NAMES, back, &err) == -1);
    CHECKF(strstr(err.msg, "unexpected tensor lm_head.weight"), "%s", err.msg);
    llm_safetensors_close(f);
    free(big);
    free(back);
}

static void test_load_errors(void)
{
    llm_error err = {""};
    llm_safetensors *f = llm_safetensors_open(tmp_path("model.safetensors"), &err);
    float *back = malloc(n_params * sizeof *back);
    llm_tensor_desc d[4 + 12 * 2];
    CHECK(f != NULL);
    if (!f)
        return;

    /* A model with a third layer: its tensors are missing, named. */
    size_t total;
    llm_tensor_desc big[4 + 12 * 3];
    int nb = fixture_gpt2(big, 3, 8, 37, 16, &total);
    float *bigbuf = malloc(total * sizeof *bigbuf);
    CHECK(llm_safetensors_load(f, big, nb, "", LLM_SAFETENSORS_HF_NAMES, bigbuf, &err) == -1);
    CHECKF(strstr(err.msg, "model.safetensors: missing tensors transformer.h.2.ln_1.weight, ") &&
               strstr(err.msg, "(12 in all)"),
           "%s", err.msg);
    free(bigbuf);

    /* A model with one layer: the file's second layer is unexpected. */
    nb = fixture_gpt2(big, 1, 8, 37, 16, &total);
    CHECK(llm_safetensors_load(f, big, nb, "", LLM_SAFETENSORS_HF_NAMES, back, &err) == -1);
    CHECKF(strstr(err.msg, "unexpected tensor transformer.h.1."), "%s", err.msg);

    /* Another vocabulary: a shape mismatch, both shapes named. */
    nb = fixture_gpt2(d, 2, 8, 40, 16, &total);
    float *other = malloc(total * sizeof *other);
    CHECK(llm_safetensors_load(f, d, nb, "", LLM_SAFETENSORS_HF_NAMES, other, &err) == -1);
    CHECKF(strstr(err.msg, "tensor transformer.wte.weight has shape [37, 8], the model wants [40, 8]"), "%s",
           err.msg);
    free(other);
    llm_safetensors_close(f);

    /* Opening what is not there names the file. */
    CHECK(llm_safetensors_open(tmp_path("absent.safetensors"), &err) == NULL);
    CHECKF(strstr(err.msg, "absent.safetensors: cannot open: No such file"), "%s", err.msg);
    CHECK(llm_safetensors_open(tmp, &err) == NULL);
    CHECKF(strstr(err.msg, "not a regular file"), "%s", err.msg);
    /* Nor can it write where there is no folder. */
    llm_safetensors_part part = {"", params};
    CHECK(llm_safetensors_write(tmp_path("no/such/x.safetensors"), descs, n_descs, &part, 1, LLM_DTYPE_F32, NULL,
                                &err) == -1);
    CHECKF(strstr(err.msg, "no/such/x.safetensors: cannot create"), "%s", err.msg);
    CHECK(llm_safetensors_write(tmp_path("x"), descs, n_descs, &part, 1, LLM_DTYPE_F16, NULL, &err) == -1);
    d[0] = descs[0];
    d[1] = descs[0];
    CHECK(llm_safetensors_write(tmp_path("x"), d, 2, &part, 1, LLM_DTYPE_F32, NULL, &err) == -1);
    CHECKF(strstr(err.msg, "listed twice"), "%s", err.msg);
    free(back);
}

/* ---- hostile files ---------------------------------------------------------------------- */

/* A file of the given header text and data bytes. */
static void build(llm_buf *b, const char *header, const void *data, size_t n)
{
    uint64_t len = strlen(header);
    llm_buf_clear(b);
    llm_buf_append(b, &len, 8);
    llm_buf_puts(b, header);
    llm_buf_append(b, data, n);
}

static void test_hostile_headers(void)
{
    static const struct {
        const char *header;
        size_t data;
        const char *why;    /* NULL: accepted */
    } cases[] = {
        {"{}", 0, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, NULL},
        {"{\"__metadata__\":{\"k\":\"v\"}}   ", 0, NULL},
        {"", 0, "not a JSON object"},
        {"[]", 0, "not a JSON object"},
        {"{", 0, "header: invalid JSON"},
        {"{} x", 0, "invalid JSON"},
        {"{\"a\":1}", 0, "tensor a: expected an object, got integer"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not hold 3 F32 values"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "do not hold"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8, "truncated?"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 bytes after the last"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a gap before it"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor a appears twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "not a size"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0, "not a size"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
         "shape too large"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2305843009213693951],\"data_offsets\":[0,0]}}", 0,
         "do not hold"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "[begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4, "[begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "given twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":0}}", 4, "unknown field \"x\""},
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "NUL byte"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "value of \"k\" is not a string"},
        {"{\"__metadata__\":[]}", 0, "must be an object"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "given twice"},
    };
    llm_buf b;
    llm_buf_init(&b);
    static const char zeros[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        build(&b, cases[i].header, zeros, cases[i].data);
        llm_error err = {""};
        llm_safetensors *f = llm_safetensors_from_memory(b.data, b.len, "x.st", &err);
        if (cases[i].why)
            CHECKF(!f && strncmp(err.msg, "x.st: ", 6) == 0 && strstr(err.msg, cases[i].why), "case %zu: %s",
                   i, err.msg);
        else
            CHECKF(f != NULL, "case %zu: %s", i, err.msg);
        llm_safetensors_close(f);
    }
    /* A non-float tensor is listed but cannot be read as floats. */
    build(&b, "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    llm_error err;
    llm_safetensors *f = llm_safetensors_from_memory(b.data, b.len, "x.st", &err);
    llm_tensor_desc d = {.name = "a", .ndim = 1, .shape = {1, 0}};
    float x;
    CHECK(f && llm_safetensors_load(f, &d, 1, "", 0, &x, &err) == -1 && strstr(err.msg, "cannot read I32 as float"));
    llm_safetensors_close(f);
    /* F16 and BF16 input convert on load. */
    uint16_t halves[3] = {0x3c00, 0xc000, 0x3f80};   /* f16 1, f16 -2, bf16 1 */
    build(&b, "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]}}", halves, 6);
    f = llm_safetensors_from_memory(b.data, b.len, "x.st", &err);
    llm_tensor_desc hd[2] = {{.name = "h", .ndim = 1, .shape = {2, 0}, .offset = 0},
                             {.name = "b", .ndim = 1, .shape = {1, 0}, .offset = 2}};
    float v[3];
    CHECK(f && llm_safetensors_load(f, hd, 2, "", 0, v, &err) == 0 && v[0] == 1 && v[1] == -2 && v[2] == 1);
    llm_safetensors_close(f);
    llm_buf_free(&b);
}

static void test_header_length(void)
{
    llm_error err = {""};
    CHECK(llm_safetensors_from_memory("", 0, "x", &err) == NULL && strstr(err.msg, "too short"));
    CHECK(llm_safetensors_from_memory("\x02\0\0\0\0\0\0", 7, "x", &err) == NULL && strstr(err.msg, "too short"));
    CHECK(llm_safetensors_from_memory("\x03\0\0\0\0\0\0\0{}", 10, "x", &err) == NULL);
    CHECKF(strstr(err.msg, "header length 3 exceeds the file's 10 bytes"), "%s", err.msg);
    CHECK(llm_safetensors_from_memory("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "x", &err) == NULL);
    llm_safetensors *f = llm_safetensors_from_memory("\x02\0\0\0\0\0\0\0{}", 10, "x", &err);
    CHECK(f != NULL && llm_safetensors_count(f) == 0);
    llm_safetensors_close(f);
}

/* Every truncation of a real file is refused; every one-byte change is refused or reads as a
 * valid file: never a crash or an overread (the sanitizer build sees those). */
static void test_truncated_and_flipped(void)
{
    FILE *fp = fopen(tmp_path("model.safetensors"), "rb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fseek(fp, 0, SEEK_END);
    size_t len = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *file = malloc(len);
    CHECK(fread(file, 1, len, fp) == len);
    fclose(fp);
    uint64_t hlen;
    memcpy(&hlen, file, 8);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut += cut < 8 + hlen + 64 ? 1 : 97) {
        unsigned char *copy = malloc(cut ? cut : 1);   /* exact size, so overreads show */
        memcpy(copy, file, cut);
        llm_error err;
        llm_safetensors *f = llm_safetensors_from_memory(copy, cut, "t", &err);
        accepted += f != NULL;
        llm_safetensors_close(f);
        free(copy);
    }
    CHECKF(accepted == 0, "%d truncated files accepted", accepted);
    unsigned char *copy = malloc(len);
    float *back = malloc(n_params * sizeof *back);
    for (size_t at = 0; at < 8 + hlen; at++) {
        memcpy(copy, file, len);
        copy[at] ^= (unsigned char)(1u << (at % 8));
        llm_error err;
        llm_safetensors *f = llm_safetensors_from_memory(copy, len, "t", &err);
        if (f) {   /* a flip that leaves a valid file (a name, a space): it still loads or says why */
            int rc = llm_safetensors_load(f, descs, n_descs, "", LLM_SAFETENSORS_HF_NAMES, back, &err);
            CHECK(rc == 0 || err.msg[0] != '\0');
        }
        llm_safetensors_close(f);
    }
    free(back);
    free(copy);
    free(file);
}

int main(void)
{
    fixture_tmpdir(tmp, sizeof tmp, "safetensors");
    setup_model();
    RUN(test_f16_exhaustive);
    RUN(test_bf16_rounding);
    RUN(test_f32_round_trip);
    RUN(test_bf16_output);
    RUN(test_parts);
    RUN(test_python_reader);
    RUN(test_openai_names);
    RUN(test_load_errors);
    RUN(test_hostile_headers);
    RUN(test_header_length);
    RUN(test_truncated_and_flipped);
    free(params);
    fixture_remove(tmp);
    CHECK_EXIT();
}
