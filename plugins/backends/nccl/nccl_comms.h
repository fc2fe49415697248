/*
 * nccl — the nccl comms provider: one CUDA device per rank, NCCL collectives
 * on a stream of the rank's own, host buffers staged through device memory.
 * Every wait polls ncclCommGetAsyncError, the group's abort flag and the
 * timeout; a failed or timed-out rank aborts its communicator
 * (ncclCommAbort), never ncclCommDestroy, which can block forever.
 */
#ifndef WINNOW_NCCL_COMMS_H
#define WINNOW_NCCL_COMMS_H

#include <winnow/comms.h>
#include <winnow/params.h>

/* The provider's params (timeout_s) and ops, for the plugin's descriptor. */
extern const struct wn_param_spec wn_nccl_params[];
extern const struct wn_comms_provider_ops wn_nccl_provider_ops;

#endif /* WINNOW_NCCL_COMMS_H */
