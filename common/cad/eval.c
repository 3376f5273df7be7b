/* `fn eval`: one function (exec or image) over a package, stdin, with
 * selectors/exclusions, --fn-config or `-- k=v` as a ConfigMap, results
 * file, in-place / stdout / unwrap / directory output, and `--save`. */
#include "cad_internal.h"

#include "error/error.h"
#include "fn/fn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* filepath.Rel for two clean absolute paths; a new string. */
static char *rel_path(const char *base, const char *target)
{
    size_t i = 0, common = 0;
    while (base[i] && base[i] == target[i]) {
        if (base[i] == '/')
            common = i;
        i++;
    }
    if (!base[i] && (target[i] == '/' || !target[i]))
        common = i;
    const char *rest = target[common] == '/' ? target + common + 1 : target + common;
    krm_buf b = {0};
    for (const char *p = base + common; *p; p++)
        if (*p == '/')
            krm_buf_put(&b, "../", 3);
    krm_buf_put(&b, rest, strlen(rest));
    if (!b.len)
        krm_buf_put(&b, ".", 1);
    krm_buf_put(&b, "", 1);
    return b.data;
}

static const char *scalar_at(const krm_node *m, const char *key)
{
    const krm_node *v = krm_node_kind(m) == KRM_MAP ? krm_map_get(m, key) : NULL;
    return v && krm_node_kind(v) == KRM_SCALAR ? krm_node_value(v) : NULL;
}

/* Replaces item i of q with n (keeping the others in order). */
static void seq_replace(krm_stream *s, krm_node *q, size_t i, krm_node *n)
{
    size_t len = krm_seq_len(q);
    krm_node **all = malloc((len ? len : 1) * sizeof *all);
    if (!all)
        return;
    for (size_t j = 0; j < len; j++)
        all[j] = j == i ? n : krm_seq_at(q, j);
    while (krm_seq_len(q))
        krm_seq_delete(q, krm_seq_len(q) - 1);
    for (size_t j = 0; j < len; j++)
        krm_seq_append(s, q, all[j]);
    free(all);
}

/* "k=v,k2=v2" as a mapping with sorted keys (Go writes a map[string]string so). */
static krm_node *kv_map(krm_stream *s, const char *list)
{
    cad_strv kv = {0};
    char *dup = strdup(list), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cad_strv_push(&kv, t);
    free(dup);
    qsort(kv.v, kv.n, sizeof *kv.v, cmp_str);
    krm_node *m = krm_node_new_map(s);
    for (size_t i = 0; i < kv.n; i++) {
        char *eq = strchr(kv.v[i], '=');
        if (eq) {
            *eq = '\0';
            krm_map_set(s, m, kv.v[i], krm_node_new_string(s, eq + 1));
        }
    }
    cad_strv_free(&kv);
    return m;
}

/* A CLI selector as a one-item list of kpt's Selector, or NULL when empty. */
static krm_node *selector_list(krm_stream *s, const cad_selector *sel)
{
    const char *keys[] = {"apiVersion", "kind", "name", "namespace"};
    const char *vals[] = {sel->api_version, sel->kind, sel->name, sel->ns};
    krm_node *m = krm_node_new_map(s);
    for (int i = 0; i < 4; i++)
        if (vals[i] && *vals[i])
            krm_map_set(s, m, keys[i], krm_node_new_string(s, vals[i]));
    if (sel->labels && *sel->labels)
        krm_map_set(s, m, "labels", kv_map(s, sel->labels));
    if (sel->annotations && *sel->annotations)
        krm_map_set(s, m, "annotations", kv_map(s, sel->annotations));
    if (!krm_map_len(m))
        return NULL;
    krm_node *q = krm_node_new_seq(s);
    krm_seq_append(s, q, m);
    return q;
}

/* The function as kpt's NewFunction writes it (fields in Function's order):
 * image or exec, configPath relative to the package, or the `k=v`
 * arguments as configMap, selectors, exclude. */
static krm_node *saved_function(krm_stream *s, const cad_eval_opts *o, const char *image)
{
    krm_node *f = krm_node_new_map(s);
    krm_map_set(s, f, o->exec ? "exec" : "image",
                krm_node_new_string(s, o->exec ? o->exec : image));
    if (o->fn_config) {
        char *pkg = realpath(o->dir, NULL), *cfg = realpath(o->fn_config, NULL);
        char *rel = pkg && cfg ? rel_path(pkg, cfg) : NULL;
        krm_map_set(s, f, "configPath", krm_node_new_string(s, rel ? rel : o->fn_config));
        free(rel);
        free(pkg);
        free(cfg);
    } else {
        cad_strv kv = {0};
        for (size_t i = 0; o->kv && o->kv[i]; i++)
            if (strchr(o->kv[i], '='))
                cad_strv_push(&kv, o->kv[i]);
        qsort(kv.v, kv.n, sizeof *kv.v, cmp_str);
        krm_node *cm = krm_node_new_map(s);
        for (size_t i = 0; i < kv.n; i++) {
            char *eq = strchr(kv.v[i], '=');
            *eq = '\0';
            krm_node *old = krm_map_get(cm, kv.v[i]);
            if (old)
                krm_scalar_set(s, old, eq + 1);
            else
                krm_map_set(s, cm, kv.v[i], krm_node_new_string(s, eq + 1));
        }
        cad_strv_free(&kv);
        if (krm_map_len(cm))
            krm_map_set(s, f, "configMap", cm);
    }
    krm_node *sel = selector_list(s, &o->match), *exc = selector_list(s, &o->exclude);
    if (sel)
        krm_map_set(s, f, "selectors", sel);
    if (exc)
        krm_map_set(s, f, "exclude", exc);
    return f;
}

/* kpt fn eval --save: the function replaces the pipeline entry with the same
 * image (or exec) or is appended; without a Kptfile nothing is saved. */
static int save_fn(const cad_eval_opts *o, const char *image)
{
    char *kp = cad_path_join(o->dir, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *s = NULL;
    const char *type = o->fn_type && !strcmp(o->fn_type, "validator") ? "validators" : "mutators";
    const char *what = o->exec ? o->exec : image;
    if (cad_read_file(kp, &buf, &len) < 0) {
        porch_error_clear();
        if (o->fn.log)
            fprintf(o->fn.log, "function not added: Kptfile not exists\n");
        free(kp);
        return 0;
    }
    int rc = krm_stream_parse(buf, len, "Kptfile", NULL, &s);
    krm_node *root = rc == 0 && krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
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
        krm_node *f = saved_function(s, o, image);
        bool updated = false;
        for (size_t i = 0; i < krm_seq_len(list); i++) {
            const char *v = scalar_at(krm_seq_at(list, i), o->exec ? "exec" : "image");
            if (v && !strcmp(v, what)) {
                seq_replace(s, list, i, f);
                updated = true;
            }
        }
        if (!updated)
            krm_seq_append(s, list, f);
        krm_buf b = {0};
        rc = krm_node_emit(root, KRM_SEQ_WIDE, &b);
        if (rc == 0)
            rc = cad_write_file(kp, b.data, b.len);
        krm_buf_free(&b);
        if (rc == 0 && o->fn.log)
            fprintf(o->fn.log, "%s \"%s\" as %s in the Kptfile.\n", updated ? "Updated" : "Added",
                    what, type[0] == 'm' ? "mutator" : "validator");
    }
    krm_stream_free(s);
    free(buf);
    free(kp);
    return rc;
}

/* kpt leaves a --fn-config file that lies inside the package out of the
 * function's input and writes it back unchanged: removed from items and
 * returned (or NULL). */
static krm_node *take_config_item(const cad_eval_opts *o, cad_items *items)
{
    if (!o->fn_config)
        return NULL;
    char *cfg = realpath(o->fn_config, NULL), *pkg = realpath(o->dir, NULL);
    krm_node *found = NULL;
    for (size_t i = 0; cfg && pkg && i < items->n;) {
        const char *p = krm_res_path(items->v[i]);
        char *full = p ? cad_path_join(pkg, p) : NULL;
        char *real = full ? realpath(full, NULL) : NULL;
        bool same = real && !strcmp(real, cfg);
        free(full);
        free(real);
        if (same) {
            found = items->v[i];
            memmove(&items->v[i], &items->v[i + 1], (items->n - i - 1) * sizeof *items->v);
            items->n--;
        } else {
            i++;
        }
    }
    free(cfg);
    free(pkg);
    return found;
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
    if (rc == 0 && o->fn_config &&
        !(config = cad_fn_config_read(&pool, o->fn_config, o->fn_config, o->fn_config)))
        rc = -1;
    if (rc == 0 && !config)
        config = kv_config(ws, o->kv);
    char img[1024];
    const char *image = o->image ? fn_image_expand(o->image, img, sizeof img) : NULL;
    cad_fnspec fn = {.image = image, .exec = o->exec, .display = o->exec ? o->exec : image,
                     .config = config, .match = &o->match, .cli_exclude = &o->exclude};
    cad_fnres r = {0};
    int result = 0;
    krm_node *own_config = rc == 0 && !from_stdin ? take_config_item(o, &items) : NULL;
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
    if (own_config)
        cad_items_push(&items, own_config);
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
