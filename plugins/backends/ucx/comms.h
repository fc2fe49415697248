/*
 * ucx plugin — the ucx comms provider: the wn_comms interface over UCX tag
 * messages, in host memory, so that COMMS stages run without a GPU.
 *
 * Each rank owns a UCX context and worker on its actor thread (worker.h),
 * wired up through the bootstrap seam (bootstrap.h; in-process today).
 * Collectives are built from tagged point-to-point messages; every wait
 * polls the group's abort flag and the timeout (timeout_s).  Device memory
 * is refused with WN_EUNSUPPORTED.
 */
#ifndef WN_UCX_COMMS_H
#define WN_UCX_COMMS_H

#include <winnow/comms.h>
#include <winnow/params.h>

/* The provider's params and ops, for the plugin's descriptor. */
extern const struct wn_param_spec wn_ucx_comms_params[];
extern const struct wn_comms_provider_ops wn_ucx_comms_provider_ops;

#endif /* WN_UCX_COMMS_H */
