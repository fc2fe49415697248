/*
 * End-to-end tests of the winnow command: every subcommand, exit statuses,
 * error messages, and real pipeline runs over the build tree's plugins.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu.h"

static char tmpdir[] = "/tmp/winnow-cli-XXXXXX";
static char winnow[4096];
static char *out_text, *err_text;
static int status;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Writes tmpdir/name; returns 0, or -1 (usable from the suite's init, where
 * CUnit assertions are not allowed). */
static int write_file(const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* Runs `winnow ARGS` (a shell fragment) and keeps stdout, stderr and the exit status. */
static void run_winnow(const char *fmt, ...)
{
    char args[8192], cmd[32768], out_path[4096], err_path[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(out_path, sizeof(out_path), "%s/stdout", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", tmpdir);
    /* A hang must fail the test, not stall the suite: `timeout` ends it (124). */
    snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 300 '%s' %s > '%s' 2> '%s'", tmpdir, winnow,
             args, out_path, err_path);
    rc = system(cmd);
    status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
    free(out_text);
    free(err_text);
    out_text = slurp(out_path);
    err_text = slurp(err_path);
}

static int contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) != NULL)
        return 1;
    fprintf(stderr, "\n  expected \"%s\" in:\n%s\n", needle, haystack);
    return 0;
}

static int count_lines_in_dir(const char *dir)
{
    char cmd[8192];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "cat '%s/%s'/*.jsonl 2>/dev/null | wc -l", tmpdir, dir);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* A corpus whose survivors are known: 10 documents, 3 under 5 words, 2 mostly symbols. */
static const char corpus[] =
    "{\"id\": \"d0\", \"text\": \"one two three four five six seven\"}\n"
    "{\"id\": \"d1\", \"text\": \"short\"}\n"
    "{\"id\": \"d2\", \"text\": \"alpha beta gamma delta epsilon zeta eta\"}\n"
    "{\"id\": \"d3\", \"text\": \"#### $$$$ %%%% &&&& **** @@@@ !!!! ????\"}\n"
    "{\"id\": \"d4\", \"text\": \"the quick brown fox jumps over the lazy dog\"}\n"
    "{\"id\": \"d5\", \"text\": \"two words\"}\n"
    "{\"id\": \"d6\", \"text\": \"données über naïve café Ångström データ 数据\"}\n"
    "{\"id\": \"d7\", \"text\": \"apple banana cherry grape lemon mango\"}\n"
    "{\"id\": \"d8\", \"text\": \"[[[[ ]]]] {{{{ }}}} <<<< >>>> ~~~~ ^^^^\"}\n"
    "{\"id\": \"d9\", \"text\": \"\"}\n";

static const char pipeline[] =
    "{\n"
    "  \"executor\": { \"backend\": \"actor_pool\" },\n"
    "  \"stages\": [\n"
    "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"corpus\"] } },\n"
    "    { \"stage\": \"jsonl_reader\", \"params\": { \"fields\": [\"id\", \"text\"] } },\n"
    "    { \"stage\": \"word_count\", \"params\": { \"min_words\": 5 }, \"actors\": 2 },\n"
    "    { \"stage\": \"non_alpha_numeric\", \"params\": { \"max_ratio\": 0.25 } },\n"
    "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"out\" } }\n"
    "  ]\n"
    "}\n";

static int setup_suite(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(winnow, sizeof(winnow), "%s/cli/winnow", wn_test_builddir());
    if (access(winnow, X_OK) != 0)
        return -1;
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/corpus", tmpdir);
    mkdir(dir, 0755);
    if (write_file("corpus/part-0.jsonl", corpus) < 0 || write_file("pipeline.json", pipeline) < 0)
        return -1;
    return 0;
}

static int cleanup_suite(void)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    free(out_text);
    free(err_text);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_version_names_release_and_abi(void)
{
    run_winnow("--version");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "winnow 0."));
    CU_ASSERT(contains(out_text, "plugin ABI 1.0"));
}

static void test_help_and_usage_errors(void)
{
    run_winnow("--help");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "validate FILE"));
    CU_ASSERT(contains(out_text, "Exit status"));
    run_winnow("");
    CU_ASSERT_EQUAL(status, 2);
    CU_ASSERT(contains(err_text, "no command given"));
    run_winnow("frobnicate");
    CU_ASSERT_EQUAL(status, 2);
    CU_ASSERT(contains(err_text, "unknown command 'frobnicate'"));
    run_winnow("run");
    CU_ASSERT_EQUAL(status, 2);
    run_winnow("run --set nonsense pipeline.json");
    CU_ASSERT_EQUAL(status, 2);
    CU_ASSERT(contains(err_text, "--set takes PATH=VALUE"));
}

static void test_plugins_lists_build_tree_plugins_and_stages(void)
{
    run_winnow("plugins");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "actor_pool"));
    CU_ASSERT(contains(out_text, "/plugins/backends/actor_pool/.libs/"));
    CU_ASSERT(contains(out_text, "file_partitioning"));
    CU_ASSERT(contains(out_text, "jsonl_reader"));
    CU_ASSERT(contains(out_text, "jsonl_writer"));
    CU_ASSERT(contains(out_text, "word_count"));
    CU_ASSERT(contains(out_text, "non_alpha_numeric"));
    CU_ASSERT_PTR_NULL(strstr(out_text, "not loaded"));
}

static void test_plugins_shows_why_broken_plugins_did_not_load(void)
{
    run_winnow("-P '%s/tests/fixtures/.libs' plugins", wn_test_builddir());
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "not loaded:"));
    CU_ASSERT(contains(out_text, "winnow_plugin_v1"));
    CU_ASSERT(contains(out_text, "ABI"));
    run_winnow("-P /nonexistent/plugins plugins");
    CU_ASSERT_EQUAL(status, 4);
    CU_ASSERT(contains(err_text, "/nonexistent/plugins"));
}

static void test_inspect_describes_a_stage_and_a_backend(void)
{
    run_winnow("inspect word_count");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "stage word_count"));
    CU_ASSERT(contains(out_text, "min_words"));
    CU_ASSERT(contains(out_text, "input:      TABLE"));
    run_winnow("inspect actor_pool");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "backend actor_pool (executor)"));
    CU_ASSERT(contains(out_text, "reserved_cpus"));
    run_winnow("inspect no_such_stage");
    CU_ASSERT_EQUAL(status, 3);
    CU_ASSERT(contains(err_text, "no stage or backend named 'no_such_stage'"));
}

static void test_validate_accepts_a_good_pipeline(void)
{
    run_winnow("validate pipeline.json");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "valid pipeline of 5 stage(s)"));
}

static void test_validate_reports_bad_configs_with_their_place(void)
{
    write_file("syntax.json", "{\n  \"stages\": [\n    { \"stage\": \"word_count\" },,\n  ]\n}\n");
    run_winnow("validate syntax.json");
    CU_ASSERT_EQUAL(status, 3);
    CU_ASSERT(contains(err_text, "syntax.json:3:"));

    run_winnow("validate pipeline.json --set stages.2.params.min_words='\"many\"'");
    CU_ASSERT_EQUAL(status, 3);
    CU_ASSERT(contains(err_text, "stages[2].params.min_words"));

    write_file("unknown.json", "{ \"stages\": [ { \"stage\": \"file_partitioning\", \"params\": "
                               "{ \"paths\": [\"x\"] } }, { \"stage\": \"jsonl_reder\" } ] }\n");
    run_winnow("validate unknown.json");
    CU_ASSERT_EQUAL(status, 3);
    CU_ASSERT(contains(err_text, "jsonl_reder"));
    CU_ASSERT(contains(err_text, "jsonl_reader"));

    run_winnow("validate missing.json");
    CU_ASSERT_EQUAL(status, 3);
    CU_ASSERT(contains(err_text, "missing.json"));
}

static void test_run_keeps_exactly_the_expected_documents(void)
{
    char *written;

    run_winnow("run pipeline.json");
    CU_ASSERT_EQUAL_FATAL(status, 0);
    CU_ASSERT(contains(out_text, "word_count"));
    CU_ASSERT_EQUAL(count_lines_in_dir("out"), 5);
    written = NULL;
    {
        char cmd[8192];
        FILE *p;
        snprintf(cmd, sizeof(cmd),
                 "cat '%s'/out/*.jsonl | tr -d ' ' | sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/' | "
                 "sort | tr '\\n' ,",
                 tmpdir);
        p = popen(cmd, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        written = calloc(1, 256);
        if (fgets(written, 256, p) == NULL)
            written[0] = '\0';
        pclose(p);
    }
    CU_ASSERT_STRING_EQUAL(written, "d0,d2,d4,d6,d7,");
    free(written);
}

static void test_set_override_changes_the_run(void)
{
    run_winnow("run --quiet pipeline.json --set stages.2.params.min_words=1 "
               "--set stages.4.params.path=out_min1");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_STRING_EQUAL(out_text, "");
    /* d1 and d5 are short but now kept; d9 is empty (0 words) and is dropped */
    CU_ASSERT_EQUAL(count_lines_in_dir("out_min1"), 7);
}

static void test_writer_that_receives_no_task_leaves_an_empty_output_directory(void)
{
    char dir[4200];
    struct stat st;

    /* an empty file: minhash drops its column-less table, so the writer's
     * stage receives no task at all and starts no actor */
    snprintf(dir, sizeof(dir), "%s/empty_corpus", tmpdir);
    mkdir(dir, 0755);
    CU_ASSERT_EQUAL_FATAL(write_file("empty_corpus/part-0.jsonl", ""), 0);
    CU_ASSERT_EQUAL_FATAL(
        write_file(
            "nothing.json",
            "{ \"stages\": [\n"
            "  { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"empty_corpus\"] } "
            "},\n"
            "  { \"stage\": \"jsonl_reader\" },\n"
            "  { \"stage\": \"minhash\" },\n"
            "  { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"out_none\" } } ] }\n"),
        0);
    run_winnow("run nothing.json");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "jsonl_writer"));
    snprintf(dir, sizeof(dir), "%s/out_none", tmpdir);
    CU_ASSERT_EQUAL_FATAL(stat(dir, &st), 0);
    CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(count_lines_in_dir("out_none"), 0);
}

static void test_malformed_line_fails_the_run_naming_file_and_line(void)
{
    char dir[4200];

    snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
    mkdir(dir, 0755);
    write_file("bad/part-0.jsonl", "{\"id\": \"a\", \"text\": \"fine words here now ok\"}\n"
                                   "{\"id\": \"b\", \"text\": oops}\n");
    run_winnow("run pipeline.json --set 'stages.0.params.paths=[\"bad\"]' "
               "--set stages.4.params.path=out_bad");
    CU_ASSERT_EQUAL(status, 1);
    CU_ASSERT(contains(err_text, "part-0.jsonl:2"));
    CU_ASSERT(contains(err_text, "jsonl_reader"));
    /* the writer never ran: nothing, not even a partial file, was written */
    CU_ASSERT_EQUAL(count_lines_in_dir("out_bad"), 0);

    run_winnow("run pipeline.json --set 'stages.0.params.paths=[\"bad\"]' "
               "--set stages.1.params.skip_bad_lines=true --set stages.4.params.path=out_skip");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_EQUAL(count_lines_in_dir("out_skip"), 1);
}

static void test_readme_plugin_builds_against_the_sdk_and_runs(void)
{
    char cmd[16384], *readme, *example;
    const char *cc = getenv("CC") ? getenv("CC") : "cc";
    const char *start, *end;
    char block[8192];

    /* the README shows the example file's code verbatim */
    snprintf(cmd, sizeof(cmd), "%s/README.md", wn_test_srcdir());
    readme = slurp(cmd);
    snprintf(cmd, sizeof(cmd), "%s/examples/plugins/drop_empty/drop_empty.c", wn_test_srcdir());
    example = slurp(cmd);
    start = strstr(readme, "```c\n");
    end = start ? strstr(start + 5, "```") : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(end);
    snprintf(block, sizeof(block), "%.*s", (int)(end - start - 5), start + 5);
    CU_ASSERT(contains(example, block));
    free(readme);
    free(example);

    snprintf(
        cmd, sizeof(cmd),
        "%s -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wl,-z,now "
        "-I'%s/sdk' -I'%s/sdk' -o '%s/drop_empty.so' '%s/examples/plugins/drop_empty/drop_empty.c' "
        "-L'%s/libwinnow/.libs' -lwinnow",
        cc, wn_test_srcdir(), wn_test_builddir(), tmpdir, wn_test_srcdir(), wn_test_builddir());
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    run_winnow("-P drop_empty.so inspect drop_empty");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT(contains(out_text, "Drops rows with an empty text column"));

    write_file("custom.json",
               "{ \"stages\": [\n"
               "  { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"corpus\"] } },\n"
               "  { \"stage\": \"jsonl_reader\" },\n"
               "  { \"stage\": \"drop_empty\" },\n"
               "  { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"out_custom\" } } ] }\n");
    run_winnow("-P drop_empty.so run custom.json");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_EQUAL(count_lines_in_dir("out_custom"), 9);
}

static void test_failing_create_names_stage_and_plugin_message(void)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/tests/fixtures/.libs/create_fails.so", wn_test_builddir());
    write_file("fails.json",
               "{ \"stages\": [\n"
               "  { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"corpus\"] } },\n"
               "  { \"stage\": \"fixture_create_fails\" } ] }\n");
    run_winnow("-P '%s' run fails.json", path);
    CU_ASSERT_EQUAL(status, 1);
    CU_ASSERT(contains(err_text, "fixture_create_fails"));
    CU_ASSERT(contains(err_text, "create failed on purpose"));
    CU_ASSERT(contains(err_text, "run failed"));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "--version names the release and the ABI", test_version_names_release_and_abi },
        { "--help and usage errors", test_help_and_usage_errors },
        { "plugins lists build-tree plugins and stages",
          test_plugins_lists_build_tree_plugins_and_stages },
        { "plugins shows why broken plugins did not load",
          test_plugins_shows_why_broken_plugins_did_not_load },
        { "inspect describes a stage and a backend", test_inspect_describes_a_stage_and_a_backend },
        { "validate accepts a good pipeline", test_validate_accepts_a_good_pipeline },
        { "validate reports bad configs with their place",
          test_validate_reports_bad_configs_with_their_place },
        { "run keeps exactly the expected documents",
          test_run_keeps_exactly_the_expected_documents },
        { "--set overrides change the run", test_set_override_changes_the_run },
        { "a writer that receives no task leaves an empty output directory",
          test_writer_that_receives_no_task_leaves_an_empty_output_directory },
        { "a malformed line fails the run naming file and line",
          test_malformed_line_fails_the_run_naming_file_and_line },
        { "the README plugin builds against the SDK and runs",
          test_readme_plugin_builds_against_the_sdk_and_runs },
        { "a failing create names the stage and the plugin's message",
          test_failing_create_names_stage_and_plugin_message },
        { NULL, NULL }
    };
    return wn_test_run_suite("cli", tests, setup_suite, cleanup_suite);
}
