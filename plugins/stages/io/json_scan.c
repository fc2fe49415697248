/*
 * io_json_scan_line: one pass over a JSON Lines record, no tree, no
 * allocation per value (scratch buffers grow once and are reused).  String
 * bodies are searched 16 bytes at a time (json_text.h).
 */
#include "build_config.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/error.h>

#include "fnv.h"
#include "json_scan.h"
#include "json_text.h"
#include "utf8.h"

/* A key of an open object: its hash and where its unescaped bytes lie. */
struct io_json_key {
    uint32_t hash;
    uint32_t in_keybuf; /* 1: keybuf; 0: the line */
    size_t off, len;
    size_t at; /* offset of its opening quote in the line, for messages */
};

struct io_json_frame {
    size_t key_start; /* first key of this object in keys[] */
    int is_object;
};

/* Where a field's key and text lie while the buffers may still move. */
struct io_json_source {
    int key_in_keybuf, text_in_out;
    size_t key_off, text_off;
};

/* A string value: a span of the line, or of the buffer it was unescaped into. */
struct span {
    int in_buf;
    size_t off, len;
};

/* A scalar value. */
struct scalar {
    enum io_json_kind kind;
    int64_t integer;    /* IO_JSON_INTEGER */
    uint64_t unsigned_; /* IO_JSON_UNSIGNED */
    double real;
    struct span str;
};

/* One line being scanned. */
struct scan {
    struct io_json_scanner *sc;
    const char *line, *end;
};

/* ---- buffers ---------------------------------------------------------------- */

static int buf_reserve(struct io_json_buf *b, size_t extra)
{
    size_t capacity;
    char *data;

    if (extra <= b->capacity - b->len)
        return 0;
    capacity = b->capacity ? b->capacity : 4096;
    while (capacity - b->len < extra) {
        if (capacity > SIZE_MAX / 2)
            return WN_ENOMEM;
        capacity *= 2;
    }
    data = realloc(b->data, capacity);
    if (data == NULL)
        return WN_ENOMEM;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static int buf_put(struct io_json_buf *b, const char *bytes, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return WN_ENOMEM;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

/* Grows *items (of size `size`) to hold n + 1 entries. */
static int grow(void *items, size_t *capacity, size_t n, size_t size)
{
    void **slot = items;
    size_t wanted = *capacity ? *capacity : 16;
    void *grown;

    if (n < *capacity)
        return 0;
    while (wanted <= n)
        wanted *= 2;
    grown = realloc(*slot, wanted * size);
    if (grown == NULL)
        return WN_ENOMEM;
    *slot = grown;
    *capacity = wanted;
    return 0;
}

void io_json_scanner_clear(struct io_json_scanner *sc)
{
    free(sc->out.data);
    free(sc->tmp.data);
    free(sc->keybuf.data);
    free(sc->keys);
    free(sc->frames);
    free(sc->table);
    free(sc->fields);
    free(sc->sources);
    memset(sc, 0, sizeof(*sc));
}

const char *io_json_kind_name(enum io_json_kind kind)
{
    switch (kind) {
    case IO_JSON_OBJECT: return "an object";
    case IO_JSON_ARRAY: return "an array";
    case IO_JSON_STRING: return "a string";
    case IO_JSON_INTEGER:
    case IO_JSON_UNSIGNED: return "an integer";
    case IO_JSON_REAL: return "a number";
    case IO_JSON_TRUE:
    case IO_JSON_FALSE: return "a boolean";
    case IO_JSON_NULL: break;
    }
    return "null";
}

/* ---- errors ----------------------------------------------------------------- */

/* Sets "invalid JSON at column N: what" (N counts characters from 1) and returns 1. */
__attribute__((format(printf, 3, 4))) static int fail(struct scan *s, const char *at,
                                                      const char *fmt, ...)
{
    char what[192];
    long column = 1;
    va_list ap;

    for (const char *c = s->line; c < at && c < s->end; c++)
        if (((unsigned char)*c & 0xC0) != 0x80)
            column++;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(s->sc->problem, sizeof(s->sc->problem), "invalid JSON at column %ld: %s", column,
             what);
    return 1;
}

static int fail_end_or_token(struct scan *s, const char *at, const char *expected)
{
    if (at >= s->end)
        return fail(s, at, "premature end of line, %s expected", expected);
    if ((unsigned char)*at < 0x20 || (unsigned char)*at >= 0x7f) /* keep the message UTF-8 */
        return fail(s, at, "%s expected, got byte 0x%02x", expected, (unsigned)(unsigned char)*at);
    return fail(s, at, "%s expected, got '%c'", expected, *at);
}

/* ---- lexing ----------------------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits at p (p + 4 <= end), or -1. */
static long hex4(const char *p, const char *end)
{
    long value = 0;

    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);

        if (h < 0)
            return -1;
        value = value * 16 + h;
    }
    return value;
}

static char *put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xC0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    return d;
}

/* Decodes the escape at *pp (a backslash); writes its UTF-8 at *dp when *dp is not NULL. */
static int unescape(struct scan *s, const char **pp, char **dp)
{
    const char *p = *pp;
    long cp, lo;

    if (s->end - p < 2)
        return fail(s, p, "premature end of line inside a string");
    switch (p[1]) {
    case '"':
    case '\\':
    case '/': cp = p[1]; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
        cp = hex4(p + 2, s->end);
        if (cp < 0)
            return fail(s, p, "invalid escape");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(s, p, "invalid Unicode '\\u%04lX' (a low surrogate alone)", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s->end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                (lo = hex4(p + 8, s->end)) < 0xDC00 || lo > 0xDFFF)
                return fail(s, p, "invalid Unicode '\\u%04lX' (a high surrogate without a low one)",
                            cp);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        if (*dp != NULL)
            *dp = put_utf8(*dp, (uint32_t)cp);
        *pp = p + 6;
        return 0;
    default: return fail(s, p, "invalid escape");
    }
    if (*dp != NULL)
        *(*dp)++ = (char)cp;
    *pp = p + 2;
    return 0;
}

/*
 * Scans the string whose opening quote is at *pp and leaves *pp after its
 * closing quote.  Its unescaped value is a span of the line when it holds no
 * escape, else it is appended to dst; dst NULL: only check it.
 */
static int scan_string(struct scan *s, const char **pp, struct io_json_buf *dst, struct span *out)
{
    const char *start = *pp + 1, *p = start;
    char *d = NULL, *d_start = NULL;
    int rc;

    for (;;) {
        const char *q = io_json_find_special(p, s->end);
        unsigned char c;

        if (d != NULL) {
            memcpy(d, p, (size_t)(q - p));
            d += q - p;
        }
        p = q;
        if (p == s->end)
            return fail(s, p, "premature end of line inside a string");
        c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t n = stage_utf8_well_formed((const unsigned char *)p, (size_t)(s->end - p));

            if (n == 0)
                return fail(s, p, "invalid UTF-8 byte 0x%02x", c);
            if (d != NULL) {
                memcpy(d, p, n);
                d += n;
            }
            p += n;
            continue;
        }
        if (c != '\\')
            return fail(s, p, "control character 0x%02x in string", c);
        if (d == NULL && dst != NULL) {
            /* Unescaped text is never longer than its escaped form. */
            if (buf_reserve(dst, (size_t)(s->end - start)) < 0)
                return WN_ENOMEM;
            d_start = dst->data + dst->len;
            memcpy(d_start, start, (size_t)(p - start));
            d = d_start + (p - start);
        }
        rc = unescape(s, &p, &d);
        if (rc != 0)
            return rc;
    }
    if (d != NULL) {
        out->in_buf = 1;
        out->off = dst->len;
        out->len = (size_t)(d - d_start);
        dst->len += out->len;
    } else {
        out->in_buf = 0;
        out->off = (size_t)(start - s->line);
        out->len = (size_t)(p - start);
    }
    *pp = p + 1;
    return 0;
}

/* strtod in the C locale, whatever the process's locale is. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static double strtod_c(const char *text)
{
    pthread_once(&c_locale_once, make_c_locale);
    if (c_locale != (locale_t)0)
        return strtod_l(text, NULL, c_locale);
    return strtod(text, NULL);
}

/* Scans the number at *pp: an int64 integer, a uint64 one above INT64_MAX, or
 * a real when it has a fraction or exponent. */
static int scan_number(struct scan *s, const char **pp, struct scalar *v)
{
    const char *p = *pp, *q = p, *end = s->end;
    uint64_t acc = 0;
    int negative = 0, overflow = 0, real = 0;

    if (*q == '-') {
        negative = 1;
        q++;
    }
    if (q == end || !is_digit(*q))
        return fail(s, p, "invalid number");
    if (*q == '0') {
        q++;
        if (q < end && is_digit(*q))
            return fail(s, p, "invalid number (leading zero)");
    } else {
        for (; q < end && is_digit(*q); q++) {
            unsigned d = (unsigned)(*q - '0');

            if (acc > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                acc = acc * 10 + d;
        }
    }
    if (q < end && *q == '.') {
        q++;
        if (q == end || !is_digit(*q))
            return fail(s, p, "invalid number (a digit must follow '.')");
        while (q < end && is_digit(*q))
            q++;
        real = 1;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || !is_digit(*q))
            return fail(s, p, "invalid number (a digit must follow the exponent)");
        while (q < end && is_digit(*q))
            q++;
        real = 1;
    }
    if (!real) {
        if (overflow || (negative && acc > (uint64_t)INT64_MAX + 1))
            return fail(s, p, negative ? "too big negative integer" : "too big integer");
        v->kind = IO_JSON_INTEGER;
        if (!negative && acc > (uint64_t)INT64_MAX) {
            v->kind = IO_JSON_UNSIGNED;
            v->unsigned_ = acc;
        } else if (!negative)
            v->integer = (int64_t)acc;
        else if (acc == (uint64_t)INT64_MAX + 1)
            v->integer = INT64_MIN;
        else
            v->integer = -(int64_t)acc;
    } else {
        size_t n = (size_t)(q - p);
        char small[128], *text = n < sizeof(small) ? small : malloc(n + 1);
        double value;

        if (text == NULL)
            return WN_ENOMEM;
        memcpy(text, p, n);
        text[n] = '\0';
        errno = 0;
        value = strtod_c(text);
        if ((value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE) {
            if (text != small)
                free(text);
            return fail(s, p, "real number overflow");
        }
        if (text != small)
            free(text);
        v->kind = IO_JSON_REAL;
        v->real = value;
    }
    *pp = q;
    return 0;
}

/* Scans the scalar at *pp (p < end); a string is unescaped into strbuf (NULL: checked only). */
static int scan_scalar(struct scan *s, const char **pp, struct io_json_buf *strbuf,
                       struct scalar *v)
{
    const char *p = *pp;
    size_t left = (size_t)(s->end - p);

    switch (*p) {
    case '"': v->kind = IO_JSON_STRING; return scan_string(s, pp, strbuf, &v->str);
    case 't':
        if (left >= 4 && memcmp(p, "true", 4) == 0) {
            v->kind = IO_JSON_TRUE;
            *pp = p + 4;
            return 0;
        }
        break;
    case 'f':
        if (left >= 5 && memcmp(p, "false", 5) == 0) {
            v->kind = IO_JSON_FALSE;
            *pp = p + 5;
            return 0;
        }
        break;
    case 'n':
        if (left >= 4 && memcmp(p, "null", 4) == 0) {
            v->kind = IO_JSON_NULL;
            *pp = p + 4;
            return 0;
        }
        break;
    default:
        if (*p == '-' || is_digit(*p))
            return scan_number(s, pp, v);
        break;
    }
    return fail(s, p, "invalid token");
}

/* ---- keys ------------------------------------------------------------------- */

static const char *key_bytes(const struct scan *s, const struct io_json_key *k)
{
    return k->in_keybuf ? s->sc->keybuf.data + k->off : s->line + k->off;
}

static int keys_equal(const struct scan *s, const struct io_json_key *a,
                      const struct io_json_key *b)
{
    return a->hash == b->hash && a->len == b->len &&
           memcmp(key_bytes(s, a), key_bytes(s, b), a->len) == 0;
}

static int duplicate(struct scan *s, const struct io_json_key *k)
{
    return fail(s, s->line + k->at, "duplicate object key \"%.*s\"",
                (int)(k->len > 64 ? 64 : k->len), key_bytes(s, k));
}

/* Refuses an object whose keys keys[from..n_keys) repeat one. */
static int check_duplicates(struct scan *s, size_t from)
{
    struct io_json_scanner *sc = s->sc;
    size_t n = sc->n_keys - from, n_slots = 64;

    if (n < 2)
        return 0;
    if (n <= 16) {
        for (size_t i = from + 1; i < sc->n_keys; i++)
            for (size_t j = from; j < i; j++)
                if (keys_equal(s, &sc->keys[i], &sc->keys[j]))
                    return duplicate(s, &sc->keys[i]);
        return 0;
    }
    while (n_slots < 2 * n)
        n_slots *= 2;
    if (n_slots > sc->table_capacity) {
        int32_t *table = realloc(sc->table, n_slots * sizeof(*table));

        if (table == NULL)
            return WN_ENOMEM;
        sc->table = table;
        sc->table_capacity = n_slots;
    }
    memset(sc->table, 0xFF, n_slots * sizeof(*sc->table));
    for (size_t i = from; i < sc->n_keys; i++) {
        size_t slot = sc->keys[i].hash & (n_slots - 1);

        while (sc->table[slot] >= 0) {
            if (keys_equal(s, &sc->keys[i], &sc->keys[from + (size_t)sc->table[slot]]))
                return duplicate(s, &sc->keys[i]);
            slot = (slot + 1) & (n_slots - 1);
        }
        sc->table[slot] = (int32_t)(i - from);
    }
    return 0;
}

/* Scans the key at *pp (a quote), records it for the duplicate check, and returns it in *key. */
static int scan_key(struct scan *s, const char **pp, struct span *key)
{
    struct io_json_scanner *sc = s->sc;
    const char *at = *pp, *bytes;
    struct io_json_key *k;
    int rc = scan_string(s, pp, &sc->keybuf, key);

    if (rc != 0)
        return rc;
    bytes = key->in_buf ? sc->keybuf.data + key->off : s->line + key->off;
    if (key->in_buf && memchr(bytes, '\0', key->len) != NULL)
        return fail(s, at, "NUL byte in object key not supported");
    if (sc->n_keys > INT32_MAX - 1)
        return fail(s, at, "too many keys");
    if (grow(&sc->keys, &sc->keys_capacity, sc->n_keys, sizeof(*sc->keys)) < 0)
        return WN_ENOMEM;
    k = &sc->keys[sc->n_keys++];
    k->hash = (uint32_t)stage_fnv1a64(bytes, key->len);
    k->in_keybuf = (uint32_t)key->in_buf;
    k->off = key->off;
    k->len = key->len;
    k->at = (size_t)(at - s->line);
    return 0;
}

/* ---- compact JSON text, as jansson's json_dumpb(JSON_COMPACT) writes it ------- */

static int emit_string(struct io_json_buf *out, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    size_t need = 2;
    char *d;

    /* Exactly what the escaped text takes, so that scratch memory stays
     * near the line's size however long the string. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];

        need += c >= 0x20 && c != '"' && c != '\\' ? 1
                : (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
                   c == '\t')
                    ? 2
                    : 6;
    }
    if (buf_reserve(out, need) < 0)
        return WN_ENOMEM;
    d = out->data + out->len;
    *d++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
            break;
        }
    }
    *d++ = '"';
    out->len = (size_t)(d - out->data);
    return 0;
}

/* "%.17g", then ".0" when it reads as an integer, and no '+' or leading zeros in the exponent. */
static int emit_real(struct io_json_buf *out, double value)
{
    char text[64], *e;
    locale_t caller = (locale_t)0;
    int n;

    /* In the C locale whatever the process set: the decimal point is '.'. */
    pthread_once(&c_locale_once, make_c_locale);
    if (c_locale != (locale_t)0)
        caller = uselocale(c_locale);
    n = snprintf(text, sizeof(text), "%.17g", value);
    if (caller != (locale_t)0)
        uselocale(caller);
    if (n < 0 || (size_t)n >= sizeof(text) - 3)
        return WN_ENOMEM;
    for (int i = 0; i < n; i++) /* without a C locale object: a one-byte decimal point */
        if (!is_digit(text[i]) && text[i] != '-' && text[i] != '+' && text[i] != 'e')
            text[i] = '.';
    if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) {
        text[n++] = '.';
        text[n++] = '0';
        text[n] = '\0';
    }
    e = strchr(text, 'e');
    if (e != NULL) {
        char *start = e + 1, *digits = e + 2;

        if (*start == '-')
            start++;
        while (*digits == '0')
            digits++;
        if (digits != start) {
            memmove(start, digits, (size_t)(text + n - digits) + 1);
            n -= (int)(digits - start);
        }
    }
    return buf_put(out, text, (size_t)n);
}

static int emit_scalar(struct scan *s, struct io_json_buf *out, const struct scalar *v)
{
    char text[32];
    int n;

    switch (v->kind) {
    case IO_JSON_NULL: return buf_put(out, "null", 4);
    case IO_JSON_TRUE: return buf_put(out, "true", 4);
    case IO_JSON_FALSE: return buf_put(out, "false", 5);
    case IO_JSON_INTEGER:
        n = snprintf(text, sizeof(text), "%" PRId64, v->integer);
        return buf_put(out, text, (size_t)n);
    case IO_JSON_UNSIGNED:
        n = snprintf(text, sizeof(text), "%" PRIu64, v->unsigned_);
        return buf_put(out, text, (size_t)n);
    case IO_JSON_REAL: return emit_real(out, v->real);
    case IO_JSON_STRING:
        return emit_string(out, v->str.in_buf ? s->sc->tmp.data + v->str.off : s->line + v->str.off,
                           v->str.len);
    case IO_JSON_OBJECT:
    case IO_JSON_ARRAY: break;
    }
    return WN_EINTERNAL;
}

static inline int emit_char(struct io_json_buf *out, char c)
{
    if (out == NULL)
        return 0;
    if (out->len == out->capacity && buf_reserve(out, 1) < 0)
        return WN_ENOMEM;
    out->data[out->len++] = c;
    return 0;
}

/* ---- values ----------------------------------------------------------------- */

/*
 * Scans the object or array at *pp, a value at nesting depth `depth`, and
 * everything in it, without recursion; writes its compact text to out
 * (NULL: only checks it).
 */
static int scan_container(struct scan *s, const char **pp, struct io_json_buf *out, size_t depth)
{
    struct io_json_scanner *sc = s->sc;
    const char *p = *pp, *end = s->end;
    size_t base = sc->n_frames;
    struct io_json_frame *top;
    struct scalar v;
    struct span key;
    int rc;

    goto open;
    for (;;) {
        /* A value of the innermost container has just been read. */
        p = skip_ws(p, end);
        top = &sc->frames[sc->n_frames - 1];
        if (p < end && *p == ',') {
            p++;
            if ((rc = emit_char(out, ',')) != 0)
                return rc;
            if (top->is_object)
                goto key;
            goto value;
        }
        if (p == end || *p != (top->is_object ? '}' : ']'))
            return fail_end_or_token(s, p, top->is_object ? "',' or '}'" : "',' or ']'");
    close:
        if ((rc = emit_char(out, *p)) != 0)
            return rc;
        p++;
        if (top->is_object) {
            rc = check_duplicates(s, top->key_start);
            if (rc != 0)
                return rc;
            sc->n_keys = top->key_start;
        }
        if (--sc->n_frames == base)
            break;
        continue;
    open:
        /* *p opens a container at depth + (sc->n_frames - base). */
        if (depth + (sc->n_frames - base) > IO_JSON_MAX_DEPTH)
            return fail(s, p, "maximum parsing depth reached");
        if (grow(&sc->frames, &sc->frames_capacity, sc->n_frames, sizeof(*sc->frames)) < 0)
            return WN_ENOMEM;
        top = &sc->frames[sc->n_frames++];
        top->is_object = *p == '{';
        top->key_start = sc->n_keys;
        if ((rc = emit_char(out, *p)) != 0)
            return rc;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (top->is_object ? '}' : ']'))
            goto close;
        if (!top->is_object)
            goto value;
    key:
        p = skip_ws(p, end);
        if (p == end || *p != '"')
            return fail_end_or_token(s, p, "a string key");
        rc = scan_key(s, &p, &key);
        if (rc != 0)
            return rc;
        if (out != NULL) {
            rc = emit_string(out, key.in_buf ? sc->keybuf.data + key.off : s->line + key.off,
                             key.len);
            if (rc == 0)
                rc = emit_char(out, ':');
            if (rc != 0)
                return rc;
        }
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return fail_end_or_token(s, p, "':'");
        p++;
    value:
        p = skip_ws(p, end);
        if (p == end)
            return fail(s, p, "premature end of line, a value expected");
        if (*p == '{' || *p == '[')
            goto open;
        if (depth + (sc->n_frames - base) > IO_JSON_MAX_DEPTH)
            return fail(s, p, "maximum parsing depth reached");
        rc = scan_scalar(s, &p, out != NULL ? &sc->tmp : NULL, &v);
        if (rc == 0 && out != NULL)
            rc = emit_scalar(s, out, &v);
        sc->tmp.len = 0;
        if (rc != 0)
            return rc;
    }
    *pp = p;
    return 0;
}

/* Scans any value at *pp (p < end) at the given depth, only checking it; *kind says what it was. */
static int check_value(struct scan *s, const char **pp, size_t depth, enum io_json_kind *kind)
{
    struct scalar v;
    int rc;

    if (**pp == '{' || **pp == '[') {
        *kind = **pp == '{' ? IO_JSON_OBJECT : IO_JSON_ARRAY;
        return scan_container(s, pp, NULL, depth);
    }
    rc = scan_scalar(s, pp, NULL, &v);
    *kind = v.kind;
    return rc;
}

/* Scans a selected member's value at *pp (p < end) into a new field. */
static int read_field(struct scan *s, const char **pp, int64_t column, const struct span *key)
{
    struct io_json_scanner *sc = s->sc;
    struct io_json_field *f;
    struct io_json_source *src;
    struct scalar v;
    int rc;

    if (sc->n_fields == sc->fields_capacity) {
        size_t capacity = sc->fields_capacity ? sc->fields_capacity * 2 : 16;
        struct io_json_field *fields = realloc(sc->fields, capacity * sizeof(*fields));
        struct io_json_source *sources;

        if (fields == NULL)
            return WN_ENOMEM;
        sc->fields = fields;
        sources = realloc(sc->sources, capacity * sizeof(*sources));
        if (sources == NULL)
            return WN_ENOMEM;
        sc->sources = sources;
        sc->fields_capacity = capacity;
    }
    f = &sc->fields[sc->n_fields];
    src = &sc->sources[sc->n_fields];
    memset(f, 0, sizeof(*f));
    f->column = column;
    f->key_len = key->len;
    src->key_in_keybuf = key->in_buf;
    src->key_off = key->off;
    src->text_in_out = 0;
    src->text_off = 0;
    if (**pp == '{' || **pp == '[') {
        size_t start = sc->out.len;

        f->kind = **pp == '{' ? IO_JSON_OBJECT : IO_JSON_ARRAY;
        rc = scan_container(s, pp, &sc->out, 2);
        src->text_in_out = 1;
        src->text_off = start;
        f->text_len = sc->out.len - start;
    } else {
        rc = scan_scalar(s, pp, &sc->out, &v);
        f->kind = v.kind;
        f->integer = v.integer;
        f->unsigned_ = v.unsigned_;
        f->real = v.real;
        src->text_in_out = v.str.in_buf;
        src->text_off = v.str.off;
        f->text_len = v.str.len;
    }
    if (rc == 0)
        sc->n_fields++;
    return rc;
}

/* A line that does not start with '{': "expected a JSON object" when it is valid JSON. */
static int not_an_object(struct scan *s, const char *p)
{
    enum io_json_kind kind = IO_JSON_NULL;
    int rc = check_value(s, &p, 1, &kind);

    if (rc != 0)
        return rc;
    p = skip_ws(p, s->end);
    if (p != s->end)
        return fail(s, p, "end of line expected after the value");
    snprintf(s->sc->problem, sizeof(s->sc->problem), "expected a JSON object, got %s",
             io_json_kind_name(kind));
    return 1;
}

int io_json_scan_line(struct io_json_scanner *sc, const char *line, size_t len,
                      io_json_select_fn select, void *ctx, const struct io_json_field **fields,
                      size_t *n_fields)
{
    struct scan s = { sc, line, line + len };
    const char *p = skip_ws(line, s.end);
    int rc;

    *fields = NULL;
    *n_fields = 0;
    sc->out.len = sc->tmp.len = sc->keybuf.len = 0;
    sc->n_keys = sc->n_frames = sc->n_fields = 0;
    sc->problem[0] = '\0';
    if (p == s.end)
        return fail(&s, p, "premature end of line, a value expected");
    if (*p != '{')
        return not_an_object(&s, p);
    p = skip_ws(p + 1, s.end);
    if (p < s.end && *p == '}') {
        p++;
    } else {
        for (;;) {
            struct span key;
            int64_t column;

            p = skip_ws(p, s.end);
            if (p == s.end || *p != '"')
                return fail_end_or_token(&s, p, "a string key");
            rc = scan_key(&s, &p, &key);
            if (rc != 0)
                return rc;
            p = skip_ws(p, s.end);
            if (p == s.end || *p != ':')
                return fail_end_or_token(&s, p, "':'");
            p = skip_ws(p + 1, s.end);
            if (p == s.end)
                return fail(&s, p, "premature end of line, a value expected");
            column = select(ctx, key.in_buf ? sc->keybuf.data + key.off : line + key.off, key.len);
            if (column == IO_JSON_SKIP) {
                enum io_json_kind kind;

                rc = check_value(&s, &p, 2, &kind);
            } else {
                rc = read_field(&s, &p, column, &key);
            }
            if (rc != 0)
                return rc;
            p = skip_ws(p, s.end);
            if (p < s.end && *p == ',') {
                p++;
                continue;
            }
            if (p < s.end && *p == '}') {
                p++;
                break;
            }
            return fail_end_or_token(&s, p, "',' or '}'");
        }
        rc = check_duplicates(&s, 0);
        if (rc != 0)
            return rc;
    }
    p = skip_ws(p, s.end);
    if (p != s.end)
        return fail(&s, p, "end of line expected after the object");
    for (size_t i = 0; i < sc->n_fields; i++) {
        struct io_json_field *f = &sc->fields[i];
        const struct io_json_source *src = &sc->sources[i];

        f->key = src->key_in_keybuf ? sc->keybuf.data + src->key_off : line + src->key_off;
        if (f->kind == IO_JSON_STRING || f->kind == IO_JSON_OBJECT || f->kind == IO_JSON_ARRAY)
            f->text = src->text_in_out ? sc->out.data + src->text_off : line + src->text_off;
    }
    *fields = sc->fields;
    *n_fields = sc->n_fields;
    return 0;
}
