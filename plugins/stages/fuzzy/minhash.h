/* The minhash stage (minhash.c). */
#ifndef WINNOW_FUZZY_MINHASH_H
#define WINNOW_FUZZY_MINHASH_H

#include <winnow/stage.h>

/* The signature column the minhash stage writes (and the lsh stage reads). */
#define FUZZY_MINHASH_SIGNATURE_COLUMN "_minhash_signature"

extern const struct wn_stage_desc fuzzy_minhash_stage;

#endif /* WINNOW_FUZZY_MINHASH_H */
