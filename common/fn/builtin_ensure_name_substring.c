/* ensure-name-substring: prepends or appends a substring to resource names
 * (unless already there), to additionalNameFields, to the fields that refer
 * to renamed resources (kustomize's name references: config maps, secrets,
 * service accounts, roles, claims, services) and to depends-on annotations. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rename {
    char group[128], kind[128], ns[256], old[256];
} rename_t;

typedef struct ens {
    fn_ctx *c;
    const char *sub;
    bool append;
    rename_t *r;
    size_t n;
} ens;

static bool skipped(const krm_node *o)
{
    const char *k = krm_res_kind(o);
    return !k || !strcmp(k, "Kptfile") || !strcmp(k, "CustomResourceDefinition") ||
           !strcmp(k, "Namespace") || !strcmp(k, "APIService");
}

/* Writes the new name into buf; returns false when `name` already has the substring. */
static bool new_name(const ens *e, const char *name, char *buf, size_t len)
{
    if (strstr(name, e->sub))
        return false;
    if (e->append)
        snprintf(buf, len, "%s%s", name, e->sub);
    else
        snprintf(buf, len, "%s%s", e->sub, name);
    return true;
}

static const rename_t *renamed(const ens *e, const char *kind, const char *name, const char *ns)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->r[i].kind, kind) && !strcmp(e->r[i].old, name) &&
            (!ns || !*ns || !e->r[i].ns[0] || !strcmp(e->r[i].ns, ns)))
            return &e->r[i];
    return NULL;
}

static void ref(ens *e, krm_node *n, const char *key, const char *kind)
{
    krm_node *v = krm_map_get(n, key);
    const char *cur = fn_scalar(v);
    char buf[512];
    if (cur && renamed(e, kind, cur, NULL) && new_name(e, cur, buf, sizeof buf))
        krm_scalar_set(e->c->s, v, buf);
}

static void walk_refs(ens *e, krm_node *n, const char *parent_key)
{
    if (!n)
        return;
    if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++) {
            krm_node *it = krm_seq_at(n, i);
            if (parent_key && !strcmp(parent_key, "imagePullSecrets"))
                ref(e, it, "name", "Secret");
            if (parent_key && !strcmp(parent_key, "subjects")) {
                const char *k = fn_scalar(krm_map_get(it, "kind"));
                if (k && !strcmp(k, "ServiceAccount"))
                    ref(e, it, "name", "ServiceAccount");
            }
            walk_refs(e, it, NULL);
        }
        return;
    }
    if (krm_node_kind(n) != KRM_MAP)
        return;
    for (size_t i = 0; i < krm_map_len(n); i++) {
        const char *k = fn_scalar(krm_map_key_at(n, i));
        krm_node *v = krm_map_value_at(n, i);
        if (!k)
            continue;
        if (krm_node_kind(v) == KRM_MAP) {
            if (!strcmp(k, "configMapKeyRef") || !strcmp(k, "configMapRef") ||
                !strcmp(k, "configMap"))
                ref(e, v, "name", "ConfigMap");
            else if (!strcmp(k, "secretKeyRef") || !strcmp(k, "secretRef"))
                ref(e, v, "name", "Secret");
            else if (!strcmp(k, "secret"))
                ref(e, v, "secretName", "Secret"), ref(e, v, "name", "Secret");
            else if (!strcmp(k, "persistentVolumeClaim"))
                ref(e, v, "claimName", "PersistentVolumeClaim");
            else if (!strcmp(k, "roleRef") || !strcmp(k, "scaleTargetRef")) {
                const char *rk = fn_scalar(krm_map_get(v, "kind"));
                if (rk)
                    ref(e, v, "name", rk);
            } else if (!strcmp(k, "service") || !strcmp(k, "backend"))
                ref(e, v, "name", "Service"), ref(e, v, "serviceName", "Service");
        }
        if (!strcmp(k, "serviceAccountName") || !strcmp(k, "serviceAccount"))
            ref(e, n, k, "ServiceAccount");
        walk_refs(e, v, k);
    }
}

/* depends-on: "<group>/namespaces/<ns>/<kind>/<name>" or "<group>/<kind>/<name>". */
static void depends_on(ens *e, krm_node *o)
{
    const char *v = krm_res_annotation(o, "config.kubernetes.io/depends-on");
    if (!v)
        return;
    char seg[5][256];
    int n = 0;
    const char *p = v;
    while (n < 5) {
        size_t l = strcspn(p, "/");
        if (l >= 256)
            return;
        memcpy(seg[n], p, l);
        seg[n++][l] = '\0';
        if (!p[l])
            break;
        p += l + 1;
    }
    const char *kind, *name, *ns = NULL;
    if (n == 5 && !strcmp(seg[1], "namespaces"))
        ns = seg[2], kind = seg[3], name = seg[4];
    else if (n == 3)
        kind = seg[1], name = seg[2];
    else
        return;
    const rename_t *r = renamed(e, kind, name, ns);
    char nn[512], out[1400];
    if (!r || strcmp(r->group, seg[0]) || !new_name(e, name, nn, sizeof nn))
        return;
    if (ns)
        snprintf(out, sizeof out, "%s/namespaces/%s/%s/%s", seg[0], ns, kind, nn);
    else
        snprintf(out, sizeof out, "%s/%s/%s", seg[0], kind, nn);
    krm_res_set_annotation(e->c->s, o, "config.kubernetes.io/depends-on", out);
}

static void extra_fields(ens *e, krm_node *o, const krm_node *extra)
{
    for (size_t i = 0; extra && krm_node_kind(extra) == KRM_SEQ && i < krm_seq_len(extra); i++) {
        const krm_node *f = krm_seq_at(extra, i);
        const char *path = fn_scalar(krm_map_get(f, "path"));
        const char *g = fn_scalar(krm_map_get(f, "group"));
        const char *v = fn_scalar(krm_map_get(f, "version"));
        const char *k = fn_scalar(krm_map_get(f, "kind"));
        if (!path || !fn_is_gvk(o, g ? g : "", v ? v : "", k ? k : ""))
            continue;
        char dotted[512];
        snprintf(dotted, sizeof dotted, "%s", path);
        for (char *q = dotted; *q; q++)
            if (*q == '/')
                *q = '.';
        krm_node *n = krm_path_get(o, dotted);
        const char *cur = fn_scalar(n);
        char buf[512];
        if (cur && new_name(e, cur, buf, sizeof buf))
            krm_scalar_set(e->c->s, n, buf);
    }
}

static int read_config(fn_ctx *c, ens *e, const krm_node **extra)
{
    *extra = NULL;
    if (fn_config_is(c, "ConfigMap")) {
        const char *p = fn_config_get(c, "prepend"), *a = fn_config_get(c, "append");
        if ((p && a) || (!p && !a))
            return fn_fail(c, "exactly one of `prepend` and `append` must be set in the "
                              "ConfigMap's data");
        e->sub = p ? p : a;
        e->append = a != NULL;
        return 0;
    }
    if (fn_config_is(c, "EnsureNameSubstring")) {
        e->sub = fn_scalar(krm_map_get(c->config, "substring"));
        const char *mode = fn_scalar(krm_map_get(c->config, "editMode"));
        e->append = mode && !strcmp(mode, "append");
        if (mode && strcmp(mode, "append") && strcmp(mode, "prepend"))
            return fn_fail(c, "editMode must be `prepend` or `append`, not %s", mode);
        *extra = krm_map_get(c->config, "additionalNameFields");
        if (!e->sub || !*e->sub)
            return fn_fail(c, "`substring` must be set");
        return 0;
    }
    return fn_fail(c, "`functionConfig` must be a `ConfigMap` or `EnsureNameSubstring`");
}

int fn_builtin_ensure_name_substring(fn_ctx *c)
{
    ens e = {.c = c};
    const krm_node *extra;
    if (read_config(c, &e, &extra) < 0)
        return -1;
    size_t n = krm_seq_len(c->items);
    e.r = calloc(n ? n : 1, sizeof *e.r);
    if (!e.r)
        return porch_error_set(500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *name = krm_res_name(o);
        char buf[512];
        if (krm_node_kind(o) != KRM_MAP || skipped(o) || !name ||
            !new_name(&e, name, buf, sizeof buf))
            continue;
        rename_t *r = &e.r[e.n++];
        fn_res_group(o, r->group, sizeof r->group);
        snprintf(r->kind, sizeof r->kind, "%s", krm_res_kind(o));
        snprintf(r->old, sizeof r->old, "%s", name);
        const char *ns = krm_res_namespace(o);
        snprintf(r->ns, sizeof r->ns, "%s", ns ? ns : "");
    }
    for (size_t i = 0; i < n; i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) != KRM_MAP || skipped(o))
            continue;
        const char *name = krm_res_name(o);
        char buf[512];
        if (name && new_name(&e, name, buf, sizeof buf))
            fn_set_string(c->s, krm_map_get(o, "metadata"), "name", buf);
        extra_fields(&e, o, extra);
        walk_refs(&e, o, NULL);
        depends_on(&e, o);
    }
    free(e.r);
    return 0;
}
