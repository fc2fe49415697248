/* Reduction kernels of the ucx comms provider: one loop per type and op. */
#include "build_config.h"

#include <stddef.h>
#include <stdint.h>

#include "comms_internal.h"

/* inout[i] = EXPR(x = inout[i], y = in[i]) over count elements of type T. */
#define REDUCE_LOOP(T, EXPR)                                                                       \
    do {                                                                                           \
        T *a_ = (T *)inout;                                                                        \
        const T *b_ = (const T *)in;                                                               \
        for (size_t i_ = 0; i_ < count; i_++) {                                                    \
            T x = a_[i_], y = b_[i_];                                                              \
            a_[i_] = (T)(EXPR);                                                                    \
        }                                                                                          \
    } while (0)

/* The four ops on type T; U is T's unsigned twin, so that sums and products
 * wrap instead of overflowing. */
#define REDUCE_TYPE(T, U)                                                                          \
    do {                                                                                           \
        switch (op) {                                                                              \
        case WN_COMMS_SUM: REDUCE_LOOP(T, (U)x + (U)y); return;                                    \
        case WN_COMMS_PROD: REDUCE_LOOP(T, (U)x *(U)y); return;                                    \
        case WN_COMMS_MIN: REDUCE_LOOP(T, y < x ? y : x); return;                                  \
        case WN_COMMS_MAX: REDUCE_LOOP(T, y > x ? y : x); return;                                  \
        }                                                                                          \
    } while (0)

#define REDUCE_FLOAT(T)                                                                            \
    do {                                                                                           \
        switch (op) {                                                                              \
        case WN_COMMS_SUM: REDUCE_LOOP(T, x + y); return;                                          \
        case WN_COMMS_PROD: REDUCE_LOOP(T, x *y); return;                                          \
        case WN_COMMS_MIN: REDUCE_LOOP(T, y < x ? y : x); return;                                  \
        case WN_COMMS_MAX: REDUCE_LOOP(T, y > x ? y : x); return;                                  \
        }                                                                                          \
    } while (0)

/* out[i] = EXPR(x = a[i], y = b[i]) over count elements of type T (out may be a). */
#define REDUCE_TO_LOOP(T, EXPR)                                                                    \
    do {                                                                                           \
        T *o_ = (T *)out;                                                                          \
        const T *a_ = (const T *)a, *b_ = (const T *)b;                                            \
        for (size_t i_ = 0; i_ < count; i_++) {                                                    \
            T x = a_[i_], y = b_[i_];                                                              \
            o_[i_] = (T)(EXPR);                                                                    \
        }                                                                                          \
    } while (0)

#define REDUCE_TO_TYPE(T, U)                                                                       \
    do {                                                                                           \
        switch (op) {                                                                              \
        case WN_COMMS_SUM: REDUCE_TO_LOOP(T, (U)x + (U)y); return;                                 \
        case WN_COMMS_PROD: REDUCE_TO_LOOP(T, (U)x *(U)y); return;                                 \
        case WN_COMMS_MIN: REDUCE_TO_LOOP(T, y < x ? y : x); return;                               \
        case WN_COMMS_MAX: REDUCE_TO_LOOP(T, y > x ? y : x); return;                               \
        }                                                                                          \
    } while (0)

#define REDUCE_TO_FLOAT(T)                                                                         \
    do {                                                                                           \
        switch (op) {                                                                              \
        case WN_COMMS_SUM: REDUCE_TO_LOOP(T, x + y); return;                                       \
        case WN_COMMS_PROD: REDUCE_TO_LOOP(T, x *y); return;                                       \
        case WN_COMMS_MIN: REDUCE_TO_LOOP(T, y < x ? y : x); return;                               \
        case WN_COMMS_MAX: REDUCE_TO_LOOP(T, y > x ? y : x); return;                               \
        }                                                                                          \
    } while (0)

void wn_ucx_comms_reduce_to(enum wn_comms_dtype dtype, enum wn_comms_op op, void *out,
                            const void *a, const void *b, size_t count)
{
    switch (dtype) {
    case WN_COMMS_INT32: REDUCE_TO_TYPE(int32_t, uint32_t); return;
    case WN_COMMS_INT64: REDUCE_TO_TYPE(int64_t, uint64_t); return;
    case WN_COMMS_UINT64: REDUCE_TO_TYPE(uint64_t, uint64_t); return;
    case WN_COMMS_FLOAT32: REDUCE_TO_FLOAT(float); return;
    case WN_COMMS_FLOAT64: REDUCE_TO_FLOAT(double); return;
    case WN_COMMS_UINT8: REDUCE_TO_TYPE(uint8_t, unsigned); return;
    }
}

int wn_ucx_comms_op_valid(enum wn_comms_op op)
{
    return op == WN_COMMS_SUM || op == WN_COMMS_PROD || op == WN_COMMS_MIN || op == WN_COMMS_MAX;
}

void wn_ucx_comms_reduce(enum wn_comms_dtype dtype, enum wn_comms_op op, void *inout,
                         const void *in, size_t count)
{
    switch (dtype) {
    case WN_COMMS_INT32: REDUCE_TYPE(int32_t, uint32_t); return;
    case WN_COMMS_INT64: REDUCE_TYPE(int64_t, uint64_t); return;
    case WN_COMMS_UINT64: REDUCE_TYPE(uint64_t, uint64_t); return;
    case WN_COMMS_FLOAT32: REDUCE_FLOAT(float); return;
    case WN_COMMS_FLOAT64: REDUCE_FLOAT(double); return;
    case WN_COMMS_UINT8: REDUCE_TYPE(uint8_t, unsigned); return;
    }
}
