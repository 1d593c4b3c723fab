/* Reading and writing safetensors files (see safetensors.h). */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "json.h"

/* The reference implementation refuses headers above 100 MB; so do we, before parsing. */
#define HEADER_MAX (100u << 20)

static const struct {
    const char *name;
    size_t size;
} dtypes[LLM_DTYPE_COUNT] = {
    [LLM_DTYPE_F32] = {"F32", 4},     [LLM_DTYPE_F16] = {"F16", 2},
    [LLM_DTYPE_BF16] = {"BF16", 2},   [LLM_DTYPE_F64] = {"F64", 8},
    [LLM_DTYPE_I64] = {"I64", 8},     [LLM_DTYPE_I32] = {"I32", 4},
    [LLM_DTYPE_I16] = {"I16", 2},     [LLM_DTYPE_I8] = {"I8", 1},
    [LLM_DTYPE_U64] = {"U64", 8},     [LLM_DTYPE_U32] = {"U32", 4},
    [LLM_DTYPE_U16] = {"U16", 2},     [LLM_DTYPE_U8] = {"U8", 1},
    [LLM_DTYPE_BOOL] = {"BOOL", 1},   [LLM_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [LLM_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

const char *llm_dtype_name(llm_dtype t) { return (unsigned)t < LLM_DTYPE_COUNT ? dtypes[t].name : "?"; }
size_t llm_dtype_size(llm_dtype t) { return (unsigned)t < LLM_DTYPE_COUNT ? dtypes[t].size : 0; }

static int dtype_from_name(const char *s, size_t n, llm_dtype *out)
{
    for (int i = 0; i < LLM_DTYPE_COUNT; i++)
        if (strlen(dtypes[i].name) == n && memcmp(dtypes[i].name, s, n) == 0) {
            *out = (llm_dtype)i;
            return 0;
        }
    return -1;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float llm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    if (exp == 31)    /* inf and NaN keep their payload */
        return bits_to_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) {
        if (man == 0)
            return bits_to_f32(sign);
        /* A subnormal half is a normal float: shift the mantissa up to its leading one. */
        exp = 1;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        man &= 0x3ffu;
    }
    return bits_to_f32(sign | (exp + 112) << 23 | man << 13);
}

float llm_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t llm_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)    /* NaN: keep it one, quiet */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);        /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

/* ---- writing ---------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static uint64_t desc_numel(const llm_tensor_desc *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->shape[d];
    return n;
}

/* The list must make a well-formed file: names set, unique and not the metadata key. */
static int check_descs(const char *path, const llm_tensor_desc *t, int n, llm_error *err)
{
    for (int i = 0; i < n; i++) {
        if (memchr(t[i].name, '\0', sizeof t[i].name) == NULL || t[i].name[0] == '\0' ||
            strcmp(t[i].name, "__metadata__") == 0)
            return llm_error_set(err, "%s: tensor %d has no valid name", path, i);
        if (t[i].ndim < 1 || t[i].ndim > 2 || t[i].shape[0] < 0 || (t[i].ndim == 2 && t[i].shape[1] < 0))
            return llm_error_set(err, "%s: tensor %s has an invalid shape", path, t[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return llm_error_set(err, "%s: tensor %s is listed twice", path, t[i].name);
    }
    return 0;
}

/* The JSON header, padded with spaces so that 8 + its length is a multiple of 8. */
static void build_header(llm_buf *h, const llm_tensor_desc *t, int n, const llm_safetensors_part *parts,
                         int n_parts, llm_dtype dtype, const char *const *metadata)
{
    llm_buf_puts(h, "{\"__metadata__\":{\"format\":\"pt\"");
    for (const char *const *m = metadata; m && m[0] && m[1]; m += 2) {
        llm_buf_putc(h, ',');
        llm_buf_json_string(h, m[0], strlen(m[0]));
        llm_buf_putc(h, ':');
        llm_buf_json_string(h, m[1], strlen(m[1]));
    }
    llm_buf_putc(h, '}');
    uint64_t at = 0;
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < n; i++) {
            uint64_t bytes = desc_numel(&t[i]) * llm_dtype_size(dtype);
            char name[256];
            snprintf(name, sizeof name, "%s%s", parts[p].prefix ? parts[p].prefix : "", t[i].name);
            llm_buf_putc(h, ',');
            llm_buf_json_string(h, name, strlen(name));
            llm_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", llm_dtype_name(dtype));
            for (int d = 0; d < t[i].ndim; d++)
                llm_buf_printf(h, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
            llm_buf_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", at, at + bytes);
            at += bytes;
        }
    llm_buf_putc(h, '}');
    while ((8 + h->len) % 8 != 0)
        llm_buf_putc(h, ' ');
}

/* Writes count floats from src as dtype. */
static int write_values(int fd, const float *src, uint64_t count, llm_dtype dtype)
{
    if (dtype == LLM_DTYPE_F32)
        return write_all(fd, src, count * sizeof(float));
    enum { CHUNK = 1 << 15 };
    uint16_t out[CHUNK];
    while (count > 0) {
        size_t k = count < CHUNK ? (size_t)count : CHUNK;
        for (size_t i = 0; i < k; i++)
            out[i] = llm_f32_to_bf16(src[i]);
        if (write_all(fd, out, k * sizeof out[0]) < 0)
            return -1;
        src += k;
        count -= k;
    }
    return 0;
}

int llm_safetensors_write(const char *path, const llm_tensor_desc *t, int n,
                          const llm_safetensors_part *parts, int n_parts, llm_dtype dtype,
                          const char *const *metadata, llm_error *err)
{
    if (dtype != LLM_DTYPE_F32 && dtype != LLM_DTYPE_BF16)
        return llm_error_set(err, "%s: can only write F32 or BF16, not %s", path, llm_dtype_name(dtype));
    if (check_descs(path, t, n, err) < 0)
        return -1;
    for (int p = 0; p < n_parts; p++)
        for (int q = 0; q < p; q++)
            if (strcmp(parts[p].prefix ? parts[p].prefix : "", parts[q].prefix ? parts[q].prefix : "") == 0)
                return llm_error_set(err, "%s: two parts with the same prefix", path);

    llm_buf h;
    llm_buf_init(&h);
    build_header(&h, t, n, parts, n_parts, dtype, metadata);
    if (llm_buf_failed(&h)) {
        llm_buf_free(&h);
        return llm_error_set(err, "%s: out of memory", path);
    }
    llm_output out;
    if (llm_output_open(&out, path, 1, 1, err) < 0) {
        llm_buf_free(&h);
        return -1;
    }
    uint64_t hlen = h.len;
    int failed = write_all(out.fd, &hlen, 8) < 0 || write_all(out.fd, h.data, h.len) < 0;
    for (int p = 0; p < n_parts && !failed; p++)
        for (int i = 0; i < n && !failed; i++)
            failed = write_values(out.fd, parts[p].data + t[i].offset, desc_numel(&t[i]), dtype) < 0;
    /* On disk before the rename makes it visible, so a crash never shows a hollow file. */
    failed = failed || (out.tmp && fsync(out.fd) != 0);
    llm_buf_free(&h);
    if (failed) {
        llm_error_set(err, "%s: write error: %s", path, strerror(errno ? errno : EIO));
        llm_output_abort(&out);
        return -1;
    }
    return llm_output_commit(&out, err);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct llm_safetensors {
    char *label;                    /* the path, for messages */
    void *map;                      /* the mapping when opened from a file */
    size_t map_len;
    const uint8_t *data;            /* the tensor bytes, after the header */
    uint64_t data_len;
    llm_safetensors_tensor *tensors;  /* sorted by name */
    size_t n;
    char **meta;                    /* key, value, key, value... */
    size_t n_meta;
};

void llm_safetensors_close(llm_safetensors *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->tensors[i].name);
    for (size_t i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->tensors);
    free(f->meta);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->label);
    free(f);
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Reads {"dtype", "shape", "data_offsets"} into t (name already set). */
static int parse_tensor_info(const llm_safetensors *f, llm_json info, llm_safetensors_tensor *t, llm_error *err)
{
    const char *who = f->label, *name = t->name;
    if (llm_json_type_of(info) != LLM_JSON_OBJECT)
        return llm_error_set(err, "%s: tensor %s: expected an object, got %s", who, name,
                             llm_json_type_name(llm_json_type_of(info)));
    llm_json_iter it;
    llm_json v;
    const char *key;
    size_t keylen;
    int have = 0;    /* bits: dtype, shape, data_offsets */
    llm_json_object_begin(info, &it);
    while (llm_json_object_next(&it, &key, &keylen, &v)) {
        int bit = keylen == 5 && memcmp(key, "dtype", 5) == 0          ? 1
                  : keylen == 5 && memcmp(key, "shape", 5) == 0        ? 2
                  : keylen == 12 && memcmp(key, "data_offsets", 12) == 0 ? 4
                                                                         : 0;
        if (bit == 0)
            return llm_error_set(err, "%s: tensor %s: unknown field \"%.*s\"", who, name,
                                 (int)(keylen > 40 ? 40 : keylen), key);
        if (have & bit)
            return llm_error_set(err, "%s: tensor %s: field \"%.*s\" given twice", who, name, (int)keylen, key);
        have |= bit;
        if (bit == 1) {
            const char *s;
            size_t n;
            if (llm_json_get_string(v, &s, &n) < 0 || dtype_from_name(s, n, &t->dtype) < 0)
                return llm_error_set(err, "%s: tensor %s: unknown dtype", who, name);
        } else if (bit == 2) {
            if (llm_json_type_of(v) != LLM_JSON_ARRAY || llm_json_array_len(v) > LLM_SAFETENSORS_MAX_DIMS)
                return llm_error_set(err, "%s: tensor %s: shape must be an array of at most %d sizes", who,
                                     name, LLM_SAFETENSORS_MAX_DIMS);
            llm_json_iter ai;
            llm_json d;
            t->ndim = 0;
            llm_json_array_begin(v, &ai);
            while (llm_json_array_next(&ai, &d))
                if (llm_json_get_int64(d, &t->shape[t->ndim++]) < 0 || t->shape[t->ndim - 1] < 0)
                    return llm_error_set(err, "%s: tensor %s: a shape entry is not a size", who, name);
        } else {
            uint64_t o[2];
            llm_json_iter ai;
            llm_json d;
            int k = 0;
            if (llm_json_array_len(v) != 2)
                return llm_error_set(err, "%s: tensor %s: data_offsets must be [begin, end]", who, name);
            llm_json_array_begin(v, &ai);
            while (llm_json_array_next(&ai, &d))
                if (llm_json_get_uint64(d, &o[k++]) < 0)
                    return llm_error_set(err, "%s: tensor %s: data_offsets must be [begin, end]", who, name);
            t->begin = o[0];
            t->end = o[1];
        }
    }
    if (have != 7)
        return llm_error_set(err, "%s: tensor %s: missing \"%s\"", who, name,
                             !(have & 1) ? "dtype" : !(have & 2) ? "shape" : "data_offsets");
    /* The size the shape implies, without overflow, must be the bytes the offsets span. */
    uint64_t numel = 1, limit = UINT64_MAX / 8;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t s = (uint64_t)t->shape[d];
        if (s != 0 && numel > limit / s)
            return llm_error_set(err, "%s: tensor %s: shape too large", who, name);
        numel *= s;
    }
    t->numel = numel;
    if (t->begin > t->end || t->end - t->begin != numel * llm_dtype_size(t->dtype))
        return llm_error_set(err,
                             "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] do not hold %" PRIu64
                             " %s values",
                             who, name, t->begin, t->end, numel, llm_dtype_name(t->dtype));
    if (t->end > f->data_len)
        return llm_error_set(err,
                             "%s: tensor %s: ends at byte %" PRIu64 " of the data, which has %" PRIu64
                             " bytes: truncated?",
                             who, name, t->end, f->data_len);
    return 0;
}

static int parse_metadata(llm_safetensors *f, llm_json obj, llm_error *err)
{
    if (f->meta)
        return llm_error_set(err, "%s: \"__metadata__\" given twice", f->label);
    if (llm_json_type_of(obj) != LLM_JSON_OBJECT)
        return llm_error_set(err, "%s: \"__metadata__\" must be an object", f->label);
    llm_json_iter it;
    llm_json v;
    const char *key, *s;
    size_t keylen, n, count = 0;
    llm_json_object_begin(obj, &it);
    while (llm_json_object_next(&it, &key, &keylen, &v))
        count++;
    f->meta = calloc(2 * count + 1, sizeof *f->meta);
    if (!f->meta)
        return llm_error_set(err, "%s: out of memory", f->label);
    llm_json_object_begin(obj, &it);
    while (llm_json_object_next(&it, &key, &keylen, &v)) {
        if (llm_json_get_string(v, &s, &n) < 0)
            return llm_error_set(err, "%s: \"__metadata__\" value of \"%.*s\" is not a string", f->label,
                                 (int)(keylen > 40 ? 40 : keylen), key);
        f->meta[2 * f->n_meta] = dup_bytes(key, keylen);
        f->meta[2 * f->n_meta + 1] = dup_bytes(s, n);
        f->n_meta++;
        if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
            return llm_error_set(err, "%s: out of memory", f->label);
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const llm_safetensors_tensor *)a)->name, ((const llm_safetensors_tensor *)b)->name);
}

static int by_offset(const void *a, const void *b)
{
    const llm_safetensors_tensor *x = *(const llm_safetensors_tensor *const *)a;
    const llm_safetensors_tensor *y = *(const llm_safetensors_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Tensors must tile the data exactly: each starts where the previous ends, the last ends
 * at the end of the file. */
static int check_tiling(const llm_safetensors *f, llm_error *err)
{
    const llm_safetensors_tensor **order = malloc((f->n ? f->n : 1) * sizeof *order);
    if (!order)
        return llm_error_set(err, "%s: out of memory", f->label);
    for (size_t i = 0; i < f->n; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n, sizeof *order, by_offset);
    uint64_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n && rc == 0; i++) {
        if (order[i]->begin != at)
            rc = llm_error_set(err, "%s: tensor %s starts at byte %" PRIu64 " of the data, expected %" PRIu64 " (%s)",
                               f->label, order[i]->name, order[i]->begin, at,
                               order[i]->begin < at ? "overlaps the previous one" : "a gap before it");
        at = order[i]->end;
    }
    if (rc == 0 && at != f->data_len)
        rc = llm_error_set(err, "%s: %" PRIu64 " bytes after the last tensor", f->label, f->data_len - at);
    free(order);
    return rc;
}

static int parse_header(llm_safetensors *f, const char *text, size_t len, llm_error *err)
{
    if (len == 0 || text[0] != '{')
        return llm_error_set(err, "%s: the header is not a JSON object", f->label);
    llm_json_parser *p = llm_json_parser_new();
    if (!p)
        return llm_error_set(err, "%s: out of memory", f->label);
    llm_json root, v;
    llm_error jerr;
    int rc = 0;
    if (llm_json_parse(p, text, len, 0, &root, &jerr) < 0) {
        rc = llm_error_set(err, "%s: header: %s", f->label, jerr.msg);
    } else if (llm_json_type_of(root) != LLM_JSON_OBJECT) {
        rc = llm_error_set(err, "%s: the header is not a JSON object", f->label);
    } else {
        llm_json_iter it;
        const char *key;
        size_t keylen, count = 0;
        llm_json_object_begin(root, &it);
        while (llm_json_object_next(&it, &key, &keylen, &v))
            count++;
        f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
        if (!f->tensors)
            rc = llm_error_set(err, "%s: out of memory", f->label);
        llm_json_object_begin(root, &it);
        while (rc == 0 && llm_json_object_next(&it, &key, &keylen, &v)) {
            if (keylen == 12 && memcmp(key, "__metadata__", 12) == 0) {
                rc = parse_metadata(f, v, err);
                continue;
            }
            if (memchr(key, '\0', keylen))
                rc = llm_error_set(err, "%s: a tensor name holds a NUL byte", f->label);
            else if (!(f->tensors[f->n].name = dup_bytes(key, keylen)))
                rc = llm_error_set(err, "%s: out of memory", f->label);
            else
                rc = parse_tensor_info(f, v, &f->tensors[f->n++], err);
        }
    }
    llm_json_parser_free(p);
    return rc;
}

llm_safetensors *llm_safetensors_from_memory(const void *bytes, size_t len, const char *name, llm_error *err)
{
    llm_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->label = strdup(name ? name : "(memory)"))) {
        free(f);
        llm_error_set(err, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    const uint8_t *b = bytes;
    uint64_t hlen = 0;
    if (len < 8) {
        llm_error_set(err, "%s: %zu bytes is too short for a safetensors file", f->label, len);
        goto fail;
    }
    memcpy(&hlen, b, 8);
    if (hlen > len - 8) {
        llm_error_set(err, "%s: header length %" PRIu64 " exceeds the file's %zu bytes: truncated, or not safetensors",
                      f->label, hlen, len);
        goto fail;
    }
    if (hlen > HEADER_MAX) {
        llm_error_set(err, "%s: header length %" PRIu64 " is over the 100 MB limit", f->label, hlen);
        goto fail;
    }
    f->data = b + 8 + hlen;
    f->data_len = len - 8 - hlen;
    if (parse_header(f, (const char *)b + 8, (size_t)hlen, err) < 0)
        goto fail;
    qsort(f->tensors, f->n, sizeof *f->tensors, by_name);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            llm_error_set(err, "%s: tensor %s appears twice", f->label, f->tensors[i].name);
            goto fail;
        }
    if (check_tiling(f, err) < 0)
        goto fail;
    return f;
fail:
    llm_safetensors_close(f);
    return NULL;
}

llm_safetensors *llm_safetensors_open(const char *path, llm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        llm_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        llm_error_set(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            llm_error_set(err, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd);
    llm_safetensors *f = llm_safetensors_from_memory(map ? map : "", len, path, err);
    if (!f) {
        if (map)
            munmap(map, len);
        return NULL;
    }
    f->map = map;
    f->map_len = len;
    return f;
}

size_t llm_safetensors_count(const llm_safetensors *f) { return f->n; }

const llm_safetensors_tensor *llm_safetensors_at(const llm_safetensors *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

const llm_safetensors_tensor *llm_safetensors_find(const llm_safetensors *f, const char *name)
{
    llm_safetensors_tensor key = {.name = name};
    return bsearch(&key, f->tensors, f->n, sizeof *f->tensors, by_name);
}

const char *llm_safetensors_metadata(const llm_safetensors *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

static int is_float_dtype(llm_dtype t)
{
    return t == LLM_DTYPE_F32 || t == LLM_DTYPE_F16 || t == LLM_DTYPE_BF16 || t == LLM_DTYPE_F64;
}

int llm_safetensors_read(const llm_safetensors *f, const llm_safetensors_tensor *t, float *dst, llm_error *err)
{
    if (!is_float_dtype(t->dtype))
        return llm_error_set(err, "%s: tensor %s: cannot read %s as float", f->label, t->name,
                             llm_dtype_name(t->dtype));
    const uint8_t *src = f->data + t->begin;
    /* The data need not be aligned (older writers did not pad the header): copy bytewise. */
    if (t->dtype == LLM_DTYPE_F32) {
        memcpy(dst, src, t->numel * 4);
        return 0;
    }
    for (uint64_t i = 0; i < t->numel; i++) {
        if (t->dtype == LLM_DTYPE_F64) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = t->dtype == LLM_DTYPE_F16 ? llm_f16_to_f32(h) : llm_bf16_to_f32(h);
        }
    }
    return 0;
}

/* ---- loading by a tensor list ----------------------------------------------------------- */

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The file's tensor for a listed name: prefix + name, and in HF mode the name with
 * "transformer." added or taken off. */
static const llm_safetensors_tensor *match(const llm_safetensors *f, const char *prefix, const char *name,
                                           int mode)
{
    static const char tr[] = "transformer.";
    char key[256];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    const llm_safetensors_tensor *t = llm_safetensors_find(f, key);
    if (t || !(mode & LLM_SAFETENSORS_HF_NAMES))
        return t;
    if (strncmp(name, tr, sizeof tr - 1) == 0)
        snprintf(key, sizeof key, "%s%s", prefix, name + sizeof tr - 1);
    else
        snprintf(key, sizeof key, "%s%s%s", prefix, tr, name);
    return llm_safetensors_find(f, key);
}

static int same_shape(const llm_safetensors_tensor *t, const llm_tensor_desc *d)
{
    if (t->ndim != d->ndim)
        return 0;
    for (int i = 0; i < d->ndim; i++)
        if (t->shape[i] != d->shape[i])
            return 0;
    return 1;
}

static void shape_text(char *out, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(out + at, n - at, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (at < n)
        snprintf(out + at, n - at, "]");
}

/* A tensor of a Hugging Face file that is not a parameter of the list and is skipped. */
static int skippable(const llm_safetensors_tensor *t, const llm_tensor_desc *list, int n)
{
    if (has_suffix(t->name, ".attn.bias") || has_suffix(t->name, ".attn.masked_bias") ||
        strcmp(t->name, "attn.bias") == 0 || strcmp(t->name, "attn.masked_bias") == 0)
        return 1;
    if (strcmp(t->name, "lm_head.weight") == 0)
        for (int i = 0; i < n; i++)
            if (has_suffix(list[i].name, "wte.weight") && same_shape(t, &list[i]))
                return 1;
    return 0;
}

/* Every listed tensor found, float, with its shape; fills found[i]. */
static int match_all(const llm_safetensors *f, const llm_tensor_desc *list, int n, const char *prefix, int mode,
                     const llm_safetensors_tensor **found, llm_error *err)
{
    char missing[200] = "";
    int n_missing = 0;
    for (int i = 0; i < n; i++) {
        found[i] = match(f, prefix, list[i].name, mode);
        if (!found[i]) {
            size_t at = strlen(missing);
            if (at + strlen(list[i].name) + 8 < sizeof missing)
                snprintf(missing + at, sizeof missing - at, "%s%s%s", at ? ", " : "", prefix, list[i].name);
            n_missing++;
        }
    }
    if (n_missing)
        return llm_error_set(err, "%s: missing tensor%s %s%s (%d in all)", f->label, n_missing > 1 ? "s" : "",
                             missing, strlen(missing) + 1 < sizeof missing ? "" : "...", n_missing);
    for (int i = 0; i < n; i++) {
        if (!same_shape(found[i], &list[i])) {
            char a[96], b[96];
            shape_text(a, sizeof a, found[i]->ndim, found[i]->shape);
            shape_text(b, sizeof b, list[i].ndim, list[i].shape);
            return llm_error_set(err, "%s: tensor %s has shape %s, the model wants %s", f->label, found[i]->name,
                                 a, b);
        }
        if (!is_float_dtype(found[i]->dtype))
            return llm_error_set(err, "%s: tensor %s: cannot read %s as float", f->label, found[i]->name,
                                 llm_dtype_name(found[i]->dtype));
        for (int j = 0; j < i; j++)
            if (found[j] == found[i])
                return llm_error_set(err, "%s: tensor %s matches two names of the model", f->label,
                                     found[i]->name);
    }
    return 0;
}

int llm_safetensors_load(const llm_safetensors *f, const llm_tensor_desc *list, int n, const char *prefix,
                         int mode, float *data, llm_error *err)
{
    prefix = prefix ? prefix : "";
    const llm_safetensors_tensor **found = calloc(n > 0 ? (size_t)n : 1, sizeof *found);
    unsigned char *used = calloc(f->n ? f->n : 1, 1);
    int rc = 0;
    if (!found || !used) {
        rc = llm_error_set(err, "%s: out of memory", f->label);
        goto done;
    }
    if ((rc = match_all(f, list, n, prefix, mode, found, err)) < 0)
        goto done;
    for (int i = 0; i < n; i++)
        used[found[i] - f->tensors] = 1;
    for (size_t i = 0; i < f->n; i++)
        if (!used[i] && !(mode & LLM_SAFETENSORS_OTHERS) &&
            !((mode & LLM_SAFETENSORS_HF_NAMES) && skippable(&f->tensors[i], list, n))) {
            rc = llm_error_set(err, "%s: unexpected tensor %s (not in the model)", f->label, f->tensors[i].name);
            goto done;
        }
    for (int i = 0; i < n && rc == 0; i++)
        rc = llm_safetensors_read(f, found[i], data + list[i].offset, err);
done:
    free(found);
    free(used);
    return rc;
}
