/* Helpers the built-in functions share: failing with an error result, results
 * with printf messages, reading the functionConfig in its ConfigMap or
 * fn.kpt.dev forms, local-config filtering and kpt SDK-style GVK matching. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fn_fail(fn_ctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn_results_add(c->results, FN_SEV_ERROR, msg, NULL, NULL);
    return porch_error_set(400, "%s", msg);
}

int fn_fail_config(fn_ctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const krm_node *ref = c->config && krm_res_kind(c->config) ? c->config : NULL;
    fn_results_add(c->results, FN_SEV_ERROR, msg, ref, NULL);
    return porch_error_set(400, "%s", msg);
}

int fn_resultf(fn_ctx *c, fn_severity sev, const krm_node *res, const char *field, const char *fmt,
               ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fn_results_add(c->results, sev, msg, res, field);
}

const char *fn_scalar(const krm_node *n)
{
    return n && krm_node_kind(n) == KRM_SCALAR ? krm_node_value(n) : NULL;
}

const char *fn_config_kind(const fn_ctx *c)
{
    return c->config ? krm_res_kind(c->config) : NULL;
}

bool fn_config_is(const fn_ctx *c, const char *kind)
{
    const char *k = fn_config_kind(c);
    return k && !strcmp(k, kind);
}

krm_node *fn_config_data(const fn_ctx *c)
{
    if (!fn_config_is(c, "ConfigMap"))
        return NULL;
    krm_node *d = krm_map_get(c->config, "data");
    return d && krm_node_kind(d) == KRM_MAP ? d : NULL;
}

const char *fn_config_get(const fn_ctx *c, const char *key)
{
    if (!c->config)
        return NULL;
    if (fn_config_is(c, "ConfigMap"))
        return fn_scalar(krm_map_get(fn_config_data(c), key));
    return fn_scalar(krm_map_get(c->config, key));
}

bool fn_is_local_config(const krm_node *item)
{
    const char *v = krm_res_annotation(item, "config.kubernetes.io/local-config");
    return v && strcmp(v, "false") != 0;
}

const char *fn_res_group(const krm_node *item, char *buf, size_t len)
{
    const char *av = krm_res_api_version(item);
    const char *slash = av ? strchr(av, '/') : NULL;
    size_t n = slash ? (size_t)(slash - av) : 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, av ? av : "", n);
    buf[n] = '\0';
    return buf;
}

bool fn_is_gvk(const krm_node *item, const char *group, const char *version, const char *kind)
{
    /* as the SDK compares: a part empty on either side matches (so a resource
     * without apiVersion or kind — a kustomization.yaml — matches every kind) */
    const char *av = krm_res_api_version(item);
    const char *k = krm_res_kind(item);
    if (kind && *kind && k && *k && strcmp(k, kind))
        return false;
    const char *slash = av ? strchr(av, '/') : NULL;
    size_t gl = slash ? (size_t)(slash - av) : 0;
    if (group && *group && gl && (strlen(group) != gl || strncmp(av, group, gl)))
        return false;
    const char *v = slash ? slash + 1 : (av ? av : "");
    if (version && *version && *v && strcmp(v, version))
        return false;
    return true;
}

krm_node *fn_ensure_map(krm_stream *s, krm_node *parent, const char *key)
{
    krm_node *m = krm_map_get(parent, key);
    if (m && krm_node_kind(m) == KRM_MAP)
        return m;
    if (m && !(krm_node_kind(m) == KRM_SCALAR && krm_scalar_is_null(m)))
        return NULL;
    krm_node *nm = krm_node_new_map(s);
    if (!nm || krm_map_set(s, parent, key, nm) < 0)
        return NULL;
    return nm;
}

int fn_set_string(krm_stream *s, krm_node *m, const char *key, const char *value)
{
    krm_node *old = krm_map_get(m, key);
    if (old && krm_node_kind(old) == KRM_SCALAR) {
        const char *ov = krm_node_value(old);
        if (ov && !strcmp(ov, value))
            return 0;
        return krm_scalar_set(s, old, value);
    }
    krm_node *v = krm_node_new_string(s, value);
    if (!v)
        return porch_error_set(500, "out of memory");
    return krm_map_set(s, m, key, v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void fn_sort_strings(const char **v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_str);
}

static const char *const cluster_kinds[] = {"Namespace",
                                            "Node",
                                            "PersistentVolume",
                                            "ClusterRole",
                                            "ClusterRoleBinding",
                                            "CustomResourceDefinition",
                                            "APIService",
                                            "StorageClass",
                                            "PriorityClass",
                                            "ValidatingWebhookConfiguration",
                                            "MutatingWebhookConfiguration",
                                            "CSIDriver",
                                            "CSINode",
                                            "RuntimeClass",
                                            "PodSecurityPolicy",
                                            "VolumeAttachment",
                                            "CertificateSigningRequest",
                                            "IngressClass",
                                            "ComponentStatus",
                                            "TokenReview",
                                            "SelfSubjectAccessReview",
                                            "SelfSubjectRulesReview",
                                            "SubjectAccessReview",
                                            "FlowSchema",
                                            "PriorityLevelConfiguration",
                                            "ValidatingAdmissionPolicy",
                                            "ValidatingAdmissionPolicyBinding",
                                            NULL};
static const char *const namespaced_kinds[] = {"ConfigMap",
                                               "Secret",
                                               "Service",
                                               "Pod",
                                               "Deployment",
                                               "StatefulSet",
                                               "DaemonSet",
                                               "ReplicaSet",
                                               "Job",
                                               "CronJob",
                                               "ServiceAccount",
                                               "Role",
                                               "RoleBinding",
                                               "Ingress",
                                               "NetworkPolicy",
                                               "PersistentVolumeClaim",
                                               "ReplicationController",
                                               "Endpoints",
                                               "EndpointSlice",
                                               "Event",
                                               "LimitRange",
                                               "ResourceQuota",
                                               "PodDisruptionBudget",
                                               "HorizontalPodAutoscaler",
                                               "PodTemplate",
                                               "Lease",
                                               "ControllerRevision",
                                               "Binding",
                                               "LocalSubjectAccessReview",
                                               "CSIStorageCapacity",
                                               NULL};

/* Core groups: "", "apps", "batch", "policy", "autoscaling" and *.k8s.io. */
static bool builtin_group(const char *g)
{
    size_t n = strlen(g);
    return !strchr(g, '.') || (n > 7 && !strcmp(g + n - 7, ".k8s.io"));
}

bool fn_is_namespace_scoped(const krm_node *item)
{
    char g[256];
    const char *kind = krm_res_kind(item);
    if (kind && builtin_group(fn_res_group(item, g, sizeof g))) {
        for (size_t i = 0; cluster_kinds[i]; i++)
            if (!strcmp(kind, cluster_kinds[i]))
                return false;
        for (size_t i = 0; namespaced_kinds[i]; i++)
            if (!strcmp(kind, namespaced_kinds[i]))
                return true;
    }
    const char *ns = krm_res_namespace(item);
    return ns && *ns;
}

const char *fn_short_string(const krm_node *item, char *buf, size_t len)
{
    const char *k = krm_res_kind(item), *n = krm_res_name(item), *ns = krm_res_namespace(item);
    if (ns && *ns)
        snprintf(buf, len, "%s/%s/%s", k ? k : "", ns, n ? n : "");
    else
        snprintf(buf, len, "%s/%s", k ? k : "", n ? n : "");
    return buf;
}

/* The pattern of a "# kpt-set: PATTERN" comment, or NULL. */
static const char *setter_pattern(const char *comment)
{
    if (!comment)
        return NULL;
    while (*comment == '#' || *comment == ' ')
        comment++;
    if (strncmp(comment, "kpt-set:", 8))
        return NULL;
    comment += 8;
    while (*comment == ' ')
        comment++;
    return comment;
}

static int walk_setters(fn_ctx *c, krm_node *item, krm_node *n, char *path, size_t plen,
                        fn_setter_visit fn, void *ud)
{
    size_t base = strlen(path);
    if (krm_node_kind(n) == KRM_MAP) {
        for (size_t i = 0; i < krm_map_len(n); i++) {
            krm_node *k = krm_map_key_at(n, i), *v = krm_map_value_at(n, i);
            const char *ks = fn_scalar(k);
            snprintf(path + base, plen - base, "%s%s", base ? "." : "", ks ? ks : "");
            const char *pat = setter_pattern(krm_node_comment(v, KRM_COMMENT_LINE));
            if (!pat && krm_node_kind(v) == KRM_SEQ)
                pat = setter_pattern(krm_node_comment(k, KRM_COMMENT_LINE));
            if (pat && (krm_node_kind(v) == KRM_SCALAR || krm_node_kind(v) == KRM_SEQ)) {
                char *pc = strdup(pat);
                size_t pl = strlen(pc);
                while (pl && (pc[pl - 1] == ' ' || pc[pl - 1] == '\t'))
                    pc[--pl] = '\0';
                fn_setter_site site = {item, v, n, ks, pc, path};
                int rc = fn(c, &site, ud);
                free(pc);
                if (rc < 0)
                    return rc;
            } else if (walk_setters(c, item, v, path, plen, fn, ud) < 0) {
                return -1;
            }
            path[base] = '\0';
        }
    } else if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++) {
            snprintf(path + base, plen - base, "[%zu]", i);
            krm_node *v = krm_seq_at(n, i);
            const char *pat = setter_pattern(krm_node_comment(v, KRM_COMMENT_LINE));
            if (pat && krm_node_kind(v) == KRM_SCALAR) {
                fn_setter_site site = {item, v, NULL, NULL, pat, path};
                if (fn(c, &site, ud) < 0)
                    return -1;
            } else if (walk_setters(c, item, v, path, plen, fn, ud) < 0) {
                return -1;
            }
            path[base] = '\0';
        }
    }
    return 0;
}

int fn_walk_setters(fn_ctx *c, krm_node *item, fn_setter_visit fn, void *ud)
{
    char path[2048] = "";
    return walk_setters(c, item, item, path, sizeof path, fn, ud);
}

const char *fn_plain_type(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return "bool";
    if (!*v)
        return NULL;
    char *end;
    strtoll(v, &end, 10);
    if (!*end)
        return "int";
    strtod(v, &end);
    if (!*end && strspn(v, "0123456789.-+eE") == strlen(v))
        return "float";
    return NULL;
}

int fn_scalar_replace(krm_stream *s, krm_node *parent, const char *key, krm_node *node,
                      const char *text)
{
    const char *cur = krm_node_value(node);
    if (cur && !strcmp(cur, text))
        return 0;
    bool typed = cur && krm_node_style(node) == KRM_PLAIN && !krm_node_tag(node) &&
                 fn_plain_type(cur) && fn_plain_type(text);
    if (!typed || !parent || !key)
        return krm_scalar_set(s, node, text);
    krm_node *nv = krm_node_new_scalar(s, text, strlen(text), KRM_PLAIN);
    if (!nv)
        return porch_error_set(500, "out of memory");
    static const krm_comment which[] = {KRM_COMMENT_HEAD, KRM_COMMENT_LINE, KRM_COMMENT_FOOT};
    for (int w = 0; w < 3; w++)
        if (krm_node_comment(node, which[w]))
            krm_node_set_comment(s, nv, which[w], krm_node_comment(node, which[w]));
    char k[512];
    snprintf(k, sizeof k, "%s", key); /* key may live in the node being replaced */
    return krm_map_set(s, parent, k, nv);
}
