/* set-namespace: moves every namespace-scoped resource (and the namespace
 * fields of Namespace, CRD webhook, APIService and ClusterRoleBinding
 * subjects) to a new namespace, then the depends-on annotations that pointed
 * at moved resources. Follows the catalog's origin rules and result texts. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSTREAM_ID "internal.kpt.dev/upstream-identifier"
#define DEPENDS_ON "config.kubernetes.io/depends-on"

typedef struct strset {
    char **v;
    size_t n;
} strset;

static void set_add(strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x))
            return;
    char **nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv)
        return;
    s->v = nv;
    s->v[s->n++] = strdup(x);
}

static bool set_has(const strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x))
            return true;
    return false;
}

static void set_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* "[a b]" as Go prints a sorted []string. */
static void set_format(strset *s, char *buf, size_t len)
{
    fn_sort_strings((const char **)s->v, s->n);
    size_t o = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < s->n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " " : "", s->v[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* Field `i` (0 group, 1 kind, 2 namespace, 3 name) of the upstream identifier, or NULL. */
static const char *origin_field(const krm_node *item, int i, char *buf, size_t len)
{
    const char *id = krm_res_annotation(item, UPSTREAM_ID);
    if (!id)
        return NULL;
    for (int k = 0; k < i; k++) {
        id = strchr(id, '|');
        if (!id)
            return NULL;
        id++;
    }
    size_t n = strcspn(id, "|");
    if (n >= len)
        n = len - 1;
    memcpy(buf, id, n);
    buf[n] = '\0';
    return buf;
}

typedef struct ns_walk {
    fn_ctx *c;
    const char *new_ns, *matcher;
    int count;
    strset old;
} ns_walk;

/* The catalog's visitor: returns the value to store (may be `cur` itself). */
static const char *visit(ns_walk *w, const char *origin, const char *cur)
{
    if (!strcmp(origin, "~C"))
        return NULL;
    if (!*cur)
        cur = "default";
    if (!strcmp(cur, w->new_ns))
        return cur;
    bool change = !w->matcher || !strcmp(w->matcher, cur) || !strcmp(w->matcher, origin);
    if (!change)
        return cur;
    set_add(&w->old, cur);
    w->count++;
    return w->new_ns;
}

static void visit_path(ns_walk *w, krm_node *item, const char *path)
{
    krm_node *n = krm_path_get(item, path);
    const char *cur = fn_scalar(n);
    if (!cur)
        return;
    const char *nv = visit(w, "", cur);
    if (nv && strcmp(nv, cur))
        krm_scalar_set(w->c->s, n, nv);
}

static void visit_cluster(ns_walk *w, krm_node *item)
{
    char buf[256];
    if (fn_is_gvk(item, "", "v1", "Namespace")) {
        krm_node *meta = krm_map_get(item, "metadata");
        const char *name = krm_res_name(item);
        const char *origin = origin_field(item, 3, buf, sizeof buf);
        if (!origin)
            origin = name ? name : "";
        const char *nv = visit(w, origin, name ? name : "");
        if (nv && meta && (!name || strcmp(nv, name)))
            fn_set_string(w->c->s, meta, "name", nv);
    } else if (fn_is_gvk(item, "apiextensions.k8s.io", "v1", "CustomResourceDefinition")) {
        visit_path(w, item, "spec.conversion.webhook.clientConfig.service.namespace");
    } else if (fn_is_gvk(item, "apiregistration.k8s.io", "v1", "APIService")) {
        visit_path(w, item, "spec.service.namespace");
    } else {
        const char *k = krm_res_kind(item);
        if (!k || (strcmp(k, "ClusterRoleBinding") && strcmp(k, "RoleBinding")))
            return;
        krm_node *subj = krm_map_get(item, "subjects");
        for (size_t i = 0; subj && krm_node_kind(subj) == KRM_SEQ && i < krm_seq_len(subj); i++)
            visit_path(w, krm_seq_at(subj, i), "namespace");
    }
}

static void visit_namespaced(ns_walk *w, krm_node *item)
{
    char buf[256];
    const char *cur = krm_res_namespace(item);
    const char *origin = origin_field(item, 2, buf, sizeof buf);
    if (!origin)
        origin = cur && *cur ? cur : "default";
    const char *nv = visit(w, origin, cur ? cur : "");
    if (nv && (!cur || strcmp(nv, cur))) {
        krm_node *meta = fn_ensure_map(w->c->s, item, "metadata");
        if (meta)
            fn_set_string(w->c->s, meta, "namespace", nv);
    }
}

/* "group/namespaces/ns/Kind/name" of a namespace-scoped resource, or NULL. */
static const char *gknn(const krm_node *item, char *buf, size_t len)
{
    if (!fn_is_namespace_scoped(item))
        return NULL;
    char g[256];
    const char *ns = krm_res_namespace(item);
    const char *n = krm_res_name(item), *k = krm_res_kind(item);
    snprintf(buf, len, "%s/namespaces/%s/%s/%s", fn_res_group(item, g, sizeof g),
             ns && *ns ? ns : "default", k ? k : "", n ? n : "");
    return buf;
}

/* <group>/namespaces/<namespace>/<kind>/<name>, each [-.\w]*. */
static bool depends_on_namespaced(const char *v, char seg[5][256])
{
    int i = 0;
    const char *p = v;
    while (i < 5) {
        size_t n = strcspn(p, "/");
        if (n >= 256)
            return false;
        for (size_t k = 0; k < n; k++) {
            char ch = p[k];
            if (!(ch == '-' || ch == '.' || ch == '_' || (ch >= '0' && ch <= '9') ||
                  (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
                return false;
        }
        memcpy(seg[i], p, n);
        seg[i][n] = '\0';
        i++;
        p += n;
        if (!*p)
            break;
        p++;
    }
    return i == 5 && !*p && !strcmp(seg[1], "namespaces");
}

static void update_depends_on(ns_walk *w, krm_node **objs, size_t n, strset *before)
{
    int count = 0;
    strset old = {0};
    for (size_t i = 0; i < n; i++) {
        const char *v = krm_res_annotation(objs[i], DEPENDS_ON);
        char seg[5][256];
        if (!v || !*v || !depends_on_namespaced(v, seg) || !set_has(before, v))
            continue;
        if (!strcmp(seg[2], w->new_ns))
            continue;
        if (w->matcher && strcmp(w->matcher, seg[2]))
            continue;
        set_add(&old, seg[2]);
        count++;
        char nv[1400];
        snprintf(nv, sizeof nv, "%s/namespaces/%s/%s/%s", seg[0], w->new_ns, seg[3], seg[4]);
        krm_res_set_annotation(w->c->s, objs[i], DEPENDS_ON, nv);
    }
    if (count == 0) {
        fn_resultf(w->c, FN_SEV_INFO, NULL, NULL,
                   "all `depends-on` annotations are up-to-date. no `namespace` changed");
    } else {
        char list[1024];
        set_format(&old, list, sizeof list);
        fn_resultf(w->c, FN_SEV_INFO, NULL, NULL,
                   "`depends-on` annotation namespace %s updated to \"%s\", %d value(s) changed",
                   list, w->new_ns, count);
    }
    set_free(&old);
}

static int read_config(fn_ctx *c, const char **ns, const char **matcher)
{
    *ns = *matcher = NULL;
    if (!c->config || !fn_config_kind(c))
        return fn_fail_config(c, "FunctionConfig is missing. Expect `ConfigMap.v1` or "
                                 "`SetNamespace.v1alpha1.fn.kpt.dev`");
    if (fn_config_is(c, "ConfigMap")) {
        *matcher = fn_config_get(c, "namespaceMatcher");
        *ns = fn_config_get(c, "namespace");
        if (*ns && **ns)
            return 0;
        const char *name = krm_res_name(c->config);
        const char *dn = fn_config_get(c, "name");
        if (name && !strcmp(name, "kptfile.kpt.dev")) {
            if (dn && *dn) {
                *ns = dn;
                return 0;
            }
            return fn_fail_config(c, "`data.name` should not be empty");
        }
        return fn_fail_config(c, "`data.namespace` should not be empty");
    }
    if (fn_config_is(c, "SetNamespace")) {
        *ns = fn_scalar(krm_map_get(c->config, "namespace"));
        *matcher = fn_scalar(krm_map_get(c->config, "namespaceMatcher"));
        if (!*ns || !**ns)
            return fn_fail_config(c, "`namespace` should not be empty");
        return 0;
    }
    const char *av = krm_res_api_version(c->config);
    return fn_fail_config(c,
                          "unknown functionConfig Kind=%s ApiVersion=%s, expect `ConfigMap.v1` or "
                          "`SetNamespace.v1alpha1.fn.kpt.dev`",
                          fn_config_kind(c), av ? av : "");
}

int fn_builtin_set_namespace(fn_ctx *c)
{
    const char *new_ns, *matcher;
    if (read_config(c, &new_ns, &matcher) < 0)
        return -1;
    if (matcher && !*matcher)
        matcher = NULL;
    size_t n_all = krm_seq_len(c->items), n = 0;
    krm_node **objs = calloc(n_all ? n_all : 1, sizeof *objs);
    if (!objs)
        return porch_error_set(500, "out of memory");
    for (size_t i = 0; i < n_all; i++) {
        krm_node *it = krm_seq_at(c->items, i);
        if (krm_node_kind(it) == KRM_MAP && !fn_is_local_config(it))
            objs[n++] = it;
    }
    strset before = {0}, origins = {0};
    for (size_t i = 0; i < n; i++) {
        char buf[1024], ob[256];
        if (gknn(objs[i], buf, sizeof buf))
            set_add(&before, buf);
        if (fn_is_namespace_scoped(objs[i]) && origin_field(objs[i], 2, ob, sizeof ob))
            set_add(&origins, ob);
    }
    int rc = 0;
    if (!matcher && origins.n > 1) {
        char list[1024];
        set_format(&origins, list, sizeof list);
        rc = fn_fail(c,
                     "unable to use origin `namespace` to match. expect a single upstream "
                     "namespace, found %s. please switch to use `namespaceMatcher`to specify "
                     "the namespace value you want to change",
                     list);
    } else {
        ns_walk w = {.c = c, .new_ns = new_ns, .matcher = matcher};
        for (size_t i = 0; i < n; i++)
            if (!fn_is_namespace_scoped(objs[i]))
                visit_cluster(&w, objs[i]);
        for (size_t i = 0; i < n; i++)
            if (fn_is_namespace_scoped(objs[i]))
                visit_namespaced(&w, objs[i]);
        if (w.count == 0) {
            fn_resultf(c, FN_SEV_INFO, NULL, NULL,
                       "all matching namespaces are already \"%s\". no value changed", new_ns);
        } else {
            char list[1024];
            set_format(&w.old, list, sizeof list);
            fn_resultf(c, FN_SEV_INFO, NULL, NULL,
                       "namespace %s updated to \"%s\", %d value(s) "
                       "changed",
                       list, new_ns, w.count);
        }
        update_depends_on(&w, objs, n, &before);
        set_free(&w.old);
    }
    set_free(&before);
    set_free(&origins);
    free(objs);
    return rc;
}
