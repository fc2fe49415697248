/* The subcommands of the winnow command and what they share. */
#ifndef WINNOW_CLI_COMMANDS_H
#define WINNOW_CLI_COMMANDS_H

#include <stddef.h>

/* Exit statuses, distinct per kind of failure (documented in `winnow --help`). */
enum wn_cli_exit {
    WN_EXIT_OK = 0,
    WN_EXIT_RUN = 1,    /* the pipeline started and failed */
    WN_EXIT_USAGE = 2,  /* bad command line */
    WN_EXIT_CONFIG = 3, /* the pipeline file is invalid, or a stage/backend is missing */
    WN_EXIT_PLUGIN = 4  /* plugins could not be searched (a -P path does not exist) */
};

/* Options shared by every command. */
struct wn_cli {
    const char *program;
    const char **plugin_paths; /* from -P, in order */
    size_t n_plugin_paths;
    int verbose;
};

int wn_cli_run(const struct wn_cli *cli, int argc, char **argv);
int wn_cli_validate(const struct wn_cli *cli, int argc, char **argv);
int wn_cli_plugins(const struct wn_cli *cli, int argc, char **argv);
int wn_cli_inspect(const struct wn_cli *cli, int argc, char **argv);

#endif /* WINNOW_CLI_COMMANDS_H */
