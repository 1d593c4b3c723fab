/* Runs a fuzz target over saved inputs without libFuzzer, for `make test`: every file named on
 * the command line, every file in a named folder and in the folders directly inside it. Prints
 * "ok replay NAME (N inputs)" per argument, or FAIL; a crash names the input it was on. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char current[4096];

/* A crash inside the target: say which input, then die of the same signal. */
static void on_signal(int sig)
{
    static const char pre[] = "FAIL replay: crashed on input ";
    ssize_t k = write(2, pre, sizeof pre - 1);
    k += write(2, current, strlen(current));
    k += write(2, "\n", 1);
    (void)k;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs one file; the buffer is exactly its size so that a sanitizer sees any overread. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (n == cap)
            p = realloc(p, cap *= 2);
        size_t k = fread(p + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(p);
        return -1;
    }
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, p, n);
    free(p);
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int not_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Runs every file in dir (sorted), and those of its subfolders while depth > 0. Returns the
 * number of inputs run, or -1 on an error. */
static long run_dir(const char *dir, int depth)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    long count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (count >= 0 && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth > 0) {
                long k = run_dir(path, depth - 1);
                count = k < 0 ? -1 : count + k;
            } else if (S_ISREG(st.st_mode)) {
                count = run_file(path) < 0 ? -1 : count + 1;
            }
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int failed = 0;
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long count;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            count = -1;
        } else if (S_ISDIR(st.st_mode)) {
            count = run_dir(argv[i], 1);
        } else {
            count = run_file(argv[i]) < 0 ? -1 : 1;
        }
        if (count > 0) {
            printf("ok replay %s (%ld inputs)\n", argv[i], count);
        } else {
            printf("FAIL replay %s (%s)\n", argv[i], count == 0 ? "no inputs" : "unreadable");
            failed = 1;
        }
        fflush(stdout);
    }
    return failed;
}
