/* `porchctl pkg diff [PKG_PATH][@VERSION] [--diff-type T] [--diff-tool X]
 * [--diff-tool-opts O]`: shows differences between the local package and
 * upstream versions with an external diff tool, as `kpt pkg diff` does. */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char diff_usage[] =
    "Show differences between a local package and upstream.\n\n"
    "Usage:\n  porchctl pkg diff [PKG_PATH@VERSION] [flags]\n\n"
    "Flags:\n"
    "      --diff-tool string        diff tool to use to show the changes (default \"diff\")\n"
    "      --diff-tool-opts string   diff tool commandline options to use to show the changes\n"
    "      --diff-type string        local (default), remote, combined or 3way\n"
    "  -h, --help                    help for diff\n";

int porchctl_cmd_pkg_diff(int argc, char **argv)
{
    cad_diff_opts o = {.diff_tool = getenv("KPT_EXTERNAL_DIFF"), .diff_tool_opts = getenv("KPT_EXTERNAL_DIFF_OPTS")};
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *names[] = {"--diff-type", "--diff-tool", "--diff-tool-opts"};
        const char **dst[] = {&o.diff_type, &o.diff_tool, &o.diff_tool_opts};
        bool done = false;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(diff_usage, stdout);
            return 0;
        }
        for (int k = 0; k < 3 && !done; k++) {
            size_t l = strlen(names[k]);
            if (!strcmp(a, names[k]) && i + 1 < argc) {
                *dst[k] = argv[++i];
                done = true;
            } else if (!strncmp(a, names[k], l) && a[l] == '=') {
                *dst[k] = a + l + 1;
                done = true;
            }
        }
        if (done)
            continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            return 1;
        }
        arg = a;
    }
    char *dir = strdup(arg ? arg : ".");
    char *at = strrchr(dir, '@');
    if (at) {
        *at = '\0';
        o.version = at + 1;
    }
    if (!*dir) {
        free(dir);
        dir = strdup(".");
    }
    o.dir = dir;
    int rc = cad_pkg_diff(&o);
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    free(dir);
    return rc < 0 ? 1 : 0;
}
