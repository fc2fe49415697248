/* wn_ucx_worker_*: one rank's UCX context, worker and endpoints. */
#include "build_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

#include "clock.h"
#include "worker.h"

#define LOG_DOMAIN "ucx"

static int ucx_fail(struct wn_ucx_worker *w, int code, const char *what, ucs_status_t status,
                    struct wn_error *err)
{
    return wn_error_set(err, code, "%s: rank %u: %s failed: %s", w->label, w->rank, what,
                        ucs_status_string(status));
}

int wn_ucx_worker_init(struct wn_ucx_worker *w, const struct wn_ucx_worker_config *cfg,
                       struct wn_error *err)
{
    ucp_config_t *config = NULL;
    ucp_params_t params;
    ucp_worker_params_t wparams;
    const char *tls = getenv("UCX_TLS");
    ucs_status_t status;
    int rc = 0;

    memset(w, 0, sizeof(*w));
    w->event_fd = -1;
    snprintf(w->label, sizeof(w->label), "%s", cfg->label ? cfg->label : "ucx");
    w->rank = cfg->rank;
    w->size = cfg->size;
    status = ucp_config_read(NULL, NULL, &config);
    if (status != UCS_OK) {
        rc = ucx_fail(w, WN_EIO, "reading the UCX configuration (ucp_config_read)", status, err);
        goto out;
    }
    if (tls != NULL && tls[0] == '\0') {
        /* UCX aborts on an empty transport list; "all" is what unset means. */
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s: UCX_TLS is set but empty: using all transports",
               w->label);
        ucp_config_modify(config, "TLS", "all");
    }
    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                        UCP_PARAM_FIELD_ESTIMATED_NUM_EPS | UCP_PARAM_FIELD_ESTIMATED_NUM_PPN;
    params.features = UCP_FEATURE_TAG | cfg->features | (cfg->wakeup ? UCP_FEATURE_WAKEUP : 0);
    params.mt_workers_shared = 0;
    params.estimated_num_eps = cfg->size;
    params.estimated_num_ppn = cfg->size;
    status = ucp_init(&params, config, &w->context);
    if (status != UCS_OK) {
        w->context = NULL;
        rc = ucx_fail(w, WN_EIO, "creating the UCX context (ucp_init)", status, err);
        goto out_config;
    }
    memset(&wparams, 0, sizeof(wparams));
    wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
    status = ucp_worker_create(w->context, &wparams, &w->worker);
    if (status != UCS_OK) {
        w->worker = NULL;
        rc = ucx_fail(w, WN_EIO, "creating the UCX worker (ucp_worker_create)", status, err);
        goto out_fini;
    }
    status = ucp_worker_get_address(w->worker, &w->address, &w->address_len);
    if (status != UCS_OK) {
        w->address = NULL;
        rc = ucx_fail(w, WN_EIO, "querying the worker address", status, err);
        goto out_fini;
    }
    if (cfg->wakeup) {
        status = ucp_worker_get_efd(w->worker, &w->event_fd);
        if (status != UCS_OK) {
            w->event_fd = -1;
            rc = ucx_fail(w, WN_EIO, "getting the worker's event fd", status, err);
            goto out_fini;
        }
    }
    goto out_config;

out_fini:
    wn_ucx_worker_fini(w);
out_config:
    ucp_config_release(config);
out:
    return rc;
}

int wn_ucx_worker_connect(struct wn_ucx_worker *w, struct wn_ucx_bootstrap *bs, double timeout_s,
                          int connect_self, struct wn_error *err)
{
    struct wn_ucx_blobs *addresses = NULL;
    ucp_ep_params_t params;
    int rc;

    rc = wn_ucx_bootstrap_allgather(bs, w->address, w->address_len, timeout_s, &addresses, err);
    if (rc < 0)
        goto out;
    w->eps = calloc(w->size, sizeof(*w->eps));
    if (w->eps == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: rank %u: out of memory for endpoints", w->label,
                          w->rank);
        goto out_free;
    }
    for (uint32_t peer = 0; peer < w->size; peer++) {
        ucs_status_t status;

        if (peer == w->rank && !connect_self)
            continue;
        memset(&params, 0, sizeof(params));
        params.field_mask =
            UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
        params.address = addresses->blob[peer].data;
        params.err_mode = UCP_ERR_HANDLING_MODE_NONE;
        status = ucp_ep_create(w->worker, &params, &w->eps[peer]);
        if (status != UCS_OK) {
            w->eps[peer] = NULL;
            rc = wn_error_set(err, WN_EIO, "%s: rank %u: connecting to rank %u failed: %s",
                              w->label, w->rank, peer, ucs_status_string(status));
            goto out_free;
        }
    }
out_free:
    wn_ucx_blobs_free(addresses);
out:
    return rc;
}

int wn_ucx_worker_wait(struct wn_ucx_worker *w, ucs_status_ptr_t request, double deadline,
                       struct wn_ucx_bootstrap *bs, const char *what, struct wn_error *err)
{
    ucs_status_t status;
    char reason[512];
    int rc = 0;

    if (request == NULL)
        return 0;
    if (UCS_PTR_IS_ERR(request))
        return ucx_fail(w, WN_EIO, what, UCS_PTR_STATUS(request), err);
    for (unsigned spins = 0;; spins++) {
        status = ucp_request_check_status(request);
        if (status != UCS_INPROGRESS)
            break;
        ucp_worker_progress(w->worker);
        if ((spins & 255) != 0)
            continue;
        if (bs != NULL && wn_ucx_bootstrap_aborted(bs, reason, sizeof(reason))) {
            rc = wn_error_set(err, WN_ECANCELED, "%s: rank %u: %s aborted: %s", w->label, w->rank,
                              what, reason);
            goto out_cancel;
        }
        if (wn_ucx_now() > deadline) {
            rc = wn_error_set(err, WN_ETIMEDOUT, "%s: rank %u: %s timed out", w->label, w->rank,
                              what);
            goto out_cancel;
        }
    }
    if (status != UCS_OK)
        rc = ucx_fail(w, WN_EIO, what, status, err);
    ucp_request_free(request);
    return rc;

out_cancel:
    /* Receives cancel; a send cannot, and the freed request is released by
     * UCX once it completes or the worker goes. */
    ucp_request_cancel(w->worker, request);
    ucp_request_free(request);
    return rc;
}

void wn_ucx_worker_disconnect(struct wn_ucx_worker *w, double timeout_s)
{
    ucs_status_ptr_t *closing;
    double deadline = wn_ucx_now() + timeout_s;
    ucp_request_param_t param;
    size_t pending = 0;

    if (w->eps == NULL)
        return;
    closing = calloc(w->size, sizeof(*closing));
    memset(&param, 0, sizeof(param));
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = 0; /* flush, never FORCE: see PITFALLS (ERR_HANDLING_MODE_NONE) */
    for (uint32_t peer = 0; peer < w->size; peer++) {
        ucs_status_ptr_t req;

        if (w->eps[peer] == NULL)
            continue;
        req = ucp_ep_close_nbx(w->eps[peer], &param);
        w->eps[peer] = NULL;
        if (req == NULL || UCS_PTR_IS_ERR(req))
            continue;
        if (closing == NULL) {
            ucp_request_free(req);
            continue;
        }
        closing[peer] = req;
        pending++;
    }
    while (pending > 0 && wn_ucx_now() < deadline) {
        ucp_worker_progress(w->worker);
        for (uint32_t peer = 0; peer < w->size; peer++) {
            if (closing[peer] == NULL || ucp_request_check_status(closing[peer]) == UCS_INPROGRESS)
                continue;
            ucp_request_free(closing[peer]);
            closing[peer] = NULL;
            pending--;
        }
    }
    if (pending > 0) {
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "%s: rank %u: %zu endpoint(s) still flushing after %.3g s; releasing them", w->label,
               w->rank, pending, timeout_s);
        for (uint32_t peer = 0; peer < w->size; peer++)
            if (closing[peer] != NULL)
                ucp_request_free(closing[peer]);
    }
    free(closing);
    free(w->eps);
    w->eps = NULL;
}

void wn_ucx_worker_fini(struct wn_ucx_worker *w)
{
    if (w->eps != NULL)
        wn_ucx_worker_disconnect(w, 1.0);
    if (w->address != NULL)
        ucp_worker_release_address(w->worker, w->address);
    w->address = NULL;
    if (w->worker != NULL)
        ucp_worker_destroy(w->worker);
    w->worker = NULL;
    w->event_fd = -1;
    if (w->context != NULL)
        ucp_cleanup(w->context);
    w->context = NULL;
}

int wn_ucx_worker_transports(struct wn_ucx_worker *w, uint32_t peer, char *buf, size_t size)
{
    char *text = NULL;
    size_t text_len = 0;
    size_t used = 0;
    FILE *stream;

    if (size > 0)
        buf[0] = '\0';
    if (w->eps == NULL || peer >= w->size || w->eps[peer] == NULL)
        return WN_ENOTFOUND;
    stream = open_memstream(&text, &text_len);
    if (stream == NULL)
        return WN_ENOMEM;
    ucp_ep_print_info(w->eps[peer], stream);
    fclose(stream);
    /* Lines read "#   lane[0]:  3:sysv/memory.0 md[2] -> ... am am_bw#0".
     * strtok_r: every rank's thread may be here at once. */
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *lane = strstr(line, "lane[");
        char *tl;
        size_t len;

        if (lane == NULL || (tl = strchr(lane, ':')) == NULL)
            continue;
        tl++;
        tl += strspn(tl, " ");
        tl += strspn(tl, "0123456789");
        if (*tl == ':')
            tl++;
        len = strcspn(tl, " ");
        if (len > 2 && tl[len - 2] == '.')
            len -= 2; /* "memory.0" -> "memory" */
        if (used + len + 2 > size)
            break;
        used += (size_t)snprintf(buf + used, size - used, "%s%.*s", used ? " " : "", (int)len, tl);
    }
    free(text);
    return 0;
}
