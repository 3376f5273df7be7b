/* set-image: rewrites container images (every containers/initContainers list
 * in a resource, plus additionalImageFields paths) whose name matches, with a
 * new name, tag or digest, as kustomize's image transformer does; reports
 * "summary: updated a total of N image(s)". */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct img_cfg {
    const char *name, *new_name, *new_tag, *digest;
    int count;
} img_cfg;

/* Length of the name part of "host:port/name:tag@digest". */
static size_t name_len(const char *img)
{
    size_t at = strcspn(img, "@");
    const char *slash = NULL;
    for (size_t i = 0; i < at; i++)
        if (img[i] == '/')
            slash = img + i;
    const char *from = slash ? slash + 1 : img;
    const char *colon = memchr(from, ':', (size_t)(img + at - from));
    return colon ? (size_t)(colon - img) : at;
}

static void update_image(fn_ctx *c, img_cfg *g, krm_node *n)
{
    const char *cur = fn_scalar(n);
    if (!cur)
        return;
    size_t nl = name_len(cur);
    if (strlen(g->name) != nl || strncmp(cur, g->name, nl))
        return;
    const char *rest = cur + nl; /* ":tag", "@digest", ":tag@digest" or "" */
    char out[2048];
    const char *name = g->new_name && *g->new_name ? g->new_name : g->name;
    if (g->digest && *g->digest)
        snprintf(out, sizeof out, "%s@%s", name, g->digest);
    else if (g->new_tag && *g->new_tag)
        snprintf(out, sizeof out, "%s:%s", name, g->new_tag);
    else
        snprintf(out, sizeof out, "%s%s", name, rest);
    g->count++;
    if (strcmp(out, cur))
        krm_scalar_set(c->s, n, out);
}

/* Every map holding `containers`/`initContainers` lists, at any depth. */
static void walk_containers(fn_ctx *c, img_cfg *g, krm_node *n)
{
    if (!n)
        return;
    if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++)
            walk_containers(c, g, krm_seq_at(n, i));
        return;
    }
    if (krm_node_kind(n) != KRM_MAP)
        return;
    for (size_t i = 0; i < krm_map_len(n); i++) {
        const char *k = fn_scalar(krm_map_key_at(n, i));
        krm_node *v = krm_map_value_at(n, i);
        if (k && (!strcmp(k, "containers") || !strcmp(k, "initContainers")) &&
            krm_node_kind(v) == KRM_SEQ) {
            for (size_t j = 0; j < krm_seq_len(v); j++)
                update_image(c, g, krm_map_get(krm_seq_at(v, j), "image"));
        } else {
            walk_containers(c, g, v);
        }
    }
}

static void apply_path(fn_ctx *c, img_cfg *g, krm_node *node, const char *path)
{
    if (!node)
        return;
    if (!*path) {
        update_image(c, g, node);
        return;
    }
    size_t n = strcspn(path, "/");
    char seg[256];
    if (n >= sizeof seg || krm_node_kind(node) != KRM_MAP)
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
            apply_path(c, g, krm_seq_at(nx, i), rest);
        return;
    }
    apply_path(c, g, nx, rest);
}

int fn_builtin_set_image(fn_ctx *c)
{
    img_cfg g = {0};
    const krm_node *extra = NULL;
    if (fn_config_is(c, "ConfigMap")) {
        g.name = fn_config_get(c, "name");
        g.new_name = fn_config_get(c, "newName");
        g.new_tag = fn_config_get(c, "newTag");
        g.digest = fn_config_get(c, "digest");
    } else if (fn_config_is(c, "SetImage")) {
        const krm_node *im = krm_map_get(c->config, "image");
        g.name = fn_scalar(krm_map_get(im, "name"));
        g.new_name = fn_scalar(krm_map_get(im, "newName"));
        g.new_tag = fn_scalar(krm_map_get(im, "newTag"));
        g.digest = fn_scalar(krm_map_get(im, "digest"));
        extra = krm_map_get(c->config, "additionalImageFields");
    } else {
        return fn_fail(c, "`functionConfig` must be a `ConfigMap` or `SetImage`");
    }
    if (!g.name || !*g.name)
        return fn_fail(c, "must specify image name");
    if ((!g.new_name || !*g.new_name) && (!g.new_tag || !*g.new_tag) && (!g.digest || !*g.digest))
        return fn_fail(c, "must specify one of `newName`, `newTag`, or `digest`");
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) != KRM_MAP || fn_is_local_config(o))
            continue;
        walk_containers(c, &g, o);
        for (size_t e = 0; extra && krm_node_kind(extra) == KRM_SEQ && e < krm_seq_len(extra);
             e++) {
            const krm_node *f = krm_seq_at(extra, e);
            const char *path = fn_scalar(krm_map_get(f, "path"));
            const char *gr = fn_scalar(krm_map_get(f, "group"));
            const char *ve = fn_scalar(krm_map_get(f, "version"));
            const char *ki = fn_scalar(krm_map_get(f, "kind"));
            if (path && fn_is_gvk(o, gr ? gr : "", ve ? ve : "", ki ? ki : ""))
                apply_path(c, &g, o, path);
        }
    }
    fn_resultf(c, FN_SEV_INFO, NULL, NULL, "summary: updated a total of %d image(s)", g.count);
    return 0;
}
