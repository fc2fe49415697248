/*
 * The stage kinds actor_pool runs, and the barrier runner of each (see
 * executor.h, struct wn_ap_kind).  PLAIN stages stream in streaming mode and
 * run through this table in barrier mode; every other kind always runs here,
 * as a barrier.  Every runner starts its ranks as actors of the stage
 * (wn_ap_actor_start): GPU placement from the run's ledger, the device made
 * current before any hook, the timeout watch, counters, report rows and
 * trace slices are the same for every kind.  A new kind adds its runner in
 * its own file and one line below.
 */
#include "build_config.h"

#include <stddef.h>

#include "barrier.h"
#include "comms_stage.h"
#include "executor.h"
#include "shuffle_stage.h"

static const struct wn_ap_kind kinds[] = {
    { WN_STAGE_PLAIN, "plain", NULL, wn_ap_plain_barrier_run },
    { WN_STAGE_COMMS, "comms", wn_ap_comms_check, wn_ap_comms_run },
    { WN_STAGE_SHUFFLE, "shuffle", wn_ap_shuffle_check, wn_ap_shuffle_run },
};

const struct wn_ap_kind *wn_ap_kind_find(enum wn_stage_kind kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == kind)
            return &kinds[i];
    return NULL;
}
