/* KRM helpers on top of the node tree: identity fields, labels and
 * annotations, dotted paths with list selectors, and kpt's path/index
 * annotations (legacy config.kubernetes.io keys and internal ones, spec §17). */
#include "krm_internal.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *scalar_at(const krm_node *m, const char *key)
{
    const krm_node *v = krm_map_get(m, key);
    return v && v->kind == KRM_SCALAR ? krm_node_value(v) : NULL;
}

const char *krm_res_api_version(const krm_node *root)
{
    return scalar_at(root, "apiVersion");
}
const char *krm_res_kind(const krm_node *root)
{
    return scalar_at(root, "kind");
}
const char *krm_res_name(const krm_node *root)
{
    return scalar_at(krm_map_get(root, "metadata"), "name");
}
const char *krm_res_namespace(const krm_node *root)
{
    return scalar_at(krm_map_get(root, "metadata"), "namespace");
}

static const char *meta_entry(const krm_node *root, const char *field, const char *key)
{
    return scalar_at(krm_map_get(krm_map_get(root, "metadata"), field), key);
}
const char *krm_res_annotation(const krm_node *root, const char *key)
{
    return meta_entry(root, "annotations", key);
}
const char *krm_res_label(const krm_node *root, const char *key)
{
    return meta_entry(root, "labels", key);
}

static krm_node *ensure_map(krm_stream *s, krm_node *parent, const char *key)
{
    krm_node *m = krm_map_get(parent, key);
    if (m && m->kind == KRM_MAP)
        return m;
    if (m && !(m->kind == KRM_SCALAR && krm_scalar_is_null(m)))
        return NULL;
    krm_node *nm = krm_node_new_map(s);
    if (!nm || krm_map_set(s, parent, key, nm) < 0)
        return NULL;
    return nm;
}

static int set_meta(krm_stream *s, krm_node *root, const char *field, const char *key,
                    const char *value, krm_style style)
{
    if (!root || root->kind != KRM_MAP)
        return porch_error_set(400, "resource is not a mapping");
    krm_node *meta = ensure_map(s, root, "metadata");
    krm_node *m = meta ? ensure_map(s, meta, field) : NULL;
    if (!m)
        return porch_error_set(400, "metadata.%s is not a mapping", field);
    krm_node *old = krm_map_get(m, key);
    if (old && old->kind == KRM_SCALAR) {
        if (krm_scalar_set(s, old, value) < 0)
            return -1;
        if (style != KRM_PLAIN)
            old->style = (uint8_t)style;
        return 0;
    }
    krm_node *v = krm_node_new_string(s, value);
    if (!v)
        return porch_error_set(500, "out of memory");
    v->style = (uint8_t)style;
    return krm_map_set(s, m, key, v);
}

int krm_res_set_annotation(krm_stream *s, krm_node *root, const char *key, const char *value)
{
    return set_meta(s, root, "annotations", key, value, KRM_PLAIN);
}
int krm_res_set_label(krm_stream *s, krm_node *root, const char *key, const char *value)
{
    return set_meta(s, root, "labels", key, value, KRM_PLAIN);
}

static int delete_meta(krm_node *root, const char *field, const char *key)
{
    krm_node *meta = krm_map_get(root, "metadata");
    krm_node *m = krm_map_get(meta, field);
    if (!m || krm_map_delete(m, key))
        return 1;
    if (m->n == 0) {
        krm_map_delete(meta, field);
        if (meta->n == 0)
            krm_map_delete(root, "metadata");
    }
    return 0;
}
int krm_res_delete_annotation(krm_node *root, const char *key)
{
    return delete_meta(root, "annotations", key);
}
int krm_res_delete_label(krm_node *root, const char *key)
{
    return delete_meta(root, "labels", key);
}

/* ---- paths ---- */

typedef struct pseg {
    char key[256];
    char sel_k[256], sel_v[256];
    long index; /* -1 none */
    bool has_sel;
} pseg;

/* Parses the next "key", "key[3]" or "key[name=main]" segment; returns chars consumed or -1. */
static int next_seg(const char *p, pseg *s)
{
    memset(s, 0, sizeof *s);
    s->index = -1;
    size_t i = 0, k = 0;
    while (p[i] && p[i] != '.' && p[i] != '[') {
        if (k + 1 >= sizeof s->key)
            return -1;
        s->key[k++] = p[i++];
    }
    if (p[i] == '[') {
        const char *end = strchr(p + i, ']');
        if (!end)
            return -1;
        const char *eq = memchr(p + i, '=', (size_t)(end - p - i));
        if (eq) {
            size_t kl = (size_t)(eq - p - i - 1), vl = (size_t)(end - eq - 1);
            if (kl >= sizeof s->sel_k || vl >= sizeof s->sel_v)
                return -1;
            memcpy(s->sel_k, p + i + 1, kl);
            memcpy(s->sel_v, eq + 1, vl);
            s->has_sel = true;
        } else {
            char *e;
            s->index = strtol(p + i + 1, &e, 10);
            if (e != end || s->index < 0)
                return -1;
        }
        i = (size_t)(end - p) + 1;
    }
    if (p[i] == '.')
        i++;
    return (int)i;
}

static krm_node *select_item(const krm_node *q, const pseg *s)
{
    if (!q || q->kind != KRM_SEQ)
        return NULL;
    if (s->index >= 0)
        return krm_seq_at(q, (size_t)s->index);
    for (size_t i = 0; i < q->n; i++) {
        const char *v = scalar_at(q->items[i], s->sel_k);
        if (v && !strcmp(v, s->sel_v))
            return q->items[i];
    }
    return NULL;
}

krm_node *krm_path_get(const krm_node *root, const char *path)
{
    const krm_node *cur = root;
    while (cur && *path) {
        pseg s;
        int n = next_seg(path, &s);
        if (n <= 0)
            return NULL;
        path += n;
        if (s.key[0])
            cur = krm_map_get(cur, s.key);
        if (cur && (s.index >= 0 || s.has_sel))
            cur = select_item(cur, &s);
    }
    return (krm_node *)cur;
}

int krm_path_set(krm_stream *s, krm_node *root, const char *path, krm_node *value)
{
    krm_node *cur = root;
    while (*path) {
        pseg g;
        int n = next_seg(path, &g);
        if (n <= 0)
            return porch_error_set(400, "invalid path near \"%s\"", path);
        path += n;
        bool last = *path == '\0';
        if (g.key[0]) {
            if (last && g.index < 0 && !g.has_sel)
                return krm_map_set(s, cur, g.key, value);
            krm_node *nx = krm_map_get(cur, g.key);
            if (!nx) {
                if (g.index >= 0 || g.has_sel)
                    return porch_error_set(404, "path element %s not found", g.key);
                if (!(nx = krm_node_new_map(s)) || krm_map_set(s, cur, g.key, nx) < 0)
                    return -1;
            }
            cur = nx;
        }
        if (g.index >= 0 || g.has_sel) {
            krm_node *it = select_item(cur, &g);
            if (!it)
                return porch_error_set(404, "no list item matches [%s%s%s]",
                                       g.has_sel ? g.sel_k : "", g.has_sel ? "=" : "",
                                       g.has_sel ? g.sel_v : "index");
            if (last) {
                for (size_t i = 0; i < cur->n; i++)
                    if (cur->items[i] == it)
                        cur->items[i] = value;
                return 0;
            }
            cur = it;
        }
        if (cur->kind != KRM_MAP && !last)
            return porch_error_set(400, "path goes through a non-mapping node");
    }
    return 0;
}

int krm_path_delete(krm_node *root, const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return krm_map_delete(root, path);
    char parent[1024];
    size_t pl = (size_t)(dot - path);
    if (pl >= sizeof parent)
        return porch_error_set(400, "path too long");
    memcpy(parent, path, pl);
    parent[pl] = '\0';
    krm_node *p = krm_path_get(root, parent);
    return p ? krm_map_delete(p, dot + 1) : 1;
}

/* ---- kpt annotations ---- */

static int set_quoted(krm_stream *s, krm_node *root, const char *key, const char *value)
{
    return set_meta(s, root, "annotations", key, value, KRM_SINGLE);
}

int krm_res_set_kpt_annotations(krm_stream *s, krm_node *root, const char *path, int index,
                                krm_seqindent si)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%d", index);
    if (set_quoted(s, root, KRM_ANNO_INDEX, idx) < 0 ||
        set_quoted(s, root, KRM_ANNO_PATH, path) < 0 ||
        set_quoted(s, root, KRM_ANNO_IINDEX, idx) < 0 ||
        set_quoted(s, root, KRM_ANNO_IPATH, path) < 0 ||
        set_quoted(s, root, KRM_ANNO_SEQINDENT, si == KRM_SEQ_WIDE ? "wide" : "compact") < 0)
        return -1;
    return 0;
}

const char *krm_res_path(const krm_node *root)
{
    const char *p = krm_res_annotation(root, KRM_ANNO_IPATH);
    return p ? p : krm_res_annotation(root, KRM_ANNO_PATH);
}

int krm_res_index(const krm_node *root)
{
    const char *p = krm_res_annotation(root, KRM_ANNO_IINDEX);
    if (!p)
        p = krm_res_annotation(root, KRM_ANNO_INDEX);
    return p ? atoi(p) : -1;
}

int krm_res_clear_kpt_annotations(krm_node *root)
{
    static const char *const keys[] = {
        KRM_ANNO_PATH,
        KRM_ANNO_INDEX,
        KRM_ANNO_IPATH,
        KRM_ANNO_IINDEX,
        KRM_ANNO_SEQINDENT,
        "config.k8s.io/id",
        "internal.config.kubernetes.io/id",
        "internal.config.kubernetes.io/annotations-migration-resource-id",
        "config.kubernetes.io/legacy-path",
        NULL};
    for (int i = 0; keys[i]; i++)
        krm_res_delete_annotation(root, keys[i]);
    return 0;
}

/* ---- legacy/new migration ---- */

static const char *const pair_new[] = {KRM_ANNO_IPATH, KRM_ANNO_IINDEX, KRM_ANNO_ID};
static const char *const pair_old[] = {KRM_ANNO_PATH, KRM_ANNO_INDEX, KRM_ANNO_LEGACY_ID};

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

int krm_res_migrate_pre(krm_stream *s, krm_node *root, int seq, krm_anno_format *fmt)
{
    bool any_new = false, any_old = false;
    for (int i = 0; i < 3; i++) {
        const char *a = krm_res_annotation(root, pair_new[i]),
                   *b = krm_res_annotation(root, pair_old[i]);
        any_new |= a != NULL;
        any_old |= b != NULL;
        if (a && b && strcmp(a, b))
            return porch_error_set(400, "annotations %s (%s) and %s (%s) differ on %s/%s",
                                   pair_new[i], a, pair_old[i], b,
                                   krm_res_kind(root) ? krm_res_kind(root) : "",
                                   krm_res_name(root) ? krm_res_name(root) : "");
        if (a && !b && set_quoted(s, root, pair_old[i], a) < 0)
            return -1;
        if (b && !a && set_quoted(s, root, pair_new[i], b) < 0)
            return -1;
    }
    if (fmt)
        *fmt = any_new && any_old ? KRM_ANNO_BOTH
               : any_new          ? KRM_ANNO_INTERNAL_ONLY
               : any_old          ? KRM_ANNO_LEGACY_ONLY
                                  : KRM_ANNO_NONE;
    char id[32];
    snprintf(id, sizeof id, "%d", seq);
    return set_quoted(s, root, KRM_ANNO_MIGRATION_ID, id);
}

int krm_res_migrate_post(krm_stream *s, krm_node *after, const krm_node *before,
                         krm_anno_format fmt)
{
    for (int i = 0; i < 3; i++) {
        const char *a = krm_res_annotation(after, pair_new[i]),
                   *b = krm_res_annotation(after, pair_old[i]);
        const char *orig = before ? krm_res_annotation(before, pair_new[i]) : NULL;
        char keep[1024] = "";
        if (a && b && strcmp(a, b)) {
            /* the function changed one half: the changed one wins */
            snprintf(keep, sizeof keep, "%s", same(a, orig) ? b : a);
        } else if (a || b) {
            snprintf(keep, sizeof keep, "%s", a ? a : b);
        } else {
            continue;
        }
        if (set_quoted(s, after, pair_new[i], keep) < 0 ||
            set_quoted(s, after, pair_old[i], keep) < 0)
            return -1;
        if (fmt == KRM_ANNO_INTERNAL_ONLY)
            krm_res_delete_annotation(after, pair_old[i]);
        else if (fmt == KRM_ANNO_LEGACY_ONLY)
            krm_res_delete_annotation(after, pair_new[i]);
    }
    krm_res_delete_annotation(after, KRM_ANNO_MIGRATION_ID);
    return 0;
}
