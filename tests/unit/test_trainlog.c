/* Unit tests for lib/trainlog.c: JSON lines that read back as the same floats, nulls for what
 * JSON cannot hold, resuming (later steps and a torn line dropped), and loss.svg: well-formed
 * XML (Python's parser), one point per bucket of a bounded curve, points inside the plot. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "json.h"
#include "tensor_fixture.h"
#include "trainlog.h"

static char tmp[256];

static char *read_all(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *p = malloc(*len + 1);
    if (fread(p, 1, *len, f) != *len)
        *len = 0;
    p[*len] = '\0';
    fclose(f);
    return p;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

static llm_log_step step_at(uint64_t i)
{
    llm_log_step s = {
        .step = i,
        .epoch = i / 1000.0,
        .tokens = i * 8192,
        .loss = (float)(3 + 8 * exp(-(double)i / 300) + 0.01 * sin((double)i)),
        .lr = (float)(6e-4 * i / (i + 700.0)),
        .grad_norm = 1.0f / 3,
        .tokens_per_s = 123456.789,
        .elapsed_s = i * 0.1,
        .mfu = NAN,
    };
    return s;
}

static llm_log_eval eval_at(uint64_t i)
{
    llm_log_eval e = {.step = i, .epoch = i / 1000.0, .tokens = i * 8192, .val_loss = (float)(3.2 + 8 * exp(-(double)i / 300)),
                      .val_accuracy = 0.3f, .val_tokens = 65536, .elapsed_s = i * 0.1};
    return e;
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Each line parses; its floats read back as the very floats logged. */
static void test_lines(void)
{
    llm_error err = {""};
    llm_trainlog *l = llm_trainlog_open(tmp, 0, 0, &err);
    CHECKF(l != NULL, "%s", err.msg);
    if (!l)
        return;
    for (uint64_t i = 1; i <= 50; i++) {
        llm_log_step s = step_at(i);
        if (i == 7)
            s.loss = NAN, s.grad_norm = INFINITY, s.mfu = 0.5;
        CHECK(llm_trainlog_step(l, &s, &err) == 0);
        if (i % 25 == 0) {
            llm_log_eval e = eval_at(i);
            CHECK(llm_trainlog_eval(l, &e, &err) == 0);
        }
    }
    llm_trainlog_close(l);
    size_t len;
    char *text = read_all("log.jsonl", &len);
    CHECK(text && count_lines(text) == 52);
    llm_json_parser *p = llm_json_parser_new();
    int seen = 0;
    for (char *line = text; line && *line; line = strchr(line, '\n') + 1) {
        size_t n = (size_t)(strchr(line, '\n') - line);
        llm_json root, v;
        uint64_t step;
        double d;
        CHECK(llm_json_parse(p, line, n, 0, &root, &err) == 0);
        CHECK(llm_json_field(root, "step", &v) && llm_json_get_uint64(v, &step) == 0);
        if (llm_json_field(root, "val_loss", &v)) {
            llm_log_eval e = eval_at(step);
            CHECK(llm_json_get_double(v, &d) == 0 && fbits((float)d) == fbits(e.val_loss));
            CHECK(llm_json_field(root, "val_perplexity", &v) && llm_json_get_double(v, &d) == 0 &&
                  fabs(d - exp(e.val_loss)) < 1e-6 * d);
            CHECK(llm_json_field(root, "val_tokens", &v));
            continue;
        }
        llm_log_step s = step_at(step);
        if (step == 7) {
            CHECK(llm_json_field(root, "loss", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
            CHECK(llm_json_field(root, "grad_norm", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
            CHECK(llm_json_field(root, "mfu", &v) && llm_json_get_double(v, &d) == 0 && d == 0.5);
            continue;
        }
        CHECK(!llm_json_field(root, "mfu", &v));   /* not measured: left out */
        CHECK(llm_json_field(root, "loss", &v) && llm_json_get_double(v, &d) == 0 && fbits((float)d) == fbits(s.loss));
        CHECK(llm_json_field(root, "lr", &v) && llm_json_get_double(v, &d) == 0 && fbits((float)d) == fbits(s.lr));
        CHECK(llm_json_field(root, "grad_norm", &v) && llm_json_get_double(v, &d) == 0 &&
              fbits((float)d) == fbits(s.grad_norm));
        CHECK(llm_json_field(root, "tokens", &v) && llm_json_get_double(v, &d) == 0 && d == step * 8192.0);
        CHECK(llm_json_field(root, "tokens_per_s", &v) && llm_json_field(root, "elapsed_s", &v) &&
              llm_json_field(root, "epoch", &v));
        seen++;
    }
    CHECK(seen == 49);
    llm_json_parser_free(p);
    free(text);
}

/* Python's XML parser reads loss.svg, with the given numbers of train and validation points
 * inside the plot and x increasing. */
static int svg_ok(int train_points, int val_points)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import sys, xml.etree.ElementTree as E\n"
             "ns = \"{http://www.w3.org/2000/svg}\"\n"
             "root = E.parse(sys.argv[1]).getroot()\n"
             "assert root.tag == ns + \"svg\"\n"
             "lines = {p.get(\"class\"): [tuple(map(float, q.split(\",\"))) for q in p.get(\"points\").split()]\n"
             "         for p in root.iter(ns + \"polyline\")}\n"
             "want = {\"train\": int(sys.argv[2]), \"val\": int(sys.argv[3])}\n"
             "got = {k: len(lines.get(k, [])) for k in want}\n"
             "assert got == want, (got, want)\n"
             "assert len([c for c in root.iter(ns + \"circle\")]) == want[\"val\"]\n"
             "for pts in lines.values():\n"
             "    assert all(a[0] < b[0] for a, b in zip(pts, pts[1:])), \"x not increasing\"\n"
             "    assert all(64 <= x <= 696 and 40 <= y <= 368 for x, y in pts), \"a point outside the plot\"\n"
             "texts = [t.text for t in root.iter(ns + \"text\")]\n"
             "assert \"train\" in texts and \"validation\" in texts and \"tokens\" in texts\n"
             "' %s/loss.svg %d %d",
             tmp, train_points, val_points);
    return system(cmd) == 0;
}

static void test_svg(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_svg: skipped: no /usr/bin/python3\n");
        return;
    }
    llm_error err = {""};
    llm_trainlog *l = llm_trainlog_open(tmp, 0, 0, &err);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK(llm_trainlog_write_svg(l, &err) == 0 && svg_ok(0, 0));   /* empty, still a chart */
    /* 2000 steps in at most 512 points: buckets of 4 steps, so 500; 40 evaluations. */
    for (uint64_t i = 1; i <= 2000; i++) {
        llm_log_step s = step_at(i);
        CHECK(llm_trainlog_step(l, &s, &err) == 0);
        if (i % 50 == 0) {
            llm_log_eval e = eval_at(i);
            CHECK(llm_trainlog_eval(l, &e, &err) == 0);
        }
    }
    CHECK(svg_ok(500, 40));
    /* One more step starts a new bucket (the chart is rewritten at evaluations, or here). */
    llm_log_step s = step_at(2001);
    CHECK(llm_trainlog_step(l, &s, &err) == 0 && llm_trainlog_write_svg(l, &err) == 0 && svg_ok(501, 40));
    /* A diverged step is logged but not drawn. */
    s = step_at(2002);
    s.loss = NAN;
    CHECK(llm_trainlog_step(l, &s, &err) == 0 && llm_trainlog_write_svg(l, &err) == 0 && svg_ok(501, 40));
    llm_trainlog_close(l);

    /* A short run: every step its own point. */
    l = llm_trainlog_open(tmp, 0, 0, &err);
    for (uint64_t i = 1; i <= 37; i++) {
        llm_log_step t = step_at(i);
        CHECK(llm_trainlog_step(l, &t, &err) == 0);
    }
    llm_log_eval e = eval_at(37);
    CHECK(llm_trainlog_eval(l, &e, &err) == 0 && svg_ok(37, 1));
    llm_trainlog_close(l);
}

static void test_resume(void)
{
    llm_error err = {""};
    llm_trainlog *l = llm_trainlog_open(tmp, 0, 0, &err);
    for (uint64_t i = 1; i <= 100; i++) {
        llm_log_step s = step_at(i);
        CHECK(llm_trainlog_step(l, &s, &err) == 0);
        if (i % 20 == 0) {
            llm_log_eval e = eval_at(i);
            CHECK(llm_trainlog_eval(l, &e, &err) == 0);
        }
    }
    llm_trainlog_close(l);
    /* The killed run's last line, torn. */
    char path[512];
    snprintf(path, sizeof path, "%s/log.jsonl", tmp);
    FILE *f = fopen(path, "a");
    CHECK(f && fputs("{\"step\":101,\"epo", f) >= 0 && fclose(f) == 0);

    /* Resume from the checkpoint at step 60: steps 61..100 and the torn line go. */
    l = llm_trainlog_open(tmp, 1, 60, &err);
    CHECKF(l != NULL, "%s", err.msg);
    if (!l)
        return;
    size_t len;
    char *text = read_all("log.jsonl", &len);
    CHECK(text && count_lines(text) == 63 && len > 0 && text[len - 1] == '\n');
    CHECK(strstr(text, "{\"step\":60,") && !strstr(text, "{\"step\":61,") && !strstr(text, "\"epo\n"));
    free(text);
    for (uint64_t i = 61; i <= 80; i++) {
        llm_log_step s = step_at(i);
        CHECK(llm_trainlog_step(l, &s, &err) == 0);
    }
    llm_log_eval e = eval_at(80);
    CHECK(llm_trainlog_eval(l, &e, &err) == 0);
    if (access("/usr/bin/python3", X_OK) == 0)
        CHECK(svg_ok(80, 4));   /* the kept history is on the chart */
    llm_trainlog_close(l);
    text = read_all("log.jsonl", &len);
    CHECK(text && count_lines(text) == 84);
    free(text);

    /* A fresh run starts the log over. */
    l = llm_trainlog_open(tmp, 0, 0, &err);
    llm_trainlog_close(l);
    text = read_all("log.jsonl", &len);
    CHECK(text && len == 0);
    free(text);
    /* Resuming where there is no log yet is fine. */
    remove(path);
    l = llm_trainlog_open(tmp, 1, 5, &err);
    CHECKF(l != NULL, "%s", err.msg);
    llm_trainlog_close(l);
    llm_trainlog_close(NULL);
}

static void test_errors(void)
{
    llm_error err = {""};
    char path[512];
    snprintf(path, sizeof path, "%s/no/such", tmp);
    CHECK(llm_trainlog_open(path, 0, 0, &err) == NULL);
    CHECKF(strstr(err.msg, "no/such/log.jsonl: cannot open: No such file"), "%s", err.msg);
}

int main(void)
{
    fixture_tmpdir(tmp, sizeof tmp, "trainlog");
    RUN(test_lines);
    RUN(test_svg);
    RUN(test_resume);
    RUN(test_errors);
    fixture_remove(tmp);
    CHECK_EXIT();
}
