/* `porchctl pkg get REPO[.git]/DIR[@REF] [DEST] [--strategy S]`: fetches a
 * package from git as `kpt pkg get` does (cad_pkg_get). */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char get_usage[] =
    "Fetch a package from a git repository.\n\n"
    "Usage:\n  porchctl pkg get REPO_URI[.git]/PKG_PATH[@VERSION] [LOCAL_DEST_DIRECTORY] [flags]\n\n"
    "Flags:\n"
    "      --strategy string   update strategy recorded in the Kptfile: resource-merge (default),\n"
    "                          fast-forward, force-delete-replace, copy-merge\n"
    "      --for-deployment    accepted\n"
    "  -h, --help              help for get\n";

int porchctl_cmd_pkg_get(int argc, char **argv)
{
    cad_get_opts o = {.log = stderr};
    const char *args[2] = {NULL, NULL};
    int na = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(get_usage, stdout);
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
        if (!strcmp(a, "--for-deployment"))
            continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            return 1;
        }
        if (na == 2) {
            fprintf(stderr, "Error: accepts between 1 and 2 arg(s), received 3\n");
            return 1;
        }
        args[na++] = a;
    }
    if (na == 0) {
        fprintf(stderr, "Error: requires at least 1 arg(s), only received 0\n");
        return 1;
    }
    char *repo, *dir, *ref;
    cad_parse_pkg_arg(args[0], &repo, &dir, &ref);
    o.repo = repo;
    o.directory = dir;
    o.ref = ref;
    o.dest = args[1];
    int rc = cad_pkg_get(&o);
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    free(repo);
    free(dir);
    free(ref);
    return rc < 0 ? 1 : 0;
}
