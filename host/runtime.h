/*
 * The server's life: load and check the configuration and plugins, start,
 * serve, reload on SIGHUP, drain and stop on SIGINT/SIGTERM.
 */
#ifndef PARLEY__RUNTIME_H
#define PARLEY__RUNTIME_H

/* Process exit codes (docs/operations.md). */
enum parley__exit {
    PARLEY__EXIT_OK = 0,        /* clean shutdown, or --check-config passed */
    PARLEY__EXIT_RUNTIME = 1,   /* could not listen, a plugin failed to start, the shutdown deadline passed */
    PARLEY__EXIT_USAGE = 2,     /* bad command line */
    PARLEY__EXIT_CONFIG = 3     /* invalid configuration or plugin (file, schema, loader refusal, create failure) */
};

struct parley__runtime_options {
    const char *config_path;
    int check_only;          /* --check-config: everything short of listening */
    int log_level;           /* --log-level, or 0 for the configured level */
};

/* Run the server to completion; returns a parley__exit code. */
int parley__runtime_main(const struct parley__runtime_options *opts);

#endif /* PARLEY__RUNTIME_H */
