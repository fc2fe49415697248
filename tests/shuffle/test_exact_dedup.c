/* Tests of the exact_dedup stage: its hash, its hooks on known duplicates,
 * and (with UCX) a whole shuffle of a corpus with known duplicates over the
 * ucx provider, driven as an executor would. */
#include "build_config.h"

#include <inttypes.h>
#include <pthread.h>

#include <winnow/shuffle.h>

#include "hash128.h"
#include "stage_harness.h"

#ifdef HAVE_UCX
#include "shuffle_provider.h"
#endif

/* A TABLE task with columns id and text from ids[i] / texts[i] (NULL: null). */
static struct wn_task *docs_task(const char *task_id, const char *const *ids,
                                 const char *const *texts, size_t n)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_task *task = wn_task_new(task_id, "docs");
    struct wn_table t;

    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0);
    for (size_t i = 0; i < n; i++) {
        wn_table_builder_append_utf8(b, 0, ids[i], strlen(ids[i]));
        if (texts[i] == NULL)
            wn_table_builder_append_null(b, 1);
        else
            wn_table_builder_append_utf8(b, 1, texts[i], strlen(texts[i]));
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_task_set_table(task, &t, &err), 0);
    wn_table_builder_free(b);
    return task;
}

static void test_hash_is_murmurhash3_x64_128(void)
{
    /* SMHasher's verification value for MurmurHash3_x64_128, and a known digest. */
    uint8_t key[256], hashes[256 * 16];
    const char *fox = "The quick brown fox jumps over the lazy dog";
    struct wn_hash128 h;

    for (int i = 0; i < 256; i++) {
        key[i] = (uint8_t)i;
        h = wn_dedup_hash128(key, (size_t)i, (uint32_t)(256 - i));
        memcpy(hashes + i * 16, &h.lo, 8);
        memcpy(hashes + i * 16 + 8, &h.hi, 8);
    }
    h = wn_dedup_hash128(hashes, sizeof(hashes), 0);
    CU_ASSERT_EQUAL((uint32_t)h.lo, 0x6384BA69u);
    h = wn_dedup_hash128(fox, strlen(fox), 0);
    CU_ASSERT_EQUAL(h.lo, 0xe34bbc7bbc071b6cULL);
    CU_ASSERT_EQUAL(h.hi, 0x7a433ca9c49a9347ULL);
    h = wn_dedup_hash128("", 0, 0);
    CU_ASSERT(h.lo == 0 && h.hi == 0);
}

static void test_partition_count_follows_param_or_rule(void)
{
    const struct wn_shuffle_stage_ops *ops = harness_stage("exact_dedup")->shuffle;
    struct wn_shuffle_stage_ops pow2 = *ops;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *none = harness_params("exact_dedup", NULL, &err);
    struct wn_params *seven = harness_params("exact_dedup", "{\"partitions\": 7}", &err);

    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(ops, none, 0), 1);
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(ops, none, 13), 13);
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(ops, seven, 13), 7);
    pow2.partitioning = WN_SHUFFLE_PARTITIONS_POW2;
    pow2.partitions_param = NULL;
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(&pow2, seven, 13), 8);
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(&pow2, none, 16), 16);
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(&pow2, none, 1), 1);
    CU_ASSERT_EQUAL(wn_shuffle_num_partitions(&pow2, none, 0), 1);
    CU_ASSERT_EQUAL(wn_shuffle_owner(13, 4), 1);
    wn_params_free(none);
    wn_params_free(seven);
}

/* Runs the extract hook of a fresh instance over the rows of task. */
static int run_extract(const char *params_json, struct wn_task *task, uint32_t index,
                       struct harness_sink *sink, struct wn_error *err)
{
    const struct wn_stage_desc *desc = harness_stage("exact_dedup");
    const struct wn_shuffle_stage_ops *shuffle = desc->shuffle;
    struct wn_params *params = harness_params("exact_dedup", params_json, err);
    struct wn_shuffle_partition part;
    struct wn_table rows;
    void *state = NULL;
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state, err), 0);
    memset(&part, 0, sizeof(part));
    part.struct_size = sizeof(part);
    part.index = index;
    part.num_partitions = 4;
    part.num_ranks = 1;
    part.stage_name = "dedup_docs";
    part.dataset = "docs";
    CU_ASSERT_EQUAL(wn_task_take_table(task, &rows), 0);
    rc = shuffle->extract(state, &part, &rows, &sink->emitter, err);
    wn_table_release(&rows);
    desc->ops->destroy(state);
    wn_params_free(params);
    wn_task_free(task);
    return rc;
}

static void test_extract_keeps_the_smallest_id_of_each_text_and_lists_the_removed(void)
{
    static const char *const ids[] = { "d3", "d1", "d2", "d10", "d4", "d5", "d0", "d6", "x\"q" };
    static const char *const texts[] = { "a", "a", "b", "a", NULL, NULL, "b ", "b", "a" };
    struct wn_error err = WN_ERROR_INIT;
    struct harness_sink sink;
    char *dir = harness_mkdtemp(), *path, *json, *removed;
    const struct wn_table *t;
    const char *expect_ids[] = { "d0", "d1", "d2", "d4", "d5" };
    size_t len;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(asprintf(&path, "%s/removed.jsonl", dir) > 0, 1);
    CU_ASSERT_EQUAL_FATAL(asprintf(&json, "{\"removed_ids_path\": \"%s\"}", path) > 0, 1);
    CU_ASSERT_EQUAL(run_extract(json, docs_task("t", ids, texts, 9), 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "dedup_docs_2");
    CU_ASSERT_STRING_EQUAL(wn_task_dataset(sink.tasks[0]), "docs");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "partition"), "2");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "partitions"), "4");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "duplicates_removed"), "4");
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(t), 5);
    for (int64_t r = 0; r < 5; r++) {
        const char *id = wn_table_get_utf8(t, 0, r, &len);

        CU_ASSERT(len == strlen(expect_ids[r]) && memcmp(id, expect_ids[r], len) == 0);
    }
    CU_ASSERT(wn_table_is_null(t, 1, 3) && wn_table_is_null(t, 1, 4));
    removed = harness_read(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(removed);
    /* Sorted by id as strings: "d10" < "d3" < "d6" < "x\"q". */
    CU_ASSERT_STRING_EQUAL(removed, "{\"id\": \"d10\", \"duplicate_of\": \"d1\"}\n"
                                    "{\"id\": \"d3\", \"duplicate_of\": \"d1\"}\n"
                                    "{\"id\": \"d6\", \"duplicate_of\": \"d2\"}\n"
                                    "{\"id\": \"x\\\"q\", \"duplicate_of\": \"d1\"}\n");
    free(removed);
    harness_sink_clear(&sink);
    harness_remove_tree(dir);
    free(dir);
    free(path);
    free(json);
}

static void test_integer_ids_compare_as_numbers(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_task *task = wn_task_new("t", NULL);
    struct harness_sink sink;
    const int64_t ids[] = { 10, 9, 100, 11 };
    const char *texts[] = { "same", "same", "same", "other" };
    struct wn_table t;

    wn_table_builder_add_column(b, "doc", WN_COLUMN_INT64, 0);
    wn_table_builder_add_column(b, "body", WN_COLUMN_LARGE_UTF8, 0);
    for (int i = 0; i < 4; i++) {
        wn_table_builder_append_int64(b, 0, ids[i]);
        wn_table_builder_append_utf8(b, 1, texts[i], strlen(texts[i]));
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_task_set_table(task, &t, &err), 0);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(
        run_extract("{\"id_field\": \"doc\", \"text_field\": \"body\"}", task, 0, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    t = *wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(&t), 2);
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 0, 0), 9);
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 0, 1), 11);
    harness_sink_clear(&sink);
    wn_table_builder_free(b);
}

static void test_an_empty_partition_emits_nothing(void)
{
    struct wn_error err = WN_ERROR_INIT;
    const struct wn_stage_desc *desc = harness_stage("exact_dedup");
    struct wn_params *params = harness_params("exact_dedup", NULL, &err);
    struct wn_shuffle_partition part = { sizeof(part), 3, 4, 3, 4, "x", NULL, { NULL }, 0, 1 };
    struct harness_sink sink;
    struct wn_table rows;
    void *state = NULL;

    harness_sink_init(&sink);
    memset(&rows, 0, sizeof(rows));
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state, &err), 0);
    /* What a provider gives for a partition nothing was inserted into. */
    CU_ASSERT_EQUAL(desc->shuffle == NULL ? -1
                                          : ((const struct wn_shuffle_stage_ops *)desc->shuffle)
                                                ->extract(state, &part, &rows, &sink.emitter, &err),
                    0);
    CU_ASSERT_EQUAL(sink.count, 0);
    desc->ops->destroy(state);
    wn_params_free(params);
}

/* A sink that sorts rows into per-partition lists of row indices. */
struct capture_sink {
    struct wn_shuffle_sink base;
    uint32_t *parts;
    int64_t rows;
};

static int capture_insert(struct wn_shuffle_sink *self, const struct wn_table *rows,
                          const uint32_t *partitions, struct wn_error *err)
{
    struct capture_sink *c = (struct capture_sink *)self;

    (void)err;
    c->rows = wn_table_num_rows(rows);
    c->parts = malloc((size_t)c->rows * sizeof(*c->parts));
    memcpy(c->parts, partitions, (size_t)c->rows * sizeof(*c->parts));
    return 0;
}

static void test_insert_routes_equal_texts_to_one_partition_and_names_missing_columns(void)
{
    static const char *const ids[] = { "a", "b", "c", "d", "e" };
    static const char *const texts[] = { "one", "two", "one", NULL, "two" };
    const struct wn_stage_desc *desc = harness_stage("exact_dedup");
    const struct wn_shuffle_stage_ops *shuffle = desc->shuffle;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = harness_params("exact_dedup", NULL, &err);
    struct wn_params *other = harness_params("exact_dedup", "{\"text_field\": \"body\"}", &err);
    struct capture_sink sink;
    struct wn_task *task = docs_task("t7", ids, texts, 5);
    void *state = NULL, *state2 = NULL;

    memset(&sink, 0, sizeof(sink));
    sink.base.struct_size = sizeof(sink.base);
    sink.base.num_partitions = 16;
    sink.base.insert = capture_insert;
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state, &err), 0);
    CU_ASSERT_EQUAL(shuffle->insert(state, &task, 1, &sink.base, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.rows, 5);
    CU_ASSERT_EQUAL(sink.parts[0], sink.parts[2]);
    CU_ASSERT_EQUAL(sink.parts[1], sink.parts[4]);
    CU_ASSERT_EQUAL(sink.parts[0], (uint32_t)(wn_dedup_hash128("one", 3, 0).lo % 16));
    CU_ASSERT(sink.parts[3] < 16);
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(other, &state2, &err), 0);
    CU_ASSERT_EQUAL(shuffle->insert(state2, &task, 1, &sink.base, &err), WN_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(err.message, "task t7: no column 'body' (text_field)");
    CU_ASSERT_EQUAL(desc->ops->process_batch(state, &task, 1, NULL, &err), WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "exact_dedup is a SHUFFLE stage"));
    desc->ops->destroy(state);
    desc->ops->destroy(state2);
    wn_params_free(params);
    wn_params_free(other);
    wn_task_free(task);
    free(sink.parts);
}

#ifdef HAVE_UCX
/* ---- the whole shuffle over the ucx provider ------------------------------------ */

#define RANKS 4
#define TASKS 6
#define DOCS_PER_TASK 400

struct corpus_run {
    const struct wn_stage_desc *desc;
    struct wn_params *params;
    struct wn_shuffle_group *group;
    struct wn_task *tasks[TASKS];
    uint32_t num_partitions;
    pthread_mutex_t lock;
    struct harness_sink out; /* guarded by lock */
    int rc[RANKS];
    struct wn_error err[RANKS];
};

struct provider_sink {
    struct wn_shuffle_sink base;
    struct wn_shuffle *shuffle;
};

static int provider_insert(struct wn_shuffle_sink *self, const struct wn_table *rows,
                           const uint32_t *partitions, struct wn_error *err)
{
    return wn_ucx_shuffle_ops.insert(((struct provider_sink *)self)->shuffle, rows, partitions,
                                     err);
}

struct locked_emitter {
    struct wn_emitter base;
    struct corpus_run *run;
};

static int locked_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct corpus_run *run = ((struct locked_emitter *)self)->run;
    int rc;

    pthread_mutex_lock(&run->lock);
    rc = wn_emit(&run->out.emitter, task);
    pthread_mutex_unlock(&run->lock);
    return rc;
}

struct corpus_rank {
    struct corpus_run *run;
    uint32_t rank;
};

static void *corpus_rank_main(void *arg)
{
    struct corpus_rank *cr = arg;
    struct corpus_run *run = cr->run;
    const struct wn_shuffle_stage_ops *hooks = run->desc->shuffle;
    struct wn_error *err = &run->err[cr->rank];
    struct locked_emitter emitter = { { locked_emit, { NULL } }, run };
    struct provider_sink sink;
    struct wn_shuffle *sh = NULL;
    void *state = NULL;
    int rc;

    rc = run->desc->ops->create(run->params, &state, err);
    if (rc == 0)
        rc = wn_ucx_shuffle_ops.open(run->group, cr->rank, &sh, err);
    memset(&sink, 0, sizeof(sink));
    sink.base.struct_size = sizeof(sink.base);
    sink.base.num_partitions = run->num_partitions;
    sink.base.insert = provider_insert;
    sink.shuffle = sh;
    /* Batches of one task, round robin over the ranks. */
    for (uint32_t t = cr->rank; rc == 0 && t < TASKS; t += RANKS)
        rc = hooks->insert(state, &run->tasks[t], 1, &sink.base, err);
    if (rc == 0)
        rc = wn_ucx_shuffle_ops.insert_finished(sh, err);
    for (uint32_t p = cr->rank; rc == 0 && p < run->num_partitions; p += RANKS) {
        struct wn_shuffle_partition part = { sizeof(part),
                                             p,
                                             run->num_partitions,
                                             cr->rank,
                                             RANKS,
                                             "exact_dedup",
                                             "corpus",
                                             { NULL },
                                             0,
                                             1 };
        struct wn_table rows;

        rc = wn_ucx_shuffle_ops.extract(sh, p, &rows, err);
        if (rc == 0)
            rc = hooks->extract(state, &part, &rows, &emitter.base, err);
        wn_table_release(&rows);
    }
    wn_ucx_shuffle_ops.close(sh);
    if (state != NULL)
        run->desc->ops->destroy(state);
    run->rc[cr->rank] = rc;
    return NULL;
}

/* Document i's text: groups of duplicates of sizes 1..5, spread over the tasks. */
static void corpus_text(size_t i, char *buf, size_t size)
{
    size_t group = i / 3;

    if (i % 7 == 0)
        snprintf(buf, size, "unique document number %zu with its own words", i);
    else
        snprintf(buf, size, "shared text of group %zu, repeated across tasks", group % 150);
}

static void test_a_corpus_with_known_duplicates_keeps_exactly_the_expected_survivors(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_shuffle_group_config config;
    struct corpus_run run;
    struct corpus_rank ranks[RANKS];
    pthread_t threads[RANKS];
    size_t n_docs = TASKS * DOCS_PER_TASK;
    char(*texts)[96] = calloc(n_docs, sizeof(*texts));
    char *dir = harness_mkdtemp(), *path, *json, *removed;
    uint8_t *expect_kept = calloc(n_docs, 1), *seen = calloc(n_docs, 1);
    size_t expect_survivors = 0, survivors = 0, lines = 0, len;
    int ok = 1;

    memset(&run, 0, sizeof(run));
    pthread_mutex_init(&run.lock, NULL);
    harness_sink_init(&run.out);
    run.desc = harness_stage("exact_dedup");
    CU_ASSERT_EQUAL_FATAL(asprintf(&path, "%s/removed.jsonl", dir) > 0, 1);
    CU_ASSERT_EQUAL_FATAL(asprintf(&json, "{\"removed_ids_path\": \"%s\"}", path) > 0, 1);
    run.params = harness_params("exact_dedup", json, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(run.params);
    /* Ids "doc<i>" zero-padded, so string order is number order; the first
     * document of each text is the expected survivor. */
    for (size_t i = 0; i < n_docs; i++) {
        corpus_text(i, texts[i], sizeof(texts[i]));
        expect_kept[i] = 1;
        for (size_t j = 0; j < i && expect_kept[i]; j++)
            if (strcmp(texts[i], texts[j]) == 0)
                expect_kept[i] = 0;
        expect_survivors += expect_kept[i];
    }
    for (size_t t = 0; t < TASKS; t++) {
        const char *ids[DOCS_PER_TASK], *tx[DOCS_PER_TASK];
        char idbuf[DOCS_PER_TASK][16], name[16];

        for (size_t k = 0; k < DOCS_PER_TASK; k++) {
            /* Task t holds documents t, t + TASKS, ...: duplicates span tasks. */
            size_t i = k * TASKS + t;

            snprintf(idbuf[k], sizeof(idbuf[k]), "doc%05zu", i);
            ids[k] = idbuf[k];
            tx[k] = texts[i];
        }
        snprintf(name, sizeof(name), "in_%zu", t);
        run.tasks[t] = docs_task(name, ids, tx, DOCS_PER_TASK);
    }
    CU_ASSERT_EQUAL(run.desc->ops->setup_on_node(
                        &(struct wn_stage_env){
                            sizeof(struct wn_stage_env), "exact_dedup", run.params, { NULL } },
                        &err),
                    0);
    run.num_partitions = wn_shuffle_num_partitions(run.desc->shuffle, run.params, TASKS);
    CU_ASSERT_EQUAL(run.num_partitions, TASKS);
    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = "exact_dedup";
    config.num_ranks = RANKS;
    config.num_partitions = run.num_partitions;
    config.timeout_s = 30;
    CU_ASSERT_EQUAL_FATAL(wn_ucx_shuffle_ops.group_create(&config, &run.group, &err), 0);
    for (uint32_t r = 0; r < RANKS; r++) {
        ranks[r].run = &run;
        ranks[r].rank = r;
        pthread_create(&threads[r], NULL, corpus_rank_main, &ranks[r]);
    }
    for (uint32_t r = 0; r < RANKS; r++) {
        pthread_join(threads[r], NULL);
        CU_ASSERT_EQUAL(run.rc[r], 0);
        if (run.rc[r] != 0)
            fprintf(stderr, "rank %u: %s\n", r, run.err[r].message);
    }
    wn_ucx_shuffle_ops.group_destroy(run.group);
    for (size_t o = 0; o < run.out.count; o++) {
        const struct wn_table *t = wn_task_table(run.out.tasks[o]);

        for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
            const char *id = wn_table_get_utf8(t, 0, r, &len);
            char digits[16] = { 0 };
            size_t i;

            /* Cells are not NUL-terminated: copy the digits out first. */
            memcpy(digits, id + 3, len > 3 && len - 3 < sizeof(digits) ? len - 3 : 0);
            i = (size_t)strtoul(digits, NULL, 10);

            if (i >= n_docs || seen[i] || !expect_kept[i])
                ok = 0;
            else
                seen[i] = 1;
            survivors++;
        }
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(survivors, expect_survivors);
    CU_ASSERT(expect_survivors < n_docs / 2);
    removed = harness_read(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(removed);
    for (const char *p = removed; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    CU_ASSERT_EQUAL(lines, n_docs - expect_survivors);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(removed, "{\"id\": \"doc00002\", \"duplicate_of\": \"doc00001\"}\n"));
    free(removed);
    for (size_t t = 0; t < TASKS; t++)
        wn_task_free(run.tasks[t]);
    harness_sink_clear(&run.out);
    wn_params_free(run.params);
    pthread_mutex_destroy(&run.lock);
    harness_remove_tree(dir);
    free(dir);
    free(path);
    free(json);
    free(texts);
    free(expect_kept);
    free(seen);
}
#endif

int main(void)
{
    static const struct wn_test tests[] = {
        { "hash is MurmurHash3_x64_128", test_hash_is_murmurhash3_x64_128 },
        { "partition count follows param or rule", test_partition_count_follows_param_or_rule },
        { "extract keeps the smallest id of each text and lists the removed",
          test_extract_keeps_the_smallest_id_of_each_text_and_lists_the_removed },
        { "integer ids compare as numbers", test_integer_ids_compare_as_numbers },
        { "an empty partition emits nothing", test_an_empty_partition_emits_nothing },
        { "insert routes equal texts to one partition and names missing columns",
          test_insert_routes_equal_texts_to_one_partition_and_names_missing_columns },
#ifdef HAVE_UCX
        { "a corpus with known duplicates keeps exactly the expected survivors",
          test_a_corpus_with_known_duplicates_keeps_exactly_the_expected_survivors },
#endif
        { NULL, NULL }
    };

    return wn_test_run_suite("exact_dedup", tests, NULL, NULL);
}
