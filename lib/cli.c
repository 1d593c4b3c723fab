/* Command-line plumbing shared by every program (see cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *program_name = "llm";

/* Temporary outputs to remove if a signal ends the program. Plain array: the handler may
 * only use async-signal-safe calls. */
#define MAX_TEMPS 8
static char *volatile temps[MAX_TEMPS];

static void remove_temps_and_die(int sig)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (temps[i])
            unlink(temps[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void llm_cli_init(const char *program)
{
    program_name = program;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_temps_and_die;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

const char *llm_cli_program(void) { return program_name; }

LLM_PRINTF(1, 0)
static void vmsg(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", program_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void llm_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int llm_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", program_name);
    return LLM_EXIT_USAGE;
}

/* Whether arg is a group of short options (-qZ) that holds c. */
static int short_group_has(const char *arg, int c)
{
    return arg && arg[0] == '-' && arg[1] && arg[1] != '-' && strchr(arg + 1, c);
}

int llm_bad_option_error(int argc, char **argv)
{
    static const char what[] = "unknown option, or one missing its value";
    /* getopt moves optind past a group of short options only at its last letter. */
    if (optopt > 0 && optopt < 128 &&
        (short_group_has(argv[optind - 1], optopt) || (optind < argc && short_group_has(argv[optind], optopt))))
        return llm_usage_error("%s: '-%c'", what, optopt);
    return llm_usage_error("%s: '%s'", what, argv[optind - 1]);
}

/* ---- numbers ---------------------------------------------------------------------- */

int llm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')     /* strtoull would accept " -1" as a huge number */
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int llm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int llm_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int llm_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (shift && (*end == 'i' || *end == 'B'))
        end += *end == 'i' && end[1] == 'B' ? 2 : 1;
    if (errno || *end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    v <<= shift;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int llm_parse_choice(const char *arg, const char *const names[], int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(arg, names[i]) == 0)
            return i;
    return -1;
}

int llm_choice_option(const char *option, const char *arg, const char *const names[], int n, int *out)
{
    int k = llm_parse_choice(arg, names, n);
    if (k >= 0) {
        *out = k;
        return -1;
    }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? (i == n - 1 ? " or " : ", ") : "",
                 names[i]);
    return llm_usage_error("--%s: expected %s, got '%s'", option, list, arg);
}

int llm_input_args(char **args, int n, char ***inputs, int *n_inputs)
{
    static char *stdin_only[] = {"-", NULL};
    *inputs = n ? args : stdin_only;
    *n_inputs = n ? n : 1;
    for (int i = 0, stdin_seen = 0; i < *n_inputs; i++)
        if (strcmp((*inputs)[i], "-") == 0 && stdin_seen++)
            return llm_usage_error("standard input (-) can be read only once");
    return -1;
}

int llm_flush_stdout(void)
{
    int failed = fflush(stdout) != 0 || ferror(stdout);
    if (fclose(stdout) != 0)    /* where a delayed error (NFS, a full disk) shows up */
        failed = 1;
    if (!failed)
        return LLM_EXIT_OK;
    llm_msg("write error on standard output: %s", strerror(errno));
    return LLM_EXIT_FAILURE;
}

int llm_parse_shard(const char *s, uint64_t *k, uint64_t *n)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char head[32];
    if (!slash || (size_t)(slash - s) >= sizeof head)
        return -1;
    memcpy(head, s, (size_t)(slash - s));
    head[slash - s] = '\0';
    if (llm_parse_u64(slash + 1, 1, UINT32_MAX, n) < 0 || llm_parse_u64(head, 0, *n - 1, k) < 0)
        return -1;
    return 0;
}

/* ---- output ----------------------------------------------------------------------- */

static int isatty_path(const char *path)
{
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    int tty = fd >= 0 && isatty(fd);
    if (fd >= 0)
        close(fd);
    return tty;
}

static void forget_temp(const char *tmp)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (temps[i] == tmp)
            temps[i] = NULL;
}

/* Where the symbolic link path ends up (malloc'd): its resolved path, or for a link to a
 * file not made yet, the link's own target (beside the link when relative). NULL with
 * errno set. */
static char *link_target(const char *path)
{
    char *real = realpath(path, NULL);
    if (real || errno != ENOENT)
        return real;
    char to[PATH_MAX];
    ssize_t n = readlink(path, to, sizeof to - 1);
    if (n < 0)
        return NULL;
    to[n] = '\0';
    const char *slash = strrchr(path, '/');
    int dirlen = to[0] != '/' && slash ? (int)(slash - path) + 1 : 0;
    char *out = malloc((size_t)dirlen + (size_t)n + 1);
    if (out)
        sprintf(out, "%.*s%s", dirlen, path, to);
    return out;
}

int llm_output_open(llm_output *o, const char *path, int binary, int force, llm_error *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        if (binary && !force && isatty(STDOUT_FILENO))
            return llm_error_set(err, "refusing to write a binary stream to a terminal (use -o FILE, "
                                      "a pipe, or -f to force)");
        o->fd = STDOUT_FILENO;
        return 0;
    }
    /* A device, a FIFO or a terminal (/dev/null, /dev/stdout, a named pipe) is written as
     * it is: there is nothing to rename, and renaming onto it would replace it. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (binary && !force && S_ISCHR(st.st_mode) && isatty_path(path))
            return llm_error_set(err, "%s: refusing to write a binary stream to a terminal", path);
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            return llm_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        o->path = strdup(path);
        return 0;
    }
    /* A symbolic link is written through, as a plain open would: the temporary file goes
     * beside its target and is renamed onto that, leaving the link a link. */
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && !(target = link_target(path))) {
        llm_output_abort(o);
        return llm_error_set(err, "%s: cannot follow the link: %s", path, strerror(errno));
    }
    o->path = target ? target : strdup(path);
    path = o->path ? o->path : path;
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    o->tmp = malloc(strlen(path) + 16);
    if (!o->path || !o->tmp) {
        llm_output_abort(o);
        return llm_error_set(err, "out of memory");
    }
    /* Same directory, so that rename is atomic; hidden, so globs do not pick it up. */
    sprintf(o->tmp, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        llm_error_set(err, "%s: cannot create: %s", path, strerror(errno));    /* before o->path is freed */
        free(o->tmp);
        o->tmp = NULL;
        llm_output_abort(o);
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(o->fd, 0666 & ~mask);    /* mkstemp's 0600 is not what a plain create gives */
    for (int i = 0; i < MAX_TEMPS; i++)
        if (!temps[i]) {
            temps[i] = o->tmp;
            break;
        }
    return 0;
}

FILE *llm_output_file(llm_output *o)
{
    if (!o->fp) {
        o->fp = o->fd == STDOUT_FILENO ? stdout : fdopen(o->fd, "w");
        if (o->fp)
            setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    }
    return o->fp;
}

int llm_output_commit(llm_output *o, llm_error *err)
{
    int failed = 0, e = 0;
    if (o->fp) {
        if (fflush(o->fp) != 0 || ferror(o->fp))
            failed = 1, e = errno;
        if (fclose(o->fp) != 0 && !failed)
            failed = 1, e = errno;
    } else if (o->fd >= 0 && close(o->fd) != 0) {
        failed = 1, e = errno;
    }
    o->fp = NULL;
    o->fd = -1;
    if (!failed && o->tmp && rename(o->tmp, o->path) != 0)
        failed = 1, e = errno;
    if (failed) {
        llm_error_set(err, "%s: write error: %s", llm_output_name(o), strerror(e ? e : EIO));
        llm_output_abort(o);
        return -1;
    }
    forget_temp(o->tmp);
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return 0;
}

void llm_output_abort(llm_output *o)
{
    if (!o)
        return;
    if (o->fp && o->fp != stdout)
        fclose(o->fp);
    else if (!o->fp && o->fd > STDOUT_FILENO)
        close(o->fd);
    o->fp = NULL;
    o->fd = -1;
    if (o->tmp) {
        unlink(o->tmp);
        forget_temp(o->tmp);
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
}

const char *llm_output_name(const llm_output *o)
{
    return o->path ? o->path : "(stdout)";
}

/* ---- progress --------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void llm_progress_start(llm_progress *p, int quiet, uint64_t total_bytes)
{
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->start = p->last = now_seconds();
    p->total_bytes = total_bytes;
}

void llm_progress_update(llm_progress *p, uint64_t records, uint64_t bytes)
{
    /* Reading the clock per record would cost more than some records take. */
    if (!p->enabled || (++p->calls & 1023) != 0)
        return;
    double t = now_seconds();
    if (t - p->last < 0.25)
        return;
    p->last = t;
    double rate = bytes / (t - p->start) / 1e6;
    fprintf(stderr, "\r%s: %" PRIu64 " records, %.1f MB, %.1f MB/s", program_name, records, bytes / 1e6, rate);
    if (p->total_bytes > bytes && rate > 0) {
        double eta = (p->total_bytes - bytes) / 1e6 / rate;
        fprintf(stderr, ", %.0f%%, ETA %d:%02d", 100.0 * bytes / p->total_bytes, (int)eta / 60, (int)eta % 60);
    }
    fputs("\033[K", stderr);
    p->drawn = 1;
}

void llm_progress_end(llm_progress *p)
{
    if (p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

char **llm_provenance_argv(int argc, char **argv, int *count)
{
    static const char *const with_value[] = {"-j", "--threads", "-o", "--output"};
    static const char *const flags[] = {"-q", "--quiet", "-f", "--force"};
    char **out = malloc(((size_t)argc + 1) * sizeof *out);
    if (!out) {
        llm_msg("out of memory");
        return NULL;
    }
    int n = 0, options = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int drop = 0;
        if (i > 0 && options) {
            if (strcmp(a, "--") == 0)
                options = 0;
            for (int k = 0; k < 4 && !drop; k++) {
                size_t len = strlen(with_value[k]);
                if (strcmp(a, with_value[k]) == 0) {
                    drop = 1;
                    i += i + 1 < argc;    /* its value too */
                } else if (strncmp(a, with_value[k], len) == 0 && a[len] == (k % 2 ? '=' : a[len]) && a[len]) {
                    drop = 1;    /* -j4, --threads=4 */
                }
                drop = drop || strcmp(a, flags[k]) == 0;
            }
        }
        if (!drop)
            out[n++] = argv[i];
    }
    out[n] = NULL;
    *count = n;
    return out;
}

int llm_level_option(const char *arg, int *out)
{
    uint64_t v;
    if (llm_parse_u64(arg, 1, 22, &v) < 0)
        return llm_usage_error("--level: expected 1 to 22, got '%s'", arg);
    *out = (int)v;
    return -1;
}

int llm_threads_option(const char *arg, unsigned *out)
{
    uint64_t v;
    if (llm_parse_u64(arg, 1, 1024, &v) < 0)
        return llm_usage_error("--threads: expected 1 to 1024, got '%s'", arg);
    *out = (unsigned)v;
    return -1;
}

int llm_max_drop_option(const char *arg, double *out)
{
    if (llm_parse_double(arg, 0, 100, out) < 0)
        return llm_usage_error("--max-drop: expected a percentage from 0 to 100, got '%s'", arg);
    return -1;
}

int llm_output_option(const char *option, const char *arg, const char **out)
{
    if (!*arg)
        return llm_usage_error("--%s: the file name is empty", option);
    *out = arg;
    return -1;
}

static int is_stdout(const char *path) { return !path || strcmp(path, "-") == 0; }

/* The directory part of a path, "." when it has none: where the file would be created. */
static int stat_parent(const char *path, struct stat *st)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return stat(".", st);
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = strndup(path, len);
    int rc = dir ? stat(dir, st) : -1;
    free(dir);
    return rc;
}

/* Whether two output names reach one regular file: `x`, `./x` and a link to x all do. Two
 * outputs on /dev/null or a terminal do not clash: nothing is renamed over them. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int a_exists = stat(a, &sa) == 0, b_exists = stat(b, &sb) == 0;
    if (a_exists || b_exists)
        return a_exists && b_exists && S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (strcmp(a, b) == 0)
        return 1;
    const char *base_a = strrchr(a, '/'), *base_b = strrchr(b, '/');
    if (strcmp(base_a ? base_a + 1 : a, base_b ? base_b + 1 : b) != 0)
        return 0;
    return stat_parent(a, &sa) == 0 && stat_parent(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int llm_outputs_apart(const char *const names[], const char *const paths[], int n, const char *stdout_has,
                      char *const inputs[], int n_inputs)
{
    for (int i = 1; i < n; i++) {
        if (!paths[i])
            continue;
        if (is_stdout(paths[i])) {
            if (is_stdout(paths[0]))
                return llm_usage_error("--%s: give a file name: standard output has the %s (or give -o FILE)",
                                       names[i], stdout_has);
            for (int j = 1; j < i; j++)
                if (paths[j] && is_stdout(paths[j]))
                    return llm_usage_error("--%s and --%s both name standard output", names[j], names[i]);
            continue;
        }
        for (int j = 0; j < i; j++)
            if (!is_stdout(paths[j]) && same_file(paths[i], paths[j]))
                return llm_usage_error("--%s and --%s name the same file", names[j], names[i]);
        for (int j = 0; j < n_inputs; j++)
            if (!is_stdout(inputs[j]) && same_file(paths[i], inputs[j]))
                return llm_usage_error("--%s would overwrite the input %s (only -o may replace an input)", names[i],
                                       inputs[j]);
    }
    return -1;
}

unsigned llm_default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
}

uint64_t llm_inputs_size(char *const *inputs, int n)
{
    uint64_t total = 0;
    struct stat st;
    for (int i = 0; i < n; i++) {
        if (strcmp(inputs[i], "-") == 0 || stat(inputs[i], &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        total += (uint64_t)st.st_size;
    }
    return total;
}
