/*
 * winnow — shuffles: the hooks of a SHUFFLE stage, and the provider that
 * moves its rows between ranks (RapidsMPF's Shuffler, in the seed).
 *
 * A shuffle runs in three phases over N ranks (one shuffle actor each) and P
 * partitions, partition p being owned by rank p % N (round robin):
 *
 *   insert           batches of input tasks, unordered over the ranks: the
 *                    stage's insert hook hands each row to a partition;
 *   insert_finished  on every rank: returns once every partition the rank
 *                    owns holds all its rows, from every rank;
 *   extract          on every rank in parallel: for each partition it owns,
 *                    the stage's extract hook gets the partition's rows as
 *                    one table and emits output tasks.
 *
 * A stage may ask for several ROUNDS (num_rounds hook, version 2): the three
 * phases then run once per round, each round over the same input tasks and a
 * fresh shuffle group, and the outputs of round 0 come first, then round 1's,
 * and so on.  The insert hook reads the round from the sink
 * (wn_shuffle_sink_round), so each round can hand over a different part of
 * every row (LSH: some of the bands), bounding the shuffle's memory by one
 * round.
 *
 * Stage authors implement struct wn_shuffle_stage_ops and point their stage
 * descriptor's `shuffle` field at it.  Shuffle providers (backend plugins
 * of kind WN_BACKEND_SHUFFLE) implement struct wn_shuffle_provider_ops;
 * executors drive both.
 */
#ifndef WINNOW_SHUFFLE_H
#define WINNOW_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/params.h>
#include <winnow/stage.h>
#include <winnow/table.h>
#include <winnow/task.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the stage side -------------------------------------------------------- */

/* Where an insert hook hands rows.  Owned by the executor; valid during the
 * insert hook call only. */
struct wn_shuffle_sink {
    uint32_t struct_size;
    uint32_t num_partitions; /* P: a row goes to a partition in [0, P) */
    /* Hands row i of rows to partition partitions[i], for every row.  Copies
     * what it keeps: rows and partitions stay the caller's.  May block while
     * earlier rows are still on their way (bounded by the shuffle's timeout). */
    int (*insert)(struct wn_shuffle_sink *self, const struct wn_table *rows,
                  const uint32_t *partitions, struct wn_error *err);
    void *reserved[4];
    /* Since struct_size covers them (read with wn_shuffle_sink_round): */
    uint32_t round;      /* the round being inserted, 0 .. num_rounds-1 */
    uint32_t num_rounds; /* >= 1 */
};

/* The round a sink belongs to: 0 for an executor that predates rounds. */
static inline uint32_t wn_shuffle_sink_round(const struct wn_shuffle_sink *sink)
{
    if (sink->struct_size < offsetof(struct wn_shuffle_sink, round) + sizeof(sink->round))
        return 0;
    return sink->round;
}

/* Calls sink->insert; for readability in insert hooks. */
static inline int wn_shuffle_insert(struct wn_shuffle_sink *sink, const struct wn_table *rows,
                                    const uint32_t *partitions, struct wn_error *err)
{
    return sink->insert(sink, rows, partitions, err);
}

/* What an extract hook is told about the partition it is given. */
struct wn_shuffle_partition {
    uint32_t struct_size;
    uint32_t index; /* the partition, 0 .. num_partitions-1 */
    uint32_t num_partitions;
    uint32_t rank; /* the rank extracting it: index % num_ranks */
    uint32_t num_ranks;
    const char *stage_name; /* the configured name */
    const char *dataset;    /* the dataset of the stage's input tasks, or NULL */
    void *reserved[4];
    /* Since struct_size covers them (read with wn_shuffle_partition_round): */
    uint32_t round;      /* the round being extracted, 0 .. num_rounds-1 */
    uint32_t num_rounds; /* >= 1 */
};

/* The round a partition belongs to: 0 for an executor that predates rounds. */
static inline uint32_t wn_shuffle_partition_round(const struct wn_shuffle_partition *partition)
{
    if (partition->struct_size <
        offsetof(struct wn_shuffle_partition, round) + sizeof(partition->round))
        return 0;
    return partition->round;
}

/* How many partitions a shuffle has when the stage's params do not say
 * (the seed's rules; n = number of input tasks of the stage). */
enum wn_shuffle_partitioning {
    WN_SHUFFLE_PARTITIONS_PER_TASK = 0, /* P = max(1, n) */
    WN_SHUFFLE_PARTITIONS_POW2 = 1      /* P = the largest power of two <= max(1, n) (LSH) */
};

/* Version 2 added num_rounds. */
#define WN_SHUFFLE_STAGE_OPS_VERSION 2
struct wn_shuffle_stage_ops {
    uint32_t version; /* WN_SHUFFLE_STAGE_OPS_VERSION (1: no num_rounds) */
    enum wn_shuffle_partitioning partitioning;
    /* Name of an INT param of the stage which, when given and > 0, sets P;
     * NULL when the stage has none. */
    const char *partitions_param;
    /*
     * Hands the rows of in[0..n_in) to the sink (wn_shuffle_insert), keyed
     * by partition.  Called on a shuffle actor's thread with the instance
     * that actor's create/setup made (state); the executor owns the inputs
     * and frees them after the call.
     */
    int (*insert)(void *state, struct wn_task **in, size_t n_in, struct wn_shuffle_sink *sink,
                  struct wn_error *err);
    /*
     * Turns the rows of one partition the calling rank owns into output
     * tasks (wn_emit).  rows holds every row inserted into the partition,
     * from every rank; a partition nothing was inserted into comes as a table
     * with no rows and no columns.  The hook may move the table out
     * (wn_table_move); the executor releases whatever is left in *rows.
     */
    int (*extract)(void *state, const struct wn_shuffle_partition *partition, struct wn_table *rows,
                   struct wn_emitter *out, struct wn_error *err);
    void *reserved[4];
    /*
     * Version 2, may be NULL (one round): how many rounds the shuffle runs
     * for these params (>= 1 in *rounds), or a negative WN_E* with err
     * filled when the params make no sense.  Driver thread, before any actor
     * is created.  Each round inserts every input task again, so the inputs
     * stay alive until the last round's insert.
     */
    int (*num_rounds)(const struct wn_params *params, uint32_t *rounds, struct wn_error *err);
};

/* The stage's partition count for n_input_tasks inputs: the partitions
 * param when given and > 0, else the stage's partitioning rule. */
static inline uint32_t wn_shuffle_num_partitions(const struct wn_shuffle_stage_ops *ops,
                                                 const struct wn_params *params,
                                                 size_t n_input_tasks)
{
    size_t n = n_input_tasks > 0 ? n_input_tasks : 1;
    uint32_t p = 1;

    if (ops->partitions_param != NULL && params != NULL &&
        wn_params_has(params, ops->partitions_param)) {
        int64_t given = wn_params_get_int(params, ops->partitions_param);

        if (given > 0)
            return given > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)given;
    }
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    if (ops->partitioning != WN_SHUFFLE_PARTITIONS_POW2)
        return (uint32_t)n;
    while ((size_t)p * 2 <= n && p < (UINT32_C(1) << 31))
        p *= 2;
    return p;
}

/* The rank that owns partition p among num_ranks ranks (round robin). */
static inline uint32_t wn_shuffle_owner(uint32_t partition, uint32_t num_ranks)
{
    return partition % num_ranks;
}

/* ---- the provider side (backend plugins of kind WN_BACKEND_SHUFFLE) ------- */

struct wn_shuffle_group; /* the provider's: one shuffle, all its ranks */
struct wn_shuffle;       /* the provider's: one rank of a group */

/* What an executor asks of a new shuffle. */
struct wn_shuffle_group_config {
    uint32_t struct_size;    /* sizeof(struct wn_shuffle_group_config) */
    const char *stage_name;  /* names the shuffle in every message */
    uint32_t num_ranks;      /* N >= 1 */
    uint32_t num_partitions; /* P >= 1 */
    /* The provider's params, validated against its descriptor's spec; NULL
     * means every default. */
    const struct wn_params *params;
    /* Limit of every wait in seconds; 0 means the provider's own setting. */
    double timeout_s;
    void *reserved[4];
};

/* Version 2 added stage_end. */
#define WN_SHUFFLE_PROVIDER_OPS_VERSION 2
struct wn_shuffle_provider_ops {
    uint32_t version; /* WN_SHUFFLE_PROVIDER_OPS_VERSION (1: no stage_end) */
    /* Driver: creates the group (nothing is connected yet). */
    int (*group_create)(const struct wn_shuffle_group_config *config,
                        struct wn_shuffle_group **group, struct wn_error *err);
    /* Collective, on the thread that will drive rank: wires the rank up with
     * the others; every rank calls it concurrently.  On failure *shuffle is
     * NULL and the group is aborted. */
    int (*open)(struct wn_shuffle_group *group, uint32_t rank, struct wn_shuffle **shuffle,
                struct wn_error *err);
    /* The rank's thread: hands row i of rows to partitions[i], for every row
     * (copied: rows stay the caller's). */
    int (*insert)(struct wn_shuffle *shuffle, const struct wn_table *rows,
                  const uint32_t *partitions, struct wn_error *err);
    /* Collective: the rank inserts nothing more; returns once every partition
     * it owns holds all its rows. */
    int (*insert_finished)(struct wn_shuffle *shuffle, struct wn_error *err);
    /* After insert_finished: moves the rows of partition (owned by this rank,
     * each at most once) into *out, which the caller then owns. */
    int (*extract)(struct wn_shuffle *shuffle, uint32_t partition, struct wn_table *out,
                   struct wn_error *err);
    /* The rank's thread: releases the rank (after a bounded wait for the
     * others, unless the group was aborted).  NULL is fine. */
    void (*close)(struct wn_shuffle *shuffle);
    /* Any thread: aborts the group; every current and later wait of every
     * rank ends with an error that carries reason. */
    void (*group_abort)(struct wn_shuffle_group *group, const char *reason);
    /* Driver, once every opened rank is closed: frees the group and removes
     * whatever it wrote (spill files).  NULL is fine. */
    void (*group_destroy)(struct wn_shuffle_group *group);
    void *reserved[4];
    /*
     * Version 2, may be NULL: the executor is done with the SHUFFLE stage
     * stage_name (params: its provider params, as in its groups' config,
     * NULL for every default): every round ran, or the stage failed or was
     * stopped.  Driver, once per run of the stage, after its last
     * group_create (or instead of any, when the stage failed before), on
     * success and failure alike; ranks of a failed stage's last group may
     * still be closing.  A provider may keep memory between the groups of a
     * stage (its rounds, which come as fresh groups) and drops it here.
     * Executors that predate version 2 never call it: such memory then
     * stays until the provider is unloaded.
     */
    void (*stage_end)(const char *stage_name, const struct wn_params *params);
};

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_SHUFFLE_H */
