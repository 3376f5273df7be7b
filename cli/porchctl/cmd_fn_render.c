/* `porchctl fn render [DIR] [--allow-exec] [-o stdout|unwrap|DIR]
 * [--results-dir DIR]`: runs a package's pipelines, subpackages first, as
 * `kpt fn render` does; the work is cad_fn_render in common/cad. */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <string.h>

static const char render_usage[] =
    "Render a package.\n\n"
    "Usage:\n  porchctl fn render [PKG_PATH] [flags]\n\n"
    "Flags:\n"
    "      --allow-exec              allow executable (exec:) functions to run\n"
    "  -o, --output string           stdout, unwrap, or a directory\n"
    "      --results-dir string      write function results to this directory\n"
    "      --image-pull-policy string  accepted (Always, IfNotPresent, Never)\n"
    "      --truncate-output         truncate function output (default true)\n"
    "  -h, --help                    help for render\n";

static int value_of(int argc, char **argv, int *i, const char *name, const char *shorty, const char **out)
{
    const char *a = argv[*i];
    size_t l = strlen(name);
    if (!strcmp(a, name) || (shorty && !strcmp(a, shorty))) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "Error: flag needs an argument: %s\n", a);
            return -1;
        }
        *out = argv[++*i];
        return 1;
    }
    if (!strncmp(a, name, l) && a[l] == '=') {
        *out = a + l + 1;
        return 1;
    }
    return 0;
}

int porchctl_cmd_fn_render(int argc, char **argv)
{
    cad_render_opts o = {.fn = {.truncate_output = true, .log = stderr}};
    const char *dir = NULL, *ignored = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(render_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--allow-exec") || !strcmp(a, "--allow-exec=true")) {
            o.fn.allow_exec = true;
            continue;
        }
        if (!strcmp(a, "--allow-alpha-wasm") || !strcmp(a, "--allow-network"))
            continue;
        if (!strcmp(a, "--truncate-output=false")) {
            o.fn.truncate_output = false;
            continue;
        }
        if (!strcmp(a, "--truncate-output") || !strcmp(a, "--truncate-output=true"))
            continue;
        if ((r = value_of(argc, argv, &i, "--output", "-o", &o.output)) ||
            (r = value_of(argc, argv, &i, "--results-dir", NULL, &o.fn.results_dir)) ||
            (r = value_of(argc, argv, &i, "--image-pull-policy", NULL, &ignored))) {
            if (r < 0)
                return 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            return 1;
        }
        if (dir) {
            fprintf(stderr, "Error: accepts at most 1 arg(s), received 2\n");
            return 1;
        }
        dir = a;
    }
    o.dir = dir ? dir : ".";
    int rc = cad_fn_render(&o);
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    return rc != 0 ? 1 : 0;
}
