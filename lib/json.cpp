/* The C face of simdjson's DOM parser (json.h). Handles are simdjson elements and
 * iterators copied into opaque words; no C++ exception ever crosses into C. */
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include <simdjson.h>

#include "json.h"
#include "utf8.h"

using simdjson::dom::element;
using simdjson::dom::element_type;

struct llm_json_parser {
    simdjson::dom::parser dom;
    std::vector<char> repaired;   /* a document with its lone surrogate escapes replaced */
};

static_assert(simdjson::SIMDJSON_PADDING <= LLM_JSON_PADDING,
              "callers pad by LLM_JSON_PADDING, simdjson must not read further");
static_assert(sizeof(element) <= sizeof(llm_json), "simdjson element does not fit llm_json");
static_assert(std::is_trivially_copyable<element>::value, "element must be memcpy-able");

/* An iterator is a position and the end to stop at; both are trivially copyable
 * tape references, so the pair lives in llm_json_iter's words. */
template <class It>
struct iter_state {
    It cur;
    It end;
};
using array_state = iter_state<simdjson::dom::array::iterator>;
using object_state = iter_state<simdjson::dom::object::iterator>;
static_assert(sizeof(array_state) <= sizeof(llm_json_iter), "array iterator does not fit");
static_assert(sizeof(object_state) <= sizeof(llm_json_iter), "object iterator does not fit");
static_assert(std::is_trivially_copyable<array_state>::value, "array iterator must be memcpy-able");
static_assert(std::is_trivially_copyable<object_state>::value, "object iterator must be memcpy-able");

static element to_element(llm_json v)
{
    element e;
    std::memcpy(static_cast<void *>(&e), v.opaque, sizeof e);
    return e;
}

static llm_json from_element(element e)
{
    llm_json v;
    std::memset(&v, 0, sizeof v);
    std::memcpy(v.opaque, static_cast<const void *>(&e), sizeof e);
    return v;
}

template <class State>
static State load_state(const llm_json_iter *it)
{
    State s;
    std::memcpy(static_cast<void *>(&s), it->opaque, sizeof s);
    return s;
}

template <class State>
static void store_state(llm_json_iter *it, const State &s)
{
    std::memset(it, 0, sizeof *it);
    std::memcpy(it->opaque, static_cast<const void *>(&s), sizeof s);
}

llm_json_parser *llm_json_parser_new(void)
{
    return new (std::nothrow) llm_json_parser;
}

void llm_json_parser_free(llm_json_parser *p)
{
    delete p;
}

static int parse_error(simdjson::error_code code, size_t len, llm_error *err)
{
    switch (code) {
    case simdjson::MEMALLOC:
        return llm_error_set(err, "out of memory parsing a JSON document of %zu bytes", len);
    case simdjson::CAPACITY:
        return llm_error_set(err, "JSON document of %zu bytes is larger than simdjson accepts",
                             len);
    default:
        return llm_error_set(err, "invalid JSON: %s", simdjson::error_message(code));
    }
}

/* The value of the escape \uXXXX at s (6 readable bytes), or -1. */
static long hex4(const char *s)
{
    if (s[0] != '\\' || s[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Replaces, in place, each escaped surrogate that is not half of a pair (\ud800 alone, a
 * high one followed by anything but a low one, a low one first) by \ufffd, which has the
 * same length. Returns how many. In valid JSON every backslash starts an escape inside a
 * string, so escapes are found by walking from backslash to backslash. */
static size_t replace_lone_surrogates(char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        long v = i + 6 <= n ? hex4(s + i) : -1;
        if (v >= 0xD800 && v <= 0xDBFF) {
            long w = i + 12 <= n ? hex4(s + i + 6) : -1;
            if (w >= 0xDC00 && w <= 0xDFFF) {
                i += 11;   /* a pair: both escapes */
                continue;
            }
        }
        if (v >= 0xD800 && v <= 0xDFFF) {
            std::memcpy(s + i, "\\ufffd", 6);
            count++;
            i += 5;
        } else {
            i++;   /* the escaped character, which may be a backslash */
        }
    }
    return count;
}

/* The end of the number that starts at s[i], as JSON spells one. */
static size_t number_end(const char *s, size_t i, size_t n)
{
    while (i < n && (std::isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.' ||
                     s[i] == 'e' || s[i] == 'E'))
        i++;
    return i;
}

/* Whether a number token is past what simdjson holds: an integer outside int64 and uint64,
 * or a value past a double's range. */
static bool number_too_wide(const char *tok, size_t len)
{
    const std::string copy(tok, len);    /* NUL-terminated for strto*; a throw is caught in llm_json_parse */
    errno = 0;
    bool integer = copy.find_first_of(".eE") == std::string::npos;
    if (integer && copy[0] == '-')
        (void)std::strtoll(copy.c_str(), NULL, 10);
    else if (integer)
        (void)std::strtoull(copy.c_str(), NULL, 10);
    else
        return std::isinf(std::strtod(copy.c_str(), NULL));
    return errno == ERANGE;
}

/* Makes each number simdjson cannot hold (12345678901234567890123, 1e309) a null padded to
 * the same length: valid JSON allows them, and a record's other members must not stop it,
 * while a member that is read (as a number, a string, anything) finds no value there and
 * says so. Returns how many. Outside strings, every quote starts or ends one (escaped
 * quotes only occur inside). */
static size_t replace_wide_numbers(char *s, size_t n)
{
    size_t count = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '-' || std::isdigit((unsigned char)s[i])) {
            size_t end = number_end(s, i, n);
            if (end - i >= 4 && number_too_wide(s + i, end - i)) {
                std::memcpy(s + i, "null", 4);
                std::memset(s + i + 4, ' ', end - i - 4);
                count++;
            }
            i = end - 1;
        }
    }
    return count;
}

static simdjson::error_code parse_dom(llm_json_parser *p, const char *buf, size_t len, bool copy,
                                      element *e)
{
    try {
        /* realloc_if_needed=true copies into the parser's own padded buffer. */
        return p->dom.parse(buf, len, copy).get(*e);
    } catch (...) {
        return simdjson::MEMALLOC;   /* the error-code API does not throw; belt and braces */
    }
}

int llm_json_parse(llm_json_parser *p, const char *buf, size_t len, int padded, llm_json *root,
                   llm_error *err)
{
    element e;
    simdjson::error_code code = parse_dom(p, buf, len, padded == 0, &e);
    /* simdjson refuses a lone surrogate escape ("\ud800"); JSON.parse takes it, and node's
     * conversion of the string to UTF-8, which the npm tiktoken and tokenizers packages get
     * their text through, makes each one U+FFFD. The same here, on a repaired copy: only a
     * document that failed pays for it. Numbers too wide for simdjson become nulls there. */
    if (code == simdjson::STRING_ERROR || code == simdjson::NUMBER_ERROR) {
        try {
            p->repaired.assign(buf, buf + len);
            if (replace_lone_surrogates(p->repaired.data(), len) + replace_wide_numbers(p->repaired.data(), len) > 0) {
                p->repaired.resize(len + LLM_JSON_PADDING);
                code = parse_dom(p, p->repaired.data(), len, false, &e);
            }
        } catch (...) {
            code = simdjson::MEMALLOC;
        }
    }
    if (code != simdjson::SUCCESS)
        return parse_error(code, len, err);
    *root = from_element(e);
    return 0;
}

llm_json_type llm_json_type_of(llm_json v)
{
    switch (to_element(v).type()) {
    case element_type::ARRAY: return LLM_JSON_ARRAY;
    case element_type::OBJECT: return LLM_JSON_OBJECT;
    case element_type::INT64: return LLM_JSON_INT;
    case element_type::UINT64: return LLM_JSON_UINT;
    case element_type::DOUBLE: return LLM_JSON_DOUBLE;
    case element_type::STRING: return LLM_JSON_STRING;
    case element_type::BOOL: return LLM_JSON_BOOL;
    case element_type::NULL_VALUE: return LLM_JSON_NULL;
    }
    return LLM_JSON_NULL;
}

const char *llm_json_type_name(llm_json_type t)
{
    switch (t) {
    case LLM_JSON_NULL: return "null";
    case LLM_JSON_BOOL: return "boolean";
    case LLM_JSON_INT: return "integer";
    case LLM_JSON_UINT: return "integer";
    case LLM_JSON_DOUBLE: return "number";
    case LLM_JSON_STRING: return "string";
    case LLM_JSON_ARRAY: return "array";
    case LLM_JSON_OBJECT: return "object";
    }
    return "unknown";
}

int llm_json_field(llm_json obj, const char *key, llm_json *out)
{
    simdjson::dom::object o;
    if (to_element(obj).get_object().get(o) != simdjson::SUCCESS)
        return 0;
    element e;
    if (o.at_key(key).get(e) != simdjson::SUCCESS)
        return 0;
    *out = from_element(e);
    return 1;
}

/* simdjson's getters already refuse wrong types and values that do not fit (a
 * UINT64 is never an int64; a negative INT64 is never a uint64). */
template <class T, class Getter>
static int get_scalar(llm_json v, T *out, Getter get)
{
    T x;
    if (get(to_element(v)).get(x) != simdjson::SUCCESS)
        return -1;
    *out = x;
    return 0;
}

int llm_json_get_int64(llm_json v, int64_t *out)
{
    return get_scalar(v, out, [](element e) { return e.get_int64(); });
}

int llm_json_get_uint64(llm_json v, uint64_t *out)
{
    return get_scalar(v, out, [](element e) { return e.get_uint64(); });
}

int llm_json_get_double(llm_json v, double *out)
{
    return get_scalar(v, out, [](element e) { return e.get_double(); });
}

int llm_json_get_bool(llm_json v, int *out)
{
    bool b;
    if (to_element(v).get_bool().get(b) != simdjson::SUCCESS)
        return -1;
    *out = b ? 1 : 0;
    return 0;
}

int llm_json_get_string(llm_json v, const char **s, size_t *len)
{
    std::string_view sv;
    if (to_element(v).get_string().get(sv) != simdjson::SUCCESS)
        return -1;
    *s = sv.data();
    *len = sv.size();
    return 0;
}

size_t llm_json_array_len(llm_json arr)
{
    simdjson::dom::array a;
    if (to_element(arr).get_array().get(a) != simdjson::SUCCESS)
        return 0;
    size_t n = a.size();
    /* The tape keeps a 24-bit count that saturates; count big arrays by walking. */
    if (n < 0xFFFFFF)
        return n;
    n = 0;
    for (auto it = a.begin(), end = a.end(); it != end; ++it)
        n++;
    return n;
}

void llm_json_array_begin(llm_json arr, llm_json_iter *it)
{
    array_state s{};
    simdjson::dom::array a;
    if (to_element(arr).get_array().get(a) == simdjson::SUCCESS)
        s = array_state{a.begin(), a.end()};
    store_state(it, s);   /* a non-array gets cur == end: nothing to iterate */
}

int llm_json_array_next(llm_json_iter *it, llm_json *out)
{
    array_state s = load_state<array_state>(it);
    if (!(s.cur != s.end))
        return 0;
    *out = from_element(*s.cur);
    ++s.cur;
    store_state(it, s);
    return 1;
}

void llm_json_object_begin(llm_json obj, llm_json_iter *it)
{
    object_state s{};
    simdjson::dom::object o;
    if (to_element(obj).get_object().get(o) == simdjson::SUCCESS)
        s = object_state{o.begin(), o.end()};
    store_state(it, s);
}

int llm_json_object_next(llm_json_iter *it, const char **key, size_t *keylen, llm_json *val)
{
    object_state s = load_state<object_state>(it);
    if (!(s.cur != s.end))
        return 0;
    std::string_view k = s.cur.key();
    *key = k.data();
    *keylen = k.size();
    *val = from_element(s.cur.value());
    ++s.cur;
    store_state(it, s);
    return 1;
}

void llm_json_minify(llm_json v, llm_buf *out)
{
    try {
        std::string text = simdjson::minify(to_element(v));
        llm_buf_append(out, text.data(), text.size());
    } catch (...) {
        out->failed = 1;   /* std::bad_alloc from the string: the same as a failed append */
    }
}

/* A double as Python's repr writes it: the shortest digits that read back as the same
 * double, positional when the decimal exponent is from -4 to 15 (with ".0" when whole),
 * else d.ddde+XX. JSON has no NaN or infinity, so neither comes here. */
static void dump_double(double x, llm_buf *out)
{
    char buf[40];
    int prec = 0;
    for (; prec < 17; prec++) {    /* the first precision that round-trips is the shortest */
        std::snprintf(buf, sizeof buf, "%.*e", prec, x);
        if (std::strtod(buf, NULL) == x)
            break;
    }
    /* buf is [-]d[.ddd]e[+-]XX: gather the digits and the exponent */
    const char *p = buf;
    if (*p == '-')
        llm_buf_putc(out, *p++);
    char digits[24];
    int n = 0;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    int exp = std::atoi(p + 1);    /* the value is d.ddd x 10^exp */
    if (exp < -4 || exp >= 16) {
        llm_buf_putc(out, digits[0]);
        if (n > 1) {
            llm_buf_putc(out, '.');
            llm_buf_append(out, digits + 1, (size_t)n - 1);
        }
        llm_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        llm_buf_append(out, "0.", 2);
        for (int i = exp + 1; i < 0; i++)
            llm_buf_putc(out, '0');
        llm_buf_append(out, digits, (size_t)n);
    } else if (exp + 1 < n) {
        llm_buf_append(out, digits, (size_t)exp + 1);
        llm_buf_putc(out, '.');
        llm_buf_append(out, digits + exp + 1, (size_t)(n - exp - 1));
    } else {
        llm_buf_append(out, digits, (size_t)n);
        for (int i = n; i <= exp; i++)
            llm_buf_putc(out, '0');
        llm_buf_append(out, ".0", 2);
    }
}

void llm_json_dump(llm_json v, llm_buf *out)
{
    llm_json_iter it;
    llm_json x;
    const char *s = "";
    size_t n = 0;
    int first = 1, b = 0;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    switch (llm_json_type_of(v)) {
    case LLM_JSON_NULL: llm_buf_puts(out, "null"); break;
    case LLM_JSON_BOOL: llm_buf_puts(out, llm_json_get_bool(v, &b) == 0 && b ? "true" : "false"); break;
    case LLM_JSON_INT: llm_json_get_int64(v, &i), llm_buf_i64(out, i); break;
    case LLM_JSON_UINT: llm_json_get_uint64(v, &u), llm_buf_u64(out, u); break;
    case LLM_JSON_DOUBLE: llm_json_get_double(v, &d), dump_double(d, out); break;
    case LLM_JSON_STRING:
        llm_json_get_string(v, &s, &n);
        llm_buf_json_utf8(out, s, n);   /* simdjson has checked it */
        break;
    case LLM_JSON_ARRAY:
        llm_buf_putc(out, '[');
        for (llm_json_array_begin(v, &it); llm_json_array_next(&it, &x); first = 0) {
            if (!first)
                llm_buf_append(out, ", ", 2);
            llm_json_dump(x, out);
        }
        llm_buf_putc(out, ']');
        break;
    case LLM_JSON_OBJECT:
        llm_buf_putc(out, '{');
        for (llm_json_object_begin(v, &it); llm_json_object_next(&it, &s, &n, &x); first = 0) {
            if (!first)
                llm_buf_append(out, ", ", 2);
            llm_buf_json_utf8(out, s, n);
            llm_buf_append(out, ": ", 2);
            llm_json_dump(x, out);
        }
        llm_buf_putc(out, '}');
        break;
    }
}

/* UTF-8 validation lives here because simdjson's SIMD validator does it at memory speed;
 * declared in utf8.h with the rest of the UTF-8 functions. */
extern "C" int llm_utf8_valid(const char *s, size_t n)
{
    /* Short texts come by the million (a line each): the implementation is looked up
     * once, and ASCII, most of them, needs no call at all. */
    static const simdjson::implementation *const impl =
        simdjson::get_available_implementations().detect_best_supported();
    if (n < 128 && llm_utf8_ascii_prefix(s, n) == n)
        return 1;
    return impl->validate_utf8(s, n) ? 1 : 0;
}
