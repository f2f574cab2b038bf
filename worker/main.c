/* cairn-worker: runs on every node. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: cairn-worker [OPTIONS]\n"
               "\n"
               "The Cairn worker daemon: discovers this node's resources and runs the tasks\n"
               "the scheduler assigns to it.\n"
               "\n"
               "Options:\n"
               "  -h, --help       show this help and exit\n"
               "  -V, --version    show the version and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("cairn-worker %s\n", CAIRN_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    fprintf(stderr, "cairn-worker: the daemon is not implemented yet (see issue 3)\n");
    return 1;
}
