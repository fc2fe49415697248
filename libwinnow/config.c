/* wn_config_*: pipeline configuration files. */
#include "build_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "params_internal.h"

#define PATH_MAX_LEN 512
#define LIST_MAX_LEN 512

/* Largest batch_size, actors and max_retries a config may ask for. */
#define BATCH_SIZE_MAX INT32_MAX
#define ACTORS_MAX 65536
#define MAX_RETRIES_MAX 1000
/* max_retries of an "on_error": "retry" stage that does not give it. */
#define RETRY_DEFAULT_MAX_RETRIES 3

struct wn_config {
    char *source;          /* file name (or the name given to load_string) */
    json_t *root;          /* the checked document, overrides applied */
    char **overrides;      /* each --set assignment applied, in order */
    char **override_paths; /* its JSON path ("stages[2].params.num_bands") */
    size_t n_overrides;
};

static const char *const top_keys[] = { "dataset", "executor", "stages", NULL };
static const char *const stage_keys[] = { "stage",          "name",   "params",   "resources",
                                          "batch_size",     "actors", "on_error", "max_retries",
                                          "timeout_s",      "comms",  "shuffle",  "comms_params",
                                          "shuffle_params", NULL };
static const char *const resource_keys[] = { "cpus", "gpus", "gpu_memory_gb", "entire_gpu", NULL };
static const char *const on_error_names[] = { "fail", "retry", "skip", NULL };

/* ---- words for messages ---- */

static int text_format(char *buf, size_t size, const char *fmt, ...) WN_PRINTF(3, 4);

/* snprintf for message parts, where a long key or value is cut on purpose. */
static int text_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* Describes a value found where another was expected: "0", "2.5", "the string \"x\"". */
static void describe_value(const json_t *value, char *buf, size_t size)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: text_format(buf, size, "an object"); break;
    case JSON_ARRAY: text_format(buf, size, "an array"); break;
    case JSON_STRING: text_format(buf, size, "the string \"%s\"", json_string_value(value)); break;
    case JSON_INTEGER:
        text_format(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        break;
    case JSON_REAL:
        text_format(buf, size, "%.15g", json_real_value(value));
        if (strpbrk(buf, ".eEni") == NULL && strlen(buf) + 3 <= size)
            strcat(buf, ".0");
        break;
    case JSON_TRUE: text_format(buf, size, "true"); break;
    case JSON_FALSE: text_format(buf, size, "false"); break;
    case JSON_NULL: text_format(buf, size, "null"); break;
    }
}

static const char *type_article(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Appends "a, b, c" (or "none") to buf. */
static void join_names(const char *const *names, size_t n, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = text_format(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n == 0)
        text_format(buf, size, "none");
}

static const char *payload_word(unsigned kind)
{
    switch (kind) {
    case WN_PAYLOAD_EMPTY: return "empty trigger tasks";
    case WN_PAYLOAD_FILES: return "file groups";
    case WN_PAYLOAD_TABLE: return "tables";
    case WN_PAYLOAD_BLOB: return "blobs";
    }
    return "unknown payloads";
}

/* "file groups or tables" for a payload bit set. */
static void payload_words(uint32_t bits, char *buf, size_t size)
{
    const char *words[8];
    size_t n = 0, used = 0;

    for (unsigned k = WN_PAYLOAD_EMPTY; k <= WN_PAYLOAD_BLOB; k++)
        if (bits & WN_PAYLOAD_BIT(k))
            words[n++] = payload_word(k);
    if (bits & ~(uint32_t)WN_PAYLOADS_ANY)
        words[n++] = "unknown payloads";
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = text_format(buf + used, size - used, "%s%s", i ? " or " : "", words[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n == 0)
        text_format(buf, size, "nothing");
}

/* ---- "did you mean" ---- */

/* Edit distance (optimal string alignment, case-insensitive); SIZE_MAX for long words. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    size_t d[MAXLEN + 1][MAXLEN + 1];

    if (la > MAXLEN || lb > MAXLEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* Tracks the closest candidate to a misspelled word. */
struct suggestion {
    const char *word;
    const char *best;
    size_t distance;
};

static void suggestion_init(struct suggestion *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->distance = SIZE_MAX;
}

static void suggestion_consider(struct suggestion *s, const char *candidate)
{
    size_t len = strlen(s->word);
    size_t limit = len <= 4 ? 1 : len <= 10 ? 2 : 3;
    size_t d = edit_distance(s->word, candidate);

    if (d <= limit && d < s->distance) {
        s->best = candidate;
        s->distance = d;
    }
}

/* " (did you mean 'x'?)" or "". */
static void suggestion_text(const struct suggestion *s, char *buf, size_t size)
{
    if (s->best != NULL)
        text_format(buf, size, " (did you mean '%s'?)", s->best);
    else
        buf[0] = '\0';
}

/* ---- structural checks ---- */

/* Where messages start: the file name, or "--set ASSIGNMENT". */
struct checker {
    const char *where;
    struct wn_error *err;
};

static int check_fail(const struct checker *c, const char *path, const char *fmt, ...)
    WN_PRINTF(3, 4);

static int check_fail(const struct checker *c, const char *path, const char *fmt, ...)
{
    char text[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (path[0] != '\0')
        return wn_error_set(c->err, WN_ECONFIG, "%s: %s: %s", c->where, path, text);
    return wn_error_set(c->err, WN_ECONFIG, "%s: %s", c->where, text);
}

static int key_known(const char *const *keys, const char *key)
{
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(keys[i], key) == 0)
            return 1;
    return 0;
}

/* Every key of obj must be one of keys[]; what names the object ("stages[0]"). */
static int check_keys(const struct checker *c, json_t *obj, const char *path,
                      const char *const *keys)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value)
    {
        struct suggestion s;
        char hint[LIST_MAX_LEN + 32], known[LIST_MAX_LEN];
        size_t n = 0;

        if (key_known(keys, key))
            continue;
        suggestion_init(&s, key);
        for (; keys[n] != NULL; n++)
            suggestion_consider(&s, keys[n]);
        suggestion_text(&s, hint, sizeof(hint));
        if (s.best == NULL) {
            join_names(keys, n, known, sizeof(known));
            text_format(hint, sizeof(hint), " (known keys: %s)", known);
        }
        if (path[0] == '\0')
            return check_fail(c, "", "unknown key '%s' at the top level%s", key, hint);
        return check_fail(c, path, "unknown key '%s'%s", key, hint);
    }
    return 0;
}

static void join_path(char *buf, size_t size, const char *parent, const char *key)
{
    if (parent[0] == '\0')
        text_format(buf, size, "%s", key);
    else
        text_format(buf, size, "%s.%s", parent, key);
}

/* An optional integer obj[key] in [min, max]. */
static int check_integer(const struct checker *c, const json_t *obj, const char *parent,
                         const char *key, json_int_t min, json_int_t max)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256];

    if (value == NULL)
        return 0;
    if (json_is_integer(value) && json_integer_value(value) >= min &&
        json_integer_value(value) <= max)
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    return check_fail(c, path,
                      "expected an integer from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                      ", got %s",
                      min, max, got);
}

/* An optional number obj[key] >= 0. */
static int check_nonnegative(const struct checker *c, const json_t *obj, const char *parent,
                             const char *key)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256];

    if (value == NULL)
        return 0;
    if (json_is_number(value) && json_number_value(value) >= 0.0)
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    return check_fail(c, path, "expected a number >= 0, got %s", got);
}

static int check_boolean(const struct checker *c, const json_t *obj, const char *parent,
                         const char *key)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256];

    if (value == NULL || json_is_boolean(value))
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    return check_fail(c, path, "expected true or false, got %s", got);
}

/* An optional non-empty string obj[key]. */
static int check_name(const struct checker *c, const json_t *obj, const char *parent,
                      const char *key)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256];

    if (value == NULL || (json_is_string(value) && json_string_length(value) > 0))
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    return check_fail(c, path, "expected a non-empty string, got %s", got);
}

static int check_object(const struct checker *c, const json_t *obj, const char *parent,
                        const char *key)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256];

    if (value == NULL || json_is_object(value))
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    return check_fail(c, path, "expected an object, got %s", got);
}

/* An optional string obj[key] that is one of choices[]. */
static int check_choice(const struct checker *c, const json_t *obj, const char *parent,
                        const char *key, const char *const *choices)
{
    const json_t *value = json_object_get(obj, key);
    char path[PATH_MAX_LEN], got[256], allowed[LIST_MAX_LEN], hint[128];
    struct suggestion s;
    size_t used = 0, n;

    if (value == NULL)
        return 0;
    if (json_is_string(value) && key_known(choices, json_string_value(value)))
        return 0;
    join_path(path, sizeof(path), parent, key);
    describe_value(value, got, sizeof(got));
    allowed[0] = '\0';
    for (n = 0; choices[n] != NULL && used < sizeof(allowed); n++) {
        int w = text_format(allowed + used, sizeof(allowed) - used, "%s\"%s\"", n ? ", " : "",
                            choices[n]);
        if (w > 0)
            used += (size_t)w;
    }
    hint[0] = '\0';
    if (json_is_string(value)) {
        suggestion_init(&s, json_string_value(value));
        for (n = 0; choices[n] != NULL; n++)
            suggestion_consider(&s, choices[n]);
        suggestion_text(&s, hint, sizeof(hint));
    }
    return check_fail(c, path, "expected one of %s, got %s%s", allowed, got, hint);
}

static int check_env(const struct checker *c, json_t *env)
{
    const char *name;
    json_t *value;
    char path[PATH_MAX_LEN], got[256];

    json_object_foreach(env, name, value)
    {
        text_format(path, sizeof(path), "executor.env.%s", name);
        if (name[0] == '\0' || strchr(name, '=') != NULL)
            return check_fail(c, "executor.env",
                              "'%s' is not a valid environment variable name (it must be "
                              "non-empty and have no '=')",
                              name);
        if (!json_is_string(value)) {
            describe_value(value, got, sizeof(got));
            return check_fail(c, path, "expected a string, got %s (write numbers as \"1\")", got);
        }
    }
    return 0;
}

static int check_executor(const struct checker *c, json_t *executor)
{
    int rc;

    /* Backend-specific keys are checked against the backend's spec when resolving. */
    rc = check_name(c, executor, "executor", "backend");
    if (rc == 0)
        rc = check_object(c, executor, "executor", "env");
    if (rc == 0 && json_object_get(executor, "env") != NULL)
        rc = check_env(c, json_object_get(executor, "env"));
    return rc;
}

static int check_resources(const struct checker *c, json_t *resources, const char *path)
{
    int rc = check_keys(c, resources, path, resource_keys);

    if (rc == 0)
        rc = check_nonnegative(c, resources, path, "cpus");
    if (rc == 0)
        rc = check_nonnegative(c, resources, path, "gpus");
    if (rc == 0)
        rc = check_nonnegative(c, resources, path, "gpu_memory_gb");
    if (rc == 0)
        rc = check_boolean(c, resources, path, "entire_gpu");
    return rc;
}

/* The configured name of a stage object: "name", else "stage". */
static const char *stage_config_name(const json_t *stage)
{
    const json_t *name = json_object_get(stage, "name");

    if (name == NULL)
        name = json_object_get(stage, "stage");
    return json_string_value(name);
}

static int check_stage(const struct checker *c, json_t *stage, size_t index)
{
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN], got[256];
    int rc;

    text_format(path, sizeof(path), "stages[%zu]", index);
    if (!json_is_object(stage)) {
        describe_value(stage, got, sizeof(got));
        return check_fail(c, path, "expected an object such as {\"stage\": \"word_count\"}, got %s",
                          got);
    }
    rc = check_keys(c, stage, path, stage_keys);
    if (rc < 0)
        return rc;
    if (json_object_get(stage, "stage") == NULL)
        return check_fail(c, path,
                          "\"stage\" is missing: name the stage to run (`winnow plugins` lists "
                          "them)");
    if ((rc = check_name(c, stage, path, "stage")) < 0 ||
        (rc = check_name(c, stage, path, "name")) < 0 ||
        (rc = check_object(c, stage, path, "params")) < 0 ||
        (rc = check_object(c, stage, path, "resources")) < 0 ||
        (rc = check_integer(c, stage, path, "batch_size", 1, BATCH_SIZE_MAX)) < 0 ||
        (rc = check_integer(c, stage, path, "actors", 1, ACTORS_MAX)) < 0 ||
        (rc = check_choice(c, stage, path, "on_error", on_error_names)) < 0 ||
        (rc = check_integer(c, stage, path, "max_retries", 0, MAX_RETRIES_MAX)) < 0 ||
        (rc = check_nonnegative(c, stage, path, "timeout_s")) < 0 ||
        (rc = check_name(c, stage, path, "comms")) < 0 ||
        (rc = check_object(c, stage, path, "comms_params")) < 0 ||
        (rc = check_name(c, stage, path, "shuffle")) < 0 ||
        (rc = check_object(c, stage, path, "shuffle_params")) < 0)
        return rc;
    if (json_object_get(stage, "resources") != NULL) {
        text_format(sub, sizeof(sub), "%s.resources", path);
        rc = check_resources(c, json_object_get(stage, "resources"), sub);
    }
    return rc;
}

/* Structural checks of the whole document (everything but params and backend keys). */
static int check_document(const struct checker *c, json_t *root)
{
    json_t *stages, *stage;
    size_t i;
    int rc;
    char got[256];

    if (!json_is_object(root)) {
        describe_value(root, got, sizeof(got));
        return check_fail(c, "", "expected an object at the top level, got %s", got);
    }
    rc = check_keys(c, root, "", top_keys);
    if (rc == 0)
        rc = check_name(c, root, "", "dataset");
    if (rc == 0)
        rc = check_object(c, root, "", "executor");
    if (rc == 0 && json_object_get(root, "executor") != NULL)
        rc = check_executor(c, json_object_get(root, "executor"));
    if (rc < 0)
        return rc;

    stages = json_object_get(root, "stages");
    if (stages == NULL)
        return check_fail(c, "",
                          "\"stages\" is missing: list the stages to run, as "
                          "\"stages\": [{\"stage\": \"file_partitioning\", ...}, ...]");
    if (!json_is_array(stages)) {
        describe_value(stages, got, sizeof(got));
        return check_fail(c, "stages", "expected an array of stage objects, got %s", got);
    }
    if (json_array_size(stages) == 0)
        return check_fail(c, "stages", "the list is empty: a pipeline needs at least one stage");
    json_array_foreach(stages, i, stage)
    {
        rc = check_stage(c, stage, i);
        if (rc < 0)
            return rc;
    }
    /* Configured names are unique: messages, stats and traces are keyed by them. */
    for (i = 1; i < json_array_size(stages); i++) {
        const char *name = stage_config_name(json_array_get(stages, i));
        for (size_t j = 0; j < i; j++) {
            char path[PATH_MAX_LEN];

            if (strcmp(name, stage_config_name(json_array_get(stages, j))) != 0)
                continue;
            text_format(path, sizeof(path), "stages[%zu]", i);
            return check_fail(c, path,
                              "the stage name '%s' is already used by stages[%zu]; give one of "
                              "them a distinct \"name\"",
                              name, j);
        }
    }
    return 0;
}

/* ---- loading ---- */

static int config_from_json(json_t *root, const char *source, struct wn_config **out,
                            struct wn_error *err)
{
    struct checker c = { source, err };
    struct wn_config *config;
    int rc;

    rc = check_document(&c, root);
    if (rc < 0)
        goto out_decref;
    config = calloc(1, sizeof(*config));
    if (config == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", source);
        goto out_decref;
    }
    config->source = strdup(source);
    if (config->source == NULL) {
        free(config);
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", source);
        goto out_decref;
    }
    config->root = root;
    *out = config;
    return 0;

out_decref:
    json_decref(root);
    return rc;
}

static int syntax_error(const json_error_t *jerr, const char *source, struct wn_error *err)
{
    return wn_error_set(err, WN_ECONFIG, "%s:%d:%d: %s", source, jerr->line, jerr->column,
                        jerr->text);
}

int wn_config_load_file(const char *path, struct wn_config **out, struct wn_error *err)
{
    json_error_t jerr;
    json_t *root;
    FILE *fp;

    *out = NULL;
    fp = fopen(path, "rb");
    if (fp == NULL) {
        int e = errno;
        return wn_error_set(err, e == ENOENT ? WN_ENOTFOUND : WN_EIO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL && ferror(fp)) {
        int e = errno;
        fclose(fp);
        return wn_error_set(err, WN_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    fclose(fp);
    if (root == NULL)
        return syntax_error(&jerr, path, err);
    return config_from_json(root, path, out, err);
}

int wn_config_load_string(const char *text, const char *source, struct wn_config **out,
                          struct wn_error *err)
{
    json_error_t jerr;
    json_t *root;

    *out = NULL;
    if (source == NULL)
        source = "<string>";
    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return syntax_error(&jerr, source, err);
    return config_from_json(root, source, out, err);
}

void wn_config_free(struct wn_config *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < config->n_overrides; i++) {
        free(config->overrides[i]);
        free(config->override_paths[i]);
    }
    free(config->overrides);
    free(config->override_paths);
    json_decref(config->root);
    free(config->source);
    free(config);
}

const char *wn_config_source(const struct wn_config *config)
{
    return config->source;
}

/* ---- --set ---- */

/* Parses an array index ("0".."4294967295"); -1 when segment is not one. */
static int parse_index(const char *segment, size_t *index)
{
    size_t v = 0;

    if (segment[0] == '\0')
        return -1;
    for (const char *p = segment; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *index = v;
    return 0;
}

/* Appends one segment to a JSON path ("stages" + 2 -> "stages[2]"). */
static void path_append(char *path, size_t size, const char *segment, int is_index)
{
    size_t used = strlen(path);

    if (used >= size - 1)
        return;
    if (is_index)
        text_format(path + used, size - used, "[%s]", segment);
    else if (used == 0)
        text_format(path + used, size - used, "%s", segment);
    else
        text_format(path + used, size - used, ".%s", segment);
}

/*
 * Puts value at the dotted path inside root (a copy of the document).  Takes
 * a reference to value only on success.  *json_path receives the JSON path.
 */
static int set_path(json_t *root, char *dotted, json_t *value, const char *where, char *json_path,
                    size_t path_size, struct wn_error *err)
{
    json_t *node = root;
    char *segment = dotted;

    json_path[0] = '\0';
    for (;;) {
        char *dot = strchr(segment, '.');
        int last = dot == NULL;
        char shown[PATH_MAX_LEN];

        if (dot != NULL)
            *dot = '\0';
        if (segment[0] == '\0')
            return wn_error_set(err, WN_EINVAL,
                                "%s: the path has an empty segment (write it as a.b.c)", where);
        text_format(shown, sizeof(shown), "%s", json_path[0] ? json_path : "the document");

        if (json_is_array(node)) {
            size_t index;

            if (parse_index(segment, &index) < 0)
                return wn_error_set(
                    err, WN_EINVAL, "%s: %s is an array: '%s' is not an index (0 to %zu)", where,
                    shown, segment, json_array_size(node) ? json_array_size(node) - 1 : 0);
            if (index >= json_array_size(node))
                return wn_error_set(err, WN_EINVAL, "%s: %s has %zu element%s", where, shown,
                                    json_array_size(node), json_array_size(node) == 1 ? "" : "s");
            path_append(json_path, path_size, segment, 1);
            if (last) {
                if (json_array_set(node, index, value) < 0)
                    return wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
                return 0;
            }
            node = json_array_get(node, index);
        } else if (json_is_object(node)) {
            json_t *child = json_object_get(node, segment);

            path_append(json_path, path_size, segment, 0);
            if (last) {
                if (json_object_set(node, segment, value) < 0)
                    return wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
                return 0;
            }
            if (child == NULL) {
                child = json_object();
                if (child == NULL || json_object_set_new(node, segment, child) < 0)
                    return wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
            }
            node = child;
        } else {
            return wn_error_set(err, WN_EINVAL, "%s: %s is %s, not an object or an array", where,
                                shown, type_article(node));
        }
        segment = dot + 1;
    }
}

static int remember_override(struct wn_config *config, const char *assignment,
                             const char *json_path)
{
    size_t n = config->n_overrides + 1;
    char **overrides = realloc(config->overrides, n * sizeof(*overrides));
    char **paths;

    if (overrides == NULL)
        return WN_ENOMEM;
    config->overrides = overrides;
    paths = realloc(config->override_paths, n * sizeof(*paths));
    if (paths == NULL)
        return WN_ENOMEM;
    config->override_paths = paths;
    overrides[n - 1] = strdup(assignment);
    paths[n - 1] = strdup(json_path);
    if (overrides[n - 1] == NULL || paths[n - 1] == NULL) {
        free(overrides[n - 1]);
        free(paths[n - 1]);
        return WN_ENOMEM;
    }
    config->n_overrides = n;
    return 0;
}

int wn_config_set(struct wn_config *config, const char *assignment, struct wn_error *err)
{
    char where[PATH_MAX_LEN + 16], json_path[PATH_MAX_LEN];
    struct checker c = { where, err };
    const char *eq;
    json_t *value, *copy;
    char *dotted;
    int rc, parsed;

    if (assignment == NULL)
        return wn_error_set(err, WN_EINVAL, "--set: no assignment given");
    text_format(where, sizeof(where), "--set %s", assignment);
    eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment)
        return wn_error_set(err, WN_EINVAL,
                            "%s: expected PATH=VALUE, as stages.2.params.num_bands=10", where);
    dotted = strndup(assignment, (size_t)(eq - assignment));
    if (dotted == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);

    /* JSON when it parses ("10", "true", "[\"a\"]", "\"10\""), else the text as a string. */
    value = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    parsed = value != NULL;
    if (value == NULL)
        value = json_string(eq + 1);
    if (value == NULL) {
        rc = wn_error_set(err, WN_EINVAL, "%s: the value is neither JSON nor valid UTF-8 text",
                          where);
        goto out_free_dotted;
    }

    /* Change a copy, so that a rejected override leaves the config as it was. */
    copy = json_deep_copy(config->root);
    if (copy == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
        goto out_decref_value;
    }
    rc = set_path(copy, dotted, value, where, json_path, sizeof(json_path), err);
    if (rc < 0)
        goto out_decref_copy;
    rc = check_document(&c, copy);
    if (rc < 0) {
        if (parsed && !json_is_string(value) &&
            (strstr(err->message, "string") != NULL || strstr(err->message, "one of") != NULL))
            text_format(err->message + strlen(err->message),
                        sizeof(err->message) - strlen(err->message),
                        " (the value was read as JSON; quote it, as '\"...\"', to give a string)");
        goto out_decref_copy;
    }
    rc = remember_override(config, assignment, json_path);
    if (rc < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
        goto out_decref_copy;
    }
    json_decref(config->root);
    config->root = copy;
    copy = NULL;

out_decref_copy:
    json_decref(copy);
out_decref_value:
    json_decref(value);
out_free_dotted:
    free(dotted);
    return rc;
}

/* ---- resolving ---- */

/* Whether one JSON path lies inside the other ("stages" / "stages[2].params.x"). */
static int paths_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
    char next;

    if (strncmp(a, b, n) != 0)
        return 0;
    next = la < lb ? b[n] : a[n];
    return next == '\0' || next == '.' || next == '[';
}

/* Ends err's message with the --set assignments that touched json_path, if any. */
static int note_overrides(const struct wn_config *config, const char *json_path,
                          struct wn_error *err)
{
    int first = 1;

    for (size_t i = 0; i < config->n_overrides; i++) {
        size_t used = strlen(err->message);

        if (!paths_overlap(config->override_paths[i], json_path))
            continue;
        text_format(err->message + used, sizeof(err->message) - used, "%s--set %s",
                    first ? " (after " : ", ", config->overrides[i]);
        first = 0;
    }
    if (!first) {
        size_t used = strlen(err->message);
        text_format(err->message + used, sizeof(err->message) - used, ")");
    }
    return err->code;
}

static int config_error(const struct wn_config *config, const char *json_path, struct wn_error *err,
                        const char *fmt, ...) WN_PRINTF(4, 5);

/* Sets "SOURCE: message" and notes the overrides that touched json_path. */
static int config_error(const struct wn_config *config, const char *json_path, struct wn_error *err,
                        const char *fmt, ...)
{
    char text[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    wn_error_set(err, WN_ECONFIG, "%s: %s", config->source, text);
    return note_overrides(config, json_path, err);
}

/* The names of every loaded stage (kind < 0) or backend of one kind, for messages. */
static void loaded_names(const struct wn_registry *registry, int backend_kind, const char *word,
                         struct suggestion *s, char *buf, size_t size)
{
    size_t used = 0, n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < wn_registry_plugin_count(registry); i++) {
        const struct wn_plugin *p = wn_registry_plugin_at(registry, i)->plugin;
        const char *names[64];
        size_t count = 0;

        if (backend_kind < 0) {
            for (size_t j = 0; p->stages != NULL && p->stages[j] != NULL && count < 64; j++)
                names[count++] = p->stages[j]->name;
        } else {
            for (size_t j = 0; p->backends != NULL && p->backends[j] != NULL && count < 64; j++)
                if ((int)p->backends[j]->kind == backend_kind)
                    names[count++] = p->backends[j]->name;
        }
        for (size_t j = 0; j < count; j++) {
            if (s != NULL && word != NULL)
                suggestion_consider(s, names[j]);
            if (used < size) {
                int w = text_format(buf + used, size - used, "%s%s", n ? ", " : "", names[j]);
                if (w > 0)
                    used += (size_t)w;
            }
            n++;
        }
    }
}

static const char *backend_kind_word(enum wn_backend_kind kind)
{
    switch (kind) {
    case WN_BACKEND_EXECUTOR: return "executor";
    case WN_BACKEND_COMMS: return "comms";
    case WN_BACKEND_SHUFFLE: return "shuffle";
    }
    return "unknown";
}

/* Checks stage["comms"] / stage["shuffle"] against the stage's kind and the loaded backends. */
static int resolve_provider(const struct wn_config *config, const struct wn_registry *registry,
                            const json_t *stage, size_t index, const struct wn_stage_desc *desc,
                            const char *key, enum wn_stage_kind needs_kind,
                            enum wn_backend_kind backend_kind, char **out, struct wn_error *err)
{
    const char *provider = json_string_value(json_object_get(stage, key));
    const char *word = backend_kind_word(backend_kind);
    char path[PATH_MAX_LEN], names[LIST_MAX_LEN], hint[128];
    struct suggestion s;

    *out = NULL;
    text_format(path, sizeof(path), "stages[%zu].%s", index, key);
    if (desc->kind != needs_kind) {
        if (provider == NULL)
            return 0;
        return config_error(config, path, err,
                            "%s: stage '%s' is a %s stage; only %s stages take \"%s\" (remove it)",
                            path, desc->name,
                            desc->kind == WN_STAGE_PLAIN   ? "plain"
                            : desc->kind == WN_STAGE_COMMS ? "comms"
                                                           : "shuffle",
                            word, key);
    }
    suggestion_init(&s, provider ? provider : "");
    loaded_names(registry, (int)backend_kind, provider, &s, names, sizeof(names));
    if (names[0] == '\0')
        text_format(names, sizeof(names), "none");
    if (provider == NULL)
        return config_error(config, path, err,
                            "stages[%zu]: stage '%s' is a %s stage and needs \"%s\": the name of "
                            "a %s backend (loaded: %s)",
                            index, desc->name, word, key, word, names);
    if (wn_registry_find_backend(registry, backend_kind, provider) == NULL) {
        suggestion_text(&s, hint, sizeof(hint));
        return config_error(config, path, err, "%s: no %s backend named '%s'%s (loaded: %s)", path,
                            word, provider, hint, names);
    }
    *out = strdup(provider);
    if (*out == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    return 0;
}

/* stage["comms_params"]: the comms provider's params, validated against its spec
 * (defaults when not given).  Needs rs->comms resolved. */
static int resolve_comms_params(const struct wn_config *config, const struct wn_registry *registry,
                                const json_t *stage, size_t index, struct wn_run_stage *rs,
                                struct wn_error *err)
{
    const json_t *given = json_object_get(stage, "comms_params");
    struct wn_params *params = NULL;
    char path[PATH_MAX_LEN];
    int rc;

    text_format(path, sizeof(path), "stages[%zu].comms_params", index);
    if (rs->comms == NULL) {
        if (given == NULL)
            return 0;
        return config_error(config, path, err,
                            "%s: stage '%s' has no \"comms\" provider, and comms_params go with "
                            "one (remove it)",
                            path, rs->desc->name);
    }
    rs->comms_backend = wn_registry_find_backend(registry, WN_BACKEND_COMMS, rs->comms);
    if (rs->comms_backend == NULL)
        return wn_error_set(err, WN_EINTERNAL, "%s: comms backend '%s' vanished", path, rs->comms);
    rc = wn_params_new(rs->comms_backend->params, given, path, &params, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s", config->source);
        return note_overrides(config, path, err);
    }
    rs->comms_params = params;
    return 0;
}

/* stage["shuffle_params"]: the shuffle provider's params, validated against
 * its spec (defaults when not given).  Needs rs->shuffle resolved. */
static int resolve_shuffle_params(const struct wn_config *config,
                                  const struct wn_registry *registry, const json_t *stage,
                                  size_t index, struct wn_run_stage *rs, struct wn_error *err)
{
    const json_t *given = json_object_get(stage, "shuffle_params");
    struct wn_params *params = NULL;
    char path[PATH_MAX_LEN];
    int rc;

    text_format(path, sizeof(path), "stages[%zu].shuffle_params", index);
    if (rs->shuffle == NULL) {
        if (given == NULL)
            return 0;
        return config_error(config, path, err,
                            "%s: stage '%s' has no \"shuffle\" provider, and shuffle_params go "
                            "with one (remove it)",
                            path, rs->desc->name);
    }
    rs->shuffle_backend = wn_registry_find_backend(registry, WN_BACKEND_SHUFFLE, rs->shuffle);
    if (rs->shuffle_backend == NULL)
        return wn_error_set(err, WN_EINTERNAL, "%s: shuffle backend '%s' vanished", path,
                            rs->shuffle);
    rc = wn_params_new(rs->shuffle_backend->params, given, path, &params, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s", config->source);
        return note_overrides(config, path, err);
    }
    rs->shuffle_params = params;
    return 0;
}

static int resolve_stage(const struct wn_config *config, const struct wn_registry *registry,
                         const json_t *stage, size_t index, struct wn_run_stage *rs,
                         struct wn_error *err)
{
    const char *stage_name = json_string_value(json_object_get(stage, "stage"));
    const json_t *resources = json_object_get(stage, "resources");
    const json_t *v;
    const struct wn_stage_desc *desc;
    struct wn_params *params = NULL;
    char path[PATH_MAX_LEN], ctx[PATH_MAX_LEN];
    int rc;

    text_format(ctx, sizeof(ctx), "stages[%zu]", index);
    rs->struct_size = sizeof(*rs);
    desc = wn_registry_find_stage(registry, stage_name);
    if (desc == NULL) {
        char names[LIST_MAX_LEN], hint[128];
        struct suggestion s;

        suggestion_init(&s, stage_name);
        loaded_names(registry, -1, stage_name, &s, names, sizeof(names));
        suggestion_text(&s, hint, sizeof(hint));
        return config_error(config, ctx, err,
                            "stages[%zu].stage: no stage named '%s'%s; `winnow plugins` lists "
                            "the stages found",
                            index, stage_name, hint);
    }
    rs->desc = desc;

    text_format(path, sizeof(path), "stages[%zu].params", index);
    rc = wn_params_new(desc->params, json_object_get(stage, "params"), path, &params, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s", config->source);
        return note_overrides(config, ctx, err);
    }
    rs->params = params;

    rs->name = strdup(stage_config_name(stage));
    if (rs->name == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");

    rs->resources = desc->resources;
    if ((v = json_object_get(resources, "cpus")) != NULL)
        rs->resources.cpus = json_number_value(v);
    if ((v = json_object_get(resources, "gpus")) != NULL)
        rs->resources.gpus = json_number_value(v);
    if ((v = json_object_get(resources, "gpu_memory_gb")) != NULL)
        rs->resources.gpu_memory_gb = json_number_value(v);
    if ((v = json_object_get(resources, "entire_gpu")) != NULL)
        rs->resources.entire_gpu = json_is_true(v);

    if ((v = json_object_get(stage, "batch_size")) != NULL)
        rs->batch_size = (uint32_t)json_integer_value(v);
    else
        rs->batch_size = desc->batch_size ? desc->batch_size : 1;
    if ((v = json_object_get(stage, "actors")) != NULL)
        rs->actors = (uint32_t)json_integer_value(v);

    rs->on_error = WN_ON_ERROR_FAIL;
    if ((v = json_object_get(stage, "on_error")) != NULL) {
        if (strcmp(json_string_value(v), "retry") == 0)
            rs->on_error = WN_ON_ERROR_RETRY;
        else if (strcmp(json_string_value(v), "skip") == 0)
            rs->on_error = WN_ON_ERROR_SKIP;
    }
    if ((v = json_object_get(stage, "max_retries")) != NULL)
        rs->max_retries = (uint32_t)json_integer_value(v);
    else if (rs->on_error == WN_ON_ERROR_RETRY)
        rs->max_retries = RETRY_DEFAULT_MAX_RETRIES;
    if ((v = json_object_get(stage, "timeout_s")) != NULL)
        rs->timeout_s = json_number_value(v);

    rc = resolve_provider(config, registry, stage, index, desc, "comms", WN_STAGE_COMMS,
                          WN_BACKEND_COMMS, (char **)&rs->comms, err);
    if (rc == 0)
        rc = resolve_comms_params(config, registry, stage, index, rs, err);
    if (rc == 0)
        rc = resolve_provider(config, registry, stage, index, desc, "shuffle", WN_STAGE_SHUFFLE,
                              WN_BACKEND_SHUFFLE, (char **)&rs->shuffle, err);
    if (rc == 0)
        rc = resolve_shuffle_params(config, registry, stage, index, rs, err);
    return rc;
}

/* Payload compatibility of stage index with the one before it (or with the trigger task). */
static int check_payloads(const struct wn_config *config, const struct wn_run_stage *stages,
                          size_t index, struct wn_error *err)
{
    const struct wn_run_stage *next = &stages[index], *prev;
    char ctx[PATH_MAX_LEN], accepts[128], produces[128];

    text_format(ctx, sizeof(ctx), "stages[%zu]", index);
    payload_words(next->desc->input_payloads, accepts, sizeof(accepts));
    if (index == 0) {
        if (next->desc->input_payloads & WN_PAYLOAD_BIT(WN_PAYLOAD_EMPTY))
            return 0;
        return config_error(config, ctx, err,
                            "stages[0] ('%s'): stage '%s' cannot start a pipeline: it accepts %s, "
                            "and a run starts with one empty trigger task; start with a source "
                            "stage such as file_partitioning",
                            next->name, next->desc->name, accepts);
    }
    prev = &stages[index - 1];
    if (prev->desc->output_payloads & next->desc->input_payloads)
        return 0;
    payload_words(prev->desc->output_payloads, produces, sizeof(produces));
    config_error(config, ctx, err,
                 "stages[%zu] ('%s'): stage '%s' accepts %s, but the stage before it, "
                 "stages[%zu] ('%s', stage '%s'), produces %s; put a stage that converts them in "
                 "between",
                 index, next->name, next->desc->name, accepts, index - 1, prev->name,
                 prev->desc->name, produces);
    text_format(ctx, sizeof(ctx), "stages[%zu]", index - 1);
    return note_overrides(config, ctx, err);
}

static int resolve_executor(const struct wn_config *config, const struct wn_registry *registry,
                            struct wn_pipeline *pipeline, struct wn_error *err)
{
    const json_t *executor = json_object_get(config->root, "executor");
    const json_t *backend_name = json_object_get(executor, "backend");
    const char *name = backend_name ? json_string_value(backend_name) : "actor_pool";
    json_t *env = json_object_get(executor, "env");
    json_t *backend_params = NULL;
    const char *key;
    json_t *value;
    int rc;

    pipeline->executor = wn_registry_find_backend(registry, WN_BACKEND_EXECUTOR, name);
    if (pipeline->executor == NULL) {
        char names[LIST_MAX_LEN], hint[128];
        struct suggestion s;

        suggestion_init(&s, name);
        loaded_names(registry, WN_BACKEND_EXECUTOR, name, &s, names, sizeof(names));
        suggestion_text(&s, hint, sizeof(hint));
        if (names[0] == '\0')
            return config_error(config, "executor", err,
                                "executor.backend: no executor backend named '%s', and no "
                                "executor backend is loaded; `winnow plugins` lists what was "
                                "found and why a plugin did not load",
                                name);
        return config_error(config, "executor", err,
                            "executor.backend: no executor backend named '%s'%s (loaded "
                            "executors: %s)",
                            name, hint, names);
    }

    /* The backend's own keys: the executor object minus "backend" and "env". */
    if (executor != NULL) {
        backend_params = json_copy((json_t *)executor);
        if (backend_params == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory");
        json_object_del(backend_params, "backend");
        json_object_del(backend_params, "env");
    }
    rc = wn_params_new(pipeline->executor->params, backend_params, "executor",
                       &pipeline->executor_params, err);
    json_decref(backend_params);
    if (rc < 0) {
        wn_error_prefix(err, "%s", config->source);
        return note_overrides(config, "executor", err);
    }

    if (json_object_size(env) > 0) {
        pipeline->env = calloc(json_object_size(env), sizeof(*pipeline->env));
        if (pipeline->env == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory");
    }
    json_object_foreach(env, key, value)
    {
        struct wn_env_var *var = &pipeline->env[pipeline->n_env];

        var->name = strdup(key);
        var->value = strdup(json_string_value(value));
        pipeline->n_env++;
        if (var->name == NULL || var->value == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory");
    }
    return 0;
}

int wn_config_resolve(const struct wn_config *config, const struct wn_registry *registry,
                      struct wn_pipeline **out, struct wn_error *err)
{
    const json_t *stages = json_object_get(config->root, "stages");
    const json_t *dataset = json_object_get(config->root, "dataset");
    struct wn_pipeline *pipeline;
    size_t n = json_array_size(stages);
    int rc;

    *out = NULL;
    pipeline = calloc(1, sizeof(*pipeline));
    if (pipeline == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    pipeline->source = strdup(config->source);
    pipeline->stages = calloc(n, sizeof(*pipeline->stages));
    if (pipeline->source == NULL || pipeline->stages == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free_pipeline;
    }
    pipeline->n_stages = n;
    if (dataset != NULL) {
        pipeline->dataset = strdup(json_string_value(dataset));
        if (pipeline->dataset == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory");
            goto out_free_pipeline;
        }
    }

    for (size_t i = 0; i < n; i++) {
        rc = resolve_stage(config, registry, json_array_get(stages, i), i, &pipeline->stages[i],
                           err);
        if (rc == 0)
            rc = check_payloads(config, pipeline->stages, i, err);
        if (rc < 0)
            goto out_free_pipeline;
    }
    rc = resolve_executor(config, registry, pipeline, err);
    if (rc < 0)
        goto out_free_pipeline;
    *out = pipeline;
    return 0;

out_free_pipeline:
    wn_pipeline_free(pipeline);
    return rc;
}
