/* upsert-resource: the functionConfig is a resource (or a v1 List of them);
 * each replaces the item with the same group, kind, namespace and name
 * (keeping its file, index and comments) or is added, in the file named by
 * config.kubernetes.io/target-path or kpt's default "<ns>/<kind>_<name>.yaml". */
#include "fn_builtin.h"

#include "error/error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define TARGET_PATH "config.kubernetes.io/target-path"

static bool streq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool same_id(const krm_node *a, const krm_node *b)
{
    char ga[256], gb[256];
    return streq(krm_res_kind(a), krm_res_kind(b)) && streq(krm_res_name(a), krm_res_name(b)) &&
           streq(krm_res_namespace(a), krm_res_namespace(b)) &&
           !strcmp(fn_res_group(a, ga, sizeof ga), fn_res_group(b, gb, sizeof gb));
}

static bool bookkeeping(const char *k)
{
    return !strncmp(k, "internal.config.", 16) || !strncmp(k, "config.k8s.io/", 14) ||
           !strcmp(k, KRM_ANNO_PATH) || !strcmp(k, KRM_ANNO_INDEX);
}

/* The orchestrator's annotations (path, index, ids) stay with the replacement. */
static void keep_bookkeeping(fn_ctx *c, const krm_node *old, krm_node *nn)
{
    const krm_node *an = krm_path_get(old, "metadata.annotations");
    for (size_t i = 0; an && krm_node_kind(an) == KRM_MAP && i < krm_map_len(an); i++) {
        const char *k = fn_scalar(krm_map_key_at(an, i));
        const char *v = fn_scalar(krm_map_value_at(an, i));
        if (k && v && bookkeeping(k))
            krm_res_set_annotation(c->s, nn, k, v);
    }
}

/* Puts nn at position i of the items (delete, append, rotate back into place). */
static void replace_at(fn_ctx *c, size_t i, krm_node *nn)
{
    krm_seq_delete(c->items, i);
    krm_seq_append(c->s, c->items, nn);
    size_t last = krm_seq_len(c->items) - 1;
    for (size_t k = last; k > i; k--) {
        krm_node *a = krm_seq_at(c->items, k - 1);
        krm_seq_delete(c->items, k - 1);
        krm_seq_append(c->s, c->items, a);
    }
}

static int upsert(fn_ctx *c, const krm_node *res)
{
    if (krm_node_kind(res) != KRM_MAP || !krm_res_kind(res))
        return fn_fail(c, "upsert-resource: the resource to upsert needs a kind");
    bool replaced = false;
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *old = krm_seq_at(c->items, i);
        const char *want = krm_res_annotation(res, TARGET_PATH);
        if (!same_id(old, res) || (want && !streq(krm_res_path(old), want)))
            continue;
        /* every match is replaced: the same resource may sit in several files */
        krm_node *nn = krm_node_copy(c->s, res);
        if (!nn)
            return porch_error_set(500, "out of memory");
        krm_res_delete_annotation(nn, TARGET_PATH);
        keep_bookkeeping(c, old, nn);
        krm_heal_comments(c->s, old, nn);
        replace_at(c, i, nn);
        replaced = true;
    }
    if (replaced)
        return 0;
    krm_node *nn = krm_node_copy(c->s, res);
    if (!nn)
        return porch_error_set(500, "out of memory");
    char path[1024];
    const char *tp = krm_res_annotation(nn, TARGET_PATH);
    if (tp) {
        snprintf(path, sizeof path, "%s", tp);
        krm_res_delete_annotation(nn, TARGET_PATH);
    } else {
        const char *ns = krm_res_namespace(nn), *name = krm_res_name(nn);
        char kind[256];
        snprintf(kind, sizeof kind, "%s", krm_res_kind(nn));
        for (char *p = kind; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        snprintf(path, sizeof path, "%s%s%s_%s.yaml", ns && *ns ? ns : "", ns && *ns ? "/" : "",
                 kind, name ? name : "");
    }
    krm_res_set_kpt_annotations(c->s, nn, path, 0, KRM_SEQ_COMPACT);
    return krm_seq_append(c->s, c->items, nn);
}

int fn_builtin_upsert_resource(fn_ctx *c)
{
    if (!c->config || !fn_config_kind(c))
        return fn_fail(c, "upsert-resource needs the resource to upsert as its functionConfig");
    const char *av = krm_res_api_version(c->config);
    if (fn_config_is(c, "List") && av && !strcmp(av, "v1")) {
        const krm_node *items = krm_map_get(c->config, "items");
        for (size_t i = 0; items && krm_node_kind(items) == KRM_SEQ && i < krm_seq_len(items); i++)
            if (upsert(c, krm_seq_at(items, i)) < 0)
                return -1;
        return 0;
    }
    return upsert(c, c->config);
}
