/* Kptfile edits on the KRM document model (see kptfile.h). JSON values are
 * converted to new KRM nodes key by key, keeping their order. */
#include "kptfile.h"
#include "error/error.h"
#include "krm/krm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static krm_node *node_from_json(krm_stream *s, json_t *v)
{
    if (json_is_object(v)) {
        krm_node *m = krm_node_new_map(s);
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) krm_map_set(s, m, k, node_from_json(s, x));
        return m;
    }
    if (json_is_array(v)) {
        krm_node *q = krm_node_new_seq(s);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) krm_seq_append(s, q, node_from_json(s, x));
        return q;
    }
    if (json_is_string(v))
        return krm_node_new_string(s, json_string_value(v));
    char buf[64];
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%g", json_real_value(v));
    else
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
    return krm_node_new_scalar(s, buf, strlen(buf), KRM_PLAIN);
}

/* Sets or replaces metadata.<field> (labels/annotations) from a JSON object. */
static void apply_map(krm_stream *s, krm_node *root, const char *field, json_t *values, int replace,
                      int keep_local_config)
{
    krm_node *meta = krm_map_get(root, "metadata");
    if (!meta) {
        meta = krm_node_new_map(s);
        krm_map_set(s, root, "metadata", meta);
    }
    krm_node *old = krm_map_get(meta, field);
    if (replace && old && krm_node_kind(old) == KRM_MAP) {
        /* drop user keys not in `values`, keeping kpt's own local-config marker */
        for (size_t i = krm_map_len(old); i-- > 0;) {
            const char *k = krm_node_value(krm_map_key_at(old, i));
            if (keep_local_config && !strcmp(k, "config.kubernetes.io/local-config"))
                continue;
            if (!json_object_get(values, k))
                krm_map_delete(old, k);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(values, k, v) {
        if (!json_is_string(v))
            continue;
        if (!strcmp(field, "labels"))
            krm_res_set_label(s, root, k, json_string_value(v));
        else
            krm_res_set_annotation(s, root, k, json_string_value(v));
    }
}

/* Parses resources["Kptfile"]: *s (to free) and its root mapping; 400 when
 * there is none or it is not a mapping. */
static int parse_kptfile(json_t *resources, krm_stream **s, krm_node **root)
{
    json_t *text = json_object_get(resources, "Kptfile");
    if (!json_is_string(text))
        return porch_error_set(400, "package must contain Kptfile at root");
    if (krm_stream_parse(json_string_value(text), json_string_length(text), "Kptfile", NULL, s) < 0)
        return -1;
    krm_doc *doc = krm_stream_count(*s) ? krm_stream_doc(*s, 0) : NULL;
    *root = doc ? krm_doc_root(doc) : NULL;
    if (!*root || krm_node_kind(*root) != KRM_MAP) {
        krm_stream_free(*s);
        *s = NULL;
        return porch_error_set(400, "Kptfile is not a YAML mapping");
    }
    return 0;
}

/* Writes the stream back as resources["Kptfile"]. */
static int store_kptfile(json_t *resources, krm_stream *s)
{
    krm_buf out = {0};
    int rc = krm_stream_emit(s, &out);
    if (rc == 0)
        json_object_set_new(resources, "Kptfile", json_stringn(out.data ? out.data : "", out.len));
    krm_buf_free(&out);
    return rc < 0 ? -1 : 0;
}

int engine_kptfile_edit(json_t *resources, json_t *metadata, int replace, const char *name,
                        json_t *upstream, json_t *lock)
{
    krm_stream *s = NULL;
    krm_node *root = NULL;
    if (parse_kptfile(resources, &s, &root) < 0)
        return -1;
    if (name) {
        krm_node *meta = krm_map_get(root, "metadata");
        if (!meta) {
            meta = krm_node_new_map(s);
            krm_map_set(s, root, "metadata", meta);
        }
        krm_map_set(s, meta, "name", krm_node_new_string(s, name));
    }
    json_t *labels = json_object_get(metadata, "labels");
    json_t *annotations = json_object_get(metadata, "annotations");
    if (json_is_object(labels) || replace)
        apply_map(s, root, "labels", json_is_object(labels) ? labels : NULL, replace, 0);
    if (json_is_object(annotations) || replace)
        apply_map(s, root, "annotations", json_is_object(annotations) ? annotations : NULL,
                  replace, 1);
    if (upstream)
        krm_map_set(s, root, "upstream", node_from_json(s, upstream));
    if (lock)
        krm_map_set(s, root, "upstreamLock", node_from_json(s, lock));
    int rc = store_kptfile(resources, s);
    krm_stream_free(s);
    return rc;
}

/* The `name` of a Kptfile's text (new string), or NULL when it has none. */
static char *kptfile_name(const char *text, size_t len)
{
    krm_stream *s = NULL;
    char *name = NULL;
    if (krm_stream_parse(text, len, "Kptfile", NULL, &s) == 0 && krm_stream_count(s) > 0) {
        const char *n = krm_res_name(krm_doc_root(krm_stream_doc(s, 0)));
        name = n ? strdup(n) : NULL;
    } else {
        porch_error_clear();
    }
    krm_stream_free(s);
    return name;
}

int engine_package_context(json_t *resources, const char *package_path)
{
    json_t *contexts = json_object(); /* path → text, added after the walk */
    const char *path;
    json_t *text;
    json_object_foreach(resources, path, text)
    {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (strcmp(base, "Kptfile") != 0 || !json_is_string(text))
            continue;
        char *name = kptfile_name(json_string_value(text), json_string_length(text));
        krm_stream *s = krm_stream_new();
        krm_node *cm = krm_node_new_map(s), *meta = krm_node_new_map(s), *ann = krm_node_new_map(s),
                 *data = krm_node_new_map(s);
        krm_map_set(s, cm, "apiVersion", krm_node_new_string(s, "v1"));
        krm_map_set(s, cm, "kind", krm_node_new_string(s, "ConfigMap"));
        krm_map_set(s, meta, "name", krm_node_new_string(s, "kptfile.kpt.dev"));
        krm_map_set(s, ann, "config.kubernetes.io/local-config", krm_node_new_string(s, "true"));
        krm_map_set(s, meta, "annotations", ann);
        krm_map_set(s, cm, "metadata", meta);
        krm_map_set(s, data, "name", krm_node_new_string(s, name ? name : ""));
        if (package_path && *package_path)
            krm_map_set(s, data, "package-path", krm_node_new_string(s, package_path));
        krm_map_set(s, cm, "data", data);
        krm_buf out = {0};
        int rc = krm_node_emit(cm, KRM_SEQ_COMPACT, &out);
        char where[4096];
        snprintf(where, sizeof where, "%.*spackage-context.yaml", slash ? (int)(slash - path + 1) : 0,
                 path);
        if (rc == 0)
            json_object_set_new(contexts, where, json_stringn(out.data ? out.data : "", out.len));
        krm_buf_free(&out);
        krm_stream_free(s);
        free(name);
        if (rc < 0) {
            json_decref(contexts);
            return -1;
        }
    }
    json_object_update(resources, contexts);
    json_decref(contexts);
    return 0;
}

/* Sets root[a][b] to `value` (JSON array), or removes it when the array is
 * empty (and `a` when that leaves it empty). */
static void set_list(krm_stream *s, krm_node *root, const char *a, const char *b, json_t *value)
{
    krm_node *parent = krm_map_get(root, a);
    if (json_array_size(value) == 0) {
        if (parent && krm_node_kind(parent) == KRM_MAP) {
            krm_map_delete(parent, b);
            if (krm_map_len(parent) == 0)
                krm_map_delete(root, a);
        }
        return;
    }
    if (!parent || krm_node_kind(parent) != KRM_MAP) {
        parent = krm_node_new_map(s);
        krm_map_set(s, root, a, parent);
    }
    krm_node *next = node_from_json(s, value), *cur = krm_map_get(parent, b);
    if (!cur || !krm_node_equal(cur, next))
        krm_map_set(s, parent, b, next);
}

int engine_kptfile_sync(json_t *resources, json_t *package_metadata, json_t *readiness_gates,
                        json_t *conditions)
{
    krm_stream *s = NULL;
    krm_node *root = NULL;
    if (parse_kptfile(resources, &s, &root) < 0)
        return -1;
    krm_node *before = krm_node_copy(s, root);
    if (package_metadata) {
        json_t *labels = json_object_get(package_metadata, "labels");
        json_t *annotations = json_object_get(package_metadata, "annotations");
        apply_map(s, root, "labels", json_is_object(labels) ? labels : NULL, 1, 0);
        apply_map(s, root, "annotations", json_is_object(annotations) ? annotations : NULL, 1, 1);
        krm_node *meta = krm_map_get(root, "metadata");
        for (int i = 0; meta && i < 2; i++) { /* no empty maps left behind */
            const char *f = i ? "annotations" : "labels";
            krm_node *m = krm_map_get(meta, f);
            if (m && krm_node_kind(m) == KRM_MAP && krm_map_len(m) == 0)
                krm_map_delete(meta, f);
        }
    }
    if (json_is_array(readiness_gates))
        set_list(s, root, "info", "readinessGates", readiness_gates);
    if (json_is_array(conditions))
        set_list(s, root, "status", "conditions", conditions);
    int rc = 0;
    if (!krm_node_equal(before, root)) /* untouched text stays byte for byte */
        rc = store_kptfile(resources, s);
    krm_stream_free(s);
    return rc;
}
