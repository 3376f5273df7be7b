/* apply-replacements: kustomize replacements. Each replacement copies the
 * node at source.fieldPath of the one selected resource (or a delimited part
 * of it) to every targets[].fieldPaths of the selected, not rejected,
 * resources; paths are dotted with [key=value] list selectors and indexes. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 64

/* Splits "a.b.[name=x.y].c" / "a.b[name=x].c" into segments ("[name=x.y]"
 * kept; "[a.b]" without '=' is the plain key "a.b"). */
static size_t split(const char *p, char out[][256], size_t max)
{
    size_t n = 0, k = 0;
    int depth = 0;
    for (const char *c = p;; c++) {
        bool end = !*c || (*c == '.' && depth == 0) || (*c == '[' && depth == 0 && k > 0);
        if (end) {
            if (k && n < max) {
                out[n][k] = '\0';
                /* kyaml's SmarterPathSplitter: "[a.b]" (no '=') is the key "a.b" */
                if (out[n][0] == '[' && out[n][k - 1] == ']' && !strchr(out[n], '=') &&
                    strchr(out[n], '.')) {
                    memmove(out[n], out[n] + 1, k - 2);
                    out[n][k - 2] = '\0';
                }
                n++;
            }
            k = 0;
            if (!*c)
                break;
            if (*c == '.')
                continue;
        }
        if (*c == '[')
            depth++;
        else if (*c == ']')
            depth--;
        if (k + 1 < 256)
            out[n < max ? n : max - 1][k++] = *c;
    }
    return n;
}

static bool all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* Walks segs from n; creates maps (and list-less keys) when `create`. */
static krm_node *walk(fn_ctx *c, krm_node *n, char segs[][256], size_t ns, bool create,
                      krm_node **parent, char *last_key, size_t lk)
{
    krm_node *cur = n, *par = NULL;
    for (size_t i = 0; cur && i < ns; i++) {
        const char *s = segs[i];
        par = cur;
        if (s[0] == '[') {
            char key[256], val[256];
            const char *eq = strchr(s, '=');
            if (!eq || krm_node_kind(cur) != KRM_SEQ)
                return NULL;
            snprintf(key, sizeof key, "%.*s", (int)(eq - s - 1), s + 1);
            snprintf(val, sizeof val, "%.*s", (int)(strlen(eq + 1) - 1), eq + 1);
            krm_node *hit = NULL;
            for (size_t j = 0; j < krm_seq_len(cur) && !hit; j++) {
                const char *v = fn_scalar(krm_map_get(krm_seq_at(cur, j), key));
                if (v && !strcmp(v, val))
                    hit = krm_seq_at(cur, j);
            }
            cur = hit;
            continue;
        }
        if (krm_node_kind(cur) == KRM_SEQ && all_digits(s)) {
            cur = krm_seq_at(cur, (size_t)atol(s));
            continue;
        }
        if (krm_node_kind(cur) != KRM_MAP)
            return NULL;
        krm_node *nx = krm_map_get(cur, s);
        if (!nx && create && i + 1 < ns) {
            nx = segs[i + 1][0] == '[' || all_digits(segs[i + 1]) ? krm_node_new_seq(c->s)
                                                                  : krm_node_new_map(c->s);
            krm_map_set(c->s, cur, s, nx);
        }
        if (i + 1 == ns) {
            snprintf(last_key, lk, "%s", s);
            if (parent)
                *parent = cur;
            return nx;
        }
        cur = nx;
    }
    if (parent)
        *parent = par;
    if (last_key)
        last_key[0] = '\0';
    return cur;
}

static bool sel_match(const krm_node *sel, const krm_node *o)
{
    if (!sel || krm_node_kind(sel) != KRM_MAP)
        return false;
    static const char *const f[] = {"kind", "name", "namespace", "group", "version"};
    for (size_t i = 0; i < 5; i++) {
        const char *want = fn_scalar(krm_map_get(sel, f[i]));
        if (!want || !*want)
            continue;
        const char *have;
        char g[256];
        if (i == 0)
            have = krm_res_kind(o);
        else if (i == 1)
            have = krm_res_name(o);
        else if (i == 2)
            have = krm_res_namespace(o);
        else if (i == 3)
            have = fn_res_group(o, g, sizeof g);
        else {
            const char *av = krm_res_api_version(o);
            const char *sl = av ? strchr(av, '/') : NULL;
            have = sl ? sl + 1 : av;
        }
        if (!have || strcmp(have, want))
            return false;
    }
    const krm_node *labels = krm_map_get(sel, "labelSelector");
    (void)labels;
    return true;
}

/* The delimited part `index` of text, or the whole when no delimiter. */
static char *part(const char *text, const char *delim, int index)
{
    if (!delim || !*delim)
        return strdup(text);
    const char *p = text;
    for (int i = 0; i < index && p; i++) {
        p = strstr(p, delim);
        if (p)
            p += strlen(delim);
    }
    if (!p)
        return NULL;
    const char *e = strstr(p, delim);
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, p, n);
        r[n] = '\0';
    }
    return r;
}

static int apply_target(fn_ctx *c, krm_node *o, const char *fp, const krm_node *value,
                        const krm_node *opts)
{
    char segs[MAX_SEGS][256], key[256] = "";
    size_t ns = split(fp, segs, MAX_SEGS);
    const char *cr = fn_scalar(krm_map_get(opts, "create"));
    bool create = cr && !strcmp(cr, "true");
    krm_node *parent = NULL;
    krm_node *t = walk(c, o, segs, ns, create, &parent, key, sizeof key);
    const char *delim = fn_scalar(krm_map_get(opts, "delimiter"));
    const char *idx = fn_scalar(krm_map_get(opts, "index"));
    if (delim && *delim && t && krm_node_kind(t) == KRM_SCALAR &&
        krm_node_kind(value) == KRM_SCALAR) {
        /* replace one delimited part of the target's text */
        const char *cur = krm_node_value(t);
        int want = idx ? atoi(idx) : 0;
        krm_buf b = {0};
        const char *p = cur;
        for (int i = 0;; i++) {
            const char *e = strstr(p, delim);
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (i == want)
                krm_buf_put(&b, krm_node_value(value), strlen(krm_node_value(value)));
            else
                krm_buf_put(&b, p, n);
            if (!e)
                break;
            krm_buf_put(&b, delim, strlen(delim));
            p = e + strlen(delim);
        }
        krm_buf_put(&b, "", 1);
        krm_scalar_set(c->s, t, b.data);
        krm_buf_free(&b);
        return 0;
    }
    if (!t && !create)
        return 0;
    if (!parent || !key[0])
        return t ? 0
                 : fn_fail(c,
                           "apply-replacements: unable to find or create field %s in "
                           "%s/%s",
                           fp, krm_res_kind(o), krm_res_name(o));
    if (t && krm_node_kind(t) == KRM_SCALAR && krm_node_kind(value) == KRM_SCALAR) {
        krm_scalar_set(c->s, t, krm_node_value(value));
        return 0;
    }
    return krm_map_set(c->s, parent, key, krm_node_copy(c->s, value));
}

static int one(fn_ctx *c, const krm_node *r)
{
    const krm_node *src = krm_map_get(r, "source");
    if (!src)
        return fn_fail(c, "apply-replacements: a replacement needs a `source`");
    const krm_node *srcobj = NULL;
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (sel_match(src, o)) {
            if (srcobj)
                return fn_fail(c, "apply-replacements: more than one resource matches the "
                                  "source selector");
            srcobj = o;
        }
    }
    if (!srcobj)
        return fn_fail(c, "apply-replacements: nothing selected by the replacement source");
    const char *fp = fn_scalar(krm_map_get(src, "fieldPath"));
    char segs[MAX_SEGS][256], key[256];
    size_t ns = split(fp ? fp : "metadata.name", segs, MAX_SEGS);
    krm_node *v = walk(c, (krm_node *)srcobj, segs, ns, false, NULL, key, sizeof key);
    if (!v)
        return fn_fail(c, "apply-replacements: field %s not found in the source %s/%s",
                       fp ? fp : "metadata.name", krm_res_kind(srcobj), krm_res_name(srcobj));
    const krm_node *sopts = krm_map_get(src, "options");
    krm_node *value = v;
    krm_stream *tmp = NULL;
    const char *sd = fn_scalar(krm_map_get(sopts, "delimiter"));
    if (sd && *sd && krm_node_kind(v) == KRM_SCALAR) {
        const char *si = fn_scalar(krm_map_get(sopts, "index"));
        char *p = part(krm_node_value(v), sd, si ? atoi(si) : 0);
        if (!p)
            return fn_fail(c, "apply-replacements: source options.index out of range");
        tmp = krm_stream_new();
        value = krm_node_new_string(tmp, p);
        free(p);
    }
    const krm_node *targets = krm_map_get(r, "targets");
    int rc = 0;
    for (size_t t = 0; rc == 0 && targets && t < krm_seq_len(targets); t++) {
        const krm_node *tg = krm_seq_at(targets, t);
        const krm_node *sel = krm_map_get(tg, "select"), *rej = krm_map_get(tg, "reject");
        const krm_node *fps = krm_map_get(tg, "fieldPaths");
        for (size_t i = 0; rc == 0 && i < krm_seq_len(c->items); i++) {
            krm_node *o = krm_seq_at(c->items, i);
            if (!sel_match(sel, o) || o == srcobj)
                continue;
            bool rejected = false;
            for (size_t k = 0; rej && krm_node_kind(rej) == KRM_SEQ && k < krm_seq_len(rej); k++)
                rejected |= sel_match(krm_seq_at(rej, k), o);
            if (rejected)
                continue;
            for (size_t k = 0; rc == 0 && fps && k < krm_seq_len(fps); k++) {
                const char *p = fn_scalar(krm_seq_at(fps, k));
                if (p)
                    rc = apply_target(c, o, p, value, krm_map_get(tg, "options"));
            }
        }
    }
    krm_stream_free(tmp);
    return rc;
}

int fn_builtin_apply_replacements(fn_ctx *c)
{
    if (!fn_config_is(c, "ApplyReplacements"))
        return fn_fail(c, "`functionConfig` must be an `ApplyReplacements` (fn.kpt.dev/v1alpha1)");
    const krm_node *rs = krm_map_get(c->config, "replacements");
    for (size_t i = 0; rs && krm_node_kind(rs) == KRM_SEQ && i < krm_seq_len(rs); i++)
        if (one(c, krm_seq_at(rs, i)) < 0)
            return -1;
    return 0;
}
