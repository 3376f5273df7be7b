/* `fn eval`: one function (exec or image) over a package, stdin, with
 * selectors/exclusions, --fn-config or `-- k=v` as a ConfigMap, results
 * file, in-place / stdout / unwrap / directory output, and `--save`. */
#include "cad_internal.h"

#include "error/error.h"
#include "fn/fn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --fn-config FILE: exactly one KRM resource (kpt's GetValidatedFnConfigFromPath,
 * with its messages); empty documents do not count. */
static krm_node *read_fn_config(cad_pool *pool, const char *path)
{
    char *buf;
    size_t len;
    krm_stream *s;
    if (cad_read_file(path, &buf, &len) < 0) {
        porch_error_set(404, "failed to open functionConfig from path \"%s\": %s", path,
                        porch_error_last()->message);
        return NULL;
    }
    if (krm_stream_parse(buf, len, path, NULL, &s) < 0) {
        free(buf);
        porch_error_set(400, "failed to read functionConfig \"%s\": %s", path,
                        porch_error_last()->message);
        return NULL;
    }
    cad_pool_keep(pool, s, buf);
    krm_node *found = NULL;
    size_t n = 0;
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_node *r = krm_doc_root(krm_stream_doc(s, d));
        if (!r || (krm_node_kind(r) == KRM_SCALAR && krm_scalar_is_null(r)))
            continue;
        if (krm_node_kind(r) == KRM_SCALAR) {
            krm_buf b = {0};
            krm_node_emit(r, KRM_SEQ_COMPACT, &b);
            porch_error_set(400,
                            "failed to read functionConfig \"%s\": wrong node kind: expected "
                            "MappingNode but got ScalarNode: node contents:\n%.*s",
                            path, (int)b.len, b.data ? b.data : "");
            krm_buf_free(&b);
            return NULL;
        }
        if (!found)
            found = r;
        n++;
    }
    if (n > 1) {
        porch_error_set(400, "functionConfig \"%s\" must not contain more than one config, got %zu",
                        path, n);
        return NULL;
    }
    const char *miss = !found ? NULL
                       : krm_node_kind(found) != KRM_MAP || !krm_res_api_version(found)
                           ? "apiVersion"
                       : !krm_res_kind(found) ? "kind"
                       : !krm_res_name(found) ? "metadata.name"
                                              : NULL;
    if (!found || miss) {
        porch_error_set(400, "functionConfig \"%s\": resource must have `%s`", path,
                        miss ? miss : "apiVersion");
        return NULL;
    }
    return found;
}

static krm_node *kv_config(krm_stream *s, char *const *kv)
{
    krm_node *data = krm_node_new_map(s);
    krm_node_set_flow(data, true);
    for (size_t i = 0; kv && kv[i]; i++) {
        const char *eq = strchr(kv[i], '=');
        if (!eq)
            continue;
        char key[1024];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv[i]), kv[i]);
        krm_map_set(s, data, key, krm_node_new_string(s, eq + 1));
    }
    return cad_configmap(s, data, true);
}

/* stdin: a ResourceList or plain documents; kpt numbers and names them. */
static int read_stdin(cad_pool *pool, cad_items *items)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    for (size_t r; b && (r = fread(b + n, 1, cap - n, stdin)) > 0;) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    if (!b)
        return porch_error_set(500, "out of memory");
    b[n] = '\0';
    krm_stream *s;
    if (krm_stream_parse(b, n, "<stdin>", NULL, &s) < 0) {
        free(b);
        return -1;
    }
    cad_pool_keep(pool, s, b);
    int index = 0;
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_doc *doc = krm_stream_doc(s, d);
        krm_node *r = krm_doc_root(doc);
        if (!r || krm_node_kind(r) != KRM_MAP)
            continue;
        const char *k = krm_res_kind(r);
        if (k && !strcmp(k, "ResourceList")) {
            krm_node *it = krm_map_get(r, "items");
            for (size_t i = 0; it && i < krm_seq_len(it); i++)
                cad_items_push(items, krm_seq_at(it, i));
            continue;
        }
        char idx[32], path[4096];
        snprintf(idx, sizeof idx, "%d", index++);
        cad_default_path(r, path, sizeof path);
        if (!krm_res_path(r)) {
            cad_set_anno_q(s, r, KRM_ANNO_INDEX, idx);
            cad_set_anno_q(s, r, KRM_ANNO_IINDEX, idx);
            cad_set_anno_q(s, r, KRM_ANNO_SEQINDENT,
                           krm_doc_seqindent(doc) == KRM_SEQ_WIDE ? "wide" : "compact");
            cad_set_anno_q(s, r, KRM_ANNO_IPATH, path);
            cad_set_anno_q(s, r, KRM_ANNO_PATH, path);
        }
        cad_items_push(items, r);
    }
    return 0;
}

/* kpt fn eval --save: appends the function to the Kptfile pipeline. */
static int save_fn(const cad_eval_opts *o, const char *image)
{
    char *kp = cad_path_join(o->dir, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *s = NULL;
    int rc = cad_read_file(kp, &buf, &len);
    if (rc == 0 && (rc = krm_stream_parse(buf, len, "Kptfile", NULL, &s)) == 0) {
        krm_node *root = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
        const char *type = o->fn_type && !strcmp(o->fn_type, "validator") ? "validators" : "mutators";
        krm_node *pl = root ? krm_map_get(root, "pipeline") : NULL;
        if (root && !pl) {
            pl = krm_node_new_map(s);
            krm_map_set(s, root, "pipeline", pl);
        }
        krm_node *list = pl ? krm_map_get(pl, type) : NULL;
        if (pl && !list) {
            list = krm_node_new_seq(s);
            krm_map_set(s, pl, type, list);
        }
        if (list) {
            krm_node *f = krm_node_new_map(s);
            krm_map_set(s, f, o->exec ? "exec" : "image", krm_node_new_string(s, o->exec ? o->exec : o->image));
            if (o->fn_config)
                krm_map_set(s, f, "configPath", krm_node_new_string(s, o->fn_config));
            krm_seq_append(s, list, f);
            krm_buf b = {0};
            rc = krm_node_emit(root, KRM_SEQ_WIDE, &b);
            if (rc == 0)
                rc = cad_write_file(kp, b.data, b.len);
            krm_buf_free(&b);
            if (rc == 0 && o->fn.log)
                fprintf(o->fn.log, "Added \"%s\" as %s in the Kptfile.\n", o->exec ? o->exec : image,
                        type[0] == 'm' ? "mutator" : "validator");
        }
    }
    krm_stream_free(s);
    free(buf);
    free(kp);
    return rc;
}

int cad_fn_eval(const cad_eval_opts *o)
{
    cad_pool pool = {0};
    cad_items items = {0};
    cad_strv files = {0};
    if (o->output && strcmp(o->output, "stdout") && strcmp(o->output, "unwrap") && cad_exists(o->output))
        return porch_error_set(409, "directory \"%s\" already exists, please delete the directory and retry",
                               o->output);
    bool from_stdin = !strcmp(o->dir, "-");
    if (!from_stdin && !cad_exists(o->dir))
        return porch_error_set(404, "lstat %s: no such file or directory", o->dir);
    int rc = from_stdin ? read_stdin(&pool, &items) : cad_pkg_read(&pool, o->dir, true, NULL, &items, &files);
    krm_stream *ws = cad_pool_stream(&pool);
    krm_node *config = NULL;
    if (rc == 0 && o->fn_config && !(config = read_fn_config(&pool, o->fn_config)))
        rc = -1;
    if (rc == 0 && !config)
        config = kv_config(ws, o->kv);
    char img[1024];
    const char *image = o->image ? fn_image_expand(o->image, img, sizeof img) : NULL;
    cad_fnspec fn = {.image = image, .exec = o->exec, .display = o->exec ? o->exec : image,
                     .config = config, .match = &o->match, .cli_exclude = &o->exclude};
    cad_fnres r = {0};
    int result = 0;
    if (rc == 0 && cad_items_check_krm(&items, 0) < 0) {
        /* kpt's function runner checks its input after announcing the function */
        if (o->fn.log)
            fprintf(o->fn.log, "[RUNNING] \"%s\"\n[FAIL] \"%s\" in 0s\n", fn.display, fn.display);
        rc = -1;
    } else if (rc == 0) {
        int frc = cad_fn_run(&pool, &o->fn, &fn, &items, false, &r);
        if (o->fn.log) {
            fprintf(o->fn.log, "[RUNNING] \"%s\"", fn.display);
            if (r.had_selection)
                fprintf(o->fn.log, " on %zu resource(s)", r.nselected);
            fputc('\n', o->fn.log);
        }
        if (frc < 0 && r.error) {
            rc = porch_error_set(400, "%s", r.error);
        } else {
            cad_fn_report(o->fn.log, &fn, &r, frc == 0, o->fn.truncate_output);
            cad_resultlist rl = {0};
            cad_resultlist_add(&rl, &fn, &r);
            if (o->fn.results_dir)
                cad_resultlist_write(&rl, o->fn.results_dir, o->fn.log);
            cad_resultlist_free(&rl);
            if (frc < 0)
                result = 1;
        }
    }
    if (rc == 0 && result == 0) {
        if (from_stdin || (o->output && !strcmp(o->output, "stdout"))) {
            krm_buf b = {0};
            rc = krm_emit_resource_list(items.v, items.n, NULL, &b);
            if (rc == 0)
                fwrite(b.data, 1, b.len, stdout);
            krm_buf_free(&b);
        } else if (o->output && !strcmp(o->output, "unwrap")) {
            krm_buf b = {0};
            rc = cad_items_unwrap(&items, &b);
            if (rc == 0)
                fwrite(b.data, 1, b.len, stdout);
            krm_buf_free(&b);
        } else if (o->output) {
            rc = cad_pkg_write(o->output, &items, NULL);
        } else {
            rc = cad_pkg_write(o->dir, &items, &files);
            if (rc == 0 && o->save)
                rc = save_fn(o, image);
        }
    }
    cad_fnres_free(&r);
    free(items.v);
    cad_strv_free(&files);
    cad_pool_free(&pool);
    return rc < 0 ? -1 : result;
}
