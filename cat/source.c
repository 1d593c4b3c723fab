/* llm-cat's input side: the inputs in order as one sequence of records, with the merged
 * header, --shard/--skip/--head selection and the account of every record read. */
#include "cat.h"
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cat_source {
    const cat_opts *o;
    llm_header header;
    llm_reader **kept;         /* readers of inputs that cannot be opened twice (pipes) */
    int cur;                   /* input being read; n_inputs when done */
    int fd;
    llm_reader *reader;
    cat_import *import;

    uint64_t seen, out, other_shards, skipped, import_skipped, skip_left;
    uint64_t bytes_done;
    int stopped_by_head;
    llm_ledger ledger;         /* of the stream inputs opened so far, summed */
    uint64_t unaccounted;      /* of those, streams or parts of them with no ledger */
    uint64_t provenance_missed;   /* inputs with steps met after the header was written */
    int no_memory;
    llm_progress progress;
};

static int is_stdin(const char *name) { return strcmp(name, "-") == 0; }

static int open_input(const char *name)
{
    if (is_stdin(name))
        return STDIN_FILENO;
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        llm_msg("%s: %s", name, strerror(errno));
    return fd;
}

static void close_input(int fd)
{
    if (fd > STDIN_FILENO)
        close(fd);
}

static int is_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads every stream input's header: the first defines the output, the others must match
 * it. Standard input and pipes cannot be read twice: they keep their reader for the
 * second pass. */
static int merge_headers(cat_source *s)
{
    const cat_opts *o = s->o;
    llm_error e;
    for (int i = 0; i < o->n_inputs; i++) {
        int fd = open_input(o->inputs[i]);
        if (fd < 0)
            return -1;
        llm_reader *r = llm_reader_open(fd, o->inputs[i], &e);
        int rc = r ? llm_source_fold_header(&s->header, i == 0, r, o->inputs[i], o->inputs[0], &e) : -1;
        if (rc < 0)
            llm_msg("%s", e.msg);
        if (rc == 0 && (fd == STDIN_FILENO || !is_regular(fd))) {
            s->kept[i] = r;
            continue;
        }
        llm_reader_free(r);
        close_input(fd);
        if (rc < 0)
            return -1;
    }
    return 0;
}

cat_source *cat_source_open(const cat_opts *o)
{
    cat_source *s = calloc(1, sizeof *s);
    if (!s || !(s->kept = calloc((size_t)o->n_inputs, sizeof *s->kept)) || llm_header_init(&s->header) < 0) {
        llm_msg("out of memory");
        if (s)
            free(s->kept);
        free(s);
        return NULL;
    }
    s->o = o;
    s->fd = -1;
    s->skip_left = o->skip;
    llm_ledger_init(&s->ledger);
    int rc;
    if (o->from == CAT_FROM_STREAM) {
        rc = merge_headers(s);
    } else {
        llm_header_free(&s->header);
        rc = llm_header_copy(&s->header, &o->import);
        if (rc < 0)
            llm_msg("out of memory");
    }
    if (rc == 0 && llm_header_add_step(&s->header, "llm-cat", o->argc, o->argv) < 0) {
        llm_msg("out of memory");
        rc = -1;
    }
    if (rc < 0) {
        cat_source_free(s);
        return NULL;
    }
    uint64_t total = 0;
    for (int i = 0; i < o->n_inputs; i++) {
        struct stat st;
        if (!is_stdin(o->inputs[i]) && stat(o->inputs[i], &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    llm_progress_start(&s->progress, o->quiet, total);
    return s;
}

/* An input's ledger: through its indexes when it has them, as --skip and --head may leave
 * parts unread; else from the ledger frames the reader met. */
static void take_ledger(cat_source *s)
{
    llm_ledger found;
    llm_ledger_init(&found);
    int rc = llm_reader_load_ledger(s->reader, &found);
    const llm_ledger *l = rc == 0 ? &found : llm_reader_ledger(s->reader);
    if (rc != 0)
        s->unaccounted += llm_reader_segments(s->reader) - llm_reader_ledgers(s->reader);
    if (llm_ledger_merge(&s->ledger, l) < 0)
        s->no_memory = 1;
    llm_ledger_free(&found);
}

static void close_current(cat_source *s)
{
    if (s->reader) {
        s->bytes_done += llm_reader_offset(s->reader);
        take_ledger(s);
        if (llm_source_count_unwritten(&s->header, s->reader, &s->provenance_missed) < 0)
            s->no_memory = 1;
    }
    if (s->import)
        s->bytes_done += cat_import_bytes(s->import);
    if (s->import)
        s->import_skipped += cat_import_skipped(s->import);
    llm_reader_free(s->reader);
    cat_import_free(s->import);
    close_input(s->fd);
    s->reader = NULL;
    s->import = NULL;
    s->fd = -1;
}

void cat_source_free(cat_source *s)
{
    if (!s)
        return;
    close_current(s);
    for (int i = 0; i < s->o->n_inputs; i++)
        llm_reader_free(s->kept[i]);
    free(s->kept);
    llm_header_free(&s->header);
    llm_ledger_free(&s->ledger);
    llm_progress_end(&s->progress);
    free(s);
}

const llm_header *cat_source_header(const cat_source *s) { return &s->header; }

/* --skip without --shard on an indexed file: jump to the frame holding the first record
 * wanted instead of decompressing everything before it. Returns 1 when the whole input is
 * skipped, 0 to read on, -1 on error. */
static int skip_by_index(cat_source *s)
{
    llm_index idx;
    int rc = llm_reader_load_index(s->reader, 0, &idx);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (s->skip_left >= idx.records) {
        s->skip_left -= idx.records;
        s->skipped += idx.records;
        s->seen += idx.records;
        llm_index_free(&idx);
        return 1;
    }
    size_t lo = 0, hi = idx.n_frames;          /* last frame whose first_record <= skip_left */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (idx.frames[mid].first_record <= s->skip_left)
            lo = mid;
        else
            hi = mid;
    }
    uint64_t jumped = idx.frames[lo].first_record;
    rc = llm_reader_seek(s->reader, &idx, lo);
    llm_index_free(&idx);
    if (rc < 0)
        return -1;
    s->skip_left -= jumped;
    s->skipped += jumped;
    s->seen += jumped;
    return 0;
}

/* Opens input s->cur. Returns 1 when it is ready, 0 when it was skipped whole, -1 on error. */
static int open_next(cat_source *s)
{
    const cat_opts *o = s->o;
    const char *name = o->inputs[s->cur];
    llm_error e;
    if (s->kept[s->cur]) {
        s->reader = s->kept[s->cur];
        s->kept[s->cur] = NULL;
        s->fd = -1;    /* stdin or a pipe: not ours to close */
        return 1;
    }
    s->fd = open_input(name);
    if (s->fd < 0)
        return -1;
    if (o->from != CAT_FROM_STREAM) {
        s->import = cat_import_open(o, s->fd, name);
        return s->import ? 1 : -1;
    }
    s->reader = llm_reader_open(s->fd, name, &e);
    if (!s->reader) {
        llm_msg("%s", e.msg);
        return -1;
    }
    if (s->skip_left && o->shard_n == 1) {
        int rc = skip_by_index(s);
        if (rc < 0)
            llm_msg("%s", llm_reader_error(s->reader));
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 1;
}

int cat_source_next(cat_source *s, llm_record *rec)
{
    const cat_opts *o = s->o;
    for (;;) {
        if (o->has_head && s->out >= o->head) {
            s->stopped_by_head = s->cur < o->n_inputs;
            return 0;
        }
        if (!s->reader && !s->import) {
            if (s->cur >= o->n_inputs)
                return 0;
            int rc = open_next(s);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                close_current(s);
                s->cur++;
                continue;
            }
        }
        int rc = s->reader ? llm_reader_next(s->reader, rec) : cat_import_next(s->import, rec);
        if (rc < 0) {
            if (s->reader)
                llm_msg("%s", llm_reader_error(s->reader));
            return -1;
        }
        if (rc == 0) {
            close_current(s);
            s->cur++;
            continue;
        }
        uint64_t number = s->seen++;
        if (o->shard_n > 1 && number % o->shard_n != o->shard_k) {
            s->other_shards++;
            continue;
        }
        if (s->skip_left) {
            s->skip_left--;
            s->skipped++;
            continue;
        }
        s->out++;
        uint64_t bytes = s->bytes_done + (s->reader ? llm_reader_offset(s->reader) : 0);
        llm_progress_update(&s->progress, s->seen, bytes);
        return 1;
    }
}

int cat_source_ledger(cat_source *s, llm_ledger *out)
{
    if (s->reader)
        close_current(s);
    if (s->no_memory || llm_ledger_copy(out, &s->ledger) < 0) {
        llm_msg("out of memory");
        return -1;
    }
    const cat_opts *o = s->o;
    llm_stage *g = llm_ledger_add_stage(out, "llm-cat", "records", o->argc, o->argv);
    uint64_t malformed = s->import_skipped + (s->import ? cat_import_skipped(s->import) : 0);
    if (!g || (s->other_shards && llm_reasons_add(&g->split, "other-shards", s->other_shards, LLM_NO_COUNT) < 0) ||
        (s->skipped && llm_reasons_add(&g->split, "skipped", s->skipped, LLM_NO_COUNT) < 0) ||
        (malformed && llm_reasons_add(&g->dropped, "malformed", malformed, LLM_NO_COUNT) < 0)) {
        llm_msg("out of memory");
        return -1;
    }
    g->in.records = s->seen + malformed;
    g->out.records = s->out;
    if (!o->quiet)
        llm_source_notes(s->unaccounted, s->ledger.len, s->provenance_missed);
    return 0;
}

void cat_source_summary(const cat_source *s, const char *what_out)
{
    if (s->o->quiet)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%" PRIu64 " records read from %d input%s: %" PRIu64 " %s",
                     s->seen, s->o->n_inputs, s->o->n_inputs == 1 ? "" : "s", s->out, what_out);
    if (s->other_shards)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %" PRIu64 " in other shards", s->other_shards);
    if (s->skipped)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %" PRIu64 " skipped (--skip)", s->skipped);
    uint64_t malformed = s->import_skipped + (s->import ? cat_import_skipped(s->import) : 0);
    if (malformed)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %" PRIu64 " malformed input lines skipped", malformed);
    if (s->stopped_by_head)
        snprintf(line + n, sizeof line - (size_t)n, "; stopped at --head %" PRIu64, s->o->head);
    llm_progress_end((llm_progress *)&s->progress);
    llm_msg("%s", line);
}

int cat_print_headers(const cat_opts *o)
{
    llm_output out;
    llm_error e;
    llm_buf b;
    int status = LLM_EXIT_OK;
    if (llm_output_open(&out, o->output, 0, 1, &e) < 0) {
        llm_msg("%s", e.msg);
        return LLM_EXIT_FAILURE;
    }
    FILE *fp = llm_output_file(&out);
    llm_buf_init(&b);
    for (int i = 0; i < o->n_inputs && status == LLM_EXIT_OK; i++) {
        int fd = open_input(o->inputs[i]);
        llm_reader *r = fd < 0 ? NULL : llm_reader_open(fd, o->inputs[i], &e);
        if (!r) {
            if (fd >= 0)
                llm_msg("%s", e.msg);
            status = LLM_EXIT_FAILURE;
        } else if (llm_reader_load_provenance(r) < 0) {
            llm_msg("%s", llm_reader_error(r));
            status = LLM_EXIT_FAILURE;
        } else {
            llm_buf_clear(&b);
            llm_header_to_json(llm_reader_merged_header(r), &b);
            llm_buf_putc(&b, '\n');
            if (fp)
                fwrite(b.data, 1, b.len, fp);
        }
        llm_reader_free(r);
        close_input(fd);
    }
    llm_buf_free(&b);
    if (!fp || llm_buf_failed(&b)) {
        llm_msg("out of memory");
        status = LLM_EXIT_FAILURE;
    }
    if (status != LLM_EXIT_OK)
        llm_output_abort(&out);
    else if (llm_output_commit(&out, &e) < 0) {
        llm_msg("%s", e.msg);
        status = LLM_EXIT_FAILURE;
    }
    return status;
}
