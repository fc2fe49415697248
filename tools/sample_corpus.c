/*
 * sample_corpus: writes a small synthetic JSONL corpus for demos and tests,
 * with no download.  Each line is {"id": "...", "text": "...", "source": "..."}.
 * Most documents are ordinary prose-like text; a known share is too short
 * (under 50 words) and another share is mostly symbols, so that the heuristic
 * filters have something to remove.  Output is a deterministic function of --seed.
 *
 *   sample_corpus --docs N --files F --seed S --out DIR
 */
#include "build_config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[] = {
    "data",     "curation", "pipeline",  "stage",    "filter",   "corpus",
    "document", "language", "model",     "training", "quality",  "deduplication",
    "text",     "web",      "crawl",     "token",    "sentence", "river",
    "mountain", "library",  "history",   "science",  "music",    "garden",
    "ocean",    "city",     "market",    "engine",   "bridge",   "window",
    "forest",   "planet",   "signal",    "network",  "energy",   "harvest",
    "the",      "a",        "of",        "and",      "to",       "in",
    "is",       "that",     "for",       "with",     "as",       "on",
    "was",      "by",       "naïve",     "café",     "über",     "Ångström",
    "データ",   "数据",     "коллекция", "δεδομένα"
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))
static const char symbols[] = "#$%&*+/<=>@[]^_{|}~!?;:";

static uint64_t rng_state;

static uint64_t next_random(void)
{
    /* xorshift64*: small, fast and reproducible everywhere */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned below(unsigned n)
{
    return (unsigned)(next_random() % n);
}

static void write_text(FILE *out, unsigned n_words, int noisy)
{
    for (unsigned i = 0; i < n_words; i++) {
        if (i > 0)
            fputc(i % 13 == 12 ? '\n' : ' ', out);
        if (noisy && below(10) < 8) {
            unsigned len = 3 + below(6);
            for (unsigned j = 0; j < len; j++)
                fputc(symbols[below(sizeof(symbols) - 1)], out);
        } else {
            fputs(words[below(N_WORDS)], out);
        }
        if (i % 13 == 11)
            fputc('.', out);
    }
}

/* Writes text as a JSON string body: the generator only emits '\n' to escape. */
static void write_json_text(FILE *out, unsigned n_words, int noisy)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);

    if (mem == NULL) {
        perror("open_memstream");
        exit(1);
    }
    write_text(mem, n_words, noisy);
    fclose(mem);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            fputs("\\n", out);
        else
            fputc(buf[i], out);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "docs", required_argument, NULL, 'n' }, { "files", required_argument, NULL, 'f' },
        { "seed", required_argument, NULL, 's' }, { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 }
    };
    unsigned long docs = 1000, files = 4, seed = 1;
    const char *out_dir = NULL;
    unsigned long short_docs = 0, noisy_docs = 0;
    int c;

    while ((c = getopt_long(argc, argv, "n:f:s:o:h", options, NULL)) != -1) {
        switch (c) {
        case 'n': docs = strtoul(optarg, NULL, 10); break;
        case 'f': files = strtoul(optarg, NULL, 10); break;
        case 's': seed = strtoul(optarg, NULL, 10); break;
        case 'o': out_dir = optarg; break;
        case 'h': printf("Usage: %s --docs N --files F --seed S --out DIR\n", argv[0]); return 0;
        default: return 2;
        }
    }
    if (out_dir == NULL || files == 0) {
        fprintf(stderr, "%s: --out DIR is required and --files must be positive\n", argv[0]);
        return 2;
    }
    rng_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)seed;
    if (rng_state == 0)
        rng_state = 1;
    for (unsigned long f = 0; f < files; f++) {
        char path[4096];
        FILE *out;

        snprintf(path, sizeof(path), "%s/part-%05lu.jsonl", out_dir, f);
        out = fopen(path, "w");
        if (out == NULL) {
            fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], path, strerror(errno));
            return 1;
        }
        for (unsigned long d = f; d < docs; d += files) {
            unsigned kind = below(100);
            int noisy = kind < 10;                   /* 10%: mostly symbols */
            int too_short = kind >= 10 && kind < 25; /* 15%: under 50 words */
            unsigned n = too_short ? 5 + below(40) : 60 + below(400);

            short_docs += (unsigned long)too_short;
            noisy_docs += (unsigned long)noisy;
            fprintf(out, "{\"id\": \"doc-%08lu\", \"text\": \"", d);
            write_json_text(out, n, noisy);
            fprintf(out, "\", \"source\": \"sample-%lu\"}\n", f);
        }
        if (fclose(out) != 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], path, strerror(errno));
            return 1;
        }
    }
    printf("wrote %lu documents in %lu files to %s (%lu short, %lu mostly symbols)\n", docs, files,
           out_dir, short_docs, noisy_docs);
    return 0;
}
