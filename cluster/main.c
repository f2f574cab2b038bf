/* cairn: the command-line client. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: cairn [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "The Cairn client: submit job DAGs, watch them, read logs and manage nodes.\n"
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
            printf("cairn %s\n", CAIRN_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    fprintf(stderr, "cairn: no commands yet (see issue 5)\n");
    return 1;
}
