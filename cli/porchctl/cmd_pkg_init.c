/* `porchctl pkg init [DIR] [--description D] [--keywords K,K] [--site URL]`:
 * writes kpt's Kptfile, README.md and package-context.yaml (cad_pkg_init). */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <string.h>

static const char init_usage[] =
    "Initialize an empty package.\n\n"
    "Usage:\n  porchctl pkg init [DIR] [flags]\n\n"
    "Flags:\n"
    "      --description string   short description of the package (default \"sample description\")\n"
    "      --keywords strings     list of keywords for the package\n"
    "      --site string          link to page with information about the package\n"
    "  -h, --help                 help for init\n";

int porchctl_cmd_pkg_init(int argc, char **argv)
{
    cad_init_opts o = {.log = stderr};
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        const char *names[] = {"--description", "--keywords", "--site", "--name"};
        const char **dsts[] = {&o.description, &o.keywords, &o.site, &o.name};
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(init_usage, stdout);
            return 0;
        }
        for (int k = 0; k < 4 && !dst; k++) {
            size_t l = strlen(names[k]);
            if (!strcmp(a, names[k])) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "Error: flag needs an argument: %s\n", a);
                    return 1;
                }
                dst = dsts[k];
                *dst = argv[++i];
            } else if (!strncmp(a, names[k], l) && a[l] == '=') {
                dst = dsts[k];
                *dst = a + l + 1;
            }
        }
        if (dst)
            continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            return 1;
        }
        dir = a;
    }
    o.dir = dir ? dir : ".";
    o.display = dir;
    if (cad_pkg_init(&o) < 0) {
        fprintf(stderr, "error: %s\n", porch_error_last()->message);
        return 1;
    }
    return 0;
}
