/* `porchctl fn eval DIR --exec PATH [-- key=value...]`: runs one exec
 * function over a local package in place, as `kpt fn eval --exec` does
 * (images are not supported here; the CaD work adds the rest). */
#include "cmd_fn_run.h"
#include "commands.h"

#include "error/error.h"

#include <stdio.h>
#include <string.h>

int porchctl_cmd_fn_eval(int argc, char **argv)
{
    const char *dir = ".", *exec_cmd = NULL;
    int kv = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            kv = i + 1;
            break;
        } else if (!strcmp(argv[i], "--exec") && i + 1 < argc)
            exec_cmd = argv[++i];
        else if (!strncmp(argv[i], "--exec=", 7))
            exec_cmd = argv[i] + 7;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "Error: unsupported flag: %s\n", argv[i]);
            return 1;
        } else
            dir = argv[i];
    }
    if (!exec_cmd) {
        fprintf(stderr, "Error: must specify --exec (container images are not supported yet)\n");
        return 1;
    }
    krm_stream *cs = krm_stream_new();
    krm_node *cfg = NULL;
    if (kv < argc) {
        cfg = krm_node_new_map(cs);
        krm_map_set(cs, cfg, "apiVersion", krm_node_new_string(cs, "v1"));
        krm_map_set(cs, cfg, "kind", krm_node_new_string(cs, "ConfigMap"));
        krm_node *md = krm_node_new_map(cs);
        krm_map_set(cs, md, "name", krm_node_new_string(cs, "function-input"));
        krm_map_set(cs, cfg, "metadata", md);
        krm_node *data = krm_node_new_map(cs);
        for (int i = kv; i < argc; i++) {
            const char *eq = strchr(argv[i], '=');
            if (!eq)
                continue;
            char key[512];
            snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
            krm_map_set(cs, data, key, krm_node_new_string(cs, eq + 1));
        }
        krm_map_set(cs, cfg, "data", data);
    }
    fnrun_pkg *p;
    int rc = fnrun_load(dir, &p);
    if (rc == 0) {
        fprintf(stderr, "[RUNNING] \"%s\"\n", exec_cmd);
        rc = fnrun_exec(p, exec_cmd, cfg);
        if (rc == 0) {
            fprintf(stderr, "[PASS] \"%s\" in 0s\n", exec_cmd);
            rc = fnrun_write(p);
        } else {
            fprintf(stderr, "[FAIL] \"%s\" in 0s\n", exec_cmd);
        }
        fnrun_free(p);
    }
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    krm_stream_free(cs);
    return rc < 0 ? 1 : 0;
}
