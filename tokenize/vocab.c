/* llm-tokenize's tokenizer: --tokenizer loaded, extended with the tokens of --add-tokens (one
 * a line) and written by --save-tokenizer as a tokenizer.json that Hugging Face tools load. */
#include "cli.h"
#include "tokenize.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole of a file. 0, or -1 after a message. */
static int read_all(const char *path, llm_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        llm_msg("--add-tokens: %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (llm_buf_reserve(out, 1 << 16) < 0) {
            llm_msg("out of memory");
            close(fd);
            return -1;
        }
        ssize_t k = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            llm_msg("--add-tokens: %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (k == 0)
            break;
        out->len += (size_t)k;
    }
    close(fd);
    return 0;
}

/* The tokens of the file: each line without its newline (and a carriage return before it),
 * blank lines left out, a UTF-8 byte order mark before the first ignored. Returns the count,
 * or -1 after a message. */
static long split_tokens(const char *path, llm_buf *text, const char ***tokens, size_t **lens)
{
    size_t n = 0, cap = 0, line = 0, i = 0;
    *tokens = NULL;
    *lens = NULL;
    if (text->len >= 3 && memcmp(text->data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < text->len) {
        const char *s = text->data + i;
        const char *nl = memchr(s, '\n', text->len - i);
        size_t len = nl ? (size_t)(nl - s) : text->len - i;
        i += len + (nl != NULL);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        if (!llm_utf8_valid(s, len)) {
            llm_msg("--add-tokens: %s:%zu: not valid UTF-8", path, line);
            return -1;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            const char **t = realloc(*tokens, cap * sizeof *t);
            if (t)
                *tokens = t;
            size_t *l = realloc(*lens, cap * sizeof *l);
            if (l)
                *lens = l;
            if (!t || !l) {
                llm_msg("out of memory");
                return -1;
            }
        }
        (*tokens)[n] = s;
        (*lens)[n++] = len;
    }
    return (long)n;
}

/* The name llm_tokenizer_load gives the file at path: its name without .json, or its
 * folder's for a file called tokenizer.json. */
static void name_of(const char *path, char *out, size_t cap)
{
    size_t len = strlen(path);
    const char *b = path + len;
    while (b > path && b[-1] != '/')
        b--;
    size_t k = (size_t)(path + len - b);
    if (k > 5 && strcmp(b + k - 5, ".json") == 0)
        k -= 5;
    if (k == 9 && strncmp(b, "tokenizer", 9) == 0 && b > path + 1) {
        const char *end = b - 1, *d = end;
        while (d > path && d[-1] != '/')
            d--;
        if (end > d) {
            b = d;
            k = (size_t)(end - d);
        }
    }
    snprintf(out, cap, "%.*s", (int)(k < cap ? k : cap - 1), b);
}

/* Writes t's tokenizer.json at path, atomically. 0, or -1 after a message. */
static int save(const llm_tokenizer *t, const char *path, int quiet)
{
    llm_buf json;
    llm_buf_init(&json);
    llm_error err;
    llm_output out;
    if (llm_tokenizer_to_json(t, &json, &err) < 0) {
        llm_msg("--save-tokenizer: %s", err.msg);
        llm_buf_free(&json);
        return -1;
    }
    if (llm_output_open(&out, path, 0, 1, &err) < 0) {
        llm_msg("--save-tokenizer: %s", err.msg);
        llm_buf_free(&json);
        return -1;
    }
    size_t done = 0;
    while (done < json.len) {
        ssize_t k = write(out.fd, json.data + done, json.len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            llm_msg("--save-tokenizer: %s: %s", path, strerror(errno));
            llm_output_abort(&out);
            llm_buf_free(&json);
            return -1;
        }
        done += (size_t)k;
    }
    llm_buf_free(&json);
    if (llm_output_commit(&out, &err) < 0) {
        llm_msg("--save-tokenizer: %s", err.msg);
        return -1;
    }
    if (!quiet)
        llm_msg("wrote %s: %s as a tokenizer.json, %u ids", path, llm_tokenizer_name(t),
                llm_tokenizer_vocab_size(t));
    return 0;
}

/* t extended with the tokens of o->add_tokens. NULL after a message. */
static llm_tokenizer *extend(const tok_opts *o, llm_tokenizer *t)
{
    llm_buf text;
    llm_buf_init(&text);
    const char **tokens = NULL;
    size_t *lens = NULL;
    llm_tokenizer *ext = NULL;
    long n = -1;
    if (read_all(o->add_tokens, &text) == 0)
        n = split_tokens(o->add_tokens, &text, &tokens, &lens);
    if (n >= 0) {
        char name[64];
        llm_added_count c;
        llm_error err;
        if (o->save_tokenizer)
            name_of(o->save_tokenizer, name, sizeof name);
        ext = llm_tokenizer_add_tokens(t, tokens, lens, (size_t)n, o->save_tokenizer && *name ? name : NULL,
                                       &c, &err);
        if (!ext) {
            llm_msg("--add-tokens: %s: %s", o->add_tokens, err.msg);
        } else if (c.added + c.in_vocab == 0) {
            llm_tokenizer_free(ext);    /* nothing changed: the tokenizer stays as it was */
            ext = t;
        }
        if (ext && !o->quiet) {
            char range[64] = "";
            if (c.added)
                snprintf(range, sizeof range, " (ids %u to %u)", c.first_id, c.first_id + (uint32_t)c.added - 1);
            llm_msg("%s: %zu tokens added to %s%s, %zu already in its vocabulary (they keep their ids, "
                    "now matched whole), %zu skipped (repeated, or already added tokens)", o->add_tokens,
                    c.added, llm_tokenizer_name(t), range, c.in_vocab, c.skipped);
        }
    }
    free(tokens);
    free(lens);
    llm_buf_free(&text);
    return ext;
}

llm_tokenizer *tok_tokenizer(const tok_opts *o)
{
    llm_error err;
    llm_tokenizer *t = llm_tokenizer_load_default(o->tokenizer, &err);
    if (!t) {
        llm_msg("%s", err.msg);
        return NULL;
    }
    if (o->add_tokens) {
        llm_tokenizer *ext = extend(o, t);
        if (ext != t)
            llm_tokenizer_free(t);
        if (!(t = ext))
            return NULL;
    }
    if (o->save_tokenizer && save(t, o->save_tokenizer, o->quiet) < 0) {
        llm_tokenizer_free(t);
        return NULL;
    }
    return t;
}
