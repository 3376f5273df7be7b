/* set-annotations: adds or updates annotations in metadata and in the pod
 * and job templates of the built-in workload kinds (kustomize's
 * commonAnnotations field specs), plus user fieldSpecs given as
 * additionalAnnotationFields; keys are applied in sorted order. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fspec {
    const char *group, *version, *kind, *path;
    bool create;
} fspec;

static const fspec defaults[] = {
    {"", "", "", "metadata/annotations", true},
    {"", "v1", "ReplicationController", "spec/template/metadata/annotations", true},
    {"", "", "Deployment", "spec/template/metadata/annotations", true},
    {"", "", "ReplicaSet", "spec/template/metadata/annotations", true},
    {"", "", "DaemonSet", "spec/template/metadata/annotations", true},
    {"apps", "", "StatefulSet", "spec/template/metadata/annotations", true},
    {"batch", "", "Job", "spec/template/metadata/annotations", true},
    {"batch", "", "CronJob", "spec/jobTemplate/metadata/annotations", true},
    {"batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/annotations", true},
};

typedef struct kv {
    const char **k, **v;
    size_t n;
} kv;

/* {"a":"x","b":"y"}: the pairs as JSON (sorted, as Go marshals a map). */
static void json_of(const kv *p, krm_buf *out)
{
    krm_buf_put(out, "{", 1);
    for (size_t i = 0; i < p->n; i++) {
        const char *s[2] = {p->k[i], p->v[i]};
        if (i)
            krm_buf_put(out, ",", 1);
        for (int j = 0; j < 2; j++) {
            krm_buf_put(out, "\"", 1);
            for (const unsigned char *c = (const unsigned char *)s[j]; *c; c++) {
                char esc[8];
                if (*c == '"' || *c == '\\') {
                    esc[0] = '\\';
                    esc[1] = (char)*c;
                    krm_buf_put(out, esc, 2);
                } else if (*c < 0x20 || *c == '<' || *c == '>' || *c == '&') {
                    snprintf(esc, sizeof esc, "\\u%04x", *c);
                    krm_buf_put(out, esc, 6);
                } else {
                    krm_buf_put(out, c, 1);
                }
            }
            krm_buf_put(out, j ? "\"" : "\":", j ? 1 : 2);
        }
    }
    krm_buf_put(out, "}", 2);
}

/* Walks `path` ("a/b[]/c") from node, creating maps when `create`; sets the pairs at the end. */
static void apply_path(fn_ctx *c, krm_node *node, const char *path, bool create, const kv *p)
{
    if (!node || krm_node_kind(node) != KRM_MAP)
        return;
    if (!*path) {
        for (size_t i = 0; i < p->n; i++)
            fn_set_string(c->s, node, p->k[i], p->v[i]);
        return;
    }
    size_t n = strcspn(path, "/");
    char seg[256];
    if (n >= sizeof seg)
        return;
    memcpy(seg, path, n);
    seg[n] = '\0';
    const char *rest = path[n] ? path + n + 1 : path + n;
    bool each = n > 2 && !strcmp(seg + n - 2, "[]");
    if (each)
        seg[n - 2] = '\0';
    krm_node *nx = krm_map_get(node, seg);
    if (each) {
        for (size_t i = 0; nx && krm_node_kind(nx) == KRM_SEQ && i < krm_seq_len(nx); i++)
            apply_path(c, krm_seq_at(nx, i), rest, create, p);
        return;
    }
    if (!nx || (krm_node_kind(nx) == KRM_SCALAR && krm_scalar_is_null(nx))) {
        if (!create)
            return;
        nx = fn_ensure_map(c->s, node, seg);
    }
    apply_path(c, nx, rest, create, p);
}

/* "set annotations: {...}" for one field spec applied to one resource. */
static void report(fn_ctx *c, const krm_node *o, const char *slash_path, const char *json)
{
    char field[512], msg[4096];
    snprintf(field, sizeof field, "%s", slash_path);
    for (char *q = field; *q; q++)
        if (*q == '/')
            *q = '.';
    snprintf(msg, sizeof msg, "set annotations: %s", json);
    fn_result r = {.message = msg, .severity = FN_SEV_INFO, .field_path = field, .file_index = -1};
    r.file_path = (char *)krm_res_path(o);
    r.file_index = r.file_path ? krm_res_index(o) : -1;
    fn_results_add_full(c->results, &r);
}

static bool matches(const krm_node *o, const char *g, const char *v, const char *k)
{
    return fn_is_gvk(o, g ? g : "", v ? v : "", k ? k : "");
}

static int collect(kv *p, const krm_node *m)
{
    size_t n = m ? krm_map_len(m) : 0;
    p->k = calloc(n + 1, sizeof *p->k);
    p->v = calloc(n + 1, sizeof *p->v);
    if (!p->k || !p->v)
        return porch_error_set(500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *k = fn_scalar(krm_map_key_at(m, i));
        if (!k)
            continue;
        const char *v = fn_scalar(krm_map_value_at(m, i));
        p->k[p->n] = k;
        p->v[p->n++] = v ? v : "";
    }
    for (size_t i = 1; i < p->n; i++)
        for (size_t j = i; j > 0 && strcmp(p->k[j - 1], p->k[j]) > 0; j--) {
            const char *t = p->k[j];
            p->k[j] = p->k[j - 1];
            p->k[j - 1] = t;
            t = p->v[j];
            p->v[j] = p->v[j - 1];
            p->v[j - 1] = t;
        }
    return 0;
}

int fn_builtin_set_annotations(fn_ctx *c)
{
    const krm_node *src = NULL, *extra = NULL;
    if (fn_config_is(c, "ConfigMap")) {
        src = fn_config_data(c);
    } else if (fn_config_is(c, "SetAnnotations")) {
        src = krm_map_get(c->config, "annotations");
        extra = krm_map_get(c->config, "additionalAnnotationFields");
    } else if (!c->config || !fn_config_kind(c)) {
        return fn_fail(c, "`functionConfig` must be either a `ConfigMap` or `SetAnnotations`");
    } else {
        return fn_fail(c,
                       "unknown functionConfig Kind=%s, expect `SetAnnotations` or "
                       "`ConfigMap`",
                       fn_config_kind(c));
    }
    if (src && krm_node_kind(src) != KRM_MAP)
        return fn_fail(c, "`annotations` must be a map of strings");
    kv p = {0};
    if (collect(&p, src) < 0)
        return -1;
    if (p.n == 0) {
        free(p.k);
        free(p.v);
        return fn_fail(c, "input annotation list cannot be empty");
    }
    krm_buf json = {0};
    json_of(&p, &json);
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) != KRM_MAP || fn_is_local_config(o))
            continue;
        for (size_t d = 0; d < sizeof defaults / sizeof *defaults; d++)
            if (matches(o, defaults[d].group, defaults[d].version, defaults[d].kind)) {
                apply_path(c, o, defaults[d].path, defaults[d].create, &p);
                report(c, o, defaults[d].path, json.data);
            }
        for (size_t e = 0; extra && krm_node_kind(extra) == KRM_SEQ && e < krm_seq_len(extra);
             e++) {
            const krm_node *f = krm_seq_at(extra, e);
            const char *path = fn_scalar(krm_map_get(f, "path"));
            const char *cr = fn_scalar(krm_map_get(f, "create"));
            if (path &&
                matches(o, fn_scalar(krm_map_get(f, "group")), fn_scalar(krm_map_get(f, "version")),
                        fn_scalar(krm_map_get(f, "kind")))) {
                apply_path(c, o, path, cr && !strcmp(cr, "true"), &p);
                report(c, o, path, json.data);
            }
        }
    }
    krm_buf_free(&json);
    free(p.k);
    free(p.v);
    return 0;
}
