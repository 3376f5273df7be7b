/* apply-setters: fills every field tagged "# kpt-set: PATTERN" from the
 * setter values in the ConfigMap's data: scalars get the pattern with each
 * ${name} substituted (skipped when a setter is missing), sequences tagged
 * with exactly ${name} get the items of the setter's YAML list value. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *setter(const krm_node *data, const char *name, size_t len)
{
    for (size_t i = 0; data && i < krm_map_len(data); i++) {
        const char *k = fn_scalar(krm_map_key_at(data, i));
        if (k && strlen(k) == len && !strncmp(k, name, len)) {
            const char *v = fn_scalar(krm_map_value_at(data, i));
            return v ? v : "";
        }
    }
    return NULL;
}

/* Substitutes ${name} in pattern; false when a setter is missing. */
static bool substitute(const krm_node *data, const char *pat, krm_buf *out)
{
    const char *p = pat;
    while (*p) {
        const char *st = strstr(p, "${");
        const char *en = st ? strchr(st + 2, '}') : NULL;
        if (!st || !en) {
            krm_buf_put(out, p, strlen(p));
            break;
        }
        krm_buf_put(out, p, (size_t)(st - p));
        const char *v = setter(data, st + 2, (size_t)(en - st - 2));
        if (!v)
            return false;
        krm_buf_put(out, v, strlen(v));
        p = en + 1;
    }
    krm_buf_put(out, "", 1);
    return true;
}

static void report(fn_ctx *c, krm_node *item, const char *path, const char *value)
{
    char msg[4096];
    snprintf(msg, sizeof msg, "set field value to \"%s\"", value);
    fn_result r = {
        .message = msg, .severity = FN_SEV_INFO, .field_path = (char *)path, .file_index = -1};
    r.file_path = (char *)krm_res_path(item);
    r.file_index = r.file_path ? krm_res_index(item) : -1;
    fn_results_add_full(c->results, &r);
}

static int set_seq(fn_ctx *c, krm_node *item, krm_node *seq, const char *pat, const char *path,
                   const krm_node *data)
{
    size_t pl = strlen(pat);
    if (pl < 4 || strncmp(pat, "${", 2) || pat[pl - 1] != '}' || strchr(pat + 2, '$'))
        return 0;
    const char *v = setter(data, pat + 2, pl - 3);
    if (!v)
        return 0;
    krm_stream *vs = NULL;
    if (krm_stream_parse(v, strlen(v), "setter", NULL, &vs) < 0) {
        porch_error_clear();
        return 0;
    }
    krm_node *list = krm_stream_count(vs) ? krm_doc_root(krm_stream_doc(vs, 0)) : NULL;
    if (list && krm_node_kind(list) == KRM_SEQ) {
        while (krm_seq_len(seq))
            krm_seq_delete(seq, krm_seq_len(seq) - 1);
        for (size_t i = 0; i < krm_seq_len(list); i++)
            krm_seq_append(c->s, seq, krm_node_copy(c->s, krm_seq_at(list, i)));
        report(c, item, path, v);
    }
    krm_stream_free(vs);
    return 0;
}

static int visit(fn_ctx *c, const fn_setter_site *site, void *ud)
{
    const krm_node *data = ud;
    krm_node *item = site->item, *value = site->value;
    const char *pat = site->pattern, *path = site->path;
    if (krm_node_kind(value) == KRM_SEQ)
        return set_seq(c, item, value, pat, path, data);
    krm_buf out = {0};
    if (substitute(data, pat, &out)) {
        fn_scalar_replace(c->s, site->parent, site->key, value, out.data);
        report(c, item, path, out.data);
    }
    krm_buf_free(&out);
    return 0;
}

int fn_builtin_apply_setters(fn_ctx *c)
{
    const krm_node *data = NULL;
    if (fn_config_is(c, "ConfigMap"))
        data = fn_config_data(c);
    else if (fn_config_is(c, "ApplySetters"))
        data = krm_map_get(c->config, "setters");
    else if (c->config && fn_config_kind(c))
        return fn_fail(c, "`functionConfig` must be a `ConfigMap` (setters in `data`), not %s",
                       fn_config_kind(c));
    if (!data || krm_map_len(data) == 0) {
        fn_resultf(c, FN_SEV_INFO, NULL, NULL, "no setter values given: nothing to apply");
        return 0;
    }
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) == KRM_MAP && fn_walk_setters(c, o, visit, (void *)data) < 0)
            return -1;
    }
    return 0;
}
