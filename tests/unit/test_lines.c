/* Unit tests for lib/lines.c: content goes through a temporary file or a pipe and comes
 * back line by line with numbers, offsets and the padding simdjson needs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "json.h"
#include "lines.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A temporary file holding data, positioned at its start; -1 on failure. */
static int temp_fd(const char *data, size_t n)
{
    FILE *f = tmpfile();
    if (f == NULL)
        return -1;
    int fd = dup(fileno(f));
    fclose(f);   /* the dup keeps the unlinked file alive */
    if (fd < 0)
        return -1;
    if (write_all(fd, data, n) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads every line of fd and checks it against want[] (NULL-terminated). Also checks
 * that the 64 bytes after each line can be read, which ASan and valgrind verify. */
static void expect_lines(int fd, const char *const *want, const size_t *want_len)
{
    llm_lines *l = llm_lines_open(fd);
    CHECK(l != NULL);
    if (l == NULL)
        return;
    const char *line;
    size_t len;
    llm_error err;
    uint64_t offset = 0;
    size_t i = 0;
    int rc;
    while ((rc = llm_lines_next(l, &line, &len, &err)) == 1) {
        CHECKF(want[i] != NULL, "extra line %zu", i);
        if (want[i] == NULL)
            break;
        size_t n = want_len ? want_len[i] : strlen(want[i]);
        CHECKF(len == n && memcmp(line, want[i], n) == 0, "line %zu: len %zu", i, len);
        CHECK(llm_lines_number(l) == i + 1);
        CHECK(llm_lines_offset(l) == offset);
        volatile char sink = 0;
        for (size_t k = 0; k < LLM_JSON_PADDING; k++)
            sink ^= line[len + k];
        (void)sink;
        offset = llm_lines_bytes(l);
        i++;
    }
    CHECKF(rc == 0, "rc %d", rc);
    CHECKF(want[i] == NULL, "missing line %zu", i);
    CHECK(llm_lines_next(l, &line, &len, &err) == 0);   /* stays at the end */
    llm_lines_close(l);
}

static void expect_text(const char *text, size_t n, const char *const *want,
                        const size_t *want_len)
{
    int fd = temp_fd(text, n);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    expect_lines(fd, want, want_len);
    close(fd);
}

static void test_empty_input(void)
{
    static const char *const none[] = {NULL};
    expect_text("", 0, none, NULL);

    int p[2];
    CHECK(pipe(p) == 0);
    close(p[1]);
    llm_lines *l = llm_lines_open(p[0]);
    const char *line;
    size_t len;
    llm_error err;
    CHECK(llm_lines_next(l, &line, &len, &err) == 0);
    CHECK(llm_lines_number(l) == 0 && llm_lines_bytes(l) == 0);
    llm_lines_close(l);
    close(p[0]);
    llm_lines_close(NULL);
}

static void test_shapes(void)
{
    static const char *const one[] = {"abc", NULL};
    expect_text("abc", 3, one, NULL);        /* no trailing newline */
    expect_text("abc\n", 4, one, NULL);
    static const char *const blank[] = {"", NULL};
    expect_text("\n", 1, blank, NULL);
    static const char *const blanks[] = {"", "", "x", "", NULL};
    expect_text("\n\nx\n\n", 5, blanks, NULL);
    static const char *const crlf[] = {"a\r", "b\r", "\r", "c", NULL};
    expect_text("a\r\nb\r\n\r\nc", 9, crlf, NULL);
    /* NUL bytes are data, not ends. */
    static const char *const nul[] = {"a\0b", "\0", NULL};
    static const size_t nul_len[] = {3, 1};
    expect_text("a\0b\n\0\n", 6, nul, nul_len);
}

static void test_offsets_and_numbers(void)
{
    int fd = temp_fd("ab\n\ncde\r\nf", 10);
    CHECK(fd >= 0);
    llm_lines *l = llm_lines_open(fd);
    const char *line;
    size_t len;
    llm_error err;
    CHECK(llm_lines_number(l) == 0 && llm_lines_bytes(l) == 0);
    static const struct {
        uint64_t number, offset, bytes;
        size_t len;
    } want[] = {{1, 0, 3, 2}, {2, 3, 4, 0}, {3, 4, 9, 4}, {4, 9, 10, 1}};
    for (size_t i = 0; i < 4; i++) {
        CHECK(llm_lines_next(l, &line, &len, &err) == 1);
        CHECK(len == want[i].len);
        CHECKF(llm_lines_number(l) == want[i].number && llm_lines_offset(l) == want[i].offset &&
                   llm_lines_bytes(l) == want[i].bytes,
               "line %zu: %llu %llu %llu", i, (unsigned long long)llm_lines_number(l),
               (unsigned long long)llm_lines_offset(l), (unsigned long long)llm_lines_bytes(l));
    }
    CHECK(llm_lines_next(l, &line, &len, &err) == 0);
    CHECK(llm_lines_number(l) == 4 && llm_lines_bytes(l) == 10);
    llm_lines_close(l);
    close(fd);
}

/* Line i is i % 300 copies of a letter, so lengths cross the buffer's edges often. */
static size_t many_line_len(size_t i)
{
    return (i * 7919) % 300;
}

static size_t many_lines_text(char *out, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = many_line_len(i);
        if (out) {
            memset(out + n, 'a' + (int)(i % 26), len);
            out[n + len] = '\n';
        }
        n += len + 1;
    }
    return n;
}

/* The text of many_lines_text, malloc'ed; its size in *total. */
static char *many_lines_new(size_t count, size_t *total)
{
    *total = many_lines_text(NULL, count);
    char *text = malloc(*total);
    CHECK(text != NULL);
    many_lines_text(text, count);
    return text;
}

static void check_many_lines(int fd, size_t count, size_t total)
{
    llm_lines *l = llm_lines_open(fd);
    CHECK(l != NULL);
    const char *line;
    size_t len;
    llm_error err;
    uint64_t offset = 0;
    size_t i = 0;
    while (llm_lines_next(l, &line, &len, &err) == 1) {
        size_t want = many_line_len(i);
        int ok = len == want && llm_lines_number(l) == i + 1 && llm_lines_offset(l) == offset;
        for (size_t k = 0; ok && k < len; k++)
            ok = line[k] == 'a' + (int)(i % 26);
        CHECKF(ok, "line %zu: len %zu want %zu", i, len, want);
        if (!ok)
            break;
        offset += len + 1;
        i++;
    }
    CHECKF(i == count, "%zu lines, want %zu", i, count);
    CHECK(llm_lines_bytes(l) == total);
    llm_lines_close(l);
}

static void test_many_short_lines_file(void)
{
    size_t count = 200000;
    size_t total;
    char *text = many_lines_new(count, &total);
    int fd = temp_fd(text, total);
    CHECK(fd >= 0);
    check_many_lines(fd, count, total);
    close(fd);
    free(text);
}

/* A pipe fed by a child in small odd-sized writes, so reads return short. */
static int pipe_from_child(const char *text, size_t total, pid_t *pid)
{
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    *pid = fork();
    CHECK(*pid >= 0);
    if (*pid == 0) {
        close(p[0]);
        size_t chunk = 1;
        for (size_t at = 0; at < total; at += chunk, chunk = chunk % 997 + 13) {
            size_t n = total - at < chunk ? total - at : chunk;
            if (write_all(p[1], text + at, n) < 0)
                _exit(1);
        }
        free((void *)text);   /* tidy for valgrind's leak report of the child */
        _exit(0);
    }
    close(p[1]);
    return p[0];
}

static void wait_child(pid_t pid)
{
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_many_short_lines_pipe(void)
{
    size_t count = 20000;
    size_t total;
    char *text = many_lines_new(count, &total);
    pid_t pid;
    int fd = pipe_from_child(text, total, &pid);
    check_many_lines(fd, count, total);
    close(fd);
    wait_child(pid);
    free(text);
}

/* Stretches of whole lines taken with llm_lines_peek and llm_lines_skip, a line read
 * with llm_lines_next between them: every byte comes back once, in order, with the
 * padding readable after what peek shows. */
static void check_peek_skip(int fd, const char *text, size_t total, size_t count)
{
    llm_lines *l = llm_lines_open(fd);
    CHECK(l != NULL);
    const char *p, *line;
    size_t len, at = 0, lines = 0, want = 1;
    int stable, got;
    llm_error err;
    while ((got = llm_lines_peek(l, want, &p, &len, &stable, &err)) == 1) {
        CHECKF(len >= want || at + len == total, "peek %zu at %zu: %zu bytes", want, at, len);
        CHECKF(at + len <= total && memcmp(p, text + at, len) == 0, "peek at %zu", at);
        volatile char sink = 0;
        for (size_t k = 0; k < LLM_JSON_PADDING; k++)
            sink ^= p[len + k];
        (void)sink;
        const char *nl = memrchr(p, '\n', len < want ? len : want);
        if (nl) {
            size_t cut = (size_t)(nl - p) + 1;
            for (size_t k = 0; k < cut; k++)
                lines += p[k] == '\n';
            llm_lines_skip(l, cut);
            at += cut;
        }
        if (llm_lines_next(l, &line, &len, &err) != 1)
            break;
        CHECKF(len == many_line_len(lines) && memcmp(line, text + at, len) == 0, "line %zu", lines);
        at += len + 1;
        lines++;
        want = want * 3 % 500000 + 1;
    }
    CHECK(got >= 0);
    CHECKF(at >= total && lines == count, "%zu of %zu bytes, %zu of %zu lines", at, total, lines, count);
    CHECK(llm_lines_bytes(l) == total);
    CHECK(llm_lines_peek(l, 1, &p, &len, &stable, &err) == 0);
    llm_lines_close(l);
}

static void test_peek_skip(void)
{
    size_t count = 60000;
    size_t total;
    char *text = many_lines_new(count, &total);
    int fd = temp_fd(text, total);    /* mapped: over a MiB */
    CHECK(fd >= 0);
    check_peek_skip(fd, text, total, count);
    close(fd);
    pid_t pid;
    fd = pipe_from_child(text, total, &pid);
    check_peek_skip(fd, text, total, count);
    close(fd);
    wait_child(pid);
    free(text);
}

static void test_long_line(void)
{
    size_t big = 20u << 20;
    size_t n = 3 + big + 1 + 2;   /* "ab\n", the long line, "\n", "cd" */
    char *text = malloc(n);
    CHECK(text != NULL);
    if (text == NULL)
        return;
    memcpy(text, "ab\n", 3);
    for (size_t i = 0; i < big; i++)
        text[3 + i] = (char)('0' + i % 10);
    memcpy(text + 3 + big, "\ncd", 3);
    int fd = temp_fd(text, n);
    CHECK(fd >= 0);
    llm_lines *l = llm_lines_open(fd);
    const char *line;
    size_t len;
    llm_error err;
    CHECK(llm_lines_next(l, &line, &len, &err) == 1 && len == 2 && memcmp(line, "ab", 2) == 0);
    CHECK(llm_lines_next(l, &line, &len, &err) == 1);
    CHECKF(len == big && memcmp(line, text + 3, big) == 0, "len %zu", len);
    CHECK(llm_lines_offset(l) == 3);
    /* The padding after a long line is readable too. */
    volatile char sink = 0;
    for (size_t k = 0; k < LLM_JSON_PADDING; k++)
        sink ^= line[len + k];
    (void)sink;
    CHECK(llm_lines_next(l, &line, &len, &err) == 1 && len == 2 && memcmp(line, "cd", 2) == 0);
    CHECK(llm_lines_number(l) == 3 && llm_lines_bytes(l) == n);
    CHECK(llm_lines_next(l, &line, &len, &err) == 0);
    llm_lines_close(l);
    close(fd);
    free(text);
}

/* Lines go straight to simdjson with padded=1: the reason this reader exists. */
static void test_lines_parse_padded(void)
{
    const char *text = "{\"id\":1,\"text\":\"a\"}\n[1,2,3]\r\n\"tail\"";
    int fd = temp_fd(text, strlen(text));
    llm_lines *l = llm_lines_open(fd);
    llm_json_parser *p = llm_json_parser_new();
    const char *line;
    size_t len;
    llm_error err;
    llm_json root;
    static const llm_json_type types[] = {LLM_JSON_OBJECT, LLM_JSON_ARRAY, LLM_JSON_STRING};
    int n = 0;
    while (llm_lines_next(l, &line, &len, &err) == 1) {
        CHECKF(llm_json_parse(p, line, len, 1, &root, &err) == 0, "line %d: %s", n, err.msg);
        CHECK(n < 3 && llm_json_type_of(root) == types[n]);
        n++;
    }
    CHECK(n == 3);
    llm_json_parser_free(p);
    llm_lines_close(l);
    close(fd);
}

static void test_read_error(void)
{
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    llm_lines *l = llm_lines_open(fd);
    const char *line;
    size_t len;
    llm_error err = {""};
    CHECK(llm_lines_next(l, &line, &len, &err) == -1);
    CHECKF(strstr(err.msg, strerror(EISDIR)) != NULL, "%s", err.msg);
    llm_lines_close(l);
    close(fd);
}

/* A large file is mapped: lines come from the mapping (stable) from the fd's position on,
 * the last ones, too near the end for the padding, from the buffer; bytes appended after
 * the open are read on; the fd is left after the bytes consumed. */
static void check_mapped(size_t size, off_t start, int last_newline)
{
    char *text = malloc(size);
    CHECK(text != NULL);
    size_t line_len = 1000;
    for (size_t i = 0; i < size; i++)
        text[i] = i % line_len == line_len - 1 ? '\n' : (char)('a' + i / line_len % 26);
    text[size - 1] = last_newline ? '\n' : 'z';
    int fd = temp_fd(text, size);
    CHECK(fd >= 0 && lseek(fd, start, SEEK_SET) == start);
    llm_lines *l = llm_lines_open(fd);
    CHECK(l != NULL);
    const char *line;
    size_t len, at = (size_t)start, stable = 0, lines = 0;
    llm_error err;
    int appended = 0, rc;
    while ((rc = llm_lines_next(l, &line, &len, &err)) == 1) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t want = nl ? (size_t)(nl - (text + at)) : size - at;
        CHECKF(len == want && memcmp(line, text + at, len) == 0, "line at %zu: len %zu, want %zu", at, len, want);
        if (len != want)
            break;
        volatile char sink = 0;
        for (size_t k = 0; k < LLM_JSON_PADDING; k++)
            sink ^= line[len + k];
        (void)sink;
        stable += (size_t)llm_lines_stable(l);
        llm_lines_release(l, line);
        at += len + (nl != NULL);
        lines++;
        if (!appended && at >= size / 2) {
            /* Grown after the open: read on after the mapped bytes. */
            CHECK(pwrite(fd, "tail\n", 5, (off_t)size) == 5);
            appended = 1;
        }
        if (at >= size)
            break;
    }
    CHECKF(at == size, "stopped at %zu of %zu", at, size);
    /* Without room for the padding before the mapping's last page ends, the last line is
     * read into the buffer; else every line is stable. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(stable > 0 && (size % page == 0 ? stable < lines : stable == lines));
    if (last_newline) {
        CHECK(llm_lines_next(l, &line, &len, &err) == 1 && len == 4 && memcmp(line, "tail", 4) == 0);
        CHECK(!llm_lines_stable(l));
    }
    uint64_t consumed = llm_lines_bytes(l);
    llm_lines_close(l);
    CHECK(lseek(fd, 0, SEEK_CUR) == start + (off_t)consumed);
    close(fd);
    free(text);
}

static void test_mapped_file(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    check_mapped(3u << 20, 0, 1);                   /* ends at a page boundary */
    check_mapped((3u << 20) + 123, 0, 0);           /* a last line without '\n' */
    check_mapped((3u << 20) + 4000, (off_t)page + 1000, 1);  /* from an unaligned position */
}

int main(void)
{
    RUN(test_empty_input);
    RUN(test_shapes);
    RUN(test_offsets_and_numbers);
    RUN(test_many_short_lines_file);
    RUN(test_many_short_lines_pipe);
    RUN(test_peek_skip);
    RUN(test_long_line);
    RUN(test_mapped_file);
    RUN(test_lines_parse_padded);
    RUN(test_read_error);
    CHECK_EXIT();
}
