/* The lsh stage (lsh.c): LSH buckets of MinHash signatures, over a shuffle. */
#ifndef WINNOW_FUZZY_LSH_H
#define WINNOW_FUZZY_LSH_H

#include <stdint.h>

#include <winnow/stage.h>

extern const struct wn_stage_desc fuzzy_lsh_stage;

/* The bucket id of band `band` (absolute: 0 .. num_bands-1) whose
 * rows_per_band signature values are values: a 64-bit hash of the band
 * number and the values, each as 4 little-endian bytes.  Pure; any thread. */
uint64_t fuzzy_lsh_bucket_id(uint32_t band, const uint32_t *values, uint32_t rows_per_band);

#endif /* WINNOW_FUZZY_LSH_H */
