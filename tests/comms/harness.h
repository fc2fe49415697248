/*
 * Test harness for comms providers: runs a function on N ranks (threads of
 * this process) of a group driven through the provider's ops in the
 * executor's order (group_new, root unique_id, concurrent rank_init, the
 * function, group_abort when any rank failed, rank_destroy, group_free), and
 * reference implementations of the collectives to compare with.
 */
#ifndef WINNOW_TESTS_COMMS_HARNESS_H
#define WINNOW_TESTS_COMMS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/comms.h>
#include <winnow/error.h>
#include <winnow/params.h>

#define WN_TEST_MAX_RANKS 16

/* What one rank runs; returns 0 or a negative code with *err set. */
typedef int (*wn_test_rank_fn)(struct wn_comms *comms, void *arg, struct wn_error *err);

/* How a run went, rank by rank. */
struct wn_test_ranks {
    uint32_t n;
    int init_rc[WN_TEST_MAX_RANKS]; /* rank_init's result */
    int rc[WN_TEST_MAX_RANKS];      /* the function's result (0 when init failed) */
    struct wn_error err[WN_TEST_MAX_RANKS];
    double rank_seconds[WN_TEST_MAX_RANKS]; /* rank_init start to function end */
    double seconds;                         /* the whole run, group_new to group_free */
    int group_rc;                           /* group_new's result */
};

/*
 * Runs fn(comms, arg) on n ranks of a group of provider ops.  Returns 0 when
 * every rank joined and fn returned 0 on all; otherwise the first failure's
 * code (details in *out).  params may be NULL.
 */
int wn_test_ranks_run(const struct wn_comms_provider_ops *ops, const struct wn_params *params,
                      uint32_t n, wn_test_rank_fn fn, void *arg, struct wn_test_ranks *out);

/* Validated provider params from JSON text ("{\"timeout_s\": 1}"); NULL on failure. */
struct wn_params *wn_test_params(const struct wn_param_spec *spec, const char *json);
void wn_test_params_free(struct wn_params *params);

/* ---- reference data and collectives ------------------------------------------ */

extern const enum wn_comms_dtype wn_test_dtypes[6];
extern const enum wn_comms_op wn_test_ops[4];
const char *wn_test_dtype_name(enum wn_comms_dtype dtype);
const char *wn_test_op_name(enum wn_comms_op op);

/* Fills buf[0..count) with rank's deterministic input for op (exact in every
 * type: small integers for SUM and PROD, the full range for MIN and MAX). */
void wn_test_fill(enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t rank, uint32_t salt,
                  void *buf, size_t count);

/* out[i] = op over ranks 0..n-1 of their wn_test_fill() inputs, with the
 * wrap-around of integer SUM and PROD, computed element by element. */
void wn_test_reference_reduce(enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t n,
                              uint32_t salt, void *out, size_t count);

/* Index of the first element where a and b differ, or -1. */
long wn_test_first_difference(const void *a, const void *b, size_t bytes, size_t element_size);

#endif /* WINNOW_TESTS_COMMS_HARNESS_H */
