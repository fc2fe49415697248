/*
 * drop_empty: the minimal stage plugin shown in the README, built out of tree
 * against the installed SDK (see the Makefile beside it).  The test suite
 * compiles this very file, checks that the README shows it verbatim, and runs
 * a pipeline with it.
 */
#include <stdlib.h>

#include <winnow/winnow.h>

/* Drops every row whose "text" is empty. */
static int process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                   struct wn_error *err)
{
    (void)state;
    for (size_t i = 0; i < n_in; i++) {
        const struct wn_table *t = wn_task_table(in[i]);
        int64_t col = wn_table_column_index(t, "text"), rows = wn_table_num_rows(t);
        uint8_t *keep = malloc(rows ? (size_t)rows : 1);
        struct wn_table kept = { 0 };
        size_t len;
        int rc;

        if (col < 0 || keep == NULL) {
            free(keep);
            return wn_error_set(err, WN_EDATA, "task %s has no text column", wn_task_id(in[i]));
        }
        for (int64_t r = 0; r < rows; r++)
            keep[r] = wn_table_get_utf8(t, col, r, &len) != NULL && len > 0;
        rc = wn_table_filter(t, keep, &kept, err);
        free(keep);
        if (rc < 0 || (rc = wn_task_set_table(in[i], &kept, err)) < 0)
            return rc;
        wn_emit(out, wn_task_take(&in[i]));
    }
    return 0;
}

static const struct wn_stage_ops ops = { WN_STAGE_OPS_VERSION, .process_batch = process };
static const struct wn_stage_desc drop_empty = {
    WN_STAGE_HEADER, /* ABI version and size: always first */
    .name = "drop_empty",
    .summary = "Drops rows with an empty text column",
    .resources = { .cpus = 1 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .ops = &ops,
};
static const struct wn_stage_desc *const stages[] = { &drop_empty, NULL };
static const struct wn_plugin plugin = {
    WN_PLUGIN_HEADER, /* ABI version and size: always first */
    .name = "drop_empty", .version = "1.0", .license = "MIT", .summary = "An example stage",
    .stages = stages,
};
WN_PLUGIN_DEFINE(&plugin)
