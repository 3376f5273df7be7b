/* set-labels: adds or updates labels in metadata and in the label selectors
 * and pod/job/volume templates of the built-in workload kinds, in sorted key
 * order, as the catalog's set-labels does (ConfigMap data or SetLabels.labels). */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct labels {
    fn_ctx *c;
    const char **k, **v;
    size_t n;
    int count;
} labels;

/* Sets each label under node.<path...>; `create` makes missing keys and maps. */
static void update(labels *l, krm_node *node, const char *const *path, size_t depth, bool create)
{
    if (!node || krm_node_kind(node) != KRM_MAP)
        return;
    for (size_t i = 0; i < l->n; i++) {
        krm_node *m = node;
        for (size_t d = 0; m && d < depth; d++) {
            krm_node *nx = krm_map_get(m, path[d]);
            if (!nx && create)
                nx = fn_ensure_map(l->c->s, m, path[d]);
            m = nx && krm_node_kind(nx) == KRM_MAP ? nx : NULL;
        }
        l->count++;
        if (!m)
            continue;
        krm_node *old = krm_map_get(m, l->k[i]);
        if (old || create)
            fn_set_string(l->c->s, m, l->k[i], l->v[i]);
    }
}

static const char *const META[] = {"metadata", "labels"};
static const char *const SELECTOR[] = {"selector", "matchLabels"};
static const char *const POD_SELECTOR[] = {"podSelector", "matchLabels"};
static const char *const LABEL_SELECTOR[] = {"labelSelector", "matchLabels"};
static const char *const SPEC_SELECTOR[] = {"spec", "selector"};
static const char *const SPEC_MATCH[] = {"spec", "selector", "matchLabels"};
static const char *const SPEC_POD_MATCH[] = {"spec", "podSelector", "matchLabels"};

static krm_node *map_at(krm_node *n, const char *key)
{
    krm_node *v = n ? krm_map_get(n, key) : NULL;
    return v && krm_node_kind(v) == KRM_MAP ? v : NULL;
}

static krm_node *seq_at(krm_node *n, const char *key)
{
    krm_node *v = n ? krm_map_get(n, key) : NULL;
    return v && krm_node_kind(v) == KRM_SEQ ? v : NULL;
}

static void pod_spec(labels *l, krm_node *spec)
{
    krm_node *tsc = seq_at(spec, "topologySpreadConstraints");
    for (size_t i = 0; tsc && i < krm_seq_len(tsc); i++)
        update(l, krm_seq_at(tsc, i), LABEL_SELECTOR, 2, false);
    krm_node *aff = map_at(spec, "affinity");
    static const char *const kinds[] = {"podAffinity", "podAntiAffinity"};
    for (int k = 0; aff && k < 2; k++) {
        if (!map_at(aff, kinds[k]))
            continue;
        /* the catalog walks the affinity map itself here, not the podAffinity one */
        krm_node *pref = seq_at(aff, "preferredDuringSchedulingIgnoredDuringExecution");
        for (size_t i = 0; pref && i < krm_seq_len(pref); i++)
            update(l, map_at(krm_seq_at(pref, i), "podAffinityTerm"), LABEL_SELECTOR, 2, false);
        krm_node *req = seq_at(aff, "requiredDuringSchedulingIgnoredDuringExecution");
        for (size_t i = 0; req && i < krm_seq_len(req); i++)
            update(l, krm_seq_at(req, i), LABEL_SELECTOR, 2, false);
    }
}

static void pod(labels *l, krm_node *tmpl)
{
    if (!tmpl)
        return;
    update(l, tmpl, META, 2, true);
    krm_node *spec = map_at(tmpl, "spec");
    if (spec)
        pod_spec(l, spec);
}

static bool has_pod_template(const krm_node *o)
{
    return fn_is_gvk(o, "", "v1", "ReplicationController") || fn_is_gvk(o, "", "", "Deployment") ||
           fn_is_gvk(o, "", "", "ReplicaSet") || fn_is_gvk(o, "", "", "DaemonSet") ||
           fn_is_gvk(o, "apps", "", "StatefulSet") || fn_is_gvk(o, "batch", "", "Job");
}

static void one(labels *l, krm_node *o)
{
    update(l, o, META, 2, true);
    if (fn_is_gvk(o, "", "v1", "Service") || fn_is_gvk(o, "", "v1", "ReplicationController"))
        update(l, o, SPEC_SELECTOR, 2, true);
    if (fn_is_gvk(o, "", "", "Deployment") || fn_is_gvk(o, "", "", "ReplicaSet") ||
        fn_is_gvk(o, "", "", "DaemonSet") || fn_is_gvk(o, "apps", "", "StatefulSet"))
        update(l, o, SPEC_MATCH, 3, true);
    else if (fn_is_gvk(o, "batch", "", "Job") || fn_is_gvk(o, "policy", "", "PodDisruptionBudget"))
        update(l, o, SPEC_MATCH, 3, false);
    bool netpol = fn_is_gvk(o, "networking.k8s.io", "", "NetworkPolicy");
    if (netpol)
        update(l, o, SPEC_POD_MATCH, 3, false);
    krm_node *spec = map_at(o, "spec");
    if (!spec)
        return;
    if (has_pod_template(o))
        pod(l, map_at(spec, "template"));
    if (fn_is_gvk(o, "batch", "", "CronJob")) {
        krm_node *job = map_at(spec, "jobTemplate");
        if (job) {
            update(l, job, META, 2, true);
            krm_node *js = map_at(job, "spec");
            update(l, js, SELECTOR, 2, false);
            pod(l, map_at(js, "template"));
        }
    }
    if (fn_is_gvk(o, "apps", "", "StatefulSet")) {
        krm_node *vct = seq_at(spec, "volumeClaimTemplates");
        for (size_t i = 0; vct && i < krm_seq_len(vct); i++) {
            update(l, krm_seq_at(vct, i), META, 2, true);
            update(l, krm_seq_at(vct, i), SELECTOR, 2, false);
        }
    }
    if (netpol) {
        static const char *const dirs[][2] = {{"ingress", "from"}, {"egress", "to"}};
        for (int d = 0; d < 2; d++) {
            krm_node *rules = seq_at(spec, dirs[d][0]);
            for (size_t i = 0; rules && i < krm_seq_len(rules); i++) {
                krm_node *peers = seq_at(krm_seq_at(rules, i), dirs[d][1]);
                for (size_t j = 0; peers && j < krm_seq_len(peers); j++)
                    update(l, krm_seq_at(peers, j), POD_SELECTOR, 2, false);
            }
        }
    }
}

/* Collects the labels in sorted key order from a mapping of scalars. */
static int collect(labels *l, const krm_node *m)
{
    size_t n = m ? krm_map_len(m) : 0;
    l->k = calloc(n + 1, sizeof *l->k);
    l->v = calloc(n + 1, sizeof *l->v);
    if (!l->k || !l->v)
        return porch_error_set(500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *k = fn_scalar(krm_map_key_at(m, i));
        const char *v = fn_scalar(krm_map_value_at(m, i));
        if (!k)
            continue;
        l->k[l->n] = k;
        l->v[l->n++] = v ? v : "";
    }
    /* sort keys, carrying values */
    for (size_t i = 1; i < l->n; i++)
        for (size_t j = i; j > 0 && strcmp(l->k[j - 1], l->k[j]) > 0; j--) {
            const char *t = l->k[j];
            l->k[j] = l->k[j - 1];
            l->k[j - 1] = t;
            t = l->v[j];
            l->v[j] = l->v[j - 1];
            l->v[j - 1] = t;
        }
    return 0;
}

int fn_builtin_set_labels(fn_ctx *c)
{
    labels l = {.c = c};
    size_t n = krm_seq_len(c->items), live = 0;
    for (size_t i = 0; i < n; i++)
        if (!fn_is_local_config(krm_seq_at(c->items, i)))
            live++;
    if (live == 0) {
        fn_resultf(c, FN_SEV_INFO, NULL, NULL, "no input resources");
        return 0;
    }
    const krm_node *src = NULL;
    const char *cname = c->config ? krm_res_name(c->config) : NULL;
    bool empty = !c->config || ((!fn_config_kind(c) || !*fn_config_kind(c)) && (!cname || !*cname));
    if (fn_config_is(c, "ConfigMap")) {
        src = fn_config_data(c);
        empty |= (!src || krm_map_len(src) == 0) && cname && !strcmp(cname, "function-input");
    }
    if (empty) {
        /* the catalog's answer to kpt's placeholder config: an info, and a failure */
        fn_resultf(c, FN_SEV_INFO, NULL, NULL, "`FunctionConfig` is not given");
        return porch_error_set(400, "set-labels: `FunctionConfig` is not given");
    }
    if (fn_config_is(c, "SetLabels"))
        src = map_at(c->config, "labels");
    else if (!fn_config_is(c, "ConfigMap"))
        return fn_fail(c, "unknown functionConfig Kind=%s, expect `SetLabels` or `ConfigMap`",
                       fn_config_kind(c));
    if (collect(&l, src) < 0)
        goto out;
    if (l.n == 0) {
        fn_resultf(c, FN_SEV_WARNING, NULL, NULL,
                   "no `labels` arguments are given in "
                   "FunctionConfig");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) == KRM_MAP && !fn_is_local_config(o))
            one(&l, o);
    }
    fn_resultf(c, FN_SEV_INFO, NULL, NULL, "set %d labels in total", l.count);
out:
    free(l.k);
    free(l.v);
    return 0;
}
