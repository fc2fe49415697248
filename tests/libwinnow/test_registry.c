/*
 * The plugin registry: loading every fixture plugin of tests/fixtures (good
 * and broken), directory scans, discovery order, shadowed names, and the
 * validation of in-process descriptors (wn_registry_add_static).
 */
#include "build_config.h"

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <winnow/plugin.h>

#include "cu.h"
#include "registry.h"

/* ---- helpers ------------------------------------------------------------- */

/* Checks that needle is part of text, and shows both when it is not. */
#define ASSERT_HAS(text, needle)                                                                   \
    do {                                                                                           \
        const char *text_ = (text);                                                                \
        int found_ = text_ != NULL && strstr(text_, (needle)) != NULL;                             \
        if (!found_)                                                                               \
            fprintf(stderr, "\n  expected \"%s\" in \"%s\"\n", (needle),                           \
                    text_ != NULL ? text_ : "(null)");                                             \
        CU_ASSERT(found_);                                                                         \
    } while (0)

#define ASSERT_LACKS(text, needle)                                                                 \
    do {                                                                                           \
        const char *text_ = (text);                                                                \
        CU_ASSERT_PTR_NOT_NULL(text_);                                                             \
        if (text_ != NULL && strstr(text_, (needle)) != NULL) {                                    \
            fprintf(stderr, "\n  did not expect \"%s\" in \"%s\"\n", (needle), text_);             \
            CU_FAIL("unexpected text in message");                                                 \
        }                                                                                          \
    } while (0)

/* The built fixture plugin name, as libtool leaves it in the build tree. */
static void fixture_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/tests/fixtures/.libs/%s.so", wn_test_builddir(), name);
}

/* A fresh temporary directory (removed with remove_tree). */
static void make_temp_dir(char *buf, size_t size)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(buf, size, "%s/wn-registry-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(buf) == NULL) {
        perror("mkdtemp");
        CU_FAIL_FATAL("cannot create a temporary directory");
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    CU_ASSERT_EQUAL(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* dir/name -> the fixture plugin called fixture. */
static void link_fixture(const char *dir, const char *name, const char *fixture)
{
    char target[PATH_MAX], link_path[PATH_MAX];

    fixture_path(target, sizeof(target), fixture);
    snprintf(link_path, sizeof(link_path), "%s/%s", dir, name);
    CU_ASSERT_EQUAL_FATAL(symlink(target, link_path), 0);
}

/* Writes a text file long enough that dlopen reads an ELF header's worth of it. */
static void write_text_file(const char *path)
{
    FILE *f = fopen(path, "w");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("This is a text file named like a plugin.  It is not an ELF shared object,\n"
          "and the registry must say so instead of crashing or saying 'file not found'.\n",
          f);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

/* A registry that searches only path (no WINNOW_PLUGIN_PATH, no installed plugins). */
static struct wn_registry *load_only(const char *path)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();

    CU_ASSERT_PTR_NOT_NULL_FATAL(registry);
    wn_registry_set_default_paths(registry, 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, path), 0);
    CU_ASSERT_EQUAL(wn_registry_load(registry, &err), 0);
    if (err.code != 0)
        fprintf(stderr, "\n  wn_registry_load: %s\n", err.message);
    return registry;
}

/*
 * Loads the fixture alone and checks that it was refused: no plugin, one
 * failure naming its path, with code and every one of the NULL-terminated
 * key phrases in the message.
 */
static void check_fixture_rejected(const char *fixture, int code, ...)
{
    char path[PATH_MAX];
    struct wn_registry *registry;
    const struct wn_registry_failure *failure;
    const char *needle;
    va_list ap;

    fixture_path(path, sizeof(path), fixture);
    registry = load_only(path);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 0);
    CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 1);
    failure = wn_registry_failure_at(registry, 0);
    CU_ASSERT_STRING_EQUAL(failure->path, path);
    CU_ASSERT_EQUAL(failure->code, code);
    CU_ASSERT_PTR_NULL(failure->shadowed_by);
    ASSERT_HAS(failure->message, path);
    va_start(ap, code);
    while ((needle = va_arg(ap, const char *)) != NULL)
        ASSERT_HAS(failure->message, needle);
    va_end(ap);
    CU_ASSERT_PTR_NULL(wn_registry_failure_at(registry, 1));
    wn_registry_free(registry);
}

/* An emitter that counts and frees what it is given. */
struct counting_emitter {
    struct wn_emitter base;
    int count;
};

static int counting_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct counting_emitter *e = (struct counting_emitter *)self;

    e->count++;
    wn_task_free(task);
    return 0;
}

/* ---- loading fixture files -------------------------------------------------- */

static void test_good_plugin_loads_and_its_stage_runs(void)
{
    char path[PATH_MAX];
    struct wn_error err = WN_ERROR_INIT;
    struct counting_emitter out = { { counting_emit, { NULL, NULL } }, 0 };
    struct wn_registry *registry;
    const struct wn_registry_plugin *plugin;
    const struct wn_stage_desc *stage;
    struct wn_task *batch[2];

    fixture_path(path, sizeof(path), "good");
    registry = load_only(path);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    CU_ASSERT_EQUAL_FATAL(wn_registry_plugin_count(registry), 1);
    plugin = wn_registry_plugin_at(registry, 0);
    CU_ASSERT_STRING_EQUAL(plugin->path, path);
    CU_ASSERT_STRING_EQUAL(plugin->plugin->name, "good");
    CU_ASSERT_PTR_NULL(wn_registry_plugin_at(registry, 1));

    stage = wn_registry_find_stage(registry, "fixture_good");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stage);
    CU_ASSERT_PTR_EQUAL(wn_registry_stage_owner(registry, "fixture_good"), plugin);
    CU_ASSERT_PTR_NULL(wn_registry_find_stage(registry, "fixture_missing"));
    CU_ASSERT_PTR_NULL(wn_registry_find_backend(registry, WN_BACKEND_EXECUTOR, "fixture_good"));

    /* Fully bound: the plugin's own code can be called. */
    batch[0] = wn_task_new("t0", NULL);
    batch[1] = wn_task_new("t1", NULL);
    CU_ASSERT_EQUAL(stage->ops->process_batch(NULL, batch, 2, &out.base, &err), 0);
    CU_ASSERT_EQUAL(out.count, 2);
    CU_ASSERT_PTR_NULL(batch[0]);
    CU_ASSERT_PTR_NULL(batch[1]);
    wn_registry_free(registry);
}

static void test_create_fails_plugin_loads(void)
{
    char path[PATH_MAX];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry;
    const struct wn_stage_desc *stage;
    void *state = &err;

    fixture_path(path, sizeof(path), "create_fails");
    registry = load_only(path);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 1);
    stage = wn_registry_find_stage(registry, "fixture_create_fails");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stage);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stage->ops->create);
    CU_ASSERT_EQUAL(stage->ops->create(NULL, &state, &err), WN_EPLUGIN);
    CU_ASSERT_PTR_NULL(state);
    ASSERT_HAS(err.message, "create failed on purpose");
    wn_registry_free(registry);
}

static void test_plugin_without_entry_symbol_is_refused(void)
{
    check_fixture_rejected("no_entry", WN_EPLUGIN,
                           ": no entry symbol winnow_plugin_v1: not a winnow plugin", NULL);
}

static void test_plugin_of_a_later_abi_major_entry_says_so(void)
{
    check_fixture_rejected("entry_v2", WN_EABI, "no entry symbol winnow_plugin_v1",
                           "built for winnow ABI major 2, this winnow loads ABI 1", NULL);
}

static void test_descriptor_of_abi_major_2_is_refused(void)
{
    check_fixture_rejected("abi_major", WN_EABI, "plugin: ABI 2.0, expected 1.x",
                           "rebuild it against winnow-1", NULL);
}

static void test_descriptor_of_newer_abi_minor_asks_to_upgrade_winnow(void)
{
    char expected[128];

    snprintf(expected, sizeof(expected),
             "plugin 'abi_minor_newer': built against ABI 1.%d, this winnow provides 1.%d: "
             "upgrade winnow",
             WN_ABI_MINOR + 1, WN_ABI_MINOR);
    check_fixture_rejected("abi_minor_newer", WN_EABI, expected, NULL);
}

static void test_descriptor_smaller_than_v1_is_refused(void)
{
    char expected[160];

    snprintf(expected, sizeof(expected),
             "stage 'fixture_small': struct_size %zu, expected at least %zu "
             "(struct wn_stage_desc of ABI 1.0)",
             offsetof(struct wn_stage_desc, ops), sizeof(struct wn_stage_desc));
    check_fixture_rejected("struct_size_small", WN_EABI, expected, NULL);
}

static void test_stage_without_process_batch_is_refused(void)
{
    check_fixture_rejected("missing_field", WN_EPLUGIN,
                           "stage 'fixture_missing_field': process_batch is NULL, expected a "
                           "function",
                           NULL);
}

static void test_stage_without_name_is_refused(void)
{
    check_fixture_rejected("missing_name", WN_EPLUGIN,
                           "stages[0]: name is NULL, expected a name matching [a-z0-9_]+", NULL);
}

static void test_undefined_symbol_is_refused_with_dlerror_words(void)
{
    char path[PATH_MAX];
    struct wn_registry *registry;

    check_fixture_rejected("undefined_symbol", WN_EPLUGIN, "undefined symbol",
                           "wn_fixture_defined_nowhere", NULL);
    fixture_path(path, sizeof(path), "undefined_symbol");
    registry = load_only(path);
    ASSERT_LACKS(wn_registry_failure_at(registry, 0)->message, "file not found");
    CU_ASSERT_PTR_NULL(wn_registry_find_stage(registry, "fixture_undefined_symbol"));
    wn_registry_free(registry);
}

static void test_text_file_named_so_is_not_an_elf_object(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    const struct wn_registry_failure *failure;
    struct wn_registry *registry;

    make_temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/not_a_plugin.so", dir);
    write_text_file(path);
    registry = load_only(path);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 0);
    CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 1);
    failure = wn_registry_failure_at(registry, 0);
    CU_ASSERT_STRING_EQUAL(failure->path, path);
    ASSERT_HAS(failure->message, "not an ELF shared object");
    ASSERT_HAS(failure->message, path);
    ASSERT_HAS(failure->message, "invalid ELF header");
    wn_registry_free(registry);
    remove_tree(dir);
}

/* ---- directories and discovery order --------------------------------------- */

static void test_directory_scan_loads_good_and_records_bad(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 64], sub[PATH_MAX + 32];
    static const char *const loaded[] = { "create_fails", "dup_a", "dup_b", "good" };
    static const char *const failed[] = { "abi_major", "dup_b", "no_entry", "not_a_plugin",
                                          "undefined_symbol" };
    struct wn_registry *registry;

    make_temp_dir(dir, sizeof(dir));
    link_fixture(dir, "abi_major.so", "abi_major");
    link_fixture(dir, "create_fails.so", "create_fails");
    link_fixture(dir, "dup_b.so", "dup_b");
    link_fixture(dir, "dup_a.so", "dup_a");
    link_fixture(dir, "good.so", "good");
    link_fixture(dir, "no_entry.so", "no_entry");
    link_fixture(dir, "undefined_symbol.so", "undefined_symbol");
    link_fixture(dir, "zz_good_again.so", "good");              /* same file: loads once */
    link_fixture(dir, ".hidden.so", "missing_field");           /* dot file: not scanned */
    link_fixture(dir, "missing_field.so.txt", "missing_field"); /* not *.so */
    snprintf(path, sizeof(path), "%s/not_a_plugin.so", dir);
    write_text_file(path);
    snprintf(sub, sizeof(sub), "%s/subdir.so", dir); /* a directory: not loaded, not entered */
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0700), 0);
    link_fixture(sub, "missing_name.so", "missing_name");

    registry = load_only(dir);
    CU_ASSERT_EQUAL_FATAL(wn_registry_plugin_count(registry), 4);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s.so", dir, loaded[i]);
        CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, i)->path, path);
    }
    CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 5);
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s.so", dir, failed[i]);
        CU_ASSERT_STRING_EQUAL(wn_registry_failure_at(registry, i)->path, path);
    }
    ASSERT_HAS(wn_registry_failure_at(registry, 0)->message, "ABI 2.0, expected 1.x");
    ASSERT_HAS(wn_registry_failure_at(registry, 1)->message, "stage 'dup_stage' is shadowed by");
    ASSERT_HAS(wn_registry_failure_at(registry, 2)->message, "no entry symbol winnow_plugin_v1");
    ASSERT_HAS(wn_registry_failure_at(registry, 3)->message, "not an ELF shared object");
    ASSERT_HAS(wn_registry_failure_at(registry, 4)->message, "undefined symbol");
    CU_ASSERT_PTR_NOT_NULL(wn_registry_find_stage(registry, "fixture_good"));
    CU_ASSERT_PTR_NOT_NULL(wn_registry_find_stage(registry, "fixture_create_fails"));
    CU_ASSERT_PTR_NULL(wn_registry_find_stage(registry, "fixture_missing_field"));
    CU_ASSERT_PTR_NULL(wn_registry_find_stage(registry, "fixture_abi_major"));
    wn_registry_free(registry);
    remove_tree(dir);
}

static void test_shadowed_duplicate_is_reported_and_first_wins(void)
{
    char first[PATH_MAX], second[PATH_MAX], expected[3 * PATH_MAX];
    struct wn_error err = WN_ERROR_INIT;
    const struct wn_registry_failure *failure;
    const struct wn_stage_desc *stage;
    struct wn_registry *registry;

    for (int round = 0; round < 2; round++) {
        fixture_path(first, sizeof(first), round == 0 ? "dup_a" : "dup_b");
        fixture_path(second, sizeof(second), round == 0 ? "dup_b" : "dup_a");
        registry = wn_registry_new();
        wn_registry_set_default_paths(registry, 0);
        CU_ASSERT_EQUAL(wn_registry_add_path(registry, first), 0);
        CU_ASSERT_EQUAL(wn_registry_add_path(registry, second), 0);
        CU_ASSERT_EQUAL(wn_registry_load(registry, &err), 0);

        /* The later plugin still loads; only its duplicate name is refused. */
        CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 2);
        CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 1);
        failure = wn_registry_failure_at(registry, 0);
        CU_ASSERT_STRING_EQUAL(failure->path, second);
        CU_ASSERT_PTR_NOT_NULL_FATAL(failure->shadowed_by);
        CU_ASSERT_STRING_EQUAL(failure->shadowed_by, first);
        snprintf(expected, sizeof(expected), "%s: stage 'dup_stage' is shadowed by %s", second,
                 first);
        ASSERT_HAS(failure->message, expected);

        stage = wn_registry_find_stage(registry, "dup_stage");
        CU_ASSERT_PTR_NOT_NULL_FATAL(stage);
        CU_ASSERT_STRING_EQUAL(stage->summary,
                               round == 0 ? "dup_stage from dup_a" : "dup_stage from dup_b");
        CU_ASSERT_STRING_EQUAL(wn_registry_stage_owner(registry, "dup_stage")->path, first);
        wn_registry_free(registry);
    }
}

static void test_missing_explicit_path_is_an_error(void)
{
    char dir[PATH_MAX], missing[PATH_MAX + 32], good[PATH_MAX];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry;

    make_temp_dir(dir, sizeof(dir));
    snprintf(missing, sizeof(missing), "%s/no_such_plugin.so", dir);
    fixture_path(good, sizeof(good), "good");
    registry = wn_registry_new();
    wn_registry_set_default_paths(registry, 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, good), 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, missing), 0);
    CU_ASSERT_EQUAL(wn_registry_load(registry, &err), WN_ENOTFOUND);
    CU_ASSERT_EQUAL(err.code, WN_ENOTFOUND);
    ASSERT_HAS(err.message, missing);
    ASSERT_HAS(err.message, "No such file or directory");
    /* Nothing is loaded when a given path is wrong. */
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 0);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    wn_registry_free(registry);
    remove_tree(dir);
}

static void test_same_file_reached_twice_loads_once(void)
{
    char dir[PATH_MAX], link_path[PATH_MAX + 32], good[PATH_MAX];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry;

    make_temp_dir(dir, sizeof(dir));
    link_fixture(dir, "good.so", "good");
    snprintf(link_path, sizeof(link_path), "%s/good.so", dir);
    fixture_path(good, sizeof(good), "good");
    registry = wn_registry_new();
    wn_registry_set_default_paths(registry, 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, good), 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, link_path), 0);
    CU_ASSERT_EQUAL(wn_registry_add_path(registry, dir), 0);
    CU_ASSERT_EQUAL(wn_registry_load(registry, &err), 0);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 1);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, 0)->path, good);
    /* A registry loads once. */
    CU_ASSERT_EQUAL(wn_registry_load(registry, &err), WN_EINVAL);
    wn_registry_free(registry);
    remove_tree(dir);
}

/* Loads with the default paths on and WINNOW_PLUGIN_PATH set to env_path,
 * after the explicit path (NULL: none); returns the registry. */
static struct wn_registry *load_with_env(const char *explicit_path, const char *env_path,
                                         int default_paths)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();

    CU_ASSERT_EQUAL(setenv("WINNOW_PLUGIN_PATH", env_path, 1), 0);
    CU_ASSERT_EQUAL(setenv("WINNOW_NO_DEFAULT_PLUGIN_DIR", "1", 1), 0);
    wn_registry_set_default_paths(registry, default_paths);
    if (explicit_path != NULL)
        CU_ASSERT_EQUAL(wn_registry_add_path(registry, explicit_path), 0);
    CU_ASSERT_EQUAL(wn_registry_load(registry, &err), 0);
    if (err.code != 0)
        fprintf(stderr, "\n  wn_registry_load: %s\n", err.message);
    return registry;
}

static void test_plugin_path_environment_order_is_honoured(void)
{
    char dir[PATH_MAX], dir_a[PATH_MAX + 8], dir_b[PATH_MAX + 8], env[4 * PATH_MAX];
    char dup_a[2 * PATH_MAX], dup_b[2 * PATH_MAX];
    char *saved = getenv("WINNOW_PLUGIN_PATH") ? strdup(getenv("WINNOW_PLUGIN_PATH")) : NULL;
    struct wn_registry *registry;

    make_temp_dir(dir, sizeof(dir));
    snprintf(dir_a, sizeof(dir_a), "%s/a", dir);
    snprintf(dir_b, sizeof(dir_b), "%s/b", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir_a, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir_b, 0700), 0);
    link_fixture(dir_a, "dup_b.so", "dup_b");
    link_fixture(dir_b, "dup_a.so", "dup_a");
    snprintf(dup_b, sizeof(dup_b), "%s/dup_b.so", dir_a);
    snprintf(dup_a, sizeof(dup_a), "%s/dup_a.so", dir_b);

    /* a before b: dup_b provides dup_stage; missing and empty entries are ignored. */
    snprintf(env, sizeof(env), "%s/missing::%s:%s:", dir, dir_a, dir_b);
    registry = load_with_env(NULL, env, 1);
    CU_ASSERT_EQUAL_FATAL(wn_registry_plugin_count(registry), 2);
    CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, 0)->path, dup_b);
    CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, 1)->path, dup_a);
    CU_ASSERT_STRING_EQUAL(wn_registry_stage_owner(registry, "dup_stage")->path, dup_b);
    CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 1);
    CU_ASSERT_STRING_EQUAL(wn_registry_failure_at(registry, 0)->path, dup_a);
    wn_registry_free(registry);

    /* b before a: dup_a provides it. */
    snprintf(env, sizeof(env), "%s:%s", dir_b, dir_a);
    registry = load_with_env(NULL, env, 1);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 2);
    CU_ASSERT_STRING_EQUAL(wn_registry_stage_owner(registry, "dup_stage")->path, dup_a);
    wn_registry_free(registry);

    /* An explicit path comes before the environment. */
    registry = load_with_env(dup_b, dir_b, 1);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 2);
    CU_ASSERT_STRING_EQUAL(wn_registry_stage_owner(registry, "dup_stage")->path, dup_b);
    wn_registry_free(registry);

    /* Default paths off: the environment is not searched at all. */
    registry = load_with_env(dup_b, dir_b, 0);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 1);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, 0)->path, dup_b);
    wn_registry_free(registry);

    if (saved != NULL)
        setenv("WINNOW_PLUGIN_PATH", saved, 1);
    else
        unsetenv("WINNOW_PLUGIN_PATH");
    free(saved);
    remove_tree(dir);
}

/* ---- in-process descriptors (wn_registry_add_static) ----------------------- */

static int static_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                          struct wn_error *err)
{
    (void)state;
    (void)in;
    (void)n_in;
    (void)out;
    (void)err;
    return 0;
}

static int static_run(const struct wn_run *run, struct wn_error *err)
{
    (void)run;
    (void)err;
    return 0;
}

static const struct wn_stage_ops static_stage_ops = { .version = WN_STAGE_OPS_VERSION,
                                                      .process_batch = static_process };
static const struct wn_executor_ops static_executor_ops = { .version = WN_EXECUTOR_OPS_VERSION,
                                                            .run = static_run };

/* A valid plugin with one stage and one executor, each test breaks one thing. */
struct static_plugin {
    struct wn_param_spec params[3];
    struct wn_stage_ops ops;
    struct wn_executor_ops executor_ops;
    struct wn_stage_desc stage, stage2;
    const struct wn_stage_desc *stages[3];
    struct wn_backend_desc backend;
    const struct wn_backend_desc *backends[2];
    struct wn_plugin plugin;
};

static void static_plugin_init(struct static_plugin *p)
{
    memset(p, 0, sizeof(*p));
    p->params[0] = (struct wn_param_spec){
        .name = "n", .type = WN_PARAM_INT, .flags = WN_PARAM_HAS_MIN, .default_json = "3", .min = 1
    };
    p->ops = static_stage_ops;
    p->executor_ops = static_executor_ops;
    p->stage = (struct wn_stage_desc){ WN_STAGE_HEADER,
                                       .name = "static_stage",
                                       .params = p->params,
                                       .kind = WN_STAGE_PLAIN,
                                       .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                       .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                       .ops = &p->ops };
    p->stage2 = p->stage;
    p->stage2.name = "static_stage_two";
    p->stages[0] = &p->stage;
    p->backend = (struct wn_backend_desc){ WN_BACKEND_HEADER, .name = "static_exec",
                                           .kind = WN_BACKEND_EXECUTOR, .ops = &p->executor_ops };
    p->backends[0] = &p->backend;
    p->plugin = (struct wn_plugin){ WN_PLUGIN_HEADER, .name = "static_plugin", .version = "1.0",
                                    .stages = p->stages, .backends = p->backends };
}

/*
 * Adds p with origin "test:static" and checks that it is refused with code and
 * every NULL-terminated key phrase, and that nothing was registered.
 */
static void check_static_rejected(const struct static_plugin *p, int code, ...)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();
    struct wn_error direct = WN_ERROR_INIT;
    const char *needle;
    va_list ap;

    CU_ASSERT_EQUAL(wn_registry_add_static(registry, &p->plugin, "test:static", &err), code);
    CU_ASSERT_EQUAL(err.code, code);
    ASSERT_HAS(err.message, "test:static: ");
    va_start(ap, code);
    while ((needle = va_arg(ap, const char *)) != NULL)
        ASSERT_HAS(err.message, needle);
    va_end(ap);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 0);
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    CU_ASSERT_PTR_NULL(wn_registry_find_stage(registry, "static_stage"));
    /* The same verdict without a registry. */
    CU_ASSERT_EQUAL(wn_registry_validate_plugin(&p->plugin, "test:static", &direct), code);
    CU_ASSERT_STRING_EQUAL(direct.message, err.message);
    wn_registry_free(registry);
}

static void test_static_valid_plugin_is_registered(void)
{
    struct static_plugin p;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();

    static_plugin_init(&p);
    CU_ASSERT_EQUAL(wn_registry_add_static(registry, &p.plugin, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_registry_plugin_count(registry), 1);
    CU_ASSERT_STRING_EQUAL(wn_registry_plugin_at(registry, 0)->path, "<builtin:static_plugin>");
    CU_ASSERT_PTR_EQUAL(wn_registry_plugin_at(registry, 0)->plugin, &p.plugin);
    CU_ASSERT_PTR_EQUAL(wn_registry_find_stage(registry, "static_stage"), &p.stage);
    CU_ASSERT_PTR_EQUAL(wn_registry_find_backend(registry, WN_BACKEND_EXECUTOR, "static_exec"),
                        &p.backend);
    CU_ASSERT_PTR_NULL(wn_registry_find_backend(registry, WN_BACKEND_COMMS, "static_exec"));
    CU_ASSERT_EQUAL(wn_registry_failure_count(registry), 0);
    wn_registry_free(registry);
}

static void test_static_wrong_abi_is_refused(void)
{
    struct static_plugin p;
    char expected[128];

    static_plugin_init(&p);
    p.plugin.abi_major = 2;
    check_static_rejected(&p, WN_EABI, "plugin: ABI 2.0, expected 1.x", NULL);

    static_plugin_init(&p);
    p.plugin.abi_minor = WN_ABI_MINOR + 1;
    snprintf(expected, sizeof(expected), "built against ABI 1.%d, this winnow provides 1.%d",
             WN_ABI_MINOR + 1, WN_ABI_MINOR);
    check_static_rejected(&p, WN_EABI, "plugin 'static_plugin': ", expected, "upgrade winnow",
                          NULL);

    static_plugin_init(&p);
    p.stage.abi_major = 0;
    check_static_rejected(&p, WN_EABI, "stages[0]: ABI 0.0, expected 1.x", NULL);

    static_plugin_init(&p);
    p.backend.abi_minor = WN_ABI_MINOR + 1;
    check_static_rejected(&p, WN_EABI, "backend 'static_exec': built against ABI", NULL);
}

static void test_static_struct_size_below_v1_is_refused(void)
{
    struct static_plugin p;
    char expected[128];

    /* Too small to hold even the name: the message cannot name the plugin. */
    static_plugin_init(&p);
    p.plugin.struct_size = 12;
    snprintf(expected, sizeof(expected), "plugin: struct_size 12, expected at least %zu",
             sizeof(struct wn_plugin));
    check_static_rejected(&p, WN_EABI, expected, NULL);

    static_plugin_init(&p);
    p.plugin.struct_size = (uint32_t)offsetof(struct wn_plugin, stages);
    check_static_rejected(&p, WN_EABI, "plugin 'static_plugin': struct_size", NULL);

    static_plugin_init(&p);
    p.backend.struct_size = (uint32_t)sizeof(struct wn_backend_desc) - 1;
    check_static_rejected(&p, WN_EABI, "backend 'static_exec': struct_size", NULL);
}

static void test_static_bad_names_are_refused(void)
{
    struct static_plugin p;

    static_plugin_init(&p);
    p.plugin.name = "bad-name";
    check_static_rejected(&p, WN_EPLUGIN, "name 'bad-name' has '-' at offset 3",
                          "expected only [a-z0-9_]", NULL);

    static_plugin_init(&p);
    p.stage.name = "Static";
    check_static_rejected(&p, WN_EPLUGIN, "stages[0]: name 'Static' has 'S' at offset 0", NULL);

    static_plugin_init(&p);
    p.stage.name = "";
    check_static_rejected(&p, WN_EPLUGIN, "stages[0]: name is empty", NULL);

    static_plugin_init(&p);
    p.backend.name = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "backends[0]: name is NULL", NULL);

    static_plugin_init(&p);
    p.plugin.version = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "plugin 'static_plugin': version is NULL", NULL);
}

static void test_static_missing_hooks_are_refused(void)
{
    struct static_plugin p;

    static_plugin_init(&p);
    p.ops.process_batch = NULL;
    check_static_rejected(&p, WN_EPLUGIN,
                          "test:static: stage 'static_stage': process_batch is NULL", NULL);

    static_plugin_init(&p);
    p.stage.ops = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "stage 'static_stage': ops is NULL", NULL);

    static_plugin_init(&p);
    p.ops.version = 0;
    check_static_rejected(&p, WN_EPLUGIN,
                          "stage 'static_stage': ops version 0, expected at least 1", NULL);

    static_plugin_init(&p);
    p.backend.ops = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "backend 'static_exec': ops is NULL", NULL);

    static_plugin_init(&p);
    p.executor_ops.run = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "backend 'static_exec': executor run is NULL", NULL);

    static_plugin_init(&p);
    p.plugin.stages = NULL;
    p.plugin.backends = NULL;
    check_static_rejected(&p, WN_EPLUGIN, "declares no stages and no backends", NULL);
}

static void test_static_bad_kinds_and_payloads_are_refused(void)
{
    struct static_plugin p;

    static_plugin_init(&p);
    p.stage.kind = (enum wn_stage_kind)7;
    check_static_rejected(&p, WN_EPLUGIN, "stage 'static_stage': kind 7, expected 0 (PLAIN)", NULL);

    static_plugin_init(&p);
    p.stage.kind = WN_STAGE_SHUFFLE;
    check_static_rejected(&p, WN_EPLUGIN, "kind SHUFFLE but shuffle is NULL", NULL);

    static_plugin_init(&p);
    p.stage.input_payloads = 0;
    check_static_rejected(&p, WN_EPLUGIN, "stage 'static_stage': input_payloads is 0x0", NULL);

    static_plugin_init(&p);
    p.stage.output_payloads = 0x10;
    check_static_rejected(&p, WN_EPLUGIN,
                          "output_payloads is 0x10, expected a nonzero set "
                          "within 0xf",
                          NULL);

    static_plugin_init(&p);
    p.stage.resources.cpus = -1;
    check_static_rejected(&p, WN_EPLUGIN, "resources.cpus is -1", NULL);

    static_plugin_init(&p);
    p.backend.kind = (enum wn_backend_kind)9;
    check_static_rejected(&p, WN_EPLUGIN, "backend 'static_exec': kind 9, expected 1 (EXECUTOR)",
                          NULL);
}

static void test_static_bad_param_spec_is_refused(void)
{
    struct static_plugin p;

    static_plugin_init(&p);
    p.params[0].default_json = "0";
    check_static_rejected(&p, WN_EPLUGIN,
                          "stage 'static_stage': default of parameter 'n': 0 is below the "
                          "minimum 1",
                          NULL);

    static_plugin_init(&p);
    p.params[0].default_json = "\"three\"";
    check_static_rejected(&p, WN_EPLUGIN, "default of parameter 'n': expected an integer", NULL);

    static_plugin_init(&p);
    p.params[1] = p.params[0];
    check_static_rejected(&p, WN_EPLUGIN, "parameter 'n' is declared twice", NULL);
}

static void test_static_name_repeated_inside_one_plugin_is_refused(void)
{
    struct static_plugin p;

    static_plugin_init(&p);
    p.stages[1] = &p.stage2;
    p.stage2.name = "static_stage";
    check_static_rejected(&p, WN_EPLUGIN,
                          "stage 'static_stage' is declared twice (stages[0] and stages[1])", NULL);
}

static void test_static_duplicate_across_plugins_is_shadowed(void)
{
    struct static_plugin first, second;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();
    const struct wn_registry_failure *failure;

    static_plugin_init(&first);
    static_plugin_init(&second);
    second.plugin.name = "second_plugin";
    second.stages[1] = &second.stage2; /* a new name: answerable */
    CU_ASSERT_EQUAL(wn_registry_add_static(registry, &first.plugin, "<builtin:first>", &err), 0);
    CU_ASSERT_EQUAL(wn_registry_add_static(registry, &second.plugin, "<builtin:second>", &err), 0);
    CU_ASSERT_EQUAL(wn_registry_plugin_count(registry), 2);
    CU_ASSERT_EQUAL_FATAL(wn_registry_failure_count(registry), 2);
    failure = wn_registry_failure_at(registry, 0);
    CU_ASSERT_STRING_EQUAL(failure->path, "<builtin:second>");
    CU_ASSERT_STRING_EQUAL(failure->shadowed_by, "<builtin:first>");
    ASSERT_HAS(failure->message, "stage 'static_stage' is shadowed by <builtin:first>");
    failure = wn_registry_failure_at(registry, 1);
    ASSERT_HAS(failure->message, "executor backend 'static_exec' is shadowed by <builtin:first>");
    CU_ASSERT_PTR_EQUAL(wn_registry_find_stage(registry, "static_stage"), &first.stage);
    CU_ASSERT_PTR_EQUAL(wn_registry_find_stage(registry, "static_stage_two"), &second.stage2);
    CU_ASSERT_PTR_EQUAL(wn_registry_find_backend(registry, WN_BACKEND_EXECUTOR, "static_exec"),
                        &first.backend);
    CU_ASSERT_STRING_EQUAL(wn_registry_stage_owner(registry, "static_stage_two")->path,
                           "<builtin:second>");
    wn_registry_free(registry);
    wn_registry_free(NULL);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "good plugin loads and its stage runs", test_good_plugin_loads_and_its_stage_runs },
        { "create_fails plugin loads", test_create_fails_plugin_loads },
        { "plugin without entry symbol is refused", test_plugin_without_entry_symbol_is_refused },
        { "plugin of a later ABI major entry says so",
          test_plugin_of_a_later_abi_major_entry_says_so },
        { "descriptor of ABI major 2 is refused", test_descriptor_of_abi_major_2_is_refused },
        { "descriptor of newer ABI minor asks to upgrade winnow",
          test_descriptor_of_newer_abi_minor_asks_to_upgrade_winnow },
        { "descriptor smaller than v1 is refused", test_descriptor_smaller_than_v1_is_refused },
        { "stage without process_batch is refused", test_stage_without_process_batch_is_refused },
        { "stage without name is refused", test_stage_without_name_is_refused },
        { "undefined symbol is refused with dlerror's words",
          test_undefined_symbol_is_refused_with_dlerror_words },
        { "text file named .so is not an ELF object",
          test_text_file_named_so_is_not_an_elf_object },
        { "directory scan loads good and records bad",
          test_directory_scan_loads_good_and_records_bad },
        { "shadowed duplicate is reported and first wins",
          test_shadowed_duplicate_is_reported_and_first_wins },
        { "missing explicit path is an error", test_missing_explicit_path_is_an_error },
        { "same file reached twice loads once", test_same_file_reached_twice_loads_once },
        { "WINNOW_PLUGIN_PATH order is honoured", test_plugin_path_environment_order_is_honoured },
        { "static valid plugin is registered", test_static_valid_plugin_is_registered },
        { "static wrong ABI is refused", test_static_wrong_abi_is_refused },
        { "static struct_size below v1 is refused", test_static_struct_size_below_v1_is_refused },
        { "static bad names are refused", test_static_bad_names_are_refused },
        { "static missing hooks are refused", test_static_missing_hooks_are_refused },
        { "static bad kinds and payloads are refused",
          test_static_bad_kinds_and_payloads_are_refused },
        { "static bad param spec is refused", test_static_bad_param_spec_is_refused },
        { "static name repeated inside one plugin is refused",
          test_static_name_repeated_inside_one_plugin_is_refused },
        { "static duplicate across plugins is shadowed",
          test_static_duplicate_across_plugins_is_shadowed },
        { NULL, NULL },
    };

    return wn_test_run_suite("registry", tests, NULL, NULL);
}
