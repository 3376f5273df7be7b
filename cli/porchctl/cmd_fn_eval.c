/* `porchctl fn eval [DIR|-] (--image IMG | --exec CMD) [flags] [-- k=v...]`:
 * runs one function over a package with kpt's flags and exit codes; the
 * work is cad_fn_eval in common/cad. */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char eval_usage[] =
    "Execute function on resources\n\n"
    "Usage:\n  porchctl fn eval [DIR | -] [flags] [-- fn-args]\n\n"
    "Flags:\n"
    "  -i, --image string            container image of the function to execute\n"
    "      --exec string             path (and arguments) of an executable function\n"
    "      --fn-config string        path to the function config file\n"
    "      --match-api-version, --match-kind, --match-name, --match-namespace,\n"
    "      --match-labels, --match-annotations string   select resources\n"
    "      --exclude-api-version, --exclude-kind, --exclude-name, --exclude-namespace,\n"
    "      --exclude-labels, --exclude-annotations string   exclude resources\n"
    "      --results-dir string      write function results to this directory\n"
    "  -o, --output string           stdout, unwrap, or a directory\n"
    "  -s, --save                    save the function in the Kptfile pipeline\n"
    "  -t, --type string             mutator (default) or validator, with --save\n"
    "      --image-pull-policy string  accepted (Always, IfNotPresent, Never)\n"
    "      --truncate-output         truncate function output (default true)\n"
    "      --allow-exec              accepted (exec functions always run with eval)\n"
    "  -h, --help                    help for eval\n";

/* Matches "--name value" and "--name=value"; advances *i. */
static int flag_val(int argc, char **argv, int *i, const char *name, const char *shorty, const char **out)
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
    if (shorty && !strncmp(a, shorty, 2) && a[2] == '=') {
        *out = a + 3;
        return 1;
    }
    return 0;
}

int porchctl_cmd_fn_eval(int argc, char **argv)
{
    cad_eval_opts o = {.fn = {.allow_exec = true, .truncate_output = true, .log = stderr}};
    const char *dir = NULL, *ignored = NULL;
    char **kv = calloc((size_t)argc + 1, sizeof *kv);
    size_t nkv = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = 0;
        if (!strcmp(a, "--")) {
            for (int j = i + 1; j < argc; j++)
                kv[nkv++] = argv[j];
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(eval_usage, stdout);
            free(kv);
            return 0;
        }
        if (!strcmp(a, "-s") || !strcmp(a, "--save")) {
            o.save = true;
            continue;
        }
        if (!strcmp(a, "--allow-exec") || !strcmp(a, "--network") || !strcmp(a, "--as-current-user") ||
            !strcmp(a, "--allow-alpha-wasm") || !strcmp(a, "--allow-exec=true"))
            continue;
        if (!strcmp(a, "--truncate-output") || !strcmp(a, "--truncate-output=true")) {
            o.fn.truncate_output = true;
            continue;
        }
        if (!strcmp(a, "--truncate-output=false")) {
            o.fn.truncate_output = false;
            continue;
        }
        if ((r = flag_val(argc, argv, &i, "--image", "-i", &o.image)) ||
            (r = flag_val(argc, argv, &i, "--exec", NULL, &o.exec)) ||
            (r = flag_val(argc, argv, &i, "--fn-config", NULL, &o.fn_config)) ||
            (r = flag_val(argc, argv, &i, "--results-dir", NULL, &o.fn.results_dir)) ||
            (r = flag_val(argc, argv, &i, "--output", "-o", &o.output)) ||
            (r = flag_val(argc, argv, &i, "--type", "-t", &o.fn_type)) ||
            (r = flag_val(argc, argv, &i, "--match-api-version", NULL, &o.match.api_version)) ||
            (r = flag_val(argc, argv, &i, "--match-kind", NULL, &o.match.kind)) ||
            (r = flag_val(argc, argv, &i, "--match-name", NULL, &o.match.name)) ||
            (r = flag_val(argc, argv, &i, "--match-namespace", NULL, &o.match.ns)) ||
            (r = flag_val(argc, argv, &i, "--match-labels", NULL, &o.match.labels)) ||
            (r = flag_val(argc, argv, &i, "--match-annotations", NULL, &o.match.annotations)) ||
            (r = flag_val(argc, argv, &i, "--exclude-api-version", NULL, &o.exclude.api_version)) ||
            (r = flag_val(argc, argv, &i, "--exclude-kind", NULL, &o.exclude.kind)) ||
            (r = flag_val(argc, argv, &i, "--exclude-name", NULL, &o.exclude.name)) ||
            (r = flag_val(argc, argv, &i, "--exclude-namespace", NULL, &o.exclude.ns)) ||
            (r = flag_val(argc, argv, &i, "--exclude-labels", NULL, &o.exclude.labels)) ||
            (r = flag_val(argc, argv, &i, "--exclude-annotations", NULL, &o.exclude.annotations)) ||
            (r = flag_val(argc, argv, &i, "--image-pull-policy", NULL, &ignored)) ||
            (r = flag_val(argc, argv, &i, "--tag", NULL, &ignored)) ||
            (r = flag_val(argc, argv, &i, "--mount", NULL, &ignored)) ||
            (r = flag_val(argc, argv, &i, "--env", "-e", &ignored))) {
            if (r < 0) {
                free(kv);
                return 1;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "Error: unknown flag: %s\n", a);
            free(kv);
            return 1;
        }
        if (dir) {
            fprintf(stderr, "Error: accepts at most 1 arg(s), received more\n");
            free(kv);
            return 1;
        }
        dir = a;
    }
    o.dir = dir ? dir : ".";
    o.kv = kv;
    if (!o.image && !o.exec) {
        fprintf(stderr, "Error: must specify --image or --exec\n");
        free(kv);
        return 1;
    }
    if (o.image && o.exec) {
        fprintf(stderr, "Error: image and exec are mutually exclusive\n");
        free(kv);
        return 1;
    }
    int rc = cad_fn_eval(&o);
    if (rc < 0) /* kpt's eval errors are plain Go errors, printed by kubectl's handler */
        fprintf(stderr, "error: %s\n", porch_error_last()->message);
    free(kv);
    return rc != 0 ? 1 : 0;
}
