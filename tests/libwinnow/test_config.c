/* Tests of libwinnow/config.c: loading, checking, --set and resolving pipeline configs. */
#include "build_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/plugin.h>

#include "config.h"
#include "cu.h"
#include "pipeline.h"
#include "registry.h"

/* ---- in-test plugin: stages and backends whose hooks count calls ---- */

static int hook_calls;

static int count_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err)
{
    (void)state, (void)in, (void)n_in, (void)out, (void)err;
    hook_calls++;
    return 0;
}

static int count_setup_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    (void)env, (void)err;
    hook_calls++;
    return 0;
}

static int count_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    (void)params, (void)state, (void)err;
    hook_calls++;
    return 0;
}

static int count_run(const struct wn_run *run, struct wn_error *err)
{
    (void)run, (void)err;
    hook_calls++;
    return 0;
}

static const struct wn_stage_ops counting_ops = {
    WN_STAGE_OPS_VERSION, count_setup_on_node, count_create, NULL, count_process, NULL, NULL, { 0 }
};
static const struct wn_executor_ops executor_ops = { WN_EXECUTOR_OPS_VERSION, count_run, { 0 } };

#define BIT(kind) WN_PAYLOAD_BIT(WN_PAYLOAD_##kind)

static const struct wn_stage_desc source_stage = { WN_STAGE_HEADER,
                                                   "source",
                                                   "lists files",
                                                   NULL,
                                                   { 1.0, 0, 0, 0 },
                                                   0,
                                                   WN_STAGE_PLAIN,
                                                   BIT(EMPTY),
                                                   BIT(FILES),
                                                   NULL,
                                                   &counting_ops,
                                                   NULL,
                                                   { 0 } };
static const struct wn_stage_desc reader_stage = { WN_STAGE_HEADER,
                                                   "reader",
                                                   "reads files into tables",
                                                   NULL,
                                                   { 2.0, 0.5, 0, 0 },
                                                   4,
                                                   WN_STAGE_PLAIN,
                                                   BIT(FILES),
                                                   BIT(TABLE),
                                                   NULL,
                                                   &counting_ops,
                                                   NULL,
                                                   { 0 } };

static const char *const filter_modes[] = { "keep", "drop", NULL };
static const struct wn_param_spec filter_params[] = {
    { "min_words", WN_PARAM_INT, WN_PARAM_REQUIRED | WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, NULL, 1,
      1000, NULL, "fewest words a kept row has" },
    { "limit", WN_PARAM_INT, 0, "10", 0, 0, NULL, "any 64-bit count" },
    { "ratio", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "0.5", 0, 1, NULL, "a ratio" },
    { "mode", WN_PARAM_STRING, 0, "\"keep\"", 0, 0, filter_modes, "keep or drop matches" },
    { "fields", WN_PARAM_STRING_LIST, 0, "[\"text\"]", 0, 0, NULL, "columns to read" },
    { "verbose", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "log each row" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};
static const struct wn_stage_desc filter_stage = { WN_STAGE_HEADER,
                                                   "word_filter",
                                                   "keeps rows by word count",
                                                   filter_params,
                                                   { 0.5, 0, 0, 0 },
                                                   32,
                                                   WN_STAGE_PLAIN,
                                                   BIT(TABLE),
                                                   BIT(TABLE),
                                                   NULL,
                                                   &counting_ops,
                                                   NULL,
                                                   { 0 } };
static const struct wn_stage_desc collective_stage = { WN_STAGE_HEADER,
                                                       "collective",
                                                       "ranks all-reduce",
                                                       NULL,
                                                       { 1.0, 1.0, 0, 0 },
                                                       0,
                                                       WN_STAGE_COMMS,
                                                       BIT(TABLE),
                                                       BIT(TABLE),
                                                       NULL,
                                                       &counting_ops,
                                                       NULL,
                                                       { 0 } };
/* Shuffle hooks are never called by resolve; the registry only needs them present. */
static const struct {
    uint32_t version;
} shuffle_hooks = { 1 };
static const struct wn_stage_desc shuffle_stage = { WN_STAGE_HEADER,
                                                    "exchange",
                                                    "shuffles rows by key",
                                                    NULL,
                                                    { 1.0, 0, 0, 0 },
                                                    0,
                                                    WN_STAGE_SHUFFLE,
                                                    BIT(TABLE),
                                                    BIT(TABLE),
                                                    NULL,
                                                    &counting_ops,
                                                    &shuffle_hooks,
                                                    { 0 } };

static const char *const executor_modes[] = { "streaming", "barrier", NULL };
static const struct wn_param_spec executor_params[] = {
    { "mode", WN_PARAM_STRING, 0, "\"streaming\"", 0, 0, executor_modes, "scheduling" },
    { "reserved_cpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "0", 0, 0, NULL, "CPUs kept free" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};
static const struct wn_backend_desc pool_backend = {
    WN_BACKEND_HEADER, "actor_pool", "test executor", WN_BACKEND_EXECUTOR, executor_params,
    &executor_ops,     { 0 }
};
static const struct wn_backend_desc serial_backend = {
    WN_BACKEND_HEADER, "serial", "test executor without params", WN_BACKEND_EXECUTOR, NULL,
    &executor_ops,     { 0 }
};
/* Providers are only looked up by resolve, never called: a versioned table
 * with no methods is enough for the registry's checks. */
static const struct {
    uint32_t version;
} provider_ops = { 1 };
static const struct wn_backend_desc comms_backend = {
    WN_BACKEND_HEADER, "test_comms", "test comms", WN_BACKEND_COMMS, NULL, &provider_ops, { 0 }
};
static const struct wn_backend_desc shuffle_backend = {
    WN_BACKEND_HEADER, "test_shuffle", "test shuffle", WN_BACKEND_SHUFFLE, NULL,
    &provider_ops,     { 0 }
};

static const struct wn_stage_desc *const test_stages[] = { &source_stage,  &reader_stage,
                                                           &filter_stage,  &collective_stage,
                                                           &shuffle_stage, NULL };
static const struct wn_backend_desc *const test_backends[] = { &pool_backend, &serial_backend,
                                                               &comms_backend, &shuffle_backend,
                                                               NULL };
static const struct wn_plugin test_plugin = {
    WN_PLUGIN_HEADER, "config_test", "1.0", "MIT", "stages for the config tests",
    test_stages,      test_backends, { 0 }
};

/* Only stages: no executor, no comms backend. */
static const struct wn_plugin stages_only_plugin = {
    WN_PLUGIN_HEADER, "config_test_stages", "1.0", "MIT", "stages only", test_stages, NULL, { 0 }
};

static struct wn_registry *registry;
static struct wn_registry *stages_only_registry;

static int suite_init(void)
{
    struct wn_error err = WN_ERROR_INIT;

    registry = wn_registry_new();
    stages_only_registry = wn_registry_new();
    if (registry == NULL || stages_only_registry == NULL)
        return 1;
    wn_registry_set_default_paths(registry, 0);
    wn_registry_set_default_paths(stages_only_registry, 0);
    if (wn_registry_add_static(registry, &test_plugin, "<builtin:config_test>", &err) < 0 ||
        wn_registry_add_static(stages_only_registry, &stages_only_plugin,
                               "<builtin:config_test_stages>", &err) < 0) {
        fprintf(stderr, "registry: %s\n", err.message);
        return 1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    wn_registry_free(registry);
    wn_registry_free(stages_only_registry);
    return 0;
}

/* ---- helpers ---- */

/* Test JSON is written with ' for " to stay readable. */
static char *quoted(const char *text)
{
    char *copy = strdup(text);

    for (char *p = copy; p != NULL && *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return copy;
}

static int load(const char *text, struct wn_config **config, struct wn_error *err)
{
    char *json = quoted(text);
    int rc;

    wn_error_clear(err);
    rc = wn_config_load_string(json, "test.json", config, err);
    free(json);
    return rc;
}

#define ASSERT_MESSAGE(err, expected)                                                              \
    do {                                                                                           \
        const char *found_ = strstr((err).message, (expected));                                    \
        if (found_ == NULL)                                                                        \
            fprintf(stderr, "\n  message:  %s\n  expected: %s\n", (err).message, (expected));      \
        CU_ASSERT_PTR_NOT_NULL(found_);                                                            \
    } while (0)

/* Loading text fails with WN_ECONFIG and a message containing expected. */
static void expect_load_error(const char *text, const char *expected)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    int rc = load(text, &config, &err);

    CU_ASSERT_EQUAL(rc, WN_ECONFIG);
    CU_ASSERT_EQUAL(err.code, WN_ECONFIG);
    CU_ASSERT_PTR_NULL(config);
    ASSERT_MESSAGE(err, expected);
    if (rc == 0)
        wn_config_free(config);
}

/* Loads text (which must load) and resolves it against reg. */
static int resolve_text(const char *text, const struct wn_registry *reg,
                        struct wn_pipeline **pipeline, struct wn_error *err)
{
    struct wn_config *config = NULL;
    int rc = load(text, &config, err);

    *pipeline = NULL;
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "\n  load failed: %s\n", err->message);
        return rc;
    }
    rc = wn_config_resolve(config, reg, pipeline, err);
    wn_config_free(config);
    return rc;
}

/* Resolving text fails with WN_ECONFIG and a message containing expected; no hook ran. */
static void expect_resolve_error_in(const char *text, const struct wn_registry *reg,
                                    const char *expected)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *pipeline = NULL;
    int calls = hook_calls;
    int rc = resolve_text(text, reg, &pipeline, &err);

    CU_ASSERT_EQUAL(rc, WN_ECONFIG);
    CU_ASSERT_PTR_NULL(pipeline);
    ASSERT_MESSAGE(err, expected);
    CU_ASSERT_EQUAL(hook_calls, calls);
    wn_pipeline_free(pipeline);
}

static void expect_resolve_error(const char *text, const char *expected)
{
    expect_resolve_error_in(text, registry, expected);
}

/* A three-stage pipeline whose third stage gets extra keys. */
static char *third_stage(const char *extra)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf),
             "{'stages': [{'stage': 'source'}, {'stage': 'reader'},"
             " {'stage': 'word_filter'%s%s%s}]}",
             strstr(extra, "'params'") ? "" : ", 'params': {'min_words': 1}", extra[0] ? ", " : "",
             extra);
    return buf;
}

static char *data_path(const char *name)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), "%s/tests/libwinnow/data/%s", wn_test_srcdir(), name);
    return buf;
}

/* ---- loading and resolving a good config ---- */

static void test_good_config_resolves_with_effective_values(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *p = NULL;
    const struct wn_run_stage *s;
    int rc;

    hook_calls = 0;
    rc = resolve_text(
        "{'dataset': 'books',"
        " 'executor': {'mode': 'barrier', 'env': {'WN_B': 'two', 'WN_A': '1'}},"
        " 'stages': ["
        "  {'stage': 'source'},"
        "  {'stage': 'reader', 'resources': {'gpus': 1}},"
        "  {'stage': 'word_filter', 'name': 'short', 'params': {'min_words': 3, 'fields': 'body'},"
        "   'batch_size': 16, 'actors': 4, 'on_error': 'retry', 'timeout_s': 2.5,"
        "   'resources': {'gpu_memory_gb': 8, 'entire_gpu': true}},"
        "  {'stage': 'collective', 'comms': 'test_comms', 'on_error': 'skip', 'max_retries': 7,"
        "   'resources': {'cpus': 0.25, 'gpus': 0}},"
        "  {'stage': 'exchange', 'shuffle': 'test_shuffle', 'batch_size': 2147483647,"
        "   'actors': 65536, 'max_retries': 1000, 'on_error': 'fail'}]}",
        registry, &p, &err);
    if (rc < 0)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);

    CU_ASSERT_STRING_EQUAL(p->source, "test.json");
    CU_ASSERT_STRING_EQUAL(p->dataset, "books");
    CU_ASSERT_PTR_EQUAL(p->executor, &pool_backend);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p->executor_params, "mode"), "barrier");
    CU_ASSERT_TRUE(wn_params_has(p->executor_params, "reserved_cpus"));
    CU_ASSERT_EQUAL(wn_params_get_double(p->executor_params, "reserved_cpus"), 0.0);
    CU_ASSERT_EQUAL_FATAL(p->n_env, 2);
    CU_ASSERT_STRING_EQUAL(p->env[0].name, "WN_B");
    CU_ASSERT_STRING_EQUAL(p->env[0].value, "two");
    CU_ASSERT_STRING_EQUAL(p->env[1].name, "WN_A");
    CU_ASSERT_STRING_EQUAL(p->env[1].value, "1");
    CU_ASSERT_EQUAL_FATAL(p->n_stages, 5);

    /* source: every default; the descriptor's batch_size 0 means 1. */
    s = &p->stages[0];
    CU_ASSERT_EQUAL(s->struct_size, sizeof(struct wn_run_stage));
    CU_ASSERT_STRING_EQUAL(s->name, "source");
    CU_ASSERT_PTR_EQUAL(s->desc, &source_stage);
    CU_ASSERT_PTR_NOT_NULL(s->params);
    CU_ASSERT_EQUAL(s->resources.cpus, 1.0);
    CU_ASSERT_EQUAL(s->resources.gpus, 0.0);
    CU_ASSERT_EQUAL(s->batch_size, 1);
    CU_ASSERT_EQUAL(s->actors, 0);
    CU_ASSERT_EQUAL(s->on_error, WN_ON_ERROR_FAIL);
    CU_ASSERT_EQUAL(s->max_retries, 0);
    CU_ASSERT_EQUAL(s->timeout_s, 0.0);
    CU_ASSERT_PTR_NULL(s->comms);
    CU_ASSERT_PTR_NULL(s->shuffle);

    /* reader: the descriptor's batch_size; gpus overridden, cpus kept. */
    s = &p->stages[1];
    CU_ASSERT_STRING_EQUAL(s->name, "reader");
    CU_ASSERT_EQUAL(s->batch_size, 4);
    CU_ASSERT_EQUAL(s->resources.cpus, 2.0);
    CU_ASSERT_EQUAL(s->resources.gpus, 1.0);
    CU_ASSERT_EQUAL(s->resources.gpu_memory_gb, 0.0);
    CU_ASSERT_EQUAL(s->resources.entire_gpu, 0);

    /* word_filter: every override, params with defaults filled. */
    s = &p->stages[2];
    CU_ASSERT_STRING_EQUAL(s->name, "short");
    CU_ASSERT_PTR_EQUAL(s->desc, &filter_stage);
    CU_ASSERT_EQUAL(s->batch_size, 16);
    CU_ASSERT_EQUAL(s->actors, 4);
    CU_ASSERT_EQUAL(s->on_error, WN_ON_ERROR_RETRY);
    CU_ASSERT_EQUAL(s->max_retries, 3);
    CU_ASSERT_EQUAL(s->timeout_s, 2.5);
    CU_ASSERT_EQUAL(s->resources.cpus, 0.5);
    CU_ASSERT_EQUAL(s->resources.gpus, 0.0);
    CU_ASSERT_EQUAL(s->resources.gpu_memory_gb, 8.0);
    CU_ASSERT_EQUAL(s->resources.entire_gpu, 1);
    CU_ASSERT_EQUAL(wn_params_get_int(s->params, "min_words"), 3);
    CU_ASSERT_EQUAL(wn_params_get_int(s->params, "limit"), 10);
    CU_ASSERT_EQUAL(wn_params_get_double(s->params, "ratio"), 0.5);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(s->params, "mode"), "keep");
    CU_ASSERT_EQUAL_FATAL(wn_params_get_list_size(s->params, "fields"), 1);
    CU_ASSERT_STRING_EQUAL(wn_params_get_list_item(s->params, "fields", 0), "body");
    CU_ASSERT_EQUAL(wn_params_get_bool(s->params, "verbose"), 0);

    /* collective: comms provider, explicit max_retries with skip, cpus overridden. */
    s = &p->stages[3];
    CU_ASSERT_STRING_EQUAL(s->comms, "test_comms");
    CU_ASSERT_PTR_NULL(s->shuffle);
    CU_ASSERT_EQUAL(s->on_error, WN_ON_ERROR_SKIP);
    CU_ASSERT_EQUAL(s->max_retries, 7);
    CU_ASSERT_EQUAL(s->resources.cpus, 0.25);
    CU_ASSERT_EQUAL(s->resources.gpus, 0.0);
    CU_ASSERT_EQUAL(s->batch_size, 1);

    /* exchange: shuffle provider; the largest values allowed. */
    s = &p->stages[4];
    CU_ASSERT_STRING_EQUAL(s->shuffle, "test_shuffle");
    CU_ASSERT_PTR_EQUAL(s->shuffle_backend, &shuffle_backend);
    CU_ASSERT_PTR_NOT_NULL(s->shuffle_params);
    CU_ASSERT_PTR_NULL(s->comms);
    CU_ASSERT_EQUAL(s->batch_size, 2147483647u);
    CU_ASSERT_EQUAL(s->actors, 65536);
    CU_ASSERT_EQUAL(s->max_retries, 1000);
    CU_ASSERT_EQUAL(s->on_error, WN_ON_ERROR_FAIL);

    CU_ASSERT_EQUAL(hook_calls, 0);
    wn_pipeline_free(p);
}

static void test_pipeline_outlives_its_config(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    struct wn_pipeline *p = NULL;
    char *json = quoted("{'dataset': 'd', 'executor': {'env': {'K': 'V'}}, 'stages': ["
                        " {'stage': 'source', 'name': 'first'}, {'stage': 'reader'},"
                        " {'stage': 'word_filter', 'params': {'min_words': 2, 'mode': 'drop'}},"
                        " {'stage': 'collective', 'comms': 'test_comms'}]}");

    CU_ASSERT_EQUAL_FATAL(wn_config_load_string(json, NULL, &config, &err), 0);
    free(json);
    CU_ASSERT_STRING_EQUAL(wn_config_source(config), "<string>");
    CU_ASSERT_EQUAL_FATAL(wn_config_resolve(config, registry, &p, &err), 0);
    wn_config_free(config);
    /* Everything below must be the pipeline's own copies. */
    CU_ASSERT_STRING_EQUAL(p->source, "<string>");
    CU_ASSERT_STRING_EQUAL(p->dataset, "d");
    CU_ASSERT_STRING_EQUAL(p->stages[0].name, "first");
    CU_ASSERT_STRING_EQUAL(p->stages[3].comms, "test_comms");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p->stages[2].params, "mode"), "drop");
    CU_ASSERT_STRING_EQUAL(p->env[0].name, "K");
    CU_ASSERT_STRING_EQUAL(p->env[0].value, "V");
    CU_ASSERT_PTR_EQUAL(p->executor, &pool_backend);
    CU_ASSERT_PTR_NULL(p->stages[3].shuffle);
    wn_pipeline_free(p);
}

static void test_good_file_loads_and_resolves(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    struct wn_pipeline *p = NULL;
    const char *path = data_path("config_good.json");

    CU_ASSERT_EQUAL_FATAL(wn_config_load_file(path, &config, &err), 0);
    CU_ASSERT_STRING_EQUAL(wn_config_source(config), path);
    CU_ASSERT_EQUAL_FATAL(wn_config_resolve(config, registry, &p, &err), 0);
    CU_ASSERT_STRING_EQUAL(p->source, path);
    CU_ASSERT_STRING_EQUAL(p->dataset, "books");
    CU_ASSERT_EQUAL(p->n_stages, 3);
    CU_ASSERT_EQUAL(p->stages[1].batch_size, 8);
    CU_ASSERT_STRING_EQUAL(p->stages[2].name, "short_docs");
    CU_ASSERT_EQUAL(p->stages[2].batch_size, 32);
    CU_ASSERT_EQUAL(wn_params_get_int(p->stages[2].params, "min_words"), 50);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p->executor_params, "mode"), "barrier");
    CU_ASSERT_EQUAL_FATAL(p->n_env, 1);
    CU_ASSERT_STRING_EQUAL(p->env[0].name, "WN_TEST_A");
    wn_pipeline_free(p);
    wn_config_free(config);
}

static void test_missing_file_is_not_found(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    const char *path = data_path("no_such_config.json");
    char expected[4200];

    CU_ASSERT_EQUAL(wn_config_load_file(path, &config, &err), WN_ENOTFOUND);
    CU_ASSERT_PTR_NULL(config);
    snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", path);
    CU_ASSERT_STRING_EQUAL(err.message, expected);
}

/* ---- syntax ---- */

static void test_syntax_error_has_file_line_and_column(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    const char *path = data_path("config_syntax.json");
    char expected[4200];

    CU_ASSERT_EQUAL(wn_config_load_file(path, &config, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NULL(config);
    snprintf(expected, sizeof(expected), "%s:4:43: string or '}' expected near '}'", path);
    CU_ASSERT_STRING_EQUAL(err.message, expected);
    CU_ASSERT_PTR_NULL(strstr(err.message, "<stream>"));

    expect_load_error("{'stages': [\n  {'stage': 'source'},,\n]}", "test.json:2:23: ");
    expect_load_error("", "test.json:1:0: '[' or '{' expected near end of file");
    expect_load_error("{'stages': [{'stage': 'source'}]} trailing",
                      "test.json:1:42: end of file expected");
}

static void test_duplicate_key_has_file_line_and_column(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    const char *path = data_path("config_duplicate.json");
    char expected[4200];

    CU_ASSERT_EQUAL(wn_config_load_file(path, &config, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NULL(config);
    snprintf(expected, sizeof(expected), "%s:5:18: duplicate object key near '\"batch_size\"'",
             path);
    CU_ASSERT_STRING_EQUAL(err.message, expected);

    expect_load_error("{'stages': [{'stage': 'source'}],\n 'stages': []}",
                      "test.json:2:9: duplicate object key near '\"stages\"'");
    expect_load_error("{'executor': {'env': {'A': '1',\n   'A': '2'}}, 'stages': []}",
                      "test.json:2:6: duplicate object key");
}

/* ---- structural checks ---- */

static void test_unknown_keys_are_reported_with_a_suggestion(void)
{
    expect_load_error(third_stage("'batchsize': 4"),
                      "test.json: stages[2]: unknown key 'batchsize' (did you mean 'batch_size'?)");
    expect_load_error(third_stage("'on_eror': 'skip'"),
                      "test.json: stages[2]: unknown key 'on_eror' (did you mean 'on_error'?)");
    expect_load_error(third_stage("'Actors': 2"),
                      "test.json: stages[2]: unknown key 'Actors' (did you mean 'actors'?)");
    expect_load_error(third_stage("'resources': {'cpu': 1}"),
                      "test.json: stages[2].resources: unknown key 'cpu' (did you mean 'cpus'?)");
    expect_load_error("{'stage': [{'stage': 'source'}]}",
                      "test.json: unknown key 'stage' at the top level (did you mean 'stages'?)");
    expect_load_error("{'datset': 'x', 'stages': [{'stage': 'source'}]}",
                      "test.json: unknown key 'datset' at the top level (did you mean 'dataset'?)");
    /* Nothing close: the known keys are listed instead. */
    expect_load_error(third_stage("'colour': 'red'"),
                      "test.json: stages[2]: unknown key 'colour' (known keys: stage, name, "
                      "params, resources, batch_size, actors, on_error, max_retries, timeout_s, "
                      "comms, shuffle, comms_params, shuffle_params)");
}

static void test_unknown_key_without_close_match_has_no_suggestion(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;

    CU_ASSERT_EQUAL(load("{'pipeline': 1, 'stages': [{'stage': 'source'}]}", &config, &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NULL(strstr(err.message, "did you mean"));
    ASSERT_MESSAGE(err, "unknown key 'pipeline' at the top level (known keys: dataset, executor, "
                        "stages)");
}

struct case_ {
    const char *extra;    /* keys added to stages[2] */
    const char *expected; /* the whole message */
};

static void run_cases(const struct case_ *cases)
{
    for (const struct case_ *c = cases; c->extra != NULL; c++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_config *config = NULL;
        int rc = load(third_stage(c->extra), &config, &err);

        CU_ASSERT_EQUAL(rc, WN_ECONFIG);
        CU_ASSERT_PTR_NULL(config);
        if (strcmp(err.message, c->expected) != 0)
            fprintf(stderr, "\n  with:     %s\n  message:  %s\n  expected: %s\n", c->extra,
                    err.message, c->expected);
        CU_ASSERT_STRING_EQUAL(err.message, c->expected);
        wn_config_free(config);
    }
}

static void test_wrong_types_are_reported_with_their_path(void)
{
    static const struct case_ cases[] = {
        { "'name': ''",
          "test.json: stages[2].name: expected a non-empty string, got the string \"\"" },
        { "'name': null", "test.json: stages[2].name: expected a non-empty string, got null" },
        { "'resources': 'gpu'",
          "test.json: stages[2].resources: expected an object, got the string \"gpu\"" },
        { "'batch_size': '4'", "test.json: stages[2].batch_size: expected an integer from 1 to "
                               "2147483647, got the string \"4\"" },
        { "'batch_size': 2.0",
          "test.json: stages[2].batch_size: expected an integer from 1 to 2147483647, got 2.0" },
        { "'actors': true",
          "test.json: stages[2].actors: expected an integer from 1 to 65536, got true" },
        { "'on_error': 1",
          "test.json: stages[2].on_error: expected one of \"fail\", \"retry\", \"skip\", got 1" },
        { "'max_retries': [3]",
          "test.json: stages[2].max_retries: expected an integer from 0 to 1000, got an array" },
        { "'timeout_s': '10'",
          "test.json: stages[2].timeout_s: expected a number >= 0, got the string \"10\"" },
        { "'comms': {}", "test.json: stages[2].comms: expected a non-empty string, got an object" },
        { "'shuffle': false",
          "test.json: stages[2].shuffle: expected a non-empty string, got false" },
        { "'resources': {'cpus': '2'}",
          "test.json: stages[2].resources.cpus: expected a number >= 0, got the string \"2\"" },
        { "'resources': {'gpus': null}",
          "test.json: stages[2].resources.gpus: expected a number >= 0, got null" },
        { "'resources': {'entire_gpu': 1}",
          "test.json: stages[2].resources.entire_gpu: expected true or false, got 1" },
        { NULL, NULL }
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;

    run_cases(cases);
    /* params must be an object (its contents are checked when resolving). */
    CU_ASSERT_EQUAL(
        load("{'stages': [{'stage': 'source'}, {'stage': 'reader', 'params': []}]}", &config, &err),
        WN_ECONFIG);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "test.json: stages[1].params: expected an object, got an array");

    expect_load_error("{'stages': [{'stage': 'source'}, {'stage': 5}]}",
                      "test.json: stages[1].stage: expected a non-empty string, got 5");
    expect_load_error("[1, 2]", "test.json: expected an object at the top level, got an array");
    expect_load_error("{'dataset': 3, 'stages': [{'stage': 'source'}]}",
                      "test.json: dataset: expected a non-empty string, got 3");
    expect_load_error("{'executor': 'actor_pool', 'stages': [{'stage': 'source'}]}",
                      "test.json: executor: expected an object, got the string \"actor_pool\"");
    expect_load_error("{'executor': {'backend': 1}, 'stages': [{'stage': 'source'}]}",
                      "test.json: executor.backend: expected a non-empty string, got 1");
    expect_load_error("{'executor': {'env': ['A=1']}, 'stages': [{'stage': 'source'}]}",
                      "test.json: executor.env: expected an object, got an array");
    expect_load_error(
        "{'executor': {'env': {'OMP_NUM_THREADS': 4}}, 'stages': [{'stage': 'source'}]}",
        "test.json: executor.env.OMP_NUM_THREADS: expected a string, got 4");
    expect_load_error("{'executor': {'env': {'A=B': 'x'}}, 'stages': [{'stage': 'source'}]}",
                      "test.json: executor.env: 'A=B' is not a valid environment variable name");
    expect_load_error("{'stages': {'stage': 'source'}}",
                      "test.json: stages: expected an array of stage objects, got an object");
    expect_load_error(
        "{'stages': [{'stage': 'source'}, 'reader']}",
        "test.json: stages[1]: expected an object such as {\"stage\": \"word_count\"}, "
        "got the string \"reader\"");
    expect_load_error("{'stages': [{'stage': 'source'}, {'name': 'x'}]}",
                      "test.json: stages[1]: \"stage\" is missing");
}

static void test_missing_or_empty_stages_is_an_error(void)
{
    expect_load_error("{'dataset': 'x'}",
                      "test.json: \"stages\" is missing: list the stages to run");
    expect_load_error("{}", "test.json: \"stages\" is missing");
    expect_load_error("{'stages': []}",
                      "test.json: stages: the list is empty: a pipeline needs at least one stage");
}

static void test_out_of_range_values_are_reported_with_their_path(void)
{
    static const struct case_ cases[] = {
        { "'batch_size': 0",
          "test.json: stages[2].batch_size: expected an integer from 1 to 2147483647, got 0" },
        { "'batch_size': -1",
          "test.json: stages[2].batch_size: expected an integer from 1 to 2147483647, got -1" },
        { "'batch_size': 2147483648", "test.json: stages[2].batch_size: expected an integer from 1 "
                                      "to 2147483647, got 2147483648" },
        { "'batch_size': 5000000000", "test.json: stages[2].batch_size: expected an integer from 1 "
                                      "to 2147483647, got 5000000000" },
        { "'actors': 0",
          "test.json: stages[2].actors: expected an integer from 1 to 65536, got 0" },
        { "'actors': 65537",
          "test.json: stages[2].actors: expected an integer from 1 to 65536, got 65537" },
        { "'max_retries': -1",
          "test.json: stages[2].max_retries: expected an integer from 0 to 1000, got -1" },
        { "'max_retries': 1001",
          "test.json: stages[2].max_retries: expected an integer from 0 to 1000, got 1001" },
        { "'timeout_s': -0.5", "test.json: stages[2].timeout_s: expected a number >= 0, got -0.5" },
        { "'resources': {'cpus': -1}",
          "test.json: stages[2].resources.cpus: expected a number >= 0, got -1" },
        { "'resources': {'gpus': -0.25}",
          "test.json: stages[2].resources.gpus: expected a number >= 0, got -0.25" },
        { "'resources': {'gpu_memory_gb': -8}",
          "test.json: stages[2].resources.gpu_memory_gb: expected a number >= 0, got -8" },
        { "'on_error': 'ignore'",
          "test.json: stages[2].on_error: expected one of \"fail\", \"retry\", \"skip\", got the "
          "string \"ignore\"" },
        { "'on_error': 'retyr'",
          "test.json: stages[2].on_error: expected one of \"fail\", \"retry\", \"skip\", got the "
          "string \"retyr\" (did you mean 'retry'?)" },
        { NULL, NULL }
    };

    run_cases(cases);
}

static void test_duplicate_stage_names_are_an_error(void)
{
    expect_load_error("{'stages': [{'stage': 'source'}, {'stage': 'reader'},"
                      " {'stage': 'word_filter'}, {'stage': 'word_filter'}]}",
                      "test.json: stages[3]: the stage name 'word_filter' is already used by "
                      "stages[2]; give one of them a distinct \"name\"");
    expect_load_error(
        "{'stages': [{'stage': 'source', 'name': 'a'}, {'stage': 'reader', 'name': 'a'}]}",
        "test.json: stages[1]: the stage name 'a' is already used by stages[0]");
    expect_load_error("{'stages': [{'stage': 'source', 'name': 'reader'}, {'stage': 'reader'}]}",
                      "test.json: stages[1]: the stage name 'reader' is already used by stages[0]");
}

/* ---- resolving ---- */

static void test_int_param_beyond_32_bits_is_not_truncated(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *p = NULL;

    expect_resolve_error(
        third_stage("'params': {'min_words': 5000000000}"),
        "test.json: stages[2].params.min_words: 5000000000 is above the maximum 1000");
    CU_ASSERT_EQUAL_FATAL(
        resolve_text(third_stage("'params': {'min_words': 1, 'limit': 5000000000}"), registry, &p,
                     &err),
        0);
    CU_ASSERT_EQUAL(wn_params_get_int(p->stages[2].params, "limit"), 5000000000LL);
    wn_pipeline_free(p);
}

static void test_param_errors_name_the_stage_params_path(void)
{
    expect_resolve_error(third_stage("'params': {}"),
                         "test.json: stages[2].params.min_words: required parameter missing "
                         "(integer: fewest words a kept row has)");
    expect_resolve_error(
        third_stage("'params': {'min_words': '3'}"),
        "test.json: stages[2].params.min_words: expected an integer, got a string");
    expect_resolve_error(third_stage("'params': {'min_words': 0}"),
                         "test.json: stages[2].params.min_words: 0 is below the minimum 1");
    expect_resolve_error(third_stage("'params': {'min_words': 1, 'ratio': 1.5}"),
                         "test.json: stages[2].params.ratio: 1.5 is above the maximum 1");
    expect_resolve_error(
        third_stage("'params': {'min_words': 1, 'mode': 'maybe'}"),
        "test.json: stages[2].params.mode: \"maybe\" is not one of \"keep\", \"drop\"");
    expect_resolve_error(
        third_stage("'params': {'min_words': 1, 'fields': ['a', 2]}"),
        "test.json: stages[2].params.fields[1]: expected a string, got an integer");
    expect_resolve_error(third_stage("'params': {'min_words': 1, 'verbose': 'yes'}"),
                         "test.json: stages[2].params.verbose: expected a boolean, got a string");
    expect_resolve_error(third_stage("'params': {'min_words': 1, 'min_word': 2}"),
                         "test.json: stages[2].params.min_word: unknown parameter 'min_word'");
    /* A stage without a spec takes no params. */
    expect_resolve_error(
        "{'stages': [{'stage': 'source', 'params': {'paths': ['a']}}]}",
        "test.json: stages[0].params.paths: unknown parameter 'paths' (known: none)");
}

static void test_unknown_stage_is_reported_with_a_suggestion(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *p = NULL;

    expect_resolve_error(
        "{'stages': [{'stage': 'source'}, {'stage': 'reader'}, {'stage': 'wordfilter'}]}",
        "test.json: stages[2].stage: no stage named 'wordfilter' (did you mean "
        "'word_filter'?); `winnow plugins` lists the stages found");
    CU_ASSERT_EQUAL(resolve_text("{'stages': [{'stage': 'tokenizer'}]}", registry, &p, &err),
                    WN_ECONFIG);
    CU_ASSERT_STRING_EQUAL(err.message, "test.json: stages[0].stage: no stage named 'tokenizer'; "
                                        "`winnow plugins` lists the stages found");
}

static void test_first_stage_must_accept_the_empty_trigger(void)
{
    expect_resolve_error(
        "{'stages': [{'stage': 'reader'}, {'stage': 'word_filter', 'params': {'min_words': 1}}]}",
        "test.json: stages[0] ('reader'): stage 'reader' cannot start a pipeline: "
        "it accepts file groups, and a run starts with one empty trigger task; "
        "start with a source stage such as file_partitioning");
}

static void test_incompatible_adjacent_payloads_name_both_stages(void)
{
    expect_resolve_error(
        "{'stages': [{'stage': 'source', 'name': 'list'},"
        " {'stage': 'word_filter', 'params': {'min_words': 1}}]}",
        "test.json: stages[1] ('word_filter'): stage 'word_filter' accepts tables, "
        "but the stage before it, stages[0] ('list', stage 'source'), produces "
        "file groups");
    expect_resolve_error("{'stages': [{'stage': 'source'}, {'stage': 'source', 'name': 'again'}]}",
                         "stage 'source' accepts empty trigger tasks, but the stage before it, "
                         "stages[0] ('source', stage 'source'), produces file groups");
}

static void test_comms_stage_needs_a_loaded_comms_backend(void)
{
    const char *base =
        "{'stages': [{'stage': 'source'}, {'stage': 'reader'}, {'stage': 'collective'%s}]}";
    char text[512];

    snprintf(text, sizeof(text), base, "");
    expect_resolve_error(text, "test.json: stages[2]: stage 'collective' is a comms stage and "
                               "needs \"comms\": the name of a comms backend (loaded: test_comms)");
    expect_resolve_error_in(text, stages_only_registry,
                            "needs \"comms\": the name of a comms backend (loaded: none)");
    snprintf(text, sizeof(text), base, ", 'comms': 'test_comm'");
    expect_resolve_error(text, "test.json: stages[2].comms: no comms backend named 'test_comm' "
                               "(did you mean 'test_comms'?) (loaded: test_comms)");
    snprintf(text, sizeof(text), base, ", 'comms': 'nccl'");
    expect_resolve_error(text, "test.json: stages[2].comms: no comms backend named 'nccl' "
                               "(loaded: test_comms)");
    /* A comms backend's name does not stand for a shuffle backend. */
    snprintf(text, sizeof(text), base, ", 'comms': 'test_shuffle'");
    expect_resolve_error(text, "no comms backend named 'test_shuffle'");
    snprintf(text, sizeof(text), base, ", 'comms': 'test_comms', 'shuffle': 'test_shuffle'");
    expect_resolve_error(text, "test.json: stages[2].shuffle: stage 'collective' is a comms stage; "
                               "only shuffle stages take \"shuffle\"");
}

static void test_shuffle_stage_needs_a_loaded_shuffle_backend(void)
{
    const char *base =
        "{'stages': [{'stage': 'source'}, {'stage': 'reader'}, {'stage': 'exchange'%s}]}";
    char text[512];

    snprintf(text, sizeof(text), base, "");
    expect_resolve_error(text,
                         "test.json: stages[2]: stage 'exchange' is a shuffle stage and "
                         "needs \"shuffle\": the name of a shuffle backend (loaded: test_shuffle)");
    snprintf(text, sizeof(text), base, ", 'shuffle': 'test_comms'");
    expect_resolve_error(text,
                         "test.json: stages[2].shuffle: no shuffle backend named 'test_comms'");
    /* shuffle_params are the provider's: checked against its spec. */
    snprintf(text, sizeof(text), base, ", 'shuffle': 'test_shuffle', 'shuffle_params': {'x': 1}");
    expect_resolve_error(text, "test.json: stages[2].shuffle_params.x");
    expect_resolve_error(third_stage("'shuffle_params': {}"),
                         "test.json: stages[2].shuffle_params: stage 'word_filter' has no "
                         "\"shuffle\" provider, and shuffle_params go with one (remove it)");
}

static void test_plain_stage_takes_no_provider(void)
{
    expect_resolve_error(third_stage("'shuffle': 'test_shuffle'"),
                         "test.json: stages[2].shuffle: stage 'word_filter' is a plain stage; only "
                         "shuffle stages take \"shuffle\" (remove it)");
    expect_resolve_error(third_stage("'comms': 'test_comms'"),
                         "test.json: stages[2].comms: stage 'word_filter' is a plain stage; only "
                         "comms stages take \"comms\" (remove it)");
}

static void test_unknown_executor_lists_the_loaded_ones(void)
{
    expect_resolve_error("{'executor': {'backend': 'ray'}, 'stages': [{'stage': 'source'}]}",
                         "test.json: executor.backend: no executor backend named 'ray' (loaded "
                         "executors: actor_pool, serial)");
    expect_resolve_error("{'executor': {'backend': 'actor_pol'}, 'stages': [{'stage': 'source'}]}",
                         "no executor backend named 'actor_pol' (did you mean 'actor_pool'?)");
    /* The default, actor_pool, must be loaded too. */
    expect_resolve_error_in("{'stages': [{'stage': 'source'}]}", stages_only_registry,
                            "test.json: executor.backend: no executor backend named 'actor_pool', "
                            "and no executor backend is loaded; `winnow plugins` lists what was "
                            "found");
}

static void test_executor_params_are_validated_against_the_backend(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *p = NULL;

    expect_resolve_error(
        "{'executor': {'mode': 'fast'}, 'stages': [{'stage': 'source'}]}",
        "test.json: executor.mode: \"fast\" is not one of \"streaming\", \"barrier\"");
    expect_resolve_error("{'executor': {'reserved_cpus': -1}, 'stages': [{'stage': 'source'}]}",
                         "test.json: executor.reserved_cpus: -1 is below the minimum 0");
    expect_resolve_error(
        "{'executor': {'mdoe': 'barrier'}, 'stages': [{'stage': 'source'}]}",
        "test.json: executor.mdoe: unknown parameter 'mdoe' (known: mode, reserved_cpus)");
    expect_resolve_error(
        "{'executor': {'backend': 'serial', 'mode': 'barrier'}, 'stages': [{'stage': 'source'}]}",
        "test.json: executor.mode: unknown parameter 'mode' (known: none)");

    /* backend and env are not backend params. */
    CU_ASSERT_EQUAL_FATAL(resolve_text("{'executor': {'backend': 'serial', 'env': {'A': 'b'}},"
                                       " 'stages': [{'stage': 'source'}]}",
                                       registry, &p, &err),
                          0);
    CU_ASSERT_PTR_EQUAL(p->executor, &serial_backend);
    CU_ASSERT_PTR_NOT_NULL(p->executor_params);
    CU_ASSERT_FALSE(wn_params_has(p->executor_params, "backend"));
    CU_ASSERT_FALSE(wn_params_has(p->executor_params, "env"));
    CU_ASSERT_EQUAL(p->n_env, 1);
    CU_ASSERT_PTR_NULL(p->dataset);
    wn_pipeline_free(p);

    /* No executor object: actor_pool with its defaults, no env. */
    CU_ASSERT_EQUAL_FATAL(resolve_text("{'stages': [{'stage': 'source'}]}", registry, &p, &err), 0);
    CU_ASSERT_PTR_EQUAL(p->executor, &pool_backend);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p->executor_params, "mode"), "streaming");
    CU_ASSERT_EQUAL(p->n_env, 0);
    CU_ASSERT_PTR_NULL(p->env);
    wn_pipeline_free(p);
}

/* ---- --set ---- */

/* Loads the four-stage base used by the --set tests. */
static struct wn_config *load_set_base(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;

    load("{'executor': {'mode': 'streaming'}, 'stages': [{'stage': 'source'}, {'stage': 'reader'},"
         " {'stage': 'word_filter', 'params': {'min_words': 2}},"
         " {'stage': 'collective', 'comms': 'test_comms'}]}",
         &config, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(config);
    return config;
}

static void test_set_overrides_values_before_resolving(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = load_set_base();
    struct wn_pipeline *p = NULL;
    static const char *const sets[] = {
        "stages.2.batch_size=8",                /* an integer */
        "executor.mode=barrier",                /* not JSON: taken as a string */
        "stages.2.params.min_words=5",          /* nested */
        "stages.2.params.fields=[\"a\",\"b\"]", /* a JSON array */
        "stages.2.name=\"123\"",                /* a quoted JSON string */
        "stages.0.resources.cpus=3",            /* creates the missing resources object */
        "dataset=books",                        /* a new top-level key */
        "executor.env.WN_X=",                   /* an empty string */
        "stages.3.on_error=retry",
        NULL
    };

    for (size_t i = 0; sets[i] != NULL; i++) {
        int rc = wn_config_set(config, sets[i], &err);
        if (rc < 0)
            fprintf(stderr, "\n  %s\n", err.message);
        CU_ASSERT_EQUAL(rc, 0);
    }
    CU_ASSERT_EQUAL_FATAL(wn_config_resolve(config, registry, &p, &err), 0);
    CU_ASSERT_EQUAL(p->stages[2].batch_size, 8);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p->executor_params, "mode"), "barrier");
    CU_ASSERT_EQUAL(wn_params_get_int(p->stages[2].params, "min_words"), 5);
    CU_ASSERT_EQUAL_FATAL(wn_params_get_list_size(p->stages[2].params, "fields"), 2);
    CU_ASSERT_STRING_EQUAL(wn_params_get_list_item(p->stages[2].params, "fields", 1), "b");
    CU_ASSERT_STRING_EQUAL(p->stages[2].name, "123");
    CU_ASSERT_EQUAL(p->stages[0].resources.cpus, 3.0);
    CU_ASSERT_STRING_EQUAL(p->dataset, "books");
    CU_ASSERT_EQUAL_FATAL(p->n_env, 1);
    CU_ASSERT_STRING_EQUAL(p->env[0].name, "WN_X");
    CU_ASSERT_STRING_EQUAL(p->env[0].value, "");
    CU_ASSERT_EQUAL(p->stages[3].on_error, WN_ON_ERROR_RETRY);
    CU_ASSERT_EQUAL(p->stages[3].max_retries, 3);
    wn_pipeline_free(p);
    wn_config_free(config);
}

/* wn_config_set(assignment) fails with code and a message containing expected,
 * and leaves the config as it was. */
static void expect_set_error(const char *assignment, int code, const char *expected)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = load_set_base();
    struct wn_pipeline *p = NULL;

    CU_ASSERT_EQUAL(wn_config_set(config, assignment, &err), code);
    ASSERT_MESSAGE(err, expected);
    CU_ASSERT_EQUAL_FATAL(wn_config_resolve(config, registry, &p, &err), 0);
    CU_ASSERT_EQUAL(p->n_stages, 4);
    CU_ASSERT_EQUAL(p->stages[0].batch_size, 1);
    CU_ASSERT_STRING_EQUAL(p->stages[2].name, "word_filter");
    CU_ASSERT_EQUAL(wn_params_get_int(p->stages[2].params, "min_words"), 2);
    wn_pipeline_free(p);
    wn_config_free(config);
}

static void test_set_rejects_bad_paths(void)
{
    expect_set_error("stages.9.params.x=1", WN_EINVAL,
                     "--set stages.9.params.x=1: stages has 4 elements");
    expect_set_error("stages.4=1", WN_EINVAL, "--set stages.4=1: stages has 4 elements");
    expect_set_error("stages.x.name=a", WN_EINVAL,
                     "--set stages.x.name=a: stages is an array: 'x' is not an index (0 to 3)");
    expect_set_error("stages.-1.name=a", WN_EINVAL, "'-1' is not an index");
    expect_set_error("stages..name=a", WN_EINVAL,
                     "--set stages..name=a: the path has an empty segment");
    expect_set_error("stages.0.stage.x=1", WN_EINVAL,
                     "--set stages.0.stage.x=1: stages[0].stage is a string, not an object or an "
                     "array");
    expect_set_error("stages.2.params.min_words.x=1", WN_EINVAL,
                     "stages[2].params.min_words is an integer");
    expect_set_error("batch_size", WN_EINVAL, "--set batch_size: expected PATH=VALUE");
    expect_set_error("=4", WN_EINVAL, "--set =4: expected PATH=VALUE");
}

static void test_set_values_go_through_the_same_checks(void)
{
    expect_set_error("stages.0.batch_size=0", WN_ECONFIG,
                     "--set stages.0.batch_size=0: stages[0].batch_size: expected an integer "
                     "from 1 to 2147483647, got 0");
    expect_set_error("stages.1.actors=5000000000", WN_ECONFIG,
                     "--set stages.1.actors=5000000000: stages[1].actors: expected an integer "
                     "from 1 to 65536, got 5000000000");
    expect_set_error("stages.1.on_error=never", WN_ECONFIG,
                     "stages[1].on_error: expected one of \"fail\", \"retry\", \"skip\", got the "
                     "string \"never\"");
    expect_set_error("stages.1.batchsize=3", WN_ECONFIG,
                     "--set stages.1.batchsize=3: stages[1]: unknown key 'batchsize' (did you "
                     "mean 'batch_size'?)");
    expect_set_error("stagess.0=1", WN_ECONFIG,
                     "--set stagess.0=1: unknown key 'stagess' at the top level (did you mean "
                     "'stages'?)");
    expect_set_error("stages=[]", WN_ECONFIG, "--set stages=[]: stages: the list is empty");
    expect_set_error("stages.1.name=source", WN_ECONFIG,
                     "--set stages.1.name=source: stages[1]: the stage name 'source' is already "
                     "used by stages[0]");
    expect_set_error("executor.env.N=1", WN_ECONFIG,
                     "--set executor.env.N=1: executor.env.N: expected a string, got 1");
    /* A value read as JSON that should have been a string says how to quote it. */
    expect_set_error("stages.2.name=123", WN_ECONFIG,
                     "stages[2].name: expected a non-empty string, got 123 (the value was read "
                     "as JSON; quote it");
}

static void test_set_params_are_checked_when_resolving(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = load_set_base();
    struct wn_pipeline *p = NULL;

    CU_ASSERT_EQUAL(wn_config_set(config, "stages.2.params.min_words=abc", &err), 0);
    CU_ASSERT_EQUAL(wn_config_resolve(config, registry, &p, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "test.json: stages[2].params.min_words: expected an integer, got a "
                           "string (after --set stages.2.params.min_words=abc)");

    CU_ASSERT_EQUAL(wn_config_set(config, "stages.2.params.min_words=5000000000", &err), 0);
    CU_ASSERT_EQUAL(wn_config_resolve(config, registry, &p, &err), WN_ECONFIG);
    ASSERT_MESSAGE(err, "test.json: stages[2].params.min_words: 5000000000 is above the maximum "
                        "1000 (after --set stages.2.params.min_words=abc, --set "
                        "stages.2.params.min_words=5000000000)");

    CU_ASSERT_EQUAL(wn_config_set(config, "stages.2.params.min_words=7", &err), 0);
    CU_ASSERT_EQUAL(wn_config_set(config, "stages.1.stage=raeder", &err), 0);
    CU_ASSERT_EQUAL(wn_config_resolve(config, registry, &p, &err), WN_ECONFIG);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "test.json: stages[1].stage: no stage named 'raeder' (did you mean "
                           "'reader'?); `winnow plugins` lists the stages found (after --set "
                           "stages.1.stage=raeder)");

    CU_ASSERT_EQUAL(wn_config_set(config, "stages.1.stage=reader", &err), 0);
    CU_ASSERT_EQUAL(wn_config_set(config, "executor.backend=serial", &err), 0);
    CU_ASSERT_EQUAL(wn_config_resolve(config, registry, &p, &err), WN_ECONFIG);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "test.json: executor.mode: unknown parameter 'mode' (known: none) "
                           "(after --set executor.backend=serial)");

    CU_ASSERT_EQUAL(wn_config_set(config, "executor={}", &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_config_resolve(config, registry, &p, &err), 0);
    CU_ASSERT_EQUAL(wn_params_get_int(p->stages[2].params, "min_words"), 7);
    CU_ASSERT_PTR_EQUAL(p->executor, &pool_backend);
    wn_pipeline_free(p);
    wn_config_free(config);
}

static void test_resolve_calls_no_plugin_code(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_pipeline *p = NULL;

    hook_calls = 0;
    CU_ASSERT_EQUAL_FATAL(resolve_text("{'stages': [{'stage': 'source'}, {'stage': 'reader'},"
                                       " {'stage': 'word_filter', 'params': {'min_words': 1}},"
                                       " {'stage': 'collective', 'comms': 'test_comms'},"
                                       " {'stage': 'exchange', 'shuffle': 'test_shuffle'}]}",
                                       registry, &p, &err),
                          0);
    wn_pipeline_free(p);
    CU_ASSERT_EQUAL(hook_calls, 0);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "good config resolves with effective values",
          test_good_config_resolves_with_effective_values },
        { "pipeline outlives its config", test_pipeline_outlives_its_config },
        { "good file loads and resolves", test_good_file_loads_and_resolves },
        { "missing file is not found", test_missing_file_is_not_found },
        { "syntax error has file, line and column", test_syntax_error_has_file_line_and_column },
        { "duplicate key has file, line and column", test_duplicate_key_has_file_line_and_column },
        { "unknown keys are reported with a suggestion",
          test_unknown_keys_are_reported_with_a_suggestion },
        { "unknown key without close match has no suggestion",
          test_unknown_key_without_close_match_has_no_suggestion },
        { "wrong types are reported with their path",
          test_wrong_types_are_reported_with_their_path },
        { "missing or empty stages is an error", test_missing_or_empty_stages_is_an_error },
        { "out-of-range values are reported with their path",
          test_out_of_range_values_are_reported_with_their_path },
        { "duplicate stage names are an error", test_duplicate_stage_names_are_an_error },
        { "int param beyond 32 bits is not truncated",
          test_int_param_beyond_32_bits_is_not_truncated },
        { "param errors name the stage params path", test_param_errors_name_the_stage_params_path },
        { "unknown stage is reported with a suggestion",
          test_unknown_stage_is_reported_with_a_suggestion },
        { "first stage must accept the empty trigger",
          test_first_stage_must_accept_the_empty_trigger },
        { "incompatible adjacent payloads name both stages",
          test_incompatible_adjacent_payloads_name_both_stages },
        { "comms stage needs a loaded comms backend",
          test_comms_stage_needs_a_loaded_comms_backend },
        { "shuffle stage needs a loaded shuffle backend",
          test_shuffle_stage_needs_a_loaded_shuffle_backend },
        { "plain stage takes no provider", test_plain_stage_takes_no_provider },
        { "unknown executor lists the loaded ones", test_unknown_executor_lists_the_loaded_ones },
        { "executor params are validated against the backend",
          test_executor_params_are_validated_against_the_backend },
        { "--set overrides values before resolving", test_set_overrides_values_before_resolving },
        { "--set rejects bad paths", test_set_rejects_bad_paths },
        { "--set values go through the same checks", test_set_values_go_through_the_same_checks },
        { "--set params are checked when resolving", test_set_params_are_checked_when_resolving },
        { "resolve calls no plugin code", test_resolve_calls_no_plugin_code },
        { NULL, NULL }
    };

    return wn_test_run_suite("config", tests, suite_init, suite_cleanup);
}
