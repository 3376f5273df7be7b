/* fn-run: a developer tool that reads a ResourceList on stdin (as `porchctl fn
 * source` writes it), runs one function image through fn_runtime_eval and
 * writes the resulting ResourceList (with results) to stdout. Used by the
 * catalog fixture tests and by hand: `fn-run IMAGE [--exec PATH] [k=v...]`. */
#include "error/error.h"
#include "fn/fn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sev_name(fn_severity s)
{
    const char *n = fn_severity_name(s);
    return n ? n : "-";
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fn-run IMAGE|--exec PATH [--map FILE] [key=value...] < rl.yaml\n");
        return 2;
    }
    fn_call call = {0};
    fn_runtime_opts o = {.builtins = true, .allow_exec = true, .inherit_env = true};
    int a = 1;
    if (!strcmp(argv[a], "--exec") && a + 1 < argc) {
        call.exec_path = argv[a + 1];
        a += 2;
    } else {
        call.image = argv[a++];
    }
    if (a + 1 < argc && !strcmp(argv[a], "--map")) {
        o.image_map = argv[a + 1];
        a += 2;
    }
    krm_buf in = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        krm_buf_put(&in, chunk, n);
    krm_stream *s = NULL;
    if (krm_stream_parse(in.data ? in.data : "", in.len, "stdin", NULL, &s) < 0) {
        fprintf(stderr, "%s\n", porch_error_last()->message);
        return 1;
    }
    krm_node *rl = krm_doc_root(krm_stream_doc(s, 0));
    if (a < argc) {
        krm_node *cm = krm_node_new_map(s), *md = krm_node_new_map(s), *d = krm_node_new_map(s);
        krm_map_set(s, cm, "apiVersion", krm_node_new_string(s, "v1"));
        krm_map_set(s, cm, "kind", krm_node_new_string(s, "ConfigMap"));
        krm_map_set(s, md, "name", krm_node_new_string(s, "function-input"));
        krm_map_set(s, cm, "metadata", md);
        for (; a < argc; a++) {
            char *eq = strchr(argv[a], '=');
            if (!eq)
                continue;
            *eq = '\0';
            krm_map_set(s, d, argv[a], krm_node_new_string(s, eq + 1));
        }
        krm_map_set(s, cm, "data", d);
        krm_map_set(s, rl, "functionConfig", cm);
    }
    fn_runtime *rt;
    if (fn_runtime_new(&o, &rt) < 0) {
        fprintf(stderr, "%s\n", porch_error_last()->message);
        return 1;
    }
    fn_results res = {0};
    char *err = NULL;
    int rc = fn_runtime_eval(rt, &call, s, rl, &res, &err);
    if (rc < 0)
        fprintf(stderr, "error: %s\n", porch_error_last()->message);
    if (err && *err)
        fprintf(stderr, "%s", err);
    for (size_t i = 0; i < res.len; i++)
        fprintf(stderr, "[%s] %s%s%s\n", sev_name(res.items[i].severity), res.items[i].message,
                res.items[i].field_path ? " field=" : "",
                res.items[i].field_path ? res.items[i].field_path : "");
    if (res.len)
        krm_map_set(s, rl, "results", fn_results_to_node(s, &res));
    krm_buf out = {0};
    krm_node_emit(rl, KRM_SEQ_COMPACT, &out);
    fwrite(out.data, 1, out.len, stdout);
    krm_buf_free(&out);
    krm_buf_free(&in);
    free(err);
    fn_results_free(&res);
    fn_runtime_free(rt);
    krm_stream_free(s);
    return rc < 0 || fn_results_has_error(&res) ? 1 : 0;
}
