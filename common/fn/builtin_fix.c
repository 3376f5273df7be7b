/* fix: migrates a kpt v0.x package to v1: the Kptfile (kpt.dev/v1,
 * upstream + upstreamLock, info from packageMetadata, openAPI setters turned
 * into an apply-setters mutator with a setters.yaml ConfigMap) and the
 * resources' old setter comments {"$kpt-set":"x"} into "kpt-set: ${x}". */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static krm_node *str(fn_ctx *c, const char *v)
{
    return krm_node_new_string(c->s, v);
}

/* Collects openAPI setters (name → value) into a new `data` mapping. */
static krm_node *setters_of(fn_ctx *c, const krm_node *kf)
{
    const krm_node *defs = krm_path_get(kf, "openAPI.definitions");
    krm_node *data = NULL;
    for (size_t i = 0; defs && krm_node_kind(defs) == KRM_MAP && i < krm_map_len(defs); i++) {
        const krm_node *st = krm_path_get(krm_map_value_at(defs, i), "x-k8s-cli.setter");
        const char *name = fn_scalar(krm_map_get(st, "name"));
        const char *value = fn_scalar(krm_map_get(st, "value"));
        const krm_node *list = krm_map_get(st, "listValues");
        if (!name)
            continue;
        if (!data)
            data = krm_node_new_map(c->s);
        if (list && krm_node_kind(list) == KRM_SEQ) {
            krm_buf b = {0};
            for (size_t k = 0; k < krm_seq_len(list); k++) {
                const char *v = fn_scalar(krm_seq_at(list, k));
                krm_buf_put(&b, k ? "\n- " : "- ", k ? 3 : 2);
                krm_buf_put(&b, v ? v : "", v ? strlen(v) : 0);
            }
            krm_buf_put(&b, "", 1);
            krm_map_set(c->s, data, name, str(c, b.data));
            krm_buf_free(&b);
        } else {
            krm_map_set(c->s, data, name, str(c, value ? value : ""));
        }
    }
    return data;
}

static void fix_kptfile(fn_ctx *c, krm_node *kf, bool *made_setters, krm_node **setters_data)
{
    krm_map_set(c->s, kf, "apiVersion", str(c, "kpt.dev/v1"));
    const char *desc = fn_scalar(krm_path_get(kf, "packageMetadata.shortDescription"));
    char *desc_copy = desc ? strdup(desc) : NULL;
    krm_map_delete(kf, "packageMetadata");
    krm_node *up = krm_map_get(kf, "upstream");
    if (up && krm_node_kind(up) == KRM_MAP) {
        krm_node *git = krm_map_get(up, "git");
        const char *commit = fn_scalar(krm_map_get(git, "commit"));
        krm_node *lock = krm_node_new_map(c->s), *lg = krm_node_new_map(c->s);
        krm_map_set(c->s, lock, "type", str(c, "git"));
        static const char *const keys[] = {"repo", "directory", "ref"};
        for (size_t i = 0; i < 3; i++) {
            const char *v = fn_scalar(krm_map_get(git, keys[i]));
            if (v)
                krm_map_set(c->s, lg, keys[i], str(c, v));
        }
        if (commit)
            krm_map_set(c->s, lg, "commit", str(c, commit));
        krm_map_set(c->s, lock, "git", lg);
        if (git)
            krm_map_delete(git, "commit");
        if (!krm_map_get(up, "updateStrategy"))
            krm_map_set(c->s, up, "updateStrategy", str(c, "resource-merge"));
        krm_map_set(c->s, kf, "upstreamLock", lock);
    }
    if (desc_copy) {
        krm_node *info = fn_ensure_map(c->s, kf, "info");
        if (info)
            krm_map_set(c->s, info, "description", str(c, desc_copy));
        free(desc_copy);
    }
    krm_node *data = setters_of(c, kf);
    krm_map_delete(kf, "openAPI");
    if (data) {
        krm_node *pipe = fn_ensure_map(c->s, kf, "pipeline");
        krm_node *mut = pipe ? krm_map_get(pipe, "mutators") : NULL;
        if (pipe && !mut) {
            mut = krm_node_new_seq(c->s);
            krm_map_set(c->s, pipe, "mutators", mut);
        }
        if (mut && krm_node_kind(mut) == KRM_SEQ) {
            krm_node *fnn = krm_node_new_map(c->s);
            krm_map_set(c->s, fnn, "image", str(c, "gcr.io/kpt-fn/apply-setters:v0.2"));
            krm_map_set(c->s, fnn, "configPath", str(c, "setters.yaml"));
            krm_seq_append(c->s, mut, fnn);
        }
        *made_setters = true;
        *setters_data = data;
    }
}

/* {"$kpt-set":"name"} → kpt-set: ${name} on every line comment. */
static void fix_comments(fn_ctx *c, krm_node *n)
{
    const char *com = krm_node_comment(n, KRM_COMMENT_LINE);
    const char *p = com ? strstr(com, "\"$kpt-set\"") : NULL;
    if (p) {
        const char *q = strchr(p + 10, '"');
        const char *e = q ? strchr(q + 1, '"') : NULL;
        if (q && e) {
            char nc[512];
            snprintf(nc, sizeof nc, "# kpt-set: ${%.*s}", (int)(e - q - 1), q + 1);
            krm_node_set_comment(c->s, n, KRM_COMMENT_LINE, nc);
        }
    }
    if (krm_node_kind(n) == KRM_MAP) {
        for (size_t i = 0; i < krm_map_len(n); i++) {
            fix_comments(c, krm_map_key_at(n, i));
            fix_comments(c, krm_map_value_at(n, i));
        }
    } else if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++)
            fix_comments(c, krm_seq_at(n, i));
    }
}

int fn_builtin_fix(fn_ctx *c)
{
    bool made = false;
    krm_node *data = NULL;
    const char *kf_path = NULL;
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *k = krm_res_kind(o), *av = krm_res_api_version(o);
        if (k && !strcmp(k, "Kptfile") && av && !strcmp(av, "kpt.dev/v1alpha1")) {
            fix_kptfile(c, o, &made, &data);
            kf_path = krm_res_path(o);
        } else if (krm_node_kind(o) == KRM_MAP) {
            fix_comments(c, o);
        }
    }
    if (made && data) {
        krm_node *cm = krm_node_new_map(c->s), *md = krm_node_new_map(c->s);
        krm_map_set(c->s, cm, "apiVersion", str(c, "v1"));
        krm_map_set(c->s, cm, "kind", str(c, "ConfigMap"));
        krm_map_set(c->s, md, "name", str(c, "setters"));
        krm_map_set(c->s, cm, "metadata", md);
        krm_map_set(c->s, cm, "data", data);
        char path[1024] = "setters.yaml";
        const char *slash = kf_path ? strrchr(kf_path, '/') : NULL;
        if (slash)
            snprintf(path, sizeof path, "%.*s/setters.yaml", (int)(slash - kf_path), kf_path);
        krm_res_set_kpt_annotations(c->s, cm, path, 0, KRM_SEQ_COMPACT);
        krm_seq_append(c->s, c->items, cm);
    }
    return 0;
}
