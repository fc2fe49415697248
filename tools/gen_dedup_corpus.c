/*
 * gen_dedup_corpus: writes a synthetic JSONL corpus with exact and near
 * duplicates at known rates, and the ground truth, with no download.
 *
 *   gen_dedup_corpus (--docs N | --bytes N) --out DIR [--files F] [--seed S]
 *                    [--exact-rate R] [--near-rate R] [--edit-max F]
 *                    [--ops edit,insert,shuffle] [--min-words N] [--max-words N]
 *                    [--pairs N] [--char-ngrams N]
 *
 * Output:
 *   DIR/docs/part-NNNNN.jsonl   {"id": "d0000000042", "text": "..."} (with
 *                               --int-ids: {"id": 42, ...}), documents
 *                               dealt round-robin over --files files; --bytes
 *                               stops once these files hold N bytes in all
 *   DIR/truth/clusters.jsonl    {"cluster": K, "ids": [...]}: every original
 *                               that has copies, with its copies (ids sorted,
 *                               so the original, the smallest, comes first)
 *   DIR/truth/pairs.jsonl       {"a": .., "b": .., "kind": .., "edit_fraction": ..,
 *                               "jaccard": ..}: a sample of generated pairs and
 *                               their exact Jaccard similarity over the shingles
 *                               the minhash stage uses (--char-ngrams code points)
 *   DIR/truth/summary.json      the settings and the counts of each kind
 *
 * Each document is, in order of generation: with probability --exact-rate an
 * exact copy of an earlier original, else with probability --near-rate a near
 * duplicate of an earlier original (one operation from --ops, touching a
 * fraction f, uniform in [0, --edit-max], of its words or sentences: "edit"
 * replaces words, "insert" inserts words, "shuffle" reorders sentences), else
 * a new original.  Ids number documents in that order, so the original of a
 * cluster has its smallest id.  Texts are made of sentences of pseudo-words
 * (a Zipf-like vocabulary with some non-ASCII words).  The output is a pure
 * function of the arguments: each document's text comes from its own seed, so
 * nothing needs to be kept in memory but a few bytes per document.
 */
#include "build_config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minhash_core.h"

/* ---- random numbers ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t below(uint64_t *state, uint64_t n)
{
    return n > 0 ? splitmix64(state) % n : 0;
}

/* Uniform in [0, 1). */
static double unit(uint64_t *state)
{
    return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- vocabulary ---------------------------------------------------------------- */

#define VOCAB_SIZE 8192
#define VOCAB_SEED UINT64_C(0x5EED0F0CAB)

static const char *const common_words[] = {
    "the",  "of",   "and",   "to",   "a",     "in",    "is",   "that", "for",  "it",
    "as",   "was",  "with",  "be",   "by",    "on",    "not",  "he",   "this", "are",
    "or",   "his",  "from",  "at",   "which", "but",   "have", "an",   "had",  "they",
    "you",  "were", "their", "one",  "all",   "we",    "can",  "her",  "has",  "there",
    "been", "if",   "more",  "when", "will",  "would", "who",  "so",   "no",
};

static const char *const non_ascii_words[] = {
    "naïve",    "café",     "über",        "Ångström",  "façade", "jalapeño", "résumé",
    "Zürich",   "München",  "smörgåsbord", "crème",     "piñata", "déjà",     "Ærø",
    "łódź",     "dvořák",   "データ",      "数据",      "日本語", "中文",     "한국어",
    "東京",     "漢字",     "ひらがな",    "коллекция", "данные", "русский",  "привет",
    "δεδομένα", "ελληνικά", "λόγος",       "عربي",      "שלום",   "हिन्दी",    "ไทย",
    "Ελλάδα",   "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  "emoji😀",      "naïveté",
};

static const char *const onsets[] = { "b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",  "l",
                                      "m",  "n",  "p",  "r",  "s",  "t",  "v",  "w",  "z",
                                      "ch", "sh", "th", "st", "tr", "br", "pl", "gr", "" };
static const char *const nuclei[] = { "a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y" };
static const char *const codas[] = { "", "", "", "n", "r", "s", "t", "l", "m", "nd", "ck", "st" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct vocab {
    char *bytes;
    uint32_t offset[VOCAB_SIZE];
    uint8_t len[VOCAB_SIZE];
};

/* The fixed vocabulary: common words first (most frequent), non-ASCII words
 * spread through it, pseudo-words made of syllables elsewhere. */
static int vocab_build(struct vocab *v)
{
    uint64_t rng = VOCAB_SEED;
    size_t cap = VOCAB_SIZE * 24, used = 0;

    v->bytes = malloc(cap);
    if (v->bytes == NULL)
        return -1;
    for (size_t i = 0; i < VOCAB_SIZE; i++) {
        char word[64];
        size_t n = 0;

        if (i < COUNT(common_words)) {
            n = (size_t)snprintf(word, sizeof(word), "%s", common_words[i]);
        } else if (i % 97 == 13) {
            n = (size_t)snprintf(word, sizeof(word), "%s",
                                 non_ascii_words[(i / 97) % COUNT(non_ascii_words)]);
        } else {
            unsigned syllables = 1 + (unsigned)below(&rng, 3) + (below(&rng, 4) == 0);

            for (unsigned s = 0; s < syllables; s++)
                n += (size_t)snprintf(word + n, sizeof(word) - n, "%s%s",
                                      onsets[below(&rng, COUNT(onsets))],
                                      nuclei[below(&rng, COUNT(nuclei))]);
            n += (size_t)snprintf(word + n, sizeof(word) - n, "%s",
                                  codas[below(&rng, COUNT(codas))]);
        }
        if (used + n > cap) {
            char *grown = realloc(v->bytes, cap *= 2);

            if (grown == NULL)
                return -1;
            v->bytes = grown;
        }
        memcpy(v->bytes + used, word, n);
        v->offset[i] = (uint32_t)used;
        v->len[i] = (uint8_t)n;
        used += n;
    }
    return 0;
}

/* A Zipf-like draw: small indexes are much more frequent. */
static uint32_t draw_word(uint64_t *rng)
{
    double u = unit(rng);
    return (uint32_t)(VOCAB_SIZE * u * u * u);
}

/* ---- documents as tokens ------------------------------------------------------------ */

/* A document: words (vocabulary indexes) in sentences. */
struct doc {
    uint32_t *words;
    size_t n_words, cap_words;
    uint32_t *sentence_len; /* words per sentence */
    size_t n_sentences, cap_sentences;
};

struct settings {
    uint64_t docs, bytes;
    unsigned files;
    uint64_t seed;
    double exact_rate, near_rate, edit_max;
    unsigned ops; /* bits: OP_EDIT, OP_INSERT, OP_SHUFFLE */
    uint32_t min_words, max_words;
    uint64_t pairs;
    uint32_t ngram;
    const char *out;
};

enum { OP_EDIT = 1, OP_INSERT = 2, OP_SHUFFLE = 4 };
enum kind { KIND_ORIGINAL = 0, KIND_EXACT, KIND_EDIT, KIND_INSERT, KIND_SHUFFLE };
static const char *const kind_names[] = { "original", "exact", "near-edit", "near-insert",
                                          "near-shuffle" };

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 64;
    void *q;

    if (need <= *cap)
        return p;
    while (c < need)
        c *= 2;
    q = realloc(p, c * size);
    if (q == NULL) {
        fprintf(stderr, "gen_dedup_corpus: out of memory\n");
        exit(1);
    }
    *cap = c;
    return q;
}

/* The original text of the document whose seed is doc_seed. */
static void doc_generate(struct doc *d, uint64_t doc_seed, const struct settings *s)
{
    uint64_t rng = doc_seed;
    uint32_t target = s->min_words + (uint32_t)below(&rng, s->max_words - s->min_words + 1);

    d->n_words = d->n_sentences = 0;
    while (d->n_words < target) {
        uint32_t len = 4 + (uint32_t)below(&rng, 17);

        if (len > target - d->n_words)
            len = target - (uint32_t)d->n_words;
        d->words = grow(d->words, &d->cap_words, d->n_words + len, sizeof(*d->words));
        d->sentence_len =
            grow(d->sentence_len, &d->cap_sentences, d->n_sentences + 1, sizeof(*d->sentence_len));
        for (uint32_t i = 0; i < len; i++)
            d->words[d->n_words++] = draw_word(&rng);
        d->sentence_len[d->n_sentences++] = len;
    }
}

/* Applies a near-duplicate operation touching fraction f (at least one change). */
static void doc_modify(struct doc *d, enum kind op, double f, uint64_t *rng)
{
    size_t changes;

    if (op == KIND_EDIT) {
        changes = (size_t)llround(f * (double)d->n_words);
        changes = changes ? changes : 1;
        for (size_t c = 0; c < changes && d->n_words > 0; c++) {
            size_t at = below(rng, d->n_words);
            uint32_t word;

            do /* a different word, so that every edit changes the text */
                word = draw_word(rng);
            while (word == d->words[at]);
            d->words[at] = word;
        }
    } else if (op == KIND_INSERT) {
        changes = (size_t)llround(f * (double)d->n_words);
        changes = changes ? changes : 1;
        d->words = grow(d->words, &d->cap_words, d->n_words + changes, sizeof(*d->words));
        for (size_t c = 0; c < changes; c++) {
            size_t s = below(rng, d->n_sentences), start = 0, at;

            for (size_t i = 0; i < s; i++)
                start += d->sentence_len[i];
            at = start + below(rng, d->sentence_len[s] + 1);
            memmove(d->words + at + 1, d->words + at, (d->n_words - at) * sizeof(*d->words));
            d->words[at] = draw_word(rng);
            d->n_words++;
            d->sentence_len[s]++;
        }
    } else if (op == KIND_SHUFFLE && d->n_sentences >= 2) {
        /* Pick m sentences and deal them back into their places in a random order. */
        size_t m = (size_t)llround(f * (double)d->n_sentences), n = d->n_sentences;
        size_t *pick = malloc(n * sizeof(*pick)), *perm = malloc(n * sizeof(*perm));
        size_t *start = malloc(n * sizeof(*start));
        uint32_t *words = malloc(d->n_words * sizeof(*words));
        uint32_t *lens = malloc(n * sizeof(*lens));
        size_t w = 0;

        if (pick == NULL || perm == NULL || start == NULL || words == NULL || lens == NULL) {
            fprintf(stderr, "gen_dedup_corpus: out of memory\n");
            exit(1);
        }
        m = m < 2 ? 2 : m;
        for (size_t i = 0; i < n; i++) {
            perm[i] = pick[i] = i;
            start[i] = w;
            w += d->sentence_len[i];
        }
        for (size_t i = 0; i < m; i++) { /* the first m of a shuffled index list */
            size_t j = i + below(rng, n - i), t = pick[i];
            pick[i] = pick[j];
            pick[j] = t;
        }
        for (size_t i = m - 1; i > 0; i--) { /* a random order of those m */
            size_t j = below(rng, i + 1), t = perm[pick[i]];
            perm[pick[i]] = perm[pick[j]];
            perm[pick[j]] = t;
        }
        if (perm[pick[0]] == pick[0]) { /* never the same order: move the first one */
            size_t t = perm[pick[0]];
            perm[pick[0]] = perm[pick[1]];
            perm[pick[1]] = t;
        }
        w = 0;
        for (size_t i = 0; i < n; i++) {
            size_t src = perm[i];
            memcpy(words + w, d->words + start[src], d->sentence_len[src] * sizeof(*words));
            w += d->sentence_len[src];
            lens[i] = d->sentence_len[src];
        }
        memcpy(d->words, words, d->n_words * sizeof(*words));
        memcpy(d->sentence_len, lens, n * sizeof(*lens));
        free(pick);
        free(perm);
        free(start);
        free(words);
        free(lens);
    }
}

/* ---- rendering ------------------------------------------------------------------------ */

struct buffer {
    char *data;
    size_t len, cap;
};

static void buffer_put(struct buffer *b, const char *s, size_t n)
{
    b->data = grow(b->data, &b->cap, b->len + n + 1, 1);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Text of d: sentences with a capital first letter and a full stop, five to a paragraph. */
static void doc_render(const struct doc *d, const struct vocab *v, struct buffer *out)
{
    size_t w = 0;

    out->len = 0;
    for (size_t s = 0; s < d->n_sentences; s++) {
        if (s > 0)
            buffer_put(out, s % 5 == 0 ? "\n" : " ", 1);
        for (uint32_t i = 0; i < d->sentence_len[s]; i++, w++) {
            uint32_t word = d->words[w];
            size_t at = out->len;

            if (i > 0)
                buffer_put(out, " ", 1), at++;
            buffer_put(out, v->bytes + v->offset[word], v->len[word]);
            if (i == 0 && out->data[at] >= 'a' && out->data[at] <= 'z')
                out->data[at] = (char)(out->data[at] - 'a' + 'A');
        }
        buffer_put(out, ".", 1);
    }
}

/* ---- output --------------------------------------------------------------------------- */

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "gen_dedup_corpus: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

static void close_out(FILE *f, const char *what)
{
    if (ferror(f) || fclose(f) != 0) {
        fprintf(stderr, "gen_dedup_corpus: cannot write %s: %s\n", what, strerror(errno));
        exit(1);
    }
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_dedup_corpus: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Nonzero with --int-ids: ids are the document numbers as JSON integers. */
static int int_ids;

/* Writes document index's id as a JSON value; returns the bytes written. */
static int write_id(FILE *f, uint64_t index)
{
    return int_ids ? fprintf(f, "%" PRIu64, index) : fprintf(f, "\"d%010" PRIu64 "\"", index);
}

/* Writes one JSONL document line (the texts need only '\n' escaped); returns its size. */
static uint64_t write_doc(FILE *f, uint64_t index, const struct buffer *text)
{
    const char *p = text->data, *end = text->data + text->len;
    uint64_t size = (uint64_t)fprintf(f, "{\"id\": ");

    size += (uint64_t)write_id(f, index);
    size += (uint64_t)fprintf(f, ", \"text\": \"");

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        fwrite(p, 1, n, f);
        p += n;
        size += n;
        if (nl) {
            fputs("\\n", f);
            p++;
            size += 2;
        }
    }
    fputs("\"}\n", f);
    return size + 3;
}

/* ---- exact Jaccard ----------------------------------------------------------------------- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted distinct 64-bit shingle hashes of text. */
static size_t shingle_set(const struct fuzzy_minhash *mh, size_t *ring, const struct buffer *text,
                          uint64_t **set, size_t *cap)
{
    struct fuzzy_shingler sh;
    size_t n = 0, got, u = 0;

    fuzzy_shingler_start(&sh, mh, ring, text->data, text->len);
    do {
        *set = grow(*set, cap, n + FUZZY_MINHASH_CHUNK, sizeof(**set));
        got = fuzzy_shingler_next(&sh, *set + n, FUZZY_MINHASH_CHUNK);
        n += got;
    } while (got > 0);
    qsort(*set, n, sizeof(**set), compare_u64);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || (*set)[u - 1] != (*set)[i])
            (*set)[u++] = (*set)[i];
    return u;
}

static double jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, both = 0;

    while (i < na && j < nb) {
        if (a[i] == b[j])
            both++, i++, j++;
        else if (a[i] < b[j])
            i++;
        else
            j++;
    }
    return (double)both / (double)(na + nb - both);
}

/* ---- main ---------------------------------------------------------------------------------- */

/* One document's place in the corpus. */
struct doc_info {
    uint32_t source; /* the original it copies (itself for an original) */
    uint8_t kind;
    float fraction; /* of a near duplicate */
};

struct pair {
    uint64_t a, b;
    uint8_t kind;
    float fraction;
};

static void usage(FILE *f)
{
    fputs("usage: gen_dedup_corpus (--docs N | --bytes N) --out DIR [--files F] [--seed S]\n"
          "         [--exact-rate R] [--near-rate R] [--edit-max F] [--ops edit,insert,shuffle]\n"
          "         [--min-words N] [--max-words N] [--pairs N] [--char-ngrams N] [--int-ids]\n"
          "Writes DIR/docs/part-*.jsonl and the ground truth in DIR/truth/.\n"
          "Defaults: --files 1 --seed 1 --exact-rate 0.05 --near-rate 0.15 --edit-max 0.1\n"
          "          --ops edit,insert,shuffle --min-words 50 --max-words 1000 --pairs 1000\n"
          "          --char-ngrams 24\n",
          f);
}

static double parse_double(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "gen_dedup_corpus: %s wants a number in [%g, %g], got '%s'\n", opt, lo, hi,
                s);
        exit(2);
    }
    return v;
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr,
                "gen_dedup_corpus: %s wants an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static unsigned parse_ops(const char *s)
{
    unsigned ops = 0;
    char *copy = strdup(s), *save = NULL;

    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "edit") == 0)
            ops |= OP_EDIT;
        else if (strcmp(t, "insert") == 0)
            ops |= OP_INSERT;
        else if (strcmp(t, "shuffle") == 0)
            ops |= OP_SHUFFLE;
        else {
            fprintf(stderr,
                    "gen_dedup_corpus: --ops: unknown operation '%s' (edit, insert, "
                    "shuffle)\n",
                    t);
            exit(2);
        }
    }
    free(copy);
    if (ops == 0) {
        fprintf(stderr, "gen_dedup_corpus: --ops names no operation\n");
        exit(2);
    }
    return ops;
}

static void parse_args(int argc, char **argv, struct settings *s)
{
    static const struct option options[] = {
        { "docs", required_argument, NULL, 'd' },
        { "bytes", required_argument, NULL, 'b' },
        { "files", required_argument, NULL, 'f' },
        { "seed", required_argument, NULL, 's' },
        { "out", required_argument, NULL, 'o' },
        { "exact-rate", required_argument, NULL, 'e' },
        { "near-rate", required_argument, NULL, 'n' },
        { "edit-max", required_argument, NULL, 'm' },
        { "ops", required_argument, NULL, 'p' },
        { "min-words", required_argument, NULL, 'w' },
        { "max-words", required_argument, NULL, 'W' },
        { "pairs", required_argument, NULL, 'P' },
        { "char-ngrams", required_argument, NULL, 'g' },
        { "int-ids", no_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(s, 0, sizeof(*s));
    s->files = 1;
    s->seed = 1;
    s->exact_rate = 0.05;
    s->near_rate = 0.15;
    s->edit_max = 0.1;
    s->ops = OP_EDIT | OP_INSERT | OP_SHUFFLE;
    s->min_words = 50;
    s->max_words = 1000;
    s->pairs = 1000;
    s->ngram = 24;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': s->docs = parse_count("--docs", optarg, 1, UINT32_MAX - 1); break;
        case 'b': s->bytes = parse_count("--bytes", optarg, 1, UINT64_MAX); break;
        case 'f': s->files = (unsigned)parse_count("--files", optarg, 1, 100000); break;
        case 's': s->seed = parse_count("--seed", optarg, 0, UINT64_MAX); break;
        case 'o': s->out = optarg; break;
        case 'e': s->exact_rate = parse_double("--exact-rate", optarg, 0, 1); break;
        case 'n': s->near_rate = parse_double("--near-rate", optarg, 0, 1); break;
        case 'm': s->edit_max = parse_double("--edit-max", optarg, 0, 1); break;
        case 'p': s->ops = parse_ops(optarg); break;
        case 'w': s->min_words = (uint32_t)parse_count("--min-words", optarg, 1, 10000000); break;
        case 'W': s->max_words = (uint32_t)parse_count("--max-words", optarg, 1, 10000000); break;
        case 'P': s->pairs = parse_count("--pairs", optarg, 0, 100000000); break;
        case 'g':
            s->ngram = (uint32_t)parse_count("--char-ngrams", optarg, 1, FUZZY_MINHASH_MAX_NGRAM);
            break;
        case 'i': int_ids = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc || s->out == NULL || (s->docs == 0) == (s->bytes == 0)) {
        fprintf(stderr, "gen_dedup_corpus: give --out and exactly one of --docs, --bytes\n");
        usage(stderr);
        exit(2);
    }
    if (s->exact_rate + s->near_rate > 1.0) {
        fprintf(stderr, "gen_dedup_corpus: --exact-rate + --near-rate is above 1\n");
        exit(2);
    }
    if (s->max_words < s->min_words) {
        fprintf(stderr, "gen_dedup_corpus: --max-words is below --min-words\n");
        exit(2);
    }
}

static uint64_t doc_seed(const struct settings *s, uint64_t index)
{
    uint64_t state = s->seed ^ (index * UINT64_C(0xD1B54A32D192ED03));
    return splitmix64(&state);
}

/* Renders the text of document i (info[i]) into out, using d as scratch. */
static void make_text(const struct settings *s, const struct vocab *v, const struct doc_info *info,
                      uint64_t i, struct doc *d, struct buffer *out)
{
    uint64_t rng = doc_seed(s, i) ^ UINT64_C(0xA5A5A5A5A5A5A5A5);

    doc_generate(d, doc_seed(s, info[i].source), s);
    if (info[i].kind >= KIND_EDIT)
        doc_modify(d, (enum kind)info[i].kind, info[i].fraction, &rng);
    doc_render(d, v, out);
}

int main(int argc, char **argv)
{
    struct settings s;
    struct vocab v;
    struct doc d = { 0 };
    struct buffer text = { 0 }, other = { 0 };
    struct doc_info *info = NULL;
    size_t info_cap = 0;
    uint32_t *originals = NULL;
    size_t originals_cap = 0, n_originals = 0;
    struct pair *pairs = NULL;
    size_t n_pairs = 0, n_random_pairs;
    uint64_t n_docs = 0, total_bytes = 0, counts[5] = { 0 }, seen_copies = 0;
    uint64_t rng, pair_rng;
    unsigned op_list[3], n_ops = 0;
    FILE **parts, *f;
    char path[4096];

    parse_args(argc, argv, &s);
    if (vocab_build(&v) < 0) {
        fprintf(stderr, "gen_dedup_corpus: out of memory\n");
        return 1;
    }
    for (unsigned op = OP_EDIT; op <= OP_SHUFFLE; op <<= 1)
        if (s.ops & op)
            op_list[n_ops++] = op == OP_EDIT     ? KIND_EDIT
                               : op == OP_INSERT ? KIND_INSERT
                                                 : KIND_SHUFFLE;
    make_dir(s.out);
    snprintf(path, sizeof(path), "%s/docs", s.out);
    make_dir(path);
    parts = calloc(s.files, sizeof(*parts));
    for (unsigned i = 0; i < s.files; i++) {
        char name[64];
        snprintf(name, sizeof(name), "part-%05u.jsonl", i);
        parts[i] = open_out(path, name);
    }
    /* The corpus: decide each document's kind, render it, write it. */
    rng = s.seed ^ UINT64_C(0x243F6A8885A308D3);
    pair_rng = s.seed ^ UINT64_C(0x13198A2E03707344);
    n_random_pairs = (size_t)(s.pairs / 10);
    pairs = calloc(s.pairs ? s.pairs : 1, sizeof(*pairs));
    while (s.docs ? n_docs < s.docs : total_bytes < s.bytes) {
        double u = unit(&rng);
        struct doc_info *di;

        info = grow(info, &info_cap, n_docs + 1, sizeof(*info));
        di = &info[n_docs];
        di->source = (uint32_t)n_docs;
        di->kind = KIND_ORIGINAL;
        di->fraction = 0;
        if (n_originals > 0 && u < s.exact_rate + s.near_rate) {
            di->source = originals[below(&rng, n_originals)];
            if (u < s.exact_rate) {
                di->kind = KIND_EXACT;
            } else {
                di->kind = (uint8_t)op_list[below(&rng, n_ops)];
                di->fraction = (float)(unit(&rng) * s.edit_max);
            }
        } else {
            originals = grow(originals, &originals_cap, n_originals + 1, sizeof(*originals));
            originals[n_originals++] = (uint32_t)n_docs;
        }
        if (n_docs >= UINT32_MAX - 1) {
            fprintf(stderr, "gen_dedup_corpus: too many documents\n");
            return 1;
        }
        counts[di->kind]++;
        /* Reservoir sample of the copies (pairs beyond the random ones). */
        if (di->kind != KIND_ORIGINAL && s.pairs > n_random_pairs) {
            size_t slots = (size_t)(s.pairs - n_random_pairs), at = SIZE_MAX;

            seen_copies++;
            if (n_pairs < slots)
                at = n_pairs++;
            else if (below(&pair_rng, seen_copies) < slots)
                at = (size_t)below(&pair_rng, slots);
            if (at != SIZE_MAX) {
                pairs[at].a = di->source;
                pairs[at].b = n_docs;
                pairs[at].kind = di->kind;
                pairs[at].fraction = di->fraction;
            }
        }
        make_text(&s, &v, info, n_docs, &d, &text);
        total_bytes += write_doc(parts[n_docs % s.files], n_docs, &text);
        n_docs++;
    }
    for (unsigned i = 0; i < s.files; i++)
        close_out(parts[i], "a corpus file");
    free(parts);

    /* Random pairs of originals: the low end of the similarity range. */
    for (size_t i = 0; i < n_random_pairs && n_originals >= 2; i++) {
        uint64_t a = originals[below(&pair_rng, n_originals)], b = a;

        while (b == a)
            b = originals[below(&pair_rng, n_originals)];
        pairs[n_pairs].a = a < b ? a : b;
        pairs[n_pairs].b = a < b ? b : a;
        pairs[n_pairs].kind = KIND_ORIGINAL;
        pairs[n_pairs].fraction = 0;
        n_pairs++;
    }

    /* Ground truth. */
    snprintf(path, sizeof(path), "%s/truth", s.out);
    make_dir(path);
    {
        /* Copies grouped by source: counting sort of the document indexes. */
        uint32_t *start = calloc(n_docs + 1, sizeof(*start));
        uint32_t *members = malloc((n_docs ? n_docs : 1) * sizeof(*members));
        uint64_t cluster = 0;

        if (start == NULL || members == NULL) {
            fprintf(stderr, "gen_dedup_corpus: out of memory\n");
            return 1;
        }
        for (uint64_t i = 0; i < n_docs; i++)
            start[info[i].source + 1]++;
        for (uint64_t i = 0; i < n_docs; i++)
            start[i + 1] += start[i];
        for (uint64_t i = 0; i < n_docs; i++)
            members[start[info[i].source]++] = (uint32_t)i;
        f = open_out(path, "clusters.jsonl");
        for (uint64_t i = 0, at = 0; i < n_docs; i++) {
            uint64_t end = start[i];

            if (end - at >= 2) {
                fprintf(f, "{\"cluster\": %" PRIu64 ", \"ids\": [", cluster++);
                for (uint64_t k = at; k < end; k++) {
                    fputs(k > at ? ", " : "", f);
                    write_id(f, members[k]);
                }
                fputs("]}\n", f);
            }
            at = end;
        }
        close_out(f, "clusters.jsonl");
        free(start);
        free(members);

        f = open_out(path, "summary.json");
        fprintf(f,
                "{\"seed\": %" PRIu64 ", \"docs\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"files\": %u,\n \"originals\": %" PRIu64 ", \"exact\": %" PRIu64
                ", \"near_edit\": %" PRIu64 ", \"near_insert\": %" PRIu64
                ", \"near_shuffle\": %" PRIu64 ", \"clusters\": %" PRIu64
                ",\n \"exact_rate\": %g, \"near_rate\": %g, \"edit_max\": %g"
                ", \"min_words\": %" PRIu32 ", \"max_words\": %" PRIu32
                ", \"char_ngrams\": %" PRIu32 ", \"pairs\": %zu}\n",
                s.seed, n_docs, total_bytes, s.files, counts[KIND_ORIGINAL], counts[KIND_EXACT],
                counts[KIND_EDIT], counts[KIND_INSERT], counts[KIND_SHUFFLE], cluster, s.exact_rate,
                s.near_rate, s.edit_max, s.min_words, s.max_words, s.ngram, n_pairs);
        close_out(f, "summary.json");
    }
    {
        struct fuzzy_minhash mh;
        size_t *ring = malloc(s.ngram * sizeof(*ring));
        uint64_t *set_a = NULL, *set_b = NULL;
        size_t cap_a = 0, cap_b = 0;

        if (ring == NULL || fuzzy_minhash_init(&mh, s.ngram, 1, 0, FUZZY_KERNEL_PORTABLE) != 0) {
            fprintf(stderr, "gen_dedup_corpus: out of memory\n");
            return 1;
        }
        f = open_out(path, "pairs.jsonl");
        for (size_t i = 0; i < n_pairs; i++) {
            size_t na, nb;

            make_text(&s, &v, info, pairs[i].a, &d, &text);
            make_text(&s, &v, info, pairs[i].b, &d, &other);
            na = shingle_set(&mh, ring, &text, &set_a, &cap_a);
            nb = shingle_set(&mh, ring, &other, &set_b, &cap_b);
            fputs("{\"a\": ", f);
            write_id(f, pairs[i].a);
            fputs(", \"b\": ", f);
            write_id(f, pairs[i].b);
            fprintf(f, ", \"kind\": \"%s\", \"edit_fraction\": %.6f, \"jaccard\": %.6f}\n",
                    pairs[i].kind == KIND_ORIGINAL ? "unrelated" : kind_names[pairs[i].kind],
                    (double)pairs[i].fraction, jaccard(set_a, na, set_b, nb));
        }
        close_out(f, "pairs.jsonl");
        fuzzy_minhash_clear(&mh);
        free(ring);
        free(set_a);
        free(set_b);
    }
    printf("gen_dedup_corpus: %" PRIu64 " documents (%" PRIu64 " bytes) in %u file(s): "
           "%" PRIu64 " originals, %" PRIu64 " exact and %" PRIu64 " near duplicates; %zu pairs\n",
           n_docs, total_bytes, s.files, counts[KIND_ORIGINAL], counts[KIND_EXACT],
           counts[KIND_EDIT] + counts[KIND_INSERT] + counts[KIND_SHUFFLE], n_pairs);
    free(info);
    free(originals);
    free(pairs);
    free(d.words);
    free(d.sentence_len);
    free(text.data);
    free(other.data);
    free(v.bytes);
    return 0;
}
