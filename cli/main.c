/* winnow: the command line front end (argument parsing and dispatch). */
#include "build_config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>
#include <winnow/version.h>

#include "commands.h"

static void usage(FILE *out, const char *program)
{
    fprintf(out,
            "Usage: %s [OPTIONS] COMMAND [ARGS]\n"
            "Run data-curation pipelines made of stage plugins.\n"
            "\n"
            "Commands:\n"
            "  run FILE        run the pipeline described by FILE\n"
            "  validate FILE   check FILE, its stages and their params, without running anything\n"
            "  plugins [-v]    list the plugins found, their stages and backends, and every\n"
            "                  plugin file that failed to load with the reason\n"
            "  inspect NAME    describe a stage or backend: params, resources, kind, payloads\n"
            "\n"
            "Options:\n"
            "  -P, --plugin-path PATH  search PATH (a plugin file or a directory) before\n"
            "                          WINNOW_PLUGIN_PATH and %s; repeatable\n"
            "  -v, --verbose           log more (repeat for debug)\n"
            "  -h, --help              show this help; `%s COMMAND --help` for a command\n"
            "  -V, --version           show version and plugin ABI\n"
            "\n"
            "Options of run and validate:\n"
            "  --set PATH=VALUE        override a config value, e.g. --set "
            "stages.2.params.min_words=50\n"
            "                          (VALUE is JSON, or a plain string); repeatable\n"
            "  -q, --quiet             (run) print nothing but errors (no progress, no summary)\n"
            "  --report FILE           (run) write the run report (JSON) to FILE\n"
            "  --trace FILE            (run) write a Chrome trace-event file (opens in Perfetto)\n"
            "  --failures FILE         (run) write the tasks skipped by on_error \"skip\" (JSONL)\n"
            "\n"
            "While it runs, `run` shows progress per stage on stderr: redrawn on a terminal,\n"
            "plain periodic lines otherwise.\n"
            "\n"
            "Exit status: 0 success, 1 the run failed, 2 usage error, 3 invalid pipeline\n"
            "(config, missing stage or backend, bad params), 4 plugin search failed.\n",
            program, WN_PLUGIN_DIR, program);
}

int main(int argc, char **argv)
{
    static const struct option options[] = { { "plugin-path", required_argument, NULL, 'P' },
                                             { "verbose", no_argument, NULL, 'v' },
                                             { "help", no_argument, NULL, 'h' },
                                             { "version", no_argument, NULL, 'V' },
                                             { NULL, 0, NULL, 0 } };
    struct wn_cli cli = { 0 };
    const char *command;
    int c, rc;

    cli.program = "winnow";
    cli.plugin_paths = calloc((size_t)argc + 1, sizeof(*cli.plugin_paths));
    if (cli.plugin_paths == NULL) {
        fprintf(stderr, "winnow: out of memory\n");
        return WN_EXIT_RUN;
    }
    /* "+": stop at the command, whose own options come after it. */
    while ((c = getopt_long(argc, argv, "+P:vhV", options, NULL)) != -1) {
        switch (c) {
        case 'P': cli.plugin_paths[cli.n_plugin_paths++] = optarg; break;
        case 'v': cli.verbose++; break;
        case 'h':
            usage(stdout, cli.program);
            free(cli.plugin_paths);
            return WN_EXIT_OK;
        case 'V':
            printf("winnow %s (plugin ABI %d.%d, plugins in %s)\n", WN_VERSION_STRING, WN_ABI_MAJOR,
                   WN_ABI_MINOR, WN_PLUGIN_DIR);
            free(cli.plugin_paths);
            return WN_EXIT_OK;
        default:
            fprintf(stderr, "Try '%s --help'.\n", cli.program);
            free(cli.plugin_paths);
            return WN_EXIT_USAGE;
        }
    }
    if (cli.verbose == 1)
        wn_log_set_level(WN_LOG_INFO);
    else if (cli.verbose > 1)
        wn_log_set_level(WN_LOG_DEBUG);

    if (optind >= argc) {
        fprintf(stderr, "%s: no command given\n", cli.program);
        usage(stderr, cli.program);
        free(cli.plugin_paths);
        return WN_EXIT_USAGE;
    }
    command = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0; /* reset getopt for the command's own options (GNU: 0 reinitialises) */
    if (strcmp(command, "run") == 0)
        rc = wn_cli_run(&cli, argc, argv);
    else if (strcmp(command, "validate") == 0)
        rc = wn_cli_validate(&cli, argc, argv);
    else if (strcmp(command, "plugins") == 0)
        rc = wn_cli_plugins(&cli, argc, argv);
    else if (strcmp(command, "inspect") == 0)
        rc = wn_cli_inspect(&cli, argc, argv);
    else if (strcmp(command, "help") == 0) {
        usage(stdout, cli.program);
        rc = WN_EXIT_OK;
    } else {
        fprintf(stderr, "%s: unknown command '%s' (commands: run, validate, plugins, inspect)\n",
                cli.program, command);
        rc = WN_EXIT_USAGE;
    }
    free(cli.plugin_paths);
    return rc;
}
