/* Unit tests for lib/json.cpp: types, number limits, lookup, iteration order, minify
 * round trips, dumps as Python's json.dumps writes them, error messages, lone surrogate
 * escapes, numbers too wide for simdjson, padded and copied parsing, and parser reuse. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static llm_json_parser *parser;

static int parse_str(const char *text, llm_json *root, llm_error *err)
{
    return llm_json_parse(parser, text, strlen(text), 0, root, err);
}

static int string_is(llm_json v, const char *want)
{
    const char *s;
    size_t n;
    return llm_json_get_string(v, &s, &n) == 0 && n == strlen(want) && memcmp(s, want, n) == 0;
}

static int minify_is(llm_json v, const char *want)
{
    llm_buf b;
    llm_buf_init(&b);
    llm_json_minify(v, &b);
    int ok = !llm_buf_failed(&b) && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    if (!ok)
        fprintf(stderr, "minify: want %s got %.*s\n", want, (int)b.len, b.data);
    llm_buf_free(&b);
    return ok;
}

static void test_all_types(void)
{
    static const struct {
        const char *text;
        llm_json_type type;
        const char *name;
    } cases[] = {
        {"null", LLM_JSON_NULL, "null"},
        {"true", LLM_JSON_BOOL, "boolean"},
        {"false", LLM_JSON_BOOL, "boolean"},
        {"0", LLM_JSON_INT, "integer"},
        {"-5", LLM_JSON_INT, "integer"},
        {"9223372036854775807", LLM_JSON_INT, "integer"},
        {"9223372036854775808", LLM_JSON_UINT, "integer"},
        {"1.5", LLM_JSON_DOUBLE, "number"},
        {"1e3", LLM_JSON_DOUBLE, "number"},
        {"\"s\"", LLM_JSON_STRING, "string"},
        {"[]", LLM_JSON_ARRAY, "array"},
        {"{}", LLM_JSON_OBJECT, "object"},
        {"  [1]  \n", LLM_JSON_ARRAY, "array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_json v;
        llm_error err = {""};
        CHECKF(parse_str(cases[i].text, &v, &err) == 0, "%s: %s", cases[i].text, err.msg);
        CHECKF(llm_json_type_of(v) == cases[i].type, "%s", cases[i].text);
        CHECKF(strcmp(llm_json_type_name(llm_json_type_of(v)), cases[i].name) == 0, "%s",
               cases[i].text);
    }
}

static void test_scalars(void)
{
    llm_json root, v;
    llm_error err;
    CHECK(parse_str("{\"t\":true,\"f\":false,\"n\":null,\"d\":-2.5,\"i\":-7,\"u\":7,"
                    "\"s\":\"a\\u0000b\\n\\u00e9\\ud83d\\ude00\"}",
                    &root, &err) == 0);
    int b = -1;
    CHECK(llm_json_field(root, "t", &v) && llm_json_get_bool(v, &b) == 0 && b == 1);
    CHECK(llm_json_field(root, "f", &v) && llm_json_get_bool(v, &b) == 0 && b == 0);
    CHECK(llm_json_field(root, "n", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
    CHECK(llm_json_get_bool(v, &b) == -1);

    double d = 0;
    CHECK(llm_json_field(root, "d", &v) && llm_json_get_double(v, &d) == 0 && d == -2.5);
    int64_t i = 0;
    uint64_t u = 0;
    CHECK(llm_json_get_int64(v, &i) == -1);   /* a double is not an integer */
    CHECK(llm_json_get_uint64(v, &u) == -1);

    CHECK(llm_json_field(root, "i", &v) && llm_json_get_int64(v, &i) == 0 && i == -7);
    CHECK(llm_json_get_uint64(v, &u) == -1);  /* negative */
    CHECK(llm_json_get_double(v, &d) == 0 && d == -7.0);
    CHECK(llm_json_field(root, "u", &v) && llm_json_get_uint64(v, &u) == 0 && u == 7);
    CHECK(llm_json_get_int64(v, &i) == 0 && i == 7);

    /* Escapes decoded, embedded NUL kept, surrogate pair joined into 4 UTF-8 bytes. */
    const char *s = NULL;
    size_t n = 0;
    CHECK(llm_json_field(root, "s", &v) && llm_json_get_string(v, &s, &n) == 0);
    CHECK(n == 10 && memcmp(s, "a\0b\n\xc3\xa9\xf0\x9f\x98\x80", 10) == 0 && s[n] == '\0');
    CHECK(llm_json_get_int64(v, &i) == -1);
    CHECK(llm_json_get_double(v, &d) == -1);
    CHECK(llm_json_get_bool(v, &b) == -1);
    CHECK(llm_json_get_string(root, &s, &n) == -1);
}

/* Valid JSON whose numbers simdjson cannot hold still parses: those members read as null,
 * the rest as they are (strings with such text and escaped quotes included); the numbers it
 * holds stay numbers. */
static void test_wide_numbers(void)
{
    llm_json root, v;
    llm_error err;
    int64_t i;
    CHECK(parse_str("{\"big\": 12345678901234567890123, \"neg\": -99999999999999999999, \"huge\": 1e309,"
                    " \"t\": \"q\\\" 1e999\", \"ok\": 18446744073709551615, \"n\": [-5, 2.5e3]}",
                    &root, &err) == 0);
    CHECK(llm_json_field(root, "big", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
    CHECK(llm_json_field(root, "neg", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
    CHECK(llm_json_field(root, "huge", &v) && llm_json_type_of(v) == LLM_JSON_NULL);
    CHECK(llm_json_field(root, "t", &v) && string_is(v, "q\" 1e999"));
    CHECK(llm_json_field(root, "ok", &v) && llm_json_type_of(v) == LLM_JSON_UINT);
    CHECK(llm_json_field(root, "n", &v));
    llm_json_iter it;
    llm_json_array_begin(v, &it);
    CHECK(llm_json_array_next(&it, &v) && llm_json_get_int64(v, &i) == 0 && i == -5);
    CHECK(llm_json_array_next(&it, &v) && llm_json_type_of(v) == LLM_JSON_DOUBLE);
    /* a number that is malformed, not wide, is still an error */
    CHECK(parse_str("{\"x\": 1e}", &root, &err) == -1);
    CHECK(parse_str("{\"x\": 01}", &root, &err) == -1);
}

static void test_integer_limits(void)
{
    llm_json root, v;
    llm_error err;
    CHECK(parse_str("[-9223372036854775808, 9223372036854775807, 9223372036854775808,"
                    " 18446744073709551615, 0]",
                    &root, &err) == 0);
    llm_json_iter it;
    llm_json_array_begin(root, &it);
    int64_t i;
    uint64_t u;
    double d;

    CHECK(llm_json_array_next(&it, &v));
    CHECK(llm_json_type_of(v) == LLM_JSON_INT);
    CHECK(llm_json_get_int64(v, &i) == 0 && i == INT64_MIN);
    CHECK(llm_json_get_uint64(v, &u) == -1);

    CHECK(llm_json_array_next(&it, &v));
    CHECK(llm_json_type_of(v) == LLM_JSON_INT);
    CHECK(llm_json_get_int64(v, &i) == 0 && i == INT64_MAX);
    CHECK(llm_json_get_uint64(v, &u) == 0 && u == (uint64_t)INT64_MAX);

    CHECK(llm_json_array_next(&it, &v));
    CHECK(llm_json_type_of(v) == LLM_JSON_UINT);
    CHECK(llm_json_get_int64(v, &i) == -1);
    CHECK(llm_json_get_uint64(v, &u) == 0 && u == (uint64_t)INT64_MAX + 1);
    CHECK(llm_json_get_double(v, &d) == 0 && d == 9223372036854775808.0);

    CHECK(llm_json_array_next(&it, &v));
    CHECK(llm_json_type_of(v) == LLM_JSON_UINT);
    CHECK(llm_json_get_uint64(v, &u) == 0 && u == UINT64_MAX);
    CHECK(llm_json_get_int64(v, &i) == -1);

    CHECK(llm_json_array_next(&it, &v));
    CHECK(llm_json_get_uint64(v, &u) == 0 && u == 0);
    CHECK(!llm_json_array_next(&it, &v));
    CHECK(!llm_json_array_next(&it, &v));   /* stays at the end */

    /* simdjson 3.0 refuses integers outside int64/uint64 rather than rounding them to a
     * double; they read as null (test_wide_numbers). */
    CHECK(parse_str("18446744073709551616", &root, &err) == 0 && llm_json_type_of(root) == LLM_JSON_NULL);
    CHECK(parse_str("-9223372036854775809", &root, &err) == 0 && llm_json_type_of(root) == LLM_JSON_NULL);
}

static void test_nested_and_fields(void)
{
    llm_json root, v, w;
    llm_error err;
    CHECK(parse_str("{\"meta\":{\"id\":3,\"tags\":[\"x\",{\"deep\":[[[\"bottom\"]]]}]},"
                    "\"text\":\"hi\",\"dup\":1,\"dup\":2,\"\":\"empty key\"}",
                    &root, &err) == 0);
    CHECK(llm_json_field(root, "text", &v) && string_is(v, "hi"));
    CHECK(!llm_json_field(root, "missing", &v));
    CHECK(!llm_json_field(root, "tex", &v));
    CHECK(!llm_json_field(root, "id", &v));   /* not searched recursively */
    CHECK(llm_json_field(root, "", &v) && string_is(v, "empty key"));
    int64_t i = 0;
    CHECK(llm_json_field(root, "dup", &v) && llm_json_get_int64(v, &i) == 0 && i == 1);

    CHECK(llm_json_field(root, "meta", &v));
    CHECK(llm_json_field(v, "id", &w) && llm_json_get_int64(w, &i) == 0 && i == 3);
    CHECK(llm_json_field(v, "tags", &w) && llm_json_array_len(w) == 2);
    llm_json_iter it;
    llm_json_array_begin(w, &it);
    CHECK(llm_json_array_next(&it, &v) && string_is(v, "x"));
    CHECK(llm_json_array_next(&it, &v) && llm_json_type_of(v) == LLM_JSON_OBJECT);
    CHECK(!llm_json_array_next(&it, &w));
    CHECK(llm_json_field(v, "deep", &w));
    for (int depth = 0; depth < 3; depth++) {
        CHECK(llm_json_type_of(w) == LLM_JSON_ARRAY && llm_json_array_len(w) == 1);
        llm_json_array_begin(w, &it);
        CHECK(llm_json_array_next(&it, &w));
    }
    CHECK(string_is(w, "bottom"));

    /* Lookups on non-objects and iteration of the wrong kind find nothing. */
    CHECK(!llm_json_field(w, "x", &v));
    CHECK(llm_json_array_len(w) == 0 && llm_json_array_len(root) == 0);
    llm_json_array_begin(root, &it);
    CHECK(!llm_json_array_next(&it, &v));
    const char *key;
    size_t keylen;
    llm_json_object_begin(w, &it);
    CHECK(!llm_json_object_next(&it, &key, &keylen, &v));
}

static void test_iteration_order(void)
{
    llm_json root, v;
    llm_error err;
    CHECK(parse_str("{\"z\":0,\"a\":1,\"m\":2,\"a\\nb\":3,\"z\":4}", &root, &err) == 0);
    static const char *const keys[] = {"z", "a", "m", "a\nb", "z"};
    llm_json_iter it;
    llm_json_object_begin(root, &it);
    const char *key;
    size_t keylen;
    int n = 0;
    while (llm_json_object_next(&it, &key, &keylen, &v)) {
        int64_t i = -1;
        CHECK(n < 5);
        if (n >= 5)
            break;
        CHECKF(keylen == strlen(keys[n]) && memcmp(key, keys[n], keylen) == 0, "key %d", n);
        CHECK(key[keylen] == '\0');
        CHECK(llm_json_get_int64(v, &i) == 0 && i == n);
        n++;
    }
    CHECK(n == 5);
    CHECK(!llm_json_object_next(&it, &key, &keylen, &v));

    CHECK(parse_str("[10, \"s\", [1,2], {\"k\":null}, 2.5, true]", &root, &err) == 0);
    CHECK(llm_json_array_len(root) == 6);
    static const llm_json_type types[] = {LLM_JSON_INT, LLM_JSON_STRING, LLM_JSON_ARRAY,
                                          LLM_JSON_OBJECT, LLM_JSON_DOUBLE, LLM_JSON_BOOL};
    llm_json_array_begin(root, &it);
    n = 0;
    while (llm_json_array_next(&it, &v)) {
        CHECK(n < 6 && llm_json_type_of(v) == types[n]);
        n++;
    }
    CHECK(n == 6);

    /* Handles are plain values: a copied iterator resumes from the same place. */
    llm_json_array_begin(root, &it);
    CHECK(llm_json_array_next(&it, &v));
    llm_json_iter copy = it;
    CHECK(llm_json_array_next(&it, &v) && string_is(v, "s"));
    CHECK(llm_json_array_next(&copy, &v) && string_is(v, "s"));

    CHECK(parse_str("[]", &root, &err) == 0 && llm_json_array_len(root) == 0);
    llm_json_array_begin(root, &it);
    CHECK(!llm_json_array_next(&it, &v));
    CHECK(parse_str("{}", &root, &err) == 0);
    llm_json_object_begin(root, &it);
    CHECK(!llm_json_object_next(&it, &key, &keylen, &v));
}

static int dump_is(const char *text, const char *want)
{
    llm_json root;
    llm_error err;
    llm_buf b;
    llm_buf_init(&b);
    int ok = parse_str(text, &root, &err) == 0;
    if (ok) {
        llm_buf_puts(&b, "<");    /* it appends */
        llm_json_dump(root, &b);
        ok = !llm_buf_failed(&b) && b.len == strlen(want) + 1 && memcmp(b.data + 1, want, b.len - 1) == 0;
    }
    if (!ok)
        fprintf(stderr, "dump: want %s got %.*s\n", want, (int)b.len, b.data);
    llm_buf_free(&b);
    return ok;
}

/* What Python's json.dumps(json.loads(text), ensure_ascii=False) prints for the same text. */
static void test_dump(void)
{
    CHECK(dump_is(" { \"a\" : [ 1 , -2 , 2.5 , true , false , null , \"x\\ty\\u0001\\u007f\" ] , \"b\" : { } ,"
                  " \"c\" : [ ] , \"q\\\"\" : \"\\u00e9\\/\\u2028\", \"z\": {\"n\": {\"m\": [{}]}}}",
                  "{\"a\": [1, -2, 2.5, true, false, null, \"x\\ty\\u0001\x7f\"], \"b\": {}, \"c\": [], "
                  "\"q\\\"\": \"\xc3\xa9/\xe2\x80\xa8\", \"z\": {\"n\": {\"m\": [{}]}}}"));
    CHECK(dump_is("[1.0, 100.0, 1e2, 1E-5, 0.0001, 1e16, 1e15, 123456789012345678, 1.5e300, -0.0, 0.1, "
                  "0.30000000000000004, 2.5e-7, 18446744073709551615, -9223372036854775808, 12.50, 1e22, 5e-324]",
                  "[1.0, 100.0, 100.0, 1e-05, 0.0001, 1e+16, 1000000000000000.0, 123456789012345678, 1.5e+300, "
                  "-0.0, 0.1, 0.30000000000000004, 2.5e-07, 18446744073709551615, -9223372036854775808, 12.5, "
                  "1e+22, 5e-324]"));
    CHECK(dump_is("\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\"", "\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\""));
    CHECK(dump_is("{\"k\":{\"b\":1,\"a\":2}}", "{\"k\": {\"b\": 1, \"a\": 2}}"));
}

static void test_minify(void)
{
    llm_json root, v;
    llm_error err;
    const char *text = " { \"a\" : [ 1 , -2 , 2.5 , true , false , null , \"x\\ty\\u0001\" ] ,\n"
                       "   \"b\" : { } , \"c\" : [ ] , \"q\\\"\" : \"\\u00e9\\/\" } ";
    const char *want = "{\"a\":[1,-2,2.5,true,false,null,\"x\\ty\\u0001\"],\"b\":{},\"c\":[],"
                       "\"q\\\"\":\"\xc3\xa9/\"}";
    CHECK(parse_str(text, &root, &err) == 0);
    CHECK(minify_is(root, want));
    CHECK(llm_json_field(root, "a", &v) && minify_is(v, "[1,-2,2.5,true,false,null,\"x\\ty\\u0001\"]"));
    CHECK(llm_json_field(root, "b", &v) && minify_is(v, "{}"));

    /* Round trip: the minified text parses to the same minified text. */
    llm_buf once;
    llm_buf_init(&once);
    llm_json_minify(root, &once);
    CHECK(llm_json_parse(parser, once.data, once.len, 0, &root, &err) == 0);
    CHECK(minify_is(root, want));

    /* Appends, and large integers survive exactly. */
    CHECK(parse_str("[18446744073709551615,-9223372036854775808]", &root, &err) == 0);
    llm_json_minify(root, &once);
    const char *ints = "[18446744073709551615,-9223372036854775808]";
    CHECK(once.len == strlen(want) + strlen(ints));
    CHECK(memcmp(once.data + strlen(want), ints, strlen(ints)) == 0);
    llm_buf_free(&once);

    double d = 0;
    CHECK(parse_str("[0.1, 1e300, -0.0]", &root, &err) == 0);
    llm_buf b;
    llm_buf_init(&b);
    llm_json_minify(root, &b);
    CHECK(llm_json_parse(parser, b.data, b.len, 0, &root, &err) == 0);
    llm_json_iter it;
    llm_json_array_begin(root, &it);
    CHECK(llm_json_array_next(&it, &v) && llm_json_get_double(v, &d) == 0 && d == 0.1);
    CHECK(llm_json_array_next(&it, &v) && llm_json_get_double(v, &d) == 0 && d == 1e300);
    llm_buf_free(&b);
}

static void test_errors(void)
{
    static const char *const bad[] = {
        "", "   ", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "tru", "nul", "01", "1.", "\"abc",
        "\"\x01\"", "[1] [2]", "{'a':1}", "\"\xff\"", "\"\\x\"", "NaN", "[1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llm_json root;
        llm_error err;
        memset(&err, 0, sizeof err);
        int rc = parse_str(bad[i], &root, &err);
        CHECKF(rc == -1, "accepted %s", bad[i]);
        CHECKF(strncmp(err.msg, "invalid JSON: ", 14) == 0 && strlen(err.msg) > 14,
               "message for %s: %s", bad[i], err.msg);
    }
    /* A NULL error record is allowed. */
    llm_json root;
    CHECK(parse_str("{", &root, NULL) == -1);
    /* A failed parse does not poison the parser. */
    llm_error err;
    CHECK(parse_str("[1,2]", &root, &err) == 0 && llm_json_array_len(root) == 2);
}

/* An escaped surrogate that is not half of a pair is U+FFFD, as JSON.parse and a conversion
 * to UTF-8 make it (simdjson alone refuses the document). */
static void test_lone_surrogates(void)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"\"\\ud800\"", "\xEF\xBF\xBD"},
        {"\"a\\ud800b\"", "a\xEF\xBF\xBD" "b"},
        {"\"\\udc00\"", "\xEF\xBF\xBD"},
        {"\"\\uDFFF.\"", "\xEF\xBF\xBD."},
        {"\"\\ud800\\u0041\"", "\xEF\xBF\xBD" "A"},
        {"\"\\ud800\\ud800\"", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\"\\udc00\\ud83d\\ude00\"", "\xEF\xBF\xBD\xF0\x9F\x98\x80"},
        {"\"\\ud83d\\ude00\\ud83d\"", "\xF0\x9F\x98\x80\xEF\xBF\xBD"},
        {"\"\\ud800\\n\"", "\xEF\xBF\xBD\n"},
        {"\"\\\\\\ud800\"", "\\\xEF\xBF\xBD"},          /* an escaped backslash, then the escape */
        {"\"\\\\ud800 \\udbff\"", "\\ud800 \xEF\xBF\xBD"}, /* text, not an escape; then one */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_json root;
        llm_error err = {""};
        for (int padded = 0; padded < 2; padded++) {
            size_t n = strlen(cases[i].json);
            char *buf = malloc(n + LLM_JSON_PADDING);
            CHECK(buf != NULL);
            memcpy(buf, cases[i].json, n);
            memset(buf + n, '"', LLM_JSON_PADDING);
            int rc = llm_json_parse(parser, buf, n, padded, &root, &err);
            free(buf);
            CHECKF(rc == 0 && string_is(root, cases[i].want), "%s (padded %d): %s", cases[i].json,
                   padded, rc ? err.msg : "another string");
        }
    }
    /* In keys and values of a JSONL record, several in one document. */
    llm_json root, v;
    llm_error err;
    const char *rec = "{\"te\\udc01xt\":1,\"text\":\"x\\ud800y\\ud801\\ud802\\udc00z\",\"n\":[\"\\udfff\"]}";
    CHECKF(parse_str(rec, &root, &err) == 0, "%s", err.msg);
    CHECK(llm_json_field(root, "text", &v) && string_is(v, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xF0\x90\xA0\x80z"));
    CHECK(llm_json_field(root, "te\xEF\xBF\xBDxt", &v));
    /* A document with another fault is still refused, and the parser still works after. */
    CHECK(parse_str("[\"\\ud800\",]", &root, &err) == -1 && strncmp(err.msg, "invalid JSON: ", 14) == 0);
    CHECK(parse_str("\"\\ud800\\x\"", &root, &err) == -1);
    CHECK(parse_str("\"\\ud800", &root, &err) == -1);
    CHECK(parse_str("\"\\ud8\"", &root, &err) == -1);
    CHECK(parse_str("[\"ok\"]", &root, &err) == 0 && llm_json_array_len(root) == 1);
}

static void test_padded_and_copied(void)
{
    llm_json root, v;
    llm_error err;
    /* Unpadded: the exact length, heap-allocated so ASan sees any read past the end. */
    const char *doc = "{\"k\":\"value\"}";
    size_t n = strlen(doc);
    char *exact = malloc(n);
    CHECK(exact != NULL);
    memcpy(exact, doc, n);
    CHECK(llm_json_parse(parser, exact, n, 0, &root, &err) == 0);
    /* The copy means strings live in the parser, so the input may change or go. */
    memset(exact, 'X', n);
    free(exact);
    CHECK(llm_json_field(root, "k", &v) && string_is(v, "value"));

    /* Padded: garbage after len must be ignored, not parsed. */
    char *padded = malloc(n + LLM_JSON_PADDING);
    CHECK(padded != NULL);
    memcpy(padded, doc, n);
    memset(padded + n, '}', LLM_JSON_PADDING);
    CHECK(llm_json_parse(parser, padded, n, 1, &root, &err) == 0);
    free(padded);
    CHECK(llm_json_field(root, "k", &v) && string_is(v, "value"));

    /* A prefix of a longer text parses as just the prefix. */
    const char *two = "[1][2]";
    CHECK(llm_json_parse(parser, two, 3, 0, &root, &err) == 0 && llm_json_array_len(root) == 1);
}

static void test_parser_reuse(void)
{
    llm_json_parser *p = llm_json_parser_new();
    CHECK(p != NULL);
    llm_buf text;
    llm_buf_init(&text);
    for (int i = 0; i < 5000; i++) {
        llm_buf_clear(&text);
        /* Sizes go up and down so the parser's buffers both grow and get reused. */
        int items = (i * 37) % 500;
        llm_buf_printf(&text, "{\"i\":%d,\"items\":[", i);
        for (int k = 0; k < items; k++)
            llm_buf_printf(&text, "%s\"s%d\"", k ? "," : "", k);
        llm_buf_puts(&text, "]}");
        llm_json root, v;
        llm_error err;
        int padded = i % 2;
        if (padded) {
            if (llm_buf_reserve(&text, LLM_JSON_PADDING) < 0)
                break;
            memset(text.data + text.len, ' ', LLM_JSON_PADDING);
        }
        if (llm_json_parse(p, text.data, text.len, padded, &root, &err) != 0) {
            CHECKF(0, "document %d: %s", i, err.msg);
            break;
        }
        int64_t got = -1;
        CHECK(llm_json_field(root, "i", &v) && llm_json_get_int64(v, &got) == 0 && got == i);
        CHECK(llm_json_field(root, "items", &v) && llm_json_array_len(v) == (size_t)items);
        if (check_case_failed)
            break;
    }
    llm_buf_free(&text);
    llm_json_parser_free(p);
    llm_json_parser_free(NULL);
}

/* The tape's element count saturates at 2^24 - 1, so long arrays are counted by walking. */
static void test_huge_array(void)
{
    size_t count = (1u << 24) + 3;
    size_t n = 2 * count + 1;   /* "[" then count-1 times "0," then "7]" */
    char *text = malloc(n);
    CHECK(text != NULL);
    if (text == NULL)
        return;
    text[0] = '[';
    for (size_t i = 0; i + 1 < count; i++) {
        text[1 + 2 * i] = '0';
        text[2 + 2 * i] = ',';
    }
    text[n - 2] = '7';
    text[n - 1] = ']';
    llm_json root;
    llm_error err;
    CHECKF(llm_json_parse(parser, text, n, 0, &root, &err) == 0, "%s", err.msg);
    CHECKF(llm_json_array_len(root) == count, "len %zu", llm_json_array_len(root));
    free(text);
}

int main(void)
{
    parser = llm_json_parser_new();
    if (parser == NULL) {
        fprintf(stderr, "test_json: out of memory\n");
        return 1;
    }
    RUN(test_all_types);
    RUN(test_scalars);
    RUN(test_integer_limits);
    RUN(test_wide_numbers);
    RUN(test_nested_and_fields);
    RUN(test_iteration_order);
    RUN(test_minify);
    RUN(test_dump);
    RUN(test_errors);
    RUN(test_lone_surrogates);
    RUN(test_padded_and_copied);
    RUN(test_parser_reuse);
    RUN(test_huge_array);
    llm_json_parser_free(parser);
    CHECK_EXIT();
}
