/* Stream inputs read in order as one (source.h). */
#include "source.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct llm_source {
    char *const *names;
    int n, cur;
    llm_header header;
    llm_reader **kept;       /* readers of inputs that cannot be opened twice */
    llm_reader *reader;
    int fd;                  /* of reader, when ours to close */
    uint64_t bytes_done, total_bytes;
    llm_ledger ledger;       /* of the inputs read to their end, summed */
    uint64_t segments, ledgers;
    uint64_t provenance_missed;   /* inputs with steps met after the header was taken */
    int no_memory;
};

static int is_stdin(const char *name) { return strcmp(name, "-") == 0; }

static int open_input(const char *name, llm_error *err)
{
    if (is_stdin(name))
        return STDIN_FILENO;
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        llm_error_set(err, "%s: %s", name, strerror(errno));
    return fd;
}

static void close_input(int fd)
{
    if (fd > STDIN_FILENO)
        close(fd);
}

int llm_source_fold_header(llm_header *merged, int first, llm_reader *r, const char *name, const char *first_name,
                           llm_error *err)
{
    char why[256];
    if (llm_reader_load_provenance(r) < 0)
        return llm_error_set(err, "%s", llm_reader_error(r));
    const llm_header *h = llm_reader_merged_header(r);
    if (first) {
        llm_header_free(merged);
        return llm_header_copy(merged, h) < 0 ? llm_error_set(err, "out of memory") : 0;
    }
    if (!llm_header_compatible(merged, h, why, sizeof why))
        return llm_error_set(err, "%s: does not match %s: %s (streams merge only when they differ in provenance alone)",
                             name, first_name, why);
    return llm_header_merge_provenance(merged, h) < 0 ? llm_error_set(err, "out of memory") : 0;
}

int llm_source_count_unwritten(const llm_header *written, const llm_reader *r, uint64_t *inputs)
{
    llm_header all;
    if (llm_header_copy(&all, written) < 0)
        return -1;
    int rc = llm_header_merge_provenance(&all, llm_reader_merged_header(r));
    *inputs += rc == 0 && strlen(all.provenance) != strlen(written->provenance);
    llm_header_free(&all);
    return rc;
}

void llm_source_notes(uint64_t unaccounted, size_t ledger_stages, uint64_t provenance_missed)
{
    if (unaccounted && ledger_stages)
        llm_msg("note: %" PRIu64 " of the input streams carry no ledger: the ledger written covers the rest",
                unaccounted);
    if (provenance_missed)
        llm_msg("note: %" PRIu64 " input%s held concatenated streams whose provenance is not in the output header: "
                "they were met after it was written (read from a pipe, or from a file part of which has no index)",
                provenance_missed, provenance_missed == 1 ? "" : "s");
}

/* Regular files are closed after their header is read and opened again when their turn
 * comes, so a thousand inputs do not hold a thousand descriptors and buffers. */
static int read_header(llm_source *s, int i, llm_error *err)
{
    int fd = open_input(s->names[i], err);
    if (fd < 0)
        return -1;
    llm_reader *r = llm_reader_open(fd, s->names[i], err);
    if (!r) {
        close_input(fd);
        return -1;
    }
    int rc = llm_source_fold_header(&s->header, i == 0, r, s->names[i], s->names[0], err);
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular)
        s->total_bytes += (uint64_t)st.st_size;
    if (rc == 0 && (fd == STDIN_FILENO || !regular)) {
        s->kept[i] = r;
        return 0;
    }
    llm_reader_free(r);
    close_input(fd);
    return rc;
}

llm_source *llm_source_open(char *const *names, int n, llm_error *err)
{
    llm_source *s = calloc(1, sizeof *s);
    if (s)
        llm_ledger_init(&s->ledger);
    if (!s || !(s->kept = calloc((size_t)n, sizeof *s->kept)) || llm_header_init(&s->header) < 0) {
        if (s)
            free(s->kept);
        free(s);
        llm_error_set(err, "out of memory");
        return NULL;
    }
    s->names = names;
    s->n = n;
    s->fd = -1;
    for (int i = 0; i < n; i++) {
        if (read_header(s, i, err) < 0) {
            llm_source_free(s);
            return NULL;
        }
    }
    return s;
}

static void close_current(llm_source *s)
{
    if (s->reader) {
        s->bytes_done += llm_reader_offset(s->reader);
        s->segments += llm_reader_segments(s->reader);
        s->ledgers += llm_reader_ledgers(s->reader);
        if (llm_ledger_merge(&s->ledger, llm_reader_ledger(s->reader)) < 0)
            s->no_memory = 1;
        if (llm_source_count_unwritten(&s->header, s->reader, &s->provenance_missed) < 0)
            s->no_memory = 1;
    }
    llm_reader_free(s->reader);
    close_input(s->fd);
    s->reader = NULL;
    s->fd = -1;
}

void llm_source_free(llm_source *s)
{
    if (!s)
        return;
    close_current(s);
    for (int i = 0; i < s->n; i++)
        llm_reader_free(s->kept[i]);
    free(s->kept);
    llm_header_free(&s->header);
    llm_ledger_free(&s->ledger);
    free(s);
}

const llm_header *llm_source_header(const llm_source *s) { return &s->header; }

static int open_current(llm_source *s, llm_error *err)
{
    if (s->kept[s->cur]) {
        s->reader = s->kept[s->cur];
        s->kept[s->cur] = NULL;
        return 0;
    }
    s->fd = open_input(s->names[s->cur], err);
    if (s->fd < 0)
        return -1;
    s->reader = llm_reader_open(s->fd, s->names[s->cur], err);
    return s->reader ? 0 : -1;
}

int llm_source_next(llm_source *s, llm_record *rec, llm_error *err)
{
    while (s->cur < s->n) {
        if (!s->reader && open_current(s, err) < 0)
            return -1;
        int rc = llm_reader_next(s->reader, rec);
        if (rc > 0)
            return 1;
        if (rc < 0)
            return llm_error_set(err, "%s", llm_reader_error(s->reader));
        close_current(s);
        if (s->no_memory)
            return llm_error_set(err, "out of memory");
        s->cur++;
    }
    return 0;
}

const llm_ledger *llm_source_ledger(const llm_source *s) { return &s->ledger; }
uint64_t llm_source_unaccounted(const llm_source *s) { return s->segments - s->ledgers; }
uint64_t llm_source_provenance_missed(const llm_source *s) { return s->provenance_missed; }

uint64_t llm_source_bytes(const llm_source *s)
{
    return s->bytes_done + (s->reader ? llm_reader_offset(s->reader) : 0);
}

uint64_t llm_source_total_bytes(const llm_source *s) { return s->total_bytes; }
