/* llm-train's JSONL log and loss chart (see trainlog.h). */
#include "trainlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "json.h"

/* A curve of at most LLM_TRAINLOG_POINTS points, each the mean of `per` samples in a row
 * (the last one may hold fewer). When full, neighbours merge and per doubles. */
typedef struct series {
    double x[LLM_TRAINLOG_POINTS], y[LLM_TRAINLOG_POINTS];
    uint32_t n[LLM_TRAINLOG_POINTS];
    int len;
    uint32_t per;
} series;

struct llm_trainlog {
    char *log_path, *svg_path;
    int fd;
    series train, val;
};

static void series_add(series *s, double x, double y)
{
    if (!isfinite(y))    /* a diverged step has no place on the chart; the log has it */
        return;
    if (s->per == 0)
        s->per = 1;
    if (s->len > 0 && s->n[s->len - 1] < s->per) {
        s->x[s->len - 1] += x;
        s->y[s->len - 1] += y;
        s->n[s->len - 1]++;
        return;
    }
    if (s->len == LLM_TRAINLOG_POINTS) {
        for (int i = 0; i < LLM_TRAINLOG_POINTS / 2; i++) {
            s->x[i] = s->x[2 * i] + s->x[2 * i + 1];
            s->y[i] = s->y[2 * i] + s->y[2 * i + 1];
            s->n[i] = s->n[2 * i] + s->n[2 * i + 1];
        }
        s->len = LLM_TRAINLOG_POINTS / 2;
        s->per *= 2;
    }
    s->x[s->len] = x;
    s->y[s->len] = y;
    s->n[s->len] = 1;
    s->len++;
}

/* ---- lines ------------------------------------------------------------------------------ */

static void put_num(llm_buf *b, const char *key, double v)
{
    llm_buf_printf(b, ",\"%s\":", key);
    if (isfinite(v))
        llm_buf_printf(b, "%.9g", v);
    else
        llm_buf_puts(b, "null");
}

void llm_trainlog_step_json(const llm_log_step *s, llm_buf *b)
{
    llm_buf_printf(b, "{\"step\":%" PRIu64, s->step);
    put_num(b, "epoch", s->epoch);
    llm_buf_printf(b, ",\"tokens\":%" PRIu64, s->tokens);
    put_num(b, "loss", s->loss);
    put_num(b, "lr", s->lr);
    put_num(b, "grad_norm", s->grad_norm);
    put_num(b, "tokens_per_s", s->tokens_per_s);
    put_num(b, "elapsed_s", s->elapsed_s);
    if (!isnan(s->mfu))
        put_num(b, "mfu", s->mfu);
    llm_buf_puts(b, "}\n");
}

void llm_trainlog_eval_json(const llm_log_eval *e, llm_buf *b)
{
    llm_buf_printf(b, "{\"step\":%" PRIu64, e->step);
    put_num(b, "epoch", e->epoch);
    llm_buf_printf(b, ",\"tokens\":%" PRIu64, e->tokens);
    put_num(b, "val_loss", e->val_loss);
    put_num(b, "val_perplexity", exp((double)e->val_loss));
    put_num(b, "val_accuracy", e->val_accuracy);
    llm_buf_printf(b, ",\"val_tokens\":%" PRIu64, e->val_tokens);
    put_num(b, "elapsed_s", e->elapsed_s);
    llm_buf_puts(b, "}\n");
}

static int append_line(llm_trainlog *l, const llm_buf *b, llm_error *err)
{
    if (llm_buf_failed(b))
        return llm_error_set(err, "%s: out of memory", l->log_path);
    /* One write of a whole line to an O_APPEND file: no half lines from us in the log. */
    ssize_t k = write(l->fd, b->data, b->len);
    if (k != (ssize_t)b->len)
        return llm_error_set(err, "%s: write error: %s", l->log_path, k < 0 ? strerror(errno) : "short write");
    return 0;
}

int llm_trainlog_step(llm_trainlog *l, const llm_log_step *s, llm_error *err)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_trainlog_step_json(s, &b);
    int rc = append_line(l, &b, err);
    llm_buf_free(&b);
    series_add(&l->train, (double)s->tokens, s->loss);
    return rc;
}

int llm_trainlog_eval(llm_trainlog *l, const llm_log_eval *e, llm_error *err)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_trainlog_eval_json(e, &b);
    int rc = append_line(l, &b, err);
    llm_buf_free(&b);
    series_add(&l->val, (double)e->tokens, e->val_loss);
    return rc < 0 ? rc : llm_trainlog_write_svg(l, err);
}

/* ---- open, resume, close ---------------------------------------------------------------- */

/* One line of an earlier log: kept (1) when it parses and its step is at most last, and then
 * its point goes on the chart. */
static int keep_line(llm_trainlog *l, llm_json_parser *p, const char *line, size_t len, uint64_t last)
{
    llm_json root, v;
    uint64_t step, tokens;
    double y;
    llm_error err;
    if (len == 0 || line[len - 1] != '\n' || llm_json_parse(p, line, len, 0, &root, &err) < 0 ||
        !llm_json_field(root, "step", &v) || llm_json_get_uint64(v, &step) < 0 || step > last)
        return 0;
    if (llm_json_field(root, "tokens", &v) && llm_json_get_uint64(v, &tokens) == 0) {
        if (llm_json_field(root, "loss", &v) && llm_json_get_double(v, &y) == 0)
            series_add(&l->train, (double)tokens, y);
        if (llm_json_field(root, "val_loss", &v) && llm_json_get_double(v, &y) == 0)
            series_add(&l->val, (double)tokens, y);
    }
    return 1;
}

/* Rewrites the log with the lines of steps up to last. */
static int trim_log(llm_trainlog *l, uint64_t last, llm_error *err)
{
    FILE *f = fopen(l->log_path, "r");
    if (!f)
        return errno == ENOENT ? 0 : llm_error_set(err, "%s: cannot open: %s", l->log_path, strerror(errno));
    llm_json_parser *p = llm_json_parser_new();
    llm_buf kept;
    llm_buf_init(&kept);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (p && (n = getline(&line, &cap, f)) > 0)
        if (keep_line(l, p, line, (size_t)n, last))
            llm_buf_append(&kept, line, (size_t)n);
    int bad = ferror(f);
    fclose(f);
    free(line);
    llm_json_parser_free(p);
    int rc;
    if (!p || llm_buf_failed(&kept))
        rc = llm_error_set(err, "%s: out of memory", l->log_path);
    else if (bad)
        rc = llm_error_set(err, "%s: read error", l->log_path);
    else
        rc = llm_write_file_durable(l->log_path, kept.data ? kept.data : "", kept.len, err);
    llm_buf_free(&kept);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

llm_trainlog *llm_trainlog_open(const char *run, int resume, uint64_t resume_step, llm_error *err)
{
    llm_trainlog *l = calloc(1, sizeof *l);
    if (l)
        l->fd = -1;
    if (!l || !(l->log_path = join(run, "log.jsonl")) || !(l->svg_path = join(run, "loss.svg"))) {
        llm_trainlog_close(l);
        llm_error_set(err, "%s: out of memory", run);
        return NULL;
    }
    if (resume && trim_log(l, resume_step, err) < 0) {
        llm_trainlog_close(l);
        return NULL;
    }
    l->fd = open(l->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0666);
    if (l->fd < 0) {
        llm_error_set(err, "%s: cannot open: %s", l->log_path, strerror(errno));
        llm_trainlog_close(l);
        return NULL;
    }
    return l;
}

void llm_trainlog_close(llm_trainlog *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->log_path);
    free(l->svg_path);
    free(l);
}

/* ---- the chart -------------------------------------------------------------------------- */

enum { W = 720, H = 420, LEFT = 64, RIGHT = 24, TOP = 40, BOTTOM = 52 };

/* An axis: the data range widened to whole ticks of 1, 2 or 5 times a power of ten. */
typedef struct axis {
    double lo, hi, step;
} axis;

static axis nice_axis(double lo, double hi)
{
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    axis a = {floor(lo / step) * step, ceil(hi / step) * step, step};
    if (a.hi <= a.lo)
        a.hi = a.lo + step;
    return a;
}

static double map(const axis *a, double v, double from, double to)
{
    return from + (v - a->lo) / (a->hi - a->lo) * (to - from);
}

/* Tokens read best with SI suffixes: 0, 500k, 1.5M, 2G. */
static void tick_label(char *s, size_t n, double v, int si)
{
    if (fabs(v) < 1e-12)
        v = 0;
    if (si && fabs(v) >= 1e9)
        snprintf(s, n, "%gG", v / 1e9);
    else if (si && fabs(v) >= 1e6)
        snprintf(s, n, "%gM", v / 1e6);
    else if (si && fabs(v) >= 1e3)
        snprintf(s, n, "%gk", v / 1e3);
    else
        snprintf(s, n, "%g", v);
}

static void data_range(const series *s, double *xmax, double *ylo, double *yhi)
{
    for (int i = 0; i < s->len; i++) {
        double x = s->x[i] / s->n[i], y = s->y[i] / s->n[i];
        *xmax = x > *xmax ? x : *xmax;
        *ylo = y < *ylo ? y : *ylo;
        *yhi = y > *yhi ? y : *yhi;
    }
}

static void draw_ticks(llm_buf *b, const axis *xa, const axis *ya)
{
    char label[32];
    for (int i = 0;; i++) {
        double v = xa->lo + i * xa->step;
        if (v > xa->hi + xa->step * 1e-9)
            break;
        double px = map(xa, v, LEFT, W - RIGHT);
        tick_label(label, sizeof label, v, 1);
        llm_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", px, TOP, px,
                       H - BOTTOM);
        llm_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px, H - BOTTOM + 18, label);
    }
    for (int i = 0;; i++) {
        double v = ya->lo + i * ya->step;
        if (v > ya->hi + ya->step * 1e-9)
            break;
        double py = map(ya, v, H - BOTTOM, TOP);
        tick_label(label, sizeof label, v, 0);
        llm_buf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", LEFT, py, W - RIGHT,
                       py);
        llm_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, py + 4, label);
    }
}

static void draw_series(llm_buf *b, const series *s, const axis *xa, const axis *ya, const char *cls, int dots)
{
    if (s->len == 0)
        return;
    llm_buf_printf(b, "<polyline class=\"%s\" points=\"", cls);
    for (int i = 0; i < s->len; i++)
        llm_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", map(xa, s->x[i] / s->n[i], LEFT, W - RIGHT),
                       map(ya, s->y[i] / s->n[i], H - BOTTOM, TOP));
    llm_buf_puts(b, "\"/>\n");
    for (int i = 0; dots && i < s->len; i++)
        llm_buf_printf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n", cls,
                       map(xa, s->x[i] / s->n[i], LEFT, W - RIGHT), map(ya, s->y[i] / s->n[i], H - BOTTOM, TOP));
}

void llm_trainlog_svg(const llm_trainlog *l, llm_buf *b)
{
    double xmax = 0, ylo = INFINITY, yhi = -INFINITY;
    data_range(&l->train, &xmax, &ylo, &yhi);
    data_range(&l->val, &xmax, &ylo, &yhi);
    if (!(ylo <= yhi))
        ylo = 0, yhi = 1;
    axis xa = nice_axis(0, xmax > 0 ? xmax : 1), ya = nice_axis(ylo, yhi);
    llm_buf_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"sans-serif\" font-size=\"12\">\n"
                   "<style>.grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#333;stroke-width:1}"
                   ".train{fill:none;stroke:#1f77b4;stroke-width:1.5}"
                   ".val{fill:none;stroke:#ff7f0e;stroke-width:2}circle.val{fill:#ff7f0e}</style>\n"
                   "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
                   "<text x=\"%d\" y=\"24\" font-size=\"15\">Loss</text>\n",
                   W, H, W, H, W, H, LEFT);
    draw_ticks(b, &xa, &ya);
    llm_buf_printf(b, "<path class=\"axis\" fill=\"none\" d=\"M%d %dV%dH%d\"/>\n", LEFT, TOP, H - BOTTOM, W - RIGHT);
    llm_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">tokens</text>\n", (LEFT + W - RIGHT) / 2,
                   H - 12);
    llm_buf_printf(b, "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">loss</text>\n",
                   (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
    draw_series(b, &l->train, &xa, &ya, "train", 0);
    draw_series(b, &l->val, &xa, &ya, "val", 1);
    /* The legend, top right, where a falling loss leaves room. */
    int lx = W - RIGHT - 130, ly = TOP + 10;
    llm_buf_printf(b,
                   "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"122\" height=\"44\" fill=\"white\" "
                   "stroke=\"#ccc\"/>\n"
                   "<line class=\"train\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><text x=\"%d\" y=\"%d\">train</text>\n"
                   "<line class=\"val\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><text x=\"%d\" y=\"%d\">validation</text>"
                   "</g>\n</svg>\n",
                   lx, ly, lx + 8, ly + 14, lx + 32, ly + 14, lx + 40, ly + 18, lx + 8, ly + 32, lx + 32, ly + 32,
                   lx + 40, ly + 36);
}

int llm_trainlog_write_svg(const llm_trainlog *l, llm_error *err)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_trainlog_svg(l, &b);
    int rc = llm_buf_failed(&b) ? llm_error_set(err, "%s: out of memory", l->svg_path)
                                : llm_write_file_durable(l->svg_path, b.data, b.len, err);
    llm_buf_free(&b);
    return rc;
}
