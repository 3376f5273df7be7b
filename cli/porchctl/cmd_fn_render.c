/* `porchctl fn render DIR --allow-exec`: runs the exec mutators and
 * validators of the package's Kptfile pipeline in order, in place, as
 * `kpt fn render` does for a single package (images and subpackages are
 * left to the CaD work). */
#include "cmd_fn_run.h"
#include "commands.h"

#include "error/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static krm_node *find_kptfile(fnrun_pkg *p)
{
    for (size_t i = 0; i < fnrun_count(p); i++) {
        krm_node *r = fnrun_item(p, i);
        const char *path = krm_res_path(r), *kind = krm_res_kind(r);
        if (path && !strcmp(path, "Kptfile") && kind && !strcmp(kind, "Kptfile"))
            return r;
    }
    return NULL;
}

int porchctl_cmd_fn_render(int argc, char **argv)
{
    const char *dir = ".";
    bool allow_exec = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--allow-exec"))
            allow_exec = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "Error: unsupported flag: %s\n", argv[i]);
            return 1;
        } else
            dir = argv[i];
    }
    fnrun_pkg *p;
    if (fnrun_load(dir, &p) < 0) {
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
        return 1;
    }
    krm_node *kf = find_kptfile(p);
    const char *stages[] = {"mutators", "validators"};
    char cmds[64][1024];
    int ncmd = 0, rc = 0;
    for (int s = 0; s < 2; s++) {
        krm_node *list = kf ? krm_path_get(kf, "pipeline") : NULL;
        list = list ? krm_map_get(list, stages[s]) : NULL;
        for (size_t i = 0; i < krm_seq_len(list) && ncmd < 64; i++) {
            krm_node *fn = krm_seq_at(list, i);
            krm_node *ex = krm_map_get(fn, "exec");
            if (!ex) {
                fprintf(stderr, "Error: only exec functions are supported by porchctl fn render\n");
                fnrun_free(p);
                return 1;
            }
            const char *c = krm_node_value(ex);
            if (c[0] != '/' && strchr(c, '/'))
                snprintf(cmds[ncmd], sizeof cmds[ncmd], "%s/%s", dir, c);
            else
                snprintf(cmds[ncmd], sizeof cmds[ncmd], "%s", c);
            ncmd++;
        }
    }
    if (ncmd > 0 && !allow_exec) {
        fprintf(stderr, "Error: must run with `--allow-exec` option to allow running function binaries\n");
        fnrun_free(p);
        return 1;
    }
    fprintf(stderr, "Package \"%s\": \n", dir);
    for (int i = 0; i < ncmd && rc == 0; i++) {
        fprintf(stderr, "[RUNNING] \"%s\"\n", cmds[i]);
        rc = fnrun_exec(p, cmds[i], NULL);
        fprintf(stderr, "[%s] \"%s\" in 0s\n", rc == 0 ? "PASS" : "FAIL", cmds[i]);
    }
    if (rc == 0)
        rc = fnrun_write(p);
    if (rc == 0)
        fprintf(stderr, "\nSuccessfully executed %d function(s) in 1 package(s).\n", ncmd);
    else
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    fnrun_free(p);
    return rc < 0 ? 1 : 0;
}
