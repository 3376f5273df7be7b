/* `porchctl pkg update [PKG_PATH][@VERSION] [--strategy S]`: brings a
 * package to a new upstream version as `kpt pkg update` does (cad_pkg_update). */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char update_usage[] =
    "Apply upstream package updates.\n\n"
    "Usage:\n  porchctl pkg update [PKG_PATH][@VERSION] [flags]\n\n"
    "Flags:\n"
    "      --strategy string   resource-merge (default), fast-forward, force-delete-replace, copy-merge\n"
    "  -h, --help              help for update\n";

int porchctl_cmd_pkg_update(int argc, char **argv)
{
    cad_update_opts o = {.log = stderr};
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(update_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--strategy") && i + 1 < argc) {
            o.strategy = argv[++i];
            continue;
        }
        if (!strncmp(a, "--strategy=", 11)) {
            o.strategy = a + 11;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            return 1;
        }
        if (arg) {
            fprintf(stderr, "Error: accepts at most 1 arg(s), received 2\n");
            return 1;
        }
        arg = a;
    }
    char *dir = strdup(arg ? arg : ".");
    char *at = strrchr(dir, '@');
    if (at) {
        *at = '\0';
        o.ref = at + 1;
    }
    if (!*dir) {
        free(dir);
        dir = strdup(".");
    }
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/')
        dir[--l] = '\0';
    o.dir = dir;
    int rc = cad_pkg_update(&o);
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    free(dir);
    return rc < 0 ? 1 : 0;
}
