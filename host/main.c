/*
 * parley — the server binary: the command line, then the runtime.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "log.h"
#include "runtime.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: parley [--config FILE] [--check-config] [--log-level LEVEL]\n"
            "       parley --version | --help\n"
            "\n"
            "  -c, --config FILE     configuration file (default: $PARLEY_CONFIG, else configs/parley.yaml)\n"
            "      --check-config    validate the configuration, load and check every plugin, and exit;\n"
            "                        never listens nor connects\n"
            "  -l, --log-level LEVEL error, warn, info, debug or trace (overrides log.level)\n"
            "  -V, --version         print the version and the plugin ABI, and exit\n"
            "  -h, --help            print this help, and exit\n"
            "\n"
            "Exit status: 0 success, 1 runtime failure, 2 usage error, 3 invalid configuration or plugin.\n"
            "Signals: SIGINT/SIGTERM drain and exit; SIGHUP reloads the configuration if it is valid.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 'C' },
        { "log-level", required_argument, NULL, 'l' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct parley__runtime_options opts = { 0 };
    int c;

    opts.config_path = getenv("PARLEY_CONFIG");
    if (opts.config_path == NULL || opts.config_path[0] == '\0')
        opts.config_path = "configs/parley.yaml";

    while ((c = getopt_long(argc, argv, "c:l:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.config_path = optarg;
            break;
        case 'C':
            opts.check_only = 1;
            break;
        case 'l':
            opts.log_level = parley__log_level_parse(optarg);
            if (opts.log_level < 0) {
                fprintf(stderr, "parley: --log-level: unknown level '%s' (use error, warn, info, debug or trace)\n",
                        optarg);
                return 2;
            }
            break;
        case 'V':
            printf("parley %s (plugin ABI %d.%d)\n", PARLEY_VERSION, PARLEY_ABI_MAJOR, PARLEY_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "parley: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return parley__runtime_main(&opts);
}
