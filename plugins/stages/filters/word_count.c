/*
 * word_count: keeps the rows whose text has at least min_words and at most
 * max_words words (NeMo Curator's WordCountFilter with whitespace splitting).
 * A null text has 0 words.
 */
#include "build_config.h"

#include <stdlib.h>

#include <winnow/plugin.h>

#include "text_filter.h"
#include "utf8.h"
#include "word_count.h"

#define STAGE_NAME "word_count"

struct word_count {
    struct filters_common common;
    uint64_t min_words;
    uint64_t max_words; /* UINT64_MAX: no upper bound */
};

/* ASCII whitespace of Python's str.isspace(): \t \n \v \f \r, U+001C-U+001F, space. */
static const uint8_t ascii_space[128] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1,
    [0x1C] = 1, [0x1D] = 1, [0x1E] = 1, [0x1F] = 1, [' '] = 1,
};

/* The rest of Python's str.isspace(), so counts match str.split(). */
static int is_space_beyond_ascii(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint64_t filters_count_words(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    uint64_t words = 0;
    unsigned in_word = 0;
    size_t i = 0;

    while (i < len) {
        unsigned space;

        if (p[i] < 0x80) {
            space = ascii_space[p[i]];
            i++;
        } else {
            uint32_t cp;

            i += stage_utf8_decode(p + i, len - i, &cp);
            space = (unsigned)is_space_beyond_ascii(cp);
        }
        words += !space & !in_word; /* a word starts here */
        in_word = !space;
    }
    return words;
}

static int keep_row(const void *config, const char *text, size_t len)
{
    const struct word_count *wc = config;
    uint64_t words = text ? filters_count_words(text, len) : 0;

    return words >= wc->min_words && words <= wc->max_words;
}

static void word_count_destroy(void *state)
{
    struct word_count *wc = state;

    if (wc == NULL)
        return;
    filters_common_clear(&wc->common);
    free(wc);
}

static int word_count_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct word_count *wc = calloc(1, sizeof(*wc));
    int rc;

    *state = NULL;
    if (wc == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    rc = filters_common_init(&wc->common, params, STAGE_NAME, err);
    if (rc < 0)
        goto out_destroy;
    wc->min_words = (uint64_t)wn_params_get_int(params, "min_words");
    wc->max_words = UINT64_MAX;
    if (wn_params_has(params, "max_words")) {
        wc->max_words = (uint64_t)wn_params_get_int(params, "max_words");
        if (wc->max_words < wc->min_words) {
            rc = wn_error_set(err, WN_ECONFIG,
                              "max_words (%llu) is below min_words (%llu): no row could pass",
                              (unsigned long long)wc->max_words, (unsigned long long)wc->min_words);
            goto out_destroy;
        }
    }
    *state = wc;
    return 0;

out_destroy:
    word_count_destroy(wc);
    return rc;
}

static int word_count_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct word_count *wc = state;

    return filters_common_setup(&wc->common, worker, err);
}

static int word_count_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                              struct wn_error *err)
{
    struct word_count *wc = state;

    return filters_run(&wc->common, keep_row, wc, in, n_in, out, err);
}

static const struct wn_param_spec word_count_params[] = {
    { "text_field", WN_PARAM_STRING, 0, "\"text\"", 0, 0, NULL, "the string column to count" },
    { "min_words", WN_PARAM_INT, WN_PARAM_HAS_MIN, "0", 0, 0, NULL, "fewest words a kept row has" },
    { "max_words", WN_PARAM_INT, WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "most words a kept row has (default: no limit)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops word_count_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = word_count_create,
    .setup = word_count_setup,
    .process_batch = word_count_process,
    .destroy = word_count_destroy,
};

const struct wn_stage_desc filters_word_count_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "keep rows whose text has between min_words and max_words words",
    .params = word_count_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .ops = &word_count_ops,
};
