/* The subcommands: run, validate, plugins, inspect. */
#include "build_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/log.h>

#include "commands.h"
#include "config.h"
#include "describe.h"
#include "pipeline.h"
#include "registry.h"

/* Builds and loads the registry from -P paths, WINNOW_PLUGIN_PATH and the plugin dir. */
static int open_registry(const struct wn_cli *cli, struct wn_registry **out)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_registry *registry = wn_registry_new();

    *out = NULL;
    if (registry == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli->program);
        return WN_EXIT_RUN;
    }
    for (size_t i = 0; i < cli->n_plugin_paths; i++) {
        if (wn_registry_add_path(registry, cli->plugin_paths[i]) < 0) {
            wn_registry_free(registry);
            fprintf(stderr, "%s: out of memory\n", cli->program);
            return WN_EXIT_RUN;
        }
    }
    if (wn_registry_load(registry, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cli->program, err.message);
        wn_registry_free(registry);
        return WN_EXIT_PLUGIN;
    }
    for (size_t i = 0; i < wn_registry_failure_count(registry); i++) {
        const struct wn_registry_failure *f = wn_registry_failure_at(registry, i);
        wn_log(WN_LOG_INFO, "plugins", "%s", f->message);
    }
    *out = registry;
    return WN_EXIT_OK;
}

/* Loads FILE, applies --set overrides and resolves it; prints the error and
 * returns an exit status on failure. */
static int load_pipeline(const struct wn_cli *cli, const char *file, const char *const *sets,
                         size_t n_sets, const struct wn_registry *registry,
                         struct wn_pipeline **out)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_config *config = NULL;
    int rc;

    *out = NULL;
    if (wn_config_load_file(file, &config, &err) < 0)
        goto out_error;
    for (size_t i = 0; i < n_sets; i++)
        if (wn_config_set(config, sets[i], &err) < 0)
            goto out_error;
    if (wn_config_resolve(config, registry, out, &err) < 0)
        goto out_error;
    wn_config_free(config);
    return WN_EXIT_OK;

out_error:
    fprintf(stderr, "%s: %s\n", cli->program, err.message);
    rc = (int)wn_registry_failure_count(registry);
    if (rc > 0)
        fprintf(stderr, "%s: note: %d plugin file(s) failed to load; `%s plugins` shows why\n",
                cli->program, rc, cli->program);
    wn_config_free(config);
    return WN_EXIT_CONFIG;
}

/* What run does besides running: its outputs and progress (--report, --trace, --failures). */
struct run_outputs {
    const char *report, *trace, *failures;
};

/* Parses the options shared by run and validate.  Returns -1 to go on, or an exit status. */
static int parse_pipeline_args(const struct wn_cli *cli, const char *command, int argc, char **argv,
                               const char ***sets, size_t *n_sets, int *quiet,
                               struct run_outputs *outputs, const char **file)
{
    static const struct option options[] = { { "set", required_argument, NULL, 's' },
                                             { "quiet", no_argument, NULL, 'q' },
                                             { "report", required_argument, NULL, 'R' },
                                             { "trace", required_argument, NULL, 'T' },
                                             { "failures", required_argument, NULL, 'F' },
                                             { "help", no_argument, NULL, 'h' },
                                             { NULL, 0, NULL, 0 } };
    int c;

    *sets = calloc((size_t)argc + 1, sizeof(**sets));
    *n_sets = 0;
    if (*sets == NULL)
        return WN_EXIT_RUN;
    while ((c = getopt_long(argc, argv, "s:qh", options, NULL)) != -1) {
        switch (c) {
        case 's':
            if (strchr(optarg, '=') == NULL) {
                fprintf(stderr, "%s %s: --set takes PATH=VALUE, got '%s'\n", cli->program, command,
                        optarg);
                return WN_EXIT_USAGE;
            }
            (*sets)[(*n_sets)++] = optarg;
            break;
        case 'q': *quiet = 1; break;
        case 'R': outputs->report = optarg; break;
        case 'T': outputs->trace = optarg; break;
        case 'F': outputs->failures = optarg; break;
        case 'h':
            printf("Usage: %s %s [--set PATH=VALUE]...%s FILE\n", cli->program, command,
                   strcmp(command, "run") == 0
                       ? " [--quiet] [--report FILE] [--trace FILE] [--failures FILE]"
                       : "");
            return WN_EXIT_OK;
        default:
            fprintf(stderr, "Try '%s %s --help'.\n", cli->program, command);
            return WN_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s %s: expected exactly one pipeline FILE\n", cli->program, command);
        return WN_EXIT_USAGE;
    }
    *file = argv[optind];
    return -1;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_summary(const struct wn_pipeline *pipeline, const struct wn_stage_stats *stats,
                          double wall_s)
{
    printf("%-22s %6s %10s %10s %12s %12s %9s %12s\n", "stage", "actors", "tasks in", "tasks out",
           "items in", "items out", "wall s", "items/s");
    for (size_t i = 0; i < pipeline->n_stages; i++) {
        const struct wn_stage_stats *s = &stats[i];
        /* a reader turns a few files into many rows: rate the larger side */
        uint64_t items = s->items_in > s->items_out ? s->items_in : s->items_out;
        double rate = s->wall_s > 0 ? (double)items / s->wall_s : 0.0;
        printf("%-22s %6u %10llu %10llu %12llu %12llu %9.3f %12.0f\n", pipeline->stages[i].name,
               s->actors, (unsigned long long)s->tasks_in, (unsigned long long)s->tasks_out,
               (unsigned long long)s->items_in, (unsigned long long)s->items_out, s->wall_s, rate);
    }
    printf("total wall time %.3f s\n", wall_s);
}

static int run_or_validate(const struct wn_cli *cli, int argc, char **argv, int run)
{
    const char *command = run ? "run" : "validate";
    struct wn_registry *registry = NULL;
    struct wn_pipeline *pipeline = NULL;
    struct wn_stage_stats *stats = NULL;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_run_options options = { 0 };
    struct run_outputs outputs = { NULL, NULL, NULL };
    const char **sets = NULL;
    const char *file = NULL;
    size_t n_sets = 0;
    int quiet = 0;
    int rc;
    double start;

    rc = parse_pipeline_args(cli, command, argc, argv, &sets, &n_sets, &quiet, &outputs, &file);
    if (rc >= 0)
        goto out;
    rc = open_registry(cli, &registry);
    if (rc != WN_EXIT_OK)
        goto out;
    rc = load_pipeline(cli, file, sets, n_sets, registry, &pipeline);
    if (rc != WN_EXIT_OK)
        goto out;
    if (!run) {
        printf("%s: valid pipeline of %zu stage(s) on executor '%s'\n", file, pipeline->n_stages,
               pipeline->executor->name);
        goto out;
    }
    stats = calloc(pipeline->n_stages, sizeof(*stats));
    if (stats == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli->program);
        rc = WN_EXIT_RUN;
        goto out;
    }
    options.report_path = outputs.report;
    options.trace_path = outputs.trace;
    options.failures_path = outputs.failures;
    options.progress = quiet ? WN_PROGRESS_OFF : WN_PROGRESS_AUTO;
    start = now_seconds();
    if (wn_pipeline_run(pipeline, &options, stats, &err) < 0) {
        fprintf(stderr, "%s: %s: run failed: %s\n", cli->program, file, err.message);
        if (options.threads_abandoned > 0) {
            /* A hook that hung is still running on its thread: the plugins
             * and the pipeline stay as they are, and the process ends here. */
            fflush(stdout);
            exit(WN_EXIT_RUN);
        }
        rc = WN_EXIT_RUN;
        goto out;
    }
    if (options.tasks_skipped > 0)
        fprintf(stderr, "%s: %s: %llu task(s) skipped after failing%s%s\n", cli->program, file,
                (unsigned long long)options.tasks_skipped, outputs.failures ? ", listed in " : "",
                outputs.failures ? outputs.failures : "");
    if (!quiet)
        print_summary(pipeline, stats, now_seconds() - start);

out:
    free(stats);
    wn_pipeline_free(pipeline);
    wn_registry_free(registry);
    free(sets);
    return rc;
}

int wn_cli_run(const struct wn_cli *cli, int argc, char **argv)
{
    return run_or_validate(cli, argc, argv, 1);
}

int wn_cli_validate(const struct wn_cli *cli, int argc, char **argv)
{
    return run_or_validate(cli, argc, argv, 0);
}

int wn_cli_plugins(const struct wn_cli *cli, int argc, char **argv)
{
    struct wn_registry *registry = NULL;
    int verbose = cli->verbose;
    int c, rc;

    while ((c = getopt(argc, argv, "vh")) != -1) {
        if (c == 'v') {
            verbose++;
        } else if (c == 'h') {
            printf("Usage: %s plugins [-v]\n", cli->program);
            return WN_EXIT_OK;
        } else {
            return WN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s plugins: takes no arguments\n", cli->program);
        return WN_EXIT_USAGE;
    }
    rc = open_registry(cli, &registry);
    if (rc != WN_EXIT_OK)
        return rc;
    for (size_t i = 0; i < wn_registry_plugin_count(registry); i++) {
        const struct wn_registry_plugin *entry = wn_registry_plugin_at(registry, i);
        const struct wn_plugin *p = entry->plugin;

        printf("%s %s  (%s)\n", p->name, p->version, entry->path);
        if (p->summary != NULL)
            printf("  %s%s%s\n", p->summary, p->license ? "; license " : "",
                   p->license ? p->license : "");
        for (size_t j = 0; p->stages != NULL && p->stages[j] != NULL; j++) {
            printf("  stage   %-22s %s\n", p->stages[j]->name,
                   p->stages[j]->summary ? p->stages[j]->summary : "");
            if (verbose)
                wn_describe_params(stdout, p->stages[j]->params, "            ");
        }
        for (size_t j = 0; p->backends != NULL && p->backends[j] != NULL; j++) {
            const struct wn_backend_desc *b = p->backends[j];
            printf("  %-7s %-22s %s\n", wn_describe_backend_kind(b->kind), b->name,
                   b->summary ? b->summary : "");
            if (verbose)
                wn_describe_params(stdout, b->params, "            ");
        }
    }
    if (wn_registry_plugin_count(registry) == 0)
        printf("no plugins found (searched -P paths, WINNOW_PLUGIN_PATH and %s)\n", WN_PLUGIN_DIR);
    if (wn_registry_failure_count(registry) > 0) {
        printf("\nnot loaded:\n");
        for (size_t i = 0; i < wn_registry_failure_count(registry); i++) {
            const struct wn_registry_failure *f = wn_registry_failure_at(registry, i);
            printf("  %s\n", f->message); /* the message names the file */
        }
    }
    wn_registry_free(registry);
    return WN_EXIT_OK;
}

int wn_cli_inspect(const struct wn_cli *cli, int argc, char **argv)
{
    struct wn_registry *registry = NULL;
    const char *name;
    int found = 0;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("Usage: %s inspect NAME   (a stage or backend name)\n", cli->program);
        return WN_EXIT_OK;
    }
    if (argc != 2) {
        fprintf(stderr, "%s inspect: expected one stage or backend NAME\n", cli->program);
        return WN_EXIT_USAGE;
    }
    name = argv[1];
    rc = open_registry(cli, &registry);
    if (rc != WN_EXIT_OK)
        return rc;
    for (size_t i = 0; i < wn_registry_plugin_count(registry); i++) {
        const struct wn_registry_plugin *entry = wn_registry_plugin_at(registry, i);
        const struct wn_plugin *p = entry->plugin;

        for (size_t j = 0; p->stages != NULL && p->stages[j] != NULL; j++) {
            if (strcmp(p->stages[j]->name, name) == 0 &&
                wn_registry_find_stage(registry, name) == p->stages[j]) {
                wn_describe_stage(stdout, p->stages[j], entry->path);
                found = 1;
            }
        }
        for (size_t j = 0; p->backends != NULL && p->backends[j] != NULL; j++) {
            const struct wn_backend_desc *b = p->backends[j];
            if (strcmp(b->name, name) == 0 &&
                wn_registry_find_backend(registry, b->kind, name) == b) {
                if (found)
                    printf("\n");
                wn_describe_backend(stdout, b, entry->path);
                found = 1;
            }
        }
    }
    if (!found) {
        fprintf(stderr, "%s inspect: no stage or backend named '%s'; `%s plugins` lists them\n",
                cli->program, name, cli->program);
        rc = WN_EXIT_CONFIG;
    }
    wn_registry_free(registry);
    return rc;
}
