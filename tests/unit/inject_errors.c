/* An LD_PRELOAD shim that makes output fail on demand, to prove that programs report I/O
 * errors instead of exiting 0 with a short stream (after jq's tests/inject_errors.c).
 *
 *   LLM_FAIL_WRITE_AFTER=N  once N bytes in all have gone to stdout (fd 1) or to any fd >= 3,
 *                           writes fail with ENOSPC; the write that crosses N is cut short, as
 *                           on a full disk. stderr (fd 2) is left alone so that the program's
 *                           message gets out.
 *   LLM_FAIL_CLOSE=1        close() of fd 1, and so fclose(stdout), fails with EIO; the
 *                           descriptor is closed all the same, as on Linux.
 *
 * It covers write, writev and pwrite. glibc's stdio writes through internal calls that LD_PRELOAD
 * cannot reach, so when either variable is set stdout, and streams opened for writing only with
 * fopen or fdopen, become stdio cookie streams whose writes and close come back through here
 * (fileno still gives their descriptor). With neither variable set the shim does nothing.
 * Sanitizer builds that link libasan dynamically need ASAN_OPTIONS=verify_asan_link_order=0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_close)(int);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static FILE *(*real_fdopen)(int, const char *);
static int (*real_fileno)(FILE *);
static int (*real_fileno_unlocked)(FILE *);

static int limit_on, fail_close, active;
static unsigned long long limit, written;

static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "inject_errors: libc symbol not found\n";
        ssize_t k = syscall(1, 2, msg, sizeof msg - 1);   /* SYS_write: real_write may be missing */
        (void)k;
        abort();
    }
    return p;
}

static void resolve(void)
{
    if (real_write)
        return;
    real_writev = next_symbol("writev");
    real_pwrite = next_symbol("pwrite");
    real_pwrite64 = next_symbol("pwrite64");
    real_close = next_symbol("close");
    real_fopen = next_symbol("fopen");
    real_fopen64 = next_symbol("fopen64");
    real_fdopen = next_symbol("fdopen");
    real_fileno = next_symbol("fileno");
    real_fileno_unlocked = next_symbol("fileno_unlocked");
    real_write = next_symbol("write");
}

static int counted(int fd) { return fd == 1 || fd >= 3; }

/* How many of n bytes may go to fd now: n, fewer at the limit, or -1 with errno = ENOSPC. */
static ssize_t allowance(int fd, size_t n)
{
    if (!limit_on || !counted(fd) || n == 0)
        return (ssize_t)n;
    unsigned long long done = __atomic_load_n(&written, __ATOMIC_SEQ_CST);
    if (done >= limit) {
        errno = ENOSPC;
        return -1;
    }
    return (ssize_t)(n < limit - done ? n : limit - done);
}

static void account(int fd, ssize_t k)
{
    if (limit_on && counted(fd) && k > 0)
        __atomic_add_fetch(&written, (unsigned long long)k, __ATOMIC_SEQ_CST);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    resolve();
    ssize_t ok = allowance(fd, n);
    if (ok < 0)
        return -1;
    ssize_t k = real_write(fd, buf, (size_t)ok);
    account(fd, k);
    return k;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    resolve();
    ssize_t ok = allowance(fd, n);
    if (ok < 0)
        return -1;
    ssize_t k = real_pwrite(fd, buf, (size_t)ok, off);
    account(fd, k);
    return k;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    resolve();
    ssize_t ok = allowance(fd, n);
    if (ok < 0)
        return -1;
    ssize_t k = real_pwrite64(fd, buf, (size_t)ok, off);
    account(fd, k);
    return k;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    resolve();
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    ssize_t ok = allowance(fd, total);
    if (ok < 0)
        return -1;
    if ((size_t)ok == total) {
        ssize_t k = real_writev(fd, iov, cnt);
        account(fd, k);
        return k;
    }
    /* Cut short: the first `ok` bytes only. */
    struct iovec cut[64];
    int n = 0;
    size_t left = (size_t)ok;
    for (int i = 0; i < cnt && left > 0 && n < 64; i++, n++) {
        cut[n] = iov[i];
        if (cut[n].iov_len > left)
            cut[n].iov_len = left;
        left -= cut[n].iov_len;
    }
    ssize_t k = real_writev(fd, cut, n);
    account(fd, k);
    return k;
}

int close(int fd)
{
    resolve();
    if (fail_close && fd == 1) {
        real_close(fd);
        errno = EIO;
        return -1;
    }
    return real_close(fd);
}

/* ---- stdio streams whose output comes back through write() and close() above ------- */

#define MAX_STREAMS 256
static struct {
    FILE *f;
    int fd;
} streams[MAX_STREAMS];

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    int fd = (int)(intptr_t)c;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, buf + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;   /* fewer than n: stdio marks the stream's error */
}

static int cookie_seek(void *c, off64_t *pos, int whence)
{
    off64_t r = lseek64((int)(intptr_t)c, *pos, whence);
    if (r < 0)
        return -1;
    *pos = r;
    return 0;
}

static int cookie_close(void *c) { return close((int)(intptr_t)c); }

static FILE *cookie_stream(int fd, const char *mode)
{
    cookie_io_functions_t io = {.read = NULL, .write = cookie_write, .seek = cookie_seek, .close = cookie_close};
    FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
    if (!f)
        return NULL;
    for (int i = 0; i < MAX_STREAMS; i++) {
        FILE *none = NULL;
        if (__atomic_compare_exchange_n(&streams[i].f, &none, f, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            streams[i].fd = fd;
            break;
        }
    }
    return f;
}

static int stream_fd(FILE *f)
{
    for (int i = 0; i < MAX_STREAMS; i++)
        if (__atomic_load_n(&streams[i].f, __ATOMIC_SEQ_CST) == f)
            return streams[i].fd;
    return -1;
}

int fileno(FILE *f)
{
    resolve();
    int fd = active ? stream_fd(f) : -1;
    return fd >= 0 ? fd : real_fileno(f);
}

int fileno_unlocked(FILE *f)
{
    resolve();
    int fd = active ? stream_fd(f) : -1;
    return fd >= 0 ? fd : real_fileno_unlocked(f);
}

/* Only streams that write and never read are taken over. */
static int write_only(const char *mode) { return (mode[0] == 'w' || mode[0] == 'a') && !strchr(mode, '+'); }

static FILE *wrap_opened(FILE *f, const char *mode)
{
    if (!f || !active || !write_only(mode))
        return f;
    int fd = dup(real_fileno(f));
    if (fd < 0)
        return f;
    FILE *g = cookie_stream(fd, mode);
    if (!g) {
        real_close(fd);
        return f;
    }
    fclose(f);     /* nothing was written to it yet */
    return g;
}

FILE *fopen(const char *path, const char *mode)
{
    resolve();
    return wrap_opened(real_fopen(path, mode), mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    resolve();
    return wrap_opened(real_fopen64(path, mode), mode);
}

FILE *fdopen(int fd, const char *mode)
{
    resolve();
    if (!active || !write_only(mode))
        return real_fdopen(fd, mode);
    return cookie_stream(fd, mode);
}

__attribute__((constructor)) static void inject_errors_init(void)
{
    resolve();
    const char *n = getenv("LLM_FAIL_WRITE_AFTER");
    if (n && *n) {
        char *end;
        errno = 0;
        limit = strtoull(n, &end, 10);
        limit_on = errno == 0 && *end == '\0';
    }
    const char *c = getenv("LLM_FAIL_CLOSE");
    fail_close = c && strcmp(c, "1") == 0;
    active = limit_on || fail_close;
    if (!active)
        return;
    FILE *out = cookie_stream(1, "w");
    if (out) {
        if (isatty(1))
            setvbuf(out, NULL, _IOLBF, 0);
        stdout = out;
    }
}
