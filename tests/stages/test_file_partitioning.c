/* Tests of the file_partitioning stage (plugins/stages/io/file_partitioning.c). */
#include "build_config.h"

#include <stdarg.h>

#include "file_partitioning.h"
#include "stage_harness.h"

static char *root; /* the temporary tree, see setup_tree() */

/*
 * root/a.jsonl (10 bytes)       root/b.jsonl (20)      root/c.jsonl.zst (30)
 * root/d.txt (5)                root/.hidden.jsonl     root/sub/e.jsonl (40)
 * root/sub/deeper/f.jsonl (50)  root/sub/g.json (7)    root/.dot/h.jsonl
 */
static int setup_tree(void)
{
    static const struct {
        const char *name;
        size_t size;
    } files[] = {
        { "a.jsonl", 10 },
        { "b.jsonl", 20 },
        { "c.jsonl.zst", 30 },
        { "d.txt", 5 },
        { ".hidden.jsonl", 3 },
        { "sub/e.jsonl", 40 },
        { "sub/deeper/f.jsonl", 50 },
        { "sub/g.json", 7 },
        { ".dot/h.jsonl", 3 },
    };
    char bytes[64];

    memset(bytes, 'x', sizeof(bytes));
    root = harness_mkdtemp();
    if (root == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (harness_write(root, files[i].name, bytes, files[i].size) < 0)
            return -1;
    return 0;
}

static int remove_tree(void)
{
    harness_remove_tree(root);
    free(root);
    return 0;
}

/* Params JSON with every %R replaced by the tree's root. */
static char *params_for(const char *fmt)
{
    size_t root_len = strlen(root), n = 0;
    char *out = malloc(strlen(fmt) * (root_len + 1) + 1);

    for (const char *p = fmt; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'R') {
            memcpy(out + n, root, root_len);
            n += root_len;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return out;
}

/*
 * Runs the stage on one trigger task "root" and describes what it emitted as
 * "a.jsonl,b.jsonl|c.jsonl.zst" (groups split by '|', paths relative to the
 * tree).  Returns the stage's code; *groups is malloc'd ("" when nothing).
 */
static int run_groups(const char *params_fmt, char **groups, struct wn_error *err)
{
    struct harness_sink sink;
    struct wn_task *in[1] = { wn_task_new("root", "ds") };
    char *params = params_for(params_fmt);
    size_t root_len = strlen(root), used = 0, capacity = 4096;
    char *text = calloc(1, capacity);
    int rc;

    harness_sink_init(&sink);
    rc = harness_run("file_partitioning", params, in, 1, &sink, err);
    for (size_t t = 0; t < sink.count; t++) {
        struct wn_task *task = sink.tasks[t];
        char expected_id[32];

        snprintf(expected_id, sizeof(expected_id), "root_%zu", t);
        CU_ASSERT_STRING_EQUAL(wn_task_id(task), expected_id);
        CU_ASSERT_STRING_EQUAL(wn_task_dataset(task), "ds");
        CU_ASSERT_EQUAL(wn_task_payload_kind(task), WN_PAYLOAD_FILES);
        for (size_t f = 0; f < wn_task_file_count(task); f++) {
            const char *path = wn_task_file(task, f);

            if (strncmp(path, root, root_len) == 0 && path[root_len] == '/')
                path += root_len + 1;
            used += (size_t)snprintf(text + used, capacity - used, "%s%s",
                                     f > 0 ? "," : (t > 0 ? "|" : ""), path);
        }
    }
    harness_sink_clear(&sink);
    free(params);
    *groups = text;
    return rc;
}

/* Asserts that params_fmt succeeds and yields exactly `expected`. */
#define ASSERT_GROUPS(params_fmt, expected)                                                        \
    do {                                                                                           \
        struct wn_error err_ = WN_ERROR_INIT;                                                      \
        char *groups_ = NULL;                                                                      \
        int rc_ = run_groups(params_fmt, &groups_, &err_);                                         \
        CU_ASSERT_EQUAL(rc_, 0);                                                                   \
        if (rc_ != 0)                                                                              \
            fprintf(stderr, "\n  %s: unexpected error: %s\n", params_fmt, err_.message);           \
        CU_ASSERT_STRING_EQUAL(groups_, expected);                                                 \
        if (strcmp(groups_, expected) != 0)                                                        \
            fprintf(stderr, "\n  %s: got %s\n  expected %s\n", params_fmt, groups_, expected);     \
        free(groups_);                                                                             \
    } while (0)

static void test_directory_gives_one_file_per_group_sorted(void)
{
    ASSERT_GROUPS("{\"paths\": \"%R\"}",
                  "a.jsonl|b.jsonl|c.jsonl.zst|sub/deeper/f.jsonl|sub/e.jsonl");
}

static void test_files_per_group_splits_the_sorted_list(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"files_per_group\": 2}",
                  "a.jsonl,b.jsonl|c.jsonl.zst,sub/deeper/f.jsonl|sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"files_per_group\": 5}",
                  "a.jsonl,b.jsonl,c.jsonl.zst,sub/deeper/f.jsonl,sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"files_per_group\": 100}",
                  "a.jsonl,b.jsonl,c.jsonl.zst,sub/deeper/f.jsonl,sub/e.jsonl");
}

static void test_blocksize_closes_a_group_once_its_size_is_reached(void)
{
    /* sizes: a 10, b 20, c 30, f 50, e 40 */
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"blocksize\": \"30\"}",
                  "a.jsonl,b.jsonl|c.jsonl.zst|sub/deeper/f.jsonl|sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"blocksize\": \"31B\"}",
                  "a.jsonl,b.jsonl,c.jsonl.zst|sub/deeper/f.jsonl|sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"blocksize\": \"90\"}",
                  "a.jsonl,b.jsonl,c.jsonl.zst,sub/deeper/f.jsonl|sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"blocksize\": \"1kB\"}",
                  "a.jsonl,b.jsonl,c.jsonl.zst,sub/deeper/f.jsonl,sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"blocksize\": \"1\"}",
                  "a.jsonl|b.jsonl|c.jsonl.zst|sub/deeper/f.jsonl|sub/e.jsonl");
}

static void test_recursive_false_scans_only_the_top_directory(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"recursive\": false}", "a.jsonl|b.jsonl|c.jsonl.zst");
}

static void test_extensions_choose_the_files_of_directories(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"extensions\": [\".txt\", \".json\"]}",
                  "d.txt|sub/g.json");
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"extensions\": \".zst\"}", "c.jsonl.zst");
    /* [] keeps every file; hidden files and directories stay out. */
    ASSERT_GROUPS("{\"paths\": [\"%R\"], \"extensions\": [], \"files_per_group\": 10}",
                  "a.jsonl,b.jsonl,c.jsonl.zst,d.txt,sub/deeper/f.jsonl,sub/e.jsonl,sub/g.json");
}

static void test_globs_match_files_whatever_their_extension(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R/*.txt\"]}", "d.txt");
    ASSERT_GROUPS("{\"paths\": [\"%R/*.jsonl\"]}", "a.jsonl|b.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R/[bc]*\"]}", "b.jsonl|c.jsonl.zst");
    ASSERT_GROUPS("{\"paths\": [\"%R/sub/*\"]}", "sub/deeper/f.jsonl|sub/e.jsonl|sub/g.json");
    /* A glob matching a directory scans it with the extensions. */
    ASSERT_GROUPS("{\"paths\": [\"%R/s?b\"]}", "sub/deeper/f.jsonl|sub/e.jsonl");
    ASSERT_GROUPS("{\"paths\": [\"%R/{a,d}.*\"]}", "a.jsonl|d.txt");
}

static void test_named_files_are_taken_whatever_their_extension(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R/d.txt\", \"%R/sub/g.json\", \"%R/.hidden.jsonl\"]}",
                  ".hidden.jsonl|d.txt|sub/g.json");
}

static void test_duplicates_are_listed_once(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R/a.jsonl\", \"%R//./a.jsonl\", \"%R/*.jsonl\", \"%R/\"], "
                  "\"recursive\": false}",
                  "a.jsonl|b.jsonl|c.jsonl.zst");
}

static void test_order_does_not_depend_on_the_order_of_paths(void)
{
    char *first = NULL, *second = NULL;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(run_groups("{\"paths\": [\"%R/sub\", \"%R/b.jsonl\", \"%R/a.jsonl\"], "
                               "\"files_per_group\": 2}",
                               &first, &err),
                    0);
    CU_ASSERT_EQUAL(run_groups("{\"paths\": [\"%R/a.jsonl\", \"%R/b.jsonl\", \"%R/sub\"], "
                               "\"files_per_group\": 2}",
                               &second, &err),
                    0);
    CU_ASSERT_STRING_EQUAL(first, "a.jsonl,b.jsonl|sub/deeper/f.jsonl,sub/e.jsonl");
    CU_ASSERT_STRING_EQUAL(first, second);
    free(first);
    free(second);
}

static void test_missing_paths_are_skipped_when_others_match(void)
{
    ASSERT_GROUPS("{\"paths\": [\"%R/nope.jsonl\", \"%R/zzz*\", \"%R/a.jsonl\"]}", "a.jsonl");
}

static void test_no_match_at_all_is_an_error_naming_the_patterns(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *groups = NULL, *want;
    int rc =
        run_groups("{\"paths\": [\"%R/nothing*.jsonl\", \"%R/missing.jsonl\"]}", &groups, &err);

    CU_ASSERT_EQUAL(rc, WN_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(groups, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no input file matches paths"));
    want = params_for("[\"%R/nothing*.jsonl\", \"%R/missing.jsonl\"]");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, want));
    free(want);
    free(groups);

    /* A directory with no file of the extensions matches nothing either. */
    rc = run_groups("{\"paths\": [\"%R/sub\"], \"extensions\": [\".parquet\"]}", &groups, &err);
    CU_ASSERT_EQUAL(rc, WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/sub\"]"));
    free(groups);
}

static void test_both_files_per_group_and_blocksize_is_an_error(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *groups = NULL;
    int rc = run_groups("{\"paths\": [\"%R\"], \"files_per_group\": 2, \"blocksize\": \"1MB\"}",
                        &groups, &err);

    CU_ASSERT_EQUAL(rc, WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "either 'files_per_group' or 'blocksize'"));
    CU_ASSERT_STRING_EQUAL(groups, "");
    free(groups);
}

static void test_params_are_checked(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *groups = NULL;

    CU_ASSERT_EQUAL(run_groups("{\"paths\": [\"%R\"], \"files_per_group\": 0}", &groups, &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "params.files_per_group"));
    free(groups);
    CU_ASSERT_EQUAL(run_groups("{\"paths\": []}", &groups, &err), WN_ECONFIG);
    free(groups);
    CU_ASSERT_EQUAL(run_groups("{\"files_per_group\": 1}", &groups, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "params.paths: required"));
    free(groups);
    CU_ASSERT_EQUAL(
        run_groups("{\"paths\": [\"%R\"], \"blocksize\": \"12 parsecs\"}", &groups, &err),
        WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "blocksize: \"12 parsecs\" is not a size"));
    free(groups);
}

static void test_sizes_parse_with_decimal_and_binary_units(void)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        { "1048576", 1048576 }, { "64MiB", 67108864 },        { "1GB", 1000000000 },
        { "1gb", 1000000000 },  { "1.5 kB", 1500 },           { "2k", 2000 },
        { " 3 KiB ", 3072 },    { "1TiB", 1099511627776ull }, { "10B", 10 },
        { "0.5MiB", 524288 },
    };
    static const char *const bad[] = { "", "MB", "0", "0.4", "-5", "5 XB", "1e400", "5 MB x" };
    struct wn_error err = WN_ERROR_INIT;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t bytes = 0;

        CU_ASSERT_EQUAL(io_parse_size(good[i].text, &bytes, &err), 0);
        CU_ASSERT_EQUAL(bytes, good[i].bytes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t bytes = 0;

        CU_ASSERT_EQUAL(io_parse_size(bad[i], &bytes, &err), WN_ECONFIG);
    }
}

static void test_every_trigger_gets_its_own_groups(void)
{
    struct harness_sink sink;
    struct wn_task *in[2] = { wn_task_new("t1", NULL), wn_task_new("t2", NULL) };
    struct wn_error err = WN_ERROR_INIT;
    char *params = params_for("{\"paths\": [\"%R/*.jsonl\"]}");

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("file_partitioning", params, in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 4);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "t1_0");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[1]), "t1_1");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[2]), "t2_0");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[3]), "t2_1");
    harness_sink_clear(&sink);
    free(params);
}

static void test_descriptor_declares_params_and_payloads(void)
{
    const struct wn_stage_desc *desc = harness_stage("file_partitioning");
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    CU_ASSERT_EQUAL(wn_params_check_spec(desc->params, desc->name, &err), 0);
    CU_ASSERT_EQUAL(desc->input_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_EMPTY));
    CU_ASSERT_EQUAL(desc->output_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_FILES));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "directory gives one file per group, sorted",
          test_directory_gives_one_file_per_group_sorted },
        { "files_per_group splits the sorted list", test_files_per_group_splits_the_sorted_list },
        { "blocksize closes a group once its size is reached",
          test_blocksize_closes_a_group_once_its_size_is_reached },
        { "recursive false scans only the top directory",
          test_recursive_false_scans_only_the_top_directory },
        { "extensions choose the files of directories",
          test_extensions_choose_the_files_of_directories },
        { "globs match files whatever their extension",
          test_globs_match_files_whatever_their_extension },
        { "named files are taken whatever their extension",
          test_named_files_are_taken_whatever_their_extension },
        { "duplicates are listed once", test_duplicates_are_listed_once },
        { "order does not depend on the order of paths",
          test_order_does_not_depend_on_the_order_of_paths },
        { "missing paths are skipped when others match",
          test_missing_paths_are_skipped_when_others_match },
        { "no match at all is an error naming the patterns",
          test_no_match_at_all_is_an_error_naming_the_patterns },
        { "files_per_group and blocksize together are an error",
          test_both_files_per_group_and_blocksize_is_an_error },
        { "params are checked", test_params_are_checked },
        { "sizes parse with decimal and binary units",
          test_sizes_parse_with_decimal_and_binary_units },
        { "every trigger gets its own groups", test_every_trigger_gets_its_own_groups },
        { "descriptor declares params and payloads", test_descriptor_declares_params_and_payloads },
        { NULL, NULL },
    };

    return wn_test_run_suite("file_partitioning", tests, setup_tree, remove_tree);
}
