/*
 * The fuzzy stages in real runs of the winnow command (actor_pool executor,
 * io stages, fuzzy.so loaded from the build tree): minhash over a generated
 * corpus, and remove_duplicates with labels made from the generator's ground
 * truth, so that the kept documents are exactly the originals.
 */
#include "build_config.h"

#include <sys/wait.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "minhash_core.h"

#define N_DOCS 1500

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

static const char minhash_config[] =
    "{\n"
    "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
    "  \"stages\": [\n"
    "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"docs\"] } },\n"
    "    { \"stage\": \"jsonl_reader\", \"params\": { \"fields\": [\"id\", \"text\"] } },\n"
    "    { \"stage\": \"minhash\", \"params\": { \"char_ngrams\": 24 } },\n"
    "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"signatures\" } }\n"
    "  ]\n"
    "}\n";

static const char remove_config[] =
    "{\n"
    "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
    "  \"stages\": [\n"
    "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"docs\"] } },\n"
    "    { \"stage\": \"jsonl_reader\" },\n"
    "    { \"stage\": \"remove_duplicates\", \"params\": { \"labels_path\": \"labels\" } },\n"
    "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"deduplicated\" } }\n"
    "  ]\n"
    "}\n";

/* Writes config to dir/pipeline.json and runs `winnow run` on it with the given
 * --set overrides (a shell fragment); returns the exit status (stderr shown
 * when it is not 0). */
static int run_winnow(const char *config, const char *sets)
{
    char *cmd;
    int rc;

    if (harness_write_text(dir, "pipeline.json", config) < 0 ||
        asprintf(&cmd, "'%s/cli/winnow' run '%s/pipeline.json' %s > '%s/stdout' 2> '%s/stderr'",
                 wn_test_builddir(), dir, sets, dir, dir) < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc != 0)
        fz_show_stderr(dir);
    return rc;
}

/* Reads every *.jsonl under sub into one malloc'd text (lines of all files). */
static char *read_outputs(const char *sub, size_t *lines)
{
    char *path, *all = calloc(1, 1);
    size_t used = 0;
    DIR *d;
    struct dirent *e;

    *lines = 0;
    if (asprintf(&path, "%s/%s", dir, sub) < 0 || (d = opendir(path)) == NULL)
        return all;
    while ((e = readdir(d)) != NULL) {
        char *file, *text;
        size_t len = 0;

        if (e->d_name[0] == '.' || strstr(e->d_name, ".jsonl") == NULL)
            continue;
        if (asprintf(&file, "%s/%s", path, e->d_name) < 0)
            break;
        text = harness_read(file, &len);
        all = realloc(all, used + len + 1);
        memcpy(all + used, text, len);
        used += len;
        all[used] = '\0';
        for (size_t i = 0; i < len; i++)
            *lines += text[i] == '\n';
        free(text);
        free(file);
    }
    closedir(d);
    free(path);
    return all;
}

static void test_minhash_runs_in_a_pipeline(void)
{
    char *sets, *out, *line, *save = NULL;
    struct corpus c;
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    size_t lines, checked = 0;
    char corpus_dir[4096];
    const char *args[] = {
        "--docs", "300", "--files", "3", "--seed", "4", "--out", corpus_dir, NULL
    };

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/small", dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(corpus_dir, &c), 0);
    CU_ASSERT(
        asprintf(&sets,
                 "--set 'stages.0.params.paths=[\"%s/docs\"]' "
                 "--set 'stages.3.params.path=%s/signatures' "
                 "--set 'stages.2.params.num_bands=4' --set 'stages.2.params.rows_per_band=5'",
                 corpus_dir, dir) > 0);
    CU_ASSERT_EQUAL(run_winnow(minhash_config, sets), 0);
    out = read_outputs("signatures", &lines);
    CU_ASSERT_EQUAL(lines, 300);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, 20, 42, FUZZY_KERNEL_PORTABLE), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *sig;
        size_t i = corpus_index(json_string_value(json_object_get(obj, "id")));
        uint32_t want[20];

        sig = json_object_get(obj, "_minhash_signature");
        CU_ASSERT_FATAL(i < c.count);
        CU_ASSERT_EQUAL(json_object_size(obj), 2);
        CU_ASSERT_EQUAL_FATAL(json_array_size(sig), 20);
        fuzzy_minhash_signature(&mh, &scratch, c.text[i], c.len[i], want);
        for (size_t k = 0; k < 20; k++)
            CU_ASSERT_EQUAL(json_integer_value(json_array_get(sig, k)), (json_int_t)want[k]);
        checked++;
        json_decref(obj);
    }
    CU_ASSERT_EQUAL(checked, 300);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    corpus_free(&c);
    free(out);
    free(sets);
}

/* Labels from the ground truth: every member of cluster k in group k. */
static void write_truth_labels(const char *corpus_dir, const char *labels_path, size_t *copies)
{
    char *path, *data, *line, *save = NULL;
    FILE *f = fopen(labels_path, "w");

    *copies = 0;
    CU_ASSERT(asprintf(&path, "%s/truth/clusters.jsonl", corpus_dir) > 0);
    data = harness_read(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *ids = json_object_get(obj, "ids");

        for (size_t k = 0; k < json_array_size(ids); k++)
            fprintf(f, "{\"id\": \"%s\", \"group_id\": %lld}\n",
                    json_string_value(json_array_get(ids, k)),
                    (long long)json_integer_value(json_object_get(obj, "cluster")));
        *copies += json_array_size(ids) - 1;
        json_decref(obj);
    }
    fclose(f);
    free(data);
    free(path);
}

static void test_remove_duplicates_keeps_the_originals(void)
{
    char corpus_dir[4096], labels[4096], *sets, *kept, *removed, *line, *save = NULL;
    const char *args[] = { "--docs", "1500",         "--files", "6",           "--seed",
                           "21",     "--exact-rate", "0.1",     "--near-rate", "0.2",
                           "--out",  corpus_dir,     NULL };
    size_t copies, kept_lines, removed_lines;
    json_t *summary;
    uint8_t *seen;

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/corpus", dir);
    snprintf(labels, sizeof(labels), "%s/labels.jsonl", dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    write_truth_labels(corpus_dir, labels, &copies);
    summary = corpus_summary(corpus_dir);
    CU_ASSERT(asprintf(&sets,
                       "--set 'stages.0.params.paths=[\"%s/docs\"]' "
                       "--set 'stages.2.params.labels_path=%s' "
                       "--set 'stages.2.params.removed_ids_path=%s/removed' "
                       "--set 'stages.2.actors=3' "
                       "--set 'stages.3.params.path=%s/deduplicated'",
                       corpus_dir, labels, dir, dir) > 0);
    CU_ASSERT_EQUAL(run_winnow(remove_config, sets), 0);
    kept = read_outputs("deduplicated", &kept_lines);
    removed = read_outputs("removed", &removed_lines);
    CU_ASSERT_EQUAL(removed_lines, copies);
    CU_ASSERT_EQUAL(kept_lines, N_DOCS - copies);
    CU_ASSERT_EQUAL((json_int_t)kept_lines,
                    json_integer_value(json_object_get(summary, "originals")));
    /* every kept document is an original: its id is never removed and never repeated */
    seen = calloc(N_DOCS, 1);
    for (line = strtok_r(removed, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        size_t i = corpus_index(json_string_value(json_object_get(obj, "id")));
        size_t k = corpus_index(json_string_value(json_object_get(obj, "kept_id")));

        CU_ASSERT_FATAL(i < N_DOCS && k < i);
        CU_ASSERT_EQUAL(seen[i], 0);
        seen[i] = 1;
        json_decref(obj);
    }
    save = NULL;
    for (line = strtok_r(kept, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        size_t i = corpus_index(json_string_value(json_object_get(obj, "id")));

        CU_ASSERT_FATAL(i < N_DOCS);
        CU_ASSERT_EQUAL(seen[i], 0);
        seen[i] = 2;
        json_decref(obj);
    }
    for (size_t i = 0; i < N_DOCS; i++)
        CU_ASSERT_NOT_EQUAL(seen[i], 0);
    free(seen);
    free(kept);
    free(removed);
    free(sets);
    json_decref(summary);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "minhash runs in a pipeline", test_minhash_runs_in_a_pipeline },
        { "remove_duplicates keeps the originals", test_remove_duplicates_keeps_the_originals },
        { NULL, NULL }
    };

    return wn_test_run_suite("fuzzy pipelines", tests, suite_init, suite_cleanup);
}
