/*
 * Tests of json_scan.c, the JSON Lines record scanner of jsonl_reader: exact
 * values for escapes, surrogates, numbers and nesting, refusals with their
 * reasons, and a differential test against jansson (the reference: the
 * scanner must accept exactly the lines json_loadb accepts, with the same
 * values, and write nested values as json_dumpb(JSON_COMPACT) does).  Built
 * twice: with the SSE2 string search, and with IO_JSON_SCALAR.
 */
#include "build_config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cu.h"
#include "json_scan.h"

static struct io_json_scanner sc;
static const struct io_json_field *fields;
static size_t n_fields;

static int64_t select_all(void *ctx, const char *key, size_t key_len)
{
    (void)ctx;
    (void)key;
    (void)key_len;
    return -1;
}

/* Keeps only the member named by ctx (column 0). */
static int64_t select_one(void *ctx, const char *key, size_t key_len)
{
    const char *name = ctx;

    return strlen(name) == key_len && memcmp(name, key, key_len) == 0 ? 0 : IO_JSON_SKIP;
}

/* The line scanned last, in a block of exactly its length: under ASan a
 * read past the line's end is reported.  Kept until the next scan, since
 * fields may point into it. */
static char *exact;

static int scan_n(const char *line, size_t len)
{
    free(exact);
    exact = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(exact);
    memcpy(exact, line, len);
    return io_json_scan_line(&sc, exact, len, select_all, NULL, &fields, &n_fields);
}

static int scan(const char *line)
{
    return scan_n(line, strlen(line));
}

/* Asserts that line is refused with a problem containing what. */
#define ASSERT_REFUSED(line, what)                                                                 \
    do {                                                                                           \
        CU_ASSERT_EQUAL(scan(line), 1);                                                            \
        CU_ASSERT_PTR_NOT_NULL(strstr(sc.problem, what));                                          \
        if (strstr(sc.problem, what) == NULL)                                                      \
            fprintf(stderr, "\n  %s: got \"%s\", want \"%s\"\n", line, sc.problem, what);          \
    } while (0)

static int field_is(size_t i, const char *key, enum io_json_kind kind)
{
    return i < n_fields && fields[i].key_len == strlen(key) &&
           memcmp(fields[i].key, key, fields[i].key_len) == 0 && fields[i].kind == kind;
}

static int text_is(size_t i, const char *text, size_t len)
{
    return i < n_fields && fields[i].text_len == len && memcmp(fields[i].text, text, len) == 0;
}

static void test_members_come_in_object_order_with_their_values(void)
{
    CU_ASSERT_EQUAL_FATAL(scan(" {\"s\":\"abc\", \"i\": -12 ,\"r\":2.5e1,\"t\":true,\"f\":false,"
                               "\"n\":null,\"o\":{ \"a\" : [ 1 , 2 ] },\"a\":[],\"e\":{}}\r\t "),
                          0);
    CU_ASSERT_EQUAL_FATAL(n_fields, 9);
    CU_ASSERT(field_is(0, "s", IO_JSON_STRING) && text_is(0, "abc", 3));
    CU_ASSERT(field_is(1, "i", IO_JSON_INTEGER) && fields[1].integer == -12);
    CU_ASSERT(field_is(2, "r", IO_JSON_REAL) && fields[2].real == 25.0);
    CU_ASSERT(field_is(3, "t", IO_JSON_TRUE));
    CU_ASSERT(field_is(4, "f", IO_JSON_FALSE));
    CU_ASSERT(field_is(5, "n", IO_JSON_NULL));
    CU_ASSERT(field_is(6, "o", IO_JSON_OBJECT) && text_is(6, "{\"a\":[1,2]}", 11));
    CU_ASSERT(field_is(7, "a", IO_JSON_ARRAY) && text_is(7, "[]", 2));
    CU_ASSERT(field_is(8, "e", IO_JSON_OBJECT) && text_is(8, "{}", 2));
    CU_ASSERT_EQUAL(scan("{}"), 0);
    CU_ASSERT_EQUAL(n_fields, 0);
    CU_ASSERT_EQUAL(scan("  { } "), 0);
}

static void test_only_selected_members_are_kept_but_all_are_checked(void)
{
    const char *line = "{\"a\": [1, {\"x\": \"\\u00e9\"}], \"text\": \"t\\n\", \"z\": 3}";

    CU_ASSERT_EQUAL_FATAL(
        io_json_scan_line(&sc, line, strlen(line), select_one, "text", &fields, &n_fields), 0);
    CU_ASSERT_EQUAL_FATAL(n_fields, 1);
    CU_ASSERT(field_is(0, "text", IO_JSON_STRING) && text_is(0, "t\n", 2));
    CU_ASSERT_EQUAL(fields[0].column, 0);
    line = "{\"a\": [1, {\"x\": \"\\u00e\"}], \"text\": \"t\"}";
    CU_ASSERT_EQUAL(
        io_json_scan_line(&sc, line, strlen(line), select_one, "text", &fields, &n_fields), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(sc.problem, "invalid escape"));
    line = "{\"a\": {\"k\": 1, \"k\": 2}, \"text\": \"t\"}";
    CU_ASSERT_EQUAL(
        io_json_scan_line(&sc, line, strlen(line), select_one, "text", &fields, &n_fields), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(sc.problem, "duplicate object key \"k\""));
}

static void test_escapes_become_utf8(void)
{
    CU_ASSERT_EQUAL_FATAL(scan("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t|\\u0041\\u00e9\\u20AC\\uFFFF"
                               "\\ud83d\\ude00|\\u0000|\\uDBFF\\uDFFF\"}"),
                          0);
    CU_ASSERT_EQUAL_FATAL(n_fields, 1);
    CU_ASSERT(text_is(0,
                      "\"\\/\b\f\n\r\t|A\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF\xF0\x9F\x98\x80|\0|"
                      "\xF4\x8F\xBF\xBF",
                      29));
    /* Escaped keys are unescaped too; raw UTF-8 passes through. */
    CU_ASSERT_EQUAL_FATAL(scan("{\"k\\u00e9y\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\"}"), 0);
    CU_ASSERT(field_is(0, "k\xC3\xA9y", IO_JSON_STRING));
    CU_ASSERT(text_is(0, "caf\xC3\xA9 \xF0\x9F\x98\x80", 10));
    ASSERT_REFUSED("{\"s\": \"\\x\"}", "invalid escape");
    ASSERT_REFUSED("{\"s\": \"\\u12\"}", "invalid escape");
    ASSERT_REFUSED("{\"s\": \"\\u12G4\"}", "invalid escape");
    ASSERT_REFUSED("{\"s\": \"\\U0041\"}", "invalid escape");
    ASSERT_REFUSED("{\"s\": \"a\tb\"}", "control character 0x09 in string");
    ASSERT_REFUSED("{\"\\u0000\": 1}", "NUL byte in object key not supported");
}

static void test_bad_surrogates_are_refused(void)
{
    ASSERT_REFUSED("{\"s\": \"\\ud800\"}", "invalid Unicode '\\uD800'");
    ASSERT_REFUSED("{\"s\": \"\\udc00\"}", "invalid Unicode '\\uDC00'");
    ASSERT_REFUSED("{\"s\": \"\\ud800\\u0041\"}", "invalid Unicode '\\uD800'");
    ASSERT_REFUSED("{\"s\": \"\\ud800\\ud800\"}", "invalid Unicode '\\uD800'");
    ASSERT_REFUSED("{\"s\": \"\\ud800x\\udc00\"}", "invalid Unicode '\\uD800'");
    ASSERT_REFUSED("{\"s\": \"\\udbff\\n\"}", "invalid Unicode '\\uDBFF'");
    ASSERT_REFUSED("{\"s\": \"\\ud800", "invalid Unicode");
}

static void test_invalid_utf8_is_refused(void)
{
    ASSERT_REFUSED("{\"s\": \"a\xC3\"}", "invalid UTF-8 byte 0xc3");
    ASSERT_REFUSED("{\"s\": \"\x80\"}", "invalid UTF-8 byte 0x80");
    ASSERT_REFUSED("{\"s\": \"\xC0\xAF\"}", "invalid UTF-8");         /* overlong '/' */
    ASSERT_REFUSED("{\"s\": \"\xE0\x80\xAF\"}", "invalid UTF-8");     /* overlong */
    ASSERT_REFUSED("{\"s\": \"\xED\xA0\x80\"}", "invalid UTF-8");     /* a surrogate */
    ASSERT_REFUSED("{\"s\": \"\xF4\x90\x80\x80\"}", "invalid UTF-8"); /* past U+10FFFF */
    ASSERT_REFUSED("{\"s\": \"\xF5\x80\x80\x80\"}", "invalid UTF-8");
    ASSERT_REFUSED("{\"k\xFF\": 1}", "invalid UTF-8 byte 0xff");
    ASSERT_REFUSED("{\"s\": 1}\xC3\xA9", "end of line expected");
    /* The column counts characters, not bytes. */
    ASSERT_REFUSED("{\"\xC3\xA9\xC3\xA9\": \"\xFF\"}", "invalid JSON at column 9: invalid UTF-8");
}

static void test_numbers_match_jansson_limits(void)
{
    CU_ASSERT_EQUAL_FATAL(scan("{\"max\": 9223372036854775807, \"min\": -9223372036854775808, "
                               "\"z\": -0, \"rz\": -0.0, \"e\": 1E2, \"e2\": 1e+2, \"e3\": 25e-1, "
                               "\"tiny\": 1e-400, \"f\": 0.1, \"big\": 1.7976931348623157e308}"),
                          0);
    CU_ASSERT_EQUAL_FATAL(n_fields, 10);
    CU_ASSERT(field_is(0, "max", IO_JSON_INTEGER) && fields[0].integer == INT64_MAX);
    CU_ASSERT(field_is(1, "min", IO_JSON_INTEGER) && fields[1].integer == INT64_MIN);
    CU_ASSERT(field_is(2, "z", IO_JSON_INTEGER) && fields[2].integer == 0);
    CU_ASSERT(field_is(3, "rz", IO_JSON_REAL) && fields[3].real == 0.0 && signbit(fields[3].real));
    CU_ASSERT(field_is(4, "e", IO_JSON_REAL) && fields[4].real == 100.0);
    CU_ASSERT(field_is(5, "e2", IO_JSON_REAL) && fields[5].real == 100.0);
    CU_ASSERT(field_is(6, "e3", IO_JSON_REAL) && fields[6].real == 2.5);
    CU_ASSERT(field_is(7, "tiny", IO_JSON_REAL) && fields[7].real == 0.0);
    CU_ASSERT(field_is(8, "f", IO_JSON_REAL) && fields[8].real == 0.1);
    CU_ASSERT(field_is(9, "big", IO_JSON_REAL) && fields[9].real == 1.7976931348623157e308);
    {
        /* A real longer than the scanner's stack copy: 0.000...0001 (300 digits). */
        char line[400];
        int n = sprintf(line, "{\"long\": 0.");

        memset(line + n, '0', 297);
        sprintf(line + n + 297, "25}");
        CU_ASSERT_EQUAL(scan(line), 0);
        CU_ASSERT(field_is(0, "long", IO_JSON_REAL) && fields[0].real == 2.5e-298);
    }
    ASSERT_REFUSED("{\"a\": 18446744073709551616}", "too big integer");
    ASSERT_REFUSED("{\"a\": -9223372036854775809}", "too big negative integer");
    ASSERT_REFUSED("{\"a\": 123456789012345678901234567890}", "too big integer");
    ASSERT_REFUSED("{\"a\": 1e400}", "real number overflow");
    ASSERT_REFUSED("{\"a\": -1e400}", "real number overflow");
    ASSERT_REFUSED("{\"a\": 01}", "leading zero");
    ASSERT_REFUSED("{\"a\": -01}", "leading zero");
    ASSERT_REFUSED("{\"a\": 1.}", "a digit must follow '.'");
    ASSERT_REFUSED("{\"a\": .5}", "invalid token");
    ASSERT_REFUSED("{\"a\": +1}", "invalid token");
    ASSERT_REFUSED("{\"a\": 1e}", "a digit must follow the exponent");
    ASSERT_REFUSED("{\"a\": 1e+}", "a digit must follow the exponent");
    ASSERT_REFUSED("{\"a\": -}", "invalid number");
    ASSERT_REFUSED("{\"a\": 1x}", "',' or '}' expected, got 'x'");
    ASSERT_REFUSED("{\"a\": NaN}", "invalid token");
    ASSERT_REFUSED("{\"a\": tru}", "invalid token");
    ASSERT_REFUSED("{\"a\": truex}", "',' or '}' expected");
}

/* "{"a": [[...[v]...]]}" with `arrays` arrays around v (v NULL: innermost array empty). */
static char *nested(int arrays, const char *v)
{
    size_t cap = (size_t)arrays * 2 + 32;
    char *s = malloc(cap), *p = s;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    p += sprintf(p, "{\"a\": ");
    for (int i = 0; i < arrays; i++)
        *p++ = '[';
    if (v != NULL)
        p += sprintf(p, "%s", v);
    for (int i = 0; i < arrays; i++)
        *p++ = ']';
    sprintf(p, "}");
    return s;
}

static int jansson_accepts(const char *line)
{
    json_t *j = json_loadb(line, strlen(line),
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    int ok = j != NULL && json_is_object(j);

    json_decref(j);
    return ok;
}

/* Beyond jansson: integers from 2^63 to 2^64-1 are unsigned (winnow writes
 * uint64 columns, e.g. lsh's bucket ids, and must read them back). */
static void test_integers_up_to_uint64_max_are_unsigned(void)
{
    CU_ASSERT_EQUAL_FATAL(scan("{\"lo\": 9223372036854775808, \"hi\": 18446744073709551615, "
                               "\"n\": [18446744073709551615, -9223372036854775808]}"),
                          0);
    CU_ASSERT_EQUAL_FATAL(n_fields, 3);
    CU_ASSERT(field_is(0, "lo", IO_JSON_UNSIGNED) &&
              fields[0].unsigned_ == UINT64_C(9223372036854775808));
    CU_ASSERT(field_is(1, "hi", IO_JSON_UNSIGNED) && fields[1].unsigned_ == UINT64_MAX);
    CU_ASSERT(field_is(2, "n", IO_JSON_ARRAY) && fields[2].text_len == 43 &&
              memcmp(fields[2].text, "[18446744073709551615,-9223372036854775808]", 43) == 0);
    CU_ASSERT_STRING_EQUAL(io_json_kind_name(IO_JSON_UNSIGNED), "an integer");
    ASSERT_REFUSED("{\"a\": [18446744073709551616]}", "too big integer");
}

static void test_nesting_depth_limit_is_jansson_s(void)
{
    /* The object is depth 1, its member's arrays 2..arrays+1, a scalar inside one more. */
    static const struct {
        int arrays;
        const char *inner;
        int ok;
    } cases[] = {
        { 2047, NULL, 1 }, { 2047, "1", 0 },          { 2046, "1", 1 },  { 2048, NULL, 0 },
        { 2046, "{}", 1 }, { 2046, "{\"k\": 1}", 0 }, { 5000, NULL, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *line = nested(cases[i].arrays, cases[i].inner);
        const char *keep = "a";
        int rc = io_json_scan_line(&sc, line, strlen(line), select_one, (void *)keep, &fields,
                                   &n_fields);

        CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : 1);
        CU_ASSERT_EQUAL(jansson_accepts(line), cases[i].ok);
        if (!cases[i].ok)
            CU_ASSERT_PTR_NOT_NULL(strstr(sc.problem, "maximum parsing depth reached"));
        if (cases[i].ok) {
            /* The member's text is the line's, less "{"a": " and the last '}'. */
            CU_ASSERT_EQUAL(n_fields, 1);
            CU_ASSERT(n_fields == 1 && text_is(0, line + 6, strlen(line) - 7));
        }
        /* Skipped members are checked to the same depth. */
        rc = io_json_scan_line(&sc, line, strlen(line), select_one, "b", &fields, &n_fields);
        CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : 1);
        free(line);
    }
}

static void test_malformed_lines_are_refused_with_reasons(void)
{
    ASSERT_REFUSED("{\"a\": 1} x", "end of line expected after the object");
    ASSERT_REFUSED("{\"a\": 1}}", "end of line expected");
    ASSERT_REFUSED("{\"a\": 1,}", "a string key expected, got '}'");
    ASSERT_REFUSED("{\"a\" 1}", "':' expected, got '1'");
    ASSERT_REFUSED("{a: 1}", "a string key expected, got 'a'");
    ASSERT_REFUSED("{\"a\": [1,]}", "invalid token");
    ASSERT_REFUSED("{\"a\": [1 2]}", "',' or ']' expected, got '2'");
    /* A byte that is not printable ASCII is named by its value: the message stays UTF-8. */
    ASSERT_REFUSED("{\"a\": 1\x01}", "',' or '}' expected, got byte 0x01");
    ASSERT_REFUSED("{\"a\": 1\xff}", "',' or '}' expected, got byte 0xff");
    ASSERT_REFUSED("{\"a\": {\"b\": 1,}}", "a string key expected");
    ASSERT_REFUSED("{\"a\": 1, \"a\": 2}", "invalid JSON at column 10: duplicate object key \"a\"");
    ASSERT_REFUSED("{\"a\": 1, \"\\u0061\": 2}", "duplicate object key \"a\"");
    CU_ASSERT_EQUAL(scan_n("{\"a\": 1}\0", 9), 1); /* a NUL byte after the object */
    CU_ASSERT_PTR_NOT_NULL(strstr(sc.problem, "end of line expected"));
    ASSERT_REFUSED("", "premature end of line");
    ASSERT_REFUSED("[1, 2]", "expected a JSON object, got an array");
    ASSERT_REFUSED("\"s\"", "expected a JSON object, got a string");
    ASSERT_REFUSED("12", "expected a JSON object, got an integer");
    ASSERT_REFUSED("1.5", "expected a JSON object, got a number");
    ASSERT_REFUSED("true", "expected a JSON object, got a boolean");
    ASSERT_REFUSED("null", "expected a JSON object, got null");
    ASSERT_REFUSED("[1, 2] x", "end of line expected after the value");
    ASSERT_REFUSED("[1, 2", "premature end of line");
    ASSERT_REFUSED("\xEF\xBB\xBF{}", "invalid token"); /* a byte order mark */

    /* Every proper prefix of a valid line is refused. */
    {
        const char *line = "{\"a\": [1, -2.5e3, {\"b\": \"c\\u00e9\\ud83d\\ude00\"}], \"t\": true,"
                           " \"n\": null, \"s\": \"x\\ny\"}";

        CU_ASSERT_EQUAL(scan(line), 0);
        for (size_t len = 0; len < strlen(line); len++) {
            int rc = scan_n(line, len);

            CU_ASSERT_EQUAL(rc, 1);
            if (rc != 1)
                fprintf(stderr, "\n  prefix %zu accepted\n", len);
        }
    }
}

static void test_large_objects_find_duplicates(void)
{
    char line[4096];
    size_t used = 1;

    line[0] = '{';
    for (int i = 0; i < 200; i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%s\"k%d\": %d", i ? ", " : "",
                                 i, i);
    snprintf(line + used, sizeof(line) - used, "}");
    CU_ASSERT_EQUAL(scan(line), 0);
    CU_ASSERT_EQUAL(n_fields, 200);
    snprintf(line + used, sizeof(line) - used, ", \"k17\": 0}");
    ASSERT_REFUSED(line, "duplicate object key \"k17\"");
    /* The same keys in sibling objects are fine; nested duplicates are not. */
    CU_ASSERT_EQUAL(scan("{\"a\": {\"k\": 1}, \"b\": {\"k\": 1}, \"k\": [{\"k\": 1}, {\"k\": 2}]}"),
                    0);
    ASSERT_REFUSED("{\"a\": [{\"k\": 1, \"j\": {\"k\": 1}, \"k\": 3}]}",
                   "duplicate object key \"k\"");
}

/* ---- differential test against jansson ----------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned pick(unsigned n)
{
    return (unsigned)(rnd() % n);
}

struct text {
    char *data;
    size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void ws(struct text *t)
{
    static const char *const spaces[] = { "", "", "", " ", "  ", "\t", "\r", " \n " };

    puts_(t, spaces[pick(8)]);
}

static void gen_string(struct text *t)
{
    static const char *const pieces[] = {
        "a",
        "Z",
        "0",
        " ",
        "key",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\t",
        "\\b",
        "\\f",
        "\\r",
        "\\u0041",
        "\\u00e9",
        "\\u20ac",
        "\\uFFFF",
        "\\u0000",
        "\\u001f",
        "\\u007F",
        "\\ud83d\\ude00",
        "\xC3\xA9",
        "\xE2\x82\xAC",
        "\xF0\x9F\x98\x80",
        "\x7F",
        "\\ud800",
        "\\udc00",
        "\xC3",
        "\xED\xA0\x80",
        "\x01",
        "\\x",
        "\\u12",
    };
    unsigned n = pick(6);

    puts_(t, "\"");
    for (unsigned i = 0; i < n; i++)
        puts_(t, pieces[pick(pick(8) == 0 ? 32 : 25)]);
    puts_(t, "\"");
}

static void gen_number(struct text *t)
{
    static const char *const numbers[] = {
        "0",
        "-0",
        "1",
        "-1",
        "42",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "-9223372036854775809",
        "0.5",
        "-0.0",
        "1e5",
        "1E-5",
        "2.5e+10",
        "1e400",
        "1e-400",
        "123.456e-7",
        "3.141592653589793",
        "1e22",
        "5e-324",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "0.1e1",
        "100000000000000000000000",
    };

    puts_(t, numbers[pick(pick(6) == 0 ? 28 : 20)]);
}

static void gen_value(struct text *t, int depth);

static void gen_object(struct text *t, int depth)
{
    static const char *const keys[] = { "\"a\"",       "\"b\"", "\"text\"",    "\"id\"",
                                        "\"\\u0061\"", "\"\"",  "\"\\u00e9\"", "\"\xC3\xA9\"" };
    unsigned n = pick(5);

    puts_(t, "{");
    ws(t);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0) {
            puts_(t, ",");
            ws(t);
        }
        if (pick(3) == 0)
            gen_string(t);
        else
            puts_(t, keys[pick(8)]);
        ws(t);
        puts_(t, ":");
        ws(t);
        gen_value(t, depth + 1);
        ws(t);
    }
    puts_(t, "}");
}

static void gen_value(struct text *t, int depth)
{
    unsigned kind = pick(depth > 4 ? 6 : 8);

    switch (kind) {
    case 0: puts_(t, "null"); break;
    case 1: puts_(t, pick(2) ? "true" : "false"); break;
    case 2:
    case 3: gen_number(t); break;
    case 4:
    case 5: gen_string(t); break;
    case 6: gen_object(t, depth); break;
    default: {
        unsigned n = pick(4);

        puts_(t, "[");
        ws(t);
        for (unsigned i = 0; i < n; i++) {
            if (i > 0) {
                puts_(t, ",");
                ws(t);
            }
            gen_value(t, depth + 1);
            ws(t);
        }
        puts_(t, "]");
        break;
    }
    }
}

/* Damages t at random: a byte changed, removed or inserted, or the text cut. */
static void mutate(struct text *t)
{
    static const char bytes[] = "{}[]\",:\\ 0-.eEtn\x80\xC3\x01u";
    size_t at = t->len ? pick((unsigned)t->len) : 0;

    switch (pick(4)) {
    case 0:
        if (t->len)
            t->data[at] = bytes[pick(sizeof(bytes) - 1)];
        break;
    case 1:
        if (t->len) {
            memmove(t->data + at, t->data + at + 1, t->len - at);
            t->len--;
        }
        break;
    case 2: {
        char c = bytes[pick(sizeof(bytes) - 1)];

        put(t, "x", 1);
        memmove(t->data + at + 1, t->data + at, t->len - at - 1);
        t->data[at] = c;
        break;
    }
    default: t->len = at; break;
    }
}

static int compare_with_jansson(const char *line, size_t len, unsigned long case_no)
{
    json_error_t jerr;
    json_t *j =
        json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    int rc = scan_n(line, len), ok = 1;

    if (j == NULL || !json_is_object(j)) {
        ok = rc == 1;
        if (ok && j != NULL)
            ok = strstr(sc.problem, "expected a JSON object") != NULL;
        if (ok && j == NULL)
            ok = strstr(sc.problem, "invalid JSON") != NULL;
    } else if (rc != 0 || n_fields != json_object_size(j)) {
        ok = 0;
    } else {
        const char *key;
        json_t *value;
        size_t i = 0;

        json_object_foreach(j, key, value)
        {
            const struct io_json_field *f = &fields[i++];
            char dump[8192];
            size_t n;

            if (f->key_len != strlen(key) || memcmp(f->key, key, f->key_len) != 0) {
                ok = 0;
                break;
            }
            switch (json_typeof(value)) {
            case JSON_STRING:
                ok = f->kind == IO_JSON_STRING && f->text_len == json_string_length(value) &&
                     memcmp(f->text, json_string_value(value), f->text_len) == 0;
                break;
            case JSON_INTEGER:
                ok = f->kind == IO_JSON_INTEGER && f->integer == json_integer_value(value);
                break;
            case JSON_REAL:
                ok = f->kind == IO_JSON_REAL &&
                     memcmp(&f->real, &(double){ json_real_value(value) }, sizeof(double)) == 0;
                break;
            case JSON_TRUE: ok = f->kind == IO_JSON_TRUE; break;
            case JSON_FALSE: ok = f->kind == IO_JSON_FALSE; break;
            case JSON_NULL: ok = f->kind == IO_JSON_NULL; break;
            case JSON_OBJECT:
            case JSON_ARRAY:
                n = json_dumpb(value, dump, sizeof(dump), JSON_COMPACT);
                ok = f->kind == (json_is_object(value) ? IO_JSON_OBJECT : IO_JSON_ARRAY) &&
                     n <= sizeof(dump) && f->text_len == n && memcmp(f->text, dump, n) == 0;
                break;
            }
            if (!ok)
                break;
        }
    }
    if (!ok)
        fprintf(stderr, "\n  case %lu differs from jansson (%s; scanner rc %d: %s):\n  %.*s\n",
                case_no, j ? "accepted" : jerr.text, rc, sc.problem, (int)len, line);
    json_decref(j);
    return ok;
}

/* Nonzero when t holds a digit run, not after '-', worth 2^63 to 2^64-1: an
 * integer json_scan takes as unsigned and jansson refuses, so the line is no
 * case for the comparison (test_integers_up_to_uint64_max_are_unsigned). */
static int has_unsigned_only_integer(const struct text *t)
{
    for (size_t i = 0; i < t->len;) {
        uint64_t value = 0;
        int overflow = 0;
        size_t start = i;

        if (t->data[i] < '0' || t->data[i] > '9') {
            i++;
            continue;
        }
        for (; i < t->len && t->data[i] >= '0' && t->data[i] <= '9'; i++) {
            unsigned d = (unsigned)(t->data[i] - '0');

            if (value > (UINT64_MAX - d) / 10)
                overflow = 1;
            value = value * 10 + d;
        }
        if (!overflow && value > (uint64_t)INT64_MAX && (start == 0 || t->data[start - 1] != '-'))
            return 1;
    }
    return 0;
}

static void test_random_lines_agree_with_jansson(void)
{
    struct text t = { NULL, 0, 0 };
    unsigned long accepted = 0, refused = 0, failures = 0;

    for (unsigned long i = 0; i < 60000 && failures < 5; i++) {
        t.len = 0;
        ws(&t);
        if (pick(10) == 0)
            gen_value(&t, 0);
        else
            gen_object(&t, 0);
        ws(&t);
        if (pick(3) == 0)
            mutate(&t);
        if (has_unsigned_only_integer(&t))
            continue;
        if (!compare_with_jansson(t.data, t.len, i))
            failures++;
        else if (sc.problem[0] == '\0')
            accepted++;
        else
            refused++;
    }
    CU_ASSERT_EQUAL(failures, 0);
    /* Both outcomes are well represented. */
    CU_ASSERT(accepted > 15000);
    CU_ASSERT(refused > 15000);
    free(t.data);
}

static void test_nested_reals_are_written_as_jansson_writes_them(void)
{
    static const char *const lines[] = {
        "{\"a\": [1.0, -0.0, 0.1, 1e300, 1e-300, 123456789.0, 1e16, 1e17, 2.5e-5, 5e-324, "
        "1.7976931348623157e308, 100, -0, 3.0e0, 1E+2]}",
        "{\"a\": {\"x\\u0001\\u001f\\u007f/\": \"\\u0000\\b\\f\\n\\r\\t\\\"\\\\/\xC3\xA9\"}}",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        CU_ASSERT(compare_with_jansson(lines[i], strlen(lines[i]), i));
}

static int clean_up(void)
{
    free(exact);
    exact = NULL;
    io_json_scanner_clear(&sc);
    return 0;
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "members come in object order with their values",
          test_members_come_in_object_order_with_their_values },
        { "only selected members are kept but all are checked",
          test_only_selected_members_are_kept_but_all_are_checked },
        { "escapes become UTF-8", test_escapes_become_utf8 },
        { "bad surrogates are refused", test_bad_surrogates_are_refused },
        { "invalid UTF-8 is refused", test_invalid_utf8_is_refused },
        { "numbers match jansson's limits", test_numbers_match_jansson_limits },
        { "integers up to uint64 max are unsigned", test_integers_up_to_uint64_max_are_unsigned },
        { "nesting depth limit is jansson's", test_nesting_depth_limit_is_jansson_s },
        { "malformed lines are refused with reasons",
          test_malformed_lines_are_refused_with_reasons },
        { "large objects find duplicates", test_large_objects_find_duplicates },
        { "nested reals are written as jansson writes them",
          test_nested_reals_are_written_as_jansson_writes_them },
        { "random lines agree with jansson", test_random_lines_agree_with_jansson },
        { NULL, NULL },
    };

#ifdef IO_JSON_SCALAR
    return wn_test_run_suite("json_scan (byte loop)", tests, NULL, clean_up);
#else
    return wn_test_run_suite("json_scan", tests, NULL, clean_up);
#endif
}
