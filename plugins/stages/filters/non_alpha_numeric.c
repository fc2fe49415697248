/*
 * non_alpha_numeric: keeps the rows whose ratio of non-alphanumeric code
 * points to all code points is at most max_ratio (NeMo Curator's
 * NonAlphaNumericFilter).  Empty or null text has ratio 1, as in NeMo, and is
 * therefore dropped unless max_ratio is 1.
 *
 * What counts as alphanumeric (filters_is_alphanumeric):
 *   - ASCII: the letters A-Z, a-z and the digits 0-9; everything else
 *     (space, newline, punctuation, controls) is not;
 *   - beyond ASCII, letters of every script count as alphanumeric (NeMo's
 *     regex counts only ASCII, which scores all non-Latin text as noise),
 *     except these punctuation and symbol blocks, which do not:
 *       U+0080-U+00BF Latin-1 controls, punctuation and symbols (but the
 *                     letters ª µ º), U+00D7 ×, U+00F7 ÷;
 *       U+1680        Ogham space;
 *       U+2000-U+2BFF general punctuation, super/subscripts, currency,
 *                     letterlike symbols, number forms, arrows, mathematical
 *                     operators, technical, box drawing, shapes, dingbats ...;
 *       U+2E00-U+2E7F supplemental punctuation;
 *       U+3000-U+303F CJK symbols and punctuation (but the ideographic
 *                     letters and numerals 々〆〇, 〡-〩, 〱-〵, 〸-〼);
 *       U+E000-U+F8FF private use;
 *       U+FE00-U+FE6F variation selectors, vertical, compatibility and small forms;
 *       U+FEFF        byte order mark;
 *       U+FF00-U+FFEF fullwidth punctuation and symbols (but fullwidth digits
 *                     and Latin letters, and halfwidth katakana and hangul);
 *       U+FFF0-U+FFFF specials (U+FFFD, which ill-formed UTF-8 decodes to);
 *       U+1F000-U+1FBFF emoji, pictographs and other symbols;
 *       U+E0000-U+E01EF tags and variation selectors supplement;
 *       U+F0000-U+10FFFF supplementary private use.
 *   Punctuation of other scripts (Arabic comma, Devanagari danda, ...) counts
 *   as alphanumeric: a known limit of a block-based rule.
 */
#include "build_config.h"

#include <stdlib.h>

#include "non_alpha_numeric.h"
#include <winnow/plugin.h>

#include "text_filter.h"
#include "utf8.h"

#define STAGE_NAME "non_alpha_numeric"

struct non_alpha_numeric {
    struct filters_common common;
    double max_ratio;
};

/* Beyond ASCII: letters of every script except the blocks listed above. */
static int is_alphanumeric_beyond_ascii(uint32_t cp)
{
    if (cp <= 0xBF)
        return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
    if (cp == 0xD7 || cp == 0xF7 || cp == 0x1680)
        return 0;
    if (cp < 0x2000)
        return 1;
    if (cp <= 0x2BFF || (cp >= 0x2E00 && cp <= 0x2E7F))
        return 0;
    if (cp >= 0x3000 && cp <= 0x303F)
        return (cp >= 0x3005 && cp <= 0x3007) || (cp >= 0x3021 && cp <= 0x3029) ||
               (cp >= 0x3031 && cp <= 0x3035) || (cp >= 0x3038 && cp <= 0x303C);
    if (cp >= 0xE000 && cp <= 0xF8FF)
        return 0;
    if ((cp >= 0xFE00 && cp <= 0xFE6F) || cp == 0xFEFF)
        return 0;
    if (cp >= 0xFF00 && cp <= 0xFFEF)
        return (cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
               (cp >= 0xFF41 && cp <= 0xFF5A) || (cp >= 0xFF66 && cp <= 0xFFDC);
    if (cp >= 0xFFF0 && cp <= 0xFFFF)
        return 0;
    if (cp >= 0x1F000 && cp <= 0x1FBFF)
        return 0;
    if (cp >= 0xE0000 && cp <= 0xE01EF)
        return 0;
    if (cp >= 0xF0000)
        return 0;
    return 1;
}

int filters_is_alphanumeric(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
    return is_alphanumeric_beyond_ascii(cp);
}

/* 1 for the ASCII letters and digits. */
static const uint8_t ascii_alphanumeric[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

double filters_non_alphanumeric_ratio(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    uint64_t total = 0, other = 0;
    size_t i = 0;

    while (i < len) {
        if (p[i] < 0x80) {
            other += !ascii_alphanumeric[p[i]];
            i++;
        } else {
            uint32_t cp;

            i += stage_utf8_decode(p + i, len - i, &cp);
            other += !is_alphanumeric_beyond_ascii(cp);
        }
        total++;
    }
    return total == 0 ? 1.0 : (double)other / (double)total;
}

static int keep_row(const void *config, const char *text, size_t len)
{
    const struct non_alpha_numeric *na = config;
    double ratio = text ? filters_non_alphanumeric_ratio(text, len) : 1.0;

    return ratio <= na->max_ratio;
}

static void non_alpha_numeric_destroy(void *state)
{
    struct non_alpha_numeric *na = state;

    if (na == NULL)
        return;
    filters_common_clear(&na->common);
    free(na);
}

static int non_alpha_numeric_create(const struct wn_params *params, void **state,
                                    struct wn_error *err)
{
    struct non_alpha_numeric *na = calloc(1, sizeof(*na));
    int rc;

    *state = NULL;
    if (na == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    rc = filters_common_init(&na->common, params, STAGE_NAME, err);
    if (rc < 0) {
        non_alpha_numeric_destroy(na);
        return rc;
    }
    na->max_ratio = wn_params_get_double(params, "max_ratio");
    *state = na;
    return 0;
}

static int non_alpha_numeric_setup(void *state, const struct wn_worker *worker,
                                   struct wn_error *err)
{
    struct non_alpha_numeric *na = state;

    return filters_common_setup(&na->common, worker, err);
}

static int non_alpha_numeric_process(void *state, struct wn_task **in, size_t n_in,
                                     struct wn_emitter *out, struct wn_error *err)
{
    struct non_alpha_numeric *na = state;

    return filters_run(&na->common, keep_row, na, in, n_in, out, err);
}

static const struct wn_param_spec non_alpha_numeric_params[] = {
    { "text_field", WN_PARAM_STRING, 0, "\"text\"", 0, 0, NULL, "the string column to score" },
    { "max_ratio", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "0.25", 0, 1, NULL,
      "largest share of non-alphanumeric code points a kept row has" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops non_alpha_numeric_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = non_alpha_numeric_create,
    .setup = non_alpha_numeric_setup,
    .process_batch = non_alpha_numeric_process,
    .destroy = non_alpha_numeric_destroy,
};

const struct wn_stage_desc filters_non_alpha_numeric_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "keep rows whose share of non-alphanumeric characters is at most max_ratio",
    .params = non_alpha_numeric_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .ops = &non_alpha_numeric_ops,
};
